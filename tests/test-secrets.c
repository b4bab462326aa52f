/* test-secrets.c — a value from the environment reaches no sink.
 *
 * A flow puts two "${…}" values where errors quote them: inside an exec
 * agent's command (the "cannot execute" error names the path) and inside
 * an openai agent's base_url (a failed request names the URL).  Both
 * tasks fail, and their errors travel everywhere weft writes: events, the
 * log callback's file, the sqlite store, a webhook's bodies, stdout and
 * stderr of `weft run`, and, served in process, the HTTP responses and
 * the server-sent events of the run.  Each is checked to hold the errors
 * (so that a sink which dropped them cannot pass) and no secret, as given
 * or percent-encoded. */
#define _GNU_SOURCE  /* memmem */
#include "weft-test.h"
#include "weft-test-http.h"

#define SECRET_CMD "p@ss w0rd+cmd"
#define SECRET_URL "tok3n-URL-7f3e9a"

typedef struct {
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  WeftTestListener listener;
  GMutex lock;
  GString *hook_bodies;       /* every webhook body received */
  char *dir;
} Fixture;

/* ---- a webhook receiver and an LLM server that knows no such path ---------- */

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer data)
{
  Fixture *f = data;

  if (g_str_equal (path, "/hook"))
    {
      SoupMessageBody *body = soup_server_message_get_request_body (msg);
      g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
      g_mutex_lock (&f->lock);
      g_string_append_len (f->hook_bodies, g_bytes_get_data (bytes, NULL),
                           (gssize) g_bytes_get_size (bytes));
      g_string_append_c (f->hook_bodies, '\n');
      g_mutex_unlock (&f->lock);
      soup_server_message_set_status (msg, 204, NULL);
      return;
    }
  soup_server_message_set_status (msg, 404, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, "no such path", 12);
}

static gpointer
serve_thread (gpointer data)
{
  Fixture *f = data;

  g_main_context_push_thread_default (f->context);
  g_main_loop_run (f->loop);
  g_main_context_pop_thread_default (f->context);
  return NULL;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_mutex_init (&f->lock);
  f->hook_bodies = g_string_new (NULL);
  f->dir = g_dir_make_tmp ("weft-secrets-XXXXXX", &error);
  g_assert_no_error (error);
  f->context = g_main_context_new ();
  f->loop = g_main_loop_new (f->context, FALSE);
  SoupServer *server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, on_request, f, NULL);
  weft_test_listener_start (&f->listener, server, f->context, NULL, NULL);
  f->thread = g_thread_new ("receiver", serve_thread, f);
  g_setenv ("WEFT_TEST_SECRET_CMD", SECRET_CMD, TRUE);
  g_setenv ("WEFT_TEST_SECRET_URL", SECRET_URL, TRUE);
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_main_context_invoke (f->context, quit_loop, f->loop);
  g_thread_join (f->thread);
  weft_test_listener_stop (&f->listener, f->context);
  g_main_loop_unref (f->loop);
  g_main_context_unref (f->context);
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  g_string_free (f->hook_bodies, TRUE);
  g_mutex_clear (&f->lock);
}

/* ---- checks --------------------------------------------------------------------- */

/* `text` (of `length` bytes: a database file is not a C string) holds no
 * secret in any form a message could carry it. */
static void
assert_no_secret (const char *sink, const char *text, gsize length)
{
  const char *secrets[] = { SECRET_CMD, SECRET_URL, "p%40ss%20w0rd%2Bcmd", "p@ss%20w0rd+cmd",
                            "tok3n-URL" };

  for (guint i = 0; i < G_N_ELEMENTS (secrets); i++)
    if (memmem (text, length, secrets[i], strlen (secrets[i])) != NULL)
      g_error ("%s holds the secret \"%s\":\n%.*s", sink, secrets[i],
               (int) MIN (length, 4000), text);
}

/* The sink got the failures, with *** where the secrets were. */
static void
assert_has_errors (const char *sink, const char *text, gsize length)
{
  if (memmem (text, length, "/nonexistent/***/tool", 21) == NULL)
    g_error ("%s lacks the exec error, redacted:\n%.*s", sink, (int) MIN (length, 4000), text);
  if (memmem (text, length, "/***/v1", 7) == NULL)
    g_error ("%s lacks the openai error, redacted:\n%.*s", sink, (int) MIN (length, 4000), text);
}

static void
check_sink (const char *sink, const char *text, gsize length)
{
  g_test_message ("checking %s (%" G_GSIZE_FORMAT " bytes)", sink, length);
  assert_has_errors (sink, text, length);
  assert_no_secret (sink, text, length);
}

static void
check_file (const char *path)
{
  g_autofree char *text = NULL;
  gsize length = 0;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &text, &length, &error));
  g_assert_no_error (error);
  check_sink (path, text, length);
}

/* ---- the flow ------------------------------------------------------------------- */

static char *
leaky_flow (Fixture *f, gboolean with_sinks)
{
  g_autofree char *log = g_build_filename (f->dir, "events.log", NULL);
  g_autofree char *db = g_build_filename (f->dir, "runs.db", NULL);
  g_autofree char *sinks = with_sinks
    ? g_strdup_printf (", \"callbacks\": {"
                       "\"log\": {\"plugin\": \"log\", \"path\": \"%s\", \"max_output\": 0},"
                       "\"jsonl\": {\"plugin\": \"log\", \"format\": \"jsonl\", \"path\": \"%s.jsonl\"},"
                       "\"store\": {\"plugin\": \"sqlite\", \"path\": \"%s\"},"
                       "\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%u/hook\"}}",
                       log, log, db, f->listener.port)
    : g_strdup ("");

  return g_strdup_printf (
    "{\"name\": \"leaky\","
    " \"agents\": {"
    "   \"cmd\": {\"plugin\": \"exec\", \"command\": [\"/nonexistent/${WEFT_TEST_SECRET_CMD}/tool\"]},"
    "   \"llm\": {\"plugin\": \"openai\", \"model\": \"m\", \"max_retries\": 0,"
    "             \"base_url\": \"http://127.0.0.1:%u/${WEFT_TEST_SECRET_URL}/v1\"}}"
    "%s,"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"cmd\", \"description\": \"run\"},"
    "             {\"name\": \"b\", \"agent\": \"llm\", \"description\": \"ask\"}]}",
    f->listener.port, sinks);
}

/* `weft run`, with every sink a flow can have. */
static void
test_secrets_cli (Fixture *f, gconstpointer data)
{
  g_autofree char *flow = leaky_flow (f, TRUE);
  g_autofree char *path = g_build_filename (f->dir, "leaky.json", NULL);
  g_autofree char *weft = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "cli", "weft", NULL);
  g_autofree char *plugins = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "plugins", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, flow, -1, &error));
  const char *argv[] = { weft, "run", path, "--plugin-dir", plugins, "--json", NULL };
  g_assert_cmpint (weft_test_run_command (argv, &out, &err), ==, 1);

  g_autofree char *both = g_strconcat (out, err, NULL);
  check_sink ("stdout and stderr", both, strlen (both));
  g_autofree char *log = g_build_filename (f->dir, "events.log", NULL);
  g_autofree char *jsonl = g_build_filename (f->dir, "events.log.jsonl", NULL);
  g_autofree char *db = g_build_filename (f->dir, "runs.db", NULL);
  check_file (log);
  check_file (jsonl);
  /* The store: its database and whatever is still in its write-ahead log. */
  g_autofree char *wal = g_strconcat (db, "-wal", NULL);
  g_autofree char *db_text = NULL;
  gsize db_length = 0;
  g_assert_true (g_file_get_contents (db, &db_text, &db_length, &error));
  g_autoptr(GString) stored = g_string_new_len (db_text, (gssize) db_length);
  g_autofree char *wal_text = NULL;
  gsize wal_length = 0;
  if (g_file_get_contents (wal, &wal_text, &wal_length, NULL))
    g_string_append_len (stored, wal_text, (gssize) wal_length);
  check_sink ("the sqlite store", stored->str, stored->len);
  /* Read back through `weft runs show`, too. */
  g_autofree char *spec = g_strconcat ("sqlite:path=", db, NULL);
  const char *list[] = { weft, "runs", "list", "--store", spec, "--plugin-dir", plugins, "--json",
                         NULL };
  g_assert_cmpint (weft_test_run_command (list, &out, &err), ==, 0);
  g_autoptr(JsonNode) runs = json_from_string (out, &error);
  g_assert_no_error (error);
  const char *id = json_object_get_string_member (
    json_array_get_object_element (json_node_get_array (runs), 0), "run_id");
  const char *show[] = { weft, "runs", "show", id, "--store", spec, "--plugin-dir", plugins,
                         NULL };
  weft_test_run_command (show, &out, &err);
  g_autofree char *shown = g_strconcat (out, err, NULL);
  /* Its table cuts errors short: the exec one is whole in the run's. */
  weft_test_assert_contains (shown, "/nonexistent/***/tool");
  weft_test_assert_contains (shown, "/***/v");
  assert_no_secret ("weft runs show", shown, strlen (shown));

  g_mutex_lock (&f->lock);
  check_sink ("the webhook's bodies", f->hook_bodies->str, f->hook_bodies->len);
  g_mutex_unlock (&f->lock);
}

/* ---- served ---------------------------------------------------------------------- */

static char *
http_get (SoupSession *session, const char *url, guint *status)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read (session, msg, NULL, &error);

  g_assert_no_error (error);
  *status = soup_message_get_status (msg);
  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static void
test_secrets_served (Fixture *f, gconstpointer data)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autoptr(WeftServer) server = weft_server_new (engine, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *flow_text = leaky_flow (f, FALSE);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, flow_text);

  g_assert_true (weft_server_add_flow (server, flow, &error));
  g_assert_true (weft_server_listen (server, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *base = g_strdup_printf ("http://127.0.0.1:%u", weft_server_get_port (server));

  g_autofree char *kickoff = g_strconcat (base, "/v1/flows/leaky/runs", NULL);
  g_autoptr(SoupMessage) post = soup_message_new ("POST", kickoff);
  g_autoptr(GBytes) answer = soup_session_send_and_read (session, post, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (post), ==, 202);
  g_autoptr(JsonNode) started = json_from_string (g_bytes_get_data (answer, NULL), &error);
  g_assert_no_error (error);
  const char *id = json_object_get_string_member (json_node_get_object (started), "run_id");

  /* The stream ends after the run's last event. */
  guint status = 0;
  g_autofree char *events_url = g_strdup_printf ("%s/v1/runs/%s/events", base, id);
  g_autofree char *events = http_get (session, events_url, &status);
  g_assert_cmpuint (status, ==, 200);
  check_sink ("the server-sent events", events, strlen (events));

  g_autofree char *run_url = g_strdup_printf ("%s/v1/runs/%s", base, id);
  g_autofree char *run = http_get (session, run_url, &status);
  g_assert_cmpuint (status, ==, 200);
  check_sink ("GET /v1/runs/ID", run, strlen (run));

  g_autofree char *list_url = g_strdup_printf ("%s/v1/runs", base);
  g_autofree char *list = http_get (session, list_url, &status);
  g_assert_cmpuint (status, ==, 200);
  assert_no_secret ("GET /v1/runs", list, strlen (list));

  g_autofree char *flow_url = g_strdup_printf ("%s/v1/flows/leaky", base);
  g_autofree char *described = http_get (session, flow_url, &status);
  g_assert_cmpuint (status, ==, 200);
  assert_no_secret ("GET /v1/flows/leaky", described, strlen (described));

  weft_server_stop (server, 1000);
}

/* The redaction itself: every occurrence, longest secret first. */
static void
test_secrets_redact (Fixture *f, gconstpointer data)
{
  /* Loading the flow is what records its values. */
  g_autoptr(WeftEngine) engine = weft_test_engine_new (1);
  g_autofree char *flow_text = leaky_flow (f, FALSE);
  g_autoptr(WeftFlow) flow = weft_test_flow (engine, flow_text);
  g_assert_nonnull (flow);
  g_autofree char *a = weft_secrets_redact ("x " SECRET_URL " y " SECRET_URL);
  g_autofree char *none = weft_secrets_redact ("nothing to hide");

  g_assert_cmpstr (a, ==, "x *** y ***");
  g_assert_cmpstr (none, ==, "nothing to hide");
  g_assert_null (weft_secrets_redact (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/secrets/cli", Fixture, NULL, fixture_set_up, test_secrets_cli,
              fixture_tear_down);
  g_test_add ("/secrets/served", Fixture, NULL, fixture_set_up, test_secrets_served,
              fixture_tear_down);
  g_test_add ("/secrets/redact", Fixture, NULL, fixture_set_up, test_secrets_redact,
              fixture_tear_down);
  return g_test_run ();
}
