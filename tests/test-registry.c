/* test-registry.c — the registry loads good plugins and refuses bad ones
 * with a message that names the file and the reason, never crashing. */
#include "weft-test.h"

static char *
broken_plugin (const char *name)
{
  return g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "tests", "plugins", "broken",
                           name, NULL);
}

static void
assert_refused (const char *file, gint code, const char *reason)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autofree char *path = broken_plugin (file);
  g_autoptr(GError) error = NULL;

  WeftPlugin *plugin = weft_registry_load_file (weft_engine_get_registry (engine), path, &error);
  g_assert_null (plugin);
  g_assert_error (error, WEFT_ERROR, code);
  g_assert_true (g_str_has_prefix (error->message, path));
  weft_test_assert_contains (error->message, reason);
}

static void
test_not_a_shared_object (void)
{
  g_autofree char *dir = g_dir_make_tmp ("weft-registry-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "weft-text.so", NULL);
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, "this is not ELF\n", -1, NULL));
  g_assert_null (weft_registry_load_file (weft_engine_get_registry (engine), path, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN);
  weft_test_assert_contains (error->message, path);
  weft_test_assert_contains (error->message, "not a shared object");

  /* An ELF file that is no shared object (truncated) is refused by dlopen. */
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "\177ELF\002\001\001", 7, NULL));
  g_assert_null (weft_registry_load_file (weft_engine_get_registry (engine), path, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN);
  weft_test_assert_contains (error->message, "cannot be loaded");

  g_clear_error (&error);
  g_autofree char *missing = g_build_filename (dir, "weft-absent.so", NULL);
  g_assert_null (weft_registry_load_file (weft_engine_get_registry (engine), missing, &error));
  weft_test_assert_contains (error->message, missing);

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_missing_entry_symbol (void)
{
  assert_refused ("weft-no-entry.so", WEFT_ERROR_PLUGIN, "no weft_plugin_descriptor() entry point");
}

static void
test_abi_mismatch (void)
{
  g_autofree char *both = g_strdup_printf ("ABI %u, but this weft speaks ABI %u",
                                           WEFT_ABI_VERSION + 998, WEFT_ABI_VERSION);
  assert_refused ("weft-old-abi.so", WEFT_ERROR_ABI, both);
}

static void
test_missing_fields (void)
{
  assert_refused ("weft-no-run.so", WEFT_ERROR_PLUGIN, "descriptor has no agent->run");
}

static void
test_bad_default (void)
{
  assert_refused ("weft-bad-default.so", WEFT_ERROR_PLUGIN,
                  "default of option \"count\" is not a valid int");
}

static void
test_duplicate_name (void)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  WeftRegistry *registry = weft_engine_get_registry (engine);
  g_autofree char *a = broken_plugin ("weft-dup-a.so");
  g_autofree char *b = broken_plugin ("weft-dup-b.so");
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (weft_registry_load_file (registry, a, &error));
  g_assert_no_error (error);
  g_assert_null (weft_registry_load_file (registry, b, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE);
  weft_test_assert_contains (error->message, b);
  weft_test_assert_contains (error->message, "\"dup\" is already loaded from");
  weft_test_assert_contains (error->message, a);

  /* A built-in name is taken too. */
  WeftPlugin *noop = weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "noop");
  g_clear_error (&error);
  g_assert_null (weft_registry_add_static (registry, weft_plugin_get_descriptor (noop), &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE);
}

/* Scanning a directory reports every refusal as a warning and loads the
 * rest; nothing crashes. */
static void
test_scan_broken_dir (void)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  WeftRegistry *registry = weft_engine_get_registry (engine);
  g_autofree char *dir = broken_plugin (NULL);
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  g_assert_true (weft_registry_load_dir (registry, dir, warnings, &error));
  g_assert_no_error (error);
  g_ptr_array_add (warnings, NULL);
  g_autofree char *all = g_strjoinv ("\n", (char **) warnings->pdata);
  weft_test_assert_contains (all, "weft-no-entry.so");
  weft_test_assert_contains (all, "weft-old-abi.so");
  weft_test_assert_contains (all, "weft-no-run.so");
  weft_test_assert_contains (all, "weft-bad-default.so");
  weft_test_assert_contains (all, "weft-dup-b.so");
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "dup"));
  g_assert_null (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "old-abi"));

  g_clear_error (&error);
  g_assert_false (weft_registry_load_dir (registry, "/nonexistent/weft", NULL, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
}

/* An earlier directory wins over a later one: --plugin-dir overrides. */
static void
test_discovery_order (void)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autofree char *good = weft_test_plugin_dir ();
  const char *dirs[] = { good, NULL };
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  g_assert_true (weft_engine_load_plugins (engine, dirs, warnings, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (warnings->len, ==, 0);
  WeftRegistry *registry = weft_engine_get_registry (engine);
  WeftPlugin *agent = weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "test-agent");
  g_assert_nonnull (agent);
  g_assert_true (g_str_has_prefix (weft_plugin_get_path (agent), good));
  /* The build tree's own plugins come along when running uninstalled. */
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK, "log"));
  g_assert_nonnull (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "template"));
  g_assert_null (weft_plugin_get_path (weft_registry_lookup (registry, WEFT_PLUGIN_AGENT, "noop")));

  g_autoptr(GPtrArray) list = weft_registry_list (registry);
  for (guint i = 1; i < list->len; i++)
    {
      const WeftPluginDescriptor *a = weft_plugin_get_descriptor (list->pdata[i - 1]);
      const WeftPluginDescriptor *b = weft_plugin_get_descriptor (list->pdata[i]);
      g_assert_true (a->kind < b->kind || (a->kind == b->kind && strcmp (a->name, b->name) < 0));
    }
}

static void
test_plugin_path_env (void)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autofree char *good = weft_test_plugin_dir ();
  g_autofree char *path = g_strdup_printf ("/nonexistent:%s", good);
  g_autoptr(GError) error = NULL;

  g_setenv ("WEFT_PLUGIN_PATH", path, TRUE);
  g_assert_true (weft_engine_load_plugins (engine, NULL, NULL, &error));
  g_unsetenv ("WEFT_PLUGIN_PATH");
  g_assert_nonnull (weft_registry_lookup (weft_engine_get_registry (engine),
                                          WEFT_PLUGIN_CALLBACK, "test-recorder"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/registry/not-a-shared-object", test_not_a_shared_object);
  g_test_add_func ("/registry/missing-entry-symbol", test_missing_entry_symbol);
  g_test_add_func ("/registry/abi-mismatch", test_abi_mismatch);
  g_test_add_func ("/registry/missing-fields", test_missing_fields);
  g_test_add_func ("/registry/bad-default", test_bad_default);
  g_test_add_func ("/registry/duplicate-name", test_duplicate_name);
  g_test_add_func ("/registry/scan-broken-dir", test_scan_broken_dir);
  g_test_add_func ("/registry/discovery-order", test_discovery_order);
  g_test_add_func ("/registry/plugin-path-env", test_plugin_path_env);
  return g_test_run ();
}
