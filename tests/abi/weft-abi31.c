/* weft-abi31.c — an agent plugin built against the frozen ABI 3.1 header
 * (not the current one), using what 3.1 added (WeftOption.flags), so that
 * test-abi.c can check that a plugin of that minor loads into a later one
 * and its flags still mean what they meant.  Its answer is its options. */
#include "weft-sdk-3.1.h"

typedef struct {
  const char *name;
  gint mode;
} Abi31Options;

static const char * const abi31_modes[] = { "fast", "slow", NULL };

static const WeftOption abi31_options[] = {
  { .name = "name", .type = WEFT_OPTION_STRING, .default_json = "\"x\"",
    .flags = WEFT_OPTION_NOT_EMPTY, .offset = offsetof (Abi31Options, name),
    .description = "a name, not empty" },
  { .name = "mode", .type = WEFT_OPTION_ENUM, .default_json = "\"fast\"", .choices = abi31_modes,
    .flags = WEFT_OPTION_ANY_CASE, .offset = offsetof (Abi31Options, mode),
    .description = "fast or slow, any case" },
  WEFT_OPTION_END
};

static gpointer
abi31_create (const WeftConfig *config, GError **error)
{
  const Abi31Options *o = weft_config_get_options (config);

  return g_strdup_printf ("name=%s mode=%s", o->name, abi31_modes[o->mode]);
}

static void
abi31_run (gpointer instance, WeftTask *task)
{
  weft_task_return (task, instance);
}

static const WeftAgentClass abi31_class = {
  .flags = WEFT_AGENT_ASYNC,
  .run = abi31_run,
};

static const WeftPluginDescriptor abi31_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "abi31",
  .version = "3.1",
  .description = "Built against the frozen ABI 3.1 header; answers with its options",
  .options = abi31_options,
  .options_size = sizeof (Abi31Options),
  .create = abi31_create,
  .destroy = g_free,
  .agent = &abi31_class,
};

WEFT_PLUGIN_DEFINE (abi31_descriptor)
