// queries.js - the registered queries with their state and counters,
// and a form to EXPLAIN or create one (the server's error, with its
// caret, under the SQL).

import * as api from './api.js';
import {h, field, bytes} from './util.js';
import {Table} from './table.js';
import {sqlBox} from './widgets.js';

const EXAMPLE = 'SELECT srcip, count(*) AS flows, sum(bytes) AS bytes\nFROM flows WINDOW 10s\nGROUP BY srcip\nORDER BY bytes DESC LIMIT 20';

const bad = (v) => (v > 0 ? 'num bad' : 'num');

export default {
  title: 'Queries',
  nav: 'queries',
  async mount(main, ctx) {
    const table = new Table([
      {name: 'name', type: 'string', render: (v) => h('a', {href: `#/queries/${encodeURIComponent(v)}`}, v)},
      {name: 'source', type: 'string'},
      {name: 'state', type: 'string', render: (v) => h('span', {class: `badge ${v === 'running' ? 'running' : 'bad'}`}, v)},
      {name: 'flows in', type: 'int'},
      {name: 'matched', type: 'int'},
      {name: 'late', type: 'int', cls: bad},
      {name: 'overflow', type: 'int', cls: bad},
      {name: 'windows', type: 'int'},
      {name: 'rows', type: 'int'},
      {name: 'groups', type: 'int'},
      {name: 'memory', type: 'int', render: (v) => bytes(v)},
    ], {caption: 'registered queries', height: 460, empty: 'no query is registered'});

    const name = h('input', {type: 'text', id: 'new-name', autocomplete: 'off', pattern: '[A-Za-z_][A-Za-z0-9_]*', size: '24'});
    const box = sqlBox({label: 'SQL (SELECT ... FROM flows WINDOW ..., or CREATE QUERY ...)', value: EXAMPLE, rows: 6,
                        id: 'new-sql', onRun: () => create()});
    const temporary = h('input', {type: 'checkbox', id: 'new-temp'});
    const retention = h('input', {type: 'text', id: 'new-retention', placeholder: '7d', size: '8'});
    const plan = h('pre', {class: 'plan', hidden: true, 'aria-label': 'plan'});
    const explainBtn = h('button', {type: 'button', class: 'secondary', onclick: () => explain()}, 'Explain');
    const createBtn = h('button', {type: 'submit'}, 'Create');
    const form = h('form', {class: 'panel', 'aria-labelledby': 'new-title', onsubmit: (ev) => { ev.preventDefault(); create(); }},
      h('h2', {id: 'new-title'}, 'New query'),
      h('div', {class: 'toolbar'}, field('name', name, 'needed for a SELECT'), field('retention', retention),
        h('div', {class: 'field check'}, temporary, h('label', {for: 'new-temp'}, 'temporary (not stored)'))),
      box.el,
      h('div', {class: 'actions'}, explainBtn, createBtn),
      plan);

    async function explain() {
      box.clearError();
      plan.hidden = true;
      try {
        const r = await api.post('/api/v1/explain', {sql: box.value});
        plan.textContent = r.plan;
        plan.hidden = false;
      } catch (e) { box.showError(e); }
    }

    async function create() {
      box.clearError();
      plan.hidden = true;
      const body = {sql: box.value};
      if (name.value.trim()) body.name = name.value.trim();
      if (retention.value.trim()) body.options = {retention: retention.value.trim()};
      if (temporary.checked) body.temporary = true;
      createBtn.disabled = true;
      try {
        const q = await api.post('/api/v1/queries', body);
        location.hash = `#/queries/${encodeURIComponent(q.name)}`;
      } catch (e) {
        box.showError(e);
      } finally {
        createBtn.disabled = false;
      }
    }

    main.append(h('h1', null, 'Queries'), table.el, form);

    ctx.every(3000, async () => {
      const r = await api.get('/api/v1/queries', {signal: ctx.signal});
      const rows = r.queries.map((q) => {
        const c = q.counters || {};
        return [q.name, q.source, q.state, c.flows_in, c.flows_matched, c.flows_late, c.flows_overflow,
                c.windows, c.rows, c.groups_open, c.memory_bytes];
      });
      table.setRows(rows);
    });
    return 'Queries';
  },
};

