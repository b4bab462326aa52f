/* weft-flow-builder.c — flows built in code (weft.h): the builder's calls
 * → the same description a file becomes, then the same validation,
 * compile and instances.
 *
 * The calls only record: nothing is judged until
 * weft_flow_builder_finish(), so that a flow built in code is refused
 * exactly where and why the same flow as a file would be (its places name
 * the calls: weft-flow.c renders them).  An instance's declaration is the
 * JsonObject a file would hold; a task's context and callbacks gather in
 * the task's handle and join the description's one array at the end.
 * The flow's source (what a store keeps, to run it again) is the
 * description written back as a flow file. */
#include "weft-flow-private.h"

#include <string.h>

struct _WeftFlowBuilder {
  WeftEngine *engine;
  WeftFlowDesc *desc;
  GPtrArray *instances;       /* WeftBuilderInstance*, owned */
  GPtrArray *tasks;           /* WeftBuilderTask*, owned */
  gboolean finished;
};

struct _WeftBuilderInstance {
  WeftFlowBuilder *builder;
  WeftPluginKind kind;
  JsonObject *declaration;    /* the description's */
};

struct _WeftBuilderTask {
  WeftFlowBuilder *builder;
  guint index;                /* in the description */
  GArray *context;            /* WeftDescString */
  GArray *callbacks;          /* WeftDescString */
};

static void
weft_builder_task_free (WeftBuilderTask *task)
{
  g_array_unref (task->context);
  g_array_unref (task->callbacks);
  g_free (task);
}

static WeftDescString
weft_builder_string (WeftFlowBuilder *builder, const char *text)
{
  return weft_flow_desc_add_string (builder->desc, text, strlen (text));
}

WeftFlowBuilder *
weft_flow_builder_new (WeftEngine *engine, const char *name, WeftProcess process)
{
  g_return_val_if_fail (engine != NULL && name != NULL, NULL);
  g_return_val_if_fail (process == WEFT_PROCESS_GRAPH || process == WEFT_PROCESS_SEQUENTIAL, NULL);

  WeftFlowBuilder *builder = g_new0 (WeftFlowBuilder, 1);
  builder->engine = weft_engine_ref (engine);
  builder->desc = weft_flow_desc_new (WEFT_DESC_FROM_BUILDER);
  builder->instances = g_ptr_array_new_with_free_func (g_free);
  builder->tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_builder_task_free);
  builder->desc->name = weft_builder_string (builder, name);
  builder->desc->given = WEFT_DESC_NAME;
  if (process == WEFT_PROCESS_SEQUENTIAL)
    {
      builder->desc->process = weft_builder_string (builder, "sequential");
      builder->desc->given |= WEFT_DESC_PROCESS;
    }
  return builder;
}

void
weft_flow_builder_free (WeftFlowBuilder *builder)
{
  if (builder == NULL)
    return;
  weft_flow_desc_free (builder->desc);
  g_ptr_array_unref (builder->instances);
  g_ptr_array_unref (builder->tasks);
  weft_engine_unref (builder->engine);
  g_free (builder);
}

#define WEFT_BUILDER_CHECK(builder, ...) \
  g_return_val_if_fail ((builder) != NULL && !(builder)->finished, __VA_ARGS__)
#define WEFT_BUILDER_CHECK_VOID(builder) \
  g_return_if_fail ((builder) != NULL && !(builder)->finished)

void
weft_flow_builder_set_description (WeftFlowBuilder *builder, const char *description)
{
  WEFT_BUILDER_CHECK_VOID (builder);
  g_return_if_fail (description != NULL);
  builder->desc->description = weft_builder_string (builder, description);
  builder->desc->given |= WEFT_DESC_DESCRIPTION;
}

void
weft_flow_builder_add_input (WeftFlowBuilder *builder, const char *name, const char *value)
{
  WEFT_BUILDER_CHECK_VOID (builder);
  g_return_if_fail (name != NULL && value != NULL);
  if (builder->desc->inputs == NULL)
    builder->desc->inputs = json_object_new ();
  json_object_set_string_member (builder->desc->inputs, name, value);
  builder->desc->given |= WEFT_DESC_INPUTS;
}

/* ---- instances -------------------------------------------------------------------- */

static void
weft_builder_copy_members (JsonObject *to, JsonObject *from)
{
  g_autoptr(GList) names = from ? json_object_get_members (from) : NULL;

  for (GList *n = names; n; n = n->next)
    json_object_set_member (to, n->data, json_node_copy (json_object_get_member (from, n->data)));
}

static WeftBuilderInstance *
weft_builder_add_instance (WeftFlowBuilder *builder, WeftPluginKind kind, const char *name,
                           const char *plugin, JsonObject *options)
{
  static const WeftDescField fields[] = {
    [WEFT_PLUGIN_AGENT] = WEFT_DESC_AGENTS,
    [WEFT_PLUGIN_TOOL] = WEFT_DESC_TOOLS,
    [WEFT_PLUGIN_CALLBACK] = WEFT_DESC_CALLBACKS,
  };
  WEFT_BUILDER_CHECK (builder, NULL);
  g_return_val_if_fail (name != NULL && plugin != NULL, NULL);

  WeftBuilderInstance *instance = g_new0 (WeftBuilderInstance, 1);
  JsonObject *declaration = json_object_new ();
  /* "plugin" first, as a file would write it; the call's plugin wins. */
  json_object_set_string_member (declaration, "plugin", plugin);
  weft_builder_copy_members (declaration, options);
  json_object_set_string_member (declaration, "plugin", plugin);
  instance->builder = builder;
  instance->kind = kind;
  instance->declaration = declaration;
  weft_flow_desc_add_instance (builder->desc, kind, weft_builder_string (builder, name),
                               json_node_init_object (json_node_alloc (), declaration));
  json_object_unref (declaration);
  builder->desc->given |= fields[kind];
  g_ptr_array_add (builder->instances, instance);
  return instance;
}

WeftBuilderInstance *
weft_flow_builder_add_agent (WeftFlowBuilder *builder, const char *name, const char *plugin,
                             JsonObject *options)
{
  return weft_builder_add_instance (builder, WEFT_PLUGIN_AGENT, name, plugin, options);
}

WeftBuilderInstance *
weft_flow_builder_add_tool (WeftFlowBuilder *builder, const char *name, const char *plugin,
                            JsonObject *options)
{
  return weft_builder_add_instance (builder, WEFT_PLUGIN_TOOL, name, plugin, options);
}

WeftBuilderInstance *
weft_flow_builder_add_callback (WeftFlowBuilder *builder, const char *name, const char *plugin,
                                JsonObject *options)
{
  return weft_builder_add_instance (builder, WEFT_PLUGIN_CALLBACK, name, plugin, options);
}

/* Takes `value`. */
static void
weft_builder_instance_set (WeftBuilderInstance *instance, const char *option, JsonNode *value)
{
  g_autoptr(JsonNode) node = value;

  g_return_if_fail (instance != NULL && option != NULL);
  WEFT_BUILDER_CHECK_VOID (instance->builder);
  json_object_set_member (instance->declaration, option, g_steal_pointer (&node));
}

void
weft_builder_instance_set_string (WeftBuilderInstance *instance, const char *option,
                                  const char *value)
{
  g_return_if_fail (value != NULL);
  weft_builder_instance_set (instance, option, json_node_init_string (json_node_alloc (), value));
}

void
weft_builder_instance_set_int (WeftBuilderInstance *instance, const char *option, gint64 value)
{
  weft_builder_instance_set (instance, option, json_node_init_int (json_node_alloc (), value));
}

void
weft_builder_instance_set_double (WeftBuilderInstance *instance, const char *option,
                                  double value)
{
  weft_builder_instance_set (instance, option, json_node_init_double (json_node_alloc (), value));
}

void
weft_builder_instance_set_bool (WeftBuilderInstance *instance, const char *option,
                                gboolean value)
{
  weft_builder_instance_set (instance, option, json_node_init_boolean (json_node_alloc (), value));
}

void
weft_builder_instance_set_strv (WeftBuilderInstance *instance, const char *option,
                                const char * const *value)
{
  g_return_if_fail (value != NULL);
  JsonArray *array = json_array_new ();
  for (guint i = 0; value[i]; i++)
    json_array_add_string_element (array, value[i]);
  weft_builder_instance_set (instance, option, json_node_init_array (json_node_alloc (), array));
  json_array_unref (array);
}

void
weft_builder_instance_set_object (WeftBuilderInstance *instance, const char *option,
                                  JsonObject *value)
{
  g_return_if_fail (value != NULL);
  JsonObject *copy = json_object_new ();
  weft_builder_copy_members (copy, value);
  weft_builder_instance_set (instance, option, json_node_init_object (json_node_alloc (), copy));
  json_object_unref (copy);
}

void
weft_builder_instance_add_tool (WeftBuilderInstance *agent, const char *tool)
{
  g_return_if_fail (agent != NULL && agent->kind == WEFT_PLUGIN_AGENT && tool != NULL);
  WEFT_BUILDER_CHECK_VOID (agent->builder);
  JsonNode *tools = json_object_get_member (agent->declaration, "tools");
  if (tools == NULL || !JSON_NODE_HOLDS_ARRAY (tools))
    {
      json_object_set_array_member (agent->declaration, "tools", json_array_new ());
      tools = json_object_get_member (agent->declaration, "tools");
    }
  json_array_add_string_element (json_node_get_array (tools), tool);
}

void
weft_builder_instance_set_description (WeftBuilderInstance *tool, const char *description)
{
  g_return_if_fail (tool != NULL && tool->kind == WEFT_PLUGIN_TOOL);
  weft_builder_instance_set_string (tool, "description", description);
}

/* ---- tasks ------------------------------------------------------------------------ */

WeftBuilderTask *
weft_flow_builder_add_task (WeftFlowBuilder *builder, const char *name, const char *agent,
                            const char *description)
{
  WEFT_BUILDER_CHECK (builder, NULL);
  g_return_val_if_fail (name != NULL && agent != NULL && description != NULL, NULL);

  WeftBuilderTask *task = g_new0 (WeftBuilderTask, 1);
  WeftDescString strings[] = {
    weft_builder_string (builder, name),
    weft_builder_string (builder, agent),
    weft_builder_string (builder, description),
  };
  WeftDescTask *t = weft_flow_desc_add_task (builder->desc);
  t->name = strings[0];
  t->agent.name = strings[1];
  t->description = strings[2];
  t->given = WEFT_DESC_NAME | WEFT_DESC_AGENT | WEFT_DESC_DESCRIPTION;
  task->builder = builder;
  task->index = builder->desc->n_tasks - 1;
  task->context = g_array_new (FALSE, FALSE, sizeof (WeftDescString));
  task->callbacks = g_array_new (FALSE, FALSE, sizeof (WeftDescString));
  builder->desc->given |= WEFT_DESC_TASKS;
  g_ptr_array_add (builder->tasks, task);
  return task;
}

/* The task's record, for a setter: NULL (with a critical) when it cannot
 * be set. */
static WeftDescTask *
weft_builder_task_record (WeftBuilderTask *task, WeftDescField field)
{
  g_return_val_if_fail (task != NULL && !task->builder->finished, NULL);
  WeftDescTask *t = &task->builder->desc->tasks[task->index];
  t->given |= field;
  return t;
}

void
weft_builder_task_set_expected_output (WeftBuilderTask *task, const char *expected_output)
{
  g_return_if_fail (expected_output != NULL);
  WeftDescTask *t = weft_builder_task_record (task, WEFT_DESC_EXPECTED_OUTPUT);

  /* The string pool may grow; the task records stay where they are. */
  if (t)
    t->expected_output = weft_builder_string (task->builder, expected_output);
}

void
weft_builder_task_add_context (WeftBuilderTask *task, const char *name)
{
  g_return_if_fail (name != NULL);
  if (weft_builder_task_record (task, WEFT_DESC_CONTEXT) == NULL)
    return;
  WeftDescString s = weft_builder_string (task->builder, name);
  g_array_append_val (task->context, s);
}

void
weft_builder_task_add_callback (WeftBuilderTask *task, const char *callback)
{
  g_return_if_fail (callback != NULL);
  if (weft_builder_task_record (task, WEFT_DESC_CALLBACKS) == NULL)
    return;
  WeftDescString s = weft_builder_string (task->builder, callback);
  g_array_append_val (task->callbacks, s);
}

void
weft_builder_task_set_async (WeftBuilderTask *task, gboolean async)
{
  WeftDescTask *t = weft_builder_task_record (task, WEFT_DESC_ASYNC);

  if (t)
    t->async = async != FALSE;
}

void
weft_builder_task_set_exclude (WeftBuilderTask *task, gboolean exclude)
{
  WeftDescTask *t = weft_builder_task_record (task, WEFT_DESC_EXCLUDE);

  if (t)
    t->exclude = exclude != FALSE;
}

void
weft_builder_task_set_retries (WeftBuilderTask *task, guint retries)
{
  WeftDescTask *t = weft_builder_task_record (task, WEFT_DESC_RETRIES);

  if (t)
    t->retries = retries;
}

void
weft_builder_task_set_retry_delay (WeftBuilderTask *task, guint retry_delay_ms)
{
  WeftDescTask *t = weft_builder_task_record (task, WEFT_DESC_RETRY_DELAY);

  if (t)
    t->retry_delay_ms = retry_delay_ms;
}

void
weft_builder_task_set_timeout (WeftBuilderTask *task, double seconds)
{
  WeftDescTask *t = weft_builder_task_record (task, WEFT_DESC_TIMEOUT);

  if (t)
    t->timeout_s = seconds;
}

/* ---- finishing -------------------------------------------------------------------- */

/* Each task's context and callbacks become runs of the description's one
 * array, as a file's are. */
static void
weft_builder_gather_refs (WeftFlowBuilder *builder)
{
  WeftFlowDesc *desc = builder->desc;

  for (guint i = 0; i < builder->tasks->len; i++)
    {
      WeftBuilderTask *task = builder->tasks->pdata[i];
      WeftDescTask *t = &desc->tasks[task->index];
      t->context = desc->n_refs;
      t->n_context = task->context->len;
      for (guint k = 0; k < task->context->len; k++)
        weft_flow_desc_add_ref (desc, g_array_index (task->context, WeftDescString, k));
      t->callbacks = desc->n_refs;
      t->n_callbacks = task->callbacks->len;
      for (guint k = 0; k < task->callbacks->len; k++)
        weft_flow_desc_add_ref (desc, g_array_index (task->callbacks, WeftDescString, k));
    }
}

WeftFlow *
weft_flow_builder_finish (WeftFlowBuilder *builder, GError **error)
{
  WEFT_BUILDER_CHECK (builder, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  builder->finished = TRUE;
  weft_builder_gather_refs (builder);
  g_autofree char *origin = g_strdup_printf ("%s (built in code)",
                                             weft_flow_desc_get_string (builder->desc,
                                                                        builder->desc->name));
  WeftFlow *flow = weft_flow_new (builder->engine, origin);
  flow->source = weft_flow_desc_to_json (builder->desc);
  return weft_flow_load_desc (flow, g_steal_pointer (&builder->desc), error);
}
