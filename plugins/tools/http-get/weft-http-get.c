/* weft-http-get.c — a tool that GETs a URL and answers with its body as text.
 *
 * Only URLs under one of the `allow` prefixes are fetched, compared on the
 * parsed and normalised URL (scheme and host lower-cased, default port
 * dropped, dot segments removed, no userinfo), and so is every redirect.
 *
 * A blocking tool: invoke() runs on a worker thread and waits for the
 * engine's HTTP client (weft_http_send), which follows no redirect itself.
 * The time limit covers the whole call: each hop gets what is left of it;
 * the calling task's cancellable cancels the request in flight.
 */
#include <weft/weft-sdk.h>

#include <math.h>
#include <string.h>

#define WEFT_HTTP_GET_MAX_REDIRECTS 5

typedef struct {
  char *user_agent;
  char **allow;               /* normalised URL prefixes                 */
  char *allow_display;        /* the prefixes as errors list them        */
  gint64 max_bytes;
  guint timeout_ms;
  char **header_names;        /* extra request headers ...               */
  char **header_values;       /* ... and their values, index for index   */
} WeftHttpGet;

/* The options, as weft binds them (see weft_http_get_options). */
typedef struct {
  const char * const *allow;
  gint64 max_bytes;
  double timeout_s;
  JsonObject *headers;
  const char *user_agent;
} WeftHttpGetOptions;

static const WeftOption weft_http_get_options[] = {
  { .name = "allow", .type = WEFT_OPTION_STRING_LIST, .required = TRUE,
    .offset = offsetof (WeftHttpGetOptions, allow),
    .description = "URL prefixes that may be fetched, e.g. [\"https://en.wikipedia.org/\"]" },
  { .name = "max_bytes", .type = WEFT_OPTION_INT, .default_json = "1048576", .min = 1,
    .max = INFINITY, .offset = offsetof (WeftHttpGetOptions, max_bytes),
    .description = "read at most this many bytes of a body; a longer body is cut, with a note" },
  /* At most G_MAXUINT ms: the time limit is a guint of milliseconds. */
  { .name = "timeout_s", .type = WEFT_OPTION_DOUBLE, .default_json = "20", .min = 0.001,
    .max = G_MAXUINT / 1000, .offset = offsetof (WeftHttpGetOptions, timeout_s),
    .description = "time limit of one call, redirects and body included" },
  { .name = "headers", .type = WEFT_OPTION_OBJECT,
    .offset = offsetof (WeftHttpGetOptions, headers),
    .description = "extra request headers (name: string value)" },
  { .name = "user_agent", .type = WEFT_OPTION_STRING, .default_json = "\"weft/0.1\"",
    .offset = offsetof (WeftHttpGetOptions, user_agent),
    .description = "the User-Agent header" },
  WEFT_OPTION_END
};

/* ------------------------------------------------------------------------ */
/* URLs                                                                     */

static gboolean
weft_http_get_is_http (GUri *uri)
{
  const char *scheme = g_uri_get_scheme (uri);

  return g_strcmp0 (scheme, "http") == 0 || g_strcmp0 (scheme, "https") == 0;
}

/* scheme://host[:port]/path[?query], with the scheme and host lower-cased,
 * the default port left out and an empty path made "/"; NULL (and an
 * error) for anything but an absolute http(s) URL with a host and no
 * userinfo.  Prefixes and requested URLs go through the same function. */
static char *
weft_http_get_normalise (const char *url, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED | G_URI_FLAGS_SCHEME_NORMALIZE,
                                     &local);
  g_autofree char *host = NULL;
  g_autofree char *port = NULL;
  const char *path, *query;
  gboolean https;

  if (uri == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "\"%s\" is not a URL: %s",
                   url, local->message);
      return NULL;
    }
  if (!weft_http_get_is_http (uri))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "\"%s\" is not an http or https URL", url);
      return NULL;
    }
  if (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "\"%s\" has no host", url);
      return NULL;
    }
  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "\"%s\" has a user name before its host, which is never allowed", url);
      return NULL;
    }

  https = g_str_equal (g_uri_get_scheme (uri), "https");
  host = g_ascii_strdown (g_uri_get_host (uri), -1);
  if (g_uri_get_port (uri) > 0 && g_uri_get_port (uri) != (https ? 443 : 80))
    port = g_strdup_printf (":%d", g_uri_get_port (uri));
  path = g_uri_get_path (uri);
  query = g_uri_get_query (uri);
  return g_strconcat (g_uri_get_scheme (uri), "://",
                      strchr (host, ':') != NULL ? "[" : "", host,
                      strchr (host, ':') != NULL ? "]" : "",
                      port != NULL ? port : "",
                      *path != '\0' ? path : "/",
                      query != NULL ? "?" : "", query != NULL ? query : "", NULL);
}

/* The normalised form of `url` when it starts with an allowed prefix. */
static char *
weft_http_get_check_url (WeftHttpGet *self, const char *url, GError **error)
{
  g_autofree char *normal = weft_http_get_normalise (url, error);

  if (normal == NULL)
    return NULL;
  for (guint i = 0; self->allow[i] != NULL; i++)
    if (g_str_has_prefix (normal, self->allow[i]))
      return g_steal_pointer (&normal);
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "\"%s\" is not allowed: only URLs starting with %s may be fetched",
               url, self->allow_display);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* create                                                                   */

static void
weft_http_get_free (WeftHttpGet *self)
{
  g_free (self->user_agent);
  g_strfreev (self->allow);
  g_free (self->allow_display);
  g_strfreev (self->header_names);
  g_strfreev (self->header_values);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftHttpGet, weft_http_get_free)

static gboolean
weft_http_get_set_allow (WeftHttpGet *self, const char * const *allow, GError **error)
{
  g_autoptr(GStrvBuilder) normal = g_strv_builder_new ();
  g_autoptr(GString) display = g_string_new (NULL);

  for (guint i = 0; allow != NULL && allow[i] != NULL; i++)
    {
      g_autoptr(GError) local = NULL;
      g_autofree char *prefix = weft_http_get_normalise (allow[i], &local);

      if (prefix == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "option \"allow\": %s",
                       local->message);
          return FALSE;
        }
      g_string_append_printf (display, "%s\"%s\"", i > 0 ? ", " : "", prefix);
      g_strv_builder_add (normal, prefix);
    }
  if (display->len == 0)
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"allow\": must list at least one URL prefix");
      return FALSE;
    }
  self->allow = g_strv_builder_end (normal);
  self->allow_display = g_string_free (g_steal_pointer (&display), FALSE);
  return TRUE;
}

static gboolean
weft_http_get_set_headers (WeftHttpGet *self, JsonObject *headers, GError **error)
{
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) values = g_strv_builder_new ();
  g_autoptr(GList) members = headers != NULL ? json_object_get_members (headers) : NULL;

  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (headers, l->data);

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"headers\": the value of \"%s\" must be a string",
                       (const char *) l->data);
          return FALSE;
        }
      g_strv_builder_add (names, l->data);
      g_strv_builder_add (values, json_node_get_string (value));
    }
  self->header_names = g_strv_builder_end (names);
  self->header_values = g_strv_builder_end (values);
  return TRUE;
}

static gpointer
weft_http_get_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftHttpGet) self = g_new0 (WeftHttpGet, 1);
  const WeftHttpGetOptions *options = weft_config_get_options (config);

  if (!weft_http_get_set_allow (self, options->allow, error) ||
      !weft_http_get_set_headers (self, options->headers, error))
    return NULL;
  self->max_bytes = options->max_bytes;
  self->timeout_ms = (guint) ceil (options->timeout_s * 1000.0);

  self->user_agent = g_strdup (options->user_agent);
  return g_steal_pointer (&self);
}

static void
weft_http_get_destroy (gpointer instance)
{
  weft_http_get_free (instance);
}

/* ------------------------------------------------------------------------ */
/* The body                                                                 */

static gboolean
weft_http_get_is_text_type (const char *type)
{
  return g_str_has_prefix (type, "text/")
         || g_str_equal (type, "application/json") || g_str_has_suffix (type, "+json")
         || g_str_equal (type, "application/xml") || g_str_has_suffix (type, "+xml")
         || g_str_equal (type, "application/javascript");
}

/* "text/html; charset=ISO-8859-1": the type, lower-cased, and its charset
 * (NULL when none is given). */
static char *
weft_http_get_content_type (const char *header, char **charset)
{
  g_auto(GStrv) parts = g_strsplit (header, ";", -1);

  *charset = NULL;
  for (guint i = 1; parts[i] != NULL; i++)
    {
      char *param = g_strstrip (parts[i]);

      if (g_ascii_strncasecmp (param, "charset=", strlen ("charset=")) == 0)
        {
          g_free (*charset);
          *charset = g_strdup (param + strlen ("charset="));
          g_strstrip (g_strdelimit (*charset, "\"", ' '));
        }
    }
  return g_ascii_strdown (g_strstrip (parts[0]), -1);
}

/* The body as UTF-8: converted from its declared charset where that works,
 * anything still invalid replaced. */
static char *
weft_http_get_text (GBytes *body, const char *charset)
{
  gsize size;
  const char *data = g_bytes_get_data (body, &size);

  data = data != NULL ? data : "";
  if (charset != NULL && g_ascii_strcasecmp (charset, "utf-8") != 0
      && g_ascii_strcasecmp (charset, "utf8") != 0)
    {
      g_autofree char *converted = g_convert (data, (gssize) size, "UTF-8", charset, NULL, NULL, NULL);
      if (converted != NULL)
        return g_utf8_make_valid (converted, -1);
    }
  return g_utf8_make_valid (data, (gssize) size);
}

static char *
weft_http_get_body (WeftHttpGet *self, const WeftHttpResponse *response, const char *url,
                    GError **error)
{
  const char *header = weft_http_response_get_header (response, "Content-Type");
  g_autofree char *charset = NULL;
  g_autofree char *type = header != NULL ? weft_http_get_content_type (header, &charset) : NULL;
  GBytes *body = weft_http_response_get_body (response);
  gsize size;
  const char *data = g_bytes_get_data (body, &size);
  char *text;

  if (type != NULL && *type != '\0' && !weft_http_get_is_text_type (type))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "%s is %s, not text: only text and JSON bodies are returned", url, type);
      return NULL;
    }
  if ((type == NULL || *type == '\0') && size > 0 && memchr (data, '\0', size) != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "%s has no content type and looks binary: only text is returned", url);
      return NULL;
    }
  text = weft_http_get_text (body, charset);
  if (!weft_http_response_is_truncated (response))
    return text;
  g_autofree char *cut = text;
  return g_strdup_printf ("%s\n\n[weft http-get: the body was cut after %" G_GINT64_FORMAT
                          " bytes (max_bytes)]", cut, self->max_bytes);
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */

/* Redirects are never followed by the client: each hop is checked here
 * against the allowlist first.  `ms` is what is left of the call's time. */
static WeftHttpRequest *
weft_http_get_request (WeftHttpGet *self, const char *url, guint ms)
{
  WeftHttpRequest *request = weft_http_request_new ("GET", url);

  weft_http_request_add_header (request, "User-Agent", self->user_agent);
  for (guint i = 0; self->header_names[i] != NULL; i++)
    weft_http_request_add_header (request, self->header_names[i], self->header_values[i]);
  weft_http_request_set_timeout_ms (request, MAX (ms, 1));
  weft_http_request_set_max_body (request, (gsize) self->max_bytes);
  return request;
}

static gboolean
weft_http_get_is_redirect (guint status)
{
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Where a redirect leads, checked against the allowlist: *next stays NULL
 * when `response` is not a redirect; FALSE when it may not be followed. */
static gboolean
weft_http_get_redirect (WeftHttpGet *self, const WeftHttpResponse *response, const char *url,
                        char **next, GError **error)
{
  const char *location = weft_http_response_get_header (response, "Location");
  g_autoptr(GUri) base = NULL;
  g_autoptr(GUri) target = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree char *resolved = NULL;

  *next = NULL;
  if (!weft_http_get_is_redirect (weft_http_response_get_status (response)) || location == NULL)
    return TRUE;
  base = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  target = base != NULL ? g_uri_parse_relative (base, location, G_URI_FLAGS_ENCODED, NULL) : NULL;
  if (target == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "%s redirects to \"%s\", which is not a URL", url, location);
      return FALSE;
    }
  resolved = g_uri_to_string (target);
  *next = weft_http_get_check_url (self, resolved, &local);
  if (*next == NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "%s redirects elsewhere: %s",
                 url, local->message);
  return *next != NULL;
}

/* The client's timeout and cancellation, in this tool's words. */
static void
weft_http_get_explain (WeftHttpGet *self, const char *url, GError **error)
{
  if (g_error_matches (*error, WEFT_ERROR, WEFT_ERROR_CANCELLED))
    {
      g_clear_error (error);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED, "GET %s was cancelled", url);
    }
  else if (g_error_matches (*error, WEFT_ERROR, WEFT_ERROR_TIMEOUT))
    {
      g_clear_error (error);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT, "GET %s timed out after %.3g s",
                   url, self->timeout_ms / 1000.0);
    }
}

static char *
weft_http_get_fetch (WeftHttpGet *self, const char *first_url, GCancellable *cancellable,
                     GError **error)
{
  g_autofree char *url = g_strdup (first_url);
  gint64 deadline = g_get_monotonic_time () + (gint64) self->timeout_ms * 1000;

  for (guint hop = 0;; hop++)
    {
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      g_autoptr(WeftHttpResponse) response = NULL;
      g_autofree char *next = NULL;
      guint status;

      if (left_ms <= 0)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT, "GET %s timed out after %.3g s",
                       first_url, self->timeout_ms / 1000.0);
          return NULL;
        }
      response = weft_http_send (weft_http_get_request (self, url, (guint) left_ms), cancellable,
                                 error);
      if (response == NULL)
        {
          weft_http_get_explain (self, first_url, error);
          return NULL;
        }
      if (!weft_http_get_redirect (self, response, url, &next, error))
        return NULL;
      status = weft_http_response_get_status (response);
      if (next == NULL && (status < 200 || status >= 300))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "HTTP %u %s from %s", status,
                       weft_http_response_get_reason (response), url);
          return NULL;
        }
      if (next == NULL)
        return weft_http_get_body (self, response, url, error);
      if (hop == WEFT_HTTP_GET_MAX_REDIRECTS)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                       "%s: more than %d redirects", first_url, WEFT_HTTP_GET_MAX_REDIRECTS);
          return NULL;
        }
      g_free (url);
      url = g_steal_pointer (&next);
    }
}

/* ------------------------------------------------------------------------ */
/* invoke                                                                   */

static char *
weft_http_get_run (WeftHttpGet *self, WeftToolCall *call, GError **error)
{
  JsonObject *args = weft_tool_call_get_arguments (call);
  JsonNode *node = json_object_get_member (args, "url");
  g_autofree char *url = NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "argument \"url\" is required and must be a string");
      return NULL;
    }
  url = weft_http_get_check_url (self, json_node_get_string (node), error);
  if (url == NULL)
    return NULL;
  return weft_http_get_fetch (self, url, weft_tool_call_get_cancellable (call), error);
}

static void
weft_http_get_invoke (gpointer instance, WeftToolCall *call)
{
  GError *error = NULL;
  g_autofree char *text = weft_http_get_run (instance, call, &error);

  if (text != NULL)
    weft_tool_call_return (call, text);
  else
    weft_tool_call_return_error (call, error);
}

/* ------------------------------------------------------------------------ */

static const WeftToolClass weft_http_get_class = {
  .arguments_schema =
    "{\"type\": \"object\","
    " \"properties\": {\"url\": {\"type\": \"string\","
    "  \"description\": \"the absolute http or https URL to fetch\"}},"
    " \"required\": [\"url\"]}",
  .invoke = weft_http_get_invoke,
};

static const WeftPluginDescriptor weft_http_get_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_TOOL,
  .name = "http-get",
  .version = "0.1.0",
  .description = "Fetches a web page or JSON document by URL (GET) and returns its text",
  .options = weft_http_get_options,
  .options_size = sizeof (WeftHttpGetOptions),
  .create = weft_http_get_create,
  .destroy = weft_http_get_destroy,
  .tool = &weft_http_get_class,
};

WEFT_PLUGIN_DEFINE (weft_http_get_descriptor)
