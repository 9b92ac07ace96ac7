"""Crafted manifests: whatever a ``saved_model.json`` says, loading either gives a Predictor
that serves or refuses with ExportFormatError, quickly and without allocating what it asks for
(issue 19.1, 19.5, 19.7)."""

from __future__ import annotations

import json
import os
import shutil
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mlengine.errors import ExportFormatError
from mlengine.export import load
from mlengine.export.probe import check_serves
from mlengine.limits import ExportLimits
from tests.hostile import strategies as hs

# A refusal may take this long and allocate this much at most: loading the real Wide & Deep
# takes about 0.1 s and 2 MB at its peak, and what the crafted manifests ask for is terabytes.
REFUSAL_SECONDS = 5.0
REFUSAL_BYTES = 32 << 20


def copy_export(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit(export: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    path = export / "saved_model.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def refused(export: Path, *fragments: str, limits: ExportLimits | None = None) -> str:
    """Load ``export``; it must be refused naming ``fragments``, fast and small."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ExportFormatError) as info:
            check_serves(load(export, limits))
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < REFUSAL_SECONDS and peak < REFUSAL_BYTES, (seconds, peak)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture(scope="module")
def wide_deep_manifest(wide_deep_export: Path) -> dict[str, Any]:
    return json.loads((wide_deep_export / "saved_model.json").read_text())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=hs.st.data())
def test_any_crafted_manifest_loads_and_serves_or_is_refused(
    wide_deep_export: Path,
    wide_deep_manifest: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    data: Any,
) -> None:
    path, value = data.draw(hs.manifest_mutations(wide_deep_manifest))
    crafted = tmp_path_factory.mktemp("crafted")
    for name in ("variables", "assets"):
        os.symlink(wide_deep_export / name, crafted / name)  # read only: shared, not copied
    changed = hs.mutate(wide_deep_manifest, path, value)
    (crafted / "saved_model.json").write_text(json.dumps(changed))
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
    assert seconds < REFUSAL_SECONDS and peak < REFUSAL_BYTES, (path, seconds, peak)


# -- regressions, one per finding of the review ---------------------------------------------


@pytest.mark.parametrize("where", ["head", "model_spec"])
def test_n_classes_of_a_trillion_is_refused(
    linear_export: Path, tmp_path: Path, where: str
) -> None:
    export = copy_export(linear_export, tmp_path / "e")

    def change(manifest: dict[str, Any]) -> None:
        head = manifest["head"] if where == "head" else manifest["model_spec"]["head"]
        head.update(kind="multiclass", n_classes=10**12)

    edit(export, change)
    refused(export, "n_classes")


def test_a_top_level_head_that_contradicts_the_model_is_refused(
    linear_export: Path, tmp_path: Path
) -> None:
    export = copy_export(linear_export, tmp_path / "e")
    edit(export, lambda m: m["head"].update(label_vocabulary=["a", "b"]))
    refused(export, "top-level 'head'")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("dnn_hidden_units", [2**40, 10], "dnn_hidden_units: [0] is 1099511627776"),
        ("dnn_hidden_units", [1] * 1001, "1001 layers"),
        ("dnn_activation_fn", "os.system", "dnn_activation_fn 'os.system'"),
    ],
)
def test_dnn_sizes_and_activation_are_refused_by_name(
    wide_deep_export: Path, tmp_path: Path, field: str, value: Any, fragment: str
) -> None:
    export = copy_export(wide_deep_export, tmp_path / "e")
    edit(export, lambda m: m["model_spec"].update({field: value}))
    refused(export, fragment)


def _column(manifest: dict[str, Any], part: str, class_name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c["config"] for c in manifest["model_spec"][part] if c["class_name"] == class_name
    )
    return found


LINEAR, DNN = "linear_feature_columns", "dnn_feature_columns"


@pytest.mark.parametrize(
    ("part", "class_name", "key", "value", "fragment"),
    [
        (LINEAR, "HashBucketColumn", "hash_bucket_size", 10**12, "hash_bucket_size is"),
        (LINEAR, "CrossedColumn", "hash_bucket_size", 2**40, "hash_bucket_size is"),
        (LINEAR, "BucketizedColumn", "boundaries", list(range(20_000_001)), "boundaries is"),
        (DNN, "EmbeddingColumn", "dimension", 10**7, "dimension is"),
    ],
)
def test_every_column_size_is_checked_against_its_limit(
    wide_deep_export: Path,
    wide_deep_manifest: dict[str, Any],
    tmp_path: Path,
    part: str,
    class_name: str,
    key: str,
    value: Any,
    fragment: str,
) -> None:
    export = copy_export(wide_deep_export, tmp_path / "e")
    if key == "boundaries":  # 20 million boundaries: the manifest's own size limit comes first
        edit(export, lambda m: _column(m, part, class_name).update({key: value}))
        refused(export, "saved_model.json has", "over the limit")
        return
    edit(export, lambda m: _column(m, part, class_name).update({key: value}))
    refused(export, fragment, "must be in")


def test_the_memory_budget_names_what_costs_most(wide_deep_export: Path) -> None:
    """Within every per-column limit, the model is refused above the budget, naming its
    biggest tensor and largest sizes; the real model fits a budget a little above its size."""
    small = ExportLimits(max_model_bytes=64 << 10)  # the tutorial's Wide & Deep needs ~150 kB
    message = refused(wide_deep_export, "over the budget", "biggest tensor", limits=small)
    assert "MLENGINE_MAX_MODEL_BYTES" in message and "hash_bucket_size=1000" in message
    load(wide_deep_export, ExportLimits(max_model_bytes=1 << 20))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m["signature"]["inputs"][0].update(dtype="float64"), "has dtype 'float64'"),
        (lambda m: m["signature"]["inputs"].pop(0), "the signature lacks input"),
        (lambda m: m["signature"]["inputs"][0].update(required=False), "has required False"),
        (lambda m: m["signature"]["outputs"][0].update(shape=[-1, 10**12]), "signature output"),
        (
            lambda m: m["signature_defs"]["serving_default"].update(outputs=["nope"]),
            "output 'nope'",
        ),
        (
            lambda m: m["signature_defs"]["classification"]["outputs"].update(scores="nope"),
            "output 'scores'",
        ),
    ],
)
def test_a_signature_that_contradicts_the_spec_is_refused(
    linear_export: Path, tmp_path: Path, change: Callable[[dict[str, Any]], Any], fragment: str
) -> None:
    export = copy_export(linear_export, tmp_path / "e")
    edit(export, change)
    refused(export, fragment)


def test_a_deep_manifest_is_refused_not_a_recursion_error(
    linear_export: Path, tmp_path: Path
) -> None:
    export = copy_export(linear_export, tmp_path / "e")
    deep = '{"format": "mlengine-export", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (export / "saved_model.json").write_text(deep)
    refused(export, "cannot be read as JSON", "nested deeper")


def test_a_huge_sparse_vocabulary_file_is_refused_before_it_is_read(
    vocabulary_file_export: Path, tmp_path: Path
) -> None:
    """The review's 1 GiB sparse vocabulary took 17.7 s and 2.1 GB before refusal."""
    export = copy_export(vocabulary_file_export, tmp_path / "e")
    vocabulary = next((export / "assets").iterdir())
    with open(vocabulary, "r+b") as handle:
        handle.truncate(1 << 30)  # sparse: no disk used
    refused(export, f"vocabulary file 'assets/{vocabulary.name}' has 1.0 GiB", "over the limit")


def test_a_fifo_as_an_asset_is_refused_at_once(
    vocabulary_file_export: Path, tmp_path: Path
) -> None:
    export = copy_export(vocabulary_file_export, tmp_path / "e")
    vocabulary = next((export / "assets").iterdir())
    vocabulary.unlink()
    os.mkfifo(vocabulary)
    refused(export, "is not a regular file")


def test_weights_of_another_element_type_are_refused_from_the_header(
    linear_export: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file, save_file

    export = copy_export(linear_export, tmp_path / "e")
    path = export / "variables" / "variables.safetensors"
    weights = {name: array.astype("int8") for name, array in load_file(str(path)).items()}
    save_file(weights, str(path))
    refused(export, "is of type I8")


def test_the_activation_names_a_manifest_may_give_are_the_networks() -> None:
    """model/spec.py keeps the names torch-free for the validator; networks.py has the
    functions: the two lists are one."""
    from mlengine.model.networks import ACTIVATIONS
    from mlengine.model.spec import ACTIVATION_NAMES

    assert sorted(ACTIVATIONS) == list(ACTIVATION_NAMES)
