/* test-command.c — weft_command_run(), the SDK's way to run a program. */
#include "weft-test.h"

#include <sys/wait.h>

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

/* The room kept for later minors must be zero: an uninitialised struct is
 * refused, nothing is started. */
static void
test_reserved_must_be_zero (void)
{
  const char *argv[] = { "sh", "-c", "exit 0", NULL };
  WeftCommand command = { .argv = argv };
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;

  command.reserved[5] = &command;
  g_assert_false (run (&command, NULL, &result, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  weft_test_assert_contains (error->message, "WeftCommand.reserved must be zero");
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

/* ---- many commands run and cancelled at once ------------------------------ */

#define WEFT_TEST_WORKERS 12
#define WEFT_TEST_COMMANDS_PER_WORKER 9

/* Polls (no timing is asserted): a SIGKILL lands at once, but the kernel
 * may take a moment on a loaded machine. */
static void
assert_killed (const char *pid_file)
{
  g_autofree char *text = NULL;
  GPid pid;

  /* Not written: cancelled before the shell got to it. */
  if (!g_file_get_contents (pid_file, &text, NULL, NULL) || *g_strstrip (text) == '\0')
    return;
  pid = (GPid) g_ascii_strtoll (text, NULL, 10);
  g_assert_cmpint (pid, >, 1);
  for (guint i = 0; i < 15; i++)
    if (process_gone (pid))
      return;
  g_error ("process %d of a cancelled command is still running", (int) pid);
}

typedef struct {
  GCancellable *cancellable;
  guint delay_ms;
} Canceller;

static gpointer
cancel_after (gpointer data)
{
  Canceller *c = data;

  g_usleep (c->delay_ms * 1000);
  g_cancellable_cancel (c->cancellable);
  return NULL;
}

/* One command of worker `w`: by turns one that exits at once (reaped while
 * its runner may still be starting), one whose shell exits at once and
 * leaves a child holding stdout, and one that runs until killed; the last
 * two are cancelled from another thread after 0 to 20 ms, and every
 * process of their group must be gone when weft_command_run returns.
 * (With GSubprocess, the group's id was read after GLib's worker thread
 * could reap the shell, racing with it: read as 0, and the group was not
 * killed, so that the background sleep outlived the cancel.) */
static void
run_one (const char *dir, guint w, guint k)
{
  g_autofree char *pid_file = g_strdup_printf ("%s/pid-%u-%u", dir, w, k);
  g_autofree char *leaves = g_strdup_printf ("sleep 300 & echo $! > %s; exit 0", pid_file);
  g_autofree char *stays = g_strdup_printf ("echo $$ > %s; cat; sleep 30", pid_file);
  const char *quick[] = { "true", NULL };
  const char *left[] = { "sh", "-c", leaves, NULL };
  const char *held[] = { "sh", "-c", stays, NULL };
  guint kind = (w + k) % 3;
  WeftCommand command = { .argv = kind == 0 ? quick : kind == 1 ? left : held,
                          .stdin_data = kind == 2 ? "input" : NULL, .stdin_length = -1 };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Canceller c = { cancellable, g_random_int_range (0, 21) };
  GThread *thread = kind == 0 ? NULL : g_thread_new ("cancel", cancel_after, &c);
  WeftCommandResult result;
  g_autoptr(GError) error = NULL;
  gboolean ok = run (&command, cancellable, &result, &error);

  if (thread)
    g_thread_join (thread);
  if (kind == 0)
    {
      g_assert_no_error (error);
      g_assert_true (ok && weft_command_result_succeeded (&result));
      weft_command_result_clear (&result);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED);
  assert_killed (pid_file);
}

typedef struct {
  const char *dir;
  guint index;
} Worker;

static gpointer
run_many (gpointer data)
{
  Worker *worker = data;

  for (guint k = 0; k < WEFT_TEST_COMMANDS_PER_WORKER; k++)
    run_one (worker->dir, worker->index, k);
  return NULL;
}

/* Commands started, reaped, cancelled and killed on many threads at once:
 * each group is killed whole, even when its first process exited at once,
 * and no child is left unreaped. */
static void
test_concurrent_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("weft-test-command-XXXXXX", &error);
  Worker workers[WEFT_TEST_WORKERS];
  GThread *threads[WEFT_TEST_WORKERS];
  int status;

  g_assert_no_error (error);
  for (guint w = 0; w < WEFT_TEST_WORKERS; w++)
    {
      workers[w] = (Worker) { dir, w };
      threads[w] = g_thread_new ("worker", run_many, &workers[w]);
    }
  for (guint w = 0; w < WEFT_TEST_WORKERS; w++)
    g_thread_join (threads[w]);
  /* Every command was waited for: no zombie of ours is left. */
  g_assert_cmpint (waitpid (-1, &status, WNOHANG), <=, 0);
  weft_test_remove_dir (dir);
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
  g_test_add_func ("/command/concurrent-cancel", test_concurrent_cancel);
  g_test_add_func ("/command/reserved-must-be-zero", test_reserved_must_be_zero);
  return g_test_run ();
}
