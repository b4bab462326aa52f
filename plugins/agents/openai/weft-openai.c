/* weft-openai.c — an agent that speaks the OpenAI chat-completions protocol
 * (OpenAI, Ollama, vLLM, llama.cpp's server, LocalAI, ...).
 *
 * Async: run() is called on the engine loop and returns at once; every
 * request goes through the engine's HTTP client (weft_task_http_send),
 * whose I/O thread waits for all of them at once, so ten thousand tasks
 * waiting on a model hold no thread of their own.  A task is a conversation:
 * ask, run the tool calls the model asks for (all at once, on the worker
 * pool), ask again with their results, until the model answers in words;
 * then, with response_format, check the answer against the schema.
 * In a thread's turn (converse()) a task is one request instead: the
 * thread's history in, the assistant's message (its tool calls included)
 * out; weft-openai-chat.c makes the request's messages.
 *
 * Threads: create() runs on whichever thread loads the flow, destroy() on
 * whichever drops it; everything else (run, HTTP callbacks, tool
 * callbacks, the task's cancellation) runs on the engine loop, so a job
 * is only ever touched by that one thread.
 */
#include "weft-openai.h"

#include <string.h>
#include <sys/resource.h>

typedef struct {
  WeftOpenaiClient *client;    /* shared with exchanges still in flight */
  char *model;
  gboolean has_temperature;
  double temperature;
  gint64 max_tokens;           /* 0 when not set */
  char *system;                /* the system message, or NULL */
  char *schema;                /* response_format's schema as JSON, or NULL */
  guint max_iterations;
  gboolean stream;
  gboolean stream_usage;       /* ask a stream for its usage (max_tpm, prices) */
  WeftOpenaiPrice price;       /* the model's row of `prices` */
} WeftOpenai;

/* The options, as weft binds them (see weft_openai_options). */
typedef struct {
  const char *base_url;
  const char *api_key;
  const char *model;
  double temperature;
  gint64 max_tokens;           /* 0 when not given */
  const char *role;
  const char *goal;
  const char *backstory;
  const char *system;
  double timeout_s;
  gint64 max_iterations;
  JsonObject *response_format;
  gboolean stream;
  JsonObject *headers;
  gint64 max_retries;
  gint64 retry_base_ms;
  gint64 max_rpm;
  gint64 max_tpm;
  gint64 max_concurrency;
  gint64 max_response_bytes;
  JsonObject *prices;
} WeftOpenaiOptions;

#define WEFT_OPENAI_OPTION(field) .name = #field, .offset = offsetof (WeftOpenaiOptions, field)

static const WeftOption weft_openai_options[] = {
  { WEFT_OPENAI_OPTION (base_url), .type = WEFT_OPTION_STRING,
    .default_json = "\"https://api.openai.com/v1\"",
    .description = "the API's base URL (chat completions are POSTed to BASE/chat/completions)" },
  { WEFT_OPENAI_OPTION (api_key), .type = WEFT_OPTION_STRING,
    .description = "sent as \"Authorization: Bearer KEY\"; normally \"${OPENAI_API_KEY}\"; none "
                   "for local servers" },
  { WEFT_OPENAI_OPTION (model), .type = WEFT_OPTION_STRING, .required = TRUE,
    .description = "the model's name, e.g. gpt-4o-mini" },
  { WEFT_OPENAI_OPTION (temperature), .type = WEFT_OPTION_DOUBLE,
    .description = "sampling temperature (the server's default if unset)" },
  { WEFT_OPENAI_OPTION (max_tokens), .type = WEFT_OPTION_INT, .min = 1, .max = G_MAXINT32,
    .description = "most tokens in one answer (the server's default if unset)" },
  { WEFT_OPENAI_OPTION (role), .type = WEFT_OPTION_STRING,
    .description = "who the agent is: \"You are ROLE.\" in the system message" },
  { WEFT_OPENAI_OPTION (goal), .type = WEFT_OPTION_STRING,
    .description = "\"Your personal goal is: GOAL\" in the system message" },
  { WEFT_OPENAI_OPTION (backstory), .type = WEFT_OPTION_STRING,
    .description = "follows the role in the system message" },
  { WEFT_OPENAI_OPTION (system), .type = WEFT_OPTION_STRING,
    .description = "more system-message text, after role, backstory and goal" },
  { WEFT_OPENAI_OPTION (timeout_s), .type = WEFT_OPTION_DOUBLE, .default_json = "120",
    .min = 0, .max = 86400,
    .description = "seconds one HTTP request may take (0: no limit)" },
  { WEFT_OPENAI_OPTION (max_iterations), .type = WEFT_OPTION_INT, .default_json = "10",
    .min = 1, .max = 1000,
    .description = "most requests per task; the task fails if the last answer still calls "
                   "tools" },
  { WEFT_OPENAI_OPTION (response_format), .type = WEFT_OPTION_OBJECT,
    .description = "a JSON schema the answer must match (structured output; retried once, "
                   "then fails)" },
  { WEFT_OPENAI_OPTION (stream), .type = WEFT_OPTION_BOOL, .default_json = "false",
    .description = "stream the answer; each piece is a task.step \"chunk\" event" },
  { WEFT_OPENAI_OPTION (headers), .type = WEFT_OPTION_OBJECT, .default_json = "{}",
    .description = "extra request headers, name: value" },
  { WEFT_OPENAI_OPTION (max_retries), .type = WEFT_OPTION_INT, .default_json = "5",
    .min = 0, .max = 100,
    .description = "retries of one request on 429, 5xx and broken connections (not when "
                   "nothing answers at base_url)" },
  { WEFT_OPENAI_OPTION (retry_base_ms), .type = WEFT_OPTION_INT, .default_json = "500",
    .min = 0, .max = 600000,
    .description = "backoff: retry n waits a random time up to retry_base_ms * 2^n" },
  { WEFT_OPENAI_OPTION (max_rpm), .type = WEFT_OPTION_INT, .default_json = "0",
    .min = 0, .max = G_MAXINT32,
    .description = "requests per minute for this agent, all runs together (0: no limit)" },
  { WEFT_OPENAI_OPTION (max_tpm), .type = WEFT_OPTION_INT, .default_json = "0",
    .min = 0, .max = G_MAXINT32,
    .description = "tokens per minute for this agent, all runs together (0: no limit)" },
  { WEFT_OPENAI_OPTION (max_concurrency), .type = WEFT_OPTION_INT, .default_json = "0",
    .min = 0, .max = G_MAXINT32,
    .description = "requests in flight for this agent at once (0: as many as 3/4 of the "
                   "open-file limit allows)" },
  { WEFT_OPENAI_OPTION (max_response_bytes), .type = WEFT_OPTION_INT,
    .default_json = "8388608", .min = 1024, .max = 1 << 30,
    .description = "the largest answer read, streamed or not (1024 to 1 GiB; default 8 MiB): a "
                   "larger one fails the task" },
  { WEFT_OPENAI_OPTION (prices), .type = WEFT_OPTION_OBJECT,
    .description = "model: {\"input\": N, \"output\": N}, per million tokens: each answer's cost "
                   "is reported with its tokens (a stream is then asked for its usage)" },
  WEFT_OPTION_END
};

static void
weft_openai_free (WeftOpenai *self)
{
  weft_openai_client_unref (self->client);
  g_free (self->model);
  g_free (self->system);
  g_free (self->schema);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftOpenai, weft_openai_free)

/* ------------------------------------------------------------------------ */
/* create                                                                   */

/* An option's text, or NULL when it is not given or empty. */
static const char *
weft_openai_nonempty (const char *value)
{
  return value != NULL && value[0] != '\0' ? value : NULL;
}

/* CrewAI's wording: "You are {role}. {backstory}\nYour personal goal is:
 * {goal}", then the `system` text; NULL when there is nothing to say. */
static char *
weft_openai_system_text (const WeftOpenaiOptions *options)
{
  const char *role = weft_openai_nonempty (options->role);
  const char *backstory = weft_openai_nonempty (options->backstory);
  const char *goal = weft_openai_nonempty (options->goal);
  const char *system = weft_openai_nonempty (options->system);
  GString *text = g_string_new (NULL);

  if (role != NULL)
    g_string_append_printf (text, "You are %s.", role);
  if (backstory != NULL)
    g_string_append_printf (text, "%s%s", text->len ? " " : "", backstory);
  if (goal != NULL)
    g_string_append_printf (text, "%sYour personal goal is: %s", text->len ? "\n" : "", goal);
  if (system != NULL)
    g_string_append_printf (text, "%s%s", text->len ? "\n\n" : "", system);
  if (text->len == 0)
    {
      g_string_free (text, TRUE);
      return NULL;
    }
  return g_string_free (text, FALSE);
}

/* Extra headers: every value must be a string. */
static gboolean
weft_openai_read_headers (JsonObject *headers, WeftOpenaiClient *client, GError **error)
{
  g_autoptr(GList) names = headers ? json_object_get_members (headers) : NULL;
  g_autoptr(GStrvBuilder) n = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) v = g_strv_builder_new ();

  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (headers, l->data);
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING
          || !g_utf8_validate (l->data, -1, NULL) || strpbrk (l->data, ":\r\n ") != NULL
          || strpbrk (json_node_get_string (value), "\r\n") != NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"headers\": \"%s\" must be a header name with a one-line string value",
                       (const char *) l->data);
          return FALSE;
        }
      g_strv_builder_add (n, l->data);
      g_strv_builder_add (v, json_node_get_string (value));
    }
  client->header_names = g_strv_builder_end (n);
  client->header_values = g_strv_builder_end (v);
  return TRUE;
}

/* Each request in flight holds a connection, so a file descriptor: never
 * more than three quarters of the process's (soft) RLIMIT_NOFILE at once,
 * read when the agent is made.  A library does not raise that limit behind
 * its host's back; a program that wants thousands of requests in flight
 * raises it (ulimit -n, or setrlimit before loading the flow). */
static gint64
weft_openai_fd_budget (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return 0;
  return MAX (16, (gint64) (limit.rlim_cur / 4 * 3));
}

static WeftOpenaiClient *
weft_openai_client_new (const WeftOpenaiOptions *options, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  WeftOpenaiClient *client = g_new0 (WeftOpenaiClient, 1);
  g_autofree char *base = g_strdup (options->base_url);

  g_atomic_ref_count_init (&client->ref_count);
  while (g_str_has_suffix (base, "/"))
    base[strlen (base) - 1] = '\0';
  client->base_url = g_steal_pointer (&base);
  client->url = g_strconcat (client->base_url, "/chat/completions", NULL);
  client->api_key = g_strdup (weft_openai_nonempty (options->api_key));
  client->timeout_ms = (guint) (options->timeout_s * 1000);
  client->max_retries = (guint) options->max_retries;
  client->retry_base_ms = (guint) options->retry_base_ms;
  client->stream = options->stream;
  client->max_tokens = options->max_tokens;
  client->max_response_bytes = (gsize) options->max_response_bytes;
  client->limiter = weft_openai_limiter_new (options->max_rpm, options->max_tpm,
                                             options->max_concurrency);
  weft_openai_limiter_cap_concurrency (client->limiter, weft_openai_fd_budget ());
  uri = g_uri_parse (client->url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0
                      && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"base_url\": \"%s\" is not an http:// or https:// URL", client->base_url);
      weft_openai_client_unref (client);
      return NULL;
    }
  if (!weft_openai_read_headers (options->headers, client, error))
    g_clear_pointer (&client, weft_openai_client_unref);
  return client;
}

static gpointer
weft_openai_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftOpenai) self = g_new0 (WeftOpenai, 1);
  const WeftOpenaiOptions *options = weft_config_get_options (config);

  self->client = weft_openai_client_new (options, error);
  if (self->client == NULL)
    return NULL;
  self->model = g_strdup (options->model);
  /* 0 is a temperature too: only the flow's saying so sends one. */
  self->has_temperature = weft_config_is_given (config, &options->temperature);
  self->temperature = options->temperature;
  self->max_tokens = self->client->max_tokens;
  self->system = weft_openai_system_text (options);
  self->max_iterations = (guint) options->max_iterations;
  self->stream = self->client->stream;
  if (!weft_openai_price_find (options->prices, self->model, &self->price, error))
    return NULL;
  /* Some servers refuse stream_options: it is asked for only when needed. */
  self->stream_usage = self->stream && (options->max_tpm > 0 || self->price.known);
  /* Kept as text: the config's json-glib objects must not be shared with
   * the engine loop, and each task parses its own copy. */
  if (options->response_format != NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (),
                                                        options->response_format);
      self->schema = json_to_string (node, FALSE);
    }
  return g_steal_pointer (&self);
}

/* Any thread.  Exchanges still finishing (one waiting for its backoff
 * timer to be dropped) keep the client, and so the limiter, alive. */
static void
weft_openai_destroy (gpointer instance)
{
  weft_openai_free (instance);
}

/* ------------------------------------------------------------------------ */
/* A task: one conversation                                                 */

typedef struct {
  gatomicrefcount ref_count;
  WeftOpenai *self;            /* valid until the task is returned */
  WeftTask *task;              /* NULL once returned */
  GMainContext *context;
  GCancellable *cancellable;   /* the task's */
  gulong cancelled_id;         /* its handler, until the task is returned */
  WeftOpenaiExchange *exchange; /* the request in flight, or NULL */
  JsonArray *messages;         /* the conversation so far */
  JsonArray *tools;            /* function definitions, or NULL */
  JsonNode *schema;            /* response_format, parsed, or NULL */
  guint asked;                 /* requests made */
  gboolean corrected;          /* the schema's one corrective retry is used */
  JsonObject *calling;         /* the assistant message whose tools run */
  char **results;              /* one per tool call of `calling` */
  guint pending;               /* tool calls not back yet */
  gboolean converse;           /* a thread's model step: the message is the answer */
} WeftOpenaiJob;

typedef struct {
  WeftOpenaiJob *job;
  guint index;
} WeftOpenaiSlot;

static WeftOpenaiJob *
weft_openai_job_ref (WeftOpenaiJob *job)
{
  g_atomic_ref_count_inc (&job->ref_count);
  return job;
}

static void
weft_openai_job_unref (WeftOpenaiJob *job)
{
  if (!g_atomic_ref_count_dec (&job->ref_count))
    return;
  g_main_context_unref (job->context);
  g_object_unref (job->cancellable);
  json_array_unref (job->messages);
  g_clear_pointer (&job->tools, json_array_unref);
  g_clear_pointer (&job->schema, json_node_unref);
  g_clear_pointer (&job->calling, json_object_unref);
  g_strfreev (job->results);
  g_free (job);
}

/* Returns the task, once: whoever comes second finds `task` NULL.  All
 * callers run on the engine loop, so a plain check is enough. */
static void
weft_openai_job_return (WeftOpenaiJob *job, const char *output, JsonObject *message,
                        GError *error)
{
  WeftTask *task = g_steal_pointer (&job->task);

  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }
  /* Waits for the handler, should it be running on another thread now. */
  g_cancellable_disconnect (job->cancellable, job->cancelled_id);
  job->cancelled_id = 0;
  if (job->exchange != NULL)
    weft_openai_exchange_abort (g_steal_pointer (&job->exchange));
  job->self = NULL;
  if (error != NULL)
    weft_task_return_error (task, error);
  else if (message != NULL)
    weft_task_return_message (task, message);
  else
    weft_task_return (task, output);
  weft_openai_job_unref (job);               /* run()'s reference */
}

static void
weft_openai_job_finish (WeftOpenaiJob *job, const char *output, GError *error)
{
  weft_openai_job_return (job, output, NULL, error);
}

static void
weft_openai_job_fail (WeftOpenaiJob *job, GError *error)
{
  weft_openai_job_finish (job, NULL, error);
}

static gboolean
weft_openai_job_cancelled (gpointer data)
{
  weft_openai_job_fail (data, g_error_new_literal (WEFT_ERROR, WEFT_ERROR_CANCELLED, "openai: cancelled"));
  return G_SOURCE_REMOVE;
}

/* Any thread (whichever cancels), or in run() when the task is already
 * cancelled: the news goes to the engine loop, where everything else about
 * the job happens.  A signal handler rather than a GCancellableSource per
 * task: a source in the engine's context costs every loop iteration a
 * little for as long as it exists: with ten thousand tasks waiting, about
 * a third of the engine thread's time went to walking those sources. */
static void
weft_openai_job_on_cancelled (GCancellable *cancellable, gpointer data)
{
  WeftOpenaiJob *job = data;
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_priority (idle, G_PRIORITY_HIGH);
  g_source_set_callback (idle, weft_openai_job_cancelled, weft_openai_job_ref (job),
                         (GDestroyNotify) weft_openai_job_unref);
  g_source_attach (idle, job->context);
}

static void
weft_openai_job_step (const char *kind, const char *text, gpointer data)
{
  WeftOpenaiJob *job = data;

  if (job->task != NULL)
    weft_task_step (job->task, kind, text);
}

static void
weft_openai_add_message (JsonArray *messages, const char *role, const char *content)
{
  JsonObject *message = json_object_new ();

  json_object_set_string_member (message, "role", role);
  json_object_set_string_member (message, "content", content);
  json_array_add_object_element (messages, message);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* {"type": "json_schema", "json_schema": {"name", "schema", "strict"}} */
static JsonObject *
weft_openai_response_format (JsonNode *schema)
{
  JsonObject *format = json_object_new ();
  JsonObject *spec = json_object_new ();

  json_object_set_string_member (format, "type", "json_schema");
  json_object_set_string_member (spec, "name", "output");
  json_object_set_member (spec, "schema", json_node_copy (schema));
  json_object_set_boolean_member (spec, "strict", TRUE);
  json_object_set_object_member (format, "json_schema", spec);
  return format;
}

static char *
weft_openai_job_body (WeftOpenaiJob *job)
{
  WeftOpenai *self = job->self;
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonNode) root = NULL;

  json_object_set_string_member (body, "model", self->model);
  json_object_set_array_member (body, "messages", json_array_ref (job->messages));
  if (job->tools != NULL)
    json_object_set_array_member (body, "tools", json_array_ref (job->tools));
  if (self->has_temperature)
    json_object_set_double_member (body, "temperature", self->temperature);
  if (self->max_tokens > 0)
    json_object_set_int_member (body, "max_tokens", self->max_tokens);
  if (job->schema != NULL)
    json_object_set_object_member (body, "response_format", weft_openai_response_format (job->schema));
  if (self->stream)
    json_object_set_boolean_member (body, "stream", TRUE);
  if (self->stream_usage)
    {
      JsonObject *options = json_object_new ();
      json_object_set_boolean_member (options, "include_usage", TRUE);
      json_object_set_object_member (body, "stream_options", options);
    }
  root = json_node_init_object (json_node_alloc (), body);
  return json_to_string (root, FALSE);
}

static void weft_openai_job_answered (JsonObject *message, const WeftOpenaiUsage *usage,
                                      const GError *error, gpointer data);

static void
weft_openai_job_ask (WeftOpenaiJob *job)
{
  g_autofree char *body = weft_openai_job_body (job);

  job->asked++;
  job->exchange = weft_openai_exchange_start (job->self->client, job->task, body,
                                              weft_openai_job_step, weft_openai_job_answered, job);
}

/* ------------------------------------------------------------------------ */
/* Tool calls                                                               */

/* Every call is back: the assistant's message, then one result per call
 * in the order the model made them, whatever order they finished in. */
static void
weft_openai_job_tools_done (WeftOpenaiJob *job)
{
  JsonArray *calls = json_object_get_array_member (job->calling, "tool_calls");

  json_array_add_object_element (job->messages, g_steal_pointer (&job->calling));
  for (guint i = 0; i < json_array_get_length (calls); i++)
    {
      JsonObject *message = json_object_new ();
      JsonObject *call = json_array_get_object_element (calls, i);

      json_object_set_string_member (message, "role", "tool");
      json_object_set_string_member (message, "tool_call_id", json_object_get_string_member (call, "id"));
      json_object_set_string_member (message, "content", job->results[i]);
      json_array_add_object_element (job->messages, message);
    }
  g_clear_pointer (&job->results, g_strfreev);
  weft_openai_job_ask (job);
}

static void
weft_openai_job_tool_returned (WeftOpenaiJob *job, guint index, char *result)
{
  job->results[index] = result;
  if (--job->pending == 0)
    weft_openai_job_tools_done (job);
}

/* On the engine loop; also after the task was returned (then ignored). */
static void
weft_openai_job_tool_done (WeftTask *task, const char *result, const GError *error, gpointer data)
{
  WeftOpenaiSlot *slot = data;
  WeftOpenaiJob *job = slot->job;

  if (job->task != NULL)
    weft_openai_job_tool_returned (job, slot->index, weft_openai_tool_result_text (result, error));
  weft_openai_job_unref (job);
  g_free (slot);
}

/* Starts every call at once.  `pending` holds one extra count while they
 * start, so that results can only be gathered once all have started. */
static void
weft_openai_job_call_tools (WeftOpenaiJob *job, JsonObject *message)
{
  JsonArray *calls = json_object_get_array_member (message, "tool_calls");
  guint n = json_array_get_length (calls);

  job->calling = json_object_ref (message);
  job->results = g_new0 (char *, n + 1);
  job->pending = n + 1;
  for (guint i = 0; i < n; i++)
    {
      JsonObject *function = json_object_get_object_member (json_array_get_object_element (calls, i), "function");
      WeftOpenaiSlot *slot = g_new0 (WeftOpenaiSlot, 1);
      g_autoptr(GError) error = NULL;

      slot->job = weft_openai_job_ref (job);
      slot->index = i;
      if (weft_task_call_tool (job->task, json_object_get_string_member (function, "name"),
                               json_object_get_string_member (function, "arguments"),
                               weft_openai_job_tool_done, slot, &error))
        continue;
      /* An unknown tool or arguments that are not an object: the model is
       * told, as it is of a tool's own error. */
      weft_openai_job_tool_returned (job, i, weft_openai_tool_result_text (NULL, error));
      weft_openai_job_unref (job);
      g_free (slot);
    }
  weft_openai_job_tool_returned (job, n, NULL);
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */

/* With response_format: the answer must parse and match the schema.  The
 * first mismatch is sent back once with the reason; the second fails.
 * The model's JSON is as hostile as any server's: weft_json_parse. */
static void
weft_openai_job_check_answer (WeftOpenaiJob *job, JsonObject *message, const char *content)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) value = weft_json_parse (content, -1, &error);
  g_autofree char *correction = NULL;

  if (value != NULL && weft_openai_schema_validate (job->schema, value, &error))
    {
      weft_openai_job_finish (job, content, NULL);
      return;
    }
  if (job->corrected)
    {
      weft_openai_job_fail (job, g_error_new (WEFT_ERROR, WEFT_ERROR_INVALID,
                                              "openai: the answer does not match response_format "
                                              "(after one corrective retry): %s", error->message));
      return;
    }
  job->corrected = TRUE;
  correction = g_strdup_printf ("Your answer does not match the required JSON schema: %s\n"
                                "Answer again with only JSON that matches the schema.", error->message);
  json_array_add_object_element (job->messages, json_object_ref (message));
  weft_openai_add_message (job->messages, "user", correction);
  weft_openai_job_ask (job);
}

/* Each answer's tokens (a tool loop asks several times), priced when the
 * model has a price.  A server that gives only a total counts it as the
 * prompt's. */
static void
weft_openai_job_report_usage (WeftOpenaiJob *job, const WeftOpenaiUsage *usage)
{
  gint64 prompt = usage->prompt >= 0 ? usage->prompt
                  : usage->completion < 0 ? usage->total : 0;
  gint64 completion = MAX (usage->completion, 0);

  if (prompt < 0 || job->task == NULL)
    return;
  weft_task_report_usage (job->task, prompt, completion,
                          weft_openai_price_cost (&job->self->price, prompt, completion));
}

static void
weft_openai_job_answered (JsonObject *message, const WeftOpenaiUsage *usage,
                          const GError *error, gpointer data)
{
  WeftOpenaiJob *job = data;
  const char *content;

  job->exchange = NULL;
  if (error != NULL)
    {
      weft_openai_job_fail (job, g_error_copy (error));
      return;
    }
  weft_openai_job_report_usage (job, usage);
  if (job->converse)
    {
      /* The thread runs the tool calls, and asks again. */
      weft_openai_job_return (job, NULL, message, NULL);
      return;
    }
  if (json_object_has_member (message, "tool_calls"))
    {
      if (job->asked >= job->self->max_iterations)
        weft_openai_job_fail (job, g_error_new (WEFT_ERROR, WEFT_ERROR_FAILED,
                                                "openai: no final answer after max_iterations (%u) "
                                                "requests: the model still calls tools",
                                                job->self->max_iterations));
      else
        weft_openai_job_call_tools (job, message);
      return;
    }
  content = json_object_get_string_member_with_default (message, "content", NULL);
  if (job->schema != NULL)
    weft_openai_job_check_answer (job, message, content ? content : "");
  else
    weft_openai_job_finish (job, content ? content : "", NULL);
}

/* ------------------------------------------------------------------------ */
/* run                                                                      */

/* The prompt, then each context output under its task's name. */
static char *
weft_openai_user_text (WeftTask *task)
{
  GString *text = g_string_new (weft_task_get_prompt (task));
  guint n = weft_task_get_n_context (task);

  if (n > 0)
    g_string_append (text, "\n\nContext:");
  for (guint i = 0; i < n; i++)
    g_string_append_printf (text, "\n\n## %s\n%s", weft_task_get_context_name (task, i),
                            weft_task_get_context_output (task, i));
  return g_string_free (text, FALSE);
}

static JsonArray *
weft_openai_tools (WeftTask *task)
{
  guint n = weft_task_get_n_tools (task);
  JsonArray *tools;

  if (n == 0)
    return NULL;
  tools = json_array_new ();
  for (guint i = 0; i < n; i++)
    {
      JsonObject *tool = json_object_new ();
      JsonObject *function = json_object_new ();
      const char *description = weft_task_get_tool_description (task, i);
      JsonNode *schema = json_from_string (weft_task_get_tool_schema (task, i), NULL);

      if (schema == NULL)
        {
          schema = json_node_new (JSON_NODE_OBJECT);
          json_node_take_object (schema, json_object_new ());
        }

      json_object_set_string_member (function, "name", weft_task_get_tool_name (task, i));
      if (description != NULL)
        json_object_set_string_member (function, "description", description);
      /* The core refuses a schema that is not a JSON object at load. */
      json_object_set_member (function, "parameters", schema);
      json_object_set_string_member (tool, "type", "function");
      json_object_set_object_member (tool, "function", function);
      json_array_add_object_element (tools, tool);
    }
  return tools;
}

static WeftOpenaiJob *
weft_openai_job_new (WeftOpenai *self, WeftTask *task)
{
  WeftOpenaiJob *job = g_new0 (WeftOpenaiJob, 1);
  g_autofree char *user = weft_openai_user_text (task);

  g_atomic_ref_count_init (&job->ref_count);
  job->self = self;
  job->task = task;
  job->context = g_main_context_ref (weft_task_get_main_context (task));
  job->cancellable = g_object_ref (weft_task_get_cancellable (task));
  job->messages = json_array_new ();
  if (self->system != NULL)
    weft_openai_add_message (job->messages, "system", self->system);
  weft_openai_add_message (job->messages, "user", user);
  job->tools = weft_openai_tools (task);
  job->schema = self->schema ? json_from_string (self->schema, NULL) : NULL;
  return job;
}

static void
weft_openai_job_start (WeftOpenaiJob *job)
{
  /* No reference for the handler: it is disconnected before run()'s
   * reference goes. */
  job->cancelled_id = g_cancellable_connect (job->cancellable, G_CALLBACK (weft_openai_job_on_cancelled),
                                             job, NULL);
  weft_openai_job_ask (job);
}

/* On the engine loop: must not block. */
static void
weft_openai_run (gpointer instance, WeftTask *task)
{
  weft_openai_job_start (weft_openai_job_new (instance, task));
}

/* On the engine loop: one request with the thread's history; cancelling
 * the task (an interrupt) aborts it, closing its connection. */
static void
weft_openai_converse (gpointer instance, WeftTask *task)
{
  WeftOpenai *self = instance;
  WeftOpenaiJob *job = weft_openai_job_new (self, task);

  json_array_unref (job->messages);
  job->messages = weft_openai_chat_messages (self->system, weft_task_get_messages (task));
  g_clear_pointer (&job->schema, json_node_unref);
  job->converse = TRUE;
  weft_openai_job_start (job);
}

static const WeftAgentClass weft_openai_class = {
  .flags = WEFT_AGENT_ASYNC,
  .run = weft_openai_run,
  .converse = weft_openai_converse,
};

static const WeftPluginDescriptor weft_openai_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "openai",
  .version = "0.1.0",
  .description = "Asks an OpenAI-compatible chat-completions API (tools, structured output, streaming, rate limits)",
  .options = weft_openai_options,
  .options_size = sizeof (WeftOpenaiOptions),
  .create = weft_openai_create,
  .destroy = weft_openai_destroy,
  .agent = &weft_openai_class,
};

WEFT_PLUGIN_DEFINE (weft_openai_descriptor)
