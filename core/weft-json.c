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
 * The check is a recursive descent bounded by WEFT_JSON_MAX_DEPTH: its own
 * recursion is as deep as the nesting it allows, never deeper.  Sizes are
 * the reader's to bound (a body limit, a file limit) before the text is
 * here at all. */
#include "weft-private.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* A key as written: the span between its quotes. */
typedef struct {
  const char *start;
  gsize length;
  gboolean escaped;           /* holds a backslash: compare decoded */
} WeftJsonKey;

/* Where the check is, for messages: the member or the element of each
 * open container. */
typedef struct {
  gboolean array;
  guint index;
  WeftJsonKey key;            /* objects: the member being read */
} WeftJsonLevel;

typedef struct {
  const char *text;
  const char *p;
  const char *end;
  guint depth;
  WeftJsonLevel levels[WEFT_JSON_MAX_DEPTH];
  const char *origin;         /* a file's name, or NULL */
  WeftErrorCode code;         /* of the error to set */
  GError **error;
} WeftJsonScan;

/* An object's keys so far: a few compared in place, many in a table. */
#define WEFT_JSON_FEW_KEYS 8

typedef struct {
  WeftJsonKey few[WEFT_JSON_FEW_KEYS];
  guint n;
  GHashTable *many;           /* decoded key → itself */
} WeftJsonKeys;

static gboolean weft_json_scan_value (WeftJsonScan *s);

/* ---- messages ------------------------------------------------------------------ */

static char *weft_json_decode_key (const WeftJsonKey *key);

/* Deep paths show their first and last levels: "$[0][0][0][0]…[0][0]". */
#define WEFT_JSON_PATH_HEAD 4
#define WEFT_JSON_PATH_TAIL 2

/* "$.tasks[3].name", each key decoded and quoted where it is not a word. */
static char *
weft_json_scan_path (WeftJsonScan *s, guint depth)
{
  GString *path = g_string_new ("$");

  for (guint i = 0; i < depth; i++)
    {
      const WeftJsonLevel *l = &s->levels[i];
      if (depth > WEFT_JSON_PATH_HEAD + WEFT_JSON_PATH_TAIL + 1 && i == WEFT_JSON_PATH_HEAD)
        {
          g_string_append (path, "…");
          i = depth - WEFT_JSON_PATH_TAIL - 1;
          continue;
        }
      if (l->array)
        {
          g_string_append_printf (path, "[%u]", l->index);
          continue;
        }
      if (l->key.start == NULL)
        break;
      g_autofree char *key = weft_json_decode_key (&l->key);
      gboolean word = *key != '\0';
      for (const char *k = key; *k && word; k++)
        word = g_ascii_isalnum (*k) || *k == '_' || *k == '-';
      if (word)
        g_string_append_printf (path, ".%s", key);
      else
        {
          g_autofree char *shown = weft_message_quote (key, 40);
          g_string_append_printf (path, "[%s]", shown);
        }
    }
  return g_string_free (path, FALSE);
}

static void
weft_json_scan_fail_at (WeftJsonScan *s, const char *at, guint depth, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static void
weft_json_scan_fail_at (WeftJsonScan *s, const char *at, guint depth, const char *format, ...)
{
  guint line = 1;
  const char *line_start = s->text;
  va_list args;

  if (s->error == NULL || *s->error != NULL)
    return;
  for (const char *c = s->text; c < at; c++)
    if (*c == '\n')
      {
        line++;
        line_start = c + 1;
      }
  /* Columns count characters, as an editor shows them. */
  glong column = g_utf8_validate_len (line_start, at - line_start, NULL)
                 ? g_utf8_strlen (line_start, at - line_start) + 1
                 : (glong) (at - line_start) + 1;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *path = weft_json_scan_path (s, depth);
  /* A file's place as compilers give it, which editors jump to. */
  g_autofree char *where = s->origin
    ? g_strdup_printf ("%s:%u:%ld", s->origin, line, column)
    : g_strdup_printf ("line %u, column %ld", line, column);
  g_set_error (s->error, WEFT_ERROR, s->code, "%s: %s%s%s", where,
               g_str_equal (path, "$") ? "" : path, g_str_equal (path, "$") ? "" : ": ", reason);
}

#define weft_json_scan_fail(s, ...) \
  weft_json_scan_fail_at ((s), (s)->p, (s)->depth, __VA_ARGS__)

/* What stands at p, for "expected X, found Y". */
static char *
weft_json_scan_found (WeftJsonScan *s)
{
  if (s->p >= s->end)
    return g_strdup ("the end of the text");
  if (g_ascii_isprint (*s->p))
    return g_strdup_printf ("'%c'", *s->p);
  return g_strdup_printf ("byte 0x%02x", (guchar) *s->p);
}

static gboolean
weft_json_scan_expected (WeftJsonScan *s, const char *what)
{
  g_autofree char *found = weft_json_scan_found (s);

  weft_json_scan_fail (s, "expected %s, found %s", what, found);
  return FALSE;
}

/* ---- tokens -------------------------------------------------------------------- */

static void
weft_json_scan_space (WeftJsonScan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
    s->p++;
}

static gboolean
weft_json_scan_word (WeftJsonScan *s, const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return weft_json_scan_expected (s, "a JSON value");
  s->p += n;
  return TRUE;
}

static gint
weft_json_hex4 (const char *p)
{
  gint v = 0;

  for (guint i = 0; i < 4; i++)
    {
      gint d = g_ascii_xdigit_value (p[i]);
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

/* One escape after a backslash at p; moves past it. */
static gboolean
weft_json_scan_escape (WeftJsonScan *s)
{
  const char *at = s->p - 1;

  if (s->p >= s->end)
    return weft_json_scan_expected (s, "an escape after '\\'");
  if (strchr ("\"\\/bfnrt", *s->p) && *s->p)
    {
      s->p++;
      return TRUE;
    }
  if (*s->p != 'u')
    {
      /* The byte may be a control or half a character: never copy it. */
      if (g_ascii_isprint (*s->p))
        weft_json_scan_fail_at (s, at, s->depth, "\"\\%c\" is not a JSON escape", *s->p);
      else
        weft_json_scan_fail_at (s, at, s->depth, "a backslash before byte 0x%02x is not a JSON "
                                "escape", (guchar) *s->p);
      return FALSE;
    }
  gint unit = s->end - s->p >= 5 ? weft_json_hex4 (s->p + 1) : -1;
  if (unit < 0)
    {
      weft_json_scan_fail_at (s, at, s->depth, "\"\\u\" needs four hex digits");
      return FALSE;
    }
  s->p += 5;
  if (unit == 0)
    {
      /* A C string ends there: names and values would be cut short. */
      weft_json_scan_fail_at (s, at, s->depth, "\"\\u0000\" (a NUL character) is not allowed");
      return FALSE;
    }
  if (unit >= 0xdc00 && unit <= 0xdfff)
    {
      weft_json_scan_fail_at (s, at, s->depth, "\"\\u%04x\" is half of a surrogate pair, alone",
                              (guint) unit);
      return FALSE;
    }
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      gint low = s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u'
                 ? weft_json_hex4 (s->p + 2) : -1;
      if (low < 0xdc00 || low > 0xdfff)
        {
          weft_json_scan_fail_at (s, at, s->depth,
                                  "\"\\u%04x\" is half of a surrogate pair, alone", (guint) unit);
          return FALSE;
        }
      s->p += 6;
    }
  return TRUE;
}

/* A string whose opening quote is at p; fills `key` with its span. */
static gboolean
weft_json_scan_string (WeftJsonScan *s, WeftJsonKey *key)
{
  const char *start = ++s->p;
  gboolean ascii = TRUE;
  gboolean escaped = FALSE;

  for (;;)
    {
      if (s->p >= s->end)
        {
          weft_json_scan_fail_at (s, start - 1, s->depth, "a string that never ends");
          return FALSE;
        }
      guchar c = (guchar) *s->p;
      if (c == '"')
        break;
      if (c < 0x20)
        {
          weft_json_scan_fail (s, "a control character (0x%02x) in a string: write it as an "
                               "escape", c);
          return FALSE;
        }
      s->p++;
      if (c == '\\')
        {
          escaped = TRUE;
          if (!weft_json_scan_escape (s))
            return FALSE;
        }
      else if (c >= 0x80)
        ascii = FALSE;
    }
  if (!ascii)
    {
      const char *bad = NULL;
      if (!g_utf8_validate_len (start, s->p - start, &bad))
        {
          weft_json_scan_fail_at (s, bad, s->depth, "a string that is not valid UTF-8");
          return FALSE;
        }
    }
  if (key)
    *key = (WeftJsonKey) { start, (gsize) (s->p - start), escaped };
  s->p++;
  return TRUE;
}

static gboolean
weft_json_scan_digits (WeftJsonScan *s)
{
  if (s->p >= s->end || !g_ascii_isdigit (*s->p))
    return weft_json_scan_expected (s, "a digit");
  while (s->p < s->end && g_ascii_isdigit (*s->p))
    s->p++;
  return TRUE;
}

/* Integers must fit 64 bits and other numbers a finite double: json-glib
 * would wrap the one and make inf of the other. */
static gboolean
weft_json_scan_number_fits (WeftJsonScan *s, const char *start, gboolean integer)
{
  gsize n = s->p - start;
  char small[64];
  g_autofree char *big = n >= sizeof small ? g_strndup (start, n) : NULL;
  char *copy = big ? big : small;

  if (!big)
    {
      memcpy (small, start, n);
      small[n] = '\0';
    }
  errno = 0;
  if (integer)
    {
      g_ascii_strtoll (copy, NULL, 10);
      if (errno != ERANGE)
        return TRUE;
      weft_json_scan_fail_at (s, start, s->depth,
                              "the integer %.40s%s does not fit in 64 bits", copy,
                              n > 40 ? "…" : "");
      return FALSE;
    }
  if (isfinite (g_ascii_strtod (copy, NULL)))
    return TRUE;
  weft_json_scan_fail_at (s, start, s->depth, "the number %.40s%s is too large for a double",
                          copy, n > 40 ? "…" : "");
  return FALSE;
}

static gboolean
weft_json_scan_number (WeftJsonScan *s)
{
  const char *start = s->p;
  gboolean integer = TRUE;

  if (*s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (!weft_json_scan_digits (s))
    return FALSE;
  if (s->p < s->end && *s->p == '.')
    {
      s->p++;
      integer = FALSE;
      if (!weft_json_scan_digits (s))
        return FALSE;
    }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
    {
      s->p++;
      integer = FALSE;
      if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
        s->p++;
      if (!weft_json_scan_digits (s))
        return FALSE;
    }
  return weft_json_scan_number_fits (s, start, integer);
}

/* ---- duplicate keys ------------------------------------------------------------ */

static char *
weft_json_decode_key (const WeftJsonKey *key)
{
  if (!key->escaped)
    return g_strndup (key->start, key->length);
  /* The check has seen the escapes are good: let json-glib decode them. */
  g_autofree char *quoted = g_strdup_printf ("\"%.*s\"", (int) key->length, key->start);
  g_autoptr(JsonNode) node = json_from_string (quoted, NULL);
  return g_strdup (node ? json_node_get_string (node) : "");
}

static gboolean
weft_json_keys_equal (const WeftJsonKey *a, const WeftJsonKey *b)
{
  if (!a->escaped && !b->escaped)
    return a->length == b->length && memcmp (a->start, b->start, a->length) == 0;
  g_autofree char *da = weft_json_decode_key (a);
  g_autofree char *db = weft_json_decode_key (b);
  return g_str_equal (da, db);
}

/* Adds `key`; FALSE when the object has it already. */
static gboolean
weft_json_keys_add (WeftJsonKeys *keys, const WeftJsonKey *key)
{
  if (keys->many == NULL && keys->n < WEFT_JSON_FEW_KEYS)
    {
      for (guint i = 0; i < keys->n; i++)
        if (weft_json_keys_equal (&keys->few[i], key))
          return FALSE;
      keys->few[keys->n++] = *key;
      return TRUE;
    }
  if (keys->many == NULL)
    {
      keys->many = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      for (guint i = 0; i < keys->n; i++)
        {
          char *k = weft_json_decode_key (&keys->few[i]);
          g_hash_table_add (keys->many, k);
        }
    }
  return g_hash_table_add (keys->many, weft_json_decode_key (key));
}

static void
weft_json_keys_clear (WeftJsonKeys *keys)
{
  g_clear_pointer (&keys->many, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftJsonKeys, weft_json_keys_clear)

/* ---- containers ---------------------------------------------------------------- */

static gboolean
weft_json_scan_enter (WeftJsonScan *s, gboolean array)
{
  if (s->depth == WEFT_JSON_MAX_DEPTH)
    {
      weft_json_scan_fail (s, "nested deeper than %u levels", WEFT_JSON_MAX_DEPTH);
      return FALSE;
    }
  s->levels[s->depth++] = (WeftJsonLevel) { array, 0, { NULL, 0, FALSE } };
  s->p++;
  weft_json_scan_space (s);
  return TRUE;
}

static gboolean
weft_json_scan_array (WeftJsonScan *s)
{
  if (!weft_json_scan_enter (s, TRUE))
    return FALSE;
  WeftJsonLevel *level = &s->levels[s->depth - 1];
  if (s->p < s->end && *s->p == ']')
    goto done;
  for (;;)
    {
      if (!weft_json_scan_value (s))
        return FALSE;
      weft_json_scan_space (s);
      if (s->p < s->end && *s->p == ']')
        break;
      if (s->p >= s->end || *s->p != ',')
        return weft_json_scan_expected (s, "',' or ']'");
      s->p++;
      level->index++;
    }
done:
  s->p++;
  s->depth--;
  return TRUE;
}

static gboolean
weft_json_scan_object (WeftJsonScan *s)
{
  g_auto(WeftJsonKeys) keys = { 0 };

  if (!weft_json_scan_enter (s, FALSE))
    return FALSE;
  WeftJsonLevel *level = &s->levels[s->depth - 1];
  if (s->p < s->end && *s->p == '}')
    goto done;
  for (;;)
    {
      WeftJsonKey key;
      const char *key_at = s->p;
      if (s->p >= s->end || *s->p != '"')
        return weft_json_scan_expected (s, "a member name in double quotes");
      if (!weft_json_scan_string (s, &key))
        return FALSE;
      if (!weft_json_keys_add (&keys, &key))
        {
          g_autofree char *name = weft_json_decode_key (&key);
          g_autofree char *shown = weft_message_quote (name, 80);
          /* The path is the object's: the key it names is this one. */
          s->code = WEFT_ERROR_DUPLICATE;
          weft_json_scan_fail_at (s, key_at, s->depth - 1, "duplicate key %s (each name may "
                                  "be given once)", shown);
          return FALSE;
        }
      level->key = key;
      weft_json_scan_space (s);
      if (s->p >= s->end || *s->p != ':')
        return weft_json_scan_expected (s, "':' after the member name");
      s->p++;
      if (!weft_json_scan_value (s))
        return FALSE;
      weft_json_scan_space (s);
      if (s->p < s->end && *s->p == '}')
        break;
      if (s->p >= s->end || *s->p != ',')
        return weft_json_scan_expected (s, "',' or '}'");
      s->p++;
      level->key.start = NULL;
      weft_json_scan_space (s);
    }
done:
  s->p++;
  s->depth--;
  return TRUE;
}

static gboolean
weft_json_scan_value (WeftJsonScan *s)
{
  weft_json_scan_space (s);
  if (s->p >= s->end)
    return weft_json_scan_expected (s, "a JSON value");
  switch (*s->p)
    {
    case '{': return weft_json_scan_object (s);
    case '[': return weft_json_scan_array (s);
    case '"': return weft_json_scan_string (s, NULL);
    case 't': return weft_json_scan_word (s, "true");
    case 'f': return weft_json_scan_word (s, "false");
    case 'n': return weft_json_scan_word (s, "null");
    default:
      if (*s->p == '-' || g_ascii_isdigit (*s->p))
        return weft_json_scan_number (s);
      return weft_json_scan_expected (s, "a JSON value");
    }
}

/* ---- entry points -------------------------------------------------------------- */

/* A UTF-8 byte order mark, which some editors write first. */
static gsize
weft_json_bom_length (const char *text, gsize length)
{
  return length >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

gboolean
weft_json_check (const char *text, gssize length, const char *origin, GError **error)
{
  gsize n = length < 0 ? strlen (text) : (gsize) length;
  WeftJsonScan s = { text, text + weft_json_bom_length (text, n), text + n, 0, { { 0 } },
                     origin, WEFT_ERROR_PARSE, error };

  weft_json_scan_space (&s);
  if (s.p == s.end)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "%s%sno JSON value: the text is empty",
                   origin ? origin : "", origin ? ": " : "");
      return FALSE;
    }
  if (!weft_json_scan_value (&s))
    return FALSE;
  weft_json_scan_space (&s);
  if (s.p < s.end)
    {
      g_autofree char *found = weft_json_scan_found (&s);
      weft_json_scan_fail (&s, "unexpected %s after the JSON value", found);
      return FALSE;
    }
  return TRUE;
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
