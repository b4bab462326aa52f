/* weft-cli-trace.c — what a run's events say, in words: the lines `weft
 * run` shows above its status line (or one a line off a terminal), and
 * with --verbose the trace a reader keeps in the scrollback, as CrewAI's
 * verbose mode does: each task with its agent, each tool call with its
 * arguments and its result, each answer.
 *
 * Pure text: weft-cli-progress.c decides when and where to write it.
 */
#include "weft-cli.h"

#include <string.h>

/* The most of one answer, tool result or argument list a trace shows. */
#define WEFT_CLI_TRACE_MAX_CHARS 4000
/* A step's text on a plain line. */
#define WEFT_CLI_PLAIN_STEP_CHARS 160
/* A tool's result shorter than this, on one line, stays on its line. */
#define WEFT_CLI_TRACE_INLINE_CHARS 100

static const char *
weft_cli_str (const char *text)
{
  return text ? text : "";
}

static double
weft_cli_seconds (gint64 us)
{
  return (double) us / G_USEC_PER_SEC;
}

/* `text` cut to `max` characters, saying how much was left out. */
static char *
weft_cli_trace_cut (const char *text, glong max)
{
  glong n = g_utf8_strlen (text, -1);

  if (n <= max)
    return g_strdup (text);
  g_autofree char *head = g_utf8_substring (text, 0, max);
  return g_strdup_printf ("%s… (%ld more characters)", head, n - max);
}

/* ---- tool steps -------------------------------------------------------- */

/* A tool step's text is {"tool": NAME, KEY: VALUE} (weft-tool.c): its
 * NAME and VALUE (a string as it is, anything else as JSON), or FALSE
 * when it is not that shape. */
static gboolean
weft_cli_trace_tool_step (const char *text, char **tool, char **key, char **value)
{
  g_autoptr(JsonNode) root = weft_json_parse (weft_cli_str (text), -1, NULL);
  JsonObject *object;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  object = json_node_get_object (root);
  const char *name = json_object_get_string_member_with_default (object, "tool", NULL);
  const char *keys[] = { "arguments", "result", "error" };
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (keys); i++)
    {
      JsonNode *node = json_object_get_member (object, keys[i]);
      if (node == NULL)
        continue;
      *tool = g_strdup (name);
      *key = g_strdup (keys[i]);
      *value = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
               ? g_strdup (json_node_get_string (node))
               : json_to_string (node, FALSE);
      return TRUE;
    }
  return FALSE;
}

/* "calls tool T with {...}", "tool T returned: R", "tool T failed: E";
 * a long or many-line result goes to *block. */
static char *
weft_cli_trace_describe_tool (const char *task, const char *kind, const char *text,
                              glong max, char **block)
{
  g_autofree char *tool = NULL;
  g_autofree char *key = NULL;
  g_autofree char *value = NULL;

  if (!weft_cli_trace_tool_step (text, &tool, &key, &value))
    return NULL;
  g_autofree char *cut = weft_cli_trace_cut (value, max);
  if (g_str_equal (key, "arguments"))
    return g_strdup_printf ("task %s calls tool %s with %s", task, tool, cut);
  if (g_str_equal (key, "error"))
    return g_strdup_printf ("task %s: tool %s failed: %s", task, tool, cut);
  if (block != NULL && (strchr (cut, '\n') != NULL
                        || g_utf8_strlen (cut, -1) > WEFT_CLI_TRACE_INLINE_CHARS))
    {
      *block = g_steal_pointer (&cut);
      return g_strdup_printf ("task %s: tool %s returned:", task, tool);
    }
  return g_strdup_printf ("task %s: tool %s returned: %s", task, tool, cut);
}

static char *
weft_cli_trace_describe_step (const WeftEvent *event, gboolean verbose, char **block)
{
  const char *task = weft_cli_str (weft_event_get_task_name (event));
  const char *kind = weft_cli_str (weft_event_get_step_kind (event));
  const char *text = weft_cli_str (weft_event_get_output (event));
  glong max = verbose ? WEFT_CLI_TRACE_MAX_CHARS : WEFT_CLI_PLAIN_STEP_CHARS;
  char *line = NULL;

  /* Streamed text is written as text (weft-cli-progress.c), never a line
   * per chunk. */
  if (g_str_equal (kind, WEFT_CLI_STEP_CHUNK))
    return NULL;
  if (g_str_equal (kind, "tool_call") || g_str_equal (kind, "tool_result"))
    line = weft_cli_trace_describe_tool (task, kind, text, max, verbose ? block : NULL);
  if (line == NULL)
    {
      g_autofree char *cut = weft_cli_trace_cut (text, max);
      line = g_strdup_printf ("task %s step %s: %s", task, kind, cut);
    }
  return line;
}

/* ---- task and run events ----------------------------------------------- */

static char *
weft_cli_trace_describe_completed (const WeftEvent *event, const WeftCliTraceTask *about,
                                   gboolean verbose, char **block)
{
  const char *task = weft_cli_str (weft_event_get_task_name (event));
  double seconds = weft_cli_seconds (weft_event_get_duration_us (event));

  /* Attempt 0: a replay took the output of the stored run. */
  if (weft_event_get_attempt (event) == 0)
    return g_strdup_printf ("task %s reused (output of the stored run)", task);
  if (!verbose)
    return g_strdup_printf ("task %s completed (%.3fs)", task, seconds);
  if (about != NULL && about->streamed)
    return g_strdup_printf ("task %s completed (%.3fs); its answer is the text it wrote above",
                            task, seconds);
  if (*weft_cli_str (weft_event_get_output (event)) == '\0')
    return g_strdup_printf ("task %s completed (%.3fs) with an empty answer", task, seconds);
  *block = weft_cli_trace_cut (weft_event_get_output (event), WEFT_CLI_TRACE_MAX_CHARS);
  return g_strdup_printf ("task %s completed (%.3fs), its answer:", task, seconds);
}

static char *
weft_cli_trace_describe_task (const WeftEvent *event, const WeftCliTraceTask *about,
                              gboolean verbose, char **block)
{
  const char *task = weft_cli_str (weft_event_get_task_name (event));
  const char *error = weft_cli_str (weft_event_get_error (event));
  guint attempt = weft_event_get_attempt (event);
  const char *agent = about != NULL ? about->agent : NULL;

  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_TASK_STARTED:
      if (agent == NULL)
        return g_strdup_printf ("task %s started", task);
      if (attempt > 1)
        return g_strdup_printf ("task %s started (agent %s, attempt %u)", task, agent, attempt);
      return g_strdup_printf ("task %s started (agent %s)", task, agent);
    case WEFT_EVENT_TASK_STEP:
      return weft_cli_trace_describe_step (event, verbose, block);
    case WEFT_EVENT_TASK_COMPLETED:
      return weft_cli_trace_describe_completed (event, about, verbose, block);
    case WEFT_EVENT_TASK_FAILED:
      return g_strdup_printf ("task %s failed after %u attempt%s: %s", task, attempt,
                              attempt == 1 ? "" : "s", error);
    case WEFT_EVENT_TASK_CANCELLED:
      return g_strdup_printf ("task %s cancelled", task);
    case WEFT_EVENT_TASK_RETRYING:
      return g_strdup_printf ("task %s retrying after attempt %u: %s", task, attempt, error);
    case WEFT_EVENT_TASK_SKIPPED:
      return g_strdup_printf ("task %s skipped: %s", task, error);
    default:
      return NULL;
    }
}

char *
weft_cli_trace_describe (const WeftEvent *event, const WeftCliTraceTask *about, guint n_tasks,
                         gboolean verbose, char **block)
{
  double seconds = weft_cli_seconds (weft_event_get_duration_us (event));
  const char *run_id = weft_cli_str (weft_event_get_run_id (event));
  const char *flow = weft_cli_str (weft_event_get_flow_name (event));

  *block = NULL;
  switch (weft_event_get_event_type (event))
    {
    case WEFT_EVENT_RUN_STARTED:
      return g_strdup_printf ("run %s started (flow %s, %u tasks)", run_id, flow, n_tasks);
    case WEFT_EVENT_RUN_RESUMED:
      return g_strdup_printf ("run %s resumed (flow %s, %u tasks)", run_id, flow, n_tasks);
    case WEFT_EVENT_RUN_COMPLETED:
      return g_strdup_printf ("run completed (%.3fs)", seconds);
    case WEFT_EVENT_RUN_FAILED:
      /* Its reason is a task's failure, shown when that task failed. */
      return g_strdup_printf ("run failed (%.3fs)", seconds);
    case WEFT_EVENT_RUN_CANCELLED:
      return g_strdup ("run cancelled");
    default:
      return weft_cli_trace_describe_task (event, about, verbose, block);
    }
}

char *
weft_cli_trace_step_status (const WeftEvent *event)
{
  const char *task = weft_cli_str (weft_event_get_task_name (event));
  const char *kind = weft_cli_str (weft_event_get_step_kind (event));
  const char *text = weft_cli_str (weft_event_get_output (event));
  g_autofree char *tool = NULL;
  g_autofree char *key = NULL;
  g_autofree char *value = NULL;

  if (weft_cli_trace_tool_step (text, &tool, &key, &value))
    {
      if (g_str_equal (key, "arguments"))
        return g_strdup_printf ("%s: calls %s %s", task, tool, value);
      return g_strdup_printf ("%s: %s %s: %s", task, tool,
                              g_str_equal (key, "error") ? "failed" : "returned", value);
    }
  return g_strdup_printf ("%s: %s %s", task, kind, text);
}
