"""A custom census estimator of the TF 1.13-1.15 era (2019), ported by its import.

The shape of the "canned to custom" census trainers of that time: a ``model_fn`` of
``tf.layers.dense`` / ``tf.layers.dropout`` over ``tf.feature_column.input_layer`` (indicator
and embedding columns over vocabulary lists, standardised numerics), labels looked up in a
``tf.contrib.lookup`` table, ``tf.metrics.auc`` / ``precision`` / ``recall`` beside accuracy,
``export_outputs`` naming a ``PredictOutput``, and ``train_and_evaluate`` with a
``LoggingTensorHook`` and ``tf.estimator.experimental.stop_if_no_increase_hook`` passed as the
training hooks of the custom estimator, and a ``LatestExporter`` of a JSON receiver. The code
is this project's own.
"""

import argparse

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf

CSV_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]  # fmt: skip
DEFAULTS = [[0], [""], [0], [""], [0], [""], [""], [""], [""], [""], [0], [0], [0], [""], [""]]
LABELS = [" <=50K", " >50K"]
VOCABULARIES = {
    "relationship": [" Husband", " Not-in-family", " Wife", " Own-child", " Unmarried",
                     " Other-relative"],
    "marital_status": [" Married-civ-spouse", " Divorced", " Married-spouse-absent",
                       " Never-married", " Separated", " Married-AF-spouse", " Widowed"],
    "gender": [" Female", " Male"],
}  # fmt: skip
NUMERIC = {"age": (38.6, 13.6), "education_num": (10.1, 2.6), "hours_per_week": (40.4, 12.3)}


def feature_columns():
    columns = [
        tf.feature_column.numeric_column(k, normalizer_fn=lambda x, m=m, s=s: (x - m) / s)
        for k, (m, s) in sorted(NUMERIC.items())
    ]
    for key, vocabulary in sorted(VOCABULARIES.items()):
        cat = tf.feature_column.categorical_column_with_vocabulary_list(key, vocabulary)
        columns.append(tf.feature_column.indicator_column(cat))
    occupation = tf.feature_column.categorical_column_with_hash_bucket(
        "occupation", hash_bucket_size=50
    )
    columns.append(tf.feature_column.embedding_column(occupation, dimension=4))
    return columns


def parse_csv(rows):
    columns = tf.decode_csv(rows, record_defaults=DEFAULTS)
    features = dict(zip(CSV_COLUMNS, columns))
    for key in ("fnlwgt", "capital_gain", "capital_loss"):
        features.pop(key)
    label = features.pop("income_bracket")
    table = tf.contrib.lookup.index_table_from_tensor(tf.constant(LABELS))
    return features, table.lookup(label)


def input_fn(filename, batch_size, shuffle, num_epochs):
    dataset = tf.data.TextLineDataset([filename])
    if shuffle:
        dataset = dataset.shuffle(buffer_size=batch_size * 10)
    dataset = dataset.repeat(num_epochs).batch(batch_size).map(parse_csv)
    return dataset


def model_fn(features, labels, mode, params):
    net = tf.feature_column.input_layer(features, params["feature_columns"])
    for units in params["hidden_units"]:
        net = tf.layers.dense(net, units, activation=tf.nn.relu)
        net = tf.layers.dropout(net, rate=0.1, training=mode == tf.estimator.ModeKeys.TRAIN)
    logits = tf.layers.dense(net, 2)
    probabilities = tf.nn.softmax(logits)
    predicted = tf.argmax(logits, axis=1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        predictions = {"class_ids": predicted[:, tf.newaxis], "probabilities": probabilities}
        return tf.estimator.EstimatorSpec(
            mode,
            predictions=predictions,
            export_outputs={"predict": tf.estimator.export.PredictOutput(predictions)},
        )
    loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    eval_metric_ops = {
        "accuracy": tf.metrics.accuracy(labels, predicted),
        "auc": tf.metrics.auc(labels, probabilities[:, 1]),
        "precision": tf.metrics.precision(labels, predicted),
        "recall": tf.metrics.recall(labels, predicted),
    }
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=eval_metric_ops)
    optimizer = tf.train.AdamOptimizer(learning_rate=params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def json_serving_input_fn():
    inputs = {}
    for column in feature_columns():
        key = getattr(column, "key", None) or column.categorical_column.key
        dtype = tf.float32 if key in NUMERIC else tf.string
        inputs[key] = tf.placeholder(shape=[None], dtype=dtype)
    return tf.estimator.export.ServingInputReceiver(inputs, inputs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-files", required=True)
    parser.add_argument("--eval-files", required=True)
    parser.add_argument("--job-dir", required=True)
    parser.add_argument("--train-steps", type=int, default=1000)
    args = parser.parse_args()

    config = tf.estimator.RunConfig(
        model_dir=args.job_dir, save_checkpoints_steps=50, tf_random_seed=3
    )
    estimator = tf.estimator.Estimator(
        model_fn=model_fn,
        config=config,
        params={
            "feature_columns": feature_columns(),
            "hidden_units": [32, 16],
            "learning_rate": 0.01,
        },
    )
    early_stopping = tf.estimator.experimental.stop_if_no_increase_hook(
        estimator, "auc", max_steps_without_increase=150, run_every_secs=None,
        run_every_steps=50,
    )  # fmt: skip
    logging_hook = tf.train.LoggingTensorHook(
        {"loss": "loss", "step": "global_step"}, every_n_iter=50
    )
    train_spec = tf.estimator.TrainSpec(
        lambda: input_fn(args.train_files, 64, True, None),
        max_steps=args.train_steps,
        hooks=[logging_hook, early_stopping],
    )
    exporter = tf.estimator.LatestExporter("census", json_serving_input_fn)
    eval_spec = tf.estimator.EvalSpec(
        lambda: input_fn(args.eval_files, 500, False, 1),
        steps=None,
        exporters=[exporter],
        start_delay_secs=0,
        throttle_secs=0,
    )
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    metrics = estimator.evaluate(lambda: input_fn(args.eval_files, 500, False, 1))
    for key in sorted(metrics):
        print("%s: %s" % (key, metrics[key]))


if __name__ == "__main__":
    tf.logging.set_verbosity(tf.logging.INFO)
    main()
