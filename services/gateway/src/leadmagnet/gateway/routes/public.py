"""Public endpoints: form submission and the job status capability link."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from leadmagnet.common.events.jobs import CARRIED_FIELDS_BYTES, JobRequested, carried
from leadmagnet.common.formcheck import validate_submission
from leadmagnet.common.ids import new_job_id, random_id
from leadmagnet.common.jobflow import count_job
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobEvent, Submission
from leadmagnet.common.platform import Platform

from ..api import ApiContext, ErrorDetail, HTTPError, Strict, bounded_int
from ..enqueue import publish_first_event
from ..progress import SEED_TYPES, Progress, Signal, follow_job, seed_payload
from ..quotas import check_submit_quota
from ..views import FormView, JobAccepted, JobView, form_view, job_view, status_url
from .registry import api

log = get_logger()

SUBMISSION_SCHEMA = {
    "type": "object",
    "description": "The form's fields (see GET /v1/forms/{slug}); unknown fields are refused.",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}
HONEYPOT_FIELD = "website_url_hp"


async def accept_submission(
    platform: Platform, slug: str, payload: object, *, correlation_id: str | None = None
) -> JobAccepted:
    """Validate, store the submission and the pending job, publish ``job.requested``.
    The JSON API and the hosted form page both submit through here."""
    form, workflow, template_version = await platform.forms.with_workflow(
        slug, platform.workflows, platform.templates
    )
    if form is None:
        raise HTTPError(404, "form_not_found", f"no form with slug {slug!r}")
    await check_submit_quota(platform, form)  # 429 past the tenant's per-form budget
    if not isinstance(payload, dict):
        raise HTTPError(422, "validation_error", "the body must be a JSON object of form fields")
    if payload.get(HONEYPOT_FIELD):
        log.info("submit.honeypot", form=slug)
        raise HTTPError(
            422,
            "rejected",
            "the submission was rejected",
            [ErrorDetail(loc=f"body.{HONEYPOT_FIELD}", message="must be empty")],
        )
    clean, errors = validate_submission(form, payload, ignore=frozenset({HONEYPOT_FIELD}))
    if errors:
        raise HTTPError(
            422,
            "validation_error",
            "some fields are invalid",
            [ErrorDetail(loc=f"body.{name}", message=msg) for name, msg in sorted(errors.items())],
        )
    if workflow is None:
        raise HTTPError(409, "form_misconfigured", "this form's workflow no longer exists")
    job_id = new_job_id()
    submission = Submission(
        submission_id=random_id("sub"),
        tenant_id=form.tenant_id,
        form_slug=form.slug,
        workflow_id=workflow.workflow_id,
        job_id=job_id,
        fields=clean,
    )
    job = Job(
        job_id=job_id,
        tenant_id=form.tenant_id,
        kind=workflow.kind,
        workflow_id=workflow.workflow_id,
        workflow_rev=workflow.updated_at.isoformat(),
        submission_id=submission.submission_id,
        form_slug=form.slug,
        # the template version published now: the job renders with it, however long it waits
        data={"template_version": template_version} if template_version else {},
    )
    await platform.jobs.create(  # the submission and the job: one write
        job,
        message=f"submitted through form {form.slug}",
        along=[platform.submissions.item(submission)],
    )
    count_job(platform, "JobsStarted", job)
    event = platform.bus.event(
        JobRequested(
            job_id=job_id,
            tenant_id=job.tenant_id,
            kind=job.kind,
            workflow_id=job.workflow_id,
            submission_id=submission.submission_id,
            fields=carried(clean, CARRIED_FIELDS_BYTES),
        ),
        subject=job_id,
        tenant_id=job.tenant_id,
        correlation_id=correlation_id,
    )
    await publish_first_event(platform, event, job_id)
    log.info("submit.accepted", job_id=job_id, form=form.slug)
    return JobAccepted(
        job_id=job_id, status=job.status.value, status_url=status_url(platform, job_id)
    )


@api.route(
    "POST",
    "/v1/forms/{slug}/submit",
    summary="Submit a form; starts a job",
    tags=("public",),
    status=202,
    raw_body_schema=SUBMISSION_SCHEMA,
    response=JobAccepted,
    errors=(404, 409, 429, 503),
)
async def submit_form(ctx: ApiContext) -> JobAccepted:
    """Validates the fields against the form's schema (422 lists each invalid field), stores the
    submission and a pending job, and returns its unguessable status URL. Each form takes its
    tenant's ``submits_per_minute`` (429 ``rate_limited`` with ``Retry-After`` beyond it)."""
    return await accept_submission(
        ctx.platform,
        ctx.path["slug"],
        ctx.body,
        correlation_id=ctx.request.headers.get("x-request-id"),
    )


@api.route(
    "GET",
    "/v1/forms/{slug}",
    summary="A form's public field schema",
    tags=("public",),
    response=FormView,
    errors=(404,),
)
async def get_form(ctx: ApiContext) -> FormView:
    form = await ctx.platform.forms.get(ctx.path["slug"])
    if form is None:
        raise HTTPError(404, "form_not_found", f"no form with slug {ctx.path['slug']!r}")
    return form_view(ctx.platform, form)


@api.route(
    "GET",
    "/v1/jobs/{job_id}",
    summary="A job's status, output, artifacts, cost and timeline",
    tags=("public",),
    response=JobView,
    errors=(404,),
)
async def get_job(ctx: ApiContext) -> JobView:
    """The job id is a capability (144 random bits): whoever holds the status URL may read that
    one job, without an API key. Form answers are never part of this view."""
    job_id = ctx.path["job_id"]
    job = await ctx.platform.jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise HTTPError(404, "job_not_found", "no such job")
    return await job_view(ctx.platform, job)


# Event ids are a job's timeline sequence numbers: small. Bounded so a hostile id is a 422, not
# a number no store can compare with.
MAX_EVENT_ID = 1_000_000_000


class EventsQuery(Strict):
    after: int | None = Field(
        None,
        ge=0,
        le=MAX_EVENT_ID,
        description="Resume after this event id (the Last-Event-ID header wins; it must be an"
        f" integer 0..{MAX_EVENT_ID} too).",
    )


SSE_HEARTBEAT_SECONDS = 15.0
SSE_MAX_SECONDS = 300.0  # then the browser reconnects with Last-Event-ID


class JobEventMessage(BaseModel):
    """The data of one Server-Sent Events message of ``GET /v1/jobs/{job_id}/events``."""

    seq: int
    type: str
    status: str | None
    stage: str | None
    message: str
    at: datetime
    progress: int = Field(ge=0, le=100)
    label: str
    event: str | None = Field(description="seed 002's message type, for the entries with one.")
    payload: dict[str, Any] | None


def _sse(event: JobEvent, progress: Progress) -> str:
    data = JobEventMessage(
        seq=event.seq,
        type=event.type,
        status=event.status.value if event.status else None,
        stage=event.stage,
        message=event.message,
        at=event.at,
        progress=progress.percent,
        label=progress.label,
        event=SEED_TYPES.get(event.type),
        payload=seed_payload(event) if event.type in SEED_TYPES else None,
    )
    return f"id: {event.seq}\ndata: {json.dumps(data.model_dump(mode='json'))}\n\n"


async def _job_stream(
    request: Request, platform: Platform, job_id: str, after: int
) -> AsyncIterator[str]:
    """Each new timeline entry once, in ``seq`` order (``progress.follow_job``, the reader the
    WebSocket shares); an ``end`` event after the terminal one."""

    async def stop() -> bool:
        return bool(getattr(request.app.state, "draining", False)) or (
            await request.is_disconnected()
        )

    yield "retry: 2000\n\n"
    steps = follow_job(
        platform,
        job_id,
        after,
        stop=stop,
        max_seconds=SSE_MAX_SECONDS,
        heartbeat_seconds=SSE_HEARTBEAT_SECONDS,
    )
    async for step in steps:
        if step is Signal.END:
            yield "event: end\ndata: {}\n\n"
        elif step is Signal.KEEP_ALIVE:
            yield ": keep-alive\n\n"
        else:
            yield _sse(step.event, step.progress)


@api.route(
    "GET",
    "/v1/jobs/{job_id}/events",
    summary="A job's progress, live (Server-Sent Events)",
    tags=("public",),
    query=EventsQuery,
    header_params=(
        (
            "Last-Event-ID",
            {"type": "string", "pattern": "^[0-9]{1,10}$"},
            f"Resume after this event id (0..{MAX_EVENT_ID}); anything else is a 422.",
        ),
    ),
    event_stream=JobEventMessage,
    errors=(404,),
)
async def job_events(ctx: ApiContext) -> Response:
    """The same capability as the status URL: ``text/event-stream``, one message per timeline
    entry (``id`` = its seq, ``data`` = a JobEventMessage), an ``end`` event after job.completed
    / job.failed. Reconnecting clients send ``Last-Event-ID`` (the browser's EventSource does)
    and get only what they missed."""
    job_id = ctx.path["job_id"]
    job = await ctx.platform.jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise HTTPError(404, "job_not_found", "no such job")
    last = ctx.request.headers.get("last-event-id", "").strip()
    after = ctx.query.after or 0
    if last:
        resumed = bounded_int(last, maximum=MAX_EVENT_ID)
        if resumed is None:
            message = f"must be an event id: an integer 0..{MAX_EVENT_ID}"
            raise HTTPError(
                422,
                "validation_error",
                "invalid Last-Event-ID header",
                [ErrorDetail(loc="header.last-event-id", message=message)],
            )
        after = resumed
    return StreamingResponse(
        _job_stream(ctx.request, ctx.platform, job_id, after),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
