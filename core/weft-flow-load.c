/* weft-flow-load.c — one flow being made: the state every step of loading
 * shares (WeftFlowLoad), and the refusals they give (and the words for an
 * input the flow does not take, which a kickoff refuses too).  A refusal names its
 * place as a JSON path for a file and as the builder call for a builder,
 * formatted only when there is one.  Below every step of loading (see the
 * map in weft-flow-private.h): they all call it, it calls none of them. */
#include "weft-flow-private.h"

static void
weft_pending_callback_free (WeftPendingCallback *p)
{
  g_free (p->name);
  weft_config_free (p->config);
  g_free (p);
}

void
weft_flow_load_init (WeftFlowLoad *l, WeftFlowDesc *desc, WeftFlow *flow, GError **error)
{
  *l = (WeftFlowLoad) { 0 };
  l->desc = desc;
  l->source = desc->source;
  l->origin = desc->source == WEFT_DESC_FROM_FILE ? flow->origin : NULL;
  l->flow = flow;
  l->error = error;
  l->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_pending_callback_free);
  l->input_names = g_ptr_array_new_with_free_func (g_free);
}

void
weft_flow_load_clear (WeftFlowLoad *l)
{
  g_clear_pointer (&l->desc, weft_flow_desc_free);
  g_clear_pointer (&l->pending, g_ptr_array_unref);
  g_clear_pointer (&l->input_names, g_ptr_array_unref);
  g_clear_pointer (&l->index.slots, g_free);
  g_clear_pointer (&l->callback_refs, g_free);
}

static void
weft_flow_place_append_builder (WeftFlowLoad *l, GString *s, const WeftFlowPlace *place)
{
  static const char *const calls[] = {
    [WEFT_PLUGIN_AGENT] = "weft_flow_builder_add_agent",
    [WEFT_PLUGIN_TOOL] = "weft_flow_builder_add_tool",
    [WEFT_PLUGIN_CALLBACK] = "weft_flow_builder_add_callback",
  };
  const char *call = "weft_flow_builder_finish";
  const char *name = NULL;

  switch (place->kind)
    {
    case WEFT_PLACE_ROOT:
      call = "weft_flow_builder_new";
      name = l->desc ? weft_flow_desc_get_string (l->desc, l->desc->name) : l->flow->name;
      break;
    case WEFT_PLACE_SECTION:
    case WEFT_PLACE_INSTANCE:
      call = calls[place->section];
      name = place->name;
      break;
    case WEFT_PLACE_TASK:
      call = "weft_flow_builder_add_task";
      name = weft_flow_desc_get_string (l->desc, l->desc->tasks[place->task].name);
      break;
    case WEFT_PLACE_TASKS:
      break;
    }
  g_autofree char *shown = name ? weft_message_quote (name, 40) : NULL;
  g_string_append_printf (s, "%s (%s)", call, shown ? shown : "");
  if (place->field)
    g_string_append_printf (s, ": %s", place->field);
}

static void
weft_flow_place_append_path (GString *s, const WeftFlowPlace *place)
{
  g_string_append_c (s, '$');
  switch (place->kind)
    {
    case WEFT_PLACE_ROOT:
      break;
    case WEFT_PLACE_SECTION:
      g_string_append_printf (s, ".%s", weft_flow_desc_section_name (place->section));
      break;
    case WEFT_PLACE_INSTANCE:
      g_string_append_printf (s, ".%s.%s", weft_flow_desc_section_name (place->section),
                              place->name);
      break;
    case WEFT_PLACE_TASKS:
      g_string_append (s, ".tasks");
      break;
    case WEFT_PLACE_TASK:
      g_string_append_printf (s, ".tasks[%u]", place->task);
      break;
    }
  if (place->field)
    g_string_append_printf (s, ".%s", place->field);
}

char *
weft_flow_place_to_string (WeftFlowLoad *l, const WeftFlowPlace *place)
{
  GString *s = g_string_new (NULL);

  if (l->source == WEFT_DESC_FROM_FILE)
    weft_flow_place_append_path (s, place);
  else
    weft_flow_place_append_builder (l, s, place);
  if (place->element != WEFT_PLACE_NO_ELEMENT)
    g_string_append_printf (s, "[%u]", place->element);
  return g_string_free (s, FALSE);
}

gboolean
weft_flow_load_fail (WeftFlowLoad *l, gint code, const WeftFlowPlace *place,
                     const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *where = weft_flow_place_to_string (l, place);
  if (l->origin)
    g_set_error (l->error, WEFT_ERROR, code, "%s: %s: %s", l->origin, where, reason);
  else
    g_set_error (l->error, WEFT_ERROR, code, "%s: %s", where, reason);
  return FALSE;
}

gboolean
weft_flow_load_propagate (WeftFlowLoad *l, GError *local, const WeftFlowPlace *place,
                          const char *what)
{
  g_autofree char *where = weft_flow_place_to_string (l, place);

  g_propagate_prefixed_error (l->error, local, "%s%s%s: %s%s", l->origin ? l->origin : "",
                              l->origin ? ": " : "", where, what ? what : "", what ? ": " : "");
  return FALSE;
}

char *
weft_flow_join_names (GPtrArray *names)
{
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", (const char *) names->pdata[i]);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* ---- names a thread's settings may use ------------------------------------------- */

static gboolean
weft_flow_names_has_agent (gpointer data, const char *name, gboolean *converses)
{
  WeftFlow *flow = data;

  for (guint i = 0; i < flow->agents->len; i++)
    {
      WeftAgentInstance *a = flow->agents->pdata[i];
      if (!g_str_equal (a->name, name))
        continue;
      if (converses)
        *converses = a->plugin->desc->abi_minor >= 2 && a->plugin->desc->agent->converse != NULL;
      return TRUE;
    }
  return FALSE;
}

static gboolean
weft_flow_names_has_tool (gpointer data, const char *name)
{
  WeftFlow *flow = data;

  for (guint i = 0; i < flow->tools->len; i++)
    if (g_str_equal (((WeftToolInstance *) flow->tools->pdata[i])->name, name))
      return TRUE;
  return FALSE;
}

static gboolean
weft_flow_names_has_flow (gpointer data, const char *name)
{
  return g_str_equal (((WeftFlow *) data)->name, name);
}

static char *
weft_flow_names_list (gpointer data, WeftBackgroundKind kind)
{
  WeftFlow *flow = data;
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  if (kind == WEFT_BACKGROUND_FLOW)
    g_ptr_array_add (names, flow->name);
  for (guint i = 0; kind == WEFT_BACKGROUND_AGENT && i < flow->agents->len; i++)
    g_ptr_array_add (names, ((WeftAgentInstance *) flow->agents->pdata[i])->name);
  for (guint i = 0; kind == WEFT_BACKGROUND_TOOL && i < flow->tools->len; i++)
    g_ptr_array_add (names, ((WeftToolInstance *) flow->tools->pdata[i])->name);
  return weft_flow_join_names (names);
}

void
weft_flow_thread_names (WeftFlow *flow, WeftThreadNames *names)
{
  *names = (WeftThreadNames) {
    weft_flow_names_has_agent, weft_flow_names_has_tool, weft_flow_names_has_flow,
    weft_flow_names_list, flow,
  };
}

char *
weft_flow_describe_inputs (const char * const *names, JsonObject *defaults, const char *word)
{
  g_autoptr(GPtrArray) known = g_ptr_array_new ();
  g_autoptr(GList) members = defaults ? json_object_get_members (defaults) : NULL;

  for (guint i = 0; names[i]; i++)
    g_ptr_array_add (known, (gpointer) names[i]);
  for (GList *m = members; m; m = m->next)
    if (!g_strv_contains (names, m->data))
      g_ptr_array_add (known, m->data);
  if (known->len == 0)
    return g_strdup ("the flow takes no inputs");
  const char *like = weft_message_suggest (word, (const char * const *) known->pdata, known->len);
  g_autofree char *list = weft_flow_join_names (known);
  if (like)
    return g_strdup_printf ("did you mean \"%s\"? the flow takes: %s", like, list);
  return g_strdup_printf ("the flow takes: %s", list);
}
