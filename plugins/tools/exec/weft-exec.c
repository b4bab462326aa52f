/* weft-exec.c — a tool that runs a fixed command with arguments the model
 * chooses within declared parameters.
 *
 * The flow fixes the program and its first arguments (`command`) and
 * declares named parameters (`arguments`: type, description, enum, flag).
 * The model's arguments are checked against them, then become flags
 * (`--name=value`, `--name` for true) and positional arguments; nothing
 * goes through a shell.  stdout is the result; a non-zero exit is an error
 * with the end of stderr.
 *
 * A blocking tool: invoke() runs on a worker thread, where the SDK's
 * weft_command_run() waits for the command.  The child gets its own
 * process group, so a timeout, a cancelled task or too much output kills
 * everything it started.
 */
#include <weft/weft-sdk.h>

#include <math.h>
#include <string.h>

/* Enough of stderr to explain a failure without flooding the model. */
#define WEFT_EXEC_MAX_STDERR 2048

typedef enum {
  WEFT_EXEC_STRING,
  WEFT_EXEC_INTEGER,
  WEFT_EXEC_NUMBER,
  WEFT_EXEC_BOOLEAN,
} WeftExecType;

static const char *const weft_exec_type_names[] = { "string", "integer", "number", "boolean", NULL };
static const char *const weft_exec_param_keys[] = { "type", "description", "enum", "flag",
                                                    "required", NULL };

typedef struct {
  char *name;
  WeftExecType type;
  char *flag;                 /* NULL: positional                         */
  char **choices;             /* the enum as argument text, or NULL       */
  gboolean required;
} WeftExecParam;

typedef struct {
  char **command;             /* the fixed argv prefix                    */
  GPtrArray *params;          /* WeftExecParam, in declared order         */
  GPtrArray *positional;      /* borrowed from params, in argv order      */
  char *schema;               /* what the model is shown                  */
  char **env;                 /* "NAME=value" added for the command       */
  char *cwd;
  guint timeout_ms;
  gint64 max_output;
} WeftExecTool;

/* The options, as weft binds them (see weft_exec_options). */
typedef struct {
  const char * const *command;
  JsonObject *arguments;
  const char * const *positional;
  const char *cwd;
  JsonObject *env;
  double timeout_s;
  gint64 max_output_bytes;
} WeftExecToolOptions;

static const WeftOption weft_exec_options[] = {
  { .name = "command", .type = WEFT_OPTION_STRING_LIST, .required = TRUE,
    .offset = offsetof (WeftExecToolOptions, command),
    .description = "the program and its fixed first arguments, e.g. [\"git\", \"log\"]" },
  { .name = "arguments", .type = WEFT_OPTION_OBJECT, .default_json = "{}",
    .offset = offsetof (WeftExecToolOptions, arguments),
    .description = "the parameters the model may give: name -> {type, description, enum, "
                   "flag, required}" },
  { .name = "positional", .type = WEFT_OPTION_STRING_LIST, .default_json = "[]",
    .offset = offsetof (WeftExecToolOptions, positional),
    .description = "parameters passed as plain arguments, in this order, after the flags" },
  { .name = "cwd", .type = WEFT_OPTION_STRING, .flags = WEFT_OPTION_NOT_EMPTY,
    .offset = offsetof (WeftExecToolOptions, cwd),
    .description = "working directory (default: the engine's)" },
  { .name = "env", .type = WEFT_OPTION_OBJECT, .offset = offsetof (WeftExecToolOptions, env),
    .description = "environment variables (name: string value) added for the command" },
  /* At most G_MAXUINT ms: the time limit is a guint of milliseconds. */
  { .name = "timeout_s", .type = WEFT_OPTION_DOUBLE, .default_json = "60", .min = 0.001,
    .max = G_MAXUINT / 1000, .offset = offsetof (WeftExecToolOptions, timeout_s),
    .description = "time limit of one call; the command is killed after it" },
  { .name = "max_output_bytes", .type = WEFT_OPTION_INT, .default_json = "1048576", .min = 1,
    .max = INFINITY, .offset = offsetof (WeftExecToolOptions, max_output_bytes),
    .description = "read at most this much stdout; the command is then stopped and the output "
                   "cut, with a note" },
  WEFT_OPTION_END
};

/* ------------------------------------------------------------------------ */
/* Instances                                                                */

static void
weft_exec_param_free (gpointer data)
{
  WeftExecParam *p = data;

  g_free (p->name);
  g_free (p->flag);
  g_strfreev (p->choices);
  g_free (p);
}

static void
weft_exec_tool_free (WeftExecTool *self)
{
  g_strfreev (self->command);
  g_clear_pointer (&self->positional, g_ptr_array_unref);
  g_clear_pointer (&self->params, g_ptr_array_unref);
  g_free (self->schema);
  g_strfreev (self->env);
  g_free (self->cwd);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftExecTool, weft_exec_tool_free)

static WeftExecParam *
weft_exec_find_param (WeftExecTool *self, const char *name)
{
  for (guint i = 0; i < self->params->len; i++)
    if (g_str_equal (((WeftExecParam *) self->params->pdata[i])->name, name))
      return self->params->pdata[i];
  return NULL;
}

/* "a, b, c" of the declared parameters' names. */
static char *
weft_exec_param_names (WeftExecTool *self)
{
  g_autoptr(GString) names = g_string_new (NULL);

  for (guint i = 0; i < self->params->len; i++)
    g_string_append_printf (names, "%s\"%s\"", i > 0 ? ", " : "",
                            ((WeftExecParam *) self->params->pdata[i])->name);
  return g_string_free (g_steal_pointer (&names), self->params->len == 0);
}

/* ------------------------------------------------------------------------ */
/* Values: one JSON value of a parameter as one argument                    */

static gboolean
weft_exec_node_is (JsonNode *node, GType type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* The value as the text of an argument, or NULL when it is not of the
 * parameter's type.  An integer may come as 3.0; a number as 3. */
static char *
weft_exec_value_text (WeftExecType type, JsonNode *node)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  double d;

  switch (type)
    {
    case WEFT_EXEC_STRING:
      return weft_exec_node_is (node, G_TYPE_STRING) ? g_strdup (json_node_get_string (node)) : NULL;
    case WEFT_EXEC_BOOLEAN:
      return weft_exec_node_is (node, G_TYPE_BOOLEAN)
             ? g_strdup (json_node_get_boolean (node) ? "true" : "false") : NULL;
    case WEFT_EXEC_INTEGER:
    case WEFT_EXEC_NUMBER:
    default:
      if (weft_exec_node_is (node, G_TYPE_INT64))
        return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
      if (!weft_exec_node_is (node, G_TYPE_DOUBLE) || !isfinite (d = json_node_get_double (node)))
        return NULL;
      if (type == WEFT_EXEC_NUMBER)
        return g_strdup (g_ascii_dtostr (buffer, sizeof buffer, d));
      if (d != floor (d) || fabs (d) > 9007199254740992.0)
        return NULL;
      return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) d);
    }
}

/* ------------------------------------------------------------------------ */
/* create: the declared parameters                                          */

static gboolean
weft_exec_parse_type (const char *name, JsonObject *decl, WeftExecType *type, GError **error)
{
  JsonNode *node = json_object_get_member (decl, "type");
  const char *text = weft_exec_node_is (node, G_TYPE_STRING) ? json_node_get_string (node) : "";

  for (guint i = 0; weft_exec_type_names[i] != NULL; i++)
    if (g_str_equal (text, weft_exec_type_names[i]))
      {
        *type = (WeftExecType) i;
        return TRUE;
      }
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "option \"arguments\": \"%s\".type must be \"string\", \"integer\", \"number\""
               " or \"boolean\"", name);
  return FALSE;
}

static gboolean
weft_exec_parse_enum (WeftExecParam *p, JsonObject *decl, GError **error)
{
  JsonNode *node = json_object_get_member (decl, "enum");
  g_autoptr(GStrvBuilder) choices = g_strv_builder_new ();
  JsonArray *array;

  if (node == NULL)
    return TRUE;
  array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *text = weft_exec_value_text (p->type,
                                                    json_array_get_element (array, i));
      if (text == NULL)
        {
          array = NULL;
          break;
        }
      g_strv_builder_add (choices, text);
    }
  if (array == NULL || json_array_get_length (array) == 0)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"arguments\": \"%s\".enum must be a non-empty list of %s values",
                   p->name, weft_exec_type_names[p->type]);
      return FALSE;
    }
  p->choices = g_strv_builder_end (choices);
  return TRUE;
}

static gboolean
weft_exec_check_keys (const char *name, JsonObject *decl, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (decl);

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (weft_exec_param_keys, l->data))
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                     "option \"arguments\": \"%s\" has an unknown key \"%s\" (valid: type,"
                     " description, enum, flag, required)", name, (const char *) l->data);
        return FALSE;
      }
  return TRUE;
}

static gboolean
weft_exec_parse_flag (WeftExecParam *p, JsonObject *decl, GError **error)
{
  JsonNode *flag = json_object_get_member (decl, "flag");
  JsonNode *required = json_object_get_member (decl, "required");

  if (flag != NULL && (!weft_exec_node_is (flag, G_TYPE_STRING)
                       || json_node_get_string (flag)[0] != '-'
                       || json_node_get_string (flag)[1] == '\0'))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"arguments\": \"%s\".flag must be a string starting with \"-\","
                   " such as \"--%s\"", p->name, p->name);
      return FALSE;
    }
  if (required != NULL && !weft_exec_node_is (required, G_TYPE_BOOLEAN))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "option \"arguments\": \"%s\".required must be true or false", p->name);
      return FALSE;
    }
  p->flag = flag != NULL ? g_strdup (json_node_get_string (flag))
                         : g_strconcat ("--", p->name, NULL);
  p->required = required != NULL && json_node_get_boolean (required);
  return TRUE;
}

static WeftExecParam *
weft_exec_parse_param (const char *name, JsonNode *node, GError **error)
{
  WeftExecParam *p = g_new0 (WeftExecParam, 1);
  JsonObject *decl = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  JsonNode *description = decl != NULL ? json_object_get_member (decl, "description") : NULL;

  p->name = g_strdup (name);
  if (decl == NULL || *name == '\0')
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                 "option \"arguments\": \"%s\" must be a non-empty name with an object such as"
                 " {\"type\": \"string\", \"description\": \"...\"}", name);
  else if (description != NULL && !weft_exec_node_is (description, G_TYPE_STRING))
    g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                 "option \"arguments\": \"%s\".description must be a string", name);
  else if (weft_exec_check_keys (name, decl, error)
           && weft_exec_parse_type (name, decl, &p->type, error)
           && weft_exec_parse_enum (p, decl, error)
           && weft_exec_parse_flag (p, decl, error))
    return p;
  weft_exec_param_free (p);
  return NULL;
}

static gboolean
weft_exec_set_params (WeftExecTool *self, JsonObject *arguments, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (arguments);

  self->params = g_ptr_array_new_with_free_func (weft_exec_param_free);
  for (GList *l = members; l != NULL; l = l->next)
    {
      WeftExecParam *p = weft_exec_parse_param (l->data,
                                                json_object_get_member (arguments, l->data),
                                                error);
      if (p == NULL)
        return FALSE;
      g_ptr_array_add (self->params, p);
    }
  return TRUE;
}

/* Positional parameters: declared, without a flag of their own, listed
 * once; always required (a gap in positional arguments has no meaning). */
static gboolean
weft_exec_set_positional (WeftExecTool *self, const char * const *names, JsonObject *arguments,
                          GError **error)
{
  self->positional = g_ptr_array_new ();
  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      WeftExecParam *p = weft_exec_find_param (self, names[i]);
      JsonNode *decl = json_object_get_member (arguments, names[i]);

      if (p == NULL || p->flag == NULL)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"positional\": \"%s\" is not a parameter declared in"
                       " \"arguments\" (or is listed twice)", names[i]);
          return FALSE;
        }
      if (json_object_has_member (json_node_get_object (decl), "flag"))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "option \"positional\": \"%s\" has a \"flag\"; a parameter is either"
                       " a flag or positional", names[i]);
          return FALSE;
        }
      g_clear_pointer (&p->flag, g_free);
      p->required = TRUE;
      g_ptr_array_add (self->positional, p);
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* create: the schema the model sees                                        */

static void
weft_exec_schema_property (JsonBuilder *b, WeftExecParam *p, JsonObject *decl)
{
  json_builder_set_member_name (b, p->name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, weft_exec_type_names[p->type]);
  if (json_object_has_member (decl, "description"))
    {
      json_builder_set_member_name (b, "description");
      json_builder_add_string_value (b, json_object_get_string_member (decl, "description"));
    }
  if (json_object_has_member (decl, "enum"))
    {
      json_builder_set_member_name (b, "enum");
      json_builder_add_value (b, json_node_copy (json_object_get_member (decl, "enum")));
    }
  json_builder_end_object (b);
}

static char *
weft_exec_build_schema (WeftExecTool *self, JsonObject *arguments)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "object");
  json_builder_set_member_name (b, "properties");
  json_builder_begin_object (b);
  for (guint i = 0; i < self->params->len; i++)
    {
      WeftExecParam *p = self->params->pdata[i];
      weft_exec_schema_property (b, p, json_object_get_object_member (arguments, p->name));
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "required");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->params->len; i++)
    if (((WeftExecParam *) self->params->pdata[i])->required)
      json_builder_add_string_value (b, ((WeftExecParam *) self->params->pdata[i])->name);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "additionalProperties");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* ------------------------------------------------------------------------ */
/* create: the rest                                                         */

static gboolean
weft_exec_set_basics (WeftExecTool *self, const WeftExecToolOptions *options, GError **error)
{
  const char * const *command = options->command;

  if (command == NULL || command[0] == NULL || *command[0] == '\0')
    g_set_error_literal (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                         "option \"command\": must name a program (it is empty)");
  else
    {
      self->command = g_strdupv ((char **) command);
      self->timeout_ms = (guint) ceil (options->timeout_s * 1000.0);
      self->max_output = options->max_output_bytes;
      self->cwd = g_strdup (options->cwd);
      return TRUE;
    }
  return FALSE;
}

static gpointer
weft_exec_create (const WeftConfig *config, GError **error)
{
  g_autoptr(WeftExecTool) self = g_new0 (WeftExecTool, 1);
  const WeftExecToolOptions *options = weft_config_get_options (config);

  if (!weft_exec_set_basics (self, options, error))
    return NULL;
  self->env = weft_command_env_from_option (options->env, error);
  if (self->env == NULL
      || !weft_exec_set_params (self, options->arguments, error)
      || !weft_exec_set_positional (self, options->positional, options->arguments, error))
    return NULL;
  self->schema = weft_exec_build_schema (self, options->arguments);
  return g_steal_pointer (&self);
}

static void
weft_exec_destroy (gpointer instance)
{
  weft_exec_tool_free (instance);
}

static const char *
weft_exec_instance_schema (gpointer instance)
{
  return ((WeftExecTool *) instance)->schema;
}

/* ------------------------------------------------------------------------ */
/* invoke: the model's arguments to argv                                    */

/* One parameter's value as argument text, checked against its enum. */
static char *
weft_exec_param_value (WeftExecParam *p, JsonNode *node, GError **error)
{
  g_autofree char *text = weft_exec_value_text (p->type, node);
  g_autofree char *given = json_to_string (node, FALSE);
  g_autofree char *choices = NULL;

  if (text == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "parameter \"%s\" must be %s %s, not %s", p->name,
                   p->type == WEFT_EXEC_INTEGER ? "an" : "a",
                   weft_exec_type_names[p->type], given);
      return NULL;
    }
  if (p->choices != NULL && !g_strv_contains ((const char * const *) p->choices, text))
    {
      choices = g_strjoinv ("\", \"", p->choices);
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "parameter \"%s\" must be one of \"%s\", not %s", p->name, choices, given);
      return NULL;
    }
  /* A free-form positional text must not pass for an option. */
  if (p->flag == NULL && p->type == WEFT_EXEC_STRING && p->choices == NULL && text[0] == '-')
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                   "parameter \"%s\" must not start with \"-\", not %s", p->name, given);
      return NULL;
    }
  return g_steal_pointer (&text);
}

static gboolean
weft_exec_check_arguments (WeftExecTool *self, JsonObject *args, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (args);

  for (GList *l = members; l != NULL; l = l->next)
    if (weft_exec_find_param (self, l->data) == NULL)
      {
        g_autofree char *names = weft_exec_param_names (self);
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                     "unknown parameter \"%s\"; %s%s", (const char *) l->data,
                     names != NULL ? "the parameters are " : "this tool takes no parameters",
                     names != NULL ? names : "");
        return FALSE;
      }
  for (guint i = 0; i < self->params->len; i++)
    {
      WeftExecParam *p = self->params->pdata[i];
      if (p->required && !json_object_has_member (args, p->name))
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "parameter \"%s\" is required", p->name);
          return FALSE;
        }
    }
  return TRUE;
}

/* A flag: `--name=value`, `-n value`, or `--name` alone for true. */
static void
weft_exec_add_flag (GStrvBuilder *argv, WeftExecParam *p, const char *value)
{
  g_autofree char *joined = NULL;

  if (p->type == WEFT_EXEC_BOOLEAN)
    {
      if (g_str_equal (value, "true"))
        g_strv_builder_add (argv, p->flag);
      return;
    }
  if (g_str_has_prefix (p->flag, "--"))
    {
      joined = g_strconcat (p->flag, "=", value, NULL);
      g_strv_builder_add (argv, joined);
      return;
    }
  g_strv_builder_add (argv, p->flag);
  g_strv_builder_add (argv, value);
}

static char **
weft_exec_build_argv (WeftExecTool *self, JsonObject *args, GError **error)
{
  g_autoptr(GStrvBuilder) argv = g_strv_builder_new ();

  if (!weft_exec_check_arguments (self, args, error))
    return NULL;
  g_strv_builder_addv (argv, (const char **) self->command);
  for (guint i = 0; i < self->params->len; i++)
    {
      WeftExecParam *p = self->params->pdata[i];
      g_autofree char *value = NULL;

      if (p->flag == NULL || !json_object_has_member (args, p->name))
        continue;
      value = weft_exec_param_value (p, json_object_get_member (args, p->name), error);
      if (value == NULL)
        return NULL;
      weft_exec_add_flag (argv, p, value);
    }
  for (guint i = 0; i < self->positional->len; i++)
    {
      WeftExecParam *p = self->positional->pdata[i];
      g_autofree char *value = weft_exec_param_value (p, json_object_get_member (args, p->name),
                                                      error);
      if (value == NULL)
        return NULL;
      g_strv_builder_add (argv, value);
    }
  return g_strv_builder_end (argv);
}

/* ------------------------------------------------------------------------ */
/* invoke: running it                                                       */

/* stdout as text, one final newline dropped; when cut, what was read with
 * a note, and no complaint about how the command (stopped by us) ended. */
static char *
weft_exec_output (WeftExecTool *self, WeftCommandResult *result, gboolean cut)
{
  g_autofree char *text = g_steal_pointer (&result->stdout_text);
  gsize len = strlen (text);

  if (cut)
    return g_strdup_printf ("%s\n\n[weft exec: the output was cut after %" G_GINT64_FORMAT
                            " bytes (max_output_bytes) and the command stopped]",
                            text, self->max_output);
  if (len > 0 && text[len - 1] == '\n')
    text[len - 1] = '\0';
  return g_steal_pointer (&text);
}

static char *
weft_exec_run (WeftExecTool *self, char **argv, GCancellable *cancellable, GError **error)
{
  WeftCommand command = {
    .argv = (const char * const *) argv,
    .env = (const char * const *) self->env,
    .cwd = self->cwd,
    .timeout_ms = self->timeout_ms,
    .max_output = (gsize) self->max_output,
    .max_stderr = WEFT_EXEC_MAX_STDERR,
  };
  g_auto(WeftCommandResult) result = { 0 };
  g_autoptr(GError) local = NULL;

  if (!weft_command_run (&command, cancellable, &result, &local))
    {
      /* Only max_output fills a result on failure: the output is cut,
       * which is a result for the model, not an error. */
      if (result.stdout_text != NULL)
        return weft_exec_output (self, &result, TRUE);
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  if (!weft_command_result_succeeded (&result))
    {
      g_autofree char *display = weft_command_display (command.argv);
      g_autofree char *why = weft_command_result_describe (&result);

      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "command \"%s\" %s", display, why);
      return NULL;
    }
  return weft_exec_output (self, &result, FALSE);
}

static void
weft_exec_invoke (gpointer instance, WeftToolCall *call)
{
  WeftExecTool *self = instance;
  GError *error = NULL;
  g_auto(GStrv) argv = weft_exec_build_argv (self, weft_tool_call_get_arguments (call), &error);
  g_autofree char *output = argv != NULL
    ? weft_exec_run (self, argv, weft_tool_call_get_cancellable (call), &error) : NULL;

  if (output != NULL)
    weft_tool_call_return (call, output);
  else
    weft_tool_call_return_error (call, error);
}

/* ------------------------------------------------------------------------ */

static const WeftToolClass weft_exec_class = {
  .arguments_schema = NULL,   /* instance_schema: built from "arguments" */
  .invoke = weft_exec_invoke,
  .instance_schema = weft_exec_instance_schema,
};

static const WeftPluginDescriptor weft_exec_descriptor = {
  .abi_major = WEFT_ABI_MAJOR,
  .abi_minor = WEFT_ABI_MINOR,
  .kind = WEFT_PLUGIN_TOOL,
  .name = "exec",
  .version = "0.1.0",
  .description = "Runs a fixed command with the arguments its parameters allow; stdout is the result",
  .options = weft_exec_options,
  .options_size = sizeof (WeftExecToolOptions),
  .create = weft_exec_create,
  .destroy = weft_exec_destroy,
  .tool = &weft_exec_class,
};

WEFT_PLUGIN_DEFINE (weft_exec_descriptor)
