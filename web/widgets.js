// widgets.js - the parts several pages share: the SQL editor with the
// server's caret error under it, and the time range picker.

import {h, fill, field, select, durationMs, toLocalInput, fromLocalInput, time} from './util.js';

// A labelled SQL text area. Ctrl+Enter (Cmd+Enter) runs onRun.
// showError(e) puts the server's message, with its caret picture
// ("detail": the line and a ^ under the fault), right under the text and
// selects the faulty text in it.
export function sqlBox({label = 'SQL', value = '', rows = 5, onRun, id} = {}) {
  const ta = h('textarea', {rows: String(rows), spellcheck: 'false', autocapitalize: 'off',
                            autocomplete: 'off', id, 'aria-describedby': null});
  ta.value = value;
  const err = h('pre', {class: 'error sql-error', role: 'alert', hidden: true});
  const out = h('div', {class: 'sql-out'});
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && onRun) { ev.preventDefault(); onRun(); }
  });
  const el = h('div', {class: 'sql-box'}, field(label, ta, 'Ctrl+Enter runs it'), err, out);
  el.querySelector('.field').classList.add('wide');
  return {
    el, textarea: ta, out,
    get value() { return ta.value; },
    set value(v) { ta.value = v; },
    showError(e) {
      const b = (e && e.body) || {};
      err.textContent = b.detail || b.error || e.message || String(e);
      err.hidden = false;
      if (!err.id) err.id = `${ta.id}-err`;
      ta.setAttribute('aria-describedby', err.id);
      ta.setAttribute('aria-invalid', 'true');
      if (typeof b.offset === 'number' && b.offset + (b.length || 0) <= ta.value.length) {
        ta.focus();
        ta.setSelectionRange(b.offset, b.offset + Math.max(1, b.length || 0));
      }
    },
    clearError() {
      err.hidden = true;
      err.textContent = '';
      ta.removeAttribute('aria-invalid');
      ta.removeAttribute('aria-describedby');
    },
  };
}

const PRESETS = ['5m', '15m', '1h', '6h', '24h', '7d'];

// A time range: a preset ("last 1h") or from/to. Kept in the fragment's
// parameters (range=1h, or from=ms&to=ms). onChange(range) after a
// change. get() -> {from, to (ms), label, last ("1h" or null)}.
export function rangePicker(ctx, onChange, {preset = '1h'} = {}) {
  const p = ctx.params;
  let last = p.get('from') ? null : (PRESETS.includes(p.get('range')) ? p.get('range') : preset);
  let from = Number(p.get('from')) || null, to = Number(p.get('to')) || null;
  const sel = select([...PRESETS.map((x) => [x, `last ${x}`]), ['custom', 'custom…']], last || 'custom');
  const fromIn = h('input', {type: 'datetime-local', step: '1'});
  const toIn = h('input', {type: 'datetime-local', step: '1'});
  const apply = h('button', {type: 'button', class: 'secondary'}, 'Apply');
  const custom = h('span', {class: 'custom-range'}, field('from (local time)', fromIn), field('to', toIn), apply);
  const el = h('div', {class: 'toolbar range'}, field('time range', sel), custom);
  const show = () => {
    custom.hidden = !!last;
    const r = get();
    fromIn.value = toLocalInput(r.from);
    toIn.value = toLocalInput(r.to);
  };
  function get() {
    if (last) {
      const t = Date.now();
      return {from: t - durationMs(last), to: t, last, label: `last ${last}`};
    }
    const t = Date.now();
    const f = from || t - 36e5, e = to || t;
    return {from: f, to: e, last: null, label: `${time(f)} – ${time(e)}`};
  }
  const changed = () => {
    const q = Object.fromEntries(ctx.params.entries());
    delete q.range; delete q.from; delete q.to;
    if (last) q.range = last; else { q.from = from; q.to = to; }
    ctx.setParams(q);
    show();
    onChange(get());
  };
  sel.addEventListener('change', () => {
    if (sel.value === 'custom') {
      const r = get();
      from = r.from; to = r.to; last = null;
      show();
      fromIn.focus();
      return;
    }
    last = sel.value;
    changed();
  });
  apply.addEventListener('click', () => {
    const f = fromLocalInput(fromIn.value), e = fromLocalInput(toIn.value);
    if (f === null || e === null || e <= f) { fromIn.setCustomValidity('from must be before to'); fromIn.reportValidity(); return; }
    fromIn.setCustomValidity('');
    from = f; to = e; last = null;
    changed();
  });
  show();
  return {el, get, set(f, e) { from = f; to = e; last = null; sel.value = 'custom'; changed(); }};
}

// A definition list from pairs.
export function kv(pairs) {
  const dl = h('dl', {class: 'kv'});
  for (const [k, v] of pairs) if (v !== undefined && v !== null && v !== '') dl.append(h('dt', null, k), h('dd', null, v));
  return dl;
}

// "loading…" / an error in a box.
export function busy(el, text = 'loading…') { fill(el, h('p', {class: 'muted'}, text)); }
export function failed(el, e) { fill(el, h('p', {class: 'error', role: 'alert'}, (e && e.message) || String(e))); }
