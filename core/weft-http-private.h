/* weft-http-private.h — the HTTP client's files and what they share
 * (weft-sdk.h's weft_http_*; never installed).
 *
 *   weft-http-request.c   a request as a plugin builds it; a response as it
 *                         is read (the status line and headers parsed)
 *   weft-http-io.c        the process's I/O thread: one epoll, libcurl's
 *                         multi_socket interface over shards of multi
 *                         handles, connection limits per host
 *   weft-http-call.c      one request on its way: the libcurl handle made
 *                         from the request, the answer gathered on the I/O
 *                         thread, handed to the engine loop (its bus) or to
 *                         a waiting thread; cancelling
 *   weft-http-task.c      weft_task_http_send: a call delivered to the
 *                         engine of a task
 *
 * Layering: request, then io, then call, then task; io knows a call only as
 * a WeftHttpTransfer whose functions the call fills in. */
#pragma once

#include "weft-private.h"

#include <curl/curl.h>

G_BEGIN_DECLS

/* ---- requests and responses (weft-http-request.c) ------------------------ */

/* What the SDK's setters fill; read by weft-http-call.c. */
struct _WeftHttpRequest {
  char *method;
  char *url;
  GPtrArray *headers;           /* "Name: value" */
  char *content_type;
  GBytes *body;
  guint timeout_ms;
  gsize max_body;
  guint max_redirects;
  char *ca_file;
};

/* The body kept when a request says nothing (max_body 0). */
#define WEFT_HTTP_DEFAULT_MAX_BODY (8 * 1024 * 1024)
/* The most bytes of status line and headers read (its message says 256 KiB). */
#define WEFT_HTTP_MAX_HEAD (256 * 1024)

/* The request's own check before anything is sent: method, URL, headers. */
gboolean weft_http_request_check (const WeftHttpRequest *request, GError **error);
/* "scheme://host:port" of the URL (user info left out), lower-cased: the
 * unit connection limits count in.  NULL when the URL has no authority. */
char    *weft_http_request_origin (const WeftHttpRequest *request);

WeftHttpResponse *weft_http_response_new (void);
/* One line of the head, as libcurl hands it (with its CR LF): a status
 * line starts a new head (a redirect's, an interim 100), a header line
 * adds to it, the blank line ends it.  FALSE when the head grew beyond
 * WEFT_HTTP_MAX_HEAD or a status line is not one. */
gboolean weft_http_response_add_line (WeftHttpResponse *response, const char *line, gsize length);
/* Why add_line refused a line (the head too large, a status line that is
 * not one), or NULL. */
const char *weft_http_response_get_head_error (const WeftHttpResponse *response);
/* TRUE once the blank line after a final (not 1xx) status was seen. */
gboolean weft_http_response_head_is_done (const WeftHttpResponse *response);
/* The body so far, appended to by the I/O thread. */
GByteArray *weft_http_response_get_body_array (WeftHttpResponse *response);
void      weft_http_response_set_truncated (WeftHttpResponse *response);

/* ---- the I/O thread (weft-http-io.c) ------------------------------------- */

typedef struct _WeftHttpTransfer WeftHttpTransfer;

/* On the I/O thread: the transfer left the multi handle, with libcurl's
 * result, or CURLE_ABORTED_BY_CALLBACK when it was cancelled. */
typedef void (*WeftHttpTransferFunc) (WeftHttpTransfer *transfer, CURLcode result);

/* What the I/O thread knows of a request; its owner (weft-http-call.c)
 * embeds it first and fills the fields up to `destroy`. */
struct _WeftHttpTransfer {
  CURL *easy;
  struct curl_slist *headers;   /* the request's, as CURLOPT_HTTPHEADER */
  char *origin;                 /* weft_http_request_origin */
  WeftHttpTransferFunc finished;
  void (*destroy) (WeftHttpTransfer *transfer);  /* at the last reference */

  /* The I/O thread's. */
  gatomicrefcount ref_count;
  gpointer origin_state;
  GList link;                   /* while held for its origin */
  guint state;
  gpointer shard;               /* the multi handle it is in */
  gboolean kept;                /* may leave its connection to the next */
};

void weft_http_transfer_init  (WeftHttpTransfer *transfer);
WeftHttpTransfer *weft_http_transfer_ref (WeftHttpTransfer *transfer);
void weft_http_transfer_unref (WeftHttpTransfer *transfer);

/* Any thread: the transfer goes to the I/O thread (started at once, or
 * once its origin has a first connection), which holds a reference until
 * `finished` was called. */
void weft_http_io_start  (WeftHttpTransfer *transfer);
/* Any thread: stops it, unless it has finished already. */
void weft_http_io_cancel (WeftHttpTransfer *transfer);

/* ---- calls (weft-http-call.c) -------------------------------------------- */

/* WeftHttpSink (weft-private.h): where an engine's calls end, its bus,
 * until the engine goes. */
WeftHttpSink *weft_http_sink_new   (WeftBus *bus);
/* Nothing is posted to the bus afterwards (calls still in flight are
 * dropped when they end); frees the sink once no call holds it. */
void          weft_http_sink_close (WeftHttpSink *sink);

/* On `sink`'s loop: `request` taken. */
WeftHttpCall *weft_http_call_start (WeftHttpSink *sink, WeftHttpRequest *request,
                                    WeftHttpChunkFunc chunk, WeftHttpDoneFunc done,
                                    gpointer user_data);

G_END_DECLS
