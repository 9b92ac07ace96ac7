"""Backward passes and optimizer updates with as little Python per step as possible.

At small batches (the census tutorial trains at 40 examples a step) the Wide & Deep step is
dominated by per-call overhead, not arithmetic: ``torch.optim.Optimizer.step`` re-collects
parameters, gradients and state on every call. :class:`FastUpdater` collects them once —
gradients are kept allocated and zeroed in place, so the lists stay valid — and then calls the
fused (or foreach) kernels directly. Optimizers it does not know are stepped the usual way.
The state it updates is the optimizers' own, so checkpoints and ``state_dict`` are unchanged.
:func:`backward` likewise skips the Python layer of ``loss.backward()``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mlengine.training.ftrl import Ftrl, _foreach_update, _Hyper

# The C++ autograd engine that ``Tensor.backward`` ends in; None should a torch version move it.
_ENGINE = getattr(getattr(torch.autograd, "Variable", None), "_execution_engine", None)


def backward(loss: torch.Tensor) -> None:
    """``loss.backward()`` for a scalar loss, minus ``torch.autograd.backward``'s Python layer.

    That layer (argument normalisation, a logging-level lookup, a copy of the context variables
    for compiled autograd) costs about 6% of a batch-40 Wide & Deep step on CPU. This makes the
    engine call it ends in, with the same arguments: seed 1, free the graph, accumulate into
    the leaves' ``.grad``. Anything but a scalar loss takes the public path.
    """
    if _ENGINE is None or loss.dim() != 0:
        loss.backward()
        return
    _ENGINE.run_backward(
        (loss,),
        (torch.ones_like(loss),),
        False,
        False,
        (),
        allow_unreachable=True,
        accumulate_grad=True,
    )


def _adagrad_update(optimizer: torch.optim.Adagrad) -> Callable[[], None] | None:
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    params = [p for p in group["params"] if p.requires_grad]
    if not params or not group.get("fused") or group["lr_decay"] or group["weight_decay"]:
        return None
    grads = [_grad(p) for p in params]
    sums = [optimizer.state[p]["sum"] for p in params]
    steps = [optimizer.state[p]["step"] for p in params]

    def update() -> None:
        torch._fused_adagrad_(
            params,
            grads,
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
    grads = [_grad(p) for p in params]
    states = [optimizer.state[p] or optimizer._init_state(p, group) for p in params]
    accums = [s["accum"] for s in states]
    linears = [s["linear"] for s in states]
    lr = group["lr"]
    hyper = _Hyper(
        lr=lr,
        lr_power=group["lr_power"],
        l1=group["l1"],
        l2=group["l2"] + group["beta"] / (2.0 * lr),
        l2_shrinkage=group["l2_shrinkage"],
        zero_accum_possible=group["initial_accumulator_value"] == 0.0,
    )

    def update() -> None:
        _foreach_update(params, grads, accums, linears, hyper)

    return update


def _grad(param: torch.Tensor) -> torch.Tensor:
    if param.grad is None:
        param.grad = torch.zeros_like(param)
    return param.grad


class FastUpdater:
    """``step()`` = every optimizer's update, then gradients zeroed in place (one call)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self._updates: list[Callable[[], None]] = []
        for optimizer in optimizers:
            fast: Callable[[], None] | None = None
            if isinstance(optimizer, torch.optim.Adagrad):
                fast = _adagrad_update(optimizer)
            elif isinstance(optimizer, Ftrl):
                fast = _ftrl_update(optimizer)
            self._updates.append(fast or optimizer.step)
        self._grads = [
            _grad(p)
            for optimizer in optimizers
            for group in optimizer.param_groups
            for p in group["params"]
            if p.requires_grad
        ]

    @torch.no_grad()
    def step(self) -> None:
        for update in self._updates:
            update()
        torch._foreach_zero_(self._grads)
