/* A plugin of a newer weft that calls an SDK function this weft does not
 * have: the loader refuses it before its descriptor can be read, and the
 * registry says why. */
#include <weft/weft-sdk.h>

/* As a newer weft-sdk.h would declare it. */
WEFT_API const char *weft_task_get_from_the_future (WeftTask *task);

static gpointer future_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void future_run (gpointer i, WeftTask *t) { weft_task_return (t, weft_task_get_from_the_future (t)); }
static const WeftAgentClass future_class = { .run = future_run };
static const WeftPluginDescriptor new_symbol = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "new-symbol", .version = "1", .description = "calls a function of a newer weft",
  .create = future_create, .destroy = g_free, .agent = &future_class,
};
WEFT_PLUGIN_DEFINE (new_symbol)
