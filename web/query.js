// query.js - one query: its text, plan, state and counters, its windows
// live (the stream) as a table and a chart: a time series of a chosen
// column (summed over the window's rows) and, for grouped queries, the
// top N groups of the last window. Drop from here.

import * as api from './api.js';
import {h, fill, field, select, si, int, bytes, time, clock, toMs, sqlId, isNumericType} from './util.js';
import {timeChart, bars, topN} from './chart.js';
import {Table} from './table.js';
import {kv, failed} from './widgets.js';

const KEEP = 1000;    // windows on the chart

export default {
  title: 'Query',
  nav: 'queries',
  async mount(main, ctx) {
    const name = ctx.args[0];
    let q;
    try {
      q = await api.get(`/api/v1/queries/${encodeURIComponent(name)}`, {signal: ctx.signal});
    } catch (e) {
      main.append(h('h1', null, name), h('p', {class: 'error', role: 'alert'}, e.message),
                  h('p', null, h('a', {href: '#/queries'}, 'All queries')));
      return name;
    }
    const cols = q.columns || [];
    // Are its windows stored in SQLite? Not with store = false, not for a
    // temporary query: asking SQLite for a table that is not there would
    // be a 400 in the browser's console.
    const st = q.options && q.options.store;
    const stored = q.source !== 'temporary' && !(st && (String(st).toLowerCase() === 'false' || st === '0'));
    const keys = cols.filter((c) => c.key);
    const measures = cols.filter((c) => !c.key && isNumericType(c.type)).map((c) => c.name);
    const choices = [...measures, 'rows'];
    let col = choices.includes(ctx.params.get('col')) ? ctx.params.get('col') : choices[0];
    let n = Number(ctx.params.get('top')) || 10;

    // ---- the head: what it is, drop --------------------------------------
    const keep = h('input', {type: 'checkbox', id: 'keep-data'});
    const dropBtn = h('button', {type: 'button', class: 'danger', onclick: drop}, 'Drop query');
    const stateBadge = h('span', {class: `badge ${q.state === 'running' ? 'running' : 'bad'}`}, q.state);
    const counters = h('div');
    const consoleSql = `SELECT * FROM ${sqlId(name)} ORDER BY window_start DESC, window_row LIMIT 1000`;
    main.append(
      h('h1', null, name, ' ', stateBadge),
      h('div', {class: 'actions'},
        h('span', {class: 'muted'}, `${q.source} query${q.path ? ' from ' + q.path : ''}, created ${time(q.created)}`),
        stored ? h('a', {href: `#/console?run=1&sql=${encodeURIComponent(consoleSql)}`}, 'Stored windows in the console') : null,
        dropBtn, h('span', {class: 'field check'}, keep, h('label', {for: 'keep-data'}, 'keep its stored windows'))),
      h('pre', {class: 'sql', 'aria-label': 'statement'}, q.sql),
      h('details', null, h('summary', null, 'Plan (EXPLAIN)'), h('pre', {class: 'plan'}, q.plan || '')),
      counters);

    async function drop() {
      if (!confirm(`Drop the query ${name}${keep.checked ? ' (keeping its stored windows)' : ' and its stored windows'}?`)) return;
      try {
        await api.del(`/api/v1/queries/${encodeURIComponent(name)}${keep.checked ? '?keep_data=true' : ''}`);
        location.hash = '#/queries';
      } catch (e) { failed(counters, e); }
    }

    // ---- controls, chart, bars, table -------------------------------------
    const colSel = select(choices, col);
    const topSel = select([5, 10, 20, 50], n);
    const winInfo = h('span', {class: 'muted', id: 'window-info', 'aria-live': 'polite'}, 'waiting for a window…');
    const renderInfo = h('span', {class: 'muted', id: 'render-stats'});
    const chartBox = h('div', {class: 'panel', id: 'series'});
    const barsBox = h('div', {class: 'panel', id: 'top'});
    const table = new Table(cols.map((c) => ({name: c.name, type: c.type})),
                            {caption: `last window of ${name}`, height: 420, empty: 'the window had no rows'});
    main.append(
      h('div', {class: 'toolbar'}, field('column', colSel),
        keys.length ? field('top', topSel) : null,
        h('div', {class: 'field'}, winInfo, renderInfo)),
      h('div', {class: 'cols'},
        h('section', null, h('h2', {id: 'series-title'}, ''), chartBox),
        keys.length ? h('section', null, h('h2', {id: 'top-title'}, ''), barsBox) : null),
      h('h2', null, 'Last window'), table.el);

    // Per window: start (s), and the sums of every measure and the row count.
    const wins = [];      // [{x, sums: {col: v}}], by x
    const summarize = (w) => {
      const sums = {rows: w.rows.length};
      for (const m of measures) {
        let s = 0;
        for (const r of w.rows) { const v = r[m]; if (typeof v === 'number') s += v; }
        sums[m] = s;
      }
      return {x: Math.floor(w.window_start_ms / 1000), sums};
    };
    const addWin = (p) => {
      const i = wins.findIndex((x) => x.x >= p.x);
      if (i < 0) wins.push(p);
      else if (wins[i].x === p.x) wins[i] = p;     // the second part of a partial window
      else wins.splice(i, 0, p);
      if (wins.length > KEEP) wins.splice(0, wins.length - KEEP);
    };

    let chart = null, chartCol = null;
    ctx.onLeave(() => chart && chart.destroy());
    const fmt = (v) => (/bytes/.test(col) ? bytes(v) : si(v));
    const drawChart = () => {
      document.getElementById('series-title').textContent =
        keys.length ? `${col === 'rows' ? 'rows' : 'sum of ' + col} per window` : `${col} per window`;
      if (chart && chartCol !== col) { chart.destroy(); fill(chartBox); chart = null; }
      if (!chart) {
        chart = timeChart(chartBox, [{label: col}], {height: 240, fmt: (v) => fmt(v)});
        chartCol = col;
      }
      chart.setData([wins.map((w) => w.x), wins.map((w) => w.sums[col] ?? null)]);
    };
    let lastRows = [];
    const drawBars = () => {
      if (!keys.length) return;
      document.getElementById('top-title').textContent = `top ${n} by ${col}, last window`;
      const key = col === 'rows' ? () => 1 : (r) => r[col];
      const top = topN(lastRows, n, key);
      const ip = keys.find((k) => k.type === 'ip');
      bars(barsBox, top.map((r) => ({
        label: keys.map((k) => String(r[k.name])).join(' '),
        value: key(r),
        href: ip ? `#/host/${encodeURIComponent(r[ip.name])}` : null,
      })), {fmt: (v) => fmt(v), caption: `top ${n} by ${col}`});
    };
    colSel.addEventListener('change', () => { col = colSel.value; ctx.setParams({col, top: n}); drawChart(); drawBars(); });
    topSel.addEventListener('change', () => { n = Number(topSel.value); ctx.setParams({col, top: n}); drawBars(); });

    const showWindow = (w, how, parse) => {
      const t0 = performance.now();
      lastRows = w.rows;
      addWin(summarize(w));
      table.setRows(w.rows);
      drawChart();
      drawBars();
      const rows = w.rows.length;
      fill(winInfo, `${how} window ${clock(w.window_start_ms)}–${clock(w.window_end_ms)}, ${int(rows)} row${rows === 1 ? '' : 's'}`,
           w.partial ? ' (partial)' : '');
      main.dataset.windows = String((Number(main.dataset.windows) || 0) + (how === 'live' ? 1 : 0));
      // The time to the next paint: what the user waits for.
      requestAnimationFrame(() => setTimeout(() => {
        const ms = performance.now() - t0;
        renderInfo.dataset.window = String(w.window_start_ms);
        renderInfo.dataset.rows = String(rows);
        renderInfo.dataset.ms = ms.toFixed(1);
        renderInfo.dataset.parseMs = parse ? parse.toFixed(1) : '';
        renderInfo.textContent = ` · drawn in ${ms.toFixed(0)} ms${parse ? `, parsed in ${parse.toFixed(0)} ms` : ''}`;
      }, 0));
    };

    // ---- history: the stored windows' sums, then the last stored window ---
    // Only for a query whose windows are stored (see `stored` above).
    if (stored) try {
      const agg = measures.map((m) => `, sum(${sqlId(m)})`).join('');
      const r = await api.sql(`SELECT window_start, count(*)${agg} FROM ${sqlId(name)} ` +
                              `GROUP BY window_start ORDER BY window_start DESC LIMIT ${KEEP}`, {signal: ctx.signal});
      for (const row of r.rows.reverse()) {
        const sums = {rows: row[1]};
        measures.forEach((m, i) => { sums[m] = row[2 + i]; });
        addWin({x: Math.floor(toMs(row[0]) / 1000), sums});
      }
      if (wins.length) {
        const last = wins[wins.length - 1].x * 1000;
        const got = await api.get(`/api/v1/queries/${encodeURIComponent(name)}/results?from=${last}&limit=1`, {signal: ctx.signal});
        if (got && got.length && !lastRows.length) showWindow(got[0], 'stored');
      }
    } catch (e) {
      if (e.name === 'AbortError') return name;
      // none stored yet
    }
    if (!ctx.alive) return name;
    drawChart();
    drawBars();

    ctx.follow(name, (w, m) => showWindow(w, 'live', m.parseMs), (st) => {
      if (st === 'ended') fill(winInfo, h('span', {class: 'bad'}, 'the query was dropped'));
      else if (st instanceof Error) fill(winInfo, h('span', {class: 'bad'}, st.message));
      else if (st === 'reconnecting') fill(winInfo, 'reconnecting…');
    });

    ctx.every(3000, async () => {
      const cur = await api.get(`/api/v1/queries/${encodeURIComponent(name)}`, {signal: ctx.signal});
      const c = cur.counters || {};
      stateBadge.textContent = cur.state;
      const bad = (v) => (v > 0 ? h('span', {class: 'bad'}, int(v), ' (not zero)') : '0');
      fill(counters, h('div', {class: 'tiles'},
        ...[['flows in', int(c.flows_in)], ['matched', int(c.flows_matched)], ['late', bad(c.flows_late)],
            ['overflow', bad(c.flows_overflow)], ['windows', int(c.windows)], ['rows', int(c.rows)],
            ['groups open', int(c.groups_open)], ['memory', bytes(c.memory_bytes)],
            ['stream readers', cur.subscribers]].map(([k, v]) =>
          h('div', {class: 'tile'}, h('div', {class: 'k'}, k), h('div', {class: 'v'}, v)))),
        cur.options && Object.keys(cur.options).length ? kv(Object.entries(cur.options)) : null);
    });
    return name;
  },
};
