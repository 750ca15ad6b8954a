"""parquet_readers.py - pyarrow and DuckDB read flowsql's Parquet files.

Run by tests/e2e/parquet_readers.sh with the test venv's python:

  dump-pyarrow FILE        all columns as CSV, the format of `pqtool dump`
  dump-duckdb FILE         the same, read by DuckDB
  types FILE               "name pyarrow-type duckdb-type" per column
  stats-pyarrow FILE       row groups and min/max, the format of `pqtool meta`
  stats-duckdb FILE        the same from DuckDB's parquet_metadata()
  probe-duckdb FILE COL V  per row group 1 (may hold V) or 0 (excluded)
  probe-spec FILE COL HEX  the same by the spec's SBBF and XXH64 (the
                           xxhash package), reading the filter at the
                           offset DuckDB's parquet_metadata() gives
  rewrite-duckdb IN OUT V [EXCL]  DuckDB writes IN again (ZSTD; V1 or
                           V2 pages), without the columns EXCL (a,b)
  rewrite-pyarrow IN OUT M pyarrow writes IN again: M = dict (data page
                           v1, dictionaries, OPTIONAL columns) or delta
                           (data page v2, DELTA_BINARY_PACKED, no dict)
  page-index FILE          the page index (PageIndex.md) of every chunk,
                           decoded here from the bytes (Thrift compact,
                           by the spec's field ids), held against the
                           page headers it points at and, for a column
                           index, against the pages' values as pyarrow
                           reads them: one line per chunk, "ok" or why not
  nulls IN OUT EXPECTED    OUT = IN with every 7th packets/srcip null
                           (OPTIONAL columns); EXPECTED = its flows CSV
                           with nulls as 0, as `pqtool flows` must print

CSV: ints and times (ms) in decimal, doubles "%.17g", strings quoted,
binaries (addresses) as hex, bools 0/1.
"""
import datetime
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash


def fmt(v, t):
    if pa.types.is_boolean(t):
        return str(int(v))
    if pa.types.is_floating(t):
        return "%.17g" % v
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return '"' + v.replace('"', '""') + '"'
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return v.hex()
    return str(v)


def as_plain(table):
    """Timestamps as int64 milliseconds, everything else as it is."""
    cols = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            ms = pc.cast(col, pa.timestamp("ms", tz="UTC"))
            col = pc.cast(ms, pa.int64())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def dump_table(table):
    table = as_plain(table)
    out = [",".join(table.column_names)]
    types = [c.type for c in table.columns]
    for row in zip(*[c.to_pylist() for c in table.columns]):
        out.append(",".join(fmt(v, t) for v, t in zip(row, types)))
    sys.stdout.write("\n".join(out) + "\n")


def duck_select(con, path):
    desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                       [path]).fetchall()
    exprs = []
    for name, typ, *_ in desc:
        q = '"%s"' % name
        if typ.startswith("TIMESTAMP"):
            exprs.append("epoch_ms(%s) AS %s" % (q, q))
        else:
            exprs.append(q)
    return "SELECT %s FROM read_parquet('%s')" % (", ".join(exprs), path)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    con = duckdb.connect()
    if cmd == "dump-pyarrow":
        dump_table(pq.read_table(args[0]))
    elif cmd == "dump-duckdb":
        dump_table(con.execute(duck_select(con, args[0])).fetch_arrow_table())
    elif cmd == "types":
        schema = pq.read_schema(args[0])
        desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                           [args[0]]).fetchall()
        for field, (name, typ, *_) in zip(schema, desc):
            print(field.name, str(field.type).replace(" ", ""),
                  typ.replace(" ", "_"))
    elif cmd == "stats-pyarrow":
        md = pq.ParquetFile(args[0]).metadata
        print("rows %d row_groups %d" % (md.num_rows, md.num_row_groups))
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            print("rg %d rows %d" % (g, rg.num_rows))
            for c in range(rg.num_columns):
                col = rg.column(c)
                st = col.statistics
                name = col.path_in_schema
                if st is None or not st.has_min_max:
                    print("  %s - -" % name)
                    continue
                lo, hi = st.min, st.max
                t = st.physical_type
                if st.logical_type.type == "TIMESTAMP":
                    lo = ts_ms(lo)
                    hi = ts_ms(hi)
                    print("  %s %d %d" % (name, lo, hi))
                elif t == "FIXED_LEN_BYTE_ARRAY":
                    print("  %s %s %s" % (name, lo.hex(), hi.hex()))
                elif t == "BOOLEAN":
                    print("  %s %d %d" % (name, lo, hi))
                elif t == "DOUBLE":
                    print("  %s %.17g %.17g" % (name, lo, hi))
                elif t == "BYTE_ARRAY":
                    print('  %s "%s" "%s"' % (name, lo.replace('"', '""'),
                                             hi.replace('"', '""')))
                else:
                    print("  %s %d %d" % (name, lo, hi))
    elif cmd == "stats-duckdb":
        rows = con.execute(
            "SELECT row_group_id, row_group_num_rows, path_in_schema, "
            "stats_min_value, stats_max_value, type "
            "FROM parquet_metadata(?) ORDER BY row_group_id, column_id",
            [args[0]]).fetchall()
        last = None
        for g, n, name, lo, hi, typ in rows:
            if g != last:
                print("rg %d rows %d" % (g, n))
                last = g
            if lo is None or hi is None:
                print("  %s - -" % name)
            elif typ == "FIXED_LEN_BYTE_ARRAY":
                print("  %s %s %s" % (name, unescape(lo).hex(),
                                      unescape(hi).hex()))
            elif typ == "INT64" and ":" in lo:       # a timestamp
                print("  %s %d %d" % (name, epoch_ms(lo), epoch_ms(hi)))
            else:
                print("  %s %s %s" % (name, lo, hi))
    elif cmd == "probe-duckdb":
        path, col, val = args
        try:
            v = int(val)
            lit = str(v)
        except ValueError:
            lit = "'%s'" % val.replace("'", "''")
        rows = con.execute(
            "SELECT row_group_id, bloom_filter_excludes FROM "
            "parquet_bloom_probe('%s', '%s', %s) ORDER BY 1" %
            (path, col, lit)).fetchall()
        for _, excl in rows:
            print(0 if excl else 1)
    elif cmd == "probe-spec":
        path, col, val = args
        rows = con.execute(
            "SELECT bloom_filter_offset, bloom_filter_length FROM "
            "parquet_metadata(?) WHERE path_in_schema = ? ORDER BY "
            "row_group_id", [path, col]).fetchall()
        data = open(path, "rb").read()
        h = xxhash.xxh64_intdigest(bytes.fromhex(val), 0)
        for off, length in rows:
            if off is None:
                print(1)
                continue
            print(1 if sbbf_check(data, off, length, h) else 0)
    elif cmd == "rewrite-duckdb":
        src, dst, ver = args[:3]
        excl = " EXCLUDE (%s)" % args[3] if len(args) > 3 else ""
        con.execute("COPY (SELECT *%s FROM read_parquet('%s')) TO '%s' "
                    "(FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION %s, "
                    "ROW_GROUP_SIZE 5000)" % (excl, src, dst, ver))
    elif cmd == "rewrite-pyarrow":
        src, dst, mode = args
        t = pq.read_table(src)
        nullable = pa.schema([f.with_nullable(True) for f in t.schema])
        t = t.cast(nullable)
        if mode == "dict":
            pq.write_table(t, dst, compression="zstd", use_dictionary=True,
                           row_group_size=6000, data_page_size=4096)
        else:
            enc = {f.name: "DELTA_BINARY_PACKED" for f in t.schema
                   if pa.types.is_integer(f.type)
                   or pa.types.is_timestamp(f.type)}
            for f in t.schema:
                if pa.types.is_fixed_size_binary(f.type):
                    enc[f.name] = "BYTE_STREAM_SPLIT"
            pq.write_table(t, dst, compression="zstd", use_dictionary=False,
                           column_encoding=enc, data_page_version="2.0",
                           row_group_size=7000, data_page_size=8192)
    elif cmd == "page-index":
        page_index(args[0])
    elif cmd == "nulls":
        src, dst, expected = args
        t = pq.read_table(src)
        mask = pa.array([i % 7 == 3 for i in range(t.num_rows)])
        cols = []
        for name, col in zip(t.column_names, t.columns):
            if name in ("packets", "srcip"):
                col = pc.if_else(mask, pa.nulls(t.num_rows, col.type), col)
            cols.append(col)
        schema = pa.schema([f.with_nullable(True) for f in t.schema])
        nt = pa.table(cols, schema=schema)
        pq.write_table(nt, dst, compression="zstd", row_group_size=4000)
        plain = as_plain(nt)
        with open(expected, "w") as f:
            f.write(",".join(plain.column_names) + "\n")
            types = [c.type for c in plain.columns]
            for row in zip(*[c.to_pylist() for c in plain.columns]):
                vals = []
                for v, ty in zip(row, types):
                    if v is None:
                        v = bytes(16) if pa.types.is_fixed_size_binary(ty) \
                            else 0
                    vals.append(fmt(v, ty))
                f.write(",".join(vals) + "\n")
    else:
        sys.exit("unknown command " + cmd)


class Compact:
    """A reader of Thrift's compact protocol: structs as {field id: value}."""

    def __init__(self, data, pos=0):
        self.d, self.p = data, pos

    def byte(self):
        self.p += 1
        return self.d[self.p - 1]

    def varint(self):
        v = shift = 0
        while True:
            b = self.byte()
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    def zigzag(self):
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def value(self, t):
        if t in (1, 2):                 # a bool field: in its type
            return t == 1
        if t == 3:
            return self.byte()
        if t in (4, 5, 6):
            return self.zigzag()
        if t == 7:
            self.p += 8
            return None
        if t == 8:
            n = self.varint()
            self.p += n
            return bytes(self.d[self.p - n:self.p])
        if t in (9, 10):
            h = self.byte()
            n, et = h >> 4, h & 15
            if n == 15:
                n = self.varint()
            if et in (1, 2):            # bools in a list: a byte each
                return [self.byte() == 1 for _ in range(n)]
            return [self.value(et) for _ in range(n)]
        if t == 11:
            n = self.varint()
            if n:
                kv = self.byte()
                return {self.value(kv >> 4): self.value(kv & 15)
                        for _ in range(n)}
            return {}
        if t == 12:
            return self.struct()
        raise ValueError("thrift type %d" % t)

    def struct(self):
        out, last = {}, 0
        while True:
            h = self.byte()
            if h == 0:
                return out
            t, delta = h & 15, h >> 4
            fid = last + delta if delta else self.zigzag()
            out[fid] = self.value(t)
            last = fid


def page_index(path):
    """See the module's docstring."""
    data = open(path, "rb").read()
    flen = int.from_bytes(data[-8:-4], "little")
    fmd = Compact(data, len(data) - 8 - flen).struct()
    table = pq.read_table(path)
    pfile = pq.ParquetFile(path)
    row0 = 0
    for g, rg in enumerate(fmd[4]):
        nrows = rg[3]
        sorting = [(s[1], s[2], s[3]) for s in rg.get(4, [])]
        psort = pfile.metadata.row_group(g).sorting_columns
        psort = [(c.column_index, c.descending, c.nulls_first) for c in psort]
        if sorting != psort:
            print("rg %d: sorting_columns %s, pyarrow %s" % (g, sorting, psort))
        for c, ch in enumerate(rg[1]):
            md = ch[3]
            name = md[3][-1].decode()
            what = "rg %d %s" % (g, name)
            if 4 not in ch:
                print(what, "no offset index")
                continue
            locs = Compact(data, ch[4]).struct()[1]
            bad = []
            first = [loc[3] for loc in locs] + [nrows]
            if first[0] != 0:
                bad.append("first page at row %d" % first[0])
            if md[9] != locs[0][1]:
                bad.append("first page %d, data_page_offset %d"
                           % (locs[0][1], md[9]))
            for i, loc in enumerate(locs):
                r = Compact(data, loc[1])
                ph = r.struct()
                size = r.p - loc[1] + ph[3]
                if size != loc[2]:
                    bad.append("page %d: %d bytes, the index says %d"
                               % (i, size, loc[2]))
                nv = ph[5][1] if ph[1] == 0 else \
                    ph[8][3] if ph[1] == 3 else None
                if nv != first[i + 1] - first[i]:
                    bad.append("page %d: %s rows, the index says %d"
                               % (i, nv, first[i + 1] - first[i]))
            line = "%s pages %d offsets" % (what, len(locs))
            if 6 in ch:
                ci = Compact(data, ch[6]).struct()
                col = table.column(c).slice(row0, nrows).to_pylist()
                if isinstance(col[0], datetime.datetime):
                    col = [ts_ms(v) for v in col]
                for i in range(len(locs)):
                    vals = col[first[i]:first[i + 1]]
                    lo, hi = min(vals), max(vals)
                    if isinstance(lo, int):
                        n = len(ci[2][i])
                        lo = lo.to_bytes(n, "little", signed=True)
                        hi = hi.to_bytes(n, "little", signed=True)
                    if ci[1][i] or ci[2][i] != lo or ci[3][i] != hi:
                        bad.append("page %d: bounds %s..%s, values %s..%s"
                                   % (i, ci[2][i].hex(), ci[3][i].hex(),
                                      lo.hex(), hi.hex()))
                line += " bounds order %d" % ci[4]
            print(line, "; ".join(bad) if bad else "ok")
        row0 += nrows


SALT = [0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d,
        0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31]


def sbbf_check(data, off, length, h):
    """The split-block bloom filter check of BloomFilter.md."""
    # BloomFilterHeader: field 1 (numBytes, i32) comes first: 0x15 and a
    # zigzag varint; the bitset is the last numBytes bytes of the filter.
    assert data[off] == 0x15
    v, shift, i = 0, 0, off + 1
    while True:
        b = data[i]
        v |= (b & 0x7f) << shift
        shift += 7
        i += 1
        if not b & 0x80:
            break
    nbytes = (v >> 1) ^ -(v & 1)
    bits = data[off + length - nbytes:off + length]
    block = ((h >> 32) * (nbytes // 32)) >> 32
    key = h & 0xffffffff
    for k in range(8):
        word = int.from_bytes(bits[block * 32 + 4 * k:block * 32 + 4 * k + 4],
                              "little")
        if not word & (1 << (((key * SALT[k]) & 0xffffffff) >> 27)):
            return False
    return True


def ts_ms(v):
    """A timestamp statistic (a datetime) -> ms since the epoch."""
    return pa.scalar(v, type=pa.timestamp("ms", tz="UTC")).cast(
        pa.int64()).as_py()


def epoch_ms(text):
    """'2023-11-14 22:12:27.521+00' -> ms since the epoch."""
    d = datetime.datetime.fromisoformat(text)
    return round(d.timestamp() * 1000)


def unescape(s):
    """DuckDB prints blobs as text with \\xNN escapes."""
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


if __name__ == "__main__":
    main()
