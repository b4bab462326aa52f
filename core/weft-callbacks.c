/* weft-callbacks.c — one dispatcher thread per callback instance, reading
 * its own queue on the bus, so that a slow callback delays nobody but
 * itself, and each one sees every event exactly once, in the order raised.
 *
 * The queue is the bus's (weft-bus.c): it gathers what one iteration of
 * the engine loop raised for this instance and hands it over as one
 * batch. */
#include "weft-private.h"

struct _WeftCallbackInstance {
  WeftPlugin *plugin;
  WeftConfig *config;
  gpointer instance;
  WeftBusQueue *queue;
  GThread *thread;
};

static gpointer
weft_callback_dispatch (gpointer data)
{
  WeftCallbackInstance *cb = data;
  const WeftCallbackClass *klass = cb->plugin->desc->callback;
  GPtrArray *batch;

  while ((batch = weft_bus_queue_pop (cb->queue)))
    {
      for (guint i = 0; i < batch->len; i++)
        klass->on_event (cb->instance, batch->pdata[i]);
      g_ptr_array_unref (batch);
      /* A busy run fills the queue faster than it drains: the plugin then
       * sees large batches between flushes, an idle one small ones. */
      if (klass->flush && weft_bus_queue_is_idle (cb->queue))
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
  cb->queue = weft_bus_queue_new ();
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

WeftBusQueue *
weft_callback_instance_get_queue (WeftCallbackInstance *cb)
{
  return cb->queue;
}

void
weft_callback_instance_close (WeftCallbackInstance *cb)
{
  if (cb == NULL)
    return;
  weft_bus_queue_close (cb->queue);
  g_thread_join (cb->thread);
  cb->plugin->desc->destroy (cb->instance);
  weft_bus_queue_unref (cb->queue);
  weft_config_free (cb->config);
  g_free (cb);
}
