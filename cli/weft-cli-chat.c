/* weft-cli-chat.c — `weft chat FLOW [--agent NAME] [--thread ID]`: a
 * conversation with an agent of a flow, in a terminal or through pipes.
 *
 * The thread is libweft's (weft_thread_new, or weft_thread_open with
 * --thread); this file only reads lines and shows what the thread's
 * events say.  The engine listener copies each event of the thread and
 * hands it to the main loop, which prints; standard input is read on the
 * same loop, so the user types while the assistant answers and while
 * background tasks run.  On a terminal the last row is a status line
 * (the background tasks running, with their time so far) kept under a
 * scroll region, and Ctrl-C cancels the turn (twice: quits).  Otherwise
 * the output is plain lines, one per thing that happened, and the command
 * ends once its input has ended and the thread is idle with no task left
 * running: it can be scripted and tested. */
#include "weft-cli.h"

#include <glib-unix.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* What the screen shows of an event: copied on the engine loop. */
typedef struct {
  WeftEventType type;
  char *output;
  char *error;
  char *step_kind;
} WeftChatEvent;

typedef struct {
  WeftEngine *engine;
  WeftFlow *flow;
  const char *flow_path;
  WeftThread *thread;
  GMainLoop *loop;
  gboolean terminal;
  guint listener;
  GAsyncQueue *events;        /* WeftChatEvent*, from the engine loop */
  gint wake_pending;          /* atomic: an idle is on its way */
  GIOChannel *input;
  guint input_watch;
  gboolean input_done;
  gboolean streaming;         /* chunks of the answer under way are printed */
  gint64 last_sigint;
  char *status;               /* what the status line shows */
  int status_row;
  int exit_status;
} WeftChat;

static void
weft_chat_event_free (WeftChatEvent *e)
{
  g_free (e->output);
  g_free (e->error);
  g_free (e->step_kind);
  g_free (e);
}

/* ---- the screen ------------------------------------------------------------------ */

static int
weft_chat_rows (void)
{
  struct winsize ws;

  return ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2 ? ws.ws_row : 24;
}

/* On a terminal: the rows above the last scroll, the last is the status. */
static void
weft_chat_screen_start (WeftChat *chat)
{
  chat->status_row = weft_chat_rows ();
  printf ("\033[1;%dr\033[%d;1H", chat->status_row - 1, chat->status_row - 1);
  fflush (stdout);
}

static void
weft_chat_screen_end (WeftChat *chat)
{
  printf ("\0337\033[%d;1H\033[2K\0338\033[r\n", chat->status_row);
  fflush (stdout);
}

static void
weft_chat_draw_status (WeftChat *chat, const char *text)
{
  if (g_strcmp0 (text, chat->status) == 0)
    return;
  g_free (chat->status);
  chat->status = g_strdup (text);
  printf ("\0337\033[%d;1H\033[2K\033[7m%s\033[0m\0338", chat->status_row, text);
  fflush (stdout);
}

/* The prompt, when the thread waits for the user. */
static void
weft_chat_prompt (WeftChat *chat)
{
  if (chat->terminal && !weft_thread_is_busy (chat->thread))
    {
      fputs ("> ", stdout);
      fflush (stdout);
    }
}

static void
weft_chat_print (WeftChat *chat, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* A line of its own, after any answer being streamed. */
static void
weft_chat_print (WeftChat *chat, const char *format, ...)
{
  va_list args;

  if (chat->streaming)
    {
      fputc ('\n', stdout);
      chat->streaming = FALSE;
    }
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  weft_cli_put_text (stdout, text);
  fflush (stdout);
}

/* At most `max` characters of `text`, on one line. */
static char *
weft_chat_brief (const char *text, glong max)
{
  g_autofree char *line = g_strdup (text ? text : "");

  g_strdelimit (line, "\r\n", ' ');
  if (g_utf8_strlen (line, -1) <= max)
    return g_steal_pointer (&line);
  g_autofree char *cut = g_utf8_substring (line, 0, max);
  return g_strconcat (cut, "…", NULL);
}

/* ---- the thread's state ------------------------------------------------------------ */

static JsonObject *
weft_chat_state (WeftChat *chat)
{
  g_autoptr(JsonNode) node = weft_thread_to_json (chat->thread);

  return json_object_ref (json_node_get_object (node));
}

/* "t1 weather 3.2s" for each task running, or "" */
static char *
weft_chat_running_tasks (JsonObject *state, guint *n)
{
  JsonArray *tasks = json_object_get_array_member (state, "tasks");
  GString *out = g_string_new (NULL);

  *n = 0;
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *t = json_array_get_object_element (tasks, i);
      if (g_strcmp0 (weft_cli_member_string (t, "status"), "running") != 0)
        continue;
      g_string_append_printf (out, "%s%s %s %.1fs", (*n)++ ? "  " : "",
                              weft_cli_member_string (t, "task_id"),
                              weft_cli_member_string (t, "name"),
                              weft_cli_member_int (t, "duration_us") / 1e6);
    }
  return g_string_free (out, FALSE);
}

static gboolean
weft_chat_on_tick (gpointer data)
{
  WeftChat *chat = data;
  g_autoptr(JsonObject) state = weft_chat_state (chat);
  guint n;
  g_autofree char *running = weft_chat_running_tasks (state, &n);
  g_autofree char *text = n ? g_strdup_printf (" background: %s ", running)
                            : g_strdup (weft_thread_is_busy (chat->thread) ? " answering… " : "");

  if (chat->terminal)
    weft_chat_draw_status (chat, text);
  /* Piped: the input has ended; done once nothing is left to come. */
  else if (chat->input_done && n == 0 && !weft_thread_is_busy (chat->thread))
    g_main_loop_quit (chat->loop);
  return G_SOURCE_CONTINUE;
}

/* ---- what the thread does ------------------------------------------------------------ */

static void
weft_chat_show_message (WeftChat *chat, JsonObject *m)
{
  const char *role = weft_cli_member_string (m, "role");
  const char *content = weft_cli_member_string (m, "content");
  JsonNode *calls = json_object_get_member (m, "tool_calls");

  if (g_strcmp0 (role, "user") == 0)
    {
      /* A terminal shows what the user typed already. */
      if (!chat->terminal)
        weft_chat_print (chat, "you: %s", content ? content : "");
    }
  else if (g_strcmp0 (role, "assistant") == 0)
    {
      if (chat->streaming)
        {
          /* The answer was shown as it came. */
          fputc ('\n', stdout);
          chat->streaming = FALSE;
        }
      else if (content && *content)
        weft_chat_print (chat, "assistant: %s", content);
      for (guint i = 0; calls && JSON_NODE_HOLDS_ARRAY (calls)
                        && i < json_array_get_length (json_node_get_array (calls)); i++)
        {
          JsonObject *f = json_object_get_object_member (
            json_array_get_object_element (json_node_get_array (calls), i), "function");
          g_autofree char *args = weft_chat_brief (weft_cli_member_string (f, "arguments"), 120);
          weft_chat_print (chat, "  → %s %s", weft_cli_member_string (f, "name"), args);
        }
    }
  else if (g_strcmp0 (role, "tool") == 0)
    {
      g_autofree char *result = weft_chat_brief (content, 160);
      weft_chat_print (chat, "  ← %s", result);
    }
  else
    weft_chat_print (chat, "notice: %s", content ? content : "");
}

static void
weft_chat_show_task (WeftChat *chat, WeftChatEvent *e)
{
  g_autoptr(JsonNode) node = e->output ? json_from_string (e->output, NULL) : NULL;
  JsonObject *t = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;

  if (t == NULL)
    return;
  if (e->type == WEFT_EVENT_THREAD_TASK_STARTED)
    weft_chat_print (chat, "[%s %s started in the background]", weft_cli_member_string (t, "task_id"),
                     weft_cli_member_string (t, "name"));
  else
    weft_chat_print (chat, "[%s %s %s after %.1fs]", weft_cli_member_string (t, "task_id"),
                     weft_cli_member_string (t, "name"), weft_cli_member_string (t, "status"),
                     weft_cli_member_int (t, "duration_us") / 1e6);
}

static void
weft_chat_show (WeftChat *chat, WeftChatEvent *e)
{
  switch (e->type)
    {
    case WEFT_EVENT_THREAD_MESSAGE:
      {
        g_autoptr(JsonNode) node = e->output ? json_from_string (e->output, NULL) : NULL;
        if (node && JSON_NODE_HOLDS_OBJECT (node))
          weft_chat_show_message (chat, json_node_get_object (node));
        break;
      }
    case WEFT_EVENT_THREAD_STEP:
      if (g_strcmp0 (e->step_kind, "chunk") != 0)
        break;
      if (!chat->streaming)
        fputs ("assistant: ", stdout);
      chat->streaming = TRUE;
      fputs (e->output ? e->output : "", stdout);
      fflush (stdout);
      break;
    case WEFT_EVENT_THREAD_TURN_FINISHED:
      if (g_strcmp0 (e->output, "failed") == 0)
        weft_chat_print (chat, "error: %s", e->error ? e->error : "the turn failed");
      else if (g_strcmp0 (e->output, "completed") != 0)
        weft_chat_print (chat, "(turn %s)", e->output);
      weft_chat_prompt (chat);
      break;
    case WEFT_EVENT_THREAD_TASK_STARTED:
    case WEFT_EVENT_THREAD_TASK_FINISHED:
      weft_chat_show_task (chat, e);
      break;
    default:
      break;
    }
}

static gboolean
weft_chat_drain_events (gpointer data)
{
  WeftChat *chat = data;
  WeftChatEvent *e;

  g_atomic_int_set (&chat->wake_pending, 0);
  while ((e = g_async_queue_try_pop (chat->events)) != NULL)
    {
      weft_chat_show (chat, e);
      weft_chat_event_free (e);
    }
  return G_SOURCE_REMOVE;
}

/* Engine loop: must not block; the main loop prints. */
static void
weft_chat_on_event (const WeftEvent *event, gpointer data)
{
  WeftChat *chat = data;

  if (g_strcmp0 (weft_event_get_thread_id (event), weft_thread_get_id (chat->thread)) != 0)
    return;
  WeftChatEvent *e = g_new0 (WeftChatEvent, 1);
  e->type = weft_event_get_event_type (event);
  e->output = g_strdup (weft_event_get_output (event));
  e->error = g_strdup (weft_event_get_error (event));
  e->step_kind = g_strdup (weft_event_get_step_kind (event));
  g_async_queue_push (chat->events, e);
  if (g_atomic_int_compare_and_exchange (&chat->wake_pending, 0, 1))
    g_main_context_invoke (NULL, weft_chat_drain_events, chat);
}

/* ---- what the user types ------------------------------------------------------------ */

static void
weft_chat_list_tasks (WeftChat *chat)
{
  g_autoptr(JsonObject) state = weft_chat_state (chat);
  JsonArray *tasks = json_object_get_array_member (state, "tasks");

  if (json_array_get_length (tasks) == 0)
    weft_chat_print (chat, "no background tasks");
  for (guint i = 0; i < json_array_get_length (tasks); i++)
    {
      JsonObject *t = json_array_get_object_element (tasks, i);
      const char *result = weft_cli_member_string (t, "result");
      g_autofree char *brief = weft_chat_brief (result ? result : weft_cli_member_string (t, "error"),
                                                100);
      weft_chat_print (chat, "%s %s %s %.1fs%s%s", weft_cli_member_string (t, "task_id"),
                       weft_cli_member_string (t, "name"), weft_cli_member_string (t, "status"),
                       weft_cli_member_int (t, "duration_us") / 1e6, *brief ? ": " : "", brief);
    }
}

static void
weft_chat_history (WeftChat *chat)
{
  g_autoptr(JsonObject) state = weft_chat_state (chat);
  JsonArray *messages = json_object_get_array_member (state, "messages");

  for (guint i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *m = json_array_get_object_element (messages, i);
      const char *content = weft_cli_member_string (m, "content");
      weft_chat_print (chat, "%" G_GINT64_FORMAT " %s: %s", weft_cli_member_int (m, "seq"),
                       weft_cli_member_string (m, "role"),
                       content ? content : "(tool calls)");
    }
}

/* A line typed: a command, or a message for the thread. */
static void
weft_chat_take_line (WeftChat *chat, const char *line)
{
  g_autoptr(GError) error = NULL;

  if (*line == '\0')
    {
      weft_chat_prompt (chat);
      return;
    }
  if (g_str_equal (line, "/quit"))
    g_main_loop_quit (chat->loop);
  else if (g_str_equal (line, "/tasks"))
    weft_chat_list_tasks (chat);
  else if (g_str_equal (line, "/history"))
    weft_chat_history (chat);
  else if (g_str_has_prefix (line, "/cancel "))
    {
      if (weft_thread_cancel_task (chat->thread, line + strlen ("/cancel "), &error))
        weft_chat_print (chat, "(cancelling %s)", line + strlen ("/cancel "));
      else
        weft_chat_print (chat, "%s", error->message);
    }
  else if (*line == '/' && !g_str_has_prefix (line, "//"))
    weft_chat_print (chat, "commands: /tasks, /cancel ID, /history, /quit (//… sends a "
                     "message that starts with /)");
  else if (weft_thread_post (chat->thread, *line == '/' ? line + 1 : line, &error) == 0)
    weft_chat_print (chat, "(not sent: %s)", error->message);
}

static gboolean
weft_chat_on_input (GIOChannel *channel, GIOCondition condition, gpointer data)
{
  WeftChat *chat = data;
  g_autofree char *line = NULL;
  gsize terminator = 0;
  GIOStatus status = g_io_channel_read_line (channel, &line, NULL, &terminator, NULL);

  if (status == G_IO_STATUS_NORMAL && line != NULL)
    {
      line[terminator] = '\0';
      g_autofree char *valid = g_utf8_make_valid (line, -1);
      weft_chat_take_line (chat, valid);
      return G_SOURCE_CONTINUE;
    }
  if (status == G_IO_STATUS_AGAIN)
    return G_SOURCE_CONTINUE;
  /* The end of the input: on a terminal (Ctrl-D) that is a quit. */
  chat->input_done = TRUE;
  chat->input_watch = 0;
  if (chat->terminal)
    g_main_loop_quit (chat->loop);
  return G_SOURCE_REMOVE;
}

/* Ctrl-C: the turn in flight is cancelled; a second one (or one with
 * nothing to cancel) quits. */
static gboolean
weft_chat_on_sigint (gpointer data)
{
  WeftChat *chat = data;
  gint64 now = g_get_monotonic_time ();

  if (weft_thread_is_busy (chat->thread) && now - chat->last_sigint > 2 * G_USEC_PER_SEC)
    {
      chat->last_sigint = now;
      weft_thread_cancel_turn (chat->thread);
      weft_chat_print (chat, "(cancelling the answer; Ctrl-C again to quit)");
      return G_SOURCE_CONTINUE;
    }
  chat->exit_status = WEFT_CLI_EXIT_CANCELLED;
  g_main_loop_quit (chat->loop);
  return G_SOURCE_CONTINUE;
}

/* ---- the command ---------------------------------------------------------------------- */

static WeftThread *
weft_chat_open_thread (WeftFlow *flow, const char *agent, const char *strategy,
                       const char *thread_id, GError **error)
{
  if (thread_id != NULL)
    return weft_thread_open (flow, thread_id, error);
  g_autoptr(JsonObject) settings = json_object_new ();
  if (agent)
    json_object_set_string_member (settings, "agent", agent);
  if (strategy)
    json_object_set_string_member (settings, "strategy", strategy);
  return weft_thread_new (flow, settings, error);
}

static int
weft_chat_run (WeftChat *chat)
{
  g_autoptr(GSource) tick = g_timeout_source_new (chat->terminal ? 250 : 50);
  guint sigint = g_unix_signal_add (SIGINT, weft_chat_on_sigint, chat);

  chat->loop = g_main_loop_new (NULL, FALSE);
  chat->events = g_async_queue_new_full ((GDestroyNotify) weft_chat_event_free);
  chat->listener = weft_engine_add_listener (chat->engine, weft_chat_on_event, chat, NULL);
  chat->input = g_io_channel_unix_new (STDIN_FILENO);
  chat->input_watch = g_io_add_watch (chat->input, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      weft_chat_on_input, chat);
  g_source_set_callback (tick, weft_chat_on_tick, chat, NULL);
  g_source_attach (tick, NULL);
  if (chat->terminal)
    weft_chat_screen_start (chat);
  fprintf (stderr, "thread %s (go on later with: weft chat %s --thread %s)\n",
           weft_thread_get_id (chat->thread), chat->flow_path, weft_thread_get_id (chat->thread));
  if (chat->terminal)
    fputs ("Type a message; /tasks, /cancel ID, /history, /quit.\n", stdout);
  weft_chat_prompt (chat);

  g_main_loop_run (chat->loop);

  if (chat->terminal)
    weft_chat_screen_end (chat);
  g_source_destroy (tick);
  g_source_remove (sigint);
  if (chat->input_watch)
    g_source_remove (chat->input_watch);
  weft_engine_remove_listener (chat->engine, chat->listener);
  weft_chat_drain_events (chat);
  g_io_channel_unref (chat->input);
  g_async_queue_unref (chat->events);
  g_main_loop_unref (chat->loop);
  return chat->exit_status;
}

int
weft_cli_chat_main (char **argv)
{
  g_autofree char *agent = NULL;
  g_autofree char *strategy = NULL;
  g_autofree char *thread_id = NULL;
  g_auto(GStrv) plugin_dirs = NULL;
  g_auto(GStrv) args = NULL;
  g_autoptr(GError) error = NULL;
  GOptionEntry entries[] = {
    { "agent", 'a', 0, G_OPTION_ARG_STRING, &agent,
      "The agent to talk to (default: the flow's chat agent, or its only one that can)", "NAME" },
    { "thread", 0, 0, G_OPTION_ARG_STRING, &thread_id,
      "Go on with a thread the flow's store keeps", "ID" },
    { "strategy", 0, 0, G_OPTION_ARG_STRING, &strategy,
      "A message sent while the assistant answers: enqueue, interrupt or reject", "S" },
    { "plugin-dir", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_dirs,
      "Load plugins from DIR first (repeatable)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("FLOW");
  g_option_context_set_summary (context, "Talk with an agent of FLOW; background tasks run while "
                                "you type (docs/conversations.md).");
  g_option_context_add_main_entries (context, entries, NULL);
  int status = weft_cli_parse_options (context, argv, &args);
  if (status >= 0)
    return status;
  if (g_strv_length (args) != 1)
    return weft_cli_usage_error ("chat", "give one FLOW file");
  if (thread_id != NULL && (agent != NULL || strategy != NULL))
    return weft_cli_usage_error ("chat", "--thread goes on with a thread's own settings: "
                                 "--agent and --strategy do not apply");

  g_autoptr(WeftEngine) engine = weft_cli_open_engine (0, plugin_dirs, &error);
  if (engine == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  WeftChat chat = { .engine = engine, .flow_path = args[0],
                    .terminal = isatty (STDIN_FILENO) && isatty (STDOUT_FILENO) };
  chat.flow = weft_flow_load_file (engine, args[0], &error);
  if (chat.flow == NULL)
    return weft_cli_fail (error, WEFT_CLI_EXIT_USAGE);
  chat.thread = weft_chat_open_thread (chat.flow, agent, strategy, thread_id, &error);
  if (chat.thread == NULL)
    {
      weft_flow_unref (chat.flow);
      return weft_cli_fail (error, thread_id ? WEFT_CLI_EXIT_FAILED : WEFT_CLI_EXIT_USAGE);
    }
  status = weft_chat_run (&chat);
  /* The thread is kept (not closed): its store has it for --thread. */
  weft_engine_shutdown (engine, 5000);
  weft_thread_unref (chat.thread);
  weft_flow_unref (chat.flow);
  g_free (chat.status);
  return status;
}
