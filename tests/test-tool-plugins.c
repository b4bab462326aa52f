/* test-tool-plugins.c — the shipped tool plugins, http-get and exec, driven
 * through real flows by the test-args-caller agent: what the model would
 * see (schema, results, errors as results), limits, time-outs and
 * cancellation.  http-get only ever talks to a local libsoup server on
 * 127.0.0.1, run on its own thread. */
#include "weft-test.h"
#include "weft-test-http.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* A local HTTP server on its own thread                                    */

#define SLOW_MS 3000

typedef struct {
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  WeftTestListener http;
  guint port;
  GAsyncQueue *ready;
  GPtrArray *timers;          /* server thread: GSource of delayed answers */
  GPtrArray *held;            /* server thread: paused SoupServerMessages  */
  GHashTable *sockets;        /* server thread: client port -> GSocket     */
  GMutex lock;
  GSocket *slow_socket;       /* the last /slow request's connection */
} TestServer;

static void
serve_text (SoupServerMessage *msg, const char *type, const char *body, gssize len)
{
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, type, SOUP_MEMORY_COPY, body,
                                    len < 0 ? strlen (body) : (gsize) len);
}

static void
serve_redirect (SoupServerMessage *msg, const char *location)
{
  soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, location);
}

/* Paused messages are held until answered, so that the server can finish
 * them all when it stops (a paused message holds its connection). */
static void
forget_message (SoupServerMessage *msg, gpointer data)
{
  g_ptr_array_remove (((TestServer *) data)->held, msg);
}

static void
hold_message (TestServer *ts, SoupServerMessage *msg)
{
  g_ptr_array_add (ts->held, g_object_ref (msg));
  g_signal_connect (msg, "finished", G_CALLBACK (forget_message), ts);
  g_signal_connect (msg, "disconnected", G_CALLBACK (forget_message), ts);
}

/* Ends a held message: /slow's answer, or the end of /trickle's body. */
static void
release_message (SoupServerMessage *msg)
{
  if (g_object_get_data (G_OBJECT (msg), "trickle") != NULL)
    soup_message_body_complete (soup_server_message_get_response_body (msg));
  else
    serve_text (msg, "text/plain", "slow at last", -1);
  soup_server_message_unpause (msg);
}

static gboolean
slow_answer (gpointer data)
{
  TestServer *ts = data;

  /* One /slow at a time is enough for these tests: the oldest held. */
  for (guint i = 0; i < ts->held->len; i++)
    if (g_object_get_data (ts->held->pdata[i], "trickle") == NULL)
      {
        g_autoptr(SoupServerMessage) msg = g_object_ref (ts->held->pdata[i]);
        g_ptr_array_remove_index (ts->held, i);
        release_message (msg);
        break;
      }
  return G_SOURCE_REMOVE;
}

/* /slow answers after SLOW_MS, holding no thread: paused meanwhile. */
static void
serve_slow (TestServer *ts, SoupServerMessage *msg)
{
  GSource *source = g_timeout_source_new (SLOW_MS);

  g_mutex_lock (&ts->lock);
  g_clear_object (&ts->slow_socket);
  ts->slow_socket = g_object_ref (g_hash_table_lookup (ts->sockets, GUINT_TO_POINTER (
    g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (
      soup_server_message_get_remote_address (msg))))));
  g_mutex_unlock (&ts->lock);

  soup_server_message_pause (msg);
  hold_message (ts, msg);
  g_source_set_callback (source, slow_answer, ts, NULL);
  g_source_attach (source, ts->context);
  g_ptr_array_add (ts->timers, source);
}

/* /trickle sends 4000 bytes of a chunked body and never ends it. */
static void
serve_trickle (TestServer *ts, SoupServerMessage *msg)
{
  g_autofree char *chunk = g_strnfill (4000, 't');

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (soup_server_message_get_response_headers (msg),
                                         "text/plain", NULL);
  soup_message_headers_set_encoding (soup_server_message_get_response_headers (msg),
                                     SOUP_ENCODING_CHUNKED);
  soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_COPY,
                            chunk, 4000);
  g_object_set_data (G_OBJECT (msg), "trickle", GINT_TO_POINTER (1));
  hold_message (ts, msg);
}

static void
serve_headers (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  g_autofree char *text = g_strdup_printf ("ua=%s x=%s",
                                           soup_message_headers_get_one (h, "User-Agent"),
                                           soup_message_headers_get_one (h, "X-Test"));
  serve_text (msg, "text/plain", text, -1);
}

static void
serve (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
       gpointer data)
{
  TestServer *ts = data;
  g_autofree char *big = g_strnfill (100000, 'x');

  if (g_str_equal (path, "/text"))
    serve_text (msg, "text/plain; charset=utf-8", "hello, weft", -1);
  else if (g_str_equal (path, "/sub/page"))
    serve_text (msg, "text/html", "<p>sub page</p>", -1);
  else if (g_str_equal (path, "/json"))
    serve_text (msg, "application/json", "{\"answer\": 42}", -1);
  else if (g_str_equal (path, "/problem"))
    serve_text (msg, "application/problem+json", "{\"title\": \"p\"}", -1);
  else if (g_str_equal (path, "/bin"))
    serve_text (msg, "application/octet-stream", "\x7f" "ELF\x01\x00\x00", 7);
  else if (g_str_equal (path, "/latin1"))
    serve_text (msg, "text/plain; charset=iso-8859-1", "caf\xe9", -1);
  else if (g_str_equal (path, "/badutf8"))
    serve_text (msg, "text/plain", "a\xff" "b", -1);
  else if (g_str_equal (path, "/big"))
    serve_text (msg, "text/plain", big, -1);
  else if (g_str_equal (path, "/headers"))
    serve_headers (msg);
  else if (g_str_equal (path, "/redirect-ok"))
    serve_redirect (msg, "/text");
  else if (g_str_equal (path, "/redirect-out"))
    serve_redirect (msg, "http://127.0.0.1:1/text");
  else if (g_str_equal (path, "/redirect-loop"))
    serve_redirect (msg, "/redirect-loop");
  else if (g_str_equal (path, "/slow"))
    serve_slow (ts, msg);
  else if (g_str_equal (path, "/trickle"))
    serve_trickle (ts, msg);
  else
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* Finishes what is held, lets the connections (whose clients are gone)
 * close, then frees the server. */
static void
server_drain (TestServer *ts)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&ts->held);
  GSource *quit = g_timeout_source_new (300);

  ts->held = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < ts->timers->len; i++)
    g_source_destroy (ts->timers->pdata[i]);
  for (guint i = 0; i < held->len; i++)
    release_message (held->pdata[i]);
  g_source_set_callback (quit, quit_loop, ts->loop, NULL);
  g_source_attach (quit, ts->context);
  g_source_unref (quit);
  g_main_loop_run (ts->loop);
  weft_test_listener_stop (&ts->http, ts->context);
  g_ptr_array_unref (ts->held);
}



/* Kept by the client's port, so that tests can see a connection close. */
static void
server_accepted (GSocket *client, gpointer data)
{
  TestServer *ts = data;
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address (client, NULL);

  g_hash_table_replace (ts->sockets,
                        GUINT_TO_POINTER (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote))),
                        g_object_ref (client));
}

static gpointer
server_main (gpointer data)
{
  TestServer *ts = data;

  g_main_context_push_thread_default (ts->context);
  SoupServer *server = soup_server_new ("server-header", "weft-test", NULL);
  soup_server_add_handler (server, NULL, serve, ts, NULL);
  weft_test_listener_start (&ts->http, server, ts->context, server_accepted, ts);
  ts->port = ts->http.port;
  g_async_queue_push (ts->ready, GUINT_TO_POINTER (1));

  g_main_loop_run (ts->loop);

  server_drain (ts);
  g_main_context_pop_thread_default (ts->context);
  return NULL;
}

static TestServer *
test_server_start (void)
{
  TestServer *ts = g_new0 (TestServer, 1);

  g_mutex_init (&ts->lock);
  ts->context = g_main_context_new ();
  ts->loop = g_main_loop_new (ts->context, FALSE);
  ts->ready = g_async_queue_new ();
  ts->timers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_source_unref);
  ts->held = g_ptr_array_new_with_free_func (g_object_unref);
  ts->sockets = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  ts->thread = g_thread_new ("test-server", server_main, ts);
  g_async_queue_pop (ts->ready);
  return ts;
}

static void
test_server_stop (TestServer *ts)
{
  GSource *quit = g_idle_source_new ();

  g_source_set_callback (quit, quit_loop, ts->loop, NULL);
  g_source_attach (quit, ts->context);
  g_source_unref (quit);
  g_thread_join (ts->thread);
  g_ptr_array_unref (ts->timers);
  g_hash_table_unref (ts->sockets);
  g_clear_object (&ts->slow_socket);
  g_main_loop_unref (ts->loop);
  g_main_context_unref (ts->context);
  g_async_queue_unref (ts->ready);
  g_mutex_clear (&ts->lock);
  g_free (ts);
}

/* Whether the client closed the /slow connection within `ms`. */
static gboolean
test_server_slow_closed (TestServer *ts, guint ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;
  g_autoptr(GSocket) socket = NULL;

  g_mutex_lock (&ts->lock);
  socket = ts->slow_socket ? g_object_ref (ts->slow_socket) : NULL;
  g_mutex_unlock (&ts->lock);
  g_assert_nonnull (socket);
  /* The server reads nothing while the request is paused, so an EOF (or a
   * hang-up) pending on its socket means the client went away. */
  while (g_get_monotonic_time () < deadline)
    {
      if (g_socket_condition_check (socket, G_IO_IN | G_IO_HUP | G_IO_ERR) != 0)
        return TRUE;
      g_usleep (20000);
    }
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Flows with one tool and the test-args-caller agent                       */

static char *
json_string_list (const char *const *items)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_array (b);
  for (guint i = 0; items[i] != NULL; i++)
    json_builder_add_string_value (b, items[i]);
  json_builder_end_array (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
calls_flow (const char *tool, const char *const *arguments, const char *task_extra)
{
  g_autofree char *args = json_string_list (arguments);

  return g_strdup_printf (
    "{\"name\": \"tools\", \"tools\": {\"t\": %s},"
    " \"agents\": {\"a\": {\"plugin\": \"test-args-caller\", \"tools\": [\"t\"],"
    "                      \"arguments\": %s}},"
    " \"tasks\": [{\"name\": \"call\", \"agent\": \"a\", \"description\": \"x\"%s}]}",
    tool, args, task_extra ? task_extra : "");
}

/* Runs the flow; returns the run (the agent's output is task 0's). */
static WeftRun *
run_calls (WeftEngine *engine, const char *tool, const char *const *arguments,
           const char *task_extra)
{
  g_autofree char *json = calls_flow (tool, arguments, task_extra);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, json);
  g_autoptr(GError) error = NULL;
  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);

  g_assert_nonnull (run);
  return run;
}

/* The agent's output, parsed. */
static JsonObject *
run_output (WeftRun *run)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (weft_run_get_status (run) != WEFT_STATUS_COMPLETED)
    g_error ("run %s: %s", weft_status_to_string (weft_run_get_status (run)),
             weft_run_get_task_error (run, 0) ? weft_run_get_task_error (run, 0)->message : "?");
  node = json_from_string (weft_run_get_task_output (run, 0), &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (node));
}

/* Runs the calls and returns the results array of the agent's output. */
static JsonArray *
call_tool (WeftEngine *engine, const char *tool, const char *const *arguments)
{
  g_autoptr(WeftRun) run = run_calls (engine, tool, arguments, NULL);
  g_autoptr(JsonObject) out = run_output (run);

  return json_array_ref (json_object_get_array_member (out, "results"));
}

static const char *
result_text (JsonArray *results, guint i, const char *key)
{
  JsonObject *entry = json_array_get_object_element (results, i);

  if (!json_object_has_member (entry, key))
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), entry);
      g_autofree char *text = json_to_string (node, FALSE);
      g_error ("result %u: expected \"%s\" in %s", i, key, text);
    }
  return json_object_get_string_member (entry, key);
}

#define assert_result(results, i, expected) \
  g_assert_cmpstr (result_text ((results), (i), "result"), ==, (expected))
#define assert_result_contains(results, i, needle) \
  weft_test_assert_contains (result_text ((results), (i), "result"), (needle))
#define assert_error_contains(results, i, needle) \
  weft_test_assert_contains (result_text ((results), (i), "error"), (needle))

/* A flow whose tool config must be refused when loading. */
static void
assert_tool_refused (WeftEngine *engine, const char *tool, const char *needle)
{
  const char *const none[] = { NULL };
  g_autofree char *json = calls_flow (tool, none, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_data (engine, json, -1, "t.json", &error);

  g_assert_null (flow);
  g_assert_nonnull (error);
  weft_test_assert_contains (error->message, needle);
}

/* ------------------------------------------------------------------------ */
/* http-get                                                                 */

static char *
http_tool (TestServer *ts, const char *extra)
{
  return g_strdup_printf ("{\"plugin\": \"http-get\", \"allow\": [\"http://127.0.0.1:%u/\"]%s}",
                          ts->port, extra ? extra : "");
}

static char *
url (TestServer *ts, const char *path)
{
  return g_strdup_printf ("{\"url\": \"http://127.0.0.1:%u%s\"}", ts->port, path);
}

static void
test_http_bodies (gconstpointer data)
{
  TestServer *ts = (TestServer *) data;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *tool = http_tool (ts, NULL);
  g_autofree char *text = url (ts, "/text"), *json = url (ts, "/json"),
                  *problem = url (ts, "/problem"), *bin = url (ts, "/bin"),
                  *missing = url (ts, "/missing"), *latin1 = url (ts, "/latin1"),
                  *bad = url (ts, "/badutf8"), *dots = url (ts, "/sub/../text");
  const char *const args[] = { text, json, problem, bin, missing, latin1, bad, dots, NULL };
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);
  g_autofree char *missing_url = g_strdup_printf ("http://127.0.0.1:%u/missing", ts->port);

  assert_result (results, 0, "hello, weft");
  assert_result (results, 1, "{\"answer\": 42}");
  assert_result (results, 2, "{\"title\": \"p\"}");
  assert_error_contains (results, 3, "is application/octet-stream, not text");
  assert_error_contains (results, 4, "HTTP 404 Not Found from ");
  assert_error_contains (results, 4, missing_url);
  assert_result (results, 5, "caf\xc3\xa9");          /* converted from Latin-1 */
  assert_result (results, 6, "a\xef\xbf\xbd" "b");    /* U+FFFD for the bad byte */
  assert_result (results, 7, "hello, weft");          /* dot segments resolved */
}

static void
test_http_allowlist (gconstpointer data)
{
  TestServer *ts = (TestServer *) data;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *tool = g_strdup_printf (
    "{\"plugin\": \"http-get\", \"allow\": [\"HTTP://127.0.0.1:%u/sub/\", \"https://example.org\"]}",
    ts->port);
  g_autofree char *ok = url (ts, "/sub/page");
  g_autofree char *outside = url (ts, "/text");
  g_autofree char *dots = url (ts, "/sub/../text");
  g_autofree char *userinfo = g_strdup_printf ("{\"url\": \"http://127.0.0.1:%u@evil.invalid/sub/\"}",
                                               ts->port);
  g_autofree char *port = g_strdup_printf ("{\"url\": \"http://127.0.0.1:%u/sub/page\"}",
                                           ts->port == 1 ? 2 : 1);
  g_autofree char *scheme = g_strdup_printf ("{\"url\": \"https://127.0.0.1:%u/sub/page\"}",
                                             ts->port);
  const char *const args[] = {
    ok, outside, dots, userinfo, port, scheme,
    "{\"url\": \"https://example.org.evil.invalid/\"}", "{\"url\": \"ftp://example.org/\"}",
    "{\"url\": \"/sub/page\"}", "{\"url\": 7}", "{}", NULL
  };
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);
  g_autofree char *named = g_strdup_printf ("only URLs starting with \"http://127.0.0.1:%u/sub/\","
                                            " \"https://example.org/\" may be fetched", ts->port);

  assert_result (results, 0, "<p>sub page</p>");
  assert_error_contains (results, 1, "is not allowed: ");
  assert_error_contains (results, 1, named);
  assert_error_contains (results, 2, "is not allowed");
  assert_error_contains (results, 3, "has a user name before its host");
  assert_error_contains (results, 4, "is not allowed");
  assert_error_contains (results, 5, "is not allowed");
  assert_error_contains (results, 6, "is not allowed");
  assert_error_contains (results, 7, "is not an http or https URL");
  assert_error_contains (results, 8, "is not a URL");
  assert_error_contains (results, 9, "argument \"url\" is required and must be a string");
  assert_error_contains (results, 10, "argument \"url\" is required");

  /* Bad options are refused when the flow loads. */
  assert_tool_refused (engine, "{\"plugin\": \"http-get\"}", "allow");
  assert_tool_refused (engine, "{\"plugin\": \"http-get\", \"allow\": []}",
                       "option \"allow\": must list at least one URL prefix");
  assert_tool_refused (engine, "{\"plugin\": \"http-get\", \"allow\": [\"file:///etc/\"]}",
                       "option \"allow\": \"file:///etc/\" is not an http or https URL");
  assert_tool_refused (engine, "{\"plugin\": \"http-get\", \"allow\": [\"http://a/\"],"
                       " \"max_bytes\": 0}", "option \"max_bytes\": must be positive");
  assert_tool_refused (engine, "{\"plugin\": \"http-get\", \"allow\": [\"http://a/\"],"
                       " \"headers\": {\"X\": 1}}", "the value of \"X\" must be a string");
}

static void
test_http_redirects_and_headers (gconstpointer data)
{
  TestServer *ts = (TestServer *) data;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *tool = http_tool (ts, ", \"user_agent\": \"weft-test/1\","
                                         " \"headers\": {\"X-Test\": \"yes\"}");
  g_autofree char *ok = url (ts, "/redirect-ok"), *out = url (ts, "/redirect-out"),
                  *loop = url (ts, "/redirect-loop"), *headers = url (ts, "/headers");
  const char *const args[] = { ok, out, loop, headers, NULL };
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);

  assert_result (results, 0, "hello, weft");
  assert_error_contains (results, 1, "redirects elsewhere: \"http://127.0.0.1:1/text\" is not allowed");
  assert_error_contains (results, 2, "more than 5 redirects");
  assert_result (results, 3, "ua=weft-test/1 x=yes");
}

static void
test_http_size_limit (gconstpointer data)
{
  TestServer *ts = (TestServer *) data;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *tool = http_tool (ts, ", \"max_bytes\": 1000, \"timeout_s\": 10");
  g_autofree char *big = url (ts, "/big"), *trickle = url (ts, "/trickle"),
                  *text = url (ts, "/text");
  const char *const args[] = { big, trickle, text, NULL };
  gint64 start = g_get_monotonic_time ();
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);
  g_autofree char *cut = g_strnfill (1000, 'x');

  /* Cut, with a note, without waiting for the rest: /trickle never ends. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_assert_true (g_str_has_prefix (result_text (results, 0, "result"), cut));
  g_assert_cmpuint (strspn (result_text (results, 0, "result"), "x"), ==, 1000);
  assert_result_contains (results, 0, "[weft http-get: the body was cut after 1000 bytes (max_bytes)]");
  assert_result_contains (results, 1, "the body was cut after 1000 bytes");
  assert_result (results, 2, "hello, weft");
}

static void
test_http_timeout (gconstpointer data)
{
  TestServer *ts = (TestServer *) data;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *tool = http_tool (ts, ", \"timeout_s\": 0.3");
  g_autofree char *slow = url (ts, "/slow");
  const char *const args[] = { slow, NULL };
  gint64 start = g_get_monotonic_time ();
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);

  g_assert_cmpint (g_get_monotonic_time () - start, <, SLOW_MS * 1000 / 2);
  assert_error_contains (results, 0, "/slow timed out after 0.3 s");
  g_assert_true (test_server_slow_closed (ts, 2000));
}

/* The task's own timeout cancels the tool call, which aborts the request. */
static void
test_http_cancel (gconstpointer data)
{
  TestServer *ts = (TestServer *) data;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *tool = http_tool (ts, NULL);
  g_autofree char *slow = url (ts, "/slow");
  const char *const args[] = { slow, NULL };
  gint64 start = g_get_monotonic_time ();
  g_autoptr(WeftRun) run = run_calls (engine, tool, args, ", \"timeout_s\": 0.3");

  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  g_assert_true (test_server_slow_closed (ts, 2000));
  g_assert_cmpint (g_get_monotonic_time () - start, <, SLOW_MS * 1000);
  weft_engine_shutdown (engine, 5000);
}

/* ------------------------------------------------------------------------ */
/* exec                                                                     */

/* Prints each argument after the fixed ones in brackets. */
#define EXEC_ECHO "\"command\": [\"/bin/sh\", \"-c\", \"printf '[%s]' \\\"$@\\\"\", \"sh\"]"

#define EXEC_PARAMS                                                                    \
  "\"arguments\": {"                                                                   \
  "  \"query\": {\"type\": \"string\", \"description\": \"what to look for\"},"        \
  "  \"count\": {\"type\": \"integer\", \"flag\": \"--count\"},"                       \
  "  \"verbose\": {\"type\": \"boolean\", \"flag\": \"-v\"},"                          \
  "  \"mode\": {\"type\": \"string\", \"enum\": [\"fast\", \"slow\"]},"                \
  "  \"ratio\": {\"type\": \"number\", \"flag\": \"-r\"},"                             \
  "  \"limit\": {\"type\": \"integer\", \"enum\": [1, 2, 3], \"required\": true}},"    \
  " \"positional\": [\"query\"]"

/* Each of `parts` occurs in `argv`, once. */
static void
assert_argv (const char *argv, ...)
{
  va_list ap;
  const char *part;
  gsize total = 0;

  va_start (ap, argv);
  while ((part = va_arg (ap, const char *)) != NULL)
    {
      const char *at = strstr (argv, part);
      if (at == NULL || strstr (at + 1, part) != NULL)
        g_error ("expected \"%s\" once in \"%s\"", part, argv);
      total += strlen (part);
    }
  va_end (ap);
  g_assert_cmpuint (total, <=, strlen (argv));
}

static void
test_exec_argv (void)
{
  const char *const params[] = { "\"query\"", "\"count\"", "\"verbose\"", "\"mode\"",
                                 "\"ratio\"", "\"limit\"" };
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  const char *tool = "{\"plugin\": \"exec\", " EXEC_ECHO ", " EXEC_PARAMS "}";
  const char *const args[] = {
    "{\"query\": \"a b; rm -rf / $(x)\", \"count\": 3, \"verbose\": true, \"mode\": \"fast\","
    " \"ratio\": 0.5, \"limit\": 2}",
    "{\"limit\": 1, \"query\": \"q\", \"verbose\": false, \"count\": 4.0, \"ratio\": -2}",
    "{\"limit\": 3, \"query\": \"q\", \"extra\": 1}",
    "{\"limit\": 3, \"query\": \"q\", \"count\": \"3\"}",
    "{\"limit\": 3, \"query\": \"q\", \"count\": 3.5}",
    "{\"limit\": 3, \"query\": \"q\", \"mode\": \"medium\"}",
    "{\"limit\": 4, \"query\": \"q\"}",
    "{\"limit\": 3}",
    "{\"query\": \"q\"}",
    "{\"limit\": 3, \"query\": \"--delete\"}",
    "{\"limit\": 3, \"query\": \"q\", \"verbose\": \"yes\"}",
    "not json",
    NULL
  };
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);

  /* Flags, then positionals; no shell ever sees them.  (The flags' order
   * is checked on its own, in /tool-plugins/exec/flag-order.) */
  assert_argv (result_text (results, 0, "result"),
               "[--count=3]", "[-v]", "[--mode=fast]", "[-r][0.5]", "[--limit=2]", NULL);
  g_assert_true (g_str_has_suffix (result_text (results, 0, "result"), "][a b; rm -rf / $(x)]"));
  assert_argv (result_text (results, 1, "result"), "[--count=4]", "[-r][-2]", "[--limit=1]", NULL);
  g_assert_true (g_str_has_suffix (result_text (results, 1, "result"), "][q]"));
  g_assert_cmpuint (strlen (result_text (results, 1, "result")), ==,
                    strlen ("[--count=4][-r][-2][--limit=1][q]"));
  assert_error_contains (results, 2, "unknown parameter \"extra\"; the parameters are ");
  for (guint i = 0; i < G_N_ELEMENTS (params); i++)
    assert_error_contains (results, 2, params[i]);
  assert_error_contains (results, 3, "parameter \"count\" must be an integer, not \"3\"");
  assert_error_contains (results, 4, "parameter \"count\" must be an integer, not 3.5");
  assert_error_contains (results, 5, "parameter \"mode\" must be one of \"fast\", \"slow\", not \"medium\"");
  assert_error_contains (results, 6, "parameter \"limit\" must be one of \"1\", \"2\", \"3\", not 4");
  assert_error_contains (results, 7, "parameter \"query\" is required");
  assert_error_contains (results, 8, "parameter \"limit\" is required");
  assert_error_contains (results, 9, "parameter \"query\" must not start with \"-\"");
  assert_error_contains (results, 10, "parameter \"verbose\" must be a boolean, not \"yes\"");
  weft_test_assert_contains (result_text (results, 11, "refused"), "not a JSON object");
}

/* Flags come in the order the flow declares the parameters. */
static void
test_exec_flag_order (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  const char *tool = "{\"plugin\": \"exec\", " EXEC_ECHO ", \"arguments\": {"
                     " \"zeta\": {\"type\": \"boolean\"}, \"alpha\": {\"type\": \"boolean\"},"
                     " \"mid\": {\"type\": \"boolean\"}, \"beta\": {\"type\": \"boolean\"},"
                     " \"omega\": {\"type\": \"boolean\"}, \"kappa\": {\"type\": \"boolean\"}}}";
  const char *const args[] = { "{\"kappa\": true, \"alpha\": true, \"zeta\": true, \"beta\": true,"
                               " \"mid\": true, \"omega\": true}", NULL };
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);
  const char *argv = result_text (results, 0, "result");

  assert_argv (argv, "[--zeta]", "[--alpha]", "[--mid]", "[--beta]", "[--omega]", "[--kappa]", NULL);
  g_assert_cmpstr (argv, ==, "[--zeta][--alpha][--mid][--beta][--omega][--kappa]");
}

/* What the agent (so the model) is shown: the instance's own schema. */
static void
test_exec_schema (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  const char *tool = "{\"plugin\": \"exec\", \"description\": \"searches\", "
                     EXEC_ECHO ", " EXEC_PARAMS "}";
  const char *const none[] = { NULL };
  g_autoptr(WeftRun) run = run_calls (engine, tool, none, NULL);
  g_autoptr(JsonObject) out = run_output (run);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) schema = json_from_string (json_object_get_string_member (out, "schema"),
                                                 &error);
  g_autofree char *text = NULL;
  const char *const schema_parts[] = {
    "\"query\":{\"type\":\"string\",\"description\":\"what to look for\"}",
    "\"count\":{\"type\":\"integer\"}", "\"verbose\":{\"type\":\"boolean\"}",
    "\"mode\":{\"type\":\"string\",\"enum\":[\"fast\",\"slow\"]}",
    "\"ratio\":{\"type\":\"number\"}", "\"limit\":{\"type\":\"integer\",\"enum\":[1,2,3]}",
  };

  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (out, "description"), ==, "searches");
  text = json_to_string (schema, FALSE);
  /* Member order aside (see flag-order), exactly this. */
  for (guint i = 0; i < G_N_ELEMENTS (schema_parts); i++)
    weft_test_assert_contains (text, schema_parts[i]);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (
                      json_node_get_object (schema), "properties")), ==, 6);
  g_assert_true (g_str_has_prefix (text, "{\"type\":\"object\",\"properties\":{"));
  g_assert_true (g_str_has_suffix (text, "],\"additionalProperties\":false}"));
  g_assert_true (strstr (text, "\"required\":[\"query\",\"limit\"]") != NULL
                 || strstr (text, "\"required\":[\"limit\",\"query\"]") != NULL);

  /* No parameters: an empty object schema, and any argument is refused. */
  const char *bare = "{\"plugin\": \"exec\", \"command\": [\"true\"]}";
  const char *const args[] = { "{}", "{\"x\": 1}", NULL };
  g_autoptr(WeftRun) run2 = run_calls (engine, bare, args, NULL);
  g_autoptr(JsonObject) out2 = run_output (run2);
  JsonArray *results = json_object_get_array_member (out2, "results");
  g_assert_cmpstr (json_object_get_string_member (out2, "schema"), ==,
                   "{\"type\":\"object\",\"properties\":{},\"required\":[],\"additionalProperties\":false}");
  assert_result (results, 0, "");
  assert_error_contains (results, 1, "unknown parameter \"x\"; this tool takes no parameters");
}

static void
test_exec_bad_options (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);

  assert_tool_refused (engine, "{\"plugin\": \"exec\"}", "command");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": []}",
                       "option \"command\": must name a program");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"arguments\": {\"a\": {\"type\": \"array\"}}}",
                       "\"a\".type must be \"string\", \"integer\", \"number\" or \"boolean\"");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"arguments\": {\"a\": {\"type\": \"string\", \"flg\": \"-a\"}}}",
                       "\"a\" has an unknown key \"flg\"");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"arguments\": {\"a\": {\"type\": \"integer\", \"enum\": [\"x\"]}}}",
                       "\"a\".enum must be a non-empty list of integer values");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"arguments\": {\"a\": {\"type\": \"string\", \"flag\": \"a\"}}}",
                       "\"a\".flag must be a string starting with \"-\"");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"positional\": [\"nope\"]}",
                       "option \"positional\": \"nope\" is not a parameter declared");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"arguments\": {\"a\": {\"type\": \"string\", \"flag\": \"-a\"}},"
                       " \"positional\": [\"a\"]}",
                       "\"a\" has a \"flag\"; a parameter is either a flag or positional");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"],"
                       " \"arguments\": {\"a\": {\"type\": \"string\"}},"
                       " \"positional\": [\"a\", \"a\"]}", "(or is listed twice)");
  assert_tool_refused (engine, "{\"plugin\": \"exec\", \"command\": [\"x\"], \"env\": {\"A\": 1}}",
                       "option \"env\": the value of \"A\" must be a string");
}

static void
test_exec_status_env_cwd (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *dir = g_dir_make_tmp ("weft-exec-tool-XXXXXX", NULL);
  g_autofree char *tool = g_strdup_printf (
    "{\"plugin\": \"exec\", \"cwd\": \"%s\", \"env\": {\"WEFT_T\": \"from env\"},"
    " \"command\": [\"/bin/sh\", \"-c\","
    "  \"pwd; echo \\\"$WEFT_T\\\"; printf 'caf\\\\351\\\\n'; echo oops >&2; exit $1\", \"sh\"],"
    " \"arguments\": {\"status\": {\"type\": \"integer\"}}, \"positional\": [\"status\"]}", dir);
  g_autofree char *expected = NULL;
  const char *const args[] = { "{\"status\": 0}", "{\"status\": 3}", NULL };
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);
  g_autofree char *real = realpath (dir, NULL);

  expected = g_strdup_printf ("%s\nfrom env\ncaf\xef\xbf\xbd", real);
  assert_result (results, 0, expected);
  assert_error_contains (results, 1, "exited with status 3: oops");

  /* A program that does not exist. */
  const char *const one[] = { "{}", NULL };
  g_autoptr(JsonArray) missing = call_tool (engine, "{\"plugin\": \"exec\", \"command\":"
                                                    " [\"/nonexistent/weft-nope\"]}", one);
  assert_error_contains (missing, 0, "command \"/nonexistent/weft-nope\" could not start");
  g_rmdir (dir);
}

static gboolean
process_gone (GPid pid, guint ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
      g_autofree char *stat = NULL;

      /* Gone, or a zombie waiting for init: either way no longer running. */
      if (!g_file_get_contents (path, &stat, NULL, NULL) || strstr (stat, ") Z ") != NULL)
        return TRUE;
      g_usleep (20000);
    }
  return FALSE;
}

static GPid
read_pid (const char *path)
{
  g_autofree char *text = NULL;
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;

  while (!g_file_get_contents (path, &text, NULL, NULL) || strchr (text, '\n') == NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_clear_pointer (&text, g_free);
      g_usleep (10000);
    }
  return (GPid) g_ascii_strtoll (text, NULL, 10);
}

/* The command and what it started in the background are killed, on the
 * tool's own time limit and on the task's. */
static void
test_exec_timeout_kills (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *dir = g_dir_make_tmp ("weft-exec-tool-XXXXXX", NULL);
  g_autofree char *pids = g_build_filename (dir, "pid", NULL);
  g_autofree char *tool = g_strdup_printf (
    "{\"plugin\": \"exec\", \"timeout_s\": 0.3, \"command\": [\"/bin/sh\", \"-c\","
    " \"sleep 30 & echo $! > %s; wait\"]}", pids);
  const char *const args[] = { "{}", NULL };
  gint64 start = g_get_monotonic_time ();
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);

  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  assert_error_contains (results, 0, "timed out after 0.3 s and was killed");
  g_assert_true (process_gone (read_pid (pids), 2000));
  g_unlink (pids);

  /* The task times out first: the call is cancelled, the process killed. */
  g_autofree char *long_tool = g_strdup_printf (
    "{\"plugin\": \"exec\", \"command\": [\"/bin/sh\", \"-c\","
    " \"sleep 30 & echo $! > %s; wait\"]}", pids);
  start = g_get_monotonic_time ();
  g_autoptr(WeftRun) run = run_calls (engine, long_tool, args, ", \"timeout_s\": 0.3");
  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  g_assert_true (process_gone (read_pid (pids), 2000));
  weft_engine_shutdown (engine, 5000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_unlink (pids);
  g_rmdir (dir);
}

static void
test_exec_output_limit (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  const char *tool = "{\"plugin\": \"exec\", \"max_output_bytes\": 100, \"timeout_s\": 10,"
                     " \"command\": [\"yes\"]}";
  const char *const args[] = { "{}", NULL };
  gint64 start = g_get_monotonic_time ();
  g_autoptr(JsonArray) results = call_tool (engine, tool, args);

  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_assert_true (g_str_has_prefix (result_text (results, 0, "result"), "y\ny\ny\n"));
  assert_result_contains (results, 0, "\n\n[weft exec: the output was cut after 100 bytes"
                                      " (max_output_bytes) and the command stopped]");
  g_assert_cmpuint (strlen (result_text (results, 0, "result")), <, 200);
}

/* Both `exec` plugins are loaded: the agent and the tool, one name. */
static void
test_exec_coexists (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  WeftRegistry *registry = weft_engine_get_registry (engine);

  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "exec"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_TOOL, "exec"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_TOOL, "http-get"));
}

int
main (int argc, char **argv)
{
  TestServer *ts;
  int status;

  /* Never a proxy: the server is local. */
  g_setenv ("no_proxy", "*", TRUE);
  g_unsetenv ("http_proxy");
  g_unsetenv ("HTTP_PROXY");
  g_test_init (&argc, &argv, NULL);
  ts = test_server_start ();
  g_test_add_data_func ("/tool-plugins/http-get/bodies", ts, test_http_bodies);
  g_test_add_data_func ("/tool-plugins/http-get/allowlist", ts, test_http_allowlist);
  g_test_add_data_func ("/tool-plugins/http-get/redirects-headers", ts,
                        test_http_redirects_and_headers);
  g_test_add_data_func ("/tool-plugins/http-get/size-limit", ts, test_http_size_limit);
  g_test_add_data_func ("/tool-plugins/http-get/timeout", ts, test_http_timeout);
  g_test_add_data_func ("/tool-plugins/http-get/cancel", ts, test_http_cancel);
  g_test_add_func ("/tool-plugins/exec/argv", test_exec_argv);
  g_test_add_func ("/tool-plugins/exec/flag-order", test_exec_flag_order);
  g_test_add_func ("/tool-plugins/exec/schema", test_exec_schema);
  g_test_add_func ("/tool-plugins/exec/bad-options", test_exec_bad_options);
  g_test_add_func ("/tool-plugins/exec/status-env-cwd", test_exec_status_env_cwd);
  g_test_add_func ("/tool-plugins/exec/timeout-kills", test_exec_timeout_kills);
  g_test_add_func ("/tool-plugins/exec/output-limit", test_exec_output_limit);
  g_test_add_func ("/tool-plugins/exec/coexists", test_exec_coexists);
  status = g_test_run ();
  test_server_stop (ts);
  return status;
}
