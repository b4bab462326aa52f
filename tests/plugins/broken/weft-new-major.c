/* A plugin built against the next major of the ABI. */
#include <weft/weft-sdk.h>

static gpointer new_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void new_run (gpointer i, WeftTask *t) { weft_task_return (t, ""); }
static const WeftAgentClass new_class = { .run = new_run };
static const WeftPluginDescriptor new_major = {
  .abi_major = WEFT_ABI_MAJOR + 1,
  .abi_minor = 0,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "new-major", .version = "1", .description = "another major",
  .create = new_create, .destroy = g_free, .agent = &new_class,
};
WEFT_PLUGIN_DEFINE (new_major)
