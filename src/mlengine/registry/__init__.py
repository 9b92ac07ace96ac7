"""mlengine.registry."""
