"""Export format 2: the ``members`` list, and exports of format 1 that still load.

``fixtures/format1`` is a DNNClassifier exported by mlengine before format 2 (integ at
ac358f2), with the Predictor's answers for the talk's two instances at that time.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.errors import ExportFormatError
from mlengine.export import load
from mlengine.export.members import MEMBER_KINDS, read_member, write_member

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture
def crafted(export_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the Wide & Deep export with one member file, to be edited."""
    copy = tmp_path / "export"
    shutil.copytree(export_dir, copy)
    manifest = json.loads((copy / "saved_model.json").read_text())
    entry = write_member(str(copy), "extra/model.onnx", b"not read by these tests", opset=17)
    entry.update(inputs=[{"name": "x"}], outputs=[{"name": "logits"}], takes="encoded")
    manifest["members"] = {"onnx": entry}
    (copy / "saved_model.json").write_text(json.dumps(manifest))
    return copy


def _edit(export: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = export / "saved_model.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _refused(export: Path, *fragments: str) -> None:
    with pytest.raises(ExportFormatError) as info:
        load(export)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_a_format_1_export_still_loads_and_predicts_as_it_did() -> None:
    """Same weights, same arithmetic: the logits may differ only by the order of float32
    sums. The largest first-layer term is hours_per_week (40) times a weight below 1, with
    about ten terms per unit, so a bound of 64 float32 ulps of 40 is ample."""
    expected = json.loads((FIXTURES / "format1_expected.json").read_text())
    predictor = load(FIXTURES / "format1")
    assert predictor.manifest["format_version"] == 1
    assert predictor.manifest["members"] == {}
    out = predictor.predict_instances(expected["instances"])
    tolerance = 64 * EPS32 * 40
    for got, want in zip(out, expected["predictions"], strict=True):
        assert got["class_ids"] == want["class_ids"] and got["classes"] == want["classes"]
        np.testing.assert_allclose(got["logits"], want["logits"], rtol=0, atol=tolerance)
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=tolerance)


def test_the_crafted_members_load(crafted: Path) -> None:
    members = load(crafted).manifest["members"]
    assert set(members) == {"onnx"} and members["onnx"]["path"] == "extra/model.onnx"


def test_an_unknown_member_is_refused_naming_it_and_the_known_ones(crafted: Path) -> None:
    _edit(crafted, lambda m: m["members"].update(telemetry={"path": "model.onnx"}))
    _refused(crafted, "'telemetry'", "unknown to this mlengine", str(sorted(MEMBER_KINDS)))


def test_members_must_be_an_object(crafted: Path) -> None:
    _edit(crafted, lambda m: m.update(members=["onnx"]))
    _refused(crafted, "'members' must be an object")


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd", "extra/../../outside.onnx", "", 7],
    ids=["dotdot", "absolute", "dotdot-inside", "empty", "not-a-string"],
)
def test_a_member_path_outside_the_export_is_refused(crafted: Path, path: Any) -> None:
    _edit(crafted, lambda m: m["members"]["onnx"].update(path=path))
    _refused(crafted, "member 'onnx'", repr(path))


def test_a_member_symlinked_outside_the_export_is_refused(crafted: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"not read by these tests")
    os.unlink(crafted / "extra" / "model.onnx")
    os.symlink(outside, crafted / "extra" / "model.onnx")
    _refused(crafted, "points outside the export directory")


def test_a_missing_member_file_is_named(crafted: Path) -> None:
    os.unlink(crafted / "extra" / "model.onnx")
    _refused(crafted, "'extra/model.onnx' is missing")


@pytest.mark.parametrize("size", [5, -1, 1 << 40, "23", None])
def test_a_member_size_that_differs_or_exceeds_the_limit_is_refused(
    crafted: Path, size: Any
) -> None:
    _edit(crafted, lambda m: m["members"]["onnx"].update(bytes=size))
    _refused(crafted, "member 'onnx'", "bytes")


def test_a_changed_member_file_fails_its_digest_when_read(crafted: Path) -> None:
    (crafted / "extra" / "model.onnx").write_bytes(b"NOT read by these tests")  # same size
    entry = load(crafted).manifest["members"]["onnx"]
    with pytest.raises(ExportFormatError, match="does not match its sha256"):
        read_member(str(crafted), entry, "member 'onnx'")


@pytest.mark.parametrize(
    "change, named",
    [
        ({"opset": "17"}, "'opset'"),
        ({"inputs": [{"name": "x"}, {"name": "x"}]}, "'inputs' names an entry twice"),
        ({"outputs": "logits"}, "'outputs' must be a list"),
        ({"takes": "pickles"}, "'takes'"),
    ],
)
def test_the_onnx_entry_is_checked_key_by_key(
    crafted: Path, change: dict[str, Any], named: str
) -> None:
    _edit(crafted, lambda m: m["members"]["onnx"].update(change))
    _refused(crafted, named)


def test_two_members_that_are_each_the_model_are_refused(crafted: Path) -> None:
    """The onnx member of a network that numpy runs is a portable copy (the crafted export
    loads); trees and an ensemble are each the model, so both at once is ambiguous."""
    trees = write_member(str(crafted), "lightgbm.txt", b"tree\n", format="text")
    exports = [write_member(str(crafted), f"members/{i}/saved_model.json", b"{}") for i in (0, 1)]
    ensemble = {"average": "probabilities", "exports": exports}
    _edit(crafted, lambda m: m["members"].update(lightgbm=trees, ensemble=ensemble))
    _refused(crafted, "['lightgbm', 'ensemble'] are each a whole model")


@pytest.mark.parametrize(
    "kind, entry, named",
    [
        ("lightgbm", {"format": "binary"}, "'format' must be one of ('text',)"),
        ("ensemble", {"average": "logits"}, "'average' must be one of"),
        ("ensemble", {"exports": [{"path": "members/0/saved_model.json"}]}, "two or more"),
    ],
)
def test_the_lightgbm_and_ensemble_entries_are_checked(
    crafted: Path, kind: str, entry: dict[str, Any], named: str
) -> None:
    base: dict[str, Any] = {
        "lightgbm": write_member(str(crafted), "lightgbm.txt", b"tree\n", format="text"),
        "ensemble": {
            "average": "probabilities",
            "exports": [
                write_member(str(crafted), f"members/{i}/saved_model.json", b"{}") for i in range(2)
            ],
        },
    }[kind]
    _edit(crafted, lambda m: m.update(members={kind: {**base, **entry}}))
    _refused(crafted, f"member {kind!r}", named)
