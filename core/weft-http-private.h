/* weft-http-private.h — the HTTP client's files and what they share
 * (weft-sdk.h's weft_http_*; never installed).
 *
 *   weft-http-request.c   a request as a plugin builds it; a response as it
 *                         is read (the status line and headers parsed)
 *   weft-http-route.c     which transport carries a request: the lean
 *                         one (cleartext, an IP literal, no proxy, no
 *                         redirects) or libcurl
 *   weft-http-wire.c      HTTP/1.1 as the lean transport writes a request
 *                         and reads its answer (head, framing, body): bytes
 *                         in and out, no sockets (fuzzed)
 *   weft-http-lean.c      the lean transport on the I/O thread: its
 *                         connections (non-blocking sockets on the I/O
 *                         thread's epoll), their pool per origin, timeouts
 *   weft-http-io.c        the process's I/O thread: one epoll, libcurl's
 *                         multi_socket interface over shards of multi
 *                         handles, the lean transport's sockets beside
 *                         them, connection limits per host
 *   weft-http-call.c      one request on its way: the libcurl handle or the
 *                         lean head made from the request, the answer gathered on the I/O
 *                         thread, handed to the engine loop (its bus) or to
 *                         a waiting thread; cancelling
 *   weft-http-task.c      weft_task_http_send: a call delivered to the
 *                         engine of a task
 *
 * Layering: request, route, wire, lean, io, call, task; io and lean know a
 * call only as a WeftHttpTransfer whose fields the call fills in; lean is
 * handed io's end of a transfer (weft_http_lean_init). */
#pragma once

#include "weft-private.h"

#include "weft-chunked.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
/* The most bytes of status line and headers read, and why an answer past
 * them is refused. */
#define WEFT_HTTP_MAX_HEAD (256 * 1024)
#define WEFT_HTTP_HEAD_TOO_LARGE "the answer's status line and headers are larger than 256 KiB"

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

/* ---- which transport (weft-http-route.c) --------------------------------- */

/* Where the lean transport connects. */
typedef struct {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  };
  socklen_t len;
} WeftHttpAddr;

/* TRUE when the lean transport carries `request` (whose origin is
 * `origin`): `addr` is where to connect, `authority` its Host header. */
gboolean weft_http_route_lean (const WeftHttpRequest *request, const char *origin,
                               WeftHttpAddr *addr, char *authority, gsize authority_size);

/* ---- HTTP/1.1 on the wire (weft-http-wire.c) ------------------------------ */

/* The request's head, but its last line (the transport adds "Connection:
 * close" or not, then the blank line). */
GBytes *weft_http_wire_request_head (const WeftHttpRequest *request, const char *authority);

/* Body bytes as they come: returns how many it took; fewer stops the
 * answer (its body limit). */
typedef gsize (*WeftHttpWireBodyFunc) (const guint8 *data, gsize n, gpointer user_data);

typedef enum {
  WEFT_HTTP_WIRE_IN_HEAD,
  WEFT_HTTP_WIRE_IN_LENGTH,       /* Content-Length: `remaining` */
  WEFT_HTTP_WIRE_IN_CHUNKS,
  WEFT_HTTP_WIRE_TO_CLOSE,        /* the body ends with the connection */
  WEFT_HTTP_WIRE_ENDED,
} WeftHttpWireState;

typedef enum {
  WEFT_HTTP_WIRE_MORE,            /* the answer goes on */
  WEFT_HTTP_WIRE_DONE,            /* it is complete */
  WEFT_HTTP_WIRE_STOPPED,         /* the body function took fewer bytes */
  WEFT_HTTP_WIRE_FAILED,          /* the answer is not HTTP/1.1: `error` */
} WeftHttpWireResult;

/* An answer being read. */
typedef struct {
  WeftHttpResponse *response;
  WeftHttpWireBodyFunc body;
  gpointer user_data;
  WeftHttpWireState state;
  gboolean head_request;          /* no body, whatever the head says */
  gboolean at_status;             /* a status line is next */
  gboolean started;               /* a byte of the answer came */
  gboolean close_after;           /* the connection carries nothing more */
  gsize head_bytes;
  guint64 remaining;
  WeftChunked chunked;
} WeftHttpWire;

void weft_http_wire_init (WeftHttpWire *wire, WeftHttpResponse *response, gboolean head_request,
                          WeftHttpWireBodyFunc body, gpointer user_data);
/* Reads `data`: `used` says how much; bytes left over are an incomplete
 * head line (MORE: hand them again with what follows) or bytes after the
 * answer (DONE: the connection cannot be trusted with another). */
WeftHttpWireResult weft_http_wire_feed (WeftHttpWire *wire, const guint8 *data, gsize n,
                                        gsize *used, GError **error);
/* The connection ended: TRUE when that completes the answer (a body read
 * to the close, or one complete already). */
gboolean weft_http_wire_end (WeftHttpWire *wire, GError **error);

/* ---- the I/O thread (weft-http-io.c) ------------------------------------- */

typedef struct _WeftHttpTransfer WeftHttpTransfer;

/* What an epoll event's pointer leads to: its first field. */
typedef enum {
  WEFT_HTTP_POLL_CURL,            /* a socket libcurl asked to watch */
  WEFT_HTTP_POLL_LEAN,            /* a lean connection */
} WeftHttpPollKind;

/* On the I/O thread: the transfer left the multi handle, with libcurl's
 * result, or CURLE_ABORTED_BY_CALLBACK when it was cancelled. */
typedef void (*WeftHttpTransferFunc) (WeftHttpTransfer *transfer, CURLcode result);

/* What the I/O thread knows of a request; its owner (weft-http-call.c)
 * embeds it first and fills the fields up to `destroy`: `easy` and
 * `headers` for libcurl, or `lean` with what follows it for the lean
 * transport. */
struct _WeftHttpTransfer {
  CURL *easy;
  struct curl_slist *headers;   /* the request's, as CURLOPT_HTTPHEADER */
  char *origin;                 /* weft_http_request_origin */
  WeftHttpTransferFunc finished;
  void (*destroy) (WeftHttpTransfer *transfer);  /* at the last reference */

  gboolean lean;
  WeftHttpAddr addr;
  GBytes *head;                 /* weft_http_wire_request_head */
  GBytes *body;                 /* the request's own, or NULL */
  gboolean head_request;
  guint timeout_ms;             /* 0: none */
  WeftHttpResponse *response;   /* the head goes in, line by line */
  WeftHttpWireBodyFunc write;   /* the body goes out */
  gpointer write_data;
  char *errbuf;                 /* CURL_ERROR_SIZE: why it failed */

  /* The I/O thread's. */
  gatomicrefcount ref_count;
  gpointer origin_state;
  GList link;                   /* while held for its origin */
  guint state;
  gpointer shard;               /* the multi handle it is in */
  gboolean kept;                /* may leave its connection to the next */
  gpointer conn;                /* lean: its connection, while it has one */
  gint64 deadline;              /* lean: monotonic µs, or 0 */
  guint timer_index;            /* lean: its place in the timer heap, or G_MAXUINT */
  gboolean retried;             /* lean: already sent again once */
  CURLcode failed_with;         /* lean: why, while its end waits for the batch's */
};

/* ---- the lean transport (weft-http-lean.c), on the I/O thread -------------- */

/* An origin's idle connections, most recent first; io's origin holds it. */
typedef struct {
  GQueue idle;
} WeftHttpLeanPool;

/* io's end of a transfer, handed down: the lean transport calls it when a
 * transfer finished, after letting go of it. */
typedef void (*WeftHttpLeanFinish) (WeftHttpTransfer *transfer, CURLcode result);

void weft_http_lean_init (int epfd, WeftHttpLeanFinish finish);
/* Sends the transfer: over an idle connection of `pool` when `keep` (the
 * connection returns to the pool after, up to `keep_max` idle), else over
 * a new one, closed after ("Connection: close"). */
void weft_http_lean_start (WeftHttpTransfer *transfer, WeftHttpLeanPool *pool, gboolean keep,
                           guint keep_max);
/* Lets go of the transfer (cancelled, or finished by io): its connection,
 * if it still has one, is closed at once. */
void weft_http_lean_stop (WeftHttpTransfer *transfer);
/* An epoll event for a lean connection (`ptr`). */
void weft_http_lean_ready (gpointer ptr, guint32 events);
/* After a batch of events: connections closed during it are reused. */
void weft_http_lean_sweep (void);
/* The nearest deadline (monotonic µs), or -1; ends those passed. */
gint64 weft_http_lean_next_deadline (void);
void   weft_http_lean_expire (gint64 now);

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
