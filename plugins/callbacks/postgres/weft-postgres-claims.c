/* weft-postgres-claims.c — claim_run (a run taken for this process
 * before it is resumed or started from the queue) and hand_back (a run
 * given back to the queue: what the writer holds of it is committed
 * first, then nothing more of it is stored here, its claim is dropped and
 * waiting workers are woken).  The locks themselves are
 * weft-postgres-locks.c's.
 */
#include "weft-postgres.h"

/* The run's claim: `data` is its id; BUSY when another session holds it.
 * Found and locked in one statement. */
static gboolean
weft_postgres_claim_locked (WeftPostgres *self, PGconn *session, gpointer data, GError **error)
{
  const char *run_id = data;
  const char *params[] = { run_id };
  PGresult *result = NULL;
  GHashTableIter iter;
  gpointer held;

  /* Held already: a lock taken twice would need two unlocks. */
  g_hash_table_iter_init (&iter, self->claims);
  while (g_hash_table_iter_next (&iter, NULL, &held))
    if (g_str_equal (held, run_id))
      return TRUE;
  if (!weft_postgres_query (self, session,
                            "SELECT id, pg_try_advisory_lock (2003133044,"
                            "  (id % 2147483648)::int) FROM run_rows WHERE run_id = $1",
                            1, params, PGRES_TUPLES_OK, &result, "cannot claim a run", error))
    return FALSE;
  /* Not stored here (yet): nobody else can be running it from this
   * database; run.started will claim it. */
  gboolean taken = PQntuples (result) == 0 || PQgetvalue (result, 0, 1)[0] == 't';
  if (PQntuples (result) > 0 && taken)
    {
      gint64 key = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
      g_hash_table_insert (self->claims, g_memdup2 (&key, sizeof key), g_strdup (run_id));
    }
  PQclear (result);
  if (!taken)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_BUSY,
                 "%s: run %s is still being run by another process (a live session holds "
                 "its claim); only a run whose process died can be resumed", self->where,
                 run_id);
  return taken;
}

gboolean
weft_postgres_claim_run (gpointer instance, const char *run_id, GError **error)
{
  /* Tried again on a new session when the first was lost: a lock taken
   * on a lost session went with it. */
  return weft_postgres_with_session (instance, weft_postgres_claim_locked, (gpointer) run_id,
                                     TRUE, error);
}

/* The run back in the queue, with why (a run that ended only loses its
 * claim); its claim dropped inside the transaction, so that a worker
 * woken by the commit finds it free. */
typedef struct {
  const char *run_id;
  const char *reason;
} WeftPostgresHandBack;

static gboolean
weft_postgres_hand_back_locked (WeftPostgres *self, PGconn *session, gpointer data,
                                GError **error)
{
  const WeftPostgresHandBack *back = data;
  const char *run_id = back->run_id;
  const char *reason = back->reason;
  g_autofree char *worker = g_strdup_printf ("%" G_GINT64_FORMAT, self->worker_id);
  const char *params[] = { run_id, reason, worker };
  PGresult *result = NULL;

  if (!weft_postgres_exec (self, session, "BEGIN", "cannot hand a run back", error))
    return FALSE;
  if (!weft_postgres_query (self, session,
                            "UPDATE run_rows SET worker = CASE WHEN status IN ('queued',"
                            "    'running') THEN NULL ELSE worker END,"
                            "  worker_name = CASE WHEN status IN ('queued', 'running')"
                            "    THEN NULL ELSE worker_name END,"
                            "  handed_back = CASE WHEN status IN ('queued', 'running')"
                            "    THEN $2 ELSE handed_back END,"
                            "  queued_wall_us = coalesce (queued_wall_us,"
                            "    (extract (epoch FROM clock_timestamp ()) * 1000000)::bigint),"
                            "  refused_by = CASE WHEN $3::bigint > 0"
                            "    THEN array_append (coalesce (refused_by, '{}'), $3::bigint)"
                            "    ELSE refused_by END"
                            " WHERE run_id = $1 RETURNING id",
                            3, params, PGRES_TUPLES_OK, &result, "cannot hand a run back",
                            error))
    {
      PQclear (PQexec (session, "ROLLBACK"));
      return FALSE;
    }
  gint64 key = PQntuples (result) > 0 ? g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10)
                                      : 0;
  PQclear (result);
  if (key == 0)
    {
      PQclear (PQexec (session, "ROLLBACK"));
      weft_postgres_no_run (self, run_id, error);
      return FALSE;
    }
  weft_postgres_claims_drop (self, key);
  if (weft_postgres_exec (self, session, "NOTIFY " WEFT_PG_CHANNEL "; COMMIT",
                          "cannot hand a run back", error))
    return TRUE;
  PQclear (PQexec (session, "ROLLBACK"));
  return FALSE;
}

gboolean
weft_postgres_hand_back (gpointer instance, const char *run_id, const char *reason,
                         GError **error)
{
  WeftPostgres *self = instance;
  gboolean ok;

  /* What was raised before is the run's story: stored first.  From now on
   * its events are dropped (the writer cannot add any: it waits for
   * writer_lock). */
  WeftPostgresHandBack back = { run_id, reason };

  g_mutex_lock (&self->writer_lock);
  weft_postgres_commit (self);
  g_mutex_lock (&self->session_lock);
  g_hash_table_add (self->detached, g_strdup (run_id));
  g_mutex_unlock (&self->session_lock);
  /* Tried again on a new session: the same change, and a claim on a lost
   * session went with it. */
  ok = weft_postgres_with_session (self, weft_postgres_hand_back_locked, &back, TRUE, error);
  g_mutex_unlock (&self->writer_lock);
  return ok;
}
