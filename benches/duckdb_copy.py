#!/usr/bin/env python3
"""The DuckDB side of `cargo bench --bench end_to_end`: the whole job in one statement,
partitioned as Spillway partitions it, with `SET threads=N`. Prints one JSON line:

  {"engine": "duckdb X", "seconds": <the COPY statement>, "cpu_seconds": ..., "peak_rss_kib": ...,
   "records": ..., "files": ...}

Usage: duckdb_copy.py --job {clickstream-parquet,orders-parquet,logs-ndjson-gzip,logs-by-key-parquet}
                      --input FILE --out DIR [--threads N]
"""
import argparse, json, os, resource, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baselines import CLICKSTREAM, ORDERS, duckdb_type  # noqa: E402

LOGS = {"ts": "timestamp", "level": "string", "service": "string", "host": "string",
        "region": "string", "message": "string", "trace_id": "string", "span_id": "string",
        "latency_ms": "int", "status_code": "int"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", required=True,
                    choices=["clickstream-parquet", "orders-parquet", "logs-ndjson-gzip",
                             "logs-by-key-parquet"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import duckdb
    columns = {"clickstream-parquet": CLICKSTREAM, "orders-parquet": ORDERS,
               "logs-ndjson-gzip": LOGS, "logs-by-key-parquet": {"k": "string", **LOGS}}[args.job]
    spec = "{" + ", ".join(f"'{k}': '{duckdb_type(v)}'" for k, v in columns.items()) + "}"
    fmt = ("(FORMAT json, COMPRESSION gzip, PARTITION_BY (dt, hour))"
           if args.job == "logs-ndjson-gzip" else
           "(FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, hour))")
    select = ("SELECT *, strftime(ts, '%Y-%m-%d') AS dt, strftime(ts, '%H') AS hour "
              f"FROM read_json('{args.input}', format='newline_delimited', columns={spec})")
    if args.job == "logs-by-key-parquet":
        # Partitioned by a field of many values (benches/many_partitions.rs).
        select = (f"SELECT * FROM read_json('{args.input}', format='newline_delimited', "
                  f"columns={spec})")
        fmt = "(FORMAT parquet, COMPRESSION snappy, PARTITION_BY (k))"
    con = duckdb.connect()
    con.execute(f"SET threads={args.threads}")
    start = time.perf_counter()
    rows = con.execute(f"COPY ({select}) TO '{args.out}' {fmt}").fetchone()[0]
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    files = sum(len(f) for _, _, f in os.walk(args.out))
    print(json.dumps({"engine": f"duckdb {duckdb.__version__}", "seconds": seconds,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime,
                      "peak_rss_kib": usage.ru_maxrss, "records": rows, "files": files}))


if __name__ == "__main__":
    sys.exit(main())
