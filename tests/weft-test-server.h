/* weft-test-server.h — a WeftServer on 127.0.0.1 and a libsoup client for
 * it, shared by the tests of the HTTP API (test-server.c) and of the
 * dashboard's endpoints (test-dashboard.c): the flows every test serves,
 * the fixture, requests and their JSON, and server-sent-event frames. */
#pragma once

#include "weft-test.h"

#include <libsoup/soup.h>

#define WAIT_US (20 * G_USEC_PER_SEC)

/* Flows served by every test.  "quick" finishes at once; "slow" takes a
 * while so that its events can be watched live; "gate" counts runs in
 * flight for the batch test; "keys" holds a secret in an agent option. */
static const char quick_flow[] =
  "{\"name\": \"quick\", \"inputs\": {\"tone\": \"plain\"},"
  " \"agents\": {\"t\": {\"plugin\": \"template\","
  "                     \"template\": \"about {input.topic} ({input.tone}): {prompt}\"},"
  "            \"echo\": {\"plugin\": \"template\", \"template\": \"({input.tone}) {prompt}\"}},"
  " \"tasks\": [{\"name\": \"only\", \"agent\": \"t\", \"description\": \"Say {topic}\"}]}";

static const char slow_flow[] =
  "{\"name\": \"slow\","
  " \"agents\": {\"a\": {\"plugin\": \"test-agent\", \"sleep_ms\": 300}},"
  " \"tasks\": [{\"name\": \"first\", \"agent\": \"a\", \"description\": \"one\"},"
  "             {\"name\": \"second\", \"agent\": \"a\", \"description\": \"two\","
  "              \"context\": [\"first\"]}]}";

static const char gate_flow[] =
  "{\"name\": \"gate\","
  " \"agents\": {\"a\": {\"plugin\": \"test-agent\", \"sleep_ms\": 150}},"
  " \"tasks\": [{\"name\": \"work\", \"agent\": \"a\", \"description\": \"item {n}\"}]}";

static const char long_flow[] =
  "{\"name\": \"long\","
  " \"agents\": {\"a\": {\"plugin\": \"test-agent\", \"sleep_ms\": 30000}},"
  " \"tasks\": [{\"name\": \"wait\", \"agent\": \"a\", \"description\": \"wait\"}]}";

#define SECRET "sk-test-SECRET-4242"

static const char keys_flow[] =
  "{\"name\": \"keys\","
  " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"base_url\": \"http://127.0.0.1:9/v1\","
  "                       \"api_key\": \"" SECRET "\", \"model\": \"m\"}},"
  " \"tasks\": [{\"name\": \"ask\", \"agent\": \"llm\", \"description\": \"hi\"}]}";

typedef struct {
  WeftEngine *engine;
  WeftServer *server;
  SoupSession *session;
  char *base;
  char *token;                /* sent by http() when set */
  char *dir;                  /* temporary, for stores */
  /* Runs of "gate" in flight, as the engine's events tell. */
  GMutex lock;
  gint gate_live;
  gint gate_max;
} Fixture;

typedef struct {
  const char *token;
  gsize max_body;
  guint keep_runs;
  guint max_runs;
  gboolean with_store;
} Config;

static inline void
on_event (const WeftEvent *event, gpointer data)
{
  Fixture *f = data;

  if (g_strcmp0 (weft_event_get_flow_name (event), "gate") != 0)
    return;
  g_mutex_lock (&f->lock);
  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
      f->gate_live++;
      f->gate_max = MAX (f->gate_max, f->gate_live);
      break;
    case WEFT_EVENT_RUN_COMPLETED:
    case WEFT_EVENT_RUN_FAILED:
    case WEFT_EVENT_RUN_CANCELLED:
      f->gate_live--;
      break;
    default:
      break;
    }
  g_mutex_unlock (&f->lock);
}

static inline void
add_flow (Fixture *f, const char *json)
{
  g_autoptr(WeftFlow) flow = weft_test_flow (f->engine, json);
  g_autoptr(GError) error = NULL;

  g_assert_true (weft_server_add_flow (f->server, flow, &error));
  g_assert_no_error (error);
}

static inline void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const Config *c = data;
  WeftServerOptions options = {
    .token = c ? c->token : NULL,
    .max_body = c ? c->max_body : 0,
    .keep_runs = c ? c->keep_runs : 0,
    .max_runs = c ? c->max_runs : 0,
  };
  g_autoptr(GError) error = NULL;

  g_mutex_init (&f->lock);
  f->dir = g_dir_make_tmp ("weft-server-XXXXXX", &error);
  g_assert_no_error (error);
  f->engine = weft_test_engine_new (8);
  weft_engine_add_listener (f->engine, on_event, f, NULL);
  f->server = weft_server_new (f->engine, &options);
  add_flow (f, quick_flow);
  add_flow (f, slow_flow);
  add_flow (f, gate_flow);
  add_flow (f, long_flow);
  add_flow (f, keys_flow);
  if (c && c->with_store)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"name\": \"kept\", \"callbacks\": {\"db\": {\"plugin\": \"sqlite\", \"path\": \"%s/runs.db\"}},"
        " \"agents\": {\"n\": {\"plugin\": \"noop\"}},"
        " \"tasks\": [{\"name\": \"n\", \"agent\": \"n\", \"description\": \"x\"}]}", f->dir);
      add_flow (f, json);
    }
  g_assert_true (weft_server_listen (f->server, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (weft_server_get_port (f->server), >, 0);
  f->base = g_strdup_printf ("http://127.0.0.1:%u", weft_server_get_port (f->server));
  f->session = soup_session_new ();
  f->token = c && c->token ? g_strdup (c->token) : NULL;
}

static inline void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->session);
  weft_server_stop (f->server, 5000);
  weft_server_free (f->server);
  weft_engine_unref (f->engine);
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->base);
  g_free (f->token);
  g_mutex_clear (&f->lock);
}

#include "weft-test-sse-client.h"

/* ---- a run's events ---------------------------------------------------------- */

/* Opens a run's event stream (from `last_event_id` when not NULL). */
static inline GInputStream *
open_events (Fixture *f, const char *id, const char *last_event_id)
{
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/events", id);

  return open_stream (f, path, last_event_id);
}

static inline GPtrArray *
read_events (Fixture *f, const char *id, const char *last_event_id, guint stop_after)
{
  g_autoptr(GInputStream) stream = open_events (f, id, last_event_id);
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);

  read_frames (lines, frames, stop_after);
  g_input_stream_close (stream, NULL, NULL);
  return frames;
}

/* Each frame's data is the event's JSON, with the frame's id as its seq
 * and its type; ids go up by one from `first`. */
static inline void
assert_frames (GPtrArray *frames, guint64 first)
{
  for (guint i = 0; i < frames->len; i++)
    {
      Frame *fr = frames->pdata[i];
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) json = json_from_string (fr->data, &error);
      g_assert_no_error (error);
      JsonObject *o = json_node_get_object (json);
      g_assert_cmpuint (fr->id, ==, first + i);
      g_assert_cmpint (json_object_get_int_member (o, "seq"), ==, (gint64) fr->id);
      g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, fr->type);
    }
}

/* With store_config: a finished run of "kept" that memory no longer holds
 * (a second run, whose id goes to *newer when not NULL, pushed it out),
 * once the store has it as completed (it writes on its own thread). */
static const Config store_config = { .keep_runs = 1, .with_store = TRUE };

static inline char *
kickoff_forgotten (Fixture *f, char **newer)
{
  char *old = kickoff (f, "kept", "{}");
  json_node_unref (wait_run (f, old));
  char *second = kickoff (f, "kept", "{}");
  json_node_unref (wait_run (f, second));
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", old);
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  for (;;)
    {
      g_autoptr(JsonNode) run = NULL;
      g_autoptr(SoupMessage) msg = request_new (f, "GET", path, NULL);
      if (http_full (f, msg, NULL, NULL) == SOUP_STATUS_OK
          && http (f, "GET", path, NULL, &run) == SOUP_STATUS_OK
          && g_str_equal (member (run, "status"), "completed"))
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
  if (newer)
    *newer = second;
  else
    g_free (second);
  return old;
}
