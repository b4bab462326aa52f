/* A plugin built as if against the next minor of this weft's ABI: it may
 * use what this weft lacks, so the registry refuses it. */
#include <weft/weft-sdk.h>

static gpointer new_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void new_run (gpointer i, WeftTask *t) { weft_task_return (t, ""); }
static const WeftAgentClass new_class = { .run = new_run };
static const WeftPluginDescriptor new_minor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR + 1,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "new-minor", .version = "1", .description = "a newer minor",
  .create = new_create, .destroy = g_free, .agent = &new_class,
};
WEFT_PLUGIN_DEFINE (new_minor)
