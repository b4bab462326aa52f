/* weft-dag.c — the benchmark agent "dag": the work each task of
 * ../shared/bench/dag_asyncio.py does, so that `weft run` and the asyncio
 * reference executor compute the same values and print the same checksum.
 *
 * Task "t<i>" answers "t<i>:<val(i)>", where val(i) = (7*i + the sum of the
 * values its context outputs carry) mod 1000003.  Built in tests/bench only,
 * never installed: tests/bench/process.sh points `weft run --plugin-dir` at
 * it.  Asynchronous, like the reference's coroutines: it answers at once,
 * on the engine loop, holding no thread. */
#include <weft/weft-sdk.h>

#include <string.h>

#define DAG_P 1000003

static gpointer
dag_create (const WeftConfig *config, GError **error)
{
  return GINT_TO_POINTER (1);
}

static void
dag_destroy (gpointer instance)
{
}

/* The digits at `p`, as a number. */
static guint64
dag_parse_number (const char *p)
{
  guint64 v = 0;

  while (*p >= '0' && *p <= '9')
    v = v * 10 + (guint64) (*p++ - '0');
  return v;
}

/* The value after the ':' of an output "t<i>:<val>"; 0 for anything else. */
static guint64
dag_parse_val (const char *output)
{
  const char *colon = output ? strchr (output, ':') : NULL;

  return colon ? dag_parse_number (colon + 1) : 0;
}

/* Writes `v` in decimal at `out`; returns the end. */
static char *
dag_put_number (char *out, guint64 v)
{
  char digits[24];
  guint n = 0;

  do
    digits[n++] = (char) ('0' + v % 10);
  while ((v /= 10) > 0);
  while (n > 0)
    *out++ = digits[--n];
  return out;
}

/* What the reference's f"t{i}:{val}" writes: snprintf costs a task more
 * than the scheduler does. */
static void
dag_run (gpointer instance, WeftTask *task)
{
  const char *name = weft_task_get_name (task);
  guint64 i = dag_parse_number (name[0] == 't' ? name + 1 : name);
  guint64 sum = 7 * i;
  char out[48];
  char *end = out;

  for (guint k = 0; k < weft_task_get_n_context (task); k++)
    sum += dag_parse_val (weft_task_get_context_output (task, k));
  *end++ = 't';
  end = dag_put_number (end, i);
  *end++ = ':';
  end = dag_put_number (end, sum % DAG_P);
  *end = '\0';
  weft_task_return (task, out);
}

static const WeftAgentClass dag_agent = {
  .flags = WEFT_AGENT_ASYNC,
  .run = dag_run,
};

static const WeftPluginDescriptor dag_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "dag",
  .version = "0.1.0",
  .description = "Benchmark agent: t<i> answers t<i>:val(i) as dag_asyncio.py defines it",
  .create = dag_create,
  .destroy = dag_destroy,
  .agent = &dag_agent,
};

WEFT_PLUGIN_DEFINE (dag_descriptor)
