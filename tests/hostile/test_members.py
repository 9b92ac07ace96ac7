"""Format 2's members under issue 19's rules: an ONNX graph's or LightGBM model's file and an
ensemble's member exports are held to the export limits before a byte of them is read, a
crafted member entry is refused (never a crash), and a copy of a version holds exactly the
files its manifest lists, the members' included (19.1, 19.6, 19.7, Also)."""

from __future__ import annotations

import json
import os
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import ExportFormatError
from mlengine.export import load, read_manifest
from mlengine.export.ensemble import export_ensemble
from mlengine.export.probe import check_serves
from mlengine.export.validate import listed_files
from mlengine.limits import ExportLimits
from mlengine.registry import Registry, VersionState
from tests.hostile import strategies as hs
from tests.hostile.test_manifests import (
    REFUSAL_BYTES,
    REFUSAL_SECONDS,
    copy_export,
    edit,
    refused,
)
from tests.serving import helpers as serving_helpers


@pytest.fixture(scope="module")
def trees_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Boosted trees (a ``lightgbm`` member). Read only."""
    from mlengine.data import census

    root = tmp_path_factory.mktemp("hostile_trees")
    x, y = census.load("train")
    x, y = x.head(300).reset_index(drop=True), y[:300]
    columns = [
        fc.numeric_column("age"),
        fc.numeric_column("hours_per_week", default_value=40.0),
        fc.categorical_column_with_vocabulary_list("education", serving_helpers.EDUCATION),
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=50),
    ]
    trees = estimator.BoostedTreesClassifier(
        columns,
        n_batches_per_layer=1,
        n_trees=5,
        model_dir=root / "m",
        config=estimator.RunConfig(quiet=True, tf_random_seed=1),
    )
    trees.train(estimator.inputs.pandas_input_fn(x, pd.Series(y), shuffle=False))
    return Path(trees.export_saved_model(root / "exports"))


@pytest.fixture(scope="module")
def ensemble_export(
    trees_export: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """An ensemble of the trees and a linear model (an ``ensemble`` member whose member exports
    are a ``lightgbm`` member and a network), and the linear model. Read only."""
    root = tmp_path_factory.mktemp("hostile_ensemble")
    linear = serving_helpers.train(root / "linear", "binary", steps=4)
    return Path(export_ensemble(root / "ensemble", [trees_export, linear])), linear


# -- what a copy holds -------------------------------------------------------------------------


def test_listed_files_know_every_member_file(ensemble_export: tuple[Path, Path]) -> None:
    ensemble, _ = ensemble_export
    manifest = read_manifest(ensemble)

    def nested(relative: str) -> dict[str, Any]:
        return json.loads((ensemble / relative).read_text())

    listed = listed_files(manifest, nested)
    on_disk = sorted(
        str(path.relative_to(ensemble)).replace(os.sep, "/")
        for path in ensemble.rglob("*")
        if path.is_file()
    )
    assert set(on_disk) <= set(listed), sorted(set(on_disk) - set(listed))
    assert "members/0/lightgbm.txt" in listed and "members/0/saved_model.json" in listed
    assert "members/1/variables/variables.safetensors" in listed
    with pytest.raises(ExportFormatError, match="no reader"):
        listed_files(manifest)


def test_a_version_of_an_ensemble_holds_its_listed_files_only(
    ensemble_export: tuple[Path, Path], tmp_path: Path
) -> None:
    ensemble, _ = ensemble_export
    origin = copy_export(ensemble, tmp_path / "origin")
    (origin / "members" / "1" / "stray.log").write_text("x" * 1000)
    (origin / "members" / "0" / "backup.txt~").write_text("old")
    with Registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts") as registry:
        registry.create_model("ens")
        version = registry.create_version("ens", "v1", str(origin))
        assert version.state == VersionState.READY, version.error_message
        copied = tmp_path / "artifacts" / "ens" / str(version.number)
        held = {p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()}
    assert "members/0/lightgbm.txt" in held and "members/1/saved_model.json" in held
    assert not {"members/1/stray.log", "members/0/backup.txt~"} & held


def test_a_fifo_as_a_member_file_is_refused_at_once(trees_export: Path, tmp_path: Path) -> None:
    export = copy_export(trees_export, tmp_path / "e")
    (export / "lightgbm.txt").unlink()
    os.mkfifo(export / "lightgbm.txt")
    refused(export, "member 'lightgbm'", "is not a regular file")


# -- sizes -------------------------------------------------------------------------------------


def test_a_member_file_counts_in_the_memory_budget(trees_export: Path) -> None:
    size = os.path.getsize(trees_export / "lightgbm.txt")
    message = refused(
        trees_export, "member 'lightgbm'", limits=ExportLimits(max_model_bytes=size // 2)
    )
    assert "'bytes' must be an int in [0, " in message
    # Within the file limit but over the budget with the spec's lists: the budget names it.
    budget = ExportLimits(max_model_bytes=size + 10)
    assert load(trees_export, ExportLimits(max_model_bytes=size + 10_000_000)) is not None
    refused(trees_export, "over the budget", "member file is the member 'lightgbm'", limits=budget)


def test_a_member_file_that_claims_more_than_the_kind_allows_is_refused(
    trees_export: Path, tmp_path: Path
) -> None:
    export = copy_export(trees_export, tmp_path / "e")
    edit(export, lambda m: m["members"]["lightgbm"].update(bytes=10**15))
    refused(export, "member 'lightgbm'", "'bytes' must be an int")


def test_ensemble_members_share_one_memory_budget(ensemble_export: tuple[Path, Path]) -> None:
    ensemble, linear = ensemble_export
    first = load(ensemble / "members" / "0").model_bytes
    second = load(linear).model_bytes
    assert first > 0 and second > 0
    whole = load(ensemble)
    assert first + second <= whole.model_bytes <= first + second + 1000  # + its head's names
    # Each member alone fits, both together do not: the second one is refused, named.
    budget = ExportLimits(max_model_bytes=max(first, second) + min(first, second) // 2)
    message = refused(ensemble, "over the budget", limits=budget)
    assert "members/1" in message or "members before it" in message, message


def test_an_ensemble_member_manifest_is_held_to_the_manifest_limit(
    ensemble_export: tuple[Path, Path],
) -> None:
    ensemble, _ = ensemble_export
    sizes = [os.path.getsize(ensemble / "members" / str(i) / "saved_model.json") for i in (0, 1)]
    top = os.path.getsize(ensemble / "saved_model.json")
    limit = max(sizes) - 1
    assert top <= limit, (top, sizes)  # the ensemble's own manifest is the smaller one
    limits = ExportLimits(max_manifest_bytes=limit)
    refused(ensemble, "member 'ensemble' file", "max_manifest_bytes", limits=limits)


def test_members_together_are_held_to_the_export_limit(trees_export: Path) -> None:
    size = os.path.getsize(trees_export / "lightgbm.txt")
    limits = ExportLimits(max_export_bytes=size - 1)
    refused(trees_export, "the members' files hold", "MLENGINE_MAX_EXPORT_BYTES", limits=limits)


# -- crafted member entries --------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=hs.st.data())
def test_any_crafted_member_entry_loads_and_serves_or_is_refused(
    ensemble_export: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
    data: Any,
) -> None:
    """A hostile value anywhere in an ensemble's manifest (its members object included) or in
    one of its member exports' manifests: served, or refused with ExportFormatError."""
    ensemble, _ = ensemble_export
    which = data.draw(hs.st.sampled_from(["saved_model.json", "members/0/saved_model.json"]))
    original = json.loads((ensemble / which).read_text())
    path, value = data.draw(hs.manifest_mutations(original))
    crafted = tmp_path_factory.mktemp("crafted_member")
    shutil.rmtree(crafted)
    shutil.copytree(ensemble, crafted)
    (crafted / which).write_text(json.dumps(hs.mutate(original, path, value)))
    if which != "saved_model.json":  # keep its digest true: what is checked is the content
        edit(crafted, lambda m: _pin(m, crafted, which))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        check_serves(load(crafted))
    except ExportFormatError:
        pass
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        shutil.rmtree(crafted)
    assert seconds < REFUSAL_SECONDS and peak < REFUSAL_BYTES, (which, path, seconds, peak)


def _pin(manifest: dict[str, Any], root: Path, relative: str) -> None:
    import hashlib

    data = (root / relative).read_bytes()
    for entry in manifest["members"]["ensemble"]["exports"]:
        if entry["path"] == relative:
            entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_boosted_trees_columns_are_size_checked(trees_export: Path, tmp_path: Path) -> None:
    export = copy_export(trees_export, tmp_path / "e")

    def change(manifest: dict[str, Any]) -> None:
        for column in manifest["model_spec"]["tree_feature_columns"]:
            if column["config"].get("hash_bucket_size"):
                column["config"]["hash_bucket_size"] = 10**12

    edit(export, change)
    refused(export, "tree_feature_columns: column 'occupation': hash_bucket_size")


@pytest.mark.parametrize(
    ("head", "fragment"),
    [
        ({"kind": "multi_label", "n_classes": 10**12}, "head.n_classes is 1000000000000"),
        ({"kind": "poisson_regression", "label_dimension": 2**40}, "head.label_dimension"),
        ({"kind": "os.system"}, "head kind 'os.system'"),
    ],
)
def test_every_head_kind_is_size_checked(head: dict[str, Any], fragment: str) -> None:
    from mlengine.export.validate import check_head_config

    with pytest.raises(ExportFormatError, match=fragment.replace(".", r"\.")):
        check_head_config(head, "export", ExportLimits())
    check_head_config({"kind": "logistic_regression"}, "export", ExportLimits())


def test_a_custom_networks_feature_modules_are_size_checked() -> None:
    from mlengine.export.validate import check_spec
    from mlengine.feature_column.serialization import to_config

    column = to_config(fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=10))
    column["config"]["hash_bucket_size"] = 2**40
    spec = {"network": "onnx", "feature_modules": [{"name": "dense", "columns": [column]}]}
    with pytest.raises(ExportFormatError, match=r"feature_modules\[0\]: column 'occupation'"):
        check_spec(spec, "export", ExportLimits())


@pytest.mark.parametrize(
    ("which", "path"),
    [
        # Found by the crafted-entry test: a boosted-trees member whose column default is [],
        # an ensemble whose signature input has a list for its dtype.
        ("members/0/saved_model.json", ("model_spec", "tree_feature_columns", 0, "config")),
        ("saved_model.json", ("signature", "inputs", 1)),
    ],
)
def test_crafted_member_regressions_are_refused(
    ensemble_export: tuple[Path, Path], tmp_path: Path, which: str, path: tuple[Any, ...]
) -> None:
    ensemble, _ = ensemble_export
    crafted = copy_export(ensemble, tmp_path / "e")
    original = json.loads((crafted / which).read_text())
    key = "default_value" if which != "saved_model.json" else "dtype"
    (crafted / which).write_text(json.dumps(hs.mutate(original, (*path, key), [])))
    if which != "saved_model.json":
        edit(crafted, lambda m: _pin(m, crafted, which))
    refused(crafted, "the model spec is invalid" if key == "default_value" else "dtype []")
