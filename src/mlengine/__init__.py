"""mlengine: tf.estimator-style canned estimators on PyTorch, with export, registry and serving.

Users import the concept modules, as in TensorFlow::

    from mlengine import feature_column as fc
    from mlengine import estimator
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
