/* weft-usage.c — the tokens a model used and what they cost, as agents
 * report them (weft_task_report_usage): summed per attempt, per task, per
 * run, and written in one JSON shape for events and runs alike
 * (docs/events.md).  Below everything: it calls nothing of weft's. */
#include "weft-private.h"

void
weft_usage_add (WeftUsage *sum, const WeftUsage *part)
{
  if (!part->reported)
    return;
  sum->prompt_tokens += part->prompt_tokens;
  sum->completion_tokens += part->completion_tokens;
  sum->cost += part->cost;
  sum->reported = TRUE;
  sum->priced |= part->priced;
}

JsonNode *
weft_usage_to_json (const WeftUsage *usage)
{
  JsonObject *o = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_int_member (o, "prompt_tokens", usage->prompt_tokens);
  json_object_set_int_member (o, "completion_tokens", usage->completion_tokens);
  json_object_set_int_member (o, "total_tokens", usage->prompt_tokens + usage->completion_tokens);
  if (usage->priced)
    json_object_set_double_member (o, "cost", usage->cost);
  else
    json_object_set_null_member (o, "cost");
  json_node_take_object (node, o);
  return node;
}
