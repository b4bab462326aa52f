// app.js — the dashboard's entry: the token prompt, the header, and the
// router that mounts one view at a time for the location's hash:
//
//   #/runs               runs.js      the live table of runs
//   #/run/ID[/TASK]      run.js       one run: graph, timeline, a task
//   #/start              kickoff.js   a form per flow; batches
//   #/tasks              tasks.js     background tasks of agents
//   #/threads            threads.js   conversations; start one
//   #/thread/ID          chat.js      one conversation: talk to its agent

import { askToken, forgetToken, hasToken, health, setTokenPrompt } from './api.js';
import { el } from './util.js';
import * as runs from './runs.js';
import * as run from './run.js';
import * as kickoff from './kickoff.js';
import * as tasks from './tasks.js';
import * as threads from './threads.js';
import * as chat from './chat.js';

const main = document.getElementById('main');
const logout = document.getElementById('logout');
let current = null;

// ---- the token ----------------------------------------------------------------

function showLogin(message) {
  const dialog = document.getElementById('login');
  const form = document.getElementById('login-form');
  const input = document.getElementById('token');
  document.getElementById('login-error').textContent = message || '';
  input.value = '';
  return new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      if (!input.value) return;
      dialog.close();
      logout.hidden = false;
      resolve(input.value);
    };
    // The page can do nothing without it: Escape does not dismiss it.
    dialog.oncancel = (event) => event.preventDefault();
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

setTokenPrompt(showLogin);
logout.addEventListener('click', () => {
  forgetToken();
  location.reload();
});

// ---- routes -------------------------------------------------------------------

const routes = [
  [/^#\/run\/([^/]+)(?:\/(.+))?$/, (m) => run.mount(main, { id: decodeURIComponent(m[1]),
    task: m[2] ? decodeURIComponent(m[2]) : null }), 'runs'],
  [/^#\/start$/, () => kickoff.mount(main), 'start'],
  [/^#\/tasks$/, () => tasks.mount(main), 'tasks'],
  [/^#\/threads$/, () => threads.mount(main), 'threads'],
  [/^#\/thread\/([^/]+)$/, (m) => chat.mount(main, { id: decodeURIComponent(m[1]) }), 'threads'],
  [/^#\/runs$/, () => runs.mount(main), 'runs'],
];

function route() {
  const hash = location.hash || '#/runs';
  // Choosing a task on the page it is on is no new page.
  if (current?.update && current.update(hash)) return;
  current?.unmount();
  current = null;
  main.replaceChildren();
  // What a view says of itself (data-status, timings) is its own.
  for (const key of Object.keys(main.dataset)) delete main.dataset[key];
  for (const [pattern, mount, section] of routes) {
    const m = hash.match(pattern);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]'))
      a.toggleAttribute('aria-current', a.dataset.nav === section);
    current = mount(m);
    return;
  }
  main.append(el('p', {}, 'No such page. ', el('a', { href: '#/runs' }, 'See the runs.')));
}

async function start() {
  const state = await health().catch(() => null);
  if (state?.token_required && !hasToken()) await askToken('');
  if (hasToken()) logout.hidden = false;
  window.addEventListener('hashchange', route);
  route();
}

start();
