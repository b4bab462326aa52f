/* An agent descriptor without its run() function. */
#include <weft/weft-sdk.h>

static gpointer norun_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static const WeftAgentClass norun_class = { .run = NULL };
static const WeftPluginDescriptor no_run = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "no-run", .version = "1", .description = "agent without run",
  .create = norun_create, .destroy = g_free, .agent = &norun_class,
};
WEFT_PLUGIN_DEFINE (no_run)
