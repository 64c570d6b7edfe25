"""Public endpoints: form submission and the job status capability link."""

from __future__ import annotations

from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.formcheck import validate_submission
from leadmagnet.common.ids import new_job_id, random_id
from leadmagnet.common.jobflow import fail_job
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, Submission

from ..api import ApiContext, ErrorDetail, HTTPError
from ..views import FormView, JobAccepted, JobView, form_view, job_view, status_url
from . import api

log = get_logger()

SUBMISSION_SCHEMA = {
    "type": "object",
    "description": "The form's fields (see GET /v1/forms/{slug}); unknown fields are refused.",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}
HONEYPOT_FIELD = "website_url_hp"


async def accept_submission(
    ctx: ApiContext, slug: str, payload: object, *, correlation_id: str | None = None
) -> JobAccepted:
    """Validate, store the submission and the pending job, publish ``job.requested``."""
    platform = ctx.platform
    form = await platform.forms.get(slug)
    if form is None:
        raise HTTPError(404, "form_not_found", f"no form with slug {slug!r}")
    if not isinstance(payload, dict):
        raise HTTPError(422, "validation_error", "the body must be a JSON object of form fields")
    clean, errors = validate_submission(form, payload, ignore=frozenset({HONEYPOT_FIELD}))
    if errors:
        raise HTTPError(
            422,
            "validation_error",
            "some fields are invalid",
            [ErrorDetail(loc=f"body.{name}", message=msg) for name, msg in sorted(errors.items())],
        )
    workflow = await platform.workflows.get(form.tenant_id, form.workflow_id)
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
    await platform.submissions.put(submission)
    job = Job(
        job_id=job_id,
        tenant_id=form.tenant_id,
        kind=workflow.kind,
        workflow_id=workflow.workflow_id,
        submission_id=submission.submission_id,
        form_slug=form.slug,
    )
    await platform.jobs.create(job, message=f"submitted through form {form.slug}")
    event = platform.bus.event(
        JobRequested(
            job_id=job_id,
            tenant_id=job.tenant_id,
            kind=job.kind,
            workflow_id=job.workflow_id,
            submission_id=submission.submission_id,
        ),
        subject=job_id,
        tenant_id=job.tenant_id,
        correlation_id=correlation_id,
    )
    try:
        await platform.bus.publish(event)
    except Exception as e:
        log.error("submit.publish_failed", job_id=job_id, error=str(e))
        await fail_job(
            platform, job_id, code="enqueue_failed", message="the job could not be queued"
        )
        raise HTTPError(503, "unavailable", "the job could not be queued; try again") from None
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
    errors=(404, 409, 503),
)
async def submit_form(ctx: ApiContext) -> JobAccepted:
    """Validates the fields against the form's schema (422 lists each invalid field), stores the
    submission and a pending job, and returns its unguessable status URL."""
    return await accept_submission(
        ctx, ctx.path["slug"], ctx.body, correlation_id=ctx.request.headers.get("x-request-id")
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
