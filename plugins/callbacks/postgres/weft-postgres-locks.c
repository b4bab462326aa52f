/* weft-postgres-locks.c — the advisory locks an instance holds on its
 * session: a run's claim, (WEFT_PG_LOCK_RUNS, its run_rows.id), and a
 * worker's own, (WEFT_PG_LOCK_WORKERS, its workers.id).  PostgreSQL drops
 * them when the session ends, so a process that dies (kill -9, a lost
 * host) drops its claims with its connection, and no heartbeat is
 * written; any session sees who holds what in pg_locks (`live`, the
 * queue's reaper).
 *
 * A session that is lost (the server restarted) loses its locks: the next
 * one takes them again before it is used (claims_restore,
 * worker_restore); a run another process took in between is detached,
 * its further events not stored here, so that two processes never write
 * one run's story.
 */
#include "weft-postgres.h"

/* The run's lock on `session`: 1 taken, 0 another session holds it, -1
 * an error. */
static int
weft_postgres_try_lock (WeftPostgres *self, PGconn *session, gint64 key, GError **error)
{
  g_autofree char *lock = g_strdup_printf ("%d", WEFT_PG_LOCK_KEY (key));
  const char *params[] = { lock };
  PGresult *result = NULL;
  gboolean taken;

  if (!weft_postgres_query (self, session, "SELECT pg_try_advisory_lock (2003133044, $1::int)",
                            1, params, PGRES_TUPLES_OK, &result, "cannot claim a run", error))
    return -1;
  taken = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  return taken ? 1 : 0;
}

int
weft_postgres_claims_take (WeftPostgres *self, PGconn *session, gint64 key,
                           const char *run_id, GError **error)
{
  int taken;

  if (g_hash_table_contains (self->claims, &key))
    return 1;
  taken = weft_postgres_try_lock (self, session, key, error);
  if (taken == 1)
    g_hash_table_insert (self->claims, g_memdup2 (&key, sizeof key), g_strdup (run_id));
  return taken;
}

void
weft_postgres_claims_drop (WeftPostgres *self, gint64 key)
{
  g_autofree char *lock = g_strdup_printf ("%d", WEFT_PG_LOCK_KEY (key));
  const char *params[] = { lock };

  if (!g_hash_table_remove (self->claims, &key))
    return;
  /* A session that was lost holds nothing any more. */
  if (self->session != NULL && PQstatus (self->session) == CONNECTION_OK)
    PQclear (PQexecParams (self->session, "SELECT pg_advisory_unlock (2003133044, $1::int)",
                           1, NULL, params, NULL, NULL, 0));
}

gboolean
weft_postgres_claims_restore (WeftPostgres *self, PGconn *session, GError **error)
{
  g_autoptr(GList) keys = g_hash_table_get_keys (self->claims);

  for (GList *k = keys; k != NULL; k = k->next)
    {
      gint64 key = *(gint64 *) k->data;
      int taken = weft_postgres_try_lock (self, session, key, error);
      if (taken < 0)
        return FALSE;         /* all kept, for the next session to try */
      if (taken == 1)
        continue;
      const char *run_id = g_hash_table_lookup (self->claims, &key);
      weft_postgres_warn (self, "run %s was taken by another process while the database "
                          "was away: its further events are not stored by this one", run_id);
      g_hash_table_add (self->detached, g_strdup (run_id));
      g_hash_table_remove (self->claims, &key);
    }
  return TRUE;
}

gboolean
weft_postgres_is_detached (WeftPostgres *self, const char *run_id)
{
  gboolean detached;

  g_mutex_lock (&self->session_lock);
  detached = g_hash_table_contains (self->detached, run_id);
  g_mutex_unlock (&self->session_lock);
  return detached;
}

gboolean
weft_postgres_lock_worker (WeftPostgres *self, PGconn *session, GError **error)
{
  g_autofree char *lock = g_strdup_printf ("%d", WEFT_PG_LOCK_KEY (self->worker_id));
  const char *params[] = { lock };
  PGresult *result = NULL;

  if (!weft_postgres_query (self, session, "SELECT pg_try_advisory_lock (2003133047, $1::int)",
                            1, params, PGRES_TUPLES_OK, &result, "cannot join the queue", error))
    return FALSE;
  gboolean taken = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  if (!taken)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_BUSY,
                 "%s: worker %" G_GINT64_FORMAT " is held by another session", self->where,
                 self->worker_id);
  return taken;
}

gboolean
weft_postgres_worker_restore (WeftPostgres *self, PGconn *session, GError **error)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, self->worker_id);
  g_autofree char *pid = g_strdup_printf ("%u", self->worker_pid);
  g_autofree char *concurrency = g_strdup_printf ("%u", self->worker_concurrency);
  g_autofree char *now = weft_postgres_now_text ();
  const char *params[] = { id, self->worker_host, pid, concurrency, now };

  if (self->worker_id == 0)
    return TRUE;
  /* Its row back if a reaper took it while this worker was away. */
  return weft_postgres_lock_worker (self, session, error)
         && weft_postgres_query (self, session,
                                 "INSERT INTO workers (id, host, pid, concurrency,"
                                 "  started_wall_us)"
                                 " VALUES ($1::bigint, $2, $3::int, $4::int, $5::bigint)"
                                 " ON CONFLICT (id) DO NOTHING",
                                 5, params, PGRES_COMMAND_OK, NULL, "cannot join the queue",
                                 error);
}
