/* weft-test-args-caller.c — an async agent that calls its first tool once
 * per string of `arguments` (the exact JSON text of the arguments), all at
 * once, and returns a JSON object: {"schema": the first tool's schema,
 * "description": its description, "results": [{"result": TEXT} or
 * {"error": MESSAGE} or {"refused": MESSAGE}, in the order of `arguments`]}. */
#include <weft/weft-sdk.h>

typedef struct {
  char **arguments;
} TestArgsCaller;

typedef struct {
  WeftTask *task;
  GPtrArray *results;         /* JsonNode, one slot per call, in call order */
  guint pending;
} TestArgsRun;

typedef struct {
  TestArgsRun *run;
  guint slot;
} TestArgsSlot;

typedef struct {
  const char * const *arguments;
} TestArgsCallerOptions;

static const WeftOption test_args_caller_options[] = {
  { .name = "arguments", .type = WEFT_OPTION_STRING_LIST, .default_json = "[]",
    .offset = offsetof (TestArgsCallerOptions, arguments),
    .description = "the JSON argument texts to call the first tool with" },
  WEFT_OPTION_END
};

static gpointer
test_args_caller_create (const WeftConfig *config, GError **error)
{
  const TestArgsCallerOptions *options = weft_config_get_options (config);
  TestArgsCaller *c = g_new0 (TestArgsCaller, 1);

  c->arguments = g_strdupv ((char **) options->arguments);
  return c;
}

static void
test_args_caller_destroy (gpointer instance)
{
  TestArgsCaller *c = instance;

  g_strfreev (c->arguments);
  g_free (c);
}

static JsonNode *
test_args_entry (const char *key, const char *text)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_init_object (json_node_alloc (), o);

  json_object_set_string_member (o, key, text);
  json_object_unref (o);
  return node;
}

static void
test_args_finish (TestArgsRun *run)
{
  WeftTask *task = run->task;
  JsonObject *out = json_object_new ();
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), out);
  gboolean has_tool = weft_task_get_n_tools (task) > 0;

  json_object_set_string_member (out, "schema",
                                 has_tool ? weft_task_get_tool_schema (task, 0) : "");
  json_object_set_string_member (out, "description",
                                 has_tool ? weft_task_get_tool_description (task, 0) : "");
  JsonArray *results = json_array_new ();
  for (guint i = 0; i < run->results->len; i++)
    json_array_add_element (results, json_node_ref (run->results->pdata[i]));
  json_object_set_array_member (out, "results", results);
  json_object_unref (out);
  g_ptr_array_unref (run->results);
  g_autofree char *text = json_to_string (root, FALSE);
  g_free (run);
  weft_task_return (task, text);
}

static void
test_args_done (WeftTask *task, const char *result, const GError *error, gpointer data)
{
  TestArgsSlot *slot = data;
  TestArgsRun *run = slot->run;

  run->results->pdata[slot->slot] = error ? test_args_entry ("error", error->message)
                                          : test_args_entry ("result", result);
  g_free (slot);
  if (--run->pending == 0)
    test_args_finish (run);
}

static void
test_args_caller_run (gpointer instance, WeftTask *task)
{
  TestArgsCaller *c = instance;
  TestArgsRun *run = g_new0 (TestArgsRun, 1);
  guint n = g_strv_length (c->arguments);

  run->task = task;
  run->results = g_ptr_array_new_full (n, (GDestroyNotify) json_node_unref);
  run->pending = 1;   /* held until every call has started */
  if (weft_task_get_n_tools (task) == 0)
    n = 0;
  g_ptr_array_set_size (run->results, (gint) n);
  for (guint i = 0; i < n; i++)
    {
      TestArgsSlot *slot = g_new0 (TestArgsSlot, 1);
      g_autoptr(GError) error = NULL;

      slot->run = run;
      slot->slot = i;
      run->pending++;
      if (!weft_task_call_tool (task, weft_task_get_tool_name (task, 0), c->arguments[i],
                                test_args_done, slot, &error))
        {
          run->pending--;
          g_free (slot);
          run->results->pdata[i] = test_args_entry ("refused", error->message);
        }
    }
  if (--run->pending == 0)
    test_args_finish (run);
}

static const WeftAgentClass test_args_caller_class = {
  .flags = WEFT_AGENT_ASYNC,
  .run = test_args_caller_run,
};

static const WeftPluginDescriptor test_args_caller = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "test-args-caller",
  .version = "1",
  .description = "Test agent: calls its first tool with each of the given arguments, all at once",
  .options = test_args_caller_options,
  .options_size = sizeof (TestArgsCallerOptions),
  .create = test_args_caller_create,
  .destroy = test_args_caller_destroy,
  .agent = &test_args_caller_class,
};

WEFT_PLUGIN_DEFINE (test_args_caller)
