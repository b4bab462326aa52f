// sse.js — a server-sent-event stream (GET /v1/events, GET
// /v1/runs/{id}/events) read with fetch(), not EventSource.
//
// EventSource cannot send headers, and the token must not go into a URL
// (it would be in logs, history and Referer); a short-lived ticket would
// need state and an endpoint on the server for what fetch() already does:
// its streamed body, read here, sends the Authorization header like every
// other request, in Chromium and Firefox alike.  Like EventSource, a
// stream that drops is opened again after a pause, with Last-Event-ID,
// and the server sends only what was missed.

import { authFetch } from './api.js';

const RETRY_MS = [500, 1000, 2000, 5000];

export class EventStream {
  // onEvent(type, data, id) for each frame; onState('live' | 'retrying' |
  // 'ended' | 'failed', detail); isLast(type) says a frame ends the stream.
  constructor(path, { onEvent, onState = () => {}, isLast = () => false }) {
    this.path = path;
    this.onEvent = onEvent;
    this.onState = onState;
    this.isLast = isLast;
    this.lastId = null;
    this.done = false;
    this.abort = new AbortController();
    this.loop();
  }

  close() {
    this.done = true;
    this.abort.abort();
  }

  async loop() {
    for (let failures = 0; !this.done;) {
      try {
        const headers = { Accept: 'text/event-stream' };
        if (this.lastId !== null) headers['Last-Event-ID'] = this.lastId;
        const response = await authFetch(this.path, { headers, signal: this.abort.signal });
        if (!response.ok) {
          let message = response.statusText;
          try { message = (await response.json()).error; } catch { /* not JSON */ }
          if (response.status === 404 || response.status === 400) {
            this.done = true;
            this.onState('failed', { status: response.status, message });
            return;
          }
          throw new Error(message);
        }
        failures = 0;
        this.onState('live');
        await this.read(response.body);
        if (this.done) return;
      } catch (error) {
        if (this.done) return;
      }
      this.onState('retrying');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(failures++, 3)]));
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    const lineEnd = /\r\n|\r|\n/g;
    let buffer = '';
    let frame = { id: null, type: 'message', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // Lines are read where they are; what is left is kept once per chunk
      // (slicing the buffer line by line copies a big chunk quadratically).
      let start = 0;
      let m;
      lineEnd.lastIndex = 0;
      while ((m = lineEnd.exec(buffer)) !== null) {
        // A CR at the chunk's end may be half of a CRLF: wait for the next.
        if (m[0] === '\r' && m.index === buffer.length - 1) break;
        const line = buffer.slice(start, m.index);
        start = lineEnd.lastIndex;
        if (line === '') {
          if (frame.data.length) this.dispatch(frame);
          frame = { id: null, type: 'message', data: [] };
          if (this.done) { reader.cancel(); return; }
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'data') frame.data.push(text);
        else if (field === 'event') frame.type = text;
        else if (field === 'id') frame.id = text;
      }
      buffer = buffer.slice(start);
    }
  }

  dispatch(frame) {
    if (frame.id !== null) this.lastId = frame.id;
    let data;
    try {
      data = JSON.parse(frame.data.join('\n'));
    } catch {
      return;
    }
    // A view's mistake is reported as any uncaught error is, not taken
    // for the stream's failure (which would reconnect, silently).
    try {
      this.onEvent(frame.type, data, frame.id);
    } catch (error) {
      reportError(error);
    }
    if (this.isLast(frame.type)) {
      this.done = true;
      this.onState('ended');
    }
  }
}

export const RUN_ENDS = new Set(['run.completed', 'run.failed', 'run.cancelled']);
