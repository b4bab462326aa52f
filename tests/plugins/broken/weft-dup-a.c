/* One of two plugins that claim the name "dup". */
#include <weft/weft-sdk.h>

static gpointer dup_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void dup_run (gpointer i, WeftTask *t) { weft_task_return (t, "dup-a"); }
static const WeftAgentClass dup_class = { .run = dup_run };
static const WeftPluginDescriptor dup_plugin = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "dup", .version = "1", .description = "dup-a",
  .create = dup_create, .destroy = g_free, .agent = &dup_class,
};
WEFT_PLUGIN_DEFINE (dup_plugin)
