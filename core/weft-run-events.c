/* weft-run-events.c — a run's events: numbered on the loop in the order
 * raised, built only when someone would see them, and pushed onto the bus
 * (weft-bus.c), which hands them to callbacks at the end of the loop's
 * iteration and to listeners at once.
 *
 * The hot path: a 100,000-task run raises 300,000 of these.  With no
 * callback and no listener, nothing is allocated; otherwise one block per
 * event, shared by reference. */
#include "weft-run-private.h"

gboolean
weft_run_has_subscribers (WeftRun *run, guint task)
{
  guint task_callbacks = 0, flow_callbacks;

  if (task != WEFT_NO_TASK)
    weft_flow_get_task_callbacks (run->flow, task, &task_callbacks);
  weft_flow_get_flow_callbacks (run->flow, &flow_callbacks);
  return flow_callbacks > 0 || task_callbacks > 0
      || weft_bus_has_listeners (run->bus);
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

WeftEvent *
weft_run_event_new (WeftRun *run, WeftEventType type, guint task, guint attempt,
                    const char *output, const char *error, const char *step_kind,
                    gint64 duration_us, const WeftUsage *usage)
{
  guint64 seq = ++run->seq;

  if (!weft_run_has_subscribers (run, task))
    return NULL;
  WeftEventFields f = {
    .type = type, .seq = seq, .run_id = run->id, .flow = weft_flow_get_name (run->flow),
    .task = task != WEFT_NO_TASK ? weft_flow_get_task (run->flow, task)->name : NULL,
    .attempt = attempt, .output = output, .error = error, .step_kind = step_kind,
    .duration_us = duration_us, .mono_us = weft_run_event_time (run, type, task),
    .usage = usage && usage->reported ? usage : NULL,
  };
  return weft_event_new (&f);
}

static void
weft_run_push (WeftRun *run, WeftCallbackInstance * const *callbacks, guint n,
               WeftEvent *event)
{
  for (guint i = 0; i < n; i++)
    weft_bus_push (run->bus, weft_callback_instance_get_queue (callbacks[i]), event);
}

void
weft_run_publish (WeftRun *run, WeftEvent *event, guint task)
{
  guint n_flow;
  WeftCallbackInstance * const *flow_callbacks = weft_flow_get_flow_callbacks (run->flow, &n_flow);

  weft_run_push (run, flow_callbacks, n_flow, event);
  if (task != WEFT_NO_TASK)
    {
      guint n;
      WeftCallbackInstance * const *task_callbacks =
          weft_flow_get_task_callbacks (run->flow, task, &n);
      weft_run_push (run, task_callbacks, n, event);
    }
  if (weft_bus_has_listeners (run->bus))
    weft_bus_notify (run->bus, event);
  weft_event_unref (event);
}

void
weft_run_emit (WeftRun *run, WeftEventType type, guint task, const char *output,
               const char *error, gint64 duration_us)
{
  WeftEvent *e = weft_run_event_new (run, type, task,
                                     task != WEFT_NO_TASK ? run->tasks[task].attempts : 0,
                                     output, error, NULL, duration_us, NULL);

  if (e)
    weft_run_publish (run, e, task);
}

void
weft_run_emit_attempt_end (WeftRun *run, WeftEventType type, guint task, const char *output,
                           const char *error, gint64 duration_us, WeftTask *attempt)
{
  WeftUsage usage = { 0 };

  if (attempt != NULL)
    weft_attempt_take_usage (attempt, &usage);
  weft_usage_add (&run->tasks[task].usage, &usage);
  WeftEvent *e = weft_run_event_new (run, type, task, run->tasks[task].attempts, output, error,
                                     NULL, duration_us, &usage);
  if (e)
    weft_run_publish (run, e, task);
}

/* run.started (or run.resumed) carries what a store needs to run it again;
 * a new run that reuses outputs announces each as completed, attempt 0. */
void
weft_run_emit_start (WeftRun *run)
{
  WeftEventType type = run->resumed ? WEFT_EVENT_RUN_RESUMED : WEFT_EVENT_RUN_STARTED;
  guint64 seq = ++run->seq;

  if (weft_run_has_subscribers (run, WEFT_NO_TASK))
    {
      WeftEventFields f = {
        .type = type, .seq = seq, .run_id = run->id, .flow = weft_flow_get_name (run->flow),
        .mono_us = run->started_us, .inputs = run->inputs_json,
        .flow_source = weft_flow_get_source (run->flow),
      };
      weft_run_publish (run, weft_event_new (&f), WEFT_NO_TASK);
    }
  if (run->resumed || !run->has_preset)
    return;
  for (guint i = 0; i < weft_flow_get_n_tasks (run->flow); i++)
    if (run->tasks[i].status == WEFT_STATUS_COMPLETED)
      weft_run_emit (run, WEFT_EVENT_TASK_COMPLETED, i, run->tasks[i].output, NULL, 0);
}
