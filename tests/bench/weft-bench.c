/* weft-bench.c — runs generated no-op flows through the real scheduler.
 *
 * Not a test: it is built with the rest of the tree (so that it keeps
 * compiling) but never registered with test(), and nothing here asserts a
 * timing.  Every task uses the built-in "noop" agent, which returns at once
 * on the engine loop, so what is measured is the scheduler, the engine's
 * inbox and the hand-off back to the caller — nothing else.
 *
 *   weft-bench [OPTION…] wide N       1 → N → 1: a root, N tasks that wait for
 *                                     it, a last task that waits for all N
 *   weft-bench [OPTION…] chain N      N tasks, each waiting for the one before
 *   weft-bench [OPTION…] layers L W   L layers of W tasks; task j of layer l
 *                                     waits for tasks j and (j+1)%W of layer
 *                                     l-1 (2 edges per task, not W: 100×100
 *                                     would otherwise be 1M edges)
 *   weft-bench [OPTION…] runs R       R concurrent runs of one 3-task chain,
 *                                     all kicked off at once with
 *                                     weft_flow_kickoff_async() from the main
 *                                     thread and counted on a GMainLoop
 *
 * Each flow is generated as JSON and loaded with weft_flow_load_data(); the
 * load and the run are timed separately.  The run time is the caller's wall
 * clock from kickoff until the result is back on the calling thread.  Every
 * workload kicks off with weft_flow_kickoff_async() and waits on a
 * GMainLoop, so that a stalled engine is reported after --timeout seconds
 * instead of hanging the benchmark.  Each measurement is repeated
 * (--repeat, default 5; a freshly loaded flow each time) and reported as
 * min and median.  Peak RSS is getrusage(RUSAGE_SELF).ru_maxrss: the
 * process-wide peak, so it includes the generated JSON, the loaded flow and
 * the engine — one workload per process keeps it meaningful.
 *
 * --store PATH measures the sqlite store too: each workload is measured
 * first as above, then again (same --repeat) with the sqlite callback
 * writing every event to PATH (a fresh file each time; PATH is removed
 * afterwards).  Reported: the run time with the store against without, the
 * time from kickoff until the flow's last unref has drained the store's
 * queue (every event committed), and events stored per second over that
 * time, counted in the file itself with the sqlite3 library.  --pg
 * CONNINFO does the same with the postgres store (its events counted by
 * the store: the last_seq of the runs it lists); with both, the two
 * stores' repetitions alternate, so that both see the same machine.
 *
 * Exits 1 when a flow fails to load, any run does not complete or the
 * engine stalls; 2 on bad arguments. */
#include "weft.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef enum {
  BENCH_WIDE,
  BENCH_CHAIN,
  BENCH_LAYERS,
  BENCH_RUNS,
} BenchKind;

typedef struct {
  BenchKind kind;
  const char *label;          /* "wide 100000" */
  guint a;                    /* N, or L */
  guint b;                    /* W for layers */
  guint n_tasks;              /* per run */
  guint64 n_edges;            /* per run */
  guint n_runs;               /* 1, or R */
} BenchSpec;

static gint opt_repeat = 5;
static gint opt_threads = 0;
static gboolean opt_json = FALSE;
static gboolean opt_no_header = FALSE;
static gint opt_timeout = 300;
static char *opt_store = NULL;
static char *opt_pg = NULL;

static const GOptionEntry bench_options[] = {
  { "repeat", 'r', 0, G_OPTION_ARG_INT, &opt_repeat, "Measure K times (default 5)", "K" },
  { "threads", 't', 0, G_OPTION_ARG_INT, &opt_threads,
    "Worker threads for weft_engine_new (default 0: weft picks)", "N" },
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "One JSON line per result, for scripts", NULL },
  { "no-header", 0, 0, G_OPTION_ARG_NONE, &opt_no_header, "Leave out the table header", NULL },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
    "Give up (exit 1) when a measurement is not back after S seconds (default 300)", "S" },
  { "store", 0, 0, G_OPTION_ARG_FILENAME, &opt_store,
    "Also measure with the sqlite store writing to PATH (removed afterwards)", "PATH" },
  { "pg", 0, 0, G_OPTION_ARG_STRING, &opt_pg,
    "Also measure with the postgres store writing to the database of CONNINFO", "CONNINFO" },
  G_OPTION_ENTRY_NULL
};

/* ---- generating flows ---------------------------------------------------- */

static void
bench_begin_flow (GString *s, const char *name)
{
  g_string_append_printf (s, "{\"name\": \"%s\", \"agents\": {\"n\": {\"plugin\": \"noop\"}}, "
                             "\"tasks\": [\n", name);
}

/* Opens task `i`; the caller adds its context (or none) and closes it. */
static void
bench_begin_task (GString *s, guint i)
{
  if (i > 0)
    g_string_append (s, ",\n");
  g_string_append_printf (s, "{\"name\": \"t%u\", \"agent\": \"n\", \"description\": \"x\"", i);
}

static void
bench_end_flow (GString *s)
{
  g_string_append (s, "\n]}\n");
}

/* root t0, middle t1..tN (each waits for t0), last tN+1 waits for t1..tN. */
static char *
bench_flow_wide (guint n)
{
  GString *s = g_string_sized_new ((gsize) n * 80 + 256);

  bench_begin_flow (s, "bench-wide");
  bench_begin_task (s, 0);
  g_string_append_c (s, '}');
  for (guint i = 1; i <= n; i++)
    {
      bench_begin_task (s, i);
      g_string_append (s, ", \"context\": [\"t0\"]}");
    }
  bench_begin_task (s, n + 1);
  g_string_append (s, ", \"context\": [");
  for (guint i = 1; i <= n; i++)
    g_string_append_printf (s, "%s\"t%u\"", i > 1 ? ", " : "", i);
  g_string_append (s, "]}");
  bench_end_flow (s);
  return g_string_free (s, FALSE);
}

static char *
bench_flow_chain (guint n, const char *name)
{
  GString *s = g_string_sized_new ((gsize) n * 80 + 256);

  bench_begin_flow (s, name);
  for (guint i = 0; i < n; i++)
    {
      bench_begin_task (s, i);
      if (i > 0)
        g_string_append_printf (s, ", \"context\": [\"t%u\"]", i - 1);
      g_string_append_c (s, '}');
    }
  bench_end_flow (s);
  return g_string_free (s, FALSE);
}

/* Task j of layer l is t(l*W + j); it waits for j and (j+1)%W of layer l-1
 * (just j when W is 1). */
static char *
bench_flow_layers (guint layers, guint width)
{
  GString *s = g_string_sized_new ((gsize) layers * width * 100 + 256);

  bench_begin_flow (s, "bench-layers");
  for (guint l = 0; l < layers; l++)
    for (guint j = 0; j < width; j++)
      {
        bench_begin_task (s, l * width + j);
        if (l > 0)
          {
            guint prev = (l - 1) * width;
            g_string_append_printf (s, ", \"context\": [\"t%u\"", prev + j);
            if (width > 1)
              g_string_append_printf (s, ", \"t%u\"", prev + (j + 1) % width);
            g_string_append_c (s, ']');
          }
        g_string_append_c (s, '}');
      }
  bench_end_flow (s);
  return g_string_free (s, FALSE);
}

static char *
bench_flow_json (const BenchSpec *spec)
{
  switch (spec->kind)
    {
    case BENCH_WIDE:
      return bench_flow_wide (spec->a);
    case BENCH_CHAIN:
      return bench_flow_chain (spec->a, "bench-chain");
    case BENCH_LAYERS:
      return bench_flow_layers (spec->a, spec->b);
    case BENCH_RUNS:
      return bench_flow_chain (3, "bench-runs");
    }
  g_assert_not_reached ();
}

/* ---- measuring ----------------------------------------------------------- */

static double
bench_peak_rss_mib (void)
{
  struct rusage ru;

  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double) ru.ru_maxrss / 1024.0;   /* ru_maxrss is in KiB on Linux */
}

static gint
bench_compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

typedef struct {
  gint64 min;
  gint64 median;
} BenchStat;

static BenchStat
bench_stat (GArray *samples)
{
  BenchStat st = { 0, 0 };
  guint n = samples->len;

  if (n == 0)
    return st;
  g_array_sort (samples, bench_compare_gint64);
  st.min = g_array_index (samples, gint64, 0);
  st.median = n % 2 ? g_array_index (samples, gint64, n / 2)
                    : (g_array_index (samples, gint64, n / 2 - 1)
                       + g_array_index (samples, gint64, n / 2)) / 2;
  return st;
}

/* Checks one finished run; prints why when it did not complete. */
static gboolean
bench_check_run (WeftRun *run, const BenchSpec *spec)
{
  if (weft_run_get_status (run) == WEFT_STATUS_COMPLETED)
    return TRUE;
  const GError *e = weft_run_get_error (run);
  g_printerr ("weft-bench: %s: run %s %s: %s\n", spec->label, weft_run_get_id (run),
              weft_status_to_string (weft_run_get_status (run)),
              e ? e->message : "no reason given");
  return FALSE;
}

typedef struct {
  const BenchSpec *spec;
  GMainLoop *loop;
  WeftFlow *flow;
  guint pending;
  guint failed;
  gboolean stalled;
  gint64 engine_us_max;       /* longest single run, engine side */
} BenchMany;

static void
bench_many_done (GObject *source, GAsyncResult *result, gpointer data)
{
  BenchMany *m = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff_finish (m->flow, result, &error);

  if (run == NULL)
    {
      g_printerr ("weft-bench: %s: kickoff failed: %s\n", m->spec->label, error->message);
      m->failed++;
    }
  else
    {
      if (!bench_check_run (run, m->spec))
        m->failed++;
      m->engine_us_max = MAX (m->engine_us_max, weft_run_get_duration_us (run));
    }
  if (--m->pending == 0)
    g_main_loop_quit (m->loop);
}

static gboolean
bench_many_stalled (gpointer data)
{
  BenchMany *m = data;

  m->stalled = TRUE;
  g_main_loop_quit (m->loop);
  return G_SOURCE_REMOVE;
}

/* Kicks off spec->n_runs runs of `flow` (one for every workload but "runs")
 * with weft_flow_kickoff_async() and waits for all of them on this thread's
 * default context.  Every kickoff is made before the loop spins, so they are
 * all in the engine's inbox at once.  *run_us is the wall time from the
 * first kickoff until the last result is back here; *engine_us the longest
 * run as the engine timed it (first task start to last task end). */
static gboolean
bench_run_many (WeftFlow *flow, const BenchSpec *spec, gint64 *run_us, gint64 *engine_us)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  BenchMany m = { spec, loop, flow, spec->n_runs, 0, FALSE, 0 };
  guint watchdog = g_timeout_add_seconds ((guint) opt_timeout, bench_many_stalled, &m);
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < spec->n_runs; i++)
    weft_flow_kickoff_async (flow, NULL, NULL, bench_many_done, &m);
  g_main_loop_run (loop);
  *run_us = g_get_monotonic_time () - t0;
  *engine_us = m.engine_us_max;
  if (m.stalled)
    {
      /* The engine still holds the runs: nothing can be cleaned up. */
      g_printerr ("weft-bench: %s: %u of %u run(s) still unfinished after %d s: "
                  "the engine stalled (a lost inbox wakeup?)\n",
                  spec->label, m.pending, spec->n_runs, opt_timeout);
      exit (1);
    }
  g_source_remove (watchdog);
  return m.failed == 0;
}

/* What one store did over the repetitions. */
typedef struct {
  const char *plugin;         /* "sqlite" or "postgres" */
  const char *where;          /* the path or the conninfo */
  BenchStat run;              /* kickoff until the result is back */
  BenchStat drained;          /* kickoff until every event is committed */
  gint64 events_per_run;      /* counted in the store */
} BenchStoreResult;

typedef struct {
  BenchStat run;
  BenchStat engine;
  BenchStat load;
  double rss_start_mib;
  double rss_peak_mib;
  gsize json_bytes;
  BenchStoreResult stores[2]; /* with --store, --pg */
  guint n_stores;
} BenchResult;

/* Removes the database and its WAL and shared-memory files. */
static void
bench_sqlite_remove (const char *path)
{
  const char *suffixes[] = { "", "-wal", "-shm", "-journal", "-claims" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (path, suffixes[i], NULL);
      g_remove (file);
    }
}

static JsonObject *
bench_store_options (const BenchStoreResult *store)
{
  JsonObject *options = json_object_new ();

  json_object_set_string_member (options, g_str_equal (store->plugin, "sqlite") ? "path"
                                                                                : "conninfo",
                                 store->where);
  return options;
}

static gboolean
bench_store_attach (WeftFlow *flow, const BenchStoreResult *store)
{
  g_autoptr(JsonObject) options = bench_store_options (store);
  g_autoptr(GError) error = NULL;

  if (g_str_equal (store->plugin, "sqlite"))
    bench_sqlite_remove (store->where);
  if (weft_flow_add_callback (flow, store->plugin, options, &error))
    return TRUE;
  g_printerr ("weft-bench: %s store: %s\n", store->plugin, error->message);
  return FALSE;
}

/* Events in the sqlite file, read independently of the plugin; -1 on
 * error. */
static gint64
bench_sqlite_count_events (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 n = -1;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
      && sqlite3_prepare_v2 (db, "SELECT count(*) FROM events", -1, &stmt, NULL) == SQLITE_OK
      && sqlite3_step (stmt) == SQLITE_ROW)
    n = sqlite3_column_int64 (stmt, 0);
  else
    g_printerr ("weft-bench: --store %s: cannot count events: %s\n", path,
                db ? sqlite3_errmsg (db) : "out of memory");
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n;
}

/* Events of the newest `n_runs` runs as the store tells them (their
 * last_seq: events are numbered 1..N without gaps); -1 on error. */
static gint64
bench_store_count_events (WeftEngine *engine, const BenchStoreResult *store, guint n_runs)
{
  g_autoptr(JsonObject) options = bench_store_options (store);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) reader = NULL;
  g_autoptr(JsonNode) runs = NULL;
  gint64 n = 0;

  if (g_str_equal (store->plugin, "sqlite"))
    return bench_sqlite_count_events (store->where);
  reader = weft_store_open (engine, store->plugin, options, &error);
  runs = reader ? weft_store_list_runs (reader, n_runs, &error) : NULL;
  if (runs == NULL)
    {
      g_printerr ("weft-bench: %s store: cannot count events: %s\n", store->plugin,
                  error->message);
      return -1;
    }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (runs)); i++)
    {
      g_autofree char *id = g_strdup (json_object_get_string_member (
        json_array_get_object_element (json_node_get_array (runs), i), "run_id"));
      g_autoptr(JsonNode) run = weft_store_get_run (reader, id, &error);
      if (run == NULL)
        return -1;
      n += json_object_get_int_member (json_node_get_object (run), "last_seq");
    }
  return n;
}

typedef struct {
  GArray *run;
  GArray *engine;
  GArray *load;
  GArray *drained;            /* kickoff until the last unref returned */
  gint64 events;              /* in the store after the last repetition */
} BenchSamples;

static void
bench_samples_init (BenchSamples *out)
{
  out->run = g_array_new (FALSE, FALSE, sizeof (gint64));
  out->engine = g_array_new (FALSE, FALSE, sizeof (gint64));
  out->load = g_array_new (FALSE, FALSE, sizeof (gint64));
  out->drained = g_array_new (FALSE, FALSE, sizeof (gint64));
}

/* Loads, runs and releases the flow once; with `store`, its callback is
 * attached and the release (which drains its queue) timed. */
static gboolean
bench_measure_once (WeftEngine *engine, const BenchSpec *spec, const char *json,
                    const BenchStoreResult *store, BenchSamples *out)
{
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, spec->label, &error);
  gint64 load_us = g_get_monotonic_time () - t0, run_us = 0, engine_us = 0;

  if (flow == NULL)
    {
      g_printerr ("weft-bench: %s\n", error->message);
      return FALSE;
    }
  g_assert (weft_flow_get_n_tasks (flow) == spec->n_tasks);
  if (store != NULL && !bench_store_attach (flow, store))
    {
      weft_flow_unref (flow);
      return FALSE;
    }
  gint64 kickoff = g_get_monotonic_time ();
  gboolean ok = bench_run_many (flow, spec, &run_us, &engine_us);
  weft_flow_unref (flow);
  gint64 drained_us = g_get_monotonic_time () - kickoff;

  g_array_append_val (out->load, load_us);
  g_array_append_val (out->run, run_us);
  g_array_append_val (out->engine, engine_us);
  g_array_append_val (out->drained, drained_us);
  if (store != NULL)
    out->events = bench_store_count_events (engine, store, spec->n_runs);
  return ok && out->events != -1;
}

static void
bench_samples_clear (BenchSamples *samples)
{
  g_clear_pointer (&samples->run, g_array_unref);
  g_clear_pointer (&samples->engine, g_array_unref);
  g_clear_pointer (&samples->load, g_array_unref);
  g_clear_pointer (&samples->drained, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BenchSamples, bench_samples_clear)

/* The stores' repetitions, alternating between them. */
static gboolean
bench_measure_stores (WeftEngine *engine, const BenchSpec *spec, const char *json,
                      BenchResult *res)
{
  BenchSamples stored[G_N_ELEMENTS (res->stores)] = { { 0 } };
  gboolean ok = TRUE;

  for (guint s = 0; s < res->n_stores; s++)
    bench_samples_init (&stored[s]);
  for (gint r = 0; r < opt_repeat && ok; r++)
    for (guint s = 0; s < res->n_stores && ok; s++)
      ok = bench_measure_once (engine, spec, json, &res->stores[s], &stored[s]);
  for (guint s = 0; s < res->n_stores; s++)
    {
      res->stores[s].run = bench_stat (stored[s].run);
      res->stores[s].drained = bench_stat (stored[s].drained);
      res->stores[s].events_per_run = stored[s].events;
      if (g_str_equal (res->stores[s].plugin, "sqlite"))
        bench_sqlite_remove (res->stores[s].where);
      bench_samples_clear (&stored[s]);
    }
  return ok;
}

static gboolean
bench_measure (WeftEngine *engine, const BenchSpec *spec, BenchResult *res)
{
  g_autofree char *json = bench_flow_json (spec);
  g_auto(BenchSamples) plain = { 0 };
  gboolean ok = TRUE;

  res->json_bytes = strlen (json);
  bench_samples_init (&plain);
  for (gint r = 0; r < opt_repeat && ok; r++)
    ok = bench_measure_once (engine, spec, json, NULL, &plain);
  res->run = bench_stat (plain.run);
  res->engine = bench_stat (plain.engine);
  res->load = bench_stat (plain.load);
  if (opt_store != NULL)
    res->stores[res->n_stores++] = (BenchStoreResult) { .plugin = "sqlite", .where = opt_store };
  if (opt_pg != NULL)
    res->stores[res->n_stores++] = (BenchStoreResult) { .plugin = "postgres", .where = opt_pg };
  if (ok && res->n_stores > 0)
    ok = bench_measure_stores (engine, spec, json, res);
  res->rss_peak_mib = bench_peak_rss_mib ();
  return ok;
}

/* ---- reporting ----------------------------------------------------------- */

static const char *const bench_kind_names[] = { "wide", "chain", "layers", "runs" };

static double
bench_ms (gint64 us)
{
  return (double) us / 1000.0;
}

static void
bench_print_table (const BenchSpec *spec, const BenchResult *res, guint64 total_tasks)
{
  double med_s = (double) res->run.median / G_USEC_PER_SEC;
  double tps = med_s > 0 ? (double) total_tasks / med_s : 0;

  if (!opt_no_header)
    {
      g_print ("%-16s %9s %9s %9s %12s %9s %9s %9s %9s %8s\n",
               "workload", "tasks", "run-min", "run-med", "tasks/s", "us/task", "load-min",
               "load-med", "eng-med", "peakRSS");
      g_print ("%-16s %9s %9s %9s %12s %9s %9s %9s %9s %8s\n",
               "", "(total)", "ms", "ms", "(median)", "(median)", "ms", "ms", "ms", "MiB");
    }
  g_print ("%-16s %9" G_GUINT64_FORMAT " %9.2f %9.2f %12.0f %9.3f %9.2f %9.2f %9.2f %8.1f\n",
           spec->label, total_tasks, bench_ms (res->run.min), bench_ms (res->run.median), tps,
           total_tasks ? (double) res->run.median / (double) total_tasks : 0,
           bench_ms (res->load.min), bench_ms (res->load.median), bench_ms (res->engine.median),
           res->rss_peak_mib);
}

static double
bench_ratio (gint64 a, gint64 b)
{
  return b > 0 ? (double) a / (double) b : 0;
}

static double
bench_events_per_s (const BenchStoreResult *store)
{
  return store->drained.median > 0
         ? (double) store->events_per_run * G_USEC_PER_SEC / (double) store->drained.median
         : 0;
}

static void
bench_print_store (const BenchResult *res, const BenchStoreResult *store)
{
  g_print ("  with %s store: %" G_GINT64_FORMAT " events stored per run; "
           "%.0f events/s stored (median, kickoff to last commit)\n",
           store->plugin, store->events_per_run, bench_events_per_s (store));
  g_print ("  run-med %.2f ms with the store vs %.2f ms without (x%.2f); "
           "kickoff to all events committed %.2f ms median (x%.2f of the run without)\n",
           bench_ms (store->run.median), bench_ms (res->run.median),
           bench_ratio (store->run.median, res->run.median),
           bench_ms (store->drained.median),
           bench_ratio (store->drained.median, res->run.median));
}

static void
bench_print_json (const BenchSpec *spec, const BenchResult *res, guint64 total_tasks,
                  gboolean ok)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  struct { const char *name; double value; } nums[] = {
    { "run_ms_min", bench_ms (res->run.min) },
    { "run_ms_median", bench_ms (res->run.median) },
    { "engine_ms_min", bench_ms (res->engine.min) },
    { "engine_ms_median", bench_ms (res->engine.median) },
    { "load_ms_min", bench_ms (res->load.min) },
    { "load_ms_median", bench_ms (res->load.median) },
    { "tasks_per_s_median", res->run.median > 0
        ? (double) total_tasks * G_USEC_PER_SEC / (double) res->run.median : 0 },
    { "tasks_per_s_best", res->run.min > 0
        ? (double) total_tasks * G_USEC_PER_SEC / (double) res->run.min : 0 },
    { "us_per_task_min", total_tasks ? (double) res->run.min / (double) total_tasks : 0 },
    { "us_per_task_median", total_tasks ? (double) res->run.median / (double) total_tasks : 0 },
    { "peak_rss_mib", res->rss_peak_mib },
    { "start_rss_mib", res->rss_start_mib },
  };

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "workload");
  json_builder_add_string_value (b, bench_kind_names[spec->kind]);
  json_builder_set_member_name (b, "label");
  json_builder_add_string_value (b, spec->label);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, ok);
  json_builder_set_member_name (b, "tasks_per_run");
  json_builder_add_int_value (b, spec->n_tasks);
  json_builder_set_member_name (b, "edges_per_run");
  json_builder_add_int_value (b, (gint64) spec->n_edges);
  json_builder_set_member_name (b, "runs");
  json_builder_add_int_value (b, spec->n_runs);
  json_builder_set_member_name (b, "tasks");
  json_builder_add_int_value (b, (gint64) total_tasks);
  json_builder_set_member_name (b, "repeat");
  json_builder_add_int_value (b, opt_repeat);
  json_builder_set_member_name (b, "threads");
  json_builder_add_int_value (b, opt_threads);
  json_builder_set_member_name (b, "json_bytes");
  json_builder_add_int_value (b, (gint64) res->json_bytes);
  for (guint i = 0; i < G_N_ELEMENTS (nums); i++)
    {
      json_builder_set_member_name (b, nums[i].name);
      json_builder_add_double_value (b, nums[i].value);
    }
  /* store_* for --store (sqlite), pg_* for --pg. */
  for (guint s = 0; s < res->n_stores; s++)
    {
      const BenchStoreResult *store = &res->stores[s];
      const char *prefix = g_str_equal (store->plugin, "sqlite") ? "store" : "pg";
      struct { const char *name; double value; } figures[] = {
        { "run_ms_median", bench_ms (store->run.median) },
        { "drained_ms_median", bench_ms (store->drained.median) },
        { "events_per_run", (double) store->events_per_run },
        { "events_per_s_median", bench_events_per_s (store) },
      };
      for (guint i = 0; i < G_N_ELEMENTS (figures); i++)
        {
          g_autofree char *name = g_strdup_printf ("%s_%s", prefix, figures[i].name);
          json_builder_set_member_name (b, name);
          json_builder_add_double_value (b, figures[i].value);
        }
    }
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  g_print ("%s\n", text);
}

/* ---- arguments ----------------------------------------------------------- */

static gboolean
bench_parse_count (const char *text, guint min, guint max, guint *out)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (text, 10, min, max, &v, NULL))
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

/* Fills `spec` from the positional arguments; FALSE with a message when
 * they do not make sense. */
static gboolean
bench_parse_spec (int argc, char **argv, BenchSpec *spec, char **label, GError **error)
{
  const guint max = 10000000;

  if (argc < 2)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "missing workload");
      return FALSE;
    }
  const char *what = argv[1];
  guint want = g_str_equal (what, "layers") ? 2 : 1;
  if (argc != (int) want + 2)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "\"%s\" takes %u number%s", what, want, want > 1 ? "s" : "");
      return FALSE;
    }
  if (!bench_parse_count (argv[2], 1, max, &spec->a)
      || (want == 2 && !bench_parse_count (argv[3], 1, max, &spec->b)))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "counts must be whole numbers from 1 to %u", max);
      return FALSE;
    }

  spec->n_runs = 1;
  if (g_str_equal (what, "wide"))
    {
      spec->kind = BENCH_WIDE;
      spec->n_tasks = spec->a + 2;
      spec->n_edges = 2 * (guint64) spec->a;
      *label = g_strdup_printf ("wide %u", spec->a);
    }
  else if (g_str_equal (what, "chain"))
    {
      spec->kind = BENCH_CHAIN;
      spec->n_tasks = spec->a;
      spec->n_edges = spec->a - 1;
      *label = g_strdup_printf ("chain %u", spec->a);
    }
  else if (g_str_equal (what, "layers"))
    {
      if ((guint64) spec->a * spec->b > max)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "layers × width must be at most %u", max);
          return FALSE;
        }
      spec->kind = BENCH_LAYERS;
      spec->n_tasks = spec->a * spec->b;
      spec->n_edges = (guint64) (spec->a - 1) * spec->b * (spec->b > 1 ? 2 : 1);
      *label = g_strdup_printf ("layers %ux%u", spec->a, spec->b);
    }
  else if (g_str_equal (what, "runs"))
    {
      spec->kind = BENCH_RUNS;
      spec->n_runs = spec->a;
      spec->n_tasks = 3;
      spec->n_edges = 2;
      *label = g_strdup_printf ("runs %u", spec->a);
    }
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "unknown workload \"%s\" (wide, chain, layers, runs)", what);
      return FALSE;
    }
  spec->label = *label;
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new ("wide N | chain N | layers L W | runs R");
  g_autoptr(GError) error = NULL;
  g_autofree char *label = NULL;
  BenchSpec spec = { 0 };
  BenchResult res = { 0 };

  g_option_context_add_main_entries (ctx, bench_options, NULL);
  g_option_context_set_summary (ctx,
    "Runs generated flows of no-op tasks through weft's scheduler and reports\n"
    "the run time (kickoff until the result is back; min and median over\n"
    "--repeat runs, a freshly loaded flow each time), the load time, and the\n"
    "process-wide peak RSS.  In \"layers\", task j of layer l waits for tasks\n"
    "j and (j+1)%W of layer l-1: 2 edges per task, not W.");
  if (!g_option_context_parse (ctx, &argc, &argv, &error)
      || !bench_parse_spec (argc, argv, &spec, &label, &error))
    {
      g_printerr ("weft-bench: %s\n(see weft-bench --help)\n", error->message);
      return 2;
    }
  if (opt_repeat < 1 || opt_threads < 0 || opt_timeout < 1)
    {
      g_printerr ("weft-bench: --repeat and --timeout must be at least 1, "
                  "--threads not negative\n");
      return 2;
    }

  g_autoptr(WeftEngine) engine = weft_engine_new ((guint) opt_threads);
  /* The stores are plugins: only --store and --pg need them loaded. */
  if ((opt_store != NULL || opt_pg != NULL)
      && !weft_engine_load_plugins (engine, NULL, NULL, &error))
    {
      g_printerr ("weft-bench: loading plugins: %s\n", error->message);
      return 1;
    }
  res.rss_start_mib = bench_peak_rss_mib ();
  gboolean ok = bench_measure (engine, &spec, &res);
  guint64 total_tasks = (guint64) spec.n_tasks * spec.n_runs;

  if (res.run.min > 0 || ok)
    {
      if (opt_json)
        bench_print_json (&spec, &res, total_tasks, ok);
      else
        bench_print_table (&spec, &res, total_tasks);
      for (guint i = 0; i < res.n_stores && !opt_json; i++)
        bench_print_store (&res, &res.stores[i]);
    }
  return ok ? 0 : 1;
}
