/* weft-cli-callback.c — `--callback PLUGIN[:k=v,...]`: command-line text
 * turned into a JSON config typed by the plugin's options table. */
#include "weft-cli.h"

#include <math.h>
#include <string.h>

const char *
weft_cli_option_type_to_string (WeftOptionType type)
{
  switch (type)
    {
    case WEFT_OPTION_STRING:      return "string";
    case WEFT_OPTION_INT:         return "int";
    case WEFT_OPTION_DOUBLE:      return "double";
    case WEFT_OPTION_BOOL:        return "bool";
    case WEFT_OPTION_STRING_LIST: return "string list";
    case WEFT_OPTION_OBJECT:      return "object";
    default:                      return "unknown";
    }
}

static JsonNode *
weft_cli_invalid_value (GError **error, const char *option, const char *what,
                        const char *text)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "option '%s' must be %s, not '%s'", option, what, text);
  return NULL;
}

static JsonNode *
weft_cli_int_value (const char *option, const char *text, GError **error)
{
  gint64 value;

  if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL))
    return weft_cli_invalid_value (error, option, "an integer", text);
  return json_node_init_int (json_node_alloc (), value);
}

static JsonNode *
weft_cli_double_value (const char *option, const char *text, GError **error)
{
  char *end = NULL;
  double value;

  /* Plain decimal notation only: no hex, "inf", "nan" or spaces. */
  if (*text == '\0' || strspn (text, "0123456789+-.eE") != strlen (text))
    return weft_cli_invalid_value (error, option, "a number", text);
  value = g_ascii_strtod (text, &end);
  if (*end != '\0' || !isfinite (value))
    return weft_cli_invalid_value (error, option, "a number", text);
  return json_node_init_double (json_node_alloc (), value);
}

static JsonNode *
weft_cli_bool_value (const char *option, const char *text, GError **error)
{
  static const char * const yes[] = { "true", "yes", "on", "1", NULL };
  static const char * const no[] = { "false", "no", "off", "0", NULL };
  g_autofree char *lower = g_ascii_strdown (text, -1);

  if (g_strv_contains (yes, lower))
    return json_node_init_boolean (json_node_alloc (), TRUE);
  if (g_strv_contains (no, lower))
    return json_node_init_boolean (json_node_alloc (), FALSE);
  return weft_cli_invalid_value (error, option, "true or false", text);
}

/* "a;b;c" → ["a", "b", "c"]; empty items are dropped. */
static JsonNode *
weft_cli_string_list_value (const char *text)
{
  g_auto(GStrv) items = g_strsplit (text, ";", -1);
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();

  for (guint i = 0; items[i] != NULL; i++)
    if (items[i][0] != '\0')
      json_array_add_string_element (array, items[i]);
  json_node_take_array (node, array);
  return node;
}

static JsonNode *
weft_cli_object_value (const char *option, const char *text, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(JsonNode) node = weft_json_parse (text, -1, &local_error);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option '%s' must be a JSON object%s%s", option,
                   local_error ? ": " : "",
                   local_error ? local_error->message : "");
      return NULL;
    }
  return g_steal_pointer (&node);
}

JsonNode *
weft_cli_option_value_from_string (WeftOptionType type, const char *option,
                                   const char *text, GError **error)
{
  switch (type)
    {
    case WEFT_OPTION_INT:
      return weft_cli_int_value (option, text, error);
    case WEFT_OPTION_DOUBLE:
      return weft_cli_double_value (option, text, error);
    case WEFT_OPTION_BOOL:
      return weft_cli_bool_value (option, text, error);
    case WEFT_OPTION_STRING_LIST:
      return weft_cli_string_list_value (text);
    case WEFT_OPTION_OBJECT:
      return weft_cli_object_value (option, text, error);
    case WEFT_OPTION_STRING:
    default:
      return json_node_init_string (json_node_alloc (), text);
    }
}

static const WeftOption *
weft_cli_find_option (WeftRegistry *registry, const char *plugin_name,
                      const char *option)
{
  WeftPlugin *plugin = weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK,
                                             plugin_name);
  const WeftOption *options;

  if (plugin == NULL)
    return NULL;
  options = weft_plugin_get_descriptor (plugin)->options;
  for (guint i = 0; options != NULL && options[i].name != NULL; i++)
    if (strcmp (options[i].name, option) == 0)
      return &options[i];
  return NULL;
}

/* TRUE when `text` starts with "KEY=", KEY made of [A-Za-z0-9_.-]. */
static gboolean
weft_cli_starts_with_key (const char *text)
{
  const char *p = text;

  while (g_ascii_isalnum (*p) || *p == '_' || *p == '-' || *p == '.')
    p++;
  return p > text && *p == '=';
}

/* Where the pair starting at `text` ends: at the first comma that is
 * followed by another "KEY=", so that values may hold commas (a JSON
 * object, a path) as long as no "KEY=" follows them. */
static const char *
weft_cli_pair_end (const char *text)
{
  for (const char *comma = strchr (text, ','); comma != NULL;
       comma = strchr (comma + 1, ','))
    if (weft_cli_starts_with_key (comma + 1))
      return comma;
  return text + strlen (text);
}

static gboolean
weft_cli_add_option (WeftRegistry *registry, const char *plugin,
                     const char *pair, JsonObject *options, GError **error)
{
  const char *equals = strchr (pair, '=');
  g_autofree char *key = NULL;
  const char *value;
  const WeftOption *declared;
  JsonNode *node;

  if (equals == NULL || equals == pair)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "expected KEY=VALUE, not '%s'", pair);
      return FALSE;
    }
  key = g_strndup (pair, equals - pair);
  value = equals + 1;
  declared = weft_cli_find_option (registry, plugin, key);
  node = weft_cli_option_value_from_string (declared ? declared->type
                                                     : WEFT_OPTION_STRING,
                                            key, value, error);
  if (node == NULL)
    return FALSE;
  json_object_set_member (options, key, node);
  return TRUE;
}

gboolean
weft_cli_parse_callback_spec (WeftRegistry *registry, const char *spec,
                              char **plugin, JsonObject **options,
                              GError **error)
{
  const char *colon = strchr (spec, ':');
  g_autofree char *name = colon ? g_strndup (spec, colon - spec) : g_strdup (spec);
  g_autoptr(JsonObject) object = json_object_new ();

  if (name[0] == '\0')
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "expected PLUGIN[:KEY=VALUE,...]");
      return FALSE;
    }
  for (const char *pair = colon ? colon + 1 : ""; *pair != '\0';)
    {
      const char *end = weft_cli_pair_end (pair);
      g_autofree char *text = g_strndup (pair, end - pair);

      if (!weft_cli_add_option (registry, name, text, object, error))
        return FALSE;
      pair = *end == ',' ? end + 1 : end;
    }
  *plugin = g_steal_pointer (&name);
  *options = g_steal_pointer (&object);
  return TRUE;
}

/* Replaces text[from, to) of `out` (a copy of the spec) by "***". */
static void
weft_cli_mask (GString *out, gsize from, gsize to)
{
  if (to > from)
    {
      g_string_erase (out, (gssize) from, (gssize) (to - from));
      g_string_insert (out, (gssize) from, "***");
    }
}

char *
weft_cli_spec_shown (const char *spec)
{
  GString *out = g_string_new (spec);

  /* A URI's user:PASSWORD@host. */
  const char *scheme;
  for (gsize from = 0; (scheme = strstr (out->str + from, "://")) != NULL;)
    {
      gsize start = (gsize) (scheme - out->str) + 3;
      gsize end = start + strcspn (out->str + start, "@/ ,");
      const char *colon = memchr (out->str + start, ':', end - start);
      if (out->str[end] == '@' && colon != NULL)
        weft_cli_mask (out, (gsize) (colon - out->str) + 1, end);
      from = start;
    }
  /* password=VALUE in a key=value string. */
  for (gsize i = 0; i < out->len; i++)
    if (g_ascii_strncasecmp (out->str + i, "password=", 9) == 0)
      {
        gsize start = i + 9;
        weft_cli_mask (out, start, start + strcspn (out->str + start, " ,"));
      }
  g_autofree char *text = g_string_free (out, FALSE);
  /* And what came from the environment. */
  return weft_secrets_redact (text);
}

/* A --store that is no PLUGIN[:K=V,...] is a database path (`--store
 * weft.db`, `--store runs/2024.db`), as other tools take one, opened with
 * the plugin of the default store: it names no loaded callback plugin,
 * and has no ':' or a '/' or '.' before it (which no plugin's name has),
 * so that a misspelt `sqlit:path=x` still says there is no such plugin. */
static gboolean
weft_cli_store_spec_is_path (WeftRegistry *registry, const char *spec)
{
  g_autofree char *name = g_strndup (spec, strcspn (spec, ":"));

  return weft_registry_lookup (registry, WEFT_PLUGIN_CALLBACK, name) == NULL
      && (strchr (spec, ':') == NULL || strpbrk (name, "/.") != NULL);
}

static WeftStore *
weft_cli_open_spec (WeftEngine *engine, const char *spec, gboolean queue, char **plugin,
                    JsonObject **options, GError **error)
{
  WeftRegistry *registry = weft_engine_get_registry (engine);
  g_autofree char *name = NULL;
  g_autoptr(JsonObject) object = NULL;
  WeftStore *store = NULL;

  if (*spec != '\0' && weft_cli_store_spec_is_path (registry, spec))
    {
      name = g_strdup (WEFT_CLI_PATH_STORE_PLUGIN);
      object = json_object_new ();
      json_object_set_string_member (object, "path", spec);
    }
  else if (!weft_cli_parse_callback_spec (registry, spec, &name, &object, error))
    name = NULL;
  if (name != NULL)
    store = queue ? weft_store_open_queue (engine, name, object, error)
                  : weft_store_open (engine, name, object, error);
  if (store == NULL)
    {
      g_autofree char *shown = weft_cli_spec_shown (spec);
      g_prefix_error (error, "--store %s: ", shown);
      return NULL;
    }
  if (plugin)
    *plugin = g_steal_pointer (&name);
  if (options)
    *options = g_steal_pointer (&object);
  return store;
}

WeftStore *
weft_cli_open_store_spec (WeftEngine *engine, const char *spec, char **plugin,
                          JsonObject **options, GError **error)
{
  return weft_cli_open_spec (engine, spec, FALSE, plugin, options, error);
}

WeftStore *
weft_cli_open_queue_spec (WeftEngine *engine, const char *spec, char **plugin,
                          JsonObject **options, GError **error)
{
  return weft_cli_open_spec (engine, spec, TRUE, plugin, options, error);
}
