/* weft-server-runs.c — the runs a server started: their records, their
 * start and end (at once, or queued in a batch), cancel, and their JSON.
 *
 * All on the engine loop.  Runs are made from requests in
 * weft-server-kickoff.c.  Each run the server started has a record that
 * keeps the run (its state is read directly: the loop owns it) and its
 * events, so that a client can replay them from the start or from
 * Last-Event-ID (weft-server-events.c).  Finished records are kept for a
 * bounded time and number; older runs are read from the stores
 * (weft-server-stored.c). */
#include "weft-server-private.h"

/* ---- records ------------------------------------------------------------------ */

void
weft_server_batch_unref (WeftServerBatch *batch)
{
  if (--batch->ref_count > 0)
    return;
  g_queue_clear (&batch->queued);
  g_free (batch);
}

/* Ends every stream of the run: the client sees the body end. */
void
weft_server_run_close_watchers (WeftServerRun *rec)
{
  while (rec->watchers->len > 0)
    {
      SoupServerMessage *msg = rec->watchers->pdata[rec->watchers->len - 1];
      g_ptr_array_remove_index (rec->watchers, rec->watchers->len - 1);
      g_signal_handlers_disconnect_by_data (msg, rec);
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      soup_server_message_unpause (msg);
    }
}

static void
weft_server_run_free (WeftServerRun *rec)
{
  weft_server_run_close_watchers (rec);
  g_ptr_array_unref (rec->watchers);
  g_ptr_array_unref (rec->events);
  g_clear_pointer (&rec->reply, g_bytes_unref);
  g_clear_pointer (&rec->batch, weft_server_batch_unref);
  g_clear_object (&rec->cancellable);
  weft_run_unref (rec->run);
  g_free (rec);
}

WeftServerRun *
weft_server_run_new (WeftServer *server, WeftRun *run)
{
  WeftServerRun *rec = g_new0 (WeftServerRun, 1);

  rec->server = server;
  rec->run = run;
  rec->cancellable = g_cancellable_new ();
  rec->events = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_event_unref);
  rec->watchers = g_ptr_array_new ();
  g_hash_table_insert (server->runs, (char *) weft_run_get_id (run), rec);
  server->n_live++;
  server->n_started++;
  return rec;
}

void
weft_server_runs_init (WeftServer *server)
{
  server->runs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) weft_server_run_free);
}

void
weft_server_runs_clear (WeftServer *server)
{
  g_queue_clear (&server->finished);
  g_clear_pointer (&server->runs, g_hash_table_unref);
}

/* Forgets finished runs beyond the number or the age kept. */
void
weft_server_evict (WeftServer *server)
{
  gint64 oldest = g_get_real_time () - (gint64) server->keep_s * G_USEC_PER_SEC;
  WeftServerRun *rec;

  while ((rec = g_queue_peek_head (&server->finished))
         && (server->finished.length > server->keep_runs || rec->finished_wall_us < oldest))
    {
      g_queue_pop_head (&server->finished);
      g_hash_table_remove (server->runs, weft_run_get_id (rec->run));
    }
}

WeftServerRun *
weft_server_lookup (WeftServer *server, const char *id)
{
  weft_server_evict (server);
  return g_hash_table_lookup (server->runs, id);
}

/* ---- a run finishes ------------------------------------------------------------------ */

void
weft_server_batch_pump (WeftServerBatch *batch)
{
  WeftServerRun *rec;

  while (batch->running < batch->max_parallel && (rec = g_queue_pop_head (&batch->queued)))
    {
      batch->running++;
      weft_server_run_kickoff (rec);
    }
}

static void
weft_server_on_run_done (WeftRun *run, gpointer data)
{
  WeftServerRun *rec = data;
  WeftServer *server = rec->server;

  /* The record has its own reference: the loop's goes to the thread whose
   * background run it is, if any. */
  if (rec->then)
    rec->then (run, rec->then_data);
  else
    weft_run_unref (run);
  rec->finished = TRUE;
  rec->finished_wall_us = g_get_real_time ();
  weft_server_run_close_watchers (rec);
  server->n_live--;
  server->n_finished++;
  if (rec->batch)
    {
      WeftServerBatch *batch = g_steal_pointer (&rec->batch);
      batch->running--;
      weft_server_batch_pump (batch);
      weft_server_batch_unref (batch);
    }
  g_queue_push_tail (&server->finished, rec);
  weft_server_evict (server);
}

void
weft_server_run_kickoff (WeftServerRun *rec)
{
  rec->kicked_off = TRUE;
  weft_run_kickoff (rec->run, rec->cancellable, weft_server_on_run_done, rec);
}

/* ---- JSON of a run ------------------------------------------------------------------- */

/* The run's one shape (weft-run-json.c); `full` adds inputs, outputs and
 * tasks.  Plus `last_seq`, the seq of its last event so far (0: none), as
 * a store gives it: a client that reads the run and follows events knows
 * which are already in what it read. */
JsonObject *
weft_server_run_to_json (WeftServerRun *rec, gboolean full)
{
  JsonObject *o = weft_run_to_json_object (rec->run, full ? WEFT_RUN_JSON_FULL
                                                          : WEFT_RUN_JSON_SUMMARY);
  guint n = rec->events->len;

  json_object_set_int_member (o, "last_seq",
                              n ? (gint64) weft_event_get_seq (rec->events->pdata[n - 1]) : 0);
  return o;
}

/* ---- cancel ------------------------------------------------------------------------- */

static void
weft_server_run_cancel (WeftServerRun *rec)
{
  g_cancellable_cancel (rec->cancellable);
  if (rec->kicked_off)
    return;
  /* Queued in a batch: it starts now and is cancelled at once, so that
   * its callbacks hear of it; it takes no place in the batch. */
  g_queue_remove (&rec->batch->queued, rec);
  g_clear_pointer (&rec->batch, weft_server_batch_unref);
  weft_server_run_kickoff (rec);
}

/* Cancels every run the server started that has not finished. */
void
weft_server_cancel_all (WeftServer *server)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, server->runs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!((WeftServerRun *) value)->finished)
      weft_server_run_cancel (value);
}

void
weft_server_handle_cancel_run (WeftServer *server, SoupServerMessage *msg, const char *arg,
                               GHashTable *query)
{
  const char *id = arg;
  WeftServerRun *rec = weft_server_lookup (server, id);

  if (rec == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "no run \"%s\" in memory", id);
      return;
    }
  if (rec->finished)
    {
      weft_server_reply_error (msg, SOUP_STATUS_CONFLICT, "run \"%s\" has already %s", id,
                               weft_status_to_string (weft_run_get_status (rec->run)));
      return;
    }
  weft_server_run_cancel (rec);
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "run_id", id);
  json_object_set_string_member (o, "status", "cancelling");
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, o);
}
