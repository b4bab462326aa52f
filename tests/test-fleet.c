/* test-fleet.c — `weft worker` processes sharing a postgres store's queue
 * (docs/scale-out.md), on a throwaway cluster (weft-test-pg.h; skipped,
 * with what to install, without PostgreSQL).
 *
 * The main test queues 300 runs of a flow of slow exec tasks that log each
 * execution (which run, which task, the worker's pid, start and end) and
 * starts three workers; partway through one worker dies as a host would,
 * kill -9 with its children.  Then, from the store's events and the log:
 * every run completed exactly once; no task ran again after its
 * completion was stored; no run has two events that tell one thing (two
 * starts of one attempt, two ends of one task, a second run end); and no
 * run was ever run by two workers at once (no two workers' executions of
 * one run overlap, and each run's story is one sequence).  Other tests:
 * a run whose flow needs a plugin a worker lacks is handed back with the
 * reason and run by one that has it; SIGTERM hands back what runs, for
 * another worker to finish; `weft workers` lists the live ones.
 */
#include "weft-test.h"
#include "weft-test-pg.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <stdlib.h>

static WeftTestPg *cluster;

typedef struct {
  char *dir;
  char *weft;
  char *plugin_dir;
  char *database;
  char *spec;                 /* postgres:conninfo=... */
  char *log;                  /* the executions' log */
  PGconn *db;
  GPtrArray *workers;         /* GSubprocess */
  char *out;
  char *err;
} Fixture;

#define N_RUNS 300

/* ---- fixture -------------------------------------------------------------------- */

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  static guint databases;
  g_autoptr(GError) error = NULL;
  const char *build_root = g_getenv ("WEFT_BUILD_ROOT");

  if (cluster == NULL)
    {
      g_test_skip ("PostgreSQL is not installed (apt-get install postgresql libpq-dev)");
      return;
    }
  f->dir = g_dir_make_tmp ("weft-test-fleet-XXXXXX", &error);
  g_assert_no_error (error);
  f->weft = g_build_filename (build_root, "cli", "weft", NULL);
  f->plugin_dir = g_build_filename (build_root, "plugins", NULL);
  f->log = g_build_filename (f->dir, "executions", NULL);
  f->database = g_strdup_printf ("fleet_%u_%u", (guint) getpid (), ++databases);
  g_autofree char *conninfo = weft_test_pg_new_database (cluster, f->database);
  f->spec = g_strdup_printf ("postgres:conninfo=%s", conninfo);
  f->workers = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  for (guint i = 0; i < f->workers->len; i++)
    {
      GSubprocess *proc = f->workers->pdata[i];
      g_subprocess_force_exit (proc);
      g_subprocess_wait (proc, NULL, NULL);
    }
  g_ptr_array_unref (f->workers);
  g_clear_pointer (&f->db, PQfinish);
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->weft);
  g_free (f->plugin_dir);
  g_free (f->database);
  g_free (f->spec);
  g_free (f->log);
  g_free (f->out);
  g_free (f->err);
}

/* ---- weft ---------------------------------------------------------------------- */

static int
run_weft (Fixture *f, const char *const *args)
{
  g_auto(GStrv) argv = weft_test_weft_argv (f->weft, f->plugin_dir, args);

  return weft_test_run_command ((const char * const *) argv, &f->out, &f->err);
}

/* `weft worker` with `extra` arguments, its stderr in the test's
 * directory (shown when the test fails). */
static GSubprocess *
start_worker (Fixture *f, const char *const *extra)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *log = g_strdup_printf ("%s/worker-%u.log", f->dir, f->workers->len);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE);

  g_strv_builder_add_many (builder, f->weft, "worker", "--store", f->spec, NULL);
  for (guint i = 0; extra && extra[i]; i++)
    g_strv_builder_add (builder, extra[i]);
  g_auto(GStrv) argv = g_strv_builder_end (builder);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv,
                                                    &error);
  g_assert_no_error (error);
  g_ptr_array_add (f->workers, proc);
  return proc;
}

static char *
worker_log (Fixture *f, guint i)
{
  g_autofree char *path = g_strdup_printf ("%s/worker-%u.log", f->dir, i);
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, NULL);
  return text ? text : g_strdup ("");
}

/* Stops a worker with SIGTERM; it must exit 0. */
static void
stop_worker (GSubprocess *proc)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (proc, SIGTERM);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_test_exit_status (proc), ==, 0);
}

static gint64
count (Fixture *f, const char *sql)
{
  if (f->db == NULL)
    f->db = weft_test_pg_connect (cluster, f->database);
  return weft_test_pg_query_int (f->db, sql);
}

/* Polls `sql` (a count) until it reaches `want`, up to 120 s. */
static void
wait_for_count (Fixture *f, const char *sql, gint64 want)
{
  gint64 got = -1;

  for (guint i = 0; i < 2400; i++)
    {
      got = count (f, sql);
      if (got >= want)
        return;
      g_usleep (50 * 1000);
    }
  for (guint w = 0; w < f->workers->len; w++)
    {
      g_autofree char *text = worker_log (f, w);
      g_test_message ("worker %u:\n%s", w, text);
    }
  g_error ("%s: %" G_GINT64_FORMAT ", not %" G_GINT64_FORMAT " after 120 s", sql, got, want);
}

/* ---- the flow ------------------------------------------------------------------- */

/* a → b → c: each logs "N TASK PID start NS", sleeps, logs the end.  $PPID
 * is the worker (the exec agent runs sh itself). */
static char *
write_slow_flow (Fixture *f, const char *sleep)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (f->dir, "slow.json", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"slow\", \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"sh\", \"-c\","
    "   \"read t n rest; echo $n $t $PPID start $(date +%%s%%N) >> %s; sleep %s;"
    "    echo $n $t $PPID end $(date +%%s%%N) >> %s; echo $t-$n\"]}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"x\", \"description\": \"a {n}\"},"
    "   {\"name\": \"b\", \"agent\": \"x\", \"description\": \"b {n}\", \"context\": [\"a\"]},"
    "   {\"name\": \"c\", \"agent\": \"x\", \"description\": \"c {n}\", \"context\": [\"b\"]}]}",
    f->log, sleep, f->log);

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  return path;
}

/* Queues one run per n in [1, n_runs]. */
static void
enqueue (Fixture *f, const char *flow, guint n_runs, const char *const *extra)
{
  g_autofree char *inputs = g_build_filename (f->dir, "inputs.jsonl", NULL);
  g_autoptr(GString) lines = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GStrvBuilder) args = g_strv_builder_new ();

  for (guint n = 1; n <= n_runs; n++)
    g_string_append_printf (lines, "{\"n\": \"%u\"}\n", n);
  g_file_set_contents (inputs, lines->str, -1, &error);
  g_assert_no_error (error);
  g_strv_builder_add_many (args, "run", flow, "--enqueue", "--store", f->spec, "--inputs-file",
                           inputs, "--quiet", NULL);
  for (guint i = 0; extra && extra[i]; i++)
    g_strv_builder_add (args, extra[i]);
  g_auto(GStrv) argv = g_strv_builder_end (args);
  g_assert_cmpint (run_weft (f, (const char * const *) argv), ==, 0);
  g_auto(GStrv) ids = g_strsplit (g_strstrip (f->out), "\n", -1);
  g_assert_cmpuint (g_strv_length (ids), ==, n_runs);
}

/* ---- the dead host ---------------------------------------------------------------- */

/* Every process whose parent is `pid`. */
static GArray *
children_of (GPid pid)
{
  GArray *children = g_array_new (FALSE, FALSE, sizeof (GPid));
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/stat", name);
      g_autofree char *stat = NULL;
      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
        continue;
      /* "PID (COMM) STATE PPID ...": COMM may hold spaces, not ")". */
      const char *after = strrchr (stat, ')');
      int ppid = 0;
      if (after != NULL && sscanf (after + 2, "%*c %d", &ppid) == 1 && ppid == pid)
        {
          GPid child = atoi (name);
          g_array_append_val (children, child);
        }
    }
  return children;
}

/* As a host dying would: the worker (stopped already) and what it runs
 * (each command in a process group of its own) all at once. */
static void
kill_host (GSubprocess *worker)
{
  GPid pid = atoi (g_subprocess_get_identifier (worker));
  g_autoptr(GArray) children = children_of (pid);
  for (guint i = 0; i < children->len; i++)
    kill (-g_array_index (children, GPid, i), SIGKILL);
  g_subprocess_send_signal (worker, SIGKILL);
  g_subprocess_wait (worker, NULL, NULL);
}

/* ---- checking what happened ------------------------------------------------------------ */

typedef struct {
  guint pid;
  gint64 start_us;
  gint64 end_us;              /* 0: cut short */
} Execution;

/* "N TASK" → GArray of Execution, from the log. */
static GHashTable *
read_executions (Fixture *f)
{
  GHashTable *all = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_array_unref);
  g_autofree char *text = NULL;

  g_assert_true (g_file_get_contents (f->log, &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) w = g_strsplit (lines[i], " ", -1);
      if (g_strv_length (w) != 5)
        continue;
      g_autofree char *key = g_strdup_printf ("%s %s", w[0], w[1]);
      GArray *runs = g_hash_table_lookup (all, key);
      guint pid = (guint) atoi (w[2]);
      gint64 us = g_ascii_strtoll (w[4], NULL, 10) / 1000;
      if (runs == NULL)
        {
          runs = g_array_new (FALSE, TRUE, sizeof (Execution));
          g_hash_table_insert (all, g_steal_pointer (&key), runs);
        }
      if (g_str_equal (w[3], "start"))
        {
          Execution e = { pid, us, 0 };
          g_array_append_val (runs, e);
          continue;
        }
      /* The end of this worker's last start of it. */
      for (guint k = runs->len; k-- > 0;)
        if (g_array_index (runs, Execution, k).pid == pid)
          {
            g_array_index (runs, Execution, k).end_us = us;
            break;
          }
    }
  return all;
}

/* What one run's stored events tell, checked as they are read. */
typedef struct {
  guint run_ends;
  guint starts;               /* run.started */
  GArray *holds;              /* wall_us of run.started and each run.resumed: a
                               * worker taking the run */
  GHashTable *attempts;       /* task → last attempt started (GUINT) */
  GHashTable *completed_us;   /* task → wall_us of its task.completed (gint64 *) */
} Story;

static void
story_clear (Story *s)
{
  g_clear_pointer (&s->attempts, g_hash_table_unref);
  g_clear_pointer (&s->completed_us, g_hash_table_unref);
  g_clear_pointer (&s->holds, g_array_unref);
  s->run_ends = s->starts = 0;
}

/* One event of a run's story, in seq order: an attempt starts once and
 * after the last, a task ends once, nothing comes after the run's end. */
static void
story_add (Story *s, const char *run_id, JsonObject *event)
{
  const char *type = json_object_get_string_member (event, "type");
  const char *task = json_object_get_string_member_with_default (event, "task", NULL);
  guint attempt = (guint) json_object_get_int_member_with_default (event, "attempt", 0);

  if (s->run_ends > 0)
    g_error ("run %s: %s after its end", run_id, type);
  if (g_str_equal (type, "run.started") || g_str_equal (type, "run.resumed"))
    {
      gint64 wall = json_object_get_int_member (event, "wall_us");
      g_array_append_val (s->holds, wall);
      s->starts += g_str_equal (type, "run.started");
    }
  else if (g_str_has_prefix (type, "run."))
    s->run_ends++;
  else if (g_str_equal (type, "task.started"))
    {
      guint last = GPOINTER_TO_UINT (g_hash_table_lookup (s->attempts, task));
      if (attempt <= last)
        g_error ("run %s: task %s attempt %u started after attempt %u", run_id, task, attempt,
                 last);
      g_hash_table_insert (s->attempts, g_strdup (task), GUINT_TO_POINTER (attempt));
    }
  else if (g_str_equal (type, "task.completed"))
    {
      if (g_hash_table_contains (s->completed_us, task))
        g_error ("run %s: task %s completed twice", run_id, task);
      gint64 *wall = g_new (gint64, 1);
      *wall = json_object_get_int_member (event, "wall_us");
      g_hash_table_insert (s->completed_us, g_strdup (task), wall);
    }
  else if (!g_str_equal (type, "task.step"))
    g_error ("run %s: unexpected %s", run_id, type);
}

/* The run's executions: none began after the task's completion was
 * stored, and no two workers ran the run at once. */
static void
check_executions (GHashTable *executions, const char *n, const char *run_id, Story *s,
                  GArray *spans)
{
  static const char *const tasks[] = { "a", "b", "c" };

  for (guint t = 0; t < G_N_ELEMENTS (tasks); t++)
    {
      g_autofree char *key = g_strdup_printf ("%s %s", n, tasks[t]);
      GArray *runs = g_hash_table_lookup (executions, key);
      gint64 *done = g_hash_table_lookup (s->completed_us, tasks[t]);
      g_assert_nonnull (runs);
      g_assert_nonnull (done);
      for (guint i = 0; i < runs->len; i++)
        {
          Execution e = g_array_index (runs, Execution, i);
          if (e.start_us >= *done)
            g_error ("run %s: task %s ran again after its completion was stored", run_id,
                     tasks[t]);
          /* Cut short (its worker died or gave the run back, maybe before
           * any of its events were stored): over by the time another
           * worker took the run, starting or resuming it. */
          for (guint r = 0; e.end_us == 0 && r < s->holds->len; r++)
            if (g_array_index (s->holds, gint64, r) > e.start_us)
              e.end_us = g_array_index (s->holds, gint64, r);
          if (e.end_us == 0)
            g_error ("run %s: task %s was cut short and no worker took the run after", run_id,
                     tasks[t]);
          g_array_append_val (spans, e);
        }
    }
  for (guint i = 0; i < spans->len; i++)
    for (guint j = 0; j < spans->len; j++)
      {
        Execution *a = &g_array_index (spans, Execution, i);
        Execution *b = &g_array_index (spans, Execution, j);
        if (a->pid != b->pid && b->start_us >= a->start_us && b->start_us < a->end_us)
          g_error ("run %s: workers %u and %u ran it at once", run_id, a->pid, b->pid);
      }
}

/* Reads every run's events, in seq order, and checks each story and its
 * executions.  Returns how many runs were resumed. */
static guint
check_fleet (Fixture *f)
{
  g_autoptr(GHashTable) executions = read_executions (f);
  PGresult *result = PQexec (f->db,
                             "SELECT r.run_id, s.inputs, e.json FROM run_rows r"
                             " JOIN run_sources s ON s.id = r.id"
                             " JOIN event_rows e ON e.run = r.id ORDER BY r.id, e.seq");
  g_autofree char *current = NULL;
  g_autofree char *n = NULL;
  Story story = { 0 };
  guint resumed = 0, runs = 0;

  g_assert_cmpint (PQresultStatus (result), ==, PGRES_TUPLES_OK);
  for (int r = 0; r <= PQntuples (result); r++)
    {
      const char *run_id = r < PQntuples (result) ? PQgetvalue (result, r, 0) : NULL;
      if (g_strcmp0 (run_id, current) != 0 && current != NULL)
        {
          /* The end of one run's events. */
          g_assert_cmpuint (story.run_ends, ==, 1);
          g_assert_cmpuint (story.starts, ==, 1);
          g_autoptr(GArray) spans = g_array_new (FALSE, FALSE, sizeof (Execution));
          check_executions (executions, n, current, &story, spans);
          story_clear (&story);
          runs++;
        }
      if (run_id == NULL)
        break;
      if (g_strcmp0 (run_id, current) != 0)
        {
          g_free (current);
          current = g_strdup (run_id);
          g_autoptr(JsonNode) inputs = json_from_string (PQgetvalue (result, r, 1), NULL);
          g_free (n);
          n = g_strdup (json_object_get_string_member (json_node_get_object (inputs), "n"));
          story.attempts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
          story.holds = g_array_new (FALSE, FALSE, sizeof (gint64));
          story.completed_us = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
        }
      g_autoptr(JsonNode) event = json_from_string (PQgetvalue (result, r, 2), NULL);
      JsonObject *object = json_node_get_object (event);
      resumed += g_str_equal (json_object_get_string_member (object, "type"), "run.resumed");
      story_add (&story, run_id, object);
    }
  PQclear (result);
  g_assert_cmpuint (runs, ==, count (f, "SELECT count(*) FROM run_rows"));
  return resumed;
}

/* ---- tests ----------------------------------------------------------------------- */

static void
test_kill_one_of_three (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = write_slow_flow (f, "0.05");
  enqueue (f, flow, N_RUNS, NULL);
  g_assert_cmpint (count (f, "SELECT count(*) FROM run_rows WHERE status = 'queued'"), ==,
                   N_RUNS);

  for (guint i = 0; i < 3; i++)
    start_worker (f, (const char *[]) { "--plugin-dir", f->plugin_dir, "--concurrency", "4",
                                        NULL });
  /* Partway: the first worker holds runs when its host dies.  Stopped
   * first (it takes no more), then counted, then killed; should it hold
   * none at that moment, it goes on and is caught again. */
  wait_for_count (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", N_RUNS / 3);
  GSubprocess *victim = f->workers->pdata[0];
  g_autofree char *held_sql = g_strdup_printf (
    "SELECT count(*) FROM run_rows r JOIN workers w ON w.id = r.worker"
    " WHERE w.pid = %s AND r.status IN ('queued', 'running')",
    g_subprocess_get_identifier (victim));
  gint64 held = 0;
  for (guint i = 0; i < 100 && held == 0; i++)
    {
      kill (atoi (g_subprocess_get_identifier (victim)), SIGSTOP);
      if ((held = count (f, held_sql)) == 0)
        {
          kill (atoi (g_subprocess_get_identifier (victim)), SIGCONT);
          g_usleep (20 * 1000);
        }
    }
  kill_host (victim);
  g_test_message ("killed worker %d holding %" G_GINT64_FORMAT " run(s)",
                  weft_test_exit_status (victim), held);
  g_assert_cmpint (held, >, 0);

  wait_for_count (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", N_RUNS);
  g_assert_cmpint (count (f, "SELECT count(*) FROM run_rows"), ==, N_RUNS);
  stop_worker (f->workers->pdata[1]);
  stop_worker (f->workers->pdata[2]);

  guint resumed = check_fleet (f);
  g_test_message ("%u run(s) resumed after the kill", resumed);
  /* The runs the dead worker had started went on elsewhere. */
  g_assert_cmpuint (resumed, >, 0);
  g_assert_cmpuint (resumed, <=, (guint) held);
  /* Every run says which worker ran it: one of the two left, or the dead one
   * for runs it finished. */
  g_assert_cmpint (count (f, "SELECT count(*) FROM run_rows WHERE worker_name IS NULL"), ==, 0);
}

/* A worker without the plugin a flow needs hands its run back with the
 * reason; a worker with it runs it. */
static void
test_missing_plugin (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = g_build_filename (f->dir, "special.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *test_plugins = weft_test_plugin_dir ();

  g_file_set_contents (flow, "{\"name\": \"special\", \"agents\": {\"t\": {\"plugin\": "
                       "\"test-agent\"}}, \"tasks\": [{\"name\": \"a\", \"agent\": \"t\","
                       " \"description\": \"a {n}\"}]}", -1, &error);
  g_assert_no_error (error);
  enqueue (f, flow, 1, (const char *[]) { "--plugin-dir", test_plugins, NULL });

  GSubprocess *lacking = start_worker (f, (const char *[]) { "--plugin-dir", f->plugin_dir,
                                                             NULL });
  wait_for_count (f, "SELECT count(*) FROM run_rows WHERE handed_back IS NOT NULL", 1);
  g_autofree char *reason = weft_test_pg_query (f->db, "SELECT handed_back FROM run_rows");
  weft_test_assert_contains (reason, "cannot run it");
  weft_test_assert_contains (reason, "test-agent");
  g_assert_cmpint (count (f, "SELECT count(*) FROM run_rows WHERE status = 'queued'"
                             " AND worker IS NULL"), ==, 1);
  g_assert_cmpint (run_weft (f, (const char *[]) { "runs", "list", "--store", f->spec, NULL }),
                   ==, 0);
  weft_test_assert_contains (f->out, "queued");
  weft_test_assert_contains (f->out, "cannot run it");

  /* Not given to the same worker again; another one, with the plugin, runs it. */
  start_worker (f, (const char *[]) { "--plugin-dir", test_plugins, "--plugin-dir",
                                      f->plugin_dir, NULL });
  wait_for_count (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 1);
  g_assert_cmpint (count (f, "SELECT count(*) FROM run_rows WHERE handed_back IS NULL"), ==, 1);
  stop_worker (lacking);
  stop_worker (f->workers->pdata[1]);
}

/* SIGTERM with --grace 0: the running run goes back to the queue, and
 * another worker finishes it from its stored events. */
static void
test_sigterm_hands_back (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = write_slow_flow (f, "1");
  enqueue (f, flow, 1, NULL);

  GSubprocess *first = start_worker (f, (const char *[]) { "--plugin-dir", f->plugin_dir,
                                                           "--grace", "0", NULL });
  wait_for_count (f, "SELECT count(*) FROM task_rows WHERE name = 'a'"
                     " AND status = 'completed'", 1);
  g_assert_cmpint (run_weft (f, (const char *[]) { "workers", "--store", f->spec, NULL }), ==, 0);
  weft_test_assert_contains (f->out, g_subprocess_get_identifier (first));
  weft_test_assert_contains (f->out, "1/4");
  stop_worker (first);
  g_autofree char *said = worker_log (f, 0);
  weft_test_assert_contains (said, "handed back");
  g_assert_cmpint (count (f, "SELECT count(*) FROM run_rows WHERE status = 'running'"
                             " AND worker IS NULL AND handed_back LIKE '%stopped%'"), ==, 1);
  /* Its cancellation was not stored: the run is not over. */
  g_assert_cmpint (count (f, "SELECT count(*) FROM events WHERE type LIKE '%cancelled'"), ==, 0);
  g_assert_cmpint (run_weft (f, (const char *[]) { "workers", "--store", f->spec, NULL }), ==, 0);
  weft_test_assert_contains (f->out, "no live workers");

  start_worker (f, (const char *[]) { "--plugin-dir", f->plugin_dir, NULL });
  wait_for_count (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 1);
  stop_worker (f->workers->pdata[1]);
  g_assert_cmpuint (check_fleet (f), ==, 1);
}

/* ---- serve --enqueue --------------------------------------------------------------- */

/* The body of a request to the server, which must answer `status`. */
static JsonObject *
request (SoupSession *session, guint port, const char *method, const char *path,
         const char *body, guint status)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GError) error = NULL;

  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  g_autoptr(GBytes) reply = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *text = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  g_test_message ("%s %s → %u %s", method, path, soup_message_get_status (msg), text);
  g_assert_cmpuint (soup_message_get_status (msg), ==, status);
  g_autoptr(JsonNode) node = json_from_string (text, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (node));
}

static const char *
status_of (SoupSession *session, guint port, const char *run_id)
{
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", run_id);
  static char status[32];
  g_autoptr(JsonObject) run = request (session, port, "GET", path, NULL, 200);

  g_strlcpy (status, json_object_get_string_member (run, "status"), sizeof status);
  return status;
}

/* A server that queues its kickoffs: 202 with the queued ids, status read
 * from the store, and its queue's workers listed. */
static void
test_serve_enqueue (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *path = write_slow_flow (f, "0");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, path, &error);
  g_assert_no_error (error);
  g_autoptr(JsonObject) options = json_object_new ();
  json_object_set_string_member (options, "conninfo", f->spec + strlen ("postgres:conninfo="));
  WeftStore *queue = weft_store_open_queue (engine, "postgres", options, &error);
  g_assert_no_error (error);
  WeftServer *server = weft_server_new (engine, NULL);
  g_assert_true (weft_server_add_flow (server, flow, &error));
  weft_server_set_queue (server, queue);
  g_assert_true (weft_server_listen (server, "127.0.0.1:0", &error));
  guint port = weft_server_get_port (server);
  g_autoptr(SoupSession) session = soup_session_new ();

  g_autoptr(JsonObject) one = request (session, port, "POST", "/v1/flows/slow/runs",
                                       "{\"inputs\": {\"n\": \"1\"}}", 202);
  g_assert_cmpstr (json_object_get_string_member (one, "status"), ==, "queued");
  const char *id = json_object_get_string_member (one, "run_id");
  g_autoptr(JsonObject) batch = request (session, port, "POST", "/v1/flows/slow/batch",
                                         "{\"inputs\": [{\"n\": \"2\"}, {\"n\": \"3\"}]}",
                                         202);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (batch, "run_ids")), ==,
                    2);
  g_autoptr(JsonObject) bad = request (session, port, "POST", "/v1/flows/slow/runs",
                                       "{\"inputs\": {}}", 400);
  g_assert_cmpstr (status_of (session, port, id), ==, "queued");
  g_autoptr(JsonObject) none = request (session, port, "GET", "/v1/workers", NULL, 200);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (none, "workers")), ==,
                    0);

  GSubprocess *worker = start_worker (f, (const char *[]) { "--plugin-dir", f->plugin_dir,
                                                            "--concurrency", "2", NULL });
  wait_for_count (f, "SELECT count(*) FROM workers", 1);
  g_autoptr(JsonObject) live = request (session, port, "GET", "/v1/workers", NULL, 200);
  JsonArray *workers = json_object_get_array_member (live, "workers");
  g_assert_cmpuint (json_array_get_length (workers), ==, 1);
  JsonObject *w = json_array_get_object_element (workers, 0);
  g_assert_cmpint (json_object_get_int_member (w, "pid"), ==,
                   atoi (g_subprocess_get_identifier (worker)));
  g_assert_cmpint (json_object_get_int_member (w, "concurrency"), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (w, "host"), ==, g_get_host_name ());
  wait_for_count (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 3);
  g_assert_cmpstr (status_of (session, port, id), ==, "completed");
  stop_worker (worker);

  weft_server_stop (server, 1000);
  weft_server_free (server);
  weft_engine_shutdown (engine, 1000);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  cluster = weft_test_pg_start_or_say ();
  g_test_add ("/fleet/kill-one-of-three", Fixture, NULL, fixture_set_up,
              test_kill_one_of_three, fixture_tear_down);
  g_test_add ("/fleet/missing-plugin", Fixture, NULL, fixture_set_up, test_missing_plugin,
              fixture_tear_down);
  g_test_add ("/fleet/sigterm-hands-back", Fixture, NULL, fixture_set_up,
              test_sigterm_hands_back, fixture_tear_down);
  g_test_add ("/fleet/serve-enqueue", Fixture, NULL, fixture_set_up, test_serve_enqueue,
              fixture_tear_down);
  status = g_test_run ();
  weft_test_pg_stop (cluster);
  return status;
}
