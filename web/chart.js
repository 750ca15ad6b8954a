// chart.js - time series with uPlot (web/vendor/uplot, from the npm
// registry), and top-N bars as plain HTML.
//
// Why uPlot: it draws on a canvas in one pass over typed arrays, 100k
// points in a few milliseconds, and weighs 50 kB; ECharts would be 1 MB
// and build an object per point. docs/WEB.md.

import {h, fill, si, COLORS, time, clock} from './util.js';

const uPlot = () => window.uPlot;

// Steps of the time axis, in seconds: whole seconds at least (the labels
// are hh:mm:ss; uPlot's own would put two ticks in one second).
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                    7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400, 30 * 86400];

// A time series chart in el. series: [{label, color?}]; fmt formats the
// y values. Returns {setData([xs_seconds, ...ys]), points(), destroy()}.
export function timeChart(el, series, {fmt = si, height = 220, title} = {}) {
  const box = h('div', {class: 'chart', role: 'img',
                        'aria-label': title ? `chart: ${title}` : 'chart'});
  el.append(box);
  const opts = {
    width: Math.max(300, el.clientWidth || 600),
    height,
    title,
    cursor: {drag: {x: true, y: false}},
    legend: {live: true},
    scales: {x: {time: true}},
    axes: [
      {values: (u, vals) => vals.map((v) => clock(v * 1000)), incrs: TIME_INCRS},
      {values: (u, vals) => vals.map((v) => si(v)), size: 56},
    ],
    series: [
      {value: (u, v) => (v === null || v === undefined ? '' : time(v * 1000))},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || COLORS[i % COLORS.length],
        width: 1.5,
        points: {show: false},
        value: (u, v) => (v === null || v === undefined ? '' : fmt(v)),
        spanGaps: false,
      })),
    ],
  };
  let data = [[], ...series.map(() => [])];
  const u = new (uPlot())(opts, data, box);
  const ro = new ResizeObserver(() => {
    const w = Math.max(300, el.clientWidth);
    if (w !== u.width) u.setSize({width: w, height});
  });
  ro.observe(el);
  return {
    u,
    setData(d) { data = d; u.setData(d); box.dataset.points = String(d[0].length); },
    points() { return data[0].length; },
    destroy() { ro.disconnect(); u.destroy(); },
  };
}

// A chart of y against a numeric x (the console's quick chart).
export function xyChart(el, xLabel, series, {xTime = false, height = 260} = {}) {
  const box = h('div', {class: 'chart', role: 'img', 'aria-label': `chart of ${series.map((s) => s.label).join(', ')} by ${xLabel}`});
  el.append(box);
  const u = new (uPlot())({
    width: Math.max(300, el.clientWidth || 600),
    height,
    scales: {x: {time: xTime}},
    axes: [{label: xLabel, values: xTime ? (u, vals) => vals.map((v) => clock(v * 1000)) : (u, vals) => vals.map((v) => si(v)),
            ...(xTime ? {incrs: TIME_INCRS} : {})},
           {values: (u, vals) => vals.map((v) => si(v)), size: 60}],
    series: [{label: xLabel}, ...series.map((s, i) => ({
      label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5,
      points: {show: !!s.points}}))],
  }, [[], ...series.map(() => [])], box);
  const ro = new ResizeObserver(() => {
    const w = Math.max(300, el.clientWidth);
    if (w !== u.width) u.setSize({width: w, height});
  });
  ro.observe(el);
  return {u, setData(d) { u.setData(d); box.dataset.points = String(d[0].length); },
          destroy() { ro.disconnect(); u.destroy(); }};
}

// Horizontal bars: items [{label, value, href?}], largest first.
export function bars(el, items, {fmt = si, caption, empty = 'none'} = {}) {
  const max = items.reduce((m, it) => Math.max(m, it.value || 0), 0) || 1;
  const list = h('ol', {class: 'bars', 'aria-label': caption || 'top values'});
  for (const it of items) {
    const bar = h('span', {class: 'bar', 'aria-hidden': 'true'});
    bar.style.width = `${Math.max(0.5, (100 * (it.value || 0)) / max)}%`;
    list.append(h('li', null,
      h('span', {class: 'bar-label'}, it.href ? h('a', {href: it.href}, it.label) : it.label),
      h('span', {class: 'bar-track'}, bar),
      h('span', {class: 'bar-value num'}, fmt(it.value))));
  }
  fill(el, items.length ? list : h('p', {class: 'muted'}, empty));
}

// The n largest of items by key, largest first, in one pass (no sort of
// 100k rows for a top 10).
export function topN(items, n, key) {
  const top = [];
  for (const it of items) {
    const v = key(it);
    if (v === null || v === undefined || isNaN(v)) continue;
    if (top.length < n) {
      top.push([v, it]);
      if (top.length === n) top.sort((a, b) => a[0] - b[0]);
    } else if (v > top[0][0]) {
      top[0] = [v, it];
      for (let i = 0; i + 1 < top.length && top[i][0] > top[i + 1][0]; i++) [top[i], top[i + 1]] = [top[i + 1], top[i]];
    }
  }
  return top.sort((a, b) => b[0] - a[0]).map((x) => x[1]);
}
