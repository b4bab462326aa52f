/* test-sqlite.c — the sqlite store plugin, checked against the file itself.
 *
 * Flows run with the sqlite callback into a temporary database; the file
 * is then read back with the sqlite3 library directly, not through the
 * plugin: rows, event numbering, WAL mode, the schema version.  The store
 * capability (weft_store_*) is checked for the shapes of docs/store.md, and
 * the migrations for an old and a too new database.
 */
#include "weft-test.h"

#include <sqlite3.h>

typedef struct {
  WeftEngine *engine;
  char *dir;
  char *db;
} Fixture;

/* A diamond of template tasks whose outputs need JSON escaping: quotes,
 * backslashes, newlines, tabs, a control character and non-ASCII text. */
static const char *const diamond_flow =
  "{\"name\": \"diamond\", \"inputs\": {\"topic\": \"AI\"},"
  " \"agents\": {\"t\": {\"plugin\": \"template\", \"template\": \"{task}: {prompt} [{context}]\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\","
  "              \"description\": \"say \\\"{topic}\\\" \\\\ back\\nslash\\ttab \\u0001 é ✓\"},"
  "             {\"name\": \"b\", \"agent\": \"t\", \"description\": \"b\", \"context\": [\"a\"]},"
  "             {\"name\": \"c\", \"agent\": \"t\", \"description\": \"c\", \"context\": [\"a\"]},"
  "             {\"name\": \"d\", \"agent\": \"t\", \"description\": \"d\", \"context\": [\"b\", \"c\"]}]}";

/* "broken" fails; "after" needs it and is skipped; "fine" completes. */
static const char *const failing_flow =
  "{\"name\": \"fails\","
  " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"false\"]},"
  "              \"w\": {\"plugin\": \"template\"}},"
  " \"tasks\": [{\"name\": \"broken\", \"agent\": \"x\", \"description\": \"fail\"},"
  "            {\"name\": \"fine\", \"agent\": \"w\", \"description\": \"fine\"},"
  "            {\"name\": \"after\", \"agent\": \"w\", \"description\": \"x\","
  "             \"context\": [\"broken\"]}]}";

/* ---- fixture -------------------------------------------------------------- */

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->engine = weft_test_engine_new (2);
  f->dir = g_dir_make_tmp ("weft-test-sqlite-XXXXXX", &error);
  g_assert_no_error (error);
  f->db = g_build_filename (f->dir, "weft.db", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_remove (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->db);
  weft_engine_unref (f->engine);
}

static JsonObject *
store_options (const char *path)
{
  JsonObject *options = json_object_new ();

  json_object_set_string_member (options, "path", path);
  return options;
}

/* ---- reading the file directly -------------------------------------------- */

static sqlite3 *
open_db (const char *path)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  return db;
}

static sqlite3 *
open_db_create (const char *path)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                   ==, SQLITE_OK);
  return db;
}

/* The first column of the first row of `sql`, as text (NULL for SQL NULL). */
static char *
query_text (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  char *value = NULL;

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("%s: %s", sql, sqlite3_errmsg (db));
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  return value;
}

static gint64
query_int (sqlite3 *db, const char *sql)
{
  g_autofree char *text = query_text (db, sql);

  g_assert_nonnull (text);
  return g_ascii_strtoll (text, NULL, 10);
}

static void
exec_sql (sqlite3 *db, const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

/* ---- running flows ---------------------------------------------------------- */

/* Every event's JSON as the SDK writes it, by seq. */
typedef struct {
  GMutex lock;
  GHashTable *json;
} Expected;

static void
expect_event (const WeftEvent *event, gpointer data)
{
  Expected *e = data;

  g_mutex_lock (&e->lock);
  g_hash_table_insert (e->json, GUINT_TO_POINTER ((guint) weft_event_get_seq (event)),
                       weft_event_to_json (event));
  g_mutex_unlock (&e->lock);
}

/* What a test keeps of a run: the run itself holds its flow, and with it
 * the callback, so it must go before the file is read. */
typedef struct {
  char *id;
  WeftStatus status;
  GPtrArray *outputs;         /* by task index */
} Ran;

static void
ran_free (Ran *ran)
{
  g_free (ran->id);
  g_ptr_array_unref (ran->outputs);
  g_free (ran);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Ran, ran_free)

/* Runs `json` with the sqlite callback writing to the fixture's file.  The
 * run and flow are released before returning, which drains the callback:
 * every event is committed.  With `expected`, each event's SDK JSON is
 * kept in it. */
static Ran *
run_stored (Fixture *f, const char *json, const WeftKickoffOptions *kickoff, Expected *expected)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = NULL;
  WeftKickoffOptions none = { 0 };
  Ran *ran = g_new0 (Ran, 1);
  guint id = 0;

  g_assert_true (weft_flow_add_callback (flow, "sqlite", options, &error));
  g_assert_no_error (error);
  if (expected)
    id = weft_engine_add_listener (f->engine, expect_event, expected, NULL);
  run = weft_flow_kickoff_with_options (flow, kickoff ? kickoff : &none, NULL, &error);
  if (expected)
    weft_engine_remove_listener (f->engine, id);
  g_assert_no_error (error);
  ran->id = g_strdup (weft_run_get_id (run));
  ran->status = weft_run_get_status (run);
  ran->outputs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    g_ptr_array_add (ran->outputs, g_strdup (weft_run_get_task_output (run, i)));
  return ran;
}

/* ---- tests ------------------------------------------------------------------ */

static void
check_events (sqlite3 *db, const char *run_id, Expected *expected, guint n)
{
  g_autofree char *sql = g_strdup_printf ("SELECT seq, json, type FROM events WHERE run_id = '%s' "
                                          "ORDER BY seq", run_id);
  sqlite3_stmt *stmt = NULL;
  guint i = 0;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      guint seq = (guint) sqlite3_column_int64 (stmt, 0);
      const char *json = (const char *) sqlite3_column_text (stmt, 1);

      /* 1..N: no gaps, no duplicates. */
      g_assert_cmpuint (seq, ==, ++i);
      /* Stored as the SDK writes it, byte for byte. */
      g_assert_cmpstr (json, ==, g_hash_table_lookup (expected->json, GUINT_TO_POINTER (seq)));
    }
  sqlite3_finalize (stmt);
  g_assert_cmpuint (i, ==, n);
}

static void
test_rows (Fixture *f, gconstpointer data)
{
  Expected expected = { .json = g_hash_table_new_full (NULL, NULL, NULL, g_free) };
  g_mutex_init (&expected.lock);
  g_autoptr(Ran) run = run_stored (f, diamond_flow, NULL, &expected);
  const char *id = run->id;
  sqlite3 *db = open_db (f->db);
  g_autofree char *sql = NULL;
  g_autofree char *text = NULL;

  g_assert_cmpint (run->status, ==, WEFT_STATUS_COMPLETED);
  text = query_text (db, "PRAGMA journal_mode");
  g_assert_cmpstr (text, ==, "wal");
  g_assert_cmpint (query_int (db, "SELECT max(version) FROM schema_version"), ==, 8);

  /* run.started, 4 × (started, completed), run.completed */
  guint n = g_hash_table_size (expected.json);
  g_assert_cmpuint (n, ==, 10);
  check_events (db, id, &expected, n);

  g_clear_pointer (&sql, g_free);
  sql = g_strdup_printf ("SELECT status || '|' || flow || '|' || inputs || '|' || last_seq || '|' "
                         "|| (finished_wall_us >= started_wall_us) FROM runs WHERE run_id = '%s'", id);
  g_clear_pointer (&text, g_free);
  text = query_text (db, sql);
  g_assert_cmpstr (text, ==, "completed|diamond|{\"topic\":\"AI\"}|10|1");
  g_clear_pointer (&sql, g_free);
  sql = g_strdup_printf ("SELECT flow_source FROM runs WHERE run_id = '%s'", id);
  g_clear_pointer (&text, g_free);
  text = query_text (db, sql);
  g_assert_cmpstr (text, ==, diamond_flow);

  for (guint i = 0; i < 4; i++)
    {
      const char *name = (const char *[]) { "a", "b", "c", "d" }[i];
      g_autofree char *q = g_strdup_printf (
        "SELECT status || '|' || attempts || '|' || (finished_wall_us >= started_wall_us) "
        "FROM tasks WHERE run_id = '%s' AND name = '%s'", id, name);
      g_autofree char *o = g_strdup_printf (
        "SELECT output FROM tasks WHERE run_id = '%s' AND name = '%s'", id, name);
      g_autofree char *row = query_text (db, q);
      g_autofree char *output = query_text (db, o);

      g_assert_cmpstr (row, ==, "completed|1|1");
      g_assert_cmpstr (output, ==, run->outputs->pdata[i]);
    }
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM tasks"), ==, 4);
  sqlite3_close (db);
  g_hash_table_unref (expected.json);
  g_mutex_clear (&expected.lock);
}

/* A flow's text is stored once, however many runs it has; each run still
 * gives it back whole. */
static void
test_flow_text_once (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) first = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(Ran) second = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(Ran) other = run_stored (f, failing_flow, NULL, NULL);
  sqlite3 *db = open_db (f->db);

  g_assert_cmpint (query_int (db, "SELECT count(*) FROM run_sources"), ==, 3);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM flow_texts"), ==, 2);
  for (guint i = 0; i < 3; i++)
    {
      Ran *ran = (Ran *[]) { first, second, other }[i];
      g_autofree char *sql = g_strdup_printf ("SELECT flow_source FROM runs WHERE run_id = '%s'",
                                              ran->id);
      g_autofree char *text = query_text (db, sql);
      g_assert_cmpstr (text, ==, i < 2 ? diamond_flow : failing_flow);
    }
  sqlite3_close (db);
}

static void
test_failed_run (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) run = run_stored (f, failing_flow, NULL, NULL);
  sqlite3 *db = open_db (f->db);
  g_autofree char *runs = query_text (db, "SELECT status || '|' || (error IS NOT NULL) FROM runs");
  g_autofree char *broken = query_text (db, "SELECT status || '|' || error FROM tasks "
                                            "WHERE name = 'broken'");
  g_autofree char *after = query_text (db, "SELECT status || '|' || attempts || '|' "
                                           "|| (started_wall_us IS NULL) FROM tasks "
                                           "WHERE name = 'after'");
  g_autofree char *fine = query_text (db, "SELECT status FROM tasks WHERE name = 'fine'");

  g_assert_cmpint (run->status, ==, WEFT_STATUS_FAILED);
  g_assert_cmpstr (runs, ==, "failed|1");
  weft_test_assert_contains (broken, "failed|");
  weft_test_assert_contains (broken, "false");
  g_assert_cmpstr (after, ==, "skipped|0|1");
  g_assert_cmpstr (fine, ==, "completed");
  sqlite3_close (db);
}

/* A second delivery of stored events changes nothing: a resume that
 * numbers its events from 0 again has them all ignored. */
static void
test_no_event_twice (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) first = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(JsonObject) completed = json_object_new ();
  sqlite3 *db = open_db (f->db);
  gint64 before = query_int (db, "SELECT count(*) FROM events");
  g_autofree char *row_before = query_text (db, "SELECT status || last_seq || finished_wall_us "
                                                "FROM runs");

  for (guint i = 0; i < 4; i++)
    json_object_set_string_member (completed, (const char *[]) { "a", "b", "c", "d" }[i],
                                   first->outputs->pdata[i]);
  WeftKickoffOptions again = { .completed = completed, .resume_run_id = first->id,
                               .resume_seq = 0 };
  g_autoptr(Ran) second = run_stored (f, diamond_flow, &again, NULL);
  g_autofree char *row_after = query_text (db, "SELECT status || last_seq || finished_wall_us "
                                               "FROM runs");

  g_assert_cmpint (second->status, ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM events"), ==, before);
  g_assert_cmpstr (row_after, ==, row_before);
  sqlite3_close (db);
}

static JsonObject *
find_task (JsonArray *tasks, const char *name)
{
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);
      if (g_strcmp0 (json_object_get_string_member (task, "name"), name) == 0)
        return task;
    }
  return NULL;
}

static void
check_run_shape (JsonObject *run, Ran *expected)
{
  static const char *const keys[] = { "run_id", "flow", "status", "error", "inputs",
                                      "flow_source", "started_wall_us", "finished_wall_us",
                                      "last_seq", "tasks", NULL };
  static const char *const task_keys[] = { "name", "status", "output", "error", "attempts",
                                           "started_wall_us", "finished_wall_us", NULL };

  for (guint i = 0; keys[i]; i++)
    g_assert_true (json_object_has_member (run, keys[i]));
  g_assert_cmpstr (json_object_get_string_member (run, "run_id"), ==, expected->id);
  g_assert_cmpstr (json_object_get_string_member (run, "status"), ==, "completed");
  g_assert_true (json_object_get_null_member (run, "error"));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (run, "inputs"),
                                                  "topic"), ==, "AI");
  g_assert_cmpint (json_object_get_int_member (run, "last_seq"), ==, 10);

  JsonArray *tasks = json_object_get_array_member (run, "tasks");
  g_assert_cmpuint (json_array_get_length (tasks), ==, 4);
  /* In the order the run reached them: a first, d last. */
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tasks, 0),
                                                  "name"), ==, "a");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tasks, 3),
                                                  "name"), ==, "d");
  JsonObject *d = find_task (tasks, "d");
  for (guint i = 0; task_keys[i]; i++)
    g_assert_true (json_object_has_member (d, task_keys[i]));
  g_assert_cmpstr (json_object_get_string_member (d, "output"), ==,
                   expected->outputs->pdata[3]);
  g_assert_cmpint (json_object_get_int_member (d, "attempts"), ==, 1);
}

static void
test_store_api (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) older = run_stored (f, failing_flow, NULL, NULL);
  g_autoptr(Ran) run = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);
  g_autoptr(JsonNode) list = NULL;
  g_autoptr(JsonNode) one = NULL;
  g_autoptr(JsonNode) missing = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (older->status, ==, WEFT_STATUS_FAILED);
  list = weft_store_list_runs (store, 0, &error);
  g_assert_no_error (error);
  JsonArray *runs = json_node_get_array (list);
  g_assert_cmpuint (json_array_get_length (runs), ==, 2);
  /* Newest first. */
  JsonObject *newest = json_array_get_object_element (runs, 0);
  g_assert_cmpstr (json_object_get_string_member (newest, "run_id"), ==, run->id);
  g_assert_cmpstr (json_object_get_string_member (newest, "flow"), ==, "diamond");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (runs, 1),
                                                  "status"), ==, "failed");
  for (guint i = 0; i < 6; i++)
    g_assert_true (json_object_has_member (newest, (const char *[]) {
      "run_id", "flow", "status", "started_wall_us", "finished_wall_us", "error" }[i]));
  g_clear_pointer (&list, json_node_unref);
  list = weft_store_list_runs (store, 1, &error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (list)), ==, 1);

  one = weft_store_get_run (store, run->id, &error);
  g_assert_no_error (error);
  check_run_shape (json_node_get_object (one), run);

  missing = weft_store_get_run (store, "no-such-run", &error);
  g_assert_null (missing);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  weft_test_assert_contains (error->message, "no-such-run");
}

/* A stored row is text from outside: inputs another program wrote as
 * 100,000 "[" (or as 1e999) read back as null, without a crash. */
static void
test_hostile_row (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) run = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (f->db, &db), ==, SQLITE_OK);
  g_autofree char *deep = g_strnfill (100000, '[');
  g_autofree char *sql = g_strdup_printf ("UPDATE run_sources SET inputs = '%s' WHERE id = "
                                          "(SELECT id FROM run_rows WHERE run_id = '%s')", deep,
                                          run->id);
  exec_sql (db, sql);
  sqlite3_close (db);
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_no_error (error);
  g_autoptr(JsonNode) one = weft_store_get_run (store, run->id, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_get_null_member (json_node_get_object (one), "inputs"));
}

/* A flow that declares the store gives it back with weft_flow_dup_store. */
static void
test_flow_store (Fixture *f, gconstpointer data)
{
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"s\", \"agents\": {\"t\": {\"plugin\": \"template\"}},"
    " \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\", \"description\": \"x\"}]}", f->db);
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_autoptr(WeftStore) store = weft_flow_dup_store (flow);
  g_autoptr(JsonNode) node = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_nonnull (store);
  /* Read while the flow's writer is open: the run may not be committed
   * yet, but the read must not fail or block. */
  node = weft_store_list_runs (store, 0, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
}

static void
store_result (GObject *source, GAsyncResult *result, gpointer data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

/* The one run the store lists, once it does (its row is committed by the
 * writer's dispatcher thread, a moment after the kickoff). */
static JsonObject *
wait_for_stored_run (WeftStore *store)
{
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) list = weft_store_list_runs (store, 0, &error);

      g_assert_no_error (error);
      if (json_array_get_length (json_node_get_array (list)) > 0)
        return json_object_ref (json_array_get_object_element (json_node_get_array (list), 0));
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
    }
}

/* The stored run `run_id` once it is no longer "running": the run's end
 * is committed when its flow's callbacks drain, which is this thread's
 * unref of the flow only when the engine loop has let go of the run
 * first; otherwise a thread of the engine's does it a moment later. */
static JsonNode *
wait_for_stored_end (WeftStore *store, const char *run_id)
{
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) run = weft_store_get_run (store, run_id, &error);

      g_assert_no_error (error);
      if (g_strcmp0 (json_object_get_string_member (json_node_get_object (run), "status"),
                     "running") != 0)
        return g_steal_pointer (&run);
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
    }
}

/* A run that a live instance is running is live in the store, and another
 * instance of the same file (another process, as far as the lock goes)
 * cannot resume it; once it has ended, it is not live any more. */
static void
test_claims (Fixture *f, gconstpointer data)
{
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"held\", \"agents\": {\"slow\": {\"plugin\": \"test-agent\","
    " \"sleep_ms\": 600000}},"
    " \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"slow\", \"description\": \"x\"}]}", f->db);
  WeftFlow *running = weft_test_flow (f->engine, json);
  g_autoptr(WeftFlow) other = weft_test_flow (f->engine, json);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(JsonObject) stored = NULL;
  g_autoptr(JsonNode) after = NULL;
  g_autoptr(WeftRun) resumed = NULL;
  g_autoptr(WeftRun) run = NULL;
  g_autofree char *run_id = NULL;

  g_assert_no_error (error);
  weft_flow_kickoff_async (running, NULL, cancellable, store_result, &result);
  stored = wait_for_stored_run (store);
  run_id = g_strdup (json_object_get_string_member (stored, "run_id"));
  g_assert_cmpstr (json_object_get_string_member (stored, "status"), ==, "running");
  g_assert_true (json_object_get_boolean_member (stored, "live"));

  WeftKickoffOptions resume = { .resume_run_id = run_id, .resume_seq = 2 };
  resumed = weft_flow_kickoff_with_options (other, &resume, NULL, &error);
  g_assert_null (resumed);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_BUSY);
  weft_test_assert_contains (error->message, f->db);
  weft_test_assert_contains (error->message, run_id);
  weft_test_assert_contains (error->message, "another process");
  g_clear_error (&error);

  g_cancellable_cancel (cancellable);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  run = weft_flow_kickoff_finish (running, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_CANCELLED);
  g_clear_pointer (&run, weft_run_unref);
  g_clear_object (&result);
  /* The cancelled attempt may still be on its worker, holding the run and
   * so the flow: once the engine has let it go, the flow's last reference
   * is the test's.  Released: its callback drains, and the run's end is
   * committed. */
  weft_engine_shutdown (f->engine, 5000);
  weft_flow_unref (running);
  after = wait_for_stored_end (store, run_id);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (after), "status"), ==,
                   "cancelled");
  g_assert_true (json_object_get_null_member (json_node_get_object (after), "live"));
}

/* The stored task named `name` in get_run's answer. */
static JsonObject *
stored_task (JsonNode *run, const char *name)
{
  JsonObject *task = find_task (json_object_get_array_member (json_node_get_object (run),
                                                              "tasks"), name);
  g_assert_nonnull (task);
  return task;
}

/* What a writer that died leaves: its last committed events, and rows of
 * tasks that had only started still in its memory (docs/store.md,
 * Writing).  Made here from a finished run: its end taken away, c's row
 * one attempt behind (its attempt 1 failed, attempt 2 started: seq 11 and
 * 12), d's row never written. */
static void
make_interrupted (sqlite3 *db, const char *run_id)
{
  g_autofree char *sql = g_strdup_printf (
    "UPDATE run_rows SET status = 'running', finished_wall_us = NULL WHERE run_id = '%s';"
    "CREATE TEMP TABLE k AS SELECT id << 32 AS lo, (id << 32) + 4294967295 AS hi "
    "  FROM run_rows WHERE run_id = '%s';"
    "DELETE FROM event_rows WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k)"
    "  AND (json_extract (json, '$.type') = 'run.completed'"
    "       OR (json_extract (json, '$.type') = 'task.completed'"
    "           AND json_extract (json, '$.task') IN ('c', 'd')));"
    "UPDATE task_rows SET status = 'retrying', output = NULL, error = 'boom',"
    "  finished_wall_us = NULL"
    "  WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k) AND name = 'c';"
    "INSERT INTO event_rows (key, json) SELECT lo + 11,"
    "  '{\"type\":\"task.retrying\",\"seq\":11,\"task\":\"c\",\"attempt\":1}' FROM k;"
    "INSERT INTO event_rows (key, json) SELECT lo + 12,"
    "  '{\"type\":\"task.started\",\"seq\":12,\"task\":\"c\",\"attempt\":2,"
    "    \"wall_us\":1}' FROM k;"
    "DELETE FROM task_rows WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k)"
    "  AND name = 'd';"
    "DROP TABLE k;", run_id, run_id);

  exec_sql (db, sql);
}

/* get_run tells a task's attempts from its events, not only from its row
 * (which a writer that died may not have written), with the failures
 * among them; a resume fed with them runs each attempt in flight again
 * as the next one, and stores no event twice. */
static void
test_resume_after_lag (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) first = run_stored (f, diamond_flow, NULL, NULL);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);
  g_autoptr(JsonObject) completed = json_object_new ();
  g_autoptr(JsonNode) stored = NULL;
  sqlite3 *db = open_db (f->db);

  g_assert_no_error (error);
  make_interrupted (db, first->id);
  stored = weft_store_get_run (store, first->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
                      json_node_get_object (stored), "tasks")), ==, 4);
  JsonObject *c = stored_task (stored, "c");
  g_assert_cmpstr (json_object_get_string_member (c, "status"), ==, "running");
  g_assert_cmpint (json_object_get_int_member (c, "attempts"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (c, "failures"), ==, 1);
  g_assert_true (json_object_get_null_member (c, "error"));
  JsonObject *d = stored_task (stored, "d");
  g_assert_cmpstr (json_object_get_string_member (d, "status"), ==, "running");
  g_assert_cmpint (json_object_get_int_member (d, "attempts"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (d, "failures"), ==, 0);
  g_assert_false (json_object_get_null_member (d, "started_wall_us"));
  g_assert_cmpint (json_object_get_int_member (stored_task (stored, "a"), "attempts"), ==, 1);

  /* d waits for c: with b's and a's outputs, the resume runs c, then d. */
  json_object_set_string_member (completed, "a", first->outputs->pdata[0]);
  json_object_set_string_member (completed, "b", first->outputs->pdata[1]);
  WeftKickoffOptions resume = {
    .completed = completed, .resume_run_id = first->id,
    .resume_seq = (guint64) json_object_get_int_member (json_node_get_object (stored),
                                                         "last_seq"),
    .stored_tasks = json_object_get_array_member (json_node_get_object (stored), "tasks"),
  };
  g_autoptr(Ran) again = run_stored (f, diamond_flow, &resume, NULL);
  g_assert_cmpint (again->status, ==, WEFT_STATUS_COMPLETED);

  g_autofree char *rows = g_strdup_printf (
    "SELECT group_concat (name || ':' || status || ':' || attempts, ' ') FROM "
    "(SELECT * FROM tasks WHERE run_id = '%s' ORDER BY name)", first->id);
  g_autofree char *text = query_text (db, rows);
  g_assert_cmpstr (text, ==, "a:completed:1 b:completed:1 c:completed:3 d:completed:2");
  g_autofree char *started = g_strdup_printf (
    "SELECT group_concat (task || json_extract (json, '$.attempt'), ' ') FROM "
    "(SELECT * FROM events WHERE run_id = '%s' AND type = 'task.started' AND seq > 12 "
    " ORDER BY seq)", first->id);
  g_free (text);
  text = query_text (db, started);
  g_assert_cmpstr (text, ==, "c3 d2");
  sqlite3_close (db);
}

/* Resumes the stored run `run_id` of `json` as `weft resume` does: the
 * outputs of the tasks it completed, and all its tasks as get_run gives
 * them. */
static Ran *
resume_stored (Fixture *f, const char *json, const char *run_id)
{
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);
  g_autoptr(JsonObject) completed = json_object_new ();
  g_autoptr(JsonNode) stored = NULL;

  g_assert_no_error (error);
  stored = weft_store_get_run (store, run_id, &error);
  g_assert_no_error (error);
  JsonObject *run = json_node_get_object (stored);
  JsonArray *tasks = json_object_get_array_member (run, "tasks");
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);
      if (g_str_equal (json_object_get_string_member (task, "status"), "completed"))
        json_object_set_string_member (completed, json_object_get_string_member (task, "name"),
                                       json_object_get_string_member (task, "output"));
    }
  WeftKickoffOptions resume = {
    .completed = completed, .resume_run_id = run_id,
    .resume_seq = (guint64) json_object_get_int_member (run, "last_seq"), .stored_tasks = tasks,
  };
  return run_stored (f, json, &resume, NULL);
}

/* The run's events after `seq`, as "TYPE[:TASK:ATTEMPT]" by seq. */
static char *
events_after (sqlite3 *db, const char *run_id, gint64 seq)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT group_concat (what, ' ') FROM (SELECT type || coalesce (':' || task || ':' || "
    "json_extract (json, '$.attempt'), '') AS what FROM events WHERE run_id = '%s' "
    "AND seq > %" G_GINT64_FORMAT " ORDER BY seq)", run_id, seq);

  return query_text (db, sql);
}

/* What a process killed while it cancelled its run leaves: a finished
 * diamond run cut after a's completion (seq 3) and b's and c's starts (4,
 * 5), with b's task.cancelled stored (seq 6) and nothing after it: c's
 * attempt 1 in flight, d never reached. */
static void
make_cancelling (sqlite3 *db, const char *run_id)
{
  g_autofree char *sql = g_strdup_printf (
    "UPDATE run_rows SET status = 'running', finished_wall_us = NULL WHERE run_id = '%s';"
    "CREATE TEMP TABLE k AS SELECT id << 32 AS lo, (id << 32) + 4294967295 AS hi "
    "  FROM run_rows WHERE run_id = '%s';"
    "DELETE FROM event_rows WHERE key BETWEEN (SELECT lo FROM k) + 6 AND (SELECT hi FROM k);"
    "INSERT INTO event_rows (key, json) SELECT lo + 6,"
    "  '{\"type\":\"task.cancelled\",\"seq\":6,\"task\":\"b\",\"attempt\":1,"
    "    \"error\":\"cancelled\"}' FROM k;"
    "UPDATE task_rows SET status = 'cancelled', output = NULL, error = 'cancelled'"
    "  WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k) AND name = 'b';"
    "UPDATE task_rows SET status = 'running', output = NULL, finished_wall_us = NULL"
    "  WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k) AND name = 'c';"
    "DELETE FROM task_rows WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k)"
    "  AND name = 'd';"
    "DROP TABLE k;", run_id, run_id);

  exec_sql (db, sql);
}

/* A run whose process died while cancelling it is ended as cancelled by
 * its resume: the cancelled task stays so, the attempt in flight is the
 * one cancelled (no new attempt starts), the rest is skipped, and no
 * event is stored twice. */
static void
test_resume_cancelling (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) first = run_stored (f, diamond_flow, NULL, NULL);
  sqlite3 *db = open_db (f->db);

  make_cancelling (db, first->id);
  g_autoptr(Ran) again = resume_stored (f, diamond_flow, first->id);
  g_assert_cmpint (again->status, ==, WEFT_STATUS_CANCELLED);

  g_autofree char *after = events_after (db, first->id, 6);
  g_assert_cmpstr (after, ==, "run.resumed task.cancelled:c:1 task.skipped:d:0 run.cancelled");
  g_autofree char *rows = g_strdup_printf (
    "SELECT group_concat (name || ':' || status || ':' || attempts, ' ') FROM "
    "(SELECT * FROM tasks WHERE run_id = '%s' ORDER BY name)", first->id);
  g_autofree char *text = query_text (db, rows);
  g_assert_cmpstr (text, ==, "a:completed:1 b:cancelled:1 c:cancelled:1 d:skipped:0");
  sqlite3_close (db);
}

/* What a process killed between a task's failure and the skips it causes
 * leaves: "after"'s task.skipped lost with the run's end. */
static void
make_skip_lost (sqlite3 *db, const char *run_id)
{
  g_autofree char *sql = g_strdup_printf (
    "UPDATE run_rows SET status = 'running', error = NULL, finished_wall_us = NULL "
    "  WHERE run_id = '%s';"
    "CREATE TEMP TABLE k AS SELECT id << 32 AS lo, (id << 32) + 4294967295 AS hi "
    "  FROM run_rows WHERE run_id = '%s';"
    "DELETE FROM event_rows WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k)"
    "  AND (json_extract (json, '$.type') = 'run.failed'"
    "       OR json_extract (json, '$.task') = 'after');"
    "DELETE FROM task_rows WHERE key BETWEEN (SELECT lo FROM k) AND (SELECT hi FROM k)"
    "  AND name = 'after';"
    "DROP TABLE k;", run_id, run_id);

  exec_sql (db, sql);
}

/* A resume keeps a task that failed for good as failed (it does not run
 * again) and the run fails; what the failure skips and the store had not
 * been told of yet is skipped, once. */
static void
test_resume_failed_kept (Fixture *f, gconstpointer data)
{
  g_autoptr(Ran) first = run_stored (f, failing_flow, NULL, NULL);
  sqlite3 *db = open_db (f->db);

  g_assert_cmpint (first->status, ==, WEFT_STATUS_FAILED);
  make_skip_lost (db, first->id);
  gint64 last = query_int (db, "SELECT last_seq FROM runs");
  g_autoptr(Ran) again = resume_stored (f, failing_flow, first->id);
  g_assert_cmpint (again->status, ==, WEFT_STATUS_FAILED);

  g_autofree char *after = events_after (db, first->id, last);
  g_assert_cmpstr (after, ==, "run.resumed task.skipped:after:0 run.failed");
  g_autofree char *run = query_text (db, "SELECT status || '|' || error FROM runs");
  g_assert_true (g_str_has_prefix (run, "failed|task \"broken\" failed: "));
  g_autofree char *rows = query_text (
    db, "SELECT group_concat (name || ':' || status || ':' || attempts, ' ') FROM "
        "(SELECT * FROM tasks ORDER BY name)");
  g_assert_cmpstr (rows, ==, "after:skipped:0 broken:failed:1 fine:completed:1");
  sqlite3_close (db);
}

static void
test_migrate_old (Fixture *f, gconstpointer data)
{
  sqlite3 *db = open_db_create (f->db);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = NULL;
  g_autoptr(JsonNode) list = NULL;

  exec_sql (db, WEFT_TEST_SQLITE_SCHEMA_V1);
  store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_no_error (error);
  /* Upgraded in place; the old rows are still there. */
  g_assert_cmpint (query_int (db, "SELECT max(version) FROM schema_version"), ==, 8);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                  "'runs_by_start'"), ==, 1);
  list = weft_store_list_runs (store, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_node_get_array (list), 0), "run_id"),
                   ==, "old-run");
  sqlite3_close (db);
}

/* Version 2 as released, with a run, its tasks (in the order the run
 * reached them, not by name) and its events: step 3 moves them under an
 * integer run key, and the views keep the old columns. */
static const char *const data_v2 =
  "CREATE INDEX runs_by_start ON runs (started_wall_us);"
  "INSERT INTO schema_version VALUES (2, 0);"
  "INSERT INTO runs (run_id, flow, status, started_wall_us, last_seq) VALUES "
  "  ('run-2', 'two', 'running', 2, 5);"
  "INSERT INTO tasks (run_id, name, status, output, attempts, started_wall_us, "
  "  finished_wall_us) VALUES ('run-2', 'zeta', 'completed', 'Z', 1, 10, 11),"
  "  ('run-2', 'alpha', 'running', NULL, 2, 12, NULL);"
  "INSERT INTO events (run_id, seq, type, task, time, json) VALUES "
  "  ('run-2', 1, 'run.started', NULL, 2, '{\"type\":\"run.started\",\"seq\":1}'),"
  "  ('run-2', 2, 'task.started', 'zeta', 10, '{\"type\":\"task.started\",\"task\":\"zeta\"}'),"
  "  ('run-2', 3, 'task.completed', 'zeta', 11, '{\"type\":\"task.completed\",\"task\":\"zeta\"}'),"
  "  ('run-2', 5, 'task.started', 'alpha', 12, '{\"type\":\"task.started\",\"task\":\"alpha\"}'),"
  "  ('orphan', 1, 'run.started', NULL, 3, '{\"type\":\"run.started\",\"seq\":1}');";

static void
test_migrate_v2 (Fixture *f, gconstpointer data)
{
  sqlite3 *db = open_db_create (f->db);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = NULL;
  g_autoptr(JsonNode) run = NULL;
  g_autofree char *seqs = NULL;
  g_autofree char *tasks = NULL;
  g_autofree char *orphan = NULL;

  exec_sql (db, WEFT_TEST_SQLITE_SCHEMA_V1);
  exec_sql (db, data_v2);
  store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_no_error (error);
  g_assert_cmpint (query_int (db, "SELECT max(version) FROM schema_version"), ==, 8);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                  "'runs_by_start'"), ==, 1);
  /* Every event, under the same (run_id, seq), through the view (type and
   * task read from the JSON since version 5). */
  seqs = query_text (db, "SELECT group_concat(seq || ':' || type || ':' || coalesce(task, '-'), "
                         "' ') FROM (SELECT * FROM events WHERE run_id = 'run-2' ORDER BY seq)");
  g_assert_cmpstr (seqs, ==, "1:run.started:- 2:task.started:zeta 3:task.completed:zeta "
                             "5:task.started:alpha");
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM events"), ==, 5);
  /* An event whose run had no row keeps it, under a new runs row. */
  orphan = query_text (db, "SELECT status || '|' || seq FROM events JOIN runs USING (run_id) "
                           "WHERE run_id = 'orphan'");
  g_assert_cmpstr (orphan, ==, "running|1");
  tasks = query_text (db, "SELECT group_concat(name || ':' || status || ':' || attempts, ' ') "
                          "FROM tasks WHERE run_id = 'run-2'");
  weft_test_assert_contains (tasks, "zeta:completed:1");
  weft_test_assert_contains (tasks, "alpha:running:2");

  /* Read back through the plugin: tasks in their old order, zeta first. */
  run = weft_store_get_run (store, "run-2", &error);
  g_assert_no_error (error);
  JsonObject *o = json_node_get_object (run);
  JsonArray *t = json_object_get_array_member (o, "tasks");
  g_assert_cmpint (json_object_get_int_member (o, "last_seq"), ==, 5);
  g_assert_cmpuint (json_array_get_length (t), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (t, 0), "name"),
                   ==, "zeta");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (t, 0), "output"),
                   ==, "Z");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (t, 1), "name"),
                   ==, "alpha");
  sqlite3_close (db);
}

/* Version 3 as released: runs keyed by an integer id, tasks keyed by
 * (run, name) with their order in `ord`, events by run id × 2^32 + seq.
 * Run 7 was killed while "a" was retrying; "b" had completed.  Step 4
 * moves tasks under integer keys and the run's flow source apart, step 5
 * keeps only the key and JSON of events. */
static const char *const schema_v3 =
  "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
  "  applied_wall_us INTEGER NOT NULL);"
  "INSERT INTO schema_version VALUES (1, 0), (2, 0), (3, 0);"
  "CREATE TABLE runs (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, flow TEXT,"
  "  status TEXT NOT NULL, error TEXT, inputs TEXT, flow_source TEXT, started_wall_us INTEGER,"
  "  finished_wall_us INTEGER, last_seq INTEGER NOT NULL DEFAULT 0);"
  "CREATE INDEX runs_by_start ON runs (started_wall_us);"
  "CREATE TABLE task_rows (run INTEGER NOT NULL, name TEXT NOT NULL, ord INTEGER NOT NULL,"
  "  status TEXT NOT NULL, output TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
  "  started_wall_us INTEGER, finished_wall_us INTEGER, PRIMARY KEY (run, name)) WITHOUT ROWID;"
  "CREATE TABLE event_rows (key INTEGER PRIMARY KEY, type TEXT NOT NULL, task TEXT,"
  "  time INTEGER NOT NULL, json TEXT NOT NULL);"
  "CREATE VIEW events (run_id, seq, type, task, time, json) AS "
  "  SELECT r.run_id, e.key & 4294967295, e.type, e.task, e.time, e.json "
  "  FROM runs r JOIN event_rows e ON e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295;"
  "CREATE VIEW tasks (run_id, name, status, output, error, attempts, started_wall_us,"
  "  finished_wall_us) AS "
  "  SELECT r.run_id, t.name, t.status, t.output, t.error, t.attempts, t.started_wall_us,"
  "    t.finished_wall_us FROM task_rows t JOIN runs r ON r.id = t.run;"
  "INSERT INTO task_rows VALUES (7, 'b', 2, 'completed', 'B', NULL, 1, 10, 11),"
  "  (7, 'a', 5, 'retrying', NULL, 'timed out', 2, 12, NULL);"
  "INSERT INTO event_rows VALUES ((7 << 32) + 1, 'run.started', NULL, 3,"
  "  '{\"type\":\"run.started\",\"seq\":1,\"wall_us\":3}'),"
  "  ((7 << 32) + 2, 'task.started', 'b', 10, '{\"type\":\"task.started\",\"seq\":2,\"task\":\"b\"}'),"
  "  ((7 << 32) + 3, 'task.completed', 'b', 11, '{\"type\":\"task.completed\",\"seq\":3}'),"
  "  ((7 << 32) + 5, 'task.started', 'a', 12, '{\"type\":\"task.started\",\"seq\":5}'),"
  "  ((7 << 32) + 7, 'task.retrying', 'a', 13,"
  "  '{\"type\":\"task.retrying\",\"seq\":7,\"task\":\"a\",\"wall_us\":13}');";

static void
check_migrated_v3 (JsonObject *run)
{
  JsonArray *t = json_object_get_array_member (run, "tasks");

  g_assert_cmpstr (json_object_get_string_member (run, "flow_source"), ==, diamond_flow);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (run, "inputs"),
                                                  "topic"), ==, "AI");
  /* Read from the events, no longer stored. */
  g_assert_cmpint (json_object_get_int_member (run, "last_seq"), ==, 7);
  /* In their old order, not by name. */
  g_assert_cmpuint (json_array_get_length (t), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (t, 0), "name"),
                   ==, "b");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (t, 0), "output"),
                   ==, "B");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (t, 1), "attempts"),
                   ==, 2);
}

static void
test_migrate_v3 (Fixture *f, gconstpointer data)
{
  sqlite3 *db = open_db_create (f->db);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(JsonObject) completed = json_object_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = NULL;
  g_autoptr(JsonNode) run = NULL;
  g_autoptr(JsonNode) resumed = NULL;
  g_autofree char *tasks = NULL;
  g_autofree char *retrying = NULL;
  char *sql = sqlite3_mprintf ("INSERT INTO runs (id, run_id, flow, status, inputs, flow_source,"
                               "  started_wall_us, last_seq) VALUES (7, 'run-3', 'diamond',"
                               "  'running', '{\"topic\":\"AI\"}', %Q, 3, 7)", diamond_flow);

  exec_sql (db, schema_v3);
  exec_sql (db, sql);
  sqlite3_free (sql);
  /* Two more runs, one with the same flow text, one with another: step 6
   * keeps two texts, and every run its own. */
  sql = sqlite3_mprintf ("INSERT INTO runs (id, run_id, flow, status, flow_source, last_seq) "
                         "VALUES (8, 'run-same', 'diamond', 'completed', %Q, 0), "
                         "(9, 'run-other', 'fails', 'failed', %Q, 0)", diamond_flow, failing_flow);
  exec_sql (db, sql);
  sqlite3_free (sql);
  store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_no_error (error);
  g_assert_cmpint (query_int (db, "SELECT max(version) FROM schema_version"), ==, 8);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                  "'runs_by_start'"), ==, 1);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM events WHERE run_id = 'run-3'"), ==, 5);
  /* Since version 5, type, task and time are read from the JSON. */
  retrying = query_text (db, "SELECT type || ':' || task || ':' || time FROM events "
                             "WHERE run_id = 'run-3' AND seq = 7");
  g_assert_cmpstr (retrying, ==, "task.retrying:a:13");
  g_assert_cmpint (query_int (db, "SELECT last_seq FROM runs WHERE run_id = 'run-3'"), ==, 7);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM flow_texts"), ==, 2);
  for (guint i = 0; i < 3; i++)
    {
      const char *id = (const char *[]) { "run-3", "run-same", "run-other" }[i];
      g_autofree char *q = g_strdup_printf ("SELECT flow_source FROM runs WHERE run_id = '%s'", id);
      g_autofree char *text = query_text (db, q);
      g_assert_cmpstr (text, ==, i < 2 ? diamond_flow : failing_flow);
    }
  run = weft_store_get_run (store, "run-3", &error);
  g_assert_no_error (error);
  check_migrated_v3 (json_node_get_object (run));

  /* Resumed: the rows the old schema wrote are updated, not doubled;
   * "a" keeps its first start, the new tasks come after the old ones. */
  json_object_set_string_member (completed, "b", "B");
  WeftKickoffOptions resume = { .completed = completed, .resume_run_id = "run-3",
                                .resume_seq = 7 };
  g_autoptr(Ran) again = run_stored (f, diamond_flow, &resume, NULL);
  g_assert_cmpint (again->status, ==, WEFT_STATUS_COMPLETED);
  tasks = query_text (db, "SELECT group_concat(name || ':' || status || ':' || started_wall_us, ' ') "
                          "FROM (SELECT * FROM tasks WHERE run_id = 'run-3' AND name IN ('a', 'b'))");
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM tasks WHERE run_id = 'run-3'"), ==, 4);
  weft_test_assert_contains (tasks, "a:completed:12");
  weft_test_assert_contains (tasks, "b:completed:10");
  resumed = weft_store_get_run (store, "run-3", &error);
  g_assert_no_error (error);
  JsonArray *t = json_object_get_array_member (json_node_get_object (resumed), "tasks");
  static const char *const order[] = { "b", "a", "c", "d" };
  g_assert_cmpuint (json_array_get_length (t), ==, G_N_ELEMENTS (order));
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (t, i), "name"),
                     ==, order[i]);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (resumed), "status"),
                   ==, "completed");
  sqlite3_close (db);
}

static void
test_refuse_newer (Fixture *f, gconstpointer data)
{
  sqlite3 *db = open_db_create (f->db);
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = NULL;

  exec_sql (db, WEFT_TEST_SQLITE_SCHEMA_V1);
  exec_sql (db, "INSERT INTO schema_version VALUES (99, 0)");
  store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_null (store);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  weft_test_assert_contains (error->message, f->db);
  weft_test_assert_contains (error->message, "schema version 99");
  weft_test_assert_contains (error->message, "newer");
  /* Nothing was changed. */
  g_assert_cmpint (query_int (db, "SELECT max(version) FROM schema_version"), ==, 99);
  sqlite3_close (db);
}

static void
test_bad_options (Fixture *f, gconstpointer data)
{
  struct { const char *json; const char *message; } cases[] = {
    { "{\"path\": \"\"}", "\"path\"" },
    { "{\"synchronous\": \"sometimes\"}", "sometimes" },
    { "{\"busy_timeout_ms\": -1}", "busy_timeout_ms" },
    { "{\"path\": \"/nonexistent-dir/x/weft.db\"}", "/nonexistent-dir/x/weft.db" },
    { "{\"colour\": \"blue\"}", "colour" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = json_from_string (cases[i].json, &error);
      g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite",
                                                    json_node_get_object (node), &error);
      g_assert_null (store);
      g_assert_nonnull (error);
      weft_test_assert_contains (error->message, cases[i].message);
    }
}

/* Opened to read, a store whose file is not there fails and creates
 * nothing; a flow's store (a writer) creates it. */
static void
test_reader_missing (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) options = store_options (f->db);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);

  g_assert_null (store);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  weft_test_assert_contains (error->message, f->db);
  weft_test_assert_contains (error->message, "no such database");
  g_assert_false (g_file_test (f->db, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  g_autoptr(Ran) ran = run_stored (f, diamond_flow, NULL, NULL);
  g_assert_cmpint (ran->status, ==, WEFT_STATUS_COMPLETED);
  store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_no_error (error);
  g_assert_nonnull (store);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/sqlite/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("rows", test_rows);
  ADD ("flow-text-once", test_flow_text_once);
  ADD ("failed-run", test_failed_run);
  ADD ("no-event-twice", test_no_event_twice);
  ADD ("store-api", test_store_api);
  ADD ("hostile-row", test_hostile_row);
  ADD ("flow-store", test_flow_store);
  ADD ("claims", test_claims);
  ADD ("resume-after-lag", test_resume_after_lag);
  ADD ("resume-cancelling", test_resume_cancelling);
  ADD ("resume-failed-kept", test_resume_failed_kept);
  ADD ("migrate-old", test_migrate_old);
  ADD ("migrate-v2", test_migrate_v2);
  ADD ("migrate-v3", test_migrate_v3);
  ADD ("refuse-newer", test_refuse_newer);
  ADD ("bad-options", test_bad_options);
  ADD ("reader-missing", test_reader_missing);
#undef ADD

  return g_test_run ();
}
