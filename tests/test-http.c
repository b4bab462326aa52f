/* test-http.c — weft's HTTP client (weft-sdk.h's weft_http_*) against
 * servers the test starts on 127.0.0.1: the test server of
 * weft-test-http-server.h, Debian's nghttpd for HTTP/2 over TLS (with a
 * certificate made by openssl), and the test server again as a proxy.
 * What is missing is said, and its tests skipped.
 *
 * The blocking API (weft_http_send) is used from the test's threads; the
 * engine loop's (weft_task_http_send) from an async agent defined here,
 * registered as a built-in plugin. */
#define _GNU_SOURCE             /* strcasestr */
#include "weft-test-http-server.h"

static TestServer *server;      /* for the whole program: never stopped */

static WeftHttpResponse *
get (const char *path, guint follow, GError **error)
{
  g_autofree char *url = test_server_url (server, path);
  WeftHttpRequest *request = weft_http_request_new ("GET", url);

  weft_http_request_set_follow_redirects (request, follow);
  weft_http_request_set_timeout_ms (request, 30000);
  return weft_http_send (request, NULL, error);
}

static char *
body_text (WeftHttpResponse *response)
{
  gsize size;
  const char *data = g_bytes_get_data (weft_http_response_get_body (response), &size);

  return g_strndup (data, size);
}

/* ---- HTTP/1.1 -------------------------------------------------------------- */

static void
test_keep_alive (void)
{
  g_autofree char *first = NULL;

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftHttpResponse) response = get ("/echo", 0, &error);
      g_autofree char *text = NULL;

      g_assert_no_error (error);
      g_assert_cmpuint (weft_http_response_get_status (response), ==, 200);
      g_assert_cmpstr (weft_http_response_get_reason (response), ==, "OK");
      g_assert_cmpuint (weft_http_response_get_version (response), ==, 11);
      g_assert_cmpstr (weft_http_response_get_header (response, "content-length"), !=, NULL);
      text = body_text (response);
      g_assert_true (g_str_has_prefix (text, "conn="));
      /* One connection for the three: the same id each time. */
      if (first == NULL)
        first = g_strndup (text, strcspn (text, " "));
      else
        g_assert_true (g_str_has_prefix (text, first));
    }
}

static gpointer
slow_thread (gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = get ("/slow", 0, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (weft_http_response_get_status (response), ==, 200);
  return NULL;
}

/* Eight at once, two connections allowed: the others wait their turn. */
static void
test_pool_bound (void)
{
  GThread *threads[8];
  guint before = test_server_get (server, &server->next_id);

  weft_http_set_max_connections_per_host (2);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("slow", slow_thread, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  weft_http_set_max_connections_per_host (0);
  /* The connection of the earlier tests may be one of the two. */
  g_assert_cmpuint (test_server_get (server, &server->next_id) - before, <=, 2);
  g_assert_cmpuint (test_server_get (server, &server->max_open), <=, 3);
}

static void
test_chunked (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = get ("/chunked", 0, &error);
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  text = body_text (response);
  g_assert_cmpstr (text, ==, "abbccc");
  g_assert_false (weft_http_response_is_truncated (response));
}

static void
test_big (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = NULL;
  g_autofree char *url = test_server_url (server, "/big");
  WeftHttpRequest *request = weft_http_request_new ("GET", url);
  GBytes *body;
  gsize size;
  const guint8 *data;

  weft_http_request_set_max_body (request, 16 * 1024 * 1024);
  response = weft_http_send (request, NULL, &error);
  g_assert_no_error (error);
  body = weft_http_response_get_body (response);
  data = g_bytes_get_data (body, &size);
  g_assert_cmpuint (size, ==, TEST_BIG_SIZE);
  for (gsize i = 0; i < size; i += 4093)
    g_assert_cmpint (data[i], ==, 'a' + i % 26);
  g_assert_false (weft_http_response_is_truncated (response));
  g_clear_pointer (&response, weft_http_response_free);

  /* The default keeps 8 MiB, and says so. */
  response = get ("/big", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (weft_http_response_get_body (response)), ==, 8 * 1024 * 1024);
  g_assert_true (weft_http_response_is_truncated (response));
}

/* The server closes after 40 of the 1000 bytes it announced. */
static void
test_server_closes (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = get ("/cut", 0, &error);

  g_assert_null (response);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_FAILED);
  weft_test_assert_contains (error->message, "960 bytes remaining");
}

static void
test_redirects (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) followed = get ("/redirect", 3, &error);
  g_autoptr(WeftHttpResponse) not_followed = get ("/redirect", 0, &error);
  g_autofree char *url = test_server_url (server, "/redirect");
  WeftHttpRequest *post = weft_http_request_new ("POST", url);
  g_autoptr(GBytes) body = g_bytes_new_static ("{}", 2);
  g_autoptr(WeftHttpResponse) posted = NULL;
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (weft_http_response_get_status (followed), ==, 200);
  text = body_text (followed);
  weft_test_assert_contains (text, "method=GET");
  g_assert_cmpuint (weft_http_response_get_status (not_followed), ==, 302);
  g_assert_cmpstr (weft_http_response_get_header (not_followed, "Location"), ==, "/echo");
  /* A POST is never redirected, even when asked. */
  weft_http_request_set_body (post, "application/json", body);
  weft_http_request_set_follow_redirects (post, 3);
  posted = weft_http_send (post, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (weft_http_response_get_status (posted), ==, 302);
}

static void
test_timeout (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = test_server_url (server, "/hang");
  WeftHttpRequest *request = weft_http_request_new ("GET", url);
  g_autoptr(WeftHttpResponse) response = NULL;

  weft_http_request_set_timeout_ms (request, 200);
  response = weft_http_send (request, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT);
}

static gpointer
cancel_thread (gpointer cancellable)
{
  g_usleep (300 * 1000);
  g_cancellable_cancel (cancellable);
  return NULL;
}

/* Cancelled 300 ms into a 5 s answer: the call ends, the connection goes
 * (the server sees it gone). */
static void
test_cancel_mid_body (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *url = test_server_url (server, "/stream");
  WeftHttpRequest *request = weft_http_request_new ("GET", url);
  guint cut = test_server_get (server, &server->streams_cut);
  GThread *thread = g_thread_new ("cancel", cancel_thread, cancellable);
  g_autoptr(WeftHttpResponse) response = weft_http_send (request, cancellable, &error);
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_thread_join (thread);
  g_assert_null (response);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED);
  while (test_server_get (server, &server->streams_cut) == cut && g_get_monotonic_time () < until)
    g_usleep (20 * 1000);
  g_assert_cmpuint (test_server_get (server, &server->streams_cut), ==, cut + 1);
}

/* ---- answers that are wrong or unusual ------------------------------------- */

/* Each test below runs over both transports (test-http and
 * test-http-libcurl, where WEFT_HTTP_TRANSPORT=libcurl): the lean one
 * carries these requests, to 127.0.0.1 without a proxy. */
static gboolean
lean_transport (void)
{
  return g_strcmp0 (g_getenv ("WEFT_HTTP_TRANSPORT"), "libcurl") != 0;
}

/* The N of the "conn=N" an answer starts with. */
static guint
conn_of (WeftHttpResponse *response)
{
  g_autofree char *text = body_text (response);

  g_assert_true (g_str_has_prefix (text, "conn="));
  return (guint) g_ascii_strtoull (text + strlen ("conn="), NULL, 10);
}

/* A GET that must succeed: its response. */
static WeftHttpResponse *
get_ok (const char *path)
{
  g_autoptr(GError) error = NULL;
  WeftHttpResponse *response = get (path, 0, &error);

  g_assert_no_error (error);
  return response;
}

static void
assert_get_fails (const char *path, const char *lean_message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = get (path, 0, &error);

  g_assert_null (response);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_FAILED);
  if (lean_transport ())
    weft_test_assert_contains (error->message, lean_message);
}

/* Bytes after an answer (a second answer nobody asked for, or more than
 * its Content-Length): the answer is read as announced, and its
 * connection is not used again. */
static void
test_extra_bytes (void)
{
  g_autoptr(WeftHttpResponse) first = get_ok ("/extra");
  g_autoptr(WeftHttpResponse) next = NULL;
  g_autofree char *text = body_text (first);
  g_autofree char *want = g_strdup_printf ("conn=%u", conn_of (first));

  g_assert_cmpuint (weft_http_response_get_status (first), ==, 200);
  g_assert_cmpstr (text, ==, want);
  next = get_ok ("/echo");
  g_assert_cmpuint (conn_of (next), !=, conn_of (first));
}

/* A head past 256 KiB, in many lines or in one that does not end. */
static void
test_head_too_large (void)
{
  assert_get_fails ("/big-head", "larger than 256 KiB");
  if (lean_transport ())
    assert_get_fails ("/long-line", "larger than 256 KiB");
}

static void
test_bad_chunks (void)
{
  assert_get_fails ("/bad-chunk", "malformed chunked body");
  assert_get_fails ("/bad-chunk-end", "malformed chunked body");
}

/* No length, no chunks: the body ends with the connection. */
static void
test_read_to_close (void)
{
  g_autoptr(WeftHttpResponse) response = get_ok ("/to-close");
  g_autofree char *text = body_text (response);

  g_assert_true (g_str_has_prefix (text, "conn="));
  g_assert_true (g_str_has_suffix (text, " read to the close"));
  g_assert_false (weft_http_response_is_truncated (response));
}

/* 100 and 103 before the answer: skipped, their headers not kept. */
static void
test_interim (void)
{
  g_autoptr(WeftHttpResponse) response = get_ok ("/interim");
  g_autofree char *text = body_text (response);

  g_assert_cmpuint (weft_http_response_get_status (response), ==, 200);
  g_assert_cmpstr (text, ==, "ok");
  g_assert_null (weft_http_response_get_header (response, "Link"));
}

/* A 304 has no body, whatever its Content-Length says: the connection
 * carries the next request. */
static void
test_not_modified (void)
{
  g_autoptr(WeftHttpResponse) before = get_ok ("/echo");
  g_autoptr(WeftHttpResponse) response = get_ok ("/not-modified");
  g_autoptr(WeftHttpResponse) after = get_ok ("/echo");

  g_assert_cmpuint (weft_http_response_get_status (response), ==, 304);
  g_assert_cmpuint (g_bytes_get_size (weft_http_response_get_body (response)), ==, 0);
  g_assert_cmpuint (conn_of (after), ==, conn_of (before));
}

/* "Connection: close" from the server: the next request takes a new
 * connection, without an error. */
static void
test_server_says_close (void)
{
  g_autoptr(WeftHttpResponse) closing = get_ok ("/closing");
  g_autoptr(WeftHttpResponse) next = get_ok ("/echo");

  g_assert_cmpuint (conn_of (next), !=, conn_of (closing));
}

/* A kept-alive connection the server closes as the next request arrives:
 * nothing of the answer was read, so the request goes again, once, over a
 * new connection. */
static void
test_stale_keep_alive (void)
{
  g_autoptr(WeftHttpResponse) first = get_ok ("/stale");
  g_autoptr(WeftHttpResponse) again = get_ok ("/echo");
  g_autofree char *text = body_text (again);

  weft_test_assert_contains (text, "method=GET");
  g_assert_cmpuint (conn_of (again), !=, conn_of (first));
}

static void
test_bad_requests (void)
{
  const struct { const char *method, *url, *name, *value, *want; } cases[] = {
    { "GE T", "http://127.0.0.1/", NULL, NULL, "is not an HTTP method" },
    { "GET", "ftp://127.0.0.1/", NULL, NULL, "is not an absolute http or https URL" },
    { "GET", "http:///path", NULL, NULL, "is not an absolute http or https URL" },
    { "GET", "http://127.0.0.1/a b", NULL, NULL, "is not an absolute http or https URL" },
    { "GET", "http://127.0.0.1/", "X-A", "1\r\nX-B: 2", "has a line break" },
    { "GET", "http://127.0.0.1/", "X A", "1", "is not a token" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      WeftHttpRequest *request = weft_http_request_new (cases[i].method, cases[i].url);

      if (cases[i].name != NULL)
        weft_http_request_add_header (request, cases[i].name, cases[i].value);
      g_assert_null (weft_http_send (request, NULL, &error));
      g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
      weft_test_assert_contains (error->message, cases[i].want);
    }
}

/* ---- on the engine loop: an async agent that fetches its description ------ */

typedef struct {
  WeftTask *task;
  WeftHttpCall *call;
  GString *seen;              /* "head 200;" "piece N;" ... */
  guint pieces;
  gboolean stop_after_first;
} Fetch;

static gboolean
fetch_piece (const WeftHttpResponse *head, const guint8 *data, gsize size, gpointer user_data)
{
  Fetch *f = user_data;

  if (size == 0)
    {
      g_string_append_printf (f->seen, "head %u;", weft_http_response_get_status (head));
      return TRUE;
    }
  f->pieces++;
  g_string_append_len (f->seen, (const char *) data, (gssize) size);
  if (f->stop_after_first)
    {
      /* Returning FALSE cancels the call: nothing more comes. */
      weft_task_return (f->task, f->seen->str);
      g_string_free (f->seen, TRUE);
      g_free (f);
      return FALSE;
    }
  return TRUE;
}

static void
fetch_done (WeftHttpResponse *response, const GError *error, gpointer user_data)
{
  Fetch *f = user_data;

  if (response == NULL)
    weft_task_return_error (f->task, g_error_copy (error));
  else
    {
      g_string_append_printf (f->seen, "|done %u", weft_http_response_get_status (response));
      weft_task_return (f->task, f->seen->str);
    }
  weft_http_response_free (response);
  g_string_free (f->seen, TRUE);
  g_free (f);
}

static void
fetch_run (gpointer instance, WeftTask *task)
{
  Fetch *f = g_new0 (Fetch, 1);
  const char *description = weft_task_get_description (task);

  f->task = task;
  f->seen = g_string_new (NULL);
  f->stop_after_first = g_str_has_prefix (description, "first:");
  if (f->stop_after_first)
    description += strlen ("first:");
  f->call = weft_task_http_send (task, weft_http_request_new ("GET", description), fetch_piece,
                                 fetch_done, f);
}

static gpointer
fetch_create (const WeftConfig *config, GError **error)
{
  return GINT_TO_POINTER (1);
}

static void
fetch_destroy (gpointer instance)
{
}

static const WeftAgentClass fetch_class = { .flags = WEFT_AGENT_ASYNC, .run = fetch_run };
static const WeftPluginDescriptor fetch_descriptor = {
  .abi_major = WEFT_ABI_MAJOR, .abi_minor = WEFT_ABI_MINOR, .kind = WEFT_PLUGIN_AGENT,
  .name = "test-fetch", .version = "1", .description = "GETs its description",
  .create = fetch_create, .destroy = fetch_destroy, .agent = &fetch_class,
};

static WeftRun *
fetch_flow (const char *first, const char *second)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (2);
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autoptr(WeftFlow) flow = NULL;
  WeftRun *run;

  g_assert_nonnull (weft_registry_add_static (weft_engine_get_registry (engine), &fetch_descriptor,
                                              &error));
  json = g_strdup_printf ("{\"name\": \"fetch\", \"agents\": {\"f\": {\"plugin\": \"test-fetch\"}},"
                          " \"tasks\": [{\"name\": \"a\", \"agent\": \"f\", \"description\": \"%s\"},"
                          "             {\"name\": \"b\", \"agent\": \"f\", \"description\": \"%s\"}]}",
                          first, second);
  flow = weft_test_flow (engine, json);
  run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  return run;
}

/* The chunk function sees the head, then the pieces as they come (three,
 * 50 ms apart); then the end. */
static void
test_loop_streamed (void)
{
  g_autofree char *chunked = test_server_url (server, "/chunked");
  g_autofree char *missing = g_strdup ("http://127.0.0.1:1/nothing-listens");
  g_autoptr(WeftRun) run = fetch_flow (chunked, missing);

  g_assert_cmpstr (weft_run_get_task_output (run, 0), ==, "head 200;abbccc|done 200");
  /* Nothing listens there: said in GIO's words (not worth a retry). */
  g_assert_error (weft_run_get_task_error (run, 1), G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  weft_test_assert_contains (weft_run_get_task_error (run, 1)->message, "127.0.0.1");
}

/* A chunk function that says "enough" after the first piece: the call is
 * cancelled mid-body, and the server sees its client go. */
static void
test_loop_cancel_mid_body (void)
{
  g_autofree char *stream = test_server_url (server, "/stream");
  g_autofree char *first = g_strconcat ("first:", stream, NULL);
  g_autofree char *echo = test_server_url (server, "/echo");
  guint cut = test_server_get (server, &server->streams_cut);
  g_autoptr(WeftRun) run = fetch_flow (first, echo);
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_assert_cmpstr (weft_run_get_task_output (run, 0), ==, "head 200;piece 1\n");
  weft_test_assert_contains (weft_run_get_task_output (run, 1), "method=GET");
  while (test_server_get (server, &server->streams_cut) == cut && g_get_monotonic_time () < until)
    g_usleep (20 * 1000);
  g_assert_cmpuint (test_server_get (server, &server->streams_cut), ==, cut + 1);
}

/* ---- the proxy from the environment ---------------------------------------- */

/* In a process of its own, whose environment says http_proxy: a request
 * for a port where nothing listens reaches the proxy, which answers. */
static void
test_proxy (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *proxy = test_server_url (server, "");
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftHttpResponse) response = NULL;
      g_autofree char *text = NULL;

      g_setenv ("http_proxy", proxy, TRUE);
      g_unsetenv ("no_proxy");
      g_unsetenv ("NO_PROXY");
      response = weft_http_send (weft_http_request_new ("GET", "http://127.0.0.1:1/echo"),
                                 NULL, &error);
      g_assert_no_error (error);
      text = body_text (response);
      weft_test_assert_contains (text, "method=GET");
      g_assert_cmpuint (test_server_get (server, &server->proxied), ==, 1);
      return;
    }
  g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* no_proxy, as libcurl reads it (the lean transport mirrors it): a request
 * for a port where nothing listens, the proxy (the test server) in
 * http_proxy.  Skipped by the list, it goes straight there and is refused;
 * not skipped, the proxy answers. */
static void
test_no_proxy (void)
{
  if (g_test_subprocess ())
    {
      const struct { const char *no_proxy; gboolean direct; } cases[] = {
        { "example.com", FALSE },
        { "127.0.0.1", TRUE },
        { "*", TRUE },
        { "10.0.0.0/8", FALSE },
        { "127.0.0.0/8", TRUE },
        { "localhost, 127.0.0.1", TRUE },
        { "127.0.0.10", FALSE },
      };
      g_autofree char *proxy = test_server_url (server, "");

      g_setenv ("http_proxy", proxy, TRUE);
      g_unsetenv ("NO_PROXY");
      for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(WeftHttpResponse) response = NULL;
          guint proxied = test_server_get (server, &server->proxied);

          g_setenv ("no_proxy", cases[i].no_proxy, TRUE);
          response = weft_http_send (weft_http_request_new ("GET", "http://127.0.0.1:1/echo"),
                                     NULL, &error);
          if (cases[i].direct)
            g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
          else
            g_assert_no_error (error);
          g_assert_cmpuint (test_server_get (server, &server->proxied), ==,
                            proxied + (cases[i].direct ? 0 : 1));
        }
      return;
    }
  g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* ---- TLS and HTTP/2 ---------------------------------------------------------- */

/* nghttpd (Debian's nghttp2-server) on a free port, over TLS with a
 * certificate for 127.0.0.1 made by openssl, serving one file.  FALSE
 * (the test skipped, saying what to install) when either is missing. */
typedef struct {
  char *dir;
  char *cert;
  GSubprocess *proc;
  guint port;
} H2Server;

static char *
find_tool (const char *name)
{
  g_autofree char *sbin = g_build_filename ("/usr/sbin", name, NULL);
  char *path = g_find_program_in_path (name);

  if (path == NULL && g_file_test (sbin, G_FILE_TEST_IS_EXECUTABLE))
    path = g_steal_pointer (&sbin);
  return path;
}

static guint
free_port (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &addr, &len), ==, 0);
  close (fd);
  return ntohs (addr.sin_port);
}

static gboolean
port_answers (guint port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
                              .sin_port = htons ((guint16) port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok = connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;

  close (fd);
  return ok;
}

static gboolean
h2_start (H2Server *h)
{
  g_autofree char *openssl = find_tool ("openssl");
  g_autofree char *nghttpd = find_tool ("nghttpd");
  g_autofree char *key = NULL, *page = NULL, *port = NULL, *htdocs = NULL;
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(GError) error = NULL;

  if (openssl == NULL || nghttpd == NULL)
    {
      g_test_skip ("needs openssl and nghttpd: apt-get install openssl nghttp2-server");
      return FALSE;
    }
  h->dir = g_dir_make_tmp ("weft-h2-XXXXXX", &error);
  g_assert_no_error (error);
  h->cert = g_build_filename (h->dir, "cert.pem", NULL);
  key = g_build_filename (h->dir, "key.pem", NULL);
  page = g_build_filename (h->dir, "hello.txt", NULL);
  g_assert_true (g_file_set_contents (page, "hello over h2", -1, NULL));
  {
    const char *argv[] = { openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                           "-keyout", key, "-out", h->cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1", NULL };
    g_assert_cmpint (weft_test_run_command (argv, &out, &err), ==, 0);
  }
  h->port = free_port ();
  port = g_strdup_printf ("%u", h->port);
  htdocs = g_strconcat ("--htdocs=", h->dir, NULL);
  {
    const char *argv[] = { nghttpd, "-v", htdocs, port, key, h->cert, NULL };
    h->proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                                 &error);
    g_assert_no_error (error);
  }
  for (guint i = 0; i < 200 && !port_answers (h->port); i++)
    g_usleep (25 * 1000);
  return TRUE;
}

/* Stops it; returns how many connections (sessions) sent it requests. */
static guint
h2_stop (H2Server *h)
{
  g_autofree char *out = NULL;
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_subprocess_send_signal (h->proc, SIGTERM);
  g_subprocess_communicate_utf8 (h->proc, NULL, NULL, &out, NULL, NULL);
  g_auto(GStrv) lines = g_strsplit (out != NULL ? out : "", "\n", -1);

  /* Connections that carried a request: not the one that only checked
   * the port was open. */
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "[id=") && strstr (lines[i], "recv HEADERS") != NULL)
      g_hash_table_add (ids, g_strndup (lines[i], strcspn (lines[i], "]")));
  g_object_unref (h->proc);
  weft_test_remove_dir (h->dir);
  g_free (h->dir);
  g_free (h->cert);
  return g_hash_table_size (ids);
}

static char *
h2_url (H2Server *h)
{
  return g_strdup_printf ("https://127.0.0.1:%u/hello.txt", h->port);
}

/* Verification is on: a certificate nobody vouches for is refused. */
static void
test_tls_untrusted (void)
{
  H2Server h = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autoptr(WeftHttpResponse) response = NULL;

  if (!h2_start (&h))
    return;
  url = h2_url (&h);
  response = weft_http_send (weft_http_request_new ("GET", url), NULL, &error);
  g_assert_null (response);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_FAILED);
  weft_test_assert_contains (error->message, "certificate");
  h2_stop (&h);
}

static gpointer
h2_thread (gpointer data)
{
  H2Server *h = data;
  g_autofree char *url = h2_url (h);
  WeftHttpRequest *request = weft_http_request_new ("GET", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = NULL;
  g_autofree char *text = NULL;

  weft_http_request_set_ca_file (request, h->cert);
  response = weft_http_send (request, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (weft_http_response_get_status (response), ==, 200);
  g_assert_cmpuint (weft_http_response_get_version (response), ==, 20);
  text = body_text (response);
  g_assert_cmpstr (text, ==, "hello over h2");
  return NULL;
}

/* Twenty requests at once, trusting the test's certificate: HTTP/2, all
 * over one connection. */
static void
test_tls_h2 (void)
{
  H2Server h = { 0 };
  GThread *threads[20];

  if (!h2_start (&h))
    return;
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("h2", h2_thread, &h);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (h2_stop (&h), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  server = test_server_start ();

  g_test_add_func ("/http/keep-alive", test_keep_alive);
  g_test_add_func ("/http/pool-bound", test_pool_bound);
  g_test_add_func ("/http/chunked", test_chunked);
  g_test_add_func ("/http/big", test_big);
  g_test_add_func ("/http/server-closes", test_server_closes);
  g_test_add_func ("/http/redirects", test_redirects);
  g_test_add_func ("/http/timeout", test_timeout);
  g_test_add_func ("/http/cancel-mid-body", test_cancel_mid_body);
  g_test_add_func ("/http/bad-requests", test_bad_requests);
  g_test_add_func ("/http/answers/extra-bytes", test_extra_bytes);
  g_test_add_func ("/http/answers/head-too-large", test_head_too_large);
  g_test_add_func ("/http/answers/bad-chunks", test_bad_chunks);
  g_test_add_func ("/http/answers/read-to-close", test_read_to_close);
  g_test_add_func ("/http/answers/interim", test_interim);
  g_test_add_func ("/http/answers/not-modified", test_not_modified);
  g_test_add_func ("/http/answers/server-says-close", test_server_says_close);
  g_test_add_func ("/http/answers/stale-keep-alive", test_stale_keep_alive);
  g_test_add_func ("/http/loop/streamed", test_loop_streamed);
  g_test_add_func ("/http/loop/cancel-mid-body", test_loop_cancel_mid_body);
  g_test_add_func ("/http/proxy", test_proxy);
  g_test_add_func ("/http/no-proxy", test_no_proxy);
  g_test_add_func ("/http/tls/untrusted", test_tls_untrusted);
  g_test_add_func ("/http/tls/h2-multiplexed", test_tls_h2);
  return g_test_run ();
}
