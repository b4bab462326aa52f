/* weft-server-queue.c — a server whose runs go to a store's queue
 * (weft_server_set_queue, `weft serve --enqueue`): kickoffs and batches,
 * their inputs checked on the loop as any kickoff's, are queued on the
 * stores' thread and answered 202 with the queued ids; workers on any
 * machine run them, and their status is read from the stores like any
 * stored run's.  GET /v1/workers lists the queue's live workers.
 */
#include "weft-server-private.h"

typedef struct {
  WeftServerStoreWork work;   /* first: the stores' thread calls work.run */
  WeftServer *server;
  SoupServerMessage *msg;     /* a reference; paused meanwhile */
  gboolean gone;              /* the client went away */
  WeftStore *store;
  WeftFlow *flow;             /* a reference, or NULL: list the workers */
  GPtrArray *inputs;          /* JsonObject * (copies, the thread's), or NULL */
  gboolean batch;
  char **ids;                 /* queued */
  JsonNode *workers;          /* listed */
  GError *error;
} WeftServerQueueWork;

static void
weft_server_unref_inputs (gpointer inputs)
{
  if (inputs != NULL)
    json_object_unref (inputs);
}

static void
weft_server_queue_work_free (WeftServerQueueWork *q)
{
  g_signal_handlers_disconnect_by_data (q->msg, q);
  g_object_unref (q->msg);
  g_clear_pointer (&q->flow, weft_flow_unref);
  g_clear_pointer (&q->inputs, g_ptr_array_unref);
  g_strfreev (q->ids);
  g_clear_pointer (&q->workers, json_node_unref);
  g_clear_error (&q->error);
  g_free (q);
}

static void
weft_server_queue_on_finished (SoupServerMessage *msg, gpointer data)
{
  ((WeftServerQueueWork *) data)->gone = TRUE;
}

static void
weft_server_reply_queued (WeftServerQueueWork *q)
{
  JsonObject *o = json_object_new ();

  if (q->batch)
    {
      JsonArray *ids = json_array_new ();
      for (guint i = 0; q->ids[i] != NULL; i++)
        json_array_add_string_element (ids, q->ids[i]);
      json_object_set_array_member (o, "run_ids", ids);
    }
  else
    {
      g_autofree char *location = g_strdup_printf ("/v1/runs/%s", q->ids[0]);
      soup_message_headers_replace (soup_server_message_get_response_headers (q->msg),
                                    "Location", location);
      json_object_set_string_member (o, "run_id", q->ids[0]);
    }
  json_object_set_string_member (o, "status", "queued");
  weft_server_reply_object (q->msg, SOUP_STATUS_ACCEPTED, o);
}

/* Back on the loop. */
static gboolean
weft_server_queue_reply (gpointer data)
{
  WeftServerQueueWork *q = data;

  if (q->gone)
    ;
  else if (q->ids != NULL)
    weft_server_reply_queued (q);
  else if (q->workers != NULL)
    {
      JsonObject *o = json_object_new ();
      json_object_set_member (o, "workers", g_steal_pointer (&q->workers));
      weft_server_reply_object (q->msg, SOUP_STATUS_OK, o);
    }
  else if (g_error_matches (q->error, WEFT_ERROR, WEFT_ERROR_INVALID))
    weft_server_reply_error (q->msg, SOUP_STATUS_BAD_REQUEST, "%s", q->error->message);
  else
    {
      /* The queue's store is away: the client may try again. */
      soup_message_headers_replace (soup_server_message_get_response_headers (q->msg),
                                    "Retry-After", "5");
      weft_server_reply_error (q->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the queue: %s",
                               q->error->message);
    }
  if (!q->gone)
    soup_server_message_unpause (q->msg);
  weft_server_queue_work_free (q);
  return G_SOURCE_REMOVE;
}

/* The stores' thread. */
static void
weft_server_queue_run (WeftServerStoreWork *work)
{
  WeftServerQueueWork *q = (WeftServerQueueWork *) work;

  if (q->flow != NULL)
    q->ids = weft_store_enqueue (q->store, q->flow, (JsonObject * const *) q->inputs->pdata,
                                 q->inputs->len, &q->error);
  else
    q->workers = weft_store_list_workers (q->store, &q->error);
  g_main_context_invoke (weft_engine_get_main_context (q->server->engine),
                         weft_server_queue_reply, q);
}

static WeftServerQueueWork *
weft_server_queue_work_new (WeftServer *server, SoupServerMessage *msg, WeftStore *store)
{
  WeftServerQueueWork *q = g_new0 (WeftServerQueueWork, 1);

  q->work.run = weft_server_queue_run;
  q->server = server;
  q->msg = g_object_ref (msg);
  q->store = store;
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_queue_on_finished), q);
  soup_server_message_pause (msg);
  return q;
}

void
weft_server_enqueue (WeftServer *server, SoupServerMessage *msg, WeftFlow *flow,
                     GPtrArray *inputs, gboolean batch)
{
  if (server->stopping)
    {
      weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
      return;
    }
  WeftServerQueueWork *q = weft_server_queue_work_new (server, msg, server->queue);
  q->flow = weft_flow_ref (flow);
  q->batch = batch;
  /* Copies: the thread reads them while the request's body goes. */
  q->inputs = g_ptr_array_new_with_free_func (weft_server_unref_inputs);
  for (guint i = 0; i < inputs->len; i++)
    {
      JsonObject *given = inputs->pdata[i];
      g_autoptr(JsonNode) node = given ? json_node_init_object (json_node_alloc (), given)
                                       : NULL;
      g_autoptr(JsonNode) copy = node ? json_node_copy (node) : NULL;
      g_ptr_array_add (q->inputs, copy ? json_object_ref (json_node_get_object (copy)) : NULL);
    }
  weft_server_push_store_work (server, &q->work);
}

void
weft_server_handle_workers (WeftServer *server, SoupServerMessage *msg, const char *arg,
                            GHashTable *query)
{
  WeftStore *store = server->queue;

  for (guint i = 0; store == NULL && i < server->stores->len; i++)
    if (weft_store_has_queue (server->stores->pdata[i]))
      store = server->stores->pdata[i];
  if (store == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                               "no store with a queue of runs is configured: no workers to "
                               "list");
      return;
    }
  weft_server_push_store_work (server, &weft_server_queue_work_new (server, msg, store)->work);
}
