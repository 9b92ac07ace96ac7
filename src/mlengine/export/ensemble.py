"""Ensembles as one version: several exports over the same inputs, served as their average.

:func:`export_ensemble` copies the member exports into ``members/<i>/`` of a new version and
writes its manifest: the members' head, the union of their signature inputs (a number one
member requires is required), and the member ``"ensemble"`` of format 2's ``members``::

    "ensemble": {"average": "probabilities" | "predictions",
                 "exports": [{"path": "members/0/saved_model.json", "bytes": N,
                              "sha256": "..."}, ...]}

Each member export is pinned by the digest of its manifest, which pins its own members in
turn (a LightGBM model, an ONNX graph). :func:`read_ensemble` checks each manifest's digest
(:func:`~mlengine.export.members.read_member`), then loads the member as a Predictor (an
ensemble of ensembles is refused).

Classifiers average their members' probabilities (not their logits), regressors their
predictions; the ensemble's logits are those of the averaged probabilities (``log p`` for
several classes, ``log(p / (1 - p))`` for two), so every output (``class_ids``,
``classes``...) follows from the average.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import ExportFormatError, InvalidParameterError
from mlengine.export.format import MANIFEST_FILE
from mlengine.export.members import ENSEMBLE_DIR, MEMBERS_KEY, inside, read_member, write_member
from mlengine.feature_column.encoding import RawBatch
from mlengine.feature_column.memory import ValueMemory
from mlengine.limits import MAX_MODEL_BYTES_ENV, ExportLimits, show_bytes

if TYPE_CHECKING:
    from mlengine.export.predictor import Predictor
    from mlengine.model.heads import Head

MEMBER = "ensemble"
MEMBERS_DIR = ENSEMBLE_DIR
#: Probabilities are clipped this far from 0 and 1 before their logits are taken.
EPSILON = 1e-12


def _merged_inputs(manifests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for manifest in manifests:
        for spec in manifest["signature"]["inputs"]:
            previous = merged.get(spec["name"])
            if previous is None or (spec["required"] and not previous["required"]):
                merged[spec["name"]] = dict(spec)
            elif previous["dtype"] != spec["dtype"] and "string" in (
                spec["dtype"],
                previous["dtype"],
            ):
                raise InvalidParameterError(
                    f"Ensemble members read input {spec['name']!r} as {previous['dtype']} and "
                    f"as {spec['dtype']}."
                )
    return [merged[name] for name in sorted(merged)]


def ensemble_head(heads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The members' head, checked to agree (a regressor's label scaling is each member's)."""
    plain = [
        {k: v for k, v in h.items() if k not in ("label_center", "label_scale")} for h in heads
    ]
    for i, head in enumerate(plain[1:], 1):
        if (
            head.get("kind") != plain[0].get("kind")
            or head.get("n_classes") != plain[0].get("n_classes")
            or head.get("label_vocabulary") != plain[0].get("label_vocabulary")
        ):
            raise InvalidParameterError(
                f"Ensemble member {i} has head {head}, member 0 has {plain[0]}: members must "
                "predict the same thing."
            )
    return plain[0]


def export_ensemble(
    export_dir_base: str | os.PathLike[str], members: Sequence[str | os.PathLike[str]]
) -> str:
    """Export trained models (their export directories) as one version averaging them.

    Args:
        export_dir_base: where the new ``<timestamp>/`` version goes.
        members: two or more export directories over the same inputs and labels (any
            estimators: Wide & Deep, boosted trees...).

    Returns:
        The new version's path.

    Raises:
        InvalidParameterError: fewer than two members, members of different tasks or
            classes, or an input read as a string by one and a number by another.
    """
    from mlengine.export.predictor import read_manifest
    from mlengine.export.writer import write_manifest, write_version
    from mlengine.model.heads import head_from_config

    paths = [os.fspath(m) for m in members]
    if len(paths) < 2:
        raise InvalidParameterError(f"An ensemble needs two or more members; got {len(paths)}.")
    manifests = [read_manifest(p) for p in paths]
    for path, manifest in zip(paths, manifests, strict=True):
        if MEMBER in manifest[MEMBERS_KEY]:
            raise InvalidParameterError(f"{path} is an ensemble; ensembles do not nest.")
    head_config = ensemble_head([m["model_spec"]["head"] for m in manifests])
    head = head_from_config(head_config)
    inputs = _merged_inputs(manifests)

    def fill(temp: str) -> None:
        from mlengine.export.writer import manifest_fields

        exports = []
        for i, path in enumerate(paths):
            relative = f"{MEMBERS_DIR}/{i}"
            # The member's files as they are; its manifest goes through write_member, which
            # records the digest that pins the whole member export.
            shutil.copytree(
                path,
                os.path.join(temp, relative),
                ignore=lambda directory, names, top=path: (
                    [MANIFEST_FILE] if directory == top else []
                ),
            )
            with open(os.path.join(path, MANIFEST_FILE), "rb") as handle:
                data = handle.read()
            exports.append(write_member(temp, f"{relative}/{MANIFEST_FILE}", data))
        manifest = manifest_fields(
            estimator_name="Ensemble",
            spec={"estimator": "Ensemble", "head": head_config},
            head=head,
            inputs=inputs,
            global_step=0,
            metrics=None,
        )
        average = "predictions" if head.kind == "regression" else "probabilities"
        manifest[MEMBERS_KEY] = {MEMBER: {"average": average, "exports": exports}}
        write_manifest(temp, manifest)

    return write_version(export_dir_base, fill)


def average_logits(outputs: Sequence[Mapping[str, np.ndarray]], average: str) -> np.ndarray:
    """The ensemble's logits of its members' ``outputs`` (their columnar predictions):
    ``average`` ``"predictions"`` averages regression outputs, ``"probabilities"`` the
    probabilities, whose logits are returned (see the module docstring)."""
    if average == "predictions":
        return np.mean([o["predictions"] for o in outputs], axis=0)
    if "logistic" in outputs[0]:
        p = np.clip(np.mean([o["logistic"] for o in outputs], axis=0), EPSILON, 1 - EPSILON)
        return np.log(p) - np.log1p(-p)
    p = np.mean([o["probabilities"] for o in outputs], axis=0)
    return np.log(np.clip(p, EPSILON, 1.0))


class EnsembleScorer:
    """The members' Predictors; the head's outputs of their averaged outputs."""

    #: Each member's own row path would run inline, but several in turn are no longer the
    #: tens of microseconds that justify holding the server's event loop.
    few_rows_inline = False
    #: The signature is the union of the members' (each member checked its own).
    checks_signature = False

    def __init__(self, members: list[Predictor], average: str, head: Head):
        self.members = members
        self.model_bytes = sum(member.model_bytes for member in members)
        self.average = average
        self.head = head
        self.output_keys = list(head.prediction_keys)

    def logits(self, features: RawBatch, memory: ValueMemory) -> np.ndarray:
        return average_logits([member.predict(features) for member in self.members], self.average)

    def predict(self, features: RawBatch, memory: ValueMemory) -> dict[str, np.ndarray]:
        return self.head.predictions(self.logits(features, memory))


def read_ensemble(
    root: str, entry: Mapping[str, Any], head: Head, limits: ExportLimits
) -> EnsembleScorer:
    """The scorer of a checked ``ensemble`` member entry: each member export's manifest is
    verified against its digest, and its folder must lie under ``members/`` of the export.
    The members share one memory budget (``limits.max_model_bytes``): each is loaded within
    what the ones before it left, so the ensemble as a whole is refused above it."""
    from mlengine.export.predictor import Predictor

    left = limits.max_model_bytes
    members_dir = os.path.join(os.path.realpath(root), MEMBERS_DIR)
    loaded = []
    for part in entry["exports"]:
        what = f"{root}: member {MEMBER!r}, export {part['path']!r}"
        read_member(root, part, what)
        directory = os.path.dirname(inside(root, part["path"], what))
        if os.path.commonpath([directory, members_dir]) != members_dir or directory == members_dir:
            raise ExportFormatError(f"{what} is not in a folder under {MEMBERS_DIR}/.")
        if left < 1:
            raise ExportFormatError(
                f"{what}: the members before it use the whole memory budget of "
                f"{show_bytes(limits.max_model_bytes)} ({MAX_MODEL_BYTES_ENV})."
            )
        predictor = Predictor(directory, dataclasses.replace(limits, max_model_bytes=left))
        if MEMBER in predictor.manifest[MEMBERS_KEY]:
            raise ExportFormatError(f"{what} is an ensemble; ensembles do not nest.")
        left -= predictor.model_bytes
        loaded.append(predictor)
    return EnsembleScorer(loaded, entry["average"], head)
