/* weft-test-pg.h — a throwaway PostgreSQL cluster for the tests and
 * benchmarks that need one (weft-test-pg.c).
 *
 * weft_test_pg_start() runs Debian's initdb in a temporary directory and
 * starts `postgres` on a private Unix socket in it and on a free
 * 127.0.0.1 port: no system service, nothing left behind by
 * weft_test_pg_stop(), which stops it and removes the directory.  Run as
 * root, the cluster runs as `nobody` (PostgreSQL refuses root), the
 * directory handed to it.  The server dies with the test (it gets SIGQUIT
 * when its parent exits), so a test that crashes leaves no server either.
 *
 * The server runs without fsync (nothing of a test must survive a crash of
 * the machine), unless WEFT_TEST_PG_DURABLE is set in the environment.
 *
 * Over the socket anyone is trusted; over TCP the user `weft` needs its
 * password (weft_test_pg_password), so that a wrong one can be tried.
 */
#pragma once

#include <glib.h>
#include <libpq-fe.h>

typedef struct _WeftTestPg WeftTestPg;

/* A new cluster, running; NULL with *why set (what to install) when
 * PostgreSQL is not there.  Any other failure aborts the test. */
WeftTestPg *weft_test_pg_start (char **why);
/* Stops the server and removes its directory. */
void        weft_test_pg_stop (WeftTestPg *pg);
/* The server goes away (a fast shutdown: every connection is cut) and,
 * with weft_test_pg_up, comes back on the same port with the same data. */
void        weft_test_pg_down (WeftTestPg *pg);
void        weft_test_pg_up (WeftTestPg *pg);

/* Makes an empty database and returns its conninfo (over the socket). */
char       *weft_test_pg_new_database (WeftTestPg *pg, const char *name);
/* The conninfo of `database` over TCP with `password` (may be wrong). */
char       *weft_test_pg_tcp_conninfo (WeftTestPg *pg, const char *database,
                                       const char *password);
const char *weft_test_pg_password (WeftTestPg *pg);
guint       weft_test_pg_port (WeftTestPg *pg);
/* The postmaster's pid (its CPU time, with its children's, is the
 * server's), or 0 while down. */
GPid        weft_test_pg_server_pid (WeftTestPg *pg);
/* A connection to `database` for a test to read tables with; aborts on
 * failure.  PQfinish it. */
PGconn     *weft_test_pg_connect (WeftTestPg *pg, const char *database);

/* Runs `sql` on `conn`; aborts unless it succeeds.  The first column of
 * the first row as text (NULL for SQL NULL or no row); g_free it. */
char       *weft_test_pg_query (PGconn *conn, const char *sql);
gint64      weft_test_pg_query_int (PGconn *conn, const char *sql);
void        weft_test_pg_exec (PGconn *conn, const char *sql);

/* For main(): the cluster, or NULL after printing why the tests that need
 * it are skipped (to stderr and as a TAP comment). */
WeftTestPg *weft_test_pg_start_or_say (void);
