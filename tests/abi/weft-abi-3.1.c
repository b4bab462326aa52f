/* weft-abi-3.1.c — the layout of the frozen ABI 3.1 header, compiled
 * against that header alone: what every later 3.x must keep.  3.0's facts
 * (weft-abi-3.0.c) and what 3.1 added: WeftOption.flags and its values. */
#include "weft-sdk-3.1.h"
#include "weft-abi-facts.h"

#define SIZE(T) { "sizeof " #T, sizeof (T) }
#define OFFSET(T, field) { #T "." #field, offsetof (T, field) }
#define VALUE(constant) { #constant, (gsize) (constant) }

const WeftAbiFact weft_abi_facts_3_1[] = {
  VALUE (WEFT_ABI_MAJOR),

  SIZE (WeftOption),
  OFFSET (WeftOption, name), OFFSET (WeftOption, type), OFFSET (WeftOption, default_json),
  OFFSET (WeftOption, required), OFFSET (WeftOption, description), OFFSET (WeftOption, offset),
  OFFSET (WeftOption, min), OFFSET (WeftOption, max), OFFSET (WeftOption, choices),
  OFFSET (WeftOption, flags),
  VALUE (WEFT_OPTION_NOT_EMPTY), VALUE (WEFT_OPTION_ANY_CASE),
  VALUE (WEFT_OPTION_STRING), VALUE (WEFT_OPTION_INT), VALUE (WEFT_OPTION_DOUBLE),
  VALUE (WEFT_OPTION_BOOL), VALUE (WEFT_OPTION_STRING_LIST), VALUE (WEFT_OPTION_OBJECT),
  VALUE (WEFT_OPTION_ENUM),

  SIZE (WeftCommand),
  OFFSET (WeftCommand, argv), OFFSET (WeftCommand, env), OFFSET (WeftCommand, clear_env),
  OFFSET (WeftCommand, cwd), OFFSET (WeftCommand, stdin_data),
  OFFSET (WeftCommand, stdin_length), OFFSET (WeftCommand, timeout_ms),
  OFFSET (WeftCommand, max_output), OFFSET (WeftCommand, max_stderr),
  OFFSET (WeftCommand, discard_stdout),
  SIZE (WeftCommandResult),
  OFFSET (WeftCommandResult, stdout_text), OFFSET (WeftCommandResult, stderr_text),
  OFFSET (WeftCommandResult, exited), OFFSET (WeftCommandResult, exit_status),
  OFFSET (WeftCommandResult, term_signal),

  SIZE (WeftAgentClass), OFFSET (WeftAgentClass, flags), OFFSET (WeftAgentClass, run),
  VALUE (WEFT_AGENT_ASYNC),
  SIZE (WeftToolClass), OFFSET (WeftToolClass, arguments_schema),
  OFFSET (WeftToolClass, invoke), OFFSET (WeftToolClass, instance_schema),
  SIZE (WeftCallbackClass), OFFSET (WeftCallbackClass, on_event),
  OFFSET (WeftCallbackClass, flush),
  SIZE (WeftStoreClass), OFFSET (WeftStoreClass, list_runs), OFFSET (WeftStoreClass, get_run),
  OFFSET (WeftStoreClass, claim_run), OFFSET (WeftStoreClass, delete_run),

  SIZE (WeftPluginDescriptor),
  OFFSET (WeftPluginDescriptor, abi_major), OFFSET (WeftPluginDescriptor, abi_minor),
  OFFSET (WeftPluginDescriptor, kind), OFFSET (WeftPluginDescriptor, name),
  OFFSET (WeftPluginDescriptor, version), OFFSET (WeftPluginDescriptor, description),
  OFFSET (WeftPluginDescriptor, options), OFFSET (WeftPluginDescriptor, options_size),
  OFFSET (WeftPluginDescriptor, create), OFFSET (WeftPluginDescriptor, destroy),
  OFFSET (WeftPluginDescriptor, agent), OFFSET (WeftPluginDescriptor, tool),
  OFFSET (WeftPluginDescriptor, callback), OFFSET (WeftPluginDescriptor, store),
  VALUE (WEFT_PLUGIN_AGENT), VALUE (WEFT_PLUGIN_TOOL), VALUE (WEFT_PLUGIN_CALLBACK),

  SIZE (WeftErrorCode),
  VALUE (WEFT_ERROR_FAILED), VALUE (WEFT_ERROR_PARSE), VALUE (WEFT_ERROR_INVALID),
  VALUE (WEFT_ERROR_NOT_FOUND), VALUE (WEFT_ERROR_CYCLE), VALUE (WEFT_ERROR_PLUGIN),
  VALUE (WEFT_ERROR_ABI), VALUE (WEFT_ERROR_DUPLICATE), VALUE (WEFT_ERROR_TIMEOUT),
  VALUE (WEFT_ERROR_CANCELLED), VALUE (WEFT_ERROR_SKIPPED), VALUE (WEFT_ERROR_BUSY),

  SIZE (WeftEventType), SIZE (WeftEventSet),
  VALUE (WEFT_EVENT_RUN_STARTED), VALUE (WEFT_EVENT_TASK_STARTED),
  VALUE (WEFT_EVENT_TASK_STEP), VALUE (WEFT_EVENT_TASK_COMPLETED),
  VALUE (WEFT_EVENT_TASK_FAILED), VALUE (WEFT_EVENT_TASK_RETRYING),
  VALUE (WEFT_EVENT_TASK_SKIPPED), VALUE (WEFT_EVENT_RUN_COMPLETED),
  VALUE (WEFT_EVENT_RUN_FAILED), VALUE (WEFT_EVENT_RUN_CANCELLED),
  VALUE (WEFT_EVENT_RUN_RESUMED), VALUE (WEFT_EVENT_TASK_CANCELLED),
  VALUE (WEFT_JSON_MAX_DEPTH),
  WEFT_ABI_FACT_END
};
