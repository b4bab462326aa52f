/* test-events.c — every callback instance sees every event once, in order,
 * on its own thread, whether a message or a timer raised it; a slow one
 * holds nobody up; the JSON has one schema. */
#include "weft-test.h"

typedef struct {
  gint64 handled_us;          /* when the callback handled it */
  JsonObject *event;
} Record;

static void
record_free (Record *r)
{
  json_object_unref (r->event);
  g_free (r);
}

/* Reads what a test-recorder callback wrote: "<mono_us> <event json>". */
static GPtrArray *
read_records (const char *path)
{
  g_autofree char *text = NULL;
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify) record_free);

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] && *lines[i]; i++)
    {
      char *space = strchr (lines[i], ' ');
      g_autoptr(GError) error = NULL;
      g_assert_nonnull (space);
      Record *r = g_new0 (Record, 1);
      r->handled_us = g_ascii_strtoll (lines[i], NULL, 10);
      JsonNode *node = json_from_string (space + 1, &error);
      g_assert_no_error (error);
      r->event = json_object_ref (json_node_get_object (node));
      json_node_unref (node);
      g_ptr_array_add (records, r);
    }
  return records;
}

static const char *
ev_type (GPtrArray *records, guint i)
{
  return json_object_get_string_member (((Record *) records->pdata[i])->event, "type");
}

static gint64
ev_seq (GPtrArray *records, guint i)
{
  return json_object_get_int_member (((Record *) records->pdata[i])->event, "seq");
}

static char *
flow_with_recorders (const char *dir, guint n_tasks, const char *extra_task)
{
  GString *json = g_string_new (NULL);

  g_string_append_printf (json,
    "{\"name\": \"ev\", \"agents\": {\"s\": {\"plugin\": \"test-agent\", \"sleep_ms\": 5}},"
    " \"callbacks\": {"
    "   \"fast\": {\"plugin\": \"test-recorder\", \"path\": \"%s/fast.txt\"},"
    "   \"slow\": {\"plugin\": \"test-recorder\", \"path\": \"%s/slow.txt\", \"delay_ms\": 25},"
    "   \"only\": {\"plugin\": \"test-recorder\", \"path\": \"%s/only.txt\"}},"
    " \"tasks\": [", dir, dir, dir);
  for (guint i = 0; i < n_tasks; i++)
    {
      g_string_append_printf (json, "%s{\"name\": \"t%u\", \"agent\": \"s\", \"description\": \"x\"",
                              i ? ", " : "", i);
      if (i > 1)
        g_string_append_printf (json, ", \"context\": [\"t%u\"]", i - 2);
      g_string_append (json, "}");
    }
  g_string_append_printf (json, ", %s]}", extra_task);
  return g_string_free (json, FALSE);
}

static void
test_order_and_slow_callback (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *dir = g_dir_make_tmp ("weft-events-XXXXXX", NULL);
  g_autofree char *json = flow_with_recorders (dir, 20,
    "{\"name\": \"watched\", \"agent\": \"s\", \"description\": \"x\", \"callbacks\": [\"only\"]}");
  WeftFlow *flow = weft_test_flow (engine, json);
  g_autoptr(GError) error = NULL;

  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  gint64 run_end = weft_run_get_task_finished_us (run, 0);
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    run_end = MAX (run_end, weft_run_get_task_finished_us (run, i));
  g_autofree char *run_id = g_strdup (weft_run_get_id (run));
  weft_run_unref (run);
  /* The last unref drains every callback queue before it returns. */
  weft_flow_unref (flow);

  g_autofree char *fast_path = g_build_filename (dir, "fast.txt", NULL);
  g_autofree char *slow_path = g_build_filename (dir, "slow.txt", NULL);
  g_autofree char *only_path = g_build_filename (dir, "only.txt", NULL);
  g_autoptr(GPtrArray) fast = read_records (fast_path);
  g_autoptr(GPtrArray) slow = read_records (slow_path);
  g_autoptr(GPtrArray) only = read_records (only_path);

  /* 21 tasks: started, step, completed each; plus run.started, run.completed. */
  guint expected = 21 * 3 + 2;
  g_assert_cmpuint (fast->len, ==, expected);
  g_assert_cmpuint (slow->len, ==, expected);
  g_assert_cmpstr (ev_type (fast, 0), ==, "run.started");
  g_assert_cmpstr (ev_type (fast, expected - 1), ==, "run.completed");
  for (guint i = 0; i < expected; i++)
    {
      /* Exactly once, in the order raised: seq 1, 2, 3, ... for both. */
      g_assert_cmpint (ev_seq (fast, i), ==, i + 1);
      g_assert_cmpint (ev_seq (slow, i), ==, i + 1);
      g_assert_cmpstr (json_object_get_string_member (((Record *) slow->pdata[i])->event, "run_id"),
                       ==, run_id);
    }
  /* The slow callback was still working long after the run ended (it
   * takes 25 ms an event), and the fast one was not held back by it. */
  gint64 slow_last = ((Record *) slow->pdata[expected - 1])->handled_us;
  gint64 fast_last = ((Record *) fast->pdata[expected - 1])->handled_us;
  g_assert_cmpint (slow_last, >, run_end);
  g_assert_cmpint (fast_last, <, slow_last);
  g_assert_cmpint (((Record *) slow->pdata[expected / 2])->handled_us, >, fast_last);

  /* A callback named by a task gets that task's events only. */
  g_assert_cmpuint (only->len, ==, 3);
  for (guint i = 0; i < only->len; i++)
    g_assert_cmpstr (json_object_get_string_member (((Record *) only->pdata[i])->event, "task"),
                     ==, "watched");

  g_unlink (fast_path);
  g_unlink (slow_path);
  g_unlink (only_path);
  g_rmdir (dir);
}

typedef struct {
  GMainLoop *loop;
  WeftFlow *flow;
  guint left;
} Pending;

static void
run_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Pending *p = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff_finish (p->flow, result, &error);

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  if (--p->left == 0)
    g_main_loop_quit (p->loop);
}

/* Events of concurrent runs reach a callback in order within each run. */
static void
test_order_per_run (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (4);
  g_autofree char *dir = g_dir_make_tmp ("weft-events-XXXXXX", NULL);
  g_autofree char *json = flow_with_recorders (dir, 6,
    "{\"name\": \"watched\", \"agent\": \"s\", \"description\": \"x\", \"callbacks\": [\"only\"]}");
  WeftFlow *flow = weft_test_flow (engine, json);
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Pending pending = { loop, flow, 8 };

  /* All at once, so that their events interleave. */
  for (guint i = 0; i < 8; i++)
    weft_flow_kickoff_async (flow, NULL, NULL, run_done, &pending);
  g_main_loop_run (loop);
  weft_flow_unref (flow);

  g_autofree char *slow_path = g_build_filename (dir, "slow.txt", NULL);
  g_autoptr(GPtrArray) slow = read_records (slow_path);
  g_autoptr(GHashTable) last_seq = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < slow->len; i++)
    {
      JsonObject *e = ((Record *) slow->pdata[i])->event;
      const char *id = json_object_get_string_member (e, "run_id");
      gint64 seq = json_object_get_int_member (e, "seq");
      gint64 prev = GPOINTER_TO_SIZE (g_hash_table_lookup (last_seq, id));
      g_assert_cmpint (seq, ==, prev + 1);
      g_hash_table_insert (last_seq, g_strdup (id), GSIZE_TO_POINTER ((gsize) seq));
    }
  g_assert_cmpuint (g_hash_table_size (last_seq), ==, 8);

  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
}

typedef struct {
  GMutex lock;
  GPtrArray *json;
} Seen;

static void
seen_event (const WeftEvent *event, gpointer data)
{
  Seen *s = data;

  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->json, weft_event_to_json (event));
  g_mutex_unlock (&s->lock);
}

static JsonObject *
find_event (Seen *s, const char *type, const char *task)
{
  for (guint i = 0; i < s->json->len; i++)
    {
      JsonNode *node = json_from_string (s->json->pdata[i], NULL);
      JsonObject *o = json_node_get_object (node);
      if (g_str_equal (json_object_get_string_member (o, "type"), type)
          && g_strcmp0 (json_object_get_string_member_with_default (o, "task", NULL), task) == 0)
        {
          JsonObject *found = json_object_ref (o);
          json_node_unref (node);
          return found;
        }
      json_node_unref (node);
    }
  g_error ("no %s event for %s", type, task ? task : "the run");
}

static void
assert_common_fields (JsonObject *o, gboolean task_event)
{
  const char *always[] = { "type", "seq", "run_id", "flow", "time", "wall_us", "mono_us" };

  for (guint i = 0; i < G_N_ELEMENTS (always); i++)
    g_assert_true (json_object_has_member (o, always[i]));
  g_assert_cmpint (json_object_has_member (o, "task"), ==, task_event);
  g_assert_cmpint (json_object_has_member (o, "attempt"), ==, task_event);
  const char *time = json_object_get_string_member (o, "time");
  g_assert_true (g_str_has_suffix (time, "Z"));
  g_autoptr(GDateTime) t = g_date_time_new_from_iso8601 (time, NULL);
  g_assert_nonnull (t);
  g_assert_cmpint (g_date_time_to_unix (t), ==, json_object_get_int_member (o, "wall_us") / G_USEC_PER_SEC);
}

static void
test_json_schema (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  Seen s = { .json = g_ptr_array_new_with_free_func (g_free) };
  g_mutex_init (&s.lock);
  guint id = weft_engine_add_listener (engine, seen_event, &s, NULL);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine,
    "{\"name\": \"schema\", \"agents\": {\"ok\": {\"plugin\": \"test-agent\"},"
    "                                  \"bad\": {\"plugin\": \"test-agent\", \"fail_attempts\": 9}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"ok\", \"description\": \"x\"},"
    "             {\"name\": \"b\", \"agent\": \"bad\", \"description\": \"x\", \"retries\": 1,"
    "              \"retry_delay_ms\": 1},"
    "             {\"name\": \"c\", \"agent\": \"ok\", \"description\": \"x\", \"context\": [\"b\"]}]}");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  weft_engine_remove_listener (engine, id);

  g_autoptr(JsonObject) started = find_event (&s, "run.started", NULL);
  assert_common_fields (started, FALSE);
  g_assert_cmpint (json_object_get_int_member (started, "seq"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (started, "flow"), ==, "schema");
  g_assert_cmpstr (json_object_get_string_member (started, "run_id"), ==, weft_run_get_id (run));

  g_autoptr(JsonObject) step = find_event (&s, "task.step", "a");
  assert_common_fields (step, TRUE);
  g_assert_cmpstr (json_object_get_string_member (step, "step_kind"), ==, "note");
  g_assert_cmpstr (json_object_get_string_member (step, "output"), ==, "about to return");

  g_autoptr(JsonObject) done = find_event (&s, "task.completed", "a");
  assert_common_fields (done, TRUE);
  g_assert_cmpstr (json_object_get_string_member (done, "output"), ==, "a");
  g_assert_cmpint (json_object_get_int_member (done, "attempt"), ==, 1);
  g_assert_true (json_object_has_member (done, "duration_us"));
  g_assert_false (json_object_has_member (done, "error"));

  /* An event carries the time the run recorded for what it reports, and
   * wall time is that time plus the offset between the two clocks. */
  gint64 done_mono = json_object_get_int_member (done, "mono_us");
  gint64 offset = g_get_real_time () - g_get_monotonic_time ();
  g_assert_cmpint (done_mono, ==,
                   weft_run_get_task_finished_us (run, weft_test_task_index (flow, "a")));
  g_assert_cmpint (ABS (json_object_get_int_member (done, "wall_us") - done_mono - offset), <,
                   G_USEC_PER_SEC);
  gint64 last_mono = 0;
  for (guint i = 0; i < s.json->len; i++)
    {
      g_autoptr(JsonNode) node = json_from_string (s.json->pdata[i], NULL);
      gint64 mono = json_object_get_int_member (json_node_get_object (node), "mono_us");
      g_assert_cmpint (mono, >=, last_mono);   /* raised in order, timed in order */
      last_mono = mono;
    }

  g_autoptr(JsonObject) retrying = find_event (&s, "task.retrying", "b");
  weft_test_assert_contains (json_object_get_string_member (retrying, "error"), "attempt 1");
  g_autoptr(JsonObject) failed = find_event (&s, "task.failed", "b");
  g_assert_cmpint (json_object_get_int_member (failed, "attempt"), ==, 2);
  g_autoptr(JsonObject) skipped = find_event (&s, "task.skipped", "c");
  weft_test_assert_contains (json_object_get_string_member (skipped, "error"), "task \"b\" failed");
  g_assert_cmpint (json_object_get_int_member (skipped, "attempt"), ==, 0);
  g_autoptr(JsonObject) end = find_event (&s, "run.failed", NULL);
  assert_common_fields (end, FALSE);
  g_assert_cmpint (json_object_get_int_member (end, "seq"), ==, (gint64) s.json->len);
  g_assert_true (json_object_has_member (end, "duration_us"));

  for (guint i = WEFT_EVENT_RUN_STARTED; i <= WEFT_EVENT_RUN_CANCELLED; i++)
    {
      WeftEventType back;
      g_assert_true (weft_event_type_from_string (weft_event_type_to_string (i), &back));
      g_assert_cmpint (back, ==, i);
    }
  g_assert_false (weft_event_type_from_string ("task.exploded", NULL));
  g_ptr_array_unref (s.json);
  g_mutex_clear (&s.lock);
}

/* Whatever an output holds, its JSON reads back as the same text. */
static void
test_json_escaping (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (1);
  Seen s = { .json = g_ptr_array_new_with_free_func (g_free) };
  g_mutex_init (&s.lock);
  guint id = weft_engine_add_listener (engine, seen_event, &s, NULL);
  /* quote, backslash, newline, tab, a control character, DEL, non-ASCII, emoji */
  const char *tricky = "say \\\"hi\\\" \\\\ back\\nslash\\tand \\u0001 \\u007f é 😀";
  g_autofree char *flow_json = g_strdup_printf (
    "{\"name\": \"esc\", \"agents\": {\"t\": {\"plugin\": \"template\","
    " \"template\": \"%s\"}}, \"tasks\": [{\"name\": \"a\", \"agent\": \"t\","
    " \"description\": \"x\"}]}", tricky);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, flow_json);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  weft_engine_remove_listener (engine, id);

  g_assert_no_error (error);
  const char *output = weft_run_get_task_output (run, 0);
  g_assert_nonnull (strchr (output, '\x01'));
  g_autoptr(JsonObject) done = find_event (&s, "task.completed", "a");
  g_assert_cmpstr (json_object_get_string_member (done, "output"), ==, output);
  g_ptr_array_unref (s.json);
  g_mutex_clear (&s.lock);
}

/* Events raised by timers, outside any batch of messages (a timeout, a
 * retry's start, the run's end after a timeout), reach the callbacks all
 * the same, in order, and the run comes back after them: nothing has to
 * remember to hand them over. */
static void
test_timer_events (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autofree char *dir = g_dir_make_tmp ("weft-events-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "timers.txt", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"timers\", \"agents\": {\"slow\": {\"plugin\": \"test-agent\", \"sleep_ms\": 5000}},"
    " \"callbacks\": {\"rec\": {\"plugin\": \"test-recorder\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"slow\", \"description\": \"x\","
    "              \"timeout_s\": 0.02, \"retries\": 1, \"retry_delay_ms\": 1}]}", path);
  WeftFlow *flow = weft_test_flow (engine, json);
  g_autoptr(GError) error = NULL;
  static const char *const expected[] = {
    "run.started", "task.started", "task.retrying", "task.started", "task.failed", "run.failed",
  };

  WeftRun *run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_FAILED);
  weft_run_unref (run);
  /* The abandoned attempts hold the flow until their agent gives up. */
  weft_engine_shutdown (engine, 10000);
  weft_flow_unref (flow);

  g_autoptr(GPtrArray) records = read_records (path);
  g_assert_cmpuint (records->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < records->len; i++)
    {
      g_assert_cmpstr (ev_type (records, i), ==, expected[i]);
      g_assert_cmpint (ev_seq (records, i), ==, i + 1);
    }
  g_unlink (path);
  g_rmdir (dir);
}

/* What plugins use to read an "events" option. */
static void
test_event_set_parse (void)
{
  WeftEventSet set = 0;
  g_autoptr(GError) error = NULL;
  const char *some[] = { "task.completed", "run.failed", NULL };
  const char *bad[] = { "task.completed", "task.exploded", NULL };
  const char *none[] = { NULL };

  g_assert_true (weft_event_set_parse (NULL, "events", &set, &error));
  g_assert_cmpuint (set, ==, WEFT_EVENT_SET_ALL);
  g_assert_true (weft_event_set_parse (some, "events", &set, &error));
  g_assert_true (WEFT_EVENT_SET_HAS (set, WEFT_EVENT_TASK_COMPLETED));
  g_assert_true (WEFT_EVENT_SET_HAS (set, WEFT_EVENT_RUN_FAILED));
  g_assert_false (WEFT_EVENT_SET_HAS (set, WEFT_EVENT_TASK_CANCELLED));
  g_assert_false (weft_event_set_parse (bad, "notify", &set, &error));
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  weft_test_assert_contains (error->message, "option \"notify\": unknown event type \"task.exploded\"");
  weft_test_assert_contains (error->message, "run.resumed, task.cancelled, thread.created, ");
  weft_test_assert_contains (error->message, "thread.task_finished, thread.deleted)");
  g_clear_error (&error);
  g_assert_false (weft_event_set_parse (none, "events", &set, &error));
  weft_test_assert_contains (error->message, "must name at least one event type");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/events/order-and-slow-callback", test_order_and_slow_callback);
  g_test_add_func ("/events/order-per-run", test_order_per_run);
  g_test_add_func ("/events/timer-events", test_timer_events);
  g_test_add_func ("/events/json-schema", test_json_schema);
  g_test_add_func ("/events/json-escaping", test_json_escaping);
  g_test_add_func ("/events/event-set-parse", test_event_set_parse);
  return g_test_run ();
}
