// kickoff.js — starting runs (#/start): for each served flow, a form
// built from the inputs its tasks use (prefilled with the flow's
// defaults), and a batch from pasted JSON lines (one inputs object per
// line, POST /v1/flows/FLOW/batch, at most N at a time).

import { get, post, enc } from './api.js';
import { fill, el, errorBox } from './util.js';

function inputField(flow, name, value) {
  const id = `in-${flow}-${name}`;
  const long = typeof value === 'string' && value.length > 60;
  return el('div', { class: 'field' },
    el('label', { for: id }, name),
    el(long ? 'textarea' : 'input', { id, name, 'data-input': name, rows: long ? 3 : undefined,
                                      value: long ? undefined : value ?? '',
                                      placeholder: value === undefined ? 'required' : undefined },
       long ? value : undefined));
}

// What the fields hold, as text (templates fill in text); an empty field
// is left out, so that the flow's default applies.
function readInputs(form) {
  const inputs = {};
  for (const field of form.querySelectorAll('[data-input]')) {
    if (field.value === '') continue;
    inputs[field.dataset.input] = field.value;
  }
  return inputs;
}

function parseLines(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return lines.map((line, i) => {
    let value;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new Error(`line ${i + 1}: not JSON (${error.message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error(`line ${i + 1}: not a JSON object of inputs`);
    return value;
  });
}

function flowSection(flow, detail) {
  const status = el('div', { class: 'form-status', role: 'status' });
  const defaults = detail.defaults || {};
  const form = el('form', { class: 'kickoff', 'aria-label': `Start ${flow.name}` },
    flow.inputs.length ? flow.inputs.map((name) => inputField(flow.name, name, defaults[name]))
      : el('p', { class: 'note' }, 'This flow takes no inputs.'),
    el('button', { type: 'submit' }, `Start ${flow.name}`));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(status, 'Starting…');
    try {
      const answer = await post(`/v1/flows/${enc(flow.name)}/runs`, { inputs: readInputs(form) });
      location.hash = `#/run/${enc(answer.run_id)}`;
    } catch (error) {
      fill(status, errorBox(error));
    }
  });

  const linesId = `batch-${flow.name}`;
  const parallelId = `parallel-${flow.name}`;
  const batchStatus = el('div', { class: 'form-status', role: 'status' });
  const batch = el('form', { class: 'batch' },
    el('label', { for: linesId }, 'Inputs, one JSON object per line'),
    el('textarea', { id: linesId, rows: 4, class: 'mono',
                     placeholder: flow.inputs.length
                       ? `{${flow.inputs.map((n) => `"${n}": "…"`).join(', ')}}` : '{}' }),
    el('div', { class: 'field inline' },
      el('label', { for: parallelId }, 'At most at once'),
      el('input', { id: parallelId, type: 'number', min: 1, value: 4 })),
    el('button', { type: 'submit' }, 'Start the batch'));
  batch.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const inputs = parseLines(batch.querySelector('textarea').value);
      if (!inputs.length) throw new Error('no inputs: paste one JSON object per line');
      const maxParallel = Number(batch.querySelector('input').value) || inputs.length;
      const answer = await post(`/v1/flows/${enc(flow.name)}/batch`,
                                { inputs, max_parallel: maxParallel });
      fill(batchStatus, `Started ${answer.run_ids.length} runs: `,
        el('a', { href: '#/runs' }, 'see them in the runs table'), '.');
    } catch (error) {
      fill(batchStatus, errorBox(error));
    }
  });

  return el('section', { class: 'panel flow-card', dataset: { flow: flow.name },
                         'aria-labelledby': `flow-${flow.name}` },
    el('h2', { id: `flow-${flow.name}` }, flow.name),
    el('p', { class: 'note' }, `${flow.task_count} tasks · ${flow.process} · ${flow.file}`),
    form, status,
    el('details', { class: 'batch-box' }, el('summary', {}, 'Batch from JSON lines'),
       batch, batchStatus));
}

export function mount(main) {
  const list = el('div', { class: 'flows' }, el('p', { class: 'note' }, 'Loading flows…'));
  main.append(el('h1', {}, 'Start a run'), list);
  (async () => {
    try {
      const { flows } = await get('/v1/flows');
      const details = await Promise.all(flows.map((f) => get(`/v1/flows/${enc(f.name)}`)));
      list.replaceChildren(...flows.map((f, i) => flowSection(f, details[i])));
      if (!flows.length) list.replaceChildren(el('p', { class: 'note' }, 'No flow is served.'));
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  })();
  return { unmount() {} };
}
