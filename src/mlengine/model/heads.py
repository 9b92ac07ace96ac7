"""Heads: turn logits into a loss, predictions and label ids, apart from any network.

A head knows its task (binary, multiclass, regression), its labels (``label_vocabulary``) and
the ``loss_reduction``; networks only produce logits. This is tf.estimator's split, so N networks
and M heads make N x M estimators without N x M classes.

Predictions are numpy; only the losses need torch, which is imported on the first loss: a
serving process, which computes none, never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import torch

    from mlengine.feature_column.onnx_graph import OnnxGraph

from mlengine.errors import DataError, InvalidParameterError, located

OnnxOutputs = dict[str, tuple[str, str, list[int]]]
"""A head's predictions in an ONNX graph: output key -> (tensor, dtype, shape)."""

SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
SUM = "sum"
LOSS_REDUCTIONS = (SUM_OVER_BATCH_SIZE, SUM)


# The column a label error names (errors.located): the pipeline, which knows the label
# column's name (an input function's label_key), puts it there.
LABEL = "<label>"


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


def _weight_key(value: Any) -> str | None:
    """A weight column given as a feature key or a numeric_column, as its key."""
    if value is None:
        return None
    key = getattr(value, "key", value)
    if isinstance(key, str) and key:
        return key
    raise InvalidParameterError(
        "The 'weight_column' parameter must be None, a feature key or a numeric_column. "
        f"Got {value!r} instead."
    )


def _head_name(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value and "/" not in value):
        return value
    raise InvalidParameterError(
        f"The 'name' parameter of a head must be None or a non-empty string without '/'. "
        f"Got {value!r} instead."
    )


# Set by mlengine.estimator.custom when it is imported: builds an EstimatorSpec for
# Head.create_estimator_spec. The estimator layer sits above this one, so it plugs itself in.
spec_builder: Any = None


class Head:
    """Base head. ``logits_dimension`` is what the network must output per example.

    ``weight_column`` (a feature key) and ``name`` are what tf.estimator's public heads take:
    a custom estimator reads example weights from the feature of that key, and a named head
    suffixes its metric keys with ``/<name>``. The canned estimators keep their own
    ``weight_column`` and leave both None, so their model specs are unchanged.
    """

    kind = ""
    logits_dimension = 1
    prediction_keys: tuple[str, ...] = ()

    def __init__(
        self,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        weight_column: Any = None,
        name: str | None = None,
    ):
        self.loss_reduction = _normalise_reduction(loss_reduction)
        self.weight_column = _weight_key(weight_column)
        self.name = _head_name(name)

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _common_config(self) -> dict[str, Any]:
        """``loss_reduction``, and ``weight_column`` / ``name`` only when set."""
        common: dict[str, Any] = {"loss_reduction": self.loss_reduction}
        if self.weight_column is not None:
            common["weight_column"] = self.weight_column
        if self.name is not None:
            common["name"] = self.name
        return common

    def create_estimator_spec(
        self,
        features: Any,
        mode: str,
        logits: torch.Tensor,
        labels: Any = None,
        optimizer: Any = None,
        train_op_fn: Any = None,
        regularization_losses: Any = None,
    ) -> Any:
        """tf.estimator's ``Head.create_estimator_spec``: the loss, predictions, metrics,
        export outputs and (with ``optimizer`` or ``train_op_fn``) train op of ``logits``.

        For use in a ``model_fn`` of :class:`mlengine.estimator.Estimator`.
        """
        if spec_builder is None:
            from mlengine.errors import NotSupportedError

            raise NotSupportedError(
                "Head.create_estimator_spec needs mlengine.estimator (import it first)."
            )
        return spec_builder(
            self, features, mode, logits, labels, optimizer, train_op_fn, regularization_losses
        )

    def encode_labels(self, labels: Any) -> np.ndarray:
        """Raw labels (array-like) to the numeric array the loss takes; bad labels raise."""
        raise NotImplementedError

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-example loss ``[n]``."""
        raise NotImplementedError

    def metric_inputs(self, logits: torch.Tensor) -> torch.Tensor:
        """What evaluation's metrics take for these logits: the logits themselves, except for
        a regression head that rescales its outputs (its predictions)."""
        return logits

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

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        """:meth:`predictions` as ONNX nodes over float32 ``logits`` ``[n, logits_dimension]``
        (float64 arithmetic, as the numpy predictions), for portable exports."""
        from mlengine.errors import NotSupportedError

        raise NotSupportedError(f"The {self.kind!r} head has no ONNX expression.")


def onnx_logits_and(
    graph: OnnxGraph, logits: str, width: int, key: str, op_type: str
) -> OnnxOutputs:
    """The float64 ``logits`` and ``op_type(logits)`` under ``key``: the ONNX predictions of
    the heads whose outputs are their logits and one elementwise function of them."""
    z = graph.cast(logits, "float64")
    shape = [-1, width]
    return {
        PredictionKeys.LOGITS: (z, "float64", shape),
        key: (str(graph.op(op_type, z)), "float64", shape),
    }


def functional() -> ModuleType:
    """``torch.nn.functional`` (imported by the first loss; then a dictionary lookup)."""
    import torch.nn.functional

    return torch.nn.functional


def as_float64(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Logits as float64 numpy: predictions are computed in numpy, whose per-call cost is
    lower than torch's on the few rows of a serving request."""
    if isinstance(logits, np.ndarray):
        return logits.astype(np.float64)
    return logits.detach().cpu().double().numpy()


def stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow for any ``z``."""
    return np.exp(-np.logaddexp(0.0, -z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def labels_array(labels: Any) -> pa.Array:
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
        weight_column: Any = None,
        name: str | None = None,
    ):
        super().__init__(loss_reduction, weight_column, name)
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
            **self._common_config(),
        }

    def encode_labels(self, labels: Any) -> np.ndarray:
        arr = labels_array(labels)
        if arr.null_count:
            row = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
            error = DataError(f"Label of example {row} is missing.")
            raise located(error, row, LABEL, None, "a missing label")
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
                value = stripped[row].as_py()
                reason = f"not in label_vocabulary {self.label_vocabulary}"
                error = DataError(f"Label {value!r} of example {row} is {reason}.")
                raise located(error, row, LABEL, value, reason)
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
            reason = f"not a class id in [0, {self.n_classes})"
            error = DataError(f"Label {shown} of example {row} is {reason}.")
            raise located(error, row, LABEL, shown, reason)
        return values.astype(np.int64)

    def _class_outputs(self, class_ids: np.ndarray) -> dict[str, np.ndarray]:
        return {
            PredictionKeys.CLASS_IDS: class_ids.reshape(-1, 1),
            PredictionKeys.CLASSES: self.class_names[class_ids].reshape(-1, 1),
        }

    def _onnx_class_outputs(self, graph: OnnxGraph, class_ids: str) -> OnnxOutputs:
        """``class_ids`` ``[n, 1]`` and the class names they index."""
        names = graph.const(self.class_names, "class_names")
        return {
            PredictionKeys.CLASS_IDS: (class_ids, "int64", [-1, 1]),
            PredictionKeys.CLASSES: (str(graph.op("Gather", names, class_ids)), "string", [-1, 1]),
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
        self,
        label_vocabulary: list[str] | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        weight_column: Any = None,
        thresholds: Sequence[float] | None = None,
        name: str | None = None,
    ):
        super().__init__(2, label_vocabulary, loss_reduction, weight_column, name)
        self.thresholds = check_thresholds(thresholds)

    def config(self) -> dict[str, Any]:
        config = super().config()
        if self.thresholds:
            config["thresholds"] = list(self.thresholds)
        return config

    def encode_labels(self, labels: Any) -> np.ndarray:
        """0/1 as float32: the dtype the loss takes, so no conversion runs per step."""
        return super().encode_labels(labels).astype(np.float32)

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional().binary_cross_entropy_with_logits(
            logits.view(-1), labels.to(logits.dtype), reduction="none"
        )

    def loss(
        self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        if weights is None and self.loss_reduction == SUM_OVER_BATCH_SIZE:
            # The common case in one kernel (and one autograd node).
            return functional().binary_cross_entropy_with_logits(
                logits.view(-1), labels, reduction="mean"
            )
        return super().loss(logits, labels, weights)

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = as_float64(logits).reshape(-1, 1)
        p = stable_sigmoid(z)
        out = self._class_outputs((p[:, 0] > 0.5).astype(np.int64))
        out[PredictionKeys.LOGISTIC] = p
        out[PredictionKeys.LOGITS] = z
        out[PredictionKeys.PROBABILITIES] = np.concatenate([1.0 - p, p], axis=1)
        return out

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        z = graph.cast(logits, "float64")
        p = str(graph.op("Sigmoid", z))
        class_ids = graph.cast(str(graph.op("Greater", p, graph.const(0.5, "half"))), "int64")
        out = self._onnx_class_outputs(graph, class_ids)
        out[PredictionKeys.LOGISTIC] = (p, "float64", [-1, 1])
        out[PredictionKeys.LOGITS] = (z, "float64", [-1, 1])
        complement = graph.op("Sub", graph.const(1.0, "one"), p)
        probabilities = str(graph.op("Concat", complement, p, axis=1))
        out[PredictionKeys.PROBABILITIES] = (probabilities, "float64", [-1, 2])
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
        weight_column: Any = None,
        name: str | None = None,
    ):
        super().__init__(n_classes, label_vocabulary, loss_reduction, weight_column, name)
        self.logits_dimension = n_classes

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional().cross_entropy(logits, labels.long(), reduction="none")

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = as_float64(logits)
        p = _softmax(z)
        out = self._class_outputs(p.argmax(axis=1).astype(np.int64))
        out[PredictionKeys.LOGITS] = z
        out[PredictionKeys.PROBABILITIES] = p
        return out

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        z = graph.cast(logits, "float64")
        p = str(graph.op("Softmax", z, axis=1))
        out = self._onnx_class_outputs(graph, str(graph.op("ArgMax", p, axis=1, keepdims=1)))
        out[PredictionKeys.LOGITS] = (z, "float64", [-1, self.n_classes])
        out[PredictionKeys.PROBABILITIES] = (p, "float64", [-1, self.n_classes])
        return out


class RegressionHead(Head):
    """Mean squared error over ``label_dimension`` outputs.

    ``label_center`` and ``label_scale`` (not in TensorFlow; 0 and 1 by default) make the
    prediction ``label_center + label_scale * logits``: a network whose outputs start near 0
    then fits labels of any offset and size (house prices, say) at ordinary learning rates.
    The loss and every output stay in the labels' units.
    """

    kind = "regression"
    prediction_keys: tuple[str, ...] = (PredictionKeys.PREDICTIONS,)

    def __init__(
        self,
        label_dimension: int = 1,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        weight_column: Any = None,
        name: str | None = None,
        label_center: float = 0.0,
        label_scale: float = 1.0,
    ):
        super().__init__(loss_reduction, weight_column, name)
        if not (np.isfinite(label_center) and np.isfinite(label_scale) and label_scale > 0):
            raise InvalidParameterError(
                "RegressionHead: label_center must be finite and label_scale positive. Got "
                f"{label_center!r} and {label_scale!r} instead."
            )
        self.label_center = float(label_center)
        self.label_scale = float(label_scale)
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
        config: dict[str, Any] = {
            "kind": self.kind,
            "label_dimension": self.label_dimension,
            **self._common_config(),
        }
        if (self.label_center, self.label_scale) != (0.0, 1.0):  # (older exports lack them)
            config.update(label_center=self.label_center, label_scale=self.label_scale)
        return config

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
            error = DataError(
                f"Label of example {row} is not a finite number: {values[row].tolist()}."
            )
            raise located(error, row, LABEL, values[row].tolist(), "not a finite number")
        return values

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ((self.metric_inputs(logits) - labels) ** 2).mean(dim=1)

    def metric_inputs(self, logits: torch.Tensor) -> torch.Tensor:
        if (self.label_center, self.label_scale) == (0.0, 1.0):
            return logits
        return logits * self.label_scale + self.label_center

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        values = as_float64(logits)
        if (self.label_center, self.label_scale) != (0.0, 1.0):
            values = values * self.label_scale + self.label_center
        return {PredictionKeys.PREDICTIONS: values}

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        predictions = graph.cast(logits, "float64")
        return {PredictionKeys.PREDICTIONS: (predictions, "float64", [-1, self.label_dimension])}


def check_thresholds(thresholds: Sequence[float] | None) -> tuple[float, ...]:
    """The ``thresholds`` of a head (for per-threshold metrics): distinct floats in (0, 1)."""
    if thresholds is None:
        return ()
    values = tuple(thresholds) if isinstance(thresholds, list | tuple) else None
    ok = values is not None and all(
        isinstance(t, int | float) and not isinstance(t, bool) and 0 < t < 1 for t in values
    )
    if not ok or values is None or len(set(values)) != len(values):
        raise InvalidParameterError(
            "The 'thresholds' parameter must be a list of distinct floats in (0, 1). "
            f"Got {thresholds!r} instead."
        )
    return tuple(float(t) for t in values)


def head_from_config(config: dict[str, Any]) -> Head:
    """Rebuild a head from :meth:`Head.config` (used by exports and checkpoints)."""
    from mlengine.model.multi_label import MultiLabelHead
    from mlengine.model.regression_heads import LogisticRegressionHead, PoissonRegressionHead

    kind = config.get("kind")
    common = {
        "loss_reduction": config.get("loss_reduction", SUM_OVER_BATCH_SIZE),
        "weight_column": config.get("weight_column"),
        "name": config.get("name"),
    }
    if kind == BinaryClassHead.kind:
        return BinaryClassHead(
            config.get("label_vocabulary"), thresholds=config.get("thresholds"), **common
        )
    if kind == MultiClassHead.kind:
        return MultiClassHead(config["n_classes"], config.get("label_vocabulary"), **common)
    if kind == RegressionHead.kind:
        return RegressionHead(
            config.get("label_dimension", 1),
            label_center=config.get("label_center", 0.0),
            label_scale=config.get("label_scale", 1.0),
            **common,
        )
    if kind == MultiLabelHead.kind:
        return MultiLabelHead(
            config["n_classes"],
            label_vocabulary=config.get("label_vocabulary"),
            thresholds=config.get("thresholds"),
            **common,
        )
    if kind == PoissonRegressionHead.kind:
        return PoissonRegressionHead(
            config.get("label_dimension", 1),
            compute_full_loss=bool(config.get("compute_full_loss", True)),
            **common,
        )
    if kind == LogisticRegressionHead.kind:
        return LogisticRegressionHead(**common)
    raise InvalidParameterError(f"Unknown head kind {kind!r}.")


def classification_head(
    n_classes: int, label_vocabulary: list[str] | None, loss_reduction: str
) -> ClassificationHead:
    """Binary head for two classes, multiclass otherwise (TF's ``binary_or_multi_class_head``)."""
    if n_classes == 2:
        return BinaryClassHead(label_vocabulary, loss_reduction)
    return MultiClassHead(n_classes, label_vocabulary, loss_reduction)
