/* test-threads-store.c — threads kept in the sqlite store: reopened by a
 * new engine with their whole history and going on; and reopened after
 * their process was killed (-9) in the middle of a background task, which
 * is then reported interrupted, never silently lost.  The killed process
 * is this program again (--child), talking to the parent's mock server. */
#include "weft-test-threads.h"
#include "weft-mock-llm.h"

#include <signal.h>

/* A flow whose "llm" talks to `base_url`, with a slow background look-up,
 * kept in the sqlite store `db`. */
static char *
store_flow_json (const char *base_url, const char *db)
{
  return g_strdup_printf (
    "{\"name\": \"kept\","
    " \"tools\": {\"slow\": {\"plugin\": \"test-tool\", \"sleep_ms\": 30000}},"
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"model\": \"m\", \"base_url\": \"%s\","
    "                        \"retry_base_ms\": 1},"
    "              \"echo\": {\"plugin\": \"template\", \"template\": \"you said: {prompt}\"}},"
    " \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"echo\", \"description\": \"d\"}],"
    " \"chat\": {\"agent\": \"llm\", \"background\": {\"lookup\": {\"tool\": \"slow\"}}}}",
    base_url, db);
}

typedef struct {
  WeftMockLlm *mock;
  char *dir;
  char *db;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->mock = weft_mock_llm_new (&error);
  g_assert_no_error (error);
  f->dir = g_dir_make_tmp ("weft-threads-store-XXXXXX", &error);
  g_assert_no_error (error);
  f->db = g_build_filename (f->dir, "threads.db", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_mock_llm_free (f->mock);
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->db);
}

/* An engine, the flow, the events: a process's worth. */
typedef struct {
  WeftEngine *engine;
  WeftFlow *flow;
  ThreadEvents *events;
} Process;

static void
process_start (Process *p, Fixture *f)
{
  g_autofree char *json = store_flow_json (weft_mock_llm_get_base_url (f->mock), f->db);

  p->engine = weft_test_engine_new (4);
  p->events = thread_events_new (p->engine);
  p->flow = weft_test_flow (p->engine, json);
}

static void
process_end (Process *p)
{
  weft_engine_shutdown (p->engine, 2000);
  g_clear_pointer (&p->flow, weft_flow_unref);
  thread_events_free (p->events);
  /* The store's last rows: once the engine has ended. */
  weft_test_engine_unref_ended (g_steal_pointer (&p->engine));
}

/* The turn of the last event of `type` of thread `id` (0: none yet). */
static guint
last_turn (ThreadEvents *te, const char *id, WeftEventType type)
{
  guint turn = 0;

  g_mutex_lock (&te->lock);
  for (guint i = 0; i < te->events->len; i++)
    {
      ThreadEvent *e = te->events->pdata[i];
      if (e->type == type && g_str_equal (e->thread_id, id))
        turn = e->turn;
    }
  g_mutex_unlock (&te->lock);
  return turn;
}

typedef struct {
  WeftFlow *flow;
  const char *id;
  WeftThread *thread;
} OpenAtOnce;

static gpointer
open_thread (gpointer data)
{
  OpenAtOnce *o = data;
  g_autoptr(GError) error = NULL;

  o->thread = weft_thread_open (o->flow, o->id, &error);
  g_assert_no_error (error);
  return NULL;
}

/* A thread goes on in a new engine with its whole history; its events are
 * numbered after the stored ones. */
static void
test_reopen (Fixture *f, gconstpointer data)
{
  Process first, second;
  g_autofree char *id = NULL;

  weft_mock_llm_add_text_rule (f->mock, "hello", "hi there");
  weft_mock_llm_add_text_rule (f->mock, "again", "still here");
  process_start (&first, f);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(WeftThread) thread = weft_thread_new (first.flow, NULL, &error);
    g_assert_no_error (error);
    id = g_strdup (weft_thread_get_id (thread));
    thread_post (thread, "hello");
    thread_events_wait (first.events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  }
  process_end (&first);

  process_start (&second, f);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_flow_dup_store (second.flow);
  g_autoptr(JsonNode) list = weft_store_list_threads (store, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (list)), ==, 1);
  g_clear_pointer (&store, weft_store_free);
  /* Opened by two threads at once: one thread, its history once. */
  OpenAtOnce opens[2] = { { second.flow, id, NULL }, { second.flow, id, NULL } };
  GThread *openers[2];
  for (guint i = 0; i < 2; i++)
    openers[i] = g_thread_new ("opener", open_thread, &opens[i]);
  for (guint i = 0; i < 2; i++)
    g_thread_join (openers[i]);
  g_assert_nonnull (opens[0].thread);
  g_assert_true (opens[0].thread == opens[1].thread);
  weft_thread_unref (opens[1].thread);
  g_autoptr(WeftThread) thread = opens[0].thread;
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, ==, 2);
  g_assert_cmpstr (history->pdata[0], ==, "user: hello");
  g_assert_cmpstr (history->pdata[1], ==, "assistant: hi there");
  thread_post (thread, "again");
  thread_events_wait (second.events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  /* Its turns go on from the stored one: this is turn 2. */
  g_assert_cmpuint (last_turn (second.events, id, WEFT_EVENT_THREAD_TURN_STARTED), ==, 2);
  g_assert_cmpuint (last_turn (second.events, id, WEFT_EVENT_THREAD_TURN_FINISHED), ==, 2);
  g_autoptr(GPtrArray) after = thread_history (thread);
  g_assert_cmpuint (after->len, ==, 4);
  g_assert_cmpstr (after->pdata[3], ==, "assistant: still here");
  /* The model was asked with the whole history. */
  g_autofree char *body = weft_mock_llm_dup_request_body (f->mock, 1);
  weft_test_assert_contains (body, "hi there");
  g_clear_pointer (&thread, weft_thread_unref);
  process_end (&second);

  /* The store counted both turns: the next process goes on with turn 3. */
  process_start (&first, f);
  g_autoptr(WeftStore) kept = weft_flow_dup_store (first.flow);
  g_autoptr(JsonNode) row = weft_store_get_thread (kept, id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (row), "turns"), ==, 2);
  g_clear_pointer (&kept, weft_store_free);
  {
    g_autoptr(WeftThread) third = weft_thread_open (first.flow, id, &error);
    g_assert_no_error (error);
    thread_post (third, "hello");
    thread_events_wait (first.events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
    g_assert_cmpuint (last_turn (first.events, id, WEFT_EVENT_THREAD_TURN_STARTED), ==, 3);
  }
  process_end (&first);

  /* Deleted, it is gone from the store. */
  process_start (&first, f);
  g_autoptr(WeftThread) again = weft_thread_open (first.flow, id, &error);
  g_assert_no_error (error);
  weft_thread_close (again);
  thread_events_wait (first.events, id, WEFT_EVENT_THREAD_DELETED, NULL, 1, 10);
  g_clear_pointer (&again, weft_thread_unref);
  process_end (&first);
  process_start (&second, f);
  g_autoptr(WeftThread) gone = weft_thread_open (second.flow, id, &error);
  g_assert_null (gone);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  process_end (&second);
}

/* The child: starts a thread whose model starts the 30 s look-up, says its
 * id once the store has the task, and waits to be killed. */
static int
child_main (const char *base_url, const char *db)
{
  g_autofree char *json = store_flow_json (base_url, db);
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  ThreadEvents *events = thread_events_new (engine);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, json);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftThread) thread = weft_thread_new (flow, NULL, &error);

  g_assert_no_error (error);
  thread_post (thread, "start it");
  thread_events_wait (events, weft_thread_get_id (thread), WEFT_EVENT_THREAD_TURN_FINISHED,
                      "completed", 1, 20);
  /* The store commits when its queue runs empty: give it the moment. */
  g_usleep (300000);
  g_print ("%s\n", weft_thread_get_id (thread));
  fflush (stdout);
  g_usleep (60 * G_USEC_PER_SEC);
  return 1;
}

static void
test_reopen_after_kill (Fixture *f, gconstpointer data)
{
  weft_mock_llm_add_tool_rule (f->mock, "start it", "[{\"name\": \"lookup\", \"arguments\": {}}]");
  weft_mock_llm_add_text_rule (f->mock, "\"status\":\"running\"", "started");
  weft_mock_llm_add_text_rule (f->mock, "was interrupted", "sorry: {last}");
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = { self, "--child", weft_mock_llm_get_base_url (f->mock), f->db, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) child = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_autoptr(GDataInputStream) out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  g_autofree char *id = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  g_subprocess_send_signal (child, SIGKILL);
  g_subprocess_wait (child, NULL, &error);
  g_assert_cmpint (weft_test_exit_status (child), ==, 1000 + SIGKILL);

  Process p;
  process_start (&p, f);
  g_autoptr(WeftThread) thread = weft_thread_open (p.flow, id, &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) history = thread_history (thread);
  g_assert_cmpuint (history->len, >=, 4);
  g_assert_cmpstr (history->pdata[0], ==, "user: start it");
  g_assert_cmpstr (history->pdata[1], ==, "assistant: (calls)");
  weft_test_assert_contains (history->pdata[2], "tool: {\"task_id\":\"t1\",\"status\":\"running\"}");
  g_assert_cmpstr (history->pdata[3], ==, "assistant: started");

  /* The task is reported interrupted: an event, the task's state, and a
   * notice the assistant answers. */
  thread_events_wait (p.events, id, WEFT_EVENT_THREAD_TASK_FINISHED, "\"status\":\"interrupted\"",
                      1, 10);
  thread_events_wait (p.events, id, WEFT_EVENT_THREAD_TURN_FINISHED, "completed", 1, 10);
  g_autoptr(JsonNode) node = weft_thread_to_json (thread);
  JsonArray *tasks = json_object_get_array_member (json_node_get_object (node), "tasks");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tasks, 0),
                                                  "status"), ==, "interrupted");
  g_autoptr(GPtrArray) after = thread_history (thread);
  weft_test_assert_contains (after->pdata[4], "notice: Background task t1 (lookup) was interrupted");
  weft_test_assert_contains (after->pdata[5], "assistant: sorry: [notice from weft");
  g_clear_pointer (&thread, weft_thread_unref);
  process_end (&p);

  /* The store says so too, for the next process. */
  process_start (&p, f);
  g_autoptr(WeftStore) store = weft_flow_dup_store (p.flow);
  g_autoptr(JsonNode) stored = weft_store_get_thread (store, id, &error);
  g_assert_no_error (error);
  g_autofree char *text = json_to_string (stored, FALSE);
  weft_test_assert_contains (text, "\"status\":\"interrupted\"");
  g_clear_pointer (&store, weft_store_free);
  process_end (&p);
}

int
main (int argc, char **argv)
{
  if (argc == 4 && g_str_equal (argv[1], "--child"))
    return child_main (argv[2], argv[3]);
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/threads-store/reopen", test_reopen);
  ADD ("/threads-store/reopen-after-kill", test_reopen_after_kill);
  return g_test_run ();
}
