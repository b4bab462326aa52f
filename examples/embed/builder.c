/* builder.c — a flow built in code with weft_flow_builder_*: no JSON.
 *
 * With weft installed (meson install -C build && ldconfig):
 *
 *   cc examples/embed/builder.c -o builder $(pkg-config --cflags --libs weft-sdk) -lweft
 *   ./builder topic=robots
 *
 * Builds CrewAI's blog crew (examples/blog.json) with calls: two research
 * tasks that run at the same time, then a writer that receives both.
 * Template agents with short delays stand in for LLM calls.  Runs it with
 * the blocking weft_flow_kickoff() and prints the article.
 */
#include <weft/weft.h>

static WeftFlow *
build_blog (WeftEngine *engine, GError **error)
{
  g_autoptr(WeftFlowBuilder) b = weft_flow_builder_new (engine, "blog", WEFT_PROCESS_SEQUENTIAL);

  weft_flow_builder_add_input (b, "topic", "AI");

  /* An agent is an instance of a plugin with its options. */
  WeftBuilderInstance *researcher = weft_flow_builder_add_agent (b, "researcher", "template", NULL);
  weft_builder_instance_set_int (researcher, "delay_ms", 200);
  weft_builder_instance_set_string (researcher, "template",
                                    "{description}\n- {input.topic}: point one\n"
                                    "- {input.topic}: point two");
  WeftBuilderInstance *writer = weft_flow_builder_add_agent (b, "writer", "template", NULL);
  weft_builder_instance_set_int (writer, "delay_ms", 100);
  weft_builder_instance_set_string (writer, "template",
                                    "# {input.topic}\n\n{context.history}\n\n{context.ideas}");

  /* Sequential, as CrewAI: the async tasks run together, and the next
   * task waits for both and receives both outputs. */
  WeftBuilderTask *ideas = weft_flow_builder_add_task (
      b, "ideas", "researcher", "List ideas for an article about {topic}.");
  weft_builder_task_set_async (ideas, TRUE);
  WeftBuilderTask *history = weft_flow_builder_add_task (
      b, "history", "researcher", "Research the history of {topic}.");
  weft_builder_task_set_async (history, TRUE);
  WeftBuilderTask *article = weft_flow_builder_add_task (
      b, "article", "writer", "Write an article about {topic}.");
  weft_builder_task_set_expected_output (article, "A short article.");
  weft_builder_task_set_retries (article, 2);

  /* Every check a flow file gets; a refusal names the call, e.g.
   * weft_flow_builder_add_task ("article"): agent: unknown agent "writr" (known: ...). */
  return weft_flow_builder_finish (b, error);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftEngine) engine = weft_engine_new (0);

  if (!weft_engine_load_plugins (engine, NULL, NULL, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  g_autoptr(WeftFlow) flow = build_blog (engine, &error);
  if (flow == NULL) {
    g_printerr ("%s\n", error->message);
    return 2;
  }

  g_autoptr(JsonObject) inputs = json_object_new ();
  for (int i = 1; i < argc; i++) {
    g_auto(GStrv) kv = g_strsplit (argv[i], "=", 2);
    if (kv[0] != NULL && kv[1] != NULL)
      json_object_set_string_member (inputs, kv[0], kv[1]);
  }

  /* Blocking: fine from main(), never from the engine's own loop. */
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, inputs, NULL, &error);
  if (run == NULL) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  g_autoptr(JsonObject) outputs = weft_run_get_outputs (run);
  if (json_object_has_member (outputs, "article"))
    g_print ("%s\n", json_object_get_string_member (outputs, "article"));
  int status = weft_run_get_status (run) == WEFT_STATUS_COMPLETED ? 0 : 1;
  g_clear_pointer (&run, weft_run_unref);
  weft_engine_shutdown (engine, 5000);
  return status;
}
