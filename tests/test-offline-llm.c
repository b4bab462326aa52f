/* test-offline-llm.c — an LLM flow with no key: the installed mock server
 * (weft-mock-llm, its own process, as a user starts it) and
 * examples/tools.json against it with examples/mock/tools.json, as the
 * README's tour and docs/mock-llm.md run them.
 *
 * The program: --help says how it is scripted; a script's mistakes are
 * refused with their place.  The example: both tools are called, at once,
 * each result comes back, the writer's answer streams, and the run
 * completes. */
#include "weft-test.h"

#include <signal.h>
#include <sys/prctl.h>

typedef struct {
  char *mock;                 /* the program */
  char *weft;
  GSubprocess *server;
  char *base_url;
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *build = g_getenv ("WEFT_BUILD_ROOT");

  f->mock = g_build_filename (build, "mock", "weft-mock-llm", NULL);
  f->weft = g_build_filename (build, "cli", "weft", NULL);
  f->dir = g_dir_make_tmp ("weft-test-offline-XXXXXX", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (f->server != NULL)
    {
      g_subprocess_send_signal (f->server, SIGTERM);
      g_subprocess_wait (f->server, NULL, NULL);
      g_clear_object (&f->server);
    }
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->base_url);
  g_free (f->mock);
  g_free (f->weft);
}

/* In the child: it goes when the test does, even when an assertion ends
 * the test before its teardown. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Starts the program on a free port with `args`; its first line names the URL. */
static void
start_mock (Fixture *f, const char *const *args)
{
  g_autoptr(GStrvBuilder) argv = g_strv_builder_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);

  g_strv_builder_add_many (argv, f->mock, "--port", "0", NULL);
  g_strv_builder_addv (argv, (const char **) args);
  g_auto(GStrv) strv = g_strv_builder_end (argv);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  f->server = g_subprocess_launcher_spawnv (launcher, (const char * const *) strv, &error);
  g_assert_no_error (error);
  g_autoptr(GDataInputStream) out =
    g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->server));
  g_autofree char *line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "listening on http://127.0.0.1:"));
  f->base_url = g_strdup (line + strlen ("listening on "));
}

static void
test_help (Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (weft_test_run_command ((const char *[]) { f->mock, "--help", NULL }, &out,
                                          &err), ==, 0);
  weft_test_assert_contains (out, "--script=FILE");
  weft_test_assert_contains (out, "--tool-rule=NEEDLE=JSON");
  weft_test_assert_contains (out, "the first rule whose NEEDLE is in the last user or tool");
  weft_test_assert_contains (out, "docs/mock-llm.md");
}

/* A script is someone's text: each mistake names its place. */
static void
test_bad_scripts (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *script;
    const char *message;        /* after "weft-mock-llm: PATH: " */
  } cases[] = {
    { "{\"replies\": [{\"reply\": \"a\"}, {\"error\": 200}]}",
      "replies[1]: \"error\" must be an HTTP status from 400 to 599" },
    { "{\"replies\": [{\"reply\": \"a\", \"drop\": true}]}",
      "replies[0]: give one of \"reply\" and \"drop\"" },
    { "{\"rules\": [{\"when\": \"x\"}]}",
      "rules[0]: give \"reply\" or \"tool_calls\", one of them" },
    { "{\"rules\": [{\"when\": \"x\", \"tool_calls\": [{\"name\": \"t\"}]}]}",
      "rules[0]: tool_calls[0] must be {\"name\": a string, \"arguments\": an object}" },
    { "{\"latency\": 5}",
      "the script: unknown member \"latency\" (valid: latency_ms, max_latency_ms, rules, "
      "replies)" },
    { "{\"replies\": [{\"reply\": \"a\"}",
      "line 1, column 28: $.replies[0]: expected ',' or ']', found the end of the text" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_build_filename (f->dir, "script.json", NULL);
      g_autofree char *out = NULL, *err = NULL;
      g_assert_true (g_file_set_contents (path, cases[i].script, -1, NULL));
      g_autofree char *want = g_strdup_printf ("weft-mock-llm: %s: %s\n", path, cases[i].message);
      g_assert_cmpint (weft_test_run_command ((const char *[]) { f->mock, "--script", path, NULL },
                                              &out, &err), ==, 2);
      g_assert_cmpstr (err, ==, want);
    }
}

/* The README's tour: examples/tools.json, offline, from the checkout. */
static void
test_tools_example (Fixture *f, gconstpointer data)
{
  const char *root = g_getenv ("WEFT_SOURCE_ROOT");
  g_autofree char *script = g_build_filename (root, "examples", "mock", "tools.json", NULL);
  g_autofree char *events = g_build_filename (f->dir, "events.jsonl", NULL);
  g_autofree char *log = g_strdup_printf ("log:format=jsonl,path=%s", events);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL, *text = NULL;
  g_autofree char *plugins = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "plugins", NULL);

  start_mock (f, (const char *[]) { "--script", script, "--latency-ms", "0", NULL });
  g_subprocess_launcher_set_cwd (launcher, root);
  g_subprocess_launcher_setenv (launcher, "OPENAI_BASE_URL", f->base_url, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "OPENAI_API_KEY");
  g_subprocess_launcher_unsetenv (launcher, "OPENAI_MODEL");
  g_autofree char *db = g_build_filename (f->dir, "runs.db", NULL);
  g_autofree char *store = g_strdup_printf ("sqlite:path=%s", db);
  g_autoptr(GSubprocess) run = g_subprocess_launcher_spawn (
    launcher, &error, f->weft, "run", "examples/tools.json", "--plugin-dir", plugins,
    "--callback", log, "--callback", store, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (run, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  g_test_message ("stderr: %s", err);
  g_assert_cmpint (weft_test_exit_status (run), ==, 0);
  weft_test_assert_contains (out, "In the blog crew two research tasks are async");

  g_assert_true (g_file_get_contents (events, &text, NULL, NULL));
  /* Both tools, called at once, each result back; the writer streamed. */
  weft_test_assert_contains (text, "\"step_kind\":\"tool_call\"");
  weft_test_assert_contains (text, "\\\"tool\\\":\\\"count_lines\\\",\\\"arguments\\\":"
                                   "{\\\"word\\\":\\\"async\\\",\\\"file\\\":\\\"examples/blog.json\\\"}");
  weft_test_assert_contains (text, "\\\"tool\\\":\\\"count_lines\\\",\\\"result\\\":\\\"2\\\"");
  weft_test_assert_contains (text, "\\\"tool\\\":\\\"list_examples\\\",\\\"result\\\":");
  weft_test_assert_contains (text, "tools.json");
  weft_test_assert_contains (text, "\"step_kind\":\"chunk\"");
  weft_test_assert_contains (text, "\"type\":\"run.completed\"");

  /* The tokens the mock counted: on the survey's end, in the summary, and
   * in the store (the writer streams without asking for usage). */
  weft_test_assert_contains (text, "\"usage\":{\"prompt_tokens\":");
  weft_test_assert_contains (err, "weft: usage: ");
  weft_test_assert_contains (err, " completion)");
  g_autofree char *show_out = NULL, *show_err = NULL;
  g_assert_cmpint (weft_test_run_command ((const char *[]) { f->weft, "runs", "list", "--json",
                                                             "--store", db, NULL },
                                          &show_out, &show_err), ==, 0);
  g_autoptr(JsonNode) runs = json_from_string (show_out, NULL);
  const char *id = json_object_get_string_member (
    json_array_get_object_element (json_node_get_array (runs), 0), "run_id");
  g_assert_cmpint (weft_test_run_command ((const char *[]) { f->weft, "runs", "show", id,
                                                             "--store", db, NULL },
                                          &show_out, &show_err), ==, 0);
  weft_test_assert_contains (show_out, "usage    ");
  weft_test_assert_contains (show_out, " tokens (");
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/offline/mock/help", test_help);
  ADD ("/offline/mock/bad-scripts", test_bad_scripts);
  ADD ("/offline/example/tools", test_tools_example);
  return g_test_run ();
}
