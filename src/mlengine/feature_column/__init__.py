"""mlengine.feature_column."""
