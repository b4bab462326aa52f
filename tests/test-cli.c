/* test-cli.c — the `weft` command, run as a child process.
 *
 * Each test writes small flows into a temporary directory and runs
 * $WEFT_BUILD_ROOT/cli/weft on them, checking the exit status, stdout and
 * stderr.  The flows use the in-tree `template` and `exec` agents and the
 * `log` callback; --verbose's trace runs tests/term/tools.json, whose tools
 * and streaming agent are test plugins (tests/plugins/good).  What a
 * terminal shows is test-term.sh's (tmux).
 */
#include "weft-test.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

typedef struct {
  char *dir;          /* temporary directory, removed afterwards */
  char *weft;         /* the binary */
  char *plugin_dir;   /* the build tree's plugins */
  char *out;          /* the last run's stdout and stderr */
  char *err;
} Fixture;

/* A flow of two template tasks: b receives a's output. */
static const char *const chain_flow =
  "{\"name\": \"t\", \"inputs\": {\"topic\": \"AI\"},"
  " \"agents\": {\"w\": {\"plugin\": \"template\", \"template\": \"out:{prompt}\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": \"about {topic}\"},"
  "            {\"name\": \"b\", \"agent\": \"w\", \"description\": \"b\", \"context\": [\"a\"]}]}";

/* One template task, so its output is the whole of stdout. */
static const char *const single_flow =
  "{\"name\": \"one\", \"inputs\": {\"topic\": \"AI\"},"
  " \"agents\": {\"w\": {\"plugin\": \"template\", \"template\": \"out:{prompt}\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": \"about {topic}\"}]}";

/* "broken" fails; "after" needs it and is skipped; "fine" is independent. */
static const char *const failing_flow =
  "{\"name\": \"fails\","
  " \"agents\": {\"x\": {\"plugin\": \"exec\", \"command\": [\"false\"]},"
  "              \"w\": {\"plugin\": \"template\"}},"
  " \"tasks\": [{\"name\": \"broken\", \"agent\": \"x\", \"description\": \"fail\"},"
  "            {\"name\": \"fine\", \"agent\": \"w\", \"description\": \"fine\"},"
  "            {\"name\": \"after\", \"agent\": \"w\", \"description\": \"x\","
  "             \"context\": [\"broken\"]}]}";

static const char *const unknown_agent_flow =
  "{\"name\": \"bad\", \"agents\": {\"w\": {\"plugin\": \"template\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"nobody\", \"description\": \"x\"}]}";

static const char *const slow_flow =
  "{\"name\": \"slow\","
  " \"agents\": {\"s\": {\"plugin\": \"exec\", \"command\": [\"sleep\", \"30\"]}},"
  " \"tasks\": [{\"name\": \"nap\", \"agent\": \"s\", \"description\": \"wait\"}]}";

/* ---- fixture -------------------------------------------------------------- */

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  const char *build_root = g_getenv ("WEFT_BUILD_ROOT");
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (build_root);
  fx->weft = g_build_filename (build_root, "cli", "weft", NULL);
  fx->plugin_dir = g_build_filename (build_root, "plugins", NULL);
  fx->dir = g_dir_make_tmp ("weft-test-cli-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  weft_test_remove_dir (fx->dir);
  g_free (fx->dir);
  g_free (fx->weft);
  g_free (fx->plugin_dir);
  g_free (fx->out);
  g_free (fx->err);
}

static char *
write_file (Fixture *fx, const char *name, const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (fx->dir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

/* The argv for `weft ARGS...` with --plugin-dir added after the command. */
static GStrv
weft_argv (Fixture *fx, const char *const *args)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  g_strv_builder_add (builder, fx->weft);
  for (guint i = 0; args[i] != NULL; i++)
    {
      g_strv_builder_add (builder, args[i]);
      if (i == 0 && args[i][0] != '-' && strcmp (args[i], "help") != 0)
        g_strv_builder_add_many (builder, "--plugin-dir", fx->plugin_dir, NULL);
    }
  return g_strv_builder_end (builder);
}

/* Runs `weft ARGS...`; keeps stdout and stderr in the fixture. */
static int
run_weft (Fixture *fx, const char *const *args)
{
  g_auto(GStrv) argv = weft_argv (fx, args);

  return weft_test_run_command ((const char * const *) argv, &fx->out, &fx->err);
}

/* ---- usage ---------------------------------------------------------------- */

static void
test_usage (Fixture *fx, gconstpointer data)
{
  g_assert_cmpint (run_weft (fx, (const char *[]) { "--version", NULL }), ==, 0);
  g_assert_true (g_str_has_prefix (fx->out, "weft "));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "--help", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "validate"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "help", "run", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "--input"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--help", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "--callback"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "frobnicate", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "frobnicate"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", NULL }), ==, 2);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--no-such-option", "x", NULL }), ==, 2);
}

/* ---- run ------------------------------------------------------------------ */

static void
test_run_success (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, NULL }), ==, 0);
  /* Only b is final: a's output goes to b, not to stdout. */
  g_assert_cmpstr (fx->out, ==, "out:b\n");
  /* stderr is not a terminal: plain progress lines. */
  g_assert_nonnull (strstr (fx->err, "task a started"));
  g_assert_nonnull (strstr (fx->err, "task a completed"));
  g_assert_nonnull (strstr (fx->err, "task b completed"));
  g_assert_nonnull (strstr (fx->err, "run completed"));
  g_assert_null (strstr (fx->err, "\033["));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--quiet", flow, NULL }), ==, 0);
  g_assert_cmpstr (fx->out, ==, "out:b\n");
  g_assert_cmpstr (fx->err, ==, "");
}

static void
test_run_inputs (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "one.json", single_flow);
  g_autofree char *inputs = write_file (fx, "inputs.json", "{\"topic\": \"file\"}");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, NULL }), ==, 0);
  g_assert_cmpstr (fx->out, ==, "out:about AI\n");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--input", "topic=weft", NULL }), ==, 0);
  g_assert_cmpstr (fx->out, ==, "out:about weft\n");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-json", inputs, NULL }), ==, 0);
  g_assert_cmpstr (fx->out, ==, "out:about file\n");

  /* --input wins over --inputs-json; a later --input wins. */
  g_assert_cmpint (run_weft (fx, (const char *[]) {
      "run", flow, "--inputs-json", "{\"topic\": \"inline\"}",
      "--input", "topic=first", "--input", "topic=last", NULL }), ==, 0);
  g_assert_cmpstr (fx->out, ==, "out:about last\n");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--input", "novalue", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "novalue"));
}

/* A misspelt input is refused, not ignored: libweft says what the flow
 * takes and what it may have meant; the command line, where to fix it. */
static void
test_run_unknown_input (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "one.json", single_flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--input", "topc=robots",
                                                    NULL }), ==, 2);
  g_assert_cmpstr (fx->out, ==, "");
  weft_test_assert_contains (fx->err, "one.json: unknown input \"topc\" (did you mean \"topic\"? "
                                      "the flow takes: topic; fix its name in --input or "
                                      "--inputs-json)\n");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-json",
                                                    "{\"topic\": \"x\", \"tpoic\": \"y\"}",
                                                    NULL }), ==, 2);
  weft_test_assert_contains (fx->err, "unknown input \"tpoic\" (did you mean \"topic\"?");
}

static JsonObject *
find_task (JsonArray *tasks, const char *name)
{
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);

      if (g_strcmp0 (json_object_get_string_member (task, "name"), name) == 0)
        return task;
    }
  return NULL;
}

static void
test_run_json (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *root;
  JsonArray *tasks;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--json", flow, NULL }), ==, 0);
  json_parser_load_from_data (parser, fx->out, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "status"), ==, "completed");
  tasks = json_object_get_array_member (root, "tasks");
  g_assert_cmpuint (json_array_get_length (tasks), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *task = find_task (tasks, i == 0 ? "a" : "b");

      g_assert_nonnull (task);
      g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "completed");
    }
}

static void
test_run_failure (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "fails.json", failing_flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, NULL }), ==, 1);
  g_assert_nonnull (strstr (fx->err, "task broken failed"));
  g_assert_nonnull (strstr (fx->err, "after"));
  /* The independent branch finished and is a final output. */
  g_assert_nonnull (strstr (fx->out, "fine"));
}

/* How often `needle` occurs in `haystack`. */
static guint
count_occurrences (const char *haystack, const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (haystack, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* A failure is reported once, with its task's name: as it happens, or at
 * the end under --quiet. */
static void
test_run_failure_once (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "fails.json", failing_flow);
  const char *why = "command \"false\" exited with status 1";

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, NULL }), ==, 1);
  g_assert_cmpuint (count_occurrences (fx->err, why), ==, 1);
  weft_test_assert_contains (fx->err, "task broken failed after 1 attempt: command");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--quiet", flow, NULL }), ==, 1);
  g_assert_cmpuint (count_occurrences (fx->err, why), ==, 1);
  weft_test_assert_contains (fx->err, "weft: task broken failed after 1 attempt: command");
  weft_test_assert_contains (fx->err, "weft: not run: after");
}

/* --quiet drops what callbacks write to the terminal, not to a file. */
static void
test_run_quiet_callbacks (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);
  g_autofree char *log = g_build_filename (fx->dir, "events.log", NULL);
  g_autofree char *to_file = g_strdup_printf ("log:path=%s", log);
  g_autofree char *logged = NULL;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--callback", "log", NULL }),
                   ==, 0);
  weft_test_assert_contains (fx->err, " t ");
  weft_test_assert_contains (fx->err, "task b completed in ");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--json", "--quiet", flow,
                                                    "--callback", "log", NULL }), ==, 0);
  g_assert_cmpstr (fx->err, ==, "");
  weft_test_assert_contains (fx->out, "\"status\" : \"completed\"");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "--quiet", flow,
                                                    "--callback", to_file, NULL }), ==, 0);
  g_assert_cmpstr (fx->err, ==, "");
  g_assert_true (g_file_get_contents (log, &logged, NULL, NULL));
  weft_test_assert_contains (logged, "task b completed in ");
}

/* tests/term/tools.json: tool calls and streamed text, no key. */
static char *
tools_flow_path (void)
{
  return g_build_filename (g_getenv ("WEFT_SOURCE_ROOT"), "tests", "term", "tools.json", NULL);
}

static int
run_tools_flow (Fixture *fx, const char *option)
{
  g_autofree char *flow = tools_flow_path ();
  g_autofree char *test_plugins = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "tests",
                                                    "plugins", "good", NULL);

  return run_weft (fx, (const char *[]) { "run", "-P", test_plugins, flow, option, NULL });
}

/* --verbose off a terminal: the trace, streamed text as text. */
static void
test_run_verbose (Fixture *fx, gconstpointer data)
{
  g_assert_cmpint (run_tools_flow (fx, "--verbose"), ==, 0);
  weft_test_assert_contains (fx->err, "] run ");
  weft_test_assert_contains (fx->err, "] task gather started (agent caller)\n");
  for (guint i = 0; i < 4; i++)
    {
      const char *tool = i < 2 ? "lookup" : "fetch";
      g_autofree char *call = g_strdup_printf ("] task gather calls tool %s with {\"n\":%u}\n",
                                               tool, i);
      g_autofree char *result = g_strdup_printf ("] task gather: tool %s returned: %s n=%u ",
                                                 tool, tool, i);
      weft_test_assert_contains (fx->err, call);
      weft_test_assert_contains (fx->err, result);
    }
  weft_test_assert_contains (fx->err, "] task gather completed (");
  weft_test_assert_contains (fx->err, "), its answer:\n    lookup n=0 ");
  weft_test_assert_contains (fx->err, "] task summary writes:\n"
                                      "    Streamed words arrive one by one,\n"
                                      "    and stay as text in the scrollback.\n");
  g_assert_null (strstr (fx->err, "chunk"));
  g_assert_null (strstr (fx->err, "\033["));

  /* Without it: a line per tool call, none per streamed chunk. */
  g_assert_cmpint (run_tools_flow (fx, NULL), ==, 0);
  weft_test_assert_contains (fx->err, "] task gather calls tool lookup with {\"n\":0}");
  g_assert_null (strstr (fx->err, "Streamed"));
  g_assert_null (strstr (fx->err, "chunk"));

  g_assert_cmpint (run_tools_flow (fx, "--quiet"), ==, 0);
  g_assert_cmpstr (fx->err, ==, "");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "-q", "-v", "x.json", NULL }), ==, 2);
  weft_test_assert_contains (fx->err, "give --quiet or --verbose, not both");
}

static void
test_run_bad_flow (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "bad.json", unknown_agent_flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, NULL }), ==, 2);
  g_assert_true (g_str_has_prefix (fx->err, "weft: "));
  g_assert_nonnull (strstr (fx->err, "bad.json"));
  g_assert_nonnull (strstr (fx->err, "$.tasks[0].agent"));
  g_assert_cmpstr (fx->out, ==, "");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", "no-such-flow.json", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "no-such-flow.json"));
}

static void
test_run_callback_log (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);
  g_autofree char *log = g_build_filename (fx->dir, "events.jsonl", NULL);
  g_autofree char *spec = g_strdup_printf ("log:format=jsonl,path=%s", log);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  guint n_events = 0;
  gboolean saw_end = FALSE;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--callback", spec, NULL }), ==, 0);
  g_assert_true (g_file_get_contents (log, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonNode) node = NULL;
      g_autoptr(GError) error = NULL;

      if (lines[i][0] == '\0')
        continue;
      node = json_from_string (lines[i], &error);
      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
      n_events++;
      saw_end |= strstr (lines[i], "run.completed") != NULL;
    }
  /* run.started, 2 × (task.started, task.completed), run.completed */
  g_assert_cmpuint (n_events, >=, 6);
  g_assert_true (saw_end);
}

/* One template task that needs the inputs topic and who. */
static const char *const each_flow =
  "{\"name\": \"each\","
  " \"agents\": {\"w\": {\"plugin\": \"template\", \"template\": \"out:{prompt}\"}},"
  " \"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": \"{topic} by {who}\"}]}";

/* Never two runs in flight at once, by the order of their events. */
static void
assert_one_run_at_a_time (const char *log, guint n_runs)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  guint open = 0, started = 0;

  g_assert_true (g_file_get_contents (log, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonNode) node = lines[i][0] ? json_from_string (lines[i], NULL) : NULL;
      const char *type = node ? json_object_get_string_member (json_node_get_object (node),
                                                               "type") : NULL;
      if (g_strcmp0 (type, "run.started") == 0)
        {
          started++;
          g_assert_cmpuint (++open, ==, 1);
        }
      else if (type != NULL && g_str_has_prefix (type, "run."))
        open--;
    }
  g_assert_cmpuint (started, ==, n_runs);
  g_assert_cmpuint (open, ==, 0);
}

/* --inputs-file: a run per line (blank lines skipped), answers in line
 * order, --input over every line; --max-parallel 1 runs one at a time; a
 * bad or incomplete line refuses the batch before any run starts. */
static void
test_run_inputs_file (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "each.json", each_flow);
  g_autofree char *inputs = write_file (fx, "in.jsonl",
                                        "{\"topic\": \"one\"}\n\n{\"topic\": \"two\"}\n"
                                        "{\"topic\": \"three\", \"who\": \"me\"}\n");
  g_autofree char *bad = write_file (fx, "bad.jsonl", "{\"topic\": \"ok\"}\n[1]\n");
  g_autofree char *missing = write_file (fx, "missing.jsonl",
                                         "{\"topic\": \"ok\"}\n{\"other\": \"x\"}\n");
  g_autofree char *log = g_build_filename (fx->dir, "events.jsonl", NULL);
  g_autofree char *spec = g_strdup_printf ("log:format=jsonl,path=%s", log);
  g_auto(GStrv) rows = NULL;
  guint n = 0;

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-file", inputs,
                                                    "--input", "who=cli", NULL }), ==, 0);
  const char *one = strstr (fx->out, "== line 1: completed ==\nout:one by cli\n");
  const char *two = strstr (fx->out, "== line 3: completed ==\nout:two by cli\n");
  const char *three = strstr (fx->out, "== line 4: completed ==\nout:three by cli\n");
  g_assert_true (one != NULL && two != NULL && three != NULL);
  g_assert_true (one < two && two < three);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-file", inputs,
                                                    "--input", "who=x", "--json", "--quiet",
                                                    "--max-parallel", "1", "--callback", spec,
                                                    NULL }), ==, 0);
  rows = g_strsplit (fx->out, "\n", -1);
  for (guint i = 0; rows[i] != NULL; i++)
    {
      if (rows[i][0] == '\0')
        continue;
      g_autoptr(JsonNode) node = json_from_string (rows[i], NULL);
      g_assert_nonnull (node);
      JsonObject *o = json_node_get_object (node);
      static const gint64 expected_lines[] = { 1, 3, 4 };
      g_assert_cmpuint (n, <, G_N_ELEMENTS (expected_lines));
      g_assert_cmpint (json_object_get_int_member (o, "line"), ==, expected_lines[n++]);
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "completed");
    }
  g_assert_cmpuint (n, ==, 3);
  assert_one_run_at_a_time (log, 3);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-file", bad,
                                                    "--input", "who=x", NULL }), ==, 2);
  weft_test_assert_contains (fx->err, "bad.jsonl:2:");
  g_assert_cmpstr (fx->out, ==, "");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-file", missing,
                                                    "--input", "who=x", NULL }), ==, 2);
  weft_test_assert_contains (fx->err, "missing.jsonl:2:");
  weft_test_assert_contains (fx->err, "missing input \"topic\"");
  g_assert_cmpstr (fx->out, ==, "");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--inputs-file", inputs,
                                                    "--inputs-json", "{}", NULL }), ==, 2);
  g_assert_cmpint (run_weft (fx, (const char *[]) { "run", flow, "--max-parallel", "2",
                                                    NULL }), ==, 2);
}

static void
test_run_callback_errors (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);

  /* max_output is an int: the CLI checks the text before the core sees it. */
  g_assert_cmpint (run_weft (fx, (const char *[]) {
      "run", flow, "--callback", "log:max_output=lots", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "max_output"));

  /* An unknown option is left for the core, which names it. */
  g_assert_cmpint (run_weft (fx, (const char *[]) {
      "run", flow, "--callback", "log:colour=blue", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "colour"));

  g_assert_cmpint (run_weft (fx, (const char *[]) {
      "run", flow, "--callback", "no-such-plugin", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "no-such-plugin"));
}

/* Reads stderr lines until one contains `needle`; FALSE at end of file. */
static gboolean
read_until (GDataInputStream *in, const char *needle)
{
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (in, NULL, NULL, NULL);

      if (line == NULL)
        return FALSE;
      g_test_message ("stderr: %s", line);
      if (strstr (line, needle) != NULL)
        return TRUE;
    }
}

/* SIGINT or SIGTERM cancels the run, and every event raised until then
 * still reaches the callbacks before the process exits. */
static void
test_run_signal (Fixture *fx, int signum)
{
  g_autofree char *flow = write_file (fx, "slow.json", slow_flow);
  g_autofree char *dir = g_path_get_dirname (flow);
  g_autofree char *events = g_build_filename (dir, "events.jsonl", NULL);
  g_autofree char *spec = g_strdup_printf ("log:format=jsonl,path=%s", events);
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "run", flow, "--callback", spec, NULL });
  g_autofree char *logged = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  gint64 signalled_us;

  proc = g_subprocess_newv ((const char * const *) argv,
                            G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (proc));

  g_assert_true (read_until (err, "task nap started"));
  signalled_us = g_get_monotonic_time ();
  g_subprocess_send_signal (proc, signum);
  read_until (err, "\001");   /* to the end of stderr */
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpint (weft_test_exit_status (proc), ==, 130);
  /* Far less than the 30 s the task would have taken. */
  g_assert_cmpint (g_get_monotonic_time () - signalled_us, <, 20 * G_USEC_PER_SEC);

  /* run.started, task.started, task.cancelled, run.cancelled. */
  g_assert_true (g_file_get_contents (events, &logged, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (g_strchomp (logged), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_nonnull (strstr (lines[2], "\"type\":\"task.cancelled\""));
  g_assert_nonnull (strstr (lines[2], "\"error\":\"cancelled\""));
  g_assert_nonnull (strstr (lines[3], "\"type\":\"run.cancelled\""));
  g_assert_nonnull (strstr (lines[3], "\"seq\":4"));
  g_unlink (events);
}

static void
test_run_sigint (Fixture *fx, gconstpointer data)
{
  test_run_signal (fx, SIGINT);
}

static void
test_run_sigterm (Fixture *fx, gconstpointer data)
{
  test_run_signal (fx, SIGTERM);
}

/* SIGINT during a batch: the run in flight is cancelled, those not started
 * yet end at once as cancelled, and every line still gets its answer. */
static void
test_run_inputs_file_sigint (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "slow.json", slow_flow);
  g_autofree char *inputs = write_file (fx, "three.jsonl", "{}\n{}\n{}\n");
  g_autofree char *events = g_build_filename (fx->dir, "events.jsonl", NULL);
  g_autofree char *spec = g_strdup_printf ("log:format=jsonl,path=%s", events);
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "run", flow, "--inputs-file", inputs,
                                                         "--max-parallel", "1", "--callback",
                                                         spec, NULL });
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *out = NULL;

  proc = g_subprocess_newv ((const char * const *) argv,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                            &error);
  g_assert_no_error (error);
  /* A batch prints no per-event progress: the log says when the first
   * run's task has started. */
  for (;;)
    {
      g_autofree char *logged = NULL;
      if (g_file_get_contents (events, &logged, NULL, NULL) && strstr (logged, "task.started"))
        break;
      g_usleep (20 * G_TIME_SPAN_MILLISECOND);
    }
  g_subprocess_send_signal (proc, SIGINT);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_test_exit_status (proc), ==, 130);
  for (guint line = 1; line <= 3; line++)
    {
      g_autofree char *section = g_strdup_printf ("== line %u: cancelled ==", line);
      weft_test_assert_contains (out, section);
    }
}

/* ---- validate, graph, plugins ---------------------------------------------- */

static void
test_validate (Fixture *fx, gconstpointer data)
{
  g_autofree char *good = write_file (fx, "chain.json", chain_flow);
  g_autofree char *bad = write_file (fx, "bad.json", unknown_agent_flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "validate", good, NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "chain.json: ok"));
  g_assert_nonnull (strstr (fx->out, "2 tasks"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "validate", bad, NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "bad.json"));
  g_assert_nonnull (strstr (fx->err, "$.tasks[0].agent"));
}

/* CrewAI's habit, "async" without "process": "sequential", and an agent's
 * template naming a task its task does not receive: both refused by
 * `weft validate`, in libweft's words. */
static void
test_validate_mistakes (Fixture *fx, gconstpointer data)
{
  g_autofree char *crew = write_file (fx, "crew.json",
    "{\"name\": \"crew\", \"agents\": {\"w\": {\"plugin\": \"template\","
    " \"template\": \"{context.ideas}\"}},"
    " \"tasks\": [{\"name\": \"ideas\", \"agent\": \"w\", \"description\": \"d\","
    "              \"async\": true}]}");
  g_autofree char *context = write_file (fx, "context.json",
    "{\"name\": \"c\", \"agents\": {\"w\": {\"plugin\": \"template\","
    " \"template\": \"{context.nope}\"}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"w\", \"description\": \"d\"}]}");

  g_assert_cmpint (run_weft (fx, (const char *[]) { "validate", crew, NULL }), ==, 2);
  weft_test_assert_contains (fx->err, "crew.json: $.tasks[0].async: only a \"sequential\" flow "
                                      "runs tasks async");
  weft_test_assert_contains (fx->err, "set \"process\": \"sequential\"");
  g_assert_cmpint (run_weft (fx, (const char *[]) { "validate", context, NULL }), ==, 2);
  weft_test_assert_contains (fx->err, "context.json: $.agents.w: option \"template\": "
                                      "{context.nope}: there is no task \"nope\"");
}

static void
test_graph (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);

  g_assert_cmpint (run_weft (fx, (const char *[]) { "graph", flow, NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "digraph"));
  g_assert_nonnull (strstr (fx->out, "a"));
  g_assert_nonnull (strstr (fx->out, "b"));
  g_assert_nonnull (strstr (fx->out, "->"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "graph", "-T", "mermaid", flow, NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "-->"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "graph", "-T", "gif", flow, NULL }), ==, 2);
}

/* `weft graph -T FORMAT FLOW` with PATH set to `path`; its stdout as bytes. */
static GBytes *
graph_drawn (Fixture *fx, const char *flow, const char *format, const char *path, int *status)
{
  g_auto(GStrv) argv = weft_argv (fx, (const char *[]) { "graph", "-T", format, flow, NULL });
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) err = NULL;
  GBytes *out = NULL;

  g_subprocess_launcher_setenv (launcher, "PATH", path, TRUE);
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv (launcher,
                                                              (const char * const *) argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_clear_pointer (&fx->err, g_free);
  fx->err = g_strndup (g_bytes_get_data (err, NULL), g_bytes_get_size (err));
  *status = weft_test_exit_status (proc);
  return out;
}

/* svg and png are drawn by Graphviz's dot (.ci/install-deps installs it);
 * without dot on PATH the command says what is missing. */
static void
test_graph_drawn (Fixture *fx, gconstpointer data)
{
  g_autofree char *flow = write_file (fx, "chain.json", chain_flow);
  g_autofree char *dot = g_find_program_in_path ("dot");
  int status;

  if (dot == NULL)
    {
      g_test_fail_printf ("Graphviz's dot is not on PATH (.ci/install-deps installs it)");
      return;
    }
  g_autoptr(GBytes) svg = graph_drawn (fx, flow, "svg", g_getenv ("PATH"), &status);
  g_assert_cmpint (status, ==, 0);
  g_autofree char *svg_text = g_strndup (g_bytes_get_data (svg, NULL), g_bytes_get_size (svg));
  weft_test_assert_contains (svg_text, "<svg");
  weft_test_assert_contains (svg_text, ">a</text>");
  weft_test_assert_contains (svg_text, ">b</text>");

  g_autoptr(GBytes) png = graph_drawn (fx, flow, "png", g_getenv ("PATH"), &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpuint (g_bytes_get_size (png), >, 8);
  g_assert_cmpmem (g_bytes_get_data (png, NULL), 8, "\x89PNG\r\n\x1a\n", 8);

  g_autoptr(GBytes) none = graph_drawn (fx, flow, "svg", fx->dir, &status);
  g_assert_cmpint (status, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (none), ==, 0);
  weft_test_assert_contains (fx->err, "needs Graphviz's dot program");
}

static void
test_plugins (Fixture *fx, gconstpointer data)
{
  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "template"));
  g_assert_nonnull (strstr (fx->out, "exec"));
  g_assert_nonnull (strstr (fx->out, "log"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", "template", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "delay_ms"));
  g_assert_nonnull (strstr (fx->out, "int"));

  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", "no-such-plugin", NULL }), ==, 2);
  g_assert_nonnull (strstr (fx->err, "no-such-plugin"));
  g_assert_nonnull (strstr (fx->err, "template"));
}

/* `weft plugins` and `weft plugins NAME` fit in 100 columns (a line of one
 * word, a long path, aside), and show what an option takes: its range, its
 * choices, whether it may be empty. */
static void
assert_fits_100_columns (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *trimmed = g_strstrip (g_strdup (lines[i]));
      if (g_utf8_strlen (lines[i], -1) > 100 && strchr (trimmed, ' ') != NULL)
        g_error ("a line of %ld columns: %s", g_utf8_strlen (lines[i], -1), lines[i]);
    }
}

static void
test_plugins_width (Fixture *fx, gconstpointer data)
{
  const char *names[] = { "exec", "noop", "openai", "template", "http-get", "log", "sqlite",
                          "webhook" };

  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", NULL }), ==, 0);
  assert_fits_100_columns (fx->out);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", names[i], NULL }), ==, 0);
      assert_fits_100_columns (fx->out);
    }
  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", "template", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "delay_ms (int, 0 to 2147483647; default 0)"));
  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", "log", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "format (string, one of: text, jsonl; default \"text\")"));
  g_assert_cmpint (run_weft (fx, (const char *[]) { "plugins", "sqlite", NULL }), ==, 0);
  g_assert_nonnull (strstr (fx->out, "path (string, not empty; default \"weft.db\")"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/cli/usage", test_usage);
  ADD ("/cli/run/success", test_run_success);
  ADD ("/cli/run/inputs", test_run_inputs);
  ADD ("/cli/run/unknown-input", test_run_unknown_input);
  ADD ("/cli/run/inputs-file", test_run_inputs_file);
  ADD ("/cli/run/inputs-file-sigint", test_run_inputs_file_sigint);
  ADD ("/cli/run/json", test_run_json);
  ADD ("/cli/run/failure", test_run_failure);
  ADD ("/cli/run/failure-once", test_run_failure_once);
  ADD ("/cli/run/quiet-callbacks", test_run_quiet_callbacks);
  ADD ("/cli/run/verbose", test_run_verbose);
  ADD ("/cli/run/bad-flow", test_run_bad_flow);
  ADD ("/cli/run/callback-log", test_run_callback_log);
  ADD ("/cli/run/callback-errors", test_run_callback_errors);
  ADD ("/cli/run/sigint", test_run_sigint);
  ADD ("/cli/run/sigterm", test_run_sigterm);
  ADD ("/cli/validate", test_validate);
  ADD ("/cli/validate-mistakes", test_validate_mistakes);
  ADD ("/cli/graph", test_graph);
  ADD ("/cli/graph-drawn", test_graph_drawn);
  ADD ("/cli/plugins", test_plugins);
  ADD ("/cli/plugins-width", test_plugins_width);
#undef ADD

  return g_test_run ();
}
