/* weft-log.c — a callback that writes every event as a line, to the
 * terminal or a file: human-readable text, or the SDK's event JSON (one
 * object a line).  Without a path the lines go through weft_terminal_write,
 * so that the program running the flow decides where they land (`weft run`
 * draws them above its status line, and drops them with --quiet).
 *
 * on_event runs on this instance's own dispatcher thread, so the writes here
 * may block without delaying the engine.
 */
#include <weft/weft-sdk.h>

#include <glib/gstdio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* In the order of weft_log_formats: weft binds the index. */
typedef enum {
  WEFT_LOG_TEXT,
  WEFT_LOG_JSONL,
} WeftLogFormat;

static const char * const weft_log_formats[] = { "text", "jsonl", NULL };

/* The options, as weft binds them (see weft_log_options). */
typedef struct {
  gint format;                /* WeftLogFormat */
  const char *path;
  const char * const *events;
  gint64 max_output;
} WeftLogOptions;

typedef struct {
  FILE *out;              /* opened from `path`; NULL: the terminal */
  gboolean jsonl;
  WeftEventSet events;    /* the types logged */
  guint max_output;       /* characters of output/error in text; 0 = all */
} WeftLog;

static const WeftOption weft_log_options[] = {
  { .name = "format", .type = WEFT_OPTION_ENUM, .default_json = "\"text\"",
    .choices = weft_log_formats, .offset = offsetof (WeftLogOptions, format),
    .description = "\"text\" (one readable line per event) or \"jsonl\" (the event JSON, one "
                   "per line)" },
  { .name = "path", .type = WEFT_OPTION_STRING, .offset = offsetof (WeftLogOptions, path),
    .description = "file to append to, created if missing (default: the terminal, stderr)" },
  { .name = "events", .type = WEFT_OPTION_STRING_LIST,
    .offset = offsetof (WeftLogOptions, events),
    .description = "event types to log, e.g. [\"task.completed\", \"task.failed\"] (default: "
                   "all)" },
  { .name = "max_output", .type = WEFT_OPTION_INT, .default_json = "200", .min = 0,
    .max = G_MAXINT, .offset = offsetof (WeftLogOptions, max_output),
    .description = "text format: cut outputs and errors to this many characters (0: never cut)" },
  WEFT_OPTION_END
};

static void
weft_log_free (WeftLog *self)
{
  if (self->out != NULL)
    fclose (self->out);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftLog, weft_log_free)

/* ------------------------------------------------------------------------ */
/* create                                                                   */

static gboolean
weft_log_open (WeftLog *self, const char *path, GError **error)
{
  int saved_errno;

  if (path == NULL)
    return TRUE;
  if (*path == '\0')
    {
      g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                           "option \"path\": must not be empty (leave it out for the terminal)");
      return FALSE;
    }

  self->out = g_fopen (path, "a");
  saved_errno = errno;
  if (self->out == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"path\": cannot open \"%s\" for appending: %s",
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  /* Unbuffered: each line then leaves in one write(2), which O_APPEND makes
   * atomic, so two loggers (or processes) sharing a file never mix lines. */
  setvbuf (self->out, NULL, _IONBF, 0);
  return TRUE;
}

static gpointer
weft_log_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftLog) self = g_new0 (WeftLog, 1);
  const WeftLogOptions *options = weft_config_get_options (config);

  self->max_output = (guint) options->max_output;
  self->jsonl = options->format == WEFT_LOG_JSONL;
  /* The file is opened last so that a bad option leaves no file behind. */
  if (!weft_event_set_parse (options->events, "events", &self->events, error) ||
      !weft_log_open (self, options->path, error))
    return NULL;
  return g_steal_pointer (&self);
}

static void
weft_log_destroy (gpointer instance)
{
  weft_log_free (instance);
}

/* ------------------------------------------------------------------------ */
/* Text lines                                                               */

/* Appends `text` on one line: newlines shown as "⏎", other control
 * characters as spaces, cut to `max` characters with "…" (0: no cut). */
static void
weft_log_append_excerpt (GString *line, const char *text, guint max)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  guint count = 0;

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p), count++)
    {
      if (max > 0 && count == max)
        {
          g_string_append (line, "…");
          return;
        }
      if (*p == '\r' && p[1] == '\n')
        p++;
      if (*p == '\n' || *p == '\r')
        g_string_append (line, "⏎");
      else if ((guchar) *p < 0x20 || *p == 0x7f)
        g_string_append_c (line, ' ');
      else
        g_string_append_len (line, p, g_utf8_next_char (p) - p);
    }
}

static void
weft_log_append_time (GString *line, gint64 wall_us)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  g_autofree char *text = time != NULL ? g_date_time_format (time, "%Y-%m-%dT%H:%M:%S") : NULL;

  g_string_append_printf (line, "%s.%03dZ", text != NULL ? text : "?",
                          (int) (wall_us % G_USEC_PER_SEC / 1000));
}

/* What happened, e.g. "completed in 1.002s (attempt 1)". */
static void
weft_log_append_what (GString *line, const WeftEvent *event)
{
  WeftEventType type = weft_event_get_event_type (event);
  double seconds = (double) weft_event_get_duration_us (event) / G_USEC_PER_SEC;
  guint attempt = weft_event_get_attempt (event);

  switch (type)
    {
    case WEFT_EVENT_TASK_STARTED:
      g_string_append_printf (line, "started (attempt %u)", attempt);
      break;
    case WEFT_EVENT_TASK_STEP:
      g_string_append_printf (line, "step %s (attempt %u)",
                              weft_event_get_step_kind (event) != NULL
                              ? weft_event_get_step_kind (event) : "-", attempt);
      break;
    case WEFT_EVENT_TASK_COMPLETED:
      g_string_append_printf (line, "completed in %.3fs (attempt %u)", seconds, attempt);
      break;
    case WEFT_EVENT_TASK_FAILED:
      g_string_append_printf (line, "failed after %.3fs (attempt %u)", seconds, attempt);
      break;
    case WEFT_EVENT_TASK_CANCELLED:
      g_string_append_printf (line, "cancelled after %.3fs (attempt %u)", seconds, attempt);
      break;
    case WEFT_EVENT_TASK_RETRYING:
      g_string_append_printf (line, "retrying (attempt %u failed)", attempt);
      break;
    case WEFT_EVENT_TASK_SKIPPED:
      g_string_append (line, "skipped");
      break;
    case WEFT_EVENT_RUN_STARTED:
      g_string_append (line, "started");
      break;
    case WEFT_EVENT_RUN_COMPLETED:
      g_string_append_printf (line, "completed in %.3fs", seconds);
      break;
    case WEFT_EVENT_RUN_FAILED:
      g_string_append_printf (line, "failed after %.3fs", seconds);
      break;
    case WEFT_EVENT_RUN_CANCELLED:
      g_string_append_printf (line, "cancelled after %.3fs", seconds);
      break;
    default:
      g_string_append (line, weft_event_type_to_string (type));
      break;
    }
}

/* e.g. "2026-11-22T03:48:17.123Z blog 6f1c2a3b task ideas completed in
 * 1.002s (attempt 1): first line⏎second line…" */
static char *
weft_log_format_text (WeftLog *self, const WeftEvent *event)
{
  GString *line = g_string_new (NULL);
  const char *task = weft_event_get_task_name (event);
  const char *error = weft_event_get_error (event);
  /* run.completed's output is the whole result as JSON: too much for a line. */
  const char *detail = error != NULL ? error
                       : weft_event_get_event_type (event) == WEFT_EVENT_RUN_COMPLETED ? NULL
                       : weft_event_get_output (event);

  const char *thread = weft_event_get_thread_id (event);

  weft_log_append_time (line, weft_event_get_wall_us (event));
  g_string_append_printf (line, " %s %.8s ", weft_event_get_flow_name (event),
                          thread ? thread : weft_event_get_run_id (event));
  if (task != NULL)
    g_string_append_printf (line, "task %s ", task);
  else
    g_string_append (line, thread ? "" : "run ");
  weft_log_append_what (line, event);
  if (detail != NULL)
    {
      g_string_append (line, ": ");
      weft_log_append_excerpt (line, detail, self->max_output);
    }
  g_string_append_c (line, '\n');
  return g_string_free (line, FALSE);
}

/* ------------------------------------------------------------------------ */
/* on_event                                                                 */

static char *
weft_log_format_jsonl (const WeftEvent *event)
{
  g_autofree char *json = weft_event_to_json (event);

  return g_strconcat (json, "\n", NULL);
}

static void
weft_log_on_event (gpointer instance, const WeftEvent *event)
{
  WeftLog *self = instance;
  g_autofree char *line = NULL;
  guint type = weft_event_get_event_type (event);

  /* A type newer than this plugin is logged only when all are. */
  if (!WEFT_EVENT_SET_HAS (self->events, type))
    return;

  line = self->jsonl ? weft_log_format_jsonl (event) : weft_log_format_text (self, event);
  if (self->out == NULL)
    {
      weft_terminal_write (line);
      return;
    }
  /* One fwrite per line: stdio locks the stream for the call, so loggers
   * sharing a file never cut into each other's lines; flushing per event
   * keeps the file current for whoever tails it. */
  fwrite (line, 1, strlen (line), self->out);
  fflush (self->out);
}

static void
weft_log_flush (gpointer instance)
{
  WeftLog *self = instance;

  if (self->out != NULL)
    fflush (self->out);
}

static const WeftCallbackClass weft_log_class = {
  .on_event = weft_log_on_event,
  .flush = weft_log_flush,
};

static const WeftPluginDescriptor weft_log_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_CALLBACK,
  .name = "log",
  .version = "0.1.0",
  .description = "Writes every event as a line of text or JSON to the terminal or a file",
  .options = weft_log_options,
  .options_size = sizeof (WeftLogOptions),
  .create = weft_log_create,
  .destroy = weft_log_destroy,
  .callback = &weft_log_class,
};

WEFT_PLUGIN_DEFINE (weft_log_descriptor)
