/* weft-sqlite.c — the embedded default store: every event of every run in a
 * SQLite file, with the runs and tasks they describe kept current beside
 * them, and read back through the store capability (`weft runs`, `weft
 * replay`, `weft resume`).  Tables and shapes: docs/store.md.
 *
 * Three connections.  The writer belongs to the dispatcher thread
 * (on_event, flush): it opens a transaction at the first event of a batch
 * and commits when the queue runs empty (flush), or when a batch grows
 * large or old, so that a busy run costs a few commits, not one per event.
 * The checkpointer, a thread of the plugin's own started by the first
 * commit that needs it, copies the WAL into the database beside the writer.
 * The reader is opened on first use by list_runs/get_run, which any thread
 * may call while the writer works; a mutex keeps it to one thread at a
 * time.  WAL mode lets the reader see the last committed batch without
 * waiting for the writer.
 */
#include <weft/weft-sdk.h>

#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "weft-sqlite-claims.h"

/* A busy run commits at least this often, so that a crash loses little and
 * readers see progress; an idle one commits at every flush. */
#define WEFT_SQLITE_BATCH_MAX_EVENTS 20000
#define WEFT_SQLITE_BATCH_MAX_US (500 * 1000)

/* While the queue is busy, a task's `running` row waits for the task's
 * next event (one write for both) at most this long; an idle queue
 * (flush) writes it at once. */
#define WEFT_SQLITE_DEFER_RUNNING_US (5 * 1000 * 1000)

/* An event's key in event_rows is run_rows.id × 2^32 + seq. */
#define WEFT_SQLITE_MAX_SEQ G_GUINT64_CONSTANT (0xFFFFFFFF)

/* The writer's cache holds a whole batch (20,000 events of a few hundred
 * bytes, their task rows and the B-tree pages above them): a smaller one
 * spills dirty pages to the WAL mid-transaction and reads them back.
 * Checkpoints are the checkpointer's (below), not the writer's. */
#define WEFT_SQLITE_WRITER_PRAGMAS \
  "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;" \
  "PRAGMA journal_size_limit = 67108864;"

/* A commit that leaves this many pages (4 KiB) in the WAL wakes the
 * checkpointer thread, which copies them to the database while the writer
 * goes on; the writer checkpoints itself only past the second figure, when
 * the checkpointer cannot keep up or a busy writer never lets the WAL
 * start over (it restarts only when a transaction begins with every page
 * copied), so that the WAL stays bounded. */
#define WEFT_SQLITE_CHECKPOINT_PAGES 4096
#define WEFT_SQLITE_WAL_MAX_PAGES 65536

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
};

#define WEFT_SQLITE_SCHEMA_VERSION ((gint64) G_N_ELEMENTS (weft_sqlite_migrations))

typedef enum {
  STMT_EVENT,
  STMT_EVENTS,
  STMT_EVENT_TOP,
  STMT_TASK_INSERT,
  STMT_TASKS,
  STMT_TASK_UPDATE,
  STMT_TASK_LOAD,
  STMT_RUN_SEEN,
  STMT_RUN_ID,
  STMT_RUN_START,
  STMT_FLOW_TEXT,
  STMT_RUN_SOURCE,
  STMT_RUN_END,
  STMT_BEGIN,
  STMT_COMMIT,
  N_STMTS
} WeftSqliteStmt;

static const char *const weft_sqlite_stmt_sql[N_STMTS] = {
  /* An event that may be stored already, or one of the last few of a
   * batch; the others go WEFT_SQLITE_ROWS_PER_INSERT at a time (below). */
  [STMT_EVENT] = "INSERT OR IGNORE INTO event_rows (key, json) VALUES (?1, ?2)",
  /* The highest key of a run: its events above it are new. */
  [STMT_EVENT_TOP] = "SELECT max(key) FROM event_rows WHERE key BETWEEN ?1 AND ?2",
  /* The writer holds a task's whole row (docs/store.md): a new one is
   * inserted, a known one updated by its key, never merged in SQL. */
  [STMT_TASK_INSERT] =
    "INSERT INTO task_rows (key, name, status, output, error, attempts, started_wall_us, "
    "  finished_wall_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
  [STMT_TASK_UPDATE] =
    "UPDATE task_rows SET status = ?3, output = ?4, error = ?5, attempts = ?6, "
    "  started_wall_us = ?7, finished_wall_us = ?8 WHERE key = ?1",
  [STMT_TASK_LOAD] =
    "SELECT key, name, attempts, started_wall_us FROM task_rows WHERE key BETWEEN ?1 AND ?2",
  /* An instance that only some tasks name sees no run.* events: the run's
   * row then holds what task events tell. */
  [STMT_RUN_SEEN] =
    "INSERT OR IGNORE INTO run_rows (run_id, flow, status) VALUES (?1, ?2, 'running')",
  [STMT_RUN_ID] = "SELECT id FROM run_rows WHERE run_id = ?1",
  /* A resume keeps the first start, inputs and flow source. */
  [STMT_RUN_START] =
    "UPDATE run_rows SET flow = ?2, status = 'running', error = NULL, "
    "  finished_wall_us = NULL, started_wall_us = coalesce(started_wall_us, ?3) "
    "WHERE id = ?1",
  [STMT_FLOW_TEXT] =
    "INSERT INTO flow_texts (sha256, text) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
  [STMT_RUN_SOURCE] =
    "INSERT INTO run_sources (id, inputs, flow_text) "
    "VALUES (?1, ?2, (SELECT id FROM flow_texts WHERE sha256 = ?3)) "
    "ON CONFLICT (id) DO UPDATE SET inputs = coalesce(inputs, excluded.inputs), "
    "  flow_text = coalesce(flow_text, excluded.flow_text) "
    "WHERE inputs IS NULL OR flow_text IS NULL",
  [STMT_RUN_END] =
    "UPDATE run_rows SET status = ?2, error = ?3, finished_wall_us = ?4 WHERE id = ?1",
  [STMT_BEGIN] = "BEGIN IMMEDIATE",
  [STMT_COMMIT] = "COMMIT",
};

/* Most of a one-row INSERT's cost is the statement's, not the row's: new
 * events and new task rows are inserted this many to a statement. */
#define WEFT_SQLITE_ROWS_PER_INSERT 16
#define WEFT_SQLITE_EVENT_COLUMNS 2
#define WEFT_SQLITE_TASK_COLUMNS 8

static const struct {
  WeftSqliteStmt stmt;
  const char *head;
  guint columns;
} weft_sqlite_many_rows[] = {
  { STMT_EVENTS, "INSERT INTO event_rows (key, json) VALUES ", WEFT_SQLITE_EVENT_COLUMNS },
  { STMT_TASKS, "INSERT INTO task_rows (key, name, status, output, error, attempts, "
                "started_wall_us, finished_wall_us) VALUES ", WEFT_SQLITE_TASK_COLUMNS },
};

/* An event waiting for its INSERT: its JSON is in WeftSqlite.event_text. */
typedef struct {
  gint64 key;
  gsize offset;
  gsize len;
} WeftSqliteEventRow;

/* A task's row as the writer knows it.  Fields are those of the task's
 * last event, but `started_wall_us` (the first start) and `attempts` (the
 * last attempt that is not 0).  A row waits in memory until its batch is
 * committed, so that a task that starts and completes within one batch
 * costs one write, not two; once written, its texts are dropped. */
typedef struct {
  char *name;
  gint64 key;                 /* task_rows.key: run_rows.id × 2^32 + ord */
  gboolean stored;            /* the row exists */
  gboolean pending;           /* changed since written: in its run's `pending` */
  GList *waiting;             /* or its link in its run's `waiting` */
  const char *status;         /* static */
  char *output;
  char *error;
  int attempts;
  gint64 started_wall_us;
  gint64 finished_wall_us;
  gint64 deferred_us;         /* when a commit left it unwritten */
} WeftSqliteTask;

/* A run the writer has seen an event of.  `complete` says that `tasks`
 * holds every row the run has: a run whose row this instance created, and
 * none of whose events it found stored already (which would mean another
 * writer).  Otherwise its rows are read back at the first task it does
 * not know, so that a task never gets a second row. */
typedef struct {
  char *run_id;
  gint64 id;                  /* run_rows.id */
  gboolean complete;
  /* The highest seq stored, read at the run's first event of a
   * transaction (which no other writer can add to): events above it are
   * new without asking SQLite. */
  guint64 top_seq;
  guint top_txn;              /* the WeftSqlite.txn it was read in */
  gboolean ended;             /* its run.* end is stored: forgotten at commit */
  gboolean in_batch;          /* in WeftSqlite.batch */
  GHashTable *tasks;          /* name → WeftSqliteTask (owned) */
  GPtrArray *pending;         /* tasks to write at commit, as first touched */
  GQueue *waiting;            /* started tasks whose row waits, oldest first */
} WeftSqliteRun;

static void
weft_sqlite_task_free (gpointer data)
{
  WeftSqliteTask *task = data;

  g_free (task->name);
  g_free (task->output);
  g_free (task->error);
  g_free (task);
}

static void
weft_sqlite_run_free (gpointer data)
{
  WeftSqliteRun *run = data;

  g_hash_table_unref (run->tasks);
  g_ptr_array_unref (run->pending);
  g_queue_free (run->waiting);
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
  GHashTable *runs;           /* run id → WeftSqliteRun */
  GPtrArray *batch;           /* the runs with something to write at commit */
  WeftSqliteRun *cur_run;     /* the last event's */
  guint txn;                  /* transactions begun */
  GString *event_text;        /* the JSON of event_rows, back to back */
  WeftSqliteEventRow event_rows[WEFT_SQLITE_ROWS_PER_INSERT];
  guint n_event_rows;         /* events waiting for their INSERT */
  WeftSqliteTask *new_tasks[WEFT_SQLITE_ROWS_PER_INSERT];
  guint n_new_tasks;          /* task rows waiting for their INSERT */

  GMutex read_lock;           /* the reader's and the deleter's */
  sqlite3 *reader;            /* opened by the first read */
  sqlite3 *deleter;           /* opened by the first delete_run */

  /* The runs this instance is running (started, resumed or claimed), so
   * that another process can tell they are live. */
  WeftSqliteClaims claims;

  /* The checkpointer: started by the first commit that needs it. */
  GMutex checkpoint_lock;
  GCond checkpoint_cond;
  GThread *checkpointer;
  gboolean checkpoint_wanted;
  gboolean checkpoint_stop;
} WeftSqlite;

/* The options, as weft binds them (see weft_sqlite_options). */
typedef struct {
  const char *path;
  gint64 busy_timeout_ms;
  gint synchronous;           /* an index in weft_sqlite_synchronous */
} WeftSqliteOptions;

/* SQLite's own names, which it takes in any case. */
static const char * const weft_sqlite_synchronous[] = { "off", "normal", "full", "extra", NULL };

static const WeftOption weft_sqlite_options[] = {
  { .name = "path", .type = WEFT_OPTION_STRING, .default_json = "\"weft.db\"",
    .flags = WEFT_OPTION_NOT_EMPTY, .offset = offsetof (WeftSqliteOptions, path),
    .description = "the database file, created if missing (relative to the working "
                   "directory)" },
  { .name = "busy_timeout_ms", .type = WEFT_OPTION_INT, .default_json = "5000", .min = 0,
    .max = G_MAXINT, .offset = offsetof (WeftSqliteOptions, busy_timeout_ms),
    .description = "how long to wait for another process holding the database (ms)" },
  { .name = "synchronous", .type = WEFT_OPTION_ENUM, .default_json = "\"normal\"",
    .choices = weft_sqlite_synchronous, .flags = WEFT_OPTION_ANY_CASE,
    .offset = offsetof (WeftSqliteOptions, synchronous),
    .description = "SQLite's synchronous pragma: \"off\", \"normal\" (safe from crashes in WAL "
                   "mode), \"full\" or \"extra\" (also from power loss)" },
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

/* ------------------------------------------------------------------------ */
/* Checkpoints (a thread of their own)                                      */

/* Copies the WAL's pages into the database whenever the writer asks, on a
 * connection of its own: a PASSIVE checkpoint neither waits for nor blocks
 * the writer, so that copying (and its fsyncs) happens beside writing, not
 * in it.  What it has not copied when the plugin closes is copied by the
 * writer's close. */
static gpointer
weft_sqlite_checkpointer (gpointer data)
{
  WeftSqlite *self = data;
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;

  /* A connection learns that the file is in WAL mode at its first read:
   * until then, a checkpoint does nothing. */
  if (!weft_sqlite_open_db (self, SQLITE_OPEN_READWRITE, &db, &error)
      || !weft_sqlite_exec (self, db, "SELECT count(*) FROM sqlite_master", &error))
    {
      /* The writer still checkpoints past WEFT_SQLITE_WAL_MAX_PAGES. */
      g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE", "%s", error->message);
      sqlite3_close_v2 (db);
      return NULL;
    }
  g_mutex_lock (&self->checkpoint_lock);
  while (!self->checkpoint_stop)
    {
      if (!self->checkpoint_wanted)
        {
          g_cond_wait (&self->checkpoint_cond, &self->checkpoint_lock);
          continue;
        }
      self->checkpoint_wanted = FALSE;
      g_mutex_unlock (&self->checkpoint_lock);
      sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      g_mutex_lock (&self->checkpoint_lock);
    }
  g_mutex_unlock (&self->checkpoint_lock);
  sqlite3_close_v2 (db);
  return NULL;
}

static void
weft_sqlite_checkpoint_soon (WeftSqlite *self)
{
  g_mutex_lock (&self->checkpoint_lock);
  if (self->checkpoint_stop)
    {
      /* Closing: the writer's close copies what is left. */
      g_mutex_unlock (&self->checkpoint_lock);
      return;
    }
  /* Thread names longer than 15 bytes are not set (Linux). */
  if (self->checkpointer == NULL)
    self->checkpointer = g_thread_new ("weft-checkpoint", weft_sqlite_checkpointer, self);
  self->checkpoint_wanted = TRUE;
  g_cond_signal (&self->checkpoint_cond);
  g_mutex_unlock (&self->checkpoint_lock);
}

/* Called by SQLite after each commit of the writer, with the WAL's size. */
static int
weft_sqlite_wal_hook (void *data, sqlite3 *db, const char *name, int pages)
{
  if (pages >= WEFT_SQLITE_WAL_MAX_PAGES)
    sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  else if (pages >= WEFT_SQLITE_CHECKPOINT_PAGES)
    weft_sqlite_checkpoint_soon (data);
  return SQLITE_OK;
}

/* Waits for a checkpoint under way: the writer's close copies the rest. */
static void
weft_sqlite_stop_checkpointer (WeftSqlite *self)
{
  g_mutex_lock (&self->checkpoint_lock);
  self->checkpoint_stop = TRUE;
  g_cond_signal (&self->checkpoint_cond);
  g_mutex_unlock (&self->checkpoint_lock);
  g_clear_pointer (&self->checkpointer, g_thread_join);
}

static void
weft_sqlite_free (WeftSqlite *self)
{
  weft_sqlite_stop_checkpointer (self);
  for (guint i = 0; i < N_STMTS; i++)
    sqlite3_finalize (self->stmts[i]);
  /* The writer last: closing the last connection copies the WAL's
   * remaining pages to the database. */
  sqlite3_close_v2 (self->reader);
  sqlite3_close_v2 (self->deleter);
  sqlite3_close_v2 (self->writer);
  weft_sqlite_claims_close (&self->claims);
  g_clear_pointer (&self->batch, g_ptr_array_unref);
  g_clear_pointer (&self->runs, g_hash_table_unref);
  if (self->event_text != NULL)
    g_string_free (self->event_text, TRUE);
  g_mutex_clear (&self->read_lock);
  g_mutex_clear (&self->checkpoint_lock);
  g_cond_clear (&self->checkpoint_cond);
  g_free (self->path);
  g_free (self->synchronous);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftSqlite, weft_sqlite_free)

static gboolean
weft_sqlite_prepare_one (WeftSqlite *self, WeftSqliteStmt which, const char *sql,
                         GError **error)
{
  if (sqlite3_prepare_v3 (self->writer, sql, -1, SQLITE_PREPARE_PERSISTENT,
                          &self->stmts[which], NULL) == SQLITE_OK)
    return TRUE;
  return weft_sqlite_fail (self, self->writer, sql, error);
}

/* `head` followed by WEFT_SQLITE_ROWS_PER_INSERT rows of `columns` `?`. */
static char *
weft_sqlite_many_rows_sql (const char *head, guint columns)
{
  GString *sql = g_string_new (head);

  for (guint r = 0; r < WEFT_SQLITE_ROWS_PER_INSERT; r++)
    {
      g_string_append (sql, r > 0 ? ", (" : "(");
      for (guint c = 0; c < columns; c++)
        g_string_append (sql, c > 0 ? ", ?" : "?");
      g_string_append_c (sql, ')');
    }
  return g_string_free (sql, FALSE);
}

static gboolean
weft_sqlite_prepare (WeftSqlite *self, GError **error)
{
  for (guint i = 0; i < N_STMTS; i++)
    if (weft_sqlite_stmt_sql[i] != NULL
        && !weft_sqlite_prepare_one (self, i, weft_sqlite_stmt_sql[i], error))
      return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (weft_sqlite_many_rows); i++)
    {
      g_autofree char *sql = weft_sqlite_many_rows_sql (weft_sqlite_many_rows[i].head,
                                                        weft_sqlite_many_rows[i].columns);
      if (!weft_sqlite_prepare_one (self, weft_sqlite_many_rows[i].stmt, sql, error))
        return FALSE;
    }
  return TRUE;
}

/* An in-memory database is made by opening it; any other path must be
 * there to be read.  (An empty path was refused with the options.) */
static gboolean
weft_sqlite_exists (const char *path)
{
  return strcmp (path, ":memory:") == 0 || g_file_test (path, G_FILE_TEST_EXISTS);
}

static gpointer
weft_sqlite_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftSqlite) self = g_new0 (WeftSqlite, 1);
  g_autofree char *pragma = NULL;

  g_mutex_init (&self->read_lock);
  g_mutex_init (&self->checkpoint_lock);
  g_cond_init (&self->checkpoint_cond);
  const WeftSqliteOptions *options = weft_config_get_options (config);

  self->path = g_strdup (options->path);
  self->synchronous = g_strdup (weft_sqlite_synchronous[options->synchronous]);
  self->busy_timeout_ms = (gint) options->busy_timeout_ms;
  self->runs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, weft_sqlite_run_free);
  self->batch = g_ptr_array_new ();
  self->event_text = g_string_sized_new (WEFT_SQLITE_ROWS_PER_INSERT * 512);
  if (weft_config_is_reader (config) && !weft_sqlite_exists (self->path))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "%s: no such database (no run has been stored there)", self->path);
      return NULL;
    }

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
  sqlite3_wal_hook (self->writer, weft_sqlite_wal_hook, self);
  weft_sqlite_claims_open (&self->claims, self->path, weft_config_is_reader (config));
  return g_steal_pointer (&self);
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
  self->txn++;
  self->batch_events = 0;
  self->batch_started_us = g_get_monotonic_time ();
  return TRUE;
}

/* The row's columns, from parameter base + 1 on (the key at base + 1, the
 * name at base + 2, which an update has not). */
static void
weft_sqlite_bind_task (sqlite3_stmt *stmt, int base, WeftSqliteTask *task)
{
  sqlite3_bind_int64 (stmt, base + 1, task->key);
  if (!task->stored)
    sqlite3_bind_text (stmt, base + 2, task->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, base + 3, task->status, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, base + 4, task->output);
  weft_sqlite_bind_text (stmt, base + 5, task->error);
  sqlite3_bind_int (stmt, base + 6, task->attempts);
  weft_sqlite_bind_time (stmt, base + 7, task->started_wall_us);
  weft_sqlite_bind_time (stmt, base + 8, task->finished_wall_us);
}

/* Its texts are not needed once written: the next event brings its own. */
static void
weft_sqlite_task_written (WeftSqliteTask *task, gboolean stored)
{
  task->stored = task->stored || stored;
  g_clear_pointer (&task->output, g_free);
  g_clear_pointer (&task->error, g_free);
}

/* Inserts the task rows waiting for their INSERT: a full set in one
 * statement, fewer (the end of a batch) one statement each. */
static void
weft_sqlite_insert_tasks (WeftSqlite *self)
{
  guint n = self->n_new_tasks;
  gboolean ok = TRUE;

  self->n_new_tasks = 0;
  if (n == WEFT_SQLITE_ROWS_PER_INSERT)
    {
      for (guint i = 0; i < n; i++)
        weft_sqlite_bind_task (self->stmts[STMT_TASKS], (int) (i * WEFT_SQLITE_TASK_COLUMNS),
                               self->new_tasks[i]);
      ok = weft_sqlite_step (self, STMT_TASKS, "cannot store tasks");
      for (guint i = 0; i < n; i++)
        weft_sqlite_task_written (self->new_tasks[i], ok);
      return;
    }
  for (guint i = 0; i < n; i++)
    {
      weft_sqlite_bind_task (self->stmts[STMT_TASK_INSERT], 0, self->new_tasks[i]);
      ok = weft_sqlite_step (self, STMT_TASK_INSERT, "cannot store a task");
      weft_sqlite_task_written (self->new_tasks[i], ok);
    }
}

/* Inserts the events waiting for their INSERT: a full set in one
 * statement, fewer (the end of a batch, or an event that may be stored
 * already) one statement each. */
static void
weft_sqlite_insert_events (WeftSqlite *self)
{
  guint n = self->n_event_rows;
  WeftSqliteStmt which = n == WEFT_SQLITE_ROWS_PER_INSERT ? STMT_EVENTS : STMT_EVENT;
  sqlite3_stmt *stmt = self->stmts[which];

  for (guint i = 0; i < n; i++)
    {
      WeftSqliteEventRow *row = &self->event_rows[i];
      int base = which == STMT_EVENTS ? (int) (i * WEFT_SQLITE_EVENT_COLUMNS) : 0;

      sqlite3_bind_int64 (stmt, base + 1, row->key);
      sqlite3_bind_text (stmt, base + 2, self->event_text->str + row->offset, (int) row->len,
                         SQLITE_STATIC);
      if (which == STMT_EVENT)
        weft_sqlite_step (self, STMT_EVENT, "cannot store an event");
    }
  if (which == STMT_EVENTS)
    weft_sqlite_step (self, STMT_EVENTS, "cannot store events");
  self->n_event_rows = 0;
  g_string_truncate (self->event_text, 0);
}

/* The event's row, in event_rows[]. */
static void
weft_sqlite_add_event (WeftSqlite *self, gint64 key, const WeftEvent *event)
{
  WeftSqliteEventRow *row = &self->event_rows[self->n_event_rows++];

  row->key = key;
  row->offset = self->event_text->len;
  weft_event_append_json (event, self->event_text);
  row->len = self->event_text->len - row->offset;
}

/* The highest seq of the run in event_rows, once a transaction. */
static guint64
weft_sqlite_top_seq (WeftSqlite *self, WeftSqliteRun *run)
{
  sqlite3_stmt *stmt = self->stmts[STMT_EVENT_TOP];

  if (run->top_txn == self->txn)
    return run->top_seq;
  sqlite3_bind_int64 (stmt, 1, run->id << 32);
  sqlite3_bind_int64 (stmt, 2, (run->id << 32) + (sqlite3_int64) WEFT_SQLITE_MAX_SEQ);
  run->top_seq = sqlite3_step (stmt) == SQLITE_ROW
                 ? (guint64) sqlite3_column_int64 (stmt, 0) & WEFT_SQLITE_MAX_SEQ : 0;
  sqlite3_reset (stmt);
  run->top_txn = self->txn;
  return run->top_seq;
}

/* Updates a known task's row now; a new one waits for its INSERT, with
 * others (weft_sqlite_insert_tasks at the end of the batch). */
static void
weft_sqlite_write_task (WeftSqlite *self, WeftSqliteTask *task)
{
  task->pending = FALSE;
  if (!task->stored)
    {
      self->new_tasks[self->n_new_tasks++] = task;
      if (self->n_new_tasks == WEFT_SQLITE_ROWS_PER_INSERT)
        weft_sqlite_insert_tasks (self);
      return;
    }
  weft_sqlite_bind_task (self->stmts[STMT_TASK_UPDATE], 0, task);
  weft_sqlite_task_written (task, weft_sqlite_step (self, STMT_TASK_UPDATE,
                                                    "cannot store a task"));
}

/* A task that has only started, while more events wait: its row can wait
 * for the task's next event, so that the two cost one write (a busy run
 * starts many tasks a batch before it completes them). */
static gboolean
weft_sqlite_may_wait (WeftSqliteRun *run, WeftSqliteTask *task, gboolean idle)
{
  return !idle && !run->ended && task->finished_wall_us == 0
         && strcmp (task->status, "running") == 0;
}

/* The run's pending rows, but those that may wait, which join `waiting`;
 * then the waiting rows whose time is up (all of them when idle).  TRUE
 * when rows are left waiting.  Waiting rows are kept out
 * of `pending`, so that a commit costs what changed, not what waits. */
static gboolean
weft_sqlite_write_run (WeftSqlite *self, WeftSqliteRun *run, gboolean idle, gint64 now)
{
  WeftSqliteTask *task;

  for (guint i = 0; i < run->pending->len; i++)
    {
      task = run->pending->pdata[i];
      if (!weft_sqlite_may_wait (run, task, idle))
        {
          weft_sqlite_write_task (self, task);
          continue;
        }
      task->pending = FALSE;
      task->deferred_us = now;
      g_queue_push_tail (run->waiting, task);
      task->waiting = run->waiting->tail;
    }
  g_ptr_array_set_size (run->pending, 0);
  while ((task = g_queue_peek_head (run->waiting)) != NULL
         && (!weft_sqlite_may_wait (run, task, idle)
             || now - task->deferred_us >= WEFT_SQLITE_DEFER_RUNNING_US))
    {
      g_queue_pop_head (run->waiting);
      task->waiting = NULL;
      weft_sqlite_write_task (self, task);
    }
  return run->waiting->length > 0;
}

/* A bound on memory for a process that stores runs forever: runs with
 * nothing left to write are forgotten (and read back if they go on). */
#define WEFT_SQLITE_MAX_RUNS 1000

static void
weft_sqlite_forget_run (WeftSqlite *self, WeftSqliteRun *run)
{
  if (self->cur_run == run)
    self->cur_run = NULL;
  g_hash_table_remove (self->runs, run->run_id);
}

/* Each touched task's row once per batch; with
 * the queue busy (!idle), rows of tasks that only started may stay for the
 * next batch.  Ended runs are forgotten. */
static void
weft_sqlite_write_batch (WeftSqlite *self, gboolean idle)
{
  gint64 now = g_get_monotonic_time ();
  guint kept = 0;

  /* A run stays in the batch while rows of it wait. */
  for (guint i = 0; i < self->batch->len; i++)
    {
      WeftSqliteRun *run = self->batch->pdata[i];
      run->in_batch = weft_sqlite_write_run (self, run, idle, now);
    }
  weft_sqlite_insert_tasks (self);
  for (guint i = 0; i < self->batch->len; i++)
    {
      WeftSqliteRun *run = self->batch->pdata[i];

      if (run->in_batch)
        self->batch->pdata[kept++] = run;
      else if (run->ended)
        weft_sqlite_forget_run (self, run);
    }
  g_ptr_array_set_size (self->batch, kept);
  if (g_hash_table_size (self->runs) > WEFT_SQLITE_MAX_RUNS)
    {
      GHashTableIter iter;
      WeftSqliteRun *run;

      g_hash_table_iter_init (&iter, self->runs);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &run))
        if (!run->in_batch)
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
  weft_sqlite_insert_events (self);
  weft_sqlite_write_batch (self, idle);
  self->in_batch = FALSE;
  if (weft_sqlite_step (self, STMT_COMMIT, "cannot commit"))
    return;
  g_autofree char *what = g_strdup_printf ("%u event(s) lost", self->batch_events);
  weft_sqlite_warn (self, what);
  sqlite3_exec (self->writer, "ROLLBACK", NULL, NULL, NULL);
  /* Rows this batch wrote are gone with it: what the writer knew of its
   * runs is read back from the file when they go on. */
  g_ptr_array_set_size (self->batch, 0);
  self->cur_run = NULL;
  g_hash_table_remove_all (self->runs);
}

/* The run_rows.id of the event's run, whose row is created when it has none
 * yet (an instance that only some tasks name sees no run.* events: the
 * row then holds what task events tell); `created` says which. */
static gboolean
weft_sqlite_run_key (WeftSqlite *self, const WeftEvent *event, gint64 *id, gboolean *created)
{
  const char *run_id = weft_event_get_run_id (event);
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_ID];
  int rc;

  sqlite3_bind_text (self->stmts[STMT_RUN_SEEN], 1, run_id, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (self->stmts[STMT_RUN_SEEN], 2, weft_event_get_flow_name (event));
  if (!weft_sqlite_step (self, STMT_RUN_SEEN, "cannot store a run"))
    return FALSE;
  *created = sqlite3_changes (self->writer) > 0;
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  weft_sqlite_warn (self, "cannot read a run's key");
  return FALSE;
}

/* What the writer knows of the event's run; NULL when its row cannot be
 * written.  Consecutive events of one run skip the hash lookup. */
static WeftSqliteRun *
weft_sqlite_run (WeftSqlite *self, const WeftEvent *event)
{
  const char *run_id = weft_event_get_run_id (event);
  WeftSqliteRun *run = self->cur_run;
  gboolean created;
  gint64 id;

  if (run != NULL && strcmp (run->run_id, run_id) == 0)
    return run;
  run = g_hash_table_lookup (self->runs, run_id);
  if (run == NULL)
    {
      if (!weft_sqlite_run_key (self, event, &id, &created))
        return NULL;
      run = g_new0 (WeftSqliteRun, 1);
      run->run_id = g_strdup (run_id);
      run->id = id;
      run->complete = created;
      run->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, weft_sqlite_task_free);
      run->pending = g_ptr_array_new ();
      run->waiting = g_queue_new ();
      g_hash_table_insert (self->runs, run->run_id, run);
    }
  self->cur_run = run;
  return run;
}

/* Stores the event itself; FALSE when it was stored before (a second
 * delivery must change nothing) or could not be.  An event above the
 * run's highest stored seq is new: it waits to be inserted with others.
 * One at or below it (a redelivery, or another writer's run) is inserted
 * alone, and SQLite says whether it was new. */
static gboolean
weft_sqlite_insert_event (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event)
{
  guint64 seq = weft_event_get_seq (event);
  gint64 key = (run->id << 32) + (sqlite3_int64) seq;

  if (seq > WEFT_SQLITE_MAX_SEQ)
    {
      g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE",
                        "sqlite store %s: run %s: event %" G_GUINT64_FORMAT " not stored: "
                        "the store keeps %" G_GUINT64_FORMAT " events per run at most",
                        self->path, run->run_id, seq, (guint64) WEFT_SQLITE_MAX_SEQ);
      return FALSE;
    }
  if (seq > weft_sqlite_top_seq (self, run))
    {
      run->top_seq = seq;
      weft_sqlite_add_event (self, key, event);
      if (self->n_event_rows == WEFT_SQLITE_ROWS_PER_INSERT)
        weft_sqlite_insert_events (self);
      return TRUE;
    }
  weft_sqlite_insert_events (self);
  weft_sqlite_add_event (self, key, event);
  weft_sqlite_insert_events (self);
  if (sqlite3_changes (self->writer) > 0)
    return TRUE;
  /* Someone stored it before: another writer may have rows of this run
   * that this one does not know. */
  run->complete = FALSE;
  return FALSE;
}

/* Taken before the run's row is committed, so that whoever can read the
 * row can tell the run is live.  A resumed run was claimed by
 * claim_run() before it started: taking it again fails only when a run
 * was resumed without asking (or by a weft without claims). */
static void
weft_sqlite_claim (WeftSqlite *self, WeftSqliteRun *run)
{
  if (!weft_sqlite_claims_take (&self->claims, run->id))
    g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE",
                      "sqlite store %s: run %s is also being run by another process; "
                      "its events are stored all the same", self->path, run->run_id);
}

static void
weft_sqlite_run_started (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event)
{
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_START];
  sqlite3_stmt *source = self->stmts[STMT_RUN_SOURCE];

  sqlite3_bind_int64 (stmt, 1, run->id);
  weft_sqlite_bind_text (stmt, 2, weft_event_get_flow_name (event));
  sqlite3_bind_int64 (stmt, 3, weft_event_get_wall_us (event));
  weft_sqlite_step (self, STMT_RUN_START, "cannot store a run");
  const char *text = weft_event_get_flow_source (event);
  g_autofree char *sha256 = text ? g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1)
                                 : NULL;
  if (sha256 != NULL)
    {
      sqlite3_stmt *flow_text = self->stmts[STMT_FLOW_TEXT];
      sqlite3_bind_text (flow_text, 1, sha256, -1, SQLITE_STATIC);
      sqlite3_bind_text (flow_text, 2, text, -1, SQLITE_STATIC);
      weft_sqlite_step (self, STMT_FLOW_TEXT, "cannot store a flow's text");
    }
  sqlite3_bind_int64 (source, 1, run->id);
  weft_sqlite_bind_text (source, 2, weft_event_get_inputs (event));
  weft_sqlite_bind_text (source, 3, sha256);
  weft_sqlite_step (self, STMT_RUN_SOURCE, "cannot store a run's flow");
}

static void
weft_sqlite_run_ended (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event,
                       const char *status)
{
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_END];

  sqlite3_bind_int64 (stmt, 1, run->id);
  sqlite3_bind_text (stmt, 2, status, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, 3, weft_event_get_error (event));
  sqlite3_bind_int64 (stmt, 4, weft_event_get_wall_us (event));
  weft_sqlite_step (self, STMT_RUN_END, "cannot store a run's end");
  run->ended = TRUE;
  weft_sqlite_claims_drop (&self->claims, run->id);
}

static WeftSqliteTask *
weft_sqlite_task_new (WeftSqliteRun *run, const char *name, gint64 key)
{
  WeftSqliteTask *task = g_new0 (WeftSqliteTask, 1);

  task->name = g_strdup (name);
  task->key = key;
  g_hash_table_insert (run->tasks, task->name, task);
  return task;
}

/* Reads back the run's task rows that the writer does not know: a run it
 * did not create (a resume), or that another writer wrote too.  A row it
 * is about to insert becomes an update of the one found. */
static void
weft_sqlite_load_tasks (WeftSqlite *self, WeftSqliteRun *run)
{
  sqlite3_stmt *stmt = self->stmts[STMT_TASK_LOAD];
  int rc;

  sqlite3_bind_int64 (stmt, 1, run->id << 32);
  sqlite3_bind_int64 (stmt, 2, (run->id << 32) + (sqlite3_int64) WEFT_SQLITE_MAX_SEQ);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *name = (const char *) sqlite3_column_text (stmt, 1);
      WeftSqliteTask *task = g_hash_table_lookup (run->tasks, name);

      if (task != NULL && task->stored)
        continue;
      if (task == NULL)
        task = weft_sqlite_task_new (run, name, 0);
      task->key = sqlite3_column_int64 (stmt, 0);
      task->stored = TRUE;
      if (task->attempts == 0)
        task->attempts = sqlite3_column_int (stmt, 2);
      if (sqlite3_column_type (stmt, 3) != SQLITE_NULL)
        task->started_wall_us = sqlite3_column_int64 (stmt, 3);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    weft_sqlite_warn (self, "cannot read a run's tasks");
  else
    run->complete = TRUE;
}

/* The task's row after `event`, kept until the batch's commit. */
static void
weft_sqlite_task_event (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event,
                        const char *status)
{
  const char *name = weft_event_get_task_name (event);
  WeftSqliteTask *task = g_hash_table_lookup (run->tasks, name);
  WeftEventType type = weft_event_get_event_type (event);
  gint64 wall = weft_event_get_wall_us (event);
  guint attempt = weft_event_get_attempt (event);

  if (task == NULL && !run->complete)
    {
      weft_sqlite_load_tasks (self, run);
      task = g_hash_table_lookup (run->tasks, name);
    }
  if (task == NULL)
    task = weft_sqlite_task_new (run, name,
                                 (run->id << 32) + (sqlite3_int64) weft_event_get_seq (event));
  if (task->waiting != NULL)
    {
      g_queue_delete_link (run->waiting, task->waiting);
      task->waiting = NULL;
    }
  if (!task->pending)
    {
      task->pending = TRUE;
      g_ptr_array_add (run->pending, task);
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
weft_sqlite_apply (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event)
{
  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
    case WEFT_EVENT_RUN_RESUMED:
      weft_sqlite_claim (self, run);
      weft_sqlite_run_started (self, run, event);
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
      weft_sqlite_task_event (self, run, event, "running");
      break;
    case WEFT_EVENT_TASK_COMPLETED:
      weft_sqlite_task_event (self, run, event, "completed");
      break;
    case WEFT_EVENT_TASK_FAILED:
      weft_sqlite_task_event (self, run, event, "failed");
      break;
    case WEFT_EVENT_TASK_CANCELLED:
      weft_sqlite_task_event (self, run, event, "cancelled");
      break;
    case WEFT_EVENT_TASK_RETRYING:
      weft_sqlite_task_event (self, run, event, "retrying");
      break;
    case WEFT_EVENT_TASK_SKIPPED:
      weft_sqlite_task_event (self, run, event, "skipped");
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
  WeftSqliteRun *run;

  if (!weft_sqlite_begin (self))
    return;
  self->batch_events++;
  run = weft_sqlite_run (self, event);
  if (run != NULL && weft_sqlite_insert_event (self, run, event))
    {
      weft_sqlite_apply (self, run, event);
      if (!run->in_batch)
        {
          run->in_batch = TRUE;
          g_ptr_array_add (self->batch, run);
        }
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

static sqlite3 *
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

/* `inputs` is stored as JSON text and given back as the object.  A row
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
      if (strcmp (name, "inputs") == 0)
        weft_sqlite_add_json_column (b, name, stmt, c);
      else if (strcmp (name, "live") == 0)
        weft_sqlite_add_bool_column (b, name, stmt, c);
      else
        weft_sqlite_add_column (b, name, stmt, c);
    }
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

static void
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

/* The run's key; 0 when it is not stored here, -1 on an error. */
static gint64
weft_sqlite_find_run (WeftSqlite *self, sqlite3 *db, const char *run_id, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  gint64 key = 0;
  int rc = SQLITE_ERROR;

  /* The writer's own query, on the caller's connection. */
  if (sqlite3_prepare_v2 (db, weft_sqlite_stmt_sql[STMT_RUN_ID], -1, &stmt, NULL) == SQLITE_OK)
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

static gboolean
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

/* The run's rows, in one transaction of the deleter (the writer belongs
 * to the dispatcher thread, the reader is read-only). */
static gboolean
weft_sqlite_delete_run_locked (WeftSqlite *self, sqlite3 *db, const char *run_id,
                               GError **error)
{
  gint64 key = weft_sqlite_find_run (self, db, run_id, error);

  if (key < 0)
    return FALSE;
  if (key == 0)
    {
      weft_sqlite_no_run (self, run_id, error);
      return FALSE;
    }
  if (weft_sqlite_claims_held (&self->claims, key) == 1)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_BUSY,
                   "%s: run %s is still being run by a live process; cancel it or let "
                   "it end first", self->path, run_id);
      return FALSE;
    }
  static const char *const deletes[] = {
    "DELETE FROM event_rows WHERE key BETWEEN ?1 << 32 AND (?1 << 32) + 4294967295",
    "DELETE FROM task_rows WHERE key BETWEEN ?1 << 32 AND (?1 << 32) + 4294967295",
    "DELETE FROM run_sources WHERE id = ?1",
    "DELETE FROM run_rows WHERE id = ?1",
  };
  for (guint i = 0; i < G_N_ELEMENTS (deletes); i++)
    {
      sqlite3_stmt *stmt = NULL;
      int rc = sqlite3_prepare_v2 (db, deletes[i], -1, &stmt, NULL);
      if (rc == SQLITE_OK)
        {
          sqlite3_bind_int64 (stmt, 1, key);
          rc = sqlite3_step (stmt);
          sqlite3_finalize (stmt);
        }
      if (rc != SQLITE_DONE)
        return weft_sqlite_fail (self, db, "cannot delete a run", error);
    }
  return TRUE;
}

static gboolean
weft_sqlite_delete_run (gpointer instance, const char *run_id, GError **error)
{
  WeftSqlite *self = instance;
  gboolean ok = FALSE;

  g_mutex_lock (&self->read_lock);
  if (self->deleter == NULL)
    weft_sqlite_open_db (self, SQLITE_OPEN_READWRITE, &self->deleter, error);
  /* IMMEDIATE: the write lock first, so that the run cannot change
   * between the look and the delete. */
  if (self->deleter != NULL && weft_sqlite_exec (self, self->deleter, "BEGIN IMMEDIATE", error))
    {
      ok = weft_sqlite_delete_run_locked (self, self->deleter, run_id, error);
      if (!ok)
        sqlite3_exec (self->deleter, "ROLLBACK", NULL, NULL, NULL);
      else if (!weft_sqlite_exec (self, self->deleter, "COMMIT", error))
        {
          sqlite3_exec (self->deleter, "ROLLBACK", NULL, NULL, NULL);
          ok = FALSE;
        }
    }
  g_mutex_unlock (&self->read_lock);
  return ok;
}

/* ------------------------------------------------------------------------ */

static const WeftCallbackClass weft_sqlite_callback_class = {
  .on_event = weft_sqlite_on_event,
  .flush = weft_sqlite_flush,
};

static const WeftStoreClass weft_sqlite_store_class = {
  .list_runs = weft_sqlite_list_runs,
  .get_run = weft_sqlite_get_run,
  .claim_run = weft_sqlite_claim_run,
  .delete_run = weft_sqlite_delete_run,
};

static const WeftPluginDescriptor weft_sqlite_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "sqlite",
  .version = "0.1.0",
  .description = "Stores runs, tasks and events in a SQLite file (WAL, batched); "
                 "the default store of `weft runs`, `replay` and `resume`",
  .options = weft_sqlite_options,
  .options_size = sizeof (WeftSqliteOptions),
  .create = weft_sqlite_create,
  .destroy = weft_sqlite_destroy,
  .callback = &weft_sqlite_callback_class,
  .store = &weft_sqlite_store_class,
};

WEFT_PLUGIN_DEFINE (weft_sqlite_descriptor)
