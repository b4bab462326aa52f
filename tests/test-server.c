/* test-server.c — `weft serve`'s HTTP API over real HTTP on 127.0.0.1.
 *
 * Each test starts a WeftServer (libweft) on a free port and talks to it
 * with a libsoup client from the test's own thread, as any program
 * would: every endpoint, server-sent events and their replay from
 * Last-Event-ID, batches that respect max_parallel, cancel, background
 * tasks, the token, the body limit, each 4xx, retention, the store, and
 * stopping. */
#include "weft-test.h"
#include "weft-test-server.h"

/* ---- tests ------------------------------------------------------------------------ */

static void
test_health_flows_plugins (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) health = NULL, flows = NULL, flow = NULL, plugins = NULL;
  g_autofree char *flow_text = NULL, *plugins_text = NULL, *flows_text = NULL;

  g_assert_cmpuint (http (f, "GET", "/healthz", NULL, &health), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (member (health, "status"), ==, "ok");
  /* Load balancers ask with HEAD. */
  g_autofree char *head_body = NULL;
  g_autoptr(SoupMessage) head = request_new (f, "HEAD", "/healthz", NULL);
  g_assert_cmpuint (http_full (f, head, &head_body, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (head_body, ==, "");
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (health), "flows"), ==, 5);

  g_autoptr(SoupMessage) m1 = request_new (f, "GET", "/v1/flows", NULL);
  g_assert_cmpuint (http_full (f, m1, &flows_text, &flows), ==, SOUP_STATUS_OK);
  JsonArray *list = json_object_get_array_member (json_node_get_object (flows), "flows");
  g_assert_cmpuint (json_array_get_length (list), ==, 5);
  /* Sorted by name. */
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (list, 0), "name"),
                   ==, "gate");
  JsonObject *quick = json_array_get_object_element (list, 3);
  g_assert_cmpstr (json_object_get_string_member (quick, "name"), ==, "quick");
  JsonArray *inputs = json_object_get_array_member (quick, "inputs");
  g_assert_cmpuint (json_array_get_length (inputs), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (inputs, 0), ==, "topic");

  g_autoptr(SoupMessage) m2 = request_new (f, "GET", "/v1/flows/slow", NULL);
  g_assert_cmpuint (http_full (f, m2, &flow_text, &flow), ==, SOUP_STATUS_OK);
  JsonObject *fo = json_node_get_object (flow);
  JsonArray *tasks = json_object_get_array_member (fo, "tasks");
  g_assert_cmpuint (json_array_get_length (tasks), ==, 2);
  JsonObject *second = json_array_get_object_element (tasks, 1);
  g_assert_cmpstr (json_object_get_string_member (second, "agent"), ==, "a");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (second, "depends_on"), 0),
                   ==, "first");
  JsonObject *graph = json_object_get_object_member (fo, "graph");
  weft_test_assert_contains (json_object_get_string_member (graph, "dot"), "digraph");
  weft_test_assert_contains (json_object_get_string_member (graph, "mermaid"), "first");

  g_autoptr(SoupMessage) m3 = request_new (f, "GET", "/v1/plugins", NULL);
  g_assert_cmpuint (http_full (f, m3, &plugins_text, &plugins), ==, SOUP_STATUS_OK);
  weft_test_assert_contains (plugins_text, "\"name\":\"openai\"");
  weft_test_assert_contains (plugins_text, "\"name\":\"sqlite\"");
  /* What a table checks is shown: a range, the choices of an enum. */
  weft_test_assert_contains (plugins_text, "\"name\":\"delay_ms\"");
  weft_test_assert_contains (plugins_text, "\"min\":0");
  weft_test_assert_contains (plugins_text, "\"max\":2147483647");
  weft_test_assert_contains (plugins_text, "\"choices\":[\"text\",\"jsonl\"]");
  weft_test_assert_contains (plugins_text, "\"name\":\"template\",\"type\":\"string\"");
  weft_test_assert_contains (plugins_text, "\"task_template\":true");

  /* An agent's options may hold keys: no response shows them. */
  g_autofree char *keys_text = NULL;
  g_autoptr(SoupMessage) m4 = request_new (f, "GET", "/v1/flows/keys", NULL);
  g_assert_cmpuint (http_full (f, m4, &keys_text, NULL), ==, SOUP_STATUS_OK);
  const char *texts[] = { keys_text, flows_text, plugins_text, flow_text };
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    g_assert_null (strstr (texts[i], SECRET));
}

static void
test_kickoff_and_read (Fixture *f, gconstpointer data)
{
  g_autofree char *id = kickoff (f, "quick", "{\"inputs\": {\"topic\": \"C\"}}");
  g_autoptr(JsonNode) run = wait_run (f, id);
  JsonObject *o = json_node_get_object (run);

  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "completed");
  g_assert_cmpstr (json_object_get_string_member (o, "flow"), ==, "quick");
  g_assert_true (json_object_get_null_member (o, "error"));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "inputs"), "tone"),
                   ==, "plain");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "outputs"), "only"),
                   ==, "about C (plain): Say C");
  JsonObject *task = json_array_get_object_element (json_object_get_array_member (o, "tasks"), 0);
  g_assert_cmpstr (json_object_get_string_member (task, "name"), ==, "only");
  g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "completed");
  g_assert_cmpint (json_object_get_int_member (task, "attempts"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (task, "started_wall_us"), >, 0);
  g_assert_cmpint (json_object_get_int_member (task, "finished_wall_us"), >=,
                   json_object_get_int_member (task, "started_wall_us"));

  /* The list: newest first, filtered by flow and status. */
  g_autofree char *other = kickoff (f, "slow", "{}");
  g_autoptr(JsonNode) all = NULL, completed = NULL, slow = NULL, limited = NULL;
  g_assert_cmpuint (http (f, "GET", "/v1/runs", NULL, &all), ==, SOUP_STATUS_OK);
  JsonArray *runs = json_object_get_array_member (json_node_get_object (all), "runs");
  g_assert_cmpuint (json_array_get_length (runs), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (runs, 0), "run_id"),
                   ==, other);
  g_assert_cmpuint (http (f, "GET", "/v1/runs?status=completed", NULL, &completed), ==, 200);
  runs = json_object_get_array_member (json_node_get_object (completed), "runs");
  g_assert_cmpuint (json_array_get_length (runs), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (runs, 0), "run_id"),
                   ==, id);
  g_assert_cmpuint (http (f, "GET", "/v1/runs?flow=slow", NULL, &slow), ==, 200);
  runs = json_object_get_array_member (json_node_get_object (slow), "runs");
  g_assert_cmpuint (json_array_get_length (runs), ==, 1);
  g_assert_cmpuint (http (f, "GET", "/v1/runs?limit=1", NULL, &limited), ==, 200);
  runs = json_object_get_array_member (json_node_get_object (limited), "runs");
  g_assert_cmpuint (json_array_get_length (runs), ==, 1);
  json_node_unref (wait_run (f, other));
}

static void
test_events_live_and_replayed (Fixture *f, gconstpointer data)
{
  g_autofree char *id = kickoff (f, "slow", "{}");
  /* Live: read while the run goes on; the stream ends with the run. */
  g_autoptr(GPtrArray) live = read_events (f, id, NULL, 0);
  const char *expected[] = { "run.started", "task.started", "task.step", "task.completed",
                             "task.started", "task.step", "task.completed", "run.completed" };

  g_assert_cmpuint (live->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < live->len; i++)
    g_assert_cmpstr (((Frame *) live->pdata[i])->type, ==, expected[i]);
  assert_frames (live, 1);

  /* Reconnection: from Last-Event-ID on, the same frames. */
  g_autoptr(GPtrArray) rest = read_events (f, id, "3", 0);
  g_assert_cmpuint (rest->len, ==, live->len - 3);
  assert_frames (rest, 4);
  for (guint i = 0; i < rest->len; i++)
    g_assert_cmpstr (((Frame *) rest->pdata[i])->data, ==, ((Frame *) live->pdata[i + 3])->data);
  /* The same by query, as a client without headers would. */
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/events?last_event_id=7", id);
  g_autofree char *text = NULL;
  g_autoptr(SoupMessage) msg = request_new (f, "GET", path, NULL);
  g_assert_cmpuint (http_full (f, msg, &text, NULL), ==, SOUP_STATUS_OK);
  g_assert_true (g_str_has_prefix (text, "id: 8\nevent: run.completed\ndata: {"));

  /* A client that drops off mid-run and comes back gets the rest. */
  g_autofree char *id2 = kickoff (f, "slow", "{}");
  g_autoptr(GPtrArray) head = read_events (f, id2, NULL, 2);
  g_assert_cmpuint (head->len, ==, 2);
  g_autofree char *last = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                           ((Frame *) head->pdata[1])->id);
  g_autoptr(GPtrArray) tail = read_events (f, id2, last, 0);
  assert_frames (tail, 3);
  g_assert_cmpstr (((Frame *) tail->pdata[tail->len - 1])->type, ==, "run.completed");
  g_assert_cmpuint (head->len + tail->len, ==, G_N_ELEMENTS (expected));
}

static void
test_batch_max_parallel (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;

  g_assert_cmpuint (http (f, "POST", "/v1/flows/gate/batch",
                          "{\"inputs\": [{\"n\": 1}, {\"n\": 2}, {\"n\": 3}, {\"n\": 4}, {\"n\": 5},"
                          " {\"n\": 6}, {\"n\": 7}], \"max_parallel\": 2}", &reply),
                    ==, SOUP_STATUS_ACCEPTED);
  JsonArray *ids = json_object_get_array_member (json_node_get_object (reply), "run_ids");
  g_assert_cmpuint (json_array_get_length (ids), ==, 7);
  for (guint i = 0; i < 7; i++)
    {
      g_autoptr(JsonNode) run = wait_run (f, json_array_get_string_element (ids, i));
      g_assert_cmpstr (member (run, "status"), ==, "completed");
      JsonObject *inputs = json_object_get_object_member (json_node_get_object (run), "inputs");
      g_assert_cmpint (json_object_get_int_member (inputs, "n"), ==, i + 1);
    }
  g_mutex_lock (&f->lock);
  g_assert_cmpint (f->gate_max, ==, 2);
  g_assert_cmpint (f->gate_live, ==, 0);
  g_mutex_unlock (&f->lock);

  /* A batch with one bad input starts nothing. */
  assert_error (f, "POST", "/v1/flows/gate/batch", "{\"inputs\": [{\"n\": 1}, {}]}", 400,
                "\"inputs\"[1]: missing input \"n\"");
  assert_error (f, "POST", "/v1/flows/gate/batch", "{\"inputs\": [{\"n\": 1}, {\"n\": 2, \"m\": 3}]}",
                400, "\"inputs\"[1]: test.json: unknown input \"m\" (did you mean \"n\"? the flow "
                "takes: n)");
  assert_error (f, "POST", "/v1/flows/gate/batch", "{\"inputs\": {\"n\": 1}}", 400,
                "must be an array");
  assert_error (f, "POST", "/v1/flows/gate/batch", "{\"inputs\": [{\"n\": 1}], \"max_parallel\": 0}",
                400, "\"max_parallel\" must be an integer");
  assert_error (f, "POST", "/v1/flows/gate/batch",
                "{\"inputs\": [{\"n\": 1}], \"max_parallel\": \"2\"}", 400,
                "\"max_parallel\" must be an integer");
}

static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autofree char *id = kickoff (f, "long", "{}");
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/cancel", id);
  g_autoptr(JsonNode) reply = NULL;

  g_assert_cmpuint (http (f, "POST", path, NULL, &reply), ==, SOUP_STATUS_ACCEPTED);
  g_assert_cmpstr (member (reply, "status"), ==, "cancelling");
  g_autoptr(JsonNode) run = wait_run (f, id);
  g_assert_cmpstr (member (run, "status"), ==, "cancelled");
  JsonObject *task = json_array_get_object_element (
    json_object_get_array_member (json_node_get_object (run), "tasks"), 0);
  g_assert_cmpstr (json_object_get_string_member (task, "status"), ==, "cancelled");
  assert_error (f, "POST", path, NULL, 409, "has already cancelled");
  assert_error (f, "POST", "/v1/runs/nope/cancel", NULL, 404, "no run \"nope\"");

  /* Queued in a batch: cancelled without taking a place. */
  g_autoptr(JsonNode) batch = NULL;
  g_assert_cmpuint (http (f, "POST", "/v1/flows/long/batch",
                          "{\"inputs\": [{}, {}], \"max_parallel\": 1}", &batch), ==, 202);
  JsonArray *ids = json_object_get_array_member (json_node_get_object (batch), "run_ids");
  for (guint i = 2; i-- > 0;)
    {
      g_autofree char *p = g_strdup_printf ("/v1/runs/%s/cancel",
                                            json_array_get_string_element (ids, i));
      g_assert_cmpuint (http (f, "POST", p, NULL, NULL), ==, SOUP_STATUS_ACCEPTED);
    }
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(JsonNode) r = wait_run (f, json_array_get_string_element (ids, i));
      g_assert_cmpstr (member (r, "status"), ==, "cancelled");
    }
}

static void
test_background_tasks (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) created = NULL, list = NULL;

  g_assert_cmpuint (http (f, "POST", "/v1/tasks",
                          "{\"flow\": \"quick\", \"agent\": \"echo\", \"prompt\": \"hello {x}\"}",
                          &created), ==, SOUP_STATUS_ACCEPTED);
  g_autofree char *path = g_strdup_printf ("/v1/tasks/%s", member (created, "task_id"));
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  JsonNode *task = NULL;
  for (;;)
    {
      g_assert_cmpuint (http (f, "GET", path, NULL, &task), ==, SOUP_STATUS_OK);
      if (!g_str_equal (member (task, "status"), "running"))
        break;
      g_clear_pointer (&task, json_node_unref);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }
  g_assert_cmpstr (member (task, "status"), ==, "completed");
  g_assert_cmpstr (member (task, "agent"), ==, "echo");
  g_assert_cmpstr (member (task, "flow"), ==, "quick");
  /* The flow's default inputs are there; the prompt is handed as it is. */
  g_assert_cmpstr (member (task, "output"), ==, "(plain) hello {x}");
  json_node_unref (task);

  g_assert_cmpuint (http (f, "GET", "/v1/tasks", NULL, &list), ==, SOUP_STATUS_OK);
  JsonArray *tasks = json_object_get_array_member (json_node_get_object (list), "tasks");
  g_assert_cmpuint (json_array_get_length (tasks), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (tasks, 0), "task_id"),
                   ==, member (created, "task_id"));

  assert_error (f, "POST", "/v1/tasks", "{\"flow\": \"quick\", \"agent\": \"x\", \"prompt\": \"p\"}",
                404, "has no agent \"x\" (agents: t, echo)");
  assert_error (f, "POST", "/v1/tasks", "{\"flow\": \"quick\", \"agent\": \"t\"}", 400,
                "missing \"prompt\"");
  assert_error (f, "POST", "/v1/tasks", "{\"flow\": \"quick\", \"agent\": 3, \"prompt\": \"p\"}",
                400, "\"agent\" must be a string");
  assert_error (f, "POST", "/v1/tasks", "{\"agent\": \"t\", \"prompt\": \"p\"}", 400,
                "missing \"flow\"");
  assert_error (f, "GET", "/v1/tasks/nope", NULL, 404, "no task \"nope\"");

  /* A long one, cancelled. */
  g_autoptr(JsonNode) long_task = NULL, cancelled = NULL;
  g_assert_cmpuint (http (f, "POST", "/v1/tasks",
                          "{\"flow\": \"long\", \"agent\": \"a\", \"prompt\": \"p\"}", &long_task),
                    ==, SOUP_STATUS_ACCEPTED);
  g_autofree char *cancel = g_strdup_printf ("/v1/tasks/%s/cancel", member (long_task, "task_id"));
  g_assert_cmpuint (http (f, "POST", cancel, NULL, &cancelled), ==, SOUP_STATUS_ACCEPTED);
  g_assert_cmpstr (member (cancelled, "status"), ==, "cancelling");
  g_autofree char *done = g_strdup_printf ("/v1/tasks/%s/cancel", member (created, "task_id"));
  assert_error (f, "POST", done, NULL, 409, "has already completed");
  assert_error (f, "POST", "/v1/tasks/nope/cancel", NULL, 404, "no task \"nope\"");
}

/* The same API in C, as an embedding program uses it. */
static void
test_background_tasks_c_api (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, slow_flow);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < 3; i++)
    {
      g_ptr_array_add (ids, weft_engine_create_task (f->engine, flow, "a", "go", &error));
      g_assert_no_error (error);
    }
  g_assert_null (weft_engine_create_task (f->engine, flow, "b", "go", &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Three calls of 300 ms share the agent and run at once. */
  gint64 start = g_get_monotonic_time ();
  for (guint i = 0; i < ids->len; i++)
    for (;;)
      {
        g_autoptr(JsonNode) t = weft_engine_check_task (f->engine, ids->pdata[i], &error);
        g_assert_no_error (error);
        if (g_str_equal (member (t, "status"), "completed"))
          {
            g_assert_cmpstr (member (t, "output"), ==, "a");
            break;
          }
        g_assert_cmpstr (member (t, "status"), ==, "running");
        g_assert_cmpint (g_get_monotonic_time () - start, <, WAIT_US);
        g_usleep (10000);
      }
  g_autoptr(JsonNode) all = weft_engine_list_tasks (f->engine);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (all)), ==, 3);
  g_assert_null (weft_engine_check_task (f->engine, "nope", &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Retention: only the newest are kept. */
  weft_engine_set_task_retention (f->engine, 1, 3600);
  g_autoptr(JsonNode) kept = weft_engine_list_tasks (f->engine);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (kept)), ==, 1);
}

static const char *const bad_requests[][5] = {
  /* method, path, body, status, text in the error */
  { "POST", "/v1/flows/quick/runs", "{\"inputs\": ", "400", "malformed JSON" },
  { "POST", "/v1/flows/quick/runs", "[1, 2]", "400", "must be a JSON object, not an array" },
  { "POST", "/v1/flows/quick/runs", "", "400", "missing input \"topic\" (flow \"quick\" needs: topic)" },
  { "POST", "/v1/flows/quick/runs", "{\"input\": {}}", "400", "unknown member \"input\" in the body (known: inputs)" },
  { "POST", "/v1/flows/quick/runs", "{\"inputs\": {}}", "400", "missing input \"topic\"" },
  { "POST", "/v1/flows/quick/runs", "{\"inputs\": \"C\"}", "400", "must be a JSON object of input names" },
  /* An input the flow does not take, with what it may have meant. */
  { "POST", "/v1/flows/quick/runs", "{\"inputs\": {\"topic\": \"C\", \"tnoe\": \"x\"}}", "400",
    "\"inputs\": test.json: unknown input \"tnoe\" (did you mean \"tone\"? the flow takes: topic, tone)" },
  { "POST", "/v1/flows/nope/runs", "{}", "404", "no flow named \"nope\" (flows: gate, keys, long, quick, slow)" },
  { "GET", "/v1/flows/nope", NULL, "404", "no flow named \"nope\"" },
  { "GET", "/v1/flows/quick/runs", NULL, "405", "method GET is not allowed" },
  { "DELETE", "/v1/runs", NULL, "405", "allowed: GET" },
  { "GET", "/v1/nothing", NULL, "404", "no such endpoint: GET /v1/nothing" },
  { "GET", "/v1/flows/", NULL, "404", "no such endpoint" },
  { "GET", "/v1/runs/nope", NULL, "404", "no run \"nope\"" },
  { "GET", "/v1/runs/nope/events", NULL, "404", "no run \"nope\" in memory" },
  { "GET", "/v1/runs?limit=0", NULL, "400", "limit must be a number from 1 to 1000" },
  { "GET", "/v1/runs?status=done", NULL, "400", "status must be one of" },
  { "GET", "/v1/tasks/nope", NULL, "404", "no task" },
};

static void
test_bad_requests (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_requests); i++)
    {
      const char *const *r = bad_requests[i];
      g_test_message ("%s %s %s", r[0], r[1], r[2] ? r[2] : "");
      assert_error (f, r[0], r[1], r[2], (guint) atoi (r[3]), r[4]);
    }
  g_autoptr(SoupMessage) msg = request_new (f, "GET", "/v1/flows/quick/runs", NULL);
  g_assert_cmpuint (http_full (f, msg, NULL, NULL), ==, 405);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg), "Allow"),
                   ==, "POST");

  /* A bad Last-Event-ID. */
  g_autofree char *id = kickoff (f, "quick", "{\"inputs\": {\"topic\": \"x\"}}");
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/events?last_event_id=abc", id);
  assert_error (f, "GET", path, NULL, 400, "Last-Event-ID must be an event id");
}

static const Config token_config = { .token = "s3cret-token" };

static void
test_token (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) json = NULL;

  g_assert_cmpuint (http (f, "GET", "/v1/flows", NULL, NULL), ==, SOUP_STATUS_OK);
  g_clear_pointer (&f->token, g_free);
  /* Every endpoint but /healthz. */
  const char *paths[] = { "/v1/flows", "/v1/runs", "/v1/tasks", "/v1/plugins", "/v1/flows/quick" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    assert_error (f, "GET", paths[i], NULL, 401, "needs \"Authorization: Bearer TOKEN\"");
  assert_error (f, "POST", "/v1/flows/quick/runs", "{\"inputs\": {\"topic\": \"x\"}}", 401,
                "needs \"Authorization");
  g_autoptr(SoupMessage) msg = request_new (f, "GET", "/v1/runs", NULL);
  g_assert_cmpuint (http_full (f, msg, NULL, NULL), ==, 401);
  weft_test_assert_contains (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                           "WWW-Authenticate"), "Bearer");
  g_assert_cmpuint (http (f, "GET", "/healthz", NULL, &json), ==, SOUP_STATUS_OK);

  f->token = g_strdup ("s3cret-tokeX");
  assert_error (f, "GET", "/v1/flows", NULL, 401, "the bearer token is wrong");
  g_free (f->token);
  f->token = g_strdup ("s3cret-token-longer");
  assert_error (f, "GET", "/v1/flows", NULL, 401, "wrong");
  g_free (f->token);
  f->token = g_strdup ("s3cret-token");
  g_assert_cmpuint (http (f, "GET", "/v1/runs", NULL, NULL), ==, SOUP_STATUS_OK);
}

/* Any address but loopback needs a token. */
static void
test_listen_refused_without_token (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autoptr(GError) error = NULL;
  WeftServer *open = weft_server_new (engine, NULL);
  WeftServerOptions with_token = { .token = "t" };
  WeftServer *guarded = weft_server_new (engine, &with_token);

  g_assert_false (weft_server_listen (open, "0.0.0.0:0", &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  weft_test_assert_contains (error->message, "refusing to listen on 0.0.0.0:0 without a token");
  g_clear_error (&error);
  g_assert_false (weft_server_listen (open, "example.org:80", &error));
  weft_test_assert_contains (error->message, "is not an IP address");
  g_clear_error (&error);
  g_assert_true (weft_server_listen (open, "localhost:0", &error));
  g_assert_no_error (error);
  g_assert_true (weft_server_listen (guarded, "0.0.0.0:0", &error));
  g_assert_no_error (error);
  weft_server_free (open);
  weft_server_free (guarded);
}

static const Config small_body_config = { .max_body = 1024 };

static void
test_body_limit (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) big = g_string_new ("{\"inputs\": {\"topic\": \"");

  for (guint i = 0; i < 2000; i++)
    g_string_append_c (big, 'x');
  g_string_append (big, "\"}}");
  assert_error (f, "POST", "/v1/flows/quick/runs", big->str, 413, "larger than 1024 bytes");

  /* Chunked, with no length up front: counted as it comes. */
  g_autoptr(SoupMessage) msg = request_new (f, "POST", "/v1/flows/quick/runs", NULL);
  g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_data (g_strdup (big->str),
                                                                       (gssize) big->len, g_free);
  soup_message_set_request_body (msg, "application/json", stream, -1);
  g_autoptr(JsonNode) json = NULL;
  g_assert_cmpuint (http_full (f, msg, NULL, &json), ==, 413);

  /* Just under the limit is fine. */
  g_autofree char *id = kickoff (f, "quick", "{\"inputs\": {\"topic\": \"small\"}}");
  json_node_unref (wait_run (f, id));
}

static const Config keep_two_config = { .keep_runs = 2 };

static void
test_retention (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonNode) list = NULL, health = NULL;

  for (guint i = 0; i < 4; i++)
    {
      g_ptr_array_add (ids, kickoff (f, "quick", "{\"inputs\": {\"topic\": \"x\"}}"));
      json_node_unref (wait_run (f, ids->pdata[i]));
    }
  g_autofree char *first = g_strdup_printf ("/v1/runs/%s", (char *) ids->pdata[0]);
  assert_error (f, "GET", first, NULL, 404, "no store is configured");
  g_assert_cmpuint (http (f, "GET", "/v1/runs", NULL, &list), ==, 200);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_node_get_object (list),
                                                                         "runs")), ==, 2);
  g_assert_cmpuint (http (f, "GET", "/healthz", NULL, &health), ==, 200);
  JsonObject *h = json_node_get_object (health);
  g_assert_cmpint (json_object_get_int_member (h, "runs_kept"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (h, "runs_finished"), ==, 4);
}

static const Config one_run_config = { .max_runs = 1 };

/* Runs in flight are bounded: beyond, 503 with Retry-After. */
static void
test_max_runs (Fixture *f, gconstpointer data)
{
  g_autofree char *id = kickoff (f, "long", "{}");
  g_autoptr(SoupMessage) msg = request_new (f, "POST", "/v1/flows/quick/runs",
                                            "{\"inputs\": {\"topic\": \"x\"}}");
  g_autoptr(JsonNode) json = NULL;

  g_assert_cmpuint (http_full (f, msg, NULL, &json), ==, SOUP_STATUS_SERVICE_UNAVAILABLE);
  weft_test_assert_contains (member (json, "error"), "1 runs are in flight");
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                 "Retry-After"), ==, "1");
  assert_error (f, "POST", "/v1/flows/gate/batch", "{\"inputs\": [{\"n\": 1}]}", 503,
                "(--max-runs)");
  g_autofree char *cancel = g_strdup_printf ("/v1/runs/%s/cancel", id);
  g_assert_cmpuint (http (f, "POST", cancel, NULL, NULL), ==, SOUP_STATUS_ACCEPTED);
  json_node_unref (wait_run (f, id));
  g_autofree char *next = kickoff (f, "quick", "{\"inputs\": {\"topic\": \"x\"}}");
  json_node_unref (wait_run (f, next));
}

/* Connections are kept alive between requests. */
static void
test_keep_alive (Fixture *f, gconstpointer data)
{
  guint64 first = 0;

  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(SoupMessage) msg = request_new (f, "GET", "/v1/flows", NULL);
      g_assert_cmpuint (http_full (f, msg, NULL, NULL), ==, SOUP_STATUS_OK);
      if (i == 0)
        first = soup_message_get_connection_id (msg);
      g_assert_cmpuint (soup_message_get_connection_id (msg), ==, first);
    }
  g_autofree char *id = kickoff (f, "quick", "{\"inputs\": {\"topic\": \"x\"}}");
  /* A finished run's body is made once, and is the same each time. */
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", id);
  json_node_unref (wait_run (f, id));
  g_autofree char *a = NULL, *b = NULL;
  g_autoptr(SoupMessage) m1 = request_new (f, "GET", path, NULL);
  g_autoptr(SoupMessage) m2 = request_new (f, "GET", path, NULL);
  g_assert_cmpuint (http_full (f, m1, &a, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpuint (http_full (f, m2, &b, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (a, ==, b);
  weft_test_assert_contains (a, "\"status\":\"completed\"");
}

/* Runs no longer in memory are read from the flow's store. */
static void
test_store_fallback (Fixture *f, gconstpointer data)
{
  g_autofree char *b = NULL;
  g_autofree char *a = kickoff_forgotten (f, &b);
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", a);
  g_autoptr(JsonNode) run = NULL, list = NULL;

  /* The store writes on its own thread: wait for the row. */
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  while (http (f, "GET", path, NULL, NULL) != SOUP_STATUS_OK)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
  g_assert_cmpuint (http (f, "GET", path, NULL, &run), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (member (run, "run_id"), ==, a);
  g_assert_cmpstr (member (run, "flow"), ==, "kept");
  /* Not the flow's text: an agent's options may be written in it. */
  g_assert_false (json_object_has_member (json_node_get_object (run), "flow_source"));
  while (!g_str_equal (member (run, "status"), "completed"))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
      g_clear_pointer (&run, json_node_unref);
      g_assert_cmpuint (http (f, "GET", path, NULL, &run), ==, SOUP_STATUS_OK);
    }
  g_assert_cmpuint (http (f, "GET", "/v1/runs?flow=kept", NULL, &list), ==, SOUP_STATUS_OK);
  JsonArray *runs = json_object_get_array_member (json_node_get_object (list), "runs");
  g_assert_cmpuint (json_array_get_length (runs), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (runs, 0), "run_id"),
                   ==, b);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (runs, 1), "run_id"),
                   ==, a);
  assert_error (f, "GET", "/v1/runs/nope", NULL, 404, "in memory or in a store");

  /* A background task no longer in memory, too. */
  g_autoptr(JsonNode) t1 = NULL, t2 = NULL, stored = NULL;
  g_assert_cmpuint (http (f, "POST", "/v1/tasks", "{\"flow\": \"kept\", \"agent\": \"n\", "
                          "\"prompt\": \"p\"}", &t1), ==, SOUP_STATUS_ACCEPTED);
  g_assert_cmpuint (http (f, "POST", "/v1/tasks", "{\"flow\": \"kept\", \"agent\": \"n\", "
                          "\"prompt\": \"q\"}", &t2), ==, SOUP_STATUS_ACCEPTED);
  /* Both finish; only the newest stays in memory. */
  for (;;)
    {
      g_autoptr(JsonNode) tasks = NULL;
      g_assert_cmpuint (http (f, "GET", "/v1/tasks", NULL, &tasks), ==, SOUP_STATUS_OK);
      JsonArray *kept = json_object_get_array_member (json_node_get_object (tasks), "tasks");
      if (json_array_get_length (kept) == 1
          && g_str_equal (json_object_get_string_member (json_array_get_object_element (kept, 0),
                                                         "status"), "completed"))
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
  g_autofree char *task_path = g_strdup_printf ("/v1/tasks/%s", member (t1, "task_id"));
  for (;;)
    {
      guint status = http (f, "GET", task_path, NULL, &stored);
      if (status == SOUP_STATUS_OK && g_str_equal (member (stored, "status"), "completed"))
        break;
      g_clear_pointer (&stored, json_node_unref);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
  g_assert_cmpstr (member (stored, "task_id"), ==, member (t1, "task_id"));
  g_assert_cmpstr (member (stored, "flow"), ==, "kept");
  g_assert_cmpstr (member (stored, "agent"), ==, "n");
}

/* Stopping lets a short run finish, cancels a long one after the grace
 * period, and stops accepting. */
typedef struct {
  GMutex lock;
  GHashTable *ends;           /* run id → the type of its last event */
} Ends;

static void
record_end (const WeftEvent *event, gpointer data)
{
  Ends *e = data;
  WeftEventType type = weft_event_get_event_type (event);

  if (type != WEFT_EVENT_RUN_COMPLETED && type != WEFT_EVENT_RUN_CANCELLED)
    return;
  g_mutex_lock (&e->lock);
  g_hash_table_insert (e->ends, g_strdup (weft_event_get_run_id (event)),
                       g_strdup (weft_event_type_to_string (type)));
  g_mutex_unlock (&e->lock);
}

static gpointer
stop_server (gpointer data)
{
  weft_server_stop (data, 1500);
  return NULL;
}

static void
test_stop (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autoptr(GError) error = NULL;
  Fixture f = { .engine = engine };
  g_autoptr(WeftFlow) slow = weft_test_flow (engine, slow_flow);
  g_autoptr(WeftFlow) lng = weft_test_flow (engine, long_flow);
  Ends ends = { .ends = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free) };

  g_mutex_init (&ends.lock);
  guint listener = weft_engine_add_listener (engine, record_end, &ends, NULL);
  f.server = weft_server_new (engine, NULL);
  g_assert_true (weft_server_add_flow (f.server, slow, &error));
  g_assert_true (weft_server_add_flow (f.server, lng, &error));
  g_assert_false (weft_server_add_flow (f.server, lng, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_DUPLICATE);
  g_clear_error (&error);
  g_assert_true (weft_server_listen (f.server, "127.0.0.1:0", &error));
  f.base = g_strdup_printf ("http://127.0.0.1:%u", weft_server_get_port (f.server));
  f.session = soup_session_new ();

  g_autofree char *short_id = kickoff (&f, "slow", "{}");
  g_autofree char *long_id = kickoff (&f, "long", "{}");
  /* A client watches the long run: its stream must end cleanly, with the
   * run's last event, before the connections close. */
  g_autoptr(GInputStream) stream = open_events (&f, long_id, NULL);
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  read_frames (lines, frames, 2);
  gint64 start = g_get_monotonic_time ();
  GThread *stopper = g_thread_new ("stop", stop_server, f.server);
  read_frames (lines, frames, 0);
  g_thread_join (stopper);
  g_assert_cmpstr (((Frame *) frames->pdata[frames->len - 1])->type, ==, "run.cancelled");
  assert_frames (frames, 1);
  /* Cancelled at the end of the grace period, not after its 30 s. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
  g_mutex_lock (&ends.lock);
  g_assert_cmpstr (g_hash_table_lookup (ends.ends, short_id), ==, "run.completed");
  g_assert_cmpstr (g_hash_table_lookup (ends.ends, long_id), ==, "run.cancelled");
  g_mutex_unlock (&ends.lock);

  /* No longer accepting. */
  g_autofree char *url = g_strconcat (f.base, "/healthz", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GBytes) body = soup_session_send_and_read (f.session, msg, NULL, &error);
  g_assert_null (body);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);

  weft_engine_remove_listener (engine, listener);
  g_clear_object (&f.session);
  weft_server_free (f.server);
  g_free (f.base);
  g_hash_table_unref (ends.ends);
  g_mutex_clear (&ends.lock);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/server/health-flows-plugins", Fixture, NULL, fixture_set_up,
              test_health_flows_plugins, fixture_tear_down);
  g_test_add ("/server/kickoff-and-read", Fixture, NULL, fixture_set_up, test_kickoff_and_read,
              fixture_tear_down);
  g_test_add ("/server/events", Fixture, NULL, fixture_set_up, test_events_live_and_replayed,
              fixture_tear_down);
  g_test_add ("/server/batch", Fixture, NULL, fixture_set_up, test_batch_max_parallel,
              fixture_tear_down);
  g_test_add ("/server/cancel", Fixture, NULL, fixture_set_up, test_cancel, fixture_tear_down);
  g_test_add ("/server/tasks", Fixture, NULL, fixture_set_up, test_background_tasks,
              fixture_tear_down);
  g_test_add ("/server/tasks-c-api", Fixture, NULL, fixture_set_up, test_background_tasks_c_api,
              fixture_tear_down);
  g_test_add ("/server/bad-requests", Fixture, NULL, fixture_set_up, test_bad_requests,
              fixture_tear_down);
  g_test_add ("/server/token", Fixture, &token_config, fixture_set_up, test_token,
              fixture_tear_down);
  g_test_add_func ("/server/listen-needs-token", test_listen_refused_without_token);
  g_test_add ("/server/body-limit", Fixture, &small_body_config, fixture_set_up, test_body_limit,
              fixture_tear_down);
  g_test_add ("/server/retention", Fixture, &keep_two_config, fixture_set_up, test_retention,
              fixture_tear_down);
  g_test_add ("/server/store", Fixture, &store_config, fixture_set_up, test_store_fallback,
              fixture_tear_down);
  g_test_add ("/server/max-runs", Fixture, &one_run_config, fixture_set_up, test_max_runs,
              fixture_tear_down);
  g_test_add ("/server/keep-alive", Fixture, NULL, fixture_set_up, test_keep_alive,
              fixture_tear_down);
  g_test_add_func ("/server/stop", test_stop);
  return g_test_run ();
}
