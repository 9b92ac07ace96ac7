"""Helpers shared by the registry and CLI tests (and the child processes they start).

Imported as ``tests.registry.helpers`` (see ``tests/helpers.py``); a child process gets the
repository root on its ``PYTHONPATH`` (:func:`child_env`) to import it the same way.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fsspec.implementations.local import LocalFileSystem
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_ENV = "MLENGINE_TEST_DATABASE_URL"


def build_export(base: Path) -> Path:
    """Train a tiny LinearClassifier on 200 census rows for a few steps and export it.

    Returns the export directory (``<base>/exports/<timestamp>``), evaluated, so its manifest
    carries eval metrics.
    """
    from mlengine import estimator
    from mlengine import feature_column as fc
    from mlengine.data import census

    x, y = census.load("train")
    x, y = x[["age", "occupation"]].head(200), y[:200]
    columns = [
        fc.numeric_column("age"),
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=100),
    ]
    model = estimator.LinearClassifier(feature_columns=columns, model_dir=str(base / "model"))
    model.train(
        input_fn=estimator.inputs.pandas_input_fn(x, y, batch_size=50, shuffle=False), steps=4
    )
    model.evaluate(input_fn=estimator.inputs.pandas_input_fn(x, y, batch_size=200, shuffle=False))
    return Path(model.export_saved_model(str(base / "exports")))


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections while the block runs: bound by a socket
    that never listens. (A fixed port, even 1, may be open on some machine.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; yields a URL whose search_path is it."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"mlengine_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False
        )
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


class SlowFileSystem(LocalFileSystem):
    """A local file system that is slow to open files: a create stays in its copy a while.

    Appends a line to ``$SLOWFS_MARKER`` at each open, so a test knows how far it got (the
    first open reads the manifest before the version's row exists; later ones copy files).
    """

    protocol = ("slowfile",)
    delay = 0.5

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        text = str(path)
        if text.startswith("slowfile://"):
            text = text[len("slowfile://") :]
        return super()._strip_protocol(text)

    def _open(self, path: Any, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        marker = os.environ.get("SLOWFS_MARKER")
        if marker:
            with open(marker, "a") as log:
                log.write(f"{path}\n")
        time.sleep(self.delay)
        return super()._open(path, mode, *args, **kwargs)


def child_env() -> dict[str, str]:
    """The environment for a child Python: the test's, with ``tests`` importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env
