/* hello.c — a minimal blocking agent plugin for weft.
 *
 * The agent "hello" answers every task with "<greeting>, <prompt>!".  It is
 * blocking (no WEFT_AGENT_ASYNC flag), so weft calls run() on a worker
 * thread, where it may take its time.  See docs/plugin-guide.md.
 */
#include <weft/weft-sdk.h>

/* The options a flow may give a "hello" agent; the core checks a flow's
 * config against this table before anything runs. */
static const WeftOption hello_options[] = {
  { "greeting", WEFT_OPTION_STRING, "\"Hello\"", FALSE,
    "word to greet with" },
  { "shout", WEFT_OPTION_BOOL, "false", FALSE,
    "upper-case the whole answer" },
  WEFT_OPTION_END
};

/* One instance per agent of the flow that uses this plugin.  No globals: two
 * "hello" agents in one flow get two instances. */
typedef struct {
  char *greeting;
  gboolean shout;
} Hello;

static gpointer
hello_create (const WeftConfig *config, GError **error)
{
  Hello *self = g_new0 (Hello, 1);

  /* Defaults are already filled in: every declared option has a value. */
  self->greeting = g_strdup (weft_config_get_string (config, "greeting"));
  self->shout = weft_config_get_bool (config, "shout");

  if (self->greeting[0] == '\0') {
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                 "agent \"%s\": greeting must not be empty",
                 weft_config_get_instance_name (config));
    g_free (self->greeting);
    g_free (self);
    return NULL;
  }
  return self;
}

static void
hello_destroy (gpointer instance)
{
  Hello *self = instance;

  g_free (self->greeting);
  g_free (self);
}

/* Called on a worker thread.  Must end with exactly one call of
 * weft_task_return() or weft_task_return_error(). */
static void
hello_run (gpointer instance, WeftTask *task)
{
  Hello *self = instance;
  GError *error = NULL;
  char *answer;

  /* A timeout or a cancelled run cancels this; a long-running agent checks
   * it often (or passes it to the GIO calls it makes). */
  if (g_cancellable_set_error_if_cancelled (weft_task_get_cancellable (task), &error)) {
    weft_task_return_error (task, error);
    return;
  }

  weft_task_step (task, "thinking", "choosing a greeting");

  answer = g_strdup_printf ("%s, %s!", self->greeting, weft_task_get_prompt (task));
  if (self->shout) {
    char *upper = g_utf8_strup (answer, -1);
    g_free (answer);
    answer = upper;
  }

  weft_task_return (task, answer);   /* the output is copied */
  g_free (answer);
}

static const WeftAgentClass hello_agent = {
  .flags = 0,                        /* blocking: runs on a worker thread */
  .run = hello_run,
};

static const WeftPluginDescriptor hello_descriptor = {
  .abi = WEFT_ABI_VERSION,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "hello",
  .version = "0.1.0",
  .description = "Greets whatever the task says",
  .options = hello_options,
  .create = hello_create,
  .destroy = hello_destroy,
  .agent = &hello_agent,
};

WEFT_PLUGIN_DEFINE (hello_descriptor)
