/* weft-test.h — helpers shared by weft's test programs. */
#pragma once

#include <weft.h>
#include <glib/gstdio.h>
#include <string.h>

#define weft_test_assert_contains(haystack, needle)                                 \
  G_STMT_START {                                                                    \
    const char *weft_h_ = (haystack), *weft_n_ = (needle);                          \
    if (weft_h_ == NULL || strstr (weft_h_, weft_n_) == NULL)                       \
      g_error ("%s:%d: expected \"%s\" in \"%s\"", __FILE__, __LINE__, weft_n_,     \
               weft_h_ ? weft_h_ : "(null)");                                       \
  } G_STMT_END

/* Version 1 of the sqlite store's schema, as released, with one completed
 * run "old-run": a database an older weft wrote (test-sqlite.c, test-store.c). */
#define WEFT_TEST_SQLITE_SCHEMA_V1                                                                  \
  "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"                            \
  "  applied_wall_us INTEGER NOT NULL);"                                                          \
  "INSERT INTO schema_version VALUES (1, 0);"                                                     \
  "CREATE TABLE runs (run_id TEXT PRIMARY KEY NOT NULL, flow TEXT, status TEXT NOT NULL,"         \
  "  error TEXT, inputs TEXT, flow_source TEXT, started_wall_us INTEGER,"                         \
  "  finished_wall_us INTEGER, last_seq INTEGER NOT NULL DEFAULT 0);"                             \
  "CREATE TABLE tasks (run_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,"           \
  "  output TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, started_wall_us INTEGER,"      \
  "  finished_wall_us INTEGER, PRIMARY KEY (run_id, name));"                                      \
  "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,"          \
  "  task TEXT, time INTEGER NOT NULL, json TEXT NOT NULL,"                                       \
  "  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;"                                                   \
  "INSERT INTO runs (run_id, flow, status, started_wall_us) VALUES ('old-run', 'old', "           \
  "  'completed', 1);"

/* The build tree's folder of working test plugins. */
static inline char *
weft_test_plugin_dir (void)
{
  return g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "tests", "plugins", "good", NULL);
}

/* An engine with the test plugins and the build tree's plugins loaded. */
static inline WeftEngine *
weft_test_engine_new (guint threads)
{
  WeftEngine *engine = weft_engine_new (threads);
  g_autofree char *dir = weft_test_plugin_dir ();
  const char *dirs[] = { dir, NULL };
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  if (!weft_engine_load_plugins (engine, dirs, warnings, &error))
    g_error ("loading plugins: %s", error->message);
  for (guint i = 0; i < warnings->len; i++)
    g_error ("plugin warning: %s", (const char *) warnings->pdata[i]);
  return engine;
}

static inline void
weft_test_ignore_event (const WeftEvent *event, gpointer data)
{
}

static inline void
weft_test_engine_ended (gpointer data)
{
  g_atomic_int_set ((gint *) data, 1);
}

/* Lets go of `engine` (shut down) and waits until it has ended.  It ends
 * on its own loop once its flows let go of it (a thread's last reference
 * may go there), and their stores write their last rows then: what a
 * process's exit does, which a test that opens the store again needs. */
static inline void
weft_test_engine_unref_ended (WeftEngine *engine)
{
  gint ended = 0;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  /* A listener's destroy notify runs when the engine's bus is freed. */
  weft_engine_add_listener (engine, weft_test_ignore_event, &ended, weft_test_engine_ended);
  weft_engine_unref (engine);
  while (!g_atomic_int_get (&ended))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("the engine did not end in 20 s after its last reference went");
      g_usleep (1000);
    }
}

/* An engine listener's record: how many events were raised, and the flow
 * source the last run.started carried (what a store keeps). */
typedef struct {
  gint n_events;              /* atomic */
  GMutex lock;
  char *flow_source;
} WeftTestSeen;

static inline void weft_test_seen_on_event (const WeftEvent *event, gpointer data);

/* Starts recording what `engine` raises. */
static inline void
weft_test_seen_listen (WeftTestSeen *seen, WeftEngine *engine)
{
  g_mutex_init (&seen->lock);
  weft_engine_add_listener (engine, weft_test_seen_on_event, seen, NULL);
}

static inline void
weft_test_seen_on_event (const WeftEvent *event, gpointer data)
{
  WeftTestSeen *seen = data;

  g_atomic_int_inc (&seen->n_events);
  if (weft_event_get_event_type (event) != WEFT_EVENT_RUN_STARTED)
    return;
  g_mutex_lock (&seen->lock);
  g_free (seen->flow_source);
  seen->flow_source = g_strdup (weft_event_get_flow_source (event));
  g_mutex_unlock (&seen->lock);
}

/* The last run.started's flow source, which there must be. */
static inline char *
weft_test_seen_take_source (WeftTestSeen *seen)
{
  g_mutex_lock (&seen->lock);
  char *source = g_steal_pointer (&seen->flow_source);
  g_mutex_unlock (&seen->lock);
  g_assert_nonnull (source);
  return source;
}

/* After the engine is gone. */
static inline void
weft_test_seen_clear (WeftTestSeen *seen)
{
  g_clear_pointer (&seen->flow_source, g_free);
  g_mutex_clear (&seen->lock);
}

/* Loads a flow that must be valid. */
static inline WeftFlow *
weft_test_flow (WeftEngine *engine, const char *json)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, "test.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (flow);
  return flow;
}

/* Two objects (or two NULLs) with the same members and values. */
static inline void
weft_test_assert_same_json (JsonObject *a, JsonObject *b)
{
  g_assert_true ((a == NULL) == (b == NULL));
  if (a == NULL)
    return;
  g_autoptr(JsonNode) na = json_node_init_object (json_node_alloc (), a);
  g_autoptr(JsonNode) nb = json_node_init_object (json_node_alloc (), b);
  g_assert_true (json_node_equal (na, nb));
}

/* The same flow: name, tasks and their dependencies, inputs and their
 * defaults, instances, and the same graph drawn. */
static inline void
weft_test_assert_same_flow (WeftFlow *file, WeftFlow *built)
{
  g_assert_cmpstr (weft_flow_get_name (built), ==, weft_flow_get_name (file));
  g_assert_cmpuint (weft_flow_get_n_tasks (built), ==, weft_flow_get_n_tasks (file));
  for (guint i = 0; i < weft_flow_get_n_tasks (file); i++)
    {
      g_assert_cmpstr (weft_flow_get_task_name (built, i), ==, weft_flow_get_task_name (file, i));
      g_assert_true (g_strv_equal (weft_flow_get_task_dependencies (built, i),
                                   weft_flow_get_task_dependencies (file, i)));
    }
  g_assert_true (g_strv_equal (weft_flow_get_input_names (built),
                               weft_flow_get_input_names (file)));
  weft_test_assert_same_json (weft_flow_get_default_inputs (built),
                              weft_flow_get_default_inputs (file));
  for (WeftPluginKind k = WEFT_PLUGIN_AGENT; k <= WEFT_PLUGIN_CALLBACK; k++)
    g_assert_cmpuint (weft_flow_get_n_instances (built, k), ==,
                      weft_flow_get_n_instances (file, k));
  g_autofree char *dot_file = weft_flow_to_dot (file);
  g_autofree char *dot_built = weft_flow_to_dot (built);
  g_assert_cmpstr (dot_built, ==, dot_file);
}

static inline guint
weft_test_task_index (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    if (g_str_equal (weft_flow_get_task_name (flow, i), name))
      return i;
  g_error ("no task %s", name);
}

/* Warnings a plugin logs under `domain`, kept for the test to check
 * instead of aborting it (g_test_expect_message does not see structured
 * logging).  Install with g_log_set_writer_func (weft_test_capture_writer,
 * &warnings, NULL). */
typedef struct {
  const char *domain;
  GMutex lock;
  GPtrArray *warnings;        /* char* */
} WeftTestWarnings;

static inline GLogWriterOutput
weft_test_capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                          gpointer data)
{
  WeftTestWarnings *c = data;
  const char *domain = NULL, *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      domain = fields[i].value;
    else if (g_str_equal (fields[i].key, "MESSAGE"))
      message = fields[i].value;
  if (g_strcmp0 (domain, c->domain) != 0 || (level & G_LOG_LEVEL_WARNING) == 0)
    return g_log_writer_default (level, fields, n_fields, NULL);
  g_mutex_lock (&c->lock);
  g_ptr_array_add (c->warnings, g_strdup (message));
  g_mutex_unlock (&c->lock);
  return G_LOG_WRITER_HANDLED;
}

static inline void
weft_test_warnings_reset (WeftTestWarnings *c)
{
  g_mutex_lock (&c->lock);
  g_ptr_array_set_size (c->warnings, 0);
  g_mutex_unlock (&c->lock);
}

/* A child's exit status, or 1000 + the signal that killed it. */
static inline int
weft_test_exit_status (GSubprocess *proc)
{
  if (g_subprocess_get_if_exited (proc))
    return g_subprocess_get_exit_status (proc);
  return 1000 + g_subprocess_get_term_sig (proc);
}

/* Runs argv to its end, replacing *out and *err with what it printed;
 * returns weft_test_exit_status. */
static inline int
weft_test_run_command (const char * const *argv, char **out, char **err)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                         | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                                   &error);

  g_assert_no_error (error);
  g_clear_pointer (out, g_free);
  g_clear_pointer (err, g_free);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, out, err, &error);
  g_assert_no_error (error);
  g_test_message ("%s %s → %d\nstdout:\n%s\nstderr:\n%s", argv[0], argv[1] ? argv[1] : "",
                  weft_test_exit_status (proc), *out, *err);
  return weft_test_exit_status (proc);
}

/* The argv of `weft ARGS...` (`weft` at `weft`), with `--plugin-dir
 * plugin_dir` after the command (after "runs list": the two words of a
 * `runs` command count as one). */
static inline GStrv
weft_test_weft_argv (const char *weft, const char *plugin_dir, const char *const *args)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  gboolean runs = args[0] != NULL && strcmp (args[0], "runs") == 0;

  g_strv_builder_add (builder, weft);
  for (guint i = 0; args[i] != NULL; i++)
    {
      g_strv_builder_add (builder, args[i]);
      if ((i == 0 && !runs) || (i == 1 && runs))
        g_strv_builder_add_many (builder, "--plugin-dir", plugin_dir, NULL);
    }
  return g_strv_builder_end (builder);
}

/* Removes a test's temporary directory and the files in it; every removal
 * must succeed. */
static inline void
weft_test_remove_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      g_assert_cmpint (g_remove (child), ==, 0);
    }
  g_assert_cmpint (g_rmdir (path), ==, 0);
}
