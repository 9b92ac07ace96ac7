"""gcloud's command-line conventions for ``mlengine``, in one place.

- **Flags anywhere before ``--``**: ``mlengine models --regions us-central1 create census`` (the
  talk's form) and ``mlengine --project p models list`` parse as if each flag followed the
  command's name (:func:`normalize`).
- **gcloud-wide flags on every command**: ``--format``, ``--quiet``/``-q``, ``--verbosity``,
  ``--flatten``, ``--user-output-enabled`` act; ``--project``, ``--account``, ... are accepted
  and ignored. List commands add ``--filter``, ``--sort-by``, ``--limit``, ``--uri`` and
  ``--page-size`` (ignored).
- **Cloud-only flags** of each command (:mod:`mlengine.cli.cloud_flags`) are accepted, and
  those given are reported in one ``WARNING:`` line on standard error.
- **One-line errors**: every usage error prints ``ERROR: (mlengine.<group>.<command>)
  <message>`` and exits 2 (an unknown flag names the command's flags and the nearest one);
  runtime errors exit 1 (:mod:`mlengine.cli.output`). ``--help`` stays typer's rich help.

The values of the acting flags live in an :class:`Invocation` for the length of one command,
where :mod:`mlengine.cli.output` reads them.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_errors  # typer (>= 0.22) vendors click
from typer.core import TyperGroup

from mlengine.cli.cloud_flags import CLOUD_ONLY
from mlengine.cli.filters import Predicate, parse_filter
from mlengine.cli.projection import Format, Key, ProjectionError, parse_format, parse_key

GLOBAL_PANEL = "gcloud-wide flags"
LIST_PANEL = "List flags (gcloud's)"
CLOUD_PANEL = "Google Cloud flags (accepted, ignored here)"
VERBOSITIES = ("debug", "info", "warning", "error", "critical", "none")
_LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50, "none": 60}


@dataclass
class Invocation:
    """What the gcloud-wide and list flags of the running command asked for."""

    command: str = "mlengine"
    format: Format | None = None
    quiet: bool = False
    verbosity: str = "warning"
    user_output: bool = True
    flatten: list[Key] = field(default_factory=list)
    filter: Predicate | None = None
    sort_by: list[tuple[Key, bool]] = field(default_factory=list)
    limit: int | None = None
    uri: bool = False
    ignored: list[str] = field(default_factory=list)
    reported: bool = False
    log_handler: logging.Handler | None = None

    @property
    def warnings(self) -> bool:
        return self.verbosity in ("debug", "info", "warning")


_CURRENT: ContextVar[Invocation | None] = ContextVar("mlengine_invocation", default=None)


def invocation() -> Invocation:
    """The running command's flags (defaults outside a command, e.g. in a library call)."""
    current = _CURRENT.get()
    return Invocation() if current is None else current


def flush_ignored() -> None:
    """Print, once, the ``WARNING:`` line naming the cloud-only flags and keys given."""
    state = invocation()
    if state.ignored and not state.reported and state.warnings:
        typer.echo(
            "WARNING: Ignored, as they only mean something on Google Cloud: "
            + ", ".join(state.ignored)
            + ".",
            err=True,
        )
    state.reported = True


def ignore(*items: str) -> None:
    """Add cloud-only items (``--config`` keys, ...) to the one ``WARNING:`` line."""
    invocation().ignored.extend(item for item in items if item not in invocation().ignored)


# -- the flags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagSpec:
    """A flag added to commands: ``act`` stores its value, or ``None`` reports it ignored."""

    name: str
    help: str
    kind: type = str
    act: Callable[[Invocation, Any], None] | None = None
    short: str | None = None
    panel: str = CLOUD_PANEL


def _bad(flag: str, error: Exception) -> typer.BadParameter:
    return typer.BadParameter(str(error), param_hint=f"'{flag}'")


def _set_format(state: Invocation, value: str) -> None:
    state.format = parse_format(value)


def _set_verbosity(state: Invocation, value: str) -> None:
    """gcloud's levels on mlengine's logger (until the command ends: see GcloudGroup.main);
    debug and info get a handler on standard error, which Python only gives warnings."""
    if value.lower() not in VERBOSITIES:
        raise ValueError(f"{value!r} is not one of {', '.join(VERBOSITIES)}.")
    state.verbosity = value.lower()
    logger = logging.getLogger("mlengine")
    logger.setLevel(_LOG_LEVELS[state.verbosity])
    if state.verbosity in ("debug", "info") and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        state.log_handler = handler


def _set_sort_by(state: Invocation, value: str) -> None:
    for item in filter(None, (part.strip() for part in value.split(","))):
        state.sort_by.append((parse_key(item.lstrip("~"), "--sort-by"), item.startswith("~")))


def _set_flatten(state: Invocation, value: str) -> None:
    state.flatten.extend(
        parse_key(part.strip(), "--flatten") for part in value.split(",") if part.strip()
    )


def _set_limit(state: Invocation, value: int) -> None:
    if value < 1:
        raise ValueError(f"{value} is smaller than 1.")
    state.limit = value


def _setter(name: str) -> Callable[[Invocation, Any], None]:
    def act(state: Invocation, value: Any) -> None:
        setattr(state, name, value)

    return act


GLOBAL_FLAGS: tuple[FlagSpec, ...] = (
    FlagSpec(
        "--format",
        "Output format: json, yaml, text, csv, value(KEYS), table(KEYS), none.",
        act=_set_format,
        panel=GLOBAL_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--quiet",
        "Never prompt: take the default answer (delete proceeds).",
        bool,
        _setter("quiet"),
        short="-q",
        panel=GLOBAL_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--verbosity",
        "Logging: debug, info, warning (default), error, critical, none.",
        act=_set_verbosity,
        panel=GLOBAL_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--user-output-enabled",
        "Print progress and status lines (on by default).",
        bool,
        _setter("user_output"),
        panel=GLOBAL_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--flatten",
        "Print one record per item of these list keys (comma-separated).",
        act=_set_flatten,
        panel=GLOBAL_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--project", "Google Cloud project (one registry is one project here).", panel=GLOBAL_PANEL
    ),
    FlagSpec("--account", "Google Cloud account.", panel=GLOBAL_PANEL),
    FlagSpec("--billing-project", "Google Cloud project billed for the call.", panel=GLOBAL_PANEL),
    FlagSpec("--configuration", "gcloud named configuration.", panel=GLOBAL_PANEL),
    FlagSpec(
        "--impersonate-service-account", "Service account gcloud acts as.", panel=GLOBAL_PANEL
    ),
    FlagSpec("--trace-token", "Google Cloud trace token.", panel=GLOBAL_PANEL),
    FlagSpec("--log-http", "Log gcloud's HTTP requests.", bool, panel=GLOBAL_PANEL),
)
LIST_FLAGS: tuple[FlagSpec, ...] = (
    FlagSpec(
        "--filter",
        "Only resources matching this gcloud filter expression.",
        act=lambda state, value: setattr(state, "filter", parse_filter(value)),
        panel=LIST_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--sort-by",
        "Sort by these keys (comma-separated; ~KEY descending).",
        act=_set_sort_by,
        panel=LIST_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--limit",
        "Print at most this many resources (after --filter and --sort-by).",
        int,
        _set_limit,
        panel=LIST_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--uri",
        "Print resource names instead of the table.",
        bool,
        _setter("uri"),
        panel=LIST_PANEL,
    ),  # fmt: skip
    FlagSpec(
        "--page-size",
        "Results per API page (everything is listed at once here).",
        int,
        panel=LIST_PANEL,
    ),  # fmt: skip
)
LIST_COMMANDS = {("models", "list"), ("versions", "list"), ("jobs", "list"), ("operations", "list")}


def _callback(spec: FlagSpec) -> Callable[[Any], Any]:
    def callback(value: Any) -> Any:
        if value is None or value == ():
            return value
        state = invocation()
        if spec.act is None:
            if spec.kind is bool:
                state.ignored.append(spec.name if value else f"--no-{spec.name[2:]}")
            else:
                state.ignored.append(f"{spec.name}={value}")
            return value
        try:
            spec.act(state, value)
        except (ProjectionError, ValueError) as error:
            raise _bad(spec.name, error) from None
        return value

    return callback


def _declarations(spec: FlagSpec) -> tuple[str, ...]:
    if spec.short is not None:
        return (spec.name, spec.short)
    if spec.kind is bool:
        return (f"{spec.name}/--no-{spec.name[2:]}",)
    return (spec.name,)


_BUILT: dict[tuple[str, ...], list[Any]] = {}


def build_options(specs: Sequence[FlagSpec]) -> list[Any]:
    """typer options for ``specs`` (not passed to the command's function; their callbacks
    store the values): declared through typer's public API on a stand-in function."""
    cache_key = tuple(f"{spec.panel}|{spec.name}" for spec in specs)
    if cache_key in _BUILT:
        return _BUILT[cache_key]
    parameters = []
    for index, spec in enumerate(specs):
        option = typer.Option(
            *_declarations(spec),
            help=spec.help,
            callback=_callback(spec),
            expose_value=False,
            show_default=False,
            rich_help_panel=spec.panel,
        )
        annotation = Annotated[spec.kind | None, option]  # type: ignore[name-defined]
        parameters.append(
            inspect.Parameter(
                f"flag_{index}", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )

    def stand_in(**_: Any) -> None:
        """Holds the flags."""

    stand_in.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    stand_in.__annotations__ = {p.name: p.annotation for p in parameters}
    holder = typer.Typer(add_completion=False)
    holder.command()(stand_in)
    built = list(typer.main.get_command(holder).params)
    _BUILT[cache_key] = built
    return built


def leaves(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, command)`` of every command below ``group`` (``("models", "create")``, ...)."""
    for name, command in getattr(group, "commands", {}).items():
        if hasattr(command, "commands"):
            yield from leaves(command, (*path, name))
        else:
            yield (*path, name), command


def option_names(command: Any) -> list[str]:
    """Every option name a command takes (``--model``, ``--no-async``, ``-q``, ...)."""
    names: list[str] = []
    for param in command.params:
        names += [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    return [name for name in names if name.startswith("-")]


def install(root: Any) -> None:
    """Add the gcloud-wide, list and cloud-only flags to every command below ``root``."""
    for path, command in leaves(root):
        if getattr(command, "_gcloud_flags", False):
            continue
        cloud = tuple(
            FlagSpec(flag.name, flag.help, str if flag.takes_value else bool)
            for flag in CLOUD_ONLY.get(path, ())
        )
        specs = GLOBAL_FLAGS + (LIST_FLAGS if path in LIST_COMMANDS else ()) + cloud
        own = set(option_names(command))
        kept = [spec for spec in specs if spec.name not in own]
        command.params.extend(build_options(kept))
        command._gcloud_flags = True


def _takes_value(root: Any) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for _, command in leaves(root):
        for param in command.params:
            for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                found.setdefault(name, not getattr(param, "is_flag", False))
    return found


def normalize(root: Any, argv: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """``argv`` with the flags given before the command's name moved after it, and the
    command's path (``("models", "create")``; empty when argv names no command)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:cut], argv[cut:]
    takes_value = _takes_value(root)
    group, path, moved = root, [], []
    index = 0
    while index < len(head) and hasattr(group, "commands"):
        token = head[index]
        if token in ("--help", "-h", "--version"):
            return argv, ()
        if token.startswith("-") and token != "-":
            moved.append(token)
            if "=" not in token and takes_value.get(token, False) and index + 1 < len(head):
                moved.append(head[index + 1])
                index += 1
            index += 1
            continue
        if token not in group.commands:
            return argv, ()
        path.append(token)
        group = group.commands[token]
        index += 1
    if hasattr(group, "commands"):
        return argv, ()
    return [*path, *moved, *head[index:], *tail], tuple(path)


# -- errors -------------------------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(text.split())


def _command_of(error: click_errors.ClickException, fallback: str) -> str:
    ctx = getattr(error, "ctx", None)
    if ctx is None:
        return fallback
    return ".".join(ctx.command_path.split())


def _unknown_option(error: click_errors.NoSuchOption) -> str:
    ctx = error.ctx
    flag = error.option_name
    if ctx is None:
        return f"unrecognized arguments: {flag}"
    names = option_names(ctx.command)
    nearest = difflib.get_close_matches(flag, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{nearest[0]}'?)" if nearest else ""
    own = [
        name
        for param in ctx.command.params
        if getattr(param, "rich_help_panel", None) != GLOBAL_PANEL
        for name in getattr(param, "opts", [])
        if name.startswith("--")
    ]
    return (
        f"unrecognized arguments: {flag}{hint}; `{ctx.command_path}` takes "
        f"{', '.join(sorted(set(own)))} and the gcloud-wide flags (--format, --quiet, "
        "--project, ...)."
    )


class GcloudGroup(TyperGroup):
    """The root ``mlengine`` group: gcloud's flag placement, flags and one-line errors."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        install(self)
        argv, path = normalize(self, list(sys.argv[1:] if args is None else args))
        state = Invocation(command=".".join(("mlengine", *path)))
        token = _CURRENT.set(state)
        logger = logging.getLogger("mlengine")
        level = logger.level
        try:
            code = self._run(argv, complete_var, extra)
        finally:
            _CURRENT.reset(token)
            logger.setLevel(level)  # --verbosity lasts one command (tests run many in-process)
            if state.log_handler is not None:
                logger.removeHandler(state.log_handler)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, argv: list[str], complete_var: str | None, extra: dict[str, Any]) -> int:
        state = invocation()
        try:
            result = super().main(
                args=argv,
                prog_name="mlengine",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click_errors.NoArgsIsHelpError:
            return 2  # the help is printed already
        except click_errors.NoSuchOption as error:
            command = _command_of(error, state.command)
            typer.echo(f"ERROR: ({command}) {one_line(_unknown_option(error))}", err=True)
            return 2
        except click_errors.ClickException as error:
            command = _command_of(error, state.command)
            typer.echo(f"ERROR: ({command}) {one_line(error.format_message())}", err=True)
            return error.exit_code
        except typer.Abort:
            typer.echo(f"ERROR: ({state.command}) Aborted by user.", err=True)
            return 1
        except Exception as error:
            if state.verbosity == "debug":
                raise
            flush_ignored()
            detail = one_line(str(error))
            typer.echo(
                f"ERROR: ({state.command}) mlengine crashed ({type(error).__name__}): {detail} "
                "(--verbosity=debug shows the traceback)",
                err=True,
            )
            return 1
        flush_ignored()
        return result if isinstance(result, int) else 0


__all__ = [
    "CLOUD_PANEL",
    "GLOBAL_FLAGS",
    "GLOBAL_PANEL",
    "LIST_COMMANDS",
    "LIST_FLAGS",
    "LIST_PANEL",
    "FlagSpec",
    "GcloudGroup",
    "Invocation",
    "flush_ignored",
    "ignore",
    "install",
    "invocation",
    "leaves",
    "normalize",
    "one_line",
    "option_names",
]
