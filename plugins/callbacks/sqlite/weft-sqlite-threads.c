/* weft-sqlite-threads.c — threads (conversations, SDK 3.2) as the writer
 * stores them, from their thread.* events, on the dispatcher thread in the
 * writer's transaction: thread.created makes the thread's row, each
 * thread.message a message row, thread.task_started and task_finished a
 * task row (its last state), thread.deleted marks it deleted.  Each
 * stored event raises the row's last_seq, which a reopened thread numbers
 * its events after, and a thread.turn_* event its turns, which it numbers
 * its turns after.  Streamed steps are not stored: the messages they make
 * are.  Tables: docs/store.md.
 */
#include "weft-sqlite.h"

typedef enum {
  THREAD_CREATE,
  THREAD_MESSAGE,
  THREAD_TASK,
  THREAD_SEQ,
  THREAD_DELETE,
  N_THREAD_STMTS
} WeftSqliteThreadStmt;

static const char *const weft_sqlite_thread_sql[N_THREAD_STMTS] = {
  [THREAD_CREATE] =
    "INSERT INTO thread_rows (thread_id, flow, agent, settings, created_wall_us, last_seq) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (thread_id) DO UPDATE SET last_seq = max (last_seq, excluded.last_seq)",
  [THREAD_MESSAGE] =
    "INSERT OR REPLACE INTO thread_messages (thread, seq, role, content, tool_calls, "
    "  tool_call_id, wall_us) "
    "SELECT id, ?2, ?3, ?4, ?5, ?6, ?7 FROM thread_rows WHERE thread_id = ?1",
  [THREAD_TASK] =
    "INSERT OR REPLACE INTO thread_tasks (thread, task_id, name, kind, status, arguments, "
    "  result, error, run_id, started_wall_us, finished_wall_us) "
    "SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM thread_rows WHERE thread_id = ?1",
  [THREAD_SEQ] =
    ("UPDATE thread_rows SET last_seq = max (last_seq, ?2), turns = max (turns, ?3) "
     "WHERE thread_id = ?1"),
  [THREAD_DELETE] =
    "UPDATE thread_rows SET deleted = 1, last_seq = max (last_seq, ?2) WHERE thread_id = ?1",
};

struct _WeftSqliteThreads {
  sqlite3_stmt *stmts[N_THREAD_STMTS];
};

void
weft_sqlite_threads_clear (WeftSqlite *self)
{
  if (self->threads == NULL)
    return;
  for (guint i = 0; i < N_THREAD_STMTS; i++)
    sqlite3_finalize (self->threads->stmts[i]);
  g_clear_pointer (&self->threads, g_free);
}

/* Prepared on the first thread event: a store of runs alone never needs them. */
static gboolean
weft_sqlite_threads_prepare (WeftSqlite *self)
{
  if (self->threads != NULL)
    return TRUE;
  self->threads = g_new0 (WeftSqliteThreads, 1);
  for (guint i = 0; i < N_THREAD_STMTS; i++)
    if (sqlite3_prepare_v3 (self->writer, weft_sqlite_thread_sql[i], -1,
                            SQLITE_PREPARE_PERSISTENT, &self->threads->stmts[i], NULL) != SQLITE_OK)
      {
        weft_sqlite_warn (self, "cannot prepare the thread statements");
        weft_sqlite_threads_clear (self);
        return FALSE;
      }
  return TRUE;
}

static void
weft_sqlite_thread_step (WeftSqlite *self, WeftSqliteThreadStmt which)
{
  sqlite3_stmt *stmt = self->threads->stmts[which];

  if (sqlite3_step (stmt) != SQLITE_DONE)
    weft_sqlite_warn (self, "cannot store a thread's event");
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

/* The event's output, an object weft wrote; NULL when it is not one. */
static JsonObject *
weft_sqlite_thread_output (const WeftEvent *event)
{
  const char *text = weft_event_get_output (event);
  g_autoptr(JsonNode) node = text ? weft_json_parse (text, -1, NULL) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_object_ref (json_node_get_object (node));
}

static const char *
weft_sqlite_member_text (JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

static void
weft_sqlite_bind_member_int (sqlite3_stmt *stmt, int i, JsonObject *o, const char *key)
{
  JsonNode *node = json_object_get_member (o, key);

  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    sqlite3_bind_int64 (stmt, i, json_node_get_int (node));
  else
    sqlite3_bind_null (stmt, i);
}

/* thread.created: {flow, agent, created_wall_us, settings}. */
static void
weft_sqlite_thread_created (WeftSqlite *self, const WeftEvent *event, JsonObject *o)
{
  sqlite3_stmt *stmt = self->threads->stmts[THREAD_CREATE];
  JsonNode *node = json_object_get_member (o, "settings");
  g_autofree char *settings = node ? json_to_string (node, FALSE) : NULL;

  weft_sqlite_bind_text (stmt, 1, weft_event_get_thread_id (event));
  weft_sqlite_bind_text (stmt, 2, weft_event_get_flow_name (event));
  weft_sqlite_bind_text (stmt, 3, weft_sqlite_member_text (o, "agent"));
  weft_sqlite_bind_text (stmt, 4, settings);
  weft_sqlite_bind_member_int (stmt, 5, o, "created_wall_us");
  sqlite3_bind_int64 (stmt, 6, (sqlite3_int64) weft_event_get_seq (event));
  weft_sqlite_thread_step (self, THREAD_CREATE);
}

static void
weft_sqlite_thread_message (WeftSqlite *self, const WeftEvent *event, JsonObject *o)
{
  sqlite3_stmt *stmt = self->threads->stmts[THREAD_MESSAGE];
  JsonNode *calls = json_object_get_member (o, "tool_calls");
  g_autofree char *calls_text = calls ? json_to_string (calls, FALSE) : NULL;

  weft_sqlite_bind_text (stmt, 1, weft_event_get_thread_id (event));
  weft_sqlite_bind_member_int (stmt, 2, o, "seq");
  weft_sqlite_bind_text (stmt, 3, weft_sqlite_member_text (o, "role"));
  weft_sqlite_bind_text (stmt, 4, weft_sqlite_member_text (o, "content"));
  weft_sqlite_bind_text (stmt, 5, calls_text);
  weft_sqlite_bind_text (stmt, 6, weft_sqlite_member_text (o, "tool_call_id"));
  weft_sqlite_bind_member_int (stmt, 7, o, "wall_us");
  weft_sqlite_thread_step (self, THREAD_MESSAGE);
}

static void
weft_sqlite_thread_task (WeftSqlite *self, const WeftEvent *event, JsonObject *o)
{
  sqlite3_stmt *stmt = self->threads->stmts[THREAD_TASK];
  static const char *const texts[] = {
    "task_id", "name", "kind", "status", "arguments", "result", "error", "run_id",
  };

  weft_sqlite_bind_text (stmt, 1, weft_event_get_thread_id (event));
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    weft_sqlite_bind_text (stmt, 2 + (int) i, weft_sqlite_member_text (o, texts[i]));
  weft_sqlite_bind_member_int (stmt, 10, o, "started_wall_us");
  weft_sqlite_bind_member_int (stmt, 11, o, "finished_wall_us");
  weft_sqlite_thread_step (self, THREAD_TASK);
}

static void
weft_sqlite_thread_seq (WeftSqlite *self, const WeftEvent *event, WeftSqliteThreadStmt which)
{
  sqlite3_stmt *stmt = self->threads->stmts[which];

  weft_sqlite_bind_text (stmt, 1, weft_event_get_thread_id (event));
  sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) weft_event_get_seq (event));
  if (which == THREAD_SEQ)
    sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) weft_event_get_attempt (event));
  weft_sqlite_thread_step (self, which);
}

void
weft_sqlite_write_thread_event (WeftSqlite *self, const WeftEvent *event)
{
  WeftEventType type = weft_event_get_event_type (event);

  if (type == WEFT_EVENT_THREAD_STEP || !weft_sqlite_threads_prepare (self))
    return;
  if (type == WEFT_EVENT_THREAD_DELETED)
    {
      weft_sqlite_thread_seq (self, event, THREAD_DELETE);
      return;
    }
  g_autoptr(JsonObject) o = weft_sqlite_thread_output (event);
  if (type == WEFT_EVENT_THREAD_CREATED && o != NULL)
    {
      weft_sqlite_thread_created (self, event, o);
      return;
    }
  if (type == WEFT_EVENT_THREAD_MESSAGE && o != NULL)
    weft_sqlite_thread_message (self, event, o);
  else if ((type == WEFT_EVENT_THREAD_TASK_STARTED || type == WEFT_EVENT_THREAD_TASK_FINISHED)
           && o != NULL)
    weft_sqlite_thread_task (self, event, o);
  weft_sqlite_thread_seq (self, event, THREAD_SEQ);
}
