"""The no-feature-engineering path: a DataFrame and a label in, a trained Wide & Deep out.

:func:`train_tabular` chooses the columns from the data
(:func:`~mlengine.feature_column.infer_feature_columns`), picks the task from the label, and
trains a :class:`~mlengine.estimator.DNNLinearCombinedClassifier` (or ``Regressor``) with the
tabular presets below, evaluating a validation split every ``ROUND_STEPS`` steps to find the
best number of steps, then training again on every row (the validation rows too) for as many
epochs. The result is an ordinary canned estimator (evaluate, predict,
``export_saved_model``) over ordinary columns: the export and the server need nothing new.
By default (``blend_trees=None``: whenever there are validation rows) boosted trees are grown
beside it and averaged with it where the validation rows say the average is better
(:mod:`mlengine.estimator.blend`); the result's ``predict`` and ``export_saved_model`` then
give that ensemble.

TF's canned classes keep TF's defaults; only this path uses the presets.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.estimator.blend import (
    blend_predictions,
    blend_with_trees,
    export_blend,
    train_trees,
)
from mlengine.estimator.canned import DNNLinearCombinedClassifier, DNNLinearCombinedRegressor
from mlengine.estimator.estimator import Estimator
from mlengine.feature_column import InferredColumns, infer_feature_columns
from mlengine.feature_column.analyze import check_labels
from mlengine.model.heads import RegressionHead
from mlengine.training.checkpoint import list_checkpoints
from mlengine.training.config import RunConfig
from mlengine.training.optimizers import AdamOptimizer, FtrlOptimizer

# Tabular presets (issue 23's study). TF's FTRL defaults (learning rate 0.005 in Wide & Deep,
# initial accumulator 0.1) barely move sparse weights under the averaged loss: on a
# recommendation task (user and item ids, a time split) FTRL at 0.3 with initial accumulator
# 0.001 for the wide part and Adam with dropout 0.3 for the DNN took AUC from 0.632 to 0.698
# (LightGBM: 0.701); on census the same optimizers and per-value buckets gave 0.928-0.929.
LINEAR_LEARNING_RATE = 0.3
LINEAR_INITIAL_ACCUMULATOR = 0.001
DNN_LEARNING_RATE = 0.001
DNN_DROPOUT = 0.3
HIDDEN_UNITS = (128, 64)
#: Steps between evaluations of the validation split, and (``patience=None``) how many steps
#: without improvement stop the search (at least ``PATIENCE_ROUNDS`` evaluations). Rounds of
#: 50 or 25 steps instead of 100 moved test AUC by under 0.002 on the generated
#: recommendation tasks (issue 23): the validation AUC's noise, not the rounds, decides.
ROUND_STEPS = 100
PATIENCE_STEPS = 300
PATIENCE_ROUNDS = 3
#: Most classes a label may have before it is taken for a regression target.
MAX_CLASSES = 50


def linear_learning_rate(batch_size: int) -> float:
    """FTRL's rate for the wide part at ``batch_size``: ``LINEAR_LEARNING_RATE`` at 1024 and
    above, scaled by ``sqrt(batch_size / 1024)`` below.

    FTRL divides each step by the root of the summed squared gradients, so a weight moves about
    the rate per step whatever the gradient's size; with small batches a bucket's gradient is a
    row or two, mostly noise, and the weights wander by the rate. On diabetes (278 rows, batch
    32) 0.3 overfit within 12 epochs; 0.053 took RMSE 68.7 -> 63.8 (issue 23).

    Example:
        >>> linear_learning_rate(1024), round(linear_learning_rate(32), 3)
        (0.3, 0.053)
    """
    return LINEAR_LEARNING_RATE * math.sqrt(min(1.0, batch_size / 1024))


def tabular_optimizers(batch_size: int = 1024) -> tuple[FtrlOptimizer, AdamOptimizer]:
    """The presets' optimizers: FTRL for the wide part, Adam for the DNN."""
    return (
        FtrlOptimizer(
            learning_rate=linear_learning_rate(batch_size),
            initial_accumulator_value=LINEAR_INITIAL_ACCUMULATOR,
        ),
        AdamOptimizer(learning_rate=DNN_LEARNING_RATE),
    )


def default_batch_size(rows: int) -> int:
    """1024 for big data (fast on CPU), smaller for small data, so an epoch is 20+ steps."""
    return int(min(1024, max(32, 2 ** math.floor(math.log2(max(rows // 20, 1))))))


@dataclass(frozen=True)
class Task:
    """What the label asks for: ``binary``, ``multiclass`` or ``regression``."""

    kind: str
    n_classes: int = 2
    label_vocabulary: tuple[str, ...] | None = None

    def labels(self, values: np.ndarray) -> np.ndarray:
        """The labels as the head reads them (strings for a vocabulary, else numbers)."""
        if self.label_vocabulary is not None:
            return np.asarray([str(v) for v in values], dtype=object)
        if self.kind == "regression":
            return values.astype(np.float64)
        return values.astype(np.int64)


def infer_task(labels: np.ndarray, task: str | None = None) -> Task:
    """The task from the label's values: numbers with fractions, or more than 50 distinct
    values, are regressed; otherwise each distinct value is a class (ints 0..k-1 as they are,
    anything else through a ``label_vocabulary`` of the sorted values).

    Raises:
        FeatureError: a label with missing values, or with a single value.
    """
    check_labels(labels)
    if task not in (None, "classification", "regression"):
        raise InvalidParameterError(
            f"The 'task' parameter must be None, 'classification' or 'regression'. Got {task!r}."
        )
    numeric = labels.dtype.kind in "iufb"
    values = np.unique(labels if numeric else labels.astype(str))
    if values.size < 2:
        raise FeatureError(
            f"The label has a single value ({values[:1].tolist()}): nothing to learn."
        )
    fractional = labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0)
    if task == "regression" or (
        task is None and numeric and (fractional or values.size > MAX_CLASSES)
    ):
        if not numeric:
            raise FeatureError("A regression label must be numbers.")
        return Task("regression", 1)
    kind = "binary" if values.size == 2 else "multiclass"
    if numeric and labels.dtype.kind != "b" and np.array_equal(values, np.arange(values.size)):
        return Task(kind, int(values.size))
    return Task(kind, int(values.size), tuple(str(v) for v in values))


@dataclass
class TabularResult:
    """What :func:`train_tabular` trained: the estimator (refit on every row, or at its best
    checkpoint), the columns it chose, the task, the validation metrics after each round
    (``history``), the search's best step, and the refit's steps (None without a refit)."""

    estimator: Estimator
    columns: InferredColumns
    task: Task
    history: list[dict[str, Any]] = field(default_factory=list)
    best_step: int | None = None
    #: With a blend tried: the boosted trees grown beside the Wide & Deep (kept or not;
    #: after a refit, grown again on every row if kept, else None), whether their blend was
    #: kept, and both validation scores (``"wide_deep"``, ``"blend"``) of the search's models.
    trees: Estimator | None = None
    blended: bool = False
    blend_scores: dict[str, float] = field(default_factory=dict)

    @property
    def members(self) -> list[Estimator]:
        """The chosen model's members: the Wide & Deep, and the trees if blended."""
        if self.blended and self.trees is not None:
            return [self.estimator, self.trees]
        return [self.estimator]

    def predict(self, data: Any) -> dict[str, np.ndarray]:
        """The chosen model's predictions of ``data``'s rows (a DataFrame or a dict of
        columns): one array per key, as the Predictor of :meth:`export_saved_model`'s version
        gives them."""
        return blend_predictions(self.members, data)

    def export_saved_model(self, export_dir_base: str | os.PathLike[str]) -> str:
        """Export the chosen model as one version under ``export_dir_base``: the Wide & Deep's
        export, or an ensemble averaging it with the trees (served by the Predictor and the
        server as any version). Returns the version's path."""
        return export_blend(self.members, export_dir_base)

    refit_steps: int | None = None


#: The latest rows validate unless their labels look sorted: a class's share in them below
#: this fraction of (or above its inverse times) its share in all rows, or (regression) their
#: mean further than this many standard deviations from the overall mean.
SORTED_LABEL_RATIO = 0.5


def latest_rows_fit(labels: np.ndarray, count: int, regression: bool) -> bool:
    """Whether the last ``count`` rows can validate: the rows' own order is the default
    (for a table in time order the latest rows stand for the future, as a test set after a
    time split does; for shuffled rows they are as good as a random draw), unless the labels
    look sorted (see ``SORTED_LABEL_RATIO``).

    On the generated recommendation task (time split, a third of the test users new) the latest rows
    instead of a random 10% took test AUC from 0.6902 to 0.7052 on seed 3 (LightGBM 0.7049):
    a random draw rewards memorising the users seen, which the future does not hold.
    """
    tail = labels[len(labels) - count :]
    if count < 1 or tail.size == 0:
        return False
    if regression:
        labels, tail = labels.astype(np.float64), tail.astype(np.float64)
        spread = float(labels.std()) or 1.0
        return abs(float(tail.mean()) - float(labels.mean())) <= SORTED_LABEL_RATIO * spread
    values, counts = np.unique(labels.astype(str), return_counts=True)
    shares = counts / labels.size
    tail_counts = np.array([(tail.astype(str) == v).sum() for v in values])
    ratio = (tail_counts / tail.size) / shares
    return bool(np.all((ratio >= SORTED_LABEL_RATIO) & (ratio <= 1 / SORTED_LABEL_RATIO)))


def _split(
    x: pd.DataFrame, y: np.ndarray, validation: Any, seed: int, regression: bool
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, np.ndarray | None]:
    if validation is None or validation == 0:
        return x, y, None, None
    if isinstance(validation, tuple):
        vx, vy = validation
        frame = vx if isinstance(vx, pd.DataFrame) else pd.DataFrame(vx)
        return x, y, frame.reset_index(drop=True), np.asarray(vy)
    if not isinstance(validation, float) or not 0 < validation < 0.5:
        raise InvalidParameterError(
            "The 'validation' parameter must be None, a fraction in (0, 0.5) or a (features, "
            f"labels) pair. Got {validation!r} instead."
        )
    cut = int(round(len(x) * validation))
    if latest_rows_fit(y, cut, regression):
        held, kept = np.arange(len(x) - cut, len(x)), np.arange(len(x) - cut)
    else:
        order = np.random.default_rng(seed).permutation(len(x))
        held, kept = np.sort(order[:cut]), np.sort(order[cut:])
    return (
        x.iloc[kept].reset_index(drop=True),
        y[kept],
        x.iloc[held].reset_index(drop=True),
        y[held],
    )


def _frame(data: Any, label: Any) -> tuple[pd.DataFrame, np.ndarray]:
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        frame = pd.DataFrame(data)
    else:
        raise InvalidParameterError(
            f"train_tabular takes a pandas DataFrame or a dict of columns; got "
            f"{type(data).__name__}."
        )
    if isinstance(label, str):
        if label not in frame.columns:
            raise FeatureError(f"Label {label!r} is not a column of the data.")
        return frame.drop(columns=[label]), frame[label].to_numpy()
    labels = np.asarray(label)
    if len(labels) != len(frame):
        raise FeatureError(f"{len(labels)} labels for {len(frame)} rows.")
    return frame, labels


def train_tabular(
    data: Any,
    label: Any,
    *,
    model_dir: str | os.PathLike[str] | None = None,
    task: str | None = None,
    validation: float | tuple[Any, Any] | None = 0.1,
    max_epochs: int = 40,
    epochs_per_round: int | None = None,
    patience: int | None = None,
    refit: bool = True,
    batch_size: int | None = None,
    crosses: int = 0,
    exclude: Sequence[str] = (),
    ids: Sequence[str] = (),
    categorical: Sequence[str] = (),
    coordinates: Sequence[tuple[str, str]] | None = None,
    hidden_units: Sequence[int] = HIDDEN_UNITS,
    seed: int = 1,
    quiet: bool = True,
    blend_trees: bool | None = None,
) -> TabularResult:
    """Train the best Wide & Deep we know for a table, with no feature engineering.

    Columns come from :func:`~mlengine.feature_column.infer_feature_columns` (fitted on the
    training rows only), the task from the label (:func:`infer_task`), the optimizers from the
    tabular presets (FTRL at 0.3 with initial accumulator 0.001 for the wide part, scaled down
    for batches under 1024 by :func:`linear_learning_rate`; Adam at 0.001 and dropout 0.3 for a
    [128, 64] DNN). Training runs in rounds of ``ROUND_STEPS`` (100) steps; after each, the
    validation rows are evaluated (AUC for two classes, else the average loss), and training
    stops after ``patience`` rounds without improvement. With ``refit`` (the default, for a
    validation fraction) that search runs in a temporary folder, and the model is then
    trained again from scratch on every row, columns chosen from every row, for as many
    epochs as the best checkpoint had (``best_step * rows / searched rows`` steps): after a
    time split the validation rows are the latest, the ones most like the future (on the
    generated movie-rating task, where most test movies are new, AUC 0.7473 -> 0.7632).
    Without it (or with a ``(features, labels)`` pair) the checkpoints after the best one are
    removed, so the estimator (and its export) is the best model seen.

    Args:
        data: a pandas DataFrame (or a dict of columns) holding features and, if ``label`` is
            a column name, the label.
        label: the label's column name, or the labels (array-like, one per row).
        model_dir: where checkpoints go (a temporary folder when None).
        task: None (inferred), ``"classification"`` or ``"regression"``.
        validation: a fraction of rows held out, a ``(features, labels)`` pair, or None (no
            early stopping). A fraction takes the last rows (the latest, for a table in time
            order) unless the labels look sorted, then a random draw (seeded); see
            :func:`latest_rows_fit`.
        max_epochs: most epochs in all.
        epochs_per_round: epochs between evaluations (None: ``ROUND_STEPS`` steps).
        patience: rounds without improvement before stopping (None: ``PATIENCE_STEPS``
            steps' worth, at least ``PATIENCE_ROUNDS`` rounds).
        refit: after the search on a validation fraction, train again on every row for the
            best number of epochs (``TabularResult.refit_steps``); False keeps the search's
            best checkpoint.
        batch_size: None picks 1024 for big data, less for small (20+ steps per epoch).
        crosses, exclude, ids, categorical, coordinates: passed to
            ``infer_feature_columns`` (``coordinates=None`` grids the latitude and longitude
            pairs it finds by name; ``()`` grids none).
        hidden_units: the DNN's layers.
        seed: seeds the split, the initial weights and the shuffling.
        quiet: no progress lines.
        blend_trees: also grow BoostedTrees at TF's defaults on the training rows, and keep
            the average of the two where it validates better than the Wide & Deep alone
            (:mod:`mlengine.estimator.blend`). None (the default): whenever there are
            validation rows; True: always (an error without validation rows); False: never,
            the Wide & Deep alone.

    Returns:
        :class:`TabularResult` with the trained estimator at its best checkpoint.

    Raises:
        FeatureError: a label with missing values or a single value, a mixed-type column.
        InvalidParameterError: ``blend_trees`` not None or a bool, or True without
            validation rows.

    Example:
        >>> result = train_tabular(df, "income")                            # doctest: +SKIP
        >>> result.export_saved_model("exports/income")                     # doctest: +SKIP
    """
    if blend_trees is not None and not isinstance(blend_trees, bool):
        raise InvalidParameterError(
            f"The 'blend_trees' parameter must be None, True or False. Got {blend_trees!r} instead."
        )
    no_validation = validation is None or (not isinstance(validation, tuple) and validation == 0)
    if blend_trees is None:
        blend_trees = not no_validation
    if blend_trees and no_validation:
        raise InvalidParameterError(
            "train_tabular(blend_trees=True) chooses the blend on validation rows: set "
            "'validation' to a fraction or a (features, labels) pair, not None."
        )
    x, y = _frame(data, label)
    found = infer_task(y, task)
    train_x, train_y, valid_x, valid_y = _split(x, y, validation, seed, found.kind == "regression")
    columns = infer_feature_columns(
        train_x,
        train_y,
        exclude=exclude,
        ids=ids,
        categorical=categorical,
        crosses=crosses,
        coordinates=coordinates,
    )
    batch = batch_size or default_batch_size(len(train_x))
    steps_per_epoch = max(1, math.ceil(len(train_x) / batch))
    round_steps = epochs_per_round * steps_per_epoch if epochs_per_round else ROUND_STEPS
    if patience is None:
        patience = max(PATIENCE_ROUNDS, math.ceil(PATIENCE_STEPS / round_steps))
    keep = None if valid_x is None else patience + 2  # the best is among the newest kept
    config = RunConfig(
        tf_random_seed=seed, quiet=quiet, keep_checkpoint_max=keep, log_step_count_steps=10**9
    )
    refit = refit and valid_x is not None and not isinstance(validation, tuple)
    scratch = tempfile.mkdtemp(prefix="train_tabular-") if refit else None
    search_dir = scratch or model_dir
    try:
        result = TabularResult(
            _build(columns, found, train_y, search_dir, config, batch, hidden_units), columns, found
        )
        _fit_rounds(
            result,
            train_x,
            found.labels(train_y),
            valid_x,
            valid_y,
            batch,
            round_steps,
            max_epochs * steps_per_epoch,
            patience,
            seed,
        )
        if blend_trees:
            assert valid_x is not None and valid_y is not None
            blend_with_trees(result, train_x, train_y, valid_x, valid_y, seed, quiet)
        if refit:
            _refit(
                result,
                x,
                y,
                model_dir,
                batch,
                len(train_x),
                hidden_units,
                seed,
                quiet,
                exclude=exclude,
                ids=ids,
                categorical=categorical,
                crosses=crosses,
            )
            if blend_trees:  # the blend chosen above, its trees grown again on every row
                result.trees = train_trees(result, x, y, seed, quiet) if result.blended else None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return result


def _refit(
    result: TabularResult,
    x: pd.DataFrame,
    y: np.ndarray,
    model_dir: Any,
    batch: int,
    searched_rows: int,
    hidden_units: Sequence[int],
    seed: int,
    quiet: bool,
    **choose: Any,
) -> None:
    """Train again on every row (the validation rows too: after a time split, the latest) for
    as many epochs as the search's best checkpoint had, with columns chosen from every row."""
    from mlengine.estimator import inputs

    assert result.best_step is not None
    columns = infer_feature_columns(x, y, **choose)
    config = RunConfig(tf_random_seed=seed, quiet=quiet, log_step_count_steps=10**9)
    model = _build(columns, result.task, y, model_dir, config, batch, hidden_units)
    steps = max(1, round(result.best_step * len(x) / searched_rows))
    train_fn = inputs.pandas_input_fn(
        x,
        pd.Series(result.task.labels(y)),
        batch_size=batch,
        num_epochs=None,
        shuffle=True,
        seed=seed * 1000,
    )
    model.train(train_fn, steps=steps)
    result.estimator, result.columns, result.refit_steps = model, columns, steps


def _build(
    columns: InferredColumns,
    found: Task,
    train_y: np.ndarray,
    model_dir: Any,
    config: RunConfig,
    batch: int,
    hidden_units: Sequence[int],
) -> Estimator:
    linear_optimizer, dnn_optimizer = tabular_optimizers(batch)
    common: dict[str, Any] = {
        "model_dir": model_dir,
        "linear_feature_columns": list(columns.linear_feature_columns),
        "dnn_feature_columns": list(columns.dnn_feature_columns),
        "dnn_hidden_units": list(hidden_units),
        "linear_optimizer": linear_optimizer,
        "dnn_optimizer": dnn_optimizer,
        "dnn_dropout": DNN_DROPOUT,
        "config": config,
    }
    model: Estimator
    if found.kind == "regression":
        values = train_y.astype(np.float64)
        model = DNNLinearCombinedRegressor(**common)
        # Outputs start near 0: let them stand for (label - mean) / std.
        model._head = RegressionHead(1, label_center=values.mean(), label_scale=values.std() or 1)
        model._spec["head"] = model._head.config()
    else:
        vocabulary = None if found.label_vocabulary is None else list(found.label_vocabulary)
        model = DNNLinearCombinedClassifier(
            n_classes=found.n_classes, label_vocabulary=vocabulary, **common
        )
    return model


def _fit_rounds(
    result: TabularResult,
    train_x: pd.DataFrame,
    train_y: np.ndarray,
    valid_x: pd.DataFrame | None,
    valid_y: np.ndarray | None,
    batch: int,
    round_steps: int,
    max_steps: int,
    patience: int,
    seed: int,
) -> None:
    """Train in rounds, evaluate each, stop on patience, keep the best checkpoint."""
    from mlengine.estimator import inputs

    model, task = result.estimator, result.task
    higher_is_better = task.kind == "binary"
    metric = "auc" if higher_is_better else "average_loss"
    valid_fn = None
    if valid_x is not None and valid_y is not None:
        valid_fn = inputs.pandas_input_fn(
            valid_x, pd.Series(task.labels(valid_y)), batch_size=4096, shuffle=False
        )
    best: float | None = None
    waited = 0
    rounds = max(1, math.ceil(max_steps / round_steps))
    for n in range(rounds):
        train_fn = inputs.pandas_input_fn(
            train_x,
            pd.Series(train_y),
            batch_size=batch,
            num_epochs=None,
            shuffle=True,
            seed=seed * 1000 + n,
        )
        model.train(train_fn, steps=min(round_steps, max_steps - n * round_steps))
        if valid_fn is None:
            continue
        scores = model.evaluate(valid_fn, name="validation")
        result.history.append(scores)
        value = float(scores[metric])
        if best is None or (value > best if higher_is_better else value < best):
            best, waited, result.best_step = value, 0, int(scores["global_step"])
        else:
            waited += 1
            if waited >= patience:
                break
    if result.best_step is not None:
        restore_best(model.model_dir, result.best_step)


def restore_best(model_dir: str, step: int) -> None:
    """Make checkpoint ``step`` the latest: remove the later (worse) ones, manifest first, so
    none is ever seen half-removed."""
    for prefix in list_checkpoints(model_dir):
        if int(prefix.rsplit("-", 1)[1]) > step:
            for suffix in (".json", ".safetensors"):
                try:
                    os.remove(prefix + suffix)
                except FileNotFoundError:
                    pass
