"""A Wide & Deep blended with boosted trees, kept only where the validation rows say so.

``train_tabular`` (with validation rows, unless ``blend_trees=False``) calls
:func:`blend_with_trees` once the Wide & Deep is trained: it grows a
:class:`~mlengine.estimator.BoostedTreesClassifier` (or ``Regressor``) at TF's defaults on the
same training rows, over the columns :func:`~mlengine.feature_column.infer_feature_columns`
chose for trees, and scores on the validation rows the Wide & Deep alone and the average of the
two, averaged as :func:`~mlengine.export.ensemble.export_ensemble` averages (probabilities, or
regression outputs). The blend is kept only when it scores better, by the metric the Wide &
Deep's early stopping watched (AUC for two classes, else the average loss). The trees grow
their 100 trees in full: TF's boosted trees had no early stopping of their own, and a hook
cannot see the validation rows' scores tree by tree.

Only these two models are compared: the path stays a Wide & Deep, blended or not.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.export.ensemble import average_logits, ensemble_head, export_ensemble
from mlengine.model.heads import Head, head_from_config
from mlengine.training.config import RunConfig
from mlengine.training.head_metrics import metrics_for_head

if TYPE_CHECKING:
    from mlengine.estimator.estimator import Estimator
    from mlengine.estimator.tabular import TabularResult

#: Where the trees' checkpoints go, under the Wide & Deep's model_dir.
TREES_DIR = "boosted_trees"
#: The keys of :attr:`TabularResult.blend_scores`.
WIDE_DEEP, BLEND = "wide_deep", "blend"


def _input_fn(x: pd.DataFrame, labels: Any = None) -> Any:
    from mlengine.estimator import inputs

    series = None if labels is None else pd.Series(labels)
    return inputs.pandas_input_fn(x, series, batch_size=4096, shuffle=False)


def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise InvalidParameterError(
        f"Predictions take a pandas DataFrame or a dict of columns; got {type(data).__name__}."
    )


def outputs_of(model: Estimator, data: Any) -> dict[str, np.ndarray]:
    """``model``'s predictions of the rows of ``data`` (a DataFrame or a dict of columns), one
    array per key, first axis = rows."""
    batches = list(model.predict(_input_fn(_frame(data)), yield_single_examples=False))
    if not batches:
        raise FeatureError("No rows to predict.")
    return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}


def blend_head(members: Sequence[Estimator]) -> Head:
    """The head of the members' ensemble (as :func:`export_ensemble` writes it)."""
    return head_from_config(ensemble_head([m._model_spec()["head"] for m in members]))


def _average(head: Head) -> str:
    return "predictions" if head.kind == "regression" else "probabilities"


def blend_predictions(members: Sequence[Estimator], data: Any) -> dict[str, np.ndarray]:
    """The predictions of the members' average (one member: its own predictions)."""
    if len(members) == 1:
        return outputs_of(members[0], data)
    head = blend_head(members)
    outputs = [outputs_of(m, data) for m in members]
    return head.predictions(average_logits(outputs, _average(head)))


def validation_score(head: Head, logits: np.ndarray, labels: np.ndarray) -> float:
    """AUC (two classes) or average loss of ``logits`` against raw ``labels``."""
    z = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    y = torch.from_numpy(head.encode_labels(labels))
    metrics = metrics_for_head(head)
    metrics.update(head.metric_inputs(z), y, None, head.unreduced_loss(z, y))
    return float(metrics.result()["auc" if head.kind == "binary" else "average_loss"])


def train_trees(
    result: TabularResult, train_x: pd.DataFrame, train_y: np.ndarray, seed: int, quiet: bool
) -> Estimator:
    """BoostedTrees at TF's defaults over ``result``'s tree columns, on the training rows."""
    from mlengine.estimator.boosted_trees import BoostedTreesClassifier, BoostedTreesRegressor

    task = result.task
    columns = list(result.columns.tree_feature_columns)
    model_dir = os.path.join(result.estimator.model_dir, TREES_DIR)
    config = RunConfig(tf_random_seed=seed, quiet=quiet, log_step_count_steps=10**9)
    trees: Estimator
    if task.kind == "regression":
        trees = BoostedTreesRegressor(columns, 1, model_dir, config=config)
    else:
        vocabulary = None if task.label_vocabulary is None else list(task.label_vocabulary)
        trees = BoostedTreesClassifier(
            columns, 1, model_dir, n_classes=task.n_classes, label_vocabulary=vocabulary,
            config=config,
        )  # fmt: skip
    return trees.train(_input_fn(train_x, task.labels(train_y)))


def blend_with_trees(
    result: TabularResult,
    train_x: pd.DataFrame,
    train_y: np.ndarray,
    valid_x: pd.DataFrame,
    valid_y: np.ndarray,
    seed: int,
    quiet: bool = True,
) -> None:
    """Grow the trees, score the Wide & Deep and the blend on the validation rows, and keep
    the blend in ``result`` (``trees``, ``blended``, ``blend_scores``) only if it scores
    better."""
    trees = train_trees(result, train_x, train_y, seed, quiet)
    members = [result.estimator, trees]
    head = blend_head(members)
    average = _average(head)
    wide_deep = outputs_of(result.estimator, valid_x)
    labels = result.task.labels(valid_y)
    alone = validation_score(head, average_logits([wide_deep], average), labels)
    both = [wide_deep, outputs_of(trees, valid_x)]
    blend = validation_score(head, average_logits(both, average), labels)
    result.trees = trees
    result.blend_scores = {WIDE_DEEP: alone, BLEND: blend}
    result.blended = blend > alone if head.kind == "binary" else blend < alone


def export_blend(members: Sequence[Estimator], export_dir_base: str | os.PathLike[str]) -> str:
    """One version: the ensemble of ``members`` (two or more), or the one member's export."""
    if len(members) == 1:
        return members[0].export_saved_model(export_dir_base)
    with tempfile.TemporaryDirectory(prefix="mlengine-blend-") as temp:
        paths = [m.export_saved_model(os.path.join(temp, str(i))) for i, m in enumerate(members)]
        return export_ensemble(export_dir_base, paths)
