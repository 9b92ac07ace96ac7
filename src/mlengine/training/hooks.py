"""Session run hooks and checkpoint saver listeners: TensorFlow's callbacks around each step.

A hook is any object with some of ``begin()``, ``after_create_session(session, coord)``,
``before_run(run_context)``, ``after_run(run_context, run_values)`` and ``end(session)``
(:class:`SessionRunHook` gives them all as no-ops); a saving listener has some of ``begin()``,
``before_save(session, global_step_value)``, ``after_save(session, global_step_value)`` (a true
answer stops training, as in TF) and ``end(session, global_step_value)``.

There is no TensorFlow session: ``session`` is a :class:`RunSession` whose ``run(fetches)``
reads the values below, and ``before_run`` asks for them with
``SessionRunArgs(fetches)``, where ``fetches`` is a name, a list or a dict of names (a
``":0"`` suffix is ignored, so TF's tensor names work):

=================  =====================================================================
``loss``           this step's training loss (as the loss summary: mean, or sum under SUM)
``global_step``    the global step before this step's update (0 at the first step, as TF)
``learning_rate``  the learning rate; a dict by part (``linear``, ``dnn``) when there are two
``batch_size``     the number of examples in this step's batch
=================  =====================================================================

Anything else is a :class:`~mlengine.errors.NotSupportedError` naming it. ``after_run`` gets a
:class:`SessionRunValues` whose ``results`` has the shape of the fetches. Reading ``loss``
costs a device sync, so hooks should ask for it only on the steps they log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlengine.errors import NotSupportedError

FETCHABLE = ("loss", "global_step", "learning_rate", "batch_size")


class SessionRunHook:
    """Base class of hooks: every callback does nothing until overridden."""

    def begin(self) -> None:
        """Called once before training starts."""

    def after_create_session(self, session: Any, coord: Any) -> None:
        """Called once the model is built and restored (``coord`` is always None)."""

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        """Called before each step; return the values to fetch in it (or None)."""
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        """Called after each step with the fetched values; ``request_stop()`` ends training."""

    def end(self, session: Any) -> None:
        """Called once training has ended (not when it failed)."""


class CheckpointSaverListener:
    """Base class of ``saving_listeners``: callbacks around each checkpoint save."""

    def begin(self) -> None:
        """Called once before training starts."""

    def before_save(self, session: Any, global_step_value: int) -> None:
        """Called before each checkpoint is written."""

    def after_save(self, session: Any, global_step_value: int) -> bool | None:
        """Called after each checkpoint is written; returning True stops training."""
        return None

    def end(self, session: Any, global_step_value: int) -> None:
        """Called once training has ended, after the last checkpoint."""


@dataclass(frozen=True)
class SessionRunArgs:
    """What a hook fetches in a step: a name, or a list or dict of names (see the module)."""

    fetches: Any
    feed_dict: Any = None
    options: Any = None


@dataclass(frozen=True)
class SessionRunValues:
    """What was fetched: ``results`` mirrors the fetches of :class:`SessionRunArgs`."""

    results: Any
    options: Any = None
    run_metadata: Any = None


@dataclass
class SessionRunContext:
    """A step's context: ``request_stop()`` asks the loop to stop after this step."""

    original_args: SessionRunArgs | None
    session: Any
    _stop: bool = field(default=False, repr=False)

    def request_stop(self) -> None:
        self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop


def fetch_name(fetch: Any) -> str:
    """A fetch's name (TF tensor names lose their ``:0``); unknown names are refused."""
    name = getattr(fetch, "name", fetch)
    if not isinstance(name, str):
        raise NotSupportedError(
            f"SessionRunArgs fetches names of values ({', '.join(FETCHABLE)}); got {fetch!r}."
        )
    name = name.removesuffix(":0")
    if name not in FETCHABLE:
        raise NotSupportedError(
            f"Hooks cannot fetch {name!r}: the values a training step offers are "
            f"{', '.join(FETCHABLE)} (see mlengine.training.hooks)."
        )
    return name


def resolve_fetches(fetches: Any, value_of: Callable[[str], Any]) -> Any:
    """The values of ``fetches`` (a name, a list/tuple or a dict of names), same shape."""
    if fetches is None:
        return None
    if isinstance(fetches, Mapping):
        return {key: resolve_fetches(item, value_of) for key, item in fetches.items()}
    if isinstance(fetches, list | tuple):
        return type(fetches)(resolve_fetches(item, value_of) for item in fetches)
    return value_of(fetch_name(fetches))


class RunSession:
    """The ``session`` hooks and listeners get: ``run(fetches)`` reads the values of the
    module docstring outside a step (``global_step``, ``learning_rate``)."""

    def __init__(self, value_of: Callable[[str], Any]) -> None:
        self._value_of = value_of

    def run(self, fetches: Any, feed_dict: Any = None) -> Any:
        return resolve_fetches(fetches, self._value_of)


class Hooks:
    """The loop's view of its hooks and listeners: one call per callback kind."""

    def __init__(self, hooks: Sequence[Any] = (), listeners: Sequence[Any] = ()) -> None:
        self.hooks = list(hooks)
        self.listeners = list(listeners)
        self.stop_requested = False

    def __bool__(self) -> bool:
        return bool(self.hooks or self.listeners)

    @staticmethod
    def _call(target: Any, method: str, *args: Any) -> Any:
        function = getattr(target, method, None)
        return function(*args) if function is not None else None

    def begin(self, session: RunSession) -> None:
        for hook in self.hooks:
            self._call(hook, "begin")
        for listener in self.listeners:
            self._call(listener, "begin")
        for hook in self.hooks:
            self._call(hook, "after_create_session", session, None)

    def before_run(self, session: RunSession) -> list[tuple[Any, SessionRunContext]]:
        """Each hook's context and args for one step (hooks that fetch nothing included)."""
        out = []
        for hook in self.hooks:
            context = SessionRunContext(None, session)
            args = self._call(hook, "before_run", context)
            context.original_args = args
            out.append((hook, context))
        return out

    def after_run(
        self, contexts: list[tuple[Any, SessionRunContext]], value_of: Callable[[str], Any]
    ) -> None:
        for hook, context in contexts:
            args = context.original_args
            results = None if args is None else resolve_fetches(args.fetches, value_of)
            self._call(hook, "after_run", context, SessionRunValues(results))
            self.stop_requested = self.stop_requested or context.stop_requested

    def before_save(self, session: RunSession, step: int) -> None:
        for listener in self.listeners:
            self._call(listener, "before_save", session, step)

    def after_save(self, session: RunSession, step: int) -> None:
        for listener in self.listeners:
            if self._call(listener, "after_save", session, step):
                self.stop_requested = True

    def end(self, session: RunSession, step: int) -> None:
        for listener in self.listeners:
            self._call(listener, "end", session, step)
        for hook in self.hooks:
            self._call(hook, "end", session)


__all__ = [
    "FETCHABLE",
    "CheckpointSaverListener",
    "Hooks",
    "RunSession",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "fetch_name",
    "resolve_fetches",
]
