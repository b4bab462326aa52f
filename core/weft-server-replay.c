/* weft-server-replay.c — POST /v1/runs/{id}/replay: a new run of a run's
 * flow and inputs that reuses the outputs of every task the named one
 * does not reach, and runs that task and its dependants again (`weft
 * replay RUN --from TASK` over HTTP).
 *
 * On the engine loop.  The run is read from memory (weft-server-runs.c)
 * or, once forgotten, from the stores (weft-server-stored.c, on their
 * thread); either way as its JSON, whose completed tasks give the outputs
 * to reuse.  The flow is the one this server serves under the run's flow
 * name — never one loaded from a store's copy of its text — so a replay
 * runs the flow as served now.  The new run is made and started like any
 * kickoff (weft-server-kickoff.c), and its flow's own store records it. */
#include "weft-server-private.h"

static char *
weft_server_task_names (WeftFlow *flow)
{
  GString *names = g_string_new (NULL);

  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    g_string_append_printf (names, "%s%s", i ? ", " : "", weft_flow_get_task_name (flow, i));
  return g_string_free (names, FALSE);
}

/* The replay of `run` (its JSON) from the task the request named. */
static void
weft_server_replay_run (WeftServer *server, SoupServerMessage *msg, const char *id,
                        JsonObject *run, const char *from)
{
  const char *flow_name = json_object_get_string_member_with_default (run, "flow", "");
  WeftFlow *flow = g_hash_table_lookup (server->flows, flow_name);

  if (flow == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_CONFLICT, "run \"%s\" is of flow \"%s\", which "
                               "this server does not serve", id, flow_name);
      return;
    }
  g_auto(GStrv) downstream = weft_flow_dup_downstream (flow, from);
  if (downstream == NULL)
    {
      g_autofree char *names = weft_server_task_names (flow);
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "\"from\": flow \"%s\" has no task "
                               "\"%s\" (its tasks: %s)", flow_name, from, names);
      return;
    }
  if (weft_server_refuse_runs (server, msg, 1))
    return;
  g_autoptr(JsonObject) completed = weft_run_json_get_completed (run, (const char *const *) downstream);
  WeftRun *replay = weft_server_new_run (msg, flow, json_object_get_member (run, "inputs"),
                                         completed, "the run's inputs");
  if (replay == NULL)
    return;
  JsonObject *o = weft_server_start_run (server, msg, replay);
  json_object_set_string_member (o, "replay_of", id);
  json_object_set_string_member (o, "from", from);
  json_object_set_int_member (o, "rerun", g_strv_length (downstream));
  json_object_set_int_member (o, "reused", json_object_get_size (completed));
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, o);
}

/* "from" of the request's body, or NULL after a 400. */
static char *
weft_server_replay_from (WeftServer *server, SoupServerMessage *msg)
{
  static const char *const allowed[] = { "from", NULL };
  g_autoptr(JsonObject) body = weft_server_read_object (server, msg, allowed);
  JsonNode *node = body ? json_object_get_member (body, "from") : NULL;

  if (body == NULL)
    return NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "%s \"from\" (a string: the task to run again)",
                               node ? "expected" : "missing");
      return NULL;
    }
  return g_strdup (json_node_get_string (node));
}

/* Back from the stores' thread with the run (NULL: in none of them). */
static void
weft_server_replay_stored (WeftServer *server, SoupServerMessage *msg, const char *id,
                           JsonObject *run, const char *error)
{
  g_autofree char *from = g_strdup (g_object_get_data (G_OBJECT (msg), "weft-replay-from"));

  if (run)
    weft_server_replay_run (server, msg, id, run, from);
  else if (error)
    weft_server_reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", error);
  else
    weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "no run \"%s\" (in memory or in a "
                             "store)", id);
}

void
weft_server_handle_replay (WeftServer *server, SoupServerMessage *msg, const char *arg,
                           GHashTable *query)
{
  g_autofree char *from = weft_server_replay_from (server, msg);
  WeftServerRun *rec;

  if (from == NULL)
    return;
  if ((rec = weft_server_lookup (server, arg)))
    {
      g_autoptr(JsonObject) run = weft_server_run_to_json (rec, TRUE);
      weft_server_replay_run (server, msg, arg, run, from);
    }
  else if (server->stores->len == 0)
    weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "no run \"%s\" (finished runs are kept "
                             "%u s, %u at most, and no store is configured)", arg,
                             server->keep_s, server->keep_runs);
  else
    {
      g_object_set_data_full (G_OBJECT (msg), "weft-replay-from", g_steal_pointer (&from),
                              g_free);
      weft_server_read_stored_run (server, msg, arg, weft_server_replay_stored);
    }
}
