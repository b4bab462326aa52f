/* test-webhook.c — the webhook callback against a receiver started here, on
 * 127.0.0.1 (a SoupServer on a thread of its own): bodies are the event
 * JSON, in order, signed; filters, headers and templates; retries of a
 * receiver that fails then recovers, Retry-After, one that is down, and one
 * so slow that the run must not wait for it. */
#include "weft-test.h"

#include "weft-test-http.h"

#define SECRET "s3cret-key-not-for-logs"

/* ------------------------------------------------------------------------ */
/* The receiver                                                             */

typedef struct {
  gint64 mono_us;          /* when it arrived */
  char *path;
  char *body;
  char *signature, *event, *delivery, *content_type, *extra;
  guint status;            /* what the receiver answered */
} Request;

static void
request_free (Request *r)
{
  g_free (r->path);
  g_free (r->body);
  g_free (r->signature);
  g_free (r->event);
  g_free (r->delivery);
  g_free (r->content_type);
  g_free (r->extra);
  g_free (r);
}

typedef struct {
  /* How to answer, set before the flow runs: */
  guint fail_first;        /* 500 to this many first requests         */
  guint throttle_first;    /* 429 + Retry-After: 1 to this many        */
  guint refuse_first;      /* 400 to this many                         */
  guint sleep_ms;          /* per request                              */
  /* What arrived: */
  GMutex lock;
  GPtrArray *requests;
  /* The server, on its own thread and context: */
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  WeftTestListener http;
  guint port;
  GMutex ready_lock;
  GCond ready;
  gboolean started;
} Receiver;

static guint
receiver_status (Receiver *r, guint n)
{
  if (n < r->refuse_first)
    return 400;
  if (n < r->fail_first)
    return 500;
  if (n < r->throttle_first)
    return 429;
  return 200;
}

static char *
dup_header (SoupServerMessage *msg, const char *name)
{
  return g_strdup (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                 name));
}

static void
receiver_handle (SoupServer *server, SoupServerMessage *msg, const char *path,
                 GHashTable *query, gpointer data)
{
  Receiver *r = data;
  Request *req = g_new0 (Request, 1);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);

  req->mono_us = g_get_monotonic_time ();
  req->path = g_strdup (path);
  req->body = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  req->signature = dup_header (msg, "X-Weft-Signature");
  req->event = dup_header (msg, "X-Weft-Event");
  req->delivery = dup_header (msg, "X-Weft-Delivery");
  req->content_type = dup_header (msg, "Content-Type");
  req->extra = dup_header (msg, "X-Extra");
  /* A slow receiver: blocking its own thread is what being slow means. */
  if (r->sleep_ms > 0)
    g_usleep (r->sleep_ms * 1000);

  g_mutex_lock (&r->lock);
  req->status = receiver_status (r, r->requests->len);
  g_ptr_array_add (r->requests, req);
  g_mutex_unlock (&r->lock);

  if (req->status == 429)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Retry-After", "1");
  soup_server_message_set_status (msg, req->status, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                    req->status == 200 ? "ok" : "no", 2);
}



static gpointer
receiver_thread (gpointer data)
{
  Receiver *r = data;

  g_main_context_push_thread_default (r->context);
  SoupServer *server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, receiver_handle, r, NULL);
  weft_test_listener_start (&r->http, server, r->context, NULL, NULL);
  r->port = r->http.port;

  g_mutex_lock (&r->ready_lock);
  r->started = TRUE;
  g_cond_signal (&r->ready);
  g_mutex_unlock (&r->ready_lock);

  g_main_loop_run (r->loop);
  weft_test_listener_stop (&r->http, r->context);
  g_main_context_pop_thread_default (r->context);
  return NULL;
}

static Receiver *
receiver_new (void)
{
  Receiver *r = g_new0 (Receiver, 1);

  g_mutex_init (&r->lock);
  g_mutex_init (&r->ready_lock);
  g_cond_init (&r->ready);
  r->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);
  r->context = g_main_context_new ();
  r->loop = g_main_loop_new (r->context, FALSE);
  return r;
}

static void
receiver_start (Receiver *r)
{
  r->thread = g_thread_new ("receiver", receiver_thread, r);
  g_mutex_lock (&r->ready_lock);
  while (!r->started)
    g_cond_wait (&r->ready, &r->ready_lock);
  g_mutex_unlock (&r->ready_lock);
}

static gboolean
receiver_quit (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
receiver_free (Receiver *r)
{
  g_main_context_invoke (r->context, receiver_quit, r->loop);
  g_thread_join (r->thread);
  g_main_loop_unref (r->loop);
  g_main_context_unref (r->context);
  g_ptr_array_unref (r->requests);
  g_mutex_clear (&r->lock);
  g_mutex_clear (&r->ready_lock);
  g_cond_clear (&r->ready);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Receiver, receiver_free)

static Request *
request_at (Receiver *r, guint i)
{
  return r->requests->pdata[i];
}

/* ------------------------------------------------------------------------ */
/* Flows and events                                                         */

typedef struct {
  GMutex lock;
  GPtrArray *json;         /* every event's JSON, in the order raised */
} Seen;

static void
seen_event (const WeftEvent *event, gpointer data)
{
  Seen *s = data;

  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->json, weft_event_to_json (event));
  g_mutex_unlock (&s->lock);
}

/* Three quick tasks (c waits for a): 3 × (started, step, completed) plus
 * run.started and run.completed. */
#define N_EVENTS 11

/* `callbacks` is the JSON of the flow's "callbacks" object. */
static char *
flow_json (const char *callbacks)
{
  return g_strdup_printf (
    "{\"name\": \"hook\", \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 5}},"
    " \"callbacks\": %s,"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"s\", \"description\": \"x\"},"
    "             {\"name\": \"c\", \"agent\": \"s\", \"description\": \"x\", \"context\": [\"a\"]}]}",
    callbacks);
}

typedef struct {
  char *run_id;
  gint64 run_end_us;       /* the last task's finish, monotonic */
  gint64 unref_us;         /* how long the flow's last unref took */
  gint64 drained_us;       /* from the kickoff until the unref drained it */
} Ran;

static void
ran_clear (Ran *ran)
{
  g_free (ran->run_id);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ran, ran_clear)

/* Runs the flow once; when it returns, the last unref has drained the
 * webhook: every event has been delivered or given up on. */
static void
run_flow (const char *callbacks, Seen *seen, Ran *ran)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *json = flow_json (callbacks);
  WeftFlow *flow = weft_test_flow (engine, json);
  g_autoptr(GError) error = NULL;
  guint id = seen != NULL ? weft_engine_add_listener (engine, seen_event, seen, NULL) : 0;
  gint64 kickoff = g_get_monotonic_time ();
  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);
  gint64 before;

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  ran->run_id = g_strdup (weft_run_get_id (run));
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    ran->run_end_us = MAX (ran->run_end_us, weft_run_get_task_finished_us (run, i));
  if (id != 0)
    weft_engine_remove_listener (engine, id);
  weft_run_unref (run);
  before = g_get_monotonic_time ();
  weft_flow_unref (flow);
  ran->unref_us = g_get_monotonic_time () - before;
  ran->drained_us = g_get_monotonic_time () - kickoff;
}

static JsonObject *
parse_object (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

static char *
hmac_hex (const char *body)
{
  return g_compute_hmac_for_string (G_CHECKSUM_SHA256, (const guchar *) SECRET,
                                    strlen (SECRET), body, -1);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

static void
test_body_signature_headers (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autoptr(Receiver) r = receiver_new ();
  Seen seen = { .json = g_ptr_array_new_with_free_func (g_free) };
  g_auto(Ran) ran = { 0 };

  g_mutex_init (&seen.lock);
  weft_test_warnings_reset (captured);
  receiver_start (r);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/in\","
    "            \"secret\": \"%s\", \"headers\": {\"X-Extra\": \"yes\"}}}", r->port, SECRET);
  run_flow (callbacks, &seen, &ran);

  g_assert_cmpuint (r->requests->len, ==, N_EVENTS);
  g_assert_cmpuint (seen.json->len, ==, N_EVENTS);
  for (guint i = 0; i < N_EVENTS; i++)
    {
      Request *req = request_at (r, i);
      g_autoptr(JsonObject) event = parse_object (req->body);
      g_autofree char *hex = hmac_hex (req->body);
      g_autofree char *expected_sig = g_strconcat ("sha256=", hex, NULL);
      g_autofree char *delivery = g_strdup_printf ("%s/%u", ran.run_id, i + 1);

      /* The body is the event JSON, byte for byte, in the order raised. */
      g_assert_cmpstr (req->body, ==, seen.json->pdata[i]);
      g_assert_cmpint (json_object_get_int_member (event, "seq"), ==, i + 1);
      g_assert_cmpstr (req->path, ==, "/in");
      g_assert_cmpstr (req->signature, ==, expected_sig);
      g_assert_cmpstr (req->event, ==, json_object_get_string_member (event, "type"));
      g_assert_cmpstr (req->delivery, ==, delivery);
      g_assert_cmpstr (req->content_type, ==, "application/json");
      g_assert_cmpstr (req->extra, ==, "yes");
    }
  g_assert_cmpstr (request_at (r, 0)->event, ==, "run.started");
  g_assert_cmpstr (request_at (r, N_EVENTS - 1)->event, ==, "run.completed");
  g_assert_cmpuint (captured->warnings->len, ==, 0);
  g_ptr_array_unref (seen.json);
  g_mutex_clear (&seen.lock);
}

static void
test_filter_and_templates (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autoptr(Receiver) r = receiver_new ();
  g_auto(Ran) ran = { 0 };
  guint n_json = 0, n_plain = 0;

  weft_test_warnings_reset (captured);
  receiver_start (r);
  /* "{{" and "}}" are literal braces; {json} goes in as JSON. */
  g_autofree char *callbacks = g_strdup_printf (
    "{\"chat\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/chat\","
    "            \"events\": [\"task.completed\", \"run.completed\"],"
    "            \"template\": \"{{\\\"text\\\": \\\"{task} {type}: {output}\\\", "
    "\\\"seq\\\": {seq}, \\\"event\\\": {json}}}\"},"
    " \"plain\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/plain\","
    "             \"events\": [\"run.completed\"], \"content_type\": \"text/plain\","
    "             \"template\": \"{flow} {type} \\\"{output}\\\"\"}}", r->port, r->port);
  run_flow (callbacks, NULL, &ran);

  g_assert_cmpuint (r->requests->len, ==, 3 + 1 + 1);
  for (guint i = 0; i < r->requests->len; i++)
    {
      Request *req = request_at (r, i);

      if (g_str_equal (req->path, "/plain"))
        {
          n_plain++;
          /* Not JSON: values go in as they are, quotes and all. */
          g_assert_cmpstr (req->content_type, ==, "text/plain");
          g_assert_true (g_str_has_prefix (req->body, "hook run.completed \"{\""));
          continue;
        }
      g_autoptr(JsonObject) body = parse_object (req->body);
      JsonObject *event = json_object_get_object_member (body, "event");
      const char *type = json_object_get_string_member (event, "type");
      const char *task = json_object_get_string_member_with_default (event, "task", "");
      g_autofree char *text = g_strdup_printf ("%s %s: %s", task, type,
                                               json_object_get_string_member (event, "output"));

      n_json++;
      g_assert_true (g_str_equal (type, "task.completed") || g_str_equal (type, "run.completed"));
      /* run.completed's output holds quotes: escaped, it reads back equal. */
      g_assert_cmpstr (json_object_get_string_member (body, "text"), ==, text);
      g_assert_cmpint (json_object_get_int_member (body, "seq"), ==,
                       json_object_get_int_member (event, "seq"));
      g_assert_cmpstr (req->event, ==, type);
    }
  g_assert_cmpuint (n_json, ==, 4);
  g_assert_cmpuint (n_plain, ==, 1);
  g_assert_cmpuint (captured->warnings->len, ==, 0);
}

/* Successful requests only: `n_events` events, each exactly once, in seq
 * order (strictly increasing; with every event selected, 1, 2, 3, …). */
static void
assert_each_delivered_once (Receiver *r, guint n_events)
{
  guint ok = 0;
  gint64 last_seq = 0;

  for (guint i = 0; i < r->requests->len; i++)
    {
      Request *req = request_at (r, i);
      g_autoptr(JsonObject) event = NULL;

      if (req->status != 200)
        continue;
      event = parse_object (req->body);
      g_assert_cmpint (json_object_get_int_member (event, "seq"), >, last_seq);
      last_seq = json_object_get_int_member (event, "seq");
      ok++;
    }
  g_assert_cmpuint (ok, ==, n_events);
}

static void
test_fails_then_recovers (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autoptr(Receiver) r = receiver_new ();
  g_auto(Ran) ran = { 0 };

  weft_test_warnings_reset (captured);
  r->fail_first = 4;
  receiver_start (r);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/\","
    "            \"retry_base_ms\": 20, \"max_retries\": 5}}", r->port);
  run_flow (callbacks, NULL, &ran);

  /* run.started was tried 5 times: 4 × 500, then taken. */
  g_assert_cmpuint (r->requests->len, ==, N_EVENTS + 4);
  g_autofree char *first = g_strdup_printf ("%s/1", ran.run_id);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpstr (request_at (r, i)->delivery, ==, first);
  assert_each_delivered_once (r, N_EVENTS);
  /* Backoff: 20, 40, 80, 160 ms, each at least half that with jitter. */
  g_assert_cmpint (request_at (r, 4)->mono_us - request_at (r, 0)->mono_us, >=,
                   (10 + 20 + 40 + 80) * 1000);
  g_assert_cmpuint (captured->warnings->len, ==, 0);
}

static void
test_refused_not_retried (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autoptr(Receiver) r = receiver_new ();
  g_auto(Ran) ran = { 0 };

  weft_test_warnings_reset (captured);
  r->refuse_first = 1;
  receiver_start (r);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/\","
    "            \"retry_base_ms\": 20, \"secret\": \"%s\"}}", r->port, SECRET);
  run_flow (callbacks, NULL, &ran);

  /* The 400 is final: one request per event, and the rest go on. */
  g_assert_cmpuint (r->requests->len, ==, N_EVENTS);
  g_assert_cmpuint (request_at (r, 0)->status, ==, 400);
  g_assert_cmpuint (captured->warnings->len, ==, 1);
  const char *warning = captured->warnings->pdata[0];
  weft_test_assert_contains (warning, "not retried");
  weft_test_assert_contains (warning, "run.started");
  weft_test_assert_contains (warning, "HTTP 400");
  g_assert_null (strstr (warning, SECRET));
}

static void
test_retry_after (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autoptr(Receiver) r = receiver_new ();
  g_auto(Ran) ran = { 0 };

  weft_test_warnings_reset (captured);
  r->throttle_first = 1;
  receiver_start (r);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/\","
    "            \"events\": [\"run.started\", \"run.completed\"], \"retry_base_ms\": 10}}",
    r->port);
  run_flow (callbacks, NULL, &ran);

  g_assert_cmpuint (r->requests->len, ==, 3);
  g_assert_cmpuint (request_at (r, 0)->status, ==, 429);
  /* Retry-After: 1 outweighs the 10 ms backoff. */
  g_assert_cmpint (request_at (r, 1)->mono_us - request_at (r, 0)->mono_us, >=,
                   G_USEC_PER_SEC - 20000);
  g_assert_cmpstr (request_at (r, 1)->event, ==, "run.started");
  assert_each_delivered_once (r, 2);
  g_assert_cmpuint (captured->warnings->len, ==, 0);
}

/* A port nothing listens on: bound, then closed. */
static guint
closed_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  g_socket_close (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_receiver_down (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  guint port = closed_port ();
  g_auto(Ran) ran = { 0 };
  g_autofree char *where = g_strdup_printf ("http://127.0.0.1:%u/…", port);

  weft_test_warnings_reset (captured);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/token/zqxw?k=v\","
    "            \"secret\": \"%s\", \"events\": [\"run.started\", \"run.completed\"],"
    "            \"retry_base_ms\": 20, \"max_retries\": 3}}", port, SECRET);
  run_flow (callbacks, NULL, &ran);

  /* run.started: 4 attempts, then given up; run.completed: the receiver
   * was known down, so a single attempt. */
  g_assert_cmpuint (captured->warnings->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const char *warning = captured->warnings->pdata[i];

      weft_test_assert_contains (warning, i == 0 ? "gave up sending run.started"
                                                 : "gave up sending run.completed");
      weft_test_assert_contains (warning, i == 0 ? "after 4 attempts" : "after 1 attempt:");
      weft_test_assert_contains (warning, ran.run_id);
      weft_test_assert_contains (warning, where);
      /* Neither the secret nor the URL's path and query, where tokens live. */
      g_assert_null (strstr (warning, SECRET));
      g_assert_null (strstr (warning, "zqxw")); /* not hex: a run id cannot hold it */
      g_assert_null (strstr (warning, "k=v"));
    }
  /* The retries took their backoff (≥ 10 + 20 + 40 ms), and not much more:
   * counted from the kickoff, since a refusal can come back (the lean
   * transport's, at once) before the run ends and the first wait start
   * before the unref. */
  g_assert_cmpint (ran.drained_us, >=, 70 * 1000);
  g_assert_cmpint (ran.unref_us, <, 5 * G_USEC_PER_SEC);
}

static void
test_slow_receiver (gconstpointer data)
{
  WeftTestWarnings *captured = (WeftTestWarnings *) data;
  g_autoptr(Receiver) r = receiver_new ();
  g_auto(Ran) ran = { 0 };

  weft_test_warnings_reset (captured);
  r->sleep_ms = 300;
  receiver_start (r);
  g_autofree char *callbacks = g_strdup_printf (
    "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/\"}}", r->port);
  run_flow (callbacks, NULL, &ran);

  /* 11 events at 300 ms each take over 3 s to deliver; the run was done
   * long before the receiver saw the last of them. */
  g_assert_cmpuint (r->requests->len, ==, N_EVENTS);
  g_assert_cmpint (ran.run_end_us, <, request_at (r, N_EVENTS - 1)->mono_us - G_USEC_PER_SEC);
  assert_each_delivered_once (r, N_EVENTS);
  g_assert_cmpuint (captured->warnings->len, ==, 0);
}

static void
assert_config_error (const char *callback, const char *expected)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (1);
  g_autofree char *callbacks = g_strdup_printf ("{\"hook\": %s}", callback);
  g_autofree char *json = flow_json (callbacks);
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, "test.json", &error);

  g_assert_null (flow);
  g_assert_nonnull (error);
  weft_test_assert_contains (error->message, expected);
  g_assert_null (strstr (error->message, SECRET));
}

static void
test_config_errors (void)
{
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"ftp://127.0.0.1/\"}",
                       "http:// or https://");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"events\": [\"task.exploded\"]}",
                       "unknown event type \"task.exploded\" (valid: run.started, task.started");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"template\": \"{nope}\"}", "{nope}");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"template\": \"{\\\"text\\\": 1}\"}", "literal braces");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"secret\": \"\"}", "\"secret\": must not be empty");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"headers\": {\"Bad Name\": \"x\"}}", "not a valid header name");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"headers\": {\"X-A\": \"a\\r\\nX-B: b\"}}", "must be one line");
  assert_config_error ("{\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1/\","
                       " \"content_type\": \"json\"}", "not a media type");
  assert_config_error ("{\"plugin\": \"webhook\"}", "url");
}

int
main (int argc, char **argv)
{
  WeftTestWarnings captured = { .domain = "weft-webhook",
                               .warnings = g_ptr_array_new_with_free_func (g_free) };
  int status;

  g_mutex_init (&captured.lock);
  g_test_init (&argc, &argv, NULL);
  /* The plugin's warnings are what some tests check: they are kept, not
   * made fatal.  Every other message goes to GLib's default writer. */
  g_log_set_writer_func (weft_test_capture_writer, &captured, NULL);
  g_test_add_data_func ("/webhook/body-signature-headers", &captured, test_body_signature_headers);
  g_test_add_data_func ("/webhook/filter-and-templates", &captured, test_filter_and_templates);
  g_test_add_data_func ("/webhook/fails-then-recovers", &captured, test_fails_then_recovers);
  g_test_add_data_func ("/webhook/refused-not-retried", &captured, test_refused_not_retried);
  g_test_add_data_func ("/webhook/retry-after", &captured, test_retry_after);
  g_test_add_data_func ("/webhook/receiver-down", &captured, test_receiver_down);
  g_test_add_data_func ("/webhook/slow-receiver", &captured, test_slow_receiver);
  g_test_add_func ("/webhook/config-errors", test_config_errors);
  status = g_test_run ();
  g_ptr_array_unref (captured.warnings);
  g_mutex_clear (&captured.lock);
  return status;
}
