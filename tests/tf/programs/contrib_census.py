"""A tf.contrib.learn Wide & Deep census program of the TF 1.0-1.2 era, ported by its import.

Written after the shape of TensorFlow's wide_n_deep tutorial: pandas reads the files, the
input_fn turns columns into constant tensors and SparseTensors (the whole set is one batch,
fed at every step), contrib.layers columns (crossing hashed sparse columns), a contrib.learn
estimator with fit/evaluate, flags through tf.app.flags, and an export through InputFnOps.
"""

import tempfile

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf
import pandas as pd

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "", "Base directory for output models.")
flags.DEFINE_string("model_type", "wide_n_deep", "One of wide, deep, wide_n_deep.")
flags.DEFINE_integer("train_steps", 200, "Number of training steps.")
flags.DEFINE_string("train_data", "", "Path to the training data.")
flags.DEFINE_string("test_data", "", "Path to the test data.")
flags.DEFINE_string("export_dir", "", "Where to export the model (none when empty).")

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]  # fmt: skip
LABEL_COLUMN = "label"
CATEGORICAL_COLUMNS = [
    "workclass", "education", "marital_status", "occupation", "relationship", "race",
    "gender", "native_country",
]  # fmt: skip
CONTINUOUS_COLUMNS = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


def build_estimator(model_dir):
    layers = tf.contrib.layers
    gender = layers.sparse_column_with_keys(column_name="gender", keys=["Female", "Male"])
    race = layers.sparse_column_with_keys(
        column_name="race",
        keys=["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"],
    )
    education = layers.sparse_column_with_hash_bucket("education", hash_bucket_size=1000)
    marital_status = layers.sparse_column_with_hash_bucket("marital_status", hash_bucket_size=100)
    relationship = layers.sparse_column_with_hash_bucket("relationship", hash_bucket_size=100)
    workclass = layers.sparse_column_with_hash_bucket("workclass", hash_bucket_size=100)
    occupation = layers.sparse_column_with_hash_bucket("occupation", hash_bucket_size=1000)
    native_country = layers.sparse_column_with_hash_bucket("native_country", hash_bucket_size=1000)
    age = layers.real_valued_column("age")
    education_num = layers.real_valued_column("education_num")
    capital_gain = layers.real_valued_column("capital_gain")
    capital_loss = layers.real_valued_column("capital_loss")
    hours_per_week = layers.real_valued_column("hours_per_week")
    age_buckets = layers.bucketized_column(age, boundaries=[18, 25, 30, 35, 40, 45, 50, 55, 60, 65])

    wide_columns = [
        gender, native_country, education, occupation, workclass, marital_status, relationship,
        age_buckets,
        layers.crossed_column([education, occupation], hash_bucket_size=int(1e4)),
        layers.crossed_column([age_buckets, race, occupation], hash_bucket_size=int(1e4)),
        layers.crossed_column([native_country, occupation], hash_bucket_size=int(1e4)),
    ]  # fmt: skip
    deep_columns = [
        layers.embedding_column(workclass, dimension=8),
        layers.embedding_column(education, dimension=8),
        layers.embedding_column(marital_status, dimension=8),
        layers.embedding_column(gender, dimension=8),
        layers.embedding_column(relationship, dimension=8),
        layers.embedding_column(race, dimension=8),
        layers.embedding_column(native_country, dimension=8),
        layers.embedding_column(occupation, dimension=8),
        age, education_num, capital_gain, capital_loss, hours_per_week,
    ]  # fmt: skip
    if FLAGS.model_type == "wide":
        return tf.contrib.learn.LinearClassifier(model_dir=model_dir, feature_columns=wide_columns)
    if FLAGS.model_type == "deep":
        return tf.contrib.learn.DNNClassifier(
            model_dir=model_dir, feature_columns=deep_columns, hidden_units=[100, 50]
        )
    return tf.contrib.learn.DNNLinearCombinedClassifier(
        model_dir=model_dir,
        linear_feature_columns=wide_columns,
        dnn_feature_columns=deep_columns,
        dnn_hidden_units=[100, 50],
        fix_global_step_increment_bug=True,
    )


def input_fn(df):
    """All of ``df`` as one batch: constant tensors and SparseTensors."""
    continuous_cols = {k: tf.constant(df[k].values) for k in CONTINUOUS_COLUMNS}
    categorical_cols = {
        k: tf.SparseTensor(
            indices=[[i, 0] for i in range(df[k].size)],
            values=df[k].values,
            dense_shape=[df[k].size, 1],
        )
        for k in CATEGORICAL_COLUMNS
    }
    feature_cols = dict(continuous_cols)
    feature_cols.update(categorical_cols)
    label = tf.constant(df[LABEL_COLUMN].values)
    return feature_cols, label


def serving_input_fn():
    """Raw JSON features: one placeholder per column, expanded to rank 2."""
    placeholders = {k: tf.placeholder(tf.string, [None]) for k in CATEGORICAL_COLUMNS}
    placeholders.update({k: tf.placeholder(tf.float32, [None]) for k in CONTINUOUS_COLUMNS})
    features = {k: tf.expand_dims(t, -1) for k, t in placeholders.items()}
    return tf.contrib.learn.InputFnOps(features, None, placeholders)


def train_and_eval():
    df_train = pd.read_csv(
        tf.gfile.Open(FLAGS.train_data), names=COLUMNS, skipinitialspace=True, engine="python"
    )
    df_test = pd.read_csv(
        tf.gfile.Open(FLAGS.test_data),
        names=COLUMNS,
        skipinitialspace=True,
        skiprows=1,
        engine="python",
    )
    df_train = df_train.dropna(how="any", axis=0)
    df_test = df_test.dropna(how="any", axis=0)
    df_train[LABEL_COLUMN] = df_train["income_bracket"].apply(lambda x: ">50K" in x).astype(int)
    df_test[LABEL_COLUMN] = df_test["income_bracket"].apply(lambda x: ">50K" in x).astype(int)

    model_dir = tempfile.mkdtemp() if not FLAGS.model_dir else FLAGS.model_dir
    print("model directory = %s" % model_dir)
    m = build_estimator(model_dir)
    m.fit(input_fn=lambda: input_fn(df_train), steps=FLAGS.train_steps)
    results = m.evaluate(input_fn=lambda: input_fn(df_test), steps=1)
    for key in sorted(results):
        print("%s: %s" % (key, results[key]))
    if FLAGS.export_dir:
        path = m.export_savedmodel(FLAGS.export_dir, serving_input_fn)
        print("exported to %s" % path.decode("utf-8"))


def main(_):
    tf.logging.set_verbosity(tf.logging.INFO)
    train_and_eval()


if __name__ == "__main__":
    tf.app.run()
