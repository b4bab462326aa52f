/* weft-json.c — reading JSON that weft did not write.
 *
 * Flow files, request bodies, LLM answers, the arguments a model gives a
 * tool and stored rows are hostile until checked.  json-glib's parser
 * recurses once per level of nesting (100,000 "[" overflow a thread's
 * stack), turns 1e999 into inf (which no JSON writer can write back),
 * wraps integers past 64 bits, cuts strings at "\u0000" and keeps the last
 * of two equal keys without a word.  So every such text passes one linear
 * check first (weft_json_check), which refuses all of that with the line,
 * column and JSON path of the fault, and only then does json-glib build
 * the tree (weft_json_parse).
 *
 * The check is a pull reader (weft-json-reader.h) read to the end: an
 * explicit stack of at most WEFT_JSON_MAX_DEPTH levels, no recursion.  A
 * flow file is read with the same reader, value by value, into the flow's
 * own compact description, and never becomes a json-glib tree at all.
 * Sizes are the reader's to bound (a body limit, a file limit) before the
 * text is here at all. */
#include "weft-json-reader.h"

#include <string.h>

/* ---- entry points -------------------------------------------------------------- */

gboolean
weft_json_check (const char *text, gssize length, const char *origin, GError **error)
{
  gsize n = length < 0 ? strlen (text) : (gsize) length;
  g_autoptr(WeftJsonReader) r = weft_json_reader_new (text, n, origin, error);

  return weft_json_reader_skip (r) && weft_json_reader_end (r);
}

JsonNode *
weft_json_parse_named (const char *text, gssize length, const char *origin, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (text != NULL || length == 0, NULL);

  if (text == NULL)
    text = "";
  gsize n = length < 0 ? strlen (text) : (gsize) length;
  if (!weft_json_check (text, (gssize) n, origin, error))
    return NULL;
  gsize bom = weft_json_bom_length (text, n);
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text + bom, (gssize) (n - bom), &local))
    {
      /* The check lets through nothing json-glib refuses; should it ever,
       * its words without its "<data>:" prefix. */
      const char *m = local->message;
      if (g_str_has_prefix (m, "<data>:"))
        m += strlen ("<data>:");
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "%s%s%s", origin ? origin : "",
                   origin ? ":" : "", m);
      return NULL;
    }
  return json_node_ref (json_parser_get_root (parser));
}

JsonNode *
weft_json_parse (const char *text, gssize length, GError **error)
{
  return weft_json_parse_named (text, length, NULL, error);
}

/* ---- describing values ------------------------------------------------------------ */

const char *
weft_json_describe (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return "null";
  if (JSON_NODE_HOLDS_ARRAY (node))
    return "an array";
  if (JSON_NODE_HOLDS_OBJECT (node))
    return "an object";
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING: return "a string";
    case G_TYPE_INT64: return "an integer";
    case G_TYPE_DOUBLE: return "a number";
    case G_TYPE_BOOLEAN: return "a boolean";
    default: return "a value";
    }
}

void
weft_json_set_time (JsonObject *object, const char *key, gint64 wall_us)
{
  if (wall_us)
    json_object_set_int_member (object, key, wall_us);
  else
    json_object_set_null_member (object, key);
}
