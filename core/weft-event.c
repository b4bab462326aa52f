/* weft-event.c — events and their one JSON form (docs/events.md). */
#include "weft-private.h"

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
};

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

WeftEvent *
weft_event_new (WeftEventType type, const char *run_id, const char *flow,
                const char *task, guint64 seq)
{
  WeftEvent *event = g_new0 (WeftEvent, 1);

  event->ref_count = 1;
  event->type = type;
  event->seq = seq;
  event->mono_us = g_get_monotonic_time ();
  event->wall_us = g_get_real_time ();
  event->run_id = g_strdup (run_id);
  event->flow = g_strdup (flow);
  event->task = g_strdup (task);
  return event;
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
  g_free (event->run_id);
  g_free (event->flow);
  g_free (event->task);
  g_free (event->output);
  g_free (event->error);
  g_free (event->step_kind);
  g_free (event->inputs);
  g_clear_pointer (&event->flow_source, g_bytes_unref);
  g_free (event);
}

WeftEventType weft_event_get_event_type (const WeftEvent *e) { return e->type; }
const char *weft_event_get_run_id (const WeftEvent *e) { return e->run_id; }
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

const char *
weft_event_get_flow_source (const WeftEvent *e)
{
  return e->flow_source ? g_bytes_get_data (e->flow_source, NULL) : NULL;
}

static char *
weft_format_wall_time (gint64 wall_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);

  if (t == NULL)
    return g_strdup ("");
  g_autofree char *base = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06dZ", base, (int) (wall_us % G_USEC_PER_SEC));
}

static gboolean
weft_event_has_duration (WeftEventType type)
{
  return type == WEFT_EVENT_TASK_COMPLETED || type == WEFT_EVENT_TASK_FAILED
      || type == WEFT_EVENT_RUN_COMPLETED || type == WEFT_EVENT_RUN_FAILED
      || type == WEFT_EVENT_RUN_CANCELLED;
}

char *
weft_event_to_json (const WeftEvent *e)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *time = weft_format_wall_time (e->wall_us);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, weft_event_type_to_string (e->type));
  json_builder_set_member_name (b, "seq");
  json_builder_add_int_value (b, (gint64) e->seq);
  json_builder_set_member_name (b, "run_id");
  json_builder_add_string_value (b, e->run_id);
  json_builder_set_member_name (b, "flow");
  json_builder_add_string_value (b, e->flow);
  if (e->task)
    {
      json_builder_set_member_name (b, "task");
      json_builder_add_string_value (b, e->task);
      json_builder_set_member_name (b, "attempt");
      json_builder_add_int_value (b, e->attempt);
    }
  json_builder_set_member_name (b, "time");
  json_builder_add_string_value (b, time);
  json_builder_set_member_name (b, "wall_us");
  json_builder_add_int_value (b, e->wall_us);
  json_builder_set_member_name (b, "mono_us");
  json_builder_add_int_value (b, e->mono_us);
  if (weft_event_has_duration (e->type))
    {
      json_builder_set_member_name (b, "duration_us");
      json_builder_add_int_value (b, e->duration_us);
    }
  if (e->step_kind)
    {
      json_builder_set_member_name (b, "step_kind");
      json_builder_add_string_value (b, e->step_kind);
    }
  if (e->output)
    {
      json_builder_set_member_name (b, "output");
      json_builder_add_string_value (b, e->output);
    }
  if (e->error)
    {
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, e->error);
    }
  if (e->inputs)
    {
      json_builder_set_member_name (b, "inputs");
      json_builder_add_value (b, json_from_string (e->inputs, NULL));
    }
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}
