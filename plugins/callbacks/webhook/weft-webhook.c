/* weft-webhook.c — a callback that POSTs each selected event to a URL.
 *
 * on_event runs on this instance's own dispatcher thread, so each event is
 * sent there with the engine's HTTP client, blocking (weft_http_send):
 * waiting for a slow or failing
 * receiver delays nobody but this instance, and sending one event at a time
 * keeps the receiver's view in the order the events were raised.  The run
 * itself never waits: its events queue up in front of this thread.
 *
 * Failures are retried with exponential backoff and jitter, within a time
 * budget per event (max_retry_s), so that a receiver that is down cannot
 * hold the flow's shutdown (which drains this queue) for long: after an
 * event was given up, later events get a single attempt each until one
 * gets through.  docs/callbacks.md describes the behaviour and the
 * signature for receivers.
 */
#define G_LOG_DOMAIN "weft-webhook"

#include <weft/weft-sdk.h>

#include <math.h>
#include <string.h>

#define WEFT_WEBHOOK_VERSION "0.1.0"
/* No single backoff wait grows beyond this, whatever the attempt number. */
#define WEFT_WEBHOOK_MAX_BACKOFF_US (60 * G_USEC_PER_SEC)
/* Characters of a receiver's error reply quoted in a warning. */
#define WEFT_WEBHOOK_MAX_REPLY 200
/* Of a reply, this much is read: its start is all a warning shows. */
#define WEFT_WEBHOOK_MAX_REPLY_BYTES 4096
/* The flags of libsoup's HTTP URIs: the URL is taken as written. */
#define WEFT_WEBHOOK_URI_FLAGS (G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH           \
                                | G_URI_FLAGS_ENCODED_QUERY | G_URI_FLAGS_ENCODED_FRAGMENT    \
                                | G_URI_FLAGS_SCHEME_NORMALIZE)

typedef struct {
  char *instance;          /* the callback's name in the flow, for logs     */
  GUri *uri;               /* where to POST                                  */
  char *url;               /* the same, as text                              */
  char *url_display;       /* scheme://host:port/… : logs never show the
                            * path or query, where chat webhooks keep tokens */
  GBytes *secret;          /* HMAC key, or NULL: never logged               */
  WeftEventSet events;     /* the types sent                               */
  char **header_names;     /* extra headers, index for index ...            */
  char **header_values;    /* ... with their values                          */
  char *template;          /* body template, or NULL for the event JSON     */
  char *content_type;
  gboolean escape_json;    /* template values are JSON-string escaped       */
  gint64 max_retries;
  gint64 retry_base_us;
  gint64 max_retry_us;     /* retry budget per event                        */
  guint timeout_ms;        /* one attempt's                                  */
  GRand *rand;             /* jitter; touched only on the dispatcher thread */
  gboolean down;           /* the last event was given up on                */
} WeftWebhook;

/* The options, as weft binds them (see weft_webhook_options). */
typedef struct {
  const char *url;
  const char * const *events;
  const char *secret;
  JsonObject *headers;
  const char *template;
  const char *content_type;
  double timeout_s;
  gint64 max_retries;
  gint64 retry_base_ms;
  double max_retry_s;
} WeftWebhookOptions;

static const WeftOption weft_webhook_options[] = {
  { .name = "url", .type = WEFT_OPTION_STRING, .required = TRUE,
    .offset = offsetof (WeftWebhookOptions, url),
    .description = "http:// or https:// URL to POST each event to" },
  { .name = "events", .type = WEFT_OPTION_STRING_LIST,
    .offset = offsetof (WeftWebhookOptions, events),
    .description = "event types to send, e.g. [\"task.completed\", \"run.failed\"] (default: "
                   "all)" },
  { .name = "secret", .type = WEFT_OPTION_STRING, .offset = offsetof (WeftWebhookOptions, secret),
    .description = "key for the X-Weft-Signature header: sha256=HMAC-SHA256(secret, body) in "
                   "hex" },
  { .name = "headers", .type = WEFT_OPTION_OBJECT,
    .offset = offsetof (WeftWebhookOptions, headers),
    .description = "extra request headers (name: string value), e.g. {\"Authorization\": "
                   "\"Bearer ${TOKEN}\"}" },
  { .name = "template", .type = WEFT_OPTION_STRING,
    .offset = offsetof (WeftWebhookOptions, template),
    .description = "body template with {type} {run_id} {thread_id} {flow} {task} {attempt} "
                   "{seq} {time} {output} {error} {json}" },
  { .name = "content_type", .type = WEFT_OPTION_STRING, .default_json = "\"application/json\"",
    .offset = offsetof (WeftWebhookOptions, content_type),
    .description = "Content-Type of the body; with a JSON type, template values are "
                   "JSON-escaped" },
  { .name = "timeout_s", .type = WEFT_OPTION_DOUBLE, .default_json = "10", .min = 0.001,
    .max = 3600, .offset = offsetof (WeftWebhookOptions, timeout_s),
    .description = "seconds one attempt may take, from connecting to the end of the reply" },
  { .name = "max_retries", .type = WEFT_OPTION_INT, .default_json = "5", .min = 0, .max = 1000,
    .offset = offsetof (WeftWebhookOptions, max_retries),
    .description = "retries of one event after a connection error, 408, 429 or 5xx" },
  { .name = "retry_base_ms", .type = WEFT_OPTION_INT, .default_json = "500", .min = 0,
    .max = 3600000, .offset = offsetof (WeftWebhookOptions, retry_base_ms),
    .description = "first backoff wait; doubles each retry, with jitter" },
  { .name = "max_retry_s", .type = WEFT_OPTION_DOUBLE, .default_json = "30", .min = 0,
    .max = 86400, .offset = offsetof (WeftWebhookOptions, max_retry_s),
    .description = "give an event up once retrying it would go past this many seconds" },
  WEFT_OPTION_END
};

static void
weft_webhook_free (WeftWebhook *self)
{
  g_free (self->instance);
  g_clear_pointer (&self->uri, g_uri_unref);
  g_free (self->url);
  g_free (self->url_display);
  g_clear_pointer (&self->secret, g_bytes_unref);
  g_strfreev (self->header_names);
  g_strfreev (self->header_values);
  g_free (self->template);
  g_free (self->content_type);
  g_clear_pointer (&self->rand, g_rand_free);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftWebhook, weft_webhook_free)

/* ------------------------------------------------------------------------ */
/* create: options                                                          */

static gboolean
weft_webhook_set_url (WeftWebhook *self, const char *url, GError **error)
{
  g_autoptr(GError) local = NULL;
  const char *scheme;

  self->uri = g_uri_parse (url, WEFT_WEBHOOK_URI_FLAGS, &local);
  if (self->uri == NULL)
    {
      /* The parser's message quotes the URL, which may hold a token. */
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"url\": not a valid URL");
      return FALSE;
    }
  scheme = g_uri_get_scheme (self->uri);
  if ((g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) ||
      g_uri_get_host (self->uri) == NULL || *g_uri_get_host (self->uri) == '\0')
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"url\": must be an http:// or https:// URL with a host");
      return FALSE;
    }
  self->url = g_uri_to_string (self->uri);
  if (g_uri_get_port (self->uri) > 0)
    self->url_display = g_strdup_printf ("%s://%s:%d/…", scheme, g_uri_get_host (self->uri),
                                         g_uri_get_port (self->uri));
  else
    self->url_display = g_strdup_printf ("%s://%s/…", scheme, g_uri_get_host (self->uri));
  return TRUE;
}


/* An HTTP token (RFC 9110): what a header name may be made of. */
static gboolean
weft_webhook_is_token (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("!#$%&'*+-.^_`|~", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
weft_webhook_check_header (const char *name, JsonNode *value, GError **error)
{
  if (!weft_webhook_is_token (name))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"headers\": \"%s\" is not a valid header name", name);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"headers\": the value of \"%s\" must be a string", name);
      return FALSE;
    }
  /* A line break would let a value smuggle in headers of its own. */
  if (strpbrk (json_node_get_string (value), "\r\n") != NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"headers\": the value of \"%s\" must be one line", name);
      return FALSE;
    }
  return TRUE;
}

/* Copied out of the config: its JsonObject must not be read from the
 * dispatcher thread while other threads may touch it. */
static gboolean
weft_webhook_set_headers (WeftWebhook *self, JsonObject *headers, GError **error)
{
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) values = g_strv_builder_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (headers != NULL)
    {
      json_object_iter_init (&iter, headers);
      while (json_object_iter_next (&iter, &name, &value))
        {
          if (!weft_webhook_check_header (name, value, error))
            return FALSE;
          g_strv_builder_add (names, name);
          g_strv_builder_add (values, json_node_get_string (value));
        }
    }
  self->header_names = g_strv_builder_end (names);
  self->header_values = g_strv_builder_end (values);
  return TRUE;
}

/* The placeholders a template may use; see weft_webhook_lookup. */
static const char * const weft_webhook_keys[] = {
  "type", "run_id", "thread_id", "flow", "task", "attempt", "seq", "time", "output", "error",
  "json", NULL
};

/* Whose event it is: a run's id, or a thread's (thread.* events). */
static const char *
weft_webhook_owner_id (const WeftEvent *e)
{
  return weft_event_get_run_id (e) ? weft_event_get_run_id (e) : weft_event_get_thread_id (e);
}

static const char *
weft_webhook_check_key (const char *key, gpointer user_data)
{
  return g_strv_contains (weft_webhook_keys, key) ? "" : NULL;
}

/* "type/subtype", optionally followed by "; parameters". */
static gboolean
weft_webhook_is_media_type (const char *value)
{
  g_auto(GStrv) parts = NULL;
  g_autofree char *base = NULL;
  char *semi;

  if (value == NULL || strpbrk (value, "\r\n") != NULL)
    return FALSE;
  base = g_strdup (value);
  semi = strchr (base, ';');
  if (semi != NULL)
    *semi = '\0';
  parts = g_strsplit (g_strstrip (base), "/", -1);
  return g_strv_length (parts) == 2 &&
         weft_webhook_is_token (parts[0]) && weft_webhook_is_token (parts[1]);
}

static gboolean
weft_webhook_set_template (WeftWebhook *self, const WeftWebhookOptions *options,
                           GError **error)
{
  const char *content_type = options->content_type;
  g_autofree char *trial = NULL;
  g_autoptr(GError) local = NULL;

  if (!weft_webhook_is_media_type (content_type))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"content_type\": \"%s\" is not a media type (type/subtype)",
                   content_type != NULL ? content_type : "");
      return FALSE;
    }
  self->content_type = g_strdup (content_type);
  /* "application/json", "application/vnd.foo+json; charset=utf-8", … */
  self->escape_json = strstr (content_type, "json") != NULL;

  if (options->template == NULL)
    return TRUE;
  /* Rendered once with empty values, so that a bad placeholder is an
   * error when the flow loads rather than a warning per event. */
  trial = weft_template_render (options->template,
                                weft_webhook_check_key, NULL, &local);
  if (trial == NULL)
    {
      g_autofree char *keys = g_strjoinv (", ", (char **) weft_webhook_keys);

      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"template\": %s (placeholders: %s; write \"{{\" and \"}}\" "
                   "for literal braces)", local->message, keys);
      return FALSE;
    }
  self->template = g_strdup (options->template);
  return TRUE;
}

static gboolean
weft_webhook_set_secret (WeftWebhook *self, const char *secret, GError **error)
{
  if (secret == NULL)
    return TRUE;
  /* An unset ${VAR} that came out empty would sign with an empty key:
   * a receiver would reject every event, or worse, accept forgeries. */
  if (*secret == '\0')
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"secret\": must not be empty (leave it out to send unsigned)");
      return FALSE;
    }
  self->secret = g_bytes_new (secret, strlen (secret));
  return TRUE;
}

/* The table holds the ranges: weft checked them before create(). */
static void
weft_webhook_set_numbers (WeftWebhook *self, const WeftWebhookOptions *options)
{
  self->max_retries = options->max_retries;
  self->retry_base_us = options->retry_base_ms * 1000;
  self->max_retry_us = (gint64) (options->max_retry_s * G_USEC_PER_SEC);
  self->timeout_ms = (guint) ceil (options->timeout_s * 1000);
}

static gpointer
weft_webhook_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftWebhook) self = g_new0 (WeftWebhook, 1);
  const WeftWebhookOptions *options = weft_config_get_options (config);

  self->instance = g_strdup (weft_config_get_instance_name (config));
  if (!weft_webhook_set_url (self, options->url, error) ||
      !weft_event_set_parse (options->events, "events", &self->events, error) ||
      !weft_webhook_set_headers (self, options->headers, error) ||
      !weft_webhook_set_template (self, options, error) ||
      !weft_webhook_set_secret (self, options->secret, error))
    return NULL;
  weft_webhook_set_numbers (self, options);
  self->rand = g_rand_new ();
  return g_steal_pointer (&self);
}

static void
weft_webhook_destroy (gpointer instance)
{
  weft_webhook_free (instance);
}

/* ------------------------------------------------------------------------ */
/* The body                                                                 */

typedef struct {
  const WeftEvent *event;
  const char *json;
  gboolean escape_json;
  GPtrArray *strings;      /* keeps the values handed out alive */
} WeftWebhookValues;

/* Inside a JSON string: what json-glib would write between the quotes. */
static char *
weft_webhook_json_escape (const char *text)
{
  g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), text);
  g_autofree char *quoted = json_to_string (node, FALSE);

  return g_strndup (quoted + 1, strlen (quoted) - 2);
}

/* As the event JSON writes it: "2026-11-22T03:48:17.123456Z". */
static const char *
weft_webhook_time (WeftWebhookValues *v)
{
  gint64 wall_us = weft_event_get_wall_us (v->event);
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  g_autofree char *text = time != NULL ? g_date_time_format (time, "%Y-%m-%dT%H:%M:%S") : NULL;
  char *copy = g_strdup_printf ("%s.%06dZ", text != NULL ? text : "?",
                                (int) (wall_us % G_USEC_PER_SEC));

  g_ptr_array_add (v->strings, copy);
  return copy;
}

static const char *
weft_webhook_raw_value (const char *key, WeftWebhookValues *v)
{
  const WeftEvent *e = v->event;
  char *number = NULL;

  if (g_str_equal (key, "type"))
    return weft_event_type_to_string (weft_event_get_event_type (e));
  if (g_str_equal (key, "run_id"))
    return weft_event_get_run_id (e);
  if (g_str_equal (key, "thread_id"))
    return weft_event_get_thread_id (e);
  if (g_str_equal (key, "flow"))
    return weft_event_get_flow_name (e);
  if (g_str_equal (key, "task"))
    return weft_event_get_task_name (e);
  if (g_str_equal (key, "output"))
    return weft_event_get_output (e);
  if (g_str_equal (key, "error"))
    return weft_event_get_error (e);
  if (g_str_equal (key, "time"))
    return weft_webhook_time (v);
  if (g_str_equal (key, "attempt"))
    number = g_strdup_printf ("%u", weft_event_get_attempt (e));
  else if (g_str_equal (key, "seq"))
    number = g_strdup_printf ("%" G_GUINT64_FORMAT, weft_event_get_seq (e));
  if (number != NULL)
    g_ptr_array_add (v->strings, number);
  return number;
}

/* A field the event does not have renders empty; {json} is JSON already
 * and goes in as is. */
static const char *
weft_webhook_lookup (const char *key, gpointer user_data)
{
  WeftWebhookValues *v = user_data;
  const char *raw;
  char *escaped;

  if (g_str_equal (key, "json"))
    return v->json;
  raw = weft_webhook_raw_value (key, v);
  if (raw == NULL)
    raw = "";
  if (!v->escape_json)
    return raw;
  escaped = weft_webhook_json_escape (raw);
  g_ptr_array_add (v->strings, escaped);
  return escaped;
}

static GBytes *
weft_webhook_body (WeftWebhook *self, const WeftEvent *event, char *json /* transfer full */,
                   GError **error)
{
  g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  WeftWebhookValues values = { event, json, self->escape_json, strings };
  g_autofree char *owned = json;
  gsize length = strlen (json);
  char *body;

  /* Without a template the body is the event JSON itself. */
  if (self->template == NULL)
    return g_bytes_new_take (g_steal_pointer (&owned), length);
  body = weft_template_render (self->template, weft_webhook_lookup, &values, error);
  return body != NULL ? g_bytes_new_take (body, strlen (body)) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */

typedef enum {
  WEFT_WEBHOOK_SENT,       /* 2xx                                      */
  WEFT_WEBHOOK_RETRY,      /* connection error, 408, 429, 5xx          */
  WEFT_WEBHOOK_REFUSED,    /* any other status: retrying will not help */
} WeftWebhookOutcome;

typedef struct {
  GBytes *body;
  char *signature;         /* "sha256=…", or NULL                      */
  char *delivery;          /* run_id/seq: the same on every retry      */
  const char *type;
  /* Filled by each attempt: */
  char *problem;           /* what went wrong, for the warning         */
  gint64 retry_after_us;   /* the receiver's Retry-After, or -1        */
} WeftWebhookDelivery;

/* Retry-After is either seconds or an HTTP date. */
static gint64
weft_webhook_retry_after (const WeftHttpResponse *response)
{
  const char *value = weft_http_response_get_header (response, "Retry-After");
  g_autoptr(GDateTime) date = NULL;
  g_autoptr(GDateTime) now = NULL;
  guint64 seconds;

  g_autofree char *trimmed = NULL;

  if (value == NULL)
    return -1;
  trimmed = g_strstrip (g_strdup (value));
  if (g_ascii_string_to_unsigned (trimmed, 10, 0, G_MAXINT32, &seconds, NULL))
    return (gint64) seconds * G_USEC_PER_SEC;
  date = weft_http_parse_date (value);
  if (date == NULL)
    return -1;
  now = g_date_time_new_now_utc ();
  return MAX (0, g_date_time_difference (date, now));
}

/* The client never redirects a POST (one may turn into a GET without its
 * body), and keeps connections alive between events: a POST on a
 * connection the receiver just closed may be sent again, with the same
 * X-Weft-Delivery for receivers to deduplicate. */
static WeftHttpRequest *
weft_webhook_request (WeftWebhook *self, WeftWebhookDelivery *d)
{
  WeftHttpRequest *request = weft_http_request_new ("POST", self->url);

  weft_http_request_add_header (request, "User-Agent", "weft-webhook/" WEFT_WEBHOOK_VERSION);
  weft_http_request_add_header (request, "X-Weft-Event", d->type);
  weft_http_request_add_header (request, "X-Weft-Delivery", d->delivery);
  if (d->signature != NULL)
    weft_http_request_add_header (request, "X-Weft-Signature", d->signature);
  for (guint i = 0; self->header_names[i] != NULL; i++)
    weft_http_request_add_header (request, self->header_names[i], self->header_values[i]);
  weft_http_request_set_body (request, self->content_type, d->body);
  weft_http_request_set_timeout_ms (request, self->timeout_ms);
  weft_http_request_set_max_body (request, WEFT_WEBHOOK_MAX_REPLY_BYTES);
  return request;
}

/* The start of a reply, for the warning: receivers often say why. */
static char *
weft_webhook_reply_excerpt (GBytes *reply)
{
  gsize size = 0;
  const char *data = reply != NULL ? g_bytes_get_data (reply, &size) : NULL;
  g_autofree char *text = g_utf8_make_valid (data != NULL ? data : "",
                                             (gssize) MIN (size, WEFT_WEBHOOK_MAX_REPLY));

  g_strdelimit (g_strstrip (text), "\r\n\t", ' ');
  return g_steal_pointer (&text);
}

static WeftWebhookOutcome
weft_webhook_send_once (WeftWebhook *self, WeftWebhookDelivery *d)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftHttpResponse) response = weft_http_send (weft_webhook_request (self, d), NULL,
                                                         &error);
  g_autofree char *excerpt = NULL;
  guint status;

  g_clear_pointer (&d->problem, g_free);
  d->retry_after_us = -1;
  if (response == NULL)
    {
      d->problem = g_strdup (error->message);
      return WEFT_WEBHOOK_RETRY;
    }
  status = weft_http_response_get_status (response);
  if (status >= 200 && status < 300)
    return WEFT_WEBHOOK_SENT;

  excerpt = weft_webhook_reply_excerpt (weft_http_response_get_body (response));
  d->problem = g_strdup_printf ("HTTP %u %s%s%s", status, weft_http_response_get_reason (response),
                                *excerpt != '\0' ? ": " : "", excerpt);
  if (status == 408 || status == 429 || status >= 500)
    {
      d->retry_after_us = weft_webhook_retry_after (response);
      return WEFT_WEBHOOK_RETRY;
    }
  return WEFT_WEBHOOK_REFUSED;
}

/* base · 2^(retry-1), then "equal jitter": somewhere in its upper half, so
 * that many weft processes retrying one receiver spread out. */
static gint64
weft_webhook_backoff (WeftWebhook *self, guint retry)
{
  gint64 wait = self->retry_base_us;

  for (guint i = 1; i < retry && wait < WEFT_WEBHOOK_MAX_BACKOFF_US; i++)
    wait *= 2;
  wait = MIN (wait, WEFT_WEBHOOK_MAX_BACKOFF_US);
  if (wait < 2)
    return wait;
  return wait / 2 + g_rand_int_range (self->rand, 0, (gint32) (wait / 2));
}

/* How long to wait before retry number `retry`, or -1 to give up. */
static gint64
weft_webhook_next_wait (WeftWebhook *self, WeftWebhookDelivery *d, guint retry,
                        gint64 deadline)
{
  gint64 left = deadline - g_get_monotonic_time ();

  if (retry > self->max_retries || left <= 0)
    return -1;
  /* The receiver asked for this pause: sending sooner would be rude, so
   * an event that cannot wait that long within its budget is given up. */
  if (d->retry_after_us >= 0)
    return d->retry_after_us <= left ? d->retry_after_us : -1;
  return MIN (weft_webhook_backoff (self, retry), left);
}

static void
weft_webhook_give_up (WeftWebhook *self, WeftWebhookDelivery *d, const WeftEvent *event,
                      guint attempts)
{
  g_warning ("webhook \"%s\": gave up sending %s (run %s, seq %" G_GUINT64_FORMAT ") to %s "
             "after %u attempt%s: %s", self->instance, d->type, weft_webhook_owner_id (event),
             weft_event_get_seq (event), self->url_display, attempts, attempts == 1 ? "" : "s",
             d->problem);
}

static void
weft_webhook_deliver (WeftWebhook *self, const WeftEvent *event, WeftWebhookDelivery *d)
{
  gint64 deadline = g_get_monotonic_time () + self->max_retry_us;
  guint attempt = 1;

  for (;; attempt++)
    {
      WeftWebhookOutcome outcome = weft_webhook_send_once (self, d);
      gint64 wait;

      if (outcome == WEFT_WEBHOOK_SENT)
        {
          self->down = FALSE;
          return;
        }
      if (outcome == WEFT_WEBHOOK_REFUSED)
        {
          /* The receiver is up but does not want this request: retrying
           * the same bytes would get the same answer. */
          g_warning ("webhook \"%s\": %s refused %s (run %s, seq %" G_GUINT64_FORMAT "), "
                     "not retried: %s", self->instance, self->url_display, d->type,
                     weft_webhook_owner_id (event), weft_event_get_seq (event), d->problem);
          self->down = FALSE;
          return;
        }
      /* A receiver that stayed down through the last event's retries gets
       * one try per event until it answers, so that a backlog of events
       * cannot keep shutdown waiting max_retry_s for each of them. */
      wait = self->down ? -1 : weft_webhook_next_wait (self, d, attempt, deadline);
      if (wait < 0)
        break;
      g_usleep ((gulong) wait);
    }
  weft_webhook_give_up (self, d, event, attempt);
  self->down = TRUE;
}

static void
weft_webhook_on_event (gpointer instance, const WeftEvent *event)
{
  WeftWebhook *self = instance;
  guint type = weft_event_get_event_type (event);
  g_autoptr(GError) error = NULL;
  WeftWebhookDelivery d = { NULL, NULL, NULL, NULL, NULL, -1 };

  /* A type newer than this plugin is sent only when all are. */
  if (!WEFT_EVENT_SET_HAS (self->events, type))
    return;

  d.type = weft_event_type_to_string (type);
  d.body = weft_webhook_body (self, event, weft_event_to_json (event), &error);
  if (d.body == NULL)
    {
      g_warning ("webhook \"%s\": cannot render the template for %s (run %s): %s",
                 self->instance, d.type, weft_webhook_owner_id (event), error->message);
      return;
    }
  if (self->secret != NULL)
    {
      g_autofree char *hex = g_compute_hmac_for_bytes (G_CHECKSUM_SHA256, self->secret, d.body);

      d.signature = g_strconcat ("sha256=", hex, NULL);
    }
  d.delivery = g_strdup_printf ("%s/%" G_GUINT64_FORMAT, weft_webhook_owner_id (event),
                                weft_event_get_seq (event));
  weft_webhook_deliver (self, event, &d);
  g_bytes_unref (d.body);
  g_free (d.signature);
  g_free (d.delivery);
  g_free (d.problem);
}

static const WeftCallbackClass weft_webhook_class = {
  .on_event = weft_webhook_on_event,
};

static const WeftPluginDescriptor weft_webhook_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "webhook",
  .version = WEFT_WEBHOOK_VERSION,
  .description = "POSTs selected events (the event JSON or a template) to a URL, signed, with retries",
  .options = weft_webhook_options,
  .options_size = sizeof (WeftWebhookOptions),
  .create = weft_webhook_create,
  .destroy = weft_webhook_destroy,
  .callback = &weft_webhook_class,
};

WEFT_PLUGIN_DEFINE (weft_webhook_descriptor)
