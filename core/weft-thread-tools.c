/* weft-thread-tools.c — the tools a thread offers its agent, and
 * background work as tools (seed 002: create_task, check_task,
 * check_all_tasks).
 *
 * Beside the agent's own tools (run in the foreground by the turn), the
 * settings' background tools start work and answer the call at once with
 * {"task_id", "status": "running"}: a tool call of no attempt
 * (weft_tool_call_start_detached), one call of an agent of the flow (a run
 * of a one-task flow, as POST /v1/tasks makes), or a run of a whole flow
 * with the model's arguments as its inputs.  When the work ends, the
 * thread gets a notice in its queue, which (by default) starts a turn.
 * check_task, check_all_tasks and cancel_task answer from the thread's
 * table of tasks, at once, on the loop.  A new message never cancels
 * background work; closing the thread does. */
#include "weft-thread-private.h"

#define WEFT_TASK_ID_SCHEMA                                                          \
  "{\"type\":\"object\",\"properties\":{\"task_id\":{\"type\":\"string\","          \
  "\"description\":\"the task_id a background tool answered with\"}},"               \
  "\"required\":[\"task_id\"]}"
#define WEFT_NO_ARGUMENTS_SCHEMA "{\"type\":\"object\",\"properties\":{}}"
#define WEFT_BACKGROUND_NOTE                                                          \
  " Runs in the background: answers at once with a task_id, and the result arrives " \
  "later as a notice; check_task tells how it goes."

/* ---- offers ---------------------------------------------------------------------- */

static WeftThreadOffer *
weft_offer_new (WeftOfferKind kind, const char *name, const char *description, char *schema)
{
  WeftThreadOffer *offer = g_new0 (WeftThreadOffer, 1);

  offer->kind = kind;
  offer->inst.name = g_strdup (name);
  offer->inst.description = g_strdup (description);
  offer->schema = schema;
  offer->inst.schema = schema;
  return offer;
}

WeftThreadOffer *
weft_thread_find_offer (WeftThread *thread, const char *name)
{
  for (guint i = 0; i < thread->offers->len; i++)
    {
      WeftThreadOffer *offer = thread->offers->pdata[i];
      if (g_str_equal (offer->inst.name, name))
        return offer;
    }
  return NULL;
}

static WeftToolInstance *
weft_thread_flow_tool (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < weft_flow_get_n_instances (flow, WEFT_PLUGIN_TOOL); i++)
    if (g_str_equal (weft_flow_get_tool (flow, i)->name, name))
      return weft_flow_get_tool (flow, i);
  return NULL;
}

/* A flow's inputs as a schema: each a string, required unless it has a
 * default. */
static char *
weft_flow_inputs_schema (WeftFlow *flow)
{
  const char * const *names = weft_flow_get_input_names (flow);
  JsonObject *defaults = weft_flow_get_default_inputs (flow);
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "object");
  json_builder_set_member_name (b, "properties");
  json_builder_begin_object (b);
  for (guint i = 0; names && names[i]; i++)
    {
      json_builder_set_member_name (b, names[i]);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "string");
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "required");
  json_builder_begin_array (b);
  for (guint i = 0; names && names[i]; i++)
    if (defaults == NULL || !json_object_has_member (defaults, names[i]))
      json_builder_add_string_value (b, names[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static WeftThreadOffer *
weft_thread_background_offer (WeftThread *thread, WeftBackgroundSpec *spec,
                              WeftThreadFindFlow find_flow, gpointer find_data, GError **error)
{
  WeftThreadOffer *offer = NULL;
  g_autofree char *described = NULL;

  switch (spec->kind)
    {
    case WEFT_BACKGROUND_TOOL:
      {
        WeftToolInstance *tool = weft_thread_flow_tool (thread->flow, spec->target);
        if (tool == NULL)
          break;
        described = g_strconcat (spec->description ? spec->description : tool->description,
                                 WEFT_BACKGROUND_NOTE, NULL);
        offer = weft_offer_new (WEFT_OFFER_BACKGROUND, spec->name, described,
                                g_strdup (tool->schema));
        offer->tool = tool;
        break;
      }
    case WEFT_BACKGROUND_AGENT:
      {
        gboolean found = FALSE;
        for (guint i = 0; i < weft_flow_get_n_instances (thread->flow, WEFT_PLUGIN_AGENT); i++)
          found |= g_str_equal (weft_flow_get_agent (thread->flow, i)->name, spec->target);
        if (!found)
          break;
        described = spec->description
                    ? g_strconcat (spec->description, WEFT_BACKGROUND_NOTE, NULL)
                    : g_strdup_printf ("Asks the agent %s.%s", spec->target, WEFT_BACKGROUND_NOTE);
        offer = weft_offer_new (WEFT_OFFER_BACKGROUND, spec->name, described,
                                g_strdup ("{\"type\":\"object\",\"properties\":{\"prompt\":"
                                          "{\"type\":\"string\",\"description\":\"what to ask\"}},"
                                          "\"required\":[\"prompt\"]}"));
        break;
      }
    case WEFT_BACKGROUND_FLOW:
    default:
      {
        WeftFlow *flow = g_str_equal (spec->target, weft_flow_get_name (thread->flow))
                         ? thread->flow : find_flow ? find_flow (spec->target, find_data) : NULL;
        if (flow == NULL)
          break;
        described = spec->description
                    ? g_strconcat (spec->description, WEFT_BACKGROUND_NOTE, NULL)
                    : g_strdup_printf ("Runs the flow %s with these inputs.%s", spec->target,
                                       WEFT_BACKGROUND_NOTE);
        offer = weft_offer_new (WEFT_OFFER_BACKGROUND, spec->name, described,
                                weft_flow_inputs_schema (flow));
        offer->flow = weft_flow_ref (flow);
        break;
      }
    }
  if (offer == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "background tool \"%s\": flow \"%s\" has no %s \"%s\"", spec->name,
                   weft_flow_get_name (thread->flow),
                   spec->kind == WEFT_BACKGROUND_TOOL ? "tool"
                   : spec->kind == WEFT_BACKGROUND_AGENT ? "agent" : "flow", spec->target);
      return NULL;
    }
  offer->background = spec->kind;
  offer->target = g_strdup (spec->target);
  return offer;
}

static gboolean
weft_thread_add_offer (WeftThread *thread, WeftThreadOffer *offer, GError **error)
{
  if (weft_thread_find_offer (thread, offer->inst.name) != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE,
                   "two tools named \"%s\" (the agent's and a background tool)",
                   offer->inst.name);
      weft_thread_offer_free (offer);
      return FALSE;
    }
  g_ptr_array_add (thread->offers, offer);
  return TRUE;
}

gboolean
weft_thread_make_offers (WeftThread *thread, WeftThreadFindFlow find_flow, gpointer find_data,
                         GError **error)
{
  GPtrArray *own = thread->agent->tools;
  GPtrArray *background = thread->config->background;

  for (guint i = 0; own && i < own->len; i++)
    {
      WeftToolInstance *tool = own->pdata[i];
      WeftThreadOffer *offer = weft_offer_new (WEFT_OFFER_TOOL, tool->name, tool->description,
                                               g_strdup (tool->schema));
      offer->tool = tool;
      if (!weft_thread_add_offer (thread, offer, error))
        return FALSE;
    }
  for (guint i = 0; background && i < background->len; i++)
    {
      WeftThreadOffer *offer = weft_thread_background_offer (thread, background->pdata[i],
                                                             find_flow, find_data, error);
      if (offer == NULL || !weft_thread_add_offer (thread, offer, error))
        return FALSE;
    }
  if (background && background->len > 0
      && (!weft_thread_add_offer (thread, weft_offer_new (WEFT_OFFER_CHECK_TASK, "check_task",
                                                          "Tells how a background task goes: "
                                                          "its status, and its result once done.",
                                                          g_strdup (WEFT_TASK_ID_SCHEMA)), error)
          || !weft_thread_add_offer (thread, weft_offer_new (WEFT_OFFER_CHECK_ALL_TASKS,
                                                             "check_all_tasks",
                                                             "Lists every background task of "
                                                             "this conversation with its status.",
                                                             g_strdup (WEFT_NO_ARGUMENTS_SCHEMA)),
                                    error)
          || !weft_thread_add_offer (thread, weft_offer_new (WEFT_OFFER_CANCEL_TASK, "cancel_task",
                                                             "Cancels a background task that "
                                                             "is still running.",
                                                             g_strdup (WEFT_TASK_ID_SCHEMA)),
                                    error)))
    return FALSE;

  thread->turn_agent.tools = g_ptr_array_sized_new (thread->offers->len);
  for (guint i = 0; i < thread->offers->len; i++)
    g_ptr_array_add (thread->turn_agent.tools,
                     &((WeftThreadOffer *) thread->offers->pdata[i])->inst);
  return TRUE;
}

/* ---- a background task's end ------------------------------------------------------- */

/* What a task's end is waited for with: the thread (a reference) and the
 * task (the thread's: its table never drops one). */
typedef struct {
  WeftThread *thread;
  WeftThreadTask *task;
} WeftThreadWork;

static char *
weft_thread_tool_json (JsonObject *o)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, o);
  return json_to_string (node, FALSE);
}

static char *
weft_thread_task_notice (WeftThreadTask *task)
{
  double seconds = (task->finished_wall_us - task->started_wall_us) / 1e6;

  if (g_str_equal (task->status, "completed"))
    return g_strdup_printf ("Background task %s (%s) completed in %.1f s. Result: %s", task->id,
                            task->name, seconds, task->result ? task->result : "");
  if (g_str_equal (task->status, "cancelled"))
    return g_strdup_printf ("Background task %s (%s) was cancelled after %.1f s.", task->id,
                            task->name, seconds);
  return g_strdup_printf ("Background task %s (%s) failed after %.1f s: %s", task->id,
                          task->name, seconds, task->error ? task->error : "no reason given");
}

/* Engine loop: the task ended; its notice goes into the queue. */
static void
weft_thread_work_done (WeftThreadWork *work, WeftStatus status, const char *result,
                       const char *error)
{
  WeftThread *thread = work->thread;
  WeftThreadTask *task = work->task;

  g_mutex_lock (&thread->lock);
  g_free (task->status);
  task->status = g_strdup (weft_status_to_string (status));
  task->result = g_strdup (result);
  task->error = g_strdup (error);
  task->finished_wall_us = g_get_real_time ();
  g_clear_object (&task->cancellable);
  JsonObject *json = weft_thread_task_to_json (task);
  g_mutex_unlock (&thread->lock);

  g_autofree char *text = weft_thread_tool_json (json);
  weft_thread_emit (thread, WEFT_EVENT_THREAD_TASK_FINISHED, 0, text, error, NULL,
                    g_get_monotonic_time () - task->started_us);
  g_autofree char *notice = weft_thread_task_notice (task);
  /* A closed thread takes no notice: nothing to tell anyone. */
  weft_thread_enqueue (thread, WEFT_ROLE_NOTICE, notice, FALSE, NULL, NULL);
  weft_thread_unref (thread);
  g_free (work);
}

/* A tool that was cancelled is "cancelled", whatever it answered then. */
static void
weft_thread_on_tool_done (const char *result, const GError *error, gpointer data)
{
  WeftThreadWork *work = data;
  WeftStatus status = g_cancellable_is_cancelled (work->task->cancellable) ? WEFT_STATUS_CANCELLED
                      : error == NULL ? WEFT_STATUS_COMPLETED : WEFT_STATUS_FAILED;

  weft_thread_work_done (work, status, status == WEFT_STATUS_COMPLETED ? result : NULL,
                         status == WEFT_STATUS_FAILED ? error->message : NULL);
}

static void
weft_thread_on_run_done (WeftRun *run, gpointer data)
{
  WeftThreadWork *work = data;
  const GError *error = weft_run_get_error (run);
  g_autofree char *result = NULL;

  if (work->task->kind == WEFT_BACKGROUND_AGENT)
    {
      if (weft_run_get_task_error (run, 0) != NULL)
        error = weft_run_get_task_error (run, 0);
      result = g_strdup (weft_run_get_task_output (run, 0));
    }
  else if (weft_run_get_status (run) == WEFT_STATUS_COMPLETED)
    {
      g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
      result = weft_thread_tool_json (json_object_ref (outputs));
    }
  weft_thread_work_done (work, weft_run_get_status (run), result, error ? error->message : NULL);
  weft_run_unref (run);
}

/* ---- a background task's start ---------------------------------------------------- */

static WeftThreadTask *
weft_thread_task_new (WeftThread *thread, WeftThreadOffer *offer, const char *arguments)
{
  WeftThreadTask *task = g_new0 (WeftThreadTask, 1);

  task->name = g_strdup (offer->inst.name);
  task->kind = offer->background;
  task->arguments = g_strdup (arguments);
  task->status = g_strdup ("running");
  task->started_wall_us = g_get_real_time ();
  task->started_us = g_get_monotonic_time ();
  task->cancellable = g_cancellable_new ();
  g_mutex_lock (&thread->lock);
  task->id = g_strdup_printf ("t%u", thread->tasks->len + 1);
  g_ptr_array_add (thread->tasks, task);
  g_mutex_unlock (&thread->lock);
  return task;
}

/* The run of an agent or a flow the call asks for, or NULL with `error`. */
static WeftRun *
weft_thread_make_run (WeftThread *thread, WeftThreadOffer *offer, JsonObject *args,
                      GError **error)
{
  if (offer->background == WEFT_BACKGROUND_FLOW)
    {
      WeftKickoffOptions options = { .inputs = args };
      return weft_run_new (offer->flow, &options, error);
    }
  JsonNode *prompt = json_object_get_member (args, "prompt");
  if (prompt == NULL || !JSON_NODE_HOLDS_VALUE (prompt)
      || json_node_get_value_type (prompt) != G_TYPE_STRING)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "\"prompt\" must be a string");
      return NULL;
    }
  g_autoptr(WeftFlow) job = weft_flow_new_agent_task (thread->flow, offer->target, error);
  if (job == NULL)
    return NULL;
  g_autoptr(JsonObject) inputs = json_object_new ();
  json_object_set_string_member (inputs, "prompt", json_node_get_string (prompt));
  WeftKickoffOptions options = { .inputs = inputs };
  return weft_run_new (job, &options, error);
}

static char *
weft_thread_start_background (WeftThread *thread, WeftThreadOffer *offer, const char *arguments,
                              GError **error)
{
  g_autoptr(JsonObject) args = weft_tool_parse_arguments (offer->inst.name, arguments, error);
  g_autoptr(WeftRun) run = NULL;

  if (args == NULL)
    return NULL;
  if (offer->background != WEFT_BACKGROUND_TOOL
      && (run = weft_thread_make_run (thread, offer, args, error)) == NULL)
    return NULL;

  WeftThreadTask *task = weft_thread_task_new (thread, offer, arguments ? arguments : "{}");
  WeftThreadWork *work = g_new0 (WeftThreadWork, 1);
  work->thread = weft_thread_ref (thread);
  work->task = task;
  if (run != NULL)
    {
      task->run_id = g_strdup (weft_run_get_id (run));
      if (thread->kickoff)
        thread->kickoff (run, task->cancellable, weft_thread_on_run_done, work,
                         thread->kickoff_data);
      else
        weft_run_kickoff (run, task->cancellable, weft_thread_on_run_done, work);
    }
  else
    weft_tool_call_start_detached (thread->engine, offer->tool, args, thread->id,
                                   task->cancellable, weft_thread_on_tool_done, work);

  g_mutex_lock (&thread->lock);
  g_autofree char *started = weft_thread_tool_json (weft_thread_task_to_json (task));
  g_mutex_unlock (&thread->lock);
  weft_thread_emit (thread, WEFT_EVENT_THREAD_TASK_STARTED, 0, started, NULL, NULL, 0);

  JsonObject *answer = json_object_new ();
  json_object_set_string_member (answer, "task_id", task->id);
  json_object_set_string_member (answer, "status", "running");
  return weft_thread_tool_json (answer);
}

/* ---- the check tools ------------------------------------------------------------------ */

/* What check_task tells the model of a task: less than the API's JSON. */
static JsonObject *
weft_thread_task_brief (WeftThreadTask *task)
{
  JsonObject *o = json_object_new ();
  gint64 end = task->finished_wall_us ? task->finished_wall_us : g_get_real_time ();

  json_object_set_string_member (o, "task_id", task->id);
  json_object_set_string_member (o, "name", task->name);
  json_object_set_string_member (o, "status", task->status);
  json_object_set_double_member (o, "elapsed_s",
                                 (gdouble) ((end - task->started_wall_us) / 1000) / 1000.0);
  if (task->result)
    json_object_set_string_member (o, "result", task->result);
  if (task->error)
    json_object_set_string_member (o, "error", task->error);
  return o;
}

static char *
weft_thread_check (WeftThread *thread, WeftThreadOffer *offer, const char *arguments,
                   GError **error)
{
  g_autoptr(JsonObject) args = weft_tool_parse_arguments (offer->inst.name, arguments, error);
  JsonObject *answer = NULL;
  g_autoptr(GCancellable) cancel = NULL;

  if (args == NULL)
    return NULL;
  const char *id = json_object_get_string_member_with_default (args, "task_id", NULL);
  g_mutex_lock (&thread->lock);
  if (offer->kind == WEFT_OFFER_CHECK_ALL_TASKS)
    {
      JsonArray *all = json_array_new ();
      for (guint i = 0; i < thread->tasks->len; i++)
        json_array_add_object_element (all, weft_thread_task_brief (thread->tasks->pdata[i]));
      answer = json_object_new ();
      json_object_set_array_member (answer, "tasks", all);
    }
  else if (id != NULL && weft_thread_find_task (thread, id) != NULL)
    {
      WeftThreadTask *task = weft_thread_find_task (thread, id);
      answer = weft_thread_task_brief (task);
      if (offer->kind == WEFT_OFFER_CANCEL_TASK && task->cancellable != NULL)
        {
          cancel = g_object_ref (task->cancellable);
          json_object_set_string_member (answer, "status", "cancelling");
        }
    }
  g_mutex_unlock (&thread->lock);
  if (answer == NULL)
    {
      g_autofree char *shown = weft_message_quote (id ? id : "", 40);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "no background task %s", shown);
      return NULL;
    }
  /* Outside the lock: the work's end may be handled at once. */
  if (cancel)
    g_cancellable_cancel (cancel);
  return weft_thread_tool_json (answer);
}

char *
weft_thread_call_offer (WeftThread *thread, WeftThreadOffer *offer, const char *arguments)
{
  g_autoptr(GError) error = NULL;
  char *answer = offer->kind == WEFT_OFFER_BACKGROUND
                 ? weft_thread_start_background (thread, offer, arguments, &error)
                 : weft_thread_check (thread, offer, arguments, &error);

  return answer ? answer : g_strdup_printf ("error: %s", error->message);
}

void
weft_thread_cancel_tasks (WeftThread *thread)
{
  g_autoptr(GPtrArray) running = g_ptr_array_new_with_free_func (g_object_unref);

  g_mutex_lock (&thread->lock);
  for (guint i = 0; i < thread->tasks->len; i++)
    {
      WeftThreadTask *task = thread->tasks->pdata[i];
      if (task->cancellable)
        g_ptr_array_add (running, g_object_ref (task->cancellable));
    }
  g_mutex_unlock (&thread->lock);
  for (guint i = 0; i < running->len; i++)
    g_cancellable_cancel (running->pdata[i]);
}
