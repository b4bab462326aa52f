/* weft-json.c — reading JSON that weft did not write.
 *
 * Flow files, request bodies, LLM answers, the arguments a model gives a
 * tool and stored rows are hostile until checked.  json-glib's parser
 * recurses once per level of nesting (100,000 "[" overflow a thread's
 * stack), turns 1e999 into inf (which no JSON writer can write back),
 * wraps integers past 64 bits, cuts strings at "\u0000" and keeps the last
 * of two equal keys without a word.  So every such text passes one linear
 * check first (weft_json_check), which refuses all of that with the line,
 * column and JSON path of the fault; weft_json_parse builds json-glib's
 * tree from the same reader as it checks, in one pass.
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

/* The value the reader just read, as a node; a container is empty (its
 * members come as the reader walks it). */
static JsonNode *
weft_json_node_of (WeftJsonReader *r, WeftJsonToken token, GString *scratch)
{
  JsonNode *node;
  gsize n;
  const char *s;

  switch (token)
    {
    case WEFT_JSON_OBJECT:
      node = json_node_init (json_node_alloc (), JSON_NODE_OBJECT);
      json_node_take_object (node, json_object_new ());  /* init_object would ref it */
      return node;
    case WEFT_JSON_ARRAY:
      node = json_node_init (json_node_alloc (), JSON_NODE_ARRAY);
      json_node_take_array (node, json_array_new ());
      return node;
    case WEFT_JSON_STRING:
      /* json-glib copies a string up to its NUL; the reader's may be a
       * span of the text. */
      s = weft_json_reader_get_string (r, &n);
      g_string_truncate (scratch, 0);
      g_string_append_len (scratch, s, (gssize) n);
      return json_node_init_string (json_node_alloc (), scratch->str);
    case WEFT_JSON_INT:
      return json_node_init_int (json_node_alloc (), weft_json_reader_get_int (r));
    case WEFT_JSON_DOUBLE:
      return json_node_init_double (json_node_alloc (), weft_json_reader_get_double (r));
    case WEFT_JSON_BOOL:
      return json_node_init_boolean (json_node_alloc (), weft_json_reader_get_bool (r));
    case WEFT_JSON_NULL:
      return json_node_init_null (json_node_alloc ());
    case WEFT_JSON_NONE:
    default:
      return NULL;
    }
}

/* The tree, built as the reader checks the text: one pass, where a check
 * and then json-glib's own parser took two (the second the slower: it
 * scans with GScanner and allocates per token).  The open containers are
 * an explicit stack, bounded by the reader's depth limit. */
static JsonNode *
weft_json_build (WeftJsonReader *r)
{
  JsonNode *open[WEFT_JSON_MAX_DEPTH + 1];
  guint depth = 0;
  g_autoptr(GString) key = g_string_new (NULL);
  g_autoptr(GString) scratch = g_string_new (NULL);
  WeftJsonToken token = weft_json_reader_read (r);
  JsonNode *root = weft_json_node_of (r, token, scratch);

  if (root == NULL)
    return NULL;
  if (token == WEFT_JSON_OBJECT || token == WEFT_JSON_ARRAY)
    open[depth++] = root;
  while (depth > 0)
    {
      JsonNode *parent = open[depth - 1];
      gboolean object = JSON_NODE_HOLDS_OBJECT (parent);

      if (!weft_json_reader_next (r))
        {
          if (weft_json_reader_failed (r))
            break;
          depth--;
          continue;
        }
      if (object)
        {
          gsize n;
          const char *k = weft_json_reader_get_key (r, &n);
          g_string_truncate (key, 0);
          g_string_append_len (key, k, (gssize) n);
        }
      token = weft_json_reader_read (r);
      JsonNode *child = weft_json_node_of (r, token, scratch);
      if (child == NULL)
        break;
      if (object)
        json_object_set_member (json_node_get_object (parent), key->str, child);
      else
        json_array_add_element (json_node_get_array (parent), child);
      if ((token == WEFT_JSON_OBJECT || token == WEFT_JSON_ARRAY)
          && depth < G_N_ELEMENTS (open))
        open[depth++] = child;
    }
  if (weft_json_reader_failed (r) || !weft_json_reader_end (r))
    {
      json_node_unref (root);
      return NULL;
    }
  return root;
}

JsonNode *
weft_json_parse_named (const char *text, gssize length, const char *origin, GError **error)
{
  g_return_val_if_fail (text != NULL || length == 0, NULL);

  if (text == NULL)
    text = "";
  gsize n = length < 0 ? strlen (text) : (gsize) length;
  g_autoptr(WeftJsonReader) r = weft_json_reader_new (text, n, origin, error);

  return weft_json_build (r);
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
