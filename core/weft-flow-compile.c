/* weft-flow-compile.c — a validated description → the compiled flow the
 * scheduler reads: its tasks, their texts, their edges, the name index.
 *
 * Dependencies come from the process (graph: exactly the context;
 * sequential: CrewAI's rules, see flow-format.md); dependants are the
 * same edges turned round; Kahn's algorithm then proves there is no cycle,
 * or the leftover tasks are walked to name one.  Everything per task
 * lands in a few flat arrays (WeftFlowTask, one block of strings, one
 * block of edges): what the scheduler walks is contiguous, and a flow of
 * 100,000 tasks costs a handful of allocations. */
#include "weft-flow-private.h"

#include <string.h>

/* ---- the task-name index ------------------------------------------------------ */

void
weft_task_index_init (WeftTaskIndex *index, guint n_tasks)
{
  guint size = 16;

  /* At most half full: probes stay short. */
  while (size < 2 * (gsize) n_tasks)
    size *= 2;
  index->slots = g_new0 (guint, size);
  index->mask = size - 1;
}

guint
weft_task_index_lookup (const WeftTaskIndex *index, const char *name, WeftTaskNameFunc name_of,
                        gconstpointer data)
{
  for (guint at = g_str_hash (name) & index->mask; index->slots[at]; at = (at + 1) & index->mask)
    if (g_str_equal (name_of (data, index->slots[at] - 1), name))
      return index->slots[at] - 1;
  return WEFT_NO_TASK;
}

guint
weft_task_index_add (WeftTaskIndex *index, guint i, WeftTaskNameFunc name_of, gconstpointer data)
{
  const char *name = name_of (data, i);
  guint at = g_str_hash (name) & index->mask;

  for (; index->slots[at]; at = (at + 1) & index->mask)
    if (g_str_equal (name_of (data, index->slots[at] - 1), name))
      return index->slots[at] - 1;
  index->slots[at] = i + 1;
  return WEFT_NO_TASK;
}

/* ---- tasks and their texts -------------------------------------------------- */

#define WEFT_EXPECTED_OUTPUT_SEPARATOR "\n\nExpected output: "

/* The prompt is the description, followed by the expected output when
 * there is one; a task without placeholders has it once for all runs. */
static gboolean
weft_compile_needs_prompt (const WeftDescTask *t)
{
  return !t->templated && t->expected_output != WEFT_DESC_NONE;
}

static gsize
weft_compile_strings_size (const WeftFlowDesc *desc)
{
  gsize size = 0;

  for (guint i = 0; i < desc->n_tasks; i++)
    {
      const WeftDescTask *t = &desc->tasks[i];
      gsize description = strlen (weft_flow_desc_get_string (desc, t->description)) + 1;
      gsize expected = t->expected_output == WEFT_DESC_NONE
                       ? 0 : strlen (weft_flow_desc_get_string (desc, t->expected_output)) + 1;
      size += strlen (weft_flow_desc_get_string (desc, t->name)) + 1 + description + expected;
      if (weft_compile_needs_prompt (t))
        size += description + strlen (WEFT_EXPECTED_OUTPUT_SEPARATOR) + expected;
    }
  return size;
}

/* Copies `s` to *at and moves past it. */
static const char *
weft_compile_put (char **at, const char *s)
{
  const char *put = *at;

  *at = g_stpcpy (*at, s) + 1;
  return put;
}

static void
weft_compile_task (WeftFlowTask *ft, const WeftFlowDesc *desc, const WeftDescTask *t,
                   WeftAgentInstance *const *agents, char **at)
{
  ft->name = weft_compile_put (at, weft_flow_desc_get_string (desc, t->name));
  ft->agent = agents[t->agent.index];
  ft->description = weft_compile_put (at, weft_flow_desc_get_string (desc, t->description));
  ft->expected_output = t->expected_output == WEFT_DESC_NONE
    ? NULL : weft_compile_put (at, weft_flow_desc_get_string (desc, t->expected_output));
  ft->static_prompt = NULL;
  if (weft_compile_needs_prompt (t))
    {
      ft->static_prompt = *at;
      *at = g_stpcpy (g_stpcpy (g_stpcpy (*at, ft->description), WEFT_EXPECTED_OUTPUT_SEPARATOR),
                      ft->expected_output) + 1;
    }
  else if (!t->templated)
    ft->static_prompt = ft->description;
  ft->templated = t->templated;
  ft->async = (t->given & WEFT_DESC_ASYNC) && t->async;
  ft->exclude = (t->given & WEFT_DESC_EXCLUDE) && t->exclude;
  ft->retries = (t->given & WEFT_DESC_RETRIES) ? (guint16) t->retries : 0;
  ft->retry_delay_ms = (t->given & WEFT_DESC_RETRY_DELAY) ? (guint) t->retry_delay_ms : 500;
  ft->timeout_us = (t->given & WEFT_DESC_TIMEOUT) ? (gint64) (t->timeout_s * G_USEC_PER_SEC) : 0;
}

static void
weft_compile_tasks (WeftFlowLoad *l, WeftAgentInstance *const *agents)
{
  WeftFlowDesc *desc = l->desc;
  WeftFlow *flow = l->flow;

  flow->n_tasks = desc->n_tasks;
  flow->tasks = g_new (WeftFlowTask, desc->n_tasks);
  flow->strings = g_malloc (weft_compile_strings_size (desc));
  char *at = flow->strings;
  for (guint i = 0; i < desc->n_tasks; i++)
    weft_compile_task (&flow->tasks[i], desc, &desc->tasks[i], agents, &at);
}

/* ---- dependencies ------------------------------------------------------------- */

/* The edges while they are derived: each task's run appended in turn. */
typedef struct {
  GArray *deps;
  guint *deps_at;
  GArray *receives;
  guint *receives_at;
} WeftEdges;

/* A task's context, once validated: the tasks it names, by index. */
static const guint *
weft_compile_context (const WeftFlowDesc *desc, const WeftDescTask *t)
{
  G_STATIC_ASSERT (sizeof (WeftDescRef) == sizeof (guint));
  return t->n_context ? (const guint *) &desc->refs[t->context] : NULL;
}

/* Adds `v` to the dependencies of the task being derived (`self`) unless
 * there already; `added` holds, per task, index + 1 of the last task that
 * added it. */
static void
weft_compile_add_dep (WeftEdges *e, guint self, guint v, guint *added)
{
  if (added[v] == self + 1)
    return;
  added[v] = self + 1;
  g_array_append_val (e->deps, v);
}

/* Excluded outputs are never handed on. */
static void
weft_compile_add_received (WeftEdges *e, const WeftFlow *flow, const guint *tasks, guint n)
{
  for (guint k = 0; k < n; k++)
    if (!flow->tasks[tasks[k]].exclude)
      g_array_append_val (e->receives, tasks[k]);
}

/* A task depends exactly on its context, which has no repeats (refused by
 * validation). */
static void
weft_compile_derive_graph (WeftFlowLoad *l, WeftEdges *e)
{
  const WeftFlowDesc *desc = l->desc;

  for (guint i = 0; i < desc->n_tasks; i++)
    {
      const WeftDescTask *t = &desc->tasks[i];
      const guint *context = weft_compile_context (desc, t);
      e->deps_at[i] = e->deps->len;
      e->receives_at[i] = e->receives->len;
      g_array_append_vals (e->deps, context, t->n_context);
      weft_compile_add_received (e, l->flow, context, t->n_context);
    }
}

/* CrewAI's sequential process: a task waits for everything before it, an
 * async task only for the last non-async one before it.  Waiting for the
 * last non-async task and the async ones since covers everything earlier,
 * and that is also what a task without context receives. */
static void
weft_compile_derive_sequential (WeftFlowLoad *l, WeftEdges *e)
{
  const WeftFlowDesc *desc = l->desc;
  g_autoptr(GArray) since = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GArray) waited = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autofree guint *added = g_new0 (guint, desc->n_tasks);
  guint last_sync = WEFT_NO_TASK;

  for (guint i = 0; i < desc->n_tasks; i++)
    {
      const WeftDescTask *t = &desc->tasks[i];
      const guint *context = weft_compile_context (desc, t);
      gboolean async = l->flow->tasks[i].async;
      g_array_set_size (waited, 0);
      if (last_sync != WEFT_NO_TASK)
        g_array_append_val (waited, last_sync);
      if (!async)
        g_array_append_vals (waited, since->data, since->len);

      e->deps_at[i] = e->deps->len;
      for (guint k = 0; k < waited->len; k++)
        weft_compile_add_dep (e, i, g_array_index (waited, guint, k), added);
      for (guint k = 0; k < t->n_context; k++)
        weft_compile_add_dep (e, i, context[k], added);
      e->receives_at[i] = e->receives->len;
      if (t->given & WEFT_DESC_CONTEXT)
        weft_compile_add_received (e, l->flow, context, t->n_context);
      else
        weft_compile_add_received (e, l->flow, (const guint *) waited->data, waited->len);

      if (async)
        g_array_append_val (since, i);
      else
        {
          last_sync = i;
          g_array_set_size (since, 0);
        }
    }
}

/* ---- the graph's one block ---------------------------------------------------- */

/* An empty GArray may have no data at all. */
static void
weft_compile_copy (guint *to, const guint *from, gsize n)
{
  if (n > 0)
    memcpy (to, from, n * sizeof (guint));
}

/* Lays out deps, receives, dependants (the deps turned round, each list in
 * task order) and roots in one allocation. */
static void
weft_compile_lay_out (WeftFlowGraph *g, guint n, WeftEdges *e)
{
  guint n_deps = e->deps->len;
  guint n_receives = e->receives->len;
  guint n_roots = 0;

  e->deps_at[n] = n_deps;
  e->receives_at[n] = n_receives;
  for (guint i = 0; i < n; i++)
    n_roots += e->deps_at[i + 1] == e->deps_at[i];

  g->block = g_new (guint, 3 * ((gsize) n + 1) + 2 * (gsize) n_deps + n_receives + n_roots);
  g->deps_at = g->block;
  g->dependants_at = g->deps_at + n + 1;
  g->receives_at = g->dependants_at + n + 1;
  g->deps = g->receives_at + n + 1;
  g->dependants = g->deps + n_deps;
  g->receives = g->dependants + n_deps;
  g->roots = g->receives + n_receives;
  g->n_roots = 0;
  weft_compile_copy (g->deps_at, e->deps_at, n + 1);
  weft_compile_copy (g->receives_at, e->receives_at, n + 1);
  weft_compile_copy (g->deps, (const guint *) e->deps->data, n_deps);
  weft_compile_copy (g->receives, (const guint *) e->receives->data, n_receives);

  /* Counting, then placing: dependants_at[d] runs ahead until it is right. */
  memset (g->dependants_at, 0, ((gsize) n + 1) * sizeof (guint));
  for (guint k = 0; k < n_deps; k++)
    g->dependants_at[g->deps[k] + 1]++;
  for (guint i = 0; i < n; i++)
    g->dependants_at[i + 1] += g->dependants_at[i];
  for (guint i = 0; i < n; i++)
    {
      for (guint k = g->deps_at[i]; k < g->deps_at[i + 1]; k++)
        g->dependants[g->dependants_at[g->deps[k]]++] = i;
      if (g->deps_at[i] == g->deps_at[i + 1])
        g->roots[g->n_roots++] = i;
    }
  memmove (g->dependants_at + 1, g->dependants_at, (gsize) n * sizeof (guint));
  g->dependants_at[0] = 0;
}

/* ---- cycles --------------------------------------------------------------------- */

/* "a -> b -> a", or for a long cycle its first tasks, its last and its
 * length: a message is one line, not 89 KB. */
#define WEFT_CYCLE_SHOWN 6

static char *
weft_compile_describe_cycle (WeftFlow *flow, GArray *walk, guint from)
{
  guint n = walk->len - from;
  g_autoptr(GString) cycle = g_string_new (NULL);

  for (guint k = 0; k < n; k++)
    {
      if (n > WEFT_CYCLE_SHOWN + 1 && k == WEFT_CYCLE_SHOWN)
        {
          g_string_append (cycle, "… -> ");
          k = n - 1;
        }
      g_string_append_printf (cycle, "%s -> ",
                              flow->tasks[g_array_index (walk, guint, from + k)].name);
    }
  g_string_append (cycle, flow->tasks[g_array_index (walk, guint, from)].name);
  if (n > WEFT_CYCLE_SHOWN + 1)
    g_string_append_printf (cycle, ", %u tasks in all", n);
  return g_string_free (g_steal_pointer (&cycle), FALSE);
}

/* Every task left by Kahn's algorithm has a dependency left: following
 * them must loop. */
static gboolean
weft_compile_name_cycle (WeftFlowLoad *l, const guint *indegree)
{
  WeftFlow *flow = l->flow;
  const WeftFlowGraph *g = &flow->graph;
  g_autofree guint *seen_at = g_new0 (guint, flow->n_tasks);
  g_autoptr(GArray) walk = g_array_new (FALSE, FALSE, sizeof (guint));
  guint i = 0;

  while (indegree[i] == 0)
    i++;
  while (seen_at[i] == 0)
    {
      g_array_append_val (walk, i);
      seen_at[i] = walk->len;
      for (guint k = g->deps_at[i]; k < g->deps_at[i + 1]; k++)
        if (indegree[g->deps[k]] > 0)
          {
            i = g->deps[k];
            break;
          }
    }
  g_autofree char *cycle = weft_compile_describe_cycle (flow, walk, seen_at[i] - 1);
  WeftFlowPlace tasks = { WEFT_PLACE_TASKS, 0, NULL, 0, NULL, WEFT_PLACE_NO_ELEMENT };
  return weft_flow_load_fail (l, WEFT_ERROR_CYCLE, &tasks,
                              "dependency cycle: %s (each waits for the next)", cycle);
}

/* Kahn's algorithm. */
static gboolean
weft_compile_check_cycles (WeftFlowLoad *l)
{
  WeftFlow *flow = l->flow;
  const WeftFlowGraph *g = &flow->graph;
  g_autofree guint *indegree = g_new (guint, flow->n_tasks);
  g_autofree guint *ready = g_new (guint, flow->n_tasks);
  guint n_ready = 0;
  guint done = 0;

  for (guint i = 0; i < flow->n_tasks; i++)
    if ((indegree[i] = g->deps_at[i + 1] - g->deps_at[i]) == 0)
      ready[n_ready++] = i;
  while (n_ready > 0)
    {
      guint i = ready[--n_ready];
      done++;
      for (guint k = g->dependants_at[i]; k < g->dependants_at[i + 1]; k++)
        if (--indegree[g->dependants[k]] == 0)
          ready[n_ready++] = g->dependants[k];
    }
  return done == flow->n_tasks || weft_compile_name_cycle (l, indegree);
}

/* ---- task callbacks ------------------------------------------------------------ */

/* Which pending callbacks each task names; they are made into pointers to
 * the instances once those exist (weft-flow-instantiate.c). */
static void
weft_compile_callbacks (WeftFlowLoad *l)
{
  const WeftFlowDesc *desc = l->desc;
  WeftFlowGraph *g = &l->flow->graph;
  guint n = 0;

  for (guint i = 0; i < desc->n_tasks; i++)
    n += desc->tasks[i].n_callbacks;
  if (n == 0)
    return;
  g->callbacks_at = g_new (guint, desc->n_tasks + 1);
  l->callback_refs = g_new (guint, n);
  n = 0;
  for (guint i = 0; i < desc->n_tasks; i++)
    {
      const WeftDescTask *t = &desc->tasks[i];
      g->callbacks_at[i] = n;
      for (guint k = 0; k < t->n_callbacks; k++)
        l->callback_refs[n++] = desc->refs[t->callbacks + k].index;
    }
  g->callbacks_at[desc->n_tasks] = n;
}

static const char *
weft_compile_desc_task_name (gconstpointer data, guint i)
{
  const WeftFlowDesc *desc = data;

  return weft_flow_desc_get_string (desc, desc->tasks[i].name);
}

gboolean
weft_flow_compile (WeftFlowLoad *l, WeftAgentInstance *const *agents)
{
  WeftFlow *flow = l->flow;
  guint n = l->desc->n_tasks;
  WeftEdges e = {
    g_array_sized_new (FALSE, FALSE, sizeof (guint), l->desc->n_refs),
    g_new (guint, n + 1),
    g_array_sized_new (FALSE, FALSE, sizeof (guint), l->desc->n_refs),
    g_new (guint, n + 1),
  };

  weft_compile_tasks (l, agents);
  if (flow->sequential)
    weft_compile_derive_sequential (l, &e);
  else
    weft_compile_derive_graph (l, &e);
  weft_compile_lay_out (&flow->graph, n, &e);
  g_array_unref (e.deps);
  g_array_unref (e.receives);
  g_free (e.deps_at);
  g_free (e.receives_at);
  if (!weft_compile_check_cycles (l))
    return FALSE;
  weft_compile_callbacks (l);

  /* The index validation built over the description's names stays true of
   * the compiled ones: same names, same indices. */
  if (l->index.slots == NULL)
    {
      weft_task_index_init (&l->index, n);
      for (guint i = 0; i < n; i++)
        weft_task_index_add (&l->index, i, weft_compile_desc_task_name, l->desc);
    }
  flow->index_slots = g_steal_pointer (&l->index.slots);
  flow->index_mask = l->index.mask;
  return TRUE;
}
