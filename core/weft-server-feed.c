/* weft-server-feed.c — every run's events as one server-sent-event stream
 * (GET /v1/events): what the dashboard's runs table follows, and any
 * client that watches everything at once.
 *
 * All on the engine loop.  Every event the engine raises (the runs the
 * server started, and background tasks) gets a feed id: 1, 2, 3... since
 * the server started, unlike an event's `seq`, which counts within its
 * run.  The last WEFT_SERVER_FEED_KEEP events are kept (references, in a
 * ring), so that a client reconnecting with Last-Event-ID gets what it
 * missed; one that missed more than that (or whose id this server never
 * gave: it restarted) gets a `feed.reset` frame, which tells it to read
 * the runs again.  A frame is written only when someone watches.  The
 * streams never end by themselves: the server ends them when it stops.
 *
 * The SSE framing and the bookkeeping of open streams (which a stopping
 * server waits for) live here, below weft-server-events.c, which uses
 * them for each run's own stream. */
#include "weft-server-private.h"

#include <string.h>

/* Events kept for clients that reconnect: a few seconds of a busy
 * server's events, a long while of a quiet one's. */
#define WEFT_SERVER_FEED_KEEP 4096

struct _WeftServerFeed {
  WeftEvent *ring[WEFT_SERVER_FEED_KEEP];    /* id → ring[id % KEEP] */
  guint64 last_id;            /* 0: nothing yet */
  GPtrArray *watchers;        /* SoupServerMessage* streaming the feed */
  gboolean ended;             /* the server stops: no new stream */
};

/* ---- frames ------------------------------------------------------------------------ */

GBytes *
weft_server_event_frame (const WeftEvent *event, guint64 id)
{
  GString *frame = g_string_sized_new (256);

  g_string_append_printf (frame, "id: %" G_GUINT64_FORMAT "\nevent: %s\ndata: ", id,
                          weft_event_type_to_string (weft_event_get_event_type (event)));
  weft_event_append_json (event, frame);
  g_string_append (frame, "\n\n");
  return g_string_free_to_bytes (frame);
}

/* A frame of a stored event (read back as JSON), under its own seq; NULL
 * for what is not an event (a store's rows are text from outside). */
GBytes *
weft_server_json_event_frame (JsonNode *event)
{
  JsonObject *o = JSON_NODE_HOLDS_OBJECT (event) ? json_node_get_object (event) : NULL;
  const char *type = o ? json_object_get_string_member_with_default (o, "type", "") : "";
  gint64 seq = o ? json_object_get_int_member_with_default (o, "seq", 0) : 0;

  if (seq <= 0 || *type == '\0'
      || type[strspn (type, "abcdefghijklmnopqrstuvwxyz_.")] != '\0')
    return NULL;
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, event);
  g_autofree char *data = json_generator_to_data (gen, NULL);
  char *frame = g_strdup_printf ("id: %" G_GINT64_FORMAT "\nevent: %s\ndata: %s\n\n", seq, type,
                                 data);
  return g_bytes_new_take (frame, strlen (frame));
}

/* A frame of the feed's own: `type` with {"last_id": N}, under id N. */
static GBytes *
weft_server_feed_notice (const char *type, guint64 last_id)
{
  GString *frame = g_string_new (NULL);

  g_string_append_printf (frame, "id: %" G_GUINT64_FORMAT "\nevent: %s\n"
                          "data: {\"last_id\":%" G_GUINT64_FORMAT "}\n\n", last_id, type, last_id);
  return g_string_free_to_bytes (frame);
}

/* ---- open streams ------------------------------------------------------------------ */

static void
weft_server_stream_finished (SoupServerMessage *msg, gpointer data)
{
  WeftServer *server = data;

  g_signal_handlers_disconnect_by_data (msg, server);
  g_hash_table_remove (server->streams, msg);
}

void
weft_server_stream_start (WeftServer *server, SoupServerMessage *msg)
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
weft_server_stream_append (SoupServerMessage *msg, GBytes *frame)
{
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), frame);
  soup_server_message_unpause (msg);
}

gboolean
weft_server_parse_last_event_id (SoupServerMessage *msg, GHashTable *query, gboolean *given,
                                 guint64 *after)
{
  const char *last = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Last-Event-ID");

  if (last == NULL && query)
    last = g_hash_table_lookup (query, "last_event_id");
  *given = last != NULL;
  *after = 0;
  if (last && !g_ascii_string_to_unsigned (last, 10, 0, G_MAXUINT64, after, NULL))
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "Last-Event-ID must be an event id (a number), not \"%s\"", last);
      return FALSE;
    }
  return TRUE;
}

/* ---- the feed ---------------------------------------------------------------------- */

void
weft_server_feed_init (WeftServer *server)
{
  server->feed = g_new0 (WeftServerFeed, 1);
  server->feed->watchers = g_ptr_array_new ();
}

static void
weft_server_feed_watcher_finished (SoupServerMessage *msg, gpointer data)
{
  WeftServerFeed *feed = data;

  g_signal_handlers_disconnect_by_data (msg, feed);
  g_ptr_array_remove (feed->watchers, msg);
}

void
weft_server_feed_end (WeftServer *server)
{
  WeftServerFeed *feed = server->feed;

  feed->ended = TRUE;
  while (feed->watchers->len > 0)
    {
      SoupServerMessage *msg = g_ptr_array_steal_index (feed->watchers, feed->watchers->len - 1);
      g_signal_handlers_disconnect_by_data (msg, feed);
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      soup_server_message_unpause (msg);
    }
}

void
weft_server_feed_clear (WeftServer *server)
{
  WeftServerFeed *feed = server->feed;

  if (feed == NULL)
    return;
  for (guint i = 0; i < feed->watchers->len; i++)
    g_signal_handlers_disconnect_by_data (feed->watchers->pdata[i], feed);
  g_ptr_array_unref (feed->watchers);
  for (guint i = 0; i < WEFT_SERVER_FEED_KEEP; i++)
    g_clear_pointer (&feed->ring[i], weft_event_unref);
  g_clear_pointer (&server->feed, g_free);
}

void
weft_server_feed_publish (WeftServer *server, const WeftEvent *event)
{
  WeftServerFeed *feed = server->feed;
  guint64 id = ++feed->last_id;
  WeftEvent **slot = &feed->ring[id % WEFT_SERVER_FEED_KEEP];

  /* Listeners get the event for the call only: keep a reference. */
  g_clear_pointer (slot, weft_event_unref);
  *slot = weft_event_ref ((WeftEvent *) event);
  if (feed->watchers->len == 0)
    return;
  g_autoptr(GBytes) frame = weft_server_event_frame (event, id);
  for (guint i = 0; i < feed->watchers->len; i++)
    weft_server_stream_append (feed->watchers->pdata[i], frame);
}

void
weft_server_feed_heartbeat (WeftServer *server)
{
  for (guint i = 0; i < server->feed->watchers->len; i++)
    {
      SoupServerMessage *msg = server->feed->watchers->pdata[i];
      soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_STATIC,
                                ": keep-alive\n\n", strlen (": keep-alive\n\n"));
      soup_server_message_unpause (msg);
    }
}

/* What a new stream starts with: `feed.ready` for a client that gave no
 * Last-Event-ID; the events after the one it gave while they are kept;
 * else `feed.reset` and nothing more (it reads the runs again). */
static void
weft_server_feed_replay (WeftServerFeed *feed, SoupServerMessage *msg, gboolean given,
                         guint64 after)
{
  guint64 oldest = feed->last_id > WEFT_SERVER_FEED_KEEP
                   ? feed->last_id - WEFT_SERVER_FEED_KEEP + 1 : 1;
  SoupMessageBody *body = soup_server_message_get_response_body (msg);

  if (!given || after > feed->last_id || after + 1 < oldest)
    {
      g_autoptr(GBytes) notice = weft_server_feed_notice (given ? "feed.reset" : "feed.ready",
                                                          feed->last_id);
      soup_message_body_append_bytes (body, notice);
      return;
    }
  for (guint64 id = after + 1; id <= feed->last_id; id++)
    {
      g_autoptr(GBytes) frame = weft_server_event_frame (feed->ring[id % WEFT_SERVER_FEED_KEEP],
                                                         id);
      soup_message_body_append_bytes (body, frame);
    }
}

void
weft_server_handle_feed (WeftServer *server, SoupServerMessage *msg, const char *arg,
                         GHashTable *query)
{
  WeftServerFeed *feed = server->feed;
  gboolean given;
  guint64 after;

  if (!weft_server_parse_last_event_id (msg, query, &given, &after))
    return;
  if (feed->ended)
    {
      weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
      return;
    }
  weft_server_stream_start (server, msg);
  weft_server_feed_replay (feed, msg, given, after);
  g_ptr_array_add (feed->watchers, msg);
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_feed_watcher_finished), feed);
}
