/* weft-bench-llm.c — the openai agent against the mock server, measured.
 *
 * Not a test: built with the tree, run by tests/bench/run.sh, nothing here
 * asserts a timing.  The mock (weft-mock-llm, from the build tree)
 * runs as a separate process, so that its CPU, threads and memory are not
 * counted as the client's, on a free port of 127.0.0.1 found by binding
 * port 0 and closing the socket.
 *
 *   weft-bench-llm [OPTION…] parallel N   one flow of N independent openai
 *                                         tasks; the mock answers each after
 *                                         --latency-ms (default 200)
 *   weft-bench-llm [OPTION…] wide N       1 → N → 1 openai tasks: a root, N
 *                                         tasks that receive it, a last one
 *                                         that receives them all (the shape
 *                                         of ../shared/bench's `wide N`)
 *   weft-bench-llm [OPTION…] tools        one openai task whose model asks for
 *                                         5 calls of a tool that takes 1 s
 *                                         (test-tool, sleep_ms 1000), then
 *                                         answers
 *
 * Reported: the wall time from kickoff until the run's result is back on
 * this thread; the CPU time of this process and of the mock's over the run
 * (getrusage, /proc/PID/stat), and both per task; peak RSS (getrusage ru_maxrss: process-wide, this process
 * only, not the mock's); the process's thread count (Threads: in
 * /proc/self/status) before kickoff and its maximum while the run is in
 * flight, sampled every 5 ms from a timer on this thread's loop; and
 * the mock's own count of requests and of the most in flight at once (from
 * its stderr when it exits).
 *
 * What it showed first (libsoup 3.2.3, 2 CPUs): every request gets a new
 * connection — libsoup never reuses a connection for a POST unless the
 * message has SOUP_MESSAGE_IDEMPOTENT, and the mock closes every connection
 * after one answer (SoupServer keeps a connection alive only when it has a
 * listener of its own; the mock hands it sockets with accept_iostream) —
 * and the engine thread spends most of its time in libsoup's queue
 * processing (soup_session_steal_preconnection walks the whole queue, with
 * a g_weak_ref_get per item, for every connection still connecting).
 *
 * With --mock-url the flow goes to a mock already running (whose CPU is
 * then read from /proc/--mock-pid, when given): tests/bench/llm-asyncio.sh
 * runs weft and the asyncio reference alternately against one mock.
 *
 * Exits 1 when the mock cannot be started, the flow fails to load or the run
 * does not complete in --timeout seconds; 2 on bad arguments. */
#include "weft.h"
#include "weft-bench-proc.h"

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

static gint opt_threads = 0;
static gint opt_mock_threads = -1;
static gint opt_latency_ms = 200;
static gint opt_timeout = 120;
static gint opt_tool_ms = 1000;
static gint opt_tool_calls = 5;
static gboolean opt_json = FALSE;
static gint opt_runs = 1;
static gint opt_max_retries = 5;
static gint opt_keep_alive = 0;
static char *opt_mock_url = NULL;
static char *opt_mock_pid = NULL;

static const GOptionEntry bench_options[] = {
  { "threads", 't', 0, G_OPTION_ARG_INT, &opt_threads,
    "Worker threads for weft_engine_new (default 0: weft picks)", "N" },
  { "mock-threads", 0, 0, G_OPTION_ARG_INT, &opt_mock_threads,
    "Threads of the mock server (default: one per processor but one, at least one: the "
    "engine loop is one thread, and on 2 CPUs a second mock thread only competes with it; "
    "0: one per processor)", "N" },
  { "latency-ms", 'l', 0, G_OPTION_ARG_INT, &opt_latency_ms,
    "The mock's latency before each answer (default 200)", "MS" },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
    "Give up (exit 1) when the run is not back after S seconds (default 120)", "S" },
  { "tool-ms", 0, 0, G_OPTION_ARG_INT, &opt_tool_ms,
    "tools: how long each tool call takes (default 1000)", "MS" },
  { "tool-calls", 0, 0, G_OPTION_ARG_INT, &opt_tool_calls,
    "tools: how many tool calls the model asks for at once (default 5)", "K" },
  { "runs", 'r', 0, G_OPTION_ARG_INT, &opt_runs,
    "Run the flow this many times, one line each (default 1; later runs find warm connections)", "K" },
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "One JSON line per run, for scripts", NULL },
  { "keep-alive", 0, 0, G_OPTION_ARG_INT, &opt_keep_alive,
    "Requests to the mock whose connections stay open for the next run "
    "(weft_http_set_keep_alive_per_host; default 0: weft's, 256)", "N" },
  { "mock-url", 0, 0, G_OPTION_ARG_STRING, &opt_mock_url,
    "Use this running mock's base URL (http://127.0.0.1:PORT/v1) instead of starting one", "URL" },
  { "mock-pid", 0, 0, G_OPTION_ARG_STRING, &opt_mock_pid,
    "With --mock-url: the mock's process id, to read its CPU time", "PID" },
  { "max-retries", 0, 0, G_OPTION_ARG_INT, &opt_max_retries,
    "parallel: the agent's max_retries (default 5, the agent's own; 0 shows every failure)", "N" },
  G_OPTION_ENTRY_NULL
};

/* ---- the process ---------------------------------------------------------- */

/* The mock as its own process, with this program's options. */
static void
bench_mock_stop (BenchMock *mock)
{
  bench_mock_stop_full (mock, opt_json);
}

static gboolean
bench_mock_start (BenchMock *mock, const char *build_root, const char * const *extra_args,
                  GError **error)
{
  return bench_mock_start_full (mock, build_root, opt_latency_ms, opt_mock_threads, extra_args,
                                error);
}

/* ---- one run --------------------------------------------------------------- */

typedef struct {
  GMainLoop *loop;
  WeftFlow *flow;
  WeftRun *run;
  GError *error;
  gboolean stalled;
  guint threads_max;
} BenchWait;

static void
bench_done (GObject *source, GAsyncResult *result, gpointer data)
{
  BenchWait *w = data;

  w->run = weft_flow_kickoff_finish (w->flow, result, &w->error);
  g_main_loop_quit (w->loop);
}

static gboolean
bench_sample_threads (gpointer data)
{
  BenchWait *w = data;

  w->threads_max = MAX (w->threads_max, bench_thread_count ());
  return G_SOURCE_CONTINUE;
}

static gboolean
bench_stalled (gpointer data)
{
  BenchWait *w = data;

  w->stalled = TRUE;
  g_main_loop_quit (w->loop);
  return G_SOURCE_REMOVE;
}

typedef struct {
  const char *label;
  guint n_tasks;
  gint64 wall_us;
  gint64 load_us;
  double rss_before_mib;
  double rss_peak_mib;
  double cpu_s;
  double mock_cpu_s;          /* the mock's, over the run; -1 if unknown */
  guint threads_before;
  guint threads_max;
  guint n_failed;
  char *first_output;
  char *first_error;
} BenchResult;

/* One run of `flow`, from kickoff until its result is back here. */
static gboolean
bench_run (WeftFlow *flow, const char *mock_pid, BenchResult *res)
{
  res->n_tasks = weft_flow_get_n_tasks (flow);

  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  BenchWait w = { loop, flow, NULL, NULL, FALSE, 0 };
  guint watchdog = g_timeout_add_seconds ((guint) opt_timeout, bench_stalled, &w);
  guint sampler = g_timeout_add (5, bench_sample_threads, &w);
  double cpu0 = bench_cpu_s ();
  double mock_cpu0 = bench_proc_cpu_s (mock_pid);

  res->threads_before = bench_thread_count ();
  res->rss_before_mib = bench_peak_rss_mib ();
  w.threads_max = res->threads_before;
  gint64 t0 = g_get_monotonic_time ();
  weft_flow_kickoff_async (flow, NULL, NULL, bench_done, &w);
  g_main_loop_run (loop);
  res->wall_us = g_get_monotonic_time () - t0;
  res->cpu_s = bench_cpu_s () - cpu0;
  res->mock_cpu_s = mock_cpu0 >= 0 ? bench_proc_cpu_s (mock_pid) - mock_cpu0 : -1;
  bench_sample_threads (&w);
  res->threads_max = w.threads_max;
  res->rss_peak_mib = bench_peak_rss_mib ();
  g_source_remove (sampler);
  if (w.stalled)
    {
      g_printerr ("weft-bench-llm: %s: not finished after %d s\n", res->label, opt_timeout);
      return FALSE;
    }
  g_source_remove (watchdog);
  if (w.run == NULL)
    {
      g_printerr ("weft-bench-llm: %s: kickoff failed: %s\n", res->label, w.error->message);
      g_error_free (w.error);
      return FALSE;
    }
  gboolean ok = weft_run_get_status (w.run) == WEFT_STATUS_COMPLETED;
  for (guint i = 0; i < res->n_tasks; i++)
    {
      const GError *e = weft_run_get_task_error (w.run, i);
      if (e != NULL)
        {
          if (res->n_failed++ == 0)
            res->first_error = g_strdup (e->message);
        }
      else if (res->first_output == NULL)
        res->first_output = g_strdup (weft_run_get_task_output (w.run, i));
    }
  if (!ok)
    {
      const GError *e = weft_run_get_error (w.run);
      g_printerr ("weft-bench-llm: %s: run %s: %s\n", res->label,
                  weft_status_to_string (weft_run_get_status (w.run)),
                  e ? e->message : "no reason given");
    }
  weft_run_unref (w.run);
  return ok;
}

static void
bench_print (const BenchResult *res, gboolean ok)
{
  if (opt_json)
    {
      printf ("{\"workload\": \"%s\", \"ok\": %s, \"tasks\": %u, \"wall_s\": %.4f, "
              "\"load_s\": %.4f, \"cpu_s\": %.3f, \"rss_peak_mib\": %.1f, "
              "\"rss_before_mib\": %.1f, \"threads_before\": %u, \"threads_max\": %u, "
              "\"failed_tasks\": %u, \"mock_cpu_s\": %.3f}\n",
              res->label, ok ? "true" : "false", res->n_tasks, (double) res->wall_us / 1e6,
              (double) res->load_us / 1e6, res->cpu_s, res->rss_peak_mib, res->rss_before_mib,
              res->threads_before, res->threads_max, res->n_failed, res->mock_cpu_s);
      return;
    }
  printf ("%-16s %7u tasks  wall %8.3f s  cpu %7.3f s  peak RSS %7.1f MiB (%.1f before)"
          "  threads %u max (%u before)%s\n",
          res->label, res->n_tasks, (double) res->wall_us / 1e6, res->cpu_s,
          res->rss_peak_mib, res->rss_before_mib, res->threads_max, res->threads_before,
          ok ? "" : "  FAILED");
  if (res->mock_cpu_s >= 0 && res->n_tasks > 0)
    printf ("  CPU per task: %.0f µs here, %.0f µs in the mock (%.3f s over the run)\n",
            res->cpu_s * 1e6 / res->n_tasks, res->mock_cpu_s * 1e6 / res->n_tasks,
            res->mock_cpu_s);
  if (res->n_failed > 0)
    printf ("  %u task(s) failed; first: %s\n", res->n_failed, res->first_error);
  else if (res->first_output != NULL)
    printf ("  first output: %.100s\n", res->first_output);
}

/* ---- flows ------------------------------------------------------------------ */

/* A flow's start, up to its first task: the openai agent "llm". */
static GString *
bench_flow_begin (const char *name, const char *base_url, guint n)
{
  GString *s = g_string_sized_new ((gsize) n * 96 + 512);

  g_string_append_printf (s, "{\"name\": \"%s\", \"agents\": {\"llm\": "
                             "{\"plugin\": \"openai\", \"base_url\": \"%s\", \"model\": \"bench\","
                             " \"max_retries\": %d}},"
                             " \"tasks\": [\n", name, base_url, opt_max_retries);
  return s;
}

static char *
bench_flow_parallel (const char *base_url, guint n)
{
  GString *s = bench_flow_begin ("bench-llm-parallel", base_url, n);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s{\"name\": \"t%u\", \"agent\": \"llm\", \"description\": \"x%u\"}",
                            i > 0 ? ",\n" : "", i, i);
  g_string_append (s, "\n]}\n");
  return g_string_free (s, FALSE);
}

/* 1 → n → 1: "r", then "t0" … "t<n-1>" receiving it, then "j" receiving them. */
static char *
bench_flow_wide (const char *base_url, guint n)
{
  GString *s = bench_flow_begin ("bench-llm-wide", base_url, n);

  g_string_append (s, "{\"name\": \"r\", \"agent\": \"llm\", \"description\": \"root\"}");
  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, ",\n{\"name\": \"t%u\", \"agent\": \"llm\", \"description\": \"x%u\","
                               " \"context\": [\"r\"]}", i, i);
  g_string_append (s, ",\n{\"name\": \"j\", \"agent\": \"llm\", \"description\": \"join\", "
                      "\"context\": [");
  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s\"t%u\"", i > 0 ? ", " : "", i);
  g_string_append (s, "]}\n]}\n");
  return g_string_free (s, FALSE);
}

#define BENCH_TOOL_NEEDLE "BENCH-TOOLS"

static char *
bench_flow_tools (const char *base_url)
{
  return g_strdup_printf (
    "{\"name\": \"bench-llm-tools\","
    " \"tools\": {\"slow\": {\"plugin\": \"test-tool\", \"sleep_ms\": %d,"
    "                      \"description\": \"sleeps\"}},"
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"base_url\": \"%s\", \"model\": \"bench\","
    "                      \"tools\": [\"slow\"]}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"llm\", \"description\": \"" BENCH_TOOL_NEEDLE "\"}]}",
    opt_tool_ms, base_url);
}

static char *
bench_tool_rule (void)
{
  GString *s = g_string_new ("--tool-rule=" BENCH_TOOL_NEEDLE "=[");

  for (gint i = 0; i < opt_tool_calls; i++)
    g_string_append_printf (s, "%s{\"name\": \"slow\", \"arguments\": {\"n\": %d}}",
                            i > 0 ? ", " : "", i);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* ---- main ------------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new ("parallel N | tools");
  g_autoptr(GError) error = NULL;
  gboolean tools = FALSE, wide = FALSE;
  guint64 n = 0;

  g_option_context_add_main_entries (ctx, bench_options, NULL);
  g_option_context_set_summary (ctx,
    "The openai agent against weft-mock-llm (a separate process):\n"
    "  parallel N   one flow of N independent openai tasks\n"
    "  tools        one task whose model asks for --tool-calls calls of a tool\n"
    "               that takes --tool-ms, then answers");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("weft-bench-llm: %s\n", error->message);
      return 2;
    }
  if (argc == 3 && (strcmp (argv[1], "parallel") == 0 || strcmp (argv[1], "wide") == 0)
      && g_ascii_string_to_unsigned (argv[2], 10, 1, 10000000, &n, NULL))
    wide = strcmp (argv[1], "wide") == 0;
  else if (argc == 2 && strcmp (argv[1], "tools") == 0)
    tools = TRUE;
  else
    {
      g_printerr ("weft-bench-llm: want `parallel N`, `wide N` or `tools` (see --help)\n");
      return 2;
    }
  if (opt_mock_threads == -1)
    opt_mock_threads = (gint) MAX (1, g_get_num_processors () - 1);
  if (opt_threads < 0 || opt_mock_threads < 0 || opt_runs < 1 || opt_latency_ms < 0 || opt_timeout < 1 || opt_tool_ms < 0
      || opt_tool_calls < 1)
    {
      g_printerr ("weft-bench-llm: bad option value\n");
      return 2;
    }

  bench_raise_nofile ();
  g_autofree char *root = bench_build_root ();
  if (root == NULL)
    {
      g_printerr ("weft-bench-llm: cannot find the build tree from /proc/self/exe\n");
      return 1;
    }

  g_autofree char *rule = tools ? bench_tool_rule () : NULL;
  const char *extra[] = { rule, NULL };
  BenchMock mock = { NULL, NULL, NULL };
  if (opt_mock_url != NULL)
    mock.base_url = g_strdup (opt_mock_url);
  else if (!bench_mock_start (&mock, root, extra, &error))
    {
      g_printerr ("weft-bench-llm: starting the mock: %s\n", error->message);
      return 1;
    }

  if (opt_keep_alive > 0)
    weft_http_set_keep_alive_per_host ((guint) opt_keep_alive);
  g_autoptr(WeftEngine) engine = weft_engine_new ((guint) opt_threads);
  g_autofree char *test_plugins = g_build_filename (root, "tests", "plugins", "good", NULL);
  const char *dirs[] = { test_plugins, NULL };
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  if (!weft_engine_load_plugins (engine, dirs, warnings, &error))
    {
      g_printerr ("weft-bench-llm: loading plugins: %s\n", error->message);
      bench_mock_stop (&mock);
      return 1;
    }

  g_autofree char *label = tools ? g_strdup ("tools")
                                 : g_strdup_printf ("%s %" G_GUINT64_FORMAT, wide ? "wide" : "parallel", n);
  g_autofree char *json = tools ? bench_flow_tools (mock.base_url)
                          : wide ? bench_flow_wide (mock.base_url, (guint) n)
                                 : bench_flow_parallel (mock.base_url, (guint) n);
  gint64 t_load = g_get_monotonic_time ();
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, label, &error);
  gboolean ok = flow != NULL;

  if (flow == NULL)
    g_printerr ("weft-bench-llm: %s: %s\n", label, error->message);
  /* Later runs of the same flow: the agent's kept-alive connections are
   * warm, the rest are made anew. */
  for (gint i = 0; ok && i < opt_runs; i++)
    {
      g_autofree char *run_label = i == 0 ? g_strdup (label)
                                          : g_strdup_printf ("%s (run %d)", label, i + 1);
      BenchResult res = { 0 };

      res.label = run_label;
      res.load_us = i == 0 ? g_get_monotonic_time () - t_load : 0;
      ok = bench_run (flow, mock.proc != NULL ? g_subprocess_get_identifier (mock.proc) : opt_mock_pid,
                      &res);
      bench_print (&res, ok);
      g_free (res.first_output);
      g_free (res.first_error);
    }
  if (tools && !opt_json)
    printf ("  (%d tool calls of %d ms each: %.1f s when they overlap, %.1f s one after another)\n",
            opt_tool_calls, opt_tool_ms, opt_tool_ms / 1000.0,
            opt_tool_calls * opt_tool_ms / 1000.0);
  g_clear_pointer (&flow, weft_flow_unref);
  weft_engine_shutdown (engine, 1000);
  bench_mock_stop (&mock);
  return ok ? 0 : 1;
}
