/* weft-fuzz.h — what the harnesses share. */
#pragma once

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

/* A finding: libFuzzer saves the input on abort(), not on the trap that
 * g_error() raises. */
#define weft_fuzz_fail(...)                                                   \
  G_STMT_START {                                                              \
    fprintf (stderr, __VA_ARGS__);                                            \
    fputc ('\n', stderr);                                                     \
    abort ();                                                                 \
  } G_STMT_END
