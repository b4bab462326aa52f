/* weft-flow-templates.c — an agent's own templates, checked when the flow
 * loads rather than when a task runs.
 *
 * An agent option flagged WEFT_OPTION_TEMPLATE (the template agent's
 * "template") is filled per task by weft_task_render_template.  Once the
 * flow has compiled, what each task will have is known: the tasks it
 * receives, the flow's inputs.  So each such option is checked here, for
 * every task its agent does: its syntax and key names, each
 * {context.NAME} against the outputs that task receives, each
 * {input.NAME} against the inputs the flow takes (its descriptions' and
 * its defaults': any other is refused at kickoff).  The step runs after
 * the compile step (it reads the graph), before any instance is made; a
 * refusal names the agent's place, and the task when it is about one. */
#include "weft-flow-private.h"

#include <string.h>

/* One template option of one agent, and the keys it uses. */
typedef struct {
  const char *option;
  GPtrArray *keys;                /* char*, distinct, in order of use */
} WeftAgentTemplate;

static void
weft_agent_template_clear (gpointer data)
{
  g_ptr_array_unref (((WeftAgentTemplate *) data)->keys);
}

static WeftFlowPlace
weft_templates_place (WeftAgentInstance *a)
{
  return (WeftFlowPlace) { WEFT_PLACE_INSTANCE, WEFT_PLUGIN_AGENT, a->name, 0, NULL,
                           WEFT_PLACE_NO_ELEMENT };
}

/* ---- {input.NAME} ----------------------------------------------------------------- */

/* The flow takes an input its descriptions use or that it gives a
 * default: any other would be refused at kickoff, so {input.NAME} could
 * never be filled. */
static gboolean
weft_templates_check_input (WeftFlowLoad *l, WeftAgentInstance *a, const char *option,
                            const char *name)
{
  WeftFlow *flow = l->flow;
  WeftFlowPlace place = weft_templates_place (a);

  if (g_strv_contains ((const char * const *) flow->input_names, name)
      || (flow->default_inputs && json_object_has_member (flow->default_inputs, name)))
    return TRUE;
  g_autofree char *known = weft_flow_describe_inputs ((const char * const *) flow->input_names,
                                                      flow->default_inputs, name);
  return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                              "option \"%s\": {input.%s}: the flow takes no input \"%s\" (%s; %s)",
                              option, name, name, known,
                              l->source == WEFT_DESC_FROM_FILE
                              ? "give it a default in \"inputs\""
                              : "give it a default with weft_flow_builder_add_input");
}

/* ---- each agent -------------------------------------------------------------------- */

/* The template options of agent `a` into `templates`: well formed, of
 * known keys, of inputs the flow takes. */
static gboolean
weft_templates_of_agent (WeftFlowLoad *l, WeftAgentInstance *a, GArray *templates)
{
  WeftFlowPlace place = weft_templates_place (a);
  const char *option;
  const char *text;
  guint at = 0;

  while ((text = weft_config_next_template (a->config, &at, &option)) != NULL)
    {
      g_autoptr(GError) local = NULL;
      WeftAgentTemplate t = { option, g_ptr_array_new_with_free_func (g_free) };
      g_array_append_val (templates, t);
      if (!weft_template_collect_keys (text, t.keys, &local))
        return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "option \"%s\": %s", option,
                                    local->message);
      for (guint k = 0; k < t.keys->len; k++)
        {
          const char *name;
          WeftTaskKey key = weft_task_key_parse (t.keys->pdata[k], &name);
          if (key == WEFT_TASK_KEY_UNKNOWN)
            return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                                        "option \"%s\": unknown key {%s} (known: "
                                        WEFT_TASK_KEYS_KNOWN ")", option,
                                        (const char *) t.keys->pdata[k]);
          if (key == WEFT_TASK_KEY_INPUT && !weft_templates_check_input (l, a, option, name))
            return FALSE;
        }
    }
  return TRUE;
}

/* ---- {context.NAME} --------------------------------------------------------------- */

static const char *
weft_templates_task_name (gconstpointer data, guint i)
{
  return ((const WeftFlow *) data)->tasks[i].name;
}

static char *
weft_templates_received (WeftFlow *flow, const guint *receives, guint n)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint k = 0; k < n; k++)
    g_ptr_array_add (names, (gpointer) flow->tasks[receives[k]].name);
  return n ? weft_flow_join_names (names) : g_strdup ("none");
}

/* Why task i does not receive `name` (no such task, not in its context,
 * excluded), and what to do. */
static gboolean
weft_templates_not_received (WeftFlowLoad *l, guint i, WeftAgentInstance *a, const char *option,
                             const char *name, guint found, const guint *receives, guint n)
{
  WeftFlow *flow = l->flow;
  WeftFlowPlace place = weft_templates_place (a);
  const char *task = flow->tasks[i].name;
  g_autofree char *received = weft_templates_received (flow, receives, n);
  gboolean from_file = l->source == WEFT_DESC_FROM_FILE;

  if (found == WEFT_NO_TASK)
    {
      g_autofree const char **names = g_new (const char *, flow->n_tasks);
      for (guint k = 0; k < flow->n_tasks; k++)
        names[k] = flow->tasks[k].name;
      const char *like = weft_message_suggest (name, names, flow->n_tasks);
      g_autofree char *hint = like ? g_strdup_printf ("did you mean \"%s\"? ", like) : NULL;
      return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                                  "option \"%s\": {context.%s}: there is no task \"%s\" (%stask "
                                  "\"%s\" receives: %s)", option, name, name, hint ? hint : "",
                                  task, received);
    }
  if (flow->tasks[found].exclude)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                "option \"%s\": {context.%s}: task \"%s\" never receives the "
                                "output of \"%s\", which is excluded (%s)", option, name, task,
                                name, from_file ? "\"exclude\": true"
                                                : "weft_builder_task_set_exclude");
  return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                              "option \"%s\": {context.%s}: task \"%s\" does not receive the "
                              "output of \"%s\" (it receives: %s; %s)", option, name, task, name,
                              received, from_file ? "list it in the task's \"context\""
                                                  : "add it with weft_builder_task_add_context");
}

static gboolean
weft_templates_check_context (WeftFlowLoad *l, guint i, WeftAgentInstance *a, const char *option,
                              const char *name)
{
  WeftFlow *flow = l->flow;
  WeftTaskIndex index = { flow->index_slots, flow->index_mask };
  guint found = weft_task_index_lookup (&index, name, weft_templates_task_name, flow);
  const WeftFlowGraph *g = &flow->graph;
  const guint *receives = g->receives + g->receives_at[i];
  guint n = g->receives_at[i + 1] - g->receives_at[i];

  for (guint k = 0; found != WEFT_NO_TASK && k < n; k++)
    if (receives[k] == found)
      return TRUE;
  return weft_templates_not_received (l, i, a, option, name, found, receives, n);
}

/* ---- each task ---------------------------------------------------------------------- */

static gboolean
weft_templates_check_task (WeftFlowLoad *l, guint i, WeftAgentInstance *a, GArray *templates)
{
  for (guint t = 0; t < templates->len; t++)
    {
      WeftAgentTemplate *tmpl = &g_array_index (templates, WeftAgentTemplate, t);
      for (guint k = 0; k < tmpl->keys->len; k++)
        {
          const char *name;
          WeftTaskKey key = weft_task_key_parse (tmpl->keys->pdata[k], &name);
          if (key == WEFT_TASK_KEY_CONTEXT
              && !weft_templates_check_context (l, i, a, tmpl->option, name))
            return FALSE;
        }
    }
  return TRUE;
}

gboolean
weft_flow_check_templates (WeftFlowLoad *l)
{
  WeftFlow *flow = l->flow;
  guint n_agents = flow->agents->len;
  g_autofree GArray **templates = g_new0 (GArray *, n_agents);
  gboolean ok = TRUE;

  for (guint a = 0; ok && a < n_agents; a++)
    {
      templates[a] = g_array_new (FALSE, FALSE, sizeof (WeftAgentTemplate));
      g_array_set_clear_func (templates[a], weft_agent_template_clear);
      ok = weft_templates_of_agent (l, flow->agents->pdata[a], templates[a]);
    }
  for (guint i = 0; ok && i < flow->n_tasks; i++)
    {
      guint a = l->desc->tasks[i].agent.index;
      if (templates[a]->len > 0)
        ok = weft_templates_check_task (l, i, flow->agents->pdata[a], templates[a]);
    }
  for (guint a = 0; a < n_agents; a++)
    g_clear_pointer (&templates[a], g_array_unref);
  return ok;
}
