/* weft-http-get.c — a tool that GETs a URL and answers with its body as text.
 *
 * Only URLs under one of the `allow` prefixes are fetched, compared on the
 * parsed and normalised URL (scheme and host lower-cased, default port
 * dropped, dot segments removed, no userinfo), and so is every redirect.
 *
 * A blocking tool: invoke() runs on a worker thread and uses the instance's
 * own SoupSession with the sync API, which libsoup ≥ 3.2 allows from several
 * threads at once (the session is configured in create(), before any
 * request).  The time limit is a timer on the instance's own small thread
 * that cancels the request; the calling task's cancellable cancels it too.
 */
#include <weft/weft-sdk.h>

#include <libsoup/soup.h>
#include <math.h>
#include <string.h>

#define WEFT_HTTP_GET_MAX_REDIRECTS 5
#define WEFT_HTTP_GET_CHUNK 16384

typedef struct {
  GMainContext *context;      /* where the time limits fire ...          */
  GMainLoop *loop;
  GThread *thread;            /* ... on this thread of the instance's    */
} WeftHttpGetTimer;

typedef struct {
  SoupSession *session;
  char **allow;               /* normalised URL prefixes                 */
  char *allow_display;        /* the prefixes as errors list them        */
  gint64 max_bytes;
  guint timeout_ms;
  char **header_names;        /* extra request headers ...               */
  char **header_values;       /* ... and their values, index for index   */
  WeftHttpGetTimer timer;
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
/* The timer thread: time limits without a main loop on the worker          */

static gpointer
weft_http_get_timer_main (gpointer data)
{
  WeftHttpGetTimer *timer = data;

  g_main_context_push_thread_default (timer->context);
  g_main_loop_run (timer->loop);
  g_main_context_pop_thread_default (timer->context);
  return NULL;
}

static void
weft_http_get_timer_start (WeftHttpGetTimer *timer)
{
  timer->context = g_main_context_new ();
  timer->loop = g_main_loop_new (timer->context, FALSE);
  timer->thread = g_thread_new ("weft-http-get", weft_http_get_timer_main, timer);
}

static gboolean
weft_http_get_timer_quit (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
weft_http_get_timer_stop (WeftHttpGetTimer *timer)
{
  GSource *quit;

  if (timer->thread == NULL)
    return;
  /* Quit from inside the loop: a quit before the loop runs would be lost. */
  quit = g_idle_source_new ();
  g_source_set_callback (quit, weft_http_get_timer_quit, timer->loop, NULL);
  g_source_attach (quit, timer->context);
  g_source_unref (quit);
  g_thread_join (timer->thread);
  g_main_loop_unref (timer->loop);
  g_main_context_unref (timer->context);
}

static gboolean
weft_http_get_timer_fired (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

/* Cancels `cancellable` after `ms`, unless the returned source is destroyed
 * first. */
static GSource *
weft_http_get_timer_arm (WeftHttpGetTimer *timer, GCancellable *cancellable, guint ms)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, weft_http_get_timer_fired, g_object_ref (cancellable),
                         g_object_unref);
  g_source_attach (source, timer->context);
  return source;
}

/* ------------------------------------------------------------------------ */
/* create                                                                   */

static void
weft_http_get_free (WeftHttpGet *self)
{
  weft_http_get_timer_stop (&self->timer);
  g_clear_object (&self->session);
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

  /* Configured here, before any request: afterwards only sending is
   * allowed from other threads. */
  self->session = soup_session_new_with_options ("user-agent", options->user_agent,
                                                 "max-conns", 64,
                                                 "max-conns-per-host", 16,
                                                 NULL);
  weft_http_get_timer_start (&self->timer);
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

/* Reads up to max_bytes; *truncated when there was more. */
static GByteArray *
weft_http_get_read (WeftHttpGet *self, GInputStream *stream, GCancellable *cancellable,
                    gboolean *truncated, GError **error)
{
  g_autoptr(GByteArray) body = g_byte_array_new ();
  guint8 buffer[WEFT_HTTP_GET_CHUNK];
  gssize n;

  *truncated = FALSE;
  do
    {
      gsize room = (gsize) MIN ((gint64) sizeof buffer, self->max_bytes - (gint64) body->len);

      /* At the limit, one more byte tells whether the body goes on. */
      n = g_input_stream_read (stream, buffer, MAX (room, 1), cancellable, error);
      if (n < 0)
        return NULL;
      if (room == 0 && n > 0)
        *truncated = TRUE;
      else
        g_byte_array_append (body, buffer, (guint) n);
    }
  while (n > 0 && !*truncated);
  return g_steal_pointer (&body);
}

/* The body as UTF-8: converted from its declared charset where that works,
 * anything still invalid replaced. */
static char *
weft_http_get_text (GByteArray *body, GHashTable *params)
{
  const char *charset = params != NULL ? g_hash_table_lookup (params, "charset") : NULL;
  const char *data = body->len > 0 ? (const char *) body->data : "";

  if (charset != NULL && g_ascii_strcasecmp (charset, "utf-8") != 0
      && g_ascii_strcasecmp (charset, "utf8") != 0)
    {
      g_autofree char *converted = g_convert (data, body->len, "UTF-8",
                                              charset, NULL, NULL, NULL);
      if (converted != NULL)
        return g_utf8_make_valid (converted, -1);
    }
  return g_utf8_make_valid (data, body->len);
}

static char *
weft_http_get_body (WeftHttpGet *self, SoupMessage *msg, GInputStream *stream,
                    const char *url, GCancellable *cancellable, GError **error)
{
  g_autoptr(GHashTable) params = NULL;
  const char *type = soup_message_headers_get_content_type (
    soup_message_get_response_headers (msg), &params);
  g_autoptr(GByteArray) body = NULL;
  gboolean truncated;
  char *text;

  if (type != NULL && !weft_http_get_is_text_type (type))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "%s is %s, not text: only text and JSON bodies are returned", url, type);
      return NULL;
    }
  body = weft_http_get_read (self, stream, cancellable, &truncated, error);
  if (body == NULL)
    return NULL;
  if (type == NULL && body->len > 0 && memchr (body->data, '\0', body->len) != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "%s has no content type and looks binary: only text is returned", url);
      return NULL;
    }
  text = weft_http_get_text (body, params);
  if (!truncated)
    return text;
  /* Stop the rest of the body: closing would otherwise read it all. */
  g_cancellable_cancel (cancellable);
  g_autofree char *cut = text;
  return g_strdup_printf ("%s\n\n[weft http-get: the body was cut after %" G_GINT64_FORMAT
                          " bytes (max_bytes)]", cut, self->max_bytes);
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */

static SoupMessage *
weft_http_get_message (WeftHttpGet *self, const char *url)
{
  SoupMessage *msg = soup_message_new ("GET", url);
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);

  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  for (guint i = 0; self->header_names[i] != NULL; i++)
    soup_message_headers_replace (headers, self->header_names[i], self->header_values[i]);
  return msg;
}

/* Where a redirect leads, checked against the allowlist: *next stays NULL
 * when `msg` is not a redirect; FALSE when it may not be followed. */
static gboolean
weft_http_get_redirect (WeftHttpGet *self, SoupMessage *msg, const char *url, char **next,
                        GError **error)
{
  const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                       "Location");
  g_autoptr(GUri) base = NULL;
  g_autoptr(GUri) target = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree char *resolved = NULL;

  *next = NULL;
  if (!SOUP_STATUS_IS_REDIRECTION (soup_message_get_status (msg)) || location == NULL)
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

static char *
weft_http_get_fetch (WeftHttpGet *self, const char *first_url, GCancellable *cancellable,
                     GError **error)
{
  g_autofree char *url = g_strdup (first_url);

  for (guint hop = 0;; hop++)
    {
      g_autoptr(SoupMessage) msg = weft_http_get_message (self, url);
      g_autoptr(GInputStream) stream = soup_session_send (self->session, msg, cancellable, error);
      g_autofree char *next = NULL;
      guint status;

      if (stream == NULL || !weft_http_get_redirect (self, msg, url, &next, error))
        return NULL;
      status = soup_message_get_status (msg);
      if (next == NULL && !SOUP_STATUS_IS_SUCCESSFUL (status))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "HTTP %u %s from %s", status,
                       soup_message_get_reason_phrase (msg), url);
          return NULL;
        }
      if (next == NULL)
        return weft_http_get_body (self, msg, stream, url, cancellable, error);
      if (hop == WEFT_HTTP_GET_MAX_REDIRECTS)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                       "%s: more than %d redirects", first_url, WEFT_HTTP_GET_MAX_REDIRECTS);
          return NULL;
        }
      g_input_stream_close (stream, cancellable, NULL);
      g_free (url);
      url = g_steal_pointer (&next);
    }
}

/* ------------------------------------------------------------------------ */
/* invoke                                                                   */

static void
weft_http_get_cancel_other (GCancellable *cancelled, gpointer other)
{
  g_cancellable_cancel (other);
}

/* A cancelled request says why: the task's cancellation or our limit. */
static void
weft_http_get_explain_cancel (WeftHttpGet *self, GCancellable *task_cancellable,
                              const char *url, GError **error)
{
  if (!g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_error (error);
  if (g_cancellable_is_cancelled (task_cancellable))
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED, "GET %s was cancelled", url);
  else
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_TIMEOUT, "GET %s timed out after %.3g s",
                 url, self->timeout_ms / 1000.0);
}

static char *
weft_http_get_run (WeftHttpGet *self, WeftToolCall *call, GError **error)
{
  JsonObject *args = weft_tool_call_get_arguments (call);
  JsonNode *node = json_object_get_member (args, "url");
  GCancellable *task_cancellable = weft_tool_call_get_cancellable (call);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *url = NULL;
  GSource *timer;
  gulong handler;
  char *text;

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

  handler = g_cancellable_connect (task_cancellable, G_CALLBACK (weft_http_get_cancel_other),
                                   g_object_ref (cancellable), g_object_unref);
  timer = weft_http_get_timer_arm (&self->timer, cancellable, self->timeout_ms);
  text = weft_http_get_fetch (self, url, cancellable, error);
  g_source_destroy (timer);
  g_source_unref (timer);
  g_cancellable_disconnect (task_cancellable, handler);
  if (text == NULL)
    weft_http_get_explain_cancel (self, task_cancellable, url, error);
  return text;
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
