"""Serving input receivers: ``tf.placeholder``, ``ServingInputReceiver`` and its builders.

A receiver function runs once at export, as in TensorFlow. What it declares is read off the
graph it built (no code is stored): each feature must come from a receiver tensor through
shape-only ops (``expand_dims``, ``reshape``, ``squeeze``, ``identity``, numeric ``cast``):

* straight from a placeholder: a named JSON feature, as every export takes anyway;
* from ``tf.io.parse_example(placeholder, spec)``: the export takes serialized tf.Examples too
  (:mod:`mlengine.export.receivers`), parsed with the same spec;
* from ``tf.io.decode_csv(placeholder, record_defaults)``: the export takes CSV lines too, in
  the order of the record defaults.

A feature computed any other way (arithmetic, a lookup...) is refused, naming the feature and
the op: the export could not reproduce it without running the function.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.export.receivers import (
    CSV,
    TF_EXAMPLE,
    ServingInput,
    canned_signatures,
)
from mlengine.tf import dtypes
from mlengine.tf._parsing import FixedLenFeature, VarLenFeature, parse_example
from mlengine.tf._tensor import SparseTensor, Tensor

_placeholders = itertools.count()
_SHAPE_ONLY = ("expand_dims", "reshape", "squeeze", "identity", "cast")


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """``tf.compat.v1.placeholder``: a tensor fed at serving time (its receiver declares it)."""
    kind = dtypes.as_dtype(dtype)
    token = object()
    label = name or f"Placeholder_{next(_placeholders)}"
    return Tensor(
        "placeholder",
        attrs={"source": token, "shape": shape, "label": label},
        dtype=kind,
        name=f"{label}:0",
    )


def _origin(tensor: Tensor, feature: str) -> Tensor:
    """Follow shape-only ops back to a placeholder or a parse/decode op's output."""
    node = tensor
    while node.op in _SHAPE_ONLY:
        if node.op == "cast" and (node.dtype.is_string or node.inputs[0].dtype.is_string):
            break
        node = node.inputs[0]
    if node.op in ("placeholder", "output"):
        return node
    raise NotSupportedError(
        f"Serving input receiver: feature {feature!r} is computed by {node.op!r}; an export "
        "can only take features straight from placeholders, tf.io.parse_example or "
        "tf.io.decode_csv (serving never runs the receiver's code)."
    )


def _receiver_key(node: Tensor, receivers: Mapping[str, Tensor], feature: str) -> str:
    while node.op in _SHAPE_ONLY:
        node = node.inputs[0]
    for key, tensor in receivers.items():
        if tensor is node:
            return key
    raise NotSupportedError(
        f"Serving input receiver: feature {feature!r} comes from a tensor that is not one of "
        f"its receiver_tensors {sorted(receivers)}."
    )


class ServingInputReceiver:
    """``tf.estimator.export.ServingInputReceiver(features, receiver_tensors,
    receiver_tensors_alternatives=None)``."""

    def __init__(
        self,
        features: Any,
        receiver_tensors: Any,
        receiver_tensors_alternatives: Any = None,
    ) -> None:
        if receiver_tensors_alternatives:
            raise NotSupportedError(
                "ServingInputReceiver(receiver_tensors_alternatives=...) is not supported."
            )
        if not isinstance(features, Mapping):
            features = {"feature": features}
        if not isinstance(receiver_tensors, Mapping):
            receiver_tensors = {"input": receiver_tensors}
        self.features = dict(features)
        self.receiver_tensors = dict(receiver_tensors)
        for key, tensor in self.receiver_tensors.items():
            if not isinstance(tensor, Tensor) or tensor.op != "placeholder":
                raise InvalidParameterError(
                    f"receiver_tensors[{key!r}] must be a tf.placeholder; got {tensor!r}."
                )

    def serving_inputs(self, signature_names: Sequence[str]) -> list[ServingInput]:
        """The serialized inputs this receiver declares (see the module docstring)."""
        parses: dict[int, tuple[Tensor, dict[str, str]]] = {}  # parse node -> (node, features)
        csvs: dict[int, tuple[Tensor, dict[int, str]]] = {}
        for feature, value in self.features.items():
            tensor = value.values if isinstance(value, SparseTensor) else value
            if not isinstance(tensor, Tensor):
                raise InvalidParameterError(
                    f"Serving input receiver: feature {feature!r} is not a tensor ({value!r})."
                )
            origin = _origin(tensor, str(feature))
            if origin.op == "placeholder":
                _receiver_key(origin, self.receiver_tensors, str(feature))
                continue
            node = origin.inputs[0]
            if node.op == "parse_example":
                entry = parses.setdefault(id(node), (node, {}))
                entry[1][str(feature)] = str(origin.attrs["key"])
            elif node.op == "decode_csv":
                entry2 = csvs.setdefault(id(node), (node, {}))
                entry2[1][int(origin.attrs["key"])] = str(feature)
            else:
                raise NotSupportedError(
                    f"Serving input receiver: feature {feature!r} is an output of {node.op!r}."
                )
        inputs: list[ServingInput] = []
        for node, mapping in parses.values():
            key = _receiver_key(node.inputs[0], self.receiver_tensors, next(iter(mapping)))
            inputs.append(
                ServingInput(
                    key,
                    TF_EXAMPLE,
                    canned_signatures(key, signature_names),
                    specs=dict(node.attrs["specs"]),
                    features=mapping,
                )
            )
        for node, by_position in csvs.values():
            key = _receiver_key(
                node.inputs[0], self.receiver_tensors, next(iter(by_position.values()))
            )
            spec = node.attrs["spec"]
            if spec.selected_only:
                raise NotSupportedError(
                    "A CSV serving receiver whose decode_csv(select_cols=...) has defaults for the "
                    "selected columns only: the export needs every column; give a default for each."
                )
            selected = spec.select_cols or tuple(range(len(spec.fields)))
            columns: list[str | None] = [None] * len(spec.fields)
            for position, feature in by_position.items():
                columns[selected[position]] = feature
            inputs.append(
                ServingInput(
                    key,
                    CSV,
                    canned_signatures(key, signature_names),
                    fields=tuple(spec.fields),
                    columns=tuple(columns),
                    field_delim=spec.field_delim,
                    use_quote_delim=spec.use_quote_delim,
                    na_value=spec.na_value,
                )
            )
        return inputs


class InputFnOps(ServingInputReceiver):
    """``tf.contrib.learn.InputFnOps(features, labels, default_inputs)``: contrib's receiver."""

    def __init__(self, features: Any, labels: Any, default_inputs: Any) -> None:
        super().__init__(features, default_inputs)
        self.labels = labels


def build_raw_serving_input_receiver_fn(
    features: Mapping[str, Any], default_batch_size: int | None = None
) -> Any:
    """A receiver function taking each feature as it is (named JSON features)."""

    def serving_input_receiver_fn() -> ServingInputReceiver:
        receivers = {}
        for name, tensor in features.items():
            dtype = getattr(tensor, "dtype", dtypes.float32)
            receivers[str(name)] = placeholder(dtype, [default_batch_size], name=str(name))
        return ServingInputReceiver(dict(receivers), dict(receivers))

    return serving_input_receiver_fn


def build_parsing_serving_input_receiver_fn(
    feature_spec: Mapping[str, Any], default_batch_size: int | None = None
) -> Any:
    """A receiver function taking serialized tf.Examples (input ``examples``), parsed with
    ``feature_spec`` (e.g. ``tf.feature_column.make_parse_example_spec(columns)``)."""

    def serving_input_receiver_fn() -> ServingInputReceiver:
        serialized = placeholder(dtypes.string, [default_batch_size], name="input_example_tensor")
        features = parse_example(serialized, feature_spec)
        return ServingInputReceiver(features, {"examples": serialized})

    return serving_input_receiver_fn


def make_parse_example_spec(feature_columns: Sequence[Any]) -> dict[str, Any]:
    """``tf.feature_column.make_parse_example_spec``: numeric columns read FixedLenFeature of
    their shape and default, categorical ones VarLenFeature of their key's type."""
    specs: dict[str, Any] = {}
    for column in feature_columns:
        for entry in column.input_specs():
            name = entry["name"]
            dtype = entry["dtype"]
            shape = entry["shape"][1:] or [1]
            if entry.get("required") or entry.get("default") is not None:
                config: Any = FixedLenFeature(shape, dtype, entry.get("default"))
            else:
                config = VarLenFeature(dtype)
            previous = specs.get(name)
            if previous is not None and previous != config:
                if isinstance(previous, FixedLenFeature) and isinstance(config, VarLenFeature):
                    continue
            specs[name] = config
    return specs


__all__ = [
    "InputFnOps",
    "ServingInputReceiver",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "make_parse_example_spec",
    "placeholder",
]
