/* fuzz-llm-answer.c — libFuzzer on what an LLM server answers, as the
 * openai agent reads it: the same bytes taken as (a) a whole chat
 * completion, plain or with tool calls (whose arguments then go through
 * weft_json_parse, as the core reads them before a tool runs), (b) an
 * error body quoted in a task error, and (c) a stream of server-sent
 * events, fed whole and fed in pieces.
 *
 * Beyond "no crash, no leak, no undefined behaviour", it checks what the
 * agent promises of its messages: valid UTF-8, no control characters, a
 * few hundred characters at most, never the key; and that a stream means
 * the same whether it arrives at once or a few bytes at a time.
 *
 * Build and run: tests/fuzz/README.md.
 */
#include "weft-openai.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "sk-fuzz-0123456789abcdef"
/* An excerpt is 300 characters; the messages around it add a few dozen,
 * "(it starts ...)" sixty more. */
#define MAX_MESSAGE_CHARS 800
/* Small, so that "too large" is reached too. */
#define MAX_STREAM_BYTES (64 * 1024)

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_message (const char *what, const char *message)
{
  if (message == NULL)
    {
      fprintf (stderr, "%s: no message\n", what);
      abort ();
    }
  if (!g_utf8_validate (message, -1, NULL) || g_utf8_strlen (message, -1) > MAX_MESSAGE_CHARS
      || strstr (message, SECRET) != NULL)
    {
      fprintf (stderr, "%s: a message not as promised (%zu bytes): %.2000s\n", what, strlen (message),
               message);
      abort ();
    }
  for (const char *p = message; *p; p++)
    if ((guchar) *p < 0x20)
      {
        fprintf (stderr, "%s: a control character in: %s\n", what, message);
        abort ();
      }
}

/* As weft_task_call_tool reads them; when it refuses them, the model is
 * told why, in valid UTF-8. */
static void
check_tool_calls (JsonObject *message)
{
  JsonNode *node = json_object_get_member (message, "tool_calls");
  JsonArray *calls = node != NULL ? json_node_get_array (node) : NULL;

  for (guint i = 0; calls != NULL && i < json_array_get_length (calls); i++)
    {
      JsonObject *function = json_object_get_object_member (json_array_get_object_element (calls, i),
                                                            "function");
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) arguments = weft_json_parse (json_object_get_string_member (function, "arguments"),
                                                       -1, &error);
      g_autofree char *told = arguments ? NULL : weft_openai_tool_result_text (NULL, error);

      if (told != NULL && !g_utf8_validate (told, -1, NULL))
        {
          fprintf (stderr, "a tool's error not as promised: %.2000s\n", told);
          abort ();
        }
    }
}

/* The message, as it goes back to the server in the conversation. */
static char *
message_text (JsonObject *message)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), message);

  return json_to_string (node, FALSE);
}

static void
fuzz_answer (const char *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  gint64 usage = 0;
  g_autoptr(JsonObject) message = weft_openai_parse_answer (data, size, SECRET, &usage, &error);

  if (message == NULL)
    {
      check_message ("answer", error ? error->message : NULL);
      return;
    }
  check_tool_calls (message);
  g_free (message_text (message));
}

static void
fuzz_error_body (const char *data, size_t size)
{
  g_autofree char *said = weft_openai_provider_message (data, size, SECRET);
  g_autofree char *excerpt = weft_openai_excerpt (data, size, SECRET);

  check_message ("error body", said);
  if (said[0] == '\0')
    {
      fprintf (stderr, "an empty provider message\n");
      abort ();
    }
  check_message ("excerpt", excerpt);
}

static gboolean
on_chunk (const char *text, gpointer data)
{
  g_string_append (data, text);
  return TRUE;
}

/* What a stream came to: its message as JSON, or its error; and what its
 * chunks said. */
static char *
fuzz_stream (const char *data, size_t size, gsize piece)
{
  g_autoptr(GString) chunks = g_string_new (NULL);
  g_autoptr(WeftOpenaiStream) stream = weft_openai_stream_new (MAX_STREAM_BYTES, SECRET, on_chunk, chunks);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) message = NULL;
  gboolean ok = TRUE;
  g_autofree char *text = NULL;

  for (gsize at = 0; at < size && ok; at += piece)
    ok = weft_openai_stream_feed (stream, (const guint8 *) data + at, MIN (piece, size - at), &error);
  if (ok)
    message = weft_openai_stream_finish (stream, &error);
  if (message != NULL)
    {
      check_tool_calls (message);
      text = message_text (message);
    }
  else
    check_message ("stream", error ? error->message : NULL);
  return g_strdup_printf ("%s\n%s", message ? text : error->message, chunks->str);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A critical is json-glib or GLib misused: a bug, not a log line. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  /* Types registered once, before the leak checker watches. */
  fuzz_answer ("{\"choices\": [{\"message\": {\"content\": \"x\"}}]}", 45);
  g_free (fuzz_stream ("data: [DONE]\n\n", 14, 14));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;

  fuzz_answer (text, size);
  fuzz_error_body (text, size);
  /* A stream means the same however it is cut into reads. */
  g_autofree char *whole = fuzz_stream (text, size, MAX (size, 1));
  g_autofree char *pieces = fuzz_stream (text, size, 1 + (size > 0 ? data[size / 2] % 13 : 0));
  if (!g_str_equal (whole, pieces))
    {
      fprintf (stderr, "a stream read whole:\n%s\n...and in pieces:\n%s\n", whole, pieces);
      abort ();
    }
  return 0;
}
