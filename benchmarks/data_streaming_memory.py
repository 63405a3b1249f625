"""Peak Python memory and throughput of the file streams, for files of growing size.

The streams promise to hold at most one chunk per batch row (plus fixed-size file buffers),
so the peak traced memory must stay flat while the file grows. Writes
benchmarks/results/data_streaming_memory.{json,md}.

    PYTHONPATH=src python benchmarks/data_streaming_memory.py [--sizes-mb 2 8 32]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc

from rnnkit.data import Vocab, stream_csv_file, stream_text_file

LINE = "def f(x):  # naïve café ✓ 日本語\n    return x * 2 + 1\n"


def write_text(path: str, megabytes: float) -> int:
    block = LINE * 1000
    target = int(megabytes * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            f.write(block)
            written += len(block.encode("utf-8"))
    return os.path.getsize(path)


def write_csv(path: str, megabytes: float) -> int:
    target = int(megabytes * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        f.write("t,a,b,c\n")
        i = 0
        while f.tell() < target:
            f.write("".join(f"{j},{j * 0.5},{-j},{j % 7}\n" for j in range(i, i + 1000)))
            i += 1000
    return os.path.getsize(path)


def measure(stream) -> dict:
    """One pass timed without tracing, one traced pass for the peak (tracing slows Python ~10x)."""
    start = time.perf_counter()
    chunks = steps = 0
    for chunk in stream:
        chunks += 1
        steps += int(chunk.lengths.sum())
    seconds = time.perf_counter() - start
    tracemalloc.start()
    for _ in stream:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"chunks": chunks, "steps": steps, "seconds": round(seconds, 3),
            "steps_per_second": round(steps / seconds), "peak_traced_kib": round(peak / 1024, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[2, 8, 32])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-length", type=int, default=256)
    args = parser.parse_args()
    vocab = Vocab.build([list(LINE)])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mb in args.sizes_mb:
            text_path, csv_path = os.path.join(tmp, "t.txt"), os.path.join(tmp, "r.csv")
            text_bytes, csv_bytes = write_text(text_path, mb), write_csv(csv_path, mb)
            text = measure(stream_text_file(text_path, vocab, batch_size=args.batch_size, chunk_length=args.chunk_length))
            csvm = measure(stream_csv_file(csv_path, batch_size=args.batch_size, chunk_length=args.chunk_length, time_column="t"))
            rows.append({"file_mb": mb, "text_bytes": text_bytes, "text": text, "csv_bytes": csv_bytes, "csv": csvm})
            print(rows[-1], flush=True)
    out_dir = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(out_dir, exist_ok=True)
    meta = {"batch_size": args.batch_size, "chunk_length": args.chunk_length, "cpu_count": os.cpu_count(), "rows": rows}
    with open(os.path.join(out_dir, "data_streaming_memory.json"), "w") as f:
        json.dump(meta, f, indent=1)
    lines = [f"Streams with batch_size={args.batch_size}, chunk_length={args.chunk_length} (peak = tracemalloc peak of "
             "Python allocations during a second, traced pass; steps/s from the untraced first pass, on a shared "
             "2-core machine)", "",
             "| file (MB) | text steps | text peak (KiB) | text steps/s | CSV steps | CSV peak (KiB) | CSV steps/s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['file_mb']:g} | {r['text']['steps']} | {r['text']['peak_traced_kib']} | {r['text']['steps_per_second']} "
                     f"| {r['csv']['steps']} | {r['csv']['peak_traced_kib']} | {r['csv']['steps_per_second']} |")
    with open(os.path.join(out_dir, "data_streaming_memory.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
