"""The training loop, readable top to bottom: forward, loss, backward, clip, step, log, save.

Hooks and saving listeners (:mod:`mlengine.training.hooks`) are called around each step and
each checkpoint save; without any, the loop pays nothing for them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator
from typing import Any

import torch
from threadpoolctl import threadpool_limits

from mlengine.errors import DataError
from mlengine.model.encode import BatchView, EncodedBatch
from mlengine.training import numpy_step as numpy_steps
from mlengine.training.config import RunConfig
from mlengine.training.distributed import GradientSync, is_chief
from mlengine.training.fast_step import FastUpdater, backward, dense_is_exact
from mlengine.training.hooks import Hooks, RunSession
from mlengine.training.progress import TrainingProgress, number, report
from mlengine.training.session import TrainingSession
from mlengine.training.sparse_grads import RowGradients, clip_grad_norm
from mlengine.training.summaries import SummaryWriter


class NanLossDuringTrainingError(DataError, ArithmeticError):
    """The loss became NaN or infinite (TF's NanTensorHook): lower the learning rate."""


class _NoSummaries:
    """What non-chief ranks write: nothing."""

    def scalar(self, tag: str, value: float, step: int) -> None:
        pass

    def flush(self) -> None:
        pass


def run_training(
    session: TrainingSession,
    batches: Iterator[EncodedBatch | BatchView],
    *,
    last_step: int | None,
    config: RunConfig,
    model_dir: str,
    gradient_clip_norm: float | None = None,
    distributed: bool = False,
    hooks: Hooks | None = None,
) -> int:
    """Train until ``batches`` ends, the global step reaches ``last_step`` or a hook (or
    saving listener) asks to stop.

    Writes summaries and checkpoints on the cadence of ``config`` and a checkpoint at the end
    (rank 0 only when ``distributed``; gradients are then averaged across ranks every step,
    and all ranks stop at the step where the first one runs out of input). Logs ``loss = X,
    step = N`` every ``config.log_step_count_steps`` steps. Returns the number of steps taken.
    """
    network = session.model.network
    head = session.model.head
    params = [p for group in network.parameter_groups().values() for p in group]
    # Lookup tables whose gradients are the rows a step looked up (sparse_grads); the other
    # gradients are dense, views of one buffer when distributed.
    tables = network.row_sparse_parameters()
    sync = GradientSync(params, tables) if distributed else None
    # The common CPU model's forward and backward in numpy (numpy_step): it overwrites every
    # dense gradient, so they are kept as they are between steps; tables' rows go in rows.
    # Small tables whose whole update is exactly the sparse one are updated whole (cheaper).
    rows = RowGradients()
    numpy_step = None
    if not distributed:
        owner = {id(p): o for o in session.optimizers.values() for p in _params_of(o)}
        big = [t for t in tables if not dense_is_exact(t, owner[id(t)])]
        numpy_step = numpy_steps.build(network, head, rows, big)
        if numpy_step is not None:  # its dense gradients are kept: torch's sparse ones add in
            tables = big
    grads = "zero" if sync is not None else "keep" if numpy_step is not None else "clear"
    updater = FastUpdater(
        list(session.optimizers.values()), grads=grads, row_sparse=tables, row_grads=rows
    )
    chief = is_chief()
    learning_rates = {
        part: float(opt.param_groups[0]["lr"]) for part, opt in session.optimizers.items()
    }
    network.train()
    start_step = session.global_step
    last_saved = start_step
    last_save_time = time.monotonic()
    loss: torch.Tensor | numpy_steps.Loss | None = None
    batch_rows = 0

    def value_of(name: str, in_step: bool = True) -> Any:
        """A value hooks may fetch (see mlengine.training.hooks); in a step, the global step
        before its update, as TF's hooks read it."""
        if name == "loss":
            return None if loss is None else float(loss.detach())
        if name == "global_step":
            return session.global_step - (1 if in_step else 0)
        if name == "batch_size":
            return batch_rows
        return next(iter(learning_rates.values())) if len(learning_rates) == 1 else learning_rates

    hooks = hooks if hooks else None
    run_session = RunSession(lambda name: value_of(name, in_step=False))
    if hooks is not None:
        hooks.begin(run_session)
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(SummaryWriter(model_dir)) if chief else _NoSummaries()
        progress = stack.enter_context(
            TrainingProgress(
                start_step=start_step,
                last_step=last_step,
                log_every=config.log_step_count_steps,
                quiet=config.quiet or not chief,
            )
        )
        if numpy_step is not None:  # numpy's BLAS gets the threads torch has
            stack.enter_context(threadpool_limits(torch.get_num_threads(), user_api="blas"))
        iterator = iter(batches)
        while last_step is None or session.global_step < last_step:
            batch = next(iterator, None)
            if batch is None and sync is None:
                break
            # -- the step
            contexts = hooks.before_run(run_session) if hooks is not None else None
            if batch is not None:
                loss = None if numpy_step is None else numpy_step(batch)
                if loss is None:
                    if numpy_step is not None:
                        updater.zero_grads()  # it kept them: the backward adds into them
                    logits = network(batch.inputs)
                    assert batch.labels is not None
                    loss = head.loss(logits, batch.labels, batch.weights)
                    backward(loss)  # gradients were cleared by the previous update
                batch_rows = batch.num_rows
            if sync is not None and not sync.all_reduce(batch is not None):
                break  # some rank's input has ended: every rank stops here, none updated
            if gradient_clip_norm is not None:
                rows.materialize()
                clip_grad_norm(params, gradient_clip_norm)
            updater.step()
            session.global_step += 1
            step = session.global_step
            assert loss is not None

            # -- summaries and progress (loss.item() is a device sync: only every N steps)
            if step % config.save_summary_steps == 0:
                value = finite_loss(loss, step)
                writer.scalar("loss", value, step)
                if len(learning_rates) == 1:
                    writer.scalar("learning_rate", next(iter(learning_rates.values())), step)
                else:
                    for part, rate in learning_rates.items():
                        writer.scalar(f"learning_rate/{part}", rate, step)
            steps_per_sec = progress.step(
                step,
                batch_rows if batch is not None else 0,
                functools.partial(finite_loss, loss, step),
            )
            if steps_per_sec is not None:  # every log_step_count_steps
                writer.scalar("global_step/sec", steps_per_sec, step)
            if contexts is not None:
                assert hooks is not None
                hooks.after_run(contexts, value_of)

            # -- checkpoints (the chief's only)
            due_steps = config.save_checkpoints_steps and step % config.save_checkpoints_steps == 0
            secs = config.checkpoint_secs
            due_time = secs is not None and time.monotonic() - last_save_time >= secs
            if chief and (due_steps or due_time):
                finite_loss(loss, step)  # never checkpoint a diverged model
                _save(session, model_dir, config, hooks, run_session)
                writer.flush()
                last_saved, last_save_time = step, time.monotonic()
            if hooks is not None and hooks.stop_requested:
                break
        if chief and (session.global_step != last_saved or session.global_step == start_step):
            if loss is not None:
                finite_loss(loss, session.global_step)
            _save(session, model_dir, config, hooks, run_session)
    if loss is not None and chief and not config.quiet:
        report(config.quiet, f"Loss for final step: {number(finite_loss(loss, 0))}.")
    if hooks is not None:
        hooks.end(run_session, session.global_step)
    return session.global_step - start_step


def _params_of(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _save(
    session: TrainingSession,
    model_dir: str,
    config: RunConfig,
    hooks: Hooks | None,
    run_session: RunSession,
) -> None:
    """A checkpoint, with the saving listeners called around it."""
    if hooks is not None:
        hooks.before_save(run_session, session.global_step)
    session.save(model_dir, config.keep_checkpoint_max)
    if hooks is not None:
        hooks.after_save(run_session, session.global_step)


def finite_loss(loss: torch.Tensor | numpy_steps.Loss, step: int) -> float:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NanLossDuringTrainingError(
            f"Model diverged with loss = {value} at step {step}; lower the learning rate or "
            "check the inputs for extreme values."
        )
    return value
