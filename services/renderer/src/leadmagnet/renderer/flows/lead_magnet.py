"""Lead-magnet flow, renderer stage.

``report.generated`` -> final.html (published template) -> job completed.
"""

from __future__ import annotations

from typing import Any

from leadmagnet.common.consumer import MessageContext
from leadmagnet.common.errors import NotFoundError, PermanentError
from leadmagnet.common.events.jobs import CallbackDeadline, JobCompleted, JobFailed, ReportGenerated
from leadmagnet.common.jobflow import job_failure_hook, publish_completed
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobStatus, TimelineEvent, Workflow, utcnow
from leadmagnet.common.platform import Platform
from leadmagnet.common.stages import (
    ACTIVE,
    Complete,
    EventStage,
    JobStage,
    Output,
    StageCall,
    Start,
)
from leadmagnet.common.stores.artifacts import JobFile
from leadmagnet.flows.gates import arm_gate, check_deadline, open_gate

from ..pool import pool_for

log = get_logger()

STAGE = "render"


async def load_workflow(platform: Platform, job: Job, data: ReportGenerated) -> Workflow:
    workflow = await platform.workflows.at(job.tenant_id, data.workflow_id, job.workflow_rev)
    if workflow is None:
        raise PermanentError(f"workflow {data.workflow_id} not found", code="unknown_workflow")
    return workflow


async def render_job(call: StageCall[ReportGenerated]) -> dict[str, Any]:
    platform, job, data = call.platform, call.job, call.data
    workflow = await load_workflow(platform, job, data)
    if not workflow.template_id:
        raise PermanentError(f"workflow {workflow.workflow_id} has no template", code="no_template")
    # The workflow's pinned version, else the one published when the job was submitted (kept
    # by this process once read), else the newest published one.
    version = workflow.template_version or job.data.get("template_version")
    try:
        template = await platform.templates.resolve(job.tenant_id, workflow.template_id, version)
    except NotFoundError as e:
        raise PermanentError(e.message, code="template_unavailable") from None
    if template.status != "published":
        raise PermanentError(
            f"template {workflow.template_id} v{template.version} is not published",
            code="template_unpublished",
        )
    report = data.markdown
    if report is None:  # not carried (too large, or a replay's event): the stored report
        report = (await platform.artifacts.read(data.s3_key)).decode("utf-8", errors="replace")
    fields = await platform.submissions.fields_of(job.submission_id, data.fields)
    # Off the event loop, in a worker process with a CPU/memory/output budget (render_limit).
    html = await pool_for(platform.settings).render(
        str(template.body.get("html", "")), report, fields, utcnow().date()
    )
    artifact = await call.put_artifact(
        JobFile(
            kind="final_html",
            filename="final.html",
            body=html.encode("utf-8"),
            content_type="text/html; charset=utf-8",
            public=True,
        )
    )
    return {
        "output_key": artifact.s3_key,
        "artifact_id": artifact.artifact_id,
        "template_version": template.version,
        "gated": workflow.await_callback is not None,
    }


async def deliver_or_gate(call: StageCall[ReportGenerated], result: dict[str, Any]) -> list[Output]:
    """Complete the job, or hold it at its approval gate (seed 004) until the callback."""
    platform, job = call.platform, call.job
    if job.status is JobStatus.COMPLETED:
        # A crash after completing but before publishing: publish again (same event id).
        await publish_completed(platform, job)
        return []
    if result.get("gated", True):
        workflow = await load_workflow(platform, job, call.data)
        gate = workflow.await_callback
        if gate is not None:
            fields = await platform.submissions.fields_of(job.submission_id, call.data.fields)
            token = await open_gate(
                platform, job, gate, fields, step="delivery", output_key=result["output_key"]
            )
            await call.once("gate", lambda: arm_gate(platform, job, token, gate.calls))
            return []
    return [
        Complete(
            output_key=result["output_key"],
            data={"template_version": result["template_version"]},
        )
    ]


async def on_callback_deadline(
    platform: Platform, ctx: MessageContext, data: CallbackDeadline
) -> list[Output]:
    await check_deadline(platform, data)
    return []


RENDER = JobStage(
    name=STAGE,
    consumes=(ReportGenerated,),
    kinds=frozenset({"lead_magnet"}),
    work=render_job,
    then=deliver_or_gate,
    emits=(JobCompleted, JobFailed, CallbackDeadline),  # the gate: its deadline, a failed call
    fails_with=("unknown_workflow", "no_template", "template_unavailable", "template_unpublished"),
    # A completed job still gets its job.completed re-published (a crash between the two).
    statuses=ACTIVE | {JobStatus.COMPLETED},
    starts=Start(TimelineEvent.RENDER_STARTED, "rendering the lead magnet"),
)

DEADLINE = EventStage(
    name="gate_deadline",
    consumes=(CallbackDeadline,),
    handle=on_callback_deadline,
    identity=lambda data: (data.job_id,),
    emits=(CallbackDeadline, JobFailed, JobCompleted),
    # A deadline check is not a stage input: a failed one has nothing for a retry to re-run.
    on_failure=lambda platform: job_failure_hook(platform, STAGE, retryable=False),
)
