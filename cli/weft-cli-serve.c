/* weft-cli-serve.c — `weft serve`: every flow of a directory over HTTP.
 *
 * The server itself is libweft's (weft_server_*); this loads the flows,
 * listens, and on SIGTERM or SIGINT stops in the order that loses
 * nothing: stop accepting, let runs finish (or cancel them after the
 * grace period), then drop the flows, which drains their callbacks. */
#include "weft-cli.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *flows_dir;
  char *listen;
  char *token;
  char **stores;
  char **plugin_dirs;
  gint threads;
  gint keep_runs;
  gint keep_s;
  gint max_body;
  gint max_runs;
  gint grace_s;
} WeftCliServeOptions;

static void
weft_cli_serve_options_clear (WeftCliServeOptions *o)
{
  g_free (o->flows_dir);
  g_free (o->listen);
  g_free (o->token);
  g_strfreev (o->stores);
  g_strfreev (o->plugin_dirs);
}

/* Every *.json of `dir`, in name order; a flow that does not load stops
 * the server from starting. */
static gboolean
weft_cli_serve_load_flows (WeftEngine *engine, WeftServer *server, const char *dir,
                           GError **error)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, error);
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    {
      g_prefix_error (error, "--flows: ");
      return FALSE;
    }
  while ((name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, ".json"))
      g_ptr_array_add (files, g_build_filename (dir, name, NULL));
  if (files->len == 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "--flows %s: no flow files (*.json) in it", dir);
      return FALSE;
    }
  g_ptr_array_sort (files, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < files->len; i++)
    {
      g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, files->pdata[i], error);
      if (flow == NULL || !weft_server_add_flow (server, flow, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
weft_cli_serve_add_stores (WeftEngine *engine, WeftServer *server, char **specs,
                           GError **error)
{
  for (guint i = 0; specs && specs[i]; i++)
    {
      WeftStore *store = weft_cli_open_store_spec (engine, specs[i], NULL, NULL, error);
      if (store == NULL)
        return FALSE;
      weft_server_add_store (server, store);
    }
  return TRUE;
}

static gboolean
weft_cli_serve_on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

static int
weft_cli_serve (WeftCliServeOptions *o)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_cli_open_engine ((guint) MAX (o->threads, 0),
                                                       o->plugin_dirs, &error);
  const char *token = o->token ? o->token : g_getenv ("WEFT_TOKEN");

  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  WeftServerOptions options = {
    .token = token,
    .max_body = (gsize) MAX (o->max_body, 0),
    .keep_runs = (guint) MAX (o->keep_runs, 0),
    .keep_s = (guint) MAX (o->keep_s, 0),
    .max_runs = (guint) MAX (o->max_runs, 0),
  };
  g_autoptr(WeftServer) server = weft_server_new (engine, &options);
  if (!weft_cli_serve_load_flows (engine, server, o->flows_dir, &error)
      || !weft_cli_serve_add_stores (engine, server, o->stores, &error)
      || !weft_server_listen (server, o->listen, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);

  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint sigint_id = g_unix_signal_add (SIGINT, weft_cli_serve_on_signal, loop);
  guint sigterm_id = g_unix_signal_add (SIGTERM, weft_cli_serve_on_signal, loop);
  g_autoptr(GSocketConnectable) where = g_network_address_parse (o->listen, 8080, NULL);
  const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (where));
  gboolean ipv6 = strchr (host, ':') != NULL;
  fprintf (stderr, "weft: serving %s on http://%s%s%s:%u (port %u)%s\n", o->flows_dir,
           ipv6 ? "[" : "", host, ipv6 ? "]" : "", weft_server_get_port (server),
           weft_server_get_port (server), token && *token ? ", token required" : "");
  g_main_loop_run (loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  fprintf (stderr, "weft: stopping (runs in flight get %d s to finish)\n", o->grace_s);
  weft_server_stop (server, (guint) o->grace_s * 1000);
  g_clear_pointer (&server, weft_server_free);
  fprintf (stderr, "weft: stopped\n");
  return WEFT_CLI_EXIT_OK;
}

int
weft_cli_serve_main (char **args)
{
  g_auto(GStrv) positional = NULL;
  WeftCliServeOptions o = { .listen = NULL, .grace_s = 30 };
  GOptionEntry entries[] = {
    { "flows", 'f', 0, G_OPTION_ARG_FILENAME, &o.flows_dir,
      "Serve every flow file (*.json) of DIR (required)", "DIR" },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &o.listen,
      "Address to listen on (default 127.0.0.1:8080; port 0 picks one)", "HOST:PORT" },
    { "token", 't', 0, G_OPTION_ARG_STRING, &o.token,
      "Require \"Authorization: Bearer TOKEN\" (default: $WEFT_TOKEN); needed to listen "
      "on any address but loopback", "TOKEN" },
    { "store", 's', 0, G_OPTION_ARG_STRING_ARRAY, &o.stores,
      "Also read older runs from this store (the flows' own stores are read anyway)",
      "PLUGIN[:k=v,…]" },
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &o.plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o.threads,
      "Worker threads for blocking agents (default: 2 per CPU, at least 4)", "N" },
    { "keep-runs", 0, 0, G_OPTION_ARG_INT, &o.keep_runs,
      "Finished runs and tasks kept in memory (default 1000)", "N" },
    { "keep-for", 0, 0, G_OPTION_ARG_INT, &o.keep_s,
      "Seconds finished runs and tasks are kept in memory (default 3600)", "S" },
    { "max-body", 0, 0, G_OPTION_ARG_INT, &o.max_body,
      "Largest request body in bytes; larger ones get 413 (default 1048576)", "BYTES" },
    { "max-runs", 0, 0, G_OPTION_ARG_INT, &o.max_runs,
      "Runs in flight at most; kickoffs beyond get 503 and Retry-After (default 10000)", "N" },
    { "grace", 'g', 0, G_OPTION_ARG_INT, &o.grace_s,
      "On SIGTERM, seconds runs in flight get before they are cancelled (default 30)", "S" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("--flows DIR");
  int status;

  g_option_context_set_summary (context, "Serve flows over HTTP: kick off runs, watch their "
                                         "events, run background agent tasks.");
  g_option_context_set_description (context,
    "The API is described in docs/http-api.md (and docs/openapi.yaml).\n"
    "SIGTERM or SIGINT stops accepting, lets runs finish for --grace seconds,\n"
    "cancels the rest, delivers every event to the callbacks, and exits 0.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, args, &positional);
  if (status < 0)
    {
      if (positional && positional[0])
        status = weft_cli_usage_error ("serve", "unexpected argument '%s'", positional[0]);
      else if (o.flows_dir == NULL)
        status = weft_cli_usage_error ("serve", "--flows DIR is required");
      else if (o.threads < 0 || o.keep_runs < 0 || o.keep_s < 0 || o.max_body < 0
               || o.max_runs < 0 || o.grace_s < 0)
        status = weft_cli_usage_error ("serve", "numbers must not be negative");
      else
        {
          if (o.listen == NULL)
            o.listen = g_strdup ("127.0.0.1:8080");
          status = weft_cli_serve (&o);
        }
    }
  weft_cli_serve_options_clear (&o);
  return status;
}
