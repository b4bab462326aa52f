/* weft-server-reply.c — what a request gets before and after its handler:
 * its admission, once its head is in and before any of its body is read
 * (the token, 401; the length it declares, 413; libsoup's own refusals
 * given weft's error shape), and the JSON replies; and, for handlers, its
 * body read as a JSON object with known members.
 *
 * Every error has one shape, {"status": N, "error": MESSAGE}, and its
 * message is made fit to send: it often echoes what the client sent (an
 * id, a path, a member name), which may be any bytes at any length. */
#include "weft-server-private.h"

#include <string.h>

/* Words of an error message longer than this many characters are cut in
 * the middle... */
#define WEFT_SERVER_WORD_MAX 80
/* ... and the whole message to this many bytes. */
#define WEFT_SERVER_MESSAGE_MAX 2048

/* ---- replies ------------------------------------------------------------------ */

GBytes *
weft_server_json_bytes (JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  gsize length = 0;

  json_generator_set_root (gen, node);
  char *text = json_generator_to_data (gen, &length);
  return g_bytes_new_take (text, length);
}

void
weft_server_reply_bytes (SoupServerMessage *msg, guint status, GBytes *json)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_server_message_set_status (msg, status, NULL);
  soup_message_headers_set_content_type (headers, "application/json", NULL);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), json);
}

void
weft_server_reply_json (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autoptr(GBytes) json = weft_server_json_bytes (node);

  json_node_unref (node);
  weft_server_reply_bytes (msg, status, json);
}

void
weft_server_reply_object (SoupServerMessage *msg, guint status, JsonObject *object)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  weft_server_reply_json (msg, status, node);
}

GBytes *
weft_server_error_bytes (guint status, const char *message)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  JsonObject *o = json_object_new ();
  g_autofree char *tidy = weft_message_tidy (message, WEFT_SERVER_WORD_MAX,
                                             WEFT_SERVER_MESSAGE_MAX);

  json_object_set_int_member (o, "status", status);
  json_object_set_string_member (o, "error", tidy);
  json_node_take_object (node, o);
  return weft_server_json_bytes (node);
}

void
weft_server_reply_error (SoupServerMessage *msg, guint status, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_autoptr(GBytes) json = weft_server_error_bytes (status, message);
  weft_server_reply_bytes (msg, status, json);
}

/* ---- authorization and limits, before the body ------------------------------------- */

/* Compares in time that depends on the lengths only. */
static gboolean
weft_server_token_equal (const char *given, const char *token)
{
  gsize n = strlen (token);
  gsize m = strlen (given);
  guchar diff = m != n;

  for (gsize i = 0; i < n; i++)
    diff |= (guchar) (token[i] ^ (i < m ? given[i] : 0));
  return diff == 0;
}

/* What needs no token: /healthz, and the dashboard's page and files
 * (weft-server-dashboard.c), which a browser fetches without one and
 * which hold no data. */
static gboolean
weft_server_is_open_path (const char *path)
{
  return g_str_equal (path, "/healthz") || g_str_equal (path, "/")
         || g_str_has_prefix (path, "/ui/");
}

static gboolean
weft_server_authorized (WeftServer *server, SoupServerMessage *msg)
{
  const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Authorization");

  if (server->token == NULL
      || weft_server_is_open_path (g_uri_get_path (soup_server_message_get_uri (msg))))
    return TRUE;
  return auth != NULL && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0
         && weft_server_token_equal (auth + 7, server->token);
}

/* libsoup's own refusals come without a body: give them the error shape. */
static void
weft_server_describe_soup_status (SoupServerMessage *msg, guint status)
{
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  g_autofree char *decoded = g_uri_unescape_string (path, NULL);

  if (soup_server_message_get_response_body (msg)->length > 0)
    return;
  if (status == SOUP_STATUS_BAD_REQUEST && decoded == NULL)
    weft_server_reply_error (msg, status, "the path %s does not decode: it has %%00 or an "
                             "escape that is not %%XX", path);
  else if (status == SOUP_STATUS_BAD_REQUEST
           && (strstr (decoded, "/../") || g_str_has_suffix (decoded, "/..")))
    weft_server_reply_error (msg, status, "the path %s has a \"..\" segment", path);
  else
    weft_server_reply_error (msg, status, "%s", soup_status_get_phrase (status));
}

static void
weft_server_reply_unauthorized (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "WWW-Authenticate", "Bearer realm=\"weft\"");
  weft_server_reply_error (msg, SOUP_STATUS_UNAUTHORIZED,
                           soup_message_headers_get_one (headers, "Authorization")
                             ? "the bearer token is wrong"
                             : "this server needs \"Authorization: Bearer TOKEN\"");
}

gboolean
weft_server_admit (WeftServer *server, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  guint status = soup_server_message_get_status (msg);

  if (status != 0)
    weft_server_describe_soup_status (msg, status);
  else if (!weft_server_authorized (server, msg))
    weft_server_reply_unauthorized (msg);
  else if (soup_server_message_is_options_ping (msg))
    weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                             "no such endpoint: OPTIONS * (see docs/http-api.md)");
  else if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
           && (guint64) soup_message_headers_get_content_length (headers)
                > server->limits.max_body)
    weft_server_reply_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                             "the request body is larger than %" G_GUINT64_FORMAT " bytes",
                             server->limits.max_body);
  else
    return TRUE;
  return FALSE;
}

/* ---- the request body, for handlers ------------------------------------------------ */

JsonObject *
weft_server_read_object (WeftServer *server, SoupServerMessage *msg,
                         const char *const *allowed)
{
  /* No larger than the limit: the connection refused it otherwise,
   * chunked or not, before reading past it. */
  g_autoptr(GBytes) bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autoptr(GError) error = NULL;

  /* No body at all is an empty object: a kickoff needs nothing more. */
  if (g_bytes_get_size (bytes) == 0)
    return json_object_new ();
  g_autoptr(JsonNode) root = weft_json_parse (g_bytes_get_data (bytes, NULL),
                                              (gssize) g_bytes_get_size (bytes), &error);
  if (root == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "malformed JSON in the body: %s",
                               error->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "the body must be a JSON object, not %s", weft_json_describe (root));
      return NULL;
    }
  JsonObject *obj = json_node_get_object (root);
  JsonObjectIter iter;
  const char *key;
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, NULL))
    if (!g_strv_contains (allowed, key))
      {
        g_autofree char *known = g_strjoinv (", ", (char **) allowed);
        g_autofree char *shown = weft_message_quote (key, 40);
        weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                                 "unknown member %s in the body (known: %s)", shown, known);
        return NULL;
      }
  return json_object_ref (obj);
}

gboolean
weft_server_get_uint_member (SoupServerMessage *msg, JsonObject *obj, const char *key,
                             guint min, guint max, guint *out)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < min || json_node_get_int (node) > max)
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "\"%s\" must be an integer from %u to %u", key, min, max);
      return FALSE;
    }
  *out = (guint) json_node_get_int (node);
  return TRUE;
}

const char *
weft_server_get_string (SoupServerMessage *msg, JsonObject *obj, const char *key,
                        gboolean required)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  if (node == NULL && !required)
    return "";
  weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST, node ? "\"%s\" must be a string"
                                                              : "missing \"%s\" (a string)", key);
  return NULL;
}
