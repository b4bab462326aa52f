/* test-flow-builder.c — flows built in code (weft_flow_builder_*, weft.h).
 *
 * Each example flow (examples/blog.json, content.json, weather.json) is
 * built with calls and must be the same flow as the file: the same graph,
 * inputs and instances, and the same run result.  Every class of refusal
 * of test-flow.c that a builder can reach is reached, with its whole
 * message, which names the builder call instead of a JSON path; nothing
 * runs and no instance is made before one (the mistakes of test-validate.c
 * too: async under graph, agents' templates, a store named by a task).  A
 * built flow's source (what a store keeps to run it again) and a
 * background task's are flow files that load. */
#include "weft-test.h"
#include "weft-mock-llm.h"

#define ENV_UNSET "WEFT_TEST_BUILDER_NEVER_SET"

typedef struct {
  WeftEngine *engine;
  char *tmpdir;
  WeftTestSeen seen;          /* every event; the last run.started's source */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->engine = weft_test_engine_new (2);
  weft_test_seen_listen (&f->seen, f->engine);
  f->tmpdir = g_dir_make_tmp ("weft-test-builder-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 2000);
  weft_engine_unref (f->engine);
  weft_test_remove_dir (f->tmpdir);
  g_free (f->tmpdir);
  weft_test_seen_clear (&f->seen);
}

static WeftFlow *
load_example (Fixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (g_getenv ("WEFT_SOURCE_ROOT"), "examples", name,
                                            NULL);
  WeftFlow *flow = weft_flow_load_file (f->engine, path, &error);

  g_assert_no_error (error);
  return flow;
}

static WeftFlow *
finish_ok (WeftFlowBuilder *builder)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_builder_finish (builder, &error);

  g_assert_no_error (error);
  g_assert_nonnull (flow);
  return flow;
}

/* ---- the examples, built ---------------------------------------------------------- */

static WeftFlow *
build_blog (Fixture *f)
{
  g_autoptr(WeftFlowBuilder) b = weft_flow_builder_new (f->engine, "blog",
                                                        WEFT_PROCESS_SEQUENTIAL);
  weft_flow_builder_set_description (b, "CrewAI's blog crew: two research tasks run at the "
                                        "same time, then the writer combines both. Template "
                                        "agents with delays stand in for LLM calls, so no API "
                                        "key is needed.");
  weft_flow_builder_add_input (b, "topic", "AI");

  WeftBuilderInstance *researcher = weft_flow_builder_add_agent (b, "researcher", "template",
                                                                 NULL);
  weft_builder_instance_set_int (researcher, "delay_ms", 1000);
  weft_builder_instance_set_string (researcher, "template",
                                    "({task}, attempt {attempt}) {description}\n"
                                    "- {input.topic}: point one\n- {input.topic}: point two\n"
                                    "- {input.topic}: point three\n- {input.topic}: point four\n"
                                    "- {input.topic}: point five");
  WeftBuilderInstance *writer = weft_flow_builder_add_agent (b, "writer", "template", NULL);
  weft_builder_instance_set_int (writer, "delay_ms", 500);
  weft_builder_instance_set_string (writer, "template",
                                    "# {input.topic}: where it came from and where it goes\n\n"
                                    "From the history research:\n{context.history}\n\n"
                                    "From the ideas research:\n{context.ideas}\n\n"
                                    "(written by task {task} of flow {flow}, run {run_id})");

  WeftBuilderTask *t = weft_flow_builder_add_task (
      b, "ideas", "researcher", "List 5 interesting ideas for an article about {topic}.");
  weft_builder_task_set_expected_output (t, "Bullet point list of 5 {topic} article ideas.");
  weft_builder_task_set_async (t, TRUE);
  t = weft_flow_builder_add_task (b, "history", "researcher",
                                  "Research the history of {topic} and find 5 key events.");
  weft_builder_task_set_expected_output (t, "Bullet point list of 5 key {topic} history events.");
  weft_builder_task_set_async (t, TRUE);
  t = weft_flow_builder_add_task (b, "article", "writer",
                                  "Write an article about {topic}, its history, and interesting "
                                  "ideas.");
  weft_builder_task_set_expected_output (t, "A 4-paragraph article about {topic}.");
  return finish_ok (b);
}

/* The agents' options as one JsonObject each, as a program holding them
 * already would pass them. */
static WeftBuilderInstance *
add_template_agent (WeftFlowBuilder *b, const char *name, gint64 delay_ms, const char *template)
{
  g_autoptr(JsonObject) options = json_object_new ();

  json_object_set_int_member (options, "delay_ms", delay_ms);
  json_object_set_string_member (options, "template", template);
  return weft_flow_builder_add_agent (b, name, "template", options);
}

static WeftFlow *
build_content (Fixture *f)
{
  g_autoptr(WeftFlowBuilder) b = weft_flow_builder_new (f->engine, "content", WEFT_PROCESS_GRAPH);
  weft_flow_builder_set_description (b, "A diamond: the outline feeds research and examples, "
                                        "which run at the same time; the draft needs both; the "
                                        "final edit needs the draft.");
  weft_flow_builder_add_input (b, "subject", "asynchronous task scheduling");
  weft_flow_builder_add_input (b, "audience", "backend developers");
  add_template_agent (b, "planner", 300, "Outline for {input.audience}: 1. why {input.subject} "
                                         "2. how it works 3. pitfalls");
  add_template_agent (b, "researcher", 800, "[{task}] {description}\nbased on: {context.outline}");
  add_template_agent (b, "writer", 400, "DRAFT\n{context.research}\n{context.examples}");
  add_template_agent (b, "editor", 200, "FINAL (edited for {input.audience})\n{context.draft}");

  weft_flow_builder_add_task (b, "outline", "planner",
                              "Outline an article on {subject} for {audience}.");
  WeftBuilderTask *t = weft_flow_builder_add_task (b, "research", "researcher",
                                                   "Collect facts about {subject}.");
  weft_builder_task_add_context (t, "outline");
  t = weft_flow_builder_add_task (b, "examples", "researcher",
                                  "Find two worked examples of {subject}.");
  weft_builder_task_add_context (t, "outline");
  weft_builder_task_set_retries (t, 2);
  weft_builder_task_set_retry_delay (t, 200);
  t = weft_flow_builder_add_task (b, "draft", "writer",
                                  "Write the article from the research and the examples.");
  weft_builder_task_add_context (t, "research");
  weft_builder_task_add_context (t, "examples");
  weft_builder_task_set_timeout (t, 30);
  t = weft_flow_builder_add_task (b, "final", "editor", "Edit the draft for style.");
  weft_builder_task_add_context (t, "draft");
  return finish_ok (b);
}

/* The openai agents' common options, as the file writes them: the
 * provider comes from the environment (main() points it at the mock). */
static WeftBuilderInstance *
add_openai_agent (WeftFlowBuilder *b, const char *name, const char *role, const char *goal,
                  const char *backstory, double temperature, gint64 max_tokens)
{
  WeftBuilderInstance *a = weft_flow_builder_add_agent (b, name, "openai", NULL);

  weft_builder_instance_set_string (a, "base_url",
                                    "${OPENAI_BASE_URL:-https://api.openai.com/v1}");
  weft_builder_instance_set_string (a, "api_key", "${OPENAI_API_KEY:-}");
  weft_builder_instance_set_string (a, "model", "${OPENAI_MODEL:-gpt-4o-mini}");
  weft_builder_instance_set_string (a, "role", role);
  weft_builder_instance_set_string (a, "goal", goal);
  weft_builder_instance_set_string (a, "backstory", backstory);
  weft_builder_instance_set_double (a, "temperature", temperature);
  weft_builder_instance_set_int (a, "max_tokens", max_tokens);
  return a;
}

static WeftFlow *
build_openai (Fixture *f)
{
  g_autoptr(WeftFlowBuilder) b = weft_flow_builder_new (f->engine, "blog-openai",
                                                        WEFT_PROCESS_SEQUENTIAL);
  weft_flow_builder_set_description (
      b, "CrewAI's blog crew against a real OpenAI-compatible API: set OPENAI_API_KEY (or "
         "OPENAI_BASE_URL for a local server such as Ollama, http://localhost:11434/v1) and "
         "optionally OPENAI_MODEL. Two research tasks run at the same time; the writer "
         "combines them.");
  weft_flow_builder_add_input (b, "topic", "AI");
  WeftBuilderInstance *researcher = add_openai_agent (
      b, "researcher", "Senior Researcher", "Uncover accurate, interesting facts about the topic",
      "You are a meticulous researcher who cites only well-established facts.", 0.3, 600);
  weft_builder_instance_set_int (researcher, "max_concurrency", 4);
  WeftBuilderInstance *writer = add_openai_agent (
      b, "writer", "Tech Writer", "Write clear, engaging articles for a general audience",
      "You turn research notes into readable prose.", 0.7, 1200);
  weft_builder_instance_set_bool (writer, "stream", TRUE);

  WeftBuilderTask *t = weft_flow_builder_add_task (
      b, "ideas", "researcher", "List 5 interesting ideas for an article about {topic}.");
  weft_builder_task_set_expected_output (t, "Bullet point list of 5 {topic} article ideas.");
  weft_builder_task_set_async (t, TRUE);
  t = weft_flow_builder_add_task (b, "history", "researcher",
                                  "Research the history of {topic} and find 5 key events.");
  weft_builder_task_set_expected_output (t, "Bullet point list of 5 key {topic} history events.");
  weft_builder_task_set_async (t, TRUE);
  t = weft_flow_builder_add_task (b, "article", "writer",
                                  "Write an article about {topic}, its history, and interesting "
                                  "ideas.");
  weft_builder_task_set_expected_output (t, "A 4-paragraph article about {topic}.");
  weft_builder_task_set_retries (t, 1);
  weft_builder_task_set_timeout (t, 300);
  return finish_ok (b);
}

static WeftFlow *
build_weather (Fixture *f)
{
  g_autoptr(WeftFlowBuilder) b = weft_flow_builder_new (f->engine, "weather", WEFT_PROCESS_GRAPH);
  const char *cities[] = { "Lisbon", "Oslo", "Nairobi", "Lima", "Osaka" };

  weft_flow_builder_set_description (b, "Five weather look-ups that take 1 s each run at the "
                                        "same time and finish together in about 1 s; a summary "
                                        "receives all five. The look-ups are simulated (no "
                                        "network).");
  for (guint i = 0; i < G_N_ELEMENTS (cities); i++)
    {
      g_autofree char *input = g_strdup_printf ("city%u", i + 1);
      weft_flow_builder_add_input (b, input, cities[i]);
    }
  add_template_agent (b, "weather", 1000, "{description}: 21 C, clear (simulated)");
  WeftBuilderInstance *reporter = weft_flow_builder_add_agent (b, "reporter", "template", NULL);
  weft_builder_instance_set_string (reporter, "template", "Weather report\n{context}");
  for (guint i = 0; i < G_N_ELEMENTS (cities); i++)
    {
      g_autofree char *name = g_strdup_printf ("city%u", i + 1);
      g_autofree char *description = g_strdup_printf ("{%s}", name);
      weft_flow_builder_add_task (b, name, "weather", description);
    }
  WeftBuilderTask *summary = weft_flow_builder_add_task (b, "summary", "reporter",
                                                         "Summarise the weather.");
  for (guint i = 0; i < G_N_ELEMENTS (cities); i++)
    {
      g_autofree char *name = g_strdup_printf ("city%u", i + 1);
      weft_builder_task_add_context (summary, name);
    }
  return finish_ok (b);
}

/* ---- the same flow ---------------------------------------------------------------- */

typedef struct {
  GMainLoop *loop;
  WeftFlow *flow;
  WeftRun *run;
  guint *left;
} Kickoff;

static void
on_run_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Kickoff *k = data;
  g_autoptr(GError) error = NULL;

  k->run = weft_flow_kickoff_finish (k->flow, result, &error);
  g_assert_no_error (error);
  if (--*k->left == 0)
    g_main_loop_quit (k->loop);
}

/* An output with its run's id taken out: the blog's writer quotes it. */
static char *
output_without_id (WeftRun *run, const char *output)
{
  g_auto(GStrv) parts = g_strsplit (output ? output : "", weft_run_get_id (run), -1);

  return g_strjoinv ("RUN", parts);
}

/* Runs both at once (the examples wait on timers) and compares. */
static void
assert_same_run (WeftFlow *file, WeftFlow *built)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint left = 2;
  Kickoff k[2] = { { loop, file, NULL, &left }, { loop, built, NULL, &left } };

  for (guint i = 0; i < 2; i++)
    weft_flow_kickoff_async (k[i].flow, NULL, NULL, on_run_done, &k[i]);
  g_main_loop_run (loop);

  g_assert_cmpint (weft_run_get_status (k[0].run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpint (weft_run_get_status (k[1].run), ==, WEFT_STATUS_COMPLETED);
  for (guint i = 0; i < weft_flow_get_n_tasks (file); i++)
    {
      g_autofree char *a = output_without_id (k[0].run, weft_run_get_task_output (k[0].run, i));
      g_autofree char *b = output_without_id (k[1].run, weft_run_get_task_output (k[1].run, i));
      g_assert_cmpstr (b, ==, a);
      g_assert_cmpuint (weft_run_get_task_attempts (k[1].run, i), ==,
                        weft_run_get_task_attempts (k[0].run, i));
    }
  g_autoptr(JsonObject) outputs_file = weft_run_get_outputs (k[0].run);
  g_autoptr(JsonObject) outputs_built = weft_run_get_outputs (k[1].run);
  g_autoptr(GList) names = json_object_get_members (outputs_file);
  g_assert_cmpuint (json_object_get_size (outputs_built), ==, g_list_length (names));
  for (GList *n = names; n; n = n->next)
    g_assert_true (json_object_has_member (outputs_built, n->data));
  weft_run_unref (k[0].run);
  weft_run_unref (k[1].run);
}

static void
test_example (Fixture *f, const char *file_name, WeftFlow *(*build) (Fixture *f))
{
  g_autoptr(WeftFlow) file = load_example (f, file_name);
  g_autoptr(WeftFlow) built = build (f);

  weft_test_assert_same_flow (file, built);
  assert_same_run (file, built);
}

static void
test_example_blog (Fixture *f, gconstpointer data)
{
  test_example (f, "blog.json", build_blog);
}

static void
test_example_content (Fixture *f, gconstpointer data)
{
  test_example (f, "content.json", build_content);
}

static void
test_example_weather (Fixture *f, gconstpointer data)
{
  test_example (f, "weather.json", build_weather);
}

/* Against the mock server, whose echo answers make the outputs depend on
 * every prompt, context included. */
static void
test_example_openai (Fixture *f, gconstpointer data)
{
  test_example (f, "openai.json", build_openai);
}

/* ---- options of every type, and what they do -------------------------------------- */

static void
test_options (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlowBuilder) b = weft_flow_builder_new (f->engine, "opts", WEFT_PROCESS_GRAPH);
  g_autofree char *log = g_build_filename (f->tmpdir, "events.jsonl", NULL);
  g_autoptr(JsonObject) env = json_object_new ();
  g_autofree char *contents = NULL;

  json_object_set_string_member (env, "GREETING", "hello from env");
  WeftBuilderInstance *sh = weft_flow_builder_add_agent (b, "sh", "exec", NULL);
  weft_builder_instance_set_strv (sh, "command",
                                  (const char *[]) { "printf '%s' \"$GREETING\"", NULL });
  weft_builder_instance_set_bool (sh, "shell", TRUE);
  weft_builder_instance_set_object (sh, "env", env);
  weft_builder_instance_set_string (sh, "stdin", "none");
  WeftBuilderInstance *fetch = weft_flow_builder_add_tool (b, "fetch", "http-get", NULL);
  weft_builder_instance_set_strv (fetch, "allow", (const char *[]) { "https://example.org/", NULL });
  weft_builder_instance_set_double (fetch, "timeout_s", 2.5);
  weft_builder_instance_set_description (fetch, "Reads one page");
  weft_builder_instance_add_tool (sh, "fetch");
  WeftBuilderInstance *events = weft_flow_builder_add_callback (b, "events", "log", NULL);
  weft_builder_instance_set_string (events, "format", "jsonl");
  weft_builder_instance_set_string (events, "path", log);
  weft_builder_instance_set_strv (events, "events", (const char *[]) { "task.completed", NULL });
  WeftBuilderTask *t = weft_flow_builder_add_task (b, "greet", "sh", "Say hello.");
  weft_builder_task_add_callback (t, "events");
  weft_builder_task_set_exclude (t, FALSE);
  g_autoptr(WeftFlow) flow = finish_ok (b);

  g_assert_cmpuint (weft_flow_get_n_instances (flow, WEFT_PLUGIN_TOOL), ==, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (weft_run_get_task_output (run, 0), ==, "hello from env");
  g_clear_pointer (&run, weft_run_unref);
  g_clear_pointer (&flow, weft_flow_unref);   /* drains the log */
  g_assert_true (g_file_get_contents (log, &contents, NULL, NULL));
  weft_test_assert_contains (contents, "\"type\":\"task.completed\"");
  g_assert_null (strstr (contents, "task.started"));
}

/* A builder dropped unfinished frees what it holds; one finished cannot be
 * finished again. */
static void
test_free_unfinished (Fixture *f, gconstpointer data)
{
  WeftFlowBuilder *b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  WeftBuilderInstance *a = weft_flow_builder_add_agent (b, "w", "noop", NULL);

  weft_builder_instance_set_string (a, "output", "o");
  weft_builder_task_add_context (weft_flow_builder_add_task (b, "t", "w", "d"), "t");
  weft_flow_builder_free (b);

  g_autoptr(WeftFlowBuilder) done = weft_flow_builder_new (f->engine, "y", WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_agent (done, "w", "noop", NULL);
  weft_flow_builder_add_task (done, "t", "w", "d");
  g_autoptr(WeftFlow) flow = finish_ok (done);
  g_assert_cmpstr (weft_flow_get_name (flow), ==, "y");
  g_test_expect_message ("weft", G_LOG_LEVEL_CRITICAL, "*finished*");
  g_assert_null (weft_flow_builder_finish (done, NULL));
  g_test_assert_expected_messages ();
}

/* ---- sources: built flows and background tasks, written back --------------------- */

static void
test_source_of_built_flow (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) built = build_content (f);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) inputs = json_object_new ();

  json_object_set_string_member (inputs, "subject", "s");
  g_autoptr(WeftRun) run = weft_flow_kickoff (built, inputs, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_autofree char *source = weft_test_seen_take_source (&f->seen);
  g_autoptr(WeftFlow) again = weft_flow_load_data (f->engine, source, -1, "again.json", &error);
  g_assert_no_error (error);
  weft_test_assert_same_flow (built, again);
}

static void
test_source_of_agent_task (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (
      f->engine,
      "{\"name\": \"p\", \"inputs\": {\"tone\": \"dry\"},"
      " \"tools\": {\"fetch\": {\"plugin\": \"http-get\", \"allow\": [\"https://example.org/\"]},"
      "           \"unused\": {\"plugin\": \"http-get\", \"allow\": [\"https://example.com/\"]}},"
      " \"agents\": {\"a\": {\"plugin\": \"template\", \"template\": \"({input.tone}) {prompt}\","
      "                     \"tools\": [\"fetch\"]},"
      "            \"b\": {\"plugin\": \"noop\"}},"
      " \"tasks\": [{\"name\": \"t\", \"agent\": \"b\", \"description\": \"{x}\"}]}");
  g_autoptr(GError) error = NULL;
  g_autofree char *id = weft_engine_create_task (f->engine, flow, "a", "hi", &error);
  g_assert_no_error (error);

  for (;;)
    {
      g_autoptr(JsonNode) task = weft_engine_check_task (f->engine, id, &error);
      g_assert_no_error (error);
      if (!g_str_equal (json_object_get_string_member (json_node_get_object (task), "status"),
                        "running"))
        {
          g_assert_cmpstr (json_object_get_string_member (json_node_get_object (task), "output"),
                           ==, "(dry) hi");
          break;
        }
      g_usleep (1000);
    }
  /* Its source: the agent, its one tool and the inputs; one task. */
  g_autofree char *source = weft_test_seen_take_source (&f->seen);
  g_autoptr(WeftFlow) again = weft_flow_load_data (f->engine, source, -1, "task.json", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (weft_flow_get_name (again), ==, "p.a");
  g_assert_cmpuint (weft_flow_get_n_tasks (again), ==, 1);
  g_assert_cmpuint (weft_flow_get_n_instances (again, WEFT_PLUGIN_TOOL), ==, 1);
  g_assert_cmpuint (weft_flow_get_n_instances (again, WEFT_PLUGIN_AGENT), ==, 1);
  g_assert_true (g_strv_equal (weft_flow_get_input_names (again),
                               (const char *[]) { "prompt", NULL }));
  g_autoptr(JsonObject) inputs = json_object_new ();
  json_object_set_string_member (inputs, "prompt", "again");
  g_autoptr(WeftRun) run = weft_flow_kickoff (again, inputs, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (weft_run_get_task_output (run, 0), ==, "(dry) again");
}

/* ---- refusals --------------------------------------------------------------------- */

/* Finishes `b` (taken), which must be refused with `code` and exactly
 * `message`, before anything ran. */
static void
assert_refused (Fixture *f, WeftFlowBuilder *b, gint code, const char *message)
{
  g_autoptr(WeftFlowBuilder) builder = b;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_builder_finish (builder, &error);

  g_assert_null (flow);
  g_assert_nonnull (error);
  g_test_message ("refused: %s", error->message);
  if (!g_str_equal (error->message, message))
    g_error ("expected \"%s\"\n     got \"%s\"", message, error->message);
  g_assert_error (error, WEFT_ERROR, code);
  g_assert_cmpint (g_atomic_int_get (&f->seen.n_events), ==, 0);
}

/* A builder with agent "w" (test-agent). */
static WeftFlowBuilder *
builder_w (Fixture *f, WeftProcess process)
{
  WeftFlowBuilder *b = weft_flow_builder_new (f->engine, "x", process);

  weft_flow_builder_add_agent (b, "w", "test-agent", NULL);
  return b;
}

static void
test_refused_names (Fixture *f, gconstpointer data)
{
  WeftFlowBuilder *b = weft_flow_builder_new (f->engine, "", WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_agent (b, "w", "noop", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID, "weft_flow_builder_new (\"\"): name: a name must "
                                            "not be empty");

  g_autofree char *long_name = g_strnfill (201, 'n');
  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, long_name, "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"… "
                  "(201 bytes)): name: a name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"… "
                  "(201 bytes) is longer than 200 bytes");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, "a\nb", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"a\\u000ab\"): name: a name \"a\\u000ab\" holds a "
                  "control character (0x0a)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_agent (b, "", "noop", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_agent (\"\"): a name must not be empty");

  /* Two of one kind and name; a file cannot say it twice (a duplicate key). */
  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_agent (b, "w", "noop", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_DUPLICATE,
                  "weft_flow_builder_add_agent (\"w\"): duplicate agent name \"w\" (each name may "
                  "be given once)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, "a", "w", "d");
  weft_flow_builder_add_task (b, "b", "w", "d");
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_DUPLICATE,
                  "weft_flow_builder_add_task (\"a\"): duplicate task name \"a\" (first at task 0)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  assert_refused (f, b, WEFT_ERROR_INVALID, "weft_flow_builder_finish (): a flow needs tasks "
                                            "(add them with weft_flow_builder_add_task)");
}

static void
test_refused_plugins (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  WeftFlowBuilder *b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_agent (b, "w", "gpt", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  g_assert_null (weft_flow_builder_finish (b, &error));
  weft_flow_builder_free (b);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_assert_true (g_str_has_prefix (error->message, "weft_flow_builder_add_agent (\"w\"): plugin: "
                                                   "unknown agent plugin \"gpt\" (loaded: "));
  weft_test_assert_contains (error->message, "test-agent");
  g_assert_null (strstr (error->message, "test-recorder"));

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_callback (b, "c", "test-agent", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  g_clear_error (&error);
  g_assert_null (weft_flow_builder_finish (b, &error));
  weft_flow_builder_free (b);
  g_assert_true (g_str_has_prefix (error->message, "weft_flow_builder_add_callback (\"c\"): "
                                                   "plugin: unknown callback plugin "
                                                   "\"test-agent\" (loaded: "));

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_tool (b, "t", "no-such-tool", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  g_clear_error (&error);
  g_assert_null (weft_flow_builder_finish (b, &error));
  weft_flow_builder_free (b);
  g_assert_true (g_str_has_prefix (error->message, "weft_flow_builder_add_tool (\"t\"): plugin: "
                                                   "unknown tool plugin \"no-such-tool\" "
                                                   "(loaded: "));
  g_assert_cmpint (g_atomic_int_get (&f->seen.n_events), ==, 0);
}

static void
test_refused_options (Fixture *f, gconstpointer data)
{
  WeftFlowBuilder *b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  WeftBuilderInstance *w = weft_flow_builder_add_agent (b, "w", "test-agent", NULL);
  weft_builder_instance_set_int (w, "sleep", 5);
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_agent (\"w\"): unknown option \"sleep\" for plugin "
                  "\"test-agent\" (valid: sleep_ms, fail_attempts, ignore_cancel)");

  b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  w = weft_flow_builder_add_agent (b, "w", "test-agent", NULL);
  weft_builder_instance_set_string (w, "sleep_ms", "s3cr3t");
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_agent (\"w\"): option \"sleep_ms\" of plugin "
                  "\"test-agent\" must be an int, not a string");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_callback (b, "rec", "test-recorder", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_callback (\"rec\"): plugin \"test-recorder\" needs "
                  "option \"path\" (string: file to write one line per event to)");

  b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  w = weft_flow_builder_add_agent (b, "t", "template", NULL);
  weft_builder_instance_set_string (w, "template", "key=${" ENV_UNSET "}");
  weft_flow_builder_add_task (b, "a", "t", "d");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_agent (\"t\"): option \"template\": environment "
                  "variable " ENV_UNSET " is not set (use ${" ENV_UNSET ":-default} for a "
                  "default)");

  /* The plugin refuses its config when the instance is made. */
  b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  w = weft_flow_builder_add_agent (b, "w", "exec", NULL);
  weft_builder_instance_set_strv (w, "command", (const char *[]) { NULL });
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_agent (\"w\"): plugin exec: option \"command\": must "
                  "name a program (it is empty)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  WeftBuilderInstance *c = weft_flow_builder_add_callback (b, "c", "log", NULL);
  weft_builder_instance_set_string (c, "format", "xml");
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_callback (\"c\"): callback \"c\" (plugin log): option "
                  "\"format\": must be \"text\" or \"jsonl\", not \"xml\"");
}

static void
test_refused_references (Fixture *f, gconstpointer data)
{
  WeftFlowBuilder *b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_agent (b, "r", "noop", NULL);
  weft_flow_builder_add_task (b, "a", "w", "d");
  weft_flow_builder_add_task (b, "b", "writer", "d");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_task (\"b\"): agent: unknown agent \"writer\" (known: "
                  "w, r)");

  b = weft_flow_builder_new (f->engine, "x", WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_task (\"a\"): agent: unknown agent \"w\" (known: none "
                  "declared)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_instance_add_tool (weft_flow_builder_add_agent (b, "v", "test-agent", NULL), "fetch");
  weft_flow_builder_add_task (b, "a", "w", "d");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_agent (\"v\"): tools[0]: unknown tool \"fetch\" (add it "
                  "with weft_flow_builder_add_tool)");

  g_autofree char *log = g_build_filename (f->tmpdir, "log.txt", NULL);
  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_instance_set_string (weft_flow_builder_add_callback (b, "log", "log", NULL),
                                    "path", log);
  weft_builder_task_add_callback (weft_flow_builder_add_task (b, "a", "w", "d"), "log");
  WeftBuilderTask *t = weft_flow_builder_add_task (b, "b", "w", "d");
  weft_builder_task_add_callback (t, "log");
  weft_builder_task_add_callback (t, "notify");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_task (\"b\"): callbacks[1]: unknown callback \"notify\" "
                  "(add it with weft_flow_builder_add_callback)");
  g_assert_false (g_file_test (log, G_FILE_TEST_EXISTS));

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, "a", "w", "d");
  weft_builder_task_add_context (weft_flow_builder_add_task (b, "b", "w", "d"), "ghost");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_task (\"b\"): context[0]: unknown task \"ghost\" "
                  "(known: a, b)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, "a", "w", "d");
  t = weft_flow_builder_add_task (b, "b", "w", "d");
  weft_builder_task_add_context (t, "a");
  weft_builder_task_add_context (t, "a");
  assert_refused (f, b, WEFT_ERROR_DUPLICATE,
                  "weft_flow_builder_add_task (\"b\"): context[1]: task \"a\" is listed twice");
}

static void
test_refused_cycles (Fixture *f, gconstpointer data)
{
  WeftFlowBuilder *b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_task_add_context (weft_flow_builder_add_task (b, "a", "w", "d"), "b");
  weft_builder_task_add_context (weft_flow_builder_add_task (b, "b", "w", "d"), "a");
  assert_refused (f, b, WEFT_ERROR_CYCLE, "weft_flow_builder_finish (): dependency cycle: "
                                          "a -> b -> a (each waits for the next)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_task_add_context (weft_flow_builder_add_task (b, "me", "w", "d"), "me");
  assert_refused (f, b, WEFT_ERROR_CYCLE, "weft_flow_builder_finish (): dependency cycle: "
                                          "me -> me (each waits for the next)");

  /* Sequential: a task cannot receive a later one, which waits for it. */
  b = builder_w (f, WEFT_PROCESS_SEQUENTIAL);
  weft_builder_task_add_context (weft_flow_builder_add_task (b, "first", "w", "d"), "second");
  weft_flow_builder_add_task (b, "second", "w", "d");
  assert_refused (f, b, WEFT_ERROR_CYCLE, "weft_flow_builder_finish (): dependency cycle: "
                                          "first -> second -> first (each waits for the next)");

  /* Long: named by its first tasks, its last and its length. */
  b = builder_w (f, WEFT_PROCESS_GRAPH);
  for (guint i = 0; i < 10000; i++)
    {
      g_autofree char *name = g_strdup_printf ("t%u", i);
      g_autofree char *previous = g_strdup_printf ("t%u", (i + 9999) % 10000);
      weft_builder_task_add_context (weft_flow_builder_add_task (b, name, "w", "d"), previous);
    }
  assert_refused (f, b, WEFT_ERROR_CYCLE,
                  "weft_flow_builder_finish (): dependency cycle: t0 -> t9999 -> t9998 -> "
                  "t9997 -> t9996 -> t9995 -> … -> t1 -> t0, 10000 tasks in all (each waits for "
                  "the next)");
}

static void
test_refused_task_fields (Fixture *f, gconstpointer data)
{
  WeftFlowBuilder *b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_task_set_retries (weft_flow_builder_add_task (b, "a", "w", "d"), 101);
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"a\"): retries: must be between 0 and 100");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_task_set_retry_delay (weft_flow_builder_add_task (b, "a", "w", "d"), 3600001);
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"a\"): retry_delay_ms: must be between 0 and "
                  "3600000");

  const double timeouts[] = { 0, -3, 1e-7, 604801 };
  for (guint i = 0; i < G_N_ELEMENTS (timeouts); i++)
    {
      b = builder_w (f, WEFT_PROCESS_GRAPH);
      weft_builder_task_set_timeout (weft_flow_builder_add_task (b, "a", "w", "d"), timeouts[i]);
      assert_refused (f, b, WEFT_ERROR_INVALID,
                      "weft_flow_builder_add_task (\"a\"): timeout_s: must be more than 0 (at "
                      "least 0.001) and at most a week (604800)");
    }

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_flow_builder_add_task (b, "a", "w", "About {unclosed");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"a\"): description: bad placeholder at offset 6: "
                  "expected {name} (write \"{{\" for a literal brace)");

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_task_set_expected_output (weft_flow_builder_add_task (b, "a", "w", "fine"),
                                         "a } b");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"a\"): expected_output: unmatched \"}\" at "
                  "offset 2 (write \"}}\" for a literal brace)");

  /* And the good values build. */
  b = builder_w (f, WEFT_PROCESS_GRAPH);
  WeftBuilderTask *t = weft_flow_builder_add_task (b, "a", "w", "d");
  weft_builder_task_set_retries (t, 100);
  weft_builder_task_set_retry_delay (t, 0);
  weft_builder_task_set_timeout (t, 604800);
  g_autoptr(WeftFlow) flow = finish_ok (b);
  weft_flow_builder_free (b);
  g_assert_cmpuint (weft_flow_get_n_tasks (flow), ==, 1);
}

/* The mistakes of a flow that looks right (test-validate.c has them from a
 * file): the same reasons, naming the calls. */
static void
test_refused_mistakes (Fixture *f, gconstpointer data)
{
  /* async under the graph process. */
  WeftFlowBuilder *b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_task_set_async (weft_flow_builder_add_task (b, "ideas", "w", "d"), TRUE);
  weft_flow_builder_add_task (b, "article", "w", "d");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"ideas\"): async: only a \"sequential\" flow "
                  "runs tasks async (a \"graph\" flow, the default, starts each task once its "
                  "context is done): make the builder with WEFT_PROCESS_SEQUENTIAL, or drop "
                  "weft_builder_task_set_async");

  /* An agent's template: an unknown key, a context not received, an
   * excluded one, an input the flow does not take. */
  static const struct {
    const char *template;
    gint code;
    const char *message;
  } templates[] = {
    { "{nope}", WEFT_ERROR_NOT_FOUND,
      "weft_flow_builder_add_agent (\"t\"): option \"template\": unknown key {nope} (known: "
      "prompt, description, task, attempt, run_id, flow, context, input.NAME of a run input, "
      "context.NAME of a task this one receives)" },
    { "{context.history}", WEFT_ERROR_INVALID,
      "weft_flow_builder_add_agent (\"t\"): option \"template\": {context.history}: task "
      "\"article\" does not receive the output of \"history\" (it receives: ideas; add it "
      "with weft_builder_task_add_context)" },
    { "{context.draft}", WEFT_ERROR_INVALID,
      "weft_flow_builder_add_agent (\"t\"): option \"template\": {context.draft}: task "
      "\"article\" never receives the output of \"draft\", which is excluded "
      "(weft_builder_task_set_exclude)" },
    { "{input.topc}", WEFT_ERROR_NOT_FOUND,
      "weft_flow_builder_add_agent (\"t\"): option \"template\": {input.topc}: the flow takes "
      "no input \"topc\" (did you mean \"topic\"? the flow takes: topic; give it a default "
      "with weft_flow_builder_add_input)" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (templates); i++)
    {
      b = builder_w (f, WEFT_PROCESS_GRAPH);
      weft_flow_builder_add_input (b, "topic", "AI");
      weft_builder_instance_set_string (weft_flow_builder_add_agent (b, "t", "template", NULL),
                                        "template", templates[i].template);
      weft_flow_builder_add_task (b, "ideas", "w", "d");
      weft_flow_builder_add_task (b, "history", "w", "d");
      weft_builder_task_set_exclude (weft_flow_builder_add_task (b, "draft", "w", "d"), TRUE);
      WeftBuilderTask *t = weft_flow_builder_add_task (b, "article", "t", "d");
      weft_builder_task_add_context (t, "ideas");
      weft_builder_task_add_context (t, "draft");
      assert_refused (f, b, templates[i].code, templates[i].message);
    }

  /* A store named by a task. */
  g_autofree char *db = g_build_filename (f->tmpdir, "runs.db", NULL);
  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_instance_set_string (weft_flow_builder_add_callback (b, "db", "sqlite", NULL),
                                    "path", db);
  weft_flow_builder_add_task (b, "a", "w", "d");
  weft_builder_task_add_callback (weft_flow_builder_add_task (b, "b", "w", "d"), "db");
  assert_refused (f, b, WEFT_ERROR_INVALID,
                  "weft_flow_builder_add_task (\"b\"): callbacks[0]: callback \"db\" (plugin "
                  "sqlite) is a store, which must receive every event of a run, not only some "
                  "tasks': add it with weft_flow_builder_add_callback and name it in no "
                  "weft_builder_task_add_callback");
  g_assert_false (g_file_test (db, G_FILE_TEST_EXISTS));
}

/* Nothing is made before every check has passed; inputs are a kickoff's. */
static void
test_refused_before_instances (Fixture *f, gconstpointer data)
{
  g_autofree char *rec = g_build_filename (f->tmpdir, "rec.jsonl", NULL);
  WeftFlowBuilder *b = builder_w (f, WEFT_PROCESS_GRAPH);

  weft_builder_instance_set_string (weft_flow_builder_add_callback (b, "rec", "test-recorder",
                                                                    NULL), "path", rec);
  weft_flow_builder_add_task (b, "a", "nobody", "d");
  assert_refused (f, b, WEFT_ERROR_NOT_FOUND,
                  "weft_flow_builder_add_task (\"a\"): agent: unknown agent \"nobody\" (known: w)");
  g_assert_false (g_file_test (rec, G_FILE_TEST_EXISTS));

  b = builder_w (f, WEFT_PROCESS_GRAPH);
  weft_builder_instance_set_string (weft_flow_builder_add_callback (b, "rec", "test-recorder",
                                                                    NULL), "path", rec);
  weft_flow_builder_add_task (b, "a", "w", "About {topic}");
  g_autoptr(WeftFlow) flow = finish_ok (b);
  weft_flow_builder_free (b);
  g_assert_true (g_file_test (rec, G_FILE_TEST_EXISTS));
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_null (run);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "x (built in code): missing input \"topic\" (the flow "
                                       "uses it in a task's description)");
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  g_unsetenv (ENV_UNSET);
  /* Set before any engine's thread exists: the openai example reads its
   * provider from the environment. */
  g_autoptr(WeftMockLlm) mock = weft_mock_llm_new (&error);
  g_assert_no_error (error);
  g_setenv ("OPENAI_BASE_URL", weft_mock_llm_get_base_url (mock), TRUE);
  g_setenv ("OPENAI_API_KEY", "sk-test-builder", TRUE);
  g_unsetenv ("OPENAI_MODEL");

  ADD ("/flow-builder/example/blog", test_example_blog);
  ADD ("/flow-builder/example/content", test_example_content);
  ADD ("/flow-builder/example/weather", test_example_weather);
  ADD ("/flow-builder/example/openai", test_example_openai);
  ADD ("/flow-builder/options", test_options);
  ADD ("/flow-builder/free-unfinished", test_free_unfinished);
  ADD ("/flow-builder/source/built", test_source_of_built_flow);
  ADD ("/flow-builder/source/agent-task", test_source_of_agent_task);
  ADD ("/flow-builder/refused/names", test_refused_names);
  ADD ("/flow-builder/refused/plugins", test_refused_plugins);
  ADD ("/flow-builder/refused/options", test_refused_options);
  ADD ("/flow-builder/refused/references", test_refused_references);
  ADD ("/flow-builder/refused/cycles", test_refused_cycles);
  ADD ("/flow-builder/refused/task-fields", test_refused_task_fields);
  ADD ("/flow-builder/refused/mistakes", test_refused_mistakes);
  ADD ("/flow-builder/refused/before-instances", test_refused_before_instances);
  return g_test_run ();
}
