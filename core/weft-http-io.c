/* weft-http-io.c — the process's HTTP I/O thread: one epoll, libcurl's
 * multi_socket interface, and the connection limits per host.
 *
 * Why this shape: thousands of LLM requests wait at once, each for
 * hundreds of milliseconds, and what matters is the CPU each one costs.
 * A GSource per socket makes GLib's poll walk every source on every
 * iteration; libcurl's multi_socket interface instead says which sockets
 * to watch as they change, so one epoll set holds them all and a wakeup
 * costs only the sockets that are ready.  libcurl brings HTTP/1.1 with
 * keep-alive, HTTP/2 multiplexing over TLS (ALPN), TLS with certificate
 * checks, proxies from the environment, redirects and timeouts.
 *
 * One thread, started on first use and kept for the process: every
 * engine's requests share its connection pool.  Other threads hand it
 * commands (start, cancel) through a locked array and an eventfd, which
 * is written only when the array was empty (one wakeup per batch).  The
 * multi handle and everything below are the thread's alone.
 *
 * Per host (scheme, host and port: an "origin"):
 *  - the first request opens a connection alone; the others wait until it
 *    is connected (libcurl's PREREQFUNCTION), so that ten thousand
 *    requests to a new host cost one DNS lookup and, over TLS, find out
 *    from the first handshake whether HTTP/2 lets them share a connection;
 *  - at most `max_per_host` connections (libcurl queues what is beyond);
 *  - the first WEFT_HTTP_KEPT_PER_HOST requests in flight may leave their
 *    connection for the next; over cleartext HTTP/1.1, requests beyond
 *    them take a new connection and close it once answered: a burst of
 *    ten thousand must not leave ten thousand idle connections behind,
 *    and libcurl's connection cache walks its list of a host's
 *    connections when one is put back or looked for.
 */
#include "weft-http-private.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

/* Requests per host that keep their connection for the next. */
#define WEFT_HTTP_KEPT_PER_HOST 256
/* Connections kept in libcurl's cache, idle or not, before it closes the
 * oldest idle one. */
#define WEFT_HTTP_CACHE_SIZE 1024
/* Each transfer's receive buffer: libcurl allocates it per handle, and with
 * ten thousand handles at once its default 16 KiB was most of the memory;
 * a 10 MB answer read 4 KiB at a time costs 2,500 reads. */
#define WEFT_HTTP_BUFFER_SIZE 4096
/* An origin idle this long has its first request open a connection alone
 * again: its connections and DNS entry may be gone. */
#define WEFT_HTTP_ORIGIN_STALE_US (50 * G_USEC_PER_SEC)

typedef enum {
  WEFT_HTTP_TRANSFER_NEW,
  WEFT_HTTP_TRANSFER_HELD,
  WEFT_HTTP_TRANSFER_ACTIVE,
  WEFT_HTTP_TRANSFER_DONE,
} WeftHttpTransferState;

typedef enum {
  WEFT_HTTP_CMD_START,
  WEFT_HTTP_CMD_CANCEL,
  WEFT_HTTP_CMD_MAX_PER_HOST,
} WeftHttpCmdType;

typedef struct {
  WeftHttpCmdType type;
  WeftHttpTransfer *transfer;   /* a reference */
  guint value;
} WeftHttpCmd;

typedef enum {
  WEFT_HTTP_ORIGIN_NEW,         /* no connection yet: the next request probes */
  WEFT_HTTP_ORIGIN_PROBING,     /* one request connecting, the rest held */
  WEFT_HTTP_ORIGIN_OPEN,
} WeftHttpOriginState;

typedef struct {
  WeftHttpOriginState state;
  gboolean cleartext;
  GQueue held;                  /* WeftHttpTransfer*, until the probe connects */
  WeftHttpTransfer *probe;
  guint n_kept;                 /* transfers in flight that keep their connection */
  guint n_active;
  gint64 idle_since;
  gboolean release;             /* on the release list */
} WeftHttpOrigin;

typedef struct {
  CURLM *multi;
  int epfd;
  int wakefd;
  gint64 timeout_at;            /* monotonic µs of libcurl's timer, or -1 */
  GHashTable *origins;          /* char* → WeftHttpOrigin* */
  GPtrArray *release;           /* origins whose probe connected */

  GMutex lock;                  /* guards what follows */
  GArray *commands;             /* WeftHttpCmd */
  gboolean wake_pending;
} WeftHttpIo;

static WeftHttpIo *weft_http_io;

/* ---- transfers --------------------------------------------------------------- */

void
weft_http_transfer_init (WeftHttpTransfer *transfer)
{
  g_atomic_ref_count_init (&transfer->ref_count);
  transfer->state = WEFT_HTTP_TRANSFER_NEW;
}

WeftHttpTransfer *
weft_http_transfer_ref (WeftHttpTransfer *transfer)
{
  g_atomic_ref_count_inc (&transfer->ref_count);
  return transfer;
}

void
weft_http_transfer_unref (WeftHttpTransfer *transfer)
{
  if (g_atomic_ref_count_dec (&transfer->ref_count))
    transfer->destroy (transfer);
}

guint
weft_http_transfer_get_local_port (WeftHttpTransfer *transfer)
{
  return g_atomic_int_get (&transfer->local_port);
}

/* ---- libcurl's callbacks --------------------------------------------------- */

static int
weft_http_io_socket_cb (CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
  WeftHttpIo *io = data;
  struct epoll_event ev = { 0 };

  if (what == CURL_POLL_REMOVE)
    {
      /* The socket may be closed already: nothing to undo then. */
      epoll_ctl (io->epfd, EPOLL_CTL_DEL, fd, NULL);
      curl_multi_assign (io->multi, fd, NULL);
      return 0;
    }
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  ev.data.fd = fd;
  if (socketp == NULL)
    {
      if (epoll_ctl (io->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
        epoll_ctl (io->epfd, EPOLL_CTL_MOD, fd, &ev);
      curl_multi_assign (io->multi, fd, io);
    }
  else if (epoll_ctl (io->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
    epoll_ctl (io->epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static int
weft_http_io_timer_cb (CURLM *multi, long timeout_ms, void *data)
{
  WeftHttpIo *io = data;

  io->timeout_at = timeout_ms < 0 ? -1 : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  return 0;
}

/* A connection is up (or reused) and the request about to go: the
 * transfer's origin may let its held requests go. */
static int
weft_http_io_prereq_cb (void *data, char *primary_ip, char *local_ip, int primary_port,
                        int local_port)
{
  WeftHttpTransfer *transfer = data;
  WeftHttpOrigin *origin = transfer->origin_state;

  g_atomic_int_set (&transfer->local_port, (guint) local_port);
  if (origin->probe == transfer && !origin->release)
    {
      origin->release = TRUE;
      g_ptr_array_add (weft_http_io->release, origin);
    }
  return CURL_PREREQFUNC_OK;
}

/* ---- origins ----------------------------------------------------------------- */

static void
weft_http_origin_free (gpointer data)
{
  WeftHttpOrigin *origin = data;

  g_warn_if_fail (g_queue_is_empty (&origin->held));
  g_free (origin);
}

static WeftHttpOrigin *
weft_http_io_origin (WeftHttpIo *io, WeftHttpTransfer *transfer)
{
  WeftHttpOrigin *origin = g_hash_table_lookup (io->origins, transfer->origin);

  if (origin == NULL)
    {
      origin = g_new0 (WeftHttpOrigin, 1);
      g_queue_init (&origin->held);
      origin->cleartext = g_str_has_prefix (transfer->origin, "http://");
      g_hash_table_insert (io->origins, g_strdup (transfer->origin), origin);
    }
  if (origin->state == WEFT_HTTP_ORIGIN_OPEN && origin->n_active == 0
      && g_get_monotonic_time () - origin->idle_since > WEFT_HTTP_ORIGIN_STALE_US)
    origin->state = WEFT_HTTP_ORIGIN_NEW;
  return origin;
}

/* Into the multi handle.  Over cleartext, a transfer beyond the kept ones
 * takes a connection of its own and closes it when done. */
static void
weft_http_io_add (WeftHttpIo *io, WeftHttpTransfer *transfer)
{
  WeftHttpOrigin *origin = transfer->origin_state;

  transfer->state = WEFT_HTTP_TRANSFER_ACTIVE;
  transfer->kept = !origin->cleartext || origin->n_kept < WEFT_HTTP_KEPT_PER_HOST;
  origin->n_kept += transfer->kept;
  origin->n_active++;
  if (!transfer->kept)
    {
      /* The server may let go of it too. */
      transfer->headers = curl_slist_append (transfer->headers, "Connection: close");
      curl_easy_setopt (transfer->easy, CURLOPT_HTTPHEADER, transfer->headers);
      curl_easy_setopt (transfer->easy, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt (transfer->easy, CURLOPT_FORBID_REUSE, 1L);
    }
  curl_easy_setopt (transfer->easy, CURLOPT_PREREQFUNCTION, weft_http_io_prereq_cb);
  curl_easy_setopt (transfer->easy, CURLOPT_PREREQDATA, transfer);
  curl_multi_add_handle (io->multi, transfer->easy);
}

static void
weft_http_io_start_transfer (WeftHttpIo *io, WeftHttpTransfer *transfer)
{
  WeftHttpOrigin *origin = weft_http_io_origin (io, transfer);

  transfer->origin_state = origin;
  switch (origin->state)
    {
    case WEFT_HTTP_ORIGIN_NEW:
      origin->state = WEFT_HTTP_ORIGIN_PROBING;
      origin->probe = transfer;
      weft_http_io_add (io, transfer);
      break;
    case WEFT_HTTP_ORIGIN_PROBING:
      transfer->state = WEFT_HTTP_TRANSFER_HELD;
      transfer->link.data = transfer;
      g_queue_push_tail_link (&origin->held, &transfer->link);
      break;
    case WEFT_HTTP_ORIGIN_OPEN:
      weft_http_io_add (io, transfer);
      break;
    }
}

/* The probe connected, or ended without: whatever waited goes now. */
static void
weft_http_io_open_origin (WeftHttpIo *io, WeftHttpOrigin *origin)
{
  GList *link;

  origin->state = WEFT_HTTP_ORIGIN_OPEN;
  origin->probe = NULL;
  while ((link = g_queue_pop_head_link (&origin->held)) != NULL)
    {
      link->data = NULL;
      weft_http_io_add (io, (WeftHttpTransfer *) ((char *) link - G_STRUCT_OFFSET (WeftHttpTransfer, link)));
    }
}

static void
weft_http_io_release_origins (WeftHttpIo *io)
{
  for (guint i = 0; i < io->release->len; i++)
    {
      WeftHttpOrigin *origin = io->release->pdata[i];

      origin->release = FALSE;
      if (origin->state == WEFT_HTTP_ORIGIN_PROBING)
        weft_http_io_open_origin (io, origin);
    }
  g_ptr_array_set_size (io->release, 0);
}

/* ---- ends ---------------------------------------------------------------------- */

/* Out of the multi handle (or the origin's queue): tells the owner, then
 * drops the I/O thread's reference. */
static void
weft_http_io_finish (WeftHttpIo *io, WeftHttpTransfer *transfer, CURLcode result)
{
  WeftHttpOrigin *origin = transfer->origin_state;

  if (transfer->state == WEFT_HTTP_TRANSFER_ACTIVE)
    {
      curl_multi_remove_handle (io->multi, transfer->easy);
      origin->n_kept -= transfer->kept;
      if (--origin->n_active == 0)
        origin->idle_since = g_get_monotonic_time ();
      if (origin->probe == transfer)
        weft_http_io_open_origin (io, origin);
    }
  else if (transfer->state == WEFT_HTTP_TRANSFER_HELD)
    {
      g_queue_unlink (&origin->held, &transfer->link);
      transfer->link.data = NULL;
    }
  transfer->state = WEFT_HTTP_TRANSFER_DONE;
  transfer->finished (transfer, result);
  weft_http_transfer_unref (transfer);
}

static void
weft_http_io_read_done (WeftHttpIo *io)
{
  CURLMsg *msg;
  int left;

  while ((msg = curl_multi_info_read (io->multi, &left)) != NULL)
    {
      WeftHttpTransfer *transfer = NULL;

      if (msg->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &transfer);
      weft_http_io_finish (io, transfer, msg->data.result);
    }
}

/* ---- commands ------------------------------------------------------------------ */

static void
weft_http_io_post (WeftHttpCmd cmd)
{
  WeftHttpIo *io = weft_http_io;
  gboolean wake;

  g_mutex_lock (&io->lock);
  g_array_append_val (io->commands, cmd);
  wake = !io->wake_pending;
  io->wake_pending = TRUE;
  g_mutex_unlock (&io->lock);
  if (wake)
    {
      guint64 one = 1;
      while (write (io->wakefd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    }
}

static void
weft_http_io_run_command (WeftHttpIo *io, WeftHttpCmd *cmd)
{
  switch (cmd->type)
    {
    case WEFT_HTTP_CMD_START:
      weft_http_io_start_transfer (io, cmd->transfer);
      return;                   /* the reference is the thread's now */
    case WEFT_HTTP_CMD_CANCEL:
      if (cmd->transfer->state != WEFT_HTTP_TRANSFER_DONE)
        weft_http_io_finish (io, cmd->transfer, CURLE_ABORTED_BY_CALLBACK);
      weft_http_transfer_unref (cmd->transfer);
      return;
    case WEFT_HTTP_CMD_MAX_PER_HOST:
      curl_multi_setopt (io->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) cmd->value);
      return;
    }
}

static void
weft_http_io_drain (WeftHttpIo *io, GArray **spare)
{
  GArray *batch;
  guint64 count;

  while (read (io->wakefd, &count, sizeof count) < 0 && errno == EINTR)
    ;
  g_mutex_lock (&io->lock);
  batch = io->commands;
  io->commands = *spare;
  io->wake_pending = FALSE;
  g_mutex_unlock (&io->lock);
  for (guint i = 0; i < batch->len; i++)
    weft_http_io_run_command (io, &g_array_index (batch, WeftHttpCmd, i));
  g_array_set_size (batch, 0);
  *spare = batch;
}

/* ---- the thread ------------------------------------------------------------------ */

static int
weft_http_io_wait_ms (WeftHttpIo *io)
{
  gint64 left;

  if (io->timeout_at < 0)
    return -1;
  left = io->timeout_at - g_get_monotonic_time ();
  return left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
}

static void
weft_http_io_socket_ready (WeftHttpIo *io, const struct epoll_event *ev)
{
  int flags = 0, running;

  if (ev->events & EPOLLIN)
    flags |= CURL_CSELECT_IN;
  if (ev->events & EPOLLOUT)
    flags |= CURL_CSELECT_OUT;
  if (ev->events & (EPOLLERR | EPOLLHUP))
    flags |= CURL_CSELECT_ERR;
  curl_multi_socket_action (io->multi, ev->data.fd, flags, &running);
}

static gpointer
weft_http_io_thread (gpointer data)
{
  WeftHttpIo *io = data;
  struct epoll_event events[256];
  GArray *spare = g_array_new (FALSE, FALSE, sizeof (WeftHttpCmd));

  for (;;)
    {
      int n = epoll_wait (io->epfd, events, G_N_ELEMENTS (events), weft_http_io_wait_ms (io));

      if (n < 0 && errno != EINTR)
        g_error ("weft http: epoll_wait: %s", g_strerror (errno));
      for (int i = 0; i < n; i++)
        {
          if (events[i].data.fd == io->wakefd)
            weft_http_io_drain (io, &spare);
          else
            weft_http_io_socket_ready (io, &events[i]);
        }
      if (io->timeout_at >= 0 && io->timeout_at <= g_get_monotonic_time ())
        {
          int running;

          io->timeout_at = -1;
          curl_multi_socket_action (io->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
      weft_http_io_release_origins (io);
      weft_http_io_read_done (io);
      weft_http_io_release_origins (io);
    }
  return NULL;
}

/* As many connections to one host as 3/4 of the open-file limit allows:
 * more would fail on the file limit instead of waiting their turn. */
static long
weft_http_io_default_max_per_host (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return 0;
  return (long) MAX (16, limit.rlim_cur / 4 * 3);
}

static gpointer
weft_http_io_new (gpointer unused)
{
  WeftHttpIo *io = g_new0 (WeftHttpIo, 1);
  struct epoll_event ev = { .events = EPOLLIN };
  CURLcode code = curl_global_init (CURL_GLOBAL_DEFAULT);

  if (code != CURLE_OK)
    g_error ("weft http: curl_global_init: %s", curl_easy_strerror (code));
  io->epfd = epoll_create1 (EPOLL_CLOEXEC);
  io->wakefd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (io->epfd < 0 || io->wakefd < 0)
    g_error ("weft http: epoll or eventfd: %s", g_strerror (errno));
  ev.data.fd = io->wakefd;
  epoll_ctl (io->epfd, EPOLL_CTL_ADD, io->wakefd, &ev);
  io->timeout_at = -1;
  io->origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weft_http_origin_free);
  io->release = g_ptr_array_new ();
  io->commands = g_array_new (FALSE, FALSE, sizeof (WeftHttpCmd));
  g_mutex_init (&io->lock);
  io->multi = curl_multi_init ();
  curl_multi_setopt (io->multi, CURLMOPT_SOCKETFUNCTION, weft_http_io_socket_cb);
  curl_multi_setopt (io->multi, CURLMOPT_SOCKETDATA, io);
  curl_multi_setopt (io->multi, CURLMOPT_TIMERFUNCTION, weft_http_io_timer_cb);
  curl_multi_setopt (io->multi, CURLMOPT_TIMERDATA, io);
  curl_multi_setopt (io->multi, CURLMOPT_MAXCONNECTS, (long) WEFT_HTTP_CACHE_SIZE);
  curl_multi_setopt (io->multi, CURLMOPT_MAX_HOST_CONNECTIONS, weft_http_io_default_max_per_host ());
  curl_multi_setopt (io->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
  weft_http_io = io;
  /* Kept for the process: every engine shares its connections. */
  g_thread_unref (g_thread_new ("weft-http", weft_http_io_thread, io));
  return io;
}

static void
weft_http_io_ensure (void)
{
  static GOnce once = G_ONCE_INIT;

  g_once (&once, weft_http_io_new, NULL);
}

/* ---- what the other files call ------------------------------------------------------ */

/* What every transfer's handle has: set once, on the caller's thread. */
static void
weft_http_io_prepare (WeftHttpTransfer *transfer)
{
  curl_easy_setopt (transfer->easy, CURLOPT_PRIVATE, transfer);
  curl_easy_setopt (transfer->easy, CURLOPT_BUFFERSIZE, (long) WEFT_HTTP_BUFFER_SIZE);
  curl_easy_setopt (transfer->easy, CURLOPT_NOSIGNAL, 1L);
}

void
weft_http_io_start (WeftHttpTransfer *transfer)
{
  weft_http_io_ensure ();
  weft_http_io_prepare (transfer);
  weft_http_io_post ((WeftHttpCmd) { WEFT_HTTP_CMD_START, weft_http_transfer_ref (transfer), 0 });
}

void
weft_http_io_cancel (WeftHttpTransfer *transfer)
{
  weft_http_io_post ((WeftHttpCmd) { WEFT_HTTP_CMD_CANCEL, weft_http_transfer_ref (transfer), 0 });
}

void
weft_http_set_max_connections_per_host (guint n)
{
  weft_http_io_ensure ();
  weft_http_io_post ((WeftHttpCmd) { WEFT_HTTP_CMD_MAX_PER_HOST, NULL,
                                     n > 0 ? n : (guint) weft_http_io_default_max_per_host () });
}
