"""The evidence an export carries (``evidence.json``): curves, history, instances, importances.

An export of format 2 may list one member of kind ``evidence``: a small JSON file that says how
the model did at its last evaluation before the export was written, so that a console, the
docs or a reviewer can show it without the training data::

    {"format": 1,
     "evaluated": true,                       # false: never evaluated, and "reason" says why
     "reason": null,
     "evaluation": {"global_step": 2000, "metrics": {"auc": 0.88, ...}} | null,
     "curves": {                              # only those the head allows; each may be absent
       "roc": {"fpr": [...], "tpr": [...], "thresholds": [...], "auc": 0.88},
       "pr": {"recall": [...], "precision": [...], "thresholds": [...]},
       "calibration": [{"lower", "upper", "count", "mean_predicted", "fraction_positive"}],
       "confusion": {"threshold": 0.5, "labels": ["0", "1"], "matrix": [[tn, fp], [fn, tp]]},
       "residuals": [{"decile", "count", "mean_prediction", "mean_label", "mean_residual"}]},
     "history": {"train": {"loss": [[step, value], ...]}, "eval": {"auc": [[step, value]]}},
     "instances": [{"age": 25, "workclass": "Private", ...}],   # <= 5 real evaluation rows
     "importances": {"method": "gain", "features": [{"name", "importance"}]} | null,
     "model_dir": "/abs/path/of/the/run" | null}

A binary classifier's curves are ROC, precision-recall, calibration (ten equal-width bins of the
predicted probability) and the confusion matrix at the head's threshold (0.5, as its
``class_ids``); a multi-class classifier's the confusion matrix of its argmax (rows: the label,
columns: the prediction); a regressor's the residuals (``label - prediction``) by decile of the
prediction. Curves are downsampled to at most :data:`MAX_POINTS` points (the ends kept).

**Size bound**: the file is at most :data:`MAX_BYTES` (256 KiB); the census demo's is 15 KB
(15,073 bytes). :func:`read_evidence` refuses anything larger before reading it, and checks
every key, type, length and number (finite) before handing the evidence over, so an export
made by hand cannot crash the console: each refusal is an
:class:`~mlengine.errors.ExportFormatError` naming the key
(``evidence.json: curves.roc.fpr[3] must be a finite number``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlengine.errors import ExportFormatError
from mlengine.export.members import EVIDENCE_FILE, EVIDENCE_MAX_BYTES, MEMBERS_KEY, read_member

#: The member kind and its file, at the export's root.
MEMBER = "evidence"
#: The version of this file's layout (``format``).
EVIDENCE_FORMAT = 1
#: The largest evidence file read or written.
MAX_BYTES = EVIDENCE_MAX_BYTES
#: The most points of one curve and of one history series.
MAX_POINTS = 200
#: The most real instances kept.
MAX_INSTANCES = 5
#: The most classes of a confusion matrix (larger heads record none).
MAX_CLASSES = 64
#: The most metrics, history series, features of an instance, and importances.
MAX_KEYS = 256
MAX_IMPORTANCES = 1000
#: The most characters of a name or a string value.
MAX_TEXT = 1024
CALIBRATION_BINS = 10
DECILES = 10

CURVES = ("roc", "pr", "calibration", "confusion", "residuals")


@dataclass(frozen=True)
class Evidence:
    """An export's evidence, checked: every field holds plain JSON values (see the module).

    Attributes:
        evaluated: whether the model was evaluated before export.
        reason: why not, in plain words (None when evaluated).
        evaluation: ``{"global_step": int, "metrics": {name: float}}`` or None.
        curves: the curves present, by name (``roc``, ``pr``, ``calibration``, ``confusion``,
            ``residuals``).
        history: ``{"train": {tag: [[step, value], ...]}, "eval": {...}}``.
        instances: up to five real rows of evaluation data, as JSON instances.
        importances: ``{"method": str, "features": [{"name", "importance"}]}`` or None.
        model_dir: the training run's directory when it was known at export (for TensorBoard).
    """

    evaluated: bool
    reason: str | None
    evaluation: dict[str, Any] | None
    curves: dict[str, Any]
    history: dict[str, dict[str, list[list[float]]]]
    instances: list[dict[str, Any]]
    importances: dict[str, Any] | None
    model_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The evidence as ``evidence.json`` holds it."""
        return {
            "format": EVIDENCE_FORMAT,
            "evaluated": self.evaluated,
            "reason": self.reason,
            "evaluation": self.evaluation,
            "curves": self.curves,
            "history": self.history,
            "instances": self.instances,
            "importances": self.importances,
            "model_dir": self.model_dir,
        }


# -- checking ------------------------------------------------------------------------------


def _fail(where: str, message: str) -> ExportFormatError:
    return ExportFormatError(f"{EVIDENCE_FILE}: {where} {message}")


def _object(value: Any, where: str, max_keys: int = MAX_KEYS) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"must be an object; got {type(value).__name__}.")
    if len(value) > max_keys:
        raise _fail(where, f"has {len(value)} keys; at most {max_keys} are allowed.")
    return value


def _list(value: Any, where: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"must be a list; got {type(value).__name__}.")
    if len(value) > max_items:
        raise _fail(where, f"has {len(value)} items; at most {max_items} are allowed.")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must be a string; got {type(value).__name__}.")
    if len(value) > MAX_TEXT:
        raise _fail(where, f"has {len(value)} characters; at most {MAX_TEXT} are allowed.")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"must be a finite number; got {value!r}.")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(where, f"must be an int >= 0; got {value!r}.")
    return value


def _numbers(value: Any, where: str, max_items: int = MAX_POINTS) -> list[float]:
    return [_number(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where, max_items))]


def _same_length(entry: Mapping[str, list[Any]], where: str) -> None:
    lengths = {key: len(values) for key, values in entry.items()}
    if len(set(lengths.values())) > 1:
        raise _fail(where, f"must hold lists of one length; got {lengths}.")


def _rows(
    value: Any, where: str, max_items: int, ints: tuple[str, ...], floats: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(_list(value, where, max_items)):
        here = f"{where}[{i}]"
        row = _object(row, here)
        checked: dict[str, Any] = {k: _count(row.get(k), f"{here}.{k}") for k in ints}
        checked.update({k: _number(row.get(k), f"{here}.{k}") for k in floats})
        rows.append(checked)
    return rows


def _check_curves(value: Any) -> dict[str, Any]:
    curves = _object(value, "curves")
    unknown = sorted(set(curves) - set(CURVES))
    if unknown:
        raise _fail("curves", f"has unknown curves {unknown}; known: {list(CURVES)}.")
    out: dict[str, Any] = {}
    if "roc" in curves:
        roc = _object(curves["roc"], "curves.roc")
        out["roc"] = {k: _numbers(roc.get(k), f"curves.roc.{k}") for k in ("fpr", "tpr")}
        out["roc"]["thresholds"] = _numbers(roc.get("thresholds"), "curves.roc.thresholds")
        _same_length(out["roc"], "curves.roc")
        out["roc"]["auc"] = _number(roc.get("auc"), "curves.roc.auc")
    if "pr" in curves:
        pr = _object(curves["pr"], "curves.pr")
        out["pr"] = {
            k: _numbers(pr.get(k), f"curves.pr.{k}") for k in ("recall", "precision", "thresholds")
        }
        _same_length(out["pr"], "curves.pr")
    if "calibration" in curves:
        out["calibration"] = _rows(
            curves["calibration"],
            "curves.calibration",
            MAX_POINTS,
            ("count",),
            ("lower", "upper", "mean_predicted", "fraction_positive"),
        )
    if "confusion" in curves:
        confusion = _object(curves["confusion"], "curves.confusion")
        labels = [
            _text(v, f"curves.confusion.labels[{i}]")
            for i, v in enumerate(
                _list(confusion.get("labels"), "curves.confusion.labels", MAX_CLASSES)
            )
        ]
        matrix = _list(confusion.get("matrix"), "curves.confusion.matrix", MAX_CLASSES)
        rows = []
        for i, row in enumerate(matrix):
            cells = _list(row, f"curves.confusion.matrix[{i}]", MAX_CLASSES)
            if len(cells) != len(labels):
                raise _fail(f"curves.confusion.matrix[{i}]", f"must have {len(labels)} cells.")
            rows.append(
                [_count(c, f"curves.confusion.matrix[{i}][{j}]") for j, c in enumerate(cells)]
            )
        if len(rows) != len(labels):
            raise _fail("curves.confusion.matrix", f"must have {len(labels)} rows.")
        threshold = confusion.get("threshold")
        out["confusion"] = {
            "threshold": None
            if threshold is None
            else _number(threshold, "curves.confusion.threshold"),
            "labels": labels,
            "matrix": rows,
        }
    if "residuals" in curves:
        out["residuals"] = _rows(
            curves["residuals"],
            "curves.residuals",
            MAX_POINTS,
            ("decile", "count"),
            ("mean_prediction", "mean_label", "mean_residual"),
        )
    return out


def _check_history(value: Any) -> dict[str, dict[str, list[list[float]]]]:
    history = _object(value, "history")
    out: dict[str, dict[str, list[list[float]]]] = {}
    for part in ("train", "eval"):
        series = _object(history.get(part, {}), f"history.{part}")
        out[part] = {}
        for tag, points in series.items():
            where = f"history.{part}.{_text(tag, f'history.{part} tag')}"
            checked = []
            for i, point in enumerate(_list(points, where, MAX_POINTS)):
                pair = _list(point, f"{where}[{i}]", 2)
                if len(pair) != 2:
                    raise _fail(f"{where}[{i}]", "must be a [step, value] pair.")
                checked.append(
                    [_count(pair[0], f"{where}[{i}][0]"), _number(pair[1], f"{where}[{i}][1]")]
                )
            out[part][tag] = checked
    return out


def _check_instances(value: Any) -> list[dict[str, Any]]:
    instances = []
    for i, row in enumerate(_list(value, "instances", MAX_INSTANCES)):
        row = _object(row, f"instances[{i}]")
        checked: dict[str, Any] = {}
        for key, item in row.items():
            where = f"instances[{i}].{_text(key, f'instances[{i}] key')}"
            if isinstance(item, str):
                checked[key] = _text(item, where)
            elif item is None or isinstance(item, bool):
                checked[key] = item
            elif isinstance(item, int | float):
                checked[key] = item if isinstance(item, int) else _number(item, where)
            elif isinstance(item, list):  # a multi-valued feature: scalars only
                values = _list(item, where, MAX_KEYS)
                for j, v in enumerate(values):
                    if isinstance(v, str):
                        _text(v, f"{where}[{j}]")
                    else:
                        _number(v, f"{where}[{j}]")
                checked[key] = values
            else:
                raise _fail(
                    where, f"must be a string, a number or a list; got {type(item).__name__}."
                )
        instances.append(checked)
    return instances


def _check_importances(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    importances = _object(value, "importances")
    features = _rows_named(importances.get("features"))
    return {"method": _text(importances.get("method"), "importances.method"), "features": features}


def _rows_named(value: Any) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(_list(value, "importances.features", MAX_IMPORTANCES)):
        row = _object(row, f"importances.features[{i}]")
        rows.append(
            {
                "name": _text(row.get("name"), f"importances.features[{i}].name"),
                "importance": _number(
                    row.get("importance"), f"importances.features[{i}].importance"
                ),
            }
        )
    return rows


def check_evidence(data: Any) -> Evidence:
    """``data`` (parsed ``evidence.json``) checked against the layout and the limits.

    Raises:
        ExportFormatError: naming the first key that is missing, of the wrong type, too long
            or not a finite number.
    """
    data = _object(data, "the document")
    if data.get("format") != EVIDENCE_FORMAT:
        raise _fail("format", f"must be {EVIDENCE_FORMAT}; got {data.get('format')!r}.")
    evaluated = data.get("evaluated")
    if not isinstance(evaluated, bool):
        raise _fail("evaluated", f"must be true or false; got {evaluated!r}.")
    reason = data.get("reason")
    if reason is not None:
        reason = _text(reason, "reason")
    if not evaluated and not reason:
        raise _fail("reason", "must say why the model was never evaluated.")
    evaluation = data.get("evaluation")
    if evaluation is not None:
        evaluation = _object(evaluation, "evaluation")
        metrics = _object(evaluation.get("metrics"), "evaluation.metrics")
        evaluation = {
            "global_step": _count(evaluation.get("global_step"), "evaluation.global_step"),
            "metrics": {
                _text(k, "evaluation.metrics key"): _number(v, f"evaluation.metrics.{k}")
                for k, v in metrics.items()
            },
        }
    elif evaluated:
        raise _fail("evaluation", "must be an object when 'evaluated' is true.")
    model_dir = data.get("model_dir")
    return Evidence(
        evaluated=evaluated,
        reason=reason,
        evaluation=evaluation,
        curves=_check_curves(data.get("curves", {})),
        history=_check_history(data.get("history", {})),
        instances=_check_instances(data.get("instances", [])),
        importances=_check_importances(data.get("importances")),
        model_dir=None if model_dir is None else _text(model_dir, "model_dir"),
    )


def parse_evidence(data: bytes) -> Evidence:
    """Parse and check the bytes of an ``evidence.json``."""
    if len(data) > MAX_BYTES:
        raise _fail("the file", f"has {len(data)} bytes; at most {MAX_BYTES} are allowed.")
    try:
        parsed = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExportFormatError(f"{EVIDENCE_FILE}: cannot be read as JSON ({exc}).") from None
    return check_evidence(parsed)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_evidence(export_dir: str | os.PathLike[str]) -> Evidence | None:
    """The evidence of the export at ``export_dir``, checked; None when it carries none
    (format 1, or written before evidence existed).

    Raises:
        ExportFormatError: the export, or its evidence, is damaged or breaks a limit (the
            message names the key).
    """
    from mlengine.export.predictor import read_manifest

    root = os.fspath(export_dir)
    entry = read_manifest(root)[MEMBERS_KEY].get(MEMBER)
    if entry is None:
        return None
    return parse_evidence(read_member(root, entry, f"{root}: member {MEMBER!r}"))


__all__ = [
    "CALIBRATION_BINS",
    "CURVES",
    "DECILES",
    "EVIDENCE_FILE",
    "EVIDENCE_FORMAT",
    "MAX_BYTES",
    "MAX_CLASSES",
    "MAX_IMPORTANCES",
    "MAX_INSTANCES",
    "MAX_KEYS",
    "MAX_POINTS",
    "MAX_TEXT",
    "MEMBER",
    "Evidence",
    "check_evidence",
    "parse_evidence",
    "read_evidence",
]
