"""The model manager: which versions are in memory, which one serves a model, and when.

* At start, each model's default version is loaded and warmed before the server accepts
  connections (up to ``max_loaded_versions`` of them).
* Every ``poll_interval`` the registry is read again. A new default is loaded and warmed while
  the old one keeps serving, then the model's entry is swapped in one assignment on the event
  loop: a request takes either version, never neither. (A default set through the API wakes
  the poller at once.) Versions deleted or no longer READY are dropped.
* At most ``max_loaded_versions`` stay in memory; the least recently used is dropped first.
  Requests already holding a version finish on it.
* A version that fails to load is remembered with its (scrubbed) reason: its requests get 503,
  the model's status reports it, and it is tried again after ``load_retry_interval``. If it
  was to become the default, the previous default keeps serving.
* Last-use times are collected in memory and written with one ``touch_many`` per
  ``touch_interval`` (and at shutdown), never one database write per request.
* If the registry cannot be reached at start (a replica that starts before its database), the
  server starts anyway, not ready (``/v2/health/ready`` answers 503), and tries again every
  ``poll_interval``; it becomes ready once the defaults are loaded (see
  :class:`~mlengine.serving.deferred.DeferredRegistry`).

Registry calls and loading run on a small I/O thread pool; model calls on worker threads (see
:mod:`mlengine.serving.batching`); the bookkeeping itself only ever changes on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from mlengine.errors import (
    FailedPreconditionError,
    MLEngineError,
    NotFoundError,
    UnavailableError,
)
from mlengine.export import Predictor, load
from mlengine.export.probe import check_serves
from mlengine.registry import ModelVersion, Registry, RequestLoggingConfig, VersionState
from mlengine.registry.names import parse_version_ref, validate_name
from mlengine.serving.batching import Batcher, Outputs
from mlengine.serving.deferred import DeferredRegistry
from mlengine.serving.errors import scrub
from mlengine.serving.prometheus import Metrics
from mlengine.serving.schema import FLOAT, INT, Columns, InputSchema
from mlengine.serving.settings import ServeSettings

log = logging.getLogger("mlengine.serving")
T = TypeVar("T")
# While the registry cannot be reached at start, the reason is logged at most this often (s).
NOT_READY_LOG_INTERVAL = 30.0
Key = tuple[str, int]  # (model name, version number)


@dataclass
class LoadedVersion:
    """A version in memory: its Predictor, request schema, batcher and signature facts."""

    model: str
    name: str
    number: int
    predictor: Predictor
    schema: InputSchema
    batcher: Batcher | None = None

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self.predictor.manifest

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The signature's outputs: name, dtype, shape."""
        return list(self.manifest["signature"].get("outputs", []))

    @functools.cached_property
    def signature_defs(self) -> dict[str, dict[str, Any]]:
        """TF's signature names → ``{method_name, outputs}`` (read once: every request asks)."""
        defs = self.manifest.get("signature_defs")
        return dict(defs) if isinstance(defs, dict) else {}

    @functools.cached_property
    def class_labels(self) -> list[str]:
        """Every class's label, in class-id order (empty for a regressor): the loaded head's,
        whose sizes were checked when the export loaded (never the manifest's own copy)."""
        head = getattr(self.predictor, "head", None)  # a custom graph may have none
        names = getattr(head, "class_names", None)
        return [] if names is None else [str(name) for name in names]

    def run(self, columns: Columns) -> Outputs:
        """One blocking model call (a worker thread's work)."""
        return self.predictor.predict(columns.features(self.schema.dtypes))

    async def predict(self, columns: Columns) -> Outputs:
        """Outputs for checked columns, through the version's batcher."""
        assert self.batcher is not None
        return await self.batcher.predict(columns)

    def warm(self, rows: int) -> None:
        """Run the model on placeholder rows (1, then ``rows``), so the first request is fast."""
        placeholder = {FLOAT: 0.0, INT: 0}
        for count in (1, 1, rows):
            lists = {
                name: [placeholder.get(dtype, "")] * count
                for name, dtype in self.schema.dtypes.items()
            }
            self.run(self.schema.from_lists(lists, count))


@dataclass
class LoadFailure:
    """Why a version could not be loaded, and when that was found."""

    message: str
    when: float = field(default_factory=time.monotonic)


class ModelManager:
    """Versions in memory and the default of each model (see the module docstring)."""

    def __init__(self, registry: Registry, settings: ServeSettings, metrics: Metrics) -> None:
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.ready = False
        self._loaded: OrderedDict[Key, LoadedVersion] = OrderedDict()
        self._names: dict[tuple[str, str], int] = {}
        self._defaults: dict[str, int] = {}
        self._failures: dict[Key, LoadFailure] = {}
        self._loading: dict[Key, asyncio.Future[LoadedVersion]] = {}
        self._uses: dict[Key, float] = {}
        # Request logging in force per version, and TF Serving's labels: read at each poll.
        self._logging: dict[Key, RequestLoggingConfig] = {}
        self._labels: dict[tuple[str, str], int] = {}
        self._last_flush = time.monotonic()
        self._wake: asyncio.Event | None = None
        self._not_ready_logged = -NOT_READY_LOG_INTERVAL
        self._poller: asyncio.Task[None] | None = None
        self._executors: tuple[ThreadPoolExecutor, ...] = ()

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Create the thread pools, load and warm the default versions, start polling."""
        threads = self.settings.model_threads
        self.io = ThreadPoolExecutor(4, thread_name_prefix="mlengine-io")
        self.workers = ThreadPoolExecutor(threads, thread_name_prefix="mlengine-model")
        self.bulk = ThreadPoolExecutor(threads, thread_name_prefix="mlengine-bulk")
        self._executors = (self.io, self.workers, self.bulk)
        self._wake = asyncio.Event()
        try:
            await self.refresh(startup=True)
        except UnavailableError as error:
            self._not_ready(error)
        else:
            self.ready = True
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    def _not_ready(self, error: BaseException) -> None:
        """Note a failed start-up refresh (logged at most every ``NOT_READY_LOG_INTERVAL``)."""
        now = time.monotonic()
        if now - self._not_ready_logged >= NOT_READY_LOG_INTERVAL:
            self._not_ready_logged = now
            log.warning(
                "not ready: %s (retrying every %s s)",
                str(error) or type(error).__name__,
                self.settings.poll_interval,
            )

    async def stop(self) -> None:
        """Stop polling, write the pending last-use times, release the threads."""
        self.ready = False
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self.flush_uses()
        for executor in self._executors:
            executor.shutdown(wait=True, cancel_futures=True)
        self._executors = ()
        self._loaded.clear()
        self._names.clear()
        self.metrics.loaded.set(0)

    def poke(self) -> None:
        """Poll the registry now (after a change made through the API)."""
        if self._wake is not None:
            self._wake.set()

    async def _poll(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
            self._wake.clear()
            try:
                await self.refresh(startup=not self.ready)
            except Exception as error:
                if not self.ready:
                    self._not_ready(error)
                else:
                    log.warning("registry poll failed; serving what is loaded", exc_info=True)
            else:
                if not self.ready:
                    self.ready = True
                    log.info("the registry is reachable: ready")
            if time.monotonic() - self._last_flush >= self.settings.touch_interval:
                await self.flush_uses()

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking (registry) call on the I/O threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.io, functools.partial(function, *args))

    # ------------------------------------------------------------------ lookups

    async def resolve(self, model: str, version: str | None = None) -> LoadedVersion:
        """The loaded version serving ``model`` (its default) or ``model``'s ``version``.

        A request for the default is answered by the default this manager knows while it is
        loaded (until the poller has loaded and warmed a new one); if that version is gone or
        no longer READY (a cold model rolled forward: a new default set and the old version
        deleted before the next poll), the registry's current default is loaded and answers
        instead, so a roll-forward never fails a request.

        Raises:
            NotFoundError: no such model or version (404).
            FailedPreconditionError: no default yet, or the version is not READY (400).
            UnavailableError: the version failed to load (503).
        """
        validate_name(model, "model")
        if version is not None:
            ref = parse_version_ref(version)
            if isinstance(ref, int):
                number = ref
            else:
                known = self._names.get((model, ref))
                if known is None:
                    known = (await self.call(self.registry.get_version, model, ref)).number
                number = known
            return await self._loaded_or_load((model, number))
        known_default = self._defaults.get(model)
        if known_default is None:
            found = await self.call(self.registry.get_default_version, model)
            known_default = found.number
            self._defaults.setdefault(model, known_default)
        number = known_default
        try:
            return await self._loaded_or_load((model, number))
        except (NotFoundError, FailedPreconditionError):
            current = (await self.call(self.registry.get_default_version, model)).number
            if current == number:
                raise
            if self._defaults.get(model) == number:
                self._defaults[model] = current
            return await self._loaded_or_load((model, current))

    async def _loaded_or_load(self, key: Key) -> LoadedVersion:
        loaded = self._loaded.get(key)
        if loaded is not None:
            self._loaded.move_to_end(key)
            return loaded
        return await self._load(key)

    def record_use(self, loaded: LoadedVersion) -> None:
        """Note a prediction (written later by :meth:`flush_uses`)."""
        self._uses[(loaded.model, loaded.number)] = time.time()

    def failure(self, model: str, number: int) -> str | None:
        """Why the version failed to load, if it did."""
        found = self._failures.get((model, number))
        return None if found is None else found.message

    def logging_config(self, model: str, number: int) -> RequestLoggingConfig | None:
        """The request logging in force for a version (None: off), as of the last poll."""
        return self._logging.get((model, number))

    async def labelled(self, model: str, label: str) -> int:
        """The number of the version TF Serving's label points at (as of the last poll, else
        asked of the registry).

        Raises:
            NotFoundError: no such model or label.
        """
        number = self._labels.get((model, label))
        if number is None:
            number = await self.call(self.registry.labelled_version, model, label)
        return number

    def loaded_keys(self) -> list[Key]:
        """The versions in memory, least recently used first."""
        return list(self._loaded)

    # ------------------------------------------------------------------ loading

    async def _load(self, key: Key) -> LoadedVersion:
        failure = self._failures.get(key)
        if failure is not None:
            if time.monotonic() - failure.when < self.settings.load_retry_interval:
                raise UnavailableError(failure.message)
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load_now(key))
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(pending)

    def _locate(self, key: Key) -> tuple[ModelVersion, str]:
        found = self.registry.get_version(*key)
        return found, self.registry.export_dir(*key)

    def _build(self, found: ModelVersion, path: str) -> LoadedVersion:
        # The Predictor computes in numpy: torch (over a second of start-up, and memory) is
        # imported only for a gelu DNN. Its calls run on the event loop or on one worker thread
        # per core, so the numpy network's matrix products use one BLAS thread each (see
        # serving.server).
        predictor = load(path)
        check_serves(predictor)  # the probe a version passed to become READY, run again here
        loaded = LoadedVersion(
            model=found.model,
            name=found.name,
            number=found.number,
            predictor=predictor,
            schema=InputSchema(
                predictor.inputs,
                predictor.memory,
                max_string_length=self.settings.max_string_length,
            ),
        )
        statistics = self.metrics.statistics

        def run(columns: Columns) -> Outputs:
            started = time.perf_counter()
            outputs = loaded.run(columns)
            seconds = time.perf_counter() - started
            statistics.execution(found.model, found.number, columns.count, seconds)
            return outputs

        loaded.batcher = Batcher(
            run,
            self.workers,
            self.bulk,
            self.settings.max_batch_size,
            self.settings.max_batch_delay,
            on_batch=self.metrics.batch_observer(found.model, found.name).observe,
            inline_rows=predictor.few_rows,
            inline_seconds=sys.getswitchinterval(),
        )
        loaded.warm(min(self.settings.max_batch_size, 256))
        return loaded

    async def _load_now(self, key: Key) -> LoadedVersion:
        model, number = key
        started = time.perf_counter()
        try:
            found, path = await self.call(self._locate, key)
        except MLEngineError:
            raise  # not found, not READY, registry down: the registry's answer, not a failure
        except Exception as error:
            # Not a version that failed to load (none was found): nothing is remembered or
            # counted under a number the client chose, so clients cannot grow either.
            log.warning("looking up %s version %d failed", model, number, exc_info=True)
            reason = scrub(str(error)) or type(error).__name__
            raise UnavailableError(
                f"Model version (name={model}, version={number}) cannot be looked up: {reason}"
            ) from None
        try:
            loaded = await self.call(self._build, found, path)
        except Exception as error:
            # Deleted (or no longer READY) while it was being read: that is the registry's
            # answer now (resolve then turns to the current default), not a broken version.
            with contextlib.suppress(UnavailableError):
                await self.call(self._locate, key)
            raise self._failed(key, found.name, error) from None
        self._failures.pop(key, None)
        self._insert(loaded)
        self.metrics.load_seconds.labels(model, found.name).observe(time.perf_counter() - started)
        log.info("loaded %s version %s (%d)", model, found.name, number)
        return loaded

    def _failed(self, key: Key, name: str, error: BaseException) -> UnavailableError:
        model, _ = key
        reason = scrub(str(error)) or type(error).__name__
        message = f"Model version (name={model}, version={name}) failed to load: {reason}"
        self._failures[key] = LoadFailure(message)
        self.metrics.load_failures.labels(model, name).inc()
        log.warning("%s", message, exc_info=not isinstance(error, MLEngineError))
        return UnavailableError(message)

    def _insert(self, loaded: LoadedVersion) -> None:
        key = (loaded.model, loaded.number)
        self._loaded[key] = loaded
        self._loaded.move_to_end(key)
        self._names[(loaded.model, loaded.name)] = loaded.number
        while len(self._loaded) > self.settings.max_loaded_versions:
            self._evict(next(iter(self._loaded)))
        self.metrics.loaded.set(len(self._loaded))

    def _evict(self, key: Key) -> None:
        gone = self._loaded.pop(key, None)
        if gone is not None and self._names.get((gone.model, gone.name)) == gone.number:
            del self._names[(gone.model, gone.name)]
        self.metrics.loaded.set(len(self._loaded))

    # ------------------------------------------------------------------ polling

    async def refresh(self, startup: bool = False) -> None:
        """Read the registry: load new defaults, swap them in, drop vanished versions."""
        if isinstance(self.registry, DeferredRegistry) and not self.registry.opened:
            await self.call(self.registry.open)
        models = await self.call(self.registry.list_models)
        wanted: dict[str, int] = {}
        for found in models:
            default = found.default_version
            if default is not None and default.state == VersionState.READY:
                wanted[found.name] = default.number
        budget = self.settings.max_loaded_versions
        for model, number in wanted.items():
            key = (model, number)
            if key in self._loaded:
                continue
            previous = self._defaults.get(model)
            serving = previous is not None and (model, previous) in self._loaded
            if startup:
                if budget <= 0:
                    continue
                budget -= 1
            elif not serving:
                continue  # a cold model loads on its first request
            try:
                await self._load(key)
            except MLEngineError:
                if serving and previous is not None:
                    wanted[model] = previous  # keep serving the last good default
        self._defaults = wanted
        self._labels = {
            (found.name, label): number
            for found in models
            for label, number in found.version_labels.items()
        }
        logging: dict[Key, RequestLoggingConfig] = {}
        for found in models:
            if found.online_prediction_logging:
                for version in await self.call(self.registry.list_versions, found.name):
                    config = found.logging_for(version)
                    if config is not None:
                        logging[(found.name, version.number)] = config
        self._logging = logging
        await self._drop_vanished({found.name for found in models})

    async def _drop_vanished(self, models: set[str]) -> None:
        """Forget versions whose model is gone, or that were deleted or are no longer READY."""
        for key in [key for key in self._failures if key[0] not in models]:
            del self._failures[key]
        for model in sorted({model for model, _ in self._loaded}):
            if model not in models:
                for key in [key for key in self._loaded if key[0] == model]:
                    self._evict(key)
                continue
            try:
                versions = await self.call(self.registry.list_versions, model)
            except MLEngineError:
                continue
            ready = {v.number: v for v in versions if v.state == VersionState.READY}
            for key in [key for key in self._loaded if key[0] == model]:
                if key[1] not in ready:
                    self._evict(key)
            present = {v.number for v in versions}
            for key in [key for key in self._failures if key[0] == model]:
                if key[1] not in present:
                    del self._failures[key]

    async def flush_uses(self) -> None:
        """Write the collected last-use times in one transaction."""
        self._last_flush = time.monotonic()
        uses, self._uses = self._uses, {}
        if not uses:
            return
        batch = [(m, n, datetime.fromtimestamp(t, UTC)) for (m, n), t in uses.items()]
        try:
            await self.call(self.registry.touch_many, batch)
        except Exception:
            log.warning("could not record last-use times; will retry", exc_info=True)
            for key, when in uses.items():
                self._uses[key] = max(when, self._uses.get(key, when))


__all__ = ["LoadFailure", "LoadedVersion", "ModelManager"]
