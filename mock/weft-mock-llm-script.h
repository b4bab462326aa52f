/* weft-mock-llm-script.h — weft-mock-llm's script files (docs/mock-llm.md). */
#pragma once

#include "weft-mock-llm.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* Reads the script `file` into `mock`: its latency, rules and replies.
 * FALSE with an error naming the file and the place in it. */
gboolean weft_mock_llm_load_script (WeftMockLlm *mock, const char *file, GError **error);

G_END_DECLS
