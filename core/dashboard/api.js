// api.js — talking to weft serve's HTTP API (docs/http-api.md): JSON
// requests with the token, and the token itself.
//
// The token is asked for once (app.js's prompt), kept for this tab only
// (sessionStorage: gone when the tab closes, never shared with other
// tabs), and sent in the Authorization header, never in a URL.  A 401
// asks again and retries; every caller waits for the same prompt.

const KEY = 'weft.token';
let token = sessionStorage.getItem(KEY);
let prompt = null;        // (message) => Promise<string>: set by app.js
let asking = null;        // the prompt being shown, shared by every caller

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setTokenPrompt(fn) { prompt = fn; }
export function hasToken() { return token !== null; }

export function forgetToken() {
  token = null;
  sessionStorage.removeItem(KEY);
}

// Waits for a token from the prompt (one prompt however many callers).
export function askToken(message) {
  if (!prompt) return Promise.reject(new ApiError(401, 'a token is needed'));
  if (!asking) {
    asking = prompt(message).then((t) => {
      token = t;
      sessionStorage.setItem(KEY, t);
      asking = null;
    });
  }
  return asking;
}

export function authHeaders(extra = {}) {
  const headers = new Headers(extra);
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  return headers;
}

// fetch() with the token; a 401 asks for another and tries again.
export async function authFetch(path, init = {}) {
  for (;;) {
    const sent = token;
    const response = await fetch(path, { ...init, cache: 'no-store',
                                         headers: authHeaders(init.headers || {}) });
    if (response.status !== 401) return response;
    await response.body?.cancel();
    await askToken(sent === null ? '' : 'That token was refused.');
  }
}

async function readError(response) {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.error || response.statusText);
  } catch {
    return new ApiError(response.status, response.statusText);
  }
}

export async function request(method, path, body, { signal } = {}) {
  const init = { method, signal, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await authFetch(path, init);
  if (!response.ok) throw await readError(response);
  return response.json();
}

export const get = (path, options) => request('GET', path, undefined, options);
export const post = (path, body, options) => request('POST', path, body ?? {}, options);

export async function getText(path, { signal } = {}) {
  const response = await authFetch(path, { signal });
  if (!response.ok) throw await readError(response);
  return response.text();
}

// GET /healthz needs no token: it says whether the others do.
export async function health() {
  const response = await fetch('/healthz', { cache: 'no-store' });
  return response.json();
}

export const enc = encodeURIComponent;

// Each served flow's agents, by the flow's name (in the order served):
// what the forms that start a background task or a conversation offer.
export async function flowAgents({ signal } = {}) {
  const { flows } = await get('/v1/flows', { signal });
  const details = await Promise.all(flows.map((f) => get(`/v1/flows/${enc(f.name)}`, { signal })));
  return new Map(details.map((d) => [d.name, d.agents.map((a) => a.name)]));
}
