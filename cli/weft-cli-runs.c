/* weft-cli-runs.c — `weft runs`: picks its subcommand, and the two that
 * read, `weft runs list` and `weft runs show RUN`.
 *
 * They print what the store returns as tables (or, with --json, as is);
 * the formatting lives here because nothing else prints stored runs.
 * Deleting is weft-cli-delete.c's; the store is reached through
 * weft-cli-stored.c.
 */
#include "weft-cli.h"

#include <string.h>

/* Characters of output `runs show` prints per task without --full. */
#define WEFT_CLI_SHORT_OUTPUT 60

/* ---- options ----------------------------------------------------------- */

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

/* ---- formatting ---------------------------------------------------------- */

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

/* A store with a queue says which worker runs or ran each run, and why
 * one was handed back: two more columns. */
static char **
weft_cli_run_row (JsonObject *run, gboolean queue)
{
  gint64 started = weft_cli_member_int (run, "started_wall_us");
  const char *handed_back = weft_cli_member_string (run, "handed_back");
  const char *row[] = {
    weft_cli_member_string (run, "run_id"),
    weft_cli_run_status (run),
    weft_cli_member_string (run, "flow"),
    NULL, NULL, NULL, NULL, NULL,
  };
  g_autofree char *when = weft_cli_format_wall (started, "%Y-%m-%d %H:%M:%S");
  g_autofree char *took = weft_cli_format_duration (started,
                                                    weft_cli_member_int (run, "finished_wall_us"));
  g_autofree char *note = handed_back ? weft_cli_one_line (handed_back, WEFT_CLI_SHORT_OUTPUT)
                                      : NULL;

  row[3] = when;
  row[4] = took;
  if (queue)
    {
      row[5] = weft_cli_member_string (run, "worker");
      row[5] = row[5] ? row[5] : "-";
      row[6] = note ? note : "";
    }
  for (guint i = 0; i < 3; i++)
    row[i] = row[i] ? row[i] : "-";
  return g_strdupv ((char **) row);
}

static void
weft_cli_print_runs (JsonArray *runs)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  const char *header[] = { "RUN", "STATUS", "FLOW", "STARTED", "DURATION", NULL, NULL, NULL };
  gboolean queue = FALSE;

  if (json_array_get_length (runs) == 0)
    {
      printf ("no runs stored\n");
      return;
    }
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonNode *node = json_array_get_element (runs, i);
      queue = queue || (JSON_NODE_HOLDS_OBJECT (node)
                        && json_object_has_member (json_node_get_object (node), "worker"));
    }
  if (queue)
    {
      header[5] = "WORKER";
      header[6] = "HANDED BACK";
    }
  g_ptr_array_add (rows, g_strdupv ((char **) header));
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonNode *node = json_array_get_element (runs, i);
      if (JSON_NODE_HOLDS_OBJECT (node))
        g_ptr_array_add (rows, weft_cli_run_row (json_node_get_object (node), queue));
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
  g_autofree char *usage = weft_cli_usage_text_from_json (run);
  if (usage != NULL)
    printf ("usage    %s\n", usage);
  if (error != NULL)
    printf ("error    %s\n", error);
  if (weft_cli_member_string (run, "worker") != NULL)
    printf ("worker   %s\n", weft_cli_member_string (run, "worker"));
  if (weft_cli_member_string (run, "handed_back") != NULL)
    printf ("handed back: %s\n", weft_cli_member_string (run, "handed_back"));
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

/* ---- runs: the dispatcher -------------------------------------------------- */

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
