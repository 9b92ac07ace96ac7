"""The private torch APIs mlengine uses, all of them, in this one place.

Each one below says what it is, why no public torch API serves instead, and what happens when
a torch release moves it. Nothing else in mlengine names a ``torch._`` attribute: code that
needs one imports it from here. The training step is where they are used, because at the
census tutorial's batch of 40 a step is per-call overhead rather than arithmetic, and these
are the calls beneath torch's public wrappers (``benchmarks/optimizer_step.py`` and
``benchmarks/train_census.py`` measure what they save).

* ``torch.autograd.Variable._execution_engine.run_backward``: the C++ engine that
  ``Tensor.backward`` ends in. Public: ``loss.backward()``, which adds a Python layer
  (argument normalisation, a logging-level lookup, a copy of the context variables for
  compiled autograd). Moved: :func:`backward_scalar` takes the public path.
* ``torch._fused_adagrad_``: the fused Adagrad kernel. Public:
  ``torch.optim.adagrad.adagrad(..., fused=True)``, which regroups the tensors by device and
  dtype on every call (15 us against 40 us per call for a Wide & Deep parameter set on CPU,
  one thread). Moved: importing this module fails and names it (this is the file to fix).
* ``torch._foreach_*``: one kernel launch per operation for a list of tensors, as
  ``torch.optim`` uses them. Public: a Python loop over the tensors, a launch each (on CPU,
  zeroing 11 gradients: 3 us foreach, 5 us looped; on a GPU the gap is a launch per tensor).
  Moved: as for ``_fused_adagrad_``.
* ``Module._forward_hooks`` and its kin, ``torch.nn.modules.module._global_*_hooks`` and
  ``Tensor._backward_hooks`` / ``_post_accumulate_grad_hooks``: where hooks are registered
  (:func:`has_hooks`, which the numpy step of a custom module asks before it bypasses
  ``forward`` and autograd). Public: none (``register_*_hook`` return handles, with no way to
  list them). Moved: an attribute that is gone counts as a hook, so the module trains with
  autograd.
* ``Optimizer``'s ``__dynamo_disable`` cache attribute and ``torch._dynamo``: see
  :func:`without_dynamo_import` and :func:`import_dynamo`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator

import torch

# -- autograd ----------------------------------------------------------------------------------

# The engine that ``Tensor.backward`` ends in; None should a torch version move it.
_ENGINE = getattr(getattr(torch.autograd, "Variable", None), "_execution_engine", None)


def backward_scalar(loss: torch.Tensor) -> None:
    """``loss.backward()`` for a scalar loss, minus ``torch.autograd.backward``'s Python layer:
    the engine call it ends in, with the same arguments (seed 1, free the graph, accumulate
    into the leaves' ``.grad``). Anything but a scalar loss, or a torch without that engine,
    takes the public path."""
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


# -- hooks -------------------------------------------------------------------------------------

_MODULE_HOOKS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)
_TENSOR_HOOKS = ("_backward_hooks", "_post_accumulate_grad_hooks")


def has_hooks(module: torch.nn.Module) -> bool:
    """Whether a hook would run in ``module``'s forward or backward: on the module or one
    of its submodules, on any module (global hooks), or on one of its parameters."""
    registry = torch.nn.modules.module
    if any(getattr(registry, name, True) for name in _GLOBAL_HOOKS):
        return True
    for sub in module.modules():
        if any(getattr(sub, name, True) for name in _MODULE_HOOKS):
            return True
    return any(
        getattr(param, name, True) for param in module.parameters() for name in _TENSOR_HOOKS
    )


# -- optimizer kernels -------------------------------------------------------------------------

fused_adagrad_ = torch._fused_adagrad_
foreach_add_ = torch._foreach_add_
foreach_addcdiv_ = torch._foreach_addcdiv_
foreach_addcmul_ = torch._foreach_addcmul_
foreach_clamp_max_ = torch._foreach_clamp_max_
foreach_clamp_min = torch._foreach_clamp_min
foreach_clamp_min_ = torch._foreach_clamp_min_
foreach_pow = torch._foreach_pow
foreach_sqrt = torch._foreach_sqrt
foreach_sub_ = torch._foreach_sub_
foreach_zero_ = torch._foreach_zero_

# -- torch._dynamo -----------------------------------------------------------------------------

_DYNAMO_WRAPPED_METHODS = ("add_param_group", "state_dict", "load_state_dict", "zero_grad")


@contextlib.contextmanager
def without_dynamo_import() -> Iterator[None]:
    """Build, save and restore torch optimizers without importing ``torch._dynamo``.

    ``torch.optim.Optimizer`` wraps ``add_param_group``, ``state_dict``, ``load_state_dict`` and
    ``zero_grad`` in ``torch._disable_dynamo``, whose first call imports ``torch._dynamo`` (as
    long as ``import torch`` itself) only to keep those methods out of compiled graphs. The
    training fast path (``fast_step``) never calls ``step()``, so that import is all the census
    tutorial would pay for. While ``torch._dynamo`` is not imported nothing is being compiled,
    so within this block the wrapper's own cache attribute (``__dynamo_disable``, set on the
    wrapped function) points at the plain method and the import is skipped; it is removed on
    exit, so a later call after a real import of dynamo behaves as torch intends. No public API
    does this. Should torch rename that attribute, the import simply happens.
    """
    if "torch._dynamo" in sys.modules:
        yield
        return
    methods = [getattr(torch.optim.Optimizer, name) for name in _DYNAMO_WRAPPED_METHODS]
    plain = [m.__wrapped__ for m in methods if hasattr(m, "__wrapped__")]
    for function in plain:
        setattr(function, "__dynamo_disable", function)
    try:
        yield
    finally:
        for function in plain:
            if getattr(function, "__dynamo_disable", None) is function:
                delattr(function, "__dynamo_disable")


def import_dynamo() -> None:
    """Import ``torch._dynamo`` now (no public API imports it).

    A process group that exists when it is first imported (torch.optim's Adam imports it at
    its first step) is referenced for good and never freed, so a distributed job imports it
    before it joins its group.
    """
    importlib.import_module("torch._dynamo")


__all__ = [
    "backward_scalar",
    "foreach_add_",
    "foreach_addcdiv_",
    "foreach_addcmul_",
    "foreach_clamp_max_",
    "foreach_clamp_min",
    "foreach_clamp_min_",
    "foreach_pow",
    "foreach_sqrt",
    "foreach_sub_",
    "foreach_zero_",
    "fused_adagrad_",
    "has_hooks",
    "import_dynamo",
    "without_dynamo_import",
]
