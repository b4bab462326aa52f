/* weft-abi31.c — a callback plugin built against the frozen ABI 3.1 header
 * (not the current one), so that test-abi.c can check that a callback of
 * a minor older than 3.2 is never handed an event type it cannot know
 * (thread.*): it appends the type of each event it gets, one per line, to
 * the file its option "path" names. */
#include "weft-sdk-3.1.h"

#include <stdio.h>

typedef struct {
  const char *path;
} Abi31Options;

static const WeftOption abi31_options[] = {
  { .name = "path", .type = WEFT_OPTION_STRING, .required = TRUE,
    .offset = offsetof (Abi31Options, path), .description = "where the event types go" },
  WEFT_OPTION_END
};

static gpointer
abi31_create (const WeftConfig *config, GError **error)
{
  const Abi31Options *o = weft_config_get_options (config);

  return g_strdup (o->path);
}

static void
abi31_on_event (gpointer instance, const WeftEvent *event)
{
  FILE *f = fopen (instance, "a");

  if (f == NULL)
    return;
  fprintf (f, "%s\n", weft_event_type_to_string (weft_event_get_event_type (event)));
  fclose (f);
}

static const WeftCallbackClass abi31_class = {
  .on_event = abi31_on_event,
};

static const WeftPluginDescriptor abi31_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "abi31",
  .version = "1",
  .description = "A callback of ABI 3.1 that writes the types of the events it gets",
  .options = abi31_options,
  .options_size = sizeof (Abi31Options),
  .create = abi31_create,
  .destroy = g_free,
  .callback = &abi31_class,
};

WEFT_PLUGIN_DEFINE (abi31_descriptor)
