/* test-openai-hostile.c — the openai agent against a server that answers
 * badly: empty bodies with every status, answers cut short, HTML pages,
 * bytes that are not UTF-8, JSON errors of every shape, JSON nested
 * 100,000 levels deep, 1e999 and 2^64, "\u0000", answers too large,
 * broken event streams, hostile tool-call arguments.  Each ends as a task
 * error or a retry (as the status says), with a message of a few hundred
 * characters of valid UTF-8, never a crash.  Then the plugin's parsing
 * functions called directly (they are compiled into this test).
 *
 * The mock writes these answers byte for byte (weft_mock_llm_push_raw). */
#include "weft-test-openai.h"

/* An error message is bounded and printable: valid UTF-8, one line, no
 * more characters than this. */
#define MAX_MESSAGE_CHARS 500

static void
assert_sane_message (const char *message)
{
  g_assert_nonnull (message);
  if (!g_utf8_validate (message, -1, NULL))
    g_error ("not UTF-8: %s", message);
  if (g_utf8_strlen (message, -1) > MAX_MESSAGE_CHARS)
    g_error ("%ld characters: %.600s…", g_utf8_strlen (message, -1), message);
  for (const char *p = message; *p; p++)
    if ((guchar) *p < 0x20)
      g_error ("a control character (0x%02x) in: %s", (guchar) *p, message);
  g_assert_null (strstr (message, SECRET));
}

/* The task's error, checked sane. */
static const char *
task_error (WeftRun *run)
{
  const GError *error = weft_run_get_task_error (run, 0);

  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  g_assert_nonnull (error);
  assert_sane_message (error->message);
  return error->message;
}

static char *
repeat (char c, gsize n)
{
  char *text = g_malloc (n + 1);

  memset (text, c, n);
  text[n] = '\0';
  return text;
}

/* A chat completion around `content_json` (a JSON value, as text). */
static char *
completion (const char *content_json, const char *extra)
{
  return g_strdup_printf ("{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                          "\"message\":{\"role\":\"assistant\",\"content\":%s},"
                          "\"finish_reason\":\"stop\"}]%s%s}",
                          content_json, extra ? "," : "", extra ? extra : "");
}

static void
push_raw (Fixture *f, guint status, const char *type, const char *body, gssize length)
{
  weft_mock_llm_push_raw (f->mock, status, type, body, length, -1, WEFT_MOCK_LLM_RAW_NONE);
}

/* ------------------------------------------------------------------------ */
/* Every status with every kind of broken body                              */

typedef struct {
  const char *name;
  const char *type;
  const char *body;
  gssize length;
  const char *said;            /* what an HTTP error quotes of it */
  const char *malformed;       /* what a 200's task error says of it */
} BadBody;

static const char html_page[] =
  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
  "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
  "</body>\r\n</html>\r\n";
static const char binary[] = "\xff\xfe\x00\x01 caf\xe9 \xc3\x28";

static const BadBody bad_bodies[] = {
  { "empty", "application/json", "", 0, "(empty body)", "the body is empty (0 bytes)" },
  { "truncated", "application/json", "{\"choices\": [{\"message\": {\"role\": \"assistant\", \"cont", -1,
    "{\"choices\": [{\"message\": {\"role\": \"assistant\", \"cont",
    "the answer is not JSON weft accepts: line 1, column 48: $.choices[0].message: a string that never ends "
    "(it starts \"{\"choices\": [{\"message\": {\"role\": \"assistant\", \"cont\")" },
  { "html", "text/html", html_page, -1,
    "<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1>"
    "</center> <hr><center>nginx/1.25.3</center> </body> </html>",
    "the answer is not JSON weft accepts: line 1, column 1: expected a JSON value, found '<' "
    "(it starts \"<html> <head><title>502 Bad Gateway</title></head> <body>…\")" },
  { "binary", "application/octet-stream", binary, sizeof binary - 1,
    "\xef\xbf\xbd\xef\xbf\xbd caf\xef\xbf\xbd \xef\xbf\xbd(",
    "the answer is not JSON weft accepts: line 1, column 1: expected a JSON value, found byte 0xff "
    "(it starts \"\xef\xbf\xbd\xef\xbf\xbd caf\xef\xbf\xbd \xef\xbf\xbd(\")" },
};

static const guint statuses[] = { 200, 400, 401, 429, 500, 502, 503 };

static const char *
phrase (guint status)
{
  switch (status)
    {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: g_assert_not_reached ();
    }
}

static gboolean
retried (guint status)
{
  return status == 429 || status >= 500;
}

static void
check_bad_answer (Fixture *f, guint status, const BadBody *bad)
{
  const char *url = weft_mock_llm_get_base_url (f->mock);
  g_autofree char *want = NULL;

  weft_mock_llm_reset (f->mock);
  push_raw (f, status, bad->type, bad->body, bad->length);
  push_raw (f, status, bad->type, bad->body, bad->length);
  g_autoptr(WeftRun) run = run_one (f, "\"max_retries\": 1", "Hi");
  const char *message = task_error (run);

  if (status == 200)
    want = g_strdup_printf ("openai: malformed response from %s: %s", url, bad->malformed);
  else
    want = g_strdup_printf ("%sopenai: HTTP %u %s from %s: %s", retried (status) ? "(after 1 retries) " : "",
                            status, phrase (status), url, bad->said);
  if (!g_str_equal (message, want))
    g_error ("HTTP %u, %s body:\n  got  %s\n  want %s", status, bad->name, message, want);
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, retried (status) ? 2 : 1);
}

/* 200, 400, 401, 429, 500, 502 and 503, each with an empty, a truncated,
 * an HTML and a binary body: a 200 fails as malformed, 4xx at once, 429
 * and 5xx after their retries; each error quotes the body, tidied. */
static void
test_status_bodies (Fixture *f, gconstpointer data)
{
  for (guint s = 0; s < G_N_ELEMENTS (statuses); s++)
    for (guint b = 0; b < G_N_ELEMENTS (bad_bodies); b++)
      check_bad_answer (f, statuses[s], &bad_bodies[b]);
}

/* A Content-Length of 0 on a 200, as gateways send: one task fails, the
 * next runs (the process is not taken down with it). */
static void
test_empty_200_then_more (Fixture *f, gconstpointer data)
{
  push_raw (f, 200, "application/json", "", 0);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
  weft_test_assert_contains (task_error (run), "the body is empty (0 bytes)");
  g_autoptr(WeftRun) again = run_one (f, NULL, "Hi");
  assert_task_output (again, 0, "echo: Hi");
}

/* ------------------------------------------------------------------------ */
/* Connections that close mid-answer                                        */

static void
test_cut_mid_body (Fixture *f, gconstpointer data)
{
  g_autofree char *body = completion ("\"this answer never arrives whole\"", NULL);

  /* 40 of 1000 bytes, then the connection closes: retried, like any
   * dropped connection. */
  weft_mock_llm_push_raw (f->mock, 200, "application/json", body, 40, 1000, WEFT_MOCK_LLM_RAW_NONE);
  {
    g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
    g_autoptr(GPtrArray) retries = events_steps (f->events, "retry");

    assert_task_output (run, 0, "echo: Hi");
    g_assert_cmpuint (retries->len, ==, 1);
    weft_test_assert_contains (retries->pdata[0], "connection error (the connection closed after 40 of "
                                                  "the 1000 bytes announced)");
  }
  /* No retries left: the error says so. */
  weft_mock_llm_reset (f->mock);
  weft_mock_llm_push_raw (f->mock, 200, "application/json", body, 40, 1000, WEFT_MOCK_LLM_RAW_NONE);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"max_retries\": 0", "Hi");
    g_autofree char *want = g_strdup_printf ("openai: the answer broke off from %s: the connection closed "
                                             "after 40 of the 1000 bytes announced",
                                             weft_mock_llm_get_base_url (f->mock));
    g_assert_cmpstr (task_error (run), ==, want);
  }
  /* Without a Content-Length nothing tells a short body from a whole one:
   * what arrived is malformed. */
  weft_mock_llm_reset (f->mock);
  weft_mock_llm_push_raw (f->mock, 200, "application/json", body, 40, WEFT_MOCK_LLM_NO_LENGTH,
                          WEFT_MOCK_LLM_RAW_NONE);
  {
    g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
    weft_test_assert_contains (task_error (run), "a string that never ends");
    g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 1);
  }
  /* A 502 cut short is a 502. */
  weft_mock_llm_reset (f->mock);
  weft_mock_llm_push_raw (f->mock, 502, "text/html", html_page, 20, 5000, WEFT_MOCK_LLM_RAW_NONE);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"max_retries\": 0", "Hi");
    weft_test_assert_contains (task_error (run), "HTTP 502 Bad Gateway from ");
    weft_test_assert_contains (task_error (run), ": <html> <head><title");
  }
}

/* ------------------------------------------------------------------------ */
/* JSON nested too deep, numbers that are not numbers, NUL                  */

static void
test_deep_answer (Fixture *f, gconstpointer data)
{
  g_autofree char *open = repeat ('[', 100000);
  g_autofree char *close = repeat (']', 100000);
  g_autofree char *nested = g_strconcat ("\"extra\":", open, close, NULL);
  g_autofree char *inside = completion ("\"fine\"", nested);

  push_raw (f, 200, "application/json", open, -1);
  push_raw (f, 200, "application/json", inside, -1);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
      const char *message = task_error (run);

      weft_test_assert_contains (message, "the answer is not JSON weft accepts: line 1, column ");
      weft_test_assert_contains (message, "nested deeper than 64 levels");
    }
  /* In an error body: quoted, cut. */
  push_raw (f, 500, "application/json", open, -1);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"max_retries\": 0", "Hi");
    g_autofree char *said = repeat ('[', 300);
    g_autofree char *want = g_strdup_printf ("openai: HTTP 500 Internal Server Error from %s: %s…",
                                             weft_mock_llm_get_base_url (f->mock), said);
    g_assert_cmpstr (task_error (run), ==, want);
  }
}

/* The model's own JSON (response_format) is as hostile as the server's:
 * deep, it is sent back once as not matching, then fails the task. */
static void
test_deep_structured_output (Fixture *f, gconstpointer data)
{
  g_autofree char *open = repeat ('[', 100000);
  g_autofree char *content = g_strdup_printf ("\"%s\"", open);
  g_autofree char *body = completion (content, NULL);

  push_raw (f, 200, "application/json", body, -1);
  push_raw (f, 200, "application/json", body, -1);
  g_autoptr(WeftRun) run = run_one (f, "\"response_format\": {\"type\": \"array\"}", "Hi");
  const char *message = task_error (run);

  weft_test_assert_contains (message, "does not match response_format (after one corrective retry)");
  weft_test_assert_contains (message, "nested deeper than 64 levels");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
}

static void
test_numbers_and_nul (Fixture *f, gconstpointer data)
{
  struct { const char *content, *extra, *why; } cases[] = {
    { "\"x\"", "\"usage\":{\"total_tokens\":1e999}", "the number 1e999 is too large for a double" },
    { "\"x\"", "\"created\":18446744073709551616",
      "the integer 18446744073709551616 does not fit in 64 bits" },
    { "\"a\\u0000b\"", NULL, "\"\\u0000\" (a NUL character) is not allowed" },
    { "\"x\",\"content\":\"y\"", NULL, "duplicate key \"content\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body = completion (cases[i].content, cases[i].extra);

      push_raw (f, 200, "application/json", body, -1);
      g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
      weft_test_assert_contains (task_error (run), cases[i].why);
    }
}

/* What the fuzzer found: a member name holding the key, quoted by the
 * check's path; a bad escape whose byte is a control character or half a
 * character, quoted as it is. */
static void
test_fuzz_findings (Fixture *f, gconstpointer data)
{
  const char *bodies[] = {
    "{\"choices\": [{\"message\": {\"" SECRET "\" 1}}]}",
    "{\"model\": \"m\\\x01\", \"choices\": []}",
    "{\"model\": \"m\\\xf0\x9f\x98\x80\", \"choices\": []}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      push_raw (f, 200, "application/json", bodies[i], -1);
      g_autoptr(WeftRun) run = run_one (f, "\"api_key\": \"" SECRET "\"", "Hi");
      weft_test_assert_contains (task_error (run), "the answer is not JSON weft accepts: line 1, column ");
    }
}

/* ------------------------------------------------------------------------ */
/* Errors of every shape                                                    */

static void
test_error_shapes (Fixture *f, gconstpointer data)
{
  const char *cases[][2] = {
    { "{\"error\": \"plain words\"}", "plain words" },
    { "{\"error\": 42}", "{\"error\":42}" },
    { "{\"error\": {\"message\": 42, \"type\": \"x\"}}", "{\"error\":{\"message\":42,\"type\":\"x\"}}" },
    { "{\"error\": {\"message\": {\"nested\": \"deep\"}}}", "{\"error\":{\"message\":{\"nested\":\"deep\"}}}" },
    { "{\"error\": {\"type\": \"invalid_request_error\", \"code\": null}}",
      "{\"error\":{\"type\":\"invalid_request_error\",\"code\":null}}" },
    { "{\"error\": null}", "{\"error\":null}" },
    { "{\"error\": []}", "{\"error\":[]}" },
    { "{\"error\": {\"message\": \"\"}}", "{\"error\":{\"message\":\"\"}}" },
    { "[{\"error\": {\"message\": \"in a list\"}}]", "in a list" },
    { "[]", "[]" },
    { "{\"message\": \"top-level words\"}", "top-level words" },
    { "{\"detail\": \"Not authenticated\"}", "Not authenticated" },
    { "\"just a string\"", "\"just a string\"" },
    { "{\"error\": {\"message\": \"line one\\nline two\\ttab\"}}", "line one line two tab" },
    { "{\"error\": {\"message\": \"1e999\"}, \"n\": 1e999}", "{\"error\": {\"message\": \"1e999\"}, \"n\": 1e999}" },
    { "   \r\n  ", "(a body of 7 blank bytes)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      weft_mock_llm_reset (f->mock);
      push_raw (f, 400, "application/json", cases[i][0], -1);
      g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");
      g_autofree char *want = g_strdup_printf ("openai: HTTP 400 Bad Request from %s: %s",
                                               weft_mock_llm_get_base_url (f->mock), cases[i][1]);
      g_assert_cmpstr (task_error (run), ==, want);
    }
}

/* A 10 MB error is not echoed: a few hundred characters of it, and the
 * key, wherever it stands, redacted before the cut. */
static void
test_huge_error (Fixture *f, gconstpointer data)
{
  g_autofree char *as = repeat ('A', 10 * 1024 * 1024);
  g_autofree char *huge = g_strdup_printf ("{\"error\": {\"message\": \"%s\"}}", as);
  g_autofree char *xs = repeat ('x', 290);
  g_autofree char *ys = repeat ('y', 50000);
  g_autofree char *keyed = g_strdup_printf ("{\"error\": {\"message\": \"%s%s%s\"}}", xs, SECRET, ys);
  g_autofree char *cut = repeat ('A', 300 - strlen ("{\"error\": {\"message\": \""));

  push_raw (f, 500, "application/json", huge, -1);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"max_retries\": 0", "Hi");
    g_autofree char *want = g_strdup_printf ("openai: HTTP 500 Internal Server Error from %s: "
                                             "{\"error\": {\"message\": \"%s…",
                                             weft_mock_llm_get_base_url (f->mock), cut);
    g_assert_cmpstr (task_error (run), ==, want);
  }
  push_raw (f, 400, "application/json", keyed, -1);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"api_key\": \"" SECRET "\"", "Hi");
    const char *message = task_error (run);

    weft_test_assert_contains (message, "xxxxxxx[redac");
    g_assert_null (strstr (message, "sk-test"));
  }
}

/* ------------------------------------------------------------------------ */
/* Answers too large                                                        */

static void
test_too_large (Fixture *f, gconstpointer data)
{
  const char *small = "\"max_response_bytes\": 65536, \"max_retries\": 1";
  g_autofree char *big_text = repeat ('b', 100000);
  g_autofree char *big_content = g_strdup_printf ("\"%s\"", big_text);
  g_autofree char *big = completion (big_content, NULL);
  g_autofree char *url = g_strdup (weft_mock_llm_get_base_url (f->mock));
  GString *events = g_string_new (NULL);

  /* Announced: refused from the headers. */
  push_raw (f, 200, "application/json", big, -1);
  {
    g_autoptr(WeftRun) run = run_one (f, small, "Hi");
    g_autofree char *want = g_strdup_printf ("openai: malformed response from %s: the answer announces %"
                                             G_GSIZE_FORMAT " bytes, more than max_response_bytes "
                                             "(65536)", url, strlen (big));
    g_assert_cmpstr (task_error (run), ==, want);
  }
  /* 100 GB announced, 1 KB sent, the connection held open: failed at
   * once, nothing waited for. */
  weft_mock_llm_push_raw (f->mock, 200, "application/json", big, 1024, G_GINT64_CONSTANT (107374182400),
                          WEFT_MOCK_LLM_RAW_HOLD);
  {
    g_autoptr(WeftRun) run = run_one (f, small, "Hi");
    weft_test_assert_contains (task_error (run), "the answer announces 107374182400 bytes, more than "
                                                 "max_response_bytes (65536)");
  }
  /* Not announced: counted as it comes. */
  weft_mock_llm_push_raw (f->mock, 200, "application/json", big, -1, WEFT_MOCK_LLM_NO_LENGTH,
                          WEFT_MOCK_LLM_RAW_NONE);
  {
    g_autoptr(WeftRun) run = run_one (f, small, "Hi");
    weft_test_assert_contains (task_error (run), "the answer is larger than max_response_bytes (65536)");
  }
  /* A stream, counted as a whole. */
  for (guint i = 0; i < 2000; i++)
    g_string_append (events, "data: {\"choices\":[{\"delta\":{\"content\":\"0123456789\"}}]}\n\n");
  weft_mock_llm_push_raw (f->mock, 200, "text/event-stream", events->str, (gssize) events->len,
                          WEFT_MOCK_LLM_NO_LENGTH, WEFT_MOCK_LLM_RAW_NONE);
  g_string_free (events, TRUE);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"max_response_bytes\": 65536, \"stream\": true", "Hi");
    weft_test_assert_contains (task_error (run), "the stream is larger than max_response_bytes (65536)");
  }
  /* An error's body: its start is read, the rest is not waited for (the
   * server holds the connection with 100 GB still to come). */
  weft_mock_llm_reset (f->mock);
  for (guint i = 0; i < 2; i++)
    weft_mock_llm_push_raw (f->mock, 503, "text/plain", big, -1, G_GINT64_CONSTANT (107374182400),
                            WEFT_MOCK_LLM_RAW_HOLD);
  {
    g_autoptr(WeftRun) run = run_one (f, small, "Hi");
    weft_test_assert_contains (task_error (run), "(after 1 retries) openai: HTTP 503 Service Unavailable");
    g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);
  }
}

/* ------------------------------------------------------------------------ */
/* Broken streams                                                           */

#define CHUNK(text) "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" text "\"}}]}\n\n"

static void
test_bad_streams (Fixture *f, gconstpointer data)
{
  g_autofree char *open = repeat ('[', 100000);
  g_autofree char *deep = g_strdup_printf ("data: %s\n\n", open);
  g_autofree char *deep_args = g_strdup_printf (
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":"
    "{\"name\":\"quick\",\"arguments\":\"%s\"}}]}}]}\n\n", open);
  struct { const char *body, *why; } cases[] = {
    { CHUNK ("hi") "data: {not json\n\n", "a streamed event is not JSON: line 1, column 2: expected a "
                                          "member name in double quotes, found 'n'" },
    { deep, "a streamed event is not JSON: line 1, column 65: " },
    { CHUNK ("cut") "data: {\"choices\":[{\"delta\":{\"con", "a streamed event is not JSON" },
    { CHUNK ("no end"), "the stream ended before [DONE]" },
    { "", "the stream ended before [DONE]" },
    { "data: {\"error\": {\"message\": \"overloaded\"}}\n\n", "the stream carried an error: overloaded" },
    { "data: {\"error\": 7}\n\n", "the stream carried an error: {\"error\":7}" },
    { "data: [1, 2]\n\n", "a streamed event is not a JSON object: [1,2]" },
    { CHUNK ("\xff\xfe"), "a string that is not valid UTF-8" },
    { "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":{\"total_tokens\":1e999}}\n\n",
      "the number 1e999 is too large for a double" },
    { CHUNK ("a\\u0000b"), "(a NUL character) is not allowed" },
    { "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":{\"x\":1}}]}}]}\n\n",
      "tool_calls[0] of a streamed event is not an object with an index below 1024" },
    { "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":4096}]}}]}\n\n",
      "tool_calls[0] of a streamed event is not an object with an index below 1024" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      weft_mock_llm_reset (f->mock);
      push_raw (f, 200, "text/event-stream", cases[i].body, -1);
      g_autoptr(WeftRun) run = run_one (f, "\"stream\": true", "Hi");
      g_autofree char *prefix = g_strdup_printf ("openai: malformed response from %s: ",
                                                 weft_mock_llm_get_base_url (f->mock));
      g_assert_true (g_str_has_prefix (task_error (run), prefix));
      weft_test_assert_contains (task_error (run), cases[i].why);
    }
  /* Deep arguments in a streamed tool call: the tool's error goes back to
   * the model, which then answers. */
  weft_mock_llm_reset (f->mock);
  {
    g_autofree char *body = g_strconcat (deep_args, "data: {\"choices\":[{\"delta\":{},"
                                         "\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n", NULL);
    push_raw (f, 200, "text/event-stream", body, -1);
    weft_mock_llm_push_stream (f->mock, (const char *[]) { "coped", NULL });
    g_autoptr(WeftFlow) flow = fixture_flow (f, "\"stream\": true, \"tools\": [\"quick\"]",
                                             "\"quick\": {\"plugin\": \"test-tool\"}",
                                             "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Go.\"}");
    g_autoptr(WeftRun) run = run_flow (flow);
    g_autoptr(JsonNode) second = request_json (f, 1);
    JsonArray *messages = json_object_get_array_member (json_node_get_object (second), "messages");
    const char *result = json_object_get_string_member (json_array_get_object_element (messages, 2),
                                                        "content");

    assert_task_output (run, 0, "coped");
    weft_test_assert_contains (result, "error: arguments of tool \"quick\" are not a JSON object");
    weft_test_assert_contains (result, "nested deeper than 64 levels");
  }
  /* A last event the server did not end with an empty line still counts. */
  weft_mock_llm_reset (f->mock);
  push_raw (f, 200, "text/event-stream", CHUNK ("all") CHUNK (" there") "data: [DONE]", -1);
  {
    g_autoptr(WeftRun) run = run_one (f, "\"stream\": true", "Hi");
    assert_task_output (run, 0, "all there");
  }
}

/* ------------------------------------------------------------------------ */
/* Tool-call arguments                                                      */

/* Arguments that are not an object, nested too deep, 1e999, 2^64, a key
 * twice, a bad escape: each goes back to the model as the tool's error, in
 * valid UTF-8; the task goes on. */
static void
test_hostile_arguments (Fixture *f, gconstpointer data)
{
  g_autofree char *open = repeat ('[', 100000);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  const char *args[] = {
    open, "{\"n\": 1e999}", "{\"n\": 18446744073709551616}", "[1]", "\"text\"", "{\"n\": 1, \"n\": 2}",
    "{\"n\": ", "",
    /* The core quotes the byte after the backslash, half a character. */
    "{\"q\": \"\\\xf0\x9f\x98\x80\"}",
  };
  const char *why[] = {
    "nested deeper than 64 levels", "too large for a double", "does not fit in 64 bits",
    "not a JSON object", "not a JSON object", "duplicate key \"n\"", "expected a JSON value",
    "no JSON value", "is not a JSON escape",
  };

  json_builder_begin_array (b);
  for (guint i = 0; i < G_N_ELEMENTS (args); i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, "quick");
      json_builder_set_member_name (b, "arguments");
      json_builder_add_string_value (b, args[i]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  g_autoptr(JsonNode) calls = json_builder_get_root (b);
  g_autofree char *calls_json = json_to_string (calls, FALSE);
  weft_mock_llm_push_tool_calls (f->mock, calls_json);
  weft_mock_llm_push_text (f->mock, "coped");
  g_autoptr(WeftFlow) flow = fixture_flow (f, "\"tools\": [\"quick\"]", "\"quick\": {\"plugin\": \"test-tool\"}",
                                           "{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"Go.\"}");
  g_autoptr(WeftRun) run = run_flow (flow);
  g_autoptr(JsonNode) second = request_json (f, 1);
  JsonArray *messages = json_object_get_array_member (json_node_get_object (second), "messages");

  assert_task_output (run, 0, "coped");
  g_assert_cmpuint (json_array_get_length (messages), ==, 2 + G_N_ELEMENTS (args));
  for (guint i = 0; i < G_N_ELEMENTS (args); i++)
    {
      const char *result = json_object_get_string_member (json_array_get_object_element (messages, 2 + i),
                                                          "content");
      assert_sane_message (result);
      g_assert_true (g_str_has_prefix (result, "error: arguments of tool \"quick\" are not a JSON object"));
      weft_test_assert_contains (result, why[i]);
    }
}

/* A Retry-After that is not a number of any use: no wait, no overflow. */
static void
test_bad_retry_after (Fixture *f, gconstpointer data)
{
  weft_mock_llm_push_error (f->mock, 429, "1e999", NULL);
  weft_mock_llm_push_error (f->mock, 503, "-5", NULL);
  weft_mock_llm_push_error (f->mock, 503, "nan", NULL);
  g_autoptr(WeftRun) run = run_one (f, NULL, "Hi");

  assert_task_output (run, 0, "echo: Hi");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 4);
  g_assert_cmpint (weft_run_get_duration_us (run), <, 30 * G_USEC_PER_SEC);
}

static void
test_option_range (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "10", "1073741825", "-1" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"name\": \"t\", \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"m\","
        " \"max_response_bytes\": %s}}, \"tasks\": [{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"x\"}]}",
        bad[i]);
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, json, -1, "bad.json", &error);

      g_assert_null (flow);
      g_assert_nonnull (error);
      weft_test_assert_contains (error->message, "option \"max_response_bytes\": must be between 1024 and "
                                                 "1073741824");
    }
}

/* ------------------------------------------------------------------------ */
/* The parsing functions, directly                                          */

static void
test_excerpt (void)
{
  g_autofree char *big = repeat ('a', 10 * 1024 * 1024);
  g_autofree char *a300 = repeat ('a', 300);
  g_autofree char *want_big = g_strconcat (a300, "…", NULL);
  g_autofree char *xs = repeat ('x', 298);
  g_autofree char *straddle = g_strconcat (xs, SECRET, NULL);
  struct { const char *in; gssize len; const char *out; } cases[] = {
    { "", 0, "" },
    { " \t\r\n ", -1, "" },
    { "  two\n\nlines  ", -1, "two lines" },
    { "a\0b", 3, "a b" },
    { "caf\xc3\xa9 \xe2\x80\xa8 ok", -1, "caf\xc3\xa9 ok" },
    { "\xc3", 1, "\xef\xbf\xbd" },
    { "bell\a\x1b[31m", -1, "bell [31m" },
    { "key " SECRET " twice " SECRET, -1, "key [redacted] twice [redacted]" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize len = cases[i].len < 0 ? strlen (cases[i].in) : (gsize) cases[i].len;
      g_autofree char *got = weft_openai_excerpt (cases[i].in, len, SECRET);
      g_assert_cmpstr (got, ==, cases[i].out);
    }
  {
    g_autofree char *got = weft_openai_excerpt (big, strlen (big), NULL);
    g_assert_cmpstr (got, ==, want_big);
  }
  {
    g_autofree char *got = weft_openai_excerpt (straddle, strlen (straddle), SECRET);
    g_assert_true (g_str_has_prefix (got, xs));
    g_assert_null (strstr (got, "sk-"));
    g_assert_true (g_str_has_suffix (got, "[r…"));
  }
}

static void
test_parse_directly (void)
{
  g_autoptr(GError) error = NULL;
  gint64 usage = 0;
  g_autoptr(JsonObject) none = weft_openai_parse_answer (NULL, 0, NULL, &usage, &error);
  g_autofree char *empty = weft_openai_provider_message (NULL, 0, NULL);
  const char *key_body = "{\"error\": \"bad key " SECRET "\"}";
  g_autofree char *keyed = weft_openai_provider_message (key_body, strlen (key_body), SECRET);
  /* Cut short in the middle of the key: not JSON, quoted, the key's
   * start redacted too. */
  g_autofree char *cut = weft_openai_provider_message (key_body, 30, SECRET);

  g_assert_null (none);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
  g_assert_cmpstr (error->message, ==, "the body is empty (0 bytes)");
  g_assert_cmpstr (empty, ==, "(empty body)");
  g_assert_cmpstr (keyed, ==, "bad key [redacted]");
  g_assert_cmpstr (cut, ==, "{\"error\": \"bad key [redacted]");
  g_clear_error (&error);

  /* A 200 that is an error after all. */
  {
    const char *body = "{\"error\": {\"message\": \"quota exceeded\"}}";
    g_autoptr(JsonObject) message = weft_openai_parse_answer (body, strlen (body), NULL, &usage, &error);
    g_assert_null (message);
    g_assert_cmpstr (error->message, ==, "an error in a successful answer: quota exceeded");
    g_clear_error (&error);
  }
  /* A stream fed a byte at a time, an error event with the key. */
  {
    const char *text = "data: {\"error\": {\"message\": \"no " SECRET "\"}}\n\n";
    g_autoptr(WeftOpenaiStream) stream = weft_openai_stream_new (1 << 20, SECRET, NULL, NULL);
    gboolean ok = TRUE;

    for (const char *p = text; *p && ok; p++)
      ok = weft_openai_stream_feed (stream, (const guint8 *) p, 1, &error);
    g_assert_false (ok);
    g_assert_cmpstr (error->message, ==, "the stream carried an error: no [redacted]");
    g_clear_error (&error);
  }
  /* CRLF line ends, comments, several data lines in one event. */
  {
    const char *text = ": keep-alive\r\n\r\nevent: chunk\r\ndata: {\"choices\":[{\"delta\":\r\n"
                       "data: {\"content\":\"two lines\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n";
    g_autoptr(WeftOpenaiStream) stream = weft_openai_stream_new (1 << 20, NULL, NULL, NULL);
    g_assert_true (weft_openai_stream_feed (stream, (const guint8 *) text, strlen (text), &error));
    g_autoptr(JsonObject) message = weft_openai_stream_finish (stream, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (json_object_get_string_member (message, "content"), ==, "two lines");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add ("/openai-hostile/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("status-bodies", test_status_bodies);
  ADD ("empty-200-then-more", test_empty_200_then_more);
  ADD ("cut-mid-body", test_cut_mid_body);
  ADD ("deep/answer", test_deep_answer);
  ADD ("deep/structured-output", test_deep_structured_output);
  ADD ("numbers-and-nul", test_numbers_and_nul);
  ADD ("fuzz-findings", test_fuzz_findings);
  ADD ("error-shapes", test_error_shapes);
  ADD ("huge-error", test_huge_error);
  ADD ("too-large", test_too_large);
  ADD ("bad-streams", test_bad_streams);
  ADD ("tool-arguments", test_hostile_arguments);
  ADD ("bad-retry-after", test_bad_retry_after);
  ADD ("option-range", test_option_range);
#undef ADD
  g_test_add_func ("/openai-hostile/parse/excerpt", test_excerpt);
  g_test_add_func ("/openai-hostile/parse/directly", test_parse_directly);
  return g_test_run ();
}
