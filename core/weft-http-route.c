/* weft-http-route.c — which transport carries a request: the lean one
 * (weft-http-lean.c) or libcurl (weft-http-io.c's shards).
 *
 * The lean transport speaks cleartext HTTP/1.1 to an address it needs no
 * lookup for; libcurl keeps all the rest, which it does well: https (TLS,
 * HTTP/2), a host name to resolve (its DNS cache, shared by the shards),
 * a proxy, redirects, user info in the URL.  So a request goes lean when
 *
 *   - its URL is http://, without user info;
 *   - its host is an IP literal or "localhost" (127.0.0.1);
 *   - it follows no redirects (max_redirects 0, or a method other than
 *     GET and HEAD, which are never redirected anyway);
 *   - no proxy applies to it, by libcurl's rules for the environment: for
 *     http://, `http_proxy` (lower case only, as libcurl: a CGI program
 *     gets HTTP_PROXY from a request's "Proxy:" header), else `all_proxy`
 *     or `ALL_PROXY`; a proxy is skipped when `no_proxy` (or `NO_PROXY`)
 *     is "*" or names the host: a name or a domain suffix (".example.com"
 *     and "example.com" both match "a.example.com"), an IP address, or an
 *     IP range in CIDR form ("10.0.0.0/8");
 *   - and WEFT_HTTP_TRANSPORT is not "libcurl": tests and benchmarks set
 *     it to run the same requests through libcurl, to compare the two.
 *
 * Never by plugin: the openai agent, the webhook callback and the http-get
 * tool get whichever fits each request. */
#include "weft-http-private.h"

#include <arpa/inet.h>
#include <string.h>

/* WEFT_HTTP_TRANSPORT=libcurl, read once. */
static gboolean
weft_http_route_forced_curl (void)
{
  static gsize once = 0;
  static gboolean forced;

  if (g_once_init_enter (&once))
    {
      forced = g_strcmp0 (g_getenv ("WEFT_HTTP_TRANSPORT"), "libcurl") == 0;
      g_once_init_leave (&once, 1);
    }
  return forced;
}

static const char *
weft_http_route_env (const char *lower, const char *upper)
{
  const char *value = g_getenv (lower);

  if ((value == NULL || *value == '\0') && upper != NULL)
    value = g_getenv (upper);
  return value != NULL && *value != '\0' ? value : NULL;
}

/* One entry of no_proxy against the host: a name or domain suffix, an
 * address, a CIDR range (libcurl's Curl_check_noproxy). */
static gboolean
weft_http_route_noproxy_entry (const char *entry, const char *host, gboolean host_is_ip)
{
  if (host_is_ip)
    {
      g_autoptr(GInetAddressMask) mask = NULL;
      g_autoptr(GInetAddress) address = NULL;

      if (strchr (entry, '/') == NULL)
        return g_ascii_strcasecmp (entry, host) == 0;
      mask = g_inet_address_mask_new_from_string (entry, NULL);
      address = g_inet_address_new_from_string (host);
      return mask != NULL && address != NULL && g_inet_address_mask_matches (mask, address);
    }
  gsize elen, hlen = strlen (host);

  if (*entry == '.')
    entry++;
  elen = strlen (entry);
  if (elen == 0 || elen > hlen)
    return FALSE;
  if (g_ascii_strcasecmp (host + hlen - elen, entry) != 0)
    return FALSE;
  return elen == hlen || host[hlen - elen - 1] == '.';
}

static gboolean
weft_http_route_no_proxy (const char *host, gboolean host_is_ip)
{
  const char *list = weft_http_route_env ("no_proxy", "NO_PROXY");
  g_auto(GStrv) entries = NULL;

  if (list == NULL)
    return FALSE;
  if (strcmp (list, "*") == 0)
    return TRUE;
  entries = g_strsplit_set (list, ", \t", -1);
  for (guint i = 0; entries[i] != NULL; i++)
    if (entries[i][0] != '\0' && weft_http_route_noproxy_entry (entries[i], host, host_is_ip))
      return TRUE;
  return FALSE;
}

/* Does a proxy from the environment apply to this http:// host? */
static gboolean
weft_http_route_proxied (const char *host, gboolean host_is_ip)
{
  const char *proxy = weft_http_route_env ("http_proxy", NULL);

  if (proxy == NULL)
    proxy = weft_http_route_env ("all_proxy", "ALL_PROXY");
  return proxy != NULL && !weft_http_route_no_proxy (host, host_is_ip);
}

/* "host:port" of the origin into host (brackets off) and port; FALSE when
 * it is no literal address (or localhost), or its port is not one. */
static gboolean
weft_http_route_address (const char *authority, WeftHttpAddr *addr, char *host, gsize host_size,
                         guint *port)
{
  const char *end, *colon;
  guint64 value = 80;
  gsize len;

  if (*authority == '[')
    {
      end = strchr (authority, ']');
      if (end == NULL)
        return FALSE;
      authority++;
      colon = *(end + 1) == ':' ? end + 1 : NULL;
      if (colon == NULL && *(end + 1) != '\0')
        return FALSE;
    }
  else
    {
      colon = strrchr (authority, ':');
      end = colon != NULL ? colon : authority + strlen (authority);
    }
  len = (gsize) (end - authority);
  if (len == 0 || len >= host_size)
    return FALSE;
  memcpy (host, authority, len);
  host[len] = '\0';
  if (colon != NULL && colon[1] != '\0'
      && !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &value, NULL))
    return FALSE;
  *port = (guint) value;
  memset (addr, 0, sizeof *addr);
  if (inet_pton (AF_INET, strcmp (host, "localhost") == 0 ? "127.0.0.1" : host,
                 &addr->in4.sin_addr) == 1)
    {
      addr->in4.sin_family = AF_INET;
      addr->in4.sin_port = htons ((guint16) value);
      addr->len = sizeof addr->in4;
      return TRUE;
    }
  if (inet_pton (AF_INET6, host, &addr->in6.sin6_addr) == 1)
    {
      addr->in6.sin6_family = AF_INET6;
      addr->in6.sin6_port = htons ((guint16) value);
      addr->len = sizeof addr->in6;
      return TRUE;
    }
  return FALSE;
}

gboolean
weft_http_route_lean (const WeftHttpRequest *request, const char *origin, WeftHttpAddr *addr,
                      char *authority, gsize authority_size)
{
  const char *url_authority;
  char host[64];
  guint port;
  gboolean redirects = request->max_redirects > 0
                       && (strcmp (request->method, "GET") == 0 || strcmp (request->method, "HEAD") == 0);

  if (weft_http_route_forced_curl () || redirects || !g_str_has_prefix (origin, "http://"))
    return FALSE;
  url_authority = strstr (request->url, "://") + 3;
  if (memchr (url_authority, '@', strcspn (url_authority, "/?#")) != NULL)
    return FALSE;
  if (!weft_http_route_address (origin + strlen ("http://"), addr, host, sizeof host, &port))
    return FALSE;
  if (weft_http_route_proxied (host, strcmp (host, "localhost") != 0))
    return FALSE;
  /* Host as libcurl writes it: the port only when it is not 80. */
  {
    gboolean v6 = addr->sa.sa_family == AF_INET6;
    int n = g_snprintf (authority, authority_size, v6 ? "[%s]" : "%s", host);

    if (port != 80 && n > 0 && (gsize) n < authority_size)
      g_snprintf (authority + n, authority_size - (gsize) n, ":%u", port);
  }
  return TRUE;
}
