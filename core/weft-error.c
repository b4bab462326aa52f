/* weft-error.c — WEFT_ERROR's quark.
 *
 * A file of its own that uses nothing: every part of libweft sets errors,
 * so the quark sits below all of them (tests/check-layering.sh). */
#include "weft-private.h"

G_DEFINE_QUARK (weft-error-quark, weft_error)
