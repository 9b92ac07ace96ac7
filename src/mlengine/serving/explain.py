"""``:explain``: per-feature attributions of each instance's prediction (ML Engine's
``projects.models.versions:explain``, KServe v1's ``:explain``), by the model's own method
where it has one, else by sampled Shapley.

**Boosted trees** (an export whose model is a ``lightgbm`` member, whose scorer has
``attributions``: BoostedTreesClassifier / Regressor): **TreeSHAP**, LightGBM's exact
``pred_contrib``. Each LightGBM feature's contribution goes to the raw feature it is computed
from (a cross's is split evenly over its raw features); the score is the raw output (a
classifier's logit, of class 1 for a binary one and of the predicted class otherwise; a
regressor's prediction), and ``baseline_score`` is the trees' expected raw output over their
training data, so ``baseline_score + sum(attributions) == example_score`` up to float
rounding (``approx_error`` 0, ``"method": "tree_shap"``). A request's own baseline is refused
(path-dependent TreeSHAP has none to set); ``numPaths`` is checked and not used. An ensemble
holding trees is explained by sampled Shapley (its average of probabilities is no tree's raw
output). The attributions are computed as the answer is rendered, on a thread (never on the
event loop).

**Other models** (``"method": "sampled_shapley"``): **sampled Shapley values over the raw
features** (the signature's inputs), computed with the server's numpy Predictor (no torch, no
gradients: it works for every model the server serves). For ``numPaths`` random orders of the
features (50 by default, gcloud's default for sampled Shapley), an instance is walked from the
baseline to itself, one feature switched at a time; a feature's attribution is the average
change of the score when it is switched. Every path ends at the instance and starts at the
baseline, so each instance's attributions add up exactly to ``example_score - baseline_score``
(up to float rounding); ``approx_error`` is the largest standard error of an attribution over
the paths. The orders are drawn from a fixed seed, so a request gets the same answer each time.
All the instances' paths are one batch of model calls.

**Baseline**: the instance with nothing known: every optional input left out (``null``: its
``default``, or TensorFlow's treatment of a missing value: dropped, default or OOV), every
required number 0. A request may set its own (``"baseline": {"age": 38}``, checked as an
instance is).

**Score**: a classifier's probability of the class it predicts for the instance
(``label_index``, ``label_name``); a regressor's prediction. The answer::

    {"explanations": [{"attributions_by_label": [{"label_index": 0, "label_name": "0",
      "example_score": 0.94, "baseline_score": 0.81, "approx_error": 0.003,
      "output_name": "probabilities", "attributions": {"age": 0.07, ...}}]}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from mlengine.serving.batching import Outputs
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import invalid
from mlengine.serving.http import json_type
from mlengine.serving.mlengine_v1 import PREFIX
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access, ApiRoute
from mlengine.serving.schema import FLOAT, INT, Columns

PROTOCOL = "explain"
DEFAULT_PATHS = 50  # gcloud's default number of paths of sampled Shapley
MAX_PATHS = 1000
MAX_ROWS = 200_000  # model rows one explain request may cost (instances x paths x features)
SEED = 0


def baseline(loaded: LoadedVersion, given: Any) -> dict[str, Any]:
    """The baseline instance (see the module docstring), with ``given`` values over it."""
    values: dict[str, Any] = {}
    for name, dtype, required in loaded.schema.specs:
        values[name] = 0 if required and dtype in (FLOAT, INT) else None
    if given is None:
        return values
    if not isinstance(given, dict):
        raise invalid(f"'baseline' must be an object of feature values; got {json_type(given)}.")
    values.update(given)
    return values


def parse_explain(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
    """``{"instances", "baseline"?, "parameters"?: {"numPaths"}}`` → every path's rows, and
    what :func:`render_explain` needs to turn their scores into attributions."""
    if "instances" not in body:
        raise invalid("The request body needs an 'instances' list: {\"instances\": [...]}.")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid(f"'parameters' must be an object; got {json_type(parameters)}.")
    paths = parameters.get("numPaths", DEFAULT_PATHS)
    if type(paths) is not int or not 1 <= paths <= MAX_PATHS:
        raise invalid(f"'numPaths' must be a whole number from 1 to {MAX_PATHS}; got {paths!r}.")
    schema = loaded.schema
    instances = schema.from_rows(body["instances"])
    if loaded.predictor.explains_itself:
        if body.get("baseline") is not None:
            raise invalid(
                "'baseline': this model is explained by its own method (TreeSHAP), whose "
                "baseline is the model's expected output over its training data; it cannot be "
                "set."
            )
        return instances, OwnMethod(instances)
    base = schema.from_rows([baseline(loaded, body.get("baseline"))], label="Baseline")
    names, count = schema.names, instances.count
    features = len(names)
    steps = features + 1
    rows = count * paths * steps
    if rows > MAX_ROWS:
        raise invalid(
            f"Explaining {count} instances with {paths} paths over {features} features takes "
            f"{rows} model rows; at most {MAX_ROWS}: send fewer instances or numPaths."
        )
    orders = np.stack(
        [np.random.default_rng(SEED + path).permutation(features) for path in range(paths)]
    )  # [paths, features]: the order features are switched in
    position = np.argsort(orders, axis=1)  # [paths, features]: when each feature is switched
    # switched[p, k, j]: feature j holds the instance's value at step k of path p.
    switched = position[:, None, :] < np.arange(steps)[None, :, None]
    columns: dict[str, list[Any]] = {}
    for j, name in enumerate(names):
        mine = np.empty(count, dtype=object)
        mine[:] = instances.values[name]
        theirs = base.values[name][0]
        chosen = np.where(switched[None, :, :, j], mine[:, None, None], theirs)
        columns[name] = chosen.reshape(-1).tolist()
    return Columns(columns, rows), (count, paths, orders)


def _scores(loaded: LoadedVersion, outputs: Outputs) -> tuple[np.ndarray, np.ndarray, str]:
    """Each row's score matrix ([rows, k]) and the output it comes from."""
    if "probabilities" in outputs:
        matrix = np.asarray(outputs["probabilities"], dtype=np.float64)
        return matrix.reshape(len(matrix), -1), np.array(loaded.class_labels), "probabilities"
    name = "predictions" if "predictions" in outputs else next(iter(outputs))
    matrix = np.asarray(outputs[name], dtype=np.float64)
    return matrix.reshape(len(matrix), -1)[:, :1], np.array([name]), name


@dataclass(frozen=True)
class OwnMethod:
    """An explanation by the model's own method (:meth:`Predictor.attributions`): the
    instances it is computed from when the answer is rendered."""

    instances: Columns


def render_own(loaded: LoadedVersion, outputs: Outputs, own: OwnMethod) -> Any:
    """The model's own attributions of its raw output (boosted trees: TreeSHAP) for the class
    predicted (a binary classifier: its one logit, of class 1; a regressor: its prediction
    before the head's link), against the model's expected output (``baseline_score``)."""
    found = loaded.predictor.attributions(own.instances.features(loaded.schema.dtypes))
    labels = loaded.class_labels
    names = loaded.schema.names
    where = {name: j for j, name in enumerate(found.names)}
    explanations = []
    for i in range(len(found.values)):
        if found.values.shape[1] == 1:
            label = 1 if labels else 0
        else:
            label = int(np.argmax(found.outputs[i]))
        k = min(label, found.values.shape[1] - 1)
        explanation: dict[str, Any] = {
            "label_index": label,
            "example_score": float(found.outputs[i, k]),
            "baseline_score": float(found.expected[i, k]),
            "approx_error": 0.0,  # exact
            "output_name": "logits" if labels else "predictions",
            "method": found.method,
            "attributions": {
                name: float(found.values[i, k, where[name]]) if name in where else 0.0
                for name in names
            },
        }
        if labels:
            explanation["label_name"] = labels[label]
        explanations.append({"attributions_by_label": [explanation]})
    return {"explanations": explanations}


def render_explain(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    if isinstance(extra, OwnMethod):
        return render_own(loaded, outputs, extra)
    count, paths, orders = extra
    names = loaded.schema.names
    features = len(names)
    matrix, labels, output_name = _scores(loaded, outputs)
    scores = matrix.reshape(count, paths, features + 1, -1)
    explanations = []
    for i in range(count):
        label = int(np.argmax(scores[i, 0, features]))  # the class predicted for the instance
        walk = scores[i, :, :, label]  # [paths, steps]
        gains = np.diff(walk, axis=1)  # [paths, features], in each path's order
        per_path = np.empty_like(gains)
        np.put_along_axis(per_path, orders, gains, axis=1)  # back to the features' order
        attributions = per_path.mean(axis=0)
        error = per_path.std(axis=0, ddof=1) / np.sqrt(paths) if paths > 1 else np.zeros(1)
        explanation: dict[str, Any] = {
            "label_index": label,
            "example_score": float(walk[0, -1]),
            "baseline_score": float(walk[0, 0]),
            "approx_error": float(error.max()),
            "output_name": output_name,
            "method": "sampled_shapley",
            "attributions": {name: float(attributions[j]) for j, name in enumerate(names)},
        }
        if output_name == "probabilities":
            explanation["label_name"] = str(labels[label])
        explanations.append({"attributions_by_label": [explanation]})
    return {"explanations": explanations}


class Explain:
    """The ``:explain`` routes (ML Engine's and KServe v1's) over one ServingContext."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[ApiRoute]:
        model = PREFIX + "/{model:name}"
        return [
            ApiRoute("POST", model + ":explain", self.explain, Access.PREDICT),
            ApiRoute(
                "POST", model + "/versions/{version:version}:explain", self.explain, Access.PREDICT
            ),
            ApiRoute("POST", "/v1/models/{model:name}:explain", self.explain, Access.PREDICT),
            ApiRoute(
                "POST",
                "/v1/models/{model:name}/versions/{version:version}:explain",
                self.explain,
                Access.PREDICT,
            ),
        ]

    async def explain(self, request: Request) -> Response:
        params = request.path_params
        return await self.ctx.predict(
            PROTOCOL,
            request,
            params["model"],
            params.get("version"),
            parse_explain,
            render_explain,
            log=False,  # its rows are the paths', not a client's instances
            render_off_loop=True,  # TreeSHAP runs as the answer is rendered
        )


__all__ = [
    "DEFAULT_PATHS",
    "PROTOCOL",
    "Explain",
    "OwnMethod",
    "baseline",
    "parse_explain",
    "render_explain",
    "render_own",
]
