// util.js — what every view shares: building elements, formatting times
// and durations, status badges, and drawing at most once a frame.

// el('a', {href: '#', class: 'x', onclick: f}, 'text', child...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// node.replaceChildren, leaving out what is null or false (a part not shown).
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined
                                                        && c !== false));
  return node;
}

// Made once: toLocaleTimeString makes a formatter per call, which a table
// of a thousand runs feels.
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit',
                                                        second: '2-digit', hour12: false });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short' });

export function formatTime(wallUs) {
  if (!wallUs) return '—';
  const d = new Date(wallUs / 1000);
  const time = timeFormat.format(d);
  return d.toDateString() === new Date().toDateString() ? time
    : `${dateFormat.format(d)} ${time}`;
}

export function formatDuration(us) {
  if (us === null || us === undefined || us < 0) return '—';
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${Math.round(us / 1000)} ms`;
  if (us < 60e6) return `${(us / 1e6).toFixed(us < 10e6 ? 2 : 1)} s`;
  const s = Math.round(us / 1e6);
  return s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s`
    : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'];
export const ENDED = new Set(['completed', 'failed', 'cancelled', 'skipped']);

export function badge(status) {
  return el('span', { class: `badge st-${status}` }, status);
}

export function shortId(id) {
  return id.length > 13 ? id.slice(0, 8) : id;
}

// Calls fn at most once per animation frame, however often it is asked,
// and no sooner than `gapMs` after its last call: a page that events
// stream into lays itself out a few times a second, not at every one.
export function frameScheduler(fn, gapMs = 0) {
  let pending = false;
  let last = 0;
  const run = () => {
    pending = false;
    last = performance.now();
    fn();
  };
  return () => {
    if (pending) return;
    pending = true;
    const wait = last + gapMs - performance.now();
    if (wait > 0) setTimeout(() => requestAnimationFrame(run), wait);
    else requestAnimationFrame(run);
  };
}

export function errorBox(error) {
  return el('p', { class: 'error', role: 'alert' }, error.message || String(error));
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// The state of the page's event stream, in the header.
export function setLive(state) {
  const words = { live: 'live', retrying: 'reconnecting…', ended: 'idle', failed: 'offline' };
  const live = document.getElementById('live');
  live.textContent = words[state] || state;
  live.dataset.state = state;
}
