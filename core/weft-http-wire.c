/* weft-http-wire.c — HTTP/1.1 as the lean transport (weft-http-lean.c)
 * writes a request and reads its answer: bytes in, bytes out, no sockets,
 * so that a fuzzer can feed it whatever a server might send
 * (tests/fuzz/fuzz-http-response.c).
 *
 * The request's head is made once, on the thread that sends the request,
 * without its last line: the transport adds "Connection: close" or not,
 * and the body goes out of the request's own GBytes (writev).
 *
 * The answer: each head line goes to weft_http_response_add_line, the
 * parser the libcurl path uses too (status line, headers, the 256 KiB
 * bound, interim 1xx heads); this file adds what libcurl did there: a head
 * must start with a status line, and a line cut by the end of a read is
 * counted against the bound before it ends.  Then the body, framed by
 * Content-Length, chunks (weft-chunked.c, shared with the server) or the
 * end of the connection; none for HEAD, 204 and 304.  Body bytes go to
 * the caller's function as they come; taking fewer stops the answer (the
 * body limit: the answer is kept, cut). */
#include "weft-http-private.h"

#include <string.h>

/* ---- the request ----------------------------------------------------------------- */

static gboolean
weft_http_wire_has_header (const WeftHttpRequest *request, const char *name)
{
  gsize len = strlen (name);

  for (guint i = 0; i < request->headers->len; i++)
    {
      const char *line = request->headers->pdata[i];
      if (g_ascii_strncasecmp (line, name, len) == 0 && line[len] == ':')
        return TRUE;
    }
  return FALSE;
}

/* The path and query of the URL ("/" when it has none), without its
 * fragment. */
static void
weft_http_wire_append_target (GString *head, const char *url)
{
  const char *authority = strstr (url, "://") + 3;
  const char *path = authority + strcspn (authority, "/?#");
  gsize len = strcspn (path, "#");

  if (*path != '/')
    g_string_append_c (head, '/');
  g_string_append_len (head, path, (gssize) len);
}

GBytes *
weft_http_wire_request_head (const WeftHttpRequest *request, const char *authority)
{
  GString *head = g_string_sized_new (256);

  g_string_append (head, request->method);
  g_string_append_c (head, ' ');
  weft_http_wire_append_target (head, request->url);
  g_string_append (head, " HTTP/1.1\r\n");
  /* What libcurl sends: Host (unless given), Accept (unless given). */
  if (!weft_http_wire_has_header (request, "Host"))
    {
      g_string_append (head, "Host: ");
      g_string_append (head, authority);
      g_string_append (head, "\r\n");
    }
  if (!weft_http_wire_has_header (request, "Accept"))
    g_string_append (head, "Accept: */*\r\n");
  for (guint i = 0; i < request->headers->len; i++)
    {
      const char *line = request->headers->pdata[i];
      const char *value = strchr (line, ':') + 1;

      /* As libcurl: a header without a value is not sent. */
      if (value[strspn (value, " \t")] == '\0')
        continue;
      g_string_append (head, line);
      g_string_append (head, "\r\n");
    }
  if (request->body != NULL)
    {
      g_string_append (head, "Content-Type: ");
      g_string_append (head, request->content_type != NULL ? request->content_type : "");
      g_string_append_printf (head, "\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n",
                              g_bytes_get_size (request->body));
    }
  return g_string_free_to_bytes (head);
}

/* ---- the answer ------------------------------------------------------------------ */

void
weft_http_wire_init (WeftHttpWire *wire, WeftHttpResponse *response, gboolean head_request,
                     WeftHttpWireBodyFunc body, gpointer user_data)
{
  *wire = (WeftHttpWire) {
    .response = response,
    .body = body,
    .user_data = user_data,
    .state = WEFT_HTTP_WIRE_IN_HEAD,
    .head_request = head_request,
    .at_status = TRUE,
  };
}

static WeftHttpWireResult
weft_http_wire_fail (GError **error, const char *message)
{
  g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_FAILED, message);
  return WEFT_HTTP_WIRE_FAILED;
}

/* Does a comma-separated header value have `token` (a Connection's
 * "close", a Transfer-Encoding's last "chunked")? */
static gboolean
weft_http_wire_has_token (const char *value, const char *token, gboolean last_only)
{
  g_auto(GStrv) items = g_strsplit (value, ",", -1);
  guint n = g_strv_length (items);

  for (guint i = last_only && n > 0 ? n - 1 : 0; i < n; i++)
    if (g_ascii_strcasecmp (g_strstrip (items[i]), token) == 0)
      return TRUE;
  return FALSE;
}

/* Every Content-Length the answer has must be the same number: two that
 * differ would be read two ways. */
static gboolean
weft_http_wire_content_length (WeftHttpResponse *response, guint64 *length, gboolean *found)
{
  guint n = weft_http_response_get_n_headers (response);

  *found = FALSE;
  for (guint i = 0; i < n; i++)
    {
      g_auto(GStrv) items = NULL;

      if (g_ascii_strcasecmp (weft_http_response_get_header_name (response, i), "Content-Length") != 0)
        continue;
      items = g_strsplit (weft_http_response_get_header_value (response, i), ",", -1);
      for (guint k = 0; items[k] != NULL; k++)
        {
          const char *text = g_strstrip (items[k]);
          guint64 value;

          if (*text == '\0' || strspn (text, "0123456789") != strlen (text)
              || !g_ascii_string_to_unsigned (text, 10, 0, G_MAXINT64, &value, NULL)
              || (*found && value != *length))
            return FALSE;
          *length = value;
          *found = TRUE;
        }
    }
  return TRUE;
}

/* The head is in: how the body is framed, and whether the connection may
 * carry another request afterwards. */
static WeftHttpWireResult
weft_http_wire_head_done (WeftHttpWire *wire, GError **error)
{
  WeftHttpResponse *response = wire->response;
  guint status = weft_http_response_get_status (response);
  const char *connection = weft_http_response_get_header (response, "Connection");
  const char *encoding = NULL;
  guint64 length = 0;
  gboolean has_length;

  for (guint i = 0; i < weft_http_response_get_n_headers (response); i++)
    if (g_ascii_strcasecmp (weft_http_response_get_header_name (response, i), "Transfer-Encoding") == 0)
      encoding = weft_http_response_get_header_value (response, i);
  if (connection != NULL && weft_http_wire_has_token (connection, "close", FALSE))
    wire->close_after = TRUE;
  if (weft_http_response_get_version (response) < 11
      && (connection == NULL || !weft_http_wire_has_token (connection, "keep-alive", FALSE)))
    wire->close_after = TRUE;
  if (wire->head_request || status == 204 || status == 304)
    {
      wire->state = WEFT_HTTP_WIRE_ENDED;
      return WEFT_HTTP_WIRE_DONE;
    }
  if (encoding != NULL)
    {
      if (weft_http_wire_has_token (encoding, "chunked", TRUE))
        {
          weft_chunked_init (&wire->chunked, G_MAXUINT64, WEFT_HTTP_MAX_HEAD);
          wire->state = WEFT_HTTP_WIRE_IN_CHUNKS;
        }
      else
        {
          wire->state = WEFT_HTTP_WIRE_TO_CLOSE;
          wire->close_after = TRUE;
        }
      return WEFT_HTTP_WIRE_MORE;
    }
  if (!weft_http_wire_content_length (response, &length, &has_length))
    return weft_http_wire_fail (error, "the answer's Content-Length is not one number");
  if (!has_length)
    {
      wire->state = WEFT_HTTP_WIRE_TO_CLOSE;
      wire->close_after = TRUE;
      return WEFT_HTTP_WIRE_MORE;
    }
  wire->remaining = length;
  wire->state = length > 0 ? WEFT_HTTP_WIRE_IN_LENGTH : WEFT_HTTP_WIRE_ENDED;
  return wire->state == WEFT_HTTP_WIRE_ENDED ? WEFT_HTTP_WIRE_DONE : WEFT_HTTP_WIRE_MORE;
}

/* Whole lines of the head; an incomplete last one is left for the next
 * read (`used` stops before it). */
static WeftHttpWireResult
weft_http_wire_head (WeftHttpWire *wire, const guint8 *data, gsize n, gsize *used, GError **error)
{
  WeftHttpResponse *response = wire->response;
  gsize i = 0;

  while (i < n)
    {
      const guint8 *nl = memchr (data + i, '\n', n - i);
      gsize len;

      if (nl == NULL)
        {
          /* Counted before it ends: a line without end is no way round
           * the bound. */
          if (wire->head_bytes + (n - i) > WEFT_HTTP_MAX_HEAD)
            return weft_http_wire_fail (error, WEFT_HTTP_HEAD_TOO_LARGE);
          break;
        }
      len = (gsize) (nl - (data + i)) + 1;
      wire->head_bytes += len;
      if (wire->at_status && (len < 5 || memcmp (data + i, "HTTP/", 5) != 0))
        return weft_http_wire_fail (error, "the answer's status line is not HTTP's");
      wire->at_status = FALSE;
      if (!weft_http_response_add_line (response, (const char *) data + i, len))
        return weft_http_wire_fail (error, weft_http_response_get_head_error (response));
      i += len;
      if (len <= 2 && (len == 1 || data[i - 2] == '\r'))
        {
          if (weft_http_response_head_is_done (response))
            {
              *used = i;
              return weft_http_wire_head_done (wire, error);
            }
          wire->at_status = TRUE;         /* an interim 1xx: the real head follows */
        }
    }
  *used = i;
  return WEFT_HTTP_WIRE_MORE;
}

/* Body bytes to the caller: FALSE when it took fewer (it stops). */
static gboolean
weft_http_wire_give (WeftHttpWire *wire, const guint8 *data, gsize n)
{
  return n == 0 || wire->body (data, n, wire->user_data) == n;
}

/* `used` is set on every way out, a failure's too (where the framing
 * broke): found by fuzz-http-response, which reads it after any end. */
static WeftHttpWireResult
weft_http_wire_chunks (WeftHttpWire *wire, const guint8 *data, gsize n, gsize *used,
                       GError **error)
{
  gsize i = 0;

  *used = 0;
  while (i < n)
    {
      gsize k = weft_chunked_take_data (&wire->chunked, n - i);

      if (k > 0)
        {
          if (!weft_http_wire_give (wire, data + i, k))
            {
              *used = i + k;
              return WEFT_HTTP_WIRE_STOPPED;
            }
          i += k;
          continue;
        }
      *used = ++i;
      switch (weft_chunked_byte (&wire->chunked, data[i - 1], error))
        {
        case WEFT_CHUNKED_MORE:
          break;
        case WEFT_CHUNKED_ENDED:
          wire->state = WEFT_HTTP_WIRE_ENDED;
          return WEFT_HTTP_WIRE_DONE;
        case WEFT_CHUNKED_TOO_LARGE:
          return weft_http_wire_fail (error, "malformed chunked body: a chunk size is too large");
        case WEFT_CHUNKED_BAD:
        default:
          return WEFT_HTTP_WIRE_FAILED;   /* `error` says how */
        }
    }
  *used = i;
  return WEFT_HTTP_WIRE_MORE;
}

WeftHttpWireResult
weft_http_wire_feed (WeftHttpWire *wire, const guint8 *data, gsize n, gsize *used, GError **error)
{
  WeftHttpWireResult result = WEFT_HTTP_WIRE_MORE;
  gsize k = 0;

  *used = 0;
  if (n > 0)
    wire->started = TRUE;
  if (wire->state == WEFT_HTTP_WIRE_IN_HEAD)
    {
      result = weft_http_wire_head (wire, data, n, &k, error);
      *used = k;
      if (result != WEFT_HTTP_WIRE_MORE || wire->state == WEFT_HTTP_WIRE_IN_HEAD)
        return result;
    }
  data += *used;
  n -= *used;
  switch (wire->state)
    {
    case WEFT_HTTP_WIRE_IN_LENGTH:
      k = (gsize) MIN ((guint64) n, wire->remaining);
      wire->remaining -= k;
      *used += k;
      if (!weft_http_wire_give (wire, data, k))
        return WEFT_HTTP_WIRE_STOPPED;
      if (wire->remaining > 0)
        return WEFT_HTTP_WIRE_MORE;
      wire->state = WEFT_HTTP_WIRE_ENDED;
      return WEFT_HTTP_WIRE_DONE;
    case WEFT_HTTP_WIRE_IN_CHUNKS:
      result = weft_http_wire_chunks (wire, data, n, &k, error);
      *used += k;
      return result;
    case WEFT_HTTP_WIRE_TO_CLOSE:
      *used += n;
      return weft_http_wire_give (wire, data, n) ? WEFT_HTTP_WIRE_MORE : WEFT_HTTP_WIRE_STOPPED;
    case WEFT_HTTP_WIRE_ENDED:
    default:
      return WEFT_HTTP_WIRE_DONE;
    }
}

gboolean
weft_http_wire_end (WeftHttpWire *wire, GError **error)
{
  switch (wire->state)
    {
    case WEFT_HTTP_WIRE_TO_CLOSE:
      wire->state = WEFT_HTTP_WIRE_ENDED;
      return TRUE;
    case WEFT_HTTP_WIRE_ENDED:
      return TRUE;
    case WEFT_HTTP_WIRE_IN_HEAD:
      weft_http_wire_fail (error, wire->started ? "the server closed the connection inside the "
                                                  "answer's head"
                                                : "the server closed the connection without an answer");
      return FALSE;
    case WEFT_HTTP_WIRE_IN_LENGTH:
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED,
                   "the server closed the connection with %" G_GUINT64_FORMAT
                   " bytes remaining to read", wire->remaining);
      return FALSE;
    case WEFT_HTTP_WIRE_IN_CHUNKS:
    default:
      weft_http_wire_fail (error, "the server closed the connection inside a chunked body");
      return FALSE;
    }
}
