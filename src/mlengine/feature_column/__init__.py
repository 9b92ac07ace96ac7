"""Feature columns with ``tf.feature_column``'s names, arguments and defaults.

Modules:

* ``columns``: one module per column type (its home: spec, signature entry, vectorised
  encoding, row encoding where measured); ``columns/base.py`` says what a home holds.
* ``transform``: :class:`FeatureTransformer`, which places the columns' outputs into model inputs.
* ``encoding``: the reference encoding of a raw batch, and the helpers column homes build with.
* ``decoding``: raw values decoded once per feature key (strings dictionary-encoded, numbers).
* ``small_batch``: the fast path for a few values (Python dicts instead of pyarrow calls).
* ``row_encoder``: the fast path for a serving request's few instances.
* ``rowpath``: what column homes need to write their row encodings.
* ``memory``: the one memory of string values a predicting process keeps.
* ``onnx_graph``: the columns' ONNX expressions, for a canned model's portable export
* ``hashing``: the stable hash of values and crosses.
* ``serialization``: columns to and from JSON (an allow-list, no code).
* ``analyze``: statistics that fill columns in (vocabularies, mean/std, quantiles), and
  :func:`infer_feature_columns`, which chooses a Wide & Deep's columns from data.
* ``contrib``: ``tf.contrib.layers``' names, as aliases.

Example:
    >>> from mlengine import feature_column as fc
    >>> age = fc.numeric_column("age")
    >>> fc.bucketized_column(age, boundaries=[18, 25, 30]).num_buckets
    4
"""

from mlengine.feature_column.analyze import (
    FeatureChoice,
    InferredColumns,
    infer_feature_columns,
    quantile_bucketized_column,
    standardized_column,
    vocabulary_column,
)
from mlengine.feature_column.columns import (
    BucketizedColumn,
    CategoricalColumn,
    CrossedColumn,
    DenseColumn,
    EmbeddingColumn,
    EmbeddingSpec,
    Expression,
    FeatureColumn,
    HashBucketColumn,
    IdentityColumn,
    IndicatorColumn,
    Log1p,
    MinMax,
    NumericColumn,
    PiecewiseLinearColumn,
    VocabularyColumn,
    WeightedCategoricalColumn,
    ZScore,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    numeric_column,
    piecewise_linear_column,
    shared_embeddings,
    weighted_categorical_column,
)
from mlengine.feature_column.contrib import (
    one_hot_column,
    real_valued_column,
    sparse_column_with_hash_bucket,
    sparse_column_with_integerized_feature,
    sparse_column_with_keys,
)
from mlengine.feature_column.serialization import from_config, to_config
from mlengine.feature_column.transform import EncodedFeatures, FeatureTransformer

shared_embedding_columns = shared_embeddings  # TF1's name

__all__ = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CrossedColumn",
    "DenseColumn",
    "EmbeddingColumn",
    "EmbeddingSpec",
    "EncodedFeatures",
    "Expression",
    "FeatureChoice",
    "FeatureColumn",
    "FeatureTransformer",
    "HashBucketColumn",
    "IdentityColumn",
    "IndicatorColumn",
    "InferredColumns",
    "Log1p",
    "MinMax",
    "NumericColumn",
    "PiecewiseLinearColumn",
    "VocabularyColumn",
    "WeightedCategoricalColumn",
    "ZScore",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "crossed_column",
    "embedding_column",
    "from_config",
    "indicator_column",
    "infer_feature_columns",
    "numeric_column",
    "one_hot_column",
    "piecewise_linear_column",
    "quantile_bucketized_column",
    "real_valued_column",
    "shared_embedding_columns",
    "shared_embeddings",
    "sparse_column_with_hash_bucket",
    "sparse_column_with_integerized_feature",
    "sparse_column_with_keys",
    "standardized_column",
    "to_config",
    "vocabulary_column",
    "weighted_categorical_column",
]
