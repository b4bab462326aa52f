/* weft-test-fleet.c — what the tests of `weft worker` fleets share
 * (weft-test-fleet.h): a fixture with a database of the throwaway cluster
 * and a directory, workers started and stopped, counts polled, a flow of
 * slow exec tasks that log every execution, runs queued, and the check of
 * what a fleet did, from the store's events and the log. */
#include "weft-test-fleet.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>

WeftTestPg *weft_fleet_cluster;

/* ---- fixture -------------------------------------------------------------------- */

int
weft_fleet_run_tests (void)
{
  int status;

  weft_fleet_cluster = weft_test_pg_start_or_say ();
  status = g_test_run ();
  weft_test_pg_stop (weft_fleet_cluster);
  return status;
}

void
weft_fleet_set_up (WeftFleet *f, gconstpointer data)
{
  static guint databases;
  g_autoptr(GError) error = NULL;
  const char *build_root = g_getenv ("WEFT_BUILD_ROOT");

  if (weft_fleet_cluster == NULL)
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
  g_autofree char *conninfo = weft_test_pg_new_database (weft_fleet_cluster, f->database);
  f->spec = g_strdup_printf ("postgres:conninfo=%s", conninfo);
  f->workers = g_ptr_array_new_with_free_func (g_object_unref);
}

void
weft_fleet_tear_down (WeftFleet *f, gconstpointer data)
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

int
weft_fleet_run (WeftFleet *f, const char *const *args)
{
  g_auto(GStrv) argv = weft_test_weft_argv (f->weft, f->plugin_dir, args);

  return weft_test_run_command ((const char * const *) argv, &f->out, &f->err);
}

/* A worker dies with the test: one that fails leaves none behind. */
static void
weft_fleet_die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* `weft worker` with `extra` arguments, its stderr in the test's
 * directory (shown when the test fails). */
GSubprocess *
weft_fleet_start (WeftFleet *f, const char *const *extra)
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
  g_subprocess_launcher_set_child_setup (launcher, weft_fleet_die_with_parent, NULL, NULL);
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv,
                                                    &error);
  g_assert_no_error (error);
  g_ptr_array_add (f->workers, proc);
  return proc;
}

char *
weft_fleet_log (WeftFleet *f, guint i)
{
  g_autofree char *path = g_strdup_printf ("%s/worker-%u.log", f->dir, i);
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, NULL);
  return text ? text : g_strdup ("");
}

/* Stops a worker with SIGTERM; it must exit 0. */
void
weft_fleet_stop (GSubprocess *proc)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (proc, SIGTERM);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_test_exit_status (proc), ==, 0);
}

PGconn *
weft_fleet_db (WeftFleet *f)
{
  if (f->db == NULL)
    f->db = weft_test_pg_connect (weft_fleet_cluster, f->database);
  return f->db;
}

gint64
weft_fleet_count (WeftFleet *f, const char *sql)
{
  return weft_test_pg_query_int (weft_fleet_db (f), sql);
}

/* Polls `sql` (a count) until it reaches `want`, up to 120 s. */
void
weft_fleet_wait (WeftFleet *f, const char *sql, gint64 want)
{
  gint64 got = -1;

  for (guint i = 0; i < 2400; i++)
    {
      got = weft_fleet_count (f, sql);
      if (got >= want)
        return;
      g_usleep (50 * 1000);
    }
  for (guint w = 0; w < f->workers->len; w++)
    {
      g_autofree char *text = weft_fleet_log (f, w);
      g_test_message ("worker %u:\n%s", w, text);
    }
  /* Why a run that will not complete did not. */
  g_autofree char *failed = weft_test_pg_query (
    weft_fleet_db (f), "SELECT string_agg (r.run_id || ' ' || t.name || ': ' || t.error, E'\\n')"
                       " FROM run_rows r JOIN task_rows t ON t.run = r.id"
                       " WHERE t.status = 'failed'");
  g_test_message ("failed tasks:\n%s", failed ? failed : "none");
  g_error ("%s: %" G_GINT64_FORMAT ", not %" G_GINT64_FORMAT " after 120 s", sql, got, want);
}

/* ---- the flow ------------------------------------------------------------------- */

/* a → b → c: each logs "N TASK PID start NS", sleeps, logs the end.  $PPID
 * is the worker (the exec agent runs sh itself). */
char *
weft_fleet_flow (WeftFleet *f, const char *sleep)
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
void
weft_fleet_enqueue (WeftFleet *f, const char *flow, guint n_runs, const char *const *extra)
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
  g_assert_cmpint (weft_fleet_run (f, (const char * const *) argv), ==, 0);
  g_auto(GStrv) ids = g_strsplit (g_strstrip (f->out), "\n", -1);
  g_assert_cmpuint (g_strv_length (ids), ==, n_runs);
}

/* ---- checking what happened ------------------------------------------------------------ */

typedef struct {
  guint pid;
  gint64 start_us;
  gint64 end_us;              /* 0: cut short */
} Execution;

/* "N TASK" → GArray of Execution, from the log. */
static GHashTable *
read_executions (WeftFleet *f)
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
guint
weft_fleet_check (WeftFleet *f)
{
  g_autoptr(GHashTable) executions = read_executions (f);
  PGresult *result = PQexec (weft_fleet_db (f),
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
  g_assert_cmpuint (runs, ==, weft_fleet_count (f, "SELECT count(*) FROM run_rows"));
  return resumed;
}
