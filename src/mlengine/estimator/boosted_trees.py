"""BoostedTreesClassifier / BoostedTreesRegressor: TensorFlow's names and defaults, on LightGBM.

TensorFlow's boosted trees (removed from its estimator package in 2022) took feature columns
and grew depth-wise trees; here LightGBM grows them, from the same feature columns
(:mod:`mlengine.model.trees` builds its matrix; categorical columns use LightGBM's native
categorical splits). TF's arguments map onto LightGBM's parameters:

============================  ===========================================================
TensorFlow                     LightGBM
============================  ===========================================================
``n_trees=100``                boosting rounds (``global_step`` counts trees)
``max_depth=6``                ``max_depth``, ``num_leaves = 2 ** max_depth``
``learning_rate=0.1``          ``learning_rate``
``l1_regularization=0``        ``lambda_l1``
``l2_regularization=0``        ``lambda_l2``
``tree_complexity=0``          ``min_gain_to_split`` (with ``pruning_mode`` pre or post)
``min_node_weight=0``          ``min_sum_hessian_in_leaf``
``center_bias=False``          ``boost_from_average``
``pruning_mode='none'``        'pre' and 'post' both stop splits below ``tree_complexity``
                               (LightGBM has no post-pruning)
``quantile_sketch_epsilon``    ``max_bin = round(1 / epsilon)`` (0.01: 100 bins)
``n_batches_per_layer``        checked (>= 1); the input is read once, in full, as with
``train_in_memory``            ``train_in_memory=True``; an input that never ends (a dataset
                               repeated for ever) gives ``n_batches_per_layer`` batches
============================  ===========================================================

Everything else is LightGBM's default (``min_data_in_leaf=20``...). Checkpoints are LightGBM's
text model plus a JSON manifest (``model_dir/trees-<n>.txt`` / ``.json``); ``train`` resumes
from the latest, adding trees up to ``n_trees``. ``train`` shows its progress as networks do
(:mod:`mlengine.training.progress`: a bar in a terminal, TF's ``loss = X, step = N`` lines
elsewhere, nothing when quiet), one step per tree, with the training loss LightGBM reports
after it (``binary_logloss``, ``multi_logloss`` or ``l2``: the head's loss). Exports hold the
same text model (:mod:`mlengine.export.lightgbm_model`) and the columns, never a pickle.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mlengine.data.contract import resolve_input
from mlengine.errors import InvalidParameterError, NotFittedError, NotSupportedError
from mlengine.estimator.canned import _columns, _weight_column
from mlengine.estimator.estimator import Estimator, check_steps, eval_run_session
from mlengine.export.format import signature_defs, signature_inputs
from mlengine.export.lightgbm_model import MEMBER, write_lightgbm_model
from mlengine.export.members import MEMBERS_KEY, write_member
from mlengine.export.writer import (
    add_serving_inputs,
    check_receiver,
    manifest_fields,
    store_vocabulary_assets,
    write_manifest,
    write_version,
)
from mlengine.feature_column import FeatureColumn, to_config
from mlengine.feature_column.analyze import gather_data
from mlengine.feature_column.encoding import as_feature_dict, count_rows
from mlengine.model.heads import (
    SUM_OVER_BATCH_SIZE,
    Head,
    RegressionHead,
    classification_head,
)
from mlengine.model.trees import COLUMNS_KEY, TreeInputs
from mlengine.training.config import RunConfig
from mlengine.training.evidence import MEMBER as EVIDENCE
from mlengine.training.evidence import (
    EvidenceCollector,
    evidence_member,
    importances_from,
    load_last_evaluation,
    save_last_evaluation,
)
from mlengine.training.hooks import Hooks, RunSession
from mlengine.training.metrics import BinaryMetrics, MulticlassMetrics, RegressionMetrics
from mlengine.training.pipeline import raw_batches
from mlengine.training.progress import TrainingProgress, eval_line, report
from mlengine.training.summaries import SummaryWriter, write_eval_summaries

if TYPE_CHECKING:
    import lightgbm

PathLike = str | os.PathLike[str]
PRUNING_MODES = ("none", "pre", "post")
_CHECKPOINT_RE = re.compile(r"^trees-(\d+)\.json$")


def _number(owner: str, name: str, value: Any, *, positive: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and np.isfinite(value)
    if not ok or value < 0 or (positive and value <= 0):
        rule = "a positive number" if positive else "a number >= 0"
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {rule}. Got {value!r} instead."
        )
    return float(value)


def _count(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be an int >= 1. Got {value!r} instead."
        )
    return value


def _hook_callbacks(
    hooks: Hooks, session: RunSession, state: dict[str, Any], value_of: Callable[[str], Any]
) -> list[Any]:
    """LightGBM callbacks that call ``hooks`` around each boosting round (one step each)."""
    import lightgbm

    contexts: list[Any] = []

    def before(env: Any) -> None:
        state["step"], state["loss"] = env.iteration, None
        contexts[:] = hooks.before_run(session)

    def after(env: Any) -> None:
        state["loss"] = float(env.evaluation_result_list[0][2])
        hooks.after_run(contexts, value_of)
        state["step"] = env.iteration + 1
        if hooks.stop_requested:
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    before.before_iteration = True  # type: ignore[attr-defined]
    before.order = 0  # type: ignore[attr-defined]
    after.order = 100  # type: ignore[attr-defined]
    return [before, after]


class _BoostedTrees(Estimator):
    """What both boosted-trees estimators share (see the module docstring)."""

    def _setup(self, head: Head, feature_columns: Any, model_dir: PathLike | None,
               config: RunConfig | None, weight_column: Any, **params: Any) -> None:  # fmt: skip
        owner = type(self).__name__
        columns = _columns(owner, "feature_columns", feature_columns, required=True)
        assert columns is not None
        self._n_batches_per_layer = _count(
            owner, "n_batches_per_layer", params["n_batches_per_layer"]
        )
        n_trees = _count(owner, "n_trees", params["n_trees"])
        max_depth = _count(owner, "max_depth", params["max_depth"])
        if max_depth > 16:
            raise InvalidParameterError(
                f"The 'max_depth' parameter of {owner} must be at most 16. Got {max_depth}."
            )
        pruning = params["pruning_mode"]
        if pruning not in PRUNING_MODES:
            raise InvalidParameterError(
                f"The 'pruning_mode' parameter of {owner} must be one of {PRUNING_MODES}. "
                f"Got {pruning!r} instead."
            )
        complexity = _number(owner, "tree_complexity", params["tree_complexity"])
        if pruning != "none" and complexity <= 0:
            raise InvalidParameterError(  # TF's rule
                f"{owner}: tree_complexity must be positive to enable pruning "
                f"(pruning_mode={pruning!r})."
            )
        epsilon = _number(owner, "quantile_sketch_epsilon", params["quantile_sketch_epsilon"],
                          positive=True)  # fmt: skip
        self._head = head
        self._inputs = TreeInputs(columns, owner)
        self._weight_column = _weight_column(owner, weight_column)
        self._n_trees = n_trees
        self._lgb_params: dict[str, Any] = {
            "max_depth": max_depth,
            "num_leaves": 2**max_depth,
            "learning_rate": _number(
                owner, "learning_rate", params["learning_rate"], positive=True
            ),
            "lambda_l1": _number(owner, "l1_regularization", params["l1_regularization"]),
            "lambda_l2": _number(owner, "l2_regularization", params["l2_regularization"]),
            "min_gain_to_split": complexity if pruning != "none" else 0.0,
            "min_sum_hessian_in_leaf": _number(owner, "min_node_weight", params["min_node_weight"]),
            "boost_from_average": bool(params["center_bias"]),
            "max_bin": max(2, int(round(1 / epsilon))),
            **_objective(head),
        }
        self._spec = {
            "estimator": owner,
            "head": head.config(),
            COLUMNS_KEY: [to_config(c) for c in self._inputs.columns],
            "boosted_trees": {"n_trees": n_trees, "lightgbm": dict(self._lgb_params)},
            "weight_column": self._weight_column,
        }
        self._init_run(model_dir, config, None)

    def _model_spec(self) -> dict[str, Any]:
        return self._spec

    # -- checkpoints: LightGBM's text model plus a JSON manifest ---------------------------

    def latest_checkpoint(self) -> str | None:
        """Prefix of the newest complete checkpoint (``model_dir/trees-<n>``), or None."""
        try:
            names = os.listdir(self._model_dir)
        except FileNotFoundError:
            return None
        steps = sorted(int(m.group(1)) for m in map(_CHECKPOINT_RE.match, names) if m)
        for step in reversed(steps):
            prefix = os.path.join(self._model_dir, f"trees-{step}")
            if os.path.exists(prefix + ".txt"):
                return prefix
        return None

    def _save(self, booster: lightgbm.Booster, trees: int) -> None:
        prefix = os.path.join(self._model_dir, f"trees-{trees}")
        text = booster.model_to_string().encode("utf-8")
        manifest = {
            "global_step": trees,
            "model_spec": self._spec,
            "sha256": hashlib.sha256(text).hexdigest(),
        }
        for suffix, data in ((".txt", text), (".json", json.dumps(manifest).encode())):
            temp = f"{prefix}{suffix}.tmp-{os.getpid()}"
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, prefix + suffix)  # the manifest last: then the checkpoint exists
        keep = self._config.keep_checkpoint_max  # None or 0: keep all
        steps = sorted(
            int(m.group(1)) for m in map(_CHECKPOINT_RE.match, os.listdir(self._model_dir)) if m
        )
        for step in steps[: -keep if keep else 0]:
            for suffix in (".json", ".txt"):  # the manifest first: never a half checkpoint
                _remove(os.path.join(self._model_dir, f"trees-{step}{suffix}"))

    def _booster(self, checkpoint_path: str | None = None) -> tuple[lightgbm.Booster, int]:
        import lightgbm

        prefix = checkpoint_path or self.latest_checkpoint()
        if prefix is None:
            raise NotFittedError(
                f"Could not find a trained model in model_dir {self._model_dir!r}: call "
                "train() first."
            )
        prefix = prefix.removesuffix(".json").removesuffix(".txt")
        with open(prefix + ".json", encoding="utf-8") as handle:
            manifest = json.load(handle)
        if manifest.get("model_spec") != self._spec:
            raise InvalidParameterError(
                f"{prefix}: the checkpoint was written by another model (its spec differs); "
                "use another model_dir."
            )
        with open(prefix + ".txt", "rb") as handle:
            text = handle.read()
        if hashlib.sha256(text).hexdigest() != manifest.get("sha256"):
            raise InvalidParameterError(f"{prefix}.txt: sha256 differs from its manifest.")
        return lightgbm.Booster(model_str=text.decode("utf-8")), int(manifest["global_step"])

    def get_variable_names(self) -> list[str]:
        raise NotSupportedError(
            f"{type(self).__name__} holds trees, not variables; see "
            "experimental_feature_importances()."
        )

    # -- data --------------------------------------------------------------------------------

    def _read(
        self,
        input_fn: Any,
        need_labels: bool,
        see_features: Callable[[Mapping[str, Any]], None] | None = None,
        max_batches: int | None = None,
        batch_rows: list[int] | None = None,
    ) -> tuple[np.ndarray, Any, Any]:
        """The input as the trees' matrix, the labels and the example weights
        (``see_features`` is shown the raw features: evaluation's instances): its first
        ``max_batches`` batches, or all of them. An input that never ends (a TF dataset
        repeated for ever) gives ``n_batches_per_layer`` batches unless ``max_batches`` says
        otherwise: the data TF's first layer reads. ``batch_rows``, if given, receives the
        number of rows of each batch read."""
        source = resolve_input(input_fn, self._config.tf_random_seed)
        items, batch_size = raw_batches(source)
        if max_batches is None and getattr(source, "endless", False):
            max_batches = self._n_batches_per_layer
        sizes: list[int] = [] if batch_rows is None else batch_rows

        def batches() -> Iterator[Any]:
            for item in items:
                rows = count_rows(as_feature_dict(item[0] if isinstance(item, tuple) else item))
                if batch_size is None:  # the items are the batches
                    sizes.append(rows)
                else:  # chunks of whole batches, the last maybe short
                    sizes.extend([batch_size] * (rows // batch_size))
                    sizes.extend([rows % batch_size] if rows % batch_size else [])
                yield item
                if max_batches is not None and len(sizes) >= max_batches:
                    return

        features, labels = gather_data(batches, None)
        if max_batches is not None and len(sizes) > max_batches:
            del sizes[max_batches:]
            rows = sum(sizes)
            features = {key: values[:rows] for key, values in features.items()}
            labels = None if labels is None else labels[:rows]
        if see_features is not None:
            see_features(features)
        weights = None
        if self._weight_column is not None and need_labels:
            if self._weight_column not in features:
                raise InvalidParameterError(
                    f"weight_column {self._weight_column!r} is not a feature of the input."
                )
            weights = np.asarray(features[self._weight_column].to_numpy(zero_copy_only=False))
        if need_labels and labels is None:
            raise InvalidParameterError("input_fn gave no labels to train or evaluate on.")
        return self._inputs.matrix(features), labels, weights

    def _dataset(self, x: np.ndarray, y: np.ndarray, weights: Any) -> lightgbm.Dataset:
        import lightgbm

        return lightgbm.Dataset(
            x,
            label=y,
            weight=weights,
            feature_name=self._inputs.feature_names,
            categorical_feature=self._inputs.categorical_features,
            params={"max_bin": self._lgb_params["max_bin"], "verbose": -1},
            free_raw_data=True,
        )

    # -- train -------------------------------------------------------------------------------

    def train(
        self,
        input_fn: Any,
        hooks: Sequence[Any] | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Sequence[Any] | None = None,
    ) -> _BoostedTrees:
        """Grow trees on the whole of ``input_fn`` (read once), ``steps`` more or up to
        ``max_steps`` trees, never past ``n_trees``; resumes from the latest checkpoint.

        A step is one tree: ``hooks`` (:mod:`mlengine.training.hooks`) are called around each
        boosting round, fetch ``loss`` (the round's training loss), ``global_step`` (the trees
        before it), ``learning_rate`` and ``batch_size`` (the rows read), and may stop the
        growth; ``saving_listeners`` are called around the one checkpoint written at the end."""
        import lightgbm

        check_steps(steps, max_steps)
        run_hooks = Hooks(hooks or (), saving_listeners or ())
        booster: lightgbm.Booster | None = None
        done = 0
        if self.latest_checkpoint() is not None:
            booster, done = self._booster()
        target = self._n_trees if max_steps is None else min(self._n_trees, max_steps)
        if steps is not None:
            target = min(self._n_trees, done + steps)
        if done >= target:
            return self
        x, labels, weights = self._read(input_fn, need_labels=True)
        y = self._head.encode_labels(labels).reshape(len(x), -1)[:, 0]
        data = self._dataset(x, y, weights)
        params = {
            **self._lgb_params,
            "verbose": -1,
            "deterministic": True,
            "seed": self._config.tf_random_seed or 0,
            # RunConfig's training threads (1 by default): LightGBM's OpenMP threads spin at
            # barriers, and on a busy 2-core machine 2 threads took 13-20 s where 1 took 1 s.
            "num_threads": self._config.intra_op_threads or os.cpu_count() or 1,
        }
        history: dict[str, Any] = {}
        state = {"step": done, "loss": None}

        def value_of(name: str) -> Any:
            if name == "learning_rate":
                return float(self._lgb_params["learning_rate"])
            return {"batch_size": len(x), "global_step": state["step"], "loss": state["loss"]}[name]

        session = RunSession(value_of)
        with TrainingProgress(
            start_step=done,
            last_step=target,
            log_every=self._config.log_step_count_steps,
            quiet=self._config.quiet,
        ) as progress:
            callbacks: list[Any] = [
                lightgbm.record_evaluation(history),
                _show_progress(progress, len(x)),
            ]
            if run_hooks.hooks:
                callbacks += _hook_callbacks(run_hooks, session, state, value_of)
            run_hooks.begin(session)
            booster = lightgbm.train(
                params,
                data,
                num_boost_round=target - done,
                init_model=booster,
                valid_sets=[data],
                valid_names=["train"],
                callbacks=callbacks,
                keep_training_booster=True,
            )
        os.makedirs(self._model_dir, exist_ok=True)
        losses: list[float] = next(iter(history.get("train", {}).values()), [])
        with SummaryWriter(self._model_dir) as writer:
            for i, loss in enumerate(losses):
                writer.scalar("loss", float(loss), done + i + 1)
        grown = booster.current_iteration()  # fewer than asked when a hook stopped it
        run_hooks.before_save(session, grown)
        self._save(booster, grown)
        run_hooks.after_save(session, grown)
        state["step"] = grown
        run_hooks.end(session, grown)
        return self

    fit = train

    # -- evaluate / predict ---------------------------------------------------------------------

    def _logits(self, booster: lightgbm.Booster, x: np.ndarray) -> np.ndarray:
        raw = booster.predict(x, raw_score=True, num_threads=1)
        return np.asarray(raw, dtype=np.float64).reshape(len(x), -1)

    def evaluate(
        self,
        input_fn: Any,
        steps: int | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """TF's metric keys (``accuracy``, ``auc``, ``average_loss``, ...) plus ``loss`` and
        ``global_step`` (trees) over ``input_fn``'s batches (``steps`` of them at most), also
        written to ``model_dir/eval`` for TensorBoard and logged as TF's ``Saving dict for
        global step N: ...``. ``hooks`` are called around each batch and may fetch
        ``global_step`` only (the trees are scored in one call; the hooks then see the batches
        one by one, and a stop request ends the evaluation there)."""
        if steps is not None:
            check_steps(steps, None)
        eval_hooks = Hooks(hooks or ())
        booster, trees = self._booster(checkpoint_path)
        inputs = [spec["name"] for spec in signature_inputs(list(self._inputs.columns))]
        evidence = EvidenceCollector(self._head, inputs)
        batch_rows: list[int] = []
        x, labels, weights = self._read(input_fn, True, evidence.see_features, steps, batch_rows)
        logits = torch.from_numpy(self._logits(booster, x))
        y = torch.from_numpy(self._head.encode_labels(labels))
        w = None if weights is None else torch.from_numpy(weights.astype(np.float64))
        head = self._head
        metrics: BinaryMetrics | MulticlassMetrics | RegressionMetrics
        if head.kind == "binary":
            metrics = BinaryMetrics()
        elif head.kind == "multiclass":
            metrics = MulticlassMetrics(head.logits_dimension)
        else:
            metrics = RegressionMetrics(head.logits_dimension)
        session = eval_run_session(trees)
        if eval_hooks:
            eval_hooks.begin(session)
        start = 0
        for rows in batch_rows if eval_hooks else [len(x)]:
            contexts = eval_hooks.before_run(session) if eval_hooks else []
            part = slice(start, start + rows)
            batch_w = None if w is None else w[part]
            losses = head.unreduced_loss(logits[part], y[part])
            metrics.update(head.metric_inputs(logits[part]), y[part], batch_w, losses)
            evidence.update(logits[part], y[part], batch_w)
            start += rows
            if eval_hooks:
                eval_hooks.after_run(contexts, session.value)
                if eval_hooks.stop_requested:
                    break
        result: dict[str, Any] = metrics.result()
        result["loss"] = result["average_loss"]
        result["global_step"] = trees
        if eval_hooks:
            eval_hooks.end(session, trees)
        write_eval_summaries(self._model_dir, result, trees, name)
        report(self._config.quiet, eval_line(result, trees))
        self._last_evidence = evidence.record(result, trees, metrics.state())
        save_last_evaluation(self._model_dir, self._last_evidence)
        self._last_eval = dict(result)
        return result

    def predict(
        self,
        input_fn: Any,
        predict_keys: Sequence[str] | str | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """One dict of predictions per example, keys as tf.estimator's."""
        booster, _ = self._booster(checkpoint_path)
        x, _, _ = self._read(input_fn, need_labels=False)
        yield from self._predictions(
            [(len(x), lambda: self._head.predictions(self._logits(booster, x)))],
            predict_keys,
            yield_single_examples,
            known=self._head.prediction_keys,
        )

    def experimental_predict_with_explanations(
        self,
        input_fn: Any,
        predict_keys: Sequence[str] | str | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Predictions plus ``dfc`` (each feature's contribution, largest magnitude first) and
        ``bias``, from LightGBM's TreeSHAP (``pred_contrib``).

        TF summed its path-based contributions to the probability; TreeSHAP's are in the raw
        score's units: ``bias + sum(dfc.values())`` equals the example's logit (classifier)
        or prediction (regressor). As in TF, multi-class models are not supported.
        """
        if self._head.kind == "multiclass":
            raise NotSupportedError(
                "experimental_predict_with_explanations does not support multi-class models "
                "(as in TensorFlow)."
            )
        booster, _ = self._booster(checkpoint_path)
        x, _, _ = self._read(input_fn, need_labels=False)
        contributions = np.asarray(
            booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64
        )
        outputs = self._head.predictions(self._logits(booster, x))
        keys = [predict_keys] if isinstance(predict_keys, str) else predict_keys
        names = self._inputs.feature_names
        for i in range(len(x)):
            row = {k: v[i] for k, v in outputs.items() if keys is None or k in keys}
            values = contributions[i, :-1]
            order = np.argsort(-np.abs(values), kind="stable")
            row["dfc"] = collections.OrderedDict((names[j], float(values[j])) for j in order)
            row["bias"] = float(contributions[i, -1])
            yield row

    def _evidence_importances(self, booster: lightgbm.Booster) -> dict[str, Any] | None:
        """The export's importances: each feature's share of the total split gain."""
        gains = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
        total = gains.sum()
        if not total > 0:
            return None
        return importances_from(
            dict(zip(self._inputs.feature_names, gains / total, strict=True)), "gain"
        )

    def experimental_feature_importances(self, normalize: bool = False) -> dict[str, float]:
        """Each feature's total split gain, largest first (as TF's gain-based importances);
        ``normalize`` divides by the total, so they sum to 1."""
        booster, _ = self._booster()
        gains = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
        if normalize:
            total = gains.sum()
            if total <= 0:
                raise InvalidParameterError(
                    "Cannot normalize feature importances: no split has any gain."
                )
            gains = gains / total
        order = np.argsort(-gains, kind="stable")
        names = self._inputs.feature_names
        return collections.OrderedDict((names[i], float(gains[i])) for i in order)

    # -- export ------------------------------------------------------------------------------

    def export_saved_model(
        self,
        export_dir_base: PathLike,
        serving_input_receiver_fn: Any = None,
        assets_extra: dict[str, str] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: Any = None,
        export_onnx: bool = False,
    ) -> str:
        """Export the trees (LightGBM's text model, ``lightgbm.txt``, the ``lightgbm`` member)
        and the columns. ``export_onnx`` (a portable ONNX copy) is for networks only."""
        if export_onnx:
            raise NotSupportedError(
                "BoostedTrees*.export_saved_model(export_onnx=True): portable ONNX exports are "
                "for networks; boosted trees export LightGBM's text model only."
            )
        booster, trees = self._booster(checkpoint_path)
        columns: list[FeatureColumn] = list(self._inputs.columns)
        record = getattr(self, "_last_evidence", None) or load_last_evaluation(self._model_dir)
        evidence = evidence_member(self._model_dir, record, self._evidence_importances(booster))

        def fill(temp: str) -> None:
            spec = json.loads(json.dumps(self._spec))
            assets = store_vocabulary_assets(spec, os.path.join(temp, "assets"))
            inputs = signature_inputs(columns)
            serving_inputs = check_receiver(
                inputs, serving_input_receiver_fn, sorted(signature_defs(self._head))
            )
            manifest = manifest_fields(
                estimator_name=type(self).__name__,
                spec=spec,
                head=self._head,
                inputs=inputs,
                global_step=trees,
                metrics=getattr(self, "_last_eval", None),
            )
            manifest["assets"] = assets
            # The trees are the export's one model member (format 2's list of optional parts).
            manifest[MEMBERS_KEY] = {MEMBER: write_lightgbm_model(temp, booster.model_to_string())}
            add_serving_inputs(manifest, serving_inputs)
            if evidence is not None:
                relative, data, fields = evidence
                manifest[MEMBERS_KEY][EVIDENCE] = write_member(temp, relative, data, **fields)
            write_manifest(temp, manifest)

        return write_version(export_dir_base, fill)

    export_savedmodel = export_saved_model


def _show_progress(progress: TrainingProgress, rows: int) -> Callable[[Any], None]:
    """A LightGBM callback: each boosting round is one step of ``progress`` (``rows``
    examples: every tree reads them all), its loss the training loss LightGBM computed."""

    def callback(env: Any) -> None:  # lightgbm.callback.CallbackEnv
        results = env.evaluation_result_list or []
        loss = next((float(r[2]) for r in results if r[0] == "train"), float("nan"))
        progress.step(env.iteration + 1, rows, lambda: loss)

    callback.order = 30  # type: ignore[attr-defined]  # after record_evaluation (20)
    return callback


def _objective(head: Head) -> dict[str, Any]:
    if head.kind == "binary":
        return {"objective": "binary"}
    if head.kind == "multiclass":
        return {"objective": "multiclass", "num_class": head.logits_dimension}
    if head.logits_dimension != 1:
        raise NotSupportedError("BoostedTreesRegressor supports label_dimension=1 only.")
    return {"objective": "regression"}


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class BoostedTreesClassifier(_BoostedTrees):
    """Gradient boosted trees classifier (TF's arguments and defaults; grown by LightGBM)."""

    def __init__(
        self,
        feature_columns: Sequence[FeatureColumn],
        n_batches_per_layer: int,
        model_dir: PathLike | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: list[str] | None = None,
        n_trees: int = 100,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        l1_regularization: float = 0.0,
        l2_regularization: float = 0.0,
        tree_complexity: float = 0.0,
        min_node_weight: float = 0.0,
        config: RunConfig | None = None,
        center_bias: bool = False,
        pruning_mode: str = "none",
        quantile_sketch_epsilon: float = 0.01,
        train_in_memory: bool = False,
    ):
        self._setup(
            classification_head(n_classes, label_vocabulary, SUM_OVER_BATCH_SIZE),
            feature_columns, model_dir, config, weight_column,
            n_batches_per_layer=n_batches_per_layer, n_trees=n_trees, max_depth=max_depth,
            learning_rate=learning_rate, l1_regularization=l1_regularization,
            l2_regularization=l2_regularization, tree_complexity=tree_complexity,
            min_node_weight=min_node_weight, center_bias=center_bias, pruning_mode=pruning_mode,
            quantile_sketch_epsilon=quantile_sketch_epsilon, train_in_memory=train_in_memory,
        )  # fmt: skip


class BoostedTreesRegressor(_BoostedTrees):
    """Gradient boosted trees regressor (TF's arguments and defaults; grown by LightGBM)."""

    def __init__(
        self,
        feature_columns: Sequence[FeatureColumn],
        n_batches_per_layer: int,
        model_dir: PathLike | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        n_trees: int = 100,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        l1_regularization: float = 0.0,
        l2_regularization: float = 0.0,
        tree_complexity: float = 0.0,
        min_node_weight: float = 0.0,
        config: RunConfig | None = None,
        center_bias: bool = False,
        pruning_mode: str = "none",
        quantile_sketch_epsilon: float = 0.01,
        train_in_memory: bool = False,
    ):
        self._setup(
            RegressionHead(label_dimension, SUM_OVER_BATCH_SIZE),
            feature_columns, model_dir, config, weight_column,
            n_batches_per_layer=n_batches_per_layer, n_trees=n_trees, max_depth=max_depth,
            learning_rate=learning_rate, l1_regularization=l1_regularization,
            l2_regularization=l2_regularization, tree_complexity=tree_complexity,
            min_node_weight=min_node_weight, center_bias=center_bias, pruning_mode=pruning_mode,
            quantile_sketch_epsilon=quantile_sketch_epsilon, train_in_memory=train_in_memory,
        )  # fmt: skip
