/* weft-flow.c — a flow's entry points, lifetime and accessors.
 *
 * Loading a file is: read it (weft-file.c), parse it into a description
 * (weft-flow-parse.c), validate, compile, instantiate (one file each; the
 * map is in weft-flow-private.h).  The text itself is kept as the flow's
 * source, which run.started hands to stores; the description is freed as
 * soon as the flow has compiled.  An agent-task flow (a background task:
 * one agent call) is compiled from a description made of its parent's
 * declarations, never by reading the parent's text again. */
#include "weft-flow-private.h"

#include <string.h>

/* ---- loading -------------------------------------------------------------------- */

WeftFlow *
weft_flow_new (WeftEngine *engine, const char *origin)
{
  WeftFlow *flow = g_new0 (WeftFlow, 1);

  flow->ref_count = 1;
  flow->engine = weft_engine_ref (engine);
  flow->origin = g_strdup (origin);
  flow->agents = g_ptr_array_new ();
  flow->tools = g_ptr_array_new ();
  flow->callbacks = g_ptr_array_new ();
  flow->flow_callbacks = g_ptr_array_new ();
  flow->callback_declarations = json_object_new ();
  g_mutex_init (&flow->lock);
  flow->agent_sources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_bytes_unref);
  return flow;
}

WeftFlow *
weft_flow_load_desc (WeftFlow *flow, WeftFlowDesc *desc, GError **error)
{
  WeftFlowLoad l;

  weft_flow_load_init (&l, desc, flow, error);
  gboolean ok = weft_flow_validate (&l)
                && weft_flow_compile (&l, (WeftAgentInstance *const *) flow->agents->pdata)
                && weft_flow_check_templates (&l);
  /* What the file or the builder said is all in the flow now. */
  g_clear_pointer (&l.desc, weft_flow_desc_free);
  ok = ok && weft_flow_instantiate (&l);
  weft_flow_load_clear (&l);
  if (ok)
    return flow;
  /* Messages quote the flow's own words: keys, names, values. */
  if (error)
    weft_message_tidy_error (*error);
  weft_flow_unref (flow);
  return NULL;
}

/* Takes `text` (`length` bytes and a NUL): it becomes the flow's source. */
static WeftFlow *
weft_flow_load_text (WeftEngine *engine, char *text, gsize length, const char *origin,
                     GError **error)
{
  g_autoptr(GBytes) source = g_bytes_new_take (text, length + 1);
  WeftFlowDesc *desc = weft_flow_desc_parse (text, length, origin, error);

  if (desc == NULL)
    return NULL;
  WeftFlow *flow = weft_flow_new (engine, origin);
  flow->source = g_steal_pointer (&source);
  return weft_flow_load_desc (flow, desc, error);
}

WeftFlow *
weft_flow_load_data (WeftEngine *engine, const char *data, gssize length, const char *origin,
                     GError **error)
{
  g_return_val_if_fail (engine != NULL && data != NULL, NULL);
  if (origin == NULL)
    origin = "<flow>";
  gsize size = length < 0 ? strlen (data) : (gsize) length;
  if (size > WEFT_FLOW_MAX_BYTES)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: %" G_GSIZE_FORMAT " bytes, larger than a flow may be (%d MiB)", origin,
                   size, WEFT_FLOW_MAX_BYTES / (1024 * 1024));
      return NULL;
    }
  char *text = g_malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  return weft_flow_load_text (engine, text, size, origin, error);
}

static gboolean
weft_flow_path_is_yaml (const char *path)
{
  return g_str_has_suffix (path, ".yaml") || g_str_has_suffix (path, ".yml");
}

WeftFlow *
weft_flow_load_file (WeftEngine *engine, const char *path, GError **error)
{
  gsize length = 0;
  char *text;

  g_return_val_if_fail (engine != NULL && path != NULL, NULL);
  text = weft_read_file (path, WEFT_FLOW_MAX_BYTES, &length, error);
  if (text == NULL)
    return NULL;
  if (weft_flow_path_is_yaml (path))
    {
      g_autofree char *yaml = text;
      /* The JSON of the same flow is what is parsed and kept. */
      text = weft_flow_yaml_to_json (yaml, length, path, &length, error);
      if (text == NULL)
        return NULL;
    }
  return weft_flow_load_text (engine, text, length, path, error);
}

/* ---- lifetime ------------------------------------------------------------------- */

WeftFlow *
weft_flow_ref (WeftFlow *flow)
{
  g_atomic_int_inc (&flow->ref_count);
  return flow;
}

static void
weft_flow_free_instances (WeftFlow *flow)
{
  for (guint i = 0; i < flow->agents->len; i++)
    {
      WeftAgentInstance *a = flow->agents->pdata[i];
      if (a->instance)
        a->plugin->desc->destroy (a->instance);
      weft_config_free (a->config);
      g_ptr_array_unref (a->tools);
      g_clear_pointer (&a->declaration, json_node_unref);
      g_free (a->name);
      g_free (a);
    }
  for (guint i = 0; i < flow->tools->len; i++)
    {
      WeftToolInstance *t = flow->tools->pdata[i];
      if (t->instance)
        t->plugin->desc->destroy (t->instance);
      weft_config_free (t->config);
      g_clear_pointer (&t->declaration, json_node_unref);
      g_free (t->description);
      g_free (t->name);
      g_free (t);
    }
}

static void
weft_flow_finalize (WeftFlow *flow)
{
  /* Callbacks first: every event already raised is delivered. */
  for (guint i = 0; i < flow->callbacks->len; i++)
    weft_callback_instance_close (flow->callbacks->pdata[i]);
  weft_flow_free_instances (flow);
  g_free (flow->tasks);
  g_free (flow->strings);
  g_free (flow->graph.block);
  g_free (flow->graph.callbacks_at);
  g_free (flow->graph.callbacks);
  g_free (flow->index_slots);
  g_free (flow->dep_names);
  g_ptr_array_unref (flow->agents);
  g_ptr_array_unref (flow->tools);
  g_ptr_array_unref (flow->callbacks);
  g_ptr_array_unref (flow->flow_callbacks);
  json_object_unref (flow->callback_declarations);
  g_strfreev (flow->input_names);
  g_clear_pointer (&flow->default_inputs, json_object_unref);
  g_clear_pointer (&flow->chat, weft_thread_config_free);
  g_free (flow->name);
  g_free (flow->origin);
  g_clear_pointer (&flow->source, g_bytes_unref);
  g_clear_pointer (&flow->parent, weft_flow_unref);
  g_hash_table_unref (flow->agent_sources);
  g_mutex_clear (&flow->lock);
  weft_engine_unref (flow->engine);
  g_free (flow);
}

static gpointer
weft_flow_finalize_thread (gpointer data)
{
  weft_flow_finalize (data);
  return NULL;
}

void
weft_flow_unref (WeftFlow *flow)
{
  if (flow == NULL || !g_atomic_int_dec_and_test (&flow->ref_count))
    return;
  /* Draining the callbacks, or destroying an instance, may need the
   * engine loop (a webhook's last requests): when the last reference of a
   * flow that owns instances goes on the loop itself, another thread does
   * it. */
  if (weft_engine_is_loop_thread (flow->engine)
      && (flow->callbacks->len > 0 || flow->agents->len > 0 || flow->tools->len > 0))
    g_thread_unref (g_thread_new ("weft-flow-free", weft_flow_finalize_thread, flow));
  else
    weft_flow_finalize (flow);
}

/* ---- the compiled graph ----------------------------------------------------------- */

WeftFlowTask *
weft_flow_get_task (WeftFlow *flow, guint i)
{
  return &flow->tasks[i];
}

const guint *
weft_flow_get_deps (WeftFlow *flow, guint task, guint *n)
{
  *n = flow->graph.deps_at[task + 1] - flow->graph.deps_at[task];
  return flow->graph.deps + flow->graph.deps_at[task];
}

const guint *
weft_flow_get_dependants (WeftFlow *flow, guint task, guint *n)
{
  *n = flow->graph.dependants_at[task + 1] - flow->graph.dependants_at[task];
  return flow->graph.dependants + flow->graph.dependants_at[task];
}

const guint *
weft_flow_get_receives (WeftFlow *flow, guint task, guint *n)
{
  *n = flow->graph.receives_at[task + 1] - flow->graph.receives_at[task];
  return flow->graph.receives + flow->graph.receives_at[task];
}

const guint *
weft_flow_get_roots (WeftFlow *flow, guint *n)
{
  *n = flow->graph.n_roots;
  return flow->graph.roots;
}

WeftCallbackInstance * const *
weft_flow_get_task_callbacks (WeftFlow *flow, guint task, guint *n)
{
  const WeftFlowGraph *g = &flow->graph;

  if (g->callbacks_at == NULL)
    {
      *n = 0;
      return NULL;
    }
  *n = g->callbacks_at[task + 1] - g->callbacks_at[task];
  return g->callbacks + g->callbacks_at[task];
}

static const char *
weft_flow_task_name_of (gconstpointer data, guint i)
{
  return ((const WeftFlow *) data)->tasks[i].name;
}

guint
weft_flow_lookup_task (WeftFlow *flow, const char *name)
{
  WeftTaskIndex index = { flow->index_slots, flow->index_mask };

  return weft_task_index_lookup (&index, name, weft_flow_task_name_of, flow);
}

char **
weft_flow_dup_downstream (WeftFlow *flow, const char *task)
{
  guint start = weft_flow_lookup_task (flow, task);

  if (start == WEFT_NO_TASK)
    return NULL;
  g_autofree gboolean *seen = g_new0 (gboolean, flow->n_tasks);
  g_autoptr(GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  seen[start] = TRUE;
  g_array_append_val (stack, start);
  while (stack->len > 0)
    {
      guint i = g_array_index (stack, guint, stack->len - 1);
      g_array_set_size (stack, stack->len - 1);
      g_strv_builder_add (names, flow->tasks[i].name);
      guint n;
      const guint *dependants = weft_flow_get_dependants (flow, i, &n);
      for (guint k = 0; k < n; k++)
        if (!seen[dependants[k]])
          {
            seen[dependants[k]] = TRUE;
            g_array_append_val (stack, dependants[k]);
          }
    }
  return g_strv_builder_end (names);
}

/* ---- accessors ------------------------------------------------------------------- */

WeftEngine *
weft_flow_get_engine (WeftFlow *flow)
{
  return flow->engine;
}

const char *
weft_flow_get_origin (WeftFlow *flow)
{
  return flow->origin;
}

GBytes *
weft_flow_get_source (WeftFlow *flow)
{
  return flow->source;
}

gboolean
weft_flow_is_sequential (WeftFlow *flow)
{
  return flow->sequential;
}

void
weft_flow_mark_kicked_off (WeftFlow *flow)
{
  g_atomic_int_set (&flow->kicked_off, 1);
}

WeftAgentInstance *
weft_flow_get_agent (WeftFlow *flow, guint i)
{
  g_return_val_if_fail (i < flow->agents->len, NULL);
  return flow->agents->pdata[i];
}

const WeftThreadConfig *
weft_flow_get_chat (WeftFlow *flow)
{
  return flow->chat;
}

WeftToolInstance *
weft_flow_get_tool (WeftFlow *flow, guint i)
{
  g_return_val_if_fail (i < flow->tools->len, NULL);
  return flow->tools->pdata[i];
}

WeftCallbackInstance * const *
weft_flow_get_callbacks (WeftFlow *flow, guint *n)
{
  *n = flow->callbacks->len;
  return (WeftCallbackInstance * const *) flow->callbacks->pdata;
}

WeftCallbackInstance * const *
weft_flow_get_flow_callbacks (WeftFlow *flow, guint *n)
{
  *n = flow->flow_callbacks->len;
  return (WeftCallbackInstance * const *) flow->flow_callbacks->pdata;
}

guint
weft_flow_get_n_instances (WeftFlow *flow, WeftPluginKind kind)
{
  switch (kind)
    {
    case WEFT_PLUGIN_AGENT: return flow->agents->len;
    case WEFT_PLUGIN_TOOL: return flow->tools->len;
    case WEFT_PLUGIN_CALLBACK: return flow->callbacks->len;
    default: return 0;
    }
}

const char *
weft_flow_get_name (WeftFlow *flow)
{
  return flow->name;
}

guint
weft_flow_get_n_tasks (WeftFlow *flow)
{
  return flow->n_tasks;
}

const char *
weft_flow_get_task_name (WeftFlow *flow, guint i)
{
  g_return_val_if_fail (i < flow->n_tasks, NULL);
  return flow->tasks[i].name;
}

const char *
weft_flow_get_task_agent (WeftFlow *flow, guint i)
{
  g_return_val_if_fail (i < flow->n_tasks, NULL);
  return flow->tasks[i].agent->name;
}

/* Every task's names in one array, each list ending with NULL: made on
 * first use, as only graphs and inspection ask. */
static const char **
weft_flow_make_dep_names (WeftFlow *flow)
{
  const WeftFlowGraph *g = &flow->graph;
  const char **names = g_new (const char *, g->deps_at[flow->n_tasks] + flow->n_tasks);
  const char **at = names;

  for (guint i = 0; i < flow->n_tasks; i++)
    {
      for (guint k = g->deps_at[i]; k < g->deps_at[i + 1]; k++)
        *at++ = flow->tasks[g->deps[k]].name;
      *at++ = NULL;
    }
  return names;
}

const char * const *
weft_flow_get_task_dependencies (WeftFlow *flow, guint i)
{
  g_return_val_if_fail (i < flow->n_tasks, NULL);
  g_mutex_lock (&flow->lock);
  if (flow->dep_names == NULL)
    flow->dep_names = weft_flow_make_dep_names (flow);
  g_mutex_unlock (&flow->lock);
  return flow->dep_names + flow->graph.deps_at[i] + i;
}

const char * const *
weft_flow_get_input_names (WeftFlow *flow)
{
  return (const char * const *) flow->input_names;
}

JsonObject *
weft_flow_get_default_inputs (WeftFlow *flow)
{
  return flow->default_inputs;
}

gboolean
weft_flow_add_callback (WeftFlow *flow, const char *plugin_name, JsonObject *options,
                        GError **error)
{
  WeftRegistry *registry = weft_engine_get_registry (flow->engine);
  WeftPlugin *plugin = weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK, plugin_name);

  if (g_atomic_int_get (&flow->kicked_off))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "callback \"%s\": callbacks must be added before the first kickoff",
                   plugin_name);
      return FALSE;
    }
  if (plugin == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "no callback plugin named \"%s\" is loaded (see `weft plugins`)",
                   plugin_name);
      return FALSE;
    }
  WeftConfig *config = weft_config_new (plugin->desc, plugin_name, options, NULL,
                                        NULL, NULL, error);
  if (config == NULL)
    return FALSE;
  WeftCallbackInstance *cb = weft_callback_instance_new (plugin, config, error);
  if (cb == NULL)
    return FALSE;
  g_ptr_array_add (flow->callbacks, cb);
  g_ptr_array_add (flow->flow_callbacks, cb);
  return TRUE;
}

/* ---- one agent call as a flow (background tasks) ------------------------------ */

static WeftAgentInstance *
weft_flow_find_agent (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < flow->agents->len; i++)
    if (g_str_equal (((WeftAgentInstance *) flow->agents->pdata[i])->name, name))
      return flow->agents->pdata[i];
  return NULL;
}

static WeftDescString
weft_flow_desc_add_text (WeftFlowDesc *desc, const char *text)
{
  return weft_flow_desc_add_string (desc, text, strlen (text));
}

/* The agent's declaration, its tools', the callbacks' and the inputs, as
 * the parent kept them, and one task that hands the agent its prompt. */
static WeftFlowDesc *
weft_flow_agent_task_desc (WeftFlow *parent, WeftAgentInstance *agent, const char *name)
{
  WeftFlowDesc *desc = weft_flow_desc_new (WEFT_DESC_FROM_BUILDER);
  g_autoptr(GList) callbacks = json_object_get_members (parent->callback_declarations);

  desc->name = weft_flow_desc_add_text (desc, name);
  for (guint i = 0; i < agent->tools->len; i++)
    {
      WeftToolInstance *t = agent->tools->pdata[i];
      weft_flow_desc_add_instance (desc, WEFT_PLUGIN_TOOL, weft_flow_desc_add_text (desc, t->name),
                                   json_node_ref (t->declaration));
    }
  weft_flow_desc_add_instance (desc, WEFT_PLUGIN_AGENT, weft_flow_desc_add_text (desc, agent->name),
                               json_node_ref (agent->declaration));
  for (GList *c = callbacks; c; c = c->next)
    weft_flow_desc_add_instance (desc, WEFT_PLUGIN_CALLBACK,
                                 weft_flow_desc_add_text (desc, c->data),
                                 json_node_ref (json_object_get_member (
                                   parent->callback_declarations, c->data)));
  if (parent->default_inputs)
    desc->inputs = json_object_ref (parent->default_inputs);

  WeftDescTask *t = weft_flow_desc_add_task (desc);
  t->name = t->agent.name = weft_flow_desc_add_text (desc, agent->name);
  t->description = weft_flow_desc_add_text (desc, "{prompt}");
  t->given = WEFT_DESC_NAME | WEFT_DESC_AGENT | WEFT_DESC_DESCRIPTION;
  t->templated = TRUE;
  desc->given = WEFT_DESC_NAME | WEFT_DESC_TASKS;
  return desc;
}

/* The flow file that runs the same call, made once per agent. */
static GBytes *
weft_flow_agent_task_source (WeftFlow *parent, WeftAgentInstance *agent, WeftFlowDesc *desc)
{
  g_mutex_lock (&parent->lock);
  GBytes *source = g_hash_table_lookup (parent->agent_sources, agent->name);
  if (source == NULL)
    {
      source = weft_flow_desc_to_json (desc);
      g_hash_table_insert (parent->agent_sources, g_strdup (agent->name), source);
    }
  g_mutex_unlock (&parent->lock);
  return g_bytes_ref (source);
}

WeftFlow *
weft_flow_new_agent_task (WeftFlow *parent, const char *agent_name, GError **error)
{
  WeftAgentInstance *agent = weft_flow_find_agent (parent, agent_name);

  if (agent == NULL)
    {
      g_autoptr(GPtrArray) names = g_ptr_array_new ();
      for (guint i = 0; i < parent->agents->len; i++)
        g_ptr_array_add (names, ((WeftAgentInstance *) parent->agents->pdata[i])->name);
      g_autofree char *known = names->len ? weft_flow_join_names (names) : g_strdup ("none declared");
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "flow \"%s\" has no agent \"%s\" (agents: %s)", parent->name, agent_name,
                   known);
      return NULL;
    }

  WeftFlow *flow = weft_flow_new (parent->engine, parent->origin);
  WeftFlowLoad l;
  flow->parent = weft_flow_ref (parent);
  flow->name = g_strdup_printf ("%s.%s", parent->name, agent_name);
  g_ptr_array_unref (flow->flow_callbacks);
  flow->flow_callbacks = g_ptr_array_ref (parent->flow_callbacks);
  flow->input_names = g_strdupv ((char *[]) { (char *) "prompt", NULL });
  /* The agent may use the flow's inputs ({input.NAME}): their defaults. */
  if (parent->default_inputs)
    flow->default_inputs = json_object_ref (parent->default_inputs);

  weft_flow_load_init (&l, weft_flow_agent_task_desc (parent, agent, flow->name), flow, error);
  flow->source = weft_flow_agent_task_source (parent, agent, l.desc);
  /* Its one task's agent is the parent's instance, borrowed; a task that
   * waits for nothing always compiles. */
  l.desc->tasks[0].agent.index = 0;
  weft_flow_compile (&l, &agent);
  weft_flow_load_clear (&l);
  return flow;
}
