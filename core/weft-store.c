/* weft-store.c — reading runs (and threads) back from a plugin with the
 * store capability, either one the caller opens or the one a flow writes
 * to. */
#include "weft-private.h"

#include <string.h>

struct _WeftStore {
  WeftPlugin *plugin;
  gpointer instance;
  WeftConfig *config;         /* when opened here: the instance is ours */
  WeftFlow *flow;             /* when borrowed from a flow: keeps it alive */
};

WeftStore *
weft_store_open_full (WeftEngine *engine, const char *plugin_name, JsonObject *options,
                      gboolean reader, GError **error)
{
  WeftPlugin *plugin = weft_registry_lookup (weft_engine_get_registry (engine),
                                             WEFT_PLUGIN_CALLBACK, plugin_name);

  if (plugin == NULL || plugin->desc->store == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "no store plugin named \"%s\" is loaded (a store is a callback plugin "
                   "that can read runs back, like sqlite)", plugin_name);
      return NULL;
    }
  WeftConfig *config = weft_config_new (plugin->desc, plugin_name, options, NULL, NULL, NULL,
                                        error);
  if (config == NULL)
    return NULL;
  if (reader)
    weft_config_set_reader (config);
  gpointer instance = weft_plugin_create (plugin, config, error);
  if (instance == NULL)
    {
      weft_config_free (config);
      return NULL;
    }
  WeftStore *store = g_new0 (WeftStore, 1);
  store->plugin = plugin;
  store->instance = instance;
  store->config = config;
  return store;
}

WeftStore *
weft_store_open (WeftEngine *engine, const char *plugin_name, JsonObject *options,
                 GError **error)
{
  return weft_store_open_full (engine, plugin_name, options, TRUE, error);
}

const WeftStoreClass *
weft_store_get_class (WeftStore *store)
{
  return store->plugin->desc->store;
}

gpointer
weft_store_get_instance (WeftStore *store)
{
  return store->instance;
}

WeftPlugin *
weft_store_get_plugin (WeftStore *store)
{
  return store->plugin;
}

WeftStore *
weft_flow_dup_store (WeftFlow *flow)
{
  guint n;
  WeftCallbackInstance * const *callbacks = weft_flow_get_callbacks (flow, &n);

  for (guint i = 0; i < n; i++)
    {
      WeftCallbackInstance *cb = callbacks[i];
      WeftPlugin *plugin = weft_callback_instance_get_plugin (cb);
      if (plugin->desc->store == NULL)
        continue;
      WeftStore *store = g_new0 (WeftStore, 1);
      store->plugin = plugin;
      store->instance = weft_callback_instance_get_instance (cb);
      store->flow = weft_flow_ref (flow);
      return store;
    }
  return NULL;
}

WeftStore *
weft_flow_dup_plugin_store (WeftFlow *flow, const char *plugin)
{
  guint n;
  WeftCallbackInstance * const *callbacks = weft_flow_get_callbacks (flow, &n);

  /* The last: callbacks added by a program come after the flow's own. */
  for (guint i = n; i-- > 0;)
    {
      WeftPlugin *found = weft_callback_instance_get_plugin (callbacks[i]);
      if (found->desc->store == NULL || g_strcmp0 (found->desc->name, plugin) != 0)
        continue;
      WeftStore *store = g_new0 (WeftStore, 1);
      store->plugin = found;
      store->instance = weft_callback_instance_get_instance (callbacks[i]);
      store->flow = weft_flow_ref (flow);
      return store;
    }
  return NULL;
}

gboolean
weft_flow_claim_run (WeftFlow *flow, const char *run_id, GError **error)
{
  guint n;
  WeftCallbackInstance * const *callbacks = weft_flow_get_callbacks (flow, &n);

  for (guint i = 0; i < n; i++)
    {
      WeftCallbackInstance *cb = callbacks[i];
      const WeftStoreClass *store = weft_callback_instance_get_plugin (cb)->desc->store;
      if (store == NULL || store->claim_run == NULL)
        continue;
      if (!store->claim_run (weft_callback_instance_get_instance (cb), run_id, error))
        return FALSE;
    }
  return TRUE;
}

void
weft_store_free (WeftStore *store)
{
  if (store == NULL)
    return;
  if (store->config)
    {
      store->plugin->desc->destroy (store->instance);
      weft_config_free (store->config);
    }
  g_clear_pointer (&store->flow, weft_flow_unref);
  g_free (store);
}

JsonNode *
weft_store_list_runs (WeftStore *store, guint limit, GError **error)
{
  return store->plugin->desc->store->list_runs (store->instance, limit, error);
}

/* Run ids are weft's (UUIDs); what a user or a client types in their place
 * can be anything.  Something no store could hold is refused before a
 * plugin sees it, and a plugin's message, which quotes the id, is made fit
 * to show. */
#define WEFT_RUN_ID_MAX_BYTES 128

static gboolean
weft_store_check_id (const char *id, const char *what, GError **error)
{
  gboolean ok = *id != '\0' && strlen (id) <= WEFT_RUN_ID_MAX_BYTES
                && g_utf8_validate (id, -1, NULL);

  for (const char *p = id; ok && *p; p++)
    ok = (guchar) *p >= 0x20 && *p != 0x7f;
  if (ok)
    return TRUE;
  g_autofree char *shown = weft_message_quote (id, 40);
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "no %s %s: not a %s id", what, shown,
               what);
  return FALSE;
}

gboolean
weft_store_check_run_id (const char *run_id, GError **error)
{
  return weft_store_check_id (run_id, "run", error);
}

/* A plugin's answer, its message made fit to show. */
static gboolean
weft_store_answered (GError *local, GError **error)
{
  weft_message_tidy_error (local);
  if (local == NULL)
    return TRUE;
  g_propagate_error (error, local);
  return FALSE;
}

JsonNode *
weft_store_get_run (WeftStore *store, const char *run_id, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!weft_store_check_run_id (run_id, error))
    return NULL;
  JsonNode *run = store->plugin->desc->store->get_run (store->instance, run_id, &local);
  weft_message_tidy_error (local);
  if (local)
    g_propagate_error (error, g_steal_pointer (&local));
  return run;
}

JsonNode *
weft_store_get_events (WeftStore *store, const char *run_id, guint64 after_seq, guint limit,
                       GError **error)
{
  const WeftPluginDescriptor *d = store->plugin->desc;
  GError *local = NULL;

  if (d->abi_minor < 2 || d->store->get_events == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "the store plugin \"%s\" gives no events back", d->name);
      return NULL;
    }
  if (!weft_store_check_run_id (run_id, error))
    return NULL;
  JsonNode *events = d->store->get_events (store->instance, run_id, after_seq, limit, &local);
  if (!weft_store_answered (local, error))
    g_clear_pointer (&events, json_node_unref);
  return events;
}

gboolean
weft_store_claim_run (WeftStore *store, const char *run_id, GError **error)
{
  const WeftStoreClass *klass = store->plugin->desc->store;

  if (!weft_store_check_run_id (run_id, error))
    return FALSE;
  /* A store without claims cannot tell: it lets the caller go on. */
  if (klass->claim_run == NULL)
    return TRUE;
  g_autoptr(GError) local = NULL;
  gboolean claimed = klass->claim_run (store->instance, run_id, &local);
  weft_message_tidy_error (local);
  if (local)
    g_propagate_error (error, g_steal_pointer (&local));
  return claimed;
}

gboolean
weft_store_delete_run (WeftStore *store, const char *run_id, GError **error)
{
  const WeftStoreClass *klass = store->plugin->desc->store;

  if (klass->delete_run == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "the store plugin \"%s\" cannot delete runs", store->plugin->desc->name);
      return FALSE;
    }
  if (!weft_store_check_run_id (run_id, error))
    return FALSE;
  g_autoptr(GError) local = NULL;
  gboolean deleted = klass->delete_run (store->instance, run_id, &local);
  weft_message_tidy_error (local);
  if (local)
    g_propagate_error (error, g_steal_pointer (&local));
  return deleted;
}

/* ---- threads (SDK 3.2: the capability is optional) ----------------------- */

static gboolean
weft_store_keeps_threads (WeftStore *store, GError **error)
{
  const WeftPluginDescriptor *d = store->plugin->desc;

  if (d->abi_minor >= 2 && d->store->get_thread != NULL)
    return TRUE;
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
               "the store plugin \"%s\" keeps no threads", d->name);
  return FALSE;
}

JsonNode *
weft_store_get_thread (WeftStore *store, const char *thread_id, GError **error)
{
  GError *local = NULL;

  if (!weft_store_keeps_threads (store, error) || !weft_store_check_id (thread_id, "thread", error))
    return NULL;
  JsonNode *thread = store->plugin->desc->store->get_thread (store->instance, thread_id, &local);
  if (!weft_store_answered (local, error))
    g_clear_pointer (&thread, json_node_unref);
  return thread;
}

JsonNode *
weft_store_list_threads (WeftStore *store, guint limit, GError **error)
{
  const WeftStoreClass *klass = store->plugin->desc->store;
  GError *local = NULL;

  if (!weft_store_keeps_threads (store, error))
    return NULL;
  if (klass->list_threads == NULL)
    {
      JsonNode *none = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (none, json_array_new ());
      return none;
    }
  JsonNode *threads = klass->list_threads (store->instance, limit, &local);
  if (!weft_store_answered (local, error))
    g_clear_pointer (&threads, json_node_unref);
  return threads;
}

gboolean
weft_store_delete_thread (WeftStore *store, const char *thread_id, GError **error)
{
  const WeftStoreClass *klass = store->plugin->desc->store;
  GError *local = NULL;

  if (!weft_store_keeps_threads (store, error) || !weft_store_check_id (thread_id, "thread", error))
    return FALSE;
  if (klass->delete_thread == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "the store plugin \"%s\" cannot delete threads", store->plugin->desc->name);
      return FALSE;
    }
  gboolean deleted = klass->delete_thread (store->instance, thread_id, &local);
  return weft_store_answered (local, error) && deleted;
}
