/* weft-server-private.h — what the parts of the HTTP server share.
 *
 * Everything in the server runs on the engine loop: the SoupServer is
 * attached to the engine's main context, so handlers read and change run
 * state without locks.  Only new/listen/stop/free are called from other
 * threads, and they hop onto the loop. */
#pragma once

#include "weft-private.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _WeftServerRun WeftServerRun;
typedef struct _WeftServerBatch WeftServerBatch;

struct _WeftServer {
  WeftEngine *engine;
  SoupServer *soup;           /* made and used on the loop */
  GSocket *listener;          /* ours: libsoup 3.2's own listener leaks each
                               * socket it accepts */
  GSource *accept_source;
  GSocket *parked;            /* see weft_server_park_listener */
  guint port;
  char *token;                /* NULL: no Authorization needed */
  gsize max_body;
  guint keep_runs;
  guint keep_s;
  guint max_runs;
  GHashTable *flows;          /* name → WeftFlow* (a reference) */
  GPtrArray *stores;          /* WeftStore*, owned: where older runs are read */
  GThreadPool *store_pool;    /* one thread: store reads never block the loop */
  guint listener_id;

  /* Loop only. */
  GHashTable *runs;           /* id → WeftServerRun* (owned) */
  GQueue finished;            /* WeftServerRun*, oldest first */
  GSource *heartbeat;         /* keeps open event streams talking */
  GHashTable *streams;        /* SoupServerMessage*: event streams not yet sent in full */
  guint n_live;               /* kicked off, not yet finished (queued included) */
  guint64 n_started;
  guint64 n_finished;
  gboolean stopping;
};

/* ---- weft-server.c: replies ---------------------------------------------- */

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
/* The request body parsed as a JSON object; on failure replies 400 (or
 * 413) itself and returns NULL. */
JsonObject *weft_server_read_object (WeftServer *server, SoupServerMessage *msg,
                                     const char *const *allowed);
WeftFlow *weft_server_find_flow (WeftServer *server, SoupServerMessage *msg, const char *name);
/* A JSON integer member (or the default when absent); on a wrong type
 * replies 400 and returns FALSE. */
gboolean weft_server_get_uint_member (SoupServerMessage *msg, JsonObject *obj, const char *key,
                                      guint min, guint max, guint *out);

/* ---- weft-server-runs.c ------------------------------------------------------ */

void weft_server_runs_init (WeftServer *server);
void weft_server_runs_clear (WeftServer *server);
/* Forgets the event streams still open (their connections are about to
 * close). */
void weft_server_streams_clear (WeftServer *server);
/* The engine listener: every event of every run, on the loop. */
void weft_server_on_event (const WeftEvent *event, gpointer data);

/* Cancels every run the server started that has not finished, queued
 * ones of a batch included. */
void weft_server_cancel_all (WeftServer *server);

/* Route handlers: `arg` is the path's {flow} or {id}, `query` may be NULL. */
typedef void (*WeftServerHandler) (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                   GHashTable *query);

void weft_server_handle_kickoff (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);
void weft_server_handle_batch (WeftServer *server, SoupServerMessage *msg, const char *arg,
                               GHashTable *query);
void weft_server_handle_get_run (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                 GHashTable *query);
void weft_server_handle_list_runs (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                   GHashTable *query);
void weft_server_handle_cancel_run (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                    GHashTable *query);
void weft_server_handle_events (WeftServer *server, SoupServerMessage *msg, const char *arg,
                                GHashTable *query);
/* A background task no longer in memory, from the stores. */
void weft_server_handle_stored_task (WeftServer *server, SoupServerMessage *msg, const char *id);

G_END_DECLS
