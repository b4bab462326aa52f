/* weft-server-chunked.c — a chunked request body's framing, as a
 * connection's input (weft-server-input.c) reads it: weft-chunked.c's
 * state machine, with what is wrong turned into the HTTP status to refuse
 * the request with.
 *
 * libsoup 3.2 takes a malformed chunk size for the end of the body, reads
 * a size line into 128 bytes and drops the connection past them, and
 * takes whatever line follows the last chunk for the end of the body.  So
 * the framing is followed before libsoup sees it: each size line is
 * checked (400), each size is counted against the body limit before its
 * data is read (413), each chunk's data must end with CRLF, and the
 * trailer fields after the last chunk are read to their empty line (the
 * input drops them).  What is wrong is returned as the HTTP status and a
 * message, as weft-server-head.c does for a head: the input answers. */
#include "weft-server-private.h"

void
weft_server_chunked_init (WeftChunked *self, guint64 max_body, guint max_headers)
{
  weft_chunked_init (self, max_body, max_headers);
}

guint
weft_server_chunked_byte (WeftChunked *self, guchar c, GError **error)
{
  switch (weft_chunked_byte (self, c, error))
    {
    case WEFT_CHUNKED_MORE:
      return 0;
    case WEFT_CHUNKED_ENDED:
      return WEFT_SERVER_CHUNKED_ENDED;
    case WEFT_CHUNKED_TOO_LARGE:
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "the request body is larger than %" G_GUINT64_FORMAT " bytes", self->max_body);
      return SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
    case WEFT_CHUNKED_BAD:
    default:
      return SOUP_STATUS_BAD_REQUEST;
    }
}

guint
weft_server_chunked_frame (WeftChunked *self, const guchar *data, gsize n, gsize *used,
                           GError **error)
{
  gsize i = 0;

  *used = 0;
  while (i < n && !weft_chunked_in_trailers (self))
    {
      gsize k = weft_chunked_take_data (self, n - i);
      if (k > 0)
        {
          i += k;
          continue;
        }
      guint status = weft_server_chunked_byte (self, data[i++], error);
      if (status != 0)
        return status;
    }
  *used = i;
  return 0;
}
