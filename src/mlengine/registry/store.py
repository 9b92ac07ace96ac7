"""The model registry: one Python API holding every rule, used by the CLI and the server.

Rules, as ML Engine's: a model's first READY version becomes its default, ``set_default``
moves it, the default version cannot be deleted while the model has other versions, and a
model cannot be deleted while it has versions. Version numbers are 1, 2, ... per model and are
never reused: each model keeps a ``next_version_number`` counter that only grows.

Crash safety. ``create_version`` writes a CREATING row, copies and checks the export (outside
any transaction), and only then marks the row READY. Each CREATING or DELETING row names its
worker process and carries a heartbeat. A row whose worker is dead (same host: its pid is gone;
another host: no heartbeat for ``stale_after``) is *reaped* when the registry is opened and
whenever a listing or lookup meets it: a CREATING row becomes FAILED and its files are removed,
a DELETING row finishes its deletion. Folders without a row are never served;
:meth:`Registry.collect_garbage` removes them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from mlengine.errors import FailedPreconditionError, NotFoundError
from mlengine.registry import queries
from mlengine.registry.artifacts import ArtifactStore
from mlengine.registry.db import Database
from mlengine.registry.entities import (
    ModelVersion,
    Operation,
    OperationType,
    RegisteredModel,
    VersionState,
)
from mlengine.registry.lifecycle import BUSY_STATES, Lifecycle, label, now, quietly
from mlengine.registry.migrations import check_supported, current_version, migrate, schema_version
from mlengine.registry.migrations import models_table as models
from mlengine.registry.migrations import versions_table as versions
from mlengine.registry.names import (
    parse_version_ref,
    validate_labels,
    validate_name,
    validate_version_label,
)
from mlengine.registry.operations import OperationLog
from mlengine.registry.origins import check_allowed, normalize_origin, precheck_export
from mlengine.registry.prediction_logging import RequestLoggingConfig

DEFAULT_STALE_AFTER = timedelta(minutes=10)


class Registry:
    """Models and their versions in a SQL database, their files in an artifact store.

    Args:
        database_url: SQLAlchemy URL; default ``MLENGINE_DATABASE_URL``, else SQLite at
            ``$MLENGINE_HOME/registry.db`` (``MLENGINE_HOME`` defaults to ``~/.mlengine``).
        artifact_root: local folder or fsspec URL; default ``MLENGINE_ARTIFACT_ROOT``, else
            ``$MLENGINE_HOME/artifacts``.
        allowed_origins: prefixes that version origins must start with (the server passes
            ``MLENGINE_ALLOWED_ORIGINS``); ``None`` allows any origin (the CLI).
        stale_after: how long a CREATING/DELETING row of another host may go without a
            heartbeat before it is taken for dead.

    Raises:
        UnavailableError: the database cannot be reached.
        FailedPreconditionError: the database's schema is newer than this code.
    """

    def __init__(
        self,
        database_url: str | None = None,
        artifact_root: str | os.PathLike[str] | None = None,
        *,
        allowed_origins: Sequence[str] | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        home = Path(os.environ.get("MLENGINE_HOME") or "~/.mlengine").expanduser()
        url = database_url or os.environ.get("MLENGINE_DATABASE_URL")
        root = artifact_root or os.environ.get("MLENGINE_ARTIFACT_ROOT") or home / "artifacts"
        self.allowed_origins = None if allowed_origins is None else list(allowed_origins)
        self.stale_after = stale_after
        self._cache_root = str(home / "cache")
        self._artifacts = ArtifactStore(os.fspath(root))
        self._db = Database(url or f"sqlite:///{home / 'registry.db'}")
        self._life = Lifecycle(self._db, self._artifacts, stale_after)
        self._operations = OperationLog(self._db, self._life, self.get_version)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        try:
            self._open()
        except BaseException:
            self._db.dispose()
            raise

    @property
    def database_url(self) -> str:
        """The database URL with its password hidden."""
        return self._db.display_url

    @property
    def artifact_root(self) -> str:
        """The artifact root as given (a local folder or an fsspec URL)."""
        return self._artifacts.root

    def _open(self) -> None:
        with self._db.read() as conn:
            found = current_version(conn)
        if found != schema_version():
            check_supported(found, self.database_url)
            self._db.write(lambda conn: migrate(conn, self.database_url))
        self._life.reap()

    def close(self) -> None:
        """Wait for background creations to finish, then close the database connections."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- models

    def create_model(
        self, name: str, description: str | None = None, labels: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create an empty model.

        Raises:
            InvalidParameterError: bad name or labels.
            AlreadyExistsError: a model of that name (ignoring case) exists.
        """
        validate_name(name, "model")
        clean_labels = validate_labels(labels, f"model {name}")

        def work(conn: Connection) -> None:
            queries.ensure_model_absent(conn, name)
            conn.execute(
                models.insert().values(
                    name=name,
                    name_key=name.lower(),
                    description=description,
                    labels=clean_labels,
                    create_time=now(),
                    next_version_number=1,
                    default_version_number=None,
                )
            )

        self._db.write(work)
        return self.get_model(name)

    def get_model(self, name: str) -> RegisteredModel:
        """The model and its default version.

        Raises:
            NotFoundError: no such model.
        """
        validate_name(name, "model")
        with self._db.read() as conn:
            row = queries.model_row(conn, name)
            default = queries.default_versions(conn, [row.id]).get(row.id)
            extra = queries.model_settings(conn, [row.id]).get(row.id)
            return queries.to_model(
                row, None if default is None else queries.to_version(default), extra
            )

    def list_models(self) -> list[RegisteredModel]:
        """Every model, by name."""
        with self._db.read() as conn:
            defaults = queries.default_versions(conn)
            extras = queries.model_settings(conn)
            found = conn.execute(sa.select(models).order_by(models.c.name)).all()
            return [
                queries.to_model(
                    row,
                    queries.to_version(defaults[row.id]) if row.id in defaults else None,
                    extras.get(row.id),
                )
                for row in found
            ]

    def update_model(
        self,
        name: str,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        online_prediction_logging: bool | None = None,
        request_logging: RequestLoggingConfig | None = None,
    ) -> RegisteredModel:
        """Change a model's description, labels and request logging (``None`` leaves one as
        it is; ``labels`` replaces them all, as ML Engine's PATCH with ``updateMask=labels``;
        a config that samples nothing turns the model's own config off).

        Raises:
            NotFoundError: no such model.  InvalidParameterError: bad labels.
        """
        validate_name(name, "model")
        values = _changes(description, labels, f"model {name}")

        def work(conn: Connection) -> None:
            row = queries.model_row(conn, name, for_update=True)
            if values:
                conn.execute(models.update().where(models.c.id == row.id).values(**values))
            if online_prediction_logging is None and request_logging is None:
                return
            logging, _ = queries.settings_of(conn, row.id)
            if online_prediction_logging is not None:
                logging["onlinePredictionLogging"] = online_prediction_logging
            if request_logging is not None:
                logging["requestLoggingConfig"] = request_logging.to_json()
            queries.write_settings(conn, row.id, logging=logging)

        self._db.write(work)
        return self.get_model(name)

    def set_version_label(self, model: str, label_name: str, version: str | int) -> RegisteredModel:
        """Point TF Serving's version label ``label_name`` at a READY version (addressed as
        ``/v1/models/{model}/labels/{label_name}``).

        Raises:
            NotFoundError: no such model or version.
            FailedPreconditionError: the version is not READY (as TF Serving, a label points
                only at a version that can serve).
        """
        validate_name(model, "model")
        validate_version_label(label_name)
        ref = parse_version_ref(version)

        def work(conn: Connection) -> None:
            model_row = queries.model_row(conn, model, for_update=True)
            row = queries.version_row(conn, model, ref)
            if row.state != VersionState.READY.value:
                raise FailedPreconditionError(
                    f"{label(model, ref)} is {row.state}: a version label points only at a "
                    "READY version."
                )
            _, labels = queries.settings_of(conn, model_row.id)
            labels[label_name] = int(row.number)
            queries.write_settings(conn, model_row.id, version_labels=labels)

        self._db.write(work)
        return self.get_model(model)

    def remove_version_label(self, model: str, label_name: str) -> RegisteredModel:
        """Remove a version label.

        Raises:
            NotFoundError: no such model, or it has no such label.
        """
        validate_name(model, "model")

        def work(conn: Connection) -> None:
            model_row = queries.model_row(conn, model, for_update=True)
            _, labels = queries.settings_of(conn, model_row.id)
            if labels.pop(label_name, None) is None:
                raise _no_label(model, label_name, labels)
            queries.write_settings(conn, model_row.id, version_labels=labels)

        self._db.write(work)
        return self.get_model(model)

    def labelled_version(self, model: str, label_name: str) -> int:
        """The number of the version a label points at.

        Raises:
            NotFoundError: no such model, or it has no such label.
        """
        found = self.get_model(model)
        number = found.version_labels.get(label_name)
        if number is None:
            raise _no_label(model, label_name, found.version_labels)
        return number

    def delete_model(self, name: str) -> None:
        """Delete a model that has no versions left.

        Raises:
            NotFoundError: no such model.
            FailedPreconditionError: the model still has versions (the message lists them).
        """
        validate_name(name, "model")

        def work(conn: Connection) -> None:
            row = queries.model_row(conn, name, for_update=True)
            query = sa.select(versions.c.name).where(versions.c.model_id == row.id)
            remaining = list(conn.execute(query.order_by(versions.c.number)).scalars())
            if remaining:
                shown = ", ".join(remaining[:10]) + (", ..." if len(remaining) > 10 else "")
                raise FailedPreconditionError(
                    f"Model (name={name}) still has {len(remaining)} version(s) ({shown}): delete "
                    f"them first with `mlengine versions delete VERSION --model {name}`."
                )
            conn.execute(models.delete().where(models.c.id == row.id))

        self._db.write(work)
        quietly(self._artifacts.remove_model, name)

    # -------------------------------------------------------------- versions

    def create_version(
        self,
        model: str,
        name: str,
        origin: str,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> ModelVersion:
        """Create a version from the export at ``origin`` (a local path or an fsspec URL).

        The origin is checked first (allowed, reachable, an export): a failure there changes
        nothing. Then a CREATING row gets the next number, the export is copied to
        ``<artifact root>/<model>/<number>/`` and loaded; only then is the version READY.

        Args:
            wait: ``True``: return the READY version, or raise after marking it FAILED.
                ``False``: return the CREATING version at once and finish in a background
                thread (the server's long-running create; poll :meth:`get_version`).

        Raises:
            InvalidParameterError, ExportFormatError: bad name, labels or origin.
            NotFoundError: no such model.  AlreadyExistsError: the version name is taken.
            MLEngineError: (``wait=True``) the copy or the load failed; the version is FAILED.
        """
        validate_name(model, "model")
        validate_name(name, "version")
        clean_labels = validate_labels(labels, f"version {name} of model {model}")
        self.get_model(model)  # an unknown model is the first thing to report
        origin = normalize_origin(origin)
        check_allowed(origin, self.allowed_origins)
        precheck_export(origin)
        number = self._life.insert(model, name, origin, description, clean_labels)
        if wait:
            self._life.build(model, name, number, origin)
        else:
            self._background(self._life.build_quietly, model, name, number, origin)
        return self.get_version(model, number)

    def get_version(self, model: str, version: str | int) -> ModelVersion:
        """A version by name (``v1``) or number (``1`` or ``"1"``).

        Raises:
            NotFoundError: no such model or version (the message says which).
        """
        validate_name(model, "model")
        ref = parse_version_ref(version)
        with self._db.read() as conn:
            row = queries.version_row(conn, model, ref)
        if row.state in BUSY_STATES and self._life.reap([row]):
            with self._db.read() as conn:
                row = queries.version_row(conn, model, ref)
        return queries.to_version(row)

    def list_versions(self, model: str) -> list[ModelVersion]:
        """The model's versions, by number.

        Raises:
            NotFoundError: no such model.
        """
        validate_name(model, "model")

        def read() -> list[Row[Any]]:
            with self._db.read() as conn:
                model_id = queries.model_row(conn, model).id
                query = queries.version_select().where(versions.c.model_id == model_id)
                return list(conn.execute(query.order_by(versions.c.number)))

        found = read()
        if any(row.state in BUSY_STATES for row in found) and self._life.reap(found):
            found = read()
        return [queries.to_version(row) for row in found]

    def get_default_version(self, model: str) -> ModelVersion:
        """The version that serves requests naming only the model.

        Raises:
            NotFoundError: no such model.
            FailedPreconditionError: the model has no READY version yet.
        """
        if (default := self.get_model(model).default_version) is not None:
            return default
        raise FailedPreconditionError(
            f"Model (name={model}) has no default version yet: create a version with "
            f"`mlengine versions create VERSION --model {model} --origin EXPORT_DIR`."
        )

    def set_default_version(self, model: str, version: str | int) -> ModelVersion:
        """Make a READY version the model's default.

        Raises:
            NotFoundError: no such model or version.
            FailedPreconditionError: the version is not READY.
        """
        validate_name(model, "model")
        ref = parse_version_ref(version)

        def work(conn: Connection) -> None:
            model_id = queries.model_row(conn, model, for_update=True).id
            row = queries.version_row(conn, model, ref)
            if row.state != VersionState.READY.value:
                raise FailedPreconditionError(
                    f"{label(model, ref)} is {row.state}: only a READY version can be the default."
                )
            conn.execute(
                models.update()
                .where(models.c.id == model_id)
                .values(default_version_number=row.number)
            )

        self._db.write(work)
        return self.get_version(model, ref)

    def update_version(
        self,
        model: str,
        version: str | int,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        request_logging: RequestLoggingConfig | None = None,
    ) -> ModelVersion:
        """Change a version's description, labels and request logging (as
        :meth:`update_model`; the version's request logging wins over its model's).

        Raises:
            NotFoundError: no such model or version.  InvalidParameterError: bad labels.
        """
        validate_name(model, "model")
        ref = parse_version_ref(version)
        values = _changes(description, labels, f"version {ref} of model {model}")

        def work(conn: Connection) -> None:
            row = queries.version_row(conn, model, ref)
            if values:
                conn.execute(versions.update().where(versions.c.id == row.id).values(**values))
            if request_logging is not None:
                logging, _ = queries.settings_of(conn, row.model_id)
                logging.setdefault("versions", {})[str(row.number)] = request_logging.to_json()
                queries.write_settings(conn, row.model_id, logging=logging)

        self._db.write(work)
        return self.get_version(model, ref)

    def delete_version(self, model: str, version: str | int) -> None:
        """Delete a version and its files.

        Raises:
            NotFoundError: no such model or version.
            FailedPreconditionError: it is still being created, or it is the default version
                and the model has other versions.
        """
        validate_name(model, "model")
        ref = parse_version_ref(version)
        number = self._life.mark_deleting(model, ref)
        self._life.finish_delete(model, number)

    # ------------------------------------------------------------ operations

    def begin_create_version(
        self,
        model: str,
        name: str,
        origin: str,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Operation:
        """:meth:`create_version` in the background, as ML Engine's long-running operation:
        the origin is checked now (errors raise here), then the CREATE_VERSION operation is
        returned at once, and done once the version is READY or FAILED."""
        version = self.create_version(model, name, origin, description, labels, wait=False)
        return self._operations.record(OperationType.CREATE_VERSION, model, version, done=False)

    def begin_delete_version(self, model: str, version: str | int) -> Operation:
        """:meth:`delete_version` as a long-running operation: the rules are checked and the
        version marked DELETING now (errors raise here); its files go in the background, and
        the DELETE_VERSION operation is done once the version's row is gone."""
        validate_name(model, "model")
        found = self.get_version(model, version)
        number = self._life.mark_deleting(model, parse_version_ref(version))
        operation = self._operations.record(OperationType.DELETE_VERSION, model, found, False)
        self._background(self._delete_quietly, model, number)
        return operation

    def record_operation(
        self,
        kind: OperationType,
        model: str,
        version: ModelVersion | None = None,
        response: dict[str, Any] | None = None,
    ) -> Operation:
        """Record an operation that has finished (a model's deletion, an update)."""
        return self._operations.record(kind, model, version, True, response)

    def get_operation(self, op_id: str) -> Operation:
        """An operation by id (``create_census_v1-1764130000123``).

        Raises:
            NotFoundError: no such operation.
        """
        return self._operations.get(op_id)

    def list_operations(
        self, page_size: int | None = None, page_token: str | None = None
    ) -> tuple[list[Operation], str | None]:
        """Operations in the order they began, a page at a time (ML Engine's pageSize,
        default 20, at most 100): the page and the next page's token (None: the last)."""
        return self._operations.list(page_size, page_token)

    def cancel_operation(self, op_id: str) -> Operation:
        """Ask an operation to stop: a creation still running ends CANCELLED and its version
        FAILED; anything else finishes as it would have.

        Raises:
            NotFoundError: no such operation.
        """
        return self._operations.cancel(op_id)

    def wait_operation(self, op_id: str, timeout: float = 600.0, poll: float = 0.2) -> Operation:
        """Poll until the operation is done (or ``timeout`` seconds pass)."""
        return self._operations.wait(op_id, timeout, poll)

    def _background(self, action: Any, *args: Any) -> None:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(4, thread_name_prefix="mlengine-registry")
            self._executor.submit(action, *args)

    def _delete_quietly(self, model: str, number: int) -> None:
        quietly(self._life.finish_delete, model, number)

    def touch(self, model: str, version: str | int, when: datetime | None = None) -> None:
        """Record a prediction: set the version's last-use time (one UPDATE, nothing else).

        Raises:
            NotFoundError: no such model or version.
        """
        validate_name(model, "model")
        ref = parse_version_ref(version)
        if self.touch_many([(model, ref, when or now())]) == 0:
            self.get_version(model, ref)  # raises the precise NotFoundError if it is missing

    def touch_many(self, uses: Iterable[tuple[str, str | int, datetime]]) -> int:
        """Record many last uses in one transaction (what the server flushes periodically).

        A time never moves a version's last use backwards; unknown versions are skipped.
        Returns how many versions were updated.
        """
        batch = [(model, parse_version_ref(ref), when) for model, ref, when in uses]
        if not batch:
            return 0
        return self._db.write(lambda conn: sum(queries.touch(conn, *use) for use in batch))

    def wait_for_version(
        self, model: str, version: str | int, timeout: float = 600.0, poll: float = 0.2
    ) -> ModelVersion:
        """Poll until the version is no longer CREATING (or ``timeout`` seconds pass)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get_version(model, version)
            if found.state != VersionState.CREATING or time.monotonic() > deadline:
                return found
            time.sleep(poll)

    def export_dir(self, model: str, version: str | int | None = None) -> str:
        """A local directory holding a READY version's export (the default when ``None``).

        With a remote artifact root the files are downloaded once into
        ``$MLENGINE_HOME/cache``. The caller loads it with :func:`mlengine.export.load`.

        Raises:
            NotFoundError, FailedPreconditionError: no such version, or not READY.
        """
        if version is None:
            found = self.get_default_version(model)
        else:
            found = self.get_version(model, version)
        if found.state != VersionState.READY:
            raise FailedPreconditionError(
                f"{label(model, found.name)} is {found.state.value}, not READY"
                + (f": {found.error_message}" if found.error_message else ".")
            )
        return self._artifacts.local_dir(found.path, self._cache_root)

    # ------------------------------------------------------------ recovery

    def reap_stale(self) -> list[str]:
        """Settle CREATING/DELETING rows whose worker died; returns their ``model/version``.

        Runs when the registry opens and whenever a lookup or listing meets such a row; a
        long-running server may also call it periodically.
        """
        return self._life.reap()

    def collect_garbage(self) -> list[str]:
        """Remove artifact folders that no version row accounts for; returns what went."""
        return self._life.collect_garbage()


def _no_label(model: str, label_name: str, labels: Mapping[str, int]) -> NotFoundError:
    return NotFoundError(
        f"Model (name={model}) has no version label {label_name!r}; its labels are "
        f"{sorted(labels)}."
    )


def _changes(
    description: str | None, labels: Mapping[str, str] | None, owner: str
) -> dict[str, Any]:
    """The column values an update sets (only those given)."""
    values: dict[str, Any] = {}
    if description is not None:
        values["description"] = description
    if labels is not None:
        values["labels"] = validate_labels(labels, owner)
    return values


__all__ = ["DEFAULT_STALE_AFTER", "Registry"]
