"""A TF 1.3-1.8 era regression program (2017), ported by its import: the shape of the
"Building Input Functions with tf.estimator" guide (Boston housing), on iris measurements
(predicting the petal width from the other three).

pandas frames read with ``pd.read_csv``; ``tf.estimator.inputs.pandas_input_fn`` for
training and evaluation; a ``DNNRegressor`` (and a ``LinearRegressor`` with an FTRL
optimizer) trained for ``steps``; ``evaluate``'s ``loss``; predictions taken from
``itertools.islice`` over ``predict`` of a ``numpy_input_fn``; and ``export_savedmodel`` with a
raw receiver of float placeholders. The code is this project's own.
"""

import argparse
import itertools

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf
import numpy as np
import pandas as pd

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
FEATURES = ["sepal_length", "sepal_width", "petal_length"]
LABEL = "petal_width"

parser = argparse.ArgumentParser()
parser.add_argument("--train", required=True)
parser.add_argument("--test", required=True)
parser.add_argument("--model_dir", required=True)
parser.add_argument("--export_dir", required=True)
parser.add_argument("--steps", type=int, default=500)


def get_input_fn(data_set, num_epochs=None, shuffle=True):
    return tf.estimator.inputs.pandas_input_fn(
        x=pd.DataFrame({k: data_set[k].values for k in FEATURES}),
        y=pd.Series(data_set[LABEL].values),
        batch_size=16,
        num_epochs=num_epochs,
        shuffle=shuffle,
    )


def serving_input_receiver_fn():
    features = {k: tf.placeholder(dtype=tf.float32, shape=[None], name=k) for k in FEATURES}
    return tf.estimator.export.build_raw_serving_input_receiver_fn(features)()


def main(unused_argv):
    args = parser.parse_args(unused_argv[1:])
    training_set = pd.read_csv(args.train, skipinitialspace=True, skiprows=1, names=COLUMNS)
    test_set = pd.read_csv(args.test, skipinitialspace=True, skiprows=1, names=COLUMNS)
    feature_cols = [tf.feature_column.numeric_column(k) for k in FEATURES]

    regressor = tf.estimator.DNNRegressor(
        feature_columns=feature_cols,
        hidden_units=[10, 10],
        optimizer=tf.train.ProximalAdagradOptimizer(learning_rate=0.1),
        model_dir=args.model_dir,
        config=tf.estimator.RunConfig(tf_random_seed=42, save_summary_steps=50),
    )
    regressor.train(input_fn=get_input_fn(training_set), steps=args.steps)
    ev = regressor.evaluate(input_fn=get_input_fn(test_set, num_epochs=1, shuffle=False))
    loss_score = ev["loss"]
    print("Loss: {0:f}".format(loss_score))
    for key in sorted(ev):
        print("dnn %s: %s" % (key, ev[key]))

    linear = tf.estimator.LinearRegressor(
        feature_columns=feature_cols,
        optimizer=tf.train.FtrlOptimizer(learning_rate=0.1, l1_regularization_strength=0.001),
    )
    linear.train(input_fn=get_input_fn(training_set), steps=args.steps)
    ev = linear.evaluate(input_fn=get_input_fn(test_set, num_epochs=1, shuffle=False))
    for key in sorted(ev):
        print("linear %s: %s" % (key, ev[key]))

    prediction_set = test_set.head(6)
    y = regressor.predict(
        input_fn=tf.estimator.inputs.numpy_input_fn(
            x={k: np.asarray(prediction_set[k].values, dtype=np.float32) for k in FEATURES},
            num_epochs=1,
            shuffle=False,
        )
    )
    predictions = list(p["predictions"] for p in itertools.islice(y, 6))
    print("Predictions: {}".format(str([float(p[0]) for p in predictions])))

    path = regressor.export_savedmodel(args.export_dir, serving_input_receiver_fn)
    print("Exported to %s" % path.decode())


if __name__ == "__main__":
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.app.run(main=main)
