/* weft-openai-answer.c — what a server answered, read without a network:
 * a whole chat completion, a stream of server-sent events, an error body,
 * and the few hundred characters of any of them an error message quotes.
 *
 * Everything here is hostile input.  A server, a proxy in front of it or
 * a gateway that failed may send nothing, half an answer, an HTML page,
 * bytes that are not UTF-8, JSON nested a hundred thousand levels deep or
 * numbers no double holds.  So every JSON text goes through
 * weft_json_parse (bounded depth, checked UTF-8 and numbers) before
 * json-glib sees it; every member is read by its type, never assumed; and
 * what an error quotes is cut to a few hundred characters of valid UTF-8,
 * the key redacted.  Sizes are the caller's to bound (the exchange reads
 * at most max_response_bytes); a stream counts what it was fed.
 *
 * No libsoup, no main loop: the tests and the fuzzer call these directly.
 */
#include "weft-openai.h"

#include <string.h>

/* Characters an error message quotes of what a server said. */
#define WEFT_OPENAI_EXCERPT_CHARS 300
/* Bytes looked at to make an excerpt: room for 300 characters of four
 * bytes each, and for a key to be redacted whole before the cut. */
#define WEFT_OPENAI_EXCERPT_SCAN 4096
/* The start of a key this long at the end of a text is taken for the
 * key cut short; shorter ones are too likely by chance. */
#define WEFT_OPENAI_SECRET_PREFIX 6
/* A server may skip tool-call indices; a silly one could claim a huge one. */
#define WEFT_OPENAI_MAX_CALLS 1024

/* ------------------------------------------------------------------------ */
/* Quoting what a server said                                               */

static gboolean
weft_openai_is_blank (gunichar c)
{
  return c < 0x20 || c == 0x7f || c == ' ' || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029;
}

/* Valid UTF-8 (a bad byte becomes U+FFFD), each run of blanks and control
 * characters one space, without the blanks at either end. */
static GString *
weft_openai_tidy (const char *text, gsize length)
{
  GString *out = g_string_sized_new (MIN (length, 256));
  const char *p = text, *end = text + length;
  gboolean blank = FALSE;

  while (p < end)
    {
      /* NUL is a control character, not a bad byte (GLib says -2). */
      gunichar c = *p == '\0' ? 0 : g_utf8_get_char_validated (p, end - p);
      if (c == 0)
        p++;
      else if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          c = 0xfffd;
          p++;
        }
      else
        p = g_utf8_next_char (p);
      if (weft_openai_is_blank (c))
        {
          blank = out->len > 0;
          continue;
        }
      if (blank)
        g_string_append_c (out, ' ');
      blank = FALSE;
      g_string_append_unichar (out, c);
    }
  return out;
}

/* Every `secret` in `text`, and its start where the text ends with one (a
 * body cut short in the middle of the key): "[redacted]". */
static void
weft_openai_redact (GString *text, const char *secret)
{
  gsize n = strlen (secret);

  if (strstr (text->str, secret) != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (text->str, secret, -1);
      g_autofree char *joined = g_strjoinv ("[redacted]", parts);
      g_string_assign (text, joined);
    }
  for (gsize k = MIN (n - 1, text->len); k >= WEFT_OPENAI_SECRET_PREFIX && k > 0; k--)
    if (memcmp (text->str + text->len - k, secret, k) == 0)
      {
        g_string_truncate (text, text->len - k);
        g_string_append (text, "[redacted]");
        return;
      }
}

char *
weft_openai_excerpt (const char *text, gsize length, const char *secret)
{
  gsize scanned = MIN (length, (gsize) WEFT_OPENAI_EXCERPT_SCAN);
  g_autoptr(GString) tidy = weft_openai_tidy (text ? text : "", text ? scanned : 0);
  gboolean cut = scanned < length;

  /* Before the cut: a key cut in two would no longer be found. */
  if (secret != NULL && secret[0] != '\0')
    weft_openai_redact (tidy, secret);
  if (g_utf8_strlen (tidy->str, -1) > WEFT_OPENAI_EXCERPT_CHARS)
    {
      const char *at = g_utf8_offset_to_pointer (tidy->str, WEFT_OPENAI_EXCERPT_CHARS);
      g_string_truncate (tidy, at - tidy->str);
      cut = TRUE;
    }
  if (cut)
    g_string_append (tidy, "…");
  return g_string_free (g_steal_pointer (&tidy), FALSE);
}

static const char *
weft_openai_node_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

static JsonObject *
weft_openai_member_object (JsonObject *object, const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static const char *
weft_openai_member_string (JsonObject *object, const char *name)
{
  return object ? weft_openai_node_string (json_object_get_member (object, name)) : NULL;
}

/* The words of an error, in the shapes servers use: OpenAI's and Azure's
 * {"error": {"message"}}, Ollama's and TGI's {"error": "..."}, vLLM's
 * {"message"}, FastAPI's {"detail": "..."}, and any of them in a list.
 * NULL when none holds a string (the body is then quoted as it is). */
static const char *
weft_openai_error_words (JsonNode *root)
{
  JsonObject *obj, *err;
  const char *words;

  if (root != NULL && JSON_NODE_HOLDS_ARRAY (root) && json_array_get_length (json_node_get_array (root)) > 0)
    root = json_array_get_element (json_node_get_array (root), 0);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  obj = json_node_get_object (root);
  err = weft_openai_member_object (obj, "error");
  if ((words = weft_openai_member_string (obj, "error")) != NULL
      || (words = weft_openai_member_string (err, "message")) != NULL
      || (words = weft_openai_member_string (obj, "message")) != NULL
      || (words = weft_openai_member_string (obj, "detail")) != NULL)
    return words;
  return NULL;
}

char *
weft_openai_error_node_message (JsonNode *root, const char *secret)
{
  const char *words = weft_openai_error_words (root);
  g_autofree char *said = words ? weft_openai_excerpt (words, strlen (words), secret) : NULL;
  g_autofree char *text = NULL;

  if (said != NULL && said[0] != '\0')
    return g_steal_pointer (&said);
  /* No words, or blank ones: the JSON as it came, which says something. */
  text = json_to_string (root, FALSE);
  return weft_openai_excerpt (text, strlen (text), secret);
}

char *
weft_openai_provider_message (const char *body, gsize length, const char *secret)
{
  g_autoptr(JsonNode) root = length > 0 ? weft_json_parse (body, (gssize) length, NULL) : NULL;
  g_autofree char *said = NULL;

  if (length == 0)
    return g_strdup ("(empty body)");
  if (root != NULL)
    return weft_openai_error_node_message (root, secret);
  said = weft_openai_excerpt (body, length, secret);
  if (said[0] == '\0')
    return g_strdup_printf ("(a body of %" G_GSIZE_FORMAT " blank bytes)", length);
  return g_steal_pointer (&said);
}

/* The check's words about a JSON text a server sent, at most a few
 * hundred characters: the start (where) and the end (why) of a long one,
 * whose middle is a path through many levels.  The path quotes the text's
 * keys, which may hold the key: redacted first. */
static char *
weft_openai_shorten (const char *message, const char *secret)
{
  /* Tidied too: the check may quote a byte of the text as it is. */
  g_autoptr(GString) text = weft_openai_tidy (message, strlen (message));
  glong n;
  const char *head_end, *tail;

  if (secret != NULL && secret[0] != '\0')
    weft_openai_redact (text, secret);
  n = g_utf8_strlen (text->str, -1);
  if (n <= WEFT_OPENAI_EXCERPT_CHARS)
    return g_string_free (g_steal_pointer (&text), FALSE);
  head_end = g_utf8_offset_to_pointer (text->str, WEFT_OPENAI_EXCERPT_CHARS / 3);
  tail = g_utf8_offset_to_pointer (text->str, n - WEFT_OPENAI_EXCERPT_CHARS * 2 / 3);
  return g_strdup_printf ("%.*s…%s", (int) (head_end - text->str), text->str, tail);
}

static void
weft_openai_set_json_error (GError **error, const char *what, const GError *cause,
                            const char *secret)
{
  g_autofree char *said = weft_openai_shorten (cause->message, secret);

  g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "%s: %s", what, said);
}

/* ------------------------------------------------------------------------ */
/* Messages, as weft sends them back in the conversation                    */

static JsonNode *
weft_openai_string_or_null (const char *text)
{
  return text ? json_node_init_string (json_node_alloc (), text) : json_node_init_null (json_node_alloc ());
}

/* {"id", "type": "function", "function": {"name", "arguments"}} */
static JsonObject *
weft_openai_tool_call_new (const char *id, const char *name, const char *arguments)
{
  JsonObject *call = json_object_new ();
  JsonObject *function = json_object_new ();

  json_object_set_string_member (call, "id", id);
  json_object_set_string_member (call, "type", "function");
  json_object_set_string_member (function, "name", name);
  json_object_set_string_member (function, "arguments", arguments);
  json_object_set_object_member (call, "function", function);
  return call;
}

/* The assistant message: {"role", "content", "tool_calls"?}. */
static JsonObject *
weft_openai_message_new (const char *content, JsonArray *tool_calls /* transfer full */)
{
  JsonObject *message = json_object_new ();

  json_object_set_string_member (message, "role", "assistant");
  json_object_set_member (message, "content", weft_openai_string_or_null (content));
  if (tool_calls != NULL && json_array_get_length (tool_calls) > 0)
    json_object_set_array_member (message, "tool_calls", tool_calls);
  else if (tool_calls != NULL)
    json_array_unref (tool_calls);
  return message;
}

char *
weft_openai_tool_result_text (const char *result, const GError *error)
{
  g_autofree char *valid = g_utf8_make_valid (error ? error->message : result ? result : "", -1);

  return error ? g_strconcat ("error: ", valid, NULL) : g_steal_pointer (&valid);
}

/* A count of `usage`: a whole number, not negative; else -1. */
static gint64
weft_openai_usage_count (JsonObject *usage, const char *member)
{
  JsonNode *n = usage ? json_object_get_member (usage, member) : NULL;

  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64
         && json_node_get_int (n) >= 0 ? json_node_get_int (n) : -1;
}

/* The answer's "usage", as OpenAI words it; FALSE when it has none. */
static gboolean
weft_openai_usage (JsonObject *root, WeftOpenaiUsage *out)
{
  JsonObject *usage = weft_openai_member_object (root, "usage");

  *out = (WeftOpenaiUsage) {
    weft_openai_usage_count (usage, "prompt_tokens"),
    weft_openai_usage_count (usage, "completion_tokens"),
    weft_openai_usage_count (usage, "total_tokens"),
  };
  return usage != NULL;
}

/* The first choice's object `member` ("message", or "delta" in a stream). */
static JsonObject *
weft_openai_first_choice (JsonObject *root, const char *member, JsonObject **choice_out)
{
  JsonNode *choices = json_object_get_member (root, "choices");
  JsonArray *array = choices && JSON_NODE_HOLDS_ARRAY (choices) ? json_node_get_array (choices) : NULL;
  JsonNode *first = array && json_array_get_length (array) > 0 ? json_array_get_element (array, 0) : NULL;
  JsonObject *choice = first && JSON_NODE_HOLDS_OBJECT (first) ? json_node_get_object (first) : NULL;

  if (choice_out != NULL)
    *choice_out = choice;
  return weft_openai_member_object (choice, member);
}

/* A model's function arguments are a JSON string; a few servers send the
 * value itself.  Whatever it is, the core checks it is an object before
 * a tool sees it. */
static char *
weft_openai_arguments_text (JsonObject *function)
{
  JsonNode *node = json_object_get_member (function, "arguments");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("{}");
  if (weft_openai_node_string (node) != NULL)
    return g_strdup (json_node_get_string (node));
  return json_to_string (node, FALSE);
}

static JsonArray *
weft_openai_parse_tool_calls (JsonObject *message, GError **error)
{
  JsonNode *node = json_object_get_member (message, "tool_calls");
  JsonArray *in = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  g_autoptr(JsonArray) out = json_array_new ();

  for (guint i = 0; in != NULL && i < json_array_get_length (in); i++)
    {
      JsonNode *e = json_array_get_element (in, i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      JsonObject *function = weft_openai_member_object (call, "function");
      const char *name = weft_openai_member_string (function, "name");
      const char *id = weft_openai_member_string (call, "id");
      g_autofree char *made_id = id ? NULL : g_strdup_printf ("call_%u", i);
      g_autofree char *arguments = NULL;

      if (name == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "tool_calls[%u] has no function name", i);
          return NULL;
        }
      arguments = weft_openai_arguments_text (function);
      json_array_add_object_element (out, weft_openai_tool_call_new (id ? id : made_id, name, arguments));
    }
  return g_steal_pointer (&out);
}

/* ------------------------------------------------------------------------ */
/* A whole answer                                                           */

static gboolean
weft_openai_all_blank (const char *text, gsize length)
{
  for (gsize i = 0; i < length; i++)
    if (!g_ascii_isspace (text[i]))
      return FALSE;
  return TRUE;
}

JsonObject *
weft_openai_parse_answer (const char *body, gsize length, const char *secret, gint64 *usage,
                          GError **error)
{
  WeftOpenaiUsage all = WEFT_OPENAI_USAGE_NONE;
  JsonObject *message = weft_openai_parse_answer_usage (body, length, secret, &all, error);

  *usage = all.total;
  return message;
}

JsonObject *
weft_openai_parse_answer_usage (const char *body, gsize length, const char *secret,
                                WeftOpenaiUsage *usage, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *root, *message;
  JsonArray *calls;

  if (weft_openai_all_blank (body, length))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "the body is empty (%" G_GSIZE_FORMAT " bytes)",
                   length);
      return NULL;
    }
  node = weft_json_parse (body, (gssize) length, &local);
  if (node == NULL)
    {
      g_autofree char *start = weft_openai_excerpt (body, MIN (length, 60), secret);
      g_autofree char *why = weft_openai_shorten (local->message, secret);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE,
                   "the answer is not JSON weft accepts: %s (it starts \"%s%s\")", why, start,
                   length > 60 ? "…" : "");
      return NULL;
    }
  root = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (root != NULL && json_object_has_member (root, "error"))
    {
      g_autofree char *said = weft_openai_error_node_message (node, secret);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "an error in a successful answer: %s", said);
      return NULL;
    }
  message = root ? weft_openai_first_choice (root, "message", NULL) : NULL;
  if (message == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "no choices[0].message in the answer");
      return NULL;
    }
  calls = weft_openai_parse_tool_calls (message, error);
  if (calls == NULL)
    return NULL;
  weft_openai_usage (root, usage);
  return weft_openai_message_new (weft_openai_member_string (message, "content"), calls);
}

/* ------------------------------------------------------------------------ */
/* Streams: server-sent events                                              */

typedef struct {
  char *id;
  GString *name;
  GString *arguments;
} WeftOpenaiCallDelta;

struct _WeftOpenaiStream {
  gsize max_bytes;
  gsize fed;
  char *secret;
  WeftOpenaiChunkFunc chunk;
  gpointer data;
  gboolean stopped;             /* chunk said no more                    */
  GByteArray *line;             /* the line not yet ended                */
  GString *event;               /* the data lines of the current event   */
  gboolean ended;               /* [DONE]: the rest is ignored           */
  gboolean done;                /* [DONE] or a finish_reason             */
  gboolean emitted;             /* chunks were reported                  */
  GString *content;
  gboolean has_content;
  GArray *calls;                /* WeftOpenaiCallDelta, by index         */
  WeftOpenaiUsage usage;
};

static void
weft_openai_call_delta_clear (gpointer data)
{
  WeftOpenaiCallDelta *d = data;

  g_free (d->id);
  g_string_free (d->name, TRUE);
  g_string_free (d->arguments, TRUE);
}

WeftOpenaiStream *
weft_openai_stream_new (gsize max_bytes, const char *secret, WeftOpenaiChunkFunc chunk, gpointer data)
{
  WeftOpenaiStream *s = g_new0 (WeftOpenaiStream, 1);

  s->max_bytes = max_bytes;
  s->secret = g_strdup (secret);
  s->chunk = chunk;
  s->data = data;
  s->line = g_byte_array_new ();
  s->event = g_string_new (NULL);
  s->content = g_string_new (NULL);
  s->calls = g_array_new (FALSE, TRUE, sizeof (WeftOpenaiCallDelta));
  g_array_set_clear_func (s->calls, weft_openai_call_delta_clear);
  s->usage = WEFT_OPENAI_USAGE_NONE;
  return s;
}

void
weft_openai_stream_free (WeftOpenaiStream *s)
{
  if (s == NULL)
    return;
  g_free (s->secret);
  g_byte_array_unref (s->line);
  g_string_free (s->event, TRUE);
  g_string_free (s->content, TRUE);
  g_array_unref (s->calls);
  g_free (s);
}

gboolean
weft_openai_stream_has_emitted (const WeftOpenaiStream *s)
{
  return s->emitted;
}

gint64
weft_openai_stream_get_usage (const WeftOpenaiStream *s)
{
  return s->usage.total;
}

WeftOpenaiUsage
weft_openai_stream_get_usage_all (const WeftOpenaiStream *s)
{
  return s->usage;
}

static WeftOpenaiCallDelta *
weft_openai_call_delta (WeftOpenaiStream *s, gint64 index)
{
  if (index < 0 || index >= WEFT_OPENAI_MAX_CALLS)
    return NULL;
  while (s->calls->len <= (guint) index)
    {
      WeftOpenaiCallDelta d = { NULL, g_string_new (NULL), g_string_new (NULL) };
      g_array_append_val (s->calls, d);
    }
  return &g_array_index (s->calls, WeftOpenaiCallDelta, index);
}

static void
weft_openai_append (GString *to, const char *text)
{
  if (text != NULL)
    g_string_append (to, text);
}

/* "index" as an integer; `fallback` when absent, -1 when of another type. */
static gint64
weft_openai_call_index (JsonObject *call, gint64 fallback)
{
  JsonNode *node = json_object_get_member (call, "index");

  if (node == NULL)
    return fallback;
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64
         ? json_node_get_int (node) : -1;
}

static gboolean
weft_openai_stream_tool_calls (WeftOpenaiStream *s, JsonObject *delta, GError **error)
{
  JsonNode *node = json_object_get_member (delta, "tool_calls");
  JsonArray *calls = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; calls != NULL && i < json_array_get_length (calls); i++)
    {
      JsonNode *e = json_array_get_element (calls, i);
      JsonObject *call = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      JsonObject *function = weft_openai_member_object (call, "function");
      WeftOpenaiCallDelta *d = call ? weft_openai_call_delta (s, weft_openai_call_index (call, i)) : NULL;
      const char *id = weft_openai_member_string (call, "id");

      if (d == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE,
                       "tool_calls[%u] of a streamed event is not an object with an index below %d",
                       i, WEFT_OPENAI_MAX_CALLS);
          return FALSE;
        }
      if (id != NULL && d->id == NULL)
        d->id = g_strdup (id);
      weft_openai_append (d->name, weft_openai_member_string (function, "name"));
      weft_openai_append (d->arguments, weft_openai_member_string (function, "arguments"));
    }
  return TRUE;
}

static void
weft_openai_stream_content (WeftOpenaiStream *s, const char *text)
{
  s->has_content = TRUE;
  g_string_append (s->content, text);
  if (text[0] == '\0')
    return;
  s->emitted = TRUE;
  if (s->chunk != NULL && !s->chunk (text, s->data))
    s->stopped = TRUE;
}

/* One event's data: a chunk of the answer, or [DONE]. */
static gboolean
weft_openai_stream_event (WeftOpenaiStream *s, const char *data, gsize length, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *root, *delta, *choice;
  const char *text;

  if (length == 6 && memcmp (data, "[DONE]", 6) == 0)
    {
      s->ended = s->done = TRUE;
      return TRUE;
    }
  node = weft_json_parse (data, (gssize) length, &local);
  if (node == NULL)
    {
      weft_openai_set_json_error (error, "a streamed event is not JSON", local, s->secret);
      return FALSE;
    }
  root = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (root == NULL || json_object_has_member (root, "error"))
    {
      g_autofree char *said = weft_openai_error_node_message (node, s->secret);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "%s: %s",
                   root ? "the stream carried an error" : "a streamed event is not a JSON object", said);
      return FALSE;
    }
  WeftOpenaiUsage usage;
  if (weft_openai_usage (root, &usage))
    s->usage = usage;
  delta = weft_openai_first_choice (root, "delta", &choice);
  if (choice != NULL && weft_openai_member_string (choice, "finish_reason") != NULL)
    s->done = TRUE;
  if (delta == NULL)
    return TRUE;                 /* the usage chunk has no choices */
  text = weft_openai_member_string (delta, "content");
  if (text != NULL)
    weft_openai_stream_content (s, text);
  return weft_openai_stream_tool_calls (s, delta, error);
}

/* An empty line ends an event. */
static gboolean
weft_openai_stream_dispatch (WeftOpenaiStream *s, GError **error)
{
  gboolean ok = TRUE;

  if (s->event->len > 0 && !s->ended)
    ok = weft_openai_stream_event (s, s->event->str, s->event->len, error);
  g_string_truncate (s->event, 0);
  return ok;
}

/* One line of the stream, without its end. */
static gboolean
weft_openai_stream_line (WeftOpenaiStream *s, const char *line, gsize length, GError **error)
{
  if (length == 0)
    return weft_openai_stream_dispatch (s, error);
  if (length < 5 || memcmp (line, "data:", 5) != 0)
    return TRUE;                 /* event:, id:, retry:, ": comment" */
  line += 5;
  length -= 5;
  if (length > 0 && line[0] == ' ')
    {
      line++;
      length--;
    }
  if (s->event->len > 0)
    g_string_append_c (s->event, '\n');
  g_string_append_len (s->event, line, (gssize) length);
  return TRUE;
}

gboolean
weft_openai_stream_feed (WeftOpenaiStream *s, const guint8 *data, gsize size, GError **error)
{
  gsize start = 0;
  /* What was there before holds no line end: a long line fed in small
   * pieces is scanned once, not once per piece. */
  gsize from = s->line->len;

  if (size > s->max_bytes - MIN (s->fed, s->max_bytes))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE,
                   "the stream is larger than max_response_bytes (%" G_GSIZE_FORMAT ")", s->max_bytes);
      return FALSE;
    }
  s->fed += size;
  g_byte_array_append (s->line, data, (guint) size);
  for (gsize i = from; i < s->line->len && !s->stopped; i++)
    {
      if (s->line->data[i] != '\n')
        continue;
      gsize end = i > start && s->line->data[i - 1] == '\r' ? i - 1 : i;
      if (!weft_openai_stream_line (s, (const char *) s->line->data + start, end - start, error))
        return FALSE;
      start = i + 1;
    }
  g_byte_array_remove_range (s->line, 0, (guint) start);
  return TRUE;
}

JsonObject *
weft_openai_stream_finish (WeftOpenaiStream *s, GError **error)
{
  JsonArray *calls;

  if (s->stopped)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_CANCELLED, "the stream was stopped");
      return NULL;
    }
  /* A last line and event the server did not end: taken as they are. */
  if (s->line->len > 0
      && !weft_openai_stream_line (s, (const char *) s->line->data, s->line->len, error))
    return NULL;
  g_byte_array_set_size (s->line, 0);
  if (!weft_openai_stream_dispatch (s, error))
    return NULL;
  if (!s->done)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_PARSE, "the stream ended before [DONE]");
      return NULL;
    }
  calls = json_array_new ();
  for (guint i = 0; i < s->calls->len; i++)
    {
      WeftOpenaiCallDelta *d = &g_array_index (s->calls, WeftOpenaiCallDelta, i);
      g_autofree char *id = d->id ? g_strdup (d->id) : g_strdup_printf ("call_%u", i);

      if (d->name->len > 0)
        json_array_add_object_element (calls, weft_openai_tool_call_new (
          id, d->name->str, d->arguments->len > 0 ? d->arguments->str : "{}"));
    }
  return weft_openai_message_new (s->has_content ? s->content->str : NULL, calls);
}
