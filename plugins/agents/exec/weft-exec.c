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

/* In the order of weft_exec_stdin_choices: weft binds the index. */
typedef enum {
  WEFT_EXEC_STDIN_PROMPT,
  WEFT_EXEC_STDIN_JSON,
  WEFT_EXEC_STDIN_NONE,
} WeftExecStdin;

static const char * const weft_exec_stdin_choices[] = { "prompt", "json", "none", NULL };

/* The options, as weft binds them (see weft_exec_options). */
typedef struct {
  const char * const *command;
  gboolean shell;
  JsonObject *env;
  gboolean inherit_env;
  const char *cwd;            /* NULL: the engine's */
  gint stdin_mode;            /* WeftExecStdin */
} WeftExecOptions;

typedef struct {
  const WeftExecOptions *options;  /* the config's: lives as long as the instance */
  char **argv;            /* what is spawned (/bin/sh -c … for shell) */
  char **env;             /* "NAME=value" added to the child's env    */
} WeftExec;

static const WeftOption weft_exec_options[] = {
  { .name = "command", .type = WEFT_OPTION_STRING_LIST, .required = TRUE,
    .offset = offsetof (WeftExecOptions, command),
    .description = "argv of the command; with shell, one shell command line" },
  { .name = "shell", .type = WEFT_OPTION_BOOL, .default_json = "false",
    .offset = offsetof (WeftExecOptions, shell),
    .description = "run the single element of command with /bin/sh -c" },
  { .name = "env", .type = WEFT_OPTION_OBJECT, .offset = offsetof (WeftExecOptions, env),
    .description = "environment variables (name: string value) added for the command" },
  { .name = "inherit_env", .type = WEFT_OPTION_BOOL, .default_json = "true",
    .offset = offsetof (WeftExecOptions, inherit_env),
    .description = "start from the engine's environment (false: only env)" },
  { .name = "cwd", .type = WEFT_OPTION_STRING, .flags = WEFT_OPTION_NOT_EMPTY,
    .offset = offsetof (WeftExecOptions, cwd),
    .description = "working directory of the command (default: the engine's)" },
  { .name = "stdin", .type = WEFT_OPTION_ENUM, .default_json = "\"prompt\"",
    .choices = weft_exec_stdin_choices, .offset = offsetof (WeftExecOptions, stdin_mode),
    .description = "what the command reads: \"prompt\", \"json\" (task, prompt, inputs, "
                   "context, attempt) or \"none\"" },
  WEFT_OPTION_END
};

static void
weft_exec_free (WeftExec *self)
{
  g_strfreev (self->argv);
  g_strfreev (self->env);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftExec, weft_exec_free)

/* ------------------------------------------------------------------------ */
/* create                                                                   */

static gpointer
weft_exec_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftExec) self = g_new0 (WeftExec, 1);
  const WeftExecOptions *options = weft_config_get_options (config);

  self->options = options;
  self->argv = weft_command_argv_from_option (options->command, options->shell, error);
  if (self->argv == NULL)
    return NULL;
  self->env = weft_command_env_from_option (options->env, error);
  if (self->env == NULL)
    return NULL;
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
  switch ((WeftExecStdin) self->options->stdin_mode)
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
    .clear_env = !self->options->inherit_env,
    .cwd = self->options->cwd,
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
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "exec",
  .version = "0.1.0",
  .description = "Runs a command: the prompt (or the task as JSON) on stdin, stdout is the output",
  .options = weft_exec_options,
  .options_size = sizeof (WeftExecOptions),
  .create = weft_exec_create,
  .destroy = weft_exec_destroy,
  .agent = &weft_exec_class,
};

WEFT_PLUGIN_DEFINE (weft_exec_descriptor)
