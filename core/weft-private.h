/* weft-private.h — what the parts of libweft share; never installed.
 *
 * Opaque types and the functions that cross files.  A struct's layout
 * lives in the file that owns it (the run's in weft-run-private.h, shared
 * by the weft-run*.c files only); the layouts still here are the ones
 * several files fill or embed: parameter structs (WeftEventFields,
 * WeftAttemptOwner, WeftJobSummary), the message header WeftMsg, and a
 * flow's compiled tasks and instances, which the scheduler reads as they
 * are (the flow itself is private to weft-flow*.c).
 *
 * Words (docs/architecture.md): a *flow task* (WeftFlowTask) is a task as
 * the flow declares it; a run's *task state* (weft-run-private.h) is what
 * one run knows of it; an *attempt* (struct _WeftTask, the SDK's WeftTask)
 * is one try of it, what an agent is handed; a *background job*
 * (weft-background.c) is one agent call that weft.h and the HTTP API call
 * a "task" (weft_engine_create_task, /v1/tasks). */
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
/* The next option from *at on that is a task template (WEFT_OPTION_TEMPLATE)
 * with a value, its name in *option; NULL after the last.  Start at 0. */
const char *weft_config_next_template (const WeftConfig *config, guint *at, const char **option);
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
/* The one of `names` (`n` of them) that `word` is most likely a typo of
 * (a few edits away, ASCII case ignored), for "did you mean"; or NULL. */
const char *weft_message_suggest (const char *word, const char * const *names, guint n);

/* Expands ${VAR}, ${VAR:-default} and $$ in `text`; each value read from
 * the environment is recorded as a secret. */
char *weft_expand_env (const char *text, GError **error);

/* ---- secrets (weft-secrets.c) ------------------------------------------ */

/* Records a value to redact from now on, in every thread. */
void weft_secrets_add (const char *value);
/* Redacts the message of `error` in place; NULL is fine. */
void weft_secrets_redact_error (GError *error);

/* "did you mean \"topic\"? the flow takes: topic, audience" for `word`, an
 * input a flow does not take: the names its descriptions use (`names`)
 * and those it gives a default (weft-flow-load.c). */
char *weft_flow_describe_inputs (const char * const *names, JsonObject *defaults,
                                 const char *word);

/* ---- templates --------------------------------------------------------- */

/* Adds each distinct {key} of `tmpl` to `keys` (char*, owned); fails on a
 * malformed template, saying where. */
gboolean weft_template_collect_keys (const char *tmpl, GPtrArray *keys, GError **error);
gboolean weft_template_has_keys (const char *tmpl);

/* The keys of a task template (WEFT_OPTION_TEMPLATE): one vocabulary for
 * weft_task_render_template and the check when a flow loads. */
typedef enum {
  WEFT_TASK_KEY_UNKNOWN,
  WEFT_TASK_KEY_PROMPT,
  WEFT_TASK_KEY_DESCRIPTION,
  WEFT_TASK_KEY_TASK,
  WEFT_TASK_KEY_ATTEMPT,
  WEFT_TASK_KEY_RUN_ID,
  WEFT_TASK_KEY_FLOW,
  WEFT_TASK_KEY_CONTEXT_ALL,      /* {context}: every received output */
  WEFT_TASK_KEY_INPUT,            /* {input.NAME} */
  WEFT_TASK_KEY_CONTEXT,          /* {context.NAME} */
} WeftTaskKey;

#define WEFT_TASK_KEYS_KNOWN "prompt, description, task, attempt, run_id, flow, context, " \
  "input.NAME of a run input, context.NAME of a task this one receives"

/* What `key` is; *name is the NAME of input.NAME and context.NAME. */
WeftTaskKey weft_task_key_parse (const char *key, const char **name);

/* ---- errors (weft-error.c) ---------------------------------------------- */

/* WEFT_ERROR's quark lives in a file of its own, which uses nothing: every
 * part of libweft sets errors, so it sits below all of them. */

/* ---- events (weft-event.c) ---------------------------------------------- */

/* "No task": a run's own events and states, a name that names none. */
#define WEFT_NO_TASK G_MAXUINT

/* The tokens a model used (weft_task_report_usage), summed over reports:
 * an attempt's, a task's over its attempts, a run's over its tasks.  The
 * cost is the sum of the reports that had one (an agent with no price for
 * its model reports none). */
typedef struct {
  gint64 prompt_tokens;
  gint64 completion_tokens;
  double cost;
  guint8 reported;            /* some usage was reported */
  guint8 priced;              /* some report had a cost */
} WeftUsage;

void weft_usage_add (WeftUsage *sum, const WeftUsage *part);
/* {"prompt_tokens", "completion_tokens", "total_tokens", "cost" (null when
 * none was priced)}: the one JSON of usage, in events and runs alike. */
JsonNode *weft_usage_to_json (const WeftUsage *usage);

/* What an event is made of.  Everything but flow_source goes into one
 * allocation: a busy run with a store raises hundreds of thousands. */
typedef struct {
  WeftEventType type;
  guint64 seq;
  const char *run_id;         /* NULL for thread events */
  const char *thread_id;      /* thread events only */
  const char *flow;
  const char *task;           /* NULL for run and thread events */
  guint attempt;
  const char *output;
  const char *error;
  const char *step_kind;
  gint64 duration_us;
  gint64 mono_us;             /* when it happened; 0: now */
  const char *inputs;         /* run.started / run.resumed: compact JSON */
  GBytes *flow_source;        /* run.started / run.resumed (a reference is taken) */
  const WeftUsage *usage;     /* an attempt's end: what it reported, or NULL */
} WeftEventFields;

WeftEvent *weft_event_new   (const WeftEventFields *fields);
/* Wall-clock µs of a monotonic time of this process; 0 for 0.  Any thread. */
gint64     weft_mono_to_wall_us (gint64 mono_us);
WeftEvent *weft_event_ref   (WeftEvent *event);
void       weft_event_unref (WeftEvent *event);

/* ---- the bus (weft-bus.c) ----------------------------------------------- */

/* Every message to the engine loop starts with this: the bus calls
 * `handle` on the loop and knows nothing else of it.  The handler owns the
 * message from then on (a message embedded in a longer-lived object, like
 * a run's, is not freed).  The worker pools run jobs the same way. */
typedef struct _WeftMsg WeftMsg;
typedef void (*WeftMsgFunc) (WeftMsg *msg);
struct _WeftMsg {
  WeftMsgFunc handle;
};

/* The message whose member `member` of a `type` is `msg`. */
#define WEFT_MSG_OWNER(msg, type, member) \
  ((type *) (void *) ((char *) (msg) - G_STRUCT_OFFSET (type, member)))

typedef struct _WeftBus WeftBus;
/* One callback instance's events: batches in a queue its thread pops. */
typedef struct _WeftBusQueue WeftBusQueue;

/* A bus for the loop of `context` (its inbox and flush sources attached). */
WeftBus *weft_bus_new  (GMainContext *context);
/* After the loop has stopped: handles what the inbox still holds. */
void     weft_bus_free (WeftBus *bus);
/* The loop's thread, once, before it runs: posts from it need no wakeup. */
void     weft_bus_set_loop_thread (WeftBus *bus, GThread *thread);

/* Any thread: `msg` is handled on the loop, in the order posted. */
void weft_bus_post (WeftBus *bus, WeftMsg *msg);
/* Engine loop: `msg` is handled once every event raised before it has
 * been handed to its callbacks (the end of this iteration). */
void weft_bus_post_after_flush (WeftBus *bus, WeftMsg *msg);

/* Engine loop: `event` (a reference is taken) joins this iteration's batch
 * of `queue`, handed over at the iteration's end. */
void     weft_bus_push (WeftBus *bus, WeftBusQueue *queue, WeftEvent *event);
/* Engine loop: calls every listener with `event`, now. */
void     weft_bus_notify (WeftBus *bus, const WeftEvent *event);
gboolean weft_bus_has_listeners (WeftBus *bus);
guint    weft_bus_add_listener (WeftBus *bus, WeftEventFunc func, gpointer user_data,
                                GDestroyNotify destroy);
void     weft_bus_remove_listener (WeftBus *bus, guint id);

WeftBusQueue *weft_bus_queue_new   (void);
WeftBusQueue *weft_bus_queue_ref   (WeftBusQueue *queue);
void          weft_bus_queue_unref (WeftBusQueue *queue);
/* The reader's thread: waits for the next batch (WeftEvent*, in the order
 * raised; unref the array), NULL once the queue is closed and drained. */
GPtrArray    *weft_bus_queue_pop (WeftBusQueue *queue);
/* The reader's thread: whether no batch waits (the time to flush). */
gboolean      weft_bus_queue_is_idle (WeftBusQueue *queue);
/* Hands over a batch still gathered and ends the queue: the reader gets
 * NULL after every batch before.  Only once no run can push to it. */
void          weft_bus_queue_close (WeftBusQueue *queue);

/* ---- callback instances (weft-callbacks.c) ------------------------------ */

/* One callback plugin instance with its own queue and dispatcher thread. */
typedef struct _WeftCallbackInstance WeftCallbackInstance;

WeftCallbackInstance *weft_callback_instance_new (WeftPlugin *plugin, WeftConfig *config,
                                                  GError **error);
const char *weft_callback_instance_get_name (WeftCallbackInstance *cb);
WeftPlugin *weft_callback_instance_get_plugin (WeftCallbackInstance *cb);
gpointer    weft_callback_instance_get_instance (WeftCallbackInstance *cb);
/* Where the events for this instance are pushed (weft_bus_push). */
WeftBusQueue *weft_callback_instance_get_queue (WeftCallbackInstance *cb);
/* Delivers every queued event, calls flush, joins the thread, destroys. */
void weft_callback_instance_close (WeftCallbackInstance *cb);

/* ---- flows ------------------------------------------------------------- */

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

/* The flow's own state is private to the weft-flow*.c files
 * (weft-flow-private.h); the rest of libweft reads it through these. */
WeftEngine *weft_flow_get_engine (WeftFlow *flow);
/* Where it came from, as its messages name it: the file, or "NAME (built
 * in code)". */
const char *weft_flow_get_origin (WeftFlow *flow);
/* Its JSON text (NUL-terminated), what run.started hands to stores. */
GBytes     *weft_flow_get_source (WeftFlow *flow);
gboolean    weft_flow_is_sequential (WeftFlow *flow);
/* From now on, callbacks can no longer be added (weft_flow_add_callback). */
void        weft_flow_mark_kicked_off (WeftFlow *flow);
/* Agent instance `i`, of weft_flow_get_n_instances (WEFT_PLUGIN_AGENT). */
WeftAgentInstance *weft_flow_get_agent (WeftFlow *flow, guint i);
/* Tool instance `i`, of weft_flow_get_n_instances (WEFT_PLUGIN_TOOL). */
WeftToolInstance *weft_flow_get_tool (WeftFlow *flow, guint i);
/* Every callback instance of the flow; those that get every event. */
WeftCallbackInstance * const *weft_flow_get_callbacks (WeftFlow *flow, guint *n);
WeftCallbackInstance * const *weft_flow_get_flow_callbacks (WeftFlow *flow, guint *n);

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
/* weft_store_open, or (reader FALSE) a store that may create what it
 * needs, to work its queue.  weft-store.c. */
WeftStore *weft_store_open_full (WeftEngine *engine, const char *plugin_name,
                                 JsonObject *options, gboolean reader, GError **error);
const WeftStoreClass *weft_store_get_class (WeftStore *store);
gpointer    weft_store_get_instance (WeftStore *store);
WeftPlugin *weft_store_get_plugin (WeftStore *store);
/* A run id a user typed, refused (WEFT_ERROR_NOT_FOUND) when no store
 * could hold it, before a plugin sees it. */
gboolean    weft_store_check_run_id (const char *run_id, GError **error);
/* Asks every store the flow writes to for the stored run `run_id`, before
 * this process continues it; fails when one says another process still
 * runs it.  weft-store.c. */
gboolean weft_flow_claim_run (WeftFlow *flow, const char *run_id, GError **error);

/* ---- engine (weft-engine.c) --------------------------------------------- */

gboolean weft_engine_is_loop_thread (WeftEngine *engine);
WeftBus *weft_engine_get_bus (WeftEngine *engine);
/* Where HTTP calls of the engine's tasks end (weft-http-private.h). */
typedef struct _WeftHttpSink WeftHttpSink;
WeftHttpSink *weft_engine_get_http_sink (WeftEngine *engine);
gpointer weft_engine_get_soup_session (WeftEngine *engine);   /* a SoupSession * */
/* Queues a job (its `handle` runs on a worker): a blocking agent's call,
 * or a tool call, each on its own pool. */
void weft_engine_run_agent_job (WeftEngine *engine, WeftMsg *job);
void weft_engine_run_tool_job  (WeftEngine *engine, WeftMsg *job);
/* Agent and tool calls in flight, which weft_engine_shutdown waits for;
 * any thread. */
void weft_engine_attempt_started  (WeftEngine *engine);
void weft_engine_attempt_finished (WeftEngine *engine);
/* Runs in flight, engine loop only.  `cancel` is the run's own message:
 * weft_engine_shutdown handles it (it is not freed) to cancel the run. */
void  weft_engine_add_live_run    (WeftEngine *engine, WeftMsg *cancel);
void  weft_engine_remove_live_run (WeftEngine *engine, WeftMsg *cancel);
guint weft_engine_count_live_runs (WeftEngine *engine);
/* Engine loop: `msg` is handled (never freed) when weft_engine_shutdown
 * runs, after the live runs' cancels: what outlives any run (a thread)
 * lets go of the engine then. */
void  weft_engine_add_shutdown_hook    (WeftEngine *engine, WeftMsg *msg);
void  weft_engine_remove_shutdown_hook (WeftEngine *engine, WeftMsg *msg);
/* State a part of libweft keeps per engine without the engine knowing the
 * part: `make` makes it on first use (any thread), `free_part` frees it with
 * the engine.  `key` names the part. */
gpointer weft_engine_get_part (WeftEngine *engine, GQuark key, gpointer (*make) (void),
                               GDestroyNotify free_part);
/* Runs `func` on the engine loop and returns when it has; any thread but
 * the loop's own. */
void weft_engine_invoke_sync (WeftEngine *engine, GSourceFunc func, gpointer data);

const WeftPluginDescriptor *weft_noop_descriptor (void);

/* ---- attempts (weft-attempt.c) ------------------------------------------ */

/* The run an attempt belongs to, as the attempt sees it: a table of
 * functions the run gives (weft-run-scheduler.c), one for every run.  The
 * run is above the attempt, which cannot call it otherwise.  The getters
 * may be called from any thread: what they read does not change once the
 * run has started. */
typedef struct {
  void (*unref) (gpointer run);
  const char *(*get_id) (gpointer run);
  const char *(*get_flow_name) (gpointer run);
  const char *(*get_inputs_json) (gpointer run);
  /* The outputs task `task` receives (its context): how many, and the
   * i-th's task name and output (outputs never change once set). */
  guint (*get_n_context) (gpointer run, guint task);
  const char *(*get_context_name) (gpointer run, guint task, guint i);
  const char *(*get_context_output) (gpointer run, guint task, guint i);
  WeftEngine *(*get_engine) (gpointer run);
  GMainContext *(*get_context) (gpointer run);
  gpointer (*get_soup) (gpointer run);   /* a SoupSession *, deprecated */
  WeftBus *(*get_bus) (gpointer run);
  /* Engine loop: the attempt's agent returned (the attempt's `returned`
   * message; weft_attempt_from_msg gives the attempt). */
  WeftMsgFunc returned;
  /* Engine loop: the agent reported a step. */
  void (*step) (WeftTask *attempt, const char *kind, const char *text);
} WeftAttemptOwner;

/* Attempt `number` of `task` (the flow's task `index`) in `run`, taking
 * over a reference on the run.  Of the flow task the attempt reads its
 * name, expected output and agent.  `description` and `prompt` are the
 * run's or the flow's. */
WeftTask *weft_attempt_new   (const WeftAttemptOwner *owner, gpointer run, WeftFlowTask *task,
                              guint index, guint number, const char *description,
                              const char *prompt);
WeftTask *weft_attempt_ref   (WeftTask *attempt);
void      weft_attempt_unref (WeftTask *attempt);
WeftTask *weft_attempt_from_msg (WeftMsg *returned);
gpointer  weft_attempt_get_run   (WeftTask *attempt);
guint     weft_attempt_get_index (WeftTask *attempt);
WeftEngine *weft_attempt_get_engine (WeftTask *attempt);
WeftBus  *weft_attempt_get_bus (WeftTask *attempt);
WeftFlowTask *weft_attempt_get_flow_task (WeftTask *attempt);
/* What the agent returned, taken: its error, or NULL and its output. */
GError   *weft_attempt_take_result (WeftTask *attempt, char **output);
/* What the attempt reported of its usage since the last take; any thread. */
void      weft_attempt_take_usage (WeftTask *attempt, WeftUsage *usage);
/* Calls the agent's run() on this thread: an async agent's on the loop;
 * a blocking one's from its job (weft_attempt_get_job) on a worker. */
void      weft_attempt_call_agent (WeftTask *attempt);
WeftMsg  *weft_attempt_get_job (WeftTask *attempt);
/* Cancels the attempt's cancellable, now or when it is first asked for. */
void      weft_attempt_cancel (WeftTask *attempt);
/* Engine loop: reports a step as weft_task_step does, at once. */
void      weft_attempt_raise_step (WeftTask *attempt, const char *kind, const char *text);
/* Before the agent is called: makes the attempt a thread's turn, its
 * history `messages_json` (a JSON array, taken): the agent's converse()
 * is called instead of run(), and weft_task_get_messages gives the array. */
void      weft_attempt_set_messages (WeftTask *attempt, char *messages_json);
gboolean  weft_attempt_is_turn (WeftTask *attempt);
/* The output weft_attempt_take_result gives is an assistant message (JSON
 * text) from weft_task_return_message, not plain text. */
gboolean  weft_attempt_output_is_message (WeftTask *attempt);

/* ---- runs (weft-run*.c) ------------------------------------------------- */

/* Engine loop: `run` has finished and its events are with its callbacks.
 * The function takes the loop's reference: a kickoff's caller whose
 * reference is the last one then drains the flow's callbacks on its own
 * thread. */
typedef void (*WeftRunDoneFunc) (WeftRun *run, gpointer data);

/* Creates a run: merges inputs, checks every input is there; settles what
 * `options` says is done; claims a resumed run from the flow's stores. */
WeftRun *weft_run_new (WeftFlow *flow, const WeftKickoffOptions *options, GError **error);
/* Any thread: hands `run` to the engine loop to start.  `done` is called
 * on the loop when it has finished. */
void weft_run_kickoff (WeftRun *run, GCancellable *cancellable, WeftRunDoneFunc done,
                       gpointer done_data);

/* The one JSON shape of a run (docs/http-api.md: times in wall-clock µs):
 * the summary (id, flow, status, error, times, duration), or all of it
 * (inputs, outputs and every task too).  Engine loop, or once finished. */
typedef enum {
  WEFT_RUN_JSON_SUMMARY,
  WEFT_RUN_JSON_FULL,
} WeftRunJsonDetail;
JsonObject *weft_run_to_json_object (WeftRun *run, WeftRunJsonDetail detail);

/* ---- tool calls (weft-tool.c) ------------------------------------------- */

/* The tool call API is the SDK's (weft_task_call_tool, weft_tool_call_*);
 * a thread's turn runs the calls its assistant asked for through these. */

/* `arguments` (a model's: hostile) as a JSON object; errors name the tool. */
JsonObject *weft_tool_parse_arguments (const char *name, const char *arguments, GError **error);
/* Engine loop: calls `tool` for `attempt`, a thread's turn that has
 * returned its message: as weft_task_call_tool, steps raised at once. */
void weft_attempt_run_tool (WeftTask *attempt, WeftToolInstance *tool, JsonObject *arguments,
                            WeftToolCallback callback, gpointer user_data);
/* A call of `tool` that belongs to no attempt (a thread's background
 * tool): no steps; `done` is called on the loop, once.  `owner_id` is what
 * the tool sees as its run id. */
typedef void (*WeftToolDoneFunc) (const char *result, const GError *error, gpointer user_data);
void weft_tool_call_start_detached (WeftEngine *engine, WeftToolInstance *tool,
                                    JsonObject *arguments, const char *owner_id,
                                    GCancellable *cancellable, WeftToolDoneFunc done,
                                    gpointer user_data);

/* ---- background jobs (weft-background.c) -------------------------------- */

/* A background job (weft_engine_create_task: "a task" in weft.h and the
 * HTTP API) as weft_engine_check_task and the server show it, whether
 * kept in memory or read back from a store. */
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
} WeftJobSummary;
JsonObject *weft_job_summary_to_json (const WeftJobSummary *job);

G_END_DECLS
