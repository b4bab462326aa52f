/* weft-thread-private.h — what the files of a thread (a conversation)
 * share, and only they (docs/conversations.md).
 *
 * A thread is an ordered history of messages and a queue of messages
 * waiting to enter it, owned by the engine loop; one agent turn at a time.
 * Its files, each using only those above it in this list:
 *
 *   weft-thread-config.c  a thread's settings: the flow's "chat" member and
 *                         a thread's own, checked and merged
 *   weft-thread.c         the thread's state: made, referenced, its history,
 *                         its events, its queue (posted from any thread),
 *                         the engine's table of threads, its JSON
 *   weft-thread-tools.c   background work as tools (a tool, an agent, a
 *                         flow) and check_task, check_all_tasks, cancel_task
 *   weft-thread-turn.c    one turn: model steps (attempts of the agent's
 *                         converse()), the tool calls they ask for
 *   weft-thread-store.c   a thread read back from a store: checked, then
 *                         what its process left unfinished said
 *   weft-thread-queue.c   the queue drained on the loop, strategies, weft.h's
 *                         thread API (new, open, post, cancel, close)
 *
 * The history, the queue, the background tasks and the flags below are
 * written on the engine loop under the thread's lock, and read under it
 * from any thread (weft_thread_to_json); the turn is the loop's alone. */
#pragma once

#include "weft-private.h"

G_BEGIN_DECLS

/* ---- weft-thread-config.c ------------------------------------------------ */

typedef enum {
  WEFT_BACKGROUND_TOOL,
  WEFT_BACKGROUND_AGENT,
  WEFT_BACKGROUND_FLOW,
} WeftBackgroundKind;

/* One background tool as the settings declare it. */
typedef struct {
  char *name;                 /* what the model calls it */
  WeftBackgroundKind kind;
  char *target;               /* the tool, agent or flow it runs */
  char *description;          /* NULL: one made from the target */
} WeftBackgroundSpec;

typedef enum {
  WEFT_BACKGROUND_DONE_TURN,  /* a finished task's message starts a turn */
  WEFT_BACKGROUND_DONE_WAIT,  /* ... waits in the history for the next user message */
} WeftBackgroundDone;

/* A thread's settings: each member unset (NULL, -1, 0) until given. */
typedef struct {
  char *agent;
  gint strategy;              /* WeftThreadStrategy */
  gint background_done;       /* WeftBackgroundDone */
  gint max_steps;             /* model calls in one turn */
  GPtrArray *background;      /* WeftBackgroundSpec*, or NULL */
} WeftThreadConfig;

/* What the settings may name, answered by whoever reads them: a flow
 * being validated, or a thread being made. */
typedef struct {
  /* TRUE when the agent exists; *converses when its plugin can converse. */
  gboolean (*has_agent) (gpointer data, const char *name, gboolean *converses);
  gboolean (*has_tool) (gpointer data, const char *name);
  gboolean (*has_flow) (gpointer data, const char *name);
  /* The names known, ", " between them, for messages. */
  char *(*list) (gpointer data, WeftBackgroundKind kind);
  gpointer data;
} WeftThreadNames;

#define WEFT_THREAD_MAX_STEPS_DEFAULT 10
#define WEFT_THREAD_MAX_STEPS_LIMIT 100

/* `settings` (a flow's "chat" or a thread's own; hostile) checked: errors
 * say the member ("background.weather: unknown tool \"x\" (known: ...)").
 * `names` may be NULL: then names are not looked up. */
WeftThreadConfig *weft_thread_config_parse (JsonObject *settings, const WeftThreadNames *names,
                                            GError **error);
void              weft_thread_config_free (WeftThreadConfig *config);
/* `over`'s members where given, `base`'s elsewhere (either may be NULL),
 * then the defaults. */
WeftThreadConfig *weft_thread_config_merge (const WeftThreadConfig *base,
                                            const WeftThreadConfig *over);
/* The settings as JSON (the thread.created event, a store, GET). */
JsonObject       *weft_thread_config_to_json (const WeftThreadConfig *config);
const char       *weft_thread_strategy_to_string (gint strategy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftThreadConfig, weft_thread_config_free)

/* What the flow gives (weft-flow.c, weft-flow-load.c): its "chat" member,
 * checked (NULL when none), and the names its own settings may use. */
const WeftThreadConfig *weft_flow_get_chat (WeftFlow *flow);
void weft_flow_thread_names (WeftFlow *flow, WeftThreadNames *names);

/* ---- weft-thread.c ----------------------------------------------------------- */

typedef enum {
  WEFT_ROLE_USER,
  WEFT_ROLE_ASSISTANT,
  WEFT_ROLE_TOOL,
  WEFT_ROLE_NOTICE,
} WeftRole;

/* One message of the history. */
typedef struct {
  guint64 seq;                /* its place: 1, 2, ... */
  gint64 wall_us;
  WeftRole role;
  char *content;              /* NULL: an assistant's that only calls tools */
  char *tool_calls;           /* assistant: the calls as a JSON array, or NULL */
  char *tool_call_id;         /* tool */
} WeftThreadMessage;

/* A message waiting in the queue. */
typedef struct {
  WeftRole role;
  char *content;
  guint64 position;           /* its arrival: 1, 2, ... over the thread's life */
} WeftThreadPending;

/* A tool the thread offers its agent: the agent's own (borrowed), or one
 * of the thread's (a background tool, a check tool). */
typedef enum {
  WEFT_OFFER_TOOL,            /* the agent's own tool: a foreground call */
  WEFT_OFFER_BACKGROUND,
  WEFT_OFFER_CHECK_TASK,
  WEFT_OFFER_CHECK_ALL_TASKS,
  WEFT_OFFER_CANCEL_TASK,
} WeftOfferKind;

typedef struct {
  WeftToolInstance inst;      /* what the agent is shown: name, description, schema */
  WeftOfferKind kind;
  WeftToolInstance *tool;     /* TOOL, and BACKGROUND of a tool */
  WeftBackgroundKind background;
  char *target;               /* BACKGROUND: the agent's or the flow's name */
  WeftFlow *flow;             /* BACKGROUND of a flow: a reference */
  char *schema;               /* owned: inst.schema */
} WeftThreadOffer;

/* A background task the model started. */
typedef struct {
  char *id;                   /* "t1", "t2", ... within the thread */
  char *name;                 /* the background tool */
  WeftBackgroundKind kind;
  char *arguments;            /* JSON text */
  char *status;               /* running, completed, failed, cancelled, interrupted */
  char *result;
  char *error;
  char *run_id;               /* an agent's or a flow's run */
  gint64 started_wall_us;
  gint64 finished_wall_us;
  gint64 started_us;          /* monotonic, this process */
  GCancellable *cancellable;  /* while running */
} WeftThreadTask;

typedef struct _WeftThreadTurn WeftThreadTurn;

/* A flow's run a thread kicks off (background agent or flow): handed to
 * whoever made the thread (the server records it), or started as it is. */
typedef void (*WeftThreadKickoffFunc) (WeftRun *run, GCancellable *cancellable,
                                       WeftRunDoneFunc done, gpointer done_data,
                                       gpointer data);

struct _WeftThread {
  gint ref_count;
  WeftEngine *engine;
  WeftBus *bus;
  WeftFlow *flow;
  char *id;
  WeftThreadConfig *config;   /* merged: every member set */
  WeftAgentInstance *agent;   /* the flow's */
  /* What a turn's attempts are handed: the agent with the thread's tools. */
  WeftAgentInstance turn_agent;
  WeftFlowTask turn_task;
  GPtrArray *offers;          /* WeftThreadOffer*, owned; turn_agent.tools lists them */
  WeftThreadKickoffFunc kickoff;
  gpointer kickoff_data;
  gint64 created_wall_us;

  GMutex lock;
  GPtrArray *history;         /* WeftThreadMessage*, owned */
  GQueue queue;               /* WeftThreadPending*, owned */
  guint64 n_posted;
  gboolean wake_pending;
  gboolean busy;              /* a turn in flight or messages waiting */
  gboolean closed;
  gboolean cancel_requested;  /* weft_thread_cancel_turn: the drain ends the turn */
  GPtrArray *tasks;           /* WeftThreadTask*, owned, in the order started */
  guint n_turns;
  char *last_error;           /* the last turn's failure, or NULL */

  /* Engine loop only. */
  gboolean announced;         /* thread.created (or nothing, reopened) raised */
  gboolean close_done;        /* closed, and its turn and tasks ended */
  gboolean detached;          /* the engine shut down: closed without thread.deleted */
  gboolean restored;          /* read back from a store: no thread.created */
  guint64 seq;                /* the last event's number */
  WeftThreadTurn *turn;       /* the turn in flight, or NULL */
  WeftMsg wake_msg;           /* posted with a reference: the queue has news */
  WeftMsg shutdown_msg;       /* the engine shuts down: registered while a turn runs */
  WeftMsg detach_msg;         /* ... and while the engine keeps the thread: let go */
  WeftMsgFunc drain;          /* wake_msg's handler: weft-thread-queue.c's */
  WeftMsgFunc shutdown;       /* shutdown_msg's handler: weft-thread-queue.c's */
};

WeftThread *weft_thread_alloc (WeftFlow *flow, const char *id, WeftThreadConfig *config,
                               GError **error);
WeftThread *weft_thread_ref (WeftThread *thread);
void        weft_thread_unref (WeftThread *thread);

/* Engine loop: appends a message to the history and raises thread.message. */
void weft_thread_append (WeftThread *thread, WeftRole role, const char *content,
                         const char *tool_calls, const char *tool_call_id);
/* Engine loop: the history in the chat-completions form (an agent's). */
char *weft_thread_history_json (WeftThread *thread);
const char *weft_role_to_string (WeftRole role);

/* Any thread: a message into the queue, then the loop is woken.  FALSE
 * with WEFT_ERROR_BUSY when `reject_if_busy` and a turn is in flight (or
 * messages wait), with WEFT_ERROR_NOT_FOUND once the thread is closed.
 * `position` (may be NULL) gets its arrival number. */
gboolean weft_thread_enqueue (WeftThread *thread, WeftRole role, const char *content,
                              gboolean reject_if_busy, guint64 *position, GError **error);
/* Any thread: the drain runs on the loop soon (once for many wakes). */
void weft_thread_wake (WeftThread *thread);

/* Engine loop: raises a thread event (numbered; built only when someone
 * would see it).  `turn` is 0 or the turn's number. */
void weft_thread_emit (WeftThread *thread, WeftEventType type, guint turn, const char *output,
                       const char *error, const char *step_kind, gint64 duration_us);

/* Background tasks, under the lock: the one of `id`, or NULL. */
WeftThreadTask *weft_thread_find_task (WeftThread *thread, const char *id);
JsonObject     *weft_thread_task_to_json (WeftThreadTask *task);
void            weft_thread_task_free (WeftThreadTask *task);
void            weft_thread_offer_free (WeftThreadOffer *offer);

/* The engine's table of threads (any thread): add (unless it has one of
 * that id already: then that one, a reference), find (a reference),
 * remove, list (references). */
WeftThread *weft_threads_add (WeftEngine *engine, WeftThread *thread);
WeftThread *weft_threads_lookup (WeftEngine *engine, const char *id);
void        weft_threads_remove (WeftEngine *engine, WeftThread *thread);
GPtrArray  *weft_threads_list (WeftEngine *engine);

/* ---- weft-thread-tools.c ------------------------------------------------- */

/* The offers of a thread: its agent's tools, its background tools, and
 * the check tools when it has any background tool.  `find_flow` resolves
 * a background flow's name (NULL: the thread's own flow only). */
typedef WeftFlow *(*WeftThreadFindFlow) (const char *name, gpointer data);
gboolean weft_thread_make_offers (WeftThread *thread, WeftThreadFindFlow find_flow,
                                  gpointer find_data, GError **error);
/* The offer named `name`, or NULL. */
WeftThreadOffer *weft_thread_find_offer (WeftThread *thread, const char *name);
/* Engine loop: what an offer of the thread's own (not a foreground tool)
 * answers the call `arguments` with, at once; a background tool's work
 * starts and ends later, as a message in the queue. */
char *weft_thread_call_offer (WeftThread *thread, WeftThreadOffer *offer, const char *arguments);
/* Engine loop: cancels every background task still running. */
void  weft_thread_cancel_tasks (WeftThread *thread);

/* ---- weft-thread-turn.c -------------------------------------------------- */

typedef enum {
  WEFT_TURN_COMPLETED,
  WEFT_TURN_FAILED,
  WEFT_TURN_INTERRUPTED,      /* a new message (the interrupt strategy) */
  WEFT_TURN_CANCELLED,        /* weft_thread_cancel_turn, shutdown, close */
} WeftTurnEnd;

/* Engine loop: a turn answering the history as it is; thread->turn. */
void weft_thread_turn_start (WeftThread *thread);
/* Engine loop: ends the turn in flight at once: the model call is
 * abandoned (its request cancelled), what finished stays, the tool calls
 * still out are answered "interrupted"; then the queue is drained. */
void weft_thread_turn_stop (WeftThread *thread, WeftTurnEnd end);

/* A thread of `flow` (not started): its settings over the flow's "chat";
 * `id` NULL for a new one; `find_flow` names the flows a background tool
 * may run beside the thread's own; `kickoff` (may be NULL) starts the runs
 * of its background agents and flows. */
WeftThread *weft_thread_new_full (WeftFlow *flow, JsonObject *settings, const char *id,
                                  WeftThreadFindFlow find_flow, gpointer find_data,
                                  WeftThreadKickoffFunc kickoff, gpointer kickoff_data,
                                  GError **error);
/* The engine keeps it; thread.created is raised (or, restored, what its
 * process left unfinished said), then its queue drained.  When the engine
 * has a thread of its id already, that one (a reference) instead. */
WeftThread *weft_thread_start (WeftThread *thread);
/* A stored thread (a store's get_thread) of `flow`, made as
 * weft_thread_new_full makes one, with its history; not started. */
WeftThread *weft_thread_open_stored (WeftFlow *flow, JsonObject *stored,
                                     WeftThreadFindFlow find_flow, gpointer find_data,
                                     WeftThreadKickoffFunc kickoff, gpointer kickoff_data,
                                     GError **error);

/* ---- weft-thread-store.c -------------------------------------------------- */

/* A stored thread's messages and tasks (docs/store.md, hostile: checked)
 * into a new thread, before it starts: no event is raised. */
gboolean weft_thread_restore (WeftThread *thread, JsonObject *stored, GError **error);
/* Engine loop, when a restored thread starts: its tasks that were running
 * are ended "interrupted" (thread.task_finished, and a notice), and tool
 * calls left without a result get one, so the history is whole again. */
void     weft_thread_repair  (WeftThread *thread);

G_END_DECLS
