/* test-json.c — weft_json_parse, the one door for JSON weft did not write:
 * what json-glib would crash on, mangle or silently fold is refused with
 * the line, column and path of the fault; everything else parses as
 * json-glib would parse it. */
#include "weft-test.h"

#include <weft/weft-sdk.h>

typedef struct {
  const char *text;
  const char *message;        /* the whole error message */
} Refused;

static void
assert_refused (const char *text, gssize length, const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = weft_json_parse (text, length, &error);

  g_assert_null (node);
  g_assert_true (error->domain == WEFT_ERROR);
  g_assert_cmpint (error->code, ==, strstr (message, "duplicate key") ? WEFT_ERROR_DUPLICATE
                                                                      : WEFT_ERROR_PARSE);
  if (!g_str_equal (error->message, message))
    g_error ("for %.60s:\n  expected \"%s\"\n  got      \"%s\"", text, message, error->message);
}

static JsonNode *
assert_parses (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = weft_json_parse (text, -1, &error);

  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

/* json-glib recurses once per level: 100,000 "[" overflowed the stack of
 * whatever thread parsed them (the server's, a worker's). */
static void
test_json_deep_nesting (void)
{
  for (guint i = 0; i < 2; i++)
    {
      const char open = i ? '{' : '[';
      gsize n = 100000;
      g_autoptr(GString) text = g_string_new (NULL);
      for (gsize k = 0; k < n; k++)
        {
          g_string_append_c (text, open);
          if (open == '{')
            g_string_append (text, "\"a\":");
        }
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = weft_json_parse (text->str, (gssize) text->len, &error);
      g_assert_null (node);
      g_assert_error (error, WEFT_ERROR, WEFT_ERROR_PARSE);
      weft_test_assert_contains (error->message, "nested deeper than 64 levels");
    }

  /* 64 levels are fine, 65 are not. */
  g_autoptr(GString) ok = g_string_new (NULL);
  for (guint k = 0; k < WEFT_JSON_MAX_DEPTH; k++)
    g_string_append_c (ok, '[');
  for (guint k = 0; k < WEFT_JSON_MAX_DEPTH; k++)
    g_string_append_c (ok, ']');
  g_autoptr(JsonNode) node = assert_parses (ok->str);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  g_string_prepend_c (ok, '[');
  g_string_append_c (ok, ']');
  /* The path shows its first levels and its last. */
  g_autoptr(GString) want = g_string_new ("line 1, column 65: $[0][0][0][0]…[0][0]: nested "
                                          "deeper than 64 levels");
  assert_refused (ok->str, -1, want->str);
}

/* 1e999 became inf (written back as "inf.0", not JSON), 2^64 wrapped. */
static void
test_json_numbers (void)
{
  static const Refused refused[] = {
    { "1e999", "line 1, column 1: the number 1e999 is too large for a double" },
    { "{\"x\": -1e999}", "line 1, column 7: $.x: the number -1e999 is too large for a double" },
    { "[18446744073709551616]",
      "line 1, column 2: $[0]: the integer 18446744073709551616 does not fit in 64 bits" },
    { "{\"n\": 12345678901234567890}",
      "line 1, column 7: $.n: the integer 12345678901234567890 does not fit in 64 bits" },
    { "9223372036854775808", "line 1, column 1: the integer 9223372036854775808 does not fit "
                             "in 64 bits" },
    { "-9223372036854775809", "line 1, column 1: the integer -9223372036854775809 does not fit "
                              "in 64 bits" },
    { "01", "line 1, column 2: unexpected '1' after the JSON value" },
    { "1.", "line 1, column 3: expected a digit, found the end of the text" },
    { "-", "line 1, column 2: expected a digit, found the end of the text" },
    { "1e+", "line 1, column 4: expected a digit, found the end of the text" },
    { ".5", "line 1, column 1: expected a JSON value, found '.'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    assert_refused (refused[i].text, -1, refused[i].message);

  g_autoptr(JsonNode) max = assert_parses ("[9223372036854775807, -9223372036854775808, "
                                           "1.7976931348623157e308, 1e-999, -0, 0.5e+3]");
  JsonArray *a = json_node_get_array (max);
  g_assert_cmpint (json_array_get_int_element (a, 0), ==, G_MAXINT64);
  g_assert_cmpint (json_array_get_int_element (a, 1), ==, G_MININT64);
  g_assert_cmpfloat (json_array_get_double_element (a, 2), ==, G_MAXDOUBLE);
  g_assert_cmpfloat (json_array_get_double_element (a, 3), ==, 0.0);
  g_assert_cmpfloat (json_array_get_double_element (a, 5), ==, 500.0);
}

/* "t\u0000u" came out as "t"; two names that differed after it collided. */
static void
test_json_strings (void)
{
  static const Refused refused[] = {
    { "\"t\\u0000u\"", "line 1, column 3: \"\\u0000\" (a NUL character) is not allowed" },
    { "{\"a\\u0000b\": 1}", "line 1, column 4: \"\\u0000\" (a NUL character) is not allowed" },
    { "[\"\\ud800\"]", "line 1, column 3: $[0]: \"\\ud800\" is half of a surrogate pair, alone" },
    { "[\"\\udc00x\"]", "line 1, column 3: $[0]: \"\\udc00\" is half of a surrogate pair, alone" },
    { "\"\\x41\"", "line 1, column 2: \"\\x\" is not a JSON escape" },
    { "\"\\\x01\"", "line 1, column 2: a backslash before byte 0x01 is not a JSON escape" },
    { "\"\\\xf0\x9f\x98\x80\"", "line 1, column 2: a backslash before byte 0xf0 is not a JSON "
                                    "escape" },
    { "\"\\u12\"", "line 1, column 2: \"\\u\" needs four hex digits" },
    { "\"a\tb\"", "line 1, column 3: a control character (0x09) in a string: write it as an "
                  "escape" },
    { "\"abc", "line 1, column 1: a string that never ends" },
    { "{\"k\": \"\xc3\x28\"}", "line 1, column 8: $.k: a string that is not valid UTF-8" },
    { "[\"ok\", \"\xff\"]", "line 1, column 9: $[1]: a string that is not valid UTF-8" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    assert_refused (refused[i].text, -1, refused[i].message);

  g_autoptr(JsonNode) node = assert_parses ("[\"\\ud83d\\ude00 \\u00e9\\n\\\"\\/\", \"h\xc3\xa9\"]");
  JsonArray *a = json_node_get_array (node);
  g_assert_cmpstr (json_array_get_string_element (a, 0), ==, "\xf0\x9f\x98\x80 \xc3\xa9\n\"/");
  g_assert_cmpstr (json_array_get_string_element (a, 1), ==, "h\xc3\xa9");

  /* A NUL byte inside the length is not text. */
  assert_refused ("\"a\0b\"", 5, "line 1, column 3: a control character (0x00) in a string: "
                                 "write it as an escape");
}

/* json-glib keeps the last of two equal keys; weft refuses the text. */
static void
test_json_duplicate_keys (void)
{
  assert_refused ("{\"a\": 1, \"a\": 2}",
                  -1, "line 1, column 10: duplicate key \"a\" (each name may be given once)");
  /* Equal once decoded. */
  assert_refused ("{\"x\": {\"a\": 1, \"\\u0061\": 2}}",
                  -1, "line 1, column 16: $.x: duplicate key \"a\" (each name may be given once)");

  /* Past the few compared in place, in the table. */
  g_autoptr(GString) many = g_string_new ("{\n");
  for (guint i = 0; i < 100; i++)
    g_string_append_printf (many, "  \"k%u\": %u,\n", i, i);
  g_autoptr(GString) ok = g_string_new (many->str);
  g_string_append (ok, "  \"last\": 0\n}");
  g_autoptr(JsonNode) node = assert_parses (ok->str);
  g_assert_cmpuint (json_object_get_size (json_node_get_object (node)), ==, 101);
  g_string_append (many, "  \"k57\": 0\n}");
  assert_refused (many->str, -1,
                  "line 102, column 3: duplicate key \"k57\" (each name may be given once)");

  /* The same key in two objects is no duplicate. */
  g_autoptr(JsonNode) two = assert_parses ("[{\"a\": 1}, {\"a\": 2, \"b\": {\"a\": 3}}]");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (two)), ==, 2);
}

static void
test_json_syntax (void)
{
  static const Refused refused[] = {
    { "", "no JSON value: the text is empty" },
    { " \n\t ", "no JSON value: the text is empty" },
    { "{} x", "line 1, column 4: unexpected 'x' after the JSON value" },
    { "{\"a\": 1,}", "line 1, column 9: expected a member name in double quotes, found '}'" },
    { "[1, 2,]", "line 1, column 7: $[2]: expected a JSON value, found ']'" },
    { "{\"a\" 1}", "line 1, column 6: $.a: expected ':' after the member name, found '1'" },
    { "{\n  \"tasks\": [\n    {\"name\": tru}\n  ]\n}",
      "line 3, column 14: $.tasks[0].name: expected a JSON value, found 't'" },
    { "[1 2]", "line 1, column 4: $[0]: expected ',' or ']', found '2'" },
    { "{'a': 1}", "line 1, column 2: expected a member name in double quotes, found '''" },
    { "[\x01]", "line 1, column 2: $[0]: expected a JSON value, found byte 0x01" },
    { "{\"caf\xc3\xa9 x\": nul}",
      "line 1, column 12: $[\"caf\xc3\xa9 x\"]: expected a JSON value, found 'n'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    assert_refused (refused[i].text, -1, refused[i].message);

  /* A byte order mark is skipped, as editors write one. */
  g_autoptr(JsonNode) bom = assert_parses ("\xef\xbb\xbf{\"a\": [true, false, null, \"s\", 1.5]}");
  g_assert_true (JSON_NODE_HOLDS_OBJECT (bom));
  g_autoptr(JsonNode) scalar = assert_parses (" \"just a string\" ");
  g_assert_cmpstr (json_node_get_string (scalar), ==, "just a string");
}

/* The tree weft_json_parse builds from its reader is json-glib's own for
 * every text both accept: members in order, escapes decoded, numbers'
 * kinds, nesting to the limit. */
static void
test_json_same_tree (void)
{
  const char *texts[] = {
    "{}", "[]", "0", "-12", "1.5e3", "true", "null", "\"\"",
    "\xef\xbb\xbf{\"bom\": 1}",
    "{\"a\": 1, \"b\": [1, 2.25, \"x\", null, false, {\"c\": {}}], \"d\": \"\\u00e9\\n\\\"\"}",
    "[[[], {}], [{\"k\\u0041y\": [true]}], \"tab\\there\", -0.0, 9223372036854775807]",
    "{\"choices\": [{\"message\": {\"role\": \"assistant\", \"content\": \"hi\", \"tool_calls\": "
    "[{\"id\": \"c1\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": "
    "\"{\\\"x\\\": 1}\"}}]}}], \"usage\": {\"prompt_tokens\": 3}}",
  };
  g_autoptr(GString) deep = g_string_new (NULL);

  for (guint i = 0; i < WEFT_JSON_MAX_DEPTH; i++)
    g_string_append (deep, i % 2 ? "{\"k\":" : "[");
  g_string_append (deep, "1");
  for (guint i = WEFT_JSON_MAX_DEPTH; i-- > 0;)
    g_string_append (deep, i % 2 ? "}" : "]");

  for (guint i = 0; i <= G_N_ELEMENTS (texts); i++)
    {
      const char *text = i < G_N_ELEMENTS (texts) ? texts[i] : deep->str;
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) ours = weft_json_parse (text, -1, &error);
      g_autoptr(JsonParser) parser = json_parser_new ();
      gsize bom = g_str_has_prefix (text, "\xef\xbb\xbf") ? 3 : 0;

      g_assert_no_error (error);
      g_assert_nonnull (ours);
      g_assert_true (json_parser_load_from_data (parser, text + bom, -1, NULL));
      g_assert_true (json_node_equal (ours, json_parser_get_root (parser)));
      g_autofree char *a = json_to_string (ours, FALSE);
      g_autofree char *b = json_to_string (json_parser_get_root (parser), FALSE);
      g_assert_cmpstr (a, ==, b);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/deep-nesting", test_json_deep_nesting);
  g_test_add_func ("/json/numbers", test_json_numbers);
  g_test_add_func ("/json/strings", test_json_strings);
  g_test_add_func ("/json/duplicate-keys", test_json_duplicate_keys);
  g_test_add_func ("/json/syntax", test_json_syntax);
  g_test_add_func ("/json/same-tree", test_json_same_tree);
  return g_test_run ();
}
