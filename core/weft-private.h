/* weft-private.h — what the parts of libweft share; never installed. */
#pragma once

#include "weft.h"

G_BEGIN_DECLS

/* ---- registry ---------------------------------------------------------- */

struct _WeftPlugin {
  const WeftPluginDescriptor *desc;
  char *path;                 /* NULL for built-in plugins */
  void *handle;               /* dlopen handle, NULL for built-in plugins */
};

WeftRegistry *weft_registry_new  (void);
void          weft_registry_free (WeftRegistry *registry);
/* Binds the config (weft_config_bind), then calls the plugin's create():
 * on failure, always an error, and one with the config's secrets redacted
 * (a plugin, or a choice refused, may quote the value), made fit to show
 * (weft_message_tidy).  The config must outlive the instance: free it
 * only after destroy(). */
gpointer      weft_plugin_create (WeftPlugin *plugin, WeftConfig *config,
                                  GError **error);

/* ---- config ------------------------------------------------------------ */

/* Builds a validated config for `desc` from `given` (the flow's object for
 * one instance), ignoring the keys in `core_keys` (NULL-terminated).  Errors
 * name `origin` and `json_path`; with no origin, they give the bare reason. */
WeftConfig *weft_config_new  (const WeftPluginDescriptor *desc,
                              const char *instance_name,
                              JsonObject *given,
                              const char * const *core_keys,
                              const char *origin,
                              const char *json_path,
                              GError **error);
void        weft_config_free (WeftConfig *config);
/* Marks the config of a store opened to read runs back (weft_store_open). */
void        weft_config_set_reader (WeftConfig *config);
/* Checks every value against its row (ranges, choices) and fills the
 * plugin's options struct; once, before create().  Errors read as a
 * plugin's create() errors: `option "NAME": must be ...`. */
gboolean    weft_config_bind (WeftConfig *config, GError **error);
/* What the flow writes for `type`: "string" for ENUM too. */
const char *weft_option_type_to_string (WeftOptionType type);
/* TRUE when `node` is a JSON value of `type`. */
gboolean    weft_option_node_matches (WeftOptionType type, JsonNode *node);
/* A value of the option's type against the row's range or choices. */
gboolean    weft_option_check_value (const WeftOption *option, JsonNode *node,
                                     GError **error);
/* The bytes an option of `type` takes in the options struct; 0 for an
 * unknown type. */
gsize       weft_option_field_size (WeftOptionType type);
char       *weft_option_format_number (WeftOptionType type, double value);
/* A whole number within gint64's range. */
gboolean    weft_number_is_whole (double value);

/* ---- JSON (weft-json.c) ------------------------------------------------- */

/* The one-pass check weft_json_parse makes before json-glib sees a text.
 * With an `origin` (a file's name), errors start "ORIGIN:LINE:COLUMN: "
 * as compilers' do; without, "line L, column C: ". */
gboolean weft_json_check (const char *text, gssize length, const char *origin,
                          GError **error);
/* weft_json_parse, its errors naming `origin` (may be NULL). */
JsonNode *weft_json_parse_named (const char *text, gssize length, const char *origin,
                                 GError **error);
/* "an object", "a string", "an integer", ... for messages. */
const char *weft_json_describe (JsonNode *node);
/* Sets `key` to a µs time, or to null when it is 0 (not yet, or unknown). */
void weft_json_set_time (JsonObject *object, const char *key, gint64 wall_us);
/* ---- messages (weft-message.c) ----------------------------------------- */

/* `text` quoted for a message: at most `max_chars` characters, invalid
 * UTF-8 and control characters escaped, and "… (N bytes)" after a cut, so
 * that what a client sent is never echoed back raw or whole. */
char *weft_message_quote (const char *text, gsize max_chars);
/* `message` made fit to show: valid UTF-8, control characters escaped,
 * words of more than `word_max` characters cut in their middle ("…(5002
 * characters)…"), at most about `max_bytes` bytes in all. */
char *weft_message_tidy (const char *message, glong word_max, gsize max_bytes);
/* What messages about a flow or a plugin's config keep: a file path is a
 * word too. */
#define WEFT_MESSAGE_WORD_MAX 256
#define WEFT_MESSAGE_MAX_BYTES 4096
/* Tidies the message of `error` in place with those; NULL is fine. */
void weft_message_tidy_error (GError *error);

/* Expands ${VAR}, ${VAR:-default} and $$ in `text`; each value read from
 * the environment is recorded as a secret. */
char *weft_expand_env (const char *text, GError **error);

/* ---- secrets (weft-secrets.c) ------------------------------------------ */

/* Records a value to redact from now on, in every thread. */
void weft_secrets_add (const char *value);
/* Redacts the message of `error` in place; NULL is fine. */
void weft_secrets_redact_error (GError *error);

/* ---- templates --------------------------------------------------------- */

/* Adds each distinct {key} of `tmpl` to `keys` (char*, owned); fails on a
 * malformed template, saying where. */
gboolean weft_template_collect_keys (const char *tmpl, GPtrArray *keys, GError **error);
gboolean weft_template_has_keys (const char *tmpl);

/* ---- events ------------------------------------------------------------ */

struct _WeftEvent {
  gint ref_count;
  WeftEventType type;
  guint attempt;
  guint64 seq;
  gint64 mono_us;
  gint64 wall_us;
  gint64 duration_us;
  char *run_id;
  char *flow;
  char *task;
  char *output;
  char *error;
  char *step_kind;
  char *inputs;               /* run.started / run.resumed */
  GBytes *flow_source;        /* run.started / run.resumed; NUL-terminated */
};

/* Everything but inputs and flow_source in one allocation: a busy run
 * with a store raises hundreds of thousands of these. */
typedef struct {
  WeftEventType type;
  guint64 seq;
  const char *run_id;
  const char *flow;
  const char *task;           /* NULL for run events */
  guint attempt;
  const char *output;
  const char *error;
  const char *step_kind;
  gint64 duration_us;
  gint64 mono_us;             /* when it happened; 0: now */
} WeftEventFields;

WeftEvent *weft_event_new   (const WeftEventFields *fields);
/* Wall-clock µs of a monotonic time of this process; 0 for 0.  Any thread. */
gint64     weft_mono_to_wall_us (gint64 mono_us);
WeftEvent *weft_event_ref   (WeftEvent *event);
void       weft_event_unref (WeftEvent *event);

/* ---- callback instances ------------------------------------------------ */

/* One callback plugin instance with its own queue and dispatcher thread. */
typedef struct _WeftCallbackInstance WeftCallbackInstance;

WeftCallbackInstance *weft_callback_instance_new (WeftPlugin *plugin, WeftConfig *config,
                                                  GError **error);
const char *weft_callback_instance_get_name (WeftCallbackInstance *cb);
WeftPlugin *weft_callback_instance_get_plugin (WeftCallbackInstance *cb);
gpointer    weft_callback_instance_get_instance (WeftCallbackInstance *cb);
/* Engine loop only: adds the event (a reference) to this iteration's
 * batch; TRUE when it is the batch's first, so that the engine delivers
 * it at the end of the iteration. */
gboolean weft_callback_instance_push (WeftCallbackInstance *cb, WeftEvent *event);
/* Hands the batch to the dispatcher thread; never blocks. */
void weft_callback_instance_deliver (WeftCallbackInstance *cb);
/* Delivers every queued event, calls flush, joins the thread, destroys. */
void weft_callback_instance_close (WeftCallbackInstance *cb);

/* ---- flows ------------------------------------------------------------- */

/* What flow code means by "no task": a run's own events, a name that
 * names none. */
#define WEFT_NO_TASK G_MAXUINT

typedef struct {
  char *name;
  WeftPlugin *plugin;
  WeftConfig *config;
  gpointer instance;
  GPtrArray *tools;           /* WeftToolInstance*, not owned */
  JsonNode *declaration;      /* as the flow gave it: what an agent-task flow copies */
} WeftAgentInstance;

typedef struct {
  char *name;
  char *description;          /* the flow's, or the plugin's */
  const char *schema;         /* JSON text, the plugin's or the instance's */
  WeftPlugin *plugin;
  WeftConfig *config;
  gpointer instance;
  JsonNode *declaration;      /* as the flow gave it */
} WeftToolInstance;

/* One task as the scheduler reads it.  Its texts live in the flow's one
 * block of strings, its edges in the flow's graph (weft_flow_get_deps()
 * and friends): a flow of 100,000 tasks is a few allocations, not
 * hundreds of thousands. */
typedef struct {
  const char *name;
  WeftAgentInstance *agent;
  const char *description;
  const char *expected_output;  /* NULL when none */
  const char *static_prompt;    /* the prompt when not templated */
  gint64 timeout_us;            /* 0: none */
  guint retry_delay_ms;
  guint16 retries;
  guint8 templated;             /* description or expected output has {keys} */
  guint8 async;
  guint8 exclude;
} WeftFlowTask;

/* The edges, each task's list a run of one array: task i waits for
 * deps[deps_at[i]] up to deps[deps_at[i + 1]], and so on. */
typedef struct {
  guint *block;               /* all of the arrays below but `callbacks` */
  guint *deps_at;
  guint *deps;                /* tasks it waits for */
  guint *dependants_at;
  guint *dependants;          /* tasks that wait for it */
  guint *receives_at;
  guint *receives;            /* outputs it is handed (excluded ones left out) */
  guint *roots;               /* tasks with no dependencies, in order */
  guint n_roots;
  guint *callbacks_at;        /* NULL when no task names a callback */
  WeftCallbackInstance **callbacks;
} WeftFlowGraph;

struct _WeftFlow {
  gint ref_count;
  WeftEngine *engine;
  char *name;
  char *origin;
  GBytes *source;             /* the flow's JSON text, NUL-terminated */
  gboolean sequential;
  JsonObject *default_inputs;
  GPtrArray *agents;          /* WeftAgentInstance* */
  GPtrArray *tools;           /* WeftToolInstance* */
  GPtrArray *callbacks;       /* WeftCallbackInstance*, all of them */
  GPtrArray *flow_callbacks;  /* the ones that get every event, not owned */
  JsonObject *callback_declarations;  /* name → as the flow gave it */
  WeftFlowTask *tasks;
  guint n_tasks;
  char *strings;              /* every task's texts */
  WeftFlowGraph graph;
  guint *index_slots;         /* task names: index + 1 by hash, 0 when empty */
  guint index_mask;
  char **input_names;
  gint kicked_off;
  WeftFlow *parent;           /* an agent-task flow borrows its agent from it */
  GMutex lock;                /* for what is made on first use: */
  const char **dep_names;     /* weft_flow_get_task_dependencies() */
  /* Agent name → the source of its agent-task flow (GBytes), made once. */
  GHashTable *agent_sources;
};

WeftFlowTask *weft_flow_get_task (WeftFlow *flow, guint i);
/* The edges of task `task`: `*n` entries. */
const guint *weft_flow_get_deps       (WeftFlow *flow, guint task, guint *n);
const guint *weft_flow_get_dependants (WeftFlow *flow, guint task, guint *n);
const guint *weft_flow_get_receives   (WeftFlow *flow, guint task, guint *n);
/* Tasks that wait for nothing, in the flow's order. */
const guint *weft_flow_get_roots      (WeftFlow *flow, guint *n);
/* The callback instances task `task` names (task-level callbacks). */
WeftCallbackInstance * const *weft_flow_get_task_callbacks (WeftFlow *flow, guint task,
                                                            guint *n);
/* The index of the task named `name`, or WEFT_NO_TASK. */
guint weft_flow_lookup_task (WeftFlow *flow, const char *name);
/* A flow of one task, named "FLOW.AGENT", that hands the input `prompt` to
 * the agent instance `agent` of `parent` (borrowed: the new flow keeps
 * `parent` alive).  Its events go to `parent`'s flow callbacks, and its
 * source is a flow file of its own, so that a store can resume it. */
WeftFlow *weft_flow_new_agent_task (WeftFlow *parent, const char *agent, GError **error);
/* Asks every store the flow writes to for the stored run `run_id`, before
 * this process continues it; fails when one says another process still
 * runs it.  weft-store.c. */
gboolean weft_flow_claim_run (WeftFlow *flow, const char *run_id, GError **error);

/* ---- engine ------------------------------------------------------------ */

typedef enum {
  WEFT_MSG_KICKOFF,
  WEFT_MSG_RETURN,
  WEFT_MSG_STEP,
  WEFT_MSG_CANCEL_RUN,
  WEFT_MSG_SHUTDOWN,
  WEFT_MSG_TOOL_RETURN,
} WeftMsgType;

/* Every message through the engine's inbox starts with this. */
typedef struct {
  WeftMsgType type;
} WeftMsg;

/* Hands a message to the engine loop; any thread.  The inbox is the only
 * way back to the scheduler. */
void weft_engine_post (WeftEngine *engine, WeftMsg *msg);
gboolean weft_engine_is_loop_thread (WeftEngine *engine);
/* Queues a blocking agent's attempt, or a tool call, for its pool. */
void weft_engine_run_blocking (WeftEngine *engine, WeftTask *task);
void weft_engine_run_tool (WeftEngine *engine, WeftToolCall *call);
gboolean weft_engine_has_listeners (WeftEngine *engine);
void weft_engine_notify_listeners (WeftEngine *engine, const WeftEvent *event);
SoupSession *weft_engine_get_soup_session (WeftEngine *engine);
/* Live-run bookkeeping, engine loop only.  A finished run is handed back
 * to its caller by weft_engine_end_batch(), called once whatever finished
 * it (an inbox batch, a timer) has let go of the run: the caller's
 * reference is then the last one, and its last unref of the flow drains
 * the callbacks on its own thread. */
void weft_engine_run_started  (WeftEngine *engine, WeftRun *run);
guint weft_engine_count_live_runs (WeftEngine *engine);
void weft_engine_run_finished (WeftEngine *engine, WeftRun *run);
/* Engine loop only: `cb` has events to deliver at the end of this
 * iteration. */
void weft_engine_mark_pending (WeftEngine *engine, WeftCallbackInstance *cb);
/* Ends an iteration of the loop's work (an inbox batch, a timer): hands
 * each callback its batch of events, then returns finished runs. */
void weft_engine_end_batch (WeftEngine *engine);
void weft_engine_attempt_started  (WeftEngine *engine);
void weft_engine_attempt_finished (WeftEngine *engine);

const WeftPluginDescriptor *weft_noop_descriptor (void);

/* Background tasks (weft-background.c): the engine's table of them. */
typedef struct {
  const char *id;
  const char *flow;
  const char *agent;
  const char *status;
  const char *output;
  const char *error;
  gint64 created_wall_us;
  gint64 finished_wall_us;    /* 0 while running */
  gint64 duration_us;
} WeftTaskSummary;
/* A background task as weft_engine_check_task and the server show it,
 * whether kept in memory or read back from a store. */
JsonObject *weft_task_summary_to_json (const WeftTaskSummary *t);
typedef struct _WeftBackground WeftBackground;
WeftBackground *weft_background_new  (void);
void            weft_background_free (WeftBackground *bg);
WeftBackground *weft_engine_get_background (WeftEngine *engine);

/* Runs `func` on the engine loop and returns when it has; any thread but
 * the loop's own. */
void weft_engine_invoke_sync (WeftEngine *engine, GSourceFunc func, gpointer data);

/* ---- runs and tasks ---------------------------------------------------- */

typedef struct {
  WeftStatus status;
  guint remaining;            /* dependencies not yet completed */
  guint attempts;             /* the last attempt's number */
  guint failures;             /* attempts that failed: what retries are counted against */
  char *output;
  GError *error;
  gint64 started_us;
  gint64 finished_us;
  gint64 attempt_started_us;
  char *description;          /* rendered, when the task is templated */
  char *prompt;               /* rendered, when the task is templated */
  WeftTask *current;          /* the running attempt, not a reference */
  GSource *timer;             /* timeout or retry backoff */
} WeftTaskState;

/* Engine loop: `run` has finished and let go of the loop.  The function
 * takes the engine's reference: a kickoff's caller whose reference is the
 * last one then drains the flow's callbacks on its own thread. */
typedef void (*WeftRunDoneFunc) (WeftRun *run, gpointer data);

struct _WeftRun {
  gint ref_count;
  WeftFlow *flow;
  WeftEngine *engine;
  char *id;
  JsonObject *inputs;         /* engine loop only, after kickoff */
  char *inputs_json;          /* the same, immutable: attempts parse their own copy */
  WeftTaskState *tasks;
  guint n_finished;
  WeftStatus status;
  GError *error;
  guint64 seq;
  gint64 started_us;
  gint64 finished_us;
  gboolean resumed;           /* continues a stored run */
  gboolean has_preset;        /* some tasks were settled before it started: from
                               * `completed`, or kept as a resume found them */
  gint64 created_wall_us;
  gint64 started_wall_us;
  WeftRunDoneFunc done;       /* called on the loop once finished */
  gpointer done_data;
  GCancellable *cancellable;
  gulong cancel_handler;
};

typedef struct {
  WeftMsg msg;
  WeftRun *run;
} WeftRunMsg;

/* Creates a run: merges inputs, checks every input is there. */
WeftRun *weft_run_new (WeftFlow *flow, const WeftKickoffOptions *options, GError **error);
/* Any thread: hands `run` (a new reference is taken) to the engine loop
 * to start.  `done` is called on the loop when it has finished. */
void weft_run_kickoff (WeftRun *run, GCancellable *cancellable, WeftRunDoneFunc done,
                       gpointer done_data);
/* Engine loop only. */
void weft_run_start  (WeftRun *run);
void weft_run_cancel (WeftRun *run);
void weft_run_handle_return (WeftTask *task);
void weft_run_handle_step (WeftTask *task, const char *kind, const char *text);
/* Hands the engine's reference to the run's done function. */
void weft_run_return (WeftRun *run);

struct _WeftTask {
  WeftMsg msg;                /* WEFT_MSG_RETURN when handed back */
  gint ref_count;
  WeftRun *run;
  guint index;
  guint attempt;
  const char *description;    /* owned by the run or the flow */
  const char *prompt;         /* owned by the run or the flow */
  GCancellable *cancellable;  /* made on first use */
  JsonObject *inputs;         /* made on first use, from the run's inputs_json */
  gint cancelled;
  gint returned;
  char *output;
  GError *error;
};

typedef struct {
  WeftMsg msg;
  WeftTask *task;
  char *kind;
  char *text;
} WeftStepMsg;

/* Tool calls (weft-tool.c).  Both run on the engine loop / a worker as
 * the engine dispatches them. */
void weft_tool_call_invoke (WeftToolCall *call);
void weft_tool_call_handle_return (WeftToolCall *call);

WeftTask *weft_task_new   (WeftRun *run, guint index, guint attempt,
                           const char *description, const char *prompt);
WeftTask *weft_task_ref   (WeftTask *task);
void      weft_task_unref (WeftTask *task);
/* Cancels the attempt's cancellable, now or when it is first asked for. */
void      weft_task_cancel (WeftTask *task);
WeftFlowTask *weft_task_get_flow_task (WeftTask *task);

G_END_DECLS
