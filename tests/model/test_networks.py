"""The networks' per-step shortcuts compute what the general code does, gradients included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlengine import feature_column as fc
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.model.networks import DNNPart, weighted_sum


@pytest.mark.parametrize(("slots", "width"), [(8, 1), (1, 1), (3, 4), (1, 4)])
def test_weighted_sum_is_embedding_bag_sum(slots: int, width: int) -> None:
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(50, width, generator=generator, dtype=torch.float64, requires_grad=True)
    ids = torch.randint(0, 50, (7, slots), generator=generator)
    ids[0] = 3  # a repeated id: its gradients add up
    weights = (torch.rand(7, slots, generator=generator, dtype=torch.float64) > 0.2).double()
    ours = weighted_sum(table, ids, weights)
    (ours_grad,) = torch.autograd.grad((ours * ours).sum(), table)
    reference = F.embedding_bag(ids, table, mode="sum", per_sample_weights=weights)
    (reference_grad,) = torch.autograd.grad((reference * reference).sum(), table)
    assert ours.shape == (7, width)
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(ours_grad, reference_grad)


def test_dnn_fast_path_is_the_module_calls() -> None:
    """Without dropout or batch norm the hidden layers run as F.linear on their weights."""
    colour = fc.categorical_column_with_vocabulary_list("colour", ["red", "green", "blue"])
    transformer = fc.FeatureTransformer(
        [fc.numeric_column("size"), fc.indicator_column(colour), fc.embedding_column(colour, 3)]
    )
    features = {"colour": ["red", "blue", None, "green"], "size": [0.5, 3.0, 7.5, 5.0]}
    inputs = FeatureTensors.from_encoded(transformer.transform(features))
    torch.manual_seed(0)
    part = DNNPart(
        transformer.dense_width, transformer.embedding_specs, [5, 4], 2, activation="tanh"
    )
    table = part.tables["colour_embedding"]
    embedded = weighted_sum(table, inputs.embedding_ids[0], inputs.embedding_weights[0])
    x = torch.cat([inputs.dense, embedded], dim=1)
    for layer in part.hidden:
        x = torch.tanh(layer(x))
    torch.testing.assert_close(part(inputs), part.logits(x), rtol=0, atol=0)


def test_linear_lookup_gradients_are_deterministic_on_several_threads() -> None:
    """Many ids on two threads: the lookup must not add gradients in a racing order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator = torch.Generator().manual_seed(0)
        table = torch.randn(30, 1, generator=generator, requires_grad=True)
        ids = torch.randint(0, 30, (8192, 8), generator=generator)  # many collisions
        weights = torch.rand(8192, 8, generator=generator)
        upstream = torch.randn(8192, 1, generator=generator)
        first, *others = (
            torch.autograd.grad(weighted_sum(table, ids, weights), table, upstream)[0]
            for _ in range(20)
        )
        assert all(torch.equal(first, other) for other in others)
    finally:
        torch.set_num_threads(previous)


def test_feature_tensors_are_encoded_features_of_tensors() -> None:
    """One layout: FeatureTensors is EncodedFeatures over torch tensors, and its slices stay
    FeatureTensors (views of the same storage)."""
    from mlengine.feature_column import EncodedFeatures

    transformer = fc.FeatureTransformer([fc.numeric_column("x")])
    tensors = FeatureTensors.from_encoded(transformer.transform({"x": [1.0, 2.0, 3.0]}))
    assert isinstance(tensors, EncodedFeatures)
    part = tensors.slice(1, 3)
    assert isinstance(part, FeatureTensors) and part.num_rows == 2
    assert part.dense.tolist() == [[2.0], [3.0]]
    assert part.dense.data_ptr() == tensors.dense[1:].data_ptr()
