// graph.js — the run page's graph: the flow drawn by Graphviz on the
// server (GET /v1/flows/FLOW/graph.svg, laid out by `dot`), each node
// coloured by its task's state (a class the style sheet colours, in
// light and dark schemes) and chosen by click or keyboard.
//
// Graphviz writes each node as <g class="node"> whose <title> is the
// task's name; the SVG is parsed as XML and adopted, never run.

import { getText, enc } from './api.js';
import { el } from './util.js';

export class Graph {
  constructor(box, onSelect) {
    this.box = box;
    this.onSelect = onSelect;
    this.nodes = new Map();      // task name → <g>
    this.canvas = el('div', { class: 'graph', id: 'graph' }, el('p', { class: 'note' },
      'Drawing the graph…'));
    box.append(this.canvas);
  }

  async load(flow, tasks, signal) {
    let text;
    try {
      text = await getText(`/v1/flows/${enc(flow)}/graph.svg`, { signal });
    } catch (error) {
      if (error.name === 'AbortError') return;
      this.canvas.replaceChildren(el('p', { class: 'note' },
        `No graph: ${error.message}. The timeline below shows every task.`));
      return;
    }
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.nodeName !== 'svg') {
      this.canvas.replaceChildren(el('p', { class: 'note' }, 'No graph: Graphviz said nothing.'));
      return;
    }
    // The page's width, not Graphviz's points; the view box keeps the shape.
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    svg.setAttribute('role', 'group');
    svg.setAttribute('aria-label', `Graph of flow ${flow}`);
    for (const node of svg.querySelectorAll('script, foreignObject')) node.remove();
    for (const g of svg.querySelectorAll('g.node')) {
      const name = g.querySelector('title')?.textContent;
      if (!tasks.has(name)) continue;
      g.setAttribute('tabindex', '0');
      g.setAttribute('role', 'button');
      g.dataset.task = name;
      g.addEventListener('click', () => this.onSelect(name));
      g.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          this.onSelect(name);
        }
      });
      this.nodes.set(name, g);
    }
    this.canvas.replaceChildren(document.adoptNode(svg));
  }

  setState(name, status) {
    const g = this.nodes.get(name);
    if (!g || g.dataset.status === status) return;
    g.dataset.status = status;
    g.setAttribute('aria-label', `${name}: ${status}`);
  }

  select(name) {
    for (const [task, g] of this.nodes) g.classList.toggle('selected', task === name);
  }
}
