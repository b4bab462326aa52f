/* weft-openai-http.c — one chat completion against an OpenAI-compatible
 * server: waits for the rate limiter, sends the request on one of the
 * client's SoupSessions (weft-openai-pool.c), reads the answer (whole, or
 * as server-sent events), and retries what a production client retries.
 *
 * Everything runs on the engine loop: libsoup's callbacks (the sessions'
 * context is the loop's), the limiter's grant, the timers.  So the state
 * below needs no lock; `finished` alone decides whether `done` may still be
 * called.  Each pending callback holds a reference, so an aborted exchange
 * lives until libsoup has let go of it.
 */
#include "weft-openai.h"

#include <string.h>

/* Backoff never waits longer than this, unless the server says so. */
#define WEFT_OPENAI_BACKOFF_CAP_MS 60000
/* An answer larger than this is refused rather than buffered. */
#define WEFT_OPENAI_MAX_BODY (64 * 1024 * 1024)
/* Each async read in flight holds a buffer this large, and with ten
 * thousand requests answered at once as many reads can be in flight: at
 * 16 KiB each they were a quarter of the peak heap.  A completion is
 * usually a few hundred bytes, an event of a stream far less. */
#define WEFT_OPENAI_READ_SIZE 2048

typedef struct {
  char *id;
  GString *name;
  GString *arguments;
} WeftOpenaiCallDelta;

struct _WeftOpenaiExchange {
  gatomicrefcount ref_count;
  WeftOpenaiClient *client;
  SoupSession *like;            /* the engine's: new sessions copy it     */
  GMainContext *context;
  GBytes *body;
  gint64 estimate;              /* tokens debited from the limiter       */
  WeftOpenaiStepFunc step;
  WeftOpenaiDoneFunc done;
  gpointer data;
  gboolean finished;            /* done called, or aborted               */
  guint retries;                /* retries made so far                   */

  /* The attempt in flight. */
  WeftOpenaiWaiter *waiter;     /* queued in the limiter                 */
  gboolean holds_slot;          /* the limiter let it start              */
  GSource *timer;               /* backoff                               */
  WeftOpenaiDeadline timeout;   /* the request's, in the client's pool   */
  gboolean timed_out;
  WeftOpenaiShard *shard;       /* the session the request went to       */
  WeftOpenaiPoolWaiter ready;   /* waits for the pool's first lookup     */
  GCancellable *cancellable;    /* this attempt's: abort and timeout     */
  SoupMessage *message;
  GInputStream *stream;
  GByteArray *buffer;           /* the body, or the unparsed SSE tail     */

  /* A streamed answer, as it arrives. */
  gboolean streaming;
  gboolean stream_done;         /* [DONE] or a finish_reason was seen     */
  gboolean emitted;             /* chunks were reported: never retried    */
  GString *sse_data;
  GString *content;
  gboolean has_content;
  GArray *calls;                /* WeftOpenaiCallDelta, by index          */
  gint64 usage;
};

/* ------------------------------------------------------------------------ */
/* Client and exchange lifetimes                                            */

WeftOpenaiClient *
weft_openai_client_ref (WeftOpenaiClient *client)
{
  g_atomic_ref_count_inc (&client->ref_count);
  return client;
}

void
weft_openai_client_unref (WeftOpenaiClient *client)
{
  if (client == NULL || !g_atomic_ref_count_dec (&client->ref_count))
    return;
  g_free (client->base_url);
  g_free (client->url);
  if (client->api_key != NULL)
    memset (client->api_key, 0, strlen (client->api_key));
  g_free (client->api_key);
  g_strfreev (client->header_names);
  g_strfreev (client->header_values);
  weft_openai_limiter_unref (client->limiter);
  weft_openai_pool_free (client->pool);
  g_free (client);
}

static WeftOpenaiExchange *
weft_openai_exchange_ref (WeftOpenaiExchange *ex)
{
  g_atomic_ref_count_inc (&ex->ref_count);
  return ex;
}

static void
weft_openai_call_delta_clear (gpointer data)
{
  WeftOpenaiCallDelta *d = data;

  g_free (d->id);
  g_string_free (d->name, TRUE);
  g_string_free (d->arguments, TRUE);
}

/* Forgets a streamed answer, for a fresh attempt. */
static void
weft_openai_exchange_reset_stream (WeftOpenaiExchange *ex)
{
  ex->stream_done = FALSE;
  ex->has_content = FALSE;
  ex->usage = -1;
  g_string_truncate (ex->sse_data, 0);
  g_string_truncate (ex->content, 0);
  g_array_set_size (ex->calls, 0);
  g_byte_array_set_size (ex->buffer, 0);
}

static void
weft_openai_exchange_unref (gpointer data)
{
  WeftOpenaiExchange *ex = data;

  if (!g_atomic_ref_count_dec (&ex->ref_count))
    return;
  /* A timer or a slot still held here means the engine loop stopped with
   * this request pending: nothing is left to give them back to. */
  g_clear_pointer (&ex->timer, g_source_unref);
  weft_openai_pool_remove_deadline (ex->client->pool, &ex->timeout);
  g_clear_object (&ex->cancellable);
  g_clear_object (&ex->message);
  g_clear_object (&ex->stream);
  if (ex->shard != NULL)
    weft_openai_pool_give (ex->client->pool, g_steal_pointer (&ex->shard));
  g_byte_array_unref (ex->buffer);
  g_string_free (ex->sse_data, TRUE);
  g_string_free (ex->content, TRUE);
  g_array_unref (ex->calls);
  g_bytes_unref (ex->body);
  g_object_unref (ex->like);
  g_main_context_unref (ex->context);
  weft_openai_client_unref (ex->client);
  g_free (ex);
}

/* Ends the attempt in flight: gives its slot back (correcting the token
 * estimate by `used`, -1 when unknown) and drops its timer and streams. */
static void
weft_openai_exchange_end_attempt (WeftOpenaiExchange *ex, gint64 used)
{
  if (ex->holds_slot)
    weft_openai_limiter_release (ex->client->limiter, ex->estimate, used);
  ex->holds_slot = FALSE;
  if (ex->timer != NULL)
    g_source_destroy (ex->timer);
  g_clear_pointer (&ex->timer, g_source_unref);
  weft_openai_pool_remove_deadline (ex->client->pool, &ex->timeout);
  g_clear_object (&ex->stream);
  g_clear_object (&ex->message);
  g_clear_object (&ex->cancellable);
  if (ex->shard != NULL)
    weft_openai_pool_give (ex->client->pool, g_steal_pointer (&ex->shard));
}

static void
weft_openai_exchange_finish (WeftOpenaiExchange *ex, JsonObject *message, GError *error)
{
  g_return_if_fail (!ex->finished);

  ex->finished = TRUE;
  ex->done (message, error, ex->data);
  g_clear_error (&error);
  weft_openai_exchange_unref (ex);         /* the caller's reference */
}

static void
weft_openai_exchange_fail (WeftOpenaiExchange *ex, GError *error)
{
  weft_openai_exchange_end_attempt (ex, -1);
  weft_openai_exchange_finish (ex, NULL, error);
}

/* ------------------------------------------------------------------------ */
/* Errors and retries                                                       */

/* Never lets the key reach an error: some providers quote it back. */
static char *
weft_openai_redact (const WeftOpenaiClient *client, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_auto(GStrv) parts = NULL;

  if (client->api_key == NULL || client->api_key[0] == '\0')
    return g_steal_pointer (&valid);
  parts = g_strsplit (valid, client->api_key, -1);
  return g_strjoinv ("[redacted]", parts);
}

/* The provider's own words: {"error": {"message": ...}}, {"error": "..."},
 * {"message": ...}, or the start of the body. */
static char *
weft_openai_provider_message (const WeftOpenaiClient *client, GByteArray *body)
{
  g_autofree char *text = g_strndup ((const char *) body->data, MIN (body->len, 2000));
  g_autoptr(JsonNode) root = json_from_string (text, NULL);
  JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *err = obj ? json_object_get_member (obj, "error") : NULL;
  const char *message = NULL;

  if (err != NULL && JSON_NODE_HOLDS_OBJECT (err))
    obj = json_node_get_object (err);
  else if (err != NULL && json_node_get_value_type (err) == G_TYPE_STRING)
    message = json_node_get_string (err);
  if (message == NULL && obj != NULL)
    message = json_object_get_string_member_with_default (obj, "message", NULL);
  if (message == NULL)
    message = g_strstrip (text);
  return weft_openai_redact (client, message[0] != '\0' ? message : "(empty body)");
}

/* Retry-After in seconds or as an HTTP date, and OpenAI's retry-after-ms;
 * the larger wins.  0 when absent. */
static gint64
weft_openai_retry_after_ms (SoupMessage *msg)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  const char *value = soup_message_headers_get_one (headers, "Retry-After");
  const char *ms = soup_message_headers_get_one (headers, "retry-after-ms");
  gint64 delay = 0;
  char *end = NULL;

  if (value != NULL)
    {
      double seconds = g_ascii_strtod (value, &end);
      if (end != value && *end == '\0' && seconds >= 0)
        delay = (gint64) (seconds * 1000);
      else
        {
          g_autoptr(GDateTime) when = soup_date_time_new_from_http_string (value);
          g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
          if (when != NULL)
            delay = MAX (0, g_date_time_difference (when, now) / 1000);
        }
    }
  if (ms != NULL)
    delay = MAX (delay, (gint64) g_ascii_strtod (ms, NULL));
  return delay;
}

static gboolean
weft_openai_status_is_retryable (guint status)
{
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static void weft_openai_exchange_attempt (WeftOpenaiExchange *ex);

static gboolean
weft_openai_exchange_backoff_elapsed (gpointer data)
{
  WeftOpenaiExchange *ex = data;

  g_clear_pointer (&ex->timer, g_source_unref);
  if (!ex->finished)
    weft_openai_exchange_attempt (ex);
  return G_SOURCE_REMOVE;
}

/* Full jitter: a random delay in [0, base·2^n], capped; the server's
 * Retry-After when it asks for longer. */
static gint64
weft_openai_backoff_ms (const WeftOpenaiClient *client, guint retry, gint64 retry_after_ms)
{
  double ceiling = (double) client->retry_base_ms * (double) (1ull << MIN (retry, 30u));
  double jitter = g_random_double () * MIN (ceiling, (double) WEFT_OPENAI_BACKOFF_CAP_MS);

  return MAX ((gint64) jitter, retry_after_ms);
}

/* `reason` says what went wrong, for the retry step ("429 Too Many
 * Requests"); `error` is the task's error should no retry be left. */
static void
weft_openai_exchange_retry (WeftOpenaiExchange *ex, const char *reason, gint64 retry_after_ms,
                            GError *error)
{
  gint64 delay;
  g_autofree char *text = NULL;

  weft_openai_exchange_end_attempt (ex, 0);
  if (ex->retries >= ex->client->max_retries || ex->emitted)
    {
      if (ex->retries > 0)
        g_prefix_error (&error, "(after %u retries) ", ex->retries);
      weft_openai_exchange_finish (ex, NULL, error);
      return;
    }
  g_clear_error (&error);
  delay = weft_openai_backoff_ms (ex->client, ex->retries, retry_after_ms);
  ex->retries++;
  text = g_strdup_printf ("%s, retrying in %.1f s (retry %u of %u)", reason, (double) delay / 1000.0,
                          ex->retries, ex->client->max_retries);
  ex->step ("retry", text, ex->data);
  ex->timer = g_timeout_source_new ((guint) MIN (delay, G_MAXUINT));
  g_source_set_callback (ex->timer, weft_openai_exchange_backoff_elapsed,
                         weft_openai_exchange_ref (ex), weft_openai_exchange_unref);
  g_source_attach (ex->timer, ex->context);
}

/* A transport failure: no connection, a dropped one, a timeout. */
static void
weft_openai_exchange_transport_error (WeftOpenaiExchange *ex, const GError *cause)
{
  const WeftOpenaiClient *client = ex->client;
  g_autofree char *reason = NULL;
  GError *error;

  if (ex->timed_out)
    {
      reason = g_strdup_printf ("no answer within %.1f s", client->timeout_ms / 1000.0);
      error = g_error_new (WEFT_ERROR, WEFT_ERROR_TIMEOUT, "openai: no answer from %s within %.1f s",
                           client->base_url, client->timeout_ms / 1000.0);
    }
  else
    {
      reason = g_strdup_printf ("connection error (%s)", cause->message);
      error = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "openai: %s %s: %s",
                           ex->emitted ? "stream broke off from" : "cannot reach",
                           client->base_url, cause->message);
    }
  weft_openai_exchange_retry (ex, reason, 0, error);
}

/* The usual phrase for the statuses an API answers with: servers differ
 * (libsoup's own server says "Unknown Error" for 429, HTTP/2 has none). */
static const char *
weft_openai_status_phrase (guint status, const char *said)
{
  static const struct { guint status; const char *phrase; } known[] = {
    { 400, "Bad Request" }, { 401, "Unauthorized" }, { 402, "Payment Required" },
    { 403, "Forbidden" }, { 404, "Not Found" }, { 408, "Request Timeout" },
    { 409, "Conflict" }, { 413, "Payload Too Large" }, { 422, "Unprocessable Entity" },
    { 429, "Too Many Requests" }, { 500, "Internal Server Error" }, { 502, "Bad Gateway" },
    { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    if (known[i].status == status)
      return known[i].phrase;
  return said != NULL && said[0] != '\0' ? said : "HTTP error";
}

/* A complete answer whose status says it failed. */
static void
weft_openai_exchange_http_error (WeftOpenaiExchange *ex, guint status)
{
  const char *phrase = weft_openai_status_phrase (status, soup_message_get_reason_phrase (ex->message));
  g_autofree char *said = weft_openai_provider_message (ex->client, ex->buffer);
  g_autofree char *reason = NULL;
  GError *error;

  reason = g_strdup_printf ("%u %s", status, phrase);
  error = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "openai: HTTP %s from %s: %s",
                       reason, ex->client->base_url, said);
  if (weft_openai_status_is_retryable (status))
    weft_openai_exchange_retry (ex, reason, weft_openai_retry_after_ms (ex->message), error);
  else
    weft_openai_exchange_fail (ex, error);
}

static void
weft_openai_exchange_malformed (WeftOpenaiExchange *ex, const char *what)
{
  weft_openai_exchange_fail (ex, g_error_new (WEFT_ERROR, WEFT_ERROR_PARSE,
                                              "openai: malformed response from %s: %s",
                                              ex->client->base_url, what));
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */

static JsonNode *
weft_openai_string_or_null (const char *text)
{
  return text ? json_node_init_string (json_node_alloc (), text) : json_node_init_null (json_node_alloc ());
}

/* {"id", "type": "function", "function": {"name", "arguments"}} */
static JsonObject *
weft_openai_tool_call_new (const char *id, const char *name, const char *arguments)
{
  JsonObject *call = json_object_new ();
  JsonObject *function = json_object_new ();

  json_object_set_string_member (call, "id", id);
  json_object_set_string_member (call, "type", "function");
  json_object_set_string_member (function, "name", name);
  json_object_set_string_member (function, "arguments", arguments);
  json_object_set_object_member (call, "function", function);
  return call;
}

/* The assistant message as weft sends it back in the conversation. */
static JsonObject *
weft_openai_message_new (const char *content, JsonArray *tool_calls /* transfer full */)
{
  JsonObject *message = json_object_new ();

  json_object_set_string_member (message, "role", "assistant");
  json_object_set_member (message, "content", weft_openai_string_or_null (content));
  if (tool_calls != NULL && json_array_get_length (tool_calls) > 0)
    json_object_set_array_member (message, "tool_calls", tool_calls);
  else if (tool_calls != NULL)
    json_array_unref (tool_calls);
  return message;
}

static JsonObject *
weft_openai_member_object (JsonObject *object, const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static const char *
weft_openai_member_string (JsonObject *object, const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

static gint64
weft_openai_usage (JsonObject *root)
{
  JsonObject *usage = weft_openai_member_object (root, "usage");
  JsonNode *total = usage ? json_object_get_member (usage, "total_tokens") : NULL;

  return total && JSON_NODE_HOLDS_VALUE (total) && json_node_get_value_type (total) == G_TYPE_INT64
         ? json_node_get_int (total) : -1;
}

/* The first choice's object `member` ("message", or "delta" in a stream). */
static JsonObject *
weft_openai_first_choice (JsonObject *root, const char *member, JsonObject **choice_out)
{
  JsonNode *choices = json_object_get_member (root, "choices");
  JsonArray *array = choices && JSON_NODE_HOLDS_ARRAY (choices) ? json_node_get_array (choices) : NULL;
  JsonNode *first = array && json_array_get_length (array) > 0 ? json_array_get_element (array, 0) : NULL;
  JsonObject *choice = first && JSON_NODE_HOLDS_OBJECT (first) ? json_node_get_object (first) : NULL;

  if (choice_out != NULL)
    *choice_out = choice;
  return weft_openai_member_object (choice, member);
}

/* A model's function arguments are a JSON string; a few servers send the
 * object itself. */
static char *
weft_openai_arguments_text (JsonObject *function)
{
  JsonNode *node = json_object_get_member (function, "arguments");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("{}");
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  return json_to_string (node, FALSE);
}

static JsonArray *
weft_openai_parse_tool_calls (JsonObject *message, GError **error)
{
  JsonNode *node = json_object_get_member (message, "tool_calls");
  JsonArray *in = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  g_autoptr(JsonArray) out = json_array_new ();

  for (guint i = 0; in != NULL && i < json_array_get_length (in); i++)
    {
      JsonNode *e = json_array_get_element (in, i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      JsonObject *function = weft_openai_member_object (call, "function");
      const char *name = weft_openai_member_string (function, "name");
      const char *id = weft_openai_member_string (call, "id");
      g_autofree char *made_id = id ? NULL : g_strdup_printf ("call_%u", i);
      g_autofree char *arguments = NULL;

      if (name == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "tool_calls[%u] has no function name", i);
          return NULL;
        }
      arguments = weft_openai_arguments_text (function);
      json_array_add_object_element (out, weft_openai_tool_call_new (id ? id : made_id, name, arguments));
    }
  return g_steal_pointer (&out);
}

/* A whole (not streamed) answer. */
static JsonObject *
weft_openai_parse_answer (GByteArray *body, gint64 *usage, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root, *message;
  JsonArray *calls;

  if (!json_parser_load_from_data (parser, (const char *) body->data, (gssize) body->len, error))
    return NULL;
  root = JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))
         ? json_node_get_object (json_parser_get_root (parser)) : NULL;
  message = weft_openai_first_choice (root, "message", NULL);
  if (message == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "no choices[0].message in the answer");
      return NULL;
    }
  calls = weft_openai_parse_tool_calls (message, error);
  if (calls == NULL)
    return NULL;
  *usage = weft_openai_usage (root);
  return weft_openai_message_new (weft_openai_member_string (message, "content"), calls);
}

/* ------------------------------------------------------------------------ */
/* Streams: server-sent events                                              */

static WeftOpenaiCallDelta *
weft_openai_call_delta (WeftOpenaiExchange *ex, guint index)
{
  /* A server may skip indices; a silly one could claim a huge index. */
  if (index >= 1024)
    return NULL;
  while (ex->calls->len <= index)
    {
      WeftOpenaiCallDelta d = { NULL, g_string_new (NULL), g_string_new (NULL) };
      g_array_append_val (ex->calls, d);
    }
  return &g_array_index (ex->calls, WeftOpenaiCallDelta, index);
}

static void
weft_openai_append (GString *to, const char *text)
{
  if (text != NULL)
    g_string_append (to, text);
}

static gboolean
weft_openai_sse_tool_calls (WeftOpenaiExchange *ex, JsonObject *delta, GError **error)
{
  JsonNode *node = json_object_get_member (delta, "tool_calls");
  JsonArray *calls = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; calls != NULL && i < json_array_get_length (calls); i++)
    {
      JsonNode *e = json_array_get_element (calls, i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      JsonObject *function = weft_openai_member_object (call, "function");
      gint64 index = call ? json_object_get_int_member_with_default (call, "index", i) : -1;
      WeftOpenaiCallDelta *d = index >= 0 ? weft_openai_call_delta (ex, (guint) index) : NULL;
      const char *id = weft_openai_member_string (call, "id");

      if (d == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "bad tool_calls delta");
          return FALSE;
        }
      if (id != NULL && d->id == NULL)
        d->id = g_strdup (id);
      weft_openai_append (d->name, weft_openai_member_string (function, "name"));
      weft_openai_append (d->arguments, weft_openai_member_string (function, "arguments"));
    }
  return TRUE;
}

/* One event's data: a chunk of the answer, or [DONE]. */
static gboolean
weft_openai_sse_event (WeftOpenaiExchange *ex, const char *data, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root, *delta, *choice;
  const char *text;

  if (g_str_equal (data, "[DONE]"))
    {
      ex->stream_done = TRUE;
      return TRUE;
    }
  if (!json_parser_load_from_data (parser, data, -1, error))
    return FALSE;
  root = JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))
         ? json_node_get_object (json_parser_get_root (parser)) : NULL;
  if (root == NULL || json_object_has_member (root, "error"))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "the stream carried an error: %s", data);
      return FALSE;
    }
  if (weft_openai_usage (root) >= 0)
    ex->usage = weft_openai_usage (root);
  delta = weft_openai_first_choice (root, "delta", &choice);
  if (choice != NULL && weft_openai_member_string (choice, "finish_reason") != NULL)
    ex->stream_done = TRUE;
  if (delta == NULL)
    return TRUE;                 /* the usage chunk has no choices */
  text = weft_openai_member_string (delta, "content");
  if (text != NULL)
    {
      ex->has_content = TRUE;
      g_string_append (ex->content, text);
      if (text[0] != '\0')
        {
          ex->emitted = TRUE;
          ex->step ("chunk", text, ex->data);
        }
    }
  return weft_openai_sse_tool_calls (ex, delta, error);
}

/* One line of the stream; an empty line ends an event. */
static gboolean
weft_openai_sse_line (WeftOpenaiExchange *ex, const char *line, GError **error)
{
  if (line[0] == '\0')
    {
      gboolean ok = ex->sse_data->len == 0 || weft_openai_sse_event (ex, ex->sse_data->str, error);
      g_string_truncate (ex->sse_data, 0);
      return ok;
    }
  if (!g_str_has_prefix (line, "data:"))
    return TRUE;                 /* event:, id:, retry:, ": comment" */
  line += strlen ("data:");
  if (line[0] == ' ')
    line++;
  if (ex->sse_data->len > 0)
    g_string_append_c (ex->sse_data, '\n');
  g_string_append (ex->sse_data, line);
  return TRUE;
}

/* Feeds what arrived; whole lines are parsed, the rest waits for more. */
static gboolean
weft_openai_sse_feed (WeftOpenaiExchange *ex, const guint8 *data, gsize size, GError **error)
{
  gsize start = 0;

  g_byte_array_append (ex->buffer, data, (guint) size);
  for (gsize i = 0; i < ex->buffer->len; i++)
    {
      if (ex->buffer->data[i] != '\n')
        continue;
      gsize end = i > start && ex->buffer->data[i - 1] == '\r' ? i - 1 : i;
      g_autofree char *line = g_strndup ((const char *) ex->buffer->data + start, end - start);
      start = i + 1;
      if (!ex->finished && !weft_openai_sse_line (ex, line, error))
        return FALSE;
    }
  g_byte_array_remove_range (ex->buffer, 0, (guint) start);
  return ex->buffer->len <= WEFT_OPENAI_MAX_BODY;
}

static JsonObject *
weft_openai_stream_answer (WeftOpenaiExchange *ex)
{
  JsonArray *calls = json_array_new ();

  for (guint i = 0; i < ex->calls->len; i++)
    {
      WeftOpenaiCallDelta *d = &g_array_index (ex->calls, WeftOpenaiCallDelta, i);
      g_autofree char *id = d->id ? g_strdup (d->id) : g_strdup_printf ("call_%u", i);

      if (d->name->len > 0)
        json_array_add_object_element (calls, weft_openai_tool_call_new (
          id, d->name->str, d->arguments->len > 0 ? d->arguments->str : "{}"));
    }
  return weft_openai_message_new (ex->has_content ? ex->content->str : NULL, calls);
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */

static void
weft_openai_exchange_succeed (WeftOpenaiExchange *ex, JsonObject *message, gint64 usage)
{
  weft_openai_exchange_end_attempt (ex, usage);
  weft_openai_exchange_finish (ex, message, NULL);
  json_object_unref (message);
}

/* The body has been read to its end. */
static void
weft_openai_exchange_complete (WeftOpenaiExchange *ex)
{
  guint status = soup_message_get_status (ex->message);
  g_autoptr(GError) error = NULL;
  JsonObject *message;
  gint64 usage = -1;

  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      weft_openai_exchange_http_error (ex, status);
      return;
    }
  if (ex->streaming && !ex->stream_done)
    {
      weft_openai_exchange_malformed (ex, "the stream ended before [DONE]");
      return;
    }
  if (ex->streaming)
    {
      weft_openai_exchange_succeed (ex, weft_openai_stream_answer (ex), ex->usage);
      return;
    }
  message = weft_openai_parse_answer (ex->buffer, &usage, &error);
  if (message == NULL)
    weft_openai_exchange_malformed (ex, error->message);
  else
    weft_openai_exchange_succeed (ex, message, usage);
}

static void weft_openai_exchange_read (WeftOpenaiExchange *ex);

/* What one read brought: `n` bytes of `data`, 0 at the end of the body,
 * or -1 and `error`.  TRUE when the exchange wants more; otherwise its
 * attempt is over (answered, failed, retried, or aborted meanwhile). */
static gboolean
weft_openai_exchange_take (WeftOpenaiExchange *ex, const guint8 *data, gssize n,
                           const GError *error)
{
  g_autoptr(GError) sse_error = NULL;

  if (ex->finished)
    weft_openai_exchange_end_attempt (ex, -1);
  else if (n < 0)
    weft_openai_exchange_transport_error (ex, error);
  else if (n == 0)
    weft_openai_exchange_complete (ex);
  else if (ex->streaming && !weft_openai_sse_feed (ex, data, (gsize) n, &sse_error))
    weft_openai_exchange_malformed (ex, sse_error ? sse_error->message : "an event too large");
  else if (!ex->streaming && ex->buffer->len + (gsize) n > WEFT_OPENAI_MAX_BODY)
    weft_openai_exchange_malformed (ex, "the answer is larger than 64 MiB");
  else
    {
      if (!ex->streaming)
        g_byte_array_append (ex->buffer, data, (guint) n);
      /* A step reported from the stream may have aborted the exchange. */
      if (!ex->finished)
        return TRUE;
      weft_openai_exchange_end_attempt (ex, -1);
    }
  return FALSE;
}

static void
weft_openai_exchange_got_bytes (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftOpenaiExchange *ex = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  gsize size = 0;
  const guint8 *got = bytes != NULL ? g_bytes_get_data (bytes, &size) : NULL;

  if (weft_openai_exchange_take (ex, got, bytes != NULL ? (gssize) size : -1, error))
    weft_openai_exchange_read (ex);
  weft_openai_exchange_unref (ex);
}

/* Reads on, until the body ends.  What has arrived already is read at once
 * (a completion's body usually comes in with its headers): an async read
 * costs a GTask, a source and a later dispatch, two of them per request
 * (the body, then its end), which with ten thousand requests at once is
 * real time on the engine loop.  The caller holds a reference. */
static void
weft_openai_exchange_read (WeftOpenaiExchange *ex)
{
  GPollableInputStream *pollable = G_IS_POLLABLE_INPUT_STREAM (ex->stream)
                                   ? G_POLLABLE_INPUT_STREAM (ex->stream) : NULL;

  if (pollable != NULL && g_pollable_input_stream_can_poll (pollable))
    for (;;)
      {
        guint8 chunk[WEFT_OPENAI_READ_SIZE];
        g_autoptr(GError) error = NULL;
        gssize n = g_pollable_input_stream_read_nonblocking (pollable, chunk, sizeof chunk,
                                                             ex->cancellable, &error);

        if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
          break;
        if (!weft_openai_exchange_take (ex, chunk, n, error))
          return;
      }
  g_input_stream_read_bytes_async (ex->stream, WEFT_OPENAI_READ_SIZE, G_PRIORITY_DEFAULT,
                                   ex->cancellable, weft_openai_exchange_got_bytes,
                                   weft_openai_exchange_ref (ex));
}

static void
weft_openai_exchange_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftOpenaiExchange *ex = data;
  g_autoptr(GError) error = NULL;
  GInputStream *stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);

  if (ex->finished)
    {
      g_clear_object (&stream);
      weft_openai_exchange_end_attempt (ex, -1);
    }
  else if (stream == NULL)
    weft_openai_exchange_transport_error (ex, error);
  else
    {
      ex->stream = stream;
      /* Only a successful answer is an event stream; an error is JSON. */
      ex->streaming = ex->client->stream
                      && SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (ex->message));
      weft_openai_exchange_read (ex);
    }
  weft_openai_exchange_unref (ex);
}

/* The request's deadline: its own callback reports the timeout. */
static void
weft_openai_exchange_timeout (gpointer data)
{
  WeftOpenaiExchange *ex = data;

  ex->timed_out = TRUE;
  g_cancellable_cancel (ex->cancellable);
}

/* `keep_alive` FALSE: "Connection: close", unless the agent's headers say
 * otherwise. */
static SoupMessage *
weft_openai_request_new (const WeftOpenaiClient *client, GBytes *body, gboolean keep_alive)
{
  /* Not SOUP_METHOD_POST: that macro interns a string literal of this
   * plugin's, which dangles in GLib's intern table once the plugin is
   * unloaded (a later engine crashes on it); "POST" is copied. */
  SoupMessage *msg = soup_message_new ("POST", client->url);
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);

  if (client->api_key != NULL && client->api_key[0] != '\0')
    {
      g_autofree char *bearer = g_strconcat ("Bearer ", client->api_key, NULL);
      soup_message_headers_replace (headers, "Authorization", bearer);
    }
  soup_message_headers_replace (headers, "Accept",
                                client->stream ? "text/event-stream" : "application/json");
  if (!keep_alive)
    soup_message_headers_replace (headers, "Connection", "close");
  for (guint i = 0; client->header_names[i] != NULL; i++)
    soup_message_headers_replace (headers, client->header_names[i], client->header_values[i]);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);
  /* libsoup reuses a kept-alive connection only for idempotent requests;
   * without this flag every chat completion opened a new connection
   * (10,000 tasks, 10,000 connects).  The cost: on a stale connection
   * libsoup may send the request again, which for a completion at worst
   * means one answer billed twice. */
  soup_message_add_flags (msg, SOUP_MESSAGE_IDEMPOTENT);
  return msg;
}

/* The limiter let the attempt start. */
static void
weft_openai_exchange_send (WeftOpenaiExchange *ex)
{
  ex->holds_slot = TRUE;
  ex->timed_out = FALSE;
  weft_openai_exchange_reset_stream (ex);
  ex->shard = weft_openai_pool_take (ex->client->pool, ex->like, ex->context);
  ex->message = weft_openai_request_new (ex->client, ex->body,
                                         weft_openai_shard_keeps_connections (ex->shard));
  ex->cancellable = g_cancellable_new ();
  /* No reference: the attempt's end, which libsoup's callbacks (holding
   * references) always reach, removes the deadline. */
  if (ex->client->timeout_ms > 0)
    weft_openai_pool_add_deadline (ex->client->pool, ex->context, &ex->timeout,
                                   g_get_monotonic_time ()
                                   + (gint64) ex->client->timeout_ms * G_TIME_SPAN_MILLISECOND,
                                   weft_openai_exchange_timeout, ex);
  soup_session_send_async (weft_openai_shard_get_session (ex->shard), ex->message,
                           G_PRIORITY_DEFAULT, ex->cancellable,
                           weft_openai_exchange_sent, weft_openai_exchange_ref (ex));
}

static void
weft_openai_exchange_granted (gpointer data)
{
  WeftOpenaiExchange *ex = data;

  ex->waiter = NULL;
  weft_openai_exchange_send (ex);
  weft_openai_exchange_unref (ex);          /* the waiter's reference */
}

static void
weft_openai_exchange_attempt (WeftOpenaiExchange *ex)
{
  ex->waiter = weft_openai_limiter_acquire (ex->client->limiter, ex->context, ex->estimate,
                                            weft_openai_exchange_granted, ex);
  if (ex->waiter == NULL)
    weft_openai_exchange_send (ex);
  else
    weft_openai_exchange_ref (ex);
}

static void
weft_openai_exchange_pool_ready (gpointer data)
{
  WeftOpenaiExchange *ex = data;

  if (!ex->finished)
    weft_openai_exchange_attempt (ex);
  weft_openai_exchange_unref (ex);          /* the pool waiter's */
}

WeftOpenaiExchange *
weft_openai_exchange_start (WeftOpenaiClient *client, SoupSession *like, GMainContext *context,
                            const char *body, WeftOpenaiStepFunc step, WeftOpenaiDoneFunc done,
                            gpointer data)
{
  WeftOpenaiExchange *ex = g_new0 (WeftOpenaiExchange, 1);
  gsize len = strlen (body);

  g_atomic_ref_count_init (&ex->ref_count);
  ex->client = weft_openai_client_ref (client);
  ex->like = g_object_ref (like);
  ex->context = g_main_context_ref (context);
  ex->body = g_bytes_new (body, len);
  /* About four bytes a token, plus what the answer may take. */
  ex->estimate = (gint64) (len / 4) + client->max_tokens;
  ex->step = step;
  ex->done = done;
  ex->data = data;
  ex->buffer = g_byte_array_new ();
  ex->sse_data = g_string_new (NULL);
  ex->content = g_string_new (NULL);
  ex->calls = g_array_new (FALSE, TRUE, sizeof (WeftOpenaiCallDelta));
  g_array_set_clear_func (ex->calls, weft_openai_call_delta_clear);
  ex->usage = -1;
  if (weft_openai_pool_ready (client->pool, like, context, client->url, &ex->ready,
                              weft_openai_exchange_pool_ready, ex))
    weft_openai_exchange_attempt (ex);
  else
    weft_openai_exchange_ref (ex);          /* the pool waiter's */
  return ex;
}

void
weft_openai_exchange_abort (WeftOpenaiExchange *ex)
{
  g_return_if_fail (!ex->finished);

  ex->finished = TRUE;
  if (ex->ready.link.data != NULL)
    {
      weft_openai_pool_withdraw (ex->client->pool, &ex->ready);
      weft_openai_exchange_unref (ex);      /* the pool waiter's */
    }
  if (ex->waiter != NULL)
    {
      weft_openai_limiter_withdraw (ex->client->limiter, ex->waiter);
      ex->waiter = NULL;
      weft_openai_exchange_unref (ex);      /* the waiter's reference */
    }
  if (ex->timer != NULL)
    g_source_destroy (ex->timer);
  g_clear_pointer (&ex->timer, g_source_unref);
  weft_openai_pool_remove_deadline (ex->client->pool, &ex->timeout);
  /* A request in flight completes with G_IO_ERROR_CANCELLED on the loop;
   * that callback gives the limiter slot back. */
  if (ex->cancellable != NULL)
    g_cancellable_cancel (ex->cancellable);
  weft_openai_exchange_unref (ex);          /* the caller's reference */
}
