/* fuzz-template.c — libFuzzer on template rendering: the input is a
 * template (up to its first NUL); weft_template_render must render it or
 * refuse it with an error that says where, for any bytes, with some keys
 * known and others not. */
#include "weft-fuzz.h"

#include <weft.h>

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  return 0;
}

/* Known keys render as text that holds braces itself: a rendered value
 * is never read again as a template. */
static const char *
weft_fuzz_lookup (const char *key, gpointer user_data)
{
  static const char *const known[] = { "prompt", "topic", "input.topic", "context.a", NULL };

  for (guint i = 0; known[i]; i++)
    if (g_str_equal (key, known[i]))
      return "{value with {braces}}";
  return NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *tmpl = g_strndup ((const char *) data, size);
  g_autoptr(GError) error = NULL;
  g_autofree char *out = weft_template_render (tmpl, weft_fuzz_lookup, NULL, &error);

  if ((out == NULL) == (error == NULL))
    weft_fuzz_fail ("fuzz-template: an output and an error, or neither");
  /* Literal text is copied and each value is longer than its "{key}":
   * an output never loses text. */
  if (out && strlen (out) + 4 < strlen (tmpl) / 2)
    weft_fuzz_fail ("fuzz-template: \"%s\" rendered as \"%s\"", tmpl, out);
  return 0;
}
