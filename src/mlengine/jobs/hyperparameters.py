"""ML Engine's ``trainingInput.hyperparameters``: checked key by key, and mapped onto Optuna.

The spec is ML Engine's HyperparameterSpec (``goal``, ``params``, ``maxTrials``,
``maxParallelTrials``, ``maxFailedTrials``, ``hyperparameterMetricTag``,
``enableTrialEarlyStopping``, ``resumePreviousJobId``, ``algorithm``) with its ParameterSpecs
(``parameterName``, ``type``, ``minValue``, ``maxValue``, ``categoricalValues``,
``discreteValues``, ``scaleType``). Every mistake is one error naming the key's path
(``trainingInput.hyperparameters.params[1].minValue``).

Optuna does the searching; this module only translates:

============================  ==============================================================
ML Engine                     Optuna
============================  ==============================================================
INTEGER / DOUBLE              ``IntDistribution`` / ``FloatDistribution`` (``log=True`` for
                              UNIT_LOG_SCALE)
UNIT_REVERSE_LOG_SCALE        a log-scaled distribution of the value mirrored in its range
                              (``min + max - value``), so values crowd near the *top*, as
                              ML Engine's reverse log scale does; Optuna's own records hold
                              the mirrored value, the job's trials the real one
CATEGORICAL / DISCRETE        ``CategoricalDistribution`` of the values
ALGORITHM_UNSPECIFIED         ``TPESampler`` (``constant_liar`` for parallel trials)
RANDOM_SEARCH / GRID_SEARCH   ``RandomSampler`` / ``GridSampler`` (no DOUBLE parameter, as in
                              ML Engine; ``maxTrials`` capped at the grid's size)
enableTrialEarlyStopping      ``MedianPruner`` over the trials' intermediate metrics
============================  ==============================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from mlengine.errors import InvalidParameterError

if TYPE_CHECKING:  # optuna is imported where a tuning job runs, not by every CLI call
    import optuna

WHERE = "trainingInput.hyperparameters"
# What ML Engine's trainer reported without a tag (cloudml-hypertune's default too).
DEFAULT_METRIC_TAG = "training/hptuning/metric"
GOALS: dict[str, Literal["minimize", "maximize"]] = {
    "MAXIMIZE": "maximize",
    "MINIMIZE": "minimize",
}
ALGORITHMS = ("ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH")
TYPES = ("INTEGER", "DOUBLE", "CATEGORICAL", "DISCRETE")
SCALES = ("NONE", "UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
SPEC_KEYS = frozenset(
    {"goal", "params", "maxTrials", "maxParallelTrials", "maxFailedTrials"}
    | {"hyperparameterMetricTag", "enableTrialEarlyStopping", "resumePreviousJobId", "algorithm"}
)
PARAM_KEYS = frozenset(
    {"parameterName", "type", "minValue", "maxValue", "categoricalValues", "discreteValues"}
    | {"scaleType"}
)
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _fail(path: str, message: str) -> InvalidParameterError:
    return InvalidParameterError(f"Invalid {path}: {message}")


def _keys(data: Any, known: frozenset[str], path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(path, f"expected a mapping, got {type(data).__name__}.")
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidParameterError(
            f"Unknown key '{path}.{unknown[0]}'; allowed in {path}: {', '.join(sorted(known))}."
        )
    return data


def _number(value: Any, path: str, integer: bool = False) -> float | int:
    """A finite number from a number or its decimal string (JSON's int64 and double)."""
    if isinstance(value, bool):
        raise _fail(path, f"expected a number, got {value!r}.")
    number: float | int
    try:
        number = value if isinstance(value, int | float) else float(str(value).strip())
    except ValueError:
        raise _fail(path, f"expected a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise _fail(path, f"expected a finite number, got {value!r}.")
    if integer:
        if float(number) != int(number):
            raise _fail(path, f"expected an integer, got {value!r}.")
        return int(number)
    return number


def _count(data: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    if data.get(key) is None:
        return default
    value = int(_number(data[key], f"{WHERE}.{key}", integer=True))
    if value < minimum:
        raise _fail(f"{WHERE}.{key}", f"must be >= {minimum}, got {value}.")
    return value


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...], path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or value.upper() not in allowed:
        raise _fail(f"{path}.{key}", f"expected one of {', '.join(allowed)}, got {value!r}.")
    return value.upper()


def _param(data: Any, path: str) -> dict[str, Any]:
    data = _keys(data, PARAM_KEYS, path)
    name = data.get("parameterName")
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise _fail(
            f"{path}.parameterName",
            f"expected a flag name (a letter, then letters, digits, '_' or '-'), got {name!r}.",
        )
    kind = _choice(data, "type", TYPES, path)
    scale = "NONE" if data.get("scaleType") is None else _choice(data, "scaleType", SCALES, path)
    param: dict[str, Any] = {"parameterName": name, "type": kind}
    allowed_keys = {
        "INTEGER": {"minValue", "maxValue"},
        "DOUBLE": {"minValue", "maxValue"},
        "CATEGORICAL": {"categoricalValues"},
        "DISCRETE": {"discreteValues"},
    }[kind]
    for key in ("minValue", "maxValue", "categoricalValues", "discreteValues"):
        if data.get(key) is not None and key not in allowed_keys:
            raise _fail(f"{path}.{key}", f"a {kind} parameter takes {' and '.join(allowed_keys)}.")
    log = scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
    if kind in ("INTEGER", "DOUBLE"):
        integer = kind == "INTEGER"
        for key in ("minValue", "maxValue"):
            if data.get(key) is None:
                raise _fail(f"{path}.{key}", f"a {kind} parameter needs minValue and maxValue.")
        low = _number(data["minValue"], f"{path}.minValue", integer)
        high = _number(data["maxValue"], f"{path}.maxValue", integer)
        if low > high:
            raise _fail(f"{path}.minValue", f"minValue {low} is greater than maxValue {high}.")
        if log and low <= 0:
            raise _fail(
                f"{path}.scaleType",
                f"{scale} needs values > 0, but minValue is {low} (use UNIT_LINEAR_SCALE).",
            )
        param.update(minValue=low, maxValue=high)
    elif kind == "CATEGORICAL":
        values = data.get("categoricalValues")
        if not isinstance(values, list) or not values:
            raise _fail(f"{path}.categoricalValues", "expected a non-empty list of strings.")
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise _fail(f"{path}.categoricalValues[{i}]", f"expected a string, got {value!r}.")
        if len(set(values)) != len(values):
            raise _fail(f"{path}.categoricalValues", "values must be distinct.")
        if scale != "NONE":
            raise _fail(f"{path}.scaleType", "a CATEGORICAL parameter has no scale.")
        param["categoricalValues"] = list(values)
    else:
        values = data.get("discreteValues")
        if not isinstance(values, list) or not values:
            raise _fail(f"{path}.discreteValues", "expected a non-empty list of numbers.")
        numbers = [_number(v, f"{path}.discreteValues[{i}]") for i, v in enumerate(values)]
        if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
            raise _fail(f"{path}.discreteValues", "values must be in increasing order.")
        if log and numbers[0] <= 0:
            raise _fail(f"{path}.scaleType", f"{scale} needs values > 0, got {numbers[0]}.")
        param["discreteValues"] = numbers
    if scale != "NONE":
        param["scaleType"] = scale
    return param


def check_spec(data: Any) -> dict[str, Any]:
    """The checked HyperparameterSpec, with ML Engine's defaults filled in.

    Raises:
        InvalidParameterError: an unknown key, a missing or bad value, naming its path.
    """
    data = _keys(data, SPEC_KEYS, WHERE)
    goal = _choice(data, "goal", tuple(GOALS), WHERE)
    params = data.get("params")
    if not isinstance(params, list) or not params:
        raise _fail(f"{WHERE}.params", "expected a non-empty list of parameters.")
    checked = [_param(p, f"{WHERE}.params[{i}]") for i, p in enumerate(params)]
    seen: set[str] = set()
    for i, param in enumerate(checked):
        if param["parameterName"] in seen:
            raise _fail(
                f"{WHERE}.params[{i}].parameterName",
                f"{param['parameterName']!r} is named twice.",
            )
        seen.add(param["parameterName"])
    spec: dict[str, Any] = {"goal": goal, "params": checked}
    algorithm = "ALGORITHM_UNSPECIFIED"
    if data.get("algorithm") is not None:
        algorithm = _choice(data, "algorithm", ALGORITHMS, WHERE)
    if algorithm == "GRID_SEARCH":
        for i, param in enumerate(checked):
            if param["type"] == "DOUBLE":
                raise _fail(
                    f"{WHERE}.params[{i}].type",
                    "GRID_SEARCH needs INTEGER, CATEGORICAL or DISCRETE parameters; "
                    f"{param['parameterName']!r} is DOUBLE.",
                )
    spec["algorithm"] = algorithm
    spec["maxTrials"] = _count(data, "maxTrials", 1, 1)
    spec["maxParallelTrials"] = _count(data, "maxParallelTrials", 1, 1)
    spec["maxFailedTrials"] = _count(data, "maxFailedTrials", 0, 0)
    tag = data.get("hyperparameterMetricTag")
    if tag is not None and (not isinstance(tag, str) or not tag.strip()):
        raise _fail(f"{WHERE}.hyperparameterMetricTag", f"expected a tag name, got {tag!r}.")
    spec["hyperparameterMetricTag"] = tag or DEFAULT_METRIC_TAG
    early = data.get("enableTrialEarlyStopping", False)
    if not isinstance(early, bool):
        raise _fail(f"{WHERE}.enableTrialEarlyStopping", f"expected true or false, got {early!r}.")
    spec["enableTrialEarlyStopping"] = early
    previous = data.get("resumePreviousJobId")
    if previous is not None:
        if not isinstance(previous, str) or not previous:
            raise _fail(f"{WHERE}.resumePreviousJobId", f"expected a job id, got {previous!r}.")
        spec["resumePreviousJobId"] = previous
    return spec


def grid(spec: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every parameter's values, for GRID_SEARCH (INTEGER ranges listed)."""
    values: dict[str, list[Any]] = {}
    for param in spec["params"]:
        name = param["parameterName"]
        if param["type"] == "INTEGER":
            values[name] = list(range(int(param["minValue"]), int(param["maxValue"]) + 1))
        elif param["type"] == "CATEGORICAL":
            values[name] = list(param["categoricalValues"])
        else:
            values[name] = list(param["discreteValues"])
    return values


def trial_budget(spec: Mapping[str, Any]) -> int:
    """``maxTrials``, capped at the grid's size for GRID_SEARCH (each point runs once)."""
    if spec["algorithm"] != "GRID_SEARCH":
        return int(spec["maxTrials"])
    return min(int(spec["maxTrials"]), math.prod(len(v) for v in grid(spec).values()))


def distributions(spec: Mapping[str, Any]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Each parameter's Optuna distribution (reverse log scales over the mirrored value)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for param in spec["params"]:
        log = param.get("scaleType") in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
        name, kind = param["parameterName"], param["type"]
        if kind == "INTEGER":
            found[name] = IntDistribution(param["minValue"], param["maxValue"], log=log)
        elif kind == "DOUBLE":
            found[name] = FloatDistribution(param["minValue"], param["maxValue"], log=log)
        else:
            found[name] = CategoricalDistribution(
                param.get("categoricalValues") or param["discreteValues"]
            )
    return found


def actual_values(spec: Mapping[str, Any], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's values from Optuna's (a reverse log scale's mirrored value turned back)."""
    values = dict(sampled)
    for param in spec["params"]:
        name = param["parameterName"]
        if param.get("scaleType") == "UNIT_REVERSE_LOG_SCALE" and param["type"] != "DISCRETE":
            values[name] = param["minValue"] + param["maxValue"] - values[name]
    return values


def format_value(value: Any) -> str:
    """A value as the trainer's argument gets it (``64``, ``0.001``, ``relu``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def trial_args(values: Mapping[str, Any]) -> list[str]:
    """``--name=value`` for each parameter, as ML Engine appended them to the trainer's args."""
    return [f"--{name}={format_value(value)}" for name, value in values.items()]


def _grid_sampler(search_space: dict[str, list[Any]], seed: int | None) -> Any:
    """Optuna's grid sampler, without its ``study.stop()`` once the grid is spent: that ends an
    ``optimize`` loop (and raises outside one), while a tuning job asks and tells; its budget
    is capped at the grid's size instead (:func:`trial_budget`)."""
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        def after_trial(self, *_args: Any, **_kwargs: Any) -> None:
            return None

    return GridSampler(search_space, seed=seed)


def sampler(spec: Mapping[str, Any], seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of ``algorithm``."""
    import optuna

    algorithm = spec["algorithm"]
    if algorithm == "GRID_SEARCH":
        return _grid_sampler(grid(spec), seed)
    if algorithm == "RANDOM_SEARCH":
        return optuna.samplers.RandomSampler(seed=seed)
    # TPE starts from random trials; with a small budget, a third of it (Optuna's default of
    # 10 would leave a 12-trial job almost all random).
    startup = max(1, min(10, int(spec["maxTrials"]) // 3))
    parallel = int(spec["maxParallelTrials"]) > 1
    return optuna.samplers.TPESampler(n_startup_trials=startup, constant_liar=parallel, seed=seed)


def pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """``MedianPruner`` when ``enableTrialEarlyStopping``, else none."""
    import optuna

    if not spec["enableTrialEarlyStopping"]:
        return optuna.pruners.NopPruner()
    startup = max(1, min(5, int(spec["maxTrials"]) // 4))
    return optuna.pruners.MedianPruner(n_startup_trials=startup)


__all__ = [
    "ALGORITHMS",
    "DEFAULT_METRIC_TAG",
    "GOALS",
    "PARAM_KEYS",
    "SCALES",
    "SPEC_KEYS",
    "TYPES",
    "actual_values",
    "check_spec",
    "distributions",
    "format_value",
    "grid",
    "pruner",
    "sampler",
    "trial_args",
    "trial_budget",
]
