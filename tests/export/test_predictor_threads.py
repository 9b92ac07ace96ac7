"""The Predictor's BLAS threads: one for batches up to ONE_BLAS_THREAD_ROWS, the process's
count beyond, and whatever it was before once a prediction returns."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from threadpoolctl import ThreadpoolController

from mlengine.export import predictor as predictor_module
from mlengine.export.predictor import BLAS_THREADS, Predictor


@pytest.fixture
def two_threads() -> Any:
    """BLAS on two threads for the test (set through threadpoolctl, set back after)."""
    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    if not libraries:
        pytest.skip("numpy has no BLAS that threadpoolctl controls")
    before = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(2)
    yield libraries
    for library, count in zip(libraries, before, strict=True):
        library.set_num_threads(count)


def _threads_seen(predictor: Predictor, instances: Any, libraries: Any) -> list[int]:
    seen: list[int] = []
    network = predictor.numpy_network
    assert network is not None

    def forward(*args: Any) -> Any:
        seen.append(libraries[0].get_num_threads())
        return real(*args)

    real = network.__call__
    real_rows = network.rows

    def rows(*args: Any) -> Any:
        seen.append(libraries[0].get_num_threads())
        return real_rows(*args)

    with mock.patch.object(type(network), "__call__", lambda self, *a: forward(*a)):
        with mock.patch.object(network, "rows", rows):
            predictor.predict(instances)
    return seen


def test_small_batches_use_one_blas_thread_and_big_ones_the_process_count(
    predictor: Predictor, instances: list[dict[str, Any]], two_threads: Any
) -> None:
    few = instances[:1]
    many = instances * 50  # past the row path: the vectorised transform and forward
    assert _threads_seen(predictor, few, two_threads) == [1]
    assert _threads_seen(predictor, many, two_threads) == [1]
    with mock.patch.object(predictor_module, "ONE_BLAS_THREAD_ROWS", len(many) - 1):
        assert _threads_seen(predictor, many, two_threads) == [2]
    assert two_threads[0].get_num_threads() == 2  # set back after every prediction


def test_a_process_already_on_one_thread_is_left_alone(two_threads: Any) -> None:
    for library in two_threads:
        library.set_num_threads(1)
    with mock.patch.object(type(two_threads[0]), "set_num_threads") as setter:
        with BLAS_THREADS.limited(1):
            pass
    setter.assert_not_called()
