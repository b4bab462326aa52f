/* weft-server-dashboard.c — the dashboard: GET / (its page) and GET
 * /ui/{file} (its style sheet and scripts), compiled into libweft as a
 * GResource from core/dashboard/ (docs/dashboard.md).
 *
 * On the engine loop.  Nothing is read from disk or fetched from anywhere
 * at run time.  These are the only routes but /healthz that need no token
 * (weft-server-reply.c): a browser cannot send one with a page it
 * navigates to, and the files hold nothing but code; the page asks for the
 * token and sends it with each API request.  Each answer has an ETag (a
 * hash of the file), is revalidated on every use (Cache-Control:
 * no-cache: a new weft's files are never stale), and the page is kept to
 * its own origin and scripts by its Content-Security-Policy. */
#include "weft-server-private.h"
#include "weft-dashboard-resources.h"

#include <string.h>

#define WEFT_DASHBOARD_PREFIX "/weft/dashboard/"

/* The page runs its own scripts and styles only, talks to its own server
 * only, and is framed by nobody.  Graphviz's SVG is inserted as markup:
 * its presentation attributes are not inline styles. */
#define WEFT_DASHBOARD_CSP                                                          \
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
  "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

static const struct {
  const char *suffix;
  const char *type;
} weft_dashboard_types[] = {
  { ".html", "text/html; charset=utf-8" },
  { ".css",  "text/css; charset=utf-8" },
  { ".js",   "text/javascript; charset=utf-8" },
  { ".svg",  "image/svg+xml" },
  { ".png",  "image/png" },
};

static const char *
weft_dashboard_content_type (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (weft_dashboard_types); i++)
    if (g_str_has_suffix (name, weft_dashboard_types[i].suffix))
      return weft_dashboard_types[i].type;
  return NULL;
}

/* "If-None-Match" lists this ETag (or is "*"). */
static gboolean
weft_dashboard_not_modified (SoupServerMessage *msg, const char *etag)
{
  const char *given = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                                     "If-None-Match");
  g_auto(GStrv) tags = given ? g_strsplit (given, ",", -1) : NULL;

  for (guint i = 0; tags && tags[i]; i++)
    {
      const char *tag = g_strstrip (tags[i]);
      if (g_str_has_prefix (tag, "W/"))
        tag += 2;
      if (g_str_equal (tag, etag) || g_str_equal (tag, "*"))
        return TRUE;
    }
  return FALSE;
}

static void
weft_dashboard_reply_file (SoupServerMessage *msg, const char *name)
{
  const char *type = weft_dashboard_content_type (name);
  g_autofree char *path = g_strconcat (WEFT_DASHBOARD_PREFIX, name, NULL);
  g_autoptr(GBytes) data = type && !strchr (name, '/')
    ? g_resource_lookup_data (weft_dashboard_get_resource (), path,
                              G_RESOURCE_LOOKUP_FLAGS_NONE, NULL)
    : NULL;

  if (data == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                               "no such file of the dashboard: %s", name);
      return;
    }
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autofree char *sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, data);
  g_autofree char *etag = g_strdup_printf ("\"%.32s\"", sum);

  soup_message_headers_replace (headers, "ETag", etag);
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  if (g_str_has_suffix (name, ".html"))
    {
      soup_message_headers_replace (headers, "Content-Security-Policy", WEFT_DASHBOARD_CSP);
      soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
      soup_message_headers_replace (headers, "X-Frame-Options", "DENY");
    }
  if (weft_dashboard_not_modified (msg, etag))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_MODIFIED, NULL);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (headers, "Content-Type", type);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), data);
}

void
weft_server_handle_dashboard (WeftServer *server, SoupServerMessage *msg, const char *arg,
                              GHashTable *query)
{
  weft_dashboard_reply_file (msg, "index.html");
}

void
weft_server_handle_dashboard_file (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                   GHashTable *query)
{
  weft_dashboard_reply_file (msg, arg);
}
