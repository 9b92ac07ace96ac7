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
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mlengine.training import torch_private
from mlengine.training.ftrl import Ftrl, FtrlHyper, foreach_update, numpy_update

backward = torch_private.backward_scalar
"""``loss.backward()`` for a scalar loss, minus ``torch.autograd.backward``'s Python layer (see
:mod:`mlengine.training.torch_private`)."""


def _adagrad_update(optimizer: torch.optim.Adagrad) -> Callable[[], None] | None:
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    params = [p for p in group["params"] if p.requires_grad]
    if not params or not group.get("fused") or group["lr_decay"] or group["weight_decay"]:
        return None
    sums = [optimizer.state[p]["sum"] for p in params]
    steps = [optimizer.state[p]["step"] for p in params]

    def update() -> None:
        torch_private.fused_adagrad_(
            params,
            _grads(params),
            sums,
            steps,
            lr=group["lr"],
            lr_decay=0.0,
            weight_decay=0.0,
            eps=group["eps"],
            maximize=False,
        )

    return update


def _ftrl_update(optimizer: Ftrl) -> Callable[[], None] | None:
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    params = [p for p in group["params"] if p.requires_grad]
    if not params or group["foreach"] is False or len({(p.device, p.dtype) for p in params}) > 1:
        return None
    states = [optimizer.state[p] or optimizer._init_state(p, group) for p in params]
    accums = [s["accum"] for s in states]
    linears = [s["linear"] for s in states]
    lr = group["lr"]
    hyper = FtrlHyper(
        lr=lr,
        lr_power=group["lr_power"],
        l1=group["l1"],
        l2=group["l2"] + group["beta"] / (2.0 * lr),
        l2_shrinkage=group["l2_shrinkage"],
        zero_accum_possible=group["initial_accumulator_value"] == 0.0,
    )

    if all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params):
        # numpy views of the same memory: one call per operation (see numpy_update)
        views = [[t.detach().numpy() for t in tensors] for tensors in (params, accums, linears)]

        def update_in_numpy() -> None:
            grads = [grad.numpy() for grad in _grads(params)]
            numpy_update(views[0], grads, views[1], views[2], hyper)

        return update_in_numpy

    def update() -> None:
        foreach_update(params, _grads(params), accums, linears, hyper)

    return update


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
    :class:`~mlengine.training.numpy_step.NumpyStep`)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer], grads: str = "clear"):
        if grads not in ("clear", "zero", "keep"):
            raise ValueError(f"grads must be 'clear', 'zero' or 'keep'; got {grads!r}")
        self._updates: list[Callable[[], None]] = []
        fast_only = True
        for optimizer in optimizers:
            fast: Callable[[], None] | None = None
            if isinstance(optimizer, torch.optim.Adagrad):
                fast = _adagrad_update(optimizer)
            elif isinstance(optimizer, Ftrl):
                fast = _ftrl_update(optimizer)
            fast_only = fast_only and fast is not None
            self._updates.append(fast or optimizer.step)
        self._params = [
            p
            for optimizer in optimizers
            for group in optimizer.param_groups
            for p in group["params"]
            if p.requires_grad
        ]
        # torch's own step skips a parameter whose gradient is None (not so a zero one, for
        # momentum): clear gradients only where every update is one of ours.
        self._after = "zero" if grads == "clear" and not fast_only else grads
        self._grads = [_grad(p) for p in self._params]

    @torch.no_grad()
    def step(self) -> None:
        for update in self._updates:
            update()
        if self._after == "clear":
            for param in self._params:
                param.grad = None
        elif self._after == "zero":
            torch_private.foreach_zero_(self._grads)

    @torch.no_grad()
    def zero_grads(self) -> None:
        """Zero the gradients in place, before a backward that adds into them (``"keep"`` or
        ``"zero"``: the gradients are still the tensors they were at construction)."""
        torch_private.foreach_zero_(self._grads)
