#!/usr/bin/env python3
"""The baselines of `cargo bench --bench convert`: the same conversions as Spillway, done by
pyarrow, DuckDB (SET threads=1) and pigz -p1, on the same input file. The bench runs this
script pinned to the same core as Spillway and reads one JSON line from it:

  {"engine": ..., "seconds": <median of runs>, "out_bytes": ..., "records": ...,
   "peak_rss_kib": ...}

Usage: baselines.py --engine {pyarrow,duckdb,pigz} --scenario {S1,S2,S3,S4} --input FILE
                    [--level N] [--runs N]

Scenarios (see benches/convert.rs): S1/S2 clickstream → Parquet zstd(3) with `ts` as a
timestamp; S3 orders → Parquet zstd(3) with `total` decimal(12,2) and `items`
array<struct>; S4 logs → NDJSON gzip at --level.
"""
import argparse, io, json, os, resource, statistics, subprocess, sys, tempfile, time

CLICKSTREAM = {
    "event_id": "string", "user_id": "string", "session_id": "string", "event_type": "string",
    "url": "string", "referrer": "string", "user_agent": "string", "ts": "timestamp",
    "geo": ("struct", {"country": "string", "city": "string"}),
    "props": ("struct", {"device": "string", "screen": "string", "lang": "string",
                         "ab_bucket": "string", "element_id": "string", "sku": "string",
                         "query": "string", "depth_pct": "int", "cart_value": "double"}),
}
ORDERS = {
    "order_id": "string", "customer_id": "string",
    "items": ("list", ("struct", {"sku": "string", "qty": "int", "price": "double"})),
    "total": "decimal", "currency": "string", "status": "string", "payment_method": "string",
    "shipping": ("struct", {"country": "string", "city": "string", "method": "string"}),
    "ts": "timestamp",
}
COLUMNS = {"S1": CLICKSTREAM, "S2": CLICKSTREAM, "S3": ORDERS}


def arrow_type(t):
    import pyarrow as pa
    if isinstance(t, tuple) and t[0] == "struct":
        return pa.struct([(k, arrow_type(v)) for k, v in t[1].items()])
    if isinstance(t, tuple) and t[0] == "list":
        return pa.list_(arrow_type(t[1]))
    return {"string": pa.string(), "int": pa.int32(), "double": pa.float64(),
            "timestamp": pa.timestamp("ms"), "decimal": pa.decimal128(12, 2)}[t]


def duckdb_type(t):
    if isinstance(t, tuple) and t[0] == "struct":
        return "STRUCT(" + ", ".join(f"{k} {duckdb_type(v)}" for k, v in t[1].items()) + ")"
    if isinstance(t, tuple) and t[0] == "list":
        return duckdb_type(t[1]) + "[]"
    return {"string": "VARCHAR", "int": "INTEGER", "double": "DOUBLE",
            "timestamp": "TIMESTAMP", "decimal": "DECIMAL(12,2)"}[t]


def pyarrow_run(scenario, path, level):
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    data = open(path, "rb").read()
    schema = pa.schema([(k, arrow_type(v)) for k, v in COLUMNS[scenario].items()])
    read_opts = pj.ReadOptions(use_threads=False, block_size=16 << 20)
    parse_opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

    def run():
        table = pj.read_json(io.BytesIO(data), read_options=read_opts, parse_options=parse_opts)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", compression_level=3)
        return sink.tell(), table.num_rows
    return run


def duckdb_run(scenario, path, level):
    import duckdb
    spec = "{" + ", ".join(f"'{k}': '{duckdb_type(v)}'" for k, v in COLUMNS[scenario].items()) + "}"
    con = duckdb.connect()
    con.execute("SET threads=1")
    out = os.path.join(tempfile.mkdtemp(), "out.parquet")

    def run():
        rows = con.execute(
            f"COPY (SELECT * FROM read_json('{path}', format='newline_delimited', columns={spec})) "
            f"TO '{out}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3)").fetchone()[0]
        return os.path.getsize(out), rows
    return run


def pigz_run(scenario, path, level):
    records = sum(1 for _ in open(path, "rb"))

    def run():
        with open(path, "rb") as src:
            out = subprocess.run(["pigz", "-p1", f"-{level}", "-c"], stdin=src,
                                 stdout=subprocess.PIPE, check=True).stdout
        return len(out), records
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True, choices=["pyarrow", "duckdb", "pigz"])
    ap.add_argument("--scenario", required=True, choices=["S1", "S2", "S3", "S4"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    run = {"pyarrow": pyarrow_run, "duckdb": duckdb_run, "pigz": pigz_run}[args.engine](
        args.scenario, args.input, args.level)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        out_bytes, records = run()
        times.append(time.perf_counter() - start)
    who = resource.RUSAGE_CHILDREN if args.engine == "pigz" else resource.RUSAGE_SELF
    version = {"pyarrow": lambda: __import__("pyarrow").__version__,
               "duckdb": lambda: __import__("duckdb").__version__,
               "pigz": lambda: (lambda r: (r.stdout + r.stderr).strip())(subprocess.run(
                   ["pigz", "--version"], capture_output=True, text=True))}[args.engine]()
    print(json.dumps({"engine": version if args.engine == "pigz" else f"{args.engine} {version}", "seconds": statistics.median(times),
                      "out_bytes": out_bytes, "records": records,
                      "peak_rss_kib": resource.getrusage(who).ru_maxrss}))


if __name__ == "__main__":
    sys.exit(main())
