/* weft-sqlite-statements.c — the writer's statements: their SQL, prepared
 * once (persistent) when the store opens, and the step and bind helpers
 * every write goes through.  Kept apart from the writer so that both of
 * its halves (the batch in weft-sqlite-writer.c, the runs and tasks in
 * weft-sqlite-runs.c) stand on it without calling each other back, and so
 * that the reader can prepare the writer's own query for a run's key.
 */
#include "weft-sqlite.h"

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

static const struct {
  WeftSqliteStmt stmt;
  const char *head;
  guint columns;
} weft_sqlite_many_rows[] = {
  { STMT_EVENTS, "INSERT INTO event_rows (key, json) VALUES ", WEFT_SQLITE_EVENT_COLUMNS },
  { STMT_TASKS, "INSERT INTO task_rows (key, name, status, output, error, attempts, "
                "started_wall_us, finished_wall_us) VALUES ", WEFT_SQLITE_TASK_COLUMNS },
};

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

gboolean
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

void
weft_sqlite_finalize (WeftSqlite *self)
{
  for (guint i = 0; i < N_STMTS; i++)
    g_clear_pointer (&self->stmts[i], sqlite3_finalize);
}

const char *
weft_sqlite_stmt_text (WeftSqliteStmt which)
{
  return weft_sqlite_stmt_sql[which];
}

gboolean
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

void
weft_sqlite_bind_text (sqlite3_stmt *stmt, int i, const char *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, i, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (stmt, i);
}

void
weft_sqlite_bind_time (sqlite3_stmt *stmt, int i, gint64 wall_us)
{
  if (wall_us != 0)
    sqlite3_bind_int64 (stmt, i, wall_us);
  else
    sqlite3_bind_null (stmt, i);
}
