"""Element ops (eager and batched alike), lookup tables, and what input_fns may return."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlengine.tf.compat.v1 as tf1
import numpy as np
import pytest

import mlengine.tf as tf
from mlengine.data.contract import ConstantBatch, resolve_input
from mlengine.errors import FeatureError, NotSupportedError
from mlengine.tf import _inputs
from mlengine.tf._tensor import Env, Tensor, evaluate


def per_element_and_batched(function: Any, elements: list[Any], dtype: Any) -> tuple[list, Any]:
    """``function`` on each element eagerly, and traced once on a batched source."""
    eager = [np.asarray(function(tf.constant(e)).numpy()) for e in elements]
    source = Tensor("element", attrs={"source": "s", "path": ()}, dtype=dtype)
    chunk = tf.constant(elements).value
    batched = evaluate(function(source), Env({"s": (chunk, True)}))
    assert batched.batched
    return eager, batched.value


@pytest.mark.parametrize(
    "function",
    [
        lambda x: tf.expand_dims(x, -1) * 2.0,
        lambda x: tf.expand_dims(x, 0) + x,
        lambda x: tf.reshape(x, [-1]),
        lambda x: tf.stack([x, x * 3.0], axis=0),
        lambda x: tf.concat([x, tf.constant([1.0, 2.0])], axis=0),
        lambda x: tf.where(x > 1.0, x, tf.zeros_like(x)),
        lambda x: tf.math.log1p(tf.nn.relu(x)) / 2 - tf.square(x),
        lambda x: x[0] + x[-1],
    ],
)
def test_batched_evaluation_equals_element_by_element(function: Any) -> None:
    elements = [np.array([0.5, 2.0], np.float32), np.array([3.0, -1.0], np.float32)]
    eager, batched = per_element_and_batched(function, elements, tf.float32)
    np.testing.assert_allclose(np.stack(eager), batched, rtol=1e-6)


def test_string_ops() -> None:
    words = tf.constant([" 1.5", "2 ", " >50K"])
    assert tf.equal(words, " >50K").numpy().tolist() == [False, False, True]
    assert tf.strings.strip(words).numpy().tolist() == ["1.5", "2", ">50K"]
    assert tf.strings.to_number(tf.constant(["1.5", " 2"])).numpy().tolist() == [1.5, 2.0]
    with pytest.raises(FeatureError, match="could not correctly convert string: 'x'"):
        tf1.string_to_number(tf.constant(["1", "x"]))
    with pytest.raises(NotSupportedError, match="tf.strings.to_number"):
        tf.cast(words, tf.float32)
    replaced = tf.strings.regex_replace(tf.constant(["a.b"]), r"\.", "-")
    assert replaced.numpy().tolist() == ["a-b"]


def test_lookup_tables_of_both_eras(tmp_path: Path) -> None:
    labels = tf.constant([" >50K", " <=50K", "??", " >50K"])
    table = tf1.contrib.lookup.index_table_from_tensor(tf.constant([" <=50K", " >50K"]))
    assert table.lookup(labels).numpy().tolist() == [1, 0, -1, 1]
    with_oov = tf1.contrib.lookup.index_table_from_tensor(["a", "b"], num_oov_buckets=3)
    ids = with_oov.lookup(tf.constant(["a", "zz", "zz", "b"])).numpy().tolist()
    assert ids[0] == 0 and ids[3] == 1 and ids[1] == ids[2] and 2 <= ids[1] < 5
    static = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(["x", "y"], [10, 20]), default_value=-1
    )
    assert static.lookup(tf.constant(["y", "q"])).numpy().tolist() == [20, -1]
    vocab = tmp_path / "labels.txt"
    vocab.write_text("no\nyes\n")
    from_file = tf1.contrib.lookup.index_table_from_file(str(vocab))
    assert from_file.lookup(tf.constant(["yes"])).numpy().tolist() == [1]


def test_constant_tensors_and_sparse_tensors_are_one_constant_batch() -> None:
    def input_fn():
        features = {
            "age": tf.constant([30.0, 40.0]),
            "education": tf.SparseTensor(
                indices=[[0, 0], [1, 0]], values=["Bachelors", "HS-grad"], dense_shape=[2, 1]
            ),
            "tags": tf.SparseTensor(
                indices=[[0, 0], [0, 1]], values=["a", "b"], dense_shape=[2, 2]
            ),
        }
        return features, tf.constant([1, 0])

    batch = resolve_input(input_fn)
    assert isinstance(batch, ConstantBatch)
    assert batch.features["education"].to_pylist() == ["Bachelors", "HS-grad"]
    assert batch.features["tags"].to_pylist() == [["a", "b"], []]  # a list column
    assert batch.labels.tolist() == [1, 0]
    lone = resolve_input(lambda: (tf.constant([[1.0, 2.0]]), tf.constant([1])))
    assert isinstance(lone, ConstantBatch) and list(lone.features) == [""]  # contrib's name


def test_a_placeholder_in_a_training_input_is_refused() -> None:
    with pytest.raises(NotSupportedError, match="tf.placeholder"):
        resolve_input(lambda: ({"x": tf1.placeholder(tf.float32, [None])}, tf.constant([1])))


def test_iterator_tensors_are_computed_per_batch_or_per_chunk() -> None:
    data = tf.data.Dataset.from_tensor_slices(
        ({"w": ["a", "b", "a", "c"]}, [" x", " y", " x", " x"])
    )
    table = tf1.contrib.lookup.index_table_from_tensor([" x", " y"])

    def input_fn(squeeze: bool) -> Any:
        features, label = tf1.data.make_one_shot_iterator(data.batch(2)).get_next()
        ids = table.lookup(label)
        return features, tf.squeeze(ids) if squeeze else ids

    rowwise = resolve_input(lambda: input_fn(False))
    assert isinstance(rowwise, _inputs.GraphBatches) and rowwise.batch_size == 2
    (chunk,) = list(rowwise.chunks())  # both batches' rows at once
    assert chunk[1].tolist() == [0, 1, 0, 0]
    per_batch = resolve_input(lambda: input_fn(True))
    assert per_batch.batch_size is None  # squeeze of any size-1 axis is not row-wise
    assert [b[1].tolist() for b in per_batch] == [[0, 1], [0, 0]]
