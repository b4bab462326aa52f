/* weft-test-http-server.h — a small HTTP/1.1 server on 127.0.0.1 for the
 * tests of weft's HTTP client (test-http.c): blocking sockets, a thread per
 * connection, answers chosen by path, and counts of what it saw.
 *
 * Every connection gets an id, which answers carry ("conn=N"), so that a
 * test can tell a kept-alive connection from a new one.  A request target
 * in absolute form ("GET http://host/path") is counted as proxied and then
 * answered like its path: the server is its own proxy.  Paths:
 *
 *   /echo        200 "conn=N method=M body=LEN", kept alive
 *   /slow        the same after 300 ms
 *   /chunked     200, chunked: "a", "bb", "ccc" 50 ms apart
 *   /stream      200, chunked: "piece N\n" every 100 ms, 50 of them; a
 *                client gone mid-way is counted (`streams_cut`)
 *   /big         200, 10 MB (Content-Length): byte i is 'a' + i % 26
 *   /cut         200, Content-Length 1000, 40 bytes, then closed
 *   /redirect    302 to /echo
 *   /hang        no answer until the client goes
 *
 * Answers that are wrong or unusual on purpose (each says conn=N where it
 * has a body, so that a test can tell whether the connection was kept):
 *
 *   /extra       200, Content-Length 6 "conn=N", then bytes nobody asked
 *                for (a second answer), the connection kept open
 *   /big-head    200 with 300 KiB of header lines
 *   /long-line   200 with one header line of 300 KiB
 *   /bad-chunk   200, chunked, a chunk size that is not hexadecimal
 *   /bad-chunk-end  200, chunked, a chunk's data not ended by CRLF
 *   /to-close    200 without Content-Length or chunks: "conn=N ..." up to
 *                the close
 *   /interim     100 Continue and 103 Early Hints, then 200 "ok"
 *   /not-modified  304 with a Content-Length but (rightly) no body, kept
 *   /closing     200 "conn=N" with Connection: close, then closed
 *   /stale       200 "conn=N", kept; the next request on that connection
 *                is read and the connection closed without an answer (a
 *                keep-alive the server ended as the request came)
 */
#pragma once

#include "weft-test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_BIG_SIZE (10 * 1024 * 1024)

typedef struct {
  int listen_fd;
  guint port;
  GThread *thread;
  GMutex lock;
  guint next_id;
  guint open;                 /* connections open now */
  guint max_open;
  guint requests;
  guint proxied;
  guint streams_cut;
} TestServer;

typedef struct {
  TestServer *server;
  int fd;
  guint id;
  gboolean drop_next;         /* /stale: close at the next request */
} TestConn;

static inline gboolean
test_send_all (int fd, const void *data, gsize size)
{
  const char *p = data;

  while (size > 0)
    {
      ssize_t n = send (fd, p, size, MSG_NOSIGNAL);
      if (n <= 0)
        return FALSE;
      p += n;
      size -= (gsize) n;
    }
  return TRUE;
}

static inline gboolean
test_send_text (int fd, const char *text)
{
  return test_send_all (fd, text, strlen (text));
}

/* The head, up to its blank line (what follows it stays in `rest`). */
static inline char *
test_read_head (int fd, GString *rest)
{
  char buf[4096];

  for (;;)
    {
      char *end = strstr (rest->str, "\r\n\r\n");
      if (end != NULL)
        {
          char *head = g_strndup (rest->str, (gsize) (end - rest->str));
          g_string_erase (rest, 0, end + 4 - rest->str);
          return head;
        }
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      if (n <= 0 || rest->len > 65536)
        return NULL;
      g_string_append_len (rest, buf, n);
    }
}

static inline gsize
test_content_length (const char *head)
{
  const char *p = strcasestr (head, "\r\ncontent-length:");
  return p != NULL ? (gsize) g_ascii_strtoull (p + strlen ("\r\ncontent-length:"), NULL, 10) : 0;
}

static inline gboolean
test_answer (TestConn *c, const char *status, const char *body, gboolean close_after)
{
  g_autofree char *text = g_strdup_printf ("HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n%s",
                                           status, strlen (body),
                                           close_after ? "Connection: close\r\n" : "", body);
  return test_send_text (c->fd, text);
}

static inline gboolean
test_chunk (int fd, const char *piece)
{
  g_autofree char *text = g_strdup_printf ("%zx\r\n%s\r\n", strlen (piece), piece);
  return test_send_text (fd, text);
}

static inline gboolean
test_serve_big (TestConn *c)
{
  g_autofree char *body = g_malloc (TEST_BIG_SIZE);
  g_autofree char *head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                                           TEST_BIG_SIZE);

  for (gsize i = 0; i < TEST_BIG_SIZE; i++)
    body[i] = (char) ('a' + i % 26);
  return test_send_text (c->fd, head) && test_send_all (c->fd, body, TEST_BIG_SIZE);
}

static inline gboolean
test_serve_stream (TestConn *c)
{
  if (!test_send_text (c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
    return FALSE;
  for (guint i = 1; i <= 50; i++)
    {
      g_autofree char *piece = g_strdup_printf ("piece %u\n", i);
      if (!test_chunk (c->fd, piece))
        {
          g_mutex_lock (&c->server->lock);
          c->server->streams_cut++;
          g_mutex_unlock (&c->server->lock);
          return FALSE;
        }
      g_usleep (100 * 1000);
    }
  return test_send_text (c->fd, "0\r\n\r\n");
}

/* A head of `lines` header lines of `size` bytes each, then "ok". */
static inline gboolean
test_serve_big_head (TestConn *c, guint lines, gsize size)
{
  g_autofree char *filler = g_strnfill (size, 'h');

  if (!test_send_text (c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"))
    return FALSE;
  for (guint i = 0; i < lines; i++)
    {
      g_autofree char *line = g_strdup_printf ("X-Filler-%u: %s\r\n", i, filler);
      if (!test_send_text (c->fd, line))
        return FALSE;
    }
  return test_send_text (c->fd, "\r\nok");
}

/* The unusual answers (see the top): TRUE with `more` set when `path` is
 * one of them. */
static inline gboolean
test_serve_odd (TestConn *c, const char *path, gboolean *more)
{
  g_autofree char *id = g_strdup_printf ("conn=%u", c->id);
  g_autofree char *text = NULL;

  *more = FALSE;
  if (g_str_equal (path, "/extra"))
    {
      text = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s"
                              "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmore", strlen (id), id);
      *more = test_send_text (c->fd, text);
    }
  else if (g_str_equal (path, "/big-head"))
    test_serve_big_head (c, 300, 1000);
  else if (g_str_equal (path, "/long-line"))
    test_serve_big_head (c, 1, 300 * 1024);
  else if (g_str_equal (path, "/bad-chunk"))
    test_send_text (c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "zz\r\nhello\r\n0\r\n\r\n");
  else if (g_str_equal (path, "/bad-chunk-end"))
    test_send_text (c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhelloXX0\r\n\r\n");
  else if (g_str_equal (path, "/to-close"))
    {
      text = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n%s read to the close",
                              id);
      test_send_text (c->fd, text);
    }
  else if (g_str_equal (path, "/interim"))
    *more = test_send_text (c->fd, "HTTP/1.1 100 Continue\r\n\r\n"
                                   "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  else if (g_str_equal (path, "/not-modified"))
    *more = test_send_text (c->fd, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
  else if (g_str_equal (path, "/closing"))
    test_answer (c, "200 OK", id, TRUE);
  else if (g_str_equal (path, "/stale"))
    {
      *more = test_answer (c, "200 OK", id, FALSE);
      c->drop_next = TRUE;
    }
  else
    return FALSE;
  return TRUE;
}

/* One request: FALSE when the connection is to close. */
static inline gboolean
test_serve_one (TestConn *c, const char *method, const char *path, gsize body_len, gboolean close_after)
{
  char buf[64];
  gboolean more;

  if (c->drop_next)
    return FALSE;
  if (test_serve_odd (c, path, &more))
    return more && !close_after;

  if (g_str_equal (path, "/echo") || g_str_equal (path, "/slow"))
    {
      g_autofree char *body = g_strdup_printf ("conn=%u method=%s body=%zu", c->id, method, body_len);
      if (g_str_equal (path, "/slow"))
        g_usleep (300 * 1000);
      return test_answer (c, "200 OK", body, close_after) && !close_after;
    }
  if (g_str_equal (path, "/chunked"))
    {
      const char *pieces[] = { "a", "bb", "ccc" };
      if (!test_send_text (c->fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
        return FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
        {
          if (!test_chunk (c->fd, pieces[i]))
            return FALSE;
          g_usleep (50 * 1000);
        }
      return test_send_text (c->fd, "0\r\n\r\n") && !close_after;
    }
  if (g_str_equal (path, "/stream"))
    return test_serve_stream (c) && !close_after;
  if (g_str_equal (path, "/big"))
    return test_serve_big (c) && !close_after;
  if (g_str_equal (path, "/cut"))
    {
      test_send_text (c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
      test_send_all (c->fd, "0123456789012345678901234567890123456789", 40);
      return FALSE;
    }
  if (g_str_equal (path, "/redirect"))
    return test_send_text (c->fd, "HTTP/1.1 302 Found\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n")
           && !close_after;
  if (g_str_equal (path, "/hang"))
    {
      while (recv (c->fd, buf, sizeof buf, 0) > 0)
        ;
      return FALSE;
    }
  return test_answer (c, "404 Not Found", "no such path", TRUE) && FALSE;
}

static inline gpointer
test_conn_thread (gpointer data)
{
  TestConn *c = data;
  g_autoptr(GString) rest = g_string_new (NULL);
  gboolean more = TRUE;

  while (more)
    {
      g_autofree char *head = test_read_head (c->fd, rest);
      char method[16] = "", target[2048] = "";
      const char *path = target;
      gsize body_len;

      if (head == NULL || sscanf (head, "%15s %2047s", method, target) != 2)
        break;
      body_len = test_content_length (head);
      while (rest->len < body_len)
        {
          char buf[4096];
          ssize_t n = recv (c->fd, buf, sizeof buf, 0);
          if (n <= 0)
            break;
          g_string_append_len (rest, buf, n);
        }
      g_string_erase (rest, 0, (gssize) MIN (body_len, rest->len));
      g_mutex_lock (&c->server->lock);
      c->server->requests++;
      if (g_str_has_prefix (target, "http://"))
        {
          c->server->proxied++;
          path = strchr (target + strlen ("http://"), '/');
          path = path != NULL ? path : "/";
        }
      g_mutex_unlock (&c->server->lock);
      more = test_serve_one (c, method, path, body_len,
                             strcasestr (head, "\r\nconnection: close") != NULL);
    }
  close (c->fd);
  g_mutex_lock (&c->server->lock);
  c->server->open--;
  g_mutex_unlock (&c->server->lock);
  g_free (c);
  return NULL;
}

static inline gpointer
test_accept_thread (gpointer data)
{
  TestServer *server = data;

  for (;;)
    {
      int fd = accept (server->listen_fd, NULL, NULL);
      TestConn *c;

      if (fd < 0)
        return NULL;          /* the listening socket was shut */
      c = g_new0 (TestConn, 1);
      c->server = server;
      c->fd = fd;
      g_mutex_lock (&server->lock);
      c->id = ++server->next_id;
      server->open++;
      server->max_open = MAX (server->max_open, server->open);
      g_mutex_unlock (&server->lock);
      g_thread_unref (g_thread_new ("test-conn", test_conn_thread, c));
    }
}

static inline TestServer *
test_server_start (void)
{
  TestServer *server = g_new0 (TestServer, 1);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;

  g_mutex_init (&server->lock);
  server->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (bind (server->listen_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (server->listen_fd, 128), ==, 0);
  g_assert_cmpint (getsockname (server->listen_fd, (struct sockaddr *) &addr, &len), ==, 0);
  server->port = ntohs (addr.sin_port);
  server->thread = g_thread_new ("test-accept", test_accept_thread, server);
  return server;
}

/* Stops accepting; connections still open end on their own. */
static inline void
test_server_stop (TestServer *server)
{
  shutdown (server->listen_fd, SHUT_RDWR);
  g_thread_join (server->thread);
  close (server->listen_fd);
}

static inline guint
test_server_get (TestServer *server, guint *field)
{
  guint value;

  g_mutex_lock (&server->lock);
  value = *field;
  g_mutex_unlock (&server->lock);
  return value;
}

static inline char *
test_server_url (TestServer *server, const char *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", server->port, path);
}
