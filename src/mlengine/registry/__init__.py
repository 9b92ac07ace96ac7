"""The model registry: models, their versions, a default version each, and their files.

One Python API, :class:`Registry`, holds every rule; the CLI (``mlengine models|versions``)
and the server are thin layers over it::

    from mlengine.registry import Registry

    registry = Registry()  # $MLENGINE_HOME/registry.db and $MLENGINE_HOME/artifacts
    registry.create_model("census", description="Census income")
    version = registry.create_version("census", "v1", origin="exports/census/1764130000")
    registry.get_model("census").default_version  # v1: the first version is the default

SQLite is the embedded default; ``MLENGINE_DATABASE_URL`` (or ``database_url``) selects
PostgreSQL when several machines share one registry, with one artifact root (any fsspec URL)
that the database refers to by relative paths.

Modules:

* ``artifacts``: the artifact store: each version's own copy of its export
* ``db``: the database connection: engine setup, transactions, retries, error translation
* ``entities``: the plain values: ``RegisteredModel``, ``ModelVersion``, ``VersionState``,
  ``Operation``
* ``lifecycle``: a version's life between rows and files: create, fail, delete, recover
* ``migrations``: the tables, the schema version and the ordered, recorded migrations
* ``names``: name, label and version-reference rules
* ``operations``: ML Engine's long-running operations, settled from the versions they follow
* ``origins``: where a version's export may come from, and the checks made first
* ``prediction_logging``: online prediction logging settings (``RequestLoggingConfig``)
* ``queries``: queries shared by the registry's operations, rows to entities, dead workers
* ``store``: :class:`Registry`: the one Python API holding every rule
"""

from mlengine.registry.entities import (
    Model,
    ModelVersion,
    Operation,
    OperationType,
    RegisteredModel,
    VersionState,
)
from mlengine.registry.names import validate_name
from mlengine.registry.origins import allowed_origins_from_env
from mlengine.registry.prediction_logging import RequestLoggingConfig
from mlengine.registry.store import Registry

__all__ = [
    "Model",
    "ModelVersion",
    "Operation",
    "OperationType",
    "RegisteredModel",
    "Registry",
    "RequestLoggingConfig",
    "VersionState",
    "allowed_origins_from_env",
    "validate_name",
]
