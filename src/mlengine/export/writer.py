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
from collections.abc import Mapping
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
from mlengine.export.receivers import ServingInput, write_serving_inputs
from mlengine.feature_column import FeatureColumn, from_config
from mlengine.model import Model


def _model_columns(spec: Mapping[str, Any]) -> list[FeatureColumn]:
    configs = (spec.get("linear_feature_columns") or []) + (spec.get("dnn_feature_columns") or [])
    return [from_config(c) for c in configs]


def _store_vocabulary_assets(spec: dict[str, Any], assets: str) -> dict[str, str]:
    """Write each file-based vocabulary into ``assets/`` and point the column at it."""
    written: dict[str, str] = {}
    files: dict[tuple[str, tuple[Any, ...]], str] = {}  # (key, vocabulary) -> relative path

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            config = node.get("config")
            if (
                node.get("class_name") == "VocabularyColumn"
                and isinstance(config, dict)
                and config.get("vocabulary_file")
            ):
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
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(spec)
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


def export_model(
    export_dir_base: str | os.PathLike[str],
    model: Model,
    *,
    estimator_name: str,
    global_step: int,
    metrics: Mapping[str, Any] | None = None,
    serving_input_receiver_fn: Any = None,
) -> str:
    """Write ``model`` to ``export_dir_base/<timestamp>/`` and return that path."""
    base = os.fspath(export_dir_base)
    os.makedirs(base, exist_ok=True)
    temp = os.path.join(base, f".temp-{os.getpid()}-{time.time_ns()}")
    try:
        os.makedirs(os.path.join(temp, "variables"))
        spec = copy.deepcopy(model.spec)
        assets = _store_vocabulary_assets(spec, os.path.join(temp, ASSETS_DIR))
        state = {k: v.detach().cpu().contiguous() for k, v in model.network.state_dict().items()}
        save_file(state, os.path.join(temp, VARIABLES_FILE))
        inputs = signature_inputs(_model_columns(model.spec))
        defs = signature_defs(model.head)
        names, serving_inputs = _receiver(serving_input_receiver_fn, sorted(defs))
        if names is not None:
            missing = sorted({i["name"] for i in inputs if i["required"]} - set(names))
            if missing:
                raise InvalidParameterError(
                    f"serving_input_receiver_fn does not provide required features {missing}."
                )
        now = datetime.now(UTC)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "mlengine_version": mlengine.__version__,
            "created": now.isoformat(),
            "estimator": estimator_name,
            "model_spec": spec,
            "head": model.head.config(),
            "label_vocabulary": getattr(model.head, "label_vocabulary", None),
            "signature": {"inputs": inputs, "outputs": signature_outputs(model.head)},
            "signature_defs": defs,
            "global_step": int(global_step),
            "metrics": {k: v for k, v in (metrics or {}).items() if isinstance(v, int | float)},
            "variables": {
                name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
                for name, t in state.items()
            },
            "assets": assets,
        }
        write_serving_inputs(manifest, serving_inputs)
        with open(os.path.join(temp, MANIFEST_FILE), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True, allow_nan=False)
        _fsync_tree(temp)
        target = _claim_version_dir(base)
        os.replace(temp, target)  # replaces the empty claimed folder in one step
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target
