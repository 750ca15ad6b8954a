// table.js - a table of any number of rows that stays fast: only the
// rows in view are in the page (about 40 <tr> whatever the total), the
// others are two spacer rows of the right height. 100k rows render in
// the time of 40. Headers are buttons that sort (aria-sort); IP cells
// link to their host page. Screen readers get aria-rowcount/rowindex.

import {h, fill, cell, num, ipKey} from './util.js';

const ROW = 26;          // px, fixed: the spacers are computed from it
const OVERSCAN = 10;

export class Table {
  // columns: [{name, type, label?, render?(v, row) -> Node|string, cls?}]
  // opts: {caption, height (px of the scroll area), empty (text), rowKey}
  constructor(columns, opts = {}) {
    this.columns = columns;
    this.opts = opts;
    this.rows = [];
    this.view = [];          // indices into rows, in display order
    this.sortCol = -1;
    this.sortDir = 1;
    this.first = -1;
    this.last = -1;
    this.scroller = h('div', {class: 'vt', tabindex: '0', role: 'region',
                              'aria-label': opts.caption || 'table'});
    this.scroller.style.maxHeight = (opts.height || 420) + 'px';
    this.table = h('table', {class: 'grid'});
    if (opts.caption) this.table.append(h('caption', {class: 'sr-only'}, opts.caption));
    this.thead = h('thead');
    this.tbody = h('tbody');
    this.table.append(this.thead, this.tbody);
    this.scroller.append(this.table);
    this.el = h('div', {class: 'vt-wrap'}, this.scroller,
                this.status = h('div', {class: 'vt-status muted'}));
    this.scroller.addEventListener('scroll', () => this.schedule());
    this.renderHead();
  }

  setColumns(columns) {
    this.columns = columns;
    this.sortCol = -1;
    this.renderHead();
  }

  renderHead() {
    const tr = h('tr');
    this.columns.forEach((c, i) => {
      const sorted = i === this.sortCol;
      const th = h('th', {scope: 'col', class: c.numeric || isNum(c.type) ? 'num' : null,
                          'aria-sort': sorted ? (this.sortDir > 0 ? 'ascending' : 'descending') : null},
                   h('button', {type: 'button', class: 'sort', onclick: () => this.sortBy(i)},
                     c.label || c.name, sorted ? (this.sortDir > 0 ? ' ▲' : ' ▼') : ''));
      tr.append(th);
    });
    fill(this.thead, tr);
  }

  // rows: arrays (in column order) or objects (by column name).
  setRows(rows) {
    const t0 = performance.now();
    this.rows = rows;
    this.objects = rows.length > 0 && !Array.isArray(rows[0]);
    this.view = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) this.view[i] = i;
    if (this.sortCol >= 0) this.applySort();
    this.table.setAttribute('aria-rowcount', String(rows.length + 1));
    this.first = this.last = -1;
    this.render(true);
    const n = rows.length;
    this.status.textContent = n === 0 ? (this.opts.empty ?? 'no rows') : `${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}`;
    return performance.now() - t0;
  }

  value(r, i) {
    return this.objects ? r[this.columns[i].name] : r[i];
  }

  sortBy(i) {
    if (this.sortCol === i) this.sortDir = -this.sortDir;
    else { this.sortCol = i; this.sortDir = isNum(this.columns[i].type) ? -1 : 1; }
    this.applySort();
    this.renderHead();
    this.first = this.last = -1;
    this.render(true);
  }

  applySort() {
    const i = this.sortCol, dir = this.sortDir, type = String(this.columns[i].type).toLowerCase();
    // One key per row, then sort the indices by it.
    const keys = new Array(this.rows.length);
    for (let k = 0; k < this.rows.length; k++) {
      const v = this.value(this.rows[k], i);
      keys[k] = type === 'ip' ? ipKey(v) : isNum(type) || type === 'time' ? (num(v) ?? -Infinity) : (v === null ? '' : String(v));
    }
    this.view.sort((a, b) => (keys[a] < keys[b] ? -dir : keys[a] > keys[b] ? dir : a - b));
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.render(false); });
  }

  // Put in the page the rows that are in view.
  render(force) {
    const n = this.view.length;
    const top = this.scroller.scrollTop;
    // The area grows with its rows up to its max-height: count with that.
    const height = Math.max(this.scroller.clientHeight, this.opts.height || 420);
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(n, Math.ceil((top + height) / ROW) + OVERSCAN);
    if (!force && first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const frag = document.createDocumentFragment();
    const cols = this.columns.length;
    if (first > 0) frag.append(spacer(first * ROW, cols));
    for (let k = first; k < last; k++) {
      const r = this.rows[this.view[k]];
      const tr = document.createElement('tr');
      tr.setAttribute('aria-rowindex', String(k + 2));
      for (let i = 0; i < cols; i++) {
        const c = this.columns[i];
        const v = this.value(r, i);
        const td = document.createElement('td');
        if (c.cls) td.className = typeof c.cls === 'function' ? c.cls(v, r) || '' : c.cls;
        else if (isNum(c.type)) td.className = 'num';
        const out = c.render ? c.render(v, r) : defaultRender(v, c.type);
        if (out instanceof Node) td.append(out);
        else td.textContent = out;
        tr.append(td);
      }
      frag.append(tr);
    }
    if (n === 0) frag.append(h('tr', null, h('td', {colspan: String(cols || 1), class: 'muted'}, this.opts.empty ?? 'no rows')));
    if (last < n) frag.append(spacer((n - last) * ROW, cols));
    this.tbody.replaceChildren(frag);
  }
}

function isNum(type) {
  return ['int', 'float', 'duration', 'bool', 'number'].includes(String(type).toLowerCase());
}

function spacer(px, cols) {
  const tr = document.createElement('tr');
  tr.className = 'spacer';
  tr.setAttribute('aria-hidden', 'true');
  const td = document.createElement('td');
  td.colSpan = cols || 1;
  td.style.height = px + 'px';
  tr.append(td);
  return tr;
}

function defaultRender(v, type) {
  if (String(type).toLowerCase() === 'ip' && typeof v === 'string' && v) {
    const a = document.createElement('a');
    a.href = '#/host/' + encodeURIComponent(v);
    a.textContent = v;
    return a;
  }
  return cell(v, type);
}
