// taskpanel.js — the run page's task panel: one task's status, attempts
// and timing, its output or error, its retries, and its steps as the
// agent reported them: tool calls with their results, streamed text
// (chunks, joined), token usage and any other kind; and the button that
// replays the run from this task.

import { fill, badge, el, formatDuration, formatTime, pretty, ENDED } from './util.js';

function parseJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}

// Steps in order, with consecutive chunks of one attempt joined.
function stepItems(steps) {
  const items = [];
  for (const step of steps) {
    const last = items.at(-1);
    if (step.kind === 'chunk' && last?.kind === 'chunk' && last.attempt === step.attempt) {
      last.text += step.text;
      continue;
    }
    items.push({ ...step });
  }
  return items.map((step) => {
    const call = step.kind === 'tool_call' || step.kind === 'tool_result'
      ? parseJson(step.text) : null;
    let body;
    if (call && step.kind === 'tool_call')
      body = [el('strong', {}, call.tool), el('pre', { class: 'json' }, pretty(call.arguments))];
    else if (call)
      body = [el('strong', {}, call.tool),
              call.error !== undefined ? el('pre', { class: 'error' }, call.error)
                                       : el('pre', {}, String(call.result))];
    else
      body = el('pre', {}, step.text);
    const label = { chunk: 'streamed text', tool_call: 'tool call', tool_result: 'tool result',
                    usage: 'token usage' }[step.kind] || step.kind;
    return el('li', { class: `step step-${step.kind}` },
      el('span', { class: 'step-kind' }, `${label} · attempt ${step.attempt}`), body);
  });
}

export class TaskPanel {
  constructor(box, { onReplay }) {
    this.box = box;
    this.onReplay = onReplay;
    this.empty();
  }

  empty() {
    fill(this.box, el('h2', { id: 'task-h' }, 'Task'),
      el('p', { class: 'note' }, 'Choose a task in the graph or the timeline.'));
  }

  show(task, run, name) {
    if (!task) {
      fill(this.box, el('h2', { id: 'task-h' }, name),
                               el('p', { class: 'error' }, 'The run has no such task.'));
      return;
    }
    const duration = task.finished_wall_us && task.started_wall_us
      ? task.finished_wall_us - task.started_wall_us : task.duration_us;
    const steps = stepItems(task.steps);
    const canReplay = ENDED.has(run.status) && run.status !== 'skipped';
    fill(this.box,
      el('h2', { id: 'task-h' }, task.name),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Status'), el('dd', { id: 'task-status' }, badge(task.status),
                                   task.reused ? ' (output reused by a replay)' : ''),
        el('dt', {}, 'Attempts'), el('dd', {}, String(task.attempts)),
        el('dt', {}, 'Started'), el('dd', {}, formatTime(task.started_wall_us)),
        el('dt', {}, 'Finished'), el('dd', {}, formatTime(task.finished_wall_us)),
        el('dt', {}, 'Took'), el('dd', {}, task.status === 'running' ? 'running'
                                                                      : formatDuration(duration))),
      task.error ? [el('h3', {}, 'Error'), el('pre', { class: 'error', id: 'task-error' },
                                              task.error)] : null,
      el('h3', {}, 'Output'),
      el('pre', { class: 'output', id: 'task-output' },
         task.output ?? (task.status === 'running' ? '(running)' : '(none)')),
      task.retries.length ? [el('h3', {}, 'Retries'), el('ul', { class: 'retries' },
        task.retries.map((r) => el('li', {}, `attempt ${r.attempt}: ${r.error}`)))] : null,
      steps.length ? [el('h3', {}, `Steps (${task.steps.length})`),
                      el('ol', { class: 'steps' }, steps)] : null,
      canReplay ? el('button', { type: 'button', id: 'replay-task',
                                 onclick: () => this.onReplay(task.name) },
                     'Replay the run from this task') : null);
  }
}
