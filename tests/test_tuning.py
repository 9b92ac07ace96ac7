"""mlengine.tuning: the one home of the speed-tuning thresholds, importable from every layer."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from mlengine import tuning

# Modules that held a threshold before mlengine.tuning, and still may: (module, old name, new).
FORMER_HOMES = [
    ("mlengine.feature_column.transform", "SMALL_BATCH_ROWS", "SMALL_BATCH_ROWS"),
    ("mlengine.feature_column.transform", "_HASH_ONE_BY_ONE", "FEW_DISTINCT_STRINGS"),
    (
        "mlengine.feature_column.transform",
        "_COMPARE_BOUNDARIES",
        "BUCKETIZE_BY_COMPARISON_BOUNDARIES",
    ),
    ("mlengine.feature_column.transform", "_COMPARE_MIN_VALUES", "BUCKETIZE_BY_COMPARISON_VALUES"),
    ("mlengine.feature_column.transform", "_CROSS_TABLE_LIMIT", "CROSS_TABLE_COMBINATIONS"),
    (
        "mlengine.feature_column.transform",
        "_REMEMBERED_CROSS_LIMIT",
        "REMEMBERED_CROSS_COMBINATIONS",
    ),
    ("mlengine.feature_column.transform", "_BLOCK_ROWS", "TRANSFORM_BLOCK_ROWS"),
    ("mlengine.feature_column.hashing", "SMALL_CROSS_ROWS", "SMALL_CROSS_ROWS"),
    ("mlengine.feature_column.rows", "MEMO_SIZE", "ROW_MEMO_SIZE"),
    ("mlengine.feature_column.memory", "STRING_TABLE_SIZE", "STRING_TABLE_SIZE"),
]


def test_imports_nothing_from_mlengine() -> None:
    tree = ast.parse(Path(tuning.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(alias.name.startswith("mlengine") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.module == "__future__", node.module


def test_every_threshold_is_a_positive_number_with_a_comment() -> None:
    source = Path(tuning.__file__).read_text().splitlines()
    for name in tuning.__all__:
        value = getattr(tuning, name)
        assert isinstance(value, int | float) and value > 0, name
        line = next(i for i, text in enumerate(source) if text.startswith(f"{name} = "))
        assert source[line - 1].startswith("#") or source[line - 2].startswith("#"), name


@pytest.mark.parametrize(("module", "old", "new"), FORMER_HOMES)
def test_a_former_home_that_still_holds_a_threshold_agrees(module: str, old: str, new: str) -> None:
    try:
        home = importlib.import_module(module)
    except ModuleNotFoundError:
        return  # the module itself is gone (renamed): nothing holds a second copy there
    held = getattr(home, old, None)
    if held is not None:
        assert held == getattr(tuning, new), f"{module}.{old} != mlengine.tuning.{new}"
