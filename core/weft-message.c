/* weft-message.c — text about input, fit to be shown.
 *
 * Messages name what was wrong, and what was wrong is often the input
 * itself: a task name, a plugin name, an id, a URL.  Such words come from
 * files, clients and servers, so a message built from them is made safe
 * here before it is set on an error: valid UTF-8, no control characters
 * (a newline would forge a second log line), no word long enough to bury
 * the message (a 5,000-character id), and a bound on the whole.  A name
 * that is not known may be a typo of one that is: "did you mean" is found
 * here too. */
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

/* ---- "did you mean" ------------------------------------------------------------ */

/* Names longer than this are not typos of each other worth the work. */
#define WEFT_SUGGEST_MAX_BYTES 64

/* The edit distance of `a` and `b` (bytes; ASCII case ignored; two
 * neighbours swapped count as one edit), or more than `max` when it is
 * more: three rows at a time. */
static gsize
weft_message_distance (const char *a, gsize la, const char *b, gsize lb, gsize max)
{
  gsize rows[3][WEFT_SUGGEST_MAX_BYTES + 1];

  for (gsize j = 0; j <= lb; j++)
    rows[0][j] = j;
  for (gsize i = 1; i <= la; i++)
    {
      gsize *two_up = rows[(i + 1) % 3], *up = rows[(i + 2) % 3], *row = rows[i % 3];
      gsize smallest = row[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          char ca = g_ascii_tolower (a[i - 1]), cb = g_ascii_tolower (b[j - 1]);
          row[j] = MIN (MIN (up[j] + 1, row[j - 1] + 1), up[j - 1] + (ca == cb ? 0 : 1));
          if (i > 1 && j > 1 && ca == g_ascii_tolower (b[j - 2])
              && g_ascii_tolower (a[i - 2]) == cb)
            row[j] = MIN (row[j], two_up[j - 2] + 1);
          smallest = MIN (smallest, row[j]);
        }
      if (smallest > max)
        return max + 1;
    }
  return rows[la % 3][lb];
}

const char *
weft_message_suggest (const char *word, const char * const *names, guint n)
{
  gsize lw = strlen (word);
  /* One edit in a short word, two from 6 bytes, three from 12. */
  gsize max = lw < 6 ? 1 : lw < 12 ? 2 : 3;
  const char *best = NULL;
  gsize best_distance = max + 1;

  if (lw > WEFT_SUGGEST_MAX_BYTES)
    return NULL;
  for (guint i = 0; i < n; i++)
    {
      gsize ln = strlen (names[i]);
      if (ln > WEFT_SUGGEST_MAX_BYTES || (ln > lw ? ln - lw : lw - ln) > max
          || g_str_equal (names[i], word))
        continue;
      gsize d = weft_message_distance (word, lw, names[i], ln, max);
      if (d < best_distance)
        {
          best = names[i];
          best_distance = d;
        }
    }
  return best;
}
