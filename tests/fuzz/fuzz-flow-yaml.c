/* fuzz-flow-yaml.c — libFuzzer on YAML flows: every byte string, written
 * to a .yaml file, is handed to weft_flow_load_file, which must refuse it
 * with an error or build a flow — never crash, hang, leak or take memory
 * without bound (aliases are refused; depth is bounded while reading).
 *
 * As fuzz-flow.c: the engine and its plugins are made once, in a scratch
 * directory (a flow may name files). */
#include "weft-fuzz.h"

#include <stdint.h>

static WeftEngine *weft_fuzz_engine;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  weft_fuzz_engine = weft_fuzz_flow_engine_new (argc, argv, "fuzz-flow-yaml");
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

  weft_fuzz_check_flow_load ("fuzz-flow-yaml", flow, error);
  return 0;
}
