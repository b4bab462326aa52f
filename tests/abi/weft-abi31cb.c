/* weft-abi31cb.c — a callback plugin built against the frozen ABI 3.1 header
 * (not the current one), so that test-abi.c can check that a callback of
 * a minor older than 3.2 is never handed an event type it cannot know
 * (thread.*): it appends the type of each event it gets, one per line, to
 * the file its option "path" names. */
#include "weft-sdk-3.1.h"

#include <stdio.h>

typedef struct {
  const char *path;
} Abi31Options;

static const WeftOption abi31cb_options[] = {
  { .name = "path", .type = WEFT_OPTION_STRING, .required = TRUE,
    .offset = offsetof (Abi31Options, path), .description = "where the event types go" },
  WEFT_OPTION_END
};

static gpointer
abi31cb_create (const WeftConfig *config, GError **error)
{
  const Abi31Options *o = weft_config_get_options (config);

  return g_strdup (o->path);
}

static void
abi31cb_on_event (gpointer instance, const WeftEvent *event)
{
  FILE *f = fopen (instance, "a");

  if (f == NULL)
    return;
  fprintf (f, "%s\n", weft_event_type_to_string (weft_event_get_event_type (event)));
  fclose (f);
}

static const WeftCallbackClass abi31cb_class = {
  .on_event = abi31cb_on_event,
};

static const WeftPluginDescriptor abi31cb_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "abi31cb",
  .version = "1",
  .description = "A callback of ABI 3.1 that writes the types of the events it gets",
  .options = abi31cb_options,
  .options_size = sizeof (Abi31Options),
  .create = abi31cb_create,
  .destroy = g_free,
  .callback = &abi31cb_class,
};

WEFT_PLUGIN_DEFINE (abi31cb_descriptor)
