"""How many workers ``mlengine serve`` starts by default: one per core it may use, where a
container's CPU limit (a cgroup quota, which the CPU affinity does not show) counts too."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlengine.serving import workers


@pytest.fixture
def sixteen_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: set(range(16)))


def cgroup(root: Path, files: dict[str, str]) -> Path:
    """A cgroup folder holding ``files`` (path in the folder: text)."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


V1_QUOTA, V1_PERIOD = "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"


@pytest.mark.usefixtures("sixteen_cores")
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, 16),  # no cgroup files: the affinity
        ({"cpu.max": "max 100000\n"}, 16),  # cgroup v2, no limit
        ({"cpu.max": "200000 100000\n"}, 2),  # a limit of 2 CPUs
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: rounded up
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU: still one
        ({"cpu.max": "3200000 100000\n"}, 16),  # a limit above the affinity
        ({V1_QUOTA: "-1\n", V1_PERIOD: "100000\n"}, 16),  # cgroup v1, no limit
        ({V1_QUOTA: "300000\n", V1_PERIOD: "100000\n"}, 3),
        ({"cpu.max": "garbage\n"}, 16),  # unreadable: the affinity
    ],
)
def test_usable_cores_are_the_affinity_bounded_by_the_cgroup_quota(
    tmp_path: Path, files: dict[str, str], expected: int
) -> None:
    assert workers.usable_cores(cgroup(tmp_path, files)) == expected


def test_the_default_is_one_worker_per_usable_core_up_to_eight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for cores, expected in ((1, 1), (2, 2), (8, 8), (64, workers.MAX_DEFAULT_WORKERS)):
        monkeypatch.setattr(workers, "usable_cores", lambda cores=cores: cores)
        assert workers.default_workers() == expected
