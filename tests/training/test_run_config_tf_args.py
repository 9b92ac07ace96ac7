"""RunConfig takes TensorFlow's session-only arguments, keeps them, ignores them, says so once."""

from __future__ import annotations

import logging

import pytest

from mlengine.estimator import RunConfig
from mlengine.training import config as config_module


def test_session_only_arguments_are_kept_ignored_and_noticed_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_module, "_NOTICED", set())
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        config = RunConfig(session_config={"device_count": {"GPU": 0}}, device_fn=None)
        copy = config.replace(save_checkpoints_steps=10).replace(session_config={"a": 1})
    assert config.session_config == {"device_count": {"GPU": 0}}
    assert copy.session_config == {"a": 1} and copy.save_checkpoints_steps == 10
    assert config.device_fn is None and config.train_distribute is None
    notices = [r.getMessage() for r in caplog.records if "accepted and ignored" in r.getMessage()]
    assert len(notices) == 1 and "session_config" in notices[0]  # device_fn=None: nothing


def test_cluster_properties_of_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = RunConfig()
    assert (config.is_chief, config.task_type, config.task_id) == (True, "chief", 0)
    assert (config.num_worker_replicas, config.num_ps_replicas) == (1, 0)
    with pytest.raises(AttributeError):
        config.no_such_argument  # noqa: B018
