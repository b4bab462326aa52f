/* test-mock-llm.c — the mock OpenAI-compatible server checked with a plain
 * libsoup client: every kind of answer, every fault, the records, latency
 * and many requests at once. */
#include "weft-mock-llm.h"

#include <string.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define ELAPSED_MS(since) ((g_get_monotonic_time () - (since)) / 1000)

typedef struct {
  guint status;
  char *body;
  char *retry_after;
  char *content_type;
  GError *error;
} Response;

static void
response_clear (Response *r)
{
  g_free (r->body);
  g_free (r->retry_after);
  g_free (r->content_type);
  g_clear_error (&r->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Response, response_clear)

static SoupSession *
session_new (void)
{
  return soup_session_new_with_options ("max-conns", 4000, "max-conns-per-host", 4000,
                                        "timeout", 20, NULL);
}

static SoupMessage *
chat_message (WeftMockLlm *mock, const char *body)
{
  g_autofree char *url = g_strconcat (weft_mock_llm_get_base_url (mock), "/chat/completions",
                                      NULL);
  SoupMessage *msg = soup_message_new ("POST", url);
  g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                "Bearer sk-test");
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  return msg;
}

static void
send_sync (SoupSession *session, SoupMessage *msg, Response *r)
{
  g_autoptr(GBytes) bytes = soup_session_send_and_read (session, msg, NULL, &r->error);
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);

  r->status = soup_message_get_status (msg);
  if (bytes != NULL)
    r->body = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  r->retry_after = g_strdup (soup_message_headers_get_one (headers, "Retry-After"));
  r->content_type = g_strdup (soup_message_headers_get_content_type (headers, NULL));
}

static void
post (SoupSession *session, WeftMockLlm *mock, const char *body, Response *r)
{
  g_autoptr(SoupMessage) msg = chat_message (mock, body);

  send_sync (session, msg, r);
}

static char *
user_request (const char *text, gboolean stream)
{
  return g_strdup_printf ("{\"model\": \"gpt-test\", \"stream\": %s, \"messages\": ["
                          "{\"role\": \"system\", \"content\": \"be brief\"},"
                          "{\"role\": \"user\", \"content\": \"%s\"}]}",
                          stream ? "true" : "false", text);
}

static JsonNode *
parse (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

/* Checks an OpenAI chat.completion object; returns its choices[0].message. */
static JsonObject *
check_completion (JsonNode *root, const char *finish_reason)
{
  JsonObject *o = json_node_get_object (root);
  JsonObject *choice, *usage;

  g_assert_cmpstr (json_object_get_string_member (o, "object"), ==, "chat.completion");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (o, "id"), "chatcmpl-"));
  g_assert_cmpint (json_object_get_int_member (o, "created"), >, 1600000000);
  g_assert_cmpstr (json_object_get_string_member (o, "model"), ==, "gpt-test");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "choices")), ==, 1);
  choice = json_array_get_object_element (json_object_get_array_member (o, "choices"), 0);
  g_assert_cmpint (json_object_get_int_member (choice, "index"), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (choice, "finish_reason"), ==, finish_reason);
  usage = json_object_get_object_member (o, "usage");
  g_assert_cmpint (json_object_get_int_member (usage, "prompt_tokens"), >=, 1);
  g_assert_cmpint (json_object_get_int_member (usage, "completion_tokens"), >=, 1);
  g_assert_cmpint (json_object_get_int_member (usage, "total_tokens"), ==,
                   json_object_get_int_member (usage, "prompt_tokens")
                   + json_object_get_int_member (usage, "completion_tokens"));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (choice, "message"),
                                                  "role"), ==, "assistant");
  return json_object_get_object_member (choice, "message");
}

static char *
completion_content (const char *body)
{
  g_autoptr(JsonNode) root = parse (body);
  JsonObject *message = check_completion (root, "stop");

  return g_strdup (json_object_get_string_member (message, "content"));
}

static WeftMockLlm *
mock_new_threads (guint n_threads)
{
  g_autoptr(GError) error = NULL;
  WeftMockLlm *mock = n_threads == 1 ? weft_mock_llm_new (&error)
                                     : weft_mock_llm_new_full (0, n_threads, &error);

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (weft_mock_llm_get_base_url (mock), "http://127.0.0.1:"));
  g_assert_true (g_str_has_suffix (weft_mock_llm_get_base_url (mock), "/v1"));
  g_assert_cmpuint (weft_mock_llm_get_port (mock), >, 0);
  return mock;
}

static WeftMockLlm *
mock_new (void)
{
  return mock_new_threads (1);
}

/* The server counts a request out of flight once it has written the answer,
 * which the client may see a moment before: wait for it. */
static guint
in_flight_settled (WeftMockLlm *mock)
{
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;

  while (weft_mock_llm_get_in_flight (mock) > 0 && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  return weft_mock_llm_get_in_flight (mock);
}

/* ------------------------------------------------------------------ */

static void
test_echo_and_records (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_auto(Response) r = { 0 };
  g_autofree char *request = user_request ("hello there", FALSE);
  g_autofree char *content = NULL;
  g_autofree char *body = NULL;
  g_autofree char *auth = NULL;
  g_autofree char *missing = NULL;
  gint64 before = g_get_monotonic_time ();

  post (session, mock, request, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (r.content_type, ==, "application/json");
  content = completion_content (r.body);
  g_assert_cmpstr (content, ==, "echo: hello there");

  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 1);
  body = weft_mock_llm_dup_request_body (mock, 0);
  g_assert_cmpstr (body, ==, request);
  auth = weft_mock_llm_dup_request_header (mock, 0, "authorization");
  g_assert_cmpstr (auth, ==, "Bearer sk-test");
  missing = weft_mock_llm_dup_request_header (mock, 0, "X-Nothing");
  g_assert_null (missing);
  g_assert_cmpint (weft_mock_llm_get_request_time (mock, 0), >=, before);
  g_assert_cmpint (weft_mock_llm_get_request_time (mock, 0), <=, g_get_monotonic_time ());
  g_assert_cmpuint (weft_mock_llm_get_max_in_flight (mock), ==, 1);
  g_assert_cmpuint (in_flight_settled (mock), ==, 0);

  weft_mock_llm_reset (mock);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 0);
}

static void
test_text_script (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("question", FALSE);
  const char *expected[] = { "first", "{\"answer\": 42}", "echo: question" };

  weft_mock_llm_push_text (mock, "first");
  weft_mock_llm_push_text (mock, "{\"answer\": 42}");
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_auto(Response) r = { 0 };
      g_autofree char *content = NULL;

      post (session, mock, request, &r);
      g_assert_cmpuint (r.status, ==, 200);
      content = completion_content (r.body);
      g_assert_cmpstr (content, ==, expected[i]);
    }
}

static void
check_tool_call (JsonArray *calls, guint i, const char *id, const char *name,
                 const char *key, const char *value)
{
  JsonObject *call = json_array_get_object_element (calls, i);
  JsonObject *function = json_object_get_object_member (call, "function");
  const char *arguments = json_object_get_string_member (function, "arguments");
  g_autoptr(JsonNode) args = parse (arguments);

  g_assert_cmpstr (json_object_get_string_member (call, "id"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (call, "type"), ==, "function");
  g_assert_cmpstr (json_object_get_string_member (function, "name"), ==, name);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (args), key), ==, value);
}

static void
test_tool_calls (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_auto(Response) r = { 0 };
  g_autofree char *request = user_request ("use your tools", FALSE);
  g_autoptr(JsonNode) root = NULL;
  JsonObject *message;
  JsonArray *calls;

  weft_mock_llm_push_tool_calls (mock,
      "[{\"name\": \"http-get\", \"arguments\": {\"url\": \"http://127.0.0.1/a\"}},"
      " {\"name\": \"exec\", \"arguments\": {\"arg\": \"x\"}}]");
  post (session, mock, request, &r);
  g_assert_cmpuint (r.status, ==, 200);
  root = parse (r.body);
  message = check_completion (root, "tool_calls");
  g_assert_true (json_node_is_null (json_object_get_member (message, "content")));
  calls = json_object_get_array_member (message, "tool_calls");
  g_assert_cmpuint (json_array_get_length (calls), ==, 2);
  check_tool_call (calls, 0, "call_1", "http-get", "url", "http://127.0.0.1/a");
  check_tool_call (calls, 1, "call_2", "exec", "arg", "x");
}

/* Parses server-sent events: the JSON chunks, and whether [DONE] ended them. */
static GPtrArray *
parse_sse (const char *body)
{
  GPtrArray *chunks = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_auto(GStrv) events = g_strsplit (body, "\n\n", -1);
  gboolean done = FALSE;
  guint n = g_strv_length (events);

  g_assert_cmpuint (n, >=, 2);
  g_assert_cmpstr (events[n - 1], ==, "");
  for (guint i = 0; i + 1 < n; i++)
    {
      g_assert_false (done);
      g_assert_true (g_str_has_prefix (events[i], "data: "));
      if (g_str_equal (events[i], "data: [DONE]"))
        done = TRUE;
      else
        g_ptr_array_add (chunks, parse (events[i] + strlen ("data: ")));
    }
  g_assert_true (done);
  return chunks;
}

/* Joins the content deltas of a stream; checks the chunks' shape. */
static char *
stream_content (GPtrArray *chunks, const char *finish_reason, gboolean usage)
{
  GString *text = g_string_new (NULL);
  guint n = chunks->len - (usage ? 1 : 0);

  for (guint i = 0; i < n; i++)
    {
      JsonObject *o = json_node_get_object (chunks->pdata[i]);
      JsonObject *choice = json_array_get_object_element (json_object_get_array_member (o, "choices"), 0);
      JsonObject *delta = json_object_get_object_member (choice, "delta");
      JsonNode *finish = json_object_get_member (choice, "finish_reason");

      g_assert_cmpstr (json_object_get_string_member (o, "object"), ==, "chat.completion.chunk");
      g_assert_cmpstr (json_object_get_string_member (o, "model"), ==, "gpt-test");
      g_assert_false (json_object_has_member (o, "usage"));
      if (i + 1 < n)
        g_assert_true (json_node_is_null (finish));
      else
        {
          g_assert_cmpstr (json_node_get_string (finish), ==, finish_reason);
          g_assert_cmpuint (json_object_get_size (delta), ==, 0);
        }
      if (json_object_has_member (delta, "content")
          && !json_node_is_null (json_object_get_member (delta, "content")))
        g_string_append (text, json_object_get_string_member (delta, "content"));
    }
  if (usage)
    {
      JsonObject *o = json_node_get_object (chunks->pdata[n]);

      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "choices")), ==, 0);
      g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (o, "usage"),
                                                   "total_tokens"), >=, 2);
    }
  return g_string_free (text, FALSE);
}

static void
test_stream (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *streamed = user_request ("stream me", TRUE);
  g_autofree char *plain = user_request ("plain", FALSE);
  const char *pieces[] = { "Hel", "lo, ", "world", NULL };

  /* A scripted stream, streamed: one delta per piece. */
  {
    g_auto(Response) r = { 0 };
    g_autoptr(GPtrArray) chunks = NULL;
    g_autofree char *text = NULL;

    weft_mock_llm_push_stream (mock, pieces);
    post (session, mock, streamed, &r);
    g_assert_cmpuint (r.status, ==, 200);
    g_assert_cmpstr (r.content_type, ==, "text/event-stream");
    chunks = parse_sse (r.body);
    g_assert_cmpuint (chunks->len, ==, 1 + 3 + 1);
    text = stream_content (chunks, "stop", FALSE);
    g_assert_cmpstr (text, ==, "Hello, world");
  }
  /* Not streamed when the request does not ask: joined. */
  {
    g_auto(Response) r = { 0 };
    g_autofree char *content = NULL;

    weft_mock_llm_push_stream (mock, pieces);
    post (session, mock, plain, &r);
    content = completion_content (r.body);
    g_assert_cmpstr (content, ==, "Hello, world");
  }
  /* An echo, streamed, with usage asked for. */
  {
    g_auto(Response) r = { 0 };
    g_autoptr(GPtrArray) chunks = NULL;
    g_autofree char *text = NULL;
    const char *request = "{\"model\": \"gpt-test\", \"stream\": true, "
                          "\"stream_options\": {\"include_usage\": true}, "
                          "\"messages\": [{\"role\": \"user\", \"content\": \"one two\"}]}";

    post (session, mock, request, &r);
    chunks = parse_sse (r.body);
    g_assert_cmpuint (chunks->len, ==, 1 + 3 + 1 + 1); /* "echo: ", "one ", "two" */
    text = stream_content (chunks, "stop", TRUE);
    g_assert_cmpstr (text, ==, "echo: one two");
  }
  /* Tool calls, streamed. */
  {
    g_auto(Response) r = { 0 };
    g_autoptr(GPtrArray) chunks = NULL;
    g_autofree char *text = NULL;
    JsonObject *delta;
    JsonArray *calls;

    weft_mock_llm_push_tool_calls (mock, "[{\"name\": \"exec\", \"arguments\": {\"arg\": \"y\"}}]");
    post (session, mock, streamed, &r);
    chunks = parse_sse (r.body);
    g_assert_cmpuint (chunks->len, ==, 2);
    text = stream_content (chunks, "tool_calls", FALSE);
    g_assert_cmpstr (text, ==, "");
    delta = json_object_get_object_member (
        json_array_get_object_element (
            json_object_get_array_member (json_node_get_object (chunks->pdata[0]), "choices"), 0),
        "delta");
    calls = json_object_get_array_member (delta, "tool_calls");
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (calls, 0), "index"),
                     ==, 0);
    check_tool_call (calls, 0, "call_1", "exec", "arg", "y");
  }
}

static void
test_errors (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("x", FALSE);
  struct { guint status; const char *retry_after; const char *type; const char *code; } cases[] = {
    { 429, "2", "requests", "rate_limit_exceeded" },
    { 500, NULL, "server_error", NULL },
    { 503, "0", "server_error", NULL },
    { 400, NULL, "invalid_request_error", NULL },
    { 401, NULL, "invalid_request_error", "invalid_api_key" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    weft_mock_llm_push_error (mock, cases[i].status, cases[i].retry_after, NULL);
  weft_mock_llm_push_error (mock, 502, NULL, "<html>bad gateway</html>");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(Response) r = { 0 };
      g_autoptr(JsonNode) root = NULL;
      JsonObject *error;

      post (session, mock, request, &r);
      g_assert_no_error (r.error);
      g_assert_cmpuint (r.status, ==, cases[i].status);
      g_assert_cmpstr (r.retry_after, ==, cases[i].retry_after);
      root = parse (r.body);
      error = json_object_get_object_member (json_node_get_object (root), "error");
      g_assert_nonnull (json_object_get_string_member (error, "message"));
      g_assert_cmpstr (json_object_get_string_member (error, "type"), ==, cases[i].type);
      g_assert_cmpstr (json_object_get_string_member_with_default (error, "code", NULL), ==,
                       cases[i].code);
    }
  {
    g_auto(Response) r = { 0 };

    post (session, mock, request, &r);
    g_assert_cmpuint (r.status, ==, 502);
    g_assert_cmpstr (r.body, ==, "<html>bad gateway</html>");
  }
  {
    g_auto(Response) r = { 0 };
    g_autofree char *content = NULL;

    post (session, mock, request, &r);
    content = completion_content (r.body);
    g_assert_cmpstr (content, ==, "echo: x");
  }
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, G_N_ELEMENTS (cases) + 2);
}

static void
test_bad_request (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  const char *bodies[] = { "this is not json", "[1, 2]", "{\"messages\": [" };

  weft_mock_llm_push_text (mock, "kept for later");
  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_auto(Response) r = { 0 };
      g_autoptr(JsonNode) root = NULL;
      JsonObject *error;

      post (session, mock, bodies[i], &r);
      g_assert_cmpuint (r.status, ==, 400);
      root = parse (r.body);
      error = json_object_get_object_member (json_node_get_object (root), "error");
      g_assert_nonnull (strstr (json_object_get_string_member (error, "message"), "JSON"));
      g_assert_cmpstr (json_object_get_string_member (error, "type"), ==, "invalid_request_error");
    }
  {
    g_auto(Response) r = { 0 };
    g_autofree char *request = user_request ("x", FALSE);
    g_autofree char *content = NULL;

    post (session, mock, request, &r);
    content = completion_content (r.body);
    g_assert_cmpstr (content, ==, "kept for later");
  }
}

static void
test_malformed (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_auto(Response) r = { 0 };
  g_autofree char *request = user_request ("x", FALSE);
  g_autoptr(JsonParser) parser = json_parser_new ();

  weft_mock_llm_push_malformed (mock);
  post (session, mock, request, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpstr (r.content_type, ==, "application/json");
  g_assert_true (g_str_has_prefix (r.body, "{\"id\":\"chatcmpl-"));
  g_assert_false (json_parser_load_from_data (parser, r.body, -1, NULL));
}

static void
test_drop (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("x", FALSE);

  weft_mock_llm_push_drop (mock);
  weft_mock_llm_push_text (mock, "after the drop");
  {
    g_auto(Response) r = { 0 };

    post (session, mock, request, &r);
    g_assert_nonnull (r.error);
    g_assert_null (r.body);
  }
  {
    g_auto(Response) r = { 0 };
    g_autofree char *content = NULL;

    post (session, mock, request, &r);
    g_assert_no_error (r.error);
    content = completion_content (r.body);
    g_assert_cmpstr (content, ==, "after the drop");
  }
  /* With latency: the connection closes after it. */
  {
    g_auto(Response) r = { 0 };
    gint64 start = g_get_monotonic_time ();

    weft_mock_llm_set_latency (mock, 150, 150);
    weft_mock_llm_push_drop (mock);
    post (session, mock, request, &r);
    g_assert_nonnull (r.error);
    g_assert_cmpint (ELAPSED_MS (start), >=, 140);
  }
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 3);
  g_assert_cmpuint (in_flight_settled (mock), ==, 0);
}

/* Sends a chat request on a plain socket and reads until the server
 * closes: the answer's exact bytes. */
static GBytes *
raw_exchange (WeftMockLlm *mock)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection =
    g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) weft_mock_llm_get_port (mock),
                                     NULL, &error);
  const char *body = "{\"messages\": []}";
  g_autofree char *request = g_strdup_printf ("POST /v1/chat/completions HTTP/1.1\r\n"
                                              "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                              "Content-Length: %zu\r\n\r\n%s", strlen (body), body);
  GByteArray *got = g_byte_array_new ();
  guint8 buffer[4096];
  gssize n;

  g_assert_no_error (error);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), request,
                             strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                   buffer, sizeof buffer, NULL, &error)) > 0)
    g_byte_array_append (got, buffer, (guint) n);
  g_assert_no_error (error);
  return g_byte_array_free_to_bytes (got);
}

static void
assert_bytes (GBytes *bytes, const char *want, gsize want_len)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  if (len != want_len || (len > 0 && memcmp (data, want, len) != 0))
    g_error ("got %" G_GSIZE_FORMAT " bytes \"%.*s\", want %" G_GSIZE_FORMAT " \"%s\"",
             len, (int) len, data, want_len, want);
}

/* Raw answers, on the wire exactly as asked: an empty 200, a body with a
 * NUL and bytes that are not UTF-8, a Content-Length promising more than
 * comes, none at all, no Content-Type. */
static void
test_raw_bytes (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  const char nasty[] = "a\0b\xff\xfe";
  const char *head = "Server: weft-mock-llm\r\n";

  weft_mock_llm_push_raw (mock, 200, "application/json", "", 0, -1, WEFT_MOCK_LLM_RAW_NONE);
  weft_mock_llm_push_raw (mock, 502, "text/html", nasty, sizeof nasty - 1, -1, WEFT_MOCK_LLM_RAW_NONE);
  weft_mock_llm_push_raw (mock, 200, "application/json", "{\"cho", -1, 1000, WEFT_MOCK_LLM_RAW_NONE);
  weft_mock_llm_push_raw (mock, 299, NULL, "xyz", -1, WEFT_MOCK_LLM_NO_LENGTH, WEFT_MOCK_LLM_RAW_NONE);
  {
    g_autoptr(GBytes) got = raw_exchange (mock);
    g_autofree char *want = g_strdup_printf ("HTTP/1.1 200 OK\r\n%sContent-Type: application/json\r\n"
                                             "Content-Length: 0\r\nConnection: close\r\n\r\n", head);
    assert_bytes (got, want, strlen (want));
  }
  {
    g_autoptr(GBytes) got = raw_exchange (mock);
    g_autofree char *want = g_strdup_printf ("HTTP/1.1 502 Bad Gateway\r\n%sContent-Type: text/html\r\n"
                                             "Content-Length: 5\r\nConnection: close\r\n\r\n", head);
    g_autoptr(GString) all = g_string_new (want);
    g_string_append_len (all, nasty, sizeof nasty - 1);
    assert_bytes (got, all->str, all->len);
  }
  {
    g_autoptr(GBytes) got = raw_exchange (mock);
    g_autofree char *want = g_strdup_printf ("HTTP/1.1 200 OK\r\n%sContent-Type: application/json\r\n"
                                             "Content-Length: 1000\r\nConnection: close\r\n\r\n{\"cho",
                                             head);
    assert_bytes (got, want, strlen (want));
  }
  {
    g_autoptr(GBytes) got = raw_exchange (mock);
    g_autofree char *want = g_strdup_printf ("HTTP/1.1 299 Unknown Error\r\n%sConnection: close\r\n\r\nxyz",
                                             head);
    assert_bytes (got, want, strlen (want));
  }
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 4);
  g_assert_cmpuint (in_flight_settled (mock), ==, 0);
}

/* Through libsoup: an empty 401, a body cut short; a held connection stays
 * in flight until the client lets it go, and one still held when the mock
 * stops is closed. */
static void
test_raw_soup (void)
{
  WeftMockLlm *mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("x", FALSE);

  weft_mock_llm_set_latency (mock, 50, 50);
  weft_mock_llm_push_raw (mock, 401, "application/json", "", 0, -1, WEFT_MOCK_LLM_RAW_NONE);
  weft_mock_llm_push_raw (mock, 200, "application/json", "{\"choices\"", -1, 500, WEFT_MOCK_LLM_RAW_NONE);
  {
    g_auto(Response) r = { 0 };

    post (session, mock, request, &r);
    g_assert_no_error (r.error);
    g_assert_cmpuint (r.status, ==, 401);
    /* An empty GBytes has no data: the body comes back NULL. */
    g_assert_null (r.body);
  }
  {
    g_auto(Response) r = { 0 };

    /* libsoup 3.2 says nothing of a body cut short: a client must
     * count what it got against the Content-Length itself. */
    post (session, mock, request, &r);
    g_assert_no_error (r.error);
    g_assert_cmpuint (r.status, ==, 200);
    g_assert_cmpstr (r.body, ==, "{\"choices\"");
  }
  g_assert_cmpuint (in_flight_settled (mock), ==, 0);

  /* Held: the client has read all it was promised and stops reading. */
  weft_mock_llm_set_latency (mock, 0, 0);
  weft_mock_llm_push_raw (mock, 200, "text/plain", "held", -1, 1000000, WEFT_MOCK_LLM_RAW_HOLD);
  {
    g_autoptr(SoupMessage) msg = chat_message (mock, request);
    g_autoptr(GError) error = NULL;
    g_autoptr(GInputStream) in = soup_session_send (session, msg, NULL, &error);
    char buffer[4];
    gsize n = 0;

    g_assert_no_error (error);
    g_input_stream_read_all (in, buffer, sizeof buffer, &n, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (buffer, n, "held", 4);
    g_usleep (100000);
    g_assert_cmpuint (weft_mock_llm_get_in_flight (mock), ==, 1);
  }
  weft_mock_llm_free (mock);
  soup_session_abort (session);
}

/* Reads a response in pieces as they come. */
static void
read_trickle (SoupSession *session, WeftMockLlm *mock, const char *request, guint *n_reads,
              char **body, guint *status)
{
  g_autoptr(SoupMessage) msg = chat_message (mock, request);
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) in = soup_session_send (session, msg, NULL, &error);
  GString *text = g_string_new (NULL);
  char buffer[4096];
  gssize n;

  g_assert_no_error (error);
  *status = soup_message_get_status (msg);
  *n_reads = 0;
  while ((n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error)) > 0)
    {
      g_string_append_len (text, buffer, n);
      (*n_reads)++;
    }
  g_assert_no_error (error);
  *body = g_string_free (text, FALSE);
}

static void
test_trickle (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("x", FALSE);
  g_autofree char *streamed = user_request ("x", TRUE);

  {
    g_autofree char *body = NULL;
    g_autofree char *content = NULL;
    guint n_reads, status;
    gint64 start = g_get_monotonic_time ();

    weft_mock_llm_push_trickle (mock, "slowly but surely", 300);
    read_trickle (session, mock, request, &n_reads, &body, &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpint (ELAPSED_MS (start), >=, 280);
    g_assert_cmpint (ELAPSED_MS (start), <, 2000);
    g_assert_cmpuint (n_reads, >=, 5);
    content = completion_content (body);
    g_assert_cmpstr (content, ==, "slowly but surely");
  }
  /* Streamed and after a latency. */
  {
    g_autofree char *body = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GPtrArray) chunks = NULL;
    guint n_reads, status;
    gint64 start = g_get_monotonic_time ();

    weft_mock_llm_set_latency (mock, 100, 100);
    weft_mock_llm_push_trickle (mock, "a b c", 200);
    read_trickle (session, mock, streamed, &n_reads, &body, &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpint (ELAPSED_MS (start), >=, 280);
    g_assert_cmpuint (n_reads, >=, 5);
    chunks = parse_sse (body);
    text = stream_content (chunks, "stop", FALSE);
    g_assert_cmpstr (text, ==, "a b c");
  }
}

static void
test_latency (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("x", FALSE);

  weft_mock_llm_set_latency (mock, 200, 200);
  {
    g_auto(Response) r = { 0 };
    gint64 start = g_get_monotonic_time ();

    post (session, mock, request, &r);
    g_assert_cmpuint (r.status, ==, 200);
    g_assert_cmpint (ELAPSED_MS (start), >=, 195);
    g_assert_cmpint (ELAPSED_MS (start), <, 1500);
  }
  weft_mock_llm_set_latency (mock, 20, 80);
  for (guint i = 0; i < 5; i++)
    {
      g_auto(Response) r = { 0 };
      gint64 start = g_get_monotonic_time ();

      weft_mock_llm_push_error (mock, 429, "1", NULL);
      post (session, mock, request, &r);
      g_assert_cmpuint (r.status, ==, 429);
      g_assert_cmpint (ELAPSED_MS (start), >=, 19);
      g_assert_cmpint (ELAPSED_MS (start), <, 1000);
    }
}

static void
test_rules (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *weather = user_request ("what is the weather in Paris?", FALSE);
  g_autofree char *other = user_request ("something else", FALSE);
  const char *tool_result = "{\"model\": \"gpt-test\", \"messages\": ["
      "{\"role\": \"user\", \"content\": \"fetch it\"},"
      "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": []},"
      "{\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": \"page: FETCHED\"}]}";

  weft_mock_llm_add_text_rule (mock, "weather", "sunny");
  weft_mock_llm_add_text_rule (mock, "FETCHED", "the page says hello");
  weft_mock_llm_add_tool_rule (mock, "fetch it",
                               "[{\"name\": \"http-get\", \"arguments\": {\"url\": \"u\"}}]");
  weft_mock_llm_push_text (mock, "scripted");

  for (guint i = 0; i < 2; i++) /* rules are not consumed */
    {
      g_auto(Response) r = { 0 };
      g_autofree char *content = NULL;

      post (session, mock, weather, &r);
      content = completion_content (r.body);
      g_assert_cmpstr (content, ==, "sunny");
    }
  {
    g_auto(Response) r = { 0 };
    g_autofree char *content = NULL;

    post (session, mock, tool_result, &r);
    g_assert_cmpuint (r.status, ==, 200);
    content = completion_content (r.body);
    g_assert_cmpstr (content, ==, "the page says hello");
  }
  {
    g_auto(Response) r = { 0 };
    g_autoptr(JsonNode) root = NULL;
    JsonObject *message;
    const char *request = "{\"model\": \"gpt-test\", \"messages\": ["
                          "{\"role\": \"user\", \"content\": [{\"type\": \"text\", "
                          "\"text\": \"please fetch it\"}]}]}";

    post (session, mock, request, &r);
    root = parse (r.body);
    message = check_completion (root, "tool_calls");
    check_tool_call (json_object_get_array_member (message, "tool_calls"), 0, "call_1",
                     "http-get", "url", "u");
  }
  {
    g_auto(Response) r = { 0 };
    g_autofree char *content = NULL;

    post (session, mock, other, &r);
    content = completion_content (r.body);
    g_assert_cmpstr (content, ==, "scripted");
  }
}

static void
test_models_and_unknown (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new ();
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *models_url = g_strconcat (weft_mock_llm_get_base_url (mock), "/models", NULL);
  g_autofree char *other_url = g_strconcat (weft_mock_llm_get_base_url (mock), "/embeddings",
                                            NULL);

  {
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", models_url);
    g_auto(Response) r = { 0 };
    g_autoptr(JsonNode) root = NULL;
    JsonArray *data;

    send_sync (session, msg, &r);
    g_assert_cmpuint (r.status, ==, 200);
    root = parse (r.body);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "object"), ==,
                     "list");
    data = json_object_get_array_member (json_node_get_object (root), "data");
    g_assert_cmpuint (json_array_get_length (data), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (data, 0), "id"),
                     ==, "weft-mock");
  }
  {
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", other_url);
    g_auto(Response) r = { 0 };

    send_sync (session, msg, &r);
    g_assert_cmpuint (r.status, ==, 404);
  }
  {
    g_autofree char *url = g_strconcat (weft_mock_llm_get_base_url (mock), "/chat/completions",
                                        NULL);
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
    g_auto(Response) r = { 0 };

    send_sync (session, msg, &r);
    g_assert_cmpuint (r.status, ==, 405);
  }
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 0);
}

/* Many requests at once from one thread, asynchronously. */
typedef struct {
  guint left, ok;
  GMainLoop *loop;
} Many;

static void
many_one_done (Many *many, gboolean ok)
{
  if (ok)
    many->ok++;
  if (--many->left == 0)
    g_main_loop_quit (many->loop);
}

static void
many_done (GObject *source, GAsyncResult *result, gpointer data)
{
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result,
                                                                &error);

  g_assert_no_error (error);
  many_one_done (data, soup_message_get_status (msg) == 200 && g_bytes_get_size (bytes) > 0);
}

/* A bare HTTP/1.1 client (one connection per request, "Connection: close"),
 * so that what is measured is the server: libsoup 3.2's SoupSession itself
 * slows down badly with a thousand connections to one host. */
typedef struct {
  Many *many;
  GSocketConnection *connection;
  char *request;
  char *expected;
  GString *response;
  char buffer[2048];
} Raw;

static void
raw_finish (Raw *raw, gboolean ok)
{
  many_one_done (raw->many, ok);
  g_clear_object (&raw->connection);
  g_free (raw->request);
  g_free (raw->expected);
  g_string_free (raw->response, TRUE);
  g_free (raw);
}

static void
raw_read (GObject *source, GAsyncResult *result, gpointer data)
{
  Raw *raw = data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  g_assert_no_error (error);
  if (n > 0)
    {
      g_string_append_len (raw->response, raw->buffer, n);
      g_input_stream_read_async (G_INPUT_STREAM (source), raw->buffer, sizeof raw->buffer,
                                 G_PRIORITY_DEFAULT, NULL, raw_read, raw);
      return;
    }
  raw_finish (raw, g_str_has_prefix (raw->response->str, "HTTP/1.1 200")
                   && strstr (raw->response->str, raw->expected) != NULL);
}

static void
raw_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Raw *raw = data;
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  g_assert_no_error (error);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (raw->connection)),
                             raw->buffer, sizeof raw->buffer, G_PRIORITY_DEFAULT, NULL,
                             raw_read, raw);
}

static void
raw_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Raw *raw = data;
  g_autoptr(GError) error = NULL;

  raw->connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  g_assert_no_error (error);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (raw->connection)),
                                   raw->request, strlen (raw->request), G_PRIORITY_DEFAULT,
                                   NULL, raw_written, raw);
}

static void
many_at_once (guint n, gboolean with_soup, guint n_threads)
{
  g_autoptr(WeftMockLlm) mock = mock_new_threads (n_threads);
  g_autoptr(SoupSession) session = session_new ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback,
                                                                 weft_mock_llm_get_port (mock));
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Many many = { n, 0, loop };
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed;

  g_socket_client_set_enable_proxy (client, FALSE);
  weft_mock_llm_set_latency (mock, 200, 200);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("request %u", i);
      g_autofree char *request = user_request (text, FALSE);

      if (with_soup)
        {
          g_autoptr(SoupMessage) msg = chat_message (mock, request);

          soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, many_done,
                                            &many);
        }
      else
        {
          Raw *raw = g_new0 (Raw, 1);

          raw->many = &many;
          raw->response = g_string_new (NULL);
          raw->expected = g_strdup_printf ("\"content\":\"echo: %s\"", text);
          raw->request = g_strdup_printf ("POST /v1/chat/completions HTTP/1.1\r\n"
                                          "Host: 127.0.0.1\r\n"
                                          "Content-Type: application/json\r\n"
                                          "Content-Length: %zu\r\n"
                                          "Connection: close\r\n\r\n%s",
                                          strlen (request), request);
          g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (address), NULL,
                                         raw_connected, raw);
        }
    }
  g_main_loop_run (loop);
  elapsed = ELAPSED_MS (start);
  g_test_message ("%u requests (%s, %u server thread(s)) with 200 ms latency: %"
                  G_GINT64_FORMAT " ms; arrivals from %" G_GINT64_FORMAT " to %"
                  G_GINT64_FORMAT " ms; at most %u in flight",
                  n, with_soup ? "SoupSession" : "bare sockets", n_threads, elapsed,
                  (weft_mock_llm_get_request_time (mock, 0) - start) / 1000,
                  (weft_mock_llm_get_request_time (mock, n - 1) - start) / 1000,
                  weft_mock_llm_get_max_in_flight (mock));
  g_assert_cmpuint (many.ok, ==, n);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, n);
  /* How many overlap depends on how fast this one thread can connect. */
  g_assert_cmpuint (weft_mock_llm_get_max_in_flight (mock), <=, n);
  g_assert_cmpuint (weft_mock_llm_get_max_in_flight (mock), >=, MIN (n, 50));
  g_assert_cmpuint (in_flight_settled (mock), ==, 0);
  g_assert_cmpint (elapsed, >=, 200);
  g_assert_cmpint (elapsed, <, 30000); /* a sanity bound: sanitizers and busy machines */
}

static void
test_many_at_once_soup (void)
{
  many_at_once (100, TRUE, 1);
}

static void
test_many_at_once (void)
{
  many_at_once (2000, FALSE, 1);
}

/* The same from four server threads: every request answered, each with
 * its own echo, every one counted and recorded once. */
static void
test_many_at_once_threads (void)
{
  many_at_once (2000, FALSE, 4);
  many_at_once (100, TRUE, 4);
}

/* Not recording: requests are counted, nothing else is kept. */
static void
test_not_recording (void)
{
  g_autoptr(WeftMockLlm) mock = mock_new_threads (2);
  g_autoptr(SoupSession) session = session_new ();
  g_autofree char *request = user_request ("hello", FALSE);

  weft_mock_llm_set_recording (mock, FALSE);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(SoupMessage) msg = chat_message (mock, request);
      g_auto(Response) r = { 0 };
      g_autofree char *content = NULL;

      send_sync (session, msg, &r);
      g_assert_no_error (r.error);
      g_assert_cmpuint (r.status, ==, 200);
      content = completion_content (r.body);
      g_assert_cmpstr (content, ==, "echo: hello");
    }
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 3);
  g_assert_cmpuint (in_flight_settled (mock), ==, 0);
  weft_mock_llm_reset (mock);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (mock), ==, 0);
}

/* The mock stops with answers still waiting. */
static void
test_free_while_waiting (void)
{
  g_autoptr(SoupSession) session = session_new ();
  WeftMockLlm *mock = mock_new ();
  g_autofree char *request = user_request ("x", FALSE);
  GMainContext *context = g_main_context_default ();
  g_autoptr(SoupMessage) msg = chat_message (mock, request);
  g_autoptr(SoupMessage) trickle = chat_message (mock, request);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  weft_mock_llm_push_trickle (mock, "never finished", 10000);
  soup_session_send_async (session, trickle, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  weft_mock_llm_set_latency (mock, 60000, 60000);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  while (weft_mock_llm_get_n_requests (mock) < 2 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, FALSE);
  g_assert_cmpuint (weft_mock_llm_get_in_flight (mock), ==, 2);
  weft_mock_llm_free (mock);
  soup_session_abort (session);
  while (g_main_context_iteration (context, FALSE))
    ;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mock-llm/echo-and-records", test_echo_and_records);
  g_test_add_func ("/mock-llm/text-script", test_text_script);
  g_test_add_func ("/mock-llm/tool-calls", test_tool_calls);
  g_test_add_func ("/mock-llm/stream", test_stream);
  g_test_add_func ("/mock-llm/errors", test_errors);
  g_test_add_func ("/mock-llm/bad-request", test_bad_request);
  g_test_add_func ("/mock-llm/malformed", test_malformed);
  g_test_add_func ("/mock-llm/drop", test_drop);
  g_test_add_func ("/mock-llm/raw/bytes", test_raw_bytes);
  g_test_add_func ("/mock-llm/raw/soup", test_raw_soup);
  g_test_add_func ("/mock-llm/trickle", test_trickle);
  g_test_add_func ("/mock-llm/latency", test_latency);
  g_test_add_func ("/mock-llm/rules", test_rules);
  g_test_add_func ("/mock-llm/models-and-unknown", test_models_and_unknown);
  g_test_add_func ("/mock-llm/many-at-once-soup", test_many_at_once_soup);
  g_test_add_func ("/mock-llm/many-at-once", test_many_at_once);
  g_test_add_func ("/mock-llm/many-at-once-threads", test_many_at_once_threads);
  g_test_add_func ("/mock-llm/not-recording", test_not_recording);
  g_test_add_func ("/mock-llm/free-while-waiting", test_free_while_waiting);
  return g_test_run ();
}
