"""mlengine.data."""
