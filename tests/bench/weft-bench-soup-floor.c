/* weft-bench-soup-floor.c — the ceiling libsoup itself puts on `weft serve`.
 *
 * A bare SoupServer on 127.0.0.1 (port 0) that answers every GET with one
 * fixed JSON body the size of a finished run's, from one thread, as weft's
 * server does on its engine loop: no routing, no lookup, no JSON building.
 * tests/bench/serve.sh puts wrk on it right after `weft serve`, so that
 * the GET figure can be read against what libsoup alone reaches on the same
 * machine.  Prints "port N" on stderr; stops on SIGTERM or SIGINT. */
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static GBytes *body;

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer data)
{
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (soup_server_message_get_response_headers (msg),
                                         "application/json", NULL);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), body);
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(SoupServer) server = soup_server_new ("server-header", "weft", NULL);
  GString *json = g_string_new ("{\"run_id\":\"00000000-0000-4000-8000-000000000000\","
                                "\"flow\":\"noop1\",\"status\":\"completed\",\"error\":null,"
                                "\"inputs\":{},\"outputs\":{\"t0\":\"x\"},\"tasks\":[");

  /* About the size of the body weft gives for a finished one-task run. */
  g_string_append (json, "{\"name\":\"t0\",\"status\":\"completed\",\"output\":\"x\","
                         "\"error\":null,\"attempts\":1,\"started_wall_us\":1,"
                         "\"finished_wall_us\":2,\"duration_us\":1}]}");
  body = g_string_free_to_bytes (json);
  soup_server_add_handler (server, NULL, on_request, NULL, NULL);
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    {
      fprintf (stderr, "weft-bench-soup-floor: %s\n", error->message);
      return 1;
    }
  GSList *uris = soup_server_get_uris (server);
  fprintf (stderr, "port %d\n", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_main_loop_run (loop);
  g_bytes_unref (body);
  return 0;
}
