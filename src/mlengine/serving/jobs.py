"""ML Engine's jobs routes over :class:`mlengine.jobs.JobManager`.

=======  ====================================================  ============================
GET      ``/v1/projects/{p}/jobs``                              ``{"jobs": [...]}`` (or ``{}``)
POST     ``/v1/projects/{p}/jobs``  (ML Engine's Job body)      the Job
GET      ``/v1/projects/{p}/jobs/{j}``                          the Job
POST     ``/v1/projects/{p}/jobs/{j}:cancel``                   the Job (CANCELLING/CANCELLED)
GET      ``/v1/projects/{p}/jobs/{j}/logs?tail=N``              ``{"jobId", "logs"}``
=======  ====================================================  ============================

A training job runs the submitted module on the server's machine, so submitting one through
the API is refused unless ``MLENGINE_ALLOW_TRAINING_JOBS=1`` (prediction jobs only read
registered models). Paths in a job body must lie under ``MLENGINE_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mlengine.jobs import JobManager
from mlengine.limits import whole_number
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import ApiError, invalid
from mlengine.serving.http import json_response
from mlengine.serving.routes import Access, ApiRoute

PREFIX = "/v1/projects/{project:project}/jobs"
MAX_TAIL = 10_000


class Jobs:
    """The job routes over one :class:`ServingContext` (and the registry it holds)."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx
        self.jobs = JobManager(ctx.registry)

    def routes(self) -> list[ApiRoute]:
        job = PREFIX + "/{job:name}"
        return [
            ApiRoute("GET", PREFIX, self.list_jobs, Access.MANAGE, google_errors=True),
            ApiRoute("POST", PREFIX, self.submit, Access.MANAGE, google_errors=True),
            ApiRoute("GET", job, self.get_job, Access.MANAGE, google_errors=True),
            ApiRoute("POST", job + ":cancel", self.cancel, Access.MANAGE, google_errors=True),
            ApiRoute("GET", job + "/logs", self.logs, Access.MANAGE, google_errors=True),
        ]

    async def list_jobs(self, request: Request) -> Response:
        found = await self.ctx.manager.call(self.jobs.list_jobs)
        project = request.path_params["project"]
        return json_response({"jobs": [job.to_json(project) for job in found]} if found else {})

    async def submit(self, request: Request) -> Response:
        body = await self.ctx.body(request)
        if "trainingInput" in body and not self.ctx.settings.allow_training_jobs:
            raise ApiError(
                "PERMISSION_DENIED",
                "Training jobs run code on the server's machine; this server does not accept "
                "them (start it with MLENGINE_ALLOW_TRAINING_JOBS=1 to allow them).",
            )
        job = await self.ctx.manager.call(self.jobs.submit, body)
        return json_response(job.to_json(request.path_params["project"]))

    async def get_job(self, request: Request) -> Response:
        job = await self.ctx.manager.call(self.jobs.get_job, request.path_params["job"])
        return json_response(job.to_json(request.path_params["project"]))

    async def cancel(self, request: Request) -> Response:
        job = await self.ctx.manager.call(self.jobs.cancel_job, request.path_params["job"])
        return json_response(job.to_json(request.path_params["project"]))

    async def logs(self, request: Request) -> Response:
        raw = request.query_params.get("tail")
        tail = None
        if raw is not None:
            tail = whole_number(raw, MAX_TAIL)
            if not tail:
                shown = raw[:40]
                raise invalid(f"'tail' must be a whole number from 1 to {MAX_TAIL}; got {shown!r}.")
        job_id = request.path_params["job"]
        text = await self.ctx.manager.call(self.jobs.read_logs, job_id, tail)
        return json_response({"jobId": job_id, "logs": text})
