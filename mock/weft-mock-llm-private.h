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

G_END_DECLS
