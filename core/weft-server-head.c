/* weft-server-head.c — a request head, line by line, as the framing
 * (weft-server-input.c) reads it.
 *
 * libsoup 3.2 answers a head it cannot use with an empty 400, 417, 501 or
 * 505, or drops the connection without a word (two different
 * Content-Lengths, one past 64 bits), and takes some heads another way
 * than the framing does (a header line without a colon is skipped,
 * Content-Length and Transfer-Encoding together are read as chunked).  So
 * each line is checked here as it ends, the way libsoup would read it,
 * and a head libsoup would refuse or misread is refused first, with a
 * message that names what is wrong.  What libsoup reads well is let
 * through as it is: this judges heads, libsoup still parses them. */
#include "weft-server-private.h"

#include <string.h>

/* A line at most this long is quoted whole in a message (the reply cuts
 * long words anyway). */
#define WEFT_SERVER_QUOTE_MAX 200

void
weft_server_head_init (WeftServerHead *head, guint64 max_body)
{
  memset (head, 0, sizeof *head);
  head->line = g_string_sized_new (128);
  head->max_body = max_body;
}

void
weft_server_head_reset (WeftServerHead *head)
{
  /* A long head's buffer is not kept for every request that follows. */
  if (head->line->allocated_len > 4096)
    {
      g_string_free (head->line, TRUE);
      head->line = g_string_sized_new (128);
    }
  g_string_truncate (head->line, 0);
  head->blank_skipped = FALSE;
  g_clear_pointer (&head->method, g_free);
  g_clear_pointer (&head->target, g_free);
  g_clear_pointer (&head->host, g_free);
  g_clear_pointer (&head->length, g_free);
  g_clear_pointer (&head->expect, g_free);
  head->minor = 0;
  head->chunked = FALSE;
}

void
weft_server_head_clear (WeftServerHead *head)
{
  weft_server_head_reset (head);
  g_string_free (head->line, TRUE);
  head->line = NULL;
}

static guint
weft_server_head_refuse (GError **error, guint status, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static guint
weft_server_head_refuse (GError **error, guint status, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID, message);
  return status;
}

/* The line, for a message. */
static char *
weft_server_head_quote (const char *line, gsize len)
{
  return g_strndup (line, MIN (len, WEFT_SERVER_QUOTE_MAX));
}

static gboolean
weft_server_is_space (char c)
{
  return c == ' ' || c == '\t';
}

/* Spaces and tabs around `value` removed, in place: all that libsoup
 * takes for whitespace around a header's value.  (Not g_strstrip: a form
 * feed or vertical tab it removes stays in libsoup's value, so that a
 * Transfer-Encoding the framing read as "chunked" was unknown to libsoup,
 * which answered it with an empty 501 and leaked the request's path.) */
static char *
weft_server_head_trim (char *value)
{
  char *end = value + strlen (value);

  while (weft_server_is_space (*value))
    value++;
  while (end > value && weft_server_is_space (end[-1]))
    end--;
  *end = '\0';
  return value;
}

/* The characters of a token (RFC 9110 5.6.2): a header's name. */
static gboolean
weft_server_is_tchar (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

/* ---- the request line ------------------------------------------------------------ */

/* The next word of `*p` (up to a space or tab, or `end`), spaces skipped
 * after it. */
static char *
weft_server_head_word (const char **p, const char *end)
{
  const char *start = *p;

  while (*p < end && !weft_server_is_space (**p))
    (*p)++;
  char *word = g_strndup (start, (gsize) (*p - start));
  while (*p < end && weft_server_is_space (**p))
    (*p)++;
  return word;
}

/* "HTTP/" DIGITS "." DIGITS, as libsoup reads it; FALSE for anything else. */
static gboolean
weft_server_parse_version (const char *version, guint64 *major, guint64 *minor)
{
  const char *dot;

  if (!g_str_has_prefix (version, "HTTP/") || !(dot = strchr (version + 5, '.'))
      || dot == version + 5 || dot[1] == '\0'
      || strspn (version + 5, "0123456789") != (gsize) (dot - version - 5)
      || strspn (dot + 1, "0123456789") != strlen (dot + 1))
    return FALSE;
  *major = g_ascii_strtoull (version + 5, NULL, 10);
  *minor = g_ascii_strtoull (dot + 1, NULL, 10);
  return TRUE;
}

/* METHOD TARGET HTTP/1.x: libsoup allows runs of spaces and tabs between
 * them, and spaces (not tabs) after. */
static guint
weft_server_head_request_line (WeftServerHead *head, const char *line, gsize len,
                               GError **error)
{
  const char *p = line, *end = line + len;
  g_autofree char *quoted = weft_server_head_quote (line, len);
  g_autofree char *method = weft_server_head_word (&p, end);
  g_autofree char *target = weft_server_head_word (&p, end);
  const char *version_start = p;
  guint64 major = 0, minor = 0;

  while (p < end && !weft_server_is_space (*p))
    p++;
  g_autofree char *version = g_strndup (version_start, (gsize) (p - version_start));
  if (*method == '\0' || *target == '\0' || *version == '\0'
      || (gsize) (end - p) != strspn (p, " "))
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "malformed request line \"%s\": expected METHOD TARGET "
                                    "HTTP/1.1, as in \"GET /healthz HTTP/1.1\"", quoted);
  if (!weft_server_parse_version (version, &major, &minor))
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "malformed request line \"%s\": \"%s\" is not an HTTP "
                                    "version", quoted, version);
  if (major != 1 || minor > 1)
    return weft_server_head_refuse (error, SOUP_STATUS_HTTP_VERSION_NOT_SUPPORTED,
                                    "%s is not supported: weft speaks HTTP/1.1 and HTTP/1.0",
                                    version);
  head->method = g_steal_pointer (&method);
  head->target = g_steal_pointer (&target);
  head->minor = (guint) minor;
  return 0;
}

/* ---- header fields ------------------------------------------------------------------ */

/* Two numbers of digits, equal whatever their leading zeros. */
static gboolean
weft_server_digits_equal (const char *a, const char *b)
{
  while (*a == '0')
    a++;
  while (*b == '0')
    b++;
  return g_str_equal (a, b);
}

/* Only digits: libsoup's reading takes a sign, or stops at a comma.  The
 * same length twice is the same length. */
static guint
weft_server_head_length (WeftServerHead *head, const char *value, GError **error)
{
  if (*value == '\0' || strspn (value, "0123456789") != strlen (value))
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "Content-Length \"%s\" is not a number of bytes", value);
  if (head->length && !weft_server_digits_equal (head->length, value))
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "two different Content-Length headers (\"%s\" and \"%s\")",
                                    head->length, value);
  if (head->length == NULL)
    head->length = g_strdup (value);
  return 0;
}

/* libsoup reads "chunked", once, and no other coding. */
static guint
weft_server_head_codings (WeftServerHead *head, const char *value, GError **error)
{
  g_auto(GStrv) codings = g_strsplit (value, ",", -1);

  /* g_strsplit makes no coding of "": libsoup makes an unknown one. */
  if (*value == '\0')
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "malformed Transfer-Encoding \"\": an empty coding");
  for (guint i = 0; codings[i]; i++)
    {
      const char *coding = weft_server_head_trim (codings[i]);
      if (*coding == '\0')
        return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                        "malformed Transfer-Encoding \"%s\": an empty coding",
                                        value);
      if (g_ascii_strcasecmp (coding, "chunked") != 0)
        return weft_server_head_refuse (error, SOUP_STATUS_NOT_IMPLEMENTED,
                                        "unsupported transfer coding \"%s\" (weft reads "
                                        "\"chunked\" only)", coding);
      if (head->chunked)
        return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                        "Transfer-Encoding applies \"chunked\" more than once");
      head->chunked = TRUE;
    }
  return 0;
}

/* libsoup knows one expectation, alone: "100-continue". */
static guint
weft_server_head_expect (WeftServerHead *head, const char *value, GError **error)
{
  if (head->expect || g_ascii_strcasecmp (value, "100-continue") != 0)
    return weft_server_head_refuse (error, SOUP_STATUS_EXPECTATION_FAILED,
                                    "unsupported expectation \"%s\" (weft knows only "
                                    "\"100-continue\")", value);
  head->expect = g_strdup (value);
  return 0;
}

/* NAME ":" VALUE, the value's surrounding spaces and tabs not its own. */
static guint
weft_server_head_field (WeftServerHead *head, const char *line, gsize len, GError **error)
{
  g_autofree char *quoted = weft_server_head_quote (line, len);
  const char *colon = memchr (line, ':', len);

  if (weft_server_is_space (line[0]))
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "header line \"%s\" starts with a space or tab: line "
                                    "folding is obsolete and not accepted", quoted);
  if (colon == NULL)
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "malformed header line \"%s\": no colon", quoted);
  if (colon == line)
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "malformed header line \"%s\": no name before its colon",
                                    quoted);
  g_autofree char *name = g_strndup (line, (gsize) (colon - line));
  for (const char *c = name; *c; c++)
    if (!weft_server_is_tchar (*c))
      return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                      "malformed header name \"%s\": a name is letters, "
                                      "digits and !#$%%&'*+-.^_`|~, with no space before its "
                                      "colon", name);
  /* The value without the spaces and tabs around it, as libsoup takes
   * it (see weft_server_head_trim). */
  const char *start = colon + 1, *end = line + len;
  while (start < end && weft_server_is_space (*start))
    start++;
  while (end > start && weft_server_is_space (end[-1]))
    end--;
  g_autofree char *value = g_strndup (start, (gsize) (end - start));
  if (g_ascii_strcasecmp (name, "Content-Length") == 0)
    return weft_server_head_length (head, value, error);
  if (g_ascii_strcasecmp (name, "Transfer-Encoding") == 0)
    return weft_server_head_codings (head, value, error);
  if (g_ascii_strcasecmp (name, "Expect") == 0)
    return weft_server_head_expect (head, value, error);
  if (g_ascii_strcasecmp (name, "Host") == 0)
    {
      if (head->host)
        return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                        "more than one Host header");
      head->host = g_steal_pointer (&value);
    }
  return 0;
}

/* ---- the whole head ------------------------------------------------------------------ */

/* `url` as libsoup parses a request's URL: NULL when it would refuse it. */
static GUri *
weft_server_head_parse_url (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);

  return uri && g_uri_get_host (uri) ? g_steal_pointer (&uri) : NULL;
}

/* A Host libsoup can make a URL of (an empty one is, for the target
 * then carries none). */
static gboolean
weft_server_head_host_ok (const char *host)
{
  g_autofree char *url = g_strconcat ("http://", host, "/", NULL);
  g_autoptr(GUri) uri = NULL;

  if (strchr (host, '/'))
    return FALSE;
  if (*host == '\0')
    return TRUE;
  uri = weft_server_head_parse_url (url);
  return uri != NULL;
}

/* CONNECT's target: HOST:PORT and nothing else. */
static gboolean
weft_server_head_authority_ok (const char *target)
{
  g_autofree char *url = g_strconcat ("http://", target, NULL);
  g_autoptr(GUri) uri = weft_server_head_parse_url (url);

  return uri && g_uri_get_port (uri) > 0 && g_str_equal (g_uri_get_path (uri), "/")
         && !g_uri_get_userinfo (uri) && !g_uri_get_query (uri) && !g_uri_get_fragment (uri);
}

/* The URL libsoup makes of the target and the host: CONNECT's authority,
 * "*", an absolute URL, or a path under the Host. */
static guint
weft_server_head_check_url (WeftServerHead *head, GError **error)
{
  const char *target = head->target;
  g_autoptr(GUri) uri = NULL;

  if (head->host && !weft_server_head_host_ok (head->host))
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "the Host header \"%s\" is not a host name, with or "
                                    "without a port", head->host);
  if (g_str_equal (target, "*") && head->host)
    return 0;
  if (g_str_equal (head->method, "CONNECT"))
    {
      if (weft_server_head_authority_ok (target))
        return 0;
    }
  else if (target[0] != '/')
    {
      uri = weft_server_head_parse_url (target);
      if (uri && !g_str_equal (g_uri_get_scheme (uri), "http"))
        return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                        "the request target \"%s\" is not an http URL", target);
      if (uri)
        return 0;
    }
  else
    {
      /* Without a Host (HTTP/1.0), libsoup makes the URL itself. */
      g_autofree char *url = g_strconcat ("http://", head->host ? head->host : "x", target, NULL);
      if (head->host == NULL || (uri = weft_server_head_parse_url (url)))
        return 0;
    }
  return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                  "the request target \"%s\" is not a valid URL or path", target);
}

/* The empty line: what needs the whole head. */
static guint
weft_server_head_end (WeftServerHead *head, GError **error)
{
  guint status;

  if (head->length && head->chunked)
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "a request must not have both Content-Length and "
                                    "Transfer-Encoding");
  /* libsoup takes a length past 63 bits for -1 and drops the connection. */
  if (head->length && g_ascii_strtoull (head->length, NULL, 10) > G_MAXINT64)
    return weft_server_head_refuse (error, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                                    "the request body is larger than %" G_GUINT64_FORMAT
                                    " bytes", head->max_body);
  if (head->minor == 1 && head->host == NULL)
    return weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                    "an HTTP/1.1 request needs a Host header");
  if ((status = weft_server_head_check_url (head, error)))
    return status;
  return WEFT_SERVER_HEAD_ENDED;
}

guint
weft_server_head_take_line (WeftServerHead *head, GError **error)
{
  const char *line = head->line->str;
  gsize len = head->line->len;
  guint status;

  if (len > 0 && head->method == NULL)
    status = weft_server_head_request_line (head, line, len, error);
  else if (len > 0)
    status = weft_server_head_field (head, line, len, error);
  else if (head->method)
    status = weft_server_head_end (head, error);
  /* RFC 9112 2.2: an empty line before the request line is skipped (and
   * libsoup skips it too); more are not a request. */
  else if (!head->blank_skipped)
    {
      head->blank_skipped = TRUE;
      status = 0;
    }
  else
    status = weft_server_head_refuse (error, SOUP_STATUS_BAD_REQUEST,
                                      "the request has empty lines before its request line");
  g_string_truncate (head->line, 0);
  return status;
}
