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
 * stream alive.  Open streams are counted until they are sent in full, so
 * that a stopping server lets them finish. */
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

GBytes *
weft_server_event_frame (const WeftEvent *event)
{
  GString *frame = g_string_sized_new (256);

  g_string_append_printf (frame, "id: %" G_GUINT64_FORMAT "\nevent: %s\ndata: ",
                          weft_event_get_seq (event),
                          weft_event_type_to_string (weft_event_get_event_type (event)));
  weft_event_append_json (event, frame);
  g_string_append (frame, "\n\n");
  return g_string_free_to_bytes (frame);
}

void
weft_server_on_event (const WeftEvent *event, gpointer data)
{
  WeftServer *server = data;
  const char *id = weft_event_get_run_id (event);
  WeftServerRun *rec = server->runs && id ? g_hash_table_lookup (server->runs, id) : NULL;

  if (rec == NULL)
    return;
  /* Listeners get the event for the call only: keep a reference. */
  g_ptr_array_add (rec->events, weft_event_ref ((WeftEvent *) event));
  if (rec->watchers->len > 0)
    {
      g_autoptr(GBytes) frame = weft_server_event_frame (event);
      for (guint i = 0; i < rec->watchers->len; i++)
        {
          SoupServerMessage *watcher = rec->watchers->pdata[i];
          soup_message_body_append_bytes (soup_server_message_get_response_body (watcher), frame);
          soup_server_message_unpause (watcher);
        }
    }
  if (weft_event_type_ends_run (weft_event_get_event_type (event)))
    weft_server_run_close_watchers (rec);
}

static void
weft_server_stream_finished (SoupServerMessage *msg, gpointer data)
{
  WeftServer *server = data;

  g_signal_handlers_disconnect_by_data (msg, server);
  g_hash_table_remove (server->streams, msg);
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

gboolean
weft_server_stream_after (SoupServerMessage *msg, GHashTable *query, guint64 *after)
{
  const char *last = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Last-Event-ID");

  *after = 0;
  if (last == NULL && query)
    last = g_hash_table_lookup (query, "last_event_id");
  if (last && !g_ascii_string_to_unsigned (last, 10, 0, G_MAXUINT64, after, NULL))
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "Last-Event-ID must be an event id (a number), not \"%s\"", last);
      return FALSE;
    }
  return TRUE;
}

void
weft_server_stream_begin (WeftServer *server, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  /* Counted until sent in full, so that a stop lets it finish. */
  g_hash_table_add (server->streams, msg);
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_stream_finished), server);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (headers, "text/event-stream", NULL);
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
}

void
weft_server_stream_replay (SoupServerMessage *msg, GPtrArray *events, guint64 after)
{
  SoupMessageBody *body = soup_server_message_get_response_body (msg);

  for (guint i = 0; i < events->len; i++)
    if (weft_event_get_seq (events->pdata[i]) > after)
      {
        g_autoptr(GBytes) frame = weft_server_event_frame (events->pdata[i]);
        soup_message_body_append_bytes (body, frame);
      }
}

void
weft_server_handle_events (WeftServer *server, SoupServerMessage *msg, const char *arg,
                           GHashTable *query)
{
  const char *id = arg;
  WeftServerRun *rec = weft_server_lookup (server, id);
  guint64 after = 0;

  if (rec == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                               "no run \"%s\" in memory: events are kept while a run is "
                               "(finished runs: %u s, %u at most)", id, server->keep_s,
                               server->keep_runs);
      return;
    }
  if (!weft_server_stream_after (msg, query, &after))
    return;
  weft_server_stream_begin (server, msg);
  weft_server_stream_replay (msg, rec->events, after);
  if (rec->finished)
    {
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      return;
    }
  g_ptr_array_add (rec->watchers, msg);
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_watcher_finished), rec);
}
