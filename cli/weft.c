/* weft.c — the `weft` command: picks a subcommand and hands it its
 * arguments.  Each subcommand parses its own options (GOptionContext). */
#include "weft-cli.h"

#include <locale.h>
#include <signal.h>
#include <string.h>

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

typedef struct {
  const char *name;
  const char *summary;
  WeftCliCommandFunc main;
} WeftCliCommand;

static const WeftCliCommand weft_cli_commands[] = {
  { "run",      "Run a flow and print its final outputs",       weft_cli_run_main },
  { "validate", "Check flows without running them",             weft_cli_validate_main },
  { "graph",    "Print or draw a flow's task graph (dot, mermaid, svg, png)", weft_cli_graph_main },
  { "plugins",  "List plugins, or show one plugin's options",   weft_cli_plugins_main },
  { "runs",     "Stored runs: list, show RUN, delete RUN, prune", weft_cli_runs_main },
  { "replay",   "Run a stored run again from one task (--from TASK)", weft_cli_replay_main },
  { "resume",   "Finish a stored run whose process died",      weft_cli_resume_main },
  { "serve",    "Serve flows over HTTP (runs, live events, background tasks)", weft_cli_serve_main },
  { "worker",   "Run queued runs from a store's queue (--store), until stopped", weft_cli_worker_main },
  { "workers",  "List the live workers of a store's queue", weft_cli_workers_main },
  { "chat",     "Talk with an agent of a flow; background tasks run meanwhile", weft_cli_chat_main },
};

static const WeftCliCommand *
weft_cli_find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (weft_cli_commands); i++)
    if (strcmp (weft_cli_commands[i].name, name) == 0)
      return &weft_cli_commands[i];
  return NULL;
}

/* The usage, to stdout (asked for) or through the writer of stderr. */
static void
weft_cli_print_usage (gboolean to_stdout)
{
  g_autoptr(GString) text = g_string_new (
    "Usage:\n"
    "  weft COMMAND [OPTION…] [ARGUMENT…]\n"
    "\n"
    "Run AI-agent workflows (flows) described in JSON.\n"
    "\n"
    "Commands:\n");

  for (guint i = 0; i < G_N_ELEMENTS (weft_cli_commands); i++)
    g_string_append_printf (text, "  %-10s %s\n", weft_cli_commands[i].name,
                            weft_cli_commands[i].summary);
  g_string_append_printf (text,
    "  %-10s %s\n"
    "\n"
    "Options:\n"
    "  -h, --help     Show this help\n"
    "  --version      Show the version\n"
    "\n"
    "Run 'weft COMMAND --help' for a command's options: 'weft run --help' says\n"
    "what a run shows on the terminal (-v/--verbose traces it, -q/--quiet keeps\n"
    "to errors and the result).\n",
    "help", "Show help for a command");
  if (to_stdout)
    fputs (text->str, stdout);
  else
    weft_cli_term_write (weft_cli_term (), text->str);
}

static gboolean
weft_cli_is_help_flag (const char *arg)
{
  return strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0
         || strcmp (arg, "-?") == 0;
}

/* `weft help [COMMAND]` */
static int
weft_cli_help (const char *name)
{
  const WeftCliCommand *command;
  char *argv[3];

  if (name == NULL)
    {
      weft_cli_print_usage (TRUE);
      return WEFT_CLI_EXIT_OK;
    }
  command = weft_cli_find_command (name);
  if (command == NULL)
    return weft_cli_usage_error (NULL, "unknown command '%s'", name);
  argv[0] = (char *) command->name;
  argv[1] = (char *) "--help";
  argv[2] = NULL;
  return command->main (argv);
}

/* GLib's log goes through the command's one writer, so that a warning
 * never lands on the status line.  Plugins' own warnings may quote their
 * config ("POST to URL failed"): what came from the environment is
 * redacted before it is written.  Below a warning, --quiet drops it. */
static GLogWriterOutput
weft_cli_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                     gpointer data)
{
  g_autofree GLogField *copy = g_new (GLogField, n_fields);
  g_autofree char *redacted = NULL;
  const char *domain = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      copy[i] = fields[i];
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0)
        domain = fields[i].value;
      if (redacted == NULL && g_str_equal (fields[i].key, "MESSAGE"))
        {
          g_autofree char *text = fields[i].length < 0
            ? g_strdup (fields[i].value)
            : g_strndup (fields[i].value, (gsize) fields[i].length);
          redacted = weft_secrets_redact (text);
          copy[i].value = redacted;
          copy[i].length = -1;
        }
    }
  if (g_log_writer_default_would_drop (level, domain))
    return G_LOG_WRITER_HANDLED;

  g_autofree char *line = g_log_writer_format_fields (level, copy, n_fields, FALSE);
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    weft_cli_term_write (weft_cli_term (), line);
  else
    weft_cli_term_note (weft_cli_term (), line);
  return G_LOG_WRITER_HANDLED;
}

/* What a flow's callbacks write to the terminal (weft_terminal_write). */
static void
weft_cli_terminal_writer (const char *lines, gpointer data)
{
  weft_cli_term_note (weft_cli_term (), lines);
}

int
main (int argc, char **argv)
{
  const WeftCliCommand *command;

  setlocale (LC_ALL, "");
  /* Numbers we print ("1.234s") and parse use a dot whatever the locale. */
  setlocale (LC_NUMERIC, "C");
  /* A plugin writing to a pipe whose reader has gone (a command that exits
   * without reading its input, `weft run … | head`) gets EPIPE, instead of
   * the whole process dying mid-run with its events undelivered. */
  signal (SIGPIPE, SIG_IGN);
  g_log_set_writer_func (weft_cli_log_writer, NULL, NULL);
  weft_terminal_set_writer (weft_cli_terminal_writer, NULL, NULL);

  if (argc < 2)
    {
      weft_cli_print_usage (FALSE);
      return WEFT_CLI_EXIT_USAGE;
    }
  if (weft_cli_is_help_flag (argv[1]))
    return weft_cli_help (NULL);
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("weft %s\n", WEFT_VERSION);
      return WEFT_CLI_EXIT_OK;
    }
  if (strcmp (argv[1], "help") == 0)
    return weft_cli_help (argc > 2 ? argv[2] : NULL);

  command = weft_cli_find_command (argv[1]);
  if (command == NULL)
    {
      if (argv[1][0] == '-')
        return weft_cli_usage_error (NULL, "unknown option '%s'", argv[1]);
      return weft_cli_usage_error (NULL, "unknown command '%s'", argv[1]);
    }
  return command->main (argv + 1);
}
