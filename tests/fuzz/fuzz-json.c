/* fuzz-json.c — libFuzzer on weft_json_parse, against json-glib.
 *
 * weft_json_parse builds json-glib's tree from weft's own reader as it
 * checks the text (weft-json.c).  For any bytes: it refuses them with an
 * error, or json-glib's parser reads the same text (after a byte order
 * mark) to a tree equal to it, written back the same; it never refuses a
 * text without saying why. */
#include "weft-fuzz.h"

#include <stdint.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) ours = weft_json_parse (text, (gssize) size, &error);

  if (ours == NULL)
    {
      if (error == NULL || error->message[0] == '\0')
        weft_fuzz_fail ("refused without a reason");
      return 0;
    }
  if (error != NULL)
    weft_fuzz_fail ("a tree and an error: %s", error->message);

  gsize bom = size >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) theirs = NULL;
  if (!json_parser_load_from_data (parser, text + bom, (gssize) (size - bom), &theirs))
    weft_fuzz_fail ("accepted, but json-glib refuses it: %s", theirs->message);

  JsonNode *root = json_parser_get_root (parser);
  if (!json_node_equal (ours, root))
    weft_fuzz_fail ("not json-glib's tree");
  g_autofree char *a = json_to_string (ours, FALSE);
  g_autofree char *b = json_to_string (root, FALSE);
  if (strcmp (a, b) != 0)
    weft_fuzz_fail ("written back differently:\n%s\n%s", a, b);
  return 0;
}
