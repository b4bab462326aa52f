/* weft-thread-queue.c — a thread's queue drained on the engine loop, the
 * strategies for a message that comes during a turn, and weft.h's thread
 * API.
 *
 * Whatever wakes a thread (a post, a background task's end, a turn's end,
 * a cancel, a close) only sets state under the lock and posts the
 * thread's one wake message; the drain, on the loop, does the rest in one
 * place: it moves waiting messages into the history one at a time, starts
 * a turn for a user message (and for a background task's notice, unless
 * the settings say "wait"), and never while a turn is in flight — but
 * for the interrupt strategy, where a waiting user message ends the turn
 * first.  So the history takes messages in the order they were posted. */
#include "weft-thread-private.h"

#include <string.h>

/* ---- the drain -------------------------------------------------------------------- */

static gboolean
weft_queue_has_user_message (WeftThread *thread)
{
  for (GList *l = thread->queue.head; l; l = l->next)
    if (((WeftThreadPending *) l->data)->role == WEFT_ROLE_USER)
      return TRUE;
  return FALSE;
}

/* Engine loop, once: the thread is closed (or the engine shuts down); its
 * work ends and the engine lets go of it.  Only a close is a deletion: a
 * store keeps a thread whose process ended, to be reopened. */
static void
weft_thread_finish_close (WeftThread *thread)
{
  /* The table's reference may be the last. */
  weft_thread_ref (thread);
  thread->close_done = TRUE;
  weft_engine_remove_shutdown_hook (thread->engine, &thread->detach_msg);
  weft_thread_turn_stop (thread, WEFT_TURN_CANCELLED);
  weft_thread_cancel_tasks (thread);
  weft_threads_remove (thread->engine, thread);
  if (!thread->detached)
    weft_thread_emit (thread, WEFT_EVENT_THREAD_DELETED, 0, NULL, NULL, NULL, 0);
  weft_thread_unref (thread);
}

/* Engine loop: weft_engine_shutdown. */
static void
weft_thread_on_detach (WeftMsg *msg)
{
  WeftThread *thread = WEFT_MSG_OWNER (msg, WeftThread, detach_msg);

  g_mutex_lock (&thread->lock);
  thread->closed = TRUE;
  thread->detached = TRUE;
  g_mutex_unlock (&thread->lock);
  weft_thread_finish_close (thread);
}

static void
weft_thread_announce (WeftThread *thread)
{
  thread->announced = TRUE;
  thread->detach_msg.handle = weft_thread_on_detach;
  weft_engine_add_shutdown_hook (thread->engine, &thread->detach_msg);
  if (thread->restored)
    {
      /* A stored thread goes on: what its process left unfinished is said. */
      weft_thread_repair (thread);
      return;
    }
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "flow", weft_flow_get_name (thread->flow));
  json_object_set_string_member (o, "agent", thread->agent->name);
  json_object_set_int_member (o, "created_wall_us", thread->created_wall_us);
  json_object_set_object_member (o, "settings", weft_thread_config_to_json (thread->config));
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  g_autofree char *text = json_to_string (node, FALSE);
  weft_thread_emit (thread, WEFT_EVENT_THREAD_CREATED, 0, text, NULL, NULL, 0);
}

/* What the loop must do next; lock held. */
typedef enum {
  WEFT_DRAIN_DONE,
  WEFT_DRAIN_CLOSE,
  WEFT_DRAIN_STOP_TURN,
  WEFT_DRAIN_INTERRUPT,
  WEFT_DRAIN_MESSAGE,
} WeftDrainStep;

static WeftDrainStep
weft_thread_next_step (WeftThread *thread, WeftThreadPending **pending)
{
  if (thread->closed)
    return thread->close_done ? WEFT_DRAIN_DONE : WEFT_DRAIN_CLOSE;
  if (thread->turn != NULL)
    {
      if (thread->cancel_requested)
        return WEFT_DRAIN_STOP_TURN;
      if (thread->config->strategy == WEFT_THREAD_INTERRUPT && weft_queue_has_user_message (thread))
        return WEFT_DRAIN_INTERRUPT;
      return WEFT_DRAIN_DONE;
    }
  thread->cancel_requested = FALSE;
  *pending = g_queue_pop_head (&thread->queue);
  if (*pending != NULL)
    return WEFT_DRAIN_MESSAGE;
  thread->busy = FALSE;
  return WEFT_DRAIN_DONE;
}

static void
weft_thread_drain (WeftMsg *msg)
{
  WeftThread *thread = WEFT_MSG_OWNER (msg, WeftThread, wake_msg);

  if (!thread->announced)
    weft_thread_announce (thread);
  for (;;)
    {
      WeftThreadPending *p = NULL;
      g_mutex_lock (&thread->lock);
      WeftDrainStep step = weft_thread_next_step (thread, &p);
      g_mutex_unlock (&thread->lock);
      switch (step)
        {
        case WEFT_DRAIN_DONE:
          return;
        case WEFT_DRAIN_CLOSE:
          weft_thread_finish_close (thread);
          return;
        case WEFT_DRAIN_STOP_TURN:
          weft_thread_turn_stop (thread, WEFT_TURN_CANCELLED);
          break;
        case WEFT_DRAIN_INTERRUPT:
          weft_thread_turn_stop (thread, WEFT_TURN_INTERRUPTED);
          break;
        case WEFT_DRAIN_MESSAGE:
          weft_thread_append (thread, p->role, p->content, NULL, NULL);
          if (p->role == WEFT_ROLE_USER
              || thread->config->background_done == WEFT_BACKGROUND_DONE_TURN)
            weft_thread_turn_start (thread);
          g_free (p->content);
          g_free (p);
          break;
        }
    }
}

/* Engine loop: weft_engine_shutdown ends the turn in flight. */
static void
weft_thread_on_shutdown (WeftMsg *msg)
{
  WeftThread *thread = WEFT_MSG_OWNER (msg, WeftThread, shutdown_msg);

  weft_thread_turn_stop (thread, WEFT_TURN_CANCELLED);
}

/* ---- names the settings may use ------------------------------------------------------ */

/* The flow's own names, and the flows `find_flow` knows beside it. */
typedef struct {
  WeftThreadNames flow;
  WeftThreadFindFlow find_flow;
  gpointer find_data;
} WeftThreadNamesData;

static gboolean
weft_names_has_agent (gpointer data, const char *name, gboolean *converses)
{
  WeftThreadNamesData *d = data;

  return d->flow.has_agent (d->flow.data, name, converses);
}

static gboolean
weft_names_has_tool (gpointer data, const char *name)
{
  WeftThreadNamesData *d = data;

  return d->flow.has_tool (d->flow.data, name);
}

static gboolean
weft_names_has_flow (gpointer data, const char *name)
{
  WeftThreadNamesData *d = data;

  return d->flow.has_flow (d->flow.data, name)
         || (d->find_flow && d->find_flow (name, d->find_data) != NULL);
}

static char *
weft_names_list (gpointer data, WeftBackgroundKind kind)
{
  WeftThreadNamesData *d = data;

  return d->flow.list (d->flow.data, kind);
}

/* ---- made --------------------------------------------------------------------------- */

WeftThread *
weft_thread_new_full (WeftFlow *flow, JsonObject *settings, const char *id,
                      WeftThreadFindFlow find_flow, gpointer find_data,
                      WeftThreadKickoffFunc kickoff, gpointer kickoff_data, GError **error)
{
  WeftThreadNamesData data = { .find_flow = find_flow, .find_data = find_data };
  weft_flow_thread_names (flow, &data.flow);
  WeftThreadNames names = {
    weft_names_has_agent, weft_names_has_tool, weft_names_has_flow, weft_names_list, &data,
  };
  GError *local = NULL;
  g_autoptr(WeftThreadConfig) own = weft_thread_config_parse (settings, &names, &local);

  if (own == NULL)
    {
      g_propagate_prefixed_error (error, local, "thread settings: ");
      return NULL;
    }
  WeftThread *thread = weft_thread_alloc (flow, id,
                                          weft_thread_config_merge (weft_flow_get_chat (flow), own),
                                          error);
  if (thread == NULL)
    return NULL;
  thread->kickoff = kickoff;
  thread->kickoff_data = kickoff_data;
  thread->drain = weft_thread_drain;
  thread->shutdown_msg.handle = weft_thread_on_shutdown;
  if (!weft_thread_make_offers (thread, find_flow, find_data, error))
    {
      weft_thread_unref (thread);
      return NULL;
    }
  weft_flow_mark_kicked_off (flow);
  return thread;
}

/* The engine keeps it from now on; its creation is announced first. */
WeftThread *
weft_thread_start (WeftThread *thread)
{
  WeftThread *kept = weft_threads_add (thread->engine, thread);

  if (kept != NULL)
    {
      weft_thread_unref (thread);
      return kept;
    }
  weft_thread_wake (thread);
  return thread;
}

WeftThread *
weft_thread_new (WeftFlow *flow, JsonObject *settings, GError **error)
{
  g_return_val_if_fail (flow != NULL, NULL);

  WeftThread *thread = weft_thread_new_full (flow, settings, NULL, NULL, NULL, NULL, NULL, error);
  return thread ? weft_thread_start (thread) : NULL;
}

WeftThread *
weft_thread_open_stored (WeftFlow *flow, JsonObject *stored, WeftThreadFindFlow find_flow,
                         gpointer find_data, WeftThreadKickoffFunc kickoff, gpointer kickoff_data,
                         GError **error)
{
  const char *id = json_object_get_string_member_with_default (stored, "thread_id", NULL);
  const char *flow_name = json_object_get_string_member_with_default (stored, "flow", NULL);
  JsonNode *settings = json_object_get_member (stored, "settings");
  GError *local = NULL;

  if (id == NULL || g_strcmp0 (flow_name, weft_flow_get_name (flow)) != 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "stored thread %s is a thread of flow \"%s\", not of \"%s\"",
                   id ? id : "(no id)", flow_name ? flow_name : "(none)",
                   weft_flow_get_name (flow));
      return NULL;
    }
  WeftThread *thread = weft_thread_new_full (flow, settings && JSON_NODE_HOLDS_OBJECT (settings)
                                                   ? json_node_get_object (settings) : NULL,
                                             id, find_flow, find_data, kickoff, kickoff_data,
                                             &local);
  if (thread == NULL)
    {
      g_propagate_prefixed_error (error, local, "stored thread %s: ", id);
      return NULL;
    }
  if (!weft_thread_restore (thread, stored, error))
    g_clear_pointer (&thread, weft_thread_unref);
  return thread;
}

WeftThread *
weft_thread_open (WeftFlow *flow, const char *thread_id, GError **error)
{
  g_return_val_if_fail (flow != NULL && thread_id != NULL, NULL);
  g_return_val_if_fail (!weft_engine_is_loop_thread (weft_flow_get_engine (flow)), NULL);

  WeftThread *kept = weft_threads_lookup (weft_flow_get_engine (flow), thread_id);
  if (kept != NULL)
    return kept;
  g_autoptr(WeftStore) store = weft_flow_dup_store (flow);
  if (store == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "flow \"%s\" has no store to read thread %s from (a callback like sqlite)",
                   weft_flow_get_name (flow), thread_id);
      return NULL;
    }
  g_autoptr(JsonNode) stored = weft_store_get_thread (store, thread_id, error);
  if (stored == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (stored))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "stored thread %s is not an object",
                   thread_id);
      return NULL;
    }
  WeftThread *thread = weft_thread_open_stored (flow, json_node_get_object (stored), NULL, NULL,
                                                NULL, NULL, error);
  return thread ? weft_thread_start (thread) : NULL;
}

/* ---- what callers do -------------------------------------------------------------- */

guint64
weft_thread_post (WeftThread *thread, const char *content, GError **error)
{
  guint64 position = 0;

  g_return_val_if_fail (thread != NULL && content != NULL, 0);
  if (!g_utf8_validate (content, -1, NULL) || strlen (content) > WEFT_THREAD_MESSAGE_MAX)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "a message must be valid UTF-8 of at most %d bytes", WEFT_THREAD_MESSAGE_MAX);
      return 0;
    }
  if (!weft_thread_enqueue (thread, WEFT_ROLE_USER, content,
                            thread->config->strategy == WEFT_THREAD_REJECT, &position, error))
    return 0;
  return position;
}

void
weft_thread_cancel_turn (WeftThread *thread)
{
  g_mutex_lock (&thread->lock);
  thread->cancel_requested = TRUE;
  g_mutex_unlock (&thread->lock);
  weft_thread_wake (thread);
}

gboolean
weft_thread_cancel_task (WeftThread *thread, const char *task_id, GError **error)
{
  g_autoptr(GCancellable) cancel = NULL;

  g_mutex_lock (&thread->lock);
  WeftThreadTask *task = weft_thread_find_task (thread, task_id);
  if (task && task->cancellable)
    cancel = g_object_ref (task->cancellable);
  g_mutex_unlock (&thread->lock);
  if (task == NULL)
    {
      g_autofree char *shown = weft_message_quote (task_id, 40);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "thread \"%s\" has no task %s",
                   thread->id, shown);
      return FALSE;
    }
  if (cancel)
    g_cancellable_cancel (cancel);
  return TRUE;
}

void
weft_thread_close (WeftThread *thread)
{
  g_mutex_lock (&thread->lock);
  thread->closed = TRUE;
  g_mutex_unlock (&thread->lock);
  weft_thread_wake (thread);
}

WeftThread *
weft_engine_lookup_thread (WeftEngine *engine, const char *thread_id)
{
  return weft_threads_lookup (engine, thread_id);
}

JsonNode *
weft_engine_list_threads (WeftEngine *engine)
{
  g_autoptr(GPtrArray) threads = weft_threads_list (engine);
  JsonArray *out = json_array_new ();

  for (guint i = 0; i < threads->len; i++)
    {
      WeftThread *t = threads->pdata[i];
      JsonObject *o = json_object_new ();
      json_object_set_string_member (o, "thread_id", t->id);
      json_object_set_string_member (o, "flow", weft_flow_get_name (t->flow));
      json_object_set_string_member (o, "agent", t->agent->name);
      g_mutex_lock (&t->lock);
      json_object_set_boolean_member (o, "busy", t->busy);
      json_object_set_int_member (o, "messages", t->history->len);
      g_mutex_unlock (&t->lock);
      json_object_set_int_member (o, "created_wall_us", t->created_wall_us);
      json_array_add_object_element (out, o);
    }
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, out);
  return node;
}
