"""Micro-benchmark: microseconds per optimizer step on a Wide & Deep-sized parameter set.

The parameters are those of the census Wide & Deep model: a 3,000 x 1 wide table and its bias,
a 1,000 x 8 embedding table, and an MLP 60-100-75-50-25-1. Gradients are fixed random tensors,
so only the optimizer's own work is timed. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/optimizer_step.py [--steps 2000] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from mlengine.training.ftrl import Ftrl
from mlengine.training.optimizers import AdagradOptimizer, FtrlOptimizer


def wide_and_deep_params(
    device: torch.device,
) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(wide, deep) parameters with random gradients attached."""
    gen = torch.Generator().manual_seed(0)

    def param(*shape: int) -> torch.nn.Parameter:
        p = torch.nn.Parameter(torch.randn(*shape, generator=gen).to(device))
        p.grad = (0.01 * torch.randn(*shape, generator=gen)).to(device)
        return p

    wide = [param(3000, 1), param(1)]
    widths = [60, 100, 75, 50, 25, 1]
    deep = [param(1000, 8)]
    for n_in, n_out in zip(widths, widths[1:], strict=False):
        deep += [param(n_out, n_in), param(n_out)]
    return wide, deep


def time_step(step: Callable[[], object], device: torch.device, steps: int) -> tuple[float, float]:
    """(best, median) over 7 runs of the mean microseconds per call of ``step``.

    The best run is the figure to compare on a shared machine: other load only adds time.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(max(steps // 10, 10)):  # warm-up: lazy state, allocator, caches
        step()
    sync()
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        runs.append((time.perf_counter() - start) / steps * 1e6)
    return min(runs), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    wide, deep = wide_and_deep_params(device)
    everything = wide + deep
    n = sum(p.numel() for p in everything)
    print(
        f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"params={n:,} in {len(everything)} tensors"
    )

    ftrl = FtrlOptimizer(0.005)
    adagrad = AdagradOptimizer(0.001)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("Ftrl, all params (foreach)", ftrl.build(everything).step),
        ("Ftrl, all params (per-tensor loop)", Ftrl(everything, lr=0.005, foreach=False).step),
        (
            "Ftrl, all params, l1+l2+shrinkage",
            FtrlOptimizer(
                0.005,
                l1_regularization_strength=0.01,
                l2_regularization_strength=0.01,
                l2_shrinkage_regularization_strength=0.01,
            )
            .build(everything)
            .step,
        ),
        ("Adagrad, all params (as built: fused)", adagrad.build(everything).step),
        (
            "Adagrad, all params (torch foreach)",
            torch.optim.Adagrad(
                everything, lr=0.001, initial_accumulator_value=0.1, eps=1e-7, foreach=True
            ).step,
        ),
    ]
    wide_opt, deep_opt = ftrl.build(wide), adagrad.build(deep)

    def wide_and_deep_step() -> None:
        wide_opt.step()
        deep_opt.step()

    cases.append(("W&D: Ftrl(wide) + Adagrad(deep)", wide_and_deep_step))
    print(f"{'':<42} {'best':>8} {'median':>8}  (us/step)")
    for name, step in cases:
        best, median = time_step(step, device, args.steps)
        print(f"{name:<42} {best:8.1f} {median:8.1f}")


if __name__ == "__main__":
    main()
