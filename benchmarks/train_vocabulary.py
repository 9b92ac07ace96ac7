"""Training speed and memory against the size of the hash spaces (issue 22's table).

Run: ``.venv/bin/python benchmarks/train_vocabulary.py [--sizes 1e3,1e5,1e6,1e7]
[--baseline-src ../other-worktree/src] [--repeats 1]``

The census tutorial's Wide & Deep (examples/census/wide_deep.py, TF's default optimizers) at
batch 40, with its hashed ``occupation`` column and its two crosses given ``hash_bucket_size``
N. Each (N, code) pair runs in a process of its own, so that its peak RSS is its own: 100
warm-up steps (building the model included), then one epoch of adult.data, timed. Prints
examples/s over the epoch's steps (the checkpoint ``train()`` writes at its end is timed
apart), also per second of the process's CPU time (the steadier figure on a shared machine,
where other work takes the cores for seconds at a time), the peak RSS, the model's and its
optimizer slots' bytes, the checkpoint's write time and size, and the export's time and size.
With ``--baseline-src`` every run is repeated with that source tree first on ``PYTHONPATH``
(another worktree's ``src``), the two interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "census"))


def _dir_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def child(size: int, warmup_steps: int) -> dict[str, Any]:
    """Train and measure in this process; the result as a dict (printed as JSON)."""
    import resource

    import wide_deep

    from mlengine import estimator
    from mlengine import feature_column as fc
    from mlengine.data import census
    from mlengine.training.session import TrainingSession

    x, y = census.load("train")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    wide, deep = wide_deep.build_model_columns()
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=size)
    age_buckets = fc.bucketized_column(fc.numeric_column("age"), wide_deep.AGE_BOUNDARIES)
    wide = [*wide[:4], occupation, wide[5]] + [
        fc.crossed_column(["education", "occupation"], hash_bucket_size=size),
        fc.crossed_column([age_buckets, "education", "occupation"], hash_bucket_size=size),
    ]
    deep = [*deep[:-1], fc.embedding_column(occupation, dimension=8)]
    model_dir = tempfile.mkdtemp(prefix="vocab-")
    config = estimator.RunConfig(tf_random_seed=1, quiet=True)
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir, linear_feature_columns=wide, dnn_feature_columns=deep,
        dnn_hidden_units=[100, 75, 50, 25], config=config,
    )  # fmt: skip
    saves: list[float] = []
    save_cpu: list[float] = []
    real_save = TrainingSession.save

    def timed_save(self: Any, *args: Any, **kwargs: Any) -> str:
        start, cpu = time.perf_counter(), time.process_time()
        path = real_save(self, *args, **kwargs)
        saves.append(time.perf_counter() - start)
        save_cpu.append(time.process_time() - cpu)
        return path

    TrainingSession.save = timed_save  # type: ignore[method-assign]
    batch = 40
    warmup = estimator.inputs.pandas_input_fn(
        x, y, batch_size=batch, num_epochs=None, shuffle=True, seed=0
    )
    model.train(warmup, steps=warmup_steps)
    epoch = estimator.inputs.pandas_input_fn(x, y, batch_size=batch, num_epochs=1, shuffle=True)
    saves.clear()
    save_cpu.clear()
    start, cpu = time.perf_counter(), time.process_time()
    model.train(epoch)
    seconds = time.perf_counter() - start - sum(saves)
    cpu_seconds = time.process_time() - cpu - sum(save_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    session = model._session  # the benchmark reads the slots' sizes from the live session
    assert session is not None
    weights = sum(t.numel() * t.element_size() for t in session.model.network.state_dict().values())
    slots = sum(
        t.numel() * t.element_size()
        for optimizer in session.optimizers.values()
        for state in optimizer.state.values()
        for t in state.values()
        if hasattr(t, "numel")
    )
    checkpoint = model.latest_checkpoint()
    assert checkpoint is not None
    start = time.perf_counter()
    export = model.export_saved_model(tempfile.mkdtemp(prefix="vocab-export-"))
    export_seconds = time.perf_counter() - start
    return {
        "size": size,
        "examples_per_sec": len(x) / seconds,
        "examples_per_cpu_sec": len(x) / cpu_seconds,
        "peak_rss": peak,
        "rss_before_model": rss_before,
        "weights_bytes": weights,
        "slots_bytes": slots,
        "checkpoint_seconds": saves[-1],
        "checkpoint_bytes": os.path.getsize(checkpoint + ".safetensors"),
        "export_seconds": export_seconds,
        "export_bytes": _dir_bytes(export),
        "peak_rss_after_export": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def run(size: int, src: str | None, warmup_steps: int, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, __file__, "--child", str(size), "--warmup", str(warmup_steps)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"N={size} ({src or 'this tree'}) failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e5,1e6,1e7")
    parser.add_argument("--baseline-src", default=None, help="another tree's src, for A/B")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per run")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.warmup)))
        return
    codes: list[tuple[str, str | None]] = [("this tree", None)]
    if args.baseline_src:
        codes.insert(0, ("baseline", args.baseline_src))
    mb = 1 << 20
    print(
        f"{'N':>10} {'code':>10} {'examples/s':>11} {'per CPU s':>10} {'peak RSS':>9} "
        f"{'weights':>8} {'slots':>8} {'ckpt s':>7} {'ckpt MB':>8} {'export s':>8} {'export MB':>9}"
    )
    for size in (int(float(s)) for s in args.sizes.split(",")):
        for repeat in range(args.repeats):
            order = codes if repeat % 2 == 0 else codes[::-1]  # interleaved, alternating first
            for label, src in order:
                r = run(size, src, args.warmup, args.timeout)
                print(
                    f"{size:>10,} {label:>10} {r['examples_per_sec']:>11,.0f} "
                    f"{r.get('examples_per_cpu_sec', 0):>10,.0f} "
                    f"{r['peak_rss'] / mb:>7,.0f}MB {r['weights_bytes'] / mb:>6,.0f}MB "
                    f"{r['slots_bytes'] / mb:>6,.0f}MB {r['checkpoint_seconds']:>7.2f} "
                    f"{r['checkpoint_bytes'] / mb:>8,.0f} {r['export_seconds']:>8.2f} "
                    f"{r['export_bytes'] / mb:>9,.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
