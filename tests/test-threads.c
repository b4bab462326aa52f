/* test-threads.c — threads with the template agent (no network): the
 * queue's order, the strategies, settings and their refusals, close. */
#include "weft-test-threads.h"

#define ECHO_FLOW(delay, chat)                                                         \
  "{\"name\": \"echo\", \"agents\": {\"bot\": {\"plugin\": \"template\","          \
  " \"template\": \"you said: {prompt}\", \"delay_ms\": " delay "},"               \
  " \"worker\": {\"plugin\": \"noop\"}},"                                           \
  " \"tasks\": [{\"name\": \"t\", \"agent\": \"worker\", \"description\": \"d\"}]" \
  chat "}"

typedef struct {
  WeftEngine *engine;
  ThreadEvents *events;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->engine = weft_test_engine_new (4);
  f->events = thread_events_new (f->engine);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 2000);
  thread_events_free (f->events);
  weft_engine_unref (f->engine);
}

/* One message, one answer: the template fills {prompt} with it. */
static void
test_template_converses (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("0", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  thread_post (thread, "hello");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 2);
  g_assert_cmpstr (history->pdata[0], ==, "user: hello");
  g_assert_cmpstr (history->pdata[1], ==, "assistant: you said: hello");
  g_assert_cmpuint (thread_events_wait (f->events, id, WEFT_EVENT_THREAD_CREATED, NULL, 1, 1), >, 0);
  g_assert_false (weft_thread_is_busy (thread));

  /* The engine keeps it until closed. */
  g_autoptr(WeftThread) found = weft_engine_lookup_thread (f->engine, id);
  g_assert_true (found == thread);
  weft_thread_close (thread);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_DELETED, NULL, 1, 10);
  g_autoptr(WeftThread) gone = weft_engine_lookup_thread (f->engine, id);
  g_assert_null (gone);
  g_autoptr(GError) error = NULL;
  g_assert_cmpuint (weft_thread_post (thread, "late", &error), ==, 0);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
}

typedef struct {
  WeftThread *thread;
  guint index;
  guint64 position;
} Poster;

static gpointer
poster_run (gpointer data)
{
  Poster *p = data;
  g_autofree char *text = g_strdup_printf ("m%u", p->index);
  g_autoptr(GError) error = NULL;

  p->position = weft_thread_post (p->thread, text, &error);
  g_assert_no_error (error);
  return NULL;
}

/* 50 posts from 50 threads at once: the history takes them in the order
 * of their positions, each answered right after it (enqueue). */
static void
test_order_under_concurrent_posts (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("1", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  Poster posters[50];
  GThread *threads[50];

  for (guint i = 0; i < 50; i++)
    {
      posters[i] = (Poster) { thread, i, 0 };
      threads[i] = g_thread_new ("poster", poster_run, &posters[i]);
    }
  for (guint i = 0; i < 50; i++)
    g_thread_join (threads[i]);
  thread_events_wait (f->events, weft_thread_get_id (thread), WEFT_EVENT_THREAD_TURN_FINISHED,
                      "completed", 50, 30);

  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 100);
  for (guint k = 0; k < 50; k++)
    {
      const Poster *at = NULL;
      for (guint i = 0; i < 50; i++)
        if (posters[i].position == k + 1)
          at = &posters[i];
      g_assert_nonnull (at);
      g_autofree char *user = g_strdup_printf ("user: m%u", at->index);
      g_autofree char *answer = g_strdup_printf ("assistant: you said: m%u", at->index);
      g_assert_cmpstr (history->pdata[2 * k], ==, user);
      g_assert_cmpstr (history->pdata[2 * k + 1], ==, answer);
    }
}

/* A second message while the first is answered: enqueue answers both in
 * turn; reject refuses it; interrupt ends the first turn and answers it. */
static void
test_strategy_enqueue (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("300", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);

  thread_post (thread, "first");
  thread_post (thread, "second");
  g_assert_true (weft_thread_is_busy (thread));
  thread_events_wait (f->events, weft_thread_get_id (thread), WEFT_EVENT_THREAD_TURN_FINISHED,
                      "completed", 2, 10);
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 4);
  g_assert_cmpstr (history->pdata[0], ==, "user: first");
  g_assert_cmpstr (history->pdata[1], ==, "assistant: you said: first");
  g_assert_cmpstr (history->pdata[2], ==, "user: second");
  g_assert_cmpstr (history->pdata[3], ==, "assistant: you said: second");
}

static void
test_strategy_reject (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("300", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, "{\"strategy\": \"reject\"}");
  g_autoptr(GError) error = NULL;

  thread_post (thread, "first");
  g_assert_cmpuint (weft_thread_post (thread, "second", &error), ==, 0);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_BUSY);
  thread_events_wait (f->events, weft_thread_get_id (thread), WEFT_EVENT_THREAD_TURN_FINISHED,
                      "completed", 1, 10);
  /* Once answered, the thread takes messages again. */
  thread_post (thread, "third");
  thread_events_wait (f->events, weft_thread_get_id (thread), WEFT_EVENT_THREAD_TURN_FINISHED,
                      "completed", 2, 10);
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 4);
  g_assert_cmpstr (history->pdata[2], ==, "user: third");
}

static void
test_strategy_interrupt (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("2000", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, "{\"strategy\": \"interrupt\"}");
  const char *id = weft_thread_get_id (thread);

  thread_post (thread, "first");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_STARTED, NULL, 1, 10);
  thread_post (thread, "second");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "interrupted", 1, 10);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 3);
  g_assert_cmpstr (history->pdata[0], ==, "user: first");
  g_assert_cmpstr (history->pdata[1], ==, "user: second");
  g_assert_cmpstr (history->pdata[2], ==, "assistant: you said: second");
}

/* weft_thread_cancel_turn ends the turn; the thread goes on. */
static void
test_cancel_turn (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("5000", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  const char *id = weft_thread_get_id (thread);

  thread_post (thread, "slow");
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_STARTED, NULL, 1, 10);
  weft_thread_cancel_turn (thread);
  thread_events_wait (f->events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "cancelled", 1, 10);
  g_assert_false (weft_thread_is_busy (thread));
}

/* Settings are checked, with the member named. */
static void
test_settings_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("0", ""));
  static const struct {
    const char *settings;
    const char *message;
  } cases[] = {
    { "{\"colour\": 1}", "thread settings: unknown key \"colour\"" },
    { "{\"strategy\": \"later\"}", "strategy: must be \"enqueue\", \"interrupt\", \"reject\"" },
    { "{\"strategy\": 3}", "strategy: must be a string, not an integer" },
    { "{\"max_steps\": 0}", "max_steps: must be an integer from 1 to 100" },
    { "{\"agent\": \"nobody\"}", "agent: unknown agent \"nobody\" (known: bot, worker)" },
    { "{\"agent\": \"worker\"}", "agent \"worker\" cannot converse" },
    { "{\"background\": {\"w\": {\"tool\": \"x\"}}}",
      "background.w.tool: unknown tool \"x\" (known: none)" },
    { "{\"background\": {\"w\": {\"tool\": \"x\", \"agent\": \"bot\"}}}",
      "background.w: give one of" },
    { "{\"background\": {\"check_task\": {\"agent\": \"bot\"}}}", "is not a tool name" },
    { "{\"background\": {\"w\": {\"flow\": \"other\"}}}",
      "background.w.flow: unknown flow \"other\" (known: echo)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonObject) s = thread_test_object (cases[i].settings);
      g_autoptr(WeftThread) thread = weft_thread_new (flow, s, &error);
      g_assert_null (thread);
      g_assert_nonnull (error);
      weft_test_assert_contains (error->message, cases[i].message);
    }
}

/* A flow's "chat" member is checked when the flow loads. */
static void
test_flow_chat_member (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *chat;
    const char *message;
  } cases[] = {
    { ", \"chat\": 3", "test.json: $.chat: must be an object" },
    { ", \"chat\": {\"agent\": \"worker\"}", "test.json: $.chat: agent: agent \"worker\" cannot converse" },
    { ", \"chat\": {\"background\": {\"ask\": {\"agent\": \"ghost\"}}}",
      "test.json: $.chat: background.ask.agent: unknown agent \"ghost\" (known: bot, worker)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = g_strdup_printf (ECHO_FLOW ("0", "%s"), cases[i].chat);
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, json, -1, "test.json", &error);
      g_assert_null (flow);
      weft_test_assert_contains (error->message, cases[i].message);
    }

  /* The member's settings are the thread's defaults. */
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("300", ", \"chat\": {\"agent\": "
                                                                   "\"bot\", \"strategy\": \"reject\"}"));
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  g_autoptr(GError) error = NULL;
  thread_post (thread, "one");
  g_assert_cmpuint (weft_thread_post (thread, "two", &error), ==, 0);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_BUSY);
}

/* A flow whose agents cannot converse gets no thread. */
static void
test_no_conversing_agent (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
                                            "{\"name\": \"n\", \"agents\": {\"a\": {\"plugin\": "
                                            "\"noop\"}}, \"tasks\": [{\"name\": \"t\", \"agent\": "
                                            "\"a\", \"description\": \"d\"}]}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftThread) thread = weft_thread_new (flow, NULL, &error);

  g_assert_null (thread);
  weft_test_assert_contains (error->message, "flow \"n\" has no agent that can converse");
}

/* A message that is not text, or too long, is refused. */
static void
test_bad_messages (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, ECHO_FLOW ("0", ""));
  g_autoptr(WeftThread) thread = thread_test_new (flow, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *long_text = g_strnfill (WEFT_THREAD_MESSAGE_MAX + 1, 'x');

  g_assert_cmpuint (weft_thread_post (thread, "\xff\xfe", &error), ==, 0);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpuint (weft_thread_post (thread, long_text, &error), ==, 0);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/threads/template-converses", test_template_converses);
  ADD ("/threads/order-under-concurrent-posts", test_order_under_concurrent_posts);
  ADD ("/threads/strategy/enqueue", test_strategy_enqueue);
  ADD ("/threads/strategy/reject", test_strategy_reject);
  ADD ("/threads/strategy/interrupt", test_strategy_interrupt);
  ADD ("/threads/cancel-turn", test_cancel_turn);
  ADD ("/threads/settings-refused", test_settings_refused);
  ADD ("/threads/flow-chat-member", test_flow_chat_member);
  ADD ("/threads/no-conversing-agent", test_no_conversing_agent);
  ADD ("/threads/bad-messages", test_bad_messages);
  return g_test_run ();
}
