/* weft-cli-stored.c — the bottom of the commands about stored runs (runs,
 * replay, resume): their options, opening the store they name and reading
 * one run back, and reading the members of what the store returns.
 *
 * The store is any callback plugin with the store capability: --store names
 * one (default sqlite:path=weft.db), --flow takes the one a flow file
 * declares.  Each command above reaches the store only through here, so
 * that they find it, and fail to, in the same way.
 */
#include "weft-cli.h"

void
weft_cli_history_options_clear (WeftCliHistoryOptions *options)
{
  g_clear_pointer (&options->store, g_free);
  g_clear_pointer (&options->flow, g_free);
  g_clear_pointer (&options->from, g_free);
  weft_cli_exec_options_clear (&options->exec);
}

/* ---- options ----------------------------------------------------------- */

void
weft_cli_add_store_entries (GOptionContext *context, WeftCliHistoryOptions *options)
{
  const GOptionEntry entries[] = {
    { "store", 's', 0, G_OPTION_ARG_STRING, &options->store,
      "Read runs from this database (sqlite), or this store plugin (default "
      WEFT_CLI_DEFAULT_STORE ")", "PATH|PLUGIN[:K=V,...]" },
    { "flow", 'f', 0, G_OPTION_ARG_FILENAME, &options->flow,
      "Read runs from the store FLOW declares (its first callback that is a store)", "FLOW" },
    G_OPTION_ENTRY_NULL
  };

  g_option_context_add_main_entries (context, entries, NULL);
}

void
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
                   "or name the store with --store PATH, --store PLUGIN[:k=v,...] or --flow FLOW");
      return NULL;
    }
  return weft_cli_open_store_spec (engine, spec, plugin, plugin_options, error);
}

WeftStore *
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

JsonObject *
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

gboolean
weft_cli_check_store_args (const char *command, const WeftCliHistoryOptions *options)
{
  if (options->store != NULL && options->flow != NULL)
    {
      weft_cli_usage_error (command, "give --store or --flow, not both");
      return FALSE;
    }
  return TRUE;
}

/* ---- reading what the store returns ---------------------------------------- */

const char *
weft_cli_member_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

gint64
weft_cli_member_int (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return 0;
  return json_node_get_int (node);
}

char *
weft_cli_usage_text (gint64 prompt_tokens, gint64 completion_tokens, double cost)
{
  char price[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *tokens = g_strdup_printf ("%" G_GINT64_FORMAT " tokens (%" G_GINT64_FORMAT
                                             " prompt, %" G_GINT64_FORMAT " completion)",
                                             prompt_tokens + completion_tokens, prompt_tokens,
                                             completion_tokens);

  if (cost < 0)
    return g_steal_pointer (&tokens);
  return g_strdup_printf ("%s, cost %s", tokens, g_ascii_formatd (price, sizeof price, "%.6g",
                                                                  cost));
}

char *
weft_cli_usage_text_from_json (JsonObject *object)
{
  JsonNode *node = json_object_get_member (object, "usage");
  JsonNode *cost;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  JsonObject *usage = json_node_get_object (node);
  cost = json_object_get_member (usage, "cost");
  return weft_cli_usage_text (weft_cli_member_int (usage, "prompt_tokens"),
                              weft_cli_member_int (usage, "completion_tokens"),
                              cost && JSON_NODE_HOLDS_VALUE (cost)
                              ? json_node_get_double (cost) : -1);
}

JsonArray *
weft_cli_stored_tasks (JsonObject *run)
{
  JsonNode *node = json_object_get_member (run, "tasks");

  return node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

gboolean
weft_cli_run_ended (JsonObject *run)
{
  static const char *const ended[] = { "completed", "failed", "cancelled", NULL };
  const char *status = weft_cli_member_string (run, "status");

  return status != NULL && g_strv_contains (ended, status);
}

JsonObject *
weft_cli_stored_inputs (JsonObject *run)
{
  JsonNode *node = json_object_get_member (run, "inputs");

  return node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

JsonObject *
weft_cli_resume_kickoff (JsonObject *run, const char *run_id, WeftKickoffOptions *kickoff)
{
  JsonObject *completed = weft_run_json_get_completed (run, NULL);

  kickoff->inputs = weft_cli_stored_inputs (run);
  kickoff->completed = completed;
  kickoff->resume_run_id = run_id;
  kickoff->resume_seq = (guint64) MAX (weft_cli_member_int (run, "last_seq"), 0);
  /* Attempts go on after the stored ones: one the dead process had in
   * flight is run again as the next attempt, not stored twice. */
  kickoff->stored_tasks = weft_cli_stored_tasks (run);
  return completed;
}
