/* test-dashboard.c — what `weft serve` adds for its dashboard, over real
 * HTTP on 127.0.0.1: GET / and /ui/{file} (content types, caching
 * headers, no token needed for them and only them), GET /v1/events (every
 * run's events in one stream, feed.ready, replay after Last-Event-ID,
 * feed.reset, the end at stop), GET /v1/flows/{flow}/graph.svg, POST
 * /v1/runs/{id}/replay (from memory and from a store), a stored run's
 * events (GET /v1/runs/{id}/events from a store), and last_seq and
 * defaults in the JSON the page reads.  The page itself is tested in a
 * browser (tests/browser/). */
#include "weft-test-server.h"

static const char *
header (SoupMessage *msg, const char *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (msg), name);
}

/* GETs `path` with the fixture's token; the status, the body in *body. */
static guint
get_text (Fixture *f, const char *path, char **body, SoupMessage **out)
{
  g_autoptr(SoupMessage) msg = request_new (f, "GET", path, NULL);
  guint status = http_full (f, msg, body, NULL);

  if (out)
    *out = g_steal_pointer (&msg);
  return status;
}

static void
test_page_and_files (Fixture *f, gconstpointer data)
{
  g_autoptr(SoupMessage) page = NULL, script = NULL, style = NULL;
  g_autofree char *html = NULL, *js = NULL, *css = NULL;

  g_assert_cmpuint (get_text (f, "/", &html, &page), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (header (page, "Content-Type"), ==, "text/html; charset=utf-8");
  g_assert_cmpstr (header (page, "Cache-Control"), ==, "no-cache");
  g_assert_cmpstr (header (page, "X-Content-Type-Options"), ==, "nosniff");
  weft_test_assert_contains (header (page, "Content-Security-Policy"), "script-src 'self'");
  weft_test_assert_contains (header (page, "Content-Security-Policy"), "connect-src 'self'");
  g_assert_cmpstr (header (page, "X-Frame-Options"), ==, "DENY");
  g_assert_nonnull (header (page, "ETag"));
  weft_test_assert_contains (html, "<script type=\"module\" src=\"/ui/app.js\"></script>");
  /* Nothing is fetched from anywhere else. */
  g_assert_null (strstr (html, "http://"));
  g_assert_null (strstr (html, "https://"));

  g_assert_cmpuint (get_text (f, "/ui/app.js", &js, &script), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (header (script, "Content-Type"), ==, "text/javascript; charset=utf-8");
  g_assert_cmpstr (header (script, "Cache-Control"), ==, "no-cache");
  g_assert_null (header (script, "Content-Security-Policy"));
  weft_test_assert_contains (js, "import");
  g_assert_cmpuint (get_text (f, "/ui/style.css", &css, &style), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (header (style, "Content-Type"), ==, "text/css; charset=utf-8");
  g_assert_cmpstr (header (page, "ETag"), !=, header (style, "ETag"));

  /* Files it does not have, or would not serve, are 404s with the error shape. */
  assert_error (f, "GET", "/ui/nothing.js", NULL, SOUP_STATUS_NOT_FOUND, "nothing.js");
  assert_error (f, "GET", "/ui/weft-dashboard.gresource.xml", NULL, SOUP_STATUS_NOT_FOUND,
                "no such file");
  assert_error (f, "GET", "/ui/..%2Fapp.js", NULL, SOUP_STATUS_BAD_REQUEST, "\"..\" segment");
  assert_error (f, "GET", "/ui/a%2Fapp.js", NULL, SOUP_STATUS_NOT_FOUND, "no such");
  assert_error (f, "POST", "/", NULL, SOUP_STATUS_METHOD_NOT_ALLOWED, "allowed: GET");

  /* HEAD: the headers, no body. */
  g_autoptr(SoupMessage) head = request_new (f, "HEAD", "/", NULL);
  g_autofree char *nothing = NULL;
  g_assert_cmpuint (http_full (f, head, &nothing, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (nothing, ==, "");
  g_assert_cmpstr (header (head, "ETag"), ==, header (page, "ETag"));
}

static void
test_revalidation (Fixture *f, gconstpointer data)
{
  g_autoptr(SoupMessage) first = NULL;
  g_autofree char *body = NULL;

  g_assert_cmpuint (get_text (f, "/ui/run.js", &body, &first), ==, SOUP_STATUS_OK);
  const char *etag = header (first, "ETag");
  g_assert_true (g_str_has_prefix (etag, "\"") && g_str_has_suffix (etag, "\""));

  /* The same ETag: 304 and no body; among others, or weak, too. */
  const char *const matching[] = { etag, "\"x\", %s", "W/%s" };
  for (guint i = 0; i < G_N_ELEMENTS (matching); i++)
    {
      g_autofree char *given = g_strdup_printf (matching[i], etag);
      g_autoptr(SoupMessage) again = request_new (f, "GET", "/ui/run.js", NULL);
      g_autofree char *text = NULL;
      soup_message_headers_replace (soup_message_get_request_headers (again), "If-None-Match",
                                    i == 0 ? etag : given);
      g_assert_cmpuint (http_full (f, again, &text, NULL), ==, SOUP_STATUS_NOT_MODIFIED);
      g_assert_cmpstr (text, ==, "");
      g_assert_cmpstr (header (again, "ETag"), ==, etag);
    }
  g_autoptr(SoupMessage) stale = request_new (f, "GET", "/ui/run.js", NULL);
  g_autofree char *text = NULL;
  soup_message_headers_replace (soup_message_get_request_headers (stale), "If-None-Match",
                                "\"an-older-build\"");
  g_assert_cmpuint (http_full (f, stale, &text, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (text, ==, body);
}

static const Config token_config = { .token = "s3cret-token" };

/* The page and its files need no token (a browser cannot send one with
 * them, and they hold no data); everything it reads does. */
static void
test_token (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) health = NULL;

  g_clear_pointer (&f->token, g_free);
  g_assert_cmpuint (get_text (f, "/", NULL, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpuint (get_text (f, "/ui/api.js", NULL, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpuint (http (f, "GET", "/healthz", NULL, &health), ==, SOUP_STATUS_OK);
  g_assert_true (json_object_get_boolean_member (json_node_get_object (health),
                                                 "token_required"));
  const char *const closed[] = { "/v1/events", "/v1/runs", "/v1/flows/slow/graph.svg",
                                 "/ui", "/uix/app.js", "/index.html" };
  for (guint i = 0; i < G_N_ELEMENTS (closed); i++)
    assert_error (f, "GET", closed[i], NULL, SOUP_STATUS_UNAUTHORIZED, "Bearer");
  assert_error (f, "POST", "/v1/runs/x/replay", "{\"from\": \"a\"}",
                SOUP_STATUS_UNAUTHORIZED, "Bearer");
}

/* ---- GET /v1/events ---------------------------------------------------------------- */

static GInputStream *
open_feed (Fixture *f, const char *last_event_id)
{
  return open_stream (f, "/v1/events", last_event_id);
}

static guint64
last_id_of (Frame *fr)
{
  g_autoptr(JsonNode) json = json_from_string (fr->data, NULL);

  return (guint64) json_object_get_int_member (json_node_get_object (json), "last_id");
}

/* Frames of the feed until one of `type` (all runs' events interleave). */
static void
read_until (GDataInputStream *lines, GPtrArray *frames, const char *type)
{
  while (frames->len == 0 || g_strcmp0 (((Frame *) frames->pdata[frames->len - 1])->type, type))
    read_frames (lines, frames, frames->len + 1);
}

static void
test_feed (Fixture *f, gconstpointer data)
{
  /* Something happened before anyone watched. */
  g_autofree char *before = kickoff (f, "quick", "{\"inputs\": {\"topic\": \"a\"}}");
  json_node_unref (wait_run (f, before));

  g_autoptr(GInputStream) stream = open_feed (f, NULL);
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);

  /* A new stream starts with where the feed is, and nothing older. */
  read_frames (lines, frames, 1);
  Frame *ready = frames->pdata[0];
  g_assert_cmpstr (ready->type, ==, "feed.ready");
  g_assert_cmpuint (ready->id, ==, last_id_of (ready));
  g_assert_cmpuint (ready->id, >=, 4);

  /* Then every event of every run, numbered on from there. */
  g_autofree char *id = kickoff (f, "slow", "{}");
  read_until (lines, frames, "run.completed");
  g_assert_cmpuint (frames->len, ==, 9);
  for (guint i = 1; i < frames->len; i++)
    {
      Frame *fr = frames->pdata[i];
      g_autoptr(JsonNode) json = json_from_string (fr->data, NULL);
      JsonObject *o = json_node_get_object (json);
      g_assert_cmpuint (fr->id, ==, ready->id + i);
      g_assert_cmpstr (json_object_get_string_member (o, "run_id"), ==, id);
      g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, fr->type);
      /* The event's own seq counts within its run. */
      g_assert_cmpint (json_object_get_int_member (o, "seq"), ==, i);
    }
  g_input_stream_close (stream, NULL, NULL);

  /* Reconnecting after the third frame: the rest, the same. */
  g_autofree char *after = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                            ((Frame *) frames->pdata[3])->id);
  g_autoptr(GInputStream) again = open_feed (f, after);
  g_autoptr(GDataInputStream) again_lines = g_data_input_stream_new (again);
  g_autoptr(GPtrArray) rest = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  read_frames (again_lines, rest, frames->len - 4);
  for (guint i = 0; i < rest->len; i++)
    {
      g_assert_cmpuint (((Frame *) rest->pdata[i])->id, ==, ((Frame *) frames->pdata[i + 4])->id);
      g_assert_cmpstr (((Frame *) rest->pdata[i])->data, ==,
                       ((Frame *) frames->pdata[i + 4])->data);
    }
  g_input_stream_close (again, NULL, NULL);

  /* An id this server never gave (it restarted): start over. */
  g_autoptr(GInputStream) lost = open_feed (f, "999999");
  g_autoptr(GDataInputStream) lost_lines = g_data_input_stream_new (lost);
  g_autoptr(GPtrArray) reset = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  read_frames (lost_lines, reset, 1);
  g_assert_cmpstr (((Frame *) reset->pdata[0])->type, ==, "feed.reset");
  g_assert_cmpuint (last_id_of (reset->pdata[0]), ==, ((Frame *) frames->pdata[8])->id);
  g_input_stream_close (lost, NULL, NULL);

  assert_error (f, "GET", "/v1/events?last_event_id=abc", NULL, SOUP_STATUS_BAD_REQUEST,
                "Last-Event-ID must be");
}

/* A client that lost more than the feed keeps starts over too. */
static void
test_feed_reset_after_loss (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) body = g_string_new ("{\"inputs\": [{\"topic\": \"x\"}");
  g_autoptr(JsonNode) batch = NULL;
  gint64 deadline = g_get_monotonic_time () + WAIT_US;

  /* 1100 runs of "quick": 4 events each, more than the 4096 kept. */
  for (guint i = 1; i < 1100; i++)
    g_string_append (body, ", {\"topic\": \"x\"}");
  g_string_append (body, "]}");
  g_assert_cmpuint (http (f, "POST", "/v1/flows/quick/batch", body->str, &batch), ==, 202);
  for (;;)
    {
      g_autoptr(JsonNode) health = NULL;
      g_assert_cmpuint (http (f, "GET", "/healthz", NULL, &health), ==, SOUP_STATUS_OK);
      if (json_object_get_int_member (json_node_get_object (health), "runs_finished") == 1100)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }
  g_autoptr(GInputStream) stream = open_feed (f, "1");
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  read_frames (lines, frames, 1);
  g_assert_cmpstr (((Frame *) frames->pdata[0])->type, ==, "feed.reset");
  g_assert_cmpuint (last_id_of (frames->pdata[0]), ==, 4400);
  g_input_stream_close (stream, NULL, NULL);
}

/* ---- the run page's other reads ------------------------------------------------------ */

static void
test_graph_svg (Fixture *f, gconstpointer data)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *svg = NULL;
  g_autofree char *dot = g_find_program_in_path ("dot");

  if (dot == NULL)
    {
      g_test_skip ("Graphviz's dot is not installed (apt-get install graphviz)");
      return;
    }
  g_assert_cmpuint (get_text (f, "/v1/flows/slow/graph.svg", &svg, &msg), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (header (msg, "Content-Type"), ==, "image/svg+xml");
  weft_test_assert_contains (svg, "<svg");
  weft_test_assert_contains (svg, "<title>first</title>");
  weft_test_assert_contains (svg, "<title>second</title>");
  /* Drawn once: the second answer is the same. */
  g_autofree char *again = NULL;
  g_assert_cmpuint (get_text (f, "/v1/flows/slow/graph.svg", &again, NULL), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (again, ==, svg);
  assert_error (f, "GET", "/v1/flows/nope/graph.svg", NULL, SOUP_STATUS_NOT_FOUND,
                "no flow named");
}

static void
test_json_for_the_page (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) flow = NULL, run = NULL, list = NULL;
  g_autofree char *id = kickoff (f, "slow", "{}");

  /* A run's JSON says which events it already counts. */
  json_node_unref (wait_run (f, id));
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", id);
  g_assert_cmpuint (http (f, "GET", path, NULL, &run), ==, SOUP_STATUS_OK);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (run), "last_seq"), ==, 8);
  g_assert_cmpuint (http (f, "GET", "/v1/runs", NULL, &list), ==, SOUP_STATUS_OK);
  JsonArray *runs = json_object_get_array_member (json_node_get_object (list), "runs");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (runs, 0),
                                               "last_seq"), ==, 8);

  /* A flow's form is prefilled with its defaults. */
  g_assert_cmpuint (http (f, "GET", "/v1/flows/quick", NULL, &flow), ==, SOUP_STATUS_OK);
  JsonObject *defaults = json_object_get_object_member (json_node_get_object (flow), "defaults");
  g_assert_cmpuint (json_object_get_size (defaults), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (defaults, "tone"), ==, "plain");
}

/* ---- replay ----------------------------------------------------------------------------- */

static JsonObject *
task_of (JsonNode *run, guint i)
{
  return json_array_get_object_element (json_object_get_array_member (json_node_get_object (run),
                                                                      "tasks"), i);
}

static void
test_replay (Fixture *f, gconstpointer data)
{
  g_autofree char *id = kickoff (f, "slow", "{}");
  g_autoptr(JsonNode) first = wait_run (f, id);
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/replay", id);
  g_autoptr(JsonNode) answer = NULL;

  g_assert_cmpuint (http (f, "POST", path, "{\"from\": \"second\"}", &answer), ==,
                    SOUP_STATUS_ACCEPTED);
  JsonObject *a = json_node_get_object (answer);
  g_assert_cmpstr (json_object_get_string_member (a, "replay_of"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (a, "from"), ==, "second");
  g_assert_cmpint (json_object_get_int_member (a, "rerun"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (a, "reused"), ==, 1);
  const char *new_id = json_object_get_string_member (a, "run_id");
  g_assert_cmpstr (new_id, !=, id);

  /* The first task's output is reused (attempt 0), the second runs again. */
  g_autoptr(GPtrArray) events = read_events (f, new_id, NULL, 0);
  g_assert_cmpstr (((Frame *) events->pdata[1])->type, ==, "task.completed");
  weft_test_assert_contains (((Frame *) events->pdata[1])->data, "\"attempt\":0");
  g_autoptr(JsonNode) second = wait_run (f, new_id);
  g_assert_cmpstr (member (second, "status"), ==, "completed");
  g_assert_cmpstr (json_object_get_string_member (task_of (second, 0), "output"), ==,
                   json_object_get_string_member (task_of (first, 0), "output"));
  g_assert_cmpint (json_object_get_int_member (task_of (second, 1), "attempts"), ==, 1);

  assert_error (f, "POST", path, "{}", SOUP_STATUS_BAD_REQUEST, "missing \"from\"");
  assert_error (f, "POST", path, "{\"from\": 3}", SOUP_STATUS_BAD_REQUEST, "expected \"from\"");
  assert_error (f, "POST", path, "{\"from\": \"third\"}", SOUP_STATUS_BAD_REQUEST,
                "its tasks: first, second");
  assert_error (f, "POST", path, "{\"from\": \"first\", \"x\": 1}", SOUP_STATUS_BAD_REQUEST,
                "unknown member");
  assert_error (f, "POST", "/v1/runs/nope/replay", "{\"from\": \"first\"}",
                SOUP_STATUS_NOT_FOUND, "no run \"nope\"");
}

/* A run no longer in memory is replayed from what its store kept. */
static void
test_replay_from_store (Fixture *f, gconstpointer data)
{
  g_autofree char *old = kickoff_forgotten (f, NULL);
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/replay", old);
  g_autoptr(JsonNode) answer = NULL;
  g_assert_cmpuint (http (f, "POST", path, "{\"from\": \"n\"}", &answer), ==,
                    SOUP_STATUS_ACCEPTED);
  JsonObject *a = json_node_get_object (answer);
  g_assert_cmpstr (json_object_get_string_member (a, "replay_of"), ==, old);
  g_autoptr(JsonNode) run = wait_run (f, json_object_get_string_member (a, "run_id"));
  g_assert_cmpstr (member (run, "status"), ==, "completed");
  g_assert_cmpstr (member (run, "flow"), ==, "kept");

  assert_error (f, "POST", "/v1/runs/6d1c0c4e-0000-4000-8000-000000000000/replay",
                "{\"from\": \"n\"}", SOUP_STATUS_NOT_FOUND, "in memory or in a store");
}

/* A run no longer in memory has its events streamed from its store, from
 * the first or after Last-Event-ID, and the stream ends with them: what
 * the run page folds its tasks' attempts and steps from. */
static void
test_events_from_store (Fixture *f, gconstpointer data)
{
  g_autofree char *old = kickoff_forgotten (f, NULL);
  g_autoptr(GPtrArray) all = read_events (f, old, NULL, 0);

  g_assert_cmpuint (all->len, ==, 4);
  assert_frames (all, 1);
  g_assert_cmpstr (((Frame *) all->pdata[0])->type, ==, "run.started");
  g_assert_cmpstr (((Frame *) all->pdata[1])->type, ==, "task.started");
  g_assert_cmpstr (((Frame *) all->pdata[2])->type, ==, "task.completed");
  g_assert_cmpstr (((Frame *) all->pdata[3])->type, ==, "run.completed");
  weft_test_assert_contains (((Frame *) all->pdata[2])->data, "\"task\":\"n\"");

  g_autoptr(GPtrArray) rest = read_events (f, old, "2", 0);
  g_assert_cmpuint (rest->len, ==, 2);
  assert_frames (rest, 3);
  g_autoptr(GPtrArray) none = read_events (f, old, "4", 0);
  g_assert_cmpuint (none->len, ==, 0);

  g_autofree char *path = g_strdup_printf ("/v1/runs/%s/events", old);
  g_autoptr(SoupMessage) bad = request_new (f, "GET", path, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (bad), "Last-Event-ID", "x");
  g_assert_cmpuint (http_full (f, bad, NULL, NULL), ==, SOUP_STATUS_BAD_REQUEST);
  assert_error (f, "GET", "/v1/runs/6d1c0c4e-0000-4000-8000-000000000000/events", NULL,
                SOUP_STATUS_NOT_FOUND, "nor in a store that gives its events back");
}

/* Stopping ends the feed: a client that follows it sees the end. */
static void
test_stop_ends_feed (void)
{
  Fixture fx = { 0 }, *f = &fx;

  fixture_set_up (f, NULL);
  g_autoptr(GInputStream) stream = open_feed (f, NULL);
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new (stream);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);

  read_frames (lines, frames, 1);
  weft_server_stop (f->server, 1000);
  read_frames (lines, frames, 0);   /* to the end of the body */
  g_assert_cmpuint (frames->len, ==, 1);
  g_input_stream_close (stream, NULL, NULL);
  fixture_tear_down (f, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/dashboard/page-and-files", Fixture, NULL, fixture_set_up, test_page_and_files,
              fixture_tear_down);
  g_test_add ("/dashboard/revalidation", Fixture, NULL, fixture_set_up, test_revalidation,
              fixture_tear_down);
  g_test_add ("/dashboard/token", Fixture, &token_config, fixture_set_up, test_token,
              fixture_tear_down);
  g_test_add ("/dashboard/feed", Fixture, NULL, fixture_set_up, test_feed, fixture_tear_down);
  g_test_add ("/dashboard/feed-reset", Fixture, NULL, fixture_set_up,
              test_feed_reset_after_loss, fixture_tear_down);
  g_test_add ("/dashboard/graph-svg", Fixture, NULL, fixture_set_up, test_graph_svg,
              fixture_tear_down);
  g_test_add ("/dashboard/json", Fixture, NULL, fixture_set_up, test_json_for_the_page,
              fixture_tear_down);
  g_test_add ("/dashboard/replay", Fixture, NULL, fixture_set_up, test_replay,
              fixture_tear_down);
  g_test_add ("/dashboard/replay-from-store", Fixture, &store_config, fixture_set_up,
              test_replay_from_store, fixture_tear_down);
  g_test_add ("/dashboard/events-from-store", Fixture, &store_config, fixture_set_up,
              test_events_from_store, fixture_tear_down);
  g_test_add_func ("/dashboard/stop-ends-feed", test_stop_ends_feed);
  return g_test_run ();
}
