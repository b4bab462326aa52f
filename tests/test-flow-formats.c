/* test-flow-formats.c — the other ways to write a flow that peers' users
 * bring: YAML (a .yaml or .yml file), and Intelli's "map_paths"
 * (successor lists) instead of each task's "context".
 *
 * A YAML flow equal to its JSON twin is the same flow (graph, inputs,
 * instances, the same run); its faults are refused with YAML's line and
 * column, before anything is made, and with the JSON reader's bounds (depth,
 * 64-bit integers, finite numbers, no NUL, no key twice), plus no anchors
 * or aliases.  map_paths gives the same graph as the contexts it stands
 * for, and its mistakes name their place. */
#include "weft-test.h"

typedef struct {
  WeftEngine *engine;
  char *dir;
  WeftTestSeen seen;          /* every event; the last run.started's source */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->engine = weft_test_engine_new (2);
  weft_test_seen_listen (&f->seen, f->engine);
  f->dir = g_dir_make_tmp ("weft-test-formats-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  weft_engine_shutdown (f->engine, 2000);
  weft_engine_unref (f->engine);
  weft_test_remove_dir (f->dir);
  g_free (f->dir);
  weft_test_seen_clear (&f->seen);
}

static char *
write_file (Fixture *f, const char *name, const char *text)
{
  char *path = g_build_filename (f->dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static WeftFlow *
load_file_ok (Fixture *f, const char *path)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_file (f->engine, path, &error);

  g_assert_no_error (error);
  return flow;
}

/* `text` in a file of `name` is refused with exactly "PATH" + `message`. */
static void
assert_file_refused (Fixture *f, const char *name, const char *text, gint code,
                     const char *message)
{
  g_autofree char *path = write_file (f, name, text);
  g_autofree char *expected = g_strconcat (path, message, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) flow = weft_flow_load_file (f->engine, path, &error);

  g_assert_null (flow);
  g_assert_nonnull (error);
  if (!g_str_equal (error->message, expected))
    g_error ("expected \"%s\"\n     got \"%s\"", expected, error->message);
  g_assert_error (error, WEFT_ERROR, code);
  g_assert_cmpint (g_atomic_int_get (&f->seen.n_events), ==, 0);
}

static JsonObject *
run_outputs (WeftFlow *flow)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftRun) run = weft_flow_kickoff (flow, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (weft_run_get_status (run), ==, WEFT_STATUS_COMPLETED);
  return weft_run_get_outputs (run);
}

/* ---- YAML ------------------------------------------------------------------------ */

/* examples/yaml/content.yaml is examples/content.json. */
static void
test_yaml_twin (Fixture *f, gconstpointer data)
{
  g_autofree char *json_path = g_build_filename (g_getenv ("WEFT_SOURCE_ROOT"), "examples",
                                                 "content.json", NULL);
  g_autofree char *yaml_path = g_build_filename (g_getenv ("WEFT_SOURCE_ROOT"), "examples",
                                                 "yaml", "content.yaml", NULL);
  g_autoptr(WeftFlow) json = load_file_ok (f, json_path);
  g_autoptr(WeftFlow) yaml = load_file_ok (f, yaml_path);

  weft_test_assert_same_flow (json, yaml);
  g_autoptr(JsonObject) from_json = run_outputs (json);
  g_autoptr(JsonObject) from_yaml = run_outputs (yaml);
  weft_test_assert_same_json (from_json, from_yaml);
}

/* YAML's values as JSON's: plain scalars typed by YAML 1.2's core schema,
 * quoted ones strings; the flow's source (what a store keeps) is the JSON
 * of the same flow, which loads. */
static void
test_yaml_values (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_file (f, "values.yml",
    "name: values\n"
    "inputs: {n: 3, hex: 0x10, ratio: 0.25, whole: 3.0, on: true, off: False, none: ~,\n"
    "         quoted: \"3\", word: yes, list: [a, 1]}\n"
    "agents:\n"
    "  w: {plugin: template, template: \"{input.n} {input.hex} {input.ratio} {input.whole} "
    "{input.on} {input.off} {input.none} {input.quoted} {input.word} {input.list}\"}\n"
    "tasks:\n"
    "  - {name: a, agent: w, description: d}\n");
  g_autoptr(WeftFlow) flow = load_file_ok (f, path);
  g_autoptr(JsonObject) outputs = run_outputs (flow);

  g_assert_cmpstr (json_object_get_string_member (outputs, "a"), ==,
                   "3 16 0.25 3.0 true false null 3 yes [\"a\",1]");

  g_autofree char *source = weft_test_seen_take_source (&f->seen);
  g_autoptr(GError) error = NULL;
  g_autoptr(WeftFlow) again = weft_flow_load_data (f->engine, source, -1, "source.json", &error);
  g_assert_no_error (error);
  weft_test_assert_same_flow (flow, again);
}

static void
test_yaml_refused (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *text;
    gint code;
    const char *message;        /* after the path */
  } cases[] = {
    { "name: x\nagents:\n  w: {plugin: noop}\n  w: {plugin: noop}\n", WEFT_ERROR_PARSE,
      ":4:3: $.agents: duplicate key \"w\" (each name may be given once)" },
    { "name: x\ntasks: [a, b\n", WEFT_ERROR_PARSE,
      ":3:1: $.tasks[2]: did not find expected ',' or ']' (while parsing a flow sequence, "
      "line 2)" },
    { "name: &n x\n", WEFT_ERROR_PARSE,
      ":1:7: $.name: anchors (&n) are not read: write the value out" },
    { "name: x\ndescription: *n\n", WEFT_ERROR_PARSE,
      ":2:14: $.description: aliases (*n) are not read: write the value out" },
    { "name: !!binary aGk=\n", WEFT_ERROR_PARSE,
      ":1:7: $.name: the tag tag:yaml.org,2002:binary is not read (a flow's values are "
      "strings, numbers, booleans, null, lists and mappings)" },
    { "name: \"a\\0b\"\n", WEFT_ERROR_PARSE,
      ":1:7: $.name: a NUL character is not allowed in a string" },
    { "inputs: {n: 99999999999999999999}\n", WEFT_ERROR_PARSE,
      ":1:13: $.inputs.n: the integer 99999999999999999999 does not fit in 64 bits" },
    { "inputs: {n: .inf}\n", WEFT_ERROR_PARSE, ":1:13: $.inputs.n: .inf is not a finite number" },
    { "inputs: {n: !!int x}\n", WEFT_ERROR_PARSE, ":1:13: $.inputs.n: \"x\" is not a int" },
    { "name: a\n---\nname: b\n", WEFT_ERROR_PARSE,
      ":2:1: $: a second document (a flow file holds one)" },
    { "", WEFT_ERROR_PARSE, ": a flow is a mapping of \"name\", \"agents\", \"tasks\"…, not an "
      "empty text" },
    { "- a\n", WEFT_ERROR_PARSE, ": a flow is a mapping of \"name\", \"agents\", \"tasks\"…, not "
      "an array" },
    { "? [a]\n: 1\n", WEFT_ERROR_PARSE, ":1:3: $: a key must be a plain value, not a list" },
    { "name: \xff\n", WEFT_ERROR_PARSE, ":1:1: $: invalid leading UTF-8 octet" },
    /* Past the reader, validation speaks of paths, as for JSON. */
    { "name: x\nagents: {w: {plugin: noop}}\ntasks:\n  - {name: a, agent: w, description: d,"
      " contex: [b]}\n", WEFT_ERROR_INVALID,
      ": $.tasks[0]: unknown key \"contex\" (valid: name, agent, description, expected_output, "
      "context, async, exclude, retries, retry_delay_ms, timeout_s, callbacks)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    assert_file_refused (f, "bad.yaml", cases[i].text, cases[i].code, cases[i].message);

  /* Nesting is bounded before anything is built on it. */
  g_autoptr(GString) deep = g_string_new ("a: ");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  assert_file_refused (f, "deep.yaml", deep->str, WEFT_ERROR_PARSE,
                       ":1:67: $.a[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]…: "
                       "nested deeper than 64 levels");
}

/* ---- map_paths ---------------------------------------------------------------------- */

#define AGENTS "\"agents\": {\"w\": {\"plugin\": \"template\", \"template\": \"{task}<-{context}\"}}"
#define TASKS(extra_d) \
  "\"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": \"d\"}," \
  " {\"name\": \"b\", \"agent\": \"w\", \"description\": \"d\"}," \
  " {\"name\": \"c\", \"agent\": \"w\", \"description\": \"d\"}," \
  " {\"name\": \"d\", \"agent\": \"w\", \"description\": \"d\"" extra_d "}]"

/* Intelli's AsyncFlow graph: a feeds b and c, both feed d. */
static void
test_map_paths_same_graph (Fixture *f, gconstpointer data)
{
  g_autofree char *paths = write_file (f, "paths.json",
    "{\"name\": \"g\", " AGENTS ", " TASKS ("") ","
    " \"map_paths\": {\"a\": [\"b\", \"c\"], \"b\": [\"d\"], \"c\": [\"d\"]}}");
  g_autofree char *context = write_file (f, "context.json",
    "{\"name\": \"g\", " AGENTS ", \"tasks\": ["
    " {\"name\": \"a\", \"agent\": \"w\", \"description\": \"d\"},"
    " {\"name\": \"b\", \"agent\": \"w\", \"description\": \"d\", \"context\": [\"a\"]},"
    " {\"name\": \"c\", \"agent\": \"w\", \"description\": \"d\", \"context\": [\"a\"]},"
    " {\"name\": \"d\", \"agent\": \"w\", \"description\": \"d\", \"context\": [\"b\", \"c\"]}]}");
  g_autofree char *yaml = write_file (f, "paths.yaml",
    "name: g\n"
    "agents: {w: {plugin: template, template: \"{task}<-{context}\"}}\n"
    "tasks:\n"
    "  - {name: a, agent: w, description: d}\n"
    "  - {name: b, agent: w, description: d}\n"
    "  - {name: c, agent: w, description: d}\n"
    "  - {name: d, agent: w, description: d}\n"
    "map_paths:\n"
    "  a: [b, c]\n"
    "  b: [d]\n"
    "  c: [d]\n");
  g_autoptr(WeftFlow) by_paths = load_file_ok (f, paths);
  g_autoptr(WeftFlow) by_context = load_file_ok (f, context);
  g_autoptr(WeftFlow) by_yaml = load_file_ok (f, yaml);

  weft_test_assert_same_flow (by_context, by_paths);
  weft_test_assert_same_flow (by_context, by_yaml);
  g_assert_true (g_strv_equal (weft_flow_get_task_dependencies (by_paths, 3),
                               (const char *[]) { "b", "c", NULL }));
  g_autoptr(JsonObject) outputs = run_outputs (by_paths);
  g_assert_cmpstr (json_object_get_string_member (outputs, "d"), ==,
                   "d<-b: b<-a: a<-\nc: c<-a: a<-");
}

static void
test_map_paths_refused (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *extra;          /* after the tasks */
    const char *extra_d;        /* in task d */
    gint code;
    const char *message;
  } cases[] = {
    { ", \"map_paths\": {\"a\": [\"b\", \"dd\"]}", "", WEFT_ERROR_NOT_FOUND,
      ": $.map_paths.a[1]: unknown task \"dd\" (did you mean \"d\"? known: a, b, c, d)" },
    { ", \"map_paths\": {\"x\": [\"b\"]}", "", WEFT_ERROR_NOT_FOUND,
      ": $.map_paths.x: unknown task \"x\" (did you mean \"a\"? known: a, b, c, d)" },
    { ", \"map_paths\": {\"a\": [\"b\", \"b\"]}", "", WEFT_ERROR_DUPLICATE,
      ": $.map_paths.a[1]: task \"b\" is listed twice" },
    { ", \"map_paths\": {\"a\": \"b\"}", "", WEFT_ERROR_INVALID,
      ": $.map_paths.a: must be a string list: the tasks that run after \"a\"" },
    { ", \"map_paths\": [\"a\"]", "", WEFT_ERROR_INVALID,
      ": $.map_paths: must be an object: task name → the tasks that run after it" },
    { ", \"map_paths\": {\"a\": [\"b\"]}", ", \"context\": [\"c\"]", WEFT_ERROR_INVALID,
      ": $.map_paths: give the graph one way: \"map_paths\" or each task's \"context\", not both "
      "(task \"d\" has a \"context\")" },
    { ", \"process\": \"sequential\", \"map_paths\": {\"a\": [\"b\"]}", "", WEFT_ERROR_INVALID,
      ": $.map_paths: successor lists draw a graph: drop \"process\": \"sequential\" or give "
      "each task's \"context\" instead" },
    { ", \"map_paths\": {\"a\": [\"b\"], \"b\": [\"a\"]}", "", WEFT_ERROR_CYCLE,
      ": $.tasks: dependency cycle: a -> b -> a (each waits for the next)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *tasks = g_strdup_printf (
        "\"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": \"d\"},"
        " {\"name\": \"b\", \"agent\": \"w\", \"description\": \"d\"},"
        " {\"name\": \"c\", \"agent\": \"w\", \"description\": \"d\"},"
        " {\"name\": \"d\", \"agent\": \"w\", \"description\": \"d\"%s}]", cases[i].extra_d);
      g_autofree char *text = g_strdup_printf ("{\"name\": \"g\", " AGENTS ", %s%s}", tasks,
                                               cases[i].extra);
      assert_file_refused (f, "bad.json", text, cases[i].code, cases[i].message);
    }
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/formats/yaml/twin", test_yaml_twin);
  ADD ("/formats/yaml/values", test_yaml_values);
  ADD ("/formats/yaml/refused", test_yaml_refused);
  ADD ("/formats/map-paths/same-graph", test_map_paths_same_graph);
  ADD ("/formats/map-paths/refused", test_map_paths_refused);
  return g_test_run ();
}
