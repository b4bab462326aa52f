/* fuzz-flow.c — libFuzzer on flow loading: every byte string is handed to
 * weft_flow_load_data, which must refuse it with an error or build a flow
 * (its plugin instances made and destroyed) — never crash, hang or leak.
 *
 * The engine and its plugins are made once.  The built-in and in-tree
 * plugins are loaded, so that seeds naming them reach their options'
 * checks and their create(); the fuzzer runs in a scratch directory
 * because a flow may name files (a log path, a sqlite database). */
#include "weft-fuzz.h"

#include <weft.h>

#include <glib/gstdio.h>

#include <stdint.h>
#include <string.h>

/* Besides its file's name: a message's path and reason are cut to about
 * 4 KiB each (weft_message_tidy). */
#define WEFT_FUZZ_FLOW_MAX_MESSAGE 4200

static WeftEngine *weft_fuzz_engine;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *scratch = g_dir_make_tmp ("weft-fuzz-flow-XXXXXX", &error);

  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  /* A critical is GLib or json-glib misused: a bug, not a log line. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  /* The corpus directories and files named on the command line are read
   * after this: made absolute, they survive the move to the scratch one. */
  for (int i = 1; i < *argc; i++)
    if ((*argv)[i][0] != '-' && !g_path_is_absolute ((*argv)[i]))
      (*argv)[i] = g_canonicalize_filename ((*argv)[i], NULL);
  if (scratch == NULL || g_chdir (scratch) != 0)
    weft_fuzz_fail ("fuzz-flow: no scratch directory: %s", error ? error->message : "chdir");
  weft_fuzz_engine = weft_engine_new (1);
  if (!weft_engine_load_plugins (weft_fuzz_engine, NULL, warnings, &error))
    weft_fuzz_fail ("fuzz-flow: loading plugins: %s", error->message);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_data (weft_fuzz_engine, (const char *) data,
                                                  (gssize) size, "fuzz.json", &error);

  /* Exactly one of the two. */
  if ((flow == NULL) == (error == NULL))
    weft_fuzz_fail ("fuzz-flow: a flow and an error, or neither");
  if (error == NULL)
    return 0;
  /* Messages quote the flow's words: never raw, never whole. */
  gboolean control = FALSE;
  for (const char *p = error->message; *p; p++)
    control |= (guchar) *p < 0x20 || *p == 0x7f;
  if (control || !g_utf8_validate (error->message, -1, NULL)
      || strlen (error->message) > 3 * WEFT_FUZZ_FLOW_MAX_MESSAGE)
    weft_fuzz_fail ("fuzz-flow: a message not fit to show: %s", error->message);
  return 0;
}
