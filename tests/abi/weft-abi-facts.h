/* weft-abi-facts.h — one fact about a header's layout: a struct's size, a
 * field's offset or a constant's value, by name.  test-abi.c lists the
 * current header's facts; each frozen header in tests/abi/ lists its own,
 * and every fact of an older minor must hold in the current header. */
#pragma once

#include <glib.h>
#include <stddef.h>

typedef struct {
  const char *name;           /* "sizeof WeftOption", "WeftOption.min", "WEFT_OPTION_ENUM" */
  gsize value;
} WeftAbiFact;

/* A list of facts ends with this. */
#define WEFT_ABI_FACT_END { NULL, 0 }

/* The facts of tests/abi/weft-sdk-3.0.h (weft-abi-3.0.c). */
extern const WeftAbiFact weft_abi_facts_3_0[];
/* The facts of tests/abi/weft-sdk-3.1.h (weft-abi-3.1.c). */
extern const WeftAbiFact weft_abi_facts_3_1[];
