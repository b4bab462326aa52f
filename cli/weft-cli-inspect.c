/* weft-cli-inspect.c — the commands that look without running:
 * `weft validate`, `weft graph` and `weft plugins`. */
#include "weft-cli.h"

#include <math.h>
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

/* What `weft plugins` prints fits in this many columns. */
#define WEFT_CLI_PLUGINS_WIDTH 100

/* Appends `text` word by word, breaking lines before `width` columns;
 * `column` is where the cursor already is, and each new line starts with
 * `indent` spaces.  A word longer than a line (a path) goes on whole. */
static void
weft_cli_wrap (GString *out, const char *text, guint column, guint indent, guint width)
{
  g_auto(GStrv) words = g_strsplit_set (text, " \n", -1);
  guint start = column;

  for (guint i = 0; words[i] != NULL; i++)
    {
      guint len = (guint) g_utf8_strlen (words[i], -1);
      if (len == 0)
        continue;
      if (column > start && column + 1 + len > width)
        {
          g_string_append_printf (out, "\n%*s", (int) indent, "");
          column = start = indent;
        }
      else if (column > start)
        {
          g_string_append_c (out, ' ');
          column++;
        }
      g_string_append (out, words[i]);
      column += len;
    }
  g_string_append_c (out, '\n');
}

/* Appends `text` and pads it to `width` characters. */
static void
weft_cli_cell (GString *out, const char *text, guint width)
{
  guint len = (guint) g_utf8_strlen (text, -1);

  g_string_append (out, text);
  for (; len < width + 2; len++)
    g_string_append_c (out, ' ');
}

/* One plugin a paragraph: kind, name and version, then its description
 * wrapped within the width, then the file it came from. */
static void
weft_cli_list_plugins (WeftRegistry *registry)
{
  g_autoptr(GPtrArray) plugins = weft_registry_list (registry);
  g_autoptr(GString) out = g_string_new (NULL);
  guint widths[3] = { strlen ("KIND"), strlen ("NAME"), strlen ("VERSION") };

  for (guint i = 0; i < plugins->len; i++)
    {
      const WeftPluginDescriptor *d = weft_plugin_get_descriptor (plugins->pdata[i]);

      widths[0] = MAX (widths[0], strlen (weft_plugin_kind_to_string (d->kind)));
      widths[1] = MAX (widths[1], (guint) g_utf8_strlen (d->name, -1));
      widths[2] = MAX (widths[2], (guint) g_utf8_strlen (weft_cli_or_dash (d->version), -1));
    }
  guint indent = widths[0] + widths[1] + widths[2] + 6;
  weft_cli_cell (out, "KIND", widths[0]);
  weft_cli_cell (out, "NAME", widths[1]);
  weft_cli_cell (out, "VERSION", widths[2]);
  g_string_append (out, "DESCRIPTION, FILE\n");
  for (guint i = 0; i < plugins->len; i++)
    {
      const WeftPluginDescriptor *d = weft_plugin_get_descriptor (plugins->pdata[i]);

      weft_cli_cell (out, weft_plugin_kind_to_string (d->kind), widths[0]);
      weft_cli_cell (out, d->name, widths[1]);
      weft_cli_cell (out, weft_cli_or_dash (d->version), widths[2]);
      weft_cli_wrap (out, weft_cli_or_dash (d->description), indent, indent,
                     WEFT_CLI_PLUGINS_WIDTH);
      g_string_append_printf (out, "%*s%s\n", (int) indent, "",
                              weft_cli_plugin_location (plugins->pdata[i]));
    }
  fputs (out->str, stdout);
}

/* A bound as the table means it: 0.001, 86400, 2147483647. */
static char *
weft_cli_format_bound (double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (value == floor (value) && fabs (value) < 0x1p63)
    return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) value);
  return g_strdup (g_ascii_formatd (buf, sizeof buf, "%g", value));
}

char *
weft_cli_option_range (const WeftOption *o)
{
  if ((o->type != WEFT_OPTION_INT && o->type != WEFT_OPTION_DOUBLE)
      || (o->min == 0 && o->max == 0) || (isinf (o->min) && isinf (o->max)))
    return NULL;
  g_autofree char *min = weft_cli_format_bound (o->min);
  g_autofree char *max = weft_cli_format_bound (o->max);
  if (isinf (o->max))
    return g_strdup_printf ("at least %s", min);
  if (isinf (o->min))
    return g_strdup_printf ("at most %s", max);
  return g_strdup_printf ("%s to %s", min, max);
}

/* "(int, 0 to 2147483647; default 0)", "(string, one of: text, jsonl;
 * default "text")", "(string list, not empty, required)". */
static char *
weft_cli_option_summary (const WeftOption *o)
{
  g_autoptr(GString) s = g_string_new ("(");
  g_autofree char *range = weft_cli_option_range (o);

  if (o->type == WEFT_OPTION_ENUM)
    {
      g_autofree char *choices = g_strjoinv (", ", (char **) o->choices);
      g_string_append_printf (s, "string, one of: %s", choices);
    }
  else
    g_string_append (s, weft_cli_option_type_to_string (o->type));
  if (o->flags & WEFT_OPTION_ANY_CASE)
    g_string_append (s, " (any case)");
  if (range != NULL)
    g_string_append_printf (s, ", %s", range);
  if (o->flags & WEFT_OPTION_NOT_EMPTY)
    g_string_append (s, ", not empty");
  if (o->required)
    g_string_append (s, ", required");
  else if (o->default_json != NULL)
    g_string_append_printf (s, "; default %s", o->default_json);
  g_string_append_c (s, ')');
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* Each option a paragraph: its name and what it takes, then its
 * description, so that long defaults and descriptions wrap within the
 * width rather than widen a table. */
static void
weft_cli_show_options (const WeftOption *options)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (options == NULL || options[0].name == NULL)
    {
      printf ("  (no options)\n");
      return;
    }
  g_string_append (out, "  Options:\n");
  for (guint i = 0; options[i].name != NULL; i++)
    {
      g_autofree char *summary = weft_cli_option_summary (&options[i]);
      guint column = 5 + (guint) g_utf8_strlen (options[i].name, -1);

      g_string_append_printf (out, "    %s ", options[i].name);
      weft_cli_wrap (out, summary, column, column, WEFT_CLI_PLUGINS_WIDTH);
      g_string_append (out, "        ");
      weft_cli_wrap (out, weft_cli_or_dash (options[i].description), 8, 8,
                     WEFT_CLI_PLUGINS_WIDTH);
    }
  fputs (out->str, stdout);
}

static void
weft_cli_show_plugin (WeftPlugin *plugin)
{
  const WeftPluginDescriptor *d = weft_plugin_get_descriptor (plugin);
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append_printf (out, "%s (%s) %s\n", d->name, weft_plugin_kind_to_string (d->kind),
                          weft_cli_or_dash (d->version));
  if (d->description != NULL && *d->description != '\0')
    {
      g_string_append (out, "  ");
      weft_cli_wrap (out, d->description, 2, 2, WEFT_CLI_PLUGINS_WIDTH);
    }
  g_string_append_printf (out, "  from: %s (plugin ABI %u.%u)\n\n",
                          weft_cli_plugin_location (plugin), d->abi_major, d->abi_minor);
  fputs (out->str, stdout);
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

      weft_cli_printerr ("weft: no plugin named '%s' (known: %s)", name,
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
  gboolean markdown = FALSE;
  const GOptionEntry entries[] = {
    { "markdown", 0, 0, G_OPTION_ARG_NONE, &markdown,
      "Every plugin's options as Markdown (what docs/plugins.md is made of)", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_option_context_add_main_entries (context, entries, NULL);
  int status = weft_cli_parse_options (context, argv, &positional);

  if (status >= 0)
    return status;
  if (g_strv_length (positional) > (markdown ? 0 : 1))
    return weft_cli_usage_error ("plugins", markdown ? "--markdown takes no plugin NAME"
                                                     : "expected at most one plugin NAME");
  engine = weft_cli_open_engine (0, plugin_dirs, &error);
  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (markdown && positional[0] == NULL)
    return weft_cli_plugins_markdown (weft_engine_get_registry (engine));
  if (positional[0] == NULL)
    {
      weft_cli_list_plugins (weft_engine_get_registry (engine));
      return WEFT_CLI_EXIT_OK;
    }
  return weft_cli_describe_plugin (weft_engine_get_registry (engine), positional[0]);
}
