"""The TF 2.0-2.3 era "Boosted trees using Estimators" tutorial's shape (2019), ported by its
import, on census instead of Titanic.

pandas frames read with ``pd.read_csv``; feature columns built from the frame (an indicator
column over each categorical's ``unique()`` values, float numerics); an input function made
by a closure over ``tf.data.Dataset.from_tensor_slices((dict(X), y))`` with the whole data set
as one batch; a ``LinearClassifier`` baseline, then a ``BoostedTreesClassifier`` trained with
``max_steps`` and a ``StopAtStepHook`` plus a hook of the program's own; predicted
probabilities gathered from ``predict``; and an export taking serialized tf.Examples. The
code is this project's own.
"""

import argparse

import pandas as pd

import mlengine.tf as tf  # was: import tensorflow as tf

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]  # fmt: skip
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "gender"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


def one_hot_cat_column(name, vocab):
    return tf.feature_column.indicator_column(
        tf.feature_column.categorical_column_with_vocabulary_list(name, vocab)
    )


def make_input_fn(X, y, n_epochs=None, shuffle=True):
    def input_fn():
        dataset = tf.data.Dataset.from_tensor_slices((dict(X), y))
        if shuffle:
            dataset = dataset.shuffle(len(y))
        # For training, cycle through the data as many times as needed (n_epochs=None).
        dataset = dataset.repeat(n_epochs)
        # In memory training doesn't use batching.
        dataset = dataset.batch(len(y))
        return dataset

    return input_fn


class StepCounter(tf.estimator.SessionRunHook):
    """Counts the steps it saw and remembers the last loss."""

    def begin(self):
        self.steps, self.last_loss = 0, None

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs({"loss": "loss"})

    def after_run(self, run_context, run_values):
        self.steps += 1
        self.last_loss = run_values.results["loss"]


def load(path):
    frame = pd.read_csv(path, names=COLUMNS, skipinitialspace=True, comment="|")
    frame = frame.dropna()
    y = frame.pop("income_bracket").str.strip(".").eq(">50K").astype(int)
    return frame[CATEGORICAL + NUMERIC], y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--export_dir", required=True)
    args = parser.parse_args()
    tf.random.set_seed(123)

    dftrain, y_train = load(args.train)
    dfeval, y_eval = load(args.eval)
    feature_columns = [one_hot_cat_column(n, dftrain[n].unique()) for n in CATEGORICAL]
    feature_columns += [tf.feature_column.numeric_column(n, dtype=tf.float32) for n in NUMERIC]

    train_input_fn = make_input_fn(dftrain, y_train)
    eval_input_fn = make_input_fn(dfeval, y_eval, shuffle=False, n_epochs=1)

    linear_est = tf.estimator.LinearClassifier(feature_columns, model_dir=args.model_dir + "/lin")
    linear_est.train(train_input_fn, max_steps=100)
    result = linear_est.evaluate(eval_input_fn)
    for key, value in sorted(result.items()):
        print("linear %s: %s" % (key, value))

    est = tf.estimator.BoostedTreesClassifier(
        feature_columns, n_batches_per_layer=1, n_trees=50, max_depth=4,
        model_dir=args.model_dir + "/bt",
    )  # fmt: skip
    counter = StepCounter()
    est.train(
        train_input_fn, max_steps=100, hooks=[tf.estimator.StopAtStepHook(last_step=30), counter]
    )
    print("hook steps: %d" % counter.steps)
    result = est.evaluate(eval_input_fn)
    for key, value in sorted(result.items()):
        print("trees %s: %s" % (key, value))

    pred_dicts = list(est.predict(eval_input_fn))
    probs = pd.Series([pred["probabilities"][1] for pred in pred_dicts])
    print("predicted: %d mean probability: %.3f" % (len(probs), probs.mean()))

    spec = tf.feature_column.make_parse_example_spec(feature_columns)
    serving_input_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(spec)
    path = est.export_saved_model(args.export_dir, serving_input_fn)
    print("exported: %s" % path.decode())


if __name__ == "__main__":
    main()
