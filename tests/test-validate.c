/* test-validate.c — the mistakes a flow that looks right can hold, caught
 * when it loads (`weft validate`) or at kickoff, before anything runs:
 *
 *   - "async": true under the graph process (CrewAI's habit);
 *   - an agent's own template (WEFT_OPTION_TEMPLATE: the template agent's
 *     "template") with an unknown key, a {context.NAME} its task does not
 *     receive, an {input.NAME} the flow does not take;
 *   - a store named by a task (it would see only that task's events);
 *   - an input the flow does not take, with "did you mean".
 *
 * Each message is checked whole: its place, its reason, what to do.  The
 * same refusals from a builder are in test-flow-builder.c. */
#include "weft-test.h"

#define ORIGIN "v.json"

typedef struct {
  WeftEngine *engine;
  gint n_events;              /* atomic */
} Fixture;

static void
count_event (const WeftEvent *event, gpointer data)
{
  g_atomic_int_inc (&((Fixture *) data)->n_events);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->engine = weft_test_engine_new (2);
  weft_engine_add_listener (f->engine, count_event, f, NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 2000);
  weft_engine_unref (f->engine);
}

/* `json` with ' for ", loaded. */
static WeftFlow *
load (Fixture *f, const char *json_single_quoted, GError **error)
{
  g_autofree char *json = g_strdelimit (g_strdup (json_single_quoted), "'", '"');

  return weft_flow_load_data (f->engine, json, -1, ORIGIN, error);
}

/* Refused with `code` and exactly ORIGIN ": " `message`; nothing ran. */
static void
assert_refused (Fixture *f, const char *json, gint code, const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = load (f, json, &error);
  g_autofree char *expected = g_strconcat (ORIGIN ": ", message, NULL);

  g_assert_null (flow);
  g_assert_nonnull (error);
  if (!g_str_equal (error->message, expected))
    g_error ("expected \"%s\"\n     got \"%s\"", expected, error->message);
  g_assert_error (error, WEFT_ERROR, code);
  g_assert_cmpint (g_atomic_int_get (&f->n_events), ==, 0);
}

static WeftFlow *
load_ok (Fixture *f, const char *json)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = load (f, json, &error);

  g_assert_no_error (error);
  return flow;
}

/* ---- async under graph --------------------------------------------------------- */

static void
test_async_under_graph (Fixture *f, gconstpointer data)
{
  /* CrewAI's crew, written without "process": the writer would start at
   * once, without the research it expects. */
  const char *crew =
    "{'name': 'crew', %s'agents': {'w': {'plugin': 'template', 'template': '{context}'}},"
    " 'tasks': [{'name': 'ideas', 'agent': 'w', 'description': 'd', 'async': true},"
    "           {'name': 'article', 'agent': 'w', 'description': 'd'}]}";
  g_autofree char *graph = g_strdup_printf (crew, "");
  g_autofree char *explicit_graph = g_strdup_printf (crew, "'process': 'graph', ");
  g_autofree char *sequential = g_strdup_printf (crew, "'process': 'sequential', ");

  for (guint i = 0; i < 2; i++)
    assert_refused (f, i == 0 ? graph : explicit_graph, WEFT_ERROR_INVALID,
                    "$.tasks[0].async: only a \"sequential\" flow runs tasks async (a \"graph\" "
                    "flow, the default, starts each task once its context is done): set "
                    "\"process\": \"sequential\", or drop \"async\"");
  g_autoptr(WeftFlow) flow = load_ok (f, sequential);
  g_assert_true (g_strv_equal (weft_flow_get_task_dependencies (flow, 1),
                               (const char *[]) { "ideas", NULL }));
}

/* ---- agents' templates ---------------------------------------------------------- */

#define TEMPLATE_FLOW(template) \
  "{'name': 't', 'inputs': {'topic': 'AI'}," \
  " 'agents': {'w': {'plugin': 'template', 'template': '" template "'}," \
  "            'plain': {'plugin': 'noop'}}," \
  " 'tasks': [{'name': 'ideas', 'agent': 'plain', 'description': 'on {audience}'}," \
  "           {'name': 'history', 'agent': 'plain', 'description': 'd'}," \
  "           {'name': 'article', 'agent': 'w', 'description': 'd', 'context': ['ideas']}]}"

static void
test_template_keys (Fixture *f, gconstpointer data)
{
  assert_refused (f, TEMPLATE_FLOW ("{nope}"), WEFT_ERROR_NOT_FOUND,
                  "$.agents.w: option \"template\": unknown key {nope} (known: prompt, "
                  "description, task, attempt, run_id, flow, context, input.NAME of a run input, "
                  "context.NAME of a task this one receives)");
  assert_refused (f, TEMPLATE_FLOW ("{input}"), WEFT_ERROR_NOT_FOUND,
                  "$.agents.w: option \"template\": unknown key {input} (known: prompt, "
                  "description, task, attempt, run_id, flow, context, input.NAME of a run input, "
                  "context.NAME of a task this one receives)");
  /* Malformed: the words the plugin's own check used. */
  assert_refused (f, TEMPLATE_FLOW ("x {unclosed"), WEFT_ERROR_INVALID,
                  "$.agents.w: option \"template\": bad placeholder at offset 2: expected {name} "
                  "(write \"{{\" for a literal brace)");
}

static void
test_template_context (Fixture *f, gconstpointer data)
{
  /* A task of that name that "article" does not receive. */
  assert_refused (f, TEMPLATE_FLOW ("{context.ideas} {context.history}"),
                  WEFT_ERROR_INVALID,
                  "$.agents.w: option \"template\": {context.history}: task \"article\" does "
                  "not receive the output of \"history\" (it receives: ideas; list it in the "
                  "task's \"context\")");
  /* No task of that name: the likely one is named. */
  assert_refused (f, TEMPLATE_FLOW ("{context.idaes}"), WEFT_ERROR_NOT_FOUND,
                  "$.agents.w: option \"template\": {context.idaes}: there is no task \"idaes\" "
                  "(did you mean \"ideas\"? task \"article\" receives: ideas)");
  assert_refused (f, TEMPLATE_FLOW ("{context.zzz}"), WEFT_ERROR_NOT_FOUND,
                  "$.agents.w: option \"template\": {context.zzz}: there is no task \"zzz\" "
                  "(task \"article\" receives: ideas)");
  /* Waited for, but its output is excluded. */
  g_autofree char *excluded = g_strdup (
    "{'name': 't', 'agents': {'w': {'plugin': 'template', 'template': '{context.a}'},"
    " 'p': {'plugin': 'noop'}}, 'tasks': [{'name': 'a', 'agent': 'p', 'description': 'd',"
    " 'exclude': true}, {'name': 'b', 'agent': 'w', 'description': 'd', 'context': ['a']}]}");
  assert_refused (f, excluded, WEFT_ERROR_INVALID,
                  "$.agents.w: option \"template\": {context.a}: task \"b\" never receives the "
                  "output of \"a\", which is excluded (\"exclude\": true)");

  /* What the task receives, and the keys that need nothing, pass. */
  g_autoptr(WeftFlow) flow = load_ok (
    f, TEMPLATE_FLOW ("{context.ideas} {context} {prompt} {description} {task} {attempt} "
                      "{run_id} {flow} {input.topic} {input.audience} {{x}}"));
  g_assert_nonnull (flow);
}

/* Sequential: a task without "context" receives what it waited for. */
static void
test_template_sequential (Fixture *f, gconstpointer data)
{
  const char *seq =
    "{'name': 's', 'process': 'sequential',"
    " 'agents': {'w': {'plugin': 'template', 'template': '{context.a} {context.b} %s'},"
    "            'p': {'plugin': 'noop'}},"
    " 'tasks': [{'name': 'a', 'agent': 'p', 'description': 'd', 'async': true},"
    "           {'name': 'b', 'agent': 'p', 'description': 'd', 'async': true},"
    "           {'name': 'c', 'agent': 'w', 'description': 'd'}]}";
  g_autofree char *good = g_strdup_printf (seq, "");
  g_autofree char *bad = g_strdup_printf (seq, "{context.c}");
  assert_refused (f, bad, WEFT_ERROR_INVALID,
                  "$.agents.w: option \"template\": {context.c}: task \"c\" does not receive "
                  "the output of \"c\" (it receives: a, b; list it in the task's \"context\")");

  g_autoptr(WeftFlow) flow = load_ok (f, good);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
}

static void
test_template_inputs (Fixture *f, gconstpointer data)
{
  assert_refused (f, TEMPLATE_FLOW ("{input.topc}"), WEFT_ERROR_NOT_FOUND,
                  "$.agents.w: option \"template\": {input.topc}: the flow takes no input "
                  "\"topc\" (did you mean \"topic\"? the flow takes: audience, topic; give it a "
                  "default in \"inputs\")");
  /* An agent no task uses is checked too. */
  assert_refused (f, "{'name': 'u', 'agents': {'idle': {'plugin': 'template', 'template': "
                     "'{input.x}'}, 'p': {'plugin': 'noop'}}, 'tasks': [{'name': 'a', "
                     "'agent': 'p', 'description': 'd'}]}", WEFT_ERROR_NOT_FOUND,
                  "$.agents.idle: option \"template\": {input.x}: the flow takes no input "
                  "\"x\" (the flow takes no inputs; give it a default in \"inputs\")");
}

/* ---- a store named by a task ------------------------------------------------------ */

static void
test_task_scoped_store (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_dir_make_tmp ("weft-test-validate-XXXXXX", NULL);
  g_autofree char *db = g_build_filename (dir, "runs.db", NULL);
  g_autofree char *json = g_strdup_printf (
    "{'name': 's', 'agents': {'p': {'plugin': 'noop'}},"
    " 'callbacks': {'log': {'plugin': 'log', 'path': '%s/log.txt'},"
    "               'db': {'plugin': 'sqlite', 'path': '%s'}},"
    " 'tasks': [{'name': 'a', 'agent': 'p', 'description': 'd', 'callbacks': ['log']},"
    "           {'name': 'b', 'agent': 'p', 'description': 'd', 'callbacks': ['log', 'db']}]}",
    dir, db);

  assert_refused (f, json, WEFT_ERROR_INVALID,
                  "$.tasks[1].callbacks[1]: callback \"db\" (plugin sqlite) is a store, which "
                  "must receive every event of a run, not only some tasks': list it under the "
                  "flow's \"callbacks\" and in no task's");
  /* Refused before it was opened. */
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
  weft_test_remove_dir (dir);
}

/* ---- inputs the flow does not take ------------------------------------------------- */

static void
test_unknown_inputs (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = load_ok (
    f, "{'name': 'i', 'inputs': {'tone': 'dry'}, 'agents': {'p': {'plugin': 'noop'}},"
       " 'tasks': [{'name': 'a', 'agent': 'p', 'description': 'on {topic}'}]}");
  g_autoptr(JsonObject) inputs = json_object_new ();
  g_autoptr(GError) error = NULL;

  json_object_set_string_member (inputs, "topic", "robots");
  json_object_set_string_member (inputs, "tnoe", "wry");
  g_assert_false (weft_flow_check_inputs (flow, inputs, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, ORIGIN ": unknown input \"tnoe\" (did you mean \"tone\"? "
                                       "the flow takes: topic, tone)");
  g_clear_error (&error);

  /* The kickoff refuses it the same way, before anything runs. */
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, inputs, NULL, &error);
  g_assert_null (run);
  g_assert_cmpstr (error->message, ==, ORIGIN ": unknown input \"tnoe\" (did you mean \"tone\"? "
                                       "the flow takes: topic, tone)");
  g_clear_error (&error);

  /* A missing one is said first: what the flow needs. */
  json_object_remove_member (inputs, "topic");
  g_assert_false (weft_flow_check_inputs (flow, inputs, &error));
  weft_test_assert_contains (error->message, "missing input \"topic\"");
  g_clear_error (&error);

  /* Far from every name: no guess. */
  json_object_set_string_member (inputs, "topic", "robots");
  json_object_remove_member (inputs, "tnoe");
  json_object_set_string_member (inputs, "colour", "red");
  g_assert_false (weft_flow_check_inputs (flow, inputs, &error));
  g_assert_cmpstr (error->message, ==, ORIGIN ": unknown input \"colour\" (the flow takes: "
                                       "topic, tone)");
  g_clear_error (&error);
  g_assert_cmpint (g_atomic_int_get (&f->n_events), ==, 0);

  /* What the flow takes passes. */
  json_object_remove_member (inputs, "colour");
  json_object_set_string_member (inputs, "tone", "wry");
  g_assert_true (weft_flow_check_inputs (flow, inputs, &error));
  g_assert_no_error (error);
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/validate/async-under-graph", test_async_under_graph);
  ADD ("/validate/template/keys", test_template_keys);
  ADD ("/validate/template/context", test_template_context);
  ADD ("/validate/template/sequential", test_template_sequential);
  ADD ("/validate/template/inputs", test_template_inputs);
  ADD ("/validate/task-scoped-store", test_task_scoped_store);
  ADD ("/validate/unknown-inputs", test_unknown_inputs);
  return g_test_run ();
}
