// host.js - one address: its profile over time (host_stats_10s/30s/1m/5m),
// its top peers and ports and its raw flows (the archive), and the
// detections it appears in, over a time range the user picks.

import * as api from './api.js';
import {h, fill, field, select, si, int, bytes, utc, toMs, sqlStr, isIp, csv, download} from './util.js';
import {timeChart, bars} from './chart.js';
import {Table} from './table.js';
import {rangePicker, busy, failed} from './widgets.js';
import {DETECTIONS, storedTables, detectionSql, detectionRows, flowsSql} from './detect.js';

const GRAINS = [['10s', 'host_stats_10s', 36e5], ['30s', 'host_stats_30s', 6 * 36e5],
                ['1m', 'host_stats_1m', 24 * 36e5], ['5m', 'host_stats_5m', Infinity]];
const FLOW_COLS = 'start, end, srcip, srcport, dstip, dstport, proto_name(proto) AS proto, tcpflags, packets, bytes, exporter';
const FLOW_LIMIT = 10000;

export default {
  title: 'Host',
  nav: 'heatmap',
  async mount(main, ctx) {
    const ip = ctx.args[0];
    main.append(h('h1', null, 'Host ', h('span', {class: 'mono'}, ip)));
    if (!isIp(ip)) {
      main.append(h('p', {class: 'error', role: 'alert'}, `${ip} is not an IP address`));
      return ip;
    }
    const tables = await storedTables({signal: ctx.signal});
    const v4 = !ip.includes(':');
    const o = ip.split('.');
    let grain = ctx.params.get('grain') || 'auto';
    const grainSel = select([['auto', 'auto'], ...GRAINS.map((g) => [g[0], g[1]])], grain);
    const range = rangePicker(ctx, () => loadAll(), {preset: '1h'});
    const summary = h('div', {id: 'host-summary'});
    const charts = h('div', {class: 'cols', id: 'profile'});
    const peersOut = h('div', {id: 'peers-out'}), peersIn = h('div', {id: 'peers-in'}), ports = h('div', {id: 'ports'});
    const detBox = h('div', {id: 'host-detections'});
    const flowInfo = h('p', {class: 'muted', id: 'flows-info'});
    const flows = new Table([
      {name: 'start', type: 'time'}, {name: 'end', type: 'time'}, {name: 'srcip', type: 'ip'},
      {name: 'srcport', type: 'int'}, {name: 'dstip', type: 'ip'}, {name: 'dstport', type: 'int'},
      {name: 'proto', type: 'string'}, {name: 'tcpflags', type: 'int'}, {name: 'packets', type: 'int'},
      {name: 'bytes', type: 'int'}, {name: 'exporter', type: 'string'},
    ], {caption: `raw flows of ${ip}`, height: 480, empty: 'no flow of this host in the range'});
    let flowSql = '';
    const csvBtn = h('button', {type: 'button', class: 'secondary', onclick: () =>
      download(`flows-${ip}.csv`, csv(flows.columns.map((c) => c.name), flows.rows))}, 'Download CSV');
    const consoleLink = h('a', {href: '#/console'}, 'Open in the console');

    main.append(
      h('div', {class: 'actions'},
        v4 ? h('a', {href: `#/heatmap?block=${o[0]}.${o[1]}.0.0/16`}, `heatmap of ${o[0]}.${o[1]}.0.0/16`) : null,
        v4 ? h('a', {href: `#/heatmap?block=${o[0]}.${o[1]}.${o[2]}.0/24`}, `of ${o[0]}.${o[1]}.${o[2]}.0/24`) : null),
      h('div', {class: 'toolbar'}, range.el, field('profile', grainSel)),
      h('h2', null, 'Profile'), summary, charts,
      h('div', {class: 'cols'},
        h('section', null, h('h2', null, 'Top peers it sent to'), peersOut),
        h('section', null, h('h2', null, 'Top peers that sent to it'), peersIn),
        h('section', null, h('h2', null, 'Top services (protocol, port)'), ports)),
      h('h2', null, 'Detections it appears in'), detBox,
      h('h2', null, 'Flows'), h('div', {class: 'actions'}, flowInfo, csvBtn, consoleLink), flows.el);

    grainSel.addEventListener('change', () => {
      grain = grainSel.value;
      ctx.setParams({...Object.fromEntries(ctx.params.entries()), grain});
      loadProfile(range.get()).catch((e) => ctx.alive && failed(summary, e));
    });

    let profileCharts = [];
    ctx.onLeave(() => profileCharts.forEach((c) => c.destroy()));

    async function loadProfile(r) {
      const span = r.to - r.from;
      const g = grain === 'auto' ? GRAINS.find((x) => span <= x[2] && tables.has(x[1])) || GRAINS.find((x) => tables.has(x[1]))
        : GRAINS.find((x) => x[0] === grain);
      profileCharts.forEach((c) => c.destroy());
      profileCharts = [];
      fill(charts);
      if (!g || !tables.has(g[1])) {
        fill(summary, h('p', {class: 'muted'}, `No stored host profile (${g ? g[1] : 'host_stats_*'}): `,
          'the saved queries host_stats_10s/30s/1m/5m of queries/ keep it.'));
        return;
      }
      const have = new Set(tables.get(g[1]).map((c) => c.name));
      const want = ['flows', 'packets', 'bytes', 'peers', 'ports', 'syn', 'ack', 'fin', 'rst'].filter((c) => have.has(c));
      busy(summary);
      const res = await api.sql(`SELECT window_start, ${want.map((c) => `sum(${c})`).join(', ')} FROM ${g[1]} ` +
        `WHERE srcip = ip(${sqlStr(ip)}) AND window_start >= ${Math.floor(r.from)} AND window_start < ${Math.ceil(r.to)} ` +
        'GROUP BY window_start ORDER BY window_start', {signal: ctx.signal});
      if (!ctx.alive) return;
      const xs = res.rows.map((x) => Math.floor(toMs(x[0]) / 1000));
      const col = (c) => res.rows.map((x) => x[1 + want.indexOf(c)]);
      const tot = (c) => (have.has(c) ? col(c).reduce((a, b) => a + (b || 0), 0) : null);
      fill(summary, res.rows.length
        ? h('div', {class: 'tiles'},
          ...[['flows', int(tot('flows'))], ['packets', si(tot('packets'))], ['bytes', bytes(tot('bytes'))],
              ['windows with traffic', int(res.rows.length)], ['profile', g[1]]]
            .map(([k, v]) => h('div', {class: 'tile'}, h('div', {class: 'k'}, k), h('div', {class: 'v'}, v))))
        : h('p', {class: 'muted'}, `No row of ${ip} in ${g[1]} over ${r.label}: it sent nothing, or it is not in the monitored networks (--monitored).`));
      summary.dataset.windows = String(res.rows.length);
      if (!res.rows.length) return;
      const add = (title, names, fmt) => {
        const names2 = names.filter((c) => have.has(c));
        if (!names2.length) return;
        const box = h('div', {class: 'panel'});
        charts.append(box);
        const c = timeChart(box, names2.map((n) => ({label: n})), {title, height: 190, fmt});
        c.setData([xs, ...names2.map(col)]);
        profileCharts.push(c);
      };
      add(`bytes per ${g[0]}`, ['bytes'], bytes);
      add(`flows and packets per ${g[0]}`, ['flows', 'packets'], si);
      add(`distinct peers and ports per ${g[0]}`, ['peers', 'ports'], si);
      add(`TCP flags per ${g[0]} (flows carrying each)`, ['syn', 'ack', 'fin', 'rst'], si);
    }

    const between = (r) => `BETWEEN '${utc(r.from)}' AND '${utc(r.to)}'`;

    async function loadPeers(r) {
      busy(peersOut); busy(peersIn); busy(ports);
      const run = async (box, text, label, key) => {
        try {
          const res = await api.sql(text, {signal: ctx.signal});
          bars(box, res.rows.map((x) => ({label: String(x[0]) + (key ? ` ${x[1]}` : ''), value: x[key ? 3 : 2],
                                          href: key ? null : `#/host/${encodeURIComponent(x[0])}`})),
               {fmt: bytes, caption: label});
        } catch (e) { if (ctx.alive) failed(box, e); }
      };
      await Promise.all([
        run(peersOut, `SELECT dstip, count(*) AS flows, sum(bytes) AS bytes FROM flows ${between(r)} ` +
          `WHERE srcip = ${ip} GROUP BY dstip ORDER BY bytes DESC LIMIT 10`, 'peers it sent to, by bytes'),
        run(peersIn, `SELECT srcip, count(*) AS flows, sum(bytes) AS bytes FROM flows ${between(r)} ` +
          `WHERE dstip = ${ip} GROUP BY srcip ORDER BY bytes DESC LIMIT 10`, 'peers that sent to it, by bytes'),
        run(ports, `SELECT proto_name(proto) AS p, dstport, count(*) AS flows, sum(bytes) AS bytes FROM flows ${between(r)} ` +
          `WHERE srcip = ${ip} OR dstip = ${ip} GROUP BY p, dstport ORDER BY bytes DESC LIMIT 10`, 'services by bytes', true),
      ]);
    }

    async function loadDetections(r) {
      busy(detBox);
      const names = DETECTIONS.filter((n) => tables.has(n));
      const text = detectionSql(tables, names, {from: r.from, to: r.to, ip, limit: 500});
      if (!text) { fill(detBox, h('p', {class: 'muted'}, 'No detection query has stored rows.')); return; }
      const rows = detectionRows(await api.sql(text, {signal: ctx.signal}), tables);
      if (!ctx.alive) return;
      const t = new Table([
        {name: 'window', type: 'time'}, {name: 'query', type: 'string'},
        {name: 'row', type: 'string'},
        {name: 'flows', type: 'string', render: (v, x) => h('a', {href: `#/console?run=1&sql=${encodeURIComponent(flowsSql(x[4]))}`}, 'flows of the window')},
      ], {caption: `detections of ${ip}`, height: 260, empty: `${ip} appears in no detection over ${r.label}`});
      t.setRows(rows.map((d) => [d.start, d.query,
        Object.entries(d.row).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', '), '', d]));
      fill(detBox, t.el);
      detBox.dataset.rows = String(rows.length);
    }

    async function loadFlows(r) {
      busy(flowInfo, 'reading the archive…');
      flowSql = `SELECT ${FLOW_COLS} FROM flows ${between(r)} WHERE srcip = ${ip} OR dstip = ${ip} ` +
                `ORDER BY start DESC LIMIT ${FLOW_LIMIT}`;
      consoleLink.href = `#/console?run=1&sql=${encodeURIComponent(flowSql)}`;
      const res = await api.sql(flowSql, {signal: ctx.signal});
      if (!ctx.alive) return;
      flows.setRows(res.rows);
      const s = res.scan || {};
      fill(flowInfo, `${int(res.rows.length)} flow${res.rows.length === 1 ? '' : 's'} over ${r.label}` +
        (res.rows.length >= FLOW_LIMIT ? ` (the newest ${int(FLOW_LIMIT)})` : '') +
        `, in ${res.elapsed_ms} ms: ${int(s.files_read)} of ${int(s.files)} archive files and ` +
        `${int(s.row_groups_read)} of ${int(s.row_groups)} row groups read, ${int(s.flows_read)} flows decoded.` +
        (res.error ? ` Cut short: ${res.error}` : ''));
      flowInfo.dataset.rows = String(res.rows.length);
    }

    async function loadAll() {
      const r = range.get();
      const guard = (p, box) => p.catch((e) => { if (ctx.alive && e.name !== 'AbortError') failed(box, e); });
      await Promise.all([guard(loadProfile(r), summary), guard(loadPeers(r), peersOut),
                         guard(loadDetections(r), detBox), guard(loadFlows(r), flowInfo)]);
    }
    loadAll();
    return `host ${ip}`;
  },
};

