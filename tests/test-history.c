/* test-history.c — `weft runs`, `weft replay` and `weft resume`, run as
 * child processes against a sqlite store in a temporary directory.
 *
 * Tasks are `exec` commands that append their name to a count file before
 * answering, so that what ran (and how often) is counted outside weft.  The
 * database is read back with the sqlite3 library.  The resume test kills a
 * running `weft run` with SIGKILL partway through a chain of slow tasks.
 * No timing is asserted: waits poll, with generous limits.
 */
#include "weft-test.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>

typedef struct {
  char *dir;
  char *weft;
  char *plugin_dir;
  char *db;
  char *store;        /* "sqlite:path=DB" */
  char *count;        /* the count file */
  char *out;
  char *err;
} Fixture;

/* ---- fixture ---------------------------------------------------------------- */

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  const char *build_root = g_getenv ("WEFT_BUILD_ROOT");
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (build_root);
  fx->weft = g_build_filename (build_root, "cli", "weft", NULL);
  fx->plugin_dir = g_build_filename (build_root, "plugins", NULL);
  fx->dir = g_dir_make_tmp ("weft-test-history-XXXXXX", &error);
  g_assert_no_error (error);
  fx->db = g_build_filename (fx->dir, "runs.db", NULL);
  fx->store = g_strdup_printf ("sqlite:path=%s", fx->db);
  fx->count = g_build_filename (fx->dir, "count", NULL);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  weft_test_remove_dir (fx->dir);
  g_free (fx->dir);
  g_free (fx->weft);
  g_free (fx->plugin_dir);
  g_free (fx->db);
  g_free (fx->store);
  g_free (fx->count);
  g_free (fx->out);
  g_free (fx->err);
}

/* A flow of exec tasks: each appends its name (its description) to the
 * count file, sleeps `sleep` seconds and answers "out-NAME-NANOSECONDS", so
 * that two executions of one task give two outputs.  `tasks` is the JSON
 * of the task list, with agent "x". */
static char *
write_flow (Fixture *fx, const char *name, const char *sleep, const char *tasks)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (fx->dir, name, NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"%s\", \"inputs\": {\"topic\": \"history\"},"
    " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"sh\", \"-c\","
    "   \"read t rest; echo $t >> %s; sleep %s; echo out-$t-$(date +%%s%%N)\"]}},"
    " \"tasks\": %s}", name, fx->count, sleep, tasks);

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  return path;
}

/* a → b → c, and d after a: a replay from b runs b and c only. */
static const char *const fork_tasks =
  "[{\"name\": \"a\", \"agent\": \"x\", \"description\": \"a {topic}\"},"
  " {\"name\": \"b\", \"agent\": \"x\", \"description\": \"b\", \"context\": [\"a\"]},"
  " {\"name\": \"c\", \"agent\": \"x\", \"description\": \"c\", \"context\": [\"b\"]},"
  " {\"name\": \"d\", \"agent\": \"x\", \"description\": \"d\", \"context\": [\"a\"]}]";

static const char *const chain_tasks =
  "[{\"name\": \"a\", \"agent\": \"x\", \"description\": \"a\"},"
  " {\"name\": \"b\", \"agent\": \"x\", \"description\": \"b\", \"context\": [\"a\"]},"
  " {\"name\": \"c\", \"agent\": \"x\", \"description\": \"c\", \"context\": [\"b\"]},"
  " {\"name\": \"d\", \"agent\": \"x\", \"description\": \"d\", \"context\": [\"c\"]}]";

/* ---- running weft --------------------------------------------------------------- */

static GStrv
weft_argv (Fixture *fx, const char *const *args)
{
  return weft_test_weft_argv (fx->weft, fx->plugin_dir, args);
}

static int
run_weft (Fixture *fx, const char *const *args)
{
  g_auto(GStrv) argv = weft_argv (fx, args);

  return weft_test_run_command ((const char * const *) argv, &fx->out, &fx->err);
}

static JsonObject *
parse_object (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (text, &error);

  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

/* `weft run --json` the flow into the store; returns the run's id. */
static char *
run_flow (Fixture *fx, const char *flow)
{
  g_autoptr(JsonObject) result = NULL;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--json", "--quiet", "--callback",
                                                    fx->store, flow, NULL }), ==, 0);
  result = parse_object (fx->out);
  return g_strdup (json_object_get_string_member (result, "run_id"));
}

/* ---- counting --------------------------------------------------------------- */

/* How often `task` appears in the count file. */
static guint
count_runs (Fixture *fx, const char *task)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  guint n = 0;

  if (!g_file_get_contents (fx->count, &text, NULL, NULL))
    return 0;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    n += g_strcmp0 (lines[i], task) == 0;
  return n;
}

static guint
count_lines (Fixture *fx)
{
  g_autofree char *text = NULL;
  guint n = 0;

  if (!g_file_get_contents (fx->count, &text, NULL, NULL))
    return 0;
  for (const char *p = text; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

/* ---- the database, read directly ------------------------------------------------ */

static sqlite3 *
open_db (Fixture *fx)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (fx->db, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  /* The writer may hold the file for a moment. */
  sqlite3_busy_timeout (db, 10000);
  return db;
}

/* The first column of the first row, as text; NULL when no row. */
static char *
query (Fixture *fx, const char *format, ...) G_GNUC_PRINTF (2, 3);

static char *
query (Fixture *fx, const char *format, ...)
{
  va_list args;
  g_autofree char *sql = NULL;
  sqlite3 *db = open_db (fx);
  sqlite3_stmt *stmt = NULL;
  char *value = NULL;

  va_start (args, format);
  sql = g_strdup_vprintf (format, args);
  va_end (args);
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      /* The file may not have its tables yet. */
      g_test_message ("%s: %s", sql, sqlite3_errmsg (db));
      sqlite3_close (db);
      return NULL;
    }
  if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_text (stmt, 0) != NULL)
    value = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static gint64
query_int (Fixture *fx, const char *sql, const char *run_id)
{
  g_autofree char *text = query (fx, sql, run_id);

  g_assert_nonnull (text);
  return g_ascii_strtoll (text, NULL, 10);
}

/* Events of the run: seq 1..N in order, no gaps and no duplicates. */
static void
assert_seq_complete (Fixture *fx, const char *run_id)
{
  gint64 n = query_int (fx, "SELECT count(*) FROM events WHERE run_id = '%s'", run_id);
  gint64 distinct = query_int (fx, "SELECT count(DISTINCT seq) FROM events WHERE run_id = '%s'",
                               run_id);
  gint64 lo = query_int (fx, "SELECT min(seq) FROM events WHERE run_id = '%s'", run_id);
  gint64 hi = query_int (fx, "SELECT max(seq) FROM events WHERE run_id = '%s'", run_id);

  g_assert_cmpint (distinct, ==, n);
  g_assert_cmpint (lo, ==, 1);
  g_assert_cmpint (hi, ==, n);
  g_assert_cmpint (query_int (fx, "SELECT last_seq FROM runs WHERE run_id = '%s'", run_id), ==, n);
}

static char *
task_output (Fixture *fx, const char *run_id, const char *task)
{
  g_autofree char *sql = g_strdup_printf ("SELECT output FROM tasks WHERE run_id = '%s' "
                                          "AND name = '%s' AND status = 'completed'",
                                          run_id, task);
  return query (fx, "%s", sql);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_list_show (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_flow (fx, "fork.json", "0", fork_tasks);
  g_autofree char *first = run_flow (fx, flow);
  g_autofree char *second = run_flow (fx, flow);
  g_autoptr(JsonObject) shown = NULL;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--store", fx->store,
                                                    NULL }), ==, 0);
  /* Newest first, with status and flow. */
  g_assert_nonnull (strstr (fx->out, first));
  g_assert_true (strstr (fx->out, second) < strstr (fx->out, first));
  g_assert_nonnull (strstr (fx->out, "completed"));
  g_assert_nonnull (strstr (fx->out, "fork.json"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--store", fx->store,
                                                    "--limit", "1", "--json", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, second));
  g_assert_null (strstr (fx->out, first));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", "--store", fx->store,
                                                    first, NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "ATTEMPTS"));
  g_assert_nonnull (strstr (fx->out, "out-a-"));
  g_assert_nonnull (strstr (fx->out, "out-d-"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", "--store", fx->store,
                                                    "--json", first, NULL }), ==, 0);
  shown = parse_object (fx->out);
  g_assert_cmpstr (json_object_get_string_member (shown, "status"), ==, "completed");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (shown, "tasks")), ==, 4);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", "--store", fx->store,
                                                    "no-such-run", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "no-such-run"));
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--store", fx->store,
                                                    "--flow", flow, NULL }), ==, 2);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "frobnicate", NULL }), ==, 2);
}

/* A flow that declares its store is read with --flow. */
static void
test_flow_store (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = g_build_filename (fx->dir, "declared.json", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"declared\", \"agents\": {\"t\": {\"plugin\": \"template\"}},"
    " \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\", \"description\": \"x\"}]}", fx->db);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--quiet", path, NULL }), ==, 0);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--flow", path, NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "declared"));
}

static void
test_replay (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_flow (fx, "fork.json", "0.2", fork_tasks);
  g_autofree char *old = run_flow (fx, flow);
  g_autoptr(JsonObject) result = NULL;
  const char *new_id;

  g_assert_cmpuint (count_lines (fx), ==, 4);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "replay", old, "--from", "b", "--store",
                                                    fx->store, "--json", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->err, "replaying run"));
  result = parse_object (fx->out);
  new_id = json_object_get_string_member (result, "run_id");
  g_assert_cmpstr (json_object_get_string_member (result, "status"), ==, "completed");
  g_assert_cmpstr (new_id, !=, old);

  /* Exactly b and its dependant c ran again. */
  g_assert_cmpuint (count_runs (fx, "a"), ==, 1);
  g_assert_cmpuint (count_runs (fx, "b"), ==, 2);
  g_assert_cmpuint (count_runs (fx, "c"), ==, 2);
  g_assert_cmpuint (count_runs (fx, "d"), ==, 1);

  /* The new run is stored; it reused a's and d's outputs as they were. */
  for (guint i = 0; i < 4; i++)
    {
      const char *task = (const char *[]) { "a", "b", "c", "d" }[i];
      g_autofree char *before = task_output (fx, old, task);
      g_autofree char *after = task_output (fx, new_id, task);

      g_assert_nonnull (before);
      g_assert_nonnull (after);
      if (i == 0 || i == 3)
        g_assert_cmpstr (after, ==, before);
      else
        g_assert_cmpstr (after, !=, before);
    }
  g_assert_cmpint (query_int (fx, "SELECT attempts FROM tasks WHERE run_id = '%s' AND name = 'a'",
                              new_id), ==, 0);
  assert_seq_complete (fx, new_id);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "replay", old, "--from", "zz", "--store",
                                                    fx->store, NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "zz"));
  g_assert_nonnull (strstr (fx->err, "a, b, c, d"));
  g_assert_cmpint (run_weft (fx, (const char *[]) { "replay", old, "--store", fx->store, NULL }),
                   ==, 2);
  g_assert_nonnull (strstr (fx->err, "--from"));
}

static void
test_resume_refuses_ended (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_flow (fx, "fork.json", "0", fork_tasks);
  g_autofree char *id = run_flow (fx, flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "resume", id, "--store", fx->store, NULL }),
                   ==, 2);
  g_assert_nonnull (strstr (fx->err, "already completed"));
  g_assert_cmpuint (count_lines (fx), ==, 4);
}

/* Polls every 50 ms, up to 60 s, until the count file has `lines` lines
 * and task `task` is stored as completed. */
static char *
wait_for_progress (Fixture *fx, GSubprocess *proc, guint lines, const char *task)
{
  for (guint i = 0; i < 1200; i++)
    {
      g_autofree char *done = NULL;

      /* No identifier: the child has exited, before it was killed. */
      if (g_subprocess_get_identifier (proc) == NULL)
        g_error ("weft run exited early");
      if (count_lines (fx) >= lines)
        done = query (fx, "SELECT run_id FROM tasks WHERE name = '%s' AND status = 'completed'",
                      task);
      if (done != NULL)
        return g_steal_pointer (&done);
      g_usleep (50 * 1000);
    }
  g_error ("weft run made no progress: %u lines counted", count_lines (fx));
}

/* What the store says of a run marked running: whether a process holds it. */
static void
assert_live (Fixture *fx, const char *run_id, gboolean live)
{
  g_autoptr(JsonObject) run = NULL;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", run_id, "--json",
                                                    "--store", fx->store, NULL }), ==, 0);
  run = parse_object (fx->out);
  g_assert_cmpstr (json_object_get_string_member (run, "status"), ==, "running");
  g_assert_true (json_object_get_boolean_member (run, "live") == live);
}

/* kill -9 partway through a chain of slow tasks, then `weft resume`; a
 * resume while the run's process lives is refused. */
static void
test_kill_resume (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_flow (fx, "chain.json", "1", chain_tasks);
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "run", "--quiet", "--callback",
                                                         fx->store, flow, NULL });
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *run_id = NULL;
  g_autofree char *status = NULL;
  g_autofree char *completed_before = NULL;
  gint64 seq_before;

  proc = g_subprocess_newv ((const char * const *) argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                            | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  g_assert_no_error (error);
  /* a finished and is committed; b has started. */
  run_id = wait_for_progress (fx, proc, 2, "a");
  /* While its process lives, the run is live and cannot be resumed. */
  assert_live (fx, run_id, TRUE);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "resume", run_id, "--store", fx->store,
                                                    NULL }), !=, 0);
  weft_test_assert_contains (fx->err, "still being run by another process");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "delete", run_id, "--store",
                                                    fx->store, NULL }), ==, 1);
  weft_test_assert_contains (fx->err, "still being run by a live process");
  g_subprocess_send_signal (proc, SIGKILL);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_test_exit_status (proc), ==, 1000 + SIGKILL);

  status = query (fx, "SELECT status FROM runs WHERE run_id = '%s'", run_id);
  g_assert_cmpstr (status, ==, "running");
  assert_live (fx, run_id, FALSE);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", run_id, "--store",
                                                    fx->store, NULL }), ==, 0);
  weft_test_assert_contains (fx->out, "status   interrupted");
  completed_before = query (fx, "SELECT group_concat(name, ',') FROM (SELECT name FROM tasks "
                                "WHERE run_id = '%s' AND status = 'completed' ORDER BY name)",
                            run_id);
  seq_before = query_int (fx, "SELECT max(seq) FROM events WHERE run_id = '%s'", run_id);
  g_test_message ("killed with %s completed, %" G_GINT64_FORMAT " events stored",
                  completed_before, seq_before);
  assert_seq_complete (fx, run_id);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "resume", run_id, "--store", fx->store,
                                                    NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->err, "resuming run"));
  g_assert_true (g_str_has_prefix (fx->out, "out-d-"));

  g_clear_pointer (&status, g_free);
  status = query (fx, "SELECT status FROM runs WHERE run_id = '%s'", run_id);
  g_assert_cmpstr (status, ==, "completed");
  /* One row per task, each completed with its output. */
  g_assert_cmpint (query_int (fx, "SELECT count(*) FROM tasks WHERE run_id = '%s'", run_id),
                   ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      const char *task = (const char *[]) { "a", "b", "c", "d" }[i];
      g_autofree char *output = task_output (fx, run_id, task);
      g_autofree char *prefix = g_strdup_printf ("out-%s-", task);
      g_autofree char *q = g_strdup_printf ("SELECT count(*) FROM events WHERE run_id = '%%s' "
                                            "AND type = 'task.completed' AND task = '%s'", task);

      g_assert_nonnull (output);
      g_assert_true (g_str_has_prefix (output, prefix));
      /* Completed once: its output was stored once. */
      g_assert_cmpint (query_int (fx, q, run_id), ==, 1);
      /* What had completed before the kill did not run again. */
      if (strstr (completed_before, task) != NULL)
        g_assert_cmpuint (count_runs (fx, task), ==, 1);
      else
        g_assert_cmpuint (count_runs (fx, task), >=, 1);
    }
  g_assert_cmpuint (count_runs (fx, "a"), ==, 1);
  /* Numbering went on after the stored events: run.resumed next. */
  g_assert_cmpint (query_int (fx, "SELECT seq FROM events WHERE run_id = '%s' AND "
                                  "type = 'run.resumed'", run_id), ==, seq_before + 1);
  assert_seq_complete (fx, run_id);
}

/* An exec flow whose tasks wait while the hold file exists, so that a test
 * can kill weft with them in flight.  Task "r" (2 retries) fails its 1st
 * and 3rd executions, counted in the count file; every other task and
 * execution answers once the hold file is gone. */
static char *
write_held_flow (Fixture *fx, const char *hold)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (fx->dir, "held.json", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"held\","
    " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"sh\", \"-c\","
    "   \"read t rest; echo $t >> %s; n=$(grep -cx $t %s);"
    "    case $t-$n in r-1|r-3) exit 1;; esac;"
    "    while [ -e %s ]; do sleep 0.05; done; echo out-$t-$n\"]}},"
    " \"tasks\": [{\"name\": \"r\", \"agent\": \"x\", \"description\": \"r\", \"retries\": 2,"
    "              \"retry_delay_ms\": 10},"
    "            {\"name\": \"b\", \"agent\": \"x\", \"description\": \"b\"},"
    "            {\"name\": \"c\", \"agent\": \"x\", \"description\": \"c\"},"
    "            {\"name\": \"after\", \"agent\": \"x\", \"description\": \"after\","
    "             \"context\": [\"r\", \"b\", \"c\"]}]}",
    fx->count, fx->count, hold);

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  return path;
}

/* How many task.started events of `task` with attempt `attempt` are stored. */
static gint64
count_started (Fixture *fx, const char *run_id, const char *task, gint64 attempt)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT count(*) FROM events WHERE run_id = '%%s' AND type = 'task.started' "
    "AND task = '%s' AND json_extract (json, '$.attempt') = %" G_GINT64_FORMAT, task, attempt);

  return query_int (fx, sql, run_id);
}

/* Polls until r's 2nd attempt and b's and c's 1st are stored as started
 * (and so are running, held). */
static char *
wait_for_in_flight (Fixture *fx, GSubprocess *proc)
{
  for (guint i = 0; i < 1200; i++)
    {
      g_autofree char *run_id = NULL;

      if (g_subprocess_get_identifier (proc) == NULL)
        g_error ("weft run exited early");
      if (!g_file_test (fx->db, G_FILE_TEST_EXISTS))
        {
          g_usleep (50 * 1000);
          continue;
        }
      run_id = query (fx, "SELECT run_id FROM runs");
      /* Their commands have begun too (an attempt's task.started may be
       * stored before its command writes to the count file). */
      if (run_id != NULL && count_started (fx, run_id, "r", 2) == 1
          && count_started (fx, run_id, "b", 1) == 1 && count_started (fx, run_id, "c", 1) == 1
          && count_runs (fx, "r") == 2 && count_runs (fx, "b") == 1)
        return g_steal_pointer (&run_id);
      g_usleep (50 * 1000);
    }
  g_error ("the tasks never were all in flight");
}

/* No two stored events of the run say the same thing: one (type, task,
 * attempt) each, but steps (an attempt has many). */
static void
assert_no_repeated_event (Fixture *fx, const char *run_id)
{
  g_autofree char *repeated = query (
    fx, "SELECT group_concat (what, ', ') FROM (SELECT type || ' ' || task || ' ' || "
        "json_extract (json, '$.attempt') || ' ×' || count(*) AS what FROM events "
        "WHERE run_id = '%s' AND task IS NOT NULL AND type != 'task.step' "
        "GROUP BY type, task, json_extract (json, '$.attempt') HAVING count(*) > 1)", run_id);

  if (repeated != NULL)
    g_error ("events stored twice: %s", repeated);
}

/* Each task's stored events read as one story: nothing of a task is
 * stored after its end (completed, failed, skipped, cancelled). */
static void
assert_story_coherent (Fixture *fx, const char *run_id)
{
  g_autofree char *after_end = query (
    fx, "SELECT group_concat (e.type || ' ' || e.task || ' after ' || x.type, ', ') "
        "FROM events e JOIN events x ON x.run_id = e.run_id AND x.task = e.task "
        "AND x.seq < e.seq WHERE e.run_id = '%s' AND x.type IN ('task.completed', "
        "'task.failed', 'task.skipped', 'task.cancelled')", run_id);

  if (after_end != NULL)
    g_error ("events stored after their task's end: %s", after_end);
}

/* kill -9 with three tasks in flight (one of them a retry), then `weft
 * resume`: each attempt in flight is run again as the next attempt, no
 * event is stored twice, and the interrupted attempt, which did not fail,
 * costs none of its task's retries. */
static void
test_kill_resume_in_flight (Fixture *fx, gconstpointer data)
{
  g_autofree char *hold = g_build_filename (fx->dir, "hold", NULL);
  g_autofree char *flow = write_held_flow (fx, hold);
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "run", "--quiet", "--callback",
                                                         fx->store, flow, NULL });
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(JsonObject) shown = NULL;
  g_autofree char *run_id = NULL;

  g_file_set_contents (hold, "", 0, &error);
  g_assert_no_error (error);
  proc = g_subprocess_newv ((const char * const *) argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                            | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  g_assert_no_error (error);
  run_id = wait_for_in_flight (fx, proc);
  g_subprocess_send_signal (proc, SIGKILL);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_runs (fx, "r"), ==, 2);
  g_assert_cmpuint (count_runs (fx, "b"), ==, 1);

  /* What resume reads: the attempts in flight, and r's one failure. */
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", run_id, "--json",
                                                    "--store", fx->store, NULL }), ==, 0);
  shown = parse_object (fx->out);
  JsonArray *tasks = json_object_get_array_member (shown, "tasks");
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);
      const char *name = json_object_get_string_member (task, "name");

      g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "running");
      g_assert_cmpint (json_object_get_int_member (task, "attempts"), ==,
                       g_str_equal (name, "r") ? 2 : 1);
      g_assert_cmpint (json_object_get_int_member (task, "failures"), ==,
                       g_str_equal (name, "r") ? 1 : 0);
    }

  g_remove (hold);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "resume", run_id, "--store", fx->store,
                                                    NULL }), ==, 0);
  weft_test_assert_contains (fx->out, "out-after-1");
  assert_no_repeated_event (fx, run_id);
  assert_story_coherent (fx, run_id);
  assert_seq_complete (fx, run_id);

  /* b and c: attempt 1 cut short, attempt 2 run by the resume. */
  for (guint i = 0; i < 2; i++)
    {
      const char *task = (const char *[]) { "b", "c" }[i];
      g_autofree char *sql = g_strdup_printf (
        "SELECT status || '|' || attempts FROM tasks WHERE run_id = '%%s' AND name = '%s'",
        task);
      g_autofree char *row = query (fx, sql, run_id);

      g_assert_cmpint (count_started (fx, run_id, task, 1), ==, 1);
      g_assert_cmpint (count_started (fx, run_id, task, 2), ==, 1);
      g_assert_cmpuint (count_runs (fx, task), ==, 2);
      g_assert_cmpstr (row, ==, "completed|2");
    }
  /* r: 1 failed, 2 cut short, 3 failed and was retried (two failures of
   * its two retries), 4 completed. */
  for (gint64 attempt = 1; attempt <= 4; attempt++)
    g_assert_cmpint (count_started (fx, run_id, "r", attempt), ==, 1);
  g_assert_cmpint (query_int (fx, "SELECT count(*) FROM events WHERE run_id = '%s' "
                                  "AND type = 'task.retrying' AND task = 'r'", run_id), ==, 2);
  g_autofree char *r = query (fx, "SELECT status || '|' || attempts || '|' || output FROM tasks "
                                  "WHERE run_id = '%s' AND name = 'r'", run_id);
  g_assert_cmpstr (r, ==, "completed|4|out-r-4");
  g_assert_cmpint (query_int (fx, "SELECT attempts FROM tasks WHERE run_id = '%s' "
                                  "AND name = 'after'", run_id), ==, 1);
  g_assert_cmpint (query_int (fx, "SELECT count(*) FROM tasks WHERE run_id = '%s'", run_id),
                   ==, 4);
}

/* An exec flow with a branch that fails for good and one held while the
 * hold file exists.  "f" (1 retry) fails every execution; "s1" needs it,
 * "s2" needs s1, and "join" needs f and b: all three are skipped when f
 * fails.  "b" answers once the hold file is gone, "after" follows b. */
static char *
write_failed_branch_flow (Fixture *fx, const char *hold)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (fx->dir, "branches.json", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"branches\","
    " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"sh\", \"-c\","
    "   \"read t rest; echo $t >> %s; n=$(grep -cx $t %s);"
    "    case $t in f) echo f broke >&2; exit 1;; esac;"
    "    while [ -e %s ]; do sleep 0.05; done; echo out-$t-$n\"]}},"
    " \"tasks\": [{\"name\": \"f\", \"agent\": \"x\", \"description\": \"f\", \"retries\": 1,"
    "              \"retry_delay_ms\": 10},"
    "            {\"name\": \"s1\", \"agent\": \"x\", \"description\": \"s1\","
    "             \"context\": [\"f\"]},"
    "            {\"name\": \"s2\", \"agent\": \"x\", \"description\": \"s2\","
    "             \"context\": [\"s1\"]},"
    "            {\"name\": \"b\", \"agent\": \"x\", \"description\": \"b\"},"
    "            {\"name\": \"join\", \"agent\": \"x\", \"description\": \"join\","
    "             \"context\": [\"f\", \"b\"]},"
    "            {\"name\": \"after\", \"agent\": \"x\", \"description\": \"after\","
    "             \"context\": [\"b\"]}]}",
    fx->count, fx->count, hold);

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  return path;
}

static char *
task_row (Fixture *fx, const char *run_id, const char *task)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT status || '|' || attempts FROM tasks WHERE run_id = '%%s' AND name = '%s'", task);

  return query (fx, sql, run_id);
}

/* Polls until f is stored as failed for good, its dependants as skipped,
 * and b's 1st attempt as started (and so running, held). */
static char *
wait_for_failed_branch (Fixture *fx, GSubprocess *proc)
{
  for (guint i = 0; i < 1200; i++)
    {
      g_autofree char *run_id = NULL;
      g_autofree char *skipped = NULL;
      g_autofree char *f = NULL;

      if (g_subprocess_get_identifier (proc) == NULL)
        g_error ("weft run exited early");
      if (g_file_test (fx->db, G_FILE_TEST_EXISTS))
        run_id = query (fx, "SELECT run_id FROM runs");
      if (run_id != NULL)
        {
          f = task_row (fx, run_id, "f");
          skipped = query (fx, "SELECT count(*) FROM tasks WHERE run_id = '%s' "
                               "AND status = 'skipped'", run_id);
        }
      if (g_strcmp0 (f, "failed|2") == 0 && g_strcmp0 (skipped, "3") == 0
          && count_started (fx, run_id, "b", 1) == 1)
        return g_steal_pointer (&run_id);
      g_usleep (50 * 1000);
    }
  g_error ("f never failed with b in flight");
}

/* kill -9 after a task failed for good and its dependants were skipped,
 * with another branch in flight, then `weft resume`: what had ended stays
 * as it ended (f is not run again, nothing it skipped runs or is skipped
 * twice), what was in flight finishes, and the run fails, as it would
 * have without the kill. */
static void
test_kill_resume_failed (Fixture *fx, gconstpointer data)
{
  g_autofree char *hold = g_build_filename (fx->dir, "hold", NULL);
  g_autofree char *flow = write_failed_branch_flow (fx, hold);
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "run", "--quiet", "--callback",
                                                         fx->store, flow, NULL });
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(JsonObject) result = NULL;
  g_autofree char *run_id = NULL;
  g_autofree char *run_row = NULL;

  g_file_set_contents (hold, "", 0, &error);
  g_assert_no_error (error);
  proc = g_subprocess_newv ((const char * const *) argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                            | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  g_assert_no_error (error);
  run_id = wait_for_failed_branch (fx, proc);
  g_subprocess_send_signal (proc, SIGKILL);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_runs (fx, "f"), ==, 2);

  g_remove (hold);
  /* A task failed: exit 1, as `weft run` would have exited. */
  g_assert_cmpint (run_weft (fx, (const char *[]) { "resume", run_id, "--store", fx->store,
                                                    "--json", NULL }), ==, 1);
  weft_test_assert_contains (fx->err, "resuming run");
  weft_test_assert_contains (fx->err, "4 failed, skipped or cancelled (kept as they ended)");
  result = parse_object (fx->out);
  g_assert_cmpstr (json_object_get_string_member (result, "status"), ==, "failed");
  weft_test_assert_contains (json_object_get_string_member (result, "error"), "task \"f\"");
  assert_no_repeated_event (fx, run_id);
  assert_story_coherent (fx, run_id);
  assert_seq_complete (fx, run_id);

  run_row = query (fx, "SELECT status || '|' || error FROM runs WHERE run_id = '%s'", run_id);
  g_assert_true (g_str_has_prefix (run_row, "failed|task \"f\" failed"));
  /* f stays failed: not run again, no third attempt. */
  g_autofree char *f = task_row (fx, run_id, "f");
  g_assert_cmpstr (f, ==, "failed|2");
  g_assert_cmpuint (count_runs (fx, "f"), ==, 2);
  g_assert_cmpint (count_started (fx, run_id, "f", 3), ==, 0);
  /* What f skipped stays skipped, with its one task.skipped, and never
   * runs; join is not started by b completing. */
  for (guint i = 0; i < 3; i++)
    {
      const char *task = (const char *[]) { "s1", "s2", "join" }[i];
      g_autofree char *row = task_row (fx, run_id, task);
      g_autofree char *sql = g_strdup_printf (
        "SELECT count(*) FROM events WHERE run_id = '%%s' AND task = '%s'", task);

      g_assert_cmpstr (row, ==, "skipped|0");
      g_assert_cmpint (query_int (fx, sql, run_id), ==, 1);
      g_assert_cmpuint (count_runs (fx, task), ==, 0);
    }
  /* b: attempt 1 cut short, attempt 2 run by the resume; after follows. */
  g_autofree char *b = task_row (fx, run_id, "b");
  g_autofree char *after = task_row (fx, run_id, "after");
  g_assert_cmpstr (b, ==, "completed|2");
  g_assert_cmpstr (after, ==, "completed|1");
  g_assert_cmpint (query_int (fx, "SELECT count(*) FROM events WHERE run_id = '%s' "
                                  "AND type IN ('run.failed', 'run.completed')", run_id), ==, 1);
  g_assert_cmpint (query_int (fx, "SELECT count(*) FROM tasks WHERE run_id = '%s'", run_id),
                   ==, 6);
}

/* How many rows of `table` belong to the run (keys id × 2^32 + n). */
static gint64
count_rows (Fixture *fx, const char *table, const char *run_id)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT count(*) FROM %s t JOIN run_rows r ON t.key BETWEEN r.id << 32 "
    "AND (r.id << 32) + 4294967295 WHERE r.run_id = '%%s'", table);

  return query_int (fx, sql, run_id);
}

/* prune keeps the newest --keep ended runs and those newer than
 * --older-than; delete takes a run's rows from every table. */
static void
test_delete_prune (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_flow (fx, "fork.json", "0", fork_tasks);
  g_autofree char *oldest = run_flow (fx, flow);
  g_autofree char *middle = run_flow (fx, flow);
  g_autofree char *newest = run_flow (fx, flow);
  const char *store = fx->store;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "prune", "--store", store, NULL }),
                   ==, 2);
  weft_test_assert_contains (fx->err, "--older-than");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "prune", "--store", store,
                                                    "--older-than", "soon", NULL }), ==, 2);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "prune", "--store", store,
                                                    "--keep", "1", "--dry-run", NULL }), ==, 0);
  weft_test_assert_contains (fx->out, "would delete 2 run(s)");
  weft_test_assert_contains (fx->out, oldest);
  g_autofree char *kept = query (fx, "SELECT count(*) FROM run_rows");
  g_assert_cmpstr (kept, ==, "3");

  /* All three finished a moment ago. */
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "prune", "--store", store,
                                                    "--older-than", "1h", NULL }), ==, 0);
  weft_test_assert_contains (fx->out, "deleted 0 run(s)");

  g_assert_cmpint (count_rows (fx, "event_rows", oldest), >, 0);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "prune", "--store", store,
                                                    "--keep", "1", NULL }), ==, 0);
  weft_test_assert_contains (fx->out, "deleted 2 run(s)");
  for (guint i = 0; i < 2; i++)
    {
      const char *gone = i == 0 ? oldest : middle;
      g_assert_cmpint (count_rows (fx, "event_rows", gone), ==, 0);
      g_assert_cmpint (count_rows (fx, "task_rows", gone), ==, 0);
      g_assert_cmpint (query_int (fx, "SELECT count(*) FROM runs WHERE run_id = '%s'", gone),
                       ==, 0);
    }
  g_assert_cmpint (count_rows (fx, "task_rows", newest), ==, 4);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "delete", "--store", store,
                                                    newest, "no-such-run", NULL }), ==, 1);
  weft_test_assert_contains (fx->out, newest);
  weft_test_assert_contains (fx->err, "no-such-run");
  for (guint i = 0; i < 4; i++)
    {
      const char *table = (const char *[]) { "run_rows", "run_sources", "task_rows",
                                             "event_rows" }[i];
      g_autofree char *left = query (fx, "SELECT count(*) FROM %s", table);
      g_assert_cmpstr (left, ==, "0");
    }
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", "--store", store, newest,
                                                    NULL }), !=, 0);
}

/* Without --store, history is read from ./weft.db; where there is none,
 * the command says so and leaves no empty database behind. */
static void
test_default_store_missing (Fixture *fx, gconstpointer data)
{
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "runs", "list", NULL });
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *db = g_build_filename (fx->dir, "weft.db", NULL);

  g_subprocess_launcher_set_cwd (launcher, fx->dir);
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv (launcher,
                                                              (const char * const *) argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_test_exit_status (proc), ==, 2);
  g_assert_nonnull (strstr (err, "no weft.db in this directory"));
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
}

/* A --store that names no database (a typo) is an error, not an empty store. */
static void
test_named_store_missing (Fixture *fx, gconstpointer data)
{
  g_autofree char *db = g_build_filename (fx->dir, "typo.db", NULL);
  g_autofree char *spec = g_strdup_printf ("sqlite:path=%s", db);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--store", spec, NULL }),
                   ==, 2);
  weft_test_assert_contains (fx->err, db);
  weft_test_assert_contains (fx->err, "no such database");
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
}

/* --store PATH is the database at PATH: the same store as
 * sqlite:path=PATH, for list, show and replay alike; a path that is not
 * there is refused as the plugin's form is. */
static void
test_store_path (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_flow (fx, "fork.json", "0", fork_tasks);
  g_autofree char *id = run_flow (fx, flow);
  g_autofree char *by_plugin = NULL;
  g_autofree char *typo = g_build_filename (fx->dir, "typo.db", NULL);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--json", "--store",
                                                    fx->store, NULL }), ==, 0);
  by_plugin = g_strdup (fx->out);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--json", "--store",
                                                    fx->db, NULL }), ==, 0);
  g_assert_cmpstr (fx->out, ==, by_plugin);
  weft_test_assert_contains (fx->out, id);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "show", id, "--store", fx->db,
                                                    NULL }), ==, 0);
  weft_test_assert_contains (fx->out, "out-d-");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "replay", id, "--from", "d", "--store",
                                                    fx->db, "--quiet", NULL }), ==, 0);
  g_assert_cmpint (query_int (fx, "SELECT count(*) FROM runs WHERE run_id != '%s'", id), ==, 1);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "runs", "list", "--store", typo, NULL }),
                   ==, 2);
  weft_test_assert_contains (fx->err, "no such database");
  g_assert_false (g_file_test (typo, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/history/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("list-show", test_list_show);
  ADD ("flow-store", test_flow_store);
  ADD ("replay", test_replay);
  ADD ("resume-refuses-ended", test_resume_refuses_ended);
  ADD ("kill-resume", test_kill_resume);
  ADD ("kill-resume-in-flight", test_kill_resume_in_flight);
  ADD ("kill-resume-failed", test_kill_resume_failed);
  ADD ("default-store-missing", test_default_store_missing);
  ADD ("named-store-missing", test_named_store_missing);
  ADD ("store-path", test_store_path);
  ADD ("delete-prune", test_delete_prune);
#undef ADD

  return g_test_run ();
}
