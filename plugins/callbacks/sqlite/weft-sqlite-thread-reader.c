/* weft-sqlite-thread-reader.c — threads read back and deleted (the store
 * capability's get_thread, list_threads, delete_thread, SDK 3.2), from any
 * thread: reads on the reader connection, the delete on the deleter's,
 * both under read_lock, as for runs.  A deleted thread (thread.deleted
 * stored) is not given back.  Shapes: docs/store.md.
 */
#include "weft-sqlite.h"

/* With read_lock held: the row id of a thread not deleted; 0 when there is
 * none, -1 on an error. */
static gint64
weft_sqlite_find_thread (WeftSqlite *self, sqlite3 *db, const char *thread_id, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  gint64 id = 0;

  if (sqlite3_prepare_v2 (db, "SELECT id FROM thread_rows WHERE thread_id = ?1 AND deleted = 0",
                          -1, &stmt, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, db, "cannot look a thread up", error);
      return -1;
    }
  weft_sqlite_bind_text (stmt, 1, thread_id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    id = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      weft_sqlite_fail (self, db, "cannot look a thread up", error);
      return -1;
    }
  if (id == 0)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: no thread %s", self->path,
                 thread_id);
  return id;
}

/* `sql`'s rows (its ?1 bound to `id`) as the array member `name` of the
 * object being built. */
static gboolean
weft_sqlite_add_thread_rows (WeftSqlite *self, sqlite3 *db, JsonBuilder *b, const char *name,
                             const char *sql, gint64 id, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return weft_sqlite_fail (self, db, "cannot read a thread", error);
  sqlite3_bind_int64 (stmt, 1, id);
  json_builder_set_member_name (b, name);
  if (weft_sqlite_add_rows (b, stmt) != SQLITE_DONE)
    return weft_sqlite_fail (self, db, "cannot read a thread", error);
  return TRUE;
}

static JsonNode *
weft_sqlite_get_thread_locked (WeftSqlite *self, sqlite3 *db, const char *thread_id,
                               GError **error)
{
  gint64 id = weft_sqlite_find_thread (self, db, thread_id, error);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  sqlite3_stmt *stmt = NULL;

  if (id <= 0)
    return NULL;
  if (sqlite3_prepare_v2 (db, "SELECT thread_id, flow, agent, settings, created_wall_us, last_seq, "
                              "turns "
                              "FROM thread_rows WHERE id = ?1", -1, &stmt, NULL) != SQLITE_OK)
    {
      weft_sqlite_fail (self, db, "cannot read a thread", error);
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, id);
  /* The thread's row is one array of one object: its members are taken
   * from there, with the messages and tasks added. */
  if (weft_sqlite_add_rows (b, stmt) != SQLITE_DONE)
    {
      weft_sqlite_fail (self, db, "cannot read a thread", error);
      return NULL;
    }
  g_autoptr(JsonNode) rows = json_builder_get_root (b);
  JsonObject *row = json_array_get_object_element (json_node_get_array (rows), 0);
  g_autoptr(JsonBuilder) more = json_builder_new ();
  json_builder_begin_object (more);
  if (!weft_sqlite_add_thread_rows (self, db, more, "messages",
                                    "SELECT seq, role, content, tool_calls, tool_call_id, wall_us "
                                    "FROM thread_messages WHERE thread = ?1 ORDER BY seq", id, error)
      || !weft_sqlite_add_thread_rows (self, db, more, "tasks",
                                       "SELECT task_id, name, kind, status, arguments, result, "
                                       "error, run_id, started_wall_us, finished_wall_us "
                                       "FROM thread_tasks WHERE thread = ?1 "
                                       "ORDER BY started_wall_us, length (task_id), task_id",
                                       id, error))
    return NULL;
  json_builder_end_object (more);
  g_autoptr(JsonNode) lists = json_builder_get_root (more);
  JsonObject *l = json_node_get_object (lists);
  json_object_set_member (row, "messages", json_node_copy (json_object_get_member (l, "messages")));
  json_object_set_member (row, "tasks", json_node_copy (json_object_get_member (l, "tasks")));
  JsonNode *out = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (out, row);
  return out;
}

JsonNode *
weft_sqlite_get_thread (gpointer instance, const char *thread_id, GError **error)
{
  WeftSqlite *self = instance;
  JsonNode *node = NULL;

  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_reader (self, error);
  if (db != NULL)
    node = weft_sqlite_get_thread_locked (self, db, thread_id, error);
  g_mutex_unlock (&self->read_lock);
  return node;
}

JsonNode *
weft_sqlite_list_threads (gpointer instance, guint limit, GError **error)
{
  WeftSqlite *self = instance;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  sqlite3_stmt *stmt = NULL;
  JsonNode *node = NULL;

  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_reader (self, error);
  if (db != NULL
      && sqlite3_prepare_v2 (db, "SELECT thread_id, flow, agent, created_wall_us,"
                                 " (SELECT count (*) FROM thread_messages m WHERE m.thread = t.id)"
                                 "   AS messages "
                                 "FROM thread_rows t WHERE deleted = 0 "
                                 "ORDER BY created_wall_us DESC, id DESC LIMIT ?1",
                             -1, &stmt, NULL) != SQLITE_OK)
    weft_sqlite_fail (self, db, "cannot list threads", error);
  else if (db != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, limit ? (sqlite3_int64) limit : -1);
      if (weft_sqlite_add_rows (b, stmt) == SQLITE_DONE)
        node = json_builder_get_root (b);
      else
        weft_sqlite_fail (self, db, "cannot list threads", error);
    }
  g_mutex_unlock (&self->read_lock);
  return node;
}

gboolean
weft_sqlite_delete_thread (gpointer instance, const char *thread_id, GError **error)
{
  WeftSqlite *self = instance;
  gboolean ok = FALSE;

  g_mutex_lock (&self->read_lock);
  sqlite3 *db = weft_sqlite_deleter (self, error);
  if (db != NULL && weft_sqlite_exec (self, db, "BEGIN IMMEDIATE", error))
    {
      gint64 id = weft_sqlite_find_thread (self, db, thread_id, error);
      static const char *const deletes[] = {
        "DELETE FROM thread_messages WHERE thread = ?1",
        "DELETE FROM thread_tasks WHERE thread = ?1",
        "DELETE FROM thread_rows WHERE id = ?1",
        NULL,
      };
      ok = id > 0 && weft_sqlite_delete_rows (self, db, deletes, id, "cannot delete a thread",
                                              error);
      if (!ok || !weft_sqlite_exec (self, db, "COMMIT", error))
        {
          sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
          ok = FALSE;
        }
    }
  g_mutex_unlock (&self->read_lock);
  return ok;
}
