"""FTRL-Proximal as a torch optimizer, with TensorFlow's exact update (``ApplyFtrlV2``).

``torch.optim`` has no FTRL, and TensorFlow's linear estimators default to it, so this module
re-creates ``tf.compat.v1.train.FtrlOptimizer``. Per weight ``w`` it keeps two slots, named as in
TensorFlow: ``accum`` (sum of squared gradients, starts at ``initial_accumulator_value``) and
``linear`` (starts at 0). One step with gradient ``g`` is TensorFlow's kernel
(``tensorflow/core/kernels/training_ops.cc``, ``ApplyFtrlV2<CPUDevice>``)::

    g_shrink   = g + 2 * l2_shrinkage * w
    new_accum  = accum + g * g                    # the raw gradient, not g_shrink
    sigma      = (new_accum ** -lr_power - accum ** -lr_power) / lr
    linear    += g_shrink - sigma * w
    quadratic  = new_accum ** -lr_power / lr + 2 * l2
    w          = (sign(linear) * l1 - linear) / quadratic   if |linear| > l1 else 0
    accum      = new_accum

``beta`` is folded into ``l2`` as TensorFlow's Python wrapper does:
``l2 + beta / (2 * max(lr, 1e-36))``. With ``l2_shrinkage == 0`` this is also exactly
``ApplyFtrl`` (TF picks that kernel then), so one code path covers both.

Dense versus sparse gradients: TensorFlow's wide part receives ``IndexedSlices`` and updates only
the rows that were looked up. A dense gradient of zero leaves a row as it was (``accum`` and
``linear`` do not move, so ``w`` is recomputed to the same value), with two exceptions that
TF's dense kernel shares: with ``l2_shrinkage > 0`` a dense step also shrinks rows that had no
example, and a weight that starts non-zero is set to ``-linear / quadratic`` (0 until it has a
gradient) by its first step. Linear weights start at zero, so only the first matters there.
Sparse gradients (the lookup tables' in training, see ``sparse_grads``) are applied to their
rows only, duplicates summed first, as TensorFlow's ``SparseApplyFtrlV2``: a row that was
looked up is updated even where its summed gradient is 0 (which moves it under
``l2_shrinkage``), a row that was not is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mlengine.errors import InvalidParameterError
from mlengine.training import torch_private

__all__ = [
    "Ftrl",
    "FtrlHyper",
    "closure_loss",
    "foreach_update",
    "numpy_rows_update",
    "numpy_update",
    "sparse_update",
]

# TensorFlow's FtrlOptimizer._prepare guards the beta term with max(learning_rate, 1e-36).
_MIN_LR_FOR_BETA = 1e-36


def _check(owner: str, name: str, value: object, ok: bool, rule: str) -> None:
    """Raise InvalidParameterError in the project's wording when ``ok`` is false."""
    if not ok:
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {rule}. Got {value!r} instead."
        )


def _is_real(value: object) -> bool:
    """A real number that is not a bool (``True`` is an int to Python, never a rate to us)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


class Ftrl(torch.optim.Optimizer):
    """FTRL-Proximal (McMahan et al., 2013) with TensorFlow's update, slots and defaults.

    Args:
        params: Parameters or parameter groups, as for any torch optimizer.
        lr: Learning rate (TF ``learning_rate``), positive.
        lr_power: TF ``learning_rate_power``, ``<= 0``; -0.5 is the classic ``1/sqrt(n)`` decay
            and takes a faster ``sqrt`` path; 0 gives a fixed rate.
        initial_accumulator_value: Start of ``accum``, ``>= 0``.
        l1: TF ``l1_regularization_strength``, ``>= 0``; weights with ``|linear| <= l1`` are 0.
        l2: TF ``l2_regularization_strength`` (the stabilising L2), ``>= 0``.
        l2_shrinkage: TF ``l2_shrinkage_regularization_strength`` (an L2 penalty on the loss),
            ``>= 0``.
        beta: The paper's beta, ``>= 0``; TF adds ``beta / (2 * lr)`` to ``l2``.
        foreach: Use ``torch._foreach_*`` kernels (one launch per op for all tensors of a
            device and dtype). ``None`` (the default) means yes; it was the fastest variant
            measured on CPU, ahead of a per-tensor loop and of one flat concatenated update.

    Raises:
        InvalidParameterError: If an argument is outside its rule.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        lr_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1: float = 0.0,
        l2: float = 0.0,
        l2_shrinkage: float = 0.0,
        beta: float = 0.0,
        *,
        foreach: bool | None = None,
    ) -> None:
        _check("Ftrl", "lr", lr, _is_real(lr) and lr > 0, "a positive float")
        _check("Ftrl", "lr_power", lr_power, _is_real(lr_power) and lr_power <= 0, "a float <= 0")
        for name, value in (
            ("initial_accumulator_value", initial_accumulator_value),
            ("l1", l1),
            ("l2", l2),
            ("l2_shrinkage", l2_shrinkage),
            ("beta", beta),
        ):
            _check("Ftrl", name, value, _is_real(value) and value >= 0, "a float >= 0")
        defaults = {
            "lr": float(lr),
            "lr_power": float(lr_power),
            "initial_accumulator_value": float(initial_accumulator_value),
            "l1": float(l1),
            "l2": float(l2),
            "l2_shrinkage": float(l2_shrinkage),
            "beta": float(beta),
            "foreach": foreach,
        }
        super().__init__(params, defaults)
        # Slots exist from the start (as torch's Adagrad does), so a checkpoint written before
        # the first step already has them and load_state_dict finds what it expects.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """Create ``accum`` and ``linear`` for ``p`` unless they exist; return the state."""
        state = self.state[p]
        if not state:
            state["accum"] = torch.full_like(
                p, group["initial_accumulator_value"], memory_format=torch.preserve_format
            )
            state["linear"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Apply one FTRL update to every parameter that has a gradient.

        Args:
            closure: Optional callable that re-evaluates the model and returns the loss.

        Returns:
            The closure's loss, or None.
        """
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr: float = group["lr"]
            hyper = FtrlHyper(
                lr=lr,
                lr_power=group["lr_power"],
                l1=group["l1"],
                # TF's FtrlOptimizer._prepare: "L2 regularization strength with beta added in".
                l2=group["l2"] + group["beta"] / (2.0 * max(lr, _MIN_LR_FOR_BETA)),
                l2_shrinkage=group["l2_shrinkage"],
                zero_accum_possible=group["initial_accumulator_value"] == 0.0,
            )
            # Dense gradients are bucketed by (device, dtype) so each foreach call is legal.
            buckets: dict[tuple[torch.device, torch.dtype], list[list[Tensor]]] = {}
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self.state[p] or self._init_state(p, group)
                if grad.is_sparse:
                    sparse_update(p, grad, state["accum"], state["linear"], hyper)
                    continue
                bucket = buckets.get((p.device, p.dtype))
                if bucket is None:
                    bucket = buckets[(p.device, p.dtype)] = [[], [], [], []]
                bucket[0].append(p)
                bucket[1].append(grad)
                bucket[2].append(state["accum"])
                bucket[3].append(state["linear"])
            use_foreach = group["foreach"] is not False
            for weights, grads, accums, linears in buckets.values():
                if use_foreach:
                    foreach_update(weights, grads, accums, linears, hyper)
                else:
                    for w, g, a, lin in zip(weights, grads, accums, linears, strict=True):
                        _dense_update(w, g, a, lin, hyper)
        return loss


def closure_loss(closure: Callable[[], float] | None) -> float | None:
    """An optimizer step's closure run with gradients enabled (torch's convention); None."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class FtrlHyper:
    """The scalars of one group's step, with ``beta`` already folded into ``l2``."""

    __slots__ = ("lr", "lr_power", "l1", "l2", "l2_shrinkage", "zero_accum_possible")

    def __init__(
        self,
        *,
        lr: float,
        lr_power: float,
        l1: float,
        l2: float,
        l2_shrinkage: float,
        zero_accum_possible: bool,
    ) -> None:
        self.lr = lr
        self.lr_power = lr_power
        self.l1 = l1
        self.l2 = l2
        self.l2_shrinkage = l2_shrinkage
        # With accum == 0, lr_power < 0 and l2 == 0 the quadratic term is 0 and TF's
        # select(|linear| > l1, x / y, 0) avoids 0/0; our branch-free form needs a guard then
        # (the quadratic term is clamped to the dtype's tiny). The guard gives 0 where TF gives
        # 0; where TF divides a non-zero linear by 0 (a non-zero start weight with
        # l2_shrinkage and no gradient yet) TF gets +-inf and we a huge finite value.
        self.zero_accum_possible = zero_accum_possible and lr_power < 0 and l2 == 0.0


def foreach_update(
    weights: list[Tensor],
    grads: list[Tensor],
    accums: list[Tensor],
    linears: list[Tensor],
    h: FtrlHyper,
) -> None:
    """TF's ApplyFtrlV2 over lists of same-device, same-dtype tensors, in place.

    Two rewrites keep the launch count down (8 foreach calls in the default configuration):

    * the selection ``|linear| > l1 ? (sign(linear) * l1 - linear) / quadratic : 0`` is
      branch-free as ``(clamp(linear, -l1, l1) - linear) / quadratic``, whose numerator is 0
      inside the band;
    * ``x / (new_accum**p / lr + 2 * l2)`` is computed as ``lr * x / (new_accum**p + 2 * l2 * lr)``
      (TF's own ``multiply_linear_by_lr`` form), one ``addcdiv`` instead of scale, copy, divide.
      The two agree to a few ulps.
    """
    power = -h.lr_power
    # accum**p before the update, kept to form sigma once accum has been updated in place.
    if power == 0.5:
        neg_sigma = torch_private.foreach_sqrt(accums)
        torch_private.foreach_addcmul_(accums, grads, grads)  # accum = new_accum (the raw gradient)
        quad = torch_private.foreach_sqrt(accums)
    else:
        neg_sigma = torch_private.foreach_pow(accums, power)
        torch_private.foreach_addcmul_(accums, grads, grads)
        quad = torch_private.foreach_pow(accums, power)
    torch_private.foreach_sub_(neg_sigma, quad)  # accum**p - new_accum**p  (= -sigma * lr)
    if h.l2_shrinkage:
        # g_shrink = g + 2 * l2_shrinkage * w, with w from before this step.
        torch_private.foreach_add_(linears, weights, alpha=2.0 * h.l2_shrinkage)
    torch_private.foreach_add_(linears, grads)
    torch_private.foreach_addcmul_(linears, neg_sigma, weights, value=1.0 / h.lr)
    # quad = new_accum**p + 2 * l2 * lr  (the quadratic term times lr)
    if h.l2:
        torch_private.foreach_add_(quad, 2.0 * h.l2 * h.lr)
    if h.zero_accum_possible:
        torch_private.foreach_clamp_min_(quad, torch.finfo(weights[0].dtype).tiny)
    torch_private.foreach_zero_(weights)
    if h.l1:
        numerator = torch_private.foreach_clamp_min(linears, -h.l1)
        torch_private.foreach_clamp_max_(numerator, h.l1)
        torch_private.foreach_sub_(numerator, linears)  # clamp(linear) - linear
        torch_private.foreach_addcdiv_(weights, numerator, quad, value=h.lr)
    else:
        torch_private.foreach_addcdiv_(weights, linears, quad, value=-h.lr)


def numpy_update(
    weights: list[np.ndarray],
    grads: list[np.ndarray],
    accums: list[np.ndarray],
    linears: list[np.ndarray],
    h: FtrlHyper,
) -> None:
    """:func:`foreach_update` in numpy, in place, for CPU tensors given as numpy views: the
    same operations in the same order, each one numpy call, whose overhead is a fraction of a
    foreach call's."""
    power = -h.lr_power
    for w, g, accum, linear in zip(weights, grads, accums, linears, strict=True):
        if not w.size:
            continue
        if power == 0.5:
            neg_sigma = np.sqrt(accum)
            accum += g * g
            quad = np.sqrt(accum)
        else:
            neg_sigma = accum**power
            accum += g * g
            quad = accum**power
        neg_sigma -= quad  # accum**p - new_accum**p  (= -sigma * lr)
        if h.l2_shrinkage:
            linear += (2.0 * h.l2_shrinkage) * w
        linear += g
        neg_sigma *= w
        neg_sigma *= 1.0 / h.lr
        linear += neg_sigma
        if h.l2:
            quad += 2.0 * h.l2 * h.lr
        if h.zero_accum_possible:
            np.maximum(quad, np.finfo(w.dtype).tiny, out=quad)
        if h.l1:
            numerator = np.clip(linear, -h.l1, h.l1)
            numerator -= linear  # clamp(linear) - linear
            np.divide(numerator, quad, out=w)
            w *= h.lr
        else:
            np.divide(linear, quad, out=w)
            w *= -h.lr


def numpy_rows_update(
    weights: np.ndarray,
    accum: np.ndarray,
    linear: np.ndarray,
    rows: np.ndarray,
    grads: np.ndarray,
    h: FtrlHyper,
) -> None:
    """:func:`sparse_update` in numpy, in place, for a CPU table given as numpy views and a
    coalesced gradient (unique ``rows``, their ``grads``): gather the rows, apply
    :func:`numpy_update` to them, scatter them back. The work is the rows', not the table's."""
    w, a, lin = weights[rows], accum[rows], linear[rows]
    numpy_update([w], [grads], [a], [lin], h)
    weights[rows] = w
    accum[rows] = a
    linear[rows] = lin


def _ftrl_math(
    w: Tensor, g: Tensor, accum: Tensor, linear: Tensor, h: FtrlHyper
) -> tuple[Tensor, Tensor, Tensor]:
    """TF's ApplyFtrlV2 as plain tensor expressions: return ``(w, new_accum, new_linear)``.

    Used for sparse rows and the non-foreach path; written as close to the kernel as possible.
    """
    power = -h.lr_power
    g_shrink = g + (2.0 * h.l2_shrinkage) * w if h.l2_shrinkage else g
    new_accum = accum + g * g
    if power == 0.5:
        new_pow, old_pow = new_accum.sqrt(), accum.sqrt()
    else:
        new_pow, old_pow = new_accum.pow(power), accum.pow(power)
    new_linear = linear + (g_shrink - (new_pow - old_pow) / h.lr * w)
    quadratic = new_pow / h.lr + 2.0 * h.l2
    pre_shrink = (h.l1 * new_linear.sign() - new_linear) / quadratic
    new_w = torch.where(new_linear.abs() > h.l1, pre_shrink, torch.zeros_like(pre_shrink))
    return new_w, new_accum, new_linear


def _dense_update(w: Tensor, g: Tensor, accum: Tensor, linear: Tensor, h: FtrlHyper) -> None:
    """One tensor's update with ordinary ops (``foreach=False``)."""
    new_w, new_accum, new_linear = _ftrl_math(w, g, accum, linear, h)
    w.copy_(new_w)
    accum.copy_(new_accum)
    linear.copy_(new_linear)


def sparse_update(w: Tensor, grad: Tensor, accum: Tensor, linear: Tensor, h: FtrlHyper) -> None:
    """Update only the rows a sparse gradient touches, as TF's SparseApplyFtrlV2.

    Duplicate indices are summed first (``coalesce``), as TF's Optimizer does for
    ``IndexedSlices`` before it calls the sparse kernel.
    """
    grad = grad.coalesce()
    if grad.sparse_dim() != 1:
        _dense_update(w, grad.to_dense(), accum, linear, h)
        return
    rows = grad.indices()[0]
    new_w, new_accum, new_linear = _ftrl_math(
        w.index_select(0, rows),
        grad.values(),
        accum.index_select(0, rows),
        linear.index_select(0, rows),
        h,
    )
    w.index_copy_(0, rows, new_w)
    accum.index_copy_(0, rows, new_accum)
    linear.index_copy_(0, rows, new_linear)
