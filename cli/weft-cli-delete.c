/* weft-cli-delete.c — the `runs` commands that delete: `weft runs delete
 * RUN...` and `weft runs prune`.
 *
 * Apart from the reading commands because they are the only ones that
 * change the store; the store refuses a run a live process is running,
 * and prune never picks one that has not ended, so that an interrupted
 * run stays for `weft resume`.
 */
#include "weft-cli.h"

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

/* ---- runs delete | prune: the commands ------------------------------------ */

int
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

int
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
