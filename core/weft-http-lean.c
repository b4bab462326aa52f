/* weft-http-lean.c — the lean transport: cleartext HTTP/1.1 over
 * non-blocking sockets, on the I/O thread's epoll beside libcurl's.
 *
 * Why: at thousands of LLM calls in flight, libcurl cost ~100 µs of CPU a
 * call and ~8 KiB (its per-transfer state machine, its 4.8 KiB handle and
 * buffers, a handle made per call).  A request that needs nothing libcurl
 * alone does (weft-http-route.c: http://, an IP literal, no proxy, no
 * redirects) goes here instead: its head made once by the caller
 * (weft-http-wire.c), written with its body in one sendmsg, the answer
 * parsed where it was read.
 *
 * Connections.  Each is registered once, edge-triggered, for input,
 * output and the peer's close: no epoll_ctl per request, and a read loop
 * that stops at a short read (the socket is drained; the next byte makes
 * a new edge), or, once the peer closed, at the end.  An origin's idle
 * connections wait in its pool (io's origin holds it), most recent first:
 * the one most likely alive, its buffers warm.  An idle connection that
 * becomes readable was closed by the server (or sent what nobody asked
 * for): it is closed.  A request sent over an idle connection that turns
 * out dead (an error or the end before a byte of the answer) is sent
 * again once, over a new one.  A connection closed during a batch of
 * events is kept until the batch ends (an event for it may still follow)
 * and then reused for the next.
 *
 * Memory: a connection is ~300 bytes, the answer's head and body go to the
 * call's response as they are read from one buffer of the thread's; only
 * a head line cut by the end of a read is kept aside (in the connection,
 * grown as needed).  Timeouts: one heap of the transfers' deadlines.
 *
 * Ends go to io through the function it handed down (weft_http_lean_init);
 * an end found while io is starting a transfer (a socket that cannot be
 * made) waits for the end of the batch, so that io never re-enters
 * itself. */
#include "weft-http-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

/* The thread's read buffer: one answer of a chat completion in a read. */
#define WEFT_HTTP_LEAN_READ_SIZE (64 * 1024)
/* Closed connections kept for reuse. */
#define WEFT_HTTP_LEAN_SPARE_MAX 4096
/* An idle connection older than this is not used again (libcurl's
 * default, CURLOPT_MAXAGE_CONN): a middlebox may have forgotten it. */
#define WEFT_HTTP_LEAN_IDLE_MAX_US (118 * G_USEC_PER_SEC)

typedef enum {
  WEFT_HTTP_CONN_WRITING,       /* connecting, or the request going out */
  WEFT_HTTP_CONN_READING,
  WEFT_HTTP_CONN_IDLE,          /* in its pool */
  WEFT_HTTP_CONN_CLOSED,        /* until the batch ends */
} WeftHttpConnState;

typedef struct {
  WeftHttpPollKind kind;        /* first: what epoll's pointer is */
  int fd;
  WeftHttpConnState state;
  gboolean reused;              /* came from the pool */
  gboolean close_after;         /* it said "Connection: close" */
  gboolean sent_any;            /* a byte went out: it connected */
  gboolean peer_closed;         /* the server closed its side */
  WeftHttpLeanPool *pool;
  guint keep_max;
  WeftHttpTransfer *transfer;   /* NULL when idle */
  GList link;                   /* in its pool, while idle */
  gint64 idle_since;
  gsize written;
  WeftHttpWire wire;
  guint8 *stash;                /* a head line cut by a read's end */
  gsize stash_len;
  gsize stash_size;
} WeftHttpConn;

typedef struct {
  int epfd;
  WeftHttpLeanFinish finish;
  GPtrArray *timers;            /* WeftHttpTransfer*, a heap by deadline */
  GPtrArray *failed;            /* WeftHttpTransfer*, ended while starting */
  GPtrArray *closed;            /* WeftHttpConn*, closed in this batch */
  GPtrArray *spare;             /* WeftHttpConn*, to reuse */
  guint8 *buffer;
  gsize buffer_size;
} WeftHttpLean;

static WeftHttpLean lean;

/* The head's last line: the blank one, after "Connection: close" or not. */
static const char weft_http_lean_close_tail[] = "Connection: close\r\n\r\n";
static const char weft_http_lean_keep_tail[] = "\r\n";

/* ---- the deadlines' heap ------------------------------------------------------------ */

static void
weft_http_lean_timer_set (guint i, WeftHttpTransfer *transfer)
{
  lean.timers->pdata[i] = transfer;
  transfer->timer_index = i;
}

static void
weft_http_lean_timer_up (guint i)
{
  WeftHttpTransfer *transfer = lean.timers->pdata[i];

  while (i > 0)
    {
      WeftHttpTransfer *parent = lean.timers->pdata[(i - 1) / 2];
      if (parent->deadline <= transfer->deadline)
        break;
      weft_http_lean_timer_set (i, parent);
      i = (i - 1) / 2;
    }
  weft_http_lean_timer_set (i, transfer);
}

static void
weft_http_lean_timer_down (guint i)
{
  WeftHttpTransfer *transfer = lean.timers->pdata[i];
  guint n = lean.timers->len;

  for (;;)
    {
      guint child = 2 * i + 1;
      WeftHttpTransfer *next;

      if (child >= n)
        break;
      if (child + 1 < n && ((WeftHttpTransfer *) lean.timers->pdata[child + 1])->deadline
                           < ((WeftHttpTransfer *) lean.timers->pdata[child])->deadline)
        child++;
      next = lean.timers->pdata[child];
      if (next->deadline >= transfer->deadline)
        break;
      weft_http_lean_timer_set (i, next);
      i = child;
    }
  weft_http_lean_timer_set (i, transfer);
}

static void
weft_http_lean_timer_add (WeftHttpTransfer *transfer)
{
  g_ptr_array_add (lean.timers, transfer);
  weft_http_lean_timer_up (lean.timers->len - 1);
}

static void
weft_http_lean_timer_remove (WeftHttpTransfer *transfer)
{
  guint i = transfer->timer_index;
  WeftHttpTransfer *last;

  if (i == G_MAXUINT)
    return;
  transfer->timer_index = G_MAXUINT;
  last = g_ptr_array_steal_index_fast (lean.timers, lean.timers->len - 1);
  if (last == transfer)
    return;
  weft_http_lean_timer_set (i, last);
  weft_http_lean_timer_up (i);
  weft_http_lean_timer_down (last->timer_index);
}

/* ---- connections -------------------------------------------------------------------- */

static void
weft_http_lean_conn_close (WeftHttpConn *conn)
{
  if (conn->state == WEFT_HTTP_CONN_CLOSED)
    return;
  if (conn->state == WEFT_HTTP_CONN_IDLE)
    g_queue_unlink (&conn->pool->idle, &conn->link);
  /* Its epoll registration goes with the descriptor. */
  close (conn->fd);
  conn->fd = -1;
  conn->state = WEFT_HTTP_CONN_CLOSED;
  if (conn->transfer != NULL)
    conn->transfer->conn = NULL;
  conn->transfer = NULL;
  g_clear_pointer (&conn->stash, g_free);
  conn->stash_len = conn->stash_size = 0;
  g_ptr_array_add (lean.closed, conn);
}

/* A new connection to the transfer's address, connecting; NULL with
 * errno set when the socket cannot be made. */
static WeftHttpConn *
weft_http_lean_conn_open (WeftHttpTransfer *transfer, WeftHttpLeanPool *pool)
{
  WeftHttpConn *conn;
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
  int one = 1;
  int fd = socket (transfer->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return NULL;
  /* As libcurl: the request goes out at once, not after an ACK. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, &transfer->addr.sa, transfer->addr.len) != 0 && errno != EINPROGRESS)
    {
      int saved = errno;
      close (fd);
      errno = saved;
      return NULL;
    }
  conn = lean.spare->len > 0 ? g_ptr_array_steal_index_fast (lean.spare, lean.spare->len - 1)
                             : g_new (WeftHttpConn, 1);
  *conn = (WeftHttpConn) { .kind = WEFT_HTTP_POLL_LEAN, .fd = fd, .pool = pool };
  ev.data.ptr = conn;
  if (epoll_ctl (lean.epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    {
      int saved = errno;
      weft_http_lean_conn_close (conn);
      errno = saved;
      return NULL;
    }
  return conn;
}

static void
weft_http_lean_attach (WeftHttpConn *conn, WeftHttpTransfer *transfer)
{
  conn->transfer = transfer;
  conn->written = 0;
  conn->state = WEFT_HTTP_CONN_WRITING;
  transfer->conn = conn;
  weft_http_wire_init (&conn->wire, transfer->response, transfer->head_request,
                       transfer->write, transfer->write_data);
}

/* ---- ends ------------------------------------------------------------------------------ */

/* The transfer ends: its connection closed (unless `keep`, which returns it
 * to its pool, room allowed), io told. */
static void
weft_http_lean_end (WeftHttpConn *conn, gboolean keep, CURLcode result, const char *why)
{
  WeftHttpTransfer *transfer = conn->transfer;

  if (why != NULL)
    g_strlcpy (transfer->errbuf, why, CURL_ERROR_SIZE);
  transfer->conn = NULL;
  conn->transfer = NULL;
  weft_http_lean_timer_remove (transfer);
  if (keep && g_queue_get_length (&conn->pool->idle) < conn->keep_max)
    {
      conn->state = WEFT_HTTP_CONN_IDLE;
      conn->reused = FALSE;
      conn->idle_since = g_get_monotonic_time ();
      conn->link.data = conn;
      g_queue_push_head_link (&conn->pool->idle, &conn->link);
    }
  else
    weft_http_lean_conn_close (conn);
  lean.finish (transfer, result);
}

/* An end found while io starts the transfer: said after the batch. */
static void
weft_http_lean_fail_later (WeftHttpTransfer *transfer, CURLcode result, const char *why)
{
  g_snprintf (transfer->errbuf, CURL_ERROR_SIZE, "%s", why);
  transfer->failed_with = result;
  weft_http_lean_timer_remove (transfer);
  g_ptr_array_add (lean.failed, transfer);
}

/* In libcurl's words' stead: the place, and the system's reason. */
static char *
weft_http_lean_connect_error (WeftHttpTransfer *transfer, int err)
{
  return g_strdup_printf ("could not connect to %s: %s", transfer->origin + strlen ("http://"),
                          g_strerror (err));
}

static void
weft_http_lean_connect_failed (WeftHttpTransfer *transfer, int err)
{
  g_autofree char *why = weft_http_lean_connect_error (transfer, err);

  weft_http_lean_fail_later (transfer, CURLE_COULDNT_CONNECT, why);
}

static void weft_http_lean_send (WeftHttpConn *conn);

/* Over a new connection, sent once its connect ends (its first output
 * edge). */
static void
weft_http_lean_start_fresh (WeftHttpTransfer *transfer, WeftHttpLeanPool *pool, gboolean keep,
                            guint keep_max)
{
  WeftHttpConn *conn = weft_http_lean_conn_open (transfer, pool);

  if (conn == NULL)
    {
      weft_http_lean_connect_failed (transfer, errno);
      return;
    }
  conn->close_after = !keep;
  conn->keep_max = keep_max;
  weft_http_lean_attach (conn, transfer);
}

/* An idle connection turned out dead before a byte of the answer: the
 * request goes again, once, over a new one. */
static gboolean
weft_http_lean_retry (WeftHttpConn *conn)
{
  WeftHttpTransfer *transfer = conn->transfer;
  WeftHttpLeanPool *pool = conn->pool;
  guint keep_max = conn->keep_max;
  gboolean keep = !conn->close_after;

  if (!conn->reused || conn->wire.started || transfer->retried)
    return FALSE;
  transfer->retried = TRUE;
  weft_http_lean_conn_close (conn);
  weft_http_lean_start_fresh (transfer, pool, keep, keep_max);
  return TRUE;
}

/* A send or a receive failed (`result` says which, `doing` in words). */
static void
weft_http_lean_io_failed (WeftHttpConn *conn, int err, CURLcode result, const char *doing)
{
  g_autofree char *why = NULL;

  if (weft_http_lean_retry (conn))
    return;
  if (!conn->sent_any && !conn->reused)
    {
      why = weft_http_lean_connect_error (conn->transfer, err);
      weft_http_lean_end (conn, FALSE, CURLE_COULDNT_CONNECT, why);
      return;
    }
  why = g_strdup_printf ("%s failed: %s", doing, g_strerror (err));
  weft_http_lean_end (conn, FALSE, result, why);
}

/* ---- writing ----------------------------------------------------------------------------- */

/* The head, its last line, the body: from where the last write stopped. */
static void
weft_http_lean_send (WeftHttpConn *conn)
{
  WeftHttpTransfer *transfer = conn->transfer;

  for (;;)
    {
      struct iovec iov[3];
      struct msghdr msg = { .msg_iov = iov };
      gsize skip = conn->written, total = 0;
      ssize_t n;

      iov[0].iov_base = (void *) g_bytes_get_data (transfer->head, &iov[0].iov_len);
      iov[1].iov_base = (void *) (conn->close_after ? weft_http_lean_close_tail
                                                    : weft_http_lean_keep_tail);
      iov[1].iov_len = conn->close_after ? sizeof weft_http_lean_close_tail - 1
                                         : sizeof weft_http_lean_keep_tail - 1;
      iov[2].iov_len = 0;
      iov[2].iov_base = NULL;
      if (transfer->body != NULL)
        iov[2].iov_base = (void *) g_bytes_get_data (transfer->body, &iov[2].iov_len);
      for (guint i = 0; i < 3; i++)
        {
          gsize k = MIN (skip, iov[i].iov_len);

          skip -= k;
          iov[i].iov_base = (char *) iov[i].iov_base + k;
          iov[i].iov_len -= k;
          total += iov[i].iov_len;
          if (iov[i].iov_len > 0)
            iov[msg.msg_iovlen++] = iov[i];
        }
      if (total == 0)
        {
          conn->state = WEFT_HTTP_CONN_READING;
          return;
        }
      n = sendmsg (conn->fd, &msg, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN))
        return;                 /* its next output edge */
      if (n < 0)
        {
          weft_http_lean_io_failed (conn, errno, CURLE_SEND_ERROR, "sending the request");
          return;
        }
      conn->sent_any = TRUE;
      conn->written += (gsize) n;
    }
}

/* ---- reading ----------------------------------------------------------------------------- */

static void
weft_http_lean_stash (WeftHttpConn *conn, const guint8 *data, gsize n)
{
  if (n > conn->stash_size)
    {
      conn->stash_size = MAX (n, 256);
      conn->stash = g_realloc (conn->stash, conn->stash_size);
    }
  if (n > 0)                    /* an empty stash may have no buffer yet */
    memmove (conn->stash, data, n);
  conn->stash_len = n;
}

/* What was read: FALSE when the transfer ended (the connection is not to
 * be touched again by this read). */
static gboolean
weft_http_lean_take (WeftHttpConn *conn, const guint8 *data, gsize n)
{
  g_autoptr(GError) error = NULL;
  gsize used = 0;

  if (conn->transfer == NULL)
    {
      weft_http_lean_conn_close (conn);
      return FALSE;
    }
  switch (weft_http_wire_feed (&conn->wire, data, n, &used, &error))
    {
    case WEFT_HTTP_WIRE_MORE:
      weft_http_lean_stash (conn, data + used, n - used);
      return TRUE;
    case WEFT_HTTP_WIRE_DONE:
      /* Bytes after the answer, or a request not all sent: the
       * connection cannot carry another. */
      weft_http_lean_end (conn, used == n && conn->state == WEFT_HTTP_CONN_READING
                                && !conn->close_after && !conn->wire.close_after
                                && !conn->peer_closed,
                          CURLE_OK, NULL);
      return FALSE;
    case WEFT_HTTP_WIRE_STOPPED:
      /* The body's limit: the answer is kept, cut, as libcurl's write
       * error is read (weft-http-call.c). */
      weft_http_lean_end (conn, FALSE, CURLE_WRITE_ERROR, NULL);
      return FALSE;
    case WEFT_HTTP_WIRE_FAILED:
    default:
      weft_http_lean_end (conn, FALSE, CURLE_RECV_ERROR, error->message);
      return FALSE;
    }
}

static void
weft_http_lean_eof (WeftHttpConn *conn)
{
  g_autoptr(GError) error = NULL;

  if (conn->transfer == NULL)
    weft_http_lean_conn_close (conn);
  else if (weft_http_lean_retry (conn))
    return;
  else if (weft_http_wire_end (&conn->wire, &error))
    weft_http_lean_end (conn, FALSE, CURLE_OK, NULL);
  else
    weft_http_lean_end (conn, FALSE, conn->wire.started ? CURLE_PARTIAL_FILE : CURLE_GOT_NOTHING,
                        error->message);
}

/* Until the socket is drained: a short read, or its end once the peer
 * closed (no other edge would come for it). */
static void
weft_http_lean_read (WeftHttpConn *conn, gboolean peer_closed)
{
  for (;;)
    {
      gsize kept = conn->stash_len, room;
      ssize_t n;

      if (lean.buffer_size < kept + WEFT_HTTP_LEAN_READ_SIZE)
        {
          lean.buffer_size = kept + WEFT_HTTP_LEAN_READ_SIZE;
          lean.buffer = g_realloc (lean.buffer, lean.buffer_size);
        }
      room = lean.buffer_size - kept;
      n = recv (conn->fd, lean.buffer + kept, room, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (n < 0)
        {
          weft_http_lean_io_failed (conn, errno, CURLE_RECV_ERROR, "reading the answer");
          return;
        }
      if (n == 0)
        {
          weft_http_lean_eof (conn);
          return;
        }
      if (kept > 0)
        memcpy (lean.buffer, conn->stash, kept);
      conn->stash_len = 0;
      if (!weft_http_lean_take (conn, lean.buffer, kept + (gsize) n))
        return;
      if ((gsize) n < room && !peer_closed)
        return;
    }
}

/* ---- what io calls ------------------------------------------------------------------------ */

void
weft_http_lean_ready (gpointer ptr, guint32 events)
{
  WeftHttpConn *conn = ptr;
  gboolean input = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;

  if (conn->state == WEFT_HTTP_CONN_CLOSED)
    return;
  if (conn->state == WEFT_HTTP_CONN_IDLE)
    {
      /* Closed by the server, or it sent what nobody asked for. */
      if (input)
        weft_http_lean_conn_close (conn);
      return;
    }
  if (conn->state == WEFT_HTTP_CONN_WRITING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
    weft_http_lean_send (conn);
  if (input && (conn->state == WEFT_HTTP_CONN_READING || conn->state == WEFT_HTTP_CONN_WRITING))
    {
      /* No other edge comes for the close: read to its end, and do not
       * keep the connection. */
      conn->peer_closed = (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
      weft_http_lean_read (conn, conn->peer_closed);
    }
}

/* The pool's most recent idle connection, unless it is too old: then the
 * others are older still, and all go. */
static WeftHttpConn *
weft_http_lean_take_idle (WeftHttpLeanPool *pool)
{
  WeftHttpConn *conn = g_queue_peek_head (&pool->idle);

  if (conn == NULL)
    return NULL;
  if (g_get_monotonic_time () - conn->idle_since > WEFT_HTTP_LEAN_IDLE_MAX_US)
    {
      while ((conn = g_queue_peek_head (&pool->idle)) != NULL)
        weft_http_lean_conn_close (conn);
      return NULL;
    }
  g_queue_unlink (&pool->idle, &conn->link);
  return conn;
}

void
weft_http_lean_start (WeftHttpTransfer *transfer, WeftHttpLeanPool *pool, gboolean keep,
                      guint keep_max)
{
  WeftHttpConn *conn;

  transfer->timer_index = G_MAXUINT;
  if (transfer->timeout_ms > 0)
    {
      transfer->deadline = g_get_monotonic_time () + (gint64) transfer->timeout_ms * 1000;
      weft_http_lean_timer_add (transfer);
    }
  if (keep && (conn = weft_http_lean_take_idle (pool)) != NULL)
    {
      conn->reused = TRUE;
      conn->keep_max = keep_max;
      weft_http_lean_attach (conn, transfer);
      weft_http_lean_send (conn);
      return;
    }
  weft_http_lean_start_fresh (transfer, pool, keep, keep_max);
}

void
weft_http_lean_stop (WeftHttpTransfer *transfer)
{
  weft_http_lean_timer_remove (transfer);
  if (transfer->conn != NULL)
    weft_http_lean_conn_close (transfer->conn);
  g_ptr_array_remove_fast (lean.failed, transfer);
}

void
weft_http_lean_sweep (void)
{
  while (lean.failed->len > 0)
    {
      WeftHttpTransfer *transfer = g_ptr_array_steal_index_fast (lean.failed, 0);
      lean.finish (transfer, transfer->failed_with);
    }
  for (guint i = 0; i < lean.closed->len; i++)
    {
      if (lean.spare->len < WEFT_HTTP_LEAN_SPARE_MAX)
        g_ptr_array_add (lean.spare, lean.closed->pdata[i]);
      else
        g_free (lean.closed->pdata[i]);
    }
  g_ptr_array_set_size (lean.closed, 0);
}

gint64
weft_http_lean_next_deadline (void)
{
  if (lean.failed->len > 0)
    return 0;
  if (lean.timers->len == 0)
    return -1;
  return ((WeftHttpTransfer *) lean.timers->pdata[0])->deadline;
}

void
weft_http_lean_expire (gint64 now)
{
  while (lean.timers->len > 0)
    {
      WeftHttpTransfer *transfer = lean.timers->pdata[0];

      if (transfer->deadline > now)
        return;
      weft_http_lean_timer_remove (transfer);
      if (transfer->conn != NULL)
        weft_http_lean_end (transfer->conn, FALSE, CURLE_OPERATION_TIMEDOUT, NULL);
    }
}

void
weft_http_lean_init (int epfd, WeftHttpLeanFinish finish)
{
  lean.epfd = epfd;
  lean.finish = finish;
  lean.timers = g_ptr_array_new ();
  lean.failed = g_ptr_array_new ();
  lean.closed = g_ptr_array_new ();
  lean.spare = g_ptr_array_new ();
}
