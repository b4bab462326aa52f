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
    .offset = offsetof (WeftTemplateOptions, template), .flags = WEFT_OPTION_TEMPLATE,
    .description = "output text; keys: prompt description task attempt run_id flow context "
                   "input.NAME context.NAME (in a conversation, prompt is the last message)" },
  { .name = "delay_ms", .type = WEFT_OPTION_INT, .default_json = "0", .min = 0, .max = G_MAXINT,
    .offset = offsetof (WeftTemplateOptions, delay_ms),
    .description = "milliseconds to wait (without holding a thread) before returning" },
  WEFT_OPTION_END
};

/* ------------------------------------------------------------------------ */
/* create                                                                   */

/* The template was checked when the flow loaded (WEFT_OPTION_TEMPLATE):
 * its syntax, and its keys against every task this agent does. */
static gpointer
weft_template_create (const WeftConfig *config, GError **error)
{
  WeftTemplate self = { .options = weft_config_get_options (config) };

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
  char *output = weft_task_render_template (task, self->options->template, &error);

  if (output == NULL)
    {
      g_prefix_error (&error, "template: ");
      weft_task_return_error (task, error);
    }
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
