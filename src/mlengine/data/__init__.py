"""Input data: TensorFlow-style input functions and the packaged census data set.

``from mlengine.data import pandas_input_fn`` is the same function as TensorFlow's
``tf.estimator.inputs.pandas_input_fn``; ``mlengine.data.census`` reads the UCI Adult files.
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
