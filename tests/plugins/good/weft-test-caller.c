/* weft-test-caller.c — an async agent that calls each of its tools `calls`
 * times at once ({"n": k}, or {"fail": true} for k == fail_call) and
 * returns the results in the order of the calls, one per line. */
#include <weft/weft-sdk.h>

/* The options struct, copied whole as the instance. */
typedef struct {
  gint64 calls;
  gint64 fail_call;
} TestCaller;

typedef struct {
  WeftTask *task;
  GPtrArray *results;         /* one slot per call, in call order */
  guint pending;
} TestCallerRun;

typedef struct {
  TestCallerRun *run;
  guint slot;
} TestCallerSlot;

static const WeftOption test_caller_options[] = {
  { .name = "calls", .type = WEFT_OPTION_INT, .default_json = "1", .min = 0, .max = 10000,
    .offset = offsetof (TestCaller, calls), .description = "calls per tool" },
  { .name = "fail_call", .type = WEFT_OPTION_INT, .default_json = "-1",
    .offset = offsetof (TestCaller, fail_call),
    .description = "this call (0-based) asks its tool to fail" },
  WEFT_OPTION_END
};

static gpointer
test_caller_create (const WeftConfig *config, GError **error)
{
  return g_memdup2 (weft_config_get_options (config), sizeof (TestCaller));
}

static void
test_caller_done (WeftTask *task, const char *result, const GError *error, gpointer data)
{
  TestCallerSlot *slot = data;
  TestCallerRun *run = slot->run;

  run->results->pdata[slot->slot] = error ? g_strdup_printf ("error: %s", error->message)
                                          : g_strdup (result);
  g_free (slot);
  if (--run->pending > 0)
    return;
  g_ptr_array_add (run->results, NULL);
  g_autofree char *output = g_strjoinv ("\n", (char **) run->results->pdata);
  weft_task_return (run->task, output);
  g_ptr_array_unref (run->results);
  g_free (run);
}

static void
test_caller_run (gpointer instance, WeftTask *task)
{
  TestCaller *c = instance;
  TestCallerRun *run = g_new0 (TestCallerRun, 1);
  guint n = weft_task_get_n_tools (task) * (guint) c->calls;

  run->task = task;
  run->results = g_ptr_array_new_full (n + 1, g_free);
  g_ptr_array_set_size (run->results, n);
  if (n == 0)
    {
      weft_task_return (task, "no tools");
      g_ptr_array_unref (run->results);
      g_free (run);
      return;
    }
  run->pending = n;
  for (guint i = 0; i < n; i++)
    {
      TestCallerSlot *slot = g_new0 (TestCallerSlot, 1);
      g_autoptr(GError) error = NULL;
      g_autofree char *args = (gint64) i == c->fail_call
        ? g_strdup ("{\"fail\": true}") : g_strdup_printf ("{\"n\": %u}", i);
      slot->run = run;
      slot->slot = i;
      if (!weft_task_call_tool (task, weft_task_get_tool_name (task, i / (guint) c->calls), args,
                                test_caller_done, slot, &error))
        g_error ("weft_task_call_tool: %s", error->message);
    }
}

static const WeftAgentClass test_caller_class = { .flags = WEFT_AGENT_ASYNC, .run = test_caller_run };

static const WeftPluginDescriptor test_caller = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "test-caller",
  .version = "1",
  .description = "Test agent: calls its tools all at once, returns their results in order",
  .options = test_caller_options,
  .options_size = sizeof (TestCaller),
  .create = test_caller_create,
  .destroy = g_free,
  .agent = &test_caller_class,
};

WEFT_PLUGIN_DEFINE (test_caller)
