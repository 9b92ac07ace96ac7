"""Protocol buffer messages mlengine reads and writes without TensorFlow: tf.Example records
(``tensorflow/core/example``), and the gRPC messages of ``mlengine serve`` (OIP v2's
``inference.GRPCInferenceService`` and TF Serving's ``tensorflow.serving.PredictionService`` /
``ModelService``).

The ``.proto`` files in this folder are mlengine's own, written from the public definitions
(the package, message and field names and numbers are theirs: they are the wire format, so a
``tf.train.Example`` serialized by TensorFlow parses here, and one written here parses in
TensorFlow). They are compiled into ``descriptors.binpb`` by ``python -m
mlengine.protos.generate`` (checked in, so neither installing nor running needs protoc; a test
regenerates and compares).

The messages are built at import into a descriptor pool of mlengine's own, not protobuf's
default pool: a process that also imports a client's generated code for the same protocol
(tritonclient.grpc registers ``inference.*``, tensorflow-serving-api ``tensorflow.serving.*``,
TensorFlow itself ``tensorflow.Example``) would otherwise fail with duplicate symbols. A message
class is looked up by its full name::

    from mlengine import protos

    request = protos.message("inference.ModelInferRequest")()
    example = protos.message("tensorflow.Example")()

Modules:

* ``descriptors``: the descriptor pool of ``descriptors.binpb`` and its message classes
* ``generate``: regenerate ``descriptors.binpb`` from the ``.proto`` files
"""

from mlengine.protos.descriptors import (
    MODEL_SERVICE,
    OIP_SERVICE,
    PREDICTION_SERVICE,
    enum_value,
    message,
    methods,
    pool,
)

__all__ = [
    "MODEL_SERVICE",
    "OIP_SERVICE",
    "PREDICTION_SERVICE",
    "enum_value",
    "message",
    "methods",
    "pool",
]
