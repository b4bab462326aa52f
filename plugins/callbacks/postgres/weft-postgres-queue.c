/* weft-postgres-queue.c — the queue of runs (docs/scale-out.md), on the
 * session.  A queued run is a run row with status "queued", its flow text
 * and inputs stored like any run's.  A worker is a workers row and an
 * advisory lock its session holds while its process lives; a run it holds
 * has its id in run_rows.worker.  claim_next takes the oldest run that
 * waits (queued, or given back), skipping rows another worker is taking
 * at the same moment (FOR UPDATE SKIP LOCKED), and first gives back to the
 * queue the runs of workers whose lock is gone (their process died).
 *
 * A database that restarts drops every lock at once, the living workers'
 * too: a worker that registered before the server started is given
 * reclaim_grace_s to come back (it takes its lock again as it reconnects)
 * before its runs are taken from it.
 */
#include "weft-postgres.h"

/* Run ids claim_next gave kept in mind at most before the ones that
 * started are forgotten. */
#define WEFT_POSTGRES_HANDED_OUT_MAX 1000
/* Workers whose process died are looked for at most this often. */
#define WEFT_POSTGRES_REAP_US (500 * 1000)



/* ---- enqueue -------------------------------------------------------------------- */

typedef struct {
  const char *flow_name;
  const char *flow_source;
  const char * const *inputs;
  guint n;
  GStrv ids;
} WeftPostgresEnqueue;

static gboolean
weft_postgres_enqueue_rows (WeftPostgres *self, PGconn *session, WeftPostgresEnqueue *q,
                            GError **error)
{
  g_autofree char *sha256 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, q->flow_source,
                                                           -1);
  g_autofree char *now = weft_postgres_now_text ();
  g_autoptr(GString) ids = g_string_new (NULL);
  g_autoptr(GString) inputs = g_string_new (NULL);
  g_autoptr(GStrvBuilder) made = g_strv_builder_new ();

  weft_postgres_array_begin (ids);
  weft_postgres_array_begin (inputs);
  for (guint i = 0; i < q->n; i++)
    {
      g_autofree char *id = g_uuid_string_random ();
      weft_postgres_array_text (ids, id, -1);
      weft_postgres_array_text (inputs, q->inputs[i], -1);
      g_strv_builder_add (made, id);
    }
  weft_postgres_array_end (ids);
  weft_postgres_array_end (inputs);
  const char *text_params[] = { sha256, q->flow_source };
  const char *params[] = { ids->str, q->flow_name, now, inputs->str, sha256 };
  if (!weft_postgres_query (self, session,
                            "INSERT INTO flow_texts (sha256, text) VALUES ($1, $2)"
                            " ON CONFLICT DO NOTHING",
                            2, text_params, PGRES_COMMAND_OK, NULL, "cannot queue runs", error)
      || !weft_postgres_query (self, session,
                               "WITH made AS (INSERT INTO run_rows (run_id, flow, status,"
                               "    queued_wall_us)"
                               "  SELECT u.id, $2, 'queued', $3::bigint FROM unnest ($1::text[])"
                               "    AS u (id) RETURNING id, run_id)"
                               " INSERT INTO run_sources (id, inputs, flow_text)"
                               " SELECT m.id, u.inputs,"
                               "   (SELECT f.id FROM flow_texts f WHERE f.sha256 = $5)"
                               " FROM made m JOIN unnest ($1::text[], $4::text[])"
                               "   AS u (run_id, inputs) ON u.run_id = m.run_id",
                               5, params, PGRES_COMMAND_OK, NULL, "cannot queue runs", error))
    return FALSE;
  q->ids = g_strv_builder_end (made);
  return TRUE;
}

static gboolean
weft_postgres_enqueue_locked (WeftPostgres *self, PGconn *session, gpointer data,
                              GError **error)
{
  if (!weft_postgres_exec (self, session, "BEGIN", "cannot queue runs", error))
    return FALSE;
  /* The notification goes out with the commit: a worker it wakes sees the
   * runs. */
  if (weft_postgres_enqueue_rows (self, session, data, error)
      && weft_postgres_exec (self, session, "NOTIFY " WEFT_PG_CHANNEL "; COMMIT",
                             "cannot queue runs", error))
    return TRUE;
  PQclear (PQexec (session, "ROLLBACK"));
  return FALSE;
}

char **
weft_postgres_enqueue (gpointer instance, const char *flow_name, const char *flow_source,
                       const char * const *inputs, guint n, GError **error)
{
  WeftPostgresEnqueue q = { flow_name, flow_source, inputs, n, NULL };

  /* Not tried twice: a commit whose answer was lost may have queued them. */
  if (!weft_postgres_with_session (instance, weft_postgres_enqueue_locked, &q, FALSE, error))
    {
      g_clear_pointer (&q.ids, g_strfreev);
      return NULL;
    }
  return q.ids;
}

/* ---- workers -------------------------------------------------------------------- */

static gboolean
weft_postgres_join_locked (WeftPostgres *self, PGconn *session, gpointer data, GError **error)
{
  g_autofree char *pid = g_strdup_printf ("%u", self->worker_pid);
  g_autofree char *concurrency = g_strdup_printf ("%u", self->worker_concurrency);
  g_autofree char *now = weft_postgres_now_text ();
  const char *params[] = { self->worker_host, pid, concurrency, now };
  PGresult *result = NULL;

  /* The row and its lock in one transaction: the row is seen with its
   * lock held, never without (a reaper would take it for a dead worker's). */
  if (!weft_postgres_exec (self, session, "BEGIN", "cannot join the queue", error))
    return FALSE;
  if (weft_postgres_query (self, session,
                           "INSERT INTO workers (host, pid, concurrency, started_wall_us)"
                           " VALUES ($1, $2::int, $3::int, $4::bigint) RETURNING id",
                           4, params, PGRES_TUPLES_OK, &result, "cannot join the queue", error))
    {
      self->worker_id = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
      PQclear (result);
      if (weft_postgres_lock_worker (self, session, error)
          && weft_postgres_exec (self, session, "COMMIT", "cannot join the queue", error))
        return TRUE;
    }
  PQclear (PQexec (session, "ROLLBACK"));
  self->worker_id = 0;
  return FALSE;
}

gboolean
weft_postgres_join (gpointer instance, const char *host, guint pid, guint concurrency,
                    GError **error)
{
  WeftPostgres *self = instance;

  if (self->worker_id != 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "%s: already a worker", self->where);
      return FALSE;
    }
  g_free (self->worker_host);
  self->worker_host = g_strdup (host);
  self->worker_pid = pid;
  self->worker_concurrency = concurrency;
  g_free (self->worker_name);
  self->worker_name = g_strdup_printf ("%s:%u", host, pid);
  return weft_postgres_with_session (self, weft_postgres_join_locked, NULL, FALSE, error);
}

/* ---- claim_next ----------------------------------------------------------------- */

/* The runs of workers whose lock is gone go back to the queue. */
static gboolean
weft_postgres_reap (WeftPostgres *self, PGconn *session, GError **error)
{
  g_autofree char *grace = g_strdup_printf ("%d", self->reclaim_grace_s);
  const char *params[] = { grace };

  return weft_postgres_query (
    self, session,
    "WITH dead AS (DELETE FROM workers w WHERE NOT " WEFT_PG_WORKER_LIVE_SQL ("w.id")
    "  AND (w.started_wall_us"
    "       > (extract (epoch FROM pg_postmaster_start_time ()) * 1000000)::bigint"
    "    OR clock_timestamp () - pg_postmaster_start_time ()"
    "       > make_interval (secs => $1::int))"
    "  RETURNING w.id)"
    " UPDATE run_rows SET worker = NULL WHERE worker IN (SELECT id FROM dead)"
    "  AND status IN ('queued', 'running')",
    1, params, PGRES_COMMAND_OK, NULL, "cannot look for workers that died", error);
}

/* The run ids claim_next gave, as an array parameter. */
static char *
weft_postgres_handed_out_array (WeftPostgres *self)
{
  GString *array = g_string_new (NULL);
  GHashTableIter iter;
  gpointer run_id;

  weft_postgres_array_begin (array);
  g_hash_table_iter_init (&iter, self->handed_out);
  while (g_hash_table_iter_next (&iter, &run_id, NULL))
    weft_postgres_array_text (array, run_id, -1);
  weft_postgres_array_end (array);
  return g_string_free (array, FALSE);
}

/* A claim whose answer was lost (the connection broke as it committed)
 * may have left a queued run held by this worker, which never heard of
 * it: every queued run it holds that claim_next did not give goes back.
 * The runs it gave are kept in mind while they are queued (a run's start
 * may be stored later than it began). */
static gboolean
weft_postgres_settle_claims (WeftPostgres *self, PGconn *session, const char *worker,
                             GError **error)
{
  g_autofree char *given = weft_postgres_handed_out_array (self);
  const char *params[] = { worker, given };
  PGresult *result = NULL;

  if (self->claim_unsure
      && !weft_postgres_query (self, session,
                               "UPDATE run_rows SET worker = NULL, worker_name = NULL"
                               " WHERE worker = $1::bigint AND status = 'queued'"
                               "  AND NOT (run_id = ANY ($2::text[]))",
                               2, params, PGRES_COMMAND_OK, NULL, "cannot claim a run", error))
    return FALSE;
  self->claim_unsure = FALSE;
  if (g_hash_table_size (self->handed_out) < WEFT_POSTGRES_HANDED_OUT_MAX)
    return TRUE;
  if (!weft_postgres_query (self, session,
                            "SELECT run_id FROM run_rows WHERE run_id = ANY ($2::text[])"
                            "  AND status = 'queued' AND worker = $1::bigint",
                            2, params, PGRES_TUPLES_OK, &result, "cannot claim a run", error))
    return FALSE;
  g_hash_table_remove_all (self->handed_out);
  for (int r = 0; r < PQntuples (result); r++)
    g_hash_table_add (self->handed_out, g_strdup (PQgetvalue (result, r, 0)));
  PQclear (result);
  return TRUE;
}

static gboolean
weft_postgres_claim_locked (WeftPostgres *self, PGconn *session, gpointer data, GError **error)
{
  char **run_id = data;
  g_autofree char *worker = g_strdup_printf ("%" G_GINT64_FORMAT, self->worker_id);
  const char *params[] = { worker, self->worker_name };
  PGresult *result = NULL;
  gint64 now = g_get_monotonic_time ();

  if (!weft_postgres_settle_claims (self, session, worker, error))
    return FALSE;
  if (now - self->last_reap_us >= WEFT_POSTGRES_REAP_US)
    {
      if (!weft_postgres_reap (self, session, error))
        return FALSE;
      self->last_reap_us = now;
    }
  /* A run that has started (its worker died, or it was handed back) is
   * taken only when no session holds its claim. */
  if (!weft_postgres_query (
        self, session,
        "UPDATE run_rows SET worker = $1::bigint, worker_name = $2 WHERE id = ("
        " SELECT id FROM run_rows WHERE worker IS NULL AND queued_wall_us IS NOT NULL"
        "  AND status IN ('queued', 'running')"
        "  AND NOT ($1::bigint = ANY (coalesce (refused_by, '{}')))"
        "  AND CASE WHEN status = 'queued' THEN true ELSE NOT " WEFT_PG_RUN_LIVE_SQL ("id")
        "  END ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING run_id",
        2, params, PGRES_TUPLES_OK, &result, "cannot claim a run", error))
    return FALSE;
  *run_id = PQntuples (result) > 0 ? g_strdup (PQgetvalue (result, 0, 0)) : NULL;
  PQclear (result);
  if (*run_id != NULL)
    g_hash_table_add (self->handed_out, g_strdup (*run_id));
  return TRUE;
}

char *
weft_postgres_claim_next (gpointer instance, GError **error)
{
  WeftPostgres *self = instance;
  char *run_id = NULL;

  if (self->worker_id == 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: only a worker claims runs (join the queue first)", self->where);
      return NULL;
    }
  /* Not tried twice: an update whose answer was lost is settled at the
   * next call (weft_postgres_settle_claims). */
  if (!weft_postgres_with_session (self, weft_postgres_claim_locked, &run_id, FALSE, error))
    self->claim_unsure = TRUE;
  return run_id;
}

/* ---- list_workers --------------------------------------------------------------- */

static gboolean
weft_postgres_workers_locked (WeftPostgres *self, PGconn *session, gpointer data,
                              GError **error)
{
  JsonNode **node = data;
  PGresult *result = NULL;

  if (!weft_postgres_query (
        self, session,
        "SELECT w.id AS worker, w.host, w.pid, w.concurrency, w.started_wall_us,"
        "  coalesce ((SELECT json_agg (r.run_id ORDER BY r.id) FROM run_rows r"
        "    WHERE r.worker = w.id AND r.status IN ('queued', 'running')), '[]')::text AS runs"
        " FROM workers w WHERE " WEFT_PG_WORKER_LIVE_SQL ("w.id") " ORDER BY w.id",
        0, NULL, PGRES_TUPLES_OK, &result, "cannot list workers", error))
    return FALSE;
  *node = weft_postgres_rows_to_json (result);
  PQclear (result);
  return TRUE;
}

JsonNode *
weft_postgres_list_workers (gpointer instance, GError **error)
{
  JsonNode *node = NULL;

  weft_postgres_with_session (instance, weft_postgres_workers_locked, &node, TRUE, error);
  return node;
}
