/* weft-cli-progress.c — a run's progress on stderr, through the command's
 * one writer (weft-cli-term.c).
 *
 * Events arrive on the engine loop's thread (weft_engine_add_listener); the
 * main thread ticks the status line's clock: `lock` guards the state both
 * read.  What an event says is weft-cli-trace.c's; here is when it shows:
 *
 *   - on a terminal, a status line redrawn in place (counts, the clock,
 *     the latest step: a tool call, the tail of streamed text), and above
 *     it a line for the run's id and for each task that ends, fails,
 *     retries or is skipped;
 *   - elsewhere, one line per event, streamed chunks left out;
 *   - with --verbose, on a terminal or not, the whole trace: every event,
 *     each tool call with its arguments and its result, streamed text as
 *     text as it arrives, each task's answer.
 */
#include "weft-cli.h"

#include <string.h>

typedef enum {
  WEFT_CLI_TASK_PENDING,
  WEFT_CLI_TASK_RUNNING,
  WEFT_CLI_TASK_RETRYING,
  WEFT_CLI_TASK_DONE,
  WEFT_CLI_TASK_FAILED,
  WEFT_CLI_TASK_SKIPPED,
  WEFT_CLI_TASK_N_STATES
} WeftCliTaskState;

#define WEFT_CLI_TICK_MS 200
/* Streamed text kept per task for the status line: its tail. */
#define WEFT_CLI_STREAM_TAIL_BYTES 400
/* Indentation of an answer or a tool's result under its line. */
#define WEFT_CLI_BLOCK_INDENT "    "

typedef struct {
  WeftCliTraceTask about;     /* first: what weft-cli-trace.c reads */
  WeftCliTaskState state;
} WeftCliTask;

struct _WeftCliProgress {
  GMutex lock;
  WeftEngine *engine;          /* not owned: outlives the progress */
  WeftCliTerm *term;           /* not owned */
  guint listener_id;
  guint ticker_id;
  gboolean live;               /* a status line, on a terminal */
  gboolean verbose;
  gboolean stopped;
  char *flow_name;
  guint n_tasks;
  GHashTable *tasks;           /* task name (the flow's) → WeftCliTask in task_block */
  WeftCliTask *task_block;     /* one per task of the flow */
  guint counts[WEFT_CLI_TASK_N_STATES];
  gint64 start_us;
  char *step;                  /* the latest step, for the status line */
  char *step_task;             /* the task that step belongs to */
  GString *stream_tail;        /* step_task's streamed text, its tail */
};

static double
weft_cli_seconds (gint64 us)
{
  return (double) us / G_USEC_PER_SEC;
}

/* ---- state ------------------------------------------------------------- */

static void
weft_cli_progress_clear_step (WeftCliProgress *self)
{
  g_clear_pointer (&self->step, g_free);
  g_clear_pointer (&self->step_task, g_free);
  g_string_truncate (self->stream_tail, 0);
}

static void
weft_cli_progress_set_task (WeftCliProgress *self, const char *name, WeftCliTaskState state)
{
  WeftCliTask *task = name != NULL ? g_hash_table_lookup (self->tasks, name) : NULL;

  if (task == NULL)
    return;
  if (self->counts[task->state] > 0)
    self->counts[task->state]--;
  task->state = state;
  self->counts[state]++;
  if (state == WEFT_CLI_TASK_RUNNING)
    task->about.streamed = FALSE;
  if (g_strcmp0 (name, self->step_task) == 0)
    weft_cli_progress_clear_step (self);
}

/* The status line's step: a stream shows the end of what it wrote. */
static void
weft_cli_progress_set_step (WeftCliProgress *self, const WeftEvent *event)
{
  const char *task = weft_event_get_task_name (event);
  const char *kind = weft_event_get_step_kind (event);

  if (g_strcmp0 (task, self->step_task) != 0)
    {
      weft_cli_progress_clear_step (self);
      self->step_task = g_strdup (task);
    }
  g_free (self->step);
  if (g_strcmp0 (kind, WEFT_CLI_STEP_CHUNK) == 0)
    {
      const char *text = weft_event_get_output (event);

      g_string_append (self->stream_tail, text != NULL ? text : "");
      if (self->stream_tail->len > WEFT_CLI_STREAM_TAIL_BYTES)
        {
          const char *cut = self->stream_tail->str + self->stream_tail->len
                            - WEFT_CLI_STREAM_TAIL_BYTES;
          /* At a character's start, so the tail stays valid UTF-8. */
          while ((*cut & 0xc0) == 0x80)
            cut++;
          g_string_erase (self->stream_tail, 0, cut - self->stream_tail->str);
        }
      self->step = g_strdup_printf ("%s: …%s", task, self->stream_tail->str);
    }
  else
    self->step = weft_cli_trace_step_status (event);
}

static void
weft_cli_progress_update (WeftCliProgress *self, const WeftEvent *event)
{
  const char *task = weft_event_get_task_name (event);

  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
    case WEFT_EVENT_RUN_RESUMED:
      self->start_us = weft_event_get_mono_us (event);
      break;
    case WEFT_EVENT_TASK_STARTED:
      weft_cli_progress_set_task (self, task, WEFT_CLI_TASK_RUNNING);
      break;
    case WEFT_EVENT_TASK_STEP:
      weft_cli_progress_set_step (self, event);
      break;
    case WEFT_EVENT_TASK_COMPLETED:
      weft_cli_progress_set_task (self, task, WEFT_CLI_TASK_DONE);
      break;
    case WEFT_EVENT_TASK_FAILED:
    case WEFT_EVENT_TASK_CANCELLED:
      weft_cli_progress_set_task (self, task, WEFT_CLI_TASK_FAILED);
      break;
    case WEFT_EVENT_TASK_RETRYING:
      weft_cli_progress_set_task (self, task, WEFT_CLI_TASK_RETRYING);
      break;
    case WEFT_EVENT_TASK_SKIPPED:
      weft_cli_progress_set_task (self, task, WEFT_CLI_TASK_SKIPPED);
      break;
    default:
      break;
    }
}

/* ---- the status line ---------------------------------------------------- */

static gint64
weft_cli_progress_elapsed_us (WeftCliProgress *self, gint64 now_us)
{
  return self->start_us > 0 ? now_us - self->start_us : 0;
}

static char *
weft_cli_progress_status_line (WeftCliProgress *self)
{
  const char *sep = weft_cli_separator ();
  gint64 elapsed = weft_cli_progress_elapsed_us (self, g_get_monotonic_time ());
  GString *line = g_string_new (NULL);

  g_string_printf (line, "%s  %u/%u done %s %u running %s %u failed",
                   self->flow_name, self->counts[WEFT_CLI_TASK_DONE],
                   self->n_tasks, sep,
                   self->counts[WEFT_CLI_TASK_RUNNING]
                   + self->counts[WEFT_CLI_TASK_RETRYING],
                   sep, self->counts[WEFT_CLI_TASK_FAILED]);
  if (self->counts[WEFT_CLI_TASK_SKIPPED] > 0)
    g_string_append_printf (line, " %s %u skipped", sep,
                            self->counts[WEFT_CLI_TASK_SKIPPED]);
  g_string_append_printf (line, " %s %.1fs", sep, weft_cli_seconds (elapsed));
  if (self->step != NULL)
    g_string_append_printf (line, "  %s %s", sep, self->step);
  return g_string_free (line, FALSE);
}

/* Call with the lock held. */
static void
weft_cli_progress_draw (WeftCliProgress *self)
{
  g_autofree char *status = NULL;

  if (!self->live || self->stopped)
    return;
  status = weft_cli_progress_status_line (self);
  weft_cli_term_set_status (self->term, status);
}

/* ---- lines --------------------------------------------------------------- */

/* On a terminal without --verbose, the run's start and every task's end
 * stay; the rest is the status line's. */
static gboolean
weft_cli_progress_is_permanent (WeftEventType type)
{
  return type != WEFT_EVENT_TASK_STARTED && type != WEFT_EVENT_TASK_STEP;
}

/* "[  1.234s] LINE", then the block indented under it. */
static void
weft_cli_progress_write (WeftCliProgress *self, gint64 at_us, const char *line,
                         const char *block)
{
  g_autofree char *flat = weft_cli_term_fit (line, G_MAXUINT);
  g_autoptr(GString) text = g_string_new (NULL);

  g_string_printf (text, "[%7.3fs] %s\n", weft_cli_seconds (at_us), flat);
  if (block != NULL)
    {
      g_auto(GStrv) rows = g_strsplit (block, "\n", -1);

      for (guint i = 0; rows[i] != NULL; i++)
        g_string_append_printf (text, "%s%s\n", rows[i][0] ? WEFT_CLI_BLOCK_INDENT : "",
                                rows[i]);
    }
  weft_cli_term_write (self->term, text->str);
}

static void
weft_cli_progress_stream (WeftCliProgress *self, const WeftEvent *event, gint64 at_us)
{
  const char *name = weft_event_get_task_name (event);
  WeftCliTask *task = name != NULL ? g_hash_table_lookup (self->tasks, name) : NULL;
  g_autofree char *header = g_strdup_printf ("[%7.3fs] task %s writes:",
                                             weft_cli_seconds (at_us), name ? name : "");

  if (task != NULL)
    task->about.streamed = TRUE;
  weft_cli_term_stream (self->term, name, header, weft_event_get_output (event));
}

static void
weft_cli_progress_show (WeftCliProgress *self, const WeftEvent *event)
{
  WeftEventType type = weft_event_get_event_type (event);
  const char *name = weft_event_get_task_name (event);
  gint64 at = weft_cli_progress_elapsed_us (self, weft_event_get_mono_us (event));
  WeftCliTask *task = name != NULL ? g_hash_table_lookup (self->tasks, name) : NULL;
  g_autofree char *line = NULL;
  g_autofree char *block = NULL;

  if (type == WEFT_EVENT_TASK_STEP
      && g_strcmp0 (weft_event_get_step_kind (event), WEFT_CLI_STEP_CHUNK) == 0)
    {
      if (self->verbose)
        weft_cli_progress_stream (self, event, at);
      return;
    }
  if (self->live && !self->verbose && !weft_cli_progress_is_permanent (type))
    return;
  line = weft_cli_trace_describe (event, task != NULL ? &task->about : NULL, self->n_tasks,
                                  self->verbose, &block);
  if (line != NULL)
    weft_cli_progress_write (self, at, line, block);
}

static void
weft_cli_progress_on_event (const WeftEvent *event, gpointer user_data)
{
  WeftCliProgress *self = user_data;

  g_mutex_lock (&self->lock);
  if (!self->stopped)
    {
      weft_cli_progress_update (self, event);
      weft_cli_progress_show (self, event);
      weft_cli_progress_draw (self);
    }
  g_mutex_unlock (&self->lock);
}

static gboolean
weft_cli_progress_tick (gpointer user_data)
{
  WeftCliProgress *self = user_data;

  g_mutex_lock (&self->lock);
  weft_cli_progress_draw (self);
  g_mutex_unlock (&self->lock);
  return G_SOURCE_CONTINUE;
}

/* ---- life cycle -------------------------------------------------------- */

static void
weft_cli_progress_add_tasks (WeftCliProgress *self, WeftFlow *flow)
{
  WeftCliTask *tasks = g_new0 (WeftCliTask, self->n_tasks);

  for (guint i = 0; i < self->n_tasks; i++)
    {
      tasks[i].about.agent = weft_flow_get_task_agent (flow, i);
      g_hash_table_insert (self->tasks, (gpointer) weft_flow_get_task_name (flow, i), &tasks[i]);
    }
  self->counts[WEFT_CLI_TASK_PENDING] = self->n_tasks;
  self->task_block = tasks;
}

WeftCliProgress *
weft_cli_progress_new (WeftEngine *engine, WeftFlow *flow, WeftCliTerm *term, gboolean verbose)
{
  WeftCliProgress *self = g_new0 (WeftCliProgress, 1);

  g_mutex_init (&self->lock);
  self->engine = engine;
  self->term = term;
  self->live = weft_cli_term_is_terminal (term);
  self->verbose = verbose;
  self->flow_name = g_strdup (weft_flow_get_name (flow));
  self->n_tasks = weft_flow_get_n_tasks (flow);
  self->tasks = g_hash_table_new (g_str_hash, g_str_equal);
  self->stream_tail = g_string_new (NULL);
  weft_cli_progress_add_tasks (self, flow);
  self->start_us = g_get_monotonic_time ();
  self->listener_id = weft_engine_add_listener (engine, weft_cli_progress_on_event,
                                                self, NULL);
  if (self->live)
    self->ticker_id = g_timeout_add (WEFT_CLI_TICK_MS, weft_cli_progress_tick, self);
  return self;
}

void
weft_cli_progress_stop (WeftCliProgress *self)
{
  g_mutex_lock (&self->lock);
  g_clear_handle_id (&self->ticker_id, g_source_remove);
  self->stopped = TRUE;
  weft_cli_term_finish (self->term);
  g_mutex_unlock (&self->lock);
}

void
weft_cli_progress_free (WeftCliProgress *self)
{
  if (self == NULL)
    return;
  weft_cli_progress_stop (self);
  weft_engine_remove_listener (self->engine, self->listener_id);
  g_hash_table_unref (self->tasks);
  g_free (self->task_block);
  g_free (self->flow_name);
  weft_cli_progress_clear_step (self);
  g_string_free (self->stream_tail, TRUE);
  g_mutex_clear (&self->lock);
  g_free (self);
}
