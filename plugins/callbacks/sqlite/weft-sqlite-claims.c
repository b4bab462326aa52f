/* weft-sqlite-claims.c — which stored runs a live process is running.  A
 * run is claimed with an open-file-description lock on one byte of the
 * file PATH-claims beside the database, at the run's key.  The kernel
 * drops the lock when its holder dies, kill -9 included: that is what
 * tells a run whose process died from one that is still running, with no
 * heartbeat to write.  A file of its own, not the database: closing any
 * descriptor of the database would drop the POSIX locks SQLite holds on it
 * for every connection of this process (sqlite.org/howtocorrupt.html,
 * 2.2).  OFD locks belong to the descriptor, not to the process, so two
 * instances in one process claim against each other like two processes.
 */
#define _GNU_SOURCE
#include "weft-sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void
weft_sqlite_claims_open (WeftSqliteClaims *claims, const char *path, gboolean reader)
{
  g_mutex_init (&claims->lock);
  claims->held = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  claims->fd = -1;
  /* An in-memory database is this connection's alone. */
  if (strcmp (path, ":memory:") == 0)
    return;
  g_autofree char *claims_path = g_strconcat (path, "-claims", NULL);
  claims->fd = reader ? open (claims_path, O_RDONLY | O_CLOEXEC)
                      : open (claims_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
}

void
weft_sqlite_claims_close (WeftSqliteClaims *claims)
{
  if (claims->held == NULL)
    return;
  /* Closing the descriptor releases its locks. */
  if (claims->fd >= 0)
    close (claims->fd);
  claims->fd = -1;
  g_hash_table_destroy (claims->held);
  claims->held = NULL;
  g_mutex_clear (&claims->lock);
}

static struct flock
weft_sqlite_claim_range (short type, gint64 key)
{
  struct flock range = {
    .l_type = type,
    .l_whence = SEEK_SET,
    .l_start = (off_t) key,
    .l_len = 1,
  };
  return range;
}

static gboolean
weft_sqlite_claims_holds (WeftSqliteClaims *claims, gint64 key)
{
  return g_hash_table_contains (claims->held, &key);
}

gboolean
weft_sqlite_claims_take (WeftSqliteClaims *claims, gint64 key)
{
  gboolean ok = TRUE;

  g_mutex_lock (&claims->lock);
  if (claims->fd >= 0 && !weft_sqlite_claims_holds (claims, key))
    {
      struct flock range = weft_sqlite_claim_range (F_WRLCK, key);
      gboolean locked = fcntl (claims->fd, F_OFD_SETLK, &range) == 0;
      /* Only a lock someone else holds says no; a file system without
       * locks (ENOLCK) or a reader's descriptor cannot tell, and must not
       * stop a resume. */
      ok = locked || (errno != EAGAIN && errno != EACCES);
      if (locked)
        {
          gint64 *stored = g_new (gint64, 1);
          *stored = key;
          g_hash_table_add (claims->held, stored);
        }
    }
  g_mutex_unlock (&claims->lock);
  return ok;
}

void
weft_sqlite_claims_drop (WeftSqliteClaims *claims, gint64 key)
{
  g_mutex_lock (&claims->lock);
  if (g_hash_table_remove (claims->held, &key))
    {
      struct flock range = weft_sqlite_claim_range (F_UNLCK, key);
      (void) fcntl (claims->fd, F_OFD_SETLK, &range);
    }
  g_mutex_unlock (&claims->lock);
}

int
weft_sqlite_claims_held (WeftSqliteClaims *claims, gint64 key)
{
  int held = -1;

  g_mutex_lock (&claims->lock);
  if (weft_sqlite_claims_holds (claims, key))
    held = 1;
  else if (claims->fd >= 0)
    {
      /* Our own locks never conflict with this descriptor: only others'. */
      struct flock range = weft_sqlite_claim_range (F_WRLCK, key);
      if (fcntl (claims->fd, F_OFD_GETLK, &range) == 0)
        held = range.l_type != F_UNLCK;
    }
  g_mutex_unlock (&claims->lock);
  return held;
}
