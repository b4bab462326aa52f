/* weft-task.c — one attempt of one task, as an agent sees it.
 *
 * The attempt keeps its run alive until it is handed back, so an agent that
 * returns after a timeout or a cancellation touches valid memory; the
 * engine loop then sees the attempt is no longer current and drops it. */
#include "weft-private.h"

#include <stdarg.h>

WeftTask *
weft_task_new (WeftRun *run, guint index, guint attempt, const char *description,
               const char *prompt)
{
  WeftTask *task = g_new0 (WeftTask, 1);

  task->msg.type = WEFT_MSG_RETURN;
  task->ref_count = 1;
  task->run = weft_run_ref (run);
  task->index = index;
  task->attempt = attempt;
  task->description = description;
  task->prompt = prompt;
  return task;
}

WeftTask *
weft_task_ref (WeftTask *task)
{
  g_atomic_int_inc (&task->ref_count);
  return task;
}

void
weft_task_unref (WeftTask *task)
{
  if (!g_atomic_int_dec_and_test (&task->ref_count))
    return;
  g_clear_object (&task->cancellable);
  g_clear_pointer (&task->inputs, json_object_unref);
  g_free (task->output);
  g_clear_error (&task->error);
  weft_run_unref (task->run);
  g_free (task);
}

WeftFlowTask *
weft_task_get_flow_task (WeftTask *task)
{
  return weft_flow_get_task (task->run->flow, task->index);
}

/* Most agents never ask for the cancellable, so it is made on first use;
 * cancel() and get_cancellable() may race from different threads, and
 * whichever comes second does the cancelling. */
void
weft_task_cancel (WeftTask *task)
{
  g_atomic_int_set (&task->cancelled, 1);
  GCancellable *c = g_atomic_pointer_get (&task->cancellable);
  if (c)
    g_cancellable_cancel (c);
}

GCancellable *
weft_task_get_cancellable (WeftTask *task)
{
  GCancellable *c = g_atomic_pointer_get (&task->cancellable);

  if (c)
    return c;
  GCancellable *made = g_cancellable_new ();
  if (!g_atomic_pointer_compare_and_exchange (&task->cancellable, NULL, made))
    {
      g_object_unref (made);
      return g_atomic_pointer_get (&task->cancellable);
    }
  if (g_atomic_int_get (&task->cancelled))
    g_cancellable_cancel (made);
  return made;
}

const char *
weft_task_get_name (WeftTask *task)
{
  return weft_task_get_flow_task (task)->name;
}

const char *
weft_task_get_run_id (WeftTask *task)
{
  return task->run->id;
}

const char *
weft_task_get_flow_name (WeftTask *task)
{
  return task->run->flow->name;
}

const char *
weft_task_get_prompt (WeftTask *task)
{
  return task->prompt;
}

const char *
weft_task_get_description (WeftTask *task)
{
  return task->description;
}

const char *
weft_task_get_expected_output (WeftTask *task)
{
  return weft_task_get_flow_task (task)->expected_output;
}

/* json-glib's reference counts are not atomic, so the run's own object is
 * never handed to agents on other threads: each attempt parses its own. */
JsonObject *
weft_task_get_inputs (WeftTask *task)
{
  JsonObject *inputs = g_atomic_pointer_get (&task->inputs);

  if (inputs)
    return inputs;
  JsonNode *node = json_from_string (task->run->inputs_json, NULL);
  JsonObject *made = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  if (!g_atomic_pointer_compare_and_exchange (&task->inputs, NULL, made))
    {
      json_object_unref (made);
      return g_atomic_pointer_get (&task->inputs);
    }
  return made;
}

guint
weft_task_get_n_context (WeftTask *task)
{
  guint n;

  weft_flow_get_receives (task->run->flow, task->index, &n);
  return n;
}

const char *
weft_task_get_context_name (WeftTask *task, guint i)
{
  guint n;
  const guint *receives = weft_flow_get_receives (task->run->flow, task->index, &n);

  g_return_val_if_fail (i < n, NULL);
  return weft_flow_get_task (task->run->flow, receives[i])->name;
}

const char *
weft_task_get_context_output (WeftTask *task, guint i)
{
  guint n;
  const guint *receives = weft_flow_get_receives (task->run->flow, task->index, &n);

  g_return_val_if_fail (i < n, NULL);
  /* Outputs of completed tasks never change, so reading them from another
   * thread is safe: the task only started after they were set. */
  return task->run->tasks[receives[i]].output;
}

const char *
weft_task_lookup_context (WeftTask *task, const char *name)
{
  guint n = weft_task_get_n_context (task);

  for (guint i = 0; i < n; i++)
    if (g_str_equal (weft_task_get_context_name (task, i), name))
      return weft_task_get_context_output (task, i);
  return NULL;
}

guint
weft_task_get_attempt (WeftTask *task)
{
  return task->attempt;
}

GMainContext *
weft_task_get_main_context (WeftTask *task)
{
  return weft_engine_get_main_context (task->run->engine);
}

SoupSession *
weft_task_get_soup_session (WeftTask *task)
{
  return weft_engine_get_soup_session (task->run->engine);
}

void
weft_task_step (WeftTask *task, const char *kind, const char *text)
{
  g_return_if_fail (task != NULL);

  if (g_atomic_int_get (&task->returned))
    {
      g_critical ("weft_task_step() on task \"%s\" after it returned", weft_task_get_name (task));
      return;
    }
  WeftStepMsg *m = g_new0 (WeftStepMsg, 1);
  m->msg.type = WEFT_MSG_STEP;
  m->task = weft_task_ref (task);
  m->kind = g_strdup (kind ? kind : "step");
  m->text = weft_secrets_redact (text ? text : "");
  weft_engine_post (task->run->engine, &m->msg);
}

void
weft_task_log (WeftTask *task, GLogLevelFlags level, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *given = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *text = weft_secrets_redact (given);
  g_log_structured ("weft", level,
                    "WEFT_RUN", task->run->id,
                    "WEFT_TASK", weft_task_get_name (task),
                    "MESSAGE", "%.8s %s: %s", task->run->id, weft_task_get_name (task), text);
}

/* Claims the single return; FALSE (and a critical) on a second one. */
static gboolean
weft_task_claim_return (WeftTask *task)
{
  if (g_atomic_int_compare_and_exchange (&task->returned, 0, 1))
    return TRUE;
  g_critical ("task \"%s\" returned twice: an agent must return exactly once",
              weft_task_get_name (task));
  return FALSE;
}

void
weft_task_return (WeftTask *task, const char *output)
{
  g_return_if_fail (task != NULL);

  if (!weft_task_claim_return (task))
    return;
  task->output = g_strdup (output ? output : "");
  weft_engine_post (task->run->engine, &task->msg);
}

void
weft_task_return_error (WeftTask *task, GError *error)
{
  g_return_if_fail (task != NULL);

  if (!weft_task_claim_return (task))
    {
      g_clear_error (&error);
      return;
    }
  task->error = error ? error
                      : g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "agent failed without a reason");
  /* From here the message reaches events, stores, logs and clients. */
  weft_secrets_redact_error (task->error);
  weft_engine_post (task->run->engine, &task->msg);
}
