/* weft-http-task.c — weft_task_http_send: an HTTP call whose end goes to
 * the engine loop of the task that made it.
 *
 * Above the engine and the attempt (it asks the attempt for its engine,
 * the engine for its sink), so that the call's own file needs neither. */
#include "weft-http-private.h"

WeftHttpCall *
weft_task_http_send (WeftTask *task, WeftHttpRequest *request, WeftHttpChunkFunc chunk,
                     WeftHttpDoneFunc done, gpointer user_data)
{
  g_return_val_if_fail (task != NULL && request != NULL && done != NULL, NULL);

  return weft_http_call_start (weft_engine_get_http_sink (weft_attempt_get_engine (task)),
                               request, chunk, done, user_data);
}
