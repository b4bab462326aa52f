/* weft-http-io.c — the process's HTTP I/O thread: one epoll, libcurl's
 * multi_socket interface, the lean transport's sockets beside libcurl's
 * (weft-http-lean.c: an event's pointer says whose, by its first field),
 * and the connection limits per host, which count both.
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
 * engine's requests share its connections.  Other threads hand it
 * commands (start, cancel) through a locked array and an eventfd, which
 * is written only when the array was empty (one wakeup per batch).  What
 * follows is the thread's alone.
 *
 * Shards.  libcurl 7.88 keeps a host's connections in one linked list per
 * multi handle, which it walks to find an idle connection for each new
 * request and to take one out when it closes: with ten thousand
 * connections to one host that is quadratic, most of the CPU of a burst.
 * So transfers are spread over multi handles ("shards") of at most
 * WEFT_HTTP_SHARD_SIZE each, always into the first shard with room, so
 * that a second burst lands where the first left its idle connections and
 * reuses them.  All shards share one DNS cache and TLS session cache (a
 * share handle), and one epoll set.  A shard beyond the first left empty
 * for WEFT_HTTP_SHARD_LINGER_US is closed with its idle connections: a
 * burst of ten thousand does not keep ten thousand sockets forever.
 *
 * Per host (scheme, host and port: an "origin"):
 *  - over libcurl, the first request opens a connection alone (the lean
 *    transport looks nothing up and goes at once); the others wait until it
 *    is connected (libcurl's PREREQFUNCTION), so that ten thousand
 *    requests to a new host cost one DNS lookup and, over TLS, find out
 *    from the first handshake whether HTTP/2 lets them share a connection;
 *  - at most `max_per_host` requests at once (over HTTP/1.1, connections);
 *    the others wait here, in order;
 *  - over cleartext HTTP/1.1, the first `keep_per_host` requests in flight
 *    (256) may leave their connection for the next; those beyond take a
 *    new one and ask for it to be closed once answered ("Connection:
 *    close"): a burst of ten thousand must not leave ten thousand idle
 *    connections behind.  An embedder that bursts again and again raises
 *    it (weft_http_set_keep_alive_per_host).
 */
#include "weft-http-private.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

/* Transfers per multi handle: what one of libcurl's list walks costs. */
#define WEFT_HTTP_SHARD_SIZE 256
/* Requests per host whose connections are kept by default. */
#define WEFT_HTTP_KEEP_PER_HOST 256
/* An empty shard (but the first) is closed after this long. */
#define WEFT_HTTP_SHARD_LINGER_US (10 * G_USEC_PER_SEC)
/* Each transfer's receive buffer: libcurl allocates it per handle, and with
 * ten thousand handles at once its default 16 KiB was most of the memory
 * (at 10,000 in flight: 4 KiB, 190 MiB peak; 1 KiB, 143 MiB, the same CPU).
 * A chat completion is a few hundred bytes, an event of a stream less; a
 * 10 MB page read 1 KiB at a time costs 10,000 reads, about 10 ms. */
#define WEFT_HTTP_BUFFER_SIZE 1024
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
  WEFT_HTTP_CMD_KEEP_PER_HOST,
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
  WeftHttpLeanPool pool;        /* the lean transport's idle connections */
  GQueue held;                  /* WeftHttpTransfer*, waiting their turn */
  WeftHttpTransfer *probe;
  gboolean cleartext;
  guint n_active;
  guint n_kept;                 /* active ones that keep their connection */
  gint64 idle_since;
  gboolean release;             /* on the release list */
} WeftHttpOrigin;

typedef struct _WeftHttpIo WeftHttpIo;

typedef struct {
  WeftHttpIo *io;
  CURLM *multi;
  guint index;
  guint n_active;
  gint64 timeout_at;            /* monotonic µs of its libcurl timer, or -1 */
  gint64 emptied_at;
} WeftHttpShard;

/* A socket libcurl asked to watch: what epoll hands back. */
typedef struct {
  WeftHttpPollKind kind;        /* first: WEFT_HTTP_POLL_CURL */
  WeftHttpShard *shard;
  curl_socket_t fd;
  gboolean removed;             /* libcurl let go of it: freed after this batch */
} WeftHttpSocket;

struct _WeftHttpIo {
  int epfd;
  int wakefd;
  CURLSH *share;
  GPtrArray *shards;            /* WeftHttpShard*, NULL where one was closed */
  guint lowest_open;            /* no shard below it has room */
  GHashTable *origins;          /* char* → WeftHttpOrigin* */
  GPtrArray *release;           /* origins whose probe connected */
  GPtrArray *removed;           /* WeftHttpSocket* let go in this batch of events */
  guint max_per_host;
  guint keep_per_host;
  gint64 next_trim;             /* when to look for empty shards, or -1 */

  GMutex lock;                  /* guards what follows */
  GArray *commands;             /* WeftHttpCmd */
  gboolean wake_pending;
};

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

/* ---- libcurl's callbacks --------------------------------------------------- */

static int
weft_http_io_socket_cb (CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
  WeftHttpShard *shard = data;
  WeftHttpSocket *sock = socketp;
  struct epoll_event ev = { 0 };

  if (what == CURL_POLL_REMOVE)
    {
      /* The socket may be closed already: nothing to undo then. */
      epoll_ctl (shard->io->epfd, EPOLL_CTL_DEL, fd, NULL);
      curl_multi_assign (shard->multi, fd, NULL);
      /* An event for it may still wait further in this batch. */
      if (sock != NULL)
        {
          sock->removed = TRUE;
          g_ptr_array_add (shard->io->removed, sock);
        }
      return 0;
    }
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  if (sock == NULL)
    {
      sock = g_new0 (WeftHttpSocket, 1);
      sock->kind = WEFT_HTTP_POLL_CURL;
      sock->shard = shard;
      sock->fd = fd;
      curl_multi_assign (shard->multi, fd, sock);
      ev.data.ptr = sock;
      if (epoll_ctl (shard->io->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
        epoll_ctl (shard->io->epfd, EPOLL_CTL_MOD, fd, &ev);
      return 0;
    }
  ev.data.ptr = sock;
  if (epoll_ctl (shard->io->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
    epoll_ctl (shard->io->epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static int
weft_http_io_timer_cb (CURLM *multi, long timeout_ms, void *data)
{
  WeftHttpShard *shard = data;

  shard->timeout_at = timeout_ms < 0 ? -1 : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
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

  if (origin->probe == transfer && !origin->release)
    {
      origin->release = TRUE;
      g_ptr_array_add (weft_http_io->release, origin);
    }
  return CURL_PREREQFUNC_OK;
}

/* ---- shards ------------------------------------------------------------------ */

static WeftHttpShard *
weft_http_shard_new (WeftHttpIo *io, guint index)
{
  WeftHttpShard *shard = g_new0 (WeftHttpShard, 1);

  shard->io = io;
  shard->index = index;
  shard->timeout_at = -1;
  shard->multi = curl_multi_init ();
  curl_multi_setopt (shard->multi, CURLMOPT_SOCKETFUNCTION, weft_http_io_socket_cb);
  curl_multi_setopt (shard->multi, CURLMOPT_SOCKETDATA, shard);
  curl_multi_setopt (shard->multi, CURLMOPT_TIMERFUNCTION, weft_http_io_timer_cb);
  curl_multi_setopt (shard->multi, CURLMOPT_TIMERDATA, shard);
  /* Its idle connections, for the next burst. */
  curl_multi_setopt (shard->multi, CURLMOPT_MAXCONNECTS, (long) WEFT_HTTP_SHARD_SIZE);
  curl_multi_setopt (shard->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
  return shard;
}

/* The first shard with room, made when there is none. */
static WeftHttpShard *
weft_http_io_shard_with_room (WeftHttpIo *io)
{
  for (guint i = io->lowest_open;; i++)
    {
      WeftHttpShard *shard;

      if (i == io->shards->len)
        g_ptr_array_add (io->shards, NULL);
      shard = io->shards->pdata[i];
      if (shard == NULL)
        shard = io->shards->pdata[i] = weft_http_shard_new (io, i);
      if (shard->n_active < WEFT_HTTP_SHARD_SIZE)
        {
          io->lowest_open = i;
          return shard;
        }
    }
}

/* Closes the shards (but the first) that stayed empty long enough. */
static void
weft_http_io_trim (WeftHttpIo *io, gint64 now)
{
  gboolean again = FALSE;

  for (guint i = 1; i < io->shards->len; i++)
    {
      WeftHttpShard *shard = io->shards->pdata[i];

      if (shard == NULL || shard->n_active > 0)
        continue;
      if (now - shard->emptied_at < WEFT_HTTP_SHARD_LINGER_US)
        {
          again = TRUE;
          continue;
        }
      curl_multi_cleanup (shard->multi);
      g_free (shard);
      io->shards->pdata[i] = NULL;
    }
  io->next_trim = again ? now + G_USEC_PER_SEC : -1;
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
      g_queue_init (&origin->pool.idle);
      origin->cleartext = g_str_has_prefix (transfer->origin, "http://");
      g_hash_table_insert (io->origins, g_strdup (transfer->origin), origin);
    }
  if (origin->state == WEFT_HTTP_ORIGIN_OPEN && origin->n_active == 0
      && g_get_monotonic_time () - origin->idle_since > WEFT_HTTP_ORIGIN_STALE_US)
    origin->state = WEFT_HTTP_ORIGIN_NEW;
  return origin;
}

/* Into the first shard with room.  Over cleartext, a request beyond the
 * kept ones takes a connection of its own and closes it when done. */
static void
weft_http_io_add (WeftHttpIo *io, WeftHttpTransfer *transfer)
{
  WeftHttpOrigin *origin = transfer->origin_state;
  WeftHttpShard *shard;

  transfer->state = WEFT_HTTP_TRANSFER_ACTIVE;
  origin->n_active++;
  transfer->kept = !origin->cleartext || origin->n_kept < io->keep_per_host;
  origin->n_kept += transfer->kept;
  if (transfer->lean)
    {
      weft_http_lean_start (transfer, &origin->pool, transfer->kept, io->keep_per_host);
      return;
    }
  shard = weft_http_io_shard_with_room (io);
  transfer->shard = shard;
  shard->n_active++;
  if (!transfer->kept)
    {
      /* The server may let go of it too. */
      transfer->headers = curl_slist_append (transfer->headers, "Connection: close");
      curl_easy_setopt (transfer->easy, CURLOPT_HTTPHEADER, transfer->headers);
      curl_easy_setopt (transfer->easy, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt (transfer->easy, CURLOPT_FORBID_REUSE, 1L);
    }
  curl_easy_setopt (transfer->easy, CURLOPT_SHARE, io->share);
  curl_easy_setopt (transfer->easy, CURLOPT_PREREQFUNCTION, weft_http_io_prereq_cb);
  curl_easy_setopt (transfer->easy, CURLOPT_PREREQDATA, transfer);
  curl_multi_add_handle (shard->multi, transfer->easy);
}

static void
weft_http_io_hold (WeftHttpTransfer *transfer)
{
  WeftHttpOrigin *origin = transfer->origin_state;

  transfer->state = WEFT_HTTP_TRANSFER_HELD;
  transfer->link.data = transfer;
  g_queue_push_tail_link (&origin->held, &transfer->link);
}

static void
weft_http_io_start_transfer (WeftHttpIo *io, WeftHttpTransfer *transfer)
{
  WeftHttpOrigin *origin = weft_http_io_origin (io, transfer);

  transfer->origin_state = origin;
  /* The lean transport looks nothing up and shares no connection: no
   * first request to wait for. */
  if (origin->state == WEFT_HTTP_ORIGIN_NEW && transfer->lean)
    origin->state = WEFT_HTTP_ORIGIN_OPEN;
  if (origin->state == WEFT_HTTP_ORIGIN_NEW)
    {
      origin->state = WEFT_HTTP_ORIGIN_PROBING;
      origin->probe = transfer;
      weft_http_io_add (io, transfer);
    }
  else if (origin->state == WEFT_HTTP_ORIGIN_PROBING || origin->n_active >= io->max_per_host
           || !g_queue_is_empty (&origin->held))
    weft_http_io_hold (transfer);
  else
    weft_http_io_add (io, transfer);
}

/* Lets held requests go, as many as the bound allows. */
static void
weft_http_io_let_go (WeftHttpIo *io, WeftHttpOrigin *origin)
{
  GList *link;

  while (origin->state == WEFT_HTTP_ORIGIN_OPEN && origin->n_active < io->max_per_host
         && (link = g_queue_pop_head_link (&origin->held)) != NULL)
    {
      link->data = NULL;
      weft_http_io_add (io, (WeftHttpTransfer *) ((char *) link - G_STRUCT_OFFSET (WeftHttpTransfer, link)));
    }
}

/* The probe connected, or ended without. */
static void
weft_http_io_open_origin (WeftHttpIo *io, WeftHttpOrigin *origin)
{
  origin->state = WEFT_HTTP_ORIGIN_OPEN;
  origin->probe = NULL;
  weft_http_io_let_go (io, origin);
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

/* Out of its shard (or the origin's queue): tells the owner, lets the
 * next held request of its origin go, drops the thread's reference. */
static void
weft_http_io_finish (WeftHttpIo *io, WeftHttpTransfer *transfer, CURLcode result)
{
  WeftHttpOrigin *origin = transfer->origin_state;
  WeftHttpShard *shard = transfer->shard;

  if (transfer->state == WEFT_HTTP_TRANSFER_ACTIVE && transfer->lean)
    {
      weft_http_lean_stop (transfer);
      origin->n_kept -= transfer->kept;
      if (--origin->n_active == 0)
        origin->idle_since = g_get_monotonic_time ();
      weft_http_io_let_go (io, origin);
    }
  else if (transfer->state == WEFT_HTTP_TRANSFER_ACTIVE)
    {
      curl_multi_remove_handle (shard->multi, transfer->easy);
      /* The handle may be freed on another thread: no longer shared. */
      curl_easy_setopt (transfer->easy, CURLOPT_SHARE, NULL);
      if (--shard->n_active == 0)
        {
          shard->emptied_at = g_get_monotonic_time ();
          if (io->next_trim < 0 && shard->index > 0)
            io->next_trim = shard->emptied_at + G_USEC_PER_SEC;
        }
      io->lowest_open = MIN (io->lowest_open, shard->index);
      origin->n_kept -= transfer->kept;
      if (--origin->n_active == 0)
        origin->idle_since = g_get_monotonic_time ();
      if (origin->probe == transfer)
        weft_http_io_open_origin (io, origin);
      else
        weft_http_io_let_go (io, origin);
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
weft_http_io_read_done (WeftHttpIo *io, WeftHttpShard *shard)
{
  CURLMsg *msg;
  int left;

  weft_http_io_release_origins (io);
  while ((msg = curl_multi_info_read (shard->multi, &left)) != NULL)
    {
      WeftHttpTransfer *transfer = NULL;

      if (msg->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &transfer);
      weft_http_io_finish (io, transfer, msg->data.result);
    }
  weft_http_io_release_origins (io);
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
      io->max_per_host = cmd->value;
      return;
    case WEFT_HTTP_CMD_KEEP_PER_HOST:
      io->keep_per_host = cmd->value;
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

/* Until the nearest of the shards' timers, or the next trim. */
static int
weft_http_io_wait_ms (WeftHttpIo *io)
{
  gint64 first = io->next_trim, left, lean_next = weft_http_lean_next_deadline ();

  if (lean_next >= 0 && (first < 0 || lean_next < first))
    first = lean_next;

  for (guint i = 0; i < io->shards->len; i++)
    {
      WeftHttpShard *shard = io->shards->pdata[i];

      if (shard != NULL && shard->timeout_at >= 0 && (first < 0 || shard->timeout_at < first))
        first = shard->timeout_at;
    }
  if (first < 0)
    return -1;
  left = first - g_get_monotonic_time ();
  return left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
}

static void
weft_http_io_socket_ready (WeftHttpIo *io, const struct epoll_event *ev)
{
  WeftHttpSocket *sock = ev->data.ptr;
  WeftHttpShard *shard = sock->shard;
  int flags = 0, running;

  if (sock->removed)
    return;
  if (ev->events & EPOLLIN)
    flags |= CURL_CSELECT_IN;
  if (ev->events & EPOLLOUT)
    flags |= CURL_CSELECT_OUT;
  if (ev->events & (EPOLLERR | EPOLLHUP))
    flags |= CURL_CSELECT_ERR;
  curl_multi_socket_action (shard->multi, sock->fd, flags, &running);
  weft_http_io_read_done (io, shard);
}

static void
weft_http_io_timers (WeftHttpIo *io)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < io->shards->len; i++)
    {
      WeftHttpShard *shard = io->shards->pdata[i];
      int running;

      if (shard == NULL || shard->timeout_at < 0 || shard->timeout_at > now)
        continue;
      shard->timeout_at = -1;
      curl_multi_socket_action (shard->multi, CURL_SOCKET_TIMEOUT, 0, &running);
      weft_http_io_read_done (io, shard);
    }
  weft_http_lean_expire (now);
  if (io->next_trim >= 0 && io->next_trim <= now)
    weft_http_io_trim (io, now);
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
          if (events[i].data.ptr == NULL)
            weft_http_io_drain (io, &spare);
          else if (*(WeftHttpPollKind *) events[i].data.ptr == WEFT_HTTP_POLL_LEAN)
            weft_http_lean_ready (events[i].data.ptr, events[i].events);
          else
            weft_http_io_socket_ready (io, &events[i]);
        }
      weft_http_io_timers (io);
      weft_http_lean_sweep ();
      g_ptr_array_set_size (io->removed, 0);
    }
  return NULL;
}

/* As many connections to one host as 3/4 of the open-file limit allows:
 * more would fail on the file limit instead of waiting their turn. */
static guint
weft_http_io_default_max_per_host (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return G_MAXUINT;
  return (guint) MIN (G_MAXUINT, MAX (16, limit.rlim_cur / 4 * 3));
}

/* The lean transport's end of a transfer, handed down to it. */
static void
weft_http_io_lean_finished (WeftHttpTransfer *transfer, CURLcode result)
{
  weft_http_io_finish (weft_http_io, transfer, result);
}

static gpointer
weft_http_io_new (gpointer unused)
{
  WeftHttpIo *io = g_new0 (WeftHttpIo, 1);
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
  CURLcode code = curl_global_init (CURL_GLOBAL_DEFAULT);

  if (code != CURLE_OK)
    g_error ("weft http: curl_global_init: %s", curl_easy_strerror (code));
  io->epfd = epoll_create1 (EPOLL_CLOEXEC);
  io->wakefd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (io->epfd < 0 || io->wakefd < 0)
    g_error ("weft http: epoll or eventfd: %s", g_strerror (errno));
  epoll_ctl (io->epfd, EPOLL_CTL_ADD, io->wakefd, &ev);
  weft_http_lean_init (io->epfd, weft_http_io_lean_finished);
  /* Used by the I/O thread alone: no lock functions. */
  io->share = curl_share_init ();
  curl_share_setopt (io->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (io->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  io->shards = g_ptr_array_new ();
  io->origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weft_http_origin_free);
  io->release = g_ptr_array_new ();
  io->removed = g_ptr_array_new_with_free_func (g_free);
  io->max_per_host = weft_http_io_default_max_per_host ();
  io->keep_per_host = WEFT_HTTP_KEEP_PER_HOST;
  io->next_trim = -1;
  io->commands = g_array_new (FALSE, FALSE, sizeof (WeftHttpCmd));
  g_mutex_init (&io->lock);
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

void
weft_http_io_start (WeftHttpTransfer *transfer)
{
  weft_http_io_ensure ();
  if (!transfer->lean)
    {
      curl_easy_setopt (transfer->easy, CURLOPT_PRIVATE, transfer);
      curl_easy_setopt (transfer->easy, CURLOPT_BUFFERSIZE, (long) WEFT_HTTP_BUFFER_SIZE);
      curl_easy_setopt (transfer->easy, CURLOPT_NOSIGNAL, 1L);
    }
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
                                     n > 0 ? n : weft_http_io_default_max_per_host () });
}

void
weft_http_set_keep_alive_per_host (guint n)
{
  weft_http_io_ensure ();
  weft_http_io_post ((WeftHttpCmd) { WEFT_HTTP_CMD_KEEP_PER_HOST, NULL,
                                     n > 0 ? n : WEFT_HTTP_KEEP_PER_HOST });
}
