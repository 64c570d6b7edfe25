"""Response models of the HTTP API and builders from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from leadmagnet.common.jobflow import completed_artifacts
from leadmagnet.common.models import (
    WEBHOOK_EVENTS,
    CallbackGate,
    DocumentVersion,
    Form,
    FormField,
    Job,
    JobEvent,
    Workflow,
)
from leadmagnet.common.money import micros_to_usd
from leadmagnet.common.platform import Platform
from leadmagnet.common.providers.base import Usage
from leadmagnet.common.stores.jobs import delivers, visible_data
from leadmagnet.flows.funnels import camel_settings
from leadmagnet.flows.jobfiles import visible_files


class ArtifactView(BaseModel):
    artifact_id: str
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    url: str


class CallCostView(BaseModel):
    provider: str
    model: str
    operation: str
    stage: str | None
    usage: Usage
    cost_usd: str
    cost_micros: int
    price_version: str
    request_id: str | None


class CostView(BaseModel):
    total_usd: str = Field(description="Decimal string in US dollars.")
    total_micros: int = Field(description="Total in millionths of a dollar (exact).")
    calls: list[CallCostView]


class TimelineEntry(BaseModel):
    seq: int
    type: str
    at: datetime
    status: str | None
    stage: str | None
    message: str


class JobView(BaseModel):
    job_id: str
    kind: str
    status: str
    stage: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    failed_at: datetime | None
    error_code: str | None
    error_message: str | None
    output_url: str | None
    artifacts: list[ArtifactView]
    cost: CostView
    timeline: list[TimelineEntry]
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Finished jobs: URLs of result.json / error.json and execution.log, once"
        " written.",
    )
    status_url: str
    data: dict[str, Any] = Field(default_factory=dict, description="Kind-specific results.")


class JobSummary(BaseModel):
    job_id: str
    kind: str
    status: str
    created_at: datetime
    updated_at: datetime
    error_message: str | None
    cost_usd: str
    status_url: str


class JobList(BaseModel):
    jobs: list[JobSummary]
    next_cursor: str | None


class JobAccepted(BaseModel):
    job_id: str
    status: str
    status_url: str


class HtmlTemplateView(BaseModel):
    """A template of kind html (a lead-magnet page): snake_case, as the rest of the admin API."""

    template_id: str
    version: int
    status: str
    kind: Literal["html"] = Field(description="A lead-magnet page (Jinja2, sandboxed).")
    name: str
    description: str
    html: str = Field(description="The Jinja2 (sandboxed) page.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    published_at: datetime | None


class FunnelTemplateView(BaseModel):
    """A template of kind funnel (seed 001): camelCase all through, as the seed and the runs
    made from it (one casing per resource)."""

    templateId: str
    version: int
    status: str
    kind: Literal["funnel"] = Field(description="A funnel to rewrite in runs.")
    name: str
    description: str
    brandGuideContent: str = Field(description="The brand guide.")
    templateFunnelJson: dict[str, Any] = Field(description="The funnel to rewrite.")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form; the run settings in it are spelled in camelCase (imageFields,"
        " onImageFailure, imageQuality, imageSize).",
    )
    createdAt: datetime
    publishedAt: datetime | None


AnyTemplateView = Annotated[HtmlTemplateView | FunnelTemplateView, Field(discriminator="kind")]


class TemplateView(RootModel[AnyTemplateView]):
    """A template version, in the casing of its kind: html snake_case, funnel camelCase."""


class TemplateList(BaseModel):
    templates: list[AnyTemplateView] = Field(
        description="Each in the casing of its kind (html: template_id, funnel: templateId)."
    )


class WorkflowView(BaseModel):
    workflow_id: str
    name: str
    kind: str
    instructions: str
    model: str | None
    template_id: str | None
    template_version: int | None
    webhook_url: str | None
    webhook_format: str = "standard"
    webhook_events: list[str] = Field(default_factory=lambda: [str(e) for e in WEBHOOK_EVENTS])
    options: dict[str, Any]
    await_callback: CallbackGate | None = None
    created_at: datetime
    updated_at: datetime


class WorkflowCreated(WorkflowView):
    webhook_secret: str | None = Field(
        None,
        description="Signing secret for webhooks and signed callbacks (Standard Webhooks)."
        " Shown only once.",
    )


class WorkflowList(BaseModel):
    workflows: list[WorkflowView]


class FormView(BaseModel):
    slug: str
    name: str
    workflow_id: str
    fields: list[FormField]
    submit_url: str


class FormList(BaseModel):
    forms: list[FormView]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


def status_url(platform: Platform, job_id: str) -> str:
    return f"{platform.settings.gateway_public_url.rstrip('/')}/v1/jobs/{job_id}"


def template_item(doc: DocumentVersion) -> HtmlTemplateView | FunnelTemplateView:
    body = doc.body
    if body.get("kind") == "funnel":
        return FunnelTemplateView(
            templateId=doc.doc_id,
            version=doc.version,
            status=doc.status,
            kind="funnel",
            name=str(body.get("name", "")),
            description=str(body.get("description", "")),
            brandGuideContent=str(body.get("brandGuideContent") or ""),
            templateFunnelJson=dict(body.get("templateFunnelJson") or {}),
            metadata=camel_settings(dict(body.get("metadata") or {})),
            createdAt=doc.created_at,
            publishedAt=doc.published_at,
        )
    return HtmlTemplateView(
        template_id=doc.doc_id,
        version=doc.version,
        status=doc.status,
        kind="html",
        name=str(body.get("name", "")),
        description=str(body.get("description", "")),
        html=str(body.get("html") or ""),
        metadata=dict(body.get("metadata") or {}),
        created_at=doc.created_at,
        published_at=doc.published_at,
    )


def template_view(doc: DocumentVersion) -> TemplateView:
    return TemplateView(template_item(doc))


def workflow_view(wf: Workflow) -> WorkflowView:
    return WorkflowView(**wf.model_dump(exclude={"webhook_secret", "tenant_id"}))


def form_view(platform: Platform, form: Form) -> FormView:
    base = platform.settings.gateway_public_url.rstrip("/")
    return FormView(
        slug=form.slug,
        name=form.name,
        workflow_id=form.workflow_id,
        fields=form.fields,
        submit_url=f"{base}/v1/forms/{form.slug}/submit",
    )


def _timeline(events: list[JobEvent]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            seq=e.seq,
            type=e.type,
            at=e.at,
            status=e.status.value if e.status else None,
            stage=e.stage,
            message=e.message,
        )
        for e in events
    ]


async def job_view(platform: Platform, job: Job) -> JobView:
    # One rule for every kind and state (stores.jobs.delivers): only a completed job shows its
    # output and artifacts; a waiting one has none yet, a failed one never will.
    delivered = delivers(job)
    artifacts = await completed_artifacts(platform, job) if delivered else []
    artifact_views = [
        ArtifactView(
            artifact_id=a.artifact_id,
            kind=a.kind,
            filename=a.filename,
            content_type=a.content_type,
            size_bytes=a.size_bytes,
            url=await platform.artifacts.url(a.s3_key),
        )
        for a in sorted(artifacts, key=lambda a: a.kind)
    ]
    return JobView(
        job_id=job.job_id,
        kind=job.kind,
        status=job.status.value,
        stage=job.stage,
        created_at=job.created_at,
        updated_at=job.updated_at,
        completed_at=job.completed_at,
        failed_at=job.failed_at,
        error_code=job.error_code,
        error_message=job.error_message,
        output_url=(
            await platform.artifacts.url(job.output_key) if job.output_key and delivered else None
        ),
        artifacts=artifact_views,
        files={name: await platform.artifacts.url(key) for name, key in visible_files(job).items()},
        cost=CostView(
            total_usd=micros_to_usd(job.cost_micros),
            total_micros=job.cost_micros,
            calls=[
                CallCostView(
                    provider=c.provider,
                    model=c.model,
                    operation=c.operation,
                    stage=c.stage,
                    usage=c.usage,
                    cost_usd=micros_to_usd(c.cost_micros),
                    cost_micros=c.cost_micros,
                    price_version=c.price_version,
                    request_id=c.request_id,
                )
                for c in job.cost_calls
            ],
        ),
        timeline=_timeline(await platform.jobs.timeline(job.job_id)),
        status_url=status_url(platform, job.job_id),
        data=visible_data(job),
    )


def job_summary(platform: Platform, job: Job) -> JobSummary:
    return JobSummary(
        job_id=job.job_id,
        kind=job.kind,
        status=job.status.value,
        created_at=job.created_at,
        updated_at=job.updated_at,
        error_message=job.error_message,
        cost_usd=micros_to_usd(job.cost_micros),
        status_url=status_url(platform, job.job_id),
    )
