"""Joins a torchrun job through mlengine, all-reduces once, and reports at exit.

Usage: python leaver.py OUT_PREFIX. Registers its own exit hook *before* mlengine joins the
group; exit hooks run last-registered first, so when it runs mlengine's has already run, and
it writes ``OUT_PREFIX.<rank>`` with whether the process group was still initialized.
"""

from __future__ import annotations

import atexit
import sys

import torch
import torch.distributed as dist

from mlengine.training.distributed import ensure_process_group, rank


def _report(out: str) -> None:
    with open(f"{out}.{rank()}", "w") as handle:
        handle.write("initialized" if dist.is_initialized() else "destroyed")


def main() -> None:
    out = sys.argv[1]
    atexit.register(_report, out)
    assert ensure_process_group(torch.device("cpu"), timeout_secs=20)
    total = torch.ones(1)
    dist.all_reduce(total)
    assert float(total) == dist.get_world_size()


if __name__ == "__main__":
    main()
