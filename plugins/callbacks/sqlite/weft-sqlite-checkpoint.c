/* weft-sqlite-checkpoint.c — the checkpointer: a thread of the plugin's
 * own, started by the first commit that needs it, which copies the WAL's
 * pages into the database on a connection of its own.  A PASSIVE
 * checkpoint neither waits for nor blocks the writer, so that copying (and
 * its fsyncs) happens beside writing, not in it.  Its state is its own
 * (the writer only reaches it through the WAL hook), behind a lock of its
 * own; what it has not copied when the plugin closes is copied by the
 * writer's close.
 */
#include "weft-sqlite.h"

/* A commit that leaves this many pages (4 KiB) in the WAL wakes the
 * checkpointer thread, which copies them to the database while the writer
 * goes on; the writer checkpoints itself only past the second figure, when
 * the checkpointer cannot keep up or a busy writer never lets the WAL
 * start over (it restarts only when a transaction begins with every page
 * copied), so that the WAL stays bounded. */
#define WEFT_SQLITE_CHECKPOINT_PAGES 4096
#define WEFT_SQLITE_WAL_MAX_PAGES 65536

struct _WeftSqliteCheckpointer {
  WeftSqlite *store;          /* its path, its writer */
  GMutex lock;
  GCond cond;
  GThread *thread;
  gboolean wanted;
  gboolean stop;
};

/* Copies the WAL's pages into the database whenever the writer asks. */
static gpointer
weft_sqlite_checkpointer (gpointer data)
{
  WeftSqliteCheckpointer *self = data;
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;

  /* A connection learns that the file is in WAL mode at its first read:
   * until then, a checkpoint does nothing. */
  if (!weft_sqlite_open_db (self->store, SQLITE_OPEN_READWRITE, &db, &error)
      || !weft_sqlite_exec (self->store, db, "SELECT count(*) FROM sqlite_master", &error))
    {
      /* The writer still checkpoints past WEFT_SQLITE_WAL_MAX_PAGES. */
      g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE", "%s", error->message);
      sqlite3_close_v2 (db);
      return NULL;
    }
  g_mutex_lock (&self->lock);
  while (!self->stop)
    {
      if (!self->wanted)
        {
          g_cond_wait (&self->cond, &self->lock);
          continue;
        }
      self->wanted = FALSE;
      g_mutex_unlock (&self->lock);
      sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      g_mutex_lock (&self->lock);
    }
  g_mutex_unlock (&self->lock);
  sqlite3_close_v2 (db);
  return NULL;
}

static void
weft_sqlite_checkpoint_soon (WeftSqliteCheckpointer *self)
{
  g_mutex_lock (&self->lock);
  if (self->stop)
    {
      /* Closing: the writer's close copies what is left. */
      g_mutex_unlock (&self->lock);
      return;
    }
  /* Thread names longer than 15 bytes are not set (Linux). */
  if (self->thread == NULL)
    self->thread = g_thread_new ("weft-checkpoint", weft_sqlite_checkpointer, self);
  self->wanted = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* Called by SQLite after each commit of the writer, with the WAL's size. */
static int
weft_sqlite_wal_hook (void *data, sqlite3 *db, const char *name, int pages)
{
  if (pages >= WEFT_SQLITE_WAL_MAX_PAGES)
    sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  else if (pages >= WEFT_SQLITE_CHECKPOINT_PAGES)
    weft_sqlite_checkpoint_soon (data);
  return SQLITE_OK;
}

WeftSqliteCheckpointer *
weft_sqlite_checkpointer_new (WeftSqlite *store)
{
  WeftSqliteCheckpointer *self = g_new0 (WeftSqliteCheckpointer, 1);

  self->store = store;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  sqlite3_wal_hook (store->writer, weft_sqlite_wal_hook, self);
  return self;
}

/* Waits for a checkpoint under way: the writer's close copies the rest.
 * Unhooked first, so that no commit reaches the freed checkpointer. */
void
weft_sqlite_checkpointer_free (WeftSqliteCheckpointer *self)
{
  if (self == NULL)
    return;
  sqlite3_wal_hook (self->store->writer, NULL, NULL);
  g_mutex_lock (&self->lock);
  self->stop = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->thread, g_thread_join);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self);
}
