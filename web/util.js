// util.js - DOM building, number and time formatting, CSV, small helpers.
//
// Every text that comes from the server (names, SQL, addresses, error
// messages, cell values) goes into the page as text (textContent,
// attribute values), never as HTML: query results are other people's
// traffic.

// h('div', {class: 'x', onclick: f}, child, 'text', [more]) -> element.
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k === 'value') e.value = v;
      else if (k === 'checked') e.checked = !!v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replace an element's children.
export function fill(e, ...children) {
  e.replaceChildren();
  append(e, children);
  return e;
}

let uid = 0;
export function newId(prefix) { return `${prefix}-${++uid}`; }

// A labelled control: <label for=id>text</label> + the control.
export function field(label, control, hint) {
  if (!control.id) control.id = newId('f');
  return h('div', {class: 'field'}, h('label', {for: control.id}, label), control,
           hint ? h('span', {class: 'hint'}, hint) : null);
}

export function select(options, value, attrs) {
  const s = h('select', attrs);
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', {value: v, selected: String(v) === String(value)}, text));
  }
  return s;
}

// ---- numbers ----------------------------------------------------------------

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

// 1234567 -> "1.23M"; small numbers as they are.
export function si(n, digits = 3) {
  if (n === null || n === undefined || n === '') return '';
  n = Number(n);
  if (!isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a < 1000) return Number.isInteger(n) ? String(n) : n.toPrecision(digits).replace(/\.?0+$/, '');
  let i = 0, v = a;
  while (v >= 1000 && i < SI.length - 1) { v /= 1000; i++; }
  return (n < 0 ? '-' : '') + v.toPrecision(digits).replace(/\.0+$|(\.\d*?)0+$/, '$1') + SI[i];
}

export function bytes(n) { return n === null || n === undefined ? '' : si(n) + 'B'; }
export function bits(n) { return n === null || n === undefined ? '' : si(n * 8) + 'bit'; }

// Integer with thin separators: 1 234 567.
export function int(n) {
  if (n === null || n === undefined || n === '') return '';
  return Number(n).toLocaleString('en-US').replace(/,/g, '\u202f');
}

// ---- times ------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, '0');

// ms -> "2026-12-03 13:00:05" in local time (what the operator's clock says).
export function time(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(typeof ms === 'string' ? Date.parse(ms) : ms);
  if (isNaN(d)) return String(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// ms -> "2026-12-03 13:00:05Z": the form the archive's time ranges take.
export function utc(ms) {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// ms <-> the value of an <input type=datetime-local> (local time).
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function fromLocalInput(s) { const t = new Date(s).getTime(); return isNaN(t) ? null : t; }

// "5m", "1h", "2d" -> ms.
export function durationMs(s) {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(String(s).trim());
  if (!m) return null;
  return Number(m[1]) * {ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5}[m[2]];
}

export function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

// ---- SQL text ---------------------------------------------------------------

// A string literal for SQL: 'it''s'.
export const sqlStr = (s) => `'${String(s).replace(/'/g, "''")}'`;
// A quoted identifier: "name".
export const sqlId = (s) => `"${String(s).replace(/"/g, '""')}"`;

// Is s an IPv4 or IPv6 address (only what we put in SQL unquoted-safe)?
export function isIp(s) {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (/^[0-9a-fA-F:.]+$/.test(s) && s.includes(':'));
}

// ---- CSV --------------------------------------------------------------------

function csvCell(v) {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// RFC 4180 text of columns and rows (arrays).
export function csv(columns, rows) {
  const out = [columns.map(csvCell).join(',')];
  for (const r of rows) out.push(r.map(csvCell).join(','));
  return out.join('\r\n') + '\r\n';
}

// Offer text as a file to download.
export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h('a', {href: url, download: name, class: 'hidden'});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- types ------------------------------------------------------------------

// flowsql types that are numbers a chart can draw.
export const NUMERIC = new Set(['int', 'float', 'duration', 'bool']);
export const isNumericType = (t) => NUMERIC.has(String(t).toLowerCase());

// Format one cell by its flowsql type.
export function cell(v, type) {
  if (v === null || v === undefined) return '';
  switch (String(type).toLowerCase()) {
  case 'time': return time(v);
  case 'int': return typeof v === 'number' ? int(v) : String(v);
  case 'float': return typeof v === 'number' ? (Math.abs(v) >= 1000 ? int(Math.round(v)) : String(+v.toPrecision(6))) : String(v);
  default: return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

// Number of a cell for sorting and charts (times as ms).
export function num(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const n = Number(v);
    if (!isNaN(n)) return n;
    const t = Date.parse(v);
    if (!isNaN(t)) return t;
  }
  return null;
}

// IPv4/IPv6 text -> a sortable key (BigInt-free: a zero-padded hex string).
export function ipKey(s) {
  if (typeof s !== 'string') return '';
  if (!s.includes(':')) return 'a' + s.split('.').map((x) => pad(Number(x).toString(16))).join('');
  return 'b' + s;
}

// The 8 colours of the charts (Okabe & Ito's, readable by most colour-blind eyes).
export const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#7F7F00', '#000000'];

// A time as the API gives it (ISO-8601 text, or ms) -> ms.
export const toMs = (v) => (typeof v === 'number' ? v : Date.parse(v));
