"""Operator actions on a job: cancel a job that has not finished, retry a failed one.

Cancel moves the job to ``cancelled`` (a final state) with one conditional write: a stage that
is running finishes its work, and the stage runtime then publishes nothing after it (the write
that stores the work's result is refused on a cancelled job); later deliveries are acknowledged
without work (the guard's statuses). The job's open approval gate is released, what it stored
is withdrawn, and ``job.cancelled`` (the only outcome it sends) goes out with an id stable per
job.

Retry re-publishes the failing stage's input event, kept on the job by the stage failure hook,
with a new id. Stages that had completed replay their stored results (their run records on the
job), the failed stage's record was released when it failed, so only it runs again; the
files the job's finished stages stored (withdrawn when it failed) are restored first.
"""

from __future__ import annotations

from typing import Any

from leadmagnet.common.errors import ConflictError, PermanentError, TransientError
from leadmagnet.common.events import CloudEvent, PoisonMessage, parse_event
from leadmagnet.common.events.jobs import JobCancelled
from leadmagnet.common.ids import random_id, stable_id
from leadmagnet.common.jobflow import fail_job, withdraw_deliverables
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobStatus, TimelineEvent, utcnow
from leadmagnet.common.platform import Platform

from .gates import release_gate

log = get_logger()


class ActionRefused(Exception):
    """The job's state forbids the action: ``code`` and ``message`` say why (a 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _ended(job: Job) -> str:
    if job.status is JobStatus.COMPLETED:
        return "it has completed"
    if job.status is JobStatus.FAILED:
        return f"it has failed ({job.error_code or 'error'}): retry it instead"
    return f"it is {job.status.value}"


async def cancel_job(platform: Platform, job: Job) -> Job:
    """Cancel ``job`` (idempotent: a cancelled job is answered as it is, and its follow-ups are
    redone, so a repeat finishes a cancellation a crash interrupted)."""
    try:
        cancelled = await platform.jobs.transition(
            job.job_id,
            TimelineEvent.JOB_CANCELLED,
            f"cancelled by its owner (it was {job.status.value})",
            status=JobStatus.CANCELLED,
            data={"was": job.status.value, "stage": job.stage},
        )
    except ConflictError:
        cancelled = await platform.jobs.require(job.job_id)
        if cancelled.status is not JobStatus.CANCELLED:
            raise ActionRefused(
                "not_cancellable", f"job {job.job_id} cannot be cancelled: {_ended(cancelled)}"
            ) from None
    if await release_gate(platform, cancelled):
        log.info("job.gate_released", job_id=job.job_id)
    await withdraw_deliverables(platform, job.job_id)
    event = platform.bus.event(
        JobCancelled(
            job_id=cancelled.job_id,
            tenant_id=cancelled.tenant_id,
            kind=cancelled.kind,
            workflow_id=cancelled.workflow_id,
            stage=cancelled.stage,
            cancelled_at=cancelled.updated_at,
        ),
        subject=cancelled.job_id,
        tenant_id=cancelled.tenant_id,
        event_id=stable_id("evt", cancelled.job_id, "job.cancelled"),
    )
    try:
        await platform.bus.publish(event)
    except Exception as e:  # the job is cancelled; a repeat cancel announces it again
        log.error("job.cancel_not_announced", job_id=job.job_id, error=str(e))
        raise TransientError("job.cancelled could not be published") from None
    return cancelled


def _retry_event(job: Job) -> CloudEvent[Any]:
    if job.status is not JobStatus.FAILED:
        now = _ended(job) if job.status.terminal else f"it is still {job.status.value}"
        raise ActionRefused(
            "not_failed", f"job {job.job_id} cannot be retried: only a failed job can, and {now}"
        )
    if not job.retry_event:
        raise ActionRefused(
            "not_retryable",
            f"job {job.job_id} failed with {job.error_code or 'error'}, which a retry cannot "
            "redo (a rejected or expired approval gate is a decision, not a fault; a job that "
            "could not be queued or read has no stage to re-run): submit it again",
        )
    try:
        return parse_event(job.retry_event)
    except PoisonMessage as e:
        raise ActionRefused("not_retryable", f"its failed step cannot be read: {e}") from None


async def retry_job(platform: Platform, job: Job) -> Job:
    """Re-run a failed job from its failed stage. ActionRefused when it is not a failed job
    with a stage to re-run, or when what its finished stages stored is gone."""
    event = _retry_event(job)
    try:
        await platform.artifacts.restore_for_job(job.job_id)
    except PermanentError as e:
        await withdraw_deliverables(platform, job.job_id)  # what did come back goes again
        raise ActionRefused(
            "not_retryable", f"job {job.job_id} cannot be retried: {e.message}"
        ) from None
    try:
        reopened = await platform.jobs.reopen(
            job.job_id, job.tenant_id, f"retried from {job.stage or 'its failed stage'}"
        )
    except ConflictError:
        latest = await platform.jobs.require(job.job_id)
        raise ActionRefused(
            "retry_conflict",
            f"job {job.job_id} was not retried: it is {latest.status.value} now (another retry "
            "took it first)",
        ) from None
    again = event.model_copy(update={"id": random_id("evt"), "time": utcnow()})
    try:
        await platform.bus.publish(again)
    except Exception as e:  # nothing would pick it up: failed again, retryable as before
        log.error("job.retry_not_queued", job_id=job.job_id, error=str(e))
        await fail_job(
            platform,
            job.job_id,
            code="enqueue_failed",
            message="the retry could not be queued; retry again",
            stage=job.stage,
            retry_event=job.retry_event,
        )
        raise TransientError("the retry could not be queued; try again") from None
    log.info("job.retried", job_id=job.job_id, event_type=event.type, retries=reopened.retries)
    return reopened
