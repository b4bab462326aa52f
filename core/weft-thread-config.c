/* weft-thread-config.c — a thread's settings (docs/conversations.md):
 * which agent converses, what a second message does, whether a finished
 * background task starts a turn, how many model calls a turn may make,
 * and the background tools.
 *
 * The same object is read from a flow's "chat" member (checked when the
 * flow loads, against its own agents, tools and name) and from a thread's
 * own settings (weft_thread_new, POST /v1/threads), which override the
 * flow's member by member.  Both are text weft did not write: every
 * member is checked for its type, its range and the names it uses, and
 * refusals say which member.  Nothing here knows a flow: whoever reads
 * the settings answers for the names (WeftThreadNames). */
#include "weft-thread-private.h"

#include <string.h>

static const char *const weft_thread_keys[] = {
  "agent", "strategy", "background_done", "max_steps", "background", NULL
};
static const char *const weft_background_keys[] = {
  "tool", "agent", "flow", "description", NULL
};
static const char *const weft_strategies[] = { "enqueue", "interrupt", "reject", NULL };
static const char *const weft_background_dones[] = { "turn", "wait", NULL };
static const char *const weft_background_kinds[] = {
  [WEFT_BACKGROUND_TOOL] = "tool", [WEFT_BACKGROUND_AGENT] = "agent",
  [WEFT_BACKGROUND_FLOW] = "flow",
};

/* The names of offers the thread makes itself. */
static const char *const weft_reserved_names[] = {
  "check_task", "check_all_tasks", "cancel_task", NULL
};

/* Names the model sees: what function calling accepts. */
#define WEFT_TOOL_NAME_MAX 64
#define WEFT_BACKGROUND_MAX 64
#define WEFT_DESCRIPTION_MAX 4096

static void
weft_background_spec_free (WeftBackgroundSpec *spec)
{
  g_free (spec->name);
  g_free (spec->target);
  g_free (spec->description);
  g_free (spec);
}

void
weft_thread_config_free (WeftThreadConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->agent);
  g_clear_pointer (&config->background, g_ptr_array_unref);
  g_free (config);
}

static WeftThreadConfig *
weft_thread_config_new (void)
{
  WeftThreadConfig *config = g_new0 (WeftThreadConfig, 1);

  config->strategy = -1;
  config->background_done = -1;
  return config;
}

const char *
weft_thread_strategy_to_string (gint strategy)
{
  return strategy >= 0 && strategy < (gint) G_N_ELEMENTS (weft_strategies) - 1
         ? weft_strategies[strategy] : "enqueue";
}

/* ---- reading ------------------------------------------------------------------ */

static gboolean
weft_config_fail (GError **error, const char *member, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
weft_config_fail (GError **error, const char *member, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "%s: %s", member, reason);
  return FALSE;
}

/* The member's string, or NULL (and FALSE) after an error. */
static gboolean
weft_config_string (JsonObject *obj, const char *key, const char *member, gsize max,
                    const char **out, GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return weft_config_fail (error, member, "must be a string, not %s", weft_json_describe (node));
  *out = json_node_get_string (node);
  if ((*out)[0] == '\0' || strlen (*out) > max)
    return weft_config_fail (error, member, "must be 1 to %" G_GSIZE_FORMAT " bytes long", max);
  return TRUE;
}

static gboolean
weft_config_choice (JsonObject *obj, const char *key, const char *const *choices, gint *out,
                    GError **error)
{
  const char *value;

  if (!weft_config_string (obj, key, key, 64, &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;
  for (gint i = 0; choices[i]; i++)
    if (g_str_equal (choices[i], value))
      {
        *out = i;
        return TRUE;
      }
  g_autofree char *valid = g_strjoinv ("\", \"", (char **) choices);
  g_autofree char *shown = weft_message_quote (value, 40);
  return weft_config_fail (error, key, "must be \"%s\", not %s", valid, shown);
}

/* A name the model calls a tool by: letters, digits, '_' and '-'. */
static gboolean
weft_config_tool_name_ok (const char *name)
{
  gsize n = strlen (name);

  if (n == 0 || n > WEFT_TOOL_NAME_MAX)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

static gboolean
weft_config_check_name (const WeftThreadNames *names, WeftBackgroundKind kind,
                        const char *target, const char *member, GError **error)
{
  gboolean found;

  if (names == NULL)
    return TRUE;
  switch (kind)
    {
    case WEFT_BACKGROUND_TOOL:
      found = names->has_tool (names->data, target);
      break;
    case WEFT_BACKGROUND_AGENT:
      found = names->has_agent (names->data, target, NULL);
      break;
    case WEFT_BACKGROUND_FLOW:
    default:
      found = names->has_flow (names->data, target);
      break;
    }
  if (found)
    return TRUE;
  g_autofree char *known = names->list (names->data, kind);
  g_autofree char *shown = weft_message_quote (target, 64);
  return weft_config_fail (error, member, "unknown %s %s (known: %s)",
                           weft_background_kinds[kind], shown, *known ? known : "none");
}

static WeftBackgroundSpec *
weft_config_background_entry (const char *name, JsonNode *node, const WeftThreadNames *names,
                              GError **error)
{
  g_autofree char *member = g_strdup_printf ("background.%s", name);
  const char *target = NULL, *description = NULL;
  gint kind = -1;

  if (!weft_config_tool_name_ok (name) || g_strv_contains (weft_reserved_names, name))
    {
      weft_config_fail (error, "background",
                        "%s is not a tool name: 1 to %d letters, digits, '_' or '-', and none "
                        "of check_task, check_all_tasks, cancel_task", member + 11,
                        WEFT_TOOL_NAME_MAX);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      weft_config_fail (error, member, "must be an object, not %s", weft_json_describe (node));
      return NULL;
    }
  JsonObject *obj = json_node_get_object (node);
  g_autoptr(GList) keys = json_object_get_members (obj);
  for (GList *k = keys; k; k = k->next)
    {
      if (!g_strv_contains (weft_background_keys, k->data))
        {
          g_autofree char *valid = g_strjoinv (", ", (char **) weft_background_keys);
          g_autofree char *shown = weft_message_quote (k->data, 40);
          weft_config_fail (error, member, "unknown key %s (valid: %s)", shown, valid);
          return NULL;
        }
      for (gint i = 0; i < (gint) G_N_ELEMENTS (weft_background_kinds); i++)
        if (g_str_equal (k->data, weft_background_kinds[i]))
          {
            if (kind >= 0)
              {
                weft_config_fail (error, member, "give one of \"tool\", \"agent\", \"flow\"");
                return NULL;
              }
            kind = i;
          }
    }
  if (kind < 0)
    {
      weft_config_fail (error, member, "missing \"tool\", \"agent\" or \"flow\"");
      return NULL;
    }
  g_autofree char *target_member = g_strdup_printf ("%s.%s", member, weft_background_kinds[kind]);
  g_autofree char *description_member = g_strdup_printf ("%s.description", member);
  if (!weft_config_string (obj, weft_background_kinds[kind], target_member, 200, &target, error)
      || !weft_config_string (obj, "description", description_member, WEFT_DESCRIPTION_MAX,
                              &description, error)
      || !weft_config_check_name (names, kind, target, target_member, error))
    return NULL;

  WeftBackgroundSpec *spec = g_new0 (WeftBackgroundSpec, 1);
  spec->name = g_strdup (name);
  spec->kind = kind;
  spec->target = g_strdup (target);
  spec->description = g_strdup (description);
  return spec;
}

static gboolean
weft_config_background (JsonObject *settings, const WeftThreadNames *names,
                        WeftThreadConfig *config, GError **error)
{
  JsonNode *node = json_object_get_member (settings, "background");

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return weft_config_fail (error, "background", "must be an object, not %s",
                             weft_json_describe (node));
  JsonObject *obj = json_node_get_object (node);
  if (json_object_get_size (obj) > WEFT_BACKGROUND_MAX)
    return weft_config_fail (error, "background", "at most %d tools", WEFT_BACKGROUND_MAX);
  config->background = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_background_spec_free);
  g_autoptr(GList) keys = json_object_get_members (obj);
  for (GList *k = keys; k; k = k->next)
    {
      WeftBackgroundSpec *spec = weft_config_background_entry (k->data,
                                                               json_object_get_member (obj, k->data),
                                                               names, error);
      if (spec == NULL)
        return FALSE;
      g_ptr_array_add (config->background, spec);
    }
  return TRUE;
}

static gboolean
weft_config_agent (JsonObject *settings, const WeftThreadNames *names, WeftThreadConfig *config,
                   GError **error)
{
  const char *agent;
  gboolean converses = FALSE;

  if (!weft_config_string (settings, "agent", "agent", 200, &agent, error))
    return FALSE;
  if (agent == NULL)
    return TRUE;
  if (names != NULL && !names->has_agent (names->data, agent, &converses))
    {
      g_autofree char *known = names->list (names->data, WEFT_BACKGROUND_AGENT);
      g_autofree char *shown = weft_message_quote (agent, 64);
      return weft_config_fail (error, "agent", "unknown agent %s (known: %s)", shown,
                               *known ? known : "none");
    }
  if (names != NULL && !converses)
    {
      g_autofree char *shown = weft_message_quote (agent, 64);
      return weft_config_fail (error, "agent", "agent %s cannot converse: its plugin has no "
                               "converse() (the openai and template agents have)", shown);
    }
  config->agent = g_strdup (agent);
  return TRUE;
}

static gboolean
weft_config_max_steps (JsonObject *settings, WeftThreadConfig *config, GError **error)
{
  JsonNode *node = json_object_get_member (settings, "max_steps");

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 1 || json_node_get_int (node) > WEFT_THREAD_MAX_STEPS_LIMIT)
    return weft_config_fail (error, "max_steps", "must be an integer from 1 to %d",
                             WEFT_THREAD_MAX_STEPS_LIMIT);
  config->max_steps = (gint) json_node_get_int (node);
  return TRUE;
}

WeftThreadConfig *
weft_thread_config_parse (JsonObject *settings, const WeftThreadNames *names, GError **error)
{
  g_autoptr(WeftThreadConfig) config = weft_thread_config_new ();

  if (settings == NULL)
    return g_steal_pointer (&config);
  g_autoptr(GList) keys = json_object_get_members (settings);
  for (GList *k = keys; k; k = k->next)
    if (!g_strv_contains (weft_thread_keys, k->data))
      {
        g_autofree char *valid = g_strjoinv (", ", (char **) weft_thread_keys);
        g_autofree char *shown = weft_message_quote (k->data, 40);
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "unknown key %s (valid: %s)", shown,
                     valid);
        return NULL;
      }
  if (!weft_config_agent (settings, names, config, error)
      || !weft_config_choice (settings, "strategy", weft_strategies, &config->strategy, error)
      || !weft_config_choice (settings, "background_done", weft_background_dones,
                              &config->background_done, error)
      || !weft_config_max_steps (settings, config, error)
      || !weft_config_background (settings, names, config, error))
    return NULL;
  return g_steal_pointer (&config);
}

/* ---- merging and writing ---------------------------------------------------------- */

static GPtrArray *
weft_background_copy (GPtrArray *specs)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_background_spec_free);

  for (guint i = 0; specs && i < specs->len; i++)
    {
      WeftBackgroundSpec *s = specs->pdata[i], *c = g_new0 (WeftBackgroundSpec, 1);
      c->name = g_strdup (s->name);
      c->kind = s->kind;
      c->target = g_strdup (s->target);
      c->description = g_strdup (s->description);
      g_ptr_array_add (copy, c);
    }
  return copy;
}

WeftThreadConfig *
weft_thread_config_merge (const WeftThreadConfig *base, const WeftThreadConfig *over)
{
  WeftThreadConfig *m = weft_thread_config_new ();
  const WeftThreadConfig none = { .strategy = -1, .background_done = -1 };

  if (base == NULL)
    base = &none;
  if (over == NULL)
    over = &none;
  m->agent = g_strdup (over->agent ? over->agent : base->agent);
  m->strategy = over->strategy >= 0 ? over->strategy
                : base->strategy >= 0 ? base->strategy : WEFT_THREAD_ENQUEUE;
  m->background_done = over->background_done >= 0 ? over->background_done
                       : base->background_done >= 0 ? base->background_done
                       : WEFT_BACKGROUND_DONE_TURN;
  m->max_steps = over->max_steps > 0 ? over->max_steps
                 : base->max_steps > 0 ? base->max_steps : WEFT_THREAD_MAX_STEPS_DEFAULT;
  m->background = weft_background_copy (over->background ? over->background : base->background);
  return m;
}

JsonObject *
weft_thread_config_to_json (const WeftThreadConfig *config)
{
  JsonObject *o = json_object_new ();
  JsonObject *background = json_object_new ();

  if (config->agent)
    json_object_set_string_member (o, "agent", config->agent);
  json_object_set_string_member (o, "strategy", weft_thread_strategy_to_string (config->strategy));
  json_object_set_string_member (o, "background_done",
                                 weft_background_dones[config->background_done
                                                       == WEFT_BACKGROUND_DONE_WAIT]);
  json_object_set_int_member (o, "max_steps", config->max_steps);
  for (guint i = 0; config->background && i < config->background->len; i++)
    {
      WeftBackgroundSpec *s = config->background->pdata[i];
      JsonObject *entry = json_object_new ();
      json_object_set_string_member (entry, weft_background_kinds[s->kind], s->target);
      if (s->description)
        json_object_set_string_member (entry, "description", s->description);
      json_object_set_object_member (background, s->name, entry);
    }
  json_object_set_object_member (o, "background", background);
  return o;
}
