#!/usr/bin/env python3
"""DuckDB baseline for benches/encode_parquet.rs: the same 64 MiB clickstream NDJSON →
Parquet/zstd with DuckDB on one thread (SET threads=1), same columns (ts as TIMESTAMP).
Prints MB/s (10^6 bytes/s, criterion's unit) as the median of several runs.

Usage: python3 benches/duckdb_baseline.py [path-to-ndjson]
  default path: $CARGO_TARGET_DIR or target, /bench-data/clickstream-64mib.ndjson
  (written by `cargo bench --bench encode_parquet`).
"""
import os, statistics, sys, tempfile, time

import duckdb

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "bench-data", "clickstream-64mib.ndjson")
size = os.path.getsize(path)
columns = {
    "event_id": "VARCHAR", "user_id": "VARCHAR", "session_id": "VARCHAR", "event_type": "VARCHAR",
    "url": "VARCHAR", "referrer": "VARCHAR", "user_agent": "VARCHAR", "ts": "TIMESTAMP",
    "geo": "STRUCT(country VARCHAR, city VARCHAR)",
    "props": "STRUCT(device VARCHAR, screen VARCHAR, lang VARCHAR, ab_bucket VARCHAR, element_id VARCHAR, "
             "sku VARCHAR, query VARCHAR, depth_pct INTEGER, cart_value DOUBLE)",
}
spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
con = duckdb.connect()
con.execute("SET threads=1")
times, out_size = [], 0
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out.parquet")
    for _ in range(5):
        start = time.perf_counter()
        con.execute(f"COPY (SELECT * FROM read_json('{path}', format='newline_delimited', columns={spec})) "
                    f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        times.append(time.perf_counter() - start)
        out_size = os.path.getsize(out)
t = statistics.median(times)
print(f"duckdb {duckdb.__version__}: {size} bytes -> {out_size} bytes parquet/zstd; "
      f"median {t:.3f} s = {size / t / 1e6:.1f} MB/s (threads=1)")
