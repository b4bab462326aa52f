/* weft-postgres-listen.c — waiting for work: a connection of its own that
 * LISTENs on weft_queue, which enqueue and hand_back NOTIFY when they
 * commit.  An idle worker sleeps in poll() on the connection's socket (and
 * the cancellable's descriptor), not in a loop of queries.  A new
 * listener returns at once, so that the caller looks after it has started
 * listening: a run queued before it listened is not missed.
 */
#include "weft-postgres.h"

#include <errno.h>

/* Every notification waiting on the listener, consumed; TRUE when there
 * was one.  FALSE with *lost when the connection broke. */
static gboolean
weft_postgres_take_notifies (PGconn *listener, gboolean *lost)
{
  PGnotify *notify;
  gboolean any = FALSE;

  *lost = !PQconsumeInput (listener);
  while ((notify = PQnotifies (listener)) != NULL)
    {
      any = TRUE;
      PQfreemem (notify);
    }
  return any;
}

static gboolean
weft_postgres_listen_start (WeftPostgres *self, GError **error)
{
  self->listener = weft_postgres_connect (self, error);
  if (self->listener == NULL)
    return FALSE;
  if (weft_postgres_exec (self, self->listener, "LISTEN " WEFT_PG_CHANNEL,
                          "cannot wait for work", error))
    return TRUE;
  weft_postgres_forget (self, &self->listener);
  return FALSE;
}

/* Sleeps until the listener's socket or the cancellable is ready, or
 * `timeout_ms` passed. */
static gboolean
weft_postgres_sleep (WeftPostgres *self, guint timeout_ms, GCancellable *cancellable,
                     GError **error)
{
  GPollFD fds[2] = { { .fd = PQsocket (self->listener), .events = G_IO_IN } };
  guint n = 1;
  int rc;

  if (cancellable != NULL && g_cancellable_make_pollfd (cancellable, &fds[1]))
    n = 2;
  do
    rc = g_poll (fds, n, (int) MIN (timeout_ms, (guint) G_MAXINT));
  while (rc < 0 && errno == EINTR);
  if (n == 2)
    g_cancellable_release_fd (cancellable);
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

gboolean
weft_postgres_wait (gpointer instance, guint timeout_ms, GCancellable *cancellable,
                    GError **error)
{
  WeftPostgres *self = instance;
  gboolean lost = FALSE, ok = TRUE;

  g_mutex_lock (&self->listen_lock);
  if (self->listener == NULL || PQstatus (self->listener) != CONNECTION_OK)
    {
      weft_postgres_forget (self, &self->listener);
      /* A new listener: the caller looks now. */
      ok = weft_postgres_listen_start (self, error);
      g_mutex_unlock (&self->listen_lock);
      return ok;
    }
  if (!weft_postgres_take_notifies (self->listener, &lost) && !lost)
    {
      ok = weft_postgres_sleep (self, timeout_ms, cancellable, error);
      if (ok)
        weft_postgres_take_notifies (self->listener, &lost);
    }
  if (lost)
    {
      /* Told at once: the caller waits for the database to come back. */
      weft_postgres_fail (self, self->listener, NULL, "lost the connection while waiting",
                          error);
      weft_postgres_forget (self, &self->listener);
      ok = FALSE;
    }
  g_mutex_unlock (&self->listen_lock);
  return ok;
}
