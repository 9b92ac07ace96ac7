"""Load an export and predict: the Predictor, built from the export directory alone.

Loading reads ``saved_model.json`` (data only) and ``variables.safetensors`` (tensors only): no
pickle, no code from the export runs. Everything is checked before it is trusted: the format
name and version, asset paths (they must stay inside the export), and every tensor's name and
shape — the shapes are worked out from the spec alone, so a manifest that asks for enormous
tables is refused before any memory is allocated.

An export whose model is a member (an ONNX graph, LightGBM trees, an ensemble) predicts through
that member's scorer (:func:`~mlengine.export.scorers.scorer_for`); every other export is a
network in ``variables/``. Predictions of a few rows of a network take the row path
(:class:`~mlengine.feature_column.row_encoder.RowEncoder` and
:class:`~mlengine.model.numpy_network.NumpyNetwork`); bigger batches the vectorised
transform, then the same numpy network. Its matrix products run on one BLAS thread for batches
of up to ``tuning.ONE_BLAS_THREAD_ROWS`` rows (every core beyond): the forward goes
``FORWARD_CHUNK_ROWS`` rows at a time, products too small to share, and on a machine whose
cores are busy BLAS's threads wait for each other (see :class:`_BlasThreads`).
Torch is imported only for a network numpy cannot run (a gelu DNN), so a process that only
predicts, such as the server, never pays for importing it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from mlengine.errors import ExportFormatError, FeatureError, NotSupportedError
from mlengine.export.format import (
    ASSETS_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_FILE,
    READABLE_VERSIONS,
)
from mlengine.export.members import MEMBERS_KEY, check_members, inside
from mlengine.export.receivers import decode_instances, read_serving_inputs
from mlengine.export.scorers import (
    SCORERS,
    SPEC_ERRORS,
    Attributions,
    Scorer,
    scorer_for,
    spec_error,
)
from mlengine.export.validate import (
    check_file,
    check_head_config,
    check_memory,
    check_signature,
    check_spec,
    read_manifest_file,
    read_weights,
)
from mlengine.feature_column.columns import read_vocabulary_file
from mlengine.feature_column.memory import ValueMemory
from mlengine.feature_column.row_encoder import RowEncoder
from mlengine.feature_column.serialization import column_configs
from mlengine.feature_column.transform import as_feature_dict, count_rows, transform_all
from mlengine.limits import ExportLimits
from mlengine.model.heads import Head, head_from_config
from mlengine.model.numpy_network import NumpyNetwork
from mlengine.model.spec import transformers_from_spec, weight_shapes
from mlengine.tuning import (
    FORWARD_CHUNK_ROWS,
    ONE_BLAS_THREAD_ROWS,
    ROW_PATH_ROWS,
    SMALL_BATCH_ROWS,
)

if TYPE_CHECKING:
    from mlengine.model import Model
    from mlengine.model.encode import Encoder

logger = logging.getLogger("mlengine")


def read_manifest(
    export_dir: str | os.PathLike[str], limits: ExportLimits | None = None
) -> dict[str, Any]:
    """``saved_model.json`` of an export, with its size, depth and format checked, and its
    members' files (sizes within ``limits``)."""
    root = os.fspath(export_dir)
    path = os.path.join(root, MANIFEST_FILE)
    limits = limits or ExportLimits.from_env()
    try:
        manifest = read_manifest_file(root, limits)
    except FileNotFoundError:
        raise ExportFormatError(
            f"{root!r} is not an mlengine export: it has no {MANIFEST_FILE}."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ExportFormatError(f"{path}: format is {found!r}, expected {FORMAT_NAME!r}.")
    version = manifest.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:
        raise ExportFormatError(
            f"{path}: format_version {version!r} is newer than this mlengine reads (versions "
            f"{READABLE_VERSIONS[0]} to {FORMAT_VERSION}); upgrade mlengine to load it."
        )
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ExportFormatError(
            f"{path}: format_version {version!r} is not supported by this mlengine (it reads "
            f"versions {READABLE_VERSIONS[0]} to {FORMAT_VERSION})."
        )
    for key in ("model_spec", "signature"):
        if not isinstance(manifest.get(key), dict):
            raise ExportFormatError(f"{path}: {key!r} is missing or not an object.")
    inputs = manifest["signature"].get("inputs", [])
    if not isinstance(inputs, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("name"), str) for entry in inputs
    ):
        # What every export's Predictor reads first (the model's own checks come later).
        raise ExportFormatError(
            f"{path}: signature inputs must be a list of objects with a 'name'."
        )
    manifest[MEMBERS_KEY] = check_members(manifest, root, path, limits)
    return manifest


def _resolve_assets(spec: Any, root: str, limits: ExportLimits) -> None:
    """Fill file-based vocabularies from ``assets/`` (paths checked to stay inside, each a
    regular file within the asset limit before it is read)."""
    for class_name, config in column_configs(spec):
        relative = config.get("vocabulary_file")
        if class_name != "VocabularyColumn" or not relative:
            continue
        path = inside(root, relative, f"vocabulary of {config.get('key')!r}")
        if not path.startswith(os.path.join(os.path.realpath(root), ASSETS_DIR)):
            raise ExportFormatError(f"vocabulary file {relative!r} is not under assets/.")
        check_file(path, f"vocabulary file {relative!r}", limits.max_asset_bytes)
        try:
            vocabulary: Sequence[Any] = read_vocabulary_file(path)
            if config.get("dtype") == "int64":
                vocabulary = [int(v) for v in vocabulary]
        except (FeatureError, ValueError) as exc:
            raise ExportFormatError(f"vocabulary file {relative!r}: {exc}") from None
        config["vocabulary"] = list(vocabulary)
        config["vocabulary_file"] = path


class Predictor:
    """A loaded export: ``predict`` and ``predict_instances`` over raw features.

    Example:
        >>> predictor = load("exports/census/1764130000")           # doctest: +SKIP
        >>> predictor.predict_instances([{"age": 25, ...}])           # doctest: +SKIP
        [{'class_ids': [0], 'classes': ['0'], 'logistic': [0.03], ...}]
    """

    def __init__(
        self, export_dir: str | os.PathLike[str], limits: ExportLimits | None = None
    ) -> None:
        root = os.fspath(export_dir)
        self.path = root
        # Every size is checked before what it sizes is built (see mlengine.export.validate),
        # for a network and for a model that is a member alike.
        self.limits = limits = limits or ExportLimits.from_env()
        self.manifest = read_manifest(root, limits)
        spec = copy.deepcopy(self.manifest["model_spec"])
        # A model that is a member (an ONNX graph, boosted trees, an ensemble) scores through
        # it (export/scorers.py); the inputs around it are the same as a network's.
        self._scorer: Scorer | None = None
        self._row_path: RowEncoder | None = None
        # String values and what depends on them, kept from one prediction to the next (the
        # server's request decoder reads it too).
        self.memory = ValueMemory()
        self._warned_unknown: set[str] = set()
        self.numpy_network: NumpyNetwork | None = None
        self.linear_transformer = self.dnn_transformer = None
        # A network whose activation numpy lacks runs on torch, built on first use.
        self._model: Model | None = None
        self._encoder: Encoder | None = None
        self._torch_lock = threading.Lock()
        self.head: Head
        self._init_signature()
        members = self.manifest[MEMBERS_KEY]
        try:
            # A custom network's graph may have no head (its own outputs).
            if spec.get("head") is not None or spec.get("network") != "onnx":
                check_head_config(spec.get("head"), root, limits)
            _resolve_assets(spec, root, limits)
            columns = check_spec(spec, root, limits)
        except ExportFormatError:
            raise
        except SPEC_ERRORS as exc:
            raise spec_error(root, exc) from None
        self._spec = spec
        #: The memory this version needs, from its manifest (validate.model_bytes).
        self.model_bytes = 0
        if any(kind in members for kind in SCORERS):
            # Before a member is read: its files' sizes and the spec's lists, in the budget.
            self.model_bytes = check_memory(spec, columns, {}, root, limits, members)
        scorer = scorer_for(root, self.manifest, spec, limits)
        if scorer is not None:
            self._scorer = scorer
            if scorer.head is not None:
                self.head = scorer.head
                if scorer.checks_signature:
                    try:
                        check_signature(self.manifest, columns, self.head, root)
                    except ExportFormatError:
                        raise
                    except SPEC_ERRORS as exc:  # a crafted column fails as it derives its inputs
                        raise spec_error(root, exc) from None
            self.model_bytes += scorer.model_bytes
            self.output_keys = list(scorer.output_keys)
            return
        try:
            self.head = head_from_config(spec["head"])
            check_signature(self.manifest, columns, self.head, root)
            self.linear_transformer, self.dnn_transformer = transformers_from_spec(spec)
            shapes = weight_shapes(
                spec, self.linear_transformer, self.dnn_transformer, self.head.logits_dimension
            )
        except ExportFormatError:
            raise
        except SPEC_ERRORS as exc:
            raise spec_error(root, exc) from None
        self.model_bytes = check_memory(spec, columns, shapes, root, limits)
        weights = read_weights(root, shapes, limits)
        self._weights = {
            name: array.astype(np.float32, copy=False) if array.dtype.kind == "f" else array
            for name, array in weights.items()
        }
        dnn = self.dnn_transformer
        linear = self.linear_transformer
        # Weights that overflow when folded give outputs that are not finite: the probe that
        # makes a version READY refuses them (export.probe), numpy need not warn.
        with np.errstate(over="ignore", invalid="ignore"):
            self.numpy_network = NumpyNetwork.from_weights(
                self._weights,
                None if dnn is None else dnn.embedding_specs,
                bool(spec.get("batch_norm", False)),
                str(spec.get("dnn_activation_fn", "relu")),
                () if linear is None else linear.embedding_specs,
            )
        # A network whose activation numpy lacks runs on torch, built on first use (above).
        # self.memory keeps string values and what depends on them from one prediction to
        # the next (the server's request decoder reads it too).
        # Requests of a few rows: compiled per-column Python and the numpy forward.
        rows = RowEncoder([self.linear_transformer, self.dnn_transformer], self.memory)
        self._row_path = rows if rows.supported and self.numpy_network is not None else None
        self.output_keys = list(self.head.prediction_keys)

    def _init_signature(self) -> None:
        signature = self.manifest["signature"]
        self.inputs: list[dict[str, Any]] = list(signature.get("inputs", []))
        self.input_names = [spec["name"] for spec in self.inputs]
        self.required = [spec["name"] for spec in self.inputs if spec.get("required")]
        # Serialized inputs (tf.Example, CSV) the export's receiver declared.
        self.serving_inputs = read_serving_inputs(self.manifest[MEMBERS_KEY])

    @property
    def few_rows(self) -> int:
        """The most rows a call takes the row path for (0: this model never does). Such a
        call is Python and numpy on tiny arrays: it holds the GIL from start to end."""
        inline = self._row_path is not None or (
            self._scorer is not None and self._scorer.few_rows_inline
        )
        return ROW_PATH_ROWS if inline else 0

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
            if len(values) <= SMALL_BATCH_ROWS and _plain(values):
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
        assert self._row_path is not None and self.numpy_network is not None
        if type(instances) is list:
            if not all(isinstance(instance, Mapping) for instance in instances):
                return None
            self._warn_unknown(instances)
            if any(instance.get(name) is None for name in self.required for instance in instances):
                return None
            encoded = self._row_path.encode(instances)
            count = len(instances)
        else:
            if any(name not in instances for name in self.required):
                return None
            count = _count_plain(instances)
            encoded = self._row_path.encode_columns(instances, count)
        if encoded is None:
            return None
        return self.head.predictions(self.numpy_network.rows(encoded[0], encoded[1], count))

    def predict(self, instances: Any, signature_name: str | None = None) -> dict[str, np.ndarray]:
        """Predictions as columns: one array per output key, first axis = instances.

        Instances may also be serialized records of an input the export declares for
        ``signature_name`` (see :mod:`mlengine.export.receivers`).

        Raises:
            FeatureError: an input does not fit its column (named, with its instance), or an
                output is not finite (inputs so extreme that the model overflows): never
                returned as an answer.
        """
        if self.serving_inputs and type(instances) is list:
            decoded = decode_instances(instances, self.serving_inputs, signature_name)
            if decoded is not None:
                instances = decoded
        # Overflow is found, and named, by check_finite below: numpy need not warn of it.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outputs = self._predict(instances)
        check_finite(outputs)
        return outputs

    @property
    def explains_itself(self) -> bool:
        """Whether the model has its own attribution method (:meth:`attributions`)."""
        return hasattr(self._scorer, "attributions")

    def attributions(self, instances: Any) -> Attributions:
        """The model's own attributions of its raw outputs (boosted trees: TreeSHAP), for a
        model that :attr:`explains_itself`."""
        explain = getattr(self._scorer, "attributions", None)
        if explain is None:
            raise NotSupportedError("This model has no attribution method of its own.")
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return explain(self._features(instances), self.memory)

    def _predict(self, instances: Any) -> dict[str, np.ndarray]:
        if self._row_path is not None and 0 < _count_plain(instances) <= ROW_PATH_ROWS:
            with BLAS_THREADS.limited(1):
                outputs = self._predict_few(instances)
            if outputs is not None:
                return outputs
        features = self._features(instances)
        if self._scorer is not None:
            return self._scorer.predict(features, self.memory)
        if self.numpy_network is None:
            return self._predict_torch(features)
        rows = count_rows(features)
        with BLAS_THREADS.limited(1 if rows <= ONE_BLAS_THREAD_ROWS else None):
            linear, dnn = transform_all(
                [self.linear_transformer, self.dnn_transformer], features, self.memory
            )
            return self.head.predictions(self.numpy_network(linear, dnn, rows))

    def _predict_torch(self, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        import torch

        model, encoder = self._torch()
        with torch.no_grad():
            inputs = encoder.inputs(features)
            # In chunks whose activations stay in the cache (see FORWARD_CHUNK_ROWS).
            logits = torch.cat([model.network(part) for part in inputs.split(FORWARD_CHUNK_ROWS)])
        return self.head.predictions(logits)

    def _torch(self) -> tuple[Model, Encoder]:
        """The torch model with the export's weights (built on first use)."""
        with self._torch_lock:
            if self._model is None or self._encoder is None:
                import torch

                from mlengine.model.build import build_model
                from mlengine.model.encode import Encoder

                try:
                    model = build_model(self._spec)
                except SPEC_ERRORS as exc:
                    raise spec_error(self.path, exc) from None
                model.network.load_state_dict(
                    {name: torch.from_numpy(array) for name, array in self._weights.items()}
                )
                model.network.eval()
                self._encoder = Encoder(model, torch.device("cpu"))
                self._model = model
            return self._model, self._encoder

    def onnx_inputs(self, instances: Any) -> dict[str, np.ndarray]:
        """Every input of the export's portable graph (``model.onnx`` of a canned model
        exported with ``export_onnx=True``) for ``instances``: each feature in the graph's
        dtype, and each id input (``ids/<column>``: hash buckets, crosses) computed by
        mlengine's feature columns, which an ONNX runtime cannot compute.

        Raises:
            ExportFormatError: the export has no portable graph.
        """
        entry = self.manifest[MEMBERS_KEY].get("onnx")
        if entry is None or entry.get("takes") != "raw":
            raise ExportFormatError(
                f"{self.path!r} has no portable ONNX graph; export it with "
                "export_saved_model(..., export_onnx=True)."
            )
        from mlengine.export.portable import onnx_inputs

        return onnx_inputs(
            entry, self.linear_transformer, self.dnn_transformer, self._features(instances)
        )

    def predict_instances(
        self, instances: Any, signature_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Predictions as one JSON-ready dict per instance (lists of numbers or strings)."""
        outputs = self.predict(instances, signature_name)
        columns = {key: outputs[key].tolist() for key in self.output_keys}
        count = len(next(iter(columns.values()))) if columns else 0
        return [{key: columns[key][i] for key in self.output_keys} for i in range(count)]


class _BlasThreads:
    """numpy's BLAS thread count, set for the span of one prediction and set back after.

    threadpoolctl's ``threadpool_limits`` finds the loaded libraries anew at every call
    (milliseconds); this finds them once and then reads and sets their count, a few
    microseconds per prediction. Only a count that differs is set, so a process that already
    runs BLAS on one thread (the server) changes nothing.
    """

    def __init__(self) -> None:
        self._libraries: list[Any] | None = None
        self._lock = threading.Lock()

    def _found(self) -> list[Any]:
        with self._lock:
            if self._libraries is None:
                from threadpoolctl import ThreadpoolController

                self._libraries = ThreadpoolController().select(user_api="blas").lib_controllers
            return self._libraries

    @contextlib.contextmanager
    def limited(self, threads: int | None) -> Iterator[None]:
        """BLAS on ``threads`` threads inside the block (None: as it is)."""
        changed = []
        if threads is not None:
            for library in self._found():
                previous = library.get_num_threads()
                if previous != threads:
                    library.set_num_threads(threads)
                    changed.append((library, previous))
        try:
            yield
        finally:
            for library, previous in changed:
                library.set_num_threads(previous)


BLAS_THREADS = _BlasThreads()


def check_finite(outputs: Mapping[str, np.ndarray]) -> None:
    """Refuse outputs with a value that is not finite, naming the first instance and output.

    Raises:
        FeatureError: an output of some instance is NaN or infinite.
    """
    for key, values in outputs.items():
        if values.dtype.kind != "f" or bool(np.isfinite(values).all()):
            continue
        rows = values.reshape(len(values), -1)
        row = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
        raise FeatureError(
            f"Instance {row}: the model's output {key!r} is not finite "
            f"({rows[row].tolist()}); its input values are beyond what the model can compute."
        )


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


def load(export_dir: str | os.PathLike[str], limits: ExportLimits | None = None) -> Predictor:
    """Load an export directory (``<base>/<timestamp>``) into a :class:`Predictor`, refusing
    one that asks for more than ``limits`` (default: :meth:`ExportLimits.from_env`)."""
    return Predictor(export_dir, limits)
