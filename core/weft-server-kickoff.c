/* weft-server-kickoff.c — new runs from requests: POST
 * /v1/flows/{flow}/runs (one run) and /v1/flows/{flow}/batch (many, at
 * most max_parallel at a time).
 *
 * On the engine loop.  A request's inputs are checked before any run is
 * made, and every run of a batch before any starts, so that a bad one
 * refuses the request with a 4xx naming it.  The runs in flight are
 * bounded (--max-runs): past the limit, or while the server stops, a
 * kickoff is refused with 503.  The runs made are given to
 * weft-server-runs.c, which keeps their records and starts them.  A
 * replay (weft-server-replay.c) makes and starts its run here too. */
#include "weft-server-private.h"

#define WEFT_SERVER_BATCH_MAX 10000

/* Whether a request's `inputs` (may be NULL) would do for a run of the
 * flow; FALSE after a 4xx reply naming what is wrong (`where` says which
 * inputs, for a batch). */
static gboolean
weft_server_check_inputs (SoupServerMessage *msg, WeftFlow *flow, JsonNode *inputs,
                          const char *where)
{
  if (inputs && !JSON_NODE_HOLDS_OBJECT (inputs))
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "%s must be a JSON object of "
                               "input names to values, not %s", where,
                               weft_json_describe (inputs));
      return FALSE;
    }
  JsonObject *given = inputs ? json_node_get_object (inputs) : NULL;
  JsonObject *defaults = weft_flow_get_default_inputs (flow);
  const char *const *input_names = weft_flow_get_input_names (flow);
  for (guint i = 0; input_names[i]; i++)
    {
      const char *name = input_names[i];
      if ((given && json_object_has_member (given, name))
          || (defaults && json_object_has_member (defaults, name)))
        continue;
      g_autofree char *names = g_strjoinv (", ", (char **) input_names);
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "%s: missing input \"%s\" (flow \"%s\" needs: %s)", where, name,
                               weft_flow_get_name (flow), names);
      return FALSE;
    }
  return TRUE;
}

WeftRun *
weft_server_new_run (SoupServerMessage *msg, WeftFlow *flow, JsonNode *inputs,
                     JsonObject *completed, const char *where)
{
  g_autoptr(GError) error = NULL;

  if (!weft_server_check_inputs (msg, flow, inputs, where))
    return NULL;
  WeftKickoffOptions options = { .inputs = inputs ? json_node_get_object (inputs) : NULL,
                                 .completed = completed };
  WeftRun *run = weft_run_new (flow, &options, &error);
  /* An input the flow does not take is named with what it may have meant. */
  if (run == NULL)
    weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "%s: %s", where, error->message);
  return run;
}

/* Memory stays bounded however hard clients push. */
gboolean
weft_server_refuse_runs (WeftServer *server, SoupServerMessage *msg, guint n)
{
  if (server->stopping)
    weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
  else if (server->n_live + n > server->max_runs)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", "1");
      weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                               "%u runs are in flight and %u more would pass the limit of %u "
                               "(--max-runs): retry later", server->n_live, n, server->max_runs);
    }
  else
    return FALSE;
  return TRUE;
}

void
weft_server_handle_kickoff (WeftServer *server, SoupServerMessage *msg, const char *arg,
                            GHashTable *query)
{
  static const char *const allowed[] = { "inputs", NULL };
  WeftFlow *flow = weft_server_find_flow (server, msg, arg);
  g_autoptr(JsonObject) body = flow ? weft_server_read_object (server, msg, allowed) : NULL;

  if (body != NULL && server->queue != NULL)
    {
      JsonNode *inputs = json_object_get_member (body, "inputs");
      g_autoptr(GPtrArray) one = g_ptr_array_new ();
      g_ptr_array_add (one, inputs ? json_node_get_object (inputs) : NULL);
      if (weft_server_check_inputs (msg, flow, inputs, "\"inputs\""))
        weft_server_enqueue (server, msg, flow, one, FALSE);
      return;
    }
  if (body == NULL || weft_server_refuse_runs (server, msg, 1))
    return;
  WeftRun *run = weft_server_new_run (msg, flow, json_object_get_member (body, "inputs"), NULL,
                                      "\"inputs\"");
  if (run == NULL)
    return;
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, weft_server_start_run (server, msg, run));
}

JsonObject *
weft_server_start_run (WeftServer *server, SoupServerMessage *msg, WeftRun *run)
{
  WeftServerRun *rec = weft_server_run_new (server, run);
  g_autofree char *location = g_strdup_printf ("/v1/runs/%s", weft_run_get_id (run));
  JsonObject *o = json_object_new ();

  weft_server_run_kickoff (rec);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Location",
                                location);
  json_object_set_string_member (o, "run_id", weft_run_get_id (run));
  json_object_set_string_member (o, "status", "running");
  weft_server_evict (server);
  return o;
}

void
weft_server_handle_batch (WeftServer *server, SoupServerMessage *msg, const char *arg,
                          GHashTable *query)
{
  static const char *const allowed[] = { "inputs", "max_parallel", NULL };
  WeftFlow *flow = weft_server_find_flow (server, msg, arg);
  g_autoptr(JsonObject) body = flow ? weft_server_read_object (server, msg, allowed) : NULL;
  g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_run_unref);

  if (body == NULL)
    return;
  JsonNode *inputs = json_object_get_member (body, "inputs");
  guint n = inputs && JSON_NODE_HOLDS_ARRAY (inputs)
            ? json_array_get_length (json_node_get_array (inputs)) : 0;
  if (n == 0 || n > WEFT_SERVER_BATCH_MAX)
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "\"inputs\" must be an array of 1 to %u input objects, one per run",
                               WEFT_SERVER_BATCH_MAX);
      return;
    }
  guint max_parallel = n;
  if (!weft_server_get_uint_member (msg, body, "max_parallel", 1, G_MAXINT, &max_parallel))
    return;
  if (server->queue != NULL)
    {
      /* The workers' concurrency says how many run at once. */
      g_autoptr(GPtrArray) all = g_ptr_array_new ();
      for (guint i = 0; i < n; i++)
        {
          JsonNode *one = json_array_get_element (json_node_get_array (inputs), i);
          g_autofree char *where = g_strdup_printf ("\"inputs\"[%u]", i);
          if (!weft_server_check_inputs (msg, flow, one, where))
            return;
          g_ptr_array_add (all, JSON_NODE_HOLDS_OBJECT (one) ? json_node_get_object (one) : NULL);
        }
      weft_server_enqueue (server, msg, flow, all, TRUE);
      return;
    }
  if (weft_server_refuse_runs (server, msg, n))
    return;
  /* Every run is checked before any starts: a bad one refuses the batch. */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *where = g_strdup_printf ("\"inputs\"[%u]", i);
      WeftRun *run = weft_server_new_run (msg, flow,
                                          json_array_get_element (json_node_get_array (inputs), i),
                                          NULL, where);
      if (run == NULL)
        return;
      g_ptr_array_add (runs, run);
    }

  WeftServerBatch *batch = g_new0 (WeftServerBatch, 1);
  batch->ref_count = 1;
  batch->max_parallel = max_parallel;
  JsonArray *ids = json_array_new ();
  for (guint i = 0; i < n; i++)
    {
      WeftServerRun *rec = weft_server_run_new (server, g_steal_pointer (&runs->pdata[i]));
      rec->batch = batch;
      batch->ref_count++;
      g_queue_push_tail (&batch->queued, rec);
      json_array_add_string_element (ids, weft_run_get_id (rec->run));
    }
  weft_server_batch_pump (batch);
  weft_server_batch_unref (batch);

  JsonObject *o = json_object_new ();
  json_object_set_array_member (o, "run_ids", ids);
  json_object_set_int_member (o, "max_parallel", max_parallel);
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, o);
}
