"""Checkpoints: one safetensors file of tensors plus a JSON manifest, written atomically.

Layout in ``model_dir`` (one writer per model_dir, the chief, as in TensorFlow)::

    ckpt-<global_step>.safetensors   every tensor: model weights under ``model/<name>``,
                                     optimizer state under ``optimizer/<i>/...``, RNG ``rng/...``
    ckpt-<global_step>.json          manifest: format, global_step, created time, the weights
                                     file's name, size and sha256, and the caller's entries
                                     (config/fingerprint, RNG state, optimizer structures)
    checkpoint                       JSON index {"latest": "ckpt-N", "all": [...]}, as TF's file

Memory and time: the weights file is written from the tensors themselves, in the safetensors
layout, never gathered into one buffer first (for a table of ten million rows that buffer was a
second copy of the model and its slots); its sha256 is computed by a thread while the same
memory is written, so saving takes about as long as the write. Loading hashes the file as it
streams past and reads the tensors with safetensors' own loader.

Crash safety: each file is written to a hidden temporary name in the same directory, fsynced
and renamed with ``os.replace``; the manifest is written last, so a checkpoint exists only once
its manifest does. Readers trust the files, not the index: :func:`latest_checkpoint` skips
temporary files, weights without a manifest and manifests whose weights are missing or of the
wrong size, so a SIGKILL at any moment leaves the previous checkpoint usable. Loading never
unpickles anything: safetensors only, its sha256 checked against the manifest.

A checkpoint is named by its prefix ``model_dir/ckpt-<global_step>`` (TF's convention); every
function taking a path also accepts the ``.json`` or ``.safetensors`` file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file as load_safetensors_file
from torch import Tensor

from mlengine.errors import CheckpointError, InvalidParameterError
from mlengine.limits import load_json

FORMAT = "mlengine.checkpoint"
FORMAT_VERSION = 1
INDEX_FILE = "checkpoint"
RESERVED_KEYS = frozenset(
    {"format", "format_version", "global_step", "created", "weights_file", "weights_bytes"}
    | {"weights_sha256"}
)
_MANIFEST_RE = re.compile(r"^ckpt-(\d+)\.json$")
_WEIGHTS_RE = re.compile(r"^ckpt-(\d+)\.safetensors$")
_TEMP_MARK = ".tmp-"
_TAG = "__mlengine__"


# ---------------------------------------------------------------- files


def _fsync_dir(directory: str) -> None:
    """Makes a rename in ``directory`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


Buffer = bytes | memoryview


def _atomic_write(path: str, data: Buffer | Sequence[Buffer]) -> str:
    """Writes ``data`` (one buffer or several, in order) to a temporary file beside ``path``,
    fsyncs it and renames it onto ``path``. Returns the sha256 of what was written, computed
    by a thread while the buffers are written (both release the GIL on large buffers)."""
    parts = [data] if isinstance(data, bytes | memoryview) else list(data)
    digest = hashlib.sha256()

    def hash_parts() -> None:
        for part in parts:
            digest.update(part)

    hasher = threading.Thread(target=hash_parts, name="mlengine-checkpoint-sha256")
    hasher.start()
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        hasher.join()
    _fsync_dir(directory)
    return digest.hexdigest()


# safetensors' dtype names (safetensors.torch._TYPES) for the dtypes a checkpoint holds.
_SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _safetensors_parts(tensors: Mapping[str, Tensor]) -> list[Buffer]:
    """The safetensors file of ``tensors`` (contiguous CPU tensors) as buffers to write in
    order: the header, then every tensor's own memory (no copy). As safetensors' ``save``:
    tensors ordered by element size, largest first, then by name (so each is aligned), the
    header padded with spaces to a multiple of 8 bytes, ``{"format": "pt"}`` as metadata."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    data: list[Buffer] = []
    offset = 0
    for name, tensor in sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0])):
        dtype = _SAFETENSORS_DTYPES.get(tensor.dtype)
        if dtype is None:
            raise InvalidParameterError(
                f"Tensor '{name}' is {tensor.dtype}; a checkpoint stores "
                f"{sorted(map(str, _SAFETENSORS_DTYPES))}."
            )
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": dtype,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
        if size:
            data.append(tensor.reshape(-1).view(torch.uint8).numpy().data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)) + text, *data]


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _prefix(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    for suffix in (".json", ".safetensors"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _read_manifest(prefix: str) -> dict[str, Any]:
    """The manifest of ``prefix``, checked for shape; CheckpointError naming the file if not."""
    path = prefix + ".json"
    try:
        with open(path, encoding="utf-8") as f:
            manifest = load_json(f.read(), python_json=True)  # a model_dir may be anyone's
    except FileNotFoundError:
        raise CheckpointError(f"Checkpoint manifest {path} does not exist.") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"Checkpoint manifest {path} cannot be read: {e}") from None
    weights_file = manifest.get("weights_file") if isinstance(manifest, dict) else None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("global_step"), int)
        or not isinstance(manifest.get("weights_bytes"), int)
        or not isinstance(manifest.get("weights_sha256"), str)
        or not isinstance(weights_file, str)
        or os.path.basename(weights_file) != weights_file
    ):
        raise CheckpointError(f"Checkpoint manifest {path} is not an {FORMAT} manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint manifest {path} has format_version {manifest.get('format_version')!r}; "
            f"this mlengine reads version {FORMAT_VERSION}."
        )
    return manifest


def _is_complete(prefix: str, step: int) -> bool:
    """Manifest valid and weights present with the recorded size (cheap: no hashing)."""
    try:
        manifest = _read_manifest(prefix)
        weights = os.path.join(os.path.dirname(prefix), manifest["weights_file"])
        return manifest["global_step"] == step and (
            os.stat(weights).st_size == manifest["weights_bytes"]
        )
    except (CheckpointError, OSError):
        return False


def list_checkpoints(model_dir: str | os.PathLike[str]) -> list[str]:
    """Prefixes of the complete checkpoints in ``model_dir``, oldest (lowest step) first."""
    directory = os.fspath(model_dir)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    steps = sorted(int(m.group(1)) for m in map(_MANIFEST_RE.match, names) if m)
    prefixes = [(os.path.join(directory, f"ckpt-{step}"), step) for step in steps]
    return [prefix for prefix, step in prefixes if _is_complete(prefix, step)]


def latest_checkpoint(model_dir: str | os.PathLike[str]) -> str | None:
    """Prefix of the newest complete checkpoint in ``model_dir``, or None if there is none."""
    checkpoints = list_checkpoints(model_dir)
    return checkpoints[-1] if checkpoints else None


def _cpu_tensors(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached, contiguous CPU tensors; a second view of one storage is copied (safetensors
    refuses shared storage, e.g. tied weights)."""
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, value in tensors.items():
        if not isinstance(name, str) or not isinstance(value, Tensor):
            raise InvalidParameterError(
                "The 'tensors' argument of save_checkpoint must map str names to tensors. "
                f"Got {name!r}: {type(value).__name__} instead."
            )
        if value.layout != torch.strided:
            raise InvalidParameterError(
                f"Tensor '{name}' is {value.layout}; a checkpoint stores dense tensors only."
            )
        tensor = value.detach().to("cpu").contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if tensor.numel() and storage in seen:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        out[name] = tensor
    return out


def save_checkpoint(
    model_dir: str | os.PathLike[str],
    global_step: int,
    tensors: Mapping[str, Tensor],
    manifest: Mapping[str, Any] | None = None,
    keep_checkpoint_max: int | None = 5,
) -> str:
    """Writes checkpoint ``ckpt-<global_step>`` into ``model_dir`` and returns its prefix.

    Args:
        model_dir: created if missing.
        global_step: int >= 0; a checkpoint of the same step is replaced (it is hidden first,
            so its old manifest never describes the new weights).
        tensors: every tensor to keep, by name; moved to the CPU and made contiguous.
        manifest: JSON-serialisable entries added to the manifest (not the reserved keys
            format, format_version, global_step, created, weights_file/bytes/sha256).
        keep_checkpoint_max: keep the newest this many complete checkpoints; None or 0 keeps
            all (TF's meaning). Temporary files and weights without a manifest left by a crash
            are removed too.

    Raises:
        InvalidParameterError: a bad step, tensor or manifest entry.
    """
    if isinstance(global_step, bool) or not isinstance(global_step, int) or global_step < 0:
        raise InvalidParameterError(
            f"The 'global_step' argument of save_checkpoint must be an int >= 0. "
            f"Got {global_step!r} instead."
        )
    if keep_checkpoint_max is not None and (
        isinstance(keep_checkpoint_max, bool)
        or not isinstance(keep_checkpoint_max, int)
        or keep_checkpoint_max < 0
    ):
        raise InvalidParameterError(
            "The 'keep_checkpoint_max' argument of save_checkpoint must be None or an int >= 0. "
            f"Got {keep_checkpoint_max!r} instead."
        )
    extra = dict(manifest or {})
    if clash := sorted(RESERVED_KEYS & set(extra)):
        raise InvalidParameterError(f"Manifest keys {clash} are reserved by save_checkpoint.")
    parts = _safetensors_parts(_cpu_tensors(tensors))
    directory = os.fspath(model_dir)
    prefix = os.path.join(directory, f"ckpt-{global_step}")
    full = {
        **extra,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "global_step": global_step,
        "created": time.time(),
        "weights_file": os.path.basename(prefix) + ".safetensors",
        "weights_bytes": sum(
            len(part) if isinstance(part, bytes) else part.nbytes for part in parts
        ),
        "weights_sha256": "",
    }
    try:  # checked before anything is written
        json.dumps(full, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(f"The checkpoint manifest is not strict JSON: {e}") from None
    os.makedirs(directory, exist_ok=True)
    _remove(prefix + ".json")
    full["weights_sha256"] = _atomic_write(prefix + ".safetensors", parts)
    text = json.dumps(full, indent=1, sort_keys=True, allow_nan=False)
    _atomic_write(prefix + ".json", text.encode("utf-8"))
    _collect_garbage(directory, global_step, keep_checkpoint_max)
    checkpoints = [os.path.basename(p) for p in list_checkpoints(directory)]
    index = {"latest": os.path.basename(prefix), "all": checkpoints}
    _atomic_write(os.path.join(directory, INDEX_FILE), json.dumps(index, indent=1).encode())
    return prefix


def _collect_garbage(directory: str, current_step: int, keep: int | None) -> None:
    """Prunes old checkpoints (manifest first, so none is ever seen half-deleted) and crash
    leftovers: temporary files and weights that have no manifest."""
    complete = list_checkpoints(directory)
    for prefix in complete[: -keep if keep else 0]:
        _remove(prefix + ".json")
        _remove(prefix + ".safetensors")
    for name in os.listdir(directory):
        weights = _WEIGHTS_RE.match(name)
        is_temp = name.startswith((".ckpt-", f".{INDEX_FILE}")) and _TEMP_MARK in name
        is_orphan = (
            weights is not None
            and int(weights.group(1)) != current_step
            and not os.path.exists(os.path.join(directory, name[: -len(".safetensors")] + ".json"))
        )
        if is_temp or is_orphan:
            _remove(os.path.join(directory, name))


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of checkpoint ``path`` alone (checked for shape; the weights not read).

    Raises:
        CheckpointError: naming the file, if it is missing or not a manifest.
    """
    return _read_manifest(_prefix(path))


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Loads a checkpoint: ``(tensors on the CPU, manifest)``.

    Raises:
        CheckpointError: naming the file, if the manifest or weights are missing, truncated,
            altered (sha256) or not safetensors. Nothing is ever unpickled.
    """
    prefix = _prefix(path)
    manifest = _read_manifest(prefix)
    weights = os.path.join(os.path.dirname(prefix), manifest["weights_file"])
    try:
        with open(weights, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest = (
                hashlib.file_digest(f, "sha256").hexdigest()
                if size == manifest["weights_bytes"]
                else ""
            )
    except OSError as e:
        raise CheckpointError(f"Checkpoint weights {weights} cannot be read: {e}") from None
    if size != manifest["weights_bytes"]:
        raise CheckpointError(
            f"Checkpoint weights {weights} are truncated or altered: {size} bytes, "
            f"the manifest says {manifest['weights_bytes']}."
        )
    if digest != manifest["weights_sha256"]:
        raise CheckpointError(f"Checkpoint weights {weights} are corrupt (sha256 mismatch).")
    try:
        tensors = load_safetensors_file(weights)
    except Exception as e:  # safetensors raises its own error types, and some builtins
        raise CheckpointError(f"Checkpoint weights {weights} are not safetensors: {e}") from None
    return tensors, manifest


def tensors_under(tensors: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The tensors whose name starts with ``prefix``, with it removed (``model/`` -> state_dict)."""
    return {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}


# ---------------------------------------------------------------- optimizer state


def _encode(value: Any, name: str, tensors: dict[str, Tensor]) -> Any:
    """JSON for ``value``; its tensors go to ``tensors`` under ``name/...``."""
    if isinstance(value, Tensor):
        if name in tensors:
            raise InvalidParameterError(f"Optimizer state has two entries named '{name}'.")
        tensors[name] = value
        return {_TAG: "tensor", "name": name}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
    if isinstance(value, np.generic):
        return _encode(value.item(), name, tensors)
    if isinstance(value, tuple):
        return {
            _TAG: "tuple",
            "items": [_encode(v, f"{name}/{i}", tensors) for i, v in enumerate(value)],
        }
    if isinstance(value, list):
        return [_encode(v, f"{name}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str | int) for k in value):
        items = [[k, _encode(v, f"{name}/{k}", tensors)] for k, v in value.items()]
        return {_TAG: "dict", "items": items}
    raise InvalidParameterError(
        f"Optimizer state '{name}' is a {type(value).__name__}, which a checkpoint cannot store."
    )


def _decode(value: Any, tensors: Mapping[str, Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(_TAG)
    if kind == "tensor":
        if value["name"] not in tensors:
            raise CheckpointError(f"The checkpoint lacks optimizer tensor '{value['name']}'.")
        return tensors[value["name"]]
    if kind == "float":
        return float(value["value"])
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in value["items"])
    if kind == "dict":
        return {k: _decode(v, tensors) for k, v in value["items"]}
    raise CheckpointError(f"Unknown optimizer state entry {value!r} in the checkpoint manifest.")


def optimizer_state_to_tensors(
    state_dict: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Splits ``optimizer.state_dict()`` into tensors and a JSON-able structure.

    Per-parameter state tensors (Adagrad's ``sum``, Adam's ``exp_avg`` and tensor ``step``)
    are named ``<prefix>state/<param_id>/<key>``; hyper-parameters (``param_groups``), Python
    numbers, tuples and nested dicts stay in the structure, which goes in the manifest.

    Example::

        tensors, structure = optimizer_state_to_tensors(opt.state_dict(), "optimizer/0/")
        ...
        opt.load_state_dict(optimizer_state_from_tensors(loaded, structure))
    """
    tensors: dict[str, Tensor] = {}
    structure = _encode(dict(state_dict), prefix.rstrip("/"), tensors)
    return tensors, {"format": "torch.optim.state_dict", "state_dict": structure}


def optimizer_state_from_tensors(
    tensors: Mapping[str, Tensor], structure: Mapping[str, Any]
) -> dict[str, Any]:
    """Rebuilds the state_dict that :func:`optimizer_state_to_tensors` split, for
    ``optimizer.load_state_dict`` (which moves the tensors to the parameters' devices)."""
    if structure.get("format") != "torch.optim.state_dict" or "state_dict" not in structure:
        raise CheckpointError("The checkpoint's optimizer structure is missing or malformed.")
    state_dict = _decode(structure["state_dict"], tensors)
    if not isinstance(state_dict, dict):
        raise CheckpointError("The checkpoint's optimizer structure is not a state_dict.")
    return state_dict


# ---------------------------------------------------------------- random number generators


def _plain(value: Any) -> Any:
    """numpy arrays and scalars in a bit_generator state, as JSON lists and numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def rng_state(
    generator: np.random.Generator | None = None,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The RNG state to checkpoint: ``(tensors, json)``.

    Tensors: ``rng/torch`` (the CPU generator, uint8) and ``rng/cuda/<i>`` for each GPU, only
    when CUDA is already initialised (so a CPU run never creates CUDA contexts). JSON:
    ``{"numpy": generator.bit_generator.state}`` when a numpy Generator is given.
    """
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    info = {} if generator is None else {"numpy": _plain(generator.bit_generator.state)}
    return tensors, info


def restore_rng_state(
    tensors: Mapping[str, Tensor],
    info: Mapping[str, Any],
    generator: np.random.Generator | None = None,
) -> None:
    """Restores what :func:`rng_state` captured: torch CPU, each GPU present in both the
    checkpoint and this machine, and ``generator`` when given and saved."""
    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"].to(torch.uint8))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"rng/cuda/{i}" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng/cuda/{i}"].to(torch.uint8), i)
    if generator is not None and "numpy" in info:
        try:
            generator.bit_generator.state = dict(info["numpy"])
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(
                f"The checkpoint's numpy RNG state cannot be restored: {e}"
            ) from None


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "INDEX_FILE",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "optimizer_state_from_tensors",
    "optimizer_state_to_tensors",
    "read_manifest",
    "restore_rng_state",
    "rng_state",
    "save_checkpoint",
    "tensors_under",
]
