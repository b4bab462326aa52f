/* weft-bench-queue.c — a batch drained by `weft worker`s through a
 * postgres store's queue, on a throwaway cluster of its own
 * (tests/weft-test-pg.c; durable: fsync and synchronous commits on).
 *
 * Not a test: nothing here asserts a timing.  For each number of workers
 * (--workers, default 1,2,3), a fresh database gets --runs queued runs of a
 * one-task flow of the built-in noop agent (`weft run --enqueue
 * --inputs-file`, timed too), then that many `weft worker` processes drain
 * it.  Reported per configuration, the medians over --repeat (the order of
 * the configurations alternates between repetitions):
 *
 *   runs/s          runs completed per second, workers started to last run
 *                   stored
 *   db xacts/run    transactions the database committed per run
 *                   (pg_stat_database, read after the workers left)
 *   db cpu/run      the server's CPU time per run: the postmaster and its
 *                   children, living (/proc) and gone (its cutime)
 *   worker cpu/run  the workers' CPU time per run (getrusage of children)
 *
 * With --events N, it then runs `weft-bench --store PATH --pg CONNINFO
 * wide N` on the same cluster: events per second stored by sqlite and by
 * postgres, measured alternately.
 *
 * On a machine of few cores, the workers, the server and this program
 * share them: more workers show the overhead of sharing, not a speed-up.
 */
#include "weft-test-pg.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static gint opt_runs = 10000;
static gint opt_concurrency = 16;
static gint opt_repeat = 1;
static gint opt_events = 0;
static char *opt_workers = NULL;

static const GOptionEntry bench_options[] = {
  { "runs", 'n', 0, G_OPTION_ARG_INT, &opt_runs, "Runs queued per configuration (10000)", "N" },
  { "workers", 'w', 0, G_OPTION_ARG_STRING, &opt_workers,
    "Numbers of workers to measure (1,2,3)", "A,B,..." },
  { "concurrency", 'c', 0, G_OPTION_ARG_INT, &opt_concurrency,
    "Each worker's --concurrency (16)", "C" },
  { "repeat", 'r', 0, G_OPTION_ARG_INT, &opt_repeat, "Measure K times (1)", "K" },
  { "events", 'e', 0, G_OPTION_ARG_INT, &opt_events,
    "Then events/s of sqlite and postgres with weft-bench wide N (0: not)", "N" },
  G_OPTION_ENTRY_NULL
};

typedef struct {
  guint workers;
  GArray *runs_per_s;         /* double */
  GArray *xacts_per_run;
  GArray *db_cpu_us_per_run;
  GArray *worker_cpu_us_per_run;
  GArray *enqueue_s;
} BenchConfig;

/* ---- what the server and the workers spent -------------------------------------- */

static double
bench_ticks_us (guint64 ticks)
{
  return (double) ticks * G_USEC_PER_SEC / (double) sysconf (_SC_CLK_TCK);
}

/* utime + stime of `pid` (with its reaped children's when `reaped`). */
static guint64
bench_proc_ticks (GPid pid, gboolean reaped)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *stat = NULL;
  guint64 utime = 0, stime = 0, cutime = 0, cstime = 0;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return 0;
  /* After "PID (COMM) ": state is field 3, utime 14 ... cstime 17. */
  const char *after = strrchr (stat, ')');
  if (after == NULL
      || sscanf (after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %" G_GUINT64_FORMAT
                 " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
                 &utime, &stime, &cutime, &cstime) != 4)
    return 0;
  return utime + stime + (reaped ? cutime + cstime : 0);
}

static GPid
bench_parent (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *stat = NULL;
  int ppid = 0;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return 0;
  const char *after = strrchr (stat, ')');
  if (after == NULL || sscanf (after + 2, "%*c %d", &ppid) != 1)
    return 0;
  return ppid;
}

/* The server's CPU time: the postmaster, the backends it has reaped, and
 * the processes that live. */
static double
bench_server_cpu_us (WeftTestPg *pg)
{
  GPid postmaster = weft_test_pg_server_pid (pg);
  guint64 ticks = bench_proc_ticks (postmaster, TRUE);
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (proc)) != NULL)
    if (g_ascii_isdigit (name[0]) && bench_parent (name) == postmaster)
      ticks += bench_proc_ticks (atoi (name), FALSE);
  return bench_ticks_us (ticks);
}

static double
bench_children_cpu_us (void)
{
  struct rusage ru;

  getrusage (RUSAGE_CHILDREN, &ru);
  return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * G_USEC_PER_SEC
         + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static gint64
bench_query_int (PGconn *conn, const char *sql)
{
  PGresult *result = PQexec (conn, sql);
  gint64 n = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) > 0
             ? g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10) : -1;

  if (n < 0)
    g_printerr ("weft-bench-queue: %s: %s\n", sql, PQerrorMessage (conn));
  PQclear (result);
  return n;
}

/* ---- one measurement ---------------------------------------------------------------- */

static char *
bench_build (const char *what)
{
  return g_build_filename (g_getenv ("WEFT_BUILD_ROOT") ? g_getenv ("WEFT_BUILD_ROOT") : ".",
                           what, NULL);
}

/* A one-task noop flow and one inputs line per run. */
static void
bench_write_batch (const char *dir, char **flow, char **inputs)
{
  g_autoptr(GString) lines = g_string_sized_new ((gsize) opt_runs * 16);

  *flow = g_build_filename (dir, "noop.json", NULL);
  *inputs = g_build_filename (dir, "inputs.jsonl", NULL);
  g_file_set_contents (*flow, "{\"name\": \"noop\", \"agents\": {\"n\": {\"plugin\": \"noop\"}},"
                       " \"tasks\": [{\"name\": \"a\", \"agent\": \"n\", \"description\":"
                       " \"run {n}\"}]}", -1, NULL);
  for (gint i = 0; i < opt_runs; i++)
    g_string_append_printf (lines, "{\"n\": \"%d\"}\n", i);
  g_file_set_contents (*inputs, lines->str, (gssize) lines->len, NULL);
}

static gboolean
bench_spawn_wait (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
                                                   &error);

  if (proc == NULL || !g_subprocess_wait_check (proc, NULL, &error))
    {
      g_printerr ("weft-bench-queue: %s: %s\n", argv[1], error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
bench_measure_once (WeftTestPg *pg, const char *dir, BenchConfig *config, guint rep)
{
  g_autofree char *weft = bench_build ("cli/weft");
  g_autofree char *name = g_strdup_printf ("queue_%u_%u", config->workers, rep);
  g_autofree char *conninfo = weft_test_pg_new_database (pg, name);
  g_autofree char *spec = g_strdup_printf ("postgres:conninfo=%s", conninfo);
  g_autofree char *flow = NULL, *inputs = NULL;
  g_autoptr(GPtrArray) workers = g_ptr_array_new_with_free_func (g_object_unref);
  PGconn *conn = weft_test_pg_connect (pg, name);
  g_autofree char *concurrency = g_strdup_printf ("%d", opt_concurrency);

  bench_write_batch (dir, &flow, &inputs);
  gint64 t0 = g_get_monotonic_time ();
  const char *enqueue[] = { weft, "run", flow, "--enqueue", "--store", spec, "--inputs-file",
                            inputs, "--quiet", NULL };
  if (!bench_spawn_wait (enqueue))
    return FALSE;
  double enqueue_s = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  g_autofree char *xact_sql = g_strdup_printf (
    "SELECT xact_commit FROM pg_stat_database WHERE datname = '%s'", name);
  /* The counters of sessions that ended are in once their stats are. */
  g_usleep (1500 * 1000);
  gint64 xacts = bench_query_int (conn, xact_sql);
  double server_cpu = bench_server_cpu_us (pg), worker_cpu = bench_children_cpu_us ();

  t0 = g_get_monotonic_time ();
  for (guint w = 0; w < config->workers; w++)
    {
      const char *argv[] = { weft, "worker", "--store", spec, "--concurrency", concurrency,
                             "--quiet", NULL };
      g_autoptr(GError) error = NULL;
      g_ptr_array_add (workers, g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error));
      g_assert_no_error (error);
    }
  while (bench_query_int (conn, "SELECT count(*) FROM run_rows WHERE status = 'completed'")
         < opt_runs)
    g_usleep (20 * 1000);
  double drain_s = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  for (guint w = 0; w < workers->len; w++)
    {
      g_subprocess_send_signal (workers->pdata[w], SIGTERM);
      g_subprocess_wait (workers->pdata[w], NULL, NULL);
    }
  g_usleep (1500 * 1000);
  double runs = opt_runs, value;
  value = runs / drain_s;
  g_array_append_val (config->runs_per_s, value);
  value = (double) (bench_query_int (conn, xact_sql) - xacts) / runs;
  g_array_append_val (config->xacts_per_run, value);
  value = (bench_server_cpu_us (pg) - server_cpu) / runs;
  g_array_append_val (config->db_cpu_us_per_run, value);
  value = (bench_children_cpu_us () - worker_cpu) / runs;
  g_array_append_val (config->worker_cpu_us_per_run, value);
  g_array_append_val (config->enqueue_s, enqueue_s);
  PQfinish (conn);
  return TRUE;
}

/* ---- reporting --------------------------------------------------------------------- */

static gint
bench_compare (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
bench_median (GArray *samples)
{
  g_array_sort (samples, bench_compare);
  return samples->len ? g_array_index (samples, double, samples->len / 2) : 0;
}

static void
bench_print (BenchConfig *configs, guint n)
{
  g_print ("%-8s %10s %12s %14s %18s %11s\n", "workers", "runs/s", "db xacts/run",
           "db cpu us/run", "worker cpu us/run", "enqueue s");
  for (guint i = 0; i < n; i++)
    g_print ("%-8u %10.0f %12.2f %14.0f %18.0f %11.2f\n", configs[i].workers,
             bench_median (configs[i].runs_per_s), bench_median (configs[i].xacts_per_run),
             bench_median (configs[i].db_cpu_us_per_run),
             bench_median (configs[i].worker_cpu_us_per_run),
             bench_median (configs[i].enqueue_s));
}

/* weft-bench's sqlite and postgres stores, on this cluster. */
static gboolean
bench_events (WeftTestPg *pg, const char *dir)
{
  g_autofree char *bench = bench_build ("tests/bench/weft-bench");
  g_autofree char *conninfo = weft_test_pg_new_database (pg, "events");
  g_autofree char *path = g_build_filename (dir, "events.db", NULL);
  g_autofree char *n = g_strdup_printf ("%d", opt_events);
  g_autofree char *repeat = g_strdup_printf ("%d", MAX (opt_repeat, 5));
  const char *argv[] = { bench, "--store", path, "--pg", conninfo, "--repeat", repeat, "wide",
                         n, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error);

  return proc != NULL && g_subprocess_wait_check (proc, NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new ("");
  g_autoptr(GError) error = NULL;
  g_autofree char *why = NULL;

  g_option_context_add_main_entries (ctx, bench_options, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || opt_runs < 1 || opt_repeat < 1
      || opt_concurrency < 1)
    {
      g_printerr ("weft-bench-queue: %s\n", error ? error->message : "bad counts");
      return 2;
    }
  g_auto(GStrv) counts = g_strsplit (opt_workers ? opt_workers : "1,2,3", ",", -1);
  guint n = g_strv_length (counts);
  g_autofree BenchConfig *configs = g_new0 (BenchConfig, n);
  for (guint i = 0; i < n; i++)
    {
      configs[i].workers = (guint) MAX (1, atoi (counts[i]));
      configs[i].runs_per_s = g_array_new (FALSE, FALSE, sizeof (double));
      configs[i].xacts_per_run = g_array_new (FALSE, FALSE, sizeof (double));
      configs[i].db_cpu_us_per_run = g_array_new (FALSE, FALSE, sizeof (double));
      configs[i].worker_cpu_us_per_run = g_array_new (FALSE, FALSE, sizeof (double));
      configs[i].enqueue_s = g_array_new (FALSE, FALSE, sizeof (double));
    }
  g_setenv ("WEFT_TEST_PG_DURABLE", "1", TRUE);
  WeftTestPg *pg = weft_test_pg_start (&why);
  if (pg == NULL)
    {
      g_printerr ("weft-bench-queue: %s\n", why);
      return 77;
    }
  g_autofree char *dir = g_dir_make_tmp ("weft-bench-queue-XXXXXX", NULL);
  gboolean ok = TRUE;

  g_print ("weft-bench-queue: %d runs of a one-task noop flow, --concurrency %d, %ld CPU(s)\n",
           opt_runs, opt_concurrency, sysconf (_SC_NPROCESSORS_ONLN));
  for (gint rep = 0; rep < opt_repeat && ok; rep++)
    for (guint k = 0; k < n && ok; k++)
      {
        /* Every other repetition the other way round. */
        guint i = rep % 2 == 0 ? k : n - 1 - k;
        ok = bench_measure_once (pg, dir, &configs[i], (guint) rep);
      }
  if (ok)
    bench_print (configs, n);
  if (ok && opt_events > 0)
    ok = bench_events (pg, dir);
  weft_test_pg_stop (pg);
  for (guint i = 0; i < n; i++)
    {
      g_array_unref (configs[i].runs_per_s);
      g_array_unref (configs[i].xacts_per_run);
      g_array_unref (configs[i].db_cpu_us_per_run);
      g_array_unref (configs[i].worker_cpu_us_per_run);
      g_array_unref (configs[i].enqueue_s);
    }
  g_autofree char *flow = g_build_filename (dir, "noop.json", NULL);
  g_autofree char *inputs = g_build_filename (dir, "inputs.jsonl", NULL);
  g_remove (flow);
  g_remove (inputs);
  g_rmdir (dir);
  return ok ? 0 : 1;
}
