// app.js - the web interface's frame: navigation, the login dialog, and
// a router over the URL's fragment (#/overview, #/queries/NAME,
// #/host/10.1.2.3?from=...): a page is a module with mount(main, ctx),
// and everything it starts (streams, timers, requests) is stopped when
// the user leaves it, through ctx.

import * as api from './api.js';
import {h, fill} from './util.js';
import overview from './overview.js';
import queries from './queries.js';
import query from './query.js';
import heatmap from './heatmap.js';
import host from './host.js';
import detections from './detections.js';
import sqlConsole from './console.js';

const routes = [
  [/^\/?$/, overview],
  [/^\/overview$/, overview],
  [/^\/queries$/, queries],
  [/^\/queries\/([^/]+)$/, query],
  [/^\/heatmap$/, heatmap],
  [/^\/host\/([^/]+)$/, host],
  [/^\/detections$/, detections],
  [/^\/console$/, sqlConsole],
];

const main = document.getElementById('main');
let current = null;

// What a page gets: the route's parts, the fragment's parameters, and
// helpers whose work ends when the page is left.
function makeCtx(match, params) {
  const ctl = new AbortController();
  const cleanups = [];
  const ctx = {
    args: match.slice(1).map(decodeURIComponent),
    params,
    signal: ctl.signal,
    get alive() { return !ctl.signal.aborted; },
    onLeave(fn) { cleanups.push(fn); },
    every(ms, fn) {
      let timer = null;
      const run = async () => {
        try { await fn(); } catch (e) { if (ctx.alive) report(e); }
        if (ctx.alive) timer = setTimeout(run, ms);
      };
      run();
      cleanups.push(() => clearTimeout(timer));
    },
    follow(name, onWindow, onState) {
      const s = api.follow(name, (w, m) => { if (ctx.alive) onWindow(w, m); },
                           (st) => { if (ctx.alive && onState) onState(st); });
      cleanups.push(() => s.close());
      return s;
    },
    // Change the fragment's parameters without reloading the page.
    setParams(p) {
      const path = location.hash.slice(1).split('?')[0];
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(p)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
      const s = q.toString();
      history.replaceState(null, '', `#${path}${s ? '?' + s : ''}`);
    },
    leave() { ctl.abort(); for (const f of cleanups.splice(0)) { try { f(); } catch (e) { /* gone */ } } },
  };
  return ctx;
}

function report(e) {
  console.warn('flowsql:', e);
  setStatus(e.message || String(e), true);
}

export function setStatus(text, bad) {
  const s = document.getElementById('status');
  s.textContent = text || '';
  s.classList.toggle('bad', !!bad);
}

async function route() {
  const hash = location.hash.slice(1);
  if (hash && !hash.startsWith('/')) return;     // "#main": the skip link
  const [path, query] = (hash || '/overview').split('?');
  let page = null, match = null;
  for (const [re, p] of routes) {
    match = re.exec(path);
    if (match) { page = p; break; }
  }
  if (current) current.leave();
  setStatus('');
  fill(main);
  for (const a of document.querySelectorAll('nav a')) {
    const active = page && a.dataset.page === page.nav;
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!page) {
    document.title = 'flowsql: not found';
    main.append(h('h1', null, 'Not found'), h('p', null, 'No page ', h('code', null, path), '. ',
                h('a', {href: '#/overview'}, 'Overview')));
    return;
  }
  current = makeCtx(match, new URLSearchParams(query || ''));
  const ctx = current;
  try {
    const title = await page.mount(main, ctx);
    if (!ctx.alive) return;
    document.title = `flowsql: ${title || page.title}`;
    main.dataset.page = page.nav;
  } catch (e) {
    if (ctx.alive) {
      report(e);
      main.append(h('p', {class: 'error', role: 'alert'}, e.message || String(e)));
    }
  }
}

// ---- the token ---------------------------------------------------------------

const dialog = document.getElementById('login');
const form = document.getElementById('login-form');
const tokenInput = document.getElementById('login-token');
const remember = document.getElementById('login-remember');
const loginError = document.getElementById('login-error');
let loginResolve = null;

api.onTokenNeeded(() => new Promise((resolve) => {
  loginResolve = resolve;
  loginError.textContent = api.getToken() ? 'That token was refused.' : '';
  tokenInput.value = '';
  if (!dialog.open) dialog.showModal();
  tokenInput.focus();
}));

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const t = tokenInput.value.trim();
  if (!t) { loginError.textContent = 'Enter the token.'; return; }
  const r = await fetch('/api/v1/healthz', {headers: {Authorization: 'Bearer ' + t}, cache: 'no-store'});
  if (r.status === 401) { loginError.textContent = 'That token was refused.'; tokenInput.select(); return; }
  api.setToken(t, remember.checked);
  dialog.close();
  const res = loginResolve;
  loginResolve = null;
  if (res) res();
});
dialog.addEventListener('cancel', (ev) => ev.preventDefault());   // the token is needed

document.getElementById('logout').addEventListener('click', () => {
  api.setToken('', false);
  location.reload();
});

// ---- start -------------------------------------------------------------------

window.addEventListener('hashchange', route);
// The skip link moves the focus to the page's content and leaves the
// fragment (the page's address) as it is.
document.querySelector('a.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});
window.addEventListener('unhandledrejection', (ev) => {
  if (ev.reason && ev.reason.name === 'AbortError') ev.preventDefault();
});

(async () => {
  // Ask for the token before the first page if the daemon wants one.
  try {
    const v = await api.get('/api/v1/healthz');
    document.getElementById('version').textContent = `flowsqld ${v.version}`;
  } catch (e) {
    setStatus(`flowsqld does not answer: ${e.message}`, true);
  }
  route();
})();
