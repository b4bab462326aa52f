/* weft-sqlite.c — the embedded default store: every event of every run in a
 * SQLite file, with the runs and tasks they describe kept current beside
 * them, and read back through the store capability (`weft runs`, `weft
 * replay`, `weft resume`).  Tables and shapes: docs/store.md.
 *
 * Two connections.  The writer belongs to the dispatcher thread (on_event,
 * flush): it opens a transaction at the first event of a batch and commits
 * when the queue runs empty (flush), or when a batch grows large or old, so
 * that a busy run costs a few fsyncs, not one per event.  The reader is
 * opened on first use by list_runs/get_run, which any thread may call while
 * the writer works; a mutex keeps it to one thread at a time.  WAL mode lets
 * the reader see the last committed batch without waiting for the writer.
 */
#include <weft/weft-sdk.h>

#include <sqlite3.h>
#include <string.h>
#include <time.h>

/* A busy run commits at least this often, so that a crash loses little and
 * readers see progress; an idle one commits at every flush. */
#define WEFT_SQLITE_BATCH_MAX_EVENTS 20000
#define WEFT_SQLITE_BATCH_MAX_US (500 * 1000)

/* While the queue is busy, a task's `running` row waits for the task's
 * next event (one write for both) at most this long; an idle queue
 * (flush) writes it at once. */
#define WEFT_SQLITE_DEFER_RUNNING_US (5 * 1000 * 1000)

/* An event's key in event_rows is runs.id × 2^32 + seq. */
#define WEFT_SQLITE_MAX_SEQ G_GUINT64_CONSTANT (0xFFFFFFFF)

/* The writer's cache holds a whole batch (20,000 events of a few hundred
 * bytes, their task rows and the B-tree pages above them): a smaller one
 * spills dirty pages to the WAL mid-transaction and reads them back. */
#define WEFT_SQLITE_WRITER_PRAGMAS \
  "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;" \
  "PRAGMA wal_autocheckpoint = 16384; PRAGMA journal_size_limit = 67108864;"

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
};

#define WEFT_SQLITE_SCHEMA_VERSION ((gint64) G_N_ELEMENTS (weft_sqlite_migrations))

typedef enum {
  STMT_EVENT,
  STMT_TASK,
  STMT_RUN_SEEN,
  STMT_RUN_ID,
  STMT_RUN_START,
  STMT_RUN_END,
  STMT_LAST_SEQ,
  STMT_BEGIN,
  STMT_COMMIT,
  N_STMTS
} WeftSqliteStmt;

static const char *const weft_sqlite_stmt_sql[N_STMTS] = {
  [STMT_EVENT] =
    "INSERT OR IGNORE INTO event_rows (key, type, task, time, json) "
    "VALUES (?1, ?2, ?3, ?4, ?5)",
  /* A skip (attempt 0) keeps the attempts made; the first start stays. */
  [STMT_TASK] =
    "INSERT INTO task_rows (run, name, ord, status, output, error, attempts, started_wall_us, "
    "  finished_wall_us) VALUES (?1, ?2, ?9, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (run, name) DO UPDATE SET status = excluded.status, "
    "  output = excluded.output, error = excluded.error, "
    "  attempts = CASE WHEN excluded.attempts > 0 THEN excluded.attempts "
    "                  ELSE task_rows.attempts END, "
    "  started_wall_us = coalesce(task_rows.started_wall_us, excluded.started_wall_us), "
    "  finished_wall_us = excluded.finished_wall_us",
  /* An instance that only some tasks name sees no run.* events: the run's
   * row then holds what task events tell. */
  [STMT_RUN_SEEN] =
    "INSERT OR IGNORE INTO runs (run_id, flow, status) VALUES (?1, ?2, 'running')",
  [STMT_RUN_ID] = "SELECT id FROM runs WHERE run_id = ?1",
  [STMT_RUN_START] =
    "INSERT INTO runs (run_id, flow, status, inputs, flow_source, started_wall_us) "
    "VALUES (?1, ?2, 'running', ?3, ?4, ?5) "
    "ON CONFLICT (run_id) DO UPDATE SET flow = excluded.flow, status = 'running', "
    "  error = NULL, finished_wall_us = NULL, "
    "  inputs = coalesce(runs.inputs, excluded.inputs), "
    "  flow_source = coalesce(runs.flow_source, excluded.flow_source), "
    "  started_wall_us = coalesce(runs.started_wall_us, excluded.started_wall_us)",
  [STMT_RUN_END] =
    "UPDATE runs SET status = ?2, error = ?3, finished_wall_us = ?4 WHERE id = ?1",
  [STMT_LAST_SEQ] =
    "UPDATE runs SET last_seq = max(last_seq, ?2) WHERE id = ?1",
  [STMT_BEGIN] = "BEGIN IMMEDIATE",
  [STMT_COMMIT] = "COMMIT",
};

/* A task's row as this batch's events leave it, written once at commit:
 * a task that starts and completes within one batch costs one upsert, not
 * two.  Fields are those of the last event, but `started_wall_us` (the
 * first start) and `attempts` (the last attempt that is not 0). */
typedef struct {
  char *name;
  const char *status;         /* static */
  char *output;
  char *error;
  int attempts;
  guint64 first_seq;          /* the row's `ord` when it is new */
  gint64 deferred_us;         /* when a commit first left it unwritten */
  gint64 started_wall_us;
  gint64 finished_wall_us;
} WeftSqliteBatchTask;

typedef struct {
  char *run_id;
  gint64 id;                  /* runs.id */
  guint64 last_seq;
  GHashTable *tasks;          /* name → WeftSqliteBatchTask (owned by `order`) */
  GPtrArray *order;           /* the batch's tasks, as first touched */
} WeftSqliteBatchRun;

static void
weft_sqlite_batch_task_free (gpointer data)
{
  WeftSqliteBatchTask *task = data;

  g_free (task->name);
  g_free (task->output);
  g_free (task->error);
  g_free (task);
}

static void
weft_sqlite_batch_run_free (gpointer data)
{
  WeftSqliteBatchRun *run = data;

  g_hash_table_unref (run->tasks);
  g_ptr_array_unref (run->order);
  g_free (run->run_id);
  g_free (run);
}

typedef struct {
  char *path;
  gint busy_timeout_ms;
  char *synchronous;

  /* The dispatcher thread's (and create/destroy's). */
  sqlite3 *writer;
  sqlite3_stmt *stmts[N_STMTS];
  gboolean in_batch;
  guint batch_events;
  gint64 batch_started_us;
  GHashTable *batch_runs;     /* run id → WeftSqliteBatchRun, this batch's */
  WeftSqliteBatchRun *cur_run; /* the last event's, in batch_runs */
  GHashTable *known_runs;     /* run id → its runs.id (gint64), rows that exist */
  GString *json;              /* the event being stored, as JSON */

  GMutex read_lock;
  sqlite3 *reader;            /* opened by the first read */
} WeftSqlite;

static const WeftOption weft_sqlite_options[] = {
  { "path", WEFT_OPTION_STRING, "\"weft.db\"", FALSE,
    "the database file, created if missing (relative to the working directory)" },
  { "busy_timeout_ms", WEFT_OPTION_INT, "5000", FALSE,
    "how long to wait for another process holding the database (ms)" },
  { "synchronous", WEFT_OPTION_STRING, "\"normal\"", FALSE,
    "SQLite's synchronous pragma: \"off\", \"normal\" (safe from crashes in WAL mode), "
    "\"full\" or \"extra\" (also from power loss)" },
  WEFT_OPTION_END
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

static gboolean
weft_sqlite_fail (WeftSqlite *self, sqlite3 *db, const char *what, GError **error)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "%s: %s: %s", self->path, what,
               db ? sqlite3_errmsg (db) : "out of memory");
  return FALSE;
}

/* Errors on the dispatcher thread have nobody to return to: they are
 * logged, naming the file, and the events they concern are lost. */
static void
weft_sqlite_warn (WeftSqlite *self, const char *what)
{
  g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING,
                    "MESSAGE", "sqlite store %s: %s: %s", self->path, what,
                    sqlite3_errmsg (self->writer));
}

static gboolean
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

/* Brings the database to this plugin's schema, all steps or none; refuses a
 * database a newer weft has written, whose tables this one may misread. */
static gboolean
weft_sqlite_migrate (WeftSqlite *self, GError **error)
{
  gint64 version;

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
/* create / destroy                                                         */

static gboolean
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

static gboolean
weft_sqlite_check_options (WeftSqlite *self, const WeftConfig *config, GError **error)
{
  static const char *const levels[] = { "off", "normal", "full", "extra", NULL };
  gint64 timeout = weft_config_get_int (config, "busy_timeout_ms");

  if (*self->path == '\0')
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"path\": must not be empty");
      return FALSE;
    }
  if (timeout < 0 || timeout > G_MAXINT)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"busy_timeout_ms\": must be between 0 and %d, not %"
                   G_GINT64_FORMAT, G_MAXINT, timeout);
      return FALSE;
    }
  self->busy_timeout_ms = (gint) timeout;
  if (!g_strv_contains (levels, self->synchronous))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"synchronous\": must be \"off\", \"normal\", \"full\" or "
                   "\"extra\", not \"%s\"", self->synchronous);
      return FALSE;
    }
  return TRUE;
}

static void
weft_sqlite_free (WeftSqlite *self)
{
  for (guint i = 0; i < N_STMTS; i++)
    sqlite3_finalize (self->stmts[i]);
  sqlite3_close_v2 (self->writer);
  sqlite3_close_v2 (self->reader);
  g_clear_pointer (&self->batch_runs, g_hash_table_unref);
  g_clear_pointer (&self->known_runs, g_hash_table_unref);
  if (self->json != NULL)
    g_string_free (self->json, TRUE);
  g_mutex_clear (&self->read_lock);
  g_free (self->path);
  g_free (self->synchronous);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftSqlite, weft_sqlite_free)

static gboolean
weft_sqlite_prepare (WeftSqlite *self, GError **error)
{
  for (guint i = 0; i < N_STMTS; i++)
    if (weft_sqlite_stmt_sql[i] != NULL
        && sqlite3_prepare_v3 (self->writer, weft_sqlite_stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &self->stmts[i], NULL) != SQLITE_OK)
      return weft_sqlite_fail (self, self->writer, weft_sqlite_stmt_sql[i], error);
  return TRUE;
}

static gpointer
weft_sqlite_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftSqlite) self = g_new0 (WeftSqlite, 1);
  g_autofree char *pragma = NULL;

  g_mutex_init (&self->read_lock);
  self->path = g_strdup (weft_config_get_string (config, "path"));
  self->synchronous = g_ascii_strdown (weft_config_get_string (config, "synchronous"), -1);
  self->batch_runs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                            weft_sqlite_batch_run_free);
  self->known_runs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->json = g_string_sized_new (512);
  if (!weft_sqlite_check_options (self, config, error))
    return NULL;

  /* Opened and migrated here, not at the first event, so that a bad path
   * or a newer database stops the flow from loading. */
  pragma = g_strdup_printf ("PRAGMA synchronous = %s", self->synchronous);
  if (!weft_sqlite_open_db (self, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &self->writer,
                            error)
      || !weft_sqlite_set_wal (self, error)
      || !weft_sqlite_exec (self, self->writer, pragma, error)
      || !weft_sqlite_exec (self, self->writer, WEFT_SQLITE_WRITER_PRAGMAS, error)
      || !weft_sqlite_migrate (self, error)
      || !weft_sqlite_prepare (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* ------------------------------------------------------------------------ */
/* Event JSON                                                               */

/* The SDK's JSON, written into one buffer reused for every event. */
static const char *
weft_sqlite_event_json (WeftSqlite *self, const WeftEvent *event)
{
  g_string_truncate (self->json, 0);
  weft_event_append_json (event, self->json);
  return self->json->str;
}

/* ------------------------------------------------------------------------ */
/* Writing (the dispatcher thread)                                          */

static gboolean
weft_sqlite_step (WeftSqlite *self, WeftSqliteStmt which, const char *what)
{
  sqlite3_stmt *stmt = self->stmts[which];
  int rc = sqlite3_step (stmt);

  /* Every statement has all its parameters bound before each step, so the
   * bindings need no clearing. */
  sqlite3_reset (stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  weft_sqlite_warn (self, what);
  return FALSE;
}

static void
weft_sqlite_bind_text (sqlite3_stmt *stmt, int i, const char *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, i, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, i);
}

static void
weft_sqlite_bind_time (sqlite3_stmt *stmt, int i, gint64 wall_us)
{
  if (wall_us != 0)
    sqlite3_bind_int64 (stmt, i, wall_us);
  else
    sqlite3_bind_null (stmt, i);
}

static gboolean
weft_sqlite_begin (WeftSqlite *self)
{
  if (self->in_batch)
    return TRUE;
  if (!weft_sqlite_step (self, STMT_BEGIN, "cannot start a transaction"))
    return FALSE;
  self->in_batch = TRUE;
  self->batch_events = 0;
  self->batch_started_us = g_get_monotonic_time ();
  return TRUE;
}

static void
weft_sqlite_write_task (WeftSqlite *self, gint64 run_id, WeftSqliteBatchTask *task)
{
  sqlite3_stmt *stmt = self->stmts[STMT_TASK];

  sqlite3_bind_int64 (stmt, 1, run_id);
  sqlite3_bind_text (stmt, 2, task->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, task->status, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, 4, task->output);
  weft_sqlite_bind_text (stmt, 5, task->error);
  sqlite3_bind_int (stmt, 6, task->attempts);
  weft_sqlite_bind_time (stmt, 7, task->started_wall_us);
  weft_sqlite_bind_time (stmt, 8, task->finished_wall_us);
  sqlite3_bind_int64 (stmt, 9, (sqlite3_int64) task->first_seq);
  weft_sqlite_step (self, STMT_TASK, "cannot store a task");
}

/* A task that has only started, while more events wait: its row can wait
 * for the task's next event, so that the two cost one write (a busy run
 * starts many tasks a batch before it completes them). */
static gboolean
weft_sqlite_defer_task (WeftSqliteBatchTask *task, gboolean idle, gint64 now)
{
  if (idle || task->finished_wall_us != 0 || strcmp (task->status, "running") != 0)
    return FALSE;
  if (task->deferred_us == 0)
    task->deferred_us = now;
  return now - task->deferred_us < WEFT_SQLITE_DEFER_RUNNING_US;
}

/* Each touched task's row, and each run's last_seq, once per batch; with
 * the queue busy (!idle), rows of tasks that only started may stay for the
 * next batch. */
static void
weft_sqlite_write_batch (WeftSqlite *self, gboolean idle)
{
  GHashTableIter iter;
  gpointer data;
  gint64 now = g_get_monotonic_time ();

  g_hash_table_iter_init (&iter, self->batch_runs);
  while (g_hash_table_iter_next (&iter, NULL, &data))
    {
      WeftSqliteBatchRun *run = data;
      sqlite3_stmt *stmt = self->stmts[STMT_LAST_SEQ];
      guint kept = 0;

      for (guint i = 0; i < run->order->len; i++)
        {
          WeftSqliteBatchTask *task = run->order->pdata[i];

          if (weft_sqlite_defer_task (task, idle, now))
            {
              run->order->pdata[kept++] = task;
              continue;
            }
          weft_sqlite_write_task (self, run->id, task);
          g_hash_table_remove (run->tasks, task->name);
          weft_sqlite_batch_task_free (task);
        }
      /* The written ones are freed: only drop the slots. */
      g_ptr_array_set_free_func (run->order, NULL);
      g_ptr_array_set_size (run->order, kept);
      g_ptr_array_set_free_func (run->order, weft_sqlite_batch_task_free);
      sqlite3_bind_int64 (stmt, 1, run->id);
      sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) run->last_seq);
      weft_sqlite_step (self, STMT_LAST_SEQ, "cannot record a run's last event");
      if (kept == 0)
        {
          if (self->cur_run == run)
            self->cur_run = NULL;
          g_hash_table_iter_remove (&iter);
        }
    }
}

static void
weft_sqlite_commit (WeftSqlite *self, gboolean idle)
{
  if (!self->in_batch)
    return;
  weft_sqlite_write_batch (self, idle);
  self->in_batch = FALSE;
  if (weft_sqlite_step (self, STMT_COMMIT, "cannot commit"))
    return;
  g_autofree char *what = g_strdup_printf ("%u event(s) lost", self->batch_events);
  weft_sqlite_warn (self, what);
  sqlite3_exec (self->writer, "ROLLBACK", NULL, NULL, NULL);
  /* Rows this batch created are gone with it, and their keys. */
  g_hash_table_remove_all (self->known_runs);
  self->cur_run = NULL;
  g_hash_table_remove_all (self->batch_runs);
}

/* The runs.id of the event's run, whose row is created when it has none
 * yet (an instance that only some tasks name sees no run.* events: the
 * row then holds what task events tell). */
static gboolean
weft_sqlite_run_key (WeftSqlite *self, const WeftEvent *event, gint64 *id)
{
  const char *run_id = weft_event_get_run_id (event);
  gint64 *known = g_hash_table_lookup (self->known_runs, run_id);
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_ID];
  int rc;

  if (known != NULL)
    {
      *id = *known;
      return TRUE;
    }
  /* A bound on memory for a process that stores runs forever. */
  if (g_hash_table_size (self->known_runs) > 10000)
    g_hash_table_remove_all (self->known_runs);
  sqlite3_bind_text (self->stmts[STMT_RUN_SEEN], 1, run_id, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (self->stmts[STMT_RUN_SEEN], 2, weft_event_get_flow_name (event));
  if (!weft_sqlite_step (self, STMT_RUN_SEEN, "cannot store a run"))
    return FALSE;
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW)
    {
      weft_sqlite_warn (self, "cannot read a run's key");
      return FALSE;
    }
  known = g_new (gint64, 1);
  *known = *id;
  g_hash_table_insert (self->known_runs, g_strdup (run_id), known);
  return TRUE;
}

/* The batch's state of the event's run; NULL when its row cannot be
 * written.  Consecutive events of one run skip the hash lookup. */
static WeftSqliteBatchRun *
weft_sqlite_batch_run (WeftSqlite *self, const WeftEvent *event)
{
  const char *run_id = weft_event_get_run_id (event);
  WeftSqliteBatchRun *run = self->cur_run;
  gint64 id;

  if (run != NULL && strcmp (run->run_id, run_id) == 0)
    return run;
  run = g_hash_table_lookup (self->batch_runs, run_id);
  if (run == NULL)
    {
      if (!weft_sqlite_run_key (self, event, &id))
        return NULL;
      run = g_new0 (WeftSqliteBatchRun, 1);
      run->run_id = g_strdup (run_id);
      run->id = id;
      run->order = g_ptr_array_new_with_free_func (weft_sqlite_batch_task_free);
      run->tasks = g_hash_table_new (g_str_hash, g_str_equal);
      g_hash_table_insert (self->batch_runs, run->run_id, run);
    }
  self->cur_run = run;
  return run;
}

/* Stores the event itself; FALSE when it was stored before (a second
 * delivery must change nothing) or could not be. */
static gboolean
weft_sqlite_insert_event (WeftSqlite *self, WeftSqliteBatchRun *run, const WeftEvent *event)
{
  sqlite3_stmt *stmt = self->stmts[STMT_EVENT];
  guint64 seq = weft_event_get_seq (event);
  const char *json;

  if (seq > WEFT_SQLITE_MAX_SEQ)
    {
      g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE",
                        "sqlite store %s: run %s: event %" G_GUINT64_FORMAT " not stored: "
                        "the store keeps %" G_GUINT64_FORMAT " events per run at most",
                        self->path, run->run_id, seq, (guint64) WEFT_SQLITE_MAX_SEQ);
      return FALSE;
    }
  json = weft_sqlite_event_json (self, event);
  sqlite3_bind_int64 (stmt, 1, (run->id << 32) + (sqlite3_int64) seq);
  sqlite3_bind_text (stmt, 2, weft_event_type_to_string (weft_event_get_event_type (event)),
                     -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, 3, weft_event_get_task_name (event));
  sqlite3_bind_int64 (stmt, 4, weft_event_get_wall_us (event));
  sqlite3_bind_text (stmt, 5, json, (int) self->json->len, SQLITE_STATIC);
  if (!weft_sqlite_step (self, STMT_EVENT, "cannot store an event"))
    return FALSE;
  return sqlite3_changes (self->writer) > 0;
}

static void
weft_sqlite_run_started (WeftSqlite *self, const WeftEvent *event)
{
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_START];

  sqlite3_bind_text (stmt, 1, weft_event_get_run_id (event), -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, 2, weft_event_get_flow_name (event));
  weft_sqlite_bind_text (stmt, 3, weft_event_get_inputs (event));
  weft_sqlite_bind_text (stmt, 4, weft_event_get_flow_source (event));
  sqlite3_bind_int64 (stmt, 5, weft_event_get_wall_us (event));
  weft_sqlite_step (self, STMT_RUN_START, "cannot store a run");
}

static void
weft_sqlite_run_ended (WeftSqlite *self, WeftSqliteBatchRun *run, const WeftEvent *event,
                       const char *status)
{
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_END];

  sqlite3_bind_int64 (stmt, 1, run->id);
  sqlite3_bind_text (stmt, 2, status, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, 3, weft_event_get_error (event));
  sqlite3_bind_int64 (stmt, 4, weft_event_get_wall_us (event));
  weft_sqlite_step (self, STMT_RUN_END, "cannot store a run's end");
  g_hash_table_remove (self->known_runs, run->run_id);
}

/* The task's row after `event`, merged into the batch's. */
static void
weft_sqlite_task_event (WeftSqliteBatchRun *run, const WeftEvent *event, const char *status)
{
  const char *name = weft_event_get_task_name (event);
  WeftSqliteBatchTask *task = g_hash_table_lookup (run->tasks, name);
  WeftEventType type = weft_event_get_event_type (event);
  gint64 wall = weft_event_get_wall_us (event);
  guint attempt = weft_event_get_attempt (event);

  if (task == NULL)
    {
      task = g_new0 (WeftSqliteBatchTask, 1);
      task->name = g_strdup (name);
      task->first_seq = weft_event_get_seq (event);
      g_ptr_array_add (run->order, task);
      g_hash_table_insert (run->tasks, task->name, task);
    }
  task->status = status;
  g_free (task->output);
  task->output = type == WEFT_EVENT_TASK_COMPLETED
                 ? g_strdup (weft_event_get_output (event)) : NULL;
  g_free (task->error);
  task->error = g_strdup (weft_event_get_error (event));
  if (attempt > 0)
    task->attempts = (int) attempt;
  /* A skipped task never started; a reused one (attempt 0) starts and
   * ends at once. */
  if (task->started_wall_us == 0 && type != WEFT_EVENT_TASK_SKIPPED)
    task->started_wall_us = wall;
  task->finished_wall_us = type == WEFT_EVENT_TASK_COMPLETED || type == WEFT_EVENT_TASK_FAILED
                           || type == WEFT_EVENT_TASK_CANCELLED
                           || type == WEFT_EVENT_TASK_SKIPPED ? wall : 0;
}

/* What the runs and tasks tables make of one stored event. */
static void
weft_sqlite_apply (WeftSqlite *self, WeftSqliteBatchRun *run, const WeftEvent *event)
{
  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
    case WEFT_EVENT_RUN_RESUMED:
      weft_sqlite_run_started (self, event);
      break;
    case WEFT_EVENT_RUN_COMPLETED:
      weft_sqlite_run_ended (self, run, event, "completed");
      break;
    case WEFT_EVENT_RUN_FAILED:
      weft_sqlite_run_ended (self, run, event, "failed");
      break;
    case WEFT_EVENT_RUN_CANCELLED:
      weft_sqlite_run_ended (self, run, event, "cancelled");
      break;
    case WEFT_EVENT_TASK_STARTED:
      weft_sqlite_task_event (run, event, "running");
      break;
    case WEFT_EVENT_TASK_COMPLETED:
      weft_sqlite_task_event (run, event, "completed");
      break;
    case WEFT_EVENT_TASK_FAILED:
      weft_sqlite_task_event (run, event, "failed");
      break;
    case WEFT_EVENT_TASK_CANCELLED:
      weft_sqlite_task_event (run, event, "cancelled");
      break;
    case WEFT_EVENT_TASK_RETRYING:
      weft_sqlite_task_event (run, event, "retrying");
      break;
    case WEFT_EVENT_TASK_SKIPPED:
      weft_sqlite_task_event (run, event, "skipped");
      break;
    case WEFT_EVENT_TASK_STEP:
    default:
      /* Steps, and types newer than this plugin, live in events only. */
      break;
    }
}

static void
weft_sqlite_on_event (gpointer instance, const WeftEvent *event)
{
  WeftSqlite *self = instance;
  WeftSqliteBatchRun *run;

  if (!weft_sqlite_begin (self))
    return;
  self->batch_events++;
  run = weft_sqlite_batch_run (self, event);
  if (run != NULL && weft_sqlite_insert_event (self, run, event))
    {
      run->last_seq = MAX (run->last_seq, weft_event_get_seq (event));
      weft_sqlite_apply (self, run, event);
    }
  if (self->batch_events >= WEFT_SQLITE_BATCH_MAX_EVENTS
      || g_get_monotonic_time () - self->batch_started_us >= WEFT_SQLITE_BATCH_MAX_US)
    weft_sqlite_commit (self, FALSE);
}

static void
weft_sqlite_flush (gpointer instance)
{
  weft_sqlite_commit (instance, TRUE);
}

static void
weft_sqlite_destroy (gpointer instance)
{
  WeftSqlite *self = instance;

  /* flush() ran after the last event; a store opened only to read has no
   * batch.  Committing again is harmless either way. */
  weft_sqlite_commit (self, TRUE);
  weft_sqlite_free (self);
}

/* ------------------------------------------------------------------------ */
/* Reading (any thread, one at a time)                                      */

static sqlite3 *
weft_sqlite_reader (WeftSqlite *self, GError **error)
{
  if (self->reader == NULL
      && !weft_sqlite_open_db (self, SQLITE_OPEN_READONLY, &self->reader, error))
    return NULL;
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

/* `inputs` is stored as JSON text and given back as the object. */
static void
weft_sqlite_add_json_column (JsonBuilder *b, const char *name, sqlite3_stmt *stmt, int col)
{
  const char *text = (const char *) sqlite3_column_text (stmt, col);
  JsonNode *node = text ? json_from_string (text, NULL) : NULL;

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
      if (strcmp (name, "inputs") == 0)
        weft_sqlite_add_json_column (b, name, stmt, c);
      else
        weft_sqlite_add_column (b, name, stmt, c);
    }
}

static JsonNode *
weft_sqlite_list_runs_locked (WeftSqlite *self, sqlite3 *db, guint limit, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db,
                          "SELECT run_id, flow, status, started_wall_us, finished_wall_us, "
                          "error FROM runs ORDER BY started_wall_us DESC, rowid DESC "
                          "LIMIT ?1", -1, &stmt, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, db, "cannot list runs", error);
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, limit > 0 ? (sqlite3_int64) limit : -1);
  json_builder_begin_array (b);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      weft_sqlite_add_row (b, stmt);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      weft_sqlite_fail (self, db, "cannot list runs", error);
      return NULL;
    }
  return json_builder_get_root (b);
}

static JsonNode *
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

static gboolean
weft_sqlite_add_tasks (WeftSqlite *self, sqlite3 *db, const char *run_id, JsonBuilder *b,
                       GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  /* In the order they first appeared: the order the run reached them. */
  if (sqlite3_prepare_v2 (db,
                          "SELECT t.name AS name, t.status AS status, t.output AS output, "
                          "t.error AS error, t.attempts AS attempts, "
                          "t.started_wall_us AS started_wall_us, "
                          "t.finished_wall_us AS finished_wall_us "
                          "FROM task_rows t JOIN runs r ON r.id = t.run "
                          "WHERE r.run_id = ?1 ORDER BY t.ord",
                          -1, &stmt, NULL) != SQLITE_OK)
    return weft_sqlite_fail (self, db, "cannot read a run's tasks", error);
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  json_builder_set_member_name (b, "tasks");
  json_builder_begin_array (b);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      weft_sqlite_add_row (b, stmt);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return weft_sqlite_fail (self, db, "cannot read a run's tasks", error);
  return TRUE;
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
                          "started_wall_us, finished_wall_us, last_seq FROM runs "
                          "WHERE run_id = ?1", -1, &stmt, NULL) != SQLITE_OK)
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
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: no run \"%s\" is stored",
                   self->path, run_id);
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
  return json_builder_get_root (b);
}

static JsonNode *
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

/* ------------------------------------------------------------------------ */

static const WeftCallbackClass weft_sqlite_callback_class = {
  .on_event = weft_sqlite_on_event,
  .flush = weft_sqlite_flush,
};

static const WeftStoreClass weft_sqlite_store_class = {
  .list_runs = weft_sqlite_list_runs,
  .get_run = weft_sqlite_get_run,
};

static const WeftPluginDescriptor weft_sqlite_descriptor = {
  .abi = WEFT_ABI_VERSION,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "sqlite",
  .version = "0.1.0",
  .description = "Stores runs, tasks and events in a SQLite file (WAL, batched); "
                 "the default store of `weft runs`, `replay` and `resume`",
  .options = weft_sqlite_options,
  .create = weft_sqlite_create,
  .destroy = weft_sqlite_destroy,
  .callback = &weft_sqlite_callback_class,
  .store = &weft_sqlite_store_class,
};

WEFT_PLUGIN_DEFINE (weft_sqlite_descriptor)
