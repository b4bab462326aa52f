/* weft-template.c — "{key}" placeholders with "{{" / "}}" escapes.
 *
 * One scanner serves both rendering and key collection, so a template that
 * validates at load renders the same way at run time.  The keys of a task
 * template (an agent's WEFT_OPTION_TEMPLATE option) are named here too,
 * for the renderer (weft-attempt.c) and the check at load alike. */
#include "weft-private.h"

#include <string.h>

typedef gboolean (*WeftTemplateVisit) (const char *key, gpointer data, GString *out,
                                       GError **error);

static gboolean
weft_template_key_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '.' || c == '-';
}

/* Walks `tmpl`, copying literal text to `out` (when not NULL) and handing
 * every key to `visit`. */
static gboolean
weft_template_scan (const char *tmpl, WeftTemplateVisit visit, gpointer data,
                    GString *out, GError **error)
{
  const char *p = tmpl;

  while (*p)
    {
      if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}'))
        {
          if (out)
            g_string_append_c (out, p[0]);
          p += 2;
          continue;
        }
      if (p[0] == '}')
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "unmatched \"}\" at offset %td (write \"}}\" for a literal brace)",
                       p - tmpl);
          return FALSE;
        }
      if (p[0] != '{')
        {
          if (out)
            g_string_append_c (out, p[0]);
          p++;
          continue;
        }

      const char *start = p + 1;
      const char *end = start;
      while (weft_template_key_char (*end))
        end++;
      if (*end != '}' || end == start)
        {
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "bad placeholder at offset %td: expected {name} "
                       "(write \"{{\" for a literal brace)", p - tmpl);
          return FALSE;
        }
      g_autofree char *key = g_strndup (start, end - start);
      if (!visit (key, data, out, error))
        return FALSE;
      p = end + 1;
    }
  return TRUE;
}

typedef struct {
  WeftTemplateLookup lookup;
  gpointer user_data;
} WeftRenderData;

static gboolean
weft_template_visit_render (const char *key, gpointer data, GString *out, GError **error)
{
  WeftRenderData *rd = data;
  const char *value = rd->lookup (key, rd->user_data);

  if (value == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND,
                   "no value for placeholder {%s}", key);
      return FALSE;
    }
  g_string_append (out, value);
  return TRUE;
}

char *
weft_template_render (const char *tmpl, WeftTemplateLookup lookup, gpointer user_data,
                      GError **error)
{
  g_return_val_if_fail (tmpl != NULL, NULL);
  g_return_val_if_fail (lookup != NULL, NULL);

  WeftRenderData rd = { lookup, user_data };
  g_autoptr(GString) out = g_string_sized_new (strlen (tmpl) + 64);

  if (!weft_template_scan (tmpl, weft_template_visit_render, &rd, out, error))
    return NULL;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
weft_template_visit_collect (const char *key, gpointer data, GString *out, GError **error)
{
  GPtrArray *keys = data;

  for (guint i = 0; i < keys->len; i++)
    if (g_str_equal (keys->pdata[i], key))
      return TRUE;
  g_ptr_array_add (keys, g_strdup (key));
  return TRUE;
}

gboolean
weft_template_collect_keys (const char *tmpl, GPtrArray *keys, GError **error)
{
  return weft_template_scan (tmpl, weft_template_visit_collect, keys, NULL, error);
}

gboolean
weft_template_has_keys (const char *tmpl)
{
  /* Any brace at all means the text must go through the renderer, if only
   * to fold "{{" into "{". */
  return strpbrk (tmpl, "{}") != NULL;
}

WeftTaskKey
weft_task_key_parse (const char *key, const char **name)
{
  static const struct { const char *key; WeftTaskKey value; } plain[] = {
    { "prompt", WEFT_TASK_KEY_PROMPT }, { "description", WEFT_TASK_KEY_DESCRIPTION },
    { "task", WEFT_TASK_KEY_TASK }, { "attempt", WEFT_TASK_KEY_ATTEMPT },
    { "run_id", WEFT_TASK_KEY_RUN_ID }, { "flow", WEFT_TASK_KEY_FLOW },
    { "context", WEFT_TASK_KEY_CONTEXT_ALL },
  };

  *name = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (plain); i++)
    if (g_str_equal (key, plain[i].key))
      return plain[i].value;
  if (g_str_has_prefix (key, "input.") && key[strlen ("input.")] != '\0')
    {
      *name = key + strlen ("input.");
      return WEFT_TASK_KEY_INPUT;
    }
  if (g_str_has_prefix (key, "context.") && key[strlen ("context.")] != '\0')
    {
      *name = key + strlen ("context.");
      return WEFT_TASK_KEY_CONTEXT;
    }
  return WEFT_TASK_KEY_UNKNOWN;
}
