"""mlengine.training."""
