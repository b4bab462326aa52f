/* weft-chunked.h — HTTP/1.1 chunked framing, byte by byte (weft-chunked.c):
 * shared by the server, which checks a request body's framing before
 * libsoup reads it (weft-server-chunked.c), and the HTTP client's lean
 * transport, which takes an answer's data out of it (weft-http-wire.c). */
#pragma once

#include <glib.h>

/* What a byte of the framing did. */
typedef enum {
  WEFT_CHUNKED_MORE,                  /* the body goes on */
  WEFT_CHUNKED_ENDED,                 /* this byte ended the trailers, and the body */
  WEFT_CHUNKED_BAD,                   /* the framing is wrong: `error` says how */
  WEFT_CHUNKED_TOO_LARGE,             /* a chunk's size passes max_body */
} WeftChunkedStep;

/* Where a chunked body is. */
typedef enum {
  WEFT_CHUNK_SIZE,                    /* hex digits of a chunk's size */
  WEFT_CHUNK_EXT,                     /* ";name=value" after the size, skipped */
  WEFT_CHUNK_SIZE_LF,                 /* the size line's CR came, its LF must */
  WEFT_CHUNK_DATA,
  WEFT_CHUNK_DATA_CR,                 /* a chunk's data ends with CRLF */
  WEFT_CHUNK_DATA_LF,
  WEFT_CHUNK_TRAILER,                 /* at the start of a trailer line */
  WEFT_CHUNK_TRAILER_LINE,
  WEFT_CHUNK_END_LF,                  /* the last empty line's CR came */
} WeftChunk;

typedef struct {
  WeftChunk chunk;
  guint64 max_body;
  gsize max_trailers;         /* bytes of trailer fields */
  guint64 remaining;          /* of the chunk's data */
  guint64 body_bytes;         /* data so far */
  guint chunk_digits;
  guint64 chunk_size;
  guint chunk_line;           /* bytes of the size line so far */
  gsize chunk_aside;          /* bytes of the trailers */
} WeftChunked;

/* A body starts. */
void weft_chunked_init (WeftChunked *self, guint64 max_body, gsize max_trailers);
/* One byte of the framing around the data (a size line, a data's CRLF, the
 * trailers); never called inside a chunk's data (weft_chunked_take_data). */
WeftChunkedStep weft_chunked_byte (WeftChunked *self, guchar c, GError **error);
/* Inside a chunk's data: takes up to `n` bytes of it and returns how many
 * (0 when the framing is next). */
gsize weft_chunked_take_data (WeftChunked *self, gsize n);
/* After the last chunk's size line: the trailer fields are next. */
gboolean weft_chunked_in_trailers (const WeftChunked *self);
