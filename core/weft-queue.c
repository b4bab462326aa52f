/* weft-queue.c — the queue of runs a store may keep (docs/scale-out.md),
 * through the queue capability of its plugin (WeftQueueClass): runs
 * queued with their flow's text and inputs, workers that join, claim the
 * next run, wait for more, and give back what they will not finish.  The
 * core names no plugin: `weft worker` works with any store whose plugin
 * has the capability.
 */
#include "weft-private.h"

#include <unistd.h>

static const WeftQueueClass *
weft_queue_class (WeftStore *store, GError **error)
{
  const WeftQueueClass *queue = weft_store_get_class (store)->queue;

  if (queue == NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                 "the store plugin \"%s\" keeps no queue of runs",
                 weft_store_get_plugin (store)->desc->name);
  return queue;
}

/* A plugin's error, fit to show (it may quote a run id). */
static gboolean
weft_queue_done (gboolean ok, GError *local, GError **error)
{
  weft_message_tidy_error (local);
  if (local)
    g_propagate_error (error, local);
  return ok;
}

WeftStore *
weft_store_open_queue (WeftEngine *engine, const char *plugin, JsonObject *options,
                       GError **error)
{
  WeftStore *store = weft_store_open_full (engine, plugin, options, FALSE, error);

  if (store != NULL && weft_queue_class (store, error) == NULL)
    g_clear_pointer (&store, weft_store_free);
  return store;
}

gboolean
weft_store_has_queue (WeftStore *store)
{
  return weft_store_get_class (store)->queue != NULL;
}

/* A queued run is recorded by the queue's store, through the instance a
 * worker adds to the flow: a flow that records itself there too would
 * have two writers (and two claims) for each run. */
static gboolean
weft_queue_check_flow (WeftStore *store, WeftFlow *flow, GError **error)
{
  guint n;
  WeftCallbackInstance * const *callbacks = weft_flow_get_callbacks (flow, &n);
  WeftPlugin *plugin = weft_store_get_plugin (store);

  for (guint i = 0; i < n; i++)
    if (weft_callback_instance_get_plugin (callbacks[i]) == plugin)
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                     "%s: the flow records its runs with the %s plugin itself (callback "
                     "\"%s\"); a queued run is recorded by the queue's store: remove that "
                     "callback", weft_flow_get_origin (flow), plugin->desc->name,
                     weft_callback_instance_get_name (callbacks[i]));
        return FALSE;
      }
  return TRUE;
}

char **
weft_store_enqueue (WeftStore *store, WeftFlow *flow, JsonObject * const *inputs, guint n,
                    GError **error)
{
  const WeftQueueClass *queue = weft_queue_class (store, error);
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  GError *local = NULL;

  g_return_val_if_fail (n > 0, NULL);
  if (queue == NULL || !weft_queue_check_flow (store, flow, error))
    return NULL;
  /* Every run checked as its kickoff will be, before any is queued. */
  for (guint i = 0; i < n; i++)
    {
      JsonObject *given = inputs ? inputs[i] : NULL;
      if (!weft_flow_check_inputs (flow, given, error))
        return NULL;
      g_autoptr(JsonNode) node = given ? json_node_init_object (json_node_alloc (), given) : NULL;
      g_ptr_array_add (texts, node ? json_to_string (node, FALSE) : g_strdup ("{}"));
    }
  g_ptr_array_add (texts, NULL);
  char **ids = queue->enqueue (weft_store_get_instance (store), weft_flow_get_name (flow),
                               g_bytes_get_data (weft_flow_get_source (flow), NULL),
                               (const char * const *) texts->pdata, n, &local);
  weft_queue_done (ids != NULL, local, error);
  return ids;
}

gboolean
weft_store_join (WeftStore *store, guint concurrency, GError **error)
{
  const WeftQueueClass *queue = weft_queue_class (store, error);
  GError *local = NULL;

  if (queue == NULL)
    return FALSE;
  gboolean ok = queue->join (weft_store_get_instance (store), g_get_host_name (),
                             (guint) getpid (), concurrency, &local);
  return weft_queue_done (ok, local, error);
}

char *
weft_store_claim_next (WeftStore *store, GError **error)
{
  const WeftQueueClass *queue = weft_queue_class (store, error);
  GError *local = NULL;

  if (queue == NULL)
    return NULL;
  char *run_id = queue->claim_next (weft_store_get_instance (store), &local);
  weft_queue_done (run_id != NULL, local, error);
  return run_id;
}

gboolean
weft_store_wait (WeftStore *store, guint timeout_ms, GCancellable *cancellable, GError **error)
{
  const WeftQueueClass *queue = weft_queue_class (store, error);
  GError *local = NULL;

  if (queue == NULL)
    return FALSE;
  gboolean ok = queue->wait (weft_store_get_instance (store), timeout_ms, cancellable, &local);
  return weft_queue_done (ok, local, error);
}

gboolean
weft_store_hand_back (WeftStore *store, const char *run_id, const char *reason,
                      GError **error)
{
  const WeftQueueClass *queue = weft_queue_class (store, error);
  GError *local = NULL;

  if (queue == NULL || !weft_store_check_run_id (run_id, error))
    return FALSE;
  g_autofree char *shown = weft_secrets_redact (reason);
  gboolean ok = queue->hand_back (weft_store_get_instance (store), run_id, shown, &local);
  return weft_queue_done (ok, local, error);
}

JsonNode *
weft_store_list_workers (WeftStore *store, GError **error)
{
  const WeftQueueClass *queue = weft_queue_class (store, error);
  GError *local = NULL;

  if (queue == NULL)
    return NULL;
  JsonNode *workers = queue->list_workers (weft_store_get_instance (store), &local);
  weft_queue_done (workers != NULL, local, error);
  return workers;
}
