/* fuzz-http-response.c — libFuzzer on what a server answers, as weft's
 * lean HTTP transport reads it (core/weft-http-wire.c): the head line by
 * line through weft_http_response_add_line, the framing (Content-Length,
 * chunks through core/weft-chunked.c, to the close), the body under a
 * limit, interim 1xx heads, bytes after the answer.
 *
 * Each input is one byte of options, then the answer.  The options: a
 * HEAD request or not (bit 0), the body limit (bits 1-2: 16 bytes, 1 KiB,
 * 64 KiB, 8 MiB), and how the answer is cut into reads (bits 3-7).  The
 * answer is read twice, whole and in those pieces (an incomplete head
 * line is kept aside and handed again with the next read, as
 * weft-http-lean.c does), and both reads must say the same: the same end
 * (complete, cut, refused, or waiting for more), the same status and body,
 * the same reason.  Besides crashes, leaks and undefined behaviour, it
 * aborts when a reason is not short valid UTF-8 or a complete answer's
 * head passed 256 KiB. */
#include "weft-fuzz.h"
#include "weft-http-private.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
  GByteArray *body;
  gsize max_body;
} Sink;

static gsize
take (const guint8 *data, gsize n, gpointer user_data)
{
  Sink *sink = user_data;
  gsize k = MIN (n, sink->max_body - sink->body->len);

  g_byte_array_append (sink->body, data, (guint) k);
  return k;
}

typedef struct {
  WeftHttpWireResult result;    /* MORE: the answer ended without its end */
  gboolean ended_ok;            /* MORE, then the close completed it */
  guint status;
  GByteArray *body;
  char *reason;
} Reading;

static void
reading_clear (Reading *r)
{
  g_byte_array_unref (r->body);
  g_free (r->reason);
}

/* Reads `answer` in pieces of `piece` bytes (all of it at once for 0). */
static void
read_answer (const guint8 *answer, gsize size, gsize piece, gboolean head_request,
             gsize max_body, Reading *r)
{
  g_autoptr(WeftHttpResponse) response = weft_http_response_new ();
  g_autoptr(GByteArray) kept = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  Sink sink = { g_byte_array_new (), max_body };
  WeftHttpWire wire;
  gsize at = 0;

  weft_http_wire_init (&wire, response, head_request, take, &sink);
  r->result = WEFT_HTTP_WIRE_MORE;
  while (at < size && r->result == WEFT_HTTP_WIRE_MORE)
    {
      gsize n = piece == 0 ? size - at : MIN (piece, size - at), used = 0;

      g_byte_array_append (kept, answer + at, (guint) n);
      at += n;
      r->result = weft_http_wire_feed (&wire, kept->data, kept->len, &used, &error);
      if (used > kept->len)
        weft_fuzz_fail ("the wire used %zu of %u bytes", used, kept->len);
      g_byte_array_remove_range (kept, 0, (guint) used);
    }
  if (r->result == WEFT_HTTP_WIRE_MORE)
    r->ended_ok = weft_http_wire_end (&wire, &error);
  if (error != NULL)
    r->reason = g_strdup (error->message);
  r->status = weft_http_response_get_status (response);
  r->body = sink.body;
  if (r->result == WEFT_HTTP_WIRE_DONE && wire.head_bytes > WEFT_HTTP_MAX_HEAD)
    weft_fuzz_fail ("a head of %zu bytes was taken", wire.head_bytes);
}

static void
check_reason (const char *reason)
{
  if (reason == NULL)
    return;
  if (!g_utf8_validate (reason, -1, NULL) || strlen (reason) > 200)
    weft_fuzz_fail ("a reason that is not short UTF-8: %s", reason);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const gsize limits[] = { 16, 1024, 64 * 1024, 8 * 1024 * 1024 };
  Reading whole = { 0 }, pieces = { 0 };
  gboolean head_request;
  gsize max_body, piece;

  if (size < 1)
    return 0;
  head_request = data[0] & 1;
  max_body = limits[(data[0] >> 1) & 3];
  piece = (gsize) (data[0] >> 3) + 1;
  read_answer (data + 1, size - 1, 0, head_request, max_body, &whole);
  read_answer (data + 1, size - 1, piece, head_request, max_body, &pieces);
  check_reason (whole.reason);
  check_reason (pieces.reason);
  if (whole.result != pieces.result || whole.ended_ok != pieces.ended_ok
      || whole.status != pieces.status || g_strcmp0 (whole.reason, pieces.reason) != 0
      || whole.body->len != pieces.body->len
      || (whole.body->len > 0 && memcmp (whole.body->data, pieces.body->data, whole.body->len) != 0))
    weft_fuzz_fail ("read whole and in pieces of %zu, the answer differs: %d/%d, %u/%u, "
                    "%s/%s, %u/%u body bytes", piece, whole.result, pieces.result, whole.status,
                    pieces.status, whole.reason, pieces.reason, whole.body->len, pieces.body->len);
  reading_clear (&whole);
  reading_clear (&pieces);
  return 0;
}
