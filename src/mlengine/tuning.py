"""Speed-tuning thresholds: where a faster path takes over, and how big a cache may grow.

Each constant picks between two implementations that give the same result (tests pin every
fast path to its reference), so changing one changes speed, never answers. The comment beside
each says what was measured and the command that measures it again.
"""

# -- feature columns (mlengine.feature_column) -------------------------------------------------

SMALL_BATCH_ROWS = 2048
"""Batches up to this many rows given as Python lists take the small-batch path (Python dicts
instead of pyarrow calls). Re-measure: ``python benchmarks/transform.py`` (its small-batch rows)."""

FEW_DISTINCT_STRINGS = 256
"""String dictionaries up to this many distinct values are looked up and hashed value by value
in Python rather than by pyarrow/numpy passes. Re-measure: ``python benchmarks/transform.py``."""

BUCKETIZE_BY_COMPARISON_BOUNDARIES = 64
BUCKETIZE_BY_COMPARISON_VALUES = 16384
"""Bucketize by one vectorised comparison per boundary (int8 counts) when there are at most
this many boundaries and more than this many values; otherwise a binary search per value.
Re-measure: ``python benchmarks/transform.py``."""

CROSS_TABLE_COMBINATIONS = 1 << 16
"""Crosses with at most this many combinations of their parts' codes (and no more than the
batch's rows) hash every combination once and gather.
Re-measure: ``python benchmarks/transform.py``."""

REMEMBERED_CROSS_COMBINATIONS = 1 << 14
"""... and up to this many combinations, a predicting process keeps that table from batch to
batch (hashing it takes about a millisecond). Re-measure: ``python benchmarks/serve_frame.py``."""

TRANSFORM_BLOCK_ROWS = 8192
"""Rows of the transform's outputs filled at a time, so that a block stays in the L2 cache
while every column writes into it. Re-measure: ``python benchmarks/transform.py``."""

ROW_PATH_ROWS = 64
"""Up to this many instances, the Predictor encodes with per-column Python functions and the
numpy forward (mlengine.feature_column.row_encoder) rather than the vectorised transform.
Re-measure: ``python benchmarks/serve_frame.py`` (1 and 32 x 1 instances)."""

SMALL_CROSS_ROWS = 8
"""Below this many rows, a cross is hashed on Python ints rather than by seven numpy calls per
mix. Re-measure: ``python benchmarks/transform.py``."""

KNOWN_STRINGS = 1024
"""The request decoder names at most this many remembered values per string input (msgspec
decodes a named value without making a string); an input with more takes any string.
Re-measure: ``python benchmarks/serve_frame.py``."""

VALUE_MEMORY_BYTES = 8 << 20
"""The most string data a predicting process remembers per model (values, their codes and
what columns derive from them: see mlengine.feature_column.memory). Re-measure:
``python benchmarks/serve_frame.py`` with a smaller budget."""

# -- CSV records (mlengine.data.csv_lines) -----------------------------------------------------

CSV_FEW_RECORDS = 256
"""Up to this many CSV records (a serving request's lines, one element of a per-element map)
are split by Python's csv module; more go through pyarrow's CSV reader, whose fixed cost is
about 0.8 ms a call (Python's: 9 us for one census line, 0.45 ms for 256; pyarrow: 1.1-1.6 ms
for 1-128 lines, then about 1.7 us a line). Re-measure: the timing loop in the docstring of
``mlengine.data.csv_lines._decode_few``."""
