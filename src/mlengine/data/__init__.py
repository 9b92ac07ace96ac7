"""Input data: TensorFlow-style input functions and the packaged census data set.

``from mlengine.data import pandas_input_fn`` is the same function as TensorFlow's
``tf.estimator.inputs.pandas_input_fn``; ``mlengine.data.census`` reads the UCI Adult files.

Modules:

* ``batches``: column-wise operations on ``(features, labels)`` batches: slice, take, shuffle
* ``census``: the UCI Adult data set: its schema, a raw-file reader and a packaged copy
* ``contract``: what an ``input_fn`` may be and return (the input contract), resolved once
* ``csv_lines``: CSV records decoded with ``decode_csv``'s rules (field types, defaults)
* ``examples``: serialized ``tf.train.Example`` records parsed with ``parse_example``'s rules
* ``input_fns``: the input functions (pandas, numpy, CSV, Parquet) and :class:`InputFn`
* ``readers``: file sources and streaming CSV / Parquet readers, local or behind fsspec URLs
* ``sharding``: which part of a data set each rank of a data-parallel job reads
* ``tfrecord``: TFRecord files (length, masked CRC-32C, record) read and written
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
