"""SIGKILL at any moment leaves a model_dir that the next ``train`` resumes from.

A real subprocess trains a small model in an endless loop, writing a checkpoint every 5 steps
(``RunConfig(save_checkpoints_steps=5)``); the test kills it with SIGKILL at random moments,
then a fresh estimator on the same model_dir trains further. Checkpoints are written to a
temporary name and renamed, the manifest last, so the global step never goes backwards and no
checkpoint is ever half-written.
"""

from __future__ import annotations

import importlib.util
import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from tests.estimator.helpers import global_step_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

# The model and data of the child process, shared with the test so that both build the same
# model. The linear part's 200,000-id table makes each checkpoint a few MB, so a random kill
# often lands while one is being written.
MODEL = textwrap.dedent(
    """
    import numpy as np

    from mlengine import estimator
    from mlengine import feature_column as fc


    def build(model_dir):
        columns = [
            fc.numeric_column("x"),
            fc.sparse_column_with_integerized_feature("item", bucket_size=200_000),
        ]
        config = estimator.RunConfig(
            save_checkpoints_steps=5, keep_checkpoint_max=3, tf_random_seed=1, quiet=True
        )
        return estimator.LinearClassifier(columns, model_dir=model_dir, config=config)


    def input_fn(seed):
        rng = np.random.default_rng(0)
        x = {"x": rng.normal(size=2048), "item": rng.integers(0, 10**6, size=2048)}
        y = (x["x"] > 0).astype(np.int64)
        return estimator.inputs.numpy_input_fn(
            x, y, batch_size=32, num_epochs=None, shuffle=True, seed=seed
        )
    """
)

# Starting Python with torch, mlengine and torch's lazily imported parts costs several seconds,
# so one "zygote" process pays it once and forks a fresh trainer for each kill: every trainer is
# a real process of its own, killed by a real SIGKILL. The zygote starts no threads before it
# forks (nothing has trained in it yet).
ZYGOTE = textwrap.dedent(
    """
    import os
    import sys

    import torch

    from model import build, input_fn

    torch.set_num_threads(1)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch's lazy imports
    print("ready", flush=True)
    for line in sys.stdin:  # one model_dir per line: fork a trainer, report its fate
        pid = os.fork()
        if pid == 0:
            try:
                model = build(line.strip())
                seed = 0
                while True:  # until killed
                    seed += 1
                    model.train(input_fn(seed), steps=7)
            finally:
                os._exit(1)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, flush=True)
    """
)

KILLS = 4
START_TIMEOUT_S = 60.0


def wait_for_progress(model_dir: Path, beyond: int, pid: int) -> int:
    """Poll until the trainer has written a checkpoint past step ``beyond``; return its step."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        step = global_step_of(latest_checkpoint(model_dir))
        if step > beyond:
            return step
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pytest.fail("the training process exited before it was killed")
        time.sleep(0.01)
    pytest.fail(f"no checkpoint past step {beyond} within {START_TIMEOUT_S} s")


class LineReader:
    """Lines from a pipe, each awaited for at most ``timeout`` seconds (never blocks forever)."""

    def __init__(self, pipe: Any, log: Path, timeout: float = START_TIMEOUT_S):
        self.fd = pipe.fileno()
        self.log = log
        self.timeout = timeout
        self.buffer = b""

    def __call__(self) -> str:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                pytest.fail(f"no answer from the zygote within {self.timeout} s")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                pytest.fail(f"the zygote process died:\n{self.log.read_text()[-3000:]}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode().strip()


def load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"sigkill_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigkill_at_random_moments_never_loses_the_model_dir(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "zygote.py").write_text(ZYGOTE)
    shared = load_module(tmp_path / "model.py")  # the test builds the same model
    model_dir = tmp_path / "model_dir"
    log = tmp_path / "zygote.log"
    rng = random.Random(20170308)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    with (
        open(log, "w") as stderr,
        subprocess.Popen(
            [sys.executable, str(tmp_path / "zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            bufsize=0,
        ) as zygote,
    ):
        assert zygote.stdin is not None
        read_line = LineReader(zygote.stdout, log)
        try:
            assert read_line() == "ready"
            kill_and_resume(zygote, read_line, model_dir, shared, rng)
        finally:
            zygote.stdin.close()  # the zygote's loop ends; Popen's exit waits for it
            try:
                zygote.wait(timeout=30)
            except subprocess.TimeoutExpired:
                zygote.kill()


def kill_and_resume(
    zygote: subprocess.Popen[bytes],
    read_line: LineReader,
    model_dir: Path,
    shared: Any,
    rng: random.Random,
) -> None:
    assert zygote.stdin is not None
    resumed_to = 0
    for _ in range(KILLS):
        zygote.stdin.write(f"{model_dir}\n".encode())
        pid = int(read_line())
        try:
            seen = wait_for_progress(model_dir, resumed_to, pid)
            time.sleep(rng.uniform(0.0, 0.25))  # a random moment in the middle of training
            seen = max(seen, global_step_of(latest_checkpoint(model_dir)))
        finally:
            os.kill(pid, signal.SIGKILL)  # no handler, no cleanup, no flush
        assert read_line() == str(int(signal.SIGKILL))

        # The newest checkpoint survived the kill (or a newer one appeared) and is intact.
        step = global_step_of(latest_checkpoint(model_dir))
        assert step >= seen > resumed_to
        for prefix in list_checkpoints(model_dir):
            load_checkpoint(prefix)  # sha256 and format checked; raises if corrupt

        # A fresh estimator object trains further without error, from that step.
        fresh = shared.build(str(model_dir))
        fresh.train(shared.input_fn(seed=rng.randrange(1000)), steps=3)
        resumed_to = global_step_of(fresh.latest_checkpoint())
        assert resumed_to == step + 3


def test_a_killed_write_leaves_only_ignorable_leftovers(tmp_path: Path) -> None:
    """What a SIGKILL mid-save can leave: a temporary file and weights without a manifest."""
    columns = [fc.numeric_column("x")]
    model = estimator.LinearRegressor(
        columns, model_dir=str(tmp_path), config=estimator.RunConfig(quiet=True)
    )
    data = lambda: [({"x": np.array([1.0, 2.0])}, np.array([1.0, 2.0]))]  # noqa: E731
    model.train(data)
    (tmp_path / ".ckpt-2.safetensors.tmp-999-abcd").write_bytes(b"half a fi")
    (tmp_path / "ckpt-2.safetensors").write_bytes(b"weights whose manifest never came")

    assert global_step_of(model.latest_checkpoint()) == 1
    model.train(data)  # resumes from step 1 and writes ckpt-2 over the orphan
    assert global_step_of(model.latest_checkpoint()) == 2
    assert not (tmp_path / ".ckpt-2.safetensors.tmp-999-abcd").exists()
    load_checkpoint(tmp_path / "ckpt-2")
