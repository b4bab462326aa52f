/* embed.c — running a flow from your own program through weft.h.
 *
 * With weft installed (meson install -C build && ldconfig):
 *
 *   cc examples/embed/embed.c -o embed $(pkg-config --cflags --libs weft-sdk) -lweft
 *   ./embed examples/blog.json topic=robots
 *
 * Loads the plugins, loads the flow, kicks it off asynchronously with one
 * input, waits on a GMainLoop, then prints every task's status and the
 * final outputs.
 */
#include <weft/weft.h>

typedef struct {
  GMainLoop *loop;
  WeftFlow *flow;
  WeftRun *run;
  GError *error;
} Kickoff;

/* Called on this thread's main context when the run has ended. */
static void
on_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Kickoff *k = user_data;

  (void) source;
  k->run = weft_flow_kickoff_finish (k->flow, result, &k->error);
  g_main_loop_quit (k->loop);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;

  if (argc < 2) {
    g_printerr ("usage: %s FLOW [KEY=VALUE]...\n", argv[0]);
    return 2;
  }

  /* 0: one worker thread per processor for blocking agents. */
  g_autoptr(WeftEngine) engine = weft_engine_new (0);
  if (!weft_engine_load_plugins (engine, NULL, NULL, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }

  g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, argv[1], &error);
  if (flow == NULL) {
    g_printerr ("%s\n", error->message);   /* FILE: $.tasks[2]...: reason */
    return 2;
  }

  /* Inputs override the flow's own "inputs". */
  g_autoptr(JsonObject) inputs = json_object_new ();
  for (int i = 2; i < argc; i++) {
    g_auto(GStrv) kv = g_strsplit (argv[i], "=", 2);
    if (kv[0] != NULL && kv[1] != NULL)
      json_object_set_string_member (inputs, kv[0], kv[1]);
  }

  Kickoff k = { g_main_loop_new (NULL, FALSE), flow, NULL, NULL };
  weft_flow_kickoff_async (flow, inputs, NULL, on_finished, &k);
  g_main_loop_run (k.loop);   /* the run goes on in the engine's threads */
  g_main_loop_unref (k.loop);

  if (k.run == NULL) {          /* could not start: a missing input, ... */
    g_printerr ("%s\n", k.error->message);
    g_error_free (k.error);
    return 2;
  }

  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    g_print ("%-10s %-10s attempts=%u\n", weft_flow_get_task_name (flow, i),
             weft_status_to_string (weft_run_get_task_status (k.run, i)),
             weft_run_get_task_attempts (k.run, i));

  JsonObject *outputs = weft_run_get_outputs (k.run);
  g_autoptr(GList) names = json_object_get_members (outputs);
  for (GList *l = names; l != NULL; l = l->next)
    g_print ("\n== %s ==\n%s\n", (const char *) l->data,
             json_object_get_string_member (outputs, l->data));

  int status = weft_run_get_status (k.run) == WEFT_STATUS_COMPLETED ? 0 : 1;
  weft_run_unref (k.run);
  weft_engine_shutdown (engine, 5000);
  return status;
}
