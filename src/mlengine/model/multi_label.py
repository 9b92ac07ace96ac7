"""tf.estimator's ``MultiLabelHead``: each example may belong to any number of classes.

One logit per class, sigmoid cross-entropy per class averaged over the classes (TF's unreduced
loss is the mean over the last axis), predictions ``logits`` and ``probabilities`` (one
sigmoid per class). Labels are multi-hot ``[n, n_classes]`` 0/1 values, or, with a
``label_vocabulary``, one list of class names per example (TF's sparse string labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from mlengine.errors import DataError, InvalidParameterError, located
from mlengine.model.heads import (
    LABEL,
    SUM_OVER_BATCH_SIZE,
    Head,
    OnnxOutputs,
    PredictionKeys,
    as_float64,
    check_thresholds,
    functional,
    onnx_logits_and,
    stable_sigmoid,
)

if TYPE_CHECKING:
    import torch

    from mlengine.feature_column.onnx_graph import OnnxGraph


class MultiLabelHead(Head):
    """``tf.estimator.MultiLabelHead(n_classes, weight_column, thresholds, label_vocabulary,
    loss_reduction, name)``."""

    kind = "multi_label"
    prediction_keys = (PredictionKeys.LOGITS, PredictionKeys.PROBABILITIES)

    def __init__(
        self,
        n_classes: int,
        weight_column: Any = None,
        thresholds: Sequence[float] | None = None,
        label_vocabulary: list[str] | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        name: str | None = None,
    ):
        super().__init__(loss_reduction, weight_column, name)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise InvalidParameterError(
                f"The 'n_classes' parameter of MultiLabelHead must be an int >= 2. "
                f"Got {n_classes!r} instead."
            )
        if label_vocabulary is not None:
            vocab = list(label_vocabulary)
            if (
                not all(isinstance(v, str) for v in vocab)
                or len(set(vocab)) != len(vocab)
                or len(vocab) != n_classes
            ):
                raise InvalidParameterError(
                    "The 'label_vocabulary' parameter of MultiLabelHead must be a list of "
                    f"n_classes={n_classes} distinct strings. Got {label_vocabulary!r} instead."
                )
            label_vocabulary = vocab
        self.n_classes = n_classes
        self.logits_dimension = n_classes
        self.label_vocabulary = label_vocabulary
        self.thresholds = check_thresholds(thresholds)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "kind": self.kind,
            "n_classes": self.n_classes,
            "label_vocabulary": self.label_vocabulary,
            **self._common_config(),
        }
        if self.thresholds:
            config["thresholds"] = list(self.thresholds)
        return config

    def encode_labels(self, labels: Any) -> np.ndarray:
        """Multi-hot float32 ``[n, n_classes]``."""
        if self.label_vocabulary is not None:
            return self._from_names(labels)
        if isinstance(labels, pa.Array | pa.ChunkedArray):
            labels = labels.to_pylist()
        try:
            values = np.asarray(labels, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(
                f"Multi-label labels must be 0/1 arrays of shape [n, {self.n_classes}] (or "
                "lists of class names with a label_vocabulary)."
            ) from None
        if values.ndim != 2 or values.shape[1] != self.n_classes:
            raise DataError(
                f"Multi-label labels must have shape [n, {self.n_classes}]; got {values.shape}."
            )
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            error = DataError(
                f"Labels of example {row} must be 0 or 1 per class; got {values[row].tolist()}."
            )
            raise located(error, row, LABEL, values[row].tolist(), "not 0 or 1 per class")
        return values.astype(np.float32)

    def _from_names(self, labels: Any) -> np.ndarray:
        assert self.label_vocabulary is not None
        rows = labels.to_pylist() if isinstance(labels, pa.Array | pa.ChunkedArray) else labels
        index = {name: i for i, name in enumerate(self.label_vocabulary)}
        out = np.zeros((len(rows), self.n_classes), dtype=np.float32)
        for row, names in enumerate(rows):
            if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
                error = DataError(
                    f"Labels of example {row} must be a list of class names; got {names!r}."
                )
                raise located(error, row, LABEL, names, "not a list of class names")
            for name in names:
                column = index.get(str(name).strip())
                if column is None:
                    reason = f"not in label_vocabulary {self.label_vocabulary}"
                    error = DataError(f"Label {name!r} of example {row} is {reason}.")
                    raise located(error, row, LABEL, name, reason)
                out[row, column] = 1.0
        return out

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.to(logits.dtype).reshape(logits.shape)
        per_class = functional().binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return per_class.mean(dim=1)

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = as_float64(logits).reshape(-1, self.n_classes)
        return {PredictionKeys.LOGITS: z, PredictionKeys.PROBABILITIES: stable_sigmoid(z)}

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        return onnx_logits_and(
            graph, logits, self.n_classes, PredictionKeys.PROBABILITIES, "Sigmoid"
        )


__all__ = ["MultiLabelHead"]
