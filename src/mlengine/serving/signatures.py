"""TF signature names of an export, resolved for ``signature_name``, ``:classify`` and ``:regress``.

An export lists TF's signatures (``serving_default``, ``predict``, ``classification``,
``regression``) with their method and outputs: a list of output keys, or a mapping of the
signature's output names to them (``{"classes": "classes", "scores": "probabilities"}``). As in
TF, a classification signature's ``classes`` are all the class labels, aligned with ``scores``.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from mlengine.export.format import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    SERVING_DEFAULT,
)
from mlengine.export.receivers import decode_instances
from mlengine.serving.batching import Outputs
from mlengine.serving.errors import invalid
from mlengine.serving.model_manager import LoadedVersion

CLASS_LABELS = "<class labels>"  # stands for "every class's label" in an output pair
_DEFAULT_FOR = {
    PREDICT_METHOD: SERVING_DEFAULT,
    CLASSIFY_METHOD: "classification",
    REGRESS_METHOD: "regression",
}
_NOUN = {CLASSIFY_METHOD: "classification", REGRESS_METHOD: "regression"}


def signature_defs(loaded: LoadedVersion) -> dict[str, dict[str, Any]]:
    """The export's signatures (a plain predict signature when it lists none)."""
    defs = loaded.signature_defs
    if defs:
        return defs
    keys = loaded.predictor.output_keys
    return {SERVING_DEFAULT: {"method_name": PREDICT_METHOD, "outputs": list(keys)}}


def find_signature(loaded: LoadedVersion, name: Any, method: str) -> tuple[str, dict[str, Any]]:
    """The signature ``name`` (or the method's default) checked to serve ``method``.

    Raises:
        ApiError: INVALID_ARGUMENT for an unknown name or a signature of another method.
    """
    defs = signature_defs(loaded)
    if name is None or name == "":
        name = _DEFAULT_FOR[method]
        if name not in defs:
            name = SERVING_DEFAULT
    if not isinstance(name, str):
        raise invalid(f"'signature_name' must be a string; got {name!r}.")
    signature = defs.get(name)
    if signature is None:
        raise invalid(
            f'Serving signature name: "{name}" not found in signature def; the model has '
            f"{sorted(defs)}."
        )
    found = signature.get("method_name")
    if method != PREDICT_METHOD and found != method:
        raise invalid(
            f'Signature "{name}" is a {found} signature, not {method}: this model has no '
            f"{_NOUN[method]} signature."
        )
    return name, signature


def output_pairs(signature: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name in the answer, output key)`` for each output of a signature."""
    outputs = signature.get("outputs") or []
    if isinstance(outputs, dict):
        classify = signature.get("method_name") == CLASSIFY_METHOD
        return [
            (alias, CLASS_LABELS if classify and alias == "classes" else str(key))
            for alias, key in outputs.items()
        ]
    return [(str(key), str(key)) for key in outputs]


def predict_outputs(loaded: LoadedVersion, signature_name: Any) -> list[tuple[str, str]]:
    """The output pairs of the predict signature a request names (the default when None)."""
    _, signature = find_signature(loaded, signature_name, PREDICT_METHOD)
    return output_pairs(signature)


def values(loaded: LoadedVersion, outputs: Outputs, key: str) -> list[Any]:
    """One output's values, one per instance, as JSON-ready lists."""
    if key == CLASS_LABELS:
        count = len(next(iter(outputs.values())))
        return [loaded.class_labels] * count
    result: list[Any] = outputs[key].tolist()
    return result


def named_instances(loaded: LoadedVersion, instances: Any, signature_name: Any) -> Any:
    """The instances as named features: serialized records (tf.Example as ``{"b64": ...}``,
    CSV lines as strings) of an input the export declares for the signature are decoded
    (see :mod:`mlengine.export.receivers`); anything else is returned as it is."""
    inputs = loaded.predictor.serving_inputs
    if not inputs:
        return instances
    name = signature_name if isinstance(signature_name, str) and signature_name else None
    decoded = decode_instances(instances, inputs, name)
    return instances if decoded is None else decoded


def serialized_input_names(loaded: LoadedVersion, signature_name: str) -> dict[str, str]:
    """``{input name: "tf_example" | "csv"}`` for the serialized inputs of a signature."""
    return {
        declared.signatures[signature_name]: declared.format
        for declared in loaded.predictor.serving_inputs
        if signature_name in declared.signatures
    }


@functools.lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct that encodes as a JSON object with these keys, built from positional values
    (one C call per instance, where a dict needs its keys zipped in)."""
    fields = [(f"f{index}", Any) for index in range(len(names))]  # names need not be identifiers
    return msgspec.defstruct(
        "Prediction", fields, rename={f"f{i}": name for i, name in enumerate(names)}, gc=False
    )


def rows(loaded: LoadedVersion, outputs: Outputs, pairs: list[tuple[str, str]]) -> list[Any]:
    """One object per instance, keyed by output name (the row format's predictions); with a
    single output, its values themselves (as TF Serving and ML Engine answer). The objects are
    msgspec structs: :func:`~mlengine.serving.context.encode_json` writes them."""
    columns = [values(loaded, outputs, key) for _, key in pairs]
    if len(columns) == 1:
        return columns[0]
    return list(map(_row_type(tuple(name for name, _ in pairs)), *columns))


__all__ = [
    "CLASS_LABELS",
    "find_signature",
    "named_instances",
    "output_pairs",
    "predict_outputs",
    "rows",
    "serialized_input_names",
    "signature_defs",
    "values",
]
