"""``evidence.json``: the member is listed and pinned, and a hostile one is refused by name.

The console reads evidence from exports it did not write: every refusal must be a clear
ExportFormatError naming the key, never a crash, and loading the model for serving never
reads the evidence at all.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlengine.errors import ExportFormatError
from mlengine.export import load
from mlengine.export.evidence import (
    EVIDENCE_FILE,
    MAX_BYTES,
    MAX_INSTANCES,
    MAX_POINTS,
    MAX_TEXT,
    check_evidence,
    read_evidence,
)
from mlengine.export.members import MEMBER_KINDS

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def editable(export_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the Wide & Deep export (evaluated, so it has every binary curve)."""
    copy_dir = tmp_path / "export"
    shutil.copytree(export_dir, copy_dir)
    return copy_dir


def _replace(export: Path, data: bytes) -> None:
    """Write ``data`` as the evidence and pin it in the manifest (a well-formed member)."""
    (export / EVIDENCE_FILE).write_bytes(data)
    manifest_path = export / "saved_model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["members"]["evidence"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest_path.write_text(json.dumps(manifest))


def _document(export: Path) -> dict[str, Any]:
    return json.loads((export / EVIDENCE_FILE).read_text())


def test_the_tutorial_export_lists_its_evidence_and_it_reads_back(export_dir: Path) -> None:
    manifest = json.loads((export_dir / "saved_model.json").read_text())
    entry = manifest["members"]["evidence"]
    assert entry["path"] == EVIDENCE_FILE and 0 < entry["bytes"] <= MAX_BYTES
    assert "evidence" in MEMBER_KINDS
    evidence = read_evidence(export_dir)
    assert evidence is not None and evidence.evaluated
    assert set(evidence.curves) == {"roc", "pr", "calibration", "confusion"}
    assert len(evidence.instances) == MAX_INSTANCES
    assert evidence.to_json() == check_evidence(_document(export_dir)).to_json()
    # Loading for serving checks the member's size and place, and predicts as before.
    assert "evidence" in load(export_dir).manifest["members"]


def test_a_format_1_export_has_no_evidence() -> None:
    assert read_evidence(FIXTURES / "format1") is None


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


HOSTILE = [
    ("format", _set("format", 2), "format must be 1"),
    ("evaluated", _set("evaluated", "yes"), "evaluated must be true or false"),
    (
        "no-reason",
        lambda d: d.update(evaluated=False, reason=None),
        "reason must say why",
    ),
    ("nan-text", _set("curves.roc.fpr.1", "0.5"), "curves.roc.fpr[1] must be a finite number"),
    ("bool", _set("curves.roc.auc", True), "curves.roc.auc must be a finite number"),
    (
        "too-many-points",
        _set("curves.roc.fpr", [0.0] * (MAX_POINTS + 1)),
        f"curves.roc.fpr has {MAX_POINTS + 1} items; at most {MAX_POINTS}",
    ),
    ("ragged", _set("curves.pr.recall", [0.5]), "curves.pr must hold lists of one length"),
    ("unknown-curve", _set("curves.lift", {}), "unknown curves ['lift']"),
    ("not-square", _set("curves.confusion.matrix.0", [1]), "matrix[0] must have 2 cells"),
    ("negative-count", _set("curves.confusion.matrix.1.1", -3), "matrix[1][1] must be an int >= 0"),
    ("calibration-row", _set("curves.calibration.0", [1, 2]), "calibration[0] must be an object"),
    (
        "instances",
        lambda d: d.update(instances=d["instances"] * 2),
        f"instances has 10 items; at most {MAX_INSTANCES}",
    ),
    ("instance-object", _set("instances.0.age", {"a": 1}), "instances[0].age must be a string"),
    (
        "long-text",
        _set("instances.0.workclass", "x" * (MAX_TEXT + 1)),
        "instances[0].workclass has 1025 characters",
    ),
    ("history-pair", _set("history.train.loss.0", [1]), "history.train.loss[0] must be a"),
    ("history-step", _set("history.train.loss.0", [-1, 0.5]), "loss[0][0] must be an int >= 0"),
    (
        "importances",
        _set("importances", {"method": "gain", "features": [{"name": 3, "importance": 1}]}),
        "importances.features[0].name must be a string",
    ),
    ("metrics", _set("evaluation.metrics", [1]), "evaluation.metrics must be an object"),
    ("model-dir", _set("model_dir", 7), "model_dir must be a string"),
]


@pytest.mark.parametrize(("name", "change", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_evidence_is_refused_naming_its_key(
    editable: Path, name: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    document = copy.deepcopy(_document(editable))
    change(document)
    _replace(editable, json.dumps(document).encode())
    with pytest.raises(ExportFormatError) as info:
        read_evidence(editable)
    assert message in str(info.value) and EVIDENCE_FILE in str(info.value), str(info.value)
    load(editable)  # serving never reads the evidence: the model still loads


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"format": 1, "evaluated": NaN}', "cannot be read as JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "cannot be read as JSON"),  # nesting, under 256 KiB
        (b"\xff\xfe", "cannot be read as JSON"),
        (b"[1, 2]", "the document must be an object"),
    ],
    ids=["nan", "deep", "not-utf8", "list"],
)
def test_evidence_that_is_not_a_json_object_is_refused(
    editable: Path, data: bytes, message: str
) -> None:
    _replace(editable, data)
    with pytest.raises(ExportFormatError, match=message):
        read_evidence(editable)


def test_an_oversized_or_changed_evidence_file_is_refused_before_it_is_parsed(
    editable: Path,
) -> None:
    _replace(editable, b" " * (MAX_BYTES + 1))
    with pytest.raises(ExportFormatError, match=f"'bytes' must be an int in \\[0, {MAX_BYTES}\\]"):
        read_evidence(editable)
    data = json.dumps(_document_of_size(editable)).encode()
    _replace(editable, data)
    (editable / EVIDENCE_FILE).write_bytes(data.replace(b"true", b"fals"))  # same size
    with pytest.raises(ExportFormatError, match="does not match its sha256"):
        read_evidence(editable)


def _document_of_size(export: Path) -> dict[str, Any]:
    return {"format": 1, "evaluated": True, "evaluation": {"global_step": 1, "metrics": {}}}


def test_the_member_must_be_evidence_json_at_the_root(editable: Path) -> None:
    manifest_path = editable / "saved_model.json"
    manifest = json.loads(manifest_path.read_text())
    (editable / "extra").mkdir()
    shutil.copy(editable / EVIDENCE_FILE, editable / "extra" / "e.json")
    manifest["members"]["evidence"]["path"] = "extra/e.json"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ExportFormatError, match="'path' must be 'evidence.json'"):
        load(editable)
