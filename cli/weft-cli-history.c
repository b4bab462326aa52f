/* weft-cli-history.c — runs read back from a store: `weft runs list`,
 * `weft runs show RUN`, and the two commands that run a stored run again,
 * `weft replay RUN --from TASK` and `weft resume RUN`.
 *
 * The store is any callback plugin with the store capability: --store names
 * one (default sqlite:path=weft.db), --flow takes the one a flow file
 * declares.  Replay and resume load the flow from the source the store
 * kept, so they need neither the flow file nor its old contents, and run it
 * through weft-cli-run.c like `weft run`.
 */
#include "weft-cli.h"

#include <string.h>

#define WEFT_CLI_DEFAULT_STORE "sqlite:path=weft.db"
/* Characters of output `runs show` prints per task without --full. */
#define WEFT_CLI_SHORT_OUTPUT 60

typedef struct {
  char *store;
  char *flow;
  char *from;
  gint limit;
  gboolean full;
  WeftCliExecOptions exec;
} WeftCliHistoryOptions;

static void
weft_cli_history_options_clear (WeftCliHistoryOptions *options)
{
  g_clear_pointer (&options->store, g_free);
  g_clear_pointer (&options->flow, g_free);
  g_clear_pointer (&options->from, g_free);
  weft_cli_exec_options_clear (&options->exec);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftCliHistoryOptions, weft_cli_history_options_clear)

/* ---- options ----------------------------------------------------------- */

static void
weft_cli_add_store_entries (GOptionContext *context, WeftCliHistoryOptions *options)
{
  const GOptionEntry entries[] = {
    { "store", 's', 0, G_OPTION_ARG_STRING, &options->store,
      "Read runs from this store plugin (default " WEFT_CLI_DEFAULT_STORE ")",
      "PLUGIN[:K=V,...]" },
    { "flow", 'f', 0, G_OPTION_ARG_FILENAME, &options->flow,
      "Read runs from the store FLOW declares (its first callback that is a store)", "FLOW" },
    G_OPTION_ENTRY_NULL
  };

  g_option_context_add_main_entries (context, entries, NULL);
}

/* For the `runs` commands, which run nothing: the store and where its
 * plugin is. */
static void
weft_cli_add_runs_entries (GOptionContext *context, WeftCliHistoryOptions *options)
{
  const GOptionEntry entries[] = {
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &options->exec.plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    G_OPTION_ENTRY_NULL
  };

  weft_cli_add_store_entries (context, options);
  g_option_context_add_main_entries (context, entries, NULL);
}

/* `runs list` and `runs show` also print JSON. */
static void
weft_cli_add_read_entries (GOptionContext *context, WeftCliHistoryOptions *options)
{
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &options->exec.json,
      "Print what the store returns, as JSON", NULL },
    G_OPTION_ENTRY_NULL
  };

  weft_cli_add_runs_entries (context, options);
  g_option_context_add_main_entries (context, entries, NULL);
}

/* ---- the store ----------------------------------------------------------- */

static WeftStore *
weft_cli_flow_store (WeftEngine *engine, const char *path, GError **error)
{
  g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, path, error);
  WeftStore *store;

  if (flow == NULL)
    return NULL;
  store = weft_flow_dup_store (flow);
  if (store == NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                 "%s: the flow declares no store (a callback whose plugin can read "
                 "runs back, like sqlite); name one with --store", path);
  return store;
}

/* Opens the store --store or --flow names.  With --store (or the default),
 * *plugin and *options say which, so that a replayed run can be recorded
 * in it too; with --flow they are NULL. */
static WeftStore *
weft_cli_open_store (WeftEngine *engine, const WeftCliHistoryOptions *options,
                     char **plugin, JsonObject **plugin_options, GError **error)
{
  const char *spec = options->store ? options->store : WEFT_CLI_DEFAULT_STORE;

  *plugin = NULL;
  *plugin_options = NULL;
  if (options->flow != NULL)
    return weft_cli_flow_store (engine, options->flow, error);
  /* The store would only say "no such database": for the default, say
   * where runs are looked for and how to name another store. */
  if (options->store == NULL && !g_file_test ("weft.db", G_FILE_TEST_EXISTS))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "no weft.db in this directory: run from where the runs were stored, "
                   "or name the store with --store PLUGIN[:k=v,...] or --flow FLOW");
      return NULL;
    }
  return weft_cli_open_store_spec (engine, spec, plugin, plugin_options, error);
}

/* An engine and the store, for the `runs` commands that only use the store
 * (the engine must outlive it: it holds the plugin). */
static WeftStore *
weft_cli_open_engine_and_store (WeftEngine **engine, const WeftCliHistoryOptions *options,
                                GError **error)
{
  g_autofree char *plugin = NULL;
  g_autoptr(JsonObject) plugin_options = NULL;

  *engine = weft_cli_open_engine (1, options->exec.plugin_dirs, error);
  if (*engine == NULL)
    return NULL;
  return weft_cli_open_store (*engine, options, &plugin, &plugin_options, error);
}

/* The stored run `run_id`: an object of the shape docs/store.md gives. */
static JsonObject *
weft_cli_read_run (WeftEngine *engine, const WeftCliHistoryOptions *options,
                   const char *run_id, char **plugin, JsonObject **plugin_options,
                   GError **error)
{
  g_autoptr(WeftStore) store = weft_cli_open_store (engine, options, plugin, plugin_options,
                                                    error);
  g_autoptr(JsonNode) node = NULL;

  if (store == NULL)
    return NULL;
  node = weft_store_get_run (store, run_id, error);
  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "run %s: the store returned no JSON object", run_id);
      return NULL;
    }
  return json_object_ref (json_node_get_object (node));
}

static gboolean
weft_cli_check_store_args (const char *command, const WeftCliHistoryOptions *options)
{
  if (options->store != NULL && options->flow != NULL)
    {
      weft_cli_usage_error (command, "give --store or --flow, not both");
      return FALSE;
    }
  return TRUE;
}

/* ---- formatting ---------------------------------------------------------- */

/* A JSON member as text, NULL when absent or null. */
static const char *
weft_cli_member_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gint64
weft_cli_member_int (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return 0;
  return json_node_get_int (node);
}

/* A stored run's tasks; NULL when it has none. */
static JsonArray *
weft_cli_stored_tasks (JsonObject *run)
{
  JsonNode *node = json_object_get_member (run, "tasks");

  return node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static char *
weft_cli_format_wall (gint64 wall_us, const char *format)
{
  g_autoptr(GDateTime) utc = NULL;
  g_autoptr(GDateTime) local = NULL;

  if (wall_us <= 0)
    return g_strdup ("-");
  utc = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  local = utc ? g_date_time_to_local (utc) : NULL;
  return local ? g_date_time_format (local, format) : g_strdup ("?");
}

static char *
weft_cli_format_duration (gint64 started_us, gint64 finished_us)
{
  double s;

  if (started_us <= 0 || finished_us <= 0)
    return g_strdup ("-");
  s = (double) (finished_us - started_us) / G_USEC_PER_SEC;
  if (s < 60)
    return g_strdup_printf ("%.3fs", s);
  if (s < 3600)
    return g_strdup_printf ("%dm%02ds", (int) s / 60, (int) s % 60);
  return g_strdup_printf ("%dh%02dm", (int) s / 3600, (int) s % 3600 / 60);
}

/* `text` on one line (newlines shown as "⏎"), at most `max` characters. */
static char *
weft_cli_one_line (const char *text, glong max)
{
  g_autofree char *valid = g_utf8_make_valid (text ? text : "", -1);
  g_autoptr(GString) out = g_string_new (NULL);
  glong count = 0;

  for (const char *p = valid; *p != '\0' && count < max; p = g_utf8_next_char (p), count++)
    {
      if (*p == '\n')
        g_string_append (out, "⏎");
      else if ((guchar) *p < 0x20 || *p == 0x7f)
        g_string_append_c (out, ' ');
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
    }
  if (g_utf8_strlen (valid, -1) > max)
    g_string_append (out, "…");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
weft_cli_print_node (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, TRUE);

  weft_cli_put_text (stdout, text);
}

/* ---- runs list ----------------------------------------------------------- */

/* A run that reached its end: nothing of it will run again unless replayed. */
static gboolean
weft_cli_run_ended (JsonObject *run)
{
  static const char *const ended[] = { "completed", "failed", "cancelled", NULL };
  const char *status = weft_cli_member_string (run, "status");

  return status != NULL && g_strv_contains (ended, status);
}

/* A run stored as running whose process is gone (the store says it is not
 * live) is shown as interrupted: the one `weft resume` is for. */
static const char *
weft_cli_run_status (JsonObject *run)
{
  const char *status = weft_cli_member_string (run, "status");
  JsonNode *live = json_object_get_member (run, "live");

  if (g_strcmp0 (status, "running") == 0 && live != NULL && JSON_NODE_HOLDS_VALUE (live)
      && json_node_get_value_type (live) == G_TYPE_BOOLEAN && !json_node_get_boolean (live))
    return "interrupted";
  return status;
}

static char **
weft_cli_run_row (JsonObject *run)
{
  gint64 started = weft_cli_member_int (run, "started_wall_us");
  const char *row[] = {
    weft_cli_member_string (run, "run_id"),
    weft_cli_run_status (run),
    weft_cli_member_string (run, "flow"),
    NULL, NULL, NULL,
  };
  g_autofree char *when = weft_cli_format_wall (started, "%Y-%m-%d %H:%M:%S");
  g_autofree char *took = weft_cli_format_duration (started,
                                                    weft_cli_member_int (run, "finished_wall_us"));

  row[3] = when;
  row[4] = took;
  for (guint i = 0; i < 3; i++)
    row[i] = row[i] ? row[i] : "-";
  return g_strdupv ((char **) row);
}

static void
weft_cli_print_runs (JsonArray *runs)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  const char *header[] = { "RUN", "STATUS", "FLOW", "STARTED", "DURATION", NULL };

  if (json_array_get_length (runs) == 0)
    {
      printf ("no runs stored\n");
      return;
    }
  g_ptr_array_add (rows, g_strdupv ((char **) header));
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonNode *node = json_array_get_element (runs, i);
      if (JSON_NODE_HOLDS_OBJECT (node))
        g_ptr_array_add (rows, weft_cli_run_row (json_node_get_object (node)));
    }
  weft_cli_print_table (stdout, "", rows);
}

static int
weft_cli_runs_list (WeftCliHistoryOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  g_autoptr(WeftStore) store = weft_cli_open_engine_and_store (&engine, options, &error);
  g_autoptr(JsonNode) runs = NULL;

  if (store == NULL || (runs = weft_store_list_runs (store, (guint) options->limit,
                                                     &error)) == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (options->exec.json)
    weft_cli_print_node (runs);
  else if (JSON_NODE_HOLDS_ARRAY (runs))
    weft_cli_print_runs (json_node_get_array (runs));
  return WEFT_CLI_EXIT_OK;
}

/* ---- runs show ----------------------------------------------------------- */

static void
weft_cli_print_run_header (JsonObject *run)
{
  gint64 started = weft_cli_member_int (run, "started_wall_us");
  g_autofree char *when = weft_cli_format_wall (started, "%Y-%m-%d %H:%M:%S");
  g_autofree char *took = weft_cli_format_duration (started,
                                                    weft_cli_member_int (run, "finished_wall_us"));
  const char *error = weft_cli_member_string (run, "error");
  const char *status = weft_cli_run_status (run);
  const char *flow = weft_cli_member_string (run, "flow");
  const char *id = weft_cli_member_string (run, "run_id");

  printf ("run      %s\n", id ? id : "-");
  printf ("flow     %s\n", flow ? flow : "-");
  if (g_strcmp0 (status, "interrupted") == 0)
    printf ("status   interrupted (its process is gone; 'weft resume %s' finishes it)\n", id);
  else
    printf ("status   %s\n", status ? status : "-");
  printf ("started  %s\n", when);
  printf ("duration %s\n", took);
  if (error != NULL)
    printf ("error    %s\n", error);
}

static char **
weft_cli_task_row (JsonObject *task, gboolean with_output)
{
  gint64 started = weft_cli_member_int (task, "started_wall_us");
  const char *error = weft_cli_member_string (task, "error");
  const char *output = weft_cli_member_string (task, "output");
  g_autofree char *attempts = g_strdup_printf ("%" G_GINT64_FORMAT,
                                               weft_cli_member_int (task, "attempts"));
  g_autofree char *when = weft_cli_format_wall (started, "%H:%M:%S");
  g_autofree char *took = weft_cli_format_duration (started,
                                                    weft_cli_member_int (task, "finished_wall_us"));
  g_autofree char *shown = NULL;
  const char *row[7] = {
    weft_cli_member_string (task, "name"), weft_cli_member_string (task, "status"),
    attempts, when, took, NULL, NULL,
  };

  /* An error says more than no output does. */
  if (with_output)
    shown = weft_cli_one_line (output ? output : error ? error : "",
                               WEFT_CLI_SHORT_OUTPUT);
  row[5] = shown;
  for (guint i = 0; i < 2; i++)
    row[i] = row[i] ? row[i] : "-";
  return g_strdupv ((char **) row);
}

static void
weft_cli_print_full_outputs (JsonArray *tasks)
{
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);
      const char *output = weft_cli_member_string (task, "output");
      const char *error = weft_cli_member_string (task, "error");
      const char *name = weft_cli_member_string (task, "name");

      if (output == NULL && error == NULL)
        continue;
      printf ("\n== %s ==\n", name ? name : "-");
      weft_cli_put_text (stdout, output ? output : error);
    }
}

static void
weft_cli_print_run (JsonObject *run, gboolean full)
{
  JsonArray *tasks = weft_cli_stored_tasks (run);
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  const char *header[] = { "TASK", "STATUS", "ATTEMPTS", "STARTED", "DURATION",
                           full ? NULL : "OUTPUT", NULL };

  weft_cli_print_run_header (run);
  if (tasks == NULL || json_array_get_length (tasks) == 0)
    {
      printf ("\nno task events stored\n");
      return;
    }
  printf ("\n");
  g_ptr_array_add (rows, g_strdupv ((char **) header));
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    g_ptr_array_add (rows, weft_cli_task_row (json_array_get_object_element (tasks, i), !full));
  weft_cli_print_table (stdout, "", rows);
  if (full)
    weft_cli_print_full_outputs (tasks);
}

static int
weft_cli_runs_show (const char *run_id, WeftCliHistoryOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_cli_open_engine (1, options->exec.plugin_dirs, &error);
  g_autofree char *plugin = NULL;
  g_autoptr(JsonObject) plugin_options = NULL;
  g_autoptr(JsonObject) run = NULL;

  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  run = weft_cli_read_run (engine, options, run_id, &plugin, &plugin_options, &error);
  if (run == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (options->exec.json)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), run);
      weft_cli_print_node (node);
    }
  else
    weft_cli_print_run (run, options->full);
  return WEFT_CLI_EXIT_OK;
}

/* ---- runs delete, runs prune ------------------------------------------------ */

/* Deletes one run, saying so; FALSE (and the reason on stderr) if it
 * could not. */
static gboolean
weft_cli_delete_one (WeftStore *store, const char *run_id)
{
  g_autoptr(GError) error = NULL;

  if (!weft_store_delete_run (store, run_id, &error))
    {
      weft_cli_fail (error, WEFT_CLI_EXIT_FAILED);
      return FALSE;
    }
  printf ("deleted %s\n", run_id);
  return TRUE;
}

static int
weft_cli_runs_delete (char **run_ids, WeftCliHistoryOptions *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  g_autoptr(WeftStore) store = weft_cli_open_engine_and_store (&engine, options, &error);
  gboolean all = TRUE;

  if (store == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  for (guint i = 0; run_ids[i] != NULL; i++)
    all = weft_cli_delete_one (store, run_ids[i]) && all;
  return all ? WEFT_CLI_EXIT_OK : WEFT_CLI_EXIT_FAILED;
}

/* "90", "90s", "45m", "12h", "30d" → µs. */
static gboolean
weft_cli_parse_age (const char *text, gint64 *age_us)
{
  static const struct { char unit; gint64 seconds; } units[] = {
    { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
  };
  gint64 seconds = 1;
  char *end = NULL;
  guint64 n;

  if (!g_ascii_isdigit (text[0]))
    return FALSE;
  n = g_ascii_strtoull (text, &end, 10);
  if (*end != '\0')
    {
      guint i = 0;
      while (i < G_N_ELEMENTS (units) && !(end[0] == units[i].unit && end[1] == '\0'))
        i++;
      if (i == G_N_ELEMENTS (units))
        return FALSE;
      seconds = units[i].seconds;
    }
  if (n > (guint64) (G_MAXINT64 / G_USEC_PER_SEC / seconds))
    return FALSE;
  *age_us = (gint64) n * seconds * G_USEC_PER_SEC;
  return TRUE;
}

/* Ended runs past the newest `keep` of them (keep < 0: no such bound)
 * that finished before `cutoff_us` (0: no such bound).  A run still
 * running, or interrupted, is never pruned: it may be resumed. */
static int
weft_cli_runs_prune (WeftCliHistoryOptions *options, gint64 cutoff_us, gint keep,
                     gboolean dry_run)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = NULL;
  g_autoptr(WeftStore) store = weft_cli_open_engine_and_store (&engine, options, &error);
  g_autoptr(JsonNode) runs = NULL;
  guint ended = 0, pruned = 0, failed = 0;

  if (store == NULL || (runs = weft_store_list_runs (store, 0, &error)) == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  JsonArray *list = JSON_NODE_HOLDS_ARRAY (runs) ? json_node_get_array (runs) : NULL;
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *run = json_array_get_object_element (list, i);
      const char *id = run ? weft_cli_member_string (run, "run_id") : NULL;
      gint64 finished = run ? weft_cli_member_int (run, "finished_wall_us") : 0;

      if (id == NULL || !weft_cli_run_ended (run) || (keep >= 0 && ended++ < (guint) keep))
        continue;
      if (cutoff_us > 0 && (finished <= 0 || finished >= cutoff_us))
        continue;
      if (dry_run)
        printf ("would delete %s\n", id);
      else if (!weft_cli_delete_one (store, id))
        {
          failed++;
          continue;
        }
      pruned++;
    }
  printf ("%s %u run(s)%s\n", dry_run ? "would delete" : "deleted", pruned,
          failed ? ", some could not be deleted" : "");
  return failed ? WEFT_CLI_EXIT_FAILED : WEFT_CLI_EXIT_OK;
}

/* ---- runs: list | show ------------------------------------------------------ */

static int
weft_cli_runs_list_main (char **argv)
{
  g_auto(WeftCliHistoryOptions) options = { 0 };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_auto(GStrv) positional = NULL;
  const GOptionEntry entries[] = {
    { "limit", 'n', 0, G_OPTION_ARG_INT, &options.limit,
      "Show at most N runs (default: all)", "N" },
    G_OPTION_ENTRY_NULL
  };
  int status;

  g_option_context_set_summary (context, "List stored runs, newest first.");
  weft_cli_add_read_entries (context, &options);
  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status >= 0)
    return status;
  if (g_strv_length (positional) != 0)
    return weft_cli_usage_error (argv[0], "unexpected argument '%s'", positional[0]);
  if ((status = weft_cli_check_range (argv[0], "--limit", options.limit, 0, G_MAXINT)) >= 0)
    return status;
  if (!weft_cli_check_store_args (argv[0], &options))
    return WEFT_CLI_EXIT_USAGE;
  return weft_cli_runs_list (&options);
}

static int
weft_cli_runs_show_main (char **argv)
{
  g_auto(WeftCliHistoryOptions) options = { 0 };
  g_autoptr(GOptionContext) context = g_option_context_new ("RUN");
  g_auto(GStrv) positional = NULL;
  const GOptionEntry entries[] = {
    { "full", 0, 0, G_OPTION_ARG_NONE, &options.full,
      "Print every output in full, not one shortened line per task", NULL },
    G_OPTION_ENTRY_NULL
  };
  int status;

  g_option_context_set_summary (context,
                                "Show a stored run: every task with its status, timing, "
                                "attempts and output.");
  weft_cli_add_read_entries (context, &options);
  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status >= 0)
    return status;
  if (g_strv_length (positional) != 1)
    return weft_cli_usage_error (argv[0], "expected one RUN id");
  if (!weft_cli_check_store_args (argv[0], &options))
    return WEFT_CLI_EXIT_USAGE;
  return weft_cli_runs_show (positional[0], &options);
}

static int
weft_cli_runs_delete_main (char **argv)
{
  g_auto(WeftCliHistoryOptions) options = { 0 };
  g_autoptr(GOptionContext) context = g_option_context_new ("RUN...");
  g_auto(GStrv) positional = NULL;
  int status;

  g_option_context_set_summary (context,
                                "Delete stored runs with their tasks and events.  A run a "
                                "live process is\nstill running is refused.");
  weft_cli_add_runs_entries (context, &options);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status >= 0)
    return status;
  if (g_strv_length (positional) == 0)
    return weft_cli_usage_error (argv[0], "expected one or more RUN ids");
  if (!weft_cli_check_store_args (argv[0], &options))
    return WEFT_CLI_EXIT_USAGE;
  return weft_cli_runs_delete (positional, &options);
}

static int
weft_cli_runs_prune_main (char **argv)
{
  g_auto(WeftCliHistoryOptions) options = { 0 };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_auto(GStrv) positional = NULL;
  g_autofree char *older_than = NULL;
  gint keep = WEFT_CLI_UNSET;
  gboolean dry_run = FALSE;
  gint64 age_us = 0;
  const GOptionEntry entries[] = {
    { "older-than", 0, 0, G_OPTION_ARG_STRING, &older_than,
      "Delete ended runs that finished longer ago than AGE (90s, 45m, 12h, 30d)", "AGE" },
    { "keep", 0, 0, G_OPTION_ARG_INT, &keep,
      "Keep the newest N ended runs whatever their age", "N" },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
      "Say which runs would go, delete nothing", NULL },
    G_OPTION_ENTRY_NULL
  };
  int status;

  g_option_context_set_summary (context,
    "Delete ended runs (completed, failed, cancelled) with their tasks and\n"
    "events: those past the newest --keep N, and finished before --older-than\n"
    "AGE; both, when both are given.  Running and interrupted runs are kept.");
  weft_cli_add_runs_entries (context, &options);
  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status >= 0)
    return status;
  if (g_strv_length (positional) != 0)
    return weft_cli_usage_error (argv[0], "unexpected argument '%s'", positional[0]);
  if (keep != WEFT_CLI_UNSET
      && (status = weft_cli_check_range (argv[0], "--keep", keep, 0, G_MAXINT)) >= 0)
    return status;
  if (older_than == NULL && keep == WEFT_CLI_UNSET)
    return weft_cli_usage_error (argv[0], "give --older-than AGE, --keep N or both "
                                 "(--keep 0 deletes every ended run)");
  if (older_than != NULL && !weft_cli_parse_age (older_than, &age_us))
    return weft_cli_usage_error (argv[0], "--older-than '%s': expected a number with s, m, h "
                                 "or d (30d)", older_than);
  if (!weft_cli_check_store_args (argv[0], &options))
    return WEFT_CLI_EXIT_USAGE;
  return weft_cli_runs_prune (&options, older_than ? g_get_real_time () - age_us : 0,
                              keep == WEFT_CLI_UNSET ? -1 : keep, dry_run);
}

/* argv with its first element replaced by `name` ("runs list"), so that
 * help and usage errors name the whole command. */
static int
weft_cli_runs_dispatch (const char *name, char **rest, WeftCliCommandFunc func)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;

  g_strv_builder_add (builder, name);
  for (guint i = 0; rest[i] != NULL; i++)
    g_strv_builder_add (builder, rest[i]);
  argv = g_strv_builder_end (builder);
  return func (argv);
}

int
weft_cli_runs_main (char **argv)
{
  const char *sub = argv[1];

  if (sub == NULL || sub[0] == '-')
    {
      if (sub != NULL && (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0))
        {
          printf ("Usage:\n"
                  "  weft runs list [OPTION…]        List stored runs, newest first\n"
                  "  weft runs show [OPTION…] RUN    Show one run, task by task\n"
                  "  weft runs delete [OPTION…] RUN… Delete runs with their tasks and events\n"
                  "  weft runs prune [OPTION…]       Delete old ended runs (--older-than, --keep)\n"
                  "\n"
                  "Runs are read from --store (default " WEFT_CLI_DEFAULT_STORE ") or\n"
                  "from the store a flow declares (--flow FLOW).  'weft runs' alone\n"
                  "lists.  Run 'weft runs list --help' for the options.\n");
          return WEFT_CLI_EXIT_OK;
        }
      return weft_cli_runs_dispatch ("runs list", argv + 1, weft_cli_runs_list_main);
    }
  if (strcmp (sub, "list") == 0)
    return weft_cli_runs_dispatch ("runs list", argv + 2, weft_cli_runs_list_main);
  if (strcmp (sub, "show") == 0)
    return weft_cli_runs_dispatch ("runs show", argv + 2, weft_cli_runs_show_main);
  if (strcmp (sub, "delete") == 0)
    return weft_cli_runs_dispatch ("runs delete", argv + 2, weft_cli_runs_delete_main);
  if (strcmp (sub, "prune") == 0)
    return weft_cli_runs_dispatch ("runs prune", argv + 2, weft_cli_runs_prune_main);
  return weft_cli_usage_error ("runs", "unknown 'runs' command '%s' (list, show, delete, "
                               "prune)", sub);
}

/* ---- replay and resume --------------------------------------------------- */

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

/* Task name → output of every task the stored run completed, except
 * those in `except` (may be NULL). */
static JsonObject *
weft_cli_completed_outputs (JsonObject *run, char **except)
{
  JsonObject *completed = json_object_new ();
  JsonArray *tasks = weft_cli_stored_tasks (run);

  for (guint i = 0; tasks != NULL && i < json_array_get_length (tasks); i++)
    {
      JsonObject *task = json_array_get_object_element (tasks, i);
      const char *name = weft_cli_member_string (task, "name");
      const char *output = weft_cli_member_string (task, "output");

      if (name == NULL || output == NULL
          || g_strcmp0 (weft_cli_member_string (task, "status"), "completed") != 0
          || (except != NULL && g_strv_contains ((const char * const *) except, name)))
        continue;
      json_object_set_string_member (completed, name, output);
    }
  return completed;
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
      fprintf (stderr, "weft: warning: run %s's flow declares no store: this %s is not "
               "recorded (add --callback PLUGIN:... to record it)\n", stored->run_id, command);
      return TRUE;
    }
  if (!weft_flow_add_callback (stored->flow, stored->store_plugin, stored->store_options, error))
    {
      g_prefix_error (error, "--store %s: ", stored->store_plugin);
      return FALSE;
    }
  return TRUE;
}

static JsonObject *
weft_cli_stored_inputs (JsonObject *run)
{
  JsonNode *node = json_object_get_member (run, "inputs");

  return node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
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
  return weft_cli_completed_outputs (stored->run, downstream);
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
    fprintf (stderr, "weft: replaying run %s from task %s: %u task(s) run again, "
             "%u output(s) reused\n", run_id, options->from, n_rerun,
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
  gint64 last_seq;

  if (engine == NULL || !weft_cli_load_stored_run (engine, options, run_id, &stored, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (!weft_cli_check_resumable (stored.run, run_id, &error)
      || !weft_cli_record_in_store (&stored, "resume", &error)
      || !weft_cli_add_callbacks (engine, stored.flow, options->exec.callbacks, &error))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  completed = weft_cli_completed_outputs (stored.run, NULL);
  last_seq = weft_cli_member_int (stored.run, "last_seq");
  if (!options->exec.quiet)
    fprintf (stderr, "weft: resuming run %s after event %" G_GINT64_FORMAT ": %u of %u "
             "task(s) already completed, %u failed, skipped or cancelled (kept as they "
             "ended)\n", run_id, last_seq, json_object_get_size (completed),
             weft_flow_get_n_tasks (stored.flow), weft_cli_count_ended (stored.run));
  kickoff.inputs = weft_cli_stored_inputs (stored.run);
  kickoff.completed = completed;
  kickoff.resume_run_id = run_id;
  kickoff.resume_seq = (guint64) MAX (last_seq, 0);
  /* Attempts go on after the stored ones: one the dead process had in
   * flight is run again as the next attempt, not stored twice. */
  kickoff.stored_tasks = weft_cli_stored_tasks (stored.run);
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
  if ((status = weft_cli_check_range (argv[0], "--threads", options.exec.threads, 0,
                                      WEFT_CLI_MAX_THREADS)) >= 0)
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
