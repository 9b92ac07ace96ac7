"""Where a prediction request's CPU goes inside ``mlengine serve``, without HTTP.

Run: ``make demo`` once (it writes ``exports/census``), then
``.venv/bin/python benchmarks/serve_frame.py [--export-dir DIR] [--requests 800]``.

It builds the server's app over a temporary registry holding the newest census export and calls
it as ASGI in this process (what uvicorn does once it has parsed the HTTP), keeping C requests of
N instances in flight. It prints, per request: the wall time; the CPU of the event loop's thread
(JSON parsing, checks, batching, rendering, and model calls small enough to run inline); the CPU
of the other threads (model calls on worker threads); and the instances per model call. Loop and
worker share one GIL, so one process serves at most one request per (loop + worker) CPU time:
the split says which side a change has to shrink. ``serve_load.py`` gives the figures with HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from serve_load import PREDICT_PATH, body, newest_export

CASES = ((1, 1), (1, 32), (100, 8))  # (instances per request, requests in flight)


def _scope(payload: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PREDICT_PATH,
        "raw_path": PREDICT_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
    }


async def _call(app: Any, payload: bytes) -> None:
    """One request through the app; fails loudly on anything but a 200."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(payload), receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"status {sent[0]['status']}: {sent[-1].get('body', b'')[:300]!r}")


def _batch_calls(app: Any) -> tuple[float, float]:
    """Model calls so far and the instances they took (the batch-size histogram)."""
    calls = rows = 0.0
    for metric in app.state.ctx.metrics.batch_size.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                calls += sample.value
            elif sample.name.endswith("_sum"):
                rows += sample.value
    return calls, rows


async def _measure(app: Any, instances: int, in_flight: int, requests: int) -> dict[str, float]:
    payload = body(instances)
    rounds = max(1, requests // in_flight)
    for _ in range(max(2, rounds // 5)):  # warm-up
        await asyncio.gather(*(_call(app, payload) for _ in range(in_flight)))
    calls, rows = _batch_calls(app)
    wall, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(rounds):
        await asyncio.gather(*(_call(app, payload) for _ in range(in_flight)))
    count = rounds * in_flight
    loop_cpu = time.thread_time() - loop_cpu
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    calls_after, rows_after = _batch_calls(app)
    return {
        "wall": wall / count * 1e6,
        "loop": loop_cpu / count * 1e6,
        "other": (cpu - loop_cpu) / count * 1e6,
        "rows": (rows_after - rows) / max(1.0, calls_after - calls),
        "instances/s": count * instances / wall,
    }


async def _run(export: Path, requests: int) -> list[tuple[int, int, dict[str, float]]]:
    from mlengine.registry import Registry
    from mlengine.serving.app import create_app
    from mlengine.serving.server import prepare_process
    from mlengine.serving.settings import ServeSettings

    prepare_process()  # as the server
    with Registry() as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(export))
        app = create_app(registry, ServeSettings())
        async with app.router.lifespan_context(app):
            gc.freeze()  # as the server: imports out of the collector's reach
            return [(n, c, await _measure(app, n, c, requests)) for n, c in CASES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=4000, help="requests per case")
    args = parser.parse_args()
    export = args.export_dir or newest_export()
    with tempfile.TemporaryDirectory(prefix="serve-frame-") as home:
        os.environ.update(MLENGINE_HOME=home, MLENGINE_DATABASE_URL="", MLENGINE_ARTIFACT_ROOT="")
        results = asyncio.run(_run(export, args.requests))
    print(f"serve_frame: in-process ASGI, no HTTP, {os.cpu_count()} CPUs, export {export.name}")
    print(
        f"{'instances x in flight':24}{'wall us/req':>12}{'loop CPU':>10}{'other CPU':>11}"
        f"{'rows/call':>11}{'instances/s':>14}"
    )
    for n, c, r in results:
        print(
            f"{f'{n} x {c}':24}{r['wall']:>12.0f}{r['loop']:>10.0f}{r['other']:>11.0f}"
            f"{r['rows']:>11.0f}{r['instances/s']:>14,.0f}"
        )


if __name__ == "__main__":
    main()
