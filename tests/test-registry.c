/* test-registry.c — the registry loads good plugins and refuses bad ones
 * with a message that names the file and the reason, never crashing. */
#include "weft-test.h"

#include <math.h>

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

/* A plugin of ABI 2 (one number, where abi_major is now) is told what it
 * is and what to do. */
static void
test_abi_2 (void)
{
  g_autofree char *both = g_strdup_printf ("built for weft plugin ABI 2, but this weft speaks "
                                           "ABI %u.%u, a major version apart",
                                           WEFT_ABI_MAJOR, WEFT_ABI_MINOR);
  assert_refused ("weft-old-abi.so", WEFT_ERROR_ABI, both);
  assert_refused ("weft-old-abi.so", WEFT_ERROR_ABI, "Porting from ABI 2");
}

static void
test_abi_newer_minor (void)
{
  g_autofree char *both = g_strdup_printf ("built for weft plugin ABI %u.%u, newer than this "
                                           "weft's ABI %u.%u", WEFT_ABI_MAJOR,
                                           WEFT_ABI_MINOR + 1, WEFT_ABI_MAJOR, WEFT_ABI_MINOR);
  assert_refused ("weft-new-minor.so", WEFT_ERROR_ABI, both);
}

static void
test_abi_other_major (void)
{
  g_autofree char *both = g_strdup_printf ("built for weft plugin ABI %u.0, but this weft "
                                           "speaks ABI %u.%u, another major version",
                                           WEFT_ABI_MAJOR + 1, WEFT_ABI_MAJOR, WEFT_ABI_MINOR);
  assert_refused ("weft-new-major.so", WEFT_ERROR_ABI, both);
}

/* A descriptor that forgot its version (all zero) is told how to set it. */
static void
test_abi_none (void)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autoptr(GError) error = NULL;
  static const WeftPluginDescriptor none = { .name = "none" };

  g_assert_null (weft_registry_add_static (weft_engine_get_registry (engine), &none, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_ABI);
  g_assert_cmpstr (error->message, ==, "built-in plugin: descriptor has no ABI version (abi_major "
                   "is 0): set .abi_major = WEFT_ABI_MAJOR and .abi_minor = WEFT_ABI_MINOR");
}

/* A newer plugin calling a function this weft lacks cannot even be
 * opened; the message still says why. */
static void
test_abi_missing_function (void)
{
  g_autofree char *version = g_strdup_printf ("ABI %u.%u, does not have", WEFT_ABI_MAJOR,
                                              WEFT_ABI_MINOR);
  assert_refused ("weft-new-symbol.so", WEFT_ERROR_PLUGIN, "weft_task_get_from_the_future");
  assert_refused ("weft-new-symbol.so", WEFT_ERROR_PLUGIN, version);
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

/* ---- options tables the registry refuses --------------------------------- */

typedef struct {
  const char *text;
  gint64 count;
  double ratio;
  gint mode;
} Opts;

static const char * const modes[] = { "fast", "slow", NULL };
static gpointer opts_create (const WeftConfig *c, GError **e) { return g_new0 (int, 1); }
static void opts_run (gpointer i, WeftTask *t) { weft_task_return (t, ""); }
static const WeftAgentClass opts_class = { .run = opts_run };

#define TEXT_ROW { .name = "text", .type = WEFT_OPTION_STRING, \
                   .offset = offsetof (Opts, text), .description = "a text" }
#define COUNT_ROW(...) { .name = "count", .type = WEFT_OPTION_INT, \
                         .offset = offsetof (Opts, count), .description = "a count", __VA_ARGS__ }

static const WeftOption no_size[] = { TEXT_ROW, WEFT_OPTION_END };
static const WeftOption overlap[] = {
  TEXT_ROW, { .name = "other", .type = WEFT_OPTION_STRING, .description = "x" }, WEFT_OPTION_END
};
static const WeftOption twice[] = { TEXT_ROW, COUNT_ROW (), COUNT_ROW (), WEFT_OPTION_END };
static const WeftOption outside[] = {
  { .name = "far", .type = WEFT_OPTION_INT, .offset = sizeof (Opts), .description = "x" },
  WEFT_OPTION_END
};
static const WeftOption misaligned[] = {
  { .name = "odd", .type = WEFT_OPTION_INT, .offset = 4, .description = "x" }, WEFT_OPTION_END
};
static const WeftOption min_above_max[] = { COUNT_ROW (.min = 1), WEFT_OPTION_END };
static const WeftOption fraction[] = { COUNT_ROW (.min = 0.5, .max = 2), WEFT_OPTION_END };
static const WeftOption range_on_text[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .offset = offsetof (Opts, text), .min = 1,
    .max = 2, .description = "a text" },
  WEFT_OPTION_END
};
static const WeftOption default_outside[] = {
  COUNT_ROW (.default_json = "7", .min = 0, .max = 5), WEFT_OPTION_END
};
static const WeftOption enum_no_choices[] = {
  { .name = "mode", .type = WEFT_OPTION_ENUM, .offset = offsetof (Opts, mode),
    .description = "a mode" },
  WEFT_OPTION_END
};
static const WeftOption choices_on_text[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .offset = offsetof (Opts, text),
    .choices = modes, .description = "a text" },
  WEFT_OPTION_END
};
static const WeftOption enum_bad_default[] = {
  { .name = "mode", .type = WEFT_OPTION_ENUM, .offset = offsetof (Opts, mode), .choices = modes,
    .default_json = "\"medium\"", .description = "a mode" },
  WEFT_OPTION_END
};
static const WeftOption reserved_set[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .offset = offsetof (Opts, text),
    .reserved = { (gpointer) modes }, .description = "a text" },
  WEFT_OPTION_END
};
static const WeftOption not_empty_int[] = {
  COUNT_ROW (.flags = WEFT_OPTION_NOT_EMPTY), WEFT_OPTION_END
};
static const WeftOption any_case_text[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .offset = offsetof (Opts, text),
    .flags = WEFT_OPTION_ANY_CASE, .description = "a text" },
  WEFT_OPTION_END
};
static const WeftOption template_int[] = {
  COUNT_ROW (.flags = WEFT_OPTION_TEMPLATE), WEFT_OPTION_END
};
static const WeftOption unknown_flag[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .offset = offsetof (Opts, text), .flags = 1u << 7,
    .description = "a text" },
  WEFT_OPTION_END
};
static const WeftOption unknown_type[] = {
  { .name = "text", .type = 99, .offset = offsetof (Opts, text), .description = "a text" },
  WEFT_OPTION_END
};

static void
assert_table_refused (const WeftOption *options, gsize size, const char *reason)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autoptr(GError) error = NULL;
  const WeftPluginDescriptor d = {
    .abi_major = WEFT_ABI_MAJOR, .abi_minor = WEFT_ABI_MINOR, .kind = WEFT_PLUGIN_AGENT,
    .name = "opts", .version = "1", .description = "options", .options = options,
    .options_size = size, .create = opts_create, .destroy = g_free, .agent = &opts_class,
  };

  g_assert_null (weft_registry_add_static (weft_engine_get_registry (engine), &d, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PLUGIN);
  weft_test_assert_contains (error->message, "built-in plugin: ");
  weft_test_assert_contains (error->message, reason);
}

/* Every check of an options table, each with the message that says what
 * to fix.  The descriptors are built here, through weft_registry_add_static,
 * which runs the same checks as a file's. */
static void
test_option_tables (void)
{
  assert_table_refused (no_size, 0, "descriptor has options but no options_size");
  assert_table_refused (overlap, sizeof (Opts),
                        "options \"text\" and \"other\" overlap in the options struct "
                        "(offsets 0 and 0; is an .offset missing?)");
  assert_table_refused (twice, sizeof (Opts), "option \"count\" is declared twice");
  assert_table_refused (outside, sizeof (Opts), "option \"far\" lies outside the options struct");
  assert_table_refused (misaligned, sizeof (Opts),
                        "option \"odd\" is at offset 4, not aligned for its type");
  assert_table_refused (min_above_max, sizeof (Opts),
                        "option \"count\" has min 1 above max 0 (for an open end, give "
                        "INFINITY or -INFINITY)");
  assert_table_refused (fraction, sizeof (Opts),
                        "option \"count\" has a min or max that is not a whole number");
  assert_table_refused (range_on_text, sizeof (Opts),
                        "option \"text\" has a min or max but is not an int or a double");
  assert_table_refused (default_outside, sizeof (Opts),
                        "default of option \"count\" breaks its own row: option \"count\": "
                        "must be between 0 and 5, not 7");
  assert_table_refused (enum_no_choices, sizeof (Opts), "option \"mode\" is an enum without choices");
  assert_table_refused (choices_on_text, sizeof (Opts),
                        "option \"text\" has choices but is not an enum");
  assert_table_refused (enum_bad_default, sizeof (Opts),
                        "option \"mode\": must be \"fast\" or \"slow\", not \"medium\"");
  assert_table_refused (reserved_set, sizeof (Opts),
                        "option \"text\" has reserved fields that are not zero");
  assert_table_refused (unknown_type, sizeof (Opts), "option \"text\" has an unknown type");
  assert_table_refused (not_empty_int, sizeof (Opts),
                        "option \"count\" is WEFT_OPTION_NOT_EMPTY but not a string or a string "
                        "list");
  assert_table_refused (any_case_text, sizeof (Opts),
                        "option \"text\" is WEFT_OPTION_ANY_CASE but not an enum");
  assert_table_refused (template_int, sizeof (Opts),
                        "option \"count\" is WEFT_OPTION_TEMPLATE but not a string of an agent");
  assert_table_refused (unknown_flag, sizeof (Opts), "option \"text\" has unknown flags (0x80)");
}

/* ---- binding ----------------------------------------------------------------- */

typedef struct {
  const char *text;
  const char * const *words;
  gint mode;
  double ratio;
  gint64 count;
} Bound;

static const WeftOption bound_options[] = {
  { .name = "text", .type = WEFT_OPTION_STRING, .flags = WEFT_OPTION_NOT_EMPTY,
    .offset = offsetof (Bound, text), .description = "a text" },
  { .name = "words", .type = WEFT_OPTION_STRING_LIST, .flags = WEFT_OPTION_NOT_EMPTY,
    .offset = offsetof (Bound, words), .description = "words" },
  { .name = "mode", .type = WEFT_OPTION_ENUM, .choices = modes, .flags = WEFT_OPTION_ANY_CASE,
    .offset = offsetof (Bound, mode), .description = "a mode" },
  { .name = "ratio", .type = WEFT_OPTION_DOUBLE, .min = 0.001, .max = INFINITY,
    .offset = offsetof (Bound, ratio), .description = "a ratio" },
  { .name = "count", .type = WEFT_OPTION_INT, .min = 1, .max = INFINITY,
    .offset = offsetof (Bound, count), .description = "a count" },
  WEFT_OPTION_END
};

/* The instance is what create() found: a copy of the struct, with the
 * text and the first word copied too (the struct's strings are the
 * config's, alive as long as the instance; the copies outlive it). */
static gpointer
bound_create (const WeftConfig *config, GError **error)
{
  const Bound *options = weft_config_get_options (config);
  GString *seen = g_string_new (NULL);

  g_string_append_printf (seen, "text=%s words=%s mode=%d ratio=%g count=%" G_GINT64_FORMAT
                          " given=%d", options->text ? options->text : "(none)",
                          options->words ? options->words[0] : "(none)", options->mode,
                          options->ratio, options->count,
                          weft_config_is_given (config, &options->count));
  return g_string_free (seen, FALSE);
}

static void bound_run (gpointer i, WeftTask *t) { weft_task_return (t, i); }
static const WeftAgentClass bound_class = { .flags = WEFT_AGENT_ASYNC, .run = bound_run };
static const WeftPluginDescriptor bound_plugin = {
  .abi_major = WEFT_ABI_MAJOR, .abi_minor = WEFT_ABI_MINOR, .kind = WEFT_PLUGIN_AGENT,
  .name = "bound", .version = "1", .description = "binds its options", .options = bound_options,
  .options_size = sizeof (Bound), .create = bound_create, .destroy = g_free, .agent = &bound_class,
};

/* What an agent of plugin "bound" with `options` answers; NULL and an
 * error when the flow does not load. */
static char *
bound_answer (const char *options, GError **error)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (1);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"b\", \"agents\": {\"a\": {\"plugin\": \"bound\"%s%s}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"a\", \"description\": \"d\"}]}",
    *options ? ", " : "", options);

  g_assert_nonnull (weft_registry_add_static (weft_engine_get_registry (engine), &bound_plugin,
                                              NULL));
  g_autoptr(WeftFlow) flow = weft_flow_load_data (engine, json, -1, "b.json", error);
  if (flow == NULL)
    return NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, error);
  return g_strdup (weft_run_get_task_output (run, 0));
}

/* Values with no default: NULL, -1 for an enum, 0; given ones bound; the
 * flags' and ranges' refusals in the words plugins used. */
static void
test_option_binding (void)
{
  static const struct {
    const char *options;
    const char *message;
  } refused[] = {
    { "\"text\": \"\"", "b.json: $.agents.a: plugin bound: option \"text\": must not be empty" },
    { "\"words\": []", "b.json: $.agents.a: plugin bound: option \"words\": must not be empty" },
    { "\"mode\": \"medium\"",
      "b.json: $.agents.a: plugin bound: option \"mode\": must be \"fast\" or \"slow\", not "
      "\"medium\"" },
    { "\"ratio\": 0", "b.json: $.agents.a: plugin bound: option \"ratio\": must be at least "
      "0.001, not 0" },
    { "\"count\": 0", "b.json: $.agents.a: plugin bound: option \"count\": must be positive, "
      "not 0" },
  };
  g_autoptr(GError) error = NULL;

  g_autofree char *none = bound_answer ("", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (none, ==, "text=(none) words=(none) mode=-1 ratio=0 count=0 given=0");

  g_autofree char *given = bound_answer ("\"text\": \"x\", \"words\": [\"w\"], \"mode\": \"SLOW\","
                                         " \"ratio\": 2, \"count\": 3", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (given, ==, "text=x words=w mode=1 ratio=2 count=3 given=1");

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) refusal = NULL;
      g_autofree char *answer = bound_answer (refused[i].options, &refusal);

      g_assert_null (answer);
      g_assert_error (refusal, WEFT_ERROR, WEFT_ERROR_INVALID);
      g_assert_cmpstr (refusal->message, ==, refused[i].message);
    }
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
  weft_test_assert_contains (all, "weft-new-minor.so");
  weft_test_assert_contains (all, "weft-new-major.so");
  weft_test_assert_contains (all, "weft-new-symbol.so");
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
  g_test_add_func ("/registry/abi-2", test_abi_2);
  g_test_add_func ("/registry/abi-newer-minor", test_abi_newer_minor);
  g_test_add_func ("/registry/abi-other-major", test_abi_other_major);
  g_test_add_func ("/registry/abi-missing-function", test_abi_missing_function);
  g_test_add_func ("/registry/abi-none", test_abi_none);
  g_test_add_func ("/registry/option-tables", test_option_tables);
  g_test_add_func ("/registry/option-binding", test_option_binding);
  g_test_add_func ("/registry/missing-fields", test_missing_fields);
  g_test_add_func ("/registry/bad-default", test_bad_default);
  g_test_add_func ("/registry/duplicate-name", test_duplicate_name);
  g_test_add_func ("/registry/scan-broken-dir", test_scan_broken_dir);
  g_test_add_func ("/registry/discovery-order", test_discovery_order);
  g_test_add_func ("/registry/plugin-path-env", test_plugin_path_env);
  return g_test_run ();
}
