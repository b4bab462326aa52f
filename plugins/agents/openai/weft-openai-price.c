/* weft-openai-price.c — the `prices` option: what a model's tokens cost.
 *
 *   "prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.60},
 *              "gpt-4o":      {"input": 2.50, "output": 10.00}}
 *
 * Per million tokens, in whatever unit the table's author counts in (the
 * examples, US dollars).  The agent prices each answer's usage with its
 * model's row and reports the cost with the tokens
 * (weft_task_report_usage); a model with no row reports tokens only.  The
 * whole table is checked when the flow loads. */
#include "weft-openai.h"

static gboolean
weft_openai_price_member (JsonObject *row, const char *model, const char *member, double *out,
                          GError **error)
{
  JsonNode *node = json_object_get_member (row, member);

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node)
      && (json_node_get_value_type (node) == G_TYPE_DOUBLE
          || json_node_get_value_type (node) == G_TYPE_INT64)
      && json_node_get_double (node) >= 0)
    {
      *out = json_node_get_double (node);
      return TRUE;
    }
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "option \"prices\": \"%s\" needs \"%s\": a price per million tokens, 0 or more",
               model, member);
  return FALSE;
}

static gboolean
weft_openai_price_row (JsonObject *prices, const char *model, WeftOpenaiPrice *price,
                       GError **error)
{
  JsonNode *node = json_object_get_member (prices, model);
  g_autoptr(GList) members = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "option \"prices\": \"%s\" must be "
                   "{\"input\": N, \"output\": N} (per million tokens)", model);
      return FALSE;
    }
  JsonObject *row = json_node_get_object (node);
  members = json_object_get_members (row);
  for (GList *m = members; m; m = m->next)
    if (!g_str_equal (m->data, "input") && !g_str_equal (m->data, "output"))
      {
        g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID, "option \"prices\": \"%s\": unknown "
                     "member \"%s\" (valid: input, output)", model, (const char *) m->data);
        return FALSE;
      }
  return weft_openai_price_member (row, model, "input", &price->input, error)
      && weft_openai_price_member (row, model, "output", &price->output, error);
}

gboolean
weft_openai_price_find (JsonObject *prices, const char *model, WeftOpenaiPrice *price,
                        GError **error)
{
  g_autoptr(GList) models = prices ? json_object_get_members (prices) : NULL;

  *price = (WeftOpenaiPrice) { 0 };
  for (GList *m = models; m; m = m->next)
    {
      WeftOpenaiPrice row;
      if (!weft_openai_price_row (prices, m->data, &row, error))
        return FALSE;
      if (g_str_equal (m->data, model))
        {
          *price = row;
          price->known = TRUE;
        }
    }
  return TRUE;
}

double
weft_openai_price_cost (const WeftOpenaiPrice *price, gint64 prompt_tokens,
                        gint64 completion_tokens)
{
  if (!price->known)
    return -1;
  return ((double) prompt_tokens * price->input + (double) completion_tokens * price->output)
         / 1e6;
}
