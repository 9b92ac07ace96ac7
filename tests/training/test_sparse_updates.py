"""Sparse updates of lookup tables against TensorFlow's sparse kernels, written out in numpy.

The references below are TF's ``SparseApplyFtrlV2``, ``SparseApplyAdagradV2``, sparse SGD and
``LazyAdamOptimizer`` as their kernels read (training_ops.cc; contrib/opt lazy_adam_optimizer.py),
after TF's optimizer has summed duplicate indices: in float64, one row at a time, with no code
from mlengine. Tolerances: float32 results are compared with a few float32 ulps times the
magnitudes of the terms each result sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlengine.training.fast_step import FastUpdater, dense_is_exact
from mlengine.training.ftrl import Ftrl
from mlengine.training.lazy_adam import LazyAdam
from mlengine.training.numpy_step import _RowIndex
from mlengine.training.sparse_grads import RowGradients, clip_grad_norm, rows_and_values
from tests import tolerance

EPS32 = tolerance.EPS
ULPS = 16  # a few ulps per operation, over the handful of operations of one update


# ------------------------------------------------------------------ references (float64)


def dedupe(indices: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
    """TF's _deduplicate_indexed_slices: one summed gradient per distinct index."""
    rows: dict[int, np.ndarray] = {}
    for index, value in zip(indices.tolist(), values.astype(np.float64), strict=True):
        rows[index] = rows.get(index, 0.0) + value
    return rows


def tf_sparse_ftrl(
    var: np.ndarray,
    accum: np.ndarray,
    linear: np.ndarray,
    terms: np.ndarray,
    scale: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    h: dict[str, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SparseApplyFtrlV2 on deduplicated rows. ``terms`` carries, per element, the sum of the
    magnitudes of every term ``linear`` has added up so far (its rounding error is a few
    ulps of that); also returned: the bound for ``var`` (those terms, and l1, over the
    quadratic term, as of each row's last update)."""
    var, accum, linear, terms, scale = (
        a.astype(np.float64).copy() for a in (var, accum, linear, terms, scale)
    )
    p = -h["lr_power"]
    l2 = h["l2"] + h["beta"] / (2 * h["lr"])
    for row, g in dedupe(indices, values).items():
        g_shrink = g + 2 * h["l2_shrinkage"] * var[row]
        new_accum = accum[row] + g * g
        sigma = (new_accum**p - accum[row] ** p) / h["lr"]
        terms[row] += np.abs(g_shrink) + np.abs(sigma * var[row]) + np.abs(new_accum**p) / h["lr"]
        linear[row] = linear[row] + g_shrink - sigma * var[row]
        quadratic = new_accum**p / h["lr"] + 2 * l2
        clipped = np.clip(linear[row], -h["l1"], h["l1"])
        var[row] = np.where(np.abs(linear[row]) > h["l1"], (clipped - linear[row]) / quadratic, 0)
        scale[row] = (terms[row] + h["l1"]) / quadratic  # clip(linear) - linear sums l1 too
        accum[row] = new_accum
    return var, accum, linear, terms, scale


def tf_sparse_adagrad(
    var: np.ndarray,
    accum: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    lr: float,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """SparseApplyAdagradV2: accum += g^2; var -= lr * g / (sqrt(accum) + epsilon)."""
    var, accum = var.astype(np.float64).copy(), accum.astype(np.float64).copy()
    for row, g in dedupe(indices, values).items():
        accum[row] += g * g
        var[row] -= lr * g / (np.sqrt(accum[row]) + eps)
    return var, accum


def tf_lazy_adam(
    var: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    indices: np.ndarray,
    values: np.ndarray,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LazyAdamOptimizer._apply_sparse at step t (1-based)."""
    var, m, v = (a.astype(np.float64).copy() for a in (var, m, v))
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    for row, g in dedupe(indices, values).items():
        m[row] = b1 * m[row] + (1 - b1) * g
        v[row] = b2 * v[row] + (1 - b2) * g * g
        var[row] -= lr_t * m[row] / (np.sqrt(v[row]) + eps)
    return var, m, v


# ------------------------------------------------------------------ strategies


@st.composite
def sparse_batches(draw: Any, width: int = 1) -> dict[str, Any]:
    """A table (some rows non-zero, as after warm starting), slots, and 1-3 batches of
    looked-up rows with repeats and gradients (zeros among them)."""
    rows = draw(st.integers(2, 30))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        count = draw(st.integers(1, 12))
        indices = rng.integers(0, rows, size=count)
        values = rng.normal(size=(count, width)).astype(np.float32)
        values[rng.random(count) < 0.2] = 0.0
        batches.append((indices, values))
    table = rng.normal(size=(rows, width)).astype(np.float32)
    table[rng.random(rows) < 0.5] = 0.0
    return {"table": table, "batches": batches}


def coo(indices: np.ndarray, values: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    """An uncoalesced sparse gradient, as autograd hands one over."""
    return torch.sparse_coo_tensor(
        torch.from_numpy(indices).unsqueeze(0),
        torch.from_numpy(values),
        shape,
        check_invariants=True,
    )


FTRL_HYPER = st.fixed_dictionaries(
    {
        "lr": st.sampled_from([0.05, 0.5]),
        "lr_power": st.sampled_from([-0.5, -1.0, 0.0]),
        "l1": st.sampled_from([0.0, 0.01, 0.3]),
        "l2": st.sampled_from([0.0, 0.1]),
        "l2_shrinkage": st.sampled_from([0.0, 0.05]),
        "beta": st.sampled_from([0.0, 0.2]),
        "initial_accumulator_value": st.sampled_from([0.1, 1.0]),
    }
)


# ------------------------------------------------------------------ FTRL


@settings(max_examples=60, deadline=None)
@given(data=sparse_batches(), hyper=FTRL_HYPER, path=st.sampled_from(["torch", "numpy rows"]))
def test_sparse_ftrl_is_tfs_sparse_kernel(
    data: dict[str, Any], hyper: dict[str, float], path: str
) -> None:
    table = torch.nn.Parameter(torch.from_numpy(data["table"].copy()))
    optimizer = Ftrl([table], **hyper)
    # The torch path is Ftrl.step (index_select / index_copy_); the numpy path is
    # FastUpdater's rows update, fed by RowGradients as the numpy step feeds it.
    rows_in = RowGradients()
    updater = FastUpdater([optimizer], row_sparse=[table], row_grads=rows_in)
    var = data["table"].astype(np.float64)
    accum = np.full_like(var, hyper["initial_accumulator_value"])
    linear = np.zeros_like(var)
    terms, scale = np.zeros_like(var), np.zeros_like(var)
    tf_hyper = {k: v for k, v in hyper.items() if k != "initial_accumulator_value"}
    for indices, values in data["batches"]:
        untouched = np.setdiff1d(np.arange(len(var)), indices)
        before = table.detach().numpy().copy()
        if path == "torch":
            table.grad = coo(indices, values, tuple(table.shape))
            optimizer.step()
            table.grad = None
        else:
            grad = coo(indices, values, tuple(table.shape)).coalesce()
            rows_in.put(table, grad._indices()[0].numpy(), grad._values().numpy())
            updater.step()
        var, accum, linear, terms, scale = tf_sparse_ftrl(
            var, accum, linear, terms, scale, indices, values, tf_hyper
        )
        got = table.detach().numpy()
        # Rows no batch looked up are left exactly as they were, l2_shrinkage or not.
        assert np.array_equal(got[untouched], before[untouched])
        state = optimizer.state[table]
        # w = (clip(linear) - linear) / quadratic: the error of linear's sum, over quadratic,
        # plus a few ulps of w; untouched rows have scale 0 (and were checked to be exact).
        tolerance.assert_close(got, var, ULPS * EPS32 * (scale + np.abs(var)), "weights")
        tolerance.assert_close(state["accum"], accum, ULPS * EPS32 * np.abs(accum), "accum")


def test_sparse_and_dense_ftrl_differ_where_tf_says_they_do() -> None:
    # l2_shrinkage: a dense zero-gradient step shrinks a row that had no example; the sparse
    # kernel (TensorFlow's for lookup tables) leaves it alone.
    table = torch.nn.Parameter(torch.tensor([[1.0], [2.0]]))
    dense = torch.nn.Parameter(table.detach().clone())
    hyper = {"lr": 0.5, "l2_shrinkage": 0.1, "initial_accumulator_value": 16.0}
    sparse_opt, dense_opt = Ftrl([table], **hyper), Ftrl([dense], **hyper)
    table.grad = coo(np.array([0]), np.array([[3.0]], dtype=np.float32), (2, 1))
    dense.grad = table.grad.to_dense()
    sparse_opt.step()
    dense_opt.step()
    assert float(table.detach()[1, 0]) == 2.0  # untouched
    # dense: g_shrink = 0 + 2*0.1*2 = 0.4; linear = 0.4; quadratic = 4/0.5 = 8; w = -0.05
    assert float(dense.detach()[1, 0]) == pytest.approx(-0.05, rel=1e-6)
    assert float(table.detach()[0, 0]) == pytest.approx(
        float(dense.detach()[0, 0]), rel=1e-6
    )  # looked up: same


# ------------------------------------------------------------------ Adagrad and SGD


@settings(max_examples=40, deadline=None)
@given(
    data=sparse_batches(width=3), path=st.sampled_from(["numpy rows", "torch rows", "torch's own"])
)
def test_sparse_adagrad_is_tfs_sparse_kernel_and_the_dense_update(
    data: dict[str, Any], path: str
) -> None:
    lr, eps, init = 0.1, 1e-7, 0.1
    table = torch.nn.Parameter(torch.from_numpy(data["table"].copy()))
    dense = torch.nn.Parameter(torch.from_numpy(data["table"].copy()))
    # "torch's own": Adagrad.step's sparse path; the others: FastUpdater's rows updates
    # (numpy on the CPU; the torch ops that a GPU table gets, here on CPU float64 copies).
    fused = path == "numpy rows"
    if path == "torch rows":
        table = torch.nn.Parameter(table.detach().double())
    optimizer = torch.optim.Adagrad(
        [table], lr=lr, initial_accumulator_value=init, eps=eps, fused=fused or None
    )
    dense_opt = torch.optim.Adagrad([dense], lr=lr, initial_accumulator_value=init, eps=eps)
    updater = FastUpdater([optimizer], row_sparse=[table])
    var, accum = data["table"].astype(np.float64), np.full(data["table"].shape, init)
    for indices, values in data["batches"]:
        grad = coo(
            indices,
            values.astype(np.float64) if path == "torch rows" else values,
            tuple(table.shape),
        )
        table.grad = grad
        dense.grad = coo(indices, values, tuple(dense.shape)).to_dense()
        if path == "torch's own":
            with torch.sparse.check_sparse_tensor_invariants(enable=True):
                optimizer.step()
        else:
            updater.step()
        dense_opt.step()
        var, accum = tf_sparse_adagrad(var, accum, indices, values, lr, eps)
        got = table.detach().double().numpy()
        steps_so_far = sum(1 for _ in range(len(data["batches"])))
        # every step moves a row by lr * g / (sqrt(accum) + eps) <= lr (accum >= g^2)
        bound = ULPS * EPS32 * (np.abs(var) + np.abs(data["table"]) + lr * steps_so_far)
        tolerance.assert_close(got, var, bound, "weights")
        # Where the two coincide (always, for Adagrad): the dense update of the same batch.
        tolerance.assert_close(got, dense.detach().double(), 2 * bound, "dense update's weights")


def test_sparse_sgd_is_the_dense_update() -> None:
    rng = np.random.default_rng(0)
    table = torch.nn.Parameter(torch.from_numpy(rng.normal(size=(9, 2)).astype(np.float32)))
    expected = table.detach().numpy().astype(np.float64).copy()
    optimizer = torch.optim.SGD([table], lr=0.3, foreach=True)
    updater = FastUpdater([optimizer], row_sparse=[table])
    indices = np.array([1, 4, 1, 8])
    values = rng.normal(size=(4, 2)).astype(np.float32)
    table.grad = coo(indices, values, (9, 2))
    updater.step()
    for row, g in dedupe(indices, values).items():
        expected[row] -= 0.3 * g
    bound = ULPS * EPS32 * (np.abs(expected) + 0.3 * np.abs(values).sum())
    tolerance.assert_close(table.detach(), expected, bound, "weights")
    assert table.grad is None  # a table's gradient is cleared after every step


# ------------------------------------------------------------------ LazyAdam


@settings(max_examples=40, deadline=None)
@given(data=sparse_batches(width=2))
def test_lazy_adam_is_tfs_lazy_adam(data: dict[str, Any]) -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    table = torch.nn.Parameter(torch.from_numpy(data["table"].copy()))
    bias = torch.nn.Parameter(torch.zeros(2))
    optimizer = LazyAdam([table, bias], lr=lr, betas=(b1, b2), eps=eps)
    var = data["table"].astype(np.float64)
    m, v = np.zeros_like(var), np.zeros_like(var)
    bias_ref, bm, bv = np.zeros(2), np.zeros(2), np.zeros(2)
    for t, (indices, values) in enumerate(data["batches"], start=1):
        untouched = np.setdiff1d(np.arange(len(var)), indices)
        before = table.detach().numpy().copy()
        table.grad = coo(indices, values, tuple(table.shape))
        bias.grad = torch.from_numpy(values.sum(axis=0))
        optimizer.step()
        var, m, v = tf_lazy_adam(var, m, v, t, indices, values, lr, b1, b2, eps)
        # dense parameters: TF's Adam (the same formula on every element)
        bias_ref, bm, bv = tf_lazy_adam(
            bias_ref[None], bm[None], bv[None], t, np.array([0]), values.sum(axis=0)[None],
            lr, b1, b2, eps,
        )  # fmt: skip
        bias_ref, bm, bv = bias_ref[0], bm[0], bv[0]
        assert np.array_equal(table.detach().numpy()[untouched], before[untouched])
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        bound = ULPS * EPS32 * (np.abs(var) + 4 * lr_t)
        tolerance.assert_close(table.detach(), var, bound, "table")
        bias_bound = ULPS * EPS32 * (np.abs(bias_ref) + 4 * lr_t)
        tolerance.assert_close(bias.detach(), bias_ref, bias_bound, "bias")
        state = optimizer.state[table]
        m_bound = ULPS * EPS32 * (np.abs(m) + np.abs(values).sum())
        tolerance.assert_close(state["exp_avg"], m, m_bound, "exp_avg")


def test_lazy_adam_by_name_builds_lazy_adam_and_sparse_tables() -> None:
    from mlengine.training.optimizers import LazyAdamOptimizer, get_optimizer

    spec = get_optimizer(
        "LazyAdam", default_learning_rate=0.05, owner="DNNClassifier", param="optimizer"
    )
    assert spec == LazyAdamOptimizer(0.05) and spec.sparse_updates
    assert isinstance(spec.build([torch.nn.Parameter(torch.zeros(2))]), LazyAdam)


# ------------------------------------------------------------------ pieces of the numpy path


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(0, 40), min_size=1, max_size=60), again=st.booleans())
def test_row_index_finds_each_distinct_id_once(ids: list[int], again: bool) -> None:
    index = _RowIndex(41)
    if again:  # the scratch slots hold a previous batch's positions
        index(np.array(ids[::-1], dtype=np.int64))
    array = np.array(ids, dtype=np.int64)
    rows, inverse = index(array)
    assert sorted(rows.tolist()) == sorted(set(ids))
    assert np.array_equal(rows[inverse], array)


def test_row_gradients_materialize_as_the_tables_gradient() -> None:
    table = torch.nn.Parameter(torch.zeros(5, 2))
    pending = RowGradients()
    pending.put(table, np.array([3, 1]), np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    pending.materialize()
    assert table.grad is not None
    expected = torch.zeros(5, 2)
    expected[3], expected[1] = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
    assert torch.equal(table.grad.to_dense(), expected)
    rows, values = rows_and_values(table.grad)
    assert rows.tolist() == [1, 3]
    assert pending.take(table) is not None  # read back from .grad once nothing is pending


def test_clip_grad_norm_with_sparse_gradients_is_torchs_on_dense_ones() -> None:
    rng = np.random.default_rng(1)
    table = torch.nn.Parameter(torch.zeros(6, 2))
    weight = torch.nn.Parameter(torch.zeros(3))
    values = rng.normal(size=(4, 2)).astype(np.float32)
    table.grad = coo(np.array([0, 2, 0, 5]), values, (6, 2))
    weight.grad = torch.from_numpy(rng.normal(size=3).astype(np.float32))
    dense_table, dense_weight = (
        torch.nn.Parameter(torch.zeros(6, 2)),
        torch.nn.Parameter(torch.zeros(3)),
    )
    dense_table.grad, dense_weight.grad = table.grad.to_dense(), weight.grad.clone()
    norm = clip_grad_norm([table, weight], 0.5)
    expected = torch.nn.utils.clip_grad_norm_([dense_table, dense_weight], 0.5)
    assert norm == pytest.approx(float(expected), rel=4 * EPS32)
    # each gradient scaled by one factor: a rounding or two of each element
    for got, want in ((table.grad.to_dense(), dense_table.grad), (weight.grad, dense_weight.grad)):
        tolerance.assert_close(got, want, 4 * EPS32 * want.abs(), "clipped gradient")


def test_a_small_table_is_updated_whole_only_where_that_is_the_sparse_update() -> None:
    small = torch.nn.Parameter(torch.zeros(10, 1))
    assert dense_is_exact(small, Ftrl([small], lr=0.1))
    assert dense_is_exact(small, torch.optim.Adagrad([small], lr=0.1))
    assert not dense_is_exact(small, Ftrl([small], lr=0.1, l2_shrinkage=0.01))
    warm = torch.nn.Parameter(torch.ones(10, 1))  # weights from elsewhere, slots fresh
    assert not dense_is_exact(warm, Ftrl([warm], lr=0.1))
    big = torch.nn.Parameter(torch.zeros(100_000, 1))
    assert not dense_is_exact(big, Ftrl([big], lr=0.1))
    assert not dense_is_exact(small, torch.optim.Adam([small], lr=0.1))
