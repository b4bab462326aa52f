/* An options table whose default does not match the declared type. */
#include <weft/weft-sdk.h>

static const WeftOption bad_options[] = {
  { .name = "count", .type = WEFT_OPTION_INT, .default_json = "\"three\"", .offset = 0,
    .description = "a count" },
  WEFT_OPTION_END
};
static gpointer bad_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void bad_run (gpointer i, WeftTask *t) { weft_task_return (t, ""); }
static const WeftAgentClass bad_class = { .run = bad_run };
static const WeftPluginDescriptor bad_default = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "bad-default", .version = "1", .description = "bad default",
  .options = bad_options, .options_size = sizeof (gint64),
  .create = bad_create, .destroy = g_free, .agent = &bad_class,
};
WEFT_PLUGIN_DEFINE (bad_default)
