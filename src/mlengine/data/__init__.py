"""Input data: TensorFlow-style input functions and the packaged census data set.

``from mlengine.data import pandas_input_fn`` is the same function as TensorFlow's
``tf.estimator.inputs.pandas_input_fn``; ``mlengine.data.census`` reads the UCI Adult files.

Modules:

* ``batches``: column-wise operations on ``(features, labels)`` batches: slice, take, shuffle
* ``census``: the UCI Adult data set: its schema, a raw-file reader and a packaged copy
* ``input_fns``: the input functions (pandas, numpy, CSV, Parquet) and :class:`InputFn`
* ``readers``: file sources and streaming CSV / Parquet readers, local or behind fsspec URLs
* ``sharding``: which part of a data set each rank of a data-parallel job reads
"""

from mlengine.data import census
from mlengine.data.input_fns import (
    InputFn,
    csv_input_fn,
    numpy_input_fn,
    pandas_input_fn,
    parquet_input_fn,
)

__all__ = [
    "InputFn",
    "census",
    "csv_input_fn",
    "numpy_input_fn",
    "pandas_input_fn",
    "parquet_input_fn",
]
