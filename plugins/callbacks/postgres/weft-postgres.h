/* weft-postgres.h — the postgres store's internal parts, shared between its
 * files (never installed, never seen by other plugins).
 *
 *   weft-postgres.c          options, create/destroy, the plugin's classes
 *   weft-postgres-writer.c   on_event/flush: events gathered, one transaction a batch
 *   weft-postgres-apply.c    what a batch's new events make of the runs and tasks rows
 *   weft-postgres-reader.c   list_runs, get_run, get_events: rows → the JSON of docs/store.md
 *   weft-postgres-claims.c   claim_run, hand_back
 *   weft-postgres-delete.c   delete_run
 *   weft-postgres-queue.c    enqueue, join, claim_next, list_workers
 *   weft-postgres-listen.c   wait: LISTEN/NOTIFY on a connection of its own
 *   weft-postgres-schema.c   the versioned migrations
 *   weft-postgres-session.c  the session: opened, lost, found again with its locks
 *   weft-postgres-locks.c    advisory locks: runs' claims, a worker's own
 *   weft-postgres-conn.c     connections: open, lost and found again, errors,
 *                            queries, array parameters, the place shown in messages
 *
 * Connections.  An instance has up to three, each a libpq session:
 *   - the writer (the dispatcher thread's, and hand_back's under
 *     writer_lock): one transaction a batch;
 *   - the session (caller threads, under session_lock): reads, deletes,
 *     the queue, and every advisory lock the instance holds — the claims of
 *     the runs it runs and, for a worker, the worker's own lock.  A lock
 *     lives as long as the session, so a process that dies (kill -9, a
 *     lost host) drops its claims with its connections;
 *   - the listener (wait's): LISTEN weft_queue.
 * A connection found broken is opened again at its next use; the writer
 * keeps its batch and tries again for retry_s, the session takes its
 * locks again (a run another process took meanwhile is detached: its
 * further events are not stored here).
 *
 * Lock order: writer_lock, then session_lock.  The conninfo is never
 * printed: messages name the database as `where` (user@host:port/db).
 */
#pragma once

#include <weft/weft-sdk.h>
#include <libpq-fe.h>

G_BEGIN_DECLS

/* Advisory lock keys (the two-int4 form: pg_locks shows them with
 * classid = the space, objid = the key, objsubid = 2): a run's claim is
 * (WEFT_PG_LOCK_RUNS, run_rows.id mod 2^31), a worker's (WEFT_PG_LOCK_WORKERS,
 * workers.id mod 2^31); migrations take a transaction lock on
 * (WEFT_PG_LOCK_RUNS, 0), which no run has.  'weft' and 'wefw' in ASCII. */
#define WEFT_PG_LOCK_RUNS 2003133044
#define WEFT_PG_LOCK_WORKERS 2003133047
#define WEFT_PG_LOCK_KEY(id) ((gint32) ((id) % G_GINT64_CONSTANT (2147483648)))

/* The channel enqueue and hand_back notify, and wait listens to. */
#define WEFT_PG_CHANNEL "weft_queue"

/* The SQL of "some session holds the claim of the run whose id is `col`". */
#define WEFT_PG_RUN_LIVE_SQL(col)                                              \
  "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted" \
  " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())" \
  " AND l.classid = 2003133044 AND l.objsubid = 2"                             \
  " AND l.objid = (" col " % 2147483648)::oid)"
#define WEFT_PG_WORKER_LIVE_SQL(col)                                           \
  "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted" \
  " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())" \
  " AND l.classid = 2003133047 AND l.objsubid = 2"                             \
  " AND l.objid = (" col " % 2147483648)::oid)"

/* Type oids of the columns the reader turns into JSON (pg_type.h, stable
 * across releases). */
#define WEFT_PG_BOOLOID 16
#define WEFT_PG_INT8OID 20
#define WEFT_PG_INT4OID 23

typedef struct _WeftPostgresBatch WeftPostgresBatch;

typedef struct {
  char *conninfo;             /* never printed */
  char *where;                /* "postgres user@host:port/db", for messages;
                               * set by the first connection, made or not */
  gboolean where_known;
  gint connect_timeout_s;
  gint retry_s;
  gint reclaim_grace_s;
  gboolean reader;

  /* The writer: the dispatcher thread's, and hand_back's, under writer_lock. */
  GMutex writer_lock;
  PGconn *writer;
  WeftPostgresBatch *batch;
  GHashTable *run_keys;       /* run id → run_rows.id (gint64 *), rows known to exist */
  GHashTable *flow_texts;     /* sha256 → itself: texts known to be stored */
  /* Runs whose events this instance no longer stores (handed back, or
   * taken by another process while the database was away); under
   * session_lock. */
  GHashTable *detached;

  /* The session: caller threads, and the writer for claims, under session_lock. */
  GMutex session_lock;
  PGconn *session;
  GHashTable *claims;         /* run_rows.id (gint64 *) → run id: locks held */
  gint64 worker_id;           /* 0: not a worker */
  char *worker_name;          /* "host:pid" */
  char *worker_host;
  guint worker_pid;
  guint worker_concurrency;
  gint64 last_reap_us;
  GHashTable *handed_out;     /* run ids claim_next gave, while queued */
  gboolean claim_unsure;      /* a claim failed: it may have been made */

  /* The statements prepared on each connection: PGconn * → set of SQL
   * texts (their addresses); every thread's, under prepared_lock. */
  GMutex prepared_lock;
  GHashTable *prepared;

  /* The listener: wait's (one thread at a time, under listen_lock). */
  GMutex listen_lock;
  PGconn *listener;
} WeftPostgres;

/* ------------------------------------------------------------------------ */
/* Connections (weft-postgres-conn.c)                                       */

/* Opens a connection; NULL with an error naming `where` and saying
 * whether the server could not be reached or refused us. */
PGconn   *weft_postgres_connect     (WeftPostgres *self, GError **error);
/* FALSE with an error (quoting none of it) when `conninfo` is not a
 * connection string or URI. */
gboolean  weft_postgres_check_conninfo (const char *conninfo, GError **error);
/* TRUE when the connection is gone (the server restarted or went away):
 * worth opening again and trying once more. */
gboolean  weft_postgres_is_lost     (PGconn *conn, const PGresult *result);
/* Sets `error` from a failed result (or the connection's message),
 * prefixed with `what` and the place; frees `result`; returns FALSE. */
gboolean  weft_postgres_fail        (WeftPostgres *self, PGconn *conn, PGresult *result,
                                     const char *what, GError **error);
/* Runs a command with text parameters (n, may be NULL); TRUE when it gave
 * `expected` (PGRES_COMMAND_OK or PGRES_TUPLES_OK).  `sql` must be a
 * literal: it is prepared on the connection at its first use, under a name
 * made of its address.  The result is handed
 * back in *out when out is not NULL, else freed. */
gboolean  weft_postgres_query       (WeftPostgres *self, PGconn *conn, const char *sql,
                                     int n, const char * const *params,
                                     ExecStatusType expected, PGresult **out,
                                     const char *what, GError **error);
/* Commands without parameters that return no rows (PQexec: several may
 * be given, separated by ";"). */
gboolean  weft_postgres_exec        (WeftPostgres *self, PGconn *conn, const char *sql,
                                     const char *what, GError **error);
/* The session, opened (and its locks taken again) when it is missing or
 * lost; NULL with an error.  session_lock held. */
PGconn   *weft_postgres_session     (WeftPostgres *self, GError **error);
/* Runs op on the session, under session_lock; with `retry`, once more on
 * a new session when the first was found lost (a read, which may be done
 * twice; not a change that may have been committed). */
typedef gboolean (*WeftPostgresOp) (WeftPostgres *self, PGconn *session, gpointer data,
                                    GError **error);
gboolean  weft_postgres_with_session (WeftPostgres *self, WeftPostgresOp op, gpointer data,
                                      gboolean retry, GError **error);
/* The wall clock in µs, as a parameter's text. */
char     *weft_postgres_now_text    (void);
/* Drops a connection found lost, so that its next use opens another. */
void      weft_postgres_forget      (WeftPostgres *self, PGconn **conn);
/* Logged under the "weft-postgres" domain, through weft_secrets_redact. */
void      weft_postgres_warn        (WeftPostgres *self, const char *format, ...)
  G_GNUC_PRINTF (2, 3);

/* Array parameters in PostgreSQL's text form ({"a","b",NULL}, {1,2}). */
void      weft_postgres_array_begin (GString *array);
void      weft_postgres_array_text  (GString *array, const char *value, gssize length);
void      weft_postgres_array_int   (GString *array, gint64 value);
void      weft_postgres_array_null  (GString *array);
void      weft_postgres_array_end   (GString *array);

/* ------------------------------------------------------------------------ */
/* Schema (weft-postgres-schema.c)                                          */

/* Brings the database to this plugin's schema (all steps in one
 * transaction, under a transaction advisory lock so that two processes
 * do not migrate at once).  A reader creates nothing: a database without
 * weft's tables is WEFT_ERROR_NOT_FOUND.  A newer schema is refused. */
gboolean weft_postgres_migrate (WeftPostgres *self, PGconn *conn, GError **error);

/* ------------------------------------------------------------------------ */
/* Locks (weft-postgres-locks.c) and claims (weft-postgres-claims.c)        */

/* With session_lock held: takes the run's advisory lock on the session.
 * 1 taken (or held already), 0 another session holds it, -1 an error. */
int      weft_postgres_claims_take      (WeftPostgres *self, PGconn *session, gint64 key,
                                         const char *run_id, GError **error);
/* With session_lock held: releases it. */
void     weft_postgres_claims_drop      (WeftPostgres *self, gint64 key);
/* With session_lock held, on a session just opened: every lock the
 * instance held before it was lost, taken again; a run another process
 * took meanwhile is detached (its further events are not stored). */
gboolean weft_postgres_claims_restore   (WeftPostgres *self, PGconn *session, GError **error);
gboolean weft_postgres_claim_run        (gpointer instance, const char *run_id, GError **error);
gboolean weft_postgres_hand_back        (gpointer instance, const char *run_id,
                                         const char *reason, GError **error);
/* Whether the run's events are no longer stored here. */
gboolean weft_postgres_is_detached      (WeftPostgres *self, const char *run_id);

/* ------------------------------------------------------------------------ */
/* The writer (weft-postgres-writer.c, weft-postgres-apply.c)               */

void     weft_postgres_writer_init  (WeftPostgres *self);
void     weft_postgres_writer_clear (WeftPostgres *self);
void     weft_postgres_on_event     (gpointer instance, const WeftEvent *event);
void     weft_postgres_flush        (gpointer instance);
/* With writer_lock held: commits what the batch holds (trying again while
 * the database is away, for retry_s). */
void     weft_postgres_commit       (WeftPostgres *self);

/* One event as the writer keeps it until its batch commits. */
typedef struct {
  const char *run_id;
  gint64 run;                 /* run_rows.id, once known */
  guint64 seq;
  WeftEventType type;
  const char *task;
  guint attempt;
  gint64 wall_us;
  const char *flow;
  const char *output;
  const char *error;
  const char *inputs;
  const char *flow_source;
  const char *json;
  gsize json_len;
  gboolean is_new;            /* stored by this batch (not before) */
} WeftPostgresEvent;

/* The runs, tasks and flow texts rows of a batch's new events, written in
 * the batch's transaction; `ended` gets the keys (gint64) of runs whose
 * end it wrote, `texts` the SHA-256 of the flow texts it wrote (both
 * stored once the transaction commits). */
gboolean weft_postgres_apply (WeftPostgres *self, PGconn *conn, GArray *events,
                              GArray *ended, GPtrArray *texts, GError **error);

/* ------------------------------------------------------------------------ */
/* Reading, deleting (weft-postgres-reader.c, weft-postgres-delete.c)       */

JsonNode *weft_postgres_list_runs  (gpointer instance, guint limit, GError **error);
JsonNode *weft_postgres_get_run    (gpointer instance, const char *run_id, GError **error);
JsonNode *weft_postgres_get_events (gpointer instance, const char *run_id, guint64 after_seq,
                                   guint limit, GError **error);
gboolean  weft_postgres_delete_run (gpointer instance, const char *run_id, GError **error);
/* The rows of `result` as a JSON array of objects, a member per column:
 * ints, booleans, null; "inputs", "runs" parsed as JSON; text else. */
JsonNode *weft_postgres_rows_to_json (PGresult *result);
/* The run's run_rows.id: 0 when it is not stored, -1 on an error. */
gint64    weft_postgres_find_run   (WeftPostgres *self, PGconn *conn, const char *run_id,
                                    GError **error);
void      weft_postgres_no_run     (WeftPostgres *self, const char *run_id, GError **error);

/* ------------------------------------------------------------------------ */
/* The queue (weft-postgres-queue.c, weft-postgres-listen.c)                */

char    **weft_postgres_enqueue      (gpointer instance, const char *flow_name,
                                      const char *flow_source, const char * const *inputs,
                                      guint n, GError **error);
gboolean  weft_postgres_join         (gpointer instance, const char *host, guint pid,
                                      guint concurrency, GError **error);
char     *weft_postgres_claim_next   (gpointer instance, GError **error);
JsonNode *weft_postgres_list_workers (gpointer instance, GError **error);
gboolean  weft_postgres_wait         (gpointer instance, guint timeout_ms,
                                      GCancellable *cancellable, GError **error);
/* With session_lock held, on a session just opened: the worker's lock
 * taken again (and its row written again if a reaper removed it). */
gboolean  weft_postgres_worker_restore (WeftPostgres *self, PGconn *session, GError **error);
/* With session_lock held: takes the worker's lock (FALSE, BUSY, when
 * another session has it). */
gboolean  weft_postgres_lock_worker    (WeftPostgres *self, PGconn *session, GError **error);

G_END_DECLS
