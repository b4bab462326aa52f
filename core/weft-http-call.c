/* weft-http-call.c — one HTTP request on its way: its transport chosen
 * (weft-http-route.c) and made from a WeftHttpRequest (a libcurl handle,
 * or the lean transport's head), the answer gathered on the I/O thread by
 * one body sink for both, and its hand-over, to an engine loop or to a
 * thread that waits.
 *
 * A call lives on three threads.  The plugin starts it (the engine loop,
 * or any thread for weft_http_send); the I/O thread (weft-http-io.c) runs
 * libcurl's callbacks, which parse the head and gather the body; the end
 * goes back by one message on the engine's bus (weft-bus.c): the call
 * embeds it, as an attempt embeds its return, and posts it at most once
 * at a time, so a streamed answer that arrives in many pieces costs one
 * wakeup per batch of pieces, and a whole answer one wakeup in all.  A
 * thread that waits (weft_http_send) is woken by a condition instead.
 *
 * What the threads share sits under the call's lock: the pieces not yet
 * handed over, whether the head is in, whether it ended and how.  The
 * response's head is written by the I/O thread only until the first piece
 * of the body (or the end), and read by the loop only after.  The call is
 * counted: the plugin's reference (until `done` or a cancel), the I/O
 * thread's (until libcurl lets go), and the message's (while posted).
 */
#include "weft-http-private.h"

#include <string.h>

struct _WeftHttpSink {
  gatomicrefcount ref_count;
  GMutex lock;
  WeftBus *bus;                 /* NULL once closed */
};

typedef enum {
  WEFT_HTTP_HEAD_WAITING,       /* not yet in */
  WEFT_HTTP_HEAD_READY,         /* in: to be shown to the chunk function */
  WEFT_HTTP_HEAD_SHOWN,
} WeftHttpHeadState;

struct _WeftHttpCall {
  WeftHttpTransfer transfer;    /* first: the I/O thread's view */
  WeftMsg msg;                  /* the hand-over to the engine loop */
  WeftHttpRequest *request;
  WeftHttpResponse *response;
  gsize received;               /* I/O thread: bytes of the body */
  gsize max_body;
  char errbuf[CURL_ERROR_SIZE];

  WeftHttpSink *sink;           /* NULL for a call that is waited for */
  WeftHttpChunkFunc chunk;
  WeftHttpDoneFunc done;
  gpointer user_data;
  gint cancelled;               /* atomic: set by the loop, read by all */

  GMutex lock;                  /* guards what follows */
  GCond cond;                   /* a waiting thread's */
  GByteArray *pending;          /* pieces not yet handed over */
  WeftHttpHeadState head;
  gboolean ended;
  gboolean posted;
  GError *error;
};

/* ---- sinks ---------------------------------------------------------------------- */

WeftHttpSink *
weft_http_sink_new (WeftBus *bus)
{
  WeftHttpSink *sink = g_new0 (WeftHttpSink, 1);

  g_atomic_ref_count_init (&sink->ref_count);
  g_mutex_init (&sink->lock);
  sink->bus = bus;
  return sink;
}

static void
weft_http_sink_unref (WeftHttpSink *sink)
{
  if (!g_atomic_ref_count_dec (&sink->ref_count))
    return;
  g_mutex_clear (&sink->lock);
  g_free (sink);
}

void
weft_http_sink_close (WeftHttpSink *sink)
{
  g_mutex_lock (&sink->lock);
  sink->bus = NULL;
  g_mutex_unlock (&sink->lock);
  weft_http_sink_unref (sink);
}

/* FALSE when the sink is closed: nobody is left to hand the call to. */
static gboolean
weft_http_sink_post (WeftHttpSink *sink, WeftMsg *msg)
{
  gboolean open;

  g_mutex_lock (&sink->lock);
  open = sink->bus != NULL;
  if (open)
    weft_bus_post (sink->bus, msg);
  g_mutex_unlock (&sink->lock);
  return open;
}

/* ---- lifetime --------------------------------------------------------------------- */

static void
weft_http_call_destroy (WeftHttpTransfer *transfer)
{
  WeftHttpCall *call = (WeftHttpCall *) transfer;

  if (transfer->easy != NULL)
    curl_easy_cleanup (transfer->easy);
  curl_slist_free_all (call->transfer.headers);
  g_clear_pointer (&transfer->head, g_bytes_unref);
  g_free (transfer->origin);
  weft_http_request_free (call->request);
  weft_http_response_free (call->response);
  g_clear_pointer (&call->pending, g_byte_array_unref);
  g_clear_error (&call->error);
  g_clear_pointer (&call->sink, weft_http_sink_unref);
  g_mutex_clear (&call->lock);
  g_cond_clear (&call->cond);
  g_free (call);
}

static void
weft_http_call_unref (WeftHttpCall *call)
{
  weft_http_transfer_unref (&call->transfer);
}

/* ---- the I/O thread's side ----------------------------------------------------------- */

static size_t
weft_http_call_header_cb (char *data, size_t size, size_t n, void *user_data)
{
  WeftHttpCall *call = user_data;

  /* Less than n stops the transfer; the response says why. */
  return weft_http_response_add_line (call->response, data, n) ? n : 0;
}

/* Posts the hand-over unless it is on its way; under the call's lock. */
static void
weft_http_call_post_locked (WeftHttpCall *call)
{
  if (call->sink == NULL)
    {
      g_cond_signal (&call->cond);
      return;
    }
  if (call->posted)
    return;
  weft_http_transfer_ref (&call->transfer);   /* the message's */
  call->posted = weft_http_sink_post (call->sink, &call->msg);
  if (!call->posted)
    g_atomic_ref_count_dec (&call->transfer.ref_count);  /* never the last: the I/O thread holds one */
}

/* The body as it comes, from either transport: kept, or handed over in
 * pieces; past max_body the answer is cut (fewer taken stops it). */
static gsize
weft_http_call_take (const guint8 *data, gsize n, gpointer user_data)
{
  WeftHttpCall *call = user_data;
  gsize room = call->max_body - call->received;
  gsize take = MIN (n, room);

  call->received += take;
  if (call->chunk == NULL)
    g_byte_array_append (weft_http_response_get_body_array (call->response), data, (guint) take);
  else if (!g_atomic_int_get (&call->cancelled))
    {
      g_mutex_lock (&call->lock);
      if (call->pending == NULL)
        call->pending = g_byte_array_new ();
      g_byte_array_append (call->pending, data, (guint) take);
      if (call->head == WEFT_HTTP_HEAD_WAITING)
        call->head = WEFT_HTTP_HEAD_READY;
      weft_http_call_post_locked (call);
      g_mutex_unlock (&call->lock);
    }
  if (take < n)
    weft_http_response_set_truncated (call->response);
  return take;
}

static size_t
weft_http_call_write_cb (char *data, size_t size, size_t n, void *user_data)
{
  return weft_http_call_take ((const guint8 *) data, n, user_data);  /* less than n stops it */
}

/* libcurl's result as the plugin sees it: NULL for an answer. */
static GError *
weft_http_call_error (WeftHttpCall *call, CURLcode result)
{
  const char *detail = call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror (result);

  switch (result)
    {
    case CURLE_OK:
      return NULL;
    case CURLE_WRITE_ERROR:
      if (weft_http_response_is_truncated (call->response))
        return NULL;            /* max_body reached: the answer, cut */
      if (weft_http_response_get_head_error (call->response) != NULL)
        return g_error_new_literal (WEFT_ERROR, WEFT_ERROR_FAILED,
                                    weft_http_response_get_head_error (call->response));
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return g_error_new (WEFT_ERROR, WEFT_ERROR_TIMEOUT, "no complete answer within %.1f s",
                          call->request->timeout_ms / 1000.0);
    case CURLE_ABORTED_BY_CALLBACK:
      return g_error_new_literal (WEFT_ERROR, WEFT_ERROR_CANCELLED, "cancelled");
    /* Nothing there at all, in GIO's words, so that a caller can tell a
     * server that is not there from one that failed to answer. */
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return g_error_new_literal (G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, detail);
    case CURLE_COULDNT_CONNECT:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, detail);
    default:
      break;
    }
  return g_error_new_literal (WEFT_ERROR, WEFT_ERROR_FAILED, detail);
}

static void
weft_http_call_finished (WeftHttpTransfer *transfer, CURLcode result)
{
  WeftHttpCall *call = (WeftHttpCall *) transfer;

  if (call->sink != NULL && g_atomic_int_get (&call->cancelled))
    return;
  g_mutex_lock (&call->lock);
  call->ended = TRUE;
  call->error = weft_http_call_error (call, result);
  if (call->head == WEFT_HTTP_HEAD_WAITING && weft_http_response_head_is_done (call->response))
    call->head = WEFT_HTTP_HEAD_READY;
  weft_http_call_post_locked (call);
  g_mutex_unlock (&call->lock);
}

/* ---- the handle ------------------------------------------------------------------------ */

static void
weft_http_call_set_method (WeftHttpCall *call, CURL *easy)
{
  const WeftHttpRequest *request = call->request;
  const char *method = request->method;

  if (request->body != NULL)
    {
      gsize size;
      gconstpointer data = g_bytes_get_data (request->body, &size);

      curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
      curl_easy_setopt (easy, CURLOPT_POSTFIELDS, data != NULL ? data : "");
      if (strcmp (method, "POST") != 0)
        curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, method);
    }
  else if (strcmp (method, "HEAD") == 0)
    curl_easy_setopt (easy, CURLOPT_NOBODY, 1L);
  else if (strcmp (method, "GET") != 0)
    curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, method);
  /* Redirects only for what is safe to repeat elsewhere. */
  if (request->max_redirects > 0 && (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0))
    {
      curl_easy_setopt (easy, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt (easy, CURLOPT_MAXREDIRS, (long) request->max_redirects);
      curl_easy_setopt (easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
}

static void
weft_http_call_set_headers (WeftHttpCall *call)
{
  const WeftHttpRequest *request = call->request;
  g_autofree char *type = g_strconcat ("Content-Type: ",
                                       request->content_type != NULL ? request->content_type : "",
                                       NULL);

  for (guint i = 0; i < request->headers->len; i++)
    call->transfer.headers = curl_slist_append (call->transfer.headers, request->headers->pdata[i]);
  /* No "Expect: 100-continue" wait before a large body, and no form type
   * made up for a body whose type was not given. */
  call->transfer.headers = curl_slist_append (call->transfer.headers, "Expect:");
  if (request->body != NULL)
    call->transfer.headers = curl_slist_append (call->transfer.headers, type);
}

static CURL *
weft_http_call_make_handle (WeftHttpCall *call)
{
  const WeftHttpRequest *request = call->request;
  CURL *easy = curl_easy_init ();

  curl_easy_setopt (easy, CURLOPT_URL, request->url);
  curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "http,https");
  weft_http_call_set_method (call, easy);
  weft_http_call_set_headers (call);
  curl_easy_setopt (easy, CURLOPT_HTTPHEADER, call->transfer.headers);
  curl_easy_setopt (easy, CURLOPT_HEADERFUNCTION, weft_http_call_header_cb);
  curl_easy_setopt (easy, CURLOPT_HEADERDATA, call);
  curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, weft_http_call_write_cb);
  curl_easy_setopt (easy, CURLOPT_WRITEDATA, call);
  curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, call->errbuf);
  curl_easy_setopt (easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  /* Over TLS, wait for a connection being made to say whether it can be
   * shared (HTTP/2, by ALPN) rather than open another.  Cleartext is
   * HTTP/1.1: waiting there would hold every request of a new host until
   * the first one's answer came back. */
  if (g_str_has_prefix (call->transfer.origin, "https:"))
    curl_easy_setopt (easy, CURLOPT_PIPEWAIT, 1L);
  else
    curl_easy_setopt (easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  if (request->timeout_ms > 0)
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) request->timeout_ms);
  if (request->ca_file != NULL)
    curl_easy_setopt (easy, CURLOPT_CAINFO, request->ca_file);
  return easy;
}

/* The lean transport when it can carry the request (weft-http-route.c),
 * its head made here, on the caller's thread; else a libcurl handle. */
static void
weft_http_call_choose (WeftHttpCall *call)
{
  WeftHttpTransfer *transfer = &call->transfer;
  const WeftHttpRequest *request = call->request;
  char authority[80];

  if (!weft_http_route_lean (request, transfer->origin, &transfer->addr, authority,
                             sizeof authority))
    {
      transfer->easy = weft_http_call_make_handle (call);
      return;
    }
  transfer->lean = TRUE;
  transfer->head = weft_http_wire_request_head (request, authority);
  transfer->body = request->body;
  transfer->head_request = strcmp (request->method, "HEAD") == 0;
  transfer->timeout_ms = request->timeout_ms;
  transfer->response = call->response;
  transfer->write = weft_http_call_take;
  transfer->write_data = call;
  transfer->errbuf = call->errbuf;
}

/* A call with its transport, or NULL with an error when the request is bad. */
static WeftHttpCall *
weft_http_call_new (WeftHttpRequest *request, GError **error)
{
  WeftHttpCall *call;

  if (!weft_http_request_check (request, error))
    {
      weft_http_request_free (request);
      return NULL;
    }
  call = g_new0 (WeftHttpCall, 1);
  weft_http_transfer_init (&call->transfer);
  call->transfer.finished = weft_http_call_finished;
  call->transfer.destroy = weft_http_call_destroy;
  call->transfer.origin = weft_http_request_origin (request);
  g_mutex_init (&call->lock);
  g_cond_init (&call->cond);
  call->request = request;
  call->max_body = request->max_body > 0 ? request->max_body : WEFT_HTTP_DEFAULT_MAX_BODY;
  call->response = weft_http_response_new ();
  weft_http_call_choose (call);
  return call;
}

/* ---- the engine loop's side ----------------------------------------------------------- */

/* FALSE when the plugin stopped the call from its chunk function. */
static gboolean
weft_http_call_show (WeftHttpCall *call, gboolean show_head, GByteArray *pieces)
{
  gboolean more = TRUE;

  if (call->chunk == NULL)
    return TRUE;
  if (show_head)
    more = call->chunk (call->response, NULL, 0, call->user_data);
  if (more && pieces != NULL && pieces->len > 0)
    more = call->chunk (call->response, pieces->data, pieces->len, call->user_data);
  if (!more)
    weft_http_call_cancel (call);
  return more;
}

/* The message's handler, on the loop (or when the bus is freed). */
static void
weft_http_call_deliver (WeftMsg *msg)
{
  WeftHttpCall *call = (WeftHttpCall *) ((char *) msg - G_STRUCT_OFFSET (WeftHttpCall, msg));
  g_autoptr(GByteArray) pieces = NULL;
  gboolean show_head = FALSE, ended;

  g_mutex_lock (&call->lock);
  call->posted = FALSE;
  pieces = g_steal_pointer (&call->pending);
  if (call->head == WEFT_HTTP_HEAD_READY)
    {
      call->head = WEFT_HTTP_HEAD_SHOWN;
      show_head = TRUE;
    }
  ended = call->ended;
  g_mutex_unlock (&call->lock);

  if (!g_atomic_int_get (&call->cancelled) && weft_http_call_show (call, show_head, pieces) && ended)
    {
      WeftHttpResponse *response = call->error == NULL ? g_steal_pointer (&call->response) : NULL;

      g_atomic_int_set (&call->cancelled, TRUE);  /* done: nothing more */
      call->done (response, call->error, call->user_data);
      weft_http_call_unref (call);                 /* the plugin's */
    }
  weft_http_call_unref (call);                     /* the message's */
}

WeftHttpCall *
weft_http_call_start (WeftHttpSink *sink, WeftHttpRequest *request, WeftHttpChunkFunc chunk,
                      WeftHttpDoneFunc done, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  WeftHttpCall *call = weft_http_call_new (request, &error);

  if (call == NULL)
    {
      /* Said on the loop like any other end. */
      call = g_new0 (WeftHttpCall, 1);
      weft_http_transfer_init (&call->transfer);
      call->transfer.destroy = weft_http_call_destroy;
      g_mutex_init (&call->lock);
      g_cond_init (&call->cond);
      call->ended = TRUE;
      call->error = g_steal_pointer (&error);
    }
  call->sink = sink;
  g_atomic_ref_count_inc (&sink->ref_count);
  call->chunk = chunk;
  call->done = done;
  call->user_data = user_data;
  call->msg.handle = weft_http_call_deliver;
  if (call->transfer.finished != NULL)
    weft_http_io_start (&call->transfer);
  else
    {
      g_mutex_lock (&call->lock);
      weft_http_call_post_locked (call);
      g_mutex_unlock (&call->lock);
    }
  return call;
}

void
weft_http_call_cancel (WeftHttpCall *call)
{
  g_return_if_fail (call != NULL && call->sink != NULL);
  g_return_if_fail (!g_atomic_int_get (&call->cancelled));

  g_atomic_int_set (&call->cancelled, TRUE);
  if (call->transfer.finished != NULL)
    weft_http_io_cancel (&call->transfer);
  weft_http_call_unref (call);                     /* the plugin's */
}

/* ---- a thread that waits ----------------------------------------------------------------- */

static void
weft_http_call_cancelled (GCancellable *cancellable, gpointer data)
{
  weft_http_io_cancel (data);
}

WeftHttpResponse *
weft_http_send (WeftHttpRequest *request, GCancellable *cancellable, GError **error)
{
  WeftHttpCall *call = weft_http_call_new (request, error);
  WeftHttpResponse *response = NULL;
  gulong handler = 0;

  if (call == NULL)
    return NULL;
  weft_http_io_start (&call->transfer);
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (weft_http_call_cancelled),
                                     call, NULL);
  g_mutex_lock (&call->lock);
  while (!call->ended)
    g_cond_wait (&call->cond, &call->lock);
  g_mutex_unlock (&call->lock);
  g_cancellable_disconnect (cancellable, handler);
  if (call->error != NULL)
    g_propagate_error (error, g_steal_pointer (&call->error));
  else
    response = g_steal_pointer (&call->response);
  weft_http_call_unref (call);
  return response;
}
