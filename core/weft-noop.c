/* weft-noop.c — the built-in "noop" agent: returns at once, on the engine
 * loop.  It exists so that benchmarks measure the scheduler and nothing
 * else. */
#include "weft-private.h"

static const WeftOption weft_noop_options[] = {
  { "output", WEFT_OPTION_STRING, "\"\"", FALSE, "text every task returns" },
  WEFT_OPTION_END
};

static gpointer
weft_noop_create (const WeftConfig *config, GError **error)
{
  return g_strdup (weft_config_get_string (config, "output"));
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
  .abi = WEFT_ABI_VERSION,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "noop",
  .version = "0.1.0",
  .description = "Returns a fixed text at once, on the engine loop (for benchmarks)",
  .options = weft_noop_options,
  .create = weft_noop_create,
  .destroy = g_free,
  .agent = &weft_noop_agent,
};

const WeftPluginDescriptor *
weft_noop_descriptor (void)
{
  return &weft_noop;
}
