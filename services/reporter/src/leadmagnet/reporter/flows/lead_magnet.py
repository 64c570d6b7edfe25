"""Lead-magnet flow, reporter stage.

``job.requested`` (lead magnet) -> AI report (report.md) -> ``report.generated``.
"""

from __future__ import annotations

from typing import Any

from leadmagnet.common.consumer import MessageContext, Route, Routes
from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.events import CloudEvent, spec_of
from leadmagnet.common.events.jobs import JobRequested, ReportGenerated
from leadmagnet.common.ids import stable_id
from leadmagnet.common.jobflow import active_job, generate_text, job_failure_hook
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobStatus
from leadmagnet.common.platform import Platform

from .lead_magnet_prompt import build_report_request

log = get_logger()

STAGE = "report"
MAX_REPORT_BYTES = 512 * 1024


async def write_report(platform: Platform, job: Job, attempt: int) -> dict[str, Any]:
    """The once-per-job side effects: the LLM call, report.md, its artifact and cost."""
    await platform.jobs.record(
        job.job_id,
        "job.processing",
        "writing the report",
        status=JobStatus.PROCESSING,
        stage=STAGE,
        data={"attempt": attempt},
    )
    if not job.workflow_id:
        raise PermanentError("job has no workflow", code="invalid_job")
    workflow = await platform.workflows.get(job.tenant_id, job.workflow_id)
    if workflow is None:
        raise PermanentError(f"workflow {job.workflow_id} not found", code="unknown_workflow")
    fields = await platform.submissions.fields(job.submission_id)
    request = build_report_request(workflow, fields)
    result = await generate_text(platform, job.job_id, request)
    markdown = result.text.strip()
    if not markdown:
        raise TransientError("the model returned an empty report", code="empty_output")
    body = markdown.encode("utf-8")
    if len(body) > MAX_REPORT_BYTES:
        raise PermanentError(
            f"the report is {len(body)} bytes; the limit is {MAX_REPORT_BYTES}",
            code="report_too_large",
        )
    artifact = await platform.artifacts.put(
        tenant_id=job.tenant_id,
        job_id=job.job_id,
        kind="report_markdown",
        filename="report.md",
        body=body,
        content_type="text/markdown; charset=utf-8",
    )
    await platform.jobs.add_artifact(job.job_id, artifact.artifact_id)
    await platform.jobs.record(
        job.job_id,
        "report.generated",
        "report written",
        stage=STAGE,
        data={
            "artifact_id": artifact.artifact_id,
            "provider": result.cost.provider,
            "model": result.cost.model,
            "input_tokens": result.cost.usage.input_tokens,
            "output_tokens": result.cost.usage.output_tokens,
        },
    )
    return {"artifact_id": artifact.artifact_id, "s3_key": artifact.s3_key}


def routes(platform: Platform) -> Routes:
    async def on_job_requested(ctx: MessageContext, event: CloudEvent[Any]) -> None:
        data: JobRequested = event.data
        if data.kind != "lead_magnet":
            raise PermanentError(f"reporter cannot start a {data.kind!r} job", code="bad_kind")
        job = await active_job(platform, data.job_id, data.tenant_id)
        if job is None:
            return
        result, _ = await platform.idempotency.run_once(
            f"{STAGE}#{job.job_id}", ctx, lambda: write_report(platform, job, ctx.receive_count)
        )
        await platform.bus.publish(
            platform.bus.event(
                ReportGenerated(
                    job_id=job.job_id,
                    tenant_id=job.tenant_id,
                    workflow_id=job.workflow_id or "",
                    submission_id=job.submission_id,
                    artifact_id=result["artifact_id"],
                    s3_key=result["s3_key"],
                ),
                subject=job.job_id,
                tenant_id=job.tenant_id,
                correlation_id=event.correlationid,
                event_id=stable_id("evt", job.job_id, "report.generated"),
            )
        )

    return {spec_of(JobRequested).type: Route(on_job_requested, job_failure_hook(platform, STAGE))}
