/* weft-openai-schema.c — checks an answer against the response_format
 * schema.  Only the keywords structured outputs rely on: type, properties,
 * required, items, enum, additionalProperties false.  Anything else
 * (formats, patterns, $ref) is accepted unchecked: the provider enforces
 * those, this check exists to catch a model or server that ignored the
 * schema altogether. */
#include "weft-openai.h"

static gboolean weft_openai_schema_check (JsonObject *schema, JsonNode *value,
                                          const char *path, GError **error);

/* Schema members of the wrong shape are ignored, not trusted: json-glib's
 * typed getters would complain about them. */
static JsonObject *
weft_openai_member_object (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static JsonArray *
weft_openai_member_array (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static const char *
weft_openai_element_string (JsonArray *array, guint i)
{
  JsonNode *node = json_array_get_element (array, i);
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

static const char *
weft_openai_json_type (JsonNode *value)
{
  switch (json_node_get_node_type (value))
    {
    case JSON_NODE_OBJECT: return "object";
    case JSON_NODE_ARRAY: return "array";
    case JSON_NODE_NULL: return "null";
    case JSON_NODE_VALUE: break;
    }
  switch (json_node_get_value_type (value))
    {
    case G_TYPE_STRING: return "string";
    case G_TYPE_BOOLEAN: return "boolean";
    case G_TYPE_INT64: return "integer";
    default: return "number";
    }
}

static gboolean
weft_openai_type_matches (const char *wanted, JsonNode *value)
{
  const char *actual = weft_openai_json_type (value);

  if (g_str_equal (wanted, actual))
    return TRUE;
  if (g_str_equal (wanted, "number"))
    return g_str_equal (actual, "integer");
  /* 2.0 is an integer too, as JSON schema says. */
  if (g_str_equal (wanted, "integer") && g_str_equal (actual, "number"))
    {
      double d = json_node_get_double (value);
      /* Without libm: in range, and unchanged by truncation. */
      return d > -9.0e18 && d < 9.0e18 && d == (double) (gint64) d;
    }
  return FALSE;
}

static gboolean
weft_openai_check_type (JsonObject *schema, JsonNode *value, const char *path, GError **error)
{
  JsonNode *type = json_object_get_member (schema, "type");
  g_autoptr(GString) wanted = g_string_new (NULL);

  if (type == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (type) && json_node_get_value_type (type) == G_TYPE_STRING)
    {
      if (weft_openai_type_matches (json_node_get_string (type), value))
        return TRUE;
      g_string_append (wanted, json_node_get_string (type));
    }
  else if (JSON_NODE_HOLDS_ARRAY (type))
    {
      JsonArray *types = json_node_get_array (type);
      for (guint i = 0; i < json_array_get_length (types); i++)
        {
          const char *t = weft_openai_element_string (types, i);
          if (t != NULL && weft_openai_type_matches (t, value))
            return TRUE;
          g_string_append_printf (wanted, "%s%s", i > 0 ? " or " : "", t ? t : "?");
        }
    }
  else
    return TRUE;
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "%s: expected %s, got %s",
               path, wanted->str, weft_openai_json_type (value));
  return FALSE;
}

static gboolean
weft_openai_check_enum (JsonObject *schema, JsonNode *value, const char *path, GError **error)
{
  JsonArray *choices = weft_openai_member_array (schema, "enum");
  g_autofree char *text = NULL;

  if (choices == NULL)
    return TRUE;
  for (guint i = 0; i < json_array_get_length (choices); i++)
    if (json_node_equal (json_array_get_element (choices, i), value))
      return TRUE;
  text = json_to_string (value, FALSE);
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "%s: %s is not one of the allowed values",
               path, text);
  return FALSE;
}

static gboolean
weft_openai_check_required (JsonObject *schema, JsonObject *object, const char *path,
                            GError **error)
{
  JsonArray *required = weft_openai_member_array (schema, "required");

  for (guint i = 0; required != NULL && i < json_array_get_length (required); i++)
    {
      const char *name = weft_openai_element_string (required, i);
      if (name != NULL && !json_object_has_member (object, name))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s: missing required property \"%s\"", path, name);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
weft_openai_check_object (JsonObject *schema, JsonNode *value, const char *path, GError **error)
{
  JsonObject *object = json_node_get_object (value);
  JsonObject *properties = weft_openai_member_object (schema, "properties");
  JsonNode *additional = json_object_get_member (schema, "additionalProperties");
  gboolean closed = additional != NULL && JSON_NODE_HOLDS_VALUE (additional)
                    && json_node_get_value_type (additional) == G_TYPE_BOOLEAN
                    && !json_node_get_boolean (additional);
  g_autoptr(GList) names = json_object_get_members (object);

  if (!weft_openai_check_required (schema, object, path, error))
    return FALSE;
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonObject *sub = properties ? weft_openai_member_object (properties, l->data) : NULL;
      g_autofree char *subpath = g_strdup_printf ("%s.%s", path, (const char *) l->data);

      if (sub == NULL && closed)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s: property \"%s\" is not allowed", path, (const char *) l->data);
          return FALSE;
        }
      if (sub != NULL && !weft_openai_schema_check (sub, json_object_get_member (object, l->data),
                                                    subpath, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
weft_openai_check_array (JsonObject *schema, JsonNode *value, const char *path, GError **error)
{
  JsonArray *array = json_node_get_array (value);
  JsonObject *items = weft_openai_member_object (schema, "items");

  for (guint i = 0; items != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *subpath = g_strdup_printf ("%s[%u]", path, i);
      if (!weft_openai_schema_check (items, json_array_get_element (array, i), subpath, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
weft_openai_schema_check (JsonObject *schema, JsonNode *value, const char *path, GError **error)
{
  if (!weft_openai_check_type (schema, value, path, error)
      || !weft_openai_check_enum (schema, value, path, error))
    return FALSE;
  if (JSON_NODE_HOLDS_OBJECT (value))
    return weft_openai_check_object (schema, value, path, error);
  if (JSON_NODE_HOLDS_ARRAY (value))
    return weft_openai_check_array (schema, value, path, error);
  return TRUE;
}

gboolean
weft_openai_schema_validate (JsonNode *schema, JsonNode *value, GError **error)
{
  g_return_val_if_fail (schema != NULL && value != NULL, FALSE);

  /* `true` or `{}` accept anything; a non-object schema is refused at create. */
  if (!JSON_NODE_HOLDS_OBJECT (schema))
    return TRUE;
  return weft_openai_schema_check (json_node_get_object (schema), value, "$", error);
}
