/* weft-sqlite-schema.c — what every connection rests on: opening one,
 * telling its errors, and, for the writer, WAL mode and the schema.  The
 * tables are made and migrated here, by the writer at create(), not at
 * the first event, so that a bad path or a database a newer weft wrote
 * stops the flow from loading.  Every other file of the plugin builds on
 * this one; it calls none of them.  Tables and shapes: docs/store.md.
 */
#include "weft-sqlite.h"

/* The writer's cache holds a whole batch (20,000 events of a few hundred
 * bytes, their task rows and the B-tree pages above them): a smaller one
 * spills dirty pages to the WAL mid-transaction and reads them back.
 * Checkpoints are the checkpointer's (weft-sqlite-checkpoint.c), not the
 * writer's. */
#define WEFT_SQLITE_WRITER_PRAGMAS \
  "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;" \
  "PRAGMA journal_size_limit = 67108864;"

/* Schema steps, applied in order inside one transaction: step i takes a
 * database from version i to version i + 1.  Never edit a released step;
 * add one. */
static const char *const weft_sqlite_migrations[] = {
  /* 1: the tables. */
  "CREATE TABLE runs ("
  "  run_id TEXT PRIMARY KEY NOT NULL,"
  "  flow TEXT,"
  "  status TEXT NOT NULL,"
  "  error TEXT,"
  "  inputs TEXT,"
  "  flow_source TEXT,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER,"
  "  last_seq INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE tasks ("
  "  run_id TEXT NOT NULL,"
  "  name TEXT NOT NULL,"
  "  status TEXT NOT NULL,"
  "  output TEXT,"
  "  error TEXT,"
  "  attempts INTEGER NOT NULL DEFAULT 0,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER,"
  "  PRIMARY KEY (run_id, name));"
  "CREATE TABLE events ("
  "  run_id TEXT NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  type TEXT NOT NULL,"
  "  task TEXT,"
  "  time INTEGER NOT NULL,"
  "  json TEXT NOT NULL,"
  "  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;",
  /* 2: `weft runs list` reads newest first. */
  "CREATE INDEX runs_by_start ON runs (started_wall_us);",
  /* 3: an integer key per run.  Events and tasks move to `event_rows` and
   * `task_rows`, keyed by it instead of the 36-character run id; `events`
   * and `tasks` become views with the columns they had.  An event's key is
   * runs.id × 2^32 + seq, its rowid: storing one is an append to the
   * table's only B-tree.  A task's rows are WITHOUT ROWID on (run, name);
   * its place in its run (`ord`, was the rowid) is the seq of its first
   * event; old rows get 1, 2, 3, … in their old order, below any seq a
   * resume adds. */
  "ALTER TABLE runs RENAME TO runs_v2;"
  "CREATE TABLE runs ("
  "  id INTEGER PRIMARY KEY,"
  "  run_id TEXT NOT NULL UNIQUE,"
  "  flow TEXT,"
  "  status TEXT NOT NULL,"
  "  error TEXT,"
  "  inputs TEXT,"
  "  flow_source TEXT,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER,"
  "  last_seq INTEGER NOT NULL DEFAULT 0);"
  "INSERT INTO runs (id, run_id, flow, status, error, inputs, flow_source, started_wall_us,"
  "  finished_wall_us, last_seq) "
  "SELECT rowid, run_id, flow, status, error, inputs, flow_source, started_wall_us,"
  "  finished_wall_us, last_seq FROM runs_v2 ORDER BY rowid;"
  /* Rows of runs the old tables name without a runs row (none that weft
   * wrote itself) are kept, under a run that stays `running`. */
  "INSERT OR IGNORE INTO runs (run_id, status) "
  "  SELECT run_id, 'running' FROM events UNION SELECT run_id, 'running' FROM tasks;"
  "CREATE TABLE task_rows ("
  "  run INTEGER NOT NULL,"
  "  name TEXT NOT NULL,"
  "  ord INTEGER NOT NULL,"
  "  status TEXT NOT NULL,"
  "  output TEXT,"
  "  error TEXT,"
  "  attempts INTEGER NOT NULL DEFAULT 0,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER,"
  "  PRIMARY KEY (run, name)) WITHOUT ROWID;"
  "INSERT INTO task_rows (run, name, ord, status, output, error, attempts, started_wall_us,"
  "  finished_wall_us) "
  "SELECT r.id, t.name, row_number () OVER (PARTITION BY t.run_id ORDER BY t.rowid),"
  "  t.status, t.output, t.error, t.attempts, t.started_wall_us, t.finished_wall_us "
  "FROM tasks t JOIN runs r ON r.run_id = t.run_id;"
  "CREATE TABLE event_rows ("
  "  key INTEGER PRIMARY KEY,"
  "  type TEXT NOT NULL,"
  "  task TEXT,"
  "  time INTEGER NOT NULL,"
  "  json TEXT NOT NULL);"
  "INSERT INTO event_rows (key, type, task, time, json) "
  "SELECT (r.id << 32) + e.seq, e.type, e.task, e.time, e.json "
  "FROM events e JOIN runs r ON r.run_id = e.run_id ORDER BY r.id, e.seq;"
  "DROP TABLE events;"
  "DROP TABLE tasks;"
  "DROP TABLE runs_v2;"
  "CREATE INDEX runs_by_start ON runs (started_wall_us);"
  "CREATE VIEW events (run_id, seq, type, task, time, json) AS "
  "  SELECT r.run_id, e.key & 4294967295, e.type, e.task, e.time, e.json "
  "  FROM runs r JOIN event_rows e "
  "    ON e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295;"
  "CREATE VIEW tasks (run_id, name, status, output, error, attempts, started_wall_us,"
  "  finished_wall_us) AS "
  "  SELECT r.run_id, t.name, t.status, t.output, t.error, t.attempts, t.started_wall_us,"
  "    t.finished_wall_us "
  "  FROM task_rows t JOIN runs r ON r.id = t.run;",
  /* 4: what a batch writes costs what it changed.  A task's row is keyed
   * by runs.id × 2^32 + ord (the seq of its first event), its rowid, so
   * that a new task is an append and its next write an update by rowid:
   * keyed by (run, name), both were a search by name in a B-tree that each
   * batch touched all over.  (run, name) stays unique without an index:
   * the writer knows the rows of every run it writes (docs/store.md).  A
   * run's row keeps what changes (`run_rows`); its inputs and flow source,
   * written once and often large, are in `run_sources`: SQLite rewrites a
   * whole row to update one column.  `last_seq` is not stored but read
   * from event_rows (its highest key in the run's range).  `runs`,
   * `tasks` and `events` are views with the columns they had. */
  "CREATE TABLE run_rows ("
  "  id INTEGER PRIMARY KEY,"
  "  run_id TEXT NOT NULL UNIQUE,"
  "  flow TEXT,"
  "  status TEXT NOT NULL,"
  "  error TEXT,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER);"
  "INSERT INTO run_rows (id, run_id, flow, status, error, started_wall_us, finished_wall_us) "
  "SELECT id, run_id, flow, status, error, started_wall_us, finished_wall_us FROM runs;"
  "CREATE TABLE run_sources ("
  "  id INTEGER PRIMARY KEY,"
  "  inputs TEXT,"
  "  flow_source TEXT);"
  "INSERT INTO run_sources (id, inputs, flow_source) "
  "SELECT id, inputs, flow_source FROM runs "
  "WHERE inputs IS NOT NULL OR flow_source IS NOT NULL;"
  "CREATE TABLE task_rows_v4 ("
  "  key INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL,"
  "  status TEXT NOT NULL,"
  "  output TEXT,"
  "  error TEXT,"
  "  attempts INTEGER NOT NULL DEFAULT 0,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER);"
  "INSERT INTO task_rows_v4 (key, name, status, output, error, attempts, started_wall_us,"
  "  finished_wall_us) "
  "SELECT (run << 32) + ord, name, status, output, error, attempts, started_wall_us,"
  "  finished_wall_us FROM task_rows ORDER BY run, ord;"
  "DROP VIEW events;"
  "DROP VIEW tasks;"
  "DROP TABLE task_rows;"
  "DROP TABLE runs;"
  "ALTER TABLE task_rows_v4 RENAME TO task_rows;"
  "CREATE INDEX runs_by_start ON run_rows (started_wall_us);"
  "CREATE VIEW runs (id, run_id, flow, status, error, inputs, flow_source, started_wall_us,"
  "  finished_wall_us, last_seq) AS "
  "  SELECT r.id, r.run_id, r.flow, r.status, r.error, s.inputs, s.flow_source,"
  "    r.started_wall_us, r.finished_wall_us,"
  "    coalesce ((SELECT max (e.key) FROM event_rows e"
  "               WHERE e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295)"
  "              & 4294967295, 0) "
  "  FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id;"
  "CREATE VIEW events (run_id, seq, type, task, time, json) AS "
  "  SELECT r.run_id, e.key & 4294967295, e.type, e.task, e.time, e.json "
  "  FROM run_rows r JOIN event_rows e "
  "    ON e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295;"
  "CREATE VIEW tasks (run_id, name, status, output, error, attempts, started_wall_us,"
  "  finished_wall_us) AS "
  "  SELECT r.run_id, t.name, t.status, t.output, t.error, t.attempts, t.started_wall_us,"
  "    t.finished_wall_us "
  "  FROM run_rows r JOIN task_rows t "
  "    ON t.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295;",
  /* 5: an event is its key and its JSON: type, task and time repeated what
   * the JSON says, and cost a third of the row's columns to write.  The
   * events view reads them from the JSON. */
  "CREATE TABLE event_rows_v5 ("
  "  key INTEGER PRIMARY KEY,"
  "  json TEXT NOT NULL);"
  "INSERT INTO event_rows_v5 (key, json) SELECT key, json FROM event_rows ORDER BY key;"
  "DROP VIEW events;"
  "DROP VIEW runs;"
  "DROP TABLE event_rows;"
  "ALTER TABLE event_rows_v5 RENAME TO event_rows;"
  "CREATE VIEW runs (id, run_id, flow, status, error, inputs, flow_source, started_wall_us,"
  "  finished_wall_us, last_seq) AS "
  "  SELECT r.id, r.run_id, r.flow, r.status, r.error, s.inputs, s.flow_source,"
  "    r.started_wall_us, r.finished_wall_us,"
  "    coalesce ((SELECT max (e.key) FROM event_rows e"
  "               WHERE e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295)"
  "              & 4294967295, 0) "
  "  FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id;"
  "CREATE VIEW events (run_id, seq, type, task, time, json) AS "
  "  SELECT r.run_id, e.key & 4294967295, json_extract (e.json, '$.type'),"
  "    json_extract (e.json, '$.task'), json_extract (e.json, '$.wall_us'), e.json "
  "  FROM run_rows r JOIN event_rows e "
  "    ON e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295;",
  /* 6: a flow's text is stored once, however many runs it has (a server
   * that runs one flow 10,000 times kept 10,000 copies).  `flow_texts`
   * holds each distinct text under its SHA-256 (weft_sha256() is the
   * writer's own SQL function); a run's source row points at one. */
  "CREATE TABLE flow_texts ("
  "  id INTEGER PRIMARY KEY,"
  "  sha256 TEXT NOT NULL UNIQUE,"
  "  text TEXT NOT NULL);"
  "INSERT OR IGNORE INTO flow_texts (sha256, text) "
  "SELECT weft_sha256 (flow_source), flow_source FROM run_sources "
  "WHERE flow_source IS NOT NULL ORDER BY id;"
  "CREATE TABLE run_sources_v6 ("
  "  id INTEGER PRIMARY KEY,"
  "  inputs TEXT,"
  "  flow_text INTEGER);"
  "INSERT INTO run_sources_v6 (id, inputs, flow_text) "
  "SELECT s.id, s.inputs, f.id FROM run_sources s "
  "LEFT JOIN flow_texts f ON f.sha256 = weft_sha256 (s.flow_source);"
  "DROP VIEW runs;"
  "DROP TABLE run_sources;"
  "ALTER TABLE run_sources_v6 RENAME TO run_sources;"
  "CREATE VIEW runs (id, run_id, flow, status, error, inputs, flow_source, started_wall_us,"
  "  finished_wall_us, last_seq) AS "
  "  SELECT r.id, r.run_id, r.flow, r.status, r.error, s.inputs, f.text,"
  "    r.started_wall_us, r.finished_wall_us,"
  "    coalesce ((SELECT max (e.key) FROM event_rows e"
  "               WHERE e.key BETWEEN r.id << 32 AND (r.id << 32) + 4294967295)"
  "              & 4294967295, 0) "
  "  FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id"
  "    LEFT JOIN flow_texts f ON f.id = s.flow_text;",
  /* 7: threads (conversations, SDK 3.2), from their thread.* events: a
   * row per thread, its messages by place, its background tasks by id. */
  "CREATE TABLE thread_rows ("
  "  id INTEGER PRIMARY KEY,"
  "  thread_id TEXT NOT NULL UNIQUE,"
  "  flow TEXT,"
  "  agent TEXT,"
  "  settings TEXT,"
  "  created_wall_us INTEGER,"
  "  last_seq INTEGER NOT NULL DEFAULT 0,"
  "  deleted INTEGER NOT NULL DEFAULT 0);"
  "CREATE INDEX thread_rows_by_created ON thread_rows (created_wall_us);"
  "CREATE TABLE thread_messages ("
  "  thread INTEGER NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  role TEXT NOT NULL,"
  "  content TEXT,"
  "  tool_calls TEXT,"
  "  tool_call_id TEXT,"
  "  wall_us INTEGER,"
  "  PRIMARY KEY (thread, seq)) WITHOUT ROWID;"
  "CREATE TABLE thread_tasks ("
  "  thread INTEGER NOT NULL,"
  "  task_id TEXT NOT NULL,"
  "  name TEXT,"
  "  kind TEXT,"
  "  status TEXT NOT NULL,"
  "  arguments TEXT,"
  "  result TEXT,"
  "  error TEXT,"
  "  run_id TEXT,"
  "  started_wall_us INTEGER,"
  "  finished_wall_us INTEGER,"
  "  PRIMARY KEY (thread, task_id)) WITHOUT ROWID;",
  /* 8: a thread's turns, counted from its thread.turn_* events, so that a
   * reopened thread numbers its next turn after them. */
  "ALTER TABLE thread_rows ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;",
};

#define WEFT_SQLITE_SCHEMA_VERSION ((gint64) G_N_ELEMENTS (weft_sqlite_migrations))

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

gboolean
weft_sqlite_fail (WeftSqlite *self, sqlite3 *db, const char *what, GError **error)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "%s: %s: %s", self->path, what,
               db ? sqlite3_errmsg (db) : "out of memory");
  return FALSE;
}

/* Errors on the dispatcher thread have nobody to return to: they are
 * logged, naming the file, and the events they concern are lost. */
void
weft_sqlite_warn (WeftSqlite *self, const char *what)
{
  g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING,
                    "MESSAGE", "sqlite store %s: %s: %s", self->path, what,
                    sqlite3_errmsg (self->writer));
}

gboolean
weft_sqlite_exec (WeftSqlite *self, sqlite3 *db, const char *sql, GError **error)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) == SQLITE_OK)
    return TRUE;
  return weft_sqlite_fail (self, db, sql, error);
}

/* ------------------------------------------------------------------------ */
/* Schema                                                                   */

/* The database's version: 0 when it has no schema_version table yet (a new
 * file, or one weft never wrote). */
static gboolean
weft_sqlite_get_version (WeftSqlite *self, gint64 *version, GError **error)
{
  static const char sql[] =
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' "
    "  AND name = 'schema_version') THEN 1 ELSE 0 END";
  sqlite3_stmt *stmt = NULL;
  gboolean has_table = FALSE;
  int rc;

  *version = 0;
  if (sqlite3_prepare_v2 (self->writer, sql, -1, &stmt, NULL) != SQLITE_OK)
    return weft_sqlite_fail (self, self->writer, "reading the schema version", error);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    has_table = sqlite3_column_int (stmt, 0) != 0;
  sqlite3_finalize (stmt);
  if (!has_table)
    return TRUE;
  if (sqlite3_prepare_v2 (self->writer, "SELECT coalesce(max(version), 0) FROM schema_version",
                          -1, &stmt, NULL) != SQLITE_OK)
    return weft_sqlite_fail (self, self->writer, "reading the schema version", error);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *version = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    return weft_sqlite_fail (self, self->writer, "reading the schema version", error);
  return TRUE;
}

static gboolean
weft_sqlite_apply_steps (WeftSqlite *self, gint64 from, GError **error)
{
  if (!weft_sqlite_exec (self, self->writer,
                         "CREATE TABLE IF NOT EXISTS schema_version ("
                         "  version INTEGER PRIMARY KEY NOT NULL,"
                         "  applied_wall_us INTEGER NOT NULL)", error))
    return FALSE;
  for (gint64 v = from; v < WEFT_SQLITE_SCHEMA_VERSION; v++)
    {
      g_autofree char *record = g_strdup_printf (
        "INSERT INTO schema_version (version, applied_wall_us) VALUES (%" G_GINT64_FORMAT
        ", %" G_GINT64_FORMAT ")", v + 1, g_get_real_time ());

      if (sqlite3_exec (self->writer, weft_sqlite_migrations[v], NULL, NULL, NULL) != SQLITE_OK)
        {
          g_autofree char *what = g_strdup_printf ("schema step %" G_GINT64_FORMAT " failed",
                                                   v + 1);
          return weft_sqlite_fail (self, self->writer, what, error);
        }
      if (!weft_sqlite_exec (self, self->writer, record, error))
        return FALSE;
    }
  return TRUE;
}

/* weft_sha256(text): the hex SHA-256 of a flow text, as the writer keys
 * flow_texts; NULL for NULL.  Step 6 uses it to fold the old copies. */
static void
weft_sqlite_sha256 (sqlite3_context *context, int argc, sqlite3_value **argv)
{
  const unsigned char *text = sqlite3_value_text (argv[0]);

  (void) argc;
  if (text == NULL)
    {
      sqlite3_result_null (context);
      return;
    }
  sqlite3_result_text (context,
                       g_compute_checksum_for_data (G_CHECKSUM_SHA256, text,
                                                    (gsize) sqlite3_value_bytes (argv[0])),
                       -1, g_free);
}

/* Brings the database to this plugin's schema, all steps or none; refuses a
 * database a newer weft has written, whose tables this one may misread. */
static gboolean
weft_sqlite_migrate (WeftSqlite *self, GError **error)
{
  gint64 version;

  sqlite3_create_function (self->writer, "weft_sha256", 1,
                           SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, weft_sqlite_sha256,
                           NULL, NULL);

  /* IMMEDIATE: two processes opening a new file at once must not both
   * decide to create the tables. */
  if (!weft_sqlite_exec (self, self->writer, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!weft_sqlite_get_version (self, &version, error))
    goto rollback;
  if (version > WEFT_SQLITE_SCHEMA_VERSION)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: the database has schema version %" G_GINT64_FORMAT
                   ", newer than this sqlite plugin knows (%" G_GINT64_FORMAT
                   "): it was written by a newer weft; use that one, or another path",
                   self->path, version, WEFT_SQLITE_SCHEMA_VERSION);
      goto rollback;
    }
  if (version < WEFT_SQLITE_SCHEMA_VERSION && !weft_sqlite_apply_steps (self, version, error))
    goto rollback;
  return weft_sqlite_exec (self, self->writer, "COMMIT", error);

rollback:
  sqlite3_exec (self->writer, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

gboolean
weft_sqlite_open_db (WeftSqlite *self, int flags, sqlite3 **db, GError **error)
{
  if (sqlite3_open_v2 (self->path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, *db, "cannot open the database", error);
      g_clear_pointer (db, sqlite3_close_v2);
      return FALSE;
    }
  sqlite3_busy_timeout (*db, self->busy_timeout_ms);
  sqlite3_extended_result_codes (*db, 1);
  return TRUE;
}

/* WAL: readers never wait for the writer, and a commit is one append. */
static gboolean
weft_sqlite_set_wal (WeftSqlite *self, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  gboolean wal = FALSE;

  if (sqlite3_prepare_v2 (self->writer, "PRAGMA journal_mode = WAL", -1, &stmt, NULL)
      != SQLITE_OK)
    return weft_sqlite_fail (self, self->writer, "setting WAL mode", error);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    wal = g_ascii_strcasecmp ((const char *) sqlite3_column_text (stmt, 0), "wal") == 0;
  sqlite3_finalize (stmt);
  if (!wal)
    return weft_sqlite_fail (self, self->writer,
                             "cannot switch to WAL mode (is the file on a network "
                             "filesystem, or open by an old SQLite?)", error);
  return TRUE;
}

gboolean
weft_sqlite_open_writer (WeftSqlite *self, GError **error)
{
  g_autofree char *pragma = g_strdup_printf ("PRAGMA synchronous = %s", self->synchronous);

  return weft_sqlite_open_db (self, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &self->writer,
                              error)
         && weft_sqlite_set_wal (self, error)
         && weft_sqlite_exec (self, self->writer, pragma, error)
         && weft_sqlite_exec (self, self->writer, WEFT_SQLITE_WRITER_PRAGMAS, error)
         && weft_sqlite_migrate (self, error);
}
