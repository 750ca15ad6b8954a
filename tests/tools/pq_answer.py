"""pq_answer.py - flowsqld's answers read three ways, printed alike, for
tests/e2e/parquet_export.sh: its JSON answer (POST /api/v1/sql), and a
Parquet answer or export read by pyarrow and by DuckDB. Each prints one
line per row, values separated by '|', times as ISO-8601 with ms and Z,
addresses as text, floats by repr, booleans as true/false; and `types`
prints each column's name and type as pyarrow and DuckDB see them.

    python pq_answer.py json ANSWER.json
    python pq_answer.py pyarrow FILE.parquet
    python pq_answer.py duckdb FILE.parquet
    python pq_answer.py types FILE.parquet
"""
import datetime
import ipaddress
import json
import sys


def iso_ms(ms):
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def ip_text(b):
    a = ipaddress.IPv6Address(bytes(b))
    return str(a.ipv4_mapped or a)


def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, datetime.datetime):
        return iso_ms(int(v.timestamp() * 1000 + (0.5 if v.timestamp() >= 0 else -0.5)))
    if isinstance(v, (bytes, bytearray)):
        return ip_text(v)
    return str(v)


def out(rows):
    for r in rows:
        print("|".join(text(v) for v in r))


def from_json(path):
    with open(path) as f:
        j = json.load(f)
    if "error" in j:
        sys.exit("the answer has an error: %s" % j["error"])
    rows = []
    for r in j["rows"]:
        row = []
        for v, t in zip(r, j["types"]):
            if t == "float":
                v = float(v)
            row.append(v)
        rows.append(row)
    out(rows)


def from_pyarrow(path):
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    cols = [c.to_pylist() for c in t.columns]
    rows = list(zip(*cols)) if cols else []
    out(rows)


def from_duckdb(path):
    import duckdb
    con = duckdb.connect()
    desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    sel = []
    kinds = []
    for name, typ, *_ in desc:
        q = '"%s"' % name.replace('"', '""')
        if typ.startswith("TIMESTAMP"):
            sel.append("epoch_ms(%s)" % q)
            kinds.append("time")
        else:
            sel.append(q)
            kinds.append("")
    rows = con.execute("SELECT %s FROM read_parquet(?)" % ", ".join(sel),
                       [path]).fetchall()
    fixed = []
    for r in rows:
        fixed.append([iso_ms(v) if k == "time" else v for v, k in zip(r, kinds)])
    out(fixed)


def types(path):
    import duckdb
    import pyarrow.parquet as pq
    s = pq.read_schema(path)
    con = duckdb.connect()
    desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    for f, d in zip(s, desc):
        print(f.name, str(f.type).replace(" ", ""), d[1].replace(" ", "_"))


cmd, arg = sys.argv[1], sys.argv[2]
{"json": from_json, "pyarrow": from_pyarrow, "duckdb": from_duckdb,
 "types": types}[cmd](arg)
