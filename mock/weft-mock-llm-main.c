/* weft-mock-llm — a mock OpenAI-compatible server, installed with weft: an
 * LLM flow runs offline, with no key, against it (docs/mock-llm.md).
 *
 *   weft-mock-llm [--port N] [--script FILE] [--text-rule NEEDLE=TEXT]…
 *                 [--tool-rule NEEDLE=JSON]… [--latency-ms N]
 *                 [--max-latency-ms N] [--threads N]
 *
 * Prints "listening on http://127.0.0.1:PORT/v1" (and flushes) once it
 * accepts connections, then answers until SIGINT or SIGTERM: by the first
 * rule whose NEEDLE the request's last user or tool message holds, else by
 * the script's next reply, else with an echo of the last user message.
 * Requests are counted, not recorded: its memory does not grow with the
 * requests it answers.  The library behind it (weft-mock-llm.h) is what
 * weft's own tests script. */
#include "weft-mock-llm.h"
#include "weft-mock-llm-script.h"

#include <stdio.h>
#include <string.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#define WEFT_MOCK_DESCRIPTION \
  "Answers POST /v1/chat/completions as an OpenAI-compatible server would, on\n" \
  "127.0.0.1, until interrupted: point an openai agent's base_url at the URL it\n" \
  "prints (OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 for the examples).  Each\n" \
  "request is answered by, in order:\n" \
  "  1. the first rule whose NEEDLE is in the last user or tool message: a\n" \
  "     reply (--text-rule) or tool calls (--tool-rule), every time it matches;\n" \
  "  2. the script's next reply (--script), once each, in order: a text, tool\n" \
  "     calls, a stream, or a fault (an HTTP error, a dropped connection, a\n" \
  "     malformed body, a slow trickle);\n" \
  "  3. an echo: \"echo: \" and the last user message.\n" \
  "Answers carry usage (tokens: characters / 4) and stream when asked to.\n" \
  "Example (a rule that calls a tool, then one that answers its result):\n" \
  "  weft-mock-llm --port 8399 \\\n" \
  "    --tool-rule 'Lisbon=[{\"name\": \"clock\", \"arguments\": {\"city\": \"Lisbon\"}}]' \\\n" \
  "    --text-rule '12:00=It is noon in Lisbon.'\n" \
  "The script format, faults and examples: docs/mock-llm.md."

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

/* NEEDLE=VALUE: the needle, and *value past the '='. */
static char *
weft_mock_split_rule (const char *rule, const char **value)
{
  const char *eq = strchr (rule, '=');

  if (eq == NULL || eq == rule)
    return NULL;
  *value = eq + 1;
  return g_strndup (rule, (gsize) (eq - rule));
}

/* Checked before the server starts: the library treats bad JSON as a
 * programming error. */
static gboolean
weft_mock_add_rules (WeftMockLlm *mock, char **text_rules, char **tool_rules, GError **error)
{
  for (guint i = 0; tool_rules != NULL && tool_rules[i] != NULL; i++)
    {
      const char *json = NULL;
      g_autofree char *needle = weft_mock_split_rule (tool_rules[i], &json);
      g_autoptr(JsonParser) parser = json_parser_new ();
      if (needle == NULL || !json_parser_load_from_data (parser, json, -1, NULL)
          || !JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--tool-rule wants NEEDLE=JSON-ARRAY, not \"%s\"", tool_rules[i]);
          return FALSE;
        }
      weft_mock_llm_add_tool_rule (mock, needle, json);
    }
  for (guint i = 0; text_rules != NULL && text_rules[i] != NULL; i++)
    {
      const char *text = NULL;
      g_autofree char *needle = weft_mock_split_rule (text_rules[i], &text);
      if (needle == NULL)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--text-rule wants NEEDLE=TEXT, not \"%s\"", text_rules[i]);
          return FALSE;
        }
      weft_mock_llm_add_text_rule (mock, needle, text);
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  gint port = 0, threads = 0, latency_ms = -1, max_latency_ms = -1;
  g_autofree char *script = NULL;
  g_auto(GStrv) text_rules = NULL;
  g_auto(GStrv) tool_rules = NULL;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (default 0: any free port)",
      "N" },
    { "script", 's', 0, G_OPTION_ARG_FILENAME, &script,
      "Rules, replies, faults and latency from FILE (JSON; docs/mock-llm.md)", "FILE" },
    { "text-rule", 0, 0, G_OPTION_ARG_STRING_ARRAY, &text_rules,
      "Answer a request whose last user or tool message holds NEEDLE with TEXT (repeatable)",
      "NEEDLE=TEXT" },
    { "tool-rule", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tool_rules,
      "Answer it with the tool calls of JSON, [{\"name\", \"arguments\"}] (repeatable)",
      "NEEDLE=JSON" },
    { "latency-ms", 'l', 0, G_OPTION_ARG_INT, &latency_ms,
      "Wait N ms before each answer (default 0, or the script's)", "N" },
    { "max-latency-ms", 0, 0, G_OPTION_ARG_INT, &max_latency_ms,
      "With --latency-ms: a wait drawn per request, up to N ms", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads,
      "Threads that answer (default 0: one per processor)", "N" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options =
    g_option_context_new ("- a mock OpenAI-compatible server for LLM flows with no key");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftMockLlm) mock = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint sigint, sigterm;

  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_set_description (options, WEFT_MOCK_DESCRIPTION);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("weft-mock-llm: %s (see --help)\n", error->message);
      return 2;
    }
  if (argc > 1 || port < 0 || port > 65535 || threads < 0 || threads > 256
      || latency_ms > 3600000 || max_latency_ms > 3600000)
    {
      g_printerr ("weft-mock-llm: %s (see --help)\n",
                  argc > 1 ? "takes no arguments, only options"
                           : "--port must be 0..65535, --threads 0..256 and latencies "
                             "0..3600000");
      return 2;
    }

  mock = weft_mock_llm_new_full ((guint) port, (guint) threads, &error);
  if (mock == NULL)
    {
      g_printerr ("weft-mock-llm: %s\n", error->message);
      return 1;
    }
  weft_mock_llm_set_recording (mock, FALSE);
  if ((script != NULL && !weft_mock_llm_load_script (mock, script, &error))
      || !weft_mock_add_rules (mock, text_rules, tool_rules, &error))
    {
      g_printerr ("weft-mock-llm: %s\n", error->message);
      return 2;
    }
  if (latency_ms >= 0)
    weft_mock_llm_set_latency (mock, (guint) latency_ms,
                               (guint) MAX (latency_ms, max_latency_ms));

  loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, loop);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, loop);
  printf ("listening on %s\n", weft_mock_llm_get_base_url (mock));
  fflush (stdout);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_printerr ("weft-mock-llm: %u requests, at most %u in flight\n",
              weft_mock_llm_get_n_requests (mock), weft_mock_llm_get_max_in_flight (mock));
  return 0;
}
