/* weft-run.c — the scheduler: one run of a flow, driven on the engine loop.
 *
 * Nothing here takes a lock: every function below weft_run_new() runs on
 * the engine loop thread.  A task starts the moment its own dependencies
 * are done; agents hand attempts back through the engine's inbox. */
#include "weft-private.h"

#include <string.h>

#define WEFT_RETRY_MAX_DELAY_MS 60000

static void weft_run_start_task (WeftRun *run, guint i);

/* ---- creation (any thread) ------------------------------------------------ */

static JsonObject *
weft_run_merge_inputs (WeftFlow *flow, JsonObject *given)
{
  JsonObject *merged = json_object_new ();
  JsonObject *sources[] = { flow->default_inputs, given };

  for (guint s = 0; s < G_N_ELEMENTS (sources); s++)
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *value;
      if (sources[s] == NULL)
        continue;
      json_object_iter_init (&iter, sources[s]);
      while (json_object_iter_next (&iter, &key, &value))
        json_object_set_member (merged, key, json_node_copy (value));
    }
  return merged;
}

/* A random (version 4) UUID.  g_uuid_string_random() formats through
 * printf, which was a tenth of the cost of kicking off a small run. */
static char *
weft_run_make_id (void)
{
  static const char hex[] = "0123456789abcdef";
  guint8 bytes[16];
  char *id = g_malloc (37);
  char *p = id;

  for (guint i = 0; i < 16; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (bytes + i, &r, 4);
    }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  for (guint i = 0; i < 16; i++)
    {
      if (i == 4 || i == 6 || i == 8 || i == 10)
        *p++ = '-';
      *p++ = hex[bytes[i] >> 4];
      *p++ = hex[bytes[i] & 0xf];
    }
  *p = '\0';
  return id;
}

/* Settles the tasks the caller says are done: their outputs are taken as
 * they are, and their dependants no longer wait for them. */
static gboolean
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
                       "%s: completed task \"%s\": %s", run->flow->origin, name,
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

/* The stored task's status, when it is an end: the stored run had settled
 * the task, and a resume keeps it so (completed ones come through
 * `completed`, with their outputs).  PENDING for the rest. */
static WeftStatus
weft_run_stored_end (JsonObject *task)
{
  static const WeftStatus ends[] = {
    WEFT_STATUS_FAILED, WEFT_STATUS_SKIPPED, WEFT_STATUS_CANCELLED,
  };
  JsonNode *node = json_object_get_member (task, "status");
  const char *status = node && JSON_NODE_HOLDS_VALUE (node)
                       && json_node_get_value_type (node) == G_TYPE_STRING
                       ? json_node_get_string (node) : NULL;

  for (guint k = 0; status != NULL && k < G_N_ELEMENTS (ends); k++)
    if (g_str_equal (status, weft_status_to_string (ends[k])))
      return ends[k];
  return WEFT_STATUS_PENDING;
}

static const char *
weft_run_stored_string (JsonObject *task, const char *member)
{
  JsonNode *node = json_object_get_member (task, member);

  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
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
                                run->flow->tasks[i].name, why);
      *first_failed_wall_us = finished;
    }
}

/* A resumed run goes on from the stored one's tasks.  Those that ended
 * (failed, skipped, cancelled) stay as they ended; the others number
 * their attempts after the stored ones, so that an attempt in flight
 * when the process died is run again as a new attempt, never as a second
 * event of the same one.  Only the attempts that failed count against
 * the task's retries; a store that does not say which did has all of
 * them counted. */
static gboolean
weft_run_restore_stored (WeftRun *run, JsonArray *stored, GError **error)
{
  gint64 first_failed_wall_us = G_MAXINT64;

  for (guint k = 0; k < json_array_get_length (stored); k++)
    {
      JsonNode *node = json_array_get_element (stored, k);
      JsonObject *task = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *name = task ? weft_run_stored_string (task, "name") : NULL;
      guint i = name ? weft_flow_lookup_task (run->flow, name) : WEFT_NO_TASK;
      guint attempts = 0, failures = 0;

      if (name == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s: stored task %u has no name", run->flow->origin, k);
          return FALSE;
        }
      if (i == WEFT_NO_TASK)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                       "%s: stored task \"%s\": the flow has no such task",
                       run->flow->origin, name);
          return FALSE;
        }
      if (!weft_run_stored_count (task, "attempts", 0, &attempts)
          || !weft_run_stored_count (task, "failures", attempts, &failures))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s: stored task \"%s\": its attempts and failures must be counts",
                       run->flow->origin, name);
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

static gboolean
weft_run_check_merged_inputs (WeftFlow *flow, JsonObject *merged, GError **error)
{
  for (guint i = 0; flow->input_names[i]; i++)
    if (!json_object_has_member (merged, flow->input_names[i]))
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                     "%s: missing input \"%s\" (the flow uses it in a task's description)",
                     flow->origin, flow->input_names[i]);
        return FALSE;
      }
  return TRUE;
}

gboolean
weft_flow_check_inputs (WeftFlow *flow, JsonObject *inputs, GError **error)
{
  g_autoptr(JsonObject) merged = weft_run_merge_inputs (flow, inputs);

  return weft_run_check_merged_inputs (flow, merged, error);
}

WeftRun *
weft_run_new (WeftFlow *flow, const WeftKickoffOptions *options, GError **error)
{
  g_autoptr(JsonObject) merged = weft_run_merge_inputs (flow, options->inputs);

  if (!weft_run_check_merged_inputs (flow, merged, error))
    return NULL;

  WeftRun *run = g_new0 (WeftRun, 1);
  run->ref_count = 1;
  run->flow = weft_flow_ref (flow);
  run->engine = flow->engine;
  run->resumed = options->resume_run_id != NULL;
  run->id = run->resumed ? g_strdup (options->resume_run_id) : weft_run_make_id ();
  run->seq = options->resume_seq;
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), merged);
  run->inputs_json = json_to_string (node, FALSE);
  run->inputs = g_steal_pointer (&merged);
  run->tasks = g_new0 (WeftTaskState, flow->n_tasks);
  for (guint i = 0; i < flow->n_tasks; i++)
    weft_flow_get_deps (flow, i, &run->tasks[i].remaining);
  run->status = WEFT_STATUS_PENDING;
  run->created_wall_us = g_get_real_time ();
  if ((options->completed && !weft_run_preset (run, options->completed, error))
      || (run->resumed && options->stored_tasks
          && !weft_run_restore_stored (run, options->stored_tasks, error))
      || (run->resumed && !weft_flow_claim_run (flow, run->id, error)))
    {
      weft_run_unref (run);
      return NULL;
    }
  return run;
}

WeftRun *
weft_run_ref (WeftRun *run)
{
  g_atomic_int_inc (&run->ref_count);
  return run;
}

void
weft_run_unref (WeftRun *run)
{
  if (run == NULL || !g_atomic_int_dec_and_test (&run->ref_count))
    return;
  for (guint i = 0; i < run->flow->n_tasks; i++)
    {
      WeftTaskState *st = &run->tasks[i];
      g_free (st->output);
      g_free (st->description);
      g_free (st->prompt);
      g_clear_error (&st->error);
      g_warn_if_fail (st->timer == NULL);
    }
  g_free (run->tasks);
  json_object_unref (run->inputs);
  g_free (run->inputs_json);
  g_free (run->id);
  g_clear_error (&run->error);
  g_clear_object (&run->cancellable);
  weft_flow_unref (run->flow);
  g_free (run);
}

/* ---- events ----------------------------------------------------------------- */

static gboolean
weft_run_has_subscribers (WeftRun *run, guint task)
{
  guint task_callbacks = 0;

  if (task != G_MAXUINT)
    weft_flow_get_task_callbacks (run->flow, task, &task_callbacks);
  return run->flow->flow_callbacks->len > 0 || task_callbacks > 0
      || weft_engine_has_listeners (run->engine);
}

/* When the state change an event reports was recorded, so that the event
 * does not read the clock again; 0 (now) for those with no time of their
 * own. */
static gint64
weft_run_event_time (WeftRun *run, WeftEventType type, guint task)
{
  switch (type)
    {
    case WEFT_EVENT_RUN_STARTED:
    case WEFT_EVENT_RUN_RESUMED:
      return run->started_us;
    case WEFT_EVENT_RUN_COMPLETED:
    case WEFT_EVENT_RUN_FAILED:
    case WEFT_EVENT_RUN_CANCELLED:
      return run->finished_us;
    case WEFT_EVENT_TASK_STARTED:
      return run->tasks[task].attempt_started_us;
    case WEFT_EVENT_TASK_COMPLETED:
    case WEFT_EVENT_TASK_FAILED:
    case WEFT_EVENT_TASK_CANCELLED:
    case WEFT_EVENT_TASK_SKIPPED:
      return run->tasks[task].finished_us;
    case WEFT_EVENT_TASK_STEP:
    case WEFT_EVENT_TASK_RETRYING:
    default:
      return 0;
    }
}

/* Numbers the event; returns NULL when nobody listens, so that a run
 * without callbacks builds no events at all. */
static WeftEvent *
weft_run_event_new (WeftRun *run, WeftEventType type, guint task, guint attempt,
                    const char *output, const char *error, const char *step_kind,
                    gint64 duration_us)
{
  guint64 seq = ++run->seq;

  if (!weft_run_has_subscribers (run, task))
    return NULL;
  WeftEventFields f = {
    .type = type, .seq = seq, .run_id = run->id, .flow = run->flow->name,
    .task = task != G_MAXUINT ? run->flow->tasks[task].name : NULL,
    .attempt = attempt, .output = output, .error = error, .step_kind = step_kind,
    .duration_us = duration_us, .mono_us = weft_run_event_time (run, type, task),
  };
  return weft_event_new (&f);
}

static void
weft_run_dispatch (WeftRun *run, WeftEvent *e, guint task)
{
  GPtrArray *cbs = run->flow->flow_callbacks;

  for (guint i = 0; i < cbs->len; i++)
    if (weft_callback_instance_push (cbs->pdata[i], e))
      weft_engine_mark_pending (run->engine, cbs->pdata[i]);
  if (task != G_MAXUINT)
    {
      guint n;
      WeftCallbackInstance * const *task_cbs = weft_flow_get_task_callbacks (run->flow, task, &n);
      for (guint i = 0; i < n; i++)
        if (weft_callback_instance_push (task_cbs[i], e))
          weft_engine_mark_pending (run->engine, task_cbs[i]);
    }
  if (weft_engine_has_listeners (run->engine))
    weft_engine_notify_listeners (run->engine, e);
  weft_event_unref (e);
}

static void
weft_run_emit (WeftRun *run, WeftEventType type, guint task, const char *output,
               const char *error, gint64 duration_us)
{
  WeftEvent *e = weft_run_event_new (run, type, task,
                                     task != G_MAXUINT ? run->tasks[task].attempts : 0,
                                     output, error, NULL, duration_us);

  if (e)
    weft_run_dispatch (run, e, task);
}

/* ---- finishing ---------------------------------------------------------------- */

static void
weft_run_finish (WeftRun *run, WeftStatus status)
{
  run->status = status;
  run->finished_us = g_get_monotonic_time ();
  gint64 duration = run->finished_us - run->started_us;

  if (status == WEFT_STATUS_COMPLETED)
    {
      if (weft_run_has_subscribers (run, G_MAXUINT))
        {
          g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
          g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), outputs);
          g_autofree char *text = json_to_string (node, FALSE);
          weft_run_emit (run, WEFT_EVENT_RUN_COMPLETED, G_MAXUINT, text, NULL, duration);
        }
      else
        run->seq++;
    }
  else
    weft_run_emit (run, status == WEFT_STATUS_CANCELLED ? WEFT_EVENT_RUN_CANCELLED
                                                         : WEFT_EVENT_RUN_FAILED,
                   G_MAXUINT, NULL, run->error->message, duration);

  if (run->cancel_handler)
    g_cancellable_disconnect (run->cancellable, run->cancel_handler);
  run->cancel_handler = 0;

  weft_engine_run_finished (run->engine, run);
}

void
weft_run_return (WeftRun *run)
{
  if (run->done)
    run->done (run, run->done_data);
  else
    weft_run_unref (run);
}

static void
weft_run_maybe_finish (WeftRun *run)
{
  if (run->n_finished < run->flow->n_tasks || run->status != WEFT_STATUS_RUNNING)
    return;
  weft_run_finish (run, run->error ? WEFT_STATUS_FAILED : WEFT_STATUS_COMPLETED);
}

static void
weft_run_clear_timer (WeftTaskState *st)
{
  if (st->timer == NULL)
    return;
  g_source_destroy (st->timer);
  g_clear_pointer (&st->timer, g_source_unref);
}

static void
weft_run_settle (WeftRun *run, guint i, WeftStatus status, GError *error)
{
  WeftTaskState *st = &run->tasks[i];

  st->status = status;
  st->finished_us = g_get_monotonic_time ();
  g_clear_error (&st->error);
  st->error = error;
  run->n_finished++;
}

/* Marks every task downstream of `failed` skipped.  Iterative: a failure at
 * the head of a 100,000-task chain must not recurse 100,000 frames deep. */
static void
weft_run_skip_dependants (WeftRun *run, guint failed, const char *why)
{
  g_autoptr(GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint));

  g_array_append_val (stack, failed);
  while (stack->len > 0)
    {
      guint j = g_array_index (stack, guint, stack->len - 1);
      g_array_set_size (stack, stack->len - 1);
      guint n;
      const guint *dependants = weft_flow_get_dependants (run->flow, j, &n);
      for (guint k = 0; k < n; k++)
        {
          guint d = dependants[k];
          if (run->tasks[d].status != WEFT_STATUS_PENDING)
            continue;
          weft_run_settle (run, d, WEFT_STATUS_SKIPPED,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_SKIPPED, "%s", why));
          weft_run_emit (run, WEFT_EVENT_TASK_SKIPPED, d, NULL, why, 0);
          g_array_append_val (stack, d);
        }
    }
}

static void
weft_run_fail_task (WeftRun *run, guint i, GError *error)
{
  WeftTaskState *st = &run->tasks[i];
  const char *name = run->flow->tasks[i].name;

  weft_run_settle (run, i, WEFT_STATUS_FAILED, error);
  weft_run_emit (run, WEFT_EVENT_TASK_FAILED, i, NULL, error->message,
                 st->finished_us - st->attempt_started_us);
  if (run->error == NULL)
    run->error = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "task \"%s\" failed: %s",
                              name, error->message);
  g_autofree char *why = g_strdup_printf ("task \"%s\" failed", name);
  weft_run_skip_dependants (run, i, why);
  weft_run_maybe_finish (run);
}

static void
weft_run_complete_task (WeftRun *run, guint i, char *output)
{
  WeftTaskState *st = &run->tasks[i];
  guint n;
  const guint *dependants = weft_flow_get_dependants (run->flow, i, &n);

  st->output = output;
  weft_run_settle (run, i, WEFT_STATUS_COMPLETED, NULL);
  weft_run_emit (run, WEFT_EVENT_TASK_COMPLETED, i, output, NULL,
                 st->finished_us - st->attempt_started_us);
  for (guint k = 0; k < n; k++)
    {
      guint d = dependants[k];
      if (--run->tasks[d].remaining == 0 && run->tasks[d].status == WEFT_STATUS_PENDING)
        weft_run_start_task (run, d);
    }
  weft_run_maybe_finish (run);
}

/* ---- retries and timeouts ------------------------------------------------------ */

typedef struct {
  WeftRun *run;
  guint index;
} WeftRetry;

static gboolean
weft_run_on_retry (gpointer data)
{
  WeftRetry *r = data;
  WeftTaskState *st = &r->run->tasks[r->index];

  g_clear_pointer (&st->timer, g_source_unref);
  weft_run_start_task (r->run, r->index);
  weft_engine_end_batch (r->run->engine);
  return G_SOURCE_REMOVE;
}

/* Exponential backoff with jitter: uniform in [½, 1] × base × 2^(n-1), so
 * that many tasks failing together do not retry together. */
static guint
weft_retry_delay_ms (guint base_ms, guint failed_attempts)
{
  double full = (double) base_ms * (double) (1u << MIN (failed_attempts - 1, 20u));

  full = MIN (full, (double) WEFT_RETRY_MAX_DELAY_MS);
  return (guint) (full * g_random_double_range (0.5, 1.0));
}

static void
weft_run_attempt_failed (WeftRun *run, guint i, GError *error)
{
  WeftTaskState *st = &run->tasks[i];
  WeftFlowTask *ft = &run->flow->tasks[i];

  if (++st->failures > ft->retries)
    {
      weft_run_fail_task (run, i, error);
      return;
    }
  weft_run_emit (run, WEFT_EVENT_TASK_RETRYING, i, NULL, error->message, 0);
  g_error_free (error);

  WeftRetry *r = g_new (WeftRetry, 1);
  r->run = run;
  r->index = i;
  st->timer = g_timeout_source_new (weft_retry_delay_ms (ft->retry_delay_ms, st->failures));
  g_source_set_callback (st->timer, weft_run_on_retry, r, g_free);
  g_source_attach (st->timer, weft_engine_get_main_context (run->engine));
}

static gboolean
weft_run_on_timeout (gpointer data)
{
  WeftTask *task = data;
  WeftRun *run = task->run;
  WeftTaskState *st = &run->tasks[task->index];
  WeftFlowTask *ft = &run->flow->tasks[task->index];

  g_clear_pointer (&st->timer, g_source_unref);
  /* The attempt is abandoned: its late return will find it no longer current. */
  st->current = NULL;
  weft_task_cancel (task);
  weft_run_attempt_failed (run, task->index,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_TIMEOUT, "timed out after %.3g s",
                                        (double) ft->timeout_us / G_USEC_PER_SEC));
  weft_engine_end_batch (run->engine);
  return G_SOURCE_REMOVE;
}

/* ---- starting tasks ---------------------------------------------------------- */

typedef struct {
  JsonObject *inputs;
  GPtrArray *scratch;
} WeftInputLookup;

static const char *
weft_run_lookup_input (const char *key, gpointer data)
{
  WeftInputLookup *l = data;
  JsonNode *node = json_object_get_member (l->inputs, key);

  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  char *text = json_to_string (node, FALSE);
  g_ptr_array_add (l->scratch, text);
  return text;
}

/* Fills the task's description (and expected output) from the inputs,
 * once per run: retries reuse it. */
static gboolean
weft_run_render_task (WeftRun *run, WeftFlowTask *ft, WeftTaskState *st, GError **error)
{
  g_autoptr(GPtrArray) scratch = g_ptr_array_new_with_free_func (g_free);
  WeftInputLookup l = { run->inputs, scratch };
  g_autofree char *expected = NULL;

  st->description = weft_template_render (ft->description, weft_run_lookup_input, &l, error);
  if (st->description == NULL)
    return FALSE;
  if (ft->expected_output == NULL)
    {
      st->prompt = g_strdup (st->description);
      return TRUE;
    }
  expected = weft_template_render (ft->expected_output, weft_run_lookup_input, &l, error);
  if (expected == NULL)
    return FALSE;
  st->prompt = g_strdup_printf ("%s\n\nExpected output: %s", st->description, expected);
  return TRUE;
}

static void
weft_run_start_task (WeftRun *run, guint i)
{
  WeftTaskState *st = &run->tasks[i];
  WeftFlowTask *ft = &run->flow->tasks[i];
  const char *description = ft->description;
  const char *prompt = ft->static_prompt;

  if (ft->templated)
    {
      g_autoptr(GError) error = NULL;
      if (st->prompt == NULL && !weft_run_render_task (run, ft, st, &error))
        {
          st->status = WEFT_STATUS_RUNNING;
          weft_run_fail_task (run, i, g_steal_pointer (&error));
          return;
        }
      description = st->description;
      prompt = st->prompt;
    }

  st->status = WEFT_STATUS_RUNNING;
  st->attempts++;
  st->attempt_started_us = g_get_monotonic_time ();
  /* The first start in this process (a resumed task's number may be past 1). */
  if (st->started_us == 0)
    st->started_us = st->attempt_started_us;

  WeftTask *task = weft_task_new (run, i, st->attempts, description, prompt);
  st->current = task;
  weft_run_emit (run, WEFT_EVENT_TASK_STARTED, i, NULL, NULL, 0);

  if (ft->timeout_us > 0)
    {
      st->timer = g_timeout_source_new ((guint) MAX (1, ft->timeout_us / 1000));
      g_source_set_callback (st->timer, weft_run_on_timeout, task, NULL);
      g_source_attach (st->timer, weft_engine_get_main_context (run->engine));
    }

  weft_engine_attempt_started (run->engine);
  const WeftAgentClass *agent = ft->agent->plugin->desc->agent;
  if (agent->flags & WEFT_AGENT_ASYNC)
    agent->run (ft->agent->instance, task);
  else
    weft_engine_run_blocking (run->engine, task);
}

/* ---- the engine loop's entry points -------------------------------------------- */

static void
weft_run_on_cancelled (GCancellable *cancellable, gpointer data)
{
  WeftRun *run = data;
  WeftRunMsg *m = g_new0 (WeftRunMsg, 1);

  /* Any thread: the run is cancelled on the loop, like everything else. */
  m->msg.type = WEFT_MSG_CANCEL_RUN;
  m->run = weft_run_ref (run);
  weft_engine_post (run->engine, &m->msg);
}

/* run.started (or run.resumed) with what a store needs to run it again;
 * a new run that reuses outputs announces each as completed, attempt 0. */
static void
weft_run_emit_start (WeftRun *run)
{
  WeftEvent *e = weft_run_event_new (run, run->resumed ? WEFT_EVENT_RUN_RESUMED
                                                       : WEFT_EVENT_RUN_STARTED, G_MAXUINT,
                                     0, NULL, NULL, NULL, 0);
  if (e)
    {
      e->inputs = g_strdup (run->inputs_json);
      e->flow_source = g_bytes_ref (run->flow->source);
      weft_run_dispatch (run, e, G_MAXUINT);
    }
  if (run->resumed || !run->has_preset)
    return;
  for (guint i = 0; i < run->flow->n_tasks; i++)
    if (run->tasks[i].status == WEFT_STATUS_COMPLETED)
      weft_run_emit (run, WEFT_EVENT_TASK_COMPLETED, i, run->tasks[i].output, NULL, 0);
}

/* Whether the stored run a resume continues was being cancelled when its
 * process died: a task of it was cancelled, or skipped with nothing
 * failed or skipped above it, which only a cancel does (events are
 * stored in order, so a skip's cause is stored before it). */
static gboolean
weft_run_was_cancelling (WeftRun *run)
{
  for (guint i = 0; i < run->flow->n_tasks; i++)
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

/* What a kept failure or skip reaches is skipped, once: the stored run
 * skipped most of it already (those are kept), the rest had not been
 * stored when its process died. */
static void
weft_run_skip_after_kept (WeftRun *run)
{
  for (guint i = 0; i < run->flow->n_tasks; i++)
    {
      WeftTaskState *st = &run->tasks[i];
      g_autofree char *failed = NULL;

      if (st->status == WEFT_STATUS_FAILED)
        failed = g_strdup_printf ("task \"%s\" failed", run->flow->tasks[i].name);
      else if (st->status != WEFT_STATUS_SKIPPED)
        continue;
      weft_run_skip_dependants (run, i, failed ? failed : st->error->message);
    }
}

void
weft_run_start (WeftRun *run)
{
  WeftFlow *flow = run->flow;

  weft_engine_run_started (run->engine, run);
  run->status = WEFT_STATUS_RUNNING;
  run->started_us = g_get_monotonic_time ();
  run->started_wall_us = weft_mono_to_wall_us (run->started_us);
  weft_run_emit_start (run);

  /* Cancelled before it reached the loop: it starts nothing. */
  if (g_cancellable_is_cancelled (run->cancellable))
    {
      weft_run_cancel (run);
      return;
    }
  if (run->cancellable)
    run->cancel_handler = g_cancellable_connect (run->cancellable,
                                                 G_CALLBACK (weft_run_on_cancelled), run, NULL);
  /* A resume ends the run the dead process was running as that process
   * would have: a cancel it was carrying out is carried out. */
  if (run->resumed && weft_run_was_cancelling (run))
    {
      weft_run_cancel (run);
      return;
    }
  if (run->resumed)
    weft_run_skip_after_kept (run);
  guint n_roots;
  const guint *roots = weft_flow_get_roots (flow, &n_roots);
  if (!run->has_preset)
    for (guint k = 0; k < n_roots && run->status == WEFT_STATUS_RUNNING; k++)
      weft_run_start_task (run, roots[k]);
  else
    /* Settled tasks released some dependants: whatever waits for nothing
     * now starts, in flow order. */
    for (guint i = 0; i < flow->n_tasks && run->status == WEFT_STATUS_RUNNING; i++)
      if (run->tasks[i].status == WEFT_STATUS_PENDING && run->tasks[i].remaining == 0)
        weft_run_start_task (run, i);
  weft_run_maybe_finish (run);
}

void
weft_run_cancel (WeftRun *run)
{
  if (run->status != WEFT_STATUS_RUNNING)
    return;

  for (guint i = 0; i < run->flow->n_tasks; i++)
    {
      WeftTaskState *st = &run->tasks[i];
      if (st->status == WEFT_STATUS_RUNNING)
        {
          weft_run_clear_timer (st);
          if (st->current)
            weft_task_cancel (g_steal_pointer (&st->current));
          weft_run_settle (run, i, WEFT_STATUS_CANCELLED,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED, "cancelled"));
          weft_run_emit (run, WEFT_EVENT_TASK_CANCELLED, i, NULL, "cancelled",
                         st->finished_us - st->attempt_started_us);
        }
      else if (st->status == WEFT_STATUS_PENDING && st->attempts > 0)
        {
          /* A resumed run's task whose stored attempt was in flight, not
           * started again yet: that attempt is the one cancelled.  How
           * long it ran, its dead process knew. */
          weft_run_settle (run, i, WEFT_STATUS_CANCELLED,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED, "cancelled"));
          weft_run_emit (run, WEFT_EVENT_TASK_CANCELLED, i, NULL, "cancelled", 0);
        }
      else if (st->status == WEFT_STATUS_PENDING)
        {
          weft_run_settle (run, i, WEFT_STATUS_SKIPPED,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_SKIPPED, "run cancelled"));
          weft_run_emit (run, WEFT_EVENT_TASK_SKIPPED, i, NULL, "run cancelled", 0);
        }
    }
  if (run->error == NULL)
    run->error = g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED, "run cancelled");
  weft_run_finish (run, WEFT_STATUS_CANCELLED);
}

void
weft_run_handle_return (WeftTask *task)
{
  WeftRun *run = task->run;
  WeftTaskState *st = &run->tasks[task->index];

  if (st->current == task)
    {
      st->current = NULL;
      weft_run_clear_timer (st);
      if (task->error)
        weft_run_attempt_failed (run, task->index, g_steal_pointer (&task->error));
      else
        weft_run_complete_task (run, task->index, g_steal_pointer (&task->output));
    }
  /* Else a late return of a timed-out or cancelled attempt: dropped.  The
   * run stays alive meanwhile: it is live, or finished and not yet returned. */
  weft_task_unref (task);
}

void
weft_run_handle_step (WeftTask *task, const char *kind, const char *text)
{
  WeftRun *run = task->run;
  WeftEvent *e;

  if (run->tasks[task->index].current != task)
    return;
  e = weft_run_event_new (run, WEFT_EVENT_TASK_STEP, task->index, task->attempt, text, NULL,
                          kind, 0);
  if (e)
    weft_run_dispatch (run, e, task->index);
}

/* ---- kickoff ----------------------------------------------------------------------- */

void
weft_run_kickoff (WeftRun *run, GCancellable *cancellable, WeftRunDoneFunc done,
                  gpointer done_data)
{
  g_return_if_fail (run->status == WEFT_STATUS_PENDING && run->done == NULL);

  g_atomic_int_set (&run->flow->kicked_off, 1);
  run->done = done;
  run->done_data = done_data;
  run->cancellable = cancellable ? g_object_ref (cancellable) : NULL;

  WeftRunMsg *m = g_new0 (WeftRunMsg, 1);
  m->msg.type = WEFT_MSG_KICKOFF;
  m->run = weft_run_ref (run);
  weft_engine_post (run->engine, &m->msg);
}

/* Marks our GTasks (ISO C cannot turn a function into a data pointer). */
static char weft_kickoff_tag;

static void
weft_run_return_gtask (WeftRun *run, gpointer data)
{
  GTask *gtask = data;

  g_task_return_pointer (gtask, run, (GDestroyNotify) weft_run_unref);
  g_object_unref (gtask);
}

void
weft_flow_kickoff_with_options_async (WeftFlow *flow, const WeftKickoffOptions *options,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  /* The GTask gets no cancellable: a cancelled run still returns its result. */
  GTask *gtask = g_task_new (NULL, NULL, callback, user_data);

  g_return_if_fail (flow != NULL && options != NULL);
  g_task_set_source_tag (gtask, &weft_kickoff_tag);

  g_autoptr(WeftRun) run = weft_run_new (flow, options, &error);
  if (run == NULL)
    {
      g_atomic_int_set (&flow->kicked_off, 1);
      g_task_return_error (gtask, g_steal_pointer (&error));
      g_object_unref (gtask);
      return;
    }
  weft_run_kickoff (run, cancellable, weft_run_return_gtask, gtask);
}

void
weft_flow_kickoff_async (WeftFlow *flow, JsonObject *inputs, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  WeftKickoffOptions options = { .inputs = inputs };

  weft_flow_kickoff_with_options_async (flow, &options, cancellable, callback, user_data);
}

WeftRun *
weft_flow_kickoff_finish (WeftFlow *flow, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == &weft_kickoff_tag, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
weft_flow_kickoff_done (GObject *source, GAsyncResult *result, gpointer data)
{
  GAsyncResult **out = data;

  *out = g_object_ref (result);
}

WeftRun *
weft_flow_kickoff (WeftFlow *flow, JsonObject *inputs, GCancellable *cancellable,
                   GError **error)
{
  WeftKickoffOptions options = { .inputs = inputs };

  return weft_flow_kickoff_with_options (flow, &options, cancellable, error);
}

WeftRun *
weft_flow_kickoff_with_options (WeftFlow *flow, const WeftKickoffOptions *options,
                                GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (!weft_engine_is_loop_thread (flow->engine), NULL);

  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;

  g_main_context_push_thread_default (context);
  weft_flow_kickoff_with_options_async (flow, options, cancellable, weft_flow_kickoff_done,
                                        &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  return weft_flow_kickoff_finish (flow, result, error);
}

/* ---- results ------------------------------------------------------------------------ */

const char *
weft_status_to_string (WeftStatus status)
{
  static const char *const names[] = {
    "pending", "running", "completed", "failed", "skipped", "cancelled",
  };
  return (guint) status < G_N_ELEMENTS (names) ? names[status] : "unknown";
}

const char *weft_run_get_id (WeftRun *run) { return run->id; }
WeftFlow *weft_run_get_flow (WeftRun *run) { return run->flow; }
WeftStatus weft_run_get_status (WeftRun *run) { return run->status; }
const GError *weft_run_get_error (WeftRun *run) { return run->error; }

gint64
weft_run_get_duration_us (WeftRun *run)
{
  return run->finished_us ? run->finished_us - run->started_us : 0;
}

static WeftTaskState *
weft_run_task_state (WeftRun *run, guint i)
{
  g_return_val_if_fail (i < run->flow->n_tasks, NULL);
  return &run->tasks[i];
}

WeftStatus
weft_run_get_task_status (WeftRun *run, guint i)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  return st ? st->status : WEFT_STATUS_PENDING;
}

const char *
weft_run_get_task_output (WeftRun *run, guint i)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  return st ? st->output : NULL;
}

const GError *
weft_run_get_task_error (WeftRun *run, guint i)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  return st ? st->error : NULL;
}

guint
weft_run_get_task_attempts (WeftRun *run, guint i)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  return st ? st->attempts : 0;
}

gint64
weft_run_get_task_started_us (WeftRun *run, guint i)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  return st ? st->started_us : 0;
}

gint64
weft_run_get_task_finished_us (WeftRun *run, guint i)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  return st && st->started_us ? st->finished_us : 0;
}

JsonObject *
weft_run_get_outputs (WeftRun *run)
{
  JsonObject *outputs = json_object_new ();

  for (guint i = 0; i < run->flow->n_tasks; i++)
    {
      WeftFlowTask *ft = &run->flow->tasks[i];
      guint n;
      weft_flow_get_dependants (run->flow, i, &n);
      if (n == 0 && !ft->exclude
          && run->tasks[i].status == WEFT_STATUS_COMPLETED)
        json_object_set_string_member (outputs, ft->name, run->tasks[i].output);
    }
  return outputs;
}

static void
weft_json_add_string_or_null (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
weft_run_task_to_json (WeftRun *run, guint i, JsonBuilder *b)
{
  WeftTaskState *st = &run->tasks[i];

  json_builder_begin_object (b);
  weft_json_add_string_or_null (b, "name", run->flow->tasks[i].name);
  weft_json_add_string_or_null (b, "status", weft_status_to_string (st->status));
  weft_json_add_string_or_null (b, "output", st->output);
  weft_json_add_string_or_null (b, "error", st->error ? st->error->message : NULL);
  json_builder_set_member_name (b, "attempts");
  json_builder_add_int_value (b, st->attempts);
  json_builder_set_member_name (b, "started_us");
  json_builder_add_int_value (b, st->started_us);
  json_builder_set_member_name (b, "finished_us");
  json_builder_add_int_value (b, st->started_us ? st->finished_us : 0);
  json_builder_set_member_name (b, "duration_us");
  json_builder_add_int_value (b, st->started_us && st->finished_us
                                 ? st->finished_us - st->started_us : 0);
  json_builder_end_object (b);
}

JsonNode *
weft_run_to_json (WeftRun *run)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);

  json_builder_begin_object (b);
  weft_json_add_string_or_null (b, "run_id", run->id);
  weft_json_add_string_or_null (b, "flow", run->flow->name);
  weft_json_add_string_or_null (b, "status", weft_status_to_string (run->status));
  weft_json_add_string_or_null (b, "error", run->error ? run->error->message : NULL);
  json_builder_set_member_name (b, "duration_us");
  json_builder_add_int_value (b, weft_run_get_duration_us (run));
  json_builder_set_member_name (b, "outputs");
  json_builder_add_value (b, json_node_init_object (json_node_alloc (), outputs));
  json_builder_set_member_name (b, "tasks");
  json_builder_begin_array (b);
  for (guint i = 0; i < run->flow->n_tasks; i++)
    weft_run_task_to_json (run, i, b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
