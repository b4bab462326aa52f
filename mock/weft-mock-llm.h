/* weft-mock-llm.h — a mock OpenAI-compatible chat-completions server for
 * weft's tests and benchmarks.
 *
 * The server listens on 127.0.0.1 only, on a free port, and runs on its own
 * thread (or threads: weft_mock_llm_new_full()), each with its own
 * GMainContext: it answers whatever the caller's threads do (block, iterate
 * another context, run an engine loop).  It never sleeps:
 * latency and slow trickles are timeout sources on the server's context, so
 * thousands of requests can wait at once.
 *
 * Endpoints, under the base URL "http://127.0.0.1:PORT/v1":
 *
 *   POST /chat/completions   answered by, in order of precedence:
 *                              1. the first rule whose needle occurs in the
 *                                 last "user" or "tool" message's content
 *                                 ("{last}" in a text answer is replaced by
 *                                 that content);
 *                              2. the next scripted answer (push_*), FIFO;
 *                              3. an echo: content "echo: " + the content of
 *                                 the last "user" message.
 *                            A body that is not a JSON object gets a 400 with
 *                            an OpenAI-style error (and consumes nothing).
 *   GET  /models             a list with one model, "weft-mock" (at once,
 *                            without latency).
 *   anything else            404 (405 for a wrong method), OpenAI-style error.
 *
 * A normal answer is an OpenAI "chat.completion" object: id, object, created,
 * model (the request's "model", or "weft-mock"), choices[0] {index 0, message
 * {role "assistant", content (or null) [, tool_calls]}, finish_reason "stop"
 * or "tool_calls"}, usage {prompt_tokens, completion_tokens, total_tokens},
 * tokens estimated as characters / 4, at least 1.
 *
 * When the request has "stream": true, every text answer (scripted text,
 * rules, echo, push_stream) is sent as server-sent events
 * ("chat.completion.chunk" objects): a first chunk with delta.role, one chunk
 * per piece of content (delta.content; scripted text, rules and echoes are cut
 * after each space), a final chunk with an empty delta and finish_reason
 * "stop", then "data: [DONE]".  Tool calls are streamed as one chunk with
 * delta.tool_calls (each with "index") and a final chunk with finish_reason
 * "tool_calls".  As OpenAI does, "usage" is sent in a streamed answer only
 * when the request has "stream_options": {"include_usage": true}: then as a
 * last chunk with "choices": [] before "data: [DONE]".
 *
 * All functions are thread-safe: call them from any thread while the server
 * serves.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WeftMockLlm WeftMockLlm;

/**
 * weft_mock_llm_new:
 * @error: return location for an error
 *
 * Starts a server on 127.0.0.1, on a free port, on its own thread with its
 * own GMainContext.  Raises the process's RLIMIT_NOFILE soft limit to its
 * hard limit, so that thousands of connections can be open at once.
 *
 * Returns: (transfer full): the running mock, or %NULL with @error set
 */
WeftMockLlm *weft_mock_llm_new (GError **error);

/**
 * weft_mock_llm_new_on_port:
 * @port: a TCP port on 127.0.0.1, or 0 for any free port
 * @error: return location for an error
 *
 * Like weft_mock_llm_new(), on a given port (for the standalone server).
 *
 * Returns: (transfer full): the running mock, or %NULL with @error set
 */
WeftMockLlm *weft_mock_llm_new_on_port (guint port, GError **error);

/**
 * weft_mock_llm_new_full:
 * @port: a TCP port on 127.0.0.1, or 0 for any free port
 * @n_threads: how many threads answer, or 0 for one per processor
 * @error: return location for an error
 *
 * Like weft_mock_llm_new_on_port(), answering from @n_threads threads,
 * each with its own listening socket on the port (SO_REUSEPORT: the kernel
 * spreads the connections over them) and its own GMainContext.  The script,
 * rules and records are shared: with several threads, requests that arrive
 * at once on different connections take scripted answers in whichever
 * order they reach the script.
 *
 * Returns: (transfer full): the running mock, or %NULL with @error set
 */
WeftMockLlm *weft_mock_llm_new_full (guint port, guint n_threads, GError **error);

/**
 * weft_mock_llm_free:
 * @mock: (nullable): a mock
 *
 * Stops the server (closing its connections, dropping paused answers) and
 * joins its thread.  %NULL is allowed.
 */
void weft_mock_llm_free (WeftMockLlm *mock);

/**
 * weft_mock_llm_set_recording:
 * @mock: a mock
 * @recording: whether to keep each request's body, headers and time
 *
 * Default %TRUE.  With %FALSE, requests are still counted (and in flight),
 * but nothing else is kept: weft_mock_llm_dup_request_body() and its
 * siblings have nothing to return for them, and a long benchmark's memory
 * stays flat.
 */
void weft_mock_llm_set_recording (WeftMockLlm *mock, gboolean recording);

/**
 * weft_mock_llm_get_base_url:
 * @mock: a mock
 *
 * Returns: (transfer none): the base URL, "http://127.0.0.1:PORT/v1" (no
 *   trailing slash), valid until weft_mock_llm_free()
 */
const char *weft_mock_llm_get_base_url (WeftMockLlm *mock);

/**
 * weft_mock_llm_get_port:
 * @mock: a mock
 *
 * Returns: the TCP port the server listens on
 */
guint weft_mock_llm_get_port (WeftMockLlm *mock);

/**
 * weft_mock_llm_set_latency:
 * @mock: a mock
 * @min_ms: the least latency, in milliseconds
 * @max_ms: the most latency; when > @min_ms, each request waits a time drawn
 *   uniformly from @min_ms..@max_ms, else exactly @min_ms
 *
 * Delays every answer to POST /chat/completions (faults included) by the
 * latency, counted from the request's arrival.  The wait is a timer on the
 * server's context (one source for all waiting requests), never a sleep.
 * Default: 0, answer at once.
 */
void weft_mock_llm_set_latency (WeftMockLlm *mock, guint min_ms, guint max_ms);

/**
 * weft_mock_llm_push_text:
 * @mock: a mock
 * @content: the assistant's answer
 *
 * Appends a plain text answer to the script (finish_reason "stop").  A JSON
 * answer (for response_format tests) is text too: pass the JSON as @content.
 */
void weft_mock_llm_push_text (WeftMockLlm *mock, const char *content);

/**
 * weft_mock_llm_push_tool_calls:
 * @mock: a mock
 * @tool_calls_json: a JSON array of {"name": "...", "arguments": {...}}
 *
 * Appends an answer that asks for tool calls: message.content null,
 * message.tool_calls [{id, type "function", function {name, arguments}}],
 * finish_reason "tool_calls".  Ids are "call_1", "call_2", ..., counted over
 * the mock's life.  "arguments" is serialised to a JSON string, as OpenAI
 * does (a string "arguments" is passed through as it is).  Invalid JSON is a
 * programming error (g_error).
 */
void weft_mock_llm_push_tool_calls (WeftMockLlm *mock, const char *tool_calls_json);

/**
 * weft_mock_llm_push_stream:
 * @mock: a mock
 * @chunks: (array zero-terminated=1): the pieces of the answer's content
 *
 * Appends an answer made of @chunks.  When the request has "stream": true it
 * is sent as server-sent events, one "data: {chunk}\n\n" per piece with
 * choices[0].delta.content, then a final chunk with finish_reason "stop" and
 * "data: [DONE]\n\n"; otherwise as one message with the pieces joined.
 */
void weft_mock_llm_push_stream (WeftMockLlm *mock, const char * const *chunks);

/**
 * weft_mock_llm_push_error:
 * @mock: a mock
 * @status: the HTTP status (429, 500, 503, 400, 401, ...)
 * @retry_after: (nullable): the Retry-After header's value, or %NULL for none
 * @body: (nullable): the body as sent, or %NULL for an OpenAI-style
 *   {"error": {"message": ..., "type": ..., "code": ...}} (JSON)
 *
 * Appends an HTTP error answer.
 */
void weft_mock_llm_push_error (WeftMockLlm *mock, guint status, const char *retry_after,
                               const char *body);

/**
 * weft_mock_llm_push_malformed:
 * @mock: a mock
 *
 * Appends a 200 answer, Content-Type application/json, whose body is a
 * chat.completion object cut off halfway (not valid JSON).
 */
void weft_mock_llm_push_malformed (WeftMockLlm *mock);

/**
 * weft_mock_llm_push_drop:
 * @mock: a mock
 *
 * Appends a fault: the server reads the request, then closes the connection
 * without sending any answer.
 */
void weft_mock_llm_push_drop (WeftMockLlm *mock);

/**
 * weft_mock_llm_push_trickle:
 * @mock: a mock
 * @content: the assistant's answer
 * @total_ms: how long the body takes to send, overall
 *
 * Appends a 200 answer whose body (a normal chat.completion object, or the
 * stream's events when the request streams) is sent in small pieces with
 * pauses between them, spread over @total_ms (after any latency).
 */
void weft_mock_llm_push_trickle (WeftMockLlm *mock, const char *content, guint total_ms);

/* weft_mock_llm_push_raw()'s `declared`: no Content-Length header at all
 * (the body ends when the connection closes). */
#define WEFT_MOCK_LLM_NO_LENGTH ((gssize) -2)

/* weft_mock_llm_push_raw()'s flags. */
typedef enum {
  WEFT_MOCK_LLM_RAW_NONE = 0,
  /* After the body, keep the connection open (idle) until the client
   * closes it or the mock is freed, instead of closing it at once. */
  WEFT_MOCK_LLM_RAW_HOLD = 1 << 0,
} WeftMockLlmRawFlags;

/**
 * weft_mock_llm_push_raw:
 * @mock: a mock
 * @status: the status line's code, 100 to 999 (any, known or not)
 * @content_type: (nullable): the Content-Type header's value, or %NULL for
 *   no Content-Type
 * @body: (array length=length) (nullable): the body, sent byte for byte
 *   (NUL bytes and invalid UTF-8 included); %NULL only with @length 0
 * @length: the bytes of @body, or -1 for up to its NUL
 * @declared: the Content-Length header's value: -1 for @length; more than
 *   @length announces bytes that never come (a body cut off mid-way: the
 *   connection closes after @length bytes); %WEFT_MOCK_LLM_NO_LENGTH for no
 *   Content-Length (the body then ends when the connection closes)
 * @flags: #WeftMockLlmRawFlags
 *
 * Appends an answer written on the connection as it is, bypassing
 * libsoup's server: "HTTP/1.1 STATUS PHRASE", Content-Type, Content-Length,
 * "Connection: close", an empty line, the body; then the connection is
 * closed (unless %WEFT_MOCK_LLM_RAW_HOLD).  It is sent whether or not the
 * request streams, after the latency like any answer.  For what a broken
 * server, proxy or gateway sends and libsoup's server would not: an empty
 * 200, a truncated body, bytes that are not UTF-8, an HTML error page, a
 * body of gigabytes announced and never sent.  A request waits in flight
 * until its bytes are written (or, held, until its connection closes).
 */
void weft_mock_llm_push_raw (WeftMockLlm *mock, guint status, const char *content_type,
                             const char *body, gssize length, gssize declared,
                             WeftMockLlmRawFlags flags);

/**
 * weft_mock_llm_add_text_rule:
 * @mock: a mock
 * @needle: a substring to look for
 * @content: the answer
 *
 * Adds a rule, checked before the script, in the order rules were added:
 * when the content of the request's last message with role "user" or "tool"
 * contains @needle, the answer is @content.  A rule answers every matching
 * request (it is not consumed).  For tests whose tasks run concurrently,
 * where the order of requests is not deterministic.
 */
void weft_mock_llm_add_text_rule (WeftMockLlm *mock, const char *needle, const char *content);

/**
 * weft_mock_llm_add_text_rule_delayed:
 * @mock: a mock
 * @needle: a substring to look for
 * @content: the answer
 * @delay_ms: how long the answer waits, instead of the mock's latency
 *
 * Like weft_mock_llm_add_text_rule(), answered after @delay_ms: one slow
 * request among quick ones (a model call to interrupt).
 */
void weft_mock_llm_add_text_rule_delayed (WeftMockLlm *mock, const char *needle,
                                          const char *content, guint delay_ms);

/**
 * weft_mock_llm_get_n_abandoned:
 * @mock: a mock
 *
 * Returns: how many requests had their connection closed by the client
 *   while their answer waited out its latency: requests given up (a
 *   cancelled model call), seen from the server's side
 */
guint weft_mock_llm_get_n_abandoned (WeftMockLlm *mock);

/**
 * weft_mock_llm_add_tool_rule:
 * @mock: a mock
 * @needle: a substring to look for
 * @tool_calls_json: a JSON array of {"name": "...", "arguments": {...}}
 *
 * Like weft_mock_llm_add_text_rule(), but the answer asks for tool calls, as
 * with weft_mock_llm_push_tool_calls() (fresh ids for each answer).
 */
void weft_mock_llm_add_tool_rule (WeftMockLlm *mock, const char *needle,
                                  const char *tool_calls_json);

/**
 * weft_mock_llm_get_n_requests:
 * @mock: a mock
 *
 * Returns: how many requests to POST /chat/completions have arrived (whether
 *   answered yet or not, including rejected ones)
 */
guint weft_mock_llm_get_n_requests (WeftMockLlm *mock);

/**
 * weft_mock_llm_dup_request_body:
 * @mock: a mock
 * @i: the request's index, in arrival order, < weft_mock_llm_get_n_requests()
 *
 * Returns: (transfer full): the request's body, as received
 */
char *weft_mock_llm_dup_request_body (WeftMockLlm *mock, guint i);

/**
 * weft_mock_llm_dup_request_header:
 * @mock: a mock
 * @i: the request's index, in arrival order
 * @name: a header name (case-insensitive)
 *
 * Returns: (transfer full) (nullable): the header's value, or %NULL when the
 *   request had no such header
 */
char *weft_mock_llm_dup_request_header (WeftMockLlm *mock, guint i, const char *name);

/**
 * weft_mock_llm_get_request_time:
 * @mock: a mock
 * @i: the request's index, in arrival order
 *
 * Returns: the request's arrival time, g_get_monotonic_time() (µs), so tests
 *   can measure rates (requests per second) and backoff delays
 */
gint64 weft_mock_llm_get_request_time (WeftMockLlm *mock, guint i);

/**
 * weft_mock_llm_get_in_flight:
 * @mock: a mock
 *
 * Returns: how many requests to POST /chat/completions have arrived and are
 *   not answered yet.  A request leaves flight when the server has written
 *   the last byte of its answer (or closed a dropped connection), which the
 *   client may see a moment before: poll briefly before asserting 0.
 */
guint weft_mock_llm_get_in_flight (WeftMockLlm *mock);

/**
 * weft_mock_llm_get_max_in_flight:
 * @mock: a mock
 *
 * Returns: the most requests to POST /chat/completions in flight (arrived,
 *   not yet fully answered) at any moment so far, for concurrency limits
 */
guint weft_mock_llm_get_max_in_flight (WeftMockLlm *mock);

/**
 * weft_mock_llm_reset:
 * @mock: a mock
 *
 * Clears the script, the rules and the records (requests, max in flight) and
 * sets the latency back to 0.  Requests in flight still get their answers.
 */
void weft_mock_llm_reset (WeftMockLlm *mock);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftMockLlm, weft_mock_llm_free)

G_END_DECLS
