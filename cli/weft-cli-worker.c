/* weft-cli-worker.c — `weft worker --store SPEC`: a process, on any
 * machine, that takes runs from a store's queue and runs them with its own
 * engine and plugins (docs/scale-out.md).
 *
 * The main loop claims runs while it has room (--concurrency), loads each
 * one's flow from the text the store kept (once per distinct text), adds
 * the store as the flow's callback so that the run's events are stored
 * there, takes the run's claim through that instance, reads the run again
 * under the claim and starts it: new (a queued run, under its own id) or
 * resumed from its stored events (a run whose worker died).  A thread
 * waits on the queue (weft_store_wait: LISTEN/NOTIFY for postgres) and
 * wakes the loop.  A flow that does not load here (a plugin this worker
 * lacks) is handed back with the reason.  SIGTERM or SIGINT: no more
 * claims; what runs gets --grace seconds, then is handed back to the queue
 * and stopped; a second signal hands back at once.
 */
#include "weft-cli.h"

#include <glib-unix.h>
#include <signal.h>
#include <unistd.h>

/* An idle worker looks for runs whose worker died at least this often
 * (nothing notifies a death); new runs wake it at once. */
#define WEFT_CLI_WORKER_LOOK_MS 2000
/* After the store failed, the next try. */
#define WEFT_CLI_WORKER_RETRY_S 2
/* Distinct flow texts kept loaded (an idle one is dropped beyond). */
#define WEFT_CLI_WORKER_MAX_FLOWS 16

typedef struct {
  char *store;
  char **plugin_dirs;
  gint concurrency;
  gint grace_s;
  gint threads;
  gboolean quiet;
} WeftCliWorkerOptions;

/* A flow loaded from a stored text, recording its runs in the store. */
typedef struct {
  WeftFlow *flow;
  WeftStore *store;           /* the instance the worker added: its runs' events */
  guint running;
  gint64 used_us;
} WeftCliWorkerFlow;

typedef struct _WeftCliWorker WeftCliWorker;

typedef struct {
  WeftCliWorker *worker;
  char *run_id;
  WeftCliWorkerFlow *flow;
  GCancellable *cancellable;
  gboolean handed_back;
} WeftCliWorkerRun;

struct _WeftCliWorker {
  const WeftCliWorkerOptions *options;
  WeftEngine *engine;
  WeftStore *queue;
  char *plugin;               /* the store's plugin and options, added to each flow */
  JsonObject *plugin_options;
  char *name;                 /* host:pid */
  GMainLoop *loop;
  GMainContext *context;
  GHashTable *flows;          /* source text → WeftCliWorkerFlow */
  GHashTable *runs;           /* run id → WeftCliWorkerRun */
  GQueue claimed;             /* run ids taken but not started: the store failed */
  gboolean stopping;
  guint n_signals;
  guint grace_id;
  guint retry_id;
  gboolean store_away;        /* said once, until it is back */
  GCancellable *waiting;      /* the waiter thread's */
  GThread *waiter;
  gint look_pending;
};

/* ---- messages ------------------------------------------------------------------ */

static void
weft_cli_worker_say (WeftCliWorker *w, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
weft_cli_worker_say (WeftCliWorker *w, const char *format, ...)
{
  va_list args;

  if (w->options->quiet)
    return;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  weft_cli_printerr ("weft: worker %s: %s", w->name, text);
}

/* The store could not be reached: said once, then once when it is back. */
static void
weft_cli_worker_store_state (WeftCliWorker *w, const GError *error)
{
  if (error != NULL && !w->store_away)
    weft_cli_printerr ("weft: worker %s: the store is away (%s); trying again every %d s",
                       w->name, error->message, WEFT_CLI_WORKER_RETRY_S);
  else if (error == NULL && w->store_away)
    weft_cli_printerr ("weft: worker %s: the store is back", w->name);
  w->store_away = error != NULL;
}

/* ---- flows ------------------------------------------------------------------------ */

static void
weft_cli_worker_flow_free (gpointer data)
{
  WeftCliWorkerFlow *entry = data;

  g_clear_pointer (&entry->store, weft_store_free);
  /* Drains the flow's callbacks: every event is stored. */
  g_clear_pointer (&entry->flow, weft_flow_unref);
  g_free (entry);
}

/* Beyond the bound, the flow unused longest and idle goes. */
static void
weft_cli_worker_trim_flows (WeftCliWorker *w)
{
  GHashTableIter iter;
  gpointer key, value;
  gpointer oldest = NULL;
  gint64 oldest_us = G_MAXINT64;

  if (g_hash_table_size (w->flows) < WEFT_CLI_WORKER_MAX_FLOWS)
    return;
  g_hash_table_iter_init (&iter, w->flows);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      WeftCliWorkerFlow *entry = value;
      if (entry->running == 0 && entry->used_us < oldest_us)
        {
          oldest = key;
          oldest_us = entry->used_us;
        }
    }
  if (oldest != NULL)
    g_hash_table_remove (w->flows, oldest);
}

/* The flow of `source`, loaded here once, with the store added. */
static WeftCliWorkerFlow *
weft_cli_worker_flow (WeftCliWorker *w, const char *source, const char *run_id, GError **error)
{
  WeftCliWorkerFlow *entry = g_hash_table_lookup (w->flows, source);
  g_autofree char *origin = g_strdup_printf ("run %s's flow", run_id);

  if (entry == NULL)
    {
      g_autoptr(WeftFlow) flow = weft_flow_load_data (w->engine, source, -1, origin, error);
      if (flow == NULL || !weft_flow_add_callback (flow, w->plugin, w->plugin_options, error))
        return NULL;
      weft_cli_worker_trim_flows (w);
      entry = g_new0 (WeftCliWorkerFlow, 1);
      entry->store = weft_flow_dup_plugin_store (flow, w->plugin);
      entry->flow = g_steal_pointer (&flow);
      g_hash_table_insert (w->flows, g_strdup (source), entry);
    }
  entry->used_us = g_get_monotonic_time ();
  return entry;
}

/* ---- runs ------------------------------------------------------------------------- */

static void weft_cli_worker_look (WeftCliWorker *w);

static void
weft_cli_worker_run_free (gpointer data)
{
  WeftCliWorkerRun *run = data;

  g_object_unref (run->cancellable);
  g_free (run->run_id);
  g_free (run);
}

static void
weft_cli_worker_on_done (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftCliWorkerRun *record = data;
  WeftCliWorker *w = record->worker;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff_finish (record->flow->flow, result, &error);

  if (record->handed_back)
    weft_cli_worker_say (w, "run %s stopped and handed back", record->run_id);
  else if (run == NULL)
    weft_cli_worker_say (w, "run %s did not start: %s", record->run_id, error->message);
  else
    weft_cli_worker_say (w, "run %s %s (%.3fs)", record->run_id,
                         weft_status_to_string (weft_run_get_status (run)),
                         (double) weft_run_get_duration_us (run) / G_USEC_PER_SEC);
  record->flow->running--;
  g_hash_table_remove (w->runs, record->run_id);
  if (w->stopping && g_hash_table_size (w->runs) == 0)
    g_main_loop_quit (w->loop);
  else
    weft_cli_worker_look (w);
}

/* Gives a run back with why; said either way. */
static void
weft_cli_worker_hand_back (WeftCliWorker *w, WeftStore *store, const char *run_id,
                           const char *reason)
{
  g_autoptr(GError) error = NULL;

  if (weft_store_hand_back (store, run_id, reason, &error))
    weft_cli_worker_say (w, "run %s handed back: %s", run_id, reason);
  else
    weft_cli_printerr ("weft: worker %s: run %s: cannot hand it back (%s): it returns to the "
                       "queue when this worker's claims go", w->name, run_id, error->message);
}

static void
weft_cli_worker_kickoff (WeftCliWorker *w, WeftCliWorkerFlow *flow, JsonObject *run,
                         const char *run_id)
{
  WeftCliWorkerRun *record = g_new0 (WeftCliWorkerRun, 1);
  WeftKickoffOptions kickoff = { 0 };
  g_autoptr(JsonObject) completed = NULL;
  gboolean fresh = g_strcmp0 (weft_cli_member_string (run, "status"), "queued") == 0
                   && weft_cli_member_int (run, "last_seq") == 0;

  record->worker = w;
  record->run_id = g_strdup (run_id);
  record->flow = flow;
  record->cancellable = g_cancellable_new ();
  g_hash_table_insert (w->runs, record->run_id, record);
  flow->running++;
  if (fresh)
    {
      kickoff.inputs = weft_cli_stored_inputs (run);
      kickoff.run_id = record->run_id;
    }
  else
    completed = weft_cli_resume_kickoff (run, record->run_id, &kickoff);
  weft_cli_worker_say (w, "run %s %s (flow %s)", run_id, fresh ? "started" : "resumed",
                       weft_flow_get_name (flow->flow));
  /* The kickoff reads the options before it returns. */
  weft_flow_kickoff_with_options_async (flow->flow, &kickoff, record->cancellable,
                                        weft_cli_worker_on_done, record);
}

/* What became of a claimed run. */
typedef enum {
  WEFT_CLI_WORKER_STARTED,
  WEFT_CLI_WORKER_GONE,       /* handed back, or another process has it */
  WEFT_CLI_WORKER_LATER,      /* the store failed: held, tried again */
} WeftCliWorkerStart;

/* A claimed run: its flow, its claim through the flow's store, its state
 * read again under the claim, then the kickoff. */
static WeftCliWorkerStart
weft_cli_worker_start (WeftCliWorker *w, const char *run_id)
{
  g_autoptr(GError) error = NULL;

  /* Given again (a claim this worker held went back to the queue while
   * the store was away, and came back to it): it runs here already. */
  if (g_hash_table_contains (w->runs, run_id))
    return WEFT_CLI_WORKER_GONE;
  g_autoptr(JsonNode) queued = weft_store_get_run (w->queue, run_id, &error);
  JsonObject *object = queued && JSON_NODE_HOLDS_OBJECT (queued)
                       ? json_node_get_object (queued) : NULL;
  const char *source = object ? weft_cli_member_string (object, "flow_source") : NULL;

  if (queued == NULL)
    {
      weft_cli_worker_say (w, "run %s: %s", run_id, error->message);
      return g_error_matches (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND)
             ? WEFT_CLI_WORKER_GONE : WEFT_CLI_WORKER_LATER;
    }
  WeftCliWorkerFlow *flow = source ? weft_cli_worker_flow (w, source, run_id, &error) : NULL;
  if (flow == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("worker %s cannot run it: %s", w->name,
                                                 error ? error->message
                                                       : "the store has no flow text for it");
      weft_cli_worker_hand_back (w, w->queue, run_id, reason);
      return WEFT_CLI_WORKER_GONE;
    }
  if (!weft_store_claim_run (flow->store, run_id, &error))
    {
      weft_cli_worker_say (w, "run %s: %s", run_id, error->message);
      return g_error_matches (error, WEFT_ERROR, WEFT_ERROR_BUSY)
             ? WEFT_CLI_WORKER_GONE : WEFT_CLI_WORKER_LATER;
    }
  g_autoptr(JsonNode) claimed = weft_store_get_run (flow->store, run_id, &error);
  if (claimed == NULL)
    {
      weft_cli_worker_say (w, "run %s: %s", run_id, error->message);
      return WEFT_CLI_WORKER_LATER;
    }
  if (weft_cli_run_ended (json_node_get_object (claimed)))
    {
      weft_cli_worker_hand_back (w, flow->store, run_id, "it had ended");
      return WEFT_CLI_WORKER_GONE;
    }
  weft_cli_worker_kickoff (w, flow, json_node_get_object (claimed), run_id);
  return WEFT_CLI_WORKER_STARTED;
}

/* ---- looking for work -------------------------------------------------------------- */

static gboolean
weft_cli_worker_retry (gpointer data)
{
  WeftCliWorker *w = data;

  w->retry_id = 0;
  weft_cli_worker_look (w);
  return G_SOURCE_REMOVE;
}

static gboolean
weft_cli_worker_has_room (WeftCliWorker *w)
{
  return !w->stopping && w->retry_id == 0
         && g_hash_table_size (w->runs) < (guint) w->options->concurrency;
}

/* Starts a claimed run (taken); one the store failed on waits in
 * `claimed` for the next try.  FALSE then. */
static gboolean
weft_cli_worker_try (WeftCliWorker *w, char *run_id)
{
  if (weft_cli_worker_start (w, run_id) != WEFT_CLI_WORKER_LATER)
    {
      g_free (run_id);
      return TRUE;
    }
  g_queue_push_head (&w->claimed, run_id);
  w->retry_id = g_timeout_add_seconds (WEFT_CLI_WORKER_RETRY_S, weft_cli_worker_retry, w);
  return FALSE;
}

/* Claims runs while there is room, those claimed already first. */
static void
weft_cli_worker_look (WeftCliWorker *w)
{
  while (weft_cli_worker_has_room (w) && !g_queue_is_empty (&w->claimed))
    if (!weft_cli_worker_try (w, g_queue_pop_head (&w->claimed)))
      return;
  while (weft_cli_worker_has_room (w))
    {
      g_autoptr(GError) error = NULL;
      char *run_id = weft_store_claim_next (w->queue, &error);

      weft_cli_worker_store_state (w, error);
      if (error != NULL)
        {
          w->retry_id = g_timeout_add_seconds (WEFT_CLI_WORKER_RETRY_S, weft_cli_worker_retry, w);
          return;
        }
      if (run_id == NULL || !weft_cli_worker_try (w, run_id))
        return;
    }
}

static gboolean
weft_cli_worker_woken (gpointer data)
{
  WeftCliWorker *w = data;

  g_atomic_int_set (&w->look_pending, 0);
  weft_cli_worker_look (w);
  return G_SOURCE_REMOVE;
}

/* The waiter thread: sleeps on the queue, wakes the loop. */
static gpointer
weft_cli_worker_wait_main (gpointer data)
{
  WeftCliWorker *w = data;

  while (!g_cancellable_is_cancelled (w->waiting))
    {
      g_autoptr(GError) error = NULL;
      if (!weft_store_wait (w->queue, WEFT_CLI_WORKER_LOOK_MS, w->waiting, &error))
        {
          if (g_error_matches (error, WEFT_ERROR, WEFT_ERROR_CANCELLED))
            break;
          /* The loop hears of it from claim_next; here, a pause. */
          for (guint i = 0; i < WEFT_CLI_WORKER_RETRY_S * 10
               && !g_cancellable_is_cancelled (w->waiting); i++)
            g_usleep (100 * 1000);
        }
      /* Not g_main_context_invoke: from a thread whose default context is
       * the loop's, it may run the function right here, beside the loop. */
      if (g_atomic_int_compare_and_exchange (&w->look_pending, 0, 1))
        {
          g_autoptr(GSource) idle = g_idle_source_new ();
          g_source_set_callback (idle, weft_cli_worker_woken, w, NULL);
          g_source_attach (idle, w->context);
        }
    }
  return NULL;
}

/* ---- stopping ---------------------------------------------------------------------- */

/* What still runs goes back to the queue, then stops: its cancellation is
 * not stored (the store no longer stores the run), so another worker
 * resumes it from what was. */
static gboolean
weft_cli_worker_hand_back_all (gpointer data)
{
  WeftCliWorker *w = data;
  g_autofree char *reason = g_strdup_printf ("worker %s stopped before it finished", w->name);
  GHashTableIter iter;
  gpointer value;

  w->grace_id = 0;
  g_hash_table_iter_init (&iter, w->runs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      WeftCliWorkerRun *run = value;
      if (run->handed_back)
        continue;
      weft_cli_worker_hand_back (w, run->flow->store, run->run_id, reason);
      run->handed_back = TRUE;
      g_cancellable_cancel (run->cancellable);
    }
  return G_SOURCE_REMOVE;
}

static gboolean
weft_cli_worker_on_signal (gpointer data)
{
  WeftCliWorker *w = data;

  if (w->n_signals++ > 0)
    {
      g_clear_handle_id (&w->grace_id, g_source_remove);
      weft_cli_worker_hand_back_all (w);
      return G_SOURCE_CONTINUE;
    }
  w->stopping = TRUE;
  g_cancellable_cancel (w->waiting);
  if (g_hash_table_size (w->runs) == 0)
    {
      g_main_loop_quit (w->loop);
      return G_SOURCE_CONTINUE;
    }
  weft_cli_printerr ("weft: worker %s: stopping: %u run(s) get %d s to finish, then go back "
                     "to the queue (signal again: at once)", w->name,
                     g_hash_table_size (w->runs), w->options->grace_s);
  w->grace_id = g_timeout_add_seconds ((guint) w->options->grace_s,
                                       weft_cli_worker_hand_back_all, w);
  return G_SOURCE_CONTINUE;
}

/* ---- the worker -------------------------------------------------------------------- */

/* Opens the store and joins its queue; a store that cannot be reached is
 * tried again until it can (or a signal comes), one that refuses (a wrong
 * password, a newer schema, no queue) is an error. */
static gboolean
weft_cli_worker_join (WeftCliWorker *w, GError **error)
{
  while (w->n_signals == 0)
    {
      g_autoptr(GError) local = NULL;
      w->queue = weft_cli_open_queue_spec (w->engine, w->options->store, &w->plugin,
                                           &w->plugin_options, &local);
      if (w->queue != NULL && weft_store_join (w->queue, (guint) w->options->concurrency,
                                               &local))
        {
          weft_cli_worker_store_state (w, NULL);
          return TRUE;
        }
      g_clear_pointer (&w->queue, weft_store_free);
      g_clear_pointer (&w->plugin, g_free);
      g_clear_pointer (&w->plugin_options, json_object_unref);
      if (!g_error_matches (local, WEFT_ERROR, WEFT_ERROR_FAILED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      weft_cli_worker_store_state (w, local);
      for (guint i = 0; i < WEFT_CLI_WORKER_RETRY_S * 10 && w->n_signals == 0; i++)
        {
          while (g_main_context_iteration (w->context, FALSE))
            ;
          g_usleep (100 * 1000);
        }
    }
  return FALSE;
}

static int
weft_cli_worker_run (WeftCliWorker *w)
{
  g_autoptr(GError) error = NULL;
  guint sigint_id = g_unix_signal_add (SIGINT, weft_cli_worker_on_signal, w);
  guint sigterm_id = g_unix_signal_add (SIGTERM, weft_cli_worker_on_signal, w);
  int status = WEFT_CLI_EXIT_OK;

  if (weft_cli_worker_join (w, &error))
    {
      g_autofree char *shown = weft_cli_spec_shown (w->options->store);
      weft_cli_worker_say (w, "joined the queue of %s (concurrency %d)", shown,
                           w->options->concurrency);
      w->waiter = g_thread_new ("weft-worker-wait", weft_cli_worker_wait_main, w);
      weft_cli_worker_look (w);
      if (!w->stopping)
        g_main_loop_run (w->loop);
      g_cancellable_cancel (w->waiting);
      g_thread_join (w->waiter);
      weft_cli_worker_say (w, "stopped");
    }
  else if (error != NULL)
    status = weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  g_clear_handle_id (&w->retry_id, g_source_remove);
  g_clear_handle_id (&w->grace_id, g_source_remove);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  return status;
}

static int
weft_cli_worker (const WeftCliWorkerOptions *options)
{
  g_autoptr(GError) error = NULL;
  WeftCliWorker w = {
    .options = options,
    .name = g_strdup_printf ("%s:%u", g_get_host_name (), (guint) getpid ()),
    .context = g_main_context_default (),
    .loop = g_main_loop_new (NULL, FALSE),
    .flows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weft_cli_worker_flow_free),
    .runs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, weft_cli_worker_run_free),
    .waiting = g_cancellable_new (),
  };
  int status;

  w.engine = weft_cli_open_engine ((guint) options->threads, options->plugin_dirs, &error);
  status = w.engine ? weft_cli_worker_run (&w) : weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  /* Runs have ended or been handed back: nothing left to cancel. */
  if (w.engine != NULL)
    weft_engine_shutdown (w.engine, 1000);
  g_hash_table_unref (w.runs);
  g_hash_table_unref (w.flows);
  /* What was claimed and not started returns to the queue with the
   * worker's claim, below. */
  g_queue_clear_full (&w.claimed, g_free);
  /* Last: closing it drops the worker's claim on the queue. */
  g_clear_pointer (&w.queue, weft_store_free);
  g_clear_pointer (&w.engine, weft_engine_unref);
  g_free (w.plugin);
  g_clear_pointer (&w.plugin_options, json_object_unref);
  g_free (w.name);
  g_main_loop_unref (w.loop);
  g_object_unref (w.waiting);
  return status;
}

int
weft_cli_worker_main (char **argv)
{
  WeftCliWorkerOptions options = { .concurrency = 4, .grace_s = 30 };
  const GOptionEntry entries[] = {
    { "store", 's', 0, G_OPTION_ARG_STRING, &options.store,
      "The store whose queue to work (required), e.g. postgres:conninfo=${DATABASE_URL}",
      "PLUGIN[:K=V,...]" },
    { "concurrency", 'c', 0, G_OPTION_ARG_INT, &options.concurrency,
      "Runs at once, 1 to 1024 (default 4)", "N" },
    { "grace", 'g', 0, G_OPTION_ARG_INT, &options.grace_s,
      "On SIGTERM, seconds runs get to finish before they go back to the queue (default 30)",
      "S" },
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &options.plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &options.threads,
      "Worker threads for blocking agents (0: one per processor)", "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &options.quiet, "Print nothing but errors", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("--store PLUGIN[:K=V,...]");
  g_auto(GStrv) positional = NULL;
  int status;

  g_option_context_set_summary (context,
    "Take runs from a store's queue and run them, with this machine's plugins,\n"
    "until stopped: queued runs (weft run --enqueue, weft serve --enqueue) and\n"
    "runs whose worker died, resumed from their stored events.");
  g_option_context_set_description (context,
    "A run whose flow does not load here (a plugin this worker lacks) goes back\n"
    "to the queue with the reason, for another worker.  SIGTERM or SIGINT: no\n"
    "more runs are taken, those running get --grace seconds, then go back to\n"
    "the queue; a second signal gives them back at once.  A store that cannot\n"
    "be reached is tried again until it can.  See docs/scale-out.md.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status < 0)
    {
      if (positional[0] != NULL)
        status = weft_cli_usage_error ("worker", "unexpected argument '%s'", positional[0]);
      else if (options.store == NULL)
        status = weft_cli_usage_error ("worker", "--store is required: the store whose queue "
                                                 "to work");
      else if ((status = weft_cli_check_range ("worker", "--concurrency", options.concurrency,
                                               1, 1024)) < 0
               && (status = weft_cli_check_range ("worker", "--grace", options.grace_s, 0,
                                                  24 * 3600)) < 0
               && (status = weft_cli_check_range ("worker", "--threads", options.threads, 0,
                                                  WEFT_CLI_MAX_THREADS)) < 0)
        status = weft_cli_worker (&options);
    }
  g_free (options.store);
  g_strfreev (options.plugin_dirs);
  return status;
}
