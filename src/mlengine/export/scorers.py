"""Scorers: an export's model when it is one member rather than a numpy network.

The :class:`~mlengine.export.predictor.Predictor` reads inputs and checks them for every kind
of export; a scorer turns a batch of raw features into the outputs. :func:`scorer_for` picks
one from the member kinds the manifest lists (:mod:`mlengine.export.members`), which are
exclusive (each is the whole model):

* ``"onnx"``: a custom network's ONNX graph, run by onnxruntime (:class:`OnnxScorer`);
* ``"lightgbm"``: boosted trees (:class:`TreeScorer`, :mod:`mlengine.export.lightgbm_model`);
* ``"ensemble"``: the average of member exports (:mod:`mlengine.export.ensemble`).

An export with none of them is a network in ``variables/``, which the Predictor runs itself
(numpy, or torch for an activation numpy lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlengine import tuning
from mlengine.errors import ExportFormatError, FeatureError, MLEngineError
from mlengine.export import ensemble, lightgbm_model
from mlengine.export.members import MEMBERS_KEY, read_member
from mlengine.export.onnx_runtime import OnnxNetwork
from mlengine.feature_column import FeatureTransformer, from_config
from mlengine.feature_column.encoding import RawBatch, count_rows
from mlengine.feature_column.memory import ValueMemory
from mlengine.feature_column.row_encoder import RowEncoder
from mlengine.feature_column.transform import transform_all
from mlengine.limits import ExportLimits
from mlengine.model.heads import Head, head_from_config
from mlengine.model.trees import TreeInputs

#: What rebuilding a model from a crafted spec may raise (a column whose fields have the wrong
#: types fails where they are used): each is an invalid export, never a crash.
SPEC_ERRORS = (
    MLEngineError,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    RuntimeError,
    ArithmeticError,
)


def spec_error(where: str, error: Exception) -> ExportFormatError:
    """The error for a model spec that cannot be read (``error`` says why)."""
    kind = "" if isinstance(error, MLEngineError | ValueError) else f"{type(error).__name__}: "
    return ExportFormatError(f"{where}: the model spec is invalid: {kind}{error}")


def spec_head(root: str, spec: Mapping[str, Any]) -> Head:
    """The head of a spec, or an ExportFormatError naming the export."""
    try:
        return head_from_config(spec["head"])
    except SPEC_ERRORS as exc:
        raise spec_error(root, exc) from None


class Scorer(Protocol):
    """Raw features to the export's outputs (one array per key, first axis = rows)."""

    @property
    def head(self) -> Head | None:
        """The head that renders the outputs (None: a custom network's own outputs)."""

    @property
    def output_keys(self) -> list[str]:
        """The keys :meth:`predict` returns, in the signature's order."""

    @property
    def few_rows_inline(self) -> bool:
        """Whether a few rows take microseconds, so the server may run them inline."""

    @property
    def checks_signature(self) -> bool:
        """Whether the manifest's signature must be the one the spec's columns and head give
        (validate.check_signature): an ensemble's is its members' union, a custom graph's
        has inputs of its own."""

    @property
    def model_bytes(self) -> int:
        """Memory held beyond what the manifest's member files and lists account for (an
        ensemble: its members' own budgets)."""

    def predict(self, features: RawBatch, memory: ValueMemory) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class Attributions:
    """A model's own attributions of its raw outputs (TreeSHAP for boosted trees).

    ``values[i, k, j]``: raw feature ``names[j]``'s share of instance ``i``'s raw output ``k``
    (a logit; a regressor's prediction before its head's link); ``expected[i, k]``: the
    baseline, so that ``expected + values.sum(-1) == outputs`` up to float rounding.
    """

    method: str
    names: list[str]
    values: np.ndarray
    expected: np.ndarray
    outputs: np.ndarray


class OnnxScorer:
    """A custom network: feature transformers from the spec, the graph in onnxruntime."""

    #: The graph runs in an onnxruntime session (hundreds of microseconds a call, outside the
    #: GIL): the server batches it like any vectorised model.
    few_rows_inline = False
    checks_signature = False
    model_bytes = 0

    def __init__(self, root: str, entry: Mapping[str, Any], spec: Mapping[str, Any]):
        try:
            head_config = spec.get("head")
            self.head: Head | None = None if head_config is None else head_from_config(head_config)
            self.modules = [
                (
                    str(module["name"]),
                    FeatureTransformer(
                        [from_config(c, "feature_modules") for c in module["columns"]],
                        sparse_combiner=module.get("sparse_combiner", "sum"),
                    ),
                )
                for module in spec.get("feature_modules", [])
            ]
            self.direct = sorted(spec.get("direct_inputs", {}))
        except SPEC_ERRORS as exc:
            raise spec_error(root, exc) from None
        where = f"{root}: member 'onnx'"
        self.network = OnnxNetwork(read_member(root, entry, where), entry, where)
        self.output_keys = (
            list(self.head.prediction_keys) if self.head is not None else list(self.network.outputs)
        )

    def predict(self, features: RawBatch, memory: ValueMemory) -> dict[str, np.ndarray]:
        encoded = transform_all([t for _, t in self.modules], features, memory)
        direct = {}
        for key in self.direct:
            try:
                direct[key] = np.asarray(features[key], dtype=np.float32).reshape(-1)
            except (TypeError, ValueError):
                raise FeatureError(f"Feature {key!r} must be numbers.") from None
        outputs = self.network(self.modules, encoded, direct)
        if self.head is not None:
            return self.head.predictions(outputs["logits"])
        return outputs


class TreeScorer:
    """A LightGBM booster over its feature columns' matrix."""

    #: A few rows take the row encoder and one booster call (tens of microseconds): the
    #: server may run them inline, as a network's row path.
    few_rows_inline = True
    checks_signature = True
    model_bytes = 0

    def __init__(self, root: str, entry: Mapping[str, Any], spec: Mapping[str, Any]):
        self.head = spec_head(root, spec)
        self.output_keys = list(self.head.prediction_keys)
        try:
            self.inputs = TreeInputs.from_spec(spec)
        except (MLEngineError, ValueError, TypeError, KeyError) as exc:
            raise spec_error(root, exc) from None
        self.booster = lightgbm_model.read_lightgbm_model(root, entry)
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
        return self._raw(self._matrix(features, memory))

    def _raw(self, x: np.ndarray) -> np.ndarray:
        # One thread: a server runs one model call per core already.
        raw = self.booster.predict(x, raw_score=True, num_threads=1)
        return np.asarray(raw, dtype=np.float64).reshape(len(x), -1)

    def predict(self, features: RawBatch, memory: ValueMemory) -> dict[str, np.ndarray]:
        return self.head.predictions(self.logits(features, memory))

    def attributions(self, features: RawBatch, memory: ValueMemory) -> Attributions:
        """TreeSHAP (LightGBM's ``pred_contrib``: exact, path-dependent): each LightGBM
        feature's contribution to each raw output, summed onto the raw features it is computed
        from (:meth:`TreeInputs.raw_share`); the baseline is the trees' expected raw output
        over their training data (the leaves' cover)."""
        x = self._matrix(features, memory)
        contributions = np.asarray(
            self.booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64
        ).reshape(len(x), -1, len(self.inputs.feature_names) + 1)
        # (LightGBM: per class, one block of the features' contributions + the expected value)
        names = list(self.inputs.raw_keys)
        values = contributions[:, :, :-1] @ self.inputs.raw_share(names)
        return Attributions("tree_shap", names, values, contributions[:, :, -1], self._raw(x))


def _ensemble(
    root: str, entry: Mapping[str, Any], spec: Mapping[str, Any], limits: ExportLimits
) -> Scorer:
    return ensemble.read_ensemble(root, entry, spec_head(root, spec), limits)


ScorerReader = Callable[[str, Mapping[str, Any], Mapping[str, Any], ExportLimits], Scorer]
"""Reads one member kind: ``(root, entry, spec, limits)``."""


def _member(cls: Callable[[str, Mapping[str, Any], Mapping[str, Any]], Scorer]) -> ScorerReader:
    """A reader of one file member: what it holds is sized by the manifest (no limits)."""
    return lambda root, entry, spec, limits: cls(root, entry, spec)


#: The member kinds that are a whole model, and how each is read (entry already checked;
#: an ensemble's member exports are each loaded within what is left of ``limits``).
SCORERS: dict[str, ScorerReader] = {
    "onnx": _member(OnnxScorer),
    lightgbm_model.MEMBER: _member(TreeScorer),
    ensemble.MEMBER: _ensemble,
}


def scorer_for(
    root: str,
    manifest: Mapping[str, Any],
    spec: Mapping[str, Any],
    limits: ExportLimits | None = None,
) -> Scorer | None:
    """The scorer of the one model member of a checked manifest, or None for a network in
    ``variables/``.

    An ``onnx`` member is the model of a custom network (its spec says ``"network": "onnx"``);
    beside a network that numpy runs it is a portable copy for other runtimes, which the
    Predictor does not need. Two model members, or a custom network's spec without its graph,
    are refused: either would leave the export's predictions ambiguous.
    """
    members = manifest.get(MEMBERS_KEY, {})
    custom = spec.get("network") == "onnx"
    present = [kind for kind in SCORERS if kind in members and (kind != "onnx" or custom)]
    if len(present) > 1:
        raise ExportFormatError(
            f"{root}: members {present} are each a whole model; an export holds one."
        )
    if custom and present != ["onnx"]:
        raise ExportFormatError(f"{root!r}: a custom network's export has no 'onnx' member.")
    if not present:
        return None
    reader = SCORERS[present[0]]
    return reader(root, members[present[0]], spec, limits or ExportLimits.from_env())
