/* weft-run-kickoff.c — from a kickoff's options to a run on its way to the
 * engine loop, and weft.h's kickoff functions (GIO style: async with a
 * GTask, or blocking on a private main context).
 *
 * A run is made on the caller's thread: inputs checked, reused outputs
 * and a stored run's state settled, a resumed run claimed from the stores,
 * so that whatever is wrong is said before anything starts.  Its start
 * message then carries it to the loop (weft-run-scheduler.c). */
#include "weft-run-private.h"

WeftRun *
weft_run_new (WeftFlow *flow, const WeftKickoffOptions *options, GError **error)
{
  WeftRun *run = weft_run_alloc (flow, options, error);

  if (run == NULL)
    return NULL;
  if ((options->completed && !weft_run_preset (run, options->completed, error))
      || (run->resumed && options->stored_tasks
          && !weft_run_restore_stored (run, options->stored_tasks, error)))
    {
      weft_run_unref (run);
      return NULL;
    }
  if ((run->resumed || options->run_id) && !weft_flow_claim_run (flow, run->id, error))
    {
      g_prefix_error (error, run->resumed ? "cannot resume: " : "cannot start: ");
      weft_run_unref (run);
      return NULL;
    }
  return run;
}

void
weft_run_kickoff (WeftRun *run, GCancellable *cancellable, WeftRunDoneFunc done,
                  gpointer done_data)
{
  g_return_if_fail (run->status == WEFT_STATUS_PENDING && run->done == NULL);

  weft_flow_mark_kicked_off (run->flow);
  run->done = done;
  run->done_data = done_data;
  run->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
  run->start_msg.handle = weft_run_on_start;
  weft_bus_post (run->bus, &weft_run_ref (run)->start_msg);
}

/* ---- weft.h's kickoff ----------------------------------------------------------- */

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
      weft_flow_mark_kicked_off (flow);
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
  g_return_val_if_fail (!weft_engine_is_loop_thread (weft_flow_get_engine (flow)), NULL);

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
