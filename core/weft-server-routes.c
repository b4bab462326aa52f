/* weft-server-routes.c — the server's routes: one table of method and
 * path pattern, and the SoupServer handler that finds a request's route.
 *
 * On the engine loop, once the request is admitted (weft-server-reply.c)
 * and its body read.  A path that matches a route under another method
 * gets 405 with Allow; one that matches none, 404.  Each handler lives
 * with its concern: flows, plugins and health (weft-server-flows.c), new
 * runs (weft-server-kickoff.c), cancel (weft-server-runs.c), replay
 * (weft-server-replay.c), reading runs (weft-server-stored.c), event
 * streams (weft-server-events.c, weft-server-feed.c), background tasks
 * (weft-server-tasks.c), threads (weft-server-threads.c), workers
 * (weft-server-queue.c), the dashboard (weft-server-dashboard.c) and
 * graphs drawn (weft-server-graph.c). */
#include "weft-server-private.h"

#include <string.h>

/* 405, with the methods the path does have. */
static void
weft_server_reply_method (SoupServerMessage *msg, const char *allowed)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                allowed);
  weft_server_reply_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                           "method %s is not allowed on %s (allowed: %s)",
                           soup_server_message_get_method (msg),
                           g_uri_get_path (soup_server_message_get_uri (msg)), allowed);
}

/* "*" is one path segment, handed to the handler. */
static const struct {
  const char *method;
  const char *path;
  WeftServerHandler handler;
} weft_server_routes[] = {
  { "GET",  "/",                   weft_server_handle_dashboard },
  { "GET",  "/ui/*",               weft_server_handle_dashboard_file },
  { "GET",  "/healthz",            weft_server_handle_health },
  { "GET",  "/v1/flows",           weft_server_handle_flows },
  { "GET",  "/v1/flows/*",         weft_server_handle_flow },
  { "GET",  "/v1/flows/*/graph.svg", weft_server_handle_graph },
  { "POST", "/v1/flows/*/runs",    weft_server_handle_kickoff },
  { "POST", "/v1/flows/*/batch",   weft_server_handle_batch },
  { "GET",  "/v1/runs",            weft_server_handle_list_runs },
  { "GET",  "/v1/runs/*",          weft_server_handle_get_run },
  { "POST", "/v1/runs/*/cancel",   weft_server_handle_cancel_run },
  { "POST", "/v1/runs/*/replay",   weft_server_handle_replay },
  { "GET",  "/v1/runs/*/events",   weft_server_handle_events },
  { "GET",  "/v1/events",          weft_server_handle_feed },
  { "POST", "/v1/tasks",           weft_server_handle_create_task },
  { "GET",  "/v1/tasks",           weft_server_handle_tasks },
  { "GET",  "/v1/tasks/*",         weft_server_handle_task },
  { "POST", "/v1/tasks/*/cancel",  weft_server_handle_cancel_task },
  { "GET",  "/v1/plugins",         weft_server_handle_plugins },
  { "GET",  "/v1/workers",         weft_server_handle_workers },
  { "POST", "/v1/threads",         weft_server_handle_create_thread },
  { "GET",  "/v1/threads",         weft_server_handle_threads },
  { "GET",  "/v1/threads/*",       weft_server_handle_thread },
  { "DELETE", "/v1/threads/*",     weft_server_handle_delete_thread },
  { "POST", "/v1/threads/*/messages", weft_server_handle_post_message },
  { "POST", "/v1/threads/*/cancel", weft_server_handle_cancel_thread },
  { "GET",  "/v1/threads/*/events", weft_server_handle_thread_events },
};

/* Matches `path` against `pattern`; the segment "*" stands for is
 * decoded into *arg. */
static gboolean
weft_server_match (const char *pattern, const char *path, char **arg)
{
  while (*pattern && *path)
    {
      if (*pattern == '*')
        {
          const char *end = strchr (path, '/');
          gsize len = end ? (gsize) (end - path) : strlen (path);
          if (len == 0)
            return FALSE;
          g_autofree char *raw = g_strndup (path, len);
          g_free (*arg);
          *arg = g_uri_unescape_string (raw, NULL);
          if (*arg == NULL)
            return FALSE;
          pattern++;
          path += len;
        }
      else if (*pattern++ != *path++)
        return FALSE;
    }
  return *pattern == '\0' && *path == '\0';
}

void
weft_server_handle (SoupServer *soup, SoupServerMessage *msg, const char *path,
                    GHashTable *query, gpointer data)
{
  WeftServer *server = data;
  const char *method = soup_server_message_get_method (msg);
  g_autoptr(GString) allowed = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (weft_server_routes); i++)
    {
      g_autofree char *arg = NULL;
      if (!weft_server_match (weft_server_routes[i].path, path, &arg))
        continue;
      /* HEAD is GET without the body (libsoup leaves it out). */
      if (g_str_equal (method, weft_server_routes[i].method)
          || (g_str_equal (method, "HEAD") && g_str_equal (weft_server_routes[i].method, "GET")))
        {
          weft_server_routes[i].handler (server, msg, arg, query);
          return;
        }
      g_string_append_printf (allowed, "%s%s", allowed->len ? ", " : "",
                              weft_server_routes[i].method);
    }
  if (allowed->len)
    weft_server_reply_method (msg, allowed->str);
  else
    weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                             "no such endpoint: %s %s (see docs/http-api.md)", method, path);
}
