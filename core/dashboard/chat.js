// chat.js — one conversation (#/thread/ID): its messages (the user's, the
// assistant's with the tools it called, the tools' results, weft's
// notices), the assistant's answer as it streams in, the background tasks
// the model started with their status and time (and a cancel button), and
// a message box that stays usable while a turn and tasks run
// (docs/conversations.md).
//
// The thread is read once (GET /v1/threads/ID), then its stream (GET
// /v1/threads/ID/events) replays the events the server kept and follows
// the live ones.  Messages are keyed by their place in the history (seq)
// and tasks by id, so what the read and the replay both hold is shown
// once.  Streamed text (thread.step chunks, never replayed) grows one
// answer until the message it makes up arrives.  Everything the server
// sends is inserted as text.

import { ApiError, enc, get, post } from './api.js';
import { EventStream } from './sse.js';
import { badge, el, errorBox, fill, formatDuration, formatTime, pretty, setLive,
         shortId } from './util.js';

const TASK_ENDED = new Set(['completed', 'failed', 'cancelled', 'interrupted']);

// A tool's arguments or result: JSON shown indented, anything else as it is.
function jsonText(text) {
  if (typeof text !== 'string') return text == null ? '' : pretty(text);
  try {
    const value = JSON.parse(text);
    return typeof value === 'object' && value !== null ? pretty(value) : text;
  } catch {
    return text;
  }
}

const WHO = { user: 'you', assistant: 'assistant', tool: 'tool result', notice: 'weft' };

function messageItem(m, toolNames) {
  const head = el('div', { class: 'msg-head' },
    el('span', { class: 'msg-who' }, WHO[m.role] || m.role),
    el('time', { class: 'msg-time' }, formatTime(m.wall_us)));
  const body = [];
  if (m.role === 'tool') {
    head.firstChild.textContent = `← ${toolNames.get(m.tool_call_id) || 'tool'}`;
    body.push(el('pre', { class: 'msg-tool' }, jsonText(m.content)));
  } else if (m.content) {
    body.push(el('p', { class: 'msg-text' }, m.content));
  }
  for (const call of m.tool_calls || []) {
    toolNames.set(call.id, call.function?.name);
    body.push(el('div', { class: 'tool-call', dataset: { call: call.id } },
      el('span', { class: 'tool-name' }, `→ ${call.function?.name ?? '?'}`),
      el('pre', {}, jsonText(call.function?.arguments))));
  }
  return el('li', { class: `msg msg-${m.role}`, dataset: { seq: m.seq } }, head, ...body);
}

export function mount(main, { id }) {
  const abort = new AbortController();
  const messages = new Map();         // seq → <li>
  const toolNames = new Map();        // tool call id → tool name
  const tasks = new Map();            // task id → { task, seen: performance.now() }
  const turnNotes = new Map();        // turn → its failure's <li>
  let thread = null;
  let stream = null;
  let streaming = null;               // the <li> an answer streams into
  let ticker = null;

  const facts = el('div', { class: 'run-summary' }, 'Loading the conversation…');
  const log = el('ol', { class: 'chat-log', id: 'chat-log', role: 'log', 'aria-live': 'polite',
                         'aria-label': 'Messages', tabindex: 0 });
  const taskList = el('ul', { class: 'bg-tasks', id: 'bg-tasks' });
  const input = el('textarea', { id: 'chat-input', rows: 2, required: true,
                                 placeholder: 'Write a message (Enter sends, Shift+Enter: a new line)' });
  const sendStatus = el('div', { class: 'form-status', role: 'status', id: 'chat-status' });
  const stop = el('button', { type: 'button', id: 'chat-stop', class: 'quiet', disabled: true,
                              onclick: () => cancel('', stop) }, 'Stop the answer');
  const form = el('form', { class: 'chat-form', id: 'chat-form', 'aria-label': 'Send a message' },
    el('label', { for: 'chat-input', class: 'visually-hidden' }, 'Message'), input,
    el('div', { class: 'chat-buttons' }, el('button', { type: 'submit' }, 'Send'), stop),
    sendStatus);

  main.append(el('p', { class: 'crumbs' }, el('a', { href: '#/threads' }, '← Conversations')),
    el('h1', { class: 'run-title' }, 'Conversation ', el('span', { class: 'mono' }, id)),
    facts,
    el('div', { class: 'chat-grid' },
      el('section', { class: 'panel chat-panel', 'aria-labelledby': 'chat-h' },
        el('h2', { id: 'chat-h', class: 'visually-hidden' }, 'Messages'), log, form),
      el('section', { class: 'panel', 'aria-labelledby': 'bg-h' },
        el('h2', { id: 'bg-h' }, 'Background tasks'), taskList,
        el('p', { class: 'note', id: 'bg-empty' }, 'None started yet.'))));

  // ---- messages ---------------------------------------------------------------------

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  function keepInView(wasNear) {
    if (wasNear) log.scrollTop = log.scrollHeight;
  }
  // The history's end: above the answer streaming in and the messages waiting.
  const tail = () => streaming || log.querySelector('.msg.queued');

  function addMessage(m) {
    if (messages.has(m.seq)) return;
    const near = nearBottom();
    if (m.role === 'assistant') endStream();
    if (m.role === 'user')
      [...log.querySelectorAll('.msg.queued')].find((q) => q.dataset.content === m.content)
        ?.remove();
    const item = messageItem(m, toolNames);
    messages.set(m.seq, item);
    // In the history's order; they come in it, but a read and a replay may cross.
    const after = [...messages.keys()].filter((s) => s > m.seq).sort((a, b) => a - b)[0];
    log.insertBefore(item, after !== undefined ? messages.get(after) : tail());
    keepInView(near);
  }

  function chunk(text) {
    const near = nearBottom();
    if (!streaming) {
      const before = tail();
      streaming = el('li', { class: 'msg msg-assistant streaming', id: 'chat-streaming',
                             'aria-busy': 'true' },
        el('div', { class: 'msg-head' }, el('span', { class: 'msg-who' }, 'assistant'),
           el('span', { class: 'msg-time' }, 'writing…')),
        el('p', { class: 'msg-text' }));
      log.insertBefore(streaming, before);
    }
    streaming.lastChild.append(text);
    keepInView(near);
  }

  function endStream() {
    streaming?.remove();
    streaming = null;
  }

  function turnEnded(event) {
    endStream();
    if (event.output === 'completed' || turnNotes.has(event.turn)) return;
    const note = el('li', { class: 'msg msg-turn-end' },
      `The answer (turn ${event.turn}) ${event.output}${event.error ? `: ${event.error}` : ''}.`);
    turnNotes.set(event.turn, note);
    log.insertBefore(note, tail());
  }

  // ---- background tasks -------------------------------------------------------------

  function elapsed(entry) {
    const t = entry.task;
    if (TASK_ENDED.has(t.status)) return formatDuration(t.duration_us);
    // Counted from the server's figure: no clock of the browser's is compared with its.
    return formatDuration(Math.round((t.duration_us || 0)
                                     + (performance.now() - entry.seen) * 1000));
  }

  function taskItem(entry) {
    const t = entry.task;
    const running = t.status === 'running';
    return el('li', { class: 'bg-task', dataset: { task: t.task_id, status: t.status } },
      el('div', { class: 'bg-head' },
        el('span', { class: 'tool-name' }, t.name), el('span', { class: 'mono note' }, t.task_id),
        badge(t.status), el('span', { class: 'elapsed' }, elapsed(entry))),
      t.arguments ? el('pre', { class: 'bg-args' }, jsonText(t.arguments)) : null,
      t.run_id ? el('a', { href: `#/run/${enc(t.run_id)}` }, `its run ${shortId(t.run_id)}`) : null,
      t.result != null ? el('pre', { class: 'bg-result' }, jsonText(t.result)) : null,
      t.error ? el('pre', { class: 'error' }, t.error) : null,
      running ? el('button', { type: 'button', class: 'danger', 'aria-label': `Cancel ${t.task_id}`,
                               onclick: (e) => cancel(t.task_id, e.target) }, 'Cancel') : null);
  }

  function setTask(t) {
    const old = tasks.get(t.task_id);
    // A replayed start never undoes an end the read already showed.
    if (old && TASK_ENDED.has(old.task.status) && !TASK_ENDED.has(t.status)) return;
    tasks.set(t.task_id, { task: t, seen: performance.now() });
    renderTasks();
  }

  function renderTasks() {
    const list = [...tasks.values()].sort((a, b) => a.task.started_wall_us - b.task.started_wall_us);
    taskList.replaceChildren(...list.map(taskItem));
    main.querySelector('#bg-empty').hidden = list.length > 0;
    const running = list.some((e) => e.task.status === 'running');
    if (running && !ticker) ticker = setInterval(tick, 1000);
    if (!running && ticker) { clearInterval(ticker); ticker = null; }
  }

  function tick() {
    for (const entry of tasks.values())
      if (entry.task.status === 'running')
        taskList.querySelector(`[data-task="${CSS.escape(entry.task.task_id)}"] .elapsed`)
          .textContent = elapsed(entry);
  }

  // ---- the thread --------------------------------------------------------------------

  function renderFacts() {
    const s = thread.settings || {};
    fill(facts, el('dl', { class: 'facts' },
      el('dt', {}, 'Flow'), el('dd', {}, thread.flow),
      el('dt', {}, 'Agent'), el('dd', {}, thread.agent ?? ''),
      el('dt', {}, 'Strategy'), el('dd', {}, s.strategy ?? ''),
      el('dt', {}, 'State'), el('dd', { id: 'thread-state' },
        thread.closed ? 'closed' : thread.busy ? 'answering' : 'idle'),
      thread.last_error ? [el('dt', {}, 'Error'), el('dd', { class: 'error' }, thread.last_error)]
        : null));
    stop.disabled = !thread.busy || thread.closed;
    main.dataset.state = thread.closed ? 'closed' : thread.busy ? 'busy' : 'idle';
    if (thread.closed) {
      input.disabled = true;
      form.querySelector('button[type=submit]').disabled = true;
    }
  }

  function onEvent(type, event) {
    let output = null;
    if (typeof event.output === 'string' && (type === 'thread.message' || type.startsWith('thread.task_')))
      try { output = JSON.parse(event.output); } catch { return; }
    switch (type) {
      case 'thread.message': addMessage(output); break;
      case 'thread.task_started':
      case 'thread.task_finished': setTask(output); break;
      case 'thread.step': if (event.step_kind === 'chunk') chunk(event.output ?? ''); break;
      case 'thread.turn_started': thread.busy = true; renderFacts(); break;
      case 'thread.turn_finished':
        turnEnded(event);
        thread.busy = false;
        thread.last_error = event.error ?? null;
        renderFacts();
        break;
      case 'thread.deleted': thread.closed = true; renderFacts(); break;
      default: break;
    }
  }

  async function send(event) {
    event.preventDefault();
    const content = input.value;
    if (!content.trim()) return;
    // Shown as waiting until it enters the history (at once, or after the
    // turn), which its event may say before the answer to the POST does.
    const near = nearBottom();
    const waiting = el('li', { class: 'msg msg-user queued', dataset: { content } },
      el('div', { class: 'msg-head' }, el('span', { class: 'msg-who' }, 'you'),
         el('span', { class: 'msg-time' }, 'waiting')),
      el('p', { class: 'msg-text' }, content));
    log.append(waiting);
    keepInView(near);
    input.value = '';
    try {
      await post(`/v1/threads/${enc(id)}/messages`, { content });
      fill(sendStatus);
    } catch (error) {
      waiting.remove();
      if (!input.value) input.value = content;
      fill(sendStatus, errorBox(error.status === 409
        ? new ApiError(409, `Not sent: ${error.message}`) : error));
    }
    input.focus();
  }

  async function cancel(taskId, button) {
    button.disabled = true;
    try {
      await post(`/v1/threads/${enc(id)}/cancel`, taskId ? { task_id: taskId } : {});
    } catch (error) {
      fill(sendStatus, errorBox(error));
      button.disabled = false;
    }
  }

  form.addEventListener('submit', send);
  input.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    form.requestSubmit();
  });

  async function load() {
    try {
      thread = await get(`/v1/threads/${enc(id)}`, { signal: abort.signal });
    } catch (error) {
      if (error.name !== 'AbortError') fill(facts, errorBox(error));
      return;
    }
    renderFacts();
    for (const m of thread.messages || []) addMessage(m);
    for (const t of thread.tasks || []) setTask(t);
    log.scrollTop = log.scrollHeight;
    stream = new EventStream(`/v1/threads/${enc(id)}/events`, {
      onEvent,
      isLast: (type) => type === 'thread.deleted',
      onState: (s) => {
        setLive(s);
        main.dataset.stream = s;
      },
    });
    input.focus();
  }

  load();
  return {
    unmount() {
      abort.abort();
      stream?.close();
      clearInterval(ticker);
    },
  };
}
