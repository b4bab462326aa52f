/* weft-abi30.c — an agent plugin built against the frozen ABI 3.0 header
 * (not the current one), with an option of every type, so that
 * test-abi.c can check that a plugin of an older minor loads and gets its
 * options bound as it expects.  Its answer lists what it was given. */
#include "weft-sdk-3.0.h"

typedef struct {
  const char *text;
  gint64 count;
  double ratio;
  gboolean loud;
  const char * const *words;
  JsonObject *extra;
  gint mode;
} Abi30Options;

static const char * const abi30_modes[] = { "fast", "slow", NULL };

static const WeftOption abi30_options[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .default_json = "\"hi\"",
    .offset = offsetof (Abi30Options, text), .description = "a text" },
  { .name = "count", .type = WEFT_OPTION_INT, .default_json = "1", .min = 0, .max = 10,
    .offset = offsetof (Abi30Options, count), .description = "a count, 0 to 10" },
  { .name = "ratio", .type = WEFT_OPTION_DOUBLE, .min = 0, .max = 1,
    .offset = offsetof (Abi30Options, ratio), .description = "a ratio, 0 to 1" },
  { .name = "loud", .type = WEFT_OPTION_BOOL, .default_json = "false",
    .offset = offsetof (Abi30Options, loud), .description = "a flag" },
  { .name = "words", .type = WEFT_OPTION_STRING_LIST, .default_json = "[]",
    .offset = offsetof (Abi30Options, words), .description = "some words" },
  { .name = "extra", .type = WEFT_OPTION_OBJECT,
    .offset = offsetof (Abi30Options, extra), .description = "an object" },
  { .name = "mode", .type = WEFT_OPTION_ENUM, .default_json = "\"fast\"", .choices = abi30_modes,
    .offset = offsetof (Abi30Options, mode), .description = "fast or slow" },
  WEFT_OPTION_END
};

/* The answer is made once, in create(): the options' JsonObject is read on
 * the thread that loads the flow only. */
static gpointer
abi30_create (const WeftConfig *config, GError **error)
{
  const Abi30Options *o = weft_config_get_options (config);
  g_autofree char *words = g_strjoinv (",", (char **) o->words);
  g_autoptr(GList) keys = o->extra ? json_object_get_members (o->extra) : NULL;
  GString *answer = g_string_new (NULL);
  char ratio[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (answer, "text=%s count=%" G_GINT64_FORMAT " ratio=%s%s loud=%d "
                          "words=%s extra=", o->text, o->count,
                          g_ascii_dtostr (ratio, sizeof ratio, o->ratio),
                          weft_config_is_given (config, &o->ratio) ? "" : "(default)",
                          o->loud, words);
  for (GList *k = keys; k != NULL; k = k->next)
    g_string_append_printf (answer, "%s%s", k == keys ? "" : ",", (const char *) k->data);
  g_string_append_printf (answer, " mode=%s", o->mode >= 0 ? abi30_modes[o->mode] : "-");
  return g_string_free (answer, FALSE);
}

static void
abi30_run (gpointer instance, WeftTask *task)
{
  weft_task_return (task, instance);
}

static const WeftAgentClass abi30_class = {
  .flags = WEFT_AGENT_ASYNC,
  .run = abi30_run,
};

static const WeftPluginDescriptor abi30_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "abi30",
  .version = "3.0",
  .description = "Built against the frozen ABI 3.0 header; answers with its options",
  .options = abi30_options,
  .options_size = sizeof (Abi30Options),
  .create = abi30_create,
  .destroy = g_free,
  .agent = &abi30_class,
};

WEFT_PLUGIN_DEFINE (abi30_descriptor)
