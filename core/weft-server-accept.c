/* weft-server-accept.c — listening: accepting connections on the
 * server's own socket (libsoup 3.2's listener leaks every socket it
 * accepts), within the connection cap, and backing off when accepting
 * fails; and the address to listen on.
 *
 * Accepting stops at the connection cap and resumes when one closes.  An
 * accept error (out of descriptors) pauses it for the back-off, rather
 * than retrying as fast as the loop turns; the warning is logged at most
 * every 10 s.  Each accepted socket goes to weft-server-conn.c. */
#include "weft-server-private.h"

#include <string.h>

#define WEFT_SERVER_ACCEPT_WARN_US (10 * G_USEC_PER_SEC)

/* ---- accepting ---------------------------------------------------------------------- */

static void
weft_server_drop_source (GSource **source)
{
  if (*source)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
weft_server_accept_pause (WeftServer *server)
{
  weft_server_drop_source (&server->accept_source);
}

static gboolean
weft_server_on_backoff_done (gpointer data)
{
  WeftServer *server = data;

  g_clear_pointer (&server->backoff, g_source_unref);
  weft_server_accept_resume (server);
  return G_SOURCE_REMOVE;
}

/* Out of descriptors (or any other accept error): trying again at once
 * would fail again, as fast as the loop turns. */
static void
weft_server_accept_back_off (WeftServer *server, const GError *error)
{
  gint64 now = g_get_monotonic_time ();

  weft_server_accept_pause (server);
  if (server->accept_warned_us == 0 || now - server->accept_warned_us >= WEFT_SERVER_ACCEPT_WARN_US)
    {
      g_autofree char *since = server->accept_errors
        ? g_strdup_printf (" (%u more since the last such warning)", server->accept_errors)
        : g_strdup ("");
      g_warning ("accepting a connection: %s; accepting pauses for %u ms at a time while it "
                 "lasts, warned at most every %d s%s", error->message, server->accept_backoff_ms,
                 (int) (WEFT_SERVER_ACCEPT_WARN_US / G_USEC_PER_SEC), since);
      server->accept_warned_us = now;
      server->accept_errors = 0;
    }
  server->accept_errors++;
  server->backoff = g_timeout_source_new (server->accept_backoff_ms);
  g_source_set_callback (server->backoff, weft_server_on_backoff_done, server, NULL);
  g_source_attach (server->backoff, weft_engine_get_main_context (server->engine));
}

static gboolean
weft_server_on_accept (GSocket *listener, GIOCondition condition, gpointer data)
{
  WeftServer *server = data;

  /* All that are waiting: a burst of connections costs one wakeup. */
  while (g_hash_table_size (server->conns) < server->max_connections)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) client = g_socket_accept (listener, NULL, &error);

      if (client == NULL)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return G_SOURCE_CONTINUE;
          weft_server_accept_back_off (server, error);
          return G_SOURCE_REMOVE;
        }
      weft_server_conn_start (server, client, weft_server_accept_resume);
    }
  /* At the cap: the rest wait in the backlog until a connection closes. */
  weft_server_accept_pause (server);
  return G_SOURCE_REMOVE;
}

void
weft_server_accept_resume (WeftServer *server)
{
  if (server->listener == NULL || server->accept_source || server->backoff || server->stopping
      || g_hash_table_size (server->conns) >= server->max_connections)
    return;
  server->accept_source = g_socket_create_source (server->listener, G_IO_IN, NULL);
  g_source_set_callback (server->accept_source, G_SOURCE_FUNC (weft_server_on_accept), server,
                         NULL);
  g_source_attach (server->accept_source, weft_engine_get_main_context (server->engine));
}

void
weft_server_accept_stop (WeftServer *server)
{
  weft_server_accept_pause (server);
  weft_server_drop_source (&server->backoff);
  if (server->listener)
    {
      g_socket_close (server->listener, NULL);
      g_clear_object (&server->listener);
    }
}

/* ---- the address to listen on ---------------------------------------------------- */

/* The port of "HOST:PORT" or "[IPV6]:PORT", checked, so that a wrong one
 * is not reported as a wrong address. */
static gboolean
weft_server_check_port (const char *address, GError **error)
{
  const char *bracket = strrchr (address, ']');
  const char *colon = strchr (address, ':');
  const char *port;
  guint64 value = 0;

  if (address[0] == '[' && bracket && bracket[1] == ':')
    port = bracket + 2;
  else if (address[0] != '[' && colon && colon == strrchr (address, ':'))
    port = colon + 1;
  else
    return TRUE;                /* no port, or a bare IPv6 address */
  if (*port == '\0' || strspn (port, "0123456789") != strlen (port) || strlen (port) > 5
      || (value = g_ascii_strtoull (port, NULL, 10)) > 65535)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "listen address \"%s\": the port must be a number from 0 to 65535, not "
                   "\"%s\"", address, port);
      return FALSE;
    }
  return TRUE;
}

GSocketAddress *
weft_server_parse_address (const char *address, GError **error)
{
  g_autoptr(GSocketConnectable) parsed = NULL;
  g_autoptr(GInetAddress) ip = NULL;

  if (!weft_server_check_port (address, error))
    return NULL;
  parsed = g_network_address_parse (address, 8080, NULL);
  if (parsed == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "listen address \"%s\": expected HOST:PORT (an IP address or localhost)",
                   address);
      return NULL;
    }
  const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed));
  guint16 port = g_network_address_get_port (G_NETWORK_ADDRESS (parsed));
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    ip = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  else
    ip = g_inet_address_new_from_string (host);
  if (ip == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "listen address \"%s\": \"%s\" is not an IP address (or localhost)",
                   address, host);
      return NULL;
    }
  return g_inet_socket_address_new (ip, port);
}
