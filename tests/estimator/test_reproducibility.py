"""What the README promises about reproducibility, checked as it is stated there.

On one machine, the same seed gives bit-identical weights and metrics whatever the thread
settings; across machines (other CPUs, BLAS kernels), ``make demo``'s metrics stay within the
README's tolerances of its figures. (How two kernels' weights and predictions may differ, step
by step, is checked by the comparisons that use tests/tolerance.py: the numpy training step
against torch's, the Predictor against the estimator.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits

from tests.helpers import census_example

README = Path(__file__).resolve().parents[2] / "README.md"
# make demo's training: `examples/census/wide_deep.py` with the Makefile's flags.
DEMO = ["--model-type", "wide_deep", "--columns", "demo", "--batch-size", "1024", "--quiet"]


def _readme_promise() -> dict[str, float]:
    """The demo's figures and their tolerances, as the README's reproducibility paragraph
    states them."""
    text = " ".join(README.read_text().split())
    figures = re.search(r"`make demo` gives ([\d.]+) accuracy and ([\d.]+) AUC", text)
    within = re.search(r"within ([\d.]+) \(accuracy\) and ([\d.]+) \(AUC\)", text)
    assert figures and within, "the README's reproducibility paragraph changed: update this test"
    accuracy, auc = map(float, figures.groups())
    accuracy_within, auc_within = map(float, within.groups())
    return {
        "accuracy": accuracy,
        "auc": auc,
        "accuracy_within": accuracy_within,
        "auc_within": auc_within,
    }


def _demo(base: Path, epochs: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The demo's run for ``epochs`` epochs (evaluated every 4): its summary and weights."""
    summary = census_example().main(
        [*DEMO, "--train-epochs", str(epochs), "--epochs-between-evals", str(min(4, epochs)),
         "--model-dir", str(base / "model"), "--export-dir", str(base / "exports")]
    )  # fmt: skip
    return summary, load_file(str(Path(summary["export"]) / "variables" / "variables.safetensors"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_make_demo_gives_the_readmes_figures_on_any_machine(tmp_path: Path) -> None:
    promise = _readme_promise()
    summary, _ = _demo(tmp_path, epochs=20)
    assert summary["global_step"] == 640  # 20 epochs of 32,561 rows at batch 1024
    assert abs(summary["accuracy"] - promise["accuracy"]) <= promise["accuracy_within"]
    assert abs(summary["auc"] - promise["auc"]) <= promise["auc_within"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_same_seed_gives_bit_identical_weights_whatever_the_thread_settings(
    tmp_path: Path,
) -> None:
    previous = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):  # the process's own settings, for torch and for the BLAS
            torch.set_num_threads(threads)
            with threadpool_limits(threads):
                runs.append(_demo(tmp_path / str(threads), epochs=4))
    finally:
        torch.set_num_threads(previous)
    (summary, weights), (other_summary, other_weights) = runs
    for key in ("accuracy", "auc", "global_step"):
        assert other_summary[key] == summary[key], key
    assert other_weights.keys() == weights.keys()
    for name, value in weights.items():
        np.testing.assert_array_equal(other_weights[name], value, err_msg=name)
