"""What ``train`` shows: a bar in a real terminal (a pty), TF's lines elsewhere, nothing quiet."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pytest

from mlengine.training.progress import TrainingProgress, is_terminal
from tests.estimator.helpers import CASES
from tests.helpers import CONTROL_CODES, REPO_ROOT, run_in_terminal

# A tiny census model trained for STEPS steps (or, with "until-end", until its input ends).
TRAINER = """
import sys
from mlengine import estimator
from tests.estimator.helpers import CASES, census_rows
case = CASES[0]
config = estimator.RunConfig(quiet=sys.argv[2] == "quiet", log_step_count_steps=50,
                             tf_random_seed=1)
model = case.make(sys.argv[1], config=config)
if sys.argv[3] == "until-end":
    x, y = census_rows(600)
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=5, num_epochs=1, shuffle=False))
else:
    model.train(case.train_fn(batch_size=5), steps=int(sys.argv[3]))
print("done", flush=True)
"""


def _in_a_terminal(tmp_path: Path, *args: str) -> str:
    """Run the trainer with its stdout and stderr on a pseudo-terminal; what it drew."""
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    code, shown = run_in_terminal([sys.executable, str(script), str(tmp_path / "m"), *args], env)
    assert code == 0, shown
    return shown


@pytest.mark.timeout(180)
def test_a_terminal_shows_a_bar_with_steps_rate_loss_and_eta(tmp_path: Path) -> None:
    shown = _in_a_terminal(tmp_path, "chatty", "300")
    plain = CONTROL_CODES.sub("", shown)
    assert "step 300/300" in plain
    assert re.search(r"[\d,]+ examples/s", plain) and re.search(r"loss \d", plain)
    assert re.search(r"\d+:\d\d:\d\d", plain)  # rich's time remaining
    assert "\x1b[" in shown  # drawn in place, not printed as lines
    assert "loss = " not in plain and "done" in plain


@pytest.mark.timeout(180)
def test_a_terminal_run_of_unknown_length_prints_tfs_lines(tmp_path: Path) -> None:
    plain = CONTROL_CODES.sub("", _in_a_terminal(tmp_path, "chatty", "until-end"))
    assert re.search(r"loss = [\d.e+-]+, step = 0\r?\n", plain)
    assert re.search(r"loss = [\d.e+-]+, step = 100 \(\d+\.\d{3} sec\)", plain)
    assert re.search(r"global_step/sec: [\d.e+]+ \([\d,]+ examples/sec\)", plain)
    assert "examples/s " not in plain  # no bar


@pytest.mark.timeout(180)
def test_quiet_shows_nothing_even_in_a_terminal(tmp_path: Path) -> None:
    shown = _in_a_terminal(tmp_path, "quiet", "120")
    assert shown.strip().endswith("done")
    assert "loss = " not in shown and "step" not in shown and "\x1b[" not in shown


def test_not_a_terminal_gets_tfs_lines_every_n_steps() -> None:
    stream = io.StringIO()
    assert not is_terminal(stream)
    with TrainingProgress(start_step=0, last_step=250, log_every=100, stream=stream) as progress:
        assert progress.mode == "lines"
        for step in range(1, 251):
            progress.step(step, 32, lambda: 0.25)
    lines = stream.getvalue().splitlines()
    # TF's LoggingTensorHook: the loss at steps 0, 100, 200 (the global step before the
    # update); StepCounterHook: the rate at steps 100, 200.
    assert lines[0] == "loss = 0.25, step = 0"
    assert re.fullmatch(r"global_step/sec: \S+ \([\d,]+ examples/sec\)", lines[1])
    assert re.fullmatch(r"loss = 0\.25, step = 100 \(\d+\.\d{3} sec\)", lines[2])
    assert lines[4].startswith("loss = 0.25, step = 200 (") and len(lines) == 5


def test_a_resumed_run_logs_its_first_step_as_tfs_logging_hook() -> None:
    # LoggingTensorHook counts iterations from each train() call: a run resumed at global step
    # 8 logs the loss at steps 8, 18, 28; StepCounterHook's rate stays on global steps 10, 20, 30.
    stream = io.StringIO()
    with TrainingProgress(start_step=8, last_step=30, log_every=10, stream=stream) as progress:
        for step in range(9, 31):
            progress.step(step, 4, lambda: 0.5)
    losses = [line for line in stream.getvalue().splitlines() if line.startswith("loss = ")]
    assert [line.split("step = ")[1].split(" ")[0] for line in losses] == ["8", "18", "28"]
    assert losses[0] == "loss = 0.5, step = 8"
    rates = [line for line in stream.getvalue().splitlines() if line.startswith("global_step")]
    assert len(rates) == 3  # global steps 10, 20, 30


def test_quiet_reads_no_loss_and_still_gives_the_step_rate() -> None:
    stream = io.StringIO()

    def loss() -> float:
        raise AssertionError("read the loss")

    with TrainingProgress(
        start_step=0, last_step=10, log_every=5, quiet=True, stream=stream
    ) as progress:
        rates = [progress.step(step, 1, loss) for step in range(1, 11)]
    assert progress.mode == "off" and stream.getvalue() == ""
    # The global_step/sec summary's rate, at global steps 5 and 10 only.
    assert [step for step, rate in enumerate(rates, start=1) if rate is not None] == [5, 10]
    assert all(rate is None or rate > 0 for rate in rates)


def test_train_prints_tfs_lines_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlengine import estimator
    from mlengine.training import progress

    # No sink: importing mlengine.tf (another test, same process) routes lines to tf.logging.
    monkeypatch.setattr(progress, "_sink", None)

    case = CASES[0]
    config = estimator.RunConfig(log_step_count_steps=10, tf_random_seed=1)
    case.make(tmp_path, config=config).train(case.train_fn(), steps=20)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(r"^loss = [\d.e+-]+, step = 10 \(", captured.err, re.M)
