/* weft-openai.h — the openai agent's internal parts, shared between its
 * files (never installed, never seen by other plugins).
 *
 *   weft-openai.c          options, instance, messages, the tool loop, converse()
 *   weft-openai-chat.c     a thread's history as the request's messages
 *   weft-openai-http.c     one chat completion: HTTP, retries, streaming
 *   weft-openai-answer.c   reading what a server answered (no network)
 *   weft-openai-limiter.c  requests/min, tokens/min and concurrency limits
 *   weft-openai-schema.c   a small JSON-schema validator for response_format
 *   weft-openai-price.c    the prices option: what an answer's tokens cost
 *
 * Threads: everything here runs on the engine loop, except create() and
 * destroy() of the instance (see weft-openai.c).  Nothing takes a lock.
 */
#pragma once

#include <weft/weft-sdk.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------------------ */
/* Rate limiter: one per agent instance, shared by all its tasks            */

typedef struct _WeftOpenaiLimiter WeftOpenaiLimiter;
typedef struct _WeftOpenaiWaiter WeftOpenaiWaiter;

/* Called on the engine loop when a queued request may start. */
typedef void (*WeftOpenaiGrantFunc) (gpointer data);

/* 0 for any limit means unlimited.  Any thread. */
WeftOpenaiLimiter *weft_openai_limiter_new   (gint64 max_rpm, gint64 max_tpm,
                                              gint64 max_concurrency);
WeftOpenaiLimiter *weft_openai_limiter_ref   (WeftOpenaiLimiter *limiter);
void               weft_openai_limiter_unref (WeftOpenaiLimiter *limiter);

/* On the engine loop.  Takes a request slot and debits `tokens` (an
 * estimate) when the limits allow it now: returns NULL and does not call
 * `grant`.  Otherwise queues the request and returns a waiter: `grant` is
 * called later, once, from a timeout on `context` (the slot taken), unless
 * the waiter is withdrawn first. */
WeftOpenaiWaiter *weft_openai_limiter_acquire  (WeftOpenaiLimiter *limiter, GMainContext *context,
                                                gint64 tokens, WeftOpenaiGrantFunc grant,
                                                gpointer data);
void              weft_openai_limiter_withdraw (WeftOpenaiLimiter *limiter, WeftOpenaiWaiter *waiter);
/* On the engine loop.  Never more than `cap` requests in flight, whatever
 * max_concurrency says (0: no cap). */
void              weft_openai_limiter_cap_concurrency (WeftOpenaiLimiter *limiter, gint64 cap);
/* Gives back a slot taken for `estimated` tokens; `used` corrects the
 * debit (the provider's usage.total_tokens), or -1 to keep the estimate. */
void              weft_openai_limiter_release  (WeftOpenaiLimiter *limiter, gint64 estimated,
                                                gint64 used);

/* ------------------------------------------------------------------------ */
/* JSON schema: the subset response_format needs                            */

/* Checks `value` against `schema`: type (object, array, string, number,
 * integer, boolean, null, or a list of them), properties, required, items,
 * enum, additionalProperties false.  Other keywords are ignored.  The
 * error names the JSON path of the first mismatch ("$.items[2].name"). */
gboolean weft_openai_schema_validate (JsonNode *schema, JsonNode *value, GError **error);

/* ------------------------------------------------------------------------ */
/* Answers: what a server sent, read without a network (tests, fuzzers)     */

/* At most a few hundred characters of `text` (`length` bytes, any bytes)
 * for an error message: valid UTF-8, blanks and control characters folded
 * into single spaces, `secret` (may be NULL) redacted, "…" where it was
 * cut.  "" when nothing but blanks is left. */
char *weft_openai_excerpt (const char *text, gsize length, const char *secret);
/* The server's own words from an error body, whatever its shape (JSON of
 * the usual forms, HTML, nothing): an excerpt, never empty. */
char *weft_openai_provider_message (const char *body, gsize length, const char *secret);
/* The same from a parsed JSON error. */
char *weft_openai_error_node_message (JsonNode *root, const char *secret);
/* An answer's usage: each count -1 when the server did not give it. */
typedef struct {
  gint64 prompt;
  gint64 completion;
  gint64 total;
} WeftOpenaiUsage;

#define WEFT_OPENAI_USAGE_NONE ((WeftOpenaiUsage) { -1, -1, -1 })

/* ------------------------------------------------------------------------ */
/* Prices (weft-openai-price.c): the `prices` option                        */

typedef struct {
  double input;              /* per million prompt tokens                */
  double output;             /* per million completion tokens            */
  gboolean known;            /* the model has a row                      */
} WeftOpenaiPrice;

/* Checks every row of `prices` (may be NULL) and gives `model`'s, if any. */
gboolean weft_openai_price_find (JsonObject *prices, const char *model, WeftOpenaiPrice *price,
                                 GError **error);
/* What the tokens cost; -1 when the model has no price. */
double   weft_openai_price_cost (const WeftOpenaiPrice *price, gint64 prompt_tokens,
                                 gint64 completion_tokens);

/* A whole (not streamed) answer, `length` bytes: the assistant message
 * {"role", "content", "tool_calls"?} and its usage, or NULL with
 * WEFT_ERROR_PARSE. */
JsonObject *weft_openai_parse_answer_usage (const char *body, gsize length, const char *secret,
                                            WeftOpenaiUsage *usage, GError **error);
/* The same with only the usage's total tokens (-1 when not given). */
JsonObject *weft_openai_parse_answer (const char *body, gsize length, const char *secret,
                                      gint64 *usage, GError **error);

/* What the model is told of a tool call: its result, or "error: " and why
 * it failed; valid UTF-8 either way (a tool's words, or the core's about
 * the model's arguments, may quote bytes as they came). */
char *weft_openai_tool_result_text (const char *result, const GError *error);

typedef struct _WeftOpenaiStream WeftOpenaiStream;

/* A piece of streamed content; FALSE stops the stream (its consumer went
 * away): nothing more is read from what was fed. */
typedef gboolean (*WeftOpenaiChunkFunc) (const char *text, gpointer data);

/* A streamed answer (server-sent events), fed as it arrives, at most
 * `max_bytes` in all. */
WeftOpenaiStream *weft_openai_stream_new  (gsize max_bytes, const char *secret,
                                           WeftOpenaiChunkFunc chunk, gpointer data);
void              weft_openai_stream_free (WeftOpenaiStream *stream);
/* FALSE with WEFT_ERROR_PARSE on a malformed event, an error event, or
 * more than max_bytes. */
gboolean   weft_openai_stream_feed        (WeftOpenaiStream *stream, const guint8 *data, gsize size,
                                           GError **error);
/* Content was reported through `chunk`: the answer cannot be taken back. */
gboolean   weft_openai_stream_has_emitted (const WeftOpenaiStream *stream);
gint64     weft_openai_stream_get_usage   (const WeftOpenaiStream *stream);
/* The usage of its last event that had one (a stream asked to include it). */
WeftOpenaiUsage weft_openai_stream_get_usage_all (const WeftOpenaiStream *stream);
/* At the end of the body: the assistant message, or NULL with
 * WEFT_ERROR_PARSE (the stream ended before [DONE], or its last event,
 * not ended by an empty line, is malformed), or WEFT_ERROR_CANCELLED when
 * `chunk` stopped it. */
JsonObject *weft_openai_stream_finish     (WeftOpenaiStream *stream, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftOpenaiStream, weft_openai_stream_free)

/* ------------------------------------------------------------------------ */
/* Conversations                                                            */

/* The messages of a request in a thread's turn: the system message (may be
 * NULL), then the thread's history (weft_task_get_messages) as the API
 * takes it; weft's own notices become user messages that say so. */
JsonArray *weft_openai_chat_messages (const char *system, JsonArray *history);

/* ------------------------------------------------------------------------ */
/* Client: how to reach the provider; immutable once made (but for the
 * limiter, which only the engine loop touches), shared by refs */

typedef struct {
  gatomicrefcount ref_count;
  char *base_url;            /* as configured, for error messages        */
  char *url;                 /* base_url + "/chat/completions"           */
  char *api_key;             /* secret: only ever put in one header      */
  char **header_names;       /* extra headers, NULL-terminated           */
  char **header_values;
  guint timeout_ms;          /* per HTTP request; 0 = none               */
  guint max_retries;
  guint retry_base_ms;
  gboolean stream;
  gint64 max_tokens;         /* for the token estimate; 0 when unset     */
  gsize max_response_bytes;  /* the most of an answer read               */
  WeftOpenaiLimiter *limiter;
} WeftOpenaiClient;

WeftOpenaiClient *weft_openai_client_ref   (WeftOpenaiClient *client);
void              weft_openai_client_unref (WeftOpenaiClient *client);

/* ------------------------------------------------------------------------ */
/* Exchange: one chat completion, retried as needed                         */

typedef struct _WeftOpenaiExchange WeftOpenaiExchange;

/* A step to report ("retry", "chunk"). */
typedef void (*WeftOpenaiStepFunc) (const char *kind, const char *text, gpointer data);
/* The answer: an assistant message {"role", "content", "tool_calls"?} and
 * its usage (NULL with an error), or an error. */
typedef void (*WeftOpenaiDoneFunc) (JsonObject *message, const WeftOpenaiUsage *usage,
                                    const GError *error, gpointer data);

/* On the engine loop.  `body` is the request (JSON); `done` is called
 * exactly once, on the loop, unless the exchange is aborted first.  The
 * requests go through the engine's HTTP client, on behalf of `task`,
 * which must stay valid until then. */
WeftOpenaiExchange *weft_openai_exchange_start (WeftOpenaiClient *client, WeftTask *task,
                                                const char *body, WeftOpenaiStepFunc step,
                                                WeftOpenaiDoneFunc done, gpointer data);
/* On the engine loop: stops the request, any wait and any timer at once;
 * `done` and `step` are not called again. */
void weft_openai_exchange_abort (WeftOpenaiExchange *exchange);

G_END_DECLS
