/* weft-postgres-apply.c — what a batch's new events make of the runs,
 * tasks and flow texts rows, inside the batch's transaction: each kind of
 * row in one statement, whatever the number of rows.  A task's row is
 * what its events of the batch say, merged with the row already stored:
 * the last event's status, output, error and end; the last attempt that
 * is not 0; the first start; its failures added up.  The same rules as
 * sqlite's (docs/store.md), so that both stores give the same JSON.
 */
#include "weft-postgres.h"

#include <string.h>

/* A table's columns as array parameters, one statement's worth. */
typedef struct {
  GString *columns[10];
  guint n_columns;
  guint n_rows;
  gboolean closed;            /* the arrays ended: ready, maybe for a second statement */
} WeftPostgresRows;

static void
weft_postgres_rows_init (WeftPostgresRows *rows, guint n_columns)
{
  rows->n_columns = n_columns;
  rows->n_rows = 0;
  for (guint c = 0; c < n_columns; c++)
    {
      rows->columns[c] = g_string_new (NULL);
      weft_postgres_array_begin (rows->columns[c]);
    }
}

static void
weft_postgres_rows_clear (WeftPostgresRows *rows)
{
  for (guint c = 0; c < rows->n_columns; c++)
    g_string_free (rows->columns[c], TRUE);
  rows->n_columns = 0;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftPostgresRows, weft_postgres_rows_clear)

static void
weft_postgres_rows_text (WeftPostgresRows *rows, guint c, const char *value)
{
  if (value)
    weft_postgres_array_text (rows->columns[c], value, -1);
  else
    weft_postgres_array_null (rows->columns[c]);
}

/* A time of 0 is none (NULL), as in sqlite. */
static void
weft_postgres_rows_int (WeftPostgresRows *rows, guint c, gint64 value, gboolean zero_is_null)
{
  if (value == 0 && zero_is_null)
    weft_postgres_array_null (rows->columns[c]);
  else
    weft_postgres_array_int (rows->columns[c], value);
}

/* Runs `sql` with the rows' columns as $1, $2, ...; nothing without rows. */
static gboolean
weft_postgres_rows_write (WeftPostgres *self, PGconn *conn, WeftPostgresRows *rows,
                          const char *sql, const char *what, GError **error)
{
  const char *params[G_N_ELEMENTS (rows->columns)];

  if (rows->n_rows == 0)
    return TRUE;
  for (guint c = 0; c < rows->n_columns; c++)
    {
      if (!rows->closed)
        weft_postgres_array_end (rows->columns[c]);
      params[c] = rows->columns[c]->str;
    }
  rows->closed = TRUE;
  return weft_postgres_query (self, conn, sql, (int) rows->n_columns, params, PGRES_COMMAND_OK,
                              NULL, what, error);
}

/* ---- tasks ---------------------------------------------------------------------- */

/* What a batch's events say of one task. */
typedef struct {
  gint64 run;
  const char *name;
  gint64 ord;                 /* the seq of its first event in the batch */
  const char *status;
  const char *output;
  const char *error;
  int attempts;               /* the last that is not 0 */
  int failures;
  gint64 started_wall_us;     /* the first start */
  gint64 finished_wall_us;
} WeftPostgresTask;

static const char *
weft_postgres_task_status (WeftEventType type)
{
  switch (type)
    {
    case WEFT_EVENT_TASK_STARTED: return "running";
    case WEFT_EVENT_TASK_COMPLETED: return "completed";
    case WEFT_EVENT_TASK_FAILED: return "failed";
    case WEFT_EVENT_TASK_CANCELLED: return "cancelled";
    case WEFT_EVENT_TASK_RETRYING: return "retrying";
    case WEFT_EVENT_TASK_SKIPPED: return "skipped";
    default: return NULL;     /* steps, and types newer than this plugin */
    }
}

static void
weft_postgres_task_event (GHashTable *tasks, GPtrArray *order, const WeftPostgresEvent *ev,
                          const char *status)
{
  g_autofree char *key = g_strdup_printf ("%" G_GINT64_FORMAT "/%s", ev->run, ev->task);
  WeftPostgresTask *task = g_hash_table_lookup (tasks, key);

  if (task == NULL)
    {
      task = g_new0 (WeftPostgresTask, 1);
      task->run = ev->run;
      task->name = ev->task;
      task->ord = (gint64) ev->seq;
      g_hash_table_insert (tasks, g_steal_pointer (&key), task);
      g_ptr_array_add (order, task);
    }
  task->status = status;
  task->output = ev->output;
  task->error = ev->error;
  if (ev->attempt > 0)
    task->attempts = (int) ev->attempt;
  if (ev->type == WEFT_EVENT_TASK_RETRYING || ev->type == WEFT_EVENT_TASK_FAILED)
    task->failures++;
  /* A skipped task never started; a reused one (attempt 0) starts and
   * ends at once. */
  if (task->started_wall_us == 0 && ev->type != WEFT_EVENT_TASK_SKIPPED)
    task->started_wall_us = ev->wall_us;
  task->finished_wall_us = ev->type == WEFT_EVENT_TASK_COMPLETED
                           || ev->type == WEFT_EVENT_TASK_FAILED
                           || ev->type == WEFT_EVENT_TASK_CANCELLED
                           || ev->type == WEFT_EVENT_TASK_SKIPPED ? ev->wall_us : 0;
}

static gboolean
weft_postgres_write_tasks (WeftPostgres *self, PGconn *conn, GPtrArray *order, GError **error)
{
  g_auto(WeftPostgresRows) rows = { 0 };

  weft_postgres_rows_init (&rows, 10);
  for (guint i = 0; i < order->len; i++)
    {
      WeftPostgresTask *task = order->pdata[i];
      weft_postgres_rows_int (&rows, 0, task->run, FALSE);
      weft_postgres_rows_text (&rows, 1, task->name);
      weft_postgres_rows_int (&rows, 2, task->ord, FALSE);
      weft_postgres_rows_text (&rows, 3, task->status);
      weft_postgres_rows_text (&rows, 4, task->output);
      weft_postgres_rows_text (&rows, 5, task->error);
      weft_postgres_rows_int (&rows, 6, task->attempts, FALSE);
      weft_postgres_rows_int (&rows, 7, task->failures, FALSE);
      weft_postgres_rows_int (&rows, 8, task->started_wall_us, TRUE);
      weft_postgres_rows_int (&rows, 9, task->finished_wall_us, TRUE);
      rows.n_rows++;
    }
  return weft_postgres_rows_write (
    self, conn, &rows,
    "INSERT INTO task_rows AS t (run, name, ord, status, output, error, attempts, failures,"
    "  started_wall_us, finished_wall_us)"
    " SELECT * FROM unnest ($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
    "   $6::text[], $7::int[], $8::int[], $9::bigint[], $10::bigint[])"
    " ON CONFLICT (run, name) DO UPDATE SET status = excluded.status,"
    "  output = excluded.output, error = excluded.error,"
    "  attempts = CASE WHEN excluded.attempts > 0 THEN excluded.attempts ELSE t.attempts END,"
    "  failures = t.failures + excluded.failures,"
    "  started_wall_us = coalesce (t.started_wall_us, excluded.started_wall_us),"
    "  finished_wall_us = excluded.finished_wall_us",
    "cannot store tasks", error);
}

/* ---- runs ----------------------------------------------------------------------- */

/* A run's start: its row running again (a resume keeps the first start),
 * its flow text stored once, its inputs and flow.  A new start (a queued
 * run) takes the merged inputs run.started carries; a resume keeps what
 * was stored.  `texts` gets the SHA-256 of the texts written. */
static gboolean
weft_postgres_write_starts (WeftPostgres *self, PGconn *conn, GArray *events,
                            GPtrArray *texts, GError **error)
{
  g_auto(WeftPostgresRows) starts = { 0 };
  g_auto(WeftPostgresRows) resumes = { 0 };
  g_auto(WeftPostgresRows) flow_texts = { 0 };
  g_autoptr(GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);

  weft_postgres_rows_init (&starts, 5);
  weft_postgres_rows_init (&resumes, 5);
  weft_postgres_rows_init (&flow_texts, 2);
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      /* One row a run in a statement (an upsert may not touch one twice). */
      if (!ev->is_new
          || (ev->type != WEFT_EVENT_RUN_STARTED && ev->type != WEFT_EVENT_RUN_RESUMED)
          || !g_hash_table_add (seen, &ev->run))
        continue;
      g_autofree char *sha256 = ev->flow_source
        ? g_compute_checksum_for_string (G_CHECKSUM_SHA256, ev->flow_source, -1) : NULL;
      if (sha256 && !g_hash_table_contains (self->flow_texts, sha256)
          && !g_ptr_array_find_with_equal_func (texts, sha256, g_str_equal, NULL))
        {
          weft_postgres_rows_text (&flow_texts, 0, sha256);
          weft_postgres_rows_text (&flow_texts, 1, ev->flow_source);
          flow_texts.n_rows++;
          g_ptr_array_add (texts, g_strdup (sha256));
        }
      WeftPostgresRows *rows = ev->type == WEFT_EVENT_RUN_STARTED ? &starts : &resumes;
      weft_postgres_rows_int (rows, 0, ev->run, FALSE);
      weft_postgres_rows_text (rows, 1, ev->flow);
      weft_postgres_rows_int (rows, 2, ev->wall_us, FALSE);
      weft_postgres_rows_text (rows, 3, ev->inputs);
      weft_postgres_rows_text (rows, 4, sha256);
      rows->n_rows++;
    }
#define WEFT_POSTGRES_STARTS \
  " FROM unnest ($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[])" \
  "   AS u (id, flow, wall, inputs, sha256)"
#define WEFT_POSTGRES_START_ROW \
  "UPDATE run_rows r SET flow = u.flow, status = 'running', error = NULL," \
  "  finished_wall_us = NULL, handed_back = NULL," \
  "  started_wall_us = coalesce (r.started_wall_us, u.wall)" WEFT_POSTGRES_STARTS \
  " WHERE r.id = u.id"
#define WEFT_POSTGRES_SOURCE_ROW(inputs) \
  "INSERT INTO run_sources AS s (id, inputs, flow_text)" \
  " SELECT u.id, u.inputs, (SELECT f.id FROM flow_texts f WHERE f.sha256 = u.sha256)" \
  WEFT_POSTGRES_STARTS " ON CONFLICT (id) DO UPDATE SET inputs = " inputs "," \
  "  flow_text = coalesce (s.flow_text, excluded.flow_text)"
  return weft_postgres_rows_write (
           self, conn, &flow_texts,
           "INSERT INTO flow_texts (sha256, text)"
           " SELECT * FROM unnest ($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
           "cannot store a flow's text", error)
         && weft_postgres_rows_write (self, conn, &starts, WEFT_POSTGRES_START_ROW,
                                      "cannot store a run", error)
         && weft_postgres_rows_write (self, conn, &starts,
                                      WEFT_POSTGRES_SOURCE_ROW ("excluded.inputs"),
                                      "cannot store a run's flow", error)
         && weft_postgres_rows_write (self, conn, &resumes, WEFT_POSTGRES_START_ROW,
                                      "cannot store a run", error)
         && weft_postgres_rows_write (self, conn, &resumes,
                                      WEFT_POSTGRES_SOURCE_ROW ("coalesce (s.inputs, "
                                                                "excluded.inputs)"),
                                      "cannot store a run's flow", error);
}

static const char *
weft_postgres_run_end (WeftEventType type)
{
  switch (type)
    {
    case WEFT_EVENT_RUN_COMPLETED: return "completed";
    case WEFT_EVENT_RUN_FAILED: return "failed";
    case WEFT_EVENT_RUN_CANCELLED: return "cancelled";
    default: return NULL;
    }
}

static gboolean
weft_postgres_write_ends (WeftPostgres *self, PGconn *conn, GArray *events, GArray *ended,
                          GError **error)
{
  g_auto(WeftPostgresRows) rows = { 0 };

  weft_postgres_rows_init (&rows, 4);
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      const char *status = weft_postgres_run_end (ev->type);
      if (!ev->is_new || status == NULL)
        continue;
      weft_postgres_rows_int (&rows, 0, ev->run, FALSE);
      weft_postgres_rows_text (&rows, 1, status);
      weft_postgres_rows_text (&rows, 2, ev->error);
      weft_postgres_rows_int (&rows, 3, ev->wall_us, FALSE);
      rows.n_rows++;
      g_array_append_val (ended, ev->run);
    }
  return weft_postgres_rows_write (
    self, conn, &rows,
    "UPDATE run_rows r SET status = u.status, error = u.error, finished_wall_us = u.wall"
    " FROM unnest ($1::bigint[], $2::text[], $3::text[], $4::bigint[])"
    "   AS u (id, status, error, wall) WHERE r.id = u.id",
    "cannot store a run's end", error);
}

/* Taken before the run's row is committed, so that whoever can read the
 * row can tell the run is live.  A resumed or queued run was claimed
 * before it started (claim_run): taking it again fails only when a run
 * was started twice without asking. */
static gboolean
weft_postgres_claim_starts (WeftPostgres *self, PGconn *conn, GArray *events, GError **error)
{
  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      if (!ev->is_new
          || (ev->type != WEFT_EVENT_RUN_STARTED && ev->type != WEFT_EVENT_RUN_RESUMED))
        continue;
      g_mutex_lock (&self->session_lock);
      PGconn *session = weft_postgres_session (self, error);
      int taken = session ? weft_postgres_claims_take (self, session, ev->run, ev->run_id, error)
                          : -1;
      g_mutex_unlock (&self->session_lock);
      if (taken < 0)
        return FALSE;
      if (taken == 0)
        weft_postgres_warn (self, "run %s is also being run by another process; its events "
                            "are stored all the same", ev->run_id);
    }
  return TRUE;
}

gboolean
weft_postgres_apply (WeftPostgres *self, PGconn *conn, GArray *events, GArray *ended,
                     GPtrArray *texts, GError **error)
{
  g_autoptr(GHashTable) tasks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GPtrArray) order = g_ptr_array_new ();

  for (guint i = 0; i < events->len; i++)
    {
      WeftPostgresEvent *ev = &g_array_index (events, WeftPostgresEvent, i);
      const char *status = ev->task ? weft_postgres_task_status (ev->type) : NULL;
      if (ev->is_new && status != NULL)
        weft_postgres_task_event (tasks, order, ev, status);
    }
  if (!weft_postgres_claim_starts (self, conn, events, error)
      || !weft_postgres_write_starts (self, conn, events, texts, error)
      || !weft_postgres_write_tasks (self, conn, order, error)
      || !weft_postgres_write_ends (self, conn, events, ended, error))
    return FALSE;
  return TRUE;
}
