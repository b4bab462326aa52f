/* test-server-conn.c — how long `weft serve`'s connections live, and
 * how many: against clients that wait, leave or stop reading.
 *
 * Over raw sockets (weft-test-raw-http.h): idle and slowloris
 * connections timed out (408), an event stream that outlives every
 * timeout, the connection cap, accepting at the descriptor limit without
 * spinning, clients that half-close or close after a request, with or
 * without a body, or in the middle of one (answered, then let go at
 * once, their slots freed, and a request left unfinished never handled),
 * and clients that stop reading (reset after the write timeout).  Sizes
 * and framing are test-server-limits.c's. */
#include "weft-test-raw-http.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

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
 * clients left.  Two slots: one kept would soon leave the next
 * connection unanswered. */
static const WeftServerOptions patient_options = { .idle_timeout_s = 3600, .max_connections = 2 };

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

/* A kickoff of the echo flow with a body, by length and chunked. */
static const char kickoff_202[] = "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 25\r\n\r\n{\"inputs\": {\"text\": \"a\"}}";
static const char kickoff_chunked[] = "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n"
                                      "b\r\n{\"inputs\": \r\ne\r\n{\"text\": \"a\"}}\r\n0\r\n\r\n";

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
  /* The same after a request with a body: before, the idle timeout closed
   * the socket but the slot stayed taken, and the third round was never
   * accepted. */
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GSocket) first = raw_connect (f->port);
      g_autoptr(GSocket) second = raw_connect (f->port);
      g_test_message ("connections %u, a body each, closed by the idle timeout", i);
      raw_send_text (first, kickoff_202);
      raw_send_text (second, kickoff_chunked);
      g_assert_cmpuint (raw_response (first, NULL), ==, SOUP_STATUS_ACCEPTED);
      g_assert_cmpuint (raw_response (second, NULL), ==, SOUP_STATUS_ACCEPTED);
      raw_assert_closed (first);
      raw_assert_closed (second);
    }
}

/* ---- slots freed after requests with bodies ---------------------------------------------- */

/* How a client leaves once its request is out. */
typedef enum {
  LEAVE_HALF_CLOSE,           /* shuts its sending side, reads the answer */
  LEAVE_CLOSE_AFTER,          /* reads the answer, then closes (curl) */
  LEAVE_CLOSE_AT_ONCE,        /* closes without reading anything */
  LEAVE_RESET,                /* reads the answers, then resets */
} Leave;

/* `request` on more connections than there are slots, one after the
 * other, each client leaving as `leave` says; the answers (when read)
 * are `statuses`, ended by 0, the last error's message containing
 * `needle`.  Each connection is served only if those before it freed
 * their slots, and a last request checks that the server still answers:
 * a slot kept would leave it waiting in the backlog past SLOW_S. */
static void
assert_slots_freed (guint port, const char *request, Leave leave, const guint *statuses,
                    const char *needle)
{
  g_autofree char *shown = g_strescape (request, NULL);

  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(GSocket) socket = raw_connect (port);

      g_test_message ("leaving (%d) after %.80s, %u", leave, shown, i);
      g_assert_true (raw_send_text (socket, request));
      if (leave == LEAVE_CLOSE_AT_ONCE)
        {
          g_socket_close (socket, NULL);
          continue;
        }
      if (leave == LEAVE_HALF_CLOSE)
        raw_half_close (socket);
      g_autofree char *error = NULL;
      guint error_status = 0;
      for (const guint *status = statuses; *status; status++)
        {
          g_autofree char *body = NULL;
          g_assert_cmpuint (raw_response (socket, &body), ==, *status);
          if (*status >= 400)
            {
              g_free (error);
              error = g_steal_pointer (&body);
              error_status = *status;
            }
        }
      if (needle)
        g_free (assert_error_body (error, error_status, needle));
      if (leave == LEAVE_HALF_CLOSE)
        raw_assert_closed (socket);
      if (leave == LEAVE_RESET)
        {
          struct linger reset = { .l_onoff = 1, .l_linger = 0 };
          g_assert_cmpint (setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &reset,
                                       sizeof reset), ==, 0);
        }
      g_socket_close (socket, NULL);
    }
  g_autoptr(GSocket) last = raw_connect (port);
  raw_send_text (last, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (last, NULL), ==, SOUP_STATUS_OK);
}

static const guint answered_202[] = { SOUP_STATUS_ACCEPTED, 0 };
static const guint answered_400[] = { SOUP_STATUS_BAD_REQUEST, 0 };

/* A request with a body frees its connection's slot once answered,
 * whatever its answer and however its client leaves: before, every such
 * connection whose client half-closed or closed after it was kept for
 * good, and after --max-connections of them nothing was accepted (the
 * HTTP fuzzer's "no answer and no close" after ~47,000 inputs). */
static void
test_bodies_free_slots (Fixture *f, gconstpointer data)
{
  /* Not static: the answers' lists are compound literals. */
  const struct {
    const char *request;
    const guint *statuses;
    const char *needle;
  } cases[] = {
    { kickoff_202, answered_202, NULL },
    { kickoff_chunked, answered_202, NULL },
    { "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{]",
      answered_400, "malformed JSON in the body" },
    { "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
      answered_400, "missing input \"text\"" },
    { "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
      (const guint[]) { SOUP_STATUS_NOT_FOUND, 0 }, "no such endpoint" },
    /* A second request after the body, pipelined. */
    { "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      (const guint[]) { SOUP_STATUS_BAD_REQUEST, SOUP_STATUS_OK, 0 }, "missing input" },
    /* Refused from its head, in the first bytes libsoup would have had. */
    { "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{}",
      (const guint[]) { SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, 0 }, "larger than" },
    { "HELLO\r\n\r\n", answered_400, "malformed request line" },
  };
  static const Leave leaves[] = { LEAVE_HALF_CLOSE, LEAVE_CLOSE_AFTER, LEAVE_CLOSE_AT_ONCE };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    for (guint j = 0; j < G_N_ELEMENTS (leaves); j++)
      assert_slots_freed (f->port, cases[i].request, leaves[j], cases[i].statuses,
                          cases[i].needle);
}

/* A client that half-closes in the middle of a body gets its 400 and
 * frees its slot, however much of the body had come. */
static void
test_cut_bodies_free_slots (Fixture *f, gconstpointer data)
{
  static const char post[] = "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n";
  static const struct {
    const char *rest;
    const char *needle;
  } cases[] = {
    { "Content-Length: 10\r\n\r\n{}", "the request body ended after 2 of its 10 bytes" },
    { "Content-Length: 10\r\n\r\n", "the request body ended after 0 of its 10 bytes" },
    { "Transfer-Encoding: chunked\r\n\r\n2\r\n{", "it ended before its last chunk" },
    { "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", "it ended before its last chunk" },
    { "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", "it ended before its last chunk" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *request = g_strconcat (post, cases[i].rest, NULL);
      assert_slots_freed (f->port, request, LEAVE_HALF_CLOSE, answered_400, cases[i].needle);
    }
  /* Half-closed while the rest of the body is still on its way: the
   * connection must not wait for it (nor for the body timeout). */
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(GSocket) socket = raw_connect (f->port);
      g_autofree char *body = NULL;
      raw_send_text (socket, "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                             "Content-Length: 100\r\n\r\n{\"inputs\": ");
      g_usleep (G_USEC_PER_SEC / 20);
      raw_send_text (socket, "{\"text\": ");
      raw_half_close (socket);
      g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_BAD_REQUEST);
      g_free (assert_error_body (body, 400, "the request body ended after 20 of its 100 bytes"));
      raw_assert_closed (socket);
    }
}

/* "runs_started" of /healthz. */
static guint64
raw_runs_started (guint port)
{
  g_autoptr(GSocket) socket = raw_connect (port);
  g_autofree char *body = NULL;

  raw_send_text (socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, &body), ==, SOUP_STATUS_OK);
  g_autoptr(JsonNode) json = json_from_string (body, NULL);
  g_assert_nonnull (json);
  return (guint64) json_object_get_int_member (json_node_get_object (json), "runs_started");
}

/* A request refused because its client left in the middle of it is never
 * handled, and its connection ends: before, libsoup read the end of the
 * input after the 400 as the end of a chunked body (or of a head), handled
 * the request, and started the run the client had been told was refused;
 * and a request cut after an earlier one on the same connection kept the
 * connection for good.  Each is sent on more connections than there are
 * slots. */
static void
test_refused_not_handled (Fixture *f, gconstpointer data)
{
  static const char chunked[] = "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"
                                "19\r\n{\"inputs\": {\"text\": \"a\"}}\r\n";
  static const char unended[] = "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: 0\r\n";
  static const char cut_chunk[] = "it ended before its last chunk";
  static const char cut_head[] = "the request head ended before its empty line";
  g_autofree char *after_chunk = g_strdup (chunked);
  g_autofree char *after_last = g_strconcat (chunked, "0\r\n", NULL);
  g_autofree char *after_trailer = g_strconcat (chunked, "0\r\nX-T: 1\r\n", NULL);
  g_autofree char *after_get = g_strconcat ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", unended,
                                            NULL);
  g_autofree char *after_body = g_strconcat ("POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\n"
                                             "Content-Length: 2\r\n\r\n{]", unended, NULL);
  g_autofree char *after_body_short = g_strconcat ("POST /v1/flows/echo/runs HTTP/1.1\r\n"
                                                   "Host: x\r\nContent-Length: 2\r\n\r\n{]POST",
                                                   NULL);
  const struct {
    const char *request;
    const guint *statuses;
    const char *needle;
  } cases[] = {
    { after_chunk, (const guint[]) { 400, 0 }, cut_chunk },
    { after_last, (const guint[]) { 400, 0 }, cut_chunk },
    { after_trailer, (const guint[]) { 400, 0 }, cut_chunk },
    { unended, (const guint[]) { 400, 0 }, cut_head },
    { after_get, (const guint[]) { 200, 400, 0 }, cut_head },
    { after_body, (const guint[]) { 400, 400, 0 }, cut_head },
    { after_body_short, (const guint[]) { 400, 400, 0 }, cut_head },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint64 before = raw_runs_started (f->port);
      assert_slots_freed (f->port, cases[i].request, LEAVE_HALF_CLOSE, cases[i].statuses,
                          cases[i].needle);
      /* Handled, it would have been by now: the slots it freed come after. */
      g_assert_cmpuint (raw_runs_started (f->port), ==, before);
    }
  /* Reset after part of the next head: before, the reset reached libsoup
   * as an error there, and the connection was kept for good. */
  g_autofree char *get_then_part = g_strconcat ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                                "POST /v1", NULL);
  g_autofree char *body_then_part = g_strconcat ("POST /v1/flows/echo/runs HTTP/1.1\r\n"
                                                 "Host: x\r\nContent-Length: 2\r\n\r\n{]",
                                                 "POST /v1", NULL);
  assert_slots_freed (f->port, get_then_part, LEAVE_RESET, (const guint[]) { 200, 0 }, NULL);
  assert_slots_freed (f->port, body_then_part, LEAVE_RESET, (const guint[]) { 400, 0 },
                      "malformed JSON");
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/server-conn/idle-connections-closed", Fixture, &quick_options, fixture_set_up,
              test_idle_connections_closed, fixture_tear_down);
  g_test_add ("/server-conn/slow-requests", Fixture, &quick_options, fixture_set_up,
              test_slow_requests, fixture_tear_down);
  g_test_add ("/server-conn/stream-outlives-timeouts", Fixture, &quick_options,
              fixture_set_up, test_stream_outlives_timeouts, fixture_tear_down);
  g_test_add ("/server-conn/connection-cap", Fixture, &two_connections_options,
              fixture_set_up, test_connection_cap, fixture_tear_down);
  g_test_add ("/server-conn/half-close", Fixture, &patient_options, fixture_set_up,
              test_half_close, fixture_tear_down);
  g_test_add ("/server-conn/connection-slots-freed", Fixture, &two_slots_options,
              fixture_set_up, test_connection_slots_freed, fixture_tear_down);
  g_test_add ("/server-conn/bodies-free-slots", Fixture, &patient_options,
              fixture_set_up, test_bodies_free_slots, fixture_tear_down);
  g_test_add ("/server-conn/cut-bodies-free-slots", Fixture, &patient_options,
              fixture_set_up, test_cut_bodies_free_slots, fixture_tear_down);
  g_test_add ("/server-conn/refused-not-handled", Fixture, &patient_options, fixture_set_up,
              test_refused_not_handled, fixture_tear_down);
  g_test_add ("/server-conn/write-timeout", Fixture, &write_options, fixture_set_up,
              test_write_timeout, fixture_tear_down);
  g_test_add_func ("/server-conn/out-of-descriptors", test_out_of_descriptors);
  return g_test_run ();
}
