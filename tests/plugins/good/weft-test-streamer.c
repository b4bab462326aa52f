/* weft-test-streamer.c — a blocking agent that streams its answer as an LLM
 * agent does: `text`, a word at a time, each word a "chunk" step after
 * `delay_ms`, then the whole text as its output.  For tests of what shows
 * streamed text (`weft run --verbose`), with no model and no key. */
#include <weft/weft-sdk.h>

#include <string.h>

typedef struct {
  const char *text;
  gint64 delay_ms;
} TestStreamer;

static const WeftOption test_streamer_options[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .required = TRUE,
    .offset = offsetof (TestStreamer, text), .description = "the answer, streamed word by word" },
  { .name = "delay_ms", .type = WEFT_OPTION_INT, .default_json = "0", .min = 0, .max = 10000,
    .offset = offsetof (TestStreamer, delay_ms), .description = "the wait before each word" },
  WEFT_OPTION_END
};

/* A copy of the options struct; its text is the config's, which outlives
 * the instance. */
static gpointer
test_streamer_create (const WeftConfig *config, GError **error)
{
  return g_memdup2 (weft_config_get_options (config), sizeof (TestStreamer));
}

static void
test_streamer_run (gpointer instance, WeftTask *task)
{
  const TestStreamer *s = instance;
  const char *p = s->text;

  while (*p != '\0')
    {
      /* A word and the spaces or newlines after it. */
      gsize word = strcspn (p, " \n");
      word += strspn (p + word, " \n");
      g_autofree char *chunk = g_strndup (p, word);

      g_usleep ((gulong) s->delay_ms * 1000);
      if (g_cancellable_is_cancelled (weft_task_get_cancellable (task)))
        {
          weft_task_return_error (task, g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED,
                                                     "cancelled"));
          return;
        }
      weft_task_step (task, "chunk", chunk);
      p += word;
    }
  weft_task_return (task, s->text);
}

static const WeftAgentClass test_streamer_class = { .run = test_streamer_run };

static const WeftPluginDescriptor test_streamer = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "test-streamer",
  .version = "1",
  .description = "Test agent: streams its text word by word, as chunk steps",
  .options = test_streamer_options,
  .options_size = sizeof (TestStreamer),
  .create = test_streamer_create,
  .destroy = g_free,
  .agent = &test_streamer_class,
};

WEFT_PLUGIN_DEFINE (test_streamer)
