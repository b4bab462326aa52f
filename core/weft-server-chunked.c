/* weft-server-chunked.c — a chunked request body's framing, byte by byte,
 * as a connection's input (weft-server-input.c) reads it.
 *
 * libsoup 3.2 takes a malformed chunk size for the end of the body, reads
 * a size line into 128 bytes and drops the connection past them, and
 * takes whatever line follows the last chunk for the end of the body.  So
 * the framing is followed here before libsoup sees it: each size line is
 * checked (400), each size is counted against the body limit before its
 * data is read (413), each chunk's data must end with CRLF, and the
 * trailer fields after the last chunk are read to their empty line (the
 * input drops them).  What is wrong is returned as the HTTP status to
 * refuse the request with, and a message, as weft-server-head.c does for
 * a head: the input answers. */
#include "weft-server-private.h"

/* A chunk size line (its extensions and CRLF included) longer than this
 * is refused: libsoup 3.2 reads it into 128 bytes, and past them drops the
 * connection without an answer. */
#define WEFT_SERVER_CHUNK_LINE_MAX 128

void
weft_server_chunked_init (WeftServerChunked *self, guint64 max_body, guint max_headers)
{
  *self = (WeftServerChunked) {
    .chunk = WEFT_SERVER_CHUNK_SIZE,
    .max_body = max_body,
    .max_headers = max_headers,
  };
}

/* ---- refusing ---------------------------------------------------------------------- */

static guint
weft_server_chunked_too_large (WeftServerChunked *self, GError **error)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "the request body is larger than %" G_GUINT64_FORMAT " bytes", self->max_body);
  return SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
}

static guint
weft_server_chunked_bad (GError **error, const char *what)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "malformed chunked body: %s", what);
  return SOUP_STATUS_BAD_REQUEST;
}

/* ---- the framing ------------------------------------------------------------------- */

/* The size line is in: data follows, or the trailers. */
static guint
weft_server_chunked_sized (WeftServerChunked *self)
{
  if (self->chunk_size == 0)
    {
      self->chunk = WEFT_SERVER_CHUNK_TRAILER;
      self->chunk_aside = 0;
      return 0;
    }
  self->remaining = self->chunk_size;
  self->chunk = WEFT_SERVER_CHUNK_DATA;
  return 0;
}

static guint
weft_server_chunked_size_byte (WeftServerChunked *self, guchar c, GError **error)
{
  if (g_ascii_isxdigit (c))
    {
      if (self->chunk_size > G_MAXUINT64 / 16)
        return weft_server_chunked_too_large (self, error);
      self->chunk_size = self->chunk_size * 16 + (guint64) g_ascii_xdigit_value ((char) c);
      self->chunk_digits++;
      /* Refused as soon as it would pass the limit, before its data. */
      if (self->chunk_size > self->max_body - self->body_bytes)
        return weft_server_chunked_too_large (self, error);
      return 0;
    }
  if (self->chunk_digits == 0)
    return weft_server_chunked_bad (error, "a chunk must start with its size in hexadecimal");
  if (c == ';' || c == ' ' || c == '\t')
    self->chunk = WEFT_SERVER_CHUNK_EXT;
  else if (c == '\r')
    self->chunk = WEFT_SERVER_CHUNK_SIZE_LF;
  else if (c == '\n')
    return weft_server_chunked_sized (self);
  else
    return weft_server_chunked_bad (error, "a chunk size must be hexadecimal digits");
  return 0;
}

/* A chunk's data has ended: CRLF, then the next size line. */
static guint
weft_server_chunked_data_end_byte (WeftServerChunked *self, guchar c, GError **error)
{
  if (self->chunk == WEFT_SERVER_CHUNK_DATA_CR && c == '\r')
    {
      self->chunk = WEFT_SERVER_CHUNK_DATA_LF;
      return 0;
    }
  if (c != '\n')
    return weft_server_chunked_bad (error, "a chunk's data must end with CRLF");
  self->chunk = WEFT_SERVER_CHUNK_SIZE;
  self->chunk_size = 0;
  self->chunk_digits = 0;
  self->chunk_line = 0;
  return 0;
}

/* After the last chunk's size line: trailer fields up to an empty line. */
static guint
weft_server_chunked_trailer_byte (WeftServerChunked *self, guchar c, GError **error)
{
  switch (self->chunk)
    {
    case WEFT_SERVER_CHUNK_TRAILER:
      if (c == '\n')
        return WEFT_SERVER_CHUNKED_ENDED;
      self->chunk = c == '\r' ? WEFT_SERVER_CHUNK_END_LF : WEFT_SERVER_CHUNK_TRAILER_LINE;
      return 0;
    case WEFT_SERVER_CHUNK_TRAILER_LINE:
      if (c == '\n')
        self->chunk = WEFT_SERVER_CHUNK_TRAILER;
      else if (++self->chunk_aside > self->max_headers)
        return weft_server_chunked_bad (error, "the trailers are too long");
      return 0;
    default:
      if (c != '\n')
        return weft_server_chunked_bad (error, "the last chunk must end with CRLF");
      return WEFT_SERVER_CHUNKED_ENDED;
    }
}

guint
weft_server_chunked_byte (WeftServerChunked *self, guchar c, GError **error)
{
  /* Refused at the limit's last byte unless it ends the line: libsoup
   * reads the limit's worth before the framing sees more. */
  if (self->chunk <= WEFT_SERVER_CHUNK_SIZE_LF
      && ++self->chunk_line >= WEFT_SERVER_CHUNK_LINE_MAX && c != '\n')
    return weft_server_chunked_bad (error, "a chunk size line is longer than 128 bytes "
                                           "(its extensions included)");
  switch (self->chunk)
    {
    case WEFT_SERVER_CHUNK_SIZE:
      return weft_server_chunked_size_byte (self, c, error);
    case WEFT_SERVER_CHUNK_EXT:
      if (c == '\n')
        return weft_server_chunked_sized (self);
      if (c == '\r')
        self->chunk = WEFT_SERVER_CHUNK_SIZE_LF;
      return 0;
    case WEFT_SERVER_CHUNK_SIZE_LF:
      if (c != '\n')
        return weft_server_chunked_bad (error, "a chunk size line must end with CRLF");
      return weft_server_chunked_sized (self);
    case WEFT_SERVER_CHUNK_DATA_CR:
    case WEFT_SERVER_CHUNK_DATA_LF:
      return weft_server_chunked_data_end_byte (self, c, error);
    case WEFT_SERVER_CHUNK_TRAILER:
    case WEFT_SERVER_CHUNK_TRAILER_LINE:
    case WEFT_SERVER_CHUNK_END_LF:
      return weft_server_chunked_trailer_byte (self, c, error);
    case WEFT_SERVER_CHUNK_DATA:
    default:
      /* Data is counted by weft_server_chunked_frame, never byte by byte. */
      g_return_val_if_reached (weft_server_chunked_bad (error, "the framing lost its place"));
    }
}

gboolean
weft_server_chunked_in_trailers (const WeftServerChunked *self)
{
  return self->chunk == WEFT_SERVER_CHUNK_TRAILER
         || self->chunk == WEFT_SERVER_CHUNK_TRAILER_LINE
         || self->chunk == WEFT_SERVER_CHUNK_END_LF;
}

guint
weft_server_chunked_frame (WeftServerChunked *self, const guchar *data, gsize n, gsize *used,
                           GError **error)
{
  gsize i = 0;

  *used = 0;
  while (i < n && !weft_server_chunked_in_trailers (self))
    {
      if (self->chunk == WEFT_SERVER_CHUNK_DATA)
        {
          gsize k = (gsize) MIN ((guint64) (n - i), self->remaining);
          self->remaining -= k;
          self->body_bytes += k;
          i += k;
          if (self->remaining == 0)
            self->chunk = WEFT_SERVER_CHUNK_DATA_CR;
          continue;
        }
      guint status = weft_server_chunked_byte (self, data[i++], error);
      if (status != 0)
        return status;
    }
  *used = i;
  return 0;
}
