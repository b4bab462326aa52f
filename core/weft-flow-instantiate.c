/* weft-flow-instantiate.c — a flow's plugin instances, made only once the
 * whole flow has validated and compiled: a flow refused for its last
 * task's typo has opened no database, started no callback thread and
 * created no file.
 *
 * Tools first (an agent may ask for them as it is made), then agents, then
 * callbacks, each in the order given; each callback instance gets its own
 * queue and dispatcher thread (weft-callbacks.c).  A callback some task
 * names is task-level: it hears only those tasks' events. */
#include "weft-flow-private.h"

static gboolean
weft_instantiate_one (WeftFlowLoad *l, WeftPluginKind kind, WeftPlugin *plugin,
                      WeftConfig *config, gpointer *instance)
{
  GError *local = NULL;

  *instance = weft_plugin_create (plugin, config, &local);
  if (*instance != NULL)
    return TRUE;
  WeftFlowPlace place = { WEFT_PLACE_INSTANCE, kind, weft_config_get_instance_name (config),
                          0, NULL, WEFT_PLACE_NO_ELEMENT };
  g_autofree char *what = g_strdup_printf ("plugin %s", plugin->desc->name);
  return weft_flow_load_propagate (l, local, &place, what);
}

/* The schema a model is shown for the tool: it must be a JSON object. */
static gboolean
weft_instantiate_schema (WeftFlowLoad *l, WeftToolInstance *t)
{
  const WeftToolClass *klass = t->plugin->desc->tool;
  g_autoptr(JsonNode) node = NULL;

  t->schema = klass->instance_schema ? klass->instance_schema (t->instance)
                                     : klass->arguments_schema;
  if (t->schema)
    node = json_from_string (t->schema, NULL);
  if (node && JSON_NODE_HOLDS_OBJECT (node))
    return TRUE;
  WeftFlowPlace place = { WEFT_PLACE_INSTANCE, WEFT_PLUGIN_TOOL, t->name, 0, NULL,
                          WEFT_PLACE_NO_ELEMENT };
  return weft_flow_load_fail (l, WEFT_ERROR_PLUGIN, &place,
                              "plugin %s: its arguments schema is not a JSON object",
                              t->plugin->desc->name);
}

static gboolean
weft_instantiate_callbacks (WeftFlowLoad *l)
{
  WeftFlow *flow = l->flow;

  for (guint i = 0; i < l->pending->len; i++)
    {
      WeftPendingCallback *p = l->pending->pdata[i];
      GError *local = NULL;
      p->instance = weft_callback_instance_new (p->plugin, g_steal_pointer (&p->config), &local);
      if (p->instance == NULL)
        {
          WeftFlowPlace place = { WEFT_PLACE_INSTANCE, WEFT_PLUGIN_CALLBACK, p->name, 0, NULL,
                                  WEFT_PLACE_NO_ELEMENT };
          return weft_flow_load_propagate (l, local, &place, NULL);
        }
      g_ptr_array_add (flow->callbacks, p->instance);
      if (!p->task_scoped)
        g_ptr_array_add (flow->flow_callbacks, p->instance);
    }
  /* Until now tasks named their callbacks by pending entry. */
  WeftFlowGraph *g = &flow->graph;
  if (g->callbacks_at == NULL)
    return TRUE;
  guint n = g->callbacks_at[flow->n_tasks];
  g->callbacks = g_new (WeftCallbackInstance *, n);
  for (guint k = 0; k < n; k++)
    g->callbacks[k] = ((WeftPendingCallback *) l->pending->pdata[l->callback_refs[k]])->instance;
  return TRUE;
}

gboolean
weft_flow_instantiate (WeftFlowLoad *l)
{
  WeftFlow *flow = l->flow;

  for (guint i = 0; i < flow->tools->len; i++)
    {
      WeftToolInstance *t = flow->tools->pdata[i];
      if (!weft_instantiate_one (l, WEFT_PLUGIN_TOOL, t->plugin, t->config, &t->instance)
          || !weft_instantiate_schema (l, t))
        return FALSE;
    }
  for (guint i = 0; i < flow->agents->len; i++)
    {
      WeftAgentInstance *a = flow->agents->pdata[i];
      if (!weft_instantiate_one (l, WEFT_PLUGIN_AGENT, a->plugin, a->config, &a->instance))
        return FALSE;
    }
  return weft_instantiate_callbacks (l);
}
