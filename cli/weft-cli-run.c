/* weft-cli-run.c — `weft run FLOW`: load, kick off on the main loop, show
 * progress, print the result, shut down without losing events. */
#include "weft-cli.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define WEFT_CLI_SHUTDOWN_GRACE_MS 5000

typedef struct {
  char **inputs;
  char *inputs_json;
  char *inputs_file;
  gint max_parallel;
  gboolean enqueue;
  char *store;
  WeftCliExecOptions exec;
} WeftCliRunOptions;

void
weft_cli_exec_options_clear (WeftCliExecOptions *options)
{
  g_clear_pointer (&options->callbacks, g_strfreev);
  g_clear_pointer (&options->plugin_dirs, g_strfreev);
}

static void
weft_cli_run_options_clear (WeftCliRunOptions *options)
{
  g_clear_pointer (&options->inputs, g_strfreev);
  g_clear_pointer (&options->inputs_json, g_free);
  g_clear_pointer (&options->inputs_file, g_free);
  g_clear_pointer (&options->store, g_free);
  weft_cli_exec_options_clear (&options->exec);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftCliRunOptions, weft_cli_run_options_clear)

/* What the main loop and its callbacks share while a run is in flight. */
typedef struct {
  GMainLoop *loop;
  WeftFlow *flow;
  JsonObject *inputs;         /* the kickoff's, not owned */
  GCancellable *cancellable;
  WeftCliProgress *progress;
  WeftRun *run;
  GError *error;
  guint n_signals;
} WeftCliRunState;

/* ---- inputs ------------------------------------------------------------ */

/* The most read of an --inputs-json file and of an --inputs-file (one run
 * per line): enough for 100,000 runs of inputs, and a bound on a file that
 * never ends. */
#define WEFT_CLI_INPUTS_MAX_BYTES (64 * 1024 * 1024)
#define WEFT_CLI_INPUTS_FILE_MAX_BYTES (1024 * 1024 * 1024)

/* `source` is JSON text when it starts with '{' or '[', else a file name. */
static JsonObject *
weft_cli_load_inputs_json (const char *source, GError **error)
{
  const char *text = source + strspn (source, " \t\r\n");
  gboolean inline_json = text[0] == '{' || text[0] == '[';
  g_autofree char *label = inline_json ? g_strdup ("--inputs-json")
                                       : g_strdup_printf ("--inputs-json %s", source);
  g_autofree char *file_text = NULL;
  gsize length = 0;

  if (!inline_json)
    {
      file_text = weft_read_file (source, WEFT_CLI_INPUTS_MAX_BYTES, &length, error);
      if (file_text == NULL)
        {
          g_prefix_error (error, "--inputs-json: ");
          return NULL;
        }
      text = file_text;
    }
  else
    length = strlen (text);
  g_autoptr(JsonNode) root = weft_json_parse (text, (gssize) length, error);
  if (root == NULL)
    {
      g_prefix_error (error, "%s: ", label);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: inputs must be a JSON object", label);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static gboolean
weft_cli_add_input (JsonObject *inputs, const char *pair, GError **error)
{
  const char *equals = strchr (pair, '=');
  g_autofree char *key = NULL;

  if (equals == NULL || equals == pair)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "--input expects KEY=VALUE, not '%s'", pair);
      return FALSE;
    }
  key = g_strndup (pair, equals - pair);
  json_object_set_string_member (inputs, key, equals + 1);
  return TRUE;
}

/* The run's inputs: --input pairs over --inputs-json; NULL (and no error)
 * when neither was given. */
static gboolean
weft_cli_build_inputs (const WeftCliRunOptions *options, JsonObject **inputs,
                       GError **error)
{
  g_autoptr(JsonObject) object = NULL;

  *inputs = NULL;
  if (options->inputs_json == NULL && options->inputs == NULL)
    return TRUE;
  if (options->inputs_json != NULL)
    object = weft_cli_load_inputs_json (options->inputs_json, error);
  else
    object = json_object_new ();
  if (object == NULL)
    return FALSE;
  for (guint i = 0; options->inputs != NULL && options->inputs[i] != NULL; i++)
    if (!weft_cli_add_input (object, options->inputs[i], error))
      return FALSE;
  *inputs = g_steal_pointer (&object);
  return TRUE;
}

/* The first input the flow uses that neither `inputs` (may be NULL) nor
 * the flow's own defaults give, or NULL. */
static const char *
weft_cli_missing_input (WeftFlow *flow, JsonObject *inputs)
{
  const char * const *names = weft_flow_get_input_names (flow);
  JsonObject *defaults = weft_flow_get_default_inputs (flow);

  for (guint i = 0; names[i]; i++)
    if (!(inputs && json_object_has_member (inputs, names[i]))
        && !(defaults && json_object_has_member (defaults, names[i])))
      return names[i];
  return NULL;
}

/* The first of `inputs` (may be NULL) that the flow does not take: neither
 * its descriptions use it nor its defaults give it. */
static const char *
weft_cli_unknown_input (WeftFlow *flow, JsonObject *inputs)
{
  JsonObject *defaults = weft_flow_get_default_inputs (flow);
  g_autoptr(GList) names = inputs ? json_object_get_members (inputs) : NULL;

  for (GList *n = names; n; n = n->next)
    if (!g_strv_contains (weft_flow_get_input_names (flow), n->data)
        && !(defaults && json_object_has_member (defaults, n->data)))
      return n->data;
  return NULL;
}

/* libweft names a missing input and where the flow uses it, or an unknown
 * one and what the flow takes; the command line adds where to give or fix
 * it:  ... (the flow uses it in a task's description; give it with
 * --input who=VALUE or in "inputs").  `given_in` says where the inputs
 * came from. */
static void
weft_cli_hint_inputs (WeftFlow *flow, JsonObject *inputs, const char *given_in, GError *error)
{
  const char *missing = weft_cli_missing_input (flow, inputs);
  char *hinted;

  if (error == NULL || !g_error_matches (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND)
      || !g_str_has_suffix (error->message, ")"))
    return;
  if (missing != NULL)
    hinted = g_strdup_printf ("%.*s; give it with --input %s=VALUE or in \"inputs\")",
                              (int) strlen (error->message) - 1, error->message, missing);
  else if (weft_cli_unknown_input (flow, inputs) != NULL)
    hinted = g_strdup_printf ("%.*s; fix its name in %s)",
                              (int) strlen (error->message) - 1, error->message, given_in);
  else
    return;
  g_free (error->message);
  error->message = hinted;
}

/* One run's inputs per line of a JSON Lines file (blank lines skipped),
 * each with the --input pairs over it, and every one checked against the
 * flow before any run starts.  `lines` gets each one's line number. */
static GPtrArray *
weft_cli_load_inputs_file (WeftFlow *flow, const WeftCliRunOptions *options, GArray *lines,
                           GError **error)
{
  const char *path = options->inputs_file;
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  g_autofree char *text = NULL;
  g_auto(GStrv) rows = NULL;

  gsize length = 0;
  text = weft_read_file (path, WEFT_CLI_INPUTS_FILE_MAX_BYTES, &length, error);
  if (text == NULL)
    {
      g_prefix_error (error, "--inputs-file: ");
      return NULL;
    }
  /* Lines are split as C strings: a NUL would end the file early. */
  if (strlen (text) != length)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: a NUL byte at offset %" G_GSIZE_FORMAT " (not a JSON Lines file)", path,
                   strlen (text));
      return NULL;
    }
  rows = g_strsplit (text, "\n", -1);
  for (guint i = 0; rows[i] != NULL; i++)
    {
      const char *row = rows[i] + strspn (rows[i], " \t\r");
      g_autoptr(GError) local = NULL;
      g_autoptr(JsonNode) node = NULL;
      guint line = i + 1;

      if (*row == '\0')
        continue;
      node = weft_json_parse (row, -1, &local);
      if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s:%u: each line must be one JSON object of inputs%s%s", path, line,
                       local ? ": " : "", local ? local->message : "");
          return NULL;
        }
      JsonObject *inputs = json_node_get_object (node);
      for (guint k = 0; options->inputs != NULL && options->inputs[k] != NULL; k++)
        if (!weft_cli_add_input (inputs, options->inputs[k], error))
          return NULL;
      if (!weft_flow_check_inputs (flow, inputs, error))
        {
          weft_cli_hint_inputs (flow, inputs, "--input or the line", *error);
          g_prefix_error (error, "%s:%u: ", path, line);
          return NULL;
        }
      g_ptr_array_add (all, json_object_ref (inputs));
      g_array_append_val (lines, line);
    }
  if (all->len == 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "%s: no inputs (one JSON object per line, one run per object)", path);
      return NULL;
    }
  return g_steal_pointer (&all);
}

/* ---- callbacks --------------------------------------------------------- */

gboolean
weft_cli_add_callbacks (WeftEngine *engine, WeftFlow *flow, char **specs,
                        GError **error)
{
  WeftRegistry *registry = weft_engine_get_registry (engine);

  for (guint i = 0; specs != NULL && specs[i] != NULL; i++)
    {
      g_autofree char *plugin = NULL;
      g_autoptr(JsonObject) options = NULL;

      if (!weft_cli_parse_callback_spec (registry, specs[i], &plugin, &options, error)
          || !weft_flow_add_callback (flow, plugin, options, error))
        {
          g_autofree char *shown = weft_cli_spec_shown (specs[i]);
          g_prefix_error (error, "--callback %s: ", shown);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- blocking work while the main loop keeps serving signals ---------- */

typedef struct {
  GFunc func;
  gpointer data;
  gint done;
} WeftCliBackground;

static gpointer
weft_cli_background_main (gpointer user_data)
{
  WeftCliBackground *work = user_data;

  work->func (work->data, NULL);
  g_atomic_int_set (&work->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

/* Runs func(data) on a thread and iterates the main context until it
 * returns, so that a second SIGINT still exits at once. */
static void
weft_cli_wait_in_thread (GFunc func, gpointer data)
{
  WeftCliBackground work = { func, data, 0 };
  GThread *thread = g_thread_new ("weft-cli-wait", weft_cli_background_main, &work);

  while (!g_atomic_int_get (&work.done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);
}

static void
weft_cli_shutdown_engine (gpointer engine, gpointer unused)
{
  weft_engine_shutdown (engine, WEFT_CLI_SHUTDOWN_GRACE_MS);
}

static void
weft_cli_unref_flow (gpointer flow, gpointer unused)
{
  weft_flow_unref (flow);
}

/* ---- the run ----------------------------------------------------------- */

static gboolean
weft_cli_on_signal (gpointer user_data)
{
  WeftCliRunState *state = user_data;

  if (state->n_signals++ > 0)
    {
      weft_cli_printerr ("weft: interrupted again; exiting now");
      _exit (WEFT_CLI_EXIT_CANCELLED);
    }
  weft_cli_printerr ("weft: interrupted; cancelling what runs (interrupt again to exit at once)");
  g_cancellable_cancel (state->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
weft_cli_on_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeftCliRunState *state = user_data;

  state->run = weft_flow_kickoff_finish (state->flow, result, &state->error);
  if (state->run == NULL)
    weft_cli_hint_inputs (state->flow, state->inputs, "--input or --inputs-json",
                          state->error);
  g_main_loop_quit (state->loop);
}

/* ---- the result -------------------------------------------------------- */

/* The final outputs, each under '== TASK ==' when there are several, or
 * when a person reads them (stdout is a terminal): a script piping one
 * output gets it bare. */
static void
weft_cli_print_outputs (WeftRun *run, WeftFlow *flow)
{
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
  g_autoptr(GArray) shown = g_array_new (FALSE, FALSE, sizeof (guint));
  guint n_tasks = weft_flow_get_n_tasks (flow);
  gboolean headers;

  /* In the flow's task order, so that the output is stable. */
  for (guint i = 0; i < n_tasks && outputs != NULL; i++)
    if (json_object_has_member (outputs, weft_flow_get_task_name (flow, i)))
      g_array_append_val (shown, i);

  headers = shown->len > 1 || isatty (STDOUT_FILENO);
  for (guint k = 0; k < shown->len; k++)
    {
      guint i = g_array_index (shown, guint, k);

      if (headers)
        printf ("%s== %s ==\n", k > 0 ? "\n" : "", weft_flow_get_task_name (flow, i));
      weft_cli_put_text (stdout, weft_run_get_task_output (run, i));
    }
}

static void
weft_cli_print_json (WeftRun *run)
{
  g_autoptr(JsonNode) node = weft_run_to_json (run);
  g_autofree char *text = json_to_string (node, TRUE);

  weft_cli_put_text (stdout, text);
}

/* Why a run did not complete, for a reader who has not seen it: each task
 * that failed (once, with its name and error), then what did not run.  A
 * run whose progress was shown said all that as it happened. */
static void
weft_cli_print_failures (WeftRun *run, WeftFlow *flow)
{
  const GError *run_error = weft_run_get_error (run);
  g_autoptr(GPtrArray) skipped = g_ptr_array_new ();
  guint n_failed = 0;

  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    {
      const char *name = weft_flow_get_task_name (flow, i);
      const GError *error = weft_run_get_task_error (run, i);
      WeftStatus status = weft_run_get_task_status (run, i);
      guint attempts = weft_run_get_task_attempts (run, i);

      if (status == WEFT_STATUS_FAILED || status == WEFT_STATUS_CANCELLED)
        {
          weft_cli_printerr ("weft: task %s %s after %u attempt%s: %s", name,
                             weft_status_to_string (status), attempts, attempts == 1 ? "" : "s",
                             error ? error->message : "no reason given");
          n_failed++;
        }
      else if (status == WEFT_STATUS_SKIPPED || status == WEFT_STATUS_PENDING)
        g_ptr_array_add (skipped, (gpointer) name);
    }
  if (n_failed == 0 && weft_run_get_status (run) == WEFT_STATUS_CANCELLED)
    weft_cli_printerr ("weft: run cancelled");
  else if (n_failed == 0)
    weft_cli_printerr ("weft: run failed: %s", run_error ? run_error->message : "no reason given");
  if (skipped->len > 0)
    {
      g_ptr_array_add (skipped, NULL);
      g_autofree char *names = g_strjoinv (", ", (char **) skipped->pdata);
      weft_cli_printerr ("weft: not run: %s", names);
    }
}

static int
weft_cli_exit_status (WeftCliRunState *state)
{
  switch (weft_run_get_status (state->run))
    {
    case WEFT_STATUS_COMPLETED:
      return WEFT_CLI_EXIT_OK;
    case WEFT_STATUS_CANCELLED:
      return WEFT_CLI_EXIT_CANCELLED;
    default:
      return state->n_signals > 0 ? WEFT_CLI_EXIT_CANCELLED : WEFT_CLI_EXIT_FAILED;
    }
}

/* What the run's agents spent, unless quiet. */
static void
weft_cli_print_usage (WeftCliRunState *state)
{
  gint64 prompt, completion;
  double cost;

  if (state->progress == NULL
      || !weft_run_get_usage (state->run, &prompt, &completion, &cost))
    return;
  g_autofree char *text = weft_cli_usage_text (prompt, completion, cost);
  fprintf (stderr, "weft: usage: %s\n", text);
}

static int
weft_cli_report (WeftCliRunState *state, gboolean json)
{
  if (state->run == NULL)
    return weft_cli_fail (state->error, state->n_signals > 0
                                        ? WEFT_CLI_EXIT_CANCELLED
                                        : WEFT_CLI_EXIT_USAGE);
  if (json)
    weft_cli_print_json (state->run);
  else
    weft_cli_print_outputs (state->run, state->flow);
  fflush (stdout);
  if (weft_run_get_status (state->run) != WEFT_STATUS_COMPLETED && state->progress == NULL)
    weft_cli_print_failures (state->run, state->flow);
  weft_cli_print_usage (state);
  return weft_cli_exit_status (state);
}

int
weft_cli_execute (WeftEngine *engine, WeftFlow *flow, const WeftKickoffOptions *kickoff,
                  const WeftCliExecOptions *options)
{
  WeftCliRunState state = { 0 };
  guint sigint_id, sigterm_id;
  int status;

  state.loop = g_main_loop_new (NULL, FALSE);
  state.flow = flow;
  state.inputs = kickoff->inputs;
  state.cancellable = g_cancellable_new ();
  weft_cli_term_set_quiet (weft_cli_term (), options->quiet);
  if (!options->quiet)
    state.progress = weft_cli_progress_new (engine, flow, weft_cli_term (), options->verbose);
  sigint_id = g_unix_signal_add (SIGINT, weft_cli_on_signal, &state);
  sigterm_id = g_unix_signal_add (SIGTERM, weft_cli_on_signal, &state);

  weft_flow_kickoff_with_options_async (flow, kickoff, state.cancellable,
                                        weft_cli_on_run_done, &state);
  g_main_loop_run (state.loop);

  weft_cli_wait_in_thread (weft_cli_shutdown_engine, engine);
  if (state.progress != NULL)
    weft_cli_progress_stop (state.progress);
  status = weft_cli_report (&state, options->json);

  /* Freed after the report, which reads whether progress was shown. */
  g_clear_pointer (&state.progress, weft_cli_progress_free);
  g_clear_pointer (&state.run, weft_run_unref);
  weft_cli_wait_in_thread (weft_cli_unref_flow, g_steal_pointer (&state.flow));

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_error (&state.error);
  g_clear_object (&state.cancellable);
  g_main_loop_unref (state.loop);
  return status;
}

/* ---- a batch of runs (--inputs-file) ------------------------------------- */

/* What the loop shares while a batch is in flight.  `base` comes first:
 * the signal handler takes the batch as its WeftCliRunState (its progress
 * stays NULL: a batch reports a line per finished run instead). */
typedef struct {
  WeftCliRunState base;
  const char *path;
  GPtrArray *inputs;          /* JsonObject*, one per run */
  GArray *lines;              /* the line each came from */
  WeftRun **runs;             /* by index, once finished */
  GError **errors;            /* by index: a run that could not start */
  guint max_parallel;
  guint next_kickoff, running, finished, next_report;
  gboolean json, quiet;
} WeftCliBatch;

typedef struct {
  WeftCliBatch *batch;
  guint index;
} WeftCliBatchRun;

static void
weft_cli_batch_report_one (WeftCliBatch *b, guint i)
{
  WeftRun *run = b->runs[i];
  guint line = g_array_index (b->lines, guint, i);

  if (run == NULL)
    {
      weft_cli_printerr ("weft: %s:%u: %s", b->path, line, b->errors[i]->message);
      return;
    }
  WeftStatus status = weft_run_get_status (run);
  if (b->json)
    {
      g_autoptr(JsonNode) node = weft_run_to_json (run);
      json_object_set_int_member (json_node_get_object (node), "line", line);
      g_autofree char *text = json_to_string (node, FALSE);
      weft_cli_put_text (stdout, text);
    }
  else
    {
      printf ("%s== line %u: %s ==\n", i > 0 ? "\n" : "", line, weft_status_to_string (status));
      weft_cli_print_outputs (run, b->base.flow);
    }
  fflush (stdout);
  if (!b->quiet)
    weft_cli_printerr ("weft: %s:%u: run %s %s (%.3fs)", b->path, line, weft_run_get_id (run),
                       weft_status_to_string (status),
                       (double) weft_run_get_duration_us (run) / G_USEC_PER_SEC);
  if (status != WEFT_STATUS_COMPLETED)
    weft_cli_print_failures (run, b->base.flow);
}

static void weft_cli_batch_kickoff_more (WeftCliBatch *b);

static void
weft_cli_batch_on_done (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftCliBatchRun *r = data;
  WeftCliBatch *b = r->batch;

  b->runs[r->index] = weft_flow_kickoff_finish (b->base.flow, result, &b->errors[r->index]);
  g_free (r);
  b->running--;
  b->finished++;
  /* In input order: the i-th result printed is line i's. */
  while (b->next_report < b->inputs->len
         && (b->runs[b->next_report] != NULL || b->errors[b->next_report] != NULL))
    weft_cli_batch_report_one (b, b->next_report++);
  weft_cli_batch_kickoff_more (b);
  if (b->finished == b->inputs->len)
    g_main_loop_quit (b->base.loop);
}

/* Once cancelled, the rest are still kicked off: each ends at once as
 * cancelled, so every line gets its answer. */
static void
weft_cli_batch_kickoff_more (WeftCliBatch *b)
{
  while (b->running < b->max_parallel && b->next_kickoff < b->inputs->len)
    {
      WeftCliBatchRun *r = g_new (WeftCliBatchRun, 1);

      r->batch = b;
      r->index = b->next_kickoff++;
      b->running++;
      weft_flow_kickoff_async (b->base.flow, b->inputs->pdata[r->index], b->base.cancellable,
                               weft_cli_batch_on_done, r);
    }
}

static int
weft_cli_batch_exit_status (WeftCliBatch *b)
{
  if (b->base.n_signals > 0)
    return WEFT_CLI_EXIT_CANCELLED;
  for (guint i = 0; i < b->inputs->len; i++)
    if (b->runs[i] == NULL || weft_run_get_status (b->runs[i]) != WEFT_STATUS_COMPLETED)
      return WEFT_CLI_EXIT_FAILED;
  return WEFT_CLI_EXIT_OK;
}

static int
weft_cli_execute_batch (WeftEngine *engine, WeftFlow *flow, GPtrArray *inputs, GArray *lines,
                        const WeftCliRunOptions *options)
{
  WeftCliBatch b = {
    .base = { .loop = g_main_loop_new (NULL, FALSE), .flow = flow,
              .cancellable = g_cancellable_new () },
    .path = options->inputs_file,
    .inputs = inputs,
    .lines = lines,
    .runs = g_new0 (WeftRun *, inputs->len),
    .errors = g_new0 (GError *, inputs->len),
    .max_parallel = options->max_parallel != WEFT_CLI_UNSET ? (guint) options->max_parallel
                                                            : inputs->len,
    .json = options->exec.json,
    .quiet = options->exec.quiet,
  };
  guint sigint_id;
  guint sigterm_id;
  int status;

  weft_cli_term_set_quiet (weft_cli_term (), options->exec.quiet);
  sigint_id = g_unix_signal_add (SIGINT, weft_cli_on_signal, &b.base);
  sigterm_id = g_unix_signal_add (SIGTERM, weft_cli_on_signal, &b.base);

  weft_cli_batch_kickoff_more (&b);
  g_main_loop_run (b.base.loop);
  weft_cli_wait_in_thread (weft_cli_shutdown_engine, engine);
  status = weft_cli_batch_exit_status (&b);

  for (guint i = 0; i < inputs->len; i++)
    {
      g_clear_pointer (&b.runs[i], weft_run_unref);
      g_clear_error (&b.errors[i]);
    }
  g_free (b.runs);
  g_free (b.errors);
  weft_cli_wait_in_thread (weft_cli_unref_flow, flow);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_object (&b.base.cancellable);
  g_main_loop_unref (b.base.loop);
  return status;
}

static int
weft_cli_run_flow (const char *path, const WeftCliRunOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) inputs = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  g_autoptr(WeftFlow) flow = NULL;

  WeftKickoffOptions kickoff = { 0 };

  if (!weft_cli_build_inputs (options, &inputs, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  engine = weft_cli_open_engine ((guint) options->exec.threads, options->exec.plugin_dirs,
                                 &error);
  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  flow = weft_flow_load_file (engine, path, &error);
  if (flow == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (!weft_cli_add_callbacks (engine, flow, options->exec.callbacks, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (options->inputs_file != NULL)
    {
      g_autoptr(GArray) lines = g_array_new (FALSE, FALSE, sizeof (guint));
      g_autoptr(GPtrArray) batch = weft_cli_load_inputs_file (flow, options, lines, &error);
      if (batch == NULL)
        return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
      if (options->enqueue)
        return weft_cli_enqueue (engine, flow, options->store, batch, options->exec.quiet);
      return weft_cli_execute_batch (engine, g_steal_pointer (&flow), batch, lines, options);
    }
  if (options->enqueue)
    {
      g_autoptr(GPtrArray) one = g_ptr_array_new ();
      g_ptr_array_add (one, inputs);
      return weft_cli_enqueue (engine, flow, options->store, one, options->exec.quiet);
    }
  kickoff.inputs = inputs;
  return weft_cli_execute (engine, g_steal_pointer (&flow), &kickoff, &options->exec);
}

void
weft_cli_add_exec_entries (GOptionContext *context, WeftCliExecOptions *options)
{
  const GOptionEntry entries[] = {
    { "callback", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &options->callbacks,
      "Add a callback plugin for this run, e.g. log:format=jsonl,path=run.log "
      "(lists: a;b;c; repeatable)", "PLUGIN[:K=V,...]" },
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &options->plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &options->threads,
      "Worker threads for blocking agents (0: one per processor)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &options->json,
      "Print the whole result (status, outputs, every task) as JSON", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &options->quiet,
      "Only errors and the result (no progress, no callbacks' text)", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &options->verbose,
      "Trace agents, tool calls and results, streamed text, answers", NULL },
    G_OPTION_ENTRY_NULL
  };

  /* The entries are copied: the array may go. */
  g_option_context_add_main_entries (context, entries, NULL);
}

int
weft_cli_check_exec_args (const char *command, const WeftCliExecOptions *options)
{
  int status = weft_cli_check_range (command, "--threads", options->threads, 0,
                                     WEFT_CLI_MAX_THREADS);

  if (status >= 0)
    return status;
  if (options->quiet && options->verbose)
    return weft_cli_usage_error (command, "give --quiet or --verbose, not both");
  return -1;
}

const char *
weft_cli_exec_description (void)
{
  return "Progress goes to stderr: on a terminal, the run's id, a line as each task\n"
         "ends and a live status line below them; otherwise one line per event.\n"
         "What the flow's callbacks write to the terminal (the log callback without\n"
         "a path) is written above the status line; --quiet drops it with the\n"
         "progress.  --verbose keeps the whole trace in the scrollback.  A failure\n"
         "is reported once, with its task's name.\n"
         "\n"
         "stdout gets the final outputs (of the tasks nothing depends on), each\n"
         "under a '== TASK ==' header when there are several or stdout is a\n"
         "terminal; a single output piped elsewhere comes bare.\n"
         "\n"
         "Exit status: 0 completed, 1 the run failed, 2 usage, flow or plugin\n"
         "error, 130 interrupted (SIGINT/SIGTERM cancel the run; a second one\n"
         "exits at once).\n";
}

static GOptionContext *
weft_cli_run_context (WeftCliRunOptions *options)
{
  const GOptionEntry entries[] = {
    { "input", 'i', 0, G_OPTION_ARG_STRING_ARRAY, &options->inputs,
      "Set input KEY to VALUE (a string; repeatable; wins over --inputs-json)", "KEY=VALUE" },
    { "inputs-json", 0, 0, G_OPTION_ARG_STRING, &options->inputs_json,
      "Inputs as a JSON object: a file, or the JSON text itself", "FILE|JSON" },
    { "inputs-file", 0, 0, G_OPTION_ARG_FILENAME, &options->inputs_file,
      "One run per line of F, each line a JSON object of inputs (--input pairs apply to "
      "every one); results in line order", "F.jsonl" },
    { "max-parallel", 0, 0, G_OPTION_ARG_INT, &options->max_parallel,
      "With --inputs-file: at most N runs at a time (default: all at once)", "N" },
    { "enqueue", 0, 0, G_OPTION_ARG_NONE, &options->enqueue,
      "Queue the run (one per line of --inputs-file) in --store for `weft worker`s, print "
      "the ids and return at once", NULL },
    { "store", 's', 0, G_OPTION_ARG_STRING, &options->store,
      "With --enqueue: the store whose queue gets the runs", "PLUGIN[:K=V,...]" },
    G_OPTION_ENTRY_NULL
  };
  GOptionContext *context = g_option_context_new ("FLOW");

  g_option_context_set_summary (context,
    "Run a flow and print its final outputs.\n\n"
    "With --inputs-file, run it once per line of the file (each line a JSON\n"
    "object of inputs), --max-parallel at a time: every line is checked\n"
    "before any run starts, the answers come in line order (each under '== line\n"
    "N: STATUS ==', or one JSON line each with --json, its \"line\" member\n"
    "saying which), stderr gets a line per finished run, and the exit status is\n"
    "0 only when every run completed.");
  g_option_context_set_description (context, weft_cli_exec_description ());
  g_option_context_add_main_entries (context, entries, NULL);
  weft_cli_add_exec_entries (context, &options->exec);
  return context;
}

int
weft_cli_run_main (char **argv)
{
  g_auto(WeftCliRunOptions) options = { .max_parallel = WEFT_CLI_UNSET };
  g_autoptr(GOptionContext) context = weft_cli_run_context (&options);
  g_auto(GStrv) positional = NULL;
  int status = weft_cli_parse_options (context, argv, &positional);

  if (status >= 0)
    return status;
  if (g_strv_length (positional) != 1)
    return weft_cli_usage_error ("run", "expected one FLOW file");
  if ((status = weft_cli_check_exec_args ("run", &options.exec)) >= 0)
    return status;
  if (options.inputs_file != NULL && options.inputs_json != NULL)
    return weft_cli_usage_error ("run", "give --inputs-json or --inputs-file, not both");
  if (options.max_parallel != WEFT_CLI_UNSET && options.inputs_file == NULL)
    return weft_cli_usage_error ("run", "--max-parallel goes with --inputs-file");
  if (options.max_parallel != WEFT_CLI_UNSET
      && (status = weft_cli_check_range ("run", "--max-parallel", options.max_parallel, 1,
                                         G_MAXINT)) >= 0)
    return status;
  if (options.enqueue != (options.store != NULL))
    return weft_cli_usage_error ("run", options.enqueue
                                        ? "--enqueue needs --store: the store whose queue "
                                          "gets the runs"
                                        : "--store goes with --enqueue (a run here records "
                                          "itself with --callback)");
  if (options.enqueue && (options.max_parallel != WEFT_CLI_UNSET || options.exec.callbacks))
    return weft_cli_usage_error ("run", "--enqueue runs nothing here: --max-parallel and "
                                        "--callback are for a worker's flow");
  return weft_cli_run_flow (positional[0], &options);
}
