/* weft-postgres-session.c — the session: the connection on which an
 * instance reads, deletes, works the queue and holds its advisory locks
 * (weft-postgres.h), opened when missing and opened again when found
 * lost, taking back what the lost one held before anything else uses it
 * (weft-postgres-locks.c).  Every use is under session_lock.
 */
#include "weft-postgres.h"

PGconn *
weft_postgres_session (WeftPostgres *self, GError **error)
{
  if (self->session != NULL && PQstatus (self->session) == CONNECTION_OK)
    return self->session;
  weft_postgres_forget (self, &self->session);
  self->session = weft_postgres_connect (self, error);
  if (self->session == NULL)
    return NULL;
  /* What the lost session held is taken again before anything else uses
   * the new one. */
  if (!weft_postgres_claims_restore (self, self->session, error)
      || !weft_postgres_worker_restore (self, self->session, error))
    {
      weft_postgres_forget (self, &self->session);
      return NULL;
    }
  return self->session;
}

gboolean
weft_postgres_with_session (WeftPostgres *self, WeftPostgresOp op, gpointer data,
                            gboolean retry, GError **error)
{
  g_autoptr(GError) local = NULL;
  gboolean ok = FALSE;

  g_mutex_lock (&self->session_lock);
  PGconn *session = weft_postgres_session (self, &local);
  if (session != NULL)
    ok = op (self, session, data, &local);
  /* A session the server dropped (a restart): once more on a new one. */
  if (!ok && session != NULL && retry && weft_postgres_is_lost (session, NULL))
    {
      weft_postgres_forget (self, &self->session);
      g_clear_error (&local);
      session = weft_postgres_session (self, &local);
      if (session != NULL)
        ok = op (self, session, data, &local);
    }
  if (!ok && session != NULL && weft_postgres_is_lost (session, NULL))
    weft_postgres_forget (self, &self->session);
  g_mutex_unlock (&self->session_lock);
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local));
  return ok;
}

