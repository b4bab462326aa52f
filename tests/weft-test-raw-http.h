/* weft-test-raw-http.h — a raw HTTP client for the server tests
 * (test-server-limits.c, test-server-conn.c).
 *
 * Each test starts a WeftServer on 127.0.0.1 with a few flows (the
 * fixture) and talks to it over raw sockets, byte by byte as a hostile
 * client would: requests sent whole or cut short, the sending side shut,
 * responses read one at a time, errors checked for weft's JSON shape.
 * Every wait is bounded by SLOW_S, generous because the machine may be
 * busy: a server that never answers fails the test rather than hanging
 * it. */
#pragma once

#include "weft-test.h"

#include <libsoup/soup.h>
#include <sys/socket.h>

/* However busy the machine, this is long enough for what takes a
 * millisecond when idle. */
#define SLOW_S 30

static const char noop_flow[] =
  "{\"name\": \"noop\", \"agents\": {\"n\": {\"plugin\": \"noop\"}},"
  " \"tasks\": [{\"name\": \"t\", \"agent\": \"n\", \"description\": \"x\"}]}";

/* Runs for 2.5 s: longer than the short timeouts below. */
static const char slow_flow[] =
  "{\"name\": \"slow\", \"agents\": {\"a\": {\"plugin\": \"test-agent\", \"sleep_ms\": 2500}},"
  " \"tasks\": [{\"name\": \"t\", \"agent\": \"a\", \"description\": \"x\"}]}";

/* Answers with what it is given: {text} as its output. */
static const char echo_flow[] =
  "{\"name\": \"echo\", \"agents\": {\"say\": {\"plugin\": \"template\","
  " \"template\": \"{description}\"}},"
  " \"tasks\": [{\"name\": \"t\", \"agent\": \"say\", \"description\": \"{text}\"}]}";

typedef struct {
  WeftEngine *engine;
  WeftServer *server;
  guint port;
} Fixture;

static inline void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const WeftServerOptions *options = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = NULL;
  g_autoptr(WeftFlow) slow = NULL;
  g_autoptr(WeftFlow) echo = NULL;

  f->engine = weft_test_engine_new (2);
  f->server = weft_server_new (f->engine, options);
  flow = weft_test_flow (f->engine, noop_flow);
  slow = weft_test_flow (f->engine, slow_flow);
  echo = weft_test_flow (f->engine, echo_flow);
  g_assert_true (weft_server_add_flow (f->server, flow, &error));
  g_assert_true (weft_server_add_flow (f->server, slow, &error));
  g_assert_true (weft_server_add_flow (f->server, echo, &error));
  g_assert_true (weft_server_listen (f->server, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  f->port = weft_server_get_port (f->server);
}

static inline void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  weft_server_stop (f->server, 2000);
  weft_server_free (f->server);
  weft_engine_unref (f->engine);
}

/* ---- a raw client ------------------------------------------------------------------ */

static inline GSocket *
raw_connect (guint port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, (guint16) port);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_connect (socket, address, NULL, &error));
  g_assert_no_error (error);
  g_socket_set_timeout (socket, SLOW_S);
  return socket;
}

/* FALSE once the server has closed or reset the connection. */
static inline gboolean
raw_send (GSocket *socket, const void *data, gsize size)
{
  while (size > 0)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (socket, data, size, NULL, &error);
      if (n <= 0)
        return FALSE;
      data = (const char *) data + n;
      size -= (gsize) n;
    }
  return TRUE;
}

static inline gboolean
raw_send_text (GSocket *socket, const char *text)
{
  return raw_send (socket, text, strlen (text));
}

static inline void
raw_free_string (gpointer string)
{
  g_string_free (string, TRUE);
}

/* What was read past a response: the start of the next one. */
static inline GString *
raw_leftover (GSocket *socket)
{
  GString *left = g_object_get_data (G_OBJECT (socket), "leftover");

  if (left == NULL)
    {
      left = g_string_new (NULL);
      g_object_set_data_full (G_OBJECT (socket), "leftover", left, raw_free_string);
    }
  return left;
}

/* Reads one response (the head, then a body of its Content-Length) within
 * SLOW_S; returns its status and, when asked, its body.  What comes after
 * it is kept for the next call. */
static inline guint
raw_response (GSocket *socket, char **body)
{
  GString *in = raw_leftover (socket);
  const char *end = NULL;
  gsize length = 0;
  char buffer[65536];

  for (;;)
    {
      /* Not strstr: a large body is read in many pieces, and the head is
       * at its start. */
      end = g_strstr_len (in->str, (gssize) in->len, "\r\n\r\n");
      if (end)
        {
          const char *cl = g_strstr_len (in->str, end - in->str, "Content-Length: ");
          length = cl ? (gsize) g_ascii_strtoull (cl + strlen ("Content-Length: "), NULL, 10) : 0;
          if (in->len >= (gsize) (end - in->str) + 4 + length)
            break;
        }
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
      if (n <= 0)
        g_error ("no whole response within %d s (%s); got: %.300s", SLOW_S,
                 error ? error->message : "closed", in->str);
      g_string_append_len (in, buffer, n);
    }
  /* HTTP/1.0 for a request of HTTP/1.0. */
  g_assert_true (g_str_has_prefix (in->str, "HTTP/1.1 ") || g_str_has_prefix (in->str, "HTTP/1.0 "));
  guint status = (guint) g_ascii_strtoull (in->str + strlen ("HTTP/1.1 "), NULL, 10);
  if (body)
    *body = g_strndup (end + 4, length);
  g_string_erase (in, 0, (end - in->str) + 4 + (gssize) length);
  return status;
}

/* The server closes the connection within SLOW_S. */
static inline void
raw_assert_closed (GSocket *socket)
{
  char buffer[4096];

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
      if (n == 0 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
        return;
      if (n < 0)
        g_error ("the server did not close the connection: %s", error->message);
    }
}

/* Shuts the client's sending side, as HTTP/1.0-style clients, `nc -q`
 * and many scripts do once their request is out. */
static inline void
raw_half_close (GSocket *socket)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_socket_shutdown (socket, FALSE, TRUE, &error));
  g_assert_no_error (error);
}

/* The "run_id" of a kickoff's answer. */
static inline char *
run_id_of (const char *body)
{
  g_autoptr(JsonNode) json = json_from_string (body, NULL);

  g_assert_nonnull (json);
  return g_strdup (json_object_get_string_member (json_node_get_object (json), "run_id"));
}

/* Kicks off `flow` on a connection of its own; returns the run's id. */
static inline char *
raw_kickoff (guint port, const char *flow)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *request = g_strdup_printf ("POST /v1/flows/%s/runs HTTP/1.1\r\nHost: x\r\n"
                                              "Content-Length: 0\r\n\r\n", flow);
  g_autofree char *body = NULL;

  raw_send_text (socket, request);
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_ACCEPTED);
  return run_id_of (body);
}

/* Reads an event stream until its run's last event. */
static inline void
raw_read_stream (GSocket *socket)
{
  g_autoptr(GString) stream = g_string_new (NULL);
  char buffer[4096];

  while (strstr (stream->str, "event: run.completed") == NULL)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
      if (n <= 0)
        g_error ("the event stream ended before run.completed (%s): %s",
                 error ? error->message : "closed", stream->str);
      g_string_append_len (stream, buffer, n);
    }
  /* The stream's last chunk, then nothing more. */
  while (!g_str_has_suffix (stream->str, "0\r\n\r\n"))
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
      if (n <= 0)
        g_error ("the event stream did not end (%s): %s", error ? error->message : "closed",
                 stream->str);
      g_string_append_len (stream, buffer, n);
    }
}

/* The body must be weft's error shape for `status`, its message
 * containing `needle`; returns the message. */
static inline char *
assert_error_body (const char *body, guint status, const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) json = NULL;

  if (*body == '\0')
    g_error ("a %u with an empty body, not weft's JSON error", status);
  json = json_from_string (body, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json));
  JsonObject *o = json_node_get_object (json);
  g_assert_cmpint (json_object_get_int_member (o, "status"), ==, status);
  const char *message = json_object_get_string_member (o, "error");
  g_assert_true (g_utf8_validate (message, -1, NULL));
  weft_test_assert_contains (message, needle);
  return g_strdup (message);
}

/* Sends `request` on a new connection and checks the error answer. */
static inline void
assert_refused (guint port, const char *request, gsize size, guint status, const char *needle)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *body = NULL;

  raw_send (socket, request, size);
  g_assert_cmpuint (raw_response (socket, &body), ==, status);
  g_free (assert_error_body (body, status, needle));
}
