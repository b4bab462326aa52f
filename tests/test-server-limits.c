/* test-server-limits.c — `weft serve`'s sizes and framing, against
 * hostile clients.
 *
 * Over raw sockets (weft-test-raw-http.h): bodies refused before they
 * are read (the server's memory unchanged by a 100 MB body after a 100 GB
 * Content-Length), chunked bodies stopped at the limit and their
 * malformed framing refused (trailers and size lines read where libsoup
 * reads them), error answers in weft's JSON shape (414,
 * 431, %00, OPTIONS *, long or invalid ids, and every malformed head
 * libsoup would answer with an empty body), well-formed heads read on
 * kept-alive connections, and serve's options.  Connection lifetimes,
 * timeouts and slots are test-server-conn.c's. */
#include "weft-test-raw-http.h"

#include <unistd.h>

/* This process's resident memory: the server runs in it. */
static gsize
resident_bytes (void)
{
  g_autofree char *statm = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  return (gsize) g_ascii_strtoull (strchr (statm, ' ') + 1, NULL, 10)
         * (gsize) sysconf (_SC_PAGESIZE);
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

  /* Trailers, however many, end where the framing says, and the next
   * request is read from its first byte: libsoup 3.2 alone ends the body
   * at the first trailer field and took the second for a request. */
  g_autofree char *trailers = g_strconcat (head, "2\r\n{}\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
                                           "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
  raw_send_text (socket, trailers);
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_ACCEPTED);
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_OK);
  raw_send_text (socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_OK);
}

/* A chunk size line is at most 128 bytes, extensions and CRLF included:
 * libsoup 3.2 reads it into that much, and past it dropped the connection
 * without an answer. */
static void
test_chunk_size_line (Fixture *f, gconstpointer data)
{
  static const char head[] = "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n";
  /* "2;" and CRLF, then the extension's name. */
  g_autofree char *fits = g_strnfill (128 - 4, 'e');
  g_autofree char *over = g_strnfill (128 - 4 + 1, 'e');
  g_autofree char *zeros = g_strnfill (200, '0');

  g_autoptr(GSocket) socket = raw_connect (f->port);
  g_autofree char *at_limit = g_strconcat (head, "2;", fits, "\r\n{}\r\n0\r\n\r\n", NULL);
  raw_send_text (socket, at_limit);
  g_assert_cmpuint (raw_response (socket, NULL), ==, SOUP_STATUS_ACCEPTED);

  g_autofree char *past = g_strconcat (head, "2;", over, "\r\n{}\r\n0\r\n\r\n", NULL);
  assert_refused (f->port, past, strlen (past), SOUP_STATUS_BAD_REQUEST,
                  "a chunk size line is longer than 128 bytes");
  g_autofree char *long_size = g_strconcat (head, zeros, "2\r\n{}\r\n0\r\n\r\n", NULL);
  assert_refused (f->port, long_size, strlen (long_size), SOUP_STATUS_BAD_REQUEST,
                  "a chunk size line is longer than 128 bytes");
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
    { "Transfer-Encoding: \r\n\r\n{}", 400, "malformed Transfer-Encoding \"\"" },
    { "Transfer-Encoding:\t\n\r\n{}", 400, "malformed Transfer-Encoding \"\"" },
    /* Around a value libsoup takes only spaces and tabs for whitespace: it
     * answered these itself, with empty bodies (and leaked the path). */
    { "Transfer-Encoding: chunked\f\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 501,
      "transfer coding \"chunked" },
    { "Content-Length: 2\v\r\n\r\n{}", 400, "is not a number of bytes" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\f\r\n\r\n", 417,
      "unsupported expectation" },
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
    { "POST /v1/flows/noop/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\t chunked \t\r\n\r\n"
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
  g_test_add ("/server-limits/chunk-size-line", Fixture, NULL, fixture_set_up,
              test_chunk_size_line, fixture_tear_down);
  g_test_add ("/server-limits/error-shapes", Fixture, NULL, fixture_set_up, test_error_shapes,
              fixture_tear_down);
  g_test_add ("/server-limits/malformed-heads", Fixture, NULL, fixture_set_up,
              test_malformed_heads, fixture_tear_down);
  g_test_add ("/server-limits/wellformed-heads", Fixture, &small_body_options, fixture_set_up,
              test_wellformed_heads, fixture_tear_down);
  g_test_add_func ("/server-limits/serve-options", test_serve_options);
  return g_test_run ();
}
