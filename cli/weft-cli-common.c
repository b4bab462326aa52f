/* weft-cli-common.c — option parsing, errors, engine setup and small
 * output helpers shared by the subcommands. */
#include "weft-cli.h"

#include <string.h>
#include <unistd.h>

WeftCliTerm *
weft_cli_term (void)
{
  static WeftCliTerm *term;
  static gsize made;

  if (g_once_init_enter (&made))
    {
      gboolean terminal = isatty (STDERR_FILENO)
                          && g_strcmp0 (g_getenv ("TERM"), "dumb") != 0;
      term = weft_cli_term_new (stderr, terminal, 0);
      g_once_init_leave (&made, 1);
    }
  return term;
}

void
weft_cli_printerr (const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  weft_cli_term_write (weft_cli_term (), text);
}

int
weft_cli_fail (const GError *error, int status)
{
  weft_cli_printerr ("weft: %s", error ? error->message : "unknown error");
  return status;
}

int
weft_cli_usage_error (const char *command, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  if (command != NULL)
    weft_cli_printerr ("weft: %s\nRun 'weft %s --help' for usage.", message, command);
  else
    weft_cli_printerr ("weft: %s\nRun 'weft --help' for usage.", message);
  return WEFT_CLI_EXIT_USAGE;
}

int
weft_cli_check_range (const char *command, const char *option, gint64 value, gint64 min,
                      gint64 max)
{
  if (value >= min && value <= max)
    return -1;
  return weft_cli_usage_error (command, "%s must be from %" G_GINT64_FORMAT " to %"
                               G_GINT64_FORMAT ", not %" G_GINT64_FORMAT, option, min, max,
                               value);
}

static void
weft_cli_print_help (GOptionContext *context)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

  fputs (help, stdout);
}

/* Everything after the command name in `parsed`, as a new vector. */
static GStrv
weft_cli_positional_args (char **parsed)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 1; parsed[0] != NULL && parsed[i] != NULL; i++)
    g_strv_builder_add (builder, parsed[i]);
  return g_strv_builder_end (builder);
}

int
weft_cli_parse_options (GOptionContext *context, char **argv, GStrv *positional)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = g_strdupv (argv);
  g_autofree char *prgname = g_strdup_printf ("weft %s", argv[0]);
  gboolean help = FALSE;
  const GOptionEntry help_entries[] = {
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help", NULL },
    G_OPTION_ENTRY_NULL
  };

  /* The usage line of the help text reads "weft COMMAND [OPTION…] ...". */
  g_set_prgname (prgname);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_add_main_entries (context, help_entries, NULL);

  if (!g_option_context_parse_strv (context, &args, &error))
    return weft_cli_usage_error (argv[0], "%s", error->message);
  if (help)
    {
      weft_cli_print_help (context);
      return WEFT_CLI_EXIT_OK;
    }
  *positional = weft_cli_positional_args (args);
  return -1;
}

WeftEngine *
weft_cli_open_engine (guint n_threads, char **plugin_dirs, GError **error)
{
  g_autoptr(WeftEngine) engine = weft_engine_new (n_threads);
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  gboolean ok;

  ok = weft_engine_load_plugins (engine, (const char * const *) plugin_dirs,
                                 warnings, error);
  for (guint i = 0; i < warnings->len; i++)
    weft_cli_printerr ("weft: warning: %s", (const char *) warnings->pdata[i]);
  if (!ok)
    return NULL;
  return g_steal_pointer (&engine);
}

void
weft_cli_put_text (FILE *stream, const char *text)
{
  size_t len = text ? strlen (text) : 0;

  if (len > 0)
    fwrite (text, 1, len, stream);
  if (len == 0 || text[len - 1] != '\n')
    fputc ('\n', stream);
}

const char *
weft_cli_separator (void)
{
  static int utf8 = -1;

  if (utf8 < 0)
    utf8 = g_get_charset (NULL) ? 1 : 0;
  return utf8 ? "·" : "-";
}

char *
weft_cli_count (guint n, const char *singular, const char *plural)
{
  return g_strdup_printf ("%u %s", n, n == 1 ? singular : plural);
}

static guint
weft_cli_column_width (GPtrArray *rows, guint column)
{
  guint width = 0;

  for (guint r = 0; r < rows->len; r++)
    {
      char **row = rows->pdata[r];

      if (column < g_strv_length (row))
        width = MAX (width, (guint) g_utf8_strlen (row[column], -1));
    }
  return width;
}

void
weft_cli_print_table (FILE *stream, const char *indent, GPtrArray *rows)
{
  guint n_columns = 0;
  g_autofree guint *widths = NULL;

  for (guint r = 0; r < rows->len; r++)
    n_columns = MAX (n_columns, g_strv_length (rows->pdata[r]));
  widths = g_new0 (guint, n_columns + 1);
  for (guint c = 0; c < n_columns; c++)
    widths[c] = weft_cli_column_width (rows, c);

  for (guint r = 0; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      g_autoptr(GString) line = g_string_new (indent);

      for (guint c = 0; row[c] != NULL; c++)
        {
          g_string_append (line, row[c]);
          if (row[c + 1] == NULL)
            break;
          for (guint pad = g_utf8_strlen (row[c], -1); pad < widths[c] + 2; pad++)
            g_string_append_c (line, ' ');
        }
      fprintf (stream, "%s\n", line->str);
    }
}
