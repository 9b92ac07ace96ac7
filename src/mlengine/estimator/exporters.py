"""Exporters for ``EvalSpec(exporters=...)``: Latest, Best and Final, with ``exports_to_keep``.

Each writes to ``<model_dir>/export/<name>/<timestamp>/`` and prunes the oldest numbered
folders beyond ``exports_to_keep`` (garbage collection only ever touches numeric folders).
``export_onnx=True`` (mlengine's, keyword-only) is handed to ``export_saved_model`` as its
own argument: a canned model's exports then also carry the portable ``model.onnx``.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from typing import Any

from mlengine.errors import InvalidParameterError


def _loss_smaller(best: dict[str, Any], current: dict[str, Any]) -> bool:
    """TF's default ``compare_fn``: the lower eval ``loss`` wins."""
    return float(current["loss"]) < float(best["loss"])


def prune_exports(export_dir: str, exports_to_keep: int | None) -> list[str]:
    """Delete numbered version folders beyond the newest ``exports_to_keep``; return them."""
    if not exports_to_keep or not os.path.isdir(export_dir):
        return []
    versions = sorted((int(n) for n in os.listdir(export_dir) if n.isdigit()), reverse=True)
    removed = [os.path.join(export_dir, str(v)) for v in versions[exports_to_keep:]]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


class Exporter:
    """Base exporter: a ``name`` and ``export(...)`` returning the export path or None."""

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Any = None,
        assets_extra: Any = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
        *,
        export_onnx: bool = False,
    ):
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise InvalidParameterError(
                f"The 'name' parameter of {type(self).__name__} must be a folder name. "
                f"Got {name!r}."
            )
        if exports_to_keep is not None and exports_to_keep < 1:
            raise InvalidParameterError(
                f"The 'exports_to_keep' parameter of {type(self).__name__} must be None or >= 1. "
                f"Got {exports_to_keep!r}."
            )
        if not isinstance(export_onnx, bool):
            raise InvalidParameterError(
                f"The 'export_onnx' parameter of {type(self).__name__} must be True or False. "
                f"Got {export_onnx!r}."
            )
        self.name = name
        self.serving_input_receiver_fn = serving_input_receiver_fn
        self.exports_to_keep = exports_to_keep
        self.export_onnx = export_onnx

    def _write(self, estimator: Any, export_path: str, checkpoint_path: str | None) -> str:
        path = estimator.export_saved_model(
            export_path,
            self.serving_input_receiver_fn,
            checkpoint_path=checkpoint_path,
            export_onnx=self.export_onnx,
        )
        prune_exports(export_path, self.exports_to_keep)
        return str(path)

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: dict[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        raise NotImplementedError


class LatestExporter(Exporter):
    """Export after every evaluation, keeping the newest ``exports_to_keep``."""

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: dict[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        return self._write(estimator, export_path, checkpoint_path)


class FinalExporter(Exporter):
    """Export once, after the final evaluation."""

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Any = None,
        assets_extra: Any = None,
        as_text: bool = False,
        *,
        export_onnx: bool = False,
    ):
        super().__init__(
            name,
            serving_input_receiver_fn,
            assets_extra,
            as_text,
            exports_to_keep=None,
            export_onnx=export_onnx,
        )

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: dict[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        if not is_the_final_export:
            return None
        return self._write(estimator, export_path, checkpoint_path)


class BestExporter(Exporter):
    """Export when an evaluation beats the best so far (by ``compare_fn``; default: lower loss)."""

    def __init__(
        self,
        name: str = "best_exporter",
        serving_input_receiver_fn: Any = None,
        event_file_pattern: str = "eval/*.tfevents.*",
        compare_fn: Callable[[dict[str, Any], dict[str, Any]], bool] = _loss_smaller,
        assets_extra: Any = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
        *,
        export_onnx: bool = False,
    ):
        super().__init__(
            name,
            serving_input_receiver_fn,
            assets_extra,
            as_text,
            exports_to_keep,
            export_onnx=export_onnx,
        )
        self.compare_fn = compare_fn
        self.best: dict[str, Any] | None = None

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: dict[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        loss = eval_result.get("loss")
        if loss is None or not math.isfinite(float(loss)):
            return None
        if self.best is not None and not self.compare_fn(self.best, eval_result):
            return None
        self.best = dict(eval_result)
        return self._write(estimator, export_path, checkpoint_path)
