// api.js - the REST API of flowsqld (docs/openapi.yaml) from the page.
//
// The token: when flowsqld has one (--api-token-file), every request to
// /api/v1 needs "Authorization: Bearer TOKEN". The page asks for it the
// first time a request answers 401 (a login dialog), keeps it in
// sessionStorage (the tab) or, if asked to, localStorage (this browser),
// and sends it as that header on every request, the live streams
// included: those are read with fetch() rather than EventSource, which
// cannot send headers. No cookie is ever set, so another site's page
// cannot make the browser act with the token (no CSRF). docs/WEB.md.

const KEY = 'flowsql.token';

export function getToken() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '';
}

export function setToken(t, remember) {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  if (t) (remember ? localStorage : sessionStorage).setItem(KEY, t);
}

// An answer that is not 2xx: status, the server's JSON error (error,
// line, column, offset, length, detail) when there is one.
export class ApiError extends Error {
  constructor(status, body, text) {
    super(body && body.error ? body.error : `HTTP ${status}${text ? ': ' + text.slice(0, 200) : ''}`);
    this.status = status;
    this.body = body || {};
  }
}

// The login dialog is app.js's: it sets this to a function that asks for
// a token and resolves once one was accepted.
let askToken = null;
let asking = null;
export function onTokenNeeded(fn) { askToken = fn; }

async function needToken() {
  if (!askToken) throw new ApiError(401, {error: 'missing or wrong API token'});
  if (!asking) asking = askToken().finally(() => { asking = null; });
  return asking;
}

// fetch() with the token; a 401 asks for the token and tries again.
export async function request(method, path, {body, accept, signal} = {}) {
  for (;;) {
    const headers = {};
    const t = getToken();
    if (t) headers.Authorization = 'Bearer ' + t;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (accept) headers.Accept = accept;
    const r = await fetch(path, {
      method, headers, signal, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status !== 401) return r;
    await r.body?.cancel();
    await needToken();
  }
}

// A JSON answer, or ApiError.
export async function json(method, path, body, opts = {}) {
  const r = await request(method, path, {...opts, body});
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch (e) { j = null; }
  if (!r.ok) throw new ApiError(r.status, j, j ? '' : text);
  return j;
}

export const get = (path, opts) => json('GET', path, undefined, opts);
export const post = (path, body, opts) => json('POST', path, body, opts);
export const del = (path, opts) => json('DELETE', path, undefined, opts);

// POST /api/v1/sql: {columns, types, rows, truncated, elapsed_ms, scan?,
// error?}. An answer cut after it began has "error" and the rows before.
export function sql(text, opts) {
  return post('/api/v1/sql', {sql: text}, opts);
}

// The rows of an ad hoc answer as objects.
export function objects(res) {
  return res.rows.map((r) => Object.fromEntries(res.columns.map((c, i) => [c, r[i]])));
}

export async function metricsText(opts) {
  const r = await request('GET', '/metrics', opts);
  const t = await r.text();
  if (!r.ok) throw new ApiError(r.status, null, t);
  return t;
}

// Prometheus text -> [{name, labels: {k: v}, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({name: m[1], labels, value: Number(m[4])});
  }
  return out;
}

// Follow a query's windows: GET /api/v1/queries/{name}/stream, parsed as
// Server-Sent Events from a fetch() body (so the token goes as a header).
// onWindow(window, {parseMs, bytes}) for each "window" event; onState(s)
// with 'live', 'reconnecting', 'ended' or an Error. Reconnects after a
// lost connection (1 s, doubling to 10 s). Returns {close()}.
export function follow(name, onWindow, onState = () => {}) {
  const ctl = new AbortController();
  let closed = false, delay = 1000;
  const path = `/api/v1/queries/${encodeURIComponent(name)}/stream`;

  async function once() {
    const r = await request('GET', path, {accept: 'text/event-stream', signal: ctl.signal});
    if (!r.ok) {
      const t = await r.text();
      let j = null;
      try { j = JSON.parse(t); } catch (e) { j = null; }
      throw new ApiError(r.status, j, t);
    }
    onState('live');
    delay = 1000;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return 'closed';
      // Look for the end of an event only in what is new (a window of
      // 100k rows is one 10 MB event).
      let from = Math.max(0, buf.length - 1);
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n', from)) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        from = 0;
        if (dispatch(block) === 'end') return 'end';
      }
    }
  }

  function dispatch(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line[0] === ':') continue;
      const c = line.indexOf(':');
      const k = c < 0 ? line : line.slice(0, c);
      const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (k === 'event') event = v;
      else if (k === 'data') data.push(v);
    }
    if (event === 'end') return 'end';
    if (event !== 'window' || !data.length) return null;
    const text = data.join('\n');
    const t0 = performance.now();
    const w = JSON.parse(text);
    onWindow(w, {parseMs: performance.now() - t0, bytes: text.length});
    return null;
  }

  (async () => {
    while (!closed) {
      try {
        const how = await once();
        if (how === 'end') { onState('ended'); return; }
      } catch (e) {
        if (closed) return;
        if (e instanceof ApiError && (e.status === 404 || e.status === 400)) {
          onState(e);
          return;
        }
        onState(e instanceof ApiError ? e : new Error('connection lost'));
      }
      if (closed) return;
      onState('reconnecting');
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();

  return {close() { closed = true; ctl.abort(); }};
}
