"""Tests of mlengine.training.summaries: event files read back with TensorBoard's own reader."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlengine.errors import InvalidParameterError
from mlengine.training.summaries import SummaryTags, SummaryWriter, eval_dir, write_eval_summaries


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard sees in ``logdir``: tag -> [(step, value)]."""
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_scalars_read_back_by_tensorboard(tmp_path: Path) -> None:
    with SummaryWriter(tmp_path) as writer:
        writer.scalar(SummaryTags.LOSS, 0.75, step=1)
        writer.scalars(
            {
                SummaryTags.LOSS: torch.tensor(0.5),
                SummaryTags.GLOBAL_STEP_PER_SEC: 812,
                SummaryTags.LEARNING_RATE: torch.tensor([0.05]),
            },
            step=100,
        )
        writer.scalar(SummaryTags.LOSS, 0.25, step=200)
    assert writer.closed
    files = glob.glob(os.path.join(tmp_path, "events.out.tfevents.*"))
    assert len(files) == 1
    scalars = read_scalars(tmp_path)
    assert set(scalars) == {"loss", "global_step/sec", "learning_rate"}
    assert scalars["loss"] == [(1, 0.75), (100, 0.5), (200, 0.25)]
    assert scalars["global_step/sec"] == [(100, 812.0)]
    steps, values = zip(*scalars["learning_rate"], strict=True)
    assert steps == (100,)
    assert values[0] == pytest.approx(0.05)  # stored as float32, as TF1's simple_value


def test_flush_makes_events_visible_before_close(tmp_path: Path) -> None:
    writer = SummaryWriter(tmp_path, flush_secs=3600)
    try:
        writer.scalar("loss", 1.5, step=7)
        writer.flush()
        assert read_scalars(tmp_path) == {"loss": [(7, 1.5)]}
    finally:
        writer.close()
    writer.close()  # a second close does nothing


def test_eval_summaries_go_to_eval_dir_without_global_step(tmp_path: Path) -> None:
    assert eval_dir(tmp_path) == os.path.join(tmp_path, "eval")
    assert eval_dir(tmp_path, "holdout") == os.path.join(tmp_path, "eval_holdout")
    metrics = {"accuracy": 0.875, "auc": 0.9375, "loss": 0.25, "label/mean": 0.5}
    path = write_eval_summaries(tmp_path, {**metrics, "global_step": 300}, global_step=300)
    assert path == eval_dir(tmp_path)
    write_eval_summaries(tmp_path, {"accuracy": 0.5, "global_step": 600}, 600, name="holdout")
    scalars = read_scalars(path)
    assert set(scalars) == set(metrics)
    assert scalars == {tag: [(300, value)] for tag, value in metrics.items()}
    assert read_scalars(eval_dir(tmp_path, "holdout")) == {"accuracy": [(600, 0.5)]}


def test_bad_values_and_closed_writer_are_refused(tmp_path: Path) -> None:
    writer = SummaryWriter(tmp_path)
    with pytest.raises(InvalidParameterError, match="'loss' needs a number"):
        writer.scalar("loss", "high", step=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="needs a scalar"):
        writer.scalar("loss", torch.ones(3), step=1)
    with pytest.raises(InvalidParameterError, match="step must be an int"):
        writer.scalar("loss", 1.0, step=1.5)  # type: ignore[arg-type]
    writer.close()
    with pytest.raises(InvalidParameterError, match="is closed"):
        writer.scalar("loss", 1.0, step=2)


def test_the_writer_starts_no_thread_and_writes_at_flush(tmp_path: Path) -> None:
    import threading

    before = threading.active_count()
    writer = SummaryWriter(tmp_path, max_queue_size=1000)
    assert threading.active_count() == before  # no background writer to compete with the loop
    writer.scalar(SummaryTags.LOSS, 0.5, step=1)
    assert SummaryTags.LOSS not in read_scalars(tmp_path)  # kept until a flush
    writer.flush()
    assert read_scalars(tmp_path)[SummaryTags.LOSS] == [(1, 0.5)]
    for step in range(2, 1002):  # the 1,000th kept event writes them all
        writer.scalar(SummaryTags.LOSS, 0.25, step=step)
    assert len(read_scalars(tmp_path)[SummaryTags.LOSS]) == 1001
    writer.close()
