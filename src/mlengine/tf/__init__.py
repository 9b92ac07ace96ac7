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
"""

import sys as _sys
from typing import Any as _Any

from mlengine.tf import _api, _inputs  # noqa: F401  (_inputs registers the input adapter)
from mlengine.tf import logging as _tf_logging
from mlengine.tf._namespace import Namespace as _Namespace
from mlengine.tf._namespace import module_getattr as _module_getattr
from mlengine.tf._namespace import register as _register

globals().update(_api.tf2_members(__name__))
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

__getattr__: _Any = _module_getattr("tf")
