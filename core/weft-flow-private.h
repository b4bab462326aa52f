/* weft-flow-private.h — what the flow files share; never installed.
 *
 * A flow is made in steps, one concern per file, over one description of
 * it (WeftFlowDesc) that either source fills the same way:
 *
 *   weft-flow-yaml.c         YAML text → the JSON text of the same flow
 *   weft-flow-parse.c        JSON text → description, read with the pull
 *                            reader (weft-json-reader.h): no json-glib
 *                            tree but for small parts (inputs, instances)
 *   weft-flow-builder.c      the builder API of weft.h → description
 *   weft-flow-paths.c        Intelli's "map_paths" → the tasks' context
 *   weft-flow-validate.c     every check, in one fixed order, each refusal
 *                            naming its place: a JSON path for a file, the
 *                            builder call for a builder (WeftFlowPlace)
 *   weft-flow-compile.c      dependencies (graph or CrewAI's sequential
 *                            rules), links, the cycle check, the task-name
 *                            index → the compiled graph the scheduler reads
 *   weft-flow-templates.c    agents' own templates (WEFT_OPTION_TEMPLATE)
 *                            against what each task will have: the
 *                            outputs it receives, the flow's inputs
 *   weft-flow-instantiate.c  plugin instances, once all of the above passed
 *   weft-flow-load.c         what those steps share (WeftFlowLoad) and their
 *                            refusals: below all of them, calling none
 *   weft-flow.c              the entry points, lifetime and accessors, and
 *                            agent-task flows (a description made from the
 *                            parent's declarations)
 *
 * The description costs nothing unless a check fails: strings are offsets
 * into one pool, lists are runs of one array, and no message or path is
 * formatted until there is an error.  It is freed once the flow has
 * compiled. */
#pragma once

#include "weft-thread-private.h"

G_BEGIN_DECLS

/* ---- the flow --------------------------------------------------------------- */

/* What a loaded flow is.  Only the weft-flow*.c files see it; the rest of
 * libweft reads it through the functions of weft-private.h. */
struct _WeftFlow {
  gint ref_count;
  WeftEngine *engine;
  char *name;
  char *origin;
  GBytes *source;             /* the flow's JSON text, NUL-terminated */
  gboolean sequential;
  JsonObject *default_inputs;
  WeftThreadConfig *chat;     /* "chat", checked; NULL when none */
  GPtrArray *agents;          /* WeftAgentInstance* */
  GPtrArray *tools;           /* WeftToolInstance* */
  GPtrArray *callbacks;       /* WeftCallbackInstance*, all of them */
  GPtrArray *flow_callbacks;  /* the ones that get every event, not owned */
  JsonObject *callback_declarations;  /* name → as the flow gave it */
  WeftFlowTask *tasks;
  guint n_tasks;
  char *strings;              /* every task's texts */
  WeftFlowGraph graph;
  guint *index_slots;         /* task names: index + 1 by hash, 0 when empty */
  guint index_mask;
  char **input_names;
  gint kicked_off;
  WeftFlow *parent;           /* an agent-task flow borrows its agent from it */
  GMutex lock;                /* for what is made on first use: */
  const char **dep_names;     /* weft_flow_get_task_dependencies() */
  /* Agent name → the source of its agent-task flow (GBytes), made once. */
  GHashTable *agent_sources;
};

/* ---- the description ---------------------------------------------------- */

/* A string of the description: an offset into its pool. */
typedef guint32 WeftDescString;
#define WEFT_DESC_NONE G_MAXUINT32

/* A task, agent or callback named by a task: by name as written, by index
 * once validated. */
typedef union {
  WeftDescString name;
  guint32 index;
} WeftDescRef;

/* The members of a flow and of a task (each one bit). */
typedef enum {
  WEFT_DESC_NAME            = 1 << 0,
  WEFT_DESC_DESCRIPTION     = 1 << 1,
  WEFT_DESC_CALLBACKS       = 1 << 2,
  /* a task's */
  WEFT_DESC_AGENT           = 1 << 3,
  WEFT_DESC_EXPECTED_OUTPUT = 1 << 4,
  WEFT_DESC_CONTEXT         = 1 << 5,
  WEFT_DESC_ASYNC           = 1 << 6,
  WEFT_DESC_EXCLUDE         = 1 << 7,
  WEFT_DESC_RETRIES         = 1 << 8,
  WEFT_DESC_RETRY_DELAY     = 1 << 9,
  WEFT_DESC_TIMEOUT         = 1 << 10,
  /* the flow's */
  WEFT_DESC_PROCESS         = 1 << 11,
  WEFT_DESC_INPUTS          = 1 << 12,
  WEFT_DESC_AGENTS          = 1 << 13,
  WEFT_DESC_TOOLS           = 1 << 14,
  WEFT_DESC_TASKS           = 1 << 15,
  /* beyond `given` and `mistyped`: noted in the description's own members */
  WEFT_DESC_CHAT            = 1 << 16,
  WEFT_DESC_MAP_PATHS       = 1 << 17,   /* Intelli's successor lists */
} WeftDescField;

typedef struct {
  WeftDescString name;
  WeftDescRef agent;
  WeftDescString description;
  WeftDescString expected_output;
  WeftDescString unknown_key;     /* the first member that is no task's, as written */
  guint32 context;                /* first of its context entries in desc->refs */
  guint32 n_context;
  guint32 callbacks;              /* first of its callback entries in desc->refs */
  guint32 n_callbacks;
  gint64 retries;
  gint64 retry_delay_ms;
  double timeout_s;
  guint16 given;                  /* WeftDescField: members present */
  guint16 mistyped;               /* members present with a value of another type */
  guint8 async;
  guint8 exclude;
  guint8 not_object;              /* the element is not an object at all */
  guint8 templated;               /* set by validation */
} WeftDescTask;

/* An agent, tool or callback: its name and its declaration as given, an
 * object with "plugin" and the options (anything else is refused). */
typedef struct {
  WeftDescString name;
  JsonNode *node;
} WeftDescInstance;

typedef enum {
  WEFT_DESC_FROM_FILE,
  WEFT_DESC_FROM_BUILDER,
} WeftDescSource;

typedef struct {
  WeftDescSource source;
  GString *strings;               /* every string, NUL-terminated */
  WeftDescString name;
  WeftDescString description;
  WeftDescString process;
  WeftDescString unknown_key;     /* the first member that is no flow's */
  guint32 given;
  guint32 mistyped;
  gboolean not_object;            /* the text's value is not an object */
  JsonObject *inputs;
  JsonObject *chat;               /* "chat": a thread's settings (weft-thread-config.c) */
  gboolean chat_mistyped;
  JsonObject *map_paths;          /* task → the tasks that depend on it; NULL: none */
  GArray *sections[WEFT_PLUGIN_CALLBACK + 1];  /* by kind: WeftDescInstance, in order */
  WeftDescTask *tasks;
  guint n_tasks;
  guint tasks_size;
  WeftDescRef *refs;              /* context and callback entries, each task's a run */
  guint n_refs;
  guint refs_size;
} WeftFlowDesc;

WeftFlowDesc  *weft_flow_desc_new  (WeftDescSource source);
void           weft_flow_desc_free (WeftFlowDesc *desc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftFlowDesc, weft_flow_desc_free)
WeftDescString weft_flow_desc_add_string (WeftFlowDesc *desc, const char *text, gsize length);
/* NULL for WEFT_DESC_NONE. */
const char    *weft_flow_desc_get_string (const WeftFlowDesc *desc, WeftDescString s);
/* A new task, all strings WEFT_DESC_NONE; valid until the next one. */
WeftDescTask  *weft_flow_desc_add_task (WeftFlowDesc *desc);
/* Appends an entry to desc->refs; returns its position. */
guint32        weft_flow_desc_add_ref (WeftFlowDesc *desc, WeftDescString name);
/* Takes `node`. */
void           weft_flow_desc_add_instance (WeftFlowDesc *desc, WeftPluginKind kind,
                                            WeftDescString name, JsonNode *node);
/* The section of `kind`: "agents", "tools", "callbacks". */
const char    *weft_flow_desc_section_name (WeftPluginKind kind);
/* A flow file that says what the description says (a built flow's source,
 * which a store keeps to run it again). */
GBytes        *weft_flow_desc_to_json (const WeftFlowDesc *desc);

/* weft-flow-yaml.c: the JSON text (pretty, `*json_length` bytes) of the
 * flow a YAML text writes; NULL with "ORIGIN:LINE:COLUMN: PATH: reason" on
 * a text that is not YAML as weft reads it. */
char          *weft_flow_yaml_to_json (const char *text, gsize length, const char *origin,
                                       gsize *json_length, GError **error);
/* weft-flow-parse.c: NULL on a text that is not JSON as weft reads it. */
WeftFlowDesc  *weft_flow_desc_parse (const char *text, gsize length, const char *origin,
                                     GError **error);

/* ---- loading ------------------------------------------------------------ */

/* A callback instance between validation and its creation. */
typedef struct {
  char *name;
  WeftPlugin *plugin;
  WeftConfig *config;
  WeftCallbackInstance *instance;
  gboolean task_scoped;           /* some task names it */
} WeftPendingCallback;

/* Task names → index, open addressing over a power-of-two table; built by
 * validation over the description's names, kept by the compiled flow. */
typedef struct {
  guint *slots;                   /* index + 1; 0: empty */
  guint mask;
} WeftTaskIndex;

typedef const char *(*WeftTaskNameFunc) (gconstpointer data, guint i);
void  weft_task_index_init   (WeftTaskIndex *index, guint n_tasks);
/* The task named `name`, or WEFT_NO_TASK. */
guint weft_task_index_lookup (const WeftTaskIndex *index, const char *name,
                              WeftTaskNameFunc name_of, gconstpointer data);
/* Adds task `i` unless a task of its name is there: returns that one's
 * index, or WEFT_NO_TASK when `i` was added. */
guint weft_task_index_add    (WeftTaskIndex *index, guint i, WeftTaskNameFunc name_of,
                              gconstpointer data);

/* Where something was given, for messages: rendered only on an error. */
typedef enum {
  WEFT_PLACE_ROOT,                /* the flow: $, weft_flow_builder_new */
  WEFT_PLACE_SECTION,             /* $.agents */
  WEFT_PLACE_INSTANCE,            /* $.agents.NAME, weft_flow_builder_add_agent */
  WEFT_PLACE_TASKS,               /* $.tasks, weft_flow_builder_finish */
  WEFT_PLACE_TASK,                /* $.tasks[i], weft_flow_builder_add_task */
} WeftPlaceKind;

#define WEFT_PLACE_NO_ELEMENT G_MAXUINT

typedef struct {
  WeftPlaceKind kind;
  WeftPluginKind section;         /* SECTION, INSTANCE */
  const char *name;               /* INSTANCE */
  guint task;                     /* TASK */
  const char *field;              /* a member of it, or NULL */
  guint element;                  /* an element of that member, or WEFT_PLACE_NO_ELEMENT */
} WeftFlowPlace;

/* One flow being made: validate, compile and instantiate in turn
 * (weft-flow-load.c). */
typedef struct {
  WeftFlowDesc *desc;             /* freed once the flow has compiled */
  WeftDescSource source;
  const char *origin;             /* a file's name; NULL for a builder */
  WeftFlow *flow;
  GError **error;
  GPtrArray *pending;             /* WeftPendingCallback, in order */
  GPtrArray *input_names;         /* char*, owned */
  WeftTaskIndex index;
  guint *callback_refs;           /* per task callback entry: the pending callback */
} WeftFlowLoad;

void     weft_flow_load_init  (WeftFlowLoad *l, WeftFlowDesc *desc, WeftFlow *flow,
                               GError **error);
void     weft_flow_load_clear (WeftFlowLoad *l);
/* Sets the error: "ORIGIN: PLACE: reason" for a file, "PLACE: reason" for
 * a builder; FALSE. */
gboolean weft_flow_load_fail  (WeftFlowLoad *l, gint code, const WeftFlowPlace *place,
                               const char *format, ...) G_GNUC_PRINTF (4, 5);
/* Takes `local` (a plugin's or the config's error, its domain and code
 * kept) and passes it on prefixed as weft_flow_load_fail() words it, with
 * "WHAT: " before its message when `what` is given; FALSE. */
gboolean weft_flow_load_propagate (WeftFlowLoad *l, GError *local, const WeftFlowPlace *place,
                                   const char *what);
/* The place, as the message shows it. */
char    *weft_flow_place_to_string (WeftFlowLoad *l, const WeftFlowPlace *place);
/* The names of `names`, ", " between them. */
char    *weft_flow_join_names (GPtrArray *names);

/* weft-flow-validate.c: every check; fills the flow's instance tables
 * (their configs, no instances yet), its name, process, inputs and input
 * names, and resolves the description's references to indices. */
gboolean weft_flow_validate    (WeftFlowLoad *l);
/* weft-flow-paths.c: a flow's "map_paths" (Intelli's successor lists)
 * checked and written into its tasks' context; after the task names are
 * indexed, before each task's context is checked. */
gboolean weft_flow_validate_map_paths (WeftFlowLoad *l);
/* weft-flow-compile.c: tasks, texts, graph and name index into l->flow;
 * a task's agent index is into `agents`.  Fails on a cycle. */
gboolean weft_flow_compile     (WeftFlowLoad *l, WeftAgentInstance *const *agents);
/* weft-flow-templates.c: each agent's template options against every task
 * it does (after the compile step: it reads what each task receives). */
gboolean weft_flow_check_templates (WeftFlowLoad *l);
/* weft-flow-instantiate.c: the plugin instances: tools, agents, callbacks. */
gboolean weft_flow_instantiate (WeftFlowLoad *l);
/* weft-flow.c: a flow of `engine`'s with nothing in it yet. */
WeftFlow *weft_flow_new        (WeftEngine *engine, const char *origin);
/* Validates, compiles and instantiates `desc` (taken) into `flow`
 * (taken; NULL on failure, with the message tidied). */
WeftFlow *weft_flow_load_desc  (WeftFlow *flow, WeftFlowDesc *desc, GError **error);

G_END_DECLS
