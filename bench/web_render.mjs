// bench/web_render.mjs - the web interface's render times with 100k-row
// windows, in Debian's chromium (headless) driven by Playwright; run by
// bench/web_render.sh, which starts flowsqld and flowgen and sets BASE,
// WEB_NODE, WINDOWS, CHROMIUM. Prints "web: ..." lines and a summary.

import path from 'node:path';

const env = process.env;
const {chromium} = await import(path.join(env.WEB_NODE, 'node_modules/playwright-core/index.mjs'));
const BASE = env.BASE, WINDOWS = Number(env.WINDOWS || 6);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const fmt = (a) => `median ${med(a).toFixed(0)} ms, min ${Math.min(...a).toFixed(0)}, max ${Math.max(...a).toFixed(0)} (${a.length})`;

const browser = await chromium.launch({executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking']});
const page = await browser.newPage({viewport: {width: 1400, height: 1000}});
page.setDefaultTimeout(60000);
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

// ---- the query page: live windows of 100k+ rows ----------------------------------
await page.goto(`${BASE}/#/queries/web_big?col=bytes`);
await page.waitForFunction(() => document.title === 'flowsql: web_big');
const draw = [], parse = [], rows = [];
let seen = null;
// the first window is partial (the page opened in its middle): skipped
for (let n = -1; n < WINDOWS;) {
  const r = await page.evaluate(() => {
    const e = document.getElementById('render-stats');
    return e && e.dataset.window ? {w: e.dataset.window, rows: Number(e.dataset.rows), ms: Number(e.dataset.ms),
                                    parse: Number(e.dataset.parseMs)} : null;
  });
  if (r && r.w !== seen && r.parse > 0) {
    seen = r.w;
    if (n >= 0) {
      console.log(`web: live window ${n + 1}: ${r.rows} rows, parsed in ${r.parse.toFixed(0)} ms, drawn in ${r.ms.toFixed(0)} ms`);
      draw.push(r.ms); parse.push(r.parse); rows.push(r.rows);
    }
    n++;
  }
  await sleep(200);
}

// Sorting the table by a column (each click flips the order), then
// scrolling to its last row: the time to the next paint.
const sorts = [], scrolls = [];
for (let i = 0; i < 4; i++) {
  const [sortMs, scrollMs] = await page.evaluate(async (down) => {
    const btn = [...document.querySelectorAll('#main table.grid th button')].find((b) => b.textContent.trim().startsWith('bytes'));
    const paint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const s = document.querySelector('#main .vt');
    const t0 = performance.now();
    btn.click();
    await paint();
    const t1 = performance.now();
    s.scrollTop = down ? s.scrollHeight : 0;
    await paint();
    return [t1 - t0, performance.now() - t1];
  }, i % 2 === 0);
  sorts.push(sortMs); scrolls.push(scrollMs);
}
console.log(`web: sorting ${rows[rows.length - 1]} rows by a column: ${fmt(sorts)}; scrolling to the other end: ${fmt(scrolls)}`);

// ---- the heatmap of a whole /16 (65536 cells) -------------------------------------
const heat = [];
for (let i = 0; i < 3; i++) {
  await page.goto('about:blank');
  const t0 = Date.now();
  await page.goto(`${BASE}/#/heatmap?block=10.0.0.0/16&query=host_stats_10s&col=flows`);
  await page.waitForFunction(() => document.getElementById('heat')?.dataset.hottest);
  heat.push(Date.now() - t0);
  const cells = await page.locator('#heat').getAttribute('data-cells');
  console.log(`web: heatmap of 10.0.0.0/16, ${cells} addresses with a row: from opening the page to drawn in ${heat[i]} ms`);
}

// ---- the console: one stored window of web_big from SQLite ------------------------
const con = [], conDraw = [];
let conRows = 0;
const sql = 'SELECT * FROM web_big WHERE window_start = (SELECT max(window_start) FROM web_big)';
for (let i = 0; i < 3; i++) {
  await page.goto('about:blank');
  const t0 = Date.now();
  await page.goto(`${BASE}/#/console?run=1&sql=${encodeURIComponent(sql)}`);
  await page.waitForFunction(() => document.getElementById('console-meta')?.dataset.renderMs);
  con.push(Date.now() - t0);
  const m = await page.evaluate(() => ({rows: Number(document.getElementById('console-meta').dataset.rows),
                                        ms: Number(document.getElementById('console-meta').dataset.renderMs),
                                        text: document.getElementById('console-meta').textContent}));
  conDraw.push(m.ms); conRows = m.rows;
  console.log(`web: console, ${m.rows} rows of a stored window: page opened to drawn in ${con[i]} ms (${m.text})`);
}

console.log('web: summary');
console.log(`web:   live window of ${med(rows)} rows (median), query page: parse ${fmt(parse)}; draw ${fmt(draw)}`);
console.log(`web:   sort ${fmt(sorts)}; scroll to the end ${fmt(scrolls)}`);
console.log(`web:   heatmap /16 (65536 cells), open to drawn: ${fmt(heat)}`);
console.log(`web:   console, ${conRows} stored rows, open to drawn: ${fmt(con)}; drawing alone ${fmt(conDraw)}`);
console.log(`web:   console errors in the page: ${errors.length}${errors.length ? ': ' + errors.slice(0, 3).join(' | ') : ''}`);
await browser.close();
process.exit(errors.length ? 1 : 0);
