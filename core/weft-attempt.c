/* weft-attempt.c — one attempt: one try of one task of one run, the object
 * an agent is handed (the SDK calls it WeftTask, and its functions are
 * the SDK's weft_task_*).
 *
 * The attempt keeps its run alive until it is handed back, so an agent that
 * returns after a timeout or a cancellation touches valid memory; the run
 * then sees the attempt is no longer current and drops it.  The attempt
 * knows its run only as a WeftAttemptOwner: what it reads of it, and the
 * functions through which its return and its steps go back, on the loop,
 * by the bus. */
#include "weft-private.h"

#include <stdarg.h>

struct _WeftTask {
  WeftMsg returned;           /* handed back to the run, on the loop */
  WeftMsg job;                /* a blocking agent's call, on a worker */
  gint ref_count;
  const WeftAttemptOwner *owner;
  gpointer run;               /* a reference, released through owner->unref */
  WeftBus *bus;               /* the run's: every return and step goes there */
  WeftFlowTask *flow_task;
  guint index;
  guint number;
  const char *description;    /* owned by the run or the flow */
  const char *prompt;         /* owned by the run or the flow */
  GCancellable *cancellable;  /* made on first use */
  JsonObject *inputs;         /* made on first use, from the run's inputs_json */
  char *messages_json;        /* a thread's turn: its history (weft_attempt_set_messages) */
  JsonArray *messages;        /* made on first use, from messages_json */
  gint cancelled;
  gint has_returned;
  gboolean output_is_message; /* `output` is an assistant message, as JSON text */
  char *output;
  GError *error;
  GMutex usage_lock;          /* reports may come from any thread */
  WeftUsage usage;
};

typedef struct {
  WeftMsg msg;
  WeftTask *attempt;          /* a reference */
  char *kind;
  char *text;
} WeftStepMsg;

static void
weft_attempt_on_job (WeftMsg *job)
{
  weft_attempt_call_agent (WEFT_MSG_OWNER (job, WeftTask, job));
}

WeftTask *
weft_attempt_new (const WeftAttemptOwner *owner, gpointer run, WeftFlowTask *task,
                  guint index, guint number, const char *description, const char *prompt)
{
  WeftTask *attempt = g_new0 (WeftTask, 1);

  attempt->returned.handle = owner->returned;
  attempt->job.handle = weft_attempt_on_job;
  attempt->ref_count = 1;
  attempt->owner = owner;
  attempt->run = run;
  attempt->bus = owner->get_bus (run);
  /* The attempt reads a few of the flow task's fields, and never calls
   * into the flow (which is above it): the rest it asks its run. */
  attempt->flow_task = task;
  attempt->index = index;
  attempt->number = number;
  attempt->description = description;
  attempt->prompt = prompt;
  g_mutex_init (&attempt->usage_lock);
  return attempt;
}

WeftTask *
weft_attempt_ref (WeftTask *attempt)
{
  g_atomic_int_inc (&attempt->ref_count);
  return attempt;
}

void
weft_attempt_unref (WeftTask *attempt)
{
  if (!g_atomic_int_dec_and_test (&attempt->ref_count))
    return;
  g_clear_object (&attempt->cancellable);
  g_clear_pointer (&attempt->inputs, json_object_unref);
  g_clear_pointer (&attempt->messages, json_array_unref);
  g_free (attempt->messages_json);
  g_free (attempt->output);
  g_clear_error (&attempt->error);
  g_mutex_clear (&attempt->usage_lock);
  attempt->owner->unref (attempt->run);
  g_free (attempt);
}

WeftTask *
weft_attempt_from_msg (WeftMsg *returned)
{
  return WEFT_MSG_OWNER (returned, WeftTask, returned);
}

gpointer
weft_attempt_get_run (WeftTask *attempt)
{
  return attempt->run;
}

guint
weft_attempt_get_index (WeftTask *attempt)
{
  return attempt->index;
}

WeftEngine *
weft_attempt_get_engine (WeftTask *attempt)
{
  return attempt->owner->get_engine (attempt->run);
}

WeftBus *
weft_attempt_get_bus (WeftTask *attempt)
{
  return attempt->bus;
}

WeftFlowTask *
weft_attempt_get_flow_task (WeftTask *attempt)
{
  return attempt->flow_task;
}

GError *
weft_attempt_take_result (WeftTask *attempt, char **output)
{
  *output = g_steal_pointer (&attempt->output);
  return g_steal_pointer (&attempt->error);
}

void
weft_attempt_call_agent (WeftTask *attempt)
{
  WeftAgentInstance *agent = attempt->flow_task->agent;
  const WeftAgentClass *klass = agent->plugin->desc->agent;

  if (attempt->messages_json != NULL)
    klass->converse (agent->instance, attempt);
  else
    klass->run (agent->instance, attempt);
}

void
weft_attempt_set_messages (WeftTask *attempt, char *messages_json)
{
  g_free (attempt->messages_json);
  attempt->messages_json = messages_json;
}

gboolean
weft_attempt_is_turn (WeftTask *attempt)
{
  return attempt->messages_json != NULL;
}

gboolean
weft_attempt_output_is_message (WeftTask *attempt)
{
  return attempt->output_is_message;
}

WeftMsg *
weft_attempt_get_job (WeftTask *attempt)
{
  return &attempt->job;
}

/* Most agents never ask for the cancellable, so it is made on first use;
 * cancel() and get_cancellable() may race from different threads, and
 * whichever comes second does the cancelling. */
void
weft_attempt_cancel (WeftTask *attempt)
{
  g_atomic_int_set (&attempt->cancelled, 1);
  GCancellable *c = g_atomic_pointer_get (&attempt->cancellable);
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

/* ---- the agent's side (SDK) ----------------------------------------------- */

const char *
weft_task_get_name (WeftTask *task)
{
  return task->flow_task->name;
}

const char *
weft_task_get_run_id (WeftTask *task)
{
  return task->owner->get_id (task->run);
}

const char *
weft_task_get_flow_name (WeftTask *task)
{
  return task->owner->get_flow_name (task->run);
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
  return task->flow_task->expected_output;
}

/* json-glib's reference counts are not atomic, so the run's own object is
 * never handed to agents on other threads: each attempt parses its own. */
JsonObject *
weft_task_get_inputs (WeftTask *task)
{
  JsonObject *inputs = g_atomic_pointer_get (&task->inputs);

  if (inputs)
    return inputs;
  JsonNode *node = json_from_string (task->owner->get_inputs_json (task->run), NULL);
  JsonObject *made = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  if (!g_atomic_pointer_compare_and_exchange (&task->inputs, NULL, made))
    {
      json_object_unref (made);
      return g_atomic_pointer_get (&task->inputs);
    }
  return made;
}

/* Like the inputs: each turn's own array, parsed from the text the thread
 * wrote when it made the attempt, on whichever thread asks first. */
JsonArray *
weft_task_get_messages (WeftTask *task)
{
  JsonArray *messages = g_atomic_pointer_get (&task->messages);

  if (messages || task->messages_json == NULL)
    return messages;
  JsonNode *node = json_from_string (task->messages_json, NULL);
  JsonArray *made = json_array_ref (json_node_get_array (node));
  json_node_unref (node);
  if (!g_atomic_pointer_compare_and_exchange (&task->messages, NULL, made))
    {
      json_array_unref (made);
      return g_atomic_pointer_get (&task->messages);
    }
  return made;
}

guint
weft_task_get_n_context (WeftTask *task)
{
  return task->owner->get_n_context (task->run, task->index);
}

const char *
weft_task_get_context_name (WeftTask *task, guint i)
{
  g_return_val_if_fail (i < weft_task_get_n_context (task), NULL);
  return task->owner->get_context_name (task->run, task->index, i);
}

const char *
weft_task_get_context_output (WeftTask *task, guint i)
{
  g_return_val_if_fail (i < weft_task_get_n_context (task), NULL);
  /* Outputs of completed tasks never change, so reading them from another
   * thread is safe: the task only started after they were set. */
  return task->owner->get_context_output (task->run, task->index, i);
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
  return task->number;
}

GMainContext *
weft_task_get_main_context (WeftTask *task)
{
  return task->owner->get_context (task->run);
}

gpointer
weft_task_get_soup_session (WeftTask *task)
{
  return task->owner->get_soup (task->run);
}

/* ---- task templates (WEFT_OPTION_TEMPLATE) ------------------------------------- */

typedef struct {
  WeftTask *task;
  GPtrArray *scratch;         /* strings made for the lookup, freed after */
  char *unknown;              /* the first key without a value */
} WeftTaskTemplate;

static const char *
weft_task_template_keep (WeftTaskTemplate *t, char *value)
{
  g_ptr_array_add (t->scratch, value);
  return value;
}

/* A string input as it is; any other value as its JSON. */
static const char *
weft_task_template_input (WeftTaskTemplate *t, const char *name)
{
  JsonNode *node = json_object_get_member (weft_task_get_inputs (t->task), name);

  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return weft_task_template_keep (t, json_to_string (node, FALSE));
}

static const char *
weft_task_template_all_context (WeftTaskTemplate *t)
{
  GString *all = g_string_new (NULL);
  guint n = weft_task_get_n_context (t->task);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (all, "%s%s: %s", i > 0 ? "\n" : "",
                            weft_task_get_context_name (t->task, i),
                            weft_task_get_context_output (t->task, i));
  return weft_task_template_keep (t, g_string_free (all, FALSE));
}

static const char *
weft_task_template_value (WeftTaskTemplate *t, const char *key)
{
  const char *name;

  switch (weft_task_key_parse (key, &name))
    {
    case WEFT_TASK_KEY_PROMPT: return weft_task_get_prompt (t->task);
    case WEFT_TASK_KEY_DESCRIPTION: return weft_task_get_description (t->task);
    case WEFT_TASK_KEY_TASK: return weft_task_get_name (t->task);
    case WEFT_TASK_KEY_ATTEMPT:
      return weft_task_template_keep (t, g_strdup_printf ("%u", weft_task_get_attempt (t->task)));
    case WEFT_TASK_KEY_RUN_ID: return weft_task_get_run_id (t->task);
    case WEFT_TASK_KEY_FLOW: return weft_task_get_flow_name (t->task);
    case WEFT_TASK_KEY_CONTEXT_ALL: return weft_task_template_all_context (t);
    case WEFT_TASK_KEY_INPUT: return weft_task_template_input (t, name);
    case WEFT_TASK_KEY_CONTEXT: return weft_task_lookup_context (t->task, name);
    case WEFT_TASK_KEY_UNKNOWN: break;
    }
  return NULL;
}

static const char *
weft_task_template_lookup (const char *key, gpointer data)
{
  WeftTaskTemplate *t = data;
  const char *value = weft_task_template_value (t, key);

  if (value == NULL && t->unknown == NULL)
    t->unknown = g_strdup (key);
  return value;
}

char *
weft_task_render_template (WeftTask *task, const char *tmpl, GError **error)
{
  g_return_val_if_fail (task != NULL && tmpl != NULL, NULL);

  WeftTaskTemplate t = { task, g_ptr_array_new_with_free_func (g_free), NULL };
  g_autoptr(GError) local = NULL;
  char *output = weft_template_render (tmpl, weft_task_template_lookup, &t, &local);

  /* A flow's templates were checked when it loaded: what is missing now
   * was never given (an agent called on its own, with no context). */
  if (output == NULL && t.unknown != NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                 "no value for {%s} (known: " WEFT_TASK_KEYS_KNOWN ")", t.unknown);
  else if (output == NULL)
    g_propagate_error (error, g_steal_pointer (&local));
  g_ptr_array_unref (t.scratch);
  g_free (t.unknown);
  return output;
}

/* ---- usage ------------------------------------------------------------------------- */

void
weft_task_report_usage (WeftTask *task, gint64 prompt_tokens, gint64 completion_tokens,
                        double cost)
{
  g_return_if_fail (task != NULL && prompt_tokens >= 0 && completion_tokens >= 0);

  WeftUsage part = { prompt_tokens, completion_tokens, cost >= 0 ? cost : 0, TRUE, cost >= 0 };
  g_mutex_lock (&task->usage_lock);
  weft_usage_add (&task->usage, &part);
  g_mutex_unlock (&task->usage_lock);
}

void
weft_attempt_take_usage (WeftTask *attempt, WeftUsage *usage)
{
  g_mutex_lock (&attempt->usage_lock);
  *usage = attempt->usage;
  attempt->usage = (WeftUsage) { 0 };
  g_mutex_unlock (&attempt->usage_lock);
}

/* ---- steps and the return: back to the run, on the loop ------------------------ */

void
weft_attempt_raise_step (WeftTask *attempt, const char *kind, const char *text)
{
  attempt->owner->step (attempt, kind, text);
}

static void
weft_attempt_on_step (WeftMsg *msg)
{
  WeftStepMsg *m = (WeftStepMsg *) msg;

  weft_attempt_raise_step (m->attempt, m->kind, m->text);
  weft_attempt_unref (m->attempt);
  g_free (m->kind);
  g_free (m->text);
  g_free (m);
}

void
weft_task_step (WeftTask *task, const char *kind, const char *text)
{
  g_return_if_fail (task != NULL);

  if (g_atomic_int_get (&task->has_returned))
    {
      g_critical ("weft_task_step() on task \"%s\" after it returned", weft_task_get_name (task));
      return;
    }
  WeftStepMsg *m = g_new0 (WeftStepMsg, 1);
  m->msg.handle = weft_attempt_on_step;
  m->attempt = weft_attempt_ref (task);
  m->kind = g_strdup (kind ? kind : "step");
  m->text = weft_secrets_redact (text ? text : "");
  weft_bus_post (task->bus, &m->msg);
}

void
weft_task_log (WeftTask *task, GLogLevelFlags level, const char *format, ...)
{
  va_list args;
  const char *run_id = weft_task_get_run_id (task);

  va_start (args, format);
  g_autofree char *given = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *text = weft_secrets_redact (given);
  g_log_structured ("weft", level,
                    "WEFT_RUN", run_id,
                    "WEFT_TASK", weft_task_get_name (task),
                    "MESSAGE", "%.8s %s: %s", run_id, weft_task_get_name (task), text);
}

/* Claims the single return; FALSE (and a critical) on a second one. */
static gboolean
weft_attempt_claim_return (WeftTask *task)
{
  if (g_atomic_int_compare_and_exchange (&task->has_returned, 0, 1))
    return TRUE;
  g_critical ("task \"%s\" returned twice: an agent must return exactly once",
              weft_task_get_name (task));
  return FALSE;
}

void
weft_task_return (WeftTask *task, const char *output)
{
  g_return_if_fail (task != NULL);

  if (!weft_attempt_claim_return (task))
    return;
  task->output = g_strdup (output ? output : "");
  weft_bus_post (task->bus, &task->returned);
}

void
weft_task_return_message (WeftTask *task, JsonObject *message)
{
  g_return_if_fail (task != NULL && message != NULL);

  if (task->messages_json == NULL)
    {
      weft_task_return_error (task, g_error_new (WEFT_ERROR, WEFT_ERROR_INVALID,
                                                 "weft_task_return_message() on a task that "
                                                 "is not a conversation's"));
      return;
    }
  if (!weft_attempt_claim_return (task))
    return;
  /* Read now, on the agent's thread: json-glib objects are not shared. */
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), message);
  task->output = json_to_string (node, FALSE);
  task->output_is_message = TRUE;
  weft_bus_post (task->bus, &task->returned);
}

void
weft_task_return_error (WeftTask *task, GError *error)
{
  g_return_if_fail (task != NULL);

  if (!weft_attempt_claim_return (task))
    {
      g_clear_error (&error);
      return;
    }
  task->error = error ? error
                      : g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "agent failed without a reason");
  /* From here the message reaches events, stores, logs and clients. */
  weft_secrets_redact_error (task->error);
  weft_bus_post (task->bus, &task->returned);
}
