// gantt.js — the run page's timeline: one row per task, one bar per
// attempt from its start to its end, coloured by how it ended; tasks that
// ran at the same time overlap at a glance.
//
// Bars are placed by CSS from custom properties (each bar's start and
// length in ms after the run's start, the run's span on the chart), so
// that the span growing while the run goes on moves every bar without a
// script touching it: a tick sets two properties.

import { el, formatDuration } from './util.js';

export class Gantt {
  constructor(box, onSelect) {
    this.onSelect = onSelect;
    this.rows = new Map();       // task name → { row, track }
    this.start = 0;
    this.end = 0;
    this.open = false;
    this.axis = el('div', { class: 'gantt-axis', 'aria-hidden': 'true' });
    this.chart = el('div', { class: 'gantt', id: 'gantt', role: 'list' });
    box.append(this.axis, el('div', { class: 'gantt-scroll' }, this.chart));
  }

  setTasks(names) {
    const rows = names.map((name) => {
      const track = el('div', { class: 'gantt-track' });
      const label = el('button', { type: 'button', class: 'gantt-label', title: name,
                                   onclick: () => this.onSelect(name) }, name);
      const row = el('div', { class: 'gantt-row', role: 'listitem', dataset: { task: name } },
                     label, track);
      this.rows.set(name, { row, track });
      return row;
    });
    this.chart.replaceChildren(...rows);
  }

  // The run's start and end (null while it runs) in µs.
  setRange(startUs, endUs, open) {
    this.start = startUs || 0;
    this.end = endUs || 0;
    this.open = open;
    this.tick();
  }

  tick() {
    if (!this.start) return;
    const nowMs = ((this.open || !this.end ? Date.now() * 1000 : this.end) - this.start) / 1000;
    const span = Math.max(nowMs, 1);
    this.chart.style.setProperty('--now', nowMs.toFixed(1));
    this.chart.style.setProperty('--span', span.toFixed(1));
    this.axis.textContent = `0 — ${formatDuration(Math.round(span * 1000))}`;
  }

  update(task) {
    const entry = this.rows.get(task.name);
    if (!entry) return;
    entry.row.dataset.status = task.status;
    const bars = task.segments.map((s) => {
      const bar = el('div', { class: `gantt-bar st-${s.status}${s.end === null ? ' open' : ''}`,
                              title: `${task.name}, attempt ${s.attempt}: ${s.status}` });
      bar.style.setProperty('--s', ((s.start - this.start) / 1000).toFixed(1));
      if (s.end !== null) bar.style.setProperty('--d', ((s.end - s.start) / 1000).toFixed(1));
      return bar;
    });
    if (task.reused) bars.push(el('span', { class: 'gantt-reused' }, 'reused'));
    entry.track.replaceChildren(...bars);
  }

  select(name) {
    for (const [task, { row }] of this.rows) row.classList.toggle('selected', task === name);
  }
}
