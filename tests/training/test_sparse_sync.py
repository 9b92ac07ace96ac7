"""GradientSync over two real gloo processes: row-sparse gradients exchanged as rows or as the
whole table (whichever moves fewer numbers), the same average on both ranks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests import tolerance

WORKER = Path(__file__).with_name("sparse_sync_worker.py")
EPS32 = tolerance.EPS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(120)
def test_two_ranks_average_rows_and_tables(tmp_path: Path) -> None:
    port = _free_port()
    out = str(tmp_path / "sync")
    workers = []
    for rank in (0, 1):
        env = dict(
            os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
        )  # fmt: skip
        workers.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), out],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        )
    try:
        outputs = [w.communicate(timeout=90)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(timeout=10)
    assert [w.returncode for w in workers] == [0, 0], outputs
    ranks = [json.loads(Path(f"{out}.{r}.json").read_text()) for r in (0, 1)]
    for case, gathers in (("rows", 2), ("table", 0)):
        a, b = ranks[0][case], ranks[1][case]
        # the same result on both ranks, bit for bit: replicas stay identical
        assert (a["rows"], a["summed"], a["dense"]) == (b["rows"], b["summed"], b["dense"])
        assert a["gathers"] == b["gathers"] == gathers  # rows: ids and values; table: none
        expected: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(2))
        magnitude: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(2))
        for r in ranks:
            for i, v in zip(r[case]["ids"], r[case]["values"], strict=True):
                expected[i] = expected[i] + np.array(v) / 2
                magnitude[i] = magnitude[i] + np.abs(v) / 2
        assert sorted(a["rows"]) == sorted(expected)  # the union, row 1 (summing to 0) included
        for row, got in zip(a["rows"], a["summed"], strict=True):
            tolerance.assert_close(got, expected[row], 8 * EPS32 * magnitude[row], f"row {row}")
        dense = (np.array(ranks[0][case]["dense_in"]) + np.array(ranks[1][case]["dense_in"])) / 2
        tolerance.assert_close(a["dense"], dense, 4 * EPS32 * np.abs(dense), "dense gradient")
    assert ranks[0]["stop"] == ranks[1]["stop"] == {"all": False}
