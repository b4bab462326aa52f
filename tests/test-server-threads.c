/* test-server-threads.c — threads over `weft serve`'s HTTP API, on real
 * HTTP on 127.0.0.1: create, post, read, the event stream and its replay,
 * reject's 409, delete, bad requests, and a background flow's run shown
 * in /v1/runs with its result back in the thread (against the mock). */
#include "weft-test.h"
#include "weft-mock-llm.h"

#include <libsoup/soup.h>

typedef struct {
  WeftMockLlm *mock;
  WeftEngine *engine;
  WeftServer *server;
  SoupSession *session;
  char *base;
  char *token;
} Fixture;

#include "weft-test-sse-client.h"

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->mock = weft_mock_llm_new (&error);
  g_assert_no_error (error);
  f->engine = weft_test_engine_new (8);
  f->server = weft_server_new (f->engine, NULL);
  g_autofree char *echo = g_strdup (
    "{\"name\": \"echo\", \"agents\": {\"bot\": {\"plugin\": \"template\","
    " \"template\": \"you said: {prompt}\", \"delay_ms\": 300}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"bot\", \"description\": \"d\"}]}");
  g_autofree char *desk = g_strdup_printf (
    "{\"name\": \"desk\","
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"m\", \"base_url\": \"%s\"},"
    "              \"writer\": {\"plugin\": \"template\", \"template\": \"report: {prompt}\"}},"
    " \"tasks\": [{\"name\": \"report\", \"agent\": \"writer\", \"description\": \"on {topic}\"}],"
    " \"chat\": {\"agent\": \"llm\", \"background\": {\"crew\": {\"flow\": \"desk\"}}}}",
    weft_mock_llm_get_base_url (f->mock));
  const char *flows[] = { echo, desk };
  for (guint i = 0; i < G_N_ELEMENTS (flows); i++)
    {
      g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, flows[i]);
      g_assert_true (weft_server_add_flow (f->server, flow, &error));
    }
  g_assert_true (weft_server_listen (f->server, "127.0.0.1:0", &error));
  f->base = g_strdup_printf ("http://127.0.0.1:%u", weft_server_get_port (f->server));
  f->session = soup_session_new ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->session);
  weft_server_stop (f->server, 5000);
  weft_server_free (f->server);
  weft_engine_shutdown (f->engine, 2000);
  weft_engine_unref (f->engine);
  weft_mock_llm_free (f->mock);
  g_free (f->base);
}

static char *
create_thread (Fixture *f, const char *body)
{
  g_autoptr(JsonNode) json = NULL;

  g_assert_cmpuint (http (f, "POST", "/v1/threads", body, &json), ==, SOUP_STATUS_CREATED);
  return g_strdup (member (json, "thread_id"));
}

static guint
post_message (Fixture *f, const char *id, const char *content, JsonNode **json)
{
  g_autofree char *path = g_strdup_printf ("/v1/threads/%s/messages", id);
  g_autofree char *body = g_strdup_printf ("{\"content\": \"%s\"}", content);

  return http (f, "POST", path, body, json);
}

/* GET /v1/threads/ID until it is idle with `n` messages or more. */
static JsonNode *
wait_thread (Fixture *f, const char *id, guint n)
{
  g_autofree char *path = g_strdup_printf ("/v1/threads/%s", id);
  gint64 deadline = g_get_monotonic_time () + WAIT_US;

  for (;;)
    {
      JsonNode *json = NULL;
      g_assert_cmpuint (http (f, "GET", path, NULL, &json), ==, SOUP_STATUS_OK);
      JsonObject *o = json_node_get_object (json);
      if (!json_object_get_boolean_member (o, "busy")
          && json_array_get_length (json_object_get_array_member (o, "messages")) >= n)
        return json;
      json_node_unref (json);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
}

/* GET /v1/threads (with `query`, may be NULL): its array. */
static JsonArray *
list_threads (Fixture *f, const char *query, JsonNode **json)
{
  g_autofree char *path = g_strdup_printf ("/v1/threads%s%s", query ? "?" : "", query ? query : "");

  g_assert_cmpuint (http (f, "GET", path, NULL, json), ==, SOUP_STATUS_OK);
  return json_object_get_array_member (json_node_get_object (*json), "threads");
}

static JsonObject *
list_entry (JsonArray *threads, guint i)
{
  return json_array_get_object_element (threads, i);
}

static const char *
message_content (JsonNode *thread, guint i)
{
  JsonArray *messages = json_object_get_array_member (json_node_get_object (thread), "messages");

  return json_object_get_string_member (json_array_get_object_element (messages, i), "content");
}

static void
test_create_post_read (Fixture *f, gconstpointer data)
{
  g_autofree char *id = create_thread (f, "{\"flow\": \"echo\"}");
  g_autoptr(JsonNode) posted = NULL;

  g_assert_cmpuint (post_message (f, id, "hello", &posted), ==, SOUP_STATUS_ACCEPTED);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (posted), "position"), ==, 1);
  g_autoptr(JsonNode) thread = wait_thread (f, id, 2);
  g_assert_cmpstr (message_content (thread, 0), ==, "hello");
  g_assert_cmpstr (message_content (thread, 1), ==, "you said: hello");
  JsonObject *settings = json_object_get_object_member (json_node_get_object (thread), "settings");
  g_assert_cmpstr (json_object_get_string_member (settings, "strategy"), ==, "enqueue");

  g_autoptr(JsonNode) list = NULL;
  g_assert_cmpuint (http (f, "GET", "/v1/threads", NULL, &list), ==, SOUP_STATUS_OK);
  JsonArray *threads = json_object_get_array_member (json_node_get_object (list), "threads");
  g_assert_cmpuint (json_array_get_length (threads), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (threads, 0),
                                                  "thread_id"), ==, id);

  /* The event stream replays what happened, then goes on live. */
  g_autofree char *events = g_strdup_printf ("/v1/threads/%s/events", id);
  g_autoptr(GInputStream) stream = open_stream (f, events, NULL);
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  read_frames (lines, frames, 5);
  static const char *const replayed[] = {
    "thread.created", "thread.message", "thread.turn_started", "thread.message",
    "thread.turn_finished",
  };
  for (guint i = 0; i < 5; i++)
    {
      Frame *fr = frames->pdata[i];
      g_assert_cmpstr (fr->type, ==, replayed[i]);
      g_assert_cmpuint (fr->id, ==, i + 1);
      weft_test_assert_contains (fr->data, id);
    }
  g_assert_cmpuint (post_message (f, id, "again", NULL), ==, SOUP_STATUS_ACCEPTED);
  read_frames (lines, frames, 9);
  g_assert_cmpstr (((Frame *) frames->pdata[5])->type, ==, "thread.message");
  weft_test_assert_contains (((Frame *) frames->pdata[5])->data, "again");
  g_assert_cmpstr (((Frame *) frames->pdata[8])->type, ==, "thread.turn_finished");
  g_input_stream_close (stream, NULL, NULL);

  /* From Last-Event-ID: only what came after. */
  g_autoptr(GInputStream) later = open_stream (f, events, "7");
  g_autoptr(GDataInputStream) later_lines = g_data_input_stream_new (later);
  g_autoptr(GPtrArray) rest = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  read_frames (later_lines, rest, 2);
  g_assert_cmpuint (((Frame *) rest->pdata[0])->id, ==, 8);
  g_assert_cmpuint (((Frame *) rest->pdata[1])->id, ==, 9);
  g_input_stream_close (later, NULL, NULL);
}

static void
test_reject_and_delete (Fixture *f, gconstpointer data)
{
  g_autofree char *id = create_thread (f, "{\"flow\": \"echo\", \"strategy\": \"reject\"}");
  g_autofree char *path = g_strdup_printf ("/v1/threads/%s", id);

  g_assert_cmpuint (post_message (f, id, "one", NULL), ==, SOUP_STATUS_ACCEPTED);
  g_autofree char *messages = g_strdup_printf ("/v1/threads/%s/messages", id);
  assert_error (f, "POST", messages, "{\"content\": \"two\"}", SOUP_STATUS_CONFLICT,
                "is answering: a message is refused until it has answered");
  g_autoptr(JsonNode) thread = wait_thread (f, id, 2);
  g_assert_cmpstr (message_content (thread, 1), ==, "you said: one");

  g_assert_cmpuint (http (f, "DELETE", path, NULL, NULL), ==, SOUP_STATUS_OK);
  assert_error (f, "GET", path, NULL, SOUP_STATUS_NOT_FOUND, "no thread");
  assert_error (f, "POST", messages, "{\"content\": \"three\"}", SOUP_STATUS_NOT_FOUND,
                "no thread");
}

static void
test_bad_requests (Fixture *f, gconstpointer data)
{
  assert_error (f, "POST", "/v1/threads", "{}", SOUP_STATUS_BAD_REQUEST,
                "missing \"flow\" (a string)");
  assert_error (f, "POST", "/v1/threads", "{\"flow\": \"nope\"}", SOUP_STATUS_NOT_FOUND,
                "no flow named \"nope\"");
  assert_error (f, "POST", "/v1/threads", "{\"flow\": \"echo\", \"strategy\": \"now\"}",
                SOUP_STATUS_BAD_REQUEST, "thread settings: strategy: must be");
  assert_error (f, "POST", "/v1/threads", "{\"flow\": \"echo\", \"options\": []}",
                SOUP_STATUS_BAD_REQUEST, "\"options\" must be an object");
  assert_error (f, "POST", "/v1/threads", "{\"flow\": \"echo\", \"colour\": 1}",
                SOUP_STATUS_BAD_REQUEST, "unknown member \"colour\"");
  g_autofree char *id = create_thread (f, "{\"flow\": \"echo\"}");
  g_autofree char *messages = g_strdup_printf ("/v1/threads/%s/messages", id);
  assert_error (f, "POST", messages, "{}", SOUP_STATUS_BAD_REQUEST, "missing \"content\"");
  assert_error (f, "POST", messages, "{\"content\": 5}", SOUP_STATUS_BAD_REQUEST,
                "\"content\" must be a string");
  g_autofree char *events = g_strdup_printf ("/v1/threads/%s/events", id);
  assert_error (f, "POST", events, NULL, SOUP_STATUS_METHOD_NOT_ALLOWED, "allowed: GET");
  g_autofree char *cancel = g_strdup_printf ("/v1/threads/%s/cancel", id);
  assert_error (f, "POST", cancel, "{\"task_id\": \"t7\"}", SOUP_STATUS_NOT_FOUND, "no task \"t7\"");
  g_assert_cmpuint (http (f, "POST", cancel, NULL, NULL), ==, SOUP_STATUS_ACCEPTED);
  assert_error (f, "GET", "/v1/threads/nobody/events", NULL, SOUP_STATUS_NOT_FOUND, "no thread");
  static const char *const limits[] = { "0", "1001", "-1", "ten", "5x" };
  for (guint i = 0; i < G_N_ELEMENTS (limits); i++)
    {
      g_autofree char *path = g_strdup_printf ("/v1/threads?limit=%s", limits[i]);
      assert_error (f, "GET", path, NULL, SOUP_STATUS_BAD_REQUEST,
                    "limit must be a number from 1 to 1000");
    }
}

/* The model delegates to the flow's crew: the run is one of /v1/runs, and
 * its result reaches the thread as a notice that starts a turn. */
static void
test_background_flow_run (Fixture *f, gconstpointer data)
{
  weft_mock_llm_add_tool_rule (f->mock, "research cats",
                               "[{\"name\": \"crew\", \"arguments\": {\"topic\": \"cats\"}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"status\":\"running\"", "on it");
  weft_mock_llm_add_text_rule (f->mock, "completed in", "here: {last}");
  g_autofree char *id = create_thread (f, "{\"flow\": \"desk\"}");

  g_assert_cmpuint (post_message (f, id, "research cats", NULL), ==, SOUP_STATUS_ACCEPTED);
  g_autoptr(JsonNode) thread = wait_thread (f, id, 6);
  JsonObject *o = json_node_get_object (thread);
  JsonObject *task = json_array_get_object_element (json_object_get_array_member (o, "tasks"), 0);
  g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "completed");
  const char *run_id = json_object_get_string_member (task, "run_id");
  g_assert_nonnull (run_id);
  weft_test_assert_contains (message_content (thread, 4), "Result: {\"report\":\"report: on cats\"}");
  weft_test_assert_contains (message_content (thread, 5), "here: [notice from weft");

  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", run_id);
  g_autoptr(JsonNode) run = NULL;
  g_assert_cmpuint (http (f, "GET", path, NULL, &run), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (member (run, "flow"), ==, "desk");
  g_assert_cmpstr (member (run, "status"), ==, "completed");
  g_autoptr(JsonNode) runs = NULL;
  g_assert_cmpuint (http (f, "GET", "/v1/runs", NULL, &runs), ==, SOUP_STATUS_OK);
  g_autofree char *text = json_to_string (runs, FALSE);
  weft_test_assert_contains (text, run_id);
}

typedef struct {
  GBytes *body;
  guint status;
  GError *error;
  gboolean done;
} Reply;

static void
reply_received (GObject *session, GAsyncResult *result, gpointer data)
{
  Reply *r = data;

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (session), result, &r->error);
  r->status = soup_message_get_status (soup_session_get_async_result_message (
                                         SOUP_SESSION (session), result));
  r->done = TRUE;
}

/* The requests `msgs` sent at once, each on its own connection; their
 * replies once all have come. */
static Reply *
send_at_once (Fixture *f, SoupMessage **msgs, guint n)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("max-conns-per-host", n, NULL);
  Reply *replies = g_new0 (Reply, n);
  guint done = 0;

  for (guint i = 0; i < n; i++)
    soup_session_send_and_read_async (session, msgs[i], G_PRIORITY_DEFAULT, NULL, reply_received,
                                      &replies[i]);
  while (done < n)
    {
      g_main_context_iteration (NULL, TRUE);
      done = 0;
      for (guint i = 0; i < n; i++)
        done += replies[i].done;
    }
  return replies;
}

/* Asked for at once by several requests, a stored thread is read once:
 * one thread in memory, its history once, and the message posted
 * meanwhile answered once. */
static void
reopen_at_once (Fixture *f, const char *id)
{
  enum { N_GETS = 4 };
  g_autofree char *path = g_strdup_printf ("/v1/threads/%s", id);
  g_autofree char *messages = g_strdup_printf ("/v1/threads/%s/messages", id);
  SoupMessage *msgs[N_GETS + 1];

  for (guint i = 0; i < N_GETS; i++)
    msgs[i] = request_new (f, "GET", path, NULL);
  msgs[N_GETS] = request_new (f, "POST", messages, "{\"content\": \"two\"}");
  Reply *replies = send_at_once (f, msgs, N_GETS + 1);
  for (guint i = 0; i <= N_GETS; i++)
    {
      g_assert_no_error (replies[i].error);
      g_assert_cmpuint (replies[i].status, ==, i < N_GETS ? SOUP_STATUS_OK
                                                          : SOUP_STATUS_ACCEPTED);
      gsize size;
      const char *data = g_bytes_get_data (replies[i].body, &size);
      g_autofree char *text = g_strndup (data, size);
      g_autoptr(JsonNode) json = json_from_string (text, NULL);
      g_assert_cmpstr (member (json, "thread_id"), ==, id);
      if (i < N_GETS)
        {
          /* The stored history, once: messages numbered 1, 2, ... */
          JsonArray *a = json_object_get_array_member (json_node_get_object (json), "messages");
          g_assert_cmpuint (json_array_get_length (a), >=, 2);
          for (guint k = 0; k < json_array_get_length (a); k++)
            g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (a, k),
                                                         "seq"), ==, k + 1);
          g_assert_cmpstr (message_content (json, 0), ==, "one");
          g_assert_cmpstr (message_content (json, 1), ==, "kept: one");
        }
      g_bytes_unref (replies[i].body);
      g_object_unref (msgs[i]);
    }
  g_free (replies);
  g_autoptr(JsonNode) live = weft_engine_list_threads (f->engine);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (live)), ==, 1);
}

static void
serve_flow (Fixture *f, const char *json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);

  g_assert_true (weft_server_add_flow (f->server, flow, &error));
}

/* A new engine and server serving flow `json`: nothing in memory; the
 * old engine's store has its last rows, as after its process's exit. */
static void
restart_server (Fixture *f, const char *json)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&f->session);
  weft_server_stop (f->server, 5000);
  weft_server_free (f->server);
  weft_engine_shutdown (f->engine, 2000);
  weft_test_engine_unref_ended (f->engine);
  f->engine = weft_test_engine_new (4);
  f->server = weft_server_new (f->engine, NULL);
  g_assert_true (weft_server_listen (f->server, "127.0.0.1:0", &error));
  g_free (f->base);
  f->base = g_strdup_printf ("http://127.0.0.1:%u", weft_server_get_port (f->server));
  f->session = soup_session_new ();
  serve_flow (f, json);
}

/* A served flow's store keeps its threads: another server (the process
 * ended) reopens one when it is asked for, and it goes on. */
static void
test_reopened_from_store (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("weft-server-threads-XXXXXX", &error);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"kept\", \"agents\": {\"bot\": {\"plugin\": \"template\","
    " \"template\": \"kept: {prompt}\"}},"
    " \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s/t.db\"}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"bot\", \"description\": \"d\"}]}", dir);
  g_autofree char *id = NULL;

  for (guint round = 0; round < 2; round++)
    {
      if (round == 1)
        restart_server (f, json);
      else
        serve_flow (f, json);
      if (round == 0)
        id = create_thread (f, "{\"flow\": \"kept\"}");
      else
        {
          /* Listed from the store before it is loaded: idle, not loaded. */
          g_autoptr(JsonNode) list = NULL;
          JsonArray *threads = list_threads (f, NULL, &list);
          g_assert_cmpuint (json_array_get_length (threads), ==, 1);
          g_assert_cmpstr (json_object_get_string_member (list_entry (threads, 0), "thread_id"),
                           ==, id);
          g_assert_false (json_object_get_boolean_member (list_entry (threads, 0), "loaded"));
          g_assert_false (json_object_get_boolean_member (list_entry (threads, 0), "busy"));
          g_assert_cmpint (json_object_get_int_member (list_entry (threads, 0), "messages"), ==, 2);
          g_assert_cmpstr (json_object_get_string_member (list_entry (threads, 0), "flow"), ==,
                           "kept");
        }
      if (round == 0)
        g_assert_cmpuint (post_message (f, id, "one", NULL), ==, SOUP_STATUS_ACCEPTED);
      else
        reopen_at_once (f, id);
      g_autoptr(JsonNode) thread = wait_thread (f, id, 2 * (round + 1));
      JsonArray *all = json_object_get_array_member (json_node_get_object (thread), "messages");
      g_assert_cmpuint (json_array_get_length (all), ==, 2 * (round + 1));
      g_assert_cmpstr (message_content (thread, 2 * round + 1), ==, round ? "kept: two" : "kept: one");
      /* Reopened, its turns go on from the stored one. */
      g_assert_cmpint (json_object_get_int_member (json_node_get_object (thread), "turns"), ==,
                       round + 1);
    }
  /* Loaded, it is listed once, with its live state; a newer thread (in
   * memory only) comes first; the limit holds. */
  g_autofree char *newer = create_thread (f, "{\"flow\": \"kept\"}");
  g_autoptr(JsonNode) all = NULL;
  JsonArray *threads = list_threads (f, NULL, &all);
  g_assert_cmpuint (json_array_get_length (threads), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (list_entry (threads, 0), "thread_id"), ==, newer);
  g_assert_cmpstr (json_object_get_string_member (list_entry (threads, 1), "thread_id"), ==, id);
  g_assert_true (json_object_get_boolean_member (list_entry (threads, 1), "loaded"));
  g_assert_cmpint (json_object_get_int_member (list_entry (threads, 1), "messages"), ==, 4);
  g_autoptr(JsonNode) one = NULL;
  threads = list_threads (f, "limit=1", &one);
  g_assert_cmpuint (json_array_get_length (threads), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (list_entry (threads, 0), "thread_id"), ==, newer);

  /* Its event stream asked for first: it is reopened for the stream, whose
   * events are numbered after the stored ones, its turn after turn 2. */
  restart_server (f, json);
  g_autofree char *events = g_strdup_printf ("/v1/threads/%s/events", id);
  g_autoptr(GInputStream) stream = open_stream (f, events, NULL);
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  g_assert_cmpuint (post_message (f, id, "three", NULL), ==, SOUP_STATUS_ACCEPTED);
  read_frames (lines, frames, 4);
  static const char *const live[] = {
    "thread.message", "thread.turn_started", "thread.message", "thread.turn_finished",
  };
  for (guint i = 0; i < 4; i++)
    {
      Frame *fr = frames->pdata[i];
      g_assert_cmpstr (fr->type, ==, live[i]);
      g_assert_cmpuint (fr->id, ==, 10 + i);      /* 9 stored */
      g_autoptr(JsonNode) event = json_from_string (fr->data, &error);
      g_assert_no_error (error);
      if (i % 2 == 1)
        g_assert_cmpint (json_object_get_int_member (json_node_get_object (event), "turn"), ==, 3);
    }
  weft_test_assert_contains (((Frame *) frames->pdata[0])->data, "three");
  g_input_stream_close (stream, NULL, NULL);

  /* Deleted, it is gone at once (its store writes so a moment later, on
   * its own thread), and for the next server. */
  g_autofree char *path = g_strdup_printf ("/v1/threads/%s", id);
  for (guint round = 0; round < 2; round++)
    {
      if (round == 0)
        g_assert_cmpuint (http (f, "DELETE", path, NULL, NULL), ==, SOUP_STATUS_OK);
      else
        restart_server (f, json);
      assert_error (f, "GET", path, NULL, SOUP_STATUS_NOT_FOUND, "no thread");
      g_autoptr(JsonNode) left = NULL;
      list_threads (f, NULL, &left);
      g_autofree char *text = json_to_string (left, FALSE);
      g_assert_null (strstr (text, id));
    }
  weft_server_stop (f->server, 5000);
  weft_engine_shutdown (f->engine, 2000);
  weft_test_remove_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/server-threads/create-post-read", test_create_post_read);
  ADD ("/server-threads/reject-and-delete", test_reject_and_delete);
  ADD ("/server-threads/bad-requests", test_bad_requests);
  ADD ("/server-threads/background-flow-run", test_background_flow_run);
  ADD ("/server-threads/reopened-from-store", test_reopened_from_store);
  return g_test_run ();
}
