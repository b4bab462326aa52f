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

#include <math.h>
#include <string.h>

/* Backoff never waits longer than this, unless the server says so. */
#define WEFT_OPENAI_BACKOFF_CAP_MS 60000
/* Nor longer than this when it does. */
#define WEFT_OPENAI_MAX_RETRY_AFTER_MS (G_GINT64_CONSTANT (86400) * 1000)
/* Of an error's body, this much is read: enough for any JSON error, and
 * a gateway's 100 MB page is not waited for. */
#define WEFT_OPENAI_MAX_ERROR_BODY (64 * 1024)
/* Each async read in flight holds a buffer this large, and with ten
 * thousand requests answered at once as many reads can be in flight: at
 * 16 KiB each they were a quarter of the peak heap.  A completion is
 * usually a few hundred bytes, an event of a stream far less. */
#define WEFT_OPENAI_READ_SIZE 2048

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
  GByteArray *buffer;           /* the body (not streamed, or an error)  */
  gsize received;               /* bytes of the body read                */
  goffset declared;             /* its Content-Length, or -1             */
  gsize limit;                  /* the most of it read                   */

  /* A streamed answer, as it arrives. */
  gboolean streaming;
  WeftOpenaiStream *parser;
  gboolean emitted;             /* chunks were reported: never retried    */
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

/* Forgets the last attempt's answer, for a fresh one. */
static void
weft_openai_exchange_reset_answer (WeftOpenaiExchange *ex)
{
  g_clear_pointer (&ex->parser, weft_openai_stream_free);
  g_byte_array_set_size (ex->buffer, 0);
  ex->received = 0;
  ex->declared = -1;
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
  weft_openai_stream_free (ex->parser);
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
weft_openai_exchange_finish (WeftOpenaiExchange *ex, JsonObject *message,
                             const WeftOpenaiUsage *usage, GError *error)
{
  g_return_if_fail (!ex->finished);

  ex->finished = TRUE;
  ex->done (message, usage, error, ex->data);
  g_clear_error (&error);
  weft_openai_exchange_unref (ex);         /* the caller's reference */
}

static void
weft_openai_exchange_fail (WeftOpenaiExchange *ex, GError *error)
{
  weft_openai_exchange_end_attempt (ex, -1);
  weft_openai_exchange_finish (ex, NULL, NULL, error);
}

/* ------------------------------------------------------------------------ */
/* Errors and retries                                                       */

/* A server's wait in milliseconds: none when it is not a number ("nan",
 * "1e999", negative), at most a day (a year is a server's mistake, not a
 * reason to wait a year). */
static gint64
weft_openai_clamp_ms (double ms)
{
  if (!isfinite (ms) || ms < 0)
    return 0;
  return (gint64) MIN (ms, (double) WEFT_OPENAI_MAX_RETRY_AFTER_MS);
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
      if (end != value && *end == '\0')
        delay = weft_openai_clamp_ms (seconds * 1000);
      else
        {
          g_autoptr(GDateTime) when = soup_date_time_new_from_http_string (value);
          g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
          if (when != NULL)
            delay = weft_openai_clamp_ms ((double) g_date_time_difference (when, now) / 1000);
        }
    }
  if (ms != NULL)
    delay = MAX (delay, weft_openai_clamp_ms (g_ascii_strtod (ms, NULL)));
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
      weft_openai_exchange_finish (ex, NULL, NULL, error);
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

/* No server there at all: a name that does not resolve, a port nothing
 * listens on, no route.  An overloaded provider refuses no connection and
 * is still found; retrying these only makes a missing key or a machine
 * offline take seconds to say so. */
static gboolean
weft_openai_error_is_unreachable (const GError *cause)
{
  return cause->domain == G_RESOLVER_ERROR
      || g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
      || g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE)
      || g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE);
}

/* A transport failure: no connection, a dropped one, a timeout. */
static void
weft_openai_exchange_transport_error (WeftOpenaiExchange *ex, const GError *cause)
{
  const WeftOpenaiClient *client = ex->client;
  g_autofree char *reason = NULL;
  GError *error;

  if (!ex->timed_out && ex->stream == NULL && weft_openai_error_is_unreachable (cause))
    {
      weft_openai_exchange_end_attempt (ex, 0);
      weft_openai_exchange_finish (ex, NULL, NULL, g_error_new (
        WEFT_ERROR, WEFT_ERROR_FAILED, "openai: cannot reach %s: %s (not retried: nothing "
        "answers at base_url; the examples take it from OPENAI_BASE_URL and the key from "
        "OPENAI_API_KEY; without either, weft-mock-llm answers: docs/mock-llm.md)",
        client->base_url, cause->message));
      return;
    }
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
                           ex->emitted ? "stream broke off from"
                           : ex->stream != NULL ? "the answer broke off from" : "cannot reach",
                           client->base_url, cause->message);
    }
  weft_openai_exchange_retry (ex, reason, 0, error);
}

/* The usual phrase for the statuses an API answers with: servers differ
 * (libsoup's own server says "Unknown Error" for 429, HTTP/2 has none).
 * Else the server's, which may be anything: an excerpt. */
static char *
weft_openai_status_phrase (guint status, const char *said)
{
  static const struct { guint status; const char *phrase; } known[] = {
    { 400, "Bad Request" }, { 401, "Unauthorized" }, { 402, "Payment Required" },
    { 403, "Forbidden" }, { 404, "Not Found" }, { 408, "Request Timeout" },
    { 409, "Conflict" }, { 413, "Payload Too Large" }, { 422, "Unprocessable Entity" },
    { 429, "Too Many Requests" }, { 500, "Internal Server Error" }, { 502, "Bad Gateway" },
    { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
  };

  g_autofree char *excerpt = said ? weft_openai_excerpt (said, strlen (said), NULL) : NULL;

  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    if (known[i].status == status)
      return g_strdup (known[i].phrase);
  return g_strdup (excerpt != NULL && excerpt[0] != '\0' ? excerpt : "HTTP error");
}

/* An answer (read whole, or its first WEFT_OPENAI_MAX_ERROR_BODY bytes)
 * whose status says it failed. */
static void
weft_openai_exchange_http_error (WeftOpenaiExchange *ex, guint status)
{
  g_autofree char *phrase = weft_openai_status_phrase (status, soup_message_get_reason_phrase (ex->message));
  g_autofree char *said = weft_openai_provider_message ((const char *) ex->buffer->data, ex->buffer->len,
                                                        ex->client->api_key);
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
/* The request                                                              */

static void
weft_openai_exchange_succeed (WeftOpenaiExchange *ex, JsonObject *message,
                              const WeftOpenaiUsage *usage)
{
  weft_openai_exchange_end_attempt (ex, usage->total);
  weft_openai_exchange_finish (ex, message, usage, NULL);
  json_object_unref (message);
}

/* Fewer bytes than the Content-Length announced: the connection closed
 * mid-answer (libsoup reports no error for that), which is worth a retry
 * as any dropped connection is.  Not when the body was compressed: the
 * header counts the bytes before they were decoded. */
static gboolean
weft_openai_exchange_cut_short (WeftOpenaiExchange *ex)
{
  const char *coding = soup_message_headers_get_one (soup_message_get_response_headers (ex->message),
                                                     "Content-Encoding");

  if (ex->declared < 0 || (gsize) ex->declared <= ex->received
      || (coding != NULL && g_ascii_strcasecmp (coding, "identity") != 0))
    return FALSE;
  g_autoptr(GError) cause = g_error_new (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                                         "the connection closed after %" G_GSIZE_FORMAT " of the %"
                                         G_GOFFSET_FORMAT " bytes announced", ex->received, ex->declared);
  weft_openai_exchange_transport_error (ex, cause);
  return TRUE;
}

/* The body has been read to its end. */
static void
weft_openai_exchange_complete (WeftOpenaiExchange *ex)
{
  guint status = soup_message_get_status (ex->message);
  g_autoptr(GError) error = NULL;
  JsonObject *message;
  WeftOpenaiUsage usage = WEFT_OPENAI_USAGE_NONE;

  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    weft_openai_exchange_http_error (ex, status);
  else if (weft_openai_exchange_cut_short (ex))
    return;
  else
    {
      if (ex->streaming)
        message = weft_openai_stream_finish (ex->parser, &error);
      else
        message = weft_openai_parse_answer_usage ((const char *) ex->buffer->data,
                                                  ex->buffer->len, ex->client->api_key, &usage,
                                                  &error);
      if (ex->streaming)
        usage = weft_openai_stream_get_usage_all (ex->parser);
      /* The stream's last piece, reported as a step, may have aborted it. */
      if (ex->finished)
        {
          g_clear_pointer (&message, json_object_unref);
          weft_openai_exchange_end_attempt (ex, -1);
        }
      else if (message == NULL)
        weft_openai_exchange_malformed (ex, error->message);
      else
        weft_openai_exchange_succeed (ex, message, &usage);
    }
}

/* `n` more bytes of the body.  TRUE when the exchange wants more;
 * otherwise its attempt is over (failed, or aborted by a step). */
static gboolean
weft_openai_exchange_keep (WeftOpenaiExchange *ex, const guint8 *data, gsize n)
{
  g_autoptr(GError) error = NULL;

  ex->received += n;
  if (ex->streaming)
    {
      if (!weft_openai_stream_feed (ex->parser, data, n, &error))
        weft_openai_exchange_malformed (ex, error->message);
      else if (!ex->finished)
        return TRUE;
      else
        weft_openai_exchange_end_attempt (ex, -1);   /* a step aborted it */
      return FALSE;
    }
  if (SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (ex->message)))
    {
      if (ex->buffer->len + n <= ex->limit)
        {
          g_byte_array_append (ex->buffer, data, (guint) n);
          return TRUE;
        }
      g_autofree char *what = g_strdup_printf ("the answer is larger than max_response_bytes (%"
                                               G_GSIZE_FORMAT ")", ex->limit);
      weft_openai_exchange_malformed (ex, what);
      return FALSE;
    }
  /* An error: its start says what it is. */
  g_byte_array_append (ex->buffer, data, (guint) MIN (n, ex->limit - ex->buffer->len));
  if (ex->buffer->len < ex->limit)
    return TRUE;
  weft_openai_exchange_http_error (ex, soup_message_get_status (ex->message));
  return FALSE;
}

static void weft_openai_exchange_read (WeftOpenaiExchange *ex);

/* What one read brought: `n` bytes of `data`, 0 at the end of the body,
 * or -1 and `error`.  TRUE when the exchange wants more; otherwise its
 * attempt is over (answered, failed, retried, or aborted meanwhile). */
static gboolean
weft_openai_exchange_take (WeftOpenaiExchange *ex, const guint8 *data, gssize n,
                           const GError *error)
{
  if (ex->finished)
    weft_openai_exchange_end_attempt (ex, -1);
  else if (n < 0)
    weft_openai_exchange_transport_error (ex, error);
  else if (n == 0)
    weft_openai_exchange_complete (ex);
  else
    return weft_openai_exchange_keep (ex, data, (gsize) n);
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

/* A piece of a streamed answer. */
static gboolean
weft_openai_exchange_chunk (const char *text, gpointer data)
{
  WeftOpenaiExchange *ex = data;

  ex->emitted = TRUE;
  ex->step ("chunk", text, ex->data);
  /* The step may have aborted the exchange. */
  return !ex->finished;
}

/* The headers are in: how the body is read, and how much of it.  FALSE
 * when an answer announces more than it may be (failed at once: nothing
 * of it is read). */
static gboolean
weft_openai_exchange_headers (WeftOpenaiExchange *ex)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (ex->message);
  gboolean ok = SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (ex->message));
  gsize max = ex->client->max_response_bytes;

  ex->declared = soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
                 ? soup_message_headers_get_content_length (headers) : -1;
  ex->limit = ok ? max : MIN (max, (gsize) WEFT_OPENAI_MAX_ERROR_BODY);
  /* Only a successful answer is an event stream; an error is JSON. */
  ex->streaming = ex->client->stream && ok;
  if (ex->streaming)
    ex->parser = weft_openai_stream_new (max, ex->client->api_key, weft_openai_exchange_chunk, ex);
  if (!ok || ex->declared < 0 || (guint64) ex->declared <= (guint64) max)
    return TRUE;
  g_autofree char *what = g_strdup_printf ("the answer announces %" G_GOFFSET_FORMAT " bytes, more "
                                           "than max_response_bytes (%" G_GSIZE_FORMAT ")",
                                           ex->declared, max);
  weft_openai_exchange_malformed (ex, what);
  return FALSE;
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
      if (weft_openai_exchange_headers (ex))
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
  weft_openai_exchange_reset_answer (ex);
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
  ex->declared = -1;
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
