"""Run an export's ONNX member with onnxruntime: the Predictor's network for custom models.

Before a session is created the graph is checked to hold data only: every tensor inline (an
"external data" reference could name any file), and only the standard operator sets (``""``
and ``ai.onnx.ml``), which onnxruntime executes with its own kernels. No custom-op library is
ever registered, so loading an export runs no code from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlengine.errors import ExportFormatError
from mlengine.feature_column import FeatureTransformer
from mlengine.feature_column.transform import EncodedFeatures

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def check_graph(data: bytes, where: str) -> None:
    """Refuse a graph with external data or operators outside the standard sets."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ExportFormatError(f"{where}: not an ONNX model ({exc}).") from None
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(a.t for a in node.attribute if a.HasField("t"))
    for tensor in tensors:
        if uses_external_data(tensor):
            raise ExportFormatError(
                f"{where}: tensor {tensor.name!r} refers to external data; an export's graph "
                "must hold every tensor inline."
            )
    domains = {node.domain for node in model.graph.node} | {o.domain for o in model.opset_import}
    unknown = sorted(domains - STANDARD_DOMAINS)
    if unknown or len(model.functions):
        raise ExportFormatError(
            f"{where}: the graph uses operators outside the standard ONNX sets "
            f"({unknown or 'local functions'}); only '' and 'ai.onnx.ml' are run."
        )


class OnnxNetwork:
    """An export's graph in an onnxruntime session, fed from the transformers' encodings."""

    def __init__(self, data: bytes, entry: Mapping[str, Any], where: str):
        import onnxruntime

        check_graph(data, where)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: the server's log is not ORT's
        try:
            self.session = onnxruntime.InferenceSession(
                data, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own error types
            raise ExportFormatError(
                f"{where}: onnxruntime cannot load the graph ({exc})."
            ) from None
        self.inputs: list[dict[str, Any]] = list(entry["inputs"])
        self.outputs = [o["name"] for o in entry["outputs"]]
        graph_inputs = sorted(i.name for i in self.session.get_inputs())
        if graph_inputs != sorted(i["name"] for i in self.inputs):
            raise ExportFormatError(
                f"{where}: the graph's inputs {graph_inputs} differ from the manifest's."
            )

    def __call__(
        self,
        transformers: Sequence[tuple[str, FeatureTransformer]],
        encoded: Sequence[EncodedFeatures | None],
        direct: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The graph's outputs for one batch."""
        by_module = {name: e for (name, _), e in zip(transformers, encoded, strict=True)}
        feed: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            if spec["part"] == "direct":
                feed[spec["name"]] = np.ascontiguousarray(direct[spec["name"]], dtype=np.float32)
                continue
            features = by_module[spec["module"]]
            assert features is not None
            part = spec["part"]
            if part.startswith("embedding_"):
                kind, index = part.split("/")
                value = getattr(features, kind)[int(index)]
            else:
                value = getattr(features, part)
            feed[spec["name"]] = np.ascontiguousarray(value)
        return dict(zip(self.outputs, self.session.run(self.outputs, feed), strict=True))


__all__ = ["OnnxNetwork", "check_graph"]
