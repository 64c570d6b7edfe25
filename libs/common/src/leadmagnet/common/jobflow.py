"""Job lifecycle shared by every flow: finishing, failing, and the consumer failure hook.

``job.completed`` / ``job.failed`` carry stable event ids derived from the job, so a re-publish
after a crash is recognisably the same event (``source + id``) and downstream stays idempotent.
"""

from __future__ import annotations

from typing import Any

from .consumer import FailedMessage, FailureHook
from .errors import ConflictError, LeadmagnetError
from .events.jobs import ArtifactRef, CostSummary, JobCompleted, JobFailed
from .ids import stable_id
from .logging import get_logger
from .models import Artifact, Job, JobStatus, utcnow
from .money import micros_to_usd
from .platform import Platform
from .providers.base import CallCost, Provider, TextRequest, TextResult

log = get_logger()


def cost_summary(job: Job) -> CostSummary:
    return CostSummary(
        total_micros=job.cost_micros,
        total_usd=micros_to_usd(job.cost_micros),
        calls=len(job.cost_calls),
    )


async def artifact_refs(platform: Platform, artifacts: list[Artifact]) -> list[ArtifactRef]:
    return [
        ArtifactRef(
            artifact_id=a.artifact_id,
            kind=a.kind,
            content_type=a.content_type,
            size_bytes=a.size_bytes,
            url=await platform.artifacts.url(a.s3_key),
        )
        for a in sorted(artifacts, key=lambda a: a.kind)
    ]


async def publish_completed(platform: Platform, job: Job) -> None:
    artifacts = await platform.artifacts.list_for_job(job.job_id)
    event = platform.bus.event(
        JobCompleted(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            kind=job.kind,
            workflow_id=job.workflow_id,
            output_url=await platform.artifacts.url(job.output_key) if job.output_key else None,
            artifacts=await artifact_refs(platform, artifacts),
            cost=cost_summary(job),
            completed_at=job.completed_at or utcnow(),
        ),
        subject=job.job_id,
        tenant_id=job.tenant_id,
        event_id=stable_id("evt", job.job_id, "job.completed"),
    )
    await platform.bus.publish(event)


async def complete_job(
    platform: Platform,
    job_id: str,
    *,
    output_key: str | None,
    message: str = "job completed",
    data: dict[str, Any] | None = None,
) -> Job:
    """Mark completed (once) and publish ``job.completed`` (again, if a retry gets here)."""
    try:
        job = await platform.jobs.record(
            job_id,
            "job.completed",
            message,
            status=JobStatus.COMPLETED,
            stage="completed",
            set_fields={"output_key": output_key} if output_key else None,
            data=data,
        )
    except ConflictError:
        job = await platform.jobs.require(job_id)
        if job.status is not JobStatus.COMPLETED:
            raise
    await publish_completed(platform, job)
    return job


async def fail_job(
    platform: Platform, job_id: str, *, code: str, message: str, stage: str | None = None
) -> Job | None:
    """Mark failed with ``error_message`` (once) and publish ``job.failed``."""
    job = await platform.jobs.fail(job_id, code=code, message=message, stage=stage)
    if job is None:
        job = await platform.jobs.get(job_id)
        if job is None or job.status is not JobStatus.FAILED:
            return None  # unknown, or already completed: nothing to fail
    await platform.bus.publish(
        platform.bus.event(
            JobFailed(
                job_id=job.job_id,
                tenant_id=job.tenant_id,
                kind=job.kind,
                workflow_id=job.workflow_id,
                stage=job.stage,
                error_code=job.error_code or code,
                error_message=job.error_message or message,
                failed_at=job.failed_at or utcnow(),
            ),
            subject=job.job_id,
            tenant_id=job.tenant_id,
            event_id=stable_id("evt", job.job_id, "job.failed"),
        )
    )
    log.warning("job.failed", job_id=job.job_id, error_code=code, stage=stage)
    await withdraw_deliverables(platform, job.job_id)
    return job


async def withdraw_deliverables(platform: Platform, job_id: str) -> None:
    """A failed job delivers nothing (``stores.jobs.delivers``): delete what it produced.

    Views hide deliverables of a failed job anyway; deleting them makes the rule hold for links
    handed out earlier too. Best effort after ``job.failed`` is out (the notifier withdraws
    again when it writes the failure's files, catching a parallel branch's late write), so a
    storage hiccup here never keeps the failure from being announced.
    """
    try:
        withdrawn = await platform.artifacts.withdraw_for_job(job_id)
    except Exception as e:  # logged; the notifier's pass retries
        log.warning("job.withdraw_failed", job_id=job_id, error=type(e).__name__)
        return
    if withdrawn:
        log.info("job.deliverables_withdrawn", job_id=job_id, count=withdrawn)


def job_failure_hook(platform: Platform, stage: str) -> FailureHook:
    """Consumer failure hook: a message that can no longer succeed fails its job."""

    async def hook(failed: FailedMessage) -> None:
        if not failed.subject:
            log.warning("failure_hook.no_job", error=failed.error.message)
            return
        job = await platform.jobs.get(failed.subject)
        if job is None:
            log.warning("failure_hook.unknown_job", job_id=failed.subject)
            return
        if failed.tenant_id and failed.tenant_id != job.tenant_id:
            log.error("failure_hook.tenant_mismatch", job_id=job.job_id)
            return
        await fail_job(
            platform, job.job_id, code=failed.error.code, message=failed.error.message, stage=stage
        )

    return hook


async def active_job(platform: Platform, job_id: str, tenant_id: str | None) -> Job | None:
    """The job if it may still make progress; None (and a log line) for finished/unknown jobs,
    so duplicate or late deliveries are acknowledged without work."""
    job = await platform.jobs.get(job_id)
    if job is None:
        log.warning("job.unknown", job_id=job_id)
        return None
    if tenant_id and job.tenant_id != tenant_id:
        log.error("job.tenant_mismatch", job_id=job_id)
        return None
    if job.status.terminal:
        log.info("job.already_final", job_id=job_id, status=job.status.value)
        return None
    return job


async def generate_text(
    platform: Platform, job_id: str, request: TextRequest, *, provider: Provider | None = None
) -> TextResult:
    """One text/vision call charged to the job, whether it succeeds or fails (a failed call that
    the provider billed carries its cost on the error)."""
    try:
        result = await (provider or platform.providers.text).generate_text(request)
    except LeadmagnetError as e:
        spent = getattr(e, "cost", None)
        if isinstance(spent, CallCost):
            await platform.jobs.add_cost(job_id, spent)
        raise
    await platform.jobs.add_cost(job_id, result.cost)
    return result
