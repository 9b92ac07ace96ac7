"""The time ``make demo`` spends training, against another checkout's demo, interleaved.

Run: ``nice -n 10 .venv/bin/python benchmarks/demo_training.py [--baseline DIR] [--pairs 3]``

Runs the census program exactly as the Makefile's ``demo`` target does (its command is read from
the Makefile, so the two cannot drift), in a process of its own with a temporary model and export
folder (no registry, no server), and prints each run's wall time, CPU time (user + system of the
process and its children), the program's own ``train_seconds`` (the ``train()`` calls alone) and
its test accuracy and AUC.

``--baseline DIR`` names another checkout of this repository (``git worktree add DIR COMMIT``):
its Makefile's demo command runs with ``PYTHONPATH=DIR/src`` (ahead of this checkout's editable
install), with this virtual environment's interpreter, alternately with this checkout's, baseline
first in each pair, so a busy moment of a shared machine lands on both; the last lines give each
pair's ratio (this checkout / baseline) and the median ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def demo_command(tree: Path) -> list[str]:
    """The census program's arguments in ``tree``'s Makefile ``demo`` recipe."""
    makefile = (tree / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1]
    match = re.search(
        r"\$\(BIN\)/python (examples/census/wide_deep\.py(?:[^\n]*\\\n)*[^\n]*)", recipe
    )
    if match is None:
        raise SystemExit(f"{tree / 'Makefile'}: no census program in the demo recipe")
    return shlex.split(match.group(1).replace("\\\n", " "))


def _replace(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def run_demo(tree: Path, timeout: float) -> dict[str, Any]:
    """One training run of ``tree``'s demo: wall and CPU seconds, and the program's summary."""
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as work:
        args = demo_command(tree)
        args = _replace(args, "--model-dir", os.path.join(work, "model"))
        args = _replace(args, "--export-dir", os.path.join(work, "export"))
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout[done.stdout.rindex("\n{") :])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, **summary}


def line(label: str, run: dict[str, Any]) -> str:
    return (
        f"{label:<10} wall {run['wall']:6.1f} s  cpu {run['cpu']:6.1f} s  "
        f"train_seconds {run['train_seconds']:6.1f}  "
        f"accuracy {run['accuracy']:.4f}  auc {run['auc']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to compare")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each (interleaved)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run at most")
    args = parser.parse_args()
    print("demo command:", " ".join(demo_command(REPO)), flush=True)
    ratios: dict[str, list[float]] = {"wall": [], "cpu": [], "train_seconds": []}
    for n in range(args.pairs):
        if args.baseline is not None:
            old = run_demo(args.baseline.resolve(), args.timeout)
            print(line(f"baseline {n + 1}", old), flush=True)
        new = run_demo(REPO, args.timeout)
        print(line(f"this {n + 1}", new), flush=True)
        if args.baseline is not None:
            for key, values in ratios.items():
                values.append(new[key] / old[key])
            print(
                "  ratio    " + "  ".join(f"{k} {v[-1]:.2f}x" for k, v in ratios.items()),
                flush=True,
            )
    if args.baseline is not None:
        print(
            "median ratio (this / baseline): "
            + ", ".join(f"{k} {statistics.median(v):.2f}x" for k, v in ratios.items())
        )


if __name__ == "__main__":
    main()
