/* weft-server-input.c — the bytes of a connection that libsoup reads,
 * request by request.
 *
 * libsoup 3.2 reads the whole body of a request that has already been
 * refused, has no URL limit and no head limit but its own 64 KiB (past
 * which it drops the connection without an answer), takes a malformed
 * chunk size for the end of the body, answers a malformed head with an
 * empty body, and never closes a kept-alive connection whose client left
 * between requests.  So everything it reads comes through this stream,
 * which follows HTTP/1.1's framing itself:
 *
 *   - a head ends at its first empty line (one before the request line is
 *     skipped, as libsoup does); its URL and its size are checked on the
 *     way (414, 431), and each line as it ends (weft-server-head.c: 400,
 *     413, 417, 501, 505);
 *   - once libsoup has parsed the head, the connection says what body
 *     follows (weft_server_input_expect_body): a length, which is all
 *     libsoup is given, or chunks, whose framing is checked (400) and
 *     whose sizes are counted against the limit before their data is read
 *     (413) by weft-server-chunked.c, and whose trailer fields are read
 *     here and not given (libsoup reads one line there);
 *   - bytes of the next request are kept back until this one's body is
 *     done, so each request is seen from its first byte;
 *   - the end of the input inside a request is refused (400: the client
 *     may still read); between requests it ends the connection; either
 *     way libsoup then reads an end that lets the connection go without
 *     handling anything more (weft_server_input_read_closed).
 *
 * It tells its connection (weft-server-conn.c) when a request starts, when
 * its body is done, what it refuses, and when the client is done.  A
 * refusal blocks the stream: libsoup waits, gets nothing more, and reads
 * the end once the connection has answered and let go
 * (weft_server_input_close). */
#include "weft-server-private.h"

#include <string.h>

/* A request line this much longer than the URL limit is refused before
 * its end: method, spaces and "HTTP/1.1" fit in it. */
#define WEFT_SERVER_REQUEST_LINE_SLACK 32

struct _WeftServerInput {
  GInputStream parent;
  GInputStream *base;         /* the socket's; pollable */
  const WeftServerInputEvents *events;
  gpointer owner;             /* the connection; NULL once it is gone */
  GByteArray *kept;           /* read from base, not yet given out */
  GCancellable *wake;         /* cancelled when a blocked stream closes */
  WeftServerFrame frame;
  gboolean pass;              /* framing lost: bytes go through unchecked */
  gboolean in_head;           /* libsoup reads a request head, or waits for one */
  guint end_given;            /* closed: bytes of weft_server_input_end given */
  guint max_url;
  guint max_headers;
  guint64 max_body;

  /* The head. */
  WeftServerHead head;        /* its current line is head.line */
  gsize head_bytes;
  gboolean prev_cr;
  gboolean first_line;
  gssize url_start;           /* first line: its first space, or -1 */
  gssize url_end;             /* ... and its last */

  /* The body. */
  SoupEncoding encoding;
  guint64 length;             /* declared */
  guint64 remaining;          /* of the length */
  guint64 body_bytes;         /* to EOF: data so far */
  WeftChunked chunked;       /* chunked: its framing (weft-server-chunked.c) */
};

static void weft_server_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeftServerInput, weft_server_input, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      weft_server_input_pollable_init))

/* ---- refusing ---------------------------------------------------------------------- */

static gssize
weft_server_input_refuse (WeftServerInput *self, guint status, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* Blocks and tells the connection, which answers; -1 for the caller to
 * return. */
static gssize
weft_server_input_refuse (WeftServerInput *self, guint status, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  self->frame = WEFT_SERVER_FRAME_BLOCKED;
  if (self->owner)
    self->events->refuse (self->owner, status, message);
  return -1;
}

/* ---- the head ---------------------------------------------------------------------- */

static void
weft_server_input_start_head (WeftServerInput *self)
{
  self->frame = WEFT_SERVER_FRAME_HEAD;
  weft_server_head_reset (&self->head);
  self->head_bytes = 0;
  self->prev_cr = FALSE;
  self->first_line = TRUE;
  self->url_start = self->url_end = -1;
  if (self->owner)
    self->events->request_started (self->owner);
}

/* The URL is between the request line's first and last spaces (or runs
 * to its end when there is one space). */
static gsize
weft_server_input_url_length (WeftServerInput *self)
{
  gsize line = self->head.line->len;

  if (self->url_start < 0)
    return 0;
  if (self->url_end > self->url_start)
    return (gsize) (self->url_end - self->url_start - 1);
  return line - (gsize) self->url_start - 1;
}

/* One byte of the request line, not its CR or LF. */
static gssize
weft_server_input_request_line_byte (WeftServerInput *self, guchar c)
{
  gsize at = self->head.line->len;

  if (c == ' ')
    {
      if (self->url_start < 0)
        self->url_start = (gssize) at;
      self->url_end = (gssize) at;
    }
  if (self->url_start >= 0 && at - (gsize) self->url_start > self->max_url
                                                                + WEFT_SERVER_REQUEST_LINE_SLACK)
    return weft_server_input_refuse (self, SOUP_STATUS_REQUEST_URI_TOO_LONG,
                                     "the URL is longer than %u bytes", self->max_url);
  return 0;
}

/* A line of the head has ended: the head goes on (0), ends (1), or is
 * refused (-1). */
static gssize
weft_server_input_line_done (WeftServerInput *self)
{
  g_autoptr(GError) error = NULL;
  guint status;

  if (self->first_line && weft_server_input_url_length (self) > self->max_url)
    return weft_server_input_refuse (self, SOUP_STATUS_REQUEST_URI_TOO_LONG,
                                     "the URL is longer than %u bytes", self->max_url);
  status = weft_server_head_take_line (&self->head, &error);
  if (status == WEFT_SERVER_HEAD_ENDED)
    return 1;
  if (status != 0)
    return weft_server_input_refuse (self, status, "%s", error->message);
  /* An empty line before the request line leaves it still to come. */
  self->first_line = self->head.method == NULL;
  self->url_start = self->url_end = -1;
  return 0;
}

/* Bytes of a head: how many are the head's (all of them unless it ends
 * among them), or -1 when it is refused. */
static gssize
weft_server_input_frame_head (WeftServerInput *self, const guchar *data, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      guchar c = data[i];

      if (++self->head_bytes > self->max_headers)
        return weft_server_input_refuse (self, WEFT_SERVER_STATUS_HEADERS_TOO_LARGE,
                                         "the request head (request line and headers) is "
                                         "larger than %u bytes", self->max_headers);
      /* libsoup would take a lone CR for a space, where others see a line
       * break: a request read two ways. */
      if (self->prev_cr && c != '\n')
        return weft_server_input_refuse (self, SOUP_STATUS_BAD_REQUEST,
                                         "the request head has a CR not followed by LF");
      if (c == '\0')
        return weft_server_input_refuse (self, SOUP_STATUS_BAD_REQUEST,
                                         "the request head has a NUL byte");
      self->prev_cr = c == '\r';
      if (c == '\r')
        continue;
      if (c != '\n')
        {
          if (self->first_line && weft_server_input_request_line_byte (self, c) < 0)
            return -1;
          g_string_append_c (self->head.line, (char) c);
          continue;
        }
      gssize done = weft_server_input_line_done (self);
      if (done < 0)
        return -1;
      if (done == 1)
        {
          self->frame = WEFT_SERVER_FRAME_PARSING;
          self->in_head = FALSE;
          return (gssize) i + 1;
        }
    }
  return (gssize) n;
}

/* ---- the body ---------------------------------------------------------------------- */

static void
weft_server_input_body_done (WeftServerInput *self)
{
  self->frame = WEFT_SERVER_FRAME_WAIT;
  self->in_head = TRUE;
  if (self->owner)
    self->events->body_done (self->owner);
}

static gssize
weft_server_input_too_large (WeftServerInput *self)
{
  return weft_server_input_refuse (self, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                                   "the request body is larger than %" G_GUINT64_FORMAT " bytes",
                                   self->max_body);
}

/* After the last chunk: the trailer fields, up to the empty line. */
static gboolean
weft_server_input_in_trailers (WeftServerInput *self)
{
  return !self->pass && self->frame == WEFT_SERVER_FRAME_BODY
         && self->encoding == SOUP_ENCODING_CHUNKED
         && weft_chunked_in_trailers (&self->chunked);
}

/* Chunks up to the last one's size line: the trailers are
 * weft_server_input_frame_trailers's, from a read of their own. */
static gssize
weft_server_input_frame_chunked (WeftServerInput *self, const guchar *data, gsize n)
{
  g_autoptr(GError) error = NULL;
  gsize used = 0;
  guint status = weft_server_chunked_frame (&self->chunked, data, n, &used, &error);

  if (status != 0)
    return weft_server_input_refuse (self, status, "%s", error->message);
  return (gssize) used;
}

/* The trailers, at the start of `data`, are read and dropped, and libsoup
 * gets a lone line break for them when they end: libsoup 3.2 takes
 * whatever line follows the last chunk for the end of the body, so that
 * a trailer field would end the body for libsoup while the framing still
 * read trailers (the next request's bytes, or the end of the input, then
 * read two ways).  Returns the bytes given (0, or 1 once the body is
 * done) and sets `taken` to how many of `data` were read. */
static gssize
weft_server_input_frame_trailers (WeftServerInput *self, guchar *data, gsize n, gsize *taken)
{
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      guint status = weft_server_chunked_byte (&self->chunked, data[i], &error);
      if (status != 0 && status != WEFT_SERVER_CHUNKED_ENDED)
        return weft_server_input_refuse (self, status, "%s", error->message);
      if (status == WEFT_SERVER_CHUNKED_ENDED)
        {
          *taken = i + 1;
          data[0] = '\n';
          weft_server_input_body_done (self);
          return 1;
        }
    }
  *taken = n;
  return 0;
}

static gssize
weft_server_input_frame_body (WeftServerInput *self, const guchar *data, gsize n)
{
  switch (self->encoding)
    {
    case SOUP_ENCODING_CONTENT_LENGTH:
      /* Reads never ask for more than what remains. */
      self->remaining -= MIN ((guint64) n, self->remaining);
      if (self->remaining == 0)
        weft_server_input_body_done (self);
      return (gssize) n;
    case SOUP_ENCODING_CHUNKED:
      return weft_server_input_frame_chunked (self, data, n);
    default:
      /* To EOF. */
      self->body_bytes += n;
      if (self->body_bytes > self->max_body)
        return weft_server_input_too_large (self);
      return (gssize) n;
    }
}

/* Runs the framing over bytes just read: how many libsoup gets now (from
 * the start of `data`), or -1 when the request is refused; `taken` is
 * set to how many of `data` the framing has read (the rest is kept for
 * later).  Only dropped trailer fields make the two differ. */
static gssize
weft_server_input_frame (WeftServerInput *self, guchar *data, gsize n, gsize *taken)
{
  gsize given = 0;

  *taken = n;
  if (self->pass)
    return (gssize) n;
  if (weft_server_input_in_trailers (self))
    return weft_server_input_frame_trailers (self, data, n, taken);
  while (given < n)
    {
      gssize used;

      switch (self->frame)
        {
        case WEFT_SERVER_FRAME_WAIT:
          weft_server_input_start_head (self);
          continue;
        case WEFT_SERVER_FRAME_HEAD:
          used = weft_server_input_frame_head (self, data + given, n - given);
          break;
        case WEFT_SERVER_FRAME_BODY:
          used = weft_server_input_frame_body (self, data + given, n - given);
          break;
        case WEFT_SERVER_FRAME_PARSING:
          /* libsoup parsed a head without got-headers reaching the
           * connection: nothing tells where the body ends any more. */
          g_warning ("HTTP request framing lost on a connection; its requests are no "
                     "longer checked");
          self->pass = TRUE;
          return (gssize) n;
        default:
          return -1;
        }
      if (used < 0)
        return -1;
      given += (gsize) used;
      /* One request at a time: stop where a head or a body ends, and
       * before the trailers (they are read apart). */
      if (self->frame == WEFT_SERVER_FRAME_PARSING || self->frame == WEFT_SERVER_FRAME_WAIT
          || weft_server_input_in_trailers (self))
        break;
    }
  *taken = given;
  return (gssize) given;
}

/* ---- the end of the input ------------------------------------------------------------ */

/* What libsoup reads once the input is closed: the connection must end
 * without libsoup taking anything more for a request.
 *
 *   - Past a head (a body refused, or cut short), an error: libsoup gives
 *     the request up and closes the connection.  Not EOF: libsoup 3.2
 *     takes an EOF at a chunked body's line break for the end of the body,
 *     and would run the handler of a request already refused (a run
 *     started for a client told 400).
 *   - Reading a head, or waiting for one, a line it cannot use, then the
 *     error.  Not EOF: libsoup parses what it has of a head at EOF, so
 *     that a head cut before its empty line was handled after its 400.
 *     Not the error alone: on a kept-alive connection libsoup 3.2 gives a
 *     request its place (the callback that ends the connection with it)
 *     only once a byte of its head has reached it whole, a line at a time;
 *     a request that fails before that leaves the connection open for good,
 *     its descriptor and its slot under the connection cap kept.  The line
 *     ends whatever libsoup has of a line, and its NUL keeps it from
 *     ending the head. */
static const char weft_server_input_end[] = "\0\n";

static gssize
weft_server_input_read_closed (WeftServerInput *self, void *buffer, gsize count, GError **error)
{
  const gsize size = sizeof weft_server_input_end - 1;

  if (count == 0)
    return 0;
  if (self->in_head && self->end_given < size)
    {
      gsize n = MIN (count, size - self->end_given);
      memcpy (buffer, &weft_server_input_end[self->end_given], n);
      self->end_given += (guint) n;
      return (gssize) n;
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       "the connection is closed");
  return -1;
}

/* The client sends no more: between requests, the connection ends (the
 * input is closed); inside one, the request is refused (-1: the client
 * may still be reading). */
static gssize
weft_server_input_at_end (WeftServerInput *self)
{
  switch (self->frame)
    {
    case WEFT_SERVER_FRAME_WAIT:
      self->frame = WEFT_SERVER_FRAME_CLOSED;
      if (self->owner)
        self->events->peer_done (self->owner);
      return 0;
    case WEFT_SERVER_FRAME_HEAD:
      return weft_server_input_refuse (self, SOUP_STATUS_BAD_REQUEST,
                                       "the request head ended before its empty line (the "
                                       "client sent no more)");
    case WEFT_SERVER_FRAME_BODY:
      if (self->encoding == SOUP_ENCODING_CONTENT_LENGTH)
        return weft_server_input_refuse (self, SOUP_STATUS_BAD_REQUEST,
                                         "the request body ended after %" G_GUINT64_FORMAT
                                         " of its %" G_GUINT64_FORMAT " bytes (the client "
                                         "sent no more)", self->length - self->remaining,
                                         self->length);
      if (self->encoding == SOUP_ENCODING_CHUNKED)
        return weft_server_input_refuse (self, SOUP_STATUS_BAD_REQUEST,
                                         "malformed chunked body: it ended before its last "
                                         "chunk (the client sent no more)");
      return 0;
    default:
      return 0;
    }
}

/* ---- reading ----------------------------------------------------------------------- */

/* The most a read may take from the socket: a length-framed body is
 * never read past its end. */
static gsize
weft_server_input_cap (WeftServerInput *self, gsize count)
{
  if (!self->pass && self->frame == WEFT_SERVER_FRAME_BODY
      && self->encoding == SOUP_ENCODING_CONTENT_LENGTH)
    return (gsize) MIN ((guint64) count, self->remaining);
  return count;
}

static gssize
weft_server_input_fill (WeftServerInput *self, void *buffer, gsize count, gboolean blocking,
                        GCancellable *cancellable, GError **error)
{
  if (self->kept->len > 0)
    {
      gsize n = MIN (count, self->kept->len);
      memcpy (buffer, self->kept->data, n);
      g_byte_array_remove_range (self->kept, 0, (guint) n);
      return (gssize) n;
    }
  if (blocking)
    return g_input_stream_read (self->base, buffer, count, cancellable, error);
  return g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (self->base), buffer,
                                                   count, cancellable, error);
}

static gssize
weft_server_input_would_block (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "the request was refused");
  return -1;
}

/* The end of the input, or an error that ends it (a reset), rather than
 * bytes or the wait for them.  In a head, or waiting for one, an error is
 * an end like EOF, so that libsoup reads the end that lets it go
 * (weft_server_input_read_closed): given to libsoup there, a reset after
 * part of a kept-alive connection's next head left the connection open
 * for good.  In a body libsoup takes the error itself. */
static gboolean
weft_server_input_ended (WeftServerInput *self, gssize n, const GError *error)
{
  if (self->pass)
    return FALSE;
  return n == 0 || (n < 0 && self->in_head
                    && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)
                    && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
}

/* weft_server_input_read_once: every byte read was a trailer field,
 * none for libsoup (0 would be the end of the input). */
#define WEFT_SERVER_INPUT_ALL_DROPPED (-2)

/* One read of the socket (or of what was kept), framed: what libsoup
 * gets, or -1 with `error` set. */
static gssize
weft_server_input_read_once (WeftServerInput *self, void *buffer, gsize count,
                             gboolean blocking, GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) local = NULL;
  gsize taken = 0;

  if (self->frame == WEFT_SERVER_FRAME_CLOSED)
    return weft_server_input_read_closed (self, buffer, count, error);
  if (self->frame == WEFT_SERVER_FRAME_BLOCKED)
    return weft_server_input_would_block (error);
  count = weft_server_input_cap (self, count);
  if (count == 0)
    return 0;
  gssize n = weft_server_input_fill (self, buffer, count, blocking, cancellable, &local);
  if (weft_server_input_ended (self, n, local))
    {
      if (weft_server_input_at_end (self) < 0)
        return weft_server_input_would_block (error);
      if (self->frame == WEFT_SERVER_FRAME_CLOSED)
        return weft_server_input_read_closed (self, buffer, count, error);
      return 0;
    }
  if (n < 0)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return -1;
    }
  gssize given = weft_server_input_frame (self, buffer, (gsize) n, &taken);
  if (given < 0)
    return weft_server_input_would_block (error);
  if (taken < (gsize) n)
    g_byte_array_prepend (self->kept, (const guint8 *) buffer + taken,
                          (guint) ((gsize) n - taken));
  return given == 0 ? WEFT_SERVER_INPUT_ALL_DROPPED : given;
}

static gssize
weft_server_input_read_framed (WeftServerInput *self, void *buffer, gsize count,
                               gboolean blocking, GCancellable *cancellable, GError **error)
{
  gssize given;

  /* Trailer fields are dropped: read on (a non-blocking read that finds
   * nothing more says it would block). */
  do
    given = weft_server_input_read_once (self, buffer, count, blocking, cancellable, error);
  while (given == WEFT_SERVER_INPUT_ALL_DROPPED);
  return given;
}

static gssize
weft_server_input_read (GInputStream *stream, void *buffer, gsize count,
                        GCancellable *cancellable, GError **error)
{
  return weft_server_input_read_framed (WEFT_SERVER_INPUT (stream), buffer, count, TRUE,
                                        cancellable, error);
}

static gssize
weft_server_input_read_nonblocking (GPollableInputStream *stream, void *buffer, gsize count,
                                    GError **error)
{
  return weft_server_input_read_framed (WEFT_SERVER_INPUT (stream), buffer, count, FALSE, NULL,
                                        error);
}

static gboolean
weft_server_input_can_poll (GPollableInputStream *stream)
{
  return TRUE;
}

static gboolean
weft_server_input_is_readable (GPollableInputStream *stream)
{
  WeftServerInput *self = WEFT_SERVER_INPUT (stream);

  if (self->frame == WEFT_SERVER_FRAME_CLOSED || self->kept->len > 0)
    return TRUE;
  if (self->frame == WEFT_SERVER_FRAME_BLOCKED)
    return FALSE;
  return g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->base));
}

static GSource *
weft_server_input_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  WeftServerInput *self = WEFT_SERVER_INPUT (stream);
  g_autoptr(GSource) child = NULL;

  if (self->frame == WEFT_SERVER_FRAME_CLOSED || self->kept->len > 0)
    child = g_timeout_source_new (0);
  else if (self->frame == WEFT_SERVER_FRAME_BLOCKED)
    /* Ready only once the stream closes: a refused request waits. */
    child = g_cancellable_source_new (self->wake);
  else
    child = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base), NULL);
  return g_pollable_source_new_full (stream, child, cancellable);
}

/* The socket is the connection's to close. */
static gboolean
weft_server_input_close_fn (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

/* ---- lifetime ---------------------------------------------------------------------- */

static void
weft_server_input_finalize (GObject *object)
{
  WeftServerInput *self = WEFT_SERVER_INPUT (object);

  weft_server_head_clear (&self->head);
  g_clear_object (&self->base);
  g_clear_object (&self->wake);
  g_byte_array_unref (self->kept);
  G_OBJECT_CLASS (weft_server_input_parent_class)->finalize (object);
}

static void
weft_server_input_init (WeftServerInput *self)
{
  self->kept = g_byte_array_new ();
  self->wake = g_cancellable_new ();
  self->frame = WEFT_SERVER_FRAME_WAIT;
  self->in_head = TRUE;
}

static void
weft_server_input_class_init (WeftServerInputClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = weft_server_input_finalize;
  stream_class->read_fn = weft_server_input_read;
  stream_class->close_fn = weft_server_input_close_fn;
}

static void
weft_server_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = weft_server_input_can_poll;
  iface->is_readable = weft_server_input_is_readable;
  iface->create_source = weft_server_input_create_source;
  iface->read_nonblocking = weft_server_input_read_nonblocking;
}

WeftServerInput *
weft_server_input_new (GInputStream *base, const WeftServerInputEvents *events, gpointer owner,
                       const WeftServerLimits *limits)
{
  WeftServerInput *self = g_object_new (WEFT_TYPE_SERVER_INPUT, NULL);

  self->base = g_object_ref (base);
  self->events = events;
  self->owner = owner;
  self->max_url = limits->max_url;
  self->max_headers = limits->max_headers;
  self->max_body = limits->max_body;
  weft_server_head_init (&self->head, limits->max_body);
  return self;
}

void
weft_server_input_expect_body (WeftServerInput *self, SoupEncoding encoding, goffset length)
{
  if (self->frame != WEFT_SERVER_FRAME_PARSING)
    return;
  self->encoding = encoding;
  self->body_bytes = 0;
  weft_server_chunked_init (&self->chunked, self->max_body, self->max_headers);
  self->length = encoding == SOUP_ENCODING_CONTENT_LENGTH ? (guint64) MAX (length, 0) : 0;
  self->remaining = self->length;
  if (encoding == SOUP_ENCODING_CHUNKED || encoding == SOUP_ENCODING_EOF
      || (encoding == SOUP_ENCODING_CONTENT_LENGTH && self->remaining > 0))
    self->frame = WEFT_SERVER_FRAME_BODY;
  else
    {
      self->frame = WEFT_SERVER_FRAME_WAIT;
      self->in_head = TRUE;
    }
}

void
weft_server_input_block (WeftServerInput *self)
{
  if (self->frame != WEFT_SERVER_FRAME_CLOSED)
    self->frame = WEFT_SERVER_FRAME_BLOCKED;
}

void
weft_server_input_close (WeftServerInput *self)
{
  self->frame = WEFT_SERVER_FRAME_CLOSED;
  g_byte_array_set_size (self->kept, 0);
  g_cancellable_cancel (self->wake);
}

WeftServerFrame
weft_server_input_get_frame (WeftServerInput *self)
{
  return self->frame;
}

void
weft_server_input_detach (WeftServerInput *self)
{
  self->owner = NULL;
}
