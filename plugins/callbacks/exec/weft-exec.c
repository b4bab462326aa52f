/* weft-exec.c — a callback that runs a command for each selected event,
 * with the event JSON on its stdin (mail, desktop notifications, scripts).
 *
 * Registered as the callback "exec": the registry keys plugins by kind and
 * name, so it lives beside the agent of the same name.
 *
 * on_event runs on this instance's own dispatcher thread and waits there
 * for the command, so commands run one at a time, in the order of the
 * events, and a slow one delays nobody but this instance.  A command that
 * fails or runs out of time is logged and the next event goes on.  The
 * SDK's weft_command_run() runs it, in a process group of its own that a
 * timeout kills whole.
 */
#define G_LOG_DOMAIN "weft-exec"

#include <weft/weft-sdk.h>

#include <string.h>

/* Enough of stderr to explain a failure in one warning. */
#define WEFT_EXEC_CB_MAX_STDERR 1000

/* The options, as weft binds them (see weft_exec_cb_options). */
typedef struct {
  const char * const *command;
  gboolean shell;
  const char * const *events;
  JsonObject *env;
  const char *cwd;
  double timeout_s;
} WeftExecCbOptions;

/* Strings not copied are the config's, which lives as long as the instance. */
typedef struct {
  const char *instance;    /* the callback's name in the flow, for logs */
  char **argv;             /* what is spawned (/bin/sh -c … for shell)  */
  char **env;              /* "NAME=value" added to the command's env   */
  const char *cwd;         /* NULL: the engine's                        */
  WeftEventSet events;     /* the types a command runs for */
  guint timeout_ms;
} WeftExecCb;

static const WeftOption weft_exec_cb_options[] = {
  { .name = "command", .type = WEFT_OPTION_STRING_LIST, .required = TRUE,
    .offset = offsetof (WeftExecCbOptions, command),
    .description = "argv of the command (no shell); with shell, one shell command line" },
  { .name = "shell", .type = WEFT_OPTION_BOOL, .default_json = "false",
    .offset = offsetof (WeftExecCbOptions, shell),
    .description = "run the single element of command with /bin/sh -c" },
  { .name = "events", .type = WEFT_OPTION_STRING_LIST,
    .default_json = "[\"task.completed\", \"task.failed\", \"task.cancelled\", "
                    "\"run.completed\", \"run.failed\", \"run.cancelled\"]",
    .offset = offsetof (WeftExecCbOptions, events),
    .description = "event types to run the command for (default: task and run endings)" },
  { .name = "env", .type = WEFT_OPTION_OBJECT, .offset = offsetof (WeftExecCbOptions, env),
    .description = "environment variables (name: string value) added for the command" },
  { .name = "cwd", .type = WEFT_OPTION_STRING, .flags = WEFT_OPTION_NOT_EMPTY,
    .offset = offsetof (WeftExecCbOptions, cwd),
    .description = "working directory of the command (default: the engine's)" },
  { .name = "timeout_s", .type = WEFT_OPTION_DOUBLE, .default_json = "30",
    .min = 0.001, .max = 86400, .offset = offsetof (WeftExecCbOptions, timeout_s),
    .description = "kill the command's process group after this many seconds" },
  WEFT_OPTION_END
};

static void
weft_exec_cb_free (WeftExecCb *self)
{
  g_strfreev (self->argv);
  g_strfreev (self->env);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftExecCb, weft_exec_cb_free)

/* ------------------------------------------------------------------------ */
/* create                                                                   */

/* env is turned into "NAME=value" here: the config's JsonObject must not be
 * read from the dispatcher thread while other threads may touch it. */
static gpointer
weft_exec_cb_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftExecCb) self = g_new0 (WeftExecCb, 1);
  const WeftExecCbOptions *options = weft_config_get_options (config);

  self->instance = weft_config_get_instance_name (config);
  self->argv = weft_command_argv_from_option (options->command, options->shell, error);
  if (self->argv == NULL
      || !weft_event_set_parse (options->events, "events", &self->events, error))
    return NULL;
  self->env = weft_command_env_from_option (options->env, error);
  if (self->env == NULL)
    return NULL;
  self->timeout_ms = (guint) (options->timeout_s * 1000 + 0.5);
  self->cwd = options->cwd;
  return g_steal_pointer (&self);
}

static void
weft_exec_cb_destroy (gpointer instance)
{
  weft_exec_cb_free (instance);
}

/* ------------------------------------------------------------------------ */
/* on_event                                                                 */

/* The flow's env, then the event's variables (which win).  WEFT_TASK is
 * unset rather than inherited for a run event: it has no task, whatever
 * the engine's own environment says. */
static char **
weft_exec_cb_event_env (WeftExecCb *self, const WeftEvent *event)
{
  GPtrArray *env = g_ptr_array_new ();
  const char *task = weft_event_get_task_name (event);
  WeftEventType type = weft_event_get_event_type (event);

  for (guint i = 0; self->env[i] != NULL; i++)
    g_ptr_array_add (env, g_strdup (self->env[i]));
  g_ptr_array_add (env, g_strconcat ("WEFT_EVENT_TYPE=", weft_event_type_to_string (type), NULL));
  /* A thread's event has a thread id instead (SDK 3.2). */
  if (weft_event_get_thread_id (event) != NULL)
    g_ptr_array_add (env, g_strconcat ("WEFT_THREAD_ID=", weft_event_get_thread_id (event), NULL));
  else
    g_ptr_array_add (env, g_strconcat ("WEFT_RUN_ID=", weft_event_get_run_id (event), NULL));
  g_ptr_array_add (env, g_strconcat ("WEFT_FLOW=", weft_event_get_flow_name (event), NULL));
  g_ptr_array_add (env, g_strdup_printf ("WEFT_SEQ=%" G_GUINT64_FORMAT, weft_event_get_seq (event)));
  g_ptr_array_add (env, task != NULL ? g_strconcat ("WEFT_TASK=", task, NULL) : g_strdup ("WEFT_TASK"));
  g_ptr_array_add (env, NULL);
  return (char **) g_ptr_array_free (env, FALSE);
}

/* Why the command failed, as "command \"…\" exited with status 3: …", or
 * NULL when it succeeded. */
static char *
weft_exec_cb_run (WeftExecCb *self, const WeftEvent *event)
{
  g_autofree char *json = weft_event_to_json (event);
  g_auto(GStrv) env = weft_exec_cb_event_env (self, event);
  WeftCommand command = {
    .argv = (const char * const *) self->argv,
    .env = (const char * const *) env,
    .cwd = self->cwd,
    .stdin_data = json,
    .stdin_length = -1,
    .timeout_ms = self->timeout_ms,
    .max_stderr = WEFT_EXEC_CB_MAX_STDERR,
    /* stdout is dropped: it would mix into weft's own output. */
    .discard_stdout = TRUE,
  };
  g_auto(WeftCommandResult) result = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *display = NULL;
  g_autofree char *why = NULL;

  if (!weft_command_run (&command, NULL, &result, &error))
    return g_strdup (error->message);
  if (weft_command_result_succeeded (&result))
    return NULL;
  display = weft_command_display (command.argv);
  why = weft_command_result_describe (&result);
  return g_strdup_printf ("command \"%s\" %s", display, why);
}

/* One warning per failure, on one line (stderr's newlines become spaces). */
static void
weft_exec_cb_warn (WeftExecCb *self, const WeftEvent *event, char *failure)
{
  const char *task = weft_event_get_task_name (event);
  const char *thread = weft_event_get_thread_id (event);

  g_strdelimit (failure, "\r\n", ' ');
  g_warning ("exec \"%s\" for %s (%s %s, seq %" G_GUINT64_FORMAT "%s%s): %s",
             self->instance, weft_event_type_to_string (weft_event_get_event_type (event)),
             thread ? "thread" : "run", thread ? thread : weft_event_get_run_id (event),
             weft_event_get_seq (event),
             task != NULL ? ", task " : "", task != NULL ? task : "", failure);
}

static void
weft_exec_cb_on_event (gpointer instance, const WeftEvent *event)
{
  WeftExecCb *self = instance;
  guint type = weft_event_get_event_type (event);
  g_autofree char *failure = NULL;

  if (!WEFT_EVENT_SET_HAS (self->events, type))
    return;
  failure = weft_exec_cb_run (self, event);
  if (failure != NULL)
    weft_exec_cb_warn (self, event, failure);
}

static const WeftCallbackClass weft_exec_cb_class = {
  .on_event = weft_exec_cb_on_event,
};

static const WeftPluginDescriptor weft_exec_cb_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "exec",
  .version = "0.1.0",
  .description = "Runs a command for each selected event, the event JSON on its stdin",
  .options = weft_exec_cb_options,
  .options_size = sizeof (WeftExecCbOptions),
  .create = weft_exec_cb_create,
  .destroy = weft_exec_cb_destroy,
  .callback = &weft_exec_cb_class,
};

WEFT_PLUGIN_DEFINE (weft_exec_cb_descriptor)
