/* weft-postgres-writer.c — the writer, on the dispatcher thread (on_event,
 * flush).  Events are copied into a batch; the batch is written in one
 * transaction when the queue runs empty (flush), or when it grows large
 * or old, so that a busy run costs a few commits a second.  Each kind of
 * row goes in one statement per batch, whatever the number of rows
 * (unnest over array parameters): the events, then what the new ones make
 * of the runs and tasks (weft-postgres-apply.c).
 *
 * When the database goes away (restarted, unreachable), the batch is
 * kept and written again once a connection is back, for up to retry_s;
 * an event already stored (the same run and seq) is not stored twice, nor
 * is anything it would have changed.
 */
#include "weft-postgres.h"

#include <string.h>

/* As sqlite's: a busy run commits at least this often. */
#define WEFT_POSTGRES_BATCH_MAX_EVENTS 20000
#define WEFT_POSTGRES_BATCH_MAX_US (500 * 1000)
/* Known run keys kept at most; the rest are read again when needed. */
#define WEFT_POSTGRES_MAX_RUN_KEYS 10000

struct _WeftPostgresBatch {
  GStringChunk *strings;
  GString *json;              /* one event's JSON, before it is kept */
  GArray *events;             /* WeftPostgresEvent */
  gint64 started_us;
};

void
weft_postgres_writer_init (WeftPostgres *self)
{
  self->batch = g_new0 (WeftPostgresBatch, 1);
  self->batch->strings = g_string_chunk_new (64 * 1024);
  self->batch->json = g_string_sized_new (1024);
  self->batch->events = g_array_new (FALSE, FALSE, sizeof (WeftPostgresEvent));
  self->run_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->flow_texts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
weft_postgres_writer_clear (WeftPostgres *self)
{
  if (self->batch != NULL)
    {
      g_string_chunk_free (self->batch->strings);
      g_string_free (self->batch->json, TRUE);
      g_array_unref (self->batch->events);
      g_clear_pointer (&self->batch, g_free);
    }
  g_clear_pointer (&self->run_keys, g_hash_table_unref);
  g_clear_pointer (&self->flow_texts, g_hash_table_unref);
}

/* Names repeat from event to event: each is kept once a batch. */
static const char *
weft_postgres_keep_name (WeftPostgresBatch *batch, const char *text)
{
  return text ? g_string_chunk_insert_const (batch->strings, text) : NULL;
}

static const char *
weft_postgres_keep (WeftPostgresBatch *batch, const char *text)
{
  return text ? g_string_chunk_insert (batch->strings, text) : NULL;
}

static void
weft_postgres_batch_reset (WeftPostgresBatch *batch)
{
  g_array_set_size (batch->events, 0);
  g_string_chunk_clear (batch->strings);
}

/* ---- one transaction ------------------------------------------------------------ */

/* Keys of the runs of `params` ($1: run ids, $2: flows) that `sql` gives
 * (rows of run_id, id), into `found`. */
static gboolean
weft_postgres_find_runs (WeftPostgres *self, PGconn *conn, const char *sql,
                         const char * const *params, GHashTable *found, GError **error)
{
  PGresult *result = NULL;

  if (!weft_postgres_query (self, conn, sql, 2, params, PGRES_TUPLES_OK, &result,
                            "cannot store runs", error))
    return FALSE;
  for (int r = 0; r < PQntuples (result); r++)
    {
      gint64 *key = g_new (gint64, 1);
      *key = g_ascii_strtoll (PQgetvalue (result, r, 1), NULL, 10);
      g_hash_table_insert (found, g_strdup (PQgetvalue (result, r, 0)), key);
    }
  PQclear (result);
  return TRUE;
}

/* The run ids (and flows) of `events` not known yet, as array parameters;
 * `skip` the ones to leave out.  FALSE when there is none. */
static gboolean
weft_postgres_unknown_runs (WeftPostgres *self, GArray *events, GHashTable *skip,
                            GString *ids, GString *flows)
{
  g_autoptr(GHashTable) asked = g_hash_table_new (g_str_hash, g_str_equal);

  weft_postgres_array_begin (ids);
  weft_postgres_array_begin (flows);
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      if (g_hash_table_contains (self->run_keys, ev->run_id)
          || g_hash_table_contains (skip, ev->run_id)
          || !g_hash_table_add (asked, (gpointer) ev->run_id))
        continue;
      weft_postgres_array_text (ids, ev->run_id, -1);
      weft_postgres_array_text (flows, ev->flow, -1);
    }
  weft_postgres_array_end (ids);
  weft_postgres_array_end (flows);
  return g_hash_table_size (asked) > 0;
}

/* The run_rows.id of every event's run, rows made for runs not stored yet
 * (an instance that only some tasks name sees no run.* events: the row
 * then holds what task events tell).  `found` gets the keys read here,
 * which the caller keeps once the transaction commits. */
static gboolean
weft_postgres_resolve_runs (WeftPostgres *self, PGconn *conn, GArray *events,
                            GHashTable *found, GError **error)
{
  g_autoptr(GString) ids = g_string_new (NULL);
  g_autoptr(GString) flows = g_string_new (NULL);
  const char *params[] = { NULL, NULL };

  /* Found first (a queued run has its row), then the rest made; made by
   * another writer meanwhile, found again. */
  for (guint pass = 0; pass < 3; pass++)
    {
      if (!weft_postgres_unknown_runs (self, events, found, ids, flows))
        break;
      params[0] = ids->str;
      params[1] = flows->str;
      if (!weft_postgres_find_runs (self, conn, pass == 1
                                    ? "INSERT INTO run_rows (run_id, flow, status)"
                                      " SELECT id, flow, 'running'"
                                      " FROM unnest ($1::text[], $2::text[]) AS u (id, flow)"
                                      " ON CONFLICT (run_id) DO NOTHING RETURNING run_id, id"
                                    /* $2 unused, there so both take the same two */
                                    : "SELECT run_id, id FROM run_rows"
                                      " WHERE run_id = ANY ($1::text[]) AND $2::text[] IS NOT NULL",
                                    params, found, error))
        return FALSE;
    }
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      gint64 *key = g_hash_table_lookup (self->run_keys, ev->run_id);
      if (key == NULL)
        key = g_hash_table_lookup (found, ev->run_id);
      ev->run = key ? *key : 0;
    }
  return TRUE;
}

/* The (run, seq) of a stored event, as a hash key. */
static char *
weft_postgres_event_key (gint64 run, const char *seq)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT "/%s", run, seq);
}

/* Inserts the events; marks those that were new (not stored before). */
static gboolean
weft_postgres_insert_events (WeftPostgres *self, PGconn *conn, GArray *events, GError **error)
{
  g_autoptr(GString) runs = g_string_new (NULL);
  g_autoptr(GString) seqs = g_string_new (NULL);
  g_autoptr(GString) texts = g_string_sized_new (events->len * 400);
  PGresult *result = NULL;
  guint sent = 0;

  weft_postgres_array_begin (runs);
  weft_postgres_array_begin (seqs);
  weft_postgres_array_begin (texts);
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      ev->is_new = FALSE;
      if (ev->run == 0 || weft_postgres_is_detached (self, ev->run_id))
        continue;
      weft_postgres_array_int (runs, ev->run);
      weft_postgres_array_int (seqs, (gint64) ev->seq);
      weft_postgres_array_text (texts, ev->json, (gssize) ev->json_len);
      sent++;
    }
  weft_postgres_array_end (runs);
  weft_postgres_array_end (seqs);
  weft_postgres_array_end (texts);
  if (sent == 0)
    return TRUE;
  const char *params[] = { runs->str, seqs->str, texts->str };
  if (!weft_postgres_query (self, conn,
                            "INSERT INTO event_rows (run, seq, json)"
                            " SELECT * FROM unnest ($1::bigint[], $2::bigint[], $3::text[])"
                            " ON CONFLICT DO NOTHING RETURNING run, seq",
                            3, params, PGRES_TUPLES_OK, &result, "cannot store events", error))
    return FALSE;
  /* All new, the usual case: no need to look which. */
  gboolean all = (guint) PQntuples (result) == sent;
  g_autoptr(GHashTable) stored = all ? NULL
    : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int r = 0; !all && r < PQntuples (result); r++)
    g_hash_table_add (stored, weft_postgres_event_key (g_ascii_strtoll (PQgetvalue (result, r, 0),
                                                                        NULL, 10),
                                                       PQgetvalue (result, r, 1)));
  PQclear (result);
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      if (ev->run == 0 || weft_postgres_is_detached (self, ev->run_id))
        continue;
      g_autofree char *seq = g_strdup_printf ("%" G_GUINT64_FORMAT, ev->seq);
      g_autofree char *key = all ? NULL : weft_postgres_event_key (ev->run, seq);
      ev->is_new = all || g_hash_table_contains (stored, key);
    }
  return TRUE;
}

static gboolean
weft_postgres_commit_once (WeftPostgres *self, GHashTable *found, GArray *ended,
                           GPtrArray *texts, GError **error)
{
  GArray *events = self->batch->events;

  if (self->writer == NULL && (self->writer = weft_postgres_connect (self, error)) == NULL)
    return FALSE;
  if (!weft_postgres_exec (self, self->writer, "BEGIN", "cannot begin a transaction", error))
    return FALSE;
  if (weft_postgres_resolve_runs (self, self->writer, events, found, error)
      && weft_postgres_insert_events (self, self->writer, events, error)
      && weft_postgres_apply (self, self->writer, events, ended, texts, error)
      && weft_postgres_exec (self, self->writer, "COMMIT", "cannot commit", error))
    return TRUE;
  PQclear (PQexec (self->writer, "ROLLBACK"));
  return FALSE;
}

/* After a commit: the keys found are known; ended runs are forgotten and
 * their claims released (after the commit, so that whoever sees a claim
 * gone sees the end stored). */
static void
weft_postgres_committed (WeftPostgres *self, GHashTable *found, GArray *ended, GPtrArray *texts)
{
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; i < texts->len; i++)
    g_hash_table_add (self->flow_texts, g_strdup (texts->pdata[i]));
  if (g_hash_table_size (self->run_keys) > WEFT_POSTGRES_MAX_RUN_KEYS)
    g_hash_table_remove_all (self->run_keys);
  g_hash_table_iter_init (&iter, found);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_hash_table_iter_steal (&iter);
      g_hash_table_replace (self->run_keys, key, value);
    }
  g_mutex_lock (&self->session_lock);
  for (guint i = 0; i < ended->len; i++)
    {
      gint64 run = g_array_index (ended, gint64, i);
      const char *run_id = g_hash_table_lookup (self->claims, &run);
      if (run_id != NULL)
        g_hash_table_remove (self->run_keys, run_id);
      weft_postgres_claims_drop (self, run);
    }
  g_mutex_unlock (&self->session_lock);
}

/* Between two tries while the database is away: a growing pause, 0.1 s to
 * 2 s. */
static void
weft_postgres_pause (guint attempt)
{
  g_usleep (MIN (100000u << MIN (attempt, 5u), 2000000u));
}

void
weft_postgres_commit (WeftPostgres *self)
{
  WeftPostgresBatch *batch = self->batch;
  gint64 deadline = g_get_monotonic_time () + (gint64) self->retry_s * G_USEC_PER_SEC;
  gboolean warned = FALSE;

  if (batch->events->len == 0)
    return;
  for (guint attempt = 0;; attempt++)
    {
      g_autoptr(GHashTable) found = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                           g_free);
      g_autoptr(GArray) ended = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GError) error = NULL;

      if (weft_postgres_commit_once (self, found, ended, texts, &error))
        {
          weft_postgres_committed (self, found, ended, texts);
          if (warned)
            weft_postgres_warn (self, "the database is back: %u event(s) stored",
                                batch->events->len);
          break;
        }
      /* A query the database refused, or a connection it refused (a wrong
       * password): trying again would not help. */
      if ((self->writer != NULL && !weft_postgres_is_lost (self->writer, NULL))
          || g_error_matches (error, WEFT_ERROR, WEFT_ERROR_INVALID))
        {
          weft_postgres_warn (self, "%u event(s) lost: %s", batch->events->len, error->message);
          break;
        }
      if (g_get_monotonic_time () >= deadline)
        {
          weft_postgres_warn (self, "%u event(s) lost: the database was away for more than "
                              "%d s (%s)", batch->events->len, self->retry_s, error->message);
          break;
        }
      if (!warned)
        weft_postgres_warn (self, "the database is away (%s); %u event(s) kept, tried "
                            "again for up to %d s", error->message, batch->events->len,
                            self->retry_s);
      warned = TRUE;
      weft_postgres_forget (self, &self->writer);
      weft_postgres_pause (attempt);
    }
  weft_postgres_batch_reset (batch);
}

/* ---- the dispatcher thread -------------------------------------------------------- */

static void
weft_postgres_add_event (WeftPostgres *self, const WeftEvent *event)
{
  WeftPostgresBatch *batch = self->batch;
  WeftEventType type = weft_event_get_event_type (event);

  g_string_truncate (batch->json, 0);
  weft_event_append_json (event, batch->json);
  WeftPostgresEvent ev = {
    .run_id = weft_postgres_keep_name (batch, weft_event_get_run_id (event)),
    .seq = weft_event_get_seq (event),
    .type = type,
    .task = weft_postgres_keep_name (batch, weft_event_get_task_name (event)),
    .attempt = weft_event_get_attempt (event),
    .wall_us = weft_event_get_wall_us (event),
    .flow = weft_postgres_keep_name (batch, weft_event_get_flow_name (event)),
    .output = type == WEFT_EVENT_TASK_COMPLETED
              ? weft_postgres_keep (batch, weft_event_get_output (event)) : NULL,
    .error = weft_postgres_keep (batch, weft_event_get_error (event)),
    .inputs = weft_postgres_keep (batch, weft_event_get_inputs (event)),
    .flow_source = weft_postgres_keep (batch, weft_event_get_flow_source (event)),
    .json = g_string_chunk_insert_len (batch->strings, batch->json->str,
                                       (gssize) batch->json->len),
    .json_len = batch->json->len,
  };

  if (batch->events->len == 0)
    batch->started_us = g_get_monotonic_time ();
  g_array_append_val (batch->events, ev);
}

void
weft_postgres_on_event (gpointer instance, const WeftEvent *event)
{
  WeftPostgres *self = instance;

  g_mutex_lock (&self->writer_lock);
  if (!weft_postgres_is_detached (self, weft_event_get_run_id (event)))
    weft_postgres_add_event (self, event);
  if (self->batch->events->len >= WEFT_POSTGRES_BATCH_MAX_EVENTS
      || (self->batch->events->len > 0
          && g_get_monotonic_time () - self->batch->started_us >= WEFT_POSTGRES_BATCH_MAX_US))
    weft_postgres_commit (self);
  g_mutex_unlock (&self->writer_lock);
}

void
weft_postgres_flush (gpointer instance)
{
  WeftPostgres *self = instance;

  g_mutex_lock (&self->writer_lock);
  weft_postgres_commit (self);
  g_mutex_unlock (&self->writer_lock);
}
