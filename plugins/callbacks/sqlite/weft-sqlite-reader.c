/* weft-sqlite-reader.c — reading runs (and their events) back (`weft runs`, replay, resume,
 * `serve --store`) through the store capability, from any thread.  The
 * reader is a read-only connection of its own, opened on first use, so
 * that reads never wait for the writer: WAL mode lets it see the last
 * committed batch while the next one is being written.  One mutex
 * (read_lock) keeps it to one thread at a time.  claim_run is here too:
 * it looks a run's key up on this connection before claiming it.
 */
#include "weft-sqlite.h"

#include <string.h>

/* weft_run_live(id): whether some process holds the run's claim; NULL
 * when this instance cannot tell. */
static void
weft_sqlite_run_live (sqlite3_context *context, int argc, sqlite3_value **argv)
{
  WeftSqlite *self = sqlite3_user_data (context);
  int held = weft_sqlite_claims_held (&self->claims, sqlite3_value_int64 (argv[0]));

  (void) argc;
  if (held < 0)
    sqlite3_result_null (context);
  else
    sqlite3_result_int (context, held);
}

sqlite3 *
weft_sqlite_reader (WeftSqlite *self, GError **error)
{
  if (self->reader != NULL)
    return self->reader;
  if (!weft_sqlite_open_db (self, SQLITE_OPEN_READONLY, &self->reader, error))
    return NULL;
  sqlite3_create_function (self->reader, "weft_run_live", 1, SQLITE_UTF8, self,
                           weft_sqlite_run_live, NULL, NULL);
  return self->reader;
}

static void
weft_sqlite_add_column (JsonBuilder *b, const char *name, sqlite3_stmt *stmt, int col)
{
  json_builder_set_member_name (b, name);
  switch (sqlite3_column_type (stmt, col))
    {
    case SQLITE_NULL:
      json_builder_add_null_value (b);
      break;
    case SQLITE_INTEGER:
      json_builder_add_int_value (b, sqlite3_column_int64 (stmt, col));
      break;
    default:
      json_builder_add_string_value (b, (const char *) sqlite3_column_text (stmt, col));
      break;
    }
}

/* `live` is a boolean, or null when the store cannot tell or the run ended. */
static void
weft_sqlite_add_bool_column (JsonBuilder *b, const char *name, sqlite3_stmt *stmt, int col)
{
  json_builder_set_member_name (b, name);
  if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
    json_builder_add_null_value (b);
  else
    json_builder_add_boolean_value (b, sqlite3_column_int (stmt, col) != 0);
}

/* `inputs` (and a thread's `settings` and `tool_calls`) are stored as
 * JSON text and given back as JSON.  A row
 * is read like any text from outside (another program may have written
 * the file): one that does not parse as weft would write it is null. */
static void
weft_sqlite_add_json_column (JsonBuilder *b, const char *name, sqlite3_stmt *stmt, int col)
{
  const char *text = (const char *) sqlite3_column_text (stmt, col);
  JsonNode *node = text ? weft_json_parse (text, sqlite3_column_bytes (stmt, col), NULL) : NULL;

  json_builder_set_member_name (b, name);
  if (node != NULL)
    json_builder_add_value (b, node);
  else
    json_builder_add_null_value (b);
}

static void
weft_sqlite_add_row (JsonBuilder *b, sqlite3_stmt *stmt)
{
  json_builder_begin_object (b);
  for (int c = 0; c < sqlite3_column_count (stmt); c++)
    {
      const char *name = sqlite3_column_name (stmt, c);
      if (strcmp (name, "inputs") == 0 || strcmp (name, "settings") == 0
          || strcmp (name, "tool_calls") == 0)
        weft_sqlite_add_json_column (b, name, stmt, c);
      else if (strcmp (name, "live") == 0)
        weft_sqlite_add_bool_column (b, name, stmt, c);
      else
        weft_sqlite_add_column (b, name, stmt, c);
    }
}

/* Every row of `stmt` as an array of objects; finalizes it.  SQLITE_DONE
 * when all were read. */
int
weft_sqlite_add_rows (JsonBuilder *b, sqlite3_stmt *stmt)
{
  int rc;

  json_builder_begin_array (b);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      weft_sqlite_add_row (b, stmt);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  sqlite3_finalize (stmt);
  return rc;
}

/* Only a run still marked running can be live. */
#define WEFT_SQLITE_LIVE_COLUMN \
  "CASE WHEN status = 'running' THEN weft_run_live (id) END AS live"

static JsonNode *
weft_sqlite_list_runs_locked (WeftSqlite *self, sqlite3 *db, guint limit, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db,
                          "SELECT run_id, flow, status, started_wall_us, finished_wall_us, "
                          "error, " WEFT_SQLITE_LIVE_COLUMN " FROM run_rows "
                          "ORDER BY started_wall_us DESC, id DESC LIMIT ?1",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, db, "cannot list runs", error);
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, limit > 0 ? (sqlite3_int64) limit : -1);
  rc = weft_sqlite_add_rows (b, stmt);
  if (rc != SQLITE_DONE)
    {
      weft_sqlite_fail (self, db, "cannot list runs", error);
      return NULL;
    }
  return json_builder_get_root (b);
}

JsonNode *
weft_sqlite_list_runs (gpointer instance, guint limit, GError **error)
{
  WeftSqlite *self = instance;
  JsonNode *node = NULL;

  /* One reader connection, one thread at a time. */
  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_reader (self, error);
  if (db != NULL)
    node = weft_sqlite_list_runs_locked (self, db, limit, error);
  g_mutex_unlock (&self->read_lock);
  return node;
}

/* A run's tasks, from their rows and from their events.  The row of a
 * task that had only started may have been waiting in the writer's memory
 * (Writing, docs/store.md) when its process died, while its task.started
 * was committed: what resume reads must not lag the events, or it would
 * start that attempt again.  So each task's `attempts` is the last it
 * started as its events tell, and `failures` the count of its
 * task.retrying and task.failed; a row behind its events is the attempt
 * in flight (running), and a task known only from its events is running,
 * with the key the writer would have given it (the seq of its first
 * event).  Events are told apart by the start of their JSON
 * ({"type":"...), so that only these three kinds are parsed.  One pass
 * over both, grouped by name: joining them by name cost a scan per task. */
static const char weft_sqlite_tasks_sql[] =
  "WITH run AS (SELECT id << 32 AS lo, (id << 32) + 4294967295 AS hi FROM run_rows"
  "  WHERE run_id = ?1), "
  "told AS (SELECT json_extract (e.json, '$.task') AS name, e.key AS key,"
  "    substr (e.json, 10, 13) = 'task.started\"' AS started,"
  "    json_extract (e.json, '$.attempt') AS attempt,"
  "    json_extract (e.json, '$.wall_us') AS wall_us"
  "  FROM run r JOIN event_rows e ON e.key BETWEEN r.lo AND r.hi"
  "  WHERE substr (e.json, 10, 13) = 'task.started\"'"
  "     OR substr (e.json, 10, 14) = 'task.retrying\"'"
  "     OR substr (e.json, 10, 12) = 'task.failed\"'), "
  "facts AS (SELECT t.name AS name, t.key AS key, 1 AS has_row, t.status AS status,"
  "    t.output AS output, t.error AS error, t.attempts AS row_attempts,"
  "    t.started_wall_us AS row_start, t.finished_wall_us AS finished,"
  "    NULL AS attempt, 0 AS failed, NULL AS first_start"
  "  FROM run r JOIN task_rows t ON t.key BETWEEN r.lo AND r.hi"
  "  UNION ALL"
  "  SELECT name, key, 0, NULL, NULL, NULL, NULL, NULL, NULL,"
  "    CASE WHEN started THEN attempt END, NOT started, CASE WHEN started THEN wall_us END"
  "  FROM told), "
  "task AS (SELECT name, min (key) AS key, max (has_row) AS has_row, max (status) AS status,"
  "    max (output) AS output, max (error) AS error,"
  "    coalesce (max (row_attempts), 0) AS row_attempts, max (attempt) AS attempt,"
  "    sum (failed) AS failures, coalesce (max (row_start), min (first_start)) AS started,"
  "    max (finished) AS finished,"
  "    max (attempt) > coalesce (max (row_attempts), 0) AS behind"
  "  FROM facts GROUP BY name) "
  "SELECT name, CASE WHEN behind THEN 'running' ELSE status END AS status,"
  "  CASE WHEN behind THEN NULL ELSE output END AS output,"
  "  CASE WHEN behind THEN NULL ELSE error END AS error,"
  "  max (row_attempts, coalesce (attempt, 0)) AS attempts, failures,"
  "  started AS started_wall_us, CASE WHEN behind THEN NULL ELSE finished END AS finished_wall_us "
  "FROM task WHERE has_row OR attempt IS NOT NULL ORDER BY key";

static gboolean
weft_sqlite_add_tasks (WeftSqlite *self, sqlite3 *db, const char *run_id, JsonBuilder *b,
                       GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db, weft_sqlite_tasks_sql, -1, &stmt, NULL) != SQLITE_OK)
    return weft_sqlite_fail (self, db, "cannot read a run's tasks", error);
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  json_builder_set_member_name (b, "tasks");
  rc = weft_sqlite_add_rows (b, stmt);
  if (rc != SQLITE_DONE)
    return weft_sqlite_fail (self, db, "cannot read a run's tasks", error);
  return TRUE;
}

/* The tokens and cost each task's agents reported: on the events that end
 * an attempt (docs/events.md), summed per task.  Only those events hold a
 * "usage" object; instr() skips the others before any JSON is parsed (the
 * text cannot appear inside a JSON string, where its quotes are escaped). */
static const char weft_sqlite_usage_sql[] =
  "WITH run AS (SELECT id << 32 AS lo, (id << 32) + 4294967295 AS hi FROM run_rows"
  "  WHERE run_id = ?1) "
  "SELECT json_extract (e.json, '$.task'),"
  "  sum (json_extract (e.json, '$.usage.prompt_tokens')),"
  "  sum (json_extract (e.json, '$.usage.completion_tokens')),"
  "  sum (json_extract (e.json, '$.usage.cost')), count (json_extract (e.json, '$.usage.cost')) "
  "FROM run r JOIN event_rows e ON e.key BETWEEN r.lo AND r.hi "
  "WHERE instr (e.json, '\"usage\":{') > 0 GROUP BY 1";

static JsonNode *
weft_sqlite_usage_json (gint64 prompt, gint64 completion, double cost, gboolean priced)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_int_member (o, "prompt_tokens", prompt);
  json_object_set_int_member (o, "completion_tokens", completion);
  json_object_set_int_member (o, "total_tokens", prompt + completion);
  if (priced)
    json_object_set_double_member (o, "cost", cost);
  else
    json_object_set_null_member (o, "cost");
  json_node_take_object (node, o);
  return node;
}

/* "usage" of the run and of each task, as a run in memory has them (null
 * when none was reported). */
static gboolean
weft_sqlite_add_usage (WeftSqlite *self, sqlite3 *db, const char *run_id, JsonObject *run,
                       GError **error)
{
  g_autoptr(GHashTable) by_task = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                         (GDestroyNotify) json_node_unref);
  sqlite3_stmt *stmt = NULL;
  gint64 prompt = 0, completion = 0;
  double cost = 0;
  gboolean priced = FALSE;
  int rc;

  if (sqlite3_prepare_v2 (db, weft_sqlite_usage_sql, -1, &stmt, NULL) != SQLITE_OK)
    return weft_sqlite_fail (self, db, "cannot read a run's usage", error);
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *task = (const char *) sqlite3_column_text (stmt, 0);
      gint64 p = sqlite3_column_int64 (stmt, 1), c = sqlite3_column_int64 (stmt, 2);
      double money = sqlite3_column_double (stmt, 3);
      gboolean has_cost = sqlite3_column_int64 (stmt, 4) > 0;
      if (task != NULL)
        g_hash_table_insert (by_task, g_strdup (task),
                             weft_sqlite_usage_json (p, c, money, has_cost));
      prompt += p;
      completion += c;
      cost += money;
      priced |= has_cost;
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return weft_sqlite_fail (self, db, "cannot read a run's usage", error);
  if (g_hash_table_size (by_task) > 0)
    json_object_set_member (run, "usage", weft_sqlite_usage_json (prompt, completion, cost,
                                                                   priced));
  else
    json_object_set_null_member (run, "usage");
  JsonNode *tasks = json_object_get_member (run, "tasks");
  for (guint i = 0; tasks && JSON_NODE_HOLDS_ARRAY (tasks)
                    && i < json_array_get_length (json_node_get_array (tasks)); i++)
    {
      JsonObject *task = json_array_get_object_element (json_node_get_array (tasks), i);
      JsonNode *usage = g_hash_table_lookup (by_task, json_object_get_string_member_with_default (
                                                        task, "name", ""));
      if (usage != NULL)
        json_object_set_member (task, "usage", json_node_ref (usage));
      else
        json_object_set_null_member (task, "usage");
    }
  return TRUE;
}

void
weft_sqlite_no_run (WeftSqlite *self, const char *run_id, GError **error)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: no run \"%s\" is stored",
               self->path, run_id);
}

static JsonNode *
weft_sqlite_get_run_locked (WeftSqlite *self, sqlite3 *db, const char *run_id,
                            GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db,
                          "SELECT run_id, flow, status, error, inputs, flow_source, "
                          "started_wall_us, finished_wall_us, last_seq, "
                          WEFT_SQLITE_LIVE_COLUMN " FROM runs WHERE run_id = ?1",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, db, "cannot read a run", error);
      return NULL;
    }
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    weft_sqlite_add_row (b, stmt);
  sqlite3_finalize (stmt);
  if (rc == SQLITE_DONE)
    {
      weft_sqlite_no_run (self, run_id, error);
      return NULL;
    }
  if (rc != SQLITE_ROW)
    {
      weft_sqlite_fail (self, db, "cannot read a run", error);
      return NULL;
    }
  if (!weft_sqlite_add_tasks (self, db, run_id, b, error))
    return NULL;
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  if (!weft_sqlite_add_usage (self, db, run_id, json_node_get_object (root), error))
    return NULL;
  return g_steal_pointer (&root);
}

JsonNode *
weft_sqlite_get_run (gpointer instance, const char *run_id, GError **error)
{
  WeftSqlite *self = instance;
  JsonNode *node = NULL;

  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_reader (self, error);
  /* One read transaction: the run and its tasks from one commit. */
  if (db != NULL && weft_sqlite_exec (self, db, "BEGIN", error))
    {
      node = weft_sqlite_get_run_locked (self, db, run_id, error);
      sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
    }
  g_mutex_unlock (&self->read_lock);
  return node;
}

/* The run's events above `after_seq`: one range of event_rows' keys (the
 * run's key × 2^32 + seq). */
static JsonNode *
weft_sqlite_get_events_locked (WeftSqlite *self, sqlite3 *db, const char *run_id,
                               guint64 after_seq, guint limit, GError **error)
{
  gint64 key = weft_sqlite_find_run (self, db, run_id, error);
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (key <= 0)
    {
      if (key == 0)
        weft_sqlite_no_run (self, run_id, error);
      return NULL;
    }
  if (sqlite3_prepare_v2 (db, "SELECT json FROM event_rows WHERE key BETWEEN ?1 AND ?2 "
                              "ORDER BY key LIMIT ?3", -1, &stmt, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, db, "cannot read a run's events", error);
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, (key << 32) + (gint64) MIN (after_seq, G_MAXUINT32) + 1);
  sqlite3_bind_int64 (stmt, 2, (key << 32) + G_MAXUINT32);
  sqlite3_bind_int64 (stmt, 3, limit ? (gint64) limit : -1);
  JsonArray *events = json_array_new ();
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      /* Read like any text from outside: a row that does not parse as an
       * event object is left out. */
      JsonNode *event = weft_json_parse ((const char *) sqlite3_column_text (stmt, 0),
                                         sqlite3_column_bytes (stmt, 0), NULL);
      if (event && JSON_NODE_HOLDS_OBJECT (event))
        json_array_add_element (events, event);
      else if (event)
        json_node_unref (event);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      json_array_unref (events);
      weft_sqlite_fail (self, db, "cannot read a run's events", error);
      return NULL;
    }
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, events);
  return node;
}

JsonNode *
weft_sqlite_get_events (gpointer instance, const char *run_id, guint64 after_seq, guint limit,
                        GError **error)
{
  WeftSqlite *self = instance;
  JsonNode *node = NULL;

  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_reader (self, error);
  /* One read transaction: the run's key and its events from one commit. */
  if (db != NULL && weft_sqlite_exec (self, db, "BEGIN", error))
    {
      node = weft_sqlite_get_events_locked (self, db, run_id, after_seq, limit, error);
      sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
    }
  g_mutex_unlock (&self->read_lock);
  return node;
}

/* The run's key; 0 when it is not stored here, -1 on an error. */
gint64
weft_sqlite_find_run (WeftSqlite *self, sqlite3 *db, const char *run_id, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  gint64 key = 0;
  int rc = SQLITE_ERROR;

  /* The writer's own query, on the caller's connection. */
  if (sqlite3_prepare_v2 (db, weft_sqlite_stmt_text (STMT_RUN_ID), -1, &stmt, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        key = sqlite3_column_int64 (stmt, 0);
      sqlite3_finalize (stmt);
    }
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    return key;
  weft_sqlite_fail (self, db, "cannot read a run", error);
  return -1;
}

gboolean
weft_sqlite_claim_run (gpointer instance, const char *run_id, GError **error)
{
  WeftSqlite *self = instance;
  gint64 key;

  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_reader (self, error);
  key = db != NULL ? weft_sqlite_find_run (self, db, run_id, error) : -1;
  g_mutex_unlock (&self->read_lock);
  if (key < 0)
    return FALSE;
  /* Not stored here (yet): nobody else can be running it from this file. */
  if (key == 0 || weft_sqlite_claims_take (&self->claims, key))
    return TRUE;
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_BUSY,
               "%s: run %s is still being run by another process (a live process "
               "holds its claim); only a run whose process died can be resumed",
               self->path, run_id);
  return FALSE;
}
