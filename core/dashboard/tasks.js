// tasks.js — background tasks (#/tasks): one call of a flow's agent with
// a prompt, started (POST /v1/tasks), watched live and cancelled.
//
// The list comes from GET /v1/tasks; the stream of all runs' events tells
// when one starts or ends (a background task is a run of flow FLOW.AGENT
// whose id is the task's), and the task is read again when it ends.

import { enc, flowAgents, get, post } from './api.js';
import { EventStream, RUN_ENDS } from './sse.js';
import { fill, badge, el, errorBox, formatDuration, formatTime, setLive, shortId } from './util.js';

export function mount(main) {
  const tasks = new Map();       // id → task JSON
  let open = null;               // the id whose output is shown
  const flowSelect = el('select', { id: 'task-flow', required: true });
  const agentSelect = el('select', { id: 'task-agent', required: true });
  const prompt = el('textarea', { id: 'task-prompt', rows: 3, required: true });
  const status = el('div', { class: 'form-status', role: 'status' });
  const tbody = el('tbody', { role: 'rowgroup' });
  const detail = el('section', { class: 'panel', id: 'task-detail', 'aria-live': 'polite' });
  const form = el('form', { class: 'panel kickoff', 'aria-label': 'Start a background task' },
    el('h2', {}, 'New background task'),
    el('div', { class: 'field' }, el('label', { for: 'task-flow' }, 'Flow'), flowSelect),
    el('div', { class: 'field' }, el('label', { for: 'task-agent' }, 'Agent'), agentSelect),
    el('div', { class: 'field' }, el('label', { for: 'task-prompt' }, 'Prompt'), prompt),
    el('button', { type: 'submit' }, 'Start'), status);

  main.append(el('h1', {}, 'Background tasks'), form,
    el('div', { class: 'table-wrap' }, el('table', { class: 'runs tasks', id: 'tasks', role: 'table',
                                                'aria-label': 'Background tasks, newest first' },
      el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' },
        ['Task', 'Flow', 'Agent', 'Status', 'Created', 'Duration', '']
          .map((h) => el('th', { scope: 'col', role: 'columnheader' }, h)))), tbody)),
    detail);

  let agents = new Map();
  async function loadFlows() {
    agents = await flowAgents();
    for (const name of agents.keys()) flowSelect.append(el('option', { value: name }, name));
    fillAgents();
  }
  function fillAgents() {
    fill(agentSelect, ...(agents.get(flowSelect.value) || [])
      .map((a) => el('option', { value: a }, a)));
  }
  flowSelect.addEventListener('change', fillAgents);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const answer = await post('/v1/tasks', { flow: flowSelect.value, agent: agentSelect.value,
                                               prompt: prompt.value });
      fill(status, `Started ${shortId(answer.task_id)}.`);
      await reload(answer.task_id);
      show(answer.task_id);
    } catch (error) {
      fill(status, errorBox(error));
    }
  });

  function render() {
    const list = [...tasks.values()].sort((a, b) => b.created_wall_us - a.created_wall_us);
    const td = (...content) => el('td', { role: 'cell' }, ...content);
    tbody.replaceChildren(...list.map((t) => el('tr', { role: 'row', dataset: { task: t.task_id } },
      td( el('button', { type: 'button', class: 'link mono', title: t.task_id,
                                  onclick: () => show(t.task_id) }, shortId(t.task_id))),
      td(t.flow), td(t.agent), td(badge(t.status)), td(formatTime(t.created_wall_us)),
      td(t.status === 'running' ? 'running' : formatDuration(t.duration_us)),
      td(t.status === 'running'
        ? el('button', { type: 'button', class: 'danger', onclick: () => cancel(t.task_id) },
             'Cancel') : ''))));
    if (open) show(open);
  }

  function show(id) {
    open = id;
    const t = tasks.get(id);
    if (!t) return;
    fill(detail, el('h2', {}, `Task ${shortId(id)}`),
      el('p', {}, badge(t.status), ` ${t.flow} · ${t.agent}`),
      t.error ? el('pre', { class: 'error' }, t.error) : null,
      el('pre', { class: 'output', id: 'task-detail-output' },
         t.output ?? (t.status === 'running' ? '(running)' : '(none)')));
  }

  async function cancel(id) {
    try {
      tasks.set(id, await post(`/v1/tasks/${enc(id)}/cancel`));
      render();
    } catch (error) {
      fill(status, errorBox(error));
    }
  }

  async function reload(id) {
    if (id) tasks.set(id, await get(`/v1/tasks/${enc(id)}`));
    else for (const t of (await get('/v1/tasks')).tasks) tasks.set(t.task_id, t);
    render();
  }

  const stream = new EventStream('/v1/events', {
    onState: setLive,
    onEvent: (type, event) => {
      if (type === 'feed.ready' || type === 'feed.reset') reload().catch(() => {});
      else if ((type === 'run.started' && !tasks.has(event.run_id) && event.flow.includes('.')
                   && !agents.has(event.flow))
               || (RUN_ENDS.has(type) && tasks.has(event.run_id)))
        reload(event.run_id).catch(() => {});
    },
  });
  loadFlows().catch((error) => fill(status, errorBox(error)));
  return { unmount: () => stream.close() };
}
