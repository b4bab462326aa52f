/* weft.h — embedding weft: load plugins and flows, run them, read results.
 *
 * Threads: a WeftEngine owns one engine-loop thread (all scheduling happens
 * there) and a pool of workers for blocking agents.  Every function here may
 * be called from any thread other than the engine loop's own, unless it says
 * otherwise; asynchronous results are delivered to the thread-default main
 * context of the caller, as everywhere in GIO.
 */
#pragma once

#include <weft/weft-sdk.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------------------ */
/* Plugin registry                                                          */

typedef struct _WeftRegistry WeftRegistry;
typedef struct _WeftPlugin WeftPlugin;

/* Opens one plugin file.  Refuses (with a message naming the file) a file
 * that is not a shared object, a missing entry symbol, an ABI mismatch, a
 * descriptor with missing or bad fields, and a second plugin of one kind
 * and name. */
WEFT_API WeftPlugin *weft_registry_load_file (WeftRegistry *registry,
                                              const char *path,
                                              GError **error);
/* Loads every weft-*.so below `dir` (three levels deep at most).  A file
 * the registry refuses is reported through `warnings` (one newly allocated
 * string each: make the array with g_free as its free function; may be
 * NULL) and skipped; returns FALSE only when `dir` cannot be read. */
WEFT_API gboolean weft_registry_load_dir (WeftRegistry *registry,
                                          const char *dir,
                                          GPtrArray *warnings,
                                          GError **error);
/* Adds a plugin compiled into the program (no file). */
WEFT_API WeftPlugin *weft_registry_add_static (WeftRegistry *registry,
                                               const WeftPluginDescriptor *descriptor,
                                               GError **error);
WEFT_API WeftPlugin *weft_registry_lookup (WeftRegistry *registry,
                                           WeftPluginKind kind,
                                           const char *name);
/* All plugins, sorted by kind then name.  The array is the caller's (free
 * it with g_ptr_array_unref); the plugins in it are the registry's. */
WEFT_API GPtrArray *weft_registry_list (WeftRegistry *registry);

WEFT_API const WeftPluginDescriptor *weft_plugin_get_descriptor (WeftPlugin *plugin);
/* The file it came from, or NULL for a built-in plugin. */
WEFT_API const char *weft_plugin_get_path (WeftPlugin *plugin);
WEFT_API const char *weft_plugin_kind_to_string (WeftPluginKind kind);

/* ------------------------------------------------------------------------ */
/* Engine                                                                   */

typedef struct _WeftEngine WeftEngine;

/* n_threads: size of the worker pool for blocking agents; 0 picks a default
 * from the number of processors.  The built-in "noop" agent is registered. */
WEFT_API WeftEngine   *weft_engine_new (guint n_threads);
WEFT_API WeftEngine   *weft_engine_ref (WeftEngine *engine);
/* The last unref stops the engine loop.  Call weft_engine_shutdown() first
 * when runs may still be in flight. */
WEFT_API void          weft_engine_unref (WeftEngine *engine);
WEFT_API WeftRegistry *weft_engine_get_registry (WeftEngine *engine);
WEFT_API GMainContext *weft_engine_get_main_context (WeftEngine *engine);

/* Loads plugins from, in this order: `extra_dirs` (may be NULL), every
 * directory of $WEFT_PLUGIN_PATH (colon-separated), the build tree when the
 * program runs uninstalled, then the installed plugin directory.  A plugin
 * whose kind and name were already loaded from an earlier directory is
 * skipped, so earlier directories take precedence. Refused files become
 * `warnings`. */
WEFT_API gboolean weft_engine_load_plugins (WeftEngine *engine,
                                            const char * const *extra_dirs,
                                            GPtrArray *warnings,
                                            GError **error);

/* Called on the engine loop for every event of every run, one at a time,
 * with the engine's listener lock held: it must be quick and must not
 * block (a listener that blocks stalls every run), nor add or remove
 * listeners.  The event is valid for the call only. */
typedef void (*WeftEventFunc) (const WeftEvent *event, gpointer user_data);
WEFT_API guint weft_engine_add_listener (WeftEngine *engine, WeftEventFunc func,
                                         gpointer user_data, GDestroyNotify destroy);
WEFT_API void  weft_engine_remove_listener (WeftEngine *engine, guint id);

/* Cancels every run in flight and waits until every agent has returned (an
 * agent that ignores its cancellable is waited for up to `grace_ms`). */
WEFT_API void weft_engine_shutdown (WeftEngine *engine, guint grace_ms);

/* ------------------------------------------------------------------------ */
/* The terminal: where plugins' text for a person goes                      */

/* Takes the text plugins write with weft_terminal_write (the log callback
 * without a path): one or more whole lines, each ending with a newline,
 * secrets already redacted.  Called from any thread, at once by several:
 * the writer serialises what it writes.  It must not call
 * weft_terminal_set_writer. */
typedef void (*WeftTerminalWriter) (const char *lines, gpointer user_data);
/* Sets the process's writer (NULL: stderr, the default), like
 * g_log_set_writer_func: the program that owns the terminal sets it before
 * it runs anything, e.g. to draw the lines above a status line of its own,
 * or to drop them.  The previous writer's `destroy` is called once no
 * write is using it. */
WEFT_API void weft_terminal_set_writer (WeftTerminalWriter writer, gpointer user_data,
                                        GDestroyNotify destroy);

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

/* Reads a file of at most `max_bytes` bytes and adds a NUL (not counted in
 * `length`, which may be NULL).  A larger file is refused once `max_bytes`
 * have been read, so one that never ends (/dev/zero, a FIFO) costs no more
 * memory than that.  Errors name the path. */
WEFT_API char *weft_read_file (const char *path, gsize max_bytes, gsize *length,
                               GError **error);

/* ------------------------------------------------------------------------ */
/* Flows                                                                    */

typedef struct _WeftFlow WeftFlow;

/* A flow larger than this is refused, from a file before it is read in
 * full (a flow of 100,000 tasks is about 10 MB). */
#define WEFT_FLOW_MAX_BYTES (64 * 1024 * 1024)

/* Parses and validates a flow: every error names `path`, the JSON path and
 * the reason.  Creates the flow's agent, tool and callback instances. */
WEFT_API WeftFlow *weft_flow_load_file (WeftEngine *engine, const char *path, GError **error);
/* `origin` names the data in error messages.  The text is checked as
 * weft_json_parse checks it: depth, numbers, "\u0000", duplicate keys. */
WEFT_API WeftFlow *weft_flow_load_data (WeftEngine *engine, const char *data, gssize length,
                                        const char *origin, GError **error);
WEFT_API WeftFlow *weft_flow_ref   (WeftFlow *flow);
/* The last unref drains the flow's callback queues: every event raised
 * reaches its callbacks before this returns. */
WEFT_API void      weft_flow_unref (WeftFlow *flow);

WEFT_API const char *weft_flow_get_name (WeftFlow *flow);
WEFT_API guint       weft_flow_get_n_tasks (WeftFlow *flow);
WEFT_API const char *weft_flow_get_task_name (WeftFlow *flow, guint i);
/* The name of the agent instance that does task i ("agents" in the file). */
WEFT_API const char *weft_flow_get_task_agent (WeftFlow *flow, guint i);
/* Names of the tasks task i waits for; NULL-terminated, owned by the flow. */
WEFT_API const char * const *weft_flow_get_task_dependencies (WeftFlow *flow, guint i);
/* Inputs the flow's templates use, NULL-terminated, owned by the flow. */
WEFT_API const char * const *weft_flow_get_input_names (WeftFlow *flow);
/* The flow's own default inputs ("inputs" in the file), or NULL. */
WEFT_API JsonObject *weft_flow_get_default_inputs (WeftFlow *flow);
/* Whether a kickoff with `inputs` (merged over the flow's own; may be NULL)
 * would have every input the flow uses: the check a kickoff makes, for a
 * caller that checks a whole batch before starting any of it. */
WEFT_API gboolean weft_flow_check_inputs (WeftFlow *flow, JsonObject *inputs, GError **error);

/* Adds a flow-level callback instance before the first kickoff.  `options`
 * (not taken; may be NULL) are checked against the plugin's table like the
 * flow's own. */
WEFT_API gboolean weft_flow_add_callback (WeftFlow *flow, const char *plugin,
                                          JsonObject *options, GError **error);

/* How many agent, tool or callback instances the flow declares (added
 * callbacks included). */
WEFT_API guint weft_flow_get_n_instances (WeftFlow *flow, WeftPluginKind kind);

/* The graph as Graphviz dot or Mermaid text; the caller frees it. */
WEFT_API char *weft_flow_to_dot     (WeftFlow *flow);
WEFT_API char *weft_flow_to_mermaid (WeftFlow *flow);

/* ------------------------------------------------------------------------ */
/* Flows built in code                                                      */

/* A flow made with calls instead of JSON text: the same flow a file
 * describes (docs/flow-format.md), the same checks when it is finished,
 * refusals naming the call instead of a JSON path:
 *
 *   weft_flow_builder_add_task ("b"): context[0]: unknown task "zz" (known: a)
 *
 * Strings are copied; NULL where a string is required, or a call after
 * weft_flow_builder_finish(), is a programming error (a critical, as GLib
 * reports them).  docs/flow-format.md ("Flows built in code") maps every
 * key of a file to its call; examples/embed/builder.c is a whole program. */

/* How tasks wait for each other: "process" in a flow file. */
typedef enum {
  WEFT_PROCESS_GRAPH,           /* a task waits exactly for its context */
  WEFT_PROCESS_SEQUENTIAL,      /* CrewAI's: list order, async tasks together */
} WeftProcess;

typedef struct _WeftFlowBuilder WeftFlowBuilder;
/* An agent, tool or callback instance being declared; the builder's. */
typedef struct _WeftBuilderInstance WeftBuilderInstance;
/* A task being declared; the builder's. */
typedef struct _WeftBuilderTask WeftBuilderTask;

WEFT_API WeftFlowBuilder *weft_flow_builder_new (WeftEngine *engine, const char *name,
                                                 WeftProcess process);
WEFT_API void weft_flow_builder_free (WeftFlowBuilder *builder);
WEFT_API void weft_flow_builder_set_description (WeftFlowBuilder *builder,
                                                 const char *description);
/* The default value of an input ("inputs" in a file); kickoffs override it. */
WEFT_API void weft_flow_builder_add_input (WeftFlowBuilder *builder, const char *name,
                                           const char *value);

/* An instance of the agent, tool or callback plugin `plugin`, named `name`
 * among the flow's instances of its kind.  `options` (may be NULL; copied)
 * are as a file gives them, and the setters below add to them: each is
 * checked against the plugin's table when the flow is finished. */
WEFT_API WeftBuilderInstance *weft_flow_builder_add_agent    (WeftFlowBuilder *builder,
                                                              const char *name,
                                                              const char *plugin,
                                                              JsonObject *options);
WEFT_API WeftBuilderInstance *weft_flow_builder_add_tool     (WeftFlowBuilder *builder,
                                                              const char *name,
                                                              const char *plugin,
                                                              JsonObject *options);
WEFT_API WeftBuilderInstance *weft_flow_builder_add_callback (WeftFlowBuilder *builder,
                                                              const char *name,
                                                              const char *plugin,
                                                              JsonObject *options);
WEFT_API void weft_builder_instance_set_string (WeftBuilderInstance *instance,
                                                const char *option, const char *value);
WEFT_API void weft_builder_instance_set_int    (WeftBuilderInstance *instance,
                                                const char *option, gint64 value);
WEFT_API void weft_builder_instance_set_double (WeftBuilderInstance *instance,
                                                const char *option, double value);
WEFT_API void weft_builder_instance_set_bool   (WeftBuilderInstance *instance,
                                                const char *option, gboolean value);
/* A string list option; `value` is NULL-terminated. */
WEFT_API void weft_builder_instance_set_strv   (WeftBuilderInstance *instance,
                                                const char *option,
                                                const char * const *value);
/* An object option (an exec agent's "env", an HTTP tool's "headers"); copied. */
WEFT_API void weft_builder_instance_set_object (WeftBuilderInstance *instance,
                                                const char *option, JsonObject *value);
/* Agents: hands the agent a tool instance of the flow ("tools" in a file). */
WEFT_API void weft_builder_instance_add_tool   (WeftBuilderInstance *agent, const char *tool);
/* Tools: what the tool does, as a model is told (default: the plugin's). */
WEFT_API void weft_builder_instance_set_description (WeftBuilderInstance *tool,
                                                     const char *description);

/* A task, after those added before it (the order matters for
 * WEFT_PROCESS_SEQUENTIAL), done by the agent instance `agent`;
 * `description` may hold {input} placeholders. */
WEFT_API WeftBuilderTask *weft_flow_builder_add_task (WeftFlowBuilder *builder,
                                                      const char *name, const char *agent,
                                                      const char *description);
WEFT_API void weft_builder_task_set_expected_output (WeftBuilderTask *task,
                                                     const char *expected_output);
/* A task whose output this one waits for and receives, by name. */
WEFT_API void weft_builder_task_add_context  (WeftBuilderTask *task, const char *name);
WEFT_API void weft_builder_task_set_async    (WeftBuilderTask *task, gboolean async);
WEFT_API void weft_builder_task_set_exclude  (WeftBuilderTask *task, gboolean exclude);
/* At most 100 more attempts after a failed one (default 0). */
WEFT_API void weft_builder_task_set_retries  (WeftBuilderTask *task, guint retries);
/* The base of the backoff between attempts, at most an hour (default 500). */
WEFT_API void weft_builder_task_set_retry_delay (WeftBuilderTask *task, guint retry_delay_ms);
/* Time allowed for one attempt: 0.001 s to a week (default: none). */
WEFT_API void weft_builder_task_set_timeout  (WeftBuilderTask *task, double seconds);
/* A callback instance of the flow that gets this task's events: as in a
 * file, a callback some task names gets only those tasks' events. */
WEFT_API void weft_builder_task_add_callback (WeftBuilderTask *task, const char *callback);

/* Checks the flow as weft_flow_load_data() checks a file, then makes its
 * instances: the flow, or NULL with `error` set.  Once only: the builder
 * can then only be freed. */
WEFT_API WeftFlow *weft_flow_builder_finish (WeftFlowBuilder *builder, GError **error);

/* ------------------------------------------------------------------------ */
/* Runs                                                                     */

typedef struct _WeftRun WeftRun;

typedef enum {
  WEFT_STATUS_PENDING,
  WEFT_STATUS_RUNNING,
  WEFT_STATUS_COMPLETED,
  WEFT_STATUS_FAILED,
  WEFT_STATUS_SKIPPED,
  WEFT_STATUS_CANCELLED,
} WeftStatus;

WEFT_API const char *weft_status_to_string (WeftStatus status);

/* Starts a run of `flow` with `inputs` (merged over the flow's own; may be
 * NULL).  Missing inputs fail the kickoff before any task starts.  Cancelling
 * `cancellable` cancels the run's running tasks and skips the rest. */
WEFT_API void weft_flow_kickoff_async (WeftFlow *flow, JsonObject *inputs,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
/* How to start a run, beyond its inputs: replay (`completed` alone: a new
 * run that reuses these outputs and runs the rest) and resume (`completed`
 * and `resume_run_id`: the same run, continued by this process). */
typedef struct {
  JsonObject *inputs;          /* merged over the flow's own; may be NULL */
  /* Task name → output (a string): settled as completed without running.
   * A new run raises task.completed with attempt 0 for each ("reused"); a
   * resumed one raises nothing for them (their events are stored). */
  JsonObject *completed;
  /* Continue this run: same id, run.resumed instead of run.started, event
   * numbers after `resume_seq` (its last stored event). */
  const char *resume_run_id;
  guint64 resume_seq;
  /* With `resume_run_id`: the stored run's tasks, as a store's get_run
   * lists them (docs/store.md; may be NULL).  A task whose `status` is
   * failed, skipped or cancelled stays so, without events: a stored
   * failure fails the run, and a run that was being cancelled is ended
   * cancelled.  The others' attempts go on after their stored
   * `attempts`, and only their stored `failures` count against their
   * retries: an attempt in flight when the process died did not fail. */
  JsonArray *stored_tasks;
  /* A new run under this id instead of a fresh one: a queued run's, which
   * a worker starts (weft_store_claim_next).  Like a resumed run, it is
   * claimed from the flow's stores first (WEFT_ERROR_BUSY when another
   * process holds it).  Not with `resume_run_id`. */
  const char *run_id;
  /* Zero (initialise with { .inputs = ... }): room for fields to come, so
   * that the struct a caller allocates keeps its size. */
  gpointer reserved[7];
} WeftKickoffOptions;

WEFT_API void weft_flow_kickoff_with_options_async (WeftFlow *flow,
                                                    const WeftKickoffOptions *options,
                                                    GCancellable *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer user_data);
WEFT_API WeftRun *weft_flow_kickoff_with_options (WeftFlow *flow,
                                                  const WeftKickoffOptions *options,
                                                  GCancellable *cancellable, GError **error);
/* The tasks that depend on `task`, directly or not, and `task` itself:
 * what a replay from `task` runs again.  NULL-terminated; g_strfreev it.
 * NULL when the flow has no such task. */
WEFT_API char **weft_flow_dup_downstream (WeftFlow *flow, const char *task);

/* Returns the finished run whatever its status (see weft_run_get_status), or
 * NULL with `error` set when it could not start. */
WEFT_API WeftRun *weft_flow_kickoff_finish (WeftFlow *flow, GAsyncResult *result,
                                            GError **error);
/* The same, blocking the calling thread (never the engine loop's). */
WEFT_API WeftRun *weft_flow_kickoff (WeftFlow *flow, JsonObject *inputs,
                                     GCancellable *cancellable, GError **error);

WEFT_API WeftRun    *weft_run_ref   (WeftRun *run);
WEFT_API void        weft_run_unref (WeftRun *run);
WEFT_API const char *weft_run_get_id (WeftRun *run);
WEFT_API WeftFlow   *weft_run_get_flow (WeftRun *run);
WEFT_API WeftStatus  weft_run_get_status (WeftRun *run);
/* Why the run failed or was cancelled; NULL when it completed. */
WEFT_API const GError *weft_run_get_error (WeftRun *run);
WEFT_API gint64      weft_run_get_duration_us (WeftRun *run);
/* Final outputs: the tasks nothing depends on, minus excluded ones, as
 * name → output (only those that completed).  A new object: unref it. */
WEFT_API JsonObject *weft_run_get_outputs (WeftRun *run);
/* The whole result (status, outputs, every task) as JSON; a new node. */
WEFT_API JsonNode   *weft_run_to_json (WeftRun *run);
/* From a run's JSON (weft_run_to_json's shape, or a store's get_run): task
 * name → output of each task it completed, but those named in `except`
 * (may be NULL): what a replay or a resume reuses (WeftKickoffOptions'
 * `completed`).  A new object; members that are not as described are
 * skipped. */
WEFT_API JsonObject *weft_run_json_get_completed (JsonObject *run, const char *const *except);

/* Per task, by index in the flow (weft_flow_get_task_name). */
WEFT_API WeftStatus  weft_run_get_task_status   (WeftRun *run, guint i);
WEFT_API const char *weft_run_get_task_output   (WeftRun *run, guint i);
WEFT_API const GError *weft_run_get_task_error  (WeftRun *run, guint i);
WEFT_API guint       weft_run_get_task_attempts (WeftRun *run, guint i);
/* Monotonic µs of the first start and the end; 0 when it never ran. */
WEFT_API gint64      weft_run_get_task_started_us  (WeftRun *run, guint i);
WEFT_API gint64      weft_run_get_task_finished_us (WeftRun *run, guint i);

/* Tokens the agents reported (weft_task_report_usage) and their cost (the
 * sum of the reports that had a price; -1 when none had), over every
 * attempt: of task i, or (weft_run_get_usage) of the whole run.  FALSE,
 * the numbers 0 and the cost -1, when none was reported.  Any may be NULL.
 * On the run's context once it has finished. */
WEFT_API gboolean    weft_run_get_usage      (WeftRun *run, gint64 *prompt_tokens,
                                              gint64 *completion_tokens, double *cost);
WEFT_API gboolean    weft_run_get_task_usage (WeftRun *run, guint i, gint64 *prompt_tokens,
                                              gint64 *completion_tokens, double *cost);

/* ------------------------------------------------------------------------ */
/* Background tasks: one agent call, checked on later by id                 */

/* Starts one call of `agent` (an agent of `flow`, sharing its instance:
 * its limits, connections and tools) with `prompt`, and returns its id at
 * once (a new string).  It runs like a one-task flow named "FLOW.AGENT",
 * whose events reach `flow`'s callbacks.  Fails with WEFT_ERROR_NOT_FOUND
 * when `flow` has no such agent. */
WEFT_API char     *weft_engine_create_task (WeftEngine *engine, WeftFlow *flow,
                                            const char *agent, const char *prompt,
                                            GError **error);
/* The task as JSON: {task_id, flow, agent, status ("running", then
 * "completed", "failed" or "cancelled"), output, error, created_wall_us,
 * finished_wall_us, duration_us}; a new node.  WEFT_ERROR_NOT_FOUND for an
 * unknown id, or a finished task no longer kept. */
WEFT_API JsonNode *weft_engine_check_task (WeftEngine *engine, const char *task_id,
                                           GError **error);
/* Every task kept, newest first: a JSON array of the objects above. */
WEFT_API JsonNode *weft_engine_list_tasks (WeftEngine *engine);
/* Cancels a running task (a finished one is left as it is). */
WEFT_API gboolean  weft_engine_cancel_task (WeftEngine *engine, const char *task_id,
                                            GError **error);
/* Finished tasks are kept for `keep_s` seconds, `keep` of them at most
 * (default: 3600 s, 1000): memory stays bounded however long the engine
 * runs.  Running tasks are always kept. */
WEFT_API void      weft_engine_set_task_retention (WeftEngine *engine, guint keep,
                                                   guint keep_s);

/* ------------------------------------------------------------------------ */
/* Threads: conversations with an agent (docs/conversations.md)              */

/* An ordered history of messages (user, assistant with its tool calls, tool
 * results, notices) and a queue of messages waiting to enter it, owned by
 * the engine loop: one turn of the agent at a time, messages answered in
 * the order they arrived.  A thread holds no OS thread of its own. */
typedef struct _WeftThread WeftThread;

/* What a user message that arrives during a turn does. */
typedef enum {
  WEFT_THREAD_ENQUEUE,        /* waits, and is answered after the turn */
  WEFT_THREAD_INTERRUPT,      /* ends the turn (its model call cancelled, what
                               * finished kept) and is answered at once */
  WEFT_THREAD_REJECT,         /* is refused: WEFT_ERROR_BUSY */
} WeftThreadStrategy;

/* The longest message a thread takes, in bytes. */
#define WEFT_THREAD_MESSAGE_MAX (256 * 1024)

/* A new thread with an agent of `flow`.  `settings` (may be NULL; not
 * taken) are a JSON object of the shape of the flow's "chat" member
 * (docs/conversations.md: agent, strategy, background_done, max_steps,
 * background), each member given overriding the flow's.  Fails
 * (WEFT_ERROR_INVALID) on settings that do not check, or an agent that
 * cannot converse.  Its events (thread.*) reach the flow's callbacks and
 * the engine's listeners; the engine keeps it (weft_engine_lookup_thread)
 * until weft_thread_close(). */
WEFT_API WeftThread *weft_thread_new (WeftFlow *flow, JsonObject *settings, GError **error);
/* The thread `thread_id` as the flow's store kept it, continued with its
 * whole history; its background tasks that were running when its process
 * ended are "interrupted".  The engine's own thread of that id when it
 * has one.  WEFT_ERROR_NOT_FOUND when the flow has no store or the store
 * no such thread.  The store is read on the calling thread (never the
 * engine loop's: it may wait on a disk); two calls at once for one id
 * give the same thread. */
WEFT_API WeftThread *weft_thread_open (WeftFlow *flow, const char *thread_id, GError **error);
WEFT_API WeftThread *weft_thread_ref (WeftThread *thread);
WEFT_API void        weft_thread_unref (WeftThread *thread);
WEFT_API const char *weft_thread_get_id (WeftThread *thread);
WEFT_API WeftFlow   *weft_thread_get_flow (WeftThread *thread);
/* Posts a user message (valid UTF-8, at most WEFT_THREAD_MESSAGE_MAX
 * bytes) to the thread's queue.  Returns its arrival number (1, 2, ...:
 * the order the history takes them in), or 0 with `error`:
 * WEFT_ERROR_BUSY under the reject strategy while a turn is in flight,
 * WEFT_ERROR_NOT_FOUND once closed, WEFT_ERROR_INVALID for the text. */
WEFT_API guint64     weft_thread_post (WeftThread *thread, const char *content, GError **error);
/* TRUE while a turn is in flight or messages wait. */
WEFT_API gboolean    weft_thread_is_busy (WeftThread *thread);
/* Ends the turn in flight, if any (as the interrupt strategy does); the
 * messages waiting are answered next. */
WEFT_API void        weft_thread_cancel_turn (WeftThread *thread);
/* Cancels a background task of the thread.  WEFT_ERROR_NOT_FOUND for an
 * unknown id; a finished task is left as it is. */
WEFT_API gboolean    weft_thread_cancel_task (WeftThread *thread, const char *task_id,
                                              GError **error);
/* {thread_id, flow, settings, busy, queued, turns, last_error,
 * created_wall_us, messages: [{seq, role, content, tool_calls?,
 * tool_call_id?, wall_us}], tasks: [{task_id, name, kind, status,
 * arguments, result, error, run_id, started_wall_us, finished_wall_us,
 * duration_us}]}; a new node. */
WEFT_API JsonNode   *weft_thread_to_json (WeftThread *thread);
/* Ends the thread: its turn and its background tasks are cancelled,
 * thread.deleted is raised, the engine forgets it; the handle stays valid
 * until its last unref. */
WEFT_API void        weft_thread_close (WeftThread *thread);
/* A thread the engine keeps (a new reference), or NULL. */
WEFT_API WeftThread *weft_engine_lookup_thread (WeftEngine *engine, const char *thread_id);
/* Every thread the engine keeps, newest first: {thread_id, flow, agent,
 * busy, messages (their count), created_wall_us}. */
WEFT_API JsonNode   *weft_engine_list_threads (WeftEngine *engine);

/* ------------------------------------------------------------------------ */
/* Stores: runs read back (`weft runs`, `replay`, `resume`)                 */

typedef struct _WeftStore WeftStore;

/* Opens a callback plugin that has the store capability, with `options`
 * (checked against its table; may be NULL), to read from.  The plugin sees
 * weft_config_is_reader(): a store with nothing there fails
 * (WEFT_ERROR_NOT_FOUND) rather than creating an empty one. */
WEFT_API WeftStore *weft_store_open (WeftEngine *engine, const char *plugin,
                                     JsonObject *options, GError **error);
/* The store the flow writes to (its first callback with the capability),
 * or NULL.  Keeps the flow alive until freed. */
WEFT_API WeftStore *weft_flow_dup_store (WeftFlow *flow);
/* The store the flow writes to through the plugin named `plugin`: the
 * last such callback, so one added with weft_flow_add_callback (a worker
 * adds its queue's store) over one the flow declares.  NULL when none. */
WEFT_API WeftStore *weft_flow_dup_plugin_store (WeftFlow *flow, const char *plugin);
WEFT_API void       weft_store_free (WeftStore *store);
/* The shapes of docs/store.md; new nodes, or NULL with `error` set. */
WEFT_API JsonNode  *weft_store_list_runs (WeftStore *store, guint limit, GError **error);
WEFT_API JsonNode  *weft_store_get_run (WeftStore *store, const char *run_id, GError **error);
/* A stored run's events with a seq above `after_seq`, in order, at most
 * `limit` (0: all): an array of docs/events.md's objects.
 * WEFT_ERROR_NOT_FOUND for a run the store does not have, and from a store
 * whose plugin gives no events back (SDK 3.2's get_events is optional). */
WEFT_API JsonNode  *weft_store_get_events (WeftStore *store, const char *run_id,
                                           guint64 after_seq, guint limit, GError **error);
/* Deletes a stored run with its tasks and events.  WEFT_ERROR_NOT_FOUND for
 * an unknown id, WEFT_ERROR_BUSY while a live process runs it,
 * WEFT_ERROR_INVALID when the store's plugin cannot delete runs. */
WEFT_API gboolean weft_store_delete_run (WeftStore *store, const char *run_id, GError **error);
/* Takes the stored run for this process, as a resume does before it
 * starts: WEFT_ERROR_BUSY when another process still runs it.  TRUE from a
 * store that cannot tell.  The claim lasts until the store has stored the
 * run's end, or is freed. */
WEFT_API gboolean weft_store_claim_run (WeftStore *store, const char *run_id, GError **error);

/* ------------------------------------------------------------------------ */
/* Queues: runs shared by processes on many machines (docs/scale-out.md)     */

/* Opens a store whose plugin keeps a queue of runs, to add to it or work
 * it: unlike weft_store_open it may create what the plugin needs (its
 * tables).  WEFT_ERROR_INVALID when the plugin keeps no queue. */
WEFT_API WeftStore *weft_store_open_queue (WeftEngine *engine, const char *plugin,
                                           JsonObject *options, GError **error);
WEFT_API gboolean   weft_store_has_queue (WeftStore *store);
/* Queues `n` runs of `flow` (its text is stored with them: a worker needs
 * no file), one per inputs object (`inputs` may be NULL, and so may each
 * element: the flow's own inputs), each checked as a kickoff checks it
 * before any is queued, all or none.  Returns their ids in order
 * (g_strfreev).  A flow that declares a callback of the store's own plugin
 * is refused: the worker records the run there. */
WEFT_API char     **weft_store_enqueue (WeftStore *store, WeftFlow *flow,
                                        JsonObject * const *inputs, guint n, GError **error);
/* Makes this store a worker of its queue, shown by weft_store_list_workers
 * with this host, process and `concurrency` while the process lives. */
WEFT_API gboolean   weft_store_join (WeftStore *store, guint concurrency, GError **error);
/* For a worker: the next run to run (a queued one, or one whose worker
 * died), taken for it; NULL with no error when none waits. */
WEFT_API char      *weft_store_claim_next (WeftStore *store, GError **error);
/* Returns when a run may be waiting, or after `timeout_ms`; FALSE with an
 * error when the store cannot be reached, or WEFT_ERROR_CANCELLED. */
WEFT_API gboolean   weft_store_wait (WeftStore *store, guint timeout_ms,
                                     GCancellable *cancellable, GError **error);
/* Gives back a run this process took and will not finish, with `reason`
 * (kept with the run, values from the environment redacted): another
 * worker takes it, resuming from what is stored; the store stores none of
 * its events from now on.  From the queue's store, the worker is not
 * given that run again. */
WEFT_API gboolean   weft_store_hand_back (WeftStore *store, const char *run_id,
                                          const char *reason, GError **error);
/* The live workers: a JSON array of {worker, host, pid, concurrency,
 * started_wall_us, runs}. */
WEFT_API JsonNode  *weft_store_list_workers (WeftStore *store, GError **error);

/* Threads the store keeps (docs/store.md), for a store whose plugin does
 * (SDK 3.2; WEFT_ERROR_NOT_FOUND otherwise): one, by id
 * (WEFT_ERROR_NOT_FOUND when unknown or deleted), the list, newest first
 * (limit 0: all), or deleted. */
WEFT_API JsonNode *weft_store_get_thread (WeftStore *store, const char *thread_id, GError **error);
WEFT_API JsonNode *weft_store_list_threads (WeftStore *store, guint limit, GError **error);
WEFT_API gboolean  weft_store_delete_thread (WeftStore *store, const char *thread_id,
                                            GError **error);

/* ------------------------------------------------------------------------ */
/* HTTP server (`weft serve`; the API is docs/http-api.md)                  */

typedef struct _WeftServer WeftServer;

typedef struct {
  /* Bearer token every endpoint but /healthz requires; NULL for none,
   * which only a loopback address allows. */
  const char *token;
  gsize max_body;             /* request bodies over it get 413; 0: 1 MiB */
  guint keep_runs;            /* finished runs kept in memory; 0: 1000 */
  guint keep_s;               /* ... and for how long; 0: 3600 s */
  /* Runs in flight (batches' queued ones included) at most; a kickoff
   * beyond gets 503 with Retry-After, so that memory stays bounded under
   * any load.  0: 10000. */
  guint max_runs;
  /* Connections (0 means the default given for each).  A new connection
   * must send its first request head within `header_timeout_s` (10), a
   * kept-alive one its next request's first byte within `idle_timeout_s`
   * (30) of the last response, then the head within `header_timeout_s`
   * of that byte; a body must be in whole within `body_timeout_s` (60) of
   * its head.  An idle connection that times out is closed; a request
   * that does gets 408. */
  guint header_timeout_s;
  guint body_timeout_s;
  guint idle_timeout_s;
  /* Connections open at once at most (1000); beyond, new ones wait in the
   * kernel's backlog until one closes. */
  guint max_connections;
  /* Out of descriptors (EMFILE, ENFILE), accepting pauses this long (500
   * ms) and is tried again; a warning is logged at most every 10 s. */
  guint accept_backoff_ms;
  /* A request's URL longer than `max_url` bytes (8192) gets 414; a request
   * head (request line and headers) longer than `max_headers` bytes
   * (32768; at most WEFT_SERVER_MAX_HEADERS_LIMIT) gets 431. */
  guint max_url;
  guint max_headers;
  /* A connection whose response cannot be written for `write_timeout_s`
   * (60) is closed: the client has stopped reading.  A response with
   * nothing to send (a quiet event stream) is not timed. */
  guint write_timeout_s;
  /* Zero: room for options to come, so that the struct a caller allocates
   * keeps its size (new ones take these slots, zero meaning the default). */
  gpointer reserved[8];
} WeftServerOptions;

/* The largest `max_headers`: libsoup drops a connection whose request head
 * passes 64 KiB without answering, so weft answers 431 below that. */
#define WEFT_SERVER_MAX_HEADERS_LIMIT 64512

/* A server on the engine's loop; `options` may be NULL.  Background tasks
 * follow the same retention (weft_engine_set_task_retention). */
WEFT_API WeftServer *weft_server_new (WeftEngine *engine, const WeftServerOptions *options);
/* Serves `flow` under its name; two flows of one name are refused.  A
 * flow's own store (weft_flow_dup_store) is read for its older runs. */
WEFT_API gboolean    weft_server_add_flow (WeftServer *server, WeftFlow *flow, GError **error);
/* Reads older runs from `store` too (taken). */
WEFT_API void        weft_server_add_store (WeftServer *server, WeftStore *store);
/* Kickoffs and batches go to the queue of `store` (taken; a store with a
 * queue, weft_store_open_queue) instead of running here: each is answered
 * 202 with the queued run ids, and its status is read from the store like
 * any stored run's (the store is read for older runs too).  Before
 * listening; once. */
WEFT_API void        weft_server_set_queue (WeftServer *server, WeftStore *store);
/* Listens on "HOST:PORT" (an IP address or "localhost"; port 0 picks a
 * free one).  Refuses any address that is not loopback when the server
 * has no token. */
WEFT_API gboolean    weft_server_listen (WeftServer *server, const char *address,
                                         GError **error);
/* The port listened on (after weft_server_listen). */
WEFT_API guint       weft_server_get_port (WeftServer *server);
/* Stops accepting connections, waits up to `grace_ms` for the runs and
 * tasks in flight, cancels what is left (waiting up to `grace_ms` more for
 * agents that ignore it), then closes every connection.  Any thread but
 * the engine loop's. */
WEFT_API void        weft_server_stop (WeftServer *server, guint grace_ms);
WEFT_API void        weft_server_free (WeftServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftEngine, weft_engine_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftFlow, weft_flow_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftFlowBuilder, weft_flow_builder_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftRun, weft_run_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftStore, weft_store_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftServer, weft_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftThread, weft_thread_unref)

/* ------------------------------------------------------------------------ */
/* The process's HTTP client (weft-sdk.h's weft_http_*)                     */

/* At most `n` connections to one host (scheme, host and port) at once;
 * requests beyond wait for one.  0: the default, 3/4 of the soft
 * open-file limit as it was when the client started.  Applies to
 * requests started afterwards, in every engine of the process. */
WEFT_API void weft_http_set_max_connections_per_host (guint n);
/* Over cleartext HTTP/1.1, how many requests to one host in flight at once
 * leave their connection open for the next; those beyond ask for theirs to
 * be closed once answered.  0: the default, 256.  A program that sends
 * bursts of thousands again and again raises it to keep them all warm. */
WEFT_API void weft_http_set_keep_alive_per_host (guint n);

G_END_DECLS
