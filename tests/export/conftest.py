"""Fixtures of the export tests: one trained Wide & Deep (the TF tutorial's columns), exported
once per session, small exports of the other heads, and a loaded Predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlengine import feature_column as fc
from mlengine.export import Predictor, load
from tests import tolerance
from tests.export import helpers


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tutorial's Wide & Deep trained on 2,000 census rows, evaluated and exported."""
    return helpers.wide_deep(tmp_path_factory.mktemp("wide_deep"))


@pytest.fixture(scope="session")
def export_dir(trained: Any) -> Path:
    """The Wide & Deep export (read only: copy it before crafting a bad one)."""
    return trained.export_dir


@pytest.fixture(scope="session")
def predictor(export_dir: Path) -> Predictor:
    return load(export_dir)


@pytest.fixture(scope="session")
def bound(export_dir: Path) -> tolerance.Bound:
    """The Wide & Deep export's logit tolerances (tests/tolerance.py)."""
    return tolerance.Bound.of_export(export_dir)


@pytest.fixture(scope="session")
def instances() -> list[dict[str, Any]]:
    """The talk's two instances, from examples/census/census.json."""
    return helpers.census_instances()


@pytest.fixture(scope="session")
def vocab_file_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A LinearClassifier with a vocabulary-file column and a numeric column with a default.

    The original vocabulary file is deleted once the model is exported.
    """
    base = tmp_path_factory.mktemp("vocab_file")
    vocab = base / "education.txt"
    vocab.write_text("".join(f"{v}\n" for v in ["Bachelors", "HS-grad", "11th", "Masters"]))
    columns = [
        fc.numeric_column("age"),
        fc.numeric_column("hours_per_week", default_value=40.0),
        fc.categorical_column_with_vocabulary_file("education", str(vocab), num_oov_buckets=1),
    ]
    model = helpers.small(base, "binary", columns)
    vocab.unlink()
    return model


@pytest.fixture(scope="session")
def head_models(tmp_path_factory: pytest.TempPathFactory, vocab_file_model: Any) -> dict[str, Any]:
    """A small exported model per head: binary, multiclass (label vocabulary), regression."""
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=32)
    multiclass = helpers.small(
        tmp_path_factory.mktemp("multiclass"),
        "multiclass",
        [fc.numeric_column("age"), fc.numeric_column("hours_per_week"), occupation],
    )
    regression = helpers.small(
        tmp_path_factory.mktemp("regression"),
        "regression",
        [fc.numeric_column("age"), fc.numeric_column("education_num"), occupation],
    )
    return {"binary": vocab_file_model, "multiclass": multiclass, "regression": regression}
