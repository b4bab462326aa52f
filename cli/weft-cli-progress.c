/* weft-cli-progress.c — a run's progress on stderr.
 *
 * Events arrive on the engine loop's thread (weft_engine_add_listener);
 * the main thread writes to stderr too (messages, the ticking clock), so
 * every write to stderr goes through `lock`.
 *
 * On a terminal: a status line redrawn in place, with a permanent line
 * above it for each task that completes, fails, retries or is skipped.
 * Elsewhere: one plain line per event.
 */
#include "weft-cli.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

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
#define WEFT_CLI_PLAIN_STEP_CHARS 160

struct _WeftCliProgress {
  GMutex lock;
  WeftEngine *engine;          /* not owned: outlives the progress */
  guint listener_id;
  guint ticker_id;
  gboolean terminal;
  gboolean stopped;
  gboolean line_shown;         /* the status line is on screen */
  char *flow_name;
  guint n_tasks;
  GHashTable *states;          /* task name → WeftCliTaskState */
  guint counts[WEFT_CLI_TASK_N_STATES];
  gint64 start_us;
  char *step;                  /* the latest step, for the status line */
  char *step_task;             /* the task that step belongs to */
};

/* ---- text helpers ------------------------------------------------------ */

/* `text` on one line, valid UTF-8, at most `max_chars` characters. */
static char *
weft_cli_shorten (const char *text, glong max_chars)
{
  g_autofree char *valid = g_utf8_make_valid (text ? text : "", -1);
  g_autofree char *flat = NULL;

  for (char *p = valid; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  flat = g_strstrip (g_steal_pointer (&valid));
  if (g_utf8_strlen (flat, -1) <= max_chars)
    return g_steal_pointer (&flat);
  if (max_chars <= 1)
    return g_strdup ("");
  {
    g_autofree char *head = g_utf8_substring (flat, 0, max_chars - 1);
    return g_strconcat (head, "…", NULL);
  }
}

static const char *
weft_cli_str (const char *text)
{
  return text ? text : "";
}

static guint
weft_cli_terminal_width (void)
{
  struct winsize size;

  if (ioctl (STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    return size.ws_col;
  return 80;
}

static double
weft_cli_seconds (gint64 us)
{
  return (double) us / G_USEC_PER_SEC;
}

/* ---- state ------------------------------------------------------------- */

static void
weft_cli_progress_set_task (WeftCliProgress *self, const char *task,
                            WeftCliTaskState state)
{
  gpointer old = NULL;

  WeftCliTaskState previous = WEFT_CLI_TASK_PENDING;

  if (task == NULL)
    return;
  if (g_hash_table_lookup_extended (self->states, task, NULL, &old))
    previous = GPOINTER_TO_INT (old);
  if (self->counts[previous] > 0)
    self->counts[previous]--;
  if (g_strcmp0 (task, self->step_task) == 0)
    {
      g_clear_pointer (&self->step, g_free);
      g_clear_pointer (&self->step_task, g_free);
    }
  g_hash_table_insert (self->states, g_strdup (task), GINT_TO_POINTER (state));
  self->counts[state]++;
}

static void
weft_cli_progress_set_step (WeftCliProgress *self, const WeftEvent *event)
{
  const char *task = weft_event_get_task_name (event);

  g_free (self->step);
  g_free (self->step_task);
  self->step_task = g_strdup (task);
  self->step = g_strdup_printf ("%s: %s %s", weft_cli_str (task),
                                weft_cli_str (weft_event_get_step_kind (event)),
                                weft_cli_str (weft_event_get_output (event)));
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
    case WEFT_EVENT_RUN_COMPLETED:
    case WEFT_EVENT_RUN_FAILED:
    case WEFT_EVENT_RUN_CANCELLED:
    default:
      break;
    }
}

/* ---- what an event says ------------------------------------------------ */

static char *
weft_cli_describe_task_event (const WeftEvent *event, glong step_chars)
{
  const char *task = weft_cli_str (weft_event_get_task_name (event));
  const char *error = weft_cli_str (weft_event_get_error (event));
  guint attempt = weft_event_get_attempt (event);
  double seconds = weft_cli_seconds (weft_event_get_duration_us (event));

  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_TASK_STARTED:
      if (attempt > 1)
        return g_strdup_printf ("task %s started (attempt %u)", task, attempt);
      return g_strdup_printf ("task %s started", task);
    case WEFT_EVENT_TASK_STEP:
      {
        g_autofree char *text = weft_cli_shorten (weft_event_get_output (event),
                                                  step_chars);
        return g_strdup_printf ("task %s step %s: %s", task,
                                weft_cli_str (weft_event_get_step_kind (event)),
                                text);
      }
    case WEFT_EVENT_TASK_COMPLETED:
      /* Attempt 0: a replay took the output of the stored run. */
      if (attempt == 0)
        return g_strdup_printf ("task %s reused (output of the stored run)", task);
      return g_strdup_printf ("task %s completed (%.3fs)", task, seconds);
    case WEFT_EVENT_TASK_FAILED:
      return g_strdup_printf ("task %s failed: %s", task, error);
    case WEFT_EVENT_TASK_CANCELLED:
      return g_strdup_printf ("task %s cancelled", task);
    case WEFT_EVENT_TASK_RETRYING:
      return g_strdup_printf ("task %s retrying after attempt %u: %s",
                              task, attempt, error);
    case WEFT_EVENT_TASK_SKIPPED:
      return g_strdup_printf ("task %s skipped: %s", task, error);
    default:
      return NULL;
    }
}

static char *
weft_cli_describe_event (WeftCliProgress *self, const WeftEvent *event,
                         glong step_chars)
{
  double seconds = weft_cli_seconds (weft_event_get_duration_us (event));

  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
      return g_strdup_printf ("run %s started (flow %s, %u tasks)",
                              weft_cli_str (weft_event_get_run_id (event)),
                              weft_cli_str (weft_event_get_flow_name (event)),
                              self->n_tasks);
    case WEFT_EVENT_RUN_RESUMED:
      return g_strdup_printf ("run %s resumed (flow %s, %u tasks)",
                              weft_cli_str (weft_event_get_run_id (event)),
                              weft_cli_str (weft_event_get_flow_name (event)),
                              self->n_tasks);
    case WEFT_EVENT_RUN_COMPLETED:
      return g_strdup_printf ("run completed (%.3fs)", seconds);
    case WEFT_EVENT_RUN_FAILED:
      return g_strdup_printf ("run failed: %s",
                              weft_cli_str (weft_event_get_error (event)));
    case WEFT_EVENT_RUN_CANCELLED:
      return g_strdup ("run cancelled");
    default:
      return weft_cli_describe_task_event (event, step_chars);
    }
}

/* ---- drawing ----------------------------------------------------------- */

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
  g_autoptr(GString) line = g_string_new (NULL);

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
  return weft_cli_shorten (line->str, (glong) weft_cli_terminal_width () - 1);
}

/* Call with the lock held. */
static void
weft_cli_progress_clear_line (WeftCliProgress *self)
{
  if (self->line_shown)
    fputs ("\r\033[K", stderr);
  self->line_shown = FALSE;
}

/* Call with the lock held. */
static void
weft_cli_progress_draw (WeftCliProgress *self)
{
  g_autofree char *status = NULL;

  if (!self->terminal || self->stopped)
    return;
  status = weft_cli_progress_status_line (self);
  fprintf (stderr, "\r\033[K%s", status);
  fflush (stderr);
  self->line_shown = TRUE;
}

static gboolean
weft_cli_is_permanent (WeftEventType type)
{
  return type != WEFT_EVENT_RUN_STARTED && type != WEFT_EVENT_RUN_RESUMED
         && type != WEFT_EVENT_TASK_STARTED
         && type != WEFT_EVENT_TASK_STEP;
}

static void
weft_cli_progress_show (WeftCliProgress *self, const WeftEvent *event)
{
  WeftEventType type = weft_event_get_event_type (event);
  g_autofree char *text = NULL;
  gint64 at = weft_cli_progress_elapsed_us (self, weft_event_get_mono_us (event));

  if (self->terminal && !weft_cli_is_permanent (type))
    {
      weft_cli_progress_draw (self);
      return;
    }
  text = weft_cli_describe_event (self, event, WEFT_CLI_PLAIN_STEP_CHARS);
  if (text == NULL)
    return;
  weft_cli_progress_clear_line (self);
  fprintf (stderr, "[%7.3fs] %s\n", weft_cli_seconds (at), text);
  weft_cli_progress_draw (self);
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

WeftCliProgress *
weft_cli_progress_new (WeftEngine *engine, WeftFlow *flow, gboolean terminal)
{
  WeftCliProgress *self = g_new0 (WeftCliProgress, 1);

  g_mutex_init (&self->lock);
  self->engine = engine;
  self->terminal = terminal;
  self->flow_name = g_strdup (weft_flow_get_name (flow));
  self->n_tasks = weft_flow_get_n_tasks (flow);
  self->counts[WEFT_CLI_TASK_PENDING] = self->n_tasks;
  self->states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->start_us = g_get_monotonic_time ();
  self->listener_id = weft_engine_add_listener (engine, weft_cli_progress_on_event,
                                                self, NULL);
  if (terminal)
    self->ticker_id = g_timeout_add (WEFT_CLI_TICK_MS, weft_cli_progress_tick, self);
  return self;
}

void
weft_cli_progress_stop (WeftCliProgress *self)
{
  g_mutex_lock (&self->lock);
  g_clear_handle_id (&self->ticker_id, g_source_remove);
  weft_cli_progress_clear_line (self);
  self->stopped = TRUE;
  g_mutex_unlock (&self->lock);
}

void
weft_cli_progress_free (WeftCliProgress *self)
{
  if (self == NULL)
    return;
  weft_cli_progress_stop (self);
  weft_engine_remove_listener (self->engine, self->listener_id);
  g_hash_table_unref (self->states);
  g_free (self->flow_name);
  g_free (self->step);
  g_free (self->step_task);
  g_mutex_clear (&self->lock);
  g_free (self);
}

void
weft_cli_progress_message (WeftCliProgress *self, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  if (self == NULL)
    {
      fprintf (stderr, "%s\n", message);
      return;
    }
  g_mutex_lock (&self->lock);
  weft_cli_progress_clear_line (self);
  fprintf (stderr, "%s\n", message);
  weft_cli_progress_draw (self);
  g_mutex_unlock (&self->lock);
}
