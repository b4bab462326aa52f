/* fuzz-flow.c — libFuzzer on flow loading: every byte string is handed to
 * weft_flow_load_data, which must refuse it with an error or build a flow
 * (its plugin instances made and destroyed) — never crash, hang or leak.
 *
 * The engine and its plugins are made once.  The built-in and in-tree
 * plugins are loaded, so that seeds naming them reach their options'
 * checks and their create(); the fuzzer runs in a scratch directory
 * because a flow may name files (a log path, a sqlite database). */
#include "weft-fuzz.h"

#include <stdint.h>

static WeftEngine *weft_fuzz_engine;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  weft_fuzz_engine = weft_fuzz_flow_engine_new (argc, argv, "fuzz-flow");
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_data (weft_fuzz_engine, (const char *) data,
                                                  (gssize) size, "fuzz.json", &error);

  weft_fuzz_check_flow_load ("fuzz-flow", flow, error);
  return 0;
}
