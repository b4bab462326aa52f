/* weft-sqlite.h — the sqlite store's internal parts, shared between its
 * files (never installed, never seen by other plugins).
 *
 *   weft-sqlite.c              options, create/destroy, the plugin's classes
 *   weft-sqlite-writer.c       on_event/flush: batches, their transactions
 *   weft-sqlite-runs.c         what the writer knows of runs and tasks
 *   weft-sqlite-statements.c   the writer's prepared statements, binding
 *   weft-sqlite-reader.c       list_runs, get_run, claim_run
 *   weft-sqlite-delete.c       delete_run
 *   weft-sqlite-threads.c      threads (conversations) from their events: the writer's
 *   weft-sqlite-thread-reader.c get_thread, list_threads, delete_thread
 *   weft-sqlite-checkpoint.c   the checkpointer thread, the WAL hook
 *   weft-sqlite-schema.c       connections, errors, WAL, migrations
 *   weft-sqlite-claims.c       which runs a live process holds (OFD locks)
 *
 * Threads: the writer connection, its statements and everything the writer
 * knows of runs belong to the dispatcher thread (on_event, flush) and to
 * create/destroy; nothing else touches them, and nothing locks them.
 * list_runs, get_run, claim_run and delete_run may come from any thread:
 * read_lock keeps the reader and the deleter to one at a time.  The
 * checkpointer has a thread and a lock of its own; the claims a mutex.
 */
#pragma once

#include <weft/weft-sdk.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* An event's key in event_rows is run_rows.id × 2^32 + seq; a task's in
 * task_rows is run_rows.id × 2^32 + the seq of its first event. */
#define WEFT_SQLITE_MAX_SEQ G_GUINT64_CONSTANT (0xFFFFFFFF)

/* Most of a one-row INSERT's cost is the statement's, not the row's: new
 * events and new task rows are inserted this many to a statement. */
#define WEFT_SQLITE_ROWS_PER_INSERT 16
#define WEFT_SQLITE_EVENT_COLUMNS 2
#define WEFT_SQLITE_TASK_COLUMNS 8

/* ------------------------------------------------------------------------ */
/* Claims (weft-sqlite-claims.c)                                            */

/* Which stored runs a live process is running: OFD locks on a file beside
 * the database (weft-sqlite-claims.c says why). */
typedef struct {
  int fd;                     /* -1: no claims file; nothing is claimed */
  GMutex lock;
  GHashTable *held;           /* run key → itself: what this descriptor holds */
} WeftSqliteClaims;

/* Opens the claims file of the database `path`: created for a writer; a
 * reader only looks (it claims nothing) and creates nothing.  Never fails:
 * without the file, nothing is claimed and whether a run is live cannot be
 * told. */
void     weft_sqlite_claims_open  (WeftSqliteClaims *claims, const char *path,
                                   gboolean reader);
/* Drops every claim this instance holds. */
void     weft_sqlite_claims_close (WeftSqliteClaims *claims);
/* Claims the run for this instance: FALSE only when another descriptor
 * (another process) holds it; TRUE when this one does now or did, and when
 * no claim can be taken here (no file, no locks on this file system). */
gboolean weft_sqlite_claims_take  (WeftSqliteClaims *claims, gint64 key);
void     weft_sqlite_claims_drop  (WeftSqliteClaims *claims, gint64 key);
/* 1 when some process (this one included) holds the run, 0 when none
 * does, -1 when this instance cannot tell. */
int      weft_sqlite_claims_held  (WeftSqliteClaims *claims, gint64 key);

/* ------------------------------------------------------------------------ */
/* The instance                                                             */

/* The writer's prepared statements (weft-sqlite-statements.c). */
typedef enum {
  STMT_EVENT,
  STMT_EVENTS,
  STMT_EVENT_TOP,
  STMT_TASK_INSERT,
  STMT_TASKS,
  STMT_TASK_UPDATE,
  STMT_TASK_LOAD,
  STMT_RUN_SEEN,
  STMT_RUN_ID,
  STMT_RUN_START,
  STMT_FLOW_TEXT,
  STMT_RUN_SOURCE,
  STMT_RUN_END,
  STMT_BEGIN,
  STMT_COMMIT,
  N_STMTS
} WeftSqliteStmt;

/* A task's row as the writer knows it.  Fields are those of the task's
 * last event, but `started_wall_us` (the first start) and `attempts` (the
 * last attempt that is not 0).  A row waits in memory until its batch is
 * committed, so that a task that starts and completes within one batch
 * costs one write, not two; once written, its texts are dropped. */
typedef struct {
  char *name;
  gint64 key;                 /* task_rows.key: run_rows.id × 2^32 + ord */
  gboolean stored;            /* the row exists */
  gboolean pending;           /* changed since written: in its run's `pending` */
  GList *waiting;             /* or its link in its run's `waiting` */
  const char *status;         /* static */
  char *output;
  char *error;
  int attempts;
  gint64 started_wall_us;
  gint64 finished_wall_us;
  gint64 deferred_us;         /* when a commit left it unwritten */
} WeftSqliteTask;

/* A run the writer has seen an event of.  `complete` says that `tasks`
 * holds every row the run has: a run whose row this instance created, and
 * none of whose events it found stored already (which would mean another
 * writer).  Otherwise its rows are read back at the first task it does
 * not know, so that a task never gets a second row. */
typedef struct {
  char *run_id;
  gint64 id;                  /* run_rows.id */
  gboolean complete;
  /* The highest seq stored, read at the run's first event of a
   * transaction (which no other writer can add to): events above it are
   * new without asking SQLite. */
  guint64 top_seq;
  guint top_txn;              /* the WeftSqlite.txn it was read in */
  gboolean ended;             /* its run.* end is stored: forgotten at commit */
  gboolean in_batch;          /* in WeftSqlite.batch */
  GHashTable *tasks;          /* name → WeftSqliteTask (owned) */
  GPtrArray *pending;         /* tasks to write at commit, as first touched */
  GQueue *waiting;            /* started tasks whose row waits, oldest first */
} WeftSqliteRun;

/* Private to weft-sqlite-writer.c, weft-sqlite-checkpoint.c and
 * weft-sqlite-threads.c. */
typedef struct _WeftSqliteInserts WeftSqliteInserts;
typedef struct _WeftSqliteThreads WeftSqliteThreads;
typedef struct _WeftSqliteCheckpointer WeftSqliteCheckpointer;

typedef struct {
  char *path;
  gint busy_timeout_ms;
  char *synchronous;

  /* The dispatcher thread's (and create/destroy's). */
  sqlite3 *writer;
  sqlite3_stmt *stmts[N_STMTS];
  gboolean in_batch;
  guint batch_events;
  gint64 batch_started_us;
  GHashTable *runs;           /* run id → WeftSqliteRun */
  GPtrArray *batch;           /* the runs with something to write at commit */
  WeftSqliteRun *cur_run;     /* the last event's */
  guint txn;                  /* transactions begun */
  WeftSqliteInserts *inserts; /* new rows waiting for their INSERT */
  WeftSqliteThreads *threads; /* the thread statements, prepared on first use */

  GMutex read_lock;           /* the reader's and the deleter's */
  sqlite3 *reader;            /* opened by the first read */
  sqlite3 *deleter;           /* opened by the first delete_run */

  /* The runs this instance is running (started, resumed or claimed), so
   * that another process can tell they are live. */
  WeftSqliteClaims claims;

  /* Started by the first commit that needs it. */
  WeftSqliteCheckpointer *checkpointer;
} WeftSqlite;

/* ------------------------------------------------------------------------ */
/* Connections and schema (weft-sqlite-schema.c)                            */

/* Sets `error` to what SQLite says of `db` (NULL: out of memory), naming
 * the file; returns FALSE. */
gboolean weft_sqlite_fail        (WeftSqlite *self, sqlite3 *db, const char *what,
                                  GError **error);
/* The writer's errors (the dispatcher thread's): logged, not returned. */
void     weft_sqlite_warn        (WeftSqlite *self, const char *what);
gboolean weft_sqlite_exec        (WeftSqlite *self, sqlite3 *db, const char *sql,
                                  GError **error);
/* A connection to the instance's file, with its busy timeout. */
gboolean weft_sqlite_open_db     (WeftSqlite *self, int flags, sqlite3 **db, GError **error);
/* Opens the writer (creating the file), in WAL mode, with its pragmas,
 * and brings the file to this plugin's schema. */
gboolean weft_sqlite_open_writer (WeftSqlite *self, GError **error);

/* ------------------------------------------------------------------------ */
/* Checkpoints (weft-sqlite-checkpoint.c)                                   */

/* Hooks itself to the writer's commits: its thread starts at the first
 * commit that leaves the WAL long.  free() unhooks it and waits for a
 * checkpoint under way. */
WeftSqliteCheckpointer *weft_sqlite_checkpointer_new  (WeftSqlite *self);
void                    weft_sqlite_checkpointer_free (WeftSqliteCheckpointer *checkpointer);

/* ------------------------------------------------------------------------ */
/* The writer's statements (weft-sqlite-statements.c)                       */

gboolean    weft_sqlite_prepare   (WeftSqlite *self, GError **error);
void        weft_sqlite_finalize  (WeftSqlite *self);
/* The SQL of a statement, for another connection to prepare. */
const char *weft_sqlite_stmt_text (WeftSqliteStmt which);
/* Steps a statement whose parameters are all bound, and resets it; FALSE
 * (warned) unless it is done. */
gboolean    weft_sqlite_step      (WeftSqlite *self, WeftSqliteStmt which, const char *what);
/* NULL binds NULL; a time of 0 too.  Texts are bound SQLITE_STATIC. */
void        weft_sqlite_bind_text (sqlite3_stmt *stmt, int i, const char *text);
void        weft_sqlite_bind_time (sqlite3_stmt *stmt, int i, gint64 wall_us);

/* ------------------------------------------------------------------------ */
/* Runs and tasks as the writer knows them (weft-sqlite-runs.c)             */

/* A GDestroyNotify for WeftSqlite.runs. */
void           weft_sqlite_run_free (gpointer data);
/* What the writer knows of the event's run; NULL when its row cannot be
 * written. */
WeftSqliteRun *weft_sqlite_run      (WeftSqlite *self, const WeftEvent *event);
/* What the runs and tasks tables make of one stored event. */
void           weft_sqlite_apply    (WeftSqlite *self, WeftSqliteRun *run,
                                     const WeftEvent *event);

/* ------------------------------------------------------------------------ */
/* Threads as the writer stores them (weft-sqlite-threads.c)                */

/* A thread.* event into its rows, in the writer's transaction. */
void weft_sqlite_write_thread_event (WeftSqlite *self, const WeftEvent *event);
void weft_sqlite_threads_clear      (WeftSqlite *self);

/* ------------------------------------------------------------------------ */
/* The writer (weft-sqlite-writer.c)                                        */

void weft_sqlite_writer_init  (WeftSqlite *self);
void weft_sqlite_writer_clear (WeftSqlite *self);
void weft_sqlite_on_event     (gpointer instance, const WeftEvent *event);
void weft_sqlite_flush        (gpointer instance);

/* ------------------------------------------------------------------------ */
/* Reading (weft-sqlite-reader.c), deleting (weft-sqlite-delete.c)          */

/* With read_lock held: the reader connection, opened on first use. */
sqlite3  *weft_sqlite_reader    (WeftSqlite *self, GError **error);
/* Every row of `stmt` as an array of objects (JSON columns given back as
 * JSON); finalizes it.  SQLITE_DONE when all were read. */
int       weft_sqlite_add_rows  (JsonBuilder *b, sqlite3_stmt *stmt);
JsonNode *weft_sqlite_list_runs (gpointer instance, guint limit, GError **error);
JsonNode *weft_sqlite_get_run   (gpointer instance, const char *run_id, GError **error);
JsonNode *weft_sqlite_get_events (gpointer instance, const char *run_id, guint64 after_seq,
                                 guint limit, GError **error);
gboolean  weft_sqlite_claim_run (gpointer instance, const char *run_id, GError **error);
/* With read_lock held: the run's key; 0 when it is not stored here, -1
 * on an error. */
gint64    weft_sqlite_find_run  (WeftSqlite *self, sqlite3 *db, const char *run_id,
                                 GError **error);
void      weft_sqlite_no_run    (WeftSqlite *self, const char *run_id, GError **error);

gboolean  weft_sqlite_delete_run (gpointer instance, const char *run_id, GError **error);
/* Runs each statement of `deletes` (NULL-terminated), its ?1 bound to
 * `key`, on `db`; FALSE with `what` and SQLite's words at the first that
 * fails. */
gboolean  weft_sqlite_delete_rows (WeftSqlite *self, sqlite3 *db, const char *const *deletes,
                                   gint64 key, const char *what, GError **error);
/* With read_lock held: the deleter connection, opened on first use. */
sqlite3  *weft_sqlite_deleter    (WeftSqlite *self, GError **error);

JsonNode *weft_sqlite_get_thread    (gpointer instance, const char *thread_id, GError **error);
JsonNode *weft_sqlite_list_threads  (gpointer instance, guint limit, GError **error);
gboolean  weft_sqlite_delete_thread (gpointer instance, const char *thread_id, GError **error);

G_END_DECLS
