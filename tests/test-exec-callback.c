/* test-exec-callback.c — the exec callback runs a command per selected
 * event with the event JSON on stdin and the event in its environment; a
 * command that fails or hangs is logged, and the events after it still run
 * theirs. */
#include "weft-test.h"

/* Two quick tasks, b waiting for a. */
static char *
flow_json (const char *callbacks)
{
  return g_strdup_printf (
    "{\"name\": \"ex\", \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 5}},"
    " \"callbacks\": %s,"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"s\", \"description\": \"x\", \"context\": [\"a\"]}]}",
    callbacks);
}

/* Runs the flow once; its last unref waits for every command. */
static char *
run_flow (const char *callbacks, gint64 *unref_us)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autofree char *json = flow_json (callbacks);
  WeftFlow *flow = weft_test_flow (engine, json);
  g_autoptr(GError) error = NULL;
  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);
  char *run_id;
  gint64 before;

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  run_id = g_strdup (weft_run_get_id (run));
  weft_run_unref (run);
  before = g_get_monotonic_time ();
  weft_flow_unref (flow);
  if (unref_us != NULL)
    *unref_us = g_get_monotonic_time () - before;
  return run_id;
}

static char **
read_lines (const char *path)
{
  g_autofree char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_strchomp (text);
  return g_strsplit (text, "\n", -1);
}

/* The JSON on stdin, and the environment, line for line. */
static void
test_stdin_and_env (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autofree char *dir = g_dir_make_tmp ("weft-exec-cb-XXXXXX", NULL);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"run\": {\"plugin\": \"exec\", \"shell\": true, \"cwd\": \"%s\", \"env\": {\"EXTRA\": \"x y\"},"
    "          \"command\": [\"cat >> events.jsonl; echo >> events.jsonl;"
    " echo \\\"$WEFT_EVENT_TYPE|$WEFT_RUN_ID|$WEFT_FLOW|$${WEFT_TASK-unset}|$WEFT_SEQ|$EXTRA\\\""
    " >> env.txt\"]}}", dir);
  g_autofree char *run_id = NULL;

  weft_test_warnings_reset (captured);
  g_setenv ("WEFT_TASK", "stale", TRUE);   /* a run event must not inherit it */
  run_id = run_flow (callbacks, NULL);
  g_unsetenv ("WEFT_TASK");

  g_autofree char *events_path = g_build_filename (dir, "events.jsonl", NULL);
  g_autofree char *env_path = g_build_filename (dir, "env.txt", NULL);
  g_auto(GStrv) events = read_lines (events_path);
  g_auto(GStrv) env = read_lines (env_path);
  /* The default selection: task.completed × 2, then run.completed. */
  const char *types[] = { "task.completed", "task.completed", "run.completed" };
  const char *tasks[] = { "a", "b", "unset" };

  g_assert_cmpuint (g_strv_length (events), ==, 3);
  g_assert_cmpuint (g_strv_length (env), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(JsonNode) node = json_from_string (events[i], NULL);
      JsonObject *event = json_node_get_object (node);
      g_autofree char *expected = g_strdup_printf (
        "%s|%s|ex|%s|%" G_GINT64_FORMAT "|x y", types[i], run_id, tasks[i],
        json_object_get_int_member (event, "seq"));

      g_assert_cmpstr (json_object_get_string_member (event, "type"), ==, types[i]);
      g_assert_cmpstr (json_object_get_string_member (event, "run_id"), ==, run_id);
      g_assert_cmpstr (env[i], ==, expected);
    }
  g_assert_cmpuint (captured->warnings->len, ==, 0);
  weft_test_remove_dir (dir);
}

/* argv without a shell, and an explicit event list. */
static void
test_argv_and_filter (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autofree char *dir = g_dir_make_tmp ("weft-exec-cb-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "out.txt", NULL);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"tee\": {\"plugin\": \"exec\", \"command\": [\"/bin/sh\", \"-c\", \"cat >> \\\"$1\\\"; echo >> \\\"$1\\\"\","
    "                                           \"sh\", \"%s\"],"
    "          \"events\": [\"run.started\", \"task.started\"]}}", out);

  weft_test_warnings_reset (captured);
  g_autofree char *run_id = run_flow (callbacks, NULL);
  g_auto(GStrv) lines = read_lines (out);

  weft_test_assert_contains (lines[0], run_id);

  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  weft_test_assert_contains (lines[0], "\"type\":\"run.started\"");
  weft_test_assert_contains (lines[1], "\"type\":\"task.started\",\"seq\":2");
  weft_test_assert_contains (lines[2], "\"type\":\"task.started\"");
  weft_test_assert_contains (lines[2], "\"task\":\"b\"");
  g_assert_cmpuint (captured->warnings->len, ==, 0);
  weft_test_remove_dir (dir);
}

/* A failing command and a hanging one are logged; each event still gets
 * its command, and the hanging ones are killed on time. */
static void
test_failure_and_timeout (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autofree char *dir = g_dir_make_tmp ("weft-exec-cb-XXXXXX", NULL);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"bad\": {\"plugin\": \"exec\", \"shell\": true, \"cwd\": \"%s\","
    "          \"command\": [\"echo x >> bad.txt; echo 'no mail server' >&2; exit 3\"]},"
    " \"hang\": {\"plugin\": \"exec\", \"shell\": true, \"cwd\": \"%s\", \"timeout_s\": 0.2,"
    "           \"events\": [\"task.completed\"],"
    "           \"command\": [\"echo x >> hang.txt; sleep 30 & sleep 30\"]}}", dir, dir);
  gint64 unref_us = 0;

  weft_test_warnings_reset (captured);
  g_autofree char *run_id = run_flow (callbacks, &unref_us);
  g_autofree char *bad_path = g_build_filename (dir, "bad.txt", NULL);
  g_autofree char *hang_path = g_build_filename (dir, "hang.txt", NULL);
  g_auto(GStrv) bad = read_lines (bad_path);
  g_auto(GStrv) hang = read_lines (hang_path);
  guint n_status = 0, n_timeout = 0;

  g_assert_cmpuint (g_strv_length (bad), ==, 3);
  g_assert_cmpuint (g_strv_length (hang), ==, 2);
  g_assert_cmpuint (captured->warnings->len, ==, 5);
  for (guint i = 0; i < captured->warnings->len; i++)
    {
      const char *warning = captured->warnings->pdata[i];

      weft_test_assert_contains (warning, run_id);
      if (strstr (warning, "exited with status 3") != NULL)
        {
          weft_test_assert_contains (warning, "no mail server");
          weft_test_assert_contains (warning, "exec \"bad\"");
          n_status++;
        }
      else
        {
          weft_test_assert_contains (warning, "timed out after 0.2 s");
          weft_test_assert_contains (warning, "task.completed");
          n_timeout++;
        }
    }
  g_assert_cmpuint (n_status, ==, 3);
  g_assert_cmpuint (n_timeout, ==, 2);
  /* Two timeouts of 0.2 s, not two sleeps of 30 s. */
  g_assert_cmpint (unref_us, <, 5 * G_USEC_PER_SEC);
  weft_test_remove_dir (dir);
}

static void
assert_config_error (const char *callback, const char *expected)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (1);
  g_autofree char *callbacks = g_strdup_printf ("{\"c\": %s}", callback);
  g_autofree char *json = flow_json (callbacks);
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, "test.json", &error);

  g_assert_null (flow);
  g_assert_nonnull (error);
  weft_test_assert_contains (error->message, expected);
}

static void
test_config_errors (void)
{
  assert_config_error ("{\"plugin\": \"exec\", \"command\": []}", "must name a program");
  assert_config_error ("{\"plugin\": \"exec\", \"shell\": true, \"command\": [\"a\", \"b\"]}",
                       "exactly one element");
  assert_config_error ("{\"plugin\": \"exec\", \"command\": [\"true\"], \"events\": [\"x\"]}",
                       "unknown event type \"x\" (valid: run.started");
  assert_config_error ("{\"plugin\": \"exec\", \"command\": [\"true\"], \"env\": {\"A\": 1}}",
                       "must be a string");
  assert_config_error ("{\"plugin\": \"exec\", \"command\": [\"true\"], \"timeout_s\": 0}",
                       "timeout_s");
}

int
main (int argc, char **argv)
{
  WeftTestWarnings captured = { .domain = "weft-exec",
                               .warnings = g_ptr_array_new_with_free_func (g_free) };
  int status;

  g_mutex_init (&captured.lock);
  g_test_init (&argc, &argv, NULL);
  /* The plugin's warnings are what some tests check: kept, not fatal. */
  g_log_set_writer_func (weft_test_capture_writer, &captured, NULL);
  g_test_add_data_func ("/exec-callback/stdin-and-env", &captured, test_stdin_and_env);
  g_test_add_data_func ("/exec-callback/argv-and-filter", &captured, test_argv_and_filter);
  g_test_add_data_func ("/exec-callback/failure-and-timeout", &captured, test_failure_and_timeout);
  g_test_add_func ("/exec-callback/config-errors", test_config_errors);
  status = g_test_run ();
  g_ptr_array_unref (captured.warnings);
  g_mutex_clear (&captured.lock);
  return status;
}
