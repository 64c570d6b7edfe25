"""Operator actions on a job (``leadmagnet.flows.jobactions``): ``POST /v1/jobs/{id}/cancel``
and ``POST /v1/jobs/{id}/retry``. Both are the tenant's own (another tenant's job is the same
404 as an unknown id), both answer the job as ``GET /v1/jobs/{id}`` shows it, and both are
recorded in its timeline (``job.cancelled``, ``job.retried``)."""

from __future__ import annotations

from leadmagnet.common.errors import TransientError
from leadmagnet.common.models import Job
from leadmagnet.flows.jobactions import ActionRefused, cancel_job, retry_job

from ..api import ApiContext, HTTPError
from ..views import JobView, job_view
from .registry import api

TAGS = ("admin",)


async def _own_job(ctx: ApiContext) -> Job:
    job_id = ctx.path["job_id"]
    job = await ctx.platform.jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None or job.tenant_id != ctx.require_tenant():
        raise HTTPError(404, "job_not_found", "no such job")
    return job


@api.route(
    "POST",
    "/v1/jobs/{job_id}/cancel",
    summary="Cancel a job that has not finished (idempotent)",
    tags=TAGS,
    auth=True,
    response=JobView,
    errors=(404, 409, 503),
)
async def cancel(ctx: ApiContext) -> JobView:
    """A running stage finishes its work and nothing after it runs; an open approval gate is
    released (a late callback is a 404); nothing is delivered, and the only outcome sent is
    ``job.cancelled``. Cancelling a cancelled job answers it again; a completed or failed job
    is a 409 saying which."""
    job = await _own_job(ctx)
    try:
        cancelled = await cancel_job(ctx.platform, job)
    except ActionRefused as e:
        raise HTTPError(409, e.code, e.message) from None
    except TransientError:
        raise HTTPError(
            503, "unavailable", "the job is cancelled; announcing it failed: cancel it again"
        ) from None
    return await job_view(ctx.platform, cancelled)


@api.route(
    "POST",
    "/v1/jobs/{job_id}/retry",
    summary="Re-run a failed job from its failed stage",
    tags=TAGS,
    auth=True,
    response=JobView,
    errors=(404, 409, 503),
)
async def retry(ctx: ApiContext) -> JobView:
    """The stages that had finished are not run again (no second model call): their stored
    results are reused and their files restored; the failed stage runs again. 409 when the job
    has not failed, when its failure cannot be redone (an approval gate's rejection or
    timeout), or when another retry took it first."""
    job = await _own_job(ctx)
    try:
        retried = await retry_job(ctx.platform, job)
    except ActionRefused as e:
        raise HTTPError(409, e.code, e.message) from None
    except TransientError as e:
        raise HTTPError(503, "unavailable", e.message) from None
    return await job_view(ctx.platform, retried)
