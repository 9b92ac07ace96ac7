"""One rank of test_sparse_sync: averages made-up gradients with GradientSync over gloo.

Usage: python sparse_sync_worker.py OUT_PREFIX (RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
in the environment). Writes ``OUT_PREFIX.<rank>.json``: each case's inputs on this rank, the
averaged gradients, and how many all_gathers the exchange made.
"""

from __future__ import annotations

import datetime
import json
import sys

import numpy as np
import torch
import torch.distributed as dist

from mlengine.training.distributed import GradientSync
from mlengine.training.sparse_grads import rows_and_values


def main() -> None:
    out = sys.argv[1]
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=20))
    rank = dist.get_rank()
    gathers = 0
    real_all_gather = dist.all_gather

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal gathers
        gathers += 1
        return real_all_gather(*args, **kwargs)  # type: ignore[arg-type]

    dist.all_gather = counted  # type: ignore[assignment]
    results = {}
    # 1,000 rows: 2 ranks x 5 rows x 3 numbers < 1,000 x 3, the rows travel; 6 rows: the table.
    for case, num_rows in (("rows", 1000), ("table", 6)):
        rng = np.random.default_rng(100 * rank + num_rows)
        dense = torch.nn.Parameter(torch.zeros(3))
        table = torch.nn.Parameter(torch.zeros(num_rows, 2))
        sync = GradientSync([dense, table], [table])
        ids = rng.integers(0, num_rows, size=5)
        ids[0] = 1  # looked up on both ranks, its gradients summing to zero: still updated
        values = rng.normal(size=(5, 2)).astype(np.float32)
        values[0] = [1.0, -2.0] if rank == 0 else [-1.0, 2.0]
        table.grad = torch.sparse_coo_tensor(
            torch.from_numpy(ids).unsqueeze(0), torch.from_numpy(values), (num_rows, 2),
            check_invariants=True,
        )  # fmt: skip
        dense_grad = rng.normal(size=3).astype(np.float32)
        assert dense.grad is not None
        dense.grad.copy_(torch.from_numpy(dense_grad))
        before = gathers
        assert sync.all_reduce(True)
        rows, summed = rows_and_values(table.grad)
        results[case] = {
            "ids": ids.tolist(),
            "values": values.tolist(),
            "dense_in": dense_grad.tolist(),
            "rows": rows.tolist(),
            "summed": summed.tolist(),
            "dense": dense.grad.tolist(),
            "gathers": gathers - before,
        }
    # a rank without a batch stops every rank, nothing averaged
    sync = GradientSync([torch.nn.Parameter(torch.zeros(1))], [])
    results["stop"] = {"all": sync.all_reduce(rank == 0)}
    with open(f"{out}.{rank}.json", "w") as handle:
        json.dump(results, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
