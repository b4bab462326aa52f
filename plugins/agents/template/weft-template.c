/* weft-template.c — an agent whose output is a template filled from the task.
 *
 * Deterministic and free, for examples and tests.  It converses too: in a
 * thread's turn the task's prompt is the last message, so "{prompt}"
 * answers it, and its answer is the assistant's message (it never calls
 * a tool).  An async agent: run() is
 * called on the engine loop and returns at once; with delay_ms the output
 * is returned later by a timeout on the loop, so a thousand delayed tasks
 * hold no thread.
 */
#include <weft/weft-sdk.h>

#include <string.h>

/* The options, as weft binds them (see weft_template_options). */
typedef struct {
  const char *template;
  gint64 delay_ms;
} WeftTemplateOptions;

/* The options struct is the config's and lives as long as the instance. */
typedef struct {
  const WeftTemplateOptions *options;
} WeftTemplate;

static const WeftOption weft_template_options[] = {
  { .name = "template", .type = WEFT_OPTION_STRING, .default_json = "\"{prompt}\"",
    .offset = offsetof (WeftTemplateOptions, template),
    .description = "output text; keys: prompt description task attempt run_id flow context "
                   "input.NAME context.NAME (in a conversation, prompt is the last message)" },
  { .name = "delay_ms", .type = WEFT_OPTION_INT, .default_json = "0", .min = 0, .max = G_MAXINT,
    .offset = offsetof (WeftTemplateOptions, delay_ms),
    .description = "milliseconds to wait (without holding a thread) before returning" },
  WEFT_OPTION_END
};

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */

typedef struct {
  WeftTask *task;        /* NULL when only checking the template's syntax */
  GPtrArray *scratch;    /* strings made for the lookup, freed after      */
  char *unknown;         /* the first key the lookup could not answer     */
} WeftTemplateLookupData;

static const char *
weft_template_keep (WeftTemplateLookupData *data, char *value)
{
  g_ptr_array_add (data->scratch, value);
  return value;
}

static const char *
weft_template_lookup_input (WeftTemplateLookupData *data, const char *name)
{
  JsonObject *inputs = weft_task_get_inputs (data->task);
  JsonNode *node = inputs != NULL ? json_object_get_member (inputs, name) : NULL;

  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return weft_template_keep (data, json_to_string (node, FALSE));
}

/* Every context output as "NAME: OUTPUT", one per line. */
static const char *
weft_template_lookup_all_context (WeftTemplateLookupData *data)
{
  GString *all = g_string_new (NULL);
  guint n = weft_task_get_n_context (data->task);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (all, "%s%s: %s", i > 0 ? "\n" : "",
                            weft_task_get_context_name (data->task, i),
                            weft_task_get_context_output (data->task, i));
  return weft_template_keep (data, g_string_free (all, FALSE));
}

static const char *
weft_template_lookup_task (WeftTemplateLookupData *data, const char *key)
{
  WeftTask *task = data->task;

  if (strcmp (key, "prompt") == 0)
    return weft_task_get_prompt (task);
  if (strcmp (key, "description") == 0)
    return weft_task_get_description (task);
  if (strcmp (key, "task") == 0)
    return weft_task_get_name (task);
  if (strcmp (key, "attempt") == 0)
    return weft_template_keep (data, g_strdup_printf ("%u", weft_task_get_attempt (task)));
  if (strcmp (key, "run_id") == 0)
    return weft_task_get_run_id (task);
  if (strcmp (key, "flow") == 0)
    return weft_task_get_flow_name (task);
  if (strcmp (key, "context") == 0)
    return weft_template_lookup_all_context (data);
  if (g_str_has_prefix (key, "input."))
    return weft_template_lookup_input (data, key + strlen ("input."));
  if (g_str_has_prefix (key, "context."))
    return weft_task_lookup_context (task, key + strlen ("context."));
  return NULL;
}

/* Without a task (checking syntax at create) every key is answered. */
static const char *
weft_template_lookup (const char *key, gpointer user_data)
{
  WeftTemplateLookupData *data = user_data;
  const char *value = data->task != NULL ? weft_template_lookup_task (data, key) : "";

  if (value == NULL && data->unknown == NULL)
    data->unknown = g_strdup (key);
  return value;
}

static char *
weft_template_render_task (WeftTemplate *self, WeftTask *task, GError **error)
{
  WeftTemplateLookupData data = { task, g_ptr_array_new_with_free_func (g_free), NULL };
  g_autoptr(GError) local = NULL;
  char *output = weft_template_render (self->options->template, weft_template_lookup, &data,
                                       &local);

  if (output == NULL && data.unknown != NULL)
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                 "template: unknown key \"%s\" (known: prompt, description, task, attempt, "
                 "run_id, flow, context, input.NAME of a run input, context.NAME of a "
                 "task this one receives)", data.unknown);
  else if (output == NULL)
    g_propagate_prefixed_error (error, g_steal_pointer (&local), "template: ");
  g_ptr_array_unref (data.scratch);
  g_free (data.unknown);
  return output;
}

/* ------------------------------------------------------------------------ */
/* create                                                                   */

static gpointer
weft_template_create (const WeftConfig *config, GError **error)
{
  WeftTemplate self = { .options = weft_config_get_options (config) };
  g_autofree char *checked = NULL;
  g_autoptr(GError) local = NULL;

  /* Catch a malformed template (an unclosed brace) at load, not mid-run. */
  checked = weft_template_render_task (&self, NULL, &local);
  if (checked == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"template\": %s", local->message);
      return NULL;
    }
  return g_memdup2 (&self, sizeof self);
}

static void
weft_template_destroy (gpointer instance)
{
  g_free (instance);
}

/* ------------------------------------------------------------------------ */
/* Delayed return                                                           */

/* One delayed return.  Two things may finish it: the timeout (on the engine
 * loop) and the task's cancellable (on whatever thread cancels it).  The
 * first to flip `finished` returns the task; the other does nothing.
 *
 * References: run() holds one until it returns, the timeout source one, the
 * cancellable handler one (dropped by g_cancellable_disconnect, or when the
 * cancellable dies), and the clean-up idle one. */
typedef struct {
  gatomicrefcount ref_count;
  gint finished;              /* atomic: 0 until the task is returned     */
  WeftTask *task;             /* only touched by whoever sets `finished`  */
  char *output;
  GMainContext *context;
  GCancellable *cancellable;
  gulong handler_id;          /* only touched on the engine loop          */
  GSource *timeout;           /* only touched on the engine loop          */
} WeftTemplateDelay;

static WeftTemplateDelay *
weft_template_delay_ref (WeftTemplateDelay *delay)
{
  g_atomic_ref_count_inc (&delay->ref_count);
  return delay;
}

static void
weft_template_delay_unref (gpointer data)
{
  WeftTemplateDelay *delay = data;

  if (!g_atomic_ref_count_dec (&delay->ref_count))
    return;
  g_free (delay->output);
  g_clear_object (&delay->cancellable);
  g_clear_pointer (&delay->timeout, g_source_unref);
  g_main_context_unref (delay->context);
  g_free (delay);
}

static gboolean
weft_template_delay_claim (WeftTemplateDelay *delay)
{
  return g_atomic_int_compare_and_exchange (&delay->finished, 0, 1);
}

/* On the engine loop, after a cancellation: the handler cannot disconnect
 * itself (g_cancellable_disconnect from inside it deadlocks), so it is done
 * here, together with stopping the timer. */
static gboolean
weft_template_delay_cleanup (gpointer data)
{
  WeftTemplateDelay *delay = data;

  if (delay->timeout != NULL)
    g_source_destroy (delay->timeout);
  if (delay->handler_id != 0)
    g_cancellable_disconnect (delay->cancellable, delay->handler_id);
  delay->handler_id = 0;
  return G_SOURCE_REMOVE;
}

/* Any thread, possibly from inside g_cancellable_connect() in run(). */
static void
weft_template_delay_cancelled (GCancellable *cancellable, gpointer data)
{
  WeftTemplateDelay *delay = data;
  g_autoptr(GSource) idle = NULL;

  if (!weft_template_delay_claim (delay))
    return;
  weft_task_return_error (delay->task,
                          g_error_new_literal (WEFT_ERROR, WEFT_ERROR_CANCELLED,
                                               "template: cancelled while waiting for delay_ms"));
  /* Always a fresh idle, never g_main_context_invoke(): when cancelled on
   * the loop thread, invoke would run the clean-up inside this handler. */
  idle = g_idle_source_new ();
  g_source_set_callback (idle, weft_template_delay_cleanup,
                         weft_template_delay_ref (delay), weft_template_delay_unref);
  g_source_attach (idle, delay->context);
}

/* On the engine loop. */
static gboolean
weft_template_delay_elapsed (gpointer data)
{
  WeftTemplateDelay *delay = data;

  if (weft_template_delay_claim (delay))
    {
      /* Not inside the handler here, so disconnecting is safe; it waits
       * for a handler running on another thread, which will lose the
       * claim and return at once. */
      g_cancellable_disconnect (delay->cancellable, delay->handler_id);
      delay->handler_id = 0;
      weft_task_return (delay->task, delay->output);
    }
  return G_SOURCE_REMOVE;
}

static void
weft_template_return_later (WeftTemplate *self, WeftTask *task, char *output)
{
  WeftTemplateDelay *delay = g_new0 (WeftTemplateDelay, 1);

  g_atomic_ref_count_init (&delay->ref_count);
  delay->task = task;
  delay->output = output;
  delay->context = g_main_context_ref (weft_task_get_main_context (task));
  delay->cancellable = g_object_ref (weft_task_get_cancellable (task));

  /* Runs the handler at once when already cancelled, returning 0. */
  delay->handler_id = g_cancellable_connect (delay->cancellable,
                                             G_CALLBACK (weft_template_delay_cancelled),
                                             weft_template_delay_ref (delay),
                                             weft_template_delay_unref);
  if (!g_atomic_int_get (&delay->finished))
    {
      delay->timeout = g_timeout_source_new ((guint) self->options->delay_ms);
      g_source_set_callback (delay->timeout, weft_template_delay_elapsed,
                             weft_template_delay_ref (delay), weft_template_delay_unref);
      g_source_attach (delay->timeout, delay->context);
    }
  weft_template_delay_unref (delay);
}

/* ------------------------------------------------------------------------ */
/* run                                                                      */

/* On the engine loop: must not block. */
static void
weft_template_run (gpointer instance, WeftTask *task)
{
  WeftTemplate *self = instance;
  GError *error = NULL;
  char *output = weft_template_render_task (self, task, &error);

  if (output == NULL)
    weft_task_return_error (task, error);
  else if (self->options->delay_ms == 0)
    {
      weft_task_return (task, output);
      g_free (output);
    }
  else
    weft_template_return_later (self, task, output);
}

static const WeftAgentClass weft_template_class = {
  .flags = WEFT_AGENT_ASYNC,
  .run = weft_template_run,
  /* A turn is a task whose prompt is the message answered: the same run. */
  .converse = weft_template_run,
};

static const WeftPluginDescriptor weft_template_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_AGENT,
  .name = "template",
  .version = "0.1.0",
  .description = "Returns a template filled from the task (prompt, inputs, context), optionally after a delay",
  .options = weft_template_options,
  .options_size = sizeof (WeftTemplateOptions),
  .create = weft_template_create,
  .destroy = weft_template_destroy,
  .agent = &weft_template_class,
};

WEFT_PLUGIN_DEFINE (weft_template_descriptor)
