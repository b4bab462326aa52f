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
  gboolean enqueue;
  char **plugin_dirs;
  gint threads;
  gint keep_runs;
  gint keep_s;
  gint max_body;
  gint max_runs;
  gint grace_s;
  gint header_timeout_s;
  gint body_timeout_s;
  gint idle_timeout_s;
  gint write_timeout_s;
  gint max_connections;
  gint accept_backoff_ms;
  gint max_url;
  gint max_headers;
} WeftCliServeOptions;

/* An integer option: its name, where GOption puts it, and what it may be.
 * None takes 0 for "the default": leaving the option out is that. */
typedef struct {
  const char *name;
  gint *value;
  gint min;
  gint max;
} WeftCliServeNumber;

static void
weft_cli_serve_options_clear (WeftCliServeOptions *o)
{
  g_free (o->flows_dir);
  g_free (o->listen);
  g_free (o->token);
  g_strfreev (o->stores);
  g_strfreev (o->plugin_dirs);
}

static gboolean
weft_cli_serve_is_flow_file (const char *name)
{
  return g_str_has_suffix (name, ".json") || g_str_has_suffix (name, ".yaml")
      || g_str_has_suffix (name, ".yml");
}

/* Every *.json, *.yaml and *.yml of `dir`, in name order; a flow that does
 * not load stops the server from starting. */
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
    if (weft_cli_serve_is_flow_file (name))
      g_ptr_array_add (files, g_build_filename (dir, name, NULL));
  if (files->len == 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "--flows %s: no flow files (*.json, *.yaml) in it", dir);
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

/* With --enqueue, the first --store is the queue kickoffs go to. */
static gboolean
weft_cli_serve_add_stores (WeftEngine *engine, WeftServer *server, char **specs,
                           gboolean enqueue, GError **error)
{
  for (guint i = 0; specs && specs[i]; i++)
    {
      gboolean queue = enqueue && i == 0;
      WeftStore *store = queue ? weft_cli_open_queue_spec (engine, specs[i], NULL, NULL, error)
                               : weft_cli_open_store_spec (engine, specs[i], NULL, NULL, error);
      if (store == NULL)
        return FALSE;
      if (queue)
        weft_server_set_queue (server, store);
      else
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

/* libweft refuses to listen beyond loopback without a token; the command
 * line says how to give one. */
static void
weft_cli_serve_hint_token (const char *token, GError *error)
{
  if ((token && *token) || !g_error_matches (error, WEFT_ERROR, WEFT_ERROR_INVALID)
      || !g_str_has_prefix (error->message, "refusing to listen on "))
    return;
  char *hinted = g_strconcat (error->message,
                              " (give --token or WEFT_TOKEN, or listen on 127.0.0.1)", NULL);
  g_free (error->message);
  error->message = hinted;
}

static int
weft_cli_serve (WeftCliServeOptions *o)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_cli_open_engine ((guint) o->threads, o->plugin_dirs,
                                                       &error);
  const char *token = o->token ? o->token : g_getenv ("WEFT_TOKEN");

  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  /* An option left out is 0 here: the server's default. */
  WeftServerOptions options = {
    .token = token,
    .max_body = (gsize) o->max_body,
    .keep_runs = (guint) o->keep_runs,
    .keep_s = (guint) o->keep_s,
    .max_runs = (guint) o->max_runs,
    .header_timeout_s = (guint) o->header_timeout_s,
    .body_timeout_s = (guint) o->body_timeout_s,
    .idle_timeout_s = (guint) o->idle_timeout_s,
    .write_timeout_s = (guint) o->write_timeout_s,
    .max_connections = (guint) o->max_connections,
    .accept_backoff_ms = (guint) o->accept_backoff_ms,
    .max_url = (guint) o->max_url,
    .max_headers = (guint) o->max_headers,
  };
  g_autoptr(WeftServer) server = weft_server_new (engine, &options);
  if (!weft_cli_serve_load_flows (engine, server, o->flows_dir, &error)
      || !weft_cli_serve_add_stores (engine, server, o->stores, o->enqueue, &error)
      || !weft_server_listen (server, o->listen, &error))
    {
      weft_cli_serve_hint_token (token, error);
      return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
    }

  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint sigint_id = g_unix_signal_add (SIGINT, weft_cli_serve_on_signal, loop);
  guint sigterm_id = g_unix_signal_add (SIGTERM, weft_cli_serve_on_signal, loop);
  g_autoptr(GSocketConnectable) where = g_network_address_parse (o->listen, 8080, NULL);
  const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (where));
  gboolean ipv6 = strchr (host, ':') != NULL;
  weft_cli_printerr ("weft: serving %s on http://%s%s%s:%u (port %u)%s", o->flows_dir,
                     ipv6 ? "[" : "", host, ipv6 ? "]" : "", weft_server_get_port (server),
                     weft_server_get_port (server), token && *token ? ", token required" : "");
  g_main_loop_run (loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  weft_cli_printerr ("weft: stopping (runs in flight get %d s to finish)", o->grace_s);
  weft_server_stop (server, (guint) o->grace_s * 1000);
  g_clear_pointer (&server, weft_server_free);
  weft_cli_printerr ("weft: stopped");
  return WEFT_CLI_EXIT_OK;
}

/* Checks the integer options given, and turns those left out into 0 (the
 * server's defaults) or, for --grace, 30; -1 when all are fine. */
static int
weft_cli_serve_check_numbers (WeftCliServeOptions *o)
{
  const WeftCliServeNumber numbers[] = {
    { "--threads", &o->threads, 1, WEFT_CLI_MAX_THREADS },
    { "--keep-runs", &o->keep_runs, 1, 1000000 },
    { "--keep-for", &o->keep_s, 1, 366 * 24 * 3600 },
    { "--max-body", &o->max_body, 1, 1024 * 1024 * 1024 },
    { "--max-runs", &o->max_runs, 1, 1000000 },
    { "--grace", &o->grace_s, 0, 24 * 3600 },
    { "--header-timeout", &o->header_timeout_s, 1, 3600 },
    { "--body-timeout", &o->body_timeout_s, 1, 24 * 3600 },
    { "--idle-timeout", &o->idle_timeout_s, 1, 24 * 3600 },
    { "--write-timeout", &o->write_timeout_s, 1, 24 * 3600 },
    { "--max-connections", &o->max_connections, 1, 1000000 },
    { "--accept-backoff", &o->accept_backoff_ms, 1, 60000 },
    { "--max-url", &o->max_url, 64, WEFT_SERVER_MAX_HEADERS_LIMIT },
    { "--max-headers", &o->max_headers, 1024, WEFT_SERVER_MAX_HEADERS_LIMIT },
  };
  int status;

  for (guint i = 0; i < G_N_ELEMENTS (numbers); i++)
    {
      if (*numbers[i].value == WEFT_CLI_UNSET)
        *numbers[i].value = numbers[i].value == &o->grace_s ? 30 : 0;
      else if ((status = weft_cli_check_range ("serve", numbers[i].name, *numbers[i].value,
                                               numbers[i].min, numbers[i].max)) >= 0)
        return status;
    }
  return -1;
}

int
weft_cli_serve_main (char **args)
{
  g_auto(GStrv) positional = NULL;
  WeftCliServeOptions o = {
    .threads = WEFT_CLI_UNSET, .keep_runs = WEFT_CLI_UNSET, .keep_s = WEFT_CLI_UNSET,
    .max_body = WEFT_CLI_UNSET, .max_runs = WEFT_CLI_UNSET, .grace_s = WEFT_CLI_UNSET,
    .header_timeout_s = WEFT_CLI_UNSET, .body_timeout_s = WEFT_CLI_UNSET,
    .idle_timeout_s = WEFT_CLI_UNSET, .write_timeout_s = WEFT_CLI_UNSET,
    .max_connections = WEFT_CLI_UNSET,
    .accept_backoff_ms = WEFT_CLI_UNSET, .max_url = WEFT_CLI_UNSET,
    .max_headers = WEFT_CLI_UNSET,
  };
  GOptionEntry entries[] = {
    { "flows", 'f', 0, G_OPTION_ARG_FILENAME, &o.flows_dir,
      "Serve every flow file (*.json, *.yaml, *.yml) of DIR (required)", "DIR" },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &o.listen,
      "Address to listen on (default 127.0.0.1:8080; port 0 picks one)", "HOST:PORT" },
    { "token", 't', 0, G_OPTION_ARG_STRING, &o.token,
      "Require \"Authorization: Bearer TOKEN\" (default: $WEFT_TOKEN); needed to listen "
      "on any address but loopback", "TOKEN" },
    { "store", 's', 0, G_OPTION_ARG_STRING_ARRAY, &o.stores,
      "Also read older runs from this database (sqlite) or store plugin (the flows' own "
      "stores are read anyway)", "PATH|PLUGIN[:k=v,…]" },
    { "enqueue", 0, 0, G_OPTION_ARG_NONE, &o.enqueue,
      "Queue kickoffs and batches in the first --store (a store with a queue) for `weft "
      "worker`s instead of running them here", NULL },
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &o.plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o.threads,
      "Worker threads for blocking agents, 1 to 1024 (default: 2 per CPU, at least 4)", "N" },
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
    { "header-timeout", 0, 0, G_OPTION_ARG_INT, &o.header_timeout_s,
      "Seconds a request head may take; a new connection's counts from its accept (default 10)",
      "S" },
    { "body-timeout", 0, 0, G_OPTION_ARG_INT, &o.body_timeout_s,
      "Seconds a request body may take, whole, after its head (default 60)", "S" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &o.idle_timeout_s,
      "Seconds a kept-alive connection may wait for its next request (default 30)", "S" },
    { "write-timeout", 0, 0, G_OPTION_ARG_INT, &o.write_timeout_s,
      "Seconds a response may wait for a client that does not read before its connection "
      "is closed (default 60)", "S" },
    { "max-connections", 0, 0, G_OPTION_ARG_INT, &o.max_connections,
      "Connections open at once at most; more wait to be accepted (default 1000)", "N" },
    { "accept-backoff", 0, 0, G_OPTION_ARG_INT, &o.accept_backoff_ms,
      "Out of file descriptors, milliseconds accepting pauses before it tries again "
      "(default 500)", "MS" },
    { "max-url", 0, 0, G_OPTION_ARG_INT, &o.max_url,
      "Longest request URL in bytes; longer ones get 414 (default 8192)", "BYTES" },
    { "max-headers", 0, 0, G_OPTION_ARG_INT, &o.max_headers,
      "Largest request head (request line and headers) in bytes; larger ones get 431 "
      "(default 32768, at most 64512)", "BYTES" },
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
      else if (o.enqueue && o.stores == NULL)
        status = weft_cli_usage_error ("serve", "--enqueue needs --store: the store whose "
                                                "queue gets the runs");
      else if ((status = weft_cli_serve_check_numbers (&o)) < 0)
        {
          if (o.listen == NULL)
            o.listen = g_strdup ("127.0.0.1:8080");
          status = weft_cli_serve (&o);
        }
    }
  weft_cli_serve_options_clear (&o);
  return status;
}
