"""Load test of ``mlengine serve`` against the HTTP stack's ceiling, on 127.0.0.1.

Run: ``make demo`` once (it writes ``exports/census``), then
``.venv/bin/python benchmarks/serve_load.py [--export-dir DIR] [--duration 5] [--client auto]``
(``--serve-args '--max-batch-delay-ms 0'`` passes flags to the server; ``--skip-ceiling`` for
quick tuning runs).

It registers the newest census export in a temporary registry, starts ``mlengine serve`` on it
in a subprocess (as shipped: one worker process per core; ``--serve-args "--workers 1"`` for
one process), and drives
it from another process: ``wrk`` with a Lua body script when it is installed (``apt-get install
wrk``), else an async httpx
client (much slower than wrk: on 2 cores its figures at concurrency 32 measure the client).
In the same run it drives a minimal Starlette app under uvicorn that parses the body and
answers a constant JSON: the ceiling of the HTTP stack on this machine. It prints:

* single-instance requests at concurrency 1: p50, p90, p99 latency;
* single-instance requests at concurrency 32: requests/s (and the share of the ceiling's);
* 100-instance requests at concurrency 8: instances/s;
* the server's memory: peak RSS summed over its processes (pages that forked workers share
  count once per process) and PSS (shared pages split between them), and the time from
  process start to the
  first successful prediction;
* the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CENSUS_JSON = REPO / "examples" / "census" / "census.json"
PREDICT_PATH = "/v1/projects/local/models/census:predict"

CEILING_APP = """
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

CONSTANT = orjson.dumps({"predictions": [{"classes": ["0"], "logistic": [0.05]}]})

async def predict(request):
    orjson.loads(await request.body())
    return Response(CONSTANT, media_type="application/json")

app = Starlette(routes=[Route("/{path:path}", predict, methods=["POST"])])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def newest_export() -> Path:
    found = sorted((REPO / "exports" / "census").glob("[0-9]*"))
    if not found:
        sys.exit("No export under exports/census: run `make demo` first (or pass --export-dir).")
    return found[-1]


def body(count: int) -> bytes:
    instances = [json.loads(line) for line in CENSUS_JSON.read_text().splitlines() if line.strip()]
    return json.dumps({"instances": [instances[i % len(instances)] for i in range(count)]}).encode()


def group_memory_mb(pgid: int) -> tuple[int, float, float]:
    """A process group's processes (the server, or a supervisor and its workers), their peak
    RSS summed and their PSS summed (MB; NaN where /proc is not readable)."""
    processes, peak_kb, pss_kb = 0, 0, 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            processes += 1
            for line in stat.with_name("status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb += int(line.split()[1])
            for line in stat.with_name("smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss_kb += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    nan = float("nan")
    return processes, peak_kb / 1024 if peak_kb else nan, pss_kb / 1024 if pss_kb else nan


def wait_for_answer(port: int, payload: bytes, deadline: float) -> float:
    """Poll with a prediction until one succeeds; returns when (monotonic)."""
    import httpx

    url = f"http://127.0.0.1:{port}{PREDICT_PATH}"
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, content=payload, timeout=5).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"no successful answer on port {port}")


class Server:
    """A server subprocess in its own process group (always killed on exit)."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, payload: bytes):
        self.port = port
        started = time.monotonic()
        self.process = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.start_to_answer = wait_for_answer(port, payload, started + 60) - started

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# ---------------------------------------------------------------------- load generators


def lua_script(payload: bytes) -> str:
    text = payload.decode()
    return f"""
wrk.method = "POST"
wrk.body = [==[{text}]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %f %f %f %f\\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3))
end
"""


def drive_wrk(port: int, payload: bytes, concurrency: int, duration: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(payload))
    try:
        threads = min(concurrency, 2)
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{max(1, round(duration))}s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{PREDICT_PATH}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    requests, bad, failed, seconds, p50, p90, p99 = (float(x) for x in line.split()[1:])
    return {
        "requests": requests,
        "errors": bad + failed,
        "seconds": seconds,
        "p50": p50,
        "p90": p90,
        "p99": p99,
    }


async def _drive_async(url: str, payload: bytes, concurrency: int, duration: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop:
                start = time.perf_counter()
                response = await client.post(url, content=payload, headers=headers)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.monotonic() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": seconds,
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p99": pct(0.99),
    }


def drive_httpx(port: int, payload: bytes, concurrency: int, duration: float) -> dict[str, float]:
    """The async client, in another process (so it does not share the server's CPU time)."""
    with tempfile.NamedTemporaryFile("wb", delete=False) as handle:
        handle.write(payload)
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--drive",
                str(port),
                handle.name,
                str(concurrency),
                str(duration),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(handle.name)
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- the run


NO_CEILING = {
    key: {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "rps": float("nan"),
          "ips": float("nan"), "errors": 0.0}
    for key in ("c1", "c32", "c8x100")
}  # fmt: skip


def measure(drive: Any, port: int, duration: float) -> dict[str, dict[str, float]]:
    one, hundred = body(1), body(100)
    drive(port, one, 1, min(duration, 2.0))  # warm-up
    results = {
        "c1": drive(port, one, 1, duration),
        "c32": drive(port, one, 32, duration),
        "c8x100": drive(port, hundred, 8, duration),
    }
    for result in results.values():
        result["rps"] = result["requests"] / result["seconds"]
    results["c8x100"]["ips"] = results["c8x100"]["rps"] * 100
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", type=Path, default=None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--serve-args", default="", help="extra `mlengine serve` flags, e.g. '--max-batch-size 512'"
    )
    parser.add_argument(
        "--skip-ceiling", action="store_true", help="only measure mlengine serve (tuning runs)"
    )
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    drive = drive_wrk if client == "wrk" else drive_httpx
    export = args.export_dir or newest_export()

    home = Path(tempfile.mkdtemp(prefix="mlengine-bench-"))
    env = {
        **os.environ,
        "MLENGINE_HOME": str(home),
        "MLENGINE_DATABASE_URL": "",
        "MLENGINE_ARTIFACT_ROOT": "",
        "MLENGINE_API_TOKEN": "",
    }
    mlengine = [sys.executable, "-m", "mlengine.cli.main"]
    subprocess.run(
        [*mlengine, "models", "create", "census"], env=env, check=True, capture_output=True
    )
    subprocess.run(
        [*mlengine, "versions", "create", "v1", "--model", "census", "--origin", str(export)],
        env=env,
        check=True,
        capture_output=True,
    )
    (home / "ceiling.py").write_text(CEILING_APP)

    results: dict[str, Any] = {}
    port = free_port()
    server = Server(
        [
            *mlengine,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *args.serve_args.split(),
        ],
        env,
        port,
        body(1),
    )
    try:
        results["mlengine"] = measure(drive, port, args.duration)
        processes, rss, pss = group_memory_mb(server.process.pid)
        start_to_answer = server.start_to_answer
    finally:
        server.stop()
    if args.skip_ceiling:
        results["ceiling"] = NO_CEILING
    else:
        port = free_port()
        ceiling = Server(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(home),
                "ceiling:app",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            port,
            body(1),
        )
        try:
            results["ceiling"] = measure(drive, port, args.duration)
        finally:
            ceiling.stop()
    shutil.rmtree(home, ignore_errors=True)

    ours, top = results["mlengine"], results["ceiling"]
    print(
        f"serve_load: client {client}, {args.duration:g} s per figure, {os.cpu_count()} CPUs, "
        f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}, export {export.name}"
    )
    workers = f"{processes - 1} workers" if processes > 1 else "one process"
    print(f"mlengine serve {args.serve_args}".rstrip() + f": {workers}; the ceiling: one process")
    print(f"{'':34}{'mlengine serve':>16}{'constant Starlette':>20}")
    for label, key in (
        ("c=1 p50 latency (ms)", "p50"),
        ("c=1 p90 latency (ms)", "p90"),
        ("c=1 p99 latency (ms)", "p99"),
    ):
        print(f"{label:34}{ours['c1'][key]:>16.3f}{top['c1'][key]:>20.3f}")
    print(
        f"{'c=32 requests/s':34}{ours['c32']['rps']:>16,.0f}{top['c32']['rps']:>20,.0f}"
        f"   ({ours['c32']['rps'] / top['c32']['rps']:.0%} of the ceiling)"
    )
    print(
        f"{'c=8 x 100-instance instances/s':34}{ours['c8x100']['ips']:>16,.0f}"
        f"{top['c8x100']['ips']:>20,.0f}"
    )
    print(
        f"{'c=32 p50 / p99 latency (ms)':34}{ours['c32']['p50']:>8.2f} /{ours['c32']['p99']:>6.2f}"
    )
    print(
        f"{'errors (all runs)':34}{sum(r['errors'] for r in ours.values()):>16.0f}"
        f"{sum(r['errors'] for r in top.values()):>20.0f}"
    )
    print(f"{'server peak RSS, summed (MB)':34}{rss:>16.0f}")
    print(f"{'server PSS at the end (MB)':34}{pss:>16.0f}")
    print(f"{'start to first answer (s)':34}{start_to_answer:>16.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--drive":
        port, path, concurrency, duration = sys.argv[2:]
        result = asyncio.run(
            _drive_async(
                f"http://127.0.0.1:{port}{PREDICT_PATH}",
                Path(path).read_bytes(),
                int(concurrency),
                float(duration),
            )
        )
        print(json.dumps(result))
    else:
        main()
