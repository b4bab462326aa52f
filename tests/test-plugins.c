/* test-plugins.c — the exec and template agents and the log callback, run
 * through real flows on a real engine with the build tree's plugins. */
#include "weft-test.h"

#include <glib/gstdio.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  WeftEngine *engine;
  char *tmpdir;
} Fixture;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  WeftRegistry *registry;

  f->engine = weft_engine_new (GPOINTER_TO_UINT (data) != 0 ? GPOINTER_TO_UINT (data) : 2);
  g_assert_true (weft_engine_load_plugins (f->engine, NULL, warnings, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < warnings->len; i++)
    g_test_message ("plugin warning: %s", (const char *) warnings->pdata[i]);

  registry = weft_engine_get_registry (f->engine);
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "exec"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "template"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK, "log"));

  f->tmpdir = g_dir_make_tmp ("weft-test-plugins-XXXXXX", &error);
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

/* JSON written with single quotes, which read better in C strings. */
static char *
flow_json (const char *format, ...) G_GNUC_PRINTF (1, 2);

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

static WeftFlow *
load_flow (Fixture *f, const char *json)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (f->engine, json, -1, "test", &error);

  g_assert_no_error (error);
  g_assert_nonnull (flow);
  return flow;
}

/* Loading must fail; returns the message. */
static char *
load_error (Fixture *f, const char *json)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (f->engine, json, -1, "test", &error);

  g_assert_null (flow);
  g_assert_nonnull (error);
  g_test_message ("load error: %s", error->message);
  return g_strdup (error->message);
}

static WeftRun *
run_flow (WeftFlow *flow, const char *inputs_json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) inputs = NULL;
  WeftRun *run;

  if (inputs_json != NULL)
    {
      inputs = json_from_string (inputs_json, &error);
      g_assert_no_error (error);
    }
  run = weft_flow_kickoff (flow, inputs != NULL ? json_node_get_object (inputs) : NULL,
                           NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (run);
  return run;
}

static guint
task_index (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    if (g_str_equal (weft_flow_get_task_name (flow, i), name))
      return i;
  g_assert_not_reached ();
}

static const char *
task_output (WeftRun *run, const char *name)
{
  guint i = task_index (weft_run_get_flow (run), name);

  g_assert_cmpstr (weft_status_to_string (weft_run_get_task_status (run, i)), ==,
                   weft_status_to_string (WEFT_STATUS_COMPLETED));
  return weft_run_get_task_output (run, i);
}

/* The task must have failed (or been cancelled); returns its error message. */
static const char *
task_error (WeftRun *run, const char *name)
{
  guint i = task_index (weft_run_get_flow (run), name);
  WeftStatus status = weft_run_get_task_status (run, i);
  const GError *error = weft_run_get_task_error (run, i);

  g_assert_true (status == WEFT_STATUS_FAILED || status == WEFT_STATUS_CANCELLED);
  g_assert_nonnull (error);
  g_test_message ("task %s: %s", name, error->message);
  return error->message;
}

/* A one-task flow with an exec agent configured by `agent_options` (JSON
 * members without braces), run with `inputs_json`. */
static WeftRun *
run_exec (Fixture *f, const char *agent_options, const char *description,
          const char *inputs_json)
{
  g_autofree char *json = flow_json (
    "{'name': 'exec-test', 'agents': {'a': {'plugin': 'exec', %s}},"
    " 'tasks': [{'name': 't', 'agent': 'a', 'description': '%s'}]}",
    agent_options, description);
  g_autoptr(WeftFlow) flow = load_flow (f, json);

  return run_flow (flow, inputs_json);
}

static char *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* The lines of a file that ends each line with "\n".  Read right after the
 * last weft_flow_unref(), which drains every callback queue before it
 * returns: nothing may be missing. */
static GStrv
read_lines (const char *path)
{
  g_autofree char *contents = NULL;
  gsize len;

  contents = read_file (path);
  len = strlen (contents);

  g_assert_true (len > 0 && contents[len - 1] == '\n');
  contents[len - 1] = '\0';
  return g_strsplit (contents, "\n", -1);
}

static gboolean
process_is_reaped (gint64 pid)
{
  return kill ((pid_t) pid, 0) != 0 && errno == ESRCH;
}

/* Gone, or a zombie that is not ours (some container inits never reap). */
static gboolean
process_is_dead (gint64 pid)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/stat", pid);
  g_autofree char *stat = NULL;
  const char *end;

  if (process_is_reaped (pid))
    return TRUE;
  if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
    return TRUE;
  end = strrchr (stat, ')');
  return end != NULL && end[1] == ' ' && end[2] == 'Z';
}

static gint64
read_pid (const char *path)
{
  g_autofree char *text = read_file (path);

  return g_ascii_strtoll (text, NULL, 10);
}

/* ------------------------------------------------------------------------ */
/* exec                                                                     */

static void
test_exec_stdin_prompt (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run = run_exec (f, "'command': ['tr', 'a-z', 'A-Z']",
                                     "Hello {who}", "{\"who\": \"world\"}");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (task_output (run, "t"), ==, "HELLO WORLD");
}

static void
test_exec_trailing_newline (Fixture *f, gconstpointer data)
{
  /* printf turns the JSON's \\n into a newline: only the last one goes. */
  g_autoptr(WeftRun) run = run_exec (f, "'command': ['printf', 'x\\\\n\\\\n'], 'stdin': 'none'",
                                     "ignored", NULL);

  g_assert_cmpstr (task_output (run, "t"), ==, "x\n");
}

static void
test_exec_stdin_json (Fixture *f, gconstpointer data)
{
  g_autofree char *json = flow_json (
    "{'name': 'exec-json', 'inputs': {'n': 0, 'nested': {}},"
    " 'agents': {'first': {'plugin': 'template', 'template': 'A-out'},"
    "            'cat': {'plugin': 'exec', 'command': ['cat'], 'stdin': 'json'}},"
    " 'tasks': [{'name': 'a', 'agent': 'first', 'description': 'first'},"
    "           {'name': 'b', 'agent': 'cat', 'description': 'Hi {who}', 'context': ['a']}]}");
  g_autoptr(WeftFlow) flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, "{\"who\": \"world\", \"n\": 3,"
                                           " \"nested\": {\"k\": [1, true, null]}}");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (task_output (run, "b"), &error);
  JsonObject *root, *inputs, *context;

  g_assert_no_error (error);
  root = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (root, "task"), ==, "b");
  g_assert_cmpstr (json_object_get_string_member (root, "prompt"), ==, "Hi world");
  g_assert_cmpint (json_object_get_int_member (root, "attempt"), ==, 1);

  inputs = json_object_get_object_member (root, "inputs");
  g_assert_cmpstr (json_object_get_string_member (inputs, "who"), ==, "world");
  g_assert_cmpint (json_object_get_int_member (inputs, "n"), ==, 3);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (
                      json_object_get_object_member (inputs, "nested"), "k")), ==, 3);

  context = json_object_get_object_member (root, "context");
  g_assert_cmpuint (json_object_get_size (context), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (context, "a"), ==, "A-out");
}

static void
test_exec_stdin_none (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run = run_exec (f, "'command': ['cat'], 'stdin': 'none'", "not read", NULL);

  g_assert_cmpstr (task_output (run, "t"), ==, "");
}

/* A command that exits without reading a large stdin must neither block
 * nor bring the engine down with SIGPIPE. */
static void
test_exec_unread_stdin (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) inputs = g_string_new ("{\"big\": \"");
  g_autoptr(WeftRun) run = NULL;

  for (guint i = 0; i < 1024 * 1024 / 8; i++)
    g_string_append (inputs, "abcdefgh");
  g_string_append (inputs, "\"}");
  run = run_exec (f, "'command': ['true']", "{big}", inputs->str);
  g_assert_cmpstr (task_output (run, "t"), ==, "");
}

static void
test_exec_large_output (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run = run_exec (f, "'command': ['yes | head -c 1000000'], 'shell': true",
                                     "x", NULL);

  /* 500000 "y\n" lines, the last newline stripped. */
  g_assert_cmpuint (strlen (task_output (run, "t")), ==, 999999);
}

static void
test_exec_env_cwd (Fixture *f, gconstpointer data)
{
  g_autofree char *options = flow_json ("'command': ['pwd'], 'cwd': '%s'", f->tmpdir);
  g_autoptr(WeftRun) env_run =
    run_exec (f, "'command': ['printenv', 'WEFT_TEST_VAR'], 'env': {'WEFT_TEST_VAR': 'from env'}",
              "x", NULL);
  g_autoptr(WeftRun) inherit_run =
    run_exec (f, "'command': ['printenv', 'WEFT_TEST_INHERITED']", "x", NULL);
  g_autoptr(WeftRun) clean_run =
    run_exec (f, "'command': ['env'], 'inherit_env': false, 'env': {'ONLY': '1'}", "x", NULL);
  g_autoptr(WeftRun) cwd_run = run_exec (f, options, "x", NULL);
  g_autofree char *real_tmpdir = realpath (f->tmpdir, NULL);

  g_assert_cmpstr (task_output (env_run, "t"), ==, "from env");
  g_assert_cmpstr (task_output (inherit_run, "t"), ==, "inherited");
  g_assert_cmpstr (task_output (clean_run, "t"), ==, "ONLY=1");
  g_assert_cmpstr (task_output (cwd_run, "t"), ==, real_tmpdir);
}

static void
test_exec_failure (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run =
    run_exec (f, "'command': ['sh', '-c', 'echo std$((1 + 1))out; echo it went wrong >&2; exit 3']",
              "x", NULL);
  g_autoptr(WeftRun) killed = run_exec (f, "'command': ['sh', '-c', 'kill -TERM $$$$']", "x", NULL);
  const char *message;

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_FAILED);
  g_assert_cmpint (weft_run_get_task_status (run, 0), ==, WEFT_STATUS_FAILED);
  message = task_error (run, "t");
  g_assert_nonnull (strstr (message, "exited with status 3"));
  g_assert_nonnull (strstr (message, "it went wrong"));
  g_assert_nonnull (strstr (message, "sh -c"));
  g_assert_null (strstr (message, "std2out"));   /* stdout is not the error */

  message = task_error (killed, "t");
  g_assert_nonnull (strstr (message, "killed by signal 15"));
}

static void
test_exec_long_stderr (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run =
    run_exec (f, "'command': ['yes FIRST | head -c 20000 >&2; echo LAST >&2; exit 1'], 'shell': true",
              "x", NULL);
  const char *message = task_error (run, "t");

  g_assert_cmpuint (strlen (message), <, 4096 + 200);
  g_assert_nonnull (strstr (message, "…"));
  g_assert_true (g_str_has_suffix (message, "LAST"));
}

static void
test_exec_shell (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run =
    run_exec (f, "'command': ['read line; echo \\\"$line\\\" | tr a-z A-Z; echo $((6 * 7))'], 'shell': true",
              "shell {who}", "{\"who\": \"me\"}");
  g_autofree char *two = flow_json (
    "{'name': 'x', 'agents': {'a': {'plugin': 'exec', 'command': ['echo', 'hi'], 'shell': true}},"
    " 'tasks': [{'name': 't', 'agent': 'a', 'description': 'x'}]}");
  g_autofree char *message = load_error (f, two);

  g_assert_cmpstr (task_output (run, "t"), ==, "SHELL ME\n42");
  g_assert_nonnull (strstr (message, "option \"command\""));
  g_assert_nonnull (strstr (message, "exactly one element"));
}

static void
test_exec_not_found (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftRun) run = run_exec (f, "'command': ['weft-no-such-program', '--flag']", "x", NULL);
  g_autoptr(WeftRun) bad_cwd = run_exec (f, "'command': ['true'], 'cwd': '/nonexistent/weft-dir'",
                                         "x", NULL);
  const char *message = task_error (run, "t");

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_FAILED);
  g_assert_nonnull (strstr (message, "weft-no-such-program --flag"));
  g_assert_nonnull (strstr (message, "could not start"));
  g_assert_nonnull (strstr (task_error (bad_cwd, "t"), "could not start"));
}

static void
test_exec_timeout (Fixture *f, gconstpointer data)
{
  g_autofree char *json = flow_json (
    "{'name': 'slow', 'agents': {'a': {'plugin': 'exec', 'command': ['sleep', '10']}},"
    " 'tasks': [{'name': 't', 'agent': 'a', 'description': 'x', 'timeout_s': 0.3}]}");
  g_autoptr(WeftFlow) flow = load_flow (f, json);
  gint64 start = g_get_monotonic_time ();
  g_autoptr(WeftRun) run = run_flow (flow, NULL);
  gint64 elapsed = g_get_monotonic_time () - start;

  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (weft_run_get_status (run), !=, WEFT_STATUS_COMPLETED);
  task_error (run, "t");
}

/* A timeout kills what the command started too, and leaves no zombie. */
static void
test_exec_timeout_kills_group (Fixture *f, gconstpointer data)
{
  g_autofree char *shell_pid = tmp_path (f, "shell.pid");
  g_autofree char *sleep_pid = tmp_path (f, "sleep.pid");
  g_autofree char *json = flow_json (
    "{'name': 'slow', 'agents': {'a': {'plugin': 'exec', 'shell': true,"
    "  'command': ['echo $$$$ > %s; sleep 10 & echo $! > %s; wait']}},"
    " 'tasks': [{'name': 't', 'agent': 'a', 'description': 'x', 'timeout_s': 0.5}]}",
    shell_pid, sleep_pid);
  g_autoptr(WeftFlow) flow = load_flow (f, json);
  gint64 start = g_get_monotonic_time ();
  g_autoptr(WeftRun) run = run_flow (flow, NULL);
  gint64 elapsed = g_get_monotonic_time () - start;
  gint64 child, grandchild;

  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  task_error (run, "t");
  /* The engine ends a timed-out task at once, without waiting for the
   * agent's late return, so give the agent a moment to kill and reap. */
  child = read_pid (shell_pid);
  for (guint i = 0; i < 100 && !process_is_reaped (child); i++)
    g_usleep (20 * 1000);
  /* The shell is our child: reaped, not left a zombie. */
  g_assert_true (process_is_reaped (child));
  /* The sleep, reparented, was killed with the shell's process group. */
  grandchild = read_pid (sleep_pid);
  for (guint i = 0; i < 100 && !process_is_dead (grandchild); i++)
    g_usleep (20 * 1000);
  g_assert_true (process_is_dead (grandchild));
}

static void
test_exec_bad_options (Fixture *f, gconstpointer data)
{
  static const struct { const char *options; const char *expect[2]; } cases[] = {
    { "'command': ['cat'], 'stdin': 'xml'", { "option \"stdin\"", "\"xml\"" } },
    { "'command': []", { "option \"command\"", "empty" } },
    { "'command': ['env'], 'env': {'N': 3}", { "option \"env\"", "\"N\"" } },
    { "'command': ['env'], 'env': {'A=B': 'x'}", { "option \"env\"", "A=B" } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = flow_json (
        "{'name': 'bad', 'agents': {'a': {'plugin': 'exec', %s}},"
        " 'tasks': [{'name': 't', 'agent': 'a', 'description': 'x'}]}", cases[i].options);
      g_autofree char *message = load_error (f, json);

      g_assert_nonnull (strstr (message, cases[i].expect[0]));
      g_assert_nonnull (strstr (message, cases[i].expect[1]));
    }
}

/* ------------------------------------------------------------------------ */
/* template                                                                 */

static void
test_template_keys (Fixture *f, gconstpointer data)
{
  g_autofree char *json = flow_json (
    "{'name': 'tpl', 'inputs': {'n': 0, 'obj': {}},"
    " 'agents': {'echo': {'plugin': 'template'},"
    "            'all': {'plugin': 'template', 'template':"
    "              '{prompt}|{description}|{task}|{attempt}|{flow}|{run_id}|{input.who}|{input.n}"
    "|{input.obj}|{context.first}|{context}|{{literal}}'}},"
    " 'tasks': [{'name': 'first', 'agent': 'echo', 'description': 'one {who}'},"
    "           {'name': 'second', 'agent': 'echo', 'description': 'two'},"
    "           {'name': 'third', 'agent': 'all', 'description': 'Say {who}',"
    "            'context': ['first', 'second']}]}");
  g_autoptr(WeftFlow) flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, "{\"who\": \"world\", \"n\": 3, \"obj\": {\"a\": [1]}}");
  g_autofree char *expected = g_strdup_printf (
    "Say world|Say world|third|1|tpl|%s|world|3|{\"a\":[1]}|one world"
    "|first: one world\nsecond: two|{literal}", weft_run_get_id (run));

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  g_assert_cmpstr (task_output (run, "first"), ==, "one world");
  g_assert_cmpstr (task_output (run, "third"), ==, expected);
}

/* An unknown key is refused when the flow loads (WEFT_OPTION_TEMPLATE), not
 * when the task runs. */
static void
test_template_unknown_key (Fixture *f, gconstpointer data)
{
  g_autofree char *json = flow_json (
    "{'name': 'tpl', 'agents': {'a': {'plugin': 'template', 'template': 'x {nope} {context.ghost}'}},"
    " 'tasks': [{'name': 't', 'agent': 'a', 'description': 'x'}]}");
  g_autofree char *message = load_error (f, json);

  g_assert_nonnull (strstr (message, "$.agents.a: option \"template\": unknown key {nope}"));
}

static void
test_template_bad_options (Fixture *f, gconstpointer data)
{
  static const struct { const char *options; const char *expect[2]; } cases[] = {
    { "'template': 'x {unclosed'", { "option \"template\"", "placeholder" } },
    { "'delay_ms': -1", { "option \"delay_ms\"", "-1" } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = flow_json (
        "{'name': 'bad', 'agents': {'a': {'plugin': 'template', %s}},"
        " 'tasks': [{'name': 't', 'agent': 'a', 'description': 'x'}]}", cases[i].options);
      g_autofree char *message = load_error (f, json);

      g_assert_nonnull (strstr (message, cases[i].expect[0]));
      g_assert_nonnull (strstr (message, cases[i].expect[1]));
    }
}

/* Twenty delayed tasks on an engine with a single worker: they wait at the
 * same time because a delay holds no thread. */
static void
test_template_delay_overlaps (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) json = g_string_new (
    "{\"name\": \"slow\", \"agents\": {\"a\": {\"plugin\": \"template\", "
    "\"template\": \"done {task}\", \"delay_ms\": 300}}, \"tasks\": [");
  g_autoptr(WeftFlow) flow = NULL;
  g_autoptr(WeftRun) run = NULL;
  gint64 last_start = 0, first_finish = G_MAXINT64;

  for (guint i = 0; i < 20; i++)
    g_string_append_printf (json, "%s{\"name\": \"t%u\", \"agent\": \"a\", \"description\": \"x\"}",
                            i > 0 ? ", " : "", i);
  g_string_append (json, "]}");
  flow = load_flow (f, json->str);
  run = run_flow (flow, NULL);

  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("t%u", i);
      g_autofree char *expected = g_strdup_printf ("done t%u", i);
      gint64 started = weft_run_get_task_started_us (run, i);
      gint64 finished = weft_run_get_task_finished_us (run, i);

      g_assert_cmpstr (task_output (run, name), ==, expected);
      g_assert_cmpint (finished - started, >=, 290 * 1000);
      last_start = MAX (last_start, started);
      first_finish = MIN (first_finish, finished);
    }
  /* Every task started before any finished. */
  g_assert_cmpint (last_start, <, first_finish);
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (200 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_template_delay_cancel (Fixture *f, gconstpointer data)
{
  g_autofree char *json = flow_json (
    "{'name': 'slow', 'agents': {'a': {'plugin': 'template', 'delay_ms': 10000}},"
    " 'tasks': [{'name': 'timed', 'agent': 'a', 'description': 'x', 'timeout_s': 0.2},"
    "           {'name': 'cancelled', 'agent': 'a', 'description': 'x'}]}");
  g_autoptr(WeftFlow) flow = load_flow (f, json);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GThread) thread = g_thread_new ("cancel", cancel_later, cancellable);
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, cancellable, &error);
  gint64 elapsed = g_get_monotonic_time () - start;

  g_thread_join (g_steal_pointer (&thread));
  g_assert_no_error (error);
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (weft_run_get_status (run), !=, WEFT_STATUS_COMPLETED);
  task_error (run, "timed");
  task_error (run, "cancelled");
}

/* The timer and the timeout's cancellation fire at about the same time,
 * from different threads: each task must return exactly once (a second
 * return is a critical, fatal in tests), whichever wins. */
static void
test_template_delay_race (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) json = g_string_new (
    "{\"name\": \"race\", \"agents\": {\"a\": {\"plugin\": \"template\", \"delay_ms\": 100}},"
    " \"tasks\": [");
  g_autoptr(WeftFlow) flow = NULL;

  for (guint i = 0; i < 50; i++)
    g_string_append_printf (json, "%s{\"name\": \"t%u\", \"agent\": \"a\", \"description\": \"x\","
                            " \"timeout_s\": 0.1}", i > 0 ? ", " : "", i);
  g_string_append (json, "]}");
  flow = load_flow (f, json->str);

  for (guint round = 0; round < 4; round++)
    {
      g_autoptr(WeftRun) run = run_flow (flow, NULL);

      for (guint i = 0; i < 50; i++)
        {
          WeftStatus status = weft_run_get_task_status (run, i);

          g_assert_true (status == WEFT_STATUS_COMPLETED || status == WEFT_STATUS_FAILED ||
                         status == WEFT_STATUS_CANCELLED);
          g_assert_true ((status == WEFT_STATUS_COMPLETED) == (weft_run_get_task_error (run, i) == NULL));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* log                                                                      */

typedef struct {
  GMutex lock;
  GPtrArray *lines;   /* weft_event_to_json of every event, or the terminal's texts, in order */
  gboolean destroyed; /* the terminal writer's destroy ran */
} Collected;

static void
collect_event (const WeftEvent *event, gpointer data)
{
  Collected *c = data;

  g_mutex_lock (&c->lock);
  g_ptr_array_add (c->lines, weft_event_to_json (event));
  g_mutex_unlock (&c->lock);
}

/* Two template tasks, "b" receiving "a", logged by the callbacks in
 * `callbacks_json` (members of "callbacks" without braces). */
static char *
logged_flow_json (const char *callbacks_json)
{
  return flow_json (
    "{'name': 'logged',"
    " 'agents': {'a': {'plugin': 'template', 'template': 'line one\\nline two is long enough to be cut'},"
    "            'b': {'plugin': 'template', 'template': 'got {context.a}'}},"
    " 'callbacks': {%s},"
    " 'tasks': [{'name': 'a', 'agent': 'a', 'description': 'x'},"
    "           {'name': 'b', 'agent': 'b', 'description': 'y', 'context': ['a']}]}",
    callbacks_json);
}

static void
test_log_jsonl (Fixture *f, gconstpointer data)
{
  g_autofree char *path = tmp_path (f, "events.jsonl");
  g_autofree char *callbacks = flow_json ("'log': {'plugin': 'log', 'format': 'jsonl', 'path': '%s'}",
                                          path);
  g_autofree char *json = logged_flow_json (callbacks);
  Collected collected = { .lines = g_ptr_array_new_with_free_func (g_free) };
  guint listener = weft_engine_add_listener (f->engine, collect_event, &collected, NULL);
  WeftFlow *flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, NULL);
  g_autofree char *run_id = g_strdup (weft_run_get_id (run));
  g_auto(GStrv) lines = NULL;

  g_clear_pointer (&run, weft_run_unref);
  weft_flow_unref (flow);   /* drains the log's queue */
  weft_engine_remove_listener (f->engine, listener);
  lines = read_lines (path);

  /* run.started, started + completed per task, run.completed */
  g_assert_cmpuint (g_strv_length (lines), ==, 6);
  g_assert_cmpuint (collected.lines->len, ==, 6);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = json_from_string (lines[i], &error);
      JsonObject *event;

      g_assert_no_error (error);
      event = json_node_get_object (node);
      /* Exactly the SDK's JSON of the event, in the order raised. */
      g_assert_cmpstr (lines[i], ==, collected.lines->pdata[i]);
      g_assert_cmpint (json_object_get_int_member (event, "seq"), ==, i + 1);
      g_assert_cmpstr (json_object_get_string_member (event, "run_id"), ==, run_id);
    }
  g_assert_true (strstr (lines[0], "\"type\":\"run.started\"") != NULL);
  g_assert_true (strstr (lines[5], "\"type\":\"run.completed\"") != NULL);
  g_ptr_array_unref (collected.lines);
}

static void
test_log_events_filter (Fixture *f, gconstpointer data)
{
  g_autofree char *path = tmp_path (f, "filtered.jsonl");
  g_autofree char *callbacks = flow_json (
    "'log': {'plugin': 'log', 'format': 'jsonl', 'path': '%s',"
    "        'events': ['task.completed', 'run.completed']}", path);
  g_autofree char *json = logged_flow_json (callbacks);
  WeftFlow *flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, NULL);
  g_auto(GStrv) lines = NULL;

  g_clear_pointer (&run, weft_run_unref);
  weft_flow_unref (flow);
  lines = read_lines (path);

  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_nonnull (strstr (lines[0], "\"type\":\"task.completed\""));
  g_assert_nonnull (strstr (lines[0], "\"task\":\"a\""));
  g_assert_nonnull (strstr (lines[1], "\"type\":\"task.completed\""));
  g_assert_nonnull (strstr (lines[1], "\"task\":\"b\""));
  g_assert_nonnull (strstr (lines[2], "\"type\":\"run.completed\""));
}

static void
test_log_text (Fixture *f, gconstpointer data)
{
  g_autofree char *path = tmp_path (f, "events.log");
  g_autofree char *callbacks = flow_json (
    "'log': {'plugin': 'log', 'path': '%s', 'max_output': 12}", path);
  g_autofree char *json = logged_flow_json (callbacks);
  WeftFlow *flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, NULL);
  g_autofree char *prefix = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GRegex) start = g_regex_new (
    "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z logged [^ ]{8} (run|task [ab]) ",
    0, 0, NULL);

  prefix = g_strdup_printf (" logged %.8s ", weft_run_get_id (run));
  g_clear_pointer (&run, weft_run_unref);
  weft_flow_unref (flow);
  lines = read_lines (path);

  g_assert_cmpuint (g_strv_length (lines), ==, 6);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_test_message ("%s", lines[i]);
      g_assert_true (g_regex_match (start, lines[i], 0, NULL));
      g_assert_nonnull (strstr (lines[i], prefix));
    }
  g_assert_nonnull (strstr (lines[0], "run started"));
  g_assert_nonnull (strstr (lines[1], "task a started (attempt 1)"));
  g_assert_nonnull (strstr (lines[2], "task a completed in "));
  /* 12 characters, the newline shown as one, then the cut. */
  g_assert_true (g_str_has_suffix (lines[2], "s (attempt 1): line one⏎lin…"));
  g_assert_true (g_str_has_suffix (lines[4], ": got line one…"));
  g_assert_nonnull (strstr (lines[5], "run completed in "));
}

static void
test_log_text_failure (Fixture *f, gconstpointer data)
{
  g_autofree char *path = tmp_path (f, "failed.log");
  g_autofree char *json = flow_json (
    "{'name': 'failing',"
    " 'agents': {'bad': {'plugin': 'exec', 'command': ['sh', '-c', 'echo broken >&2; exit 2']}},"
    " 'callbacks': {'log': {'plugin': 'log', 'path': '%s', 'max_output': 0,"
    "                       'events': ['task.failed', 'run.failed']}},"
    " 'tasks': [{'name': 'x', 'agent': 'bad', 'description': 'x'}]}", path);
  WeftFlow *flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, NULL);
  g_auto(GStrv) lines = NULL;

  g_clear_pointer (&run, weft_run_unref);
  weft_flow_unref (flow);
  lines = read_lines (path);

  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_assert_nonnull (strstr (lines[0], "task x failed after "));
  g_assert_nonnull (strstr (lines[0], "exited with status 2: broken"));
  g_assert_nonnull (strstr (lines[1], "run failed after "));
}

/* Two instances at once (one file each), and a second run appends. */
static void
test_log_two_instances_append (Fixture *f, gconstpointer data)
{
  g_autofree char *text_path = tmp_path (f, "two.log");
  g_autofree char *jsonl_path = tmp_path (f, "two.jsonl");
  g_autofree char *callbacks = flow_json (
    "'text': {'plugin': 'log', 'path': '%s'},"
    "'jsonl': {'plugin': 'log', 'format': 'jsonl', 'path': '%s'}", text_path, jsonl_path);
  g_autofree char *json = logged_flow_json (callbacks);
  WeftFlow *flow = load_flow (f, json);
  g_autoptr(WeftRun) first = run_flow (flow, NULL);
  g_autoptr(WeftRun) second = run_flow (flow, NULL);
  g_auto(GStrv) text_lines = NULL;
  g_auto(GStrv) jsonl_lines = NULL;

  g_autofree char *first_id = g_strdup (weft_run_get_id (first));
  g_autofree char *second_id = g_strdup (weft_run_get_id (second));

  g_assert_cmpstr (first_id, !=, second_id);
  /* Runs hold the flow: drop them so that the last unref drains the logs. */
  g_clear_pointer (&first, weft_run_unref);
  g_clear_pointer (&second, weft_run_unref);
  weft_flow_unref (flow);
  text_lines = read_lines (text_path);
  jsonl_lines = read_lines (jsonl_path);

  g_assert_cmpuint (g_strv_length (text_lines), ==, 12);
  g_assert_cmpuint (g_strv_length (jsonl_lines), ==, 12);
  g_assert_nonnull (strstr (jsonl_lines[0], first_id));
  g_assert_nonnull (strstr (jsonl_lines[11], second_id));
  g_assert_nonnull (strstr (text_lines[11], "run completed in "));
}

/* Without a path the log writes to stderr: checked in a subprocess. */
static void
test_log_stderr (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      g_autofree char *json = logged_flow_json ("'log': {'plugin': 'log'}");
      WeftFlow *flow = load_flow (f, json);
      g_autoptr(WeftRun) run = run_flow (flow, NULL);

      g_clear_pointer (&run, weft_run_unref);
      weft_flow_unref (flow);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*logged * task b completed in *: got line one⏎line two*run completed in *");
}

/* What weft_terminal_write hands the writer an embedding program set. */
static void
terminal_collect (const char *lines, gpointer data)
{
  Collected *c = data;

  g_mutex_lock (&c->lock);
  g_ptr_array_add (c->lines, g_strdup (lines));
  g_mutex_unlock (&c->lock);
}

static void
terminal_destroyed (gpointer data)
{
  ((Collected *) data)->destroyed = TRUE;
}

/* Without a path the log writes for the terminal: to the writer the
 * program set (weft_terminal_set_writer), a whole line at a time, with
 * what came from the environment redacted. */
static void
test_log_terminal_writer (Fixture *f, gconstpointer data)
{
  Collected t = { .lines = g_ptr_array_new_with_free_func (g_free) };

  g_setenv ("WEFT_TEST_TERMINAL_SECRET", "s3cr3t-value", TRUE);
  weft_terminal_set_writer (terminal_collect, &t, terminal_destroyed);
  g_autofree char *json = flow_json (
    "{'name': 'logged',"
    " 'agents': {'a': {'plugin': 'template', 'template': 'key ${WEFT_TEST_TERMINAL_SECRET}'}},"
    " 'callbacks': {'log': {'plugin': 'log'}},"
    " 'tasks': [{'name': 'a', 'agent': 'a', 'description': 'x'}]}");
  WeftFlow *flow = load_flow (f, json);
  g_autoptr(WeftRun) run = run_flow (flow, NULL);

  g_clear_pointer (&run, weft_run_unref);
  weft_flow_unref (flow);   /* drains the log's queue */
  weft_terminal_set_writer (NULL, NULL, NULL);
  g_assert_true (t.destroyed);

  /* run.started, task started and completed, run.completed */
  g_assert_cmpuint (t.lines->len, ==, 4);
  for (guint i = 0; i < t.lines->len; i++)
    {
      const char *text = t.lines->pdata[i];
      /* One line, ending with its newline. */
      g_assert_true (strchr (text, '\n') == text + strlen (text) - 1);
      g_assert_null (strstr (text, "s3cr3t-value"));
    }
  weft_test_assert_contains (t.lines->pdata[2], "task a completed in ");
  weft_test_assert_contains (t.lines->pdata[2], ": key ***");
  g_ptr_array_unref (t.lines);
  g_unsetenv ("WEFT_TEST_TERMINAL_SECRET");
}

static void
test_log_bad_options (Fixture *f, gconstpointer data)
{
  /* Not static: the strerror text is only known at run time. */
  const struct { const char *options; const char *expect[3]; } cases[] = {
    { "'format': 'xml'", { "option \"format\"", "\"text\" or \"jsonl\"", "\"xml\"" } },
    { "'events': ['task.done']", { "option \"events\"", "\"task.done\"", "task.completed" } },
    { "'events': []", { "option \"events\"", "at least one", "run.started" } },
    { "'max_output': -5", { "option \"max_output\"", "-5", "0" } },
    { "'path': '/nonexistent/weft-dir/x.log'", { "option \"path\"", "/nonexistent/weft-dir/x.log",
                                                 g_strerror (ENOENT) } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *callbacks = flow_json ("'log': {'plugin': 'log', %s}", cases[i].options);
      g_autofree char *json = logged_flow_json (callbacks);
      g_autofree char *message = load_error (f, json);

      for (guint j = 0; j < 3; j++)
        g_assert_nonnull (strstr (message, cases[i].expect[j]));
    }
}

/* ------------------------------------------------------------------------ */

static void
add_test (const char *path, void (*func) (Fixture *, gconstpointer), guint n_threads)
{
  g_test_add (path, Fixture, GUINT_TO_POINTER (n_threads), fixture_setup, func, fixture_teardown);
}

int
main (int argc, char **argv)
{
  /* Before any thread exists: read back by the inherit_env test. */
  g_setenv ("WEFT_TEST_INHERITED", "inherited", TRUE);
  g_test_init (&argc, &argv, NULL);

  add_test ("/exec/stdin-prompt", test_exec_stdin_prompt, 0);
  add_test ("/exec/trailing-newline", test_exec_trailing_newline, 0);
  add_test ("/exec/stdin-json", test_exec_stdin_json, 0);
  add_test ("/exec/stdin-none", test_exec_stdin_none, 0);
  add_test ("/exec/unread-stdin", test_exec_unread_stdin, 0);
  add_test ("/exec/large-output", test_exec_large_output, 0);
  add_test ("/exec/env-cwd", test_exec_env_cwd, 0);
  add_test ("/exec/failure", test_exec_failure, 0);
  add_test ("/exec/long-stderr", test_exec_long_stderr, 0);
  add_test ("/exec/shell", test_exec_shell, 0);
  add_test ("/exec/not-found", test_exec_not_found, 0);
  add_test ("/exec/timeout", test_exec_timeout, 0);
  add_test ("/exec/timeout-kills-group", test_exec_timeout_kills_group, 0);
  add_test ("/exec/bad-options", test_exec_bad_options, 0);

  add_test ("/template/keys", test_template_keys, 0);
  add_test ("/template/unknown-key", test_template_unknown_key, 0);
  add_test ("/template/bad-options", test_template_bad_options, 0);
  add_test ("/template/delay-overlaps", test_template_delay_overlaps, 1);
  add_test ("/template/delay-cancel", test_template_delay_cancel, 0);
  add_test ("/template/delay-race", test_template_delay_race, 0);

  add_test ("/log/jsonl", test_log_jsonl, 0);
  add_test ("/log/events-filter", test_log_events_filter, 0);
  add_test ("/log/text", test_log_text, 0);
  add_test ("/log/text-failure", test_log_text_failure, 0);
  add_test ("/log/two-instances-append", test_log_two_instances_append, 0);
  add_test ("/log/stderr", test_log_stderr, 0);
  add_test ("/log/terminal-writer", test_log_terminal_writer, 0);
  add_test ("/log/bad-options", test_log_bad_options, 0);

  return g_test_run ();
}
