/* weft-server.c — `weft serve`'s server as weft.h gives it: made from its
 * options, given flows and stores, listening, stopped and freed.
 *
 * These are the only server functions called from other threads; each
 * hops onto the engine loop, where the rest of the server lives (its
 * files are mapped in weft-server-private.h).  Making it attaches a
 * SoupServer to the loop, with the route handler (weft-server-routes.c),
 * and registers the engine listener that feeds the event streams.
 * Stopping closes the listener, waits up to the grace period for the runs
 * in flight, cancels the rest, lets the event streams send their last
 * frames, and then closes every connection. */
#include "weft-server-private.h"

#include <gio/gunixsocketaddress.h>

#define WEFT_SERVER_MAX_BODY_DEFAULT (1024 * 1024)
#define WEFT_SERVER_KEEP_RUNS_DEFAULT 1000
#define WEFT_SERVER_KEEP_S_DEFAULT 3600
#define WEFT_SERVER_MAX_RUNS_DEFAULT 10000
#define WEFT_SERVER_HEADER_TIMEOUT_DEFAULT 10
#define WEFT_SERVER_BODY_TIMEOUT_DEFAULT 60
#define WEFT_SERVER_IDLE_TIMEOUT_DEFAULT 30
#define WEFT_SERVER_WRITE_TIMEOUT_DEFAULT 60
#define WEFT_SERVER_MAX_CONNECTIONS_DEFAULT 1000
#define WEFT_SERVER_ACCEPT_BACKOFF_DEFAULT 500
#define WEFT_SERVER_MAX_URL_DEFAULT 8192
#define WEFT_SERVER_MAX_HEADERS_DEFAULT 32768

/* ---- lifetime ----------------------------------------------------------------------- */

/* libsoup 3.2 keeps a connection alive after a response only when the
 * server has a listener of its own, and its listener leaks every socket it
 * accepts.  So the server accepts on its own socket (weft-server-conn.c)
 * and gives libsoup one that nobody connects to: a Unix socket with a
 * random abstract name. */
static void
weft_server_park_listener (WeftServer *server)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *name = g_strdup_printf ("weft-serve-%s", uuid);
  g_autoptr(GSocketAddress) address =
    g_unix_socket_address_new_with_type (name, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
  g_autoptr(GSocket) parked = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, &error);

  if (parked == NULL || !g_socket_bind (parked, address, FALSE, &error)
      || !g_socket_listen (parked, &error)
      || !soup_server_listen_socket (server->soup, parked, 0, &error))
    {
      g_warning ("HTTP keep-alive is off: %s", error->message);
      return;
    }
  server->parked = g_steal_pointer (&parked);
}

static gboolean
weft_server_create_on_loop (gpointer data)
{
  WeftServer *server = data;

  server->soup = soup_server_new ("server-header", "weft", NULL);
  weft_server_park_listener (server);
  soup_server_add_handler (server->soup, NULL, weft_server_handle, server, NULL);
  weft_server_conns_init (server);
  weft_server_runs_init (server);
  weft_server_streams_init (server);
  weft_server_feed_init (server);
  weft_server_graphs_init (server);
  weft_server_threads_init (server);
  return G_SOURCE_REMOVE;
}

WeftServer *
weft_server_new (WeftEngine *engine, const WeftServerOptions *options)
{
  WeftServer *server = g_new0 (WeftServer, 1);
  static const WeftServerOptions defaults = { 0 };

  if (options == NULL)
    options = &defaults;
  server->engine = weft_engine_ref (engine);
  server->token = options->token && *options->token ? g_strdup (options->token) : NULL;
  server->limits.max_body = options->max_body ? options->max_body : WEFT_SERVER_MAX_BODY_DEFAULT;
  server->limits.max_url = options->max_url ? options->max_url : WEFT_SERVER_MAX_URL_DEFAULT;
  server->limits.max_headers = MIN (options->max_headers ? options->max_headers
                                                         : WEFT_SERVER_MAX_HEADERS_DEFAULT,
                                    WEFT_SERVER_MAX_HEADERS_LIMIT);
  server->keep_runs = options->keep_runs ? options->keep_runs : WEFT_SERVER_KEEP_RUNS_DEFAULT;
  server->keep_s = options->keep_s ? options->keep_s : WEFT_SERVER_KEEP_S_DEFAULT;
  server->max_runs = options->max_runs ? options->max_runs : WEFT_SERVER_MAX_RUNS_DEFAULT;
  server->header_timeout_s = options->header_timeout_s ? options->header_timeout_s
                                                       : WEFT_SERVER_HEADER_TIMEOUT_DEFAULT;
  server->body_timeout_s = options->body_timeout_s ? options->body_timeout_s
                                                   : WEFT_SERVER_BODY_TIMEOUT_DEFAULT;
  server->idle_timeout_s = options->idle_timeout_s ? options->idle_timeout_s
                                                   : WEFT_SERVER_IDLE_TIMEOUT_DEFAULT;
  server->write_timeout_s = options->write_timeout_s ? options->write_timeout_s
                                                     : WEFT_SERVER_WRITE_TIMEOUT_DEFAULT;
  server->max_connections = options->max_connections ? options->max_connections
                                                     : WEFT_SERVER_MAX_CONNECTIONS_DEFAULT;
  server->accept_backoff_ms = options->accept_backoff_ms ? options->accept_backoff_ms
                                                         : WEFT_SERVER_ACCEPT_BACKOFF_DEFAULT;
  server->flows = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) weft_flow_unref);
  server->stores = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_store_free);
  weft_engine_set_task_retention (engine, server->keep_runs, server->keep_s);
  weft_engine_invoke_sync (engine, weft_server_create_on_loop, server);
  server->listener_id = weft_engine_add_listener (engine, weft_server_on_event, server, NULL);
  server->thread_listener_id = weft_engine_add_listener (engine, weft_server_threads_on_event,
                                                         server, NULL);
  return server;
}

gboolean
weft_server_add_flow (WeftServer *server, WeftFlow *flow, GError **error)
{
  WeftFlow *other = g_hash_table_lookup (server->flows, weft_flow_get_name (flow));

  if (other != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE,
                   "%s: a flow named \"%s\" is already served (from %s)",
                   weft_flow_get_origin (flow), weft_flow_get_name (flow),
                   weft_flow_get_origin (other));
      return FALSE;
    }
  g_hash_table_insert (server->flows, (char *) weft_flow_get_name (flow), weft_flow_ref (flow));
  WeftStore *store = weft_flow_dup_store (flow);
  if (store)
    weft_server_add_store (server, store);
  return TRUE;
}

void
weft_server_add_store (WeftServer *server, WeftStore *store)
{
  g_ptr_array_add (server->stores, store);
}

void
weft_server_set_queue (WeftServer *server, WeftStore *store)
{
  g_return_if_fail (weft_store_has_queue (store) && server->queue == NULL);
  server->queue = store;
  weft_server_add_store (server, store);
}

typedef struct {
  WeftServer *server;
  GSocketAddress *address;
  GError *error;
} WeftServerListen;

static gboolean
weft_server_listen_on_loop (gpointer data)
{
  WeftServerListen *l = data;
  WeftServer *server = l->server;
  g_autoptr(GSocket) listener = g_socket_new (g_socket_address_get_family (l->address),
                                              G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                              &l->error);

  if (listener == NULL)
    return G_SOURCE_REMOVE;
  g_socket_set_blocking (listener, FALSE);
  g_socket_set_listen_backlog (listener, 1024);
  if (!g_socket_bind (listener, l->address, TRUE, &l->error)
      || !g_socket_listen (listener, &l->error))
    return G_SOURCE_REMOVE;
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address (listener, &l->error);
  if (bound == NULL)
    return G_SOURCE_REMOVE;
  server->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  server->listener = g_steal_pointer (&listener);
  weft_server_accept_resume (server);
  return G_SOURCE_REMOVE;
}

gboolean
weft_server_listen (WeftServer *server, const char *address, GError **error)
{
  g_autoptr(GSocketAddress) sa = weft_server_parse_address (address, error);

  if (sa == NULL)
    return FALSE;
  GInetAddress *ip = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));
  if (server->token == NULL && !g_inet_address_get_is_loopback (ip))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "refusing to listen on %s without a token: anyone who can reach it could "
                   "run flows", address);
      return FALSE;
    }
  if (server->listener)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "the server already listens (on port %u)", server->port);
      return FALSE;
    }
  WeftServerListen l = { server, sa, NULL };
  weft_engine_invoke_sync (server->engine, weft_server_listen_on_loop, &l);
  if (l.error)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "cannot listen on %s: %s", address,
                   l.error->message);
      g_error_free (l.error);
      return FALSE;
    }
  return TRUE;
}

guint
weft_server_get_port (WeftServer *server)
{
  return server->port;
}

static gboolean
weft_server_close_listener_on_loop (gpointer data)
{
  WeftServer *server = data;

  server->stopping = TRUE;
  weft_server_accept_stop (server);
  return G_SOURCE_REMOVE;
}

static gboolean
weft_server_count_live_on_loop (gpointer data)
{
  gpointer *io = data;
  WeftServer *server = io[0];

  io[1] = GUINT_TO_POINTER (server->n_live + weft_engine_count_live_runs (server->engine));
  return G_SOURCE_REMOVE;
}

static gboolean
weft_server_count_streams_on_loop (gpointer data)
{
  gpointer *io = data;
  WeftServer *server = io[0];

  io[1] = GUINT_TO_POINTER (g_hash_table_size (server->streams));
  return G_SOURCE_REMOVE;
}

/* Polls until the loop counts nothing: the loop owns the counts, and a
 * stop is rare. */
static gboolean
weft_server_wait_zero (WeftServer *server, GSourceFunc count, guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * G_TIME_SPAN_MILLISECOND;

  for (;;)
    {
      gpointer io[2] = { server, NULL };
      weft_engine_invoke_sync (server->engine, count, io);
      if (io[1] == NULL)
        return TRUE;
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (20 * G_TIME_SPAN_MILLISECOND);
    }
}

static gboolean
weft_server_cancel_all_on_loop (gpointer data)
{
  weft_server_cancel_all (data);
  return G_SOURCE_REMOVE;
}

static gboolean
weft_server_end_streams_on_loop (gpointer data)
{
  weft_server_feed_end (data);
  weft_server_threads_close_streams (data);
  return G_SOURCE_REMOVE;
}

static gboolean
weft_server_disconnect_on_loop (gpointer data)
{
  WeftServer *server = data;

  soup_server_disconnect (server->soup);
  return G_SOURCE_REMOVE;
}

/* How long cancelled agents and finishing event streams get. */
#define WEFT_SERVER_DRAIN_MS 2000

void
weft_server_stop (WeftServer *server, guint grace_ms)
{
  g_return_if_fail (!weft_engine_is_loop_thread (server->engine));

  weft_engine_invoke_sync (server->engine, weft_server_close_listener_on_loop, server);
  if (!weft_server_wait_zero (server, weft_server_count_live_on_loop, grace_ms))
    {
      g_message ("stopping: cancelling what is still running after %u ms", grace_ms);
      weft_engine_invoke_sync (server->engine, weft_server_cancel_all_on_loop, server);
      /* Background tasks too; then the agents get a moment to let go. */
      weft_engine_shutdown (server->engine, MAX (grace_ms, WEFT_SERVER_DRAIN_MS));
      weft_server_wait_zero (server, weft_server_count_live_on_loop, WEFT_SERVER_DRAIN_MS);
    }
  /* Every run has ended, so every event stream has its last frame (the
   * feed of all runs ends here, and a thread's: threads outlive the
   * server): let the clients read them to the end before the connections
   * close. */
  weft_engine_invoke_sync (server->engine, weft_server_end_streams_on_loop, server);
  weft_server_wait_zero (server, weft_server_count_streams_on_loop, WEFT_SERVER_DRAIN_MS);
  weft_engine_invoke_sync (server->engine, weft_server_disconnect_on_loop, server);
}

static gboolean
weft_server_free_on_loop (gpointer data)
{
  WeftServer *server = data;

  weft_server_accept_stop (server);
  weft_server_threads_clear (server);
  weft_server_runs_clear (server);
  weft_server_feed_clear (server);
  weft_server_graphs_clear (server);
  weft_server_streams_clear (server);
  soup_server_disconnect (server->soup);
  weft_server_conns_clear (server);
  g_clear_object (&server->soup);
  g_clear_object (&server->parked);
  return G_SOURCE_REMOVE;
}

void
weft_server_free (WeftServer *server)
{
  if (server == NULL)
    return;
  weft_engine_remove_listener (server->engine, server->listener_id);
  weft_engine_remove_listener (server->engine, server->thread_listener_id);
  /* Store reads finish and queue their replies on the loop, which runs
   * them before it frees the rest. */
  if (server->store_pool)
    g_thread_pool_free (server->store_pool, FALSE, TRUE);
  weft_engine_invoke_sync (server->engine, weft_server_free_on_loop, server);
  g_ptr_array_unref (server->stores);
  g_hash_table_unref (server->flows);
  g_free (server->token);
  weft_engine_unref (server->engine);
  g_free (server);
}
