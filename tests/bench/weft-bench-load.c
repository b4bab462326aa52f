/* weft-bench-load.c — what loading a flow file costs, per task.
 *
 *   weft-bench-load [--repeat K] [--plugin-dir DIR]... FLOW.json...
 *
 * For each file: weft_flow_load_file() K times (default 9; the file read,
 * parsed, validated, compiled, its instances made, then the flow freed),
 * min and median of the wall time, and that per task; then the heap a
 * loaded flow holds (mallinfo2 before and after one load, the flow alive),
 * per task, and how much of it is the file's text (kept as the flow's
 * source, which run.started hands to stores).  Peak RSS is the process's.
 * Not a test: nothing is asserted (tests/bench/process.sh runs the whole
 * `weft run` process against the reference executor). */
#include "weft.h"
#include "weft-bench-proc.h"

#include <glib/gstdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/resource.h>

static gint opt_repeat = 9;
static char **opt_plugin_dirs = NULL;

static const GOptionEntry bench_options[] = {
  { "repeat", 'r', 0, G_OPTION_ARG_INT, &opt_repeat, "Load each file K times (default 9)", "K" },
  { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_plugin_dirs,
    "Load plugins from DIR too (the dag agent: build-bench/tests/bench)", "DIR" },
  G_OPTION_ENTRY_NULL
};

static int
bench_compare (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static gboolean
bench_file (WeftEngine *engine, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree double *ms = g_new (double, opt_repeat);
  guint n_tasks = 0;
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    {
      g_printerr ("%s: cannot stat\n", path);
      return FALSE;
    }
  gsize text = (gsize) st.st_size;
  for (gint k = 0; k < opt_repeat; k++)
    {
      gint64 start = g_get_monotonic_time ();
      g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, path, &error);
      ms[k] = (g_get_monotonic_time () - start) / 1000.0;
      if (flow == NULL)
        {
          g_printerr ("%s\n", error->message);
          return FALSE;
        }
      n_tasks = weft_flow_get_n_tasks (flow);
    }
  qsort (ms, opt_repeat, sizeof *ms, bench_compare);

  malloc_trim (0);
  gsize before = bench_heap_bytes ();
  g_autoptr(WeftFlow) flow = weft_flow_load_file (engine, path, &error);
  gsize held = bench_heap_bytes () - before;
  /* Only measured: clang's -Wunused-variable does not count the cleanup. */
  (void) flow;
  double median = ms[opt_repeat / 2];
  g_autofree char *name = g_path_get_basename (path);

  g_print ("%-28s %8u %9.2f %9.2f %8.2f %9.0f %8.0f %8.0f %8.1f\n", name,
           n_tasks, ms[0], median, median * 1000.0 / n_tasks, (double) held / n_tasks,
           (double) (text + 1) / n_tasks, (double) (held - text - 1) / n_tasks,
           bench_peak_rss_mib ());
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("FLOW.json… — loading cost per task");
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_option_context_add_main_entries (context, bench_options, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc < 2 || opt_repeat < 1)
    {
      g_printerr ("%s\n", error ? error->message : "usage: weft-bench-load [OPTION…] FLOW.json…");
      return 2;
    }
  g_autoptr(WeftEngine) engine = weft_engine_new (0);
  if (!weft_engine_load_plugins (engine, (const char * const *) opt_plugin_dirs, NULL, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  g_print ("%-28s %8s %9s %9s %8s %9s %8s %8s %8s\n", "file", "tasks", "min_ms", "med_ms",
           "us/task", "B/task", "text", "flow", "peakMiB");
  for (int i = 1; i < argc; i++)
    if (!bench_file (engine, argv[i]))
      status = 1;
  g_strfreev (opt_plugin_dirs);
  return status;
}
