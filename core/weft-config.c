/* weft-config.c — a plugin instance's options, checked against its table.
 *
 * Every option a flow gives is checked here, before any instance is made:
 * unknown names (the valid ones listed), wrong types, missing required
 * ones.  Values never appear in messages: they may be secrets. */
#include "weft-private.h"

#include <string.h>

struct _WeftConfig {
  char *instance_name;
  const WeftOption *options;
  JsonObject *values;         /* every option that has a value */
  GHashTable *strvs;          /* name → GStrv, for string lists */
  gboolean reader;            /* a store opened to read runs back */
};

const char *
weft_option_type_to_string (WeftOptionType type)
{
  switch (type)
    {
    case WEFT_OPTION_STRING: return "string";
    case WEFT_OPTION_INT: return "int";
    case WEFT_OPTION_DOUBLE: return "double";
    case WEFT_OPTION_BOOL: return "bool";
    case WEFT_OPTION_STRING_LIST: return "string list";
    case WEFT_OPTION_OBJECT: return "object";
    default: return "unknown";
    }
}

static gboolean
weft_node_is_value_of (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

gboolean
weft_option_node_matches (WeftOptionType type, JsonNode *node)
{
  switch (type)
    {
    case WEFT_OPTION_STRING:
      return weft_node_is_value_of (node, G_TYPE_STRING);
    case WEFT_OPTION_INT:
      return weft_node_is_value_of (node, G_TYPE_INT64);
    case WEFT_OPTION_DOUBLE:
      return weft_node_is_value_of (node, G_TYPE_INT64) || weft_node_is_value_of (node, G_TYPE_DOUBLE);
    case WEFT_OPTION_BOOL:
      return weft_node_is_value_of (node, G_TYPE_BOOLEAN);
    case WEFT_OPTION_STRING_LIST:
      if (!JSON_NODE_HOLDS_ARRAY (node))
        return FALSE;
      for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
        if (!weft_node_is_value_of (json_array_get_element (json_node_get_array (node), i),
                                    G_TYPE_STRING))
          return FALSE;
      return TRUE;
    case WEFT_OPTION_OBJECT:
      return JSON_NODE_HOLDS_OBJECT (node);
    default:
      return FALSE;
    }
}

/* ---- ${ENV} expansion ---------------------------------------------------- */

char *
weft_expand_env (const char *text, GError **error)
{
  g_autoptr(GString) out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p; )
    {
      if (p[0] == '$' && p[1] == '$')
        {
          g_string_append_c (out, '$');
          p += 2;
          continue;
        }
      if (p[0] != '$' || p[1] != '{')
        {
          g_string_append_c (out, *p++);
          continue;
        }
      const char *close = strchr (p + 2, '}');
      if (close == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "unclosed \"${\" (write \"$$\" for a literal \"$\")");
          return NULL;
        }
      g_autofree char *ref = g_strndup (p + 2, close - (p + 2));
      char *dflt = strstr (ref, ":-");
      if (dflt)
        {
          *dflt = '\0';
          dflt += 2;
        }
      if (*ref == '\0')
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "empty environment variable name in \"${}\"");
          return NULL;
        }
      const char *value = g_getenv (ref);
      if (value == NULL || (*value == '\0' && dflt != NULL))
        value = dflt;
      else
        weft_secrets_add (value);
      if (value == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                       "environment variable %s is not set (use ${%s:-default} for a default)",
                       ref, ref);
          return NULL;
        }
      g_string_append (out, value);
      p = close + 1;
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Returns a copy of `node` with every string in it expanded. */
static JsonNode *
weft_expand_node (JsonNode *node, GError **error)
{
  if (weft_node_is_value_of (node, G_TYPE_STRING))
    {
      g_autofree char *s = weft_expand_env (json_node_get_string (node), error);
      return s ? json_node_init_string (json_node_alloc (), s) : NULL;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *in = json_node_get_array (node);
      g_autoptr(JsonArray) arr = json_array_sized_new (json_array_get_length (in));
      for (guint i = 0; i < json_array_get_length (in); i++)
        {
          JsonNode *e = weft_expand_node (json_array_get_element (in, i), error);
          if (e == NULL)
            return NULL;
          json_array_add_element (arr, e);
        }
      return json_node_init_array (json_node_alloc (), arr);
    }
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      /* Members in the flow's order (json_object_iter walks hash order):
       * plugins build argv and schemas from them. */
      JsonObject *in = json_node_get_object (node);
      g_autoptr(JsonObject) obj = json_object_new ();
      g_autoptr(GList) names = json_object_get_members (in);
      for (GList *l = names; l; l = l->next)
        {
          JsonNode *e = weft_expand_node (json_object_get_member (in, l->data), error);
          if (e == NULL)
            return NULL;
          json_object_set_member (obj, l->data, e);
        }
      return json_node_init_object (json_node_alloc (), obj);
    }
  return json_node_copy (node);
}

/* ---- building a config ---------------------------------------------------- */

static const WeftOption *
weft_options_find (const WeftOption *options, const char *name)
{
  for (const WeftOption *o = options; o && o->name; o++)
    if (g_str_equal (o->name, name))
      return o;
  return NULL;
}

static char *
weft_options_list_names (const WeftOption *options)
{
  g_autoptr(GString) s = g_string_new (NULL);

  for (const WeftOption *o = options; o && o->name; o++)
    g_string_append_printf (s, "%s%s", s->len ? ", " : "", o->name);
  if (s->len == 0)
    g_string_append (s, "none");
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void weft_config_fail (GError **error, gint code, const char *origin,
                              const char *json_path, const char *key,
                              const char *format, ...) G_GNUC_PRINTF (6, 7);

/* "ORIGIN: PATH.KEY: reason", or the bare reason when there is no origin
 * (a callback added from code or the command line, which says where). */
static void
weft_config_fail (GError **error, gint code, const char *origin, const char *json_path,
                  const char *key, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  if (origin == NULL)
    g_set_error_literal (error, WEFT_ERROR, code, reason);
  else
    g_set_error (error, WEFT_ERROR, code, "%s: %s%s%s: %s", origin, json_path,
                 key ? "." : "", key ? key : "", reason);
}

static gboolean
weft_config_take_given (WeftConfig *config, const WeftPluginDescriptor *desc,
                        JsonObject *given, const char * const *core_keys,
                        const char *origin, const char *json_path, GError **error)
{
  /* In the file's order: errors name the first bad option written. */
  g_autoptr(GList) keys = json_object_get_members (given);

  for (GList *k = keys; k; k = k->next)
    {
      const char *key = k->data;
      JsonNode *node = json_object_get_member (given, key);
      if (core_keys && g_strv_contains (core_keys, key))
        continue;
      const WeftOption *opt = weft_options_find (desc->options, key);
      if (opt == NULL)
        {
          g_autofree char *valid = weft_options_list_names (desc->options);
          weft_config_fail (error, WEFT_ERROR_INVALID, origin, json_path, key,
                            "unknown option \"%s\" for plugin \"%s\" (valid: %s)",
                            key, desc->name, valid);
          return FALSE;
        }
      if (!weft_option_node_matches (opt->type, node))
        {
          weft_config_fail (error, WEFT_ERROR_INVALID, origin, json_path, key,
                            "option \"%s\" of plugin \"%s\" must be %s %s, not %s",
                            key, desc->name,
                            opt->type == WEFT_OPTION_INT || opt->type == WEFT_OPTION_OBJECT ? "an" : "a",
                            weft_option_type_to_string (opt->type), weft_json_describe (node));
          return FALSE;
        }
      g_autoptr(GError) local = NULL;
      JsonNode *expanded = weft_expand_node (node, &local);
      if (expanded == NULL)
        {
          weft_config_fail (error, local->code, origin, json_path, key, "option \"%s\": %s",
                            key, local->message);
          return FALSE;
        }
      json_object_set_member (config->values, key, expanded);
    }
  return TRUE;
}

static gboolean
weft_config_fill_defaults (WeftConfig *config, const WeftPluginDescriptor *desc,
                           const char *origin, const char *json_path, GError **error)
{
  for (const WeftOption *o = desc->options; o && o->name; o++)
    {
      if (json_object_has_member (config->values, o->name))
        continue;
      if (o->required)
        {
          weft_config_fail (error, WEFT_ERROR_INVALID, origin, json_path, NULL,
                            "plugin \"%s\" needs option \"%s\" (%s: %s)",
                            desc->name, o->name,
                            weft_option_type_to_string (o->type), o->description);
          return FALSE;
        }
      if (o->default_json)
        {
          /* The registry checked every default parses when it loaded the plugin. */
          JsonNode *dflt = json_from_string (o->default_json, NULL);
          json_object_set_member (config->values, o->name, dflt);
        }
    }
  return TRUE;
}

static void
weft_config_index_lists (WeftConfig *config)
{
  for (const WeftOption *o = config->options; o && o->name; o++)
    {
      if (o->type != WEFT_OPTION_STRING_LIST || !json_object_has_member (config->values, o->name))
        continue;
      JsonArray *arr = json_object_get_array_member (config->values, o->name);
      GStrvBuilder *b = g_strv_builder_new ();
      for (guint i = 0; i < json_array_get_length (arr); i++)
        g_strv_builder_add (b, json_array_get_string_element (arr, i));
      g_hash_table_insert (config->strvs, g_strdup (o->name), g_strv_builder_end (b));
      g_strv_builder_unref (b);
    }
}

WeftConfig *
weft_config_new (const WeftPluginDescriptor *desc, const char *instance_name,
                 JsonObject *given, const char * const *core_keys,
                 const char *origin, const char *json_path, GError **error)
{
  WeftConfig *config = g_new0 (WeftConfig, 1);

  config->instance_name = g_strdup (instance_name);
  config->options = desc->options;
  config->values = json_object_new ();
  config->strvs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_strfreev);
  if ((given && !weft_config_take_given (config, desc, given, core_keys, origin, json_path, error))
      || !weft_config_fill_defaults (config, desc, origin, json_path, error))
    {
      weft_config_free (config);
      return NULL;
    }
  weft_config_index_lists (config);
  return config;
}

void
weft_config_free (WeftConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->instance_name);
  json_object_unref (config->values);
  g_hash_table_unref (config->strvs);
  g_free (config);
}

/* ---- getters (SDK) ---------------------------------------------------------- */

/* The value of a declared option of `type`, or NULL when it has none. */
static JsonNode *
weft_config_lookup (const WeftConfig *config, const char *name, WeftOptionType type)
{
  g_return_val_if_fail (config != NULL && name != NULL, NULL);

  const WeftOption *opt = weft_options_find (config->options, name);
  if (opt == NULL || opt->type != type)
    {
      g_critical ("weft_config_get_%s (\"%s\"): %s", weft_option_type_to_string (type), name,
                  opt ? "the option has another type" : "no such option in the plugin's table");
      return NULL;
    }
  return json_object_get_member (config->values, name);
}

gboolean
weft_config_has (const WeftConfig *config, const char *name)
{
  g_return_val_if_fail (config != NULL && name != NULL, FALSE);
  return json_object_has_member (config->values, name);
}

const char *
weft_config_get_string (const WeftConfig *config, const char *name)
{
  JsonNode *node = weft_config_lookup (config, name, WEFT_OPTION_STRING);
  return node ? json_node_get_string (node) : NULL;
}

gint64
weft_config_get_int (const WeftConfig *config, const char *name)
{
  JsonNode *node = weft_config_lookup (config, name, WEFT_OPTION_INT);
  return node ? json_node_get_int (node) : 0;
}

double
weft_config_get_double (const WeftConfig *config, const char *name)
{
  JsonNode *node = weft_config_lookup (config, name, WEFT_OPTION_DOUBLE);
  return node ? json_node_get_double (node) : 0.0;
}

gboolean
weft_config_get_bool (const WeftConfig *config, const char *name)
{
  JsonNode *node = weft_config_lookup (config, name, WEFT_OPTION_BOOL);
  return node ? json_node_get_boolean (node) : FALSE;
}

const char * const *
weft_config_get_strv (const WeftConfig *config, const char *name)
{
  if (weft_config_lookup (config, name, WEFT_OPTION_STRING_LIST) == NULL)
    return NULL;
  return g_hash_table_lookup (config->strvs, name);
}

JsonObject *
weft_config_get_object (const WeftConfig *config, const char *name)
{
  JsonNode *node = weft_config_lookup (config, name, WEFT_OPTION_OBJECT);
  return node ? json_node_get_object (node) : NULL;
}

const char *
weft_config_get_instance_name (const WeftConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->instance_name;
}

gboolean
weft_config_is_reader (const WeftConfig *config)
{
  g_return_val_if_fail (config != NULL, FALSE);
  return config->reader;
}

void
weft_config_set_reader (WeftConfig *config)
{
  config->reader = TRUE;
}
