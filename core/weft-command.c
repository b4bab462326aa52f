/* weft-command.c — running a program for a plugin (SDK).
 *
 * Three plugins (the exec agent, tool and callback) need the same careful
 * dance, so it lives here once: stdin from an unlinked private file, a
 * process group per command, a kill of the whole group on cancellation or
 * timeout, a wait so that nothing lingers as a zombie, UTF-8 text out,
 * and bounds on what is kept of stdout and stderr.
 *
 * The command is spawned with g_spawn_async_with_pipes_and_fds(), not
 * GSubprocess: the group's id is the child's pid, which the spawn call
 * writes into this thread's own variable before anything can read it.
 * GSubprocess's only way to it, g_subprocess_get_identifier(), reads a
 * field that GLib's worker thread clears, without a lock, when it reaps
 * the child: a data race, and a group left unkilled when a command exits
 * at once (the id read as 0).  Its exit is watched on the private context
 * that reads its pipes, so nothing here is shared with another thread. */
#include "weft-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
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

char **
weft_command_argv_from_option (const char * const *command, gboolean shell, GError **error)
{
  guint n = command ? g_strv_length ((char **) command) : 0;

  if (n == 0 || *command[0] == '\0')
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"command\": must name a program (it is empty)");
      return NULL;
    }
  if (!shell)
    return g_strdupv ((char **) command);
  if (n != 1)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"command\": must have exactly one element when \"shell\" is true, "
                   "not %u", n);
      return NULL;
    }
  return g_strdupv ((char *[]) { (char *) "/bin/sh", (char *) "-c", (char *) command[0], NULL });
}

char **
weft_command_env_from_option (JsonObject *env, GError **error)
{
  g_autoptr(GStrvBuilder) entries = g_strv_builder_new ();
  g_autoptr(GList) names = env ? json_object_get_members (env) : NULL;

  for (GList *l = names; l; l = l->next)
    {
      const char *name = l->data;
      JsonNode *value = json_object_get_member (env, name);
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"env\": the value of \"%s\" must be a string", name);
          return NULL;
        }
      if (*name == '\0' || strchr (name, '=') != NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"env\": \"%s\" is not a valid variable name", name);
          return NULL;
        }
      g_autofree char *entry = g_strconcat (name, "=", json_node_get_string (value), NULL);
      g_strv_builder_add (entries, entry);
    }
  return g_strv_builder_end (entries);
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

/* The child's environment: ours (or none, with clear_env) with the
 * command's changes, in order: "NAME=value" sets, a bare "NAME" unsets. */
static char **
weft_command_environ (const WeftCommand *command)
{
  char **env = command->clear_env ? g_new0 (char *, 1) : g_get_environ ();

  for (guint i = 0; command->env && command->env[i]; i++)
    {
      const char *entry = command->env[i];
      const char *eq = strchr (entry, '=');
      g_autofree char *name = eq ? g_strndup (entry, eq - entry) : g_strdup (entry);

      if (*name == '\0')
        continue;
      env = eq ? g_environ_setenv (env, name, eq + 1, TRUE) : g_environ_unsetenv (env, name);
    }
  return env;
}

/* A started command.  Its pid is also its process group's id. */
typedef struct {
  GPid pid;
  GInputStream *out;          /* NULL: stdout discarded */
  GInputStream *err;
} WeftCommandChild;

static void
weft_command_child_clear (WeftCommandChild *child)
{
  g_clear_object (&child->out);
  g_clear_object (&child->err);
}

/* stdin's file, opened and unlinked at once: the child inherits the
 * descriptor, and nothing is left on disk whatever happens next. */
static int
weft_command_open_stdin (const WeftCommand *command, GError **error)
{
  g_autofree char *path = weft_command_stdin_file (command->stdin_data, command->stdin_length,
                                                   error);
  int fd, saved;

  if (path == NULL)
    return -1;
  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  saved = errno;
  g_unlink (path);
  if (fd < 0)
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                 g_strerror (saved));
  return fd;
}

static gboolean
weft_command_spawn (const WeftCommand *command, WeftCommandChild *child, GError **error)
{
  g_auto(GStrv) env = weft_command_environ (command);
  int stdin_fd = -1, out_fd = -1, err_fd = -1;
  /* Not reaped by GLib on its own: weft_command_wait watches for the exit. */
  GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES
    | (strchr (command->argv[0], '/') ? 0 : G_SPAWN_SEARCH_PATH)
    | (command->discard_stdout ? G_SPAWN_STDOUT_TO_DEV_NULL : 0);
  gboolean ok;

  if (command->stdin_data && (stdin_fd = weft_command_open_stdin (command, error)) < 0)
    return FALSE;
  ok = g_spawn_async_with_pipes_and_fds (command->cwd, command->argv, (const char * const *) env,
                                         flags, weft_command_child_setup, NULL,
                                         stdin_fd, -1, -1, NULL, NULL, 0, &child->pid, NULL,
                                         command->discard_stdout ? NULL : &out_fd, &err_fd,
                                         error);
  if (stdin_fd >= 0)
    close (stdin_fd);
  if (!ok)
    return FALSE;
  child->out = out_fd >= 0 ? g_unix_input_stream_new (out_fd, TRUE) : NULL;
  child->err = g_unix_input_stream_new (err_fd, TRUE);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Waiting: stdout and stderr are read here, with async reads on a private
 * main context, so that each can be bounded while it arrives; the child's
 * exit is watched there too. */

#define WEFT_COMMAND_CHUNK 16384

typedef enum {
  WEFT_COMMAND_RUNNING,       /* nothing stopped it (yet) */
  WEFT_COMMAND_CANCELLED,
  WEFT_COMMAND_TIMED_OUT,
  WEFT_COMMAND_OVERFLOWED,    /* stdout passed max_output */
  WEFT_COMMAND_BROKEN,        /* a read failed */
} WeftCommandEnd;

typedef struct _WeftCommandWait WeftCommandWait;

typedef struct {
  WeftCommandWait *wait;
  GInputStream *stream;       /* NULL: not read (stdout discarded) */
  GByteArray *bytes;
  gsize limit;                /* 0: none */
  gboolean keep_end;          /* past the limit: keep the end (stderr), not stop */
  gboolean cut;               /* more was written than kept */
  guint8 *chunk;
} WeftCommandPipe;

struct _WeftCommandWait {
  GMainContext *context;      /* private: where everything below happens */
  GCancellable *cancellable;  /* ours: stops the reads at once */
  guint pending;              /* reads still under way */
  gboolean reaped;            /* the child exited and was waited for */
  int wait_status;            /* then: as waitpid() gives it */
  WeftCommandEnd end;         /* the first reason to stop */
  GError *error;              /* BROKEN: why */
  WeftCommandPipe out;
  WeftCommandPipe err;
};

/* Called on the private context only: `end` needs no lock. */
static void
weft_command_stop (WeftCommandWait *wait, WeftCommandEnd end)
{
  if (wait->end == WEFT_COMMAND_RUNNING)
    wait->end = end;
  g_cancellable_cancel (wait->cancellable);
}

static void
weft_command_failed (WeftCommandWait *wait, GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    weft_command_stop (wait, WEFT_COMMAND_CANCELLED);   /* a no-op after our own stop */
  else if (wait->end == WEFT_COMMAND_RUNNING)
    {
      wait->error = g_error_copy (error);
      weft_command_stop (wait, WEFT_COMMAND_BROKEN);
    }
}

/* Keeps `n` new bytes within the pipe's limit; FALSE when stdout has
 * passed it and reading is over. */
static gboolean
weft_command_keep (WeftCommandPipe *pipe, gsize n)
{
  gsize room = pipe->limit && !pipe->keep_end ? pipe->limit - pipe->bytes->len : n;

  g_byte_array_append (pipe->bytes, pipe->chunk, (guint) MIN (n, room));
  if (n > room)
    {
      pipe->cut = TRUE;
      weft_command_stop (pipe->wait, WEFT_COMMAND_OVERFLOWED);
      return FALSE;
    }
  if (pipe->limit && pipe->bytes->len > pipe->limit)
    {
      g_byte_array_remove_range (pipe->bytes, 0, (guint) (pipe->bytes->len - pipe->limit));
      pipe->cut = TRUE;
    }
  return TRUE;
}

static void weft_command_read (WeftCommandPipe *pipe);

static void
weft_command_read_done (GObject *source, GAsyncResult *res, gpointer data)
{
  WeftCommandPipe *pipe = data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

  pipe->wait->pending--;
  if (n < 0)
    weft_command_failed (pipe->wait, error);
  else if (n > 0 && weft_command_keep (pipe, (gsize) n))
    weft_command_read (pipe);
}

static void
weft_command_read (WeftCommandPipe *pipe)
{
  pipe->wait->pending++;
  g_input_stream_read_async (pipe->stream, pipe->chunk, WEFT_COMMAND_CHUNK, G_PRIORITY_DEFAULT,
                             pipe->wait->cancellable, weft_command_read_done, pipe);
}

static void
weft_command_exited (GPid pid, int status, gpointer data)
{
  WeftCommandWait *wait = data;

  wait->reaped = TRUE;
  wait->wait_status = status;
}

static gboolean
weft_command_timed_out (gpointer data)
{
  weft_command_stop (data, WEFT_COMMAND_TIMED_OUT);
  return G_SOURCE_REMOVE;
}

static gboolean
weft_command_cancelled (gpointer data)
{
  weft_command_stop (data, WEFT_COMMAND_CANCELLED);
  return G_SOURCE_REMOVE;
}

/* On the caller's cancellable, from any thread: asks the private context
 * to stop.  Ours is cancelled there, never from another thread: GLib
 * (before 2.76) leaks a cancellable source disposed on one thread while
 * another is still cancelling its cancellable. */
static void
weft_command_forward_cancel (GCancellable *parent, gpointer data)
{
  WeftCommandWait *wait = data;
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_callback (idle, weft_command_cancelled, wait, NULL);
  g_source_attach (idle, wait->context);
}

static void
weft_command_pipe_init (WeftCommandPipe *pipe, WeftCommandWait *wait, GInputStream *stream,
                        gsize limit, gboolean keep_end)
{
  *pipe = (WeftCommandPipe) { wait, stream, g_byte_array_new (), limit, keep_end, FALSE,
                              stream ? g_malloc (WEFT_COMMAND_CHUNK) : NULL };
  if (stream)
    weft_command_read (pipe);
}

static void
weft_command_pipe_clear (WeftCommandPipe *pipe)
{
  g_clear_pointer (&pipe->bytes, g_byte_array_unref);
  g_clear_pointer (&pipe->chunk, g_free);
}

/* Kills the whole group -- by the id it was given at spawn, so that what
 * the command left running goes even when the command itself has exited
 * -- and the command itself, unless it was reaped (its pid may then be
 * another process's). */
static void
weft_command_kill (WeftCommandWait *wait, GPid pid)
{
  kill (-pid, SIGKILL);
  if (!wait->reaped)
    kill (pid, SIGKILL);
}

/* Reads both pipes and waits for the command on a private main context:
 * the calling thread has no loop of its own, and the timeout needs one.
 * Returns when both pipes are at their end and the command has exited, or
 * as soon as something stops it, once the command is killed and reaped:
 * it never lingers as a zombie. */
static void
weft_command_wait (WeftCommandWait *wait, WeftCommandChild *child, const WeftCommand *command,
                   GCancellable *cancellable)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GSource) timer = command->timeout_ms ? g_timeout_source_new (command->timeout_ms) : NULL;
  g_autoptr(GSource) exit_watch = g_child_watch_source_new (child->pid);
  gulong handler = 0;

  g_main_context_push_thread_default (context);
  wait->context = context;
  wait->cancellable = g_cancellable_new ();
  if (cancellable)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (weft_command_forward_cancel),
                                     wait, NULL);
  if (timer)
    {
      g_source_set_callback (timer, weft_command_timed_out, wait, NULL);
      g_source_attach (timer, context);
    }
  g_source_set_callback (exit_watch, G_SOURCE_FUNC (weft_command_exited), wait, NULL);
  g_source_attach (exit_watch, context);
  weft_command_pipe_init (&wait->out, wait, child->out, command->max_output, FALSE);
  weft_command_pipe_init (&wait->err, wait, child->err, command->max_stderr, TRUE);
  while (wait->pending > 0 || (!wait->reaped && wait->end == WEFT_COMMAND_RUNNING))
    g_main_context_iteration (context, TRUE);
  if (timer)
    g_source_destroy (timer);
  if (wait->end != WEFT_COMMAND_RUNNING)
    weft_command_kill (wait, child->pid);
  while (!wait->reaped)
    g_main_context_iteration (context, TRUE);
  /* Waits for a forward_cancel running on another thread: none comes
   * after this, and an idle it attached goes with the context. */
  if (handler)
    g_cancellable_disconnect (cancellable, handler);
  g_clear_object (&wait->cancellable);
  g_main_context_pop_thread_default (context);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

/* Valid UTF-8; a cut start (stderr's end kept) skips the partial character
 * and is marked "…". */
static char *
weft_command_pipe_text (const WeftCommandPipe *pipe)
{
  const char *data = pipe->bytes->len ? (const char *) pipe->bytes->data : "";
  gsize size = pipe->bytes->len;

  if (!pipe->cut || !pipe->keep_end)
    return g_utf8_make_valid (data, (gssize) size);
  for (guint i = 0; i < 3 && size > 0 && ((guchar) *data & 0xC0) == 0x80; i++, size--)
    data++;
  g_autofree char *text = g_utf8_make_valid (data, (gssize) size);
  return g_strconcat ("…", g_strchug (text), NULL);
}

static void
weft_command_fill (WeftCommandResult *result, WeftCommandWait *wait)
{
  int status = wait->wait_status;

  result->stdout_text = weft_command_pipe_text (&wait->out);
  result->stderr_text = weft_command_pipe_text (&wait->err);
  result->exited = WIFEXITED (status);
  result->exit_status = result->exited ? WEXITSTATUS (status) : -1;
  result->term_signal = WIFSIGNALED (status) ? WTERMSIG (status) : 0;
}

static void
weft_command_set_error (const WeftCommand *command, const WeftCommandWait *wait,
                        const char *display, GError **error)
{
  switch (wait->end)
    {
    case WEFT_COMMAND_TIMED_OUT:
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT,
                   "command \"%s\" timed out after %g s and was killed", display,
                   command->timeout_ms / 1000.0);
      break;
    case WEFT_COMMAND_CANCELLED:
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED,
                   "command \"%s\" was cancelled and killed", display);
      break;
    case WEFT_COMMAND_OVERFLOWED:
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "command \"%s\" wrote more than %" G_GSIZE_FORMAT " bytes to stdout and was"
                   " killed", display, command->max_output);
      break;
    case WEFT_COMMAND_BROKEN:
    case WEFT_COMMAND_RUNNING:
    default:
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\": cannot read its output: %s",
                   display, wait->error ? wait->error->message : "?");
      break;
    }
}

gboolean
weft_command_run (const WeftCommand *command, GCancellable *cancellable,
                  WeftCommandResult *result, GError **error)
{
  g_return_val_if_fail (command && command->argv && command->argv[0] && result, FALSE);

  g_autofree char *display = weft_command_display (command->argv);
  g_autoptr(GError) local = NULL;
  WeftCommandWait wait = { 0 };
  WeftCommandChild child = { 0 };

  memset (result, 0, sizeof *result);
  /* Room for fields of later minors: a caller that left it uninitialised
   * would have them read as set once they exist. */
  for (guint k = 0; k < G_N_ELEMENTS (command->reserved); k++)
    if (command->reserved[k] != NULL)
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                     "command \"%s\": WeftCommand.reserved must be zero (initialise the "
                     "struct with designated initialisers or { 0 })", display);
        return FALSE;
      }
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED,
                   "command \"%s\" was cancelled before it started", display);
      return FALSE;
    }
  if (!weft_command_spawn (command, &child, &local))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\" could not start: %s",
                   display, local->message);
      return FALSE;
    }
  weft_command_wait (&wait, &child, command, cancellable);
  if (wait.end != WEFT_COMMAND_RUNNING)
    weft_command_set_error (command, &wait, display, error);
  if (wait.end == WEFT_COMMAND_RUNNING || wait.end == WEFT_COMMAND_OVERFLOWED)
    weft_command_fill (result, &wait);
  weft_command_child_clear (&child);
  weft_command_pipe_clear (&wait.out);
  weft_command_pipe_clear (&wait.err);
  g_clear_error (&wait.error);
  return wait.end == WEFT_COMMAND_RUNNING;
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
