/* weft-cli-enqueue.c — `weft run FLOW --enqueue --store SPEC`: the runs go
 * to the store's queue with the flow's text and their inputs, checked
 * here first, and their ids are printed at once, one a line, in input
 * order; `weft worker`s on any machine run them (docs/scale-out.md). */
#include "weft-cli.h"

int
weft_cli_enqueue (WeftEngine *engine, WeftFlow *flow, const char *spec, GPtrArray *inputs,
                  gboolean quiet)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftStore) store = weft_cli_open_queue_spec (engine, spec, NULL, NULL, &error);
  g_auto(GStrv) ids = NULL;

  if (store == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  ids = weft_store_enqueue (store, flow, (JsonObject * const *) inputs->pdata, inputs->len,
                            &error);
  if (ids == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  for (guint i = 0; ids[i] != NULL; i++)
    printf ("%s\n", ids[i]);
  fflush (stdout);
  if (!quiet)
    {
      g_autofree char *shown = weft_cli_spec_shown (spec);
      g_autofree char *runs = weft_cli_count (inputs->len, "run", "runs");
      weft_cli_printerr ("weft: queued %s of %s in %s", runs, weft_flow_get_name (flow), shown);
    }
  return WEFT_CLI_EXIT_OK;
}
