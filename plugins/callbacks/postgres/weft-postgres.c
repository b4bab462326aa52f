/* weft-postgres.c — a store in PostgreSQL: every event of every run, with
 * the runs and tasks they describe kept current beside them, read back
 * through the store capability (`weft runs`, replay, resume, `serve
 * --store`) in the same JSON as sqlite's, claims that vanish with the
 * process that holds them, and a queue of runs that workers on many
 * machines share (docs/scale-out.md).  Tables: docs/store.md.  This file
 * is the plugin itself: its options, create() and destroy(), and its
 * classes; weft-postgres.h maps the other files, their connections and
 * threads.
 */
#include "weft-postgres.h"

typedef struct {
  const char *conninfo;
  gint64 connect_timeout_s;
  gint64 retry_s;
  gint64 reclaim_grace_s;
} WeftPostgresOptions;

static const WeftOption weft_postgres_options[] = {
  { .name = "conninfo", .type = WEFT_OPTION_STRING, .default_json = "\"\"",
    .offset = offsetof (WeftPostgresOptions, conninfo),
    .description = "a libpq connection string or URI (\"${DATABASE_URL}\" works); empty: "
                   "the PG* environment variables (PGHOST, PGDATABASE, ...)" },
  { .name = "connect_timeout_s", .type = WEFT_OPTION_INT, .default_json = "10", .min = 1,
    .max = 3600, .offset = offsetof (WeftPostgresOptions, connect_timeout_s),
    .description = "how long to wait for a connection (s), unless conninfo says" },
  { .name = "retry_s", .type = WEFT_OPTION_INT, .default_json = "60", .min = 0, .max = 86400,
    .offset = offsetof (WeftPostgresOptions, retry_s),
    .description = "how long events wait for a database that went away before they are "
                   "given up (s)" },
  { .name = "reclaim_grace_s", .type = WEFT_OPTION_INT, .default_json = "10", .min = 0,
    .max = 3600, .offset = offsetof (WeftPostgresOptions, reclaim_grace_s),
    .description = "after the database restarts, how long workers get to come back before "
                   "their runs go to others (s)" },
  WEFT_OPTION_END
};

static void
weft_postgres_free (WeftPostgres *self)
{
  weft_postgres_forget (self, &self->listener);
  /* Closing the session drops every claim it holds, and the worker's lock. */
  weft_postgres_forget (self, &self->session);
  weft_postgres_forget (self, &self->writer);
  weft_postgres_writer_clear (self);
  g_clear_pointer (&self->claims, g_hash_table_unref);
  g_clear_pointer (&self->detached, g_hash_table_unref);
  g_clear_pointer (&self->handed_out, g_hash_table_unref);
  g_mutex_clear (&self->writer_lock);
  g_mutex_clear (&self->session_lock);
  g_mutex_clear (&self->listen_lock);
  g_mutex_clear (&self->prepared_lock);
  g_clear_pointer (&self->prepared, g_hash_table_unref);
  g_free (self->conninfo);
  g_free (self->where);
  g_free (self->worker_name);
  g_free (self->worker_host);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftPostgres, weft_postgres_free)

static gpointer
weft_postgres_create (const WeftConfig *config, GError **error)
{
  const WeftPostgresOptions *options = weft_config_get_options (config);
  g_autoptr(WeftPostgres) self = g_new0 (WeftPostgres, 1);

  g_mutex_init (&self->writer_lock);
  g_mutex_init (&self->session_lock);
  g_mutex_init (&self->listen_lock);
  g_mutex_init (&self->prepared_lock);
  self->prepared = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                          (GDestroyNotify) g_hash_table_unref);
  self->conninfo = g_strdup (options->conninfo);
  self->where = g_strdup ("postgres");
  self->connect_timeout_s = (gint) options->connect_timeout_s;
  self->retry_s = (gint) options->retry_s;
  self->reclaim_grace_s = (gint) options->reclaim_grace_s;
  self->reader = weft_config_is_reader (config);
  self->claims = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  self->detached = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->handed_out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  weft_postgres_writer_init (self);
  if (!weft_postgres_check_conninfo (self->conninfo, error))
    return NULL;

  /* Connected and migrated here, not at the first event, so that a
   * database that cannot be reached, or is newer, stops the flow from
   * loading. */
  g_mutex_lock (&self->session_lock);
  PGconn *session = weft_postgres_session (self, error);
  gboolean ok = session != NULL && weft_postgres_migrate (self, session, error);
  g_mutex_unlock (&self->session_lock);
  if (!ok)
    return NULL;
  return g_steal_pointer (&self);
}

static void
weft_postgres_destroy (gpointer instance)
{
  WeftPostgres *self = instance;

  /* flush() ran after the last event; a store opened only to read has no
   * batch.  Committing again is harmless either way. */
  weft_postgres_flush (self);
  weft_postgres_free (self);
}

/* ------------------------------------------------------------------------ */

static const WeftCallbackClass weft_postgres_callback_class = {
  .on_event = weft_postgres_on_event,
  .flush = weft_postgres_flush,
};

static const WeftQueueClass weft_postgres_queue_class = {
  .enqueue = weft_postgres_enqueue,
  .join = weft_postgres_join,
  .claim_next = weft_postgres_claim_next,
  .wait = weft_postgres_wait,
  .hand_back = weft_postgres_hand_back,
  .list_workers = weft_postgres_list_workers,
};

static const WeftStoreClass weft_postgres_store_class = {
  .list_runs = weft_postgres_list_runs,
  .get_run = weft_postgres_get_run,
  .get_events = weft_postgres_get_events,
  .claim_run = weft_postgres_claim_run,
  .delete_run = weft_postgres_delete_run,
  .queue = &weft_postgres_queue_class,
};

static const WeftPluginDescriptor weft_postgres_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "postgres",
  .version = "0.1.0",
  .description = "Stores runs, tasks and events in PostgreSQL (batched), with claims that "
                 "vanish with their process and a queue of runs for `weft worker`",
  .options = weft_postgres_options,
  .options_size = sizeof (WeftPostgresOptions),
  .create = weft_postgres_create,
  .destroy = weft_postgres_destroy,
  .callback = &weft_postgres_callback_class,
  .store = &weft_postgres_store_class,
};

WEFT_PLUGIN_DEFINE (weft_postgres_descriptor)
