/* weft-mock-llm-epoll.c — the mock's chat completions served over plain
 * sockets and epoll, for benchmarks: a mock that is not the limit.
 *
 * The libsoup server (weft-mock-llm.c) costs about 250 µs of CPU a request
 * at ten thousand connections, as much as the client it measures, on the
 * same two cores.  Here each thread has its own listening socket on the
 * port (SO_REUSEPORT: the kernel spreads connections over them), its own
 * epoll set and its own timers (a binary heap of answers waiting for their
 * latency); HTTP/1.1 is read by hand (a request line, Content-Length,
 * Connection and x-mock-latency-ms; no chunked bodies), and the answer
 * comes from the mock's script, rules or echo (weft_mock_llm_answer), so
 * both servers say the same things.  A connection is kept alive unless the
 * client says "Connection: close".
 */
#define _GNU_SOURCE             /* accept4 */
#include "weft-mock-llm-private.h"

#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Most bytes of one request (head and body) read. */
#define WEFT_MOCK_MAX_REQUEST (4 * 1024 * 1024)
/* Listening sockets per thread: each has its own accept queue (at most
 * somaxconn, 4096), and ten thousand connections arriving at once
 * overflow one, the kernel dropping SYNs that the clients send again a
 * second later. */
#define WEFT_MOCK_LISTENERS 8

typedef struct _EpollThread EpollThread;

typedef struct {
  EpollThread *thread;
  int fd;
  GString *in;                /* what arrived, not yet answered */
  GString *out;               /* the answer, from `sent` on not yet written */
  gsize sent;
  gboolean close_after;       /* the client asked to close */
  gboolean waiting;           /* an answer waits for its latency */
  gboolean dead;              /* closed: freed at the end of the iteration, or
                               * when its timer pops if it was waiting */
  gint64 due;                 /* monotonic µs */
  guint heap_index;
} Conn;

struct _EpollThread {
  WeftMockLlm *mock;
  int listen_fds[WEFT_MOCK_LISTENERS];
  int epfd;
  int stop_fd;
  GThread *thread;
  GPtrArray *heap;            /* Conn*, by `due` */
  GHashTable *conns;          /* Conn* set: those still open */
  GPtrArray *closed;          /* Conn* closed this iteration: freed at its end */
};

struct _WeftMockEpoll {
  guint port;
  guint n_threads;
  EpollThread *threads;
};

/* ---- the timer heap --------------------------------------------------------- */

static void
heap_swap (GPtrArray *heap, guint a, guint b)
{
  Conn *ca = heap->pdata[a], *cb = heap->pdata[b];

  heap->pdata[a] = cb;
  heap->pdata[b] = ca;
  cb->heap_index = a;
  ca->heap_index = b;
}

static void
heap_push (GPtrArray *heap, Conn *c)
{
  guint i = heap->len;

  g_ptr_array_add (heap, c);
  c->heap_index = i;
  while (i > 0 && ((Conn *) heap->pdata[(i - 1) / 2])->due > c->due)
    {
      heap_swap (heap, i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
}

static Conn *
heap_pop (GPtrArray *heap)
{
  Conn *top = heap->pdata[0];
  guint i = 0;

  heap_swap (heap, 0, heap->len - 1);
  g_ptr_array_set_size (heap, heap->len - 1);
  for (;;)
    {
      guint l = 2 * i + 1, r = l + 1, m = i;

      if (l < heap->len && ((Conn *) heap->pdata[l])->due < ((Conn *) heap->pdata[m])->due)
        m = l;
      if (r < heap->len && ((Conn *) heap->pdata[r])->due < ((Conn *) heap->pdata[m])->due)
        m = r;
      if (m == i)
        return top;
      heap_swap (heap, i, m);
      i = m;
    }
}

/* ---- connections -------------------------------------------------------------- */

static void
conn_free (Conn *c)
{
  g_string_free (c->in, TRUE);
  g_string_free (c->out, TRUE);
  g_free (c);
}

static void
conn_close (Conn *c)
{
  epoll_ctl (c->thread->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  g_hash_table_remove (c->thread->conns, c);
  c->dead = TRUE;
  /* Not freed yet: callers up the stack may still look at it. */
  if (!c->waiting)
    g_ptr_array_add (c->thread->closed, c);
}

static void
conn_watch (Conn *c, guint32 events)
{
  struct epoll_event ev = { .events = events, .data.ptr = c };

  epoll_ctl (c->thread->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_read_requests (Conn *c);

/* Writes what it can; TRUE when all is out. */
static gboolean
conn_flush (Conn *c)
{
  while (c->sent < c->out->len)
    {
      ssize_t n = send (c->fd, c->out->str + c->sent, c->out->len - c->sent, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          conn_watch (c, EPOLLOUT);
          return FALSE;
        }
      if (n <= 0)
        {
          conn_close (c);
          return FALSE;
        }
      c->sent += (gsize) n;
    }
  g_string_truncate (c->out, 0);
  c->sent = 0;
  return TRUE;
}

/* The answer is written: the next request, or the end. */
static void
conn_answered (Conn *c)
{
  if (!conn_flush (c))
    return;
  if (c->close_after)
    {
      conn_close (c);
      return;
    }
  conn_watch (c, EPOLLIN | EPOLLRDHUP);
  conn_read_requests (c);
}

static void
conn_append_answer (Conn *c, guint status, const char *content_type, const char *body, gsize len,
                    const char *retry_after)
{
  g_string_append_printf (c->out, "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                          status, status == 200 ? "OK" : "Error", content_type, len);
  if (retry_after != NULL)
    g_string_append_printf (c->out, "Retry-After: %s\r\n", retry_after);
  if (c->close_after)
    g_string_append (c->out, "Connection: close\r\n");
  g_string_append (c->out, "\r\n");
  g_string_append_len (c->out, body, (gssize) len);
}

/* A header's value in a head, or NULL. */
static const char *
head_value (const char *head, const char *name, gsize *length)
{
  gsize name_len = strlen (name);

  for (const char *p = strstr (head, "\r\n"); p != NULL; p = strstr (p + 2, "\r\n"))
    if (g_ascii_strncasecmp (p + 2, name, name_len) == 0 && p[2 + name_len] == ':')
      {
        const char *v = p + 2 + name_len + 1;
        while (*v == ' ' || *v == '\t')
          v++;
        *length = strcspn (v, "\r\n");
        return v;
      }
  return NULL;
}

/* One request, whole in `c->in` up to `head_len` + `body_len`: answered now
 * or after its latency. */
static void
conn_handle (Conn *c, const char *head, const char *body, gsize body_len)
{
  char method[16] = "", path[1024] = "";
  gsize len;
  const char *connection = head_value (head, "Connection", &len);
  const char *latency = head_value (head, "x-mock-latency-ms", &len);

  c->close_after = connection != NULL && g_ascii_strncasecmp (connection, "close", 5) == 0;
  sscanf (head, "%15s %1023s", method, path);
  if (g_str_equal (path, "/v1/chat/completions") && g_str_equal (method, "POST"))
    {
      WeftMockReply reply = { 0 };

      weft_mock_llm_answer (c->thread->mock, body, body_len, &reply);
      conn_append_answer (c, reply.status, reply.content_type, reply.body, reply.len,
                          reply.retry_after);
      g_free (reply.body);
      g_free (reply.retry_after);
      if (latency != NULL)
        reply.delay_ms = (guint) g_ascii_strtoull (latency, NULL, 10);
      if (reply.delay_ms > 0)
        {
          c->waiting = TRUE;
          c->due = g_get_monotonic_time () + (gint64) reply.delay_ms * 1000;
          heap_push (c->thread->heap, c);
          conn_watch (c, EPOLLRDHUP);
          return;
        }
      weft_mock_llm_answered (c->thread->mock);
    }
  else if (g_str_equal (path, "/v1/models") && g_str_equal (method, "GET"))
    {
      g_autofree char *models = weft_mock_llm_models_json ();
      conn_append_answer (c, 200, "application/json", models, strlen (models), NULL);
    }
  else
    {
      const char *text = "{\"error\": {\"message\": \"Unknown URL (weft-mock-llm)\"}}";
      conn_append_answer (c, 404, "application/json", text, strlen (text), NULL);
    }
  conn_answered (c);
}

/* Answers every whole request in `c->in`, one at a time. */
static void
conn_read_requests (Conn *c)
{
  while (!c->waiting && !c->dead)
    {
      char *end = strstr (c->in->str, "\r\n\r\n");
      gsize head_len, body_len = 0, len;
      const char *length;

      if (end == NULL)
        return;
      head_len = (gsize) (end - c->in->str) + 4;
      end[2] = '\0';            /* the head ends with its last CR LF */
      length = head_value (c->in->str, "Content-Length", &len);
      if (length != NULL)
        body_len = (gsize) g_ascii_strtoull (length, NULL, 10);
      if (body_len > WEFT_MOCK_MAX_REQUEST || c->in->len < head_len + body_len)
        {
          end[2] = '\r';
          if (body_len > WEFT_MOCK_MAX_REQUEST)
            conn_close (c);
          return;
        }
      {
        g_autofree char *head = g_strdup (c->in->str);
        g_autofree char *body = g_strndup (c->in->str + head_len, body_len);

        g_string_erase (c->in, 0, (gssize) (head_len + body_len));
        conn_handle (c, head, body, body_len);
      }
    }
}

static void
conn_readable (Conn *c)
{
  char buf[16384];

  for (;;)
    {
      ssize_t n = recv (c->fd, buf, sizeof buf, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0 || c->in->len + (gsize) n > WEFT_MOCK_MAX_REQUEST)
        {
          conn_close (c);
          return;
        }
      g_string_append_len (c->in, buf, n);
    }
  conn_read_requests (c);
}

/* ---- the thread ------------------------------------------------------------------ */

static void
thread_accept (EpollThread *t, int listen_fd)
{
  for (;;)
    {
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
      Conn *c;

      if (fd < 0)
        return;                 /* EAGAIN, or out of descriptors: later */
      c = g_new0 (Conn, 1);
      c->thread = t;
      c->fd = fd;
      c->in = g_string_new (NULL);
      c->out = g_string_new (NULL);
      ev.data.ptr = c;
      g_hash_table_add (t->conns, c);
      epoll_ctl (t->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void
thread_fire_timers (EpollThread *t)
{
  gint64 now = g_get_monotonic_time ();

  while (t->heap->len > 0 && ((Conn *) t->heap->pdata[0])->due <= now)
    {
      Conn *c = heap_pop (t->heap);

      c->waiting = FALSE;
      weft_mock_llm_answered (t->mock);
      if (c->dead)
        conn_free (c);
      else
        conn_answered (c);
    }
}

static int
thread_wait_ms (EpollThread *t)
{
  gint64 left;

  if (t->heap->len == 0)
    return -1;
  left = ((Conn *) t->heap->pdata[0])->due - g_get_monotonic_time ();
  return left <= 0 ? 0 : (int) ((left + 999) / 1000);
}

static gpointer
thread_main (gpointer data)
{
  EpollThread *t = data;
  struct epoll_event events[512];

  for (;;)
    {
      int n = epoll_wait (t->epfd, events, G_N_ELEMENTS (events), thread_wait_ms (t));

      for (int i = 0; i < n; i++)
        {
          Conn *c = events[i].data.ptr;
          int *listener = events[i].data.ptr;

          if (listener >= t->listen_fds && listener < t->listen_fds + WEFT_MOCK_LISTENERS)
            thread_accept (t, *listener);
          else if (c == (Conn *) t)
            return NULL;        /* the stop eventfd */
          else if (c->dead)
            continue;           /* closed earlier in this batch */
          else if (c->waiting)
            {
              /* The client went away while its answer waited. */
              if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                conn_close (c);
            }
          else if (events[i].events & EPOLLOUT)
            conn_answered (c);
          else
            conn_readable (c);
        }
      thread_fire_timers (t);
      g_ptr_array_set_size (t->closed, 0);
    }
}

static int
listen_on (guint port, GError **error)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
                              .sin_port = htons ((guint16) port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0 || listen (fd, 4096) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "cannot listen on 127.0.0.1:%u: %s", port, g_strerror (errno));
      close (fd);
      return -1;
    }
  return fd;
}

static guint
local_port (int fd)
{
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;

  getsockname (fd, (struct sockaddr *) &addr, &len);
  return ntohs (addr.sin_port);
}

WeftMockEpoll *
weft_mock_epoll_start (WeftMockLlm *mock, guint port, guint n_threads, GError **error)
{
  WeftMockEpoll *server = g_new0 (WeftMockEpoll, 1);

  server->n_threads = MAX (n_threads, 1);
  server->threads = g_new0 (EpollThread, server->n_threads);
  server->port = port;
  for (guint i = 0; i < server->n_threads; i++)
    {
      EpollThread *t = &server->threads[i];
      struct epoll_event ev = { .events = EPOLLIN };

      t->mock = mock;
      t->epfd = epoll_create1 (EPOLL_CLOEXEC);
      t->stop_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      t->heap = g_ptr_array_new ();
      t->conns = g_hash_table_new (NULL, NULL);
      t->closed = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_free);
      ev.data.ptr = t;
      epoll_ctl (t->epfd, EPOLL_CTL_ADD, t->stop_fd, &ev);
      for (guint j = 0; j < WEFT_MOCK_LISTENERS; j++)
        t->listen_fds[j] = -1;
      for (guint j = 0; j < WEFT_MOCK_LISTENERS; j++)
        {
          t->listen_fds[j] = listen_on (server->port, error);
          if (t->listen_fds[j] < 0)
            {
              server->n_threads = i + 1;
              weft_mock_epoll_stop (server);
              return NULL;
            }
          server->port = local_port (t->listen_fds[j]);
          ev.data.ptr = &t->listen_fds[j];
          epoll_ctl (t->epfd, EPOLL_CTL_ADD, t->listen_fds[j], &ev);
        }
    }
  for (guint i = 0; i < server->n_threads; i++)
    server->threads[i].thread = g_thread_new ("weft-mock-llm", thread_main, &server->threads[i]);
  return server;
}

guint
weft_mock_epoll_get_port (WeftMockEpoll *server)
{
  return server->port;
}

void
weft_mock_epoll_stop (WeftMockEpoll *server)
{
  for (guint i = 0; i < server->n_threads; i++)
    {
      EpollThread *t = &server->threads[i];
      guint64 one = 1;
      GHashTableIter iter;
      gpointer key;

      if (t->thread != NULL)
        {
          if (write (t->stop_fd, &one, sizeof one) < 0)
            g_warning ("weft-mock-llm: cannot stop a thread: %s", g_strerror (errno));
          g_thread_join (t->thread);
        }
      g_hash_table_iter_init (&iter, t->conns);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          Conn *c = key;
          close (c->fd);
          if (!c->waiting)
            conn_free (c);
        }
      for (guint j = 0; j < t->heap->len; j++)
        conn_free (t->heap->pdata[j]);
      g_ptr_array_unref (t->heap);
      g_hash_table_unref (t->conns);
      g_ptr_array_unref (t->closed);
      close (t->stop_fd);
      close (t->epfd);
      for (guint j = 0; j < WEFT_MOCK_LISTENERS; j++)
        if (t->listen_fds[j] >= 0)
          close (t->listen_fds[j]);
    }
  g_free (server->threads);
  g_free (server);
}
