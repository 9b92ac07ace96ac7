"""A custom-estimator iris program of the TF 1.x era (2018), ported by its import.

Written after the shape of TensorFlow's "Creating Custom Estimators" guide of 2018
(``models/samples/core/get_started/custom_estimator.py``): the CSV files read with
``tf.decode_csv`` in a ``TextLineDataset`` pipeline, a ``model_fn`` of ``tf.layers.dense``
layers over ``tf.feature_column.input_layer`` with TF 1's losses, metrics and summaries,
``tf.estimator.Estimator(model_fn=..., params=...)``, and the three samples predicted at the
end; then a raw serving input receiver exports the model. The code is this project's own.
"""

import argparse

import mlengine.tf.compat.v1 as tf  # was: import tensorflow as tf

COLUMNS = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth", "Species"]
DEFAULTS = [[0.0], [0.0], [0.0], [0.0], [0]]
SPECIES = ["Setosa", "Versicolor", "Virginica"]

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", default=32, type=int, help="examples per batch")
parser.add_argument("--train_steps", default=1000, type=int, help="training steps")
parser.add_argument("--train_path", required=True)
parser.add_argument("--test_path", required=True)
parser.add_argument("--model_dir", default=None)
parser.add_argument("--export_dir", default="")


def _parse_line(line):
    fields = tf.decode_csv(line, record_defaults=DEFAULTS)
    features = dict(zip(COLUMNS, fields))
    label = features.pop("Species")
    return features, label


def csv_input_fn(path, batch_size, training):
    dataset = tf.data.TextLineDataset(path).skip(1)  # the header line
    dataset = dataset.map(_parse_line)
    if training:
        dataset = dataset.shuffle(500).repeat()
    return dataset.batch(batch_size)


def predict_input_fn(features, batch_size):
    return tf.data.Dataset.from_tensor_slices(dict(features)).batch(batch_size)


def my_model_fn(features, labels, mode, params):
    """A DNN with params['hidden_units'] relu layers and a softmax over n_classes."""
    net = tf.feature_column.input_layer(features, params["feature_columns"])
    for units in params["hidden_units"]:
        net = tf.layers.dense(net, units=units, activation=tf.nn.relu)
    logits = tf.layers.dense(net, params["n_classes"], activation=None)

    predicted_classes = tf.argmax(logits, 1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        predictions = {
            "class_ids": predicted_classes[:, tf.newaxis],
            "probabilities": tf.nn.softmax(logits),
            "logits": logits,
        }
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)

    loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = tf.metrics.accuracy(labels=labels, predictions=predicted_classes, name="acc_op")
    metrics = {"accuracy": accuracy}
    tf.summary.scalar("accuracy", accuracy[1])

    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)

    assert mode == tf.estimator.ModeKeys.TRAIN
    optimizer = tf.train.AdagradOptimizer(learning_rate=params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def serving_input_receiver_fn():
    inputs = {key: tf.placeholder(tf.float32, [None]) for key in COLUMNS[:-1]}
    return tf.estimator.export.ServingInputReceiver(inputs, inputs)


def main(argv):
    args = parser.parse_args(argv[1:])
    feature_columns = [tf.feature_column.numeric_column(key) for key in COLUMNS[:-1]]
    classifier = tf.estimator.Estimator(
        model_fn=my_model_fn,
        model_dir=args.model_dir,
        config=tf.estimator.RunConfig(tf_random_seed=7),
        params={
            "feature_columns": feature_columns,
            "hidden_units": [10, 10],
            "n_classes": 3,
            "learning_rate": 0.1,
        },
    )
    classifier.train(
        input_fn=lambda: csv_input_fn(args.train_path, args.batch_size, training=True),
        steps=args.train_steps,
    )
    eval_result = classifier.evaluate(
        input_fn=lambda: csv_input_fn(args.test_path, args.batch_size, training=False)
    )
    print("\nTest set accuracy: {accuracy:0.3f}\n".format(**eval_result))
    for key in sorted(eval_result):
        print("%s: %s" % (key, eval_result[key]))

    samples = {
        "SepalLength": [5.1, 5.9, 6.9],
        "SepalWidth": [3.3, 3.0, 3.1],
        "PetalLength": [1.7, 4.2, 5.4],
        "PetalWidth": [0.5, 1.5, 2.1],
    }
    predictions = classifier.predict(input_fn=lambda: predict_input_fn(samples, args.batch_size))
    template = '\nPrediction is "{}" ({:.1f}%), expected "{}"'
    for pred, expec in zip(predictions, SPECIES):
        class_id = pred["class_ids"][0]
        probability = pred["probabilities"][class_id]
        print(template.format(SPECIES[class_id], 100 * probability, expec))

    if args.export_dir:
        path = classifier.export_savedmodel(args.export_dir, serving_input_receiver_fn)
        print("Exported to %s" % path.decode())


if __name__ == "__main__":
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.app.run(main)
