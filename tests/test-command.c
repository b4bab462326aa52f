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
  return g_test_run ();
}
