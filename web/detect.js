// detect.js - reading the detection queries' stored rows (the Detections
// page, the host page), and the archive query for the flows behind a row.

import * as api from './api.js';
import {sqlStr, sqlId, utc, toMs} from './util.js';

// The saved detections of queries/ (docs/QUERIES.md). The Detections
// page lets the user add any other stored query to these.
export const DETECTIONS = ['scan_horizontal', 'scan_vertical', 'bruteforce_ssh', 'bruteforce_rdp',
  'dns_amplification', 'syn_flood', 'volumetric_dos', 'blocked_ports_outbound'];

const TYPES = {IP: 'ip', INTEGER: 'int', REAL: 'float', TEXT: 'string', TIME: 'time',
               DURATION: 'duration', BOOLEAN: 'bool'};

// The stored tables: name -> [{name, type, key}], from flowsql_tables
// ("srcip IP KEY, flows INTEGER, ...").
export async function storedTables(opts) {
  const r = await api.sql('SELECT name, columns FROM flowsql_tables WHERE kind = \'result\'', opts);
  const out = new Map();
  for (const [name, cols] of r.rows) {
    out.set(name, String(cols || '').split(',').map((c) => c.trim()).filter(Boolean).map((c) => {
      const w = c.split(/\s+/);
      return {name: w[0], type: TYPES[(w[1] || '').toUpperCase()] || 'string', key: w.includes('KEY')};
    }));
  }
  return out;
}

// One statement over the chosen tables: rows [query, window_start,
// window_end, json of the row], newest first. ip: only rows where one
// of the address columns is it.
export function detectionSql(tables, names, {from, to, ip, limit = 2000}) {
  const parts = [];
  for (const n of names) {
    const cols = tables.get(n);
    if (!cols) continue;
    const ips = cols.filter((c) => c.type === 'ip');
    if (ip && !ips.length) continue;
    const obj = cols.map((c) => `${sqlStr(c.name)}, ${c.type === 'ip' ? `ip_text(${sqlId(c.name)})` : sqlId(c.name)}`).join(', ');
    const where = [`window_start >= ${Math.floor(from)}`, `window_start < ${Math.ceil(to)}`];
    if (ip) where.push(`(${ips.map((c) => `${sqlId(c.name)} = ip(${sqlStr(ip)})`).join(' OR ')})`);
    parts.push(`SELECT ${sqlStr(n)} AS query, window_start, window_end, json_object(${obj}) AS row ` +
               `FROM ${sqlId(n)} WHERE ${where.join(' AND ')}`);
  }
  if (!parts.length) return null;
  return `${parts.join('\nUNION ALL\n')}\nORDER BY window_start DESC, query LIMIT ${limit}`;
}

// [{query, start, end, row: {col: value}, cols}] from detectionSql's answer.
export function detectionRows(res, tables) {
  return res.rows.map(([query, ws, we, row]) => ({
    query, start: toMs(ws), end: toMs(we), row: JSON.parse(row), cols: tables.get(query) || [],
  }));
}

// The archive query for the flows of a detection row's window: its
// addresses and ports as conditions (srcip, dstip as they are; another
// address column, e.g. a target, on either side).
export function flowsSql(d, limit = 10000) {
  const conds = [];
  for (const c of d.cols) {
    const v = d.row[c.name];
    if (v === null || v === undefined) continue;
    if (c.type === 'ip' && /^[0-9a-fA-F:.]+$/.test(v)) {
      if (c.name === 'srcip' || c.name === 'dstip') conds.push(`${c.name} = ${v}`);
      else conds.push(`(srcip = ${v} OR dstip = ${v})`);
    } else if ((c.name === 'srcport' || c.name === 'dstport') && Number.isInteger(v)) {
      conds.push(`${c.name} = ${v}`);
    }
  }
  return `SELECT start, end, srcip, srcport, dstip, dstport, proto, tcpflags, packets, bytes FROM flows ` +
    `SINCE '${utc(d.start)}' UNTIL '${utc(d.end)}'` + (conds.length ? ` WHERE ${conds.join(' AND ')}` : '') +
    ` ORDER BY start LIMIT ${limit}`;
}
