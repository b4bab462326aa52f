/* test-threads-openai.c — threads with the openai agent against the mock
 * server: background tools the model starts and checks on, a message
 * answered while one runs, five look-ups at once, background agents and
 * flows, cancel_task, and the interrupt strategy closing the request in
 * flight.  Times are read from events; what is asserted is order and
 * overlap, never a duration (tests/bench measures those). */
#include "weft-test-threads.h"
#include "weft-mock-llm.h"

typedef struct {
  WeftMockLlm *mock;
  WeftEngine *engine;
  ThreadEvents *events;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->mock = weft_mock_llm_new (&error);
  g_assert_no_error (error);
  f->engine = weft_test_engine_new (8);
  f->events = thread_events_new (f->engine);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 5000);
  thread_events_free (f->events);
  weft_engine_unref (f->engine);
  weft_mock_llm_free (f->mock);
}

/* A flow whose agent "llm" talks to the mock, with a tool "slow" that
 * takes `sleep_ms`, a template agent "helper", a task "report" about
 * {topic} (the flow as a crew), and `chat` as its chat member. */
static WeftFlow *
fixture_flow (Fixture *f, guint sleep_ms, const char *chat)
{
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"desk\","
    " \"tools\": {\"slow\": {\"plugin\": \"test-tool\", \"sleep_ms\": %u}},"
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"mock-1\", \"base_url\": \"%s\","
    "                        \"retry_base_ms\": 1},"
    "              \"helper\": {\"plugin\": \"template\", \"template\": \"helped with: {prompt}\"}},"
    " \"tasks\": [{\"name\": \"report\", \"agent\": \"helper\", \"description\": \"a report on {topic}\"}],"
    " \"chat\": %s}",
    sleep_ms, weft_mock_llm_get_base_url (f->mock), chat);
  return weft_test_flow (f->engine, json);
}

/* The content of the last message of `role` whose content has `needle`. */
static char *
find_message (WeftThread *thread, const char *role, const char *needle)
{
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_autofree char *prefix = g_strconcat (role, ": ", NULL);

  for (guint i = history->len; i > 0; i--)
    {
      const char *m = history->pdata[i - 1];
      if (g_str_has_prefix (m, prefix) && strstr (m, needle) != NULL)
        return g_strdup (m + strlen (prefix));
    }
  return NULL;
}

#define CHAT_LOOKUP "{\"agent\": \"llm\", \"background\": {\"lookup\": {\"tool\": \"slow\"}}}"

/* The model starts a 2 s background tool; a message sent 0.2 s later is
 * answered before it ends; check_task says running, then completed; the
 * result comes back as a notice that starts a turn. */
static void
test_background_tool (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 2000, CHAT_LOOKUP);
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_tool_rule (f->mock, "start it", "[{\"name\": \"lookup\", \"arguments\": {\"n\": 1}}]");
  weft_mock_llm_add_tool_rule (f->mock, "check it", "[{\"name\": \"check_task\", \"arguments\": {\"task_id\": \"t1\"}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"task_id\":\"t1\"", "noted: {last}");
  weft_mock_llm_add_text_rule (f->mock, "how are you", "fine, thanks");
  weft_mock_llm_add_text_rule (f->mock, "completed in", "done: {last}");

  thread_post (thread, "start it");
  gint64 started = thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_STARTED, NULL, 1, 10);
  g_usleep (200000);
  thread_post (thread, "how are you");
  gint64 answered = thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED,
                                        "completed", 2, 10);
  thread_post (thread, "check it");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 3, 10);
  g_autofree char *running = find_message (thread, "tool", "\"status\":\"running\",");
  g_assert_nonnull (running);
  weft_test_assert_contains (running, "\"name\":\"lookup\"");

  gint64 finished = thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_FINISHED, NULL, 1, 10);
  /* The notice starts a turn of its own. */
  gint64 told = thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 4, 10);
  g_test_message ("task started %.3f s, message answered %.3f s, task ended %.3f s, told %.3f s",
                  0.0, (answered - started) / 1e6, (finished - started) / 1e6, (told - started) / 1e6);
  g_assert_cmpint (answered, <, finished);
  g_assert_cmpint (finished, <, told);
  g_autofree char *notice = find_message (thread, "notice", "Background task t1 (lookup) completed");
  g_assert_nonnull (notice);
  weft_test_assert_contains (notice, "Result: slow n=1 ");
  g_autofree char *done = find_message (thread, "assistant", "done: ");
  g_assert_nonnull (done);
  weft_test_assert_contains (done, "Background task t1 (lookup) completed");

  thread_post (thread, "check it");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 5, 10);
  g_autofree char *completed = find_message (thread, "tool", "\"status\":\"completed\"");
  g_assert_nonnull (completed);
  weft_test_assert_contains (completed, "\"result\":\"slow n=1 ");

  /* The tool's call was offered with the check tools beside it. */
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, 0);
  weft_test_assert_contains (body, "\"name\":\"lookup\"");
  weft_test_assert_contains (body, "\"name\":\"check_task\"");
  weft_test_assert_contains (body, "\"name\":\"check_all_tasks\"");
  weft_test_assert_contains (body, "\"name\":\"cancel_task\"");
  weft_test_assert_contains (body, "Runs in the background");
}

/* Five look-ups of 1 s started in one turn run at once: each began
 * before any ended. */
static void
test_five_lookups (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 1000, CHAT_LOOKUP);
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_tool_rule (f->mock, "five cities",
                               "[{\"name\": \"lookup\", \"arguments\": {\"n\": 1}},"
                               " {\"name\": \"lookup\", \"arguments\": {\"n\": 2}},"
                               " {\"name\": \"lookup\", \"arguments\": {\"n\": 3}},"
                               " {\"name\": \"lookup\", \"arguments\": {\"n\": 4}},"
                               " {\"name\": \"lookup\", \"arguments\": {\"n\": 5}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"status\":\"running\"", "started");
  weft_mock_llm_add_text_rule (f->mock, "completed in", "{last}");
  thread_post (thread, "five cities");
  gint64 first = thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_STARTED, NULL, 1, 10);
  gint64 last = thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_FINISHED, NULL, 5, 20);
  g_test_message ("five 1 s look-ups: %.3f s from the first start to the last end",
                  (last - first) / 1e6);

  /* Each result says when its call ran: "slow n=K START END". */
  g_autoptr(JsonNode) node = weft_thread_to_json (thread);
  JsonArray *tasks = json_object_get_array_member (json_node_get_object (node), "tasks");
  gint64 latest_start = 0, earliest_end = G_MAXINT64;
  g_assert_cmpuint (json_array_get_length (tasks), ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      JsonObject *t = json_array_get_object_element (tasks, i);
      gint64 start, end;
      g_assert_cmpstr (json_object_get_string_member (t, "status"), ==, "completed");
      g_assert_cmpint (sscanf (json_object_get_string_member (t, "result"),
                               "slow n=%*d %" G_GINT64_FORMAT " %" G_GINT64_FORMAT, &start, &end),
                       ==, 2);
      latest_start = MAX (latest_start, start);
      earliest_end = MIN (earliest_end, end);
    }
  g_assert_cmpint (latest_start, <, earliest_end);
  /* Five notices, each answered in the order they came. */
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 6, 20);
}

/* An agent of the flow and the flow itself as background tools: the run
 * of each is a run, its result comes back as a notice. */
static void
test_background_agent_and_flow (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 0, "{\"agent\": \"llm\", \"background\": {"
                                           " \"ask\": {\"agent\": \"helper\"},"
                                           " \"crew\": {\"flow\": \"desk\", \"description\": \"Writes a report\"}}}");
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_tool_rule (f->mock, "delegate",
                               "[{\"name\": \"ask\", \"arguments\": {\"prompt\": \"sums\"}},"
                               " {\"name\": \"crew\", \"arguments\": {\"topic\": \"cats\"}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"status\":\"running\"", "started");
  weft_mock_llm_add_text_rule (f->mock, "completed in", "{last}");
  thread_post (thread, "delegate");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_FINISHED, NULL, 2, 10);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 3, 10);
  g_autofree char *asked = find_message (thread, "notice", "(ask) completed");
  g_autofree char *crew = find_message (thread, "notice", "(crew) completed");
  g_assert_nonnull (asked);
  g_assert_nonnull (crew);
  weft_test_assert_contains (asked, "Result: helped with: sums");
  weft_test_assert_contains (crew, "Result: {\"report\":\"helped with: a report on cats\"}");

  g_autoptr(JsonNode) node = weft_thread_to_json (thread);
  JsonArray *tasks = json_object_get_array_member (json_node_get_object (node), "tasks");
  for (guint i = 0; i < 2; i++)
    g_assert_nonnull (json_object_get_string_member (json_array_get_object_element (tasks, i),
                                                     "run_id"));
  /* The offered crew tool takes the flow's inputs. */
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, 0);
  weft_test_assert_contains (body, "\"properties\":{\"topic\":{\"type\":\"string\"}},\"required\":[\"topic\"]");
}

/* cancel_task ends a background task: cancelled, told as such. */
static void
test_cancel_task (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 1500, CHAT_LOOKUP);
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_tool_rule (f->mock, "start it", "[{\"name\": \"lookup\", \"arguments\": {}}]");
  weft_mock_llm_add_tool_rule (f->mock, "stop it", "[{\"name\": \"cancel_task\", \"arguments\": {\"task_id\": \"t1\"}}]");
  weft_mock_llm_add_tool_rule (f->mock, "list them", "[{\"name\": \"check_all_tasks\", \"arguments\": {}}]");
  weft_mock_llm_add_tool_rule (f->mock, "bad id", "[{\"name\": \"check_task\", \"arguments\": {\"task_id\": \"t9\"}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"task", "ok: {last}");
  weft_mock_llm_add_text_rule (f->mock, "error:", "sorry: {last}");
  weft_mock_llm_add_text_rule (f->mock, "was cancelled", "{last}");
  thread_post (thread, "start it");
  thread_post (thread, "stop it");
  thread_post (thread, "bad id");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_FINISHED, "\"status\":\"cancelled\"", 1, 10);
  g_autofree char *cancelling = find_message (thread, "tool", "\"status\":\"cancelling\"");
  g_assert_nonnull (cancelling);
  g_autofree char *unknown = find_message (thread, "tool", "error: no background task \"t9\"");
  g_assert_nonnull (unknown);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 4, 10);
  g_autofree char *notice = find_message (thread, "notice", "Background task t1 (lookup) was cancelled");
  g_assert_nonnull (notice);
  thread_post (thread, "list them");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 5, 10);
  g_autofree char *all = find_message (thread, "tool", "{\"tasks\":[");
  g_assert_nonnull (all);
  weft_test_assert_contains (all, "\"status\":\"cancelled\"");
}

/* background_done "wait": the notice waits in the history for the next
 * user message, whose turn sees it. */
static void
test_background_done_wait (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 100, "{\"agent\": \"llm\", \"background_done\": \"wait\","
                                           " \"background\": {\"lookup\": {\"tool\": \"slow\"}}}");
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_tool_rule (f->mock, "start it", "[{\"name\": \"lookup\", \"arguments\": {}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"status\":\"running\"", "started");
  thread_post (thread, "start it");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TASK_FINISHED, NULL, 1, 10);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  /* The notice enters the history, and no turn starts for it. */
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *notice = find_message (thread, "notice", "completed");
      if (notice != NULL)
        break;
      g_usleep (10000);
    }
  g_usleep (100000);
  g_autoptr(GPtrArray) history = thread_history (thread);
  weft_test_assert_contains (history->pdata[history->len - 1], "notice: Background task t1");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 2);

  thread_post (thread, "and now?");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 2, 10);
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, 2);
  weft_test_assert_contains (body, "[notice from weft, not the user] Background task t1 (lookup) completed");
}

/* interrupt: a new message cancels the model call in flight (the mock
 * sees its connection close) and is answered with what finished. */
static void
test_interrupt_aborts_request (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 0, "{\"agent\": \"llm\", \"strategy\": \"interrupt\"}");
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_text_rule_delayed (f->mock, "long question", "late answer", 30000);
  weft_mock_llm_add_text_rule (f->mock, "quick", "quick answer");
  thread_post (thread, "a long question");
  for (guint i = 0; i < 500 && weft_mock_llm_get_in_flight (f->mock) == 0; i++)
    g_usleep (10000);
  g_assert_cmpuint (weft_mock_llm_get_in_flight (f->mock), ==, 1);
  thread_post (thread, "quick one");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "interrupted", 1, 10);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  for (guint i = 0; i < 500 && weft_mock_llm_get_n_abandoned (f->mock) == 0; i++)
    g_usleep (10000);
  g_assert_cmpuint (weft_mock_llm_get_n_abandoned (f->mock), ==, 1);

  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 3);
  g_assert_cmpstr (history->pdata[0], ==, "user: a long question");
  g_assert_cmpstr (history->pdata[1], ==, "user: quick one");
  g_assert_cmpstr (history->pdata[2], ==, "assistant: quick answer");
  /* The answer was asked with both messages. */
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, 1);
  weft_test_assert_contains (body, "a long question");
  weft_test_assert_contains (body, "quick one");
}

/* A model that asks for an unknown tool is told so; a turn that keeps
 * calling tools ends after max_steps. */
static void
test_unknown_tool_and_max_steps (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = fixture_flow (f, 0, "{\"agent\": \"llm\", \"max_steps\": 3}");
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_tool_rule (f->mock, "loop", "[{\"name\": \"nope\", \"arguments\": {}}]");
  weft_mock_llm_add_tool_rule (f->mock, "error: no tool", "[{\"name\": \"nope\", \"arguments\": {}}]");
  thread_post (thread, "loop");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "failed", 1, 10);
  g_autofree char *told = find_message (thread, "tool", "error: no tool \"nope\" (offered: none)");
  g_assert_nonnull (told);
  g_autoptr(JsonNode) node = weft_thread_to_json (thread);
  weft_test_assert_contains (json_object_get_string_member (json_node_get_object (node), "last_error"),
                             "no final answer after max_steps (3) model calls");
  g_assert_cmpuint (weft_mock_llm_get_n_requests (f->mock), ==, 3);
}

/* Streamed answers are thread.step "chunk" events. */
static void
test_streaming_chunks (Fixture *f, gconstpointer data)
{
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"s\", \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"m\","
    " \"base_url\": \"%s\", \"stream\": true}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"d\"}]}",
    weft_mock_llm_get_base_url (f->mock));
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  weft_mock_llm_add_text_rule (f->mock, "tell me", "one two three");
  thread_post (thread, "tell me");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  g_assert_cmpuint (thread_events_wait (f->events, id, WEFT_EVENT_THREAD_STEP, "three", 1, 1), >, 0);
  g_autofree char *answer = find_message (thread, "assistant", "one two three");
  g_assert_nonnull (answer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/threads-openai/background-tool", test_background_tool);
  ADD ("/threads-openai/five-lookups", test_five_lookups);
  ADD ("/threads-openai/background-agent-and-flow", test_background_agent_and_flow);
  ADD ("/threads-openai/cancel-task", test_cancel_task);
  ADD ("/threads-openai/background-done-wait", test_background_done_wait);
  ADD ("/threads-openai/interrupt-aborts-request", test_interrupt_aborts_request);
  ADD ("/threads-openai/unknown-tool-and-max-steps", test_unknown_tool_and_max_steps);
  ADD ("/threads-openai/streaming-chunks", test_streaming_chunks);
  return g_test_run ();
}
