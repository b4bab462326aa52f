/* weft-test-tool.c — a tool that takes `sleep_ms` and answers with when it
 * ran, so tests can see tool calls overlap; {"fail": true} makes it fail. */
#include <weft/weft-sdk.h>

/* The options struct is one number: the instance is a copy of it. */
static const WeftOption test_tool_options[] = {
  { .name = "sleep_ms", .type = WEFT_OPTION_INT, .default_json = "0", .offset = 0,
    .description = "how long each call takes" },
  WEFT_OPTION_END
};

static gpointer
test_tool_create (const WeftConfig *config, GError **error)
{
  return g_memdup2 (weft_config_get_options (config), sizeof (gint64));
}

static void
test_tool_invoke (gpointer instance, WeftToolCall *call)
{
  JsonObject *args = weft_tool_call_get_arguments (call);
  gint64 started = g_get_monotonic_time ();

  g_usleep ((gulong) (*(gint64 *) instance) * 1000);
  if (json_object_get_boolean_member_with_default (args, "fail", FALSE))
    {
      weft_tool_call_return_error (call, g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED,
                                                      "asked to fail"));
      return;
    }
  g_autofree char *result = g_strdup_printf ("%s n=%" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                                             " %" G_GINT64_FORMAT,
                                             weft_tool_call_get_tool_name (call),
                                             json_object_get_int_member_with_default (args, "n", -1),
                                             started, g_get_monotonic_time ());
  weft_tool_call_return (call, result);
}

static const WeftToolClass test_tool_class = {
  .arguments_schema = "{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"},"
                      " \"fail\": {\"type\": \"boolean\"}}}",
  .invoke = test_tool_invoke,
};

static const WeftPluginDescriptor test_tool = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_TOOL,
  .name = "test-tool",
  .version = "1",
  .description = "Test tool: sleeps, then says when it ran",
  .options = test_tool_options,
  .options_size = sizeof (gint64),
  .create = test_tool_create,
  .destroy = g_free,
  .tool = &test_tool_class,
};

WEFT_PLUGIN_DEFINE (test_tool)
