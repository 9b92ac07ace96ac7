"""Load an export and predict: the Predictor, built from the export directory alone.

Loading reads ``saved_model.json`` (data only) and ``variables.safetensors`` (tensors only): no
pickle, no code from the export runs. Everything is checked before it is trusted: the format
name and version, asset paths (they must stay inside the export), and every tensor's name and
shape — the network is first built on PyTorch's ``meta`` device, so a manifest that asks for
enormous tables is refused before any memory is allocated.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mlengine.errors import ExportFormatError, FeatureError, MLEngineError
from mlengine.export.format import (
    ASSETS_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_FILE,
    VARIABLES_FILE,
)
from mlengine.feature_column.columns import read_vocabulary_file
from mlengine.feature_column.rows import RowEncoder
from mlengine.feature_column.transform import SMALL_BATCH_ROWS as TRANSFORM_SMALL_ROWS
from mlengine.feature_column.transform import as_feature_dict
from mlengine.model import Model, build_model
from mlengine.model.build import check_weights
from mlengine.model.encode import Encoder
from mlengine.model.numpy_network import NumpyNetwork

logger = logging.getLogger("mlengine")

SINGLE_THREAD_ROWS = 256  # below this, one torch thread is faster than several
ROW_PATH_ROWS = 64  # up to this many rows, Python lookups and numpy beat the vectorised path


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    if count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count != previous:
            torch.set_num_threads(previous)


def _inside(root: str, relative: Any, what: str) -> str:
    """The path of ``relative`` under ``root``; anything escaping ``root`` is refused."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative):
        raise ExportFormatError(f"{what}: {relative!r} is not a relative path inside the export.")
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([path, os.path.realpath(root)]) != os.path.realpath(root):
        raise ExportFormatError(f"{what}: {relative!r} points outside the export directory.")
    return path


def read_manifest(export_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``saved_model.json`` of an export, with its format checked."""
    root = os.fspath(export_dir)
    path = os.path.join(root, MANIFEST_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise ExportFormatError(
            f"{root!r} is not an mlengine export: it has no {MANIFEST_FILE}."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFormatError(f"{path}: cannot be read as JSON ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ExportFormatError(f"{path}: format is {found!r}, expected {FORMAT_NAME!r}.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ExportFormatError(
            f"{path}: format_version {version!r} is not supported by this mlengine (it reads "
            f"version {FORMAT_VERSION}); upgrade mlengine or re-export the model."
        )
    for key in ("model_spec", "signature"):
        if not isinstance(manifest.get(key), dict):
            raise ExportFormatError(f"{path}: {key!r} is missing or not an object.")
    return manifest


def _resolve_assets(spec: Any, root: str) -> None:
    """Fill file-based vocabularies from ``assets/`` (paths checked to stay inside)."""
    if isinstance(spec, dict):
        config = spec.get("config")
        if spec.get("class_name") == "VocabularyColumn" and isinstance(config, dict):
            relative = config.get("vocabulary_file")
            if relative:
                path = _inside(root, relative, f"vocabulary of {config.get('key')!r}")
                if not path.startswith(os.path.join(os.path.realpath(root), ASSETS_DIR)):
                    raise ExportFormatError(f"vocabulary file {relative!r} is not under assets/.")
                try:
                    vocabulary: Sequence[Any] = read_vocabulary_file(path)
                    if config.get("dtype") == "int64":
                        vocabulary = [int(v) for v in vocabulary]
                except (FeatureError, ValueError) as exc:
                    raise ExportFormatError(f"vocabulary file {relative!r}: {exc}") from None
                config["vocabulary"] = list(vocabulary)
                config["vocabulary_file"] = path
        for value in spec.values():
            _resolve_assets(value, root)
    elif isinstance(spec, list):
        for value in spec:
            _resolve_assets(value, root)


def _build(spec: dict[str, Any], where: str) -> Model:
    try:
        return build_model(spec)
    except ExportFormatError:
        raise
    except (MLEngineError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise ExportFormatError(f"{where}: the model spec is invalid: {exc}") from None


class Predictor:
    """A loaded export: ``predict`` and ``predict_instances`` over raw features.

    Example:
        >>> predictor = load("exports/census/1764130000")           # doctest: +SKIP
        >>> predictor.predict_instances([{"age": 25, ...}])           # doctest: +SKIP
        [{'class_ids': [0], 'classes': ['0'], 'logistic': [0.03], ...}]
    """

    def __init__(self, export_dir: str | os.PathLike[str]):
        root = os.fspath(export_dir)
        self.path = root
        self.manifest = read_manifest(root)
        spec = json.loads(json.dumps(self.manifest["model_spec"]))
        _resolve_assets(spec, root)
        with torch.device("meta"):
            shapes = _build(spec, root).network.state_dict()
        variables = os.path.join(root, VARIABLES_FILE)
        if not os.path.isfile(variables):
            raise ExportFormatError(f"{root!r} has no {VARIABLES_FILE}.")
        try:
            weights = load_file(variables)
        except (SafetensorError, OSError, ValueError) as exc:
            raise ExportFormatError(
                f"{variables}: not a valid safetensors file ({exc}); it may be truncated or "
                "not a safetensors file at all."
            ) from None
        check_weights(shapes, weights, variables, ExportFormatError)
        self.model = _build(spec, root)
        self.model.network.load_state_dict(weights)
        self.model.network.eval()
        self.encoder = Encoder(self.model, torch.device("cpu"))
        # Requests of a few rows: compiled per-column Python and a numpy forward (see
        # RowEncoder and NumpyNetwork); None where the model needs the general path.
        rows = RowEncoder([self.model.linear_transformer, self.model.dnn_transformer])
        network = NumpyNetwork.of(self.model.network)
        self._row_path = (rows, network) if rows.supported and network is not None else None
        self._warned_unknown: set[str] = set()
        signature = self.manifest["signature"]
        self.inputs: list[dict[str, Any]] = list(signature.get("inputs", []))
        self.input_names = [spec["name"] for spec in self.inputs]
        self.required = [spec["name"] for spec in self.inputs if spec.get("required")]
        self.output_keys = list(self.model.head.prediction_keys)
        # Torch threads per call at most (None: all cores for big batches). The server sets 1:
        # it runs calls on its own worker threads, one per core.
        self.max_threads: int | None = None

    @property
    def few_rows(self) -> int:
        """The most rows a call takes the row path for (0: this model never does). Such a
        call is Python and numpy on tiny arrays: it holds the GIL from start to end."""
        return ROW_PATH_ROWS if self._row_path is not None else 0

    @property
    def global_step(self) -> int:
        return int(self.manifest.get("global_step", 0))

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.manifest.get("metrics", {}))

    # -- inputs -----------------------------------------------------------------------------

    def _columns_from_instances(self, instances: Sequence[Any]) -> dict[str, Any]:
        for index, instance in enumerate(instances):
            if not isinstance(instance, Mapping):
                raise FeatureError(
                    f"Instance {index} must be a JSON object of feature values; got "
                    f"{type(instance).__name__}."
                )
        self._warn_unknown(instances)
        columns: dict[str, Any] = {}
        for spec in self.inputs:
            name = spec["name"]
            values = [instance.get(name) for instance in instances]
            if spec.get("required"):
                for index, value in enumerate(values):
                    if value is None:
                        state = "null" if name in instances[index] else "missing"
                        raise FeatureError(
                            f"Instance {index}: required feature {name!r} is {state}."
                        )
            if len(values) <= TRANSFORM_SMALL_ROWS and _plain(values):
                columns[name] = values  # the transform's small-batch path reads lists directly
                continue
            try:
                columns[name] = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                raise FeatureError(_first_mixed_value(name, values)) from None
        return columns

    def _warn_unknown(self, instances: Sequence[Mapping[str, Any]]) -> None:
        """Log, once per Predictor, the keys no input of the signature reads (ignored)."""
        unknown = (
            set().union(*(instance.keys() for instance in instances)).difference(self.input_names)
        )
        if unknown - self._warned_unknown:
            self._warned_unknown |= unknown
            logger.warning("Ignoring unknown features %s", sorted(map(str, unknown)))

    def _features(self, instances: Any) -> Mapping[str, Any]:
        if isinstance(instances, Mapping) or hasattr(instances, "columns"):
            features = as_feature_dict(instances)
            missing = [name for name in self.required if name not in features]
            if missing:
                raise FeatureError(f"Required features {missing} are missing from the input.")
            return features
        if isinstance(instances, Sequence) and not isinstance(instances, str | bytes):
            if not instances:
                raise FeatureError("No instances to predict.")
            return self._columns_from_instances(instances)
        raise FeatureError(
            "Instances must be a list of objects, a dict of columns or a pandas DataFrame; got "
            f"{type(instances).__name__}."
        )

    # -- outputs ----------------------------------------------------------------------------

    def _predict_few(self, instances: Any) -> dict[str, np.ndarray] | None:
        """The row path for a few instances (a list of dicts, or a dict of lists); None when
        it does not apply, and the general path (which also reports any error) runs."""
        assert self._row_path is not None
        rows, network = self._row_path
        if type(instances) is list:
            if not all(isinstance(instance, Mapping) for instance in instances):
                return None
            self._warn_unknown(instances)
            if any(instance.get(name) is None for name in self.required for instance in instances):
                return None
            encoded = rows.encode(instances)
            count = len(instances)
        else:
            if any(name not in instances for name in self.required):
                return None
            count = _count_plain(instances)
            encoded = rows.encode_columns(instances, count)
        if encoded is None:
            return None
        return self.model.head.predictions(network(encoded[0], encoded[1], count))

    @torch.no_grad()
    def predict(self, instances: Any) -> dict[str, np.ndarray]:
        """Predictions as columns: one array per output key, first axis = instances."""
        if self._row_path is not None and 0 < _count_plain(instances) <= ROW_PATH_ROWS:
            outputs = self._predict_few(instances)
            if outputs is not None:
                return outputs
        features = self._features(instances)
        inputs = self.encoder.inputs(features)
        threads = 1 if inputs.num_rows < SINGLE_THREAD_ROWS else max(1, os.cpu_count() or 1)
        if self.max_threads is not None:
            threads = min(threads, self.max_threads)
        with _threads(threads):
            logits = self.model.network(inputs)
        return self.model.head.predictions(logits)

    def predict_instances(self, instances: Any) -> list[dict[str, Any]]:
        """Predictions as one JSON-ready dict per instance (lists of numbers or strings)."""
        outputs = self.predict(instances)
        columns = {key: outputs[key].tolist() for key in self.output_keys}
        count = len(next(iter(columns.values()))) if columns else 0
        return [{key: columns[key][i] for key in self.output_keys} for i in range(count)]


def _count_plain(instances: Any) -> int:
    """The rows of a list of instances or of a dict of lists; 0 for any other input."""
    if type(instances) is list:
        return len(instances)
    if type(instances) is dict:
        first = next(iter(instances.values()), None)
        return len(first) if type(first) is list else 0
    return 0


def _plain(values: list[Any]) -> bool:
    """All strings, or all numbers (None allowed): no conversion or type check needed."""
    kinds = {type(v) for v in values if v is not None}
    return kinds == {str} or (bool(kinds) and kinds <= {int, float})


def _first_mixed_value(name: str, values: list[Any]) -> str:
    kinds = [type(v).__name__ for v in values]
    first = next((k for k in kinds if k != "NoneType"), "NoneType")
    for index, value in enumerate(values):
        if value is not None and type(value).__name__ != first:
            if not (isinstance(value, int | float) and first in ("int", "float")):
                return (
                    f"Instance {index}: feature {name!r} has a value of type "
                    f"{type(value).__name__} ({value!r}) where earlier instances have {first}."
                )
    return f"Feature {name!r}: values cannot be read as one column (nested or mixed values)."


def load(export_dir: str | os.PathLike[str]) -> Predictor:
    """Load an export directory (``<base>/<timestamp>``) into a :class:`Predictor`."""
    return Predictor(export_dir)
