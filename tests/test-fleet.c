/* test-fleet.c — `weft worker` processes sharing a postgres store's queue
 * (docs/scale-out.md), on a throwaway cluster (weft-test-pg.h; skipped,
 * with what to install, without PostgreSQL).
 *
 * The main test queues 300 runs of a flow of slow exec tasks that log each
 * execution (which run, which task, the worker's pid, start and end) and
 * starts three workers; partway through one worker dies as a host would,
 * kill -9 with its children.  Then, from the store's events and the log:
 * every run completed exactly once; no task ran again after its
 * completion was stored; no run has two events that tell one thing (two
 * starts of one attempt, two ends of one task, a second run end); and no
 * run was ever run by two workers at once (no two workers' executions of
 * one run overlap, and each run's story is one sequence).  Other tests:
 * a run whose flow needs a plugin a worker lacks is handed back with the
 * reason and run by one that has it; SIGTERM hands back what runs, for
 * another worker to finish; `weft workers` lists the live ones.
 */
#include "weft-test-fleet.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <stdlib.h>

#define N_RUNS 300

/* ---- the dead host ---------------------------------------------------------------- */

/* Every process whose parent is `pid`. */
static GArray *
children_of (GPid pid)
{
  GArray *children = g_array_new (FALSE, FALSE, sizeof (GPid));
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/stat", name);
      g_autofree char *stat = NULL;
      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
        continue;
      /* "PID (COMM) STATE PPID ...": COMM may hold spaces, not ")". */
      const char *after = strrchr (stat, ')');
      int ppid = 0;
      if (after != NULL && sscanf (after + 2, "%*c %d", &ppid) == 1 && ppid == pid)
        {
          GPid child = atoi (name);
          g_array_append_val (children, child);
        }
    }
  return children;
}

/* As a host dying would: the worker (stopped already) and what it runs
 * (each command in a process group of its own) all at once. */
static void
kill_host (GSubprocess *worker)
{
  GPid pid = atoi (g_subprocess_get_identifier (worker));
  g_autoptr(GArray) children = children_of (pid);
  for (guint i = 0; i < children->len; i++)
    kill (-g_array_index (children, GPid, i), SIGKILL);
  g_subprocess_send_signal (worker, SIGKILL);
  g_subprocess_wait (worker, NULL, NULL);
}

/* ---- tests ----------------------------------------------------------------------- */

static void
test_kill_one_of_three (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = weft_fleet_flow (f, "0.05");
  weft_fleet_enqueue (f, flow, N_RUNS, NULL);
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows"
                                         " WHERE status = 'queued'"), ==, N_RUNS);

  for (guint i = 0; i < 3; i++)
    weft_fleet_start (f, (const char *[]) { "--plugin-dir", f->plugin_dir, "--concurrency",
                                            "4", NULL });
  /* Partway: the first worker holds runs when its host dies.  Stopped
   * first (it takes no more), then counted, then killed; should it hold
   * none at that moment, it goes on and is caught again. */
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", N_RUNS / 3);
  GSubprocess *victim = f->workers->pdata[0];
  g_autofree char *held_sql = g_strdup_printf (
    "SELECT count(*) FROM run_rows r JOIN workers w ON w.id = r.worker"
    " WHERE w.pid = %s AND r.status IN ('queued', 'running')",
    g_subprocess_get_identifier (victim));
  gint64 held = 0;
  for (guint i = 0; i < 100 && held == 0; i++)
    {
      kill (atoi (g_subprocess_get_identifier (victim)), SIGSTOP);
      if ((held = weft_fleet_count (f, held_sql)) == 0)
        {
          kill (atoi (g_subprocess_get_identifier (victim)), SIGCONT);
          g_usleep (20 * 1000);
        }
    }
  kill_host (victim);
  g_test_message ("killed worker %d holding %" G_GINT64_FORMAT " run(s)",
                  weft_test_exit_status (victim), held);
  g_assert_cmpint (held, >, 0);

  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", N_RUNS);
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows"), ==, N_RUNS);
  weft_fleet_stop (f->workers->pdata[1]);
  weft_fleet_stop (f->workers->pdata[2]);

  guint resumed = weft_fleet_check (f);
  g_test_message ("%u run(s) resumed after the kill", resumed);
  /* The runs the dead worker had started went on elsewhere. */
  g_assert_cmpuint (resumed, >, 0);
  g_assert_cmpuint (resumed, <=, (guint) held);
  /* Every run says which worker ran it: one of the two left, or the dead one
   * for runs it finished. */
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows"
                                         " WHERE worker_name IS NULL"), ==, 0);
}

/* A worker without the plugin a flow needs hands its run back with the
 * reason; a worker with it runs it. */
static void
test_missing_plugin (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = g_build_filename (f->dir, "special.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *test_plugins = weft_test_plugin_dir ();

  g_file_set_contents (flow, "{\"name\": \"special\", \"agents\": {\"t\": {\"plugin\": "
                       "\"test-agent\"}}, \"tasks\": [{\"name\": \"a\", \"agent\": \"t\","
                       " \"description\": \"a {n}\"}]}", -1, &error);
  g_assert_no_error (error);
  weft_fleet_enqueue (f, flow, 1, (const char *[]) { "--plugin-dir", test_plugins, NULL });

  GSubprocess *lacking = weft_fleet_start (f, (const char *[]) { "--plugin-dir",
                                                                 f->plugin_dir, NULL });
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE handed_back IS NOT NULL", 1);
  g_autofree char *reason = weft_test_pg_query (weft_fleet_db (f), "SELECT handed_back FROM run_rows");
  weft_test_assert_contains (reason, "cannot run it");
  weft_test_assert_contains (reason, "test-agent");
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows WHERE status = 'queued'"
                                         " AND worker IS NULL"), ==, 1);
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "runs", "list", "--store", f->spec,
                                                         NULL }), ==, 0);
  weft_test_assert_contains (f->out, "queued");
  weft_test_assert_contains (f->out, "cannot run it");

  /* Not given to the same worker again; another one, with the plugin, runs it. */
  weft_fleet_start (f, (const char *[]) { "--plugin-dir", test_plugins, "--plugin-dir",
                                          f->plugin_dir, NULL });
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 1);
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows"
                                         " WHERE handed_back IS NULL"), ==, 1);
  weft_fleet_stop (lacking);
  weft_fleet_stop (f->workers->pdata[1]);
}

/* SIGTERM with --grace 0: the running run goes back to the queue, and
 * another worker finishes it from its stored events. */
static void
test_sigterm_hands_back (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = weft_fleet_flow (f, "1");
  weft_fleet_enqueue (f, flow, 1, NULL);

  GSubprocess *first = weft_fleet_start (f, (const char *[]) { "--plugin-dir", f->plugin_dir,
                                                               "--grace", "0", NULL });
  weft_fleet_wait (f, "SELECT count(*) FROM task_rows WHERE name = 'a'"
                      " AND status = 'completed'", 1);
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "workers", "--store", f->spec, NULL }),
                   ==, 0);
  weft_test_assert_contains (f->out, g_subprocess_get_identifier (first));
  weft_test_assert_contains (f->out, "1/4");
  weft_fleet_stop (first);
  g_autofree char *said = weft_fleet_log (f, 0);
  weft_test_assert_contains (said, "handed back");
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows WHERE status = 'running'"
                                         " AND worker IS NULL AND handed_back LIKE '%stopped%'"),
                   ==, 1);
  /* Its cancellation was not stored: the run is not over. */
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM events"
                                         " WHERE type LIKE '%cancelled'"), ==, 0);
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "workers", "--store", f->spec, NULL }),
                   ==, 0);
  weft_test_assert_contains (f->out, "no live workers");

  weft_fleet_start (f, (const char *[]) { "--plugin-dir", f->plugin_dir, NULL });
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 1);
  weft_fleet_stop (f->workers->pdata[1]);
  g_assert_cmpuint (weft_fleet_check (f), ==, 1);
}

/* ---- serve --enqueue --------------------------------------------------------------- */

/* The body of a request to the server, which must answer `status`. */
static JsonObject *
request (SoupSession *session, guint port, const char *method, const char *path,
         const char *body, guint status)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GError) error = NULL;

  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  g_autoptr(GBytes) reply = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *text = g_strndup (g_bytes_get_data (reply, NULL), g_bytes_get_size (reply));
  g_test_message ("%s %s → %u %s", method, path, soup_message_get_status (msg), text);
  g_assert_cmpuint (soup_message_get_status (msg), ==, status);
  g_autoptr(JsonNode) node = json_from_string (text, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (node));
}

static const char *
status_of (SoupSession *session, guint port, const char *run_id)
{
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", run_id);
  static char status[32];
  g_autoptr(JsonObject) run = request (session, port, "GET", path, NULL, 200);

  g_strlcpy (status, json_object_get_string_member (run, "status"), sizeof status);
  return status;
}

/* A server that queues its kickoffs: 202 with the queued ids, status read
 * from the store, and its queue's workers listed. */
static void
test_serve_enqueue (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *path = weft_fleet_flow (f, "0");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, path, &error);
  g_assert_no_error (error);
  g_autoptr(JsonObject) options = json_object_new ();
  json_object_set_string_member (options, "conninfo", f->spec + strlen ("postgres:conninfo="));
  WeftStore *queue = weft_store_open_queue (engine, "postgres", options, &error);
  g_assert_no_error (error);
  WeftServer *server = weft_server_new (engine, NULL);
  g_assert_true (weft_server_add_flow (server, flow, &error));
  weft_server_set_queue (server, queue);
  g_assert_true (weft_server_listen (server, "127.0.0.1:0", &error));
  guint port = weft_server_get_port (server);
  g_autoptr(SoupSession) session = soup_session_new ();

  g_autoptr(JsonObject) one = request (session, port, "POST", "/v1/flows/slow/runs",
                                       "{\"inputs\": {\"n\": \"1\"}}", 202);
  g_assert_cmpstr (json_object_get_string_member (one, "status"), ==, "queued");
  const char *id = json_object_get_string_member (one, "run_id");
  g_autoptr(JsonObject) batch = request (session, port, "POST", "/v1/flows/slow/batch",
                                         "{\"inputs\": [{\"n\": \"2\"}, {\"n\": \"3\"}]}",
                                         202);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (batch, "run_ids")), ==,
                    2);
  g_autoptr(JsonObject) bad = request (session, port, "POST", "/v1/flows/slow/runs",
                                       "{\"inputs\": {}}", 400);
  weft_test_assert_contains (json_object_get_string_member (bad, "error"), "missing input");
  g_assert_cmpstr (status_of (session, port, id), ==, "queued");
  g_autoptr(JsonObject) none = request (session, port, "GET", "/v1/workers", NULL, 200);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (none, "workers")), ==,
                    0);

  GSubprocess *worker = weft_fleet_start (f, (const char *[]) { "--plugin-dir", f->plugin_dir,
                                                            "--concurrency", "2", NULL });
  weft_fleet_wait (f, "SELECT count(*) FROM workers", 1);
  g_autoptr(JsonObject) live = request (session, port, "GET", "/v1/workers", NULL, 200);
  JsonArray *workers = json_object_get_array_member (live, "workers");
  g_assert_cmpuint (json_array_get_length (workers), ==, 1);
  JsonObject *w = json_array_get_object_element (workers, 0);
  g_assert_cmpint (json_object_get_int_member (w, "pid"), ==,
                   atoi (g_subprocess_get_identifier (worker)));
  g_assert_cmpint (json_object_get_int_member (w, "concurrency"), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (w, "host"), ==, g_get_host_name ());
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 3);
  g_assert_cmpstr (status_of (session, port, id), ==, "completed");
  weft_fleet_stop (worker);

  weft_server_stop (server, 1000);
  weft_server_free (server);
  weft_engine_shutdown (engine, 1000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  WEFT_FLEET_ADD ("/fleet/kill-one-of-three", test_kill_one_of_three);
  WEFT_FLEET_ADD ("/fleet/missing-plugin", test_missing_plugin);
  WEFT_FLEET_ADD ("/fleet/sigterm-hands-back", test_sigterm_hands_back);
  WEFT_FLEET_ADD ("/fleet/serve-enqueue", test_serve_enqueue);
  return weft_fleet_run_tests ();
}
