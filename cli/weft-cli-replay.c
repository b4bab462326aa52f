/* weft-cli-replay.c — the two commands that run a stored run again:
 * `weft replay RUN --from TASK` (a new run that reuses what TASK does not
 * reach) and `weft resume RUN` (the same run, finished after its process
 * died).
 *
 * Both load the flow from the source the store kept, so they need neither
 * the flow file nor its old contents, and run it through weft-cli-run.c
 * like `weft run`.  They share one option parser and differ in what they
 * pass as completed and whether the run id is kept.
 */
#include "weft-cli.h"

/* ---- a stored run, loaded to run again ------------------------------------ */

typedef struct {
  JsonObject *run;            /* as stored */
  const char *run_id;
  WeftFlow *flow;             /* loaded from the stored source */
  char *store_plugin;         /* --store's, to record the new run; or NULL */
  JsonObject *store_options;
} WeftCliStoredRun;

static void
weft_cli_stored_run_clear (WeftCliStoredRun *stored)
{
  g_clear_pointer (&stored->run, json_object_unref);
  g_clear_pointer (&stored->flow, weft_flow_unref);
  g_clear_pointer (&stored->store_plugin, g_free);
  g_clear_pointer (&stored->store_options, json_object_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftCliStoredRun, weft_cli_stored_run_clear)

/* Reads the run and loads its flow from the source the store kept. */
static gboolean
weft_cli_load_stored_run (WeftEngine *engine, const WeftCliHistoryOptions *options,
                          const char *run_id, WeftCliStoredRun *stored, GError **error)
{
  const char *source;
  g_autofree char *origin = g_strdup_printf ("run %s", run_id);

  stored->run_id = run_id;
  stored->run = weft_cli_read_run (engine, options, run_id, &stored->store_plugin,
                                   &stored->store_options, error);
  if (stored->run == NULL)
    return FALSE;
  source = weft_cli_member_string (stored->run, "flow_source");
  if (source == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "run %s: the store has no flow for it (it saw none of the run's "
                   "run.* events: was the store a callback of some tasks only?)", run_id);
      return FALSE;
    }
  /* The flow as it was run, whatever its file holds now. */
  stored->flow = weft_flow_load_data (engine, source, -1, origin, error);
  return stored->flow != NULL;
}

/* The new run is recorded where the old one was: the stored flow's own
 * store if it has one, else the --store one, added as a callback. */
static gboolean
weft_cli_record_in_store (WeftCliStoredRun *stored, const char *command, GError **error)
{
  g_autoptr(WeftStore) own = weft_flow_dup_store (stored->flow);

  if (own != NULL)
    return TRUE;
  if (stored->store_plugin == NULL)
    {
      /* --flow names a flow whose store we cannot name as a callback. */
      weft_cli_printerr ("weft: warning: run %s's flow declares no store: this %s is not "
                         "recorded (add --callback PLUGIN:... to record it)", stored->run_id,
                         command);
      return TRUE;
    }
  if (!weft_flow_add_callback (stored->flow, stored->store_plugin, stored->store_options, error))
    {
      g_prefix_error (error, "--store %s: ", stored->store_plugin);
      return FALSE;
    }
  return TRUE;
}

static char *
weft_cli_flow_task_list (WeftFlow *flow)
{
  g_autoptr(GString) names = g_string_new (NULL);

  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    g_string_append_printf (names, "%s%s", i ? ", " : "", weft_flow_get_task_name (flow, i));
  return g_string_free (g_steal_pointer (&names), FALSE);
}

/* The kickoff of a replay: what `from` does not reach is reused. */
static JsonObject *
weft_cli_replay_completed (WeftCliStoredRun *stored, const char *from, guint *n_rerun,
                           GError **error)
{
  g_auto(GStrv) downstream = weft_flow_dup_downstream (stored->flow, from);

  if (downstream == NULL)
    {
      g_autofree char *names = weft_cli_flow_task_list (stored->flow);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "--from %s: run %s's flow has no such task (its tasks: %s)", from,
                   stored->run_id, names);
      return NULL;
    }
  *n_rerun = g_strv_length (downstream);
  return weft_run_json_get_completed (stored->run, (const char *const *) downstream);
}

static int
weft_cli_replay (const char *run_id, WeftCliHistoryOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeftCliStoredRun) stored = { 0 };
  g_autoptr(JsonObject) completed = NULL;
  g_autoptr(WeftEngine) engine = weft_cli_open_engine ((guint) options->exec.threads,
                                                       options->exec.plugin_dirs, &error);
  WeftKickoffOptions kickoff = { 0 };
  guint n_rerun = 0;

  if (engine == NULL || !weft_cli_load_stored_run (engine, options, run_id, &stored, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  completed = weft_cli_replay_completed (&stored, options->from, &n_rerun, &error);
  if (completed == NULL
      || !weft_cli_record_in_store (&stored, "replay", &error)
      || !weft_cli_add_callbacks (engine, stored.flow, options->exec.callbacks, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (!options->exec.quiet)
    weft_cli_printerr ("weft: replaying run %s from task %s: %u task(s) run again, "
                       "%u output(s) reused", run_id, options->from, n_rerun,
                       json_object_get_size (completed));
  kickoff.inputs = weft_cli_stored_inputs (stored.run);
  kickoff.completed = completed;
  return weft_cli_execute (engine, g_steal_pointer (&stored.flow), &kickoff, &options->exec);
}

/* How many of the stored run's tasks ended otherwise than completed: a
 * resume keeps them as they are. */
static guint
weft_cli_count_ended (JsonObject *run)
{
  static const char *const ends[] = { "failed", "skipped", "cancelled", NULL };
  JsonArray *tasks = weft_cli_stored_tasks (run);
  guint n = 0;

  for (guint i = 0; tasks != NULL && i < json_array_get_length (tasks); i++)
    {
      const char *status = weft_cli_member_string (json_array_get_object_element (tasks, i),
                                                   "status");
      n += status != NULL && g_strv_contains (ends, status);
    }
  return n;
}

/* A run that ended has nothing left to resume: a failed or cancelled one
 * is replayed instead, which reruns what it names. */
static gboolean
weft_cli_check_resumable (JsonObject *run, const char *run_id, GError **error)
{
  const char *status = weft_cli_member_string (run, "status");

  if (!weft_cli_run_ended (run))
    return TRUE;
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "run %s %s: resume finishes a run whose process died; to run some of its "
               "tasks again, use 'weft replay %s --from TASK'", run_id,
               g_str_equal (status, "completed") ? "already completed"
               : g_str_equal (status, "failed") ? "failed (it ended)" : "was cancelled",
               run_id);
  return FALSE;
}

static int
weft_cli_resume (const char *run_id, WeftCliHistoryOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_auto(WeftCliStoredRun) stored = { 0 };
  g_autoptr(JsonObject) completed = NULL;
  g_autoptr(WeftEngine) engine = weft_cli_open_engine ((guint) options->exec.threads,
                                                       options->exec.plugin_dirs, &error);
  WeftKickoffOptions kickoff = { 0 };

  if (engine == NULL || !weft_cli_load_stored_run (engine, options, run_id, &stored, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (!weft_cli_check_resumable (stored.run, run_id, &error)
      || !weft_cli_record_in_store (&stored, "resume", &error)
      || !weft_cli_add_callbacks (engine, stored.flow, options->exec.callbacks, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  completed = weft_cli_resume_kickoff (stored.run, run_id, &kickoff);
  if (!options->exec.quiet)
    weft_cli_printerr ("weft: resuming run %s after event %" G_GUINT64_FORMAT ": %u of %u "
                       "task(s) already completed, %u failed, skipped or cancelled (kept as they "
                       "ended)", run_id, kickoff.resume_seq, json_object_get_size (completed),
                       weft_flow_get_n_tasks (stored.flow), weft_cli_count_ended (stored.run));
  return weft_cli_execute (engine, g_steal_pointer (&stored.flow), &kickoff, &options->exec);
}

static GOptionContext *
weft_cli_continue_context (WeftCliHistoryOptions *options, gboolean replay)
{
  const GOptionEntry entries[] = {
    { "from", 'F', 0, G_OPTION_ARG_STRING, &options->from,
      "Run this task and everything that depends on it again (required)", "TASK" },
    G_OPTION_ENTRY_NULL
  };
  GOptionContext *context = g_option_context_new ("RUN");
  g_autofree char *description = NULL;

  if (replay)
    {
      g_option_context_set_summary (context,
        "Start a new run of a stored run's flow and inputs that reuses the stored\n"
        "outputs of every task TASK does not reach, and runs TASK and its\n"
        "dependants again.");
      g_option_context_add_main_entries (context, entries, NULL);
    }
  else
    g_option_context_set_summary (context,
      "Finish a stored run whose process died (kill -9, a crash): the same run\n"
      "continues, running only the tasks that had not ended: one that had\n"
      "failed, been skipped or cancelled stays so ('weft replay RUN --from TASK'\n"
      "runs it again, as a new run).  A run that another process is still\n"
      "running is refused ('weft runs list' shows the ones whose process died\n"
      "as interrupted).");
  weft_cli_add_store_entries (context, options);
  weft_cli_add_exec_entries (context, &options->exec);
  description = g_strconcat (
    "The flow is the one the store kept for RUN, not a file.  When it declares\n"
    "no store, the run is recorded in --store.\n\n", weft_cli_exec_description (), NULL);
  g_option_context_set_description (context, description);
  return context;
}

static int
weft_cli_continue_main (char **argv, gboolean replay)
{
  g_auto(WeftCliHistoryOptions) options = { 0 };
  g_autoptr(GOptionContext) context = weft_cli_continue_context (&options, replay);
  g_auto(GStrv) positional = NULL;
  int status = weft_cli_parse_options (context, argv, &positional);

  if (status >= 0)
    return status;
  if (g_strv_length (positional) != 1)
    return weft_cli_usage_error (argv[0], "expected one RUN id");
  if (replay && options.from == NULL)
    return weft_cli_usage_error (argv[0], "--from TASK is required: the task to run again");
  if ((status = weft_cli_check_exec_args (argv[0], &options.exec)) >= 0)
    return status;
  if (!weft_cli_check_store_args (argv[0], &options))
    return WEFT_CLI_EXIT_USAGE;
  return replay ? weft_cli_replay (positional[0], &options)
                : weft_cli_resume (positional[0], &options);
}

int
weft_cli_replay_main (char **argv)
{
  return weft_cli_continue_main (argv, TRUE);
}

int
weft_cli_resume_main (char **argv)
{
  return weft_cli_continue_main (argv, FALSE);
}
