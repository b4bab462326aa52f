/* weft-sqlite-writer.c — the writer, on the dispatcher thread (on_event,
 * flush).  It opens a transaction at the first event of a batch and
 * commits when the queue runs empty (flush), or when a batch grows large
 * or old, so that a busy run costs a few commits, not one per event.  New
 * events and new task rows wait here to be inserted many to a statement;
 * what the events make of the runs and tasks tables is weft-sqlite-runs.c's.
 */
#include "weft-sqlite.h"

#include <string.h>

/* A busy run commits at least this often, so that a crash loses little and
 * readers see progress; an idle one commits at every flush. */
#define WEFT_SQLITE_BATCH_MAX_EVENTS 20000
#define WEFT_SQLITE_BATCH_MAX_US (500 * 1000)

/* While the queue is busy, a task's `running` row waits for the task's
 * next event (one write for both) at most this long; an idle queue
 * (flush) writes it at once. */
#define WEFT_SQLITE_DEFER_RUNNING_US (5 * 1000 * 1000)

/* An event waiting for its INSERT: its JSON is in WeftSqliteInserts.event_text. */
typedef struct {
  gint64 key;
  gsize offset;
  gsize len;
} WeftSqliteEventRow;

/* New rows, held back to go WEFT_SQLITE_ROWS_PER_INSERT to a statement. */
struct _WeftSqliteInserts {
  GString *event_text;        /* the JSON of event_rows, back to back */
  WeftSqliteEventRow event_rows[WEFT_SQLITE_ROWS_PER_INSERT];
  guint n_event_rows;         /* events waiting for their INSERT */
  WeftSqliteTask *new_tasks[WEFT_SQLITE_ROWS_PER_INSERT];
  guint n_new_tasks;          /* task rows waiting for their INSERT */
};

void
weft_sqlite_writer_init (WeftSqlite *self)
{
  self->runs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, weft_sqlite_run_free);
  self->batch = g_ptr_array_new ();
  self->inserts = g_new0 (WeftSqliteInserts, 1);
  self->inserts->event_text = g_string_sized_new (WEFT_SQLITE_ROWS_PER_INSERT * 512);
}

void
weft_sqlite_writer_clear (WeftSqlite *self)
{
  g_clear_pointer (&self->batch, g_ptr_array_unref);
  g_clear_pointer (&self->runs, g_hash_table_unref);
  if (self->inserts != NULL)
    g_string_free (self->inserts->event_text, TRUE);
  g_clear_pointer (&self->inserts, g_free);
}

static gboolean
weft_sqlite_begin (WeftSqlite *self)
{
  if (self->in_batch)
    return TRUE;
  if (!weft_sqlite_step (self, STMT_BEGIN, "cannot start a transaction"))
    return FALSE;
  self->in_batch = TRUE;
  self->txn++;
  self->batch_events = 0;
  self->batch_started_us = g_get_monotonic_time ();
  return TRUE;
}

/* The row's columns, from parameter base + 1 on (the key at base + 1, the
 * name at base + 2, which an update has not). */
static void
weft_sqlite_bind_task (sqlite3_stmt *stmt, int base, WeftSqliteTask *task)
{
  sqlite3_bind_int64 (stmt, base + 1, task->key);
  if (!task->stored)
    sqlite3_bind_text (stmt, base + 2, task->name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, base + 3, task->status, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, base + 4, task->output);
  weft_sqlite_bind_text (stmt, base + 5, task->error);
  sqlite3_bind_int (stmt, base + 6, task->attempts);
  weft_sqlite_bind_time (stmt, base + 7, task->started_wall_us);
  weft_sqlite_bind_time (stmt, base + 8, task->finished_wall_us);
}

/* Its texts are not needed once written: the next event brings its own. */
static void
weft_sqlite_task_written (WeftSqliteTask *task, gboolean stored)
{
  task->stored = task->stored || stored;
  g_clear_pointer (&task->output, g_free);
  g_clear_pointer (&task->error, g_free);
}

/* Inserts the task rows waiting for their INSERT: a full set in one
 * statement, fewer (the end of a batch) one statement each. */
static void
weft_sqlite_insert_tasks (WeftSqlite *self)
{
  WeftSqliteInserts *ins = self->inserts;
  guint n = ins->n_new_tasks;
  gboolean ok = TRUE;

  ins->n_new_tasks = 0;
  if (n == WEFT_SQLITE_ROWS_PER_INSERT)
    {
      for (guint i = 0; i < n; i++)
        weft_sqlite_bind_task (self->stmts[STMT_TASKS], (int) (i * WEFT_SQLITE_TASK_COLUMNS),
                               ins->new_tasks[i]);
      ok = weft_sqlite_step (self, STMT_TASKS, "cannot store tasks");
      for (guint i = 0; i < n; i++)
        weft_sqlite_task_written (ins->new_tasks[i], ok);
      return;
    }
  for (guint i = 0; i < n; i++)
    {
      weft_sqlite_bind_task (self->stmts[STMT_TASK_INSERT], 0, ins->new_tasks[i]);
      ok = weft_sqlite_step (self, STMT_TASK_INSERT, "cannot store a task");
      weft_sqlite_task_written (ins->new_tasks[i], ok);
    }
}

/* Inserts the events waiting for their INSERT: a full set in one
 * statement, fewer (the end of a batch, or an event that may be stored
 * already) one statement each. */
static void
weft_sqlite_insert_events (WeftSqlite *self)
{
  WeftSqliteInserts *ins = self->inserts;
  guint n = ins->n_event_rows;
  WeftSqliteStmt which = n == WEFT_SQLITE_ROWS_PER_INSERT ? STMT_EVENTS : STMT_EVENT;
  sqlite3_stmt *stmt = self->stmts[which];

  for (guint i = 0; i < n; i++)
    {
      WeftSqliteEventRow *row = &ins->event_rows[i];
      int base = which == STMT_EVENTS ? (int) (i * WEFT_SQLITE_EVENT_COLUMNS) : 0;

      sqlite3_bind_int64 (stmt, base + 1, row->key);
      sqlite3_bind_text (stmt, base + 2, ins->event_text->str + row->offset, (int) row->len,
                         SQLITE_STATIC);
      if (which == STMT_EVENT)
        weft_sqlite_step (self, STMT_EVENT, "cannot store an event");
    }
  if (which == STMT_EVENTS)
    weft_sqlite_step (self, STMT_EVENTS, "cannot store events");
  ins->n_event_rows = 0;
  g_string_truncate (ins->event_text, 0);
}

/* The event's row, in event_rows[]. */
static void
weft_sqlite_add_event (WeftSqlite *self, gint64 key, const WeftEvent *event)
{
  WeftSqliteInserts *ins = self->inserts;
  WeftSqliteEventRow *row = &ins->event_rows[ins->n_event_rows++];

  row->key = key;
  row->offset = ins->event_text->len;
  weft_event_append_json (event, ins->event_text);
  row->len = ins->event_text->len - row->offset;
}

/* The highest seq of the run in event_rows, once a transaction. */
static guint64
weft_sqlite_top_seq (WeftSqlite *self, WeftSqliteRun *run)
{
  sqlite3_stmt *stmt = self->stmts[STMT_EVENT_TOP];

  if (run->top_txn == self->txn)
    return run->top_seq;
  sqlite3_bind_int64 (stmt, 1, run->id << 32);
  sqlite3_bind_int64 (stmt, 2, (run->id << 32) + (sqlite3_int64) WEFT_SQLITE_MAX_SEQ);
  run->top_seq = sqlite3_step (stmt) == SQLITE_ROW
                 ? (guint64) sqlite3_column_int64 (stmt, 0) & WEFT_SQLITE_MAX_SEQ : 0;
  sqlite3_reset (stmt);
  run->top_txn = self->txn;
  return run->top_seq;
}

/* Updates a known task's row now; a new one waits for its INSERT, with
 * others (weft_sqlite_insert_tasks at the end of the batch). */
static void
weft_sqlite_write_task (WeftSqlite *self, WeftSqliteTask *task)
{
  task->pending = FALSE;
  if (!task->stored)
    {
      self->inserts->new_tasks[self->inserts->n_new_tasks++] = task;
      if (self->inserts->n_new_tasks == WEFT_SQLITE_ROWS_PER_INSERT)
        weft_sqlite_insert_tasks (self);
      return;
    }
  weft_sqlite_bind_task (self->stmts[STMT_TASK_UPDATE], 0, task);
  weft_sqlite_task_written (task, weft_sqlite_step (self, STMT_TASK_UPDATE,
                                                    "cannot store a task"));
}

/* A task that has only started, while more events wait: its row can wait
 * for the task's next event, so that the two cost one write (a busy run
 * starts many tasks a batch before it completes them). */
static gboolean
weft_sqlite_may_wait (WeftSqliteRun *run, WeftSqliteTask *task, gboolean idle)
{
  return !idle && !run->ended && task->finished_wall_us == 0
         && strcmp (task->status, "running") == 0;
}

/* The run's pending rows, but those that may wait, which join `waiting`;
 * then the waiting rows whose time is up (all of them when idle).  TRUE
 * when rows are left waiting.  Waiting rows are kept out
 * of `pending`, so that a commit costs what changed, not what waits. */
static gboolean
weft_sqlite_write_run (WeftSqlite *self, WeftSqliteRun *run, gboolean idle, gint64 now)
{
  WeftSqliteTask *task;

  for (guint i = 0; i < run->pending->len; i++)
    {
      task = run->pending->pdata[i];
      if (!weft_sqlite_may_wait (run, task, idle))
        {
          weft_sqlite_write_task (self, task);
          continue;
        }
      task->pending = FALSE;
      task->deferred_us = now;
      g_queue_push_tail (run->waiting, task);
      task->waiting = run->waiting->tail;
    }
  g_ptr_array_set_size (run->pending, 0);
  while ((task = g_queue_peek_head (run->waiting)) != NULL
         && (!weft_sqlite_may_wait (run, task, idle)
             || now - task->deferred_us >= WEFT_SQLITE_DEFER_RUNNING_US))
    {
      g_queue_pop_head (run->waiting);
      task->waiting = NULL;
      weft_sqlite_write_task (self, task);
    }
  return run->waiting->length > 0;
}

/* A bound on memory for a process that stores runs forever: runs with
 * nothing left to write are forgotten (and read back if they go on). */
#define WEFT_SQLITE_MAX_RUNS 1000

static void
weft_sqlite_forget_run (WeftSqlite *self, WeftSqliteRun *run)
{
  if (self->cur_run == run)
    self->cur_run = NULL;
  g_hash_table_remove (self->runs, run->run_id);
}

/* Each touched task's row once per batch; with
 * the queue busy (!idle), rows of tasks that only started may stay for the
 * next batch.  Ended runs are forgotten. */
static void
weft_sqlite_write_batch (WeftSqlite *self, gboolean idle)
{
  gint64 now = g_get_monotonic_time ();
  guint kept = 0;

  /* A run stays in the batch while rows of it wait. */
  for (guint i = 0; i < self->batch->len; i++)
    {
      WeftSqliteRun *run = self->batch->pdata[i];
      run->in_batch = weft_sqlite_write_run (self, run, idle, now);
    }
  weft_sqlite_insert_tasks (self);
  for (guint i = 0; i < self->batch->len; i++)
    {
      WeftSqliteRun *run = self->batch->pdata[i];

      if (run->in_batch)
        self->batch->pdata[kept++] = run;
      else if (run->ended)
        weft_sqlite_forget_run (self, run);
    }
  g_ptr_array_set_size (self->batch, kept);
  if (g_hash_table_size (self->runs) > WEFT_SQLITE_MAX_RUNS)
    {
      GHashTableIter iter;
      WeftSqliteRun *run;

      g_hash_table_iter_init (&iter, self->runs);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &run))
        if (!run->in_batch)
          {
            if (self->cur_run == run)
              self->cur_run = NULL;
            g_hash_table_iter_remove (&iter);
          }
    }
}

static void
weft_sqlite_commit (WeftSqlite *self, gboolean idle)
{
  if (!self->in_batch)
    return;
  weft_sqlite_insert_events (self);
  weft_sqlite_write_batch (self, idle);
  self->in_batch = FALSE;
  if (weft_sqlite_step (self, STMT_COMMIT, "cannot commit"))
    return;
  g_autofree char *what = g_strdup_printf ("%u event(s) lost", self->batch_events);
  weft_sqlite_warn (self, what);
  sqlite3_exec (self->writer, "ROLLBACK", NULL, NULL, NULL);
  /* Rows this batch wrote are gone with it: what the writer knew of its
   * runs is read back from the file when they go on. */
  g_ptr_array_set_size (self->batch, 0);
  self->cur_run = NULL;
  g_hash_table_remove_all (self->runs);
}

/* Stores the event itself; FALSE when it was stored before (a second
 * delivery must change nothing) or could not be.  An event above the
 * run's highest stored seq is new: it waits to be inserted with others.
 * One at or below it (a redelivery, or another writer's run) is inserted
 * alone, and SQLite says whether it was new. */
static gboolean
weft_sqlite_insert_event (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event)
{
  guint64 seq = weft_event_get_seq (event);
  gint64 key = (run->id << 32) + (sqlite3_int64) seq;

  if (seq > WEFT_SQLITE_MAX_SEQ)
    {
      g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE",
                        "sqlite store %s: run %s: event %" G_GUINT64_FORMAT " not stored: "
                        "the store keeps %" G_GUINT64_FORMAT " events per run at most",
                        self->path, run->run_id, seq, (guint64) WEFT_SQLITE_MAX_SEQ);
      return FALSE;
    }
  if (seq > weft_sqlite_top_seq (self, run))
    {
      run->top_seq = seq;
      weft_sqlite_add_event (self, key, event);
      if (self->inserts->n_event_rows == WEFT_SQLITE_ROWS_PER_INSERT)
        weft_sqlite_insert_events (self);
      return TRUE;
    }
  weft_sqlite_insert_events (self);
  weft_sqlite_add_event (self, key, event);
  weft_sqlite_insert_events (self);
  if (sqlite3_changes (self->writer) > 0)
    return TRUE;
  /* Someone stored it before: another writer may have rows of this run
   * that this one does not know. */
  run->complete = FALSE;
  return FALSE;
}

void
weft_sqlite_on_event (gpointer instance, const WeftEvent *event)
{
  WeftSqlite *self = instance;
  WeftSqliteRun *run;

  if (!weft_sqlite_begin (self))
    return;
  self->batch_events++;
  /* A thread's events (SDK 3.2) are not a run's: rows of their own. */
  if (weft_event_get_thread_id (event) != NULL)
    weft_sqlite_write_thread_event (self, event);
  else if ((run = weft_sqlite_run (self, event)) != NULL
           && weft_sqlite_insert_event (self, run, event))
    {
      weft_sqlite_apply (self, run, event);
      if (!run->in_batch)
        {
          run->in_batch = TRUE;
          g_ptr_array_add (self->batch, run);
        }
    }
  if (self->batch_events >= WEFT_SQLITE_BATCH_MAX_EVENTS
      || g_get_monotonic_time () - self->batch_started_us >= WEFT_SQLITE_BATCH_MAX_US)
    weft_sqlite_commit (self, FALSE);
}

void
weft_sqlite_flush (gpointer instance)
{
  weft_sqlite_commit (instance, TRUE);
}
