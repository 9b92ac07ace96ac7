"""``tf.estimator.inputs``: input functions (re-exported from :mod:`mlengine.data`)."""

from mlengine.data import csv_input_fn, numpy_input_fn, pandas_input_fn, parquet_input_fn

__all__ = ["csv_input_fn", "numpy_input_fn", "pandas_input_fn", "parquet_input_fn"]
