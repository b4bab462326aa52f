/* test-command.c — weft_command_run(), the SDK's way to run a program. */
#include "weft-test.h"

static gboolean
run (const WeftCommand *command, GCancellable *cancellable, WeftCommandResult *result,
     GError **error)
{
  return weft_command_run (command, cancellable, result, error);
}

static void
test_stdin_stdout_env_cwd (void)
{
  const char *argv[] = { "sh", "-c", "cat; printf ' %s ' \"$WEFT_X\"; pwd; echo oops >&2", NULL };
  const char *env[] = { "WEFT_X=forty two", NULL };
  WeftCommand command = { .argv = argv, .env = env, .cwd = "/", .stdin_data = "hello",
                          .stdin_length = -1 };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;

  g_assert_true (run (&command, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_true (weft_command_result_succeeded (&result));
  g_assert_cmpstr (result.stdout_text, ==, "hello forty two /\n");
  g_assert_cmpstr (result.stderr_text, ==, "oops\n");
  weft_command_result_clear (&result);
}

static void
test_failure_described (void)
{
  const char *argv[] = { "sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 3", NULL };
  const char *killed[] = { "sh", "-c", "kill -9 $$", NULL };
  WeftCommand command = { .argv = argv };
  WeftCommandResult result;

  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_false (weft_command_result_succeeded (&result));
  g_assert_cmpint (result.exit_status, ==, 3);
  g_autofree char *why = weft_command_result_describe (&result);
  g_assert_cmpstr (why, ==, "exited with status 3: first\nthe reason");
  weft_command_result_clear (&result);

  command.argv = killed;
  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_false (result.exited);
  g_assert_cmpint (result.term_signal, ==, 9);
  g_autofree char *sig = weft_command_result_describe (&result);
  weft_test_assert_contains (sig, "was killed by signal 9");
  weft_command_result_clear (&result);
}

/* A large stdin the command never reads: no SIGPIPE, no deadlock. */
static void
test_unread_stdin (void)
{
  const char *argv[] = { "true", NULL };
  g_autofree char *big = g_strnfill (4 * 1024 * 1024, 'x');
  WeftCommand command = { .argv = argv, .stdin_data = big, .stdin_length = -1 };
  WeftCommandResult result;

  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_true (weft_command_result_succeeded (&result));
  weft_command_result_clear (&result);
}

static void
test_not_found (void)
{
  const char *argv[] = { "weft-no-such-program", "a b", NULL };
  WeftCommand command = { .argv = argv };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;

  g_assert_false (run (&command, NULL, &result, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_FAILED);
  weft_test_assert_contains (error->message, "command \"weft-no-such-program 'a b'\" could not start");
}

/* The timeout kills the whole group: the shell's background child too,
 * which would otherwise keep stdout open for 30 s. */
static void
test_timeout_kills_group (void)
{
  const char *argv[] = { "sh", "-c", "sleep 30 & sleep 30", NULL };
  WeftCommand command = { .argv = argv, .timeout_ms = 200 };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_false (run (&command, NULL, &result, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT);
  weft_test_assert_contains (error->message, "timed out after 0.2 s and was killed");
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);
}

static gpointer
cancel_soon (gpointer data)
{
  g_usleep (200 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_cancel_kills (void)
{
  const char *argv[] = { "sleep", "30", NULL };
  WeftCommand command = { .argv = argv };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  GThread *thread = g_thread_new ("cancel", cancel_soon, cancellable);

  g_assert_false (run (&command, cancellable, &result, &error));
  g_thread_join (thread);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED);

  g_clear_error (&error);
  g_assert_false (run (&command, cancellable, &result, &error));
  weft_test_assert_contains (error->message, "cancelled before it started");
}

/* Entries apply in order; a bare "NAME" removes NAME, even one of ours. */
static void
test_env_unset (void)
{
  const char *argv[] = { "sh", "-c", "printf '%s %s' \"${WEFT_CMD_GONE-unset}\" \"$WEFT_CMD_Y\"", NULL };
  const char *env[] = { "WEFT_CMD_Y=1", "WEFT_CMD_GONE", "WEFT_CMD_Y=2", "=ignored", NULL };
  WeftCommand command = { .argv = argv, .env = env };
  WeftCommandResult result;

  g_setenv ("WEFT_CMD_GONE", "inherited", TRUE);
  g_assert_true (run (&command, NULL, &result, NULL));
  g_unsetenv ("WEFT_CMD_GONE");
  g_assert_cmpstr (result.stdout_text, ==, "unset 2");
  weft_command_result_clear (&result);
}

/* Running, or a zombie waiting for init: either way no longer running. */
static gboolean
process_gone (GPid pid)
{
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
      g_autofree char *stat = NULL;

      if (!g_file_get_contents (path, &stat, NULL, NULL) || strstr (stat, ") Z ") != NULL)
        return TRUE;
      g_usleep (20 * 1000);
    }
  return FALSE;
}

/* Past max_output the group is killed (the background sleep too) and the
 * run fails, with what was read up to the limit. */
static void
test_max_output (void)
{
  const char *argv[] = { "sh", "-c", "sleep 30 & echo $!; exec yes", NULL };
  WeftCommand command = { .argv = argv, .max_output = 100, .timeout_ms = 20000 };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;

  g_assert_false (run (&command, NULL, &result, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_FAILED);
  weft_test_assert_contains (error->message, "wrote more than 100 bytes to stdout and was killed");
  g_assert_cmpuint (strlen (result.stdout_text), ==, 100);
  /* The pid's line, then "y\n" over and over, cut wherever 100 fell. */
  g_auto(GStrv) lines = g_strsplit (result.stdout_text, "\n", -1);
  guint n = g_strv_length (lines);
  g_assert_cmpuint (n, >, 10);
  for (guint i = 1; i < n; i++)
    g_assert_true (g_str_equal (lines[i], "y") || (i == n - 1 && lines[i][0] == '\0'));
  g_assert_false (weft_command_result_succeeded (&result));
  g_assert_true (process_gone ((GPid) g_ascii_strtoll (result.stdout_text, NULL, 10)));
  weft_command_result_clear (&result);
}

/* Exactly max_output bytes is not too many. */
static void
test_max_output_exact (void)
{
  const char *argv[] = { "printf", "12345", NULL };
  WeftCommand command = { .argv = argv, .max_output = 5 };
  WeftCommandResult result;

  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_cmpstr (result.stdout_text, ==, "12345");
  weft_command_result_clear (&result);
}

/* stderr keeps its end only, from a character boundary, marked "…". */
static void
test_max_stderr (void)
{
  const char *chatty[] = { "sh", "-c", "yes abc | head -c 100000 >&2; echo END >&2", NULL };
  /* 1000 two-byte characters: the last 63 bytes start inside one. */
  const char *wide[] = { "sh", "-c", "for i in $(seq 1000); do printf '\\303\\251'; done >&2", NULL };
  const char *quiet[] = { "sh", "-c", "echo short >&2", NULL };
  WeftCommand command = { .argv = chatty, .max_stderr = 64 };
  WeftCommandResult result;
  g_autoptr(GString) expected = g_string_new ("…");

  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_true (g_str_has_prefix (result.stderr_text, "…"));
  g_assert_true (g_str_has_suffix (result.stderr_text, "abc\nEND\n"));
  g_assert_cmpuint (strlen (result.stderr_text), <=, strlen ("…") + 64);
  weft_command_result_clear (&result);

  command.argv = wide;
  command.max_stderr = 63;
  for (guint i = 0; i < 31; i++)
    g_string_append (expected, "é");
  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_cmpstr (result.stderr_text, ==, expected->str);
  weft_command_result_clear (&result);

  command.argv = quiet;
  g_assert_true (run (&command, NULL, &result, NULL));
  g_assert_cmpstr (result.stderr_text, ==, "short\n");
  weft_command_result_clear (&result);
}

/* Discarded stdout is never read: a flood of it neither blocks nor counts. */
static void
test_discard_stdout (void)
{
  const char *argv[] = { "sh", "-c", "head -c 1000000 /dev/zero; echo err >&2", NULL };
  WeftCommand command = { .argv = argv, .discard_stdout = TRUE, .max_output = 10 };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;

  g_assert_true (run (&command, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_true (weft_command_result_succeeded (&result));
  g_assert_cmpstr (result.stdout_text, ==, "");
  g_assert_cmpstr (result.stderr_text, ==, "err\n");
  weft_command_result_clear (&result);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/command/stdin-stdout-env-cwd", test_stdin_stdout_env_cwd);
  g_test_add_func ("/command/failure-described", test_failure_described);
  g_test_add_func ("/command/unread-stdin", test_unread_stdin);
  g_test_add_func ("/command/not-found", test_not_found);
  g_test_add_func ("/command/timeout-kills-group", test_timeout_kills_group);
  g_test_add_func ("/command/cancel-kills", test_cancel_kills);
  g_test_add_func ("/command/env-unset", test_env_unset);
  g_test_add_func ("/command/max-output", test_max_output);
  g_test_add_func ("/command/max-output-exact", test_max_output_exact);
  g_test_add_func ("/command/max-stderr", test_max_stderr);
  g_test_add_func ("/command/discard-stdout", test_discard_stdout);
  return g_test_run ();
}
