// runs.js — the live table of runs (#/runs): newest first, filtered by
// flow and status, searched by id, with counts by status.
//
// The runs come from GET /v1/runs (memory and the stores, up to 1000);
// then every change comes over the one stream of all runs' events
// (GET /v1/events, sse.js), never by polling.  The stream is opened
// first: its feed.ready (or feed.reset, after missing events) says when to
// read the runs, and an event whose seq the run's JSON already counted
// (last_seq) is not applied twice.  Rows are kept per run and redrawn at
// most once a frame, only those that changed.

import { get } from './api.js';
import { EventStream } from './sse.js';
import { STATUSES, badge, el, errorBox, fill, formatDuration, formatTime, frameScheduler,
         setLive, shortId } from './util.js';

const LIMIT = 1000;
const ENDS = { 'run.completed': 'completed', 'run.failed': 'failed',
               'run.cancelled': 'cancelled' };

function startedOf(run) {
  return run.started_wall_us || run.created_wall_us || 0;
}

export function mount(main) {
  const runs = new Map();            // id → run (its JSON, kept current)
  const rows = new Map();            // id → <tr>
  const dirty = new Set();           // ids whose row must be redrawn
  let flows = new Set();             // served flows: background tasks are not runs here
  let loaded = false;
  let pending = [];                  // events that came before the runs were read
  let order = [];                    // ids shown, in order; null: sort again
  const added = [];                  // runs new since the last drawing
  const filter = { flow: '', status: '', q: '' };

  const flowSelect = el('select', { id: 'filter-flow', onchange: () => {
    filter.flow = flowSelect.value; reorder(); } }, el('option', { value: '' }, 'all flows'));
  const statusSelect = el('select', { id: 'filter-status', onchange: () => {
    filter.status = statusSelect.value; reorder(); } },
    el('option', { value: '' }, 'any status'),
    STATUSES.map((s) => el('option', { value: s }, s)));
  const search = el('input', { id: 'filter-id', type: 'search', placeholder: 'run id',
                               autocomplete: 'off', oninput: () => {
                                 filter.q = search.value.trim().toLowerCase(); reorder(); } });
  const countOf = {};                // status → the number shown on its button
  const counts = el('ul', { class: 'counts', 'aria-label': 'Runs by status' },
    STATUSES.map((s) => el('li', {}, el('button', {
      type: 'button', class: `count st-${s}`, 'aria-pressed': 'false',
      onclick: () => { filter.status = filter.status === s ? '' : s;
                       statusSelect.value = filter.status; reorder(); } },
      countOf[s] = el('span', { class: 'n' }, '0'), ` ${s}`))));
  const tbody = el('tbody', { role: 'rowgroup' });
  const note = el('p', { class: 'note', role: 'status' }, 'Loading runs…');
  // Table roles are given: the style sheet lays rows out as grids.
  const header = (text, wide) => el('th', { scope: 'col', role: 'columnheader',
                                            class: wide ? 'wide' : undefined }, text);
  const table = el('table', { class: 'runs', role: 'table', 'aria-label': 'Runs, newest first',
                              'aria-describedby': 'runs-note' },
    el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' },
      header('Run'), header('Flow'), header('Status'), header('Started', true),
      header('Duration'))),
    tbody);
  note.id = 'runs-note';

  main.append(
    el('h1', {}, 'Runs'),
    counts,
    el('div', { class: 'filters', role: 'search' },
      el('label', { for: 'filter-flow' }, 'Flow'), flowSelect,
      el('label', { for: 'filter-status' }, 'Status'), statusSelect,
      el('label', { for: 'filter-id' }, 'Search'), search),
    note,
    el('div', { class: 'table-wrap' }, table));

  const draw = frameScheduler(render, 100);

  function matches(run) {
    return (!filter.flow || run.flow === filter.flow)
      && (!filter.status || run.status === filter.status)
      && (!filter.q || run.run_id.toLowerCase().includes(filter.q));
  }

  // A person's choice is answered at once, not at the next drawing.
  function reorder() {
    order = null;
    render();
  }

  function rowFor(run) {
    let tr = rows.get(run.run_id);
    if (!tr) {
      tr = el('tr', { role: 'row', dataset: { run: run.run_id } });
      rows.set(run.run_id, tr);
      dirty.add(run.run_id);
    }
    if (dirty.has(run.run_id)) {
      const duration = run.finished_wall_us && run.started_wall_us
        ? run.finished_wall_us - run.started_wall_us : run.duration_us;
      tr.dataset.status = run.status;
      fill(tr,
        el('td', { role: 'cell' }, el('a', { href: `#/run/${encodeURIComponent(run.run_id)}`,
                                             title: run.run_id, class: 'mono' },
                                      shortId(run.run_id))),
        el('td', { role: 'cell' }, run.flow),
        el('td', { role: 'cell' }, badge(run.status)),
        el('td', { role: 'cell', class: 'wide' }, formatTime(startedOf(run))),
        el('td', { role: 'cell' }, run.status === 'running' ? 'running'
                                                            : formatDuration(duration)));
      dirty.delete(run.run_id);
    }
    return tr;
  }

  function render() {
    const t0 = performance.now();
    // New runs are the newest, mostly: their rows go on top, no re-sort.
    if (order !== null && added.length) {
      const first = order.length ? startedOf(runs.get(order[0])) : 0;
      const fresh = added.filter((id) => matches(runs.get(id)))
        .sort((a, b) => startedOf(runs.get(a)) - startedOf(runs.get(b)));
      if (fresh.every((id) => startedOf(runs.get(id)) >= first))
        for (const id of fresh) {
          tbody.prepend(rowFor(runs.get(id)));
          order.unshift(id);
        }
      else order = null;
    }
    added.length = 0;
    if (order === null) {
      order = [...runs.values()].filter(matches)
        .sort((a, b) => startedOf(b) - startedOf(a)).map((r) => r.run_id);
      tbody.replaceChildren(...order.map((id) => rowFor(runs.get(id))));
    } else {
      for (const id of dirty) if (rows.has(id)) rowFor(runs.get(id));
    }
    dirty.clear();
    const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const run of runs.values())
      if (!filter.flow || run.flow === filter.flow) byStatus[run.status] = (byStatus[run.status] || 0) + 1;
    for (const s of STATUSES) {
      countOf[s].textContent = String(byStatus[s]);
      countOf[s].parentElement.setAttribute('aria-pressed', String(filter.status === s));
    }
    note.textContent = loaded ? (order.length ? `${order.length} of ${runs.size} runs shown`
      : runs.size ? 'No run matches.' : 'No runs yet: start one from Start.') : 'Loading runs…';
    // The time the page took to draw the runs, for tests and the curious.
    main.dataset.renderMs = (performance.now() - t0).toFixed(1);
    main.dataset.rows = String(order.length);
  }

  function upsert(id, change) {
    const run = runs.get(id);
    if (!run) return;
    const statusBefore = run.status;
    Object.assign(run, change);
    dirty.add(id);
    if (run.status !== statusBefore && filter.status) order = null;
  }

  function apply(type, event) {
    const id = event.run_id;
    let run = runs.get(id);
    if (!run) {
      if (!flows.has(event.flow)) return;
      run = { run_id: id, flow: event.flow, status: 'running', last_seq: 0,
              started_wall_us: event.wall_us };
      runs.set(id, run);
      added.push(id);
    }
    if (event.seq <= run.last_seq) return;
    run.last_seq = event.seq;
    if (type === 'run.started' || type === 'run.resumed')
      upsert(id, { status: 'running', started_wall_us: event.wall_us });
    else if (ENDS[type])
      upsert(id, { status: ENDS[type], finished_wall_us: event.wall_us,
                   duration_us: event.duration_us, error: event.error ?? null });
    else if (run.status === 'pending')
      upsert(id, { status: 'running' });
    draw();
  }

  async function load() {
    loaded = false;
    pending = [];
    const started = performance.now();
    try {
      const [list, served] = await Promise.all([get(`/v1/runs?limit=${LIMIT}`), get('/v1/flows')]);
      flows = new Set(served.flows.map((f) => f.name));
      for (const f of flows)
        if (![...flowSelect.options].some((o) => o.value === f))
          flowSelect.append(el('option', { value: f }, f));
      runs.clear();
      rows.clear();
      for (const run of list.runs) runs.set(run.run_id, { last_seq: 0, ...run });
      loaded = true;
      for (const [type, event] of pending) apply(type, event);
      pending = [];
      order = null;
      render();
      main.dataset.loadMs = (performance.now() - started).toFixed(1);
      // From the page's start: what a person waits for.
      main.dataset.shownAt ??= performance.now().toFixed(1);
    } catch (error) {
      note.replaceWith(errorBox(error));
    }
  }

  const stream = new EventStream('/v1/events', {
    onState: setLive,
    onEvent: (type, event) => {
      if (type === 'feed.ready' || type === 'feed.reset') load();
      else if (!loaded) pending.push([type, event]);
      else apply(type, event);
    },
  });

  return { unmount: () => stream.close() };
}
