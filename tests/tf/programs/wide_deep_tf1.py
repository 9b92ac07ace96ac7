"""The TF 1.x official census Wide & Deep program (tf.data + core tf.estimator), ported.

Written after the shape of TensorFlow's ``official/wide_deep`` (r1.5-r1.13): ``tf.data``
reads the cleaned CSV with ``tf.decode_csv`` and labels with ``tf.equal``, a v1
``DNNLinearCombinedClassifier`` (loss_reduction=SUM) with a session config, a train/evaluate
loop printing the metrics, and an export taking serialized tf.Examples.
"""

import shutil
import sys

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf

_CSV_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]  # fmt: skip
_CSV_COLUMN_DEFAULTS = [
    [0], [""], [0], [""], [0], [""], [""], [""], [""], [""], [0], [0], [0], [""], [""],
]  # fmt: skip
_NUM_EXAMPLES = {"train": 4000, "validation": 1500}

flags = tf.flags
flags.DEFINE_string("model_dir", "/tmp/census_model", "Base directory for the model.")
flags.DEFINE_string("model_type", "wide_deep", "One of wide, deep, wide_deep.")
flags.DEFINE_integer("train_epochs", 4, "Number of training epochs.")
flags.DEFINE_integer("epochs_per_eval", 2, "Training epochs between evaluations.")
flags.DEFINE_integer("batch_size", 40, "Batch size.")
flags.DEFINE_string("train_data", "/tmp/census_data/adult.data", "Training data.")
flags.DEFINE_string("test_data", "/tmp/census_data/adult.test", "Test data.")
flags.DEFINE_string("export_dir", "", "Where to export the model.")
FLAGS = flags.FLAGS


def build_model_columns():
    age = tf.feature_column.numeric_column("age")
    education_num = tf.feature_column.numeric_column("education_num")
    capital_gain = tf.feature_column.numeric_column("capital_gain")
    capital_loss = tf.feature_column.numeric_column("capital_loss")
    hours_per_week = tf.feature_column.numeric_column("hours_per_week")
    education = tf.feature_column.categorical_column_with_vocabulary_list(
        "education",
        ["Bachelors", "HS-grad", "11th", "Masters", "9th", "Some-college", "Assoc-acdm",
         "Assoc-voc", "7th-8th", "Doctorate", "Prof-school", "5th-6th", "10th", "1st-4th",
         "Preschool", "12th"],
    )  # fmt: skip
    marital_status = tf.feature_column.categorical_column_with_vocabulary_list(
        "marital_status",
        ["Married-civ-spouse", "Divorced", "Married-spouse-absent", "Never-married",
         "Separated", "Married-AF-spouse", "Widowed"],
    )  # fmt: skip
    relationship = tf.feature_column.categorical_column_with_vocabulary_list(
        "relationship",
        ["Husband", "Not-in-family", "Wife", "Own-child", "Unmarried", "Other-relative"],
    )
    workclass = tf.feature_column.categorical_column_with_vocabulary_list(
        "workclass",
        ["Self-emp-not-inc", "Private", "State-gov", "Federal-gov", "Local-gov", "?",
         "Self-emp-inc", "Without-pay", "Never-worked"],
    )  # fmt: skip
    occupation = tf.feature_column.categorical_column_with_hash_bucket(
        "occupation", hash_bucket_size=1000
    )
    age_buckets = tf.feature_column.bucketized_column(
        age, boundaries=[18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
    )
    base_columns = [education, marital_status, relationship, workclass, occupation, age_buckets]
    crossed_columns = [
        tf.feature_column.crossed_column(["education", "occupation"], hash_bucket_size=1000),
        tf.feature_column.crossed_column(
            [age_buckets, "education", "occupation"], hash_bucket_size=1000
        ),
    ]
    wide_columns = base_columns + crossed_columns
    deep_columns = [
        age, education_num, capital_gain, capital_loss, hours_per_week,
        tf.feature_column.indicator_column(workclass),
        tf.feature_column.indicator_column(education),
        tf.feature_column.indicator_column(marital_status),
        tf.feature_column.indicator_column(relationship),
        tf.feature_column.embedding_column(occupation, dimension=8),
    ]  # fmt: skip
    return wide_columns, deep_columns


def build_estimator(model_dir, model_type):
    wide_columns, deep_columns = build_model_columns()
    hidden_units = [100, 75, 50, 25]
    # CPU only, as the official program configures its session.
    run_config = tf.estimator.RunConfig().replace(
        session_config=tf.ConfigProto(device_count={"GPU": 0}), tf_random_seed=1
    )
    if model_type == "wide":
        return tf.estimator.LinearClassifier(
            model_dir=model_dir, feature_columns=wide_columns, config=run_config
        )
    if model_type == "deep":
        return tf.estimator.DNNClassifier(
            model_dir=model_dir, feature_columns=deep_columns, hidden_units=hidden_units,
            config=run_config,
        )  # fmt: skip
    return tf.estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir,
        linear_feature_columns=wide_columns,
        dnn_feature_columns=deep_columns,
        dnn_hidden_units=hidden_units,
        config=run_config,
    )


def input_fn(data_file, num_epochs, shuffle, batch_size):
    assert tf.gfile.Exists(data_file), "%s not found." % data_file

    def parse_csv(value):
        tf.logging.info(f"Parsing {data_file}")
        columns = tf.decode_csv(value, record_defaults=_CSV_COLUMN_DEFAULTS)
        features = dict(zip(_CSV_COLUMNS, columns))
        labels = features.pop("income_bracket")
        return features, tf.equal(labels, ">50K")

    dataset = tf.data.TextLineDataset(data_file)
    if shuffle:
        dataset = dataset.shuffle(buffer_size=_NUM_EXAMPLES["train"])
    dataset = dataset.map(parse_csv, num_parallel_calls=5)
    dataset = dataset.repeat(num_epochs)
    dataset = dataset.batch(batch_size)
    return dataset


def export_model(model, export_dir):
    wide_columns, deep_columns = build_model_columns()
    feature_spec = tf.feature_column.make_parse_example_spec(wide_columns + deep_columns)
    example_input_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)
    return model.export_savedmodel(export_dir, example_input_fn, strip_default_attrs=True)


def main(unused_argv):
    shutil.rmtree(FLAGS.model_dir, ignore_errors=True)
    model = build_estimator(FLAGS.model_dir, FLAGS.model_type)
    for n in range(FLAGS.train_epochs // FLAGS.epochs_per_eval):
        model.train(
            input_fn=lambda: input_fn(
                FLAGS.train_data, FLAGS.epochs_per_eval, True, FLAGS.batch_size
            )
        )
        results = model.evaluate(
            input_fn=lambda: input_fn(FLAGS.test_data, 1, False, FLAGS.batch_size)
        )
        print("Results at epoch", (n + 1) * FLAGS.epochs_per_eval)
        print("-" * 60)
        for key in sorted(results):
            print("%s: %s" % (key, results[key]))
    if FLAGS.export_dir:
        print("exported to %s" % export_model(model, FLAGS.export_dir).decode())


if __name__ == "__main__":
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.app.run(main=main, argv=[sys.argv[0]] + sys.argv[1:])
