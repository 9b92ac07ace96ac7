"""mlengine.model."""
