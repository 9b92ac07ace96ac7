"""A custom estimator against the canned one of the same shape, in one run.

Run: ``.venv/bin/python benchmarks/custom_estimator.py``

1. Training examples/s at batch 256 on the census training set: DNNClassifier(hidden_units=
   [64, 32]) against ModuleEstimator over your own module of the same shape (DenseFeatures ->
   64 -> 32 -> logit), same columns, same Adagrad; after a warm-up epoch each, epochs
   alternate between the two, and the medians (wall-clock, which each train() call's
   checkpoint and its fsync are part of, and CPU time) and the median per-round ratio print.
2. Prediction: one instance (median latency) and 1,000-row batches (rows/s) through the
   Predictor of the custom model's export (onnxruntime) and of the canned export (numpy).
3. The custom model's probabilities for the talk's two instances.

The custom module is DenseFeatures -> Linear -> relu -> Linear -> relu -> Linear, which
ModuleEstimator trains in numpy (``mlengine.training.module_step``), as the canned DNN is.

``--profile`` prints instead where a training step's CPU time goes, one torch thread, on the
same 120 batches, medians of 7 interleaved rounds: the ModuleEstimator step whole, its numpy
step (forward, the loss's gradient, backward) and + the optimizer's update; the same step
through autograd (the numpy step turned off: what a module outside its scope costs), whole
and in parts (the module's forward, + the head's loss, + backward, + the update); and the
canned DNNClassifier's numpy step (forward, backward and update) on its own encoding of the
same rows.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "census"))

from wide_deep import build_model_columns  # noqa: E402

from mlengine import estimator  # noqa: E402
from mlengine.data import census  # noqa: E402
from mlengine.export import load  # noqa: E402
from mlengine.training import module_step  # noqa: E402

CENSUS_JSON = Path(__file__).resolve().parent.parent / "examples" / "census" / "census.json"


class TwoLayers(torch.nn.Module):
    def __init__(self, columns: list) -> None:
        super().__init__()
        self.inputs = estimator.DenseFeatures(columns)
        self.hidden1 = torch.nn.Linear(self.inputs.output_dim, 64)
        self.hidden2 = torch.nn.Linear(64, 32)
        self.logits = torch.nn.Linear(32, 1)

    def forward(self, features: object) -> torch.Tensor:
        x = torch.relu(self.hidden1(self.inputs(features)))
        return self.logits(torch.relu(self.hidden2(x)))


def epoch_seconds(model: estimator.Estimator, x: object, y: object) -> tuple[float, float]:
    """One epoch of training at batch 256: wall-clock and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=256, shuffle=True, seed=1))
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(
    canned: estimator.Estimator, custom: estimator.Estimator, x: object, y: object, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """Epochs of the two, alternating (after a warm-up epoch each), so that the machine's
    swings in speed fall on both alike."""
    epoch_seconds(canned, x, y)
    epoch_seconds(custom, x, y)
    times: dict[str, list[tuple[float, float]]] = {"canned": [], "custom": []}
    for _ in range(rounds):
        times["canned"].append(epoch_seconds(canned, x, y))
        times["custom"].append(epoch_seconds(custom, x, y))
    return times


def latency(predictor: object, instance: dict) -> float:
    times = []
    for _ in range(300):
        start = time.perf_counter()
        predictor.predict_instances([instance])  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def rows_per_second(predictor: object, rows: object) -> float:
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for i in range(0, 16000, 1000):
            predictor.predict(rows.iloc[i : i + 1000])  # type: ignore[attr-defined]
        best = max(best, 16000 / (time.perf_counter() - start))
    return best


def profile_steps(
    canned: estimator.Estimator,
    custom: estimator.Estimator,
    autograd: estimator.Estimator,
    x: object,
    y: object,
) -> None:
    """``--profile``: the step's parts in CPU microseconds (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    from mlengine.training.fast_step import FastUpdater, backward
    from mlengine.training.numpy_step import build
    from mlengine.training.pipeline import encoded_batches

    torch.set_num_threads(1)
    fn = estimator.inputs.pandas_input_fn(x, y, batch_size=256, shuffle=True, seed=1)
    canned.train(fn, steps=1)
    custom.train(fn, steps=1)
    autograd.train(fn, steps=1)
    batches = list(custom._batches(fn, need_labels=True))[:120]  # type: ignore[attr-defined]
    with mock.patch.object(module_step, "build", lambda *args: None):
        autograd._train_step(batches[0])  # type: ignore[attr-defined]
    custom._train_step(batches[0])  # type: ignore[attr-defined]
    numpy_step = custom._module_step  # type: ignore[attr-defined]
    assert numpy_step is not None and autograd._module_step is None  # type: ignore[attr-defined]
    module, head, updater = autograd._module, autograd._head, autograd._updater  # type: ignore[attr-defined]
    model = canned._session.model  # type: ignore[attr-defined]
    encoded = list(encoded_batches(fn, canned._encoder(model), need_labels=True))[:120]  # type: ignore[attr-defined]
    canned_step = build(model.network, model.head)
    assert canned_step is not None
    canned_updater = FastUpdater(list(canned._session.optimizers.values()), grads="keep")  # type: ignore[attr-defined]

    def clear() -> None:
        for param in module.parameters():
            param.grad = None

    def parts(depth: int) -> None:
        for batch in batches:
            logits = module(batch.features)
            if depth >= 1:
                loss = head.loss(logits, batch.labels.tensor, None)
            if depth >= 2:
                backward(loss)
            if depth >= 3:
                updater.step()
        clear()

    def numpy_parts(update: bool) -> None:
        for batch in batches:
            numpy_step(batch.features, batch.labels.tensor)
            if update:
                custom._updater.step()  # type: ignore[attr-defined]

    def canned_steps() -> None:
        for batch in encoded:
            canned_step(batch)
            canned_updater.step()

    runs: dict[str, Callable[[], None]] = {
        "ModuleEstimator step, whole": lambda: [custom._train_step(b) for b in batches],  # type: ignore[attr-defined]
        "its numpy step (forward, loss gradient, backward)": lambda: numpy_parts(False),
        "+ update": lambda: numpy_parts(True),
        "ModuleEstimator step through autograd, whole": lambda: [
            autograd._train_step(b)  # type: ignore[attr-defined]
            for b in batches
        ],
        "autograd: module forward": lambda: parts(0),
        "autograd: + head loss": lambda: parts(1),
        "autograd: + backward": lambda: parts(2),
        "autograd: + update": lambda: parts(3),
        "canned numpy step (forward, backward, update)": canned_steps,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    with threadpool_limits(1, user_api="blas"):  # numpy's BLAS as training runs it: 1 thread
        for _ in range(7):
            for name, run in runs.items():
                start = time.process_time()
                run()
                times[name].append((time.process_time() - start) / len(batches) * 1e6)
    for name, values in times.items():
        print(f"{name}: {statistics.median(values):.0f} us of CPU a step (batch 256)")


def main() -> None:
    x, y = census.load("train")
    _, deep = build_model_columns()
    config = estimator.RunConfig(tf_random_seed=1, quiet=True)
    canned = estimator.DNNClassifier(
        hidden_units=[64, 32], feature_columns=deep, model_dir=tempfile.mkdtemp(), config=config
    )
    custom = estimator.ModuleEstimator(
        TwoLayers(deep), estimator.binary_classification_head(), "Adagrad",
        model_dir=tempfile.mkdtemp(), config=config,
    )  # fmt: skip
    if "--profile" in sys.argv[1:]:
        autograd = estimator.ModuleEstimator(
            TwoLayers(deep), estimator.binary_classification_head(), "Adagrad",
            model_dir=tempfile.mkdtemp(), config=config,
        )  # fmt: skip
        profile_steps(canned, custom, autograd, x, y)
        return
    rounds = 7
    times = interleaved(canned, custom, x, y, rounds)
    for index, clock in enumerate(("wall-clock", "CPU time")):
        canned_s = [t[index] for t in times["canned"]]
        custom_s = [t[index] for t in times["custom"]]
        ratios = [a / b for a, b in zip(canned_s, custom_s, strict=True)]
        print(
            f"training, batch 256, {clock}, median of {rounds} interleaved epochs: canned "
            f"DNNClassifier {len(y) / statistics.median(canned_s):,.0f} examples/s, custom module "
            f"{len(y) / statistics.median(custom_s):,.0f} examples/s; custom/canned "
            f"{statistics.median(ratios):.2f}x (per-round {min(ratios):.2f}-{max(ratios):.2f})"
        )
    canned_p = load(canned.export_saved_model(tempfile.mkdtemp()))
    custom_p = load(custom.export_saved_model(tempfile.mkdtemp()))
    instances = [json.loads(line) for line in CENSUS_JSON.read_text().splitlines() if line]
    x_test, _ = census.load("test")
    for name, predictor in (("canned numpy", canned_p), ("custom ONNX", custom_p)):
        print(
            f"{name}: one instance {latency(predictor, instances[0]):.0f} us median, "
            f"1,000-row batches {rows_per_second(predictor, x_test):,.0f} rows/s"
        )
    for instance, answer in zip(instances, custom_p.predict_instances(instances), strict=True):
        print("custom ONNX probabilities", answer["probabilities"], "for age", instance["age"])


if __name__ == "__main__":
    main()
