/* weft-flow-desc.c — the description of a flow, as a file or a builder
 * gave it, before anything about it is judged.
 *
 * It is made to be cheap at 100,000 tasks: one pool for every string
 * (offsets, not pointers, so that it can grow), one array of task records,
 * one array for every task's context and callback entries.  Plugin
 * instances and the inputs, few and read by plugins as JSON, stay
 * json-glib nodes.  weft_flow_desc_to_json() writes it back as a flow
 * file: what a store keeps of a flow built in code. */
#include "weft-flow-private.h"

#include <string.h>

static void
weft_desc_instance_clear (WeftDescInstance *instance)
{
  g_clear_pointer (&instance->node, json_node_unref);
}

WeftFlowDesc *
weft_flow_desc_new (WeftDescSource source)
{
  WeftFlowDesc *desc = g_new0 (WeftFlowDesc, 1);

  desc->source = source;
  desc->strings = g_string_sized_new (256);
  desc->name = desc->description = desc->process = desc->unknown_key = WEFT_DESC_NONE;
  for (WeftPluginKind k = WEFT_PLUGIN_AGENT; k <= WEFT_PLUGIN_CALLBACK; k++)
    {
      desc->sections[k] = g_array_new (FALSE, FALSE, sizeof (WeftDescInstance));
      g_array_set_clear_func (desc->sections[k], (GDestroyNotify) weft_desc_instance_clear);
    }
  return desc;
}

void
weft_flow_desc_free (WeftFlowDesc *desc)
{
  if (desc == NULL)
    return;
  g_string_free (desc->strings, TRUE);
  g_clear_pointer (&desc->inputs, json_object_unref);
  g_clear_pointer (&desc->chat, json_object_unref);
  g_clear_pointer (&desc->map_paths, json_object_unref);
  for (WeftPluginKind k = WEFT_PLUGIN_AGENT; k <= WEFT_PLUGIN_CALLBACK; k++)
    g_array_unref (desc->sections[k]);
  g_free (desc->tasks);
  g_free (desc->refs);
  g_free (desc);
}

WeftDescString
weft_flow_desc_add_string (WeftFlowDesc *desc, const char *text, gsize length)
{
  GString *strings = desc->strings;
  WeftDescString at = (WeftDescString) strings->len;

  /* Two g_string_append calls a string were a tenth of reading a flow. */
  g_string_set_size (strings, at + length + 1);
  memcpy (strings->str + at, text, length);
  strings->str[at + length] = '\0';
  return at;
}

const char *
weft_flow_desc_get_string (const WeftFlowDesc *desc, WeftDescString s)
{
  return s == WEFT_DESC_NONE ? NULL : desc->strings->str + s;
}

WeftDescTask *
weft_flow_desc_add_task (WeftFlowDesc *desc)
{
  if (desc->n_tasks == desc->tasks_size)
    {
      desc->tasks_size = MAX (64, desc->tasks_size * 2);
      desc->tasks = g_renew (WeftDescTask, desc->tasks, desc->tasks_size);
    }
  WeftDescTask *t = &desc->tasks[desc->n_tasks++];
  memset (t, 0, sizeof *t);
  t->name = t->agent.name = t->description = t->expected_output = WEFT_DESC_NONE;
  t->unknown_key = WEFT_DESC_NONE;
  return t;
}

guint32
weft_flow_desc_add_ref (WeftFlowDesc *desc, WeftDescString name)
{
  if (desc->n_refs == desc->refs_size)
    {
      desc->refs_size = MAX (64, desc->refs_size * 2);
      desc->refs = g_renew (WeftDescRef, desc->refs, desc->refs_size);
    }
  desc->refs[desc->n_refs].name = name;
  return desc->n_refs++;
}

void
weft_flow_desc_add_instance (WeftFlowDesc *desc, WeftPluginKind kind, WeftDescString name,
                             JsonNode *node)
{
  WeftDescInstance instance = { name, node };

  g_array_append_val (desc->sections[kind], instance);
}

const char *
weft_flow_desc_section_name (WeftPluginKind kind)
{
  switch (kind)
    {
    case WEFT_PLUGIN_AGENT: return "agents";
    case WEFT_PLUGIN_TOOL: return "tools";
    case WEFT_PLUGIN_CALLBACK: return "callbacks";
    default: return "?";
    }
}

/* ---- back to a flow file ---------------------------------------------------------- */

static void
weft_desc_add_string_member (JsonBuilder *b, const WeftFlowDesc *desc, const char *key,
                             WeftDescString s)
{
  if (s == WEFT_DESC_NONE)
    return;
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, weft_flow_desc_get_string (desc, s));
}

/* Takes `value`. */
static void
weft_desc_add_value_member (JsonBuilder *b, const char *key, JsonNode *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_value (b, value);
}

static void
weft_desc_add_refs_member (JsonBuilder *b, const WeftFlowDesc *desc, const char *key,
                           guint32 first, guint32 n)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint32 k = 0; k < n; k++)
    json_builder_add_string_value (b, weft_flow_desc_get_string (desc, desc->refs[first + k].name));
  json_builder_end_array (b);
}

static void
weft_desc_add_section (JsonBuilder *b, const WeftFlowDesc *desc, WeftPluginKind kind)
{
  GArray *section = desc->sections[kind];

  if (section->len == 0)
    return;
  json_builder_set_member_name (b, weft_flow_desc_section_name (kind));
  json_builder_begin_object (b);
  for (guint i = 0; i < section->len; i++)
    {
      WeftDescInstance *instance = &g_array_index (section, WeftDescInstance, i);
      json_builder_set_member_name (b, weft_flow_desc_get_string (desc, instance->name));
      json_builder_add_value (b, json_node_copy (instance->node));
    }
  json_builder_end_object (b);
}

static void
weft_desc_add_task (JsonBuilder *b, const WeftFlowDesc *desc, const WeftDescTask *t)
{
  json_builder_begin_object (b);
  weft_desc_add_string_member (b, desc, "name", t->name);
  weft_desc_add_string_member (b, desc, "agent", t->agent.name);
  weft_desc_add_string_member (b, desc, "description", t->description);
  weft_desc_add_string_member (b, desc, "expected_output", t->expected_output);
  if (t->given & WEFT_DESC_CONTEXT)
    weft_desc_add_refs_member (b, desc, "context", t->context, t->n_context);
  if (t->given & WEFT_DESC_ASYNC)
    weft_desc_add_value_member (b, "async", json_node_init_boolean (json_node_alloc (), t->async));
  if (t->given & WEFT_DESC_EXCLUDE)
    weft_desc_add_value_member (b, "exclude",
                                json_node_init_boolean (json_node_alloc (), t->exclude));
  if (t->given & WEFT_DESC_RETRIES)
    weft_desc_add_value_member (b, "retries", json_node_init_int (json_node_alloc (), t->retries));
  if (t->given & WEFT_DESC_RETRY_DELAY)
    weft_desc_add_value_member (b, "retry_delay_ms",
                                json_node_init_int (json_node_alloc (), t->retry_delay_ms));
  if (t->given & WEFT_DESC_TIMEOUT)
    weft_desc_add_value_member (b, "timeout_s",
                                json_node_init_double (json_node_alloc (), t->timeout_s));
  if (t->given & WEFT_DESC_CALLBACKS)
    weft_desc_add_refs_member (b, desc, "callbacks", t->callbacks, t->n_callbacks);
  json_builder_end_object (b);
}

/* References must still be names: before validation. */
GBytes *
weft_flow_desc_to_json (const WeftFlowDesc *desc)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  weft_desc_add_string_member (b, desc, "name", desc->name);
  weft_desc_add_string_member (b, desc, "description", desc->description);
  weft_desc_add_string_member (b, desc, "process", desc->process);
  if (desc->inputs)
    weft_desc_add_value_member (b, "inputs",
                                json_node_init_object (json_node_alloc (), desc->inputs));
  weft_desc_add_section (b, desc, WEFT_PLUGIN_TOOL);
  weft_desc_add_section (b, desc, WEFT_PLUGIN_AGENT);
  weft_desc_add_section (b, desc, WEFT_PLUGIN_CALLBACK);
  json_builder_set_member_name (b, "tasks");
  json_builder_begin_array (b);
  for (guint i = 0; i < desc->n_tasks; i++)
    weft_desc_add_task (b, desc, &desc->tasks[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  char *text = json_to_string (root, TRUE);
  return g_bytes_new_take (text, strlen (text) + 1);
}
