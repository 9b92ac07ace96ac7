"""mlengine.cli."""
