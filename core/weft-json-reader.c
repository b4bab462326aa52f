/* weft-json-reader.c — the pull reader of weft-json-reader.h: the one
 * grammar of JSON from outside, read a value at a time.
 *
 * weft_json_check reads a text to its end with it; a flow file is read
 * with it into the flow's description (weft-flow-parse.c).  Every refusal
 * names the line, the column (in characters) and the JSON path of the
 * fault.  The stack of open containers is explicit and bounded by
 * WEFT_JSON_MAX_DEPTH: nothing here recurses, so no nesting can overflow a
 * thread's stack, and a text nested deeper is refused where it goes too
 * deep. */
#include "weft-json-reader.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* A key or a string as written: the span between its quotes. */
typedef struct {
  const char *start;
  gsize length;
  gboolean escaped;           /* holds a backslash: compare decoded */
} WeftJsonKey;

/* An object's keys so far: a few compared in place, many in a table. */
#define WEFT_JSON_FEW_KEYS 8

typedef struct {
  WeftJsonKey few[WEFT_JSON_FEW_KEYS];
  guint n;
  GHashTable *many;           /* decoded key → itself */
} WeftJsonKeys;

/* One open container: where the reader is in it, for messages, and the
 * keys an object has had. */
typedef struct {
  gboolean array;
  gboolean first;             /* nothing read in it yet */
  guint index;
  WeftJsonKey key;            /* objects: the member being read */
  WeftJsonKeys keys;
} WeftJsonLevel;

struct _WeftJsonReader {
  const char *text;
  const char *p;
  const char *end;
  gboolean started;           /* the text's value has been asked for */
  gboolean failed;
  guint depth;
  /* Grown as the text nests, up to WEFT_JSON_MAX_DEPTH: all 64 at once
   * would be ~15 KiB zeroed for each text read (most nest a few levels),
   * an allocation large enough to make malloc consolidate its free lists
   * on every chat completion parsed. */
  WeftJsonLevel *levels;
  guint n_levels;
  const char *origin;         /* a file's name, or NULL */
  WeftErrorCode code;         /* of the error to set */
  GError **error;
  /* The value read last. */
  const char *value_start;
  WeftJsonKey string;
  gint64 integer;
  double number;
  gboolean boolean;
  GString *decoded;           /* a string with escapes, decoded */
  GString *decoded_key;
};

/* ---- decoding ------------------------------------------------------------------ */

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

/* Appends the string between quotes `s` decoded: its escapes have been
 * checked, so every one is whole and every surrogate has its pair. */
static void
weft_json_decode (GString *out, const char *s, gsize length)
{
  const char *end = s + length;

  while (s < end)
    {
      const char *slash = memchr (s, '\\', end - s);
      if (slash == NULL)
        {
          g_string_append_len (out, s, end - s);
          return;
        }
      g_string_append_len (out, s, slash - s);
      s = slash + 2;
      switch (slash[1])
        {
        case 'b': g_string_append_c (out, '\b'); break;
        case 'f': g_string_append_c (out, '\f'); break;
        case 'n': g_string_append_c (out, '\n'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 't': g_string_append_c (out, '\t'); break;
        case 'u':
          {
            gunichar c = (gunichar) weft_json_hex4 (slash + 2);
            s = slash + 6;
            if (c >= 0xd800 && c <= 0xdbff)
              {
                c = 0x10000 + ((c - 0xd800) << 10) + ((gunichar) weft_json_hex4 (s + 2) - 0xdc00);
                s += 6;
              }
            g_string_append_unichar (out, c);
            break;
          }
        default: g_string_append_c (out, slash[1]); break;
        }
    }
}

static char *
weft_json_decode_key (const WeftJsonKey *key)
{
  if (!key->escaped)
    return g_strndup (key->start, key->length);
  GString *out = g_string_sized_new (key->length);
  weft_json_decode (out, key->start, key->length);
  return g_string_free (out, FALSE);
}

/* The span itself when it has no escape, else its decoding in `scratch`. */
static const char *
weft_json_key_text (const WeftJsonKey *key, GString *scratch, gsize *length)
{
  if (!key->escaped)
    {
      *length = key->length;
      return key->start;
    }
  g_string_truncate (scratch, 0);
  weft_json_decode (scratch, key->start, key->length);
  *length = scratch->len;
  return scratch->str;
}

/* ---- messages ------------------------------------------------------------------ */

/* Deep paths show their first and last levels: "$[0][0][0][0]…[0][0]". */
#define WEFT_JSON_PATH_HEAD 4
#define WEFT_JSON_PATH_TAIL 2

/* "$.tasks[3].name", each key decoded and quoted where it is not a word. */
static char *
weft_json_reader_path (WeftJsonReader *r, guint depth)
{
  GString *path = g_string_new ("$");

  for (guint i = 0; i < depth; i++)
    {
      const WeftJsonLevel *l = &r->levels[i];
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
weft_json_reader_fail_at (WeftJsonReader *r, const char *at, guint depth, const char *format,
                          ...) G_GNUC_PRINTF (4, 5);

static void
weft_json_reader_fail_at (WeftJsonReader *r, const char *at, guint depth, const char *format, ...)
{
  guint line = 1;
  const char *line_start = r->text;
  va_list args;

  r->failed = TRUE;
  if (r->error == NULL || *r->error != NULL)
    return;
  for (const char *c = r->text; c < at; c++)
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
  g_autofree char *path = weft_json_reader_path (r, depth);
  /* A file's place as compilers give it, which editors jump to. */
  g_autofree char *where = r->origin
    ? g_strdup_printf ("%s:%u:%ld", r->origin, line, column)
    : g_strdup_printf ("line %u, column %ld", line, column);
  g_set_error (r->error, WEFT_ERROR, r->code, "%s: %s%s%s", where,
               g_str_equal (path, "$") ? "" : path, g_str_equal (path, "$") ? "" : ": ", reason);
}

#define weft_json_reader_fail(r, ...) \
  weft_json_reader_fail_at ((r), (r)->p, (r)->depth, __VA_ARGS__)

/* What stands at p, for "expected X, found Y". */
static char *
weft_json_reader_found (WeftJsonReader *r)
{
  if (r->p >= r->end)
    return g_strdup ("the end of the text");
  if (g_ascii_isprint (*r->p))
    return g_strdup_printf ("'%c'", *r->p);
  return g_strdup_printf ("byte 0x%02x", (guchar) *r->p);
}

static gboolean
weft_json_reader_expected (WeftJsonReader *r, const char *what)
{
  g_autofree char *found = weft_json_reader_found (r);

  weft_json_reader_fail (r, "expected %s, found %s", what, found);
  return FALSE;
}

/* ---- tokens -------------------------------------------------------------------- */

static void
weft_json_reader_space (WeftJsonReader *r)
{
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r'))
    r->p++;
}

static gboolean
weft_json_reader_word (WeftJsonReader *r, const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (r->end - r->p) < n || memcmp (r->p, word, n) != 0)
    return weft_json_reader_expected (r, "a JSON value");
  r->p += n;
  return TRUE;
}

/* One escape after a backslash at p; moves past it. */
static gboolean
weft_json_reader_escape (WeftJsonReader *r)
{
  const char *at = r->p - 1;

  if (r->p >= r->end)
    return weft_json_reader_expected (r, "an escape after '\\'");
  if (strchr ("\"\\/bfnrt", *r->p) && *r->p)
    {
      r->p++;
      return TRUE;
    }
  if (*r->p != 'u')
    {
      /* The byte may be a control or half a character: never copy it. */
      if (g_ascii_isprint (*r->p))
        weft_json_reader_fail_at (r, at, r->depth, "\"\\%c\" is not a JSON escape", *r->p);
      else
        weft_json_reader_fail_at (r, at, r->depth, "a backslash before byte 0x%02x is not a "
                                  "JSON escape", (guchar) *r->p);
      return FALSE;
    }
  gint unit = r->end - r->p >= 5 ? weft_json_hex4 (r->p + 1) : -1;
  if (unit < 0)
    {
      weft_json_reader_fail_at (r, at, r->depth, "\"\\u\" needs four hex digits");
      return FALSE;
    }
  r->p += 5;
  if (unit == 0)
    {
      /* A C string ends there: names and values would be cut short. */
      weft_json_reader_fail_at (r, at, r->depth, "\"\\u0000\" (a NUL character) is not allowed");
      return FALSE;
    }
  if (unit >= 0xdc00 && unit <= 0xdfff)
    {
      weft_json_reader_fail_at (r, at, r->depth, "\"\\u%04x\" is half of a surrogate pair, "
                                "alone", (guint) unit);
      return FALSE;
    }
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      gint low = r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u'
                 ? weft_json_hex4 (r->p + 2) : -1;
      if (low < 0xdc00 || low > 0xdfff)
        {
          weft_json_reader_fail_at (r, at, r->depth,
                                    "\"\\u%04x\" is half of a surrogate pair, alone", (guint) unit);
          return FALSE;
        }
      r->p += 6;
    }
  return TRUE;
}

/* Bytes a string holds as they are: printable ASCII but '"' and '\\'.
 * Most bytes of a flow are these, passed over with one look-up each. */
#define WEFT_JSON_16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const guint8 weft_json_plain[256] = {
  WEFT_JSON_16 (0), WEFT_JSON_16 (0),                         /* 0x00-0x1f: controls */
  1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,             /* 0x20-0x2f: '"' */
  WEFT_JSON_16 (1), WEFT_JSON_16 (1),                         /* 0x30-0x4f */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,             /* 0x50-0x5f: '\\' */
  WEFT_JSON_16 (1), WEFT_JSON_16 (1),                         /* 0x60-0x7f */
  WEFT_JSON_16 (0), WEFT_JSON_16 (0), WEFT_JSON_16 (0), WEFT_JSON_16 (0),
  WEFT_JSON_16 (0), WEFT_JSON_16 (0), WEFT_JSON_16 (0), WEFT_JSON_16 (0),  /* 0x80-0xff */
};

/* A string whose opening quote is at p; fills `key` with its span. */
static gboolean
weft_json_reader_string (WeftJsonReader *r, WeftJsonKey *key)
{
  const char *start = ++r->p;
  gboolean ascii = TRUE;
  gboolean escaped = FALSE;

  for (;;)
    {
      while (r->p < r->end && weft_json_plain[(guchar) *r->p])
        r->p++;
      if (r->p >= r->end)
        {
          weft_json_reader_fail_at (r, start - 1, r->depth, "a string that never ends");
          return FALSE;
        }
      guchar c = (guchar) *r->p;
      if (c == '"')
        break;
      if (c < 0x20)
        {
          weft_json_reader_fail (r, "a control character (0x%02x) in a string: write it as an "
                                 "escape", c);
          return FALSE;
        }
      r->p++;
      if (c == '\\')
        {
          escaped = TRUE;
          if (!weft_json_reader_escape (r))
            return FALSE;
        }
      else if (c >= 0x80)
        ascii = FALSE;
    }
  if (!ascii)
    {
      const char *bad = NULL;
      if (!g_utf8_validate_len (start, r->p - start, &bad))
        {
          weft_json_reader_fail_at (r, bad, r->depth, "a string that is not valid UTF-8");
          return FALSE;
        }
    }
  *key = (WeftJsonKey) { start, (gsize) (r->p - start), escaped };
  r->p++;
  return TRUE;
}

static gboolean
weft_json_reader_digits (WeftJsonReader *r)
{
  if (r->p >= r->end || !g_ascii_isdigit (*r->p))
    return weft_json_reader_expected (r, "a digit");
  while (r->p < r->end && g_ascii_isdigit (*r->p))
    r->p++;
  return TRUE;
}

/* Integers must fit 64 bits and other numbers a finite double: json-glib
 * would wrap the one and make inf of the other.  Keeps the value. */
static gboolean
weft_json_reader_number_fits (WeftJsonReader *r, const char *start, gboolean integer)
{
  gsize n = r->p - start;
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
      r->integer = g_ascii_strtoll (copy, NULL, 10);
      r->number = (double) r->integer;
      if (errno != ERANGE)
        return TRUE;
      weft_json_reader_fail_at (r, start, r->depth,
                                "the integer %.40s%s does not fit in 64 bits", copy,
                                n > 40 ? "…" : "");
      return FALSE;
    }
  r->number = g_ascii_strtod (copy, NULL);
  if (isfinite (r->number))
    return TRUE;
  weft_json_reader_fail_at (r, start, r->depth, "the number %.40s%s is too large for a double",
                            copy, n > 40 ? "…" : "");
  return FALSE;
}

static WeftJsonToken
weft_json_reader_number (WeftJsonReader *r)
{
  const char *start = r->p;
  gboolean integer = TRUE;

  if (*r->p == '-')
    r->p++;
  if (r->p < r->end && *r->p == '0')
    r->p++;
  else if (!weft_json_reader_digits (r))
    return WEFT_JSON_NONE;
  if (r->p < r->end && *r->p == '.')
    {
      r->p++;
      integer = FALSE;
      if (!weft_json_reader_digits (r))
        return WEFT_JSON_NONE;
    }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E'))
    {
      r->p++;
      integer = FALSE;
      if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
        r->p++;
      if (!weft_json_reader_digits (r))
        return WEFT_JSON_NONE;
    }
  if (!weft_json_reader_number_fits (r, start, integer))
    return WEFT_JSON_NONE;
  return integer ? WEFT_JSON_INT : WEFT_JSON_DOUBLE;
}

/* ---- duplicate keys ------------------------------------------------------------ */

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

/* ---- containers ---------------------------------------------------------------- */

static WeftJsonToken
weft_json_reader_enter (WeftJsonReader *r, gboolean array)
{
  if (r->depth == WEFT_JSON_MAX_DEPTH)
    {
      weft_json_reader_fail (r, "nested deeper than %u levels", WEFT_JSON_MAX_DEPTH);
      return WEFT_JSON_NONE;
    }
  if (r->depth == r->n_levels)
    {
      r->n_levels = MIN (MAX (4, 2 * r->n_levels), WEFT_JSON_MAX_DEPTH);
      r->levels = g_renew (WeftJsonLevel, r->levels, r->n_levels);
    }
  WeftJsonLevel *level = &r->levels[r->depth++];
  level->array = array;
  level->first = TRUE;
  level->index = 0;
  level->key = (WeftJsonKey) { NULL, 0, FALSE };
  level->keys.n = 0;
  level->keys.many = NULL;
  r->p++;
  weft_json_reader_space (r);
  return array ? WEFT_JSON_ARRAY : WEFT_JSON_OBJECT;
}

static gboolean
weft_json_reader_leave (WeftJsonReader *r)
{
  WeftJsonLevel *level = &r->levels[--r->depth];

  g_clear_pointer (&level->keys.many, g_hash_table_unref);
  r->p++;
  return FALSE;
}

/* The member name at p and its ':'. */
static gboolean
weft_json_reader_member (WeftJsonReader *r, WeftJsonLevel *level)
{
  WeftJsonKey key;
  const char *key_at = r->p;

  if (r->p >= r->end || *r->p != '"')
    return weft_json_reader_expected (r, "a member name in double quotes");
  if (!weft_json_reader_string (r, &key))
    return FALSE;
  if (!weft_json_keys_add (&level->keys, &key))
    {
      g_autofree char *name = weft_json_decode_key (&key);
      g_autofree char *shown = weft_message_quote (name, 80);
      /* The path is the object's: the key it names is this one. */
      r->code = WEFT_ERROR_DUPLICATE;
      weft_json_reader_fail_at (r, key_at, r->depth - 1, "duplicate key %s (each name may "
                                "be given once)", shown);
      return FALSE;
    }
  level->key = key;
  weft_json_reader_space (r);
  if (r->p >= r->end || *r->p != ':')
    return weft_json_reader_expected (r, "':' after the member name");
  r->p++;
  return TRUE;
}

gboolean
weft_json_reader_next (WeftJsonReader *r)
{
  g_return_val_if_fail (r->depth > 0, FALSE);
  if (r->failed)
    return FALSE;

  WeftJsonLevel *level = &r->levels[r->depth - 1];
  char close = level->array ? ']' : '}';

  weft_json_reader_space (r);
  if (r->p < r->end && *r->p == close)
    return weft_json_reader_leave (r);
  if (!level->first)
    {
      if (r->p >= r->end || *r->p != ',')
        return weft_json_reader_expected (r, level->array ? "',' or ']'" : "',' or '}'");
      r->p++;
      if (level->array)
        level->index++;
      else
        {
          level->key.start = NULL;
          weft_json_reader_space (r);
        }
    }
  level->first = FALSE;
  return level->array || weft_json_reader_member (r, level);
}

/* ---- values -------------------------------------------------------------------- */

static WeftJsonToken
weft_json_reader_scalar (WeftJsonReader *r)
{
  switch (*r->p)
    {
    case '"':
      return weft_json_reader_string (r, &r->string) ? WEFT_JSON_STRING : WEFT_JSON_NONE;
    case 't':
    case 'f':
      r->boolean = *r->p == 't';
      return weft_json_reader_word (r, r->boolean ? "true" : "false") ? WEFT_JSON_BOOL
                                                                       : WEFT_JSON_NONE;
    case 'n':
      return weft_json_reader_word (r, "null") ? WEFT_JSON_NULL : WEFT_JSON_NONE;
    default:
      if (*r->p == '-' || g_ascii_isdigit (*r->p))
        return weft_json_reader_number (r);
      weft_json_reader_expected (r, "a JSON value");
      return WEFT_JSON_NONE;
    }
}

WeftJsonToken
weft_json_reader_read (WeftJsonReader *r)
{
  if (r->failed)
    return WEFT_JSON_NONE;
  weft_json_reader_space (r);
  if (!r->started)
    {
      r->started = TRUE;
      if (r->p == r->end)
        {
          r->failed = TRUE;
          g_set_error (r->error, WEFT_ERROR, WEFT_ERROR_PARSE,
                       "%s%sno JSON value: the text is empty",
                       r->origin ? r->origin : "", r->origin ? ": " : "");
          return WEFT_JSON_NONE;
        }
    }
  r->value_start = r->p;
  if (r->p >= r->end)
    {
      weft_json_reader_expected (r, "a JSON value");
      return WEFT_JSON_NONE;
    }
  if (*r->p == '{' || *r->p == '[')
    return weft_json_reader_enter (r, *r->p == '[');
  return weft_json_reader_scalar (r);
}

gboolean
weft_json_reader_skip_rest (WeftJsonReader *r)
{
  guint depth = r->depth;
  const char *start = r->value_start;

  while (r->depth >= depth)
    {
      if (weft_json_reader_next (r))
        {
          if (weft_json_reader_read (r) == WEFT_JSON_NONE)
            return FALSE;
        }
      else if (r->failed)
        return FALSE;
    }
  /* The span is the container's, not its last value's. */
  r->value_start = start;
  return TRUE;
}

gboolean
weft_json_reader_skip (WeftJsonReader *r)
{
  switch (weft_json_reader_read (r))
    {
    case WEFT_JSON_NONE:
      return FALSE;
    case WEFT_JSON_OBJECT:
    case WEFT_JSON_ARRAY:
      return weft_json_reader_skip_rest (r);
    default:
      return TRUE;
    }
}

gboolean
weft_json_reader_end (WeftJsonReader *r)
{
  if (r->failed)
    return FALSE;
  weft_json_reader_space (r);
  if (r->p < r->end)
    {
      g_autofree char *found = weft_json_reader_found (r);
      weft_json_reader_fail (r, "unexpected %s after the JSON value", found);
      return FALSE;
    }
  return TRUE;
}

gboolean
weft_json_reader_failed (WeftJsonReader *r)
{
  return r->failed;
}

const char *
weft_json_reader_get_key (WeftJsonReader *r, gsize *length)
{
  return weft_json_key_text (&r->levels[r->depth - 1].key, r->decoded_key, length);
}

const char *
weft_json_reader_get_string (WeftJsonReader *r, gsize *length)
{
  return weft_json_key_text (&r->string, r->decoded, length);
}

gint64
weft_json_reader_get_int (WeftJsonReader *r)
{
  return r->integer;
}

double
weft_json_reader_get_double (WeftJsonReader *r)
{
  return r->number;
}

gboolean
weft_json_reader_get_bool (WeftJsonReader *r)
{
  return r->boolean;
}

const char *
weft_json_reader_get_span (WeftJsonReader *r, gsize *length)
{
  *length = (gsize) (r->p - r->value_start);
  return r->value_start;
}

/* A UTF-8 byte order mark, which some editors write first. */
gsize
weft_json_bom_length (const char *text, gsize length)
{
  return length >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

WeftJsonReader *
weft_json_reader_new (const char *text, gsize length, const char *origin, GError **error)
{
  WeftJsonReader *r = g_new0 (WeftJsonReader, 1);

  r->text = text;
  r->p = text + weft_json_bom_length (text, length);
  r->end = text + length;
  r->origin = origin;
  r->code = WEFT_ERROR_PARSE;
  r->error = error;
  r->decoded = g_string_new (NULL);
  r->decoded_key = g_string_new (NULL);
  return r;
}

void
weft_json_reader_free (WeftJsonReader *r)
{
  if (r == NULL)
    return;
  while (r->depth > 0)
    g_clear_pointer (&r->levels[--r->depth].keys.many, g_hash_table_unref);
  g_string_free (r->decoded, TRUE);
  g_string_free (r->decoded_key, TRUE);
  g_free (r->levels);
  g_free (r);
}

