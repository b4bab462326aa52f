/* weft-server-flows.c — what the server serves, and how it is: GET
 * /v1/flows, /v1/flows/{flow}, /v1/plugins and /healthz.
 *
 * On the engine loop.  A flow is shown by its names, its plugins and its
 * graph, never its options: an agent's options may hold keys.  The flow a
 * path names is found here for every handler (weft_server_find_flow),
 * which answers 404 with the flows there are. */
#include "weft-server-private.h"

#include <math.h>

static gint
weft_server_compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* NULL-terminated, sorted; the names are the flows'. */
static GPtrArray *
weft_server_flow_names (WeftServer *server)
{
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init (&iter, server->flows);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    g_ptr_array_add (names, name);
  g_ptr_array_sort (names, weft_server_compare_strings);
  g_ptr_array_add (names, NULL);
  return names;
}

WeftFlow *
weft_server_find_flow (WeftServer *server, SoupServerMessage *msg, const char *name)
{
  WeftFlow *flow = g_hash_table_lookup (server->flows, name);

  if (flow == NULL)
    {
      g_autoptr(GPtrArray) names = weft_server_flow_names (server);
      g_autofree char *known = g_strjoinv (", ", (char **) names->pdata);
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "no flow named \"%s\" (flows: %s)",
                               name, *known ? known : "none");
    }
  return flow;
}

WeftFlow *
weft_server_find_flow_or_only (WeftServer *server, SoupServerMessage *msg, const char *name)
{
  GHashTableIter iter;
  WeftFlow *flow = NULL;

  if (*name != '\0')
    return weft_server_find_flow (server, msg, name);
  g_hash_table_iter_init (&iter, server->flows);
  g_hash_table_iter_next (&iter, NULL, (gpointer *) &flow);
  return flow;
}

static JsonArray *
weft_server_strv_array (const char *const *strv)
{
  JsonArray *a = json_array_new ();

  for (guint i = 0; strv && strv[i]; i++)
    json_array_add_string_element (a, strv[i]);
  return a;
}

static JsonObject *
weft_server_flow_summary (WeftFlow *flow)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "name", weft_flow_get_name (flow));
  json_object_set_string_member (o, "file", weft_flow_get_origin (flow));
  json_object_set_string_member (o, "process",
                                 weft_flow_is_sequential (flow) ? "sequential" : "graph");
  json_object_set_int_member (o, "task_count", weft_flow_get_n_tasks (flow));
  json_object_set_array_member (o, "inputs",
                                weft_server_strv_array (weft_flow_get_input_names (flow)));
  return o;
}

void
weft_server_handle_flows (WeftServer *server, SoupServerMessage *msg, const char *arg,
                          GHashTable *query)
{
  g_autoptr(GPtrArray) names = weft_server_flow_names (server);
  JsonArray *flows = json_array_new ();
  JsonObject *o = json_object_new ();

  for (guint i = 0; names->pdata[i]; i++)
    json_array_add_object_element (flows, weft_server_flow_summary (
                                            g_hash_table_lookup (server->flows, names->pdata[i])));
  json_object_set_array_member (o, "flows", flows);
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}

/* Names and plugins only: an agent's options may hold keys. */
void
weft_server_handle_flow (WeftServer *server, SoupServerMessage *msg, const char *arg,
                         GHashTable *query)
{
  WeftFlow *flow = weft_server_find_flow (server, msg, arg);

  if (flow == NULL)
    return;
  JsonObject *o = weft_server_flow_summary (flow);
  JsonArray *agents = json_array_new ();
  JsonArray *tasks = json_array_new ();
  JsonObject *graph = json_object_new ();

  for (guint i = 0; i < weft_flow_get_n_instances (flow, WEFT_PLUGIN_AGENT); i++)
    {
      WeftAgentInstance *a = weft_flow_get_agent (flow, i);
      JsonObject *ao = json_object_new ();
      json_object_set_string_member (ao, "name", a->name);
      json_object_set_string_member (ao, "plugin", a->plugin->desc->name);
      json_array_add_object_element (agents, ao);
    }
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    {
      WeftFlowTask *t = weft_flow_get_task (flow, i);
      JsonObject *to = json_object_new ();
      json_object_set_string_member (to, "name", t->name);
      json_object_set_string_member (to, "agent", t->agent->name);
      const char *const *deps = weft_flow_get_task_dependencies (flow, i);
      json_object_set_array_member (to, "depends_on", weft_server_strv_array (deps));
      json_array_add_object_element (tasks, to);
    }
  json_object_set_array_member (o, "agents", agents);
  json_object_set_array_member (o, "tasks", tasks);
  /* Inputs are no secret: every run shows its own, merged over these. */
  JsonObject *defaults = weft_flow_get_default_inputs (flow);
  JsonObject *copy = json_object_new ();
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  if (defaults)
    {
      json_object_iter_init (&iter, defaults);
      while (json_object_iter_next (&iter, &key, &value))
        json_object_set_member (copy, key, json_node_copy (value));
    }
  json_object_set_object_member (o, "defaults", copy);
  g_autofree char *dot = weft_flow_to_dot (flow);
  g_autofree char *mermaid = weft_flow_to_mermaid (flow);
  json_object_set_string_member (graph, "dot", dot);
  json_object_set_string_member (graph, "mermaid", mermaid);
  json_object_set_object_member (o, "graph", graph);
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}

/* An INT's bounds are whole (the registry checks): written as integers. */
static void
weft_server_set_bound (JsonObject *oo, const char *member, WeftOptionType type, double bound)
{
  if (!isfinite (bound))
    return;
  if (type == WEFT_OPTION_INT)
    json_object_set_int_member (oo, member, (gint64) bound);
  else
    json_object_set_double_member (oo, member, bound);
}

/* What a row checks beyond its type: "min"/"max" for a declared range (an
 * open end left out), "choices" for an enum, "not_empty", "task_template". */
static void
weft_server_option_checks_to_json (JsonObject *oo, const WeftOption *opt)
{
  gboolean numeric = opt->type == WEFT_OPTION_INT || opt->type == WEFT_OPTION_DOUBLE;

  if (numeric && !(opt->min == 0 && opt->max == 0))
    {
      weft_server_set_bound (oo, "min", opt->type, opt->min);
      weft_server_set_bound (oo, "max", opt->type, opt->max);
    }
  if (opt->type == WEFT_OPTION_ENUM && opt->choices)
    {
      JsonArray *choices = json_array_new ();
      for (guint k = 0; opt->choices[k]; k++)
        json_array_add_string_element (choices, opt->choices[k]);
      json_object_set_array_member (oo, "choices", choices);
    }
  if (opt->flags & WEFT_OPTION_NOT_EMPTY)
    json_object_set_boolean_member (oo, "not_empty", TRUE);
  if (opt->flags & WEFT_OPTION_TEMPLATE)
    json_object_set_boolean_member (oo, "task_template", TRUE);
}

static JsonObject *
weft_server_plugin_to_json (WeftPlugin *plugin)
{
  const WeftPluginDescriptor *d = plugin->desc;
  JsonObject *o = json_object_new ();
  JsonArray *options = json_array_new ();

  json_object_set_string_member (o, "kind", weft_plugin_kind_to_string (d->kind));
  json_object_set_string_member (o, "name", d->name);
  json_object_set_string_member (o, "version", d->version);
  json_object_set_string_member (o, "description", d->description);
  json_object_set_boolean_member (o, "store", d->store != NULL);
  for (const WeftOption *opt = d->options; opt && opt->name; opt++)
    {
      JsonObject *oo = json_object_new ();
      JsonNode *def = opt->default_json ? json_from_string (opt->default_json, NULL) : NULL;
      json_object_set_string_member (oo, "name", opt->name);
      json_object_set_string_member (oo, "type", weft_option_type_to_string (opt->type));
      json_object_set_boolean_member (oo, "required", opt->required);
      json_object_set_member (oo, "default", def ? def : json_node_new (JSON_NODE_NULL));
      json_object_set_string_member (oo, "description", opt->description);
      weft_server_option_checks_to_json (oo, opt);
      json_array_add_object_element (options, oo);
    }
  json_object_set_array_member (o, "options", options);
  return o;
}

void
weft_server_handle_plugins (WeftServer *server, SoupServerMessage *msg, const char *arg,
                            GHashTable *query)
{
  g_autoptr(GPtrArray) plugins = weft_registry_list (weft_engine_get_registry (server->engine));
  JsonArray *a = json_array_new ();
  JsonObject *o = json_object_new ();

  for (guint i = 0; i < plugins->len; i++)
    json_array_add_object_element (a, weft_server_plugin_to_json (plugins->pdata[i]));
  json_object_set_array_member (o, "plugins", a);
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}

void
weft_server_handle_health (WeftServer *server, SoupServerMessage *msg, const char *arg,
                           GHashTable *query)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "status", server->stopping ? "stopping" : "ok");
  /* The dashboard asks for a token before its first request when one is
   * needed: that much every 401 says too. */
  json_object_set_boolean_member (o, "token_required", server->token != NULL);
  json_object_set_int_member (o, "flows", g_hash_table_size (server->flows));
  json_object_set_int_member (o, "runs_live", server->n_live);
  json_object_set_int_member (o, "runs_kept", g_hash_table_size (server->runs));
  json_object_set_int_member (o, "runs_started", (gint64) server->n_started);
  json_object_set_int_member (o, "runs_finished", (gint64) server->n_finished);
  weft_server_reply_object (msg, server->stopping ? SOUP_STATUS_SERVICE_UNAVAILABLE
                                                : SOUP_STATUS_OK, o);
}
