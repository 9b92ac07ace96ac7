"""A Cloud ML Engine census trainer (train_and_evaluate, exporters, three serving inputs).

Written after the shape of cloudml-samples' ``census/estimator/trainer`` (2018): core feature
columns, a label lookup table on a one-shot iterator's tensors, ``train_and_evaluate`` with a
``FinalExporter`` whose serving input function takes JSON features, CSV lines or serialized
tf.Examples (``--export-format``).
"""

import argparse
import os

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf

CSV_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "gender",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income_bracket",
]
CSV_COLUMN_DEFAULTS = [
    [0],
    [""],
    [0],
    [""],
    [0],
    [""],
    [""],
    [""],
    [""],
    [""],
    [0],
    [0],
    [0],
    [""],
    [""],
]
LABEL_COLUMN = "income_bracket"
LABELS = [" <=50K", " >50K"]
INPUT_COLUMNS = [
    tf.feature_column.categorical_column_with_vocabulary_list("gender", [" Female", " Male"]),
    tf.feature_column.categorical_column_with_vocabulary_list(
        "race", [" Amer-Indian-Eskimo", " Asian-Pac-Islander", " Black", " Other", " White"]
    ),
    tf.feature_column.categorical_column_with_hash_bucket("education", hash_bucket_size=1000),
    tf.feature_column.categorical_column_with_hash_bucket("marital_status", hash_bucket_size=100),
    tf.feature_column.categorical_column_with_hash_bucket("relationship", hash_bucket_size=100),
    tf.feature_column.categorical_column_with_hash_bucket("workclass", hash_bucket_size=100),
    tf.feature_column.categorical_column_with_hash_bucket("occupation", hash_bucket_size=1000),
    tf.feature_column.categorical_column_with_hash_bucket("native_country", hash_bucket_size=1000),
    tf.feature_column.numeric_column("age"),
    tf.feature_column.numeric_column("education_num"),
    tf.feature_column.numeric_column("capital_gain"),
    tf.feature_column.numeric_column("capital_loss"),
    tf.feature_column.numeric_column("hours_per_week"),
]
UNUSED_COLUMNS = set(CSV_COLUMNS) - {col.name for col in INPUT_COLUMNS} - {LABEL_COLUMN}


def build_estimator(config, embedding_size=8, hidden_units=None):
    (
        gender,
        race,
        education,
        marital_status,
        relationship,
        workclass,
        occupation,
        native_country,
        age,
        education_num,
        capital_gain,
        capital_loss,
        hours_per_week,
    ) = INPUT_COLUMNS
    age_buckets = tf.feature_column.bucketized_column(
        age, boundaries=[18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
    )
    wide_columns = [
        tf.feature_column.crossed_column(["education", "occupation"], hash_bucket_size=int(1e4)),
        tf.feature_column.crossed_column(
            [age_buckets, race, "occupation"], hash_bucket_size=int(1e4)
        ),
        tf.feature_column.crossed_column(
            ["native_country", "occupation"], hash_bucket_size=int(1e4)
        ),
        gender,
        native_country,
        education,
        occupation,
        workclass,
        marital_status,
        relationship,
        age_buckets,
    ]
    deep_columns = [
        tf.feature_column.indicator_column(workclass),
        tf.feature_column.indicator_column(education),
        tf.feature_column.indicator_column(marital_status),
        tf.feature_column.indicator_column(gender),
        tf.feature_column.indicator_column(relationship),
        tf.feature_column.indicator_column(race),
        tf.feature_column.embedding_column(native_country, dimension=embedding_size),
        tf.feature_column.embedding_column(occupation, dimension=embedding_size),
        age,
        education_num,
        capital_gain,
        capital_loss,
        hours_per_week,
    ]
    return tf.estimator.DNNLinearCombinedClassifier(
        config=config,
        linear_feature_columns=wide_columns,
        dnn_feature_columns=deep_columns,
        dnn_hidden_units=hidden_units or [100, 70, 50, 25],
    )


def parse_label_column(label_string_tensor):
    table = tf.contrib.lookup.index_table_from_tensor(tf.constant(LABELS))
    return table.lookup(label_string_tensor)


def csv_serving_input_fn():
    csv_row = tf.placeholder(shape=[None], dtype=tf.string)
    features = parse_csv(csv_row)
    features.pop(LABEL_COLUMN)
    return tf.estimator.export.ServingInputReceiver(features, {"csv_row": csv_row})


def example_serving_input_fn():
    example_bytestring = tf.placeholder(shape=[None], dtype=tf.string)
    feature_scalars = tf.parse_example(
        example_bytestring, tf.feature_column.make_parse_example_spec(INPUT_COLUMNS)
    )
    return tf.estimator.export.ServingInputReceiver(
        feature_scalars, {"example_proto": example_bytestring}
    )


def json_serving_input_fn():
    inputs = {}
    for feat in INPUT_COLUMNS:
        inputs[feat.name] = tf.placeholder(shape=[None], dtype=feat.dtype)
    return tf.estimator.export.ServingInputReceiver(inputs, inputs)


SERVING_FUNCTIONS = {
    "JSON": json_serving_input_fn,
    "EXAMPLE": example_serving_input_fn,
    "CSV": csv_serving_input_fn,
}


def parse_csv(rows_string_tensor):
    row_columns = tf.expand_dims(rows_string_tensor, -1)
    columns = tf.decode_csv(row_columns, record_defaults=CSV_COLUMN_DEFAULTS)
    features = dict(zip(CSV_COLUMNS, columns))
    for col in UNUSED_COLUMNS:
        features.pop(col)
    return features


def input_fn(filenames, num_epochs=None, shuffle=True, skip_header_lines=0, batch_size=200):
    filename_dataset = tf.data.Dataset.from_tensor_slices(filenames)
    if shuffle:
        filename_dataset = filename_dataset.shuffle(len(filenames))
    dataset = filename_dataset.flat_map(
        lambda filename: tf.data.TextLineDataset(filename).skip(skip_header_lines)
    )
    dataset = dataset.map(parse_csv)
    if shuffle:
        dataset = dataset.shuffle(buffer_size=batch_size * 10)
    dataset = dataset.repeat(num_epochs)
    dataset = dataset.batch(batch_size)
    iterator = dataset.make_one_shot_iterator()
    features = iterator.get_next()
    return features, parse_label_column(features.pop(LABEL_COLUMN))


def run_experiment(hparams):
    train_input = lambda: input_fn(
        hparams.train_files, num_epochs=hparams.num_epochs, batch_size=hparams.train_batch_size
    )
    eval_input = lambda: input_fn(
        hparams.eval_files, batch_size=hparams.eval_batch_size, shuffle=False
    )
    train_spec = tf.estimator.TrainSpec(train_input, max_steps=hparams.train_steps)
    exporter = tf.estimator.FinalExporter("census", SERVING_FUNCTIONS[hparams.export_format])
    eval_spec = tf.estimator.EvalSpec(
        eval_input, steps=hparams.eval_steps, exporters=[exporter], name="census-eval"
    )
    run_config = tf.estimator.RunConfig(tf_random_seed=hparams.seed)
    run_config = run_config.replace(model_dir=hparams.job_dir)
    print(f"model dir {run_config.model_dir}")
    estimator = build_estimator(
        embedding_size=hparams.embedding_size,
        hidden_units=[
            max(2, int(hparams.first_layer_size * hparams.scale_factor**i))
            for i in range(hparams.num_layers)
        ],
        config=run_config,
    )
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-files", nargs="+", required=True)
    parser.add_argument("--eval-files", nargs="+", required=True)
    parser.add_argument("--num-epochs", type=int)
    parser.add_argument("--train-batch-size", type=int, default=40)
    parser.add_argument("--eval-batch-size", type=int, default=40)
    parser.add_argument("--embedding-size", type=int, default=8)
    parser.add_argument("--first-layer-size", type=int, default=100)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--scale-factor", type=float, default=0.7)
    parser.add_argument("--job-dir", required=True)
    parser.add_argument(
        "--verbosity", choices=["DEBUG", "ERROR", "FATAL", "INFO", "WARN"], default="INFO"
    )
    parser.add_argument("--train-steps", type=int)
    parser.add_argument("--eval-steps", type=int, default=100)
    parser.add_argument("--export-format", choices=["JSON", "CSV", "EXAMPLE"], default="JSON")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    tf.logging.set_verbosity(args.verbosity)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(tf.logging.__dict__[args.verbosity] / 10)
    hparams = tf.contrib.training.HParams(**args.__dict__)
    run_experiment(hparams)
