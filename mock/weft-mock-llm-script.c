/* weft-mock-llm-script.c — a script file for weft-mock-llm: the answers it
 * gives, written down (docs/mock-llm.md).
 *
 *   {"latency_ms": 200, "max_latency_ms": 400,
 *    "rules":   [{"when": "NEEDLE", "reply": "TEXT"},
 *                {"when": "NEEDLE", "tool_calls": [{"name": "...", "arguments": {...}}]}],
 *    "replies": [{"reply": "TEXT"}, {"tool_calls": [...]}, {"stream": ["a ", "b"]},
 *                {"error": 503, "retry_after": "1", "body": "..."}, {"drop": true},
 *                {"malformed": true}, {"trickle": "TEXT", "ms": 2000}]}
 *
 * Rules answer every request whose last user or tool message holds NEEDLE;
 * replies answer the other requests once each, in order; then the mock
 * echoes.  The file is someone's text: read up to a bound, parsed by
 * weft_json_parse, every member checked, and refused with the path of
 * what is wrong. */
#include "weft-mock-llm-script.h"

#include <weft/weft-sdk.h>

#include <string.h>

/* A script is a few answers: a file larger than this is a mistake. */
#define WEFT_MOCK_SCRIPT_MAX_BYTES (4 * 1024 * 1024)

static gboolean weft_mock_script_fail (GError **error, const char *path, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static gboolean
weft_mock_script_fail (GError **error, const char *path, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, reason);
  return FALSE;
}

/* At most the bound, or an error: a FIFO or /dev/zero does not hang it. */
static char *
weft_mock_script_read (const char *file, GError **error)
{
  g_autoptr(GFile) f = g_file_new_for_path (file);
  g_autoptr(GFileInputStream) in = g_file_read (f, NULL, error);
  g_autofree char *text = g_malloc (WEFT_MOCK_SCRIPT_MAX_BYTES + 1);
  gsize n = 0;

  if (in == NULL
      || !g_input_stream_read_all (G_INPUT_STREAM (in), text, WEFT_MOCK_SCRIPT_MAX_BYTES + 1,
                                   &n, NULL, error))
    return NULL;
  if (n > WEFT_MOCK_SCRIPT_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "larger than %d MiB: not a script", WEFT_MOCK_SCRIPT_MAX_BYTES >> 20);
      return NULL;
    }
  text[n] = '\0';
  return g_steal_pointer (&text);
}

/* Every member of `o` is one of `known`. */
static gboolean
weft_mock_script_members (JsonObject *o, const char *const *known, const char *path,
                          GError **error)
{
  g_autoptr(GList) members = json_object_get_members (o);

  for (GList *m = members; m; m = m->next)
    if (!g_strv_contains (known, m->data))
      {
        g_autofree char *valid = g_strjoinv (", ", (char **) known);
        return weft_mock_script_fail (error, path, "unknown member \"%s\" (valid: %s)",
                                      (const char *) m->data, valid);
      }
  return TRUE;
}

static const char *
weft_mock_script_string (JsonObject *o, const char *member, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member (o, member);

  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  weft_mock_script_fail (error, path, "\"%s\" must be a string", member);
  return NULL;
}

static gboolean
weft_mock_script_uint (JsonObject *o, const char *member, guint max, const char *path,
                       guint *out, GError **error)
{
  JsonNode *node = json_object_get_member (o, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 0 || json_node_get_int (node) > max)
    return weft_mock_script_fail (error, path, "\"%s\" must be an integer from 0 to %u", member,
                                  max);
  *out = (guint) json_node_get_int (node);
  return TRUE;
}

/* A tool_calls array as the mock takes it: [{"name": "...", "arguments": {...}}]. */
static char *
weft_mock_script_tool_calls (JsonObject *o, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member (o, "tool_calls");

  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) == 0)
    {
      weft_mock_script_fail (error, path, "\"tool_calls\" must be a list of {\"name\", "
                             "\"arguments\"}");
      return NULL;
    }
  JsonArray *calls = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (calls); i++)
    {
      JsonNode *call = json_array_get_element (calls, i);
      JsonObject *c = JSON_NODE_HOLDS_OBJECT (call) ? json_node_get_object (call) : NULL;
      JsonNode *name = c ? json_object_get_member (c, "name") : NULL;
      JsonNode *args = c ? json_object_get_member (c, "arguments") : NULL;
      if (name == NULL || json_node_get_value_type (name) != G_TYPE_STRING
          || args == NULL || !JSON_NODE_HOLDS_OBJECT (args))
        {
          weft_mock_script_fail (error, path, "tool_calls[%u] must be {\"name\": a string, "
                                 "\"arguments\": an object}", i);
          return NULL;
        }
    }
  return json_to_string (node, FALSE);
}

static gboolean
weft_mock_script_rule (WeftMockLlm *mock, JsonObject *o, const char *path, GError **error)
{
  static const char *const known[] = { "when", "reply", "tool_calls", "delay_ms", NULL };
  const char *when;
  guint delay_ms = 0;

  if (!weft_mock_script_members (o, known, path, error)
      || (when = weft_mock_script_string (o, "when", path, error)) == NULL)
    return FALSE;
  if (json_object_has_member (o, "reply") == json_object_has_member (o, "tool_calls"))
    return weft_mock_script_fail (error, path, "give \"reply\" or \"tool_calls\", one of them");
  if (json_object_has_member (o, "reply"))
    {
      const char *reply = weft_mock_script_string (o, "reply", path, error);
      if (reply == NULL
          || !weft_mock_script_uint (o, "delay_ms", 3600000, path, &delay_ms, error))
        return FALSE;
      /* A reply of its own latency: a slow answer among quick ones. */
      if (json_object_has_member (o, "delay_ms"))
        weft_mock_llm_add_text_rule_delayed (mock, when, reply, delay_ms);
      else
        weft_mock_llm_add_text_rule (mock, when, reply);
      return TRUE;
    }
  g_autofree char *calls = weft_mock_script_tool_calls (o, path, error);
  if (calls == NULL)
    return FALSE;
  weft_mock_llm_add_tool_rule (mock, when, calls);
  return TRUE;
}

static gboolean
weft_mock_script_stream (WeftMockLlm *mock, JsonObject *o, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member (o, "stream");
  g_autoptr(GStrvBuilder) chunks = g_strv_builder_new ();

  for (guint i = 0; JSON_NODE_HOLDS_ARRAY (node) && i < json_array_get_length (
         json_node_get_array (node)); i++)
    {
      JsonNode *chunk = json_array_get_element (json_node_get_array (node), i);
      if (json_node_get_value_type (chunk) != G_TYPE_STRING)
        break;
      g_strv_builder_add (chunks, json_node_get_string (chunk));
    }
  g_auto(GStrv) pieces = g_strv_builder_end (g_steal_pointer (&chunks));
  if (!JSON_NODE_HOLDS_ARRAY (node)
      || g_strv_length (pieces) != json_array_get_length (json_node_get_array (node)))
    return weft_mock_script_fail (error, path, "\"stream\" must be a list of strings");
  weft_mock_llm_push_stream (mock, (const char * const *) pieces);
  return TRUE;
}

static gboolean
weft_mock_script_fault (WeftMockLlm *mock, JsonObject *o, const char *kind, const char *path,
                        GError **error)
{
  if (g_str_equal (kind, "error"))
    {
      guint status = 0;
      const char *retry_after = NULL, *body = NULL;
      if (!weft_mock_script_uint (o, "error", 599, path, &status, error))
        return FALSE;
      if (status < 400)
        return weft_mock_script_fail (error, path, "\"error\" must be an HTTP status from 400 "
                                      "to 599");
      if (json_object_has_member (o, "retry_after")
          && (retry_after = weft_mock_script_string (o, "retry_after", path, error)) == NULL)
        return FALSE;
      if (json_object_has_member (o, "body")
          && (body = weft_mock_script_string (o, "body", path, error)) == NULL)
        return FALSE;
      weft_mock_llm_push_error (mock, status, retry_after, body);
      return TRUE;
    }
  if (!json_object_get_boolean_member_with_default (o, kind, FALSE))
    return weft_mock_script_fail (error, path, "\"%s\" must be true", kind);
  if (g_str_equal (kind, "drop"))
    weft_mock_llm_push_drop (mock);
  else
    weft_mock_llm_push_malformed (mock);
  return TRUE;
}

/* One reply: exactly one kind, and only its own members. */
static gboolean
weft_mock_script_reply (WeftMockLlm *mock, JsonObject *o, const char *path, GError **error)
{
  static const char *const kinds[] = { "reply", "tool_calls", "stream", "error", "drop",
                                       "malformed", "trickle", NULL };
  static const char *const known[] = { "reply", "tool_calls", "stream", "error", "retry_after",
                                       "body", "drop", "malformed", "trickle", "ms", NULL };
  const char *kind = NULL;

  if (!weft_mock_script_members (o, known, path, error))
    return FALSE;
  for (guint i = 0; kinds[i]; i++)
    if (json_object_has_member (o, kinds[i]))
      {
        if (kind != NULL)
          return weft_mock_script_fail (error, path, "give one of \"%s\" and \"%s\"", kind,
                                        kinds[i]);
        kind = kinds[i];
      }
  if (kind == NULL)
    return weft_mock_script_fail (error, path, "give one of: reply, tool_calls, stream, "
                                  "error, drop, malformed, trickle");
  if (g_str_equal (kind, "reply") || g_str_equal (kind, "trickle"))
    {
      guint ms = 1000;
      const char *text = weft_mock_script_string (o, kind, path, error);
      if (text == NULL || !weft_mock_script_uint (o, "ms", 3600000, path, &ms, error))
        return FALSE;
      if (g_str_equal (kind, "reply"))
        weft_mock_llm_push_text (mock, text);
      else
        weft_mock_llm_push_trickle (mock, text, ms);
      return TRUE;
    }
  if (g_str_equal (kind, "tool_calls"))
    {
      g_autofree char *calls = weft_mock_script_tool_calls (o, path, error);
      if (calls != NULL)
        weft_mock_llm_push_tool_calls (mock, calls);
      return calls != NULL;
    }
  if (g_str_equal (kind, "stream"))
    return weft_mock_script_stream (mock, o, path, error);
  return weft_mock_script_fault (mock, o, kind, path, error);
}

/* "rules" or "replies": each element an object, given to `add`. */
static gboolean
weft_mock_script_list (WeftMockLlm *mock, JsonObject *root, const char *member,
                       gboolean (*add) (WeftMockLlm *, JsonObject *, const char *, GError **),
                       GError **error)
{
  JsonNode *node = json_object_get_member (root, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return weft_mock_script_fail (error, member, "must be a list");
  JsonArray *list = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      g_autofree char *path = g_strdup_printf ("%s[%u]", member, i);
      JsonNode *element = json_array_get_element (list, i);
      if (!JSON_NODE_HOLDS_OBJECT (element))
        return weft_mock_script_fail (error, path, "must be an object");
      if (!add (mock, json_node_get_object (element), path, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
weft_mock_llm_load_script (WeftMockLlm *mock, const char *file, GError **error)
{
  static const char *const known[] = { "latency_ms", "max_latency_ms", "rules", "replies", NULL };
  g_autofree char *text = weft_mock_script_read (file, error);
  g_autoptr(JsonNode) root = text ? weft_json_parse (text, -1, error) : NULL;
  guint latency = 0, max_latency = 0;

  if (root == NULL)
    {
      g_prefix_error (error, "%s: ", file);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return weft_mock_script_fail (error, file, "a script is an object with \"rules\" and "
                                  "\"replies\" (docs/mock-llm.md)");
  JsonObject *o = json_node_get_object (root);
  gboolean ok = weft_mock_script_members (o, known, "the script", error)
                && weft_mock_script_uint (o, "latency_ms", 3600000, "the script", &latency, error)
                && weft_mock_script_uint (o, "max_latency_ms", 3600000, "the script",
                                          &max_latency, error)
                && weft_mock_script_list (mock, o, "rules", weft_mock_script_rule, error)
                && weft_mock_script_list (mock, o, "replies", weft_mock_script_reply, error);
  if (!ok)
    {
      g_prefix_error (error, "%s: ", file);
      return FALSE;
    }
  if (json_object_has_member (o, "latency_ms"))
    weft_mock_llm_set_latency (mock, latency, MAX (latency, max_latency));
  return TRUE;
}
