/* weft-thread-turn.c — one turn of a thread: the agent answers the
 * history, calling tools as it likes, until it answers in words.
 *
 * Each model step is an attempt (weft-attempt.c) whose owner is the turn
 * rather than a run: the agent's converse() gets the history and the
 * thread's tools, and returns one assistant message.  The message enters
 * the history; the tool calls it asks for run at once, all together — the
 * agent's own tools on the tool pool (weft_attempt_run_tool), the thread's
 * background and check tools answering at once (weft-thread-tools.c) —
 * and their results enter the history, in the order of the calls, before
 * the agent is asked again.  Everything here runs on the engine loop.
 *
 * A turn can be stopped at any moment (a new message under the interrupt
 * strategy, a cancel, shutdown): the model call in flight is abandoned
 * (its attempt cancelled: the openai agent drops its request), what
 * finished stays in the history, and the calls still out are answered
 * "interrupted", so that every tool call of the history has its result. */
#include "weft-thread-private.h"

#include <string.h>

/* The most tool calls one message may ask for, and the longest name or id. */
#define WEFT_TURN_MAX_CALLS 64
#define WEFT_TURN_MAX_ID 128
#define WEFT_TURN_MAX_CONTENT (4 * 1024 * 1024)

struct _WeftThreadTurn {
  gint ref_count;             /* the loop's alone */
  WeftThread *thread;         /* a reference */
  guint number;
  gint64 started_us;
  guint steps;                /* model calls made */
  gboolean ended;
  WeftTask *current;          /* the model call in flight (not a reference), or NULL */
  WeftTask *calling;          /* a reference: the step whose tool calls run */
  JsonArray *calls;           /* its tool calls, as they entered the history */
  char **results;             /* one per call */
  guint pending;              /* calls not back yet */
};

typedef struct {
  WeftThreadTurn *turn;       /* a reference */
  WeftTask *calling;          /* the step it belongs to */
  guint index;
} WeftTurnSlot;

static void weft_turn_ask (WeftThreadTurn *turn);

static WeftThreadTurn *
weft_turn_ref (WeftThreadTurn *turn)
{
  turn->ref_count++;
  return turn;
}

static void
weft_turn_clear_calls (WeftThreadTurn *turn)
{
  g_clear_pointer (&turn->calls, json_array_unref);
  g_clear_pointer (&turn->results, g_strfreev);
  g_clear_pointer (&turn->calling, weft_attempt_unref);
  turn->pending = 0;
}

static void
weft_turn_unref (WeftThreadTurn *turn)
{
  if (--turn->ref_count > 0)
    return;
  weft_turn_clear_calls (turn);
  weft_thread_unref (turn->thread);
  g_free (turn);
}

/* ---- the end ---------------------------------------------------------------------- */

static const char *const weft_turn_ends[] = {
  [WEFT_TURN_COMPLETED] = "completed", [WEFT_TURN_FAILED] = "failed",
  [WEFT_TURN_INTERRUPTED] = "interrupted", [WEFT_TURN_CANCELLED] = "cancelled",
};

static void
weft_turn_end (WeftThreadTurn *turn, WeftTurnEnd end, const char *error)
{
  WeftThread *thread = turn->thread;

  turn->ended = TRUE;
  weft_engine_remove_live_run (thread->engine, &thread->shutdown_msg);
  thread->turn = NULL;
  g_mutex_lock (&thread->lock);
  g_free (thread->last_error);
  thread->last_error = g_strdup (error);
  /* Idle from the moment the end is told, unless messages wait. */
  thread->busy = thread->queue.length > 0;
  g_mutex_unlock (&thread->lock);
  weft_thread_emit (thread, WEFT_EVENT_THREAD_TURN_FINISHED, turn->number, weft_turn_ends[end],
                    error, NULL, g_get_monotonic_time () - turn->started_us);
  /* The queue's next message, if any, on the next pass of the loop. */
  weft_thread_wake (thread);
  weft_turn_unref (turn);
}

static void
weft_turn_fail (WeftThreadTurn *turn, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
weft_turn_fail (WeftThreadTurn *turn, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  weft_turn_end (turn, WEFT_TURN_FAILED, reason);
}

/* ---- tool calls --------------------------------------------------------------------- */

/* Every call is back (or given up): their results enter the history in the
 * order of the calls. */
static void
weft_turn_append_results (WeftThreadTurn *turn)
{
  for (guint i = 0; i < json_array_get_length (turn->calls); i++)
    {
      JsonObject *call = json_array_get_object_element (turn->calls, i);
      weft_thread_append (turn->thread, WEFT_ROLE_TOOL,
                          turn->results[i] ? turn->results[i]
                                           : "error: interrupted: the turn ended before this "
                                             "call returned",
                          NULL, json_object_get_string_member (call, "id"));
    }
  weft_turn_clear_calls (turn);
}

static void
weft_turn_call_returned (WeftThreadTurn *turn, guint index, char *result)
{
  g_free (turn->results[index]);
  turn->results[index] = result;
  if (--turn->pending > 0)
    return;
  weft_turn_append_results (turn);
  weft_turn_ask (turn);
}

static char *
weft_turn_result_text (const char *result, const GError *error)
{
  if (error != NULL)
    return g_strdup_printf ("error: %s", error->message);
  /* A tool's words may be any bytes; the history is text. */
  return g_utf8_make_valid (result ? result : "", -1);
}

/* Engine loop: a foreground call ended; also after the turn ended. */
static void
weft_turn_on_tool_done (WeftTask *task, const char *result, const GError *error, gpointer data)
{
  WeftTurnSlot *slot = data;
  WeftThreadTurn *turn = slot->turn;

  if (!turn->ended && turn->calling == slot->calling)
    weft_turn_call_returned (turn, slot->index, weft_turn_result_text (result, error));
  weft_turn_unref (turn);
  g_free (slot);
}

static char *
weft_turn_offered_names (WeftThread *thread)
{
  GString *names = g_string_new (NULL);

  for (guint i = 0; i < thread->offers->len; i++)
    g_string_append_printf (names, "%s%s", i ? ", " : "",
                            ((WeftThreadOffer *) thread->offers->pdata[i])->inst.name);
  return g_string_free (names, FALSE);
}

/* Starts call `i`: a foreground tool on the pool, anything else answered
 * now. */
static void
weft_turn_start_call (WeftThreadTurn *turn, guint i)
{
  JsonObject *call = json_array_get_object_element (turn->calls, i);
  JsonObject *function = json_object_get_object_member (call, "function");
  const char *name = json_object_get_string_member (function, "name");
  const char *arguments = json_object_get_string_member (function, "arguments");
  WeftThreadOffer *offer = weft_thread_find_offer (turn->thread, name);

  if (offer == NULL)
    {
      g_autofree char *offered = weft_turn_offered_names (turn->thread);
      g_autofree char *shown = weft_message_quote (name, 64);
      weft_turn_call_returned (turn, i, g_strdup_printf ("error: no tool %s (offered: %s)",
                                                         shown, *offered ? offered : "none"));
      return;
    }
  if (offer->kind != WEFT_OFFER_TOOL)
    {
      weft_turn_call_returned (turn, i, weft_thread_call_offer (turn->thread, offer, arguments));
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) args = weft_tool_parse_arguments (name, arguments, &error);
  if (args == NULL)
    {
      weft_turn_call_returned (turn, i, weft_turn_result_text (NULL, error));
      return;
    }
  WeftTurnSlot *slot = g_new0 (WeftTurnSlot, 1);
  slot->turn = weft_turn_ref (turn);
  slot->calling = turn->calling;
  slot->index = i;
  weft_attempt_run_tool (turn->calling, offer->tool, args, weft_turn_on_tool_done, slot);
}

/* `pending` holds one count more while the calls start, so that the
 * results are gathered only once every call has started. */
static void
weft_turn_run_calls (WeftThreadTurn *turn, WeftTask *attempt, JsonArray *calls)
{
  guint n = json_array_get_length (calls);

  turn->calling = weft_attempt_ref (attempt);
  turn->calls = json_array_ref (calls);
  turn->results = g_new0 (char *, n + 1);
  turn->pending = n + 1;
  for (guint i = 0; i < n && !turn->ended; i++)
    weft_turn_start_call (turn, i);
  if (!turn->ended)
    weft_turn_call_returned (turn, n, NULL);
}

/* ---- the agent's message ------------------------------------------------------------- */

static gboolean
weft_turn_is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* One call of the message, as the history keeps it: {"id", "type":
 * "function", "function": {"name", "arguments": TEXT}}; NULL with a
 * reason. */
static JsonObject *
weft_turn_read_call (WeftThreadTurn *turn, JsonNode *node, guint i, char **why)
{
  JsonObject *call = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  JsonNode *function = call ? json_object_get_member (call, "function") : NULL;
  JsonObject *f = function && JSON_NODE_HOLDS_OBJECT (function) ? json_node_get_object (function)
                                                                 : NULL;
  JsonNode *name = f ? json_object_get_member (f, "name") : NULL;
  JsonNode *args = f ? json_object_get_member (f, "arguments") : NULL;
  JsonNode *id = call ? json_object_get_member (call, "id") : NULL;

  if (f == NULL || !weft_turn_is_string (name) || *json_node_get_string (name) == '\0'
      || strlen (json_node_get_string (name)) > WEFT_TURN_MAX_ID)
    {
      *why = g_strdup_printf ("tool_calls[%u]: needs \"function\": {\"name\": a short string}", i);
      return NULL;
    }
  if (id != NULL && !JSON_NODE_HOLDS_NULL (id)
      && (!weft_turn_is_string (id) || strlen (json_node_get_string (id)) > WEFT_TURN_MAX_ID))
    {
      *why = g_strdup_printf ("tool_calls[%u].id: must be a short string", i);
      return NULL;
    }
  JsonObject *out = json_object_new ();
  JsonObject *out_f = json_object_new ();
  if (id && weft_turn_is_string (id) && *json_node_get_string (id))
    json_object_set_string_member (out, "id", json_node_get_string (id));
  else
    {
      g_autofree char *made = g_strdup_printf ("call_%u_%u_%u", turn->number, turn->steps, i + 1);
      json_object_set_string_member (out, "id", made);
    }
  json_object_set_string_member (out, "type", "function");
  json_object_set_string_member (out_f, "name", json_node_get_string (name));
  if (weft_turn_is_string (args))
    json_object_set_string_member (out_f, "arguments", json_node_get_string (args));
  else
    {
      /* Some servers give the arguments as an object: the text of it. */
      g_autofree char *text = args ? json_to_string (args, FALSE) : g_strdup ("{}");
      json_object_set_string_member (out_f, "arguments", text);
    }
  json_object_set_object_member (out, "function", out_f);
  return out;
}

/* The agent's message (JSON text, hostile: it may quote a model word for
 * word), checked: its content (or NULL) and its calls (or NULL). */
static gboolean
weft_turn_read_message (WeftThreadTurn *turn, const char *text, char **content, JsonArray **calls,
                        char **why)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = weft_json_parse (text, -1, &error);

  *content = NULL;
  *calls = NULL;
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      *why = g_strdup_printf ("not a JSON object%s%s", error ? ": " : "",
                              error ? error->message : "");
      return FALSE;
    }
  JsonObject *message = json_node_get_object (root);
  JsonNode *c = json_object_get_member (message, "content");
  JsonNode *tc = json_object_get_member (message, "tool_calls");
  if (c != NULL && !JSON_NODE_HOLDS_NULL (c)
      && (!weft_turn_is_string (c) || strlen (json_node_get_string (c)) > WEFT_TURN_MAX_CONTENT))
    {
      *why = g_strdup_printf ("\"content\" must be a string of at most %d bytes, or null",
                              WEFT_TURN_MAX_CONTENT);
      return FALSE;
    }
  if (tc != NULL && !JSON_NODE_HOLDS_NULL (tc)
      && (!JSON_NODE_HOLDS_ARRAY (tc)
          || json_array_get_length (json_node_get_array (tc)) > WEFT_TURN_MAX_CALLS))
    {
      *why = g_strdup_printf ("\"tool_calls\" must be an array of at most %d calls",
                              WEFT_TURN_MAX_CALLS);
      return FALSE;
    }
  g_autoptr(JsonArray) out = json_array_new ();
  for (guint i = 0; tc && JSON_NODE_HOLDS_ARRAY (tc) && i < json_array_get_length (json_node_get_array (tc)); i++)
    {
      JsonObject *call = weft_turn_read_call (turn, json_array_get_element (json_node_get_array (tc), i),
                                              i, why);
      if (call == NULL)
        return FALSE;
      json_array_add_object_element (out, call);
    }
  if (weft_turn_is_string (c))
    *content = g_strdup (json_node_get_string (c));
  if (json_array_get_length (out) > 0)
    *calls = g_steal_pointer (&out);
  return TRUE;
}

static void
weft_turn_answered (WeftThreadTurn *turn, WeftTask *attempt, char *output)
{
  g_autofree char *content = NULL;
  g_autoptr(JsonArray) calls = NULL;
  g_autofree char *why = NULL;

  if (!weft_attempt_output_is_message (attempt))
    content = g_steal_pointer (&output);
  else if (!weft_turn_read_message (turn, output, &content, &calls, &why))
    {
      weft_turn_fail (turn, "agent \"%s\" answered a message weft cannot read: %s",
                      turn->thread->agent->name, why);
      g_free (output);
      return;
    }
  g_free (output);
  g_autofree char *calls_text = NULL;
  if (calls)
    {
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
      json_node_set_array (node, calls);
      calls_text = json_to_string (node, FALSE);
    }
  weft_thread_append (turn->thread, WEFT_ROLE_ASSISTANT,
                      content || calls ? content : "", calls_text, NULL);
  if (calls)
    weft_turn_run_calls (turn, attempt, calls);
  else
    weft_turn_end (turn, WEFT_TURN_COMPLETED, NULL);
}

/* ---- the model steps ------------------------------------------------------------------ */

static void
weft_turn_on_returned (WeftMsg *msg)
{
  WeftTask *attempt = weft_attempt_from_msg (msg);
  WeftThreadTurn *turn = weft_attempt_get_run (attempt);
  WeftEngine *engine = turn->thread->engine;

  if (turn->current == attempt && !turn->ended)
    {
      char *output;
      g_autoptr(GError) error = weft_attempt_take_result (attempt, &output);
      turn->current = NULL;
      if (error)
        weft_turn_fail (turn, "%s", error->message);
      else
        weft_turn_answered (turn, attempt, output);
    }
  weft_attempt_unref (attempt);
  weft_engine_attempt_finished (engine);
}

static void
weft_turn_on_step (WeftTask *attempt, const char *kind, const char *text)
{
  WeftThreadTurn *turn = weft_attempt_get_run (attempt);

  if (turn->ended || (turn->current != attempt && turn->calling != attempt))
    return;
  weft_thread_emit (turn->thread, WEFT_EVENT_THREAD_STEP, turn->number, text, NULL, kind, 0);
}

/* What a turn's attempts read of it (WeftAttemptOwner), from any thread:
 * nothing that changes. */

static void
weft_turn_owner_unref (gpointer turn)
{
  weft_turn_unref (turn);
}

static const char *
weft_turn_owner_get_id (gpointer turn)
{
  return ((WeftThreadTurn *) turn)->thread->id;
}

static const char *
weft_turn_owner_get_flow_name (gpointer turn)
{
  return weft_flow_get_name (((WeftThreadTurn *) turn)->thread->flow);
}

static const char *
weft_turn_owner_get_inputs_json (gpointer turn)
{
  return "{}";
}

static guint
weft_turn_owner_get_n_context (gpointer turn, guint task)
{
  return 0;
}

static const char *
weft_turn_owner_get_context_text (gpointer turn, guint task, guint i)
{
  return NULL;
}

static WeftEngine *
weft_turn_owner_get_engine (gpointer turn)
{
  return ((WeftThreadTurn *) turn)->thread->engine;
}

static GMainContext *
weft_turn_owner_get_context (gpointer turn)
{
  return weft_engine_get_main_context (((WeftThreadTurn *) turn)->thread->engine);
}

static gpointer
weft_turn_owner_get_soup (gpointer turn)
{
  return weft_engine_get_soup_session (((WeftThreadTurn *) turn)->thread->engine);
}

static WeftBus *
weft_turn_owner_get_bus (gpointer turn)
{
  return ((WeftThreadTurn *) turn)->thread->bus;
}

static const WeftAttemptOwner weft_turn_owner = {
  .unref = weft_turn_owner_unref,
  .get_id = weft_turn_owner_get_id,
  .get_flow_name = weft_turn_owner_get_flow_name,
  .get_inputs_json = weft_turn_owner_get_inputs_json,
  .get_n_context = weft_turn_owner_get_n_context,
  .get_context_name = weft_turn_owner_get_context_text,
  .get_context_output = weft_turn_owner_get_context_text,
  .get_engine = weft_turn_owner_get_engine,
  .get_context = weft_turn_owner_get_context,
  .get_soup = weft_turn_owner_get_soup,
  .get_bus = weft_turn_owner_get_bus,
  .returned = weft_turn_on_returned,
  .step = weft_turn_on_step,
};

/* The text the agent answers: the last message's (the history never
 * drops one while the thread lives, so the attempt may point at it). */
static const char *
weft_turn_prompt (WeftThread *thread)
{
  WeftThreadMessage *last = thread->history->len
                            ? thread->history->pdata[thread->history->len - 1] : NULL;

  return last && last->content ? last->content : "";
}

static void
weft_turn_ask (WeftThreadTurn *turn)
{
  WeftThread *thread = turn->thread;

  if (turn->steps >= (guint) thread->config->max_steps)
    {
      weft_turn_fail (turn, "no final answer after max_steps (%d) model calls: the model still "
                      "calls tools", thread->config->max_steps);
      return;
    }
  turn->steps++;
  const char *prompt = weft_turn_prompt (thread);
  WeftTask *attempt = weft_attempt_new (&weft_turn_owner, weft_turn_ref (turn),
                                        &thread->turn_task, WEFT_NO_TASK, turn->steps, prompt,
                                        prompt);
  weft_attempt_set_messages (attempt, weft_thread_history_json (thread));
  turn->current = attempt;
  weft_engine_attempt_started (thread->engine);
  if (thread->agent->plugin->desc->agent->flags & WEFT_AGENT_ASYNC)
    weft_attempt_call_agent (attempt);
  else
    weft_engine_run_agent_job (thread->engine, weft_attempt_get_job (attempt));
}

/* ---- start and stop -------------------------------------------------------------------- */

void
weft_thread_turn_start (WeftThread *thread)
{
  WeftThreadTurn *turn = g_new0 (WeftThreadTurn, 1);

  turn->ref_count = 1;
  turn->thread = weft_thread_ref (thread);
  turn->started_us = g_get_monotonic_time ();
  g_mutex_lock (&thread->lock);
  turn->number = ++thread->n_turns;
  g_mutex_unlock (&thread->lock);
  thread->turn = turn;
  weft_engine_add_live_run (thread->engine, &thread->shutdown_msg);
  weft_thread_emit (thread, WEFT_EVENT_THREAD_TURN_STARTED, turn->number, NULL, NULL, NULL, 0);
  weft_turn_ask (turn);
}

void
weft_thread_turn_stop (WeftThread *thread, WeftTurnEnd end)
{
  WeftThreadTurn *turn = thread->turn;

  if (turn == NULL)
    return;
  if (turn->current != NULL)
    {
      weft_attempt_cancel (turn->current);
      turn->current = NULL;
    }
  if (turn->calls != NULL)
    {
      /* The foreground calls still out are cancelled; their late results
       * are dropped (turn->calling no longer matches). */
      weft_attempt_cancel (turn->calling);
      weft_turn_append_results (turn);
    }
  weft_turn_end (turn, end, end == WEFT_TURN_INTERRUPTED ? "interrupted by a new message"
                            : "cancelled");
}
