"""Helpers of the server tests (and ``tests/cli/test_serve.py``): tiny exports, instances, and
``mlengine serve`` in a subprocess that is always killed with its process group.

Imported as ``tests.serving.helpers`` (see ``tests/helpers.py``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import tolerance

REPO_ROOT = Path(__file__).resolve().parents[2]
EDUCATION = ["Bachelors", "HS-grad", "11th", "Masters", "Some-college"]
STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
GRPC_STARTED = re.compile(r"gRPC listening on 127\.0\.0\.1:(\d+)")
REGISTRY_ENV = ("MLENGINE_DATABASE_URL", "MLENGINE_ARTIFACT_ROOT", "MLENGINE_ALLOWED_ORIGINS")
ACCESS_ENV = ("MLENGINE_API_TOKEN", "MLENGINE_PROTECT_PREDICT")


def clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No test reads the developer's registry, token or origins: ``home`` is MLENGINE_HOME."""
    for name in REGISTRY_ENV + ACCESS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLENGINE_HOME", str(home))


def _census(rows: int) -> tuple[Any, Any]:
    from mlengine.data import census

    x, y = census.load("train")
    return x.head(rows).reset_index(drop=True), y[:rows].copy()


def train(base: Path, kind: str = "binary", steps: int = 4) -> Path:
    """A small exported model on census rows: ``binary`` (age, hours_per_week with a default,
    education from a vocabulary, occupation hashed), ``multiclass`` (3 labelled classes) or
    ``regression``. Different ``steps`` give different predictions."""
    from mlengine import estimator
    from mlengine import feature_column as fc

    x, y = _census(300)
    columns = [
        fc.numeric_column("age"),
        fc.numeric_column("hours_per_week", default_value=40.0),
        fc.categorical_column_with_vocabulary_list("education", EDUCATION),
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=50),
    ]
    x = x[["age", "hours_per_week", "education", "occupation", "education_num"]]
    config = estimator.RunConfig(tf_random_seed=1, quiet=True)
    model: Any
    labels: Any = y
    if kind == "binary":
        model = estimator.LinearClassifier(
            feature_columns=columns, model_dir=str(base / "model"), config=config
        )
    elif kind == "multiclass":
        import numpy as np

        ids = np.digitize(x["education_num"].to_numpy(), [9, 12])
        labels = np.array(["low", "mid", "high"], dtype=object)[ids]
        model = estimator.LinearClassifier(
            feature_columns=columns,
            n_classes=3,
            label_vocabulary=["low", "mid", "high"],
            model_dir=str(base / "model"),
            config=config,
        )
    else:
        labels = x["hours_per_week"].to_numpy("float32")
        model = estimator.LinearRegressor(
            feature_columns=columns, model_dir=str(base / "model"), config=config
        )
    x = x.drop(columns=["education_num"])
    model.train(
        input_fn=estimator.inputs.pandas_input_fn(
            x, labels, batch_size=50, num_epochs=None, shuffle=False
        ),
        steps=steps,
    )
    return Path(model.export_saved_model(str(base / "exports")))


def instances(count: int = 3) -> list[dict[str, Any]]:
    """Instances of the small models: census rows as JSON values (a missing category is null)."""
    x, _ = _census(count)
    rows = x[["age", "hours_per_week", "education", "occupation"]].to_dict("records")

    def plain(key: str, value: Any) -> Any:
        if isinstance(value, float) and value != value:
            return None  # NaN in the DataFrame
        return int(value) if key in ("age", "hours_per_week") else value

    return [{k: plain(k, v) for k, v in r.items()} for r in rows]


def triton_inputs(module: Any, instances: list[dict[str, Any]], **options: Any) -> list[Any]:
    """tritonclient InferInputs (``module``: tritonclient.http or .grpc) of the small models'
    features, [n, 1], FP32 and BYTES; ``options`` go to ``set_data_from_numpy`` (none: the
    client's defaults, binary)."""
    made = []
    for name in ("age", "hours_per_week", "education", "occupation"):
        values = [i[name] for i in instances]
        if isinstance(values[0], str):
            array = np.array(values, dtype=object).reshape(-1, 1)
            tensor = module.InferInput(name, list(array.shape), "BYTES")
        else:
            array = np.array(values, dtype=np.float32).reshape(-1, 1)
            tensor = module.InferInput(name, list(array.shape), "FP32")
        tensor.set_data_from_numpy(array, **options)
        made.append(tensor)
    return made


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process: a private ``MLENGINE_HOME``, nothing inherited that
    would change the registry or access."""
    env = {k: v for k, v in os.environ.items() if k not in REGISTRY_ENV + ACCESS_ENV}
    env["MLENGINE_HOME"] = str(home)
    env.update(extra)
    return env


class ServerProcess:
    """``mlengine serve --port 0 --grpc-port 0`` in its own process group; stderr collected in a
    thread (``grpc_port``: the port gRPC listens on, once started).

    One process (``--workers 1``) unless ``args`` say otherwise or ``one_process`` is False
    (the default, one worker per core, has its own tests in tests/cli/test_serve.py).
    """

    def __init__(self, args: list[str], env: dict[str, str], one_process: bool = True) -> None:
        self.lines: list[str] = []
        self._port: int | None = None
        self.grpc_port: int | None = None
        self._started = threading.Event()
        first = ["--port", "0", "--grpc-port", "0", *(["--workers", "1"] if one_process else [])]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlengine.cli.main", "serve", *first, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            grpc_match = GRPC_STARTED.search(line)
            if grpc_match:
                self.grpc_port = int(grpc_match.group(1))
            match = STARTED.search(line)
            if match:
                self._port = int(match.group(1))
                self._started.set()
        self._started.set()

    def wait_started(self, timeout: float = 60.0) -> str:
        """The base URL, once uvicorn listens (the defaults are loaded by then)."""
        self._started.wait(timeout)
        if self._port is None:
            raise AssertionError("the server did not start:\n" + "".join(self.lines[-30:]))
        return f"http://127.0.0.1:{self._port}"

    def kill(self) -> None:
        """Kill the whole process group (no-op once it exited)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()

    @property
    def log(self) -> str:
        return "".join(self.lines)


@contextmanager
def serve(
    home: Path, *args: str, one_process: bool = True, **env: str
) -> Iterator[tuple[str, ServerProcess]]:
    """Start ``mlengine serve`` over ``home``'s registry (see :class:`ServerProcess`); yields
    (base URL, process). The process group is killed on exit, whatever happened."""
    server = ServerProcess(list(args), child_env(home, **env), one_process)
    try:
        yield server.wait_started(), server
    finally:
        server.kill()


def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def predict_url(base: str, model: str, version: str | None = None) -> str:
    path = f"{base}/v1/projects/local/models/{model}"
    return path + (f"/versions/{version}:predict" if version else ":predict")


def post(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, json=body, timeout=30, **kwargs)


def gated_filesystem() -> Any:
    """Register and return ``gatedfile://``: a local file system whose copies of weight files
    wait until ``GatedFileSystem.gate`` is set (a version stays CREATING until then)."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class GatedFileSystem(LocalFileSystem):
        protocol = ("gatedfile",)
        gate = threading.Event()

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any:
            text = str(path)
            if text.startswith("gatedfile://"):
                text = text[len("gatedfile://") :]
            return super()._strip_protocol(text)

        def _open(self, path: Any, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
            if str(path).endswith(".safetensors"):
                GatedFileSystem.gate.wait(30)
            return super()._open(path, mode, *args, **kwargs)

    fsspec.register_implementation("gatedfile", GatedFileSystem, clobber=True)
    return GatedFileSystem


class LiveClient(httpx.Client):
    """An httpx client of an app served by uvicorn on 127.0.0.1 in a thread of this process.

    Real HTTP and the real lifespan (the defaults are loaded before the first request), without
    a subprocess; ``app`` is the app, for tests that look inside. Always :meth:`close` it: that
    stops the server.
    """

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn

        options = {"lifespan": "on", "ws": "none", "log_level": "warning", "access_log": False}
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, **{**options, **config})
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise AssertionError("the in-process server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(base_url=self.url, timeout=30)

    def close(self) -> None:
        super().close()
        self.server.should_exit = True
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the in-process server did not stop"


@dataclass(frozen=True)
class Expected:
    """What an export predicts for some instances (``predictions``, as REST answers carry
    them), and the float32 rounding of its logits there (tests/tolerance.py): a server may
    compute a row in another batch, whose sums run in another order."""

    predictions: list[dict[str, Any]]
    rounding: np.ndarray

    def __getitem__(self, rows: slice) -> Expected:
        return Expected(self.predictions[rows], self.rounding[rows])

    def matches(self, got: Any) -> bool:
        """Whether ``got`` (an answer's predictions) are these, up to rounding."""
        try:
            tolerance.assert_instances_close(got, self.predictions, self.rounding)
        except (AssertionError, TypeError, KeyError):
            return False
        return True


def expected(export: Path, instances: list[dict[str, Any]]) -> Expected:
    """``export``'s predictions of ``instances`` (as the Predictor makes them)."""
    from mlengine.export import load

    return Expected(
        load(export).predict_instances(instances),
        tolerance.Bound.of_export(export).logits(instances),
    )
