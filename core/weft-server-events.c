/* weft-server-events.c — a run's events as a server-sent-event stream
 * (GET /v1/runs/{id}/events), and what a thread's stream shares with it
 * (weft-server-threads.c): the frames, the start, Last-Event-ID.
 *
 * All on the engine loop.  The engine listener (weft_server_on_event)
 * keeps every event of a run the server started in its record
 * (weft-server-runs.c) and appends it, as a frame, to the streams
 * watching the run; a new stream is given the frames it has not seen
 * (from the start, or after Last-Event-ID) and ends after the run's last
 * event.  A comment line every WEFT_SERVER_HEARTBEAT_S keeps a quiet
 * stream alive.  A run no longer in memory is streamed from the stores
 * (weft-server-stored.c), up to its last stored event.  Open streams are
 * counted until they are sent in full, so
 * that a stopping server lets them finish.  Every event also goes to the
 * feed of all runs (weft-server-feed.c), which frames them the same way. */
#include "weft-server-private.h"

#include <string.h>

/* A comment line on every open event stream this often, so that proxies
 * and clients do not take a long quiet task for a dead connection. */
#define WEFT_SERVER_HEARTBEAT_S 15

/* ---- watchers ----------------------------------------------------------------------- */

static void
weft_server_watcher_finished (SoupServerMessage *msg, gpointer data)
{
  WeftServerRun *rec = data;

  g_signal_handlers_disconnect_by_data (msg, rec);
  g_ptr_array_remove (rec->watchers, msg);
}

void
weft_server_stream_keep_alive (SoupServerMessage *msg)
{
  soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_STATIC,
                            ": keep-alive\n\n", strlen (": keep-alive\n\n"));
  soup_server_message_unpause (msg);
}

static gboolean
weft_server_heartbeat (gpointer data)
{
  WeftServer *server = data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, server->runs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      WeftServerRun *rec = value;
      for (guint i = 0; i < rec->watchers->len; i++)
        weft_server_stream_keep_alive (rec->watchers->pdata[i]);
    }
  weft_server_feed_heartbeat (server);
  g_hash_table_iter_init (&iter, server->thread_watchers);
  while (g_hash_table_iter_next (&iter, &value, NULL))
    weft_server_stream_keep_alive (value);
  return G_SOURCE_CONTINUE;
}

/* ---- events ------------------------------------------------------------------------- */

static gboolean
weft_event_type_ends_run (WeftEventType type)
{
  return type == WEFT_EVENT_RUN_COMPLETED || type == WEFT_EVENT_RUN_FAILED
         || type == WEFT_EVENT_RUN_CANCELLED;
}

void
weft_server_on_event (const WeftEvent *event, gpointer data)
{
  WeftServer *server = data;
  const char *id = weft_event_get_run_id (event);
  WeftServerRun *rec = server->runs && id ? g_hash_table_lookup (server->runs, id) : NULL;

  if (server->feed)
    weft_server_feed_publish (server, event);
  if (rec == NULL)
    return;
  /* Listeners get the event for the call only: keep a reference. */
  g_ptr_array_add (rec->events, weft_event_ref ((WeftEvent *) event));
  if (rec->watchers->len > 0)
    {
      g_autoptr(GBytes) frame = weft_server_event_frame (event, weft_event_get_seq (event));
      for (guint i = 0; i < rec->watchers->len; i++)
        weft_server_stream_append (rec->watchers->pdata[i], frame);
    }
  if (weft_event_type_ends_run (weft_event_get_event_type (event)))
    weft_server_run_close_watchers (rec);
}

void
weft_server_streams_init (WeftServer *server)
{
  server->streams = g_hash_table_new (NULL, NULL);
  server->thread_watchers = g_hash_table_new (NULL, NULL);
  server->heartbeat = g_timeout_source_new_seconds (WEFT_SERVER_HEARTBEAT_S);
  g_source_set_callback (server->heartbeat, weft_server_heartbeat, server, NULL);
  g_source_attach (server->heartbeat, weft_engine_get_main_context (server->engine));
}

void
weft_server_streams_clear (WeftServer *server)
{
  GHashTableIter iter;
  gpointer msg;

  g_source_destroy (server->heartbeat);
  g_clear_pointer (&server->heartbeat, g_source_unref);
  g_hash_table_iter_init (&iter, server->streams);
  while (g_hash_table_iter_next (&iter, &msg, NULL))
    g_signal_handlers_disconnect_by_data (msg, server);
  g_clear_pointer (&server->streams, g_hash_table_unref);
  g_clear_pointer (&server->thread_watchers, g_hash_table_unref);
}

void
weft_server_stream_replay (SoupServerMessage *msg, GPtrArray *events, guint64 after)
{
  SoupMessageBody *body = soup_server_message_get_response_body (msg);

  for (guint i = 0; i < events->len; i++)
    if (weft_event_get_seq (events->pdata[i]) > after)
      {
        g_autoptr(GBytes) frame = weft_server_event_frame (events->pdata[i],
                                                           weft_event_get_seq (events->pdata[i]));
        soup_message_body_append_bytes (body, frame);
      }
}

void
weft_server_handle_events (WeftServer *server, SoupServerMessage *msg, const char *arg,
                           GHashTable *query)
{
  const char *id = arg;
  WeftServerRun *rec = weft_server_lookup (server, id);
  gboolean given;
  guint64 after;

  if (rec == NULL && server->stores->len == 0)
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                               "no run \"%s\" in memory: events are kept while a run is "
                               "(finished runs: %u s, %u at most)", id, server->keep_s,
                               server->keep_runs);
      return;
    }
  if (!weft_server_parse_last_event_id (msg, query, &given, &after))
    return;
  if (rec == NULL)
    {
      weft_server_stream_stored_run (server, msg, id, after);
      return;
    }
  weft_server_stream_start (server, msg);
  weft_server_stream_replay (msg, rec->events, after);
  if (rec->finished)
    {
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      return;
    }
  g_ptr_array_add (rec->watchers, msg);
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_watcher_finished), rec);
}
