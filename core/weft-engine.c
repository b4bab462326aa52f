/* weft-engine.c — the engine loop thread, its inbox, and the worker pool.
 *
 * All scheduling state lives on the engine loop.  Workers, async agents,
 * cancellation and kickoffs reach it only through the inbox: a GAsyncQueue
 * drained by a GSource on the loop, woken at most once per batch. */
#include "weft-private.h"

#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (weft-error-quark, weft_error)

/* Most tool calls of one task that run at once; threads are made on
 * demand and leave when idle. */
#define WEFT_TOOL_THREADS 32

typedef struct {
  guint id;
  WeftEventFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} WeftListener;

struct _WeftEngine {
  gint ref_count;
  WeftRegistry *registry;
  GThreadPool *pool;          /* blocking agents: --threads */
  /* Tool calls: their own pool, so that a model's five calls run at once
   * however few workers the agents have, and a busy agent pool never
   * starves the tools its own tasks wait for. */
  GThreadPool *tool_pool;

  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  GAsyncQueue *inbox;
  GSource *inbox_source;
  gint wakeup_pending;
  SoupSession *soup;

  GHashTable *live_runs;      /* WeftRun* → itself (a reference); loop only */
  GQueue finished;            /* WeftRun* (a reference) to return; loop only */
  GPtrArray *pending_callbacks; /* WeftCallbackInstance* with a batch; loop only */
  WeftBackground *background;

  GThread *loop_thread;       /* set before the loop runs, then read-only */
  gint live_attempts;         /* atomic; shutdown waits on `cond` for 0 */

  GMutex lock;                /* guards what follows */
  GCond cond;
  gboolean loop_ready;
  GArray *listeners;          /* WeftListener */
  guint next_listener_id;
  gint n_listeners;           /* atomic mirror of listeners->len */
};

/* ---- the inbox ---------------------------------------------------------- */

typedef struct {
  GSource source;
  WeftEngine *engine;
} WeftInboxSource;

static gboolean
weft_inbox_prepare (GSource *source, gint *timeout)
{
  WeftEngine *engine = ((WeftInboxSource *) source)->engine;

  *timeout = -1;
  /* Cleared before looking, every iteration, ahead of the poll: a push
   * after this point finds it clear and wakes the loop; a push before it is
   * seen below.  Clearing it in dispatch instead would lose a wakeup when a
   * push lands during a dispatch that drains it. */
  g_atomic_int_set (&engine->wakeup_pending, 0);
  return g_async_queue_length (engine->inbox) > 0;
}

static gboolean
weft_inbox_check (GSource *source)
{
  WeftEngine *engine = ((WeftInboxSource *) source)->engine;

  return g_async_queue_length (engine->inbox) > 0;
}

static void
weft_engine_handle (WeftEngine *engine, WeftMsg *msg)
{
  switch (msg->type)
    {
    case WEFT_MSG_KICKOFF:
      {
        WeftRunMsg *m = (WeftRunMsg *) msg;
        weft_run_start (m->run);
        weft_run_unref (m->run);
        g_free (m);
        break;
      }
    case WEFT_MSG_CANCEL_RUN:
      {
        WeftRunMsg *m = (WeftRunMsg *) msg;
        weft_run_cancel (m->run);
        weft_run_unref (m->run);
        g_free (m);
        break;
      }
    case WEFT_MSG_RETURN:
      weft_run_handle_return ((WeftTask *) msg);
      weft_engine_attempt_finished (engine);
      break;
    case WEFT_MSG_STEP:
      {
        WeftStepMsg *m = (WeftStepMsg *) msg;
        weft_run_handle_step (m->task, m->kind, m->text);
        weft_task_unref (m->task);
        g_free (m->kind);
        g_free (m->text);
        g_free (m);
        break;
      }
    case WEFT_MSG_TOOL_RETURN:
      weft_tool_call_handle_return ((WeftToolCall *) msg);
      weft_engine_attempt_finished (engine);
      break;
    case WEFT_MSG_SHUTDOWN:
      {
        /* Cancelling removes runs from the table: walk a copy. */
        g_autoptr(GList) runs = g_hash_table_get_keys (engine->live_runs);
        for (GList *r = runs; r; r = r->next)
          weft_run_cancel (r->data);
        g_free (msg);
        break;
      }
    }
}

static gboolean
weft_inbox_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  WeftEngine *engine = ((WeftInboxSource *) source)->engine;
  WeftMsg *msg;
  guint budget = 4096;

  /* A bounded batch, so that other sources on the loop (HTTP, timers) are
   * never starved by a flood of completions. */
  while (budget-- > 0 && (msg = g_async_queue_try_pop (engine->inbox)))
    weft_engine_handle (engine, msg);
  weft_engine_end_batch (engine);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs weft_inbox_funcs = {
  .prepare = weft_inbox_prepare,
  .check = weft_inbox_check,
  .dispatch = weft_inbox_dispatch,
};

void
weft_engine_post (WeftEngine *engine, WeftMsg *msg)
{
  g_async_queue_push (engine->inbox, msg);
  if (!weft_engine_is_loop_thread (engine)
      && g_atomic_int_compare_and_exchange (&engine->wakeup_pending, 0, 1))
    g_main_context_wakeup (engine->context);
}

gboolean
weft_engine_is_loop_thread (WeftEngine *engine)
{
  return g_thread_self () == engine->loop_thread;
}

/* ---- the loop thread ------------------------------------------------------ */

static gpointer
weft_engine_loop_thread (gpointer data)
{
  WeftEngine *engine = data;

  engine->loop_thread = g_thread_self ();
  g_main_context_push_thread_default (engine->context);
  /* Made here, so that its async I/O belongs to the engine loop. */
  engine->soup = soup_session_new_with_options ("max-conns", 1024,
                                                "max-conns-per-host", 256, NULL);

  g_mutex_lock (&engine->lock);
  engine->loop_ready = TRUE;
  g_cond_broadcast (&engine->cond);
  g_mutex_unlock (&engine->lock);

  g_main_loop_run (engine->loop);

  g_clear_object (&engine->soup);
  g_main_context_pop_thread_default (engine->context);
  return NULL;
}

static void
weft_engine_worker (gpointer data, gpointer user_data)
{
  WeftTask *task = data;
  WeftFlowTask *ft = weft_task_get_flow_task (task);

  ft->agent->plugin->desc->agent->run (ft->agent->instance, task);
}

static void
weft_engine_tool_worker (gpointer data, gpointer user_data)
{
  weft_tool_call_invoke (data);
}

WeftEngine *
weft_engine_new (guint n_threads)
{
  WeftEngine *engine = g_new0 (WeftEngine, 1);
  g_autoptr(GError) error = NULL;

  if (n_threads == 0)
    n_threads = MAX (4, 2 * g_get_num_processors ());

  engine->ref_count = 1;
  engine->registry = weft_registry_new ();
  if (!weft_registry_add_static (engine->registry, weft_noop_descriptor (), &error))
    g_error ("built-in noop agent: %s", error->message);

  engine->pool = g_thread_pool_new (weft_engine_worker, engine, (gint) n_threads, FALSE, NULL);
  engine->tool_pool = g_thread_pool_new (weft_engine_tool_worker, engine,
                                         (gint) MAX (WEFT_TOOL_THREADS, n_threads), FALSE, NULL);
  engine->inbox = g_async_queue_new ();
  engine->live_runs = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) weft_run_unref, NULL);
  engine->listeners = g_array_new (FALSE, FALSE, sizeof (WeftListener));
  engine->pending_callbacks = g_ptr_array_new ();
  engine->background = weft_background_new ();
  g_mutex_init (&engine->lock);
  g_cond_init (&engine->cond);

  engine->context = g_main_context_new ();
  engine->loop = g_main_loop_new (engine->context, FALSE);
  engine->inbox_source = g_source_new (&weft_inbox_funcs, sizeof (WeftInboxSource));
  ((WeftInboxSource *) engine->inbox_source)->engine = engine;
  g_source_set_name (engine->inbox_source, "weft inbox");
  g_source_attach (engine->inbox_source, engine->context);

  engine->thread = g_thread_new ("weft-engine", weft_engine_loop_thread, engine);
  g_mutex_lock (&engine->lock);
  while (!engine->loop_ready)
    g_cond_wait (&engine->cond, &engine->lock);
  g_mutex_unlock (&engine->lock);
  return engine;
}

WeftEngine *
weft_engine_ref (WeftEngine *engine)
{
  g_atomic_int_inc (&engine->ref_count);
  return engine;
}

static gboolean
weft_engine_quit_loop (gpointer data)
{
  WeftEngine *engine = data;

  g_main_loop_quit (engine->loop);
  return G_SOURCE_REMOVE;
}

static void
weft_engine_free_listener (gpointer data)
{
  WeftListener *l = data;

  if (l->destroy)
    l->destroy (l->user_data);
}

static void
weft_engine_finalize (WeftEngine *engine)
{
  WeftMsg *msg;

  g_main_context_invoke (engine->context, weft_engine_quit_loop, engine);
  g_thread_join (engine->thread);
  g_thread_pool_free (engine->tool_pool, FALSE, TRUE);
  g_thread_pool_free (engine->pool, FALSE, TRUE);
  /* Flows and runs hold references, so nothing but a late shutdown request
   * can still be queued. */
  while ((msg = g_async_queue_try_pop (engine->inbox)))
    weft_engine_handle (engine, msg);

  g_source_destroy (engine->inbox_source);
  g_source_unref (engine->inbox_source);
  g_main_loop_unref (engine->loop);
  g_main_context_unref (engine->context);
  g_async_queue_unref (engine->inbox);
  g_hash_table_unref (engine->live_runs);
  for (guint i = 0; i < engine->listeners->len; i++)
    weft_engine_free_listener (&g_array_index (engine->listeners, WeftListener, i));
  g_array_unref (engine->listeners);
  g_ptr_array_unref (engine->pending_callbacks);
  weft_background_free (engine->background);
  g_mutex_clear (&engine->lock);
  g_cond_clear (&engine->cond);
  weft_registry_free (engine->registry);
  g_free (engine);
}

static gpointer
weft_engine_finalize_thread (gpointer data)
{
  weft_engine_finalize (data);
  return NULL;
}

void
weft_engine_unref (WeftEngine *engine)
{
  if (engine == NULL || !g_atomic_int_dec_and_test (&engine->ref_count))
    return;

  /* The last reference can go on the loop itself, when a run outlives its
   * embedder's references; the loop cannot join itself, so another thread
   * finishes the job. */
  if (weft_engine_is_loop_thread (engine))
    g_thread_unref (g_thread_new ("weft-engine-free", weft_engine_finalize_thread, engine));
  else
    weft_engine_finalize (engine);
}

WeftRegistry *
weft_engine_get_registry (WeftEngine *engine)
{
  return engine->registry;
}

GMainContext *
weft_engine_get_main_context (WeftEngine *engine)
{
  return engine->context;
}

SoupSession *
weft_engine_get_soup_session (WeftEngine *engine)
{
  return engine->soup;
}

WeftBackground *
weft_engine_get_background (WeftEngine *engine)
{
  return engine->background;
}

typedef struct {
  GSourceFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  gboolean done;
} WeftInvoke;

static gboolean
weft_engine_invoke_on_loop (gpointer data)
{
  WeftInvoke *inv = data;

  inv->func (inv->data);
  g_mutex_lock (&inv->lock);
  inv->done = TRUE;
  g_cond_signal (&inv->cond);
  g_mutex_unlock (&inv->lock);
  return G_SOURCE_REMOVE;
}

void
weft_engine_invoke_sync (WeftEngine *engine, GSourceFunc func, gpointer data)
{
  WeftInvoke inv = { .func = func, .data = data };

  g_return_if_fail (!weft_engine_is_loop_thread (engine));
  g_mutex_init (&inv.lock);
  g_cond_init (&inv.cond);
  g_main_context_invoke (engine->context, weft_engine_invoke_on_loop, &inv);
  g_mutex_lock (&inv.lock);
  while (!inv.done)
    g_cond_wait (&inv.cond, &inv.lock);
  g_mutex_unlock (&inv.lock);
  g_mutex_clear (&inv.lock);
  g_cond_clear (&inv.cond);
}

void
weft_engine_run_blocking (WeftEngine *engine, WeftTask *task)
{
  g_thread_pool_push (engine->pool, task, NULL);
}

void
weft_engine_run_tool (WeftEngine *engine, WeftToolCall *call)
{
  g_thread_pool_push (engine->tool_pool, call, NULL);
}

/* ---- runs and attempts in flight --------------------------------------------- */

void
weft_engine_run_started (WeftEngine *engine, WeftRun *run)
{
  g_hash_table_add (engine->live_runs, weft_run_ref (run));
}

guint
weft_engine_count_live_runs (WeftEngine *engine)
{
  return g_hash_table_size (engine->live_runs) + engine->finished.length;
}

void
weft_engine_run_finished (WeftEngine *engine, WeftRun *run)
{
  if (g_hash_table_steal (engine->live_runs, run))
    g_queue_push_tail (&engine->finished, run);
}

void
weft_engine_mark_pending (WeftEngine *engine, WeftCallbackInstance *cb)
{
  g_ptr_array_add (engine->pending_callbacks, cb);
}

static void
weft_engine_return_finished (WeftEngine *engine)
{
  WeftRun *run;

  while ((run = g_queue_pop_head (&engine->finished)))
    weft_run_return (run);
}

void
weft_engine_end_batch (WeftEngine *engine)
{
  for (guint i = 0; i < engine->pending_callbacks->len; i++)
    weft_callback_instance_deliver (engine->pending_callbacks->pdata[i]);
  g_ptr_array_set_size (engine->pending_callbacks, 0);
  weft_engine_return_finished (engine);
}

void
weft_engine_attempt_started (WeftEngine *engine)
{
  g_atomic_int_inc (&engine->live_attempts);
}

void
weft_engine_attempt_finished (WeftEngine *engine)
{
  /* The lock only for the broadcast, so that a waiting shutdown cannot
   * miss it between its check and its wait. */
  if (g_atomic_int_dec_and_test (&engine->live_attempts))
    {
      g_mutex_lock (&engine->lock);
      g_cond_broadcast (&engine->cond);
      g_mutex_unlock (&engine->lock);
    }
}

void
weft_engine_shutdown (WeftEngine *engine, guint grace_ms)
{
  g_return_if_fail (!weft_engine_is_loop_thread (engine));

  WeftMsg *msg = g_new0 (WeftMsg, 1);
  msg->type = WEFT_MSG_SHUTDOWN;
  weft_engine_post (engine, msg);

  gint64 deadline = g_get_monotonic_time () + (gint64) grace_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&engine->lock);
  while (g_atomic_int_get (&engine->live_attempts) > 0)
    if (!g_cond_wait_until (&engine->cond, &engine->lock, deadline))
      {
        g_warning ("shutdown: %d agent call(s) still running after %u ms; "
                   "an agent is ignoring its cancellable",
                   g_atomic_int_get (&engine->live_attempts), grace_ms);
        break;
      }
  g_mutex_unlock (&engine->lock);
}

/* ---- listeners -------------------------------------------------------------- */

guint
weft_engine_add_listener (WeftEngine *engine, WeftEventFunc func, gpointer user_data,
                          GDestroyNotify destroy)
{
  WeftListener l = { 0, func, user_data, destroy };

  g_mutex_lock (&engine->lock);
  l.id = ++engine->next_listener_id;
  g_array_append_val (engine->listeners, l);
  g_atomic_int_set (&engine->n_listeners, (gint) engine->listeners->len);
  g_mutex_unlock (&engine->lock);
  return l.id;
}

void
weft_engine_remove_listener (WeftEngine *engine, guint id)
{
  WeftListener removed = { 0 };

  g_mutex_lock (&engine->lock);
  for (guint i = 0; i < engine->listeners->len; i++)
    if (g_array_index (engine->listeners, WeftListener, i).id == id)
      {
        removed = g_array_index (engine->listeners, WeftListener, i);
        g_array_remove_index (engine->listeners, i);
        break;
      }
  g_atomic_int_set (&engine->n_listeners, (gint) engine->listeners->len);
  g_mutex_unlock (&engine->lock);
  if (removed.id)
    weft_engine_free_listener (&removed);
}

gboolean
weft_engine_has_listeners (WeftEngine *engine)
{
  return g_atomic_int_get (&engine->n_listeners) > 0;
}

void
weft_engine_notify_listeners (WeftEngine *engine, const WeftEvent *event)
{
  /* Listeners are called with the lock held: removing one from another
   * thread waits until it is no longer being called. */
  g_mutex_lock (&engine->lock);
  for (guint i = 0; i < engine->listeners->len; i++)
    {
      WeftListener *l = &g_array_index (engine->listeners, WeftListener, i);
      l->func (event, l->user_data);
    }
  g_mutex_unlock (&engine->lock);
}

/* ---- plugin discovery --------------------------------------------------------- */

/* TRUE when this program runs from weft's own build tree. */
static gboolean
weft_running_uninstalled (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

  return exe != NULL && g_str_has_prefix (exe, WEFT_BUILD_ROOT "/");
}

static void
weft_engine_load_optional_dir (WeftEngine *engine, const char *dir, GPtrArray *warnings)
{
  if (dir && *dir && g_file_test (dir, G_FILE_TEST_IS_DIR))
    weft_registry_load_dir (engine->registry, dir, warnings, NULL);
}

gboolean
weft_engine_load_plugins (WeftEngine *engine, const char * const *extra_dirs,
                          GPtrArray *warnings, GError **error)
{
  for (guint i = 0; extra_dirs && extra_dirs[i]; i++)
    if (!weft_registry_load_dir (engine->registry, extra_dirs[i], warnings, error))
      return FALSE;

  const char *path = g_getenv ("WEFT_PLUGIN_PATH");
  if (path && *path)
    {
      g_auto(GStrv) dirs = g_strsplit (path, ":", -1);
      for (guint i = 0; dirs[i]; i++)
        weft_engine_load_optional_dir (engine, dirs[i], warnings);
    }

  if (weft_running_uninstalled ())
    weft_engine_load_optional_dir (engine, WEFT_BUILD_PLUGINDIR, warnings);
  else
    weft_engine_load_optional_dir (engine, WEFT_PLUGINDIR, warnings);
  return TRUE;
}
