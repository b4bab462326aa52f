/* test-openai.c — the openai agent against the mock server on 127.0.0.1:
 * the exact requests it sends, tool calls (at once, results in call
 * order), structured output, streaming, retries and their limits,
 * cancellation, and the rate limits shared by every run of an agent.
 *
 * Timings are only ever checked as lower bounds (a delay the agent must
 * wait at least) or as orders between timestamps: the machine may be
 * loaded, which makes things late, never early. */
#include "weft-test-openai.h"

/* ------------------------------------------------------------------------ */
/* What weft sends                                                          */

static void
test_request_body (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f,
    "\"api_key\": \"" SECRET "\", \"role\": \"Researcher\", \"goal\": \"Find facts\","
    " \"backstory\": \"You read a lot.\", \"system\": \"Be brief.\", \"temperature\": 0.5,"
    " \"max_tokens\": 100, \"headers\": {\"X-Team\": \"blue\", \"OpenAI-Organization\": \"org-1\"}", NULL,
    "{\"name\": \"a\", \"agent\": \"llm\", \"description\": \"Say A.\"},"
    "{\"name\": \"b\", \"agent\": \"llm\", \"description\": \"Say B.\", \"expected_output\": \"one word\","
    " \"context\": [\"a\"]}");
  g_autoptr(WeftRun) run = run_flow (flow);
  const char *system = "{\"role\":\"system\",\"content\":\"You are Researcher. You read a lot.\\n"
                       "Your personal goal is: Find facts\\n\\nBe brief.\"}";
  g_autofree char *want_a = g_strdup_printf (
    "{\"model\":\"mock-1\",\"messages\":[%s,{\"role\":\"user\",\"content\":\"Say A.\"}],"
    "\"temperature\":0.5,\"max_tokens\":100}", system);
  g_autofree char *want_b = g_strdup_printf (
    "{\"model\":\"mock-1\",\"messages\":[%s,{\"role\":\"user\",\"content\":"
    "\"Say B.\\n\\nExpected output: one word\\n\\nContext:\\n\\n## a\\necho: Say A.\"}],"
    "\"temperature\":0.5,\"max_tokens\":100}", system);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  assert_task_output (run, 0, "echo: Say A.");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
  /* The exact bytes: members in this order, nothing else. */
  g_autofree char *body_a = weft_mock_llm_dup_request_body (f->mock, 0);
  g_autofree char *body_b = weft_mock_llm_dup_request_body (f->mock, 1);
  g_assert_cmpstr (body_a, ==, want_a);
  g_assert_cmpstr (body_b, ==, want_b);

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *auth = weft_mock_llm_dup_request_header (f->mock, i, "Authorization");
      g_autofree char *team = weft_mock_llm_dup_request_header (f->mock, i, "X-Team");
      g_autofree char *org = weft_mock_llm_dup_request_header (f->mock, i, "OpenAI-Organization");
      g_autofree char *type = weft_mock_llm_dup_request_header (f->mock, i, "Content-Type");
      g_assert_cmpstr (auth, ==, "Bearer " SECRET);
      g_assert_cmpstr (team, ==, "blue");
      g_assert_cmpstr (org, ==, "org-1");
      g_assert_cmpstr (type, ==, "application/json");
    }
}

/* No key, no Authorization header (local servers); no persona, no system
 * message; the defaults add nothing to the body. */
static void
test_request_minimal (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, 0);
  g_autofree char *auth = weft_mock_llm_dup_request_header (f->mock, 0, "Authorization");

  assert_task_output (run, 0, "echo: Hi");
  g_assert_cmpstr (body, ==, "{\"model\":\"mock-1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
  g_assert_null (auth);
}

/* The key is a secret: in no event, error or output, even when the
 * provider quotes it back. */
static void
test_secret_never_shown (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_error (f->mock, 401, NULL,
                            "{\"error\": {\"message\": \"Incorrect API key provided: " SECRET ".\","
                            " \"type\": \"invalid_request_error\"}}");
  g_autoptr(WeftRun) run = run_one (f, "\"api_key\": \"" SECRET "\", \"stream\": true", "Hi");
  g_autoptr(JsonNode) result = weft_run_to_json (run);
  g_autofree char *result_text = json_to_string (result, FALSE);

  assert_task_error (run, 0, "Incorrect API key provided: [redacted].");
  g_assert_null (strstr (weft_run_get_task_error (run, 0)->message, SECRET));
  g_assert_null (strstr (result_text, SECRET));
  for (guint i = 0; i < f->events->json->len; i++)
    g_assert_null (strstr (f->events->json->pdata[i], SECRET));
}

/* ------------------------------------------------------------------------ */
/* Tools                                                                    */

static const char *const slow_tools =
  "\"slow\": {\"plugin\": \"test-tool\", \"sleep_ms\": 1000, \"description\": \"sleeps a second\"},"
  "\"quick\": {\"plugin\": \"test-tool\"}";

/* Five calls of a tool that takes a second: all run at once (each started
 * before any ended), their results go back in the order of the calls. */
static void
test_tools_parallel (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_tool_calls (f->mock,
    "[{\"name\": \"slow\", \"arguments\": {\"n\": 0}}, {\"name\": \"slow\", \"arguments\": {\"n\": 1}},"
    " {\"name\": \"slow\", \"arguments\": {\"n\": 2}}, {\"name\": \"slow\", \"arguments\": {\"n\": 3}},"
    " {\"name\": \"slow\", \"arguments\": {\"n\": 4}}]");
  weft_mock_llm_push_text (f->mock, "all done");
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"tools\": [\"slow\", \"quick\"]", slow_tools,
                                           "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Go.\"}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  assert_task_output (run, 0, "all done");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);

  /* The first request offers both tools, with their schemas. */
  g_autoptr(JsonNode) first = request_json (f, 0);
  assert_json_equal (json_object_get_member (json_node_get_object (first), "tools"),
    "[{\"type\":\"function\",\"function\":{\"name\":\"slow\",\"description\":\"sleeps a second\","
    "  \"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},"
    "                  \"fail\":{\"type\":\"boolean\"}}}}},"
    " {\"type\":\"function\",\"function\":{\"name\":\"quick\","
    "  \"description\":\"Test tool: sleeps, then says when it ran\","
    "  \"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},"
    "                  \"fail\":{\"type\":\"boolean\"}}}}}]");

  /* The second: the assistant's calls, then one result per call, in order. */
  g_autoptr(JsonNode) second = request_json (f, 1);
  JsonArray *messages = json_object_get_array_member (json_node_get_object (second), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 7);
  JsonObject *assistant = json_array_get_object_element (messages, 1);
  g_assert_cmpstr (json_object_get_string_member (assistant, "role"), ==, "assistant");
  g_assert_true (json_object_get_null_member (assistant, "content"));
  JsonArray *calls = json_object_get_array_member (assistant, "tool_calls");
  g_assert_cmpuint (json_array_get_length (calls), ==, 5);
  gint64 first_end = G_MAXINT64, last_start = 0;
  for (guint i = 0; i < 5; i++)
    {
      JsonObject *call = json_array_get_object_element (calls, i);
      JsonObject *fn = json_object_get_object_member (call, "function");
      JsonObject *result = json_array_get_object_element (messages, 2 + i);
      g_autofree char *args = g_strdup_printf ("{\"n\":%u}", i);
      g_autofree char *prefix = g_strdup_printf ("slow n=%u ", i);
      const char *content = json_object_get_string_member (result, "content");
      gint64 start, end;

      g_assert_cmpstr (json_object_get_string_member (call, "type"), ==, "function");
      g_assert_cmpstr (json_object_get_string_member (fn, "name"), ==, "slow");
      g_assert_cmpstr (json_object_get_string_member (fn, "arguments"), ==, args);
      g_assert_cmpstr (json_object_get_string_member (result, "role"), ==, "tool");
      g_assert_cmpstr (json_object_get_string_member (result, "tool_call_id"), ==,
                       json_object_get_string_member (call, "id"));
      g_assert_true (g_str_has_prefix (content, prefix));
      g_assert_cmpint (sscanf (content + strlen (prefix), "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                               &start, &end), ==, 2);
      first_end = MIN (first_end, end);
      last_start = MAX (last_start, start);
    }
  /* Five one-second calls took about one second, not five. */
  g_assert_cmpint (last_start, <, first_end);

  g_autoptr(GPtrArray) tool_calls = events_steps (f->events, "tool_call");
  g_autoptr(GPtrArray) tool_results = events_steps (f->events, "tool_result");
  g_assert_cmpuint (tool_calls->len, ==, 5);
  g_assert_cmpuint (tool_results->len, ==, 5);
}

/* A tool's error, an unknown tool and arguments that are not an object go
 * back to the model as results; the task goes on. */
static void
test_tool_errors (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_tool_calls (f->mock,
    "[{\"name\": \"quick\", \"arguments\": {\"fail\": true}}, {\"name\": \"nope\", \"arguments\": {}},"
    " {\"name\": \"quick\", \"arguments\": \"[1]\"}, {\"name\": \"quick\", \"arguments\": {\"n\": 7}}]");
  weft_mock_llm_push_text (f->mock, "coped");
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"tools\": [\"quick\"]", slow_tools,
                                           "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Go.\"}");
  g_autoptr(WeftRun) run = run_flow (flow);

  assert_task_output (run, 0, "coped");
  g_autoptr(JsonNode) second = request_json (f, 1);
  JsonArray *messages = json_object_get_array_member (json_node_get_object (second), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 6);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 2), "content"),
                   ==, "error: asked to fail");
  weft_test_assert_contains (json_object_get_string_member (json_array_get_object_element (messages, 3),
                                                            "content"), "error: ");
  weft_test_assert_contains (json_object_get_string_member (json_array_get_object_element (messages, 3),
                                                            "content"), "\"nope\"");
  weft_test_assert_contains (json_object_get_string_member (json_array_get_object_element (messages, 4),
                                                            "content"), "not a JSON object");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (json_array_get_object_element (messages, 5),
                                                                  "content"), "quick n=7 "));
}

static void
test_max_iterations (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 3; i++)
    weft_mock_llm_push_tool_calls (f->mock, "[{\"name\": \"quick\", \"arguments\": {\"n\": 1}}]");
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"tools\": [\"quick\"], \"max_iterations\": 2", slow_tools,
                                           "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Go.\"}");
  g_autoptr(WeftRun) run = run_flow (flow);

  assert_task_error (run, 0, "no final answer after max_iterations (2) requests");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
}

/* ------------------------------------------------------------------------ */
/* Structured output                                                        */

#define SCHEMA "{\"type\": \"object\", \"properties\": {\"title\": {\"type\": \"string\"}," \
               " \"n\": {\"type\": \"integer\"}}, \"required\": [\"title\", \"n\"]," \
               " \"additionalProperties\": false}"

static void
test_response_format (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_text (f->mock, "{\"title\": \"x\", \"n\": \"two\"}");
  weft_mock_llm_push_text (f->mock, "{\"title\": \"x\", \"n\": 2}");
  g_autoptr(WeftRun) run = run_one (f, "\"response_format\": " SCHEMA, "Count.");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  assert_task_output (run, 0, "{\"title\": \"x\", \"n\": 2}");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);

  g_autoptr(JsonNode) first = request_json (f, 0);
  assert_json_equal (json_object_get_member (json_node_get_object (first), "response_format"),
                     "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"output\", \"schema\": "
                     SCHEMA ", \"strict\": true}}");
  /* The corrective retry: the bad answer, then what is wrong with it. */
  g_autofree char *messages = request_messages (f, 1);
  g_assert_cmpstr (messages, ==,
    "[{\"role\":\"user\",\"content\":\"Count.\"},"
    "{\"role\":\"assistant\",\"content\":\"{\\\"title\\\": \\\"x\\\", \\\"n\\\": \\\"two\\\"}\"},"
    "{\"role\":\"user\",\"content\":\"Your answer does not match the required JSON schema: "
    "$.n: expected integer, got string\\nAnswer again with only JSON that matches the schema.\"}]");
}

static void
test_response_format_fails (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_text (f->mock, "not json at all");
  weft_mock_llm_push_text (f->mock, "{\"title\": \"x\", \"n\": 2, \"extra\": 1}");
  weft_mock_llm_push_text (f->mock, "{\"title\": \"x\", \"n\": 2}");
  g_autoptr(WeftRun) run = run_one (f, "\"response_format\": " SCHEMA, "Count.");

  assert_task_error (run, 0, "does not match response_format (after one corrective retry): "
                             "$: property \"extra\" is not allowed");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
}

static void
check_schema (const char *schema, const char *value, const char *error_text)
{
  g_autoptr(JsonNode) s = json_from_string (schema, NULL);
  g_autoptr(JsonNode) v = json_from_string (value, NULL);
  g_autoptr(GError) error = NULL;
  gboolean ok = weft_openai_schema_validate (s, v, &error);

  if (error_text == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  else
    {
      g_assert_false (ok);
      g_assert_nonnull (error);
      g_assert_cmpstr (error->message, ==, error_text);
    }
}

static void
test_schema_validator (void)
{
  const char *items = "{\"type\": \"array\", \"items\": {\"type\": \"object\","
                      " \"properties\": {\"k\": {\"enum\": [\"a\", \"b\", 3]}}, \"required\": [\"k\"]}}";

  check_schema ("{\"type\": \"integer\"}", "3", NULL);
  check_schema ("{\"type\": \"integer\"}", "3.0", NULL);
  check_schema ("{\"type\": \"integer\"}", "3.5", "$: expected integer, got number");
  check_schema ("{\"type\": \"number\"}", "3", NULL);
  check_schema ("{\"type\": \"boolean\"}", "null", "$: expected boolean, got null");
  check_schema ("{\"type\": [\"string\", \"null\"]}", "null", NULL);
  check_schema ("{\"type\": [\"string\", \"null\"]}", "1", "$: expected string or null, got integer");
  check_schema (items, "[{\"k\": \"a\"}, {\"k\": 3}]", NULL);
  check_schema (items, "[{\"k\": \"a\"}, {\"k\": \"c\"}]", "$[1].k: \"c\" is not one of the allowed values");
  check_schema (items, "[{\"k\": \"a\"}, {}]", "$[1]: missing required property \"k\"");
  check_schema (items, "{}", "$: expected array, got object");
  check_schema ("{\"properties\": {\"a\": {\"type\": \"object\", \"additionalProperties\": false}}}",
                "{\"a\": {\"b\": 1}}", "$.a: property \"b\" is not allowed");
  check_schema ("{}", "[1, \"x\"]", NULL);
}

/* ------------------------------------------------------------------------ */
/* Streaming                                                                */

static void
test_stream (Fixture *f, gconstpointer data)
{
  const char *chunks[] = { "Once", " upon", " a time", NULL };

  weft_mock_llm_push_tool_calls (f->mock, "[{\"name\": \"quick\", \"arguments\": {\"n\": 5}},"
                                          " {\"name\": \"quick\", \"arguments\": {\"n\": 6}}]");
  weft_mock_llm_push_stream (f->mock, chunks);
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"stream\": true, \"tools\": [\"quick\"]", slow_tools,
                                           "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Tell.\"}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  assert_task_output (run, 0, "Once upon a time");
  g_autoptr(GPtrArray) got = events_steps (f->events, "chunk");
  g_assert_cmpuint (got->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (got->pdata[i], ==, chunks[i]);

  /* Both requests stream; the streamed tool calls were run, in order. */
  g_autoptr(JsonNode) first = request_json (f, 0);
  g_assert_true (json_object_get_boolean_member (json_node_get_object (first), "stream"));
  g_autoptr(JsonNode) second = request_json (f, 1);
  JsonObject *body = json_node_get_object (second);
  JsonArray *messages = json_object_get_array_member (body, "messages");
  g_assert_true (json_object_get_boolean_member (body, "stream"));
  g_assert_false (json_object_has_member (body, "stream_options"));
  g_assert_cmpuint (json_array_get_length (messages), ==, 4);
  g_assert_true (g_str_has_prefix (json_object_get_string_member (json_array_get_object_element (messages, 2),
                                                                  "content"), "quick n=5 "));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (json_array_get_object_element (messages, 3),
                                                                  "content"), "quick n=6 "));
}

/* ------------------------------------------------------------------------ */
/* Failures                                                                 */

/* 429 with Retry-After: 1 — the second request waits at least that long,
 * however small the backoff. */
static void
test_retry_429 (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_error (f->mock, 429, "1", NULL);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  assert_task_output (run, 0, "echo: Hi");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
  g_assert_cmpint (weft_mock_llm_get_request_time (f->mock, 1) - weft_mock_llm_get_request_time (f->mock, 0),
                   >=, 990000);
  g_autoptr(GPtrArray) retries = events_steps (f->events, "retry");
  g_assert_cmpuint (retries->len, ==, 1);
  g_assert_cmpstr (retries->pdata[0], ==, "429 Too Many Requests, retrying in 1.0 s (retry 1 of 5)");
}

/* Retry-After as an HTTP date. */
static void
test_retry_after_date (Fixture *f, gconstpointer data)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) later = g_date_time_add_seconds (now, 3);
  g_autofree char *date = g_date_time_format (later, "%a, %d %b %Y %H:%M:%S GMT");

  weft_mock_llm_push_error (f->mock, 503, date, NULL);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  /* The date has whole seconds: at least 2 of the 3 remain. */
  g_assert_cmpint (weft_mock_llm_get_request_time (f->mock, 1) - weft_mock_llm_get_request_time (f->mock, 0),
                   >=, 1900000);
}

static void
test_retry_5xx (Fixture *f, gconstpointer data)
{
  guint codes[] = { 500, 502, 503, 504 };

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    weft_mock_llm_push_error (f->mock, codes[i], NULL, NULL);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 5);
  g_autoptr(GPtrArray) retries = events_steps (f->events, "retry");
  g_assert_cmpuint (retries->len, ==, 4);
  g_assert_true (g_str_has_prefix (retries->pdata[0], "500 Internal Server Error, retrying in "));
  g_assert_true (g_str_has_prefix (retries->pdata[3], "504 Gateway Timeout, retrying in "));
}

/* Retries run out: the last error, saying how many were made. */
static void
test_retries_exhausted (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 3; i++)
    weft_mock_llm_push_error (f->mock, 500, NULL, "{\"error\": {\"message\": \"the server melted\"}}");
  g_autoptr(WeftRun) run = run_one (f, "\"max_retries\": 2", "Hi");
  g_autofree char *want = g_strdup_printf ("(after 2 retries) openai: HTTP 500 Internal Server Error from %s: "
                                           "the server melted", weft_mock_llm_get_base_url (f->mock));

  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  g_assert_cmpstr (weft_run_get_task_error (run, 0)->message, ==, want);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 3);
}

/* 4xx but 429: at once, with the provider's message and the status. */
static void
test_no_retry_4xx (Fixture *f, gconstpointer data)
{
  guint codes[] = { 400, 401, 403, 404, 422 };
  const char *phrases[] = { "Bad Request", "Unauthorized", "Forbidden", "Not Found", "Unprocessable Entity" };

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      g_autofree char *body = g_strdup_printf ("{\"error\": {\"message\": \"nope %u\", \"type\": \"x\"}}", codes[i]);
      g_autofree char *want = g_strdup_printf ("openai: HTTP %u %s from %s: nope %u", codes[i],
                                               phrases[i],
                                               weft_mock_llm_get_base_url (f->mock), codes[i]);
      weft_mock_llm_reset (f->mock);
      weft_mock_llm_push_error (f->mock, codes[i], NULL, body);
      g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");

      g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
      g_assert_cmpstr (weft_run_get_task_error (run, 0)->message, ==, want);
      g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 1);
    }
}

static void
test_malformed (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_malformed (f->mock);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
  g_autofree char *want = g_strdup_printf ("openai: malformed response from %s: ",
                                           weft_mock_llm_get_base_url (f->mock));

  assert_task_error (run, 0, want);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 1);
}

static void
test_dropped_connection (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_drop (f->mock);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  assert_task_output (run, 0, "echo: Hi");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
  g_autoptr(GPtrArray) retries = events_steps (f->events, "retry");
  g_assert_cmpuint (retries->len, ==, 1);
  g_assert_true (g_str_has_prefix (retries->pdata[0], "connection error ("));
}

/* ------------------------------------------------------------------------ */
/* Usage and cost                                                           */

/* A 200 answer with exact usage, as a provider words it. */
static void
push_with_usage (Fixture *f, const char *message, gint64 prompt, gint64 completion)
{
  g_autofree char *body = g_strdup_printf (
    "{\"id\": \"c\", \"object\": \"chat.completion\", \"model\": \"mock-1\","
    " \"choices\": [{\"index\": 0, \"message\": %s, \"finish_reason\": \"stop\"}],"
    " \"usage\": {\"prompt_tokens\": %" G_GINT64_FORMAT ", \"completion_tokens\": %"
    G_GINT64_FORMAT ", \"total_tokens\": %" G_GINT64_FORMAT "}}",
    message, prompt, completion, prompt + completion);
  weft_mock_llm_push_raw (f->mock, 200, "application/json", body, -1, -1,
                          WEFT_MOCK_LLM_RAW_NONE);
}

/* Task `i`'s usage, or the run's when `i` is -1. */
static void
assert_usage (WeftRun *run, gint i, gint64 want_prompt, gint64 want_completion,
              double want_cost)
{
  gint64 prompt = -1, completion = -1;
  double cost = 0;
  gboolean reported = i < 0 ? weft_run_get_usage (run, &prompt, &completion, &cost)
                            : weft_run_get_task_usage (run, (guint) i, &prompt, &completion,
                                                       &cost);

  g_assert_true (reported);
  g_assert_cmpint (prompt, ==, want_prompt);
  g_assert_cmpint (completion, ==, want_completion);
  g_assert_cmpfloat_with_epsilon (cost, want_cost, 1e-12);
}

/* Every answer's tokens, reported by the agent, summed per attempt (a tool
 * loop asks twice), per task and per run; priced by the agent's table; on
 * task.completed, in the run's JSON and in the store's. */
static void
test_usage_summed (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_dir_make_tmp ("weft-test-usage-XXXXXX", NULL);
  g_autofree char *db = g_build_filename (dir, "runs.db", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"u\", \"tools\": {%s},"
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"mock-1\", \"base_url\": \"%s\","
    "   \"tools\": [\"quick\"], \"prices\": {\"mock-1\": {\"input\": 1, \"output\": 2.5},"
    "                                       \"other\": {\"input\": 9, \"output\": 9}}},"
    "   \"free\": {\"plugin\": \"openai\", \"model\": \"mock-1\", \"base_url\": \"%s\"}},"
    " \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"llm\", \"description\": \"Use it.\"},"
    "             {\"name\": \"b\", \"agent\": \"llm\", \"description\": \"Sum up.\","
    "              \"context\": [\"a\"]},"
    "             {\"name\": \"c\", \"agent\": \"free\", \"description\": \"Free.\","
    "              \"context\": [\"b\"]}]}",
    slow_tools, weft_mock_llm_get_base_url (f->mock), weft_mock_llm_get_base_url (f->mock), db);

  /* a: a tool call, then its answer; b: one answer; c: unpriced. */
  push_with_usage (f, "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\":"
                   " \"call_1\", \"type\": \"function\", \"function\": {\"name\": \"quick\","
                   " \"arguments\": \"{}\"}}]}", 7, 3);
  push_with_usage (f, "{\"role\": \"assistant\", \"content\": \"done\"}", 11, 2);
  push_with_usage (f, "{\"role\": \"assistant\", \"content\": \"sum\"}", 100, 50);
  push_with_usage (f, "{\"role\": \"assistant\", \"content\": \"free\"}", 1000, 500);
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
  g_autoptr(WeftRun) run = run_flow (flow);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);

  /* Per task: a's two answers summed; cost per million, as the table says. */
  assert_usage (run, 0, 18, 5, (18 * 1 + 5 * 2.5) / 1e6);
  assert_usage (run, 1, 100, 50, (100 + 50 * 2.5) / 1e6);
  assert_usage (run, 2, 1000, 500, -1);
  /* The run: every task's tokens; the cost of those priced. */
  assert_usage (run, -1, 1118, 555, (118 + 55 * 2.5) / 1e6);

  /* On the events that end the attempts, and in the run's one JSON. */
  gboolean seen_a = FALSE;
  g_mutex_lock (&f->events->lock);
  for (guint i = 0; i < f->events->json->len; i++)
    if (strstr (f->events->json->pdata[i], "\"type\":\"task.completed\"")
        && strstr (f->events->json->pdata[i], "\"task\":\"a\""))
      {
        weft_test_assert_contains (f->events->json->pdata[i],
                                   "\"usage\":{\"prompt_tokens\":18,\"completion_tokens\":5,"
                                   "\"total_tokens\":23,\"cost\":");
        seen_a = TRUE;
      }
  g_mutex_unlock (&f->events->lock);
  g_assert_true (seen_a);
  g_autoptr(JsonNode) result = weft_run_to_json (run);
  JsonObject *usage = json_object_get_object_member (json_node_get_object (result), "usage");
  g_assert_cmpint (json_object_get_int_member (usage, "total_tokens"), ==, 1673);
  JsonObject *c = json_array_get_object_element (
    json_object_get_array_member (json_node_get_object (result), "tasks"), 2);
  g_assert_true (json_object_get_null_member (json_object_get_object_member (c, "usage"),
                                              "cost"));

  /* The store gives the same back. */
  g_clear_pointer (&flow, weft_flow_unref);
  weft_engine_shutdown (f->engine, 5000);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) options = json_object_new ();
  json_object_set_string_member (options, "path", db);
  g_autoptr(WeftStore) store = weft_store_open (f->engine, "sqlite", options, &error);
  g_assert_no_error (error);
  g_autoptr(JsonNode) stored = weft_store_get_run (store, weft_run_get_id (run), &error);
  g_assert_no_error (error);
  JsonObject *stored_usage = json_object_get_object_member (json_node_get_object (stored), "usage");
  g_assert_cmpint (json_object_get_int_member (stored_usage, "prompt_tokens"), ==, 1118);
  g_assert_cmpint (json_object_get_int_member (stored_usage, "completion_tokens"), ==, 555);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (stored_usage, "cost"),
                                  (118 + 55 * 2.5) / 1e6, 1e-12);
  JsonObject *stored_a = json_array_get_object_element (
    json_object_get_array_member (json_node_get_object (stored), "tasks"), 0);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (stored_a, "usage"),
                                               "total_tokens"), ==, 23);
  g_clear_pointer (&store, weft_store_free);
  weft_test_remove_dir (dir);
}

/* A price table is checked when the flow loads. */
static void
test_usage_prices_refused (Fixture *f, gconstpointer data)
{
  static const struct { const char *prices; const char *message; } cases[] = {
    { "{\"m\": 3}", "option \"prices\": \"m\" must be {\"input\": N, \"output\": N} (per "
                     "million tokens)" },
    { "{\"m\": {\"input\": 1}}", "option \"prices\": \"m\" needs \"output\": a price per "
                                   "million tokens, 0 or more" },
    { "{\"m\": {\"input\": 1, \"output\": -2}}", "option \"prices\": \"m\" needs \"output\"" },
    { "{\"m\": {\"input\": 1, \"output\": 2, \"cached\": 1}}",
      "option \"prices\": \"m\": unknown member \"cached\" (valid: input, output)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"name\": \"p\", \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"x\","
        " \"prices\": %s}}, \"tasks\": [{\"name\": \"t\", \"agent\": \"llm\","
        " \"description\": \"d\"}]}", cases[i].prices);
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, json, -1, "p.json", &error);
      g_assert_null (flow);
      g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
      weft_test_assert_contains (error->message, cases[i].message);
    }
}

/* A port nothing listens on, a name that does not resolve (.invalid never
 * does, RFC 6761): no server there, so no retry — at once, with what to
 * set.  An overloaded provider answers 429 or 503 and is retried. */
static void
test_unreachable_not_retried (Fixture *f, gconstpointer data)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, any, FALSE, NULL));
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address (socket, NULL);
  guint port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_close (socket, NULL);      /* bound, never listening: refused */
  g_autofree char *closed = g_strdup_printf ("http://127.0.0.1:%u/v1", port);
  const char *urls[] = { closed, "http://weft-test.invalid/v1" };

  for (guint i = 0; i < G_N_ELEMENTS (urls); i++)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"name\": \"t\", \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"m\","
        " \"base_url\": \"%s\", \"max_retries\": 5, \"retry_base_ms\": 1000}},"
        " \"tasks\": [{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Hi\"}]}",
        urls[i]);
      g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
      g_autoptr(WeftRun) run = run_flow (flow);
      g_autofree char *want = g_strdup_printf ("openai: cannot reach %s: ", urls[i]);
      const GError *error = weft_run_get_task_error (run, 0);

      g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
      g_test_message ("%s", error->message);
      assert_task_error (run, 0, want);
      weft_test_assert_contains (error->message, "(not retried: nothing answers at base_url; "
                                 "the examples take it from OPENAI_BASE_URL and the key from "
                                 "OPENAI_API_KEY; without either, weft-mock-llm answers: "
                                 "docs/mock-llm.md)");
      g_assert_null (strstr (error->message, "retries)"));
      g_autoptr(GPtrArray) retries = events_steps (f->events, "retry");
      g_assert_cmpuint (retries->len, ==, 0);
    }
}

/* A server that answers too slowly: the request is abandoned after
 * timeout_s (not after the 10 s the trickle would take). */
static void
test_request_timeout (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_trickle (f->mock, "slow answer", 10000);
  g_autoptr(WeftRun) run = run_one (f, "\"timeout_s\": 0.3, \"max_retries\": 0", "Hi");
  g_autofree char *want = g_strdup_printf ("openai: no answer from %s within 0.3 s",
                                           weft_mock_llm_get_base_url (f->mock));

  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  g_assert_cmpstr (weft_run_get_task_error (run, 0)->message, ==, want);
  g_assert_error (weft_run_get_task_error (run, 0), WEFT_ERROR, WEFT_ERROR_TIMEOUT);
  g_assert_cmpint (weft_run_get_duration_us (run), <, 8 * G_USEC_PER_SEC);
}

typedef struct {
  WeftMockLlm *mock;
  GCancellable *cancellable;
} CancelWhenAsked;

static gpointer
cancel_when_asked (gpointer data)
{
  CancelWhenAsked *c = data;

  while (weft_mock_llm_get_n_requests (c->mock) == 0)
    g_usleep (1000);
  g_usleep (50000);
  g_cancellable_cancel (c->cancellable);
  return NULL;
}

/* Cancelling the run aborts the request in flight at once, from another
 * thread.  The aborted request's concurrency slot comes back: with
 * max_concurrency 1, a second run still gets through. */
static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelWhenAsked c = { f->mock, cancellable };
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"max_concurrency\": 1", NULL,
                                           "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Hi\"}");
  g_autoptr(GError) error = NULL;

  weft_mock_llm_set_latency (f->mock, 30000, 30000);
  GThread *canceller = g_thread_new ("cancel", cancel_when_asked, &c);
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, cancellable, &error);
  g_thread_join (canceller);

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_CANCELLED);
  g_assert_cmpint (weft_run_get_duration_us (run), <, 20 * G_USEC_PER_SEC);

  weft_mock_llm_set_latency (f->mock, 0, 0);
  g_autoptr(WeftRun) again = run_flow (flow);
  g_assert_cmpint (weft_run_get_status (again), ==, WEFT_STATUS_COMPLETED);
}

/* A task timeout during a long backoff: the timer is dropped, the task
 * ends at its timeout. */
static void
test_cancel_during_backoff (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_error (f->mock, 429, "30", NULL);
  g_autoptr(WeftFlow) flow = fixture_flow (f, NULL, NULL,
    "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Hi\", \"timeout_s\": 0.5}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 1);
  g_assert_cmpint (weft_run_get_duration_us (run), <, 20 * G_USEC_PER_SEC);
}

/* Many tasks whose timeouts race their answers: each is returned exactly
 * once (the core would complain otherwise), the run ends. */
static void
test_races (Fixture *f, gconstpointer data)
{
  GString *tasks = g_string_new (NULL);

  for (guint i = 0; i < 60; i++)
    g_string_append_printf (tasks, "%s{\"name\": \"t%u\", \"agent\": \"llm\", \"description\": \"n%u\","
                                   " \"timeout_s\": 0.05}", i ? "," : "", i, i);
  weft_mock_llm_set_latency (f->mock, 0, 100);
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"max_concurrency\": 20", NULL, tasks->str);
  g_string_free (tasks, TRUE);
  for (guint round = 0; round < 3; round++)
    {
      g_autoptr(WeftRun) run = run_flow (flow);
      g_assert_cmpint (weft_run_get_status (run), !=, WEFT_STATUS_RUNNING);
    }
  weft_mock_llm_set_latency (f->mock, 0, 0);
  g_autoptr(WeftFlow) one = fixture_flow (f, NULL, NULL,
                                          "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"ok\"}");
  g_autoptr(WeftRun) run = run_flow (one);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
}

/* ------------------------------------------------------------------------ */
/* Rate limits                                                              */

static const char *const six_tasks =
  "{\"name\": \"a\", \"agent\": \"llm\", \"description\": \"a\"},"
  "{\"name\": \"b\", \"agent\": \"llm\", \"description\": \"b\"},"
  "{\"name\": \"c\", \"agent\": \"llm\", \"description\": \"c\"},"
  "{\"name\": \"d\", \"agent\": \"llm\", \"description\": \"d\"},"
  "{\"name\": \"e\", \"agent\": \"llm\", \"description\": \"e\"},"
  "{\"name\": \"f\", \"agent\": \"llm\", \"description\": \"f\"}";

static void
test_max_concurrency (Fixture *f, gconstpointer data)
{
  weft_mock_llm_set_latency (f->mock, 100, 100);
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"max_concurrency\": 2", NULL, six_tasks);
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 6);
  g_assert_cmpuint (weft_mock_llm_get_max_in_flight (f->mock), ==, 2);
}

/* Without a limit, the six go at once. */
static void
test_unlimited (Fixture *f, gconstpointer data)
{
  weft_mock_llm_set_latency (f->mock, 300, 300);
  g_autoptr(WeftFlow) flow = fixture_flow (f, NULL, NULL, six_tasks);
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpuint (weft_mock_llm_get_max_in_flight (f->mock), ==, 6);
}

/* Many at once: no cap at 256 in flight any more.  The first 256 requests
 * keep their connections alive (8 sessions of 32); those beyond ask for
 * theirs to be closed once answered.  Again after the surplus sessions
 * have been dropped (2 s empty): the same. */
static void
test_many_at_once (Fixture *f, gconstpointer data)
{
  const guint n = 300;
  GString *tasks = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (tasks, "%s{\"name\": \"t%u\", \"agent\": \"llm\", \"description\": \"n%u\"}",
                            i ? "," : "", i, i);
  g_autoptr(WeftFlow) flow = fixture_flow (f, NULL, NULL, tasks->str);
  g_string_free (tasks, TRUE);
  for (guint round = 0; round < 2; round++)
    {
      guint closing = 0;

      weft_mock_llm_reset (f->mock);
      /* Long enough that every request is sent before the first answer
       * comes, even on a loaded machine under a sanitizer. */
      weft_mock_llm_set_latency (f->mock, 3000, 3000);
      g_autoptr(WeftRun) run = run_flow (flow);

      g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
      assert_task_output (run, n - 1, "echo: n299");
      g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, n);
      /* All 300 go at once; how many overlap at the server depends on how
       * fast it accepts them, but more than the old cap of 256. */
      g_assert_cmpuint (weft_mock_llm_get_max_in_flight (f->mock), >, 256);
      for (guint i = 0; i < n; i++)
        {
          g_autofree char *connection = weft_mock_llm_dup_request_header (f->mock, i, "Connection");

          closing += g_strcmp0 (connection, "close") == 0;
        }
      g_assert_cmpuint (closing, ==, n - 256);
      if (round == 0)
        g_usleep (2500 * 1000);
    }
}

static gpointer
kickoff_thread (gpointer flow)
{
  return run_flow (flow);
}

/* 120 requests a minute: two at once, then one every half second — shared
 * by every run of the flow.  Three runs of two tasks: six requests, the
 * last no sooner than two seconds after the first could go. */
static void
test_max_rpm (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"max_rpm\": 120", NULL,
    "{\"name\": \"a\", \"agent\": \"llm\", \"description\": \"a\"},"
    "{\"name\": \"b\", \"agent\": \"llm\", \"description\": \"b\"}");
  gint64 start = g_get_monotonic_time ();
  GThread *threads[3];
  gint64 times[6];

  for (guint i = 0; i < 3; i++)
    threads[i] = g_thread_new ("run", kickoff_thread, flow);
  for (guint i = 0; i < 3; i++)
    {
      WeftRun *run = g_thread_join (threads[i]);
      g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
      weft_run_unref (run);
    }
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 6);
  for (guint i = 0; i < 6; i++)
    times[i] = weft_mock_llm_get_request_time (f->mock, i);
  /* Arrival order is request order; each after the bucket allowed it. */
  for (guint i = 2; i < 6; i++)
    g_assert_cmpint (times[i] - start, >=, (gint64) (i - 1) * 500000 - 20000);
}

/* Tokens a minute, from the usage each answer reports: the later requests
 * wait for the bucket to refill. */
static void
test_max_tpm (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"max_tpm\": 600, \"max_tokens\": 20", NULL,
    "{\"name\": \"a\", \"agent\": \"llm\", \"description\": \"a\"},"
    "{\"name\": \"b\", \"agent\": \"llm\", \"description\": \"b\"},"
    "{\"name\": \"c\", \"agent\": \"llm\", \"description\": \"c\"}");
  gint64 start = g_get_monotonic_time ();
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 3);
  /* 10 tokens a second, a bucket of 10; every answer uses at least one
   * token, and each request needs a full bucket (it asks for more than
   * 10): at least a tenth of a second between any two. */
  g_assert_cmpint (weft_mock_llm_get_request_time (f->mock, 2) - start, >=, 200000);
}

/* ------------------------------------------------------------------------ */
/* Options and the example                                                  */

static void
test_bad_options (Fixture *f, gconstpointer data)
{
  const char *bad[][2] = {
    { "\"base_url\": \"ftp://x\"", "is not an http:// or https:// URL" },
    { "\"max_iterations\": 0", "option \"max_iterations\": must be between 1 and 1000, not 0" },
    { "\"headers\": {\"X-A\": 1}", "option \"headers\": \"X-A\" must be a header name" },
    { "\"timeout_s\": -1", "option \"timeout_s\": must be between 0 and 86400" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"name\": \"t\", \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"m\", %s}},"
        " \"tasks\": [{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"x\"}]}", bad[i][0]);
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, json, -1, "bad.json", &error);

      g_assert_null (flow);
      g_assert_nonnull (error);
      weft_test_assert_contains (error->message, bad[i][1]);
    }
}

/* The real-provider example loads (it is never run here: no network). */
static void
test_example_loads (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (g_getenv ("WEFT_SOURCE_ROOT"), "examples", "openai.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_file (f->engine, path, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (weft_flow_get_n_tasks (flow), ==, 3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The real example's ${OPENAI_*} must not come from the developer's shell. */
  g_unsetenv ("OPENAI_API_KEY");
  g_unsetenv ("OPENAI_BASE_URL");
  g_unsetenv ("OPENAI_MODEL");

#define ADD(path, func) g_test_add ("/openai/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("request/body", test_request_body);
  ADD ("request/minimal", test_request_minimal);
  ADD ("request/secret", test_secret_never_shown);
  ADD ("tools/parallel", test_tools_parallel);
  ADD ("tools/errors", test_tool_errors);
  ADD ("tools/max-iterations", test_max_iterations);
  ADD ("response-format/corrected", test_response_format);
  ADD ("response-format/fails", test_response_format_fails);
  g_test_add_func ("/openai/response-format/validator", test_schema_validator);
  ADD ("stream", test_stream);
  ADD ("retry/429", test_retry_429);
  ADD ("retry/after-date", test_retry_after_date);
  ADD ("retry/5xx", test_retry_5xx);
  ADD ("retry/exhausted", test_retries_exhausted);
  ADD ("retry/no-4xx", test_no_retry_4xx);
  ADD ("fail/malformed", test_malformed);
  ADD ("fail/dropped", test_dropped_connection);
  ADD ("fail/unreachable-not-retried", test_unreachable_not_retried);
  ADD ("usage/summed", test_usage_summed);
  ADD ("usage/prices-refused", test_usage_prices_refused);
  ADD ("fail/timeout", test_request_timeout);
  ADD ("cancel/in-flight", test_cancel);
  ADD ("cancel/backoff", test_cancel_during_backoff);
  ADD ("cancel/races", test_races);
  ADD ("limits/concurrency", test_max_concurrency);
  ADD ("limits/unlimited", test_unlimited);
  ADD ("limits/many-at-once", test_many_at_once);
  ADD ("limits/rpm", test_max_rpm);
  ADD ("limits/tpm", test_max_tpm);
  ADD ("options/bad", test_bad_options);
  ADD ("example", test_example_loads);
#undef ADD
  return g_test_run ();
}
