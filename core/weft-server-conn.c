/* weft-server-conn.c — the server's connections: bounding them in time,
 * answering a refused request without reading its body, and ending them
 * when the client has gone.
 *
 * weft accepts connections itself (weft-server-accept.c) and hands each to
 * libsoup as a WeftServerConn: a GIOStream over the socket whose input
 * (weft-server-input.c) follows the requests' framing and whose output
 * (weft-server-output.c) tells whether writes move.  For each connection:
 *
 *   - One read deadline at a time.  A new connection must send its first
 *     request head within the header timeout; a kept-alive one the first
 *     byte of its next request within the idle timeout, then the head
 *     within the header timeout; a body must come whole within the body
 *     timeout of its head.  A connection waiting for a request is shut
 *     down; a request that stalls gets 408.  Nothing is read, so nothing
 *     is timed, while a handler runs or a response is written.
 *   - A send-stall deadline: while a write can take nothing (the client
 *     does not read), the write timeout runs; any write that takes
 *     something stops it.  A quiet event stream writes nothing and is
 *     never timed.  When it passes, the output fails, libsoup gives up the
 *     response, and the connection is reset (its unread bytes dropped).
 *   - A refused request (401 or 413 from its head; 400, 413, 414, 417,
 *     431, 501 or 505 found in its bytes; 408) is answered here: its input
 *     is blocked, so that libsoup reads nothing more, the answer is
 *     written on the socket, the write side is shut, and what the client
 *     still sends is read and thrown away for a while (closing at once
 *     could reset the connection before the client reads the answer).
 *     Then the input ends the request for libsoup, which closes the
 *     connection (see weft_server_input_read_closed).
 *   - The end of the input between requests (the client closed or
 *     half-closed, or the idle timeout shut the socket) ends the
 *     connection: the write side is shut, and the input makes libsoup let
 *     it go (see weft_server_input_read_closed).
 *
 * A message finds its connection through the remote address object the
 * connection gave libsoup: soup_server_message_get_socket() is NULL for a
 * stream accepted with soup_server_accept_iostream(). */
#include "weft-server-private.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* How long a refused request's client gets to read the answer while what
 * it still sends is thrown away. */
#define WEFT_SERVER_LINGER_US (2 * G_USEC_PER_SEC)
/* Read and thrown away per wakeup while lingering, so that a fast client
 * cannot hold the loop. */
#define WEFT_SERVER_LINGER_READS 64

typedef enum {
  WEFT_SERVER_DEADLINE_NONE,
  WEFT_SERVER_DEADLINE_WAIT,    /* for a request's first byte: shut down */
  WEFT_SERVER_DEADLINE_HEAD,    /* 408 */
  WEFT_SERVER_DEADLINE_BODY,    /* 408 */
  WEFT_SERVER_DEADLINE_LINGER,  /* answering a refusal: let go */
} WeftServerDeadline;

struct _WeftServerConn {
  GIOStream parent;
  WeftServer *server;           /* NULL once closed, or the server gone */
  WeftServerConnClosedFunc closed;  /* told once, when it no longer counts */
  GSocketConnection *base;
  GSocket *socket;
  WeftServerInput *input;
  WeftServerOutput *output;
  GSocketAddress *remote;       /* carries the connection as qdata */
  GSource *timer;               /* ready at the read deadline */
  WeftServerDeadline deadline;
  GSource *stall;               /* ready at the send-stall deadline */
  guint requests;               /* begun on this connection */
  gboolean answering;           /* a refusal is being answered */
  GBytes *answer;
  gsize written;
  GSource *io;                  /* writing the answer, then lingering */
};

G_DEFINE_FINAL_TYPE (WeftServerConn, weft_server_conn, G_TYPE_IO_STREAM)

static GQuark
weft_server_conn_quark (void)
{
  return g_quark_from_static_string ("weft-server-conn");
}

static void
weft_server_clear_source (GSource **source)
{
  if (*source)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static GMainContext *
weft_server_context (WeftServer *server)
{
  return weft_engine_get_main_context (server->engine);
}

/* ---- deadlines ---------------------------------------------------------------------- */

static void
weft_server_conn_set_deadline (WeftServerConn *conn, WeftServerDeadline kind, gint64 after_us)
{
  conn->deadline = kind;
  g_source_set_ready_time (conn->timer, kind == WEFT_SERVER_DEADLINE_NONE
                                          ? -1 : g_get_monotonic_time () + after_us);
}

static gint64
weft_server_seconds (guint s)
{
  return (gint64) s * G_USEC_PER_SEC;
}

/* A timer that fires at its ready time, then waits for the next one. */
static gboolean
weft_server_timer_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  g_source_set_ready_time (source, -1);
  return callback (data);
}

static GSourceFuncs weft_server_timer_funcs = {
  .dispatch = weft_server_timer_dispatch,
};

/* ---- answering a refused request ----------------------------------------------------- */

/* The response as bytes on the wire; the connection closes after it. */
static GBytes *
weft_server_response_bytes (guint status, SoupMessageHeaders *headers, GBytes *body)
{
  GString *out = g_string_new (NULL);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  gsize size = body ? g_bytes_get_size (body) : 0;

  g_string_append_printf (out, "HTTP/1.1 %u %s\r\n", status,
                          status == WEFT_SERVER_STATUS_HEADERS_TOO_LARGE
                            ? "Request Header Fields Too Large" : soup_status_get_phrase (status));
  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    if (g_ascii_strcasecmp (name, "Content-Length") != 0
        && g_ascii_strcasecmp (name, "Connection") != 0)
      g_string_append_printf (out, "%s: %s\r\n", name, value);
  g_string_append_printf (out, "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n",
                          size);
  if (size)
    g_string_append_len (out, g_bytes_get_data (body, NULL), (gssize) size);
  return g_string_free_to_bytes (out);
}

static void weft_server_conn_send_answer (WeftServerConn *conn);

static void
weft_server_conn_watch (WeftServerConn *conn, GIOCondition condition, GSocketSourceFunc func)
{
  weft_server_clear_source (&conn->io);
  conn->io = g_socket_create_source (conn->socket, condition, NULL);
  g_source_set_callback (conn->io, G_SOURCE_FUNC (func), conn, NULL);
  g_source_attach (conn->io, weft_server_context (conn->server));
}

/* The answer is out: the input ends the request for libsoup, which
 * closes the connection. */
static void
weft_server_conn_let_go (WeftServerConn *conn)
{
  weft_server_clear_source (&conn->io);
  weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_NONE, 0);
  g_clear_pointer (&conn->answer, g_bytes_unref);
  /* Wakes libsoup whether it waits on the socket or on the input. */
  g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
  weft_server_input_close (conn->input);
}

/* Lingering: what the client still sends is read and thrown away, until
 * it closes or the deadline. */
static gboolean
weft_server_conn_on_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  WeftServerConn *conn = data;
  char buffer[16384];

  for (guint i = 0; i < WEFT_SERVER_LINGER_READS; i++)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive_with_blocking (socket, buffer, sizeof buffer, FALSE, NULL,
                                                 &error);
      if (n > 0)
        continue;
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      weft_server_conn_let_go (conn);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
weft_server_conn_on_writable (GSocket *socket, GIOCondition condition, gpointer data)
{
  weft_server_conn_send_answer (data);
  return G_SOURCE_CONTINUE;
}

static void
weft_server_conn_send_answer (WeftServerConn *conn)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (conn->answer, &size);

  while (conn->written < size)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send_with_blocking (conn->socket, data + conn->written,
                                              size - conn->written, FALSE, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (conn->io == NULL)
            weft_server_conn_watch (conn, G_IO_OUT, weft_server_conn_on_writable);
          return;
        }
      if (n < 0)
        {
          weft_server_conn_let_go (conn);
          return;
        }
      conn->written += (gsize) n;
    }
  g_socket_shutdown (conn->socket, FALSE, TRUE, NULL);
  weft_server_conn_watch (conn, G_IO_IN, weft_server_conn_on_readable);
}

/* Sends `response` (taken) instead of anything libsoup would, and closes
 * the connection; nothing more of the request is read. */
static void
weft_server_conn_answer (WeftServerConn *conn, GBytes *response)
{
  if (conn->answering || conn->server == NULL)
    {
      g_bytes_unref (response);
      return;
    }
  conn->answering = TRUE;
  weft_server_input_block (conn->input);
  conn->answer = response;
  conn->written = 0;
  weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_LINGER, WEFT_SERVER_LINGER_US);
  weft_server_conn_send_answer (conn);
}

/* The answer libsoup would have sent for `msg`. */
static GBytes *
weft_server_message_response (SoupServerMessage *msg)
{
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_response_body (msg));

  return weft_server_response_bytes (soup_server_message_get_status (msg),
                                     soup_server_message_get_response_headers (msg), body);
}

/* Answers `status` with the error `message` and closes the connection. */
static void
weft_server_conn_refuse (gpointer data, guint status, const char *message)
{
  WeftServerConn *conn = data;
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autoptr(GBytes) body = weft_server_error_bytes (status, message);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = soup_date_time_to_string (now, SOUP_DATE_HTTP);

  if (conn->server == NULL)
    return;
  soup_message_headers_append (headers, "Server", "weft");
  soup_message_headers_append (headers, "Date", date);
  soup_message_headers_set_content_type (headers, "application/json", NULL);
  weft_server_conn_answer (conn, weft_server_response_bytes (status, headers, body));
}

/* ---- what happens on a connection ------------------------------------------------- */

static gboolean
weft_server_conn_expire (gpointer data)
{
  WeftServerConn *conn = data;
  WeftServer *server = conn->server;
  WeftServerDeadline kind = conn->deadline;

  conn->deadline = WEFT_SERVER_DEADLINE_NONE;
  switch (kind)
    {
    case WEFT_SERVER_DEADLINE_WAIT:
      /* The input reads the end and has libsoup let the connection go. */
      g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
      break;
    case WEFT_SERVER_DEADLINE_HEAD:
      {
        g_autofree char *m = g_strdup_printf ("the request head did not come within %u s "
                                              "(the header timeout)", server->header_timeout_s);
        weft_server_conn_refuse (conn, SOUP_STATUS_REQUEST_TIMEOUT, m);
        break;
      }
    case WEFT_SERVER_DEADLINE_BODY:
      {
        g_autofree char *m = g_strdup_printf ("the request body did not come within %u s "
                                              "(the body timeout)", server->body_timeout_s);
        weft_server_conn_refuse (conn, SOUP_STATUS_REQUEST_TIMEOUT, m);
        break;
      }
    case WEFT_SERVER_DEADLINE_LINGER:
      weft_server_conn_let_go (conn);
      break;
    default:
      break;
    }
  return G_SOURCE_CONTINUE;
}

static void
weft_server_conn_request_started (gpointer data)
{
  WeftServerConn *conn = data;

  if (conn->server == NULL || conn->answering)
    return;
  /* A new connection's first head keeps the deadline it got when it was
   * accepted. */
  if (conn->requests++ == 0 && conn->deadline == WEFT_SERVER_DEADLINE_WAIT)
    conn->deadline = WEFT_SERVER_DEADLINE_HEAD;
  else
    weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_HEAD,
                                   weft_server_seconds (conn->server->header_timeout_s));
}

static void
weft_server_conn_body_done (gpointer data)
{
  WeftServerConn *conn = data;

  if (conn->server && !conn->answering)
    weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_NONE, 0);
}

static void
weft_server_conn_peer_done (gpointer data)
{
  WeftServerConn *conn = data;

  if (conn->server == NULL)
    return;
  weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_NONE, 0);
  /* libsoup answers the end of its input with a 400 of its own, which
   * must not reach the client. */
  g_socket_shutdown (conn->socket, FALSE, TRUE, NULL);
}

static WeftServerConn *
weft_server_conn_of (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  WeftServerConn *conn = remote ? g_object_get_qdata (G_OBJECT (remote),
                                                      weft_server_conn_quark ()) : NULL;

  return conn && conn->server && !conn->answering ? conn : NULL;
}

static gboolean
weft_server_has_body (SoupMessageHeaders *headers)
{
  switch (soup_message_headers_get_encoding (headers))
    {
    case SOUP_ENCODING_CONTENT_LENGTH:
      return soup_message_headers_get_content_length (headers) > 0;
    case SOUP_ENCODING_CHUNKED:
    case SOUP_ENCODING_EOF:
      return TRUE;
    default:
      return FALSE;
    }
}

/* After libsoup's own got-headers: the head is parsed, nothing of the
 * body is read. */
static void
weft_server_on_got_headers (SoupServerMessage *msg, gpointer data)
{
  WeftServer *server = data;
  WeftServerConn *conn = weft_server_conn_of (msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  gboolean admitted = weft_server_admit (server, msg);

  if (conn == NULL)
    return;
  if (admitted)
    {
      weft_server_input_expect_body (conn->input, soup_message_headers_get_encoding (headers),
                                     soup_message_headers_get_content_length (headers));
      if (weft_server_input_get_frame (conn->input) == WEFT_SERVER_FRAME_BODY)
        weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_BODY,
                                       weft_server_seconds (server->body_timeout_s));
      else
        weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_NONE, 0);
      return;
    }
  /* With "Expect: 100-continue" libsoup answers without reading the
   * body; without a body it answers and keeps the connection. */
  if (weft_server_has_body (headers)
      && !(soup_message_headers_get_expectations (headers) & SOUP_EXPECTATION_CONTINUE))
    {
      weft_server_conn_answer (conn, weft_server_message_response (msg));
      return;
    }
  weft_server_input_expect_body (conn->input, SOUP_ENCODING_NONE, 0);
  weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_NONE, 0);
}

static void
weft_server_on_request_started (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  g_signal_connect (msg, "got-headers", G_CALLBACK (weft_server_on_got_headers), data);
}

/* The response is sent: the connection waits for its next request. */
static void
weft_server_on_request_done (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  WeftServer *server = data;
  WeftServerConn *conn = weft_server_conn_of (msg);

  if (conn && weft_server_input_get_frame (conn->input) == WEFT_SERVER_FRAME_WAIT)
    weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_WAIT,
                                   weft_server_seconds (server->idle_timeout_s));
}

/* ---- writes that do not move ---------------------------------------------------------- */

static void
weft_server_conn_output_blocked (gpointer data)
{
  WeftServerConn *conn = data;

  if (conn->server && g_source_get_ready_time (conn->stall) < 0)
    g_source_set_ready_time (conn->stall, g_get_monotonic_time ()
                                            + weft_server_seconds (conn->server->write_timeout_s));
}

static void
weft_server_conn_output_moved (gpointer data)
{
  WeftServerConn *conn = data;

  if (conn->stall && g_source_get_ready_time (conn->stall) >= 0)
    g_source_set_ready_time (conn->stall, -1);
}

/* Nothing written for the write timeout: the client has stopped reading,
 * unless the socket takes bytes again and the writer has not yet had its
 * turn (a loop busy with a large answer). */
static gboolean
weft_server_conn_stalled (gpointer data)
{
  WeftServerConn *conn = data;
  struct linger reset = { .l_onoff = 1, .l_linger = 0 };
  g_autofree char *message = g_strdup_printf ("the client read nothing for %u s (the write "
                                              "timeout)", conn->server->write_timeout_s);

  if (g_socket_condition_check (conn->socket, G_IO_OUT) & G_IO_OUT)
    {
      weft_server_conn_output_blocked (conn);
      return G_SOURCE_CONTINUE;
    }
  /* Closing then resets the connection: what the client did not read is
   * dropped rather than held by the kernel for a client that never will. */
  setsockopt (g_socket_get_fd (conn->socket), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  weft_server_output_fail (conn->output, message);
  return G_SOURCE_CONTINUE;
}

/* ---- the connection as a stream ---------------------------------------------------- */

/* Closed or gone: the connection no longer counts. */
static void
weft_server_conn_detach (WeftServerConn *conn)
{
  WeftServer *server = conn->server;

  if (server == NULL)
    return;
  conn->server = NULL;
  weft_server_clear_source (&conn->timer);
  weft_server_clear_source (&conn->stall);
  weft_server_clear_source (&conn->io);
  g_hash_table_remove (server->conns, conn);
  conn->closed (server);
}

static GInputStream *
weft_server_conn_get_input_stream (GIOStream *stream)
{
  return G_INPUT_STREAM (WEFT_SERVER_CONN (stream)->input);
}

static GOutputStream *
weft_server_conn_get_output_stream (GIOStream *stream)
{
  return G_OUTPUT_STREAM (WEFT_SERVER_CONN (stream)->output);
}

static gboolean
weft_server_conn_close_fn (GIOStream *stream, GCancellable *cancellable, GError **error)
{
  WeftServerConn *conn = WEFT_SERVER_CONN (stream);

  weft_server_conn_detach (conn);
  g_input_stream_close (G_INPUT_STREAM (conn->input), NULL, NULL);
  g_output_stream_close (G_OUTPUT_STREAM (conn->output), NULL, NULL);
  return g_io_stream_close (G_IO_STREAM (conn->base), cancellable, error);
}

/* Closing never blocks, and stays on the loop (GIOStream's default would
 * close in a thread). */
static void
weft_server_conn_close_async (GIOStream *stream, int priority, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, data);
  GError *error = NULL;

  if (weft_server_conn_close_fn (stream, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static gboolean
weft_server_conn_close_finish (GIOStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
weft_server_conn_finalize (GObject *object)
{
  WeftServerConn *conn = WEFT_SERVER_CONN (object);

  weft_server_conn_detach (conn);
  /* libsoup may keep the address longer than the connection. */
  if (conn->remote)
    g_object_set_qdata (G_OBJECT (conn->remote), weft_server_conn_quark (), NULL);
  weft_server_input_detach (conn->input);
  weft_server_output_detach (conn->output);
  g_clear_object (&conn->input);
  g_clear_object (&conn->output);
  g_clear_object (&conn->base);
  g_clear_object (&conn->socket);
  g_clear_object (&conn->remote);
  g_clear_pointer (&conn->answer, g_bytes_unref);
  G_OBJECT_CLASS (weft_server_conn_parent_class)->finalize (object);
}

static void
weft_server_conn_init (WeftServerConn *conn)
{
}

static void
weft_server_conn_class_init (WeftServerConnClass *klass)
{
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = weft_server_conn_finalize;
  stream_class->get_input_stream = weft_server_conn_get_input_stream;
  stream_class->get_output_stream = weft_server_conn_get_output_stream;
  stream_class->close_fn = weft_server_conn_close_fn;
  stream_class->close_async = weft_server_conn_close_async;
  stream_class->close_finish = weft_server_conn_close_finish;
}

static GSource *
weft_server_conn_add_timer (WeftServerConn *conn, GSourceFunc func)
{
  GSource *timer = g_source_new (&weft_server_timer_funcs, sizeof (GSource));

  g_source_set_callback (timer, func, conn, NULL);
  g_source_attach (timer, weft_server_context (conn->server));
  return timer;
}

static const WeftServerInputEvents weft_server_conn_input_events = {
  .request_started = weft_server_conn_request_started,
  .body_done = weft_server_conn_body_done,
  .refuse = weft_server_conn_refuse,
  .peer_done = weft_server_conn_peer_done,
};

static const WeftServerOutputEvents weft_server_conn_output_events = {
  .blocked = weft_server_conn_output_blocked,
  .moved = weft_server_conn_output_moved,
};

void
weft_server_conn_start (WeftServer *server, GSocket *client, WeftServerConnClosedFunc closed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (client, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address (client, NULL);

  if (local == NULL || remote == NULL)
    return;                     /* gone already */
  g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  g_autoptr(WeftServerConn) conn = g_object_new (WEFT_TYPE_SERVER_CONN, NULL);
  conn->server = server;
  conn->closed = closed;
  conn->socket = g_object_ref (client);
  conn->base = g_socket_connection_factory_create_connection (client);
  conn->input = weft_server_input_new (g_io_stream_get_input_stream (G_IO_STREAM (conn->base)),
                                       &weft_server_conn_input_events, conn, &server->limits);
  conn->output = weft_server_output_new (
    g_io_stream_get_output_stream (G_IO_STREAM (conn->base)), &weft_server_conn_output_events,
    conn);
  conn->remote = g_object_ref (remote);
  g_object_set_qdata (G_OBJECT (remote), weft_server_conn_quark (), conn);
  conn->timer = weft_server_conn_add_timer (conn, weft_server_conn_expire);
  conn->stall = weft_server_conn_add_timer (conn, weft_server_conn_stalled);
  /* A writer whose socket is ready goes first. */
  g_source_set_priority (conn->stall, G_PRIORITY_LOW);
  g_hash_table_add (server->conns, conn);
  weft_server_conn_set_deadline (conn, WEFT_SERVER_DEADLINE_WAIT,
                                 weft_server_seconds (server->header_timeout_s));
  if (!soup_server_accept_iostream (server->soup, G_IO_STREAM (conn), local, remote, &error))
    {
      g_warning ("serving a connection: %s", error->message);
      g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
    }
}

void
weft_server_conns_init (WeftServer *server)
{
  server->conns = g_hash_table_new (NULL, NULL);
  g_signal_connect (server->soup, "request-started",
                    G_CALLBACK (weft_server_on_request_started), server);
  g_signal_connect (server->soup, "request-finished",
                    G_CALLBACK (weft_server_on_request_done), server);
  g_signal_connect (server->soup, "request-aborted",
                    G_CALLBACK (weft_server_on_request_done), server);
}

void
weft_server_conns_clear (WeftServer *server)
{
  GHashTableIter iter;
  gpointer conn;

  /* libsoup has closed its connections by now; any left must not call
   * back into a server that is going. */
  g_hash_table_iter_init (&iter, server->conns);
  while (g_hash_table_iter_next (&iter, &conn, NULL))
    {
      g_hash_table_iter_steal (&iter);
      g_socket_shutdown (WEFT_SERVER_CONN (conn)->socket, TRUE, TRUE, NULL);
      WEFT_SERVER_CONN (conn)->server = NULL;
      weft_server_clear_source (&WEFT_SERVER_CONN (conn)->timer);
      weft_server_clear_source (&WEFT_SERVER_CONN (conn)->stall);
      weft_server_clear_source (&WEFT_SERVER_CONN (conn)->io);
    }
  g_clear_pointer (&server->conns, g_hash_table_unref);
}

