"""The manifest validator: every size an export asks for is checked against limits and against
the tensors present before anything is built from it, and the memory its version needs is
computed from the manifest and refused above a budget.

:class:`~mlengine.export.predictor.Predictor` runs these in this order, each before what it
guards (the limits: :class:`mlengine.limits.ExportLimits`):

1. :func:`read_manifest_file`: ``saved_model.json`` is a regular file no bigger than
   ``max_manifest_bytes`` (from the file system, before a byte is read), and JSON no deeper than
   :data:`~mlengine.limits.MAX_JSON_DEPTH`;
2. :func:`check_head_config`: the head's ``n_classes``, ``label_vocabulary`` and
   ``label_dimension``, before the head builds its class names;
3. :func:`check_file`: each asset is a regular file no bigger than ``max_asset_bytes``, before it
   is read;
4. :func:`check_spec`: every size of every feature column (each column type says which sizes its
   spec asks for: :meth:`~mlengine.feature_column.FeatureColumn.sizes`), the hidden layers and
   the activation's name, before the transformers, tables or weights are sized from them;
5. :func:`check_signature`: what the manifest repeats (the signature's inputs and outputs, the
   signature names' outputs, the top-level head and label vocabulary) says what the model spec
   derives, so the server never trusts a copy the model contradicts;
6. :func:`check_memory`: the bytes the version needs (weights at float32, plus the lists its
   spec stores), against ``max_model_bytes``, naming the sizes that cost most;
7. :func:`read_weights`: the safetensors header (names, shapes, element types) is checked
   against the shapes the spec gives before any tensor's data is read.

Every refusal is an :class:`~mlengine.errors.ExportFormatError` naming the file or field, the
value and the limit.
"""

from __future__ import annotations

import math
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from mlengine.errors import ExportFormatError, MLEngineError
from mlengine.export.format import (
    CLASSIFY_METHOD,
    MANIFEST_FILE,
    PREDICT_METHOD,
    REGRESS_METHOD,
    VARIABLES_FILE,
    signature_inputs,
    signature_outputs,
)
from mlengine.export.members import MEMBER_KINDS, MEMBERS_KEY, member_files
from mlengine.feature_column import FeatureColumn, from_config
from mlengine.limits import MAX_MODEL_BYTES_ENV, ExportLimits, load_json, show_bytes
from mlengine.model.heads import Head
from mlengine.model.spec import ACTIVATION_NAMES, check_weights

# What one stored list entry (a vocabulary word, a boundary, a class name) costs in memory
# beyond its characters: the Python object and the index entry built for lookups.
LIST_ENTRY_BYTES = 100
# The element types a weight may be stored in (converted to float32 when loaded).
WEIGHT_DTYPES = ("F16", "F32", "F64", "I64")
# Where a spec keeps feature columns: a network's two lists, boosted trees' list
# (model.trees.COLUMNS_KEY), and each of a custom network's feature modules.
_COLUMN_LISTS = ("linear_feature_columns", "dnn_feature_columns", "tree_feature_columns")
_FEATURE_MODULES = "feature_modules"
# What each head kind's config sizes (model.heads.head_from_config builds them): classes (one
# name each), values per label, or nothing.
_HEAD_SIZES = {
    "binary": "n_classes",
    "multiclass": "n_classes",
    "multi_label": "n_classes",
    "regression": "label_dimension",
    "poisson_regression": "label_dimension",
    "logistic_regression": None,
}


def _refuse(where: str, message: str) -> ExportFormatError:
    return ExportFormatError(f"{where}: the model spec is invalid: {message}")


# -- files -------------------------------------------------------------------------------------


def check_file(path: str, what: str, max_bytes: int) -> int:
    """The size of the regular file at ``path``, from the file system, before it is read.

    Raises:
        ExportFormatError: it is missing, not a regular file (a FIFO, a device, a socket, a
            directory), or bigger than ``max_bytes``; the message names ``what``.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ExportFormatError(f"{what} does not exist.") from None
    except OSError as error:
        raise ExportFormatError(f"{what} cannot be read: {error.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ExportFormatError(f"{what} is not a regular file; only files are read.")
    if info.st_size > max_bytes:
        raise ExportFormatError(
            f"{what} has {show_bytes(info.st_size)}, over the limit of {show_bytes(max_bytes)}."
        )
    return info.st_size


def read_manifest_file(root: str, limits: ExportLimits) -> Any:
    """``saved_model.json`` parsed, after its size was checked (its format is not checked).

    Raises:
        ExportFormatError: missing, not a regular file, too big, not JSON, or nested too deep.
        FileNotFoundError: there is no manifest (the caller words "not an export").
    """
    path = os.path.join(root, MANIFEST_FILE)
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    what = f"{root}: {MANIFEST_FILE}"  # named inside the export (see read_weights)
    size = check_file(path, what, limits.max_manifest_bytes)
    try:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)  # (read(n) allocates n bytes first: not the limit)
        if len(data) > size:
            raise ExportFormatError(f"{what}: grew while it was read.")
        return load_json(data)
    except OSError as error:
        raise ExportFormatError(f"{what}: cannot be read ({error.strerror}).") from None
    except ValueError as error:
        raise ExportFormatError(f"{what}: cannot be read as JSON ({error}).") from None


# -- the spec ----------------------------------------------------------------------------------


def _count(where: str, field: str, value: Any, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(where, f"{field} must be an int; got {value!r}.")
    if not low <= value <= high:
        raise _refuse(where, f"{field} is {value}; it must be in [{low}, {high}] {unit}.")
    return value


def check_head_config(config: Any, where: str, limits: ExportLimits) -> None:
    """The sizes of a head's config, before the head is built from it (a classifier builds one
    name per class)."""
    if not isinstance(config, dict):
        raise _refuse(where, f"'head' must be an object; got {type(config).__name__}.")
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in _HEAD_SIZES:
        raise _refuse(where, f"head kind {kind!r} is not one of {list(_HEAD_SIZES)}.")
    if _HEAD_SIZES[kind] is None:
        return
    if _HEAD_SIZES[kind] == "label_dimension":
        dimension = config.get("label_dimension", 1)
        _count(where, "head.label_dimension", dimension, 1, limits.max_width, "values")
        return
    n_classes = config.get("n_classes", 2)
    _count(where, "head.n_classes", n_classes, 2, min(limits.max_width, limits.max_values), "")
    vocabulary = config.get("label_vocabulary")
    if vocabulary is not None:
        if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
            raise _refuse(where, "head.label_vocabulary must be a list of strings.")
        if len(vocabulary) != n_classes:
            raise _refuse(
                where,
                f"head.label_vocabulary has {len(vocabulary)} entries for n_classes={n_classes}.",
            )


def spec_columns(spec: Mapping[str, Any]) -> Iterator[tuple[str, FeatureColumn]]:
    """Each feature column of a spec with the list it is in (``linear_feature_columns``,
    ``dnn_feature_columns``, ``tree_feature_columns``, ``feature_modules[i]``), rebuilt from
    its data-only config (nothing sized yet)."""
    lists: list[tuple[str, Any]] = [(part, spec.get(part) or []) for part in _COLUMN_LISTS]
    modules = spec.get(_FEATURE_MODULES) or []
    if not isinstance(modules, list):
        raise ExportFormatError(f"{_FEATURE_MODULES!r} must be a list of objects.")
    for index, module in enumerate(modules):
        if not isinstance(module, dict):
            raise ExportFormatError(f"{_FEATURE_MODULES!r}[{index}] must be an object.")
        lists.append((f"{_FEATURE_MODULES}[{index}]", module.get("columns") or []))
    for part, configs in lists:
        if not isinstance(configs, list):
            raise ExportFormatError(f"{part!r} must be a list of feature columns.")
        for config in configs:
            yield part, from_config(config, part.split("[")[0])


Columns = list[tuple[str, FeatureColumn]]
"""A spec's columns with the list each is in (what :func:`check_spec` returns)."""


def _sizes(spec: Mapping[str, Any], columns: Columns) -> Iterator[tuple[str, str, int, str]]:
    """``(owner, field, value, kind)`` of every size of the spec: each column's, the hidden
    layers'."""
    for part, column in columns:
        for field, value, kind in column.sizes():
            yield f"{part}: column {column.name!r}", field, value, kind
    for index, units in enumerate(spec.get("dnn_hidden_units") or ()):
        yield "dnn_hidden_units", f"[{index}]", units, "width"


def check_spec(spec: Mapping[str, Any], where: str, limits: ExportLimits) -> Columns:
    """Every size of the spec within its limit, and a known activation, before anything is
    sized from them (see the module docstring); returns the spec's columns."""
    per_kind = {
        "buckets": (limits.max_buckets, "buckets"),
        "values": (limits.max_values, "entries"),
        "width": (limits.max_width, "values per row"),
    }
    hidden = spec.get("dnn_hidden_units") or []
    if not isinstance(hidden, list):
        raise _refuse(where, f"dnn_hidden_units must be a list; got {hidden!r}.")
    if len(hidden) > limits.max_layers:
        raise _refuse(
            where, f"dnn_hidden_units has {len(hidden)} layers; the limit is {limits.max_layers}."
        )
    columns = list(spec_columns(spec))
    for owner, field, value, kind in _sizes(spec, columns):
        limit, unit = per_kind[kind]
        _count(where, f"{owner}: {field}", value, 1, limit, unit)
    if spec.get("dnn_feature_columns"):
        activation = spec.get("dnn_activation_fn", "relu")
        if activation not in ACTIVATION_NAMES:
            raise _refuse(
                where,
                f"dnn_activation_fn {activation!r} is not an activation mlengine knows "
                f"({', '.join(ACTIVATION_NAMES)}).",
            )
    return columns


# -- what the manifest repeats -------------------------------------------------------------------


def check_signature(manifest: Mapping[str, Any], columns: Columns, head: Head, where: str) -> None:
    """The manifest's signature, signature names and top-level head agree with the spec.

    Every input a column needs is there with the dtype, shape and ``required`` the column
    gives it (an extra input must be optional, of a dtype a request can carry); every output
    is one the head makes, with its dtype and shape; every signature name's outputs are such
    outputs; a top-level ``head`` or ``label_vocabulary`` is the spec's.
    """
    signature = manifest.get("signature")
    if not isinstance(signature, dict):
        raise _refuse(where, "'signature' is missing or not an object.")
    expected = {entry["name"]: entry for entry in signature_inputs([c for _, c in columns])}
    inputs = signature.get("inputs", [])
    if not isinstance(inputs, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("name"), str) for entry in inputs
    ):
        raise _refuse(where, "signature inputs must be a list of objects with a 'name'.")
    found = {entry["name"]: entry for entry in inputs}
    if len(found) != len(inputs):
        raise _refuse(where, "the signature lists an input twice.")
    for name, want in expected.items():
        got = found.get(name)
        if got is None:
            raise _refuse(
                where, f"the signature lacks input {name!r}, which the feature columns read."
            )
        for key in ("dtype", "shape", "required"):
            if got.get(key) != want[key]:
                raise _refuse(
                    where,
                    f"signature input {name!r} has {key} {got.get(key)!r}; its feature column "
                    f"gives {want[key]!r}.",
                )
    dtypes = {entry["dtype"] for entry in expected.values()} | {"float32", "int64", "string"}
    for name, got in found.items():
        dtype = got.get("dtype")
        if name not in expected and (
            got.get("required") or not isinstance(dtype, str) or dtype not in dtypes
        ):
            raise _refuse(
                where,
                f"signature input {name!r} is read by no feature column, so it must be "
                f"optional and of dtype float32, int64 or string; got {got!r}.",
            )
    _check_outputs(signature.get("outputs", []), head, where)
    _check_signature_defs(manifest.get("signature_defs"), head, where)
    top = manifest.get("head")
    if top is not None:
        mine = head.config()
        if not isinstance(top, dict) or any(top.get(k) != v for k, v in mine.items()):
            raise _refuse(where, f"the top-level 'head' {top!r} differs from the model's {mine}.")
    if "label_vocabulary" in manifest:
        labels = getattr(head, "label_vocabulary", None)
        if manifest["label_vocabulary"] != labels:
            raise _refuse(
                where,
                f"the top-level 'label_vocabulary' differs from the head's ({labels!r}).",
            )


def _check_outputs(outputs: Any, head: Head, where: str) -> None:
    expected = {entry["name"]: entry for entry in signature_outputs(head)}
    if not isinstance(outputs, list) or not all(isinstance(entry, dict) for entry in outputs):
        raise _refuse(where, "signature outputs must be a list of objects.")
    for entry in outputs:
        name = entry.get("name")
        want = expected.get(name) if isinstance(name, str) else None
        if want is None:
            raise _refuse(
                where, f"signature output {name!r} is not one the head makes ({sorted(expected)})."
            )
        if entry.get("dtype") != want["dtype"] or entry.get("shape") != want["shape"]:
            raise _refuse(
                where,
                f"signature output {name!r} is {entry.get('dtype')!r} {entry.get('shape')!r}; "
                f"the head makes {want['dtype']!r} {want['shape']!r}.",
            )


def _check_signature_defs(defs: Any, head: Head, where: str) -> None:
    """Each signature name's method is TF Serving's, and its outputs are the head's (with the
    outputs that :classify and :regress read by default present)."""
    if defs is None:
        return
    if not isinstance(defs, dict):
        raise _refuse(where, "'signature_defs' must be an object.")
    keys = set(head.prediction_keys)
    for name, signature in defs.items():
        what = f"signature {name!r}"
        if not isinstance(signature, dict):
            raise _refuse(where, f"{what} must be an object.")
        method = signature.get("method_name")
        if method not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
            raise _refuse(where, f"{what} has method_name {method!r}, not one of TF Serving's.")
        outputs = signature.get("outputs") or []
        if isinstance(outputs, list):
            named = {str(key): key for key in outputs}
        elif isinstance(outputs, dict):
            named = dict(outputs)
        else:
            raise _refuse(where, f"{what}: outputs must be a list or an object.")
        if method == CLASSIFY_METHOD:
            named.pop("classes", None)  # TF's classes: the labels themselves, no output
            named.setdefault("scores", "probabilities")
        elif method == REGRESS_METHOD:
            named.setdefault("outputs", "predictions")
        for alias, key in named.items():
            if not isinstance(key, str) or key not in keys:
                raise _refuse(
                    where,
                    f"{what}: output {alias!r} is {key!r}, not one the head makes "
                    f"({sorted(keys)}).",
                )


# -- memory ------------------------------------------------------------------------------------


def _loaded_members(members: Mapping[str, Any]) -> dict[str, int]:
    """The bytes of each member file loaded whole into memory (an ONNX graph, a LightGBM
    model), by ``member <kind>``, from the checked entries (an ensemble's member exports are
    each sized by their own load)."""
    return {
        f"member {name!r}": entry["bytes"]
        for name, entry in members.items()
        if isinstance(entry, dict)
        and type(entry.get("bytes")) is int
        and "path" in entry
        and _loaded_whole(name)
    }


def _loaded_whole(kind: str) -> bool:
    """Whether a Predictor loads a member of this kind into memory (evidence it never reads)."""
    member = MEMBER_KINDS.get(kind)
    return member is None or member.budget == "max_model_bytes"


def model_bytes(
    spec: Mapping[str, Any],
    columns: Columns,
    shapes: Mapping[str, tuple[int, ...]],
    members: Mapping[str, Any] | None = None,
) -> int:
    """The memory a version needs, from its manifest: every weight at float32 (the dtype it is
    held in), every member file loaded whole (its recorded size), plus
    :data:`LIST_ENTRY_BYTES` for each entry of a list the spec stores (vocabularies,
    boundaries, class names)."""
    weights = sum(4 * math.prod(shape) for shape in shapes.values())
    weights += sum(_loaded_members(members or {}).values())
    entries = sum(value for _, _, value, kind in _sizes(spec, columns) if kind == "values")
    head = spec.get("head") or {}
    entries += len(head.get("label_vocabulary") or ()) or int(head.get("n_classes") or 0)
    return weights + LIST_ENTRY_BYTES * entries


def check_memory(
    spec: Mapping[str, Any],
    columns: Columns,
    shapes: Mapping[str, tuple[int, ...]],
    where: str,
    limits: ExportLimits,
    members: Mapping[str, Any] | None = None,
) -> int:
    """The bytes of :func:`model_bytes`, refused above ``max_model_bytes`` with an error that
    names the biggest tensor or member file and the largest sizes of the spec (what to
    shrink)."""
    needed = model_bytes(spec, columns, shapes, members)
    if needed <= limits.max_model_bytes:
        return needed
    biggest = {
        f"tensor is {name!r} {list(shape)}": 4 * math.prod(shape) for name, shape in shapes.items()
    }
    biggest.update(
        (f"member file is the {name}'s ({show_bytes(size)})", size)
        for name, size in _loaded_members(members or {}).items()
    )
    sizes = _sizes(spec, columns)
    largest = sorted(((value, f"{owner}: {field}={value}") for owner, field, value, _ in sizes))
    largest = largest[::-1][:3]
    causes = "; ".join(text for _, text in largest) or "the head"
    part = f"its biggest {max(biggest, key=biggest.__getitem__)}, and " if biggest else ""
    raise ExportFormatError(
        f"{where}: the model needs about {show_bytes(needed)} in memory, over the budget of "
        f"{show_bytes(limits.max_model_bytes)} ({MAX_MODEL_BYTES_ENV}); {part}its largest "
        f"sizes are {causes}.",
    )


# -- weights -----------------------------------------------------------------------------------


def read_weights(
    root: str, shapes: Mapping[str, tuple[int, ...]], limits: ExportLimits
) -> dict[str, np.ndarray]:
    """The export's weights, as the spec's ``shapes`` name them, each checked in the file's
    header (name, shape, element type) before any tensor's data is read.

    Raises:
        ExportFormatError: the file is missing, not a regular file, bigger than the export
            limit, not safetensors, or holds a missing, extra or misshapen tensor (named).
    """
    path = os.path.join(root, VARIABLES_FILE)
    # Named inside the export: the part of the message that survives scrubbing (errors.scrub).
    what = f"{root}: {VARIABLES_FILE}"
    check_file(path, what, limits.max_export_bytes)
    try:
        with safe_open(path, framework="numpy") as handle:
            present = {name: handle.get_slice(name) for name in handle.keys()}  # noqa: SIM118
            headers = {
                name: SimpleNamespace(shape=tuple(found.get_shape()))
                for name, found in present.items()
            }
            check_weights(shapes, headers, what, ExportFormatError)
            for name, found in present.items():
                if found.get_dtype() not in WEIGHT_DTYPES:
                    raise ExportFormatError(
                        f"{what}: tensor {name!r} is of type {found.get_dtype()}, not one of "
                        f"{list(WEIGHT_DTYPES)}."
                    )
            return {name: handle.get_tensor(name) for name in shapes}
    except MLEngineError:
        raise
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise ExportFormatError(
            f"{what}: not a valid safetensors file ({error}); it may be truncated or not a "
            "safetensors file at all."
        ) from None


# -- the files of an export ----------------------------------------------------------------------


def listed_files(
    manifest: Mapping[str, Any],
    read_nested: Callable[[str], Mapping[str, Any]] | None = None,
) -> list[str]:
    """The files an export's manifest lists, relative to the export (``/``-separated): the
    manifest, the weights, every asset (the ``assets`` map and each column's
    ``vocabulary_file``) and every file of format 2's ``members`` (an ONNX graph, a LightGBM
    model, an ensemble's member exports with the files each of their manifests lists, read
    by ``read_nested(path)``). Copies of an export hold these and nothing else.

    Raises:
        ExportFormatError: the manifest names a member export but no ``read_nested`` was
            given, or a member export is an ensemble itself (ensembles do not nest).
    """
    files = _own_files(manifest)
    for path, nested in member_files(manifest.get(MEMBERS_KEY)):
        files.add(path)
        if not nested:
            continue
        if read_nested is None:
            raise ExportFormatError(f"member export {path!r}: no reader was given for it.")
        inner = read_nested(path)
        if any(n for _, n in member_files(inner.get(MEMBERS_KEY))):
            raise ExportFormatError(f"member export {path!r} is an ensemble; they do not nest.")
        folder = posixpath.dirname(path)
        files.update(posixpath.join(folder, name) for name in _own_files(inner))
        files.update(posixpath.join(folder, p) for p, _ in member_files(inner.get(MEMBERS_KEY)))
    return sorted(files)


def _own_files(manifest: Mapping[str, Any]) -> set[str]:
    files = {MANIFEST_FILE, VARIABLES_FILE.replace(os.sep, "/")}
    assets = manifest.get("assets")
    if isinstance(assets, dict):
        files.update(path for path in assets.values() if isinstance(path, str))
    files.update(_vocabulary_files(manifest.get("model_spec")))
    return files


def _vocabulary_files(node: Any) -> Iterable[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            config = item.get("config")
            if isinstance(config, dict) and isinstance(config.get("vocabulary_file"), str):
                yield config["vocabulary_file"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


__all__ = [
    "LIST_ENTRY_BYTES",
    "WEIGHT_DTYPES",
    "check_file",
    "check_head_config",
    "check_memory",
    "check_signature",
    "check_spec",
    "listed_files",
    "model_bytes",
    "read_manifest_file",
    "read_weights",
    "Columns",
    "spec_columns",
]
