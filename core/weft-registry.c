/* weft-registry.c — finds, opens and checks plugins.
 *
 * A file is trusted only after its descriptor passed every check here:
 * the ABI version, the fields its kind needs, its options table and the
 * defaults in it.  Every refusal names the file and the reason. */
#include "weft-private.h"

#include <dlfcn.h>
#include <math.h>
#include <string.h>

struct _WeftRegistry {
  GPtrArray *plugins;         /* WeftPlugin*, owned */
  GHashTable *by_key;         /* "kind/name" → WeftPlugin* */
};

static void
weft_plugin_free (WeftPlugin *plugin)
{
  if (plugin->handle)
    dlclose (plugin->handle);
  g_free (plugin->path);
  g_free (plugin);
}

WeftRegistry *
weft_registry_new (void)
{
  WeftRegistry *registry = g_new0 (WeftRegistry, 1);

  registry->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_plugin_free);
  registry->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return registry;
}

void
weft_registry_free (WeftRegistry *registry)
{
  if (registry == NULL)
    return;
  g_hash_table_unref (registry->by_key);
  g_ptr_array_unref (registry->plugins);
  g_free (registry);
}

const char *
weft_plugin_kind_to_string (WeftPluginKind kind)
{
  switch (kind)
    {
    case WEFT_PLUGIN_AGENT: return "agent";
    case WEFT_PLUGIN_TOOL: return "tool";
    case WEFT_PLUGIN_CALLBACK: return "callback";
    default: return "unknown";
    }
}

static char *
weft_plugin_key (WeftPluginKind kind, const char *name)
{
  return g_strdup_printf ("%s/%s", weft_plugin_kind_to_string (kind), name);
}

/* ---- descriptor checks -------------------------------------------------- */

static gboolean
weft_refuse (GError **error, gint code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
weft_refuse (GError **error, gint code, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, WEFT_ERROR, code, message);
  return FALSE;
}

/* The first ABI whose descriptor has a minor. */
#define WEFT_ABI_FIRST_WITH_MINOR 3

/* Same major, same or older minor: what is older lies in reserved space,
 * zero in the plugin's descriptor (weft-sdk.h, "ABI versions"). */
static gboolean
weft_check_abi (const WeftPluginDescriptor *d, const char *where, GError **error)
{
  guint major = d->abi_major, minor = d->abi_minor;

  if (major == WEFT_ABI_MAJOR && minor <= WEFT_ABI_MINOR)
    return TRUE;
  if (major == 0)
    return weft_refuse (error, WEFT_ERROR_ABI,
                        "%s: descriptor has no ABI version (abi_major is 0): set .abi_major = "
                        "WEFT_ABI_MAJOR and .abi_minor = WEFT_ABI_MINOR", where);
  /* ABI 1 and 2 had one number, where abi_major is now. */
  if (major < WEFT_ABI_FIRST_WITH_MINOR)
    return weft_refuse (error, WEFT_ERROR_ABI,
                        "%s: built for weft plugin ABI %u, but this weft speaks ABI %u.%u, a "
                        "major version apart (descriptor and options laid out anew): port the "
                        "plugin (docs/plugin-guide.md, \"Porting from ABI 2\") and rebuild it "
                        "against this weft's SDK", where, major, WEFT_ABI_MAJOR, WEFT_ABI_MINOR);
  if (major != WEFT_ABI_MAJOR)
    return weft_refuse (error, WEFT_ERROR_ABI,
                        "%s: built for weft plugin ABI %u.%u, but this weft speaks ABI %u.%u, "
                        "another major version: rebuild the plugin against this weft's SDK",
                        where, major, minor, WEFT_ABI_MAJOR, WEFT_ABI_MINOR);
  return weft_refuse (error, WEFT_ERROR_ABI,
                      "%s: built for weft plugin ABI %u.%u, newer than this weft's ABI %u.%u: "
                      "it may need what this weft lacks; run it with a weft of ABI %u.%u or "
                      "later, or rebuild it against this weft's SDK",
                      where, major, minor, WEFT_ABI_MAJOR, WEFT_ABI_MINOR, major, minor);
}

static gboolean
weft_is_zero (const void *data, gsize size)
{
  const guchar *bytes = data;

  for (gsize i = 0; i < size; i++)
    if (bytes[i] != 0)
      return FALSE;
  return TRUE;
}

/* Reserved space that is not zero was written by a newer or modified SDK:
 * weft would one day read it as a field it never was. */
static gboolean
weft_check_reserved (const WeftPluginDescriptor *d, const char *where, GError **error)
{
  g_autofree char *what = NULL;

  if (!weft_is_zero (d->reserved, sizeof d->reserved))
    what = g_strdup ("the descriptor");
  else if (d->agent && !weft_is_zero (d->agent->reserved, sizeof d->agent->reserved))
    what = g_strdup ("the agent class");
  else if (d->tool && !weft_is_zero (d->tool->reserved, sizeof d->tool->reserved))
    what = g_strdup ("the tool class");
  else if (d->callback && !weft_is_zero (d->callback->reserved, sizeof d->callback->reserved))
    what = g_strdup ("the callback class");
  else if (d->store && !weft_is_zero (d->store->reserved, sizeof d->store->reserved))
    what = g_strdup ("the store class");
  else if (d->store && d->store->queue
           && !weft_is_zero (d->store->queue->reserved, sizeof d->store->queue->reserved))
    what = g_strdup ("the queue class");
  for (const WeftOption *o = d->options; what == NULL && o && o->name; o++)
    if (!weft_is_zero (o->reserved, sizeof o->reserved))
      what = g_strdup_printf ("option \"%s\"", o->name);
  if (what == NULL)
    return TRUE;
  return weft_refuse (error, WEFT_ERROR_PLUGIN,
                      "%s: %s has reserved fields that are not zero (built against a newer or "
                      "a modified SDK?)", where, what);
}

static gboolean
weft_check_option_type (const WeftOption *o, const char *where, GError **error)
{
  if (weft_option_field_size (o->type) == 0 || o->description == NULL)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" has %s", where, o->name,
                        o->description ? "an unknown type" : "no description");
  if ((o->type == WEFT_OPTION_ENUM) != (o->choices != NULL))
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" %s", where, o->name,
                        o->choices ? "has choices but is not an enum"
                                   : "is an enum without choices");
  if (o->choices && o->choices[0] == NULL)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" has no choices", where,
                        o->name);
  return TRUE;
}

/* Each flag on a type it means something for: a flag that does nothing
 * would be a plugin author's mistaken belief. */
static gboolean
weft_check_option_flags (const WeftPluginDescriptor *d, const WeftOption *o, const char *where,
                         GError **error)
{
  guint known = WEFT_OPTION_NOT_EMPTY | WEFT_OPTION_ANY_CASE | WEFT_OPTION_TEMPLATE;

  if ((o->flags & ~known) != 0)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" has unknown flags (0x%x)",
                        where, o->name, o->flags & ~known);
  if ((o->flags & WEFT_OPTION_NOT_EMPTY)
      && o->type != WEFT_OPTION_STRING && o->type != WEFT_OPTION_STRING_LIST)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" is WEFT_OPTION_NOT_EMPTY "
                        "but not a string or a string list", where, o->name);
  if ((o->flags & WEFT_OPTION_ANY_CASE) && o->type != WEFT_OPTION_ENUM)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" is WEFT_OPTION_ANY_CASE "
                        "but not an enum", where, o->name);
  /* A task template is checked against the tasks an agent does. */
  if ((o->flags & WEFT_OPTION_TEMPLATE)
      && (o->type != WEFT_OPTION_STRING || d->kind != WEFT_PLUGIN_AGENT))
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" is WEFT_OPTION_TEMPLATE "
                        "but not a string of an agent", where, o->name);
  return TRUE;
}

static gboolean
weft_check_option_range (const WeftOption *o, const char *where, GError **error)
{
  if (o->min == 0 && o->max == 0)
    return TRUE;
  if (o->type != WEFT_OPTION_INT && o->type != WEFT_OPTION_DOUBLE)
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: option \"%s\" has a min or max but is not an int or a double",
                        where, o->name);
  if (isnan (o->min) || isnan (o->max)
      || (o->type == WEFT_OPTION_INT && ((isfinite (o->min) && !weft_number_is_whole (o->min))
                                         || (isfinite (o->max) && !weft_number_is_whole (o->max)))))
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: option \"%s\" has a min or max that is not a %s", where, o->name,
                        o->type == WEFT_OPTION_INT ? "whole number" : "number");
  if (o->min > o->max)
    {
      g_autofree char *min = weft_option_format_number (o->type, o->min);
      g_autofree char *max = weft_option_format_number (o->type, o->max);
      return weft_refuse (error, WEFT_ERROR_PLUGIN,
                          "%s: option \"%s\" has min %s above max %s (for an open end, give "
                          "INFINITY or -INFINITY)", where, o->name, min, max);
    }
  return TRUE;
}

static gboolean
weft_check_option_default (const WeftOption *o, const char *where, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (o->default_json == NULL)
    return TRUE;
  g_autoptr(JsonNode) dflt = json_from_string (o->default_json, NULL);
  if (dflt == NULL || !weft_option_node_matches (o->type, dflt))
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: default of option \"%s\" is not a valid %s in JSON: %s",
                        where, o->name, weft_option_type_to_string (o->type), o->default_json);
  if (!weft_option_check_value (o, dflt, &local))
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: default of option \"%s\" breaks its own "
                        "row: %s", where, o->name, local->message);
  return TRUE;
}

/* Each field inside the struct, aligned for its type, and apart from
 * every other: two options at one offset are a forgotten .offset. */
static gboolean
weft_check_option_field (const WeftPluginDescriptor *d, const WeftOption *o,
                         const char *where, GError **error)
{
  gsize size = weft_option_field_size (o->type);

  if (o->offset > d->options_size || size > d->options_size - o->offset)
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: option \"%s\" lies outside the options struct (%" G_GSIZE_FORMAT
                        " bytes at offset %" G_GSIZE_FORMAT ", options_size %" G_GSIZE_FORMAT
                        ")", where, o->name, size, o->offset, d->options_size);
  if (o->offset % size != 0)
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: option \"%s\" is at offset %" G_GSIZE_FORMAT
                        ", not aligned for its type", where, o->name, o->offset);
  for (const WeftOption *p = d->options; p != o; p++)
    {
      if (g_str_equal (p->name, o->name))
        return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: option \"%s\" is declared twice",
                            where, o->name);
      if (p->offset < o->offset + size && o->offset < p->offset + weft_option_field_size (p->type))
        return weft_refuse (error, WEFT_ERROR_PLUGIN,
                            "%s: options \"%s\" and \"%s\" overlap in the options struct "
                            "(offsets %" G_GSIZE_FORMAT " and %" G_GSIZE_FORMAT
                            "; is an .offset missing?)", where, p->name, o->name,
                            p->offset, o->offset);
    }
  return TRUE;
}

static gboolean
weft_check_options (const WeftPluginDescriptor *d, const char *where, GError **error)
{
  if (d->options && d->options[0].name && d->options_size == 0)
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: descriptor has options but no options_size (the size of the "
                        "struct they bind into)", where);
  for (const WeftOption *o = d->options; o && o->name; o++)
    if (!weft_check_option_type (o, where, error)
        || !weft_check_option_flags (d, o, where, error)
        || !weft_check_option_range (o, where, error)
        || !weft_check_option_default (o, where, error)
        || !weft_check_option_field (d, o, where, error))
      return FALSE;
  return TRUE;
}

static const char *
weft_descriptor_missing_field (const WeftPluginDescriptor *d)
{
  if (d->name == NULL || *d->name == '\0')
    return "name";
  if (d->version == NULL)
    return "version";
  if (d->description == NULL)
    return "description";
  if (d->create == NULL)
    return "create";
  if (d->destroy == NULL)
    return "destroy";
  switch (d->kind)
    {
    case WEFT_PLUGIN_AGENT:
      return d->agent == NULL ? "agent" : d->agent->run == NULL ? "agent->run" : NULL;
    case WEFT_PLUGIN_TOOL:
      if (d->tool == NULL)
        return "tool";
      return d->tool->invoke == NULL ? "tool->invoke"
           : d->tool->arguments_schema == NULL && d->tool->instance_schema == NULL
             ? "tool->arguments_schema" : NULL;
    case WEFT_PLUGIN_CALLBACK:
      return d->callback == NULL ? "callback"
           : d->callback->on_event == NULL ? "callback->on_event" : NULL;
    default:
      return "kind";
    }
}

static gboolean
weft_check_descriptor (const WeftPluginDescriptor *d, const char *where, GError **error)
{
  if (!weft_check_abi (d, where, error))
    return FALSE;
  if (d->store && (d->kind != WEFT_PLUGIN_CALLBACK || !d->store->list_runs || !d->store->get_run))
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: a store must be a callback plugin with list_runs and get_run", where);
  const WeftQueueClass *queue = d->store ? d->store->queue : NULL;
  if (queue && (!queue->enqueue || !queue->join || !queue->claim_next || !queue->wait
                || !queue->hand_back || !queue->list_workers))
    return weft_refuse (error, WEFT_ERROR_PLUGIN,
                        "%s: a queue needs enqueue, join, claim_next, wait, hand_back and "
                        "list_workers", where);
  const char *missing = weft_descriptor_missing_field (d);
  if (missing)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: descriptor has no %s%s", where, missing,
                        g_str_equal (missing, "kind") ? " (agent, tool or callback)" : "");
  if (d->kind == WEFT_PLUGIN_AGENT && (d->agent->flags & ~(guint) WEFT_AGENT_ASYNC) != 0)
    return weft_refuse (error, WEFT_ERROR_PLUGIN, "%s: agent->flags has unknown bits (0x%x)",
                        where, d->agent->flags & ~(guint) WEFT_AGENT_ASYNC);
  return weft_check_reserved (d, where, error) && weft_check_options (d, where, error);
}

static WeftPlugin *
weft_registry_add (WeftRegistry *registry, const WeftPluginDescriptor *d,
                   const char *path, void *handle, GError **error)
{
  g_autofree char *key = weft_plugin_key (d->kind, d->name);
  WeftPlugin *existing = g_hash_table_lookup (registry->by_key, key);

  if (existing)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE,
                   "%s: a %s plugin named \"%s\" is already loaded from %s",
                   path ? path : "built-in", weft_plugin_kind_to_string (d->kind), d->name,
                   existing->path ? existing->path : "weft itself (built-in)");
      return NULL;
    }

  WeftPlugin *plugin = g_new0 (WeftPlugin, 1);
  plugin->desc = d;
  plugin->path = g_strdup (path);
  plugin->handle = handle;
  g_ptr_array_add (registry->plugins, plugin);
  g_hash_table_insert (registry->by_key, g_steal_pointer (&key), plugin);
  return plugin;
}

WeftPlugin *
weft_registry_add_static (WeftRegistry *registry, const WeftPluginDescriptor *descriptor,
                          GError **error)
{
  g_return_val_if_fail (registry != NULL && descriptor != NULL, NULL);

  if (!weft_check_descriptor (descriptor, "built-in plugin", error))
    return NULL;
  return weft_registry_add (registry, descriptor, NULL, NULL, error);
}

/* ---- files ------------------------------------------------------------ */

static gboolean
weft_file_is_elf (const char *path, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) in = g_file_read (file, NULL, error);
  guchar magic[4] = { 0 };
  gsize got = 0;

  if (in == NULL)
    return FALSE;
  if (!g_input_stream_read_all (G_INPUT_STREAM (in), magic, sizeof magic, &got, NULL, error))
    return FALSE;
  if (got != sizeof magic || memcmp (magic, "\177ELF", 4) != 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN, "not a shared object (no ELF header)");
      return FALSE;
    }
  return TRUE;
}

typedef const WeftPluginDescriptor *(*WeftPluginEntry) (void);

WeftPlugin *
weft_registry_load_file (WeftRegistry *registry, const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (registry != NULL && path != NULL, NULL);

  if (!weft_file_is_elf (path, &local))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN, "%s: %s", path, local->message);
      return NULL;
    }

  /* RTLD_LOCAL: plugins never see each other's symbols, only libweft's.
   * RTLD_NOW: a missing symbol refuses the file here rather than aborting
   * the process when first called.  That comes before the descriptor can
   * be read, so a plugin of a newer minor that calls a function this weft
   * lacks is recognised by the symbol's name. */
  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      const char *why = dlerror ();
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN, "%s: cannot be loaded: %s%s",
                   path, why, strstr (why, "undefined symbol: weft_") == NULL ? ""
                   : " (a weft function this weft's SDK, ABI " G_STRINGIFY (WEFT_ABI_MAJOR)
                     "." G_STRINGIFY (WEFT_ABI_MINOR) ", does not have: the plugin was built "
                     "against a newer weft; run it with that one, or rebuild it against this "
                     "weft's SDK)");
      return NULL;
    }

  dlerror ();
  void *sym = dlsym (handle, WEFT_PLUGIN_ENTRY_SYMBOL);
  if (sym == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN,
                   "%s: no %s() entry point; a plugin must use WEFT_PLUGIN_DEFINE()",
                   path, WEFT_PLUGIN_ENTRY_SYMBOL);
      dlclose (handle);
      return NULL;
    }

  WeftPluginEntry entry;
  /* ISO C has no cast from object to function pointer; POSIX guarantees the
   * representations agree. */
  memcpy (&entry, &sym, sizeof entry);
  const WeftPluginDescriptor *desc = entry ();
  if (desc == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN, "%s: %s() returned no descriptor",
                   path, WEFT_PLUGIN_ENTRY_SYMBOL);
      dlclose (handle);
      return NULL;
    }

  WeftPlugin *plugin = NULL;
  if (weft_check_descriptor (desc, path, error))
    plugin = weft_registry_add (registry, desc, path, handle, error);
  if (plugin == NULL)
    dlclose (handle);
  return plugin;
}

static gboolean
weft_is_plugin_file_name (const char *name)
{
  return g_str_has_prefix (name, "weft-") && g_str_has_suffix (name, ".so");
}

/* The name a plugin file claims: weft-NAME.so → NAME. */
static char *
weft_plugin_file_claims (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  return g_strndup (base + strlen ("weft-"), strlen (base) - strlen ("weft-") - strlen (".so"));
}

static gboolean
weft_registry_has_name (WeftRegistry *registry, const char *name)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      WeftPlugin *p = registry->plugins->pdata[i];
      if (p->path && g_str_equal (p->desc->name, name))
        return TRUE;
    }
  return FALSE;
}

static gint
weft_compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
weft_registry_scan (WeftRegistry *registry, const char *dir, guint depth,
                    GPtrArray *warnings)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  /* Sorted, so that which of two clashing files wins never depends on the
   * file system's order. */
  g_ptr_array_sort (names, weft_compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          if (depth > 0)
            weft_registry_scan (registry, path, depth - 1, warnings);
          continue;
        }
      if (!weft_is_plugin_file_name (names->pdata[i]))
        continue;

      /* An earlier directory's plugin of the same name takes precedence:
       * that is how --plugin-dir overrides an installed plugin. */
      g_autofree char *claimed = weft_plugin_file_claims (path);
      g_autoptr(GError) error = NULL;
      WeftPlugin *plugin = weft_registry_load_file (registry, path, &error);
      if (plugin == NULL)
        {
          if (warnings && !(g_error_matches (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE)
                            && weft_registry_has_name (registry, claimed)))
            g_ptr_array_add (warnings, g_strdup (error->message));
          continue;
        }
    }
}

gboolean
weft_registry_load_dir (WeftRegistry *registry, const char *dir, GPtrArray *warnings,
                        GError **error)
{
  g_return_val_if_fail (registry != NULL && dir != NULL, FALSE);

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "%s: plugin directory does not exist", dir);
      return FALSE;
    }
  weft_registry_scan (registry, dir, 3, warnings);
  return TRUE;
}

WeftPlugin *
weft_registry_lookup (WeftRegistry *registry, WeftPluginKind kind, const char *name)
{
  g_autofree char *key = weft_plugin_key (kind, name);
  return g_hash_table_lookup (registry->by_key, key);
}

static gint
weft_plugin_compare (gconstpointer a, gconstpointer b)
{
  const WeftPlugin *pa = *(WeftPlugin * const *) a;
  const WeftPlugin *pb = *(WeftPlugin * const *) b;

  if (pa->desc->kind != pb->desc->kind)
    return (gint) pa->desc->kind - (gint) pb->desc->kind;
  return strcmp (pa->desc->name, pb->desc->name);
}

GPtrArray *
weft_registry_list (WeftRegistry *registry)
{
  GPtrArray *list = g_ptr_array_new ();

  for (guint i = 0; i < registry->plugins->len; i++)
    g_ptr_array_add (list, registry->plugins->pdata[i]);
  g_ptr_array_sort (list, weft_plugin_compare);
  return list;
}

const WeftPluginDescriptor *
weft_plugin_get_descriptor (WeftPlugin *plugin)
{
  g_return_val_if_fail (plugin != NULL, NULL);
  return plugin->desc;
}

const char *
weft_plugin_get_path (WeftPlugin *plugin)
{
  g_return_val_if_fail (plugin != NULL, NULL);
  return plugin->path;
}

gpointer
weft_plugin_create (WeftPlugin *plugin, WeftConfig *config, GError **error)
{
  g_autoptr(GError) local = NULL;
  gpointer instance = NULL;

  if (weft_config_bind (config, &local))
    instance = plugin->desc->create (config, &local);

  if (instance != NULL)
    return instance;
  if (local == NULL)
    local = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "create() failed without a reason");
  weft_secrets_redact_error (local);
  weft_message_tidy_error (local);
  g_propagate_error (error, g_steal_pointer (&local));
  return NULL;
}
