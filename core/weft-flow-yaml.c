/* weft-flow-yaml.c — a flow written in YAML, read into the JSON text of the
 * same flow.
 *
 * The same model: a YAML flow is the JSON flow its values make, so it is
 * then parsed, validated and kept (as the flow's source, which a store
 * reads back) as JSON.  libyaml's event parser reads the text; the events
 * build a json-glib tree, bounded and checked as the JSON reader checks a
 * text, with YAML's line and column: nesting deeper than
 * WEFT_JSON_MAX_DEPTH, a key given twice, an integer past 64 bits, a
 * number that is not finite, a NUL character.  Anchors and aliases are
 * refused (an alias can expand a small text into a huge one), as are tags
 * other than YAML's own scalar types and a second document.  Plain scalars
 * are typed as YAML 1.2's core schema types them ("3" an integer, "true" a
 * boolean, "~" null); a quoted one is always a string. */
#include "weft-flow-private.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <yaml.h>

#define WEFT_YAML_TAG "tag:yaml.org,2002:"

/* One mapping or sequence being read. */
typedef struct {
  JsonNode *node;             /* owned until it joins its parent */
  char *key;                  /* a mapping's key waiting for its value */
  guint index;                /* a sequence's next element */
} WeftYamlFrame;

typedef struct {
  const char *origin;
  GArray *stack;              /* WeftYamlFrame */
  JsonNode *root;
  gboolean documented;        /* a document has begun */
  GError **error;
} WeftYamlReader;

/* "$.tasks[2].context": where the value being read goes. */
static char *
weft_yaml_path (WeftYamlReader *r, gboolean with_key)
{
  GString *path = g_string_new ("$");

  for (guint i = 0; i < r->stack->len; i++)
    {
      WeftYamlFrame *f = &g_array_index (r->stack, WeftYamlFrame, i);
      gboolean last = i + 1 == r->stack->len;
      if (JSON_NODE_HOLDS_ARRAY (f->node))
        g_string_append_printf (path, "[%u]", f->index);
      else if (f->key && (with_key || !last))
        g_string_append_printf (path, ".%s", f->key);
      /* A message is one line: a deep path is cut, as the JSON reader's is. */
      if (path->len > 60)
        {
          g_string_append (path, "…");
          break;
        }
    }
  return g_string_free (path, FALSE);
}

static gboolean weft_yaml_fail (WeftYamlReader *r, yaml_mark_t mark, gboolean with_key,
                                const char *format, ...) G_GNUC_PRINTF (4, 5);

/* "ORIGIN:LINE:COLUMN: PATH: reason", as the JSON reader words its faults. */
static gboolean
weft_yaml_fail (WeftYamlReader *r, yaml_mark_t mark, gboolean with_key, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *path = weft_yaml_path (r, with_key);
  g_set_error (r->error, WEFT_ERROR, WEFT_ERROR_PARSE, "%s:%zu:%zu: %s: %s", r->origin,
               mark.line + 1, mark.column + 1, path, reason);
  /* The path holds the file's own keys: a tab or a long word in one is
   * shown as the JSON reader shows it, fit for one line. */
  if (r->error != NULL)
    weft_message_tidy_error (*r->error);
  return FALSE;
}

/* ---- scalars ------------------------------------------------------------------- */

/* YAML 1.2's core schema, by hand: these run on every plain value. */
static const char *
weft_yaml_digits (const char *p, const char *set)
{
  while (*p && strchr (set, *p))
    p++;
  return p;
}

static gboolean
weft_yaml_is_null (const char *t)
{
  static const char *const words[] = { "", "~", "null", "Null", "NULL", NULL };

  return g_strv_contains (words, t);
}

static gboolean
weft_yaml_is_bool (const char *t)
{
  static const char *const words[] = { "true", "True", "TRUE", "false", "False", "FALSE", NULL };

  return g_strv_contains (words, t);
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static gboolean
weft_yaml_is_int (const char *t)
{
  if (g_str_has_prefix (t, "0o") || g_str_has_prefix (t, "0x"))
    {
      const char *digits = t + 2;
      const char *end = weft_yaml_digits (digits, t[1] == 'o' ? "01234567"
                                                              : "0123456789abcdefABCDEF");
      return end > digits && *end == '\0';
    }
  const char *digits = t + (*t == '-' || *t == '+');
  const char *end = weft_yaml_digits (digits, "0123456789");
  return end > digits && *end == '\0';
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static gboolean
weft_yaml_is_float (const char *t)
{
  const char *p = t + (*t == '-' || *t == '+');
  const char *whole = weft_yaml_digits (p, "0123456789");
  gboolean has_whole = whole > p;

  p = whole;
  if (*p == '.')
    {
      const char *fraction = weft_yaml_digits (p + 1, "0123456789");
      if (!has_whole && fraction == p + 1)
        return FALSE;
      p = fraction;
    }
  else if (!has_whole)
    return FALSE;
  if (*p == 'e' || *p == 'E')
    {
      const char *exponent = p + 1 + (p[1] == '-' || p[1] == '+');
      p = weft_yaml_digits (exponent, "0123456789");
      if (p == exponent)
        return FALSE;
    }
  return *p == '\0';
}

static gboolean
weft_yaml_is_not_finite (const char *t)
{
  static const char *const words[] = { ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL };

  return g_strv_contains (words, t + ((*t == '-' || *t == '+') && t[1] == '.'
                                      && g_ascii_tolower (t[2]) == 'i'));
}

static JsonNode *
weft_yaml_integer (WeftYamlReader *r, const char *text, yaml_mark_t mark)
{
  guint base = 10;
  const char *digits = text;
  gint64 value;

  if (g_str_has_prefix (text, "0x") || g_str_has_prefix (text, "0o"))
    {
      base = text[1] == 'x' ? 16 : 8;
      digits = text + 2;
    }
  errno = 0;
  value = g_ascii_strtoll (digits + (*digits == '+'), NULL, base);
  if (errno == ERANGE)
    {
      weft_yaml_fail (r, mark, TRUE, "the integer %.40s%s does not fit in 64 bits", text,
                      strlen (text) > 40 ? "…" : "");
      return NULL;
    }
  return json_node_init_int (json_node_alloc (), value);
}

static JsonNode *
weft_yaml_float (WeftYamlReader *r, const char *text, yaml_mark_t mark)
{
  double value = g_ascii_strtod (text, NULL);

  if (!isfinite (value))
    {
      weft_yaml_fail (r, mark, TRUE, "the number %.40s%s is too large for a double", text,
                      strlen (text) > 40 ? "…" : "");
      return NULL;
    }
  return json_node_init_double (json_node_alloc (), value);
}

/* YAML 1.2's core schema: null, booleans, integers, floats; anything else
 * a string.  `type` is the tag's type ("int"), or NULL to resolve. */
static JsonNode *
weft_yaml_resolve (WeftYamlReader *r, const char *text, const char *type, yaml_mark_t mark)
{
  gboolean any = type == NULL;

  /* Most plain values are words: no pattern can match them. */
  if (any && *text != '\0' && strchr ("~nNtTfF+-.0123456789", *text) == NULL)
    return json_node_init_string (json_node_alloc (), text);
  if ((any || g_str_equal (type, "null")) && weft_yaml_is_null (text))
    return json_node_init_null (json_node_alloc ());
  if ((any || g_str_equal (type, "bool")) && weft_yaml_is_bool (text))
    return json_node_init_boolean (json_node_alloc (), g_ascii_tolower (text[0]) == 't');
  if ((any || g_str_equal (type, "int")) && weft_yaml_is_int (text))
    return weft_yaml_integer (r, text, mark);
  if ((any || g_str_equal (type, "float")) && weft_yaml_is_float (text))
    return weft_yaml_float (r, text, mark);
  if ((any || g_str_equal (type, "float")) && weft_yaml_is_not_finite (text))
    {
      weft_yaml_fail (r, mark, TRUE, "%s is not a finite number", text);
      return NULL;
    }
  if (any || g_str_equal (type, "str"))
    return json_node_init_string (json_node_alloc (), text);
  weft_yaml_fail (r, mark, TRUE, "\"%.40s\" is not a %s", text, type);
  return NULL;
}

static JsonNode *
weft_yaml_scalar (WeftYamlReader *r, const yaml_event_t *e)
{
  const char *text = (const char *) e->data.scalar.value;
  const char *tag = (const char *) e->data.scalar.tag;
  static const char *const types[] = { "str", "null", "bool", "int", "float", NULL };

  if (strlen (text) != e->data.scalar.length)
    {
      weft_yaml_fail (r, e->start_mark, TRUE, "a NUL character is not allowed in a string");
      return NULL;
    }
  if (tag == NULL || g_str_equal (tag, "!"))
    return e->data.scalar.plain_implicit && tag == NULL
           ? weft_yaml_resolve (r, text, NULL, e->start_mark)
           : json_node_init_string (json_node_alloc (), text);
  if (g_str_has_prefix (tag, WEFT_YAML_TAG)
      && g_strv_contains (types, tag + strlen (WEFT_YAML_TAG)))
    return weft_yaml_resolve (r, text, tag + strlen (WEFT_YAML_TAG), e->start_mark);
  weft_yaml_fail (r, e->start_mark, TRUE, "the tag %.60s is not read (a flow's values are "
                  "strings, numbers, booleans, null, lists and mappings)", tag);
  return NULL;
}

/* ---- the tree ------------------------------------------------------------------ */

static WeftYamlFrame *
weft_yaml_top (WeftYamlReader *r)
{
  return r->stack->len ? &g_array_index (r->stack, WeftYamlFrame, r->stack->len - 1) : NULL;
}

/* Puts `node` (taken) where the reader is: the root, a mapping's value, a
 * sequence's element. */
static void
weft_yaml_place (WeftYamlReader *r, JsonNode *node)
{
  WeftYamlFrame *top = weft_yaml_top (r);

  if (top == NULL)
    r->root = node;
  else if (JSON_NODE_HOLDS_ARRAY (top->node))
    {
      json_array_add_element (json_node_get_array (top->node), node);
      top->index++;
    }
  else
    {
      json_object_set_member (json_node_get_object (top->node), top->key, node);
      g_clear_pointer (&top->key, g_free);
    }
}

/* A mapping waiting for a key takes `e`'s scalar as one. */
static gboolean
weft_yaml_wants_key (WeftYamlReader *r)
{
  WeftYamlFrame *top = weft_yaml_top (r);

  return top && JSON_NODE_HOLDS_OBJECT (top->node) && top->key == NULL;
}

static gboolean
weft_yaml_key (WeftYamlReader *r, const yaml_event_t *e)
{
  WeftYamlFrame *top = weft_yaml_top (r);
  const char *key = (const char *) e->data.scalar.value;

  if (strlen (key) != e->data.scalar.length)
    return weft_yaml_fail (r, e->start_mark, FALSE, "a NUL character is not allowed in a key");
  if (json_object_has_member (json_node_get_object (top->node), key))
    return weft_yaml_fail (r, e->start_mark, FALSE,
                           "duplicate key \"%s\" (each name may be given once)", key);
  top->key = g_strdup (key);
  return TRUE;
}

static gboolean
weft_yaml_open (WeftYamlReader *r, const yaml_event_t *e, gboolean mapping)
{
  if (weft_yaml_wants_key (r))
    return weft_yaml_fail (r, e->start_mark, FALSE, "a key must be a plain value, not a %s",
                           mapping ? "mapping" : "list");
  if (r->stack->len >= WEFT_JSON_MAX_DEPTH)
    return weft_yaml_fail (r, e->start_mark, TRUE, "nested deeper than %d levels",
                           WEFT_JSON_MAX_DEPTH);
  WeftYamlFrame f = { 0 };
  f.node = json_node_new (mapping ? JSON_NODE_OBJECT : JSON_NODE_ARRAY);
  if (mapping)
    json_node_take_object (f.node, json_object_new ());
  else
    json_node_take_array (f.node, json_array_new ());
  g_array_append_val (r->stack, f);
  return TRUE;
}

static void
weft_yaml_close (WeftYamlReader *r)
{
  JsonNode *node = g_steal_pointer (&weft_yaml_top (r)->node);

  g_array_set_size (r->stack, r->stack->len - 1);
  weft_yaml_place (r, node);
}

static gboolean
weft_yaml_event (WeftYamlReader *r, const yaml_event_t *e)
{
  switch (e->type)
    {
    case YAML_DOCUMENT_START_EVENT:
      if (r->documented)
        return weft_yaml_fail (r, e->start_mark, FALSE, "a second document (a flow file holds "
                               "one)");
      r->documented = TRUE;
      return TRUE;
    case YAML_ALIAS_EVENT:
      return weft_yaml_fail (r, e->start_mark, TRUE, "aliases (*%s) are not read: write the "
                             "value out", (const char *) e->data.alias.anchor);
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      {
        const yaml_char_t *anchor = e->type == YAML_SCALAR_EVENT ? e->data.scalar.anchor
                                    : e->type == YAML_SEQUENCE_START_EVENT
                                    ? e->data.sequence_start.anchor
                                    : e->data.mapping_start.anchor;
        if (anchor != NULL)
          return weft_yaml_fail (r, e->start_mark, TRUE, "anchors (&%s) are not read: write "
                                 "the value out", (const char *) anchor);
        if (e->type != YAML_SCALAR_EVENT)
          return weft_yaml_open (r, e, e->type == YAML_MAPPING_START_EVENT);
        if (weft_yaml_wants_key (r))
          return weft_yaml_key (r, e);
        JsonNode *node = weft_yaml_scalar (r, e);
        if (node != NULL)
          weft_yaml_place (r, node);
        return node != NULL;
      }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      weft_yaml_close (r);
      return TRUE;
    default:
      return TRUE;
    }
}

/* libyaml's own refusal: where, what, and in which construct. */
static gboolean
weft_yaml_parser_fail (WeftYamlReader *r, const yaml_parser_t *parser)
{
  g_autofree char *context = parser->context
    ? g_strdup_printf (" (%s, line %zu)", parser->context, parser->context_mark.line + 1)
    : NULL;

  return weft_yaml_fail (r, parser->problem_mark, TRUE, "%s%s",
                         parser->problem ? parser->problem : "not YAML",
                         context ? context : "");
}

static void
weft_yaml_frame_clear (gpointer data)
{
  WeftYamlFrame *f = data;

  g_clear_pointer (&f->node, json_node_unref);
  g_free (f->key);
}

char *
weft_flow_yaml_to_json (const char *text, gsize length, const char *origin, gsize *json_length,
                        GError **error)
{
  WeftYamlReader r = { origin, g_array_new (FALSE, FALSE, sizeof (WeftYamlFrame)), NULL,
                       FALSE, error };
  yaml_parser_t parser;
  gboolean ok = TRUE;
  gboolean done = FALSE;

  g_array_set_clear_func (r.stack, weft_yaml_frame_clear);
  yaml_parser_initialize (&parser);
  yaml_parser_set_input_string (&parser, (const unsigned char *) text, length);
  while (ok && !done)
    {
      yaml_event_t e;
      if (!yaml_parser_parse (&parser, &e))
        {
          ok = weft_yaml_parser_fail (&r, &parser);
          break;
        }
      done = e.type == YAML_STREAM_END_EVENT;
      ok = weft_yaml_event (&r, &e);
      yaml_event_delete (&e);
    }
  yaml_parser_delete (&parser);
  g_array_unref (r.stack);
  if (ok && (r.root == NULL || !JSON_NODE_HOLDS_OBJECT (r.root)))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "%s: a flow is a mapping of \"name\", "
                   "\"agents\", \"tasks\"…, not %s", origin,
                   r.root ? weft_json_describe (r.root) : "an empty text");
      ok = FALSE;
    }
  if (!ok)
    {
      g_clear_pointer (&r.root, json_node_unref);
      return NULL;
    }
  char *json = json_to_string (r.root, TRUE);
  json_node_unref (r.root);
  *json_length = strlen (json);
  return json;
}
