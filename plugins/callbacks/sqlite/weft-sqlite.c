/* weft-sqlite.c — the embedded default store: every event of every run in a
 * SQLite file, with the runs and tasks they describe kept current beside
 * them, and read back through the store capability (`weft runs`, `weft
 * replay`, `weft resume`).  Tables and shapes: docs/store.md.  This file
 * is the plugin itself: its options, create() and destroy(), and the
 * classes that hand events to the writer and store calls to the reader
 * and the deleter; it sits above every other file of the plugin, and
 * weft-sqlite.h maps them and says which thread each runs on.
 */
#include "weft-sqlite.h"

#include <string.h>

/* The options, as weft binds them (see weft_sqlite_options). */
typedef struct {
  const char *path;
  gint64 busy_timeout_ms;
  gint synchronous;           /* an index in weft_sqlite_synchronous */
} WeftSqliteOptions;

/* SQLite's own names, which it takes in any case. */
static const char * const weft_sqlite_synchronous[] = { "off", "normal", "full", "extra", NULL };

static const WeftOption weft_sqlite_options[] = {
  { .name = "path", .type = WEFT_OPTION_STRING, .default_json = "\"weft.db\"",
    .flags = WEFT_OPTION_NOT_EMPTY, .offset = offsetof (WeftSqliteOptions, path),
    .description = "the database file, created if missing (relative to the working "
                   "directory)" },
  { .name = "busy_timeout_ms", .type = WEFT_OPTION_INT, .default_json = "5000", .min = 0,
    .max = G_MAXINT, .offset = offsetof (WeftSqliteOptions, busy_timeout_ms),
    .description = "how long to wait for another process holding the database (ms)" },
  { .name = "synchronous", .type = WEFT_OPTION_ENUM, .default_json = "\"normal\"",
    .choices = weft_sqlite_synchronous, .flags = WEFT_OPTION_ANY_CASE,
    .offset = offsetof (WeftSqliteOptions, synchronous),
    .description = "SQLite's synchronous pragma: \"off\", \"normal\" (safe from crashes in WAL "
                   "mode), \"full\" or \"extra\" (also from power loss)" },
  WEFT_OPTION_END
};

static void
weft_sqlite_free (WeftSqlite *self)
{
  weft_sqlite_checkpointer_free (self->checkpointer);
  weft_sqlite_threads_clear (self);
  weft_sqlite_finalize (self);
  /* The writer last: closing the last connection copies the WAL's
   * remaining pages to the database. */
  sqlite3_close_v2 (self->reader);
  sqlite3_close_v2 (self->deleter);
  sqlite3_close_v2 (self->writer);
  weft_sqlite_claims_close (&self->claims);
  weft_sqlite_writer_clear (self);
  g_mutex_clear (&self->read_lock);
  g_free (self->path);
  g_free (self->synchronous);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftSqlite, weft_sqlite_free)

/* An in-memory database is made by opening it; any other path must be
 * there to be read.  (An empty path was refused with the options.) */
static gboolean
weft_sqlite_exists (const char *path)
{
  return strcmp (path, ":memory:") == 0 || g_file_test (path, G_FILE_TEST_EXISTS);
}

static gpointer
weft_sqlite_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftSqlite) self = g_new0 (WeftSqlite, 1);

  g_mutex_init (&self->read_lock);
  const WeftSqliteOptions *options = weft_config_get_options (config);

  self->path = g_strdup (options->path);
  self->synchronous = g_strdup (weft_sqlite_synchronous[options->synchronous]);
  self->busy_timeout_ms = (gint) options->busy_timeout_ms;
  weft_sqlite_writer_init (self);
  if (weft_config_is_reader (config) && !weft_sqlite_exists (self->path))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "%s: no such database (no run has been stored there)", self->path);
      return NULL;
    }

  /* Opened and migrated here, not at the first event, so that a bad path
   * or a newer database stops the flow from loading. */
  if (!weft_sqlite_open_writer (self, error) || !weft_sqlite_prepare (self, error))
    return NULL;
  self->checkpointer = weft_sqlite_checkpointer_new (self);
  weft_sqlite_claims_open (&self->claims, self->path, weft_config_is_reader (config));
  return g_steal_pointer (&self);
}

static void
weft_sqlite_destroy (gpointer instance)
{
  WeftSqlite *self = instance;

  /* flush() ran after the last event; a store opened only to read has no
   * batch.  Committing again is harmless either way. */
  weft_sqlite_flush (self);
  weft_sqlite_free (self);
}

/* ------------------------------------------------------------------------ */

static const WeftCallbackClass weft_sqlite_callback_class = {
  .on_event = weft_sqlite_on_event,
  .flush = weft_sqlite_flush,
};

static const WeftStoreClass weft_sqlite_store_class = {
  .list_runs = weft_sqlite_list_runs,
  .get_run = weft_sqlite_get_run,
  .claim_run = weft_sqlite_claim_run,
  .delete_run = weft_sqlite_delete_run,
  .get_thread = weft_sqlite_get_thread,
  .list_threads = weft_sqlite_list_threads,
  .delete_thread = weft_sqlite_delete_thread,
  .get_events = weft_sqlite_get_events,
};

static const WeftPluginDescriptor weft_sqlite_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "sqlite",
  .version = "0.1.0",
  .description = "Stores runs, tasks and events in a SQLite file (WAL, batched); "
                 "the default store of `weft runs`, `replay` and `resume`",
  .options = weft_sqlite_options,
  .options_size = sizeof (WeftSqliteOptions),
  .create = weft_sqlite_create,
  .destroy = weft_sqlite_destroy,
  .callback = &weft_sqlite_callback_class,
  .store = &weft_sqlite_store_class,
};

WEFT_PLUGIN_DEFINE (weft_sqlite_descriptor)
