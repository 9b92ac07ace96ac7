"""Streaming throughput and memory: Wide & Deep, one epoch over 1M and 10M Parquet rows.

Run::

    .venv/bin/python benchmarks/make_big_census.py --rows 1000000 --out /tmp/census/1000000
    .venv/bin/python benchmarks/make_big_census.py --rows 10000000 --out /tmp/census/10000000
    .venv/bin/python benchmarks/train_streaming.py --data /tmp/census

(``--make`` writes the missing data sets itself, ``--cleanup`` deletes them afterwards.)

Trains the TensorFlow tutorial's Wide & Deep (``examples/census/wide_deep.py``'s columns,
hidden units [100, 75, 50, 25], batch 1024) for one epoch over ``DIR/<rows>/parquet/*.parquet``
with ``parquet_input_fn(..., shuffle=True)``, for each ``--rows``; then over the smallest data
set again, loaded into pandas first, with ``pandas_input_fn`` (the in-memory baseline). Each
run is a child process, so its peak RSS (``ru_maxrss`` from ``os.wait4``) is its own: Python,
torch, the model and the input pipeline. examples/s counts ``train()`` only (after a 20-step
warm-up on a small in-memory sample), not loading pandas; examples/CPU-s divides by the CPU
time of all the child's threads over the same span, which a busy machine disturbs less. With
``--repeat N`` the runs are
interleaved N times and the best examples/s and the largest peak RSS of each are reported
(on a shared machine the best run is the one least slowed by others; the load average before
and after each run is printed). Targets (issue 7): peak RSS under 1.5 GB and within 20%
between 1M and 10M rows; streaming within 20% of in-memory examples/s on the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LABEL = "income_bracket"


def child(kind: str, data: Path, threads: int, batch_size: int, buffer: int) -> dict[str, Any]:
    """One training run, in this (child) process; returns its figures."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE.parent / "examples" / "census"))
    from wide_deep import build_model_columns

    from mlengine import estimator
    from mlengine.data import census, pandas_input_fn, parquet_input_fn

    wide, deep = build_model_columns()
    config = estimator.RunConfig(
        tf_random_seed=1, quiet=True, intra_op_threads=threads,
        save_checkpoints_steps=10**9, save_summary_steps=10**9, log_step_count_steps=10**9,
    )  # fmt: skip
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=tempfile.mkdtemp(prefix="train-streaming-"), linear_feature_columns=wide,
        dnn_feature_columns=deep, dnn_hidden_units=[100, 75, 50, 25],
        label_vocabulary=list(census.LABEL_VALUES), config=config,
    )  # fmt: skip
    sample = census.load_table("train").to_pandas()
    model.train(
        pandas_input_fn(sample, sample.pop(LABEL), batch_size=batch_size, shuffle=True, seed=0),
        steps=20,
    )
    files = sorted((data / "parquet").glob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    load_seconds = 0.0
    if kind == "streaming":
        input_fn = parquet_input_fn(
            [str(f) for f in files], batch_size=batch_size, num_epochs=1, shuffle=True, seed=0,
            label_key=LABEL, shuffle_buffer_size=buffer,
        )  # fmt: skip
    else:
        tick = time.perf_counter()
        x = pq.read_table(files).to_pandas()
        y = x.pop(LABEL)
        load_seconds = time.perf_counter() - tick
        input_fn = pandas_input_fn(x, y, batch_size=batch_size, num_epochs=1, shuffle=True, seed=0)
    tick, cpu = time.perf_counter(), time.process_time()
    model.train(input_fn)
    seconds, cpu_seconds = time.perf_counter() - tick, time.process_time() - cpu
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "load_seconds": load_seconds,
    }


def run(kind: str, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Runs one child and returns its figures with its peak RSS and the load average."""
    command = [
        sys.executable, __file__, "--child", kind, "--data", str(data),
        "--threads", str(args.threads), "--batch-size", str(args.batch_size),
        "--shuffle-buffer", str(args.shuffle_buffer),
    ]  # fmt: skip
    load_before = os.getloadavg()[0]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{kind} run over {data} failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result.update(
        kind=kind,
        data=str(data),
        examples_per_sec=result["rows"] / result["seconds"],
        examples_per_cpu_sec=result["rows"] / result["cpu_seconds"],
        peak_rss_mb=usage.ru_maxrss / 1024,  # kB on Linux
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )
    return result


def make(data: Path, rows: int) -> None:
    script = HERE / "make_big_census.py"
    command = [sys.executable, str(script), "--rows", str(rows), "--out", str(data)]
    subprocess.run([*command, "--format", "parquet"], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="holds <rows>/parquet/")
    parser.add_argument("--rows", default="1000000,10000000", help="data set sizes to train on")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--shuffle-buffer", type=int, default=100_000)
    parser.add_argument("--make", action="store_true", help="write missing data sets first")
    parser.add_argument("--cleanup", action="store_true", help="delete the data sets after")
    parser.add_argument("--skip-memory", action="store_true", help="no in-memory baseline")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds of runs")
    parser.add_argument("--child", choices=["streaming", "memory"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = child(args.child, args.data, args.threads, args.batch_size, args.shuffle_buffer)
        print(json.dumps(figures), flush=True)
        return

    sizes = [int(r) for r in args.rows.split(",")]
    folders = {rows: args.data / str(rows) for rows in sizes}
    for rows, folder in folders.items():
        if not (folder / "parquet").is_dir():
            if not args.make:
                raise SystemExit(f"No data set in {folder}/parquet: run with --make")
            make(folder, rows)
    print(f"cpus={os.cpu_count()} threads={args.threads} batch={args.batch_size}", flush=True)
    plan = [("streaming", folders[rows]) for rows in sizes]
    if not args.skip_memory:
        plan.append(("memory", folders[min(sizes)]))
    runs: dict[tuple[str, Path], list[dict[str, Any]]] = {key: [] for key in plan}
    for round_ in range(args.repeat):
        for kind, folder in plan:
            r = run(kind, folder, args)
            runs[kind, folder].append(r)
            print(
                f"round {round_ + 1}: {kind:>9} {r['rows']:>11,} rows: "
                f"{r['examples_per_sec']:>9,.0f} examples/s, {r['seconds']:6.1f} s, "
                f"{r['examples_per_cpu_sec']:>9,.0f} examples/CPU-s, "
                f"peak RSS {r['peak_rss_mb']:6,.0f} MB, "
                f"load {r['load_before']:.2f} -> {r['load_after']:.2f}",
                flush=True,
            )
    results = []
    for kind, folder in plan:
        best = dict(max(runs[kind, folder], key=lambda r: r["examples_per_sec"]))
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs[kind, folder])
        results.append(best)
        print(
            f"best of {args.repeat}: {kind:>9} {best['rows']:>11,} rows: "
            f"{best['examples_per_sec']:>9,.0f} examples/s, "
            f"{max(r['examples_per_cpu_sec'] for r in runs[kind, folder]):>9,.0f} examples/CPU-s, "
            f"peak RSS {best['peak_rss_mb']:6,.0f} MB (largest)"
        )
    streaming = [r for r in results if r["kind"] == "streaming"]
    rss = [r["peak_rss_mb"] for r in streaming]
    print(f"peak RSS: max {max(rss):,.0f} MB, largest / smallest {max(rss) / min(rss):.2f}")
    memory = [r for r in results if r["kind"] == "memory"]
    if memory:
        same = next(r for r in streaming if r["rows"] == memory[0]["rows"])
        ratio = same["examples_per_sec"] / memory[0]["examples_per_sec"]
        cpu_ratio = same["examples_per_cpu_sec"] / memory[0]["examples_per_cpu_sec"]
        print(
            f"streaming / in-memory on {same['rows']:,} rows: {ratio:.2f} (examples/s), "
            f"{cpu_ratio:.2f} (examples/CPU-s, of the best runs by examples/s)"
        )
    if args.cleanup:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
