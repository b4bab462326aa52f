/* weft-run-private.h — what the files of a run share, and only they.
 *
 * A run is one execution of a flow, driven on the engine loop.  Its files,
 * each using only those above it in this list:
 *
 *   weft-run.c            the run's state: made, referenced, read (weft.h's
 *                         getters); the inputs it needs
 *   weft-run-resume.c     tasks settled before the start: outputs reused,
 *                         a stored run's ends and attempt counts
 *   weft-run-events.c     its events: numbered, built only when someone
 *                         listens, pushed onto the bus
 *   weft-run-scheduler.c  the scheduler: tasks started as their
 *                         dependencies complete, attempts handed back,
 *                         retries, timeouts, cancel, the end
 *   weft-run-kickoff.c    a kickoff's options to a run on its way to the
 *                         loop; weft.h's kickoff functions
 *   weft-run-json.c       the one JSON shape of a run and of its tasks
 *
 * Nothing here takes a lock: once kicked off, a run is read and written on
 * the engine loop only (attempts read the outputs of completed tasks,
 * which never change, from any thread). */
#pragma once

#include "weft-private.h"

/* What a run knows of one of its flow's tasks. */
typedef struct {
  WeftStatus status;
  guint remaining;            /* dependencies not yet completed */
  guint attempts;             /* the last attempt's number */
  guint failures;             /* attempts that failed: what retries are counted against */
  char *output;
  GError *error;
  gint64 started_us;          /* monotonic: the first start in this process */
  gint64 finished_us;
  gint64 attempt_started_us;
  char *description;          /* rendered, when the task is templated */
  char *prompt;               /* rendered, when the task is templated */
  WeftTask *current;          /* the running attempt, not a reference */
  GSource *timer;             /* timeout or retry backoff */
  WeftUsage usage;            /* every attempt's, late ones too */
} WeftTaskState;

struct _WeftRun {
  gint ref_count;
  WeftFlow *flow;
  WeftEngine *engine;
  WeftBus *bus;
  char *id;
  JsonObject *inputs;         /* engine loop only, after kickoff */
  char *inputs_json;          /* the same, immutable: attempts parse their own copy */
  WeftTaskState *tasks;
  guint n_finished;
  WeftStatus status;
  GError *error;
  guint64 seq;                /* the last event's number */
  gint64 started_us;          /* monotonic */
  gint64 finished_us;
  gboolean resumed;           /* continues a stored run */
  gboolean has_preset;        /* some tasks were settled before it started: from
                               * `completed`, or kept as a resume found them */
  gint64 created_wall_us;
  gint64 started_wall_us;     /* the same instants as started_us and finished_us, */
  gint64 finished_wall_us;    /* read once, so that every JSON of the run agrees */
  WeftRunDoneFunc done;       /* called on the loop once finished */
  gpointer done_data;
  GCancellable *cancellable;
  gulong cancel_handler;
  /* Its messages to the loop, each posted with a reference it hands back. */
  WeftMsg start_msg;          /* kicked off */
  WeftMsg cancel_msg;         /* its cancellable fired */
  WeftMsg shutdown_msg;       /* the engine shuts down: handled, never posted */
  WeftMsg return_msg;         /* finished: back to its caller, after its events */
};

#define WEFT_RUN_FROM_MSG(msg, member) WEFT_MSG_OWNER (msg, WeftRun, member)

/* ---- weft-run.c ---------------------------------------------------------- */

/* A run of `flow` with `options`' inputs merged over the flow's own, every
 * input the flow uses there; nothing settled yet. */
WeftRun *weft_run_alloc (WeftFlow *flow, const WeftKickoffOptions *options, GError **error);
WeftTaskState *weft_run_task_state (WeftRun *run, guint i);
/* Every task's usage, summed. */
void           weft_run_sum_usage (WeftRun *run, WeftUsage *sum);

/* ---- weft-run-resume.c --------------------------------------------------- */

/* Settles the tasks the caller says are done: their outputs are taken as
 * they are, and their dependants no longer wait for them. */
gboolean weft_run_preset (WeftRun *run, JsonObject *completed, GError **error);
/* A resumed run goes on from the stored one's tasks (docs/store.md). */
gboolean weft_run_restore_stored (WeftRun *run, JsonArray *stored, GError **error);
/* Whether the stored run a resume continues was being cancelled when its
 * process died. */
gboolean weft_run_was_cancelling (WeftRun *run);

/* ---- weft-run-events.c --------------------------------------------------- */

/* Whether anyone would see an event of `task` (WEFT_NO_TASK: a run event). */
gboolean   weft_run_has_subscribers (WeftRun *run, guint task);
/* Numbers the event; NULL when nobody listens, so that a run without
 * callbacks builds no events at all. */
WeftEvent *weft_run_event_new (WeftRun *run, WeftEventType type, guint task, guint attempt,
                               const char *output, const char *error, const char *step_kind,
                               gint64 duration_us, const WeftUsage *usage);
/* Hands `event` (taken) to the bus: the flow's callbacks, the task's, the
 * listeners. */
void       weft_run_publish (WeftRun *run, WeftEvent *event, guint task);
/* weft_run_event_new with the task's attempt number, then publish. */
void       weft_run_emit (WeftRun *run, WeftEventType type, guint task, const char *output,
                          const char *error, gint64 duration_us);
/* The same for the end of an attempt (completed, failed, retrying,
 * cancelled), with the usage it reported, which joins the task's. */
void       weft_run_emit_attempt_end (WeftRun *run, WeftEventType type, guint task,
                                      const char *output, const char *error,
                                      gint64 duration_us, WeftTask *attempt);
/* run.started or run.resumed, and a reused output's task.completed. */
void       weft_run_emit_start (WeftRun *run);

/* ---- weft-run-scheduler.c ------------------------------------------------ */

/* Engine loop: the handler of `start_msg`. */
void weft_run_on_start (WeftMsg *msg);
