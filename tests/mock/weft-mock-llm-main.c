/* weft-mock-llm-main.c — `weft-mock-llm`, the scripted mock
 * OpenAI-compatible server (libsoup, the tests' mock) on its own, installed:
 * for trying a client by hand and for the examples that need no key
 * (weft-mock-llm-server is the epoll one the benchmarks use).
 *
 *   weft-mock-llm [--port N] [--threads N] [--latency-ms N]
 *                        [--max-latency-ms N] [--rules FILE]
 *                        [--text-rule NEEDLE=TEXT]… [--tool-rule NEEDLE=JSON]…
 *
 * Prints "listening on http://127.0.0.1:PORT/v1" (and flushes) once it
 * accepts connections, then answers every chat completion with an echo of
 * the last user message, until SIGINT or SIGTERM.  --text-rule and
 * --tool-rule (repeatable, checked in the order given) add rules as
 * weft_mock_llm_add_text_rule() and weft_mock_llm_add_tool_rule() do: a
 * request whose last "user" or "tool" message contains NEEDLE is answered
 * with TEXT, or with the tool calls of JSON (an array of {"name",
 * "arguments"}), e.g. --tool-rule 'GO=[{"name": "slow", "arguments": {}}]'.
 * --rules FILE adds the rules of a JSON file first: an array of
 * {"needle", "text"} or {"needle", "tool_calls"} objects, with an optional
 * "delay_ms" for a text (examples/mock-rules/assistant.json scripts the
 * assistant example so).
 * --threads (default: one per processor) sets how many threads answer
 * (weft_mock_llm_new_full()).  Requests are counted, not recorded: its
 * memory does not grow with the requests it has answered.
 */
#include "weft-mock-llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

/* The rules of `path` (see above), added to `mock`; FALSE with a message. */
static gboolean
add_rules_file (WeftMockLlm *mock, const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_file (parser, path, &error))
    {
      g_printerr ("weft-mock-llm: --rules %s: %s\n", path, error->message);
      return FALSE;
    }
  JsonNode *root = json_parser_get_root (parser);
  JsonArray *rules = JSON_NODE_HOLDS_ARRAY (root) ? json_node_get_array (root) : NULL;
  for (guint i = 0; rules && i < json_array_get_length (rules); i++)
    {
      JsonNode *element = json_array_get_element (rules, i);
      JsonObject *rule = JSON_NODE_HOLDS_OBJECT (element) ? json_node_get_object (element) : NULL;
      const char *needle = rule ? json_object_get_string_member_with_default (rule, "needle", NULL) : NULL;
      const char *text = rule ? json_object_get_string_member_with_default (rule, "text", NULL) : NULL;
      JsonNode *calls = rule ? json_object_get_member (rule, "tool_calls") : NULL;
      if (needle == NULL || (text == NULL) == (calls == NULL)
          || (calls != NULL && !JSON_NODE_HOLDS_ARRAY (calls)))
        {
          g_printerr ("weft-mock-llm: --rules %s: rule %u needs \"needle\" and one of "
                      "\"text\" or \"tool_calls\" (an array)\n", path, i);
          return FALSE;
        }
      if (calls != NULL)
        {
          g_autofree char *json = json_to_string (calls, FALSE);
          weft_mock_llm_add_tool_rule (mock, needle, json);
        }
      else if (json_object_has_member (rule, "delay_ms"))
        weft_mock_llm_add_text_rule_delayed (mock, needle, text,
                                             (guint) CLAMP (json_object_get_int_member (rule,
                                                                                        "delay_ms"),
                                                            0, 3600000));
      else
        weft_mock_llm_add_text_rule (mock, needle, text);
    }
  if (rules == NULL)
    g_printerr ("weft-mock-llm: --rules %s: not a JSON array\n", path);
  return rules != NULL;
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  gint port = 0, threads = 0, latency_ms = 0, max_latency_ms = -1;
  g_auto(GStrv) text_rules = NULL;
  g_auto(GStrv) tool_rules = NULL;
  g_autofree char *rules_file = NULL;
  GOptionEntry entries[] = {
    { "rules", 'r', 0, G_OPTION_ARG_FILENAME, &rules_file,
      "Add the rules of a JSON file: [{\"needle\", \"text\" or \"tool_calls\"}]", "FILE" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (0: any free port)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads,
      "Threads that answer (0, the default: one per processor)", "N" },
    { "latency-ms", 'l', 0, G_OPTION_ARG_INT, &latency_ms, "Latency before each answer", "N" },
    { "max-latency-ms", 0, 0, G_OPTION_ARG_INT, &max_latency_ms,
      "With --latency-ms: a latency drawn uniformly per request up to N", "N" },
    { "text-rule", 0, 0, G_OPTION_ARG_STRING_ARRAY, &text_rules,
      "Answer a request whose last user/tool message contains NEEDLE with TEXT", "NEEDLE=TEXT" },
    { "tool-rule", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tool_rules,
      "Answer it with the tool calls of JSON ([{\"name\", \"arguments\"}])", "NEEDLE=JSON" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("— a mock OpenAI-compatible server");
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftMockLlm) mock = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint sigint, sigterm;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("weft-mock-llm: %s\n", error->message);
      return 2;
    }
  if (port < 0 || port > 65535 || threads < 0 || threads > 256 || latency_ms < 0
      || latency_ms > 3600000 || max_latency_ms > 3600000)
    {
      g_printerr ("weft-mock-llm: --port must be 0..65535, --threads 0..256 and "
                  "latencies 0..3600000\n");
      return 2;
    }

  for (guint i = 0; tool_rules != NULL && tool_rules[i] != NULL; i++)
    {
      /* Checked here: the mock treats invalid JSON as a programming error. */
      const char *eq = strchr (tool_rules[i], '=');
      g_autoptr(JsonParser) parser = json_parser_new ();

      if (eq == NULL || eq == tool_rules[i]
          || !json_parser_load_from_data (parser, eq + 1, -1, NULL)
          || !JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)))
        {
          g_printerr ("weft-mock-llm: --tool-rule wants NEEDLE=JSON-ARRAY, not \"%s\"\n",
                      tool_rules[i]);
          return 2;
        }
    }
  for (guint i = 0; text_rules != NULL && text_rules[i] != NULL; i++)
    {
      const char *eq = strchr (text_rules[i], '=');

      if (eq == NULL || eq == text_rules[i])
        {
          g_printerr ("weft-mock-llm: --text-rule wants NEEDLE=TEXT, not \"%s\"\n",
                      text_rules[i]);
          return 2;
        }
    }

  mock = weft_mock_llm_new_full ((guint) port, (guint) threads, &error);
  if (mock == NULL)
    {
      g_printerr ("weft-mock-llm: %s\n", error->message);
      return 1;
    }
  weft_mock_llm_set_recording (mock, FALSE);
  if (rules_file != NULL && !add_rules_file (mock, rules_file))
    return 2;
  weft_mock_llm_set_latency (mock, (guint) latency_ms,
                             (guint) MAX (latency_ms, max_latency_ms));
  for (guint i = 0; tool_rules != NULL && tool_rules[i] != NULL; i++)
    {
      g_autofree char *needle = g_strndup (tool_rules[i], (gsize) (strchr (tool_rules[i], '=') - tool_rules[i]));
      weft_mock_llm_add_tool_rule (mock, needle, strchr (tool_rules[i], '=') + 1);
    }
  for (guint i = 0; text_rules != NULL && text_rules[i] != NULL; i++)
    {
      g_autofree char *needle = g_strndup (text_rules[i], (gsize) (strchr (text_rules[i], '=') - text_rules[i]));
      weft_mock_llm_add_text_rule (mock, needle, strchr (text_rules[i], '=') + 1);
    }

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
