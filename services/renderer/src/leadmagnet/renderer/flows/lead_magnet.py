"""Lead-magnet flow, renderer stage.

``report.generated`` -> final.html (published template) -> job completed.
"""

from __future__ import annotations

from typing import Any

from leadmagnet.common.callbacks import arm_gate, check_deadline, open_gate
from leadmagnet.common.consumer import MessageContext, Route, Routes
from leadmagnet.common.errors import NotFoundError, PermanentError
from leadmagnet.common.events import CloudEvent, spec_of
from leadmagnet.common.events.jobs import CallbackDeadline, ReportGenerated
from leadmagnet.common.jobflow import complete_job, job_failure_hook, publish_completed
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobStatus, Workflow, utcnow
from leadmagnet.common.platform import Platform

from ..pool import pool_for

log = get_logger()

STAGE = "render"


async def load_workflow(platform: Platform, job: Job, data: ReportGenerated) -> Workflow:
    workflow = await platform.workflows.get(job.tenant_id, data.workflow_id)
    if workflow is None:
        raise PermanentError(f"workflow {data.workflow_id} not found", code="unknown_workflow")
    return workflow


async def render_job(
    platform: Platform, job: Job, workflow: Workflow, data: ReportGenerated
) -> dict[str, Any]:
    await platform.jobs.record(
        job.job_id, "render.started", "rendering the lead magnet", stage=STAGE
    )
    if not workflow.template_id:
        raise PermanentError(f"workflow {workflow.workflow_id} has no template", code="no_template")
    try:
        template = await platform.templates.resolve(
            job.tenant_id, workflow.template_id, workflow.template_version
        )
    except NotFoundError as e:
        raise PermanentError(e.message, code="template_unavailable") from None
    if template.status != "published":
        raise PermanentError(
            f"template {workflow.template_id} v{template.version} is not published",
            code="template_unpublished",
        )
    report = (await platform.artifacts.read(data.s3_key)).decode("utf-8", errors="replace")
    fields = await platform.submissions.fields(job.submission_id)
    # Off the event loop, in a worker process with a CPU/memory/output budget (render_limit).
    html = await pool_for(platform.settings).render(
        str(template.body.get("html", "")), report, fields, utcnow().date()
    )
    artifact = await platform.artifacts.put(
        tenant_id=job.tenant_id,
        job_id=job.job_id,
        kind="final_html",
        filename="final.html",
        body=html.encode("utf-8"),
        content_type="text/html; charset=utf-8",
        public=True,
    )
    await platform.jobs.add_artifact(job.job_id, artifact.artifact_id)
    return {
        "output_key": artifact.s3_key,
        "artifact_id": artifact.artifact_id,
        "template_version": template.version,
    }


def routes(platform: Platform) -> Routes:
    async def on_report_generated(ctx: MessageContext, event: CloudEvent[Any]) -> None:
        data: ReportGenerated = event.data
        job = await platform.jobs.get(data.job_id)
        if job is None or job.tenant_id != data.tenant_id:
            log.warning("render.unknown_job", job_id=data.job_id)
            return
        if job.status is JobStatus.COMPLETED:
            # A crash after completing but before publishing: publish again (same event id).
            await publish_completed(platform, job)
            return
        if job.status is JobStatus.FAILED:
            return
        workflow = await load_workflow(platform, job, data)  # one read serves render and gate
        result, _ = await platform.idempotency.run_once(
            f"{STAGE}#{job.job_id}", ctx, lambda: render_job(platform, job, workflow, data)
        )
        if workflow.await_callback is not None:
            fields = await platform.submissions.fields(job.submission_id)
            gate = workflow.await_callback
            token = await open_gate(
                platform, job, gate, fields, step="delivery", output_key=result["output_key"]
            )
            await platform.idempotency.run_once(
                f"gate#{job.job_id}", ctx, lambda: arm_gate(platform, job, token, gate.calls)
            )
            return
        await complete_job(
            platform,
            job.job_id,
            output_key=result["output_key"],
            data={"template_version": result["template_version"]},
        )

    async def on_callback_deadline(ctx: MessageContext, event: CloudEvent[Any]) -> None:
        await check_deadline(platform, event.data)

    hook = job_failure_hook(platform, STAGE)
    return {
        spec_of(ReportGenerated).type: Route(on_report_generated, hook),
        spec_of(CallbackDeadline).type: Route(on_callback_deadline, hook),
    }
