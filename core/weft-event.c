/* weft-event.c — events and their one JSON form (docs/events.md).
 *
 * An event is immutable once made and reference-counted: the bus hands
 * the same one to every callback queue and listener.  Its strings live in
 * the same allocation as the event itself. */
#include "weft-private.h"

#include <string.h>
#include <time.h>

struct _WeftEvent {
  gint ref_count;
  WeftEventType type;
  guint attempt;
  guint64 seq;
  gint64 mono_us;
  gint64 wall_us;
  gint64 duration_us;
  const char *run_id;         /* these point into the event's own allocation */
  const char *thread_id;      /* thread.* events, instead of run_id */
  const char *flow;
  const char *task;
  const char *output;
  const char *error;
  const char *step_kind;
  const char *inputs;         /* run.started / run.resumed */
  GBytes *flow_source;        /* run.started / run.resumed; NUL-terminated */
  WeftUsage usage;            /* an attempt's end; reported == FALSE: none */
};

static const char *const weft_event_names[] = {
  [WEFT_EVENT_RUN_STARTED] = "run.started",
  [WEFT_EVENT_TASK_STARTED] = "task.started",
  [WEFT_EVENT_TASK_STEP] = "task.step",
  [WEFT_EVENT_TASK_COMPLETED] = "task.completed",
  [WEFT_EVENT_TASK_FAILED] = "task.failed",
  [WEFT_EVENT_TASK_RETRYING] = "task.retrying",
  [WEFT_EVENT_TASK_SKIPPED] = "task.skipped",
  [WEFT_EVENT_RUN_COMPLETED] = "run.completed",
  [WEFT_EVENT_RUN_FAILED] = "run.failed",
  [WEFT_EVENT_RUN_CANCELLED] = "run.cancelled",
  [WEFT_EVENT_RUN_RESUMED] = "run.resumed",
  [WEFT_EVENT_TASK_CANCELLED] = "task.cancelled",
  [WEFT_EVENT_THREAD_CREATED] = "thread.created",
  [WEFT_EVENT_THREAD_MESSAGE] = "thread.message",
  [WEFT_EVENT_THREAD_TURN_STARTED] = "thread.turn_started",
  [WEFT_EVENT_THREAD_STEP] = "thread.step",
  [WEFT_EVENT_THREAD_TURN_FINISHED] = "thread.turn_finished",
  [WEFT_EVENT_THREAD_TASK_STARTED] = "thread.task_started",
  [WEFT_EVENT_THREAD_TASK_FINISHED] = "thread.task_finished",
  [WEFT_EVENT_THREAD_DELETED] = "thread.deleted",
};

G_STATIC_ASSERT (G_N_ELEMENTS (weft_event_names) <= 32);   /* a WeftEventSet holds them */

const char *
weft_event_type_to_string (WeftEventType type)
{
  if ((guint) type >= G_N_ELEMENTS (weft_event_names))
    return "unknown";
  return weft_event_names[type];
}

gboolean
weft_event_type_from_string (const char *name, WeftEventType *type)
{
  for (guint i = 0; i < G_N_ELEMENTS (weft_event_names); i++)
    if (g_strcmp0 (weft_event_names[i], name) == 0)
      {
        if (type)
          *type = (WeftEventType) i;
        return TRUE;
      }
  return FALSE;
}

static const char *
weft_event_pack (char **cursor, const char *text)
{
  if (text == NULL)
    return NULL;
  char *start = *cursor;
  gsize len = strlen (text) + 1;
  memcpy (start, text, len);
  *cursor += len;
  return start;
}

/* Wall time from monotonic time, with the offset between the two clocks
 * read again once it is 100 ms old (per thread) rather than both clocks
 * every time: a busy run with a store raises hundreds of thousands of
 * events, and each clock read costs ~30 ns.  A step of the system clock
 * shows in the next refresh. */
gint64
weft_mono_to_wall_us (gint64 mono_us)
{
  static _Thread_local gint64 offset, read_at;

  if (mono_us == 0)
    return 0;
  if (read_at == 0 || ABS (mono_us - read_at) > 100 * G_TIME_SPAN_MILLISECOND)
    {
      read_at = g_get_monotonic_time ();
      offset = g_get_real_time () - read_at;
    }
  return mono_us + offset;
}

WeftEvent *
weft_event_new (const WeftEventFields *f)
{
  const char *texts[] = {
    f->run_id, f->thread_id, f->flow, f->task, f->output, f->error, f->step_kind, f->inputs,
  };
  gsize size = sizeof (WeftEvent);

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    size += texts[i] ? strlen (texts[i]) + 1 : 0;
  WeftEvent *event = g_malloc0 (size);
  char *cursor = (char *) (event + 1);

  event->ref_count = 1;
  event->type = f->type;
  event->seq = f->seq;
  event->attempt = f->attempt;
  event->duration_us = f->duration_us;
  event->mono_us = f->mono_us ? f->mono_us : g_get_monotonic_time ();
  event->wall_us = weft_mono_to_wall_us (event->mono_us);
  event->run_id = weft_event_pack (&cursor, f->run_id);
  event->thread_id = weft_event_pack (&cursor, f->thread_id);
  event->flow = weft_event_pack (&cursor, f->flow);
  event->task = weft_event_pack (&cursor, f->task);
  event->output = weft_event_pack (&cursor, f->output);
  event->error = weft_event_pack (&cursor, f->error);
  event->step_kind = weft_event_pack (&cursor, f->step_kind);
  event->inputs = weft_event_pack (&cursor, f->inputs);
  event->flow_source = f->flow_source ? g_bytes_ref (f->flow_source) : NULL;
  if (f->usage != NULL)
    event->usage = *f->usage;
  return event;
}

static char *
weft_event_names_joined (void)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (weft_event_names); i++)
    g_string_append_printf (out, "%s%s", i ? ", " : "", weft_event_names[i]);
  return g_string_free (out, FALSE);
}

gboolean
weft_event_set_parse (const char * const *names, const char *option, WeftEventSet *set,
                      GError **error)
{
  WeftEventSet parsed = 0;

  if (names == NULL)
    {
      *set = WEFT_EVENT_SET_ALL;
      return TRUE;
    }
  for (guint i = 0; names[i]; i++)
    {
      WeftEventType type;
      if (!weft_event_type_from_string (names[i], &type))
        {
          g_autofree char *valid = weft_event_names_joined ();
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"%s\": unknown event type \"%s\" (valid: %s)",
                       option, names[i], valid);
          return FALSE;
        }
      parsed |= (WeftEventSet) 1u << type;
    }
  if (parsed == 0)
    {
      g_autofree char *valid = weft_event_names_joined ();
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"%s\": must name at least one event type (%s)", option, valid);
      return FALSE;
    }
  *set = parsed;
  return TRUE;
}

WeftEvent *
weft_event_ref (WeftEvent *event)
{
  g_atomic_int_inc (&event->ref_count);
  return event;
}

void
weft_event_unref (WeftEvent *event)
{
  if (!g_atomic_int_dec_and_test (&event->ref_count))
    return;
  g_clear_pointer (&event->flow_source, g_bytes_unref);
  g_free (event);
}

WeftEventType weft_event_get_event_type (const WeftEvent *e) { return e->type; }
const char *weft_event_get_run_id (const WeftEvent *e) { return e->run_id; }
const char *weft_event_get_thread_id (const WeftEvent *e) { return e->thread_id; }
const char *weft_event_get_flow_name (const WeftEvent *e) { return e->flow; }
const char *weft_event_get_task_name (const WeftEvent *e) { return e->task; }
guint64 weft_event_get_seq (const WeftEvent *e) { return e->seq; }
gint64 weft_event_get_mono_us (const WeftEvent *e) { return e->mono_us; }
gint64 weft_event_get_wall_us (const WeftEvent *e) { return e->wall_us; }
guint weft_event_get_attempt (const WeftEvent *e) { return e->attempt; }
const char *weft_event_get_output (const WeftEvent *e) { return e->output; }
const char *weft_event_get_step_kind (const WeftEvent *e) { return e->step_kind; }
const char *weft_event_get_error (const WeftEvent *e) { return e->error; }
gint64 weft_event_get_duration_us (const WeftEvent *e) { return e->duration_us; }
const char *weft_event_get_inputs (const WeftEvent *e) { return e->inputs; }

gint64
weft_event_get_prompt_tokens (const WeftEvent *e)
{
  return e->usage.reported ? e->usage.prompt_tokens : -1;
}

gint64
weft_event_get_completion_tokens (const WeftEvent *e)
{
  return e->usage.reported ? e->usage.completion_tokens : -1;
}

double
weft_event_get_cost (const WeftEvent *e)
{
  return e->usage.priced ? e->usage.cost : -1;
}

const char *
weft_event_get_flow_source (const WeftEvent *e)
{
  return e->flow_source ? g_bytes_get_data (e->flow_source, NULL) : NULL;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Written by hand rather than through JsonBuilder and GDateTime, which
 * cost about 13 µs an event: a store writes every one.  Pieces go through
 * a buffer on the stack, and from there to `out` a few hundred bytes at a
 * time: appending each piece to the GString cost another 1 µs an event
 * (about 60 calls). */

typedef struct {
  GString *out;
  gsize len;
  char buf[512];
} WeftJsonWriter;

static void
weft_json_flush (WeftJsonWriter *w)
{
  g_string_append_len (w->out, w->buf, (gssize) w->len);
  w->len = 0;
}

static inline void
weft_json_put (WeftJsonWriter *w, const char *text, gsize len)
{
  if (w->len + len > sizeof w->buf)
    {
      weft_json_flush (w);
      if (len > sizeof w->buf)
        {
          g_string_append_len (w->out, text, (gssize) len);
          return;
        }
    }
  memcpy (w->buf + w->len, text, len);
  w->len += len;
}

#define weft_json_put_literal(w, literal) weft_json_put ((w), (literal), sizeof (literal) - 1)

static void
weft_json_put_string (WeftJsonWriter *w, const char *text)
{
  static const char hex[] = "0123456789abcdef";
  const char *run = text;
  const char *p = text;

  weft_json_put_literal (w, "\"");
  for (; *p; p++)
    {
      guchar c = (guchar) *p;
      if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
        continue;
      weft_json_put (w, run, (gsize) (p - run));
      run = p + 1;
      switch (c)
        {
        case '"': weft_json_put_literal (w, "\\\""); break;
        case '\\': weft_json_put_literal (w, "\\\\"); break;
        case '\b': weft_json_put_literal (w, "\\b"); break;
        case '\f': weft_json_put_literal (w, "\\f"); break;
        case '\n': weft_json_put_literal (w, "\\n"); break;
        case '\r': weft_json_put_literal (w, "\\r"); break;
        case '\t': weft_json_put_literal (w, "\\t"); break;
        default:
          {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
            weft_json_put (w, u, sizeof u);
          }
        }
    }
  weft_json_put (w, run, (gsize) (p - run));
  weft_json_put_literal (w, "\"");
}

/* `,"name":` */
static void
weft_json_put_name (WeftJsonWriter *w, const char *name)
{
  weft_json_put_literal (w, ",\"");
  weft_json_put (w, name, strlen (name));
  weft_json_put_literal (w, "\":");
}

/* Decimal digits, at least `width` of them, without printf. */
static void
weft_json_put_digits (WeftJsonWriter *w, guint64 value, guint width)
{
  char buf[24];
  guint n = 0;

  do
    {
      buf[sizeof buf - 1 - n++] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value > 0 || n < width);
  weft_json_put (w, buf + sizeof buf - n, n);
}

static void
weft_json_put_int (WeftJsonWriter *w, const char *name, gint64 value)
{
  weft_json_put_name (w, name);
  if (value < 0)
    weft_json_put_literal (w, "-");
  weft_json_put_digits (w, value < 0 ? 0 - (guint64) value : (guint64) value, 1);
}

/* "2026-11-22T03:48:17.123456Z"; the date part is formatted once a second
 * per thread. */
static void
weft_json_put_time (WeftJsonWriter *w, gint64 wall_us)
{
  static _Thread_local gint64 cached_second = -1;
  static _Thread_local char prefix[32];
  static _Thread_local gsize prefix_len;
  gint64 second = wall_us / G_USEC_PER_SEC;

  if (second != cached_second)
    {
      time_t t = (time_t) second;
      struct tm tm;
      if (gmtime_r (&t, &tm) == NULL
          || strftime (prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        prefix[0] = '\0';
      prefix_len = strlen (prefix);
      cached_second = second;
    }
  weft_json_put_literal (w, ",\"time\":\"");
  weft_json_put (w, prefix, prefix_len);
  weft_json_put_literal (w, ".");
  weft_json_put_digits (w, (guint64) (wall_us % G_USEC_PER_SEC), 6);
  weft_json_put_literal (w, "Z\"");
}

/* `,"usage":{...}`, the members weft_usage_to_json() gives. */
static void
weft_json_put_usage (WeftJsonWriter *w, const WeftUsage *u)
{
  char cost[G_ASCII_DTOSTR_BUF_SIZE];

  weft_json_put_literal (w, ",\"usage\":{\"prompt_tokens\":");
  weft_json_put_digits (w, (guint64) u->prompt_tokens, 1);
  weft_json_put_literal (w, ",\"completion_tokens\":");
  weft_json_put_digits (w, (guint64) u->completion_tokens, 1);
  weft_json_put_literal (w, ",\"total_tokens\":");
  weft_json_put_digits (w, (guint64) (u->prompt_tokens + u->completion_tokens), 1);
  weft_json_put_literal (w, ",\"cost\":");
  if (u->priced)
    {
      /* As json-glib writes a double, so that both JSON shapes agree. */
      g_ascii_formatd (cost, sizeof cost, "%.17g", u->cost);
      weft_json_put (w, cost, strlen (cost));
    }
  else
    weft_json_put_literal (w, "null");
  weft_json_put_literal (w, "}");
}

static gboolean
weft_event_has_duration (WeftEventType type)
{
  return type == WEFT_EVENT_TASK_COMPLETED || type == WEFT_EVENT_TASK_FAILED
      || type == WEFT_EVENT_TASK_CANCELLED || type == WEFT_EVENT_RUN_COMPLETED
      || type == WEFT_EVENT_RUN_FAILED || type == WEFT_EVENT_RUN_CANCELLED
      || type == WEFT_EVENT_THREAD_TURN_FINISHED || type == WEFT_EVENT_THREAD_TASK_FINISHED;
}

void
weft_event_append_json (const WeftEvent *e, GString *out)
{
  WeftJsonWriter w = { .out = out };

  weft_json_put_literal (&w, "{\"type\":");
  weft_json_put_string (&w, weft_event_type_to_string (e->type));
  weft_json_put_int (&w, "seq", (gint64) e->seq);
  if (e->thread_id)
    {
      weft_json_put_name (&w, "thread_id");
      weft_json_put_string (&w, e->thread_id);
    }
  else
    {
      weft_json_put_name (&w, "run_id");
      weft_json_put_string (&w, e->run_id);
    }
  weft_json_put_name (&w, "flow");
  weft_json_put_string (&w, e->flow);
  if (e->thread_id && e->attempt > 0)
    weft_json_put_int (&w, "turn", e->attempt);
  if (e->task)
    {
      weft_json_put_name (&w, "task");
      weft_json_put_string (&w, e->task);
      weft_json_put_int (&w, "attempt", e->attempt);
    }
  weft_json_put_time (&w, e->wall_us);
  weft_json_put_int (&w, "wall_us", e->wall_us);
  weft_json_put_int (&w, "mono_us", e->mono_us);
  if (weft_event_has_duration (e->type))
    weft_json_put_int (&w, "duration_us", e->duration_us);
  const char *names[] = { "step_kind", "output", "error" };
  const char *values[] = { e->step_kind, e->output, e->error };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (values[i])
      {
        weft_json_put_name (&w, names[i]);
        weft_json_put_string (&w, values[i]);
      }
  if (e->inputs)
    {
      /* Already compact JSON, made by json-glib from the run's inputs. */
      weft_json_put_name (&w, "inputs");
      weft_json_put (&w, e->inputs, strlen (e->inputs));
    }
  if (e->usage.reported)
    weft_json_put_usage (&w, &e->usage);
  weft_json_put_literal (&w, "}");
  weft_json_flush (&w);
}

char *
weft_event_to_json (const WeftEvent *e)
{
  GString *out = g_string_sized_new (256);

  weft_event_append_json (e, out);
  return g_string_free (out, FALSE);
}
