/* weft-cli-term.c — the one writer of the `weft` command's stderr.
 *
 * Everything the command writes for a person goes through here: its own
 * messages and errors, the progress of a run, what a flow's callbacks
 * write to the terminal (weft_terminal_write) and GLib's log.  Any thread
 * may write; one lock orders the writes, so that nothing cuts into a line.
 *
 * On a terminal the bottom of the screen is a live area, redrawn in place:
 * the line a stream is writing (streamed model text, as it arrives) and
 * the status line below it.  A write clears the live area, writes its
 * lines, and draws the live area again under them: no line ever holds the
 * status line and a message.  Each live row is kept shorter than the
 * terminal is wide, so that clearing it never has to guess how a row
 * wrapped.  Elsewhere there is no live area: lines are written as they
 * come, and a stream's text as it arrives, its line ended before any other
 * line is written.
 *
 * Text is made safe to show here: valid UTF-8, and control characters
 * (escape sequences a model or a command might write) turned into spaces.
 */
#include "weft-cli-term.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Streamed text is indented by this, under its header line. */
#define WEFT_CLI_TERM_INDENT "    "

struct _WeftCliTerm {
  GMutex lock;
  FILE *stream;
  gboolean terminal;
  guint fixed_width;          /* 0: ask the terminal at each draw */
  gboolean quiet;

  char *status;               /* NULL: no status line */
  char *stream_key;           /* the open stream's owner; NULL: none */
  gboolean line_started;      /* the open stream is mid-line */
  GString *partial;           /* terminal: that line so far, indent included */
  guint live_rows;            /* rows of the live area on screen (0 to 2) */
  GString *out;               /* what one call writes, in one fwrite */
};

/* ---- text -------------------------------------------------------------- */

static guint
weft_cli_term_char_columns (gunichar c)
{
  if (g_unichar_iszerowidth (c))
    return 0;
  return g_unichar_iswide (c) ? 2 : 1;
}

guint
weft_cli_term_columns (const char *text)
{
  guint columns = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    columns += weft_cli_term_char_columns (g_utf8_get_char (p));
  return columns;
}

static gboolean
weft_cli_term_is_control (gunichar c)
{
  return c < 0x20 || (c >= 0x7f && c < 0xa0);
}

/* Appends `text` made safe: controls other than a newline become spaces
 * (a tab too: the terminal would move the cursor by an unknown amount). */
static void
weft_cli_term_append_safe (GString *out, const char *text, gssize length)
{
  g_autofree char *valid = g_utf8_make_valid (text, length);

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\n' || !weft_cli_term_is_control (c))
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      else if (c != '\r')
        g_string_append_c (out, ' ');
    }
}

char *
weft_cli_term_fit (const char *text, guint max_columns)
{
  g_autoptr(GString) safe = g_string_new (NULL);
  GString *fitted = g_string_new (NULL);
  guint columns = 0;

  weft_cli_term_append_safe (safe, text != NULL ? text : "", -1);
  for (char *p = safe->str; *p != '\0'; p++)
    if (*p == '\n')
      *p = ' ';
  if (weft_cli_term_columns (safe->str) <= max_columns)
    {
      g_string_append (fitted, safe->str);
      return g_string_free (fitted, FALSE);
    }
  for (const char *p = safe->str; *p != '\0' && max_columns > 0; p = g_utf8_next_char (p))
    {
      guint w = weft_cli_term_char_columns (g_utf8_get_char (p));

      if (columns + w + 1 > max_columns)       /* room for the "…" */
        break;
      g_string_append_len (fitted, p, g_utf8_next_char (p) - p);
      columns += w;
    }
  if (max_columns > 0)
    g_string_append (fitted, "…");
  return g_string_free (fitted, FALSE);
}

/* ---- the live area ----------------------------------------------------- */

static guint
weft_cli_term_width (WeftCliTerm *self)
{
  struct winsize size;

  if (self->fixed_width > 0)
    return self->fixed_width;
  if (ioctl (fileno (self->stream), TIOCGWINSZ, &size) == 0 && size.ws_col > 1)
    return size.ws_col;
  return 80;
}

/* The cursor ends at the start of the live area's first row, now empty. */
static void
weft_cli_term_clear_live (WeftCliTerm *self)
{
  if (self->live_rows == 0)
    return;
  g_string_append (self->out, "\r\033[K");
  for (guint i = 1; i < self->live_rows; i++)
    g_string_append (self->out, "\033[A\033[K");
  self->live_rows = 0;
}

static void
weft_cli_term_draw_live (WeftCliTerm *self)
{
  if (!self->terminal)
    return;
  if (self->line_started)
    {
      g_string_append (self->out, self->partial->str);
      self->live_rows++;
    }
  if (self->status != NULL)
    {
      g_autofree char *status = weft_cli_term_fit (self->status,
                                                   weft_cli_term_width (self) - 1);
      if (self->live_rows > 0)
        g_string_append_c (self->out, '\n');
      g_string_append (self->out, status);
      self->live_rows++;
    }
}

/* Writes out what this call gathered.  Call with the lock held. */
static void
weft_cli_term_flush (WeftCliTerm *self)
{
  if (self->out->len == 0)
    return;
  fwrite (self->out->str, 1, self->out->len, self->stream);
  fflush (self->stream);
  g_string_truncate (self->out, 0);
}

/* ---- streams ----------------------------------------------------------- */

/* Ends the stream's line (its text stays) and closes the stream: the next
 * text of its owner starts anew under its header. */
static void
weft_cli_term_close_stream (WeftCliTerm *self)
{
  if (self->stream_key == NULL)
    return;
  if (self->line_started)
    {
      /* On a terminal the line is the live area's first row, just cleared. */
      if (self->terminal)
        g_string_append (self->out, self->partial->str);
      g_string_append_c (self->out, '\n');
    }
  self->line_started = FALSE;
  g_string_truncate (self->partial, 0);
  g_clear_pointer (&self->stream_key, g_free);
}

/* Ends the line in progress: on a terminal it leaves the live area for
 * the scrollback. */
static void
weft_cli_term_end_line (WeftCliTerm *self)
{
  if (self->terminal)
    g_string_append_len (self->out, self->partial->str, self->partial->len);
  g_string_append_c (self->out, '\n');
  g_string_truncate (self->partial, 0);
  self->line_started = FALSE;
}

static void
weft_cli_term_start_line (WeftCliTerm *self)
{
  if (self->terminal)
    g_string_assign (self->partial, WEFT_CLI_TERM_INDENT);
  else
    g_string_append (self->out, WEFT_CLI_TERM_INDENT);
  self->line_started = TRUE;
}

/* One character of streamed text (a newline, or one that is safe). */
static void
weft_cli_term_stream_char (WeftCliTerm *self, const char *p, gsize length, guint width)
{
  if (*p == '\n')
    {
      if (!self->line_started)
        weft_cli_term_start_line (self);
      weft_cli_term_end_line (self);
      return;
    }
  if (!self->line_started)
    weft_cli_term_start_line (self);
  if (!self->terminal)
    {
      g_string_append_len (self->out, p, length);
      return;
    }
  /* A live row stays narrower than the terminal: a long line is broken
   * here, where its columns are known, never by the terminal. */
  if (weft_cli_term_columns (self->partial->str)
      + weft_cli_term_char_columns (g_utf8_get_char (p)) > width - 1)
    {
      weft_cli_term_end_line (self);
      weft_cli_term_start_line (self);
    }
  g_string_append_len (self->partial, p, length);
}

/* ---- the API ------------------------------------------------------------ */

WeftCliTerm *
weft_cli_term_new (FILE *stream, gboolean terminal, guint width)
{
  WeftCliTerm *self = g_new0 (WeftCliTerm, 1);

  g_mutex_init (&self->lock);
  self->stream = stream;
  self->terminal = terminal;
  self->fixed_width = width;
  self->partial = g_string_new (NULL);
  self->out = g_string_new (NULL);
  return self;
}

void
weft_cli_term_free (WeftCliTerm *self)
{
  if (self == NULL)
    return;
  weft_cli_term_finish (self);
  g_free (self->status);
  g_free (self->stream_key);
  g_string_free (self->partial, TRUE);
  g_string_free (self->out, TRUE);
  g_mutex_clear (&self->lock);
  g_free (self);
}

gboolean
weft_cli_term_is_terminal (WeftCliTerm *self)
{
  return self->terminal;
}

void
weft_cli_term_set_quiet (WeftCliTerm *self, gboolean quiet)
{
  g_mutex_lock (&self->lock);
  self->quiet = quiet;
  g_mutex_unlock (&self->lock);
}

static void
weft_cli_term_write_locked (WeftCliTerm *self, const char *text)
{
  weft_cli_term_clear_live (self);
  weft_cli_term_close_stream (self);
  weft_cli_term_append_safe (self->out, text, -1);
  if (self->out->len == 0 || self->out->str[self->out->len - 1] != '\n')
    g_string_append_c (self->out, '\n');
  weft_cli_term_draw_live (self);
  weft_cli_term_flush (self);
}

void
weft_cli_term_write (WeftCliTerm *self, const char *text)
{
  g_mutex_lock (&self->lock);
  weft_cli_term_write_locked (self, text);
  g_mutex_unlock (&self->lock);
}

void
weft_cli_term_note (WeftCliTerm *self, const char *text)
{
  g_mutex_lock (&self->lock);
  if (!self->quiet)
    weft_cli_term_write_locked (self, text);
  g_mutex_unlock (&self->lock);
}

void
weft_cli_term_printf (WeftCliTerm *self, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  weft_cli_term_write (self, text);
}

void
weft_cli_term_set_status (WeftCliTerm *self, const char *status)
{
  g_mutex_lock (&self->lock);
  if (self->terminal && g_strcmp0 (status, self->status) != 0)
    {
      g_free (self->status);
      self->status = g_strdup (status);
      weft_cli_term_clear_live (self);
      weft_cli_term_draw_live (self);
      weft_cli_term_flush (self);
    }
  g_mutex_unlock (&self->lock);
}

void
weft_cli_term_stream (WeftCliTerm *self, const char *key, const char *header,
                      const char *text)
{
  g_autoptr(GString) safe = g_string_new (NULL);

  weft_cli_term_append_safe (safe, text, -1);
  g_mutex_lock (&self->lock);
  guint width = self->terminal ? MAX (weft_cli_term_width (self), 2 + sizeof WEFT_CLI_TERM_INDENT)
                               : 0;
  weft_cli_term_clear_live (self);
  if (g_strcmp0 (key, self->stream_key) != 0)
    {
      weft_cli_term_close_stream (self);
      if (header != NULL)
        {
          weft_cli_term_append_safe (self->out, header, -1);
          g_string_append_c (self->out, '\n');
        }
      self->stream_key = g_strdup (key);
    }
  for (const char *p = safe->str; *p != '\0'; p = g_utf8_next_char (p))
    weft_cli_term_stream_char (self, p, g_utf8_next_char (p) - p, width);
  weft_cli_term_draw_live (self);
  weft_cli_term_flush (self);
  g_mutex_unlock (&self->lock);
}

void
weft_cli_term_end_stream (WeftCliTerm *self, const char *key)
{
  g_mutex_lock (&self->lock);
  if (self->stream_key != NULL && g_strcmp0 (key, self->stream_key) == 0)
    {
      weft_cli_term_clear_live (self);
      weft_cli_term_close_stream (self);
      weft_cli_term_draw_live (self);
      weft_cli_term_flush (self);
    }
  g_mutex_unlock (&self->lock);
}

void
weft_cli_term_finish (WeftCliTerm *self)
{
  g_mutex_lock (&self->lock);
  weft_cli_term_clear_live (self);
  weft_cli_term_close_stream (self);
  g_clear_pointer (&self->status, g_free);
  weft_cli_term_flush (self);
  g_mutex_unlock (&self->lock);
}
