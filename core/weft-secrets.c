/* weft-secrets.c — values from the environment never leave in text.
 *
 * A flow writes "${OPENAI_API_KEY}" rather than the key so that the key
 * stays out of files; weft_expand_env reads it at load and records it
 * here.  Whatever option then holds it (a header, a base_url, a command
 * line), a message that mentions the option's value — a connection error
 * naming the URL, "failed to execute /opt/SECRET/bin" — passes through
 * weft_secrets_redact on its way out (task and tool errors, steps, task
 * logs, plugin create errors, text for the terminal, the CLI's log
 * writer), which writes "***"
 * in place of each recorded value, as given and as a URL would carry it.
 *
 * The table is the process's, like the environment it mirrors; it only
 * grows, and any thread may read it. */
#include "weft-private.h"

#include <string.h>

/* Shorter values are not secrets anyone could keep ("1", "dev"), and
 * writing *** for every "1" in a message would leave nothing to read. */
#define WEFT_SECRET_MIN_LENGTH 4

static GMutex weft_secrets_lock;
static GPtrArray *weft_secrets;       /* char*, longest first */
static gint weft_secrets_count;       /* atomic: the fast way to "none" */

static gint
weft_secrets_longest_first (gconstpointer a, gconstpointer b)
{
  gsize la = strlen (*(const char *const *) a);
  gsize lb = strlen (*(const char *const *) b);

  return la < lb ? 1 : la > lb ? -1 : 0;
}

static void
weft_secrets_add_one (const char *value)
{
  if (strlen (value) < WEFT_SECRET_MIN_LENGTH)
    return;
  for (guint i = 0; i < weft_secrets->len; i++)
    if (g_str_equal (weft_secrets->pdata[i], value))
      return;
  g_ptr_array_add (weft_secrets, g_strdup (value));
  g_ptr_array_sort (weft_secrets, weft_secrets_longest_first);
  g_atomic_int_set (&weft_secrets_count, (gint) weft_secrets->len);
}

void
weft_secrets_add (const char *value)
{
  g_return_if_fail (value != NULL);

  /* A URL carries the value escaped: "p@ss" in a userinfo is "p%40ss". */
  g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);
  g_autofree char *in_path = g_uri_escape_string (value, G_URI_RESERVED_CHARS_ALLOWED_IN_PATH,
                                                  FALSE);
  g_autofree char *in_userinfo =
    g_uri_escape_string (value, G_URI_RESERVED_CHARS_ALLOWED_IN_USERINFO, FALSE);

  g_mutex_lock (&weft_secrets_lock);
  if (weft_secrets == NULL)
    weft_secrets = g_ptr_array_new_with_free_func (g_free);
  weft_secrets_add_one (value);
  weft_secrets_add_one (escaped);
  weft_secrets_add_one (in_path);
  weft_secrets_add_one (in_userinfo);
  g_mutex_unlock (&weft_secrets_lock);
}

char *
weft_secrets_redact (const char *text)
{
  if (text == NULL)
    return NULL;
  if (g_atomic_int_get (&weft_secrets_count) == 0)
    return g_strdup (text);

  g_autoptr(GString) out = g_string_new (text);
  g_mutex_lock (&weft_secrets_lock);
  for (guint i = 0; i < weft_secrets->len; i++)
    g_string_replace (out, weft_secrets->pdata[i], "***", 0);
  g_mutex_unlock (&weft_secrets_lock);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

void
weft_secrets_redact_error (GError *error)
{
  if (error == NULL || g_atomic_int_get (&weft_secrets_count) == 0)
    return;
  char *redacted = weft_secrets_redact (error->message);
  g_free (error->message);
  error->message = redacted;
}
