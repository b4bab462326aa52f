/* weft-test-pg.c — a throwaway PostgreSQL cluster (weft-test-pg.h says
 * what it promises).  initdb and postgres run as children of the test;
 * when the test runs as root they run as `nobody`, dropped to in the
 * child between fork and exec, which also asks the kernel for SIGQUIT
 * when the test goes (PR_SET_PDEATHSIG): the server never outlives it. */
#define _GNU_SOURCE
#include "weft-test-pg.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct _WeftTestPg {
  char *bindir;
  char *dir;                  /* the socket's directory, and the data's parent */
  char *data;
  guint port;
  uid_t uid;                  /* the cluster's user: ours, or nobody's as root */
  gid_t gid;
  gboolean drop;              /* run the children as uid/gid */
  GSubprocess *server;
};

#define WEFT_TEST_PG_USER "weft"
#define WEFT_TEST_PG_PASSWORD "weft-test-password"

/* ---- finding PostgreSQL ----------------------------------------------------------- */

/* Debian keeps the server's programs in /usr/lib/postgresql/VERSION/bin,
 * out of PATH: the newest there, else PATH's. */
static char *
weft_test_pg_find_bindir (void)
{
  const char *given = g_getenv ("WEFT_TEST_PG_BINDIR");
  g_autoptr(GDir) dir = g_dir_open ("/usr/lib/postgresql", 0, NULL);
  const char *name;
  int best = -1;
  char *found = NULL;

  if (given != NULL)
    return g_strdup (given);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *bin = g_build_filename ("/usr/lib/postgresql", name, "bin", NULL);
      g_autofree char *initdb = g_build_filename (bin, "initdb", NULL);
      g_autofree char *postgres = g_build_filename (bin, "postgres", NULL);
      int version = atoi (name);
      if (version > best && g_file_test (initdb, G_FILE_TEST_IS_EXECUTABLE)
          && g_file_test (postgres, G_FILE_TEST_IS_EXECUTABLE))
        {
          best = version;
          g_free (found);
          found = g_steal_pointer (&bin);
        }
    }
  if (found == NULL)
    {
      g_autofree char *initdb = g_find_program_in_path ("initdb");
      if (initdb != NULL)
        found = g_path_get_dirname (initdb);
    }
  return found;
}

/* ---- children ---------------------------------------------------------------------- */

static void
weft_test_pg_child_setup (gpointer data)
{
  WeftTestPg *pg = data;

  if (pg->drop && (setgroups (0, NULL) != 0 || setgid (pg->gid) != 0 || setuid (pg->uid) != 0))
    _exit (127);
  /* After setuid: a change of credentials clears it. */
  prctl (PR_SET_PDEATHSIG, SIGQUIT);
}

static GSubprocessLauncher *
weft_test_pg_launcher (WeftTestPg *pg, const char *log)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);

  g_subprocess_launcher_set_child_setup (launcher, weft_test_pg_child_setup, pg, NULL);
  g_subprocess_launcher_set_cwd (launcher, pg->dir);
  /* The cluster speaks English and C whatever the host's locale. */
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "PGDATA");
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  return launcher;
}

static void
weft_test_pg_fail (WeftTestPg *pg, const char *what, const char *log)
{
  g_autofree char *text = NULL;

  g_file_get_contents (log, &text, NULL, NULL);
  g_error ("PostgreSQL test cluster: %s failed:\n%s", what, text ? text : "(no log)");
}

static void
weft_test_pg_initdb (WeftTestPg *pg)
{
  g_autofree char *initdb = g_build_filename (pg->bindir, "initdb", NULL);
  g_autofree char *pwfile = g_build_filename (pg->dir, "password", NULL);
  g_autofree char *log = g_build_filename (pg->dir, "initdb.log", NULL);
  g_autofree char *pwflag = g_strconcat ("--pwfile=", pwfile, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (pwfile, WEFT_TEST_PG_PASSWORD "\n", -1, &error);
  g_assert_no_error (error);
  if (pg->drop)
    g_assert_cmpint (chown (pwfile, pg->uid, pg->gid), ==, 0);
  g_autoptr(GSubprocessLauncher) launcher = weft_test_pg_launcher (pg, log);
  const char *argv[] = { initdb, "-D", pg->data, "-U", WEFT_TEST_PG_USER, pwflag,
                         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                         "--locale=C", "--no-sync", NULL };
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  if (!g_subprocess_wait_check (proc, NULL, NULL))
    weft_test_pg_fail (pg, "initdb", log);
}

static guint
weft_test_pg_free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (socket, any, TRUE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static char *
weft_test_pg_socket_conninfo (WeftTestPg *pg, const char *database)
{
  return g_strdup_printf ("host=%s port=%u dbname=%s user=" WEFT_TEST_PG_USER, pg->dir,
                          pg->port, database);
}

void
weft_test_pg_up (WeftTestPg *pg)
{
  g_autofree char *postgres = g_build_filename (pg->bindir, "postgres", NULL);
  g_autofree char *log = g_build_filename (pg->dir, "postgres.log", NULL);
  g_autofree char *port = g_strdup_printf ("%u", pg->port);
  g_autofree char *ready = weft_test_pg_socket_conninfo (pg, "postgres");
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = weft_test_pg_launcher (pg, log);
  /* Nothing here must survive a crash of the machine: no fsync, unless
   * WEFT_TEST_PG_DURABLE asks (a benchmark measuring commits). */
  const char *durable = g_getenv ("WEFT_TEST_PG_DURABLE") ? "on" : "off";
  g_autofree char *fsync = g_strdup_printf ("fsync=%s", durable);
  g_autofree char *sync_commit = g_strdup_printf ("synchronous_commit=%s", durable);
  g_autofree char *full_pages = g_strdup_printf ("full_page_writes=%s", durable);
  const char *argv[] = { postgres, "-D", pg->data, "-p", port, "-k", pg->dir,
                         "-c", "listen_addresses=127.0.0.1", "-c", fsync,
                         "-c", sync_commit, "-c", full_pages,
                         "-c", "max_connections=300", NULL };

  g_assert_null (pg->server);
  pg->server = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 600; i++)
    {
      if (PQping (ready) == PQPING_OK)
        return;
      if (g_subprocess_get_identifier (pg->server) == NULL)
        break;
      g_usleep (100 * 1000);
    }
  weft_test_pg_fail (pg, "starting postgres", log);
}

void
weft_test_pg_down (WeftTestPg *pg)
{
  g_autoptr(GError) error = NULL;

  if (pg->server == NULL)
    return;
  /* SIGINT: the fast shutdown, every session cut. */
  g_subprocess_send_signal (pg->server, SIGINT);
  g_subprocess_wait (pg->server, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&pg->server);
}

/* ---- the cluster ------------------------------------------------------------------- */

static void
weft_test_pg_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        weft_test_pg_remove_tree (child);
      else
        g_remove (child);
    }
  g_rmdir (path);
}

WeftTestPg *
weft_test_pg_start (char **why)
{
  g_autoptr(GError) error = NULL;
  char *bindir = weft_test_pg_find_bindir ();

  if (bindir == NULL)
    {
      *why = g_strdup ("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin "
                       "or PATH): apt-get install postgresql libpq-dev, or set "
                       "WEFT_TEST_PG_BINDIR");
      return NULL;
    }
  WeftTestPg *pg = g_new0 (WeftTestPg, 1);
  pg->bindir = bindir;
  pg->dir = g_dir_make_tmp ("weft-pg-XXXXXX", &error);
  g_assert_no_error (error);
  pg->data = g_build_filename (pg->dir, "data", NULL);
  pg->uid = getuid ();
  pg->gid = getgid ();
  if (geteuid () == 0)
    {
      /* PostgreSQL refuses to run as root. */
      struct passwd *nobody = getpwnam ("nobody");
      g_assert_nonnull (nobody);
      pg->uid = nobody->pw_uid;
      pg->gid = nobody->pw_gid;
      pg->drop = TRUE;
      g_assert_cmpint (chown (pg->dir, pg->uid, pg->gid), ==, 0);
    }
  weft_test_pg_initdb (pg);
  pg->port = weft_test_pg_free_port ();
  weft_test_pg_up (pg);
  return pg;
}

void
weft_test_pg_stop (WeftTestPg *pg)
{
  if (pg == NULL)
    return;
  weft_test_pg_down (pg);
  weft_test_pg_remove_tree (pg->dir);
  g_free (pg->bindir);
  g_free (pg->dir);
  g_free (pg->data);
  g_free (pg);
}

WeftTestPg *
weft_test_pg_start_or_say (void)
{
  g_autofree char *why = NULL;
  WeftTestPg *pg = weft_test_pg_start (&why);

  if (pg == NULL)
    {
      g_printerr ("skipping the PostgreSQL tests: %s\n", why);
      g_print ("# skipping the PostgreSQL tests: %s\n", why);
    }
  return pg;
}

guint
weft_test_pg_port (WeftTestPg *pg)
{
  return pg->port;
}

GPid
weft_test_pg_server_pid (WeftTestPg *pg)
{
  return pg->server ? atoi (g_subprocess_get_identifier (pg->server)) : 0;
}

const char *
weft_test_pg_password (WeftTestPg *pg)
{
  return WEFT_TEST_PG_PASSWORD;
}

char *
weft_test_pg_tcp_conninfo (WeftTestPg *pg, const char *database, const char *password)
{
  return g_strdup_printf ("postgresql://" WEFT_TEST_PG_USER ":%s@127.0.0.1:%u/%s", password,
                          pg->port, database);
}

PGconn *
weft_test_pg_connect (WeftTestPg *pg, const char *database)
{
  g_autofree char *conninfo = weft_test_pg_socket_conninfo (pg, database);
  PGconn *conn = PQconnectdb (conninfo);

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("connecting to the test cluster: %s", PQerrorMessage (conn));
  return conn;
}

char *
weft_test_pg_new_database (WeftTestPg *pg, const char *name)
{
  PGconn *conn = weft_test_pg_connect (pg, "postgres");
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE \"%s\"", name);

  weft_test_pg_exec (conn, sql);
  PQfinish (conn);
  return weft_test_pg_socket_conninfo (pg, name);
}

/* ---- queries ----------------------------------------------------------------------- */

static PGresult *
weft_test_pg_run (PGconn *conn, const char *sql)
{
  PGresult *result = PQexec (conn, sql);
  ExecStatusType status = PQresultStatus (result);

  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQerrorMessage (conn));
  return result;
}

char *
weft_test_pg_query (PGconn *conn, const char *sql)
{
  PGresult *result = weft_test_pg_run (conn, sql);
  char *value = NULL;

  if (PQntuples (result) > 0 && !PQgetisnull (result, 0, 0))
    value = g_strdup (PQgetvalue (result, 0, 0));
  PQclear (result);
  return value;
}

gint64
weft_test_pg_query_int (PGconn *conn, const char *sql)
{
  g_autofree char *text = weft_test_pg_query (conn, sql);

  g_assert_nonnull (text);
  return g_ascii_strtoll (text, NULL, 10);
}

void
weft_test_pg_exec (PGconn *conn, const char *sql)
{
  PQclear (weft_test_pg_run (conn, sql));
}
