/* weft-test-recorder.c — a callback that writes each event's JSON and the
 * time it handled it to a file, optionally slowly, so tests can check what
 * each callback saw, in which order, and whether it held anyone up. */
#include <weft/weft-sdk.h>

#include <stdio.h>

typedef struct {
  FILE *out;
  gint64 delay_ms;
} TestRecorder;

typedef struct {
  const char *path;
  gint64 delay_ms;
} TestRecorderOptions;

static const WeftOption test_recorder_options[] = {
  { .name = "path", .type = WEFT_OPTION_STRING, .required = TRUE,
    .offset = offsetof (TestRecorderOptions, path),
    .description = "file to write one line per event to" },
  { .name = "delay_ms", .type = WEFT_OPTION_INT, .default_json = "0", .min = 0, .max = 60000,
    .offset = offsetof (TestRecorderOptions, delay_ms),
    .description = "time to spend on each event" },
  WEFT_OPTION_END
};

static gpointer
test_recorder_create (const WeftConfig *config, GError **error)
{
  const TestRecorderOptions *options = weft_config_get_options (config);
  const char *path = options->path;
  FILE *out = fopen (path, "w");

  if (out == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "cannot open %s", path);
      return NULL;
    }
  TestRecorder *r = g_new0 (TestRecorder, 1);
  r->out = out;
  r->delay_ms = options->delay_ms;
  return r;
}

static void
test_recorder_destroy (gpointer instance)
{
  TestRecorder *r = instance;

  fclose (r->out);
  g_free (r);
}

static void
test_recorder_on_event (gpointer instance, const WeftEvent *event)
{
  TestRecorder *r = instance;
  g_autofree char *json = weft_event_to_json (event);

  if (r->delay_ms > 0)
    g_usleep ((gulong) r->delay_ms * 1000);
  /* The handling time goes first: tests compare it with the run's end. */
  fprintf (r->out, "%" G_GINT64_FORMAT " %s\n", g_get_monotonic_time (), json);
  fflush (r->out);
}

static const WeftCallbackClass test_recorder_class = { .on_event = test_recorder_on_event };

static const WeftPluginDescriptor test_recorder = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "test-recorder",
  .version = "1",
  .description = "Test callback: records every event with the time it handled it",
  .options = test_recorder_options,
  .options_size = sizeof (TestRecorderOptions),
  .create = test_recorder_create,
  .destroy = test_recorder_destroy,
  .callback = &test_recorder_class,
};

WEFT_PLUGIN_DEFINE (test_recorder)
