/* test-abi.c — the plugin ABI cannot change by accident.
 *
 * Three checks:
 * 1. Every public struct's size and every field's offset, pinned for this
 *    platform (LP64): the SDK's structs a plugin allocates or hands to
 *    weft, and weft.h's that an embedding program allocates.  A change to
 *    one fails here, with the field's name.
 * 2. Every fact of each frozen header of an earlier minor (tests/abi/)
 *    holds in the current header: a minor only ever adds.
 * 3. A plugin built against the frozen 3.0 header loads into this weft,
 *    has its options bound as it expects, and its zeroed reserved space
 *    reads as "nothing newer" (no option flags); one built against the
 *    frozen 3.1 header keeps the option flags it asked for.
 * 4. A callback built against the frozen 3.1 header is never handed an
 *    event type of 3.2 (thread.*).
 *
 * When a minor is added: pin its new fields here and bump nothing else;
 * freeze the header it replaces in tests/abi/.  When a major is: pin
 * everything anew and empty tests/abi/. */
#include "weft-test.h"
#include "abi/weft-abi-facts.h"

/* ---- 1. the current layout ------------------------------------------------ */

typedef struct {
  WeftAbiFact fact;
  gsize lp64;                 /* its value on LP64 platforms */
} WeftAbiPin;

#define PIN_SIZE(T, n) { { "sizeof " #T, sizeof (T) }, n }
#define PIN_OFFSET(T, field, n) { { #T "." #field, offsetof (T, field) }, n }
#define PIN_VALUE(constant, n) { { #constant, (gsize) (constant) }, n }

static const WeftAbiPin weft_abi_pins[] = {
  PIN_VALUE (WEFT_ABI_MAJOR, 3),
  PIN_VALUE (WEFT_ABI_MINOR, 2),                   /* 3.2: terminal, HTTP client, queue, threads */

  PIN_SIZE (WeftOption, 120),
  PIN_OFFSET (WeftOption, name, 0),
  PIN_OFFSET (WeftOption, type, 8),
  PIN_OFFSET (WeftOption, default_json, 16),
  PIN_OFFSET (WeftOption, required, 24),
  PIN_OFFSET (WeftOption, description, 32),
  PIN_OFFSET (WeftOption, offset, 40),
  PIN_OFFSET (WeftOption, min, 48),
  PIN_OFFSET (WeftOption, max, 56),
  PIN_OFFSET (WeftOption, choices, 64),
  PIN_OFFSET (WeftOption, flags, 72),              /* 3.1 */
  PIN_OFFSET (WeftOption, reserved, 80),
  PIN_VALUE (WEFT_OPTION_NOT_EMPTY, 1),            /* 3.1 */
  PIN_VALUE (WEFT_OPTION_ANY_CASE, 2),             /* 3.1 */
  PIN_VALUE (WEFT_OPTION_TEMPLATE, 4),             /* 3.2 */
  PIN_SIZE (WeftOptionType, 4),
  PIN_VALUE (WEFT_OPTION_STRING, 1),
  PIN_VALUE (WEFT_OPTION_INT, 2),
  PIN_VALUE (WEFT_OPTION_DOUBLE, 3),
  PIN_VALUE (WEFT_OPTION_BOOL, 4),
  PIN_VALUE (WEFT_OPTION_STRING_LIST, 5),
  PIN_VALUE (WEFT_OPTION_OBJECT, 6),
  PIN_VALUE (WEFT_OPTION_ENUM, 7),

  PIN_SIZE (WeftCommand, 128),
  PIN_OFFSET (WeftCommand, argv, 0),
  PIN_OFFSET (WeftCommand, env, 8),
  PIN_OFFSET (WeftCommand, clear_env, 16),
  PIN_OFFSET (WeftCommand, cwd, 24),
  PIN_OFFSET (WeftCommand, stdin_data, 32),
  PIN_OFFSET (WeftCommand, stdin_length, 40),
  PIN_OFFSET (WeftCommand, timeout_ms, 48),
  PIN_OFFSET (WeftCommand, max_output, 56),
  PIN_OFFSET (WeftCommand, max_stderr, 64),
  PIN_OFFSET (WeftCommand, discard_stdout, 72),
  PIN_OFFSET (WeftCommand, reserved, 80),
  PIN_SIZE (WeftCommandResult, 64),
  PIN_OFFSET (WeftCommandResult, stdout_text, 0),
  PIN_OFFSET (WeftCommandResult, stderr_text, 8),
  PIN_OFFSET (WeftCommandResult, exited, 16),
  PIN_OFFSET (WeftCommandResult, exit_status, 20),
  PIN_OFFSET (WeftCommandResult, term_signal, 24),
  PIN_OFFSET (WeftCommandResult, reserved, 32),

  PIN_SIZE (WeftAgentClass, 64),
  PIN_OFFSET (WeftAgentClass, flags, 0),
  PIN_OFFSET (WeftAgentClass, run, 8),
  PIN_OFFSET (WeftAgentClass, converse, 16),       /* 3.2 */
  PIN_OFFSET (WeftAgentClass, reserved, 24),
  PIN_VALUE (WEFT_AGENT_ASYNC, 1),
  PIN_SIZE (WeftToolClass, 72),
  PIN_OFFSET (WeftToolClass, arguments_schema, 0),
  PIN_OFFSET (WeftToolClass, invoke, 8),
  PIN_OFFSET (WeftToolClass, instance_schema, 16),
  PIN_OFFSET (WeftToolClass, reserved, 24),
  PIN_SIZE (WeftCallbackClass, 64),
  PIN_OFFSET (WeftCallbackClass, on_event, 0),
  PIN_OFFSET (WeftCallbackClass, flush, 8),
  PIN_OFFSET (WeftCallbackClass, reserved, 16),
  PIN_SIZE (WeftStoreClass, 80),
  PIN_OFFSET (WeftStoreClass, list_runs, 0),
  PIN_OFFSET (WeftStoreClass, get_run, 8),
  PIN_OFFSET (WeftStoreClass, claim_run, 16),
  PIN_OFFSET (WeftStoreClass, delete_run, 24),
  PIN_OFFSET (WeftStoreClass, queue, 32),          /* 3.2 */
  PIN_OFFSET (WeftStoreClass, get_thread, 40),     /* 3.2 */
  PIN_OFFSET (WeftStoreClass, list_threads, 48),   /* 3.2 */
  PIN_OFFSET (WeftStoreClass, delete_thread, 56),  /* 3.2 */
  PIN_OFFSET (WeftStoreClass, get_events, 64),    /* 3.2 */
  PIN_OFFSET (WeftStoreClass, reserved, 72),
  PIN_SIZE (WeftQueueClass, 112),                  /* 3.2 */
  PIN_OFFSET (WeftQueueClass, enqueue, 0),
  PIN_OFFSET (WeftQueueClass, join, 8),
  PIN_OFFSET (WeftQueueClass, claim_next, 16),
  PIN_OFFSET (WeftQueueClass, wait, 24),
  PIN_OFFSET (WeftQueueClass, hand_back, 32),
  PIN_OFFSET (WeftQueueClass, list_workers, 40),
  PIN_OFFSET (WeftQueueClass, reserved, 48),

  PIN_SIZE (WeftPluginDescriptor, 232),
  PIN_OFFSET (WeftPluginDescriptor, abi_major, 0),
  PIN_OFFSET (WeftPluginDescriptor, abi_minor, 4),
  PIN_OFFSET (WeftPluginDescriptor, kind, 8),
  PIN_OFFSET (WeftPluginDescriptor, name, 16),
  PIN_OFFSET (WeftPluginDescriptor, version, 24),
  PIN_OFFSET (WeftPluginDescriptor, description, 32),
  PIN_OFFSET (WeftPluginDescriptor, options, 40),
  PIN_OFFSET (WeftPluginDescriptor, options_size, 48),
  PIN_OFFSET (WeftPluginDescriptor, create, 56),
  PIN_OFFSET (WeftPluginDescriptor, destroy, 64),
  PIN_OFFSET (WeftPluginDescriptor, agent, 72),
  PIN_OFFSET (WeftPluginDescriptor, tool, 80),
  PIN_OFFSET (WeftPluginDescriptor, callback, 88),
  PIN_OFFSET (WeftPluginDescriptor, store, 96),
  PIN_OFFSET (WeftPluginDescriptor, reserved, 104),
  PIN_SIZE (WeftPluginKind, 4),
  PIN_VALUE (WEFT_PLUGIN_AGENT, 1),
  PIN_VALUE (WEFT_PLUGIN_TOOL, 2),
  PIN_VALUE (WEFT_PLUGIN_CALLBACK, 3),

  PIN_SIZE (WeftErrorCode, 4),
  PIN_VALUE (WEFT_ERROR_FAILED, 0),
  PIN_VALUE (WEFT_ERROR_PARSE, 1),
  PIN_VALUE (WEFT_ERROR_INVALID, 2),
  PIN_VALUE (WEFT_ERROR_NOT_FOUND, 3),
  PIN_VALUE (WEFT_ERROR_CYCLE, 4),
  PIN_VALUE (WEFT_ERROR_PLUGIN, 5),
  PIN_VALUE (WEFT_ERROR_ABI, 6),
  PIN_VALUE (WEFT_ERROR_DUPLICATE, 7),
  PIN_VALUE (WEFT_ERROR_TIMEOUT, 8),
  PIN_VALUE (WEFT_ERROR_CANCELLED, 9),
  PIN_VALUE (WEFT_ERROR_SKIPPED, 10),
  PIN_VALUE (WEFT_ERROR_BUSY, 11),

  PIN_SIZE (WeftEventType, 4),
  PIN_SIZE (WeftEventSet, 4),
  PIN_VALUE (WEFT_EVENT_RUN_STARTED, 0),
  PIN_VALUE (WEFT_EVENT_TASK_STARTED, 1),
  PIN_VALUE (WEFT_EVENT_TASK_STEP, 2),
  PIN_VALUE (WEFT_EVENT_TASK_COMPLETED, 3),
  PIN_VALUE (WEFT_EVENT_TASK_FAILED, 4),
  PIN_VALUE (WEFT_EVENT_TASK_RETRYING, 5),
  PIN_VALUE (WEFT_EVENT_TASK_SKIPPED, 6),
  PIN_VALUE (WEFT_EVENT_RUN_COMPLETED, 7),
  PIN_VALUE (WEFT_EVENT_RUN_FAILED, 8),
  PIN_VALUE (WEFT_EVENT_RUN_CANCELLED, 9),
  PIN_VALUE (WEFT_EVENT_RUN_RESUMED, 10),
  PIN_VALUE (WEFT_EVENT_TASK_CANCELLED, 11),
  PIN_VALUE (WEFT_EVENT_THREAD_CREATED, 12),       /* 3.2 */
  PIN_VALUE (WEFT_EVENT_THREAD_MESSAGE, 13),
  PIN_VALUE (WEFT_EVENT_THREAD_TURN_STARTED, 14),
  PIN_VALUE (WEFT_EVENT_THREAD_STEP, 15),
  PIN_VALUE (WEFT_EVENT_THREAD_TURN_FINISHED, 16),
  PIN_VALUE (WEFT_EVENT_THREAD_TASK_STARTED, 17),
  PIN_VALUE (WEFT_EVENT_THREAD_TASK_FINISHED, 18),
  PIN_VALUE (WEFT_EVENT_THREAD_DELETED, 19),
  PIN_VALUE (WEFT_JSON_MAX_DEPTH, 64),

  /* weft.h: what an embedding program allocates. */
  PIN_SIZE (WeftKickoffOptions, 104),
  PIN_OFFSET (WeftKickoffOptions, inputs, 0),
  PIN_OFFSET (WeftKickoffOptions, completed, 8),
  PIN_OFFSET (WeftKickoffOptions, resume_run_id, 16),
  PIN_OFFSET (WeftKickoffOptions, resume_seq, 24),
  PIN_OFFSET (WeftKickoffOptions, stored_tasks, 32),
  PIN_OFFSET (WeftKickoffOptions, run_id, 40),
  PIN_OFFSET (WeftKickoffOptions, reserved, 48),
  PIN_SIZE (WeftServerOptions, 128),
  PIN_OFFSET (WeftServerOptions, token, 0),
  PIN_OFFSET (WeftServerOptions, max_body, 8),
  PIN_OFFSET (WeftServerOptions, keep_runs, 16),
  PIN_OFFSET (WeftServerOptions, keep_s, 20),
  PIN_OFFSET (WeftServerOptions, max_runs, 24),
  PIN_OFFSET (WeftServerOptions, header_timeout_s, 28),
  PIN_OFFSET (WeftServerOptions, body_timeout_s, 32),
  PIN_OFFSET (WeftServerOptions, idle_timeout_s, 36),
  PIN_OFFSET (WeftServerOptions, max_connections, 40),
  PIN_OFFSET (WeftServerOptions, accept_backoff_ms, 44),
  PIN_OFFSET (WeftServerOptions, max_url, 48),
  PIN_OFFSET (WeftServerOptions, max_headers, 52),
  PIN_OFFSET (WeftServerOptions, write_timeout_s, 56),
  PIN_OFFSET (WeftServerOptions, reserved, 64),
};

static void
test_pinned_layout (void)
{
  if (sizeof (gpointer) != 8 || sizeof (long) != 8)
    {
      g_test_skip ("the pinned layout is LP64's");
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (weft_abi_pins); i++)
    if (weft_abi_pins[i].fact.value != weft_abi_pins[i].lp64)
      g_error ("%s is %" G_GSIZE_FORMAT ", pinned at %" G_GSIZE_FORMAT ": an ABI change? "
               "(weft-sdk.h, \"ABI versions\")", weft_abi_pins[i].fact.name,
               weft_abi_pins[i].fact.value, weft_abi_pins[i].lp64);
}

/* Reserved space goes to the end of each struct: a field added in it can
 * never move another. */
static void
test_reserved_last (void)
{
  static const struct {
    const char *type;
    gsize reserved_end;
    gsize size;
  } ends[] = {
    { "WeftOption", G_STRUCT_OFFSET (WeftOption, reserved) + sizeof ((WeftOption *) 0)->reserved,
      sizeof (WeftOption) },
    { "WeftCommand", G_STRUCT_OFFSET (WeftCommand, reserved)
      + sizeof ((WeftCommand *) 0)->reserved, sizeof (WeftCommand) },
    { "WeftCommandResult", G_STRUCT_OFFSET (WeftCommandResult, reserved)
      + sizeof ((WeftCommandResult *) 0)->reserved, sizeof (WeftCommandResult) },
    { "WeftAgentClass", G_STRUCT_OFFSET (WeftAgentClass, reserved)
      + sizeof ((WeftAgentClass *) 0)->reserved, sizeof (WeftAgentClass) },
    { "WeftToolClass", G_STRUCT_OFFSET (WeftToolClass, reserved)
      + sizeof ((WeftToolClass *) 0)->reserved, sizeof (WeftToolClass) },
    { "WeftCallbackClass", G_STRUCT_OFFSET (WeftCallbackClass, reserved)
      + sizeof ((WeftCallbackClass *) 0)->reserved, sizeof (WeftCallbackClass) },
    { "WeftStoreClass", G_STRUCT_OFFSET (WeftStoreClass, reserved)
      + sizeof ((WeftStoreClass *) 0)->reserved, sizeof (WeftStoreClass) },
    { "WeftPluginDescriptor", G_STRUCT_OFFSET (WeftPluginDescriptor, reserved)
      + sizeof ((WeftPluginDescriptor *) 0)->reserved, sizeof (WeftPluginDescriptor) },
    { "WeftKickoffOptions", G_STRUCT_OFFSET (WeftKickoffOptions, reserved)
      + sizeof ((WeftKickoffOptions *) 0)->reserved, sizeof (WeftKickoffOptions) },
    { "WeftServerOptions", G_STRUCT_OFFSET (WeftServerOptions, reserved)
      + sizeof ((WeftServerOptions *) 0)->reserved, sizeof (WeftServerOptions) },
  };

  for (guint i = 0; i < G_N_ELEMENTS (ends); i++)
    if (ends[i].reserved_end != ends[i].size)
      g_error ("%s: its reserved space is not at its end", ends[i].type);
}

/* ---- 2. older minors -------------------------------------------------------- */

static const WeftAbiFact *
weft_abi_find (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (weft_abi_pins); i++)
    if (g_str_equal (weft_abi_pins[i].fact.name, name))
      return &weft_abi_pins[i].fact;
  return NULL;
}

static void
assert_facts_hold (const WeftAbiFact *older, const char *header)
{
  guint n = 0;

  for (const WeftAbiFact *f = older; f->name != NULL; f++, n++)
    {
      const WeftAbiFact *now = weft_abi_find (f->name);
      if (now == NULL)
        g_error ("%s: %s is not pinned in test-abi.c any more: was it removed? That takes a "
                 "major", header, f->name);
      if (now->value != f->value)
        g_error ("%s: %s was %" G_GSIZE_FORMAT ", is %" G_GSIZE_FORMAT ": a change that takes a "
                 "major", header, f->name, f->value, now->value);
    }
  g_assert_cmpuint (n, >, 50);
}

static void
test_older_minors (void)
{
  assert_facts_hold (weft_abi_facts_3_0, "tests/abi/weft-sdk-3.0.h");
  assert_facts_hold (weft_abi_facts_3_1, "tests/abi/weft-sdk-3.1.h");
}

/* ---- 3. plugins of earlier minors ----------------------------------------------- */

/* An engine with the plugin of minor 3.`minor` (built in tests/abi/). */
static WeftEngine *
abi_engine_new (guint minor)
{
  WeftEngine *engine = weft_engine_new (1);
  g_autofree char *dir = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "tests", "abi", NULL);
  g_autofree char *file = g_strdup_printf ("weft-abi3%u.so", minor);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autoptr(GError) error = NULL;
  WeftPlugin *plugin = weft_registry_load_file (weft_engine_get_registry (engine), path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (plugin);
  g_assert_cmpuint (weft_plugin_get_descriptor (plugin)->abi_major, ==, 3);
  g_assert_cmpuint (weft_plugin_get_descriptor (plugin)->abi_minor, ==, minor);
  g_assert_cmpuint (weft_plugin_get_descriptor (plugin)->abi_minor, <, WEFT_ABI_MINOR);
  return engine;
}

/* The answer of an agent of plugin `plugin` with `options` (JSON members). */
static char *
abi_answer (WeftEngine *engine, const char *plugin, const char *options, GError **error)
{
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"abi\", \"agents\": {\"a\": {\"plugin\": \"%s\"%s%s}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"a\", \"description\": \"d\"}]}",
    plugin, *options ? ", " : "", options);
  g_autoptr(WeftFlow) flow = weft_flow_load_data (engine, json, -1, "abi.json", error);
  if (flow == NULL)
    return NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, error);
  g_assert_nonnull (run);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  return g_strdup (weft_run_get_task_output (run, 0));
}

static void
test_plugin_of_3_0 (void)
{
  g_autoptr(WeftEngine) engine = abi_engine_new (0);
  g_autoptr(GError) error = NULL;

  g_autofree char *defaults = abi_answer (engine, "abi30", "", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (defaults, ==, "text=hi count=1 ratio=0(default) loud=0 words= extra= mode=fast");

  g_autofree char *given = abi_answer (engine, "abi30", "\"text\": \"yo\", \"count\": 10, \"ratio\": 0,"
                                         " \"loud\": true, \"words\": [\"a\", \"b\"],"
                                         " \"extra\": {\"k\": 1}, \"mode\": \"slow\"", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (given, ==, "text=yo count=10 ratio=0 loud=1 words=a,b extra=k mode=slow");

  /* Zero in what was reserved at 3.0 means what 3.0 meant. */
  g_autofree char *empty = abi_answer (engine, "abi30", "\"text\": \"\"", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (empty, "text= count=1"));
}

/* The table's checks, in the words a plugin's create() used to write. */
static void
test_plugin_of_3_0_refused_values (void)
{
  static const struct {
    const char *options;
    const char *message;
  } cases[] = {
    { "\"count\": 11",
      "abi.json: $.agents.a: plugin abi30: option \"count\": must be between 0 and 10, not 11" },
    { "\"ratio\": 1.5",
      "abi.json: $.agents.a: plugin abi30: option \"ratio\": must be between 0 and 1, not 1.5" },
    { "\"mode\": \"medium\"",
      "abi.json: $.agents.a: plugin abi30: option \"mode\": must be \"fast\" or \"slow\", not "
      "\"medium\"" },
    { "\"mode\": 1",
      "abi.json: $.agents.a.mode: option \"mode\" of plugin \"abi30\" must be a string, not an "
      "integer" },
  };
  g_autoptr(WeftEngine) engine = abi_engine_new (0);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *answer = abi_answer (engine, "abi30", cases[i].options, &error);

      g_assert_null (answer);
      g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

/* 3.1's flags still check what a 3.1 plugin asked for. */
static void
test_plugin_of_3_1 (void)
{
  g_autoptr(WeftEngine) engine = abi_engine_new (1);
  g_autoptr(GError) error = NULL;

  g_autofree char *defaults = abi_answer (engine, "abi31", "", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (defaults, ==, "text=hi mode=fast");

  g_autofree char *any_case = abi_answer (engine, "abi31", "\"mode\": \"SLOW\"", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (any_case, ==, "text=hi mode=slow");

  g_autofree char *empty = abi_answer (engine, "abi31", "\"text\": \"\"", &error);
  g_assert_null (empty);
  g_assert_error (error, WEFT_ERROR, WEFT_ERROR_INVALID);
  weft_test_assert_contains (error->message, "option \"text\": must not be empty");
}

/* ---- 4. a callback of 3.1 ------------------------------------------------------ */

/* A callback built before thread events existed gets a run's events and
 * none of a thread's: it could not know their types. */
static void
test_callback_of_3_1 (void)
{
  g_autoptr(WeftEngine) engine = weft_test_engine_new (2);
  g_autofree char *dir = g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "tests", "abi", NULL);
  g_autofree char *so = g_build_filename (dir, "weft-abi31cb.so", NULL);
  g_autofree char *tmp = g_dir_make_tmp ("weft-abi31cb-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (tmp, "events.txt", NULL);
  g_autoptr(GError) error = NULL;
  WeftPlugin *plugin = weft_registry_load_file (weft_engine_get_registry (engine), so, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (weft_plugin_get_descriptor (plugin)->abi_minor, ==, 1);
  g_autofree char *json = g_strdup_printf (
    "{\"name\": \"c\", \"agents\": {\"a\": {\"plugin\": \"template\"}},"
    " \"callbacks\": {\"old\": {\"plugin\": \"abi31cb\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"t\", \"agent\": \"a\", \"description\": \"d\"}]}", path);
  WeftFlow *flow = weft_test_flow (engine, json);
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr(WeftThread) thread = weft_thread_new (flow, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (weft_thread_post (thread, "hi", &error), ==, 1);
  for (guint i = 0; i < 500 && weft_thread_is_busy (thread); i++)
    g_usleep (10000);
  g_assert_false (weft_thread_is_busy (thread));
  weft_thread_close (thread);
  g_clear_pointer (&thread, weft_thread_unref);
  weft_engine_shutdown (engine, 1000);
  g_clear_pointer (&run, weft_run_unref);
  weft_flow_unref (flow);      /* the last reference: drains the callback */

  g_autofree char *got = NULL;
  g_assert_true (g_file_get_contents (path, &got, NULL, NULL));
  g_assert_cmpstr (got, ==, "run.started\ntask.started\ntask.completed\nrun.completed\n");
  g_assert_cmpint (g_remove (path), ==, 0);
  g_assert_cmpint (g_rmdir (tmp), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/abi/pinned-layout", test_pinned_layout);
  g_test_add_func ("/abi/reserved-last", test_reserved_last);
  g_test_add_func ("/abi/older-minors", test_older_minors);
  g_test_add_func ("/abi/plugin-of-3.0", test_plugin_of_3_0);
  g_test_add_func ("/abi/plugin-of-3.0-refused-values", test_plugin_of_3_0_refused_values);
  g_test_add_func ("/abi/plugin-of-3.1", test_plugin_of_3_1);
  g_test_add_func ("/abi/callback-of-3.1", test_callback_of_3_1);
  return g_test_run ();
}
