"""Funnel rewrite runs (seed 001): start a run, read it, its logs, and a template's history.

Field names follow the seed (runId, templateId, imageProcessingResults...): one casing per
resource, camelCase all the way down (``input.input_as_text`` is the seed's own name). A run is
a job of kind ``funnel_rewrite``; every lookup is scoped to the caller's tenant.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from leadmagnet.common.errors import NotFoundError
from leadmagnet.common.events.runs import RunRequested
from leadmagnet.common.ids import random_id
from leadmagnet.common.jobflow import count_job
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import MAX_VERSION, RESOURCE_ID, Job, RunData
from leadmagnet.common.stores.jobs import delivers, template_ref, visible_data
from leadmagnet.flows.funnels import (
    RUN_KIND,
    FunnelSettings,
    ImageFailurePolicy,
    run_cost_breakdown,
)

from ..api import ApiContext, ErrorDetail, HTTPError, Strict
from ..enqueue import publish_first_event
from .registry import api

log = get_logger()
TAGS = ("runs",)


class RunInput(Strict):
    input_as_text: str = Field(
        min_length=1, max_length=20_000, description="The brief: what to rewrite the funnel for."
    )


class RunOptions(Strict):
    """Overrides of the template's metadata for this run."""

    onImageFailure: ImageFailurePolicy | None = Field(
        None, description="'fail' the run, or 'keep_original' image URLs of failed elements."
    )
    imageQuality: Literal["standard", "hd"] | None = None


class RunCreate(Strict):
    templateId: str = Field(pattern=RESOURCE_ID)
    templateVersion: Annotated[int, Field(ge=1, le=MAX_VERSION)] | Literal["latest"] = Field(
        "latest", description="A version number, or 'latest' = the newest published version."
    )
    input: RunInput
    options: RunOptions | None = None


class RunLinks(BaseModel):
    run: str
    logs: str
    job: str


class RunAccepted(BaseModel):
    runId: str
    status: str
    templateId: str
    templateVersion: int
    links: RunLinks


class CostTokens(BaseModel):
    input: int
    output: int
    reasoning: int


class AgentCost(BaseModel):
    calls: int
    tokens: CostTokens
    cost: float


class ImagesCost(BaseModel):
    calls: int
    imagesGenerated: int
    cost: float


class CostDetails(BaseModel):
    agent: AgentCost
    images: ImagesCost


class RunCost(BaseModel):
    """The seed's breakdown in US dollars; ``total`` = ``agent`` + ``image`` exactly."""

    total: float
    agent: float
    image: float
    details: CostDetails


class ImageResult(BaseModel):
    """One image element's outcome, in the run's casing (seed 001: AggregateImageResults)."""

    elementId: str = Field(description="JSON path of the element, e.g. 'hero.opt_logo_url'.")
    status: Literal["ok", "failed", "kept_original"]
    originalUrl: str
    newUrl: str | None = Field(
        description="The URL the rewritten funnel uses; null until the run completes (a kept"
        " original is the customer's own URL and shows at once)."
    )
    artifactId: str | None
    error: str | None
    costMicros: int
    attempts: int

    @classmethod
    def of(cls, r: dict[str, Any]) -> ImageResult:
        return cls(
            elementId=r["element_id"],
            status=r["status"],
            originalUrl=r["original_url"],
            newUrl=r.get("new_url"),
            artifactId=r.get("artifact_id"),
            error=r.get("error"),
            costMicros=int(r.get("cost_micros") or 0),
            attempts=int(r.get("attempts") or 0),
        )


class RunView(BaseModel):
    runId: str
    templateId: str
    templateVersion: int
    status: str
    stage: str | None
    input: dict[str, Any]
    output: dict[str, Any] | None = Field(None, description="The rewritten funnel, when done.")
    outputUrl: str | None
    cost: RunCost
    costMicros: int = Field(description="cost.total in millionths of a dollar (exact).")
    imageProcessingResults: list[ImageResult]
    duration: int | None = Field(description="Milliseconds from start to end; null while running.")
    errorCode: str | None
    errorMessage: str | None
    createdAt: datetime
    updatedAt: datetime
    completedAt: datetime | None
    failedAt: datetime | None
    links: RunLinks


class RunSummary(BaseModel):
    runId: str
    templateVersion: int
    status: str
    cost: RunCost
    duration: int | None
    errorMessage: str | None
    createdAt: datetime


class RunList(BaseModel):
    templateId: str
    runs: list[RunSummary]


class RunLogEntry(BaseModel):
    timestamp: datetime
    level: Literal["DEBUG", "INFO", "WARN", "ERROR"]
    logType: Literal["event", "metric", "cost"]
    type: str = Field(description="What happened, e.g. 'run.images.started'.")
    stage: str | None
    message: str
    data: dict[str, Any] = Field(
        description="What the entry measured, keys in camelCase ('metric': durationMs)."
    )
    requestId: str | None
    seq: int


class RunLogs(BaseModel):
    runId: str
    logs: list[RunLogEntry]


class HistoryQuery(Strict):
    limit: int = Field(10, ge=1, le=100)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel_keys(value: Any) -> Any:
    """The run resource's one casing for the services' free-form log data (``duration_ms``
    -> ``durationMs``); values (element ids, URLs) are never touched."""
    if isinstance(value, dict):
        return {_camel(str(k)): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _links(ctx: ApiContext, run_id: str) -> RunLinks:
    base = ctx.platform.settings.gateway_public_url.rstrip("/")
    return RunLinks(
        run=f"{base}/v1/runs/{run_id}",
        logs=f"{base}/v1/runs/{run_id}/logs",
        job=f"{base}/v1/jobs/{run_id}",
    )


def _duration_ms(job: Job) -> int | None:
    end = job.completed_at or job.failed_at
    return round((end - job.created_at).total_seconds() * 1000) if end else None


async def _require_run(ctx: ApiContext) -> Job:
    run_id = ctx.path["run_id"]
    job = await ctx.platform.jobs.get(run_id) if len(run_id) <= 64 else None
    if job is None or job.tenant_id != ctx.require_tenant() or job.kind != RUN_KIND:
        raise HTTPError(404, "run_not_found", "no such run")
    return job


@api.route(
    "POST",
    "/v1/runs",
    summary="Start a funnel rewrite run",
    tags=TAGS,
    auth=True,
    status=202,
    request=RunCreate,
    response=RunAccepted,
    errors=(503,),
)
async def start_run(ctx: ApiContext) -> RunAccepted:
    """Resolves the template version now ('latest' = newest published; a pinned version may be
    a draft, to try it before publishing) and pins it for the whole run."""
    body: RunCreate = ctx.body
    tenant = ctx.require_tenant()
    platform = ctx.platform
    try:
        doc = await platform.templates.resolve(tenant, body.templateId, body.templateVersion)
    except NotFoundError as e:
        raise HTTPError(
            422,
            "unknown_template",
            e.message,
            [ErrorDetail(loc="body.templateId", message=e.message)],
        ) from None
    if doc.body.get("kind") != "funnel":
        raise HTTPError(
            422,
            "not_a_funnel_template",
            f"template {body.templateId} is an html template; runs need a funnel template",
            [ErrorDetail(loc="body.templateId", message="not a funnel template")],
        )
    settings = FunnelSettings.model_validate(dict(doc.body.get("metadata") or {}))
    overrides = body.options.model_dump(exclude_none=True) if body.options else {}
    settings = FunnelSettings.model_validate(
        {**settings.model_dump(by_alias=True, exclude_none=True), **overrides}
    )
    run_id = random_id("run")
    job = Job(
        job_id=run_id,
        tenant_id=tenant,
        kind=RUN_KIND,
        template_ref=template_ref(tenant, body.templateId),
        data=RunData(
            template_id=body.templateId,
            template_version=doc.version,
            input=body.input.model_dump(),
            settings=settings.model_dump(by_alias=True, exclude_none=True),
        ).model_dump(exclude={"image_results"}),  # the imager adds them
    )
    await platform.jobs.create(
        job, message=f"run created from template {body.templateId} v{doc.version}"
    )
    count_job(platform, "JobsStarted", job)
    event = platform.bus.event(
        RunRequested(
            job_id=run_id,
            tenant_id=tenant,
            template_id=body.templateId,
            template_version=doc.version,
        ),
        subject=run_id,
        tenant_id=tenant,
        correlation_id=ctx.request.headers.get("x-request-id"),
    )
    await publish_first_event(platform, event, run_id, "run")
    return RunAccepted(
        runId=run_id,
        status=job.status.value,
        templateId=body.templateId,
        templateVersion=doc.version,
        links=_links(ctx, run_id),
    )


@api.route(
    "GET",
    "/v1/runs/{run_id}",
    summary="A run: status, input, output, cost breakdown, image results, duration",
    tags=TAGS,
    auth=True,
    response=RunView,
    errors=(404,),
)
async def get_run(ctx: ApiContext) -> RunView:
    job = await _require_run(ctx)
    output = None
    shown = delivers(job)  # the platform's one rule: failed/running runs show no output
    if job.output_key and shown:
        output = json.loads(await ctx.platform.artifacts.read(job.output_key))
    breakdown = run_cost_breakdown(job.cost_calls)
    return RunView(
        runId=job.job_id,
        templateId=str(job.data.get("template_id", "")),
        templateVersion=int(job.data.get("template_version", 0)),
        status=job.status.value,
        stage=job.stage,
        input=dict(job.data.get("input") or {}),
        output=output,
        outputUrl=(
            await ctx.platform.artifacts.url(job.output_key) if job.output_key and shown else None
        ),
        cost=RunCost.model_validate(breakdown),
        costMicros=job.cost_micros,
        imageProcessingResults=[
            ImageResult.of(r)
            for r in visible_data(job).get("image_results") or []
            if isinstance(r, dict)
        ],
        duration=_duration_ms(job),
        errorCode=job.error_code,
        errorMessage=job.error_message,
        createdAt=job.created_at,
        updatedAt=job.updated_at,
        completedAt=job.completed_at,
        failedAt=job.failed_at,
        links=_links(ctx, job.job_id),
    )


@api.route(
    "GET",
    "/v1/runs/{run_id}/logs",
    summary="A run's structured log entries, oldest first",
    tags=TAGS,
    auth=True,
    response=RunLogs,
    errors=(404,),
)
async def get_run_logs(ctx: ApiContext) -> RunLogs:
    job = await _require_run(ctx)
    entries = await ctx.platform.jobs.timeline(job.job_id)
    return RunLogs(
        runId=job.job_id,
        logs=[
            RunLogEntry(
                timestamp=e.at,
                level=e.level.upper(),
                logType=e.log_type,
                type=e.type,
                stage=e.stage,
                message=e.message,
                data=camel_keys(e.data),
                requestId=e.request_id,
                seq=e.seq,
            )
            for e in entries
        ],
    )


@api.route(
    "GET",
    "/v1/templates/{template_id}/runs",
    summary="A template's runs, newest first",
    tags=TAGS,
    auth=True,
    query=HistoryQuery,
    response=RunList,
    errors=(404,),
)
async def list_template_runs(ctx: ApiContext) -> RunList:
    tenant = ctx.require_tenant()
    template_id = ctx.path["template_id"]
    if await ctx.platform.templates.latest(tenant, template_id) is None:
        raise HTTPError(404, "template_not_found", "no such template")
    q: HistoryQuery = ctx.query
    jobs = await ctx.platform.jobs.list_for_template(tenant, template_id, limit=q.limit)
    return RunList(
        templateId=template_id,
        runs=[
            RunSummary(
                runId=j.job_id,
                templateVersion=int(j.data.get("template_version", 0)),
                status=j.status.value,
                cost=RunCost.model_validate(run_cost_breakdown(j.cost_calls)),
                duration=_duration_ms(j),
                errorMessage=j.error_message,
                createdAt=j.created_at,
            )
            for j in jobs
        ],
    )
