/* weft-cli-plugins-md.c — `weft plugins --markdown`: every loaded plugin
 * and its options, from the options tables themselves, as Markdown.
 *
 * docs/plugins.md is this output for the plugins of a build tree: the
 * tables are the one place an option is declared (name, type, default,
 * range, choices, checks, description), so the page is made from them,
 * never written by hand, and `meson test plugins-doc` fails when the
 * committed page and the tables differ. */
#include "weft-cli.h"

#include <string.h>

static const WeftPluginKind weft_md_kinds[] = {
  WEFT_PLUGIN_AGENT, WEFT_PLUGIN_TOOL, WEFT_PLUGIN_CALLBACK,
};

/* Text in a table cell: '|' would end the cell, a newline the row. */
static void
weft_md_cell (GString *out, const char *text)
{
  for (const char *p = text ? text : ""; *p; p++)
    if (*p == '|')
      g_string_append (out, "\\|");
    else if (*p == '\n')
      g_string_append_c (out, ' ');
    else
      g_string_append_c (out, *p);
}

/* `code` in a cell; backquotes in it need a longer fence. */
static void
weft_md_code (GString *out, const char *text)
{
  const char *fence = strchr (text, '`') ? "`` " : "`";
  const char *close = strchr (text, '`') ? " ``" : "`";

  g_string_append (out, fence);
  weft_md_cell (out, text);
  g_string_append (out, close);
}

static const char *
weft_md_type (const WeftOption *o)
{
  return o->type == WEFT_OPTION_ENUM ? "string" : weft_cli_option_type_to_string (o->type);
}

/* What the row checks beyond its type, ", " between: a range, choices,
 * not empty, any case, required, a task template. */
static void
weft_md_checks (GString *out, const WeftOption *o)
{
  g_autofree char *range = weft_cli_option_range (o);
  guint n = 0;

  if (o->required)
    g_string_append_printf (out, "%srequired", n++ ? ", " : "");
  if (range != NULL)
    g_string_append_printf (out, "%s%s", n++ ? ", " : "", range);
  if (o->choices != NULL)
    {
      g_string_append_printf (out, "%sone of ", n++ ? ", " : "");
      for (guint i = 0; o->choices[i] != NULL; i++)
        {
          g_autofree char *quoted = g_strdup_printf ("\"%s\"", o->choices[i]);
          g_string_append (out, i ? ", " : "");
          weft_md_code (out, quoted);
        }
    }
  if (o->flags & WEFT_OPTION_ANY_CASE)
    g_string_append_printf (out, "%sany case", n++ ? ", " : "");
  if (o->flags & WEFT_OPTION_NOT_EMPTY)
    g_string_append_printf (out, "%snot empty", n++ ? ", " : "");
  if (o->flags & WEFT_OPTION_TEMPLATE)
    g_string_append_printf (out, "%s[task template](flow-format.md#agents-own-templates)",
                            n++ ? ", " : "");
  if (n == 0)
    g_string_append (out, "—");
}

static void
weft_md_options (GString *out, const WeftOption *options)
{
  if (options == NULL || options[0].name == NULL)
    {
      g_string_append (out, "No options.\n");
      return;
    }
  g_string_append (out, "| option | type | default | checks | meaning |\n"
                        "| --- | --- | --- | --- | --- |\n");
  for (const WeftOption *o = options; o->name != NULL; o++)
    {
      g_string_append (out, "| ");
      weft_md_code (out, o->name);
      g_string_append_printf (out, " | %s | ", weft_md_type (o));
      if (o->default_json != NULL)
        weft_md_code (out, o->default_json);
      else
        g_string_append (out, "—");
      g_string_append (out, " | ");
      weft_md_checks (out, o);
      g_string_append (out, " | ");
      weft_md_cell (out, o->description);
      g_string_append (out, " |\n");
    }
}

static gint
weft_md_by_name (gconstpointer a, gconstpointer b)
{
  const WeftPluginDescriptor *da = weft_plugin_get_descriptor (*(WeftPlugin **) a);
  const WeftPluginDescriptor *db = weft_plugin_get_descriptor (*(WeftPlugin **) b);

  return strcmp (da->name, db->name);
}

static void
weft_md_plugin (GString *out, WeftPlugin *plugin)
{
  const WeftPluginDescriptor *d = weft_plugin_get_descriptor (plugin);

  g_string_append_printf (out, "\n### %s `%s`\n\n", weft_plugin_kind_to_string (d->kind), d->name);
  weft_md_cell (out, d->description);
  g_string_append_printf (out, ".\n\nVersion %s%s%s.\n\n", d->version ? d->version : "-",
                          d->kind == WEFT_PLUGIN_AGENT
                          ? (d->agent->flags & WEFT_AGENT_ASYNC ? "; asynchronous: holds no "
                             "thread while it waits" : "; blocking: runs on a worker thread")
                          : "",
                          d->kind == WEFT_PLUGIN_CALLBACK && d->store != NULL
                          ? "; also a store: `weft runs` reads runs back from it" : "");
  weft_md_options (out, d->options);
}

int
weft_cli_plugins_markdown (WeftRegistry *registry)
{
  static const char *const sections[] = {
    [WEFT_PLUGIN_AGENT] = "Agents", [WEFT_PLUGIN_TOOL] = "Tools",
    [WEFT_PLUGIN_CALLBACK] = "Callbacks",
  };
  g_autoptr(GPtrArray) all = weft_registry_list (registry);
  g_autoptr(GString) out = g_string_new (
    "<!-- Made by `weft plugins --markdown` from the plugins' options tables: do not edit.\n"
    "     `meson test plugins-doc` fails when it is out of date; `ninja plugins-doc`\n"
    "     in the build directory writes it anew. -->\n"
    "# Plugins\n\n"
    "Every plugin weft ships, with every option its table declares: the name, the\n"
    "type a flow writes, the default, what is checked when the flow loads, and what\n"
    "it does. A flow gives an instance's options next to its `\"plugin\"`\n"
    "([flow-format.md](flow-format.md#plugin-instances-agents-tools-callbacks));\n"
    "an option it does not give takes the default; `${VAR}` in a string is read\n"
    "from the environment. `weft plugins NAME` prints the same for one plugin,\n"
    "including plugins of your own. How each agent passes a task's prompt and the\n"
    "outputs it receives to its model or command is in\n"
    "[flow-format.md](flow-format.md#how-each-agent-uses-what-it-receives).\n");

  for (guint k = 0; k < G_N_ELEMENTS (weft_md_kinds); k++)
    {
      g_autoptr(GPtrArray) plugins = g_ptr_array_new ();
      for (guint i = 0; i < all->len; i++)
        if (weft_plugin_get_descriptor (all->pdata[i])->kind == weft_md_kinds[k])
          g_ptr_array_add (plugins, all->pdata[i]);
      g_ptr_array_sort (plugins, weft_md_by_name);
      g_string_append_printf (out, "\n## %s\n", sections[weft_md_kinds[k]]);
      for (guint i = 0; i < plugins->len; i++)
        weft_md_plugin (out, plugins->pdata[i]);
    }
  fputs (out->str, stdout);
  return WEFT_CLI_EXIT_OK;
}
