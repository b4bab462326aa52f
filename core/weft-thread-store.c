/* weft-thread-store.c — a thread read back from a store and continued:
 * its messages and background tasks as the store kept them (docs/store.md),
 * its turns counted on from the stored ones.
 *
 * What a store gives back is text weft did not write this time (another
 * program may have written the file): every message and task is checked
 * for its shape before it enters the thread, and a refusal names the
 * thread and the place.  The thread is filled before it starts, without
 * events (its events are stored already); then, on the loop, what its
 * process left unfinished is said: a background task that was running is
 * "interrupted" (never silently lost: an event and a notice say so), and
 * a tool call left without a result gets one, so that the history is one
 * a model takes again. */
#include "weft-thread-private.h"

#include <string.h>

#define WEFT_STORED_TEXT_MAX (4 * 1024 * 1024)

/* A member that is a string, or absent/null (NULL); FALSE otherwise. */
static gboolean
weft_stored_text (JsonObject *o, const char *key, const char **out)
{
  JsonNode *node = json_object_get_member (o, key);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING
      || strlen (json_node_get_string (node)) > WEFT_STORED_TEXT_MAX)
    return FALSE;
  *out = json_node_get_string (node);
  return TRUE;
}

static gint64
weft_stored_int (JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64
         ? json_node_get_int (node) : 0;
}

static gboolean
weft_stored_role (const char *name, WeftRole *role)
{
  for (WeftRole r = WEFT_ROLE_USER; r <= WEFT_ROLE_NOTICE; r++)
    if (g_strcmp0 (name, weft_role_to_string (r)) == 0)
      {
        *role = r;
        return TRUE;
      }
  return FALSE;
}

/* Tool calls as a turn writes them: [{id, type, function: {name, arguments}}]. */
static char *
weft_stored_calls (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("");
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return NULL;
  JsonArray *calls = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (calls); i++)
    {
      JsonNode *c = json_array_get_element (calls, i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (c) ? json_node_get_object (c) : NULL;
      JsonNode *f = call ? json_object_get_member (call, "function") : NULL;
      const char *id, *name, *args;
      if (f == NULL || !JSON_NODE_HOLDS_OBJECT (f) || !weft_stored_text (call, "id", &id)
          || !weft_stored_text (json_node_get_object (f), "name", &name)
          || !weft_stored_text (json_node_get_object (f), "arguments", &args)
          || id == NULL || name == NULL)
        return NULL;
    }
  return json_to_string (node, FALSE);
}

static gboolean
weft_restore_message (WeftThread *thread, JsonNode *node)
{
  JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  const char *role_name, *content, *call_id;
  WeftRole role;

  if (o == NULL || !weft_stored_text (o, "role", &role_name) || !weft_stored_role (role_name, &role)
      || !weft_stored_text (o, "content", &content) || !weft_stored_text (o, "tool_call_id", &call_id))
    return FALSE;
  g_autofree char *calls = weft_stored_calls (json_object_get_member (o, "tool_calls"));
  if (calls == NULL)
    return FALSE;
  WeftThreadMessage *m = g_new0 (WeftThreadMessage, 1);
  m->seq = thread->history->len + 1;
  m->wall_us = weft_stored_int (o, "wall_us");
  m->role = role;
  m->content = g_strdup (content);
  m->tool_calls = *calls ? g_steal_pointer (&calls) : NULL;
  m->tool_call_id = g_strdup (call_id);
  g_ptr_array_add (thread->history, m);
  return TRUE;
}

static gboolean
weft_restore_task (WeftThread *thread, JsonNode *node)
{
  JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  const char *texts[8];
  static const char *const keys[] = {
    "task_id", "name", "kind", "status", "arguments", "result", "error", "run_id",
  };

  for (guint i = 0; o != NULL && i < G_N_ELEMENTS (keys); i++)
    if (!weft_stored_text (o, keys[i], &texts[i]))
      return FALSE;
  if (o == NULL || texts[0] == NULL || texts[1] == NULL || texts[3] == NULL)
    return FALSE;
  WeftThreadTask *task = g_new0 (WeftThreadTask, 1);
  task->id = g_strdup (texts[0]);
  task->name = g_strdup (texts[1]);
  task->kind = g_strcmp0 (texts[2], "agent") == 0 ? WEFT_BACKGROUND_AGENT
               : g_strcmp0 (texts[2], "flow") == 0 ? WEFT_BACKGROUND_FLOW : WEFT_BACKGROUND_TOOL;
  task->status = g_strdup (texts[3]);
  task->arguments = g_strdup (texts[4] ? texts[4] : "{}");
  task->result = g_strdup (texts[5]);
  task->error = g_strdup (texts[6]);
  task->run_id = g_strdup (texts[7]);
  task->started_wall_us = weft_stored_int (o, "started_wall_us");
  task->finished_wall_us = weft_stored_int (o, "finished_wall_us");
  g_ptr_array_add (thread->tasks, task);
  return TRUE;
}

static gboolean
weft_restore_list (WeftThread *thread, JsonObject *stored, const char *key,
                   gboolean (*restore) (WeftThread *, JsonNode *), GError **error)
{
  JsonNode *node = json_object_get_member (stored, key);
  JsonArray *items = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  if (node != NULL && items == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "stored thread %s: \"%s\" is not an "
                   "array", thread->id, key);
      return FALSE;
    }
  for (guint i = 0; items && i < json_array_get_length (items); i++)
    if (!restore (thread, json_array_get_element (items, i)))
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                     "stored thread %s: %s[%u] is not one weft wrote", thread->id, key, i);
        return FALSE;
      }
  return TRUE;
}

gboolean
weft_thread_restore (WeftThread *thread, JsonObject *stored, GError **error)
{
  if (!weft_restore_list (thread, stored, "messages", weft_restore_message, error)
      || !weft_restore_list (thread, stored, "tasks", weft_restore_task, error))
    return FALSE;
  gint64 last_seq = weft_stored_int (stored, "last_seq");
  thread->seq = (guint64) MAX (last_seq, 0);
  thread->created_wall_us = weft_stored_int (stored, "created_wall_us");
  guint64 started = 0;
  for (guint i = 0; i < thread->history->len; i++)
    {
      WeftRole role = ((WeftThreadMessage *) thread->history->pdata[i])->role;
      thread->n_posted += role == WEFT_ROLE_USER || role == WEFT_ROLE_NOTICE;
      started += role == WEFT_ROLE_USER
                 || (role == WEFT_ROLE_NOTICE
                     && thread->config->background_done == WEFT_BACKGROUND_DONE_TURN);
    }
  /* Turns go on from the stored count; a store that keeps none (or rows
   * written before it did) leaves the count of messages that started one. */
  gint64 turns = weft_stored_int (stored, "turns");
  guint64 n_turns = MAX ((guint64) MAX (turns, 0), started);
  thread->n_turns = (guint) MIN (n_turns, G_MAXUINT);
  thread->restored = TRUE;
  return TRUE;
}

/* ---- on the loop: what the process left unfinished ------------------------------ */

/* The ids of the last assistant message's calls that have no result. */
static GPtrArray *
weft_thread_unanswered_calls (WeftThread *thread)
{
  GPtrArray *missing = g_ptr_array_new_with_free_func (g_free);
  guint last = thread->history->len;

  while (last > 0 && ((WeftThreadMessage *) thread->history->pdata[last - 1])->role
         == WEFT_ROLE_TOOL)
    last--;
  WeftThreadMessage *m = last > 0 ? thread->history->pdata[last - 1] : NULL;
  if (m == NULL || m->tool_calls == NULL)
    return missing;
  g_autoptr(JsonNode) calls = json_from_string (m->tool_calls, NULL);
  for (guint i = 0; calls && i < json_array_get_length (json_node_get_array (calls)); i++)
    {
      const char *id = json_object_get_string_member (
        json_array_get_object_element (json_node_get_array (calls), i), "id");
      gboolean answered = FALSE;
      for (guint k = last; k < thread->history->len; k++)
        answered |= g_strcmp0 (((WeftThreadMessage *) thread->history->pdata[k])->tool_call_id,
                               id) == 0;
      if (!answered)
        g_ptr_array_add (missing, g_strdup (id));
    }
  return missing;
}

void
weft_thread_repair (WeftThread *thread)
{
  g_autoptr(GPtrArray) missing = weft_thread_unanswered_calls (thread);

  for (guint i = 0; i < missing->len; i++)
    weft_thread_append (thread, WEFT_ROLE_TOOL,
                        "error: interrupted: the process ended before this call returned", NULL,
                        missing->pdata[i]);
  for (guint i = 0; i < thread->tasks->len; i++)
    {
      WeftThreadTask *task = thread->tasks->pdata[i];
      if (g_strcmp0 (task->status, "running") != 0)
        continue;
      g_mutex_lock (&thread->lock);
      g_free (task->status);
      task->status = g_strdup ("interrupted");
      g_free (task->error);
      task->error = g_strdup ("the process that ran it ended before it did");
      task->finished_wall_us = g_get_real_time ();
      JsonObject *o = weft_thread_task_to_json (task);
      g_mutex_unlock (&thread->lock);
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (node, o);
      g_autofree char *text = json_to_string (node, FALSE);
      weft_thread_emit (thread, WEFT_EVENT_THREAD_TASK_FINISHED, 0, text, task->error, NULL, 0);
      g_autofree char *notice = g_strdup_printf ("Background task %s (%s) was interrupted: %s; "
                                                 "it did not finish and will not.", task->id,
                                                 task->name, task->error);
      weft_thread_enqueue (thread, WEFT_ROLE_NOTICE, notice, FALSE, NULL, NULL);
    }
}
