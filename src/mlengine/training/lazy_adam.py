"""Lazy Adam: Adam that updates only the rows of a lookup table a batch looked up.

TensorFlow's ``tf.contrib.opt.LazyAdamOptimizer`` (later ``tfa.optimizers.LazyAdam``). Adam's
moments decay at every step, so its dense update moves every row of a table, looked up or not;
for a table of millions of rows that is the whole cost of a step. The lazy variant applies the
update to the looked-up rows only (``m``, ``v`` and the weight of every other row stay as they
are), which is a different optimizer, hence an explicit choice (``'LazyAdam'``). Parameters
with dense gradients get TensorFlow's ordinary Adam update. Per parameter, with step ``t``
counted by the optimizer (TensorFlow's ``beta1_power``/``beta2_power`` are the optimizer's, so
a table not looked up at a step still advances ``t``)::

    lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
    m    = beta1 * m + (1 - beta1) * g          # on the looked-up rows of a table
    v    = beta2 * v + (1 - beta2) * g * g
    w   -= lr_t * m / (sqrt(v) + epsilon)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from mlengine.training.ftrl import closure_loss
from mlengine.training.sparse_grads import rows_and_values

__all__ = ["LazyAdam"]


class LazyAdam(torch.optim.Optimizer):
    """Adam with TensorFlow's lazy update of row-sparse gradients (see the module docstring).

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate, positive.
        betas: ``(beta1, beta2)``, each in ``[0, 1)``.
        eps: TensorFlow's ``epsilon`` ("epsilon hat": added after the bias correction).
    """

    #: ``step()`` takes row-sparse gradients itself (FastUpdater need not make them dense).
    accepts_sparse_gradients = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"LazyAdam needs a positive lr; got {lr!r}.")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"LazyAdam needs betas in [0, 1); got {betas!r}.")
        if not eps >= 0:
            raise ValueError(f"LazyAdam needs eps >= 0; got {eps!r}.")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})
        for group in self.param_groups:  # slots from the start, as Ftrl's (checkpoints)
            for p in group["params"]:
                state = self.state[p]
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update the looked-up rows of row-sparse gradients and all of dense ones; return
        ``closure``'s loss (evaluated first, with gradients enabled), or None."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                state["step"] += 1
                if p.grad is None:
                    continue
                t = float(state["step"])
                lr_t = group["lr"] * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    rows, g = rows_and_values(p.grad)
                    m_rows = m.index_select(0, rows).mul_(beta1).add_(g, alpha=1.0 - beta1)
                    v_rows = v.index_select(0, rows).mul_(beta2)
                    v_rows.addcmul_(g, g, value=1.0 - beta2)
                    m.index_copy_(0, rows, m_rows)
                    v.index_copy_(0, rows, v_rows)
                    change = m_rows / v_rows.sqrt().add_(group["eps"])
                    p.index_add_(0, rows, change, alpha=-lr_t)
                else:
                    g = p.grad
                    m.mul_(beta1).add_(g, alpha=1.0 - beta1)
                    v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                    p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-lr_t)
        return loss
