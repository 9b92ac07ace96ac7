"""Portable exports: a canned model as one ONNX graph, raw features in, predictions out.

``export_saved_model(..., export_onnx=True)`` adds ``model.onnx`` to a canned estimator's
export (the ``onnx`` member, ``"takes": "raw"``), for runtimes outside Python: onnxruntime's
C++, C#, Java and JavaScript packages, mobile builds. The graph is the feature columns'
ONNX expressions (:mod:`mlengine.feature_column.onnx_graph`: what it takes, and how it strips
strings), the network's forward (:mod:`mlengine.model.onnx_network`) and the head's predictions
(``Head.onnx_predictions``), under the Predictor's output names.

Columns that need mlengine's stable hash (hash buckets, crosses, vocabularies with several
out-of-vocabulary buckets) come in as **id inputs** ``ids/<column>`` computed by mlengine:
:meth:`mlengine.export.Predictor.onnx_inputs` gives every input of the graph for a batch of
instances, id inputs included. The manifest lists each input with its ``role`` (``feature`` or
``ids``) and a description.

Before the graph is written, onnxruntime runs it on synthetic instances and must give the
model's predictions: logits within :func:`logits_error_bound` (two float32 evaluations of the
same network differ by rounding alone, bounded from the weights and activations), the head's
outputs equal to the head's own on those logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import NotSupportedError
from mlengine.export.format import signature_inputs
from mlengine.feature_column import EmbeddingSpec, FeatureTransformer
from mlengine.feature_column.encoding import RawBatch
from mlengine.feature_column.onnx_graph import ONNX_OPSET, OnnxGraph, encode, onnx_inputs
from mlengine.feature_column.serialization import column_configs
from mlengine.feature_column.transform import EncodedFeatures, count_rows, transform_all
from mlengine.model.heads import Head
from mlengine.model.numpy_network import NumpyNetwork, dnn_layers
from mlengine.model.onnx_network import network_logits

if TYPE_CHECKING:
    from mlengine.export.predictor import Predictor

ONNX_FILE = "model.onnx"
UNIT_ROUNDOFF = 2.0**-24  # float32's unit roundoff u

Weights = Mapping[str, np.ndarray]


def _transformers(
    linear: FeatureTransformer | None, dnn: FeatureTransformer | None
) -> list[FeatureTransformer]:
    return [t for t in (linear, dnn) if t is not None]


def build_graph(
    spec: Mapping[str, Any],
    weights: Weights,
    head: Head,
    linear: FeatureTransformer | None,
    dnn: FeatureTransformer | None,
) -> tuple[bytes, dict[str, Any]]:
    """The model as ONNX bytes, and its manifest entry (inputs, outputs, opset, takes)."""
    graph = OnnxGraph()
    linear_inputs = None if linear is None else encode(graph, linear)
    dnn_inputs = None if dnn is None else encode(graph, dnn)
    embeddings: Sequence[EmbeddingSpec] = () if dnn is None else dnn.embedding_specs
    logits = network_logits(graph, spec, weights, linear_inputs, dnn_inputs, embeddings)
    outputs = head.onnx_predictions(graph, logits)
    keys = sorted(outputs)
    model = graph.model(
        [(outputs[k][0], k, outputs[k][1], outputs[k][2]) for k in keys],
        name="mlengine",
        doc="An mlengine canned model: raw features in, the Predictor's outputs out.",
    )
    entry = {
        "opset": ONNX_OPSET,
        "takes": "raw",
        "inputs": [item.entry() for item in graph.inputs.values()],
        "outputs": [{"name": k, "dtype": outputs[k][1], "shape": outputs[k][2]} for k in keys],
    }
    return model.SerializeToString(), entry


# --------------------------------------------------------------------------------------------
# How far two float32 evaluations of one network may differ.

# |f(a) - f(b)| <= L |a - b| for torch's activations (gelu's and swish's slopes peak near 1.13
# and 1.1).
_LIPSCHITZ = {
    "relu": 1.0,
    "elu": 1.0,
    "selu": 1.0507009873554805 * 1.6732632423543772,
    "gelu": 1.13,
    "tanh": 1.0,
    "sigmoid": 0.25,
    "leaky_relu": 1.0,
    "swish": 1.1,
    "silu": 1.1,
}
# The same activations in float64, for the magnitudes the bound needs; where only |f(y)| <= |y|
# matters (gelu, swish), |y| stands in.
_ACTIVATIONS64: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: (
        1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0)))
    ),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "gelu": np.abs,
    "swish": np.abs,
    "silu": np.abs,
}
# Extra terms per dot product: a batch norm folded in (or not), the numpy forward's bias row,
# the activation's own rounding.
_SLACK_TERMS = 8
# The bound is first order in u: second-order terms are below k u (about 1e-5 for census's
# layers) of it, which this factor covers many times over.
_SECOND_ORDER = 1.01


def _gamma(terms: int) -> float:
    """Higham's gamma_k = k u / (1 - k u): a k-term float32 dot product's error bound,
    relative to the sum of its terms' magnitudes."""
    ku = terms * UNIT_ROUNDOFF
    return ku / (1.0 - ku)


def logits_error_bound(
    spec: Mapping[str, Any],
    weights: Weights,
    linear: EncodedFeatures | None,
    dnn: EncodedFeatures | None,
    embeddings: Sequence[EmbeddingSpec],
) -> np.ndarray:
    """A bound ``[n, logits_dimension]`` on how far two float32 evaluations of the network's
    logits (the ONNX graph's, the Predictor's) may be apart on the same encoded inputs,
    whatever the order of their sums.

    Each evaluation of a dot product ``y = w . x + b`` of k terms is within
    ``gamma_k (|w| . |x| + |b|)`` of the exact value (Higham, *Accuracy and Stability of
    Numerical Algorithms*, 3.1), so two evaluations differ by at most twice that. One ulp per
    dense input covers normalisers computed with other float64 functions (ONNX has no log1p);
    an embedding's weighted sum of L vectors adds ``2 gamma_L`` of its magnitude.

    How these differences reach the logits: for a relu DNN, through each row's own Jacobian
    (the product of its weights and relu masks, taken in absolute value only at the end, so
    the signs of the weights cancel as they do in the network), to first order in the unit
    roundoff; this holds while no pre-activation is within its own bound of zero (a relu
    that could switch). Rows where one could, and networks of other activations, take the
    cruder bound that passes each layer's difference through ``|W|`` and the activation's
    Lipschitz constant. Magnitudes come from a float64 forward of the same weights.
    """
    u = UNIT_ROUNDOFF
    parts: list[np.ndarray] = []
    if linear is not None:
        magnitude = np.abs(weights["linear.bias"]).astype(np.float64)[None, :]
        terms = 1
        if linear.sparse_ids.shape[1]:
            table = np.abs(weights["linear.sparse_weights"].astype(np.float64))
            looked_up = np.take(table, linear.sparse_ids, axis=0)
            magnitude = magnitude + (looked_up * np.abs(linear.sparse_weights)[..., None]).sum(1)
            terms += linear.sparse_ids.shape[1]
        if linear.dense.shape[1]:
            dense = np.abs(linear.dense.astype(np.float64))
            magnitude = magnitude + dense @ np.abs(weights["linear.dense_weights"])
            terms += linear.dense.shape[1]
        parts.append(2 * _gamma(terms + _SLACK_TERMS) * magnitude)
    if dnn is not None:
        parts.append(_dnn_bound(spec, weights, dnn, embeddings))
    if not parts:
        raise NotSupportedError("A network without feature columns has no ONNX graph.")
    bound = sum(parts[1:], parts[0])
    if len(parts) == 2:  # the two parts' logits added: one rounding each way
        bound = bound + 2 * u * _SECOND_ORDER * np.abs(bound + 1.0)
    return np.asarray(bound * _SECOND_ORDER)


def _dnn_bound(
    spec: Mapping[str, Any],
    weights: Weights,
    dnn: EncodedFeatures,
    embeddings: Sequence[EmbeddingSpec],
) -> np.ndarray:
    """:func:`logits_error_bound` of the DNN part."""
    u = UNIT_ROUNDOFF
    activation = str(spec.get("dnn_activation_fn", "relu"))
    inputs = [dnn.dense.astype(np.float64)]
    errors = [u * np.abs(inputs[0])]
    for e, ids, ids_weights in zip(
        embeddings, dnn.embedding_ids, dnn.embedding_weights, strict=True
    ):
        vectors = np.take(weights[f"dnn.tables.{e.table}"].astype(np.float64), ids, axis=0)
        if e.max_norm is not None:
            norms = np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
            vectors = vectors * np.minimum(e.max_norm / norms, 1.0)
        weighted = vectors * ids_weights[..., None].astype(np.float64)
        inputs.append(weighted.sum(axis=1))
        slack = _SLACK_TERMS if e.max_norm is not None else 0
        errors.append(2 * _gamma(ids.shape[1] + slack) * np.abs(weighted).sum(axis=1))
    x = np.concatenate(inputs, axis=1)
    error = np.concatenate(errors, axis=1)
    batch_norm = bool(spec.get("batch_norm", False))
    layers = dnn_layers(weights, batch_norm)
    rows = x.shape[0]
    # Each source of rounding error (the inputs, then each layer's sums): its error bound and
    # its Jacobian to the current layer, per row [n, units, source units] (relu nets only).
    linearised = activation == "relu"
    sources = [(np.broadcast_to(np.eye(x.shape[1]), (rows, x.shape[1], x.shape[1])), error)]
    crude = error  # the |W|-and-Lipschitz bound of the current layer's input
    switching = np.zeros(rows, dtype=bool)  # rows where a relu could switch
    for i, (w, b) in enumerate(layers):
        w64, b64 = w.astype(np.float64), b.astype(np.float64)
        pre = x @ w64 + b64
        rounding = 2 * _gamma(w.shape[0] + _SLACK_TERMS) * (np.abs(x) @ np.abs(w64) + np.abs(b64))
        crude = crude @ np.abs(w64) + rounding
        if linearised:
            sources = [(np.einsum("io,nis->nos", w64, a), err) for a, err in sources]
            units = w.shape[1]
            sources.append((np.broadcast_to(np.eye(units), (rows, units, units)), rounding))
            tight = sum(np.einsum("nos,ns->no", np.abs(a), err) for a, err in sources)
        if i == len(layers) - 1:
            if not linearised:
                return crude
            return np.where(switching[:, None], crude, tight)
        x = _ACTIVATIONS64[activation](pre)
        if linearised:
            switching |= (np.abs(pre) <= tight).any(axis=1)
            mask = (pre > 0).astype(np.float64)[:, :, None]
            sources = [(a * mask, err) for a, err in sources]
            crude = np.where(pre + crude > 0, crude, 0.0)  # both values negative: no difference
        else:
            crude = _LIPSCHITZ[activation] * crude + _SLACK_TERMS * u * np.abs(x)
    raise AssertionError("unreachable: the logits layer returns")


# --------------------------------------------------------------------------------------------
# The check before writing.


def _synthetic(
    inputs: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], rows: int
) -> dict[str, Any]:
    """Raw instances for every signature input: vocabulary entries (some with
    spaces around them), unknown and empty strings, numbers around the columns' boundaries,
    integers from -1 up."""
    rng = np.random.default_rng(0)
    vocabularies: dict[str, list[Any]] = {}
    numbers: list[float] = [0.0, 1.0, -1.0, 25.0, 40.0]

    for _, config in column_configs(spec):  # vocabularies and boundaries, by feature key
        if isinstance(config.get("vocabulary"), list) and "key" in config:
            vocabularies.setdefault(config["key"], []).extend(config["vocabulary"])
        if isinstance(config.get("boundaries"), list):
            numbers.extend(float(b) for b in config["boundaries"])
    features: dict[str, Any] = {}
    for item in inputs:
        name, dtype = item["name"], item["dtype"]
        known = vocabularies.get(name, [])
        if dtype == "string":
            pool = [str(v) for v in known] + ["", "  ", "unknown value", "zz"]
            picked = [pool[i] for i in rng.integers(0, len(pool), rows)]
            features[name] = [(" " * int(rng.integers(0, 3))) + v for v in picked]
        elif dtype == "int64":
            pool_ints = [int(v) for v in known if isinstance(v, int)] + [-1, 0, 1, 2, 3, 7]
            features[name] = np.asarray(
                [pool_ints[i] for i in rng.integers(0, len(pool_ints), rows)], np.int64
            )
        else:
            shape = [rows, *item["shape"][1:]]
            near = np.asarray(numbers)[rng.integers(0, len(numbers), shape)]
            features[name] = (near + rng.choice([0.0, 0.0, -0.5, 0.5, 3.0], shape)).astype(
                np.float32
            )
    return features


def check_graph_against(
    data: bytes,
    entry: Mapping[str, Any],
    spec: Mapping[str, Any],
    weights: Weights,
    head: Head,
    linear: FeatureTransformer | None,
    dnn: FeatureTransformer | None,
    reference: Callable[[RawBatch], np.ndarray],
    rows: int = 64,
) -> None:
    """Run the graph in onnxruntime on synthetic instances; its logits must be within
    :func:`logits_error_bound` of ``reference`` (the model's logits), and its other outputs
    those of the head on its own logits (float64 arithmetic: 1e-9 relative)."""
    import onnxruntime

    columns = [c for t in _transformers(linear, dnn) for c in t.feature_columns]
    features = _synthetic(signature_inputs(columns), spec, rows)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o["name"] for o in entry["outputs"]]
    got = dict(
        zip(names, session.run(names, onnx_inputs(entry, linear, dnn, features)), strict=True)
    )
    encoded_linear, encoded_dnn = transform_all([linear, dnn], features)
    embeddings = () if dnn is None else dnn.embedding_specs
    bound = logits_error_bound(spec, weights, encoded_linear, encoded_dnn, embeddings)
    want = reference(features).astype(np.float64)
    logits_key = "logits" if "logits" in got else "predictions"
    difference = np.abs(got[logits_key] - want)
    if not (difference <= bound).all():
        worst = int(np.argmax((difference - bound).max(axis=1)))
        raise NotSupportedError(
            f"The portable ONNX graph's {logits_key} differ from the model's on synthetic "
            f"instance {worst}: {got[logits_key][worst].tolist()} against "
            f"{want[worst].tolist()} (bound {bound[worst].tolist()})."
        )
    expected = head.predictions(got[logits_key].astype(np.float32).astype(np.float64))
    for key in names:
        have, should = got[key], expected[key]
        same = (
            np.array_equal(have, should)
            if have.dtype.kind in "iOUS"
            else np.allclose(have, should, rtol=1e-9, atol=1e-12)
        )
        if not same:
            raise NotSupportedError(
                f"The portable ONNX graph's {key!r} differ from the head's on its own logits."
            )


def reference_logits(
    spec: Mapping[str, Any],
    weights: Weights,
    linear: FeatureTransformer | None,
    dnn: FeatureTransformer | None,
) -> Callable[[RawBatch], np.ndarray]:
    """The Predictor's logits for a raw batch (the numpy forward; torch where numpy has no
    forward for the activation)."""
    network = NumpyNetwork.from_weights(
        weights,
        None if dnn is None else dnn.embedding_specs,
        bool(spec.get("batch_norm", False)),
        str(spec.get("dnn_activation_fn", "relu")),
    )
    if network is not None:
        numpy_network = network

        def numpy_logits(features: RawBatch) -> np.ndarray:
            encoded_linear, encoded_dnn = transform_all([linear, dnn], features)
            return numpy_network(encoded_linear, encoded_dnn, count_rows(features))

        return numpy_logits
    import torch

    from mlengine.model.build import build_model
    from mlengine.model.encode import Encoder

    model = build_model(dict(spec))
    model.network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    model.network.eval()
    encoder = Encoder(model, torch.device("cpu"))

    def torch_logits(features: RawBatch) -> np.ndarray:
        with torch.no_grad():
            return model.network(encoder.inputs(features)).numpy()

    return torch_logits


def predictor_logits_bound(predictor: Predictor, instances: Any) -> np.ndarray:
    """:func:`logits_error_bound` of a loaded canned export (a
    :class:`~mlengine.export.Predictor`) on ``instances``: how far another runtime's logits
    may be from the Predictor's by float32 rounding alone."""
    features = predictor._features(instances)
    linear, dnn = predictor.linear_transformer, predictor.dnn_transformer
    encoded_linear, encoded_dnn = transform_all([linear, dnn], features)
    embeddings = () if dnn is None else dnn.embedding_specs
    return logits_error_bound(
        predictor._spec, predictor._weights, encoded_linear, encoded_dnn, embeddings
    )


def portable_member(
    spec: Mapping[str, Any], weights: Weights, head: Head
) -> tuple[str, bytes, dict[str, Any]]:
    """The ``onnx`` member of a canned model's export (``write_export``'s ``members`` entry),
    checked with onnxruntime first."""
    from mlengine.model.spec import transformers_from_spec

    linear, dnn = transformers_from_spec(spec)
    weights32 = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in weights.items()}
    data, entry = build_graph(spec, weights32, head, linear, dnn)
    reference = reference_logits(spec, weights32, linear, dnn)
    check_graph_against(data, entry, spec, weights32, head, linear, dnn, reference)
    return ONNX_FILE, data, entry


__all__ = [
    "ONNX_FILE",
    "build_graph",
    "check_graph_against",
    "logits_error_bound",
    "portable_member",
    "predictor_logits_bound",
    "reference_logits",
]
