"""Fixtures of the façade tests: small census and iris files in the layouts real TF programs
read, and a runner for the acceptance programs of ``programs/``."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CENSUS = REPO / "src" / "mlengine" / "data" / "census_files"
PROGRAMS = Path(__file__).resolve().parent / "programs"
TRAIN_ROWS, TEST_ROWS = 4000, 1500


def _lines(name: str) -> list[str]:
    with gzip.open(CENSUS / name, "rt", encoding="utf-8") as handle:
        return [line for line in handle.read().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def census_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Slices of UCI Adult in three layouts: ``raw`` as UCI ships it (", " separators, the test
    file's header line and trailing dots), ``cloudml`` (raw train; test without header and
    dots, as cloudml-samples hosted it) and ``clean`` (TF's official census program's cleaning:
    "," separators, no dots)."""
    root = tmp_path_factory.mktemp("census")
    train = _lines("adult.data.gz")[:TRAIN_ROWS]
    test_raw = _lines("adult.test.gz")[: TEST_ROWS + 1]
    test_cloudml = [line.rstrip(".") for line in test_raw[1:]]
    files = {
        "raw_train": train,
        "raw_test": test_raw,
        "cloudml_train": train,
        "cloudml_test": test_cloudml,
        "clean_train": [line.replace(", ", ",") for line in train],
        "clean_test": [line.replace(", ", ",") for line in test_cloudml],
    }
    out = {}
    for name, lines in files.items():
        path = root / f"{name}.csv"
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        out[name] = path
    return out


@pytest.fixture(scope="session")
def iris_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Iris-like data in TF's iris_training.csv layout (a header "N,4,setosa,versicolor,
    virginica", then four measurements and the species id): three Gaussian classes around
    the real species' mean measurements."""
    root = tmp_path_factory.mktemp("iris")
    rng = np.random.default_rng(0)
    means = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    spread = np.array([0.35, 0.35, 0.45, 0.2])
    out = {}
    for name, per_class in (("train", 40), ("test", 10)):
        labels = np.repeat(np.arange(3), per_class)
        rows = means[labels] + rng.normal(0.0, 1.0, (len(labels), 4)) * spread
        order = rng.permutation(len(labels))
        lines = [f"{len(labels)},4,setosa,versicolor,virginica"]
        lines += [",".join(f"{v:.1f}" for v in rows[i]) + f",{labels[i]}" for i in order]
        path = root / f"iris_{name}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[name] = path
    return out


def run_program(name: str, *args: str, cwd: Path, timeout: float = 240) -> str:
    """Run ``programs/<name>`` as its own process (a ported TF program), return its output."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for key in ("MLENGINE_DATABASE_URL", "MLENGINE_ARTIFACT_ROOT"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, str(PROGRAMS / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{output[-4000:]}"
    return output


def printed_metrics(output: str) -> dict[str, float]:
    """``key: value`` lines a program printed (the TF programs' ``for key in sorted(...)``)."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        key, _, value = line.partition(": ")
        try:
            found[key.strip()] = float(value)
        except ValueError:
            continue
    return found
