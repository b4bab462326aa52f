/* weft-bench-proc.h — what the benchmarks share: the process's peak RSS,
 * heap, CPU time and thread count, its open-file
 * limit, the build tree, and the mock (weft-mock-llm-server) as a process
 * of its own, so that its CPU, threads and memory are not counted as the
 * client's. */
#pragma once

#include <gio/gio.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

static inline double
bench_peak_rss_mib (void)
{
  struct rusage ru;

  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double) ru.ru_maxrss / 1024.0;   /* KiB on Linux */
}

/* The bytes the heap holds now (mallinfo2: in use and mapped). */
static inline gsize
bench_heap_bytes (void)
{
  struct mallinfo2 mi = mallinfo2 ();

  return mi.uordblks + mi.hblkhd;
}

static inline double
bench_cpu_s (void)
{
  struct rusage ru;

  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* "Threads:" of /proc/self/status, or 0 when it cannot be read. */
static inline guint
bench_thread_count (void)
{
  g_autofree char *status = NULL;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  const char *line = strstr (status, "\nThreads:");
  return line != NULL ? (guint) strtoul (line + strlen ("\nThreads:"), NULL, 10) : 0;
}

/* Thousands of sockets at once: the soft limit up to the hard one. */
static inline void
bench_raise_nofile (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
        g_printerr ("weft-bench-llm: could not raise RLIMIT_NOFILE\n");
    }
}

/* The build tree, from this program's own path: BUILD/tests/bench/. */
static inline char *
bench_build_root (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

  if (exe == NULL)
    return NULL;
  g_autofree char *bench_dir = g_path_get_dirname (exe);
  g_autofree char *tests_dir = g_path_get_dirname (bench_dir);
  return g_path_get_dirname (tests_dir);
}

/* A port of 127.0.0.1 that was free a moment ago (the server cannot take
 * port 0 and say which it got... it can, but then its line must be parsed;
 * this keeps the mock's command line explicit). */
static inline guint
bench_free_port (GError **error)
{
  struct sockaddr_in addr = { 0 };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "socket: %s", g_strerror (errno));
      return 0;
    }
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0
      || getsockname (fd, (struct sockaddr *) &addr, &len) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "bind 127.0.0.1:0: %s",
                   g_strerror (errno));
      close (fd);
      return 0;
    }
  close (fd);
  return ntohs (addr.sin_port);
}

/* ---- the mock, as its own process ----------------------------------------- */

typedef struct {
  GSubprocess *proc;
  GDataInputStream *out;
  char *base_url;
} BenchMock;

/* CPU seconds (user + system) a process has used so far, from
 * /proc/PID/stat; -1 when it cannot be read. */
static inline double
bench_proc_cpu_s (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *stat = NULL;

  if (pid == NULL || !g_file_get_contents (path, &stat, NULL, NULL))
    return -1;
  /* Fields after the command name, which is in parentheses: utime and
   * stime are fields 14 and 15, i.e. the 12th and 13th after ")". */
  const char *p = strrchr (stat, ')');
  g_auto(GStrv) fields = p != NULL ? g_strsplit (p + 2, " ", 16) : NULL;
  if (fields == NULL || g_strv_length (fields) < 13)
    return -1;
  return (double) (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10))
         / (double) sysconf (_SC_CLK_TCK);
}

/* Stops the mock; unless `quiet`, prints its CPU time and its last line. */
static inline void
bench_mock_stop_full (BenchMock *mock, gboolean quiet)
{
  if (mock->proc != NULL)
    {
      double cpu = bench_proc_cpu_s (g_subprocess_get_identifier (mock->proc));

      if (cpu >= 0 && !quiet)
        printf ("  mock: %.3f s of CPU in all (its own process)\n", cpu);
      g_subprocess_send_signal (mock->proc, SIGTERM);
      g_autofree char *err_text = NULL;
      GInputStream *err = g_subprocess_get_stderr_pipe (mock->proc);
      g_autoptr(GError) error = NULL;

      /* Its last line: "N requests, at most M in flight". */
      if (err != NULL)
        {
          g_autoptr(GByteArray) bytes = g_byte_array_new ();
          guint8 buf[4096];
          gssize got;

          while ((got = g_input_stream_read (err, buf, sizeof buf, NULL, &error)) > 0)
            g_byte_array_append (bytes, buf, (guint) got);
          g_byte_array_append (bytes, (const guint8 *) "", 1);
          err_text = g_strstrip (g_strdup ((const char *) bytes->data));
        }
      g_subprocess_wait (mock->proc, NULL, NULL);
      if (err_text != NULL && *err_text != '\0' && !quiet)
        printf ("  mock: %s\n", err_text);
    }
  g_clear_object (&mock->out);
  g_clear_object (&mock->proc);
  g_clear_pointer (&mock->base_url, g_free);
}

/* Starts BUILD/mock/weft-mock-llm-server on a free port, answering
 * after `latency_ms` from `mock_threads` threads, with `extra_args`. */
static inline gboolean
bench_mock_start_full (BenchMock *mock, const char *build_root, gint latency_ms,
                       gint mock_threads, const char * const *extra_args, GError **error)
{
  g_autofree char *server = g_build_filename (build_root, "mock", "weft-mock-llm-server",
                                              NULL);
  guint port = bench_free_port (error);

  if (port == 0)
    return FALSE;
  g_autofree char *port_arg = g_strdup_printf ("--port=%u", port);
  g_autofree char *latency_arg = g_strdup_printf ("--latency-ms=%d", latency_ms);
  g_autofree char *threads_arg = g_strdup_printf ("--threads=%d", mock_threads);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, server);
  g_ptr_array_add (argv, port_arg);
  g_ptr_array_add (argv, latency_arg);
  g_ptr_array_add (argv, threads_arg);
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) extra_args[i]);
  g_ptr_array_add (argv, NULL);

  mock->proc = g_subprocess_newv ((const char * const *) argv->pdata,
                                  G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                  error);
  if (mock->proc == NULL)
    return FALSE;
  mock->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (mock->proc));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line (mock->out, NULL, NULL, error);

      if (line == NULL)
        {
          if (error != NULL && *error == NULL)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                         "%s exited before it was listening", server);
          bench_mock_stop_full (mock, TRUE);
          return FALSE;
        }
      if (g_str_has_prefix (line, "listening on "))
        {
          mock->base_url = g_strdup (line + strlen ("listening on "));
          return TRUE;
        }
    }
}

