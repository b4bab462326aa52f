/* weft-openai-chat.c — a thread's history as a chat-completions request's
 * messages (the openai agent's converse(), weft-openai.c).
 *
 * weft keeps a thread's history in the chat-completions form already
 * (user, assistant with its tool_calls, tool with its tool_call_id), so
 * most messages go as they are.  A notice (a background task ended, said
 * by weft rather than the user) has no role in the API: it goes as a
 * user message marked as weft's, which every compatible server takes
 * anywhere in a conversation (a system message in the middle is refused
 * by some). */
#include "weft-openai.h"

#define WEFT_OPENAI_NOTICE_PREFIX "[notice from weft, not the user] "

static JsonObject *
weft_openai_chat_message (JsonObject *message)
{
  const char *role = json_object_get_string_member_with_default (message, "role", "user");
  JsonObject *out = json_object_new ();

  if (g_strcmp0 (role, "notice") != 0)
    {
      g_autoptr(GList) members = json_object_get_members (message);
      for (GList *m = members; m; m = m->next)
        json_object_set_member (out, m->data,
                                json_node_copy (json_object_get_member (message, m->data)));
      return out;
    }
  g_autofree char *content = g_strconcat (WEFT_OPENAI_NOTICE_PREFIX,
                                          json_object_get_string_member_with_default (message,
                                                                                      "content", ""),
                                          NULL);
  json_object_set_string_member (out, "role", "user");
  json_object_set_string_member (out, "content", content);
  return out;
}

JsonArray *
weft_openai_chat_messages (const char *system, JsonArray *history)
{
  JsonArray *messages = json_array_new ();
  guint n = history ? json_array_get_length (history) : 0;

  if (system != NULL)
    {
      JsonObject *s = json_object_new ();
      json_object_set_string_member (s, "role", "system");
      json_object_set_string_member (s, "content", system);
      json_array_add_object_element (messages, s);
    }
  for (guint i = 0; i < n; i++)
    json_array_add_object_element (messages,
                                   weft_openai_chat_message (json_array_get_object_element (history, i)));
  return messages;
}
