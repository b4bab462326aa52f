/* test-cli-term.c — the `weft` command's one writer of stderr
 * (cli/weft-cli-term.c) never glues a line to its status line.
 *
 * The writer writes into a temporary file as if it were a terminal of a
 * fixed width; a small screen model replays those bytes (text, "\r", "\n",
 * ESC [ K, ESC [ A, autowrap) into rows, which the tests read: every
 * message on a row of its own, the status line alone on the last row,
 * streamed text kept as text.  Threads writing at once change the order of
 * the lines, never what a row holds: nothing here depends on timing. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "weft-cli-term.h"

#define WIDTH 40

/* ---- a screen ----------------------------------------------------------- */

typedef struct {
  GPtrArray *rows;            /* GString*, one per row, from the first written */
  guint row, col;
  gboolean wrap_pending;      /* the cursor sits past the last column */
} Screen;

static GString *
screen_row (Screen *s, guint row)
{
  while (s->rows->len <= row)
    g_ptr_array_add (s->rows, g_string_new (NULL));
  return s->rows->pdata[row];
}

/* Puts one character (UTF-8 bytes, one column) at the cursor. */
static void
screen_put (Screen *s, const char *c, gsize n)
{
  if (s->wrap_pending)
    {
      s->row++;
      s->col = 0;
      s->wrap_pending = FALSE;
    }
  GString *row = screen_row (s, s->row);
  /* Columns are characters here: the tests write one-column text. */
  glong len = g_utf8_strlen (row->str, -1);
  while (len < (glong) s->col)
    {
      g_string_append_c (row, ' ');
      len++;
    }
  if (len == (glong) s->col)
    g_string_append_len (row, c, n);
  else
    {
      const char *at = g_utf8_offset_to_pointer (row->str, s->col);
      gsize old = g_utf8_next_char (at) - at;
      g_string_erase (row, at - row->str, old);
      g_string_insert_len (row, at - row->str, c, n);
    }
  if (++s->col == WIDTH)
    {
      s->col = WIDTH - 1;
      s->wrap_pending = TRUE;
    }
}

static void
screen_clear_to_end (Screen *s)
{
  GString *row = screen_row (s, s->row);

  if ((glong) s->col < g_utf8_strlen (row->str, -1))
    g_string_truncate (row, g_utf8_offset_to_pointer (row->str, s->col) - row->str);
  s->wrap_pending = FALSE;
}

/* Replays what a terminal would show of `bytes` (its output post-processing
 * turns "\n" into "\r\n"). */
static void
screen_row_free (gpointer row)
{
  g_string_free (row, TRUE);
}

static Screen *
screen_replay (const char *bytes)
{
  Screen *s = g_new0 (Screen, 1);

  s->rows = g_ptr_array_new_with_free_func (screen_row_free);
  screen_row (s, 0);
  for (const char *p = bytes; *p != '\0';)
    {
      if (g_str_has_prefix (p, "\033[K"))
        {
          screen_clear_to_end (s);
          p += 3;
        }
      else if (g_str_has_prefix (p, "\033[A"))
        {
          g_assert_cmpuint (s->row, >, 0);
          s->row--;
          s->wrap_pending = FALSE;
          p += 3;
        }
      else if (*p == '\033')
        g_error ("an escape sequence the screen does not know: %.8s", p);
      else if (*p == '\r' || *p == '\n')
        {
          if (*p == '\n')
            s->row++;
          s->col = 0;
          s->wrap_pending = FALSE;
          screen_row (s, s->row);
          p++;
        }
      else
        {
          gsize n = g_utf8_next_char (p) - p;
          g_assert_true ((guchar) *p >= 0x20);
          screen_put (s, p, n);
          p += n;
        }
    }
  return s;
}

static void
screen_free (Screen *s)
{
  g_ptr_array_unref (s->rows);
  g_free (s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Screen, screen_free)

/* The rows as lines, trailing blanks and the empty last row dropped. */
static GStrv
screen_lines (Screen *s)
{
  GStrvBuilder *b = g_strv_builder_new ();
  guint n = s->rows->len;

  while (n > 0 && ((GString *) s->rows->pdata[n - 1])->len == 0)
    n--;
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *line = g_strdup (((GString *) s->rows->pdata[i])->str);
      g_strv_builder_add (b, g_strchomp (line));
    }
  GStrv lines = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return lines;
}

/* ---- a writer into a file ------------------------------------------------- */

typedef struct {
  char *path;
  FILE *file;
  WeftCliTerm *term;
} Fixture;

static void
fixture_set_up (Fixture *fx, gconstpointer terminal)
{
  g_autoptr(GError) error = NULL;
  int fd = g_file_open_tmp ("weft-term-XXXXXX", &fx->path, &error);

  g_assert_no_error (error);
  fx->file = fdopen (fd, "w");
  g_assert_nonnull (fx->file);
  fx->term = weft_cli_term_new (fx->file, GPOINTER_TO_INT (terminal), WIDTH);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer terminal)
{
  g_clear_pointer (&fx->term, weft_cli_term_free);
  fclose (fx->file);
  g_unlink (fx->path);
  g_free (fx->path);
}

/* Everything written so far. */
static char *
fixture_bytes (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  char *bytes = NULL;

  fflush (fx->file);
  g_file_get_contents (fx->path, &bytes, NULL, &error);
  g_assert_no_error (error);
  return bytes;
}

static GStrv
fixture_screen (Fixture *fx)
{
  g_autofree char *bytes = fixture_bytes (fx);
  g_autoptr(Screen) screen = screen_replay (bytes);

  return screen_lines (screen);
}

#define STATUS "STATUS"

/* No row holds the status line and anything else. */
static void
assert_status_alone (GStrv lines)
{
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], STATUS) != NULL && !g_str_has_prefix (lines[i], STATUS " "))
      g_error ("row %u holds the status line and more: \"%s\"", i, lines[i]);
    else if (g_str_has_prefix (lines[i], STATUS) && strstr (lines[i] + 1, "msg") != NULL)
      g_error ("row %u holds the status line and a message: \"%s\"", i, lines[i]);
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_lines_above_status (Fixture *fx, gconstpointer data)
{
  weft_cli_term_set_status (fx->term, STATUS " 0/3 done");
  weft_cli_term_write (fx->term, "msg one");
  weft_cli_term_set_status (fx->term, STATUS " 1/3 done");
  weft_cli_term_write (fx->term, "msg two\nmsg three\n");
  weft_cli_term_set_status (fx->term, STATUS " 2/3 done");

  g_auto(GStrv) lines = fixture_screen (fx);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_cmpstr (lines[0], ==, "msg one");
  g_assert_cmpstr (lines[1], ==, "msg two");
  g_assert_cmpstr (lines[2], ==, "msg three");
  g_assert_cmpstr (lines[3], ==, STATUS " 2/3 done");

  /* Finishing clears the status line; what comes next starts a row. */
  weft_cli_term_finish (fx->term);
  weft_cli_term_write (fx->term, "msg after");
  g_auto(GStrv) after = fixture_screen (fx);
  g_assert_cmpuint (g_strv_length (after), ==, 4);
  g_assert_cmpstr (after[3], ==, "msg after");
}

/* A status line longer than the terminal is cut, so that clearing it
 * clears all of it. */
static void
test_long_status (Fixture *fx, gconstpointer data)
{
  weft_cli_term_set_status (fx->term, STATUS " " "a status line much longer than forty columns");
  weft_cli_term_write (fx->term, "msg one");
  weft_cli_term_set_status (fx->term, STATUS " short");

  g_auto(GStrv) lines = fixture_screen (fx);
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  g_assert_cmpstr (lines[0], ==, "msg one");
  g_assert_cmpstr (lines[1], ==, STATUS " short");
  g_autofree char *fitted = weft_cli_term_fit ("a status line much longer than forty", 12);
  g_assert_cmpstr (fitted, ==, "a status li…");
  g_assert_cmpuint (weft_cli_term_columns (fitted), ==, 12);
}

/* Streamed text stays as text, its line in progress above the status line,
 * and a message between two chunks ends the line and starts it anew under
 * its header. */
static void
test_stream (Fixture *fx, gconstpointer data)
{
  weft_cli_term_set_status (fx->term, STATUS " running");
  weft_cli_term_stream (fx->term, "a", "a writes:", "Hello ");
  weft_cli_term_stream (fx->term, "a", "a writes:", "wor");
  {
    g_auto(GStrv) lines = fixture_screen (fx);
    g_assert_cmpuint (g_strv_length (lines), ==, 3);
    g_assert_cmpstr (lines[0], ==, "a writes:");
    g_assert_cmpstr (lines[1], ==, "    Hello wor");
    g_assert_cmpstr (lines[2], ==, STATUS " running");
  }
  weft_cli_term_stream (fx->term, "a", "a writes:", "ld\nsecond line");
  weft_cli_term_write (fx->term, "msg between");
  weft_cli_term_stream (fx->term, "a", "a writes:", ", continued");
  weft_cli_term_end_stream (fx->term, "a");
  weft_cli_term_set_status (fx->term, STATUS " done");

  g_auto(GStrv) lines = fixture_screen (fx);
  const char *expected[] = { "a writes:", "    Hello world", "    second line", "msg between",
                             "a writes:", "    , continued", STATUS " done", NULL };
  g_assert_cmpstrv (lines, expected);
}

/* A streamed line longer than the terminal is broken before the edge. */
static void
test_stream_long_line (Fixture *fx, gconstpointer data)
{
  weft_cli_term_set_status (fx->term, STATUS " running");
  weft_cli_term_stream (fx->term, "a", "a writes:",
                        "0123456789012345678901234567890123456789012345");
  weft_cli_term_finish (fx->term);

  g_auto(GStrv) lines = fixture_screen (fx);
  const char *expected[] = { "a writes:", "    01234567890123456789012345678901234",
                             "    56789012345", NULL };
  g_assert_cmpstrv (lines, expected);
}

/* Two streams take turns: each resumes under its header. */
static void
test_two_streams (Fixture *fx, gconstpointer data)
{
  weft_cli_term_stream (fx->term, "a", "a writes:", "one ");
  weft_cli_term_stream (fx->term, "b", "b writes:", "two ");
  weft_cli_term_stream (fx->term, "a", "a writes:", "three");
  weft_cli_term_finish (fx->term);

  g_auto(GStrv) lines = fixture_screen (fx);
  const char *expected[] = { "a writes:", "    one", "b writes:", "    two", "a writes:",
                             "    three", NULL };
  g_assert_cmpstrv (lines, expected);
}

/* Off a terminal: no status line, no escape sequence, streamed text as it
 * comes. */
static void
test_plain (Fixture *fx, gconstpointer data)
{
  weft_cli_term_set_status (fx->term, STATUS " 0/1 done");
  weft_cli_term_write (fx->term, "msg one");
  weft_cli_term_stream (fx->term, "a", "a writes:", "Hel");
  weft_cli_term_stream (fx->term, "a", "a writes:", "lo\nthere");
  weft_cli_term_write (fx->term, "msg two");
  weft_cli_term_finish (fx->term);

  g_autofree char *bytes = fixture_bytes (fx);
  g_assert_cmpstr (bytes, ==, "msg one\na writes:\n    Hello\n    there\nmsg two\n");
}

/* Control characters (an escape sequence in a model's text) are shown as
 * spaces; the terminal gets only the writer's own sequences. */
static void
test_controls (Fixture *fx, gconstpointer data)
{
  weft_cli_term_write (fx->term, "msg \033[2Jclear\ttab\a");
  weft_cli_term_stream (fx->term, "a", NULL, "x\033]0;title\007y");
  weft_cli_term_finish (fx->term);

  g_autofree char *bytes = fixture_bytes (fx);
  g_assert_cmpstr (bytes, ==, "msg  [2Jclear tab \n    x ]0;title y\n");
}

/* Quiet drops notes (what callbacks write for a person), never writes. */
static void
test_quiet (Fixture *fx, gconstpointer data)
{
  weft_cli_term_set_quiet (fx->term, TRUE);
  weft_cli_term_note (fx->term, "a callback's line");
  weft_cli_term_write (fx->term, "an error");
  weft_cli_term_set_quiet (fx->term, FALSE);
  weft_cli_term_note (fx->term, "another line");

  g_autofree char *bytes = fixture_bytes (fx);
  g_assert_cmpstr (bytes, ==, "an error\nanother line\n");
}

/* Threads writing lines while another redraws the status line and a third
 * streams: whatever the order, each message is a row of its own, whole. */
#define N_WRITERS 4
#define N_LINES 200

typedef struct {
  WeftCliTerm *term;
  guint id;
} Writer;

static gpointer
write_lines (gpointer data)
{
  Writer *w = data;

  for (guint i = 0; i < N_LINES; i++)
    {
      g_autofree char *line = g_strdup_printf ("msg %u.%u", w->id, i);
      if (i % 7 == 0)
        weft_cli_term_note (w->term, line);
      else
        weft_cli_term_write (w->term, line);
    }
  return NULL;
}

static gpointer
write_status (gpointer data)
{
  Writer *w = data;

  for (guint i = 0; i < N_LINES * 2; i++)
    {
      g_autofree char *status = g_strdup_printf (STATUS " %u", i);
      weft_cli_term_set_status (w->term, status);
    }
  return NULL;
}

static gpointer
write_stream (gpointer data)
{
  Writer *w = data;

  for (guint i = 0; i < N_LINES; i++)
    weft_cli_term_stream (w->term, "s", "s writes:", i % 10 == 9 ? "w\n" : "w ");
  return NULL;
}

static void
test_threads (Fixture *fx, gconstpointer data)
{
  Writer writers[N_WRITERS + 2];
  GThread *threads[N_WRITERS + 2];

  for (guint i = 0; i < N_WRITERS + 2; i++)
    {
      writers[i] = (Writer) { fx->term, i };
      threads[i] = g_thread_new ("writer", i < N_WRITERS ? write_lines
                                           : i == N_WRITERS ? write_status : write_stream,
                                 &writers[i]);
    }
  for (guint i = 0; i < N_WRITERS + 2; i++)
    g_thread_join (threads[i]);
  weft_cli_term_finish (fx->term);

  g_auto(GStrv) lines = fixture_screen (fx);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint words = 0;
  assert_status_alone (lines);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "msg "))
        {
          g_assert_true (g_regex_match_simple ("^msg [0-9]+\\.[0-9]+$", lines[i], 0, 0));
          g_assert_false (g_hash_table_contains (seen, lines[i]));
          g_hash_table_add (seen, lines[i]);
        }
      else if (g_str_has_prefix (lines[i], "    "))
        {
          g_assert_true (g_regex_match_simple ("^    w( w)*$", lines[i], 0, 0));
          words += (guint) (strlen (lines[i]) - 3) / 2;
        }
      else
        g_assert_cmpstr (lines[i], ==, "s writes:");
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, N_WRITERS * N_LINES);
  g_assert_cmpuint (words, ==, N_LINES);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, terminal, func) \
  g_test_add (path, Fixture, GINT_TO_POINTER (terminal), fixture_set_up, func, fixture_tear_down)
  ADD ("/cli-term/lines-above-status", TRUE, test_lines_above_status);
  ADD ("/cli-term/long-status", TRUE, test_long_status);
  ADD ("/cli-term/stream", TRUE, test_stream);
  ADD ("/cli-term/stream-long-line", TRUE, test_stream_long_line);
  ADD ("/cli-term/two-streams", TRUE, test_two_streams);
  ADD ("/cli-term/plain", FALSE, test_plain);
  ADD ("/cli-term/controls", FALSE, test_controls);
  ADD ("/cli-term/quiet", FALSE, test_quiet);
  ADD ("/cli-term/threads", TRUE, test_threads);
#undef ADD

  return g_test_run ();
}
