"""Joins a torchrun job through mlengine, all-reduces once, takes an Adam step, and reports
at exit.

Usage: python leaver.py OUT_PREFIX. Registers its own exit hook *before* mlengine joins the
group; exit hooks run last-registered first, so when it runs mlengine's has already run, and
it writes ``OUT_PREFIX.<rank>``: whether the process group is still initialized, and the names
of the gloo threads still running (none once the group is really gone).
"""

from __future__ import annotations

import atexit
import glob
import sys

import torch
import torch.distributed as dist

from mlengine.training.distributed import ensure_process_group, rank


def _gloo_threads() -> list[str]:
    names = (open(task + "/comm").read().strip() for task in glob.glob("/proc/self/task/*"))
    return sorted(name for name in names if "gloo" in name)


def _report(out: str) -> None:
    state = "initialized" if dist.is_initialized() else "destroyed"
    with open(f"{out}.{rank()}", "w") as handle:
        handle.write(" ".join([state, *_gloo_threads()]))


def main() -> None:
    out = sys.argv[1]
    atexit.register(_report, out)
    assert ensure_process_group(torch.device("cpu"), timeout_secs=20)
    total = torch.ones(1)
    dist.all_reduce(total)
    assert float(total) == dist.get_world_size()
    assert _gloo_threads()  # the group's threads run while it exists
    # Adam's first step imports torch._dynamo, which used to keep the group from being freed.
    weight = torch.nn.Parameter(torch.ones(3))
    weight.grad = torch.ones(3)
    torch.optim.Adam([weight]).step()


if __name__ == "__main__":
    main()
