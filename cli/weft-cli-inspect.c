/* weft-cli-inspect.c — the commands that look without running:
 * `weft validate`, `weft graph` and `weft plugins`. */
#include "weft-cli.h"

#include <string.h>

/* ---- shared ------------------------------------------------------------- */

static GOptionContext *
weft_cli_inspect_context (const char *parameters, const char *summary,
                          char ***plugin_dirs)
{
  const GOptionEntry entries[] = {
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  GOptionContext *context = g_option_context_new (parameters);

  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

/* ---- validate ----------------------------------------------------------- */

/* "3 tasks, 2 agents, 1 tool, 1 callback; inputs: topic". */
static char *
weft_cli_flow_summary (WeftFlow *flow)
{
  static const struct {
    WeftPluginKind kind;
    const char *one;
    const char *many;
  } kinds[] = {
    { WEFT_PLUGIN_AGENT, "agent", "agents" },
    { WEFT_PLUGIN_TOOL, "tool", "tools" },
    { WEFT_PLUGIN_CALLBACK, "callback", "callbacks" },
  };
  g_autoptr(GString) summary = g_string_new (NULL);
  g_autofree char *tasks = weft_cli_count (weft_flow_get_n_tasks (flow), "task", "tasks");
  const char * const *inputs = weft_flow_get_input_names (flow);

  g_string_append (summary, tasks);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      guint n = weft_flow_get_n_instances (flow, kinds[k].kind);
      g_autofree char *count = weft_cli_count (n, kinds[k].one, kinds[k].many);

      if (n > 0 || kinds[k].kind == WEFT_PLUGIN_AGENT)
        g_string_append_printf (summary, ", %s", count);
    }
  if (inputs != NULL && inputs[0] != NULL)
    {
      g_autofree char *names = g_strjoinv (", ", (char **) inputs);
      g_string_append_printf (summary, "; inputs: %s", names);
    }
  return g_string_free (g_steal_pointer (&summary), FALSE);
}

static gboolean
weft_cli_validate_file (WeftEngine *engine, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, path, &error);
  g_autofree char *summary = NULL;

  if (flow == NULL)
    {
      weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
      return FALSE;
    }
  summary = weft_cli_flow_summary (flow);
  printf ("%s: ok (%s)\n", path, summary);
  return TRUE;
}

int
weft_cli_validate_main (char **argv)
{
  g_auto(GStrv) plugin_dirs = NULL;
  g_auto(GStrv) positional = NULL;
  g_autoptr(GOptionContext) context = weft_cli_inspect_context (
    "FLOW...", "Check flows without running them: plugins, agents, tools,\n"
    "callbacks, options, dependencies and inputs.", &plugin_dirs);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  int status = weft_cli_parse_options (context, argv, &positional);
  gboolean all_ok = TRUE;

  if (status >= 0)
    return status;
  if (positional[0] == NULL)
    return weft_cli_usage_error ("validate", "expected a FLOW file");
  engine = weft_cli_open_engine (0, plugin_dirs, &error);
  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  for (guint i = 0; positional[i] != NULL; i++)
    all_ok &= weft_cli_validate_file (engine, positional[i]);
  fflush (stdout);
  return all_ok ? WEFT_CLI_EXIT_OK : WEFT_CLI_EXIT_USAGE;
}

/* ---- graph -------------------------------------------------------------- */

static const char *const weft_cli_graph_formats[] = { "dot", "mermaid", "svg", "png", NULL };

static char *
weft_cli_graph_text (WeftFlow *flow, const char *format)
{
  if (g_strcmp0 (format, "mermaid") == 0)
    return weft_flow_to_mermaid (flow);
  return weft_flow_to_dot (flow);
}

/* svg and png: the dot text drawn by Graphviz's `dot`, which writes to our
 * stdout itself (png is binary) and its complaints to our stderr. */
static gboolean
weft_cli_graph_draw (const char *dot_text, const char *format, GError **error)
{
  g_autofree char *type = g_strconcat ("-T", format, NULL);
  const char *argv[] = { "dot", type, NULL };
  g_autoptr(GBytes) input = g_bytes_new_static (dot_text, strlen (dot_text));
  g_autoptr(GError) local = NULL;
  g_autoptr(GSubprocess) proc = NULL;

  fflush (stdout);
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE, &local);
  if (proc == NULL)
    {
      if (g_error_matches (local, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT))
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                     "-T %s needs Graphviz's dot program, which is not on PATH (Debian: "
                     "apt-get install graphviz); -T dot prints the graph for another tool",
                     format);
      else
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "-T %s: cannot run dot: %s",
                     format, local->message);
      return FALSE;
    }
  if (!g_subprocess_communicate (proc, input, NULL, NULL, NULL, &local))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "-T %s: dot: %s", format,
                   local->message);
      return FALSE;
    }
  if (!g_subprocess_get_successful (proc))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "-T %s: dot -T%s failed (exit status %d)", format, format,
                   g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1);
      return FALSE;
    }
  return TRUE;
}

int
weft_cli_graph_main (char **argv)
{
  g_auto(GStrv) plugin_dirs = NULL;
  g_auto(GStrv) positional = NULL;
  g_autofree char *format = NULL;
  g_autoptr(GOptionContext) context = weft_cli_inspect_context (
    "FLOW", "Print a flow's task graph as Graphviz dot or Mermaid, or draw it as SVG or\n"
    "PNG with Graphviz's dot program.", &plugin_dirs);
  const GOptionEntry entries[] = {
    { "format", 'T', 0, G_OPTION_ARG_STRING, &format,
      "Output format: dot (the default), mermaid, svg or png", "FORMAT" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  g_autoptr(WeftFlow) flow = NULL;
  g_autofree char *text = NULL;
  int status;

  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status >= 0)
    return status;
  if (g_strv_length (positional) != 1)
    return weft_cli_usage_error ("graph", "expected one FLOW file");
  if (format != NULL && !g_strv_contains (weft_cli_graph_formats, format))
    return weft_cli_usage_error ("graph", "unknown format '%s' (known: dot, mermaid, svg, "
                                 "png)", format);
  engine = weft_cli_open_engine (0, plugin_dirs, &error);
  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  flow = weft_flow_load_file (engine, positional[0], &error);
  if (flow == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  text = weft_cli_graph_text (flow, format);
  if (g_strcmp0 (format, "svg") == 0 || g_strcmp0 (format, "png") == 0)
    return weft_cli_graph_draw (text, format, &error) ? WEFT_CLI_EXIT_OK
                                                      : weft_cli_fail (error, WEFT_CLI_EXIT_FAILED);
  weft_cli_put_text (stdout, text);
  return WEFT_CLI_EXIT_OK;
}

/* ---- plugins ------------------------------------------------------------ */

static const WeftPluginKind weft_cli_kinds[] = {
  WEFT_PLUGIN_AGENT, WEFT_PLUGIN_TOOL, WEFT_PLUGIN_CALLBACK,
};

static const char *
weft_cli_plugin_location (WeftPlugin *plugin)
{
  const char *path = weft_plugin_get_path (plugin);

  return path ? path : "built-in";
}

static const char *
weft_cli_or_dash (const char *text)
{
  return text && *text ? text : "-";
}

static char **
weft_cli_row (const char *first, ...) G_GNUC_NULL_TERMINATED;

static char **
weft_cli_row (const char *first, ...)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  va_list args;

  va_start (args, first);
  for (const char *cell = first; cell != NULL; cell = va_arg (args, const char *))
    g_strv_builder_add (builder, cell);
  va_end (args);
  return g_strv_builder_end (builder);
}

static void
weft_cli_list_plugins (WeftRegistry *registry)
{
  g_autoptr(GPtrArray) plugins = weft_registry_list (registry);
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  g_ptr_array_add (rows, weft_cli_row ("KIND", "NAME", "VERSION", "DESCRIPTION",
                                       "PATH", NULL));
  for (guint i = 0; i < plugins->len; i++)
    {
      const WeftPluginDescriptor *d = weft_plugin_get_descriptor (plugins->pdata[i]);

      g_ptr_array_add (rows, weft_cli_row (weft_plugin_kind_to_string (d->kind),
                                           d->name, weft_cli_or_dash (d->version),
                                           weft_cli_or_dash (d->description),
                                           weft_cli_plugin_location (plugins->pdata[i]),
                                           NULL));
    }
  weft_cli_print_table (stdout, "", rows);
}

static void
weft_cli_show_options (const WeftOption *options)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  if (options == NULL || options[0].name == NULL)
    {
      printf ("  (no options)\n");
      return;
    }
  g_ptr_array_add (rows, weft_cli_row ("OPTION", "TYPE", "REQUIRED", "DEFAULT",
                                       "DESCRIPTION", NULL));
  for (guint i = 0; options[i].name != NULL; i++)
    g_ptr_array_add (rows, weft_cli_row (options[i].name,
                                         weft_cli_option_type_to_string (options[i].type),
                                         options[i].required ? "yes" : "no",
                                         weft_cli_or_dash (options[i].default_json),
                                         weft_cli_or_dash (options[i].description),
                                         NULL));
  weft_cli_print_table (stdout, "  ", rows);
}

static void
weft_cli_show_plugin (WeftPlugin *plugin)
{
  const WeftPluginDescriptor *d = weft_plugin_get_descriptor (plugin);

  printf ("%s (%s) %s\n", d->name, weft_plugin_kind_to_string (d->kind),
          weft_cli_or_dash (d->version));
  if (d->description != NULL && *d->description != '\0')
    printf ("  %s\n", d->description);
  printf ("  from: %s\n\n", weft_cli_plugin_location (plugin));
  weft_cli_show_options (d->options);
}

/* "a, b, c": every plugin name once, in the registry's order. */
static char *
weft_cli_known_plugin_names (WeftRegistry *registry)
{
  g_autoptr(GPtrArray) plugins = weft_registry_list (registry);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint i = 0; i < plugins->len; i++)
    {
      const char *name = weft_plugin_get_descriptor (plugins->pdata[i])->name;

      if (!g_ptr_array_find_with_equal_func (names, name, g_str_equal, NULL))
        g_ptr_array_add (names, (gpointer) name);
    }
  g_ptr_array_add (names, NULL);
  return g_strjoinv (", ", (char **) names->pdata);
}

static int
weft_cli_describe_plugin (WeftRegistry *registry, const char *name)
{
  guint shown = 0;

  for (guint k = 0; k < G_N_ELEMENTS (weft_cli_kinds); k++)
    {
      WeftPlugin *plugin = weft_registry_lookup (registry, weft_cli_kinds[k], name);

      if (plugin == NULL)
        continue;
      if (shown++ > 0)
        printf ("\n");
      weft_cli_show_plugin (plugin);
    }
  if (shown == 0)
    {
      g_autofree char *known = weft_cli_known_plugin_names (registry);

      fprintf (stderr, "weft: no plugin named '%s' (known: %s)\n", name,
               *known ? known : "none");
      return WEFT_CLI_EXIT_USAGE;
    }
  return WEFT_CLI_EXIT_OK;
}

int
weft_cli_plugins_main (char **argv)
{
  g_auto(GStrv) plugin_dirs = NULL;
  g_auto(GStrv) positional = NULL;
  g_autoptr(GOptionContext) context = weft_cli_inspect_context (
    "[NAME]", "List the plugins found, or show one plugin's options.", &plugin_dirs);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  int status = weft_cli_parse_options (context, argv, &positional);

  if (status >= 0)
    return status;
  if (g_strv_length (positional) > 1)
    return weft_cli_usage_error ("plugins", "expected at most one plugin NAME");
  engine = weft_cli_open_engine (0, plugin_dirs, &error);
  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (positional[0] == NULL)
    {
      weft_cli_list_plugins (weft_engine_get_registry (engine));
      return WEFT_CLI_EXIT_OK;
    }
  return weft_cli_describe_plugin (weft_engine_get_registry (engine), positional[0]);
}
