/* weft-mock-llm-raw.c — answers the mock writes byte for byte on a
 * connection taken from libsoup's server (weft_mock_llm_push_raw()).
 *
 * libsoup's server only sends what HTTP allows: a body as long as its
 * Content-Length says, a status it knows.  A broken gateway or a server
 * that dies mid-answer does neither, and a client must survive both: so
 * these answers are written by hand, after the connection is stolen.
 *
 * Everything runs on the worker's context (the thread-default one when
 * the write starts).  The write owns itself: it ends with its last
 * callback, whether it finished (then `done` is called) or was cancelled.
 */
#include "weft-mock-llm-private.h"

#include <libsoup/soup.h>

struct _WeftMockRawWrite {
  GIOStream *stream;
  GBytes *bytes;
  GCancellable *cancellable;
  gboolean hold;
  WeftMockRawDone done;      /* NULL once cancelled */
  gpointer data;
};

GBytes *
weft_mock_raw_response (guint status, const char *content_type, const char *body, gsize length,
                        gssize declared)
{
  GString *out = g_string_new (NULL);

  /* libsoup's phrase: "Unknown Error" for a status it does not know. */
  g_string_append_printf (out, "HTTP/1.1 %u %s\r\nServer: weft-mock-llm\r\n", status,
                          soup_status_get_phrase (status));
  if (content_type != NULL)
    g_string_append_printf (out, "Content-Type: %s\r\n", content_type);
  if (declared != WEFT_MOCK_LLM_NO_LENGTH)
    g_string_append_printf (out, "Content-Length: %" G_GSIZE_FORMAT "\r\n",
                            declared < 0 ? length : (gsize) declared);
  g_string_append (out, "Connection: close\r\n\r\n");
  if (length > 0)
    g_string_append_len (out, body, (gssize) length);
  return g_string_free_to_bytes (out);
}

static void
raw_write_end (WeftMockRawWrite *w)
{
  if (w->done != NULL)
    w->done (w->data);
  g_object_unref (w->stream);
  g_bytes_unref (w->bytes);
  g_object_unref (w->cancellable);
  g_free (w);
}

static void raw_wait_close (WeftMockRawWrite *w);

/* Held: whatever the client sends is ignored; its end (or an error) is
 * the connection's. */
static void
raw_read_done (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftMockRawWrite *w = data;
  g_autoptr(GBytes) got = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, NULL);

  if (got != NULL && g_bytes_get_size (got) > 0 && w->done != NULL)
    raw_wait_close (w);
  else
    raw_write_end (w);
}

static void
raw_wait_close (WeftMockRawWrite *w)
{
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (w->stream), 4096,
                                   G_PRIORITY_DEFAULT, w->cancellable, raw_read_done, w);
}

static void
raw_written (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftMockRawWrite *w = data;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);

  if (ok && w->hold && w->done != NULL)
    raw_wait_close (w);
  else
    raw_write_end (w);
}

WeftMockRawWrite *
weft_mock_raw_write_start (GIOStream *stream, GBytes *bytes, gboolean hold, WeftMockRawDone done,
                           gpointer data)
{
  WeftMockRawWrite *w = g_new0 (WeftMockRawWrite, 1);
  gsize size = 0;
  const void *bytes_data = g_bytes_get_data (bytes, &size);

  w->stream = g_object_ref (stream);
  w->bytes = g_bytes_ref (bytes);
  w->cancellable = g_cancellable_new ();
  w->hold = hold;
  w->done = done;
  w->data = data;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), bytes_data, size,
                                   G_PRIORITY_DEFAULT, w->cancellable, raw_written, w);
  return w;
}

void
weft_mock_raw_write_cancel (WeftMockRawWrite *w)
{
  w->done = NULL;
  g_cancellable_cancel (w->cancellable);
}
