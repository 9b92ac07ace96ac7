"""What one evaluation records for the evidence: :class:`EvidenceCollector`, fed batch by
batch beside the metrics, and the record it gives (step, finite metrics, curves, instances)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mlengine.export.evidence import MAX_CLASSES, MAX_KEYS, MAX_TEXT
from mlengine.model.heads import Head
from mlengine.training.evidence.curves import binary_curves, residual_deciles
from mlengine.training.evidence.instances import first_instances

logger = logging.getLogger("mlengine")

_REGRESSION_KINDS = ("regression", "poisson_regression", "logistic_regression")


def _head_labels(head: Head) -> list[str]:
    """A classifier's class names: its label_vocabulary, else "0", "1", ..."""
    return [str(name) for name in getattr(head, "class_names", [])]


class EvidenceCollector:
    """What one evaluation records for the evidence, fed batch by batch beside the metrics.

    A binary head keeps nothing here (its metric state already holds every score); a
    multi-class head a confusion matrix (``n_classes``² counts); a regressor of one label
    dimension its predictions and labels (16 bytes an example, for the deciles). The first
    features seen give the real instances.
    """

    def __init__(self, head: Head, input_names: Iterable[str]):
        self.head = head
        self.input_names = sorted(input_names)
        self.instances: list[dict[str, Any]] = []
        self._seen_features = False
        k = head.logits_dimension
        self._confusion = (
            np.zeros((k, k), dtype=np.int64)
            if head.kind == "multiclass" and k <= MAX_CLASSES
            else None
        )
        self._regression: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = (
            [] if head.kind in _REGRESSION_KINDS and k == 1 else None
        )

    def see_features(self, features: Mapping[str, Any]) -> None:
        """Keep the first real instances (called with each raw batch; only the first counts)."""
        if self._seen_features:
            return
        self._seen_features = True
        try:
            self.instances = first_instances(features, self.input_names)
        except Exception as exc:  # noqa: BLE001 - instances are a nicety, never a failure
            logger.debug("No instances recorded for the evidence: %s", exc)

    def update(self, logits: Tensor, labels: Tensor, weights: Tensor | None) -> None:
        """Add one batch (the head's logits and encoded labels)."""
        if self._confusion is None and self._regression is None:
            return
        z = logits.detach().to("cpu", torch.float64)
        n = z.shape[0]
        w = (
            np.ones(n)
            if weights is None
            else weights.detach().reshape(n).to("cpu", torch.float64).numpy()
        )
        if self._confusion is not None:
            k = self._confusion.shape[0]
            y = labels.detach().reshape(n).to("cpu").long().numpy()
            predicted = z.reshape(n, k).argmax(1).numpy()
            valid = (y >= 0) & (y < k)
            self._confusion += np.bincount(
                y[valid] * k + predicted[valid], minlength=k * k
            ).reshape(k, k)
        if self._regression is not None:
            link: Callable[[Tensor], Tensor] | None = getattr(self.head, "inverse_link", None)
            predictions = (link(z) if link is not None else z).reshape(n).numpy()
            y_reg = labels.detach().reshape(n).to("cpu", torch.float64).numpy()
            self._regression.append((predictions, y_reg, w))

    def curves(self, metric_state: Mapping[str, Tensor] | None) -> dict[str, Any]:
        """The curves this evaluation allows (``metric_state``: the head's metric state,
        whose ``scores``/``labels``/``weights`` give a binary head's curves)."""
        if self.head.kind == "binary" and metric_state is not None and "scores" in metric_state:
            return binary_curves(
                metric_state["scores"],
                metric_state["labels"] > 0.5,
                metric_state["weights"],
                _head_labels(self.head),
            )
        if self._confusion is not None:
            return {
                "confusion": {
                    "threshold": None,
                    "labels": [str(v)[:MAX_TEXT] for v in _head_labels(self.head)],
                    "matrix": self._confusion.tolist(),
                }
            }
        if self._regression:
            predictions, labels, weights = (
                np.concatenate(p) for p in zip(*self._regression, strict=True)
            )
            return {"residuals": residual_deciles(predictions, labels, weights)}
        return {}

    def record(
        self,
        metrics: Mapping[str, Any],
        global_step: int,
        metric_state: Mapping[str, Tensor] | None,
    ) -> dict[str, Any]:
        """The evaluation's record: its step, metrics, curves and instances."""
        try:
            curves = self.curves(metric_state)
        except Exception as exc:  # noqa: BLE001 - a curve must never fail an evaluation
            logger.warning("No curves recorded for the evidence: %s", exc)
            curves = {}
        return {
            "global_step": int(global_step),
            "metrics": finite_metrics(metrics),
            "curves": curves,
            "instances": self.instances,
        }


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric metrics (``global_step`` is recorded apart)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key == "global_step" or isinstance(value, bool) or len(out) >= MAX_KEYS:
            continue
        if isinstance(value, int | float | np.number) and math.isfinite(float(value)):
            out[str(key)[:MAX_TEXT]] = float(value)
    return out
