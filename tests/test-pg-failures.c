/* test-pg-failures.c — the postgres store and its workers when the
 * database is not there (a throwaway cluster, weft-test-pg.h, stopped and
 * started by the test; skipped, with what to install, without
 * PostgreSQL):
 *
 *   - a worker started with no database reachable says so, once, stays up,
 *     and runs the queued runs once the database is back;
 *   - the database restarted while workers run: the events raised
 *     meanwhile wait and are stored once it is back, every run completes,
 *     nothing is stored twice, nothing ran twice, no run was taken from a
 *     worker that came back (their claims vanished with the restart);
 *   - a wrong password: `weft worker`, `weft runs` and a flow recording
 *     itself there stop with an error that says the server refused, never
 *     printing the password, and nothing runs.
 *
 * The waits poll with generous limits; no timing is asserted.
 */
#include "weft-test-fleet.h"

#include <signal.h>

/* The cluster goes away under the workers, and comes back. */
static void
restart (WeftFleet *f, guint away_ms)
{
  weft_test_pg_down (weft_fleet_cluster);
  g_usleep (away_ms * 1000);
  weft_test_pg_up (weft_fleet_cluster);
  /* The test's own connection went with it. */
  g_clear_pointer (&f->db, PQfinish);
}

/* Polls worker i's stderr until it holds `text`, up to 60 s. */
static void
wait_for_log (WeftFleet *f, guint i, const char *text)
{
  for (guint k = 0; k < 1200; k++)
    {
      g_autofree char *log = weft_fleet_log (f, i);
      if (strstr (log, text) != NULL)
        return;
      g_usleep (50 * 1000);
    }
  g_autofree char *log = weft_fleet_log (f, i);
  g_error ("worker %u never said \"%s\":\n%s", i, text, log);
}

static void
test_unreachable_at_start (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = weft_fleet_flow (f, "0");
  weft_fleet_enqueue (f, flow, 5, NULL);

  weft_test_pg_down (weft_fleet_cluster);
  g_clear_pointer (&f->db, PQfinish);
  /* Without a worker: a clear error, no crash. */
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "runs", "list", "--store", f->spec,
                                                         NULL }), ==, 2);
  weft_test_assert_contains (f->err, "cannot reach the database");
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "run", flow, "--enqueue", "--store",
                                                         f->spec, "--input", "n=9", NULL }),
                   ==, 2);
  weft_test_assert_contains (f->err, "cannot reach the database");

  GSubprocess *worker = weft_fleet_start (f, (const char *[]) { "--plugin-dir", f->plugin_dir,
                                                                NULL });
  wait_for_log (f, 0, "the store is away");
  g_assert_nonnull (g_subprocess_get_identifier (worker));
  weft_test_pg_up (weft_fleet_cluster);
  wait_for_log (f, 0, "the store is back");
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 5);
  weft_fleet_stop (worker);
  g_autofree char *said = weft_fleet_log (f, 0);
  /* Said once, not once a try. */
  g_assert_null (strstr (strstr (said, "the store is away") + 1, "the store is away"));
  g_assert_cmpuint (weft_fleet_check (f), ==, 0);
}

/* The database restarts while two workers run; each writer keeps its
 * batch and stores it once the database is back. */
static void
test_restart_mid_run (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_autofree char *flow = weft_fleet_flow (f, "0.2");
  weft_fleet_enqueue (f, flow, 24, NULL);
  for (guint i = 0; i < 2; i++)
    weft_fleet_start (f, (const char *[]) { "--plugin-dir", f->plugin_dir, "--concurrency",
                                            "3", NULL });
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 6);
  restart (f, 1500);
  weft_fleet_wait (f, "SELECT count(*) FROM run_rows WHERE status = 'completed'", 24);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *said = weft_fleet_log (f, i);
      g_test_message ("worker %u:\n%s", i, said);
      weft_fleet_stop (f->workers->pdata[i]);
    }
  /* Runs in flight went on where they were: none was taken from its
   * worker (resumed elsewhere) during the restart. */
  g_assert_cmpuint (weft_fleet_check (f), ==, 0);
}

static void
test_wrong_password (WeftFleet *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  const char *wrong = "not-the-password-8c1f";
  g_autofree char *conninfo = weft_test_pg_tcp_conninfo (weft_fleet_cluster, f->database, wrong);
  g_autofree char *spec = g_strdup_printf ("postgres:conninfo=%s", conninfo);
  g_autofree char *flow = weft_fleet_flow (f, "0");
  g_autofree char *callback = g_strdup_printf ("postgres:conninfo=%s", conninfo);
  g_auto(GStrv) worker = weft_test_weft_argv (f->weft, f->plugin_dir, (const char *[]) {
    "worker", "--store", spec, NULL });

  g_assert_cmpint (weft_test_run_command ((const char * const *) worker, &f->out, &f->err),
                   ==, 2);
  weft_test_assert_contains (f->err, "refused the connection");
  weft_test_assert_contains (f->err, "password authentication failed");
  g_assert_null (strstr (f->err, wrong));
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "runs", "list", "--store", spec,
                                                         NULL }), ==, 2);
  weft_test_assert_contains (f->err, "password authentication failed");
  g_assert_null (strstr (f->err, wrong));
  /* A flow recording itself there stops before any task runs. */
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "run", flow, "--callback", callback,
                                                         "--input", "n=1", NULL }), ==, 2);
  g_assert_null (strstr (f->err, wrong));
  g_assert_false (g_file_test (f->log, G_FILE_TEST_EXISTS));

  /* The right one, from the environment: it works, and is never printed. */
  g_autofree char *right = weft_test_pg_tcp_conninfo (weft_fleet_cluster, f->database,
                                                      weft_test_pg_password (weft_fleet_cluster));
  g_setenv ("WEFT_TEST_DATABASE_URL", right, TRUE);
  const char *from_env = "postgres:conninfo=${WEFT_TEST_DATABASE_URL}";
  g_assert_cmpint (weft_fleet_run (f, (const char *[]) { "run", flow, "--quiet", "--callback",
                                                         from_env, "--input", "n=2", NULL }),
                   ==, 0);
  g_assert_cmpint (weft_fleet_count (f, "SELECT count(*) FROM run_rows"
                                         " WHERE status = 'completed'"), ==, 1);
  g_unsetenv ("WEFT_TEST_DATABASE_URL");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  WEFT_FLEET_ADD ("/pg-failures/unreachable-at-start", test_unreachable_at_start);
  WEFT_FLEET_ADD ("/pg-failures/restart-mid-run", test_restart_mid_run);
  WEFT_FLEET_ADD ("/pg-failures/wrong-password", test_wrong_password);
  return weft_fleet_run_tests ();
}
