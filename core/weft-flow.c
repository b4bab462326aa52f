/* weft-flow.c — reads a flow file, checks all of it, and compiles its graph.
 *
 * Every check runs before any plugin instance is made or any task starts,
 * and every refusal names the file, the JSON path and the reason. */
#include "weft-private.h"

#include <string.h>

typedef struct {
  WeftFlow *flow;
  const char *origin;
  GError **error;
  guint *listed;              /* per task: index + 1 of the last task whose context named it */
} WeftLoad;

static const char *const weft_root_keys[] = {
  "name", "description", "process", "inputs", "agents", "tools", "callbacks", "tasks", NULL
};
static const char *const weft_task_keys[] = {
  "name", "agent", "description", "expected_output", "context", "async", "exclude",
  "retries", "retry_delay_ms", "timeout_s", "callbacks", NULL
};
static const char *const weft_agent_core_keys[] = { "plugin", "tools", NULL };
static const char *const weft_plugin_core_keys[] = { "plugin", NULL };
static const char *const weft_tool_core_keys[] = { "plugin", "description", NULL };

static gboolean weft_load_fail (WeftLoad *l, gint code, const char *path, const char *format,
                                ...) G_GNUC_PRINTF (4, 5);

static gboolean
weft_load_fail (WeftLoad *l, gint code, const char *path, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (l->error, WEFT_ERROR, code, "%s: %s: %s", l->origin, path, reason);
  return FALSE;
}

static char *
weft_strv_join_ptr (GPtrArray *names)
{
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", (const char *) names->pdata[i]);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gboolean
weft_load_check_keys (WeftLoad *l, JsonObject *obj, const char *const *allowed, const char *path)
{
  /* In the file's order: the first unknown key written is the one named. */
  g_autoptr(GList) keys = json_object_get_members (obj);

  for (GList *k = keys; k; k = k->next)
    if (!g_strv_contains (allowed, k->data))
      {
        g_autofree char *valid = g_strjoinv (", ", (char **) allowed);
        return weft_load_fail (l, WEFT_ERROR_INVALID, path, "unknown key \"%s\" (valid: %s)",
                               (const char *) k->data, valid);
      }
  return TRUE;
}

/* The member `key` of `obj` when it has `type`; NULL with *ok == TRUE when
 * absent and optional. */
static JsonNode *
weft_load_member (WeftLoad *l, JsonObject *obj, const char *path, const char *key,
                  WeftOptionType type, gboolean required, gboolean *ok)
{
  JsonNode *node = json_object_get_member (obj, key);

  *ok = TRUE;
  if (node == NULL)
    {
      if (required)
        *ok = weft_load_fail (l, WEFT_ERROR_INVALID, path, "missing \"%s\"", key);
      return NULL;
    }
  if (!weft_option_node_matches (type, node))
    {
      g_autofree char *where = g_strdup_printf ("%s.%s", path, key);
      *ok = weft_load_fail (l, WEFT_ERROR_INVALID, where, "must be %s %s",
                            type == WEFT_OPTION_INT || type == WEFT_OPTION_OBJECT ? "an" : "a",
                            weft_option_type_to_string (type));
      return NULL;
    }
  return node;
}

static gboolean
weft_load_string (WeftLoad *l, JsonObject *obj, const char *path, const char *key,
                  gboolean required, char **out)
{
  gboolean ok;
  JsonNode *node = weft_load_member (l, obj, path, key, WEFT_OPTION_STRING, required, &ok);

  if (node)
    *out = g_strdup (json_node_get_string (node));
  return ok;
}

/* Names are shown in messages, paths, URLs and graphs: one short line. */
#define WEFT_NAME_MAX_BYTES 200

static gboolean
weft_load_check_name (WeftLoad *l, const char *path, const char *what, const char *name)
{
  g_autofree char *shown = weft_message_quote (name, 40);

  if (*name == '\0')
    return weft_load_fail (l, WEFT_ERROR_INVALID, path, "%s must not be empty", what);
  if (strlen (name) > WEFT_NAME_MAX_BYTES)
    return weft_load_fail (l, WEFT_ERROR_INVALID, path, "%s %s is longer than %d bytes", what,
                           shown, WEFT_NAME_MAX_BYTES);
  for (const char *p = name; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return weft_load_fail (l, WEFT_ERROR_INVALID, path,
                             "%s %s holds a control character (0x%02x)", what, shown,
                             (guchar) *p);
  return TRUE;
}

/* A required string member that names something. */
static gboolean
weft_load_name (WeftLoad *l, JsonObject *obj, const char *path, const char *key, char **out)
{
  g_autofree char *where = g_strdup_printf ("%s.%s", path, key);

  return weft_load_string (l, obj, path, key, TRUE, out)
         && weft_load_check_name (l, where, "a name", *out);
}

static gboolean
weft_load_bool (WeftLoad *l, JsonObject *obj, const char *path, const char *key, gboolean *out)
{
  gboolean ok;
  JsonNode *node = weft_load_member (l, obj, path, key, WEFT_OPTION_BOOL, FALSE, &ok);

  if (node)
    *out = json_node_get_boolean (node);
  return ok;
}

static gboolean
weft_load_uint (WeftLoad *l, JsonObject *obj, const char *path, const char *key,
                guint max, guint *out)
{
  gboolean ok;
  JsonNode *node = weft_load_member (l, obj, path, key, WEFT_OPTION_INT, FALSE, &ok);

  if (node == NULL)
    return ok;
  gint64 v = json_node_get_int (node);
  if (v < 0 || v > max)
    {
      g_autofree char *where = g_strdup_printf ("%s.%s", path, key);
      return weft_load_fail (l, WEFT_ERROR_INVALID, where, "must be between 0 and %u", max);
    }
  *out = (guint) v;
  return TRUE;
}

/* ---- plugin instances --------------------------------------------------- */

static WeftPlugin *
weft_load_plugin (WeftLoad *l, JsonObject *obj, const char *path, WeftPluginKind kind)
{
  g_autofree char *name = NULL;
  WeftRegistry *registry = weft_engine_get_registry (l->flow->engine);

  if (!weft_load_string (l, obj, path, "plugin", TRUE, &name))
    return NULL;
  WeftPlugin *plugin = weft_registry_lookup (registry, kind, name);
  if (plugin == NULL)
    {
      g_autoptr(GPtrArray) all = weft_registry_list (registry);
      g_autoptr(GPtrArray) names = g_ptr_array_new ();
      for (guint i = 0; i < all->len; i++)
        if (((WeftPlugin *) all->pdata[i])->desc->kind == kind)
          g_ptr_array_add (names, (gpointer) ((WeftPlugin *) all->pdata[i])->desc->name);
      g_autofree char *known = weft_strv_join_ptr (names);
      g_autofree char *where = g_strdup_printf ("%s.plugin", path);
      weft_load_fail (l, WEFT_ERROR_NOT_FOUND, where,
                      "unknown %s plugin \"%s\" (loaded: %s; see `weft plugins`)",
                      weft_plugin_kind_to_string (kind), name, *known ? known : "none");
    }
  return plugin;
}

/* Checks one instance's plugin and options; the instance itself is made
 * only once the whole flow has validated. */
static gboolean
weft_load_instance (WeftLoad *l, const char *section, const char *name, JsonNode *node,
                    WeftPluginKind kind, const char *const *core_keys,
                    WeftPlugin **plugin, WeftConfig **config)
{
  g_autofree char *path = g_strdup_printf ("$.%s.%s", section, name);

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return weft_load_fail (l, WEFT_ERROR_INVALID, path,
                           "must be an object with a \"plugin\" and its options");
  JsonObject *obj = json_node_get_object (node);
  if ((*plugin = weft_load_plugin (l, obj, path, kind)) == NULL)
    return FALSE;
  *config = weft_config_new ((*plugin)->desc, name, obj, core_keys, l->origin, path, l->error);
  return *config != NULL;
}

/* One instance of a section ("tools", "agents", "callbacks") by name. */
typedef gboolean (*WeftLoadMember) (WeftLoad *l, const char *name, JsonNode *node,
                                    gpointer data);

/* Calls `load` for each member of section `section`, in the file's order
 * (so that errors, instances and callbacks come in the order written). */
static gboolean
weft_load_section (WeftLoad *l, JsonObject *root, const char *section, WeftLoadMember load,
                   gpointer data)
{
  gboolean ok;
  JsonNode *node = weft_load_member (l, root, "$", section, WEFT_OPTION_OBJECT, FALSE, &ok);

  if (node == NULL)
    return ok;
  JsonObject *obj = json_node_get_object (node);
  g_autoptr(GList) names = json_object_get_members (obj);
  g_autofree char *path = g_strdup_printf ("$.%s", section);
  for (GList *n = names; n; n = n->next)
    if (!weft_load_check_name (l, path, "a key", n->data)
        || !load (l, n->data, json_object_get_member (obj, n->data), data))
      return FALSE;
  return TRUE;
}

static gboolean
weft_load_tool (WeftLoad *l, const char *name, JsonNode *node, gpointer data)
{
  WeftToolInstance *t = g_new0 (WeftToolInstance, 1);
  g_autofree char *path = g_strdup_printf ("$.tools.%s", name);

  t->name = g_strdup (name);
  g_ptr_array_add (l->flow->tools, t);
  if (!weft_load_instance (l, "tools", name, node, WEFT_PLUGIN_TOOL,
                           weft_tool_core_keys, &t->plugin, &t->config)
      || !weft_load_string (l, json_node_get_object (node), path, "description", FALSE,
                            &t->description))
    return FALSE;
  if (t->description == NULL)
    t->description = g_strdup (t->plugin->desc->description);
  return TRUE;
}

static WeftToolInstance *
weft_flow_find_tool (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < flow->tools->len; i++)
    if (g_str_equal (((WeftToolInstance *) flow->tools->pdata[i])->name, name))
      return flow->tools->pdata[i];
  return NULL;
}

static gboolean
weft_load_agent_tools (WeftLoad *l, WeftAgentInstance *a, JsonObject *obj)
{
  g_autofree char *path = g_strdup_printf ("$.agents.%s", a->name);
  gboolean ok;
  JsonNode *node = weft_load_member (l, obj, path, "tools", WEFT_OPTION_STRING_LIST, FALSE, &ok);

  if (node == NULL)
    return ok;
  JsonArray *arr = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      const char *tool = json_array_get_string_element (arr, i);
      WeftToolInstance *t = weft_flow_find_tool (l->flow, tool);
      if (t == NULL)
        {
          g_autofree char *where = g_strdup_printf ("%s.tools[%u]", path, i);
          return weft_load_fail (l, WEFT_ERROR_NOT_FOUND, where,
                                 "unknown tool \"%s\" (declare it under \"tools\")", tool);
        }
      g_ptr_array_add (a->tools, t);
    }
  return TRUE;
}

static gboolean
weft_load_agent (WeftLoad *l, const char *name, JsonNode *node, gpointer data)
{
  WeftAgentInstance *a = g_new0 (WeftAgentInstance, 1);

  a->name = g_strdup (name);
  a->tools = g_ptr_array_new ();
  g_ptr_array_add (l->flow->agents, a);
  return weft_load_instance (l, "agents", name, node, WEFT_PLUGIN_AGENT,
                             weft_agent_core_keys, &a->plugin, &a->config)
      && weft_load_agent_tools (l, a, json_node_get_object (node));
}

typedef struct {
  char *name;
  WeftPlugin *plugin;
  WeftConfig *config;
  WeftCallbackInstance *instance;
  gboolean task_scoped;
} WeftPendingCallback;

static void
weft_pending_callback_free (WeftPendingCallback *p)
{
  g_free (p->name);
  weft_config_free (p->config);
  g_free (p);
}

static gboolean
weft_load_callback (WeftLoad *l, const char *name, JsonNode *node, gpointer data)
{
  WeftPendingCallback *p = g_new0 (WeftPendingCallback, 1);

  p->name = g_strdup (name);
  g_ptr_array_add (data, p);
  return weft_load_instance (l, "callbacks", name, node, WEFT_PLUGIN_CALLBACK,
                             weft_plugin_core_keys, &p->plugin, &p->config);
}

/* ---- tasks -------------------------------------------------------------- */

static WeftAgentInstance *
weft_flow_find_agent (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < flow->agents->len; i++)
    if (g_str_equal (((WeftAgentInstance *) flow->agents->pdata[i])->name, name))
      return flow->agents->pdata[i];
  return NULL;
}

static char *
weft_flow_agent_names (WeftFlow *flow)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint i = 0; i < flow->agents->len; i++)
    g_ptr_array_add (names, ((WeftAgentInstance *) flow->agents->pdata[i])->name);
  return names->len ? weft_strv_join_ptr (names) : g_strdup ("none declared");
}

static gboolean
weft_load_task_agent (WeftLoad *l, WeftFlowTask *t, JsonObject *obj, const char *path)
{
  g_autofree char *agent = NULL;

  if (!weft_load_string (l, obj, path, "agent", TRUE, &agent))
    return FALSE;
  t->agent = weft_flow_find_agent (l->flow, agent);
  if (t->agent == NULL)
    {
      g_autofree char *known = weft_flow_agent_names (l->flow);
      g_autofree char *where = g_strdup_printf ("%s.agent", path);
      return weft_load_fail (l, WEFT_ERROR_NOT_FOUND, where,
                             "unknown agent \"%s\" (known: %s)", agent, known);
    }
  return TRUE;
}

static gboolean
weft_load_task_templates (WeftLoad *l, WeftFlowTask *t, JsonObject *obj, const char *path,
                          GPtrArray *input_names)
{
  g_autoptr(GError) local = NULL;

  if (!weft_load_string (l, obj, path, "description", TRUE, &t->description)
      || !weft_load_string (l, obj, path, "expected_output", FALSE, &t->expected_output))
    return FALSE;

  const char *fields[] = { "description", "expected_output" };
  const char *texts[] = { t->description, t->expected_output };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (texts[i] && !weft_template_collect_keys (texts[i], input_names, &local))
      {
        g_autofree char *where = g_strdup_printf ("%s.%s", path, fields[i]);
        return weft_load_fail (l, WEFT_ERROR_INVALID, where, "%s", local->message);
      }

  t->templated = weft_template_has_keys (t->description)
              || (t->expected_output && weft_template_has_keys (t->expected_output));
  if (!t->templated)
    t->static_prompt = t->expected_output
      ? g_strdup_printf ("%s\n\nExpected output: %s", t->description, t->expected_output)
      : g_strdup (t->description);
  return TRUE;
}

static gboolean
weft_load_task_numbers (WeftLoad *l, WeftFlowTask *t, JsonObject *obj, const char *path)
{
  gboolean ok;

  t->retry_delay_ms = 500;
  if (!weft_load_uint (l, obj, path, "retries", 100, &t->retries)
      || !weft_load_uint (l, obj, path, "retry_delay_ms", 3600000, &t->retry_delay_ms)
      || !weft_load_bool (l, obj, path, "async", &t->async)
      || !weft_load_bool (l, obj, path, "exclude", &t->exclude))
    return FALSE;

  JsonNode *timeout = weft_load_member (l, obj, path, "timeout_s", WEFT_OPTION_DOUBLE, FALSE, &ok);
  if (timeout)
    {
      double s = json_node_get_double (timeout);
      /* Timers tick in milliseconds: anything shorter would round to none. */
      if (!(s >= 0.001 && s <= 7 * 24 * 3600))
        {
          g_autofree char *where = g_strdup_printf ("%s.timeout_s", path);
          return weft_load_fail (l, WEFT_ERROR_INVALID, where,
                                 "must be more than 0 (at least 0.001) and at most a week (604800)");
        }
      t->timeout_us = (gint64) (s * G_USEC_PER_SEC);
    }
  return ok;
}

static gboolean
weft_load_task_callbacks (WeftLoad *l, WeftFlowTask *t, JsonObject *obj, const char *path,
                          GPtrArray *pending)
{
  gboolean ok;
  JsonNode *node = weft_load_member (l, obj, path, "callbacks", WEFT_OPTION_STRING_LIST, FALSE, &ok);

  if (node == NULL)
    return ok;
  JsonArray *arr = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      const char *name = json_array_get_string_element (arr, i);
      WeftPendingCallback *found = NULL;
      for (guint k = 0; k < pending->len && !found; k++)
        if (g_str_equal (((WeftPendingCallback *) pending->pdata[k])->name, name))
          found = pending->pdata[k];
      if (found == NULL)
        {
          g_autofree char *where = g_strdup_printf ("%s.callbacks[%u]", path, i);
          return weft_load_fail (l, WEFT_ERROR_NOT_FOUND, where,
                                 "unknown callback \"%s\" (declare it under \"callbacks\")", name);
        }
      found->task_scoped = TRUE;
      /* Resolved to the instance once it exists; keep the pending entry. */
      g_ptr_array_add (t->callbacks, found);
    }
  return TRUE;
}

static gboolean
weft_load_task_names (WeftLoad *l, JsonArray *tasks)
{
  WeftFlow *flow = l->flow;

  for (guint i = 0; i < flow->n_tasks; i++)
    {
      g_autofree char *path = g_strdup_printf ("$.tasks[%u]", i);
      JsonNode *node = json_array_get_element (tasks, i);
      if (!JSON_NODE_HOLDS_OBJECT (node))
        return weft_load_fail (l, WEFT_ERROR_INVALID, path, "a task must be an object");
      if (!weft_load_check_keys (l, json_node_get_object (node), weft_task_keys, path)
          || !weft_load_name (l, json_node_get_object (node), path, "name",
                              &flow->tasks[i].name))
        return FALSE;
      gpointer first = g_hash_table_lookup (flow->task_index, flow->tasks[i].name);
      if (first)
        return weft_load_fail (l, WEFT_ERROR_DUPLICATE, path,
                               "duplicate task name \"%s\" (first at $.tasks[%u])",
                               flow->tasks[i].name, GPOINTER_TO_UINT (first) - 1);
      g_hash_table_insert (flow->task_index, flow->tasks[i].name, GUINT_TO_POINTER (i + 1));
    }
  return TRUE;
}

static char *
weft_flow_task_names (WeftFlow *flow)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint i = 0; i < flow->n_tasks; i++)
    g_ptr_array_add (names, flow->tasks[i].name);
  return weft_strv_join_ptr (names);
}

/* `context` becomes `receives` for now; dependencies are derived later. */
static gboolean
weft_load_task_context (WeftLoad *l, WeftFlowTask *t, JsonObject *obj, const char *path,
                        gboolean *has_context)
{
  gboolean ok;
  JsonNode *node = weft_load_member (l, obj, path, "context", WEFT_OPTION_STRING_LIST, FALSE, &ok);

  *has_context = node != NULL;
  if (node == NULL)
    return ok;
  JsonArray *arr = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    {
      const char *name = json_array_get_string_element (arr, i);
      guint idx = GPOINTER_TO_UINT (g_hash_table_lookup (l->flow->task_index, name));
      if (idx == 0 || l->listed[idx - 1] == t->index + 1)
        {
          g_autofree char *where = g_strdup_printf ("%s.context[%u]", path, i);
          g_autofree char *known = weft_flow_task_names (l->flow);
          if (idx != 0)
            return weft_load_fail (l, WEFT_ERROR_DUPLICATE, where,
                                   "task \"%s\" is listed twice", name);
          return weft_load_fail (l, WEFT_ERROR_NOT_FOUND, where,
                                 "unknown task \"%s\" (known: %s)", name, known);
        }
      /* A mark per task, not a search: a final task may name 100,000. */
      l->listed[--idx] = t->index + 1;
      g_array_append_val (t->receives, idx);
    }
  return TRUE;
}

static gboolean
weft_load_tasks (WeftLoad *l, JsonObject *root, GPtrArray *pending, GPtrArray *input_names,
                 gboolean *has_context)
{
  WeftFlow *flow = l->flow;
  JsonNode *node = json_object_get_member (root, "tasks");

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) == 0)
    return weft_load_fail (l, WEFT_ERROR_INVALID, "$.tasks",
                           node ? "must be a non-empty array of tasks" : "missing: a flow needs tasks");
  JsonArray *tasks = json_node_get_array (node);
  flow->n_tasks = json_array_get_length (tasks);
  flow->tasks = g_new0 (WeftFlowTask, flow->n_tasks);
  l->listed = g_new0 (guint, flow->n_tasks);
  for (guint i = 0; i < flow->n_tasks; i++)
    {
      flow->tasks[i].index = i;
      flow->tasks[i].deps = g_array_new (FALSE, FALSE, sizeof (guint));
      flow->tasks[i].dependants = g_array_new (FALSE, FALSE, sizeof (guint));
      flow->tasks[i].receives = g_array_new (FALSE, FALSE, sizeof (guint));
      flow->tasks[i].callbacks = g_ptr_array_new ();
    }
  if (!weft_load_task_names (l, tasks))
    return FALSE;

  for (guint i = 0; i < flow->n_tasks; i++)
    {
      g_autofree char *path = g_strdup_printf ("$.tasks[%u]", i);
      JsonObject *obj = json_array_get_object_element (tasks, i);
      WeftFlowTask *t = &flow->tasks[i];
      if (!weft_load_task_agent (l, t, obj, path)
          || !weft_load_task_templates (l, t, obj, path, input_names)
          || !weft_load_task_numbers (l, t, obj, path)
          || !weft_load_task_context (l, t, obj, path, &has_context[i])
          || !weft_load_task_callbacks (l, t, obj, path, pending))
        return FALSE;
    }
  return TRUE;
}

/* ---- dependencies ------------------------------------------------------- */

/* Adds `v` to task `task`'s dependencies unless there already; `added`
 * holds, per task, index + 1 of the last task that added it. */
static void
weft_deps_add (WeftFlowTask *t, guint v, guint *added)
{
  if (added[v] == t->index + 1)
    return;
  added[v] = t->index + 1;
  g_array_append_val (t->deps, v);
}

/* CrewAI's sequential process: a task waits for everything before it, an
 * async task only for the last non-async one before it.  Waiting for the
 * last non-async task and the async ones since covers everything earlier,
 * and that is also what a task without context receives. */
static void
weft_flow_derive_sequential (WeftFlow *flow, const gboolean *has_context)
{
  g_autoptr(GArray) since = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GArray) waited = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autofree guint *added = g_new0 (guint, flow->n_tasks);
  gint last_sync = -1;

  for (guint i = 0; i < flow->n_tasks; i++)
    {
      WeftFlowTask *t = &flow->tasks[i];
      g_array_set_size (waited, 0);
      if (last_sync >= 0)
        {
          guint s = (guint) last_sync;
          g_array_append_val (waited, s);
        }
      if (!t->async)
        g_array_append_vals (waited, since->data, since->len);

      for (guint k = 0; k < waited->len; k++)
        weft_deps_add (t, g_array_index (waited, guint, k), added);
      for (guint k = 0; k < t->receives->len; k++)
        weft_deps_add (t, g_array_index (t->receives, guint, k), added);
      if (!has_context[i])
        g_array_append_vals (t->receives, waited->data, waited->len);

      if (t->async)
        g_array_append_val (since, i);
      else
        {
          last_sync = (gint) i;
          g_array_set_size (since, 0);
        }
    }
}

/* A task depends exactly on its context, which has no repeats (refused at
 * load). */
static void
weft_flow_derive_graph (WeftFlow *flow)
{
  for (guint i = 0; i < flow->n_tasks; i++)
    g_array_append_vals (flow->tasks[i].deps, flow->tasks[i].receives->data,
                         flow->tasks[i].receives->len);
}

static void
weft_flow_link (WeftFlow *flow)
{
  for (guint i = 0; i < flow->n_tasks; i++)
    {
      WeftFlowTask *t = &flow->tasks[i];
      GStrvBuilder *names = g_strv_builder_new ();
      for (guint k = 0; k < t->deps->len; k++)
        {
          guint d = g_array_index (t->deps, guint, k);
          g_array_append_val (flow->tasks[d].dependants, i);
          g_strv_builder_add (names, flow->tasks[d].name);
        }
      t->dep_names = g_strv_builder_end (names);
      g_strv_builder_unref (names);
      if (t->deps->len == 0)
        g_array_append_val (flow->roots, i);

      /* Excluded outputs are never handed on. */
      guint kept = 0;
      for (guint k = 0; k < t->receives->len; k++)
        if (!flow->tasks[g_array_index (t->receives, guint, k)].exclude)
          g_array_index (t->receives, guint, kept++) = g_array_index (t->receives, guint, k);
      g_array_set_size (t->receives, kept);
    }
}

/* "a -> b -> a", or for a long cycle its first tasks, its last and its
 * length: a message is one line, not 89 KB. */
#define WEFT_CYCLE_SHOWN 6

static char *
weft_flow_describe_cycle (WeftFlow *flow, GArray *walk, guint from)
{
  guint n = walk->len - from;
  g_autoptr(GString) cycle = g_string_new (NULL);

  for (guint k = 0; k < n; k++)
    {
      if (n > WEFT_CYCLE_SHOWN + 1 && k == WEFT_CYCLE_SHOWN)
        {
          g_string_append (cycle, "… -> ");
          k = n - 1;
        }
      g_string_append_printf (cycle, "%s -> ",
                              flow->tasks[g_array_index (walk, guint, from + k)].name);
    }
  g_string_append (cycle, flow->tasks[g_array_index (walk, guint, from)].name);
  if (n > WEFT_CYCLE_SHOWN + 1)
    g_string_append_printf (cycle, ", %u tasks in all", n);
  return g_string_free (g_steal_pointer (&cycle), FALSE);
}

/* Kahn's algorithm; on a cycle, walks it to name its tasks. */
static gboolean
weft_flow_check_cycles (WeftLoad *l)
{
  WeftFlow *flow = l->flow;
  g_autofree guint *indegree = g_new0 (guint, flow->n_tasks);
  g_autoptr(GArray) ready = g_array_new (FALSE, FALSE, sizeof (guint));
  guint done = 0;

  for (guint i = 0; i < flow->n_tasks; i++)
    if ((indegree[i] = flow->tasks[i].deps->len) == 0)
      g_array_append_val (ready, i);
  while (ready->len > 0)
    {
      guint i = g_array_index (ready, guint, ready->len - 1);
      g_array_set_size (ready, ready->len - 1);
      done++;
      GArray *deps = flow->tasks[i].dependants;
      for (guint k = 0; k < deps->len; k++)
        if (--indegree[g_array_index (deps, guint, k)] == 0)
          g_array_append_val (ready, g_array_index (deps, guint, k));
    }
  if (done == flow->n_tasks)
    return TRUE;

  /* Every task left has a dependency left: following them must loop. */
  g_autofree guint *seen_at = g_new0 (guint, flow->n_tasks);
  g_autoptr(GArray) walk = g_array_new (FALSE, FALSE, sizeof (guint));
  guint i = 0;
  while (indegree[i] == 0)
    i++;
  while (seen_at[i] == 0)
    {
      g_array_append_val (walk, i);
      seen_at[i] = walk->len;
      GArray *deps = flow->tasks[i].deps;
      for (guint k = 0; k < deps->len; k++)
        if (indegree[g_array_index (deps, guint, k)] > 0)
          {
            i = g_array_index (deps, guint, k);
            break;
          }
    }
  g_autofree char *cycle = weft_flow_describe_cycle (flow, walk, seen_at[i] - 1);
  return weft_load_fail (l, WEFT_ERROR_CYCLE, "$.tasks",
                         "dependency cycle: %s (each waits for the next)", cycle);
}

/* ---- making the instances ------------------------------------------------ */

static gboolean
weft_flow_create_instance (WeftLoad *l, const char *section, WeftPlugin *plugin,
                           WeftConfig *config, gpointer *instance)
{
  g_autoptr(GError) local = NULL;

  *instance = weft_plugin_create (plugin, config, &local);
  if (*instance != NULL)
    return TRUE;
  g_autofree char *path = g_strdup_printf ("$.%s.%s", section,
                                           weft_config_get_instance_name (config));
  return weft_load_fail (l, local->code, path, "plugin %s: %s", plugin->desc->name,
                         local->message);
}

/* The schema a model is shown for the tool: it must be a JSON object. */
static gboolean
weft_flow_resolve_schema (WeftLoad *l, WeftToolInstance *t)
{
  const WeftToolClass *klass = t->plugin->desc->tool;
  g_autoptr(JsonNode) node = NULL;

  t->schema = klass->instance_schema ? klass->instance_schema (t->instance)
                                     : klass->arguments_schema;
  if (t->schema)
    node = json_from_string (t->schema, NULL);
  if (node && JSON_NODE_HOLDS_OBJECT (node))
    return TRUE;
  g_autofree char *path = g_strdup_printf ("$.tools.%s", t->name);
  return weft_load_fail (l, WEFT_ERROR_PLUGIN, path,
                         "plugin %s: its arguments schema is not a JSON object",
                         t->plugin->desc->name);
}

static gboolean
weft_flow_create_instances (WeftLoad *l, GPtrArray *pending)
{
  WeftFlow *flow = l->flow;

  for (guint i = 0; i < flow->tools->len; i++)
    {
      WeftToolInstance *t = flow->tools->pdata[i];
      if (!weft_flow_create_instance (l, "tools", t->plugin, t->config, &t->instance)
          || !weft_flow_resolve_schema (l, t))
        return FALSE;
    }
  for (guint i = 0; i < flow->agents->len; i++)
    {
      WeftAgentInstance *a = flow->agents->pdata[i];
      if (!weft_flow_create_instance (l, "agents", a->plugin, a->config, &a->instance))
        return FALSE;
    }
  for (guint i = 0; i < pending->len; i++)
    {
      WeftPendingCallback *p = pending->pdata[i];
      g_autofree char *path = g_strdup_printf ("$.callbacks.%s", p->name);
      g_autoptr(GError) local = NULL;
      p->instance = weft_callback_instance_new (p->plugin, g_steal_pointer (&p->config), &local);
      if (p->instance == NULL)
        return weft_load_fail (l, local->code, path, "%s", local->message);
      g_ptr_array_add (flow->callbacks, p->instance);
      if (!p->task_scoped)
        g_ptr_array_add (flow->flow_callbacks, p->instance);
    }
  /* Tasks pointed at pending entries until now. */
  for (guint i = 0; i < flow->n_tasks; i++)
    for (guint k = 0; k < flow->tasks[i].callbacks->len; k++)
      flow->tasks[i].callbacks->pdata[k] =
        ((WeftPendingCallback *) flow->tasks[i].callbacks->pdata[k])->instance;
  return TRUE;
}

/* ---- the whole file --------------------------------------------------------- */

static gboolean
weft_load_header (WeftLoad *l, JsonObject *root)
{
  WeftFlow *flow = l->flow;
  g_autofree char *process = NULL;
  gboolean ok;

  if (!weft_load_check_keys (l, root, weft_root_keys, "$")
      || !weft_load_name (l, root, "$", "name", &flow->name)
      || !weft_load_string (l, root, "$", "process", FALSE, &process))
    return FALSE;
  if (process && !g_str_equal (process, "graph") && !g_str_equal (process, "sequential"))
    {
      g_autofree char *shown = weft_message_quote (process, 40);
      return weft_load_fail (l, WEFT_ERROR_INVALID, "$.process",
                             "must be \"graph\" or \"sequential\", not %s", shown);
    }
  flow->sequential = process && g_str_equal (process, "sequential");

  JsonNode *inputs = weft_load_member (l, root, "$", "inputs", WEFT_OPTION_OBJECT, FALSE, &ok);
  if (!ok)
    return FALSE;
  if (inputs)
    flow->default_inputs = json_object_ref (json_node_get_object (inputs));
  weft_load_member (l, root, "$", "description", WEFT_OPTION_STRING, FALSE, &ok);
  return ok;
}

static gboolean
weft_load_flow (WeftLoad *l, JsonNode *root_node)
{
  g_autoptr(GPtrArray) pending = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_pending_callback_free);
  g_autoptr(GPtrArray) input_names = g_ptr_array_new_with_free_func (g_free);
  g_autofree gboolean *has_context = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root_node))
    return weft_load_fail (l, WEFT_ERROR_INVALID, "$", "a flow must be a JSON object");
  JsonObject *root = json_node_get_object (root_node);
  JsonNode *tasks = json_object_get_member (root, "tasks");
  has_context = g_new0 (gboolean, tasks && JSON_NODE_HOLDS_ARRAY (tasks)
                                  ? json_array_get_length (json_node_get_array (tasks)) + 1 : 1);

  if (!weft_load_header (l, root)
      || !weft_load_section (l, root, "tools", weft_load_tool, NULL)
      || !weft_load_section (l, root, "agents", weft_load_agent, NULL)
      || !weft_load_section (l, root, "callbacks", weft_load_callback, pending)
      || !weft_load_tasks (l, root, pending, input_names, has_context))
    return FALSE;

  if (l->flow->sequential)
    weft_flow_derive_sequential (l->flow, has_context);
  else
    weft_flow_derive_graph (l->flow);
  weft_flow_link (l->flow);
  if (!weft_flow_check_cycles (l))
    return FALSE;

  g_ptr_array_add (input_names, NULL);
  l->flow->input_names = (char **) g_ptr_array_steal (input_names, NULL);
  return weft_flow_create_instances (l, pending);
}

static WeftFlow *
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
  flow->task_index = g_hash_table_new (g_str_hash, g_str_equal);
  flow->roots = g_array_new (FALSE, FALSE, sizeof (guint));
  g_mutex_init (&flow->agent_sources_lock);
  flow->agent_sources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_bytes_unref);
  return flow;
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
  g_autoptr(JsonNode) root = weft_json_parse_named (data, (gssize) size, origin, error);
  if (root == NULL)
    return NULL;

  WeftFlow *flow = weft_flow_new (engine, origin);
  char *source = g_malloc (size + 1);
  memcpy (source, data, size);
  source[size] = '\0';
  flow->source = g_bytes_new_take (source, size + 1);
  WeftLoad l = { flow, origin, error, NULL };
  gboolean loaded = weft_load_flow (&l, root);
  g_free (l.listed);
  if (!loaded)
    {
      /* Messages quote the flow's own words: keys, names, values. */
      if (error)
        weft_message_tidy_error (*error);
      weft_flow_unref (flow);
      return NULL;
    }
  return flow;
}

WeftFlow *
weft_flow_load_file (WeftEngine *engine, const char *path, GError **error)
{
  gsize length = 0;
  g_autofree char *data = weft_read_file (path, WEFT_FLOW_MAX_BYTES, &length, error);

  if (data == NULL)
    return NULL;
  return weft_flow_load_data (engine, data, (gssize) length, path, error);
}

/* ---- lifetime and accessors ------------------------------------------------------ */

WeftFlow *
weft_flow_ref (WeftFlow *flow)
{
  g_atomic_int_inc (&flow->ref_count);
  return flow;
}

static void
weft_flow_free_tasks (WeftFlow *flow)
{
  for (guint i = 0; flow->tasks && i < flow->n_tasks; i++)
    {
      WeftFlowTask *t = &flow->tasks[i];
      g_free (t->name);
      g_free (t->description);
      g_free (t->expected_output);
      g_free (t->static_prompt);
      g_array_unref (t->deps);
      g_array_unref (t->dependants);
      g_array_unref (t->receives);
      g_strfreev (t->dep_names);
      g_ptr_array_unref (t->callbacks);
    }
  g_free (flow->tasks);
}

/* ---- one agent call as a flow (background tasks) ------------------------------ */

static void
weft_json_copy_member (JsonObject *to, JsonObject *from, const char *key)
{
  JsonNode *node = from ? json_object_get_member (from, key) : NULL;

  if (node)
    json_object_set_member (to, key, json_node_copy (node));
}

/* The agent's declaration, its tools' and the callbacks', from the
 * parent's own text, with one task: a flow file that runs the same call. */
static GBytes *
weft_flow_agent_task_source (WeftFlow *parent, WeftAgentInstance *agent, const char *name)
{
  g_autoptr(JsonNode) root = json_from_string (g_bytes_get_data (parent->source, NULL), NULL);
  JsonObject *src = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *agents_node = src ? json_object_get_member (src, "agents") : NULL;
  JsonNode *tools_node = src ? json_object_get_member (src, "tools") : NULL;
  JsonObject *src_agents = agents_node && JSON_NODE_HOLDS_OBJECT (agents_node)
                           ? json_node_get_object (agents_node) : NULL;
  JsonObject *src_tools = tools_node && JSON_NODE_HOLDS_OBJECT (tools_node)
                          ? json_node_get_object (tools_node) : NULL;
  g_autoptr(JsonObject) out = json_object_new ();
  JsonObject *agents = json_object_new ();
  JsonObject *tools = json_object_new ();
  JsonArray *tasks = json_array_new ();
  JsonObject *task = json_object_new ();

  json_object_set_string_member (out, "name", name);
  weft_json_copy_member (agents, src_agents, agent->name);
  for (guint i = 0; i < agent->tools->len; i++)
    weft_json_copy_member (tools, src_tools, ((WeftToolInstance *) agent->tools->pdata[i])->name);
  json_object_set_object_member (out, "tools", tools);
  json_object_set_object_member (out, "agents", agents);
  weft_json_copy_member (out, src, "inputs");
  weft_json_copy_member (out, src, "callbacks");
  json_object_set_string_member (task, "name", agent->name);
  json_object_set_string_member (task, "agent", agent->name);
  json_object_set_string_member (task, "description", "{prompt}");
  json_array_add_object_element (tasks, task);
  json_object_set_array_member (out, "tasks", tasks);

  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), out);
  char *text = json_to_string (node, TRUE);
  return g_bytes_new_take (text, strlen (text) + 1);
}

WeftFlow *
weft_flow_new_agent_task (WeftFlow *parent, const char *agent_name, GError **error)
{
  WeftAgentInstance *agent = weft_flow_find_agent (parent, agent_name);

  if (agent == NULL)
    {
      g_autofree char *known = weft_flow_agent_names (parent);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "flow \"%s\" has no agent \"%s\" (agents: %s)", parent->name, agent_name,
                   known);
      return NULL;
    }

  WeftFlow *flow = weft_flow_new (parent->engine, parent->origin);
  flow->parent = weft_flow_ref (parent);
  flow->name = g_strdup_printf ("%s.%s", parent->name, agent_name);
  g_mutex_lock (&parent->agent_sources_lock);
  GBytes *source = g_hash_table_lookup (parent->agent_sources, agent->name);
  if (source == NULL)
    {
      source = weft_flow_agent_task_source (parent, agent, flow->name);
      g_hash_table_insert (parent->agent_sources, g_strdup (agent->name), source);
    }
  flow->source = g_bytes_ref (source);
  g_mutex_unlock (&parent->agent_sources_lock);
  g_ptr_array_unref (flow->flow_callbacks);
  flow->flow_callbacks = g_ptr_array_ref (parent->flow_callbacks);
  flow->n_tasks = 1;
  flow->tasks = g_new0 (WeftFlowTask, 1);

  WeftFlowTask *t = &flow->tasks[0];
  t->name = g_strdup (agent_name);
  t->agent = agent;
  t->description = g_strdup ("{prompt}");
  t->templated = TRUE;
  t->deps = g_array_new (FALSE, FALSE, sizeof (guint));
  t->dependants = g_array_new (FALSE, FALSE, sizeof (guint));
  t->receives = g_array_new (FALSE, FALSE, sizeof (guint));
  t->dep_names = g_new0 (char *, 1);
  t->callbacks = g_ptr_array_new ();
  g_hash_table_insert (flow->task_index, t->name, GUINT_TO_POINTER (1));
  g_array_append_val (flow->roots, t->index);
  flow->input_names = g_strdupv ((char *[]) { (char *) "prompt", NULL });
  /* The agent may use the flow's inputs ({input.NAME}): their defaults. */
  if (parent->default_inputs)
    flow->default_inputs = json_object_ref (parent->default_inputs);
  return flow;
}

/* ---- lifetime and accessors (continued) ---------------------------------------- */

static void
weft_flow_finalize (WeftFlow *flow)
{
  /* Callbacks first: every event already raised is delivered. */
  for (guint i = 0; i < flow->callbacks->len; i++)
    weft_callback_instance_close (flow->callbacks->pdata[i]);
  for (guint i = 0; i < flow->agents->len; i++)
    {
      WeftAgentInstance *a = flow->agents->pdata[i];
      if (a->instance)
        a->plugin->desc->destroy (a->instance);
      weft_config_free (a->config);
      g_ptr_array_unref (a->tools);
      g_free (a->name);
      g_free (a);
    }
  for (guint i = 0; i < flow->tools->len; i++)
    {
      WeftToolInstance *t = flow->tools->pdata[i];
      if (t->instance)
        t->plugin->desc->destroy (t->instance);
      weft_config_free (t->config);
      g_free (t->description);
      g_free (t->name);
      g_free (t);
    }
  weft_flow_free_tasks (flow);
  g_ptr_array_unref (flow->agents);
  g_ptr_array_unref (flow->tools);
  g_ptr_array_unref (flow->callbacks);
  g_ptr_array_unref (flow->flow_callbacks);
  g_hash_table_unref (flow->task_index);
  g_array_unref (flow->roots);
  g_strfreev (flow->input_names);
  g_clear_pointer (&flow->default_inputs, json_object_unref);
  g_free (flow->name);
  g_free (flow->origin);
  g_clear_pointer (&flow->source, g_bytes_unref);
  g_clear_pointer (&flow->parent, weft_flow_unref);
  g_hash_table_unref (flow->agent_sources);
  g_mutex_clear (&flow->agent_sources_lock);
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

char **
weft_flow_dup_downstream (WeftFlow *flow, const char *task)
{
  guint start = GPOINTER_TO_UINT (g_hash_table_lookup (flow->task_index, task));

  if (start == 0)
    return NULL;
  g_autofree gboolean *seen = g_new0 (gboolean, flow->n_tasks);
  g_autoptr(GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  start--;
  seen[start] = TRUE;
  g_array_append_val (stack, start);
  while (stack->len > 0)
    {
      guint i = g_array_index (stack, guint, stack->len - 1);
      g_array_set_size (stack, stack->len - 1);
      g_strv_builder_add (names, flow->tasks[i].name);
      GArray *deps = flow->tasks[i].dependants;
      for (guint k = 0; k < deps->len; k++)
        {
          guint d = g_array_index (deps, guint, k);
          if (!seen[d])
            {
              seen[d] = TRUE;
              g_array_append_val (stack, d);
            }
        }
    }
  return g_strv_builder_end (names);
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

WeftFlowTask *
weft_flow_get_task (WeftFlow *flow, guint i)
{
  return &flow->tasks[i];
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

const char * const *
weft_flow_get_task_dependencies (WeftFlow *flow, guint i)
{
  g_return_val_if_fail (i < flow->n_tasks, NULL);
  return (const char * const *) flow->tasks[i].dep_names;
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
