/* test-scheduler.c — the scheduler's promises, read from timestamps and
 * events rather than wall-clock limits, so they hold on a loaded machine. */
#include "weft-test.h"

typedef struct {
  WeftEngine *engine;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->engine = weft_test_engine_new (4);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 10000);
  weft_engine_unref (f->engine);
}

static WeftRun *
run_flow (WeftFlow *flow)
{
  g_autoptr(GError) error = NULL;
  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (run);
  return run;
}

#define T(run, flow, name) weft_test_task_index (flow, name)

static gint64
started (WeftRun *run, const char *name)
{
  return weft_run_get_task_started_us (run, weft_test_task_index (weft_run_get_flow (run), name));
}

static gint64
finished (WeftRun *run, const char *name)
{
  return weft_run_get_task_finished_us (run, weft_test_task_index (weft_run_get_flow (run), name));
}

static WeftStatus
status (WeftRun *run, const char *name)
{
  return weft_run_get_task_status (run, weft_test_task_index (weft_run_get_flow (run), name));
}

static const char *
output (WeftRun *run, const char *name)
{
  return weft_run_get_task_output (run, weft_test_task_index (weft_run_get_flow (run), name));
}

/* ---- parallelism ------------------------------------------------------- */

static void
test_independent_tasks_overlap (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"par\", \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 300}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"a\"},"
    "             {\"name\": \"b\", \"agent\": \"s\", \"description\": \"b\"}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  /* Each started before the other finished: they ran at the same time. */
  g_assert_cmpint (started (run, "b"), <, finished (run, "a"));
  g_assert_cmpint (started (run, "a"), <, finished (run, "b"));
}

/* The async template agent with a delay holds no worker: twenty of them on
 * a one-thread pool still overlap. */
static void
test_async_agents_hold_no_thread (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (1);
  g_autoptr(GString) json = g_string_new (
    "{\"name\": \"many\", \"agents\": {\"t\": {\"plugin\": \"template\", \"delay_ms\": 200}},"
    " \"tasks\": [");
  for (guint i = 0; i < 20; i++)
    g_string_append_printf (json, "%s{\"name\": \"t%u\", \"agent\": \"t\", \"description\": \"x\"}",
                            i ? "," : "", i);
  g_string_append (json, "]}");
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, json->str);
  g_autoptr(WeftRun) run = run_flow (flow);

  gint64 first_end = G_MAXINT64, last_start = 0;
  for (guint i = 0; i < 20; i++)
    {
      first_end = MIN (first_end, weft_run_get_task_finished_us (run, i));
      last_start = MAX (last_start, weft_run_get_task_started_us (run, i));
    }
  g_assert_cmpint (last_start, <, first_end);
  weft_engine_shutdown (engine, 1000);
}

/* No waves: c needs only b, so it starts while slow, unrelated a runs. */
static void
test_no_barriers (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"nb\", \"agents\": {\"slow\": {\"plugin\": \"test-agent\", \"sleep_ms\": 1500},"
    "                              \"fast\": {\"plugin\": \"test-agent\", \"sleep_ms\": 10}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"slow\", \"description\": \"a\"},"
    "             {\"name\": \"b\", \"agent\": \"fast\", \"description\": \"b\"},"
    "             {\"name\": \"c\", \"agent\": \"fast\", \"description\": \"c\", \"context\": [\"b\"]},"
    "             {\"name\": \"d\", \"agent\": \"fast\", \"description\": \"d\", \"context\": [\"a\", \"c\"]}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpint (started (run, "c"), >=, finished (run, "b"));
  g_assert_cmpint (finished (run, "c"), <, finished (run, "a"));
  g_assert_cmpint (started (run, "d"), >=, finished (run, "a"));
  g_assert_cmpstr (output (run, "d"), ==, "d<-a,c");
  g_assert_cmpstr (output (run, "c"), ==, "c<-b");
}

/* ---- sequential process (CrewAI) ------------------------------------------ */

static void
test_sequential_rules (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"seq\", \"process\": \"sequential\","
    " \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 150}},"
    " \"tasks\": [{\"name\": \"plan\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"ideas\", \"agent\": \"s\", \"description\": \"x\", \"async\": true},"
    "             {\"name\": \"history\", \"agent\": \"s\", \"description\": \"x\", \"async\": true},"
    "             {\"name\": \"article\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"tweet\", \"agent\": \"s\", \"description\": \"x\", \"async\": true},"
    "             {\"name\": \"review\", \"agent\": \"s\", \"description\": \"x\", \"async\": true,"
    "              \"context\": [\"plan\"]},"
    "             {\"name\": \"publish\", \"agent\": \"s\", \"description\": \"x\"}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  /* What each waited for and, without context, received. */
  g_assert_cmpstr (output (run, "plan"), ==, "plan");
  g_assert_cmpstr (output (run, "ideas"), ==, "ideas<-plan");
  g_assert_cmpstr (output (run, "history"), ==, "history<-plan");
  g_assert_cmpstr (output (run, "article"), ==, "article<-plan,ideas,history");
  g_assert_cmpstr (output (run, "tweet"), ==, "tweet<-article");
  g_assert_cmpstr (output (run, "review"), ==, "review<-plan");
  g_assert_cmpstr (output (run, "publish"), ==, "publish<-article,tweet,review");

  /* Async tasks run together; a non-async one waits for all before it. */
  g_assert_cmpint (started (run, "history"), <, finished (run, "ideas"));
  g_assert_cmpint (started (run, "ideas"), >=, finished (run, "plan"));
  g_assert_cmpint (started (run, "article"), >=, finished (run, "ideas"));
  g_assert_cmpint (started (run, "article"), >=, finished (run, "history"));
  g_assert_cmpint (started (run, "review"), >=, finished (run, "article"));
  g_assert_cmpint (started (run, "review"), <, finished (run, "tweet"));
  g_assert_cmpint (started (run, "publish"), >=, finished (run, "review"));

  /* Final outputs: only what nothing depends on. */
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
  g_assert_cmpuint (json_object_get_size (outputs), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (outputs, "publish"), ==,
                   "publish<-article,tweet,review");
}

/* Without a non-async task before it, an async task waits for nothing; a
 * trailing async task is a final output. */
static void
test_sequential_edges (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"seq2\", \"process\": \"sequential\","
    " \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 100}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"x\", \"async\": true},"
    "             {\"name\": \"b\", \"agent\": \"s\", \"description\": \"x\", \"async\": true},"
    "             {\"name\": \"c\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"d\", \"agent\": \"s\", \"description\": \"x\", \"async\": true}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpstr (output (run, "a"), ==, "a");
  g_assert_cmpstr (output (run, "b"), ==, "b");
  g_assert_cmpint (started (run, "b"), <, finished (run, "a"));
  g_assert_cmpstr (output (run, "c"), ==, "c<-a,b");
  g_assert_cmpstr (output (run, "d"), ==, "d<-c");
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
  g_assert_cmpuint (json_object_get_size (outputs), ==, 1);
  g_assert_true (json_object_has_member (outputs, "d"));
}

/* ---- failure, retries, timeouts, cancellation ----------------------------------- */

static void
test_failure_skips_dependants (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"fail\", \"agents\": {\"bad\": {\"plugin\": \"test-agent\", \"fail_attempts\": 99},"
    "                                \"ok\": {\"plugin\": \"test-agent\", \"sleep_ms\": 200}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"bad\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"ok\", \"description\": \"x\", \"context\": [\"a\"]},"
    "             {\"name\": \"c\", \"agent\": \"ok\", \"description\": \"x\", \"context\": [\"b\"]},"
    "             {\"name\": \"x\", \"agent\": \"ok\", \"description\": \"x\"},"
    "             {\"name\": \"y\", \"agent\": \"ok\", \"description\": \"x\", \"context\": [\"x\"]}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_FAILED);
  weft_test_assert_contains (weft_run_get_error (run)->message, "task \"a\" failed");
  weft_test_assert_contains (weft_run_get_error (run)->message, "planned failure on attempt 1");
  g_assert_cmpint (status (run, "a"), ==, WEFT_STATUS_FAILED);
  g_assert_cmpint (status (run, "b"), ==, WEFT_STATUS_SKIPPED);
  g_assert_cmpint (status (run, "c"), ==, WEFT_STATUS_SKIPPED);
  g_assert_cmpuint (weft_run_get_task_attempts (run, 1), ==, 0);
  /* The independent branch finished, after the failure. */
  g_assert_cmpint (status (run, "x"), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpint (status (run, "y"), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpint (finished (run, "y"), >, finished (run, "a"));
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
  g_assert_true (json_object_has_member (outputs, "y"));
  g_assert_false (json_object_has_member (outputs, "c"));
}

typedef struct {
  GMutex lock;
  GPtrArray *events;          /* "type task attempt error" */
} Collector;

static void
collect_event (const WeftEvent *event, gpointer data)
{
  Collector *c = data;

  g_mutex_lock (&c->lock);
  g_ptr_array_add (c->events, g_strdup_printf ("%s %s %u %s",
                                               weft_event_type_to_string (weft_event_get_event_type (event)),
                                               weft_event_get_task_name (event) ? weft_event_get_task_name (event) : "-",
                                               weft_event_get_attempt (event),
                                               weft_event_get_error (event) ? weft_event_get_error (event) : "-"));
  g_mutex_unlock (&c->lock);
}

static guint
count_prefixed (Collector *c, const char *prefix)
{
  guint n = 0;

  g_mutex_lock (&c->lock);
  for (guint i = 0; i < c->events->len; i++)
    if (g_str_has_prefix (c->events->pdata[i], prefix))
      n++;
  g_mutex_unlock (&c->lock);
  return n;
}

static void
test_retries (Fixture *f, gconstpointer data)
{
  Collector c = { .events = g_ptr_array_new_with_free_func (g_free) };
  g_mutex_init (&c.lock);
  guint id = weft_engine_add_listener (f->engine, collect_event, &c, NULL);
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"retry\", \"agents\": {\"flaky\": {\"plugin\": \"test-agent\", \"fail_attempts\": 2},"
    "                                 \"bad\": {\"plugin\": \"test-agent\", \"fail_attempts\": 9}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"flaky\", \"description\": \"x\", \"retries\": 3,"
    "              \"retry_delay_ms\": 20},"
    "             {\"name\": \"b\", \"agent\": \"bad\", \"description\": \"x\", \"retries\": 1,"
    "              \"retry_delay_ms\": 20}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (status (run, "a"), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpuint (weft_run_get_task_attempts (run, 0), ==, 3);
  g_assert_cmpint (status (run, "b"), ==, WEFT_STATUS_FAILED);
  g_assert_cmpuint (weft_run_get_task_attempts (run, 1), ==, 2);
  weft_test_assert_contains (weft_run_get_task_error (run, 1)->message, "attempt 2");

  weft_engine_remove_listener (f->engine, id);
  g_assert_cmpuint (count_prefixed (&c, "task.retrying a 1 planned failure on attempt 1"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "task.retrying a 2 planned failure on attempt 2"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "task.started a"), ==, 3);
  g_assert_cmpuint (count_prefixed (&c, "task.completed a 3"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "task.retrying b"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "task.failed b 2"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "run.failed"), ==, 1);
  g_ptr_array_unref (c.events);
  g_mutex_clear (&c.lock);
}

static void
test_timeout_cancels_task (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"to\", \"agents\": {\"slow\": {\"plugin\": \"test-agent\", \"sleep_ms\": 30000}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"slow\", \"description\": \"x\", \"timeout_s\": 0.2,"
    "              \"retries\": 1, \"retry_delay_ms\": 10}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (status (run, "a"), ==, WEFT_STATUS_FAILED);
  g_assert_error ((GError *) weft_run_get_task_error (run, 0), WEFT_ERROR, WEFT_ERROR_TIMEOUT);
  weft_test_assert_contains (weft_run_get_task_error (run, 0)->message, "timed out after 0.2 s");
  g_assert_cmpuint (weft_run_get_task_attempts (run, 0), ==, 2);
  /* Both attempts were cancelled: the agent saw its cancellable and left,
   * so shutdown finds nothing still running. */
  weft_engine_shutdown (f->engine, 20000);
  g_assert_cmpint (weft_run_get_duration_us (run), <, 20 * G_USEC_PER_SEC);
}

/* An agent that ignores cancellation returns after its timeout; the late
 * result must not change the run. */
static void
test_late_result_discarded (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"late\", \"agents\": {\"deaf\": {\"plugin\": \"test-agent\", \"sleep_ms\": 400,"
    "                                            \"ignore_cancel\": true}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"deaf\", \"description\": \"x\", \"timeout_s\": 0.05},"
    "             {\"name\": \"b\", \"agent\": \"deaf\", \"description\": \"x\", \"context\": [\"a\"]}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_FAILED);
  /* Wait for the late return to arrive and be dropped. */
  weft_engine_shutdown (f->engine, 20000);
  g_assert_cmpint (status (run, "a"), ==, WEFT_STATUS_FAILED);
  g_assert_null (output (run, "a"));
  g_assert_cmpint (status (run, "b"), ==, WEFT_STATUS_SKIPPED);
}

typedef struct {
  GCancellable *cancellable;
  guint delay_ms;
} CancelLater;

static gpointer
cancel_later (gpointer data)
{
  CancelLater *c = data;

  g_usleep (c->delay_ms * 1000);
  g_cancellable_cancel (c->cancellable);
  return NULL;
}

static void
test_cancel_run (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"cancel\", \"agents\": {\"slow\": {\"plugin\": \"test-agent\", \"sleep_ms\": 30000},"
    "                                  \"fast\": {\"plugin\": \"test-agent\"}},"
    " \"tasks\": [{\"name\": \"done\", \"agent\": \"fast\", \"description\": \"x\"},"
    "             {\"name\": \"a\", \"agent\": \"slow\", \"description\": \"x\", \"context\": [\"done\"]},"
    "             {\"name\": \"b\", \"agent\": \"slow\", \"description\": \"x\"},"
    "             {\"name\": \"c\", \"agent\": \"fast\", \"description\": \"x\", \"context\": [\"a\", \"b\"]}]}");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelLater later = { cancellable, 300 };
  GThread *thread = g_thread_new ("cancel", cancel_later, &later);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, cancellable, &error);

  g_thread_join (thread);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_CANCELLED);
  g_assert_error ((GError *) weft_run_get_error (run), WEFT_ERROR, WEFT_ERROR_CANCELLED);
  g_assert_cmpint (status (run, "done"), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpint (status (run, "a"), ==, WEFT_STATUS_CANCELLED);
  g_assert_cmpint (status (run, "b"), ==, WEFT_STATUS_CANCELLED);
  g_assert_cmpint (status (run, "c"), ==, WEFT_STATUS_SKIPPED);
  /* The agents saw their cancellables and returned. */
  weft_engine_shutdown (f->engine, 20000);
  g_assert_cmpint (weft_run_get_duration_us (run), <, 20 * G_USEC_PER_SEC);
}

static void
test_cancel_before_start (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"c0\", \"agents\": {\"slow\": {\"plugin\": \"test-agent\", \"sleep_ms\": 30000}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"slow\", \"description\": \"x\"}]}");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;

  g_cancellable_cancel (cancellable);
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, cancellable, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_CANCELLED);
}

/* ---- inputs, exclude, results --------------------------------------------------- */

static void
test_exclude (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"ex\", \"agents\": {\"s\": {\"plugin\": \"test-agent\"}},"
    " \"tasks\": [{\"name\": \"secret\", \"agent\": \"s\", \"description\": \"x\", \"exclude\": true},"
    "             {\"name\": \"open\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"use\", \"agent\": \"s\", \"description\": \"x\", \"context\": [\"secret\", \"open\"]},"
    "             {\"name\": \"side\", \"agent\": \"s\", \"description\": \"x\", \"exclude\": true}]}");
  g_autoptr(WeftRun) run = run_flow (flow);

  /* It ran, and use waited for it, but did not receive it. */
  g_assert_cmpint (status (run, "secret"), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (output (run, "secret"), ==, "secret");
  g_assert_cmpint (started (run, "use"), >=, finished (run, "secret"));
  g_assert_cmpstr (output (run, "use"), ==, "use<-open");
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
  g_assert_true (json_object_has_member (outputs, "use"));
  g_assert_false (json_object_has_member (outputs, "side"));
  g_assert_cmpuint (json_object_get_size (outputs), ==, 1);
}

static void
test_inputs_and_prompt (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"tpl\", \"inputs\": {\"topic\": \"AI\", \"n\": 5},"
    " \"agents\": {\"t\": {\"plugin\": \"template\", \"template\": \"[{prompt}]\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\", \"description\": \"List {n} ideas about {topic} {{as JSON}}\","
    "              \"expected_output\": \"{n} bullets\"},"
    "             {\"name\": \"b\", \"agent\": \"t\", \"description\": \"plain\"}]}");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) inputs = json_object_new ();

  json_object_set_string_member (inputs, "topic", "C");
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, inputs, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (output (run, "a"), ==, "[List 5 ideas about C {as JSON}\n\nExpected output: 5 bullets]");
  g_assert_cmpstr (output (run, "b"), ==, "[plain]");

  g_autoptr(WeftFlow) needs = weft_test_flow (f->engine,
    "{\"name\": \"in\", \"agents\": {\"t\": {\"plugin\": \"template\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\", \"description\": \"about {subject}\"}]}");
  g_autoptr(WeftRun) none = weft_flow_kickoff (needs, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  weft_test_assert_contains (error->message, "test.json: missing input \"subject\"");
}

static void
test_result_json (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"js\", \"agents\": {\"s\": {\"plugin\": \"test-agent\"},"
    "                              \"bad\": {\"plugin\": \"test-agent\", \"fail_attempts\": 1}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"bad\", \"description\": \"x\"}]}");
  g_autoptr(WeftRun) run = run_flow (flow);
  g_autoptr(JsonNode) node = weft_run_to_json (run);
  JsonObject *obj = json_node_get_object (node);

  g_assert_cmpstr (json_object_get_string_member (obj, "status"), ==, "failed");
  g_assert_cmpstr (json_object_get_string_member (obj, "run_id"), ==, weft_run_get_id (run));
  g_assert_cmpstr (json_object_get_string_member (obj, "flow"), ==, "js");
  JsonArray *tasks = json_object_get_array_member (obj, "tasks");
  g_assert_cmpuint (json_array_get_length (tasks), ==, 2);
  JsonObject *a = json_array_get_object_element (tasks, 0);
  g_assert_cmpstr (json_object_get_string_member (a, "status"), ==, "completed");
  g_assert_cmpstr (json_object_get_string_member (a, "output"), ==, "a");
  g_assert_cmpint (json_object_get_int_member (a, "attempts"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (a, "duration_us"), >=, 0);
  JsonObject *b = json_array_get_object_element (tasks, 1);
  g_assert_cmpstr (json_object_get_string_member (b, "status"), ==, "failed");
  weft_test_assert_contains (json_object_get_string_member (b, "error"), "planned failure");
  g_assert_true (json_object_get_null_member (b, "output"));
  g_assert_true (json_object_has_member (json_object_get_object_member (obj, "outputs"), "a"));
}

/* The one shape of a run (the server's too): times in wall-clock µs, null
 * for what did not happen; the run's inputs and the reasons of its ends. */
static void
test_result_json_shape (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"shape\", \"inputs\": {\"who\": \"me\"},"
    " \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 2},"
    "              \"bad\": {\"plugin\": \"test-agent\", \"fail_attempts\": 1}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"bad\", \"description\": \"x\"},"
    "             {\"name\": \"c\", \"agent\": \"s\", \"description\": \"x\", \"context\": [\"b\"]}]}");
  gint64 before = g_get_real_time ();
  g_autoptr(WeftRun) run = run_flow (flow);
  gint64 after = g_get_real_time ();
  g_autoptr(JsonNode) node = weft_run_to_json (run);
  JsonObject *obj = json_node_get_object (node);
  gint64 started = json_object_get_int_member (obj, "started_wall_us");
  gint64 finished = json_object_get_int_member (obj, "finished_wall_us");

  g_assert_cmpint (json_object_get_int_member (obj, "created_wall_us"), >=, before - G_USEC_PER_SEC);
  g_assert_cmpint (started, >=, json_object_get_int_member (obj, "created_wall_us") - G_USEC_PER_SEC);
  g_assert_cmpint (finished, >=, started);
  g_assert_cmpint (finished, <=, after + G_USEC_PER_SEC);
  g_assert_cmpint (json_object_get_int_member (obj, "duration_us"), ==,
                   weft_run_get_duration_us (run));
  weft_test_assert_contains (json_object_get_string_member (obj, "error"), "task \"b\" failed");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (obj, "inputs"),
                                                  "who"), ==, "me");
  JsonArray *tasks = json_object_get_array_member (obj, "tasks");
  JsonObject *a = json_array_get_object_element (tasks, 0);
  g_assert_cmpint (json_object_get_int_member (a, "started_wall_us"), >=, started - G_USEC_PER_SEC);
  g_assert_cmpint (json_object_get_int_member (a, "finished_wall_us"), >=,
                   json_object_get_int_member (a, "started_wall_us"));
  g_assert_false (json_object_has_member (a, "started_us"));
  JsonObject *c = json_array_get_object_element (tasks, 2);
  g_assert_cmpstr (json_object_get_string_member (c, "status"), ==, "skipped");
  g_assert_true (json_object_get_null_member (c, "started_wall_us"));
  g_assert_true (json_object_get_null_member (c, "finished_wall_us"));
  g_assert_cmpint (json_object_get_int_member (c, "duration_us"), ==, 0);
}

/* ---- many runs at once, async kickoff ------------------------------------------- */

typedef struct {
  GMainLoop *loop;
  WeftFlow *flow;
  guint pending;
  guint completed;
} Many;

static void
many_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Many *m = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff_finish (m->flow, result, &error);

  g_assert_no_error (error);
  if (weft_run_get_status (run) == WEFT_STATUS_COMPLETED
      && g_strcmp0 (weft_run_get_task_output (run, 2), "c<-b") == 0)
    m->completed++;
  if (--m->pending == 0)
    g_main_loop_quit (m->loop);
}

static void
test_concurrent_runs (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine,
    "{\"name\": \"chain\", \"agents\": {\"s\": {\"plugin\": \"test-agent\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"s\", \"description\": \"x\", \"context\": [\"a\"]},"
    "             {\"name\": \"c\", \"agent\": \"s\", \"description\": \"x\", \"context\": [\"b\"]}]}");
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Many m = { loop, flow, 200, 0 };

  for (guint i = 0; i < 200; i++)
    weft_flow_kickoff_async (flow, NULL, NULL, many_done, &m);
  g_main_loop_run (loop);
  g_assert_cmpuint (m.completed, ==, 200);
}

/* ---- replay and resume ------------------------------------------------------ */

static const char *const preset_flow =
  "{\"name\": \"pre\", \"agents\": {\"t\": {\"plugin\": \"template\", \"template\": \"{task}[{context}]\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"t\", \"description\": \"x\"},"
  "             {\"name\": \"b\", \"agent\": \"t\", \"description\": \"x\", \"context\": [\"a\"]},"
  "             {\"name\": \"c\", \"agent\": \"t\", \"description\": \"x\", \"context\": [\"b\"]},"
  "             {\"name\": \"d\", \"agent\": \"t\", \"description\": \"x\"}]}";

static void
test_replay_reuses_outputs (Fixture *f, gconstpointer data)
{
  Collector c = { .events = g_ptr_array_new_with_free_func (g_free) };
  g_mutex_init (&c.lock);
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, preset_flow);
  g_autoptr(JsonObject) completed = json_object_new ();
  g_autoptr(GError) error = NULL;

  json_object_set_string_member (completed, "a", "stored A");
  json_object_set_string_member (completed, "d", "stored D");
  WeftKickoffOptions options = { .completed = completed };
  guint id = weft_engine_add_listener (f->engine, collect_event, &c, NULL);
  g_autoptr(WeftRun) run = weft_flow_kickoff_with_options (flow, &options, NULL, &error);
  weft_engine_remove_listener (f->engine, id);

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  /* Reused outputs are handed on as they were; only b and c ran. */
  g_assert_cmpstr (output (run, "a"), ==, "stored A");
  g_assert_cmpuint (weft_run_get_task_attempts (run, 0), ==, 0);
  g_assert_cmpstr (output (run, "b"), ==, "b[a: stored A]");
  g_assert_cmpstr (output (run, "c"), ==, "c[b: b[a: stored A]]");
  g_assert_cmpstr (output (run, "d"), ==, "stored D");
  g_assert_cmpuint (count_prefixed (&c, "run.started"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "task.completed a 0"), ==, 1);
  g_assert_cmpuint (count_prefixed (&c, "task.started a"), ==, 0);
  g_assert_cmpuint (count_prefixed (&c, "task.started b 1"), ==, 1);

  g_auto(GStrv) downstream = weft_flow_dup_downstream (flow, "b");
  g_assert_cmpuint (g_strv_length (downstream), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) downstream, "b"));
  g_assert_true (g_strv_contains ((const char * const *) downstream, "c"));
  g_assert_null (weft_flow_dup_downstream (flow, "nope"));

  g_ptr_array_unref (c.events);
  g_mutex_clear (&c.lock);
}

typedef struct {
  GMutex lock;
  GArray *seqs;
  GPtrArray *types;
} Numbered;

static void
number_event (const WeftEvent *event, gpointer data)
{
  Numbered *n = data;
  guint64 seq = weft_event_get_seq (event);

  g_mutex_lock (&n->lock);
  g_array_append_val (n->seqs, seq);
  g_ptr_array_add (n->types, g_strdup (weft_event_type_to_string (weft_event_get_event_type (event))));
  g_mutex_unlock (&n->lock);
}

static void
test_resume_continues_run (Fixture *f, gconstpointer data)
{
  Numbered n = { .seqs = g_array_new (FALSE, FALSE, sizeof (guint64)),
                 .types = g_ptr_array_new_with_free_func (g_free) };
  g_mutex_init (&n.lock);
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, preset_flow);
  g_autoptr(JsonObject) completed = json_object_new ();
  g_autoptr(GError) error = NULL;

  json_object_set_string_member (completed, "a", "stored A");
  WeftKickoffOptions options = { .completed = completed, .resume_run_id = "0a0b-run",
                                 .resume_seq = 41 };
  guint id = weft_engine_add_listener (f->engine, number_event, &n, NULL);
  g_autoptr(WeftRun) run = weft_flow_kickoff_with_options (flow, &options, NULL, &error);
  weft_engine_remove_listener (f->engine, id);

  g_assert_no_error (error);
  g_assert_cmpstr (weft_run_get_id (run), ==, "0a0b-run");
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (output (run, "c"), ==, "c[b: b[a: stored A]]");
  /* Numbered after the stored events, run.resumed first, nothing for a. */
  g_assert_cmpstr (n.types->pdata[0], ==, "run.resumed");
  for (guint i = 0; i < n.seqs->len; i++)
    g_assert_cmpuint (g_array_index (n.seqs, guint64, i), ==, 42 + i);
  /* b, c, d: started and completed each; run.resumed and run.completed. */
  g_assert_cmpuint (n.seqs->len, ==, 8);

  /* Outputs of tasks the flow does not have are refused before the run. */
  g_autoptr(JsonObject) bad = json_object_new ();
  json_object_set_string_member (bad, "zz", "x");
  WeftKickoffOptions wrong = { .completed = bad };
  g_assert_null (weft_flow_kickoff_with_options (flow, &wrong, NULL, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  weft_test_assert_contains (error->message, "completed task \"zz\"");

  g_array_unref (n.seqs);
  g_ptr_array_unref (n.types);
  g_mutex_clear (&n.lock);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/scheduler/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("independent-tasks-overlap", test_independent_tasks_overlap);
  ADD ("async-agents-hold-no-thread", test_async_agents_hold_no_thread);
  ADD ("no-barriers", test_no_barriers);
  ADD ("sequential-rules", test_sequential_rules);
  ADD ("sequential-edges", test_sequential_edges);
  ADD ("failure-skips-dependants", test_failure_skips_dependants);
  ADD ("retries", test_retries);
  ADD ("timeout-cancels-task", test_timeout_cancels_task);
  ADD ("late-result-discarded", test_late_result_discarded);
  ADD ("cancel-run", test_cancel_run);
  ADD ("cancel-before-start", test_cancel_before_start);
  ADD ("exclude", test_exclude);
  ADD ("inputs-and-prompt", test_inputs_and_prompt);
  ADD ("result-json", test_result_json);
  ADD ("result-json-shape", test_result_json_shape);
  ADD ("concurrent-runs", test_concurrent_runs);
  ADD ("replay-reuses-outputs", test_replay_reuses_outputs);
  ADD ("resume-continues-run", test_resume_continues_run);
  return g_test_run ();
}
