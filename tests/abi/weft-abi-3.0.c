/* weft-abi-3.0.c — the layout of the frozen ABI 3.0 header, compiled
 * against that header alone: what every later 3.x must keep. */
#include "weft-sdk-3.0.h"
#include "weft-abi-facts.h"

const WeftAbiFact weft_abi_facts_3_0[] = {
#include "weft-abi-facts-3.0.inc"
  WEFT_ABI_FACT_END
};
