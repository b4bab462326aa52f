/* weft-callbacks.c — one queue and one dispatcher thread per callback
 * instance, so that a slow callback delays nobody but itself, and each one
 * sees every event exactly once, in the order raised. */
#include "weft-private.h"

struct _WeftCallbackInstance {
  WeftPlugin *plugin;
  WeftConfig *config;
  gpointer instance;
  GAsyncQueue *queue;         /* WeftEvent*, then the stop marker */
  GThread *thread;
};

/* Queued last by close(): everything before it is delivered. */
static WeftEvent weft_callback_stop_marker;

static gpointer
weft_callback_dispatch (gpointer data)
{
  WeftCallbackInstance *cb = data;
  const WeftCallbackClass *klass = cb->plugin->desc->callback;

  for (;;)
    {
      WeftEvent *event = g_async_queue_pop (cb->queue);
      if (event == &weft_callback_stop_marker)
        break;
      klass->on_event (cb->instance, event);
      weft_event_unref (event);
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
  gpointer instance = plugin->desc->create (config, error);

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

void
weft_callback_instance_push (WeftCallbackInstance *cb, WeftEvent *event)
{
  g_async_queue_push (cb->queue, weft_event_ref (event));
}

void
weft_callback_instance_close (WeftCallbackInstance *cb)
{
  if (cb == NULL)
    return;
  g_async_queue_push (cb->queue, &weft_callback_stop_marker);
  g_thread_join (cb->thread);
  cb->plugin->desc->destroy (cb->instance);
  g_async_queue_unref (cb->queue);
  weft_config_free (cb->config);
  g_free (cb);
}
