/* weft-flow-paths.c — Intelli's "map_paths": the graph as successor lists.
 *
 * Intelli's AsyncFlow takes its graph as {"a": ["b", "c"]}: b and c run
 * after a and receive its output.  weft's own way is each task's
 * "context" (the tasks it waits for): the same edges turned round.  A
 * flow may give either, not both, so that one place says what waits for
 * what.  The lists are checked here (every name a task, none twice) and
 * written into each successor's context in the description, in the order
 * written; from there on a flow with map_paths is the flow with the
 * contexts, checked, compiled and drawn alike. */
#include "weft-flow-private.h"

#include <string.h>

static WeftFlowPlace
weft_paths_place (const char *field, guint element)
{
  return (WeftFlowPlace) { WEFT_PLACE_ROOT, 0, NULL, 0, field, element };
}

static const char *
weft_paths_desc_task_name (gconstpointer data, guint i)
{
  const WeftFlowDesc *desc = data;

  return weft_flow_desc_get_string (desc, desc->tasks[i].name);
}

/* The task named `name`, or a refusal at `place` naming the tasks there are. */
static guint
weft_paths_find (WeftFlowLoad *l, const char *name, WeftFlowPlace place)
{
  guint found = weft_task_index_lookup (&l->index, name, weft_paths_desc_task_name, l->desc);

  if (found != WEFT_NO_TASK)
    return found;
  g_autofree const char **names = g_new (const char *, l->desc->n_tasks);
  for (guint i = 0; i < l->desc->n_tasks; i++)
    names[i] = weft_paths_desc_task_name (l->desc, i);
  const char *like = weft_message_suggest (name, names, l->desc->n_tasks);
  g_autoptr(GPtrArray) all = g_ptr_array_new ();
  for (guint i = 0; i < l->desc->n_tasks; i++)
    g_ptr_array_add (all, (gpointer) names[i]);
  g_autofree char *known = weft_flow_join_names (all);
  g_autofree char *shown = weft_message_quote (name, 40);
  weft_flow_load_fail (l, WEFT_ERROR_NOT_FOUND, &place, "unknown task %s (%s%s%sknown: %s)",
                       shown, like ? "did you mean \"" : "", like ? like : "",
                       like ? "\"? " : "", known);
  return WEFT_NO_TASK;
}

/* map_paths alone draws the graph: no task gives a context, and the
 * sequential process (which derives its own edges) is not asked for. */
static gboolean
weft_paths_check_alone (WeftFlowLoad *l)
{
  WeftFlowPlace place = weft_paths_place ("map_paths", WEFT_PLACE_NO_ELEMENT);

  if (l->flow->sequential)
    return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                "successor lists draw a graph: drop \"process\": \"sequential\" "
                                "or give each task's \"context\" instead");
  for (guint i = 0; i < l->desc->n_tasks; i++)
    if (l->desc->tasks[i].given & WEFT_DESC_CONTEXT)
      return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                  "give the graph one way: \"map_paths\" or each task's "
                                  "\"context\", not both (task \"%s\" has a \"context\")",
                                  weft_paths_desc_task_name (l->desc, i));
  return TRUE;
}

/* Each list's names: tasks, none twice in one list.  `preds` gets, per
 * task, how many tasks it follows. */
static gboolean
weft_paths_check_lists (WeftFlowLoad *l, guint *preds)
{
  JsonObjectIter iter;
  const char *from;
  JsonNode *node;
  g_autofree guint *seen = g_new0 (guint, l->desc->n_tasks);
  guint list = 0;

  json_object_iter_init (&iter, l->desc->map_paths);
  while (json_object_iter_next (&iter, &from, &node))
    {
      g_autofree char *field = g_strdup_printf ("map_paths.%s", from);
      list++;
      if (weft_paths_find (l, from, weft_paths_place (field, WEFT_PLACE_NO_ELEMENT))
          == WEFT_NO_TASK)
        return FALSE;
      if (!weft_option_node_matches (WEFT_OPTION_STRING_LIST, node))
        {
          WeftFlowPlace place = weft_paths_place (field, WEFT_PLACE_NO_ELEMENT);
          return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                      "must be a string list: the tasks that run after \"%s\"",
                                      from);
        }
      JsonArray *to = json_node_get_array (node);
      for (guint k = 0; k < json_array_get_length (to); k++)
        {
          const char *name = json_array_get_string_element (to, k);
          WeftFlowPlace place = weft_paths_place (field, k);
          guint found = weft_paths_find (l, name, place);
          if (found == WEFT_NO_TASK)
            return FALSE;
          if (seen[found] == list)
            return weft_flow_load_fail (l, WEFT_ERROR_DUPLICATE, &place,
                                        "task \"%s\" is listed twice", name);
          seen[found] = list;
          preds[found]++;
        }
    }
  return TRUE;
}

/* Each successor's context: a run of the description's refs, the tasks it
 * follows in the order map_paths names them. */
static void
weft_paths_write_contexts (WeftFlowLoad *l, guint *preds)
{
  WeftFlowDesc *desc = l->desc;
  JsonObjectIter iter;
  const char *from;
  JsonNode *node;

  for (guint i = 0; i < desc->n_tasks; i++)
    if (preds[i] > 0)
      {
        desc->tasks[i].context = desc->n_refs;
        desc->tasks[i].given |= WEFT_DESC_CONTEXT;
        for (guint k = 0; k < preds[i]; k++)
          weft_flow_desc_add_ref (desc, WEFT_DESC_NONE);
      }
  json_object_iter_init (&iter, desc->map_paths);
  while (json_object_iter_next (&iter, &from, &node))
    {
      WeftDescString name = weft_flow_desc_add_string (desc, from, strlen (from));
      JsonArray *to = json_node_get_array (node);
      for (guint k = 0; k < json_array_get_length (to); k++)
        {
          guint t = weft_task_index_lookup (&l->index, json_array_get_string_element (to, k),
                                            weft_paths_desc_task_name, desc);
          WeftDescTask *task = &desc->tasks[t];
          desc->refs[task->context + task->n_context++].name = name;
        }
    }
}

gboolean
weft_flow_validate_map_paths (WeftFlowLoad *l)
{
  WeftFlowDesc *desc = l->desc;

  if (!(desc->given & WEFT_DESC_MAP_PATHS))
    return TRUE;
  if (desc->map_paths == NULL)
    {
      WeftFlowPlace place = weft_paths_place ("map_paths", WEFT_PLACE_NO_ELEMENT);
      return weft_flow_load_fail (l, WEFT_ERROR_INVALID, &place,
                                  "must be an object: task name → the tasks that run after it");
    }
  g_autofree guint *preds = g_new0 (guint, desc->n_tasks);
  if (!weft_paths_check_alone (l) || !weft_paths_check_lists (l, preds))
    return FALSE;
  weft_paths_write_contexts (l, preds);
  return TRUE;
}
