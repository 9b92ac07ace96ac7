"""Fit-time statistics that fill columns in: vocabularies, mean/std, quantile boundaries.

This is what tf.Transform did beside tf.feature_column, kept as plain functions that read data
once and return ordinary (serialisable) columns, so normalisers never need a callable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.feature_column.columns import (
    BucketizedColumn,
    CategoricalColumn,
    FeatureColumn,
    NumericColumn,
    VocabularyColumn,
    ZScore,
    bucketized_column,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    numeric_column,
)
from mlengine.feature_column.encoding import as_feature_dict, count_rows
from mlengine.feature_column.serialization import from_config, to_config


def _column(data: Mapping[str, Any], key: str) -> pa.Array:
    try:
        values = data[key]
    except KeyError:
        raise FeatureError(f"Feature {key!r} is not in the data to analyse.") from None
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return arr


def _floats(data: Mapping[str, Any], key: str) -> np.ndarray:
    arr = _column(data, key)
    try:
        values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise FeatureError(
            f"Feature {key!r}: expected numbers to analyse, got {arr.type}."
        ) from None
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise FeatureError(f"Feature {key!r} has no finite values to analyse.")
    return values


def vocabulary_column(
    data: Mapping[str, Any],
    key: str,
    *,
    min_count: int = 1,
    max_size: int | None = None,
    num_oov_buckets: int = 0,
    default_value: int = -1,
) -> VocabularyColumn:
    """A vocabulary list column of the stripped values of `key`, most frequent first."""
    if min_count < 1:
        raise InvalidParameterError(f"The 'min_count' parameter must be >= 1. Got {min_count!r}")
    arr = pc.utf8_trim_whitespace(pc.cast(_column(data, key), pa.string()))
    counts = pc.value_counts(arr.filter(pc.and_(pc.is_valid(arr), pc.not_equal(arr, ""))))
    frequency = dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
    ranked = sorted(
        (v for v, c in frequency.items() if c >= min_count), key=lambda v: (-frequency[v], v)
    )
    if max_size is not None:
        ranked = ranked[:max_size]
    if not ranked:
        raise FeatureError(f"Feature {key!r} has no value seen at least {min_count} time(s).")
    return categorical_column_with_vocabulary_list(
        key, ranked, default_value=default_value, num_oov_buckets=num_oov_buckets
    )


def standardized_column(data: Mapping[str, Any], key: str) -> NumericColumn:
    """A numeric column normalised by ``key``'s mean and standard deviation in ``data``."""
    values = _floats(data, key)
    std = float(values.std())
    return numeric_column(key, normalizer_fn=ZScore(float(values.mean()), std if std > 0 else 1.0))


def quantile_bucketized_column(
    data: Mapping[str, Any], key: str, num_buckets: int
) -> BucketizedColumn:
    """A bucketized column with boundaries at ``key``'s quantiles (duplicates merged)."""
    if num_buckets < 2:
        raise InvalidParameterError(f"The 'num_buckets' parameter must be >= 2. Got {num_buckets}.")
    values = _floats(data, key)
    quantiles = np.quantile(values, np.linspace(0, 1, num_buckets + 1)[1:-1])
    boundaries = sorted(set(float(q) for q in quantiles))
    if values.min() == values.max():  # (quantiles always give at least one boundary)
        raise FeatureError(f"Feature {key!r} is constant; it cannot be bucketized by quantiles.")
    return bucketized_column(numeric_column(key), boundaries)


# --------------------------------------------------------------------------------------------
# Choosing columns from data: what Keras' FeatureSpace.adapt and tf.Transform did, and
# tf.feature_column never did. The result is ordinary columns (print them, store them as JSON).

#: A numeric feature with at most this many distinct values (and at most one per
#: ``FEW_VALUES_ROWS_PER_VALUE`` training rows) gets one bucket per value: census' capital_gain
#: (119 values) bucketized per value took test AUC from 0.921 to 0.928 (issue 23's study).
FEW_VALUES = 256
FEW_VALUES_ROWS_PER_VALUE = 10
#: Other numerics: standardised, plus quantile buckets (embedded in the DNN, one weight each in
#: the linear part): about ``sqrt(rows) / 4`` of them, in [QUANTILE_BUCKETS_MIN, QUANTILE_BUCKETS],
#: so each bucket is learned from ``4 * sqrt(rows)`` rows or more. Census (32,561 rows): 16 buckets
#: gave +0.006 test AUC on age and hours over raw values; the generated geo regression (14,400
#: rows) RMSE 0.3185 -> 0.3132 from 16 to 32; diabetes (278 rows) 16 overfit within 12 epochs,
#: 4 took RMSE 63.8 -> 60.2 (issue 23).
QUANTILE_BUCKETS = 32
QUANTILE_BUCKETS_MIN = 4
#: A string (or declared id) feature with more distinct values than this is an id: values seen
#: fewer than ``ID_MIN_COUNT`` times share the out-of-vocabulary bucket, which so learns what a
#: rare or unseen id means (most test users of a time split are unseen in training).
ID_DISTINCT = 1000
ID_MIN_COUNT = 2
ID_MAX_VOCABULARY = 100_000
#: Embedding dimensions by cardinality: fastai's rule of thumb 1.6 * n^0.56, capped.
CATEGORICAL_MAX_DIMENSION = 16
ID_MAX_DIMENSION = 32
#: An id's embedding has at most one dimension per this many training rows per id (the rows of
#: the values in its vocabulary over their number): each id's vector is learned from its own
#: rows only. On the generated recommendation tasks (issue 23) the ids' dimensions (32 for
#: 3,815 users with 8 rows each) overfit; with this rule (4 for those users; 10 and 5 for the
#: movie task's users and movies, 19 and 10 rows each) test AUC went 0.7313 -> 0.7411 on
#: ``rec`` and 0.7632 -> 0.7599 on ``movies`` (3-seed means, with the refit; LightGBM 0.7384 and
#: 0.7512); one per row was 0.7374 / 0.7624.
ID_ROWS_PER_DIMENSION = 2


def id_dimension_cap(rows: int, values: int) -> int:
    """The most dimensions an id's embedding gets: ``ID_MAX_DIMENSION``, or fewer when its
    ``values`` have fewer than ``ID_ROWS_PER_DIMENSION`` training rows per dimension each on
    average (``rows`` in all); 2 at least.

    Example:
        >>> id_dimension_cap(30_800, 3_815), id_dimension_cap(10**6, 1_000)
        (4, 32)
    """
    per_value = rows / max(values, 1)
    return int(min(ID_MAX_DIMENSION, max(2, round(per_value / ID_ROWS_PER_DIMENSION))))


CROSS_MAX_BUCKETS = 10_000
#: Latitude and longitude are told apart by a word of the key (``lat``, ``Latitude``,
#: ``pickup_latitude``, ``startLat``...); a pair is a latitude and a longitude key whose other
#: words agree. Each pair gets three grids, the two coordinates' quantile buckets crossed at
#: ``n/4``, ``n/2`` and ``n`` buckets per axis, where the finest grid has about
#: ``GRID_ROWS_PER_CELL`` rows per cell (``n`` in [GRID_BUCKETS_MIN, QUANTILE_BUCKETS]), in the
#: linear part and embedded in the DNN (``GRID_EMBEDDING_DIMENSION``). A price surface with
#: local peaks (the generated California-like housing task, 14,400 training rows) is what grids
#: learn and a DNN over each coordinate alone does not: RMSE 0.390 -> 0.375 with 4, 8 and 16
#: buckets per axis (LightGBM 0.361). They cost the smooth surface over the uniform coordinates
#: of the geo task: 0.313 -> 0.317 (every grid tried cost it 0.002-0.009; 8, 16 and 32 buckets
#: with embeddings of 8: 0.372 on housing, 0.321 on geo). ``coordinates=()`` turns them off.
LATITUDE_WORDS = frozenset({"lat", "latitude"})
LONGITUDE_WORDS = frozenset({"lon", "lng", "long", "longitude"})
GRID_SCALES = (4, 2, 1)
GRID_ROWS_PER_CELL = 50
GRID_BUCKETS_MIN = 2
GRID_EMBEDDING_DIMENSION = 4


def quantile_buckets(rows: int) -> int:
    """How many quantile buckets a numeric feature of ``rows`` training rows gets.

    Example:
        >>> quantile_buckets(278), quantile_buckets(4096), quantile_buckets(32561)
        (4, 16, 32)
    """
    return int(min(QUANTILE_BUCKETS, max(QUANTILE_BUCKETS_MIN, round(np.sqrt(rows) / 4))))


def grid_buckets(rows: int) -> int:
    """Buckets per axis of the finest latitude x longitude grid for ``rows`` training rows:
    about ``GRID_ROWS_PER_CELL`` rows per cell, in ``[GRID_BUCKETS_MIN, QUANTILE_BUCKETS]``.

    Example:
        >>> grid_buckets(278), grid_buckets(14_400), grid_buckets(10**6)
        (2, 16, 32)
    """
    per_axis = int(np.sqrt(rows / GRID_ROWS_PER_CELL))
    return int(min(QUANTILE_BUCKETS, max(GRID_BUCKETS_MIN, per_axis)))


def embedding_dimension(cardinality: int, cap: int = CATEGORICAL_MAX_DIMENSION) -> int:
    """An embedding's dimension for ``cardinality`` values: ``1.6 * n ** 0.56`` in ``[2, cap]``.

    Example:
        >>> embedding_dimension(16), embedding_dimension(120), embedding_dimension(10**6, 32)
        (8, 16, 32)
    """
    return int(min(cap, max(2, round(1.6 * cardinality**0.56))))


@dataclass(frozen=True)
class FeatureChoice:
    """What the analysis chose for one raw feature, and why (``kind`` is ``few_values``,
    ``numeric``, ``categorical``, ``id`` or ``dropped``; or ``grid`` for a latitude and
    longitude pair, whose ``key`` is ``"<latitude> x <longitude>"``)."""

    key: str
    kind: str
    reason: str


@dataclass(frozen=True)
class InferredColumns:
    """Columns chosen from data by :func:`infer_feature_columns`: a Wide & Deep's two lists,
    the crosses among the linear ones, one :class:`FeatureChoice` per raw feature, and the
    columns boosted trees read (raw numbers; categories as vocabularies)."""

    linear_feature_columns: tuple[FeatureColumn, ...]
    dnn_feature_columns: tuple[FeatureColumn, ...]
    choices: tuple[FeatureChoice, ...]
    tree_feature_columns: tuple[FeatureColumn, ...] = ()

    def to_config(self) -> dict[str, Any]:
        """JSON-ready: the columns as :func:`~mlengine.feature_column.to_config` writes them."""
        return {
            "linear_feature_columns": [to_config(c) for c in self.linear_feature_columns],
            "dnn_feature_columns": [to_config(c) for c in self.dnn_feature_columns],
            "choices": [dataclasses.asdict(c) for c in self.choices],
            "tree_feature_columns": [to_config(c) for c in self.tree_feature_columns],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InferredColumns:
        """Rebuild from :meth:`to_config` (only allow-listed column classes)."""
        return cls(
            tuple(from_config(c) for c in config["linear_feature_columns"]),
            tuple(from_config(c) for c in config["dnn_feature_columns"]),
            tuple(FeatureChoice(**c) for c in config.get("choices", ())),
            tuple(from_config(c) for c in config.get("tree_feature_columns", ())),
        )

    def __str__(self) -> str:
        lines = [f"{c.key}: {c.kind} ({c.reason})" for c in self.choices]
        lines.append("linear: " + ", ".join(c.name for c in self.linear_feature_columns))
        lines.append("dnn: " + ", ".join(c.name for c in self.dnn_feature_columns))
        return "\n".join(lines)


def gather_data(
    data: Any, label: Any, max_rows: int | None = None
) -> tuple[dict[str, pa.Array], np.ndarray | None]:
    """Features as arrow arrays and labels as numpy, from a DataFrame (``label`` a column name
    or array-like), a mapping of arrays, or an input function (its batches, up to ``max_rows``).

    Raises:
        FeatureError: a column that mixes types (say strings and numbers), or a label key that
            is not in the data.
    """
    if callable(data) and not isinstance(data, Mapping):
        return _gather_input_fn(data, max_rows)
    features = dict(as_feature_dict(data))
    labels: Any = label
    if isinstance(label, str):
        if label not in features:
            raise FeatureError(f"Label {label!r} is not a column of the data.")
        labels = features.pop(label)
    arrays = {str(k): _arrow(str(k), v) for k, v in features.items()}
    if max_rows is not None:
        arrays = {k: v[:max_rows] for k, v in arrays.items()}
    if labels is None:
        return arrays, None
    out = _label_array(labels)
    return arrays, out if max_rows is None else out[:max_rows]


def _arrow(key: str, values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        kinds = sorted({type(v).__name__ for v in list(values) if v is not None})
        raise FeatureError(
            f"Feature {key!r} mixes value types {kinds}; give the column one type (for "
            "example df[key].astype(str) for a categorical feature)."
        ) from None
    if isinstance(arr, pa.ChunkedArray):  # (pandas extension arrays)
        arr = arr.combine_chunks()
    return arr


def _label_array(labels: Any) -> np.ndarray:
    if isinstance(labels, pa.Array | pa.ChunkedArray):
        labels = labels.to_pandas()
    return np.asarray(labels)


def _gather_input_fn(
    input_fn: Any, max_rows: int | None
) -> tuple[dict[str, pa.Array], np.ndarray | None]:
    chunks: dict[str, list[pa.Array]] = {}
    labels: list[np.ndarray] = []
    rows = 0
    source = input_fn() if callable(input_fn) else input_fn
    for item in source:
        features, batch_labels = item if isinstance(item, tuple) else (item, None)
        for key, values in as_feature_dict(features).items():
            chunks.setdefault(str(key), []).append(_arrow(str(key), values))
        if batch_labels is not None:
            labels.append(
                _label_array(batch_labels).reshape(len(_label_array(batch_labels)), -1)[:, 0]
            )
        rows += count_rows(as_feature_dict(features))
        if max_rows is not None and rows >= max_rows:
            break
    if not chunks:
        raise FeatureError("The input function gave no batches to analyse.")
    arrays = {k: pa.concat_arrays(v) for k, v in chunks.items()}
    return arrays, (np.concatenate(labels) if labels else None)


def check_labels(labels: np.ndarray, key: str = "label") -> None:
    """Refuse labels with missing values, naming how many and the first rows."""
    if labels.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(labels))
    elif labels.dtype.kind == "O":
        missing = np.flatnonzero([v is None or (isinstance(v, float) and v != v) for v in labels])
    else:
        return
    if missing.size:
        raise FeatureError(
            f"Label {key!r} has {missing.size} missing value(s) (rows {missing[:5].tolist()}); "
            "drop those rows or fill them before training."
        )


def _is_number(arr: pa.Array) -> bool:
    return bool(pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)) or bool(
        pa.types.is_boolean(arr.type)
    )


def _strings(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string())
    values = pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
    return pc.if_else(pc.equal(values, ""), None, values)


def _label_codes(labels: np.ndarray) -> np.ndarray:
    """The label as ``[n, k]`` floats: the value for a numeric label, one-hot classes else."""
    if labels.dtype.kind == "f":
        return labels.astype(np.float64)[:, None]
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    k = int(codes.max()) + 1
    if k <= 2:
        return codes.astype(np.float64)[:, None]
    return np.eye(k)[codes]


def _explained(codes: np.ndarray, target: np.ndarray, prior: float = 20.0) -> float:
    """How much of ``target``'s variance the groups of ``codes`` explain (group means shrunk
    towards the overall mean by ``prior`` rows, so tiny groups explain little)."""
    _, groups, counts = np.unique(codes, return_inverse=True, return_counts=True)
    sums = np.zeros((counts.size, target.shape[1]))
    np.add.at(sums, groups, target)
    means = sums / counts[:, None]
    overall = target.mean(axis=0)
    shrink = counts / (counts + prior)
    return float((counts[:, None] * (shrink[:, None] * (means - overall)) ** 2).sum())


def infer_feature_columns(
    data: Any,
    label: Any = None,
    *,
    exclude: Sequence[str] = (),
    ids: Sequence[str] = (),
    categorical: Sequence[str] = (),
    crosses: int = 0,
    coordinates: Sequence[tuple[str, str]] | None = None,
    max_rows: int | None = None,
) -> InferredColumns:
    """Choose feature columns for a Wide & Deep from data: no feature engineering by hand.

    Per raw feature (the label and ``exclude`` left out):

    * a number with few distinct values (at most 256, and at most one per 10 rows): one bucket
      per value (boundaries at the values), in both parts (an embedding in the DNN), plus the
      standardised value in the DNN;
    * other numbers: standardised (DNN) plus quantile buckets (linear part; embedded in the
      DNN). Missing numbers are filled with the training median (``default_value``);
    * strings (and ``categorical`` keys): a vocabulary, most frequent first, with one
      out-of-vocabulary bucket (unseen values get it, never an error), in the linear part and
      embedded in the DNN (dimension ``1.6 * n ** 0.56``, at most 16);
    * ids (more than 1,000 distinct strings, or ``ids`` keys): a vocabulary of the values seen at
      least twice (100,000 at most), the rest in one out-of-vocabulary bucket that so learns
      what a rare or unseen id means; embedding dimension up to 32, and at most one per two
      training rows per id (:func:`id_dimension_cap`: a vector per id is learned from its own
      rows) (boosted trees' column
      ``tree_feature_columns`` keeps every value seen);
    * a constant feature (one value, or none) is dropped, and the choice says so;
    * a latitude and a longitude (numeric keys named so, see :func:`coordinate_pairs`) are
      also crossed into grids at three resolutions (``n/4``, ``n/2`` and ``n`` quantile buckets
      per axis, the finest with about 50 rows per cell: :func:`grid_buckets`), in the linear
      part and embedded in the DNN (dimension 4): local effects of place that the DNN does not
      learn from each coordinate alone. Each grid has its own names
      (``<lat>_X_<lon>_grid<n>``), so the export reads the two raw inputs only.

    ``crosses`` adds that many crosses of two categorical or few-valued features, those whose
    pair explains most of the label beyond either alone (needs ``label``).

    Args:
        data: a pandas DataFrame, a mapping of feature key to array, or an input function.
        label: a column name of ``data``, or the labels (array-like); None without crosses.
        exclude: feature keys to leave out (a weight column, a timestamp...).
        ids: keys to treat as ids whatever their type (integer user ids, say).
        categorical: keys to treat as categories whatever their type (integer codes).
        crosses: how many pairwise crosses to add to the linear part.
        coordinates: ``(latitude, longitude)`` key pairs to grid; None finds them by name
            (:func:`coordinate_pairs`), ``()`` grids none.
        max_rows: analyse at most this many rows.

    Returns:
        :class:`InferredColumns`: ``linear_feature_columns``, ``dnn_feature_columns`` and the
        choice made for each feature (``print`` it; ``to_config()`` is JSON).

    Raises:
        FeatureError: a label with missing values, a mixed-type column, no usable feature.

    Example:
        >>> cols = infer_feature_columns({"n": [1, 2, 1, 2] * 10, "s": ["a", "b"] * 20})
        >>> [c.name for c in cols.linear_feature_columns]
        ['n_values', 's']
    """
    arrays, labels = gather_data(data, label, max_rows)
    if labels is not None:
        check_labels(labels, label if isinstance(label, str) else "label")
    if crosses and labels is None:
        raise InvalidParameterError("infer_feature_columns: crosses need a label.")
    linear: list[FeatureColumn] = []
    dnn: list[FeatureColumn] = []
    choices: list[FeatureChoice] = []
    crossable: dict[str, tuple[CategoricalColumn, np.ndarray]] = {}
    trees: list[FeatureColumn] = []
    numbers: dict[str, tuple[NumericColumn, np.ndarray]] = {}
    for key, arr in arrays.items():
        if key in exclude:
            continue
        if _is_number(arr) and key not in ids and key not in categorical:
            chosen = _numeric_feature(key, arr)
        else:
            chosen = _categorical_feature(key, arr, is_id=key in ids)
        choices.append(chosen.choice)
        if chosen.linear is not None:
            linear.append(chosen.linear)
        dnn.extend(chosen.dnn)
        if chosen.tree is not None:
            trees.append(chosen.tree)
        if chosen.codes is not None and chosen.linear is not None:
            crossable[key] = (chosen.linear, chosen.codes)
        if chosen.choice.kind == "numeric" and isinstance(chosen.tree, NumericColumn):
            numbers[key] = (chosen.tree, _finite(arr))
    pairs = coordinate_pairs(numbers) if coordinates is None else coordinates
    for latitude, longitude in pairs:
        for key in (latitude, longitude):
            if key not in numbers:
                raise FeatureError(
                    f"infer_feature_columns: coordinate {key!r} is not a numeric feature with "
                    "many values."
                )
        grids, choice = _grids(numbers[latitude], numbers[longitude])
        linear.extend(grids)
        dnn.extend(embedding_column(g, GRID_EMBEDDING_DIMENSION) for g in grids)
        choices.append(choice)
    if not linear:
        raise FeatureError(
            "infer_feature_columns: no feature has two or more values to learn from."
        )
    if crosses:
        assert labels is not None
        linear.extend(_best_crosses(crossable, _label_codes(labels), crosses))
    return InferredColumns(tuple(linear), tuple(dnn), tuple(choices), tuple(trees))


def _best_crosses(
    crossable: Mapping[str, tuple[CategoricalColumn, np.ndarray]], target: np.ndarray, count: int
) -> list[FeatureColumn]:
    """The ``count`` pairs whose joint groups explain most of ``target`` beyond either alone."""
    alone = {key: _explained(codes, target) for key, (_, codes) in crossable.items()}
    scored: list[tuple[float, str, str]] = []
    keys = sorted(crossable)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            col_a, codes_a = crossable[a]
            col_b, codes_b = crossable[b]
            joint = codes_a.astype(np.int64) * (int(codes_b.max()) + 1) + codes_b
            gain = _explained(joint, target) - max(alone[a], alone[b])
            scored.append((gain, a, b))
    scored.sort(key=lambda t: -t[0])
    out: list[FeatureColumn] = []
    for gain, a, b in scored[:count]:
        if gain <= 0:
            break
        col_a, col_b = crossable[a][0], crossable[b][0]
        size = min(CROSS_MAX_BUCKETS, 4 * col_a.num_buckets * col_b.num_buckets)
        out.append(crossed_column([col_a, col_b], max(size, 2)))
    return out


def _words(key: str) -> list[str]:
    """``key``'s words, lower case: split at non-letters and at camelCase humps."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _coordinate_role(key: str) -> tuple[str, tuple[str, ...]] | None:
    words = _words(key)
    lat = [i for i, w in enumerate(words) if w in LATITUDE_WORDS]
    lon = [i for i, w in enumerate(words) if w in LONGITUDE_WORDS]
    if len(lat) + len(lon) != 1:
        return None
    i = (lat or lon)[0]
    return ("lat" if lat else "lon"), tuple(words[:i]) + ("*",) + tuple(words[i + 1 :])


def coordinate_pairs(keys: Any) -> list[tuple[str, str]]:
    """``(latitude, longitude)`` pairs among ``keys``, told by one word of each key
    (``lat``/``latitude`` and ``lon``/``lng``/``long``/``longitude``; words split at
    non-letters and camelCase) with the rest of the two keys' words equal.

    Example:
        >>> coordinate_pairs(["Latitude", "Longitude", "pickup_lat", "pickup_lng", "dropoffLat"])
        [('Latitude', 'Longitude'), ('pickup_lat', 'pickup_lng')]
    """
    latitudes: dict[tuple[str, ...], str] = {}
    longitudes: dict[tuple[str, ...], str] = {}
    for key in keys:
        role = _coordinate_role(str(key))
        if role is not None:
            side = latitudes if role[0] == "lat" else longitudes
            side.setdefault(role[1], str(key))
    return [(lat, longitudes[rest]) for rest, lat in latitudes.items() if rest in longitudes]


def _finite(arr: pa.Array) -> np.ndarray:
    values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
    return values[np.isfinite(values)]


def _grids(
    latitude: tuple[NumericColumn, np.ndarray], longitude: tuple[NumericColumn, np.ndarray]
) -> tuple[list[CategoricalColumn], FeatureChoice]:
    """Latitude x longitude crosses at ``GRID_SCALES`` resolutions (see ``GRID_SCALES``), of
    the raw columns (missing values at their default) and their finite values."""
    finest = grid_buckets(max(latitude[1].size, longitude[1].size))
    grids: list[CategoricalColumn] = []
    sizes = []
    for count in sorted({max(GRID_BUCKETS_MIN, finest // scale) for scale in GRID_SCALES}):
        axes = []
        for column, values in (latitude, longitude):
            cuts = np.unique(np.quantile(values, np.linspace(0, 1, count + 1)[1:-1]))
            axes.append(bucketized_column(column, cuts.tolist(), name=f"{column.key}_grid{count}"))
        cells = axes[0].num_buckets * axes[1].num_buckets
        grids.append(
            crossed_column(
                axes,
                min(CROSS_MAX_BUCKETS, 4 * cells),
                name=f"{latitude[0].key}_X_{longitude[0].key}_grid{count}",
            )
        )
        sizes.append(f"{count}x{count}")
    reason = f"latitude x longitude: grids of {', '.join(sizes)} quantile cells"
    return grids, FeatureChoice(f"{latitude[0].key} x {longitude[0].key}", "grid", reason)


@dataclass
class _Chosen:
    """The columns chosen for one feature, and its per-row group codes where it can be crossed."""

    choice: FeatureChoice
    linear: CategoricalColumn | None = None
    dnn: tuple[FeatureColumn, ...] = ()
    codes: np.ndarray | None = None
    tree: FeatureColumn | None = None


def _numeric_feature(key: str, arr: pa.Array) -> _Chosen:
    values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
    finite = values[np.isfinite(values)]
    distinct = np.unique(finite)
    if distinct.size <= 1:
        return _Chosen(FeatureChoice(key, "dropped", f"constant ({distinct.size} value)"))
    median = float(np.median(finite))
    default = median if finite.size < values.size else None  # missing values: the median
    scaled = numeric_column(
        key, default_value=default, normalizer_fn=ZScore(float(finite.mean()), float(finite.std()))
    )
    source = numeric_column(key, default_value=default)
    codes = None
    if distinct.size <= FEW_VALUES and distinct.size * FEW_VALUES_ROWS_PER_VALUE <= len(arr):
        buckets = bucketized_column(source, distinct[1:].tolist(), name=f"{key}_values")
        choice = FeatureChoice(key, "few_values", f"{distinct.size} distinct values, a bucket each")
        filled = np.where(np.isfinite(values), values, median)
        codes = np.searchsorted(distinct[1:], filled, side="right")
    else:
        count = quantile_buckets(values.size)
        quantiles = np.quantile(finite, np.linspace(0, 1, count + 1)[1:-1])
        bounds = np.unique(quantiles)
        buckets = bucketized_column(source, bounds.tolist(), name=f"{key}_quantiles")
        choice = FeatureChoice(
            key,
            "numeric",
            f"{distinct.size} distinct values: standardised, {bounds.size + 1} quantile buckets",
        )
    embedded = embedding_column(buckets, embedding_dimension(buckets.num_buckets))
    raw = numeric_column(key, default_value=default)  # (JSON has no NaN: the median too)
    return _Chosen(choice, buckets, (scaled, embedded), codes, raw)


def _categorical_feature(key: str, arr: pa.Array, *, is_id: bool) -> _Chosen:
    try:
        strings = _strings(arr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise FeatureError(
            f"Feature {key!r}: cannot read {arr.type} values as categories."
        ) from None
    counts = pc.value_counts(strings.drop_null())
    frequency = dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
    if len(frequency) <= 1:
        return _Chosen(FeatureChoice(key, "dropped", f"constant ({len(frequency)} value)"))
    is_id = is_id or len(frequency) > ID_DISTINCT
    min_count = ID_MIN_COUNT if is_id else 1
    ranked = sorted(
        (v for v, c in frequency.items() if c >= min_count), key=lambda v: (-frequency[v], v)
    )[:ID_MAX_VOCABULARY]
    if not ranked:
        return _Chosen(FeatureChoice(key, "dropped", "every value seen only once"))
    numbers = _is_number(arr)
    vocabulary: list[Any] = [int(float(v)) for v in ranked] if numbers else ranked
    column = categorical_column_with_vocabulary_list(
        key, vocabulary, dtype="int64" if numbers else "string", num_oov_buckets=1
    )
    if is_id:
        cap = id_dimension_cap(sum(frequency[v] for v in ranked), len(ranked))
    else:
        cap = CATEGORICAL_MAX_DIMENSION
    embedded = embedding_column(column, embedding_dimension(column.num_buckets, cap))
    if is_id:
        reason = f"{len(frequency)} distinct values, {len(ranked)} seen {min_count}+ times"
        # Trees read every value seen (LightGBM groups rare categories itself, and an unseen
        # value goes where a missing one goes): sharing the out-of-vocabulary id between rare
        # and unseen values cost boosted trees 0.001-0.005 test AUC on the generated
        # recommendation task's time split (issue 23).
        seen = sorted(frequency, key=lambda v: (-frequency[v], v))[:ID_MAX_VOCABULARY]
        tree = categorical_column_with_vocabulary_list(
            key,
            [int(float(v)) for v in seen] if numbers else seen,
            dtype="int64" if numbers else "string",
            num_oov_buckets=1,
        )
        return _Chosen(FeatureChoice(key, "id", reason), column, (embedded,), tree=tree)
    index = {v: i for i, v in enumerate(ranked)}
    codes = np.array([index.get(v, len(ranked)) for v in strings.to_pylist()])
    choice = FeatureChoice(key, "categorical", f"{len(frequency)} distinct values")
    return _Chosen(choice, column, (embedded,), codes, column)
