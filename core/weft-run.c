/* weft-run.c — a run's state: made (inputs merged and checked, an id),
 * referenced, and read through weft.h's getters.
 *
 * The bottom of the run's files (weft-run-private.h maps them): nothing
 * here starts, schedules or publishes anything. */
#include "weft-run-private.h"

#include <string.h>

/* ---- inputs ------------------------------------------------------------------ */

static JsonObject *
weft_run_merge_inputs (WeftFlow *flow, JsonObject *given)
{
  JsonObject *merged = json_object_new ();
  JsonObject *sources[] = { weft_flow_get_default_inputs (flow), given };

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

/* What is wrong is said here; how to give the input (a flag, a request
 * body) is for whoever shows the error to say. */
static gboolean
weft_run_check_merged_inputs (WeftFlow *flow, JsonObject *merged, GError **error)
{
  const char * const *names = weft_flow_get_input_names (flow);

  for (guint i = 0; names[i]; i++)
    if (!json_object_has_member (merged, names[i]))
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                     "%s: missing input \"%s\" (the flow uses it in a task's description)",
                     weft_flow_get_origin (flow), names[i]);
        return FALSE;
      }
  return TRUE;
}

static gboolean
weft_run_input_is_known (WeftFlow *flow, const char *name)
{
  JsonObject *defaults = weft_flow_get_default_inputs (flow);

  return g_strv_contains (weft_flow_get_input_names (flow), name)
      || (defaults && json_object_has_member (defaults, name));
}

/* An input that no description uses and that has no default would be
 * ignored: a misspelt name, refused with what it may have meant.  Checked
 * after the missing ones, so that a flow that needs "topic" and was given
 * "topc" says first what it needs. */
static gboolean
weft_run_check_given_inputs (WeftFlow *flow, JsonObject *given, GError **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (given == NULL)
    return TRUE;
  json_object_iter_init (&iter, given);
  while (json_object_iter_next (&iter, &name, &value))
    {
      if (weft_run_input_is_known (flow, name))
        continue;
      g_autofree char *shown = weft_message_quote (name, 40);
      g_autofree char *known = weft_flow_describe_inputs (weft_flow_get_input_names (flow),
                                                          weft_flow_get_default_inputs (flow),
                                                          name);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: unknown input %s (%s)",
                   weft_flow_get_origin (flow), shown, known);
      return FALSE;
    }
  return TRUE;
}

gboolean
weft_flow_check_inputs (WeftFlow *flow, JsonObject *inputs, GError **error)
{
  g_autoptr(JsonObject) merged = weft_run_merge_inputs (flow, inputs);

  return weft_run_check_merged_inputs (flow, merged, error)
      && weft_run_check_given_inputs (flow, inputs, error);
}

/* ---- life ------------------------------------------------------------------------ */

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

WeftRun *
weft_run_alloc (WeftFlow *flow, const WeftKickoffOptions *options, GError **error)
{
  g_autoptr(JsonObject) merged = weft_run_merge_inputs (flow, options->inputs);

  if (options->run_id != NULL && options->resume_run_id != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "a kickoff takes a new run's id or a resumed run's, not both");
      return NULL;
    }
  if (!weft_run_check_merged_inputs (flow, merged, error)
      || !weft_run_check_given_inputs (flow, options->inputs, error))
    return NULL;

  WeftRun *run = g_new0 (WeftRun, 1);
  run->ref_count = 1;
  run->flow = weft_flow_ref (flow);
  run->engine = weft_flow_get_engine (flow);
  run->bus = weft_engine_get_bus (weft_flow_get_engine (flow));
  run->resumed = options->resume_run_id != NULL;
  run->id = run->resumed ? g_strdup (options->resume_run_id)
          : options->run_id ? g_strdup (options->run_id) : weft_run_make_id ();
  run->seq = options->resume_seq;
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), merged);
  run->inputs_json = json_to_string (node, FALSE);
  run->inputs = g_steal_pointer (&merged);
  run->tasks = g_new0 (WeftTaskState, weft_flow_get_n_tasks (flow));
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    weft_flow_get_deps (flow, i, &run->tasks[i].remaining);
  run->status = WEFT_STATUS_PENDING;
  run->created_wall_us = g_get_real_time ();
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
  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
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

/* ---- reading it ----------------------------------------------------------------------- */

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

WeftTaskState *
weft_run_task_state (WeftRun *run, guint i)
{
  g_return_val_if_fail (i < weft_flow_get_n_tasks (run->flow), NULL);
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

void
weft_run_sum_usage (WeftRun *run, WeftUsage *sum)
{
  *sum = (WeftUsage) { 0 };
  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    weft_usage_add (sum, &run->tasks[i].usage);
}

static gboolean
weft_run_give_usage (const WeftUsage *u, gint64 *prompt_tokens, gint64 *completion_tokens,
                     double *cost)
{
  if (prompt_tokens)
    *prompt_tokens = u->prompt_tokens;
  if (completion_tokens)
    *completion_tokens = u->completion_tokens;
  if (cost)
    *cost = u->priced ? u->cost : -1;
  return u->reported;
}

gboolean
weft_run_get_usage (WeftRun *run, gint64 *prompt_tokens, gint64 *completion_tokens,
                    double *cost)
{
  WeftUsage sum;

  weft_run_sum_usage (run, &sum);
  return weft_run_give_usage (&sum, prompt_tokens, completion_tokens, cost);
}

gboolean
weft_run_get_task_usage (WeftRun *run, guint i, gint64 *prompt_tokens,
                         gint64 *completion_tokens, double *cost)
{
  WeftTaskState *st = weft_run_task_state (run, i);
  WeftUsage none = { 0 };

  return weft_run_give_usage (st ? &st->usage : &none, prompt_tokens, completion_tokens, cost);
}

JsonObject *
weft_run_get_outputs (WeftRun *run)
{
  JsonObject *outputs = json_object_new ();

  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    {
      WeftFlowTask *ft = weft_flow_get_task (run->flow, i);
      guint n;
      weft_flow_get_dependants (run->flow, i, &n);
      if (n == 0 && !ft->exclude
          && run->tasks[i].status == WEFT_STATUS_COMPLETED)
        json_object_set_string_member (outputs, ft->name, run->tasks[i].output);
    }
  return outputs;
}
