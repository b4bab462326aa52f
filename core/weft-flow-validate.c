/* weft-flow-validate.c — every check of a flow's description, before any
 * plugin instance is made or any task starts.
 *
 * The checks run in one fixed order whatever the source (the flow's own
 * members, then tools, agents, callbacks, then every task's name, then
 * map_paths (weft-flow-paths.c), then each task's agent, texts, numbers,
 * context and callbacks), so that a file and the same flow built in code
 * are refused for the same first error.  Each refusal names its place (WeftFlowPlace: a JSON path for a
 * file, the builder call for a builder), and nothing about a place or a
 * reason is formatted unless a check fails.  What passes is resolved as
 * it goes: instance tables filled with their configs, task names indexed,
 * references turned into indices for the compile step. */
#include "weft-flow-private.h"

#include <string.h>

static const char *const weft_root_keys[] = {
  "name", "description", "process", "inputs", "agents", "tools", "callbacks", "tasks", "chat",
  "map_paths", NULL
};
static const char *const weft_task_keys[] = {
  "name", "agent", "description", "expected_output", "context", "async", "exclude",
  "retries", "retry_delay_ms", "timeout_s", "callbacks", NULL
};
static const char *const weft_agent_core_keys[] = { "plugin", "tools", NULL };
static const char *const weft_plugin_core_keys[] = { "plugin", NULL };
static const char *const weft_tool_core_keys[] = { "plugin", "description", NULL };

/* Names are shown in messages, paths, URLs and graphs: one short line. */
#define WEFT_NAME_MAX_BYTES 200

/* ---- places --------------------------------------------------------------------- */

static WeftFlowPlace
weft_place_root (const char *field)
{
  return (WeftFlowPlace) { WEFT_PLACE_ROOT, 0, NULL, 0, field, WEFT_PLACE_NO_ELEMENT };
}

static WeftFlowPlace
weft_place_section (WeftPluginKind kind, const char *name)
{
  return (WeftFlowPlace) { WEFT_PLACE_SECTION, kind, name, 0, NULL, WEFT_PLACE_NO_ELEMENT };
}

static WeftFlowPlace
weft_place_instance (WeftPluginKind kind, const char *name, const char *field)
{
  return (WeftFlowPlace) { WEFT_PLACE_INSTANCE, kind, name, 0, field, WEFT_PLACE_NO_ELEMENT };
}

static WeftFlowPlace
weft_place_task (guint i, const char *field, guint element)
{
  return (WeftFlowPlace) { WEFT_PLACE_TASK, 0, NULL, i, field, element };
}

static gboolean
weft_validate_from_file (WeftFlowLoad *l)
{
  return l->source == WEFT_DESC_FROM_FILE;
}

static gboolean
weft_validate_mistyped (WeftFlowLoad *l, WeftFlowPlace place, WeftOptionType type)
{
  return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "must be %s %s",
                              type == WEFT_OPTION_INT || type == WEFT_OPTION_OBJECT ? "an" : "a",
                              weft_option_type_to_string (type));
}

static gboolean
weft_validate_name (WeftFlowLoad *l, WeftFlowPlace place, const char *what, const char *name)
{
  g_autofree char *shown = NULL;

  if (*name == '\0')
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "%s must not be empty", what);
  gsize length = strlen (name);
  const char *control = name;
  while (*control && (guchar) *control >= 0x20 && *control != 0x7f)
    control++;
  if (length <= WEFT_NAME_MAX_BYTES && *control == '\0')
    return TRUE;
  shown = weft_message_quote (name, 40);
  if (length > WEFT_NAME_MAX_BYTES)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "%s %s is longer than %d bytes",
                                what, shown, WEFT_NAME_MAX_BYTES);
  return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                              "%s %s holds a control character (0x%02x)", what, shown,
                              (guchar) *control);
}

/* ---- the flow's own members ----------------------------------------------------- */

static gboolean
weft_validate_process (WeftFlowLoad *l)
{
  const char *process = weft_flow_desc_get_string (l->desc, l->desc->process);

  if (l->desc->mistyped & WEFT_DESC_PROCESS)
    return weft_validate_mistyped (l, weft_place_root ("process"), WEFT_OPTION_STRING);
  if (process && !g_str_equal (process, "graph") && !g_str_equal (process, "sequential"))
    {
      g_autofree char *shown = weft_message_quote (process, 40);
      WeftFlowPlace place = weft_place_root ("process");
      return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                  "must be \"graph\" or \"sequential\", not %s", shown);
    }
  l->flow->sequential = process && g_str_equal (process, "sequential");
  return TRUE;
}

static gboolean
weft_validate_root (WeftFlowLoad *l)
{
  WeftFlowDesc *desc = l->desc;
  WeftFlowPlace root = weft_place_root (NULL);
  const char *name = weft_flow_desc_get_string (desc, desc->name);

  if (desc->not_object)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &root, "a flow must be a JSON object");
  if (desc->unknown_key != WEFT_DESC_NONE)
    {
      g_autofree char *valid = g_strjoinv (", ", (char **) weft_root_keys);
      return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &root, "unknown key \"%s\" (valid: %s)",
                                  weft_flow_desc_get_string (desc, desc->unknown_key), valid);
    }
  if (desc->mistyped & WEFT_DESC_NAME)
    return weft_validate_mistyped (l, weft_place_root ("name"), WEFT_OPTION_STRING);
  if (name == NULL)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &root, "missing \"name\"");
  if (!weft_validate_name (l, weft_place_root ("name"), "a name", name)
      || !weft_validate_process (l))
    return FALSE;
  l->flow->name = g_strdup (name);
  if (desc->mistyped & WEFT_DESC_INPUTS)
    return weft_validate_mistyped (l, weft_place_root ("inputs"), WEFT_OPTION_OBJECT);
  if (desc->inputs)
    l->flow->default_inputs = json_object_ref (desc->inputs);
  if (desc->mistyped & WEFT_DESC_DESCRIPTION)
    return weft_validate_mistyped (l, weft_place_root ("description"), WEFT_OPTION_STRING);
  return TRUE;
}

/* ---- plugin instances ----------------------------------------------------------- */

/* The member `key` of an instance's declaration when it has `type`; NULL
 * with *ok == TRUE when absent and optional. */
static JsonNode *
weft_validate_member (WeftFlowLoad *l, JsonObject *obj, WeftFlowPlace place, const char *key,
                      WeftOptionType type, gboolean required, gboolean *ok)
{
  JsonNode *node = json_object_get_member (obj, key);

  *ok = TRUE;
  if (node == NULL)
    {
      if (required)
        *ok = weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "missing \"%s\"", key);
      return NULL;
    }
  if (!weft_option_node_matches (type, node))
    {
      place.field = key;
      *ok = weft_validate_mistyped (l, place, type);
      return NULL;
    }
  return node;
}

static WeftPlugin *
weft_validate_plugin (WeftFlowLoad *l, JsonObject *obj, WeftPluginKind kind, const char *name)
{
  WeftRegistry *registry = weft_engine_get_registry (l->flow->engine);
  WeftFlowPlace place = weft_place_instance (kind, name, NULL);
  gboolean ok;
  JsonNode *node = weft_validate_member (l, obj, place, "plugin", WEFT_OPTION_STRING, TRUE, &ok);

  if (node == NULL)
    return NULL;
  const char *plugin_name = json_node_get_string (node);
  WeftPlugin *plugin = weft_registry_lookup (registry, kind, plugin_name);
  if (plugin)
    return plugin;
  g_autoptr(GPtrArray) all = weft_registry_list (registry);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  for (guint i = 0; i < all->len; i++)
    if (((WeftPlugin *) all->pdata[i])->desc->kind == kind)
      g_ptr_array_add (names, (gpointer) ((WeftPlugin *) all->pdata[i])->desc->name);
  g_autofree char *known = weft_flow_join_names (names);
  place.field = "plugin";
  weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                       "unknown %s plugin \"%s\" (loaded: %s; see `weft plugins`)",
                       weft_plugin_kind_to_string (kind), plugin_name, *known ? known : "none");
  return NULL;
}

/* A file's options name their place in the config's messages; a
 * builder's are prefixed with the call. */
static WeftConfig *
weft_validate_config (WeftFlowLoad *l, WeftPlugin *plugin, WeftPluginKind kind, const char *name,
                      JsonObject *obj, const char *const *core_keys)
{
  WeftFlowPlace place = weft_place_instance (kind, name, NULL);
  g_autofree char *path = weft_validate_from_file (l) ? weft_flow_place_to_string (l, &place) : NULL;
  g_autoptr(GError) local = NULL;
  WeftConfig *config = weft_config_new (plugin->desc, name, obj, core_keys, l->origin, path,
                                        &local);

  if (config)
    return config;
  if (path)
    g_propagate_error (l->error, g_steal_pointer (&local));
  else
    weft_flow_load_propagate (l, g_steal_pointer (&local), &place, NULL);
  return NULL;
}

/* The plugin and the options of one instance; the instance itself is
 * made only once the whole flow has validated. */
static gboolean
weft_validate_instance (WeftFlowLoad *l, WeftPluginKind kind, const char *name, JsonNode *node,
                        const char *const *core_keys, WeftPlugin **plugin, WeftConfig **config)
{
  WeftFlowPlace place = weft_place_instance (kind, name, NULL);

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                "must be an object with a \"plugin\" and its options");
  JsonObject *obj = json_node_get_object (node);
  if ((*plugin = weft_validate_plugin (l, obj, kind, name)) == NULL)
    return FALSE;
  *config = weft_validate_config (l, *plugin, kind, name, obj, core_keys);
  return *config != NULL;
}

static gboolean
weft_validate_tool (WeftFlowLoad *l, const char *name, JsonNode *node)
{
  WeftToolInstance *t = g_new0 (WeftToolInstance, 1);
  gboolean ok;

  t->name = g_strdup (name);
  t->declaration = json_node_ref (node);
  g_ptr_array_add (l->flow->tools, t);
  if (!weft_validate_instance (l, WEFT_PLUGIN_TOOL, name, node, weft_tool_core_keys,
                               &t->plugin, &t->config))
    return FALSE;
  JsonNode *description = weft_validate_member (l, json_node_get_object (node),
                                                weft_place_instance (WEFT_PLUGIN_TOOL, name, NULL),
                                                "description", WEFT_OPTION_STRING, FALSE, &ok);
  t->description = g_strdup (description ? json_node_get_string (description)
                                         : t->plugin->desc->description);
  return ok;
}

static WeftToolInstance *
weft_validate_find_tool (WeftFlowLoad *l, const char *name)
{
  for (guint i = 0; i < l->flow->tools->len; i++)
    if (g_str_equal (((WeftToolInstance *) l->flow->tools->pdata[i])->name, name))
      return l->flow->tools->pdata[i];
  return NULL;
}

static gboolean
weft_validate_agent_tools (WeftFlowLoad *l, WeftAgentInstance *a, JsonObject *obj)
{
  WeftFlowPlace place = weft_place_instance (WEFT_PLUGIN_AGENT, a->name, NULL);
  gboolean ok;
  JsonNode *node = weft_validate_member (l, obj, place, "tools", WEFT_OPTION_STRING_LIST, FALSE,
                                         &ok);

  if (node == NULL)
    return ok;
  JsonArray *arr = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      const char *tool = json_array_get_string_element (arr, i);
      WeftToolInstance *t = weft_validate_find_tool (l, tool);
      if (t == NULL)
        {
          place.field = "tools";
          place.element = i;
          return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place, "unknown tool \"%s\" (%s)",
                                      tool, weft_validate_from_file (l)
                                            ? "declare it under \"tools\""
                                            : "add it with weft_flow_builder_add_tool");
        }
      g_ptr_array_add (a->tools, t);
    }
  return TRUE;
}

static gboolean
weft_validate_agent (WeftFlowLoad *l, const char *name, JsonNode *node)
{
  WeftAgentInstance *a = g_new0 (WeftAgentInstance, 1);

  a->name = g_strdup (name);
  a->tools = g_ptr_array_new ();
  a->declaration = json_node_ref (node);
  g_ptr_array_add (l->flow->agents, a);
  return weft_validate_instance (l, WEFT_PLUGIN_AGENT, name, node, weft_agent_core_keys,
                                 &a->plugin, &a->config)
      && weft_validate_agent_tools (l, a, json_node_get_object (node));
}

static gboolean
weft_validate_callback (WeftFlowLoad *l, const char *name, JsonNode *node)
{
  WeftPendingCallback *p = g_new0 (WeftPendingCallback, 1);

  p->name = g_strdup (name);
  g_ptr_array_add (l->pending, p);
  json_object_set_member (l->flow->callback_declarations, name, json_node_ref (node));
  return weft_validate_instance (l, WEFT_PLUGIN_CALLBACK, name, node, weft_plugin_core_keys,
                                 &p->plugin, &p->config);
}

/* A builder may add two instances of one name; a file cannot (the reader
 * refuses a key given twice). */
static gboolean
weft_validate_unique (WeftFlowLoad *l, WeftPluginKind kind, guint i)
{
  GArray *section = l->desc->sections[kind];
  WeftDescString name = g_array_index (section, WeftDescInstance, i).name;
  const char *text = weft_flow_desc_get_string (l->desc, name);

  for (guint k = 0; k < i; k++)
    if (g_str_equal (weft_flow_desc_get_string (l->desc,
                                                g_array_index (section, WeftDescInstance, k).name),
                     text))
      {
        WeftFlowPlace place = weft_place_instance (kind, text, NULL);
        return weft_flow_load_fail (l, WEFT_ERROR_DUPLICATE, &place,
                                    "duplicate %s name \"%s\" (each name may be given once)",
                                    weft_plugin_kind_to_string (kind), text);
      }
  return TRUE;
}

/* Each instance of a section, in the order given (so that errors,
 * instances and callbacks come in the order written). */
static gboolean
weft_validate_section (WeftFlowLoad *l, WeftPluginKind kind, WeftDescField field)
{
  GArray *section = l->desc->sections[kind];
  gboolean from_file = weft_validate_from_file (l);

  if (l->desc->mistyped & field)
    return weft_validate_mistyped (l, weft_place_section (kind, NULL), WEFT_OPTION_OBJECT);
  for (guint i = 0; i < section->len; i++)
    {
      WeftDescInstance *d = &g_array_index (section, WeftDescInstance, i);
      const char *name = weft_flow_desc_get_string (l->desc, d->name);
      gboolean ok = weft_validate_name (l, weft_place_section (kind, name),
                                        from_file ? "a key" : "a name", name)
                    && (from_file || weft_validate_unique (l, kind, i));
      if (ok && kind == WEFT_PLUGIN_TOOL)
        ok = weft_validate_tool (l, name, d->node);
      else if (ok && kind == WEFT_PLUGIN_AGENT)
        ok = weft_validate_agent (l, name, d->node);
      else if (ok)
        ok = weft_validate_callback (l, name, d->node);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

/* ---- tasks: names --------------------------------------------------------------- */

static const char *
weft_validate_desc_task_name (gconstpointer data, guint i)
{
  const WeftFlowDesc *desc = data;

  return weft_flow_desc_get_string (desc, desc->tasks[i].name);
}

static gboolean
weft_validate_task_name (WeftFlowLoad *l, guint i)
{
  WeftDescTask *t = &l->desc->tasks[i];
  WeftFlowPlace place = weft_place_task (i, NULL, WEFT_PLACE_NO_ELEMENT);
  const char *name = weft_flow_desc_get_string (l->desc, t->name);

  if (t->not_object)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "a task must be an object");
  if (t->unknown_key != WEFT_DESC_NONE)
    {
      g_autofree char *valid = g_strjoinv (", ", (char **) weft_task_keys);
      return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "unknown key \"%s\" (valid: %s)",
                                  weft_flow_desc_get_string (l->desc, t->unknown_key), valid);
    }
  if (t->mistyped & WEFT_DESC_NAME)
    return weft_validate_mistyped (l, weft_place_task (i, "name", WEFT_PLACE_NO_ELEMENT),
                                   WEFT_OPTION_STRING);
  if (name == NULL)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "missing \"name\"");
  if (!weft_validate_name (l, weft_place_task (i, "name", WEFT_PLACE_NO_ELEMENT), "a name",
                           name))
    return FALSE;
  guint first = weft_task_index_add (&l->index, i, weft_validate_desc_task_name, l->desc);
  if (first == WEFT_NO_TASK)
    return TRUE;
  WeftFlowPlace first_place = weft_place_task (first, NULL, WEFT_PLACE_NO_ELEMENT);
  g_autofree char *first_at = weft_validate_from_file (l)
                              ? weft_flow_place_to_string (l, &first_place)
                              : g_strdup_printf ("task %u", first);
  return weft_flow_load_fail (l, WEFT_ERROR_DUPLICATE, &place,
                              "duplicate task name \"%s\" (first at %s)", name, first_at);
}

/* ---- tasks: their members ------------------------------------------------------- */

/* A string member of task i: present unless `required`, of its type. */
static gboolean
weft_validate_task_string (WeftFlowLoad *l, guint i, WeftDescField field, const char *key,
                           WeftDescString s, gboolean required)
{
  WeftDescTask *t = &l->desc->tasks[i];

  if (t->mistyped & field)
    return weft_validate_mistyped (l, weft_place_task (i, key, WEFT_PLACE_NO_ELEMENT),
                                   WEFT_OPTION_STRING);
  if (required && s == WEFT_DESC_NONE)
    {
      WeftFlowPlace place = weft_place_task (i, NULL, WEFT_PLACE_NO_ELEMENT);
      return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "missing \"%s\"", key);
    }
  return TRUE;
}

static char *
weft_validate_agent_names (WeftFlowLoad *l)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint i = 0; i < l->flow->agents->len; i++)
    g_ptr_array_add (names, ((WeftAgentInstance *) l->flow->agents->pdata[i])->name);
  return names->len ? weft_flow_join_names (names) : g_strdup ("none declared");
}

static gboolean
weft_validate_task_agent (WeftFlowLoad *l, guint i, GHashTable *agents)
{
  WeftDescTask *t = &l->desc->tasks[i];

  if (!weft_validate_task_string (l, i, WEFT_DESC_AGENT, "agent", t->agent.name, TRUE))
    return FALSE;
  const char *agent = weft_flow_desc_get_string (l->desc, t->agent.name);
  guint found = GPOINTER_TO_UINT (g_hash_table_lookup (agents, agent));
  if (found == 0)
    {
      g_autofree char *known = weft_validate_agent_names (l);
      WeftFlowPlace place = weft_place_task (i, "agent", WEFT_PLACE_NO_ELEMENT);
      return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                                  "unknown agent \"%s\" (known: %s)", agent, known);
    }
  t->agent.index = found - 1;
  return TRUE;
}

/* Collects the inputs a text's placeholders name; any brace at all makes
 * the task templated (if only to fold "{{" into "{"). */
static gboolean
weft_validate_template (WeftFlowLoad *l, guint i, const char *key, WeftDescString s)
{
  const char *text = weft_flow_desc_get_string (l->desc, s);
  g_autoptr(GError) local = NULL;

  if (text == NULL || !weft_template_has_keys (text))
    return TRUE;
  l->desc->tasks[i].templated = TRUE;
  if (weft_template_collect_keys (text, l->input_names, &local))
    return TRUE;
  WeftFlowPlace place = weft_place_task (i, key, WEFT_PLACE_NO_ELEMENT);
  return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "%s", local->message);
}

static gboolean
weft_validate_task_texts (WeftFlowLoad *l, guint i)
{
  WeftDescTask *t = &l->desc->tasks[i];

  return weft_validate_task_string (l, i, WEFT_DESC_DESCRIPTION, "description", t->description,
                                    TRUE)
      && weft_validate_task_string (l, i, WEFT_DESC_EXPECTED_OUTPUT, "expected_output",
                                    t->expected_output, FALSE)
      && weft_validate_template (l, i, "description", t->description)
      && weft_validate_template (l, i, "expected_output", t->expected_output);
}

/* "async" is CrewAI's word for "do not wait for the tasks before this
 * one", which only the sequential process has: in a graph every task
 * already starts once its context is done, and a flow written with
 * CrewAI's habits would start its last task at once, without the outputs
 * it expects. */
static gboolean
weft_validate_async (WeftFlowLoad *l, guint i)
{
  WeftDescTask *t = &l->desc->tasks[i];
  WeftFlowPlace place = weft_place_task (i, "async", WEFT_PLACE_NO_ELEMENT);

  if (!(t->given & WEFT_DESC_ASYNC) || !t->async || l->flow->sequential)
    return TRUE;
  return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                              "only a \"sequential\" flow runs tasks async (a \"graph\" flow, the "
                              "default, starts each task once its context is done): %s",
                              weft_validate_from_file (l)
                              ? "set \"process\": \"sequential\", or drop \"async\""
                              : "make the builder with WEFT_PROCESS_SEQUENTIAL, or drop "
                                "weft_builder_task_set_async");
}

/* An integer member of task i, of its type and from 0 to `max`. */
static gboolean
weft_validate_task_uint (WeftFlowLoad *l, guint i, WeftDescField field, const char *key,
                         gint64 value, gint64 max)
{
  WeftDescTask *t = &l->desc->tasks[i];
  WeftFlowPlace place = weft_place_task (i, key, WEFT_PLACE_NO_ELEMENT);

  if (t->mistyped & field)
    return weft_validate_mistyped (l, place, WEFT_OPTION_INT);
  if ((t->given & field) && (value < 0 || value > max))
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place, "must be between 0 and %u",
                                (guint) max);
  return TRUE;
}

static gboolean
weft_validate_task_numbers (WeftFlowLoad *l, guint i)
{
  WeftDescTask *t = &l->desc->tasks[i];
  WeftFlowPlace timeout = weft_place_task (i, "timeout_s", WEFT_PLACE_NO_ELEMENT);

  if (!weft_validate_task_uint (l, i, WEFT_DESC_RETRIES, "retries", t->retries, 100)
      || !weft_validate_task_uint (l, i, WEFT_DESC_RETRY_DELAY, "retry_delay_ms",
                                   t->retry_delay_ms, 3600000))
    return FALSE;
  if (t->mistyped & WEFT_DESC_ASYNC)
    return weft_validate_mistyped (l, weft_place_task (i, "async", WEFT_PLACE_NO_ELEMENT),
                                   WEFT_OPTION_BOOL);
  if (!weft_validate_async (l, i))
    return FALSE;
  if (t->mistyped & WEFT_DESC_EXCLUDE)
    return weft_validate_mistyped (l, weft_place_task (i, "exclude", WEFT_PLACE_NO_ELEMENT),
                                   WEFT_OPTION_BOOL);
  if (t->mistyped & WEFT_DESC_TIMEOUT)
    return weft_validate_mistyped (l, timeout, WEFT_OPTION_DOUBLE);
  /* Timers tick in milliseconds: anything shorter would round to none. */
  if ((t->given & WEFT_DESC_TIMEOUT) && !(t->timeout_s >= 0.001 && t->timeout_s <= 7 * 24 * 3600))
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &timeout,
                                "must be more than 0 (at least 0.001) and at most a week (604800)");
  return TRUE;
}

static char *
weft_validate_task_names (WeftFlowLoad *l)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint i = 0; i < l->desc->n_tasks; i++)
    g_ptr_array_add (names, (gpointer) weft_validate_desc_task_name (l->desc, i));
  return weft_flow_join_names (names);
}

/* `listed` holds, per task, index + 1 of the last task whose context named
 * it: a mark per task, not a search, as a last task may name 100,000. */
static gboolean
weft_validate_task_context (WeftFlowLoad *l, guint i, guint *listed)
{
  WeftDescTask *t = &l->desc->tasks[i];

  if (t->mistyped & WEFT_DESC_CONTEXT)
    return weft_validate_mistyped (l, weft_place_task (i, "context", WEFT_PLACE_NO_ELEMENT),
                                   WEFT_OPTION_STRING_LIST);
  for (guint k = 0; k < t->n_context; k++)
    {
      WeftDescRef *ref = &l->desc->refs[t->context + k];
      const char *name = weft_flow_desc_get_string (l->desc, ref->name);
      guint found = weft_task_index_lookup (&l->index, name, weft_validate_desc_task_name,
                                            l->desc);
      if (found == WEFT_NO_TASK || listed[found] == i + 1)
        {
          WeftFlowPlace place = weft_place_task (i, "context", k);
          if (found != WEFT_NO_TASK)
            return weft_flow_load_fail (l, WEFT_ERROR_DUPLICATE, &place,
                                        "task \"%s\" is listed twice", name);
          g_autofree char *known = weft_validate_task_names (l);
          return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                                      "unknown task \"%s\" (known: %s)", name, known);
        }
      listed[found] = i + 1;
      ref->index = found;
    }
  return TRUE;
}

/* A callback a task names receives only that task's events: a store would
 * keep runs without their start or end, which `weft runs` shows as
 * interrupted and resume cannot finish. */
static gboolean
weft_validate_scoped_store (WeftFlowLoad *l, guint i, guint k, WeftPendingCallback *p)
{
  WeftFlowPlace place = weft_place_task (i, "callbacks", k);

  return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                              "callback \"%s\" (plugin %s) is a store, which must receive every "
                              "event of a run, not only some tasks': %s", p->name,
                              p->plugin->desc->name,
                              weft_validate_from_file (l)
                              ? "list it under the flow's \"callbacks\" and in no task's"
                              : "add it with weft_flow_builder_add_callback and name it in no "
                                "weft_builder_task_add_callback");
}

static gboolean
weft_validate_task_callbacks (WeftFlowLoad *l, guint i)
{
  WeftDescTask *t = &l->desc->tasks[i];

  if (t->mistyped & WEFT_DESC_CALLBACKS)
    return weft_validate_mistyped (l, weft_place_task (i, "callbacks", WEFT_PLACE_NO_ELEMENT),
                                   WEFT_OPTION_STRING_LIST);
  for (guint k = 0; k < t->n_callbacks; k++)
    {
      WeftDescRef *ref = &l->desc->refs[t->callbacks + k];
      const char *name = weft_flow_desc_get_string (l->desc, ref->name);
      guint found = 0;
      while (found < l->pending->len
             && !g_str_equal (((WeftPendingCallback *) l->pending->pdata[found])->name, name))
        found++;
      if (found == l->pending->len)
        {
          WeftFlowPlace place = weft_place_task (i, "callbacks", k);
          return weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place,
                                      "unknown callback \"%s\" (%s)", name,
                                      weft_validate_from_file (l)
                                      ? "declare it under \"callbacks\""
                                      : "add it with weft_flow_builder_add_callback");
        }
      WeftPendingCallback *p = l->pending->pdata[found];
      if (p->plugin->desc->store != NULL)
        return weft_validate_scoped_store (l, i, k, p);
      p->task_scoped = TRUE;
      ref->index = found;
    }
  return TRUE;
}

static GHashTable *
weft_validate_agent_index (WeftFlowLoad *l)
{
  GHashTable *agents = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < l->flow->agents->len; i++)
    g_hash_table_insert (agents, ((WeftAgentInstance *) l->flow->agents->pdata[i])->name,
                         GUINT_TO_POINTER (i + 1));
  return agents;
}

static gboolean
weft_validate_tasks (WeftFlowLoad *l)
{
  WeftFlowDesc *desc = l->desc;
  WeftFlowPlace tasks = { WEFT_PLACE_TASKS, 0, NULL, 0, NULL, WEFT_PLACE_NO_ELEMENT };

  if (!(desc->given & WEFT_DESC_TASKS))
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &tasks, "%s",
                                weft_validate_from_file (l) ? "missing: a flow needs tasks"
                                : "a flow needs tasks (add them with weft_flow_builder_add_task)");
  if ((desc->mistyped & WEFT_DESC_TASKS) || desc->n_tasks == 0)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &tasks,
                                "must be a non-empty array of tasks");
  weft_task_index_init (&l->index, desc->n_tasks);
  for (guint i = 0; i < desc->n_tasks; i++)
    if (!weft_validate_task_name (l, i))
      return FALSE;
  if (!weft_flow_validate_map_paths (l))
    return FALSE;

  g_autoptr(GHashTable) agents = weft_validate_agent_index (l);
  g_autofree guint *listed = g_new0 (guint, desc->n_tasks);
  for (guint i = 0; i < desc->n_tasks; i++)
    if (!weft_validate_task_agent (l, i, agents)
        || !weft_validate_task_texts (l, i)
        || !weft_validate_task_numbers (l, i)
        || !weft_validate_task_context (l, i, listed)
        || !weft_validate_task_callbacks (l, i))
      return FALSE;
  return TRUE;
}

/* "chat": a thread's settings (weft-thread-config.c), checked against the
 * flow's own agents, tools and name. */
static gboolean
weft_validate_chat (WeftFlowLoad *l)
{
  WeftFlowPlace place = weft_place_root ("chat");
  WeftThreadNames names;
  GError *local = NULL;

  if (l->desc->chat_mistyped)
    return weft_validate_mistyped (l, place, WEFT_OPTION_OBJECT);
  if (l->desc->chat == NULL)
    return TRUE;
  weft_flow_thread_names (l->flow, &names);
  l->flow->chat = weft_thread_config_parse (l->desc->chat, &names, &local);
  return l->flow->chat != NULL || weft_flow_load_propagate (l, local, &place, NULL);
}

gboolean
weft_flow_validate (WeftFlowLoad *l)
{
  if (!weft_validate_root (l)
      || !weft_validate_section (l, WEFT_PLUGIN_TOOL, WEFT_DESC_TOOLS)
      || !weft_validate_section (l, WEFT_PLUGIN_AGENT, WEFT_DESC_AGENTS)
      || !weft_validate_section (l, WEFT_PLUGIN_CALLBACK, WEFT_DESC_CALLBACKS)
      || !weft_validate_tasks (l)
      || !weft_validate_chat (l))
    return FALSE;
  g_ptr_array_add (l->input_names, NULL);
  l->flow->input_names = (char **) g_ptr_array_steal (l->input_names, NULL);
  return TRUE;
}
