// run.js — one run (#/run/ID, #/run/ID/TASK): its flow's graph with each
// node coloured by its task's state (graph.js), a timeline of its tasks'
// attempts (gantt.js), the chosen task (taskpanel.js), the run's inputs
// and result, and cancel; a task panel's replay starts a new run.
//
// The run is read once (GET /v1/runs/ID), then its own event stream (GET
// /v1/runs/ID/events) replays every event from the first and follows the
// live ones: each task's story (attempts, steps, retries) is folded from
// them.  Events the run's JSON already counted (seq ≤ last_seq) add to the
// story but change no state.  A run read from a store is streamed from the
// store's events (one whose store gives none back has its JSON only).  Everything is redrawn at most once a frame, and
// only what changed.

import { get, post, enc } from './api.js';
import { EventStream, RUN_ENDS } from './sse.js';
import { ENDED, badge, el, errorBox, fill, formatDuration, formatTime, frameScheduler, pretty,
         setLive } from './util.js';
import { Graph } from './graph.js';
import { Gantt } from './gantt.js';
import { TaskPanel } from './taskpanel.js';

function newTask(name) {
  return { name, status: 'pending', output: null, error: null, attempts: 0,
           started_wall_us: null, finished_wall_us: null, duration_us: 0,
           segments: [], steps: [], retries: [], reused: false };
}

// Applies one event to the run's state; returns the task it changed.
function fold(state, type, event) {
  const live = event.seq > state.lastSeq;
  if (type.startsWith('run.')) {
    if (!live) return null;
    state.lastSeq = event.seq;
    if (RUN_ENDS.has(type)) {
      state.run.status = type.slice(4);
      state.run.finished_wall_us = event.wall_us;
      state.run.duration_us = event.duration_us;
      state.run.error = event.error ?? null;
      if (event.output) {
        try { state.run.outputs = JSON.parse(event.output); } catch { /* kept as it was */ }
      }
    } else {
      state.run.status = 'running';
      state.run.started_wall_us ??= event.wall_us;
    }
    return null;
  }
  const task = state.tasks.get(event.task);
  if (!task) return null;
  // Events tell the story from the start: the run's JSON's own guess goes.
  if (task.segments.length && task.segments[0].snapshot)
    task.segments = [];
  const open = task.segments.at(-1);
  const close = (status) => {
    if (open && open.end === null && open.attempt === event.attempt) {
      open.end = event.wall_us;
      open.status = status;
    }
  };
  switch (type) {
    case 'task.started':
      task.segments.push({ attempt: event.attempt, start: event.wall_us, end: null,
                           status: 'running' });
      if (live) Object.assign(task, { status: 'running', attempts: event.attempt,
                                      started_wall_us: event.wall_us, finished_wall_us: null });
      break;
    case 'task.step':
      task.steps.push({ kind: event.step_kind, text: event.output ?? '', attempt: event.attempt,
                        wall_us: event.wall_us });
      break;
    case 'task.retrying':
      close('failed');
      task.retries.push({ attempt: event.attempt, error: event.error });
      break;
    case 'task.completed':
      close('completed');
      if (event.attempt === 0) task.reused = true;
      if (live) Object.assign(task, { status: 'completed', output: event.output ?? '',
                                      error: null, finished_wall_us: event.wall_us,
                                      duration_us: event.duration_us ?? 0 });
      break;
    case 'task.failed':
    case 'task.cancelled':
    case 'task.skipped':
      close(type.slice(5));
      if (live) Object.assign(task, { status: type.slice(5), error: event.error ?? null,
                                      finished_wall_us: event.wall_us,
                                      duration_us: event.duration_us ?? 0 });
      break;
    default:
      return null;
  }
  if (live) state.lastSeq = event.seq;
  return task;
}

// The state of a run from its JSON: what a store gives has no events.
function stateFrom(run) {
  const tasks = new Map();
  for (const t of run.tasks || []) {
    const task = Object.assign(newTask(t.name), t);
    task.segments = [];
    task.steps = [];
    task.retries = [];
    if (t.started_wall_us)
      task.segments.push({ attempt: t.attempts, start: t.started_wall_us,
                           end: t.finished_wall_us, status: t.status, snapshot: true });
    tasks.set(t.name, task);
  }
  return { run, tasks, lastSeq: run.last_seq || 0 };
}

export function mount(main, { id, task: chosen }) {
  const abort = new AbortController();
  let state = null;
  let stream = null;
  let timer = null;
  let selected = chosen;
  const dirty = new Set();
  let runDirty = true;

  const heading = el('h1', { class: 'run-title' }, 'Run ', el('span', { class: 'mono' }, id));
  const summary = el('div', { class: 'run-summary' }, 'Loading the run…');
  const actions = el('div', { class: 'actions' });
  const graphBox = el('section', { class: 'panel graph-panel', 'aria-labelledby': 'graph-h' },
    el('h2', { id: 'graph-h' }, 'Graph'));
  const panelBox = el('section', { class: 'panel task-panel', 'aria-labelledby': 'task-h',
                                   id: 'task-panel' });
  const ganttBox = el('section', { class: 'panel gantt-panel', 'aria-labelledby': 'gantt-h' },
    el('h2', { id: 'gantt-h' }, 'Timeline'));
  const io = el('section', { class: 'panel io-panel', 'aria-labelledby': 'io-h' },
    el('h2', { id: 'io-h' }, 'Inputs and result'));
  const notice = el('p', { class: 'note', role: 'status' });

  main.append(el('p', { class: 'crumbs' }, el('a', { href: '#/runs' }, '← Runs')),
              heading, summary, actions, notice,
              el('div', { class: 'run-grid' }, graphBox, panelBox, ganttBox, io));

  const select = (name) => {
    location.hash = `#/run/${enc(id)}/${enc(name)}`;
  };
  const graph = new Graph(graphBox, select);
  const gantt = new Gantt(ganttBox, select);
  const panel = new TaskPanel(panelBox, { onReplay: replay });
  const draw = frameScheduler(render);

  function render() {
    if (!state) return;
    const t0 = performance.now();
    const start = state.run.started_wall_us || state.run.created_wall_us || 0;
    if (start !== gantt.start)
      for (const name of state.tasks.keys()) dirty.add(name);
    gantt.setRange(start, state.run.finished_wall_us, !ENDED.has(state.run.status));
    for (const name of dirty) {
      const task = state.tasks.get(name);
      graph.setState(name, task.status);
      gantt.update(task);
    }
    if (selected && (dirty.has(selected) || runDirty))
      panel.show(state.tasks.get(selected) || null, state.run, selected);
    dirty.clear();
    if (runDirty) renderRun();
    runDirty = false;
    main.dataset.renderMs = (performance.now() - t0).toFixed(1);
    main.dataset.status = state.run.status;
  }

  function renderRun() {
    const run = state.run;
    fill(summary,
      el('dl', { class: 'facts' },
        el('dt', {}, 'Flow'), el('dd', {}, run.flow),
        el('dt', {}, 'Status'), el('dd', { id: 'run-status' }, badge(run.status)),
        el('dt', {}, 'Started'), el('dd', {}, formatTime(run.started_wall_us)),
        el('dt', {}, 'Duration'), el('dd', {}, ENDED.has(run.status)
          ? formatDuration(run.duration_us) : 'running'),
        run.error ? [el('dt', {}, 'Error'), el('dd', { class: 'error' }, run.error)] : null));
    fill(actions,
      run.status === 'running' || run.status === 'pending'
        ? el('button', { type: 'button', id: 'cancel-run', class: 'danger', onclick: cancel },
             'Cancel run') : null);
    fill(io, io.firstChild,
      el('h3', {}, 'Inputs'), el('pre', { class: 'json' }, pretty(run.inputs ?? {})),
      el('h3', {}, 'Result'), el('pre', { class: 'json', id: 'run-result' },
        run.outputs ? pretty(run.outputs) : ENDED.has(run.status) ? '(none)' : '(not yet)'));
  }

  async function cancel(event) {
    event.target.disabled = true;
    try {
      await post(`/v1/runs/${enc(id)}/cancel`);
      notice.textContent = 'Cancelling…';
    } catch (error) {
      fill(notice, errorBox(error));
      event.target.disabled = false;
    }
  }

  async function replay(from) {
    try {
      const answer = await post(`/v1/runs/${enc(id)}/replay`, { from });
      location.hash = `#/run/${enc(answer.run_id)}`;
    } catch (error) {
      fill(notice, errorBox(error));
    }
  }

  function onEvent(type, event) {
    const task = fold(state, type, event);
    if (task) dirty.add(task.name);
    else runDirty = true;
    if (RUN_ENDS.has(type)) refresh();
    draw();
  }

  // The run's JSON once it ends: its outputs and final times.
  async function refresh() {
    try {
      const run = await get(`/v1/runs/${enc(id)}`, { signal: abort.signal });
      Object.assign(state.run, run, { tasks: undefined });
      runDirty = true;
      draw();
    } catch { /* the events said enough */ }
  }

  async function load() {
    const started = performance.now();
    let run;
    try {
      run = await get(`/v1/runs/${enc(id)}`, { signal: abort.signal });
    } catch (error) {
      if (error.name !== 'AbortError') fill(summary, errorBox(error));
      return;
    }
    state = stateFrom(run);
    gantt.setTasks([...state.tasks.keys()]);
    for (const name of state.tasks.keys()) dirty.add(name);
    render();
    main.dataset.loadMs = (performance.now() - started).toFixed(1);
    graph.load(run.flow, state.tasks, abort.signal).then(() => {
      for (const [name, task] of state.tasks) graph.setState(name, task.status);
      graph.select(selected);
      main.dataset.graphMs = (performance.now() - started).toFixed(1);
    });
    if (selected) panel.show(state.tasks.get(selected) || null, state.run, selected);
    else panel.empty();
    stream = new EventStream(`/v1/runs/${enc(id)}/events`, {
      onEvent,
      isLast: (type) => RUN_ENDS.has(type),
      onState: (s, detail) => {
        // A stored run that no process runs (`live` is a store's word) has
        // sent every event it will: its stream's end is not a drop.
        if (s === 'retrying' && 'live' in run && run.live !== true) {
          stream.close();
          s = 'ended';
        }
        setLive(s);
        if (s === 'failed' && detail?.status === 404)
          notice.textContent = 'This run was read from a store that gives no events back: '
            + 'only how it ended is shown.';
      },
    });
    timer = setInterval(() => {
      if (state && !ENDED.has(state.run.status)) gantt.tick();
    }, 250);
  }

  load();
  return {
    update(hash) {
      const m = hash.match(/^#\/run\/([^/]+)(?:\/(.+))?$/);
      if (!m || decodeURIComponent(m[1]) !== id) return false;
      selected = m[2] ? decodeURIComponent(m[2]) : null;
      if (state) {
        graph.select(selected);
        gantt.select(selected);
        if (selected) panel.show(state.tasks.get(selected) || null, state.run, selected);
        else panel.empty();
      }
      return true;
    },
    unmount() {
      abort.abort();
      stream?.close();
      clearInterval(timer);
    },
  };
}
