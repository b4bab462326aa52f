/* fuzz-flow-yaml.c — libFuzzer on YAML flows: every byte string, written
 * to a .yaml file, is handed to weft_flow_load_file, which must refuse it
 * with an error or build a flow — never crash, hang, leak or take memory
 * without bound (aliases are refused; depth is bounded while reading).
 *
 * As fuzz-flow.c: the engine and its plugins are made once, in a scratch
 * directory (a flow may name files). */
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
  g_autofree char *scratch = g_dir_make_tmp ("weft-fuzz-yaml-XXXXXX", &error);
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  for (int i = 1; i < *argc; i++)
    if ((*argv)[i][0] != '-' && !g_path_is_absolute ((*argv)[i]))
      (*argv)[i] = g_canonicalize_filename ((*argv)[i], NULL);
  if (scratch == NULL || g_chdir (scratch) != 0)
    weft_fuzz_fail ("fuzz-flow-yaml: no scratch directory: %s",
                    error ? error->message : "chdir");
  weft_fuzz_engine = weft_engine_new (1);
  if (!weft_engine_load_plugins (weft_fuzz_engine, NULL, warnings, &error))
    weft_fuzz_fail ("fuzz-flow-yaml: loading plugins: %s", error->message);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;

  /* No fsync: thousands of inputs a second. */
  if (!g_file_set_contents_full ("fuzz.yaml", (const char *) data, (gssize) size,
                                 G_FILE_SET_CONTENTS_NONE, 0644, &error))
    weft_fuzz_fail ("fuzz-flow-yaml: writing the input: %s", error->message);
  g_autoptr(WeftFlow) flow = weft_flow_load_file (weft_fuzz_engine, "fuzz.yaml", &error);

  if ((flow == NULL) == (error == NULL))
    weft_fuzz_fail ("fuzz-flow-yaml: a flow and an error, or neither");
  if (error == NULL)
    return 0;
  gboolean control = FALSE;
  for (const char *p = error->message; *p; p++)
    control |= (guchar) *p < 0x20 || *p == 0x7f;
  if (control || !g_utf8_validate (error->message, -1, NULL)
      || strlen (error->message) > 3 * WEFT_FUZZ_FLOW_MAX_MESSAGE)
    weft_fuzz_fail ("fuzz-flow-yaml: a message not fit to show: %s", error->message);
  return 0;
}
