"""mlengine: tf.estimator-style canned estimators on PyTorch, with export, registry and serving.

Users import the concept modules, as in TensorFlow::

    from mlengine import feature_column as fc
    from mlengine import estimator

Packages and modules, in the order the data flows (imports only point down it; ``errors``
and ``tuning`` are read by every layer):

* ``errors``: the one exception tree (:class:`~mlengine.errors.MLEngineError` at its root)
* ``tuning``: the speed-tuning thresholds, each with its measurement
* ``data``: input functions and the packaged census data set
* ``feature_column``: column specs and the feature transform
* ``model``: the networks and heads that training and prediction share
* ``export``: the export format and the Predictor
* ``training``: the training loop, optimizers, checkpoints, metrics and summaries
* ``estimator``: the canned estimators, with tf.estimator's API
* ``registry``: models, their versions and their files
* ``jobs``: training and batch prediction jobs run in the background
* ``hypertune``: cloudml-hypertune's reporter, for trainers of tuning jobs
* ``serving``: the prediction server (``mlengine serve``)
* ``cli``: the ``mlengine`` command
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
