"""``warm_start_from``: start training from the weights of a checkpoint, model_dir or export.

As TensorFlow's default ``WarmStartSettings(vars_to_warm_start='.*')``: every weight whose name
and shape match is copied; optimizer state and the global step start fresh. Weights that exist
in only one of the two models keep their initial values, and are listed in a log line.
"""

from __future__ import annotations

import logging
import os

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mlengine.errors import CheckpointError
from mlengine.export.format import MANIFEST_FILE, VARIABLES_FILE
from mlengine.training.checkpoint import latest_checkpoint, load_checkpoint, tensors_under
from mlengine.training.session import MODEL_PREFIX, TrainingSession

logger = logging.getLogger("mlengine")


def source_weights(source: str) -> dict[str, torch.Tensor]:
    """The weights at ``source``: an export directory, a model_dir or a checkpoint prefix."""
    if os.path.isfile(os.path.join(source, MANIFEST_FILE)):
        try:
            return load_file(os.path.join(source, VARIABLES_FILE))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(
                f"warm_start_from={source!r}: cannot read weights ({exc})."
            ) from None
    checkpoint = latest_checkpoint(source) if os.path.isdir(source) else source
    if checkpoint is None:
        raise CheckpointError(
            f"warm_start_from={source!r} holds no checkpoint and is not an export directory."
        )
    tensors, _ = load_checkpoint(checkpoint)
    return tensors_under(tensors, MODEL_PREFIX)


def warm_start(session: TrainingSession, source: str) -> None:
    """Copy matching weights from ``source`` into the session's fresh model."""
    weights = source_weights(source)
    own = session.model.network.state_dict()
    copied, skipped = [], []
    for name, tensor in own.items():
        other = weights.get(name)
        if other is not None and tuple(other.shape) == tuple(tensor.shape):
            with torch.no_grad():
                tensor.copy_(other.to(tensor.device, tensor.dtype))
            copied.append(name)
        else:
            skipped.append(name)
    if not copied:
        raise CheckpointError(
            f"warm_start_from={source!r}: no weight matches this model by name and shape."
        )
    if skipped:
        logger.info("Warm start from %s kept initial values for %s", source, skipped)
