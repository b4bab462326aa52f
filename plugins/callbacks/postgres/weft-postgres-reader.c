/* weft-postgres-reader.c — reading runs (and their events) back (`weft runs`, replay,
 * resume, `serve --store`) through the store capability, from any
 * thread, on the instance's session.  Rows become the JSON of
 * docs/store.md: each column a member, with its type; `live` says whether
 * some session holds the run's claim (pg_locks), for a run still marked
 * running.  A run and its tasks are read in one snapshot.
 */
#include "weft-postgres.h"

#include <string.h>

/* ---- rows as JSON --------------------------------------------------------------- */

static void
weft_postgres_add_value (JsonBuilder *b, PGresult *result, int row, int col)
{
  const char *name = PQfname (result, col);
  const char *text = PQgetvalue (result, row, col);

  json_builder_set_member_name (b, name);
  if (PQgetisnull (result, row, col))
    {
      json_builder_add_null_value (b);
      return;
    }
  switch (PQftype (result, col))
    {
    case WEFT_PG_INT8OID:
    case WEFT_PG_INT4OID:
      json_builder_add_int_value (b, g_ascii_strtoll (text, NULL, 10));
      return;
    case WEFT_PG_BOOLOID:
      json_builder_add_boolean_value (b, text[0] == 't');
      return;
    default:
      break;
    }
  /* Stored as JSON text and given back as JSON.  A row is read like any
   * text from outside (another program may have written it): one that
   * does not parse as weft would write it is null. */
  if (strcmp (name, "inputs") == 0 || strcmp (name, "runs") == 0)
    {
      JsonNode *node = weft_json_parse (text, PQgetlength (result, row, col), NULL);
      if (node != NULL)
        json_builder_add_value (b, node);
      else
        json_builder_add_null_value (b);
      return;
    }
  json_builder_add_string_value (b, text);
}

JsonNode *
weft_postgres_rows_to_json (PGresult *result)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_array (b);
  for (int r = 0; r < PQntuples (result); r++)
    {
      json_builder_begin_object (b);
      for (int c = 0; c < PQnfields (result); c++)
        weft_postgres_add_value (b, result, r, c);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  return json_builder_get_root (b);
}

/* ---- list_runs ------------------------------------------------------------------ */

typedef struct {
  guint limit;
  const char *run_id;
  guint64 after_seq;
  JsonNode *node;
} WeftPostgresRead;

static gboolean
weft_postgres_list_locked (WeftPostgres *self, PGconn *session, gpointer data, GError **error)
{
  WeftPostgresRead *read = data;
  g_autofree char *limit = read->limit ? g_strdup_printf ("%u", read->limit) : NULL;
  const char *params[] = { limit };
  PGresult *result = NULL;

  /* A queued run has not started: it sorts by when it was queued. */
  if (!weft_postgres_query (self, session,
                            "SELECT r.run_id, r.flow, r.status, r.started_wall_us,"
                            "  r.finished_wall_us, r.error,"
                            "  CASE WHEN r.status = 'running' THEN " WEFT_PG_RUN_LIVE_SQL ("r.id")
                            "  END AS live, r.worker_name AS worker, r.handed_back"
                            " FROM run_rows r ORDER BY coalesce (r.started_wall_us,"
                            "  r.queued_wall_us) DESC NULLS LAST, r.id DESC LIMIT $1::bigint",
                            1, params, PGRES_TUPLES_OK, &result, "cannot list runs", error))
    return FALSE;
  read->node = weft_postgres_rows_to_json (result);
  PQclear (result);
  return TRUE;
}

JsonNode *
weft_postgres_list_runs (gpointer instance, guint limit, GError **error)
{
  WeftPostgresRead read = { .limit = limit };

  weft_postgres_with_session (instance, weft_postgres_list_locked, &read, TRUE, error);
  return read.node;
}

/* ---- get_run -------------------------------------------------------------------- */

void
weft_postgres_no_run (WeftPostgres *self, const char *run_id, GError **error)
{
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: no run \"%s\" is stored",
               self->where, run_id);
}

gint64
weft_postgres_find_run (WeftPostgres *self, PGconn *conn, const char *run_id, GError **error)
{
  const char *params[] = { run_id };
  PGresult *result = NULL;
  gint64 key = 0;

  if (!weft_postgres_query (self, conn, "SELECT id FROM run_rows WHERE run_id = $1", 1, params,
                            PGRES_TUPLES_OK, &result, "cannot read a run", error))
    return -1;
  if (PQntuples (result) > 0)
    key = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
  PQclear (result);
  return key;
}

/* A run's tasks, in the order the run reached them. */
static JsonNode *
weft_postgres_read_tasks (WeftPostgres *self, PGconn *session, const char *key, GError **error)
{
  const char *params[] = { key };
  PGresult *result = NULL;
  JsonNode *tasks;

  if (!weft_postgres_query (self, session,
                            "SELECT name, status, output, error, attempts, failures,"
                            "  started_wall_us, finished_wall_us FROM task_rows"
                            " WHERE run = $1::bigint ORDER BY ord",
                            1, params, PGRES_TUPLES_OK, &result, "cannot read a run's tasks",
                            error))
    return NULL;
  tasks = weft_postgres_rows_to_json (result);
  PQclear (result);
  return tasks;
}

static JsonNode *
weft_postgres_read_run (WeftPostgres *self, PGconn *session, const char *run_id, GError **error)
{
  const char *params[] = { run_id };
  PGresult *result = NULL;

  if (!weft_postgres_query (self, session,
                            "SELECT r.run_id, r.flow, r.status, r.error, s.inputs,"
                            "  t.text AS flow_source, r.started_wall_us, r.finished_wall_us,"
                            "  (SELECT coalesce (max (e.seq), 0) FROM event_rows e"
                            "   WHERE e.run = r.id) AS last_seq,"
                            "  CASE WHEN r.status = 'running' THEN "
                            WEFT_PG_RUN_LIVE_SQL ("r.id") " END AS live,"
                            "  r.worker_name AS worker, r.handed_back, r.id AS key"
                            " FROM run_rows r LEFT JOIN run_sources s ON s.id = r.id"
                            " LEFT JOIN flow_texts t ON t.id = s.flow_text WHERE r.run_id = $1",
                            1, params, PGRES_TUPLES_OK, &result, "cannot read a run", error))
    return NULL;
  if (PQntuples (result) == 0)
    {
      PQclear (result);
      weft_postgres_no_run (self, run_id, error);
      return NULL;
    }
  g_autofree char *key = g_strdup (PQgetvalue (result, 0, PQnfields (result) - 1));
  g_autoptr(JsonNode) rows = weft_postgres_rows_to_json (result);
  PQclear (result);
  JsonNode *tasks = weft_postgres_read_tasks (self, session, key, error);
  if (tasks == NULL)
    return NULL;
  JsonObject *run = json_array_get_object_element (json_node_get_array (rows), 0);
  json_object_remove_member (run, "key");
  json_object_set_member (run, "tasks", tasks);
  return json_node_copy (json_array_get_element (json_node_get_array (rows), 0));
}

static gboolean
weft_postgres_get_locked (WeftPostgres *self, PGconn *session, gpointer data, GError **error)
{
  WeftPostgresRead *read = data;

  /* One snapshot: the run and its tasks from one commit. */
  if (!weft_postgres_exec (self, session, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                           "cannot read a run", error))
    return FALSE;
  read->node = weft_postgres_read_run (self, session, read->run_id, error);
  PQclear (PQexec (session, "COMMIT"));
  return read->node != NULL;
}

JsonNode *
weft_postgres_get_run (gpointer instance, const char *run_id, GError **error)
{
  WeftPostgresRead read = { .run_id = run_id };

  weft_postgres_with_session (instance, weft_postgres_get_locked, &read, TRUE, error);
  return read.node;
}

/* ---- get_events ----------------------------------------------------------------- */

static gboolean
weft_postgres_events_locked (WeftPostgres *self, PGconn *session, gpointer data,
                             GError **error)
{
  WeftPostgresRead *read = data;
  gint64 key = weft_postgres_find_run (self, session, read->run_id, error);
  PGresult *result = NULL;

  if (key <= 0)
    {
      if (key == 0)
        weft_postgres_no_run (self, read->run_id, error);
      return FALSE;
    }
  g_autofree char *run = g_strdup_printf ("%" G_GINT64_FORMAT, key);
  g_autofree char *after = g_strdup_printf ("%" G_GUINT64_FORMAT, MIN (read->after_seq,
                                                                       (guint64) G_MAXINT64));
  g_autofree char *limit = read->limit ? g_strdup_printf ("%u", read->limit) : NULL;
  const char *params[] = { run, after, limit };
  if (!weft_postgres_query (self, session,
                            "SELECT json FROM event_rows WHERE run = $1::bigint"
                            " AND seq > $2::bigint ORDER BY seq LIMIT $3::bigint",
                            3, params, PGRES_TUPLES_OK, &result, "cannot read a run's events",
                            error))
    return FALSE;
  JsonArray *events = json_array_new ();
  for (int r = 0; r < PQntuples (result); r++)
    {
      /* Read like any text from outside: a row that does not parse as an
       * event object is left out. */
      JsonNode *event = weft_json_parse (PQgetvalue (result, r, 0), PQgetlength (result, r, 0),
                                         NULL);
      if (event && JSON_NODE_HOLDS_OBJECT (event))
        json_array_add_element (events, event);
      else if (event)
        json_node_unref (event);
    }
  PQclear (result);
  read->node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (read->node, events);
  return TRUE;
}

JsonNode *
weft_postgres_get_events (gpointer instance, const char *run_id, guint64 after_seq,
                          guint limit, GError **error)
{
  WeftPostgresRead read = { .run_id = run_id, .after_seq = after_seq, .limit = limit };

  weft_postgres_with_session (instance, weft_postgres_events_locked, &read, TRUE, error);
  return read.node;
}
