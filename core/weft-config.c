/* weft-config.c — a plugin instance's options, checked against its table
 * and bound into the plugin's own struct.
 *
 * Two steps.  weft_config_new() checks what a flow gives, before any
 * instance is made: unknown names (the valid ones listed), wrong types,
 * missing required ones; its messages name the option's JSON path.  Values
 * never appear in those: they may be secrets.  weft_config_bind(), just
 * before create(), checks each value against the table (ranges, choices)
 * and writes it into the struct at the option's offset; its messages are
 * worded as a plugin's create() errors were before the table held those
 * checks ("option \"delay_ms\": must be between 0 and 2147483647, not -1"),
 * and are redacted like them. */
#include "weft-private.h"

#include <math.h>
#include <string.h>

struct _WeftConfig {
  char *instance_name;
  const WeftOption *options;
  guint n_options;
  gsize options_size;
  JsonObject *values;         /* every option that has a value */
  gboolean *given;            /* per option: the flow gave it */
  GStrv *strvs;               /* per option: a string list's values */
  gpointer bound;             /* the plugin's options struct, once bound */
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
    /* What the flow writes: the choices are shown apart. */
    case WEFT_OPTION_ENUM: return "string";
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
    case WEFT_OPTION_ENUM:
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
      config->given[opt - desc->options] = TRUE;
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

static guint
weft_options_count (const WeftOption *options)
{
  guint n = 0;

  while (options && options[n].name)
    n++;
  return n;
}

WeftConfig *
weft_config_new (const WeftPluginDescriptor *desc, const char *instance_name,
                 JsonObject *given, const char * const *core_keys,
                 const char *origin, const char *json_path, GError **error)
{
  WeftConfig *config = g_new0 (WeftConfig, 1);

  config->instance_name = g_strdup (instance_name);
  config->options = desc->options;
  config->n_options = weft_options_count (desc->options);
  config->options_size = desc->options_size;
  config->values = json_object_new ();
  config->given = g_new0 (gboolean, config->n_options + 1);
  config->strvs = g_new0 (GStrv, config->n_options + 1);
  if ((given && !weft_config_take_given (config, desc, given, core_keys, origin, json_path, error))
      || !weft_config_fill_defaults (config, desc, origin, json_path, error))
    {
      weft_config_free (config);
      return NULL;
    }
  return config;
}

void
weft_config_free (WeftConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->instance_name);
  json_object_unref (config->values);
  g_free (config->given);
  for (guint i = 0; i < config->n_options; i++)
    g_strfreev (config->strvs[i]);
  g_free (config->strvs);
  g_free (config->bound);
  g_free (config);
}

/* ---- checking a value against its row ------------------------------------- */

/* Without floor() and fabs(): libweft does not link libm. */
gboolean
weft_number_is_whole (double value)
{
  return value > -0x1p63 && value < 0x1p63 && value == (double) (gint64) value;
}

/* A bound as a reader would write it: an INT's as a whole number, a
 * DOUBLE's as the shortest text that reads back the same (0.001, not
 * 0.00100000000000000002). */
char *
weft_option_format_number (WeftOptionType type, double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  /* Whole numbers as such: 86400, not 8.64e+04. */
  if (weft_number_is_whole (value))
    return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) value);
  if (type == WEFT_OPTION_INT)
    return g_strdup_printf ("%" G_GINT64_FORMAT, value < 0 ? G_MININT64 : G_MAXINT64);
  for (int digits = 1; digits <= 17; digits++)
    {
      char format[8];
      g_snprintf (format, sizeof format, "%%.%dg", digits);
      g_ascii_formatd (buf, sizeof buf, format, value);
      if (g_ascii_strtod (buf, NULL) == value)
        break;
    }
  return g_strdup (buf);
}

static gboolean
weft_option_has_range (const WeftOption *option)
{
  return (option->type == WEFT_OPTION_INT || option->type == WEFT_OPTION_DOUBLE)
         && (option->min != 0 || option->max != 0);
}

/* "between 0 and 10", "at least 1", "at most 10", or "positive": what a
 * value of `option` must be, in the words plugins used before the table
 * held their ranges. */
static char *
weft_option_describe_range (const WeftOption *option)
{
  g_autofree char *min = weft_option_format_number (option->type, option->min);
  g_autofree char *max = weft_option_format_number (option->type, option->max);

  if (isinf (option->min) && isinf (option->max))
    return g_strdup ("any number");
  if (isinf (option->max) && option->type == WEFT_OPTION_INT && option->min == 1)
    return g_strdup ("positive");
  if (isinf (option->max))
    return g_strdup_printf ("at least %s", min);
  if (isinf (option->min))
    return g_strdup_printf ("at most %s", max);
  return g_strdup_printf ("between %s and %s", min, max);
}

/* "\"a\", \"b\" or \"c\"". */
static char *
weft_option_describe_choices (const WeftOption *option)
{
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; option->choices && option->choices[i]; i++)
    g_string_append_printf (s, "%s\"%s\"", i == 0 ? "" : option->choices[i + 1] ? ", " : " or ",
                            option->choices[i]);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* The index of `value` among the choices, or -1. */
static gint
weft_option_find_choice (const WeftOption *option, const char *value)
{
  gboolean any_case = (option->flags & WEFT_OPTION_ANY_CASE) != 0;

  for (gint i = 0; option->choices && option->choices[i]; i++)
    if (any_case ? g_ascii_strcasecmp (option->choices[i], value) == 0
                 : g_str_equal (option->choices[i], value))
      return i;
  return -1;
}

/* WEFT_OPTION_NOT_EMPTY: "" for a string, [] for a list. */
static gboolean
weft_option_check_not_empty (const WeftOption *option, JsonNode *node, GError **error)
{
  gboolean empty = JSON_NODE_HOLDS_ARRAY (node)
                   ? json_array_get_length (json_node_get_array (node)) == 0
                   : *json_node_get_string (node) == '\0';

  if (!(option->flags & WEFT_OPTION_NOT_EMPTY) || !empty)
    return TRUE;
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "option \"%s\": must not be empty",
               option->name);
  return FALSE;
}

static gboolean
weft_option_check_number (const WeftOption *option, double value, const char *text,
                          GError **error)
{
  if (!weft_option_has_range (option) || (value >= option->min && value <= option->max))
    return TRUE;
  g_autofree char *range = weft_option_describe_range (option);
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "option \"%s\": must be %s, not %s",
               option->name, range, text);
  return FALSE;
}

gboolean
weft_option_check_value (const WeftOption *option, JsonNode *node, GError **error)
{
  switch (option->type)
    {
    case WEFT_OPTION_INT:
      {
        gint64 value = json_node_get_int (node);
        g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, value);
        return weft_option_check_number (option, (double) value, text, error);
      }
    case WEFT_OPTION_DOUBLE:
      {
        double value = json_node_get_double (node);
        g_autofree char *text = weft_option_format_number (WEFT_OPTION_DOUBLE, value);
        return weft_option_check_number (option, value, text, error);
      }
    case WEFT_OPTION_ENUM:
      {
        if (weft_option_find_choice (option, json_node_get_string (node)) >= 0)
          return TRUE;
        g_autofree char *choices = weft_option_describe_choices (option);
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                     "option \"%s\": must be %s, not \"%s\"", option->name, choices,
                     json_node_get_string (node));
        return FALSE;
      }
    case WEFT_OPTION_STRING:
    case WEFT_OPTION_STRING_LIST:
      return weft_option_check_not_empty (option, node, error);
    default:
      return TRUE;
    }
}

gsize
weft_option_field_size (WeftOptionType type)
{
  switch (type)
    {
    case WEFT_OPTION_STRING: return sizeof (const char *);
    case WEFT_OPTION_INT: return sizeof (gint64);
    case WEFT_OPTION_DOUBLE: return sizeof (double);
    case WEFT_OPTION_BOOL: return sizeof (gboolean);
    case WEFT_OPTION_STRING_LIST: return sizeof (const char * const *);
    case WEFT_OPTION_OBJECT: return sizeof (JsonObject *);
    case WEFT_OPTION_ENUM: return sizeof (gint);
    default: return 0;
    }
}

/* ---- binding ------------------------------------------------------------- */

static const char * const *
weft_config_strv (WeftConfig *config, guint i, JsonNode *node)
{
  JsonArray *arr = json_node_get_array (node);
  GStrvBuilder *b = g_strv_builder_new ();

  for (guint k = 0; k < json_array_get_length (arr); k++)
    g_strv_builder_add (b, json_array_get_string_element (arr, k));
  config->strvs[i] = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return (const char * const *) config->strvs[i];
}

/* Writes the value of option `i` (NULL: none) at its offset.  memcpy: the
 * struct is the plugin's, typed only by the table. */
static void
weft_config_store (WeftConfig *config, guint i, JsonNode *node)
{
  const WeftOption *o = &config->options[i];
  guchar *field = (guchar *) config->bound + o->offset;
  union {
    const char *s;
    gint64 i64;
    double d;
    gboolean b;
    const char * const *strv;
    JsonObject *obj;
    gint index;
  } v = { 0 };

  switch (o->type)
    {
    case WEFT_OPTION_STRING: v.s = node ? json_node_get_string (node) : NULL; break;
    case WEFT_OPTION_INT: v.i64 = node ? json_node_get_int (node) : 0; break;
    case WEFT_OPTION_DOUBLE: v.d = node ? json_node_get_double (node) : 0; break;
    case WEFT_OPTION_BOOL: v.b = node ? json_node_get_boolean (node) : FALSE; break;
    case WEFT_OPTION_STRING_LIST: v.strv = node ? weft_config_strv (config, i, node) : NULL; break;
    case WEFT_OPTION_OBJECT: v.obj = node ? json_node_get_object (node) : NULL; break;
    case WEFT_OPTION_ENUM:
      v.index = node ? weft_option_find_choice (o, json_node_get_string (node)) : -1;
      break;
    default: return;
    }
  memcpy (field, &v, weft_option_field_size (o->type));
}

gboolean
weft_config_bind (WeftConfig *config, GError **error)
{
  if (config->bound != NULL || config->options_size == 0)
    return TRUE;
  /* In the table's order, as plugins checked their options. */
  for (guint i = 0; i < config->n_options; i++)
    {
      JsonNode *node = json_object_get_member (config->values, config->options[i].name);
      if (node && !weft_option_check_value (&config->options[i], node, error))
        return FALSE;
    }
  config->bound = g_malloc0 (config->options_size);
  for (guint i = 0; i < config->n_options; i++)
    weft_config_store (config, i,
                       json_object_get_member (config->values, config->options[i].name));
  return TRUE;
}

/* The next option from *at on flagged WEFT_OPTION_TEMPLATE that has a
 * value, its name in *option; NULL after the last.  For the check of a
 * flow's task templates, before the config is bound. */
const char *
weft_config_next_template (const WeftConfig *config, guint *at, const char **option)
{
  for (; *at < config->n_options; (*at)++)
    {
      const WeftOption *o = &config->options[*at];
      JsonNode *node = json_object_get_member (config->values, o->name);
      if ((o->flags & WEFT_OPTION_TEMPLATE) && node != NULL && JSON_NODE_HOLDS_VALUE (node))
        {
          *option = o->name;
          (*at)++;
          return json_node_get_string (node);
        }
    }
  return NULL;
}

/* ---- what a plugin reads (SDK) ------------------------------------------ */

gconstpointer
weft_config_get_options (const WeftConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);
  return config->bound;
}

gboolean
weft_config_is_given (const WeftConfig *config, gconstpointer field)
{
  g_return_val_if_fail (config != NULL && field != NULL, FALSE);

  const guchar *base = config->bound;
  const guchar *at = field;
  if (base != NULL && at >= base && at < base + config->options_size)
    for (guint i = 0; i < config->n_options; i++)
      if (config->options[i].offset == (gsize) (at - base))
        return config->given[i];
  g_critical ("weft_config_is_given: %p is not the field of an option of plugin instance "
              "\"%s\"", field, config->instance_name);
  return FALSE;
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
