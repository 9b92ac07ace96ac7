"""Feature column types, one module (its *home*) per type.

Modules:

* ``base``: what every column is, the export allow-list, parameter checks.
* ``numeric``: ``numeric_column`` and the normalisers.
* ``expression``: ``normalizer_fn`` callables, recorded once as data.
* ``bucketized``: ``bucketized_column``.
* ``vocabulary``: ``categorical_column_with_vocabulary_list`` and ``_file``.
* ``identity``: ``categorical_column_with_identity``.
* ``hash_bucket``: ``categorical_column_with_hash_bucket``.
* ``crossed``: ``crossed_column``.
* ``weighted``: ``weighted_categorical_column``.
* ``indicator``: ``indicator_column``.
* ``embedding``: ``embedding_column`` and ``shared_embeddings``.
* ``piecewise_linear``: ``piecewise_linear_column`` (not in TensorFlow).
"""

from mlengine.feature_column.columns.base import (
    COMBINERS,
    FLOAT32,
    INT64,
    STRING,
    CategoricalColumn,
    Combiner,
    DenseColumn,
    FeatureColumn,
    InputSpec,
    check_unique_names,
)
from mlengine.feature_column.columns.bucketized import BucketizedColumn, bucketized_column
from mlengine.feature_column.columns.crossed import CrossedColumn, crossed_column
from mlengine.feature_column.columns.embedding import (
    EmbeddingColumn,
    EmbeddingSpec,
    embedding_column,
    shared_embeddings,
)
from mlengine.feature_column.columns.expression import Expression, record
from mlengine.feature_column.columns.hash_bucket import (
    HashBucketColumn,
    categorical_column_with_hash_bucket,
)
from mlengine.feature_column.columns.identity import (
    IdentityColumn,
    categorical_column_with_identity,
)
from mlengine.feature_column.columns.indicator import IndicatorColumn, indicator_column
from mlengine.feature_column.columns.numeric import (
    Log1p,
    MinMax,
    Normalizer,
    NumericColumn,
    ZScore,
    numeric_column,
)
from mlengine.feature_column.columns.piecewise_linear import (
    PiecewiseLinearColumn,
    piecewise_linear_column,
)
from mlengine.feature_column.columns.vocabulary import (
    VocabularyColumn,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    read_vocabulary_file,
)
from mlengine.feature_column.columns.weighted import (
    WeightedCategoricalColumn,
    weighted_categorical_column,
)

__all__ = [
    "BucketizedColumn",
    "COMBINERS",
    "CategoricalColumn",
    "Combiner",
    "CrossedColumn",
    "DenseColumn",
    "EmbeddingColumn",
    "EmbeddingSpec",
    "Expression",
    "FLOAT32",
    "FeatureColumn",
    "HashBucketColumn",
    "INT64",
    "IdentityColumn",
    "IndicatorColumn",
    "InputSpec",
    "Log1p",
    "MinMax",
    "Normalizer",
    "NumericColumn",
    "PiecewiseLinearColumn",
    "STRING",
    "VocabularyColumn",
    "WeightedCategoricalColumn",
    "ZScore",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "check_unique_names",
    "crossed_column",
    "embedding_column",
    "indicator_column",
    "numeric_column",
    "piecewise_linear_column",
    "read_vocabulary_file",
    "record",
    "shared_embeddings",
    "weighted_categorical_column",
]
