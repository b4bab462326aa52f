/* weft-server-threads.c — threads (conversations) over HTTP: POST
 * /v1/threads, GET /v1/threads and /v1/threads/{id}, DELETE
 * /v1/threads/{id}, POST /v1/threads/{id}/messages and /cancel, GET
 * /v1/threads/{id}/events (server-sent events).
 *
 * On the engine loop.  A thread is the engine's (weft-thread*.c); the
 * server keeps a record of each thread it made: the thread, its recent
 * events for replay (Last-Event-ID) and the streams watching it.  A
 * thread a store keeps is reopened when asked for by id (its process
 * ended): the store is read on the stores' thread (weft-server-stored.c),
 * the request paused meanwhile and handled again once the thread is in
 * memory; a second request for it meanwhile waits for the same read, so
 * that one thread comes of it.  A thread deleted lately is not reopened
 * (nor listed) while its store may not have written so yet.  A thread's
 * background runs (an agent, a flow) are kicked off through the server's
 * run records, so that they show in /v1/runs with their events like any
 * run.  Streamed chunks (thread.step) go to the streams open at the time
 * and are not kept for replay: the message they make up is. */
#include "weft-server-private.h"
#include "weft-thread-private.h"

/* The events a record keeps for replay, most recent last. */
#define WEFT_SERVER_THREAD_EVENTS 1000
/* The threads deleted lately that a store may not have marked deleted yet
 * (its writes are its own thread's): never reopened. */
#define WEFT_SERVER_THREADS_DELETED 4096

struct _WeftServerThread {
  WeftServer *server;
  WeftThread *thread;         /* a reference */
  GPtrArray *events;          /* WeftEvent* (references) */
  GPtrArray *watchers;        /* SoupServerMessage* */
};

/* ---- records ----------------------------------------------------------------------- */

static void
weft_server_thread_close_watchers (WeftServerThread *rec)
{
  while (rec->watchers->len > 0)
    {
      SoupServerMessage *msg = g_ptr_array_steal_index (rec->watchers, rec->watchers->len - 1);
      g_signal_handlers_disconnect_by_data (msg, rec);
      g_hash_table_remove (rec->server->thread_watchers, msg);
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      soup_server_message_unpause (msg);
    }
}

static void
weft_server_thread_free (WeftServerThread *rec)
{
  weft_server_thread_close_watchers (rec);
  g_ptr_array_unref (rec->watchers);
  g_ptr_array_unref (rec->events);
  weft_thread_unref (rec->thread);
  g_free (rec);
}

static WeftServerThread *
weft_server_thread_record (WeftServer *server, WeftThread *thread)
{
  WeftServerThread *rec = g_new0 (WeftServerThread, 1);

  rec->server = server;
  rec->thread = thread;
  rec->events = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_event_unref);
  rec->watchers = g_ptr_array_new ();
  g_hash_table_insert (server->threads, (char *) weft_thread_get_id (thread), rec);
  return rec;
}

void
weft_server_threads_init (WeftServer *server)
{
  server->threads = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) weft_server_thread_free);
  /* A read owns itself: it is taken out of the table when it ends. */
  server->thread_loads = g_hash_table_new (g_str_hash, g_str_equal);
  server->threads_deleted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
weft_server_threads_clear (WeftServer *server)
{
  g_clear_pointer (&server->threads, g_hash_table_unref);
  g_clear_pointer (&server->thread_loads, g_hash_table_unref);
  g_queue_clear (&server->threads_deleted_order);
  g_clear_pointer (&server->threads_deleted, g_hash_table_unref);
}

static void
weft_server_thread_deleted (WeftServer *server, const char *id)
{
  if (g_hash_table_contains (server->threads_deleted, id))
    return;
  if (server->threads_deleted_order.length == WEFT_SERVER_THREADS_DELETED)
    g_hash_table_remove (server->threads_deleted,
                         g_queue_pop_head (&server->threads_deleted_order));
  char *kept = g_strdup (id);
  g_hash_table_add (server->threads_deleted, kept);
  g_queue_push_tail (&server->threads_deleted_order, kept);
}

void
weft_server_threads_close_streams (WeftServer *server)
{
  GHashTableIter iter;
  gpointer rec;

  g_hash_table_iter_init (&iter, server->threads);
  while (g_hash_table_iter_next (&iter, NULL, &rec))
    weft_server_thread_close_watchers (rec);
}

void
weft_server_threads_on_event (const WeftEvent *event, gpointer data)
{
  WeftServer *server = data;
  const char *id = weft_event_get_thread_id (event);
  WeftServerThread *rec = id && server->threads ? g_hash_table_lookup (server->threads, id) : NULL;
  WeftEventType type = weft_event_get_event_type (event);

  if (type == WEFT_EVENT_THREAD_DELETED && server->threads)
    weft_server_thread_deleted (server, id);
  if (rec == NULL)
    return;
  if (type != WEFT_EVENT_THREAD_STEP)
    {
      if (rec->events->len == WEFT_SERVER_THREAD_EVENTS)
        g_ptr_array_remove_index (rec->events, 0);
      g_ptr_array_add (rec->events, weft_event_ref ((WeftEvent *) event));
    }
  if (rec->watchers->len > 0)
    {
      g_autoptr(GBytes) frame = weft_server_event_frame (event, weft_event_get_seq (event));
      for (guint i = 0; i < rec->watchers->len; i++)
        {
          SoupServerMessage *watcher = rec->watchers->pdata[i];
          soup_message_body_append_bytes (soup_server_message_get_response_body (watcher), frame);
          soup_server_message_unpause (watcher);
        }
    }
  if (type == WEFT_EVENT_THREAD_DELETED)
    g_hash_table_remove (server->threads, id);
}

/* ---- a thread's background runs are the server's runs --------------------------------- */

static void
weft_server_thread_kickoff (WeftRun *run, GCancellable *cancellable, WeftRunDoneFunc done,
                            gpointer done_data, gpointer data)
{
  WeftServerRun *rec = weft_server_run_new (data, weft_run_ref (run));

  g_set_object (&rec->cancellable, cancellable);
  rec->then = done;
  rec->then_data = done_data;
  weft_server_run_kickoff (rec);
}

static WeftFlow *
weft_server_thread_find_flow (const char *name, gpointer data)
{
  return g_hash_table_lookup (((WeftServer *) data)->flows, name);
}

/* ---- the handlers -------------------------------------------------------------------- */

/* The settings a request gives: its "options", with "agent" and
 * "strategy" over them. */
static JsonObject *
weft_server_thread_settings (SoupServerMessage *msg, JsonObject *body)
{
  JsonNode *options = json_object_get_member (body, "options");
  g_autoptr(JsonObject) settings = json_object_new ();

  if (options != NULL && !JSON_NODE_HOLDS_OBJECT (options))
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST,
                               "\"options\" must be an object, not %s",
                               weft_json_describe (options));
      return NULL;
    }
  if (options != NULL)
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *value;
      json_object_iter_init (&iter, json_node_get_object (options));
      while (json_object_iter_next (&iter, &key, &value))
        json_object_set_member (settings, key, json_node_copy (value));
    }
  static const char *const members[] = { "agent", "strategy" };
  for (guint i = 0; i < G_N_ELEMENTS (members); i++)
    if (json_object_has_member (body, members[i]))
      json_object_set_member (settings, members[i],
                              json_node_copy (json_object_get_member (body, members[i])));
  return g_steal_pointer (&settings);
}

void
weft_server_handle_create_thread (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                  GHashTable *query)
{
  static const char *const allowed[] = { "flow", "agent", "strategy", "options", NULL };
  g_autoptr(JsonObject) body = weft_server_read_object (server, msg, allowed);
  g_autoptr(JsonObject) settings = NULL;
  g_autoptr(GError) error = NULL;
  const char *flow_name;
  WeftFlow *flow;

  if (body == NULL
      || !(flow_name = weft_server_get_string (msg, body, "flow",
                                               g_hash_table_size (server->flows) != 1))
      || !(flow = weft_server_find_flow_or_only (server, msg, flow_name))
      || !(settings = weft_server_thread_settings (msg, body)))
    return;
  if (server->stopping)
    {
      weft_server_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
      return;
    }
  WeftThread *thread = weft_thread_new_full (flow, settings, NULL, weft_server_thread_find_flow,
                                             server, weft_server_thread_kickoff, server, &error);
  if (thread == NULL)
    {
      weft_server_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "%s", error->message);
      return;
    }
  weft_server_thread_record (server, thread);
  /* A new id: no other thread has it. */
  weft_thread_start (weft_thread_ref (thread));
  weft_thread_unref (thread);

  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "thread_id", weft_thread_get_id (thread));
  json_object_set_string_member (o, "flow", weft_flow_get_name (flow));
  json_object_set_string_member (o, "agent", thread->agent->name);
  weft_server_reply_object (msg, SOUP_STATUS_CREATED, o);
}

/* ---- a stored thread reopened: read off the loop ------------------------------------ */

/* A request waiting for a stored thread to be read. */
typedef struct {
  SoupServerMessage *msg;     /* a reference; paused meanwhile */
  WeftServerHandler handler;  /* called again once the thread is in memory */
  GHashTable *query;          /* a reference, or NULL */
  gboolean gone;              /* the client went away */
} WeftThreadWaiter;

/* The read of stored thread `id`, for every request that asked meanwhile. */
typedef struct {
  WeftServerStoreWork work;   /* first: the stores' thread calls work.run */
  WeftServer *server;
  char *id;
  GPtrArray *waiters;         /* WeftThreadWaiter* */
  JsonNode *stored;           /* the first store's that keeps it, or NULL */
  char *error;                /* a store could not be read */
} WeftThreadLoad;

static void
weft_thread_waiter_on_finished (SoupServerMessage *msg, gpointer data)
{
  ((WeftThreadWaiter *) data)->gone = TRUE;
}

static void
weft_thread_waiter_free (WeftThreadWaiter *w)
{
  g_signal_handlers_disconnect_by_data (w->msg, w);
  g_object_unref (w->msg);
  g_clear_pointer (&w->query, g_hash_table_unref);
  g_free (w);
}

static void
weft_thread_load_free (WeftThreadLoad *load)
{
  g_ptr_array_unref (load->waiters);
  g_clear_pointer (&load->stored, json_node_unref);
  g_free (load->error);
  g_free (load->id);
  g_free (load);
}

/* On the loop: the stored thread made this server's, started; NULL when
 * no served flow can continue it. */
static WeftThread *
weft_server_open_loaded (WeftServer *server, WeftThreadLoad *load)
{
  JsonObject *o = json_node_get_object (load->stored);
  const char *flow = json_object_get_string_member_with_default (o, "flow", "");
  WeftFlow *owner = g_hash_table_lookup (server->flows, flow);
  g_autoptr(GError) error = NULL;

  if (owner == NULL)
    {
      g_warning ("cannot reopen thread %s: its flow \"%s\" is not served", load->id, flow);
      return NULL;
    }
  WeftThread *thread = weft_thread_open_stored (owner, o, weft_server_thread_find_flow, server,
                                                weft_server_thread_kickoff, server, &error);
  if (thread == NULL)
    {
      g_warning ("cannot reopen thread %s: %s", load->id, error->message);
      return NULL;
    }
  /* The engine's own thread of that id, if it has one already. */
  thread = weft_thread_start (thread);
  if (!g_hash_table_contains (server->threads, weft_thread_get_id (thread)))
    weft_server_thread_record (server, weft_thread_ref (thread));
  return thread;
}

/* Back on the loop: the thread is in memory and each request is handled
 * again, or each gets the 404 (or the store's failure). */
static gboolean
weft_thread_load_done (gpointer data)
{
  WeftThreadLoad *load = data;
  WeftServer *server = load->server;

  g_hash_table_remove (server->thread_loads, load->id);
  g_autoptr(WeftThread) thread = load->stored && !server->stopping
                                 && !g_hash_table_contains (server->threads_deleted, load->id)
                                 ? weft_server_open_loaded (server, load) : NULL;
  g_autofree char *shown = weft_message_quote (load->id, 64);

  for (guint i = 0; i < load->waiters->len; i++)
    {
      WeftThreadWaiter *w = load->waiters->pdata[i];
      if (w->gone)
        continue;
      /* Unpaused first: the reply is written on a later turn of the loop
       * either way, and a handler may pause the message again. */
      soup_server_message_unpause (w->msg);
      if (thread)
        w->handler (server, w->msg, load->id, w->query);
      else if (server->stopping)
        weft_server_reply_error (w->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
      else if (load->stored == NULL && load->error)
        weft_server_reply_error (w->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", load->error);
      else
        weft_server_reply_error (w->msg, SOUP_STATUS_NOT_FOUND, "no thread %s", shown);
    }
  weft_thread_load_free (load);
  return G_SOURCE_REMOVE;
}

/* The stores' thread. */
static void
weft_thread_load_run (WeftServerStoreWork *work)
{
  WeftThreadLoad *load = (WeftThreadLoad *) work;

  load->stored = weft_server_stores_get (load->server, weft_store_get_thread, load->id,
                                         &load->error);
  g_main_context_invoke (weft_engine_get_main_context (load->server->engine),
                         weft_thread_load_done, load);
}

/* `msg` waits for stored thread `id` to be read (the read it joins, or a
 * new one), then `handler` handles it again. */
static void
weft_server_wait_for_thread (WeftServer *server, SoupServerMessage *msg, const char *id,
                             WeftServerHandler handler, GHashTable *query)
{
  WeftThreadLoad *load = g_hash_table_lookup (server->thread_loads, id);
  WeftThreadWaiter *w = g_new0 (WeftThreadWaiter, 1);

  w->msg = g_object_ref (msg);
  w->handler = handler;
  w->query = query ? g_hash_table_ref (query) : NULL;
  g_signal_connect (msg, "finished", G_CALLBACK (weft_thread_waiter_on_finished), w);
  soup_server_message_pause (msg);
  if (load != NULL)
    {
      g_ptr_array_add (load->waiters, w);
      return;
    }
  load = g_new0 (WeftThreadLoad, 1);
  load->work.run = weft_thread_load_run;
  load->server = server;
  load->id = g_strdup (id);
  load->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) weft_thread_waiter_free);
  g_ptr_array_add (load->waiters, w);
  g_hash_table_insert (server->thread_loads, load->id, load);
  weft_server_push_store_work (server, &load->work);
}

/* The engine's thread `id`, or NULL: after a 404, or with `msg` waiting
 * while the stores are read for it (then `handler` is called again). */
static WeftThread *
weft_server_lookup_thread (WeftServer *server, SoupServerMessage *msg, const char *id,
                           WeftServerHandler handler, GHashTable *query)
{
  WeftThread *thread = weft_engine_lookup_thread (server->engine, id);

  if (thread == NULL && !server->stopping && server->stores->len > 0
      && !g_hash_table_contains (server->threads_deleted, id))
    weft_server_wait_for_thread (server, msg, id, handler, query);
  else if (thread == NULL)
    {
      g_autofree char *shown = weft_message_quote (id, 64);
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "no thread %s", shown);
    }
  return thread;
}

void
weft_server_handle_thread (WeftServer *server, SoupServerMessage *msg, const char *arg,
                           GHashTable *query)
{
  g_autoptr(WeftThread) thread = weft_server_lookup_thread (server, msg, arg,
                                                            weft_server_handle_thread, query);

  if (thread != NULL)
    weft_server_reply_json (msg, SOUP_STATUS_OK, weft_thread_to_json (thread));
}

/* A stored thread a list shows (not one deleted lately): as one in memory
 * shows, idle, not loaded. */
static gboolean
weft_server_take_stored_thread (JsonObject *item, gpointer data)
{
  WeftServer *server = data;

  if (g_hash_table_contains (server->threads_deleted,
                             json_object_get_string_member (item, "thread_id")))
    return FALSE;
  json_object_remove_member (item, "deleted");
  json_object_set_boolean_member (item, "busy", FALSE);
  json_object_set_boolean_member (item, "loaded", FALSE);
  return TRUE;
}

/* The threads in memory (their live state), then the stored ones not
 * among them, newest first. */
static void
weft_server_reply_threads (WeftServer *server, SoupServerMessage *msg, JsonNode *stored,
                           guint limit)
{
  g_autoptr(JsonNode) live = weft_engine_list_threads (server->engine);
  JsonArray *a = json_node_get_array (live);
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      json_object_set_boolean_member (o, "loaded", TRUE);
      g_hash_table_add (seen, (char *) json_object_get_string_member (o, "thread_id"));
      g_ptr_array_add (items, json_object_ref (o));
    }
  JsonObject *o = json_object_new ();
  json_object_set_array_member (o, "threads",
                                weft_server_merge_list (items, seen, stored, "thread_id",
                                                        weft_server_take_stored_thread, server,
                                                        limit));
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}

void
weft_server_handle_threads (WeftServer *server, SoupServerMessage *msg, const char *arg,
                            GHashTable *query)
{
  guint limit;

  if (!weft_server_parse_limit (msg, query, &limit))
    return;
  if (server->stores->len == 0)
    weft_server_reply_threads (server, msg, NULL, limit);
  else
    weft_server_read_stored_threads (server, msg, limit, weft_server_reply_threads);
}

void
weft_server_handle_delete_thread (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                  GHashTable *query)
{
  g_autoptr(WeftThread) thread = weft_server_lookup_thread (server, msg, arg,
                                                            weft_server_handle_delete_thread,
                                                            query);

  if (thread == NULL)
    return;
  weft_thread_close (thread);
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "thread_id", weft_thread_get_id (thread));
  json_object_set_string_member (o, "status", "deleted");
  weft_server_reply_object (msg, SOUP_STATUS_OK, o);
}

void
weft_server_handle_post_message (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query)
{
  static const char *const allowed[] = { "content", NULL };
  g_autoptr(JsonObject) body = weft_server_read_object (server, msg, allowed);
  g_autoptr(WeftThread) thread = NULL;
  g_autoptr(GError) error = NULL;
  const char *content;

  if (body == NULL || !(content = weft_server_get_string (msg, body, "content", TRUE))
      || !(thread = weft_server_lookup_thread (server, msg, arg,
                                               weft_server_handle_post_message, query)))
    return;
  guint64 position = weft_thread_post (thread, content, &error);
  if (position == 0)
    {
      weft_server_reply_error (msg, error->code == WEFT_ERROR_BUSY ? SOUP_STATUS_CONFLICT
                                    : error->code == WEFT_ERROR_NOT_FOUND ? SOUP_STATUS_NOT_FOUND
                                    : SOUP_STATUS_BAD_REQUEST, "%s", error->message);
      return;
    }
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "thread_id", weft_thread_get_id (thread));
  json_object_set_int_member (o, "position", (gint64) position);
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, o);
}

/* Without a body: the turn in flight; with {"task_id"}: that background task. */
void
weft_server_handle_cancel_thread (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                  GHashTable *query)
{
  static const char *const allowed[] = { "task_id", NULL };
  g_autoptr(JsonObject) body = weft_server_read_object (server, msg, allowed);
  g_autoptr(WeftThread) thread = NULL;
  g_autoptr(GError) error = NULL;
  const char *task;

  if (body == NULL || !(task = weft_server_get_string (msg, body, "task_id", FALSE))
      || !(thread = weft_server_lookup_thread (server, msg, arg,
                                               weft_server_handle_cancel_thread, query)))
    return;
  if (*task == '\0')
    weft_thread_cancel_turn (thread);
  else if (!weft_thread_cancel_task (thread, task, &error))
    {
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND, "%s", error->message);
      return;
    }
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "thread_id", weft_thread_get_id (thread));
  if (*task)
    json_object_set_string_member (o, "task_id", task);
  json_object_set_string_member (o, "status", "cancelling");
  weft_server_reply_object (msg, SOUP_STATUS_ACCEPTED, o);
}

static void
weft_server_thread_watcher_finished (SoupServerMessage *msg, gpointer data)
{
  WeftServerThread *rec = data;

  g_signal_handlers_disconnect_by_data (msg, rec);
  g_ptr_array_remove (rec->watchers, msg);
  g_hash_table_remove (rec->server->thread_watchers, msg);
}

void
weft_server_handle_thread_events (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                  GHashTable *query)
{
  WeftServerThread *rec = g_hash_table_lookup (server->threads, arg);
  gboolean given;
  guint64 after = 0;

  /* A thread the engine keeps gets its record here; one a store keeps is
   * reopened (its record made) first. */
  if (rec == NULL)
    {
      WeftThread *live = weft_engine_lookup_thread (server->engine, arg);
      if (live != NULL)
        rec = weft_server_thread_record (server, live);
      else if (!server->stopping && server->stores->len > 0
               && !g_hash_table_contains (server->threads_deleted, arg))
        {
          weft_server_wait_for_thread (server, msg, arg, weft_server_handle_thread_events, query);
          return;
        }
    }
  if (rec == NULL)
    {
      g_autofree char *shown = weft_message_quote (arg, 64);
      weft_server_reply_error (msg, SOUP_STATUS_NOT_FOUND,
                               "no thread %s made by this server (its events are streamed "
                               "while it lives)", shown);
      return;
    }
  if (!weft_server_parse_last_event_id (msg, query, &given, &after))
    return;
  weft_server_stream_start (server, msg);
  weft_server_stream_replay (msg, rec->events, after);
  if (server->stopping)
    {
      soup_message_body_complete (soup_server_message_get_response_body (msg));
      return;
    }
  g_ptr_array_add (rec->watchers, msg);
  g_hash_table_add (server->thread_watchers, msg);
  g_signal_connect (msg, "finished", G_CALLBACK (weft_server_thread_watcher_finished), rec);
}
