/* weft-mock-llm-server — the mock OpenAI-compatible server on its own, for
 * benchmarks and for trying a client by hand.
 *
 *   weft-mock-llm-server [--port N] [--threads N] [--latency-ms N]
 *                        [--max-latency-ms N]
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
 * --threads (default: one per processor) sets how many threads answer.
 * Requests are counted, not recorded: its memory does not grow with the
 * requests it has answered.
 *
 * It serves over plain sockets and epoll (weft-mock-llm-epoll.c: a thread
 * per --threads, each with its own listening socket, SO_REUSEPORT), not
 * libsoup, so that a benchmark measures its client rather than its mock.
 * On exit it prints its requests, the most in flight at once, and the CPU
 * it used (user + system) in all and per request.
 */
#include "weft-mock-llm-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <sys/resource.h>

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
  GOptionEntry entries[] = {
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
  WeftMockEpoll *server;
  struct rusage usage;
  double cpu;
  guint n;
  g_autoptr(GMainLoop) loop = NULL;
  guint sigint, sigterm;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("weft-mock-llm-server: %s\n", error->message);
      return 2;
    }
  if (port < 0 || port > 65535 || threads < 0 || threads > 256 || latency_ms < 0
      || latency_ms > 3600000 || max_latency_ms > 3600000)
    {
      g_printerr ("weft-mock-llm-server: --port must be 0..65535, --threads 0..256 and "
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
          g_printerr ("weft-mock-llm-server: --tool-rule wants NEEDLE=JSON-ARRAY, not \"%s\"\n",
                      tool_rules[i]);
          return 2;
        }
    }
  for (guint i = 0; text_rules != NULL && text_rules[i] != NULL; i++)
    {
      const char *eq = strchr (text_rules[i], '=');

      if (eq == NULL || eq == text_rules[i])
        {
          g_printerr ("weft-mock-llm-server: --text-rule wants NEEDLE=TEXT, not \"%s\"\n",
                      text_rules[i]);
          return 2;
        }
    }

  mock = weft_mock_llm_new_core ();
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

  server = weft_mock_epoll_start (mock, (guint) port,
                                  threads > 0 ? (guint) threads : g_get_num_processors (), &error);
  if (server == NULL)
    {
      g_printerr ("weft-mock-llm-server: %s\n", error->message);
      return 1;
    }
  loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, loop);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, loop);
  printf ("listening on http://127.0.0.1:%u/v1\n", weft_mock_epoll_get_port (server));
  fflush (stdout);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  weft_mock_epoll_stop (server);
  getrusage (RUSAGE_SELF, &usage);
  cpu = (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  n = weft_mock_llm_get_n_requests (mock);
  g_printerr ("weft-mock-llm-server: %u requests, at most %u in flight, %.3f s of CPU "
              "(%.1f us per request)\n", n, weft_mock_llm_get_max_in_flight (mock), cpu,
              n > 0 ? cpu * 1e6 / n : 0.0);
  return 0;
}
