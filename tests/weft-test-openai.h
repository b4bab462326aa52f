/* weft-test-openai.h — what the openai agent's test programs share: a
 * mock server and an engine per test, the events it raised, flows with one
 * openai agent "llm" talking to the mock, and assertions on a run. */
#pragma once

#include "weft-test.h"
#include "weft-mock-llm.h"

/* The plugin's own parts (schema validator, answer parsing), compiled into
 * the tests too. */
#include "weft-openai.h"

#define SECRET "sk-test-5ecret-never-shown"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

typedef struct {
  GMutex lock;
  GPtrArray *json;            /* every event, as JSON */
  GPtrArray *steps;           /* task.step events: "KIND TEXT" */
} Events;

static inline void
events_collect (const WeftEvent *event, gpointer data)
{
  Events *ev = data;

  g_mutex_lock (&ev->lock);
  g_ptr_array_add (ev->json, weft_event_to_json (event));
  if (weft_event_get_event_type (event) == WEFT_EVENT_TASK_STEP)
    g_ptr_array_add (ev->steps, g_strdup_printf ("%s %s", weft_event_get_step_kind (event),
                                                 weft_event_get_output (event)));
  g_mutex_unlock (&ev->lock);
}

static inline Events *
events_new (void)
{
  Events *ev = g_new0 (Events, 1);

  g_mutex_init (&ev->lock);
  ev->json = g_ptr_array_new_with_free_func (g_free);
  ev->steps = g_ptr_array_new_with_free_func (g_free);
  return ev;
}

static inline void
events_free (gpointer data)
{
  Events *ev = data;

  g_ptr_array_unref (ev->json);
  g_ptr_array_unref (ev->steps);
  g_mutex_clear (&ev->lock);
  g_free (ev);
}

/* The steps of `kind`, in the order raised. */
static inline GPtrArray *
events_steps (Events *ev, const char *kind)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *prefix = g_strconcat (kind, " ", NULL);

  g_mutex_lock (&ev->lock);
  for (guint i = 0; i < ev->steps->len; i++)
    if (g_str_has_prefix (ev->steps->pdata[i], prefix))
      g_ptr_array_add (out, g_strdup ((char *) ev->steps->pdata[i] + strlen (prefix)));
  g_mutex_unlock (&ev->lock);
  return out;
}

typedef struct {
  WeftMockLlm *mock;
  WeftEngine *engine;
  Events *events;
} Fixture;

static inline void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->mock = weft_mock_llm_new (&error);
  g_assert_no_error (error);
  f->engine = weft_test_engine_new (8);
  f->events = events_new ();
  weft_engine_add_listener (f->engine, events_collect, f->events, NULL);
}

static inline void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 5000);
  g_clear_pointer (&f->engine, weft_engine_unref);
  events_free (f->events);
  weft_mock_llm_free (f->mock);
}

/* A flow with one agent "llm" (plugin openai, talking to the mock, with
 * `agent_extra` options) and `tasks` (a JSON array's contents). */
static inline WeftFlow *
fixture_flow (Fixture *f, const char *agent_extra, const char *tools, const char *tasks)
{
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"t\", \"tools\": {%s},"
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"mock-1\","
    "                        \"base_url\": \"%s\", \"retry_base_ms\": 1%s%s}},"
    " \"tasks\": [%s]}",
    tools ? tools : "", weft_mock_llm_get_base_url (f->mock),
    agent_extra ? ", " : "", agent_extra ? agent_extra : "", tasks);
  return weft_test_flow (f->engine, json);
}

static inline WeftRun *
run_flow (WeftFlow *flow)
{
  g_autoptr(GError) error = NULL;
  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (run);
  return run;
}

/* One task "t" with the description `prompt`, run to its end. */
static inline WeftRun *
run_one (Fixture *f, const char *agent_extra, const char *prompt)
{
  g_autofree char *task = g_strdup_printf ("{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"%s\"}",
                                           prompt);
  g_autoptr(WeftFlow) flow = fixture_flow (f, agent_extra, NULL, task);
  return run_flow (flow);
}

static inline JsonNode *
request_json (Fixture *f, guint i)
{
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, i);
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (body, &error);

  g_assert_no_error (error);
  return node;
}

/* The messages of request i, as one JSON line. */
static inline char *
request_messages (Fixture *f, guint i)
{
  g_autoptr(JsonNode) body = request_json (f, i);
  JsonNode *messages = json_object_get_member (json_node_get_object (body), "messages");

  return json_to_string (messages, FALSE);
}

static inline void
assert_json_equal (JsonNode *actual, const char *expected)
{
  g_autoptr(JsonNode) want = json_from_string (expected, NULL);
  g_autofree char *got = json_to_string (actual, FALSE);

  g_assert_nonnull (want);
  if (!json_node_equal (actual, want))
    g_error ("JSON differs:\n  got  %s\n  want %s", got, expected);
}

/* Says why, when it did not. */
static inline void
assert_task_output (WeftRun *run, guint i, const char *output)
{
  const GError *error = weft_run_get_task_error (run, i);

  if (error != NULL)
    g_error ("task %u failed: %s", i, error->message);
  g_assert_cmpint (weft_run_get_task_status (run, i), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (weft_run_get_task_output (run, i), ==, output);
}

static inline void
assert_task_error (WeftRun *run, guint i, const char *needle)
{
  const GError *error = weft_run_get_task_error (run, i);

  g_assert_cmpint (weft_run_get_task_status (run, i), ==, WEFT_STATUS_FAILED);
  g_assert_nonnull (error);
  weft_test_assert_contains (error->message, needle);
}

