"""Loading never trusts the export: each crafted export is refused with ExportFormatError."""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from mlengine.errors import ExportFormatError
from mlengine.export import load

SRC = Path(__file__).resolve().parents[2] / "src" / "mlengine"
VARIABLES = Path("variables") / "variables.safetensors"


@pytest.fixture
def crafted(export_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the Wide & Deep export, to be damaged by the test."""
    copy = tmp_path / "export"
    shutil.copytree(export_dir, copy)
    return copy


def _edit_manifest(export: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = export / "saved_model.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The weights, copied out of safetensors' memory map (the file is rewritten next)."""
    return {name: tensor.clone() for name, tensor in load_file(str(path)).items()}


def _edit_weights(export: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    path = export / VARIABLES
    weights = _read_weights(path)
    change(weights)
    save_file(weights, str(path))


def _refused(export: Path, *fragments: str) -> str:
    with pytest.raises(ExportFormatError) as info:
        load(export)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _linear_column(manifest: dict[str, Any], class_name: str) -> dict[str, Any]:
    columns = manifest["model_spec"]["linear_feature_columns"]
    return next(c["config"] for c in columns if c["class_name"] == class_name)


def test_the_untouched_copy_loads(crafted: Path) -> None:
    load(crafted)


@pytest.mark.parametrize("version", [0, "1", None, 1.5])
def test_unknown_format_version_says_what_it_found(crafted: Path, version: Any) -> None:
    _edit_manifest(crafted, lambda m: m.update(format_version=version))
    _refused(crafted, f"format_version {version!r}", "versions 1 to 2")


def test_a_newer_format_version_names_both_versions(crafted: Path) -> None:
    _edit_manifest(crafted, lambda m: m.update(format_version=3))
    _refused(crafted, "format_version 3 is newer", "versions 1 to 2", "upgrade mlengine")


def test_other_format_name(crafted: Path) -> None:
    _edit_manifest(crafted, lambda m: m.update(format="tensorflow-saved-model"))
    _refused(crafted, "'tensorflow-saved-model'", "mlengine-export")


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"\xff\xfe\x00binary"], ids=["syntax", "empty", "binary"]
)
def test_manifest_that_is_not_json(crafted: Path, content: bytes) -> None:
    (crafted / "saved_model.json").write_bytes(content)
    _refused(crafted, "saved_model.json", "JSON")


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "42", "null"])
def test_manifest_that_is_not_an_object(crafted: Path, content: str) -> None:
    (crafted / "saved_model.json").write_text(content)
    _refused(crafted, "saved_model.json", "mlengine-export")


def test_missing_manifest(crafted: Path) -> None:
    (crafted / "saved_model.json").unlink()
    _refused(crafted, "not an mlengine export", "saved_model.json")


@pytest.mark.parametrize("key", ["model_spec", "signature"])
def test_manifest_without_spec_or_signature(crafted: Path, key: str) -> None:
    _edit_manifest(crafted, lambda m: m.update({key: ["not", "an", "object"]}))
    _refused(crafted, repr(key))


def test_invalid_model_spec(crafted: Path) -> None:
    _edit_manifest(crafted, lambda m: m["model_spec"].update(head={"kind": "telepathy"}))
    _refused(crafted, "model spec is invalid", "telepathy")


def test_negative_layer_size_in_the_spec(crafted: Path) -> None:
    _edit_manifest(crafted, lambda m: m["model_spec"].update(dnn_hidden_units=[-5]))
    _refused(crafted, "model spec is invalid")


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd", "assets/../../../etc/passwd", "saved_model.json", ""],
    ids=["dotdot", "absolute", "dotdot-in-assets", "outside-assets", "empty"],
)
def test_vocabulary_asset_outside_the_export_is_refused(crafted: Path, path: str) -> None:
    def point_at(manifest: dict[str, Any]) -> None:
        config = _linear_column(manifest, "VocabularyColumn")
        config["vocabulary_file"] = path
        config["vocabulary"] = []

    _edit_manifest(crafted, point_at)
    if path == "":
        _refused(crafted)  # "no file": the emptied inline vocabulary no longer fits the weights
    else:
        _refused(crafted, repr(path))


def test_vocabulary_asset_symlinked_outside_the_export_is_refused(
    crafted: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("Bachelors\n")
    (crafted / "assets").mkdir(exist_ok=True)
    (crafted / "assets" / "education.vocab").symlink_to(outside)

    def point_at(manifest: dict[str, Any]) -> None:
        config = _linear_column(manifest, "VocabularyColumn")
        config["vocabulary_file"] = "assets/education.vocab"
        config["vocabulary"] = []

    _edit_manifest(crafted, point_at)
    _refused(crafted, "outside the export")


def test_missing_vocabulary_asset(vocab_file_model: Any, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(vocab_file_model.export_dir, copy)
    (copy / "assets" / "education.vocab").unlink()
    _refused(copy, "assets/education.vocab", "does not exist")


def test_tensor_of_the_wrong_shape(crafted: Path) -> None:
    _edit_weights(crafted, lambda w: w.update({"dnn.hidden.0.bias": torch.zeros(3, 3)}))
    _refused(crafted, "'dnn.hidden.0.bias'", "(3, 3)", "(100,)")


def test_missing_weight(crafted: Path) -> None:
    _edit_weights(crafted, lambda w: w.pop("dnn.hidden.0.bias"))
    _refused(crafted, "missing tensors ['dnn.hidden.0.bias']")


def test_extra_weight(crafted: Path) -> None:
    _edit_weights(crafted, lambda w: w.update(smuggled=torch.zeros(4)))
    _refused(crafted, "unexpected tensors ['smuggled']")


def test_missing_variables_file(crafted: Path) -> None:
    (crafted / VARIABLES).unlink()
    _refused(crafted, "variables.safetensors")


def test_pickle_renamed_to_safetensors(crafted: Path) -> None:
    (crafted / VARIABLES).write_bytes(pickle.dumps({"a": 1}))
    _refused(crafted, "not a valid safetensors file")


def test_torch_save_renamed_to_safetensors(crafted: Path) -> None:
    weights = _read_weights(crafted / VARIABLES)
    torch.save(weights, crafted / VARIABLES)
    _refused(crafted, "not a valid safetensors file")


@pytest.mark.parametrize("keep", [0.5, 0.99, 5 / 1_000_000], ids=["half", "tail", "header"])
def test_truncated_safetensors(crafted: Path, keep: float) -> None:
    data = (crafted / VARIABLES).read_bytes()
    (crafted / VARIABLES).write_bytes(data[: max(1, int(len(data) * keep))])
    _refused(crafted, "not a valid safetensors file")


def _seconds(call: Callable[[], Any]) -> float:
    """The shortest of three runs of ``call`` (the others may have waited for the CPU)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def _budget(export_dir: Path) -> float:
    """What refusing a crafted export may take: no more than loading the real one, which does
    all the same checks and then reads and builds its weights, with a generous margin for a
    busy machine. Allocating terabytes first would fail, or take far longer."""
    return max(0.5, 5 * _seconds(lambda: load(export_dir)))


def test_huge_table_is_refused_without_allocating(crafted: Path, export_dir: Path) -> None:
    """10**12 hash buckets would need 4 TB: refused by the column's size limit, naming it."""
    _edit_manifest(
        crafted,
        lambda m: _linear_column(m, "HashBucketColumn").update(hash_bucket_size=10**12),
    )
    refused = _refused(crafted, "column 'occupation'", "hash_bucket_size is 1000000000000")
    assert "buckets" in refused
    assert _seconds(lambda: _refused(crafted, "hash_bucket_size")) < _budget(export_dir)


def test_huge_embedding_is_refused_without_allocating(crafted: Path, export_dir: Path) -> None:
    def widen(manifest: dict[str, Any]) -> None:
        columns = manifest["model_spec"]["dnn_feature_columns"]
        embedding = next(c for c in columns if c["class_name"] == "EmbeddingColumn")
        embedding["config"]["dimension"] = 10**9

    _edit_manifest(crafted, widen)
    _refused(crafted, "column 'occupation_embedding'", "dimension is 1000000000")
    assert _seconds(lambda: _refused(crafted, "dimension")) < _budget(export_dir)


# -- source inspection -------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_export_package_never_imports_training_or_estimator() -> None:
    files = sorted((SRC / "export").glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "format.py", "predictor.py", "writer.py"}
    for path in files:
        for name in _imports(path):
            # `from mlengine import training` shows up as "mlengine.training" too.
            assert not name.startswith(("mlengine.training", "mlengine.estimator")), (path, name)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_export_package_needs_no_training_code_even_indirectly() -> None:
    """Everything mlengine.export imports, followed through mlengine's own modules."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    todo = ["mlengine.export", "mlengine.export.format", "mlengine.export.predictor"]
    todo.append("mlengine.export.writer")
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or module not in files:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        todo.extend(parents)
        todo.extend(name for name in _imports(files[module]) if name.startswith("mlengine"))
    assert "mlengine.model.build" in seen and "mlengine.feature_column" in seen
    assert (
        sorted(m for m in seen if m.startswith(("mlengine.training", "mlengine.estimator"))) == []
    )


def test_no_pickle_or_torch_load_anywhere_in_src() -> None:
    forbidden_modules = ("pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve")
    offences: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for name in _imports(path):
            if name.split(".")[0] in forbidden_modules or name == "torch.load":
                offences.append(f"{path}: imports {name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "load"
                and isinstance(node.value, ast.Name)
                and node.value.id == "torch"
            ):
                offences.append(f"{path}:{node.lineno}: torch.load")
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    offences.append(f"{path}:{node.lineno}: allow_pickle")
    assert offences == []
    assert os.path.isdir(SRC / "export")
