/* weft-run-json.c — the one JSON shape of a run and of its tasks.
 *
 * Written here only, and read by everyone who shows a run in memory: the
 * CLI (`weft run --json`), the HTTP server (GET /v1/runs, /v1/runs/{id})
 * and embedders (weft_run_to_json).  A store gives a stored run in the
 * same shape (docs/store.md), less what only memory knows (outputs, task
 * durations, created_wall_us).  Times are wall-clock µs since the Unix
 * epoch, null until they happen; durations are µs; usage is the tokens
 * and cost the agents reported, null when none did.  What a replay or a
 * resume reuses is read back from that shape here too. */
#include "weft-run-private.h"

/* Its inputs as a new object: the run's own is the loop's (json-glib's
 * reference counts are not atomic), so the caller gets a copy. */
static JsonObject *
weft_run_copy_inputs (WeftRun *run)
{
  JsonObject *copy = json_object_new ();
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  json_object_iter_init (&iter, run->inputs);
  while (json_object_iter_next (&iter, &key, &value))
    json_object_set_member (copy, key, json_node_copy (value));
  return copy;
}

/* "usage": tokens and cost (weft-usage.c), or null when none was reported. */
static void
weft_run_set_usage (JsonObject *o, const WeftUsage *usage)
{
  if (usage->reported)
    json_object_set_member (o, "usage", weft_usage_to_json (usage));
  else
    json_object_set_null_member (o, "usage");
}

static JsonObject *
weft_run_task_to_json (WeftRun *run, guint i)
{
  WeftTaskState *st = &run->tasks[i];
  gboolean ran = st->started_us != 0;
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "name", weft_flow_get_task (run->flow, i)->name);
  json_object_set_string_member (o, "status", weft_status_to_string (st->status));
  json_object_set_string_member (o, "output", st->output);
  json_object_set_string_member (o, "error", st->error ? st->error->message : NULL);
  json_object_set_int_member (o, "attempts", st->attempts);
  weft_json_set_time (o, "started_wall_us", weft_mono_to_wall_us (st->started_us));
  weft_json_set_time (o, "finished_wall_us", ran ? weft_mono_to_wall_us (st->finished_us) : 0);
  json_object_set_int_member (o, "duration_us",
                              ran && st->finished_us ? st->finished_us - st->started_us : 0);
  weft_run_set_usage (o, &st->usage);
  return o;
}

JsonObject *
weft_run_to_json_object (WeftRun *run, WeftRunJsonDetail detail)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "run_id", run->id);
  json_object_set_string_member (o, "flow", weft_flow_get_name (run->flow));
  json_object_set_string_member (o, "status", weft_status_to_string (run->status));
  json_object_set_string_member (o, "error", run->error ? run->error->message : NULL);
  json_object_set_int_member (o, "created_wall_us", run->created_wall_us);
  weft_json_set_time (o, "started_wall_us", run->started_wall_us);
  weft_json_set_time (o, "finished_wall_us", run->finished_wall_us);
  json_object_set_int_member (o, "duration_us", weft_run_get_duration_us (run));
  WeftUsage usage;
  weft_run_sum_usage (run, &usage);
  weft_run_set_usage (o, &usage);
  if (detail == WEFT_RUN_JSON_SUMMARY)
    return o;
  json_object_set_object_member (o, "inputs", weft_run_copy_inputs (run));
  json_object_set_object_member (o, "outputs", weft_run_get_outputs (run));
  JsonArray *tasks = json_array_new ();
  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    json_array_add_object_element (tasks, weft_run_task_to_json (run, i));
  json_object_set_array_member (o, "tasks", tasks);
  return o;
}

JsonNode *
weft_run_to_json (WeftRun *run)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, weft_run_to_json_object (run, WEFT_RUN_JSON_FULL));
  return node;
}

/* A string member, or NULL when absent or of another type. */
static const char *
weft_run_json_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

JsonObject *
weft_run_json_get_completed (JsonObject *run, const char *const *except)
{
  JsonObject *completed = json_object_new ();
  JsonNode *node = json_object_get_member (run, "tasks");
  JsonArray *tasks = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; tasks != NULL && i < json_array_get_length (tasks); i++)
    {
      JsonNode *element = json_array_get_element (tasks, i);
      JsonObject *task = JSON_NODE_HOLDS_OBJECT (element) ? json_node_get_object (element) : NULL;
      const char *name = task ? weft_run_json_string (task, "name") : NULL;
      const char *output = task ? weft_run_json_string (task, "output") : NULL;

      if (name == NULL || output == NULL
          || g_strcmp0 (weft_run_json_string (task, "status"), "completed") != 0
          || (except != NULL && g_strv_contains (except, name)))
        continue;
      json_object_set_string_member (completed, name, output);
    }
  return completed;
}
