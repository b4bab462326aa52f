/* weft-engine.c — the engine: its loop thread, its bus, the worker pools,
 * the runs and agent calls in flight, and plugin discovery.
 *
 * All scheduling state lives on the engine loop.  Workers, async agents,
 * cancellation and kickoffs reach it only through the bus (weft-bus.c),
 * whose messages carry their own handlers: the engine runs the loop and
 * the pools and knows none of the parts that use them.  Runs register
 * with it while in flight only so that a shutdown can cancel them. */
#include "weft-http-private.h"

#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

/* Most tool calls of one task that run at once; threads are made on
 * demand and leave when idle. */
#define WEFT_TOOL_THREADS 32

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
  WeftBus *bus;
  WeftHttpSink *http;         /* where its HTTP calls end: the bus */
  SoupSession *soup;          /* weft_task_get_soup_session (deprecated) */

  GHashTable *live_runs;      /* WeftMsg* (a run's cancel) → itself; loop only */
  GHashTable *shutdown_hooks; /* WeftMsg* → itself; loop only */

  GThread *loop_thread;       /* set before the loop runs, then read-only */
  gint live_attempts;         /* atomic; shutdown waits on `cond` for 0 */

  GMutex lock;                /* guards what follows */
  GCond cond;
  gboolean loop_ready;
  GData *parts;               /* weft_engine_get_part */
};

typedef struct {
  WeftMsg msg;
  WeftEngine *engine;
  gboolean *handled;          /* the caller's, under the engine's lock */
} WeftShutdownMsg;

/* ---- the loop thread and the pools ------------------------------------------ */

static gpointer
weft_engine_loop_thread (gpointer data)
{
  WeftEngine *engine = data;

  engine->loop_thread = g_thread_self ();
  weft_bus_set_loop_thread (engine->bus, engine->loop_thread);
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

/* A worker runs whatever the job carries. */
static void
weft_engine_run_job (gpointer data, gpointer user_data)
{
  WeftMsg *job = data;

  job->handle (job);
}

gboolean
weft_engine_is_loop_thread (WeftEngine *engine)
{
  return g_thread_self () == engine->loop_thread;
}

void
weft_engine_run_agent_job (WeftEngine *engine, WeftMsg *job)
{
  g_thread_pool_push (engine->pool, job, NULL);
}

void
weft_engine_run_tool_job (WeftEngine *engine, WeftMsg *job)
{
  g_thread_pool_push (engine->tool_pool, job, NULL);
}

/* ---- life --------------------------------------------------------------------- */

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

  engine->pool = g_thread_pool_new (weft_engine_run_job, NULL, (gint) n_threads, FALSE, NULL);
  engine->tool_pool = g_thread_pool_new (weft_engine_run_job, NULL,
                                         (gint) MAX (WEFT_TOOL_THREADS, n_threads), FALSE, NULL);
  engine->live_runs = g_hash_table_new (NULL, NULL);
  engine->shutdown_hooks = g_hash_table_new (NULL, NULL);
  g_mutex_init (&engine->lock);
  g_cond_init (&engine->cond);
  g_datalist_init (&engine->parts);

  engine->context = g_main_context_new ();
  engine->loop = g_main_loop_new (engine->context, FALSE);
  engine->bus = weft_bus_new (engine->context);
  engine->http = weft_http_sink_new (engine->bus);

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
weft_engine_finalize (WeftEngine *engine)
{
  g_main_context_invoke (engine->context, weft_engine_quit_loop, engine);
  g_thread_join (engine->thread);
  g_thread_pool_free (engine->tool_pool, FALSE, TRUE);
  g_thread_pool_free (engine->pool, FALSE, TRUE);
  /* HTTP calls still in flight end with nobody to tell. */
  weft_http_sink_close (engine->http);
  /* Before the runs' table: a late shutdown request still reads it. */
  weft_bus_free (engine->bus);

  g_main_loop_unref (engine->loop);
  g_main_context_unref (engine->context);
  g_hash_table_unref (engine->live_runs);
  g_hash_table_unref (engine->shutdown_hooks);
  g_datalist_clear (&engine->parts);
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

WeftBus *
weft_engine_get_bus (WeftEngine *engine)
{
  return engine->bus;
}

WeftHttpSink *
weft_engine_get_http_sink (WeftEngine *engine)
{
  return engine->http;
}

gpointer
weft_engine_get_soup_session (WeftEngine *engine)
{
  return engine->soup;
}

gpointer
weft_engine_get_part (WeftEngine *engine, GQuark key, gpointer (*make) (void),
                      GDestroyNotify free_part)
{
  gpointer part;

  g_mutex_lock (&engine->lock);
  part = g_datalist_id_get_data (&engine->parts, key);
  if (part == NULL)
    {
      part = make ();
      g_datalist_id_set_data_full (&engine->parts, key, part, free_part);
    }
  g_mutex_unlock (&engine->lock);
  return part;
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

/* ---- runs and agent calls in flight ------------------------------------------- */

void
weft_engine_add_live_run (WeftEngine *engine, WeftMsg *cancel)
{
  g_hash_table_add (engine->live_runs, cancel);
}

void
weft_engine_remove_live_run (WeftEngine *engine, WeftMsg *cancel)
{
  g_hash_table_remove (engine->live_runs, cancel);
}

void
weft_engine_add_shutdown_hook (WeftEngine *engine, WeftMsg *msg)
{
  g_hash_table_add (engine->shutdown_hooks, msg);
}

void
weft_engine_remove_shutdown_hook (WeftEngine *engine, WeftMsg *msg)
{
  g_hash_table_remove (engine->shutdown_hooks, msg);
}

guint
weft_engine_count_live_runs (WeftEngine *engine)
{
  return g_hash_table_size (engine->live_runs);
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

/* Engine loop: cancels every run in flight. */
static void
weft_engine_on_shutdown (WeftMsg *msg)
{
  WeftEngine *engine = ((WeftShutdownMsg *) msg)->engine;
  /* A run's cancel may end it and so change the table: walk a copy. */
  g_autoptr(GList) runs = g_hash_table_get_keys (engine->live_runs);
  g_autoptr(GList) hooks = g_hash_table_get_keys (engine->shutdown_hooks);

  for (GList *r = runs; r; r = r->next)
    ((WeftMsg *) r->data)->handle (r->data);
  for (GList *h = hooks; h; h = h->next)
    ((WeftMsg *) h->data)->handle (h->data);
  g_mutex_lock (&engine->lock);
  *((WeftShutdownMsg *) msg)->handled = TRUE;
  g_cond_broadcast (&engine->cond);
  g_mutex_unlock (&engine->lock);
  g_free (msg);
}

void
weft_engine_shutdown (WeftEngine *engine, guint grace_ms)
{
  g_return_if_fail (!weft_engine_is_loop_thread (engine));

  WeftShutdownMsg *msg = g_new0 (WeftShutdownMsg, 1);
  gboolean handled = FALSE;
  msg->msg.handle = weft_engine_on_shutdown;
  msg->engine = engine;
  msg->handled = &handled;
  weft_bus_post (engine->bus, &msg->msg);

  gint64 deadline = g_get_monotonic_time () + (gint64) grace_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&engine->lock);
  /* First the cancels (a run kicked off just before is cancelled, not
   * missed because none of its agents had started yet), then the agents. */
  while (!handled)
    g_cond_wait (&engine->cond, &engine->lock);
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

/* ---- listeners: the bus's ------------------------------------------------------ */

guint
weft_engine_add_listener (WeftEngine *engine, WeftEventFunc func, gpointer user_data,
                          GDestroyNotify destroy)
{
  return weft_bus_add_listener (engine->bus, func, user_data, destroy);
}

void
weft_engine_remove_listener (WeftEngine *engine, guint id)
{
  weft_bus_remove_listener (engine->bus, id);
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
