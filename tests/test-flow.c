/* test-flow.c — the flow validator: every class of bad flow is refused
 * before anything runs (no plugin instance made, no task started), with an
 * error that names the file, the JSON path and the reason.  Also the parts
 * of loading that good flows depend on: "{{" escapes, ${ENV} expansion,
 * inputs and their defaults, and the dependencies the sequential process
 * derives.
 *
 * Flows are written with single quotes, which read better in C strings;
 * flow_json() turns them into double quotes. */
#include "weft-test.h"

#include <glib/gstdio.h>
#include <string.h>

#define ORIGIN "flows/x.json"

typedef struct {
  WeftEngine *engine;
  char *tmpdir;
  gint n_events;      /* atomic: every event any run of the engine raised */
} Fixture;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void
count_event (const WeftEvent *event, gpointer user_data)
{
  Fixture *f = user_data;

  g_atomic_int_inc (&f->n_events);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *build_root = g_getenv ("WEFT_BUILD_ROOT");
  g_autofree char *dir = NULL;
  WeftRegistry *registry;

  g_assert_nonnull (build_root);
  dir = g_build_filename (build_root, "tests", "plugins", "good", NULL);
  f->engine = weft_engine_new (2);
  g_assert_true (weft_engine_load_plugins (f->engine, (const char *[]) { dir, NULL },
                                           warnings, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < warnings->len; i++)
    g_test_message ("plugin warning: %s", (const char *) warnings->pdata[i]);

  registry = weft_engine_get_registry (f->engine);
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "test-agent"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "template"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "noop"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK, "test-recorder"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK, "log"));

  weft_engine_add_listener (f->engine, count_event, f, NULL);

  f->tmpdir = g_dir_make_tmp ("weft-test-flow-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 2000);
  weft_engine_unref (f->engine);
  weft_test_remove_dir (f->tmpdir);
  g_free (f->tmpdir);
}

static char *flow_json (const char *format, ...) G_GNUC_PRINTF (1, 2);

static char *
flow_json (const char *format, ...)
{
  va_list args;
  char *json;

  va_start (args, format);
  json = g_strdup_vprintf (format, args);
  va_end (args);
  return g_strdelimit (json, "'", '"');
}

static char *
tmp_path (Fixture *f, const char *name)
{
  return g_build_filename (f->tmpdir, name, NULL);
}

/* A flow that validates, with one agent "w" of test-agent; the tasks are
 * the caller's. */
#define AGENTS "'agents': {'w': {'plugin': 'test-agent'}}"

static WeftFlow *
load (Fixture *f, const char *json_single_quoted, GError **error)
{
  g_autofree char *json = flow_json ("%s", json_single_quoted);

  return weft_flow_load_data (f->engine, json, -1, ORIGIN, error);
}

static WeftFlow *
load_ok (Fixture *f, const char *json_single_quoted)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = load (f, json_single_quoted, &error);

  g_assert_no_error (error);
  g_assert_nonnull (flow);
  return flow;
}

/* Loads the flow and checks it is refused with `code`, with a message
 * "ORIGIN: PATH: ..." that contains every one of the NULL-terminated
 * `reasons`.  Returns the message for further checks. */
static char *assert_refused (Fixture *f, const char *json_single_quoted, gint code,
                             const char *path, ...) G_GNUC_NULL_TERMINATED;

static char *
assert_refused (Fixture *f, const char *json_single_quoted, gint code, const char *path, ...)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = load (f, json_single_quoted, &error);
  g_autofree char *prefix = g_strdup_printf ("%s: %s: ", ORIGIN, path);
  const char *reason;
  va_list args;

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, code);
  g_test_message ("refused: %s", error->message);
  if (!g_str_has_prefix (error->message, prefix))
    g_error ("message \"%s\" does not start with \"%s\"", error->message, prefix);

  va_start (args, path);
  while ((reason = va_arg (args, const char *)) != NULL)
    if (strstr (error->message, reason) == NULL)
      g_error ("message \"%s\" lacks \"%s\"", error->message, reason);
  va_end (args);

  /* Nothing may have run. */
  g_assert_cmpint (g_atomic_int_get (&f->n_events), ==, 0);
  return g_strdup (error->message);
}

#define REFUSED(f, json, code, path, ...) \
  g_free (assert_refused ((f), (json), (code), (path), __VA_ARGS__, NULL))

/* Runs `flow`, checks it completed, returns the output of task i. */
static char *
run_output (WeftFlow *flow, JsonObject *inputs, guint i)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, inputs, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (run);
  if (weft_run_get_status (run) != WEFT_STATUS_COMPLETED)
    g_error ("run %s: %s", weft_status_to_string (weft_run_get_status (run)),
             weft_run_get_error (run) ? weft_run_get_error (run)->message : "?");
  return g_strdup (weft_run_get_task_output (run, i));
}

static void
assert_strv_equal (const char * const *got, const char * const *want)
{
  g_assert_nonnull (got);
  if (!g_strv_equal (got, want))
    {
      g_autofree char *g = g_strjoinv (", ", (char **) got);
      g_autofree char *w = g_strjoinv (", ", (char **) want);
      g_error ("got [%s], want [%s]", g, w);
    }
}

/* ------------------------------------------------------------------------ */
/* Reading the file                                                         */

static void
test_parse_bad_json_data (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  /* Line 4, column 1: the brace that should have closed the array. */
  const char *json = "{\n  \"name\": \"x\",\n  \"tasks\": [\n}\n";
  g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, json, -1, ORIGIN, &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
  g_assert_true (g_str_has_prefix (error->message, ORIGIN ":4:1: "));
  g_assert_null (strstr (error->message, "<data>"));
}

static void
test_parse_bad_json_file (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = tmp_path (f, "bad.json");
  g_autofree char *pattern = NULL;
  /* A trailing comma: the check stops on line 3. */
  const char *json = "{\n  \"name\": \"x\",\n  \"inputs\": {},}\n";

  g_assert_true (g_file_set_contents (path, json, -1, &error));
  g_assert_no_error (error);

  g_autoptr(WeftFlow) flow = weft_flow_load_file (f->engine, path, &error);
  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
  g_test_message ("refused: %s", error->message);
  /* PATH:LINE:COLUMN: the reason. */
  {
    g_autofree char *escaped = g_regex_escape_string (path, -1);
    pattern = g_strdup_printf ("^%s:3:[0-9]+: expected a member name", escaped);
  }
  if (!g_regex_match_simple (pattern, error->message, 0, 0))
    g_error ("message \"%s\" does not match /%s/", error->message, pattern);
}

/* What json-glib alone crashed on, mangled or folded: refused with the
 * place, before any instance is made. */
static void
test_parse_hostile (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) deep = g_string_new ("{\"name\": \"x\", \"inputs\": ");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  static const struct { const char *json; const char *message; } cases[] = {
    { "{'name': 'x', 'inputs': {'n': 1e999}}",
      ORIGIN ":1:31: $.inputs.n: the number 1e999 is too large for a double" },
    { "{'name': 'x', 'inputs': {'n': 12345678901234567890}}",
      ORIGIN ":1:31: $.inputs.n: the integer 12345678901234567890 does not fit in 64 bits" },
    { "{'name': 'x', " AGENTS ", 'tasks': [{'name': 't\\u0000u', 'agent': 'w', "
      "'description': 'd'}]}",
      ORIGIN ":1:79: $.tasks[0].name: \"\\u0000\" (a NUL character) is not allowed" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftFlow) flow = load (f, cases[i].json, &error);
      g_assert_null (flow);
      g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }

  /* The flow's own words in a message: control characters escaped, a
   * long word cut (the fuzzer's finding: a key holding a newline). */
  g_autoptr(GError) word_error = NULL;
  g_autofree char *long_key = g_strnfill (5000, 'k');
  g_autofree char *words = g_strdup ("{'name': 'x', 'agents': {'w': {'plugin': 'template', "
                                            "'a\\nb\\u007f': 1}}, 'tasks': [{'name': 'a', "
                                            "'agent': 'w', 'description': 'd'}]}");
  g_autoptr(WeftFlow) worded = load (f, words, &word_error);
  g_assert_null (worded);
  g_test_message ("%s", word_error->message);
  weft_test_assert_contains (word_error->message, "$.agents.w.a\\nb\\u007f: unknown option "
                                                  "\"a\\nb\\u007f\"");
  g_assert_null (strchr (word_error->message, '\n'));
  g_autoptr(GError) long_error = NULL;
  g_autofree char *long_words = g_strdup_printf ("{'name': 'x', " AGENTS ", 'tasks': [{'name': "
                                                 "'a', 'agent': '%s', 'description': 'd'}]}",
                                                 long_key);
  g_autoptr(WeftFlow) longer = load (f, long_words, &long_error);
  g_assert_null (longer);
  weft_test_assert_contains (long_error->message, "…(5002 characters)…");
  g_assert_cmpuint (strlen (long_error->message), <, 600);

  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, deep->str, (gssize) deep->len,
                                                  ORIGIN, &error);
  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
  weft_test_assert_contains (error->message, ORIGIN ":1:88: $.inputs[0][0]");
  weft_test_assert_contains (error->message, ": nested deeper than 64 levels");
  g_assert_cmpint (g_atomic_int_get (&f->n_events), ==, 0);
}

/* A file that never ends is read up to the limit, not until the memory
 * runs out. */
static void
test_parse_endless_file (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_file (f->engine, "/dev/zero", &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, "/dev/zero: larger than 64 MiB, the most weft "
                                       "reads of such a file");
}

static void
test_parse_missing_file (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = tmp_path (f, "no-such-flow.json");
  g_autoptr(WeftFlow) flow = weft_flow_load_file (f->engine, path, &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
}

static void
test_parse_empty (Fixture *f, gconstpointer data)
{
  const char *empties[] = { "", "   \n\t\n" };

  for (guint i = 0; i < G_N_ELEMENTS (empties); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, empties[i], -1, ORIGIN, &error);

      g_assert_null (flow);
      g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
      g_assert_true (g_str_has_prefix (error->message, ORIGIN ": "));
      g_assert_nonnull (strstr (error->message, "empty"));
    }

  /* An empty file on disk is named by its path. */
  g_autoptr(GError) error = NULL;
  g_autofree char *path = tmp_path (f, "empty.json");
  g_autofree char *prefix = g_strdup_printf ("%s: ", path);
  g_assert_true (g_file_set_contents (path, "", 0, &error));
  g_autoptr(WeftFlow) flow = weft_flow_load_file (f->engine, path, &error);
  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
  g_assert_true (g_str_has_prefix (error->message, prefix));
  g_assert_nonnull (strstr (error->message, "empty"));
}

static void
test_parse_root_not_object (Fixture *f, gconstpointer data)
{
  REFUSED (f, "[{'name': 'x'}]", WEFT_ERROR_INVALID, "$", "must be a JSON object");
  REFUSED (f, "'a flow'", WEFT_ERROR_INVALID, "$", "must be a JSON object");
  REFUSED (f, "42", WEFT_ERROR_INVALID, "$", "must be a JSON object");
  REFUSED (f, "null", WEFT_ERROR_INVALID, "$", "must be a JSON object");
}

static void
test_parse_origin_default (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, "[]", -1, NULL, &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, "<flow>: $: "));
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

static void
test_keys_unknown (Fixture *f, gconstpointer data)
{
  /* Root: the valid keys are listed. */
  REFUSED (f, "{'name': 'x', 'taks': [], " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$", "unknown key \"taks\"", "valid:", "tasks", "agents",
           "callbacks");

  /* Task. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'name': 'b', 'agent': 'w', 'description': 'd', "
              "'contxt': ['a']}]}",
           WEFT_ERROR_INVALID, "$.tasks[1]", "unknown key \"contxt\"", "valid:", "context",
           "timeout_s", "retries");

  /* Agent: anything but "plugin" and "tools" is an option of the plugin,
   * and an unknown one lists the valid ones. */
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'sleep': 5}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.sleep", "unknown option \"sleep\"",
           "plugin \"test-agent\"", "(valid: sleep_ms, fail_attempts, ignore_cancel)");

  /* Callback: the same, with its own table. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'rec': {'plugin': 'test-recorder', "
              "'path': '/nonexistent/x', 'file': 'y'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.callbacks.rec.file", "unknown option \"file\"",
           "plugin \"test-recorder\"", "(valid: path, delay_ms)");

  /* "tools" belongs to agents only. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'l': {'plugin': 'log', 'tools': []}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.callbacks.l.tools", "unknown option \"tools\"",
           "plugin \"log\"");

  /* A plugin without options says so. */
  REFUSED (f, "{'name': 'x', 'agents': {'n': {'plugin': 'noop', 'model': 'm'}}, "
              "'tasks': [{'name': 'a', 'agent': 'n', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.n.model", "unknown option \"model\"",
           "plugin \"noop\"", "(valid: ");
}

static void
test_keys_required (Fixture *f, gconstpointer data)
{
  REFUSED (f, "{" AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$", "missing \"name\"");
  REFUSED (f, "{'name': 7, " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.name", "must be a string");
  REFUSED (f, "{'name': 'x', " AGENTS "}", WEFT_ERROR_INVALID, "$.tasks", "missing",
           "needs tasks");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': []}", WEFT_ERROR_INVALID, "$.tasks",
           "non-empty array");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': {'a': {}}}", WEFT_ERROR_INVALID, "$.tasks",
           "non-empty array");

  /* A task: an object with a name, an agent and a description. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': ['a']}", WEFT_ERROR_INVALID, "$.tasks[0]",
           "must be an object");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.tasks[1]", "missing \"name\"");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0]", "missing \"agent\"");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0]", "missing \"description\"");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': ['d']}]}",
           WEFT_ERROR_INVALID, "$.tasks[0].description", "must be a string");

  /* An instance: an object with a plugin. */
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'sleep_ms': 1}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w", "missing \"plugin\"");
  REFUSED (f, "{'name': 'x', 'agents': {'w': 'test-agent'}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w", "must be an object");
  REFUSED (f, "{'name': 'x', 'agents': [{'plugin': 'test-agent'}], "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents", "must be an object");
}

/* ------------------------------------------------------------------------ */
/* References                                                               */

static void
test_ref_unknown_agent (Fixture *f, gconstpointer data)
{
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent'}, 'r': {'plugin': 'noop'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}, "
              "{'name': 'b', 'agent': 'writer', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.tasks[1].agent", "unknown agent \"writer\"", "known: ",
           "w", "r");
  REFUSED (f, "{'name': 'x', 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.tasks[0].agent", "unknown agent \"w\"", "none declared");
}

static void
test_ref_unknown_plugin (Fixture *f, gconstpointer data)
{
  g_autofree char *msg = NULL;

  msg = assert_refused (f, "{'name': 'x', 'agents': {'w': {'plugin': 'gpt'}}, "
                           "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
                        WEFT_ERROR_NOT_FOUND, "$.agents.w.plugin", "unknown agent plugin \"gpt\"",
                        "loaded: ", "test-agent", "template", "noop", "exec", NULL);
  /* Only agents are offered for an agent. */
  g_assert_null (strstr (msg, "test-recorder"));

  g_clear_pointer (&msg, g_free);
  msg = assert_refused (f, "{'name': 'x', " AGENTS ", 'callbacks': {'db': {'plugin': 'sqlit'}}, "
                           "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
                        WEFT_ERROR_NOT_FOUND, "$.callbacks.db.plugin",
                        "unknown callback plugin \"sqlit\"", "loaded: ", "log", "test-recorder",
                        NULL);
  g_assert_null (strstr (msg, "test-agent"));

  /* The kind matters: an agent plugin is no callback, nor the reverse. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'c': {'plugin': 'test-agent'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.callbacks.c.plugin", "unknown callback plugin \"test-agent\"");
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'log'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.agents.w.plugin", "unknown agent plugin \"log\"");

  /* An unknown tool plugin; the message lists the loaded ones. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tools': {'fetch': {'plugin': 'no-such-tool'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.tools.fetch.plugin", "unknown tool plugin \"no-such-tool\"",
           "loaded: ", "test-tool");
}

static void
test_ref_unknown_tool (Fixture *f, gconstpointer data)
{
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'tools': ['fetch']}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.agents.w.tools[0]", "unknown tool \"fetch\"",
           "declare it under \"tools\"");
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'tools': 'fetch'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.tools", "must be a string list");
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'tools': [1]}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.tools", "must be a string list");
}

static void
test_ref_unknown_callback (Fixture *f, gconstpointer data)
{
  g_autofree char *log_path = tmp_path (f, "log.txt");
  g_autofree char *json = g_strdup_printf (
      "{'name': 'x', " AGENTS ", 'callbacks': {'log': {'plugin': 'log', 'path': '%s'}}, "
      "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd', 'callbacks': ['log']}, "
      "{'name': 'b', 'agent': 'w', 'description': 'd', 'callbacks': ['log', 'notify']}]}",
      log_path);

  REFUSED (f, json, WEFT_ERROR_NOT_FOUND, "$.tasks[1].callbacks[1]",
           "unknown callback \"notify\"", "declare it under \"callbacks\"");
  g_assert_false (g_file_test (log_path, G_FILE_TEST_EXISTS));

  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd', 'callbacks': 'log'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0].callbacks", "must be a string list");
}

static void
test_ref_duplicate_task (Fixture *f, gconstpointer data)
{
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'name': 'b', 'agent': 'w', 'description': 'd'}, "
              "{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_DUPLICATE, "$.tasks[2]", "duplicate task name \"a\"",
           "first at $.tasks[0]");
}

/* Agents, tools and callbacks are named by object keys: a name declared
 * twice is a duplicate key, which the parser would otherwise fold into
 * the last one without a word. */
static void
test_ref_duplicate_keys (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = load (f, "{'name': 'x', 'agents': {"
                                      "'w': {'plugin': 'test-agent', 'sleep_ms': 1}, "
                                      "'w': {'plugin': 'noop'}}, "
                                      "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
                                   &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE);
  g_assert_true (g_str_has_prefix (error->message, ORIGIN ":1:72: $.agents: duplicate key"));
  g_assert_nonnull (strstr (error->message, "\"w\""));
}

/* Mermaid reads labels as HTML: a name's own markup shows as written. */
static void
test_accessors_graph_labels (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = load (f, "{'name': 'x', " AGENTS ", 'tasks': ["
                                      "{'name': '</x> & #1 `q`', 'agent': 'w', "
                                      "'description': 'd'}]}", &error);
  g_assert_no_error (error);
  g_autofree char *mermaid = weft_flow_to_mermaid (flow);
  g_autofree char *dot = weft_flow_to_dot (flow);

  weft_test_assert_contains (mermaid, "t0[\"#lt;/x#gt; #amp; #35;1 #96;q#96;<br/>w\"]");
  g_assert_null (strstr (mermaid, "</x>"));
  weft_test_assert_contains (dot, "\"</x> & #1 `q`\" [label=\"</x> & #1 `q`\\n(w)\"]");
}

/* A cycle through 10,000 tasks is named by its first tasks, its last and
 * its length, on a line that fits a terminal, not in 89 KB. */
static void
test_ref_long_cycle (Fixture *f, gconstpointer data)
{
  guint n = 10000;
  g_autoptr(GString) json = g_string_new ("{\"name\": \"x\", \"agents\": {\"w\": "
                                          "{\"plugin\": \"test-agent\"}}, \"tasks\": [");
  for (guint i = 0; i < n; i++)
    g_string_append_printf (json, "%s{\"name\": \"t%u\", \"agent\": \"w\", "
                            "\"description\": \"d\", \"context\": [\"t%u\"]}",
                            i ? ", " : "", i, (i + n - 1) % n);
  g_string_append (json, "]}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_data (f->engine, json->str, -1, ORIGIN, &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_CYCLE);
  g_test_message ("%s", error->message);
  g_assert_cmpuint (strlen (error->message), <, 200);
  weft_test_assert_contains (error->message, ORIGIN ": $.tasks: dependency cycle: ");
  weft_test_assert_contains (error->message, " -> … -> ");
  weft_test_assert_contains (error->message, ", 10000 tasks in all (each waits for the next)");
}

static void
test_ref_context (Fixture *f, gconstpointer data)
{
  /* Unknown task, with the known ones listed. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'name': 'b', 'agent': 'w', 'description': 'd', "
              "'context': ['ghost']}]}",
           WEFT_ERROR_NOT_FOUND, "$.tasks[1].context[0]", "unknown task \"ghost\"",
           "known: a, b");

  /* Listed twice. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'name': 'b', 'agent': 'w', 'description': 'd', "
              "'context': ['a', 'a']}]}",
           WEFT_ERROR_DUPLICATE, "$.tasks[1].context[1]", "task \"a\" is listed twice");

  /* Not a list of names. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'name': 'b', 'agent': 'w', 'description': 'd', "
              "'context': ['a', 1]}]}",
           WEFT_ERROR_INVALID, "$.tasks[1].context", "must be a string list");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'd'}, {'name': 'b', 'agent': 'w', 'description': 'd', "
              "'context': 'a'}]}",
           WEFT_ERROR_INVALID, "$.tasks[1].context", "must be a string list");

  /* A later task is fine in graph mode. */
  g_autoptr(WeftFlow) flow = load_ok (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', "
                                         "'agent': 'w', 'description': 'd', 'context': ['b']}, "
                                         "{'name': 'b', 'agent': 'w', 'description': 'd'}]}");
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 0), (const char *[]) { "b", NULL });
}

/* Checks that `msg` names the cycle "n0 -> n1 -> ... -> n0" made of
 * exactly the tasks of `members`, each once. */
static void
assert_cycle (const char *msg, const char * const *members)
{
  const char *start = strstr (msg, "dependency cycle: ");
  const char *end;
  g_autofree char *chain = NULL;
  g_auto(GStrv) names = NULL;
  guint n;

  g_assert_nonnull (start);
  start += strlen ("dependency cycle: ");
  end = strstr (start, " (");
  chain = end ? g_strndup (start, end - start) : g_strdup (start);
  names = g_strsplit (chain, " -> ", -1);
  n = g_strv_length (names);

  g_assert_cmpuint (n, ==, g_strv_length ((char **) members) + 1);
  g_assert_cmpstr (names[0], ==, names[n - 1]);
  for (guint i = 0; members[i]; i++)
    {
      guint seen = 0;
      for (guint k = 0; k + 1 < n; k++)
        seen += g_str_equal (names[k], members[i]);
      if (seen != 1)
        g_error ("cycle \"%s\" names \"%s\" %u times", chain, members[i], seen);
    }
}

static void
test_ref_cycle (Fixture *f, gconstpointer data)
{
  g_autofree char *msg = NULL;

  /* a -> c -> b -> a (each waits for the next); r is upstream of nothing
   * and d hangs below the cycle: neither belongs in the message. */
  msg = assert_refused (f, "{'name': 'x', " AGENTS ", 'tasks': ["
                           "{'name': 'r', 'agent': 'w', 'description': 'd'}, "
                           "{'name': 'd', 'agent': 'w', 'description': 'd', 'context': ['c', 'r']}, "
                           "{'name': 'a', 'agent': 'w', 'description': 'd', 'context': ['r', 'c']}, "
                           "{'name': 'b', 'agent': 'w', 'description': 'd', 'context': ['a']}, "
                           "{'name': 'c', 'agent': 'w', 'description': 'd', 'context': ['b']}]}",
                        WEFT_ERROR_CYCLE, "$.tasks", "dependency cycle: ", NULL);
  assert_cycle (msg, (const char *[]) { "a", "b", "c", NULL });
  g_assert_true (strstr (msg, "a -> c -> b -> a") || strstr (msg, "c -> b -> a -> c")
                 || strstr (msg, "b -> a -> c -> b"));

  /* A task in its own context. */
  g_clear_pointer (&msg, g_free);
  msg = assert_refused (f, "{'name': 'x', " AGENTS ", 'tasks': ["
                           "{'name': 'a', 'agent': 'w', 'description': 'd'}, "
                           "{'name': 'me', 'agent': 'w', 'description': 'd', 'context': ['a', 'me']}]}",
                        WEFT_ERROR_CYCLE, "$.tasks", "dependency cycle: me -> me", NULL);
  assert_cycle (msg, (const char *[]) { "me", NULL });

  /* Sequential: a task cannot receive a later one, which waits for it. */
  g_clear_pointer (&msg, g_free);
  msg = assert_refused (f, "{'name': 'x', 'process': 'sequential', " AGENTS ", 'tasks': ["
                           "{'name': 'first', 'agent': 'w', 'description': 'd', 'context': ['second']}, "
                           "{'name': 'second', 'agent': 'w', 'description': 'd'}]}",
                        WEFT_ERROR_CYCLE, "$.tasks", "dependency cycle: ", NULL);
  assert_cycle (msg, (const char *[]) { "first", "second", NULL });
}

/* ------------------------------------------------------------------------ */
/* Option types                                                             */

static void
test_types_options (Fixture *f, gconstpointer data)
{
  g_autofree char *msg = NULL;

  /* A string for an int; the value itself never appears (it may be a secret). */
  msg = assert_refused (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', "
                           "'sleep_ms': 's3cr3t'}}, "
                           "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
                        WEFT_ERROR_INVALID, "$.agents.w.sleep_ms", "option \"sleep_ms\"",
                        "plugin \"test-agent\"", "must be an int", "not a string", NULL);
  g_assert_null (strstr (msg, "s3cr3t"));

  /* A number for a bool. */
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'ignore_cancel': 1}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.ignore_cancel", "must be a bool", "not an integer");
  /* A string for a bool. */
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'ignore_cancel': 'true'}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.ignore_cancel", "must be a bool", "not a string");
  /* 3.5 for an int. */
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'fail_attempts': 3.5}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.fail_attempts", "must be an int", "not a number");
  /* null is no value of any type. */
  REFUSED (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', 'sleep_ms': null}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.w.sleep_ms", "must be an int", "not null");
  /* A non-string in a string list (the log callback's "events"). */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'l': {'plugin': 'log', "
              "'events': ['task.completed', 3]}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.callbacks.l.events", "option \"events\"", "plugin \"log\"",
           "must be a string list", "not an array");
  /* An int for a string. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'rec': {'plugin': 'test-recorder', "
              "'path': 5}}, 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.callbacks.rec.path", "must be a string", "not an integer");

  /* A required option missing: its type and description are given. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'rec': {'plugin': 'test-recorder', "
              "'delay_ms': 1}}, 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.callbacks.rec", "plugin \"test-recorder\"",
           "needs option \"path\"", "string");
}

static void
test_types_task_fields (Fixture *f, gconstpointer data)
{
#define TASK(extra) \
  "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd', " \
  extra "}]}"

  REFUSED (f, TASK ("'async': 1"), WEFT_ERROR_INVALID, "$.tasks[0].async", "must be a bool");
  REFUSED (f, TASK ("'exclude': 'yes'"), WEFT_ERROR_INVALID, "$.tasks[0].exclude",
           "must be a bool");
  REFUSED (f, TASK ("'expected_output': 5"), WEFT_ERROR_INVALID, "$.tasks[0].expected_output",
           "must be a string");

  /* retries: an int from 0 to 100. */
  REFUSED (f, TASK ("'retries': -1"), WEFT_ERROR_INVALID, "$.tasks[0].retries",
           "must be between 0 and 100");
  REFUSED (f, TASK ("'retries': 101"), WEFT_ERROR_INVALID, "$.tasks[0].retries",
           "must be between 0 and 100");
  REFUSED (f, TASK ("'retries': '2'"), WEFT_ERROR_INVALID, "$.tasks[0].retries",
           "must be an int");
  REFUSED (f, TASK ("'retries': 1.5"), WEFT_ERROR_INVALID, "$.tasks[0].retries",
           "must be an int");
  REFUSED (f, TASK ("'retry_delay_ms': -5"), WEFT_ERROR_INVALID, "$.tasks[0].retry_delay_ms",
           "must be between 0 and");

  /* timeout_s: a number, more than 0, at most a week. */
  REFUSED (f, TASK ("'timeout_s': 0"), WEFT_ERROR_INVALID, "$.tasks[0].timeout_s",
           "must be more than 0 (at least 0.001)");
  REFUSED (f, TASK ("'timeout_s': -3"), WEFT_ERROR_INVALID, "$.tasks[0].timeout_s",
           "must be more than 0 (at least 0.001)");
  REFUSED (f, TASK ("'timeout_s': -0.5"), WEFT_ERROR_INVALID, "$.tasks[0].timeout_s",
           "must be more than 0 (at least 0.001)");
  REFUSED (f, TASK ("'timeout_s': 604801"), WEFT_ERROR_INVALID, "$.tasks[0].timeout_s",
           "at most a week");
  REFUSED (f, TASK ("'timeout_s': '60'"), WEFT_ERROR_INVALID, "$.tasks[0].timeout_s",
           "must be a");
  REFUSED (f, TASK ("'timeout_s': true"), WEFT_ERROR_INVALID, "$.tasks[0].timeout_s",
           "must be a");

  /* async under graph, the default process: refused, with what to do. */
  REFUSED (f, TASK ("'async': true"), WEFT_ERROR_INVALID, "$.tasks[0].async",
           "only a \"sequential\" flow runs tasks async",
           "set \"process\": \"sequential\", or drop \"async\"");

  /* And the good values load. */
  g_autoptr(WeftFlow) flow = load_ok (f, TASK ("'retries': 100, 'retry_delay_ms': 0, "
                                               "'timeout_s': 0.25, 'async': false, "
                                               "'exclude': false"));
  g_clear_pointer (&flow, weft_flow_unref);
  flow = load_ok (f, TASK ("'timeout_s': 604800, 'retries': 0"));
#undef TASK
}

/* A timeout too small for the millisecond timers must not silently become
 * "no timeout": it is refused. */
static void
test_types_timeout_tiny (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = load (f, "{'name': 'x', 'agents': {'w': {'plugin': 'test-agent', "
                                      "'sleep_ms': 300}}, 'tasks': [{'name': 'a', 'agent': 'w', "
                                      "'description': 'd', 'timeout_s': 1e-7}]}", &error);

  g_assert_null (flow);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, ORIGIN ": $.tasks[0].timeout_s: "));
  g_assert_nonnull (strstr (error->message, "at least 0.001"));
}

static void
test_types_process (Fixture *f, gconstpointer data)
{
  REFUSED (f, "{'name': 'x', 'process': 'parallel', " AGENTS ", 'tasks': [{'name': 'a', "
              "'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.process", "must be \"graph\" or \"sequential\"",
           "not \"parallel\"");
  REFUSED (f, "{'name': 'x', 'process': 'Sequential', " AGENTS ", 'tasks': [{'name': 'a', "
              "'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.process", "must be \"graph\" or \"sequential\"");
  REFUSED (f, "{'name': 'x', 'process': 1, " AGENTS ", 'tasks': [{'name': 'a', "
              "'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.process", "must be a string");
}

/* "inputs" must be an object; a wrong type must refuse the flow like any
 * other bad field. */
static void
test_types_inputs (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = NULL;

  /* The flow's description, checked right after "inputs". */
  REFUSED (f, "{'name': 'x', 'description': 5, " AGENTS ", 'tasks': [{'name': 'a', "
              "'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.description", "must be a string");

  flow = load (f, "{'name': 'x', 'inputs': 'oops', " AGENTS ", "
                  "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}", &error);
  g_assert_nonnull (error);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  g_assert_true (g_str_has_prefix (error->message, ORIGIN ": $.inputs: must be an object"));
  g_assert_null (flow);
}

/* ------------------------------------------------------------------------ */
/* Templates                                                                */

static void
test_template_malformed (Fixture *f, gconstpointer data)
{
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'About {unclosed'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0].description", "bad placeholder", "{{");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'a } b'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0].description", "unmatched \"}\"", "}}");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'empty {} here'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0].description", "bad placeholder");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': '{two words}'}]}",
           WEFT_ERROR_INVALID, "$.tasks[0].description", "bad placeholder");
  REFUSED (f, "{'name': 'x', " AGENTS ", 'tasks': [{'name': 'a', 'agent': 'w', "
              "'description': 'fine'}, {'name': 'b', 'agent': 'w', 'description': 'fine', "
              "'expected_output': 'a list {'}]}",
           WEFT_ERROR_INVALID, "$.tasks[1].expected_output", "bad placeholder");
}

static void
test_template_escapes (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = load_ok (
      f, "{'name': 'x', 'inputs': {'topic': 'C'}, "
         "'agents': {'t': {'plugin': 'template', 'template': '{description}'}}, "
         "'tasks': [{'name': 'a', 'agent': 't', "
         "'description': 'Use {{braces}} and }}{{ for {topic}: {{{topic}}}'}]}");
  g_autofree char *out = NULL;

  /* Escaped braces are no inputs. */
  assert_strv_equal (weft_flow_get_input_names (flow), (const char *[]) { "topic", NULL });
  out = run_output (flow, NULL, 0);
  g_assert_cmpstr (out, ==, "Use {braces} and }{ for C: {C}");
}

/* ------------------------------------------------------------------------ */
/* ${ENV} in config strings                                                 */

#define ENV_SET "WEFT_TEST_FLOW_GREETING"
#define ENV_UNSET "WEFT_TEST_FLOW_NEVER_SET"
#define ENV_SECRET "WEFT_TEST_FLOW_SECRET"
/* main() sets these before any thread exists: setenv() is not thread-safe. */

static WeftFlow *
load_template_agent (Fixture *f, const char *template, GError **error)
{
  g_autofree char *json = flow_json (
      "{'name': 'x', 'agents': {'t': {'plugin': 'template', 'template': '%s'}}, "
      "'tasks': [{'name': 'a', 'agent': 't', 'description': 'd'}]}", template);

  return weft_flow_load_data (f->engine, json, -1, ORIGIN, error);
}

static char *
template_output (Fixture *f, const char *template)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = load_template_agent (f, template, &error);

  g_assert_no_error (error);
  g_assert_nonnull (flow);
  return run_output (flow, NULL, 0);
}

static void
test_env_expansion (Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL;

  out = template_output (f, "${" ENV_SET "}, {task}");
  g_assert_cmpstr (out, ==, "hello, a");

  /* A default when unset; the value when set. */
  g_clear_pointer (&out, g_free);
  out = template_output (f, "${" ENV_UNSET ":-fallback}/${" ENV_SET ":-unused}");
  g_assert_cmpstr (out, ==, "fallback/hello");

  /* An empty default. */
  g_clear_pointer (&out, g_free);
  out = template_output (f, "[${" ENV_UNSET ":-}]");
  g_assert_cmpstr (out, ==, "[]");

  /* "$$" is a literal "$"; a lone "$" stays. */
  g_clear_pointer (&out, g_free);
  out = template_output (f, "costs $$5, $6 and $${{x}}");
  g_assert_cmpstr (out, ==, "costs $5, $6 and ${x}");

  /* Only "${" starts a reference. */
  g_clear_pointer (&out, g_free);
  out = template_output (f, "$" ENV_SET);
  g_assert_cmpstr (out, ==, "$" ENV_SET);
}

static void
test_env_errors (Fixture *f, gconstpointer data)
{
  g_autofree char *msg = NULL;

  msg = assert_refused (f, "{'name': 'x', 'agents': {'t': {'plugin': 'template', "
                           "'template': 'key=${" ENV_UNSET "}'}}, "
                           "'tasks': [{'name': 'a', 'agent': 't', 'description': 'd'}]}",
                        WEFT_ERROR_NOT_FOUND, "$.agents.t.template",
                        "environment variable " ENV_UNSET " is not set", ":-default", NULL);

  /* In a list option too, with the option's path. */
  REFUSED (f, "{'name': 'x', " AGENTS ", 'callbacks': {'l': {'plugin': 'log', "
              "'events': ['task.completed', '${" ENV_UNSET "}']}}, "
              "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}",
           WEFT_ERROR_NOT_FOUND, "$.callbacks.l.events", ENV_UNSET " is not set");

  REFUSED (f, "{'name': 'x', 'agents': {'t': {'plugin': 'template', "
              "'template': 'x ${" ENV_UNSET "'}}, "
              "'tasks': [{'name': 'a', 'agent': 't', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.t.template", "unclosed \"${\"", "$$");
  REFUSED (f, "{'name': 'x', 'agents': {'t': {'plugin': 'template', "
              "'template': 'x ${}'}}, "
              "'tasks': [{'name': 'a', 'agent': 't', 'description': 'd'}]}",
           WEFT_ERROR_INVALID, "$.agents.t.template", "empty environment variable name");

  /* The secret a variable holds never shows in an error. */
  g_clear_pointer (&msg, g_free);
  msg = assert_refused (f, "{'name': 'x', 'agents': {'t': {'plugin': 'template', "
                           "'template': '${" ENV_SECRET "} {nope'}}, "
                           "'tasks': [{'name': 'a', 'agent': 't', 'description': 'd'}]}",
                        WEFT_ERROR_INVALID, "$.agents.t", "option \"template\"", NULL);
  g_assert_null (strstr (msg, "s3cr3t"));
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                   */

static void
test_inputs_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *rec = tmp_path (f, "rec.jsonl");
  g_autofree char *json = g_strdup_printf (
      "{'name': 'x', 'inputs': {'topic': 'AI'}, " AGENTS ", "
      "'callbacks': {'rec': {'plugin': 'test-recorder', 'path': '%s'}}, "
      "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'About {topic}'}, "
      "{'name': 'b', 'agent': 'w', 'description': 'For {audience}', "
      "'expected_output': 'In {format}'}]}", rec);
  g_autoptr(WeftFlow) flow = load_ok (f, json);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = NULL;
  g_autoptr(JsonObject) inputs = json_object_new ();
  g_autofree char *contents = NULL;

  assert_strv_equal (weft_flow_get_input_names (flow),
                     (const char *[]) { "topic", "audience", "format", NULL });

  run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_null (run);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_test_message ("refused: %s", error->message);
  g_assert_true (g_str_has_prefix (error->message, ORIGIN ": "));
  g_assert_nonnull (strstr (error->message, "missing input \"audience\""));
  g_clear_error (&error);

  /* One given, the one in expected_output still missing. */
  json_object_set_string_member (inputs, "audience", "kids");
  run = weft_flow_kickoff (flow, inputs, NULL, &error);
  g_assert_null (run);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "missing input \"format\""));

  /* No task ran, no event was raised. */
  g_assert_cmpint (g_atomic_int_get (&f->n_events), ==, 0);
  g_clear_pointer (&flow, weft_flow_unref);   /* drains the recorder */
  g_assert_true (g_file_get_contents (rec, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "");
}

static void
test_inputs_override (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftFlow) flow = load_ok (
      f, "{'name': 'x', 'inputs': {'topic': 'AI', 'tone': 'dry', 'n': 3}, "
         "'agents': {'t': {'plugin': 'template', 'template': '{description}'}}, "
         "'tasks': [{'name': 'a', 'agent': 't', 'description': '{topic}/{tone}/{n}'}]}");
  g_autoptr(JsonObject) inputs = json_object_new ();
  g_autofree char *out = NULL;
  JsonObject *defaults = weft_flow_get_default_inputs (flow);

  g_assert_nonnull (defaults);
  g_assert_cmpstr (json_object_get_string_member (defaults, "topic"), ==, "AI");

  out = run_output (flow, NULL, 0);
  g_assert_cmpstr (out, ==, "AI/dry/3");

  json_object_set_string_member (inputs, "topic", "weaving");
  json_object_set_int_member (inputs, "n", 5);
  g_clear_pointer (&out, g_free);
  out = run_output (flow, inputs, 0);
  g_assert_cmpstr (out, ==, "weaving/dry/5");

  /* The flow's own defaults are untouched by a run's inputs. */
  g_assert_cmpstr (json_object_get_string_member (defaults, "topic"), ==, "AI");
  g_clear_pointer (&out, g_free);
  out = run_output (flow, NULL, 0);
  g_assert_cmpstr (out, ==, "AI/dry/3");
}

/* ------------------------------------------------------------------------ */
/* Accessors: the dependencies each process derives                         */

static void
test_accessors_sequential (Fixture *f, gconstpointer data)
{
  /* a; b, c async; d; e async; f; g async (first after f) — as CrewAI:
   * a non-async task waits for the last non-async one and the async ones
   * since; an async one waits for the last non-async one only. */
  g_autoptr(WeftFlow) flow = load_ok (
      f, "{'name': 'seq', 'process': 'sequential', " AGENTS ", 'tasks': ["
         "{'name': 'a', 'agent': 'w', 'description': 'on {topic}'}, "
         "{'name': 'b', 'agent': 'w', 'description': 'd', 'async': true}, "
         "{'name': 'c', 'agent': 'w', 'description': 'd', 'async': true}, "
         "{'name': 'd', 'agent': 'w', 'description': 'for {audience}'}, "
         "{'name': 'e', 'agent': 'w', 'description': 'd', 'async': true}, "
         "{'name': 'f', 'agent': 'w', 'description': 'd', 'async': false}, "
         "{'name': 'g', 'agent': 'w', 'description': 'd', 'async': true}], "
         "'inputs': {'topic': 't', 'audience': 'u'}}");
  const char *const *want[] = {
    (const char *[]) { NULL },
    (const char *[]) { "a", NULL },
    (const char *[]) { "a", NULL },
    (const char *[]) { "a", "b", "c", NULL },
    (const char *[]) { "d", NULL },
    (const char *[]) { "d", "e", NULL },
    (const char *[]) { "f", NULL },
  };
  /* A task without context receives what it waited for. */
  const char *outputs[] = { "a", "b<-a", "c<-a", "d<-a,b,c", "e<-d", "f<-d,e", "g<-f" };
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = NULL;

  g_assert_cmpstr (weft_flow_get_name (flow), ==, "seq");
  g_assert_cmpuint (weft_flow_get_n_tasks (flow), ==, G_N_ELEMENTS (want));
  assert_strv_equal (weft_flow_get_input_names (flow),
                     (const char *[]) { "topic", "audience", NULL });
  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    {
      g_test_message ("task %s", weft_flow_get_task_name (flow, i));
      assert_strv_equal (weft_flow_get_task_dependencies (flow, i), want[i]);
    }

  run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  for (guint i = 0; i < G_N_ELEMENTS (outputs); i++)
    g_assert_cmpstr (weft_run_get_task_output (run, i), ==, outputs[i]);
}

static void
test_accessors_sequential_context (Fixture *f, gconstpointer data)
{
  /* An explicit context adds to what a task waits for, and is all it
   * receives. */
  g_autoptr(WeftFlow) flow = load_ok (
      f, "{'name': 'seq', 'process': 'sequential', " AGENTS ", 'tasks': ["
         "{'name': 'a', 'agent': 'w', 'description': 'd'}, "
         "{'name': 'b', 'agent': 'w', 'description': 'd'}, "
         "{'name': 'c', 'agent': 'w', 'description': 'd', 'context': ['a']}, "
         "{'name': 'd', 'agent': 'w', 'description': 'd', 'async': true, 'context': ['a']}]}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = NULL;

  assert_strv_equal (weft_flow_get_input_names (flow), (const char *[]) { NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 0), (const char *[]) { NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 1), (const char *[]) { "a", NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 2),
                     (const char *[]) { "b", "a", NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 3),
                     (const char *[]) { "c", "a", NULL });

  run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (weft_run_get_task_output (run, 2), ==, "c<-a");
  g_assert_cmpstr (weft_run_get_task_output (run, 3), ==, "d<-a");
}

static void
test_accessors_sequential_async_first (Fixture *f, gconstpointer data)
{
  /* Async tasks before any non-async one wait for nothing; the first
   * non-async task waits for all of them. */
  g_autoptr(WeftFlow) flow = load_ok (
      f, "{'name': 'seq', 'process': 'sequential', " AGENTS ", 'tasks': ["
         "{'name': 'x', 'agent': 'w', 'description': 'd', 'async': true}, "
         "{'name': 'y', 'agent': 'w', 'description': 'd', 'async': true}, "
         "{'name': 'z', 'agent': 'w', 'description': 'd'}]}");

  assert_strv_equal (weft_flow_get_task_dependencies (flow, 0), (const char *[]) { NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 1), (const char *[]) { NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 2),
                     (const char *[]) { "x", "y", NULL });
}

static void
test_accessors_graph (Fixture *f, gconstpointer data)
{
  /* Graph (the default): a task depends exactly on its context ("async":
   * true is refused there, false changes nothing). */
  g_autoptr(WeftFlow) flow = load_ok (
      f, "{'name': 'g', " AGENTS ", 'tasks': ["
         "{'name': 'a', 'agent': 'w', 'description': 'd'}, "
         "{'name': 'b', 'agent': 'w', 'description': 'd'}, "
         "{'name': 'c', 'agent': 'w', 'description': 'd', 'context': ['b', 'a']}, "
         "{'name': 'd', 'agent': 'w', 'description': 'd', 'async': false}]}");

  assert_strv_equal (weft_flow_get_task_dependencies (flow, 0), (const char *[]) { NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 1), (const char *[]) { NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 2),
                     (const char *[]) { "b", "a", NULL });
  assert_strv_equal (weft_flow_get_task_dependencies (flow, 3), (const char *[]) { NULL });
  g_assert_null (weft_flow_get_default_inputs (flow));
}

/* ------------------------------------------------------------------------ */
/* Validation comes before any instance                                     */

static void
test_no_instance_before_validation (Fixture *f, gconstpointer data)
{
  g_autofree char *rec = tmp_path (f, "rec.jsonl");
  g_autofree char *log = tmp_path (f, "log.jsonl");
  /* Each is refused after the callbacks section has been read. */
  const struct {
    const char *tasks;
    gint code;
    const char *path;
  } bad[] = {
    { "[{'name': 'a', 'agent': 'nobody', 'description': 'd'}]",
      WEFT_ERROR_NOT_FOUND, "$.tasks[0].agent" },
    { "[{'name': 'a', 'agent': 'w', 'description': 'd', 'context': ['a']}]",
      WEFT_ERROR_CYCLE, "$.tasks" },
    { "[{'name': 'a', 'agent': 'w', 'description': '{oops'}]",
      WEFT_ERROR_INVALID, "$.tasks[0].description" },
    { "[{'name': 'a', 'agent': 'w', 'description': 'd', 'timeout_s': 0}]",
      WEFT_ERROR_INVALID, "$.tasks[0].timeout_s" },
    { "[{'name': 'a', 'agent': 'w', 'description': 'd', 'callbacks': ['nope']}]",
      WEFT_ERROR_NOT_FOUND, "$.tasks[0].callbacks[0]" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *json = g_strdup_printf (
          "{'name': 'x', " AGENTS ", 'callbacks': {"
          "'rec': {'plugin': 'test-recorder', 'path': '%s'}, "
          "'log': {'plugin': 'log', 'path': '%s', 'format': 'jsonl'}}, 'tasks': %s}",
          rec, log, bad[i].tasks);

      REFUSED (f, json, bad[i].code, bad[i].path, "");
      g_assert_false (g_file_test (rec, G_FILE_TEST_EXISTS));
      g_assert_false (g_file_test (log, G_FILE_TEST_EXISTS));
    }

  /* An error in a callback declared after the recorder. */
  {
    g_autofree char *json = g_strdup_printf (
        "{'name': 'x', " AGENTS ", 'callbacks': {"
        "'rec': {'plugin': 'test-recorder', 'path': '%s'}, "
        "'log': {'plugin': 'log', 'path': '%s', 'colour': true}}, "
        "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}", rec, log);

    REFUSED (f, json, WEFT_ERROR_INVALID, "$.callbacks.log.colour", "unknown option");
    g_assert_false (g_file_test (rec, G_FILE_TEST_EXISTS));
    g_assert_false (g_file_test (log, G_FILE_TEST_EXISTS));
  }

  /* The control: fixed, the same flow makes the recorder create its file
   * at load, so the checks above could see it. */
  {
    g_autofree char *json = g_strdup_printf (
        "{'name': 'x', " AGENTS ", 'callbacks': {"
        "'rec': {'plugin': 'test-recorder', 'path': '%s'}}, "
        "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]}", rec);
    g_autoptr(WeftFlow) flow = load_ok (f, json);

    g_assert_cmpstr (weft_flow_get_name (flow), ==, "x");
    g_assert_true (g_file_test (rec, G_FILE_TEST_EXISTS));
  }
}

/* ------------------------------------------------------------------------ */

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_true (g_setenv (ENV_SET, "hello", TRUE));
  g_assert_true (g_setenv (ENV_SECRET, "s3cr3t-token", TRUE));
  g_unsetenv (ENV_UNSET);

  ADD ("/flow/parse/bad-json-data", test_parse_bad_json_data);
  ADD ("/flow/parse/bad-json-file", test_parse_bad_json_file);
  ADD ("/flow/parse/hostile", test_parse_hostile);
  ADD ("/flow/parse/endless-file", test_parse_endless_file);
  ADD ("/flow/parse/missing-file", test_parse_missing_file);
  ADD ("/flow/parse/empty", test_parse_empty);
  ADD ("/flow/parse/root-not-object", test_parse_root_not_object);
  ADD ("/flow/parse/origin-default", test_parse_origin_default);
  ADD ("/flow/keys/unknown", test_keys_unknown);
  ADD ("/flow/keys/required", test_keys_required);
  ADD ("/flow/ref/unknown-agent", test_ref_unknown_agent);
  ADD ("/flow/ref/unknown-plugin", test_ref_unknown_plugin);
  ADD ("/flow/ref/unknown-tool", test_ref_unknown_tool);
  ADD ("/flow/ref/unknown-callback", test_ref_unknown_callback);
  ADD ("/flow/ref/duplicate-task", test_ref_duplicate_task);
  ADD ("/flow/ref/duplicate-keys", test_ref_duplicate_keys);
  ADD ("/flow/ref/long-cycle", test_ref_long_cycle);
  ADD ("/flow/accessors/graph-labels", test_accessors_graph_labels);
  ADD ("/flow/ref/context", test_ref_context);
  ADD ("/flow/ref/cycle", test_ref_cycle);
  ADD ("/flow/types/options", test_types_options);
  ADD ("/flow/types/task-fields", test_types_task_fields);
  ADD ("/flow/types/timeout-tiny", test_types_timeout_tiny);
  ADD ("/flow/types/process", test_types_process);
  ADD ("/flow/types/inputs", test_types_inputs);
  ADD ("/flow/template/malformed", test_template_malformed);
  ADD ("/flow/template/escapes", test_template_escapes);
  ADD ("/flow/env/expansion", test_env_expansion);
  ADD ("/flow/env/errors", test_env_errors);
  ADD ("/flow/inputs/missing", test_inputs_missing);
  ADD ("/flow/inputs/override", test_inputs_override);
  ADD ("/flow/accessors/sequential", test_accessors_sequential);
  ADD ("/flow/accessors/sequential-context", test_accessors_sequential_context);
  ADD ("/flow/accessors/sequential-async-first", test_accessors_sequential_async_first);
  ADD ("/flow/accessors/graph", test_accessors_graph);
  ADD ("/flow/no-instance-before-validation", test_no_instance_before_validation);

  return g_test_run ();
}
