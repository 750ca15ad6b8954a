// heatmap.js - an address block as a picture: a /16 as 256 x 256 cells
// (x = last octet, y = third octet) or a /24 as 16 x 16, each cell
// coloured by a numeric column of a host query (host_stats_10s's flows,
// bytes, peers...) in one of its stored windows. Click a cell, or move
// to it with the arrow keys and press Enter, to open the host's page.

import * as api from './api.js';
import {h, fill, field, select, si, int, bytes, time, toMs, sqlStr, sqlId, isNumericType} from './util.js';
import {Table} from './table.js';
import {busy, failed} from './widgets.js';
import {storedTables} from './detect.js';

// Light yellow to dark purple (ColorBrewer's YlOrRd, then darker).
const STOPS = [[255, 247, 188], [254, 196, 79], [254, 153, 41], [217, 95, 14], [153, 52, 4], [74, 20, 134]];
const EMPTY = [236, 239, 242];

function ramp(t) {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
  const a = STOPS[i], b = STOPS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f));
}

// "10.1.0.0/16" -> {base: [10, 1, 0, 0], bits: 16} or null.
function parseBlock(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(16|24)$/.exec(String(s).trim());
  if (!m) return null;
  const o = m.slice(1, 5).map(Number);
  if (o.some((x) => x > 255)) return null;
  const bits = Number(m[5]);
  if (bits === 16) { o[2] = 0; o[3] = 0; } else o[3] = 0;
  return {base: o, bits, text: `${o.join('.')}/${bits}`};
}

export default {
  title: 'Heatmap',
  nav: 'heatmap',
  async mount(main, ctx) {
    const p = ctx.params;
    const tables = await storedTables({signal: ctx.signal});
    // Host queries: stored, with an address column and something to count.
    const hostQueries = [...tables.entries()].map(([name, columns]) => ({name, columns}))
      .filter((q) => q.columns.some((c) => c.type === 'ip') && q.columns.some((c) => !c.key && isNumericType(c.type)))
      .sort((a, b) => a.name.localeCompare(b.name));
    main.append(h('h1', null, 'Heatmap'));
    if (!hostQueries.length) {
      main.append(h('p', null, 'No stored query has an address column and a number to colour by. Register one, e.g. ',
                    h('code', null, 'SELECT srcip, count(*) AS flows FROM flows WINDOW 10s GROUP BY srcip'), '.'));
      return 'Heatmap';
    }
    let qname = hostQueries.some((q) => q.name === p.get('query')) ? p.get('query')
      : (hostQueries.find((q) => q.name === 'host_stats_10s') || hostQueries[0]).name;
    const qOf = (n) => hostQueries.find((q) => q.name === n);
    const ipCols = () => qOf(qname).columns.filter((c) => c.type === 'ip').map((c) => c.name);
    const numCols = () => qOf(qname).columns.filter((c) => !c.key && isNumericType(c.type)).map((c) => c.name);
    let ipcol = ipCols().includes(p.get('ip')) ? p.get('ip') : ipCols()[0];
    let col = numCols().includes(p.get('col')) ? p.get('col') : (numCols().includes('flows') ? 'flows' : numCols()[0]);
    let block = parseBlock(p.get('block') || '');
    let scale = p.get('scale') === 'linear' ? 'linear' : 'log';
    let winSel = p.get('window') || 'latest';

    const qSel = select(hostQueries.map((q) => q.name), qname);
    const ipSel = select(ipCols(), ipcol);
    const colSel = select(numCols(), col);
    const blockIn = h('input', {type: 'text', value: block ? block.text : '', placeholder: '10.1.0.0/16', size: '18'});
    const scaleSel = select([['log', 'logarithmic'], ['linear', 'linear']], scale);
    const wSel = select([['latest', 'latest (follows)']], winSel);
    const go = h('button', {type: 'submit'}, 'Show');
    const picks = h('div', {class: 'actions', id: 'busiest'});
    const info = h('p', {class: 'muted', id: 'heat-info', 'aria-live': 'polite'});
    const canvas = h('canvas', {class: 'heat', id: 'heat', tabindex: '0', role: 'application',
                                'aria-roledescription': 'heatmap',
                                'aria-label': 'address heatmap: arrow keys move, Enter opens the host'});
    const here = h('p', {class: 'mono', id: 'heat-cursor', 'aria-live': 'polite'});
    const legend = h('div', {class: 'legend'});
    const tip = h('div', {class: 'tip', hidden: true});
    const hot = new Table([{name: 'address', type: 'ip'}, {name: 'value', type: 'float'}],
                          {caption: 'hottest addresses', height: 520, empty: 'no address of the block in this window'});
    document.body.append(tip);
    ctx.onLeave(() => tip.remove());
    const form = h('form', {class: 'toolbar', onsubmit: (ev) => { ev.preventDefault(); apply(); }},
      field('block (/16 or /24)', blockIn), field('query', qSel), field('address column', ipSel),
      field('colour by', colSel), field('scale', scaleSel), field('window', wSel), go);
    main.append(form, picks, info,
      h('div', {class: 'heat-wrap'},
        h('div', null, canvas, legend, here),
        h('section', {class: 'hot'}, h('h2', null, 'Hottest addresses'), hot.el)));

    qSel.addEventListener('change', () => {
      qname = qSel.value;
      fill(ipSel, ...ipCols().map((c) => h('option', {value: c}, c)));
      fill(colSel, ...numCols().map((c) => h('option', {value: c}, c)));
      ipcol = ipCols()[0];
      col = numCols().includes(col) ? col : numCols()[0];
      colSel.value = col;
      winSel = 'latest';
      apply();
    });
    for (const s of [ipSel, colSel, scaleSel, wSel]) s.addEventListener('change', () => apply());

    // The grid: cells per side, the pixels of a cell, the values.
    let side = 256, px = 3, values = null, shown = null, cursor = -1, max = 0;
    const off = document.createElement('canvas');

    const cellIp = (i) => {
      const b = block.base;
      return block.bits === 16 ? `${b[0]}.${b[1]}.${Math.floor(i / 256)}.${i % 256}` : `${b[0]}.${b[1]}.${b[2]}.${i}`;
    };
    const fmt = (v) => (/bytes/.test(col) ? bytes(v) : si(v));

    function draw() {
      const g = canvas.getContext('2d');
      g.imageSmoothingEnabled = false;
      g.drawImage(off, 0, 0, side * px, side * px);
      if (block.bits === 24) {            // gaps between the big cells
        g.strokeStyle = '#ffffff';
        g.lineWidth = 1;
        for (let k = 1; k < side; k++) {
          g.beginPath(); g.moveTo(k * px + 0.5, 0); g.lineTo(k * px + 0.5, side * px); g.stroke();
          g.beginPath(); g.moveTo(0, k * px + 0.5); g.lineTo(side * px, k * px + 0.5); g.stroke();
        }
      }
      if (cursor >= 0) {
        const x = cursor % side, y = Math.floor(cursor / side);
        g.strokeStyle = '#0b5cad';
        g.lineWidth = 2;
        g.strokeRect(x * px - 2, y * px - 2, px + 4, px + 4);
      }
    }

    function paint() {
      side = block.bits === 16 ? 256 : 16;
      px = block.bits === 16 ? 3 : 32;
      canvas.width = canvas.height = side * px;
      off.width = off.height = side;
      const g = off.getContext('2d');
      const img = g.createImageData(side, side);
      const lmax = Math.log1p(max);
      for (let i = 0; i < side * side; i++) {
        const v = values[i];
        const c = v === undefined ? EMPTY : ramp(max <= 0 ? 0 : scale === 'log' ? Math.log1p(Math.max(0, v)) / lmax : v / max);
        img.data.set([c[0], c[1], c[2], 255], i * 4);
      }
      g.putImageData(img, 0, 0);
      draw();
      // the legend
      const lb = h('canvas', {class: 'legend-bar', width: '200', height: '12', 'aria-hidden': 'true'});
      const lg = lb.getContext('2d');
      for (let x = 0; x < 200; x++) { const c = ramp(x / 199); lg.fillStyle = `rgb(${c})`; lg.fillRect(x, 0, 1, 12); }
      fill(legend, h('span', null, '0'), lb, h('span', null, `${fmt(max)} ${col} (${scale})`),
           h('span', {class: 'muted'}, block.bits === 16
             ? ' · grey: no row · x: last octet 0–255, y: third octet 0–255 from the top'
             : ' · grey: no row · 16 addresses a line, .0 top left, .255 bottom right'));
    }

    const indexAt = (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.floor(((ev.clientX - r.left) / r.width) * side);
      const y = Math.floor(((ev.clientY - r.top) / r.height) * side);
      return x < 0 || y < 0 || x >= side || y >= side ? -1 : y * side + x;
    };
    const describe = (i) => {
      const v = values[i];
      return `${cellIp(i)}: ${v === undefined ? 'no row' : `${int(Math.round(v * 100) / 100)} ${col}`}`;
    };
    canvas.addEventListener('mousemove', (ev) => {
      if (!values) return;
      const i = indexAt(ev);
      if (i < 0) { tip.hidden = true; return; }
      tip.textContent = describe(i);
      tip.hidden = false;
      tip.style.left = `${ev.clientX + 12}px`;
      tip.style.top = `${ev.clientY + 12}px`;
    });
    canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
    canvas.addEventListener('click', (ev) => {
      if (!values) return;
      const i = indexAt(ev);
      if (i >= 0) location.hash = `#/host/${cellIp(i)}`;
    });
    canvas.addEventListener('keydown', (ev) => {
      if (!values) return;
      const moves = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -side, ArrowDown: side,
                     PageUp: -side * 16, PageDown: side * 16};
      if (cursor < 0 && (moves[ev.key] !== undefined || ev.key === 'Home')) cursor = hottest >= 0 ? hottest : 0;
      else if (moves[ev.key] !== undefined) {
        const x = cursor % side, d = moves[ev.key];
        if ((d === -1 && x === 0) || (d === 1 && x === side - 1)) return;
        cursor = Math.min(side * side - 1, Math.max(0, cursor + d));
      } else if (ev.key === 'Home') cursor = hottest >= 0 ? hottest : 0;
      else if (ev.key === 'Enter' && cursor >= 0) { location.hash = `#/host/${cellIp(cursor)}`; return; }
      else return;
      ev.preventDefault();
      here.textContent = describe(cursor);
      draw();
    });

    let hottest = -1;
    async function windowsList() {
      const r = await api.sql(`SELECT window_start FROM flowsql_windows WHERE tbl = ${sqlStr(qname)} ` +
                              'ORDER BY window_start DESC LIMIT 60', {signal: ctx.signal});
      return r.rows.map((x) => x[0]);
    }

    // The busiest /16s of the window, to pick from.
    async function busiest(wsql) {
      const r = await api.sql(`SELECT ip_text(network(${sqlId(ipcol)}, 16)) AS net, sum(${sqlId(col)}) AS v, count(*) AS n ` +
        `FROM ${sqlId(qname)} WHERE window_start = ${wsql} AND ${sqlId(ipcol)} BETWEEN cidr_first('0.0.0.0/0') AND cidr_last('0.0.0.0/0') ` +
        'GROUP BY 1 ORDER BY v DESC LIMIT 8', {signal: ctx.signal});
      fill(picks, r.rows.length ? h('span', {class: 'muted'}, 'busiest /16s:') : null,
           ...r.rows.map(([net, v, n]) => h('button', {type: 'button', class: 'secondary',
             onclick: () => { blockIn.value = `${net}/16`; apply(); }}, `${net}/16 (${int(n)} hosts, ${fmt(v)})`)));
      return r.rows.length ? `${r.rows[0][0]}/16` : null;
    }

    async function load() {
      const wl = await windowsList();
      const cur = wSel.value;
      fill(wSel, h('option', {value: 'latest'}, 'latest (follows)'),
           ...wl.map((w) => h('option', {value: String(toMs(w))}, time(w))));
      wSel.value = wl.some((w) => String(toMs(w)) === cur) ? cur : 'latest';
      winSel = wSel.value;
      if (!wl.length) {
        fill(info, `${qname} has no stored window yet: the first comes when its window closes.`);
        return null;
      }
      const wms = winSel === 'latest' ? toMs(wl[0]) : Number(winSel);
      const wsql = String(wms);
      if (!block) {
        const b = await busiest(wsql);
        block = parseBlock(b || '10.0.0.0/16');
        blockIn.value = block.text;
        ctx.setParams({block: block.text, query: qname, ip: ipcol, col, scale, window: winSel});
      } else if (!picks.childElementCount) {
        await busiest(wsql);
      }
      const c = sqlId(ipcol), b = sqlStr(block.text);
      const r = await api.sql(`SELECT ip_text(${c}) AS ip, sum(${sqlId(col)}) AS v FROM ${sqlId(qname)} ` +
        `WHERE window_start = ${wsql} AND ${c} BETWEEN cidr_first(${b}) AND cidr_last(${b}) GROUP BY ${c}`, {signal: ctx.signal});
      const vals = new Array(block.bits === 16 ? 65536 : 256);
      let m = 0, hi = -1;
      const list = [];
      for (const [ip, v] of r.rows) {
        const o = ip.split('.').map(Number);
        const i = block.bits === 16 ? o[2] * 256 + o[3] : o[3];
        vals[i] = v;
        list.push([ip, v]);
        if (v > m || hi < 0) { m = v; hi = i; }
      }
      values = vals;
      max = m;
      hottest = hi;
      if (cursor >= vals.length) cursor = -1;
      paint();
      shown = wms;
      canvas.dataset.hottest = hi >= 0 ? cellIp(hi) : '';
      canvas.dataset.window = String(wms);
      canvas.dataset.cells = String(list.length);
      canvas.setAttribute('aria-label', `heatmap of ${block.text} by ${col}: ${list.length} addresses` +
        (hi >= 0 ? `, hottest ${cellIp(hi)}` : '') + '. Arrow keys move, Enter opens the host.');
      list.sort((a, b2) => b2[1] - a[1]);
      hot.setColumns([{name: 'address', type: 'ip'}, {name: col, type: 'float'}]);
      hot.setRows(list.slice(0, 50));
      fill(info, `${qname}, window of ${time(wms)}: ${int(list.length)} addresses of ${block.text} with a row, ` +
           `coloured by ${col}` + (hi >= 0 ? `; the hottest is ${cellIp(hi)} (${fmt(m)}).` : '.'));
      return wms;
    }

    async function apply() {
      const b = parseBlock(blockIn.value);
      if (blockIn.value.trim() && !b) {
        blockIn.setCustomValidity('an IPv4 /16 or /24, like 10.1.0.0/16');
        blockIn.reportValidity();
        return;
      }
      blockIn.setCustomValidity('');
      if (b && (!block || b.text !== block.text)) fill(picks);
      block = b;
      qname = qSel.value; ipcol = ipSel.value; col = colSel.value; scale = scaleSel.value; winSel = wSel.value;
      ctx.setParams({block: block ? block.text : '', query: qname, ip: ipcol, col, scale, window: winSel});
      try { await load(); } catch (e) { if (ctx.alive) failed(info, e); }
    }

    busy(info);
    // Follow the newest window while "latest" is chosen.
    ctx.every(5000, async () => {
      if (shown !== null && winSel !== 'latest') return;
      const r = await api.sql(`SELECT max(window_start) FROM flowsql_windows WHERE tbl = ${sqlStr(qname)}`, {signal: ctx.signal});
      const newest = r.rows.length && r.rows[0][0] ? toMs(r.rows[0][0]) : null;
      if (shown === null || (newest && newest !== shown)) await load();
    });
    return 'Heatmap';
  },
};
