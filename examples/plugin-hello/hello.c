/* hello.c — a minimal blocking agent plugin for weft.
 *
 * The agent "hello" answers every task with "<greeting>, <prompt>!".  It is
 * blocking (no WEFT_AGENT_ASYNC flag), so weft calls run() on a worker
 * thread, where it may take its time.  See docs/plugin-guide.md.
 */
#include <weft/weft-sdk.h>

/* The options of a "hello" agent, as weft fills them in for create(). */
typedef struct {
  const char *greeting;
  gboolean shout;
  gint64 repeat;
} HelloOptions;

/* What a flow may give a "hello" agent, and where each value goes in
 * HelloOptions.  weft checks a flow's config against this table before
 * anything runs (names, types, an empty greeting, the range of "repeat"),
 * then fills the struct: the plugin reads no option by name. */
static const WeftOption hello_options[] = {
  { .name = "greeting", .type = WEFT_OPTION_STRING, .default_json = "\"Hello\"",
    .flags = WEFT_OPTION_NOT_EMPTY, .offset = offsetof (HelloOptions, greeting),
    .description = "word to greet with" },
  { .name = "shout", .type = WEFT_OPTION_BOOL, .default_json = "false",
    .offset = offsetof (HelloOptions, shout),
    .description = "upper-case the whole answer" },
  { .name = "repeat", .type = WEFT_OPTION_INT, .default_json = "1", .min = 1, .max = 10,
    .offset = offsetof (HelloOptions, repeat),
    .description = "how many times to greet" },
  WEFT_OPTION_END
};

/* One instance per agent of the flow that uses this plugin.  No globals: two
 * "hello" agents in one flow get two instances. */
typedef struct {
  const HelloOptions *options;   /* weft's: lives as long as the instance */
} Hello;

/* Called once per instance when the flow loads.  The options are already
 * checked and filled in (defaults too); what the table cannot say would be
 * checked here, failing with a GError that names the option. */
static gpointer
hello_create (const WeftConfig *config, GError **error)
{
  Hello *self = g_new0 (Hello, 1);

  (void) error;   /* nothing left that can fail */
  self->options = weft_config_get_options (config);
  return self;
}

static void
hello_destroy (gpointer instance)
{
  g_free (instance);
}

/* Called on a worker thread.  Must end with exactly one call of
 * weft_task_return() or weft_task_return_error(). */
static void
hello_run (gpointer instance, WeftTask *task)
{
  Hello *self = instance;
  GError *error = NULL;
  GString *answer;

  /* A timeout or a cancelled run cancels this; a long-running agent checks
   * it often (or passes it to the GIO calls it makes). */
  if (g_cancellable_set_error_if_cancelled (weft_task_get_cancellable (task), &error)) {
    weft_task_return_error (task, error);
    return;
  }

  weft_task_step (task, "thinking", "choosing a greeting");

  answer = g_string_new (NULL);
  for (gint64 i = 0; i < self->options->repeat; i++)
    g_string_append_printf (answer, "%s%s, %s!", i > 0 ? " " : "",
                            self->options->greeting, weft_task_get_prompt (task));
  if (self->options->shout) {
    char *upper = g_utf8_strup (answer->str, -1);
    g_string_assign (answer, upper);
    g_free (upper);
  }

  weft_task_return (task, answer->str);   /* the output is copied */
  g_string_free (answer, TRUE);
}

static const WeftAgentClass hello_agent = {
  .flags = 0,                        /* blocking: runs on a worker thread */
  .run = hello_run,
};

static const WeftPluginDescriptor hello_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,      /* the SDK it is built against */
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "hello",
  .version = "0.1.0",
  .description = "Greets whatever the task says",
  .options = hello_options,
  .options_size = sizeof (HelloOptions),
  .create = hello_create,
  .destroy = hello_destroy,
  .agent = &hello_agent,
};

WEFT_PLUGIN_DEFINE (hello_descriptor)
