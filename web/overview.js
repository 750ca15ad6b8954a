// overview.js - live traffic: flows, packets and bytes per second, per
// protocol and per exporter, from a temporary 1-second query followed
// over its stream; the loss counters of /metrics, red when not zero.

import * as api from './api.js';
import {h, fill, si, bytes, int, clock} from './util.js';
import {timeChart} from './chart.js';
import {Table} from './table.js';

const LIVE_SQL = 'SELECT exporter, proto_name(proto) AS protocol, count(*) AS flows, ' +
  'sum(packets) AS packets, sum(bytes) AS bytes FROM flows WINDOW 1s GROUP BY exporter, protocol';
const KEEP = 300;            // seconds on the charts
const PROTOS = ['tcp', 'udp', 'icmp', 'other'];

// The counters of docs/METRICS.md, "Is anything being lost?".
const LOSS = [
  ['flowsql_ingest_records_lost_total', 'records lost before reaching flowsqld (sequence numbers)'],
  ['flowsql_ingest_queue_drops_total', 'records dropped: the engine was behind'],
  ['flowsql_ingest_tcp_refused_total', 'IPFIX/TCP connections refused'],
  ['flowsql_query_flows_late_total', 'flows after their window closed'],
  ['flowsql_query_flows_overflow_total', 'flows refused by max_groups or the memory budget'],
  ['flowsql_query_arith_overflows_total', 'sums that saturated'],
  ['flowsql_store_rows_dropped_total', 'rows not stored: writer behind'],
  ['flowsql_store_rows_failed_total', 'rows not stored: write errors'],
  ['flowsql_archive_dropped_flows_total', 'flows not archived'],
  ['flowsql_sse_dropped_windows_total', 'windows a slow stream client missed'],
];

// The temporary query survives page changes (it is dropped by the
// server 60 s after its last reader left): reuse it while it exists.
let liveName = null;

async function liveQuery() {
  if (liveName) {
    try {
      await api.get(`/api/v1/queries/${encodeURIComponent(liveName)}`);
      return liveName;
    } catch (e) { liveName = null; }
  }
  const q = await api.post('/api/v1/queries', {sql: LIVE_SQL, temporary: true});
  liveName = q.name;
  return liveName;
}

function sumBy(metrics, name, label) {
  const out = new Map();
  for (const m of metrics) {
    if (m.name !== name) continue;
    const k = label ? m.labels[label] : '';
    out.set(k, (out.get(k) || 0) + m.value);
  }
  return out;
}

export default {
  title: 'Overview',
  nav: 'overview',
  async mount(main, ctx) {
    const state = h('span', {class: 'muted'}, 'connecting…');
    const tiles = h('div', {class: 'tiles', 'aria-live': 'off'});
    const charts = h('div', {class: 'cols'});
    const protoBox = h('div');
    const expBox = h('div');
    const lossBox = h('div', {class: 'tiles', id: 'loss'});
    const sysBox = h('div');
    main.append(
      h('h1', null, 'Overview'),
      h('p', {class: 'muted'}, 'Live, one point a second: ', state),
      tiles,
      h('h2', null, 'Is anything being lost?'),
      lossBox,
      charts,
      h('h2', null, 'Per exporter'), expBox,
      h('h2', null, 'Per protocol, last second'), protoBox,
      h('h2', null, 'The daemon'), sysBox);

    const tile = (k) => {
      const v = h('div', {class: 'v'}, '–'), s = h('div', {class: 's'}, '');
      tiles.append(h('div', {class: 'tile', dataset: {metric: k}}, h('div', {class: 'k'}, k), v, s));
      return {v, s};
    };
    const tFlows = tile('flows/s'), tPackets = tile('packets/s'), tBytes = tile('bytes/s');

    const series = PROTOS.map((p) => ({label: p}));
    const cw = (t) => { const d = h('div', {class: 'panel'}); charts.append(d); return [d, t]; };
    const [c1] = cw(), [c2] = cw(), [c3] = cw();
    const chFlows = timeChart(c1, series, {title: 'flows/s by protocol', height: 200});
    const chPackets = timeChart(c2, series, {title: 'packets/s by protocol', height: 200});
    const chBytes = timeChart(c3, series, {title: 'bits/s by protocol', fmt: (v) => si(v) + 'bit/s', height: 200});
    ctx.onLeave(() => { chFlows.destroy(); chPackets.destroy(); chBytes.destroy(); });

    // One slot per second: xs, and per protocol flows/packets/bits.
    const xs = [];
    const ys = {flows: PROTOS.map(() => []), packets: PROTOS.map(() => []), bits: PROTOS.map(() => [])};
    let lastExporters = new Map();

    const protoTable = new Table([
      {name: 'protocol', type: 'string'}, {name: 'flows/s', type: 'int'},
      {name: 'packets/s', type: 'int'}, {name: 'bytes/s', type: 'int', render: (v) => bytes(v)},
    ], {caption: 'rates per protocol', height: 200, empty: 'no traffic in the last second'});
    protoBox.append(protoTable.el);

    const onWindow = (w) => {
      const x = Math.floor(w.window_start_ms / 1000);
      const per = new Map();
      const exps = new Map();
      for (const r of w.rows) {
        const p = r.protocol === 'icmp6' ? 'icmp' : PROTOS.includes(r.protocol) ? r.protocol : 'other';
        const a = per.get(r.protocol) || {flows: 0, packets: 0, bytes: 0};
        a.flows += r.flows; a.packets += r.packets; a.bytes += r.bytes;
        per.set(r.protocol, a);
        const b = per.get('#' + p) || {flows: 0, packets: 0, bytes: 0};
        b.flows += r.flows; b.packets += r.packets; b.bytes += r.bytes;
        per.set('#' + p, b);
        const e = exps.get(r.exporter) || {flows: 0, packets: 0, bytes: 0};
        e.flows += r.flows; e.packets += r.packets; e.bytes += r.bytes;
        exps.set(r.exporter, e);
      }
      // Seconds without flows are not emitted: fill them with zeros.
      let prev = xs.length ? xs[xs.length - 1] : x - 1;
      if (x <= prev) return;
      for (let t = Math.max(prev + 1, x - KEEP); t <= x; t++) {
        xs.push(t);
        PROTOS.forEach((p, i) => {
          const a = t === x ? per.get('#' + p) : null;
          ys.flows[i].push(a ? a.flows : 0);
          ys.packets[i].push(a ? a.packets : 0);
          ys.bits[i].push(a ? a.bytes * 8 : 0);
        });
      }
      while (xs.length > KEEP) {
        xs.shift();
        for (const k of Object.keys(ys)) for (const s of ys[k]) s.shift();
      }
      chFlows.setData([xs, ...ys.flows]);
      chPackets.setData([xs, ...ys.packets]);
      chBytes.setData([xs, ...ys.bits]);
      let f = 0, p = 0, b = 0;
      for (const r of w.rows) { f += r.flows; p += r.packets; b += r.bytes; }
      tFlows.v.textContent = si(f); tPackets.v.textContent = si(p); tBytes.v.textContent = bytes(b);
      tBytes.s.textContent = `${si(b * 8)}bit/s`;
      const at = `at ${clock(w.window_end_ms)}`;
      tFlows.s.textContent = at; tPackets.s.textContent = at;
      protoTable.setRows([...per.entries()].filter(([k]) => k[0] !== '#')
        .sort((a, b2) => b2[1].flows - a[1].flows)
        .map(([k, a]) => [k, a.flows, a.packets, a.bytes]));
      lastExporters = exps;
      main.dataset.windows = String((Number(main.dataset.windows) || 0) + 1);
    };

    try {
      const name = await liveQuery();
      if (!ctx.alive) return 'Overview';
      ctx.follow(name, onWindow, (st) => {
        if (st === 'live') fill(state, h('span', {class: 'live-dot'}, 'live'), ` (temporary query ${name}: `, h('code', null, LIVE_SQL), ')');
        else if (st === 'reconnecting') fill(state, 'reconnecting…');
        else if (st === 'ended') { liveName = null; fill(state, 'the live query was dropped; reload the page'); }
        else if (st instanceof Error) fill(state, h('span', {class: 'bad'}, st.message));
      });
    } catch (e) {
      fill(state, h('span', {class: 'bad'}, `no live query: ${e.message}`), ' (the rates below come from /metrics)');
    }

    // /metrics every 2 s: the loss counters, exporters, the daemon.
    let prevRecords = null, prevAt = 0;
    const expTable = new Table([
      {name: 'exporter', type: 'string'}, {name: 'flows/s', type: 'int'},
      {name: 'bytes/s', type: 'int', render: (v) => bytes(v)},
      {name: 'records', type: 'int'},
      {name: 'lost', type: 'int', cls: (v) => (v > 0 ? 'num bad' : 'num')},
      {name: 'decode errors', type: 'int', cls: (v) => (v > 0 ? 'num bad' : 'num')},
      {name: 'unknown template', type: 'int'},
      {name: 'queue drops', type: 'int', cls: (v) => (v > 0 ? 'num bad' : 'num')},
      {name: 'resets', type: 'int'},
    ], {caption: 'exporters', height: 240, empty: 'no exporter has sent anything yet'});
    expBox.append(expTable.el);

    ctx.every(2000, async () => {
      const m = api.parseMetrics(await api.metricsText({signal: ctx.signal}));
      if (!ctx.alive) return;
      const val = (n) => m.filter((x) => x.name === n).reduce((s, x) => s + x.value, 0);
      fill(lossBox);
      for (const [name, what] of LOSS) {
        const present = m.some((x) => x.name === name);
        if (!present) continue;
        const v = val(name);
        lossBox.append(h('div', {class: `tile${v > 0 ? ' bad' : ''}`, dataset: {metric: name, value: String(v)}},
          h('div', {class: 'k'}, what),
          h('div', {class: `v${v > 0 ? ' bad' : ''}`}, int(v), v > 0 ? h('span', {class: 'sr-only'}, ' (not zero)') : ''),
          h('div', {class: 's mono'}, name)));
      }
      // exporters: counters per address (summed over domains)
      const records = sumBy(m, 'flowsql_ingest_records_total', 'exporter');
      const now = Date.now();
      const rows = [];
      const col = (n) => sumBy(m, n, 'exporter');
      const lost = col('flowsql_ingest_records_lost_total'), dec = col('flowsql_ingest_decode_errors_total'),
            unk = col('flowsql_ingest_unknown_template_total'), qd = col('flowsql_ingest_queue_drops_total'),
            rs = col('flowsql_ingest_sequence_resets_total');
      for (const [exp, n] of records) {
        const live = lastExporters.get(exp);
        let rate = live ? live.flows : null;
        if (rate === null && prevRecords && prevRecords.has(exp)) rate = Math.round((n - prevRecords.get(exp)) * 1000 / (now - prevAt));
        rows.push([exp, rate, live ? live.bytes : null, n, lost.get(exp) || 0, dec.get(exp) || 0,
                   unk.get(exp) || 0, qd.get(exp) || 0, rs.get(exp) || 0]);
      }
      prevRecords = records; prevAt = now;
      expTable.setRows(rows);
      const g = (n) => { const x = m.find((y) => y.name === n); return x ? x.value : null; };
      const dl = h('dl', {class: 'kv'});
      const add = (k, v) => { if (v !== null && v !== undefined && v !== 'null') dl.append(h('dt', null, k), h('dd', null, v)); };
      add('up', `${si(g('flowsql_uptime_seconds'))} s`);
      add('queries', g('flowsql_queries'));
      add('engine queue', `${g('flowsql_engine_queue_batches')} of ${g('flowsql_engine_queue_capacity_batches')} batches`);
      add('engine memory', `${bytes(g('flowsql_engine_memory_bytes'))}${g('flowsql_engine_memory_limit_bytes') ? ' of ' + bytes(g('flowsql_engine_memory_limit_bytes')) : ''}`);
      add('stored', `${bytes(g('flowsql_store_bytes'))}, writer lag ${Math.round(g('flowsql_store_lag_seconds') * 1000)} ms`);
      if (g('flowsql_archive_bytes') !== null) add('archive', `${int(g('flowsql_archive_files'))} files, ${bytes(g('flowsql_archive_bytes'))}`);
      add('stream clients', g('flowsql_sse_clients'));
      fill(sysBox, dl);
    });
    return 'Overview';
  },
};
