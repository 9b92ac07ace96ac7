"""mlengine.serving."""
