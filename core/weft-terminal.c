/* weft-terminal.c — text for the person watching, and who writes it.
 *
 * A plugin that would write to stderr (the log callback without a path)
 * calls weft_terminal_write instead; the program embedding weft says where
 * that text goes (weft_terminal_set_writer).  Without a writer it goes to
 * stderr, as before.  The `weft` command takes it so that one writer owns
 * its terminal: lines are drawn above the status line, never glued to it,
 * and --quiet drops them.
 *
 * The writer is the process's, like stderr itself: a callback plugin holds
 * no handle on the engine, and two engines of one process share one
 * terminal anyway (GLib's g_log_set_writer_func is the same choice).  Any
 * thread may write; a reader-writer lock lets writes run at once while a
 * new writer waits for those in progress before the old one's data goes.
 */
#include "weft-private.h"

#include <stdio.h>
#include <string.h>

static GRWLock weft_terminal_lock;
static WeftTerminalWriter weft_terminal_writer;
static gpointer weft_terminal_writer_data;
static GDestroyNotify weft_terminal_writer_destroy;

void
weft_terminal_set_writer (WeftTerminalWriter writer, gpointer user_data,
                          GDestroyNotify destroy)
{
  gpointer old_data;
  GDestroyNotify old_destroy;

  g_rw_lock_writer_lock (&weft_terminal_lock);
  old_data = weft_terminal_writer_data;
  old_destroy = weft_terminal_writer_destroy;
  weft_terminal_writer = writer;
  weft_terminal_writer_data = writer != NULL ? user_data : NULL;
  weft_terminal_writer_destroy = writer != NULL ? destroy : NULL;
  g_rw_lock_writer_unlock (&weft_terminal_lock);
  if (old_destroy != NULL)
    old_destroy (old_data);
}

/* One fwrite: stdio locks the stream for the call, so two threads' lines
 * never cut into each other. */
static void
weft_terminal_write_stderr (const char *text)
{
  fwrite (text, 1, strlen (text), stderr);
  fflush (stderr);
}

void
weft_terminal_write (const char *text)
{
  g_return_if_fail (text != NULL);

  g_autofree char *redacted = weft_secrets_redact (text);
  gsize length = strlen (redacted);
  g_autofree char *lines = length > 0 && redacted[length - 1] == '\n'
                           ? g_steal_pointer (&redacted)
                           : g_strconcat (redacted, "\n", NULL);

  g_rw_lock_reader_lock (&weft_terminal_lock);
  if (weft_terminal_writer != NULL)
    weft_terminal_writer (lines, weft_terminal_writer_data);
  else
    weft_terminal_write_stderr (lines);
  g_rw_lock_reader_unlock (&weft_terminal_lock);
}
