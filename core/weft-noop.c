/* weft-noop.c — the built-in "noop" agent: returns at once, on the engine
 * loop.  It exists so that benchmarks measure the scheduler and nothing
 * else. */
#include "weft-private.h"

typedef struct {
  const char *output;
} WeftNoopOptions;

static const WeftOption weft_noop_options[] = {
  { .name = "output", .type = WEFT_OPTION_STRING, .default_json = "\"\"",
    .offset = offsetof (WeftNoopOptions, output),
    .description = "text every task returns" },
  WEFT_OPTION_END
};

/* The output is the config's: it lives as long as the instance. */
static gpointer
weft_noop_create (const WeftConfig *config, GError **error)
{
  const WeftNoopOptions *options = weft_config_get_options (config);

  return (gpointer) options->output;
}

static void
weft_noop_destroy (gpointer instance)
{
}

static void
weft_noop_run (gpointer instance, WeftTask *task)
{
  weft_task_return (task, instance);
}

static const WeftAgentClass weft_noop_agent = {
  .flags = WEFT_AGENT_ASYNC,
  .run = weft_noop_run,
};

static const WeftPluginDescriptor weft_noop = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "noop",
  .version = "0.1.0",
  .description = "Returns a fixed text at once, on the engine loop (for benchmarks)",
  .options = weft_noop_options,
  .options_size = sizeof (WeftNoopOptions),
  .create = weft_noop_create,
  .destroy = weft_noop_destroy,
  .agent = &weft_noop_agent,
};

const WeftPluginDescriptor *
weft_noop_descriptor (void)
{
  return &weft_noop;
}
