/* weft-test-http.h — a SoupServer on 127.0.0.1 for tests that need one
 * (a webhook receiver, a site for http-get).  Connections are accepted
 * here and handed to the server rather than through
 * soup_server_listen_local(): libsoup 3.2's own listener leaks every socket
 * it accepts, which the sanitizer build would report. */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

/* Sees each accepted client socket (to watch it close, say). */
typedef void (*WeftTestAccepted) (GSocket *client, gpointer data);

typedef struct {
  SoupServer *server;
  GSocket *listener;
  GSource *source;
  guint port;
  WeftTestAccepted accepted;
  gpointer data;
} WeftTestListener;

static inline gboolean
weft_test_listener_accept (GSocket *socket, GIOCondition condition, gpointer data)
{
  WeftTestListener *l = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) client = g_socket_accept (socket, NULL, &error);

  if (client == NULL)
    return G_SOURCE_CONTINUE;
  g_autoptr(GSocketConnection) connection = g_socket_connection_factory_create_connection (client);
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (client, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address (client, NULL);
  if (l->accepted)
    l->accepted (client, l->data);
  if (!soup_server_accept_iostream (l->server, G_IO_STREAM (connection), local, remote, &error))
    g_error ("test server: %s", error->message);
  return G_SOURCE_CONTINUE;
}

/* Serves `server` (taken) on a free port of 127.0.0.1, accepting in
 * `context`; `accepted` may be NULL. */
static inline void
weft_test_listener_start (WeftTestListener *l, SoupServer *server, GMainContext *context,
                          WeftTestAccepted accepted, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);

  l->server = server;
  l->accepted = accepted;
  l->data = data;
  l->listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                              G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (l->listener, FALSE);
  if (!g_socket_bind (l->listener, any, TRUE, &error) || !g_socket_listen (l->listener, &error))
    g_error ("test server: %s", error->message);
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address (l->listener, &error);
  g_assert_no_error (error);
  l->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  l->source = g_socket_create_source (l->listener, G_IO_IN, NULL);
  g_source_set_callback (l->source, G_SOURCE_FUNC (weft_test_listener_accept), l, NULL);
  g_source_attach (l->source, context);
}

/* Stops accepting, disconnects and frees the server, closes the listener,
 * and lets `context` finish closing the connections: their last
 * references stay with their sources until it has. */
static inline void
weft_test_listener_stop (WeftTestListener *l, GMainContext *context)
{
  g_source_destroy (l->source);
  g_clear_pointer (&l->source, g_source_unref);
  soup_server_disconnect (l->server);
  g_clear_object (&l->server);
  g_socket_close (l->listener, NULL);
  g_clear_object (&l->listener);
  while (g_main_context_iteration (context, FALSE))
    ;
}
