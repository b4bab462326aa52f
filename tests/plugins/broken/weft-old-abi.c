/* A plugin built against an ABI this weft does not speak. */
#include <weft/weft-sdk.h>

static gpointer old_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void old_run (gpointer i, WeftTask *t) { weft_task_return (t, ""); }
static const WeftAgentClass old_class = { .run = old_run };
static const WeftPluginDescriptor old_abi = {
  .abi = WEFT_ABI_VERSION + 998,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "old-abi", .version = "1", .description = "wrong ABI",
  .create = old_create, .destroy = g_free, .agent = &old_class,
};
WEFT_PLUGIN_DEFINE (old_abi)
