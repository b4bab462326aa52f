/* weft-http-request.c — the SDK's HTTP request, as a plugin builds it, and
 * its response, as the I/O thread reads it.
 *
 * A request is plain data: built on one thread, then taken by a send
 * function, which checks it (weft_http_request_check) before anything goes
 * out, so that a header with a line break cannot smuggle a second request.
 * A response's head comes line by line from libcurl (weft-http-call.c) and
 * is parsed here: the status line, then "Name: value" lines, bounded in
 * size; the body is whatever the call appended.  Once handed to a plugin a
 * response is read-only.
 */
#include "weft-http-private.h"

#include <libsoup/soup.h>
#include <string.h>

struct _WeftHttpResponse {
  guint status;
  guint version;                /* 10, 11, 20 */
  char *reason;
  GPtrArray *names;
  GPtrArray *values;
  gsize head_bytes;
  gboolean head_done;
  const char *head_error;       /* why add_line refused, or NULL */
  GByteArray *body;
  GBytes *body_bytes;           /* made on the first get_body */
  gboolean truncated;
};

/* ---- requests -------------------------------------------------------------- */

WeftHttpRequest *
weft_http_request_new (const char *method, const char *url)
{
  WeftHttpRequest *request = g_new0 (WeftHttpRequest, 1);

  g_return_val_if_fail (method != NULL && url != NULL, NULL);
  request->method = g_strdup (method);
  request->url = g_strdup (url);
  request->headers = g_ptr_array_new_with_free_func (g_free);
  return request;
}

void
weft_http_request_free (WeftHttpRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->method);
  g_free (request->url);
  g_ptr_array_unref (request->headers);
  g_free (request->content_type);
  g_clear_pointer (&request->body, g_bytes_unref);
  g_free (request->ca_file);
  g_free (request);
}

void
weft_http_request_add_header (WeftHttpRequest *request, const char *name, const char *value)
{
  g_return_if_fail (request != NULL && name != NULL && value != NULL);
  g_ptr_array_add (request->headers, g_strconcat (name, ": ", value, NULL));
}

void
weft_http_request_set_body (WeftHttpRequest *request, const char *content_type, GBytes *body)
{
  g_return_if_fail (request != NULL && body != NULL);
  g_free (request->content_type);
  request->content_type = g_strdup (content_type);
  g_clear_pointer (&request->body, g_bytes_unref);
  request->body = g_bytes_ref (body);
}

void
weft_http_request_set_timeout_ms (WeftHttpRequest *request, guint timeout_ms)
{
  g_return_if_fail (request != NULL);
  request->timeout_ms = timeout_ms;
}

void
weft_http_request_set_max_body (WeftHttpRequest *request, gsize max_bytes)
{
  g_return_if_fail (request != NULL);
  request->max_body = max_bytes;
}

void
weft_http_request_set_follow_redirects (WeftHttpRequest *request, guint max)
{
  g_return_if_fail (request != NULL);
  request->max_redirects = max;
}

void
weft_http_request_set_ca_file (WeftHttpRequest *request, const char *path)
{
  g_return_if_fail (request != NULL);
  g_free (request->ca_file);
  request->ca_file = g_strdup (path);
}

/* RFC 9110's token: a method, a header's name; `length` bytes of it, or
 * up to its end for -1. */
static gboolean
weft_http_is_token (const char *text, gssize length)
{
  gsize n = length < 0 ? strlen (text) : (gsize) length;

  if (n == 0)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (text[i]) && (text[i] == '\0' || strchr ("!#$%&'*+-.^_`|~", text[i]) == NULL))
      return FALSE;
  return TRUE;
}

/* Checked where it lies: a request carries a few, each checked once. */
static gboolean
weft_http_check_header (const char *line, GError **error)
{
  const char *colon = strchr (line, ':');

  if (!weft_http_is_token (line, colon - line))
    {
      g_autofree char *name = g_strndup (line, (gsize) (colon - line));
      g_autofree char *shown = weft_message_quote (name, 64);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "the header name %s is not a token", shown);
      return FALSE;
    }
  if (strpbrk (colon, "\r\n") != NULL)
    {
      g_autofree char *name = g_strndup (line, (gsize) (colon - line));
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "the value of header %s has a line break", name);
      return FALSE;
    }
  return TRUE;
}

gboolean
weft_http_request_check (const WeftHttpRequest *request, GError **error)
{
  g_autofree char *origin = NULL;

  if (!weft_http_is_token (request->method, -1))
    {
      g_autofree char *shown = weft_message_quote (request->method, 64);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "%s is not an HTTP method", shown);
      return FALSE;
    }
  origin = weft_http_request_origin (request);
  if (origin == NULL
      || (!g_str_has_prefix (origin, "http://") && !g_str_has_prefix (origin, "https://"))
      || strpbrk (request->url, " \t\r\n") != NULL)
    {
      g_autofree char *shown = weft_message_quote (request->url, 200);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s is not an absolute http or https URL", shown);
      return FALSE;
    }
  for (guint i = 0; i < request->headers->len; i++)
    if (!weft_http_check_header (request->headers->pdata[i], error))
      return FALSE;
  if (request->content_type != NULL && strpbrk (request->content_type, "\r\n") != NULL)
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "the content type has a line break");
      return FALSE;
    }
  return TRUE;
}

char *
weft_http_request_origin (const WeftHttpRequest *request)
{
  const char *url = request->url;
  const char *sep = strstr (url, "://");
  const char *host, *end, *at;

  if (sep == NULL || sep == url)
    return NULL;
  host = sep + 3;
  end = host + strcspn (host, "/?#");
  /* user:password@ is no part of where the connection goes. */
  at = g_strstr_len (host, end - host, "@");
  while (at != NULL)
    {
      host = at + 1;
      at = g_strstr_len (host, end - host, "@");
    }
  if (end == host)
    return NULL;
  g_autofree char *scheme = g_strndup (url, (gsize) (sep - url));
  g_autofree char *authority = g_strndup (host, (gsize) (end - host));
  g_autofree char *origin = g_strconcat (scheme, "://", authority, NULL);
  return g_ascii_strdown (origin, -1);
}

/* ---- responses ------------------------------------------------------------- */

WeftHttpResponse *
weft_http_response_new (void)
{
  WeftHttpResponse *response = g_new0 (WeftHttpResponse, 1);

  response->reason = g_strdup ("");
  response->names = g_ptr_array_new_with_free_func (g_free);
  response->values = g_ptr_array_new_with_free_func (g_free);
  response->body = g_byte_array_new ();
  return response;
}

void
weft_http_response_free (WeftHttpResponse *response)
{
  if (response == NULL)
    return;
  g_free (response->reason);
  g_ptr_array_unref (response->names);
  g_ptr_array_unref (response->values);
  g_clear_pointer (&response->body, g_byte_array_unref);
  g_clear_pointer (&response->body_bytes, g_bytes_unref);
  g_free (response);
}

/* "HTTP/1.1 200 OK", "HTTP/2 200 ". */
static gboolean
weft_http_response_status_line (WeftHttpResponse *response, const char *line)
{
  const char *p = line + strlen ("HTTP/");
  guint major = 0, minor = 0, status = 0;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  major = (guint) (*p++ - '0');
  if (*p == '.' && g_ascii_isdigit (p[1]))
    {
      minor = (guint) (p[1] - '0');
      p += 2;
    }
  if (*p++ != ' ')
    return FALSE;
  for (guint i = 0; i < 3; i++, p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      status = status * 10 + (guint) (*p - '0');
    }
  if (*p != '\0' && *p != ' ')
    return FALSE;
  g_ptr_array_set_size (response->names, 0);
  g_ptr_array_set_size (response->values, 0);
  response->status = status;
  response->version = major * 10 + minor;
  g_autofree char *reason = g_strstrip (g_strdup (*p == ' ' ? p + 1 : p));
  g_free (response->reason);
  response->reason = g_utf8_make_valid (reason, -1);
  response->head_done = FALSE;
  return TRUE;
}

gboolean
weft_http_response_add_line (WeftHttpResponse *response, const char *data, gsize length)
{
  g_autofree char *line = NULL;
  const char *colon;

  response->head_bytes += length;
  if (response->head_bytes > WEFT_HTTP_MAX_HEAD)
    {
      response->head_error = WEFT_HTTP_HEAD_TOO_LARGE;
      return FALSE;
    }
  while (length > 0 && (data[length - 1] == '\n' || data[length - 1] == '\r'))
    length--;
  line = g_strndup (data, length);
  if (g_str_has_prefix (line, "HTTP/"))
    {
      if (weft_http_response_status_line (response, line))
        return TRUE;
      response->head_error = "the answer's status line is not HTTP's";
      return FALSE;
    }
  if (length == 0)
    {
      /* An interim answer (100 Continue) is followed by the real one. */
      response->head_done = response->status >= 200;
      return TRUE;
    }
  colon = strchr (line, ':');
  if (colon == NULL || response->head_done)
    return TRUE;                /* a folded line, a trailer: not kept */
  g_ptr_array_add (response->names, g_strndup (line, (gsize) (colon - line)));
  g_ptr_array_add (response->values, g_strstrip (g_strdup (colon + 1)));
  return TRUE;
}

const char *
weft_http_response_get_head_error (const WeftHttpResponse *response)
{
  return response->head_error;
}

gboolean
weft_http_response_head_is_done (const WeftHttpResponse *response)
{
  return response->head_done;
}

GByteArray *
weft_http_response_get_body_array (WeftHttpResponse *response)
{
  return response->body;
}

void
weft_http_response_set_truncated (WeftHttpResponse *response)
{
  response->truncated = TRUE;
}

guint
weft_http_response_get_status (const WeftHttpResponse *response)
{
  return response->status;
}

const char *
weft_http_response_get_reason (const WeftHttpResponse *response)
{
  return response->reason;
}

guint
weft_http_response_get_version (const WeftHttpResponse *response)
{
  return response->version;
}

const char *
weft_http_response_get_header (const WeftHttpResponse *response, const char *name)
{
  for (guint i = 0; i < response->names->len; i++)
    if (g_ascii_strcasecmp (response->names->pdata[i], name) == 0)
      return response->values->pdata[i];
  return NULL;
}

guint
weft_http_response_get_n_headers (const WeftHttpResponse *response)
{
  return response->names->len;
}

const char *
weft_http_response_get_header_name (const WeftHttpResponse *response, guint i)
{
  g_return_val_if_fail (i < response->names->len, NULL);
  return response->names->pdata[i];
}

const char *
weft_http_response_get_header_value (const WeftHttpResponse *response, guint i)
{
  g_return_val_if_fail (i < response->values->len, NULL);
  return response->values->pdata[i];
}

/* The bytes are made once, from the array, on first asking: a response is
 * read by one thread at a time. */
GBytes *
weft_http_response_get_body (const WeftHttpResponse *response)
{
  WeftHttpResponse *self = (WeftHttpResponse *) response;

  if (self->body_bytes == NULL)
    self->body_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&self->body));
  return self->body_bytes;
}

gboolean
weft_http_response_is_truncated (const WeftHttpResponse *response)
{
  return response->truncated;
}

/* libsoup is linked for the server anyway: its parser knows the three
 * forms, and the obsolete ones servers still send. */
GDateTime *
weft_http_parse_date (const char *text)
{
  g_return_val_if_fail (text != NULL, NULL);
  return soup_date_time_new_from_http_string (text);
}
