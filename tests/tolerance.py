"""Float tolerances derived from the computation, not from one CPU's rounding.

Why results differ at all. A float32 dot product rounds after every addition, so its result
depends on the order of the additions, and that order is not fixed: numpy's OpenBLAS picks a
kernel per CPU (SkylakeX with AVX-512, Haswell with AVX2, Zen, ...; ``OPENBLAS_CORETYPE``
overrides the choice and ``OPENBLAS_L2_SIZE`` the blocking), torch's MKL and oneDNN pick
theirs, and the number of threads, the batch size and a row's place in the batch (in a full
block of rows or in the remainder) change how a kernel splits and accumulates a sum. So two
rows with equal features in one batch, the Predictor's numpy forward and the estimator's torch
forward, a batch and its chunks may each differ in the last bits.

How much, for one sum. Each of its n roundings (n - 1 additions, and the products where there
is no fused multiply-add) errs by at most half an ulp of a partial sum, and a partial sum is at
most the sum of the magnitudes of the terms. So two orders of one sum differ by at most n ulps
(float32's ``EPS`` = 2**-23 ≈ 1.19e-7) of the **sum of the magnitudes of the terms that enter
it**, not of its result: a logit of 0.3 whose first layer added capital gains of 1e5 carries the
rounding of 1e5. That worst case needs every rounding maximal and of one sign; roundings to
nearest are as often up as down, so their sum grows like sqrt(n) (a standard deviation of
about 0.24 sqrt(n) ulps for terms of one sign, whose partial sums stay near the total; well
under one ulp for terms of both signs). :func:`sum_ulps` allows the smaller of n and
``ULPS * sqrt(n)`` ulps (8 standard deviations for terms of one sign), and
:func:`sum_tolerance` turns that into a tolerance.

For a network (:class:`Bound`), each rounding step (the embedding sums, each layer with its
batch norm, the output layer, the linear part's sum, the sum of the two parts) is bounded that
way with the row's own values, and carried to the logits by the network's derivative at that
row: a unit that may be off by ``sum_ulps(n) * EPS * (|W| @ |x| + |b|)`` moves a logit by at
most ``|dlogit/dunit|`` times that::

    tolerance(logit) = EPS * Σ_steps Σ_units |∂logit/∂unit| · sum_ulps(n) · Σ|unit's terms|

This is first-order error analysis, with the derivative's actual signs: paths whose
contributions cancel in the network cancel in the error too. (Propagating ``|W| @ |x|``
through every layer instead would also be a bound, but a useless one: it grows tenfold per
layer of 100 units, and for the tutorial's Wide & Deep allows a logit error of 80 where the
kernels differ by 1e-3.) Measured on the suite's models under OpenBLAS's SkylakeX, Haswell,
Sandybridge and Nehalem kernels, MKL with AVX-512, AVX2 and SSE4.2, with one and two threads,
two orders used at most a quarter of these tolerances (a linear model's nine terms of one
sign, 1.6 ulps apart), the deep networks' under 3%; a bug (a wrong weight, bias, feature or
row) moves a logit by orders of magnitude more.

What follows from the logits: sigmoid and softmax move by at most half the largest change of a
row's logits (a softmax output's derivatives sum, in absolute value, to ``2p(1-p) <= 1/2``);
the heads compute them in float64, whose own rounding is negligible. ``class_ids`` and
``classes`` are compared exactly only where the decision is clear (:func:`decided`).

What is exact, and compared with ``==``: integer ids and hashes, and the same computation run
twice in one process on the same inputs (the same kernel adds in the same order: the same seed
gives bit-identical weights, a model reloaded from its checkpoint predicts identical logits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

EPS = float(np.finfo(np.float32).eps)
"""float32's machine epsilon, 2**-23: one ulp of 1.0."""

ULPS = 2
"""A sum of n terms may be off by ``ULPS * sqrt(n)`` ulps of its terms' magnitude (at most n):
see the module docstring."""

STEP_ULPS = 4
"""Ulps of a weight tensor's scale by which one training step may move it: see :func:`trained`."""

_SELU = (1.6732632423543772, 1.0507009873554805)  # alpha, scale


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(x / 2))


_erf = np.vectorize(math.erf, otypes=[float])


# Each activation as (f, f'), in float64.
_ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], ...]] = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1, 0.01)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1, np.exp(x))),
    "selu": (
        lambda x: _SELU[1] * np.where(x > 0, x, _SELU[0] * np.expm1(x)),
        lambda x: _SELU[1] * np.where(x > 0, 1, _SELU[0] * np.exp(x)),
    ),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "swish": (
        lambda x: x * _sigmoid(x),
        lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
    ),
    "gelu": (
        lambda x: x * (1 + _erf(x / math.sqrt(2))) / 2,
        lambda x: (
            (1 + _erf(x / math.sqrt(2))) / 2 + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        ),
    ),
}
_ACTIVATIONS["silu"] = _ACTIVATIONS["swish"]


def sum_ulps(terms: int) -> float:
    """Ulps of the terms' magnitude by which two orders of a sum of ``terms`` terms may differ:
    at most one per rounding, and no more than ``ULPS * sqrt(terms)`` (the roundings of either
    sign cancel)."""
    return min(float(terms), ULPS * math.sqrt(terms))


def sum_tolerance(magnitude: Any, terms: int) -> np.ndarray:
    """The tolerance of a float32 sum of ``terms`` terms (a dot product, a layer's unit)
    whose magnitudes add up to ``magnitude`` (Σ|terms|, not |Σ terms|)."""
    return sum_ulps(terms) * EPS * np.asarray(magnitude, dtype=np.float64)


def trained(weights: Any, steps: int) -> float:
    """The tolerance of a weight tensor trained ``steps`` steps two ways from the same start
    (the numpy training step and torch's backward, a fused and an unfused optimizer update,
    CUDA's kernels and the CPU's).

    Each step computes its update from sums whose roundings differ by a few ulps of their
    terms; the optimizers scale an update to the weights' own scale (a learning rate times a
    normalised gradient: Adagrad, Adam, FTRL), so a step's rounding moves a weight by a few
    ulps of the tensor's largest weight, and a few steps carry earlier differences over
    without amplifying them. So: ``STEP_ULPS * EPS * steps * max|weights|``. Measured on the
    suite's models, 25 steps used at most 2% of it.
    """
    return STEP_ULPS * EPS * steps * float(np.abs(np.asarray(weights, dtype=np.float64)).max())


def assert_trained_alike(a: Any, b: Any, steps: int) -> None:
    """Two estimators trained ``steps`` steps two ways from the same start have the same
    variables, each within :func:`trained`'s tolerance of the other's."""
    names = a.get_variable_names()
    assert names == b.get_variable_names()
    for name in names:
        want = b.get_variable_value(name)
        assert_close(a.get_variable_value(name), want, trained(want, steps), name)


def _lookup(table: np.ndarray, ids: np.ndarray, weights: np.ndarray, max_norm: Any) -> Any:
    """An embedding sum per row, and the magnitude of its terms Σ|table[id]| * |weight|."""
    vectors = np.take(table, ids, axis=0)
    if max_norm is not None:
        norms = np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
        vectors = vectors * np.minimum(max_norm / norms, 1.0)
    return (vectors * weights[:, :, None]).sum(axis=1), (
        np.abs(vectors) * np.abs(weights)[:, :, None]
    ).sum(axis=1)


class Bound:
    """Tolerances of a Wide & Deep network's logits (see the module docstring).

    Build it from a trained network's weights: :meth:`of_network` (a torch network),
    :meth:`of_export` (an export directory, as the Predictor loads it) or :meth:`of_estimator`.
    ``bound.logits(features)`` gives the tolerance of each logit of raw feature rows,
    ``bound.encoded(linear, dnn, rows)`` of rows already encoded.
    """

    def __init__(
        self,
        weights: Mapping[str, Any],
        embeddings: Sequence[Any],
        batch_norm: bool,
        activation: str,
        transformers: Sequence[Any] = (None, None),
    ):
        self.w = {
            name: np.asarray(value, dtype=np.float64)
            for name, value in weights.items()
            if np.asarray(value).dtype.kind == "f"
        }
        self.embeddings = list(embeddings)
        self.batch_norm = batch_norm
        self.activation, self.derivative = _ACTIVATIONS[activation]
        self.transformers = list(transformers)
        self.layers = []  # per hidden layer: W [out, in] and b, batch norm folded in, and the
        step = 2 if batch_norm else 1  # magnitudes of the terms: |W| and |b| (+ the norm's)
        while f"dnn.hidden.{len(self.layers) * step}.weight" in self.w:
            self.layers.append(self._layer(f"dnn.hidden.{len(self.layers) * step}"))

    def _layer(self, prefix: str) -> tuple[np.ndarray, ...]:
        weight, bias = self.w[f"{prefix}.weight"], self.w[f"{prefix}.bias"]
        if not self.batch_norm:
            return weight, bias, np.abs(weight), np.abs(bias)
        index = int(prefix.rsplit(".", 1)[1]) + 1
        norm = {k: self.w[f"dnn.hidden.{index}.{k}"] for k in ("weight", "bias", "running_mean")}
        scale = norm["weight"] / np.sqrt(self.w[f"dnn.hidden.{index}.running_var"] + 1e-3)
        # (Wx + b - mean) * scale + beta: its terms, and the norm's own roundings as many more.
        folded_bias = (bias - norm["running_mean"]) * scale + norm["bias"]
        terms_bias = (np.abs(bias) + np.abs(norm["running_mean"])) * np.abs(scale)
        terms_bias = 2 * (terms_bias + np.abs(norm["bias"]))
        return weight * scale[:, None], folded_bias, 2 * np.abs(weight * scale[:, None]), terms_bias

    @classmethod
    def of_network(cls, network: Any, transformers: Sequence[Any] = (None, None)) -> Bound:
        """A :class:`~mlengine.model.networks.WideDeepNetwork` (torch)."""
        from mlengine.model.networks import ACTIVATIONS

        weights = {name: t.detach().cpu().numpy() for name, t in network.state_dict().items()}
        dnn = network.dnn
        if dnn is None:
            return cls(weights, [], False, "relu", transformers)
        activation = next(n for n, f in ACTIVATIONS.items() if f is dnn.activation)
        return cls(weights, dnn.embedding_specs, dnn.batch_norm, activation, transformers)

    @classmethod
    def _of_spec(cls, weights: Mapping[str, Any], spec: Mapping[str, Any], parts: Any) -> Bound:
        return cls(
            weights,
            [] if parts[1] is None else parts[1].embedding_specs,
            bool(spec.get("batch_norm", False)),
            str(spec.get("dnn_activation_fn", "relu")),
            parts,
        )

    @classmethod
    def of_export(cls, export_dir: Any) -> Bound:
        """An export directory: its weights and columns, as the Predictor reads them."""
        from safetensors.numpy import load_file

        from mlengine.export import load

        predictor = load(export_dir)
        weights = load_file(str(Path(predictor.path) / "variables" / "variables.safetensors"))
        parts = (predictor.linear_transformer, predictor.dnn_transformer)
        return cls._of_spec(weights, predictor.manifest["model_spec"], parts)

    @classmethod
    def of_estimator(cls, model: Any) -> Bound:
        """A trained estimator, at its latest checkpoint."""
        from mlengine.model.spec import transformers_from_spec

        weights = {name: model.get_variable_value(name) for name in model.get_variable_names()}
        spec = model._model_spec()
        return cls._of_spec(weights, spec, transformers_from_spec(spec))

    def _linear(self, linear: Any) -> tuple[np.ndarray, np.ndarray]:
        """The linear part's logits, and their error bound in EPS: one sum of the ids' weights,
        the dense features' products and the bias."""
        w = self.w
        logits, terms = w["linear.bias"], np.abs(w["linear.bias"])
        if linear.sparse_ids.shape[1]:
            value, magnitude = _lookup(
                w["linear.sparse_weights"], linear.sparse_ids, linear.sparse_weights, None
            )
            logits, terms = logits + value, terms + magnitude
        if linear.dense.shape[1]:
            dense = linear.dense.astype(np.float64)
            logits = logits + dense @ w["linear.dense_weights"]
            terms = terms + np.abs(dense) @ np.abs(w["linear.dense_weights"])
        count = 1 + linear.sparse_ids.shape[1] + linear.dense.shape[1]
        return logits, sum_ulps(count) * terms

    def _dnn(self, dnn: Any, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """The DNN's logits, and the error bound of its steps carried to them, in EPS."""
        dense = dnn.dense.astype(np.float64)
        values, magnitudes, errors = [dense], [np.abs(dense)], [np.zeros(dense.shape)]
        for spec, ids, weights in zip(
            self.embeddings, dnn.embedding_ids, dnn.embedding_weights, strict=True
        ):
            table = self.w[f"dnn.tables.{spec.table}"]
            value, magnitude = _lookup(table, ids, weights, spec.max_norm)
            values.append(value)
            magnitudes.append(magnitude)
            errors.append(sum_ulps(ids.shape[1]) * magnitude)  # dense features arrive exact
        x, input_errors = np.concatenate(values, axis=1), np.concatenate(errors, axis=1)
        # Forward: each layer's units' error bounds, and the activation's slope there. (The
        # first layer's terms are the embeddings' own: the row path multiplies them by the
        # layer's weights before it sums them.)
        x_magnitude, unit_errors, slopes = np.concatenate(magnitudes, axis=1), [], []
        for weight, bias, abs_weight, abs_bias in self.layers:
            count = weight.shape[1] + (4 if self.batch_norm else 1)
            unit_errors.append(sum_ulps(count) * (x_magnitude @ abs_weight.T + abs_bias))
            pre = x @ weight.T + bias
            slopes.append(self.derivative(pre))
            x = self.activation(pre)
            x_magnitude = np.abs(x)
        out_weight, out_bias = self.w["dnn.logits.weight"], self.w["dnn.logits.bias"]
        logits = x @ out_weight.T + out_bias
        terms = x_magnitude @ np.abs(out_weight).T + np.abs(out_bias)
        error = sum_ulps(out_weight.shape[1] + 1) * terms
        # Backward: d logits / d (each layer's units), per row: [rows, d, units].
        gradient = np.broadcast_to(out_weight, (rows, *out_weight.shape))
        for (weight, *_), unit_error, slope in zip(
            reversed(self.layers), reversed(unit_errors), reversed(slopes), strict=True
        ):
            gradient = gradient * slope[:, None, :]
            error = error + np.einsum("rdu,ru->rd", np.abs(gradient), unit_error)
            gradient = gradient @ weight
        return logits, error + np.einsum("rdu,ru->rd", np.abs(gradient), input_errors)

    def encoded(self, linear: Any, dnn: Any, rows: int) -> np.ndarray:
        """Each logit's tolerance ``[rows, d]``, for encoded features."""
        if "bias" in self.w:  # a baseline: a copy of its bias, nothing summed
            return np.zeros((rows, len(self.w["bias"])))
        logits, error = 0.0, 0.0
        if "linear.bias" in self.w:
            logits, error = self._linear(linear)
        if "dnn.logits.weight" in self.w:
            deep, deep_error = self._dnn(dnn, rows)
            error = error + deep_error + sum_ulps(2) * (np.abs(logits) + np.abs(deep))
        return np.broadcast_to(EPS * error, (rows, np.shape(error)[-1])).copy()

    def logits(self, features: Any) -> np.ndarray:
        """Each logit's tolerance ``[rows, d]``, for raw feature rows (a DataFrame, a dict of
        columns or a list of instances)."""
        from mlengine.feature_column.transform import as_feature_dict, count_rows

        if isinstance(features, list):
            keys = dict.fromkeys(key for row in features for key in row)
            features = {key: [row.get(key) for row in features] for key in keys}
        features = as_feature_dict(features)
        linear, dnn = (None if t is None else t.transform(features) for t in self.transformers)
        return self.encoded(linear, dnn, count_rows(features))


def assert_close(got: Any, want: Any, tolerance: Any, what: str = "values") -> None:
    """``|got - want| <= tolerance`` everywhere (``tolerance`` broadcasts), or an error that
    names the worst element and how far past its tolerance it is."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), want.shape)
    excess = np.nan_to_num(np.abs(got - want) - tolerance, nan=np.inf)
    if (excess > 0).any():
        worst = np.unravel_index(np.argmax(excess), want.shape)
        raise AssertionError(
            f"{what}: {int((excess > 0).sum())} of {want.size} differ by more than their "
            f"tolerance; worst at {tuple(map(int, worst))}: {got[worst]!r} != {want[worst]!r} "
            f"(difference {abs(got[worst] - want[worst]):.3g}, tolerance {tolerance[worst]:.3g})"
        )


def decided(logits: Any, tolerance: Any) -> np.ndarray:
    """Rows whose predicted class no difference within ``tolerance`` can change: a binary
    logit farther than its tolerance from 0; a multi-class winner ahead of every other class
    by more than the two tolerances."""
    z = np.asarray(logits, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), z.shape)
    if z.shape[1] == 1:
        return np.asarray(np.abs(z[:, 0]) > tol[:, 0])
    rows, top = np.arange(len(z)), z.argmax(axis=1)
    margin = (z[rows, top] - tol[rows, top])[:, None] - (z + tol)
    margin[rows, top] = np.inf
    return np.asarray((margin > 0).all(axis=1))


def assert_predictions_close(
    got: Mapping[str, Any],
    want: Mapping[str, Any],
    tolerance: Any,
    only: Sequence[str] | None = None,
) -> None:
    """Two columnar predictions of one model (``Predictor.predict``'s layout) agree: logits
    (a regressor's predictions) within ``tolerance`` (the logits', ``[rows, d]``),
    probabilities within half a row's largest logit tolerance, and class ids and classes
    exactly on the rows whose class is decided (:func:`decided`), which must be most rows.
    ``got`` has ``want``'s keys, or the keys ``only`` names (``want`` has the logits)."""
    if only is None:
        assert sorted(got) == sorted(want)
    else:
        assert sorted(got) == sorted(only)
    logits = np.asarray(want["logits"] if "logits" in want else want["predictions"])
    rows = len(logits)
    logits = logits.reshape(rows, -1)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), logits.shape)
    half = tolerance.max(axis=1, keepdims=True) / 2
    for key in sorted(got):
        a, b = np.asarray(got[key]), np.asarray(want[key])
        if key in ("logits", "predictions"):
            assert_close(a.reshape(rows, -1), b.reshape(rows, -1), tolerance, key)
        elif key in ("logistic", "probabilities"):
            assert_close(a.reshape(rows, -1), b.reshape(rows, -1), half, key)
        else:  # class_ids, classes
            clear = decided(logits, tolerance)
            assert clear.mean() > 0.5, f"{key}: too few rows with a clear class to compare"
            assert a.reshape(rows, -1)[clear].tolist() == b.reshape(rows, -1)[clear].tolist(), key


def assert_instances_close(
    got: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]], tolerance: Any
) -> None:
    """:func:`assert_predictions_close` for predictions per instance (the layout of
    ``Predictor.predict_instances`` and of REST answers): the same keys in every instance."""
    assert len(got) == len(want), f"{len(got)} instances, expected {len(want)}"
    keys = sorted(want[0]) if want else []
    assert all(sorted(row) == keys for row in [*got, *want]), "instances with other keys"

    def columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        return {key: np.array([row[key] for row in rows]) for key in keys}

    assert_predictions_close(columns(got), columns(want), tolerance)
