"""mlengine's descriptor pool, built from ``descriptors.binpb``, and its message classes (see
the package's docstring for why the pool is our own)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

DESCRIPTORS = "descriptors.binpb"
OIP_SERVICE = "inference.GRPCInferenceService"
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"


@functools.cache
def pool() -> descriptor_pool.DescriptorPool:
    """mlengine's descriptor pool, holding every file of ``descriptors.binpb``."""
    files = descriptor_pb2.FileDescriptorSet.FromString(
        (resources.files("mlengine.protos") / DESCRIPTORS).read_bytes()
    )
    built = descriptor_pool.DescriptorPool()
    for file in files.file:
        built.Add(file)
    return built


@functools.cache
def message(full_name: str) -> Any:
    """The message class of ``full_name`` (``tensorflow.serving.PredictRequest``)."""
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


def enum_value(full_name: str, name: str) -> int:
    """The number of an enum value (``enum_value("tensorflow.DataType", "DT_FLOAT")`` is 1)."""
    return int(pool().FindEnumTypeByName(full_name).values_by_name[name].number)


def methods(service: str) -> dict[str, tuple[str, str]]:
    """A service's methods: name → (request type, response type), by full name."""
    found = pool().FindServiceByName(service)
    return {m.name: (m.input_type.full_name, m.output_type.full_name) for m in found.methods}


__all__ = [
    "MODEL_SERVICE",
    "OIP_SERVICE",
    "PREDICTION_SERVICE",
    "enum_value",
    "message",
    "methods",
    "pool",
]
