/* A plugin built against ABI 2, the last ABI of one number, before the
 * descriptor carried a major and a minor: its descriptor is laid out here
 * as that SDK laid it out, so that the registry's message for it is
 * tested against the real thing. */
#include <glib.h>

typedef struct {
  guint32 abi;                /* 2 */
  int kind;                   /* WEFT_PLUGIN_AGENT was 1 */
  const char *name;
  const char *version;
  const char *description;
  const void *options;
  gpointer (*create) (const void *config, GError **error);
  void (*destroy) (gpointer instance);
  const void *agent;
  const void *tool;
  const void *callback;
  const void *store;
  gpointer reserved[7];
} WeftAbi2Descriptor;

typedef struct {
  guint flags;
  void (*run) (gpointer instance, gpointer task);
} WeftAbi2AgentClass;

static gpointer old_create (const void *c, GError **e) { return g_new0 (int, 1); }
static void old_run (gpointer i, gpointer t) { }
static const WeftAbi2AgentClass old_class = { .run = old_run };
static const WeftAbi2Descriptor old_abi = {
  .abi = 2,
  .kind = 1,
  .name = "old-abi", .version = "1", .description = "built against ABI 2",
  .create = old_create, .destroy = g_free, .agent = &old_class,
};

__attribute__((visibility("default"))) const WeftAbi2Descriptor *weft_plugin_descriptor (void);
__attribute__((visibility("default"))) const WeftAbi2Descriptor *
weft_plugin_descriptor (void)
{
  return &old_abi;
}
