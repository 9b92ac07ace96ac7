"""The prediction server (``mlengine serve``): ML Engine v1, TF Serving REST and the Open
Inference Protocol v2 over one model registry, and gRPC (OIP v2, TF Serving's services), with
micro-batching and Prometheus metrics.

::

    from mlengine.registry import Registry, allowed_origins_from_env
    from mlengine.serving import ServeSettings, create_app

    app = create_app(Registry(allowed_origins=allowed_origins_from_env()), ServeSettings.from_env())

Modules:

* ``app``: ``create_app``: the Starlette app, and the prediction fast path
* ``auth``: bearer-token access control (its rules come from the routes)
* ``balance``: spreading keep-alive connections over the workers
* ``batching``: micro-batching: concurrent small requests to one version, one model call
* ``connections``: HTTP connections: idle and slow clients time out, shutdown drains
* ``console``: the web console at ``/`` (pages and static files)
* ``context``: what the protocols share, and the one frame every prediction goes through
* ``deferred``: a registry that lets the server start while its database is unreachable
* ``errors``: errors as the server answers them: the code to HTTP status table
* ``evidence``: ``GET .../versions/{v}/evidence``: the export's curves, history, instances
* ``explain``: ``:explain``: TreeSHAP for boosted trees, sampled Shapley for other models
* ``grpc_server``: the gRPC port: one server for both services, token, limits, statuses
* ``grpc_tfserving``: TF Serving's PredictionService and ModelService over gRPC
* ``grpc_v2``: OIP v2's GRPCInferenceService, with Triton's config, statistics and index
* ``guard``: cross-site management calls and foreign ``Host`` names refused, before anything
* ``http``: reading request bodies (size limit, strict JSON) and writing JSON responses
* ``jobs``: ML Engine's jobs routes over :class:`mlengine.jobs.JobManager`
* ``mlengine_v1``: ML Engine v1: models, versions and ``:predict``
* ``model_manager``: which versions are in memory, which one serves a model, and when
* ``openapi``: the OpenAPI document of the REST surface, derived from the routes
* ``operations``: ML Engine's operations routes (long-running version creation and deletion)
* ``prediction_log``: online prediction logging: sampled records to files under an fsspec URL
* ``prometheus``: the server's Prometheus metrics (``GET /metrics``)
* ``routes``: the API's routes, each declared once with who may call it
* ``schema``: a version's request schema, from its export's signature, checked at the edge
* ``server``: run the app under uvicorn (``mlengine serve``)
* ``settings``: :class:`ServeSettings`, from flags and the environment
* ``signatures``: TF signature names: ``signature_name``, ``:classify``, ``:regress``
* ``statistics``: per-version inference statistics (Triton's statistics extension)
* ``tensors``: tensors in raw bytes (OIP v2's binary tensor data and gRPC raw contents)
* ``tfserving``: TensorFlow Serving's REST API
* ``v2``: the Open Inference Protocol v2 (KServe, Triton) and Triton's extensions
* ``workers``: ``mlengine serve --workers N``: N processes on one socket
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from mlengine.serving.app import create_app
    from mlengine.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> object:
    # Imported on first use: ``mlengine serve`` reads its settings before it imports the app
    # (the supervisor of its workers sets up the metrics' multiprocess mode in between).
    if name == "create_app":
        from mlengine.serving.app import create_app

        return create_app
    if name == "ServeSettings":
        from mlengine.serving.settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module 'mlengine.serving' has no attribute {name!r}")
