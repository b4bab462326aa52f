/* weft-bench-threads.c — many threads (conversations) at once, measured.
 *
 * Not a test: built with the tree, run by hand or by tests/bench/run.sh;
 * nothing here asserts a timing.  The model is the mock server as its own
 * process (weft-bench-proc.h), answering after --latency-ms.
 *
 *   weft-bench-threads [OPTION…] busy N   N threads at once; each is sent
 *       "start it" and "how are you" together: the model starts a
 *       background task (a template agent that takes --work-ms, holding no
 *       OS thread) and answers; the second message is answered after the
 *       first turn; the task's end comes back as a notice and a third turn.
 *       Floor: latency (the call that starts the task) + work + latency
 *       (the notice's answer); 1.4 s at the defaults.
 *   weft-bench-threads [OPTION…] idle N   N threads of the template agent
 *       (no model), each with 20 messages of history, then idle: the heap
 *       each holds (mallinfo2, this process), and its share of the RSS.
 *
 * Reported: wall time from the first post until every thread has answered
 * its three turns (busy), against the floor; CPU time; peak RSS; the
 * process's OS threads before and at most (sampled every 5 ms); per idle
 * thread, bytes of heap and of RSS. */
#include "weft.h"
#include "weft-bench-proc.h"


static gint opt_threads = 0;
static gint opt_mock_threads = -1;
static gint opt_latency_ms = 200;
static gint opt_work_ms = 1000;
static gint opt_timeout = 120;

static const GOptionEntry bench_options[] = {
  { "threads", 't', 0, G_OPTION_ARG_INT, &opt_threads,
    "Worker threads for weft_engine_new (default 0: weft picks)", "N" },
  { "mock-threads", 0, 0, G_OPTION_ARG_INT, &opt_mock_threads,
    "Threads of the mock server (default: one per processor but one, at least one)", "N" },
  { "latency-ms", 'l', 0, G_OPTION_ARG_INT, &opt_latency_ms,
    "The mock's latency before each answer (default 200)", "MS" },
  { "work-ms", 'w', 0, G_OPTION_ARG_INT, &opt_work_ms,
    "How long each background task takes (default 1000)", "MS" },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
    "Give up (exit 1) after S seconds (default 120)", "S" },
  G_OPTION_ENTRY_NULL
};

/* Turns finished, counted on the engine loop; the main loop waits. */
typedef struct {
  GMutex lock;
  GCond cond;
  guint completed;
  guint failed;
  char *first_error;
} BenchTurns;

static void
bench_on_event (const WeftEvent *event, gpointer data)
{
  BenchTurns *t = data;

  if (weft_event_get_event_type (event) != WEFT_EVENT_THREAD_TURN_FINISHED)
    return;
  g_mutex_lock (&t->lock);
  if (g_strcmp0 (weft_event_get_output (event), "completed") == 0)
    t->completed++;
  else if (t->failed++ == 0)
    t->first_error = g_strdup (weft_event_get_error (event));
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
}

/* Waits until `count` turns ended, sampling the thread count; FALSE on
 * the timeout. */
static gboolean
bench_wait_turns (BenchTurns *t, guint count, guint *threads_max)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) opt_timeout * G_USEC_PER_SEC;
  gboolean ok = TRUE;

  g_mutex_lock (&t->lock);
  while (t->completed + t->failed < count && ok)
    {
      g_cond_wait_until (&t->cond, &t->lock, g_get_monotonic_time () + 5000);
      *threads_max = MAX (*threads_max, bench_thread_count ());
      ok = g_get_monotonic_time () < deadline;
    }
  g_mutex_unlock (&t->lock);
  return ok;
}

static WeftEngine *
bench_engine (const char *root)
{
  g_autofree char *plugins = g_build_filename (root, "plugins", NULL);
  const char *dirs[] = { plugins, NULL };
  WeftEngine *engine = weft_engine_new ((guint) opt_threads);
  g_autoptr(GError) error = NULL;

  if (!weft_engine_load_plugins (engine, dirs, NULL, &error))
    g_error ("weft-bench-threads: %s", error->message);
  return engine;
}

static WeftThread **
bench_new_threads (WeftFlow *flow, guint n)
{
  WeftThread **threads = g_new0 (WeftThread *, n);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < n; i++)
    if ((threads[i] = weft_thread_new (flow, NULL, &error)) == NULL)
      g_error ("weft-bench-threads: %s", error->message);
  return threads;
}

static void
bench_post (WeftThread *thread, const char *text)
{
  g_autoptr(GError) error = NULL;

  if (weft_thread_post (thread, text, &error) == 0)
    g_error ("weft-bench-threads: %s", error->message);
}

static void
bench_free_threads (WeftThread **threads, guint n)
{
  for (guint i = 0; i < n; i++)
    weft_thread_unref (threads[i]);
  g_free (threads);
}

/* ---- busy: N conversations, each with background work ----------------------------- */

static int
bench_busy (const char *root, guint n)
{
  static const char *const rules[] = {
    "--tool-rule=start it=[{\"name\": \"lookup\", \"arguments\": {\"prompt\": \"x\"}}]",
    "--text-rule=\"status\":\"running\"=started",
    "--text-rule=how are you=fine",
    "--text-rule=completed in=done",
    NULL,
  };
  BenchMock mock = { 0 };
  g_autoptr(GError) error = NULL;

  if (!bench_mock_start_full (&mock, root, opt_latency_ms, opt_mock_threads, rules, &error))
    {
      g_printerr ("weft-bench-threads: %s\n", error->message);
      return 1;
    }
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"bench-threads\","
    " \"agents\": {\"llm\": {\"plugin\": \"openai\", \"base_url\": \"%s\", \"model\": \"bench\"},"
    "              \"work\": {\"plugin\": \"template\", \"delay_ms\": %d}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"work\", \"description\": \"d\"}],"
    " \"chat\": {\"agent\": \"llm\", \"background\": {\"lookup\": {\"agent\": \"work\"}}}}",
    mock.base_url, opt_work_ms);
  WeftEngine *engine = bench_engine (root);
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, "bench-threads.json", &error);
  if (flow == NULL)
    g_error ("weft-bench-threads: %s", error->message);
  BenchTurns turns = { 0 };
  g_mutex_init (&turns.lock);
  g_cond_init (&turns.cond);
  guint listener = weft_engine_add_listener (engine, bench_on_event, &turns, NULL);

  guint threads_before = bench_thread_count (), threads_max = threads_before;
  double rss_before = bench_peak_rss_mib (), cpu0 = bench_cpu_s ();
  gint64 t0 = g_get_monotonic_time ();
  WeftThread **threads = bench_new_threads (flow, n);
  for (guint i = 0; i < n; i++)
    {
      bench_post (threads[i], "start it");
      bench_post (threads[i], "how are you");
    }
  gboolean ok = bench_wait_turns (&turns, 3 * n, &threads_max);
  gint64 wall = g_get_monotonic_time () - t0;
  double cpu = bench_cpu_s () - cpu0;
  double floor_s = (2.0 * opt_latency_ms + opt_work_ms) / 1000.0;

  printf ("busy %u: %u threads, each a background task of %d ms and a message, model at %d ms\n",
          n, n, opt_work_ms, opt_latency_ms);
  printf ("  wall %.3f s, floor %.3f s (latency + work + latency): %.2f× the floor\n",
          wall / 1e6, floor_s, wall / 1e6 / floor_s);
  printf ("  turns completed %u of %u, failed %u%s%s\n", turns.completed, 3 * n, turns.failed,
          turns.first_error ? ": " : "", turns.first_error ? turns.first_error : "");
  printf ("  cpu %.3f s (%.0f µs per thread)  peak RSS %.1f MiB (%.1f before)  OS threads %u "
          "max (%u before)\n", cpu, cpu * 1e6 / n, bench_peak_rss_mib (), rss_before,
          threads_max, threads_before);

  weft_engine_remove_listener (engine, listener);
  weft_engine_shutdown (engine, 5000);
  bench_free_threads (threads, n);
  weft_flow_unref (flow);
  weft_engine_unref (engine);
  bench_mock_stop_full (&mock, FALSE);
  g_free (turns.first_error);
  g_mutex_clear (&turns.lock);
  g_cond_clear (&turns.cond);
  if (!ok)
    g_printerr ("weft-bench-threads: not done after %d s\n", opt_timeout);
  return ok && turns.failed == 0 ? 0 : 1;
}

/* ---- idle: what a thread with 20 messages holds ---------------------------------- */

static long
bench_rss_kib (void)
{
  g_autofree char *status = NULL;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  const char *line = strstr (status, "\nVmRSS:");
  return line ? strtol (line + strlen ("\nVmRSS:"), NULL, 10) : 0;
}

static int
bench_idle (const char *root, guint n)
{
  WeftEngine *engine = bench_engine (root);
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (engine,
                                        "{\"name\": \"bench-idle\", \"agents\": {\"bot\":"
                                        " {\"plugin\": \"template\", \"template\": "
                                        "\"an answer of about the length of a short reply: {prompt}\"}},"
                                        " \"tasks\": [{\"name\": \"t\", \"agent\": \"bot\","
                                        " \"description\": \"d\"}]}", -1, "bench-idle.json", &error);
  if (flow == NULL)
    g_error ("weft-bench-threads: %s", error->message);
  BenchTurns turns = { 0 };
  g_mutex_init (&turns.lock);
  g_cond_init (&turns.cond);
  guint listener = weft_engine_add_listener (engine, bench_on_event, &turns, NULL);
  guint threads_max = 0;

  /* Warm up what every thread shares (the plugin, JSON's type system). */
  WeftThread **warm = bench_new_threads (flow, 1);
  bench_post (warm[0], "warm up");
  bench_wait_turns (&turns, 1, &threads_max);
  malloc_trim (0);
  gsize heap0 = bench_heap_bytes ();
  long rss0 = bench_rss_kib ();
  WeftThread **threads = bench_new_threads (flow, n);
  for (guint m = 0; m < 10; m++)
    for (guint i = 0; i < n; i++)
      {
        g_autofree char *text = g_strdup_printf ("message %u of a user, a line of some words", m);
        bench_post (threads[i], text);
      }
  gboolean ok = bench_wait_turns (&turns, 1 + 10 * n, &threads_max);
  /* Idle: wait until the loop has let go of every turn. */
  for (guint i = 0; i < n; i++)
    while (weft_thread_is_busy (threads[i]))
      g_usleep (1000);
  g_usleep (100000);
  malloc_trim (0);
  gsize heap1 = bench_heap_bytes ();
  long rss1 = bench_rss_kib ();
  g_autoptr(JsonNode) one = weft_thread_to_json (threads[0]);
  guint messages = json_array_get_length (json_object_get_array_member (json_node_get_object (one),
                                                                        "messages"));

  printf ("idle %u: %u threads of %u messages each, idle\n", n, n, messages);
  printf ("  heap %.1f KiB per thread (%.1f MiB for all); RSS %.1f KiB per thread\n",
          (double) (heap1 - heap0) / n / 1024.0, (double) (heap1 - heap0) / (1024.0 * 1024.0),
          (double) (rss1 - rss0) / n);

  weft_engine_remove_listener (engine, listener);
  weft_engine_shutdown (engine, 5000);
  bench_free_threads (threads, n);
  bench_free_threads (warm, 1);
  weft_flow_unref (flow);
  weft_engine_unref (engine);
  g_mutex_clear (&turns.lock);
  g_cond_clear (&turns.cond);
  g_free (turns.first_error);
  return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new ("busy N | idle N");
  g_autoptr(GError) error = NULL;
  guint64 n = 0;

  g_option_context_add_main_entries (ctx, bench_options, NULL);
  g_option_context_set_summary (ctx,
    "Threads (conversations) at once:\n"
    "  busy N   N threads, each starting background work and sent a message, against the mock\n"
    "  idle N   N idle threads of 20 messages each: the memory each holds");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("weft-bench-threads: %s\n", error->message);
      return 2;
    }
  if (argc != 3 || (strcmp (argv[1], "busy") != 0 && strcmp (argv[1], "idle") != 0)
      || !g_ascii_string_to_unsigned (argv[2], 10, 1, 1000000, &n, NULL))
    {
      g_printerr ("weft-bench-threads: want `busy N` or `idle N` (see --help)\n");
      return 2;
    }
  if (opt_mock_threads == -1)
    opt_mock_threads = (gint) MAX (1, g_get_num_processors () - 1);
  bench_raise_nofile ();
  g_autofree char *root = bench_build_root ();
  if (root == NULL)
    {
      g_printerr ("weft-bench-threads: cannot find the build tree from /proc/self/exe\n");
      return 1;
    }
  return strcmp (argv[1], "busy") == 0 ? bench_busy (root, (guint) n) : bench_idle (root, (guint) n);
}
