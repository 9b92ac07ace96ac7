"""NumpyNetwork (the Predictor's forward, at every batch size) computes the torch network's
logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlengine import feature_column as fc
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.model.networks import NetworkInputs, WideDeepNetwork
from mlengine.model.numpy_network import NUMPY_ACTIVATIONS, NumpyNetwork
from tests import tolerance

COLOUR = fc.categorical_column_with_vocabulary_list("colour", ["red", "green", "blue"])
SIZE = fc.bucketized_column(fc.numeric_column("size"), [1.0, 5.0])
WIDE = fc.FeatureTransformer(
    [COLOUR, SIZE, fc.crossed_column([COLOUR, SIZE], 50), fc.numeric_column("size")]
)
DEEP = fc.FeatureTransformer(
    [
        fc.numeric_column("size"),
        fc.indicator_column(COLOUR),
        fc.embedding_column(COLOUR, 3),
        fc.embedding_column(fc.categorical_column_with_hash_bucket("tags", 20), 4, max_norm=0.5),
        fc.embedding_column(fc.crossed_column([COLOUR, SIZE], 40), 3),
        fc.embedding_column(SIZE, 4),
    ]
)
FEATURES = {
    "colour": ["red", "blue", None, "green", "pink", "red"],
    "size": [0.5, 3.0, 7.5, 5.0, 1.0, 2.0],
    "tags": [["a", "b"], ["c"], [], ["a", "a", "d"], None, ["e"]],
}
# One value per row: the lookups of same-dimension tables run as one gather.
UNIVALENT = dict(FEATURES, tags=["a", "c", None, "d", "", "e"])


def _inputs(wide: bool, deep: bool, features: dict) -> tuple[NetworkInputs, list]:
    encoded = [
        WIDE.transform(features) if wide else None,
        DEEP.transform(features) if deep else None,
    ]
    tensors = [None if e is None else FeatureTensors.from_encoded(e) for e in encoded]
    return NetworkInputs(tensors[0], tensors[1], len(features["size"])), encoded


def _randomised(network: WideDeepNetwork) -> WideDeepNetwork:
    """Every weight non-zero (TF's initial linear weights are zero), batch norm statistics too."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        for name, buffer in network.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)
    return network.eval()


@pytest.mark.parametrize("features", [FEATURES, UNIVALENT], ids=["multivalent", "univalent"])
@pytest.mark.parametrize("activation", sorted(NUMPY_ACTIVATIONS))
@pytest.mark.parametrize(
    ("wide", "deep", "batch_norm", "logits"),
    [
        (True, True, False, 1),
        (True, True, True, 3),
        (False, True, True, 1),
        (True, False, False, 3),
        (False, False, False, 2),
    ],
    ids=["wide_deep", "wide_deep_bn_multiclass", "dnn_bn", "linear_multiclass", "baseline"],
)
def test_numpy_forward_equals_torch(
    activation: str, wide: bool, deep: bool, batch_norm: bool, logits: int, features: dict
) -> None:
    network = _randomised(
        WideDeepNetwork(
            logits,
            WIDE if wide else None,
            DEEP if deep else None,
            hidden_units=[8, 5],
            activation=activation,
            dropout=0.5,  # inactive in eval mode, in both
            batch_norm=batch_norm,
        )
    )
    inputs, encoded = _inputs(wide, deep, features)
    with torch.no_grad():
        expected = network(inputs).numpy()
    numpy_network = NumpyNetwork.of(network)
    assert numpy_network is not None
    if deep and features is UNIVALENT:  # the grouped lookups run (3 tables of dimension 3, 4)
        assert all(ids.shape[1] == 1 for ids in encoded[1].embedding_ids)
        assert sorted(len(g.members) for g in numpy_network.groups) == [1, 2]
    got = numpy_network(encoded[0], encoded[1], inputs.num_rows)
    assert got.dtype == np.float32 and got.shape == expected.shape == (6, logits)
    rounding = tolerance.Bound.of_network(network).encoded(*encoded, inputs.num_rows)
    tolerance.assert_close(got, expected, rounding, "logits")


def test_an_activation_without_a_numpy_version_keeps_torch() -> None:
    network = WideDeepNetwork(1, None, DEEP, hidden_units=[4], activation="gelu").eval()
    assert NumpyNetwork.of(network) is None


def test_a_network_in_training_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        NumpyNetwork.of(WideDeepNetwork(1, WIDE, None))


@pytest.mark.parametrize(
    ("wide", "deep", "batch_norm", "hidden"),
    [
        (True, True, False, [8, 5]),
        (True, True, True, [8, 5]),
        (False, True, True, [4]),
        (True, False, False, []),
        (False, False, False, []),
    ],
)
def test_weight_shapes_state_the_torch_networks_state_dict(
    wide: bool, deep: bool, batch_norm: bool, hidden: list[int]
) -> None:
    """What the Predictor checks an export's weights against, without building torch."""
    from mlengine.model.spec import BATCH_NORM_EPSILON, weight_shapes

    linear, dnn = (WIDE if wide else None), (DEEP if deep else None)
    network = WideDeepNetwork(3, linear, dnn, hidden_units=hidden, batch_norm=batch_norm)
    spec = {"dnn_hidden_units": hidden, "batch_norm": batch_norm}
    expected = {name: tuple(t.shape) for name, t in network.state_dict().items()}
    assert weight_shapes(spec, linear, dnn, 3) == expected
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert all(m.eps == BATCH_NORM_EPSILON for m in norms)


def test_tables_too_big_to_copy_are_looked_up_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlengine.model import numpy_network

    monkeypatch.setattr(numpy_network, "GROUPED_TABLE_BYTES", 0)
    network = _randomised(WideDeepNetwork(1, None, DEEP, hidden_units=[8]))
    inputs, encoded = _inputs(False, True, UNIVALENT)
    forward = NumpyNetwork.of(network)
    assert forward is not None and forward.groups == []
    with torch.no_grad():
        expected = network(inputs).numpy()
    rounding = tolerance.Bound.of_network(network).encoded(None, encoded[1], 6)
    tolerance.assert_close(forward(None, encoded[1], 6), expected, rounding, "logits")


def test_big_batches_run_in_chunks_with_the_same_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlengine.model import numpy_network

    network = _randomised(WideDeepNetwork(2, WIDE, DEEP, hidden_units=[8, 5]))
    inputs, encoded = _inputs(True, True, FEATURES)
    forward = NumpyNetwork.of(network)
    assert forward is not None
    whole = forward(encoded[0], encoded[1], 6)
    monkeypatch.setattr(numpy_network, "FORWARD_CHUNK_ROWS", 4)  # 6 rows: a chunk of 4, then 2
    chunked = forward(encoded[0], encoded[1], 6)
    # BLAS may sum a row of a 4-row product in another order than in a 6-row one.
    rounding = tolerance.Bound.of_network(network).encoded(*encoded, 6)
    tolerance.assert_close(chunked, whole, rounding, "chunked logits")
    with torch.no_grad():
        tolerance.assert_close(chunked, network(inputs).numpy(), rounding, "torch's logits")


def test_the_tolerance_is_rounding_not_slack_a_weight_off_by_a_thousandth_is_caught() -> None:
    network = _randomised(WideDeepNetwork(2, WIDE, DEEP, hidden_units=[8, 5]))
    inputs, encoded = _inputs(True, True, FEATURES)
    rounding = tolerance.Bound.of_network(network).encoded(*encoded, 6)
    with torch.no_grad():
        expected = network(inputs).numpy()
        network.dnn.hidden[0].weight[0, 0] *= 1.001  # multiplies the feature "size"
    forward = NumpyNetwork.of(network)
    assert forward is not None
    with pytest.raises(AssertionError, match="differ by more than their tolerance"):
        tolerance.assert_close(forward(*encoded, 6), expected, rounding, "logits")


MAX_NORM_DEEP = fc.FeatureTransformer(
    [
        fc.numeric_column("size"),
        fc.embedding_column(COLOUR, 3, max_norm=0.5),
        fc.embedding_column(fc.crossed_column([COLOUR, SIZE], 40), 3, combiner="sqrtn"),
    ]
)
DENSE_ONLY_DEEP = fc.FeatureTransformer([fc.numeric_column("size"), fc.indicator_column(COLOUR)])


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "tables-too-big-to-fold"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "selu"])
@pytest.mark.parametrize(
    ("wide", "deep", "hidden"),
    [
        (WIDE, DEEP, [8, 5]),
        (None, MAX_NORM_DEEP, [6]),
        (WIDE, DENSE_ONLY_DEEP, [4, 4]),
        (None, DEEP, []),
    ],
    ids=["wide_deep", "max_norm", "no_embeddings", "no_hidden_layer"],
)
def test_the_row_path_forward_equals_the_general_one(
    monkeypatch: pytest.MonkeyPatch,
    fold: bool,
    activation: str,
    wide: fc.FeatureTransformer | None,
    deep: fc.FeatureTransformer,
    hidden: list[int],
) -> None:
    """``rows`` (the serving request's forward: one id per embedding column, the first layer
    folded into the tables) gives the torch network's logits too."""
    from mlengine.feature_column.row_encoder import RowEncoder
    from mlengine.model import numpy_network

    if not fold:
        monkeypatch.setattr(numpy_network, "FOLDED_TABLE_BYTES", 0)
    network = _randomised(
        WideDeepNetwork(2, wide, deep, hidden_units=hidden, activation=activation)
    )
    forward = NumpyNetwork.of(network)
    assert forward is not None
    assert (forward.folded is None) == (not fold and deep is not DENSE_ONLY_DEEP)  # no tables
    rows = [
        dict(zip(UNIVALENT, values, strict=True))
        for values in zip(*UNIVALENT.values(), strict=True)
    ]
    encoded = RowEncoder([wide, deep]).encode(rows)
    assert encoded is not None
    tensors = [
        None if t is None else FeatureTensors.from_encoded(t.transform(UNIVALENT))
        for t in (wide, deep)
    ]
    with torch.no_grad():
        expected = network(NetworkInputs(tensors[0], tensors[1], 6)).numpy()
    got = forward.rows(encoded[0], encoded[1], 6)
    assert got.shape == expected.shape == (6, 2)
    rounding = tolerance.Bound.of_network(network, (wide, deep)).logits(UNIVALENT)
    tolerance.assert_close(got, expected, rounding, "logits")
