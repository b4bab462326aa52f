/* weft-test-threads.h — what the thread tests share: the thread.* events
 * an engine raised, kept with their times, and waits on them. */
#pragma once

#include "weft-test.h"

typedef struct {
  GMutex lock;
  GCond cond;
  GPtrArray *events;          /* ThreadEvent*, in the order raised */
  WeftEngine *engine;
  guint listener;
} ThreadEvents;

typedef struct {
  WeftEventType type;
  char *thread_id;
  guint turn;
  char *output;
  char *error;
  char *step_kind;
  gint64 mono_us;
  gint64 duration_us;
} ThreadEvent;

static inline void
thread_event_free (ThreadEvent *e)
{
  g_free (e->thread_id);
  g_free (e->output);
  g_free (e->error);
  g_free (e->step_kind);
  g_free (e);
}

static inline void
thread_events_collect (const WeftEvent *event, gpointer data)
{
  ThreadEvents *te = data;

  if (weft_event_get_thread_id (event) == NULL)
    return;
  ThreadEvent *e = g_new0 (ThreadEvent, 1);
  e->type = weft_event_get_event_type (event);
  e->thread_id = g_strdup (weft_event_get_thread_id (event));
  e->turn = weft_event_get_attempt (event);
  e->output = g_strdup (weft_event_get_output (event));
  e->error = g_strdup (weft_event_get_error (event));
  e->step_kind = g_strdup (weft_event_get_step_kind (event));
  e->mono_us = weft_event_get_mono_us (event);
  e->duration_us = weft_event_get_duration_us (event);
  g_mutex_lock (&te->lock);
  g_ptr_array_add (te->events, e);
  g_cond_broadcast (&te->cond);
  g_mutex_unlock (&te->lock);
}

static inline ThreadEvents *
thread_events_new (WeftEngine *engine)
{
  ThreadEvents *te = g_new0 (ThreadEvents, 1);

  g_mutex_init (&te->lock);
  g_cond_init (&te->cond);
  te->events = g_ptr_array_new_with_free_func ((GDestroyNotify) thread_event_free);
  te->engine = engine;
  te->listener = weft_engine_add_listener (engine, thread_events_collect, te, NULL);
  return te;
}

/* Before the engine's last reference goes. */
static inline void
thread_events_free (ThreadEvents *te)
{
  weft_engine_remove_listener (te->engine, te->listener);
  g_ptr_array_unref (te->events);
  g_mutex_clear (&te->lock);
  g_cond_clear (&te->cond);
  g_free (te);
}

/* Lock held: how many events of `type` (of thread `id`, or any) whose
 * output contains `needle` (or any). */
static inline guint
thread_events_count_locked (ThreadEvents *te, const char *id, WeftEventType type,
                            const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < te->events->len; i++)
    {
      ThreadEvent *e = te->events->pdata[i];
      if (e->type == type && (id == NULL || g_str_equal (e->thread_id, id))
          && (needle == NULL || (e->output && strstr (e->output, needle))))
        n++;
    }
  return n;
}

/* Waits (up to `timeout_s`) for `count` such events; fails the test on
 * time out.  Returns the time of the count-th, monotonic µs. */
static inline gint64
thread_events_wait (ThreadEvents *te, const char *id, WeftEventType type, const char *needle,
                    guint count, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  gint64 when = 0;

  g_mutex_lock (&te->lock);
  while (thread_events_count_locked (te, id, type, needle) < count)
    if (!g_cond_wait_until (&te->cond, &te->lock, deadline))
      {
        g_mutex_unlock (&te->lock);
        g_error ("waited %.1f s for %u %s events%s%s", timeout_s, count,
                 weft_event_type_to_string (type), needle ? " with " : "", needle ? needle : "");
      }
  guint seen = 0;
  for (guint i = 0; i < te->events->len; i++)
    {
      ThreadEvent *e = te->events->pdata[i];
      if (e->type == type && (id == NULL || g_str_equal (e->thread_id, id))
          && (needle == NULL || (e->output && strstr (e->output, needle))) && ++seen == count)
        when = e->mono_us;
    }
  g_mutex_unlock (&te->lock);
  return when;
}

/* The messages of the thread's history: "ROLE: CONTENT" each. */
static inline GPtrArray *
thread_history (WeftThread *thread)
{
  g_autoptr(JsonNode) node = weft_thread_to_json (thread);
  JsonArray *messages = json_object_get_array_member (json_node_get_object (node), "messages");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *m = json_array_get_object_element (messages, i);
      const char *content = json_object_get_string_member_with_default (m, "content", NULL);
      g_ptr_array_add (out, g_strdup_printf ("%s: %s", json_object_get_string_member (m, "role"),
                                             content ? content : "(calls)"));
    }
  return out;
}

/* A JSON object from text the test wrote. */
static inline JsonObject *
thread_test_object (const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);

  g_assert_nonnull (node);
  return json_object_ref (json_node_get_object (node));
}

/* Posts a user message that must be taken. */
static inline void
thread_post (WeftThread *thread, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (weft_thread_post (thread, text, &error), >, 0);
  g_assert_no_error (error);
}

/* A thread of `flow` with `settings` (JSON text, or NULL) that must be made. */
static inline WeftThread *
thread_test_new (WeftFlow *flow, const char *settings)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) s = settings ? thread_test_object (settings) : NULL;
  WeftThread *thread = weft_thread_new (flow, s, &error);

  g_assert_no_error (error);
  g_assert_nonnull (thread);
  return thread;
}
