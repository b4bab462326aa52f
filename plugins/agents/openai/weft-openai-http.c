/* weft-openai-http.c — one chat completion against an OpenAI-compatible
 * server: waits for the rate limiter, sends the request with the engine's
 * HTTP client (weft_task_http_send: one connection pool for the process,
 * an I/O thread of its own), reads the answer (whole, or as server-sent
 * events), and retries what a production client retries.
 *
 * Everything here runs on the engine loop: the client's callbacks (the
 * answer's head and pieces, then its end), the limiter's grant, the
 * timers.  So the state below needs no lock; `finished` alone decides
 * whether `done` may still be called.  A cancelled request calls nothing
 * back; the backoff timer and the limiter's grant hold references.
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

struct _WeftOpenaiExchange {
  gatomicrefcount ref_count;
  WeftOpenaiClient *client;
  WeftTask *task;               /* whose engine sends the requests       */
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
  WeftHttpCall *call;           /* the request, until it ends            */
  gboolean answered;            /* its status and headers are in         */
  guint status;
  char *reason;                 /* the server's reason phrase            */
  gint64 retry_after_ms;        /* what its headers ask for, or 0        */
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
  ex->answered = FALSE;
  ex->status = 0;
  g_clear_pointer (&ex->reason, g_free);
  ex->retry_after_ms = 0;
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
  g_warn_if_fail (ex->call == NULL);
  g_byte_array_unref (ex->buffer);
  weft_openai_stream_free (ex->parser);
  g_free (ex->reason);
  g_bytes_unref (ex->body);
  g_main_context_unref (ex->context);
  weft_openai_client_unref (ex->client);
  g_free (ex);
}

/* Ends the attempt in flight: gives its slot back (correcting the token
 * estimate by `used`, -1 when unknown), drops its timer, and stops its
 * request if it is still going. */
static void
weft_openai_exchange_end_attempt (WeftOpenaiExchange *ex, gint64 used)
{
  if (ex->holds_slot)
    weft_openai_limiter_release (ex->client->limiter, ex->estimate, used);
  ex->holds_slot = FALSE;
  if (ex->timer != NULL)
    g_source_destroy (ex->timer);
  g_clear_pointer (&ex->timer, g_source_unref);
  if (ex->call != NULL)
    weft_http_call_cancel (g_steal_pointer (&ex->call));
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
weft_openai_retry_after_ms (const WeftHttpResponse *head)
{
  const char *value = weft_http_response_get_header (head, "Retry-After");
  const char *ms = weft_http_response_get_header (head, "retry-after-ms");
  gint64 delay = 0;
  char *end = NULL;

  if (value != NULL)
    {
      double seconds = g_ascii_strtod (value, &end);
      if (end != value && *end == '\0')
        delay = weft_openai_clamp_ms (seconds * 1000);
      else
        {
          g_autoptr(GDateTime) when = weft_http_parse_date (value);
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

  if (!ex->answered && weft_openai_error_is_unreachable (cause))
    {
      weft_openai_exchange_end_attempt (ex, 0);
      weft_openai_exchange_finish (ex, NULL, NULL, g_error_new (
        WEFT_ERROR, WEFT_ERROR_FAILED, "openai: cannot reach %s: %s (not retried: nothing "
        "answers at base_url; the examples take it from OPENAI_BASE_URL and the key from "
        "OPENAI_API_KEY; without either, weft-mock-llm answers: docs/mock-llm.md)",
        client->base_url, cause->message));
      return;
    }
  if (g_error_matches (cause, WEFT_ERROR, WEFT_ERROR_TIMEOUT))
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
                           : ex->answered ? "the answer broke off from" : "cannot reach",
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
  g_autofree char *phrase = weft_openai_status_phrase (status, ex->reason);
  g_autofree char *said = weft_openai_provider_message ((const char *) ex->buffer->data, ex->buffer->len,
                                                        ex->client->api_key);
  g_autofree char *reason = NULL;
  GError *error;

  reason = g_strdup_printf ("%u %s", status, phrase);
  error = g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED, "openai: HTTP %s from %s: %s",
                       reason, ex->client->base_url, said);
  if (weft_openai_status_is_retryable (status))
    weft_openai_exchange_retry (ex, reason, ex->retry_after_ms, error);
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

/* The request failed.  Fewer bytes than the Content-Length announced:
 * the connection closed mid-answer, which is worth a retry as any dropped
 * connection is.  Said
 * in the words of the bytes counted here; not when the body was
 * compressed (the header counts the bytes before they were decoded). */
static gboolean weft_openai_status_ok (guint status);

static void
weft_openai_exchange_broke_off (WeftOpenaiExchange *ex, const GError *error)
{
  /* An error cut short is that error: its start says what it was. */
  if (ex->answered && !weft_openai_status_ok (ex->status)
      && g_error_matches (error, WEFT_ERROR, WEFT_ERROR_FAILED))
    {
      weft_openai_exchange_http_error (ex, ex->status);
      return;
    }
  if (ex->answered && ex->declared >= 0 && (gsize) ex->declared > ex->received
      && g_error_matches (error, WEFT_ERROR, WEFT_ERROR_FAILED))
    {
      g_autoptr(GError) cause = g_error_new (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                                             "the connection closed after %" G_GSIZE_FORMAT " of the %"
                                             G_GOFFSET_FORMAT " bytes announced", ex->received,
                                             ex->declared);
      weft_openai_exchange_transport_error (ex, cause);
      return;
    }
  weft_openai_exchange_transport_error (ex, error);
}

static gboolean
weft_openai_status_ok (guint status)
{
  return status >= 200 && status < 300;
}

/* The body has been read to its end. */
static void
weft_openai_exchange_complete (WeftOpenaiExchange *ex)
{
  g_autoptr(GError) error = NULL;
  JsonObject *message;
  WeftOpenaiUsage usage = WEFT_OPENAI_USAGE_NONE;

  if (!weft_openai_status_ok (ex->status))
    {
      weft_openai_exchange_http_error (ex, ex->status);
      return;
    }
  if (ex->streaming)
    message = weft_openai_stream_finish (ex->parser, &error);
  else
    message = weft_openai_parse_answer_usage ((const char *) ex->buffer->data, ex->buffer->len,
                                              ex->client->api_key, &usage, &error);
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
  if (weft_openai_status_ok (ex->status))
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
  weft_openai_exchange_http_error (ex, ex->status);
  return FALSE;
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

/* Content-Length, when the answer has one and is not chunked. */
static goffset
weft_openai_declared_length (const WeftHttpResponse *head)
{
  const char *length = weft_http_response_get_header (head, "Content-Length");
  const char *coding = weft_http_response_get_header (head, "Transfer-Encoding");
  guint64 value;

  if (length == NULL || (coding != NULL && g_ascii_strcasecmp (coding, "identity") != 0)
      || !g_ascii_string_to_unsigned (length, 10, 0, G_MAXINT64, &value, NULL))
    return -1;
  return (goffset) value;
}

/* The headers are in: how the body is read, and how much of it.  FALSE
 * when an answer announces more than it may be (failed at once: nothing
 * of it is read). */
static gboolean
weft_openai_exchange_headers (WeftOpenaiExchange *ex, const WeftHttpResponse *head)
{
  const char *coding = weft_http_response_get_header (head, "Content-Encoding");
  gboolean ok;
  gsize max = ex->client->max_response_bytes;

  ex->answered = TRUE;
  ex->status = weft_http_response_get_status (head);
  ex->reason = g_strdup (weft_http_response_get_reason (head));
  ex->retry_after_ms = weft_openai_retry_after_ms (head);
  ok = weft_openai_status_ok (ex->status);
  /* A compressed body's length says nothing of what it decodes to. */
  ex->declared = coding != NULL && g_ascii_strcasecmp (coding, "identity") != 0
                 ? -1 : weft_openai_declared_length (head);
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

/* The client's pieces: the head first (no bytes), then the body as it
 * comes.  FALSE stops the request: the attempt is over, and the client
 * has let go of the call. */
static gboolean
weft_openai_exchange_got_piece (const WeftHttpResponse *head, const guint8 *data, gsize size,
                                gpointer user_data)
{
  WeftOpenaiExchange *ex = user_data;
  /* Taken while the piece is read: an attempt that ends meanwhile must
   * not cancel the call, which the client stops itself on FALSE. */
  WeftHttpCall *call = g_steal_pointer (&ex->call);
  gboolean more;

  if (size == 0)
    more = weft_openai_exchange_headers (ex, head);
  else
    more = weft_openai_exchange_keep (ex, data, size);
  if (more)
    ex->call = call;
  return more;
}

/* The request's end: the body is whole, or it failed. */
static void
weft_openai_exchange_ended (WeftHttpResponse *response, const GError *error, gpointer user_data)
{
  WeftOpenaiExchange *ex = user_data;

  ex->call = NULL;
  if (response == NULL)
    weft_openai_exchange_broke_off (ex, error);
  else if (!ex->answered)
    {
      /* Only a truncated answer ends without a head shown: never here. */
      g_autoptr(GError) cause = g_error_new_literal (WEFT_ERROR, WEFT_ERROR_FAILED, "no answer");
      weft_openai_exchange_transport_error (ex, cause);
    }
  else
    weft_openai_exchange_complete (ex);
  weft_http_response_free (response);
}

static WeftHttpRequest *
weft_openai_request_new (const WeftOpenaiClient *client, GBytes *body)
{
  WeftHttpRequest *request = weft_http_request_new ("POST", client->url);

  if (client->api_key != NULL && client->api_key[0] != '\0')
    {
      g_autofree char *bearer = g_strconcat ("Bearer ", client->api_key, NULL);
      weft_http_request_add_header (request, "Authorization", bearer);
    }
  weft_http_request_add_header (request, "Accept",
                                client->stream ? "text/event-stream" : "application/json");
  for (guint i = 0; client->header_names[i] != NULL; i++)
    weft_http_request_add_header (request, client->header_names[i], client->header_values[i]);
  weft_http_request_set_body (request, "application/json", body);
  weft_http_request_set_timeout_ms (request, client->timeout_ms);
  /* One byte more than the agent reads: its own limits fail first, in
   * its own words. */
  weft_http_request_set_max_body (request, client->max_response_bytes + 1);
  return request;
}

/* The limiter let the attempt start. */
static void
weft_openai_exchange_send (WeftOpenaiExchange *ex)
{
  ex->holds_slot = TRUE;
  weft_openai_exchange_reset_answer (ex);
  ex->call = weft_task_http_send (ex->task, weft_openai_request_new (ex->client, ex->body),
                                  weft_openai_exchange_got_piece, weft_openai_exchange_ended, ex);
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

WeftOpenaiExchange *
weft_openai_exchange_start (WeftOpenaiClient *client, WeftTask *task, const char *body,
                            WeftOpenaiStepFunc step, WeftOpenaiDoneFunc done, gpointer data)
{
  WeftOpenaiExchange *ex = g_new0 (WeftOpenaiExchange, 1);
  gsize len = strlen (body);

  g_atomic_ref_count_init (&ex->ref_count);
  ex->client = weft_openai_client_ref (client);
  ex->task = task;
  ex->context = g_main_context_ref (weft_task_get_main_context (task));
  ex->body = g_bytes_new (body, len);
  /* About four bytes a token, plus what the answer may take. */
  ex->estimate = (gint64) (len / 4) + client->max_tokens;
  ex->step = step;
  ex->done = done;
  ex->data = data;
  ex->buffer = g_byte_array_new ();
  ex->declared = -1;
  weft_openai_exchange_attempt (ex);
  return ex;
}

void
weft_openai_exchange_abort (WeftOpenaiExchange *ex)
{
  g_return_if_fail (!ex->finished);

  ex->finished = TRUE;
  if (ex->waiter != NULL)
    {
      weft_openai_limiter_withdraw (ex->client->limiter, ex->waiter);
      ex->waiter = NULL;
      weft_openai_exchange_unref (ex);      /* the waiter's reference */
    }
  /* Stops the request in flight (its connection closed), gives the
   * limiter slot back, drops the backoff timer. */
  weft_openai_exchange_end_attempt (ex, -1);
  weft_openai_exchange_unref (ex);          /* the caller's reference */
}
