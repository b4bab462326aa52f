/* test-server-limits.c — `weft serve` against hostile clients.
 *
 * Each test starts a WeftServer on 127.0.0.1 (or `weft serve` itself, for
 * the descriptor limit) and talks to it over raw sockets, byte by byte as
 * a hostile client would: bodies refused before they are read (the
 * server's memory unchanged by a 100 MB body after a 100 GB
 * Content-Length), chunked bodies stopped at the limit and their
 * malformed framing refused, idle and slowloris connections timed out,
 * the connection cap, accepting at the descriptor limit without spinning,
 * error answers in weft's JSON shape (414, 431, %00, OPTIONS *, long or
 * invalid ids, and every malformed head libsoup would answer with an empty
 * body), clients that half-close or close between requests (answered,
 * then let go at once, their slots freed), and clients that stop reading
 * (closed after the write timeout).  Deadlines are generous: the machine
 * may be busy. */
#include "weft-test.h"

#include <libsoup/soup.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void
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

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  weft_server_stop (f->server, 2000);
  weft_server_free (f->server);
  weft_engine_unref (f->engine);
}

/* ---- a raw client ------------------------------------------------------------------ */

static GSocket *
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
static gboolean
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

static gboolean
raw_send_text (GSocket *socket, const char *text)
{
  return raw_send (socket, text, strlen (text));
}

static void
raw_free_string (gpointer string)
{
  g_string_free (string, TRUE);
}

/* What was read past a response: the start of the next one. */
static GString *
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
static guint
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
static void
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
static void
raw_half_close (GSocket *socket)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_socket_shutdown (socket, FALSE, TRUE, &error));
  g_assert_no_error (error);
}

/* The "run_id" of a kickoff's answer. */
static char *
run_id_of (const char *body)
{
  g_autoptr(JsonNode) json = json_from_string (body, NULL);

  g_assert_nonnull (json);
  return g_strdup (json_object_get_string_member (json_node_get_object (json), "run_id"));
}

/* Kicks off `flow` on a connection of its own; returns the run's id. */
static char *
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
static void
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
static char *
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
static void
assert_refused (guint port, const char *request, gsize size, guint status, const char *needle)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *body = NULL;

  raw_send (socket, request, size);
  g_assert_cmpuint (raw_response (socket, &body), ==, status);
  g_free (assert_error_body (body, status, needle));
}

static gsize
resident_bytes (void)
{
  g_autofree char *statm = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  return (gsize) g_ascii_strtoull (strchr (statm, ' ') + 1, NULL, 10)
         * (gsize) sysconf (_SC_PAGESIZE);
}

/* Descriptors for `wanted` more; returns how many the limit allows. */
static guint
raise_descriptor_limit (guint wanted)
{
  struct rlimit limit;

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > wanted + 256)
    return wanted;
  return (guint) (limit.rlim_cur > 256 ? limit.rlim_cur - 256 : 0);
}

/* ---- bodies refused before they are read --------------------------------------------- */

static const WeftServerOptions token_options = { .token = "s3cret" };

/* A head declaring 100 GB is answered at once (the client reads the
 * answer while still sending), and the 100 MB it then sends are never
 * kept. */
static void
assert_huge_body_refused (guint port, const char *auth, guint status, const char *needle)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *head = g_strdup_printf ("POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n%s"
                                           "Content-Length: 100000000000\r\n\r\n", auth);
  static char chunk[64 * 1024];
  g_autofree char *body = NULL;
  gsize before = 0, sent = 0;

  memset (chunk, 'x', sizeof chunk);
  g_assert_true (raw_send_text (socket, head));
  before = resident_bytes ();
  /* 1 MB of body, then the answer must be there: before the fix nothing
   * was answered until all 100 GB had been read. */
  for (guint i = 0; i < 16; i++)
    raw_send (socket, chunk, sizeof chunk);
  g_assert_cmpuint (raw_response (socket, &body), ==, status);
  g_free (assert_error_body (body, status, needle));
  while (sent < 100 * 1024 * 1024 && raw_send (socket, chunk, sizeof chunk))
    sent += sizeof chunk;
  gsize after = resident_bytes ();
  g_test_message ("%u: %" G_GSIZE_FORMAT " MB more sent after the answer; resident %"
                  G_GSIZE_FORMAT " MB → %" G_GSIZE_FORMAT " MB", status, sent >> 20,
                  before >> 20, after >> 20);
  g_assert_cmpuint (after, <, before + 32 * 1024 * 1024);
  raw_assert_closed (socket);
}

static void
test_huge_body_refused (Fixture *f, gconstpointer data)
{
  assert_huge_body_refused (f->port, "", SOUP_STATUS_UNAUTHORIZED,
                            "needs \"Authorization: Bearer TOKEN\"");
  assert_huge_body_refused (f->port, "Authorization: Bearer s3cret\r\n",
                            SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "larger than 1048576 bytes");

  /* A refused request without a body keeps its connection. */
  g_autoptr(GSocket) socket = raw_connect (f->port);
  g_autofree char *body = NULL;
  raw_send_text (socket, "GET /v1/flows HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_UNAUTHORIZED);
  raw_send_text (socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_OK);
}

static const WeftServerOptions small_body_options = { .max_body = 1024 };

static void
test_chunked_stops_at_limit (Fixture *f, gconstpointer data)
{
  static const char head[] = "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n";
  char data_1024[1025];
  g_autofree char *body = NULL;

  memset (data_1024, ' ', 1024);
  data_1024[1024] = '\0';
  data_1024[0] = '{';
  data_1024[1023] = '}';

  /* Exactly the limit is a body like any other. */
  g_autoptr(GSocket) fine = raw_connect (f->port);
  g_autofree char *whole = g_strdup_printf ("%s400\r\n%s\r\n0\r\n\r\n", head, data_1024);
  raw_send_text (fine, whole);
  g_assert_cmpuint (raw_response (fine, NULL), ==, SOUP_STATUS_ACCEPTED);

  /* One chunk more is refused as soon as its size is read: the body never
   * ends here, and the answer comes anyway. */
  g_autoptr(GSocket) socket = raw_connect (f->port);
  g_autofree char *over = g_strdup_printf ("%s400\r\n%s\r\n10\r\n", head, data_1024);
  raw_send_text (socket, over);
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
  g_free (assert_error_body (body, 413, "larger than 1024 bytes"));
  raw_assert_closed (socket);

  /* A single chunk declared past the limit, with no data at all. */
  g_autofree char *declared = g_strdup_printf ("%sFFFFFFFFFFFF\r\n", head);
  assert_refused (f->port, declared, strlen (declared), 413, "larger than 1024 bytes");
}

static void
test_chunked_malformed (Fixture *f, gconstpointer data)
{
  static const char head[] = "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n";
  static const struct {
    const char *body;
    const char *needle;
  } cases[] = {
    /* libsoup took "zz" for a last chunk: an empty body, and a run. */
    { "zz\r\nabc\r\n0\r\n\r\n", "its size in hexadecimal" },
    { "2\r\n{}xyz\r\n0\r\n\r\n", "must end with CRLF" },
    { "2x\r\n{}\r\n0\r\n\r\n", "hexadecimal digits" },
    { "2\r{}\r\n0\r\n\r\n", "size line must end with CRLF" },
    { "-2\r\n{}\r\n0\r\n\r\n", "its size in hexadecimal" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *request = g_strconcat (head, cases[i].body, NULL);
      g_test_message ("chunked body %u", i);
      assert_refused (f->port, request, strlen (request), SOUP_STATUS_BAD_REQUEST,
                      cases[i].needle);
    }
  /* Well-formed, with an extension and a trailer, it is read. */
  g_autofree char *good = g_strconcat (head, "1;ext=1\r\n{\r\n1\r\n}\r\n0\r\nX-T: 1\r\n\r\n",
                                       NULL);
  g_autoptr(GSocket) socket = raw_connect (f->port);
  raw_send_text (socket, good);
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_ACCEPTED);
}

/* ---- time limits -------------------------------------------------------------------- */

static const WeftServerOptions quick_options = {
  .header_timeout_s = 1, .body_timeout_s = 1, .idle_timeout_s = 1, .max_connections = 5000,
  .write_timeout_s = 1,
};

/* Thousands of connections that send nothing are all closed. */
static void
test_idle_connections_closed (Fixture *f, gconstpointer data)
{
  guint n = MIN (2000, raise_descriptor_limit (2 * 2000) / 2);
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree struct pollfd *fds = g_new0 (struct pollfd, n);
  guint closed = 0;
  gint64 deadline;

  if (n < 2000)
    g_test_message ("the descriptor limit allows %u connections, not 2000", n);
  for (guint i = 0; i < n; i++)
    {
      GSocket *socket = raw_connect (f->port);
      g_ptr_array_add (sockets, socket);
      fds[i].fd = g_socket_get_fd (socket);
      fds[i].events = POLLIN;
    }
  deadline = g_get_monotonic_time () + 2 * SLOW_S * G_USEC_PER_SEC;
  while (closed < n && g_get_monotonic_time () < deadline)
    {
      g_assert_cmpint (poll (fds, n, 1000), >=, 0);
      for (guint i = 0; i < n; i++)
        if (fds[i].revents)
          {
            char byte;
            g_assert_cmpint (recv (fds[i].fd, &byte, 1, 0), <=, 0);
            fds[i].fd = -1;
            closed++;
          }
    }
  g_test_message ("%u of %u idle connections closed", closed, n);
  g_assert_cmpuint (closed, ==, n);

  /* A kept-alive connection is closed once it has been idle too. */
  g_autoptr(GSocket) socket = raw_connect (f->port);
  raw_send_text (socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_OK);
  raw_assert_closed (socket);
}

static void
test_slow_requests (Fixture *f, gconstpointer data)
{
  g_autofree char *body = NULL;

  /* Slowloris: declares 100 bytes, sends 10, and waits. */
  g_autoptr(GSocket) socket = raw_connect (f->port);
  raw_send_text (socket, "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 100\r\n\r\n{\"inputs\":");
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_REQUEST_TIMEOUT);
  g_free (assert_error_body (body, 408, "request body did not come within 1 s"));
  raw_assert_closed (socket);

  /* A head that never ends. */
  g_autoptr(GSocket) slow_head = raw_connect (f->port);
  g_clear_pointer (&body, g_free);
  raw_send_text (slow_head, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  g_assert_cmpuint (raw_response (slow_head, &body), ==, SOUP_STATUS_REQUEST_TIMEOUT);
  g_free (assert_error_body (body, 408, "request head did not come within 1 s"));
  raw_assert_closed (slow_head);
}

/* Nothing is timed while a response is written to a client that reads it:
 * a quiet event stream outlives every timeout, the write timeout's too. */
static void
test_stream_outlives_timeouts (Fixture *f, gconstpointer data)
{
  g_autoptr(GSocket) socket = raw_connect (f->port);
  g_autoptr(GString) stream = g_string_new (NULL);
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) json = NULL;
  char buffer[4096];

  raw_send_text (socket, "POST /v1/flows/slow/runs HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 0\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_ACCEPTED);
  json = json_from_string (body, NULL);
  g_autofree char *get = g_strdup_printf (
    "GET /v1/runs/%s/events HTTP/1.1\r\nHost: x\r\n\r\n",
    json_object_get_string_member (json_node_get_object (json), "run_id"));
  raw_send_text (socket, get);
  while (strstr (stream->str, "event: run.completed") == NULL)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
      if (n <= 0)
        g_error ("the event stream ended before run.completed (%s): %s",
                 error ? error->message : "closed", stream->str);
      g_string_append_len (stream, buffer, n);
    }
}

/* ---- clients that leave ------------------------------------------------------------- */

/* No idle timeout comes into it: the connections must close because the
 * clients left. */
static const WeftServerOptions patient_options = { .idle_timeout_s = 3600 };

/* Sends `request`, shuts the sending side, and expects `status` and then
 * the connection closed at once. */
static void
assert_half_closed (guint port, const char *request, guint status)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *body = NULL;
  g_autofree char *shown = g_strescape (request, NULL);

  g_test_message ("half-closed after %.60s", shown);
  raw_send_text (socket, request);
  raw_half_close (socket);
  g_assert_cmpuint (raw_response (socket, &body), ==, status);
  raw_assert_closed (socket);
}

/* A client that half-closes after its request gets its response, then
 * the end of the connection, whatever the request: before, it waited for
 * the idle timeout. */
static void
test_half_close (Fixture *f, gconstpointer data)
{
  static const char chunked[] = "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";

  assert_half_closed (f->port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", SOUP_STATUS_OK);
  assert_half_closed (f->port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", SOUP_STATUS_NOT_FOUND);
  assert_half_closed (f->port, "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                               "Content-Length: 2\r\n\r\n{}", SOUP_STATUS_ACCEPTED);
  assert_half_closed (f->port, chunked, SOUP_STATUS_ACCEPTED);

  /* After other requests on the same connection, pipelined or not. */
  g_autoptr(GSocket) kept = raw_connect (f->port);
  raw_send_text (kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (kept, NULL), ==, SOUP_STATUS_OK);
  raw_send_text (kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /v1/flows HTTP/1.1\r\nHost: x\r\n\r\n");
  raw_half_close (kept);
  g_assert_cmpuint (raw_response (kept, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpuint (raw_response (kept, NULL), ==, SOUP_STATUS_OK);
  raw_assert_closed (kept);

  /* Half-closed while its response is still to come: an event stream is
   * sent whole, then the connection ends. */
  g_autofree char *id = raw_kickoff (f->port, "slow");
  g_autofree char *get = g_strdup_printf ("GET /v1/runs/%s/events HTTP/1.1\r\nHost: x\r\n\r\n",
                                          id);
  g_autoptr(GSocket) stream = raw_connect (f->port);
  raw_send_text (stream, get);
  raw_half_close (stream);
  raw_read_stream (stream);
  raw_assert_closed (stream);

  /* A request cut short by the half-close is answered, not taken whole
   * or dropped. */
  g_autofree char *body = NULL;
  g_autoptr(GSocket) head = raw_connect (f->port);
  raw_send_text (head, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  raw_half_close (head);
  g_assert_cmpuint (raw_response (head, &body), ==, SOUP_STATUS_BAD_REQUEST);
  g_free (assert_error_body (body, 400, "the request head ended before its empty line"));
  raw_assert_closed (head);
  g_clear_pointer (&body, g_free);
  g_autoptr(GSocket) short_body = raw_connect (f->port);
  raw_send_text (short_body, "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                             "Content-Length: 10\r\n\r\n{}");
  raw_half_close (short_body);
  g_assert_cmpuint (raw_response (short_body, &body), ==, SOUP_STATUS_BAD_REQUEST);
  g_free (assert_error_body (body, 400, "the request body ended after 2 of its 10 bytes"));
  raw_assert_closed (short_body);
}

static const WeftServerOptions two_slots_options = { .idle_timeout_s = 1, .max_connections = 2 };

/* A connection that ends between requests frees its slot, whichever side
 * ends it: before, libsoup kept every such connection open, so that after
 * --max-connections of them (1000 curl requests) nothing was accepted. */
static void
test_connection_slots_freed (Fixture *f, gconstpointer data)
{
  /* Closed by the client once it has its answer, as curl does. */
  for (guint i = 0; i < 6; i++)
    {
      g_autoptr(GSocket) socket = raw_connect (f->port);
      g_test_message ("connection %u, closed by the client", i);
      raw_send_text (socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_OK);
      g_socket_close (socket, NULL);
    }
  /* Closed by the idle timeout. */
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GSocket) first = raw_connect (f->port);
      g_autoptr(GSocket) second = raw_connect (f->port);
      g_test_message ("connections %u, closed by the idle timeout", i);
      raw_send_text (first, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      raw_send_text (second, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      g_assert_cmpuint (raw_response (first, NULL), ==, SOUP_STATUS_OK);
      g_assert_cmpuint (raw_response (second, NULL), ==, SOUP_STATUS_OK);
      raw_assert_closed (first);
      raw_assert_closed (second);
    }
}

/* ---- clients that do not read ------------------------------------------------------- */

static const WeftServerOptions write_options = { .write_timeout_s = 1, .max_body = 32 << 20 };

/* A connection whose client takes little and reads nothing. */
static GSocket *
raw_connect_unread (guint port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, (guint16) port);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_set_option (socket, SOL_SOCKET, SO_RCVBUF, 4096, &error));
  g_assert_true (g_socket_connect (socket, address, NULL, &error));
  g_assert_no_error (error);
  g_socket_set_timeout (socket, SLOW_S);
  return socket;
}

/* The server resets the connection, seen without reading from it. */
static void
raw_assert_reset (GSocket *socket)
{
  struct pollfd fd = { .fd = g_socket_get_fd (socket), .events = 0 };
  gint64 deadline = g_get_monotonic_time () + 2 * SLOW_S * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_assert_cmpint (poll (&fd, 1, 1000), >=, 0);
      if (fd.revents & (POLLERR | POLLHUP))
        return;
    }
  g_error ("the server kept, for %d s, a connection whose client reads nothing", 2 * SLOW_S);
}

/* The run's answer once it has completed. */
static char *
raw_wait_run (guint port, const char *id)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *get = g_strdup_printf ("GET /v1/runs/%s HTTP/1.1\r\nHost: x\r\n\r\n", id);
  gint64 deadline = g_get_monotonic_time () + SLOW_S * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *body = NULL;
      raw_send_text (socket, get);
      g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_OK);
      if (strstr (body, "\"status\":\"completed\""))
        return g_steal_pointer (&body);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 20);
    }
}

/* A client that stops reading (a slow-read attack) is let go once the
 * server has been unable to write for the write timeout: a large response
 * and an event stream.  Before, only --max-connections bounded them. */
static void
test_write_timeout (Fixture *f, gconstpointer data)
{
  /* More than the socket buffers between the two hold. */
  const gsize size = 8 << 20;
  g_autoptr(GString) kickoff = g_string_new (NULL);
  g_autoptr(GSocket) socket = raw_connect (f->port);
  g_autofree char *body = NULL;

  g_string_printf (kickoff, "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n{\"inputs\": {\"text\": \"",
                   size + strlen ("{\"inputs\": {\"text\": \"\"}}"));
  for (gsize i = 0; i < size; i++)
    g_string_append_c (kickoff, 'a');
  g_string_append (kickoff, "\"}}");
  g_assert_true (raw_send (socket, kickoff->str, kickoff->len));
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_ACCEPTED);
  g_autofree char *id = run_id_of (body);
  g_autofree char *run = raw_wait_run (f->port, id);
  g_assert_cmpuint (strlen (run), >, size);

  g_autoptr(GSocket) large = raw_connect_unread (f->port);
  g_autofree char *get = g_strdup_printf ("GET /v1/runs/%s HTTP/1.1\r\nHost: x\r\n\r\n", id);
  raw_send_text (large, get);
  g_autoptr(GSocket) events = raw_connect_unread (f->port);
  g_autofree char *get_events = g_strdup_printf ("GET /v1/runs/%s/events HTTP/1.1\r\n"
                                                 "Host: x\r\n\r\n", id);
  raw_send_text (events, get_events);
  raw_assert_reset (large);
  raw_assert_reset (events);

  /* A quiet stream has nothing pending: it is not timed, however long
   * its client leaves it unread. */
  g_autofree char *slow = raw_kickoff (f->port, "slow");
  g_autofree char *get_slow = g_strdup_printf ("GET /v1/runs/%s/events HTTP/1.1\r\n"
                                               "Host: x\r\n\r\n", slow);
  g_autoptr(GSocket) quiet = raw_connect (f->port);
  raw_send_text (quiet, get_slow);
  g_usleep (3 * G_USEC_PER_SEC);
  raw_read_stream (quiet);

  raw_send_text (socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_OK);
}

/* ---- the number of connections -------------------------------------------------------- */

static const WeftServerOptions two_connections_options = { .max_connections = 2 };

static void
test_connection_cap (Fixture *f, gconstpointer data)
{
  g_autoptr(GSocket) first = raw_connect (f->port);
  g_autoptr(GSocket) second = raw_connect (f->port);
  g_autoptr(GSocket) third = raw_connect (f->port);
  char byte;

  raw_send_text (first, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (first, NULL), ==, SOUP_STATUS_OK);
  /* The third waits in the backlog: its request is not read... */
  raw_send_text (third, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_socket_set_timeout (third, 1);
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (g_socket_receive (third, &byte, 1, NULL, &error), <, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  /* ... until one of the two closes. */
  g_socket_close (second, NULL);
  g_socket_set_timeout (third, SLOW_S);
  g_assert_cmpuint (raw_response (third, NULL), ==, SOUP_STATUS_OK);
}

/* ---- errors in weft's shape ---------------------------------------------------------- */

static void
test_error_shapes (Fixture *f, gconstpointer data)
{
  static const char percent_00[] = "GET /v1/runs/a%00b HTTP/1.1\r\nHost: x\r\n\r\n";
  static const char options[] = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
  g_autoptr(GString) url = g_string_new ("GET /v1/runs/");
  g_autoptr(GString) headers = g_string_new ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");

  assert_refused (f->port, percent_00, strlen (percent_00), 400, "does not decode");
  assert_refused (f->port, options, strlen (options), 404, "no such endpoint: OPTIONS *");

  /* 414 and 431, under libsoup's own 64 KiB and well over it, where it
   * used to drop the connection without a word. */
  for (guint size = 9000; size < 300000; size *= 10)
    {
      g_string_truncate (url, strlen ("GET /v1/runs/"));
      for (guint i = 0; i < size; i++)
        g_string_append_c (url, 'a');
      g_string_append (url, " HTTP/1.1\r\nHost: x\r\n\r\n");
      assert_refused (f->port, url->str, url->len, 414, "URL is longer than 8192 bytes");
    }
  for (guint size = 40000; size < 300000; size *= 5)
    {
      g_string_truncate (headers, strlen ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "));
      for (guint i = 0; i < size; i++)
        g_string_append_c (headers, 'h');
      g_string_append (headers, "\r\n\r\n");
      assert_refused (f->port, headers->str, headers->len, 431,
                      "request head (request line and headers) is larger than 32768 bytes");
    }

  /* An id of 5,000 characters and a byte that is not UTF-8, echoed cut
   * short and valid. */
  g_autoptr(GString) id = g_string_new ("GET /v1/runs/");
  for (guint i = 0; i < 5000; i++)
    g_string_append_c (id, 'b');
  g_string_append (id, "%FF HTTP/1.1\r\nHost: x\r\n\r\n");
  g_autoptr(GSocket) socket = raw_connect (f->port);
  g_autofree char *body = NULL;
  raw_send (socket, id->str, id->len);
  g_assert_cmpuint (raw_response (socket, &body), ==, 404);
  g_autofree char *message = assert_error_body (body, 404, "no run \"bbbb");
  weft_test_assert_contains (message, "…(5003 characters)…");
  g_assert_cmpuint (strlen (message), <, 400);
}

/* Every head that libsoup would answer with an empty 400, 417, 501 or 505
 * (or not at all, or read another way than the framing does) gets weft's
 * error shape, naming what is wrong. */
static void
test_malformed_heads (Fixture *f, gconstpointer data)
{
  static const char post[] = "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n";
  static const struct {
    const char *head;         /* after `post` when it starts with a body's header */
    guint status;
    const char *needle;
  } cases[] = {
    { "HELLO\r\n\r\n", 400, "malformed request line \"HELLO\"" },
    { "GET /healthz\r\nHost: x\r\n\r\n", 400, "malformed request line \"GET /healthz\"" },
    { "GET /healthz HTTP/1.1 x\r\nHost: x\r\n\r\n", 400, "malformed request line" },
    { "GET /healthz HTTP/1.1\t\r\nHost: x\r\n\r\n", 400, "malformed request line" },
    { "GET /healthz HTTP/1.1x\r\nHost: x\r\n\r\n", 400, "\"HTTP/1.1x\" is not an HTTP version" },
    { "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0 is not supported" },
    { "GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n", 505, "HTTP/1.2 is not supported" },
    { "GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n", 505, "HTTP/0.9 is not supported" },
    { "GET /healthz HTTP/1.1\r\n\r\n", 400, "an HTTP/1.1 request needs a Host header" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "more than one Host" },
    { "GET /healthz HTTP/1.1\r\nHost: x/y\r\n\r\n", 400, "Host header \"x/y\"" },
    { "GET /healthz HTTP/1.1\r\nHost: x:99999999\r\n\r\n", 400, "Host header \"x:99999999\"" },
    { "GET abc HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request target \"abc\"" },
    { "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request target \"/a%zz\"" },
    { "GET ftp://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "not an http URL" },
    { "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed header line \"Host x\": no colon" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Line\r\n\r\n", 400, "\"Bad Line\": no colon" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nX\xff\xfe\r\n\r\n", 400, "no colon" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A : y\r\n\r\n", 400, "malformed header name \"X-A \"" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", 400, "no name before its colon" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\n X-Fold: y\r\n\r\n", 400, "line folding" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, "a CR not followed by LF" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, "expectation \"teapot\"" },
    { "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "empty lines before" },
    { "Content-Length: abc\r\n\r\n", 400, "Content-Length \"abc\" is not a number" },
    { "Content-Length: -1\r\n\r\n", 400, "Content-Length \"-1\" is not a number" },
    { "Content-Length: +2\r\n\r\n{}", 400, "Content-Length \"+2\" is not a number" },
    { "Content-Length: 2, 2\r\n\r\n{}", 400, "Content-Length \"2, 2\" is not a number" },
    { "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400,
      "two different Content-Length headers (\"2\" and \"3\")" },
    { "Content-Length: 99999999999999999999999\r\n\r\n", 413, "larger than 1048576 bytes" },
    { "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding" },
    { "Transfer-Encoding: gzip\r\n\r\n", 501, "transfer coding \"gzip\"" },
    { "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "transfer coding \"gzip\"" },
    { "Transfer-Encoding: chunked, chunked\r\n\r\n", 400, "\"chunked\" more than once" },
    { "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "\"chunked\" more than once" },
    { "Transfer-Encoding: chunked,\r\n\r\n", 400, "malformed Transfer-Encoding" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean header = g_str_has_prefix (cases[i].head, "Content-Length")
                        || g_str_has_prefix (cases[i].head, "Transfer-Encoding");
      g_autofree char *request = g_strconcat (header ? post : "", cases[i].head, NULL);
      g_autofree char *shown = g_strescape (cases[i].head, NULL);

      g_test_message ("malformed head %u: %s", i, shown);
      assert_refused (f->port, request, strlen (request), cases[i].status, cases[i].needle);
    }
  /* A NUL, in the request line and in a header. */
  static const char nul_line[] = "GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n";
  static const char nul_header[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
  assert_refused (f->port, nul_line, sizeof nul_line - 1, 400, "NUL");
  assert_refused (f->port, nul_header, sizeof nul_header - 1, 400, "NUL");
}

/* What is well formed still works, each on a kept-alive connection that
 * goes on being framed: a body over the limit after it is still refused
 * before it is read (a leading empty line used to lose the framing, and
 * with it every check of the connection's later requests). */
static void
test_wellformed_heads (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *request;
    guint status;
  } cases[] = {
    { "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200 },
    { "\nGET /healthz HTTP/1.1\nHost: x\n\n", 200 },
    { "GET /healthz HTTP/1.0\r\n\r\n", 200 },
    { "GET  /healthz  HTTP/1.1 \r\nHost: x\r\n\r\n", 200 },
    { "GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200 },
    { "GET /healthz HTTP/1.1\r\nHost: \r\n\r\n", 200 },
    { "GET /healthz HTTP/1.1\r\nhOsT: x:8080\r\nX-Empty:\r\n\r\n", 200 },
    { "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\nContent-Length:  2 \r\n\r\n{}", 202 },
    { "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
      "Content-Length: 2\r\n\r\n{}", 202 },
    { "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n", 202 },
    { "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
      "Content-Length: 2\r\n\r\n{}", 202 },
  };
  g_autofree char *big = g_strnfill (2048, ' ');
  g_autofree char *over = g_strdup_printf ("POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                                           "Transfer-Encoding: chunked\r\n\r\n800\r\n%s\r\n"
                                           "0\r\n\r\n", big);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GSocket) socket = raw_connect (f->port);
      g_autofree char *body = NULL;
      g_autofree char *shown = g_strescape (cases[i].request, NULL);

      g_test_message ("well-formed head %u: %s", i, shown);
      raw_send_text (socket, cases[i].request);
      guint status = raw_response (socket, NULL);
      if (strstr (cases[i].request, "100-Continue") && status == SOUP_STATUS_CONTINUE)
        status = raw_response (socket, NULL);
      g_assert_cmpuint (status, ==, cases[i].status);
      /* libsoup closes an HTTP/1.0 connection after its response. */
      if (strstr (cases[i].request, "HTTP/1.0"))
        {
          raw_assert_closed (socket);
          continue;
        }
      raw_send_text (socket, over);
      g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
      g_free (assert_error_body (body, 413, "larger than 1024 bytes"));
    }
}

/* ---- out of descriptors -------------------------------------------------------------- */

static void
lower_descriptor_limit (gpointer data)
{
  struct rlimit limit = { 48, 48 };

  setrlimit (RLIMIT_NOFILE, &limit);
}

static guint64
cpu_ticks (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;

  g_assert_true (g_file_get_contents (path, &stat, NULL, NULL));
  g_auto(GStrv) fields = g_strsplit (strrchr (stat, ')') + 2, " ", 0);
  /* utime and stime: fields 14 and 15 of stat(5), 12 and 13 after the name. */
  return g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
}

static guint
count_lines_with (const char *path, const char *needle)
{
  g_autofree char *text = NULL;
  guint n = 0;

  g_file_get_contents (path, &text, NULL, NULL);
  for (const char *p = text; p && (p = strstr (p, needle)); p++)
    n++;
  return n;
}

/* The port `weft serve` prints once it listens. */
static guint
wait_port (const char *log)
{
  gint64 deadline = g_get_monotonic_time () + SLOW_S * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *text = NULL;
      const char *at;
      if (g_file_get_contents (log, &text, NULL, NULL) && (at = strstr (text, "(port ")))
        return (guint) g_ascii_strtoull (at + strlen ("(port "), NULL, 10);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
}

/* `weft serve` with 48 descriptors, and 100 connections: accepting backs
 * off instead of spinning, warns once, and serves again once descriptors
 * free up. */
static void
test_out_of_descriptors (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("weft-limits-XXXXXX", &error);
  g_autofree char *flows = g_build_filename (dir, "flows", NULL);
  g_autofree char *flow = g_build_filename (flows, "noop.json", NULL);
  g_autofree char *log = g_build_filename (dir, "serve.log", NULL);
  g_autofree char *weft = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "cli", "weft", NULL);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);

  g_assert_cmpint (g_mkdir (flows, 0700), ==, 0);
  g_assert_true (g_file_set_contents (flow, noop_flow, -1, NULL));
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  g_subprocess_launcher_set_child_setup (launcher, lower_descriptor_limit, NULL, NULL);
  g_autoptr(GSubprocess) serve = g_subprocess_launcher_spawn (
    launcher, &error, weft, "serve", "--flows", flows, "--listen", "127.0.0.1:0", NULL);
  g_assert_no_error (error);
  guint port = wait_port (log);
  GPid pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (serve), NULL, 10);

  for (guint i = 0; i < 100; i++)
    g_ptr_array_add (sockets, raw_connect (port));
  /* Let it reach the limit, then measure: before, accepting spun a whole
   * core and logged thousands of warnings a second. */
  g_usleep (G_USEC_PER_SEC / 2);
  guint64 before = cpu_ticks (pid);
  gint64 start = g_get_monotonic_time ();
  g_usleep (2 * G_USEC_PER_SEC);
  guint64 ticks = cpu_ticks (pid) - before;
  gint64 elapsed_us = g_get_monotonic_time () - start;
  guint warnings = count_lines_with (log, "accepting a connection");
  g_test_message ("out of descriptors: %" G_GUINT64_FORMAT " CPU ticks of %ld in %.1f s, "
                  "%u warnings", ticks, sysconf (_SC_CLK_TCK), elapsed_us / 1e6, warnings);
  g_assert_cmpuint (warnings, ==, 1);
  /* A spinning accept takes all 2 s; idle with its back-off, a few ticks. */
  g_assert_cmpuint (ticks, <, (guint64) sysconf (_SC_CLK_TCK) / 2);

  /* Once descriptors free up, it serves again. */
  g_ptr_array_set_size (sockets, 0);
  g_autoptr(GSocket) health = raw_connect (port);
  raw_send_text (health, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (health, NULL), ==, SOUP_STATUS_OK);

  g_subprocess_send_signal (serve, SIGTERM);
  g_assert_true (g_subprocess_wait (serve, NULL, &error));
  g_assert_cmpint (weft_test_exit_status (serve), ==, 0);
  weft_test_remove_dir (flows);
  weft_test_remove_dir (dir);
}

/* ---- weft serve's options -------------------------------------------------------------- */

static void
test_serve_options (void)
{
  static const struct {
    const char *option;
    const char *value;
    const char *needle;
  } cases[] = {
    { "--threads", "100000000", "--threads must be from 1 to 1024, not 100000000" },
    { "--threads", "0", "--threads must be from 1 to 1024, not 0" },
    { "--max-body", "0", "--max-body must be from 1 to 1073741824, not 0" },
    { "--keep-runs", "0", "--keep-runs must be from 1 to 1000000, not 0" },
    { "--keep-for", "-1", "--keep-for must be from 1 to" },
    { "--max-runs", "0", "--max-runs must be from 1 to 1000000, not 0" },
    { "--grace", "-5", "--grace must be from 0 to 86400, not -5" },
    { "--header-timeout", "0", "--header-timeout must be from 1 to 3600, not 0" },
    { "--body-timeout", "0", "--body-timeout must be from 1 to" },
    { "--idle-timeout", "0", "--idle-timeout must be from 1 to" },
    { "--write-timeout", "0", "--write-timeout must be from 1 to 86400, not 0" },
    { "--max-connections", "0", "--max-connections must be from 1 to 1000000, not 0" },
    { "--accept-backoff", "0", "--accept-backoff must be from 1 to 60000, not 0" },
    { "--max-url", "10", "--max-url must be from 64 to 64512, not 10" },
    { "--max-headers", "100000", "--max-headers must be from 1024 to 64512, not 100000" },
    { "--listen", "127.0.0.1:99999", "the port must be a number from 0 to 65535, not \"99999\"" },
    { "--listen", "[::1]:http", "the port must be a number from 0 to 65535, not \"http\"" },
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("weft-limits-XXXXXX", &error);
  g_autofree char *flow = g_build_filename (dir, "noop.json", NULL);
  g_autofree char *weft = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "cli", "weft", NULL);

  g_assert_true (g_file_set_contents (flow, noop_flow, -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *argv[] = { weft, "serve", "--flows", dir, cases[i].option, cases[i].value,
                             NULL };
      g_autofree char *out = NULL, *err = NULL;
      g_assert_cmpint (weft_test_run_command (argv, &out, &err), ==, 2);
      weft_test_assert_contains (err, cases[i].needle);
    }
  weft_test_remove_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/server-limits/huge-body-refused", Fixture, &token_options, fixture_set_up,
              test_huge_body_refused, fixture_tear_down);
  g_test_add ("/server-limits/chunked-stops-at-limit", Fixture, &small_body_options,
              fixture_set_up, test_chunked_stops_at_limit, fixture_tear_down);
  g_test_add ("/server-limits/chunked-malformed", Fixture, NULL, fixture_set_up,
              test_chunked_malformed, fixture_tear_down);
  g_test_add ("/server-limits/idle-connections-closed", Fixture, &quick_options, fixture_set_up,
              test_idle_connections_closed, fixture_tear_down);
  g_test_add ("/server-limits/slow-requests", Fixture, &quick_options, fixture_set_up,
              test_slow_requests, fixture_tear_down);
  g_test_add ("/server-limits/stream-outlives-timeouts", Fixture, &quick_options,
              fixture_set_up, test_stream_outlives_timeouts, fixture_tear_down);
  g_test_add ("/server-limits/connection-cap", Fixture, &two_connections_options,
              fixture_set_up, test_connection_cap, fixture_tear_down);
  g_test_add ("/server-limits/error-shapes", Fixture, NULL, fixture_set_up, test_error_shapes,
              fixture_tear_down);
  g_test_add ("/server-limits/malformed-heads", Fixture, NULL, fixture_set_up,
              test_malformed_heads, fixture_tear_down);
  g_test_add ("/server-limits/wellformed-heads", Fixture, &small_body_options, fixture_set_up,
              test_wellformed_heads, fixture_tear_down);
  g_test_add ("/server-limits/half-close", Fixture, &patient_options, fixture_set_up,
              test_half_close, fixture_tear_down);
  g_test_add ("/server-limits/connection-slots-freed", Fixture, &two_slots_options,
              fixture_set_up, test_connection_slots_freed, fixture_tear_down);
  g_test_add ("/server-limits/write-timeout", Fixture, &write_options, fixture_set_up,
              test_write_timeout, fixture_tear_down);
  g_test_add_func ("/server-limits/out-of-descriptors", test_out_of_descriptors);
  g_test_add_func ("/server-limits/serve-options", test_serve_options);
  return g_test_run ();
}
