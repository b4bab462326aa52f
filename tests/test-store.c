/* test-store.c — the store contract, one test body for every store: the
 * sqlite plugin (a temporary file) and the postgres plugin (a throwaway
 * cluster, weft-test-pg.h; skipped with a message where PostgreSQL is
 * not installed).  Everything goes through weft.h's store functions and
 * the `weft` command, never a store's own tables, so that what is
 * checked is what the two must agree on (docs/store.md): listing, one
 * run's JSON and its events, replay, resume after kill -9, claims (`live`, a resume or a
 * delete refused while a process holds the run), delete and prune, and
 * migrations of an old database (and a newer one refused).
 */
#include "weft-test.h"
#include "weft-test-pg.h"

#include <signal.h>
#include <sqlite3.h>

static WeftTestPg *cluster;

typedef struct {
  const char *kind;           /* the plugin: "sqlite" or "postgres" */
  WeftEngine *engine;
  char *dir;
  char *database;             /* postgres: the database's name */
  JsonObject *options;        /* the store's options */
  char *spec;                 /* the same as PLUGIN:KEY=VALUE */
  char *weft;
  char *plugin_dir;
  char *count;
  char *out;
  char *err;
} Fixture;

/* ---- fixture -------------------------------------------------------------------- */

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  static guint databases;
  g_autoptr(GError) error = NULL;
  const char *build_root = g_getenv ("WEFT_BUILD_ROOT");

  f->kind = data;
  if (g_str_equal (f->kind, "postgres") && cluster == NULL)
    {
      g_test_skip ("PostgreSQL is not installed (apt-get install postgresql libpq-dev)");
      return;
    }
  f->engine = weft_test_engine_new (2);
  f->dir = g_dir_make_tmp ("weft-test-store-XXXXXX", &error);
  g_assert_no_error (error);
  f->weft = g_build_filename (build_root, "cli", "weft", NULL);
  f->plugin_dir = g_build_filename (build_root, "plugins", NULL);
  f->count = g_build_filename (f->dir, "count", NULL);
  f->options = json_object_new ();
  if (g_str_equal (f->kind, "sqlite"))
    {
      g_autofree char *path = g_build_filename (f->dir, "weft.db", NULL);
      json_object_set_string_member (f->options, "path", path);
      f->spec = g_strdup_printf ("sqlite:path=%s", path);
      return;
    }
  f->database = g_strdup_printf ("store_%u_%u", (guint) getpid (), ++databases);
  g_autofree char *conninfo = weft_test_pg_new_database (cluster, f->database);
  json_object_set_string_member (f->options, "conninfo", conninfo);
  f->spec = g_strdup_printf ("postgres:conninfo=%s", conninfo);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  if (f->engine == NULL)
    return;
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->database);
  json_object_unref (f->options);
  g_free (f->spec);
  g_free (f->weft);
  g_free (f->plugin_dir);
  g_free (f->count);
  g_free (f->out);
  g_free (f->err);
  weft_engine_unref (f->engine);
}

/* ---- flows ---------------------------------------------------------------------- */

/* A diamond of template tasks. */
static const char *const diamond_flow =
  "{\"name\": \"diamond\", \"inputs\": {\"topic\": \"AI\"},"
  " \"agents\": {\"t\": {\"plugin\": \"template\", \"template\": \"{task}: {prompt} [{context}]\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\", \"description\": \"say \\\"{topic}\\\"\"},"
  "             {\"name\": \"b\", \"agent\": \"t\", \"description\": \"b\", \"context\": [\"a\"]},"
  "             {\"name\": \"c\", \"agent\": \"t\", \"description\": \"c\", \"context\": [\"a\"]},"
  "             {\"name\": \"d\", \"agent\": \"t\", \"description\": \"d\","
  "              \"context\": [\"b\", \"c\"]}]}";

/* "broken" fails once, is retried, fails again; "after" is skipped. */
static const char *const failing_flow =
  "{\"name\": \"fails\","
  " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"false\"]},"
  "              \"w\": {\"plugin\": \"template\"}},"
  " \"tasks\": [{\"name\": \"broken\", \"agent\": \"x\", \"description\": \"fail\","
  "              \"retries\": 1, \"retry_delay_ms\": 1},"
  "            {\"name\": \"fine\", \"agent\": \"w\", \"description\": \"fine\"},"
  "            {\"name\": \"after\", \"agent\": \"w\", \"description\": \"x\","
  "             \"context\": [\"broken\"]}]}";

/* Counts events as they are raised. */
static void
count_event (const WeftEvent *event, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

/* Runs `json` with the fixture's store as a callback, and returns the run
 * as weft_run_to_json gives it.  The run and its flow are released before
 * returning, which drains the store: every event is stored.  *events gets
 * the number raised. */
static JsonObject *
run_stored (Fixture *f, const char *json, const WeftKickoffOptions *kickoff, gint *events)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
  g_autoptr(GError) error = NULL;
  WeftKickoffOptions none = { 0 };
  gint n = 0;
  guint id = weft_engine_add_listener (f->engine, count_event, &n, NULL);

  gboolean added = weft_flow_add_callback (flow, f->kind, f->options, &error);
  g_assert_no_error (error);
  g_assert_true (added);
  g_autoptr(WeftRun) run = weft_flow_kickoff_with_options (flow, kickoff ? kickoff : &none,
                                                           NULL, &error);
  g_assert_no_error (error);
  weft_engine_remove_listener (f->engine, id);
  if (events)
    *events = n;
  g_autoptr(JsonNode) node = weft_run_to_json (run);
  return json_object_ref (json_node_get_object (node));
}

static const char *
id_of (JsonObject *run)
{
  return json_object_get_string_member (run, "run_id");
}

/* The output of task `name` in weft_run_to_json's JSON. */
static const char *
output_of (JsonObject *run, const char *name)
{
  JsonArray *tasks = json_object_get_array_member (run, "tasks");

  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);
      if (g_str_equal (json_object_get_string_member (task, "name"), name))
        return json_object_get_string_member (task, "output");
    }
  g_error ("no task %s", name);
}

static WeftStore *
open_store (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  WeftStore *store = weft_store_open (f->engine, f->kind, f->options, &error);

  g_assert_no_error (error);
  return store;
}

static JsonObject *
get_run (WeftStore *store, const char *run_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = weft_store_get_run (store, run_id, &error);

  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (node));
}

static JsonObject *
task_of (JsonObject *run, guint i)
{
  return json_array_get_object_element (json_object_get_array_member (run, "tasks"), i);
}

static gboolean
member_is_null (JsonObject *object, const char *name)
{
  return json_object_has_member (object, name) && json_object_get_null_member (object, name);
}

/* ---- running weft ----------------------------------------------------------------- */

static int
run_weft (Fixture *f, const char *const *args)
{
  g_auto(GStrv) argv = weft_test_weft_argv (f->weft, f->plugin_dir, args);

  return weft_test_run_command ((const char * const *) argv, &f->out, &f->err);
}

/* ---- list and get ------------------------------------------------------------------ */

static void
test_list_get (Fixture *f, gconstpointer data)
{
  gint n_events = 0;

  if (f->engine == NULL)
    return;
  g_autoptr(JsonObject) diamond = run_stored (f, diamond_flow, NULL, &n_events);
  g_autoptr(JsonObject) fails = run_stored (f, failing_flow, NULL, NULL);
  g_autoptr(WeftStore) store = open_store (f);
  g_autoptr(GError) error = NULL;

  g_autoptr(JsonNode) all = weft_store_list_runs (store, 0, &error);
  g_assert_no_error (error);
  JsonArray *runs = json_node_get_array (all);
  g_assert_cmpuint (json_array_get_length (runs), ==, 2);
  /* Newest first, both ended: `live` null. */
  JsonObject *newest = json_array_get_object_element (runs, 0);
  g_assert_cmpstr (json_object_get_string_member (newest, "run_id"), ==,
                   id_of (fails));
  g_assert_cmpstr (json_object_get_string_member (newest, "flow"), ==, "fails");
  g_assert_cmpstr (json_object_get_string_member (newest, "status"), ==, "failed");
  g_assert_nonnull (json_object_get_string_member (newest, "error"));
  g_assert_true (member_is_null (newest, "live"));
  JsonObject *oldest = json_array_get_object_element (runs, 1);
  g_assert_cmpstr (json_object_get_string_member (oldest, "status"), ==, "completed");
  g_assert_true (member_is_null (oldest, "error"));
  g_assert_cmpint (json_object_get_int_member (oldest, "finished_wall_us"), >=,
                   json_object_get_int_member (oldest, "started_wall_us"));

  g_autoptr(JsonNode) one = weft_store_list_runs (store, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (one)), ==, 1);

  g_autoptr(JsonObject) run = get_run (store, id_of (diamond));
  g_assert_cmpstr (json_object_get_string_member (run, "status"), ==, "completed");
  g_assert_cmpstr (json_object_get_string_member (run, "flow_source"), ==, diamond_flow);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (run, "inputs"),
                                                  "topic"), ==, "AI");
  g_assert_cmpint (json_object_get_int_member (run, "last_seq"), ==, n_events);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (run, "tasks")), ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      JsonObject *task = task_of (run, i);
      const char *name = json_object_get_string_member (task, "name");
      g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "completed");
      g_assert_cmpstr (json_object_get_string_member (task, "output"), ==,
                       output_of (diamond, name));
      g_assert_cmpint (json_object_get_int_member (task, "attempts"), ==, 1);
      g_assert_cmpint (json_object_get_int_member (task, "failures"), ==, 0);
    }
  /* In the order the run reached them. */
  g_assert_cmpstr (json_object_get_string_member (task_of (run, 0), "name"), ==, "a");
  g_assert_cmpstr (json_object_get_string_member (task_of (run, 3), "name"), ==, "d");

  g_autoptr(JsonObject) failed = get_run (store, id_of (fails));
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *task = task_of (failed, i);
      const char *name = json_object_get_string_member (task, "name");
      if (g_str_equal (name, "broken"))
        {
          g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "failed");
          g_assert_cmpint (json_object_get_int_member (task, "attempts"), ==, 2);
          g_assert_cmpint (json_object_get_int_member (task, "failures"), ==, 2);
        }
      else if (g_str_equal (name, "after"))
        {
          g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "skipped");
          g_assert_cmpint (json_object_get_int_member (task, "attempts"), ==, 0);
          g_assert_true (member_is_null (task, "started_wall_us"));
          g_assert_nonnull (json_object_get_string_member (task, "error"));
        }
      else
        g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "completed");
    }

  g_autoptr(JsonNode) none = weft_store_get_run (store, "no-such-run", &error);
  g_assert_null (none);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  weft_test_assert_contains (error->message, "no-such-run");
  g_clear_error (&error);

  /* Its events, as they were raised: all, or those after a seq, at most a limit. */
  g_autoptr(JsonNode) events = weft_store_get_events (store, id_of (diamond), 0, 0, &error);
  g_assert_no_error (error);
  JsonArray *all_events = json_node_get_array (events);
  g_assert_cmpuint (json_array_get_length (all_events), ==, (guint) n_events);
  for (guint i = 0; i < (guint) n_events; i++)
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (all_events, i),
                                                 "seq"), ==, i + 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (all_events, 0),
                                                  "type"), ==, "run.started");
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (all_events, n_events - 1), "type"), ==,
                   "run.completed");
  g_autoptr(JsonNode) later = weft_store_get_events (store, id_of (diamond), n_events - 2, 1,
                                                     &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (later)), ==, 1);
  g_assert_cmpint (json_object_get_int_member (
                     json_array_get_object_element (json_node_get_array (later), 0), "seq"), ==,
                   n_events - 1);
  g_autoptr(JsonNode) no_events = weft_store_get_events (
    store, "6d1c0c4e-0000-4000-8000-000000000000", 0, 0, &error);
  g_assert_null (no_events);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
}

/* ---- replay ----------------------------------------------------------------------- */

/* A new run of the stored flow text and inputs that reuses what "b" does
 * not reach: a and c, with attempt 0. */
static void
test_replay (Fixture *f, gconstpointer data)
{
  if (f->engine == NULL)
    return;
  g_autoptr(JsonObject) old = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(WeftStore) store = open_store (f);
  g_autoptr(JsonObject) stored = get_run (store, id_of (old));
  g_autoptr(JsonObject) completed = json_object_new ();

  for (guint i = 0; i < 4; i++)
    {
      JsonObject *task = task_of (stored, i);
      const char *name = json_object_get_string_member (task, "name");
      if (g_str_equal (name, "a") || g_str_equal (name, "c"))
        json_object_set_string_member (completed, name,
                                       json_object_get_string_member (task, "output"));
    }
  WeftKickoffOptions kickoff = {
    .inputs = json_object_get_object_member (stored, "inputs"),
    .completed = completed,
  };
  g_autoptr(JsonObject) replay = run_stored (f, json_object_get_string_member (stored,
                                                                             "flow_source"),
                                           &kickoff, NULL);
  g_assert_cmpstr (json_object_get_string_member (replay, "status"), ==, "completed");
  g_assert_cmpstr (id_of (replay), !=, id_of (old));

  g_autoptr(JsonObject) again = get_run (store, id_of (replay));
  for (guint i = 0; i < 4; i++)
    {
      JsonObject *task = task_of (again, i);
      const char *name = json_object_get_string_member (task, "name");
      gboolean reused = g_str_equal (name, "a") || g_str_equal (name, "c");
      g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "completed");
      g_assert_cmpint (json_object_get_int_member (task, "attempts"), ==, reused ? 0 : 1);
    }
}

/* ---- resume and claims ------------------------------------------------------------------ */

/* a → b → c → d, each appending its name to the count file; b then waits
 * for the gate file (or for the test's directory to go), so that a test
 * knows where the run is, however slow the machine: c cannot start before
 * the test opens the gate. */
static char *
write_chain (Fixture *f, const char *gate)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (f->dir, "chain.json", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"chain\","
    " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"sh\", \"-c\","
    "   \"read t rest; echo $t >> %s; if [ $t = b ]; then"
    "    until [ -e %s ] || [ ! -d %s ]; do sleep 0.05; done; fi; echo out-$t\"]}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"x\", \"description\": \"a\"},"
    "   {\"name\": \"b\", \"agent\": \"x\", \"description\": \"b\", \"context\": [\"a\"]},"
    "   {\"name\": \"c\", \"agent\": \"x\", \"description\": \"c\", \"context\": [\"b\"]},"
    "   {\"name\": \"d\", \"agent\": \"x\", \"description\": \"d\", \"context\": [\"c\"]}]}",
    f->count, gate, f->dir);

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  return path;
}

/* The one run the store has, once it is stored as running with task
 * `task` completed; *store opened once there is one (sqlite's file is
 * made by the run). */
static char *
wait_for_task (Fixture *f, WeftStore **store, GSubprocess *proc, const char *task)
{
  for (guint i = 0; i < 1200; i++)
    {
      if (*store == NULL)
        *store = weft_store_open (f->engine, f->kind, f->options, NULL);
      g_autoptr(JsonNode) runs = *store ? weft_store_list_runs (*store, 1, NULL) : NULL;
      JsonArray *list = runs ? json_node_get_array (runs) : NULL;
      if (g_subprocess_get_identifier (proc) == NULL)
        g_error ("weft run exited early");
      if (list != NULL && json_array_get_length (list) == 1)
        {
          const char *run_id = json_object_get_string_member (
            json_array_get_object_element (list, 0), "run_id");
          g_autoptr(JsonObject) run = get_run (*store, run_id);
          JsonArray *tasks = json_object_get_array_member (run, "tasks");
          for (guint t = 0; t < json_array_get_length (tasks); t++)
            {
              JsonObject *one = json_array_get_object_element (tasks, t);
              if (g_str_equal (json_object_get_string_member (one, "name"), task)
                  && g_str_equal (json_object_get_string_member (one, "status"), "completed"))
                return g_strdup (run_id);
            }
        }
      g_usleep (50 * 1000);
    }
  g_error ("weft run made no progress");
}

static gboolean
run_is_live (WeftStore *store, const char *run_id)
{
  g_autoptr(JsonObject) run = get_run (store, run_id);

  g_assert_cmpstr (json_object_get_string_member (run, "status"), ==, "running");
  return json_object_get_boolean_member (run, "live");
}

/* kill -9 partway through the chain (b held at its gate): while the
 * process lives, the run is live and neither a resume nor a delete may
 * touch it; once it is dead, the run is interrupted, and `weft resume`
 * finishes it without running a again. */
static void
test_kill_resume (Fixture *f, gconstpointer data)
{
  if (f->engine == NULL)
    return;
  g_autofree char *gate = g_build_filename (f->dir, "gate", NULL);
  g_autofree char *flow = write_chain (f, gate);
  g_auto(GStrv) argv = weft_test_weft_argv (f->weft, f->plugin_dir, (const char *[]) {
    "run", "--quiet", "--callback", f->spec, flow, NULL });
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = g_subprocess_newv ((const char * const *) argv,
                                                   G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  g_assert_no_error (error);
  g_autoptr(WeftStore) store = NULL;
  g_autofree char *run_id = wait_for_task (f, &store, proc, "a");

  /* Opened again: sqlite's reader looks at the claims file only if it was
   * there when the store was opened, and the run's process may have made
   * it a moment after the database. */
  g_clear_pointer (&store, weft_store_free);
  store = open_store (f);
  g_assert_true (run_is_live (store, run_id));
  g_assert_cmpint (run_weft (f, (const char *[]) { "resume", run_id, "--store", f->spec,
                                                   "--quiet", NULL }), ==, 2);
  weft_test_assert_contains (f->err, "still being run by another process");
  g_assert_cmpint (run_weft (f, (const char *[]) { "runs", "delete", run_id, "--store",
                                                   f->spec, NULL }), ==, 1);
  weft_test_assert_contains (f->err, "live process");

  g_subprocess_send_signal (proc, SIGKILL);
  g_subprocess_wait (proc, NULL, NULL);
  /* The session or the lock goes with the process; postgres notices a
   * dead client's socket at once, but give it a moment. */
  for (guint i = 0; i < 100 && run_is_live (store, run_id); i++)
    g_usleep (50 * 1000);
  g_assert_false (run_is_live (store, run_id));
  g_assert_cmpint (run_weft (f, (const char *[]) { "runs", "list", "--store", f->spec, NULL }),
                   ==, 0);
  weft_test_assert_contains (f->out, "interrupted");

  /* b, run again by the resume, may finish now (as may the one the killed
   * process left waiting). */
  g_file_set_contents (gate, "", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (run_weft (f, (const char *[]) { "resume", run_id, "--store", f->spec,
                                                   "--quiet", NULL }), ==, 0);
  g_autoptr(JsonObject) run = get_run (store, run_id);
  g_assert_cmpstr (json_object_get_string_member (run, "status"), ==, "completed");
  g_assert_true (member_is_null (run, "live"));
  g_autofree char *counted = NULL;
  g_file_get_contents (f->count, &counted, NULL, NULL);
  /* a ran once; b was in flight (twice at most); c and d once. */
  g_auto(GStrv) lines = g_strsplit (counted, "\n", -1);
  guint a = 0, c = 0, d = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      a += g_str_equal (lines[i], "a");
      c += g_str_equal (lines[i], "c");
      d += g_str_equal (lines[i], "d");
    }
  g_assert_cmpuint (a, ==, 1);
  g_assert_cmpuint (c, ==, 1);
  g_assert_cmpuint (d, ==, 1);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpstr (json_object_get_string_member (task_of (run, i), "status"), ==,
                     "completed");
  g_assert_cmpint (json_object_get_int_member (task_of (run, 0), "attempts"), ==, 1);
}

/* ---- delete and prune ------------------------------------------------------------------- */

static void
test_delete_prune (Fixture *f, gconstpointer data)
{
  if (f->engine == NULL)
    return;
  g_autoptr(JsonObject) oldest = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(JsonObject) middle = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(JsonObject) newest = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(WeftStore) store = open_store (f);
  g_autoptr(GError) error = NULL;

  g_assert_true (weft_store_delete_run (store, id_of (middle), &error));
  g_assert_no_error (error);
  g_assert_null (weft_store_get_run (store, id_of (middle), &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (weft_store_delete_run (store, "no-such-run", &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_cmpint (run_weft (f, (const char *[]) { "runs", "prune", "--store", f->spec,
                                                   "--keep", "1", NULL }), ==, 0);
  weft_test_assert_contains (f->out, "deleted 1 run(s)");
  g_autoptr(JsonNode) left = weft_store_list_runs (store, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (left)), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (
                     json_node_get_array (left), 0), "run_id"), ==, id_of (newest));
  g_assert_null (weft_store_get_run (store, id_of (oldest), &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
}

/* ---- migrations ----------------------------------------------------------------------- */

/* Version 1 of the postgres store's schema as released, with one finished
 * run: what an older weft left (sqlite's: weft-test.h). */
static const char *const postgres_v1 =
  "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_wall_us bigint NOT NULL);"
  "INSERT INTO schema_version VALUES (1, 0);"
  "CREATE TABLE flow_texts (id bigserial PRIMARY KEY, sha256 text NOT NULL UNIQUE,"
  "  text text NOT NULL);"
  "CREATE TABLE run_rows (id bigserial PRIMARY KEY, run_id text NOT NULL UNIQUE, flow text,"
  "  status text NOT NULL, error text, started_wall_us bigint, finished_wall_us bigint);"
  "CREATE INDEX runs_by_start ON run_rows (started_wall_us);"
  "CREATE TABLE run_sources (id bigint PRIMARY KEY, inputs text, flow_text bigint);"
  "CREATE TABLE task_rows (run bigint NOT NULL, name text NOT NULL, ord bigint NOT NULL,"
  "  status text NOT NULL, output text, error text, attempts integer NOT NULL DEFAULT 0,"
  "  failures integer NOT NULL DEFAULT 0, started_wall_us bigint, finished_wall_us bigint,"
  "  PRIMARY KEY (run, name));"
  "CREATE TABLE event_rows (run bigint NOT NULL, seq bigint NOT NULL, json text NOT NULL,"
  "  PRIMARY KEY (run, seq));"
  "CREATE VIEW runs AS SELECT r.id, r.run_id, r.flow, r.status, r.error, s.inputs,"
  "  t.text AS flow_source, r.started_wall_us, r.finished_wall_us,"
  "  (SELECT coalesce (max (e.seq), 0) FROM event_rows e WHERE e.run = r.id) AS last_seq"
  "  FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id"
  "  LEFT JOIN flow_texts t ON t.id = s.flow_text;"
  "INSERT INTO run_rows (run_id, flow, status, started_wall_us, finished_wall_us)"
  "  VALUES ('old-run', 'old', 'completed', 1, 2);";

/* Runs `sql` on the fixture's empty database, made with nothing else. */
static void
write_database (Fixture *f, const char *sql)
{
  if (g_str_equal (f->kind, "sqlite"))
    {
      sqlite3 *db = NULL;
      char *message = NULL;
      g_assert_cmpint (sqlite3_open (json_object_get_string_member (f->options, "path"), &db),
                       ==, SQLITE_OK);
      if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
        g_error ("%s", message);
      sqlite3_close (db);
      return;
    }
  PGconn *conn = weft_test_pg_connect (cluster, f->database);
  weft_test_pg_exec (conn, sql);
  PQfinish (conn);
}

static void
test_migrations (Fixture *f, gconstpointer data)
{
  if (f->engine == NULL)
    return;
  g_autoptr(GError) error = NULL;

  write_database (f, g_str_equal (f->kind, "sqlite") ? WEFT_TEST_SQLITE_SCHEMA_V1
                                                   : postgres_v1);
  {
    /* Opened: brought to the current schema, the old run still there, and
     * new runs stored beside it. */
    g_autoptr(WeftStore) store = open_store (f);
    g_autoptr(JsonObject) old = get_run (store, "old-run");
    g_assert_cmpstr (json_object_get_string_member (old, "status"), ==, "completed");
  }
  g_autoptr(JsonObject) run = run_stored (f, diamond_flow, NULL, NULL);
  g_assert_cmpstr (json_object_get_string_member (run, "status"), ==, "completed");
  g_autoptr(WeftStore) store = open_store (f);
  g_autoptr(JsonNode) all = weft_store_list_runs (store, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (all)), ==, 2);

  /* A version this weft does not know: refused, naming both, unchanged. */
  write_database (f, "INSERT INTO schema_version VALUES (999, 0)");
  g_autoptr(WeftStore) newer = weft_store_open (f->engine, f->kind, f->options, &error);
  g_assert_null (newer);
  g_assert_nonnull (error);
  weft_test_assert_contains (error->message, "999");
  weft_test_assert_contains (error->message, "newer");
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  cluster = weft_test_pg_start_or_say ();

#define ADD(kind, path, func) \
  g_test_add ("/store/" kind "/" path, Fixture, kind, fixture_set_up, func, fixture_tear_down)
#define ADD_BOTH(path, func) ADD ("sqlite", path, func); ADD ("postgres", path, func)
  ADD_BOTH ("list-get", test_list_get);
  ADD_BOTH ("replay", test_replay);
  ADD_BOTH ("kill-resume", test_kill_resume);
  ADD_BOTH ("delete-prune", test_delete_prune);
  ADD_BOTH ("migrations", test_migrations);
#undef ADD_BOTH
#undef ADD

  status = g_test_run ();
  weft_test_pg_stop (cluster);
  return status;
}
