"""Heads: turn logits into a loss, predictions and label ids, apart from any network.

A head knows its task (binary, multiclass, regression), its labels (``label_vocabulary``) and
the ``loss_reduction``; networks only produce logits. This is tf.estimator's split, so N networks
and M heads make N x M estimators without N x M classes.

Predictions are numpy; only the losses need torch, which is imported on the first loss: a
serving process, which computes none, never imports it.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import torch

from mlengine.errors import DataError, InvalidParameterError

SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
SUM = "sum"
LOSS_REDUCTIONS = (SUM_OVER_BATCH_SIZE, SUM)


class PredictionKeys:
    """Output names, as tf.estimator's ``PredictionKeys``."""

    CLASS_IDS = "class_ids"
    CLASSES = "classes"
    LOGISTIC = "logistic"
    LOGITS = "logits"
    PROBABILITIES = "probabilities"
    PREDICTIONS = "predictions"


def _normalise_reduction(value: str) -> str:
    reduction = str(value).lower()
    if reduction not in LOSS_REDUCTIONS:
        raise InvalidParameterError(
            f"The 'loss_reduction' parameter must be one of {LOSS_REDUCTIONS}. "
            f"Got {value!r} instead."
        )
    return reduction


class Head:
    """Base head. ``logits_dimension`` is what the network must output per example."""

    kind = ""
    logits_dimension = 1
    prediction_keys: tuple[str, ...] = ()

    def __init__(self, loss_reduction: str = SUM_OVER_BATCH_SIZE):
        self.loss_reduction = _normalise_reduction(loss_reduction)

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def encode_labels(self, labels: Any) -> np.ndarray:
        """Raw labels (array-like) to the numeric array the loss takes; bad labels raise."""
        raise NotImplementedError

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-example loss ``[n]``."""
        raise NotImplementedError

    def loss(
        self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """The training loss: weighted per-example losses reduced by ``loss_reduction``."""
        per_example = self.unreduced_loss(logits, labels)
        if weights is not None:
            per_example = per_example * weights
        if self.loss_reduction == SUM:
            return per_example.sum()
        return per_example.mean()

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Columnar predictions (one array per key, first axis = examples)."""
        raise NotImplementedError


def _functional() -> ModuleType:
    """``torch.nn.functional`` (imported by the first loss; then a dictionary lookup)."""
    import torch.nn.functional

    return torch.nn.functional


def _float64(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Logits as float64 numpy: predictions are computed in numpy, which costs microseconds
    less than torch per call on the few rows of a serving request."""
    if isinstance(logits, np.ndarray):
        return logits.astype(np.float64)
    return logits.detach().cpu().double().numpy()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow for any ``z``."""
    return np.exp(-np.logaddexp(0.0, -z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _labels_array(labels: Any) -> pa.Array:
    if isinstance(labels, pa.ChunkedArray):
        return labels.combine_chunks()
    if isinstance(labels, pa.Array):
        return labels
    values = np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(f"Labels must have one value per example; got shape {values.shape}.")
    return pa.array(values, from_pandas=True)


class ClassificationHead(Head):
    """Shared label handling of the binary and multiclass heads."""

    def __init__(
        self,
        n_classes: int,
        label_vocabulary: list[str] | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
    ):
        super().__init__(loss_reduction)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise InvalidParameterError(
                f"The 'n_classes' parameter must be an int >= 2. Got {n_classes!r} instead."
            )
        if label_vocabulary is not None:
            vocab = list(label_vocabulary)
            if not all(isinstance(v, str) for v in vocab) or len(set(vocab)) != len(vocab):
                raise InvalidParameterError(
                    "The 'label_vocabulary' parameter must be a list of distinct strings. "
                    f"Got {label_vocabulary!r} instead."
                )
            if len(vocab) != n_classes:
                raise InvalidParameterError(
                    f"The 'label_vocabulary' parameter must have n_classes={n_classes} entries. "
                    f"Got {len(vocab)}."
                )
            if len({v.strip() for v in vocab}) != len(vocab):
                raise InvalidParameterError(
                    "The 'label_vocabulary' parameter must hold strings that differ once "
                    f"stripped of white space (labels are). Got {label_vocabulary!r} instead."
                )
            label_vocabulary = vocab
        self.n_classes = n_classes
        self.label_vocabulary = label_vocabulary
        # Labels are stripped of white space, as features are; so is the vocabulary they are
        # looked up in (the census CSV's labels are " <=50K" and " >50K", and programs pass
        # those). Outputs keep the vocabulary as given, as TF's ``classes`` do.
        self._stripped_vocabulary = None
        if label_vocabulary is not None:
            self._stripped_vocabulary = pa.array([v.strip() for v in label_vocabulary])
        names = label_vocabulary or [str(i) for i in range(n_classes)]
        self.class_names = np.asarray(names, dtype=object)

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_classes": self.n_classes,
            "label_vocabulary": self.label_vocabulary,
            "loss_reduction": self.loss_reduction,
        }

    def encode_labels(self, labels: Any) -> np.ndarray:
        arr = _labels_array(labels)
        if arr.null_count:
            row = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
            raise DataError(f"Label of example {row} is missing.")
        if self.label_vocabulary is not None:
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                raise DataError(
                    "Labels must be strings from label_vocabulary "
                    f"{self.label_vocabulary}; got values of type {arr.type}."
                )
            stripped = pc.utf8_trim_whitespace(arr)
            ids = np.asarray(
                pc.index_in(stripped, value_set=self._stripped_vocabulary).fill_null(-1)
            )
            if (ids < 0).any():
                row = int(np.flatnonzero(ids < 0)[0])
                raise DataError(
                    f"Label {stripped[row].as_py()!r} of example {row} is not in label_vocabulary "
                    f"{self.label_vocabulary}."
                )
            return ids.astype(np.int64)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            raise DataError(
                f"Labels are strings ({arr[0].as_py()!r}, ...) but the estimator has no "
                "label_vocabulary; pass label_vocabulary=[...] or integer labels."
            )
        values = np.asarray(pc.cast(arr, pa.float64()))
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
        bad |= values >= self.n_classes
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = float(values[row])
            shown = int(value) if value.is_integer() else value  # "2", not "np.float64(2.0)"
            raise DataError(
                f"Label {shown} of example {row} is not a class id in [0, {self.n_classes})."
            )
        return values.astype(np.int64)

    def _class_outputs(self, class_ids: np.ndarray) -> dict[str, np.ndarray]:
        return {
            PredictionKeys.CLASS_IDS: class_ids.reshape(-1, 1),
            PredictionKeys.CLASSES: self.class_names[class_ids].reshape(-1, 1),
        }


class BinaryClassHead(ClassificationHead):
    """Logistic regression head: one logit, sigmoid cross-entropy."""

    kind = "binary"
    logits_dimension = 1
    prediction_keys = (
        PredictionKeys.CLASS_IDS,
        PredictionKeys.CLASSES,
        PredictionKeys.LOGISTIC,
        PredictionKeys.LOGITS,
        PredictionKeys.PROBABILITIES,
    )

    def __init__(
        self, label_vocabulary: list[str] | None = None, loss_reduction: str = SUM_OVER_BATCH_SIZE
    ):
        super().__init__(2, label_vocabulary, loss_reduction)

    def encode_labels(self, labels: Any) -> np.ndarray:
        """0/1 as float32: the dtype the loss takes, so no conversion runs per step."""
        return super().encode_labels(labels).astype(np.float32)

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _functional().binary_cross_entropy_with_logits(
            logits.view(-1), labels.to(logits.dtype), reduction="none"
        )

    def loss(
        self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        if weights is None and self.loss_reduction == SUM_OVER_BATCH_SIZE:
            # The common case in one kernel (and one autograd node).
            return _functional().binary_cross_entropy_with_logits(
                logits.view(-1), labels, reduction="mean"
            )
        return super().loss(logits, labels, weights)

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = _float64(logits).reshape(-1, 1)
        p = _sigmoid(z)
        out = self._class_outputs((p[:, 0] > 0.5).astype(np.int64))
        out[PredictionKeys.LOGISTIC] = p
        out[PredictionKeys.LOGITS] = z
        out[PredictionKeys.PROBABILITIES] = np.concatenate([1.0 - p, p], axis=1)
        return out


class MultiClassHead(ClassificationHead):
    """Softmax cross-entropy head over ``n_classes`` logits."""

    kind = "multiclass"
    prediction_keys = (
        PredictionKeys.CLASS_IDS,
        PredictionKeys.CLASSES,
        PredictionKeys.LOGITS,
        PredictionKeys.PROBABILITIES,
    )

    def __init__(
        self,
        n_classes: int,
        label_vocabulary: list[str] | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
    ):
        super().__init__(n_classes, label_vocabulary, loss_reduction)
        self.logits_dimension = n_classes

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _functional().cross_entropy(logits, labels.long(), reduction="none")

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = _float64(logits)
        p = _softmax(z)
        out = self._class_outputs(p.argmax(axis=1).astype(np.int64))
        out[PredictionKeys.LOGITS] = z
        out[PredictionKeys.PROBABILITIES] = p
        return out


class RegressionHead(Head):
    """Mean squared error over ``label_dimension`` outputs."""

    kind = "regression"
    prediction_keys = (PredictionKeys.PREDICTIONS,)

    def __init__(self, label_dimension: int = 1, loss_reduction: str = SUM_OVER_BATCH_SIZE):
        super().__init__(loss_reduction)
        if (
            isinstance(label_dimension, bool)
            or not isinstance(label_dimension, int)
            or label_dimension < 1
        ):
            raise InvalidParameterError(
                "The 'label_dimension' parameter must be an int >= 1. "
                f"Got {label_dimension!r} instead."
            )
        self.label_dimension = label_dimension
        self.logits_dimension = label_dimension

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label_dimension": self.label_dimension,
            "loss_reduction": self.loss_reduction,
        }

    def encode_labels(self, labels: Any) -> np.ndarray:
        if isinstance(labels, pa.Array | pa.ChunkedArray):
            labels = labels.to_numpy(zero_copy_only=False)
        try:
            values = np.asarray(labels, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError("Regression labels must be numbers.") from None
        values = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
        if values.shape[1] != self.label_dimension:
            raise DataError(
                f"Labels have {values.shape[1]} value(s) per example; label_dimension is "
                f"{self.label_dimension}."
            )
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"Label of example {row} is not a finite number: {values[row].tolist()}."
            )
        return values

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ((logits - labels) ** 2).mean(dim=1)

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        return {PredictionKeys.PREDICTIONS: _float64(logits)}


def head_from_config(config: dict[str, Any]) -> Head:
    """Rebuild a head from :meth:`Head.config` (used by exports)."""
    kind = config.get("kind")
    reduction = config.get("loss_reduction", SUM_OVER_BATCH_SIZE)
    if kind == BinaryClassHead.kind:
        return BinaryClassHead(config.get("label_vocabulary"), reduction)
    if kind == MultiClassHead.kind:
        return MultiClassHead(config["n_classes"], config.get("label_vocabulary"), reduction)
    if kind == RegressionHead.kind:
        return RegressionHead(config.get("label_dimension", 1), reduction)
    raise InvalidParameterError(f"Unknown head kind {kind!r}.")


def classification_head(
    n_classes: int, label_vocabulary: list[str] | None, loss_reduction: str
) -> ClassificationHead:
    """Binary head for two classes, multiclass otherwise (TF's ``binary_or_multi_class_head``)."""
    if n_classes == 2:
        return BinaryClassHead(label_vocabulary, loss_reduction)
    return MultiClassHead(n_classes, label_vocabulary, loss_reduction)
