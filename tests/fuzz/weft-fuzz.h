/* weft-fuzz.h — what the harnesses share. */
#pragma once

#include <weft.h>

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A finding: libFuzzer saves the input on abort(), not on the trap that
 * g_error() raises. */
#define weft_fuzz_fail(...)                                                   \
  G_STMT_START {                                                              \
    fprintf (stderr, __VA_ARGS__);                                            \
    fputc ('\n', stderr);                                                     \
    abort ();                                                                 \
  } G_STMT_END

/* Besides its file's name: a message's path and reason are cut to about
 * 4 KiB each (weft_message_tidy). */
#define WEFT_FUZZ_FLOW_MAX_MESSAGE 4200

/* For the harnesses that load flows: the engine with the built-in and
 * in-tree plugins, made once, so that seeds naming them reach their
 * options' checks and their create(); the fuzzer runs in a scratch
 * directory because a flow may name files (a log path, a database).  The
 * corpus directories and files named on the command line are read after
 * this: made absolute, they survive the move. */
static inline WeftEngine *
weft_fuzz_flow_engine_new (int *argc, char ***argv, const char *harness)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *scratch = g_dir_make_tmp ("weft-fuzz-flow-XXXXXX", &error);
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  /* A critical is GLib or json-glib misused: a bug, not a log line. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  for (int i = 1; i < *argc; i++)
    if ((*argv)[i][0] != '-' && !g_path_is_absolute ((*argv)[i]))
      (*argv)[i] = g_canonicalize_filename ((*argv)[i], NULL);
  if (scratch == NULL || g_chdir (scratch) != 0)
    weft_fuzz_fail ("%s: no scratch directory: %s", harness, error ? error->message : "chdir");
  WeftEngine *engine = weft_engine_new (1);
  if (!weft_engine_load_plugins (engine, NULL, warnings, &error))
    weft_fuzz_fail ("%s: loading plugins: %s", harness, error->message);
  return engine;
}

/* A flow load ends in exactly one of a flow and an error, whose message
 * quotes the flow's words as it must: never raw, never whole. */
static inline void
weft_fuzz_check_flow_load (const char *harness, WeftFlow *flow, const GError *error)
{
  if ((flow == NULL) == (error == NULL))
    weft_fuzz_fail ("%s: a flow and an error, or neither", harness);
  if (error == NULL)
    return;
  gboolean control = FALSE;
  for (const char *p = error->message; *p; p++)
    control |= (guchar) *p < 0x20 || *p == 0x7f;
  if (control || !g_utf8_validate (error->message, -1, NULL)
      || strlen (error->message) > 3 * WEFT_FUZZ_FLOW_MAX_MESSAGE)
    weft_fuzz_fail ("%s: a message not fit to show: %s", harness, error->message);
}
