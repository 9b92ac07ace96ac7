"""mlengine.estimator."""
