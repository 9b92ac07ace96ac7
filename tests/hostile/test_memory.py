"""One client without a token cannot grow the server's memory without bound (issue 19.2).

The model's memory of string values (``ValueMemory``) is bounded in bytes, and a value longer
than ``--max-string-length`` is refused; so 10,000 predictions whose five string features (the
tutorial's Wide & Deep) are all new, near the limit (200 MB of distinct strings), leave the
server's resident memory where a bounded memory puts it. The review saw 133 -> 360 MB after 300
requests of 100 kB strings, never returned.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from mlengine.export import load
from mlengine.feature_column.memory import ValueMemory
from mlengine.registry import Registry
from mlengine.tuning import KEPT_FREE_BYTES, VALUE_MEMORY_BYTES
from tests.export import helpers as export_helpers
from tests.serving import helpers as h

REQUESTS = 10_000
LENGTH = 4000  # characters per value: under the 4096 limit
# What the server may keep beyond its start: the value memory's budget, the freed memory glibc
# is told to keep for the next batch (serving.server), and as much again for the allocator's
# fragmentation. Unbounded, the strings alone would be REQUESTS * 5 * LENGTH = 200 MB.
ALLOWED_GROWTH = VALUE_MEMORY_BYTES + 2 * KEPT_FREE_BYTES


def rss(pid: int) -> int:
    """Resident bytes of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_unique_long_strings_leave_memory_bounded(wide_deep_export: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Registry(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(wide_deep_export))
    strings = [s["name"] for s in load(wide_deep_export).inputs if s["dtype"] == "string"]
    assert len(strings) == 5
    base = export_helpers.census_instances()[0]

    def body(index: int) -> bytes:
        unique = {name: f"{index:08d}{name}".ljust(LENGTH, "x") for name in strings}
        return json.dumps({"instances": [base | unique]}).encode()

    with h.serve(home, "--max-batch-delay-ms", "0") as (url, server):
        predict = f"{url}/v1/models/census:predict"
        with httpx.Client(timeout=30) as client:
            for _ in range(200):  # warm: the allocator, the decoder, known values
                client.post(predict, content=json.dumps({"instances": [base]}).encode())
            before = rss(server.process.pid)
            failures: list[int] = []

            def send(offset: int) -> None:
                with httpx.Client(timeout=30) as own:
                    for index in range(offset, REQUESTS, 2):
                        status = own.post(predict, content=body(index)).status_code
                        if status != 200:
                            failures.append(status)

            workers = [threading.Thread(target=send, args=(k,)) for k in range(2)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=280)
            after = rss(server.process.pid)
    print(f"\nserver RSS {before / 2**20:.0f} MB before, {after / 2**20:.0f} MB after {REQUESTS} "
          f"requests of {len(strings)} unique {LENGTH}-character strings")  # fmt: skip
    assert not failures, failures[:5]
    assert after - before < ALLOWED_GROWTH, (before, after)


def test_the_value_memory_is_bounded_by_bytes() -> None:
    """Its budget counts each value's characters, not only the number of values."""
    memory = ValueMemory(max_bytes=1 << 20)
    table = memory.table("x")
    long_values = [f"{i}".ljust(50_000, "y") for i in range(100)]  # 5 MB of strings
    table.learn(long_values)
    assert memory.used_bytes <= 1 << 20
    assert len(table.values) < 21  # at most what 1 MiB holds
