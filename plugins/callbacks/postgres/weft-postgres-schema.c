/* weft-postgres-schema.c — the tables, as numbered steps: step n takes a
 * database from version n − 1 to n.  Opening applies the missing steps in
 * one transaction (all or none), each recorded in schema_version, under a
 * transaction advisory lock so that two processes opening one database do
 * not both migrate it; a database of a newer version is refused, naming
 * both.  Released steps are never edited: a change is a new step.  The
 * tables are docs/store.md's ("The postgres plugin").
 */
#include "weft-postgres.h"

#include <stdlib.h>

/* Version 1: runs, their sources, tasks, events, each flow text once, and
 * views with the columns sqlite's have.  No foreign keys: a key checked
 * per event row costs more than the rows; deleting a run deletes its rows
 * itself. */
static const char weft_postgres_step_1[] =
  "CREATE TABLE flow_texts (id bigserial PRIMARY KEY, sha256 text NOT NULL UNIQUE,"
  "  text text NOT NULL);"
  "CREATE TABLE run_rows (id bigserial PRIMARY KEY, run_id text NOT NULL UNIQUE, flow text,"
  "  status text NOT NULL, error text, started_wall_us bigint, finished_wall_us bigint);"
  "CREATE INDEX runs_by_start ON run_rows (started_wall_us);"
  "CREATE TABLE run_sources (id bigint PRIMARY KEY, inputs text, flow_text bigint);"
  "CREATE TABLE task_rows (run bigint NOT NULL, name text NOT NULL, ord bigint NOT NULL,"
  "  status text NOT NULL, output text, error text, attempts integer NOT NULL DEFAULT 0,"
  "  failures integer NOT NULL DEFAULT 0, started_wall_us bigint, finished_wall_us bigint,"
  "  PRIMARY KEY (run, name));"
  "CREATE TABLE event_rows (run bigint NOT NULL, seq bigint NOT NULL, json text NOT NULL,"
  "  PRIMARY KEY (run, seq));"
  "CREATE VIEW runs AS SELECT r.id, r.run_id, r.flow, r.status, r.error, s.inputs,"
  "  t.text AS flow_source, r.started_wall_us, r.finished_wall_us,"
  "  (SELECT coalesce (max (e.seq), 0) FROM event_rows e WHERE e.run = r.id) AS last_seq"
  "  FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id"
  "  LEFT JOIN flow_texts t ON t.id = s.flow_text;"
  "CREATE VIEW tasks AS SELECT r.run_id, t.name, t.status, t.output, t.error, t.attempts,"
  "  t.failures, t.started_wall_us, t.finished_wall_us"
  "  FROM task_rows t JOIN run_rows r ON r.id = t.run;"
  "CREATE VIEW events AS SELECT r.run_id, e.seq, e.json::json ->> 'type' AS type,"
  "  e.json::json ->> 'task' AS task, (e.json::json ->> 'wall_us')::bigint AS time, e.json"
  "  FROM event_rows e JOIN run_rows r ON r.id = e.run;";

/* Version 2: the queue.  A queued run is a run row ("queued" until a
 * worker starts it) with the time it was queued; `worker` is the workers
 * row that holds it (its liveness is the worker's advisory lock), kept
 * after the run ends to say who ran it; `refused_by` the workers that
 * handed it back, which are not given it again. */
static const char weft_postgres_step_2[] =
  "ALTER TABLE run_rows ADD COLUMN queued_wall_us bigint, ADD COLUMN worker bigint,"
  "  ADD COLUMN worker_name text, ADD COLUMN handed_back text,"
  "  ADD COLUMN refused_by bigint[];"
  "CREATE INDEX runs_waiting ON run_rows (id) WHERE worker IS NULL"
  "  AND queued_wall_us IS NOT NULL AND status IN ('queued', 'running');"
  "CREATE INDEX runs_by_worker ON run_rows (worker) WHERE worker IS NOT NULL"
  "  AND status IN ('queued', 'running');"
  "CREATE TABLE workers (id bigserial PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,"
  "  concurrency integer NOT NULL, started_wall_us bigint NOT NULL);"
  "CREATE OR REPLACE VIEW runs AS SELECT r.id, r.run_id, r.flow, r.status, r.error, s.inputs,"
  "  t.text AS flow_source, r.started_wall_us, r.finished_wall_us,"
  "  (SELECT coalesce (max (e.seq), 0) FROM event_rows e WHERE e.run = r.id) AS last_seq,"
  "  r.queued_wall_us, r.worker_name AS worker, r.handed_back"
  "  FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id"
  "  LEFT JOIN flow_texts t ON t.id = s.flow_text;";

static const char * const weft_postgres_steps[] = {
  weft_postgres_step_1,
  weft_postgres_step_2,
};

#define WEFT_POSTGRES_SCHEMA_VERSION ((int) G_N_ELEMENTS (weft_postgres_steps))

/* The database's version: 0 for none of weft's tables, -1 on an error. */
static int
weft_postgres_version (WeftPostgres *self, PGconn *conn, GError **error)
{
  PGresult *result = NULL;
  int version = 0;

  /* Two questions: a query naming a table that is not there fails to
   * plan, whatever its CASE says. */
  if (!weft_postgres_query (self, conn, "SELECT to_regclass ('schema_version') IS NOT NULL", 0,
                            NULL, PGRES_TUPLES_OK, &result, "cannot read the schema version",
                            error))
    return -1;
  gboolean present = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  if (!present)
    return 0;
  if (!weft_postgres_query (self, conn, "SELECT coalesce (max (version), 0) FROM schema_version",
                            0, NULL, PGRES_TUPLES_OK, &result, "cannot read the schema version",
                            error))
    return -1;
  version = atoi (PQgetvalue (result, 0, 0));
  PQclear (result);
  return version;
}

static gboolean
weft_postgres_apply_steps (WeftPostgres *self, PGconn *conn, int from, GError **error)
{
  if (from == 0 && !weft_postgres_exec (self, conn,
                                        "CREATE TABLE schema_version (version integer PRIMARY KEY,"
                                        "  applied_wall_us bigint NOT NULL)",
                                        "cannot create the schema", error))
    return FALSE;
  for (int v = from + 1; v <= WEFT_POSTGRES_SCHEMA_VERSION; v++)
    {
      g_autofree char *what = g_strdup_printf ("cannot migrate to schema version %d", v);
      g_autofree char *version = g_strdup_printf ("%d", v);
      g_autofree char *now = g_strdup_printf ("%" G_GINT64_FORMAT, g_get_real_time ());
      const char *params[] = { version, now };

      if (!weft_postgres_exec (self, conn, weft_postgres_steps[v - 1], what, error)
          || !weft_postgres_query (self, conn, "INSERT INTO schema_version VALUES ($1, $2)",
                                   2, params, PGRES_COMMAND_OK, NULL, what, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
weft_postgres_migrate_locked (WeftPostgres *self, PGconn *conn, GError **error)
{
  int version = weft_postgres_version (self, conn, error);

  if (version < 0)
    return FALSE;
  if (version > WEFT_POSTGRES_SCHEMA_VERSION)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: the database is at schema version %d, newer than this weft's %d "
                   "(written by a newer weft); nothing was changed", self->where, version,
                   WEFT_POSTGRES_SCHEMA_VERSION);
      return FALSE;
    }
  if (version == 0 && self->reader)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "%s: no weft tables in this database (no run has been stored there)",
                   self->where);
      return FALSE;
    }
  return version == WEFT_POSTGRES_SCHEMA_VERSION
         || weft_postgres_apply_steps (self, conn, version, error);
}

gboolean
weft_postgres_migrate (WeftPostgres *self, PGconn *conn, GError **error)
{
  gboolean ok;

  if (!weft_postgres_exec (self, conn, "BEGIN", "cannot begin", error))
    return FALSE;
  /* Held to the end of the transaction: a second process waits, then
   * finds the schema current. */
  ok = weft_postgres_query (self, conn, "SELECT pg_advisory_xact_lock (2003133044, 0)", 0, NULL,
                            PGRES_TUPLES_OK, NULL, "cannot lock the schema", error)
       && weft_postgres_migrate_locked (self, conn, error);
  if (ok)
    return weft_postgres_exec (self, conn, "COMMIT", "cannot commit the schema", error);
  PQclear (PQexec (conn, "ROLLBACK"));
  return FALSE;
}
