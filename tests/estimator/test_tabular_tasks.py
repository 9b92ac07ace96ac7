"""The generated tasks of benchmarks/tabular_quality.py hold the structure their docstrings
claim (the README's quality table rests on them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tabular_quality", ROOT / "benchmarks" / "tabular_quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_movie_task_has_seen_users_and_new_movies() -> None:
    x, y, tx, ty, kind = _quality().movies_task(1)
    assert kind == "binary" and len(x) == 32_000 and len(tx) == 8_000
    seen_users = tx["user_id"].isin(set(x["user_id"])).mean()
    seen_movies = tx["movie_id"].isin(set(x["movie_id"])).mean()
    assert seen_users > 0.8, seen_users  # most test rows are users seen in training
    assert seen_movies < 0.5, seen_movies  # most are movies not seen in training
    assert 0.3 < float(np.mean(y)) < 0.7 and 0.3 < float(np.mean(ty)) < 0.7
    assert x["timestamp"].is_monotonic_increasing and x["timestamp"].max() <= tx["timestamp"].min()


def test_the_click_task_has_a_third_of_its_test_users_new() -> None:
    x, _, tx, _, _ = _quality().rec_task(1)
    train_users = set(x["user_id"])
    new = [u for u in set(tx["user_id"]) if u not in train_users]
    assert 0.25 < len(new) / len(set(tx["user_id"])) < 0.4  # a third of the test users are new


def test_the_recent_click_task_has_mostly_new_test_users() -> None:
    x, _, tx, _, _ = _quality().TASKS["rec_new"](1)
    train_users = set(x["user_id"])
    new = [u for u in set(tx["user_id"]) if u not in train_users]
    assert len(new) > 0.6 * len(set(tx["user_id"]))
    assert (~tx["user_id"].isin(train_users)).mean() > 0.5  # and most test rows
