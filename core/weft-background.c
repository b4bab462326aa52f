/* weft-background.c — background jobs: one agent call, started at once
 * and checked on later by id.  weft.h and the HTTP API call them tasks
 * (weft_engine_create_task / check_task / list_tasks, /v1/tasks); here
 * they are jobs, so that "task" keeps one meaning inside libweft.
 *
 * A job is a run of a one-task flow that borrows the agent instance of a
 * loaded flow (weft_flow_new_agent_task), so it shares the agent's limits
 * and connections, and its events reach the flow's callbacks like any
 * run's.  The run is read through weft.h's getters only.  The table is
 * the engine's (a part of it, made on first use), read from any thread,
 * so it has a lock; finished jobs are kept for a bounded time and number. */
#include "weft-private.h"

#define WEFT_JOBS_KEEP_DEFAULT 1000
#define WEFT_JOBS_KEEP_S_DEFAULT 3600

typedef struct {
  char *id;                   /* the run's id */
  char *flow;
  char *agent;
  WeftStatus status;
  char *output;
  char *error;
  gint64 created_wall_us;
  gint64 finished_wall_us;
  gint64 duration_us;
  GCancellable *cancellable; /* while running */
} WeftBackgroundJob;

typedef struct {
  GMutex lock;
  GHashTable *jobs;           /* id → WeftBackgroundJob* (owned) */
  GQueue finished;            /* WeftBackgroundJob*, oldest first */
  guint keep;
  guint keep_s;
} WeftBackground;

static void
weft_background_job_free (WeftBackgroundJob *t)
{
  g_free (t->id);
  g_free (t->flow);
  g_free (t->agent);
  g_free (t->output);
  g_free (t->error);
  g_clear_object (&t->cancellable);
  g_free (t);
}

static gpointer
weft_background_new (void)
{
  WeftBackground *bg = g_new0 (WeftBackground, 1);

  g_mutex_init (&bg->lock);
  bg->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify) weft_background_job_free);
  bg->keep = WEFT_JOBS_KEEP_DEFAULT;
  bg->keep_s = WEFT_JOBS_KEEP_S_DEFAULT;
  return bg;
}

static void
weft_background_free (gpointer data)
{
  WeftBackground *bg = data;

  g_queue_clear (&bg->finished);
  g_hash_table_unref (bg->jobs);
  g_mutex_clear (&bg->lock);
  g_free (bg);
}

/* The engine's table, made on first use. */
static WeftBackground *
weft_background_get (WeftEngine *engine)
{
  return weft_engine_get_part (engine, g_quark_from_static_string ("weft-background"),
                               weft_background_new, weft_background_free);
}

/* Lock held: forgets finished jobs beyond the number or age kept. */
static void
weft_background_evict (WeftBackground *bg)
{
  gint64 oldest = g_get_real_time () - (gint64) bg->keep_s * G_USEC_PER_SEC;
  WeftBackgroundJob *t;

  while ((t = g_queue_peek_head (&bg->finished))
         && (bg->finished.length > bg->keep || t->finished_wall_us < oldest))
    {
      g_queue_pop_head (&bg->finished);
      g_hash_table_remove (bg->jobs, t->id);
    }
}

void
weft_engine_set_task_retention (WeftEngine *engine, guint keep, guint keep_s)
{
  WeftBackground *bg = weft_background_get (engine);

  g_mutex_lock (&bg->lock);
  bg->keep = keep;
  bg->keep_s = keep_s;
  weft_background_evict (bg);
  g_mutex_unlock (&bg->lock);
}

/* Engine loop: the job's run has finished. */
static void
weft_background_on_done (WeftRun *run, gpointer data)
{
  WeftBackground *bg = data;
  const GError *error = weft_run_get_task_error (run, 0);

  if (error == NULL)
    error = weft_run_get_error (run);
  g_mutex_lock (&bg->lock);
  WeftBackgroundJob *t = g_hash_table_lookup (bg->jobs, weft_run_get_id (run));
  if (t != NULL)
    {
      t->status = weft_run_get_status (run);
      t->output = g_strdup (weft_run_get_task_output (run, 0));
      t->error = error ? g_strdup (error->message) : NULL;
      t->finished_wall_us = g_get_real_time ();
      t->duration_us = weft_run_get_duration_us (run);
      g_clear_object (&t->cancellable);
      g_queue_push_tail (&bg->finished, t);
      weft_background_evict (bg);
    }
  g_mutex_unlock (&bg->lock);
  weft_run_unref (run);
}

char *
weft_engine_create_task (WeftEngine *engine, WeftFlow *flow, const char *agent,
                         const char *prompt, GError **error)
{
  WeftBackground *bg = weft_background_get (engine);

  g_return_val_if_fail (flow != NULL && weft_flow_get_engine (flow) == engine, NULL);
  g_return_val_if_fail (agent != NULL && prompt != NULL, NULL);

  g_autoptr(WeftFlow) job_flow = weft_flow_new_agent_task (flow, agent, error);
  if (job_flow == NULL)
    return NULL;
  g_autoptr(JsonObject) inputs = json_object_new ();
  json_object_set_string_member (inputs, "prompt", prompt);
  WeftKickoffOptions options = { .inputs = inputs };
  g_autoptr(WeftRun) run = weft_run_new (job_flow, &options, error);
  if (run == NULL)
    return NULL;

  WeftBackgroundJob *t = g_new0 (WeftBackgroundJob, 1);
  t->id = g_strdup (weft_run_get_id (run));
  t->flow = g_strdup (weft_flow_get_name (flow));
  t->agent = g_strdup (agent);
  t->status = WEFT_STATUS_RUNNING;
  t->created_wall_us = g_get_real_time ();
  t->cancellable = g_cancellable_new ();
  g_mutex_lock (&bg->lock);
  g_hash_table_insert (bg->jobs, t->id, t);
  weft_background_evict (bg);
  g_mutex_unlock (&bg->lock);

  weft_run_kickoff (run, t->cancellable, weft_background_on_done, bg);
  return g_strdup (weft_run_get_id (run));
}

JsonObject *
weft_job_summary_to_json (const WeftJobSummary *t)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "task_id", t->id);
  json_object_set_string_member (o, "flow", t->flow);
  json_object_set_string_member (o, "agent", t->agent);
  json_object_set_string_member (o, "status", t->status);
  json_object_set_string_member (o, "output", t->output);
  json_object_set_string_member (o, "error", t->error);
  json_object_set_int_member (o, "created_wall_us", t->created_wall_us);
  weft_json_set_time (o, "finished_wall_us", t->finished_wall_us);
  json_object_set_int_member (o, "duration_us", t->duration_us);
  return o;
}

/* Lock held. */
static JsonNode *
weft_background_job_to_json (WeftBackgroundJob *t)
{
  WeftJobSummary summary = {
    .id = t->id, .flow = t->flow, .agent = t->agent,
    .status = weft_status_to_string (t->status), .output = t->output, .error = t->error,
    .created_wall_us = t->created_wall_us, .finished_wall_us = t->finished_wall_us,
    .duration_us = t->duration_us,
  };
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, weft_job_summary_to_json (&summary));
  return node;
}

JsonNode *
weft_engine_check_task (WeftEngine *engine, const char *task_id, GError **error)
{
  WeftBackground *bg = weft_background_get (engine);
  JsonNode *node = NULL;

  g_mutex_lock (&bg->lock);
  weft_background_evict (bg);
  WeftBackgroundJob *t = g_hash_table_lookup (bg->jobs, task_id);
  if (t)
    node = weft_background_job_to_json (t);
  g_mutex_unlock (&bg->lock);
  if (node == NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                 "no task \"%s\" (finished tasks are kept for %u s, %u at most)", task_id,
                 bg->keep_s, bg->keep);
  return node;
}

static gint
weft_background_job_newest_first (gconstpointer a, gconstpointer b)
{
  const WeftBackgroundJob *x = *(WeftBackgroundJob *const *) a;
  const WeftBackgroundJob *y = *(WeftBackgroundJob *const *) b;

  return (x->created_wall_us < y->created_wall_us) - (x->created_wall_us > y->created_wall_us);
}

JsonNode *
weft_engine_list_tasks (WeftEngine *engine)
{
  WeftBackground *bg = weft_background_get (engine);
  g_autoptr(GPtrArray) jobs = g_ptr_array_new ();
  JsonArray *out = json_array_new ();

  g_mutex_lock (&bg->lock);
  weft_background_evict (bg);
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, bg->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (jobs, value);
  g_ptr_array_sort (jobs, weft_background_job_newest_first);
  for (guint i = 0; i < jobs->len; i++)
    json_array_add_element (out, weft_background_job_to_json (jobs->pdata[i]));
  g_mutex_unlock (&bg->lock);
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, out);
  return node;
}

gboolean
weft_engine_cancel_task (WeftEngine *engine, const char *task_id, GError **error)
{
  WeftBackground *bg = weft_background_get (engine);
  g_autoptr(GCancellable) cancellable = NULL;
  gboolean found;

  g_mutex_lock (&bg->lock);
  WeftBackgroundJob *t = g_hash_table_lookup (bg->jobs, task_id);
  found = t != NULL;
  if (t && t->cancellable)
    cancellable = g_object_ref (t->cancellable);
  g_mutex_unlock (&bg->lock);
  if (!found)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "no task \"%s\"", task_id);
      return FALSE;
    }
  /* Outside the lock: the run's handler posts to the engine at once. */
  if (cancellable)
    g_cancellable_cancel (cancellable);
  return TRUE;
}
