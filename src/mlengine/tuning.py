"""Speed-tuning thresholds: where a faster path takes over, and how big a chunk or cache may be.

Every threshold that picks between two ways of computing the same result, by size, lives here,
so that changing one changes speed (or memory), never answers: tests pin each fast path to its
reference. Beside each value: what it decides, what was measured, and how to measure it again.
``Measured (CASE)`` quotes what ``.venv/bin/python benchmarks/thresholds.py CASE`` printed on
2026-12-07 (``--list`` names the cases), on the 2-core development VM shared with other work:
read the figures as ratios between the two sides, not as absolutes, and rerun a case before
moving its value.

This module imports nothing from mlengine: every layer may read it.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Feature columns (mlengine.feature_column).

# Batches up to this many rows given as Python lists (serving requests, and the server's merged
# batches of them) take the transform's small-batch path: each distinct string is stripped and
# looked up once in Python dicts, with no conversion to arrow first. Was
# ``feature_column.transform.SMALL_BATCH_ROWS``; the server's request decoder and the Predictor
# use it to keep such lists as they are.
# Measured (small-batch), the tutorial's columns: 512 rows 1.1 ms as lists vs 1.3 ms as arrow;
# 1,024 rows 1.7 vs 1.7 ms; 2,048 rows 2.8 vs 2.5 ms; 8,192 rows 8.5 vs 6.7 ms. The crossover
# sat between 1,024 and 2,048 rows in that run.
SMALL_BATCH_ROWS = 2048

# String dictionaries up to this many distinct values are looked up and hashed value by value in
# Python (a census feature has tens), rather than by a pyarrow/numpy call each. Was
# ``feature_column.transform._HASH_ONE_BY_ONE``.
# Measured (few-distinct-strings), hashing a dictionary of N strings: 256 values one by one
# 391 us when new, 23 us when seen before (the server's usual case), vectorised 76 us; 4,096
# values: 7 ms new, 342 us seen, 287 us vectorised.
FEW_DISTINCT_STRINGS = 256

# Bucketize by one vectorised comparison per boundary (int8 counts) when there are at most
# BUCKETIZE_BY_COMPARISON_BOUNDARIES boundaries and more than BUCKETIZE_BY_COMPARISON_VALUES
# values; otherwise a binary search per value (np.searchsorted). Were
# ``feature_column.transform._COMPARE_BOUNDARIES`` and ``_COMPARE_MIN_VALUES``.
# Measured (bucketize): 64 boundaries over 16,384 values 456 us by comparison vs 526 us by
# search, over 4,096 values 180 vs 110 us; 128 boundaries over 16,384 values 1.4 vs 0.6 ms;
# 10 boundaries over 65,536 values 0.28 vs 0.96 ms.
BUCKETIZE_BY_COMPARISON_BOUNDARIES = 64
BUCKETIZE_BY_COMPARISON_VALUES = 16384

# A cross with at most this many combinations of its parts' codes (and no more than the batch
# has rows) hashes every combination once and gathers each row's. Was
# ``feature_column.transform._CROSS_TABLE_LIMIT``.
# Measured (cross-table): hashing 16,384 keys takes 0.2 ms, 65,536 keys 0.8 ms, 262,144 keys
# 6.5 ms: a table costs one hash per combination, the per-row path one per row.
CROSS_TABLE_COMBINATIONS = 1 << 16

# ... and with at most this many, a predicting process keeps that table from batch to batch.
# Was ``feature_column.transform._REMEMBERED_CROSS_LIMIT``.
# Measured (cross-table): 16,384 combinations hash in about 0.2 ms, which every batch of a
# predicting process would otherwise pay again.
REMEMBERED_CROSS_COMBINATIONS = 1 << 14

# Rows of the transform's outputs filled at a time, so that a block stays in the L2 cache while
# every column writes into it. Was ``feature_column.transform._BLOCK_ROWS``.
# Measured (transform-block), the tutorial's linear part over 65,536 rows: 4,096- and
# 8,192-row blocks 6.9 and 6.8M rows/s, 2,048 rows 6.4M, one block of 65,536 rows 4.4M.
TRANSFORM_BLOCK_ROWS = 8192

# Up to this many rows, a cross is hashed on Python ints rather than by seven numpy calls per
# mix. Was ``feature_column.hashing.SMALL_CROSS_ROWS``.
# Measured (small-cross), two keys a row: 4 rows 11.5 us on Python ints vs 21.4 us by numpy,
# 8 rows 24.5 vs 21.7 us, 16 rows 40.9 vs 22.0 us (a cold cache; a warm one favours Python).
SMALL_CROSS_ROWS = 8

# A memory bound, not a crossover: the most a predicting process remembers about one model's
# string values (their codes, per-code results and cross tables, the row path's single-row ids
# and hashes: mlengine.feature_column.memory). Replaces the 4,096 values per feature, 4,096 per
# row-path column and the process-wide 65,536-entry hash caches of before. Nothing to
# re-measure: it caps memory; a value not remembered is computed every time.
VALUE_MEMORY_BYTES = 8 << 20

# The request decoder (mlengine.serving.schema) names at most this many remembered values per
# string input: msgspec decodes a named value without making a string; an input with more takes
# any string (and a new value goes through the checks). Building the decoder costs time in
# proportion to the values named, and it is rebuilt when the memory learns a value.
KNOWN_STRINGS = 1024

# ---------------------------------------------------------------------------------------------
# The model's numpy forward and the Predictor (mlengine.model, mlengine.export)

# Up to this many rows, the Predictor takes the row path (per-column Python lookups and the
# numpy forward's folded first layer) instead of the vectorised transform. Was
# ``export.predictor.ROW_PATH_ROWS``.
# Measured (row-path), the tutorial's Wide & Deep, one BLAS thread as in the server: 1 row
# 66 us by the row path vs 280 us vectorised; 32 rows 256 vs 376 us; 64 rows 423 vs 454 us;
# 128 rows 759 vs 590 us; 256 rows 1.45 vs 0.90 ms.
ROW_PATH_ROWS = 64

# Big batches run through the numpy forward (and the torch fallback) this many rows at a time:
# a chunk's activations stay in the CPU's cache between layers. Was
# ``model.numpy_network.CHUNK_ROWS`` (not the input functions' chunks: INPUT_CHUNK_ROWS).
# Measured (forward-chunk), the tutorial's Wide & Deep over 16,281 rows: chunks of 512 to
# 8,192 rows 1.9-2.0M rows/s, 256 rows 1.8M, no chunks 1.56M.
FORWARD_CHUNK_ROWS = 2048

# Predictions of batches up to this many rows run numpy's BLAS on one thread (set for the span
# of the call and set back; every core beyond). The forward goes FORWARD_CHUNK_ROWS rows at a
# time, products too small to share, and on a machine whose cores are busy BLAS's threads wait
# for each other. Was ``export.predictor.ONE_BLAS_THREAD_ROWS``.
# Measured on the 2-core dev machine while other work ran (census test set, tutorial model,
# median of 6 interleaved runs): 16,281 rows 240K rows/s on one thread against 26K on two,
# 163K rows 337K against 41K, 2,048 rows 145K against 29K. Re-measure:
# ``benchmarks/batch_predict.py --threads-sweep``.
ONE_BLAS_THREAD_ROWS = 1 << 18

# Embedding tables up to this size are grouped by dimension into one stacked copy, looked up by
# one gather; bigger ones are looked up one by one (a group copies its tables: this bounds the
# memory spent). Was ``model.numpy_network.GROUPED_TABLE_BYTES``.
# Measured (grouped-tables), 7 embedding tables of dimension 8: 64 rows 63 us grouped vs 72 us
# one by one; 1,024 rows 633 vs 633 us (the gain is in the number of numpy calls, so at
# small batches).
GROUPED_TABLE_BYTES = 16 << 20

# The row path folds each embedding table into the first layer (a row per id); when the folded
# tables would take more than this, it uses the general first layer instead. Was
# ``model.numpy_network.FOLDED_TABLE_BYTES``.
# Measured (folded-tables), the tutorial's Wide & Deep (folded tables: 404 kB): 1 row 66 us
# folded vs 84 us not; 8 rows 129 vs 155 us; 64 rows 435 vs 454 us.
FOLDED_TABLE_BYTES = 32 << 20

# Not a choice of ours: ATen's ``at::internal::GRAIN_SIZE`` (aten/src/ATen/Parallel.h). From
# this many ids on, with more than one torch thread, the CPU backward of ``torch.take`` adds
# gradients with parallel atomics in no fixed order, so the networks gather with index_select
# instead, whose gradient is always summed in index order. Was
# ``model.networks._PARALLEL_PUT_MIN_IDS``.
# Checked (parallel-put), 2 threads: 32,767 ids bitwise equal, 32,768 ids not.
PARALLEL_PUT_MIN_IDS = 32768

# ---------------------------------------------------------------------------------------------
# Input functions and batch prediction (mlengine.data, mlengine.training, mlengine.jobs)

# Rows per chunk of an input function: a chunk is transformed at once and sliced into batches,
# so it amortises the transform's per-call cost, while a transformed chunk stays a few tens of
# MB. Was ``data.inputs.CHUNK_ROWS`` (not the numpy forward's chunks: FORWARD_CHUNK_ROWS).
# Measured (input-chunk), encoding the tutorial's columns: chunks of 4,096 rows 2.5M rows/s,
# 16,384 rows 3.5M, 65,536 rows 4.1M, 262,144 rows 3.1M.
INPUT_CHUNK_ROWS = 1 << 16

# The default shuffle buffer of file input functions: it holds all of census (32,561 rows), so
# census is fully shuffled. Shuffle quality against memory, not speed; was
# ``data.inputs.SHUFFLE_BUFFER_ROWS``.
SHUFFLE_BUFFER_ROWS = 100_000

# Bytes pyarrow's CSV reader parses at a time (4 MiB: about 30,000 census rows), for input
# functions and batch prediction jobs alike. Was ``data.inputs.CSV_BLOCK_BYTES``,
# ``data.readers.CsvOptions.block_size``'s default and ``jobs.batch._CSV_BLOCK``.
# Measured (csv-block), a 13 MB census CSV: 1 MiB blocks 1.7M rows/s, 4 MiB 1.8M, 8 MiB 2.1M,
# 16 MiB 2.3M (larger blocks read faster in that run, at more memory per reader thread: a
# candidate for re-tuning).
CSV_BLOCK_BYTES = 1 << 22

# Rows per Predictor call in a batch prediction job (its default ``batchSize``). Was
# ``jobs.specs.DEFAULT_BATCH_SIZE`` (which keeps that name, for this value).
# Measured (batch-prediction), predict_instances on census instances (dicts): 1,024 rows a call
# 286K rows/s, 8,192 rows 317K, 16,384 rows 121K, 65,536 rows 94K. Smaller calls were faster
# in that run: a candidate for re-tuning (memory per call falls with it too).
BATCH_PREDICTION_ROWS = 65536

# Rows per output file of a batch prediction job, beyond which a new shard starts (files of
# about 100 MB of JSON lines). File layout, not speed; was ``jobs.batch.SHARD_ROWS``.
RESULT_SHARD_ROWS = 1_000_000

# ---------------------------------------------------------------------------------------------
# The server (mlengine.serving)

# Request bodies over this many bytes are parsed, checked and rendered on a worker thread, so
# that a big request never stalls the event loop for the small ones. Was
# ``serving.http.OFF_LOOP_BYTES``.
# Measured (off-loop): orjson parses 29 KiB (100 census instances) in 59 us, 87 KiB in 174 us,
# 290 KiB in 606 us; a round trip to a worker thread costs the loop about 40 us. At 64 KiB the
# parse (about 130 us) is some three round trips.
OFF_LOOP_BYTES = 64 * 1024

# Instances per model call: concurrent small requests to one version are gathered up to this,
# bigger requests are cut into calls of this size. A call costs a few milliseconds above
# ROW_PATH_ROWS (the vectorised transform) plus about 4 us a row, so large calls are cheap per
# instance, and 1024 rows (about 8 ms on one core) bound how long a small request can wait
# behind one. The default of ``--max-batch-size``; was ``serving.settings.DEFAULT_MAX_BATCH``
# (which keeps that name, for this value). Re-measure: ``benchmarks/serve_load.py
# --serve-args '--max-batch-size N'`` (100-instance requests at concurrency 8).
MAX_BATCH_ROWS = 1024

# Seconds a batch bound for a worker thread may wait until it holds as many instances as the
# previous call took (a lone client never waits). 1 ms gave the best throughput in
# ``serve_load.py`` when micro-batching was introduced (the figure was not recorded). The
# default of ``--max-batch-delay-ms``; was ``ServeSettings.max_batch_delay``'s. Re-measure:
# ``benchmarks/serve_load.py --serve-args '--max-batch-delay-ms N'`` for N in 0, 0.5, 1, 2.
MAX_BATCH_DELAY_S = 0.001

# Freed memory a server process keeps in its heap (glibc mallopt: blocks up to half this size
# come from the heap, and this much free memory is not handed back), instead of unmapping each
# batch's arrays (800 rows x 129 float32 units: 400 KiB) and faulting fresh pages in for the
# next. Measured when introduced: about 25 page faults per 100-instance request -> about 0, the
# system time per request about halved, ``serve_frame.py`` 8 x 100 instances 8% faster (4 of 5
# interleaved rounds). Was ``serving.server.KEPT_FREE_BYTES``. Re-measure:
# ``benchmarks/serve_frame.py --requests 800`` with and without ``_keep_freed_memory()``.
KEPT_FREE_BYTES = 64 << 20

# ---------------------------------------------------------------------------------------------
# Training (mlengine.training).

# Lookup tables of up to this many numbers (rows x width) on the CPU are updated whole from a
# dense gradient where that is exactly TF's sparse update of the looked-up rows (Adagrad, SGD,
# FTRL without l2_shrinkage once its weights are what its slots make them: see
# ``fast_step.dense_is_exact``); bigger ones row by row. Was ``fast_step.DENSE_TABLE_ELEMENTS``.
# Measured on the 2-core dev machine, CPU time per census tutorial step (numpy step + updates,
# batch 40): a 3,049-row linear table and a 1,000 x 8 embedding were 40 us cheaper updated whole
# than by rows (254 against 214 us); at 10x those sizes the two were even. Re-measure:
# ``benchmarks/train_vocabulary.py --sizes 1e3,1e4``.
DENSE_TABLE_ELEMENTS = 32_768

# ---------------------------------------------------------------------------------------------
# CSV records (mlengine.data.csv_lines)

# Up to this many CSV records (a serving request's lines, one element of a per-element map) are
# split by Python's csv module; more go through pyarrow's CSV reader, whose fixed cost is about
# 0.8 ms a call. Measured when introduced (#20): Python's csv 9 us for one census line, 0.45 ms
# for 256; pyarrow 1.1-1.6 ms for 1-128 lines, then about 1.7 us a line. Re-measure: the timing
# loop in the docstring of ``mlengine.data.csv_lines._decode_few``.
CSV_FEW_RECORDS = 256

__all__ = [
    "BATCH_PREDICTION_ROWS",
    "BUCKETIZE_BY_COMPARISON_BOUNDARIES",
    "BUCKETIZE_BY_COMPARISON_VALUES",
    "CROSS_TABLE_COMBINATIONS",
    "CSV_BLOCK_BYTES",
    "CSV_FEW_RECORDS",
    "DENSE_TABLE_ELEMENTS",
    "FEW_DISTINCT_STRINGS",
    "FOLDED_TABLE_BYTES",
    "FORWARD_CHUNK_ROWS",
    "GROUPED_TABLE_BYTES",
    "INPUT_CHUNK_ROWS",
    "KEPT_FREE_BYTES",
    "KNOWN_STRINGS",
    "MAX_BATCH_DELAY_S",
    "MAX_BATCH_ROWS",
    "OFF_LOOP_BYTES",
    "ONE_BLAS_THREAD_ROWS",
    "PARALLEL_PUT_MIN_IDS",
    "REMEMBERED_CROSS_COMBINATIONS",
    "RESULT_SHARD_ROWS",
    "ROW_PATH_ROWS",
    "SHUFFLE_BUFFER_ROWS",
    "SMALL_BATCH_ROWS",
    "SMALL_CROSS_ROWS",
    "TRANSFORM_BLOCK_ROWS",
    "VALUE_MEMORY_BYTES",
]
