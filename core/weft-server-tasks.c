/* weft-server-tasks.c — background tasks over HTTP: POST /v1/tasks, GET
 * /v1/tasks and /v1/tasks/{id}, POST /v1/tasks/{id}/cancel.
 *
 * On the engine loop.  A background task is one agent call of a served
 * flow (weft-background.c); the engine keeps it while it is recent, and a
 * task it has forgotten is read from the stores (weft-server-stored.c),
 * where it is a run of a one-task flow. */
#include "weft-server-private.h"

void
weft_server_handle_create_task (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query)
{
  static const char *const allowed[] = { "agent", "flow", "prompt", NULL };
  g_autoptr(JsonObject) body = weft_server_read_object (server, msg, allowed);
  g_autoptr(GError) error = NULL;
  const char *agent, *flow_name, *prompt;
  WeftFlow *flow;

  if (body == NULL
      || !(agent = weft_server_get_string (msg, body, "agent", TRUE))
      || !(prompt = weft_server_get_string (msg, body, "prompt", TRUE))
      || !(flow_name = weft_server_get_string (msg, body, "flow",
                                               g_hash_table_size (server->flows) != 1))
      || !(flow = weft_server_find_flow_or_only (server, msg, flow_name)))
    return;
  if (server->stopping)
    {
      weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
      return;
    }
  g_autofree char *id = weft_engine_create_task (server->engine, flow, agent, prompt, &error);
  if (id == NULL)
    {
      weft_server_reply_error (msg, error->code == WEFT_ERROR_NOT_FOUND
                                      ? SOUP_STATUS_NOT_FOUND : SOUP_STATUS_BAD_REQUEST,
                               "%s", error->message);
      return;
    }
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "task_id", id);
  json_object_set_string_member (o, "status", "running");
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, o);
}

static void
weft_server_reply_task (WeftServer *server, SoupServerMessage *msg, const char *id,
                        gboolean cancel)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = weft_engine_check_task (server->engine, id, &error);

  if (node == NULL && !cancel && server->stores->len > 0)
    weft_server_handle_stored_task (server, msg, id);
  else if (node == NULL)
    weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "%s", error->message);
  else if (!cancel)
    weft_server_reply_json (msg, SOUP_STATUS_OK, node);
  else
    {
      const char *status = json_object_get_string_member (json_node_get_object (node), "status");
      if (g_str_equal (status, "running"))
        {
          weft_engine_cancel_task (server->engine, id, NULL);
          json_object_set_string_member (json_node_get_object (node), "status", "cancelling");
          weft_server_reply_json (msg, SOUP_STATUS_ACCEPTED, node);
        }
      else
        {
          weft_server_reply_error (msg, SOUP_STATUS_CONFLICT, "task \"%s\" has already %s", id,
                                   status);
          json_node_unref (node);
        }
    }
}

void
weft_server_handle_task (WeftServer *server, SoupServerMessage *msg, const char *arg,
                         GHashTable *query)
{
  weft_server_reply_task (server, msg, arg, FALSE);
}

void
weft_server_handle_cancel_task (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query)
{
  weft_server_reply_task (server, msg, arg, TRUE);
}

void
weft_server_handle_tasks (WeftServer *server, SoupServerMessage *msg, const char *arg,
                          GHashTable *query)
{
  JsonObject *o = json_object_new ();

  json_object_set_member (o, "tasks", weft_engine_list_tasks (server->engine));
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}
