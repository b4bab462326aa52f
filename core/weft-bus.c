/* weft-bus.c — the engine loop's bus: the inbox every thread posts to, and
 * the way events go from the loop to callbacks and listeners.
 *
 * After GStreamer's gstbus.c, the bus routes what it carries and never
 * interprets it.  A message brings its own handler, which the bus calls
 * on the loop.  An event is pushed, by reference, into the batch of each
 * callback queue it is for, and listeners are called with it at once.
 *
 * Batches are handed over at the end of the loop iteration that filled
 * them, by construction: the inbox hands them over after each batch of
 * messages it handles, and a flush source, ready whenever a batch or a
 * message-after-flush waits, does it for whatever else ran on the loop
 * (a timer, an I/O callback).  Nobody calls a flush.  Messages posted to
 * run after the flush (a finished run going back to its caller) are
 * handled once every event raised before them is with the callbacks.
 *
 * One batch per queue per iteration, not one hand-over per event: waking
 * an idle callback thread once per event made a 100,000-task run with a
 * callback that did nothing six times slower. */
#include "weft-private.h"

typedef struct {
  guint id;
  WeftEventFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} WeftListener;

struct _WeftBus {
  GMainContext *context;
  GThread *loop_thread;       /* set before the loop runs, then read-only */

  GAsyncQueue *inbox;         /* WeftMsg*, from any thread */
  GSource *inbox_source;
  gint wakeup_pending;

  GSource *flush_source;
  GPtrArray *pending;         /* WeftBusQueue* with a batch (a reference); loop only */
  GQueue after_flush;         /* WeftMsg*; loop only */

  GMutex lock;                /* guards the listeners */
  GArray *listeners;          /* WeftListener */
  guint next_listener_id;
  gint n_listeners;           /* atomic mirror of listeners->len */
};

struct _WeftBusQueue {
  gint ref_count;
  GAsyncQueue *batches;       /* GPtrArray* of WeftEvent*, then the stop marker */
  GPtrArray *batch;           /* loop only: this iteration's events */
};

typedef struct {
  GSource source;
  WeftBus *bus;
} WeftBusSource;

/* Queued last by close(): everything before it is read. */
static GPtrArray weft_bus_stop_marker;

/* ---- the end of an iteration ------------------------------------------- */

/* Hands each batch gathered to its queue, then handles what waited for
 * that.  A message handled here may raise events or post more: the events
 * go at the next iteration's flush, the messages in this one. */
static void
weft_bus_flush (WeftBus *bus)
{
  WeftMsg *msg;

  for (guint i = 0; i < bus->pending->len; i++)
    {
      WeftBusQueue *queue = bus->pending->pdata[i];
      if (queue->batch)
        g_async_queue_push (queue->batches, g_steal_pointer (&queue->batch));
      weft_bus_queue_unref (queue);
    }
  g_ptr_array_set_size (bus->pending, 0);
  while ((msg = g_queue_pop_head (&bus->after_flush)))
    msg->handle (msg);
}

static gboolean
weft_bus_has_work (WeftBus *bus)
{
  return bus->pending->len > 0 || bus->after_flush.length > 0;
}

static gboolean
weft_bus_flush_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return weft_bus_has_work (((WeftBusSource *) source)->bus);
}

static gboolean
weft_bus_flush_check (GSource *source)
{
  return weft_bus_has_work (((WeftBusSource *) source)->bus);
}

static gboolean
weft_bus_flush_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  weft_bus_flush (((WeftBusSource *) source)->bus);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs weft_bus_flush_funcs = {
  .prepare = weft_bus_flush_prepare,
  .check = weft_bus_flush_check,
  .dispatch = weft_bus_flush_dispatch,
};

/* ---- the inbox ------------------------------------------------------------ */

static gboolean
weft_bus_inbox_prepare (GSource *source, gint *timeout)
{
  WeftBus *bus = ((WeftBusSource *) source)->bus;

  *timeout = -1;
  /* Cleared before looking, every iteration, ahead of the poll: a post
   * after this point finds it clear and wakes the loop; a post before it
   * is seen below.  Clearing it in dispatch instead would lose a wakeup
   * when a post lands during a dispatch that drains the inbox. */
  g_atomic_int_set (&bus->wakeup_pending, 0);
  return g_async_queue_length (bus->inbox) > 0;
}

static gboolean
weft_bus_inbox_check (GSource *source)
{
  return g_async_queue_length (((WeftBusSource *) source)->bus->inbox) > 0;
}

static gboolean
weft_bus_inbox_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  WeftBus *bus = ((WeftBusSource *) source)->bus;
  WeftMsg *msg;
  guint budget = 4096;

  /* A bounded batch, so that other sources on the loop (HTTP, timers) are
   * never starved by a flood of completions. */
  while (budget-- > 0 && (msg = g_async_queue_try_pop (bus->inbox)))
    msg->handle (msg);
  weft_bus_flush (bus);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs weft_bus_inbox_funcs = {
  .prepare = weft_bus_inbox_prepare,
  .check = weft_bus_inbox_check,
  .dispatch = weft_bus_inbox_dispatch,
};

void
weft_bus_post (WeftBus *bus, WeftMsg *msg)
{
  g_async_queue_push (bus->inbox, msg);
  if (g_thread_self () != bus->loop_thread
      && g_atomic_int_compare_and_exchange (&bus->wakeup_pending, 0, 1))
    g_main_context_wakeup (bus->context);
}

void
weft_bus_post_after_flush (WeftBus *bus, WeftMsg *msg)
{
  g_queue_push_tail (&bus->after_flush, msg);
}

/* ---- life ------------------------------------------------------------------ */

static GSource *
weft_bus_source_new (WeftBus *bus, GSourceFuncs *funcs, const char *name)
{
  GSource *source = g_source_new (funcs, sizeof (WeftBusSource));

  ((WeftBusSource *) source)->bus = bus;
  g_source_set_name (source, name);
  g_source_attach (source, bus->context);
  return source;
}

WeftBus *
weft_bus_new (GMainContext *context)
{
  WeftBus *bus = g_new0 (WeftBus, 1);

  bus->context = g_main_context_ref (context);
  bus->inbox = g_async_queue_new ();
  bus->pending = g_ptr_array_new ();
  g_mutex_init (&bus->lock);
  bus->listeners = g_array_new (FALSE, FALSE, sizeof (WeftListener));
  bus->inbox_source = weft_bus_source_new (bus, &weft_bus_inbox_funcs, "weft inbox");
  bus->flush_source = weft_bus_source_new (bus, &weft_bus_flush_funcs, "weft bus flush");
  return bus;
}

void
weft_bus_set_loop_thread (WeftBus *bus, GThread *thread)
{
  bus->loop_thread = thread;
}

static void
weft_bus_free_listener (WeftListener *l)
{
  if (l->destroy)
    l->destroy (l->user_data);
}

static void
weft_bus_destroy_source (GSource **source)
{
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

void
weft_bus_free (WeftBus *bus)
{
  WeftMsg *msg;

  /* Runs and flows hold the engine, so only a late request to shut down
   * can still be queued; events and finished runs cannot. */
  while ((msg = g_async_queue_try_pop (bus->inbox)))
    msg->handle (msg);
  g_warn_if_fail (!weft_bus_has_work (bus));
  weft_bus_destroy_source (&bus->inbox_source);
  weft_bus_destroy_source (&bus->flush_source);
  g_async_queue_unref (bus->inbox);
  g_ptr_array_unref (bus->pending);
  for (guint i = 0; i < bus->listeners->len; i++)
    weft_bus_free_listener (&g_array_index (bus->listeners, WeftListener, i));
  g_array_unref (bus->listeners);
  g_mutex_clear (&bus->lock);
  g_main_context_unref (bus->context);
  g_free (bus);
}

/* ---- events ------------------------------------------------------------------ */

void
weft_bus_push (WeftBus *bus, WeftBusQueue *queue, WeftEvent *event)
{
  if (queue->batch == NULL)
    {
      queue->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_event_unref);
      g_ptr_array_add (bus->pending, weft_bus_queue_ref (queue));
    }
  g_ptr_array_add (queue->batch, weft_event_ref (event));
}

gboolean
weft_bus_has_listeners (WeftBus *bus)
{
  return g_atomic_int_get (&bus->n_listeners) > 0;
}

void
weft_bus_notify (WeftBus *bus, const WeftEvent *event)
{
  /* Listeners are called with the lock held: removing one from another
   * thread waits until it is no longer being called. */
  g_mutex_lock (&bus->lock);
  for (guint i = 0; i < bus->listeners->len; i++)
    {
      WeftListener *l = &g_array_index (bus->listeners, WeftListener, i);
      l->func (event, l->user_data);
    }
  g_mutex_unlock (&bus->lock);
}

guint
weft_bus_add_listener (WeftBus *bus, WeftEventFunc func, gpointer user_data,
                       GDestroyNotify destroy)
{
  WeftListener l = { 0, func, user_data, destroy };

  g_mutex_lock (&bus->lock);
  l.id = ++bus->next_listener_id;
  g_array_append_val (bus->listeners, l);
  g_atomic_int_set (&bus->n_listeners, (gint) bus->listeners->len);
  g_mutex_unlock (&bus->lock);
  return l.id;
}

void
weft_bus_remove_listener (WeftBus *bus, guint id)
{
  WeftListener removed = { 0 };

  g_mutex_lock (&bus->lock);
  for (guint i = 0; i < bus->listeners->len; i++)
    if (g_array_index (bus->listeners, WeftListener, i).id == id)
      {
        removed = g_array_index (bus->listeners, WeftListener, i);
        g_array_remove_index (bus->listeners, i);
        break;
      }
  g_atomic_int_set (&bus->n_listeners, (gint) bus->listeners->len);
  g_mutex_unlock (&bus->lock);
  if (removed.id)
    weft_bus_free_listener (&removed);
}

/* ---- callback queues ------------------------------------------------------------ */

WeftBusQueue *
weft_bus_queue_new (void)
{
  WeftBusQueue *queue = g_new0 (WeftBusQueue, 1);

  queue->ref_count = 1;
  queue->batches = g_async_queue_new ();
  return queue;
}

/* The bus holds one while the queue has a batch this iteration, so that
 * a queue is never freed under a flush. */
WeftBusQueue *
weft_bus_queue_ref (WeftBusQueue *queue)
{
  g_atomic_int_inc (&queue->ref_count);
  return queue;
}

void
weft_bus_queue_unref (WeftBusQueue *queue)
{
  if (queue == NULL || !g_atomic_int_dec_and_test (&queue->ref_count))
    return;
  g_warn_if_fail (queue->batch == NULL);
  g_async_queue_unref (queue->batches);
  g_free (queue);
}

GPtrArray *
weft_bus_queue_pop (WeftBusQueue *queue)
{
  GPtrArray *batch = g_async_queue_pop (queue->batches);

  return batch == &weft_bus_stop_marker ? NULL : batch;
}

gboolean
weft_bus_queue_is_idle (WeftBusQueue *queue)
{
  return g_async_queue_length (queue->batches) == 0;
}

void
weft_bus_queue_close (WeftBusQueue *queue)
{
  /* No run can push any more (the flow that owns the queue is going), and
   * its last events went with their iteration's flush; a batch left here
   * is one nothing else will hand over. */
  if (queue->batch)
    g_async_queue_push (queue->batches, g_steal_pointer (&queue->batch));
  g_async_queue_push (queue->batches, &weft_bus_stop_marker);
}
