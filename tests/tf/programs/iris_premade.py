"""TensorFlow's premade-estimator iris program (TF 2 shape), ported by its import.

Written after the shape of ``tensorflow/models samples/core/get_started/premade_estimator.py``
and its ``iris_data.py``: pandas loads the CSVs, ``from_tensor_slices`` feeds them, a
``DNNClassifier`` of three classes trains, evaluates and predicts the three samples, and the
model is exported with a raw serving input receiver.
"""

import argparse

import pandas as pd

import mlengine.tf as tf  # was: import tensorflow as tf

CSV_COLUMN_NAMES = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth", "Species"]
SPECIES = ["Setosa", "Versicolor", "Virginica"]

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", default=100, type=int, help="batch size")
parser.add_argument("--train_steps", default=1000, type=int, help="number of training steps")
parser.add_argument("--train_path", required=True)
parser.add_argument("--test_path", required=True)
parser.add_argument("--model_dir", default=None)
parser.add_argument("--export_dir", default="")


def load_data(train_path, test_path, y_name="Species"):
    train = pd.read_csv(train_path, names=CSV_COLUMN_NAMES, header=0)
    train_x, train_y = train, train.pop(y_name)
    test = pd.read_csv(test_path, names=CSV_COLUMN_NAMES, header=0)
    test_x, test_y = test, test.pop(y_name)
    return (train_x, train_y), (test_x, test_y)


def train_input_fn(features, labels, batch_size):
    dataset = tf.data.Dataset.from_tensor_slices((dict(features), labels))
    return dataset.shuffle(1000).repeat().batch(batch_size)


def eval_input_fn(features, labels, batch_size):
    features = dict(features)
    inputs = features if labels is None else (features, labels)
    dataset = tf.data.Dataset.from_tensor_slices(inputs)
    assert batch_size is not None, "batch_size must not be None"
    return dataset.batch(batch_size)


def main(argv):
    args = parser.parse_args(argv[1:])
    (train_x, train_y), (test_x, test_y) = load_data(args.train_path, args.test_path)
    my_feature_columns = [tf.feature_column.numeric_column(key=key) for key in train_x.keys()]
    classifier = tf.estimator.DNNClassifier(
        feature_columns=my_feature_columns,
        hidden_units=[10, 10],
        n_classes=3,
        model_dir=args.model_dir,
        config=tf.estimator.RunConfig(tf_random_seed=1),
    )
    classifier.train(
        input_fn=lambda: train_input_fn(train_x, train_y, args.batch_size),
        steps=args.train_steps,
    )
    eval_result = classifier.evaluate(
        input_fn=lambda: eval_input_fn(test_x, test_y, args.batch_size)
    )
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
        input_fn=lambda: eval_input_fn(predict_x, labels=None, batch_size=args.batch_size)
    )
    template = '\nPrediction is "{}" ({:.1f}%), expected "{}"'
    for pred_dict, expec in zip(predictions, expected):
        class_id = pred_dict["class_ids"][0]
        probability = pred_dict["probabilities"][class_id]
        print(template.format(SPECIES[class_id], 100 * probability, expec))

    if args.export_dir:
        feature_placeholders = {key: tf.constant([0.0], dtype=tf.float32) for key in train_x.keys()}
        receiver = tf.estimator.export.build_raw_serving_input_receiver_fn(feature_placeholders)
        print("exported to %s" % classifier.export_saved_model(args.export_dir, receiver).decode())


if __name__ == "__main__":
    tf.get_logger().setLevel("INFO")
    import sys

    main(sys.argv)
