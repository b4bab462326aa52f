/* fuzz-http.c — libFuzzer on the HTTP API, in process: each input is sent
 * as the raw bytes of a connection to a WeftServer serving a small flow
 * (no token), the write side is then shut, and the answer is read to its
 * end.  The server must answer or close — never crash, hang (5 s) or
 * leak — and stay up for the next input.
 *
 * Seeds (corpus/http/) are whole requests to every endpoint, so that the
 * fuzzer starts from bodies the handlers read, not only from framing. */
#include "weft-fuzz.h"

#include <weft.h>

#include <gio/gio.h>
#include <stdint.h>

static WeftEngine *weft_fuzz_engine;
static WeftServer *weft_fuzz_server;
static GSocketClient *weft_fuzz_client;

static const char weft_fuzz_flow[] =
  "{\"name\": \"echo\", \"inputs\": {\"who\": \"world\"},"
  " \"agents\": {\"say\": {\"plugin\": \"template\", \"template\": \"{description}\"}},"
  " \"tasks\": [{\"name\": \"first\", \"agent\": \"say\", \"description\": \"hello {who}\"},"
  "             {\"name\": \"second\", \"agent\": \"say\", \"description\": \"again\","
  "              \"context\": [\"first\"]}]}";

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  /* Short limits: an input is one connection, and a half-sent request
   * must not hold the next one up. */
  WeftServerOptions options = { .max_body = 64 * 1024, .keep_runs = 100, .keep_s = 60,
                                .header_timeout_s = 2, .body_timeout_s = 2,
                                .idle_timeout_s = 2 };

  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  weft_fuzz_engine = weft_engine_new (2);
  if (!weft_engine_load_plugins (weft_fuzz_engine, NULL, warnings, &error))
    weft_fuzz_fail ("fuzz-http: loading plugins: %s", error->message);
  weft_fuzz_server = weft_server_new (weft_fuzz_engine, &options);
  g_autoptr(WeftFlow) flow = weft_flow_load_data (weft_fuzz_engine, weft_fuzz_flow, -1,
                                                  "echo.json", &error);
  if (flow == NULL || !weft_server_add_flow (weft_fuzz_server, flow, &error)
      || !weft_server_listen (weft_fuzz_server, "127.0.0.1:0", &error))
    weft_fuzz_fail ("fuzz-http: %s", error->message);
  weft_fuzz_client = g_socket_client_new ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection =
    g_socket_client_connect_to_host (weft_fuzz_client, "127.0.0.1",
                                     weft_server_get_port (weft_fuzz_server), NULL, &error);

  if (connection == NULL)
    weft_fuzz_fail ("fuzz-http: the server is gone: %s", error->message);
  GSocket *socket = g_socket_connection_get_socket (connection);
  g_socket_set_timeout (socket, 5);
  /* The server may answer from the head and close before all is sent. */
  g_socket_send (socket, (const char *) data, size, NULL, NULL);
  g_socket_shutdown (socket, FALSE, TRUE, NULL);
  char buffer[65536];
  for (;;)
    {
      g_autoptr(GError) read_error = NULL;
      gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &read_error);
      if (n > 0)
        continue;
      if (g_error_matches (read_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        weft_fuzz_fail ("fuzz-http: no answer and no close within 5 s");
      break;
    }
  return 0;
}
