/* test-tools.c — an agent's tool calls run at once, come back in call
 * order, raise step events, and a tool's error reaches the agent as a
 * result rather than failing anything. */
#include "weft-test.h"

static const char *const caller_flow =
  "{\"name\": \"tools\","
  " \"tools\": {\"slow\": {\"plugin\": \"test-tool\", \"sleep_ms\": 300,"
  "                        \"description\": \"sleeps a while\"},"
  "             \"quick\": {\"plugin\": \"test-tool\"}},"
  " \"agents\": {\"caller\": {\"plugin\": \"test-caller\", \"calls\": 5, \"tools\": [\"slow\"]},"
  "              \"both\": {\"plugin\": \"test-caller\", \"calls\": 2, \"fail_call\": 1,"
  "                         \"tools\": [\"quick\", \"slow\"]}},"
  " \"tasks\": [{\"name\": \"five\", \"agent\": \"caller\", \"description\": \"x\"},"
  "             {\"name\": \"mixed\", \"agent\": \"both\", \"description\": \"x\"}]}";

typedef struct {
  GMutex lock;
  GPtrArray *steps;           /* "kind text" */
} Steps;

static void
collect_steps (const WeftEvent *event, gpointer data)
{
  Steps *s = data;

  if (weft_event_get_event_type (event) != WEFT_EVENT_TASK_STEP)
    return;
  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->steps, g_strdup_printf ("%s %s %s", weft_event_get_task_name (event),
                                              weft_event_get_step_kind (event),
                                              weft_event_get_output (event)));
  g_mutex_unlock (&s->lock);
}

static guint
count_steps (Steps *s, const char *prefix)
{
  guint n = 0;

  for (guint i = 0; i < s->steps->len; i++)
    if (g_str_has_prefix (s->steps->pdata[i], prefix))
      n++;
  return n;
}

/* On an engine with one worker: tool calls have their own pool, so a
 * model's five calls still run at once. */
static void
test_parallel_calls_in_order (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (1);
  Steps s = { .steps = g_ptr_array_new_with_free_func (g_free) };
  g_mutex_init (&s.lock);
  guint id = weft_engine_add_listener (engine, collect_steps, &s, NULL);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, caller_flow);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);

  /* Five calls of a 300 ms tool: results in call order, and every call
   * started before the first one ended — they ran at once. */
  g_auto(GStrv) lines = g_strsplit (weft_run_get_task_output (run, 0), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 5);
  gint64 first_end = G_MAXINT64, last_start = 0;
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *prefix = g_strdup_printf ("slow n=%u ", i);
      gint64 start, end;
      g_assert_true (g_str_has_prefix (lines[i], prefix));
      g_assert_cmpint (sscanf (lines[i] + strlen (prefix), "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                               &start, &end), ==, 2);
      first_end = MIN (first_end, end);
      last_start = MAX (last_start, start);
    }
  g_assert_cmpint (last_start, <, first_end);

  /* A failing call comes back to the agent as an error, in its slot. */
  g_auto(GStrv) mixed = g_strsplit (weft_run_get_task_output (run, 1), "\n", -1);
  g_assert_cmpuint (g_strv_length (mixed), ==, 4);
  g_assert_true (g_str_has_prefix (mixed[0], "quick n=0 "));
  g_assert_cmpstr (mixed[1], ==, "error: asked to fail");
  g_assert_true (g_str_has_prefix (mixed[2], "slow n=2 "));
  g_assert_true (g_str_has_prefix (mixed[3], "slow n=3 "));

  weft_engine_remove_listener (engine, id);
  g_assert_cmpuint (count_steps (&s, "five tool_call {\"tool\":\"slow\",\"arguments\":{\"n\":"), ==, 5);
  g_assert_cmpuint (count_steps (&s, "five tool_result {\"tool\":\"slow\",\"result\":\"slow n="), ==, 5);
  g_assert_cmpuint (count_steps (&s, "mixed tool_result {\"tool\":\"quick\",\"error\":\"asked to fail\"}"), ==, 1);
  g_ptr_array_unref (s.steps);
  g_mutex_clear (&s.lock);
}

/* What an agent is told of its tools. */
static void
test_tool_metadata (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, caller_flow);
  g_autoptr(GError) error = NULL;

  /* A tool plugin used as an agent's tool must exist and be a tool. */
  g_autoptr(WeftFlow) bad = weft_flow_load_data (engine,
    "{\"name\": \"t\", \"tools\": {\"x\": {\"plugin\": \"test-agent\"}},"
    " \"agents\": {\"a\": {\"plugin\": \"test-caller\", \"tools\": [\"x\"]}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"a\", \"description\": \"x\"}]}", -1, "t.json", &error);
  g_assert_null (bad);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  weft_test_assert_contains (error->message, "t.json: $.tools.x.plugin: unknown tool plugin \"test-agent\"");
  g_assert_cmpuint (weft_flow_get_n_instances (flow, WEFT_PLUGIN_TOOL), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tools/parallel-calls-in-order", test_parallel_calls_in_order);
  g_test_add_func ("/tools/metadata", test_tool_metadata);
  return g_test_run ();
}
