"""The talk's two snippets as a TF 1.x program, ported by its import.

Snippet 1: a DNNClassifier over an embedded, integerized zip code and a real-valued age whose
normalizer is a lambda. Snippet 2: a Wide & Deep regressor whose *linear* part takes numeric
columns and an embedding (TF 2.15's linear model takes any dense column), with explicit FTRL
and Adagrad optimizers, relu, dropout and gradient clipping. Data: synthetic, made here.
"""

import argparse

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf
import numpy as np
from mlengine.tf.compat.v1.contrib import layers, learn  # was: from tensorflow.contrib import ...

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--export_dir", default="")


def zip_codes(n, seed):
    rng = np.random.default_rng(seed)
    zip_code = rng.integers(10000, 100000, size=n)
    age = rng.integers(18, 80, size=n).astype(np.float32)
    label = ((zip_code % 100) < 30).astype(np.int64)
    return {"zip_code": zip_code, "age": age}, label


def houses(n, seed):
    rng = np.random.default_rng(seed)
    zip_code = rng.integers(0, 50, size=n)
    area = rng.uniform(40, 200, size=n).astype(np.float32)
    rooms = rng.integers(1, 7, size=n).astype(np.float32)
    price = area / 100 + rooms * 0.2 + (zip_code % 5) * 0.3
    return {"zip_code": zip_code, "area": area, "rooms": rooms}, price.astype(np.float32)


def snippet_one(steps):
    x, y = zip_codes(3000, seed=0)
    x_test, y_test = zip_codes(1000, seed=1)
    # ---- the talk ----
    zip_code = layers.sparse_column_with_integerized_feature("zip_code", bucket_size=100)
    zip_embedding = layers.embedding_column(zip_code, dimension=16)
    age = layers.real_valued_column("age", normalizer=lambda v: (v - 49.0) / 18.0)
    estimator = learn.DNNClassifier(
        feature_columns=[zip_embedding, age],
        hidden_units=[64, 32],
        config=learn.RunConfig(tf_random_seed=1),
    )
    estimator.fit(x=x, y=y, steps=steps, batch_size=128)
    # ------------------
    results = estimator.evaluate(x=x_test, y=y_test)
    for key in sorted(results):
        print("snippet1 %s: %s" % (key, results[key]))
    classes = list(estimator.predict(x={k: v[:3] for k, v in x_test.items()}))
    print("snippet1 classes:", classes, "expected:", list(y_test[:3]))
    return estimator


def snippet_two(steps, export_dir):
    x, y = houses(3000, seed=2)
    x_test, y_test = houses(500, seed=3)
    area = tf.feature_column.numeric_column("area")
    rooms = tf.feature_column.numeric_column("rooms")
    zip_code = tf.feature_column.categorical_column_with_identity("zip_code", 50)
    # ---- the talk ----
    estimator = tf.estimator.DNNLinearCombinedRegressor(
        linear_feature_columns=[area, rooms, tf.feature_column.embedding_column(zip_code, 8)],
        linear_optimizer=tf.train.FtrlOptimizer(learning_rate=0.1, l2_regularization_strength=0.01),
        dnn_feature_columns=[area, rooms, tf.feature_column.indicator_column(zip_code)],
        dnn_optimizer=tf.train.AdagradOptimizer(learning_rate=0.05),
        dnn_hidden_units=[32, 16],
        dnn_activation_fn=tf.nn.relu,
        dnn_dropout=0.1,
        config=tf.estimator.RunConfig(tf_random_seed=1),
    )
    train = tf.estimator.inputs.numpy_input_fn(x, y, batch_size=64, num_epochs=None, shuffle=True)
    estimator.train(input_fn=train, steps=steps)
    # ------------------
    results = estimator.evaluate(
        input_fn=tf.estimator.inputs.numpy_input_fn(x_test, y_test, shuffle=False)
    )
    for key in sorted(results):
        print("snippet2 %s: %s" % (key, results[key]))
    if export_dir:
        spec = tf.feature_column.make_parse_example_spec([area, rooms, zip_code])
        receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn(spec)
        print("exported to %s" % estimator.export_savedmodel(export_dir, receiver).decode())


if __name__ == "__main__":
    args = parser.parse_args()
    snippet_one(args.steps)
    snippet_two(args.steps, args.export_dir)
