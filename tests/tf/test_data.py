"""``tf.data`` of the façade: TensorFlow's element semantics, computed on chunks of rows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import mlengine.tf as tf
from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.tf import _inputs


def values(dataset: tf.data.Dataset) -> list:
    return list(dataset.as_numpy_iterator())


def test_slices_map_filter_batch_repeat_take_skip() -> None:
    data = tf.data.Dataset.from_tensor_slices(
        {"x": np.arange(10), "s": [str(i) for i in range(10)]}
    )
    data = data.map(lambda d: {"x": d["x"] * 2, "s": d["s"]}).filter(
        lambda d: tf.not_equal(d["s"], "3")
    )
    batches = values(data.batch(4))
    assert [b["x"].tolist() for b in batches] == [[0, 2, 4, 8], [10, 12, 14, 16], [18]]
    assert batches[0]["s"].tolist() == ["0", "1", "2", "4"]
    dropped = values(data.batch(4, drop_remainder=True))
    assert len(dropped) == 2
    # Batches straddle epochs after repeat; take and skip count elements.
    counted = values(tf.data.Dataset.range(5).repeat(2).skip(1).take(7).batch(3))
    assert [b.tolist() for b in counted] == [[1, 2, 3], [4, 0, 1], [2]]
    assert [v.tolist() for v in values(tf.data.Dataset.range(6).batch(4).unbatch())] == list(
        range(6)
    )


def test_shuffle_keeps_every_element_once_per_epoch_and_reshuffles() -> None:
    data = tf.data.Dataset.range(100).shuffle(30, seed=3).repeat(2).batch(200)
    (both,) = values(data)
    first, second = both[:100], both[100:]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(100))
    assert first.tolist() != list(range(100)) and first.tolist() != second.tolist()


def test_a_map_function_is_traced_once_and_run_on_chunks() -> None:
    calls = []

    def parse(line):
        calls.append(line)
        fields = tf.io.decode_csv(tf.expand_dims(line, -1), record_defaults=[[0], [""], [0.0]])
        return {"n": fields[0], "w": fields[1]}, tf.cast(fields[2] > 0.5, tf.int64)

    lines = ["1,a,0.2", "2,b,0.7", "3,c,0.9"]
    (batch,) = values(tf.data.Dataset.from_tensor_slices(lines).map(parse).batch(3))
    assert len(calls) == 1  # traced once, like TF
    features, labels = batch
    assert features["n"].tolist() == [[1], [2], [3]] and features["w"].shape == (3, 1)
    assert labels.tolist() == [[0], [1], [1]]


def test_an_untraceable_function_runs_per_element_with_the_same_results(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def python_if(x):
        return x * 10 if x.numpy() > 2 else x  # needs the value: TF 2 needs AutoGraph for this

    with caplog.at_level(logging.WARNING, logger="mlengine"):
        (batch,) = values(tf.data.Dataset.range(5).map(python_if).batch(5))
    assert batch.tolist() == [0, 1, 2, 30, 40]
    assert "runs per element" in caplog.text and "python_if" in caplog.text


def test_text_lines_as_tensorflow_splits_them(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_bytes(b"a,1\r\nb,2\n\nc,3")  # CRLF, an empty line, no final newline
    lines = [
        v.decode() if isinstance(v, bytes) else v
        for v in values(tf.data.TextLineDataset(str(path)))
    ]
    assert [str(x) for x in lines] == ["a,1", "b,2", "", "c,3"]
    parsed = tf.data.TextLineDataset(str(path)).map(
        lambda line: tf.io.decode_csv(line, record_defaults=[[""], [0]])
    )
    with pytest.raises(FeatureError, match=r"Record 2: 1 field\(s\) where 2 are expected"):
        values(parsed)


def test_files_interleave_skip_header_and_cache(tmp_path: Path) -> None:
    for name, rows in (("a.csv", ["h", "1", "2"]), ("b.csv", ["h", "3"])):
        (tmp_path / name).write_text("\n".join(rows) + "\n")
    files = tf.data.Dataset.list_files(str(tmp_path / "*.csv"), shuffle=False)
    lines = files.interleave(lambda f: tf.data.TextLineDataset(f).skip(1), cycle_length=2)
    numbers = lines.map(lambda s: tf.strings.to_number(s, tf.int32)).cache()
    assert sorted(int(v) for v in values(numbers)) == [1, 2, 3]
    assert sorted(int(v) for v in values(numbers)) == [1, 2, 3]  # from the cache


def test_tfrecords_written_and_parsed(tmp_path: Path) -> None:
    path = str(tmp_path / "data.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(5):
            feature = {
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[i / 2])),
                "tags": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"t"] * (i % 3))),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    spec = {"x": tf.io.FixedLenFeature([1], tf.float32), "tags": tf.io.VarLenFeature(tf.string)}
    one = tf.data.TFRecordDataset(path).map(lambda s: tf.io.parse_single_example(s, spec)).batch(5)
    many = tf.data.TFRecordDataset(path).batch(5).map(lambda s: tf.io.parse_example(s, spec))
    for batch in (values(one)[0], values(many)[0]):
        assert batch["x"].reshape(-1).tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    (element,) = list(many)
    tags = element["tags"]  # a SparseTensor, as TF's
    assert tags.dense_shape.numpy().tolist() == [5, 2]
    assert tags.indices.numpy()[:, 0].tolist() == [1, 2, 2, 4]


def test_batch_then_row_wise_map_runs_on_many_batches_at_once() -> None:
    data = tf.data.Dataset.from_tensor_slices(({"x": np.arange(10.0)}, np.arange(10) % 2))
    fused = _inputs.dataset_input(data.batch(4).map(lambda f, y: ({"x": f["x"] + 1}, y)))
    assert isinstance(fused, _inputs.ChunkedDataset) and fused.batch_size == 4
    (chunk,) = list(fused.chunks())
    assert chunk[0]["x"].tolist() == [float(i + 1) for i in range(10)]
    # A function that is not row-wise (squeeze of every size-1 axis) is applied per batch.
    per_batch = _inputs.dataset_input(
        data.batch(4).map(lambda f, y: ({"x": tf.squeeze(f["x"])}, y))
    )
    assert isinstance(per_batch, _inputs.DatasetBatches)
    assert [b[0]["x"].tolist() for b in per_batch] == [[0.0, 1, 2, 3], [4.0, 5, 6, 7], [8.0, 9]]


def test_batch_then_repeat_ends_every_epoch_with_its_own_short_batch(tmp_path: Path) -> None:
    """TF 2's tutorial pipeline: ``batch(n).repeat(e)``: ceil(rows / n) batches per epoch (a
    repeat before the batch would give ceil(rows * e / n)); still read in chunks."""
    x = {"x": np.arange(10, dtype=np.float32)}
    y = np.arange(10, dtype=np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(10, seed=1).batch(4).repeat(2)
    chunked = _inputs.dataset_input(data)
    assert isinstance(chunked, _inputs.ChunkedDataset) and chunked.chunks_are_cut
    assert [len(labels) for _, labels in chunked.chunks()] == [10, 10]
    model = tf.estimator.LinearRegressor(
        [tf.feature_column.numeric_column("x")], model_dir=str(tmp_path)
    )
    model.train(lambda: data)
    assert model.latest_checkpoint().endswith("-6")  # 4 + 4 + 2 rows, twice
    straddling = tf.data.Dataset.from_tensor_slices((x, y)).repeat(2).batch(4)
    model.train(lambda: straddling)
    assert model.latest_checkpoint().endswith("-11")  # 20 rows in 5 batches


def _csv_files(root: Path) -> str:
    """Two files with a header: an int column, a string, a float (one value missing), a label."""
    for k in range(2):
        rows = [f"{20 + i + 10 * k},n{i},{'' if i == 3 else i * 0.5},{i % 2}" for i in range(5)]
        (root / f"part{k}.csv").write_text("age,name,score,label\n" + "\n".join(rows) + "\n")
    return str(root / "part*.csv")


def test_make_csv_dataset_infers_types_pops_the_label_and_batches(tmp_path: Path) -> None:
    pattern = _csv_files(tmp_path)
    data = tf.data.experimental.make_csv_dataset(
        pattern, 4, label_name="label", num_epochs=1, shuffle=False
    )
    batches = list(data)
    assert [len(label) for _, label in batches] == [4, 4, 2]
    features, label = batches[0]
    assert list(features) == ["age", "name", "score"]  # the header's order, label popped
    assert features["age"].dtype == tf.int32 and features["score"].dtype == tf.float32
    assert features["name"].dtype == tf.string and label.dtype == tf.int32
    ages = np.concatenate([f["age"].numpy() for f, _ in batches])
    assert ages.tolist() == [20, 21, 22, 23, 24, 30, 31, 32, 33, 34]  # files in name order
    scores = np.concatenate([f["score"].numpy() for f, _ in batches])
    assert scores[3] == 0.0 and scores[4] == 2.0  # a missing value takes the inferred 0


def test_make_csv_dataset_selects_shuffles_repeats_and_feeds_an_estimator(tmp_path: Path) -> None:
    pattern = _csv_files(tmp_path / "")
    data = tf.data.experimental.make_csv_dataset(
        pattern,
        3,
        select_columns=["age", "label"],
        label_name="label",
        num_epochs=2,
        shuffle_seed=3,
    )
    batches = list(data)
    assert all(list(f) == ["age"] for f, _ in batches)
    ages = sorted(np.concatenate([f["age"].numpy() for f, _ in batches]).tolist())
    assert ages == sorted([20, 21, 22, 23, 24, 30, 31, 32, 33, 34] * 2)  # every row twice
    assert len(batches) == 7  # 20 rows in batches of 3, the repeat before the batch
    with pytest.raises(InvalidParameterError, match="'wage'"):
        tf.data.experimental.make_csv_dataset(pattern, 3, label_name="wage")
    assert isinstance(_inputs.dataset_input(data), _inputs.ChunkedDataset)  # chunks, not rows
    model = tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("age")], model_dir=str(tmp_path / "model")
    )
    model.train(lambda: data)
    assert model.latest_checkpoint().endswith("-7")


def test_csv_dataset_and_decode_csv_with_defaults_for_the_selected_columns(tmp_path: Path) -> None:
    pattern = _csv_files(tmp_path)
    first = pattern.replace("part*", "part0")
    records = tf.data.experimental.CsvDataset(
        first, [tf.int32, [-1.0]], header=True, select_cols=[0, 2]
    )
    assert list(records.as_numpy_iterator())[2:4] == [(22, 1.0), (23, -1.0)]
    lines = tf.constant(["7,x,1.5,1", "8,y,2,0"])
    age, label = tf.io.decode_csv(lines, [[0], [0]], select_cols=[0, 3])
    assert age.numpy().tolist() == [7, 8] and label.numpy().tolist() == [1, 0]
    with pytest.raises(FeatureError, match="selects column 3"):
        tf.io.decode_csv(tf.constant(["7,x"]), [[0], [0]], select_cols=[0, 3])


def _order(chunked: object) -> list[float]:
    return [v for _, labels in chunked.chunks() for v in np.asarray(labels).tolist()]  # type: ignore[attr-defined]


def test_shuffles_follow_the_seeds_as_tensorflow_seeds_them(tmp_path: Path) -> None:
    """The estimator's tf_random_seed seeds its datasets' shuffles (TF's graph seed): the same
    order on every run; an op seed alone repeats from run to run, reshuffling per iteration;
    no seed at all differs between two reads (1000 rows: equal orders are ~1/1000!)."""
    x = {"x": np.arange(1000, dtype=np.float32)}
    y = np.arange(1000, dtype=np.float32)

    def make(seed: int | None = None) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=seed).batch(10)

    assert _order(_inputs.dataset_input(make(), 7)) == _order(_inputs.dataset_input(make(), 7))
    assert _order(_inputs.dataset_input(make())) != _order(_inputs.dataset_input(make()))
    seeded = make(3)
    first, second = (_order(_inputs.dataset_input(seeded)) for _ in range(2))
    assert first != second and first == _order(_inputs.dataset_input(make(3)))

    def train(model_dir: Path) -> np.ndarray:
        model = tf.estimator.LinearRegressor(
            [tf.feature_column.numeric_column("x")],
            config=tf.estimator.RunConfig(model_dir=str(model_dir), tf_random_seed=1),
        )
        model.train(lambda: make(), steps=20)
        return np.concatenate(
            [np.ravel(model.get_variable_value(n)) for n in ("linear.dense_weights", "linear.bias")]
        )

    weights = train(tmp_path / "a")
    assert np.all(weights != 0.0)  # trained, so the order of the batches shows in them
    np.testing.assert_array_equal(weights, train(tmp_path / "b"))
