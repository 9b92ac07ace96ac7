"""The protocols of ``mlengine serve`` side by side, in one run, on 127.0.0.1: gRPC with binary
tensors against REST JSON, the cost of prediction logging, and ``:explain``.

Run: ``make demo`` once (it writes ``exports/census``), or pass ``--export-dir``; then
``.venv/bin/python benchmarks/serve_protocols.py [--duration 3] [--rounds 2]``.

It registers the export in a temporary registry and starts ``mlengine serve --workers 1`` (one
process: the protocols share it) with its gRPC port; a driver process of its own (so the client
does not share the server's process) sends requests serialized beforehand, so the figures are
the server's and the transport's, not a client library's encoding (HTTP: a bare keep-alive
client on asyncio streams; gRPC: grpcio's blocking stub on threads). The measurements are
interleaved, round after round, so a busy moment of the (shared) machine lands on all of them:

* one instance, concurrency 1: p50/p90/p99 latency of ML Engine's REST JSON ``:predict``,
  TF Serving's REST ``:predict`` with ``instances`` (KServe v1's protocol: the same path and
  body), OIP v2 REST with binary tensors, OIP v2 gRPC (``raw_input_contents``) and TF Serving's
  gRPC Predict (``tensor_content``), each for the Wide & Deep export and then, back to back, for
  boosted trees (below), with the trees' p50 and p99 over the Wide & Deep's
  (``trees_over_wide_deep_p50_p99``; issue 23 asks for at most 2x);
* 100 instances, concurrency 4: instances per second, the same five, and the mean time a
  request spends in the server's prediction frame (its own latency histogram: decode, model,
  answer), which tells the server's work from the transport's and the client's;
* one instance, concurrency 32, REST JSON: requests per second with prediction logging at 0%
  and at 100% (JSON lines to a local folder; the records dropped are reported);
* ``:explain`` of one instance at concurrency 1: the export's (sampled Shapley, 50 paths)
  against boosted trees' (TreeSHAP) trained on the same census data (every feature: numbers
  as they are, strings by vocabulary; TF's defaults of 100 trees of depth 6), or
  ``--trees-dir``'s export.

``--one-instance-only`` measures the first of these alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CENSUS_JSON = REPO / "examples" / "census" / "census.json"
BASE = "/v1/projects/local/models/census"
QUANTILES = ("p50", "p90", "p99")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def instances(count: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in CENSUS_JSON.read_text().splitlines() if line.strip()]
    return [rows[i % len(rows)] for i in range(count)]


# ---------------------------------------------------------------------- request bodies


def rest_json(count: int) -> bytes:
    return json.dumps({"instances": instances(count)}).encode()


def _column(name: str, count: int) -> list[Any]:
    return [row[name] for row in instances(count)]


def v2_binary(inputs: list[dict[str, Any]], count: int) -> tuple[bytes, int]:
    """OIP v2 REST with every input as binary tensor data: (body, JSON header length)."""
    from mlengine.serving import tensors

    header: dict[str, Any] = {"inputs": [], "parameters": {"binary_data_output": True}}
    chunks = []
    for spec in inputs:
        values = _column(spec["name"], count)
        chunk = tensors.encode_raw(spec["datatype"], values)
        header["inputs"].append(
            {
                "name": spec["name"],
                "shape": [count, 1],
                "datatype": spec["datatype"],
                "parameters": {"binary_data_size": len(chunk)},
            }
        )
        chunks.append(chunk)
    encoded = json.dumps(header).encode()
    return encoded + b"".join(chunks), len(encoded)


def v2_grpc(inputs: list[dict[str, Any]], count: int, model: str = "census") -> bytes:
    """A ModelInferRequest with raw_input_contents, as tritonclient.grpc sends it."""
    from mlengine import protos
    from mlengine.serving import tensors

    request = protos.message("inference.ModelInferRequest")(model_name=model)
    for spec in inputs:
        request.inputs.add(name=spec["name"], datatype=spec["datatype"], shape=[count, 1])
        values = _column(spec["name"], count)
        request.raw_input_contents.append(tensors.encode_raw(spec["datatype"], values))
    data: bytes = request.SerializeToString()
    return data


def tfserving_grpc(inputs: list[dict[str, Any]], count: int, model: str = "census") -> bytes:
    """A PredictRequest: numbers in tensor_content, strings in string_val."""
    from mlengine import protos

    request = protos.message("tensorflow.serving.PredictRequest")()
    request.model_spec.name = model
    for spec in inputs:
        tensor = request.inputs[spec["name"]]
        tensor.tensor_shape.dim.add(size=count)
        values = _column(spec["name"], count)
        if spec["datatype"] == "BYTES":
            tensor.dtype = 7
            tensor.string_val.extend(str(v).encode() for v in values)
        elif spec["datatype"] == "INT64":
            tensor.dtype = 9
            tensor.tensor_content = struct.pack(f"<{count}q", *values)
        else:
            tensor.dtype = 1
            tensor.tensor_content = struct.pack(f"<{count}f", *values)
    data: bytes = request.SerializeToString()
    return data


# ---------------------------------------------------------------------- the driver process


async def _drive(plan: dict[str, Any]) -> dict[str, Any]:
    """Send one request body again and again for ``seconds`` from ``concurrency`` tasks."""
    body = bytes.fromhex(plan["body"])
    concurrency, seconds = plan["concurrency"], plan["seconds"]
    latencies: list[float] = []
    errors = 0
    if plan["kind"] == "http":
        # A bare HTTP/1.1 keep-alive client on asyncio streams: the request's bytes are written
        # once made, the answer read by its Content-Length. (httpx's pool costs more per request
        # than the server's one-instance prediction: at concurrency 32 it measured the client.)
        host, port, path = _split(plan["url"])
        head = "".join(f"{k}: {v}\r\n" for k, v in plan["headers"].items())
        request = (
            f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-length: {len(body)}\r\n"
            f"{head}\r\n"
        ).encode() + body
        pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = [
            await asyncio.open_connection(host, port) for _ in range(concurrency)
        ]

        async def send() -> bool:
            reader, writer = pool.pop()
            try:
                writer.write(request)
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
            finally:
                pool.append((reader, writer))
            return status.split()[1] == b"200"

    else:
        # grpcio's blocking stub (its C core waits without the GIL), one channel and thread per
        # concurrent caller: grpc.aio's client cost more per call than the server's frame.
        import grpc

        channels = [grpc.insecure_channel(plan["url"]) for _ in range(concurrency)]
        idle = [channel.unary_unary(plan["method"]) for channel in channels]
        loop = asyncio.get_running_loop()
        threads = ThreadPoolExecutor(concurrency)

        def blocking(call: Any) -> bool:
            call(body, timeout=30)
            return True

        async def send() -> bool:
            call = idle.pop()
            try:
                if concurrency == 1:  # one caller: no thread handoff in its latency
                    return blocking(call)
                return await loop.run_in_executor(threads, blocking, call)
            finally:
                idle.append(call)

    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                ok = await send()
            except Exception:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p99": pct(0.99),
    }


def _split(url: str) -> tuple[str, int, str]:
    """``http://host:port/path`` → (host, port, path)."""
    rest = url.removeprefix("http://")
    address, _, path = rest.partition("/")
    host, _, port = address.partition(":")
    return host, int(port), "/" + path


def drive(plan: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`_drive` in a process of its own; returns its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--drive", handle.name],
            capture_output=True,
            text=True,
            check=True,
            timeout=plan["seconds"] + 120,
        ).stdout
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- the run


def _metric(url: str, name: str) -> float:
    import httpx

    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name):
            total += float(line.split()[-1])
    return total


_PROTOCOL_OF = {
    "rest_json": "mlengine_v1",
    "rest_tfserving": "tfserving",
    "rest_v2_binary": "v2",
    "grpc_v2_raw": "v2_grpc",
    "grpc_tfserving": "tfserving_grpc",
}


def _frame_seconds(url: str) -> dict[str, tuple[float, float]]:
    """Per protocol: (sum, count) of the server's own latency histogram (the prediction
    frame: decode, model, answer; not the transport, nor the client)."""
    import httpx

    found: dict[str, list[float]] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        for suffix, index in (("_sum{", 0), ("_count{", 1)):
            if line.startswith("mlengine_request_latency_seconds" + suffix):
                protocol = line.split('protocol="', 1)[1].split('"', 1)[0]
                found.setdefault(protocol, [0.0, 0.0])[index] += float(line.split()[-1])
    return {protocol: (total, count) for protocol, (total, count) in found.items()}


def train_trees(root: Path) -> Path:
    """A BoostedTreesClassifier on the census training data (every feature of a request),
    exported."""
    import pandas as pd

    from mlengine import estimator
    from mlengine import feature_column as fc
    from mlengine.data import census

    x, y = census.load("train")
    columns = [
        fc.numeric_column(name)
        if pd.api.types.is_numeric_dtype(x[name])
        else fc.categorical_column_with_vocabulary_list(name, sorted(x[name].dropna().unique()))
        for name in instances(1)[0]  # the request's features (not fnlwgt, a sampling weight)
    ]
    model = estimator.BoostedTreesClassifier(
        columns,
        n_batches_per_layer=1,
        model_dir=root / "model",
        config=estimator.RunConfig(quiet=True, tf_random_seed=1),
    )
    model.train(estimator.inputs.pandas_input_fn(x, pd.Series(y), shuffle=False))
    return Path(model.export_saved_model(root / "export"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", type=Path, default=None)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trees-dir", type=Path, default=None, help="a boosted-trees export")
    parser.add_argument(
        "--one-instance-only",
        action="store_true",
        help="only the one-instance latencies (Wide & Deep and boosted trees)",
    )
    args = parser.parse_args()
    export = args.export_dir or sorted((REPO / "exports" / "census").glob("[0-9]*"))[-1]
    import httpx

    home = Path(tempfile.mkdtemp(prefix="mlengine-protocols-"))
    trees = args.trees_dir or train_trees(home / "trees")
    logs = home / "logs"
    env = {
        **os.environ,
        "MLENGINE_HOME": str(home),
        "MLENGINE_DATABASE_URL": "",
        "MLENGINE_ARTIFACT_ROOT": "",
        "MLENGINE_API_TOKEN": "",
        "MLENGINE_ALLOWED_LOG_DESTINATIONS": str(logs),
    }
    cli = [sys.executable, "-m", "mlengine.cli.main"]
    subprocess.run([*cli, "models", "create", "census"], env=env, check=True, timeout=120)
    subprocess.run(
        [*cli, "versions", "create", "v1", "--model", "census", "--origin", str(export)],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    subprocess.run([*cli, "models", "create", "trees"], env=env, check=True, timeout=120)
    subprocess.run(
        [*cli, "versions", "create", "v1", "--model", "trees", "--origin", str(trees)],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    port, grpc_port = free_port(), free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--workers", "1", "--port", str(port), "--grpc-port", str(grpc_port),
         "--log-level", "warning"],
        env=env,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the server did not start")
            time.sleep(0.2)
        inputs = {
            model: httpx.get(f"{url}/v2/models/{model}", timeout=10).json()["inputs"]
            for model in ("census", "trees")
        }
        results = run(args, url, f"127.0.0.1:{grpc_port}", inputs, logs)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
    print(json.dumps(results, indent=1))


def _plans(
    url: str, grpc_url: str, inputs: list[dict[str, Any]], count: int, model: str = "census"
) -> dict[str, Any]:
    json_headers = {"content-type": "application/json"}
    binary, length = v2_binary(inputs, count)
    return {
        "rest_json": {"kind": "http", "url": f"{url}/v1/projects/local/models/{model}:predict",
                      "headers": json_headers, "body": rest_json(count).hex()},
        "rest_tfserving": {"kind": "http", "url": f"{url}/v1/models/{model}:predict",
                           "headers": json_headers, "body": rest_json(count).hex()},
        "rest_v2_binary": {"kind": "http", "url": f"{url}/v2/models/{model}/infer",
                           "headers": {"inference-header-content-length": str(length)},
                           "body": binary.hex()},
        "grpc_v2_raw": {"kind": "grpc", "url": grpc_url,
                        "body": v2_grpc(inputs, count, model).hex(),
                        "method": "/inference.GRPCInferenceService/ModelInfer"},
        "grpc_tfserving": {"kind": "grpc", "url": grpc_url,
                           "body": tfserving_grpc(inputs, count, model).hex(),
                           "method": "/tensorflow.serving.PredictionService/Predict"},
    }  # fmt: skip


def run(
    args: Any, url: str, grpc_url: str, inputs: dict[str, list[dict[str, Any]]], logs: Path
) -> dict[str, Any]:
    import httpx

    seconds = args.duration
    one = _plans(url, grpc_url, inputs["census"], 1)
    hundred = _plans(url, grpc_url, inputs["census"], 100)
    one_trees = _plans(url, grpc_url, inputs["trees"], 1, "trees")
    explain = {"kind": "http", "url": f"{url}{BASE}:explain", "body": rest_json(1).hex(),
               "headers": {"content-type": "application/json"}}  # fmt: skip
    explain_trees = {**explain, "url": f"{url}/v1/projects/local/models/trees:explain"}
    warm = [*one.values(), *one_trees.values()]
    if not args.one_instance_only:
        warm += [*hundred.values(), explain, explain_trees]
    for plan in warm:  # warm every path
        drive({**plan, "concurrency": 1, "seconds": 0.5})
    figures: dict[str, list[Any]] = {}

    def record(key: str, value: Any) -> None:
        figures.setdefault(key, []).append(value)

    mask = "onlinePredictionLogging,requestLoggingConfig"
    for _ in range(args.rounds):
        for name, plan in one.items():
            # The Wide & Deep and the boosted trees back to back, protocol by protocol.
            found = drive({**plan, "concurrency": 1, "seconds": seconds})
            record(f"latency_ms_1_instance/{name}", [found[q] for q in QUANTILES])
            trees = drive({**one_trees[name], "concurrency": 1, "seconds": seconds})
            record(f"latency_ms_1_instance_trees/{name}", [trees[q] for q in QUANTILES])
            record(
                f"trees_over_wide_deep_p50_p99/{name}",
                [round(trees[q] / found[q], 2) for q in ("p50", "p99")],
            )
        if args.one_instance_only:
            continue
        for name, plan in hundred.items():
            before = _frame_seconds(url).get(_PROTOCOL_OF[name], (0.0, 0.0))
            found = drive({**plan, "concurrency": 4, "seconds": seconds})
            after = _frame_seconds(url)[_PROTOCOL_OF[name]]
            record(f"instances_per_s_100_instances_c4/{name}", round(found["rps"] * 100))
            frame = (after[0] - before[0]) / max(1.0, after[1] - before[1]) * 1e3
            record(f"server_frame_ms_100_instances/{name}", round(frame, 3))
        for percent in (0.0, 1.0):
            config = {"samplingPercentage": percent, "destination": str(logs)}
            body = {"onlinePredictionLogging": percent > 0, "requestLoggingConfig": config}
            httpx.patch(f"{url}{BASE}?updateMask={mask}", json=body, timeout=30)
            time.sleep(1.0)  # the server reads the settings at its next poll
            found = drive({**one["rest_json"], "concurrency": 32, "seconds": seconds * 2})
            record(f"requests_per_s_c32_logging_{int(percent * 100)}pct", round(found["rps"]))
        for name, plan in (("sampled_shapley", explain), ("tree_shap", explain_trees)):
            found = drive({**plan, "concurrency": 1, "seconds": seconds})
            record(f"explain_latency_ms_1_instance/{name}", [found[q] for q in QUANTILES])
    figures["prediction_log_records"] = [
        {
            outcome: _metric(url, f'mlengine_prediction_log_records_total{{outcome="{outcome}"')
            for outcome in ("written", "dropped_queue_full", "dropped_write_failed")
        }
    ]
    figures["load_average"] = [list(os.getloadavg())]
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--drive":
        plan = json.loads(Path(sys.argv[2]).read_text())
        print(json.dumps(asyncio.run(_drive(plan))))
    else:
        main()
