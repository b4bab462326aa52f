/* weft-mock-llm.c — a mock OpenAI-compatible chat-completions server.
 *
 * Workers, each a GMainContext with its own SoupServers and its own
 * listening socket, all bound to the same port with SO_REUSEPORT: the
 * kernel spreads new connections over the workers, and a worker keeps the
 * connections it accepted.  One or more threads run them, each thread
 * WEFT_MOCK_CONTEXTS_PER_THREAD workers at once (one poll() over all their
 * file descriptors, then each context's check and dispatch).  Why several
 * contexts on one thread: GLib's main loop takes a dispatched socket
 * source's file descriptor out of its context and puts it back, each time
 * walking the context's whole list of descriptors, so with ten thousand
 * connections in one context a third of the server's time went to those
 * walks; eight contexts make each walk an eighth as long, without adding
 * threads that would compete with the client for the cores.
 * Connections are accepted in batches (SoupServer's own listener accepts
 * one connection per main loop iteration, with a listen backlog of 10,
 * which is far too slow for ten thousand connections at once), and handed
 * to soup_server_accept_iostream().
 *
 * Each request to POST /v1/chat/completions becomes a Pending: under the
 * lock (the script, rules and records are shared with the test's threads
 * and the other workers) it is recorded and its answer chosen, with the ids
 * the answer will use; the answer is built outside the lock, then sent at
 * once or after its latency.  All waits (latency, trickle pauses) go
 * through one timer per worker: a GSequence of Pendings by deadline and one
 * GSource whose ready time is the earliest deadline, so ten thousand
 * waiting requests cost one source, not ten thousand.
 */
#include "weft-mock-llm-private.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>

#define WEFT_MOCK_MODEL "weft-mock"

/* SoupServer keeps its connections in a list and its connections' signal
 * closures on itself, both costing O(connections) per disconnection: with
 * ten thousand connections that is quadratic.  Connections are spread over
 * several servers per worker (same context, same handler) to divide it. */
#define WEFT_MOCK_N_SERVERS 4
/* Workers (GMainContexts) each thread runs. */
#define WEFT_MOCK_CONTEXTS_PER_THREAD 8

typedef enum {
  ANSWER_TEXT,
  ANSWER_TOOL_CALLS,
  ANSWER_STREAM,
  ANSWER_ERROR,
  ANSWER_MALFORMED,
  ANSWER_DROP,
  ANSWER_TRICKLE,
  ANSWER_RAW,
} AnswerKind;

/* A scripted answer, or a rule's answer. */
typedef struct {
  AnswerKind kind;
  char *content;        /* TEXT, TRICKLE */
  char **chunks;        /* STREAM */
  JsonNode *tool_calls; /* TOOL_CALLS: an array of {name, arguments} */
  guint status;         /* ERROR */
  char *retry_after;    /* ERROR, nullable */
  char *body;           /* ERROR, nullable */
  guint total_ms;       /* TRICKLE */
  GBytes *raw;          /* RAW: the whole HTTP answer */
  gboolean hold;        /* RAW: keep the connection open after it */
  gint delay_ms;        /* its own latency; -1: the mock's */
} Answer;

typedef struct {
  char *needle;
  Answer *answer;
} Rule;

typedef struct {
  char *body;
  SoupMessageHeaders *headers;
  gint64 time;
} Record;

/* What was understood of a request. */
typedef struct {
  char *model;
  gboolean stream;
  gboolean include_usage;
  char *last_user;         /* content of the last "user" message */
  char *last_user_or_tool; /* content of the last "user" or "tool" message */
  gsize prompt_chars;
} Request;

typedef enum {
  REPLY_FULL,
  REPLY_DROP,
  REPLY_TRICKLE,
  REPLY_RAW,
} ReplyKind;

/* An answer built for one request. */
typedef struct {
  ReplyKind kind;
  guint status;
  const char *content_type;
  char *retry_after;
  char *body;
  gsize len;
  gboolean chunked;
  guint total_ms;
  GBytes *raw;          /* RAW */
  gboolean hold;
} Reply;

/* The ids one reply uses, reserved under the lock: its completion's, and
 * the last tool call id before its own. */
typedef struct {
  guint64 completion;
  guint64 call;
} Ids;

typedef struct _Worker Worker;
typedef struct _MockThread MockThread;

/* A request to POST /v1/chat/completions not yet fully answered.  Lives on
 * its worker's thread only. */
typedef struct {
  Worker *worker;
  SoupServerMessage *msg; /* borrowed: valid until "finished" (NULL once stolen) */
  gulong finished_id;
  ReplyKind kind;
  GIOStream *stolen;      /* DROP, RAW: the connection, closed when done */
  GBytes *body;           /* TRICKLE: the whole body; RAW: the whole answer */
  gboolean hold;          /* RAW */
  WeftMockRawWrite *raw_write; /* RAW, while writing (or held) */
  gsize offset, piece;
  gint64 interval_us;
  gboolean chunked;
  gboolean started;       /* TRICKLE: the first piece is out */
  gint64 deadline;
  guint64 serial;
  GSequenceIter *timer_iter;
  GSource *watch;         /* the client's socket, while the answer waits */
} Pending;

/* One GMainContext and what answers on it. */
struct _Worker {
  WeftMockLlm *mock;
  GMainContext *context;
  GSocket *listener;    /* made by the caller, bound to the mock's port */

  /* Its thread only. */
  gint max_priority;    /* of the iteration under way */
  guint fds_offset, n_fds;
  SoupServer *servers[WEFT_MOCK_N_SERVERS];
  guint next_server;
  GSource *accept_source;
  GSource *accept_retry;
  GSource *timer_source;
  GSequence *timers;    /* Pending*, by deadline */
  guint64 timer_serial;
  GHashTable *pending;  /* set of Pending*, owns them */
  gboolean accept_warned;
};

/* A thread running several workers. */
struct _MockThread {
  WeftMockLlm *mock;
  GThread *thread;
  Worker *workers;      /* into the mock's array */
  guint n_workers;
  gint quit;            /* atomic */
  GArray *fds;          /* GPollFD, every worker's, this iteration */
};

struct _WeftMockLlm {
  /* Shared with the callers' threads and the workers: under lock. */
  GMutex lock;
  GQueue script;      /* Answer* */
  GPtrArray *rules;   /* Rule* */
  GPtrArray *records; /* Record* */
  gboolean recording;
  guint n_requests;
  guint in_flight, max_in_flight;
  guint n_abandoned;
  guint min_ms, max_ms;
  guint64 next_call_id, next_completion_id;
  GRand *rand;

  /* Set before the workers start, or while the caller waits for them. */
  guint port;
  char *base_url;
  guint n_workers;
  Worker *workers;
  guint n_threads;
  MockThread *threads;
  GMutex start_lock;
  GCond start_cond;
  guint n_started;
  GError *start_error;
};

/* ------------------------------------------------------------------ */
/* Answers, rules, records                                              */

static void
answer_free (Answer *a)
{
  if (a == NULL)
    return;
  g_free (a->content);
  g_strfreev (a->chunks);
  g_clear_pointer (&a->tool_calls, json_node_unref);
  g_free (a->retry_after);
  g_free (a->body);
  g_clear_pointer (&a->raw, g_bytes_unref);
  g_free (a);
}

static Answer *
answer_new (AnswerKind kind)
{
  Answer *a = g_new0 (Answer, 1);

  a->kind = kind;
  a->delay_ms = -1;
  return a;
}

/* A rule's answer for one request: rules may be reset while it is built. */
static Answer *
answer_copy (const Answer *a)
{
  Answer *copy = answer_new (a->kind);

  copy->content = g_strdup (a->content);
  copy->chunks = g_strdupv (a->chunks);
  copy->tool_calls = a->tool_calls ? json_node_copy (a->tool_calls) : NULL;
  copy->status = a->status;
  copy->retry_after = g_strdup (a->retry_after);
  copy->body = g_strdup (a->body);
  copy->total_ms = a->total_ms;
  copy->raw = a->raw ? g_bytes_ref (a->raw) : NULL;
  copy->hold = a->hold;
  copy->delay_ms = a->delay_ms;
  return copy;
}

static void
rule_free (gpointer data)
{
  Rule *rule = data;

  g_free (rule->needle);
  answer_free (rule->answer);
  g_free (rule);
}

static void
record_free (gpointer data)
{
  Record *rec = data;

  g_free (rec->body);
  soup_message_headers_unref (rec->headers);
  g_free (rec);
}

static void
request_clear (Request *req)
{
  g_free (req->model);
  g_free (req->last_user);
  g_free (req->last_user_or_tool);
}

static void
reply_clear (Reply *reply)
{
  g_free (reply->retry_after);
  g_free (reply->body);
  g_clear_pointer (&reply->raw, g_bytes_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Request, request_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Reply, reply_clear)

/* Parses and checks a tool_calls_json argument: a JSON array of objects with
 * a string "name". */
static JsonNode *
parse_tool_calls (const char *tool_calls_json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (tool_calls_json, &error);
  JsonArray *array;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    g_error ("weft-mock-llm: tool calls must be a JSON array: %s",
             error ? error->message : tool_calls_json);
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *element = json_array_get_element (array, i);

      if (!JSON_NODE_HOLDS_OBJECT (element)
          || json_object_get_string_member_with_default (json_node_get_object (element),
                                                         "name", NULL) == NULL)
        g_error ("weft-mock-llm: each tool call needs a string \"name\": %s", tool_calls_json);
    }
  return g_steal_pointer (&node);
}

/* ------------------------------------------------------------------ */
/* JSON of answers                                                      */

static char *
object_to_json (JsonObject *object) /* takes object */
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  return json_to_string (node, FALSE);
}

static JsonObject *
usage_object (gsize prompt_chars, gsize completion_chars)
{
  JsonObject *usage = json_object_new ();
  gint64 prompt = MAX (1, (gint64) (prompt_chars / 4));
  gint64 completion = MAX (1, (gint64) (completion_chars / 4));

  json_object_set_int_member (usage, "prompt_tokens", prompt);
  json_object_set_int_member (usage, "completion_tokens", completion);
  json_object_set_int_member (usage, "total_tokens", prompt + completion);
  return usage;
}

static char *
error_body (guint status, const char *message)
{
  JsonObject *root = json_object_new ();
  JsonObject *error = json_object_new ();
  const char *type = "api_error", *code = NULL;

  switch (status)
    {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "invalid_request_error"; code = "invalid_api_key"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "invalid_request_error"; code = "not_found"; break;
    case 405: type = "invalid_request_error"; break;
    case 429: type = "requests"; code = "rate_limit_exceeded"; break;
    default:
      if (status >= 500)
        type = "server_error";
      break;
    }
  json_object_set_string_member (error, "message", message);
  json_object_set_string_member (error, "type", type);
  json_object_set_null_member (error, "param");
  if (code != NULL)
    json_object_set_string_member (error, "code", code);
  else
    json_object_set_null_member (error, "code");
  json_object_set_object_member (root, "error", error);
  return object_to_json (root);
}

static void
reply_error (Reply *reply, guint status, const char *message)
{
  reply->kind = REPLY_FULL;
  reply->status = status;
  reply->content_type = "application/json";
  reply->body = error_body (status, message);
  reply->len = strlen (reply->body);
}

/* The tool calls of an answer, with fresh ids; with "index" when streamed. */
static JsonArray *
build_tool_calls (Ids *ids, JsonNode *spec, gboolean with_index, gsize *chars)
{
  JsonArray *src = json_node_get_array (spec);
  JsonArray *calls = json_array_new ();

  *chars = 0;
  for (guint i = 0; i < json_array_get_length (src); i++)
    {
      JsonObject *call_spec = json_array_get_object_element (src, i);
      JsonNode *args = json_object_get_member (call_spec, "arguments");
      const char *name = json_object_get_string_member (call_spec, "name");
      JsonObject *call = json_object_new ();
      JsonObject *function = json_object_new ();
      g_autofree char *id = g_strdup_printf ("call_%" G_GUINT64_FORMAT, ++ids->call);
      g_autofree char *args_text = NULL;

      if (args == NULL || JSON_NODE_HOLDS_NULL (args))
        args_text = g_strdup ("{}");
      else if (JSON_NODE_HOLDS_VALUE (args) && json_node_get_value_type (args) == G_TYPE_STRING)
        args_text = g_strdup (json_node_get_string (args));
      else
        args_text = json_to_string (args, FALSE);
      *chars += strlen (name) + strlen (args_text);

      json_object_set_string_member (function, "name", name);
      json_object_set_string_member (function, "arguments", args_text);
      if (with_index)
        json_object_set_int_member (call, "index", i);
      json_object_set_string_member (call, "id", id);
      json_object_set_string_member (call, "type", "function");
      json_object_set_object_member (call, "function", function);
      json_array_add_object_element (calls, call);
    }
  return calls;
}

/* A chat.completion object; content NULL gives "content": null. */
static char *
completion_json (Ids *ids, const Request *req, const char *content,
                 JsonArray *tool_calls /* taken, nullable */, gsize completion_chars)
{
  JsonObject *root = json_object_new ();
  JsonObject *message = json_object_new ();
  JsonObject *choice = json_object_new ();
  JsonArray *choices = json_array_new ();
  g_autofree char *id = g_strdup_printf ("chatcmpl-mock%" G_GUINT64_FORMAT,
                                         ids->completion);

  json_object_set_string_member (message, "role", "assistant");
  if (content != NULL)
    json_object_set_string_member (message, "content", content);
  else
    json_object_set_null_member (message, "content");
  if (tool_calls != NULL)
    json_object_set_array_member (message, "tool_calls", tool_calls);

  json_object_set_int_member (choice, "index", 0);
  json_object_set_object_member (choice, "message", message);
  json_object_set_null_member (choice, "logprobs");
  json_object_set_string_member (choice, "finish_reason", tool_calls ? "tool_calls" : "stop");
  json_array_add_object_element (choices, choice);

  json_object_set_string_member (root, "id", id);
  json_object_set_string_member (root, "object", "chat.completion");
  json_object_set_int_member (root, "created", g_get_real_time () / G_USEC_PER_SEC);
  json_object_set_string_member (root, "model", req->model);
  json_object_set_array_member (root, "choices", choices);
  json_object_set_object_member (root, "usage",
                                 usage_object (req->prompt_chars, completion_chars));
  return object_to_json (root);
}

typedef struct {
  GString *out;
  char *id;
  gint64 created;
  const char *model;
} Sse;

static void
sse_begin (Ids *ids, const Request *req, Sse *sse)
{
  sse->out = g_string_new (NULL);
  sse->id = g_strdup_printf ("chatcmpl-mock%" G_GUINT64_FORMAT, ids->completion);
  sse->created = g_get_real_time () / G_USEC_PER_SEC;
  sse->model = req->model;
}

/* One "data: {chunk}" event.  delta NULL: "choices": [] (the usage chunk). */
static void
sse_chunk (Sse *sse, JsonObject *delta /* taken */, const char *finish_reason,
           JsonObject *usage /* taken, nullable */)
{
  JsonObject *root = json_object_new ();
  JsonArray *choices = json_array_new ();
  g_autofree char *text = NULL;

  if (delta != NULL)
    {
      JsonObject *choice = json_object_new ();

      json_object_set_int_member (choice, "index", 0);
      json_object_set_object_member (choice, "delta", delta);
      json_object_set_null_member (choice, "logprobs");
      if (finish_reason != NULL)
        json_object_set_string_member (choice, "finish_reason", finish_reason);
      else
        json_object_set_null_member (choice, "finish_reason");
      json_array_add_object_element (choices, choice);
    }
  json_object_set_string_member (root, "id", sse->id);
  json_object_set_string_member (root, "object", "chat.completion.chunk");
  json_object_set_int_member (root, "created", sse->created);
  json_object_set_string_member (root, "model", sse->model);
  json_object_set_array_member (root, "choices", choices);
  if (usage != NULL)
    json_object_set_object_member (root, "usage", usage);
  text = object_to_json (root);
  g_string_append_printf (sse->out, "data: %s\n\n", text);
}

static void
sse_end (Sse *sse, const Request *req, const char *finish_reason, gsize completion_chars,
         Reply *reply)
{
  sse_chunk (sse, json_object_new (), finish_reason, NULL);
  if (req->include_usage)
    sse_chunk (sse, NULL, NULL, usage_object (req->prompt_chars, completion_chars));
  g_string_append (sse->out, "data: [DONE]\n\n");

  reply->kind = REPLY_FULL;
  reply->status = 200;
  reply->content_type = "text/event-stream";
  reply->chunked = TRUE;
  reply->len = sse->out->len;
  reply->body = g_string_free (g_steal_pointer (&sse->out), FALSE);
  g_free (sse->id);
}

/* Cuts text after each space: "echo: a b" -> "echo: ", "a ", "b". */
static char **
split_words (const char *text)
{
  g_autoptr(GPtrArray) pieces = g_ptr_array_new ();
  const char *start = text;

  for (const char *p = text; *p; p++)
    if (*p == ' ')
      {
        g_ptr_array_add (pieces, g_strndup (start, p + 1 - start));
        start = p + 1;
      }
  if (*start || pieces->len == 0)
    g_ptr_array_add (pieces, g_strdup (start));
  g_ptr_array_add (pieces, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&pieces), FALSE);
}

static void
text_reply (Ids *ids, const Request *req, const char *content,
            const char * const *pieces, Reply *reply)
{
  gsize chars = strlen (content);

  if (req->stream)
    {
      Sse sse;
      JsonObject *delta = json_object_new ();

      sse_begin (ids, req, &sse);
      json_object_set_string_member (delta, "role", "assistant");
      json_object_set_string_member (delta, "content", "");
      sse_chunk (&sse, delta, NULL, NULL);
      for (guint i = 0; pieces[i] != NULL; i++)
        {
          delta = json_object_new ();
          json_object_set_string_member (delta, "content", pieces[i]);
          sse_chunk (&sse, delta, NULL, NULL);
        }
      sse_end (&sse, req, "stop", chars, reply);
      return;
    }
  reply->kind = REPLY_FULL;
  reply->status = 200;
  reply->content_type = "application/json";
  reply->body = completion_json (ids, req, content, NULL, chars);
  reply->len = strlen (reply->body);
}

static void
tool_calls_reply (Ids *ids, const Request *req, JsonNode *spec, Reply *reply)
{
  gsize chars;

  if (req->stream)
    {
      Sse sse;
      JsonObject *delta = json_object_new ();

      sse_begin (ids, req, &sse);
      json_object_set_string_member (delta, "role", "assistant");
      json_object_set_null_member (delta, "content");
      json_object_set_array_member (delta, "tool_calls",
                                    build_tool_calls (ids, spec, TRUE, &chars));
      sse_chunk (&sse, delta, NULL, NULL);
      sse_end (&sse, req, "tool_calls", chars, reply);
      return;
    }
  {
    JsonArray *calls = build_tool_calls (ids, spec, FALSE, &chars);

    reply->kind = REPLY_FULL;
    reply->status = 200;
    reply->content_type = "application/json";
    reply->body = completion_json (ids, req, NULL, calls, chars);
    reply->len = strlen (reply->body);
  }
}

/* Builds the reply to @req from @a, with the ids reserved for it.  Outside
 * the lock: @a is the request's own (popped from the script, or a copy). */
static void
build_reply (Ids *ids, const Request *req, const Answer *a, Reply *reply)
{
  switch (a->kind)
    {
    case ANSWER_TEXT:
    case ANSWER_TRICKLE:
      {
        g_auto(GStrv) pieces = split_words (a->content);

        text_reply (ids, req, a->content, (const char * const *) pieces, reply);
        if (a->kind == ANSWER_TRICKLE)
          {
            reply->kind = REPLY_TRICKLE;
            reply->total_ms = a->total_ms;
          }
      }
      break;
    case ANSWER_STREAM:
      {
        g_autofree char *content = g_strjoinv ("", a->chunks);

        text_reply (ids, req, content, (const char * const *) a->chunks, reply);
      }
      break;
    case ANSWER_TOOL_CALLS:
      tool_calls_reply (ids, req, a->tool_calls, reply);
      break;
    case ANSWER_ERROR:
      if (a->body != NULL)
        {
          reply->kind = REPLY_FULL;
          reply->status = a->status;
          reply->content_type = "application/json";
          reply->body = g_strdup (a->body);
          reply->len = strlen (a->body);
        }
      else
        {
          g_autofree char *message = g_strdup_printf ("mock error %u: %s", a->status,
                                                      soup_status_get_phrase (a->status));

          reply_error (reply, a->status, message);
        }
      reply->retry_after = g_strdup (a->retry_after);
      break;
    case ANSWER_MALFORMED:
      {
        Request plain = *req;

        plain.stream = FALSE;
        reply->kind = REPLY_FULL;
        reply->status = 200;
        reply->content_type = "application/json";
        reply->body = completion_json (ids, &plain, "this answer is cut off halfway", NULL, 30);
        reply->len = strlen (reply->body) / 2;
        reply->body[reply->len] = '\0';
      }
      break;
    case ANSWER_DROP:
      reply->kind = REPLY_DROP;
      break;
    case ANSWER_RAW:
      reply->kind = REPLY_RAW;
      reply->raw = g_bytes_ref (a->raw);
      reply->hold = a->hold;
      break;
    default:
      g_assert_not_reached ();
    }
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

/* A message's content as text: a string, or the text parts of an array. */
static char *
message_text (JsonObject *message)
{
  JsonNode *content = json_object_get_member (message, "content");

  if (content == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE (content) && json_node_get_value_type (content) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (content));
  if (JSON_NODE_HOLDS_ARRAY (content))
    {
      JsonArray *parts = json_node_get_array (content);
      GString *text = g_string_new (NULL);

      for (guint i = 0; i < json_array_get_length (parts); i++)
        {
          JsonNode *part = json_array_get_element (parts, i);

          if (JSON_NODE_HOLDS_OBJECT (part))
            {
              const char *t = json_object_get_string_member_with_default (
                  json_node_get_object (part), "text", NULL);

              if (t != NULL)
                g_string_append (text, t);
            }
        }
      return g_string_free (text, FALSE);
    }
  return NULL;
}

static void
request_parse (JsonObject *root, Request *req)
{
  JsonNode *messages = json_object_get_member (root, "messages");
  JsonNode *options = json_object_get_member (root, "stream_options");
  JsonNode *stream = json_object_get_member (root, "stream");
  const char *model = json_object_get_string_member_with_default (root, "model", NULL);

  req->model = g_strdup (model ? model : WEFT_MOCK_MODEL);
  req->stream = stream && JSON_NODE_HOLDS_VALUE (stream)
                && json_node_get_value_type (stream) == G_TYPE_BOOLEAN
                && json_node_get_boolean (stream);
  if (options != NULL && JSON_NODE_HOLDS_OBJECT (options))
    {
      JsonNode *usage = json_object_get_member (json_node_get_object (options), "include_usage");

      req->include_usage = usage && JSON_NODE_HOLDS_VALUE (usage)
                           && json_node_get_value_type (usage) == G_TYPE_BOOLEAN
                           && json_node_get_boolean (usage);
    }
  if (messages == NULL || !JSON_NODE_HOLDS_ARRAY (messages))
    return;
  for (guint i = 0; i < json_array_get_length (json_node_get_array (messages)); i++)
    {
      JsonNode *node = json_array_get_element (json_node_get_array (messages), i);
      JsonObject *message;
      const char *role;
      g_autofree char *text = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      message = json_node_get_object (node);
      role = json_object_get_string_member_with_default (message, "role", "");
      text = message_text (message);
      if (text == NULL)
        continue;
      req->prompt_chars += strlen (text);
      if (g_str_equal (role, "user"))
        {
          g_free (req->last_user);
          req->last_user = g_strdup (text);
        }
      if (g_str_equal (role, "user") || g_str_equal (role, "tool"))
        {
          g_free (req->last_user_or_tool);
          req->last_user_or_tool = g_strdup (text);
        }
    }
}

/* ------------------------------------------------------------------ */
/* The timer                                                            */

static gint
timer_compare (gconstpointer a, gconstpointer b, gpointer data)
{
  const Pending *pa = a, *pb = b;

  if (pa->deadline != pb->deadline)
    return pa->deadline < pb->deadline ? -1 : 1;
  return pa->serial < pb->serial ? -1 : pa->serial > pb->serial;
}

static void
timer_rearm (Worker *w)
{
  if (g_sequence_is_empty (w->timers))
    g_source_set_ready_time (w->timer_source, -1);
  else
    {
      Pending *first = g_sequence_get (g_sequence_get_begin_iter (w->timers));

      g_source_set_ready_time (w->timer_source, first->deadline);
    }
}

static void
timer_add (Pending *p, gint64 deadline)
{
  Worker *w = p->worker;

  g_assert (p->timer_iter == NULL);
  p->deadline = deadline;
  p->serial = ++w->timer_serial;
  p->timer_iter = g_sequence_insert_sorted (w->timers, p, timer_compare, NULL);
  timer_rearm (w);
}

static void
timer_remove (Pending *p)
{
  if (p->timer_iter == NULL)
    return;
  g_sequence_remove (g_steal_pointer (&p->timer_iter));
  timer_rearm (p->worker);
}

static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  return callback (data);
}

static GSourceFuncs timer_funcs = { NULL, NULL, timer_dispatch, NULL, NULL, NULL };

/* ------------------------------------------------------------------ */
/* Answering                                                            */

static void
pending_unwatch (Pending *p)
{
  if (p->watch == NULL)
    return;
  g_source_destroy (p->watch);
  g_clear_pointer (&p->watch, g_source_unref);
}

static void
pending_free (gpointer data)
{
  Pending *p = data;

  pending_unwatch (p);
  if (p->raw_write != NULL)
    weft_mock_raw_write_cancel (g_steal_pointer (&p->raw_write));
  if (p->stolen != NULL)
    {
      g_io_stream_close (p->stolen, NULL, NULL);
      g_object_unref (p->stolen);
    }
  g_clear_pointer (&p->body, g_bytes_unref);
  g_free (p);
}

/* The request is answered (or its connection is gone). */
static void
pending_done (Pending *p)
{
  Worker *w = p->worker;

  timer_remove (p);
  pending_unwatch (p);
  if (p->msg != NULL && p->finished_id != 0)
    g_signal_handler_disconnect (p->msg, p->finished_id);
  p->finished_id = 0;
  p->msg = NULL;
  g_mutex_lock (&w->mock->lock);
  w->mock->in_flight--;
  g_mutex_unlock (&w->mock->lock);
  g_hash_table_remove (w->pending, p);
}

static void
on_finished (SoupServerMessage *msg, gpointer data)
{
  pending_done (data);
}

/* Sends the next piece of a trickled body. */
static void
trickle_next (Pending *p, gboolean in_handler)
{
  SoupMessageBody *body = soup_server_message_get_response_body (p->msg);
  gsize len = g_bytes_get_size (p->body);
  gsize n = MIN (p->piece, len - p->offset);

  if (n > 0)
    {
      g_autoptr(GBytes) piece = g_bytes_new_from_bytes (p->body, p->offset, n);

      soup_message_body_append_bytes (body, piece);
      p->offset += n;
    }
  if (p->offset >= len && p->chunked)
    soup_message_body_complete (body);
  if (!in_handler)
    soup_server_message_unpause (p->msg);
  if (p->offset < len)
    timer_add (p, g_get_monotonic_time () + p->interval_us);
}

static void
raw_done (gpointer data)
{
  Pending *p = data;

  p->raw_write = NULL;
  pending_done (p);
}

static void
raw_start (Pending *p)
{
  p->raw_write = weft_mock_raw_write_start (p->stolen, p->body, p->hold, raw_done, p);
}

/* A deadline came: the latency is over, or a trickle pause. */
static void
pending_step (Pending *p)
{
  switch (p->kind)
    {
    case REPLY_FULL:
      pending_unwatch (p);
      soup_server_message_unpause (p->msg);
      break;
    case REPLY_DROP:
      pending_done (p);
      break;
    case REPLY_TRICKLE:
      trickle_next (p, FALSE);
      break;
    case REPLY_RAW:
      raw_start (p);
      break;
    default:
      g_assert_not_reached ();
    }
}

static gboolean
on_timers (gpointer data)
{
  Worker *w = data;
  gint64 now = g_get_monotonic_time ();

  while (!g_sequence_is_empty (w->timers))
    {
      GSequenceIter *first = g_sequence_get_begin_iter (w->timers);
      Pending *p = g_sequence_get (first);

      if (p->deadline > now)
        break;
      g_sequence_remove (first);
      p->timer_iter = NULL;
      pending_step (p);
    }
  timer_rearm (w);
  return G_SOURCE_CONTINUE;
}

static void
set_status_and_headers (SoupServerMessage *msg, Reply *reply)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_server_message_set_status (msg, reply->status, NULL);
  if (reply->retry_after != NULL)
    soup_message_headers_replace (headers, "Retry-After", reply->retry_after);
  soup_message_headers_set_content_type (headers, reply->content_type, NULL);
  if (reply->chunked)
    {
      soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
      soup_message_headers_replace (headers, "Cache-Control", "no-cache");
    }
  else
    soup_message_headers_set_content_length (headers, reply->len);
}

/* The client's socket became readable while its answer waits: it can
 * only have closed (a client sends nothing more before its answer). */
static gboolean
on_client_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  Pending *p = data;
  char byte;
  gssize n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n <= 0 && !(n < 0 && errno == EAGAIN))
    {
      g_mutex_lock (&p->worker->mock->lock);
      p->worker->mock->n_abandoned++;
      g_mutex_unlock (&p->worker->mock->lock);
    }
  g_clear_pointer (&p->watch, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* Watches for the client going away while the answer waits (latency), so
 * that a test can tell a request was given up (weft_mock_llm_get_n_abandoned). */
static void
pending_watch (Pending *p, SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  GSocket *socket = remote ? g_object_get_data (G_OBJECT (remote), "weft-mock-socket") : NULL;

  if (socket == NULL)
    return;
  p->watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (p->watch, (GSourceFunc) (void (*) (void)) on_client_readable, p, NULL);
  g_source_attach (p->watch, p->worker->context);
}

static void
start_reply (Worker *w, SoupServerMessage *msg, Reply *reply, gint64 arrival, guint delay_ms)
{
  Pending *p = g_new0 (Pending, 1);

  p->worker = w;
  p->msg = msg;
  p->kind = reply->kind;
  g_hash_table_add (w->pending, p);

  switch (reply->kind)
    {
    case REPLY_DROP:
      p->stolen = soup_server_message_steal_connection (msg);
      p->msg = NULL;
      if (delay_ms > 0)
        timer_add (p, arrival + delay_ms * G_GINT64_CONSTANT (1000));
      else
        pending_done (p);
      return;

    case REPLY_RAW:
      p->stolen = soup_server_message_steal_connection (msg);
      p->msg = NULL;
      p->body = g_bytes_ref (reply->raw);
      p->hold = reply->hold;
      if (delay_ms > 0)
        timer_add (p, arrival + delay_ms * G_GINT64_CONSTANT (1000));
      else
        raw_start (p);
      return;

    case REPLY_FULL:
      set_status_and_headers (msg, reply);
      soup_message_body_append_take (soup_server_message_get_response_body (msg),
                                     (guchar *) g_steal_pointer (&reply->body), reply->len);
      if (reply->chunked)
        soup_message_body_complete (soup_server_message_get_response_body (msg));
      p->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_finished), p);
      if (delay_ms > 0)
        {
          soup_server_message_pause (msg);
          timer_add (p, arrival + delay_ms * G_GINT64_CONSTANT (1000));
          pending_watch (p, msg);
        }
      return;

    case REPLY_TRICKLE:
      {
        gsize len = reply->len;
        guint n = CLAMP (reply->total_ms / 20, 2, MAX (len, 1));

        set_status_and_headers (msg, reply);
        p->chunked = reply->chunked;
        p->body = g_bytes_new_take (g_steal_pointer (&reply->body), len);
        p->piece = MAX ((len + n - 1) / n, 1);
        n = (len + p->piece - 1) / p->piece;
        p->interval_us = n > 1 ? reply->total_ms * G_GINT64_CONSTANT (1000) / (n - 1) : 0;
        p->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_finished), p);
        if (delay_ms > 0)
          {
            soup_server_message_pause (msg);
            timer_add (p, arrival + delay_ms * G_GINT64_CONSTANT (1000));
          }
        else
          trickle_next (p, TRUE);
      }
      return;

    default:
      g_assert_not_reached ();
    }
}

static void
copy_header (const char *name, const char *value, gpointer data)
{
  soup_message_headers_append (data, name, value);
}

static Record *
record_new (SoupServerMessage *msg, const char *data, gsize len, gint64 time)
{
  Record *rec = g_new0 (Record, 1);

  rec->time = time;
  rec->body = g_strndup (data, len);
  rec->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_foreach (soup_server_message_get_request_headers (msg), copy_header,
                                rec->headers);
  return rec;
}

/* Under the lock: counts and records the request, draws its latency, and
 * chooses its answer (NULL: an echo) with the ids it will use. */
static Answer *
take_answer (WeftMockLlm *mock, const Request *req, gboolean valid, Record *rec, Ids *ids,
             guint *delay_ms)
{
  Answer *answer = NULL;

  mock->n_requests++;
  if (rec != NULL)
    g_ptr_array_add (mock->records, rec);
  mock->in_flight++;
  mock->max_in_flight = MAX (mock->max_in_flight, mock->in_flight);
  *delay_ms = mock->max_ms > mock->min_ms
              ? (guint) g_rand_int_range (mock->rand, (gint32) mock->min_ms, (gint32) mock->max_ms + 1)
              : mock->min_ms;
  if (!valid)
    return NULL;
  for (guint i = 0; answer == NULL && req->last_user_or_tool && i < mock->rules->len; i++)
    {
      Rule *rule = mock->rules->pdata[i];

      if (strstr (req->last_user_or_tool, rule->needle) != NULL)
        answer = answer_copy (rule->answer);
    }
  if (answer == NULL)
    answer = g_queue_pop_head (&mock->script);
  if (answer != NULL && answer->delay_ms >= 0)
    *delay_ms = (guint) answer->delay_ms;
  ids->completion = ++mock->next_completion_id;
  ids->call = mock->next_call_id;
  if (answer != NULL && answer->kind == ANSWER_TOOL_CALLS)
    mock->next_call_id += json_array_get_length (json_node_get_array (answer->tool_calls));
  return answer;
}

/* The reply to a chat completion's body (`rec`, when recording, takes the
 * request's place in the records), counted in flight, with its latency. */
static void
answer_body (WeftMockLlm *mock, const char *data, gsize len, Record *rec, Reply *reply,
             guint *delay_ms)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_auto(Request) req = { 0 };
  Answer *answer;
  Ids ids = { 0 };
  gboolean valid;

  valid = len > 0 && json_parser_load_from_data (parser, data, (gssize) len, NULL)
          && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser));
  if (valid)
    request_parse (json_node_get_object (json_parser_get_root (parser)), &req);

  g_mutex_lock (&mock->lock);
  answer = take_answer (mock, &req, valid, rec, &ids, delay_ms);
  g_mutex_unlock (&mock->lock);

  if (!valid)
    reply_error (reply, 400,
                 "We could not parse the JSON body of your request. (weft-mock-llm expects a "
                 "JSON object.)");
  else if (answer != NULL)
    {
      /* "{last}" in a text answer: the message it answers, quoted. */
      if (answer->content != NULL && strstr (answer->content, "{last}") != NULL)
        {
          g_auto(GStrv) parts = g_strsplit (answer->content, "{last}", -1);
          g_free (answer->content);
          answer->content = g_strjoinv (req.last_user_or_tool ? req.last_user_or_tool : "",
                                        parts);
        }
      build_reply (&ids, &req, answer, reply);
    }
  else
    {
      Answer echo = { .kind = ANSWER_TEXT };

      echo.content = g_strconcat ("echo: ", req.last_user ? req.last_user : "", NULL);
      build_reply (&ids, &req, &echo, reply);
      g_free (echo.content);
    }
  answer_free (answer);
}

static void
handle_chat (Worker *w, SoupServerMessage *msg)
{
  WeftMockLlm *mock = w->mock;
  g_autoptr(GBytes) bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_auto(Reply) reply = { 0 };
  gint64 arrival = g_get_monotonic_time ();
  Record *rec = NULL;
  gboolean recording;
  guint delay_ms;

  g_mutex_lock (&mock->lock);
  recording = mock->recording;
  g_mutex_unlock (&mock->lock);
  if (recording)
    rec = record_new (msg, data ? data : "", len, arrival);
  answer_body (mock, data, len, rec, &reply, &delay_ms);
  start_reply (w, msg, &reply, arrival, delay_ms);
}

/* ------------------------------------------------------------------ */
/* Answers without libsoup: for another transport (weft-mock-llm-epoll.c) */

static void raise_fd_limit (void);

WeftMockLlm *
weft_mock_llm_new_core (void)
{
  WeftMockLlm *mock = g_new0 (WeftMockLlm, 1);

  raise_fd_limit ();
  g_mutex_init (&mock->lock);
  g_mutex_init (&mock->start_lock);
  g_cond_init (&mock->start_cond);
  g_queue_init (&mock->script);
  mock->rules = g_ptr_array_new_with_free_func (rule_free);
  mock->records = g_ptr_array_new_with_free_func (record_free);
  mock->rand = g_rand_new ();
  return mock;
}

/* handle_chat's work without a SoupServerMessage; nothing is recorded. */
gboolean
weft_mock_llm_answer (WeftMockLlm *mock, const char *data, gsize len, WeftMockReply *out)
{
  g_auto(Reply) reply = { 0 };

  answer_body (mock, data, len, NULL, &reply, &out->delay_ms);
  if (reply.kind != REPLY_FULL)
    {
      g_clear_pointer (&reply.body, g_free);
      reply_error (&reply, 500, "this answer needs the libsoup mock (weft-mock-llm)");
    }
  out->status = reply.status;
  out->content_type = reply.content_type;
  out->body = g_steal_pointer (&reply.body);
  out->len = reply.len;
  out->retry_after = g_steal_pointer (&reply.retry_after);
  return reply.kind == REPLY_FULL;
}

void
weft_mock_llm_answered (WeftMockLlm *mock)
{
  g_mutex_lock (&mock->lock);
  mock->in_flight--;
  g_mutex_unlock (&mock->lock);
}

/* The body of GET /models. */
char *
weft_mock_llm_models_json (void)
{
  JsonObject *root = json_object_new ();
  JsonObject *model = json_object_new ();
  JsonArray *data = json_array_new ();

  json_object_set_string_member (model, "id", WEFT_MOCK_MODEL);
  json_object_set_string_member (model, "object", "model");
  json_object_set_int_member (model, "created", 1700000000);
  json_object_set_string_member (model, "owned_by", "weft");
  json_array_add_object_element (data, model);
  json_object_set_string_member (root, "object", "list");
  json_object_set_array_member (root, "data", data);
  return object_to_json (root);
}

static void
respond_now (SoupServerMessage *msg, guint status, char *body /* taken */)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, body,
                                    strlen (body));
}

static void
handle_models (SoupServerMessage *msg)
{
  respond_now (msg, 200, weft_mock_llm_models_json ());
}

static void
server_callback (SoupServer *server, SoupServerMessage *msg, const char *path,
                 GHashTable *query, gpointer data)
{
  Worker *w = data;
  const char *method = soup_server_message_get_method (msg);
  gboolean chat = g_str_equal (path, "/v1/chat/completions");
  gboolean models = g_str_equal (path, "/v1/models");

  if (chat && g_str_equal (method, "POST"))
    handle_chat (w, msg);
  else if (models && g_str_equal (method, "GET"))
    handle_models (msg);
  else if (chat || models)
    respond_now (msg, 405, error_body (405, "Method not allowed (weft-mock-llm)."));
  else
    {
      g_autofree char *message = g_strdup_printf ("Unknown URL: %s %s (weft-mock-llm).",
                                                  method, path);

      respond_now (msg, 404, error_body (404, message));
    }
}

/* ------------------------------------------------------------------ */
/* Accepting connections                                                */

static gboolean on_accept (GSocket *socket, GIOCondition condition, gpointer data);

static void
accept_watch (Worker *w)
{
  w->accept_source = g_socket_create_source (w->listener, G_IO_IN, NULL);
  g_source_set_callback (w->accept_source, G_SOURCE_FUNC (on_accept), w, NULL);
  g_source_attach (w->accept_source, w->context);
}

static gboolean
on_accept_retry (gpointer data)
{
  Worker *w = data;

  g_clear_pointer (&w->accept_retry, g_source_unref);
  accept_watch (w);
  return G_SOURCE_REMOVE;
}

static gboolean
on_accept (GSocket *socket, GIOCondition condition, gpointer data)
{
  Worker *w = data;

  for (guint i = 0; i < 1024; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) client = g_socket_accept (socket, NULL, &error);
      g_autoptr(GSocketConnection) connection = NULL;
      g_autoptr(GSocketAddress) local = NULL;
      g_autoptr(GSocketAddress) remote = NULL;

      if (client == NULL)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return G_SOURCE_CONTINUE;
          /* Out of file descriptors, most likely: the connection stays
           * queued; try again in a while rather than spin. */
          if (!w->accept_warned)
            g_warning ("weft-mock-llm: accept: %s", error->message);
          w->accept_warned = TRUE;
          g_clear_pointer (&w->accept_source, g_source_unref);
          w->accept_retry = g_timeout_source_new (20);
          g_source_set_callback (w->accept_retry, on_accept_retry, w, NULL);
          g_source_attach (w->accept_retry, w->context);
          return G_SOURCE_REMOVE;
        }
      g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
      connection = g_socket_connection_factory_create_connection (client);
      local = g_socket_get_local_address (client, NULL);
      remote = g_socket_get_remote_address (client, NULL);
      if (remote != NULL)
        g_object_set_data_full (G_OBJECT (remote), "weft-mock-socket", g_object_ref (client),
                                g_object_unref);
      w->next_server = (w->next_server + 1) % WEFT_MOCK_N_SERVERS;
      if (!soup_server_accept_iostream (w->servers[w->next_server],
                                        G_IO_STREAM (connection), local, remote, &error))
        g_warning ("weft-mock-llm: %s", error->message);
    }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* The workers                                                          */

/* An unused listener for `server` (see its caller for why). */
static gboolean
mock_add_idle_listener (SoupServer *server, guint i, GError **error)
{
  g_autofree char *name = g_strdup_printf ("weft-mock-llm-%d-%p-%u", (int) getpid (),
                                           (void *) server, i);
  g_autoptr(GSocketAddress) address =
    g_unix_socket_address_new_with_type (name, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, error);

  return socket != NULL
      && g_socket_bind (socket, address, TRUE, error)
      && g_socket_listen (socket, error)
      && soup_server_listen_socket (server, socket, 0, error);
}

/* On the worker's thread, its context pushed. */
static gboolean
worker_start (Worker *w, GError **error)
{
  for (guint i = 0; i < WEFT_MOCK_N_SERVERS; i++)
    {
      w->servers[i] = soup_server_new ("server-header", "weft-mock-llm ", NULL);
      soup_server_add_handler (w->servers[i], NULL, server_callback, w, NULL);
      /* libsoup 3.2's SoupServer keeps a connection alive only when it has
       * a listener of its own (request_finished checks them): an unused
       * one lets clients reuse their connections, as they would with a real
       * provider.  A Unix socket in the abstract namespace, so that it can
       * never take a TCP port another test expects to find closed. */
      if (!mock_add_idle_listener (w->servers[i], i, error))
        return FALSE;
    }
  w->timers = g_sequence_new (NULL);
  w->pending = g_hash_table_new_full (NULL, NULL, pending_free, NULL);
  w->timer_source = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_callback (w->timer_source, on_timers, w, NULL);
  g_source_attach (w->timer_source, w->context);
  accept_watch (w);
  return TRUE;
}

static void
worker_stop (Worker *w)
{
  GHashTableIter iter;
  gpointer key;

  if (w->accept_source != NULL)
    g_source_destroy (w->accept_source);
  g_clear_pointer (&w->accept_source, g_source_unref);
  if (w->accept_retry != NULL)
    g_source_destroy (w->accept_retry);
  g_clear_pointer (&w->accept_retry, g_source_unref);
  if (w->timer_source != NULL)
    g_source_destroy (w->timer_source);
  g_clear_pointer (&w->timer_source, g_source_unref);

  /* Answers still waiting: forget them (their connections close below). */
  if (w->pending != NULL)
    {
      g_hash_table_iter_init (&iter, w->pending);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          Pending *p = key;

          if (p->msg != NULL && p->finished_id != 0)
            g_signal_handler_disconnect (p->msg, p->finished_id);
          p->timer_iter = NULL;
        }
      g_hash_table_remove_all (w->pending);
    }
  g_clear_pointer (&w->timers, g_sequence_free);

  for (guint i = 0; i < WEFT_MOCK_N_SERVERS; i++)
    {
      if (w->servers[i] != NULL)
        soup_server_disconnect (w->servers[i]);
      g_clear_object (&w->servers[i]);
    }
}

/* One iteration over all of a thread's contexts: prepare and query each,
 * one poll() for all, then check and dispatch each, with its context as
 * the thread's default (libsoup attaches the sources it makes there). */
static void
thread_iterate (MockThread *t)
{
  gint timeout = -1;
  guint total = 0;

  for (guint i = 0; i < t->n_workers; i++)
    {
      Worker *w = &t->workers[i];
      gint w_timeout = -1, n;

      if (g_main_context_prepare (w->context, &w->max_priority))
        timeout = 0;
      for (;;)
        {
          guint room = t->fds->len - total;

          n = g_main_context_query (w->context, w->max_priority, &w_timeout,
                                    &g_array_index (t->fds, GPollFD, total), (gint) room);
          if ((guint) n <= room)
            break;
          g_array_set_size (t->fds, total + (guint) n + 64);
        }
      w->fds_offset = total;
      w->n_fds = (guint) n;
      total += (guint) n;
      if (w_timeout >= 0 && (timeout < 0 || w_timeout < timeout))
        timeout = w_timeout;
    }
  g_poll (&g_array_index (t->fds, GPollFD, 0), total, timeout);
  for (guint i = 0; i < t->n_workers; i++)
    {
      Worker *w = &t->workers[i];

      if (!g_main_context_check (w->context, w->max_priority,
                                 &g_array_index (t->fds, GPollFD, w->fds_offset), (gint) w->n_fds))
        continue;
      g_main_context_push_thread_default (w->context);
      g_main_context_dispatch (w->context);
      g_main_context_pop_thread_default (w->context);
    }
}

static gpointer
mock_thread (gpointer data)
{
  MockThread *t = data;
  WeftMockLlm *mock = t->mock;
  GError *error = NULL;
  gboolean ok = TRUE;

  for (guint i = 0; i < t->n_workers; i++)
    {
      Worker *w = &t->workers[i];

      g_main_context_acquire (w->context);
      g_main_context_push_thread_default (w->context);
      ok = ok && worker_start (w, &error);
      g_main_context_pop_thread_default (w->context);
    }

  g_mutex_lock (&mock->start_lock);
  if (error != NULL && mock->start_error == NULL)
    mock->start_error = g_steal_pointer (&error);
  g_clear_error (&error);
  mock->n_started++;
  g_cond_signal (&mock->start_cond);
  g_mutex_unlock (&mock->start_lock);

  while (ok && !g_atomic_int_get (&t->quit))
    thread_iterate (t);

  for (guint i = 0; i < t->n_workers; i++)
    {
      Worker *w = &t->workers[i];

      g_main_context_push_thread_default (w->context);
      worker_stop (w);
      while (g_main_context_iteration (w->context, FALSE))
        ;
      g_clear_pointer (&w->pending, g_hash_table_unref);
      g_main_context_pop_thread_default (w->context);
      g_main_context_release (w->context);
    }
  return NULL;
}

/* A listening socket on 127.0.0.1:port, SO_REUSEPORT so that every worker
 * may have one on the same port. */
static GSocket *
listener_new (guint port, GError **error)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, error);

  struct sockaddr_storage native;
  gsize native_len = g_socket_address_get_native_size (address);

  if (socket == NULL
      || !g_socket_set_option (socket, SOL_SOCKET, SO_REUSEADDR, TRUE, error)
      || !g_socket_set_option (socket, SOL_SOCKET, SO_REUSEPORT, TRUE, error)
      || !g_socket_address_to_native (address, &native, sizeof native, error))
    return NULL;
  /* Not g_socket_bind(): it turns SO_REUSEPORT off for a TCP socket. */
  if (bind (g_socket_get_fd (socket), (struct sockaddr *) &native, (socklen_t) native_len) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot bind 127.0.0.1:%u: %s", port, g_strerror (saved));
      return NULL;
    }
  g_socket_set_blocking (socket, FALSE);
  /* The kernel caps it at net.core.somaxconn. */
  g_socket_set_listen_backlog (socket, 65535);
  if (!g_socket_listen (socket, error))
    return NULL;
  return g_steal_pointer (&socket);
}

/* Every worker's listener, on `port` (0: a free one, the first's). */
static gboolean
mock_listen (WeftMockLlm *mock, guint port, GError **error)
{
  for (guint i = 0; i < mock->n_workers; i++)
    {
      mock->workers[i].listener = listener_new (port, error);
      if (mock->workers[i].listener == NULL)
        return FALSE;
      if (i == 0)
        {
          g_autoptr(GSocketAddress) bound = g_socket_get_local_address (mock->workers[0].listener,
                                                                        error);
          if (bound == NULL)
            return FALSE;
          port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
        }
    }
  mock->port = port;
  mock->base_url = g_strdup_printf ("http://127.0.0.1:%u/v1", mock->port);
  return TRUE;
}

static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0 && limit.rlim_max > 1048576)
    {
      limit.rlim_cur = 1048576;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
}

/* Stops and joins the threads that were started. */
static void
mock_stop_threads (WeftMockLlm *mock)
{
  for (guint i = 0; i < mock->n_threads; i++)
    {
      MockThread *t = &mock->threads[i];

      if (t->thread == NULL)
        continue;
      g_atomic_int_set (&t->quit, TRUE);
      g_main_context_wakeup (t->workers[0].context);
      g_thread_join (g_steal_pointer (&t->thread));
    }
}

static void
mock_destroy (WeftMockLlm *mock)
{
  for (guint i = 0; i < mock->n_workers; i++)
    {
      Worker *w = &mock->workers[i];

      if (w->listener != NULL)
        g_socket_close (w->listener, NULL);
      g_clear_object (&w->listener);
      g_main_context_unref (w->context);
    }
  for (guint i = 0; i < mock->n_threads; i++)
    g_array_unref (mock->threads[i].fds);
  g_free (mock->threads);
  g_free (mock->workers);
  g_queue_clear_full (&mock->script, (GDestroyNotify) answer_free);
  g_ptr_array_unref (mock->rules);
  g_ptr_array_unref (mock->records);
  g_rand_free (mock->rand);
  g_free (mock->base_url);
  g_clear_error (&mock->start_error);
  g_mutex_clear (&mock->lock);
  g_mutex_clear (&mock->start_lock);
  g_cond_clear (&mock->start_cond);
  g_free (mock);
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */

WeftMockLlm *
weft_mock_llm_new_full (guint port, guint n_threads, GError **error)
{
  WeftMockLlm *mock;

  g_return_val_if_fail (port <= 65535, NULL);
  g_return_val_if_fail (n_threads <= 256, NULL);

  mock = weft_mock_llm_new_core ();
  mock->recording = TRUE;
  mock->n_threads = n_threads > 0 ? n_threads : g_get_num_processors ();
  mock->n_workers = mock->n_threads * WEFT_MOCK_CONTEXTS_PER_THREAD;
  mock->workers = g_new0 (Worker, mock->n_workers);
  mock->threads = g_new0 (MockThread, mock->n_threads);
  for (guint i = 0; i < mock->n_workers; i++)
    {
      mock->workers[i].mock = mock;
      mock->workers[i].context = g_main_context_new ();
    }
  for (guint i = 0; i < mock->n_threads; i++)
    {
      mock->threads[i].mock = mock;
      mock->threads[i].workers = &mock->workers[i * WEFT_MOCK_CONTEXTS_PER_THREAD];
      mock->threads[i].n_workers = WEFT_MOCK_CONTEXTS_PER_THREAD;
      mock->threads[i].fds = g_array_sized_new (FALSE, TRUE, sizeof (GPollFD), 256);
      g_array_set_size (mock->threads[i].fds, 256);
    }

  if (mock_listen (mock, port, &mock->start_error))
    {
      for (guint i = 0; i < mock->n_threads; i++)
        mock->threads[i].thread = g_thread_new ("weft-mock-llm", mock_thread, &mock->threads[i]);
      g_mutex_lock (&mock->start_lock);
      while (mock->n_started < mock->n_threads)
        g_cond_wait (&mock->start_cond, &mock->start_lock);
      g_mutex_unlock (&mock->start_lock);
    }

  if (mock->start_error != NULL)
    {
      mock_stop_threads (mock);
      g_propagate_prefixed_error (error, g_steal_pointer (&mock->start_error),
                                  "weft-mock-llm: cannot listen on 127.0.0.1:%u: ", port);
      mock_destroy (mock);
      return NULL;
    }
  return mock;
}

WeftMockLlm *
weft_mock_llm_new_on_port (guint port, GError **error)
{
  return weft_mock_llm_new_full (port, 1, error);
}

WeftMockLlm *
weft_mock_llm_new (GError **error)
{
  return weft_mock_llm_new_full (0, 1, error);
}

void
weft_mock_llm_free (WeftMockLlm *mock)
{
  if (mock == NULL)
    return;
  mock_stop_threads (mock);
  mock_destroy (mock);
}

void
weft_mock_llm_set_recording (WeftMockLlm *mock, gboolean recording)
{
  g_return_if_fail (mock != NULL);
  g_mutex_lock (&mock->lock);
  mock->recording = recording;
  g_mutex_unlock (&mock->lock);
}

const char *
weft_mock_llm_get_base_url (WeftMockLlm *mock)
{
  g_return_val_if_fail (mock != NULL, NULL);
  return mock->base_url;
}

guint
weft_mock_llm_get_port (WeftMockLlm *mock)
{
  g_return_val_if_fail (mock != NULL, 0);
  return mock->port;
}

void
weft_mock_llm_set_latency (WeftMockLlm *mock, guint min_ms, guint max_ms)
{
  g_return_if_fail (mock != NULL);
  g_return_if_fail (min_ms <= G_MAXINT32 / 2 && max_ms <= G_MAXINT32 / 2);
  g_mutex_lock (&mock->lock);
  mock->min_ms = min_ms;
  mock->max_ms = MAX (min_ms, max_ms);
  g_mutex_unlock (&mock->lock);
}

static void
push (WeftMockLlm *mock, Answer *answer)
{
  g_mutex_lock (&mock->lock);
  g_queue_push_tail (&mock->script, answer);
  g_mutex_unlock (&mock->lock);
}

void
weft_mock_llm_push_text (WeftMockLlm *mock, const char *content)
{
  Answer *a;

  g_return_if_fail (mock != NULL && content != NULL);
  a = answer_new (ANSWER_TEXT);
  a->content = g_strdup (content);
  push (mock, a);
}

void
weft_mock_llm_push_tool_calls (WeftMockLlm *mock, const char *tool_calls_json)
{
  Answer *a;

  g_return_if_fail (mock != NULL && tool_calls_json != NULL);
  a = answer_new (ANSWER_TOOL_CALLS);
  a->tool_calls = parse_tool_calls (tool_calls_json);
  push (mock, a);
}

void
weft_mock_llm_push_stream (WeftMockLlm *mock, const char * const *chunks)
{
  Answer *a;

  g_return_if_fail (mock != NULL && chunks != NULL);
  a = answer_new (ANSWER_STREAM);
  a->chunks = g_strdupv ((char **) chunks);
  push (mock, a);
}

void
weft_mock_llm_push_error (WeftMockLlm *mock, guint status, const char *retry_after,
                          const char *body)
{
  Answer *a;

  g_return_if_fail (mock != NULL && status >= 100 && status < 600);
  a = answer_new (ANSWER_ERROR);
  a->status = status;
  a->retry_after = g_strdup (retry_after);
  a->body = g_strdup (body);
  push (mock, a);
}

void
weft_mock_llm_push_malformed (WeftMockLlm *mock)
{
  g_return_if_fail (mock != NULL);
  push (mock, answer_new (ANSWER_MALFORMED));
}

void
weft_mock_llm_push_drop (WeftMockLlm *mock)
{
  g_return_if_fail (mock != NULL);
  push (mock, answer_new (ANSWER_DROP));
}

void
weft_mock_llm_push_trickle (WeftMockLlm *mock, const char *content, guint total_ms)
{
  Answer *a;

  g_return_if_fail (mock != NULL && content != NULL);
  a = answer_new (ANSWER_TRICKLE);
  a->content = g_strdup (content);
  a->total_ms = total_ms;
  push (mock, a);
}

void
weft_mock_llm_push_raw (WeftMockLlm *mock, guint status, const char *content_type,
                        const char *body, gssize length, gssize declared,
                        WeftMockLlmRawFlags flags)
{
  Answer *a;
  gsize n;

  g_return_if_fail (mock != NULL && status >= 100 && status <= 999);
  g_return_if_fail (body != NULL || length == 0);
  g_return_if_fail (declared >= -1 || declared == WEFT_MOCK_LLM_NO_LENGTH);
  n = length < 0 ? strlen (body) : (gsize) length;
  a = answer_new (ANSWER_RAW);
  a->raw = weft_mock_raw_response (status, content_type, body, n, declared);
  a->hold = (flags & WEFT_MOCK_LLM_RAW_HOLD) != 0;
  push (mock, a);
}

static void
add_rule (WeftMockLlm *mock, const char *needle, Answer *answer)
{
  Rule *rule = g_new0 (Rule, 1);

  rule->needle = g_strdup (needle);
  rule->answer = answer;
  g_mutex_lock (&mock->lock);
  g_ptr_array_add (mock->rules, rule);
  g_mutex_unlock (&mock->lock);
}

void
weft_mock_llm_add_text_rule (WeftMockLlm *mock, const char *needle, const char *content)
{
  Answer *a;

  g_return_if_fail (mock != NULL && needle != NULL && content != NULL);
  a = answer_new (ANSWER_TEXT);
  a->content = g_strdup (content);
  add_rule (mock, needle, a);
}

void
weft_mock_llm_add_text_rule_delayed (WeftMockLlm *mock, const char *needle, const char *content,
                                     guint delay_ms)
{
  Answer *a;

  g_return_if_fail (mock != NULL && needle != NULL && content != NULL);
  a = answer_new (ANSWER_TEXT);
  a->content = g_strdup (content);
  a->delay_ms = (gint) MIN (delay_ms, (guint) G_MAXINT);
  add_rule (mock, needle, a);
}

guint
weft_mock_llm_get_n_abandoned (WeftMockLlm *mock)
{
  guint n;

  g_mutex_lock (&mock->lock);
  n = mock->n_abandoned;
  g_mutex_unlock (&mock->lock);
  return n;
}

void
weft_mock_llm_add_tool_rule (WeftMockLlm *mock, const char *needle, const char *tool_calls_json)
{
  Answer *a;

  g_return_if_fail (mock != NULL && needle != NULL && tool_calls_json != NULL);
  a = answer_new (ANSWER_TOOL_CALLS);
  a->tool_calls = parse_tool_calls (tool_calls_json);
  add_rule (mock, needle, a);
}

guint
weft_mock_llm_get_n_requests (WeftMockLlm *mock)
{
  guint n;

  g_return_val_if_fail (mock != NULL, 0);
  g_mutex_lock (&mock->lock);
  n = mock->n_requests;
  g_mutex_unlock (&mock->lock);
  return n;
}

char *
weft_mock_llm_dup_request_body (WeftMockLlm *mock, guint i)
{
  char *body = NULL;

  g_return_val_if_fail (mock != NULL, NULL);
  g_mutex_lock (&mock->lock);
  if (i < mock->records->len)
    body = g_strdup (((Record *) mock->records->pdata[i])->body);
  g_mutex_unlock (&mock->lock);
  if (body == NULL)
    g_critical ("weft_mock_llm_dup_request_body: no request %u", i);
  return body;
}

char *
weft_mock_llm_dup_request_header (WeftMockLlm *mock, guint i, const char *name)
{
  char *value = NULL;

  g_return_val_if_fail (mock != NULL && name != NULL, NULL);
  g_mutex_lock (&mock->lock);
  if (i < mock->records->len)
    value = g_strdup (soup_message_headers_get_list (
        ((Record *) mock->records->pdata[i])->headers, name));
  else
    g_critical ("weft_mock_llm_dup_request_header: no request %u", i);
  g_mutex_unlock (&mock->lock);
  return value;
}

gint64
weft_mock_llm_get_request_time (WeftMockLlm *mock, guint i)
{
  gint64 time = 0;

  g_return_val_if_fail (mock != NULL, 0);
  g_mutex_lock (&mock->lock);
  if (i < mock->records->len)
    time = ((Record *) mock->records->pdata[i])->time;
  else
    g_critical ("weft_mock_llm_get_request_time: no request %u", i);
  g_mutex_unlock (&mock->lock);
  return time;
}

guint
weft_mock_llm_get_in_flight (WeftMockLlm *mock)
{
  guint n;

  g_return_val_if_fail (mock != NULL, 0);
  g_mutex_lock (&mock->lock);
  n = mock->in_flight;
  g_mutex_unlock (&mock->lock);
  return n;
}

guint
weft_mock_llm_get_max_in_flight (WeftMockLlm *mock)
{
  guint n;

  g_return_val_if_fail (mock != NULL, 0);
  g_mutex_lock (&mock->lock);
  n = mock->max_in_flight;
  g_mutex_unlock (&mock->lock);
  return n;
}

void
weft_mock_llm_reset (WeftMockLlm *mock)
{
  g_return_if_fail (mock != NULL);
  g_mutex_lock (&mock->lock);
  g_queue_clear_full (&mock->script, (GDestroyNotify) answer_free);
  g_ptr_array_set_size (mock->rules, 0);
  g_ptr_array_set_size (mock->records, 0);
  mock->n_requests = 0;
  mock->max_in_flight = mock->in_flight;
  mock->min_ms = mock->max_ms = 0;
  g_mutex_unlock (&mock->lock);
}
