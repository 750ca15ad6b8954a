// detections.js - the rows of the detection queries, newest first,
// filterable by query and by text (an address, a port), each linking to
// its hosts and to the raw flows of its window.

import * as api from './api.js';
import {h, fill, field, select, int} from './util.js';
import {Table} from './table.js';
import {rangePicker, busy, failed} from './widgets.js';
import {DETECTIONS, storedTables, detectionSql, detectionRows, flowsSql} from './detect.js';

const EXTRA_KEY = 'flowsql.detections.extra';

export default {
  title: 'Detections',
  nav: 'detections',
  async mount(main, ctx) {
    const tables = await storedTables({signal: ctx.signal});
    let extra = [];
    try { extra = JSON.parse(localStorage.getItem(EXTRA_KEY) || '[]'); } catch (e) { extra = []; }
    const shown = () => [...DETECTIONS, ...extra.filter((n) => !DETECTIONS.includes(n))].filter((n) => tables.has(n));

    let which = ctx.params.get('query') || '';
    let text = ctx.params.get('q') || '';
    const qSel = select([['', 'all'], ...shown().map((n) => [n, n])], which);
    const filter = h('input', {type: 'search', value: text, placeholder: 'an address, a port…', size: '22'});
    const info = h('p', {class: 'muted', id: 'det-info', 'aria-live': 'polite'});
    const table = new Table([
      {name: 'window', type: 'time'},
      {name: 'query', type: 'string'},
      {name: 'hosts', type: 'string', render: (v, r) => hostLinks(r[5])},
      {name: 'details', type: 'string'},
      {name: 'flows', type: 'string', render: (v, r) =>
        h('a', {href: `#/console?run=1&sql=${encodeURIComponent(flowsSql(r[5]))}`}, 'flows')},
    ], {caption: 'detections, newest first', height: 560, empty: 'nothing detected in this range: good news'});
    const range = rangePicker(ctx, () => load(), {preset: '24h'});

    // The other stored queries, to be shown here too.
    const others = [...tables.keys()].filter((n) => !DETECTIONS.includes(n)).sort();
    const extraBox = h('details', null, h('summary', null, 'Show other queries here too'),
      h('div', {class: 'actions'}, ...others.map((n) => {
        const cb = h('input', {type: 'checkbox', id: `extra-${n}`, checked: extra.includes(n)});
        cb.addEventListener('change', () => {
          extra = cb.checked ? [...extra, n] : extra.filter((x) => x !== n);
          localStorage.setItem(EXTRA_KEY, JSON.stringify(extra));
          fill(qSel, ...[['', 'all'], ...shown().map((x) => [x, x])].map(([v, t]) => h('option', {value: v, selected: v === which}, t)));
          load();
        });
        return h('span', {class: 'field check'}, cb, h('label', {for: `extra-${n}`}, n));
      })));

    main.append(h('h1', null, 'Detections'),
      h('div', {class: 'toolbar'}, range.el, field('query', qSel), field('filter', filter)),
      info, table.el, extraBox);

    let all = [];
    const apply = () => {
      const needle = text.trim().toLowerCase();
      const rows = all.filter((d) => (!which || d.query === which) &&
        (!needle || d.query.includes(needle) || d.text.toLowerCase().includes(needle)));
      table.setRows(rows.map((d) => [d.start, d.query, '', d.text, '', d]));
      const counts = {};
      for (const d of rows) counts[d.query] = (counts[d.query] || 0) + 1;
      fill(info, `${int(rows.length)} row${rows.length === 1 ? '' : 's'}` +
        (rows.length ? ': ' + Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') : '') +
        ` over ${range.get().label}.`);
      info.dataset.rows = String(rows.length);
    };
    qSel.addEventListener('change', () => { which = qSel.value; ctx.setParams({...Object.fromEntries(ctx.params.entries()), query: which}); apply(); });
    filter.addEventListener('input', () => { text = filter.value; ctx.setParams({...Object.fromEntries(ctx.params.entries()), q: text}); apply(); });

    async function load() {
      const r = range.get();
      const sql = detectionSql(tables, shown(), {from: r.from, to: r.to, limit: 5000});
      if (!sql) { fill(info, 'No detection query has a stored table: the saved detections of queries/ make them.'); return; }
      try {
        const res = await api.sql(sql, {signal: ctx.signal});
        if (!ctx.alive) return;
        all = detectionRows(res, tables).map((d) => ({...d,
          text: Object.entries(d.row).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ')}));
        apply();
      } catch (e) { if (ctx.alive && e.name !== 'AbortError') failed(info, e); }
    }
    busy(info);
    ctx.every(10000, load);
    return 'Detections';
  },
};

function hostLinks(d) {
  const span = h('span');
  for (const c of d.cols) {
    const v = d.row[c.name];
    if (c.type !== 'ip' || !v) continue;
    if (span.childNodes.length) span.append(' → ');
    span.append(h('a', {href: `#/host/${encodeURIComponent(v)}`, title: c.name}, v));
  }
  return span;
}
