#!/usr/bin/env python3
"""pyarrow baseline for benches/encode_parquet.rs: the same 64 MiB clickstream NDJSON →
Parquet/zstd, one thread, same schema (ts as timestamp[ms]). Prints MB/s (10^6 bytes/s,
criterion's unit) as the median of several runs.

Usage: python3 benches/pyarrow_baseline.py [path-to-ndjson]
  default path: $CARGO_TARGET_DIR or target, /bench-data/clickstream-64mib.ndjson
  (written by `cargo bench --bench encode_parquet`).
"""
import io, os, statistics, sys, time

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

pa.set_cpu_count(1)
pa.set_io_thread_count(1)

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "bench-data", "clickstream-64mib.ndjson")
data = open(path, "rb").read()
props = pa.struct([(n, pa.string()) for n in ("device", "screen", "lang", "ab_bucket", "element_id", "sku", "query")]
                  + [("depth_pct", pa.int32()), ("cart_value", pa.float64())])
schema = pa.schema([(n, pa.string()) for n in ("event_id", "user_id", "session_id", "event_type", "url", "referrer", "user_agent")]
                   + [("ts", pa.timestamp("ms")), ("geo", pa.struct([("country", pa.string()), ("city", pa.string())])), ("props", props)])
read_opts = pj.ReadOptions(use_threads=False, block_size=16 << 20)
parse_opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

times, size = [], 0
for _ in range(5):
    start = time.perf_counter()
    table = pj.read_json(io.BytesIO(data), read_options=read_opts, parse_options=parse_opts)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", compression_level=3)
    times.append(time.perf_counter() - start)
    size = sink.tell()
t = statistics.median(times)
print(f"pyarrow {pa.__version__}: {len(data)} bytes, {table.num_rows} rows -> {size} bytes parquet/zstd; "
      f"median {t:.3f} s = {len(data) / t / 1e6:.1f} MB/s (1 thread)")
