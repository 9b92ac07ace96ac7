"""Feature columns with ``tf.feature_column``'s names, arguments and defaults.

Example:
    >>> from mlengine import feature_column as fc
    >>> age = fc.numeric_column("age")
    >>> fc.bucketized_column(age, boundaries=[18, 25, 30]).num_buckets
    4
"""

from mlengine.feature_column.analyze import (
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
    FeatureColumn,
    HashBucketColumn,
    IdentityColumn,
    IndicatorColumn,
    Log1p,
    MinMax,
    NumericColumn,
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
from mlengine.feature_column.transform import EmbeddingSpec, EncodedFeatures, FeatureTransformer

shared_embedding_columns = shared_embeddings  # TF1's name

__all__ = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CrossedColumn",
    "DenseColumn",
    "EmbeddingColumn",
    "EmbeddingSpec",
    "EncodedFeatures",
    "FeatureColumn",
    "FeatureTransformer",
    "HashBucketColumn",
    "IdentityColumn",
    "IndicatorColumn",
    "Log1p",
    "MinMax",
    "NumericColumn",
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
    "numeric_column",
    "one_hot_column",
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
