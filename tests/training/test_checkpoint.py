"""Tests of mlengine.training.checkpoint: round trips, pruning, crash leftovers, SIGKILL."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import mlengine
from mlengine.errors import CheckpointError, InvalidParameterError
from mlengine.training.checkpoint import (
    INDEX_FILE,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    tensors_under,
)


def small_tensors(step: int) -> dict[str, torch.Tensor]:
    return {"model/w": torch.full((3, 2), float(step)), "model/b": torch.tensor([step])}


def names(paths: list[str]) -> list[str]:
    return [os.path.basename(p) for p in paths]


def test_round_trip(tmp_path: Path) -> None:
    weight = torch.arange(12.0).reshape(3, 4).t()  # not contiguous
    tensors = {
        "model/w": weight,
        "model/w_tied": weight,  # shares storage with model/w
        "model/ids": torch.tensor([1, 2, 3], dtype=torch.int64),
        "model/mask": torch.tensor([True, False]),
        "model/scalar": torch.tensor(2.5, dtype=torch.float64),
        "model/empty": torch.zeros(0, 5),
    }
    manifest = {"config": {"hidden_units": [8, 4]}, "fingerprint": "abc"}
    path = save_checkpoint(tmp_path, 100, tensors, manifest)
    assert path == os.path.join(tmp_path, "ckpt-100")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt-100.json", "ckpt-100.safetensors"]
    for form in (path, path + ".json", path + ".safetensors", Path(path)):
        loaded, loaded_manifest = load_checkpoint(form)
        assert loaded.keys() == tensors.keys()
        for name, value in tensors.items():
            assert loaded[name].dtype == value.dtype
            assert torch.equal(loaded[name], value)
        assert loaded_manifest["global_step"] == 100
        assert loaded_manifest["config"] == {"hidden_units": [8, 4]}
        assert loaded_manifest["fingerprint"] == "abc"
        assert loaded_manifest["weights_file"] == "ckpt-100.safetensors"
        assert abs(loaded_manifest["created"] - time.time()) < 60
    under = tensors_under(loaded, "model/w")
    assert sorted(under) == ["", "_tied"]
    assert torch.equal(under[""], weight) and torch.equal(under["_tied"], weight)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert index == {"latest": "ckpt-100", "all": ["ckpt-100"]}
    assert latest_checkpoint(tmp_path) == path


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="global_step"):
        save_checkpoint(tmp_path, -1, small_tensors(1))
    with pytest.raises(InvalidParameterError, match="keep_checkpoint_max"):
        save_checkpoint(tmp_path, 1, small_tensors(1), keep_checkpoint_max=-2)
    with pytest.raises(InvalidParameterError, match="reserved"):
        save_checkpoint(tmp_path, 1, small_tensors(1), {"global_step": 3})
    with pytest.raises(InvalidParameterError, match="strict JSON"):
        save_checkpoint(tmp_path, 1, small_tensors(1), {"loss": float("nan")})
    with pytest.raises(InvalidParameterError, match="str names to tensors"):
        save_checkpoint(tmp_path, 1, {"model/w": [1.0, 2.0]})  # type: ignore[dict-item]
    assert latest_checkpoint(tmp_path) is None


def test_keep_checkpoint_max_prunes_the_oldest(tmp_path: Path) -> None:
    for step in (10, 20, 30, 40, 50):
        save_checkpoint(tmp_path, step, small_tensors(step), keep_checkpoint_max=3)
    assert names(list_checkpoints(tmp_path)) == ["ckpt-30", "ckpt-40", "ckpt-50"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["checkpoint"]
        + [f"ckpt-{s}.{ext}" for s in (30, 40, 50) for ext in ("json", "safetensors")]
    )
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert index == {"latest": "ckpt-50", "all": ["ckpt-30", "ckpt-40", "ckpt-50"]}
    for step in (60, 70):
        save_checkpoint(tmp_path, step, small_tensors(step), keep_checkpoint_max=None)
    assert names(list_checkpoints(tmp_path)) == [
        "ckpt-30",
        "ckpt-40",
        "ckpt-50",
        "ckpt-60",
        "ckpt-70",
    ]
    save_checkpoint(tmp_path, 80, small_tensors(80), keep_checkpoint_max=0)  # 0 keeps all
    assert len(list_checkpoints(tmp_path)) == 6
    # steps sort numerically, not as strings
    save_checkpoint(tmp_path, 100, small_tensors(100), keep_checkpoint_max=1)
    assert names(list_checkpoints(tmp_path)) == ["ckpt-100"]


def test_resaving_a_step_replaces_it(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 5, small_tensors(1), {"run": 1})
    save_checkpoint(tmp_path, 5, small_tensors(2), {"run": 2})
    tensors, manifest = load_checkpoint(latest_checkpoint(tmp_path) or "")
    assert manifest["run"] == 2
    assert torch.equal(tensors["model/b"], torch.tensor([2]))


def test_latest_falls_back_over_crash_leftovers(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 1, small_tensors(1))
    good = save_checkpoint(tmp_path, 2, small_tensors(2))
    # a crash while writing step 3's weights: the temporary file is left behind
    (tmp_path / ".ckpt-3.safetensors.tmp-999-abcd").write_bytes(b"\x00" * 10)
    # step 4: weights renamed into place, then killed before the manifest
    save_checkpoint(tmp_path / "other", 4, small_tensors(4))
    os.replace(tmp_path / "other" / "ckpt-4.safetensors", tmp_path / "ckpt-4.safetensors")
    # step 5: a complete checkpoint whose weights were later truncated
    save_checkpoint(tmp_path, 5, small_tensors(5), keep_checkpoint_max=None)
    with open(tmp_path / "ckpt-5.safetensors", "r+b") as f:
        f.truncate(40)
    # step 6: a manifest whose weights are missing
    save_checkpoint(tmp_path, 6, small_tensors(6), keep_checkpoint_max=None)
    os.unlink(tmp_path / "ckpt-6.safetensors")
    # step 7: a truncated manifest; step 8: a manifest that is not ours
    save_checkpoint(tmp_path, 7, small_tensors(7), keep_checkpoint_max=None)
    (tmp_path / "ckpt-7.json").write_text((tmp_path / "ckpt-7.json").read_text()[:30])
    (tmp_path / "ckpt-8.json").write_text('{"global_step": 8}')
    (tmp_path / "ckpt-x.json").write_text("not a step")

    assert latest_checkpoint(tmp_path) == good
    assert names(list_checkpoints(tmp_path)) == ["ckpt-1", "ckpt-2"]
    tensors, manifest = load_checkpoint(good)
    assert manifest["global_step"] == 2
    assert torch.equal(tensors["model/w"], torch.full((3, 2), 2.0))
    with pytest.raises(CheckpointError, match=r"ckpt-5\.safetensors.*truncated"):
        load_checkpoint(tmp_path / "ckpt-5")
    with pytest.raises(CheckpointError, match=r"ckpt-6\.safetensors"):
        load_checkpoint(tmp_path / "ckpt-6")
    with pytest.raises(CheckpointError, match=r"ckpt-7\.json"):
        load_checkpoint(tmp_path / "ckpt-7")
    with pytest.raises(CheckpointError, match=r"ckpt-9\.json does not exist"):
        load_checkpoint(tmp_path / "ckpt-9")

    # the next save removes the temporary file and the orphan weights of step 4
    save_checkpoint(tmp_path, 3, small_tensors(3), keep_checkpoint_max=None)
    assert not (tmp_path / ".ckpt-3.safetensors.tmp-999-abcd").exists()
    assert not (tmp_path / "ckpt-4.safetensors").exists()
    assert latest_checkpoint(tmp_path) == os.path.join(tmp_path, "ckpt-3")


def test_a_pickle_renamed_safetensors_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 1, small_tensors(1))
    payload = pickle.dumps({"model/w": torch.ones(2)})
    (tmp_path / "ckpt-1.safetensors").write_bytes(payload)
    with pytest.raises(CheckpointError, match=r"ckpt-1\.safetensors"):
        load_checkpoint(tmp_path / "ckpt-1")
    # even with a manifest that vouches for the pickle's size and hash, it is not parsed
    manifest_path = tmp_path / "ckpt-1.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["weights_bytes"] = len(payload)
    manifest["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"ckpt-1\.safetensors are not safetensors"):
        load_checkpoint(tmp_path / "ckpt-1")


def test_a_flipped_byte_is_detected(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, 1, {"model/w": torch.zeros(100)})
    data = bytearray((tmp_path / "ckpt-1.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "ckpt-1.safetensors").write_bytes(bytes(data))
    assert latest_checkpoint(tmp_path) == path  # same size: only loading can tell
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(path)


# ---------------------------------------------------------------- optimizers


class CustomOptimizer(torch.optim.Optimizer):
    """SGD with a velocity tensor, a Python-int counter and a nested dict of tensors."""

    def __init__(self, params: Any, lr: float = 0.1, betas: tuple[float, float] = (0.5, 0.9)):
        super().__init__(params, {"lr": lr, "betas": betas, "clip": float("inf")})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                    state["count"] = 0
                    state["extra"] = {"last_grad": torch.zeros_like(p), "note": (1, 2.5)}
                state["velocity"].mul_(group["betas"][0]).add_(p.grad)
                state["count"] += 1
                state["extra"]["last_grad"].copy_(p.grad)
                p.sub_(group["lr"] * state["velocity"])


def train_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    gen = torch.Generator().manual_seed(steps)
    for _ in range(steps):
        x = torch.randn(8, 4, generator=gen)
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95)),
        lambda p: CustomOptimizer(p),
    ],
    ids=["adagrad", "adam", "custom"],
)
def test_optimizer_round_trip_resumes_exactly(tmp_path: Path, make: Any) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    optimizer = make(model.parameters())
    train_steps(model, optimizer, 3)
    saved_groups = copy.deepcopy(optimizer.state_dict()["param_groups"])
    opt_tensors, structure = optimizer_state_to_tensors(optimizer.state_dict(), "optimizer/0/")
    assert opt_tensors and all(name.startswith("optimizer/0/state/") for name in opt_tensors)
    model_tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    path = save_checkpoint(
        tmp_path, 3, {**model_tensors, **opt_tensors}, {"optimizers": [structure]}
    )

    # the reference continues training in memory
    train_steps(model, optimizer, 2)
    expected = [p.detach().clone() for p in model.parameters()]

    tensors, manifest = load_checkpoint(path)
    torch.manual_seed(1)
    restored_model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    restored_model.load_state_dict(tensors_under(tensors, "model/"))
    restored = make(restored_model.parameters())
    state_dict = optimizer_state_from_tensors(tensors, manifest["optimizers"][0])
    restored.load_state_dict(state_dict)
    assert restored.state_dict()["param_groups"] == saved_groups
    train_steps(restored_model, restored, 2)
    for got, want in zip(restored_model.parameters(), expected, strict=True):
        assert torch.equal(got, want)
    if isinstance(restored, torch.optim.Adam):
        first = next(iter(restored.state.values()))
        assert isinstance(first["step"], torch.Tensor) and float(first["step"]) == 5.0
        assert restored.param_groups[0]["betas"] == (0.8, 0.95)
    if isinstance(restored, CustomOptimizer):
        first = next(iter(restored.state.values()))
        assert first["count"] == 5 and first["extra"]["note"] == (1, 2.5)
        assert restored.param_groups[0]["clip"] == float("inf")


def test_unstorable_optimizer_state_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="'opt/state/0/fn'"):
        optimizer_state_to_tensors({"state": {0: {"fn": object()}}, "param_groups": []}, "opt/")
    with pytest.raises(CheckpointError, match="lacks optimizer tensor"):
        _, structure = optimizer_state_to_tensors({"state": {0: {"t": torch.ones(1)}}}, "o/")
        optimizer_state_from_tensors({}, structure)


# ---------------------------------------------------------------- random number generators


def test_rng_state_round_trip(tmp_path: Path) -> None:
    generator = np.random.default_rng(42)
    tensors, info = rng_state(generator)
    assert tensors["rng/torch"].dtype == torch.uint8
    path = save_checkpoint(tmp_path, 1, tensors, {"rng": info})
    expected_torch, expected_numpy = torch.rand(5), generator.random(5)

    loaded, manifest = load_checkpoint(path)
    other = np.random.default_rng(0)
    torch.manual_seed(123)
    restore_rng_state(loaded, manifest["rng"], other)
    assert torch.equal(torch.rand(5), expected_torch)
    assert np.array_equal(other.random(5), expected_numpy)

    legacy = np.random.Generator(np.random.MT19937(7))  # a state holding a numpy array
    _, info = rng_state(legacy)
    expected = legacy.random(3)
    json_info = json.loads(json.dumps(info))
    fresh = np.random.Generator(np.random.MT19937(0))
    restore_rng_state({}, json_info, fresh)
    assert np.array_equal(fresh.random(3), expected)


# ---------------------------------------------------------------- SIGKILL at random moments

WRITER = """
import sys, torch
from mlengine.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
model_dir = sys.argv[1]
latest = latest_checkpoint(model_dir)
step = 0 if latest is None else load_checkpoint(latest)[1]["global_step"]
gen = torch.Generator().manual_seed(step)
while True:
    step += 1
    n = 1 + int(torch.randint(0, 2_000_000, (1,), generator=gen))
    tensors = {"model/w": torch.full((n,), float(step)), "model/step": torch.tensor(step)}
    save_checkpoint(model_dir, step, tensors, {"n": n}, keep_checkpoint_max=3)
"""


def test_sigkill_at_random_moments_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    rng = random.Random(2024)
    src = str(Path(mlengine.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    last_step = 0
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while (latest := latest_checkpoint(tmp_path)) is None or latest.endswith(
                f"ckpt-{last_step}"
            ):  # wait until this run has saved at least one new checkpoint
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the writer made no progress in 60 s"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            if proc.stderr:
                proc.stderr.close()
        latest = latest_checkpoint(tmp_path)
        assert latest is not None
        tensors, manifest = load_checkpoint(latest)
        step = manifest["global_step"]
        assert step > last_step
        assert tensors["model/w"].numel() == manifest["n"]
        assert torch.all(tensors["model/w"] == float(step))
        assert int(tensors["model/step"]) == step
        assert 1 <= len(list_checkpoints(tmp_path)) <= 4
        last_step = step
