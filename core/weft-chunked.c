/* weft-chunked.c — HTTP/1.1 chunked framing (RFC 9112, 7.1), byte by byte,
 * for whoever reads a chunked body: the server checking a request's before
 * libsoup sees it (weft-server-chunked.c), the HTTP client's lean
 * transport taking an answer's data out of it (weft-http-wire.c).
 *
 * Strict, because what is read two ways smuggles: each size line is hex
 * digits, then extensions (skipped) up to CRLF, within 128 bytes; a size
 * is counted against the body's limit before its data is read; each
 * chunk's data must end with CRLF; the trailer fields after the last chunk
 * are read, bounded, to their empty line.  The caller words a size that
 * is too large (413 for the server; the client has no limit here) and
 * keeps the data; this file only says where it is. */
#include "weft-chunked.h"

#include "weft-private.h"

/* A chunk size line (its extensions and CRLF included) longer than this
 * is refused: libsoup 3.2 reads it into 128 bytes, and past them drops the
 * connection without an answer. */
#define WEFT_CHUNK_LINE_MAX 128

void
weft_chunked_init (WeftChunked *self, guint64 max_body, gsize max_trailers)
{
  *self = (WeftChunked) {
    .chunk = WEFT_CHUNK_SIZE,
    .max_body = max_body,
    .max_trailers = max_trailers,
  };
}

static WeftChunkedStep
weft_chunked_bad (GError **error, const char *what)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "malformed chunked body: %s", what);
  return WEFT_CHUNKED_BAD;
}

/* The size line is in: data follows, or the trailers. */
static WeftChunkedStep
weft_chunked_sized (WeftChunked *self)
{
  if (self->chunk_size == 0)
    {
      self->chunk = WEFT_CHUNK_TRAILER;
      self->chunk_aside = 0;
      return WEFT_CHUNKED_MORE;
    }
  self->remaining = self->chunk_size;
  self->chunk = WEFT_CHUNK_DATA;
  return WEFT_CHUNKED_MORE;
}

static WeftChunkedStep
weft_chunked_size_byte (WeftChunked *self, guchar c, GError **error)
{
  if (g_ascii_isxdigit (c))
    {
      if (self->chunk_size > G_MAXUINT64 / 16)
        return WEFT_CHUNKED_TOO_LARGE;
      self->chunk_size = self->chunk_size * 16 + (guint64) g_ascii_xdigit_value ((char) c);
      self->chunk_digits++;
      /* Refused as soon as it would pass the limit, before its data. */
      if (self->chunk_size > self->max_body - self->body_bytes)
        return WEFT_CHUNKED_TOO_LARGE;
      return WEFT_CHUNKED_MORE;
    }
  if (self->chunk_digits == 0)
    return weft_chunked_bad (error, "a chunk must start with its size in hexadecimal");
  if (c == ';' || c == ' ' || c == '\t')
    self->chunk = WEFT_CHUNK_EXT;
  else if (c == '\r')
    self->chunk = WEFT_CHUNK_SIZE_LF;
  else if (c == '\n')
    return weft_chunked_sized (self);
  else
    return weft_chunked_bad (error, "a chunk size must be hexadecimal digits");
  return WEFT_CHUNKED_MORE;
}

/* A chunk's data has ended: CRLF, then the next size line. */
static WeftChunkedStep
weft_chunked_data_end_byte (WeftChunked *self, guchar c, GError **error)
{
  if (self->chunk == WEFT_CHUNK_DATA_CR && c == '\r')
    {
      self->chunk = WEFT_CHUNK_DATA_LF;
      return WEFT_CHUNKED_MORE;
    }
  if (c != '\n')
    return weft_chunked_bad (error, "a chunk's data must end with CRLF");
  self->chunk = WEFT_CHUNK_SIZE;
  self->chunk_size = 0;
  self->chunk_digits = 0;
  self->chunk_line = 0;
  return WEFT_CHUNKED_MORE;
}

/* After the last chunk's size line: trailer fields up to an empty line. */
static WeftChunkedStep
weft_chunked_trailer_byte (WeftChunked *self, guchar c, GError **error)
{
  switch (self->chunk)
    {
    case WEFT_CHUNK_TRAILER:
      if (c == '\n')
        return WEFT_CHUNKED_ENDED;
      self->chunk = c == '\r' ? WEFT_CHUNK_END_LF : WEFT_CHUNK_TRAILER_LINE;
      return WEFT_CHUNKED_MORE;
    case WEFT_CHUNK_TRAILER_LINE:
      if (c == '\n')
        self->chunk = WEFT_CHUNK_TRAILER;
      else if (++self->chunk_aside > self->max_trailers)
        return weft_chunked_bad (error, "the trailers are too long");
      return WEFT_CHUNKED_MORE;
    default:
      if (c != '\n')
        return weft_chunked_bad (error, "the last chunk must end with CRLF");
      return WEFT_CHUNKED_ENDED;
    }
}

WeftChunkedStep
weft_chunked_byte (WeftChunked *self, guchar c, GError **error)
{
  /* Refused at the limit's last byte unless it ends the line: libsoup
   * reads the limit's worth before the framing sees more. */
  if (self->chunk <= WEFT_CHUNK_SIZE_LF
      && ++self->chunk_line >= WEFT_CHUNK_LINE_MAX && c != '\n')
    return weft_chunked_bad (error, "a chunk size line is longer than 128 bytes "
                                    "(its extensions included)");
  switch (self->chunk)
    {
    case WEFT_CHUNK_SIZE:
      return weft_chunked_size_byte (self, c, error);
    case WEFT_CHUNK_EXT:
      if (c == '\n')
        return weft_chunked_sized (self);
      if (c == '\r')
        self->chunk = WEFT_CHUNK_SIZE_LF;
      return WEFT_CHUNKED_MORE;
    case WEFT_CHUNK_SIZE_LF:
      if (c != '\n')
        return weft_chunked_bad (error, "a chunk size line must end with CRLF");
      return weft_chunked_sized (self);
    case WEFT_CHUNK_DATA_CR:
    case WEFT_CHUNK_DATA_LF:
      return weft_chunked_data_end_byte (self, c, error);
    case WEFT_CHUNK_TRAILER:
    case WEFT_CHUNK_TRAILER_LINE:
    case WEFT_CHUNK_END_LF:
      return weft_chunked_trailer_byte (self, c, error);
    case WEFT_CHUNK_DATA:
    default:
      /* Data is taken by weft_chunked_take_data, never byte by byte. */
      g_return_val_if_reached (weft_chunked_bad (error, "the framing lost its place"));
    }
}

gsize
weft_chunked_take_data (WeftChunked *self, gsize n)
{
  gsize k;

  if (self->chunk != WEFT_CHUNK_DATA)
    return 0;
  k = (gsize) MIN ((guint64) n, self->remaining);
  self->remaining -= k;
  self->body_bytes += k;
  if (self->remaining == 0)
    self->chunk = WEFT_CHUNK_DATA_CR;
  return k;
}

gboolean
weft_chunked_in_trailers (const WeftChunked *self)
{
  return self->chunk == WEFT_CHUNK_TRAILER
         || self->chunk == WEFT_CHUNK_TRAILER_LINE
         || self->chunk == WEFT_CHUNK_END_LF;
}
