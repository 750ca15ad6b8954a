// console.js - ad hoc SQL: flowsql's dialect over the raw flows
// (SELECT ... FROM flows LAST 1h ...) or SQLite's over the stored windows;
// the answer as a table, CSV to download, and a quick chart.

import * as api from './api.js';
import {h, fill, field, select, int, csv, download, num, isNumericType, toMs} from './util.js';
import {Table} from './table.js';
import {xyChart, bars, topN} from './chart.js';
import {sqlBox} from './widgets.js';

const HISTORY_KEY = 'flowsql.console.history';

const EXAMPLES = [
  ['Top talkers of the last hour (raw flows)',
   'SELECT srcip, sum(bytes) AS bytes, count(*) AS flows FROM flows LAST 1h GROUP BY srcip ORDER BY bytes DESC LIMIT 10'],
  ['Flows to port 445 in the last 10 minutes',
   'SELECT start, srcip, srcport, dstip, dstport, bytes FROM flows LAST 10m WHERE dstport = 445 ORDER BY start DESC LIMIT 1000'],
  ['Protocols per 10 s, last 15 minutes (stored windows)',
   "SELECT window_start, protocol, flows, bytes FROM protocol_stats WHERE window_start >= now_ms() - duration('15m') ORDER BY window_start"],
  ['Busiest hosts in the last 5 minutes (stored windows)',
   "SELECT srcip, sum(bytes) AS bytes, sum(flows) AS flows, max(peers) AS peers FROM host_stats_10s WHERE window_start >= now_ms() - duration('5m') GROUP BY srcip ORDER BY bytes DESC LIMIT 20"],
  ['Scanners of the last day',
   "SELECT window_start, srcip, dstport, targets FROM scan_horizontal WHERE window_start >= now_ms() - duration('1d') ORDER BY targets DESC"],
  ['Stored windows per query',
   'SELECT tbl, count(*) AS windows, sum(rows) AS rows, max(window_start) AS newest FROM flowsql_windows GROUP BY tbl ORDER BY rows DESC'],
];

export default {
  title: 'Console',
  nav: 'console',
  async mount(main, ctx) {
    let history = [];
    try { history = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]'); } catch (e) { history = []; }
    const initial = ctx.params.get('sql') || history[0] || EXAMPLES[0][1];
    const box = sqlBox({label: 'SQL', value: initial, rows: 6, id: 'console-sql', onRun: () => run()});
    const runBtn = h('button', {type: 'button', onclick: () => run()}, 'Run');
    const explainBtn = h('button', {type: 'button', class: 'secondary', onclick: () => explain()}, 'Explain');
    const ex = select([['', 'examples…'], ...EXAMPLES.map(([t], i) => [String(i), t])], '');
    ex.addEventListener('change', () => { if (ex.value !== '') { box.value = EXAMPLES[Number(ex.value)][1]; ex.value = ''; box.textarea.focus(); } });
    const hist = select([['', 'history…'], ...history.map((s, i) => [String(i), s.length > 90 ? s.slice(0, 90) + '…' : s])], '');
    hist.addEventListener('change', () => { if (hist.value !== '') { box.value = history[Number(hist.value)]; hist.value = ''; } });
    const meta = h('p', {class: 'muted', id: 'console-meta', 'aria-live': 'polite'});
    const plan = h('pre', {class: 'plan', hidden: true, 'aria-label': 'plan'});
    const csvBtn = h('button', {type: 'button', class: 'secondary', disabled: true}, 'Download CSV');
    const tableBox = h('div');
    const chartBox = h('div', {class: 'panel', id: 'quick-chart', hidden: true});
    const xSel = select([], ''), ySel = select([], '');
    const chartBar = h('div', {class: 'toolbar', hidden: true}, h('strong', null, 'Quick chart: '),
                       field('x', xSel), field('y', ySel));
    main.append(h('h1', null, 'Console'),
      h('p', {class: 'muted'}, 'A SELECT … FROM flows (with LAST 1h, SINCE … UNTIL …, BETWEEN) reads the raw flows; ',
        'anything else is SQLite over the stored windows (one view per query, flowsql_windows, flowsql_tables).'),
      box.el,
      h('div', {class: 'actions'}, runBtn, explainBtn, field('examples', ex), field('history', hist), csvBtn),
      plan, meta, chartBar, chartBox, tableBox);

    let res = null, chart = null;
    ctx.onLeave(() => chart && chart.destroy());

    csvBtn.addEventListener('click', () => {
      if (res) download('flowsql.csv', csv(res.columns, res.rows));
    });

    async function explain() {
      box.clearError();
      plan.hidden = true;
      try {
        const r = await api.post('/api/v1/explain', {sql: box.value}, {signal: ctx.signal});
        plan.textContent = r.plan;
        plan.hidden = false;
      } catch (e) { if (ctx.alive) box.showError(e); }
    }

    async function run() {
      const text = box.value.trim();
      if (!text) return;
      box.clearError();
      plan.hidden = true;
      runBtn.disabled = true;
      fill(meta, 'running…');
      history = [text, ...history.filter((s) => s !== text)].slice(0, 30);
      localStorage.setItem(HISTORY_KEY, JSON.stringify(history));
      ctx.setParams({sql: text});
      const t0 = performance.now();
      try {
        res = await api.sql(text, {signal: ctx.signal});
      } catch (e) {
        if (!ctx.alive) return;
        res = null;
        box.showError(e);
        fill(meta, '');
        runBtn.disabled = false;
        return;
      }
      if (!ctx.alive) return;
      runBtn.disabled = false;
      const got = performance.now() - t0;
      const table = new Table(res.columns.map((c, i) => ({name: c, type: res.types[i]})),
                              {caption: 'result', height: 520, empty: 'no rows'});
      fill(tableBox, table.el);
      const t1 = performance.now();
      table.setRows(res.rows);
      drawChartControls();
      requestAnimationFrame(() => setTimeout(() => {
        const ms = performance.now() - t1;
        meta.dataset.rows = String(res.rows.length);
        meta.dataset.renderMs = ms.toFixed(1);
        const s = res.scan;
        fill(meta, `${int(res.rows.length)} row${res.rows.length === 1 ? '' : 's'}` +
          (res.truncated ? ' (truncated: more rows exist)' : '') +
          `, ${res.elapsed_ms} ms on the server, ${Math.round(got)} ms with the transfer, drawn in ${Math.round(ms)} ms` +
          (s ? `; archive: ${int(s.files_read)} of ${int(s.files)} files, ${int(s.row_groups_read)} of ${int(s.row_groups)} row groups, ${int(s.flows_read)} flows read, ${int(s.flows_matched)} matched` : '') + '.',
          res.error ? h('span', {class: 'bad'}, ` Cut short: ${res.error}`) : '');
      }, 0));
      csvBtn.disabled = false;
    }

    // The quick chart: x a time or number column -> lines; x a category -> top 30 bars.
    function drawChartControls() {
      const cols = res.columns.map((c, i) => ({c, i, t: String(res.types[i]).toLowerCase()}));
      const ys = cols.filter((x) => isNumericType(x.t));
      if (!res.rows.length || !ys.length) { chartBar.hidden = true; chartBox.hidden = true; return; }
      const xs = cols.filter((x) => x.t === 'time').concat(cols.filter((x) => x.t !== 'time'));
      fill(xSel, ...xs.map((x) => h('option', {value: String(x.i)}, x.c)));
      fill(ySel, h('option', {value: 'all'}, 'every number'), ...ys.map((x) => h('option', {value: String(x.i)}, x.c)));
      const firstY = ys.find((y) => y.i !== xs[0].i);
      ySel.value = firstY ? String(firstY.i) : 'all';
      chartBar.hidden = false;
      drawChart();
    }
    xSel.addEventListener('change', drawChart);
    ySel.addEventListener('change', drawChart);

    function drawChart() {
      if (chart) { chart.destroy(); chart = null; }
      fill(chartBox);
      chartBox.hidden = false;
      const xi = Number(xSel.value), xt = String(res.types[xi]).toLowerCase();
      const yis = ySel.value === 'all'
        ? res.types.map((t, i) => i).filter((i) => i !== xi && isNumericType(res.types[i]))
        : [Number(ySel.value)];
      if (xt === 'time' || isNumericType(xt)) {
        // One point per distinct x: the sum of y (rows of several groups per time).
        const m = new Map();
        for (const r of res.rows) {
          const x = xt === 'time' ? toMs(r[xi]) / 1000 : num(r[xi]);
          if (x === null || isNaN(x)) continue;
          const a = m.get(x) || yis.map(() => 0);
          yis.forEach((yi, k) => { a[k] += num(r[yi]) || 0; });
          m.set(x, a);
        }
        const keys = [...m.keys()].sort((a, b) => a - b);
        chart = xyChart(chartBox, res.columns[xi], yis.map((yi) => ({label: res.columns[yi], points: keys.length < 60})),
                        {xTime: xt === 'time'});
        chart.setData([keys, ...yis.map((yi, k) => keys.map((x) => m.get(x)[k]))]);
      } else {
        const yi = yis[0];
        const sums = new Map();
        for (const r of res.rows) sums.set(String(r[xi]), (sums.get(String(r[xi])) || 0) + (num(r[yi]) || 0));
        const top = topN([...sums.entries()], 30, (e) => e[1]);
        const ip = xt === 'ip';
        bars(chartBox, top.map(([k, v]) => ({label: k, value: v, href: ip ? `#/host/${encodeURIComponent(k)}` : null})),
             {caption: `${res.columns[yi]} by ${res.columns[xi]}`});
      }
    }

    if (ctx.params.get('run') === '1') run();
    return 'Console';
  },
};
