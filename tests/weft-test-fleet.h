/* weft-test-fleet.h — helpers of the tests that run `weft worker`
 * processes against a postgres store (test-fleet.c, test-pg-failures.c):
 * weft-test-fleet.c. */
#pragma once

#include "weft-test.h"
#include "weft-test-pg.h"

/* The cluster, started by the test's main(); NULL without PostgreSQL (the
 * fixture then skips the test). */
extern WeftTestPg *weft_fleet_cluster;

typedef struct {
  char *dir;
  char *weft;
  char *plugin_dir;
  char *database;
  char *spec;                 /* postgres:conninfo=... */
  char *log;                  /* the executions' log */
  PGconn *db;
  GPtrArray *workers;         /* GSubprocess */
  char *out;
  char *err;
} WeftFleet;

/* A test of the fixture at `path`. */
#define WEFT_FLEET_ADD(path, func) \
  g_test_add (path, WeftFleet, NULL, weft_fleet_set_up, func, weft_fleet_tear_down)
/* For main(), after the tests are added: the cluster started (or the
 * tests skipped without PostgreSQL), the tests run, the cluster stopped;
 * g_test_run's status. */
int          weft_fleet_run_tests (void);
void         weft_fleet_set_up (WeftFleet *f, gconstpointer data);
void         weft_fleet_tear_down (WeftFleet *f, gconstpointer data);
/* `weft ARGS` with --plugin-dir; its exit status, f->out, f->err. */
int          weft_fleet_run (WeftFleet *f, const char *const *args);
/* `weft worker --store f->spec EXTRA...`, its stderr in f->dir/worker-N.log;
 * killed at tear down if still running. */
GSubprocess *weft_fleet_start (WeftFleet *f, const char *const *extra);
/* Worker i's stderr so far. */
char        *weft_fleet_log (WeftFleet *f, guint i);
/* SIGTERM; it must exit 0. */
void         weft_fleet_stop (GSubprocess *proc);
/* The test's connection to its database, made at first use; after the
 * cluster restarts, PQfinish f->db and set it NULL. */
PGconn      *weft_fleet_db (WeftFleet *f);
/* A count from the database. */
gint64       weft_fleet_count (WeftFleet *f, const char *sql);
/* Polls `sql` (a count) until it reaches `want`, up to 120 s. */
void         weft_fleet_wait (WeftFleet *f, const char *sql, gint64 want);
/* a → b → c of exec tasks that log "N TASK WORKER-PID start|end NS" to
 * f->log around a sleep of `sleep` seconds; input "n" says which run. */
char        *weft_fleet_flow (WeftFleet *f, const char *sleep);
/* Queues one run per n in [1, n_runs] (`weft run --enqueue`). */
void         weft_fleet_enqueue (WeftFleet *f, const char *flow, guint n_runs,
                                 const char *const *extra);
/* Checks every stored run of the slow flow: one start and one end; no
 * event telling one thing twice; every task completed once, none ran after
 * its completion was stored; no two workers ran a run at once.  Returns
 * how many times runs were resumed. */
guint        weft_fleet_check (WeftFleet *f);
