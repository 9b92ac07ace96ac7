"""A model with its optimizers and global step: build, checkpoint and restore it.

The model spec (a JSON dict) is the checkpoint's fingerprint: a model_dir written by another
model is refused with an error that says what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from mlengine.errors import CheckpointError
from mlengine.model import Model, build_model
from mlengine.model.build import load_weights
from mlengine.training.checkpoint import (
    load_checkpoint,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    tensors_under,
)
from mlengine.training.optimizers import OptimizerSpec
from mlengine.training.torch_private import without_dynamo_import

MODEL_PREFIX = "model/"


@dataclass
class TrainingSession:
    """A built model on a device, its optimizers (one per part), and the global step."""

    model: Model
    optimizers: dict[str, torch.optim.Optimizer]
    global_step: int
    device: torch.device
    resumable: bool = True  # False when restored without optimizer and RNG state
    # The training RNG where the last train() left it: train() runs in a fork of the caller's
    # RNG, so a session kept in memory must carry its own stream (dropout) to the next call,
    # as a checkpoint carries it to a restored session.
    rng: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None

    @classmethod
    def create(
        cls,
        spec: dict[str, Any],
        optimizer_specs: dict[str, OptimizerSpec],
        device: torch.device,
        seed: int | None,
    ) -> TrainingSession:
        """A fresh model with TF-style initial weights (seeded when ``seed`` is given)."""
        if seed is not None:
            torch.manual_seed(seed)
        model = build_model(spec)
        model.network.to(device)
        # TF's sparse kernels: lookup tables are updated on the rows a step looked up, by the
        # optimizers that have such kernels (see OptimizerSpec.sparse_updates).
        model.network.use_sparse_gradients(
            part for part, optimizer in optimizer_specs.items() if optimizer.sparse_updates
        )
        optimizers = {}
        with without_dynamo_import():
            for part, params in model.network.parameter_groups().items():
                if params:
                    optimizers[part] = optimizer_specs[part].build(params)
        return cls(model, optimizers, 0, device)

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Every tensor of the session (weights, optimizer state, RNG) and the JSON rest."""
        tensors = {MODEL_PREFIX + k: v for k, v in self.model.network.state_dict().items()}
        structures = {}
        for part, optimizer in self.optimizers.items():
            with without_dynamo_import():
                state = optimizer.state_dict()
            opt_tensors, structure = optimizer_state_to_tensors(state, f"optimizer/{part}/")
            tensors.update(opt_tensors)
            structures[part] = {**structure, "class": type(optimizer).__name__}
        rng_tensors, rng_info = rng_state()
        tensors.update(rng_tensors)
        return tensors, {"optimizers": structures, "rng": rng_info}

    def keep_rng(self) -> None:
        """Remember the RNG state training left (call before leaving train()'s RNG fork)."""
        self.rng = rng_state()

    def resume_rng(self) -> None:
        """Continue the random stream of the last train() on this session, if any."""
        if self.rng is not None:
            restore_rng_state(*self.rng)

    def save(self, model_dir: str, keep_checkpoint_max: int | None) -> str:
        tensors, extra = self.state_tensors()
        manifest = {"model_spec": self.model.spec, **extra}
        return save_checkpoint(model_dir, self.global_step, tensors, manifest, keep_checkpoint_max)

    def restore(self, path: str, *, with_optimizers: bool = True) -> None:
        """Load weights (and optimizer and RNG state) from checkpoint ``path``."""
        tensors, manifest = load_checkpoint(path)
        check_same_model(manifest.get("model_spec"), self.model.spec, path)
        load_weights(self.model, tensors_under(tensors, MODEL_PREFIX), path, CheckpointError)
        if with_optimizers:
            for part, optimizer in self.optimizers.items():
                structure = manifest.get("optimizers", {}).get(part)
                if structure is None:
                    raise CheckpointError(f"Checkpoint {path} has no optimizer state for {part!r}.")
                saved_class = structure.get("class", type(optimizer).__name__)
                if saved_class != type(optimizer).__name__:
                    raise CheckpointError(
                        f"Checkpoint {path} holds {saved_class} state for the {part!r} part, but "
                        f"this estimator's optimizer there is {type(optimizer).__name__}: resume "
                        "with the same optimizer, or train in a new model_dir with "
                        "warm_start_from set to this one."
                    )
                # Hyper-parameters (learning rate, ...) are the estimator's, not the checkpoint's:
                # as in TensorFlow, a changed learning rate applies when training resumes.
                hyper = [
                    {k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups
                ]
                with without_dynamo_import():
                    optimizer.load_state_dict(optimizer_state_from_tensors(tensors, structure))
                for group, current in zip(optimizer.param_groups, hyper, strict=True):
                    group.update(current)
            restore_rng_state(tensors, manifest.get("rng", {}))
        self.resumable = with_optimizers
        self.global_step = int(manifest["global_step"])


def check_same_model(saved: Any, current: dict[str, Any], source: str) -> None:
    """Refuse a checkpoint written by a model of another spec, naming what differs."""
    if saved == json.loads(json.dumps(current)):
        return
    if not isinstance(saved, dict):
        raise CheckpointError(f"{source} does not describe its model; it cannot be restored.")
    differing = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    raise CheckpointError(
        f"{source} was written by another model (it differs in {differing}); use a new "
        "model_dir, or the same estimator parameters and feature columns."
    )
