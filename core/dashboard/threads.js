// threads.js — conversations (#/threads): the threads the server has,
// newest first, and a form that starts one (POST /v1/threads: a flow, and
// optionally its agent and its strategy; docs/conversations.md).  A
// thread opens in chat.js (#/thread/ID).
//
// The list comes from GET /v1/threads; the stream of every event (GET
// /v1/events carries the threads' too) says when to read it again: a
// thread begins, answers, takes a message or is closed.  Reads are
// gathered, at most a few a second, however many events come.

import { enc, flowAgents, get, post } from './api.js';
import { EventStream } from './sse.js';
import { el, errorBox, fill, formatTime, setLive, shortId } from './util.js';

const STRATEGIES = ['enqueue', 'interrupt', 'reject'];
const RELOAD_GAP_MS = 300;

function threadRow(t) {
  const td = (...content) => el('td', { role: 'cell' }, ...content);
  const state = t.loaded === false ? 'stored' : t.busy ? 'answering' : 'idle';
  return el('tr', { role: 'row', dataset: { thread: t.thread_id } },
    td(el('a', { href: `#/thread/${enc(t.thread_id)}`, class: 'mono', title: t.thread_id },
          shortId(t.thread_id))),
    td(t.flow), td(t.agent ?? ''),
    td(el('span', { class: `badge st-${t.busy ? 'running' : 'pending'}` }, state)),
    td(String(t.messages ?? '')), td({ class: 'wide' }, formatTime(t.created_wall_us)));
}

function newThreadForm(status) {
  const flowSelect = el('select', { id: 'thread-flow', required: true });
  const agentSelect = el('select', { id: 'thread-agent' });
  const strategySelect = el('select', { id: 'thread-strategy' },
    el('option', { value: '' }, 'the flow\'s (enqueue unless it says)'),
    STRATEGIES.map((s) => el('option', { value: s }, s)));
  const form = el('form', { class: 'panel kickoff', 'aria-label': 'Start a conversation' },
    el('h2', {}, 'New conversation'),
    el('div', { class: 'field' }, el('label', { for: 'thread-flow' }, 'Flow'), flowSelect),
    el('div', { class: 'field' }, el('label', { for: 'thread-agent' }, 'Agent'), agentSelect),
    el('div', { class: 'field' },
      el('label', { for: 'thread-strategy' }, 'A message sent while it answers'), strategySelect),
    el('button', { type: 'submit' }, 'Start'), status);

  const agents = new Map();
  const fillAgents = () => fill(agentSelect,
    el('option', { value: '' }, 'the flow\'s chat agent'),
    (agents.get(flowSelect.value) || []).map((a) => el('option', { value: a }, a)));
  flowSelect.addEventListener('change', fillAgents);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { flow: flowSelect.value };
    if (agentSelect.value) body.agent = agentSelect.value;
    if (strategySelect.value) body.strategy = strategySelect.value;
    fill(status, 'Starting…');
    try {
      const answer = await post('/v1/threads', body);
      location.hash = `#/thread/${enc(answer.thread_id)}`;
    } catch (error) {
      fill(status, errorBox(error));
    }
  });

  const load = async () => {
    for (const [name, list] of await flowAgents()) {
      agents.set(name, list);
      flowSelect.append(el('option', { value: name }, name));
    }
    fillAgents();
  };
  return { form, load };
}

export function mount(main) {
  const status = el('div', { class: 'form-status', role: 'status' });
  const { form, load } = newThreadForm(status);
  const tbody = el('tbody', { role: 'rowgroup' });
  const empty = el('p', { class: 'note', id: 'threads-empty' }, 'No conversation yet.');
  main.append(el('h1', {}, 'Conversations'), form,
    el('div', { class: 'table-wrap' },
      el('table', { class: 'runs threads', id: 'threads', role: 'table',
                    'aria-label': 'Conversations, newest first' },
        el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' },
          ['Thread', 'Flow', 'Agent', 'State', 'Messages', 'Started'].map((h, i) =>
            el('th', { scope: 'col', role: 'columnheader', class: i === 5 ? 'wide' : undefined },
               h)))),
        tbody)),
    empty);

  let timer = null;
  let reading = false;
  async function reload() {
    timer = null;
    if (reading) { timer = setTimeout(reload, RELOAD_GAP_MS); return; }
    reading = true;
    try {
      const { threads } = await get('/v1/threads');
      tbody.replaceChildren(...threads.map(threadRow));
      empty.hidden = threads.length > 0;
    } catch (error) {
      fill(status, errorBox(error));
    } finally {
      reading = false;
    }
  }
  const soon = () => { timer ??= setTimeout(reload, RELOAD_GAP_MS); };

  const stream = new EventStream('/v1/events', {
    onState: setLive,
    onEvent: (type) => {
      if (type === 'feed.ready' || type === 'feed.reset') reload();
      else if (type.startsWith('thread.') && type !== 'thread.step') soon();
    },
  });
  load().catch((error) => fill(status, errorBox(error)));
  return {
    unmount() {
      stream.close();
      clearTimeout(timer);
    },
  };
}
