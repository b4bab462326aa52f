/* test-bad-inputs.c — the catalogue: bad inputs to the `weft` command, to
 * flow files and to the HTTP API, each with the exact exit status (or
 * HTTP status) and the message weft must answer with.
 *
 * Every case is a test of its own (/bad-inputs/flow/NAME,
 * /bad-inputs/cli/NAME, /bad-inputs/http/NAME), so that a change of
 * wording or of status shows by name.  Flow files are checked with
 * `weft validate FILE`, which must exit 2 with one line naming the file,
 * the place and the reason; command lines are run as they are; requests
 * are sent raw to `weft serve`'s server, in process.  CI runs the program
 * under AddressSanitizer and UBSan too: no bad input may crash, leak or
 * hang weft.
 *
 * Texts are written with placeholders, expanded before use:
 *   @F@    the case's own file (its `file` text, or its flow)
 *   @D@    the test's temporary directory
 *   @G@    a good flow (examples/blog.json); @GD@ a folder holding it
 *   @N@    a flow that needs the input "who"
 *   @E@    an empty folder; @B@ a folder holding one bad flow
 *   @S@    a sqlite store holding one run
 *   @DEEP@ 100,000 "["; @DEEPOBJ@ 70 nested objects; @X5000@ 5,000 "x" (any
 *   number);
 *   @N300@ 300 "n"; @NUL@ a NUL byte (in a file's text)
 * Flows are written with single quotes, which read better in C strings;
 * they become double quotes (except in raw cases, written byte for byte). */
#include "weft-test.h"

#include <gio/gio.h>
#include <string.h>

/* ---- the catalogue ---------------------------------------------------------- */

#define A "'agents': {'w': {'plugin': 'template'}}"
#define T "'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}]"
/* A flow of one task "a", before the task's further keys. */
#define TASK_KEYS "{'name': 'x', " A ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd', "
/* A flow before its agent "w"'s declaration. */
#define AGENT "{'name': 'x', 'agents': {'w': "

typedef struct {
  const char *name;
  const char *text;           /* single quotes; raw: these bytes */
  gssize length;              /* raw: the length */
  gboolean raw;
  const char *message;        /* the whole of stderr's first line */
} WeftBadFlow;

typedef struct {
  const char *name;
  const char *argv[10];       /* after "weft" */
  const char *file;           /* the text of @F@, or NULL */
  int status;
  const char *message;        /* the whole of stderr's first line */
} WeftBadCli;

static const WeftBadFlow weft_bad_flows[] = {
  { "empty",
    "", -1, FALSE,
    "weft: @F@: no JSON value: the text is empty" },
  { "blank",
    "  \n\t ", -1, FALSE,
    "weft: @F@: no JSON value: the text is empty" },
  { "truncated",
    "{'name': 'x', ", -1, FALSE,
    "weft: @F@:1:15: expected a member name in double quotes, found the end of the text" },
  { "trailing-comma",
    "{'name': 'x',}", -1, FALSE,
    "weft: @F@:1:14: expected a member name in double quotes, found '}'" },
  { "single-quotes-raw",
    "{'name': 'x'}", 13, TRUE,
    "weft: @F@:1:2: expected a member name in double quotes, found '''" },
  { "garbage-after",
    "{'name': 'x', " A ", " T "} x", -1, FALSE,
    "weft: @F@:1:116: unexpected 'x' after the JSON value" },
  { "comment",
    "// c\n{}", -1, FALSE,
    "weft: @F@:1:1: expected a JSON value, found '/'" },
  { "deep-arrays",
    "{'name': 'x', 'inputs': {'a': @DEEP@}}", -1, FALSE,
    "weft: @F@:1:93: $.inputs.a[0][0]…[0][0]: nested deeper than 64 levels" },
  { "deep-objects",
    "{'name': 'x', 'inputs': @DEEPOBJ@}", -1, FALSE,
    "weft: @F@:1:403: $.inputs.a.a.a….a.a: nested deeper than 64 levels" },
  { "number-1e999",
    "{'name': 'x', 'inputs': {'n': 1e999}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:31: $.inputs.n: the number 1e999 is too large for a double" },
  { "number-neg-1e999",
    "{'name': 'x', 'inputs': {'n': -1e999}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:31: $.inputs.n: the number -1e999 is too large for a double" },
  { "number-2e64",
    "{'name': 'x', 'inputs': {'n': 18446744073709551616}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:31: $.inputs.n: the integer 18446744073709551616 does not fit in 64 bits" },
  { "number-12345678901234567890",
    "{'name': 'x', 'inputs': {'n': 12345678901234567890}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:31: $.inputs.n: the integer 12345678901234567890 does not fit in 64 bits" },
  { "number-leading-zero",
    "{'name': 'x', 'inputs': {'n': 007}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:32: $.inputs.n: expected ',' or '}', found '0'" },
  { "number-nan",
    "{'name': 'x', 'inputs': {'n': NaN}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:31: $.inputs.n: expected a JSON value, found 'N'" },
  { "nul-in-flow-name",
    "{'name': 'x\\u0000y', " A ", " T "}", -1, FALSE,
    "weft: @F@:1:12: $.name: \"\\u0000\" (a NUL character) is not allowed" },
  { "nul-in-task-name",
    "{'name': 'x', "
    A
    ", 'tasks': [{'name': 'a\\u0000b', 'agent': 'w', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@:1:77: $.tasks[0].name: \"\\u0000\" (a NUL character) is not allowed" },
  { "nul-in-value",
    "{'name': 'x', 'inputs': {'v': 'a\\u0000b'}, " A ", " T "}", -1, FALSE,
    "weft: @F@:1:33: $.inputs.v: \"\\u0000\" (a NUL character) is not allowed" },
  { "nul-in-key",
    "{'name': 'x', 'agents': {'w\\u0000': {'plugin': 'template'}}, " T "}", -1, FALSE,
    "weft: @F@:1:28: $.agents: \"\\u0000\" (a NUL character) is not allowed" },
  { "lone-surrogate",
    "{'name': 'x\\ud800', " A ", " T "}", -1, FALSE,
    "weft: @F@:1:12: $.name: \"\\ud800\" is half of a surrogate pair, alone" },
  { "bad-escape",
    "{'name': 'x\\q', " A ", " T "}", -1, FALSE,
    "weft: @F@:1:12: $.name: \"\\q\" is not a JSON escape" },
  { "raw-tab-in-string",
    "{'name': 'x\ty', " A ", " T "}", -1, FALSE,
    "weft: @F@:1:12: $.name: a control character (0x09) in a string: write it as an escape" },
  { "invalid-utf8",
    "{\"name\": \"x\xff\"}", 14, TRUE,
    "weft: @F@:1:12: $.name: a string that is not valid UTF-8" },
  { "nul-byte",
    "{\"name\": \"x\"}\x00", 14, TRUE,
    "weft: @F@:1:14: unexpected byte 0x00 after the JSON value" },
  { "dup-top-key",
    "{'name': 'x', 'name': 'y', " A ", " T "}", -1, FALSE,
    "weft: @F@:1:15: duplicate key \"name\" (each name may be given once)" },
  { "dup-agent-key",
    AGENT "{'plugin': 'template'}, 'w': {'plugin': 'noop'}}, " T "}", -1, FALSE,
    "weft: @F@:1:55: $.agents: duplicate key \"w\" (each name may be given once)" },
  { "dup-escaped-key",
    AGENT "{'plugin': 'template'}, '\\u0077': {'plugin': 'noop'}}, " T "}", -1, FALSE,
    "weft: @F@:1:55: $.agents: duplicate key \"w\" (each name may be given once)" },
  { "dup-option-key",
    AGENT "{'plugin': 'template', 'delay_ms': 1, 'delay_ms': 2}}, " T "}", -1, FALSE,
    "weft: @F@:1:69: $.agents.w: duplicate key \"delay_ms\" (each name may be given once)" },
  { "root-array",
    "[]", -1, FALSE,
    "weft: @F@: $: a flow must be a JSON object" },
  { "root-string",
    "'x'", -1, FALSE,
    "weft: @F@: $: a flow must be a JSON object" },
  { "root-null",
    "null", -1, FALSE,
    "weft: @F@: $: a flow must be a JSON object" },
  { "no-name",
    "{" A ", " T "}", -1, FALSE,
    "weft: @F@: $: missing \"name\"" },
  { "name-number",
    "{'name': 1, " A ", " T "}", -1, FALSE,
    "weft: @F@: $.name: must be a string" },
  { "name-empty",
    "{'name': '', " A ", " T "}", -1, FALSE,
    "weft: @F@: $.name: a name must not be empty" },
  { "name-long",
    "{'name': '@N300@', " A ", " T "}", -1, FALSE,
    "weft: @F@: $.name: a name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"… "
    "(300 bytes) is longer than 200 bytes" },
  { "name-newline",
    "{'name': 'a\\nb', " A ", " T "}", -1, FALSE,
    "weft: @F@: $.name: a name \"a\\u000ab\" holds a control character (0x0a)" },
  { "top-unknown-key",
    "{'name': 'x', 'agnets': {}, " A ", " T "}", -1, FALSE,
    "weft: @F@: $: unknown key \"agnets\" (valid: name, description, process, "
    "inputs, agents, tools, callbacks, tasks, chat, map_paths)" },
  { "process-unknown",
    "{'name': 'x', 'process': 'hierarchical', " A ", " T "}", -1, FALSE,
    "weft: @F@: $.process: must be \"graph\" or \"sequential\", not \"hierarchical\"" },
  { "process-number",
    "{'name': 'x', 'process': 1, " A ", " T "}", -1, FALSE,
    "weft: @F@: $.process: must be a string" },
  { "description-number",
    "{'name': 'x', 'description': 5, " A ", " T "}", -1, FALSE,
    "weft: @F@: $.description: must be a string" },
  { "inputs-array",
    "{'name': 'x', 'inputs': [], " A ", " T "}", -1, FALSE,
    "weft: @F@: $.inputs: must be an object" },
  { "no-tasks",
    "{'name': 'x', " A "}", -1, FALSE,
    "weft: @F@: $.tasks: missing: a flow needs tasks" },
  { "tasks-empty",
    "{'name': 'x', " A ", 'tasks': []}", -1, FALSE,
    "weft: @F@: $.tasks: must be a non-empty array of tasks" },
  { "tasks-object",
    "{'name': 'x', " A ", 'tasks': {}}", -1, FALSE,
    "weft: @F@: $.tasks: must be a non-empty array of tasks" },
  { "task-string",
    "{'name': 'x', " A ", 'tasks': ['a']}", -1, FALSE,
    "weft: @F@: $.tasks[0]: a task must be an object" },
  { "task-no-name",
    "{'name': 'x', " A ", 'tasks': [{'agent': 'w', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0]: missing \"name\"" },
  { "task-name-empty",
    "{'name': 'x', " A ", 'tasks': [{'name': '', 'agent': 'w', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].name: a name must not be empty" },
  { "task-no-agent",
    "{'name': 'x', " A ", 'tasks': [{'name': 'a', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0]: missing \"agent\"" },
  { "task-no-description",
    "{'name': 'x', " A ", 'tasks': [{'name': 'a', 'agent': 'w'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0]: missing \"description\"" },
  { "task-unknown-key",
    TASK_KEYS "'contex': []}]}", -1, FALSE,
    "weft: @F@: $.tasks[0]: unknown key \"contex\" (valid: name, agent, "
    "description, expected_output, context, async, exclude, retries, "
    "retry_delay_ms, timeout_s, callbacks)" },
  { "task-dup-name",
    "{'name': 'x', "
    A
    ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd'}, {'name': 'a', "
    "'agent': 'w', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.tasks[1]: duplicate task name \"a\" (first at $.tasks[0])" },
  { "task-unknown-agent",
    "{'name': 'x', "
    A
    ", 'tasks': [{'name': 'a', 'agent': 'nobody', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].agent: unknown agent \"nobody\" (known: w)" },
  { "context-unknown",
    TASK_KEYS "'context': ['zz']}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].context[0]: unknown task \"zz\" (known: a)" },
  { "context-string",
    TASK_KEYS "'context': 'zz'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].context: must be a string list" },
  { "context-numbers",
    TASK_KEYS "'context': [1]}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].context: must be a string list" },
  { "context-self",
    TASK_KEYS "'context': ['a']}]}", -1, FALSE,
    "weft: @F@: $.tasks: dependency cycle: a -> a (each waits for the next)" },
  { "cycle",
    TASK_KEYS "'context': ['b']}, {'name': 'b', 'agent': 'w', 'description': 'd', 'context': ['a']}]}", -1, FALSE,
    "weft: @F@: $.tasks: dependency cycle: a -> b -> a (each waits for the next)" },
  { "sequential-later-context",
    "{'name': 'x', 'process': 'sequential', "
    A
    ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'd', 'context': "
    "['b']}, {'name': 'b', 'agent': 'w', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.tasks: dependency cycle: a -> b -> a (each waits for the next)" },
  { "retries-too-many",
    TASK_KEYS "'retries': 1000}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].retries: must be between 0 and 100" },
  { "retries-negative",
    TASK_KEYS "'retries': -1}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].retries: must be between 0 and 100" },
  { "retries-fraction",
    TASK_KEYS "'retries': 1.5}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].retries: must be an int" },
  { "retries-string",
    TASK_KEYS "'retries': '3'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].retries: must be an int" },
  { "retry-delay-negative",
    TASK_KEYS "'retry_delay_ms': -5}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].retry_delay_ms: must be between 0 and 3600000" },
  { "timeout-negative",
    TASK_KEYS "'timeout_s': -1}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].timeout_s: must be more than 0 (at least 0.001) and "
    "at most a week (604800)" },
  { "timeout-zero",
    TASK_KEYS "'timeout_s': 0}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].timeout_s: must be more than 0 (at least 0.001) and "
    "at most a week (604800)" },
  { "timeout-huge",
    TASK_KEYS "'timeout_s': 1e300}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].timeout_s: must be more than 0 (at least 0.001) and "
    "at most a week (604800)" },
  { "async-string",
    TASK_KEYS "'async': 'yes'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].async: must be a bool" },
  { "exclude-number",
    TASK_KEYS "'exclude': 1}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].exclude: must be a bool" },
  { "expected-output-number",
    TASK_KEYS "'expected_output': 5}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].expected_output: must be a string" },
  { "placeholder-open",
    "{'name': 'x', "
    A
    ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'a { b'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].description: bad placeholder at offset 2: expected "
    "{name} (write \"{{\" for a literal brace)" },
  { "placeholder-close",
    "{'name': 'x', " A ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'a }'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].description: unmatched \"}\" at offset 2 (write "
    "\"}}\" for a literal brace)" },
  { "placeholder-empty",
    "{'name': 'x', "
    A
    ", 'tasks': [{'name': 'a', 'agent': 'w', 'description': 'a {} b'}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].description: bad placeholder at offset 2: expected "
    "{name} (write \"{{\" for a literal brace)" },
  { "task-callback-unknown",
    TASK_KEYS "'callbacks': ['nope']}]}", -1, FALSE,
    "weft: @F@: $.tasks[0].callbacks[0]: unknown callback \"nope\" (declare it "
    "under \"callbacks\")" },
  { "agents-array",
    "{'name': 'x', 'agents': [], " T "}", -1, FALSE,
    "weft: @F@: $.agents: must be an object" },
  { "agent-string",
    AGENT "'template'}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: must be an object with a \"plugin\" and its options" },
  { "agent-no-plugin",
    AGENT "{}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: missing \"plugin\"" },
  { "agent-key-empty",
    "{'name': 'x', 'agents': {'': {'plugin': 'template'}}, 'tasks': [{'name': "
    "'a', 'agent': '', 'description': 'd'}]}", -1, FALSE,
    "weft: @F@: $.agents: a key must not be empty" },
  { "agent-unknown-plugin",
    AGENT "{'plugin': 'nosuch'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.plugin: unknown agent plugin \"nosuch\" (loaded: "
    "exec, noop, openai, template; see `weft plugins`)" },
  { "agent-plugin-is-callback",
    AGENT "{'plugin': 'log'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.plugin: unknown agent plugin \"log\" (loaded: exec, "
    "noop, openai, template; see `weft plugins`)" },
  { "agent-unknown-option",
    AGENT "{'plugin': 'template', 'templat': 'x'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.templat: unknown option \"templat\" for plugin "
    "\"template\" (valid: template, delay_ms)" },
  { "agent-option-type",
    AGENT "{'plugin': 'template', 'delay_ms': 'x'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.delay_ms: option \"delay_ms\" of plugin \"template\" "
    "must be an int, not a string" },
  { "agent-option-negative",
    AGENT "{'plugin': 'template', 'delay_ms': -1}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: plugin template: option \"delay_ms\": must be "
    "between 0 and 2147483647, not -1" },
  { "agent-option-fraction",
    AGENT "{'plugin': 'template', 'delay_ms': 1.5}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.delay_ms: option \"delay_ms\" of plugin \"template\" "
    "must be an int, not a number" },
  { "exec-no-command",
    AGENT "{'plugin': 'exec'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: plugin \"exec\" needs option \"command\" (string "
    "list: argv of the command; with shell, one shell command line)" },
  { "exec-empty-command",
    AGENT "{'plugin': 'exec', 'command': []}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: plugin exec: option \"command\": must name a program (it is empty)" },
  { "exec-command-string",
    AGENT "{'plugin': 'exec', 'command': 'ls'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.command: option \"command\" of plugin \"exec\" must "
    "be a string list, not a string" },
  { "openai-no-model",
    AGENT "{'plugin': 'openai'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: plugin \"openai\" needs option \"model\" (string: "
    "the model's name, e.g. gpt-4o-mini)" },
  { "openai-bad-url",
    AGENT "{'plugin': 'openai', 'model': 'm', 'base_url': 'not a url'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: plugin openai: option \"base_url\": \"not a url\" is "
    "not an http:// or https:// URL" },
  { "openai-response-format-array",
    AGENT "{'plugin': 'openai', 'model': 'm', 'response_format': []}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.response_format: option \"response_format\" of plugin "
    "\"openai\" must be an object, not an array" },
  { "openai-headers-not-strings",
    AGENT "{'plugin': 'openai', 'model': 'm', 'headers': {'X': 1}}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w: plugin openai: option \"headers\": \"X\" must be a "
    "header name with a one-line string value" },
  { "tools-string",
    AGENT "{'plugin': 'template', 'tools': 'nope'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.tools: must be a string list" },
  { "tool-unknown",
    AGENT "{'plugin': 'template', 'tools': ['nope']}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.tools[0]: unknown tool \"nope\" (declare it under \"tools\")" },
  { "tool-plugin-is-agent",
    "{'name': 'x', 'tools': {'t': {'plugin': 'template'}}, 'agents': {'w': "
    "{'plugin': 'template', 'tools': ['t']}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.tools.t.plugin: unknown tool plugin \"template\" (loaded: "
    "exec, http-get; see `weft plugins`)" },
  { "http-get-no-allow",
    "{'name': 'x', 'tools': {'t': {'plugin': 'http-get'}}, 'agents': {'w': "
    "{'plugin': 'template', 'tools': ['t']}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.tools.t: plugin \"http-get\" needs option \"allow\" (string "
    "list: URL prefixes that may be fetched, e.g. "
    "[\"https://en.wikipedia.org/\"])" },
  { "http-get-unknown-option",
    "{'name': 'x', 'tools': {'t': {'plugin': 'http-get', 'allow': "
    "['https://x/'], 'nope': 1}}, 'agents': {'w': {'plugin': 'template', "
    "'tools': ['t']}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.tools.t.nope: unknown option \"nope\" for plugin \"http-get\" "
    "(valid: allow, max_bytes, timeout_s, headers, user_agent)" },
  { "callbacks-array",
    "{'name': 'x', " A ", 'callbacks': [], " T "}", -1, FALSE,
    "weft: @F@: $.callbacks: must be an object" },
  { "callback-plugin-is-agent",
    "{'name': 'x', " A ", 'callbacks': {'c': {'plugin': 'template'}}, " T "}", -1, FALSE,
    "weft: @F@: $.callbacks.c.plugin: unknown callback plugin \"template\" "
    "(loaded: exec, log, postgres, sqlite, webhook; see `weft plugins`)" },
  { "log-bad-format",
    "{'name': 'x', "
    A
    ", 'callbacks': {'c': {'plugin': 'log', 'format': 'xml'}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: callback \"c\" (plugin log): option \"format\": "
    "must be \"text\" or \"jsonl\", not \"xml\"" },
  { "log-bad-event",
    "{'name': 'x', "
    A
    ", 'callbacks': {'c': {'plugin': 'log', 'events': ['task.finished']}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: callback \"c\" (plugin log): option \"events\": "
    "unknown event type \"task.finished\" (valid: run.started, task.started, "
    "task.step, task.completed, task.failed, task.retrying, task.skipped, "
    "run.completed, run.failed, run.cancelled, run.resumed, task.cancelled, "
    "thread.created, thread.message, thread.turn_started, thread.step, "
    "thread.turn_finished, thread.task_started, thread.task_finished, thread.deleted)" },
  { "log-no-events",
    "{'name': 'x', " A ", 'callbacks': {'c': {'plugin': 'log', 'events': []}}, " T "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: callback \"c\" (plugin log): option \"events\": "
    "must name at least one event type (run.started, task.started, task.step, "
    "task.completed, task.failed, task.retrying, task.skipped, run.completed, "
    "run.failed, run.cancelled, run.resumed, task.cancelled, thread.created, "
    "thread.message, thread.turn_started, thread.step, thread.turn_finished, "
    "thread.task_started, thread.task_finished, thread.deleted)" },
  { "webhook-no-url",
    "{'name': 'x', " A ", 'callbacks': {'c': {'plugin': 'webhook'}}, " T "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: plugin \"webhook\" needs option \"url\" (string: "
    "http:// or https:// URL to POST each event to)" },
  { "webhook-ftp-url",
    "{'name': 'x', "
    A
    ", 'callbacks': {'c': {'plugin': 'webhook', 'url': 'ftp://x'}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: callback \"c\" (plugin webhook): option \"url\": "
    "must be an http:// or https:// URL with a host" },
  { "sqlite-no-dir",
    "{'name': 'x', "
    A
    ", 'callbacks': {'c': {'plugin': 'sqlite', 'path': '/nonexistent/dir/x.db'}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: callback \"c\" (plugin sqlite): "
    "/nonexistent/dir/x.db: cannot open the database: unable to open database "
    "file" },
  { "sqlite-bad-synchronous",
    "{'name': 'x', "
    A
    ", 'callbacks': {'c': {'plugin': 'sqlite', 'synchronous': 'sometimes'}}, "
    T
    "}", -1, FALSE,
    "weft: @F@: $.callbacks.c: callback \"c\" (plugin sqlite): option "
    "\"synchronous\": must be \"off\", \"normal\", \"full\" or \"extra\", not "
    "\"sometimes\"" },
  { "env-unset",
    AGENT "{'plugin': 'template', 'template': '${WEFT_NO_SUCH_VAR}'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.template: option \"template\": environment variable "
    "WEFT_NO_SUCH_VAR is not set (use ${WEFT_NO_SUCH_VAR:-default} for a default)" },
  { "env-unclosed",
    AGENT "{'plugin': 'template', 'template': '${X'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.template: option \"template\": unclosed \"${\" (write "
    "\"$$\" for a literal \"$\")" },
  { "env-empty-name",
    AGENT "{'plugin': 'template', 'template': '${}'}}, " T "}", -1, FALSE,
    "weft: @F@: $.agents.w.template: option \"template\": empty environment "
    "variable name in \"${}\"" },
};

static const WeftBadCli weft_bad_cli[] = {
  { "no-command", { NULL }, NULL,
    2, "Usage:" },
  { "unknown-command", { "nosuch" }, NULL,
    2, "weft: unknown command 'nosuch'" },
  { "unknown-top-option", { "--nope" }, NULL,
    2, "weft: unknown option '--nope'" },
  { "help-unknown-command", { "help", "nosuch" }, NULL,
    2, "weft: unknown command 'nosuch'" },
  { "run-no-flow", { "run" }, NULL,
    2, "weft: expected one FLOW file" },
  { "run-two-flows", { "run", "@G@", "@G@" }, NULL,
    2, "weft: expected one FLOW file" },
  { "run-missing-file", { "run", "@D@/nofile.json" }, NULL,
    2, "weft: @D@/nofile.json: No such file or directory" },
  { "run-directory", { "run", "@D@" }, NULL,
    2, "weft: @D@: Is a directory" },
  { "run-dev-zero", { "run", "/dev/zero" }, NULL,
    2, "weft: /dev/zero: larger than 64 MiB, the most weft reads of such a file" },
  { "run-unknown-option", { "run", "@G@", "--nope" }, NULL,
    2, "weft: Unknown option --nope" },
  { "run-input-no-value", { "run", "@G@", "--input" }, NULL,
    2, "weft: Missing argument for --input" },
  { "run-input-no-equals", { "run", "@G@", "--input", "foo" }, NULL,
    2, "weft: --input expects KEY=VALUE, not 'foo'" },
  { "run-input-empty-key", { "run", "@G@", "--input", "=x" }, NULL,
    2, "weft: --input expects KEY=VALUE, not '=x'" },
  { "run-missing-input", { "run", "@N@" }, NULL,
    2, "weft: @N@: missing input \"who\" (the flow uses it in a task's description; "
    "give it with --input who=VALUE or in \"inputs\")" },
  { "run-inputs-json-malformed", { "run", "@G@", "--inputs-json", "{" }, NULL,
    2, "weft: --inputs-json: line 1, column 2: expected a member name in double "
    "quotes, found the end of the text" },
  { "run-inputs-json-array", { "run", "@G@", "--inputs-json", "[1]" }, NULL,
    2, "weft: --inputs-json: inputs must be a JSON object" },
  { "run-inputs-json-1e999", { "run", "@G@", "--inputs-json", "{\"topic\": 1e999}" }, NULL,
    2, "weft: --inputs-json: line 1, column 11: $.topic: the number 1e999 is too "
    "large for a double" },
  { "run-inputs-json-2e64", { "run", "@G@", "--inputs-json", "{\"topic\": 18446744073709551616}" }, NULL,
    2, "weft: --inputs-json: line 1, column 11: $.topic: the integer "
    "18446744073709551616 does not fit in 64 bits" },
  { "run-inputs-json-nul", { "run", "@G@", "--inputs-json", "{\"topic\": \"a\\u0000b\"}" }, NULL,
    2, "weft: --inputs-json: line 1, column 13: $.topic: \"\\u0000\" (a NUL "
    "character) is not allowed" },
  { "run-inputs-json-dup", { "run", "@G@", "--inputs-json", "{\"topic\": \"a\", \"topic\": \"b\"}" }, NULL,
    2, "weft: --inputs-json: line 1, column 16: duplicate key \"topic\" (each name "
    "may be given once)" },
  { "run-inputs-json-deep", { "run", "@G@", "--inputs-json", "@DEEP@" }, NULL,
    2, "weft: --inputs-json: line 1, column 65: $[0][0][0][0]…[0][0]: nested deeper than 64 levels" },
  { "run-inputs-json-file-deep", { "run", "@G@", "--inputs-json", "@F@" }, "@DEEP@",
    2, "weft: --inputs-json @F@: line 1, column 65: $[0][0][0][0]…[0][0]: nested "
    "deeper than 64 levels" },
  { "run-inputs-json-missing-file", { "run", "@G@", "--inputs-json", "@D@/nofile.json" }, NULL,
    2, "weft: --inputs-json: @D@/nofile.json: No such file or directory" },
  { "run-inputs-json-dev-zero", { "run", "@G@", "--inputs-json", "/dev/zero" }, NULL,
    2, "weft: --inputs-json: /dev/zero: larger than 64 MiB, the most weft reads of such a file" },
  { "run-inputs-json-and-file", { "run", "@G@", "--inputs-json", "{}", "--inputs-file", "@F@" }, "{}\n",
    2, "weft: give --inputs-json or --inputs-file, not both" },
  { "run-inputs-file-missing", { "run", "@G@", "--inputs-file", "@D@/nofile.jsonl" }, NULL,
    2, "weft: --inputs-file: @D@/nofile.jsonl: No such file or directory" },
  { "run-inputs-file-empty", { "run", "@G@", "--inputs-file", "@F@" }, "\n\n",
    2, "weft: @F@: no inputs (one JSON object per line, one run per object)" },
  { "run-inputs-file-bad-line", { "run", "@G@", "--inputs-file", "@F@" }, "{\"topic\": \"a\"}\n{\"topic\": \n",
    2, "weft: @F@:2: each line must be one JSON object of inputs: line 1, column "
    "11: $.topic: expected a JSON value, found the end of the text" },
  { "run-inputs-file-array-line", { "run", "@G@", "--inputs-file", "@F@" }, "[1]\n",
    2, "weft: @F@:1: each line must be one JSON object of inputs" },
  { "run-inputs-file-deep-line", { "run", "@G@", "--inputs-file", "@F@" }, "@DEEP@\n",
    2, "weft: @F@:1: each line must be one JSON object of inputs: line 1, column "
    "65: $[0][0][0][0]…[0][0]: nested deeper than 64 levels" },
  { "run-inputs-file-1e999", { "run", "@G@", "--inputs-file", "@F@" }, "{\"topic\": 1e999}\n",
    2, "weft: @F@:1: each line must be one JSON object of inputs: line 1, column "
    "11: $.topic: the number 1e999 is too large for a double" },
  { "run-inputs-file-nul-byte", { "run", "@G@", "--inputs-file", "@F@" }, "{\"topic\": \"a\"}\n@NUL@{\"topic\": \"b\"}\n",
    2, "weft: @F@: a NUL byte at offset 15 (not a JSON Lines file)" },
  { "run-inputs-file-missing-input", { "run", "@N@", "--inputs-file", "@F@" }, "{\"other\": \"a\"}\n",
    2, "weft: @F@:1: @N@: missing input \"who\" (the flow uses it in a task's "
    "description; give it with --input who=VALUE or in \"inputs\")" },
  { "run-inputs-file-dev-zero", { "run", "@G@", "--inputs-file", "/dev/zero" }, NULL,
    2, "weft: --inputs-file: /dev/zero: larger than 1024 MiB, the most weft reads of such a file" },
  { "run-threads-negative", { "run", "@G@", "--threads", "-1" }, NULL,
    2, "weft: --threads must be from 0 to 1024, not -1" },
  { "run-threads-huge", { "run", "@G@", "--threads", "100000000" }, NULL,
    2, "weft: --threads must be from 0 to 1024, not 100000000" },
  { "run-threads-word", { "run", "@G@", "--threads", "abc" }, NULL,
    2, "weft: Cannot parse integer value “abc” for --threads" },
  { "run-threads-overflow", { "run", "@G@", "--threads", "99999999999999999999" }, NULL,
    2, "weft: Integer value “99999999999999999999” for --threads out of range" },
  { "run-max-parallel-zero", { "run", "@G@", "--inputs-file", "@F@", "--max-parallel", "0" }, "{\"topic\": \"a\"}\n",
    2, "weft: --max-parallel must be from 1 to 2147483647, not 0" },
  { "run-max-parallel-negative", { "run", "@G@", "--inputs-file", "@F@", "--max-parallel", "-3" }, "{\"topic\": \"a\"}\n",
    2, "weft: --max-parallel must be from 1 to 2147483647, not -3" },
  { "run-max-parallel-alone", { "run", "@G@", "--max-parallel", "2" }, NULL,
    2, "weft: --max-parallel goes with --inputs-file" },
  { "run-callback-unknown", { "run", "@G@", "--callback", "nosuch" }, NULL,
    2, "weft: --callback nosuch: no callback plugin named \"nosuch\" is loaded (see "
    "`weft plugins`)" },
  { "run-callback-empty", { "run", "@G@", "--callback", "" }, NULL,
    2, "weft: --callback : expected PLUGIN[:KEY=VALUE,...]" },
  { "run-callback-bad-option", { "run", "@G@", "--callback", "log:nope=1" }, NULL,
    2, "weft: --callback log:nope=1: unknown option \"nope\" for plugin \"log\" "
    "(valid: format, path, events, max_output)" },
  { "run-callback-bad-value", { "run", "@G@", "--callback", "log:format=xml" }, NULL,
    2, "weft: --callback log:format=xml: callback \"log\" (plugin log): option "
    "\"format\": must be \"text\" or \"jsonl\", not \"xml\"" },
  { "run-callback-bad-int", { "run", "@G@", "--callback", "log:max_output=many" }, NULL,
    2, "weft: --callback log:max_output=many: option 'max_output' must be an integer, not 'many'" },
  { "run-callback-no-equals", { "run", "@G@", "--callback", "log:format" }, NULL,
    2, "weft: --callback log:format: expected KEY=VALUE, not 'format'" },
  { "run-callback-agent-plugin", { "run", "@G@", "--callback", "template" }, NULL,
    2, "weft: --callback template: no callback plugin named \"template\" is loaded "
    "(see `weft plugins`)" },
  { "run-bad-flow", { "run", "@F@" }, "{\"name\": \"x\"}",
    2, "weft: @F@: $.tasks: missing: a flow needs tasks" },
  { "validate-nothing", { "validate" }, NULL,
    2, "weft: expected a FLOW file" },
  { "validate-missing", { "validate", "@D@/nofile.json" }, NULL,
    2, "weft: @D@/nofile.json: No such file or directory" },
  { "validate-directory", { "validate", "@D@" }, NULL,
    2, "weft: @D@: Is a directory" },
  { "validate-dev-zero", { "validate", "/dev/zero" }, NULL,
    2, "weft: /dev/zero: larger than 64 MiB, the most weft reads of such a file" },
  { "validate-deep", { "validate", "@F@" }, "@DEEP@",
    2, "weft: @F@:1:65: $[0][0][0][0]…[0][0]: nested deeper than 64 levels" },
  { "validate-one-bad-of-two", { "validate", "@G@", "@F@" }, "{\"name\": 1}",
    2, "weft: @F@: $.name: must be a string" },
  { "graph-nothing", { "graph" }, NULL,
    2, "weft: expected one FLOW file" },
  { "graph-format", { "graph", "@G@", "-T", "gif" }, NULL,
    2, "weft: unknown format 'gif' (known: dot, mermaid, svg, png)" },
  { "graph-missing", { "graph", "@D@/nofile.json" }, NULL,
    2, "weft: @D@/nofile.json: No such file or directory" },
  { "plugins-unknown", { "plugins", "nosuch" }, NULL,
    2, "weft: no plugin named 'nosuch' (known: exec, noop, openai, template, "
    "http-get, log, postgres, sqlite, webhook)" },
  { "plugins-two", { "plugins", "log", "exec" }, NULL,
    2, "weft: expected at most one plugin NAME" },
  { "plugin-dir-missing", { "plugins", "--plugin-dir", "@D@/nodir" }, NULL,
    2, "weft: @D@/nodir: plugin directory does not exist" },
  { "runs-unknown-subcommand", { "runs", "frob" }, NULL,
    2, "weft: unknown 'runs' command 'frob' (list, show, delete, prune)" },
  { "runs-show-nothing", { "runs", "show" }, NULL,
    2, "weft: expected one RUN id" },
  { "runs-show-unknown-store", { "runs", "show", "x", "--store", "nosuch:path=x" }, NULL,
    2, "weft: --store nosuch:path=x: no store plugin named \"nosuch\" is loaded (a "
    "store is a callback plugin that can read runs back, like sqlite)" },
  { "runs-list-missing-db", { "runs", "list", "--store", "sqlite:path=@D@/none.db" }, NULL,
    2, "weft: --store sqlite:path=@D@/none.db: @D@/none.db: no such database (no "
    "run has been stored there)" },
  { "runs-list-store-not-sqlite", { "runs", "list", "--store", "sqlite:path=@F@" }, "this is not a database, just text long enough to look like a header of one",
    2, "weft: --store sqlite:path=@F@: @F@: setting WAL mode: file is not a database" },
  { "runs-list-limit-negative", { "runs", "list", "--limit", "-1", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: --limit must be from 0 to 2147483647, not -1" },
  { "runs-show-unknown-run", { "runs", "show", "no-such-run", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: @S@: no run \"no-such-run\" is stored" },
  { "runs-show-long-id", { "runs", "show", "@X5000@", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: no run \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"… (5000 bytes): not a run id" },
  { "runs-delete-unknown", { "runs", "delete", "no-such-run", "--store", "sqlite:path=@S@" }, NULL,
    1, "weft: @S@: no run \"no-such-run\" is stored" },
  { "runs-prune-nothing", { "runs", "prune", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: give --older-than AGE, --keep N or both (--keep 0 deletes every ended run)" },
  { "runs-prune-bad-age", { "runs", "prune", "--older-than", "soon", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: --older-than 'soon': expected a number with s, m, h or d (30d)" },
  { "runs-prune-keep-negative", { "runs", "prune", "--keep", "-2", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: --keep must be from 0 to 2147483647, not -2" },
  { "replay-nothing", { "replay" }, NULL,
    2, "weft: expected one RUN id" },
  { "replay-no-from", { "replay", "no-such-run", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: --from TASK is required: the task to run again" },
  { "replay-unknown-run", { "replay", "no-such-run", "--from", "a", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: @S@: no run \"no-such-run\" is stored" },
  { "replay-threads-huge", { "replay", "x", "--from", "a", "--threads", "5000", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: --threads must be from 0 to 1024, not 5000" },
  { "resume-nothing", { "resume" }, NULL,
    2, "weft: expected one RUN id" },
  { "resume-threads-negative", { "resume", "x", "--threads", "-1", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: --threads must be from 0 to 1024, not -1" },
  { "resume-id-newline", { "resume", "a\nb", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: no run \"a\\u000ab\": not a run id" },
  { "resume-unknown-run", { "resume", "no-such-run", "--store", "sqlite:path=@S@" }, NULL,
    2, "weft: @S@: no run \"no-such-run\" is stored" },
  { "serve-no-flows", { "serve" }, NULL,
    2, "weft: --flows DIR is required" },
  { "serve-flows-missing", { "serve", "--flows", "@D@/nodir" }, NULL,
    2, "weft: --flows: Error opening directory “@D@/nodir”: No such file or directory" },
  { "serve-flows-empty", { "serve", "--flows", "@E@" }, NULL,
    2, "weft: --flows @E@: no flow files (*.json, *.yaml) in it" },
  { "serve-bad-flow", { "serve", "--flows", "@B@" }, NULL,
    2, "weft: @B@/b.json: $.name: must be a string" },
  { "serve-port-too-big", { "serve", "--flows", "@GD@", "--listen", "127.0.0.1:99999" }, NULL,
    2, "weft: listen address \"127.0.0.1:99999\": the port must be a number from 0 "
    "to 65535, not \"99999\"" },
  { "serve-host-not-ip", { "serve", "--flows", "@GD@", "--listen", "example.com:8080" }, NULL,
    2, "weft: listen address \"example.com:8080\": \"example.com\" is not an IP "
    "address (or localhost)" },
  { "serve-public-no-token", { "serve", "--flows", "@GD@", "--listen", "0.0.0.0:0" }, NULL,
    2, "weft: refusing to listen on 0.0.0.0:0 without a token: anyone who can reach "
    "it could run flows (give --token or WEFT_TOKEN, or listen on 127.0.0.1)" },
  { "serve-max-body-zero", { "serve", "--flows", "@GD@", "--max-body", "0" }, NULL,
    2, "weft: --max-body must be from 1 to 1073741824, not 0" },
  { "serve-max-body-negative", { "serve", "--flows", "@GD@", "--max-body", "-1" }, NULL,
    2, "weft: --max-body must be from 1 to 1073741824, not -1" },
  { "serve-keep-runs-zero", { "serve", "--flows", "@GD@", "--keep-runs", "0" }, NULL,
    2, "weft: --keep-runs must be from 1 to 1000000, not 0" },
  { "serve-threads-huge", { "serve", "--flows", "@GD@", "--threads", "100000000" }, NULL,
    2, "weft: --threads must be from 1 to 1024, not 100000000" },
};

typedef struct {
  const char *name;
  gboolean token;             /* to the server that needs "Bearer s3cret" */
  const char *request;        /* the bytes sent, placeholders expanded */
  guint status;
  const char *message;        /* the JSON body's "error", exactly */
} WeftBadHttp;

static const WeftBadHttp weft_bad_http[] = {
  { "no-such-path", FALSE,
    "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no such endpoint: GET /nope (see docs/http-api.md)" },
  { "no-such-path-v1", FALSE,
    "GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no such endpoint: GET /v1/nope (see docs/http-api.md)" },
  { "method-not-allowed", FALSE,
    "DELETE /v1/flows HTTP/1.1\r\nHost: x\r\n\r\n",
    405, "method DELETE is not allowed on /v1/flows (allowed: GET)" },
  { "put-run", FALSE,
    "PUT /v1/runs/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    405, "method PUT is not allowed on /v1/runs/x (allowed: GET)" },
  { "unknown-flow-get", FALSE,
    "GET /v1/flows/nope HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no flow named \"nope\" (flows: echo)" },
  { "unknown-flow-kickoff", FALSE,
    "POST /v1/flows/nope/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{}",
    404, "no flow named \"nope\" (flows: echo)" },
  { "kickoff-malformed", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{",
    400, "malformed JSON in the body: line 1, column 2: expected a member name in "
    "double quotes, found the end of the text" },
  { "kickoff-trailing", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{} {}",
    400, "malformed JSON in the body: line 1, column 4: unexpected '{' after the JSON value" },
  { "kickoff-deep", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n@DEEP@",
    400, "malformed JSON in the body: line 1, column 65: $[0][0][0][0]…[0][0]: nested "
    "deeper than 64 levels" },
  { "kickoff-1e999", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": {\"who\": "
    "1e999}}",
    400, "malformed JSON in the body: line 1, column 20: $.inputs.who: the number "
    "1e999 is too large for a double" },
  { "kickoff-2e64", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": {\"who\": "
    "18446744073709551616}}",
    400, "malformed JSON in the body: line 1, column 20: $.inputs.who: the integer "
    "18446744073709551616 does not fit in 64 bits" },
  { "kickoff-nul", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": {\"who\": "
    "\"a\\u0000b\"}}",
    400, "malformed JSON in the body: line 1, column 22: $.inputs.who: \"\\u0000\" (a "
    "NUL character) is not allowed" },
  { "kickoff-dup", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": {\"who\": "
    "\"a\"}, \"inputs\": {\"who\": \"b\"}}",
    400, "malformed JSON in the body: line 1, column 26: duplicate key \"inputs\" "
    "(each name may be given once)" },
  { "kickoff-array", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n[]",
    400, "the body must be a JSON object, not an array" },
  { "kickoff-string", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n\"who\"",
    400, "the body must be a JSON object, not a string" },
  { "kickoff-unknown-member", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"input\": {}}",
    400, "unknown member \"input\" in the body (known: inputs)" },
  { "kickoff-inputs-array", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": []}",
    400, "\"inputs\" must be a JSON object of input names to values, not an array" },
  { "kickoff-missing-input", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": {}}",
    400, "\"inputs\": missing input \"who\" (flow \"echo\" needs: who)" },
  { "kickoff-invalid-utf8", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": {\"who\": "
    "\"@FF@\"}}",
    400, "malformed JSON in the body: line 1, column 21: $.inputs.who: a string that "
    "is not valid UTF-8" },
  { "kickoff-long-flow-name", FALSE,
    "POST /v1/flows/@X5000@/runs HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{}",
    404, "no flow named \"@X63@…(5002 characters)…xxxxxxx\" (flows: echo)" },
  { "batch-not-array", FALSE,
    "POST /v1/flows/echo/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": \"x\"}",
    400, "\"inputs\" must be an array of 1 to 10000 input objects, one per run" },
  { "batch-empty", FALSE,
    "POST /v1/flows/echo/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": []}",
    400, "\"inputs\" must be an array of 1 to 10000 input objects, one per run" },
  { "batch-item-not-object", FALSE,
    "POST /v1/flows/echo/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": [1]}",
    400, "\"inputs\"[0] must be a JSON object of input names to values, not an integer" },
  { "batch-missing-input", FALSE,
    "POST /v1/flows/echo/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": [{\"who\": "
    "\"a\"}, {}]}",
    400, "\"inputs\"[1]: missing input \"who\" (flow \"echo\" needs: who)" },
  { "batch-max-parallel-zero", FALSE,
    "POST /v1/flows/echo/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": [{\"who\": "
    "\"a\"}], \"max_parallel\": 0}",
    400, "\"max_parallel\" must be an integer from 1 to 2147483647" },
  { "batch-max-parallel-string", FALSE,
    "POST /v1/flows/echo/batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"inputs\": [{\"who\": "
    "\"a\"}], \"max_parallel\": \"2\"}",
    400, "\"max_parallel\" must be an integer from 1 to 2147483647" },
  { "run-unknown", FALSE,
    "GET /v1/runs/no-such-run HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no run \"no-such-run\" (finished runs are kept 3600 s, 1000 at most, and no "
    "store is configured)" },
  { "run-long-id", FALSE,
    "GET /v1/runs/@X5000@ HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no run \"@X63@…(5002 characters)…xxxxxxx\" (finished runs are kept 3600 s, "
    "1000 at most, and no store is configured)" },
  { "run-id-not-utf8", FALSE,
    "GET /v1/runs/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no run \"��\" (finished runs are kept 3600 s, 1000 at most, and no store is configured)" },
  { "run-id-nul", FALSE,
    "GET /v1/runs/a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
    400, "the path /v1/runs/a%00b does not decode: it has %00 or an escape that is not %XX" },
  { "run-cancel-unknown", FALSE,
    "POST /v1/runs/no-such-run/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    404, "no run \"no-such-run\" in memory" },
  { "events-unknown", FALSE,
    "GET /v1/runs/no-such-run/events HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no run \"no-such-run\" in memory: events are kept while a run is (finished "
    "runs: 3600 s, 1000 at most)" },
  { "runs-bad-limit", FALSE,
    "GET /v1/runs?limit=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
    400, "limit must be a number from 1 to 1000, not \"-1\"" },
  { "runs-bad-status", FALSE,
    "GET /v1/runs?status=bogus HTTP/1.1\r\nHost: x\r\n\r\n",
    400, "status must be one of pending, queued, running, completed, failed, cancelled, not \"bogus\"" },
  { "task-unknown", FALSE,
    "GET /v1/tasks/no-such-task HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no task \"no-such-task\" (finished tasks are kept for 3600 s, 1000 at most)" },
  { "task-cancel-unknown", FALSE,
    "POST /v1/tasks/no-such-task/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    404, "no task \"no-such-task\" (finished tasks are kept for 3600 s, 1000 at most)" },
  { "task-no-agent", FALSE,
    "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"flow\": \"echo\", "
    "\"prompt\": \"hi\"}",
    400, "missing \"agent\" (a string)" },
  { "task-unknown-agent", FALSE,
    "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"flow\": \"echo\", "
    "\"agent\": \"nobody\", \"prompt\": \"hi\"}",
    404, "flow \"echo\" has no agent \"nobody\" (agents: say)" },
  { "task-prompt-number", FALSE,
    "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"flow\": \"echo\", "
    "\"agent\": \"say\", \"prompt\": 5}",
    400, "\"prompt\" must be a string" },
  { "task-unknown-flow", FALSE,
    "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: "
    "application/json\r\nContent-Length: @LEN@\r\n\r\n{\"flow\": \"nope\", "
    "\"agent\": \"say\", \"prompt\": \"hi\"}",
    404, "no flow named \"nope\" (flows: echo)" },
  { "options-star", FALSE,
    "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no such endpoint: OPTIONS * (see docs/http-api.md)" },
  { "url-too-long", FALSE,
    "GET /v1/runs/@X20000@ HTTP/1.1\r\nHost: x\r\n\r\n",
    414, "the URL is longer than 8192 bytes" },
  { "header-too-long", FALSE,
    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: @X40000@\r\n\r\n",
    431, "the request head (request line and headers) is larger than 32768 bytes" },
  { "head-beyond-libsoup", FALSE,
    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: @X70000@\r\n\r\n",
    431, "the request head (request line and headers) is larger than 32768 bytes" },
  { "body-too-large-declared", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n{}",
    413, "the request body is larger than 1048576 bytes" },
  { "content-length-word", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    400, "Content-Length \"abc\" is not a number of bytes" },
  { "content-length-twice", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: "
    "2\r\nContent-Length: 3\r\n\r\n{}",
    400, "two different Content-Length headers (\"2\" and \"3\")" },
  { "chunked-bad-size", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
    "chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    400, "malformed chunked body: a chunk must start with its size in hexadecimal" },
  { "chunked-no-crlf", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
    "chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    400, "malformed chunked body: a chunk's data must end with CRLF" },
  { "chunked-over-limit", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
    "chunked\r\n\r\n10000000\r\n@X5000@",
    413, "the request body is larger than 1048576 bytes" },
  { "chunked-and-length", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
    "chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    400, "a request must not have both Content-Length and Transfer-Encoding" },
  { "transfer-encoding-gzip", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
    501, "unsupported transfer coding \"gzip\" (weft reads \"chunked\" only)" },
  { "garbage-request-line", FALSE,
    "HELLO\r\n\r\n",
    400, "malformed request line \"HELLO\": expected METHOD TARGET HTTP/1.1, as in "
    "\"GET /healthz HTTP/1.1\"" },
  { "http-2-request-line", FALSE,
    "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
    505, "HTTP/2.0 is not supported: weft speaks HTTP/1.1 and HTTP/1.0" },
  { "no-host-1-1", FALSE,
    "GET /healthz HTTP/1.1\r\n\r\n",
    400, "an HTTP/1.1 request needs a Host header" },
  { "header-no-colon", FALSE,
    "GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n",
    400, "malformed header line \"Broken header\": no colon" },
  { "events-unknown-run-before-last-id", FALSE,
    "GET /v1/runs/no-such-run/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: abc\r\n\r\n",
    404, "no run \"no-such-run\" in memory: events are kept while a run is (finished "
    "runs: 3600 s, 1000 at most)" },
  { "token-missing", TRUE,
    "GET /v1/flows HTTP/1.1\r\nHost: x\r\n\r\n",
    401, "this server needs \"Authorization: Bearer TOKEN\"" },
  { "token-wrong", TRUE,
    "GET /v1/flows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n",
    401, "the bearer token is wrong" },
  { "token-basic", TRUE,
    "GET /v1/flows HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n",
    401, "the bearer token is wrong" },
  { "token-missing-big-body", TRUE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n{}",
    401, "this server needs \"Authorization: Bearer TOKEN\"" },
  { "token-wrong-unknown-path", TRUE,
    "GET /nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n",
    401, "the bearer token is wrong" },
};

/* ---- the test's world ------------------------------------------------------- */

typedef struct {
  char *dir;
  char *weft;
  char *plugins;
  GPtrArray *names;           /* placeholder, value, placeholder, value, ... */
} WeftBadWorld;

static WeftBadWorld world;

static char *
world_path (const char *name)
{
  return g_build_filename (world.dir, name, NULL);
}

static void
world_write (const char *path, const char *text, gssize length)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, length, &error);
  g_assert_no_error (error);
}

static void
world_add (const char *placeholder, char *value)
{
  g_ptr_array_add (world.names, g_strdup (placeholder));
  g_ptr_array_add (world.names, value);
}

/* `text` with every placeholder expanded; `file` is @F@. */
static char *
world_expand (const char *text, const char *file)
{
  g_autoptr(GString) out = g_string_new (text);
  g_autofree char *deep = g_strnfill (100000, '[');
  g_autoptr(GString) deep_objects = g_string_new (NULL);

  for (guint i = 0; i < 70; i++)
    g_string_append (deep_objects, "{\"a\": ");
  g_string_append_c (deep_objects, '1');
  for (guint i = 0; i < 70; i++)
    g_string_append_c (deep_objects, '}');
  g_string_replace (out, "@DEEPOBJ@", deep_objects->str, 0);
  g_string_replace (out, "@DEEP@", deep, 0);
  /* @X5000@: 5,000 "x". */
  for (char *at; (at = strstr (out->str, "@X")) && g_ascii_isdigit (at[2]); )
    {
      char *end = NULL;
      guint64 n = g_ascii_strtoull (at + 2, &end, 10);
      g_assert_true (*end == '@');
      gsize pos = at - out->str;
      g_string_erase (out, (gssize) pos, end + 1 - at);
      g_autofree char *xs = g_strnfill (n, 'x');
      g_string_insert (out, (gssize) pos, xs);
    }
  g_autofree char *n300 = g_strnfill (300, 'n');
  g_string_replace (out, "@N300@", n300, 0);
  if (file)
    g_string_replace (out, "@F@", file, 0);
  /* Longest first: @GD@ before @G@. */
  for (guint i = 0; i < world.names->len; i += 2)
    g_string_replace (out, world.names->pdata[i], world.names->pdata[i + 1], 0);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
world_set_up (void)
{
  g_autoptr(GError) error = NULL;
  const char *build = g_getenv ("WEFT_BUILD_ROOT");
  const char *source = g_getenv ("WEFT_SOURCE_ROOT");

  world.dir = g_dir_make_tmp ("weft-bad-inputs-XXXXXX", &error);
  g_assert_no_error (error);
  world.weft = g_build_filename (build, "cli", "weft", NULL);
  world.plugins = g_build_filename (build, "plugins", NULL);
  world.names = g_ptr_array_new_with_free_func (g_free);

  g_autofree char *blog_path = g_build_filename (source, "examples", "blog.json", NULL);
  g_autofree char *blog = NULL;
  g_assert_true (g_file_get_contents (blog_path, &blog, NULL, &error));
  g_autofree char *good_dir = world_path ("gooddir");
  g_autofree char *bad_dir = world_path ("baddir");
  g_autofree char *empty_dir = world_path ("emptydir");
  g_assert_cmpint (g_mkdir (good_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (bad_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (empty_dir, 0700), ==, 0);
  g_autofree char *good_in_dir = g_build_filename (good_dir, "blog.json", NULL);
  g_autofree char *bad_in_dir = g_build_filename (bad_dir, "b.json", NULL);
  world_write (good_in_dir, blog, -1);
  world_write (bad_in_dir, "{\"name\": 1}", -1);
  char *good = world_path ("good.json");
  world_write (good, blog, -1);
  char *needs = world_path ("needs.json");
  world_write (needs, "{\"name\": \"needs\", \"agents\": {\"w\": {\"plugin\": \"template\"}},"
                      " \"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": "
                      "\"hi {who}\"}]}", -1);

  /* A store with one run in it. */
  char *store = world_path ("s.db");
  g_autofree char *stored_flow = world_path ("stored.json");
  g_autofree char *stored = g_strdup_printf (
    "{\"name\": \"stored\", \"agents\": {\"w\": {\"plugin\": \"template\"}},"
    " \"callbacks\": {\"s\": {\"plugin\": \"sqlite\", \"path\": \"%s\"}},"
    " \"tasks\": [{\"name\": \"a\", \"agent\": \"w\", \"description\": \"d\"}]}", store);
  world_write (stored_flow, stored, -1);
  const char *argv[] = { world.weft, "run", stored_flow, "--plugin-dir", world.plugins,
                         "--quiet", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_assert_cmpint (weft_test_run_command (argv, &out, &err), ==, 0);

  world_add ("@GD@", g_steal_pointer (&good_dir));
  world_add ("@G@", good);
  world_add ("@N@", needs);
  world_add ("@E@", g_steal_pointer (&empty_dir));
  world_add ("@B@", g_steal_pointer (&bad_dir));
  world_add ("@S@", store);
  world_add ("@D@", g_strdup (world.dir));
}

static void
world_remove (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d && (name = g_dir_read_name (d)))
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          world_remove (child);
        }
      g_assert_cmpint (g_rmdir (path), ==, 0);
    }
  else
    g_assert_cmpint (g_remove (path), ==, 0);
}

static void
world_tear_down (void)
{
  world_remove (world.dir);
  g_free (world.dir);
  g_free (world.weft);
  g_free (world.plugins);
  g_ptr_array_unref (world.names);
}

/* ---- running weft ----------------------------------------------------------- */

typedef struct {
  int status;
  char *err;
} WeftBadResult;

static void
weft_bad_result_clear (WeftBadResult *r)
{
  g_free (r->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WeftBadResult, weft_bad_result_clear)

typedef struct {
  GMainLoop *loop;
  GBytes *err;
  GError *error;
} WeftBadWait;

static void
weft_bad_communicated (GObject *source, GAsyncResult *result, gpointer data)
{
  WeftBadWait *w = data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result, NULL, &w->err, &w->error);
  g_main_loop_quit (w->loop);
}

static gboolean
weft_bad_timed_out (gpointer data)
{
  g_subprocess_force_exit (data);
  return G_SOURCE_REMOVE;
}

/* Runs weft with `args` (after "weft"), plugins from the build tree; a
 * command that accepts its arguments and goes on (a server) is killed
 * after 30 s, which fails the case. */
static void
weft_bad_run (const char * const *args, WeftBadResult *result)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) context = g_main_context_new ();
  WeftBadWait w = { g_main_loop_new (context, FALSE), NULL, NULL };

  g_main_context_push_thread_default (context);
  g_ptr_array_add (argv, world.weft);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_setenv (launcher, "WEFT_PLUGIN_PATH", world.plugins, TRUE);
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv (launcher,
                                                              (const char * const *) argv->pdata,
                                                              &error);
  g_assert_no_error (error);
  g_autoptr(GSource) timer = g_timeout_source_new_seconds (30);
  g_source_set_callback (timer, weft_bad_timed_out, proc, NULL);
  g_source_attach (timer, context);
  g_subprocess_communicate_async (proc, NULL, NULL, weft_bad_communicated, &w);
  g_main_loop_run (w.loop);
  g_source_destroy (timer);
  g_assert_no_error (w.error);
  g_subprocess_wait (proc, NULL, NULL);
  g_main_context_pop_thread_default (context);
  g_main_loop_unref (w.loop);
  result->status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc)
                                                     : 128 + g_subprocess_get_term_sig (proc);
  result->err = g_strndup (g_bytes_get_data (w.err, NULL), g_bytes_get_size (w.err));
  g_bytes_unref (w.err);
}

/* The first line of stderr must be `want`, exactly. */
static void
weft_bad_assert_message (const WeftBadResult *r, const char *want)
{
  const char *end = strchr (r->err, '\n');
  g_autofree char *first = end ? g_strndup (r->err, end - r->err) : g_strdup (r->err);

  if (!g_str_equal (first, want))
    g_error ("stderr's first line:\n  want: %s\n  got:  %s\n(all of stderr:\n%.2000s)", want,
             first, r->err);
}

/* ---- the cases -------------------------------------------------------------- */

static void
test_bad_flow (gconstpointer data)
{
  const WeftBadFlow *c = data;
  g_autofree char *file = g_strdup_printf ("%s/%s.json", world.dir, c->name);

  if (c->raw)
    world_write (file, c->text, c->length);
  else
    {
      g_autofree char *text = world_expand (c->text, file);
      world_write (file, g_strdelimit (text, "'", '"'), -1);
    }
  const char *args[] = { "validate", file, NULL };
  g_auto(WeftBadResult) r = { 0 };
  weft_bad_run (args, &r);
  g_autofree char *want = world_expand (c->message, file);
  g_assert_cmpint (r.status, ==, 2);
  weft_bad_assert_message (&r, want);
  g_assert_cmpint (g_remove (file), ==, 0);
}

static void
test_bad_cli (gconstpointer data)
{
  const WeftBadCli *c = data;
  g_autofree char *file = g_strdup_printf ("%s/%s.txt", world.dir, c->name);
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  if (c->file)
    {
      g_autofree char *text = world_expand (c->file, file);
      g_auto(GStrv) pieces = g_strsplit (text, "@NUL@", -1);
      g_autoptr(GString) bytes = g_string_new (pieces[0]);
      for (guint i = 1; pieces[i]; i++)
        {
          g_string_append_c (bytes, '\0');
          g_string_append (bytes, pieces[i]);
        }
      world_write (file, bytes->str, (gssize) bytes->len);
    }
  for (guint i = 0; c->argv[i]; i++)
    g_ptr_array_add (args, world_expand (c->argv[i], file));
  g_ptr_array_add (args, NULL);
  g_auto(WeftBadResult) r = { 0 };
  weft_bad_run ((const char * const *) args->pdata, &r);
  g_autofree char *want = world_expand (c->message, file);
  g_assert_cmpint (r.status, ==, c->status);
  weft_bad_assert_message (&r, want);
  if (c->file)
    g_assert_cmpint (g_remove (file), ==, 0);
}

/* ---- requests --------------------------------------------------------------- */

/* The two servers the requests go to, one engine: the second needs the
 * token "s3cret". */
typedef struct {
  WeftEngine *engine;
  WeftServer *open;
  WeftServer *guarded;
} WeftBadServers;

static WeftBadServers servers;

static const char weft_bad_echo_flow[] =
  "{\"name\": \"echo\", \"agents\": {\"say\": {\"plugin\": \"template\", \"template\": "
  "\"{description}\"}}, \"tasks\": [{\"name\": \"first\", \"agent\": \"say\", "
  "\"description\": \"hello {who}\"}]}";

static WeftServer *
servers_start (const char *token)
{
  WeftServerOptions options = { .token = token };
  WeftServer *server = weft_server_new (servers.engine, &options);
  g_autoptr(WeftFlow) flow = weft_test_flow (servers.engine, weft_bad_echo_flow);
  g_autoptr(GError) error = NULL;

  g_assert_true (weft_server_add_flow (server, flow, &error));
  g_assert_true (weft_server_listen (server, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  return server;
}

static void
servers_set_up (void)
{
  servers.engine = weft_test_engine_new (2);
  servers.open = servers_start (NULL);
  servers.guarded = servers_start ("s3cret");
}

static void
servers_tear_down (void)
{
  weft_server_stop (servers.open, 1000);
  weft_server_stop (servers.guarded, 1000);
  g_clear_pointer (&servers.open, weft_server_free);
  g_clear_pointer (&servers.guarded, weft_server_free);
  g_clear_pointer (&servers.engine, weft_engine_unref);
}

/* The request's bytes: placeholders expanded, @FF@ a 0xff byte, @LEN@
 * the length of the body (what follows the blank line). */
static GBytes *
weft_bad_request_bytes (const char *raw)
{
  g_autofree char *text = world_expand (raw, NULL);
  g_autoptr(GString) bytes = g_string_new (text);
  g_string_replace (bytes, "@FF@", "\xff", 0);
  const char *blank = strstr (bytes->str, "\r\n\r\n");
  g_autofree char *length = g_strdup_printf ("%" G_GSIZE_FORMAT,
                                             blank ? bytes->len - (blank + 4 - bytes->str) : 0);
  g_string_replace (bytes, "@LEN@", length, 1);
  return g_string_free_to_bytes (g_steal_pointer (&bytes));
}

/* Reads one response: its head, then as much body as Content-Length says,
 * or until the server closes. */
static GString *
weft_bad_read_response (GSocket *socket)
{
  GString *in = g_string_new (NULL);
  char buffer[65536];

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);
      if (n <= 0)
        break;
      g_string_append_len (in, buffer, n);
      const char *blank = strstr (in->str, "\r\n\r\n");
      if (blank == NULL)
        continue;
      g_autofree char *head = g_ascii_strdown (in->str, blank - in->str);
      const char *length = strstr (head, "\r\ncontent-length:");
      if (length && in->len - (gsize) (blank + 4 - in->str)
                      >= g_ascii_strtoull (length + strlen ("\r\ncontent-length:"), NULL, 10))
        break;
    }
  return in;
}

static void
test_bad_http (gconstpointer data)
{
  const WeftBadHttp *c = data;
  WeftServer *server = c->token ? servers.guarded : servers.open;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection =
    g_socket_client_connect_to_host (client, "127.0.0.1", weft_server_get_port (server), NULL,
                                     &error);
  g_assert_no_error (error);
  GSocket *socket = g_socket_connection_get_socket (connection);
  g_socket_set_timeout (socket, 30);
  g_autoptr(GBytes) request = weft_bad_request_bytes (c->request);
  gsize size = 0;
  const char *bytes = g_bytes_get_data (request, &size);
  /* A server that answers from the head may close before all is sent. */
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), bytes,
                             size, NULL, NULL, NULL);
  g_autoptr(GString) response = weft_bad_read_response (socket);

  guint status = 0;
  if (sscanf (response->str, "HTTP/1.%*1[01] %u", &status) != 1)
    g_error ("no status line in \"%.200s\"", response->str);
  g_assert_cmpuint (status, ==, c->status);
  const char *body = strstr (response->str, "\r\n\r\n");
  g_assert_nonnull (body);
  g_autoptr(JsonNode) node = json_from_string (body + 4, &error);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    g_error ("the body is not weft's JSON error: \"%.300s\"", body + 4);
  JsonObject *o = json_node_get_object (node);
  g_assert_cmpint (json_object_get_int_member (o, "status"), ==, c->status);
  g_autofree char *want = world_expand (c->message, NULL);
  const char *got = json_object_get_string_member (o, "error");
  if (!g_str_equal (got, want))
    g_error ("the error:\n  want: %s\n  got:  %s", want, got);
}

/* The request that used to kill the server (100,000 "[" overflowed the
 * engine thread's stack in json-glib), then one that needs it alive. */
static void
test_bad_http_server_survives (void)
{
  static const WeftBadHttp deep = {
    "deep", FALSE,
    "POST /v1/flows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: @LEN@\r\n\r\n@DEEP@",
    400, "malformed JSON in the body: line 1, column 65: $[0][0][0][0]…[0][0]: nested deeper "
    "than 64 levels" };
  static const WeftBadHttp after = {
    "after", FALSE, "GET /v1/flows/nope HTTP/1.1\r\nHost: x\r\n\r\n",
    404, "no flow named \"nope\" (flows: echo)" };

  for (guint i = 0; i < 3; i++)
    {
      test_bad_http (&deep);
      test_bad_http (&after);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  world_set_up ();
  for (guint i = 0; i < G_N_ELEMENTS (weft_bad_flows); i++)
    {
      g_autofree char *path = g_strdup_printf ("/bad-inputs/flow/%s", weft_bad_flows[i].name);
      g_test_add_data_func (path, &weft_bad_flows[i], test_bad_flow);
    }
  for (guint i = 0; i < G_N_ELEMENTS (weft_bad_cli); i++)
    {
      g_autofree char *path = g_strdup_printf ("/bad-inputs/cli/%s", weft_bad_cli[i].name);
      g_test_add_data_func (path, &weft_bad_cli[i], test_bad_cli);
    }
  for (guint i = 0; i < G_N_ELEMENTS (weft_bad_http); i++)
    {
      g_autofree char *path = g_strdup_printf ("/bad-inputs/http/%s", weft_bad_http[i].name);
      g_test_add_data_func (path, &weft_bad_http[i], test_bad_http);
    }
  g_test_add_func ("/bad-inputs/http-server-survives", test_bad_http_server_survives);
  servers_set_up ();
  int status = g_test_run ();
  servers_tear_down ();
  world_tear_down ();
  return status;
}
