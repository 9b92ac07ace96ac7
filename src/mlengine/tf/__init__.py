"""TensorFlow-shaped façade: estimator programs of TF 1.x-2.15 run by changing one import.

::

    import mlengine.tf as tf              # a TF 2 program (tf.estimator, tf.data, tf.io...)
    import mlengine.tf.compat.v1 as tf    # a TF 1.x program (tf.contrib, tf.app, tf.logging...)

Names only: every name maps onto mlengine's one estimator, feature column, data and export
machinery, with TensorFlow's semantics and defaults for the API version the program uses
(:mod:`mlengine.tf._api` holds the tables). Input functions may return datasets, iterators'
tensors or constant tensors (:mod:`mlengine.tf._inputs`); ``tf.data`` pipelines run on chunks,
vectorised (:mod:`mlengine.tf.data`); serving input receivers declare tf.Example and CSV
signatures (:mod:`mlengine.tf._export`). A name outside the covered set raises
:class:`~mlengine.errors.NotSupportedError` naming it (see the README's "TensorFlow coverage").

Modules:

* ``_api``: the tables of names of ``tf`` (TF 2) and ``tf.compat.v1`` (TF 1), onto mlengine
* ``_contrib``: ``tf.contrib.learn`` and ``tf.contrib.layers`` with contrib's defaults
* ``_csv_dataset``: ``tf.data.experimental.make_csv_dataset`` and ``CsvDataset``
* ``_estimators``: the canned estimators of each era, ``Estimator(model_fn=...)``, optimizers
* ``_experiment``: ``tf.contrib.learn.Experiment``, ``learn_runner.run``, export strategies
* ``_export``: serving input receivers: ``tf.placeholder``, ``ServingInputReceiver``, builders
* ``_inputs``: what a TF program's ``input_fn`` returns, turned into mlengine's input forms
* ``_keras_layers``: ``tf.keras.layers.{DenseFeatures, Dense, Dropout}`` in a model_fn
* ``_namespace``: TF-shaped namespaces, loud for the names they do not cover
* ``_ops``: the element ops input functions apply to features (numpy/pyarrow, or torch)
* ``_parsing``: ``decode_csv``, ``parse_example`` / ``parse_single_example`` and their specs
* ``_sources``: ``tf.data``'s sources: arrays, text lines, TFRecords, file lists
* ``_tensor``: the façade's ``tf.Tensor``: a value, or a node of a small graph run later
* ``_torch_ops``: the ops on a model_fn's torch tensors (``argmax``, ``nn.softmax``...)
* ``_traced``: ``Dataset.map`` / ``filter`` functions, traced once and run on chunks
* ``_values``: the values behind the façade's tensors, and row operations on them
* ``app``: ``tf.app`` and ``tf.flags``: absl's flags and ``app.run``
* ``data``: ``tf.data``: the Dataset methods estimator programs use, on chunks of rows
* ``dtypes``: ``tf.string``, ``tf.float32``...: dtype objects as names over numpy dtypes
* ``gfile``: ``tf.io.gfile`` and TF 1's ``tf.gfile`` on fsspec
* ``logging``: ``tf.logging`` and ``tf.get_logger()``
* ``lookup``: lookup tables of ``tf.lookup`` and ``tf.contrib.lookup`` over pyarrow
* ``nn``: ``tf.nn`` activations (named for the estimators) and a model_fn's softmax
"""

import sys as _sys
from typing import Any as _Any

from mlengine.tf import _api, _inputs  # noqa: F401  (_inputs registers the input adapter)
from mlengine.tf import logging as _tf_logging
from mlengine.tf._namespace import Namespace as _Namespace
from mlengine.tf._namespace import module_getattr as _module_getattr
from mlengine.tf._namespace import register as _register

globals().update(_api.tf2_members(__name__))
globals().pop("newaxis")  # None, as TF's: served by __getattr__ (a bound None is no export)
__all__ = sorted(k for k, v in globals().items() if not k.startswith("_") and v is not None)
compat = _api.compat_namespace(__name__, _sys.modules[__name__])

for _value in list(globals().values()):
    if isinstance(_value, _Namespace):
        _register(_value)

# ``import tensorflow.compat.v2.feature_column as fc`` (TF 2's tutorials): the same modules.
_sys.modules[f"{__name__}.compat.v2"] = _sys.modules[__name__]
for _name, _module in list(_sys.modules.items()):
    _tail = _name.removeprefix(f"{__name__}.")
    if _name.startswith(f"{__name__}.") and not _tail.startswith(("compat", "_")):
        _sys.modules.setdefault(f"{__name__}.compat.v2.{_tail}", _module)

_tf_logging.install()

_unsupported = _module_getattr("tf")


def __getattr__(name: str) -> _Any:
    if name == "newaxis":  # tf.newaxis is None
        return None
    return _unsupported(name)
