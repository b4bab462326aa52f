/* weft-run-resume.c — tasks settled before a run starts: the outputs a
 * replay reuses, and what a resume finds of the stored run it continues
 * (docs/store.md: its ended tasks, its attempt and failure counts).
 *
 * Done when the run is made, on the caller's thread, so that a bad stored
 * run is refused before anything is kicked off. */
#include "weft-run-private.h"

gboolean
weft_run_preset (WeftRun *run, JsonObject *completed, GError **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *output;

  json_object_iter_init (&iter, completed);
  while (json_object_iter_next (&iter, &name, &output))
    {
      guint i = weft_flow_lookup_task (run->flow, name);
      if (i == WEFT_NO_TASK || !JSON_NODE_HOLDS_VALUE (output)
          || json_node_get_value_type (output) != G_TYPE_STRING)
        {
          g_set_error (error, WEFT_ERROR,
                       i == WEFT_NO_TASK ? WEFT_ERROR_NOT_FOUND : WEFT_ERROR_INVALID,
                       "%s: completed task \"%s\": %s", weft_flow_get_origin (run->flow), name,
                       i == WEFT_NO_TASK ? "the flow has no such task"
                                         : "its output must be a string");
          return FALSE;
        }
      WeftTaskState *st = &run->tasks[i];
      if (st->status == WEFT_STATUS_COMPLETED)
        continue;
      st->status = WEFT_STATUS_COMPLETED;
      st->output = g_strdup (json_node_get_string (output));
      run->n_finished++;
      guint n;
      const guint *dependants = weft_flow_get_dependants (run->flow, i, &n);
      for (guint k = 0; k < n; k++)
        run->tasks[dependants[k]].remaining--;
    }
  run->has_preset = TRUE;
  return TRUE;
}

/* A stored task's count, from a store's get_run object: `fallback` when
 * the store does not give it. */
static gboolean
weft_run_stored_count (JsonObject *task, const char *member, gint64 fallback, guint *count)
{
  JsonNode *node = json_object_get_member (task, member);
  gint64 value = fallback;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
        return FALSE;
      value = json_node_get_int (node);
    }
  if (value < 0 || value > G_MAXUINT / 2)
    return FALSE;
  *count = (guint) value;
  return TRUE;
}

static const char *
weft_run_stored_string (JsonObject *task, const char *member)
{
  JsonNode *node = json_object_get_member (task, member);

  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

/* The stored task's status, when it is an end: the stored run had settled
 * the task, and a resume keeps it so (completed ones come through
 * `completed`, with their outputs).  PENDING for the rest. */
static WeftStatus
weft_run_stored_end (JsonObject *task)
{
  static const WeftStatus ends[] = {
    WEFT_STATUS_FAILED, WEFT_STATUS_SKIPPED, WEFT_STATUS_CANCELLED,
  };
  const char *status = weft_run_stored_string (task, "status");

  for (guint k = 0; status != NULL && k < G_N_ELEMENTS (ends); k++)
    if (g_str_equal (status, weft_status_to_string (ends[k])))
      return ends[k];
  return WEFT_STATUS_PENDING;
}

/* A task the stored run had failed, skipped or cancelled stays so, with
 * no event (its end is stored): running it again would store a second
 * end, and a second task.skipped of what it had skipped.  A stored
 * failure fails the resumed run as it would have failed the dead one: the
 * earliest (`*first_failed_wall_us`) is the run's error. */
static void
weft_run_keep_ended (WeftRun *run, guint i, WeftStatus end, JsonObject *task,
                     gint64 *first_failed_wall_us)
{
  static const char *const defaults[] = {
    [WEFT_STATUS_FAILED] = "failed", [WEFT_STATUS_SKIPPED] = "skipped",
    [WEFT_STATUS_CANCELLED] = "cancelled",
  };
  static const WeftErrorCode codes[] = {
    [WEFT_STATUS_FAILED] = WEFT_ERROR_FAILED, [WEFT_STATUS_SKIPPED] = WEFT_ERROR_SKIPPED,
    [WEFT_STATUS_CANCELLED] = WEFT_ERROR_CANCELLED,
  };
  WeftTaskState *st = &run->tasks[i];
  const char *why = weft_run_stored_string (task, "error");
  JsonNode *wall = json_object_get_member (task, "finished_wall_us");
  gint64 finished = wall && JSON_NODE_HOLDS_VALUE (wall)
                    && json_node_get_value_type (wall) == G_TYPE_INT64
                    ? json_node_get_int (wall) : G_MAXINT64;

  if (why == NULL)
    why = defaults[end];
  st->status = end;
  st->error = g_error_new (WEFT_ERROR, codes[end], "%s", why);
  run->n_finished++;
  run->has_preset = TRUE;
  if (end == WEFT_STATUS_FAILED && (run->error == NULL || finished < *first_failed_wall_us))
    {
      g_clear_error (&run->error);
      run->error = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "task \"%s\" failed: %s",
                                weft_flow_get_task (run->flow, i)->name, why);
      *first_failed_wall_us = finished;
    }
}

/* The index of the stored task `k`, or WEFT_NO_TASK with `error` set. */
static guint
weft_run_stored_index (WeftRun *run, JsonArray *stored, guint k, JsonObject **task,
                       GError **error)
{
  JsonNode *node = json_array_get_element (stored, k);
  const char *name;
  guint i;

  *task = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  name = *task ? weft_run_stored_string (*task, "name") : NULL;
  if (name == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: stored task %u has no name", weft_flow_get_origin (run->flow), k);
      return WEFT_NO_TASK;
    }
  i = weft_flow_lookup_task (run->flow, name);
  if (i == WEFT_NO_TASK)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                 "%s: stored task \"%s\": the flow has no such task",
                 weft_flow_get_origin (run->flow), name);
  return i;
}

/* Those that ended (failed, skipped, cancelled) stay as they ended; the
 * others number their attempts after the stored ones, so that an attempt
 * in flight when the process died is run again as a new attempt, never as
 * a second event of the same one.  Only the attempts that failed count
 * against the task's retries; a store that does not say which did has all
 * of them counted. */
gboolean
weft_run_restore_stored (WeftRun *run, JsonArray *stored, GError **error)
{
  gint64 first_failed_wall_us = G_MAXINT64;

  for (guint k = 0; k < json_array_get_length (stored); k++)
    {
      JsonObject *task;
      guint i = weft_run_stored_index (run, stored, k, &task, error);
      guint attempts = 0, failures = 0;

      if (i == WEFT_NO_TASK)
        return FALSE;
      if (!weft_run_stored_count (task, "attempts", 0, &attempts)
          || !weft_run_stored_count (task, "failures", attempts, &failures))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s: stored task \"%s\": its attempts and failures must be counts",
                       weft_flow_get_origin (run->flow), weft_flow_get_task (run->flow, i)->name);
          return FALSE;
        }
      run->tasks[i].attempts = attempts;
      run->tasks[i].failures = MIN (failures, attempts);
      WeftStatus end = weft_run_stored_end (task);
      if (end != WEFT_STATUS_PENDING && run->tasks[i].status == WEFT_STATUS_PENDING)
        weft_run_keep_ended (run, i, end, task, &first_failed_wall_us);
    }
  return TRUE;
}

/* A task of it was cancelled, or skipped with nothing failed or skipped
 * above it, which only a cancel does (events are stored in order, so a
 * skip's cause is stored before it). */
gboolean
weft_run_was_cancelling (WeftRun *run)
{
  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    {
      WeftStatus status = run->tasks[i].status;
      guint n;
      const guint *deps = weft_flow_get_deps (run->flow, i, &n);
      gboolean cause_above = FALSE;

      if (status == WEFT_STATUS_CANCELLED)
        return TRUE;
      if (status != WEFT_STATUS_SKIPPED)
        continue;
      for (guint k = 0; k < n && !cause_above; k++)
        {
          WeftStatus dep = run->tasks[deps[k]].status;
          cause_above = dep == WEFT_STATUS_FAILED || dep == WEFT_STATUS_SKIPPED;
        }
      if (!cause_above)
        return TRUE;
    }
  return FALSE;
}
