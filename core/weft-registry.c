/* weft-registry.c — finds, opens and checks plugins.
 *
 * A file is trusted only after its descriptor passed every check here:
 * the ABI version, the fields its kind needs, its options table and the
 * defaults in it.  Every refusal names the file and the reason. */
#include "weft-private.h"

#include <dlfcn.h>
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
weft_check_options (const WeftPluginDescriptor *d, const char *where, GError **error)
{
  for (const WeftOption *o = d->options; o && o->name; o++)
    {
      if (o->type < WEFT_OPTION_STRING || o->type > WEFT_OPTION_OBJECT || o->description == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN,
                       "%s: option \"%s\" has %s", where, o->name,
                       o->description ? "an unknown type" : "no description");
          return FALSE;
        }
      if (o->default_json == NULL)
        continue;
      g_autoptr(JsonNode) dflt = json_from_string (o->default_json, NULL);
      if (dflt == NULL || !weft_option_node_matches (o->type, dflt))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN,
                       "%s: default of option \"%s\" is not a valid %s in JSON: %s",
                       where, o->name, weft_option_type_to_string (o->type), o->default_json);
          return FALSE;
        }
    }
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
  if (d->abi != WEFT_ABI_VERSION)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_ABI,
                   "%s: built for weft plugin ABI %u, but this weft speaks ABI %u; "
                   "rebuild the plugin against this weft's SDK",
                   where, d->abi, (guint) WEFT_ABI_VERSION);
      return FALSE;
    }
  if (d->store && (d->kind != WEFT_PLUGIN_CALLBACK || !d->store->list_runs || !d->store->get_run))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN,
                   "%s: a store must be a callback plugin with list_runs and get_run", where);
      return FALSE;
    }
  const char *missing = weft_descriptor_missing_field (d);
  if (missing)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN,
                   "%s: descriptor has no %s%s", where, missing,
                   g_str_equal (missing, "kind") ? " (agent, tool or callback)" : "");
      return FALSE;
    }
  return weft_check_options (d, where, error);
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

  /* RTLD_LOCAL: plugins never see each other's symbols, only libweft's. */
  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN, "%s: cannot be loaded: %s",
                   path, dlerror ());
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
weft_plugin_create (WeftPlugin *plugin, const WeftConfig *config, GError **error)
{
  g_autoptr(GError) local = NULL;
  gpointer instance = plugin->desc->create (config, &local);

  if (instance != NULL)
    return instance;
  if (local == NULL)
    local = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "create() failed without a reason");
  weft_secrets_redact_error (local);
  weft_message_tidy_error (local);
  g_propagate_error (error, g_steal_pointer (&local));
  return NULL;
}
