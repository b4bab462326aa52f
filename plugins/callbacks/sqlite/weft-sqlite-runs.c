/* weft-sqlite-runs.c — what the runs and tasks tables make of each event,
 * on the dispatcher thread: a run's row written as it starts and ends, a
 * task's row kept in memory (WeftSqliteTask) until its batch commits, and
 * the rows of a run the writer did not create read back before it adds to
 * them, so that a task never gets a second row.  The batch that writes
 * the rows out, and when, is weft-sqlite-writer.c's.
 */
#include "weft-sqlite.h"

#include <string.h>

static void
weft_sqlite_task_free (gpointer data)
{
  WeftSqliteTask *task = data;

  g_free (task->name);
  g_free (task->output);
  g_free (task->error);
  g_free (task);
}

void
weft_sqlite_run_free (gpointer data)
{
  WeftSqliteRun *run = data;

  g_hash_table_unref (run->tasks);
  g_ptr_array_unref (run->pending);
  g_queue_free (run->waiting);
  g_free (run->run_id);
  g_free (run);
}

/* The run_rows.id of the event's run, whose row is created when it has none
 * yet (an instance that only some tasks name sees no run.* events: the
 * row then holds what task events tell); `created` says which. */
static gboolean
weft_sqlite_run_key (WeftSqlite *self, const WeftEvent *event, gint64 *id, gboolean *created)
{
  const char *run_id = weft_event_get_run_id (event);
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_ID];
  int rc;

  sqlite3_bind_text (self->stmts[STMT_RUN_SEEN], 1, run_id, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (self->stmts[STMT_RUN_SEEN], 2, weft_event_get_flow_name (event));
  if (!weft_sqlite_step (self, STMT_RUN_SEEN, "cannot store a run"))
    return FALSE;
  *created = sqlite3_changes (self->writer) > 0;
  sqlite3_bind_text (stmt, 1, run_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  weft_sqlite_warn (self, "cannot read a run's key");
  return FALSE;
}

/* What the writer knows of the event's run; NULL when its row cannot be
 * written.  Consecutive events of one run skip the hash lookup. */
WeftSqliteRun *
weft_sqlite_run (WeftSqlite *self, const WeftEvent *event)
{
  const char *run_id = weft_event_get_run_id (event);
  WeftSqliteRun *run = self->cur_run;
  gboolean created;
  gint64 id;

  if (run != NULL && strcmp (run->run_id, run_id) == 0)
    return run;
  run = g_hash_table_lookup (self->runs, run_id);
  if (run == NULL)
    {
      if (!weft_sqlite_run_key (self, event, &id, &created))
        return NULL;
      run = g_new0 (WeftSqliteRun, 1);
      run->run_id = g_strdup (run_id);
      run->id = id;
      run->complete = created;
      run->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, weft_sqlite_task_free);
      run->pending = g_ptr_array_new ();
      run->waiting = g_queue_new ();
      g_hash_table_insert (self->runs, run->run_id, run);
    }
  self->cur_run = run;
  return run;
}

/* Taken before the run's row is committed, so that whoever can read the
 * row can tell the run is live.  A resumed run was claimed by
 * claim_run() before it started: taking it again fails only when a run
 * was resumed without asking (or by a weft without claims). */
static void
weft_sqlite_claim (WeftSqlite *self, WeftSqliteRun *run)
{
  if (!weft_sqlite_claims_take (&self->claims, run->id))
    g_log_structured ("weft-sqlite", G_LOG_LEVEL_WARNING, "MESSAGE",
                      "sqlite store %s: run %s is also being run by another process; "
                      "its events are stored all the same", self->path, run->run_id);
}

static void
weft_sqlite_run_started (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event)
{
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_START];
  sqlite3_stmt *source = self->stmts[STMT_RUN_SOURCE];

  sqlite3_bind_int64 (stmt, 1, run->id);
  weft_sqlite_bind_text (stmt, 2, weft_event_get_flow_name (event));
  sqlite3_bind_int64 (stmt, 3, weft_event_get_wall_us (event));
  weft_sqlite_step (self, STMT_RUN_START, "cannot store a run");
  const char *text = weft_event_get_flow_source (event);
  g_autofree char *sha256 = text ? g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1)
                                 : NULL;
  if (sha256 != NULL)
    {
      sqlite3_stmt *flow_text = self->stmts[STMT_FLOW_TEXT];
      sqlite3_bind_text (flow_text, 1, sha256, -1, SQLITE_STATIC);
      sqlite3_bind_text (flow_text, 2, text, -1, SQLITE_STATIC);
      weft_sqlite_step (self, STMT_FLOW_TEXT, "cannot store a flow's text");
    }
  sqlite3_bind_int64 (source, 1, run->id);
  weft_sqlite_bind_text (source, 2, weft_event_get_inputs (event));
  weft_sqlite_bind_text (source, 3, sha256);
  weft_sqlite_step (self, STMT_RUN_SOURCE, "cannot store a run's flow");
}

static void
weft_sqlite_run_ended (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event,
                       const char *status)
{
  sqlite3_stmt *stmt = self->stmts[STMT_RUN_END];

  sqlite3_bind_int64 (stmt, 1, run->id);
  sqlite3_bind_text (stmt, 2, status, -1, SQLITE_STATIC);
  weft_sqlite_bind_text (stmt, 3, weft_event_get_error (event));
  sqlite3_bind_int64 (stmt, 4, weft_event_get_wall_us (event));
  weft_sqlite_step (self, STMT_RUN_END, "cannot store a run's end");
  run->ended = TRUE;
  weft_sqlite_claims_drop (&self->claims, run->id);
}

static WeftSqliteTask *
weft_sqlite_task_new (WeftSqliteRun *run, const char *name, gint64 key)
{
  WeftSqliteTask *task = g_new0 (WeftSqliteTask, 1);

  task->name = g_strdup (name);
  task->key = key;
  g_hash_table_insert (run->tasks, task->name, task);
  return task;
}

/* Reads back the run's task rows that the writer does not know: a run it
 * did not create (a resume), or that another writer wrote too.  A row it
 * is about to insert becomes an update of the one found. */
static void
weft_sqlite_load_tasks (WeftSqlite *self, WeftSqliteRun *run)
{
  sqlite3_stmt *stmt = self->stmts[STMT_TASK_LOAD];
  int rc;

  sqlite3_bind_int64 (stmt, 1, run->id << 32);
  sqlite3_bind_int64 (stmt, 2, (run->id << 32) + (sqlite3_int64) WEFT_SQLITE_MAX_SEQ);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *name = (const char *) sqlite3_column_text (stmt, 1);
      WeftSqliteTask *task = g_hash_table_lookup (run->tasks, name);

      if (task != NULL && task->stored)
        continue;
      if (task == NULL)
        task = weft_sqlite_task_new (run, name, 0);
      task->key = sqlite3_column_int64 (stmt, 0);
      task->stored = TRUE;
      if (task->attempts == 0)
        task->attempts = sqlite3_column_int (stmt, 2);
      if (sqlite3_column_type (stmt, 3) != SQLITE_NULL)
        task->started_wall_us = sqlite3_column_int64 (stmt, 3);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    weft_sqlite_warn (self, "cannot read a run's tasks");
  else
    run->complete = TRUE;
}

/* The task's row after `event`, kept until the batch's commit. */
static void
weft_sqlite_task_event (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event,
                        const char *status)
{
  const char *name = weft_event_get_task_name (event);
  WeftSqliteTask *task = g_hash_table_lookup (run->tasks, name);
  WeftEventType type = weft_event_get_event_type (event);
  gint64 wall = weft_event_get_wall_us (event);
  guint attempt = weft_event_get_attempt (event);

  if (task == NULL && !run->complete)
    {
      weft_sqlite_load_tasks (self, run);
      task = g_hash_table_lookup (run->tasks, name);
    }
  if (task == NULL)
    task = weft_sqlite_task_new (run, name,
                                 (run->id << 32) + (sqlite3_int64) weft_event_get_seq (event));
  if (task->waiting != NULL)
    {
      g_queue_delete_link (run->waiting, task->waiting);
      task->waiting = NULL;
    }
  if (!task->pending)
    {
      task->pending = TRUE;
      g_ptr_array_add (run->pending, task);
    }
  task->status = status;
  g_free (task->output);
  task->output = type == WEFT_EVENT_TASK_COMPLETED
                 ? g_strdup (weft_event_get_output (event)) : NULL;
  g_free (task->error);
  task->error = g_strdup (weft_event_get_error (event));
  if (attempt > 0)
    task->attempts = (int) attempt;
  /* A skipped task never started; a reused one (attempt 0) starts and
   * ends at once. */
  if (task->started_wall_us == 0 && type != WEFT_EVENT_TASK_SKIPPED)
    task->started_wall_us = wall;
  task->finished_wall_us = type == WEFT_EVENT_TASK_COMPLETED || type == WEFT_EVENT_TASK_FAILED
                           || type == WEFT_EVENT_TASK_CANCELLED
                           || type == WEFT_EVENT_TASK_SKIPPED ? wall : 0;
}

/* What the runs and tasks tables make of one stored event. */
void
weft_sqlite_apply (WeftSqlite *self, WeftSqliteRun *run, const WeftEvent *event)
{
  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
    case WEFT_EVENT_RUN_RESUMED:
      weft_sqlite_claim (self, run);
      weft_sqlite_run_started (self, run, event);
      break;
    case WEFT_EVENT_RUN_COMPLETED:
      weft_sqlite_run_ended (self, run, event, "completed");
      break;
    case WEFT_EVENT_RUN_FAILED:
      weft_sqlite_run_ended (self, run, event, "failed");
      break;
    case WEFT_EVENT_RUN_CANCELLED:
      weft_sqlite_run_ended (self, run, event, "cancelled");
      break;
    case WEFT_EVENT_TASK_STARTED:
      weft_sqlite_task_event (self, run, event, "running");
      break;
    case WEFT_EVENT_TASK_COMPLETED:
      weft_sqlite_task_event (self, run, event, "completed");
      break;
    case WEFT_EVENT_TASK_FAILED:
      weft_sqlite_task_event (self, run, event, "failed");
      break;
    case WEFT_EVENT_TASK_CANCELLED:
      weft_sqlite_task_event (self, run, event, "cancelled");
      break;
    case WEFT_EVENT_TASK_RETRYING:
      weft_sqlite_task_event (self, run, event, "retrying");
      break;
    case WEFT_EVENT_TASK_SKIPPED:
      weft_sqlite_task_event (self, run, event, "skipped");
      break;
    case WEFT_EVENT_TASK_STEP:
    default:
      /* Steps, and types newer than this plugin, live in events only. */
      break;
    }
}
