/* weft-server-stored.c — reading runs: GET /v1/runs and /v1/runs/{id},
 * a background task no longer in memory, and the events of a run no
 * longer in memory (GET /v1/runs/{id}/events); from the server's records
 * first, then from the stores.  The stored threads a list shows (GET
 * /v1/threads) are read the same way, merged the same way.
 *
 * The records (weft-server-runs.c) are read on the engine loop.  The
 * stores (each flow's own, plus --store) are read on a thread of their
 * own, one request at a time, with the message paused meanwhile, so that
 * the loop never waits on a disk; the answer is made back on the loop.
 * A stored run is shown without the flow's own text (an agent's options
 * may be written in it).  A handler may also have one run read for itself
 * (a replay, weft-server-replay.c). */
#include "weft-server-private.h"

#include <string.h>

#define WEFT_SERVER_LIST_LIMIT_DEFAULT 100
#define WEFT_SERVER_LIST_LIMIT_MAX 1000
/* A stored run's events sent by one stream at most; a client that
 * reconnects with the last one's id (as EventSource does) is sent the next. */
#define WEFT_SERVER_STORED_EVENTS_MAX 20000

typedef struct {
  WeftServerStoreWork work;   /* first: the stores' thread calls work.run */
  WeftServer *server;
  SoupServerMessage *msg;     /* a reference; paused meanwhile */
  gboolean gone;              /* the client went away */
  char *run_id;               /* get one, or list when NULL */
  gboolean as_task;           /* the run of a background task, shown as one */
  gboolean events;            /* the run's events after `after`, as a stream */
  guint64 after;
  WeftServerStoredFunc func;  /* the run goes to it rather than to the client */
  WeftServerListFunc list_func; /* threads are listed, for it */
  guint limit;
  guint store_limit;          /* how many each store is asked for */
  char *status;
  char *flow;
  JsonNode *result;           /* from the pool thread */
  char *error;
} WeftStoreRead;

/* A read for `msg` of one run (`run_id`), or of the list (NULL). */
static WeftStoreRead *
weft_store_read_new (SoupServerMessage *msg, const char *run_id)
{
  WeftStoreRead *r = g_new0 (WeftStoreRead, 1);

  r->msg = g_object_ref (msg);
  r->run_id = g_strdup (run_id);
  return r;
}

static void
weft_store_read_free (WeftStoreRead *r)
{
  g_signal_handlers_disconnect_by_data (r->msg, r);
  g_object_unref (r->msg);
  g_free (r->run_id);
  g_free (r->status);
  g_free (r->flow);
  g_clear_pointer (&r->result, json_node_unref);
  g_free (r->error);
  g_free (r);
}

static void
weft_store_read_on_finished (SoupServerMessage *msg, gpointer data)
{
  ((WeftStoreRead *) data)->gone = TRUE;
}

/* A stored run as the server shows it: without the flow's own text (an
 * agent's options may be written in it), with its duration. */
static void
weft_server_trim_stored_run (JsonObject *run)
{
  gint64 started = json_object_get_int_member_with_default (run, "started_wall_us", 0);
  gint64 finished = json_object_get_int_member_with_default (run, "finished_wall_us", 0);

  json_object_remove_member (run, "flow_source");
  json_object_set_int_member (run, "duration_us", started && finished ? finished - started : 0);
}

static gboolean
weft_server_matches (JsonObject *run, const char *status, const char *flow)
{
  const char *run_status = json_object_get_string_member_with_default (run, "status", "");
  const char *run_flow = json_object_get_string_member_with_default (run, "flow", "");

  return (status == NULL || g_str_equal (run_status, status))
         && (flow == NULL || g_str_equal (run_flow, flow));
}

static gint64
weft_server_run_time (JsonObject *run)
{
  gint64 t = json_object_get_int_member_with_default (run, "started_wall_us", 0);

  return t ? t : json_object_get_int_member_with_default (run, "created_wall_us", 0);
}

static gint
weft_server_newest_first (gconstpointer a, gconstpointer b)
{
  gint64 x = weft_server_run_time (*(JsonObject *const *) a);
  gint64 y = weft_server_run_time (*(JsonObject *const *) b);

  return (x < y) - (x > y);
}

JsonArray *
weft_server_merge_list (GPtrArray *items, GHashTable *seen, JsonNode *stored, const char *id_key,
                        WeftServerTakeFunc take, gpointer take_data, guint limit)
{
  JsonArray *from_store = stored && JSON_NODE_HOLDS_ARRAY (stored) ? json_node_get_array (stored)
                                                                   : NULL;

  for (guint i = 0; from_store && i < json_array_get_length (from_store); i++)
    {
      JsonNode *node = json_array_get_element (from_store, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *id = o ? json_object_get_string_member_with_default (o, id_key, NULL) : NULL;
      if (id == NULL || g_hash_table_contains (seen, id) || !take (o, take_data))
        continue;
      g_hash_table_add (seen, (gpointer) id);
      g_ptr_array_add (items, json_object_ref (o));
    }
  g_ptr_array_sort (items, weft_server_newest_first);
  JsonArray *out = json_array_new ();
  for (guint i = 0; i < items->len && i < limit; i++)
    json_array_add_object_element (out, json_object_ref (items->pdata[i]));
  return out;
}

typedef struct {
  const char *status;
  const char *flow;
} WeftRunFilter;

/* A stored run a list shows: one the filter lets through, trimmed. */
static gboolean
weft_server_take_stored_run (JsonObject *run, gpointer data)
{
  WeftRunFilter *filter = data;

  if (!weft_server_matches (run, filter->status, filter->flow))
    return FALSE;
  weft_server_trim_stored_run (run);
  return TRUE;
}

/* The runs in memory, then the stored ones it does not have, filtered,
 * newest first. */
static void
weft_server_reply_list (WeftServer *server, SoupServerMessage *msg, JsonNode *stored,
                        guint limit, const char *status, const char *flow)
{
  g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  WeftRunFilter filter = { status, flow };
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, server->runs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      JsonObject *o = weft_server_run_to_json (value, FALSE);
      g_hash_table_add (seen, (char *) weft_run_get_id (((WeftServerRun *) value)->run));
      if (weft_server_matches (o, status, flow))
        g_ptr_array_add (runs, o);
      else
        json_object_unref (o);
    }
  JsonObject *o = json_object_new ();
  json_object_set_array_member (o, "runs", weft_server_merge_list (runs, seen, stored, "run_id",
                                                                   weft_server_take_stored_run,
                                                                   &filter, limit));
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}

/* A stored run of a background task (flow "FLOW.AGENT", one task), in
 * the shape weft_engine_check_task gives; NULL for any other run. */
static JsonObject *
weft_server_task_from_run (JsonNode *node)
{
  JsonObject *run = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  const char *flow = run ? json_object_get_string_member_with_default (run, "flow", "") : "";
  const char *dot = strrchr (flow, '.');
  JsonArray *tasks = run && json_object_has_member (run, "tasks")
                     ? json_object_get_array_member (run, "tasks") : NULL;

  JsonObject *t = tasks && json_array_get_length (tasks) == 1
                  ? json_array_get_object_element (tasks, 0) : NULL;

  /* The task of such a flow is named after its agent. */
  if (dot == NULL || t == NULL
      || g_strcmp0 (json_object_get_string_member_with_default (t, "name", NULL), dot + 1) != 0)
    return NULL;
  g_autofree char *parent = g_strndup (flow, (gsize) (dot - flow));
  gint64 started = json_object_get_int_member_with_default (run, "started_wall_us", 0);
  gint64 finished = json_object_get_int_member_with_default (run, "finished_wall_us", 0);
  WeftJobSummary summary = {
    .id = json_object_get_string_member (run, "run_id"),
    .flow = parent,
    .agent = dot + 1,
    .status = json_object_get_string_member_with_default (run, "status", "running"),
    .output = json_object_get_string_member_with_default (t, "output", NULL),
    .error = json_object_get_string_member_with_default (run, "error", NULL),
    .created_wall_us = started,
    .finished_wall_us = finished,
    .duration_us = finished && started ? finished - started : 0,
  };
  return weft_job_summary_to_json (&summary);
}

/* A stored run's events as a stream that ends with them: nothing more
 * comes from here, and a client that reconnects (Last-Event-ID) is sent
 * what was stored since, if anything (a run of another process). */
static void
weft_server_reply_stored_events (WeftStoreRead *r)
{
  if (r->result == NULL)
    {
      if (r->error)
        weft_server_reply_error (r->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", r->error);
      else
        weft_server_reply_error (r->msg, SOUP_STATUS_NOT_FOUND,
                                 "no run \"%s\" in memory, nor in a store that gives its events "
                                 "back", r->run_id);
      return;
    }
  SoupMessageBody *body = soup_server_message_get_response_body (r->msg);
  JsonArray *events = json_node_get_array (r->result);

  weft_server_stream_start (r->server, r->msg);
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      g_autoptr(GBytes) frame = weft_server_json_event_frame (json_array_get_element (events, i));
      if (frame)
        soup_message_body_append_bytes (body, frame);
    }
  soup_message_body_complete (body);
}

/* Back on the loop with what the stores said. */
static gboolean
weft_store_read_reply (gpointer data)
{
  WeftStoreRead *r = data;

  JsonObject *task = NULL;

  if (r->gone)
    ;
  else if (r->events)
    weft_server_reply_stored_events (r);
  else if (r->list_func)
    r->list_func (r->server, r->msg, r->result, r->limit);
  else if (r->func)
    r->func (r->server, r->msg, r->run_id,
             r->result && JSON_NODE_HOLDS_OBJECT (r->result) ? json_node_get_object (r->result)
                                                              : NULL, r->error);
  else if (r->run_id == NULL)
    weft_server_reply_list (r->server, r->msg, r->result, r->limit, r->status, r->flow);
  else if (r->as_task && r->result && (task = weft_server_task_from_run (r->result)))
    weft_server_reply_object (r->msg, SOUP_STATUS_OK, task);
  else if (r->as_task && r->error == NULL)
    weft_server_reply_error (r->msg, SOUP_STATUS_NOT_FOUND, "no task \"%s\" (in memory or in "
                             "a store)", r->run_id);
  else if (r->result && JSON_NODE_HOLDS_OBJECT (r->result))
    {
      weft_server_trim_stored_run (json_node_get_object (r->result));
      weft_server_reply_json (r->msg, SOUP_STATUS_OK, g_steal_pointer (&r->result));
    }
  else if (r->error)
    weft_server_reply_error (r->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", r->error);
  else
    weft_server_reply_error (r->msg, SOUP_STATUS_NOT_FOUND, "no run \"%s\" (in memory or in "
                             "a store)", r->run_id);
  if (!r->gone)
    soup_server_message_unpause (r->msg);
  weft_store_read_free (r);
  return G_SOURCE_REMOVE;
}

/* Stores' thread: a store that could not be read is logged, and `*text`
 * says so when it says nothing yet; "not found" (a store that keeps no
 * threads says so too) is no failure. */
static void
weft_server_store_failed (const GError *error, char **text)
{
  if (g_error_matches (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND))
    return;
  g_warning ("reading a store: %s", error->message);
  if (*text == NULL)
    *text = g_strdup_printf ("reading a store: %s", error->message);
}

JsonNode *
weft_server_stores_get (WeftServer *server, WeftServerStoreGet get, const char *id, char **error)
{
  GPtrArray *stores = server->stores;

  for (guint i = 0; i < stores->len; i++)
    {
      g_autoptr(GError) local = NULL;
      JsonNode *node = get (stores->pdata[i], id, &local);
      if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
        return node;
      if (node != NULL)
        json_node_unref (node);
      else
        weft_server_store_failed (local, error);
    }
  return NULL;
}

/* The store thread: the run's events after r->after from the first store
 * that has them. */
static JsonNode *
weft_store_read_events (WeftStoreRead *r)
{
  GPtrArray *stores = r->server->stores;

  for (guint i = 0; i < stores->len; i++)
    {
      g_autoptr(GError) error = NULL;
      JsonNode *node = weft_store_get_events (stores->pdata[i], r->run_id, r->after,
                                              WEFT_SERVER_STORED_EVENTS_MAX, &error);
      if (node != NULL)
        return node;
      weft_server_store_failed (error, &r->error);
    }
  return NULL;
}

/* The store thread. */
static void
weft_store_read_run (WeftServerStoreWork *work)
{
  WeftStoreRead *r = (WeftStoreRead *) work;
  GPtrArray *stores = r->server->stores;
  g_autoptr(JsonArray) merged = json_array_new ();

  if (r->events)
    r->result = weft_store_read_events (r);
  else if (r->run_id)
    r->result = weft_server_stores_get (r->server, weft_store_get_run, r->run_id, &r->error);
  for (guint i = 0; r->run_id == NULL && i < stores->len; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = r->list_func
                                 ? weft_store_list_threads (stores->pdata[i], r->store_limit,
                                                            &error)
                                 : weft_store_list_runs (stores->pdata[i], r->store_limit, &error);
      JsonArray *a = node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
      if (node == NULL)
        weft_server_store_failed (error, &r->error);
      for (guint k = 0; a && k < json_array_get_length (a); k++)
        json_array_add_element (merged, json_node_copy (json_array_get_element (a, k)));
    }
  if (r->run_id == NULL)
    r->result = json_node_init_array (json_node_alloc (), merged);
  g_main_context_invoke (weft_engine_get_main_context (r->server->engine),
                         weft_store_read_reply, r);
}

static void
weft_server_store_work_run (gpointer data, gpointer user_data)
{
  WeftServerStoreWork *work = data;

  work->run (work);
}

void
weft_server_push_store_work (WeftServer *server, WeftServerStoreWork *work)
{
  if (server->store_pool == NULL)
    server->store_pool = g_thread_pool_new (weft_server_store_work_run, NULL, 1, FALSE, NULL);
  g_thread_pool_push (server->store_pool, work, NULL);
}

static void
weft_server_read_stores (WeftServer *server, WeftStoreRead *r)
{
  r->work.run = weft_store_read_run;
  r->server = server;
  g_signal_connect (r->msg, "finished", G_CALLBACK (weft_store_read_on_finished), r);
  soup_server_message_pause (r->msg);
  weft_server_push_store_work (server, &r->work);
}

void
weft_server_handle_get_run (WeftServer *server, SoupServerMessage *msg, const char *arg,
                            GHashTable *query)
{
  const char *id = arg;
  WeftServerRun *rec = weft_server_lookup (server, id);

  if (rec && rec->finished)
    {
      /* A finished run no longer changes: its body is made once. */
      if (rec->reply == NULL)
        {
          g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
          json_node_take_object (node, weft_server_run_to_json (rec, TRUE));
          rec->reply = weft_server_json_bytes (node);
        }
      weft_server_reply_bytes (msg, SOUP_STATUS_OK, rec->reply);
      return;
    }
  if (rec)
    {
      weft_server_reply_object (msg, SOUP_STATUS_OK, weft_server_run_to_json (rec, TRUE));
      return;
    }
  if (server->stores->len == 0)
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "no run \"%s\" (finished runs are "
                               "kept %u s, %u at most, and no store is configured)", id,
                               server->keep_s, server->keep_runs);
      return;
    }
  weft_server_read_stores (server, weft_store_read_new (msg, id));
}

void
weft_server_read_stored_run (WeftServer *server, SoupServerMessage *msg, const char *id,
                             WeftServerStoredFunc func)
{
  WeftStoreRead *r = weft_store_read_new (msg, id);

  r->func = func;
  weft_server_read_stores (server, r);
}

void
weft_server_stream_stored_run (WeftServer *server, SoupServerMessage *msg, const char *id,
                               guint64 after)
{
  WeftStoreRead *r = weft_store_read_new (msg, id);

  r->events = TRUE;
  r->after = after;
  weft_server_read_stores (server, r);
}

void
weft_server_handle_stored_task (WeftServer *server, SoupServerMessage *msg, const char *id)
{
  WeftStoreRead *r = weft_store_read_new (msg, id);

  r->as_task = TRUE;
  weft_server_read_stores (server, r);
}

gboolean
weft_server_parse_limit (SoupServerMessage *msg, GHashTable *query, guint *limit)
{
  const char *text = query ? g_hash_table_lookup (query, "limit") : NULL;
  guint64 value = WEFT_SERVER_LIST_LIMIT_DEFAULT;

  if (text && !g_ascii_string_to_unsigned (text, 10, 1, WEFT_SERVER_LIST_LIMIT_MAX, &value, NULL))
    {
      g_autofree char *shown = weft_message_quote (text, 40);
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "limit must be a number from 1 to %u, not %s",
                               WEFT_SERVER_LIST_LIMIT_MAX, shown);
      return FALSE;
    }
  *limit = (guint) value;
  return TRUE;
}

void
weft_server_read_stored_threads (WeftServer *server, SoupServerMessage *msg, guint limit,
                                 WeftServerListFunc func)
{
  WeftStoreRead *r = g_new0 (WeftStoreRead, 1);

  r->msg = g_object_ref (msg);
  r->limit = limit;
  r->store_limit = limit;
  r->list_func = func;
  weft_server_read_stores (server, r);
}

void
weft_server_handle_list_runs (WeftServer *server, SoupServerMessage *msg, const char *arg,
                              GHashTable *query)
{
  const char *status = query ? g_hash_table_lookup (query, "status") : NULL;
  const char *flow = query ? g_hash_table_lookup (query, "flow") : NULL;
  guint limit;
  static const char *const statuses[] = {
    "pending", "queued", "running", "completed", "failed", "cancelled", NULL
  };

  if (!weft_server_parse_limit (msg, query, &limit))
    return;
  if (status && !g_strv_contains (statuses, status))
    {
      g_autofree char *known = g_strjoinv (", ", (char **) statuses);
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "status must be one of %s, not \"%s\"", known, status);
      return;
    }
  weft_server_evict (server);
  if (server->stores->len == 0)
    {
      weft_server_reply_list (server, msg, NULL, limit, status, flow);
      return;
    }
  WeftStoreRead *r = weft_store_read_new (msg, NULL);
  r->limit = (guint) limit;
  /* Stores only know "the newest N": with a filter, look as far back as
   * a list may, and filter that. */
  r->store_limit = status || flow ? WEFT_SERVER_LIST_LIMIT_MAX : limit;
  r->status = g_strdup (status);
  r->flow = g_strdup (flow);
  weft_server_read_stores (server, r);
}
