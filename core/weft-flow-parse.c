/* weft-flow-parse.c — a flow file's text → its description.
 *
 * The text is read once, with the pull reader, which checks all of it as
 * weft_json_check would: a text that is not JSON as weft reads it is
 * refused here, with its line and column, before anything else.  Nothing
 * is judged here beyond that: a member of the wrong type is noted, and
 * validation reports it in its turn, so that the error named is the first
 * one the fixed order of checks meets, wherever it stands in the file.
 *
 * Tasks go straight into the description's arrays; only the inputs and
 * each plugin instance's declaration, small objects that plugins read as
 * JSON, become json-glib nodes (parsed from their span of the text).
 * json-glib building a tree of the whole file was most of the time a
 * large flow took to load, and most of its memory. */
#include "weft-flow-private.h"
#include "weft-json-reader.h"

#include <string.h>

typedef struct {
  WeftJsonReader *reader;
  WeftFlowDesc *desc;
} WeftParse;

typedef struct {
  const char *name;
  gsize length;
  WeftDescField field;
} WeftParseKey;

#define WEFT_KEY(name, field) { name, sizeof name - 1, field }

static const WeftParseKey weft_parse_root_keys[] = {
  WEFT_KEY ("name", WEFT_DESC_NAME),
  WEFT_KEY ("description", WEFT_DESC_DESCRIPTION),
  WEFT_KEY ("process", WEFT_DESC_PROCESS),
  WEFT_KEY ("inputs", WEFT_DESC_INPUTS),
  WEFT_KEY ("agents", WEFT_DESC_AGENTS),
  WEFT_KEY ("tools", WEFT_DESC_TOOLS),
  WEFT_KEY ("callbacks", WEFT_DESC_CALLBACKS),
  WEFT_KEY ("tasks", WEFT_DESC_TASKS),
  WEFT_KEY ("chat", WEFT_DESC_CHAT),
  WEFT_KEY ("map_paths", WEFT_DESC_MAP_PATHS),
  { NULL, 0, 0 }
};

static const WeftParseKey weft_parse_task_keys[] = {
  WEFT_KEY ("name", WEFT_DESC_NAME),
  WEFT_KEY ("agent", WEFT_DESC_AGENT),
  WEFT_KEY ("description", WEFT_DESC_DESCRIPTION),
  WEFT_KEY ("expected_output", WEFT_DESC_EXPECTED_OUTPUT),
  WEFT_KEY ("context", WEFT_DESC_CONTEXT),
  WEFT_KEY ("async", WEFT_DESC_ASYNC),
  WEFT_KEY ("exclude", WEFT_DESC_EXCLUDE),
  WEFT_KEY ("retries", WEFT_DESC_RETRIES),
  WEFT_KEY ("retry_delay_ms", WEFT_DESC_RETRY_DELAY),
  WEFT_KEY ("timeout_s", WEFT_DESC_TIMEOUT),
  WEFT_KEY ("callbacks", WEFT_DESC_CALLBACKS),
  { NULL, 0, 0 }
};

/* The member the reader has just found, or 0 for a key not in `keys`;
 * the first such key is kept in `*unknown`. */
static WeftDescField
weft_parse_key (WeftParse *p, const WeftParseKey *keys, WeftDescString *unknown)
{
  gsize length;
  const char *key = weft_json_reader_get_key (p->reader, &length);

  for (const WeftParseKey *k = keys; k->name; k++)
    if (k->length == length && memcmp (k->name, key, length) == 0)
      return k->field;
  if (*unknown == WEFT_DESC_NONE)
    *unknown = weft_flow_desc_add_string (p->desc, key, length);
  return 0;
}

/* A value of the wrong type was read: noted, and passed over. */
static gboolean
weft_parse_mistyped (WeftParse *p, WeftJsonToken token, guint32 *mistyped, WeftDescField field)
{
  *mistyped |= field;
  if (token == WEFT_JSON_OBJECT || token == WEFT_JSON_ARRAY)
    return weft_json_reader_skip_rest (p->reader);
  return TRUE;
}

static WeftDescString
weft_parse_take_string (WeftParse *p)
{
  gsize length;
  const char *text = weft_json_reader_get_string (p->reader, &length);

  return weft_flow_desc_add_string (p->desc, text, length);
}

static gboolean
weft_parse_string (WeftParse *p, WeftJsonToken token, guint32 *mistyped, WeftDescField field,
                   WeftDescString *out)
{
  if (token != WEFT_JSON_STRING)
    return weft_parse_mistyped (p, token, mistyped, field);
  *out = weft_parse_take_string (p);
  return TRUE;
}

/* A list of names: each one a ref; any other element makes it mistyped. */
static gboolean
weft_parse_names (WeftParse *p, WeftJsonToken token, guint32 *mistyped, WeftDescField field,
                  guint32 *first, guint32 *n)
{
  if (token != WEFT_JSON_ARRAY)
    return weft_parse_mistyped (p, token, mistyped, field);
  *first = p->desc->n_refs;
  while (weft_json_reader_next (p->reader))
    {
      WeftJsonToken element = weft_json_reader_read (p->reader);
      if (element == WEFT_JSON_NONE)
        return FALSE;
      if (element != WEFT_JSON_STRING)
        {
          if (!weft_parse_mistyped (p, element, mistyped, field))
            return FALSE;
          continue;
        }
      weft_flow_desc_add_ref (p->desc, weft_parse_take_string (p));
      (*n)++;
    }
  return !weft_json_reader_failed (p->reader);
}

/* The value just read or skipped, as json-glib's node. */
static JsonNode *
weft_parse_node (WeftParse *p)
{
  gsize length;
  const char *span = weft_json_reader_get_span (p->reader, &length);
  g_autoptr(JsonParser) parser = json_parser_new ();

  /* The reader has checked the span: json-glib refuses none of it. */
  if (!json_parser_load_from_data (parser, span, (gssize) length, NULL))
    return json_node_new (JSON_NODE_NULL);
  return json_node_ref (json_parser_get_root (parser));
}

/* ---- tasks -------------------------------------------------------------- */

static gboolean
weft_parse_task_value (WeftParse *p, WeftDescTask *t, WeftDescField field, WeftJsonToken token,
                       guint32 *mistyped)
{
  switch (field)
    {
    case WEFT_DESC_NAME:
      return weft_parse_string (p, token, mistyped, field, &t->name);
    case WEFT_DESC_AGENT:
      return weft_parse_string (p, token, mistyped, field, &t->agent.name);
    case WEFT_DESC_DESCRIPTION:
      return weft_parse_string (p, token, mistyped, field, &t->description);
    case WEFT_DESC_EXPECTED_OUTPUT:
      return weft_parse_string (p, token, mistyped, field, &t->expected_output);
    case WEFT_DESC_CONTEXT:
      return weft_parse_names (p, token, mistyped, field, &t->context, &t->n_context);
    case WEFT_DESC_CALLBACKS:
      return weft_parse_names (p, token, mistyped, field, &t->callbacks, &t->n_callbacks);
    case WEFT_DESC_ASYNC:
    case WEFT_DESC_EXCLUDE:
      if (token != WEFT_JSON_BOOL)
        return weft_parse_mistyped (p, token, mistyped, field);
      *(field == WEFT_DESC_ASYNC ? &t->async : &t->exclude) =
        (guint8) weft_json_reader_get_bool (p->reader);
      return TRUE;
    case WEFT_DESC_RETRIES:
    case WEFT_DESC_RETRY_DELAY:
      if (token != WEFT_JSON_INT)
        return weft_parse_mistyped (p, token, mistyped, field);
      *(field == WEFT_DESC_RETRIES ? &t->retries : &t->retry_delay_ms) =
        weft_json_reader_get_int (p->reader);
      return TRUE;
    case WEFT_DESC_TIMEOUT:
      if (token != WEFT_JSON_INT && token != WEFT_JSON_DOUBLE)
        return weft_parse_mistyped (p, token, mistyped, field);
      t->timeout_s = weft_json_reader_get_double (p->reader);
      return TRUE;
    default:
      g_assert_not_reached ();
    }
}

/* A task's members are the first 16 fields: its record keeps 16 bits. */
static gboolean
weft_parse_task_member (WeftParse *p, WeftDescTask *t, WeftDescField field)
{
  WeftJsonToken token = weft_json_reader_read (p->reader);
  guint32 mistyped = t->mistyped;

  if (token == WEFT_JSON_NONE)
    return FALSE;
  t->given |= field;
  gboolean ok = weft_parse_task_value (p, t, field, token, &mistyped);
  t->mistyped = (guint16) mistyped;
  return ok;
}

static gboolean
weft_parse_task (WeftParse *p)
{
  WeftDescTask *t = weft_flow_desc_add_task (p->desc);
  WeftJsonToken token = weft_json_reader_read (p->reader);

  if (token == WEFT_JSON_NONE)
    return FALSE;
  if (token != WEFT_JSON_OBJECT)
    {
      t->not_object = TRUE;
      return token != WEFT_JSON_ARRAY || weft_json_reader_skip_rest (p->reader);
    }
  /* Strings and refs may grow their arrays, never the tasks': t holds. */
  while (weft_json_reader_next (p->reader))
    {
      WeftDescField field = weft_parse_key (p, weft_parse_task_keys, &t->unknown_key);
      if (!(field ? weft_parse_task_member (p, t, field) : weft_json_reader_skip (p->reader)))
        return FALSE;
    }
  return !weft_json_reader_failed (p->reader);
}

static gboolean
weft_parse_tasks (WeftParse *p, WeftJsonToken token)
{
  if (token != WEFT_JSON_ARRAY)
    return weft_parse_mistyped (p, token, &p->desc->mistyped, WEFT_DESC_TASKS);
  while (weft_json_reader_next (p->reader))
    if (!weft_parse_task (p))
      return FALSE;
  return !weft_json_reader_failed (p->reader);
}

/* ---- the flow ----------------------------------------------------------- */

/* "agents", "tools" or "callbacks": each member a name and a declaration. */
static gboolean
weft_parse_instances (WeftParse *p, WeftJsonToken token, WeftPluginKind kind,
                      WeftDescField field)
{
  if (token != WEFT_JSON_OBJECT)
    return weft_parse_mistyped (p, token, &p->desc->mistyped, field);
  while (weft_json_reader_next (p->reader))
    {
      gsize length;
      const char *key = weft_json_reader_get_key (p->reader, &length);
      WeftDescString name = weft_flow_desc_add_string (p->desc, key, length);
      if (!weft_json_reader_skip (p->reader))
        return FALSE;
      weft_flow_desc_add_instance (p->desc, kind, name, weft_parse_node (p));
    }
  return !weft_json_reader_failed (p->reader);
}

/* "inputs" or "map_paths": small objects, kept as json-glib's. */
static gboolean
weft_parse_object (WeftParse *p, WeftJsonToken token, WeftDescField field, JsonObject **out)
{
  if (token != WEFT_JSON_OBJECT)
    return weft_parse_mistyped (p, token, &p->desc->mistyped, field);
  if (!weft_json_reader_skip_rest (p->reader))
    return FALSE;
  g_autoptr(JsonNode) node = weft_parse_node (p);
  if (JSON_NODE_HOLDS_OBJECT (node))
    *out = json_object_ref (json_node_get_object (node));
  return TRUE;
}

/* "chat": a small object that threads read as JSON. */
static gboolean
weft_parse_chat (WeftParse *p, WeftJsonToken token)
{
  if (token != WEFT_JSON_OBJECT)
    {
      p->desc->chat_mistyped = TRUE;
      return token != WEFT_JSON_ARRAY || weft_json_reader_skip_rest (p->reader);
    }
  if (!weft_json_reader_skip_rest (p->reader))
    return FALSE;
  g_autoptr(JsonNode) node = weft_parse_node (p);
  if (JSON_NODE_HOLDS_OBJECT (node))
    p->desc->chat = json_object_ref (json_node_get_object (node));
  return TRUE;
}

static gboolean
weft_parse_root_member (WeftParse *p, WeftDescField field)
{
  WeftFlowDesc *desc = p->desc;
  WeftJsonToken token = weft_json_reader_read (p->reader);

  if (token == WEFT_JSON_NONE)
    return FALSE;
  if (field == WEFT_DESC_CHAT)
    return weft_parse_chat (p, token);
  desc->given |= field;
  switch (field)
    {
    case WEFT_DESC_NAME:
      return weft_parse_string (p, token, &desc->mistyped, field, &desc->name);
    case WEFT_DESC_DESCRIPTION:
      return weft_parse_string (p, token, &desc->mistyped, field, &desc->description);
    case WEFT_DESC_PROCESS:
      return weft_parse_string (p, token, &desc->mistyped, field, &desc->process);
    case WEFT_DESC_INPUTS:
      return weft_parse_object (p, token, field, &desc->inputs);
    case WEFT_DESC_MAP_PATHS:
      return weft_parse_object (p, token, field, &desc->map_paths);
    case WEFT_DESC_AGENTS:
      return weft_parse_instances (p, token, WEFT_PLUGIN_AGENT, field);
    case WEFT_DESC_TOOLS:
      return weft_parse_instances (p, token, WEFT_PLUGIN_TOOL, field);
    case WEFT_DESC_CALLBACKS:
      return weft_parse_instances (p, token, WEFT_PLUGIN_CALLBACK, field);
    case WEFT_DESC_TASKS:
      return weft_parse_tasks (p, token);
    default:
      g_assert_not_reached ();
    }
}

static gboolean
weft_parse_root (WeftParse *p)
{
  WeftJsonToken token = weft_json_reader_read (p->reader);

  if (token == WEFT_JSON_NONE)
    return FALSE;
  if (token != WEFT_JSON_OBJECT)
    {
      p->desc->not_object = TRUE;
      return token != WEFT_JSON_ARRAY || weft_json_reader_skip_rest (p->reader);
    }
  while (weft_json_reader_next (p->reader))
    {
      WeftDescField field = weft_parse_key (p, weft_parse_root_keys, &p->desc->unknown_key);
      if (!(field ? weft_parse_root_member (p, field) : weft_json_reader_skip (p->reader)))
        return FALSE;
    }
  return !weft_json_reader_failed (p->reader);
}

WeftFlowDesc *
weft_flow_desc_parse (const char *text, gsize length, const char *origin, GError **error)
{
  g_autoptr(WeftJsonReader) reader = weft_json_reader_new (text, length, origin, error);
  g_autoptr(WeftFlowDesc) desc = weft_flow_desc_new (WEFT_DESC_FROM_FILE);
  WeftParse p = { reader, desc };

  if (!weft_parse_root (&p) || !weft_json_reader_end (reader))
    return NULL;
  return g_steal_pointer (&desc);
}
