/* weft-cli-term.h — the one writer of the `weft` command's stderr
 * (weft-cli-term.c): lines above a live status line, streamed text as it
 * arrives.  Built on GLib and stdio alone, so that tests can drive it on
 * any FILE. */
#pragma once

#include <stdio.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct _WeftCliTerm WeftCliTerm;

/* A writer of `stream`.  `terminal`: draw a live area (a status line, the
 * line a stream is writing) redrawn in place; else write lines as they
 * come.  `width`: the terminal's columns, 0 to ask the terminal each time. */
WeftCliTerm *weft_cli_term_new (FILE *stream, gboolean terminal, guint width);
/* Finishes (weft_cli_term_finish) and frees. */
void weft_cli_term_free (WeftCliTerm *term);
gboolean weft_cli_term_is_terminal (WeftCliTerm *term);

/* Writes whole lines (a newline is added when the last lacks one) above
 * the live area, ending any stream's line first.  Any thread. */
void weft_cli_term_write (WeftCliTerm *term, const char *text);
void weft_cli_term_printf (WeftCliTerm *term, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* The same for text that is neither an error nor a result (what a flow's
 * callbacks write for a person, GLib's messages): dropped when quiet. */
void weft_cli_term_note (WeftCliTerm *term, const char *text);
void weft_cli_term_set_quiet (WeftCliTerm *term, gboolean quiet);

/* The status line, the live area's last row, cut to fit; NULL removes it.
 * Only on a terminal: elsewhere it is never shown. */
void weft_cli_term_set_status (WeftCliTerm *term, const char *status);

/* Streamed text of `key` (a task), written as it arrives, indented under
 * `header` (a line, written when the stream opens: when `key` was not the
 * last to stream, or another line came between).  On a terminal the line
 * in progress is the live area's first row. */
void weft_cli_term_stream (WeftCliTerm *term, const char *key, const char *header,
                           const char *text);
/* Ends the stream of `key`, if it is the open one: its line stays. */
void weft_cli_term_end_stream (WeftCliTerm *term, const char *key);

/* Leaves the screen with no live area: the stream's line ended, the status
 * line cleared.  Lines may still be written afterwards. */
void weft_cli_term_finish (WeftCliTerm *term);

/* Columns `text` takes on a terminal (wide characters count two). */
guint weft_cli_term_columns (const char *text);
/* `text` on one line, made safe, cut to at most `max_columns` with "…". */
char *weft_cli_term_fit (const char *text, guint max_columns);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftCliTerm, weft_cli_term_free)

G_END_DECLS
