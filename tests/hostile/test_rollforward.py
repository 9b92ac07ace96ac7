"""Rolling a cold model forward under load loses no request (issue 19.9).

With ``--max-loaded-versions 1``, model m's default is evicted (a request to another model
loads that one instead), then a new default is set and the old version deleted back to back,
through the API, while clients keep asking for m's default. The review saw 18-36 failed
requests per swap (404 "version=old not found" for 0.3-0.5 s), in 6 of 6 swaps.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from mlengine.registry import Registry
from tests.hostile import strategies as hs

ROLLS = 20
CLIENTS = 3


def test_twenty_cold_roll_forwards_lose_no_request(
    registry: Registry, linear_export: Path, other_export: Path, make_client: Any
) -> None:
    registry.create_model("m")
    registry.create_model("other")
    registry.create_version("other", "v1", str(linear_export))
    for index in range(ROLLS + 1):  # v0 is the first default; v1..v20 are rolled to in turn
        registry.create_version("m", f"v{index}", str(other_export if index % 2 else linear_export))
    client = make_client(max_loaded_versions=1)
    body = {"instances": [hs.instance()]}
    stop = threading.Event()
    answers: list[int] = []
    failures: list[str] = []

    def load() -> None:
        while not stop.is_set():
            response = client.post("/v1/models/m:predict", json=body)
            answers.append(response.status_code)
            if response.status_code != 200:
                failures.append(response.text)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        base = f"{hs.BASE}/m/versions"
        for index in range(1, ROLLS + 1):
            time.sleep(0.15)
            assert client.post("/v1/models/other:predict", json=body).status_code == 200  # evicts m
            new = client.post(f"{base}/v{index}:setDefault")
            gone = client.delete(f"{base}/v{index - 1}")
            assert new.status_code == 200 and gone.status_code == 200, (new.text, gone.text)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    print(f"\n{ROLLS} cold roll-forwards: {len(answers)} requests, {len(failures)} failed")
    assert len(answers) > ROLLS * CLIENTS
    assert failures == [], failures[:3]
    assert [v.name for v in registry.list_versions("m")] == [f"v{ROLLS}"]
