"""Job lifecycle shared by every flow: finishing, failing, and the consumer failure hook.

``job.completed`` / ``job.failed`` carry stable event ids derived from the job, so a re-publish
after a crash is recognisably the same event (``source + id``) and downstream stays idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import metrics, tracing
from .consumer import FailedMessage, FailureHook
from .errors import ConflictError, LeadmagnetError
from .events.jobs import ArtifactRef, CostSummary, JobCompleted, JobFailed
from .ids import stable_id
from .logging import get_logger
from .models import Artifact, Job, JobStatus, TimelineEvent, utcnow
from .money import micros_to_usd
from .platform import Platform
from .providers.base import CallCost, Provider, TextRequest, TextResult
from .stores.artifacts import JobFile
from .tenant_limits import within_model_slot

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


def registered_artifacts(job: Job) -> list[Artifact]:
    """The files the job's stage runs recorded on the job item, once each."""
    by_id = {r["artifact_id"]: r for r in job.artifact_refs}
    own = {"job_id": job.job_id, "tenant_id": job.tenant_id}  # left out as they are stored
    return [Artifact.model_validate({**r, **own}) for r in by_id.values()]


async def job_artifacts(platform: Platform, job: Job) -> list[Artifact]:
    """Every file of the job not withdrawn: registered on the job item, or recorded in the
    artifacts table (files stored outside a stage run)."""
    return await platform.artifacts.list_for_job(job.job_id, registered_artifacts(job))


async def completed_artifacts(platform: Platform, job: Job) -> list[Artifact]:
    """The files of a completed job: as its stages registered them on the job item (no
    listing), or listed when none or only some were registered that way."""
    refs = {a.artifact_id: a for a in registered_artifacts(job)}
    if job.artifact_ids and set(job.artifact_ids) <= set(refs):
        return [refs[i] for i in job.artifact_ids]
    # None registered (files stored around the runtime), or some registered another way.
    return await job_artifacts(platform, job)


async def publish_completed(platform: Platform, job: Job) -> None:
    artifacts = await completed_artifacts(platform, job)
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
        job = await platform.jobs.transition(
            job_id,
            TimelineEvent.JOB_COMPLETED,
            message,
            status=JobStatus.COMPLETED,
            stage="completed",
            set_fields={"output_key": output_key} if output_key else None,
            data=data,
        )
    except ConflictError:
        job = await platform.jobs.require(job_id)
        if job.status is JobStatus.CANCELLED:
            # Cancelled while its last stage ran: the stage finished, nothing is delivered.
            log.info("job.cancelled_before_completion", job_id=job_id)
            return job
        if job.status is not JobStatus.COMPLETED:
            raise
    else:  # counted where the transition happened, never on a replay
        count_job(platform, "JobsCompleted", job)
    await publish_completed(platform, job)
    return job


def failed_event_id(job: Job) -> str:
    """``job.failed``'s id: stable per job and attempt (a retried job that fails again sends a
    new outcome, which receivers must not dedupe away)."""
    attempt = (f"retry{job.retries}",) if job.retries else ()
    return stable_id("evt", job.job_id, "job.failed", *attempt)


async def fail_job(
    platform: Platform,
    job_id: str,
    *,
    code: str,
    message: str,
    stage: str | None = None,
    retry_event: str | None = None,
) -> Job | None:
    """Mark failed with ``error_message`` (once) and publish ``job.failed``; ``retry_event``
    (the failing stage's input, as JSON) makes the failure retryable."""
    job = await platform.jobs.fail(
        job_id, code=code, message=message, stage=stage, retry_event=retry_event
    )
    if job is None:
        job = await platform.jobs.get(job_id)
        if job is None or job.status is not JobStatus.FAILED:
            return None  # unknown, or already completed or cancelled: nothing to fail
    else:  # counted where the transition happened, never on a replay
        count_job(platform, "JobsFailed", job)
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
            event_id=failed_event_id(job),
        )
    )
    log.warning("job.failed", job_id=job.job_id, error_code=code, stage=stage)
    await withdraw_deliverables(platform, job.job_id)
    return job


async def withdraw_deliverables(platform: Platform, job_id: str) -> None:
    """A failed job delivers nothing (``stores.jobs.delivers``): delete what it produced.

    Views hide deliverables of a failed job anyway; deleting them makes the rule hold for links
    handed out earlier too. The job is read here, consistently, for the files its runs
    registered up to now (a rare path: failures and cancellations). Best effort after
    ``job.failed`` is out (the notifier withdraws again when it writes the failure's files,
    catching a parallel branch's late write), so a storage hiccup here never keeps the failure
    from being announced.
    """
    try:
        job = await platform.jobs.get(job_id)
        registered = registered_artifacts(job) if job is not None else []
        withdrawn = await platform.artifacts.withdraw_for_job(job_id, registered)
    except Exception as e:  # logged; the notifier's pass retries
        log.warning("job.withdraw_failed", job_id=job_id, error=type(e).__name__)
        return
    if withdrawn:
        log.info("job.deliverables_withdrawn", job_id=job_id, count=withdrawn)


def count_job(platform: Platform, metric: str, job: Job) -> None:
    """``JobsStarted`` / ``JobsCompleted`` / ``JobsFailed`` for ``job`` (see ``metrics``)."""
    metrics.job_counted(
        metric, service=platform.service, job_id=job.job_id, kind=job.kind, tenant_id=job.tenant_id
    )


# A stage's input is ids and keys (a few hundred bytes); anything near this is not one to keep.
MAX_RETRY_EVENT_BYTES = 16 * 1024


def retry_event_of(failed: FailedMessage) -> str | None:
    """The failed message's event as JSON, for a retry to re-publish; None when there is none
    to re-run (unparseable or unroutable messages, oversized events)."""
    if failed.event is None or failed.poison:
        return None
    text = failed.event.model_dump_json()
    return text if len(text.encode()) <= MAX_RETRY_EVENT_BYTES else None


def job_failure_hook(platform: Platform, stage: str, *, retryable: bool = True) -> FailureHook:
    """Consumer failure hook: a message that can no longer succeed fails its job. With
    ``retryable`` the failing event is kept on the job for ``POST /v1/jobs/{id}/retry``."""

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
            platform,
            job.job_id,
            code=failed.error.code,
            message=failed.error.message,
            stage=stage,
            retry_event=retry_event_of(failed) if retryable else None,
        )

    return hook


async def generate_text(
    platform: Platform,
    job: Job,
    request: TextRequest,
    *,
    provider: Provider | None = None,
    charge: Callable[[CallCost], None] | None = None,
) -> TextResult:
    """One text/vision call charged to the job, whether it succeeds or fails (a failed call that
    the provider billed carries its cost on the error). ``charge``: collect the cost for a
    later write instead (the stage runtime writes it with the stage's result)."""
    job_id = job.job_id

    async def charged(cost: CallCost) -> None:
        if charge is not None:
            charge(cost)
        else:
            await platform.jobs.add_cost(job_id, cost)

    provider = provider or platform.providers.text
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider.name,
        "gen_ai.request.model": request.model,
        "leadmagnet.job_id": job_id,
    }
    with tracing.span("chat", attributes, kind=tracing.SpanKind.CLIENT) as span:
        try:
            # one of the tenant's model slots (over every replica) for the call: TenantBusy defers
            result = await within_model_slot(
                platform, job.tenant_id, provider, lambda: provider.generate_text(request)
            )
        except LeadmagnetError as e:
            spent = getattr(e, "cost", None)
            if isinstance(spent, CallCost):
                span.set_attributes(tracing.call_cost_attributes(spent))
                metrics.model_called(spent, service=platform.service, job_id=job_id)
                await charged(spent)
            raise
        span.update_name(f"chat {result.cost.model}")  # the GenAI conventions' span name
        span.set_attributes(tracing.call_cost_attributes(result.cost))
    metrics.model_called(result.cost, service=platform.service, job_id=job_id)
    await charged(result.cost)
    return result


async def store_artifact(
    platform: Platform,
    job: Job,
    file: JobFile,
    *,
    register: Callable[[Artifact], None] | None = None,
) -> Artifact:
    """Store a file of the job and register it on the job (views list what is registered):
    the one way a stage writes a deliverable (``StageCall.put_artifact`` is this).
    ``register``: collect the registration for a later write (the stage runtime's)."""
    artifact = await platform.artifacts.store(job.tenant_id, job.job_id, file)
    if register is not None:  # recorded on the job item with the run's result
        register(artifact)
    else:
        await platform.artifacts.record(artifact)
        await platform.jobs.add_artifact(job.job_id, artifact.artifact_id)
    return artifact
