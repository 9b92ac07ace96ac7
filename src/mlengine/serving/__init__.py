"""The prediction server (``mlengine serve``): ML Engine v1, TF Serving REST and the Open
Inference Protocol v2 over one model registry, with micro-batching and Prometheus metrics.

::

    from mlengine.registry import Registry, allowed_origins_from_env
    from mlengine.serving import ServeSettings, create_app

    app = create_app(Registry(allowed_origins=allowed_origins_from_env()), ServeSettings.from_env())

Modules: ``app`` (the Starlette app), ``models`` (versions in memory, defaults, polling),
``batching``, ``schema`` (request checks), ``mlengine_v1`` / ``tfserving`` / ``v2`` (one per
protocol), ``auth``, ``errors``, ``metrics``, ``server`` (uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlengine.serving.app import create_app
    from mlengine.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``mlengine serve`` reads its settings before it imports the app
    # (the supervisor of its workers sets up the metrics' multiprocess mode in between).
    if name == "create_app":
        from mlengine.serving.app import create_app

        return create_app
    if name == "ServeSettings":
        from mlengine.serving.settings import ServeSettings

        return ServeSettings
    raise AttributeError(f"module 'mlengine.serving' has no attribute {name!r}")
