"""The three eras' estimators with their defaults, the namespaces, and the utilities."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path

import mlengine.tf.compat.v1 as tf1
import numpy as np
import pytest

import mlengine.tf as tf
from mlengine.errors import NotSupportedError
from mlengine.training.optimizers import AdagradOptimizer, FtrlOptimizer, OptimizerSpec

COLUMNS = [tf.feature_column.numeric_column("x"), tf.feature_column.numeric_column("z")]


def xy(n: int = 200, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {"x": rng.normal(size=n).astype(np.float32), "z": rng.normal(size=n).astype(np.float32)}
    return x, (x["x"] + 0.5 * x["z"] > 0).astype(np.int64)


def test_v1_classes_default_to_a_summed_loss_v2_to_the_mean(tmp_path: Path) -> None:
    x, y = xy()
    evaluation = tf1.estimator.inputs.numpy_input_fn(x, y, batch_size=50, shuffle=False)
    results = {}
    for name, cls in (
        ("v1", tf1.estimator.LinearClassifier),
        ("v2", tf.estimator.LinearClassifier),
    ):
        model = cls(
            COLUMNS, model_dir=str(tmp_path / name), config=tf.estimator.RunConfig(tf_random_seed=1)
        )
        model.train(
            tf1.estimator.inputs.numpy_input_fn(x, y, batch_size=50, shuffle=False), steps=1
        )
        results[name] = model.evaluate(evaluation)
    # Zero weights after one FTRL step on one batch: every example's loss is near ln 2.
    assert results["v1"]["loss"] == pytest.approx(50 * results["v1"]["average_loss"], rel=1e-6)
    assert results["v2"]["loss"] == pytest.approx(results["v2"]["average_loss"], rel=1e-9)
    assert tf1.estimator.DNNClassifier([4], COLUMNS)._head.loss_reduction == "sum"
    assert tf.estimator.DNNClassifier([4], COLUMNS)._head.loss_reduction == "sum_over_batch_size"


def test_contrib_learn_defaults_metric_keys_and_methods(tmp_path: Path) -> None:
    wide = [tf1.contrib.layers.real_valued_column(k) for k in ("x", "z")]
    model = tf1.contrib.learn.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path), linear_feature_columns=wide, dnn_feature_columns=wide,
        dnn_hidden_units=[4], config=tf1.contrib.learn.RunConfig(tf_random_seed=1),
    )  # fmt: skip
    linear, dnn = model._optimizer_specs()["linear"], model._optimizer_specs()["dnn"]
    assert isinstance(linear, FtrlOptimizer) and linear.learning_rate == 0.2  # min(0.2, 1/sqrt 2)
    assert isinstance(dnn, AdagradOptimizer) and dnn.learning_rate == 0.05  # contrib's, not 0.001
    x, y = xy()
    model.fit(x=x, y=y, steps=20, batch_size=32)
    assert model.latest_checkpoint().endswith("-10")  # global_step advanced by 2 per step, as TF
    results = model.evaluate(x=x, y=y)
    assert results["global_step"] == 20
    assert set(results) == {
        "accuracy", "accuracy/baseline_label_mean", "accuracy/threshold_0.500000_mean", "auc",
        "auc_precision_recall", "global_step", "labels/actual_label_mean",
        "labels/prediction_mean", "loss", "precision/positive_threshold_0.500000_mean",
        "recall/positive_threshold_0.500000_mean",
    }  # fmt: skip
    assert results["labels/actual_label_mean"] == pytest.approx(y.mean())
    classes = model.predict(x={k: v[:5] for k, v in x.items()}, as_iterable=False)
    assert classes.shape == (5,) and set(classes.tolist()) <= {0, 1}
    probabilities = list(model.predict_proba(x={k: v[:5] for k, v in x.items()}))
    assert len(probabilities) == 5 and probabilities[0].shape == (2,)
    many = [tf1.contrib.layers.real_valued_column(f"c{i}") for i in range(30)]
    linear_only = tf1.contrib.learn.LinearClassifier(many, model_dir=str(tmp_path / "l"))
    rate = linear_only._optimizer_specs()["linear"].learning_rate
    assert rate == pytest.approx(1 / math.sqrt(30))  # contrib's min(0.2, 1/sqrt(n))


def test_contrib_crosses_hashed_sparse_columns_by_their_values() -> None:
    layers = tf1.contrib.layers
    education = layers.sparse_column_with_hash_bucket("education", 100)
    occupation = layers.sparse_column_with_hash_bucket("occupation", 100)
    crossed = layers.crossed_column([education, occupation], hash_bucket_size=1000)
    assert crossed.keys == ("education", "occupation")
    core = tf.feature_column
    with pytest.raises(ValueError, match="hash bucket column"):
        core.crossed_column([core.categorical_column_with_hash_bucket("e", 10), "o"], 100)


def test_optimizers_of_both_eras() -> None:
    adam = tf.keras.optimizers.Adam(learning_rate=0.01)
    assert (adam.learning_rate, adam.epsilon) == (0.01, 1e-7)  # Keras' epsilon
    assert tf1.train.AdamOptimizer(0.01).epsilon == 1e-8  # TF 1's
    assert (
        tf1.train.FtrlOptimizer(0.1, l1_regularization_strength=0.5).l1_regularization_strength
        == 0.5
    )
    # minimize is a model_fn's train_op (mlengine.estimator's OptimizerSpec.minimize).
    assert tf1.train.AdagradOptimizer(0.1).minimize.__func__ is OptimizerSpec.minimize


def test_custom_estimator_names_are_mlengines() -> None:
    from mlengine import estimator
    from mlengine.estimator import layers, losses, metrics

    assert issubclass(tf.estimator.Estimator, estimator.Estimator)
    assert tf.estimator.EstimatorSpec is estimator.EstimatorSpec
    assert tf1.estimator.ModeKeys is estimator.ModeKeys
    assert tf.estimator.BinaryClassHead is estimator.BinaryClassHead
    assert tf1.contrib.estimator.multi_class_head is estimator.multi_class_head
    assert tf.estimator.export.PredictOutput is estimator.PredictOutput
    assert tf1.layers.dense is layers.dense and tf1.get_variable is layers.get_variable
    assert tf1.feature_column.input_layer is layers.input_layer
    assert tf1.losses.sparse_softmax_cross_entropy is losses.sparse_softmax_cross_entropy
    assert tf1.losses.Reduction is losses.Reduction
    assert tf1.metrics.auc is metrics.auc and tf1.summary.scalar is layers.scalar
    assert tf1.train.get_global_step is layers.get_global_step
    with pytest.raises(NotSupportedError, match=r"tf\.compat\.v1\.layers\.conv2d is not in"):
        tf1.layers.conv2d  # noqa: B018
    with pytest.raises(NotSupportedError, match=r"tf\.argmax outside a model_fn"):
        tf.argmax(tf.constant([1.0, 2.0]))


def test_unsupported_names_are_named(tmp_path: Path) -> None:
    with pytest.raises(NotSupportedError, match=r"tf\.estimator\.MultiHead is not in the custom"):
        tf.estimator.MultiHead  # noqa: B018
    with pytest.raises(
        NotSupportedError, match=r"tf\.data\.Dataset\.padded_batch is not supported.*coverage"
    ):
        tf.data.Dataset.range(3).padded_batch(2)
    with pytest.raises(NotSupportedError, match=r"tf\.Session is not supported"):
        tf.Session  # noqa: B018
    with pytest.raises(NotSupportedError, match=r"tf\.contrib\.learn\.SVM is not supported"):
        tf1.contrib.learn.SVM  # noqa: B018
    assert not hasattr(tf, "__wrapped__")  # dunders stay AttributeErrors for tools


def printed_by(code: str) -> list[str]:
    """The words ``code`` prints, run in a fresh interpreter (import forms need one)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.split()


def test_one_import_line_forms_work() -> None:
    code = (
        "import mlengine.tf.compat.v1 as tf\n"
        "from mlengine.tf.compat.v1.contrib import layers, learn\n"
        "import mlengine.tf.feature_column as fc\n"
        "from mlengine.tf.estimator import DNNClassifier\n"
        "print(layers.real_valued_column('a').key, fc.numeric_column('b').key,"
        " DNNClassifier.__name__, tf.estimator.DNNClassifier.__name__)\n"
    )
    assert printed_by(code) == ["a", "b", "DNNClassifier", "DNNClassifier"]


def test_compat_v2_forms_and_truncated_normal_initializers() -> None:
    code = (
        "import mlengine.tf.compat.v2 as tf\n"
        "import mlengine.tf.compat.v2.feature_column as fc\n"
        "import mlengine.tf.compat.v1 as tf1\n"
        "ids = fc.categorical_column_with_identity('i', 10)\n"
        "a = fc.embedding_column(ids, 4,"
        " initializer=tf.keras.initializers.TruncatedNormal(stddev=0.3))\n"
        "b = tf1.feature_column.embedding_column(ids, 4,"
        " initializer=tf1.truncated_normal_initializer(stddev=0.02))\n"
        "c = tf1.contrib.layers.embedding_column(tf1.contrib.layers.sparse_column_with_"
        "integerized_feature('j', 5), 2, initializer=tf1.truncated_normal_initializer(0.0, 0.5))\n"
        "print(tf.estimator.LinearClassifier.__name__, a.stddev, b.stddev, c.stddev)\n"
    )
    assert printed_by(code) == ["LinearClassifier", "0.3", "0.02", "0.5"]
    with pytest.raises(NotSupportedError, match="mean"):
        tf1.truncated_normal_initializer(mean=1.0)


def test_app_flags_logging_gfile_and_dtypes(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(
        "import mlengine.tf.compat.v1 as tf\n"
        "tf.app.flags.DEFINE_integer('steps', 3, 'steps')\n"
        "FLAGS = tf.app.flags.FLAGS\n"
        "def main(argv):\n"
        "    tf.logging.set_verbosity(tf.logging.INFO)\n"
        "    tf.logging.info('steps=%d rest=%s', FLAGS.steps, argv[1:])\n"
        "    tf.gfile.MakeDirs(argv[-1] + '/sub')\n"
        "    with tf.gfile.GFile(argv[-1] + '/sub/f.txt', 'w') as f:\n"
        "        f.write('x')\n"
        "    print(tf.gfile.Exists(argv[-1] + '/sub/f.txt'), tf.gfile.ListDirectory(argv[-1]))\n"
        "tf.app.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, str(program), "--steps=7", "--unknown_flag=1", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "INFO:tensorflow:steps=7" in done.stderr
    assert done.stdout.strip() == "True ['prog.py', 'sub']"
    assert tf.float32 == "float32" and tf.as_dtype("int64") is tf.int64 and tf.string.is_string


def test_run_config_takes_session_arguments_and_export_paths_decode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        config = tf1.estimator.RunConfig(tf_random_seed=1).replace(
            session_config=tf1.ConfigProto(device_count={"GPU": 0}), device_fn=lambda op: ""
        )
    assert config.session_config.device_count == {"GPU": 0}
    x, y = xy(50)
    model = tf1.estimator.LinearClassifier(COLUMNS, model_dir=str(tmp_path), config=config)
    model.train(tf1.estimator.inputs.numpy_input_fn(x, y, shuffle=False), steps=1)
    path = model.export_savedmodel(str(tmp_path / "export"), None, strip_default_attrs=True)
    assert path.decode("utf-8") == str(path) and Path(path).is_dir()


def test_keras_layers_refuse_what_they_do_not_cover() -> None:
    with pytest.raises(
        NotSupportedError, match=r"tf\.keras\.layers\.Dense\(activation='softplus'\)"
    ):
        tf.keras.layers.Dense(3, activation="softplus")
    with pytest.raises(NotSupportedError, match=r"Dense\(kernel_regularizer=\.\.\.\)"):
        tf.keras.layers.Dense(3, kernel_regularizer=object())
    with pytest.raises(NotSupportedError, match=r"tf\.keras\.layers\.Conv2D"):
        tf.keras.layers.Conv2D(8, 3)
    with pytest.raises(NotSupportedError, match="inside a model_fn"):
        tf.keras.layers.Dense(3)(None)
