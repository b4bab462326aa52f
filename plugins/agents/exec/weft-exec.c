/* weft-exec.c — an agent that runs a command.
 *
 * The task's prompt (or a JSON description of the task) is the command's
 * stdin, its stdout is the task's output.  A blocking agent: run() is called
 * on a worker thread and waits for the child.
 *
 * The SDK's weft_command_run() runs it: its own process group, so that
 * cancelling the task kills everything it started (a shell's children
 * too), not only the direct child.
 */
#include <weft/weft-sdk.h>

#include <string.h>

/* Enough of stderr to explain a failure without flooding the run's record. */
#define WEFT_EXEC_MAX_STDERR 4096

typedef enum {
  WEFT_EXEC_STDIN_PROMPT,
  WEFT_EXEC_STDIN_JSON,
  WEFT_EXEC_STDIN_NONE,
} WeftExecStdin;

typedef struct {
  char **argv;            /* what is spawned (/bin/sh -c … for shell) */
  char **env;             /* "NAME=value" added to the child's env    */
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
  g_strfreev (self->env);
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

static gboolean
weft_exec_set_command (WeftExec *self, const WeftConfig *config, GError **error)
{
  self->argv = weft_command_argv_from_option (weft_config_get_strv (config, "command"),
                                              weft_config_get_bool (config, "shell"), error);
  return self->argv != NULL;
}

static gboolean
weft_exec_set_env (WeftExec *self, const WeftConfig *config, GError **error)
{
  self->env = weft_command_env_from_option (weft_config_has (config, "env")
                                            ? weft_config_get_object (config, "env") : NULL,
                                            error);
  return self->env != NULL;
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

  /* The attempt's own copy of the inputs (see weft_task_get_inputs):
   * referencing it from this worker thread is safe. */
  json_builder_set_member_name (builder, "inputs");
  if (inputs != NULL)
    json_builder_add_value (builder, json_node_init_object (json_node_alloc (), inputs));
  else
    {
      json_builder_begin_object (builder);
      json_builder_end_object (builder);
    }

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

/* ------------------------------------------------------------------------ */
/* run                                                                      */

/* stdout as the output: one final newline dropped, as a shell's $(...)
 * would. */
static char *
weft_exec_output (WeftCommandResult *result)
{
  char *output = g_steal_pointer (&result->stdout_text);
  gsize len = strlen (output);

  if (len > 0 && output[len - 1] == '\n')
    output[len - 1] = '\0';
  return output;
}

static char *
weft_exec_run_command (WeftExec *self, WeftTask *task, GError **error)
{
  g_autofree char *data = weft_exec_stdin_data (self, task);
  WeftCommand command = {
    .argv = (const char * const *) self->argv,
    .env = (const char * const *) self->env,
    .clear_env = !self->inherit_env,
    .cwd = self->cwd,
    .stdin_data = data,   /* NULL: /dev/null */
    .stdin_length = -1,
    .max_stderr = WEFT_EXEC_MAX_STDERR,
  };
  g_auto(WeftCommandResult) result = { 0 };

  /* No timeout of its own: the task's cancels it, through the cancellable. */
  if (!weft_command_run (&command, weft_task_get_cancellable (task), &result, error))
    return NULL;
  if (!weft_command_result_succeeded (&result))
    {
      g_autofree char *display = weft_command_display (command.argv);
      g_autofree char *why = weft_command_result_describe (&result);

      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\" %s", display, why);
      return NULL;
    }
  return weft_exec_output (&result);
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
