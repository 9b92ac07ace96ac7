"""Row-sparse gradients: the rows of a lookup table a step touched, and their gradients.

TensorFlow hands the variables that feature columns look rows up in (the linear part's weights,
embedding tables) an ``IndexedSlices`` gradient, sums duplicate indices and applies its sparse
kernels to those rows alone. Here such a gradient is a sparse COO tensor in the table's
``.grad`` (see :meth:`~mlengine.model.networks.WideDeepNetwork.use_sparse_gradients`), as
autograd makes it (uncoalesced: :func:`coalesce_grads` or :func:`rows_and_values` sum the
duplicates once). The numpy step hands its rows over as numpy arrays instead
(:class:`RowGradients`): building and unpacking a torch sparse tensor cost more than the rest
of a small table's update. :meth:`RowGradients.materialize` turns them into ``.grad`` tensors
for whatever reads ``.grad`` (gradient clipping, an optimizer's own ``step``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def row_gradient(rows: Tensor, values: Tensor, shape: torch.Size | Sequence[int]) -> Tensor:
    """The gradient of a table of ``shape`` whose rows ``rows`` (unique, ascending) have
    ``values`` (``[len(rows), *shape[1:]]``), as a coalesced sparse tensor (no sort, no copy)."""
    return torch.sparse_coo_tensor(
        rows.unsqueeze(0), values, tuple(shape), is_coalesced=True, check_invariants=False
    )


def rows_and_values(grad: Tensor) -> tuple[Tensor, Tensor]:
    """``(rows, values)`` of a row-sparse gradient: unique rows, duplicates summed."""
    if not grad.is_coalesced():
        grad = grad.coalesce()
    return grad._indices()[0], grad._values()


class RowGradients:
    """Row-sparse gradients as numpy arrays, from the numpy step to the optimizers' updates.

    :meth:`put` records a table's unique rows and their summed gradients; :meth:`take` hands
    them to the table's update (or, where nothing was put, reads the table's ``.grad``);
    :meth:`materialize` moves everything put into ``.grad`` for code that reads it there.
    """

    def __init__(self) -> None:
        self._pending: dict[int, tuple[Tensor, np.ndarray, np.ndarray]] = {}

    def put(self, param: Tensor, rows: np.ndarray, values: np.ndarray) -> None:
        """``param``'s gradient this step: ``values[i]`` for row ``rows[i]`` (rows unique)."""
        self._pending[id(param)] = (param, rows, values)

    def take(self, param: Tensor) -> tuple[np.ndarray, np.ndarray] | None:
        """``(rows, values)`` of ``param`` (a CPU table) this step, or None: no rows."""
        entry = self._pending.pop(id(param), None)
        if entry is not None:
            return entry[1], entry[2]
        if param.grad is None:
            return None
        rows, values = rows_and_values(param.grad)
        return rows.numpy(), values.numpy()

    def materialize(self) -> None:
        """Set every pending table's ``.grad`` to its rows (a sparse tensor, its rows in no
        particular order: flagged uncoalesced, so torch sorts them where it needs to)."""
        for param, rows, values in self._pending.values():
            param.grad = torch.sparse_coo_tensor(
                torch.from_numpy(rows).unsqueeze(0),
                torch.from_numpy(values),
                tuple(param.shape),
                check_invariants=False,
            )
        self._pending.clear()


def coalesce_grads(params: Sequence[Tensor]) -> None:
    """Sum the duplicate rows of every sparse ``.grad`` in place (TensorFlow's
    ``_deduplicate_indexed_slices``), so that what follows reads each row once."""
    for param in params:
        grad = param.grad
        if grad is not None and grad.is_sparse and not grad.is_coalesced():
            param.grad = grad.coalesce()


def densify_grads(params: Sequence[Tensor]) -> None:
    """Turn sparse ``.grad`` tensors dense, for an optimizer that only takes dense ones (for
    Adagrad and SGD the update is the same; see the module docstring)."""
    for param in params:
        if param.grad is not None and param.grad.is_sparse:
            param.grad = param.grad.to_dense()


def clip_grad_norm(params: Sequence[Tensor], max_norm: float) -> float:
    """``torch.nn.utils.clip_grad_norm_`` for gradients of which some are row-sparse (torch's
    refuses those): the global L2 norm over every value, and every gradient scaled by
    ``min(1, max_norm / (norm + 1e-6))``, torch's rule. Returns the norm before clipping."""
    coalesce_grads(params)  # values scaled in place must be the gradients' own
    grads = [p.grad for p in params if p.grad is not None]
    if not any(g.is_sparse for g in grads):
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    parts = [rows_and_values(g)[1] if g.is_sparse else g for g in grads]
    total = math.sqrt(sum(float(torch.linalg.vector_norm(p.float())) ** 2 for p in parts))
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for part in parts:
            part.mul_(scale)
    return total


__all__ = [
    "RowGradients",
    "clip_grad_norm",
    "coalesce_grads",
    "densify_grads",
    "row_gradient",
    "rows_and_values",
]
