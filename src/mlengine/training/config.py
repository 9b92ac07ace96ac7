"""RunConfig: where and how an estimator runs (tf.estimator.RunConfig's names and defaults)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from mlengine.errors import InvalidParameterError

DEFAULT_SAVE_CHECKPOINTS_SECS = 600  # TF: every 600 s when neither steps nor secs is given

#: tf.estimator.RunConfig arguments that only configure a TensorFlow session, graph or
#: distribution strategy: accepted (and kept, so ``config.session_config`` reads back) and
#: ignored, with one notice per argument and process. Data-parallel training is torchrun's.
SESSION_ONLY_ARGS = (
    "session_config",
    "device_fn",
    "protocol",
    "session_creation_timeout_secs",
    "checkpoint_save_graph_def",
    "train_distribute",
    "eval_distribute",
    "experimental_distribute",
    "experimental_max_worker_delay_secs",
)
_NOTICED: set[str] = set()
logger = logging.getLogger("mlengine")


@dataclass(frozen=True)
class RunConfig:
    """How an estimator trains: model_dir, seed, checkpoint and summary cadence, device, threads.

    Args:
        model_dir: where checkpoints, event files and the ``eval/`` folder live.
        tf_random_seed: seed of every random choice (weights, dropout); ``random_seed`` is an
            alias. None: a fresh seed.
        save_summary_steps: write ``loss`` and ``learning_rate`` summaries every N steps.
        save_checkpoints_steps / save_checkpoints_secs: checkpoint cadence (one of them; with
            neither, every 600 s as TF). A checkpoint is always written when ``train`` ends.
        keep_checkpoint_max: newest checkpoints kept (None or 0: all).
        log_step_count_steps: print step, loss and examples/s, and write ``global_step/sec``,
            every N steps.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).
        intra_op_threads: torch CPU threads while training. Default 1: the Wide & Deep step at
            small batches is dominated by per-op overhead, and extra threads were measured to
            slow it down, badly so on a loaded 2-core machine. Raise it for large batches.
        quiet: no progress lines.
        distributed_timeout_secs: under torchrun, how long a collective (gloo or NCCL) may
            wait for the other ranks before the job fails, instead of hanging.

    TensorFlow's session-only arguments (:data:`SESSION_ONLY_ARGS`: ``session_config``,
    ``device_fn``, ``train_distribute``, ``experimental_*``...) are accepted, readable as
    attributes, and ignored, with one notice saying so.
    """

    model_dir: str | None = None
    tf_random_seed: int | None = None
    save_summary_steps: int = 100
    save_checkpoints_steps: int | None = None
    save_checkpoints_secs: float | None = None
    keep_checkpoint_max: int | None = 5
    keep_checkpoint_every_n_hours: float = 10000
    log_step_count_steps: int = 100
    device: str = "cpu"
    intra_op_threads: int | None = 1
    quiet: bool = False
    distributed_timeout_secs: float = 60.0

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, **kwargs: Any):
        ignored = {name: kwargs.pop(name) for name in SESSION_ONLY_ARGS if name in kwargs}
        object.__setattr__(self, "_session_only", ignored)
        for name, value in ignored.items():
            if value is not None and name not in _NOTICED:
                _NOTICED.add(name)
                logger.warning(
                    "RunConfig(%s=...) is accepted and ignored: it configures a TensorFlow "
                    "session or distribution strategy, which mlengine does not have "
                    "(data-parallel training runs under torchrun).",
                    name,
                )
        if "random_seed" in kwargs:
            if kwargs.get("tf_random_seed") is not None:
                raise InvalidParameterError(
                    "RunConfig: give tf_random_seed or random_seed, not both."
                )
            kwargs["tf_random_seed"] = kwargs.pop("random_seed")
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(kwargs) - known
        if unknown:
            raise InvalidParameterError(
                f"RunConfig got unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}."
            )
        for field in dataclasses.fields(self):
            if field.name != "model_dir":
                object.__setattr__(self, field.name, kwargs.get(field.name, field.default))
        object.__setattr__(self, "model_dir", None if model_dir is None else os.fspath(model_dir))
        self._validate()

    def _validate(self) -> None:
        if self.save_checkpoints_steps is not None and self.save_checkpoints_secs is not None:
            raise InvalidParameterError(
                "RunConfig: save_checkpoints_steps and save_checkpoints_secs are mutually "
                "exclusive (as in TensorFlow)."
            )
        for name in ("save_summary_steps", "log_step_count_steps", "save_checkpoints_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidParameterError(
                    f"The {name!r} parameter of RunConfig must be an int >= 1. "
                    f"Got {value!r} instead."
                )
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise InvalidParameterError(
                "The 'intra_op_threads' parameter of RunConfig must be None or >= 1. "
                f"Got {self.intra_op_threads!r} instead."
            )
        if not (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:")):
            raise InvalidParameterError(
                "The 'device' parameter of RunConfig must be 'cpu', 'cuda', 'cuda:N' or 'auto'. "
                f"Got {self.device!r} instead."
            )

    @property
    def random_seed(self) -> int | None:
        return self.tf_random_seed

    def __getattr__(self, name: str) -> Any:
        # The session-only arguments read back as given (None when not given).
        if name in SESSION_ONLY_ARGS:
            return self.__dict__.get("_session_only", {}).get(name)
        raise AttributeError(name)

    # -- TF's cluster properties (one process, or torchrun's ranks) ---------------------------

    @property
    def task_id(self) -> int:
        """This process's rank (0 without torchrun)."""
        return int(os.environ.get("RANK", "0"))

    @property
    def num_worker_replicas(self) -> int:
        """How many processes train together (torchrun's WORLD_SIZE; 1 without it)."""
        return int(os.environ.get("WORLD_SIZE", "1"))

    @property
    def is_chief(self) -> bool:
        """Whether this process writes checkpoints, summaries and exports (rank 0)."""
        return self.task_id == 0

    @property
    def task_type(self) -> str:
        """``"chief"`` for rank 0, ``"worker"`` for the others (TF's names)."""
        return "chief" if self.is_chief else "worker"

    @property
    def num_ps_replicas(self) -> int:
        """Always 0: there are no parameter servers."""
        return 0

    @property
    def cluster_spec(self) -> dict[str, Any]:
        """TF_CONFIG's cluster, when the environment sets one (read only, for programs that
        inspect it); empty otherwise."""
        try:
            return dict(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}))
        except (ValueError, AttributeError):
            return {}

    @property
    def checkpoint_secs(self) -> float | None:
        """Seconds between time-based checkpoints (None when counted in steps)."""
        if self.save_checkpoints_steps is not None:
            return None
        return self.save_checkpoints_secs or DEFAULT_SAVE_CHECKPOINTS_SECS

    def torch_device(self) -> torch.device:
        """The device to use; ``cuda`` asked for without a GPU is an error, not a silent CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidParameterError(
                f"RunConfig(device={self.device!r}) but torch sees no CUDA device."
            )
        return device

    def replace(self, **kwargs: Any) -> RunConfig:
        """A copy with some fields changed (TF's ``RunConfig.replace``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(self.__dict__.get("_session_only", {}))
        values.update(kwargs)
        model_dir = values.pop("model_dir")
        return RunConfig(model_dir, **values)
