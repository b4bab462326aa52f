/* weft-cli.h — pieces shared by the `weft` command's source files.
 *
 * Everything here is built on the embedding API (weft.h) only.  Output goes
 * through stdio as raw UTF-8: stdout carries results, stderr carries
 * progress and errors.
 */
#pragma once

#include <stdio.h>
#include <weft.h>

#include "weft-cli-term.h"

G_BEGIN_DECLS

/* Exit statuses of every subcommand. */
enum {
  WEFT_CLI_EXIT_OK = 0,
  WEFT_CLI_EXIT_FAILED = 1,     /* the run failed                          */
  WEFT_CLI_EXIT_USAGE = 2,      /* bad arguments, a flow or plugin error   */
  WEFT_CLI_EXIT_CANCELLED = 130 /* interrupted (128 + SIGINT)              */
};

/* A subcommand: `args` is NULL-terminated and starts with the command's
 * own name ("run", "FLOW", ...).  Returns the exit status. */
typedef int (*WeftCliCommandFunc) (char **args);

int weft_cli_run_main      (char **args);
int weft_cli_validate_main (char **args);
int weft_cli_graph_main    (char **args);
int weft_cli_plugins_main  (char **args);
int weft_cli_runs_main     (char **args);
int weft_cli_replay_main   (char **args);
int weft_cli_resume_main   (char **args);
int weft_cli_serve_main    (char **args);
int weft_cli_worker_main   (char **args);
int weft_cli_workers_main  (char **args);
int weft_cli_chat_main     (char **args);

/* ---- weft-cli-run.c --------------------------------------------------- */

/* What every command that runs a flow (run, replay, resume) accepts. */
typedef struct {
  char **callbacks;
  char **plugin_dirs;
  gint threads;
  gboolean json;
  gboolean quiet;
  gboolean verbose;
} WeftCliExecOptions;

void weft_cli_exec_options_clear (WeftCliExecOptions *options);
/* Adds --callback, --plugin-dir, --threads, --json, --quiet and --verbose. */
void weft_cli_add_exec_entries (GOptionContext *context, WeftCliExecOptions *options);
/* -1 when --threads is in range and not both --quiet and --verbose are
 * given; else the exit status of the usage error it printed. */
int weft_cli_check_exec_args (const char *command, const WeftCliExecOptions *options);
/* The help text's part about progress, output and exit statuses. */
const char *weft_cli_exec_description (void);

/* Adds each `--callback PLUGIN[:k=v,...]` of `specs` to `flow`. */
gboolean weft_cli_add_callbacks (WeftEngine *engine, WeftFlow *flow, char **specs,
                                 GError **error);

/* Kicks off `flow` (taken) with `kickoff`, shows progress, serves
 * SIGINT/SIGTERM, prints the result and tears everything down in the order
 * that loses no event: engine shutdown, run, flow (drains the callback
 * queues).  Returns the exit status; the caller unrefs the engine. */
int weft_cli_execute (WeftEngine *engine, WeftFlow *flow, const WeftKickoffOptions *kickoff,
                      const WeftCliExecOptions *options);

/* ---- weft-cli-enqueue.c ----------------------------------------------- */

/* `weft run --enqueue`: queues one run of `flow` per element of `inputs`
 * (JsonObject *, NULL for the flow's own) in the store `spec` names, and
 * prints their ids.  Returns the exit status. */
int weft_cli_enqueue (WeftEngine *engine, WeftFlow *flow, const char *spec, GPtrArray *inputs,
                      gboolean quiet);

/* ---- weft-cli-common.c ------------------------------------------------ */

/* Parses `argv` (NULL-terminated, argv[0] the command's name) with
 * `context`, adding -h/--help, which prints the context's help to stdout.
 * On success *positional holds the arguments left (the command name
 * removed).  Returns -1 to go on, or the exit status to return at once
 * (0 after --help, 2 after a usage error, which it prints). */
int  weft_cli_parse_options (GOptionContext *context, char **argv,
                             GStrv *positional);

/* Prints "weft: MESSAGE" (and, for usage errors, a hint) to stderr and
 * returns `status`. */
int  weft_cli_fail (const GError *error, int status);
/* -1 when `value` of `option` is within [min, max]; else a usage error
 * that names the option, the range and the value (its exit status). */
int  weft_cli_check_range (const char *command, const char *option, gint64 value,
                           gint64 min, gint64 max);
/* Worker threads a command may ask for (--threads). */
#define WEFT_CLI_MAX_THREADS 1024
/* What an integer option holds when it was not given: GOption leaves the
 * variable alone, and 0 may be a value the user gave. */
#define WEFT_CLI_UNSET G_MININT
int  weft_cli_usage_error (const char *command, const char *format, ...)
  G_GNUC_PRINTF (2, 3);

/* A new engine with every plugin loaded (`plugin_dirs` first); refused
 * plugin files are printed as warnings. */
WeftEngine *weft_cli_open_engine (guint n_threads, char **plugin_dirs,
                                  GError **error);

/* The command's one writer of stderr (weft-cli-term.c): a terminal's
 * when stderr is one (and TERM is not "dumb").  Made on first use. */
WeftCliTerm *weft_cli_term (void);
/* Writes a line to stderr through weft_cli_term(). */
void weft_cli_printerr (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Writes `text` to `stream`, adding a newline when it lacks one. */
void weft_cli_put_text (FILE *stream, const char *text);

/* Prints rows (NULL-terminated string vectors) as aligned columns. */
void weft_cli_print_table (FILE *stream, const char *indent, GPtrArray *rows);

/* "·" when the locale can show it, else "-". */
const char *weft_cli_separator (void);

/* "1 task", "3 tasks". */
char *weft_cli_count (guint n, const char *singular, const char *plural);

/* ---- weft-cli-callback.c ---------------------------------------------- */

/* Parses a `--callback PLUGIN[:k=v,...]` argument.  Each value is turned
 * into the JSON type the plugin's options table declares; options the
 * table does not know stay strings (the core reports them). */
gboolean weft_cli_parse_callback_spec (WeftRegistry *registry,
                                       const char *spec,
                                       char **plugin,
                                       JsonObject **options,
                                       GError **error);

/* A `--callback` or `--store` argument as messages show it: a password
 * in it (a URI's user:PASSWORD@, a password=VALUE) and what came from the
 * environment become "***". */
char *weft_cli_spec_shown (const char *spec);

/* Opens the store a `--store PLUGIN[:k=v,...]` or `--store PATH` argument
 * names (a path: what names no loaded callback plugin, opened with
 * WEFT_CLI_PATH_STORE_PLUGIN); errors start with "--store SPEC: ".
 * *plugin and *options (may be NULL) get
 * what the spec said, so that a run can be recorded in the same store. */
WeftStore *weft_cli_open_store_spec (WeftEngine *engine, const char *spec, char **plugin,
                                     JsonObject **options, GError **error);
/* The same for a store whose queue is worked (`run --enqueue`, `worker`):
 * it may create its tables, and must keep a queue. */
WeftStore *weft_cli_open_queue_spec (WeftEngine *engine, const char *spec, char **plugin,
                                     JsonObject **options, GError **error);

/* The JSON value of `text` for an option of `type`; `option` names it in
 * errors. */
JsonNode *weft_cli_option_value_from_string (WeftOptionType type,
                                             const char *option,
                                             const char *text,
                                             GError **error);

const char *weft_cli_option_type_to_string (WeftOptionType type);

/* ---- weft-cli-progress.c ---------------------------------------------- */

typedef struct _WeftCliProgress WeftCliProgress;

/* Shows the progress of the runs of `flow` through `term` (which outlives
 * it): on a terminal a live status line, else one plain line per event;
 * `verbose`: the whole trace (tool calls and results, streamed text, each
 * answer) either way. */
WeftCliProgress *weft_cli_progress_new (WeftEngine *engine, WeftFlow *flow, WeftCliTerm *term,
                                        gboolean verbose);
/* Clears the status line and stops showing events; idempotent. */
void weft_cli_progress_stop (WeftCliProgress *progress);
/* Stops listening and frees; call after the engine has been shut down. */
void weft_cli_progress_free (WeftCliProgress *progress);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftCliProgress, weft_cli_progress_free)

/* ---- weft-cli-trace.c ------------------------------------------------- */

/* The step kind of streamed text (the openai agent's). */
#define WEFT_CLI_STEP_CHUNK "chunk"

/* What the trace knows of a task beside its events. */
typedef struct {
  const char *agent;          /* its agent instance's name */
  gboolean streamed;          /* this attempt streamed text: its answer is shown */
} WeftCliTraceTask;

/* The line an event is shown as, without its time, or NULL for none
 * (streamed chunks are text, never a line each).  `about` may be NULL.
 * With `verbose`, *block may get text to show under the line (an answer,
 * a long tool result); else it is NULL. */
char *weft_cli_trace_describe (const WeftEvent *event, const WeftCliTraceTask *about,
                               guint n_tasks, gboolean verbose, char **block);
/* A step as the status line shows it: "TASK: calls TOOL {...}". */
char *weft_cli_trace_step_status (const WeftEvent *event);

/* ---- weft-cli-inspect.c, weft-cli-plugins-md.c --------------------------- */

/* An option's range as the table means it: "0 to 2147483647", "at least
 * 1", "at most 10", or NULL for none. */
char *weft_cli_option_range (const WeftOption *o);
/* `weft plugins --markdown`: every plugin's options, as docs/plugins.md. */
int   weft_cli_plugins_markdown (WeftRegistry *registry);

/* ---- weft-cli-stored.c ------------------------------------------------ */

/* Where the commands about stored runs look when given no --store. */
#define WEFT_CLI_DEFAULT_STORE "sqlite:path=weft.db"
/* The plugin that opens a --store given as a plain database path. */
#define WEFT_CLI_PATH_STORE_PLUGIN "sqlite"

/* What the commands about stored runs (runs, replay, resume) accept; each
 * fills the part it offers. */
typedef struct {
  char *store;
  char *flow;
  char *from;
  gint limit;
  gboolean full;
  WeftCliExecOptions exec;
} WeftCliHistoryOptions;

void weft_cli_history_options_clear (WeftCliHistoryOptions *options);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftCliHistoryOptions, weft_cli_history_options_clear)

/* Adds --store and --flow. */
void weft_cli_add_store_entries (GOptionContext *context, WeftCliHistoryOptions *options);
/* For the `runs` commands, which run nothing: the store and where its
 * plugin is (--store, --flow, --plugin-dir). */
void weft_cli_add_runs_entries (GOptionContext *context, WeftCliHistoryOptions *options);
/* FALSE, after a usage error, when both --store and --flow are given. */
gboolean weft_cli_check_store_args (const char *command,
                                    const WeftCliHistoryOptions *options);

/* An engine and the store, for the `runs` commands that only use the store
 * (the engine must outlive it: it holds the plugin). */
WeftStore *weft_cli_open_engine_and_store (WeftEngine **engine,
                                           const WeftCliHistoryOptions *options,
                                           GError **error);
/* The stored run `run_id`: an object of the shape docs/store.md gives.
 * With --store (or the default), *plugin and *plugin_options say which
 * store, so that a replayed run can be recorded in it too; with --flow
 * they are NULL. */
JsonObject *weft_cli_read_run (WeftEngine *engine, const WeftCliHistoryOptions *options,
                               const char *run_id, char **plugin,
                               JsonObject **plugin_options, GError **error);

/* A JSON member as text, NULL when absent or null. */
const char *weft_cli_member_string (JsonObject *object, const char *name);
/* A JSON member as an integer, 0 when absent or not one. */
gint64 weft_cli_member_int (JsonObject *object, const char *name);
/* A stored run's tasks; NULL when it has none. */
JsonArray *weft_cli_stored_tasks (JsonObject *run);
/* "1234 tokens (1000 prompt, 234 completion), cost 0.00045": the tokens
 * and cost the agents reported (cost < 0: none priced). */
char *weft_cli_usage_text (gint64 prompt_tokens, gint64 completion_tokens, double cost);
/* The same from a run's or a task's JSON "usage"; NULL when it has none. */
char *weft_cli_usage_text_from_json (JsonObject *object);
/* A run that reached its end: nothing of it will run again unless replayed. */
gboolean weft_cli_run_ended (JsonObject *run);
/* The stored run's inputs, or NULL. */
JsonObject *weft_cli_stored_inputs (JsonObject *run);
/* Fills `kickoff` to continue the stored run `run` (get_run's object) as
 * `weft resume` does; returns the outputs it reuses (`kickoff->completed`,
 * the caller's to unref).  `run` and `run_id` must outlive the kickoff. */
JsonObject *weft_cli_resume_kickoff (JsonObject *run, const char *run_id,
                                     WeftKickoffOptions *kickoff);

/* ---- weft-cli-delete.c ------------------------------------------------ */

/* `weft runs delete` and `weft runs prune`, which `weft runs` picks;
 * argv[0] is the whole command's name ("runs delete"). */
int weft_cli_runs_delete_main (char **argv);
int weft_cli_runs_prune_main  (char **argv);

G_END_DECLS
