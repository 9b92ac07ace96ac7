"""What an input_fn may return (mlengine.data.contract): constant batches fed at every step,
callables returning an input function, iterables of batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlengine import estimator
from mlengine.errors import InvalidParameterError

from .helpers import census_rows, linear_columns, quiet_config


def model(path: Path) -> estimator.LinearClassifier:
    return estimator.LinearClassifier(linear_columns(), model_dir=str(path), config=quiet_config())


def arrays(n: int = 120) -> tuple[dict[str, np.ndarray], np.ndarray]:
    x, y = census_rows(n)
    features = {k: x[k].to_numpy() for k in ("age", "education", "education_num", "occupation")}
    return features, y


def test_a_constant_batch_needs_steps_or_max_steps(tmp_path: Path) -> None:
    features, labels = arrays()
    with pytest.raises(InvalidParameterError, match="steps or max_steps") as excinfo:
        model(tmp_path).train(input_fn=lambda: (features, labels))
    assert "fed at every step" in str(excinfo.value)


def test_a_constant_batch_is_fed_at_every_step(tmp_path: Path) -> None:
    features, labels = arrays()
    constant = model(tmp_path / "constant").train(input_fn=lambda: (features, labels), steps=5)
    # The same rows as one batch that never ends: the same five updates, bit for bit.
    repeated = model(tmp_path / "repeated").train(
        estimator.inputs.numpy_input_fn(
            features, labels, batch_size=len(labels), num_epochs=None, shuffle=False
        ),
        steps=5,
    )
    assert constant.latest_checkpoint().endswith("-5")
    for name in constant.get_variable_names():
        np.testing.assert_array_equal(
            constant.get_variable_value(name), repeated.get_variable_value(name)
        )
    # max_steps also bounds it, and evaluation reads the constant batch once.
    constant.train(input_fn=lambda: (features, labels), max_steps=7)
    assert constant.latest_checkpoint().endswith("-7")
    once = constant.evaluate(input_fn=lambda: (features, labels))
    by_rows = constant.evaluate(
        estimator.inputs.numpy_input_fn(features, labels, batch_size=50, shuffle=False)
    )
    assert once["auc"] == pytest.approx(by_rows["auc"], abs=1e-12)
    assert once["accuracy"] == by_rows["accuracy"]
    assert len(list(constant.predict(input_fn=lambda: features))) == len(labels)


def test_a_callable_returning_an_input_function(tmp_path: Path) -> None:
    features, labels = arrays()

    def make_input_fn() -> estimator.inputs.numpy_input_fn:  # the TF idiom's factory
        return estimator.inputs.numpy_input_fn(
            features, labels, batch_size=40, num_epochs=2, shuffle=False
        )

    a = model(tmp_path / "a").train(input_fn=lambda: make_input_fn())
    b = model(tmp_path / "b").train(input_fn=make_input_fn())
    assert a.latest_checkpoint().endswith("-6")  # 120 rows x 2 epochs / 40
    for name in a.get_variable_names():
        np.testing.assert_array_equal(a.get_variable_value(name), b.get_variable_value(name))
