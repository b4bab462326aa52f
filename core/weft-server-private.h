/* weft-server-private.h — what the parts of the HTTP server share (never
 * installed; nothing outside core/weft-server*.c includes it).
 *
 * The server, its requests and its runs:
 *
 *   weft-server.c          weft.h's WeftServer: new, flows and stores, listen, stop, free
 *   weft-server-routes.c   the route table and the SoupServer handler (404, 405)
 *   weft-server-dashboard.c GET / and /ui/{file}: the dashboard, from a GResource
 *   weft-server-graph.c    GET /v1/flows/{flow}/graph.svg: Graphviz's layout, kept
 *   weft-server-flows.c    GET /v1/flows, /v1/flows/{flow}, /v1/plugins, /healthz
 *   weft-server-tasks.c    /v1/tasks: background tasks (create, check, cancel, list)
 *   weft-server-replay.c   POST /v1/runs/{id}/replay: a run again from one of its tasks
 *   weft-server-kickoff.c  POST /v1/flows/{flow}/runs and /batch: new runs from requests
 *   weft-server-threads.c  /v1/threads: threads (conversations), their messages, their events
 *   weft-server-runs.c     the run records: start and end (batches), cancel, their JSON
 *   weft-server-stored.c   GET /v1/runs and /v1/runs/{id}: memory, then the stores' thread
 *   weft-server-events.c   GET /v1/runs/{id}/events: a run's SSE stream, the heartbeat
 *   weft-server-feed.c     GET /v1/events: every run's events, one SSE stream; framing
 *   weft-server-reply.c    admission from the head (401, 413), JSON bodies and replies
 *
 * Its connections (libsoup parses, routes and writes; weft owns the
 * sockets and what libsoup reads and writes on them):
 *
 *   weft-server-accept.c   the listening socket: accepting, the connection cap, back-off
 *   weft-server-conn.c     one connection: deadlines, refusals with a lingering close
 *   weft-server-input.c    what libsoup reads: HTTP/1.1 framing, request by request
 *   weft-server-head.c     a request head, checked line by line (400, 417, 501, 505)
 *   weft-server-chunked.c  a chunked body, checked byte by byte (400, 413)
 *   weft-server-output.c   what libsoup writes: the send-stall deadline
 *
 * Each file calls only those below it in its list, and the first list may
 * call the second (the connections know no request's meaning).  Calls
 * back up go through what the caller handed down: accepting passes a
 * connection the function to call when it closes, a connection passes its
 * input and output a table of what they tell it.
 *
 * Everything in the server runs on the engine loop: the SoupServer is
 * attached to the engine's main context, so handlers read and change run
 * state without locks.  Only new/listen/stop/free are called from other
 * threads, and they hop onto the loop. */
#pragma once

#include "weft-private.h"
#include "weft-chunked.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _WeftServerRun WeftServerRun;
typedef struct _WeftServerBatch WeftServerBatch;
typedef struct _WeftServerFeed WeftServerFeed;

/* 431, which libsoup 3.2 does not name. */
#define WEFT_SERVER_STATUS_HEADERS_TOO_LARGE 431

/* What a connection's requests may be. */
typedef struct {
  guint64 max_body;
  guint max_url;
  guint max_headers;
} WeftServerLimits;

struct _WeftServer {
  WeftEngine *engine;
  SoupServer *soup;           /* made and used on the loop */
  GSocket *listener;          /* ours: libsoup 3.2's own listener leaks each
                               * socket it accepts */
  GSource *accept_source;     /* NULL while accepting is paused */
  GSocket *parked;            /* see weft_server_park_listener */
  guint port;
  char *token;                /* NULL: no Authorization needed */
  WeftServerLimits limits;
  guint keep_runs;
  guint keep_s;
  guint max_runs;
  guint header_timeout_s;
  guint body_timeout_s;
  guint idle_timeout_s;
  guint write_timeout_s;
  guint max_connections;
  guint accept_backoff_ms;
  GHashTable *flows;          /* name → WeftFlow* (a reference) */
  GPtrArray *stores;          /* WeftStore*, owned: where older runs are read */
  WeftStore *queue;           /* one of them, or NULL: where kickoffs go */
  GThreadPool *store_pool;    /* one thread: store reads never block the loop */
  guint listener_id;
  guint thread_listener_id;

  /* Loop only. */
  GHashTable *runs;           /* id → WeftServerRun* (owned) */
  GQueue finished;            /* WeftServerRun*, oldest first */
  GSource *heartbeat;         /* keeps open event streams talking */
  GHashTable *streams;        /* SoupServerMessage*: event streams not yet sent in full */
  WeftServerFeed *feed;       /* GET /v1/events (weft-server-feed.c) */
  GHashTable *graphs;         /* flow name → GBytes: its SVG, once drawn */
  GHashTable *drawing;        /* flow name → its drawing being made (weft-server-graph.c) */
  GHashTable *thread_watchers; /* SoupServerMessage*: the streams watching a thread */
  GHashTable *threads;        /* id → WeftServerThread* (owned): the threads it made */
  GHashTable *thread_loads;   /* id → the read of a stored thread in flight, and who waits */
  GHashTable *threads_deleted; /* ids of threads deleted lately (owned), oldest first in: */
  GQueue threads_deleted_order;
  guint n_live;               /* kicked off, not yet finished (queued included) */
  guint64 n_started;
  guint64 n_finished;
  gboolean stopping;

  /* Connections (weft-server-conn.c), loop only. */
  GHashTable *conns;          /* WeftServerConn*: open ones (not references) */
  GSource *backoff;           /* accepting paused after an accept error */
  gint64 accept_warned_us;    /* when accept errors were last logged */
  guint accept_errors;        /* since then */
};

/* ---- weft-server-routes.c: the route table ------------------------------------ */

/* The SoupServer handler: finds the request's route and calls it. */
void weft_server_handle (SoupServer *soup, SoupServerMessage *msg, const char *path,
                         GHashTable *query, gpointer data);
/* Route handlers: `arg` is the path's {flow} or {id}, `query` may be NULL. */
typedef void (*WeftServerHandler) (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                   GHashTable *query);

/* ---- weft-server-dashboard.c: the dashboard's page and files ---------------- */

void weft_server_handle_dashboard (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                   GHashTable *query);
void weft_server_handle_dashboard_file (WeftServer *server, SoupServerMessage *msg,
                                        const char *arg, GHashTable *query);

/* ---- weft-server-graph.c: a flow's graph as SVG ------------------------------- */

void weft_server_graphs_init (WeftServer *server);
/* Forgets the drawings made; those being made are given up. */
void weft_server_graphs_clear (WeftServer *server);
void weft_server_handle_graph (WeftServer *server, SoupServerMessage *msg, const char *arg,
                               GHashTable *query);

/* ---- weft-server-flows.c: flows, plugins, health ---------------------------- */

/* The flow named `name`, or NULL after a 404 that lists the flows. */
WeftFlow *weft_server_find_flow (WeftServer *server, SoupServerMessage *msg, const char *name);
/* The same, "" naming the only flow served (the caller made "" mean that
 * only when one is). */
WeftFlow *weft_server_find_flow_or_only (WeftServer *server, SoupServerMessage *msg,
                                         const char *name);
void weft_server_handle_flows (WeftServer *server, SoupServerMessage *msg, const char *arg,
                               GHashTable *query);
void weft_server_handle_flow (WeftServer *server, SoupServerMessage *msg, const char *arg,
                              GHashTable *query);
void weft_server_handle_plugins (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);
void weft_server_handle_health (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query);

/* ---- weft-server-tasks.c: background tasks ----------------------------------- */

void weft_server_handle_create_task (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                     GHashTable *query);
void weft_server_handle_task (WeftServer *server, SoupServerMessage *msg, const char *arg,
                              GHashTable *query);
void weft_server_handle_cancel_task (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                     GHashTable *query);
void weft_server_handle_tasks (WeftServer *server, SoupServerMessage *msg, const char *arg,
                               GHashTable *query);

/* ---- weft-server-replay.c: a run again, from one of its tasks ---------------- */

void weft_server_handle_replay (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query);

/* ---- weft-server-kickoff.c: new runs from requests --------------------------- */

/* Refuses `n` more runs (503) when stopping, or when they would take the
 * runs in flight past the limit; TRUE when it did. */
gboolean weft_server_refuse_runs (WeftServer *server, SoupServerMessage *msg, guint n);
/* A run of `flow` with `inputs` (a JSON object, or NULL) and the outputs
 * of `completed` tasks reused (may be NULL), not yet started; or NULL
 * after a 4xx reply naming what is wrong (`where` says which inputs). */
WeftRun *weft_server_new_run (SoupServerMessage *msg, WeftFlow *flow, JsonNode *inputs,
                              JsonObject *completed, const char *where);
/* Keeps `run` (taken) and starts it, with the reply's Location; returns
 * the reply's body, {"run_id", "status"}, for the caller to add to. */
JsonObject *weft_server_start_run (WeftServer *server, SoupServerMessage *msg, WeftRun *run);

void weft_server_handle_kickoff (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);
void weft_server_handle_batch (WeftServer *server, SoupServerMessage *msg, const char *arg,
                               GHashTable *query);

/* ---- weft-server-threads.c: threads ------------------------------------------ */

typedef struct _WeftServerThread WeftServerThread;

void weft_server_threads_init (WeftServer *server);
void weft_server_threads_clear (WeftServer *server);
/* Ends every thread's event stream (the server stops). */
void weft_server_threads_close_streams (WeftServer *server);
/* The engine listener for thread events, on the loop. */
void weft_server_threads_on_event (const WeftEvent *event, gpointer data);
void weft_server_handle_create_thread (WeftServer *server, SoupServerMessage *msg,
                                       const char *arg, GHashTable *query);
void weft_server_handle_threads (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);
void weft_server_handle_thread (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query);
void weft_server_handle_delete_thread (WeftServer *server, SoupServerMessage *msg,
                                       const char *arg, GHashTable *query);
void weft_server_handle_post_message (WeftServer *server, SoupServerMessage *msg,
                                      const char *arg, GHashTable *query);
void weft_server_handle_cancel_thread (WeftServer *server, SoupServerMessage *msg,
                                       const char *arg, GHashTable *query);
void weft_server_handle_thread_events (WeftServer *server, SoupServerMessage *msg,
                                       const char *arg, GHashTable *query);

/* ---- weft-server-runs.c: the runs the server started ------------------------- */

/* The server's record of a run it started: read by the event streams
 * (weft-server-events.c) and the reads (weft-server-stored.c) as well. */
struct _WeftServerBatch {
  gint ref_count;
  guint max_parallel;
  guint running;
  GQueue queued;              /* WeftServerRun*, not yet kicked off */
};

struct _WeftServerRun {
  WeftServer *server;
  WeftRun *run;               /* a reference; its state belongs to the loop */
  GCancellable *cancellable;
  GPtrArray *events;          /* WeftEvent* (references), in order: framed
                               * only when someone watches */
  GBytes *reply;              /* once finished: GET's body, made once */
  GPtrArray *watchers;        /* SoupServerMessage* streaming the events */
  WeftServerBatch *batch;     /* a reference while queued or running in a batch */
  WeftRunDoneFunc then;       /* a thread's background run: told of its end too */
  gpointer then_data;
  gboolean kicked_off;
  gboolean finished;
  gint64 finished_wall_us;
};

void weft_server_runs_init (WeftServer *server);
void weft_server_runs_clear (WeftServer *server);
/* A record for `run` (taken), counted in flight; kicked off later. */
WeftServerRun *weft_server_run_new (WeftServer *server, WeftRun *run);
void weft_server_run_kickoff (WeftServerRun *rec);
/* Kicks off queued runs of the batch while fewer than max_parallel run. */
void weft_server_batch_pump (WeftServerBatch *batch);
void weft_server_batch_unref (WeftServerBatch *batch);
/* Forgets finished runs beyond the number or the age kept. */
void weft_server_evict (WeftServer *server);
/* The record of run `id`, once finished runs past their count or age are
 * forgotten; NULL when there is none. */
WeftServerRun *weft_server_lookup (WeftServer *server, const char *id);
/* Ends every event stream of the run: the client sees the body end. */
void weft_server_run_close_watchers (WeftServerRun *rec);
/* The shape a store gives (docs/store.md), plus outputs and timings;
 * `full` adds inputs, outputs and tasks. */
JsonObject *weft_server_run_to_json (WeftServerRun *rec, gboolean full);

/* Cancels every run the server started that has not finished, queued
 * ones of a batch included. */
void weft_server_cancel_all (WeftServer *server);

void weft_server_handle_cancel_run (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                    GHashTable *query);

/* ---- weft-server-stored.c: reading runs, from memory then the stores ----------- */

/* Work for the stores' thread, one piece at a time (a store may block on
 * a disk or a database; the loop never waits for one): `run` is called
 * there and hops back to the loop itself.  A piece embeds this first. */
typedef struct _WeftServerStoreWork WeftServerStoreWork;
struct _WeftServerStoreWork {
  void (*run) (WeftServerStoreWork *work);
};
void weft_server_push_store_work (WeftServer *server, WeftServerStoreWork *work);

void weft_server_handle_get_run (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);
void weft_server_handle_list_runs (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                   GHashTable *query);
/* A background task no longer in memory, from the stores. */
void weft_server_handle_stored_task (WeftServer *server, SoupServerMessage *msg, const char *id);
/* Given, on the loop, the run `id` as a store gives it (NULL when no store
 * has it, with `error` when one could not be read); replies to `msg`. */
typedef void (*WeftServerStoredFunc) (WeftServer *server, SoupServerMessage *msg, const char *id,
                                      JsonObject *run, const char *error);
/* Reads run `id` from the stores, `msg` paused meanwhile, for `func`. */
void weft_server_read_stored_run (WeftServer *server, SoupServerMessage *msg, const char *id,
                                  WeftServerStoredFunc func);
/* GET /v1/runs/{id}/events of a run not in memory: its stored events after
 * `after`, and the stream's end (404 when no store gives them). */
void weft_server_stream_stored_run (WeftServer *server, SoupServerMessage *msg, const char *id,
                                    guint64 after);
/* Stores' thread: the first answer of the server's stores to `get` (a
 * store's get_run or get_thread) for `id` that is an object; NULL when
 * none has it (a store that could not be read is logged, and `*error`, when
 * still NULL, says so). */
typedef JsonNode *(*WeftServerStoreGet) (WeftStore *store, const char *id, GError **error);
JsonNode *weft_server_stores_get (WeftServer *server, WeftServerStoreGet get, const char *id,
                                  char **error);
/* The `limit` query parameter of a list (1 to 1000, 100 when not given);
 * FALSE after a 400. */
gboolean weft_server_parse_limit (SoupServerMessage *msg, GHashTable *query, guint *limit);
/* Whether a list shows a stored item (it may trim it first). */
typedef gboolean (*WeftServerTakeFunc) (JsonObject *item, gpointer data);
/* A list: `items` (JsonObject*, the ones in memory, their ids in `seen`)
 * with those of `stored` (the array the stores listed, or NULL) whose
 * `id_key` is not seen and that `take` takes; newest first (started, else
 * created), the first `limit`. */
JsonArray *weft_server_merge_list (GPtrArray *items, GHashTable *seen, JsonNode *stored,
                                   const char *id_key, WeftServerTakeFunc take,
                                   gpointer take_data, guint limit);
/* Given, on the loop, the threads the stores list (an array, each store's
 * newest `limit`; a store that could not be read left out); replies. */
typedef void (*WeftServerListFunc) (WeftServer *server, SoupServerMessage *msg, JsonNode *stored,
                                    guint limit);
/* Lists the stores' threads, `msg` paused meanwhile, for `func`. */
void weft_server_read_stored_threads (WeftServer *server, SoupServerMessage *msg, guint limit,
                                      WeftServerListFunc func);

/* ---- weft-server-queue.c: kickoffs to a store's queue, its workers --------------- */

/* With a queue (weft_server_set_queue), POST /v1/flows/{flow}/runs and
 * /batch queue the runs there instead of running them here: `inputs` is
 * one inputs object per run (NULL for the flow's own), checked already. */
void weft_server_enqueue (WeftServer *server, SoupServerMessage *msg, WeftFlow *flow,
                          GPtrArray *inputs, gboolean batch);
void weft_server_handle_workers (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);

/* ---- weft-server-events.c: a run's events as a stream (SSE) ------------------- */

/* The open streams and the heartbeat that keeps them talking. */
void weft_server_streams_init (WeftServer *server);
/* Forgets the event streams still open (their connections are about to
 * close). */
void weft_server_streams_clear (WeftServer *server);
/* The engine listener: every event of every run, on the loop. */
void weft_server_on_event (const WeftEvent *event, gpointer data);
/* What a thread's event stream shares with a run's (the frames, the
 * start and Last-Event-ID are weft-server-feed.c's): a comment that keeps
 * the connection talking. */
void     weft_server_stream_keep_alive (SoupServerMessage *msg);
/* Appends the frames of `events` (WeftEvent*) whose seq is above `after`. */
void     weft_server_stream_replay (SoupServerMessage *msg, GPtrArray *events, guint64 after);
void weft_server_handle_events (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query);

/* ---- weft-server-feed.c: every run's events, one stream; SSE framing ---------- */

/* `event` as an SSE frame whose id is `id` (its seq, or a feed id). */
GBytes *weft_server_event_frame (const WeftEvent *event, guint64 id);
GBytes *weft_server_json_event_frame (JsonNode *event);
/* Answers `msg` with an event stream (200, text/event-stream, chunked)
 * counted among the open streams until it is sent in full. */
void weft_server_stream_start (WeftServer *server, SoupServerMessage *msg);
/* Appends a frame to an open stream. */
void weft_server_stream_append (SoupServerMessage *msg, GBytes *frame);
/* Last-Event-ID (or ?last_event_id=): *given says whether there is one,
 * *after is it (0 when not); FALSE after a 400 when it is not a number. */
gboolean weft_server_parse_last_event_id (SoupServerMessage *msg, GHashTable *query,
                                          gboolean *given, guint64 *after);
void weft_server_feed_init (WeftServer *server);
void weft_server_feed_clear (WeftServer *server);
/* Gives `event` a feed id, keeps it, and sends it to the feed's streams. */
void weft_server_feed_publish (WeftServer *server, const WeftEvent *event);
/* A comment line on each of the feed's streams. */
void weft_server_feed_heartbeat (WeftServer *server);
/* Ends the feed's streams (the server stops); new ones get 503. */
void weft_server_feed_end (WeftServer *server);
void weft_server_handle_feed (WeftServer *server, SoupServerMessage *msg, const char *arg,
                              GHashTable *query);

/* ---- weft-server-reply.c: admission, replies, request bodies ----------------- */

/* An error's JSON body, {"status": N, "error": MESSAGE}: the message made
 * valid UTF-8, every word of it cut to a readable length (an echoed id or
 * path may be anything) and the whole bounded. */
GBytes *weft_server_error_bytes (guint status, const char *message);
/* Before the body: 401, 413, and OPTIONS * answered as an error; FALSE
 * with the error reply set when the request is refused.  Also gives an
 * error that libsoup set without a body (a path that does not decode) the
 * JSON shape. */
gboolean weft_server_admit (WeftServer *server, SoupServerMessage *msg);
/* Sets `status` and a JSON body; takes `node`. */
void weft_server_reply_json (SoupServerMessage *msg, guint status, JsonNode *node);
void weft_server_reply_object (SoupServerMessage *msg, guint status, JsonObject *object);
/* `node` as JSON text (the node is not taken). */
GBytes *weft_server_json_bytes (JsonNode *node);
/* A JSON body already serialized (a reference is taken). */
void weft_server_reply_bytes (SoupServerMessage *msg, guint status, GBytes *json);
/* {"status": N, "error": MESSAGE} */
void weft_server_reply_error (SoupServerMessage *msg, guint status, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* The request body parsed as a JSON object whose members are all in
 * `allowed`; on failure replies 400 itself and returns NULL. */
JsonObject *weft_server_read_object (WeftServer *server, SoupServerMessage *msg,
                                     const char *const *allowed);
/* A string member, "" when absent and not `required`; on a wrong type or
 * a missing required one replies 400 and returns NULL. */
const char *weft_server_get_string (SoupServerMessage *msg, JsonObject *obj, const char *key,
                                    gboolean required);
/* A JSON integer member (or the default when absent); on a wrong type
 * replies 400 and returns FALSE. */
gboolean weft_server_get_uint_member (SoupServerMessage *msg, JsonObject *obj, const char *key,
                                      guint min, guint max, guint *out);

/* ---- weft-server-accept.c: listening ------------------------------------------ */

/* Starts or resumes accepting on server->listener, unless paused by a
 * back-off or the connection cap. */
void weft_server_accept_resume (WeftServer *server);
/* Stops accepting for good; open connections go on. */
void weft_server_accept_stop (WeftServer *server);
/* "HOST:PORT" (an IP address or localhost), or NULL with `error` set. */
GSocketAddress *weft_server_parse_address (const char *address, GError **error);

/* ---- weft-server-conn.c: connections ------------------------------------------ */

#define WEFT_TYPE_SERVER_CONN (weft_server_conn_get_type ())
G_DECLARE_FINAL_TYPE (WeftServerConn, weft_server_conn, WEFT, SERVER_CONN, GIOStream)

/* Hooks up the SoupServer's signals (on the loop, once). */
void weft_server_conns_init (WeftServer *server);
/* Told when a connection closes: one fewer counts against the cap.  The
 * accepting side passes it, so that connections know nothing of it. */
typedef void (*WeftServerConnClosedFunc) (WeftServer *server);
/* Hands an accepted socket to libsoup. */
void weft_server_conn_start (WeftServer *server, GSocket *client,
                             WeftServerConnClosedFunc closed);
/* Forgets every connection still open (the server is being freed). */
void weft_server_conns_clear (WeftServer *server);


/* ---- weft-server-input.c: what libsoup reads, request by request -------------- */

typedef enum {
  WEFT_SERVER_FRAME_WAIT,     /* between requests */
  WEFT_SERVER_FRAME_HEAD,     /* a request head is coming */
  WEFT_SERVER_FRAME_PARSING,  /* the head is in; libsoup parses it */
  WEFT_SERVER_FRAME_BODY,     /* its body is coming */
  WEFT_SERVER_FRAME_BLOCKED,  /* refused: libsoup waits and gets nothing */
  WEFT_SERVER_FRAME_CLOSED,   /* libsoup reads the end (weft_server_input_read_closed) */
} WeftServerFrame;

#define WEFT_TYPE_SERVER_INPUT (weft_server_input_get_type ())
G_DECLARE_FINAL_TYPE (WeftServerInput, weft_server_input, WEFT, SERVER_INPUT, GInputStream)

/* What the input tells its owner (the connection), on the loop: passed in
 * rather than called by name, so that the input knows nothing above it. */
typedef struct {
  void (*request_started) (gpointer owner);
  void (*body_done) (gpointer owner);
  /* Answer `status` with the error `message` and close the connection. */
  void (*refuse) (gpointer owner, guint status, const char *message);
  /* The client sends no more, between requests: nothing more is written
   * either, and the connection ends. */
  void (*peer_done) (gpointer owner);
} WeftServerInputEvents;

/* Reads `base` (pollable) for `owner`, which it does not keep alive. */
WeftServerInput *weft_server_input_new (GInputStream *base, const WeftServerInputEvents *events,
                                        gpointer owner, const WeftServerLimits *limits);
/* The head just parsed declares this body (got-headers). */
void weft_server_input_expect_body (WeftServerInput *self, SoupEncoding encoding,
                                    goffset length);
/* libsoup gets nothing more, and waits. */
void weft_server_input_block (WeftServerInput *self);
/* libsoup reads the end from now on (the request it is reading, if any,
 * ended so that it is not handled), and is woken if it waits. */
void weft_server_input_close (WeftServerInput *self);
WeftServerFrame weft_server_input_get_frame (WeftServerInput *self);
/* The connection is gone. */
void weft_server_input_detach (WeftServerInput *self);

/* ---- weft-server-head.c: a request head, line by line --------------------------- */

/* weft_server_head_take_line: the (empty) line that ends a head fit for
 * libsoup. */
#define WEFT_SERVER_HEAD_ENDED 1

typedef struct {
  GString *line;              /* the line being read, without its line break */
  guint64 max_body;
  gboolean blank_skipped;     /* one empty line may come before the request line */
  char *method;               /* NULL until the request line is in */
  char *target;
  guint minor;                /* HTTP/1.minor */
  char *host;                 /* NULL: none */
  char *length;               /* Content-Length as given */
  gboolean chunked;           /* Transfer-Encoding: chunked */
  char *expect;               /* Expect as given */
} WeftServerHead;

void weft_server_head_init (WeftServerHead *head, guint64 max_body);
/* Forgets the last head: a new request starts. */
void weft_server_head_reset (WeftServerHead *head);
void weft_server_head_clear (WeftServerHead *head);
/* Takes head->line, one line of a head (its CRLF or LF not included).
 * Returns 0 when the head goes on, WEFT_SERVER_HEAD_ENDED when this empty
 * line ends it, or the HTTP status to refuse the request with, `error`
 * set: what libsoup would answer with an empty body, or read another way
 * than the framing does. */
guint weft_server_head_take_line (WeftServerHead *head, GError **error);

/* ---- weft-server-chunked.c: a chunked body, byte by byte ----------------------- */

/* weft_server_chunked_byte: the empty line that ends the trailers, and the
 * body. */
#define WEFT_SERVER_CHUNKED_ENDED 1

/* A body starts (weft-chunked.c's framing). */
void weft_server_chunked_init (WeftChunked *self, guint64 max_body, guint max_headers);
/* Reads `data` up to the trailers (or its end): sets `used` to the bytes
 * read and returns 0, or returns the HTTP status to refuse the request
 * with, `error` set. */
guint weft_server_chunked_frame (WeftChunked *self, const guchar *data, gsize n,
                                 gsize *used, GError **error);
/* One byte of the framing around the data (a size line, a data's CRLF, the
 * trailers): 0 when the body goes on, WEFT_SERVER_CHUNKED_ENDED when this
 * byte ends it, or the HTTP status to refuse the request with, `error`
 * set. */
guint weft_server_chunked_byte (WeftChunked *self, guchar c, GError **error);

/* ---- weft-server-output.c: what libsoup writes -------------------------------- */

#define WEFT_TYPE_SERVER_OUTPUT (weft_server_output_get_type ())
G_DECLARE_FINAL_TYPE (WeftServerOutput, weft_server_output, WEFT, SERVER_OUTPUT, GOutputStream)

/* What the output tells its owner (the connection): a write could not take
 * anything (the send-stall deadline starts, unless running), or took
 * something (it stops). */
typedef struct {
  void (*blocked) (gpointer owner);
  void (*moved) (gpointer owner);
} WeftServerOutputEvents;

/* Writes to `base` (pollable) for `owner`, which it does not keep alive,
 * and tells it whether writes make progress. */
WeftServerOutput *weft_server_output_new (GOutputStream *base,
                                          const WeftServerOutputEvents *events, gpointer owner);
/* Every write fails with `message` from now on; a writer that waits is
 * woken. */
void weft_server_output_fail (WeftServerOutput *self, const char *message);
/* The connection is gone. */
void weft_server_output_detach (WeftServerOutput *self);

G_END_DECLS
