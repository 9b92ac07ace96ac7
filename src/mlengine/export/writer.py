"""Write a trained model as a versioned export directory, atomically.

The export is assembled in a hidden temporary folder beside its final place, then moved into
``<export_dir_base>/<unix-timestamp>`` with one rename, so a crash never leaves half a version.
Two exports in the same second get consecutive timestamps (claimed with an atomic ``mkdir``),
where TensorFlow slept for a second.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from safetensors.torch import save_file

import mlengine
from mlengine.errors import InvalidParameterError
from mlengine.export.format import (
    ASSETS_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_FILE,
    VARIABLES_FILE,
    signature_defs,
    signature_inputs,
    signature_outputs,
)
from mlengine.export.members import MEMBERS_KEY, write_member
from mlengine.export.receivers import MEMBER as SERVING_INPUTS
from mlengine.export.receivers import ServingInput, serving_inputs_entry
from mlengine.feature_column import FeatureColumn, from_config
from mlengine.feature_column.serialization import column_configs
from mlengine.model import Model
from mlengine.model.heads import Head


def _model_columns(spec: Mapping[str, Any]) -> list[FeatureColumn]:
    configs = (spec.get("linear_feature_columns") or []) + (spec.get("dnn_feature_columns") or [])
    return [from_config(c) for c in configs]


def store_vocabulary_assets(spec: dict[str, Any], assets: str) -> dict[str, str]:
    """Write each file-based vocabulary into ``assets/`` and point the column at it."""
    written: dict[str, str] = {}
    files: dict[tuple[str, tuple[Any, ...]], str] = {}  # (key, vocabulary) -> relative path

    for class_name, config in column_configs(spec):
        if class_name != "VocabularyColumn" or not config.get("vocabulary_file"):
            continue
        content = (config["key"], tuple(config["vocabulary"]))
        relative = files.get(content)
        if relative is None:
            # A file name of safe characters only: a key such as "../x" or "a/b" must
            # neither escape assets/ nor need a sub-folder.
            stem = re.sub(r"[^A-Za-z0-9_.-]", "_", config["key"]).lstrip(".") or "vocab"
            name, n = f"{stem}.vocab", 1
            while f"{ASSETS_DIR}/{name}" in files.values():
                n += 1
                name = f"{stem}-{n}.vocab"
            relative = f"{ASSETS_DIR}/{name}"
            os.makedirs(assets, exist_ok=True)
            with open(os.path.join(assets, name), "w", encoding="utf-8") as handle:
                handle.write("".join(f"{v}\n" for v in config["vocabulary"]))
            files[content] = relative
        written[config["key"]] = relative
        config["vocabulary_file"] = relative
        config["vocabulary"] = []  # read back from the asset at load time
    return written


def _receiver(
    serving_input_receiver_fn: Any, signature_names: list[str]
) -> tuple[list[str] | None, list[ServingInput]]:
    """The feature names a serving input receiver provides, and the serialized inputs it
    declares (a receiver with a ``serving_inputs(signature_names)`` method: the ``mlengine.tf``
    façade's parsing and CSV receivers)."""
    if serving_input_receiver_fn is None:
        return None, []
    receiver = serving_input_receiver_fn() if callable(serving_input_receiver_fn) else None
    features = getattr(receiver, "features", receiver)
    if not isinstance(features, Mapping):
        raise InvalidParameterError(
            "serving_input_receiver_fn must return a ServingInputReceiver or a dict of features; "
            f"got {type(receiver).__name__}."
        )
    declare = getattr(receiver, "serving_inputs", None)
    inputs = list(declare(signature_names)) if callable(declare) else []
    return sorted(str(k) for k in features), inputs


def _fsync_tree(root: str) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                os.fsync(handle.fileno())


def _claim_version_dir(export_dir_base: str) -> str:
    """Create ``<base>/<timestamp>`` and return its path.

    The timestamp is the current second, or one past the newest version already there, so
    versions always increase (even after ``exports_to_keep`` pruned older ones).
    """
    existing = [int(name) for name in os.listdir(export_dir_base) if name.isdigit()]
    stamp = max([int(time.time()), *(v + 1 for v in existing)])
    while True:
        target = os.path.join(export_dir_base, str(stamp))
        try:
            os.mkdir(target)
        except FileExistsError:
            stamp += 1
            continue
        return target


def write_version(export_dir_base: str | os.PathLike[str], fill: Callable[[str], None]) -> str:
    """Create ``export_dir_base/<timestamp>/`` atomically: ``fill`` writes the files into a
    hidden temporary folder, which is then fsynced and renamed into place; returns its path."""
    base = os.fspath(export_dir_base)
    os.makedirs(base, exist_ok=True)
    temp = os.path.join(base, f".temp-{os.getpid()}-{time.time_ns()}")
    try:
        os.makedirs(temp)
        fill(temp)
        _fsync_tree(temp)
        target = _claim_version_dir(base)
        os.replace(temp, target)  # replaces the empty claimed folder in one step
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target


def common_manifest(
    *,
    estimator_name: str,
    spec: Mapping[str, Any],
    head: dict[str, Any] | None,
    label_vocabulary: list[str] | None,
    signature: dict[str, Any],
    signature_defs: dict[str, Any],
    global_step: int,
    metrics: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The manifest entries every kind of export has (format, head, signature, step...)."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "mlengine_version": mlengine.__version__,
        "created": datetime.now(UTC).isoformat(),
        "estimator": estimator_name,
        "model_spec": spec,
        "head": head,
        "label_vocabulary": label_vocabulary,
        "signature": signature,
        "signature_defs": signature_defs,
        "global_step": int(global_step),
        "metrics": {k: v for k, v in (metrics or {}).items() if isinstance(v, int | float)},
        MEMBERS_KEY: {},
    }


def manifest_fields(
    *,
    estimator_name: str,
    spec: Mapping[str, Any],
    head: Head,
    inputs: list[dict[str, Any]],
    global_step: int,
    metrics: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """:func:`common_manifest` for a model with a head, whose signature it derives."""
    return common_manifest(
        estimator_name=estimator_name,
        spec=spec,
        head=head.config(),
        label_vocabulary=getattr(head, "label_vocabulary", None),
        signature={"inputs": inputs, "outputs": signature_outputs(head)},
        signature_defs=signature_defs(head),
        global_step=global_step,
        metrics=metrics,
    )


def write_manifest(export_dir: str, manifest: Mapping[str, Any]) -> None:
    """Write ``saved_model.json`` (strict JSON: no NaN)."""
    with open(os.path.join(export_dir, MANIFEST_FILE), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True, allow_nan=False)


def check_receiver(
    inputs: list[dict[str, Any]],
    serving_input_receiver_fn: Any,
    signature_names: Sequence[str] = (),
) -> list[ServingInput]:
    """Refuse a serving input receiver that lacks a required input; return the serialized
    inputs it declares for ``signature_names`` (the export's ``serving_inputs`` member)."""
    names, serving_inputs = _receiver(serving_input_receiver_fn, list(signature_names))
    if names is not None:
        missing = sorted({i["name"] for i in inputs if i["required"]} - set(names))
        if missing:
            raise InvalidParameterError(
                f"serving_input_receiver_fn does not provide required features {missing}."
            )
    return serving_inputs


def add_serving_inputs(manifest: dict[str, Any], serving_inputs: Sequence[ServingInput]) -> None:
    """Record the receiver's serialized inputs as the ``serving_inputs`` member (if any)."""
    if serving_inputs:
        manifest.setdefault(MEMBERS_KEY, {})[SERVING_INPUTS] = serving_inputs_entry(serving_inputs)


def export_model(
    export_dir_base: str | os.PathLike[str],
    model: Model,
    *,
    estimator_name: str,
    global_step: int,
    metrics: Mapping[str, Any] | None = None,
    serving_input_receiver_fn: Any = None,
    members: Mapping[str, tuple[str, bytes, dict[str, Any]]] | None = None,
) -> str:
    """Write ``model`` to ``export_dir_base/<timestamp>/`` and return that path."""
    inputs = signature_inputs(_model_columns(model.spec))
    defs = signature_defs(model.head)
    serving_inputs = check_receiver(inputs, serving_input_receiver_fn, sorted(defs))
    return write_export(
        export_dir_base,
        spec=model.spec,
        state=model.network.state_dict(),
        estimator_name=estimator_name,
        head=model.head.config(),
        label_vocabulary=getattr(model.head, "label_vocabulary", None),
        signature={"inputs": inputs, "outputs": signature_outputs(model.head)},
        signature_defs=defs,
        global_step=global_step,
        metrics=metrics,
        members=members,
        serving_inputs=serving_inputs,
    )


def write_export(
    export_dir_base: str | os.PathLike[str],
    *,
    spec: Mapping[str, Any],
    state: Mapping[str, Any],
    estimator_name: str,
    head: dict[str, Any] | None,
    label_vocabulary: list[str] | None,
    signature: dict[str, Any],
    signature_defs: dict[str, Any],
    global_step: int,
    metrics: Mapping[str, Any] | None = None,
    members: Mapping[str, tuple[str, bytes, dict[str, Any]]] | None = None,
    serving_inputs: Sequence[ServingInput] = (),
) -> str:
    """Write a network's export (weights, spec, signature) as a new version of
    ``export_dir_base``; ``members`` maps a kind to ``(relative path, bytes, the kind's own
    entry keys)`` (see :mod:`mlengine.export.members`); ``serving_inputs`` are the receiver's
    serialized inputs (:func:`check_receiver`)."""

    def fill(temp: str) -> None:
        os.makedirs(os.path.join(temp, "variables"))
        spec_copy = copy.deepcopy(dict(spec))
        assets = store_vocabulary_assets(spec_copy, os.path.join(temp, ASSETS_DIR))
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        save_file(tensors, os.path.join(temp, VARIABLES_FILE))
        manifest = common_manifest(
            estimator_name=estimator_name,
            spec=spec_copy,
            head=head,
            label_vocabulary=label_vocabulary,
            signature=signature,
            signature_defs=signature_defs,
            global_step=global_step,
            metrics=metrics,
        )
        manifest["variables"] = {
            name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
            for name, t in tensors.items()
        }
        manifest["assets"] = assets
        manifest[MEMBERS_KEY] = {
            kind: write_member(temp, relative, data, **fields)
            for kind, (relative, data, fields) in (members or {}).items()
        }
        add_serving_inputs(manifest, serving_inputs)
        write_manifest(temp, manifest)

    return write_version(export_dir_base, fill)
