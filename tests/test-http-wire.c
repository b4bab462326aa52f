/* test-http-wire.c — HTTP/1.1 as weft's lean client transport writes a
 * request and reads an answer (core/weft-http-wire.c), without sockets:
 * the request's head, and answers fed whole and one byte at a time, as
 * reads may cut them.  (test-http drives the same code over sockets.)
 * The wire's files are compiled in: libweft does not export them. */
#include "weft-test.h"
#include "weft-http-private.h"

static gsize
take_all (const guint8 *data, gsize n, gpointer user_data)
{
  g_byte_array_append (user_data, data, (guint) n);
  return n;
}

typedef struct {
  WeftHttpWireResult result;
  gsize used;                   /* of the last feed */
  guint status;
  char *body;
  char *reason;
} Read;

static void
read_clear (Read *r)
{
  g_free (r->body);
  g_free (r->reason);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Read, read_clear)

/* `answer` in reads of `piece` bytes (0: whole), an incomplete head line
 * handed again with the next read; then the end of the connection when it
 * is still waiting. */
static void
read_answer (const char *answer, gsize piece, gboolean head_request, Read *r)
{
  g_autoptr(WeftHttpResponse) response = weft_http_response_new ();
  g_autoptr(GByteArray) body = g_byte_array_new ();
  g_autoptr(GByteArray) kept = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  gsize size = strlen (answer), at = 0;
  WeftHttpWire wire;

  weft_http_wire_init (&wire, response, head_request, take_all, body);
  r->result = WEFT_HTTP_WIRE_MORE;
  while (at < size && r->result == WEFT_HTTP_WIRE_MORE)
    {
      gsize n = piece == 0 ? size - at : MIN (piece, size - at);

      g_byte_array_append (kept, (const guint8 *) answer + at, (guint) n);
      at += n;
      r->result = weft_http_wire_feed (&wire, kept->data, kept->len, &r->used, &error);
      g_assert_cmpuint (r->used, <=, kept->len);
      g_byte_array_remove_range (kept, 0, (guint) r->used);
    }
  if (r->result == WEFT_HTTP_WIRE_MORE && weft_http_wire_end (&wire, &error))
    r->result = WEFT_HTTP_WIRE_DONE;
  r->status = weft_http_response_get_status (response);
  r->body = body->len > 0 ? g_strndup ((const char *) body->data, body->len) : g_strdup ("");
  r->reason = error != NULL ? g_strdup (error->message) : NULL;
}

/* Read whole and byte by byte, the same. */
static void
check_answer (const char *answer, gboolean head_request, WeftHttpWireResult result, guint status,
              const char *body, const char *reason)
{
  for (gsize piece = 0; piece <= 1; piece++)
    {
      g_auto(Read) r = { 0 };

      read_answer (answer, piece, head_request, &r);
      g_assert_cmpint (r.result, ==, result);
      g_assert_cmpuint (r.status, ==, status);
      g_assert_cmpstr (r.body, ==, body);
      if (reason == NULL)
        g_assert_null (r.reason);
      else
        weft_test_assert_contains (r.reason, reason);
    }
}

static void
test_framing (void)
{
  check_answer ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", FALSE,
                WEFT_HTTP_WIRE_DONE, 200, "hello", NULL);
  check_answer ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "1\r\na\r\n2;x=y\r\nbb\r\n0\r\nTrailer: t\r\n\r\n", FALSE,
                WEFT_HTTP_WIRE_DONE, 200, "abb", NULL);
  check_answer ("HTTP/1.0 200 OK\r\n\r\nto the close", FALSE, WEFT_HTTP_WIRE_DONE, 200,
                "to the close", NULL);
  check_answer ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                FALSE, WEFT_HTTP_WIRE_DONE, 200, "ok", NULL);
  /* No body, whatever the head says. */
  check_answer ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", TRUE, WEFT_HTTP_WIRE_DONE,
                200, "", NULL);
  check_answer ("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", FALSE,
                WEFT_HTTP_WIRE_DONE, 204, "", NULL);
}

static void
test_refused (void)
{
  check_answer ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                FALSE, WEFT_HTTP_WIRE_FAILED, 200, "", "Content-Length is not one number");
  check_answer ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", FALSE,
                WEFT_HTTP_WIRE_FAILED, 200, "", "Content-Length is not one number");
  check_answer ("hello\r\n\r\n", FALSE, WEFT_HTTP_WIRE_FAILED, 0, "", "status line");
  check_answer ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", FALSE,
                WEFT_HTTP_WIRE_MORE, 200, "hello", "with 5 bytes remaining");
  check_answer ("", FALSE, WEFT_HTTP_WIRE_MORE, 0, "", "without an answer");
}

/* fuzz-http-response: the head and a chunk size that is not one in one
 * read; the wire said it used more bytes than it was given. */
static void
test_bad_chunk_after_head (void)
{
  check_answer ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n`\r\ntxe;2=1\r\n",
                FALSE, WEFT_HTTP_WIRE_FAILED, 200, "`\r", "malformed chunked body");
}

static void
test_request_head (void)
{
  WeftHttpRequest *request = weft_http_request_new ("POST", "http://127.0.0.1:8080?q=1#frag");
  g_autoptr(GBytes) body = g_bytes_new_static ("{}", 2);
  g_autoptr(GBytes) head = NULL;
  g_autofree char *text = NULL;

  weft_http_request_add_header (request, "Accept", "application/json");
  weft_http_request_add_header (request, "X-Empty", "");
  weft_http_request_set_body (request, "application/json", body);
  head = weft_http_wire_request_head (request, "127.0.0.1:8080");
  text = g_strndup (g_bytes_get_data (head, NULL), g_bytes_get_size (head));
  g_assert_cmpstr (text, ==, "POST /?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                             "Accept: application/json\r\n"
                             "Content-Type: application/json\r\nContent-Length: 2\r\n");
  weft_http_request_free (request);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/http-wire/framing", test_framing);
  g_test_add_func ("/http-wire/refused", test_refused);
  g_test_add_func ("/http-wire/bad-chunk-after-head", test_bad_chunk_after_head);
  g_test_add_func ("/http-wire/request-head", test_request_head);
  return g_test_run ();
}
