/* weft-command.c — running a program for a plugin (SDK).
 *
 * Three plugins (the exec agent, tool and callback) need the same careful
 * dance, so it lives here once: stdin from an unlinked private file, a
 * process group per command, a kill of the whole group on cancellation or
 * timeout, a wait so that nothing lingers as a zombie, UTF-8 text out. */
#include "weft-private.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Enough of stderr to explain a failure; its end is where the complaint is. */
#define WEFT_COMMAND_MAX_STDERR 4096

char *
weft_command_display (const char * const *argv)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; argv && argv[i]; i++)
    {
      gboolean plain = *argv[i] != '\0' && strpbrk (argv[i], " \t\n'\"\\$`*?;&|<>(){}") == NULL;
      g_autofree char *quoted = plain ? NULL : g_shell_quote (argv[i]);
      g_string_append_printf (out, "%s%s", i ? " " : "", plain ? argv[i] : quoted);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* stdin is a file, not a pipe: writing to a pipe whose reader has exited
 * raises SIGPIPE, which would kill the engine, and a file can never
 * deadlock against a full stdout. */
static char *
weft_command_stdin_file (const char *data, gssize length, GError **error)
{
  g_autoptr(GFileIOStream) stream = NULL;
  g_autoptr(GFile) file = g_file_new_tmp ("weft-stdin-XXXXXX", &stream, error);

  if (file == NULL)
    return NULL;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  gsize size = length < 0 ? strlen (data) : (gsize) length;
  if (!g_output_stream_write_all (out, data, size, NULL, NULL, error)
      || !g_io_stream_close (G_IO_STREAM (stream), NULL, error))
    {
      g_file_delete (file, NULL, NULL);
      return NULL;
    }
  return g_file_get_path (file);
}

/* Between fork and exec: a group of its own, so that a kill reaches every
 * process the command started (a shell's children too). */
static void
weft_command_child_setup (gpointer data)
{
  setpgid (0, 0);
}

static GSubprocess *
weft_command_spawn (const WeftCommand *command, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *stdin_path = NULL;

  if (command->clear_env)
    g_subprocess_launcher_set_environ (launcher, (char *[]) { NULL });
  for (guint i = 0; command->env && command->env[i]; i++)
    {
      const char *eq = strchr (command->env[i], '=');
      g_autofree char *name = eq ? g_strndup (command->env[i], eq - command->env[i]) : NULL;
      if (name && *name)
        g_subprocess_launcher_setenv (launcher, name, eq + 1, TRUE);
    }
  if (command->cwd)
    g_subprocess_launcher_set_cwd (launcher, command->cwd);
  if (command->stdin_data)
    {
      stdin_path = weft_command_stdin_file (command->stdin_data, command->stdin_length, error);
      if (stdin_path == NULL)
        return NULL;
      g_subprocess_launcher_set_stdin_file_path (launcher, stdin_path);
    }
  g_subprocess_launcher_set_child_setup (launcher, weft_command_child_setup, NULL, NULL);
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, command->argv, error);
  if (stdin_path)
    g_unlink (stdin_path);   /* the child holds it open */
  return proc;
}

static void
weft_command_kill (GSubprocess *proc)
{
  const char *id = g_subprocess_get_identifier (proc);
  gint64 pid = id ? g_ascii_strtoll (id, NULL, 10) : 0;

  if (pid > 0)
    kill ((pid_t) -pid, SIGKILL);
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
}

typedef struct {
  GAsyncResult *result;
  gboolean timed_out;
  GCancellable *cancellable;
} WeftCommandWait;

static void
weft_command_communicated (GObject *source, GAsyncResult *result, gpointer data)
{
  ((WeftCommandWait *) data)->result = g_object_ref (result);
}

static gboolean
weft_command_timed_out (gpointer data)
{
  WeftCommandWait *wait = data;

  wait->timed_out = TRUE;
  g_cancellable_cancel (wait->cancellable);
  return G_SOURCE_REMOVE;
}

static void
weft_command_forward_cancel (GCancellable *parent, gpointer data)
{
  g_cancellable_cancel (data);
}

static char *
weft_command_text (GBytes *bytes)
{
  gsize size = 0;
  const char *data = bytes ? g_bytes_get_data (bytes, &size) : NULL;

  return g_utf8_make_valid (data ? data : "", (gssize) size);
}

/* Waits on a private main context: the calling thread has no loop of its
 * own, and the timeout needs one. */
static gboolean
weft_command_wait (GSubprocess *proc, guint timeout_ms, GCancellable *cancellable,
                   GBytes **out, GBytes **err, gboolean *timed_out, GError **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) local = g_cancellable_new ();
  WeftCommandWait wait = { NULL, FALSE, local };
  gulong handler = cancellable ? g_cancellable_connect (cancellable,
                                                        G_CALLBACK (weft_command_forward_cancel),
                                                        local, NULL) : 0;
  g_autoptr(GSource) timer = timeout_ms ? g_timeout_source_new (timeout_ms) : NULL;

  g_main_context_push_thread_default (context);
  if (timer)
    {
      g_source_set_callback (timer, weft_command_timed_out, &wait, NULL);
      g_source_attach (timer, context);
    }
  g_subprocess_communicate_async (proc, NULL, local, weft_command_communicated, &wait);
  while (wait.result == NULL)
    g_main_context_iteration (context, TRUE);
  gboolean ok = g_subprocess_communicate_finish (proc, wait.result, out, err, error);
  if (timer)
    g_source_destroy (timer);
  g_main_context_pop_thread_default (context);
  if (handler)
    g_cancellable_disconnect (cancellable, handler);
  g_object_unref (wait.result);
  *timed_out = wait.timed_out;
  return ok;
}

gboolean
weft_command_run (const WeftCommand *command, GCancellable *cancellable,
                  WeftCommandResult *result, GError **error)
{
  g_return_val_if_fail (command && command->argv && command->argv[0] && result, FALSE);

  g_autofree char *display = weft_command_display (command->argv);
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autoptr(GBytes) err = NULL;
  gboolean timed_out = FALSE;

  memset (result, 0, sizeof *result);
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED,
                   "command \"%s\" was cancelled before it started", display);
      return FALSE;
    }
  g_autoptr(GSubprocess) proc = weft_command_spawn (command, &local);
  if (proc == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\" could not start: %s",
                   display, local->message);
      return FALSE;
    }
  if (!weft_command_wait (proc, command->timeout_ms, cancellable, &out, &err, &timed_out, &local))
    {
      weft_command_kill (proc);
      if (timed_out)
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT,
                     "command \"%s\" timed out after %g s and was killed", display,
                     command->timeout_ms / 1000.0);
      else if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED,
                     "command \"%s\" was cancelled and killed", display);
      else
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\": %s", display,
                     local->message);
      return FALSE;
    }
  result->stdout_text = weft_command_text (out);
  result->stderr_text = weft_command_text (err);
  result->exited = g_subprocess_get_if_exited (proc);
  result->exit_status = result->exited ? g_subprocess_get_exit_status (proc) : -1;
  result->term_signal = g_subprocess_get_if_signaled (proc) ? g_subprocess_get_term_sig (proc) : 0;
  return TRUE;
}

void
weft_command_result_clear (WeftCommandResult *result)
{
  g_clear_pointer (&result->stdout_text, g_free);
  g_clear_pointer (&result->stderr_text, g_free);
}

gboolean
weft_command_result_succeeded (const WeftCommandResult *result)
{
  return result->exited && result->exit_status == 0;
}

char *
weft_command_result_describe (const WeftCommandResult *result)
{
  g_autofree char *how = result->exited
    ? g_strdup_printf ("exited with status %d", result->exit_status)
    : g_strdup_printf ("was killed by signal %d (%s)", result->term_signal,
                       g_strsignal (result->term_signal));
  g_autofree char *err = g_strstrip (g_strdup (result->stderr_text ? result->stderr_text : ""));
  gsize len = strlen (err);

  if (len == 0)
    return g_strdup_printf ("%s (no stderr)", how);
  if (len <= WEFT_COMMAND_MAX_STDERR)
    return g_strdup_printf ("%s: %s", how, err);
  const char *tail = g_utf8_find_next_char (err + len - WEFT_COMMAND_MAX_STDERR - 1, NULL);
  return g_strdup_printf ("%s: …%s", how, tail);
}
