/* weft-cli-workers.c — `weft workers --store SPEC`: the live workers of a
 * store's queue (weft_store_list_workers), with their host, process,
 * concurrency, start and the runs they hold; --json prints what the store
 * returns. */
#include "weft-cli.h"

static char **
weft_cli_worker_row (JsonObject *worker)
{
  JsonNode *runs = json_object_get_member (worker, "runs");
  JsonArray *list = runs && JSON_NODE_HOLDS_ARRAY (runs) ? json_node_get_array (runs) : NULL;
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (
    weft_cli_member_int (worker, "started_wall_us") / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = utc ? g_date_time_to_local (utc) : NULL;

  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    if (JSON_NODE_HOLDS_VALUE (json_array_get_element (list, i)))
      g_strv_builder_add (ids, json_array_get_string_element (list, i));
  g_auto(GStrv) held = g_strv_builder_end (ids);
  g_autofree char *joined = held[0] ? g_strjoinv (" ", held) : g_strdup ("-");
  char **row = g_new0 (char *, 7);
  row[0] = g_strdup_printf ("%" G_GINT64_FORMAT, weft_cli_member_int (worker, "worker"));
  row[1] = g_strdup (weft_cli_member_string (worker, "host"));
  row[2] = g_strdup_printf ("%" G_GINT64_FORMAT, weft_cli_member_int (worker, "pid"));
  row[3] = g_strdup_printf ("%u/%" G_GINT64_FORMAT, g_strv_length (held),
                            weft_cli_member_int (worker, "concurrency"));
  row[4] = local ? g_date_time_format (local, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
  row[5] = g_steal_pointer (&joined);
  return row;
}

static int
weft_cli_workers (const char *spec, char **plugin_dirs, gboolean json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_cli_open_engine (1, plugin_dirs, &error);
  g_autoptr(WeftStore) store = engine ? weft_cli_open_store_spec (engine, spec, NULL, NULL,
                                                                  &error)
                                      : NULL;
  g_autoptr(JsonNode) workers = store ? weft_store_list_workers (store, &error) : NULL;

  if (workers == NULL || !JSON_NODE_HOLDS_ARRAY (workers))
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  if (json)
    {
      g_autofree char *text = json_to_string (workers, TRUE);
      weft_cli_put_text (stdout, text);
      return WEFT_CLI_EXIT_OK;
    }
  JsonArray *list = json_node_get_array (workers);
  if (json_array_get_length (list) == 0)
    {
      printf ("no live workers\n");
      return WEFT_CLI_EXIT_OK;
    }
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  const char *header[] = { "WORKER", "HOST", "PID", "RUNS", "STARTED", "RUNNING", NULL };
  g_ptr_array_add (rows, g_strdupv ((char **) header));
  for (guint i = 0; i < json_array_get_length (list); i++)
    if (JSON_NODE_HOLDS_OBJECT (json_array_get_element (list, i)))
      g_ptr_array_add (rows, weft_cli_worker_row (json_array_get_object_element (list, i)));
  weft_cli_print_table (stdout, "", rows);
  return WEFT_CLI_EXIT_OK;
}

int
weft_cli_workers_main (char **argv)
{
  g_autofree char *store = NULL;
  g_auto(GStrv) plugin_dirs = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "store", 's', 0, G_OPTION_ARG_STRING, &store, "The store whose queue's workers to "
      "list (required)", "PLUGIN[:K=V,...]" },
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print what the store returns, as JSON", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("--store PLUGIN[:K=V,...]");
  g_auto(GStrv) positional = NULL;
  int status;

  g_option_context_set_summary (context,
    "List the live workers of a store's queue: host, process, runs held of\n"
    "its concurrency, when it started, and the runs it holds.");
  g_option_context_add_main_entries (context, entries, NULL);
  status = weft_cli_parse_options (context, argv, &positional);
  if (status >= 0)
    return status;
  if (positional[0] != NULL)
    return weft_cli_usage_error ("workers", "unexpected argument '%s'", positional[0]);
  if (store == NULL)
    return weft_cli_usage_error ("workers", "--store is required: the store whose queue's "
                                            "workers to list");
  return weft_cli_workers (store, plugin_dirs, json);
}
