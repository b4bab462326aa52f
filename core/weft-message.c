/* weft-message.c — text about input, fit to be shown.
 *
 * Messages name what was wrong, and what was wrong is often the input
 * itself: a task name, a plugin name, an id, a URL.  Such words come from
 * files, clients and servers, so a message built from them is made safe
 * here before it is set on an error: valid UTF-8, no control characters
 * (a newline would forge a second log line), no word long enough to bury
 * the message (a 5,000-character id), and a bound on the whole. */
#include "weft-private.h"

#include <string.h>

char *
weft_message_quote (const char *text, gsize max_chars)
{
  g_autoptr(GString) out = g_string_new ("\"");
  const char *p = text ? text : "";
  gsize shown = 0;

  while (*p && shown < max_chars)
    {
      gunichar c = g_utf8_get_char_validated (p, -1);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append (out, "\\ufffd");
          p++;
        }
      else
        {
          if (c == '"' || c == '\\')
            g_string_append_printf (out, "\\%c", (char) c);
          else if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_unichar (out, c);
          p = g_utf8_next_char (p);
        }
      shown++;
    }
  g_string_append_c (out, '"');
  if (*p)
    g_string_append_printf (out, "… (%" G_GSIZE_FORMAT " bytes)", strlen (text));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* A word of `len` bytes, cut in its middle when it has more than
 * `word_max` characters. */
static void
weft_message_append_word (GString *out, const char *word, gsize len, glong word_max)
{
  glong chars = g_utf8_strlen (word, (gssize) len);

  if (chars <= word_max)
    {
      g_string_append_len (out, word, (gssize) len);
      return;
    }
  const char *head_end = g_utf8_offset_to_pointer (word, word_max - 16);
  const char *tail = g_utf8_offset_to_pointer (word, chars - 8);
  g_string_append_len (out, word, head_end - word);
  g_string_append_printf (out, "…(%ld characters)…", chars);
  g_string_append_len (out, tail, (gssize) (word + len - tail));
}

/* Control characters as the escapes JSON would write for them. */
static char *
weft_message_escape_controls (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p; p++)
    {
      guchar c = (guchar) *p;
      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  return g_string_free (out, FALSE);
}

char *
weft_message_tidy (const char *message, glong word_max, gsize max_bytes)
{
  g_autofree char *valid = g_utf8_make_valid (message ? message : "", -1);
  g_autofree char *plain = weft_message_escape_controls (valid);
  GString *out = g_string_new (NULL);

  for (const char *p = plain; *p;)
    {
      gsize len = strcspn (p, " ");
      weft_message_append_word (out, p, len, word_max);
      p += len;
      if (*p == ' ')
        g_string_append_c (out, *p++);
    }
  if (out->len > max_bytes)
    {
      gsize cut = max_bytes;
      while (cut > 0 && (out->str[cut] & 0xC0) == 0x80)
        cut--;
      g_string_truncate (out, cut);
      g_string_append (out, "…");
    }
  return g_string_free (out, FALSE);
}

void
weft_message_tidy_error (GError *error)
{
  if (error == NULL)
    return;
  char *tidy = weft_message_tidy (error->message, WEFT_MESSAGE_WORD_MAX, WEFT_MESSAGE_MAX_BYTES);
  g_free (error->message);
  error->message = tidy;
}
