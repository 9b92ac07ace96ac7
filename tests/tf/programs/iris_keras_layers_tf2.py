"""A TF 2.0-2.3 era custom estimator (2020), ported by its import: the iris ``model_fn`` of
TF 2's custom-estimator guide written with Keras layers, as many programs of that time were.

pandas reads the CSV files (``header=0``, the guide's ``CSV_COLUMN_NAMES``), the input
function is ``from_tensor_slices((dict(features), labels))`` → ``shuffle`` → ``repeat`` →
``batch``; the ``model_fn`` stacks ``tf.keras.layers.DenseFeatures``, ``Dense`` and
``Dropout`` layers, takes TF 1's losses, metrics and optimizer from ``tf.compat.v1`` and the
step from ``get_or_create_global_step``; a ``CheckpointSaverListener`` of the program's own
logs each checkpoint; the export uses a raw receiver of ``tf.compat.v1.placeholder``s. The
code is this project's own.
"""

import argparse

import pandas as pd

import mlengine.tf as tf  # was: import tensorflow as tf

CSV_COLUMN_NAMES = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth", "Species"]
SPECIES = ["Setosa", "Versicolor", "Virginica"]


def input_fn(features, labels, training=True, batch_size=32):
    dataset = tf.data.Dataset.from_tensor_slices((dict(features), labels))
    if training:
        dataset = dataset.shuffle(1000).repeat()
    return dataset.batch(batch_size)


def model_fn(features, labels, mode, params):
    net = tf.keras.layers.DenseFeatures(params["feature_columns"])(features)
    for units in params["hidden_units"]:
        net = tf.keras.layers.Dense(units, activation="relu")(net)
        net = tf.keras.layers.Dropout(0.1)(net, training=mode == tf.estimator.ModeKeys.TRAIN)
    logits = tf.keras.layers.Dense(params["n_classes"], activation=None)(net)
    predicted_classes = tf.argmax(logits, 1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        predictions = {
            "class_ids": predicted_classes[:, tf.newaxis],
            "probabilities": tf.nn.softmax(logits),
            "logits": logits,
        }
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)

    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = tf.compat.v1.metrics.accuracy(labels=labels, predictions=predicted_classes)
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={"accuracy": accuracy})
    optimizer = tf.compat.v1.train.AdamOptimizer(learning_rate=0.01)
    train_op = optimizer.minimize(loss, tf.compat.v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


class CheckpointLogger(tf.estimator.CheckpointSaverListener):
    def begin(self):
        self.saved = []

    def after_save(self, session, global_step_value):
        self.saved.append(global_step_value)
        print("checkpoint at step %d" % global_step_value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_path", required=True)
    parser.add_argument("--test_path", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--export_dir", required=True)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()

    train = pd.read_csv(args.train_path, names=CSV_COLUMN_NAMES, header=0)
    test = pd.read_csv(args.test_path, names=CSV_COLUMN_NAMES, header=0)
    train_y = train.pop("Species")
    test_y = test.pop("Species")
    feature_columns = [tf.feature_column.numeric_column(key=key) for key in train.keys()]

    classifier = tf.estimator.Estimator(
        model_fn=model_fn,
        params={"feature_columns": feature_columns, "hidden_units": [16, 16], "n_classes": 3},
        config=tf.estimator.RunConfig(
            model_dir=args.model_dir, save_checkpoints_steps=100, tf_random_seed=11
        ),
    )
    listener = CheckpointLogger()
    classifier.train(
        input_fn=lambda: input_fn(train, train_y, training=True),
        steps=args.steps,
        saving_listeners=[listener],
    )
    eval_result = classifier.evaluate(input_fn=lambda: input_fn(test, test_y, training=False))
    print("\nTest set accuracy: {accuracy:0.3f}\n".format(**eval_result))
    for key in sorted(eval_result):
        print("%s: %s" % (key, eval_result[key]))

    expected = ["Setosa", "Versicolor", "Virginica"]
    predict_x = {
        "SepalLength": [5.1, 5.9, 6.9],
        "SepalWidth": [3.3, 3.0, 3.1],
        "PetalLength": [1.7, 4.2, 5.4],
        "PetalWidth": [0.5, 1.5, 2.1],
    }
    predictions = classifier.predict(
        input_fn=lambda: tf.data.Dataset.from_tensor_slices(dict(predict_x)).batch(256)
    )
    for pred_dict, expec in zip(predictions, expected):
        class_id = pred_dict["class_ids"][0]
        probability = pred_dict["probabilities"][class_id]
        print('Prediction is "{}" ({:.1f}%), expected "{}"'.format(
            SPECIES[class_id], 100 * probability, expec))  # fmt: skip

    inputs = {
        key: tf.compat.v1.placeholder(tf.float32, shape=[None], name=key)
        for key in CSV_COLUMN_NAMES[:-1]
    }
    serving_fn = tf.estimator.export.build_raw_serving_input_receiver_fn(inputs)
    path = classifier.export_saved_model(args.export_dir, serving_fn)
    print("Exported to %s" % path.decode())


if __name__ == "__main__":
    tf.get_logger().setLevel("INFO")
    main()
