/* weft-sqlite-delete.c — deleting a run's rows (`weft runs delete`, `runs
 * prune`), from any thread.  On a connection of its own, the deleter: the
 * writer belongs to the dispatcher thread and the reader is read-only.  A
 * run a live process still holds (its claim) is refused, so that a run is
 * never deleted under the writer that is adding to it.
 */
#include "weft-sqlite.h"

gboolean
weft_sqlite_delete_rows (WeftSqlite *self, sqlite3 *db, const char *const *deletes, gint64 key,
                         const char *what, GError **error)
{
  for (guint i = 0; deletes[i] != NULL; i++)
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
        return weft_sqlite_fail (self, db, what, error);
    }
  return TRUE;
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
    NULL,
  };
  return weft_sqlite_delete_rows (self, db, deletes, key, "cannot delete a run", error);
}

sqlite3 *
weft_sqlite_deleter (WeftSqlite *self, GError **error)
{
  if (self->deleter == NULL)
    weft_sqlite_open_db (self, SQLITE_OPEN_READWRITE, &self->deleter, error);
  return self->deleter;
}

gboolean
weft_sqlite_delete_run (gpointer instance, const char *run_id, GError **error)
{
  WeftSqlite *self = instance;
  gboolean ok = FALSE;

  g_mutex_lock (&self->read_lock);
  weft_sqlite_deleter (self, error);
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
