"""Scorers for exports that are not a network: boosted trees and ensembles.

The :class:`~mlengine.export.predictor.Predictor` reads inputs, checks them and renders the
head's outputs for every kind of export; a scorer only turns a batch of raw features into
logits. :func:`scorer_for` picks one from the manifest's members: ``"lightgbm"``
(:mod:`mlengine.export.lightgbm_model`) or ``"ensemble"`` (:mod:`mlengine.export.ensemble`);
an export with neither is a network, which the Predictor runs itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from mlengine import tuning
from mlengine.errors import ExportFormatError, MLEngineError
from mlengine.export import ensemble, lightgbm_model
from mlengine.feature_column.encoding import RawBatch, count_rows
from mlengine.feature_column.memory import ValueMemory
from mlengine.feature_column.row_encoder import RowEncoder
from mlengine.model.trees import TreeInputs


class Scorer(Protocol):
    """Raw features to logits ``[n, logits_dimension]``."""

    def logits(self, features: RawBatch, memory: ValueMemory) -> np.ndarray: ...


class TreeScorer:
    """A LightGBM booster over its feature columns' matrix."""

    #: A few rows take the row encoder and one booster call (tens of microseconds): the
    #: server may run them inline, as a network's row path.
    few_rows_inline = True

    def __init__(self, root: str, manifest: Mapping[str, Any], spec: Mapping[str, Any]):
        try:
            self.inputs = TreeInputs.from_spec(spec)
        except (MLEngineError, ValueError, TypeError, KeyError) as exc:
            raise ExportFormatError(f"{root}: the model spec is invalid: {exc}") from None
        self.booster = lightgbm_model.read_lightgbm_model(root, manifest)
        if self.booster.num_feature() != len(self.inputs.feature_names):
            raise ExportFormatError(
                f"{root}: the trees read {self.booster.num_feature()} features, the columns "
                f"give {len(self.inputs.feature_names)}."
            )

        self._rows: RowEncoder | None = None

    def _matrix(self, features: RawBatch, memory: ValueMemory) -> np.ndarray:
        """The vectorised transform, or for a few plain rows (a dict of lists, as the
        Predictor gives them) the row path: 10x faster for one instance, the same values."""
        n = count_rows(features)
        if n <= tuning.ROW_PATH_ROWS and type(features) is dict:
            if self._rows is None:
                self._rows = RowEncoder([self.inputs.transformer], memory)
            if self._rows.supported:
                encoded = self._rows.encode_columns(features, n)
                if encoded is not None and encoded[0] is not None:
                    first = encoded[0]
                    return self.inputs.matrix_of(
                        first.sparse_ids, first.sparse_weights, first.dense
                    )
        return self.inputs.matrix(features, memory)

    def logits(self, features: RawBatch, memory: ValueMemory) -> np.ndarray:
        x = self._matrix(features, memory)
        # One thread: a server runs one model call per core already.
        raw = self.booster.predict(x, raw_score=True, num_threads=1)
        return np.asarray(raw, dtype=np.float64).reshape(count_rows(features), -1)


def scorer_for(root: str, manifest: Mapping[str, Any], spec: Mapping[str, Any]) -> Scorer | None:
    """The scorer of an export's member, or None for a network (variables.safetensors)."""
    if lightgbm_model.MANIFEST_KEY in manifest:
        return TreeScorer(root, manifest, spec)
    if ensemble.MANIFEST_KEY in manifest:
        return ensemble.read_ensemble(root, manifest)
    return None
