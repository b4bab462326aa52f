/* weft-postgres-delete.c — deleting a run's rows (`weft runs delete`,
 * `runs prune`), from any thread, on the session, in one transaction.  A
 * run a live process still holds is refused: the transaction takes the
 * run's lock for itself first (pg_try_advisory_xact_lock), which fails
 * while any session holds its claim, and keeps it until the rows are gone,
 * so that nobody claims the run between the look and the delete.
 */
#include "weft-postgres.h"

static gboolean
weft_postgres_refuse_live (WeftPostgres *self, const char *run_id, GError **error)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_BUSY,
               "%s: run %s is still being run by a live process; cancel it or let it end "
               "first", self->where, run_id);
  return FALSE;
}

static gboolean
weft_postgres_delete_rows (WeftPostgres *self, PGconn *session, const char *run_id,
                           GError **error)
{
  gint64 key = weft_postgres_find_run (self, session, run_id, error);
  PGresult *result = NULL;

  if (key < 0)
    return FALSE;
  if (key == 0)
    {
      weft_postgres_no_run (self, run_id, error);
      return FALSE;
    }
  if (g_hash_table_contains (self->claims, &key))
    return weft_postgres_refuse_live (self, run_id, error);
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, key);
  g_autofree char *lock = g_strdup_printf ("%d", WEFT_PG_LOCK_KEY (key));
  const char *lock_params[] = { lock };
  const char *params[] = { id };
  if (!weft_postgres_query (self, session, "SELECT pg_try_advisory_xact_lock (2003133044, $1::int)",
                            1, lock_params, PGRES_TUPLES_OK, &result, "cannot delete a run",
                            error))
    return FALSE;
  gboolean free_to_go = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  if (!free_to_go)
    return weft_postgres_refuse_live (self, run_id, error);
  static const char * const deletes[] = {
    "DELETE FROM event_rows WHERE run = $1::bigint",
    "DELETE FROM task_rows WHERE run = $1::bigint",
    "DELETE FROM run_sources WHERE id = $1::bigint",
    "DELETE FROM run_rows WHERE id = $1::bigint",
  };
  for (guint i = 0; i < G_N_ELEMENTS (deletes); i++)
    if (!weft_postgres_query (self, session, deletes[i], 1, params, PGRES_COMMAND_OK, NULL,
                              "cannot delete a run", error))
      return FALSE;
  return TRUE;
}

static gboolean
weft_postgres_delete_locked (WeftPostgres *self, PGconn *session, gpointer data,
                             GError **error)
{
  const char *run_id = data;

  if (!weft_postgres_exec (self, session, "BEGIN", "cannot delete a run", error))
    return FALSE;
  if (weft_postgres_delete_rows (self, session, run_id, error)
      && weft_postgres_exec (self, session, "COMMIT", "cannot delete a run", error))
    return TRUE;
  PQclear (PQexec (session, "ROLLBACK"));
  return FALSE;
}

gboolean
weft_postgres_delete_run (gpointer instance, const char *run_id, GError **error)
{
  return weft_postgres_with_session (instance, weft_postgres_delete_locked, (gpointer) run_id,
                                     FALSE, error);
}
