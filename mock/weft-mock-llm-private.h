/* weft-mock-llm-private.h — what the mock's own files share (never used by
 * tests: they see weft-mock-llm.h). */
#pragma once

#include "weft-mock-llm.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* The whole HTTP answer of weft_mock_llm_push_raw(): status line, headers,
 * `length` bytes of `body`. */
GBytes *weft_mock_raw_response (guint status, const char *content_type, const char *body,
                                gsize length, gssize declared);

typedef struct _WeftMockRawWrite WeftMockRawWrite;
typedef void (*WeftMockRawDone) (gpointer data);

/* On the thread-default context: writes `bytes` on `stream`, then (with
 * `hold`) waits until the peer closes it; then calls `done (data)` there,
 * unless cancelled first.  Closing the stream is the caller's. */
WeftMockRawWrite *weft_mock_raw_write_start (GIOStream *stream, GBytes *bytes, gboolean hold,
                                             WeftMockRawDone done, gpointer data);
/* `done` will not be called; the write ends on a later iteration. */
void weft_mock_raw_write_cancel (WeftMockRawWrite *w);

/* ---- answers without a server (weft-mock-llm-epoll.c) ---------------------- */

/* A mock with no server of its own: its script, rules and counts answer
 * for another transport.  Free with weft_mock_llm_free(). */
WeftMockLlm *weft_mock_llm_new_core (void);

typedef struct {
  guint status;
  const char *content_type;   /* static */
  char *body;                 /* taken by the caller (g_free) */
  gsize len;
  char *retry_after;          /* NULL, or taken by the caller */
  guint delay_ms;             /* the latency drawn for it */
} WeftMockReply;

/* The answer to the body of a POST /chat/completions, whole (an event
 * stream too), counted in flight until weft_mock_llm_answered().  FALSE
 * for what only the libsoup server can do (drop, raw bytes, a trickle):
 * then a 500 saying so. */
gboolean weft_mock_llm_answer   (WeftMockLlm *mock, const char *data, gsize len,
                                 WeftMockReply *out);
void     weft_mock_llm_answered (WeftMockLlm *mock);
/* The body of GET /models. */
char    *weft_mock_llm_models_json (void);

typedef struct _WeftMockEpoll WeftMockEpoll;

/* Answers `mock`'s chat completions on 127.0.0.1:`port` (0: any free
 * port) from `n_threads` threads, each with its own epoll and its own
 * listening socket (SO_REUSEPORT); HTTP/1.1 with keep-alive. */
WeftMockEpoll *weft_mock_epoll_start (WeftMockLlm *mock, guint port, guint n_threads,
                                      GError **error);
guint          weft_mock_epoll_get_port (WeftMockEpoll *server);
/* Stops the threads, closes every connection. */
void           weft_mock_epoll_stop (WeftMockEpoll *server);

G_END_DECLS
