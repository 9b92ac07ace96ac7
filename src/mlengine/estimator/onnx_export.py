"""Export a custom estimator: its network traced to ONNX, beside the columns, head and signature.

The graph takes the *encoded* features (the :class:`~mlengine.feature_column.FeatureTransformer`
of each DenseFeatures / LinearModel, run by the Predictor from the export's JSON spec, as for a
canned model) and the numeric features the network reads directly; it gives the logits (a
head-made spec: the head, rebuilt from its config, turns them into predictions) or the
model_fn's prediction tensors. Tracing uses torch's TorchScript-based exporter
(``dynamo=False``): it needs no onnxscript and exports a census network in well under a second.

The trace is checked before anything is written: onnxruntime runs the graph on two batches of
synthetic inputs and must give torch's outputs (a network whose Python branches on values would
otherwise export one branch silently).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.estimator.spec import (
    ClassificationOutput,
    EstimatorSpec,
    ModeKeys,
    PredictOutput,
    RegressionOutput,
)
from mlengine.export.format import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    SERVING_DEFAULT,
    signature_defs,
    signature_inputs,
    signature_outputs,
)
from mlengine.export.writer import check_receiver, write_export
from mlengine.feature_column import FeatureTransformer, to_config
from mlengine.model.dense_features import ModelFeatures, transformer_key
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.training.evidence import MEMBER as EVIDENCE
from mlengine.training.evidence import evidence_member, load_last_evaluation

if TYPE_CHECKING:
    from mlengine.estimator.custom import CustomEstimator

ONNX_OPSET = 17  # supported by onnxruntime >= 1.14 and by every ONNX runtime of 2023 on
ONNX_FILE = "model.onnx"
PARTS = ("dense", "sparse_ids", "sparse_weights")


def _synthetic(inputs: Sequence[Mapping[str, Any]], rows: int, seed: int) -> dict[str, Any]:
    """Raw features of ``rows`` rows for every signature input: small numbers, and strings
    from a short list (mostly out of vocabulary, which exercises the OOV ids too)."""
    rng = np.random.default_rng(seed)
    raw: dict[str, Any] = {}
    for spec in inputs:
        shape = [rows, *spec["shape"][1:]]
        if spec["dtype"] == "string":
            raw[spec["name"]] = pa.array(rng.choice(["", "a", "b"], rows).tolist())
        elif spec["dtype"].startswith("int"):
            raw[spec["name"]] = rng.integers(0, 3, shape).astype(np.int64)
        else:
            raw[spec["name"]] = rng.normal(0, 1, shape).astype(np.float32)
    return raw


class _Layout:
    """The graph's inputs: which encoded tensor of which transformer each one is."""

    def __init__(
        self, transformers: Sequence[tuple[str, FeatureTransformer]], direct: Sequence[str]
    ):
        self.transformers = list(transformers)
        self.direct = list(direct)
        self.entries: list[dict[str, Any]] = []

    def plan(self, features: ModelFeatures) -> list[torch.Tensor]:
        """The example tensors, in input order (also fills :attr:`entries`)."""
        tensors: list[torch.Tensor] = []
        self.entries = []
        for module, transformer in self.transformers:
            encoded = features.tensors(transformer)
            parts: list[tuple[str, torch.Tensor]] = []
            if encoded.dense.shape[1]:
                parts.append(("dense", encoded.dense))
            if encoded.sparse_ids.shape[1]:
                parts += [
                    ("sparse_ids", encoded.sparse_ids),
                    ("sparse_weights", encoded.sparse_weights),
                ]
            for i, (ids, weights) in enumerate(
                zip(encoded.embedding_ids, encoded.embedding_weights, strict=True)
            ):
                parts += [(f"embedding_ids/{i}", ids), (f"embedding_weights/{i}", weights)]
            for part, tensor in parts:
                self.entries.append(
                    {
                        "name": f"{module}/{part}",
                        "module": module,
                        "part": part,
                        "dtype": str(tensor.dtype).removeprefix("torch."),
                        "shape": [-1, int(tensor.shape[1])],
                    }
                )
                tensors.append(tensor)
        for key in self.direct:
            self.entries.append(
                {"name": key, "module": None, "part": "direct", "dtype": "float32", "shape": [-1]}
            )
            tensors.append(features[key])
        return tensors

    def features(self, tensors: Sequence[torch.Tensor]) -> ModelFeatures:
        """ModelFeatures whose encodings are the graph's input tensors."""
        by_name = dict(zip([e["name"] for e in self.entries], tensors, strict=True))
        first = tensors[0]
        rows = first.shape[0]
        encoded: dict[str, FeatureTensors] = {}
        for module, transformer in self.transformers:

            def get(part: str, dtype: torch.dtype, name: str = module) -> torch.Tensor:
                found = by_name.get(f"{name}/{part}")
                return found if found is not None else first.new_zeros((rows, 0), dtype=dtype)

            count = len(transformer.embedding_specs)
            encoded[transformer_key(transformer)] = FeatureTensors(
                get("sparse_ids", torch.int64),
                get("sparse_weights", torch.float32),
                get("dense", torch.float32),
                tuple(get(f"embedding_ids/{i}", torch.int64) for i in range(count)),
                tuple(get(f"embedding_weights/{i}", torch.float32) for i in range(count)),
            )
        features = ModelFeatures({}, encoded=encoded, num_rows=int(rows))
        features.traced_inputs = {key: by_name[key] for key in self.direct}
        return features


class _Traced(nn.Module):
    """The estimator's PREDICT call as a module of the graph's input tensors."""

    def __init__(self, estimator: CustomEstimator, layout: _Layout, keys: list[str]):
        super().__init__()
        self.network = estimator._network  # registered, so the trace sees its parameters
        self.estimator = estimator
        self.layout = layout
        self.keys = keys

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from mlengine.estimator.custom import _Batch

        spec, _ = self.estimator._call(
            _Batch(self.layout.features(tensors), None), ModeKeys.PREDICT
        )
        outputs = _outputs(spec)
        return tuple(outputs[key] for key in self.keys)


def _outputs(spec: EstimatorSpec) -> dict[str, torch.Tensor]:
    if spec.head is not None:
        return {"logits": spec.logits}
    return dict(spec.predictions)


def _trace(traced: _Traced, example: list[torch.Tensor], layout: _Layout, what: str) -> bytes:
    buffer = io.BytesIO()
    names = [entry["name"] for entry in layout.entries]
    axes = {name: {0: "batch"} for name in [*names, *traced.keys]}
    try:
        with warnings.catch_warnings():
            # torch 2.13 warns that the TorchScript-based exporter is deprecated in favour of
            # the dynamo one (which needs onnxscript); the TorchScript exporter is the one
            # chosen here, on purpose. Tracing warns about Python values it records as
            # constants; the onnxruntime check below catches any that matter.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                traced,
                tuple(example),
                buffer,  # type: ignore[arg-type]  # a file object works as well as a path
                dynamo=False,
                input_names=names,
                output_names=traced.keys,
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
            )
    except NotSupportedError:
        raise
    except Exception as exc:  # the exporter raises many types; all mean the same here
        raise NotSupportedError(
            f"The network of {what} cannot be exported to ONNX: {type(exc).__name__}: {exc}"
        ) from exc
    return buffer.getvalue()


def _check_with_onnxruntime(
    data: bytes, traced: _Traced, layout: _Layout, batches: list[list[torch.Tensor]], what: str
) -> None:
    """onnxruntime must reproduce torch's outputs (float32 rounding aside) on every batch."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [entry["name"] for entry in layout.entries]
    for batch in batches:
        with torch.no_grad():
            expected = [t.detach().cpu().numpy() for t in traced(*batch)]
        feed = {n: t.detach().cpu().numpy() for n, t in zip(names, batch, strict=True)}
        got = session.run(traced.keys, feed)
        for key, want, have in zip(traced.keys, expected, got, strict=True):
            scale = 1.0 + float(np.abs(want).max(initial=0.0))
            if have.shape != want.shape or not np.allclose(have, want, rtol=0, atol=1e-4 * scale):
                raise NotSupportedError(
                    f"The network of {what} cannot be exported to ONNX faithfully: output "
                    f"{key!r} of the traced graph differs from the network's (Python control "
                    "flow that depends on tensor values is traced as one fixed branch)."
                )


def _export_outputs(spec: EstimatorSpec, outputs: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The model_fn's ``export_outputs`` as signature defs over the graph's outputs."""
    defs: dict[str, Any] = {}
    by_tensor = {id(t): key for key, t in outputs.items()}
    reserved = {"predict"} | ({SERVING_DEFAULT} if spec.head is not None else set())
    given = dict(spec.export_outputs or {})
    for name, output in given.items():
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"export_outputs key {name!r} must be a non-empty string.")
        # A PredictOutput named "predict" is TF's own predict signature: it replaces the
        # default one (of every prediction) of a model_fn without a head.
        replaces = name == "predict" and spec.head is None and isinstance(output, PredictOutput)
        if name in defs or (name in reserved and name != SERVING_DEFAULT and not replaces):
            raise InvalidParameterError(
                f"export_outputs key {name!r} clashes with the signature {name!r} every export "
                "has; name it otherwise."
            )

        def key_of(tensor: Any, role: str, signature: str = name) -> str:
            key = by_tensor.get(id(tensor))
            if key is None:
                raise InvalidParameterError(
                    f"export_outputs[{signature!r}].{role} is not one of the predictions; "
                    "export only tensors that are in EstimatorSpec.predictions."
                )
            return key

        if isinstance(output, PredictOutput):
            defs[name] = {
                "method_name": PREDICT_METHOD,
                "outputs": {k: key_of(v, k) for k, v in output.outputs.items()},
            }
        elif isinstance(output, ClassificationOutput):
            entry: dict[str, str] = {}
            if output.scores is not None:
                entry["scores"] = key_of(output.scores, "scores")
            defs[name] = {"method_name": CLASSIFY_METHOD, "outputs": entry}
        elif isinstance(output, RegressionOutput):
            defs[name] = {
                "method_name": REGRESS_METHOD,
                "outputs": {"outputs": key_of(output.value, "value")},
            }
        else:
            raise InvalidParameterError(
                f"export_outputs[{name!r}] must be a PredictOutput, ClassificationOutput or "
                f"RegressionOutput. Got {type(output).__name__}."
            )
    if spec.head is None and len(given) == 1 and SERVING_DEFAULT not in defs:
        defs[SERVING_DEFAULT] = defs[next(iter(given))]  # TF: one export output is the default
    return defs


def export_custom(
    estimator: CustomEstimator,
    export_dir_base: Any,
    transformers: list[tuple[str, FeatureTransformer]],
    direct_inputs: Mapping[str, str],
    serving_input_receiver_fn: Any,
) -> str:
    """Trace, check and write the export; return its path."""
    what = str(
        getattr(estimator, "_module_name", None)
        or getattr(estimator._model_fn, "__qualname__", "the model_fn")
    )
    columns = [c for _, t in transformers for c in t.feature_columns]
    inputs = signature_inputs(columns)
    names = {spec["name"] for spec in inputs}
    for key in sorted(direct_inputs):
        if key not in names:
            inputs.append(
                {"name": key, "dtype": "float32", "shape": [-1], "required": True, "default": None}
            )
    inputs.sort(key=lambda spec: spec["name"])
    check_receiver(inputs, serving_input_receiver_fn)  # before tracing: fail early
    layout = _Layout(transformers, sorted(direct_inputs))
    batches = []
    estimator._network.eval()
    with torch.no_grad():
        for seed, rows in ((0, 3), (1, 5)):
            features = ModelFeatures(_synthetic(inputs, rows, seed), estimator._device)
            from mlengine.estimator.custom import _Batch

            spec, _ = estimator._call(_Batch(features, None), ModeKeys.PREDICT)
            outputs = _outputs(spec)
            batches.append([t.cpu() for t in layout.plan(features)])
    keys = sorted(outputs)
    estimator._network.cpu()
    try:
        traced = _Traced(estimator, layout, keys)
        data = _trace(traced, batches[0], layout, what)
        _check_with_onnxruntime(data, traced, layout, batches, what)
    finally:
        estimator._network.to(estimator._device)
    head = spec.head
    if head is not None:
        outputs_spec = signature_outputs(head)
        defs = signature_defs(head)
    else:
        outputs_spec = [
            {"name": key, "dtype": "float32", "shape": [-1, *list(outputs[key].shape[1:])]}
            for key in keys
        ]
        defs = {
            "predict": {"method_name": PREDICT_METHOD, "outputs": keys},
            SERVING_DEFAULT: {"method_name": PREDICT_METHOD, "outputs": keys},
        }
    defs.update(_export_outputs(spec, outputs))
    serving_inputs = check_receiver(inputs, serving_input_receiver_fn, sorted(defs))
    graph_outputs = [
        {"name": key, "dtype": "float32", "shape": [-1, *list(outputs[key].shape[1:])]}
        for key in keys
    ]
    model_spec = {
        "estimator": estimator._name,
        "network": "onnx",
        "head": None if head is None else head.config(),
        "feature_modules": [
            {
                "name": module,
                "columns": [to_config(c) for c in t.feature_columns],
                "sparse_combiner": t.sparse_combiner,
            }
            for module, t in transformers
        ],
        "direct_inputs": dict(direct_inputs),
    }
    member = {
        "opset": ONNX_OPSET,
        "takes": "encoded",
        "inputs": layout.entries,
        "outputs": graph_outputs,
    }
    members: dict[str, tuple[str, bytes, dict[str, Any]]] = {"onnx": (ONNX_FILE, data, member)}
    record = getattr(estimator, "_last_evidence", None) or load_last_evaluation(estimator.model_dir)
    evidence = evidence_member(estimator.model_dir, record)
    if evidence is not None:
        members[EVIDENCE] = evidence
    return write_export(
        export_dir_base,
        spec=model_spec,
        state=estimator._network.state_dict(),
        estimator_name=estimator._name,
        head=None if head is None else head.config(),
        label_vocabulary=getattr(head, "label_vocabulary", None),
        signature={"inputs": inputs, "outputs": outputs_spec},
        signature_defs=defs,
        global_step=estimator._global_step,
        metrics=getattr(estimator, "_last_eval", None),
        members=members,
        serving_inputs=serving_inputs,
    )


__all__ = ["ONNX_FILE", "ONNX_OPSET", "export_custom"]
