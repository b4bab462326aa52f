/* weft-tool.c — tool calls: an attempt's agent asks, a worker runs the
 * tool, the result comes back by the bus to the agent's callback on the
 * loop.  Many calls of one attempt run at once.  A thread runs the calls
 * its assistant asked for the same way (weft_attempt_run_tool), and its
 * background tools as calls of no attempt (weft_tool_call_start_detached). */
#include "weft-private.h"

struct _WeftToolCall {
  WeftMsg job;                /* the tool's call, on a worker */
  WeftMsg returned;           /* the tool returned: on the loop */
  WeftTask *task;             /* a reference: the caller's attempt; NULL when detached */
  WeftEngine *engine;
  WeftBus *bus;
  GCancellable *cancellable;  /* detached: its own */
  char *owner_id;             /* detached: whose it is, for the tool's logs */
  WeftToolDoneFunc done;      /* detached: called instead of `callback` */
  WeftToolInstance *tool;
  JsonObject *arguments;
  gint has_returned;
  char *result;
  GError *error;
  WeftToolCallback callback;
  gpointer user_data;
};

static GPtrArray *
weft_attempt_tools (WeftTask *task)
{
  return weft_attempt_get_flow_task (task)->agent->tools;
}

static WeftToolInstance *
weft_attempt_tool (WeftTask *task, guint i)
{
  GPtrArray *tools = weft_attempt_tools (task);

  g_return_val_if_fail (i < tools->len, NULL);
  return tools->pdata[i];
}

guint
weft_task_get_n_tools (WeftTask *task)
{
  return weft_attempt_tools (task)->len;
}

const char *
weft_task_get_tool_name (WeftTask *task, guint i)
{
  WeftToolInstance *t = weft_attempt_tool (task, i);
  return t ? t->name : NULL;
}

const char *
weft_task_get_tool_description (WeftTask *task, guint i)
{
  WeftToolInstance *t = weft_attempt_tool (task, i);
  return t ? t->description : NULL;
}

const char *
weft_task_get_tool_schema (WeftTask *task, guint i)
{
  WeftToolInstance *t = weft_attempt_tool (task, i);
  return t ? t->schema : NULL;
}

static WeftToolInstance *
weft_attempt_find_tool (WeftTask *task, const char *name)
{
  GPtrArray *tools = weft_attempt_tools (task);

  for (guint i = 0; i < tools->len; i++)
    if (g_str_equal (((WeftToolInstance *) tools->pdata[i])->name, name))
      return tools->pdata[i];
  return NULL;
}

/* {"tool": NAME, KEY: VALUE} as one line, for task.step events. */
static char *
weft_tool_step_text (const char *tool, const char *key, JsonNode *value)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "tool");
  json_builder_add_string_value (b, tool);
  json_builder_set_member_name (b, key);
  json_builder_add_value (b, value);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* On a worker: the tool's call, unless the attempt was cancelled meanwhile. */
static void
weft_tool_call_on_job (WeftMsg *job)
{
  WeftToolCall *call = WEFT_MSG_OWNER (job, WeftToolCall, job);

  if (g_cancellable_is_cancelled (weft_tool_call_get_cancellable (call)))
    {
      weft_tool_call_return_error (call, g_error_new (WEFT_ERROR, WEFT_ERROR_CANCELLED,
                                                      "cancelled before the tool started"));
      return;
    }
  call->tool->plugin->desc->tool->invoke (call->tool->instance, call);
}

/* On the loop: the result is a step of the attempt, then the agent's. */
static void
weft_tool_call_on_returned (WeftMsg *msg)
{
  WeftToolCall *call = WEFT_MSG_OWNER (msg, WeftToolCall, returned);
  WeftEngine *engine = call->engine;

  if (call->task != NULL)
    {
      JsonNode *value = json_node_init_string (json_node_alloc (),
                                               call->error ? call->error->message : call->result);
      g_autofree char *step = weft_tool_step_text (call->tool->name,
                                                   call->error ? "error" : "result", value);

      weft_attempt_raise_step (call->task, "tool_result", step);
      call->callback (call->task, call->result, call->error, call->user_data);
      weft_attempt_unref (call->task);
    }
  else
    call->done (call->result, call->error, call->user_data);

  g_clear_object (&call->cancellable);
  g_free (call->owner_id);
  json_object_unref (call->arguments);
  g_free (call->result);
  g_clear_error (&call->error);
  g_free (call);
  weft_engine_attempt_finished (engine);
}

static WeftToolCall *
weft_tool_call_new (WeftEngine *engine, WeftToolInstance *tool, JsonObject *arguments)
{
  WeftToolCall *call = g_new0 (WeftToolCall, 1);

  call->job.handle = weft_tool_call_on_job;
  call->returned.handle = weft_tool_call_on_returned;
  call->engine = engine;
  call->bus = weft_engine_get_bus (engine);
  call->tool = tool;
  call->arguments = json_object_ref (arguments);
  return call;
}

static void
weft_tool_call_start (WeftToolCall *call)
{
  weft_engine_attempt_started (call->engine);
  weft_engine_run_tool_job (call->engine, &call->job);
}

/* The attempt's call of `tool`: its "tool_call" step raised by `raise`. */
static void
weft_attempt_start_tool (WeftTask *task, WeftToolInstance *tool, JsonObject *arguments,
                         gboolean on_loop, WeftToolCallback callback, gpointer user_data)
{
  WeftToolCall *call = weft_tool_call_new (weft_attempt_get_engine (task), tool, arguments);

  call->task = weft_attempt_ref (task);
  call->callback = callback;
  call->user_data = user_data;
  JsonNode *args = json_node_init_object (json_node_alloc (), arguments);
  g_autofree char *step = weft_tool_step_text (tool->name, "arguments", args);
  if (on_loop)
    weft_attempt_raise_step (task, "tool_call", step);
  else
    weft_task_step (task, "tool_call", step);
  weft_tool_call_start (call);
}

gboolean
weft_task_call_tool (WeftTask *task, const char *name, const char *arguments,
                     WeftToolCallback callback, gpointer user_data, GError **error)
{
  g_return_val_if_fail (task != NULL && name != NULL && callback != NULL, FALSE);

  if (weft_attempt_is_turn (task))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "in a conversation the thread runs the tools: return the calls in the "
                   "assistant's message (weft_task_return_message)");
      return FALSE;
    }
  WeftToolInstance *tool = weft_attempt_find_tool (task, name);
  if (tool == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "task \"%s\" has no tool \"%s\"", weft_task_get_name (task), name);
      return FALSE;
    }
  g_autoptr(JsonObject) args = weft_tool_parse_arguments (name, arguments, error);
  if (args == NULL)
    return FALSE;
  weft_attempt_start_tool (task, tool, args, FALSE, callback, user_data);
  return TRUE;
}

JsonObject *
weft_tool_parse_arguments (const char *name, const char *arguments, GError **error)
{
  GError *parse_error = NULL;
  g_autoptr(JsonNode) args = weft_json_parse (arguments ? arguments : "{}", -1, &parse_error);
  if (args == NULL)
    {
      /* The parser's error as it is (its domain and code), said of the tool. */
      g_propagate_prefixed_error (error, parse_error,
                                  "arguments of tool \"%s\" are not a JSON object: ", name);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (args))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "arguments of tool \"%s\" are not a JSON object", name);
      return NULL;
    }
  return json_object_ref (json_node_get_object (args));
}

void
weft_attempt_run_tool (WeftTask *attempt, WeftToolInstance *tool, JsonObject *arguments,
                       WeftToolCallback callback, gpointer user_data)
{
  weft_attempt_start_tool (attempt, tool, arguments, TRUE, callback, user_data);
}

void
weft_tool_call_start_detached (WeftEngine *engine, WeftToolInstance *tool, JsonObject *arguments,
                               const char *owner_id, GCancellable *cancellable,
                               WeftToolDoneFunc done, gpointer user_data)
{
  WeftToolCall *call = weft_tool_call_new (engine, tool, arguments);

  call->cancellable = g_object_ref (cancellable);
  call->owner_id = g_strdup (owner_id);
  call->done = done;
  call->user_data = user_data;
  weft_tool_call_start (call);
}

/* ---- the tool's side (SDK) ------------------------------------------------ */

const char *
weft_tool_call_get_tool_name (WeftToolCall *call)
{
  return call->tool->name;
}

JsonObject *
weft_tool_call_get_arguments (WeftToolCall *call)
{
  return call->arguments;
}

GCancellable *
weft_tool_call_get_cancellable (WeftToolCall *call)
{
  return call->task ? weft_task_get_cancellable (call->task) : call->cancellable;
}

const char *
weft_tool_call_get_run_id (WeftToolCall *call)
{
  return call->task ? weft_task_get_run_id (call->task) : call->owner_id;
}

const char *
weft_tool_call_get_task_name (WeftToolCall *call)
{
  return call->task ? weft_task_get_name (call->task) : call->tool->name;
}

static void
weft_tool_call_post (WeftToolCall *call)
{
  weft_bus_post (call->bus, &call->returned);
}

static gboolean
weft_tool_call_claim_return (WeftToolCall *call)
{
  if (g_atomic_int_compare_and_exchange (&call->has_returned, 0, 1))
    return TRUE;
  g_critical ("tool \"%s\" returned twice: a tool must return exactly once", call->tool->name);
  return FALSE;
}

void
weft_tool_call_return (WeftToolCall *call, const char *result)
{
  g_return_if_fail (call != NULL);

  if (!weft_tool_call_claim_return (call))
    return;
  call->result = g_strdup (result ? result : "");
  weft_tool_call_post (call);
}

void
weft_tool_call_return_error (WeftToolCall *call, GError *error)
{
  g_return_if_fail (call != NULL);

  if (!weft_tool_call_claim_return (call))
    {
      g_clear_error (&error);
      return;
    }
  /* It goes back to the model, and into events, as the tool's result. */
  weft_secrets_redact_error (error);
  call->error = error ? error
                      : g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "tool failed without a reason");
  weft_tool_call_post (call);
}
