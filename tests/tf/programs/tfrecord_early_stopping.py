"""A TF 2 estimator program on TFRecords, with hooks and early stopping, ported by its import.

Converts a census CSV into tf.Example records (tf.io.TFRecordWriter), reads them back with
``TFRecordDataset`` -> ``batch`` -> ``map(tf.io.parse_example)``, and trains a
``DNNLinearCombinedClassifier`` under ``train_and_evaluate``: checkpoints every N steps, an
evaluation after each (throttle_secs=0), ``stop_if_no_increase_hook`` on AUC, a
``LoggingTensorHook``, and a ``BestExporter`` taking serialized tf.Examples.
"""

import argparse
import csv

import mlengine.tf as tf  # was: import tensorflow as tf

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "gender"]
COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]  # fmt: skip


def to_tfrecords(csv_path, tfrecord_path):
    with open(csv_path) as source, tf.io.TFRecordWriter(tfrecord_path) as writer:
        for row in csv.reader(source, skipinitialspace=True):
            if len(row) != len(COLUMNS):
                continue
            record = dict(zip(COLUMNS, row))
            feature = {
                k: tf.train.Feature(float_list=tf.train.FloatList(value=[float(record[k])]))
                for k in NUMERIC
            }
            for k in CATEGORICAL:
                feature[k] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[record[k].encode("utf-8")])
                )
            label = 1 if ">50K" in record["income_bracket"] else 0
            feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


# Standardised (mean, stddev of UCI Adult's training file), money in log units.
SCALES = {"age": (38.6, 13.6), "education_num": (10.1, 2.6), "hours_per_week": (40.4, 12.3)}


def numeric_feature(key):
    if key in SCALES:
        mean, std = SCALES[key]
        return tf.feature_column.numeric_column(key, normalizer_fn=lambda x: (x - mean) / std)
    return tf.feature_column.numeric_column(key, normalizer_fn=lambda x: tf.math.log1p(x) / 10.0)


def feature_columns():
    numeric = [numeric_feature(k) for k in NUMERIC]
    categorical = [
        tf.feature_column.categorical_column_with_hash_bucket(k, hash_bucket_size=100)
        for k in CATEGORICAL
    ]
    age = tf.feature_column.numeric_column("age")
    age_buckets = tf.feature_column.bucketized_column(age, [25, 35, 45, 55, 65])
    wide = categorical + [age_buckets]
    deep = numeric + [tf.feature_column.embedding_column(c, dimension=4) for c in categorical]
    return wide, deep


def input_fn(path, batch_size, shuffle, epochs):
    spec = tf.feature_column.make_parse_example_spec(sum(feature_columns(), []))
    spec["label"] = tf.io.FixedLenFeature([1], tf.int64)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        label = features.pop("label")
        return features, label

    dataset = tf.data.TFRecordDataset(path)
    if shuffle:
        dataset = dataset.shuffle(10000)
    return (
        dataset.repeat(epochs).batch(batch_size).map(parse).prefetch(tf.data.experimental.AUTOTUNE)
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--max_steps", type=int, default=2000)
    args = parser.parse_args()
    to_tfrecords(args.train, args.model_dir + ".train.tfrecord")
    to_tfrecords(args.test, args.model_dir + ".test.tfrecord")

    wide, deep = feature_columns()
    config = tf.estimator.RunConfig(
        model_dir=args.model_dir, save_checkpoints_steps=100, tf_random_seed=1
    )
    model = tf.estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[32, 16],
        dnn_optimizer=tf.keras.optimizers.Adagrad(learning_rate=0.05),
        config=config,
    )
    early_stop = tf.estimator.experimental.stop_if_no_increase_hook(
        model, metric_name="auc", max_steps_without_increase=300, run_every_secs=None,
        run_every_steps=100,
    )  # fmt: skip
    logging_hook = tf.estimator.LoggingTensorHook(
        {"loss": "loss", "step": "global_step"}, every_n_iter=100
    )
    spec = tf.feature_column.make_parse_example_spec(wide + deep)
    exporter = tf.estimator.BestExporter(
        name="best",
        serving_input_receiver_fn=tf.estimator.export.build_parsing_serving_input_receiver_fn(spec),
        exports_to_keep=2,
    )
    train_spec = tf.estimator.TrainSpec(
        input_fn=lambda: input_fn(args.model_dir + ".train.tfrecord", 64, True, None),
        max_steps=args.max_steps,
        hooks=[early_stop, logging_hook],
    )
    eval_spec = tf.estimator.EvalSpec(
        input_fn=lambda: input_fn(args.model_dir + ".test.tfrecord", 256, False, 1),
        steps=None,
        exporters=[exporter],
        throttle_secs=0,
    )
    metrics, exports = tf.estimator.train_and_evaluate(model, train_spec, eval_spec)
    for key in sorted(metrics):
        print("%s: %s" % (key, metrics[key]))
    print("exports: %s" % [e for e in exports if e])


if __name__ == "__main__":
    tf.get_logger().setLevel("INFO")
    main()
