/* weft-thread.c — a thread's state: made and referenced, its history, its
 * events, its queue, and the engine's table of threads.
 *
 * The history and the queue are the two halves of the seed's design: any
 * thread posts into the queue (a user's message, a background task's end),
 * and the engine loop alone moves messages from the queue into the
 * history, one turn at a time (weft-thread-queue.c), so the history never
 * interleaves.  Both are under the thread's lock, so that the position a
 * message gets when posted is the order it enters the history in, and so
 * that the state can be read from any thread. */
#include "weft-thread-private.h"

#include <string.h>

static const char *const weft_roles[] = {
  [WEFT_ROLE_USER] = "user", [WEFT_ROLE_ASSISTANT] = "assistant",
  [WEFT_ROLE_TOOL] = "tool", [WEFT_ROLE_NOTICE] = "notice",
};

const char *
weft_role_to_string (WeftRole role)
{
  return weft_roles[role];
}

/* ---- made, referenced, freed ------------------------------------------------------ */

static void
weft_thread_message_free (WeftThreadMessage *m)
{
  g_free (m->content);
  g_free (m->tool_calls);
  g_free (m->tool_call_id);
  g_free (m);
}

static void
weft_thread_pending_free (WeftThreadPending *p)
{
  g_free (p->content);
  g_free (p);
}

void
weft_thread_task_free (WeftThreadTask *task)
{
  g_free (task->id);
  g_free (task->name);
  g_free (task->arguments);
  g_free (task->status);
  g_free (task->result);
  g_free (task->error);
  g_free (task->run_id);
  g_clear_object (&task->cancellable);
  g_free (task);
}

void
weft_thread_offer_free (WeftThreadOffer *offer)
{
  g_free (offer->inst.name);
  g_free (offer->inst.description);
  g_free (offer->schema);
  g_free (offer->target);
  g_clear_pointer (&offer->flow, weft_flow_unref);
  g_free (offer);
}

/* Whether agent `a` of the flow can converse. */
static gboolean
weft_agent_converses (WeftAgentInstance *a)
{
  const WeftPluginDescriptor *d = a->plugin->desc;

  return d->abi_minor >= 2 && d->agent->converse != NULL;
}

/* The agent the settings name, or the flow's only one that converses. */
static WeftAgentInstance *
weft_thread_pick_agent (WeftFlow *flow, const char *name, GError **error)
{
  guint n = weft_flow_get_n_instances (flow, WEFT_PLUGIN_AGENT);
  g_autoptr(GPtrArray) conversing = g_ptr_array_new ();

  for (guint i = 0; i < n; i++)
    {
      WeftAgentInstance *a = weft_flow_get_agent (flow, i);
      if (name != NULL && g_str_equal (a->name, name))
        {
          if (weft_agent_converses (a))
            return a;
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "agent \"%s\" of flow \"%s\" cannot converse: its plugin \"%s\" has no "
                       "converse()", name, weft_flow_get_name (flow), a->plugin->desc->name);
          return NULL;
        }
      if (weft_agent_converses (a))
        g_ptr_array_add (conversing, a);
    }
  if (name != NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "flow \"%s\" has no agent \"%s\"",
                 weft_flow_get_name (flow), name);
  else if (conversing->len == 1)
    return conversing->pdata[0];
  else if (conversing->len == 0)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                 "flow \"%s\" has no agent that can converse (the openai and template agents "
                 "can)", weft_flow_get_name (flow));
  else
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                 "flow \"%s\" has %u agents that can converse: name one (\"agent\")",
                 weft_flow_get_name (flow), conversing->len);
  return NULL;
}

WeftThread *
weft_thread_alloc (WeftFlow *flow, const char *id, WeftThreadConfig *config, GError **error)
{
  WeftAgentInstance *agent = weft_thread_pick_agent (flow, config->agent, error);

  if (agent == NULL)
    {
      weft_thread_config_free (config);
      return NULL;
    }
  WeftThread *t = g_new0 (WeftThread, 1);
  t->ref_count = 1;
  t->engine = weft_flow_get_engine (flow);
  t->bus = weft_engine_get_bus (t->engine);
  t->flow = weft_flow_ref (flow);
  t->id = id ? g_strdup (id) : g_uuid_string_random ();
  t->config = config;
  if (config->agent == NULL)
    config->agent = g_strdup (agent->name);
  t->agent = agent;
  t->turn_agent = *agent;
  t->turn_agent.tools = NULL;
  t->turn_task.name = agent->name;
  t->turn_task.agent = &t->turn_agent;
  t->offers = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_thread_offer_free);
  t->created_wall_us = g_get_real_time ();
  g_mutex_init (&t->lock);
  t->history = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_thread_message_free);
  t->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_thread_task_free);
  return t;
}

WeftThread *
weft_thread_ref (WeftThread *thread)
{
  g_return_val_if_fail (thread != NULL, NULL);
  g_atomic_int_inc (&thread->ref_count);
  return thread;
}

void
weft_thread_unref (WeftThread *thread)
{
  if (thread == NULL || !g_atomic_int_dec_and_test (&thread->ref_count))
    return;
  g_ptr_array_unref (thread->history);
  g_queue_clear_full (&thread->queue, (GDestroyNotify) weft_thread_pending_free);
  g_ptr_array_unref (thread->tasks);
  g_clear_pointer (&thread->turn_agent.tools, g_ptr_array_unref);
  g_ptr_array_unref (thread->offers);
  g_mutex_clear (&thread->lock);
  weft_thread_config_free (thread->config);
  g_free (thread->last_error);
  g_free (thread->id);
  weft_flow_unref (thread->flow);
  g_free (thread);
}

const char *
weft_thread_get_id (WeftThread *thread)
{
  return thread->id;
}

WeftFlow *
weft_thread_get_flow (WeftThread *thread)
{
  return thread->flow;
}

/* ---- events ----------------------------------------------------------------------- */

/* Callbacks built against an SDK older than 3.2 never see a thread event:
 * they could not know the type. */
static gboolean
weft_thread_callback_takes (WeftCallbackInstance *cb)
{
  return weft_callback_instance_get_plugin (cb)->desc->abi_minor >= 2;
}

static gboolean
weft_thread_has_subscribers (WeftThread *thread)
{
  guint n;
  WeftCallbackInstance * const *cbs = weft_flow_get_flow_callbacks (thread->flow, &n);

  for (guint i = 0; i < n; i++)
    if (weft_thread_callback_takes (cbs[i]))
      return TRUE;
  return weft_bus_has_listeners (thread->bus);
}

void
weft_thread_emit (WeftThread *thread, WeftEventType type, guint turn, const char *output,
                  const char *error, const char *step_kind, gint64 duration_us)
{
  guint64 seq = ++thread->seq;

  if (!weft_thread_has_subscribers (thread))
    return;
  WeftEventFields f = {
    .type = type, .seq = seq, .thread_id = thread->id, .flow = weft_flow_get_name (thread->flow),
    .attempt = turn, .output = output, .error = error, .step_kind = step_kind,
    .duration_us = duration_us,
  };
  WeftEvent *event = weft_event_new (&f);
  guint n;
  WeftCallbackInstance * const *cbs = weft_flow_get_flow_callbacks (thread->flow, &n);
  for (guint i = 0; i < n; i++)
    if (weft_thread_callback_takes (cbs[i]))
      weft_bus_push (thread->bus, weft_callback_instance_get_queue (cbs[i]), event);
  if (weft_bus_has_listeners (thread->bus))
    weft_bus_notify (thread->bus, event);
  weft_event_unref (event);
}

/* ---- the history ----------------------------------------------------------------- */

/* A message in the chat-completions form; with `full`, weft's own members
 * too (its place and time). */
static JsonObject *
weft_thread_message_to_json (WeftThreadMessage *m, gboolean full)
{
  JsonObject *o = json_object_new ();

  if (full)
    json_object_set_int_member (o, "seq", (gint64) m->seq);
  json_object_set_string_member (o, "role", weft_role_to_string (m->role));
  if (m->content != NULL)
    json_object_set_string_member (o, "content", m->content);
  else
    json_object_set_null_member (o, "content");
  if (m->tool_calls != NULL)
    {
      /* weft wrote it (weft-thread-turn.c): it parses. */
      JsonNode *calls = json_from_string (m->tool_calls, NULL);
      json_object_set_member (o, "tool_calls", calls);
    }
  if (m->tool_call_id != NULL)
    json_object_set_string_member (o, "tool_call_id", m->tool_call_id);
  if (full)
    json_object_set_int_member (o, "wall_us", m->wall_us);
  return o;
}

void
weft_thread_append (WeftThread *thread, WeftRole role, const char *content,
                    const char *tool_calls, const char *tool_call_id)
{
  WeftThreadMessage *m = g_new0 (WeftThreadMessage, 1);

  m->wall_us = g_get_real_time ();
  m->role = role;
  m->content = g_strdup (content);
  m->tool_calls = g_strdup (tool_calls);
  m->tool_call_id = g_strdup (tool_call_id);
  g_mutex_lock (&thread->lock);
  m->seq = thread->history->len + 1;
  g_ptr_array_add (thread->history, m);
  g_mutex_unlock (&thread->lock);

  /* The loop alone writes the history: it reads it without the lock. */
  if (weft_thread_has_subscribers (thread))
    {
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (node, weft_thread_message_to_json (m, TRUE));
      g_autofree char *text = json_to_string (node, FALSE);
      weft_thread_emit (thread, WEFT_EVENT_THREAD_MESSAGE, 0, text, NULL, NULL, 0);
    }
  else
    thread->seq++;
}

char *
weft_thread_history_json (WeftThread *thread)
{
  JsonArray *messages = json_array_sized_new (thread->history->len);

  for (guint i = 0; i < thread->history->len; i++)
    json_array_add_object_element (messages,
                                   weft_thread_message_to_json (thread->history->pdata[i], FALSE));
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, messages);
  return json_to_string (node, FALSE);
}

/* ---- the queue ---------------------------------------------------------------------- */

static void
weft_thread_on_wake (WeftMsg *msg)
{
  WeftThread *thread = WEFT_MSG_OWNER (msg, WeftThread, wake_msg);

  g_mutex_lock (&thread->lock);
  thread->wake_pending = FALSE;
  g_mutex_unlock (&thread->lock);
  thread->drain (msg);
  weft_thread_unref (thread);
}

/* Lock held: posts the wake message unless one is on its way. */
static void
weft_thread_wake_locked (WeftThread *thread)
{
  if (thread->wake_pending)
    return;
  thread->wake_pending = TRUE;
  thread->wake_msg.handle = weft_thread_on_wake;
  weft_bus_post (thread->bus, &weft_thread_ref (thread)->wake_msg);
}

void
weft_thread_wake (WeftThread *thread)
{
  g_mutex_lock (&thread->lock);
  weft_thread_wake_locked (thread);
  g_mutex_unlock (&thread->lock);
}

gboolean
weft_thread_enqueue (WeftThread *thread, WeftRole role, const char *content,
                     gboolean reject_if_busy, guint64 *position, GError **error)
{
  gboolean ok = FALSE;

  g_mutex_lock (&thread->lock);
  if (thread->closed)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "thread \"%s\" is closed", thread->id);
  else if (reject_if_busy && thread->busy)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_BUSY,
                 "thread \"%s\" is answering: a message is refused until it has answered "
                 "(strategy \"reject\")", thread->id);
  else
    {
      WeftThreadPending *p = g_new0 (WeftThreadPending, 1);
      p->role = role;
      p->content = g_strdup (content);
      p->position = ++thread->n_posted;
      g_queue_push_tail (&thread->queue, p);
      thread->busy = TRUE;
      if (position)
        *position = p->position;
      weft_thread_wake_locked (thread);
      ok = TRUE;
    }
  g_mutex_unlock (&thread->lock);
  return ok;
}

/* ---- background tasks ------------------------------------------------------------- */

WeftThreadTask *
weft_thread_find_task (WeftThread *thread, const char *id)
{
  for (guint i = 0; i < thread->tasks->len; i++)
    if (g_str_equal (((WeftThreadTask *) thread->tasks->pdata[i])->id, id))
      return thread->tasks->pdata[i];
  return NULL;
}

static const char *const weft_background_kind_names[] = { "tool", "agent", "flow" };

JsonObject *
weft_thread_task_to_json (WeftThreadTask *task)
{
  JsonObject *o = json_object_new ();
  gint64 end = task->finished_wall_us ? task->finished_wall_us : g_get_real_time ();

  json_object_set_string_member (o, "task_id", task->id);
  json_object_set_string_member (o, "name", task->name);
  json_object_set_string_member (o, "kind", weft_background_kind_names[task->kind]);
  json_object_set_string_member (o, "status", task->status);
  json_object_set_string_member (o, "arguments", task->arguments);
  json_object_set_string_member (o, "result", task->result);
  json_object_set_string_member (o, "error", task->error);
  json_object_set_string_member (o, "run_id", task->run_id);
  json_object_set_int_member (o, "started_wall_us", task->started_wall_us);
  weft_json_set_time (o, "finished_wall_us", task->finished_wall_us);
  json_object_set_int_member (o, "duration_us", end - task->started_wall_us);
  return o;
}

/* ---- JSON --------------------------------------------------------------------------- */

gboolean
weft_thread_is_busy (WeftThread *thread)
{
  g_mutex_lock (&thread->lock);
  gboolean busy = thread->busy;
  g_mutex_unlock (&thread->lock);
  return busy;
}

JsonNode *
weft_thread_to_json (WeftThread *thread)
{
  JsonObject *o = json_object_new ();
  JsonArray *messages = json_array_new ();
  JsonArray *tasks = json_array_new ();

  json_object_set_string_member (o, "thread_id", thread->id);
  json_object_set_string_member (o, "flow", weft_flow_get_name (thread->flow));
  json_object_set_string_member (o, "agent", thread->agent->name);
  json_object_set_object_member (o, "settings", weft_thread_config_to_json (thread->config));
  json_object_set_int_member (o, "created_wall_us", thread->created_wall_us);
  g_mutex_lock (&thread->lock);
  json_object_set_boolean_member (o, "busy", thread->busy);
  json_object_set_boolean_member (o, "closed", thread->closed);
  json_object_set_int_member (o, "queued", thread->queue.length);
  json_object_set_int_member (o, "turns", thread->n_turns);
  json_object_set_string_member (o, "last_error", thread->last_error);
  for (guint i = 0; i < thread->history->len; i++)
    json_array_add_object_element (messages,
                                   weft_thread_message_to_json (thread->history->pdata[i], TRUE));
  for (guint i = 0; i < thread->tasks->len; i++)
    json_array_add_object_element (tasks, weft_thread_task_to_json (thread->tasks->pdata[i]));
  g_mutex_unlock (&thread->lock);
  json_object_set_array_member (o, "messages", messages);
  json_object_set_array_member (o, "tasks", tasks);
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, o);
  return node;
}

/* ---- the engine's table --------------------------------------------------------------- */

typedef struct {
  GMutex lock;
  GHashTable *threads;        /* id → WeftThread* (a reference) */
} WeftThreads;

static gpointer
weft_threads_new (void)
{
  WeftThreads *all = g_new0 (WeftThreads, 1);

  g_mutex_init (&all->lock);
  all->threads = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) weft_thread_unref);
  return all;
}

static void
weft_threads_free (gpointer data)
{
  WeftThreads *all = data;

  g_hash_table_unref (all->threads);
  g_mutex_clear (&all->lock);
  g_free (all);
}

static WeftThreads *
weft_threads_get (WeftEngine *engine)
{
  return weft_engine_get_part (engine, g_quark_from_static_string ("weft-threads"),
                               weft_threads_new, weft_threads_free);
}

WeftThread *
weft_threads_add (WeftEngine *engine, WeftThread *thread)
{
  WeftThreads *all = weft_threads_get (engine);

  g_mutex_lock (&all->lock);
  WeftThread *kept = g_hash_table_lookup (all->threads, thread->id);
  if (kept == NULL)
    g_hash_table_insert (all->threads, thread->id, weft_thread_ref (thread));
  else
    weft_thread_ref (kept);
  g_mutex_unlock (&all->lock);
  return kept;
}

WeftThread *
weft_threads_lookup (WeftEngine *engine, const char *id)
{
  WeftThreads *all = weft_threads_get (engine);

  g_mutex_lock (&all->lock);
  WeftThread *thread = g_hash_table_lookup (all->threads, id);
  if (thread)
    weft_thread_ref (thread);
  g_mutex_unlock (&all->lock);
  return thread;
}

void
weft_threads_remove (WeftEngine *engine, WeftThread *thread)
{
  WeftThreads *all = weft_threads_get (engine);
  WeftThread *kept = NULL;

  g_mutex_lock (&all->lock);
  if (g_hash_table_lookup (all->threads, thread->id) == thread)
    g_hash_table_steal_extended (all->threads, thread->id, NULL, (gpointer *) &kept);
  g_mutex_unlock (&all->lock);
  /* Outside the lock: it may be the last reference. */
  weft_thread_unref (kept);
}

static gint
weft_thread_newest_first (gconstpointer a, gconstpointer b)
{
  const WeftThread *x = *(WeftThread *const *) a, *y = *(WeftThread *const *) b;

  return (x->created_wall_us < y->created_wall_us) - (x->created_wall_us > y->created_wall_us);
}

GPtrArray *
weft_threads_list (WeftEngine *engine)
{
  WeftThreads *all = weft_threads_get (engine);
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_thread_unref);
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock (&all->lock);
  g_hash_table_iter_init (&iter, all->threads);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, weft_thread_ref (value));
  g_mutex_unlock (&all->lock);
  g_ptr_array_sort (list, weft_thread_newest_first);
  return list;
}
