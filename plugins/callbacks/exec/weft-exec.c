/* weft-exec.c — a callback that runs a command for each selected event,
 * with the event JSON on its stdin (mail, desktop notifications, scripts).
 *
 * Registered as the callback "exec": the registry keys plugins by kind and
 * name, so it lives beside the agent of the same name.
 *
 * on_event runs on this instance's own dispatcher thread and waits there
 * for the command, so commands run one at a time, in the order of the
 * events, and a slow one delays nobody but this instance.  A command that
 * fails or runs out of time is logged and the next event goes on.
 */
#define G_LOG_DOMAIN "weft-exec"

#include <weft/weft-sdk.h>

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Enough of stderr to explain a failure in one warning. */
#define WEFT_EXEC_CB_MAX_STDERR 1000

typedef struct {
  char *instance;          /* the callback's name in the flow, for logs */
  char **argv;             /* what is spawned (/bin/sh -c … for shell)  */
  char *display;           /* the command as warnings name it           */
  char **env_names;        /* variables added to the command's env ...  */
  char **env_values;       /* ... and their values, index for index     */
  char *cwd;               /* NULL: the engine's                        */
  guint32 events;          /* bit (1 << WeftEventType) per selected type */
  guint timeout_ms;
} WeftExecCb;

static const WeftOption weft_exec_cb_options[] = {
  { "command", WEFT_OPTION_STRING_LIST, NULL, TRUE,
    "argv of the command (no shell); with shell, one shell command line" },
  { "shell", WEFT_OPTION_BOOL, "false", FALSE,
    "run the single element of command with /bin/sh -c" },
  { "events", WEFT_OPTION_STRING_LIST,
    "[\"task.completed\", \"task.failed\", \"run.completed\", \"run.failed\", \"run.cancelled\"]",
    FALSE, "event types to run the command for (default: task and run endings)" },
  { "env", WEFT_OPTION_OBJECT, NULL, FALSE,
    "environment variables (name: string value) added for the command" },
  { "cwd", WEFT_OPTION_STRING, NULL, FALSE,
    "working directory of the command (default: the engine's)" },
  { "timeout_s", WEFT_OPTION_DOUBLE, "30", FALSE,
    "kill the command's process group after this many seconds" },
  WEFT_OPTION_END
};

static void
weft_exec_cb_free (WeftExecCb *self)
{
  g_free (self->instance);
  g_strfreev (self->argv);
  g_free (self->display);
  g_strfreev (self->env_names);
  g_strfreev (self->env_values);
  g_free (self->cwd);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftExecCb, weft_exec_cb_free)

/* ------------------------------------------------------------------------ */
/* create                                                                   */

/* The command as a reader would type it: elements quoted where needed. */
static char *
weft_exec_cb_display (const char * const *command)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; command[i] != NULL; i++)
    {
      const char *arg = command[i];
      gboolean plain = *arg != '\0' && strpbrk (arg, " \t\n'\"\\$`*?;&|<>(){}") == NULL;
      g_autofree char *quoted = plain ? NULL : g_shell_quote (arg);

      if (i > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, plain ? arg : quoted);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
weft_exec_cb_set_command (WeftExecCb *self, const WeftConfig *config, GError **error)
{
  const char * const *command = weft_config_get_strv (config, "command");
  guint n = command != NULL ? g_strv_length ((char **) command) : 0;

  if (n == 0 || *command[0] == '\0')
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"command\": must name a program (it is empty)");
      return FALSE;
    }
  if (!weft_config_get_bool (config, "shell"))
    {
      self->argv = g_strdupv ((char **) command);
      self->display = weft_exec_cb_display (command);
      return TRUE;
    }
  if (n != 1)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"command\": must have exactly one element when \"shell\" is true, not %u",
                   n);
      return FALSE;
    }
  self->argv = g_strdupv ((char *[]) { (char *) "/bin/sh", (char *) "-c", (char *) command[0], NULL });
  self->display = g_strdup (command[0]);
  return TRUE;
}

/* Every type this weft knows, for error messages: asked of the SDK, so that
 * types added later are listed without a change here. */
static char *
weft_exec_cb_valid_types (void)
{
  g_autoptr(GString) valid = g_string_new (NULL);

  for (guint i = 0; i < 32; i++)
    {
      const char *name = weft_event_type_to_string ((WeftEventType) i);

      if (!weft_event_type_from_string (name, NULL))
        break;
      g_string_append_printf (valid, "%s%s", i > 0 ? ", " : "", name);
    }
  return g_string_free (g_steal_pointer (&valid), FALSE);
}

static gboolean
weft_exec_cb_set_events (WeftExecCb *self, const WeftConfig *config, GError **error)
{
  const char * const *names = weft_config_get_strv (config, "events");

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      WeftEventType type;
      g_autofree char *valid = NULL;

      if (weft_event_type_from_string (names[i], &type) && (guint) type < 32)
        {
          self->events |= 1u << type;
          continue;
        }
      valid = weft_exec_cb_valid_types ();
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"events\": unknown event type \"%s\" (valid: %s)", names[i], valid);
      return FALSE;
    }
  if (self->events == 0)
    {
      g_autofree char *valid = weft_exec_cb_valid_types ();

      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"events\": must name at least one event type (%s)", valid);
      return FALSE;
    }
  return TRUE;
}

static gboolean
weft_exec_cb_check_env (const char *name, JsonNode *value, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"env\": the value of \"%s\" must be a string", name);
      return FALSE;
    }
  if (*name == '\0' || strchr (name, '=') != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"env\": \"%s\" is not a valid variable name", name);
      return FALSE;
    }
  return TRUE;
}

/* Copied out of the config: its JsonObject must not be read from the
 * dispatcher thread while other threads may touch it. */
static gboolean
weft_exec_cb_set_env (WeftExecCb *self, const WeftConfig *config, GError **error)
{
  JsonObject *env = weft_config_has (config, "env")
                    ? weft_config_get_object (config, "env") : NULL;
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) values = g_strv_builder_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (env != NULL)
    {
      json_object_iter_init (&iter, env);
      while (json_object_iter_next (&iter, &name, &value))
        {
          if (!weft_exec_cb_check_env (name, value, error))
            return FALSE;
          g_strv_builder_add (names, name);
          g_strv_builder_add (values, json_node_get_string (value));
        }
    }
  self->env_names = g_strv_builder_end (names);
  self->env_values = g_strv_builder_end (values);
  return TRUE;
}

static gboolean
weft_exec_cb_set_rest (WeftExecCb *self, const WeftConfig *config, GError **error)
{
  double timeout_s = weft_config_get_double (config, "timeout_s");

  if (!(timeout_s >= 0.001 && timeout_s <= 86400))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"timeout_s\": must be between 0.001 and 86400, not %g", timeout_s);
      return FALSE;
    }
  self->timeout_ms = (guint) (timeout_s * 1000 + 0.5);
  if (weft_config_has (config, "cwd"))
    {
      const char *cwd = weft_config_get_string (config, "cwd");

      if (cwd == NULL || *cwd == '\0')
        {
          g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                               "option \"cwd\": must not be empty");
          return FALSE;
        }
      self->cwd = g_strdup (cwd);
    }
  return TRUE;
}

static gpointer
weft_exec_cb_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftExecCb) self = g_new0 (WeftExecCb, 1);

  self->instance = g_strdup (weft_config_get_instance_name (config));
  if (!weft_exec_cb_set_command (self, config, error) ||
      !weft_exec_cb_set_events (self, config, error) ||
      !weft_exec_cb_set_env (self, config, error) ||
      !weft_exec_cb_set_rest (self, config, error))
    return NULL;
  return g_steal_pointer (&self);
}

static void
weft_exec_cb_destroy (gpointer instance)
{
  weft_exec_cb_free (instance);
}

/* ------------------------------------------------------------------------ */
/* Spawning                                                                 */

/* stdin comes from a temporary file, unlinked once the child holds it,
 * rather than from a pipe: writing to a pipe whose reader has exited raises
 * SIGPIPE, which would kill the whole engine (a plugin must not change the
 * process's signal dispositions). */
static char *
weft_exec_cb_write_stdin (const char *data, GError **error)
{
  g_autoptr(GFileIOStream) stream = NULL;
  g_autoptr(GFile) file = g_file_new_tmp ("weft-exec-cb-XXXXXX", &stream, error);
  GOutputStream *out;

  if (file == NULL)
    return NULL;
  out = g_io_stream_get_output_stream (G_IO_STREAM (stream));
  if (!g_output_stream_write_all (out, data, strlen (data), NULL, NULL, error) ||
      !g_io_stream_close (G_IO_STREAM (stream), NULL, error))
    {
      g_file_delete (file, NULL, NULL);
      return NULL;
    }
  return g_file_get_path (file);
}

/* Runs in the child between fork and exec: a process group of its own lets
 * a timeout kill every process the command started, a shell's too. */
static void
weft_exec_cb_child_setup (gpointer user_data)
{
  setpgid (0, 0);
}

static void
weft_exec_cb_set_event_env (GSubprocessLauncher *launcher, const WeftEvent *event)
{
  g_autofree char *seq = g_strdup_printf ("%" G_GUINT64_FORMAT, weft_event_get_seq (event));
  const char *task = weft_event_get_task_name (event);

  g_subprocess_launcher_setenv (launcher, "WEFT_EVENT_TYPE",
                                weft_event_type_to_string (weft_event_get_event_type (event)),
                                TRUE);
  g_subprocess_launcher_setenv (launcher, "WEFT_RUN_ID", weft_event_get_run_id (event), TRUE);
  g_subprocess_launcher_setenv (launcher, "WEFT_FLOW", weft_event_get_flow_name (event), TRUE);
  g_subprocess_launcher_setenv (launcher, "WEFT_SEQ", seq, TRUE);
  /* Unset rather than inherited: a run event has no task, whatever the
   * engine's own environment says. */
  if (task != NULL)
    g_subprocess_launcher_setenv (launcher, "WEFT_TASK", task, TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "WEFT_TASK");
}

static GSubprocess *
weft_exec_cb_spawn (WeftExecCb *self, const WeftEvent *event, GError **error)
{
  g_autofree char *json = weft_event_to_json (event);
  g_autofree char *stdin_path = weft_exec_cb_write_stdin (json, error);
  /* stdout is dropped: it would mix into weft's own output. */
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  GSubprocess *proc;

  if (stdin_path == NULL)
    return NULL;
  for (guint i = 0; self->env_names[i] != NULL; i++)
    g_subprocess_launcher_setenv (launcher, self->env_names[i], self->env_values[i], TRUE);
  weft_exec_cb_set_event_env (launcher, event);
  if (self->cwd != NULL)
    g_subprocess_launcher_set_cwd (launcher, self->cwd);
  g_subprocess_launcher_set_stdin_file_path (launcher, stdin_path);
  g_subprocess_launcher_set_child_setup (launcher, weft_exec_cb_child_setup, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) self->argv, error);
  g_unlink (stdin_path);   /* the child holds it open */
  return proc;
}

/* ------------------------------------------------------------------------ */
/* Waiting, with a timeout                                                  */

typedef struct {
  GSubprocess *proc;
  GCancellable *cancellable;
  GBytes *err_bytes;
  GError *error;
  gboolean done;
  gboolean timed_out;
} WeftExecCbWait;

static void
weft_exec_cb_communicated (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftExecCbWait *w = data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result, NULL, &w->err_bytes,
                                   &w->error);
  w->done = TRUE;
}

/* Kills the command's whole process group: what it started in the
 * background goes too, and so does whatever keeps its stderr open. */
static gboolean
weft_exec_cb_timed_out (gpointer data)
{
  WeftExecCbWait *w = data;
  const char *id = g_subprocess_get_identifier (w->proc);
  gint64 pid = id != NULL ? g_ascii_strtoll (id, NULL, 10) : 0;

  w->timed_out = TRUE;
  if (pid > 0)
    kill ((pid_t) -pid, SIGKILL);
  g_subprocess_force_exit (w->proc);
  /* Stops reading stderr even if something outside the group holds it. */
  g_cancellable_cancel (w->cancellable);
  return G_SOURCE_REMOVE;
}

/* Waits for the command on a main context of this call's own: the
 * dispatcher thread has no loop, and a timeout needs one. */
static void
weft_exec_cb_wait (WeftExecCb *self, WeftExecCbWait *w)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GSource) timer = g_timeout_source_new (self->timeout_ms);

  g_main_context_push_thread_default (context);
  g_subprocess_communicate_async (w->proc, NULL, w->cancellable, weft_exec_cb_communicated, w);
  g_source_set_callback (timer, weft_exec_cb_timed_out, w, NULL);
  g_source_attach (timer, context);
  while (!w->done)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timer);
  g_main_context_pop_thread_default (context);
  /* Reaped before returning, so no command outlives its event as a zombie. */
  g_subprocess_wait (w->proc, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* on_event                                                                 */

/* stderr for a warning: trimmed, on one line, and when long only its end
 * (where the final complaint is), cut at a character boundary. */
static char *
weft_exec_cb_stderr_excerpt (GBytes *bytes)
{
  gsize size = 0;
  const char *data = bytes != NULL ? g_bytes_get_data (bytes, &size) : NULL;
  g_autofree char *text = g_utf8_make_valid (data != NULL ? data : "", (gssize) size);
  gsize len;

  g_strdelimit (g_strstrip (text), "\r\n", ' ');
  len = strlen (text);
  if (len <= WEFT_EXEC_CB_MAX_STDERR)
    return g_steal_pointer (&text);
  return g_strconcat ("…", g_utf8_find_next_char (text + len - WEFT_EXEC_CB_MAX_STDERR - 1, NULL),
                      NULL);
}

/* "exited with status 3", "timed out after 30 s", …: NULL on success. */
static char *
weft_exec_cb_failure (WeftExecCb *self, WeftExecCbWait *w)
{
  if (w->timed_out)
    return g_strdup_printf ("timed out after %g s and was killed", self->timeout_ms / 1000.0);
  if (w->error != NULL)
    return g_strdup_printf ("could not be read from: %s", w->error->message);
  if (g_subprocess_get_if_signaled (w->proc))
    return g_strdup_printf ("was killed by signal %d (%s)", g_subprocess_get_term_sig (w->proc),
                            g_strsignal (g_subprocess_get_term_sig (w->proc)));
  if (g_subprocess_get_exit_status (w->proc) != 0)
    return g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (w->proc));
  return NULL;
}

static void
weft_exec_cb_warn (WeftExecCb *self, const WeftEvent *event, const char *what,
                   const char *stderr_text)
{
  g_warning ("exec \"%s\": command \"%s\" for %s (run %s, seq %" G_GUINT64_FORMAT "%s%s) %s%s%s",
             self->instance, self->display,
             weft_event_type_to_string (weft_event_get_event_type (event)),
             weft_event_get_run_id (event), weft_event_get_seq (event),
             weft_event_get_task_name (event) != NULL ? ", task " : "",
             weft_event_get_task_name (event) != NULL ? weft_event_get_task_name (event) : "",
             what, stderr_text != NULL && *stderr_text != '\0' ? ": " : "",
             stderr_text != NULL ? stderr_text : "");
}

static void
weft_exec_cb_on_event (gpointer instance, const WeftEvent *event)
{
  WeftExecCb *self = instance;
  guint type = weft_event_get_event_type (event);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *failure = NULL;
  g_autofree char *excerpt = NULL;
  WeftExecCbWait w = { .cancellable = cancellable };

  if (type >= 32 || (self->events & (1u << type)) == 0)
    return;
  proc = weft_exec_cb_spawn (self, event, &error);
  if (proc == NULL)
    {
      weft_exec_cb_warn (self, event, "could not start", error->message);
      return;
    }
  w.proc = proc;
  weft_exec_cb_wait (self, &w);
  failure = weft_exec_cb_failure (self, &w);
  if (failure != NULL)
    {
      excerpt = weft_exec_cb_stderr_excerpt (w.err_bytes);
      weft_exec_cb_warn (self, event, failure, excerpt);
    }
  g_clear_pointer (&w.err_bytes, g_bytes_unref);
  g_clear_error (&w.error);
}

static const WeftCallbackClass weft_exec_cb_class = {
  .on_event = weft_exec_cb_on_event,
};

static const WeftPluginDescriptor weft_exec_cb_descriptor = {
  .abi = WEFT_ABI_VERSION,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "exec",
  .version = "0.1.0",
  .description = "Runs a command for each selected event, the event JSON on its stdin",
  .options = weft_exec_cb_options,
  .create = weft_exec_cb_create,
  .destroy = weft_exec_cb_destroy,
  .callback = &weft_exec_cb_class,
};

WEFT_PLUGIN_DEFINE (weft_exec_cb_descriptor)
