/* weft-server-graph.c — a served flow's graph drawn as SVG, its layout
 * computed by Graphviz: GET /v1/flows/{flow}/graph.svg (the dashboard's
 * run page colours its nodes by task state).
 *
 * On the engine loop.  The flow's dot text (weft-graph.c, as `weft graph`
 * prints it) is given to Graphviz's `dot -Tsvg` — the program `weft graph
 * -T svg` runs — as a subprocess whose output is read asynchronously, so
 * the loop never waits for a layout.  A served flow does not change: its
 * drawing is made once and kept; requests that come while it is being
 * made wait for it (paused).  Each node of the SVG is a <g class="node">
 * whose <title> is the task's name. */
#include "weft-server-private.h"

#include <string.h>

/* A layout that takes longer than this is given up. */
#define WEFT_SERVER_GRAPH_TIMEOUT_S 60

/* One drawing being made: in server->drawing under its flow's name until
 * dot answers; outlives the server when that is freed first. */
typedef struct {
  WeftServer *server;         /* NULL once the server is gone */
  char *flow;
  GSubprocess *dot;
  GSource *timeout;
  GPtrArray *waiting;         /* SoupServerMessage*, paused */
} WeftServerDrawing;

void
weft_server_graphs_init (WeftServer *server)
{
  server->graphs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_bytes_unref);
  server->drawing = g_hash_table_new (g_str_hash, g_str_equal);
}

static void weft_server_message_gone (SoupServerMessage *msg, gpointer data);

void
weft_server_graphs_clear (WeftServer *server)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, server->drawing);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      WeftServerDrawing *d = value;
      for (guint i = 0; i < d->waiting->len; i++)
        g_signal_handlers_disconnect_by_data (d->waiting->pdata[i], d);
      g_ptr_array_set_size (d->waiting, 0);
      d->server = NULL;
      g_subprocess_force_exit (d->dot);
    }
  g_clear_pointer (&server->graphs, g_hash_table_unref);
  g_clear_pointer (&server->drawing, g_hash_table_unref);
}

static void
weft_server_reply_svg (SoupServerMessage *msg, GBytes *svg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (headers, "Content-Type", "image/svg+xml");
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), svg);
}

static void
weft_server_message_gone (SoupServerMessage *msg, gpointer data)
{
  WeftServerDrawing *d = data;

  g_signal_handlers_disconnect_by_data (msg, d);
  g_ptr_array_remove (d->waiting, msg);
}

/* Answers every request waiting for `flow`'s drawing: `svg`, or `error`. */
static void
weft_server_drawing_done (WeftServerDrawing *d, GBytes *svg, const char *error)
{
  if (d->server == NULL)
    return;
  g_hash_table_remove (d->server->drawing, d->flow);
  if (svg)
    g_hash_table_insert (d->server->graphs, g_strdup (d->flow), g_bytes_ref (svg));
  for (guint i = 0; i < d->waiting->len; i++)
    {
      SoupServerMessage *msg = d->waiting->pdata[i];
      g_signal_handlers_disconnect_by_data (msg, d);
      if (svg)
        weft_server_reply_svg (msg, svg);
      else
        weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "%s", error);
      soup_server_message_unpause (msg);
    }
}

static void
weft_server_drawing_free (WeftServerDrawing *d)
{
  if (d->timeout)
    {
      g_source_destroy (d->timeout);
      g_source_unref (d->timeout);
    }
  g_clear_object (&d->dot);
  g_ptr_array_unref (d->waiting);
  g_free (d->flow);
  g_free (d);
}

static gboolean
weft_server_drawing_timed_out (gpointer data)
{
  WeftServerDrawing *d = data;

  g_subprocess_force_exit (d->dot);
  return G_SOURCE_REMOVE;
}

static void
weft_server_drawing_read (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftServerDrawing *d = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autoptr(GBytes) err = NULL;

  if (!g_subprocess_communicate_finish (d->dot, result, &out, &err, &error))
    {
      g_autofree char *message = g_strdup_printf ("drawing flow \"%s\": dot: %s", d->flow,
                                                  error->message);
      weft_server_drawing_done (d, NULL, message);
    }
  else if (!g_subprocess_get_if_exited (d->dot) || g_subprocess_get_exit_status (d->dot) != 0)
    {
      g_autofree char *said = g_strndup (g_bytes_get_data (err, NULL), g_bytes_get_size (err));
      g_autofree char *message = g_strdup_printf ("drawing flow \"%s\": dot -Tsvg failed%s: %s",
                                                  d->flow, g_subprocess_get_if_exited (d->dot)
                                                             ? "" : " (timed out)",
                                                  g_strstrip (said));
      weft_server_drawing_done (d, NULL, message);
    }
  else
    weft_server_drawing_done (d, out, NULL);
  weft_server_drawing_free (d);
}

/* Starts `dot -Tsvg` on the flow's graph; NULL with `error` set when it
 * cannot run. */
static WeftServerDrawing *
weft_server_drawing_start (WeftServer *server, WeftFlow *flow, GError **error)
{
  char *text = weft_flow_to_dot (flow);
  g_autoptr(GBytes) input = g_bytes_new_take (text, strlen (text));
  GSubprocess *dot = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                       | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                       | G_SUBPROCESS_FLAGS_STDERR_PIPE, error,
                                       "dot", "-Tsvg", NULL);

  if (dot == NULL)
    return NULL;
  WeftServerDrawing *d = g_new0 (WeftServerDrawing, 1);
  d->server = server;
  d->flow = g_strdup (weft_flow_get_name (flow));
  d->dot = dot;
  d->waiting = g_ptr_array_new ();
  d->timeout = g_timeout_source_new_seconds (WEFT_SERVER_GRAPH_TIMEOUT_S);
  g_source_set_callback (d->timeout, weft_server_drawing_timed_out, d, NULL);
  g_source_attach (d->timeout, weft_engine_get_main_context (server->engine));
  g_subprocess_communicate_async (dot, input, NULL, weft_server_drawing_read, d);
  g_hash_table_insert (server->drawing, d->flow, d);
  return d;
}

void
weft_server_handle_graph (WeftServer *server, SoupServerMessage *msg, const char *arg,
                          GHashTable *query)
{
  WeftFlow *flow = weft_server_find_flow (server, msg, arg);
  g_autoptr(GError) error = NULL;

  if (flow == NULL)
    return;
  GBytes *svg = g_hash_table_lookup (server->graphs, arg);
  if (svg)
    {
      weft_server_reply_svg (msg, svg);
      return;
    }
  WeftServerDrawing *d = g_hash_table_lookup (server->drawing, arg);
  if (d == NULL && !(d = weft_server_drawing_start (server, flow, &error)))
    {
      weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                               "drawing a graph needs Graphviz's dot program, which cannot be "
                               "run here (%s); GET /v1/flows/%s has the graph as dot text",
                               error->message, arg);
      return;
    }
  g_ptr_array_add (d->waiting, msg);
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_message_gone), d);
  soup_server_message_pause (msg);
}
