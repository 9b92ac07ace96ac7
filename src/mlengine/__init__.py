"""mlengine: tf.estimator-style canned estimators on PyTorch, with export, registry and serving.

Users import the concept modules, as in TensorFlow::

    from mlengine import feature_column as fc
    from mlengine import estimator

Packages and modules, in the order the data flows (imports only point down it; ``errors``,
``tuning`` and ``limits`` are read by every layer):

* ``errors``: the one exception tree (:class:`~mlengine.errors.MLEngineError` at its root)
* ``tuning``: the speed-tuning thresholds, each with its measurement
* ``limits``: the bounds on what outside input may ask for, and the bounded JSON reader
* ``protos``: tf.Example and the gRPC messages (own .proto files, own descriptor pool)
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
* ``tf``: a TensorFlow-shaped façade over all of the above (``import mlengine.tf as tf``)
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
