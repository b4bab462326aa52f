/* weft-abi-3.1.c — the layout of the frozen ABI 3.1 header, compiled
 * against that header alone: 3.0's facts as this header has them, and
 * what 3.1 added. */
#include "weft-sdk-3.1.h"
#include "weft-abi-facts.h"

const WeftAbiFact weft_abi_facts_3_1[] = {
#include "weft-abi-facts-3.0.inc"
  OFFSET (WeftOption, flags),
  VALUE (WEFT_OPTION_NOT_EMPTY), VALUE (WEFT_OPTION_ANY_CASE),
  WEFT_ABI_FACT_END
};
