"""mlengine.export."""
