"""A Cloud ML Engine census trainer of 2017 (TF 1.2-1.4), ported by its imports: the
``learn_runner`` + ``tf.contrib.learn.Experiment`` form of the census "estimator" sample.

``task.py`` and ``model.py`` in one file: ``generate_experiment_fn(**args)`` returns
``_experiment_fn(output_dir)``, which builds a ``tf.contrib.learn.DNNLinearCombinedClassifier``
over contrib feature columns (keys, hash buckets, embeddings of them, a cross), a
``TextLineDataset`` input function with ``tf.decode_csv`` and a label table, and an
``Experiment`` with ``train_steps``, ``eval_steps``, ``min_eval_frequency`` and a
``make_export_strategy`` over a JSON ``InputFnOps`` serving function; ``learn_runner.run``
runs it. The code is this project's own.
"""

import argparse

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf
from mlengine.tf.compat.v1.contrib.learn.python.learn import (  # was: from tensorflow.contrib...
    learn_runner,
)
from mlengine.tf.compat.v1.contrib.learn.python.learn.utils import (  # was: ditto
    saved_model_export_utils,
)

CSV_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]  # fmt: skip
CSV_COLUMN_DEFAULTS = [
    [0], [""], [0], [""], [0], [""], [""], [""], [""], [""], [0], [0], [0], [""], [""],
]  # fmt: skip
LABEL_COLUMN = "income_bracket"
LABELS = [" <=50K", " >50K"]
INPUT_COLUMNS = {
    "gender": ("keys", [" Female", " Male"]),
    "race": ("keys", [" Amer-Indian-Eskimo", " Asian-Pac-Islander", " Black", " Other", " White"]),
    "education": ("hash", 1000),
    "marital_status": ("hash", 100),
    "relationship": ("hash", 100),
    "workclass": ("hash", 100),
    "occupation": ("hash", 1000),
}
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
UNUSED_COLUMNS = {"fnlwgt", "native_country", LABEL_COLUMN}


def build_estimator(output_dir, embedding_size=8, hidden_units=None):
    layers = tf.contrib.layers
    sparse = {}
    for name, (kind, arg) in INPUT_COLUMNS.items():
        if kind == "keys":
            sparse[name] = layers.sparse_column_with_keys(name, keys=arg)
        else:
            sparse[name] = layers.sparse_column_with_hash_bucket(name, hash_bucket_size=arg)
    real = {name: layers.real_valued_column(name) for name in NUMERIC}
    age_buckets = layers.bucketized_column(real["age"], boundaries=[18, 25, 30, 35, 40, 50, 65])
    wide_columns = list(sparse.values()) + [
        age_buckets,
        layers.crossed_column([sparse["education"], sparse["occupation"]], hash_bucket_size=10000),
    ]
    deep_columns = [
        layers.embedding_column(sparse[name], dimension=embedding_size)
        for name in ("workclass", "education", "marital_status", "relationship", "occupation")
    ] + [layers.one_hot_column(sparse["gender"]), layers.one_hot_column(sparse["race"])]
    deep_columns += [real[name] for name in ("age", "education_num", "hours_per_week")]
    return tf.contrib.learn.DNNLinearCombinedClassifier(
        config=tf.contrib.learn.RunConfig(model_dir=output_dir, tf_random_seed=5),
        linear_feature_columns=wide_columns,
        dnn_feature_columns=deep_columns,
        dnn_hidden_units=hidden_units or [100, 70, 50, 25],
    )


def parse_label_column(label_string_tensor):
    table = tf.contrib.lookup.index_table_from_tensor(tf.constant(LABELS))
    return table.lookup(label_string_tensor)


def json_serving_input_fn():
    inputs = {}
    for name in INPUT_COLUMNS:
        inputs[name] = tf.placeholder(shape=[None], dtype=tf.string)
    for name in NUMERIC:
        inputs[name] = tf.placeholder(shape=[None], dtype=tf.float32)
    features = {key: tf.expand_dims(tensor, -1) for key, tensor in inputs.items()}
    return tf.contrib.learn.InputFnOps(features, None, inputs)


def generate_input_fn(filenames, num_epochs=None, shuffle=True, batch_size=40):
    def _input_fn():
        dataset = tf.data.TextLineDataset(filenames)
        if shuffle:
            dataset = dataset.shuffle(buffer_size=batch_size * 10)
        dataset = dataset.repeat(num_epochs).batch(batch_size)
        rows = dataset.make_one_shot_iterator().get_next()
        columns = tf.decode_csv(rows, record_defaults=CSV_COLUMN_DEFAULTS)
        features = dict(zip(CSV_COLUMNS, columns))
        label = features.pop(LABEL_COLUMN)
        for name in UNUSED_COLUMNS - {LABEL_COLUMN}:
            features.pop(name)
        return features, parse_label_column(label)

    return _input_fn


def generate_experiment_fn(train_files, eval_files, num_epochs=None, train_batch_size=40,
                           eval_batch_size=40, embedding_size=8, first_layer_size=100,
                           num_layers=4, scale_factor=0.7, **experiment_args):  # fmt: skip
    def _experiment_fn(output_dir):
        train_input = generate_input_fn(
            train_files, num_epochs=num_epochs, batch_size=train_batch_size
        )
        eval_input = generate_input_fn(eval_files, batch_size=eval_batch_size, shuffle=False)
        return tf.contrib.learn.Experiment(
            build_estimator(
                output_dir,
                embedding_size=embedding_size,
                hidden_units=[
                    max(2, int(first_layer_size * scale_factor**i)) for i in range(num_layers)
                ],
            ),
            train_input_fn=train_input,
            eval_input_fn=eval_input,
            export_strategies=[
                saved_model_export_utils.make_export_strategy(
                    json_serving_input_fn, default_output_alternative_key=None, exports_to_keep=1
                )
            ],
            **experiment_args,
        )

    return _experiment_fn


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-files", nargs="+", required=True)
    parser.add_argument("--eval-files", nargs="+", required=True)
    parser.add_argument("--num-epochs", type=int)
    parser.add_argument("--train-batch-size", type=int, default=40)
    parser.add_argument("--eval-batch-size", type=int, default=40)
    parser.add_argument("--train-steps", type=int)
    parser.add_argument("--eval-steps", type=int, default=100)
    parser.add_argument("--embedding-size", type=int, default=8)
    parser.add_argument("--first-layer-size", type=int, default=100)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--scale-factor", type=float, default=0.7)
    parser.add_argument("--job-dir", required=True)
    parser.add_argument("--eval-delay-secs", type=int, default=10)
    parser.add_argument("--min-eval-frequency", type=int, default=1)
    arguments = parser.parse_args().__dict__
    job_dir = arguments.pop("job_dir")
    tf.logging.set_verbosity(tf.logging.INFO)
    metrics, exports = learn_runner.run(generate_experiment_fn(**arguments), job_dir)
    for key in sorted(metrics):
        print("%s: %s" % (key, metrics[key]))
    print("exports: %s" % [e.decode() if isinstance(e, bytes) else e for e in exports if e])
