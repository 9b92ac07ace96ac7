"""The prediction server (``mlengine serve``): ML Engine v1, TF Serving REST and the Open
Inference Protocol v2 over one model registry, with micro-batching and Prometheus metrics.

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
* ``guard``: cross-site management calls and foreign ``Host`` names refused, before anything
* ``http``: reading request bodies (size limit, strict JSON) and writing JSON responses
* ``jobs``: ML Engine's jobs routes over :class:`mlengine.jobs.JobManager`
* ``mlengine_v1``: ML Engine v1: models, versions and ``:predict``
* ``model_manager``: which versions are in memory, which one serves a model, and when
* ``prometheus``: the server's Prometheus metrics (``GET /metrics``)
* ``routes``: the API's routes, each declared once with who may call it
* ``schema``: a version's request schema, from its export's signature, checked at the edge
* ``server``: run the app under uvicorn (``mlengine serve``)
* ``settings``: :class:`ServeSettings`, from flags and the environment
* ``signatures``: TF signature names: ``signature_name``, ``:classify``, ``:regress``
* ``tfserving``: TensorFlow Serving's REST API
* ``v2``: the Open Inference Protocol v2 (KServe, Triton)
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
