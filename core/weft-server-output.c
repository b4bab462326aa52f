/* weft-server-output.c — the bytes of a connection that libsoup writes.
 *
 * libsoup writes a response as far as the socket takes it and then waits
 * for the socket to be writable, for as long as it takes: a client that
 * never reads holds its connection forever.  So its writes go through
 * this stream, which tells the connection (weft-server-conn.c) whether
 * they move: one that takes nothing starts the send-stall deadline, one
 * that takes something stops it.  A quiet response (an event stream with
 * nothing to send) writes nothing, and so is never timed.  When the
 * deadline passes, the connection fails the stream: the writer that waits
 * is woken and its write fails, and libsoup lets the connection go. */
#include "weft-server-private.h"

struct _WeftServerOutput {
  GOutputStream parent;
  GOutputStream *base;        /* the socket's; pollable */
  const WeftServerOutputEvents *events;
  gpointer owner;             /* the connection; NULL once it is gone */
  GCancellable *wake;         /* cancelled when the stream fails */
  char *failure;              /* NULL while writes go through */
};

static void weft_server_output_pollable_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (WeftServerOutput, weft_server_output, G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      weft_server_output_pollable_init))

/* A write's outcome, told to the connection. */
static void
weft_server_output_note (WeftServerOutput *self, gssize n, const GError *error)
{
  if (self->owner == NULL)
    return;
  if (n > 0)
    self->events->moved (self->owner);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    self->events->blocked (self->owner);
}

static gboolean
weft_server_output_failed (WeftServerOutput *self, GError **error)
{
  if (self->failure == NULL)
    return FALSE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, self->failure);
  return TRUE;
}

static gssize
weft_server_output_write (GOutputStream *stream, const void *buffer, gsize count,
                          GCancellable *cancellable, GError **error)
{
  WeftServerOutput *self = WEFT_SERVER_OUTPUT (stream);

  if (weft_server_output_failed (self, error))
    return -1;
  return g_output_stream_write (self->base, buffer, count, cancellable, error);
}

static gssize
weft_server_output_write_nonblocking (GPollableOutputStream *stream, const void *buffer,
                                      gsize count, GError **error)
{
  WeftServerOutput *self = WEFT_SERVER_OUTPUT (stream);
  GError *local = NULL;

  if (weft_server_output_failed (self, error))
    return -1;
  gssize n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (self->base),
                                                         buffer, count, NULL, &local);
  if (count > 0)
    weft_server_output_note (self, n, local);
  if (local)
    g_propagate_error (error, local);
  return n;
}

static gboolean
weft_server_output_can_poll (GPollableOutputStream *stream)
{
  return TRUE;
}

static gboolean
weft_server_output_is_writable (GPollableOutputStream *stream)
{
  WeftServerOutput *self = WEFT_SERVER_OUTPUT (stream);

  /* Failed: the next write says so at once. */
  return self->failure
         || g_pollable_output_stream_is_writable (G_POLLABLE_OUTPUT_STREAM (self->base));
}

/* Ready when the socket is writable, or the stream has failed. */
static GSource *
weft_server_output_create_source (GPollableOutputStream *stream, GCancellable *cancellable)
{
  WeftServerOutput *self = WEFT_SERVER_OUTPUT (stream);
  g_autoptr(GSource) writable =
    g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (self->base), NULL);
  g_autoptr(GSource) failed = g_cancellable_source_new (self->wake);
  GSource *source = g_pollable_source_new_full (stream, writable, cancellable);

  g_source_set_dummy_callback (failed);
  g_source_add_child_source (source, failed);
  return source;
}

/* The socket is the connection's to close. */
static gboolean
weft_server_output_close_fn (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

static void
weft_server_output_finalize (GObject *object)
{
  WeftServerOutput *self = WEFT_SERVER_OUTPUT (object);

  g_clear_object (&self->base);
  g_clear_object (&self->wake);
  g_free (self->failure);
  G_OBJECT_CLASS (weft_server_output_parent_class)->finalize (object);
}

static void
weft_server_output_init (WeftServerOutput *self)
{
  self->wake = g_cancellable_new ();
}

static void
weft_server_output_class_init (WeftServerOutputClass *klass)
{
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = weft_server_output_finalize;
  stream_class->write_fn = weft_server_output_write;
  stream_class->close_fn = weft_server_output_close_fn;
}

static void
weft_server_output_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = weft_server_output_can_poll;
  iface->is_writable = weft_server_output_is_writable;
  iface->create_source = weft_server_output_create_source;
  iface->write_nonblocking = weft_server_output_write_nonblocking;
}

WeftServerOutput *
weft_server_output_new (GOutputStream *base, const WeftServerOutputEvents *events,
                        gpointer owner)
{
  WeftServerOutput *self = g_object_new (WEFT_TYPE_SERVER_OUTPUT, NULL);

  self->base = g_object_ref (base);
  self->events = events;
  self->owner = owner;
  return self;
}

void
weft_server_output_fail (WeftServerOutput *self, const char *message)
{
  if (self->failure)
    return;
  self->failure = g_strdup (message);
  g_cancellable_cancel (self->wake);
}

void
weft_server_output_detach (WeftServerOutput *self)
{
  self->owner = NULL;
}
