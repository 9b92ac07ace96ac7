"""Lookup tables trained end to end with sparse updates: rows no batch looked up are left
exactly as they were (weights and slots), on the torch path (the one CUDA takes) and the
numpy path; and the same on a GPU where there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.training.fast_step import FastUpdater
from mlengine.training.ftrl import Ftrl
from mlengine.training.lazy_adam import LazyAdam
from tests import tolerance
from tests.estimator.helpers import census_rows, quiet_config

BUCKETS = 50_000  # far more than census has values: most rows are never looked up


def _model(model_dir: str, dropout: float | None, device: str = "cpu") -> Any:
    occupation = fc.categorical_column_with_hash_bucket("occupation", BUCKETS)
    cross = fc.crossed_column(["education", "occupation"], BUCKETS)
    return estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir, linear_feature_columns=[occupation, cross],
        dnn_feature_columns=[fc.numeric_column("age"), fc.embedding_column(occupation, 4)],
        dnn_hidden_units=[4], dnn_dropout=dropout, config=quiet_config(device=device),
    )  # fmt: skip


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_rows_never_looked_up_keep_their_weights_and_slots(path: str, tmp_path: Path) -> None:
    x, y = census_rows(200)
    model = _model(str(tmp_path), dropout=0.1 if path == "torch" else None)  # dropout: torch
    before = model._new_session()
    initial = {k: v.clone() for k, v in before.model.network.state_dict().items()}
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=20, shuffle=False), steps=10)
    session = model._session
    assert session is not None
    network = session.model.network
    assert network.linear is not None and network.dnn is not None
    linear_table = network.linear.sparse_weights
    ((table_name, embedding),) = network.dnn.tables.items()
    for table, name, optimizer, slot, most in (
        (linear_table, "linear.sparse_weights", session.optimizers["linear"], "accum", 200),
        (embedding, f"dnn.tables.{table_name}", session.optimizers["dnn"], "sum", 50),
    ):
        changed = (table.detach() != initial[name]).any(dim=1)
        assert 0 < int(changed.sum()) < most  # the looked-up rows moved, the others did not
        state = optimizer.state[table][slot]  # FTRL's accum, Adagrad's sum: still 0.1
        assert torch.equal(state[~changed], torch.full_like(state[~changed], 0.1))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["ftrl", "adagrad", "lazy adam"])
def test_sparse_updates_on_cuda_match_the_cpu(kind: str) -> None:
    rng = np.random.default_rng(0)
    start = torch.from_numpy(rng.normal(size=(1000, 4)).astype(np.float32))
    tables = [torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone().cuda())]
    updaters = []
    for table in tables:
        optimizer: torch.optim.Optimizer
        if kind == "ftrl":
            optimizer = Ftrl([table], lr=0.1, l1=0.01, l2_shrinkage=0.01)
        elif kind == "adagrad":
            optimizer = torch.optim.Adagrad(
                [table], lr=0.1, initial_accumulator_value=0.1, fused=True
            )
        else:
            optimizer = LazyAdam([table], lr=0.01)
        updaters.append(FastUpdater([optimizer], row_sparse=[table]))
    for _ in range(5):
        ids = torch.from_numpy(rng.integers(0, 1000, size=64))
        values = torch.from_numpy(rng.normal(size=(64, 4)).astype(np.float32))
        for table, updater in zip(tables, updaters, strict=True):
            table.grad = torch.sparse_coo_tensor(
                ids.unsqueeze(0).to(table.device), values.to(table.device), (1000, 4),
                check_invariants=True,
            )  # fmt: skip
            updater.step()
    want = tables[0].detach().numpy()  # CUDA's kernels round their own way
    tolerance.assert_close(tables[1].detach().cpu().numpy(), want, tolerance.trained(want, steps=5))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_census_trains_on_cuda_with_sparse_tables(tmp_path: Path) -> None:
    x, y = census_rows(200)
    model = _model(str(tmp_path), dropout=None, device="cuda")
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=20, shuffle=False), steps=10)
    session = model._session
    assert session is not None and session.model.network.row_sparse_parameters()
    assert all(p.device.type == "cuda" for p in session.model.network.parameters())
