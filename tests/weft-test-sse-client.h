/* weft-test-sse-client.h — a test's HTTP client of a weft server: requests,
 * JSON replies, errors, and server-sent events read frame by frame.
 *
 * Include it after defining the test's Fixture (weft-test-server.h does,
 * for the tests of a WeftServer it starts), which has at least
 * `SoupSession *session`, `char *base` (http://127.0.0.1:PORT) and
 * `char *token` (sent as a bearer token when set). */
#pragma once

#include "weft-test.h"

#include <libsoup/soup.h>

#ifndef WAIT_US
#define WAIT_US (20 * G_USEC_PER_SEC)
#endif

/* ---- the client -------------------------------------------------------------- */

static inline SoupMessage *
request_new (Fixture *f, const char *method, const char *path, const char *body)
{
  g_autofree char *url = g_strconcat (f->base, path, NULL);
  SoupMessage *msg = soup_message_new (method, url);

  g_assert_nonnull (msg);
  if (f->token)
    {
      g_autofree char *auth = g_strdup_printf ("Bearer %s", f->token);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
    }
  if (body)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  return msg;
}

/* Sends a request; returns the status and, when asked, the body as text
 * and as JSON (which it must then be). */
static inline guint
http_full (Fixture *f, SoupMessage *msg, char **text, JsonNode **json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read (f->session, msg, NULL, &error);

  g_assert_no_error (error);
  gsize size = 0;
  const char *data = g_bytes_get_data (body, &size);
  g_autofree char *str = g_strndup (data ? data : "", size);
  if (json)
    {
      *json = json_from_string (str, &error);
      g_assert_no_error (error);
      g_assert_nonnull (*json);
    }
  if (text)
    *text = g_steal_pointer (&str);
  return soup_message_get_status (msg);
}

static inline guint
http (Fixture *f, const char *method, const char *path, const char *body, JsonNode **json)
{
  g_autoptr(SoupMessage) msg = request_new (f, method, path, body);

  return http_full (f, msg, NULL, json);
}

/* The error of a 4xx reply: the status must be `status`, the body
 * {"status": status, "error": "..."} and its message contain `needle`. */
static inline void
assert_error (Fixture *f, const char *method, const char *path, const char *body, guint status,
              const char *needle)
{
  g_autoptr(JsonNode) json = NULL;

  g_assert_cmpuint (http (f, method, path, body, &json), ==, status);
  JsonObject *o = json_node_get_object (json);
  g_assert_cmpint (json_object_get_int_member (o, "status"), ==, status);
  weft_test_assert_contains (json_object_get_string_member (o, "error"), needle);
}

static inline const char *
member (JsonNode *node, const char *key)
{
  return json_object_get_string_member (json_node_get_object (node), key);
}

static inline char *
kickoff (Fixture *f, const char *flow, const char *body)
{
  g_autofree char *path = g_strdup_printf ("/v1/flows/%s/runs", flow);
  g_autoptr(JsonNode) json = NULL;

  g_assert_cmpuint (http (f, "POST", path, body, &json), ==, SOUP_STATUS_ACCEPTED);
  return g_strdup (member (json, "run_id"));
}

/* Polls GET /v1/runs/ID until it has finished; returns its JSON. */
static inline JsonNode *
wait_run (Fixture *f, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/v1/runs/%s", id);
  gint64 deadline = g_get_monotonic_time () + WAIT_US;

  for (;;)
    {
      JsonNode *json = NULL;
      g_assert_cmpuint (http (f, "GET", path, NULL, &json), ==, SOUP_STATUS_OK);
      const char *status = member (json, "status");
      if (!g_str_equal (status, "running") && !g_str_equal (status, "pending"))
        return json;
      json_node_unref (json);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }
}

/* ---- server-sent events ---------------------------------------------------------- */

typedef struct {
  guint64 id;
  char *type;
  char *data;
} Frame;

static inline void
frame_free (Frame *fr)
{
  g_free (fr->type);
  g_free (fr->data);
  g_free (fr);
}


/* Opens the event stream at `path` (from `last_event_id` when not NULL):
 * 200, text/event-stream, Cache-Control: no-cache. */
static inline GInputStream *
open_stream (Fixture *f, const char *path, const char *last_event_id)
{
  g_autoptr(SoupMessage) msg = request_new (f, "GET", path, NULL);
  g_autoptr(GError) error = NULL;

  if (last_event_id)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Last-Event-ID",
                                  last_event_id);
  GInputStream *stream = soup_session_send (f->session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);
  g_assert_cmpstr (soup_message_headers_get_content_type (headers, NULL), ==, "text/event-stream");
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Cache-Control"), ==, "no-cache");
  return stream;
}

/* Reads frames to the stream's end (the server ends it), or until
 * `stop_after` > 0 frames are in `frames`.  Comments are skipped. */
static inline void
read_frames (GDataInputStream *lines, GPtrArray *frames, guint stop_after)
{
  g_autoptr(GError) error = NULL;
  Frame *cur = NULL;

  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);
      g_assert_no_error (error);
      if (line == NULL)
        break;
      if (*line == '\0')
        {
          if (cur)
            g_ptr_array_add (frames, g_steal_pointer (&cur));
          if (stop_after && frames->len == stop_after)
            break;
          continue;
        }
      if (*line == ':')
        continue;
      if (cur == NULL)
        cur = g_new0 (Frame, 1);
      if (g_str_has_prefix (line, "id: "))
        cur->id = g_ascii_strtoull (line + 4, NULL, 10);
      else if (g_str_has_prefix (line, "event: "))
        cur->type = g_strdup (line + 7);
      else if (g_str_has_prefix (line, "data: "))
        cur->data = g_strdup (line + 6);
    }
  g_assert_null (cur);
}
