"""Lead-magnet flow, reporter stage.

``job.requested`` (lead magnet) -> AI report (report.md) -> ``report.generated``.
"""

from __future__ import annotations

from typing import Any

from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.events.jobs import (
    CARRIED_FIELDS_BYTES,
    CARRIED_REPORT_BYTES,
    JobRequested,
    ReportGenerated,
    carried,
)
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import JobStatus, TimelineEvent
from leadmagnet.common.stages import JobStage, Output, StageCall, Start
from leadmagnet.common.stores.artifacts import JobFile

from .lead_magnet_prompt import build_report_request

log = get_logger()

STAGE = "report"
MAX_REPORT_BYTES = 512 * 1024


async def write_report(call: StageCall[JobRequested]) -> dict[str, Any]:
    """The once-per-job side effects: the LLM call, report.md, its artifact and cost."""
    platform, job = call.platform, call.job
    if not job.workflow_id:
        raise PermanentError("job has no workflow", code="invalid_job")
    workflow = await platform.workflows.at(job.tenant_id, job.workflow_id, job.workflow_rev)
    if workflow is None:
        raise PermanentError(f"workflow {job.workflow_id} not found", code="unknown_workflow")
    fields = await platform.submissions.fields_of(job.submission_id, call.data.fields)
    call.handoff["fields"] = fields
    result = await call.generate_text(build_report_request(workflow, fields))
    markdown = result.text.strip()
    if not markdown:
        raise TransientError("the model returned an empty report", code="empty_output")
    body = markdown.encode("utf-8")
    if len(body) > MAX_REPORT_BYTES:
        raise PermanentError(
            f"the report is {len(body)} bytes; the limit is {MAX_REPORT_BYTES}",
            code="report_too_large",
        )
    artifact = await call.put_artifact(
        JobFile(
            kind="report_markdown",
            filename="report.md",
            body=body,
            content_type="text/markdown; charset=utf-8",
        )
    )
    await call.note(
        TimelineEvent.REPORT_GENERATED,
        "report written",
        {
            "artifact_id": artifact.artifact_id,
            "provider": result.cost.provider,
            "model": result.cost.model,
            "input_tokens": result.cost.usage.input_tokens,
            "output_tokens": result.cost.usage.output_tokens,
        },
    )
    call.handoff["markdown"] = markdown
    return {"artifact_id": artifact.artifact_id, "s3_key": artifact.s3_key}


async def report_written(call: StageCall[JobRequested], result: dict[str, Any]) -> list[Output]:
    job = call.job
    return [
        ReportGenerated(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            workflow_id=job.workflow_id or "",
            submission_id=job.submission_id,
            artifact_id=result["artifact_id"],
            s3_key=result["s3_key"],
            # carried when small (not on a replay: the renderer then reads what is stored)
            fields=carried(call.handoff.get("fields"), CARRIED_FIELDS_BYTES),
            markdown=carried(call.handoff.get("markdown"), CARRIED_REPORT_BYTES),
        )
    ]


REPORT = JobStage(
    name=STAGE,
    consumes=(JobRequested,),
    kinds=frozenset({"lead_magnet"}),
    work=write_report,
    then=report_written,
    emits=(ReportGenerated,),
    fails_with=("invalid_job", "unknown_workflow", "empty_output", "report_too_large"),
    starts=Start(TimelineEvent.JOB_PROCESSING, "writing the report", JobStatus.PROCESSING),
)
