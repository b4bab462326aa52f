/* weft-test-agent.c — a blocking agent whose behaviour tests dictate:
 * how long it takes, which attempts fail, whether it honours cancellation.
 * Its output names the task and what it received, so tests can check who
 * was handed which outputs. */
#include <weft/weft-sdk.h>

/* The options struct, copied whole as the instance. */
typedef struct {
  gint64 sleep_ms;
  gint64 fail_attempts;
  gboolean ignore_cancel;
} TestAgent;

static const WeftOption test_agent_options[] = {
  { .name = "sleep_ms", .type = WEFT_OPTION_INT, .default_json = "0",
    .offset = offsetof (TestAgent, sleep_ms), .description = "how long each attempt takes" },
  { .name = "fail_attempts", .type = WEFT_OPTION_INT, .default_json = "0",
    .offset = offsetof (TestAgent, fail_attempts),
    .description = "attempts up to this one fail" },
  { .name = "ignore_cancel", .type = WEFT_OPTION_BOOL, .default_json = "false",
    .offset = offsetof (TestAgent, ignore_cancel), .description = "sleep on when cancelled" },
  WEFT_OPTION_END
};

static gpointer
test_agent_create (const WeftConfig *config, GError **error)
{
  return g_memdup2 (weft_config_get_options (config), sizeof (TestAgent));
}

/* "name" or "name<-a,b" for the outputs it received. */
static char *
test_agent_output (WeftTask *task)
{
  GString *out = g_string_new (weft_task_get_name (task));

  for (guint i = 0; i < weft_task_get_n_context (task); i++)
    g_string_append_printf (out, "%s%s", i ? "," : "<-", weft_task_get_context_name (task, i));
  return g_string_free (out, FALSE);
}

static void
test_agent_run (gpointer instance, WeftTask *task)
{
  TestAgent *a = instance;
  GCancellable *cancellable = weft_task_get_cancellable (task);
  gint64 until = g_get_monotonic_time () + a->sleep_ms * 1000;

  while (g_get_monotonic_time () < until)
    {
      if (!a->ignore_cancel && g_cancellable_is_cancelled (cancellable))
        {
          weft_task_return_error (task, g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED, "cancelled"));
          return;
        }
      g_usleep (2000);
    }
  if ((gint64) weft_task_get_attempt (task) <= a->fail_attempts)
    {
      weft_task_return_error (task, g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED,
                                                 "planned failure on attempt %u",
                                                 weft_task_get_attempt (task)));
      return;
    }
  weft_task_step (task, "note", "about to return");
  g_autofree char *output = test_agent_output (task);
  weft_task_return (task, output);
}

static const WeftAgentClass test_agent_class = { .flags = 0, .run = test_agent_run };

static const WeftPluginDescriptor test_agent = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "test-agent",
  .version = "1",
  .description = "Blocking test agent: sleeps, fails on cue, reports what it received",
  .options = test_agent_options,
  .options_size = sizeof (TestAgent),
  .create = test_agent_create,
  .destroy = g_free,
  .agent = &test_agent_class,
};

WEFT_PLUGIN_DEFINE (test_agent)
