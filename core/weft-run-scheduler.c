/* weft-run-scheduler.c — the scheduler: one run, driven on the engine loop.
 *
 * A task starts the moment its own dependencies are done; its attempt is
 * handed to the agent, and comes back by the bus (weft-attempt.c) to
 * weft_run_on_attempt_returned.  Everything here runs on the engine loop,
 * so nothing takes a lock.  A finished run goes back to its caller after
 * its events (weft_bus_post_after_flush), never before. */
#include "weft-run-private.h"

#define WEFT_RETRY_MAX_DELAY_MS 60000

static void weft_run_start_task (WeftRun *run, guint i);

/* ---- finishing ------------------------------------------------------------------ */

/* After the flush: the loop's reference goes to the run's done function. */
static void
weft_run_on_return (WeftMsg *msg)
{
  WeftRun *run = WEFT_RUN_FROM_MSG (msg, return_msg);

  weft_engine_remove_live_run (run->engine, &run->shutdown_msg);
  if (run->done)
    run->done (run, run->done_data);
  else
    weft_run_unref (run);
}

static void
weft_run_finish (WeftRun *run, WeftStatus status)
{
  run->status = status;
  run->finished_us = g_get_monotonic_time ();
  run->finished_wall_us = weft_mono_to_wall_us (run->finished_us);
  gint64 duration = run->finished_us - run->started_us;

  if (status == WEFT_STATUS_COMPLETED)
    {
      if (weft_run_has_subscribers (run, WEFT_NO_TASK))
        {
          g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
          g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), outputs);
          g_autofree char *text = json_to_string (node, FALSE);
          weft_run_emit (run, WEFT_EVENT_RUN_COMPLETED, WEFT_NO_TASK, text, NULL, duration);
        }
      else
        run->seq++;
    }
  else
    weft_run_emit (run, status == WEFT_STATUS_CANCELLED ? WEFT_EVENT_RUN_CANCELLED
                                                         : WEFT_EVENT_RUN_FAILED,
                   WEFT_NO_TASK, NULL, run->error->message, duration);

  if (run->cancel_handler)
    g_cancellable_disconnect (run->cancellable, run->cancel_handler);
  run->cancel_handler = 0;

  run->return_msg.handle = weft_run_on_return;
  weft_bus_post_after_flush (run->bus, &run->return_msg);
}

static void
weft_run_maybe_finish (WeftRun *run)
{
  if (run->n_finished < weft_flow_get_n_tasks (run->flow) || run->status != WEFT_STATUS_RUNNING)
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

/* `attempt` is the one that failed last, or NULL when none ran. */
static void
weft_run_fail_task (WeftRun *run, guint i, GError *error, WeftTask *attempt)
{
  WeftTaskState *st = &run->tasks[i];
  const char *name = weft_flow_get_task (run->flow, i)->name;

  weft_run_settle (run, i, WEFT_STATUS_FAILED, error);
  weft_run_emit_attempt_end (run, WEFT_EVENT_TASK_FAILED, i, NULL, error->message,
                             st->finished_us - st->attempt_started_us, attempt);
  if (run->error == NULL)
    run->error = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "task \"%s\" failed: %s",
                              name, error->message);
  g_autofree char *why = g_strdup_printf ("task \"%s\" failed", name);
  weft_run_skip_dependants (run, i, why);
  weft_run_maybe_finish (run);
}

static void
weft_run_complete_task (WeftRun *run, guint i, char *output, WeftTask *attempt)
{
  WeftTaskState *st = &run->tasks[i];
  guint n;
  const guint *dependants = weft_flow_get_dependants (run->flow, i, &n);

  st->output = output;
  weft_run_settle (run, i, WEFT_STATUS_COMPLETED, NULL);
  weft_run_emit_attempt_end (run, WEFT_EVENT_TASK_COMPLETED, i, output, NULL,
                             st->finished_us - st->attempt_started_us, attempt);
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
weft_run_attempt_failed (WeftRun *run, guint i, GError *error, WeftTask *attempt)
{
  WeftTaskState *st = &run->tasks[i];
  WeftFlowTask *ft = weft_flow_get_task (run->flow, i);

  if (++st->failures > ft->retries)
    {
      weft_run_fail_task (run, i, error, attempt);
      return;
    }
  weft_run_emit_attempt_end (run, WEFT_EVENT_TASK_RETRYING, i, NULL, error->message, 0,
                             attempt);
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
  WeftTask *attempt = data;
  WeftRun *run = weft_attempt_get_run (attempt);
  guint i = weft_attempt_get_index (attempt);
  WeftTaskState *st = &run->tasks[i];
  WeftFlowTask *ft = weft_flow_get_task (run->flow, i);

  g_clear_pointer (&st->timer, g_source_unref);
  /* The attempt is abandoned: its late return will find it no longer current. */
  st->current = NULL;
  weft_attempt_cancel (attempt);
  weft_run_attempt_failed (run, i,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_TIMEOUT, "timed out after %.3g s",
                                        (double) ft->timeout_us / G_USEC_PER_SEC), attempt);
  return G_SOURCE_REMOVE;
}

/* ---- attempts ------------------------------------------------------------------------ */

/* Engine loop: the agent handed the attempt back.  A late return of a
 * timed-out or cancelled attempt is dropped; the run stays alive meanwhile
 * (the attempt holds it). */
static void
weft_run_on_attempt_returned (WeftMsg *msg)
{
  WeftTask *attempt = weft_attempt_from_msg (msg);
  WeftRun *run = weft_attempt_get_run (attempt);
  WeftEngine *engine = run->engine;
  guint i = weft_attempt_get_index (attempt);
  WeftTaskState *st = &run->tasks[i];

  if (st->current == attempt)
    {
      char *output;
      GError *error = weft_attempt_take_result (attempt, &output);
      st->current = NULL;
      weft_run_clear_timer (st);
      if (error)
        weft_run_attempt_failed (run, i, error, attempt);
      else
        weft_run_complete_task (run, i, output, attempt);
    }
  else
    {
      /* A late return (timed out, cancelled): what it spent still counts. */
      WeftUsage usage = { 0 };
      weft_attempt_take_usage (attempt, &usage);
      weft_usage_add (&st->usage, &usage);
    }
  weft_attempt_unref (attempt);
  weft_engine_attempt_finished (engine);
}

/* Engine loop: a step the current attempt reported. */
static void
weft_run_on_attempt_step (WeftTask *attempt, const char *kind, const char *text)
{
  WeftRun *run = weft_attempt_get_run (attempt);
  guint i = weft_attempt_get_index (attempt);
  WeftEvent *e;

  if (run->tasks[i].current != attempt)
    return;
  e = weft_run_event_new (run, WEFT_EVENT_TASK_STEP, i, weft_task_get_attempt (attempt), text,
                          NULL, kind, 0, NULL);
  if (e)
    weft_run_publish (run, e, i);
}

/* What its attempts see of a run (WeftAttemptOwner): read from any
 * thread, and all of it set before the first attempt. */

static void
weft_run_owner_unref (gpointer run)
{
  weft_run_unref (run);
}

static const char *
weft_run_owner_get_id (gpointer run)
{
  return ((WeftRun *) run)->id;
}

static const char *
weft_run_owner_get_flow_name (gpointer run)
{
  return weft_flow_get_name (((WeftRun *) run)->flow);
}

static const char *
weft_run_owner_get_inputs_json (gpointer run)
{
  return ((WeftRun *) run)->inputs_json;
}

/* The i-th task whose output `task` receives. */
static guint
weft_run_context_task (WeftRun *run, guint task, guint i)
{
  guint n;

  return weft_flow_get_receives (run->flow, task, &n)[i];
}

static guint
weft_run_owner_get_n_context (gpointer run, guint task)
{
  guint n;

  weft_flow_get_receives (((WeftRun *) run)->flow, task, &n);
  return n;
}

static const char *
weft_run_owner_get_context_name (gpointer run, guint task, guint i)
{
  WeftRun *r = run;

  return weft_flow_get_task (r->flow, weft_run_context_task (r, task, i))->name;
}

static const char *
weft_run_owner_get_context_output (gpointer run, guint task, guint i)
{
  WeftRun *r = run;

  return r->tasks[weft_run_context_task (r, task, i)].output;
}

static WeftEngine *
weft_run_owner_get_engine (gpointer run)
{
  return ((WeftRun *) run)->engine;
}

static GMainContext *
weft_run_owner_get_context (gpointer run)
{
  return weft_engine_get_main_context (((WeftRun *) run)->engine);
}

static gpointer
weft_run_owner_get_soup (gpointer run)
{
  return weft_engine_get_soup_session (((WeftRun *) run)->engine);
}

static WeftBus *
weft_run_owner_get_bus (gpointer run)
{
  return ((WeftRun *) run)->bus;
}

static const WeftAttemptOwner weft_run_owner = {
  .unref = weft_run_owner_unref,
  .get_id = weft_run_owner_get_id,
  .get_flow_name = weft_run_owner_get_flow_name,
  .get_inputs_json = weft_run_owner_get_inputs_json,
  .get_n_context = weft_run_owner_get_n_context,
  .get_context_name = weft_run_owner_get_context_name,
  .get_context_output = weft_run_owner_get_context_output,
  .get_engine = weft_run_owner_get_engine,
  .get_context = weft_run_owner_get_context,
  .get_soup = weft_run_owner_get_soup,
  .get_bus = weft_run_owner_get_bus,
  .returned = weft_run_on_attempt_returned,
  .step = weft_run_on_attempt_step,
};

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

/* Hands the attempt to its agent: an async one's run() now, on the loop;
 * a blocking one's on a worker. */
static void
weft_run_call_agent (WeftRun *run, WeftFlowTask *ft, WeftTask *attempt)
{
  weft_engine_attempt_started (run->engine);
  if (ft->agent->plugin->desc->agent->flags & WEFT_AGENT_ASYNC)
    weft_attempt_call_agent (attempt);
  else
    weft_engine_run_agent_job (run->engine, weft_attempt_get_job (attempt));
}

static void
weft_run_start_task (WeftRun *run, guint i)
{
  WeftTaskState *st = &run->tasks[i];
  WeftFlowTask *ft = weft_flow_get_task (run->flow, i);
  const char *description = ft->description;
  const char *prompt = ft->static_prompt;

  if (ft->templated)
    {
      g_autoptr(GError) error = NULL;
      if (st->prompt == NULL && !weft_run_render_task (run, ft, st, &error))
        {
          st->status = WEFT_STATUS_RUNNING;
          weft_run_fail_task (run, i, g_steal_pointer (&error), NULL);
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

  WeftTask *attempt = weft_attempt_new (&weft_run_owner, weft_run_ref (run), ft, i,
                                       st->attempts, description, prompt);
  st->current = attempt;
  weft_run_emit (run, WEFT_EVENT_TASK_STARTED, i, NULL, NULL, 0);

  if (ft->timeout_us > 0)
    {
      st->timer = g_timeout_source_new ((guint) MAX (1, ft->timeout_us / 1000));
      g_source_set_callback (st->timer, weft_run_on_timeout, attempt, NULL);
      g_source_attach (st->timer, weft_engine_get_main_context (run->engine));
    }
  weft_run_call_agent (run, ft, attempt);
}

/* ---- cancelling ------------------------------------------------------------------ */

static void
weft_run_cancel (WeftRun *run)
{
  if (run->status != WEFT_STATUS_RUNNING)
    return;

  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    {
      WeftTaskState *st = &run->tasks[i];
      if (st->status == WEFT_STATUS_RUNNING)
        {
          WeftTask *attempt = g_steal_pointer (&st->current);
          weft_run_clear_timer (st);
          if (attempt)
            weft_attempt_cancel (attempt);
          weft_run_settle (run, i, WEFT_STATUS_CANCELLED,
                           g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED, "cancelled"));
          weft_run_emit_attempt_end (run, WEFT_EVENT_TASK_CANCELLED, i, NULL, "cancelled",
                                     st->finished_us - st->attempt_started_us, attempt);
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

/* Engine loop: the run's cancellable fired (the post's reference ends here). */
static void
weft_run_on_cancel (WeftMsg *msg)
{
  WeftRun *run = WEFT_RUN_FROM_MSG (msg, cancel_msg);

  weft_run_cancel (run);
  weft_run_unref (run);
}

/* Engine loop: the engine shuts down (the engine holds no reference: the
 * run is live, so the loop's own keeps it). */
static void
weft_run_on_shutdown (WeftMsg *msg)
{
  weft_run_cancel (WEFT_RUN_FROM_MSG (msg, shutdown_msg));
}

/* Any thread: the run is cancelled on the loop, like everything else. */
static void
weft_run_on_cancelled (GCancellable *cancellable, gpointer data)
{
  WeftRun *run = data;

  weft_bus_post (run->bus, &weft_run_ref (run)->cancel_msg);
}

/* ---- the start ---------------------------------------------------------------------- */

/* What a kept failure or skip reaches is skipped, once: the stored run
 * skipped most of it already (those are kept), the rest had not been
 * stored when its process died. */
static void
weft_run_skip_after_kept (WeftRun *run)
{
  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    {
      WeftTaskState *st = &run->tasks[i];
      g_autofree char *failed = NULL;

      if (st->status == WEFT_STATUS_FAILED)
        failed = g_strdup_printf ("task \"%s\" failed", weft_flow_get_task (run->flow, i)->name);
      else if (st->status != WEFT_STATUS_SKIPPED)
        continue;
      weft_run_skip_dependants (run, i, failed ? failed : st->error->message);
    }
}

/* Starts whatever waits for nothing: the roots, or, when tasks were
 * settled before the start, every pending task they released, in flow
 * order. */
static void
weft_run_start_ready (WeftRun *run)
{
  WeftFlow *flow = run->flow;
  guint n_roots;
  const guint *roots = weft_flow_get_roots (flow, &n_roots);

  if (!run->has_preset)
    for (guint k = 0; k < n_roots && run->status == WEFT_STATUS_RUNNING; k++)
      weft_run_start_task (run, roots[k]);
  else
    for (guint i = 0; i < weft_flow_get_n_tasks (flow) && run->status == WEFT_STATUS_RUNNING; i++)
      if (run->tasks[i].status == WEFT_STATUS_PENDING && run->tasks[i].remaining == 0)
        weft_run_start_task (run, i);
}

/* Engine loop: the kickoff's reference becomes the loop's, handed back
 * with the run when it has finished (weft_run_on_return). */
void
weft_run_on_start (WeftMsg *msg)
{
  WeftRun *run = WEFT_RUN_FROM_MSG (msg, start_msg);

  run->cancel_msg.handle = weft_run_on_cancel;
  run->shutdown_msg.handle = weft_run_on_shutdown;
  weft_engine_add_live_run (run->engine, &run->shutdown_msg);
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
  weft_run_start_ready (run);
  weft_run_maybe_finish (run);
}
