"""Backward passes and optimizer updates with as little Python per step as possible.

At small batches (the census tutorial trains at 40 examples a step) the Wide & Deep step is
dominated by per-call overhead, not arithmetic: ``torch.optim.Optimizer.step`` re-collects
parameters, gradients and state on every call. :class:`FastUpdater` collects parameters and
state once and calls the fused (or foreach) kernels directly. After the update it sets the
gradients to None rather than zeroing them: the next backward then hands each parameter its
new gradient as it is, where a zeroed one costs a kernel to zero and another to add into.
Optimizers it does not know are stepped the usual way, with gradients zeroed in place as
before. The state it updates is the optimizers' own, so checkpoints and ``state_dict`` are
unchanged. :func:`backward` likewise skips the Python layer
of ``loss.backward()``.

Lookup tables with row-sparse gradients (:mod:`~mlengine.training.sparse_grads`) are updated
on the rows a step looked up, as TensorFlow's sparse kernels do: FTRL through
``ftrl.numpy_rows_update`` (CPU) or ``ftrl.sparse_update``, Adagrad through
:func:`_numpy_adagrad_rows` (CPU) or :func:`_torch_adagrad_rows`, both pinned by tests to torch's
own sparse Adagrad step and to TensorFlow's ``SparseApplyAdagradV2``. Their gradients are set
to None after every step: the next step gives them new rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import torch

from mlengine.training import torch_private
from mlengine.training.ftrl import (
    Ftrl,
    FtrlHyper,
    foreach_update,
    numpy_rows_update,
    numpy_update,
    sparse_update,
)
from mlengine.training.sparse_grads import RowGradients, densify_grads, rows_and_values
from mlengine.tuning import DENSE_TABLE_ELEMENTS

backward = torch_private.backward_scalar
"""``loss.backward()`` for a scalar loss, minus ``torch.autograd.backward``'s Python layer (see
:mod:`mlengine.training.torch_private`)."""


def _numpy_adagrad_rows(
    weights: np.ndarray,
    total: np.ndarray,
    rows: np.ndarray,
    grads: np.ndarray,
    lr: float,
    eps: float,
) -> None:
    """Adagrad on the ``rows`` of a CPU table (numpy views), in place: ``sum += g * g``, then
    ``w -= lr * (g / (sqrt(sum) + eps))``, the operations of torch's fused kernel."""
    accumulated = total[rows]
    accumulated += grads * grads
    total[rows] = accumulated
    std = np.sqrt(accumulated)
    std += eps
    change = grads / std
    change *= lr
    weights[rows] -= change


def _torch_adagrad_rows(
    weights: torch.Tensor,
    total: torch.Tensor,
    rows: torch.Tensor,
    grads: torch.Tensor,
    lr: float,
    eps: float,
) -> None:
    """:func:`_numpy_adagrad_rows` with torch ops, for tables on a GPU (or not float32)."""
    accumulated = total.index_select(0, rows).addcmul_(grads, grads)
    total.index_copy_(0, rows, accumulated)
    std = accumulated.sqrt_().add_(eps)
    weights.index_add_(0, rows, grads / std, alpha=-lr)


def _adagrad_table_update(
    param: torch.Tensor, state: dict[str, Any], group: dict[str, Any], row_grads: RowGradients
) -> Callable[[], None]:
    """Adagrad on the rows of ``param``'s row-sparse gradient (nothing when it has none)."""
    total, step = state["sum"], state["step"]
    weights = param.detach()
    if param.device.type == "cpu" and param.dtype == torch.float32:
        views = (weights.numpy(), total.numpy(), step.numpy())

        def update_in_numpy() -> None:
            found = row_grads.take(param)
            if found is not None:
                views[2][...] += 1  # torch's own step count, though no lr decay reads it
                _numpy_adagrad_rows(views[0], views[1], *found, group["lr"], group["eps"])

        return update_in_numpy

    def update() -> None:
        if param.grad is not None:
            rows, values = rows_and_values(param.grad)
            step.add_(1)
            _torch_adagrad_rows(weights, total, rows, values, group["lr"], group["eps"])

    return update


def _adagrad_update(
    optimizer: torch.optim.Adagrad, tables: Collection[int], row_grads: RowGradients
) -> Callable[[], None] | None:
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    params = [p for p in group["params"] if p.requires_grad]
    if not params or group["lr_decay"] or group["weight_decay"]:
        return None
    dense = [p for p in params if id(p) not in tables]
    if dense and not group.get("fused"):
        return None
    sums = [optimizer.state[p]["sum"] for p in dense]
    steps = [optimizer.state[p]["step"] for p in dense]
    row_updates = [
        _adagrad_table_update(p, optimizer.state[p], group, row_grads)
        for p in params
        if id(p) in tables
    ]

    def update() -> None:
        if dense:
            torch_private.fused_adagrad_(
                dense,
                _grads(dense),
                sums,
                steps,
                lr=group["lr"],
                lr_decay=0.0,
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
            )
        for row_update in row_updates:
            row_update()

    return update


def _rows_view(tensor: torch.Tensor) -> np.ndarray:
    """A CPU table as numpy, one-column tables as 1-d (see ``_ftrl_update``)."""
    array = tensor.numpy()
    return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array


def _ftrl_hyper(group: dict[str, Any]) -> FtrlHyper:
    """The scalars of an Ftrl group's step, as ``Ftrl.step`` forms them."""
    lr = group["lr"]
    return FtrlHyper(
        lr=lr,
        lr_power=group["lr_power"],
        l1=group["l1"],
        l2=group["l2"] + group["beta"] / (2.0 * lr),
        l2_shrinkage=group["l2_shrinkage"],
        zero_accum_possible=group["initial_accumulator_value"] == 0.0,
    )


def _ftrl_update(
    optimizer: Ftrl, tables: Collection[int], row_grads: RowGradients
) -> Callable[[], None] | None:
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    params = [p for p in group["params"] if p.requires_grad]
    if not params or group["foreach"] is False or len({(p.device, p.dtype) for p in params}) > 1:
        return None
    states = [optimizer.state[p] or optimizer._init_state(p, group) for p in params]
    hyper = _ftrl_hyper(group)
    dense = [(p, s) for p, s in zip(params, states, strict=True) if id(p) not in tables]
    sparse = [(p, s) for p, s in zip(params, states, strict=True) if id(p) in tables]
    weights = [p for p, _ in dense]
    accums = [s["accum"] for _, s in dense]
    linears = [s["linear"] for _, s in dense]

    if all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params):
        # numpy views of the same memory: one call per operation (see numpy_update)
        views = [[t.detach().numpy() for t in tensors] for tensors in (weights, accums, linears)]
        # A one-column table (the linear part's) as 1-d views: gathering and scattering rows
        # of a 1-d array was 3x faster than of an [n, 1] one.
        table_views = [
            (p, *(_rows_view(t) for t in (p.detach(), s["accum"], s["linear"]))) for p, s in sparse
        ]

        def update_in_numpy() -> None:
            if weights:
                grads = [grad.numpy() for grad in _grads(weights)]
                numpy_update(views[0], grads, views[1], views[2], hyper)
            for param, w, accum, linear in table_views:
                found = row_grads.take(param)
                if found is not None:
                    rows, values = found
                    if w.ndim == 1:
                        values = values.reshape(-1)
                    numpy_rows_update(w, accum, linear, rows, values, hyper)

        return update_in_numpy

    def update() -> None:
        if weights:
            foreach_update(weights, _grads(weights), accums, linears, hyper)
        for param, state in sparse:
            if param.grad is not None:
                sparse_update(param.detach(), param.grad, state["accum"], state["linear"], hyper)

    return update


def dense_is_exact(table: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
    """Whether updating all of small ``table`` from a dense gradient (zero where no row was
    looked up) gives exactly what the sparse update of the looked-up rows gives, and costs
    less: a table of at most ``tuning.DENSE_TABLE_ELEMENTS`` numbers on the CPU (the numpy step's),
    and an update that leaves a row with a zero gradient as it is.

    Adagrad and SGD do (``sum += 0``, ``w -= lr * 0``). FTRL does when ``l2_shrinkage`` is 0
    and every row's weight already is what FTRL makes of its slots; a zero-gradient step on a
    copy checks that (it fails for weights set from elsewhere, e.g. warm-started into fresh
    slots, which a dense step would move and TF's sparse kernel does not). Once true it stays
    true: every step then recomputes every row's weight from its slots.
    """
    if table.numel() > DENSE_TABLE_ELEMENTS or table.device.type != "cpu":
        return False
    if table.dtype != torch.float32 or len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    if isinstance(optimizer, torch.optim.Adagrad | torch.optim.SGD):
        return not group.get("weight_decay") and not group.get("momentum")
    if not isinstance(optimizer, Ftrl) or group["l2_shrinkage"]:
        return False
    state = optimizer.state[table] or optimizer._init_state(table, group)
    weights = table.detach().numpy()
    copies = [weights.copy(), state["accum"].numpy().copy(), state["linear"].numpy().copy()]
    hyper = _ftrl_hyper(group)
    numpy_update([copies[0]], [np.zeros_like(weights)], [copies[1]], [copies[2]], hyper)
    return bool(np.array_equal(copies[0], weights))


def _accepts_sparse(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` applies row-sparse gradients itself."""
    if isinstance(optimizer, torch.optim.Adagrad):
        return not any(group.get("fused") for group in optimizer.param_groups)
    return isinstance(optimizer, Ftrl | torch.optim.SGD) or getattr(
        optimizer, "accepts_sparse_gradients", False
    )


def _own_step(
    optimizer: torch.optim.Optimizer, tables: Sequence[torch.Tensor]
) -> Callable[[], Any]:
    """``optimizer.step``, with row-sparse gradients made dense first where it refuses them
    (only Adagrad and SGD may meet them there, whose dense update is the same)."""
    if not tables:
        return optimizer.step
    accepts = _accepts_sparse(optimizer)

    def step() -> None:
        if not accepts:
            densify_grads(tables)
        # torch's sparse paths build sparse tensors and warn unless checks are chosen: on
        with torch.sparse.check_sparse_tensor_invariants(enable=True):
            optimizer.step()

    return step


def _grad(param: torch.Tensor) -> torch.Tensor:
    if param.grad is None:
        param.grad = torch.zeros_like(param)
    return param.grad


def _grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """The parameters' gradients; a zero one for a parameter the step did not reach (a part of
    the network that this model does not use), as a zeroed gradient would have been."""
    grads = [p.grad for p in params]
    if any(grad is None for grad in grads):  # not `None in grads`: that calls Tensor.__eq__
        grads = [_grad(p) for p in params]
    return grads  # type: ignore[return-value]


class FastUpdater:
    """``step()`` = every optimizer's update, then the gradients made ready for the next
    backward, as ``grads`` says: ``"clear"`` (None; see the module docstring), ``"zero"`` (in
    place, for gradients that must stay the same tensors: views of the buffer that distributed
    training all-reduces) or ``"keep"`` (left as they are, for a step that overwrites them all:
    :class:`~mlengine.training.numpy_step.NumpyStep`). The gradients of ``row_sparse`` tables
    are set to None whatever ``grads`` says; their rows may also come as numpy arrays in
    ``row_grads`` (from the numpy step), which an optimizer of torch's own gets in ``.grad``."""

    def __init__(
        self,
        optimizers: list[torch.optim.Optimizer],
        grads: str = "clear",
        row_sparse: Sequence[torch.Tensor] = (),
        row_grads: RowGradients | None = None,
    ):
        if grads not in ("clear", "zero", "keep"):
            raise ValueError(f"grads must be 'clear', 'zero' or 'keep'; got {grads!r}")
        tables = {id(p) for p in row_sparse}
        self._row_grads = row_grads or RowGradients()
        self._updates: list[Callable[[], Any]] = []
        fast_only = True
        for optimizer in optimizers:
            fast: Callable[[], None] | None = None
            if isinstance(optimizer, torch.optim.Adagrad):
                fast = _adagrad_update(optimizer, tables, self._row_grads)
            elif isinstance(optimizer, Ftrl):
                fast = _ftrl_update(optimizer, tables, self._row_grads)
            fast_only = fast_only and fast is not None
            own = [p for group in optimizer.param_groups for p in group["params"]]
            self._updates.append(fast or _own_step(optimizer, [p for p in own if id(p) in tables]))
        every = [
            p
            for optimizer in optimizers
            for group in optimizer.param_groups
            for p in group["params"]
            if p.requires_grad
        ]
        self._params = [p for p in every if id(p) not in tables]
        self._tables = [p for p in every if id(p) in tables]
        # torch's own step skips a parameter whose gradient is None (not so a zero one, for
        # momentum): clear gradients only where every update is one of ours.
        self._after = "zero" if grads == "clear" and not fast_only else grads
        self._grads = [_grad(p) for p in self._params]
        self._fast_only = fast_only

    @torch.no_grad()
    def step(self) -> None:
        if not self._fast_only:  # torch's own steps read rows from .grad
            self._row_grads.materialize()
        for update in self._updates:
            update()
        if self._after == "clear":
            for param in self._params:
                param.grad = None
        elif self._after == "zero" and self._grads:
            torch_private.foreach_zero_(self._grads)
        for table in self._tables:
            table.grad = None

    @torch.no_grad()
    def zero_grads(self) -> None:
        """Zero the gradients in place, before a backward that adds into them (``"keep"`` or
        ``"zero"``: the gradients are still the tensors they were at construction)."""
        if self._grads:
            torch_private.foreach_zero_(self._grads)
