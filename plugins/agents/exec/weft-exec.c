/* weft-exec.c — an agent that runs a command.
 *
 * The task's prompt (or a JSON description of the task) is the command's
 * stdin, its stdout is the task's output.  A blocking agent: run() is called
 * on a worker thread and waits for the child.
 *
 * The child gets its own process group so that cancelling the task kills
 * everything it started (a shell's children too), not only the direct child.
 */
#include <weft/weft-sdk.h>

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Enough of stderr to explain a failure without flooding the run's record. */
#define WEFT_EXEC_MAX_STDERR 4096

typedef enum {
  WEFT_EXEC_STDIN_PROMPT,
  WEFT_EXEC_STDIN_JSON,
  WEFT_EXEC_STDIN_NONE,
} WeftExecStdin;

typedef struct {
  char **argv;            /* what is spawned (/bin/sh -c … for shell) */
  char *display;          /* the command as error messages name it    */
  char **env_names;       /* variables added to the child's env ...   */
  char **env_values;      /* ... and their values, index for index    */
  gboolean inherit_env;
  char *cwd;              /* NULL: the engine's                       */
  WeftExecStdin stdin_mode;
} WeftExec;

static const WeftOption weft_exec_options[] = {
  { "command", WEFT_OPTION_STRING_LIST, NULL, TRUE,
    "argv of the command; with shell, one shell command line" },
  { "shell", WEFT_OPTION_BOOL, "false", FALSE,
    "run the single element of command with /bin/sh -c" },
  { "env", WEFT_OPTION_OBJECT, NULL, FALSE,
    "environment variables (name: string value) added for the command" },
  { "inherit_env", WEFT_OPTION_BOOL, "true", FALSE,
    "start from the engine's environment (false: only env)" },
  { "cwd", WEFT_OPTION_STRING, NULL, FALSE,
    "working directory of the command (default: the engine's)" },
  { "stdin", WEFT_OPTION_STRING, "\"prompt\"", FALSE,
    "what the command reads: \"prompt\", \"json\" (task, prompt, inputs, context, attempt) or \"none\"" },
  WEFT_OPTION_END
};

static void
weft_exec_free (WeftExec *self)
{
  g_strfreev (self->argv);
  g_free (self->display);
  g_strfreev (self->env_names);
  g_strfreev (self->env_values);
  g_free (self->cwd);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftExec, weft_exec_free)

/* ------------------------------------------------------------------------ */
/* create                                                                   */

static gboolean
weft_exec_parse_stdin (const char *value, WeftExecStdin *mode, GError **error)
{
  if (g_strcmp0 (value, "prompt") == 0)
    *mode = WEFT_EXEC_STDIN_PROMPT;
  else if (g_strcmp0 (value, "json") == 0)
    *mode = WEFT_EXEC_STDIN_JSON;
  else if (g_strcmp0 (value, "none") == 0)
    *mode = WEFT_EXEC_STDIN_NONE;
  else
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"stdin\": must be \"prompt\", \"json\" or \"none\", not \"%s\"",
                   value);
      return FALSE;
    }
  return TRUE;
}

/* The command as a reader would type it: elements quoted where needed. */
static char *
weft_exec_display (const char * const *command)
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
weft_exec_set_command (WeftExec *self, const WeftConfig *config, GError **error)
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
      self->display = weft_exec_display (command);
      return TRUE;
    }

  if (n != 1)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"command\": must have exactly one element when \"shell\" is true, not %u",
                   n);
      return FALSE;
    }
  self->argv = g_new0 (char *, 4);
  self->argv[0] = g_strdup ("/bin/sh");
  self->argv[1] = g_strdup ("-c");
  self->argv[2] = g_strdup (command[0]);
  self->display = g_strdup (command[0]);
  return TRUE;
}

static gboolean
weft_exec_set_env (WeftExec *self, const WeftConfig *config, GError **error)
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
          if (!JSON_NODE_HOLDS_VALUE (value) ||
              json_node_get_value_type (value) != G_TYPE_STRING)
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
          g_strv_builder_add (names, name);
          g_strv_builder_add (values, json_node_get_string (value));
        }
    }
  self->env_names = g_strv_builder_end (names);
  self->env_values = g_strv_builder_end (values);
  return TRUE;
}

static gpointer
weft_exec_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftExec) self = g_new0 (WeftExec, 1);

  if (!weft_exec_set_command (self, config, error) ||
      !weft_exec_set_env (self, config, error) ||
      !weft_exec_parse_stdin (weft_config_get_string (config, "stdin"),
                              &self->stdin_mode, error))
    return NULL;

  self->inherit_env = weft_config_get_bool (config, "inherit_env");
  if (weft_config_has (config, "cwd"))
    {
      const char *cwd = weft_config_get_string (config, "cwd");

      if (cwd == NULL || *cwd == '\0')
        {
          g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                               "option \"cwd\": must not be empty");
          return NULL;
        }
      self->cwd = g_strdup (cwd);
    }
  return g_steal_pointer (&self);
}

static void
weft_exec_destroy (gpointer instance)
{
  weft_exec_free (instance);
}

/* ------------------------------------------------------------------------ */
/* stdin                                                                    */

/* Deep copies that only read their source.  The run's inputs are shared by
 * tasks on several worker threads, and json-glib's reference counts are not
 * atomic, so taking a reference here (json_node_copy does) would race. */
static JsonNode *weft_exec_json_copy (JsonNode *node);

static JsonObject *
weft_exec_object_copy (JsonObject *source)
{
  JsonObject *object = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  json_object_iter_init (&iter, source);
  while (json_object_iter_next (&iter, &name, &member))
    json_object_set_member (object, name, weft_exec_json_copy (member));
  return object;
}

static JsonArray *
weft_exec_array_copy (JsonArray *source)
{
  guint n = json_array_get_length (source);
  JsonArray *array = json_array_sized_new (n);

  for (guint i = 0; i < n; i++)
    json_array_add_element (array, weft_exec_json_copy (json_array_get_element (source, i)));
  return array;
}

static JsonNode *
weft_exec_object_node (JsonObject *object /* transfer full */)
{
  JsonNode *node = json_node_init (json_node_alloc (), JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  return node;
}

static JsonNode *
weft_exec_json_copy (JsonNode *node)
{
  JsonNode *copy;
  GValue value = G_VALUE_INIT;

  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      return weft_exec_object_node (weft_exec_object_copy (json_node_get_object (node)));
    case JSON_NODE_ARRAY:
      copy = json_node_init (json_node_alloc (), JSON_NODE_ARRAY);
      json_node_take_array (copy, weft_exec_array_copy (json_node_get_array (node)));
      return copy;
    case JSON_NODE_VALUE:
      copy = json_node_init (json_node_alloc (), JSON_NODE_VALUE);
      json_node_get_value (node, &value);
      json_node_set_value (copy, &value);
      g_value_unset (&value);
      return copy;
    case JSON_NODE_NULL:
    default:
      return json_node_init_null (json_node_alloc ());
    }
}

static char *
weft_exec_task_json (WeftTask *task)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  JsonObject *inputs = weft_task_get_inputs (task);
  guint n = weft_task_get_n_context (task);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "task");
  json_builder_add_string_value (builder, weft_task_get_name (task));
  json_builder_set_member_name (builder, "prompt");
  json_builder_add_string_value (builder, weft_task_get_prompt (task));

  json_builder_set_member_name (builder, "inputs");
  json_builder_add_value (builder,
                          weft_exec_object_node (inputs != NULL ? weft_exec_object_copy (inputs)
                                                                : json_object_new ()));

  json_builder_set_member_name (builder, "context");
  json_builder_begin_object (builder);
  for (guint i = 0; i < n; i++)
    {
      json_builder_set_member_name (builder, weft_task_get_context_name (task, i));
      json_builder_add_string_value (builder, weft_task_get_context_output (task, i));
    }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "attempt");
  json_builder_add_int_value (builder, weft_task_get_attempt (task));
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* What the child reads, or NULL for nothing (stdin is then /dev/null). */
static char *
weft_exec_stdin_data (WeftExec *self, WeftTask *task)
{
  switch (self->stdin_mode)
    {
    case WEFT_EXEC_STDIN_PROMPT:
      return g_strdup (weft_task_get_prompt (task));
    case WEFT_EXEC_STDIN_JSON:
      return weft_exec_task_json (task);
    case WEFT_EXEC_STDIN_NONE:
    default:
      return NULL;
    }
}

/* stdin is fed from an unlinked-after-spawn temporary file rather than a
 * pipe: writing to a pipe whose reader has exited raises SIGPIPE, which
 * would kill the whole engine (a plugin must not change the process's
 * signal dispositions), and a file can never deadlock against stdout. */
static char *
weft_exec_write_stdin_file (const char *data, GError **error)
{
  g_autoptr(GFileIOStream) stream = NULL;
  g_autoptr(GFile) file = g_file_new_tmp ("weft-exec-XXXXXX", &stream, error);
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

/* ------------------------------------------------------------------------ */
/* run                                                                      */

/* Runs in the child between fork and exec: a process group of its own lets
 * a cancellation kill every process the command started. */
static void
weft_exec_child_setup (gpointer user_data)
{
  setpgid (0, 0);
}

static GSubprocessLauncher *
weft_exec_launcher (WeftExec *self, const char *stdin_path)
{
  GSubprocessLauncher *launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);

  if (!self->inherit_env)
    g_subprocess_launcher_set_environ (launcher, (char *[]) { NULL });
  for (guint i = 0; self->env_names[i] != NULL; i++)
    g_subprocess_launcher_setenv (launcher, self->env_names[i], self->env_values[i], TRUE);
  if (self->cwd != NULL)
    g_subprocess_launcher_set_cwd (launcher, self->cwd);
  if (stdin_path != NULL)
    g_subprocess_launcher_set_stdin_file_path (launcher, stdin_path);
  g_subprocess_launcher_set_child_setup (launcher, weft_exec_child_setup, NULL, NULL);
  return launcher;
}

static GSubprocess *
weft_exec_spawn (WeftExec *self, WeftTask *task, GError **error)
{
  g_autofree char *data = weft_exec_stdin_data (self, task);
  g_autofree char *stdin_path = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) local = NULL;
  GSubprocess *proc;

  if (data != NULL && (stdin_path = weft_exec_write_stdin_file (data, &local)) == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "command \"%s\": cannot write its stdin to a temporary file: %s",
                   self->display, local->message);
      return NULL;
    }

  launcher = weft_exec_launcher (self, stdin_path);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) self->argv, &local);
  if (stdin_path != NULL)
    g_unlink (stdin_path);   /* the child holds it open */
  if (proc == NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                 "command \"%s\" could not start: %s", self->display, local->message);
  return proc;
}

/* Kills the child's whole process group, then reaps the child so that it
 * never lingers as a zombie. */
static void
weft_exec_kill (GSubprocess *proc)
{
  const char *id = g_subprocess_get_identifier (proc);
  gint64 pid = id != NULL ? g_ascii_strtoll (id, NULL, 10) : 0;

  if (pid > 0)
    kill ((pid_t) -pid, SIGKILL);
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
}

/* Output bytes as valid UTF-8 (events and stores need text). */
static char *
weft_exec_text (GBytes *bytes)
{
  gsize size = 0;
  const char *data = bytes != NULL ? g_bytes_get_data (bytes, &size) : NULL;

  return g_utf8_make_valid (data != NULL ? data : "", (gssize) size);
}

/* stderr for an error message: trimmed, and when long only its end (where
 * tracebacks and the final complaint are), cut at a character boundary. */
static char *
weft_exec_stderr_excerpt (GBytes *bytes)
{
  g_autofree char *text = weft_exec_text (bytes);
  const char *start;
  gsize len;

  g_strstrip (text);
  len = strlen (text);
  if (len <= WEFT_EXEC_MAX_STDERR)
    return g_steal_pointer (&text);
  start = g_utf8_find_next_char (text + len - WEFT_EXEC_MAX_STDERR - 1, NULL);
  return g_strconcat ("…", start, NULL);
}

static void
weft_exec_set_status_error (WeftExec *self, GSubprocess *proc, GBytes *err_bytes,
                            GError **error)
{
  g_autofree char *excerpt = weft_exec_stderr_excerpt (err_bytes);
  g_autofree char *how = NULL;

  if (g_subprocess_get_if_signaled (proc))
    {
      int sig = g_subprocess_get_term_sig (proc);

      how = g_strdup_printf ("was killed by signal %d (%s)", sig, g_strsignal (sig));
    }
  else
    how = g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (proc));

  g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\" %s%s%s",
               self->display, how,
               *excerpt != '\0' ? ": " : " (no stderr)", excerpt);
}

static char *
weft_exec_run_command (WeftExec *self, WeftTask *task, GError **error)
{
  GCancellable *cancellable = weft_task_get_cancellable (task);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GBytes) out_bytes = NULL;
  g_autoptr(GBytes) err_bytes = NULL;
  g_autoptr(GError) local = NULL;
  char *output;
  gsize len;

  /* Timed out or cancelled while queued for a worker: don't start it. */
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED,
                   "command \"%s\" was cancelled before it started", self->display);
      return NULL;
    }
  proc = weft_exec_spawn (self, task, error);
  if (proc == NULL)
    return NULL;

  if (!g_subprocess_communicate (proc, NULL, cancellable, &out_bytes, &err_bytes, &local))
    {
      weft_exec_kill (proc);
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED,
                     "command \"%s\" was cancelled and killed", self->display);
      else
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                     "command \"%s\": cannot read its output: %s", self->display, local->message);
      return NULL;
    }

  if (!g_subprocess_get_successful (proc))
    {
      weft_exec_set_status_error (self, proc, err_bytes, error);
      return NULL;
    }

  output = weft_exec_text (out_bytes);
  len = strlen (output);
  if (len > 0 && output[len - 1] == '\n')
    output[len - 1] = '\0';
  return output;
}

static void
weft_exec_run (gpointer instance, WeftTask *task)
{
  GError *error = NULL;
  g_autofree char *output = weft_exec_run_command (instance, task, &error);

  if (output != NULL)
    weft_task_return (task, output);
  else
    weft_task_return_error (task, error);
}

/* ------------------------------------------------------------------------ */

static const WeftAgentClass weft_exec_class = {
  .flags = 0,   /* blocking: run() waits for the child on a worker thread */
  .run = weft_exec_run,
};

static const WeftPluginDescriptor weft_exec_descriptor = {
  .abi = WEFT_ABI_VERSION,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "exec",
  .version = "0.1.0",
  .description = "Runs a command: the prompt (or the task as JSON) on stdin, stdout is the output",
  .options = weft_exec_options,
  .create = weft_exec_create,
  .destroy = weft_exec_destroy,
  .agent = &weft_exec_class,
};

WEFT_PLUGIN_DEFINE (weft_exec_descriptor)
