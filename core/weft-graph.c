/* weft-graph.c — a flow drawn as Graphviz dot or Mermaid. */
#include "weft-private.h"

/* Mermaid renders labels as HTML and reads "#…;" as an entity: a name's
 * own markup ("</x>"), ampersands, hashes and backticks are written as
 * entity codes, so that the name shows as written. */
static const char *
weft_mermaid_entity (char c)
{
  switch (c)
    {
    case '"': return "#quot;";
    case '<': return "#lt;";
    case '>': return "#gt;";
    case '&': return "#amp;";
    case '#': return "#35;";
    case '`': return "#96;";
    default: return NULL;
    }
}

static void
weft_append_quoted (GString *out, const char *text, gboolean mermaid)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p; p++)
    {
      const char *entity = mermaid ? weft_mermaid_entity (*p) : NULL;
      if (entity)
        g_string_append (out, entity);
      else if ((*p == '"' || *p == '\\') && !mermaid)
        {
          g_string_append_c (out, '\\');
          g_string_append_c (out, *p);
        }
      else if (*p == '\n')
        g_string_append (out, mermaid ? "<br/>" : "\\n");
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

char *
weft_flow_to_dot (WeftFlow *flow)
{
  GString *out = g_string_new ("digraph ");

  weft_append_quoted (out, weft_flow_get_name (flow), FALSE);
  g_string_append (out, " {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    {
      WeftFlowTask *t = weft_flow_get_task (flow, i);
      g_autofree char *label = g_strdup_printf ("%s\n(%s)", t->name, t->agent->name);
      g_string_append (out, "  ");
      weft_append_quoted (out, t->name, FALSE);
      g_string_append (out, " [label=");
      weft_append_quoted (out, label, FALSE);
      g_string_append (out, t->exclude ? ", style=\"rounded,dashed\"];\n" : "];\n");
    }
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    {
      guint n;
      const guint *deps = weft_flow_get_deps (flow, i, &n);
      for (guint k = 0; k < n; k++)
        {
          g_string_append (out, "  ");
          weft_append_quoted (out, weft_flow_get_task (flow, deps[k])->name, FALSE);
          g_string_append (out, " -> ");
          weft_append_quoted (out, weft_flow_get_task (flow, i)->name, FALSE);
          g_string_append (out, ";\n");
        }
    }
  g_string_append (out, "}\n");
  return g_string_free (out, FALSE);
}

char *
weft_flow_to_mermaid (WeftFlow *flow)
{
  GString *out = g_string_new ("flowchart LR\n");

  /* Mermaid ids must be plain words; task names need not be. */
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    {
      WeftFlowTask *t = weft_flow_get_task (flow, i);
      g_autofree char *label = g_strdup_printf ("%s\n%s", t->name, t->agent->name);
      g_string_append_printf (out, "  t%u[", i);
      weft_append_quoted (out, label, TRUE);
      g_string_append (out, "]\n");
    }
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    {
      guint n;
      const guint *deps = weft_flow_get_deps (flow, i, &n);
      for (guint k = 0; k < n; k++)
        g_string_append_printf (out, "  t%u --> t%u\n", deps[k], i);
    }
  return g_string_free (out, FALSE);
}
