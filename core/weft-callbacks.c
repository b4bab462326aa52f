/* weft-callbacks.c — one queue and one dispatcher thread per callback
 * instance, so that a slow callback delays nobody but itself, and each one
 * sees every event exactly once, in the order raised.
 *
 * Events go over in batches: the engine gathers what one of its
 * iterations raised and hands it over as one queue item.  Handing over
 * event by event woke a waiting dispatcher once per event, and those
 * wakeups cost a run with one idle callback six times its time. */
#include "weft-private.h"

struct _WeftCallbackInstance {
  WeftPlugin *plugin;
  WeftConfig *config;
  gpointer instance;
  GAsyncQueue *queue;         /* GPtrArray* batches of WeftEvent*, then the stop marker */
  GPtrArray *pending;         /* engine loop only: this iteration's events */
  GThread *thread;
};

/* Queued last by close(): everything before it is delivered. */
static GPtrArray weft_callback_stop_marker;

static gpointer
weft_callback_dispatch (gpointer data)
{
  WeftCallbackInstance *cb = data;
  const WeftCallbackClass *klass = cb->plugin->desc->callback;

  for (;;)
    {
      GPtrArray *batch = g_async_queue_pop (cb->queue);
      if (batch == &weft_callback_stop_marker)
        break;
      for (guint i = 0; i < batch->len; i++)
        klass->on_event (cb->instance, batch->pdata[i]);
      g_ptr_array_unref (batch);
      /* A busy run fills the queue faster than it drains: the plugin then
       * sees large batches between flushes, an idle one small ones. */
      if (klass->flush && g_async_queue_length (cb->queue) == 0)
        klass->flush (cb->instance);
    }
  if (klass->flush)
    klass->flush (cb->instance);
  return NULL;
}

WeftCallbackInstance *
weft_callback_instance_new (WeftPlugin *plugin, WeftConfig *config, GError **error)
{
  gpointer instance = weft_plugin_create (plugin, config, error);

  if (instance == NULL)
    {
      g_prefix_error (error, "callback \"%s\" (plugin %s): ",
                      weft_config_get_instance_name (config), plugin->desc->name);
      weft_config_free (config);
      return NULL;
    }

  WeftCallbackInstance *cb = g_new0 (WeftCallbackInstance, 1);
  cb->plugin = plugin;
  cb->config = config;
  cb->instance = instance;
  cb->queue = g_async_queue_new ();
  g_autofree char *thread_name = g_strdup_printf ("weft-cb-%s", plugin->desc->name);
  cb->thread = g_thread_new (thread_name, weft_callback_dispatch, cb);
  return cb;
}

const char *
weft_callback_instance_get_name (WeftCallbackInstance *cb)
{
  return weft_config_get_instance_name (cb->config);
}

WeftPlugin *
weft_callback_instance_get_plugin (WeftCallbackInstance *cb)
{
  return cb->plugin;
}

gpointer
weft_callback_instance_get_instance (WeftCallbackInstance *cb)
{
  return cb->instance;
}

gboolean
weft_callback_instance_push (WeftCallbackInstance *cb, WeftEvent *event)
{
  gboolean first = cb->pending == NULL;

  if (first)
    cb->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_event_unref);
  g_ptr_array_add (cb->pending, weft_event_ref (event));
  return first;
}

void
weft_callback_instance_deliver (WeftCallbackInstance *cb)
{
  if (cb->pending)
    g_async_queue_push (cb->queue, g_steal_pointer (&cb->pending));
}

void
weft_callback_instance_close (WeftCallbackInstance *cb)
{
  if (cb == NULL)
    return;
  weft_callback_instance_deliver (cb);
  g_async_queue_push (cb->queue, &weft_callback_stop_marker);
  g_thread_join (cb->thread);
  cb->plugin->desc->destroy (cb->instance);
  g_async_queue_unref (cb->queue);
  weft_config_free (cb->config);
  g_free (cb);
}
