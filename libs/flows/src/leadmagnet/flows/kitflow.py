"""Product-kit lifecycle shared by its stages: progress messages (timeline + ``job.progress`` on
the topic, both with the seed's message types) and the join of the parallel branches.

The join is a DynamoDB string set on the job item: each branch ADDs its name (idempotent, so a
duplicate delivery changes nothing) and the one that sees every branch in the set completes the
job (itself guarded: a job completes once). Branches can finish in any order.

The branch that completes does so in its run's own final write (``Complete``, folded into the
stage runtime's one write with the run's result), never before it: a job completed while a
branch's run is still open would have that run's result refused as if the kit had ended under
it. For the same reason a branch waits (``Deferred``) while the other one has joined but its run
is not written yet (a few milliseconds, or a crash in between: then until its redelivery).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from leadmagnet.common.consumer import FailedMessage, FailureHook
from leadmagnet.common.dynamo import values
from leadmagnet.common.errors import ConflictError, Deferred
from leadmagnet.common.events import spec_of
from leadmagnet.common.events.jobs import JobCompleted
from leadmagnet.common.events.products import (
    GeneratedAssets,
    JobProgress,
    ProductConfirmed,
    ProgressType,
)
from leadmagnet.common.ids import stable_id
from leadmagnet.common.jobflow import (
    complete_job,
    completed_artifacts,
    job_failure_hook,
    withdraw_deliverables,
)
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Artifact, Job, JobStatus, TimelineEvent, utcnow
from leadmagnet.common.products import (
    BRANCHES,
    PRODUCT_KIND,
    ProductPreferences,
    generated_key,
    kit_asset_keys,
)
from leadmagnet.common.stages import Complete, JobStage, Output, StageCall

if TYPE_CHECKING:
    from leadmagnet.common.platform import Platform

log = get_logger()


def progress_event(
    job_id: str,
    tenant_id: str,
    type_: ProgressType,
    *,
    stage: str | None,
    progress: int,
    payload: dict[str, Any],
) -> JobProgress:
    """The seed's message as the public ``job.progress`` event's data."""
    return JobProgress(
        job_id=job_id,
        tenant_id=tenant_id,
        kind=PRODUCT_KIND,
        type=type_,
        stage=stage,
        progress=progress,
        payload={"jobId": job_id, **payload},
    )


def complete_event_id(job_id: str) -> str:
    """``job.complete``'s id: the one the stage runtime gives the branch's output (a join
    redone after a crash publishes it again under the same id)."""
    return stable_id("evt", job_id, spec_of(JobProgress).name)


async def publish_progress(
    platform: Platform,
    job_id: str,
    tenant_id: str,
    type_: ProgressType,
    *,
    stage: str | None,
    progress: int,
    payload: dict[str, Any],
    id_parts: tuple[str, ...] = (),
    event_id: str | None = None,
) -> None:
    """The seed's message on the topic as the public ``job.progress`` event, with a stable id
    per step (``type_`` and ``id_parts``), so a redone step is recognisably the same event."""
    await platform.bus.publish(
        platform.bus.event(
            progress_event(
                job_id, tenant_id, type_, stage=stage, progress=progress, payload=payload
            ),
            subject=job_id,
            tenant_id=tenant_id,
            event_id=event_id or stable_id("evt", job_id, "job.progress", type_, *id_parts),
        )
    )


# The kit's timeline steps and the seed's message type each one is sent as (same names).
SEED_STEPS: dict[TimelineEvent, ProgressType] = {
    TimelineEvent.JOB_ANALYZING: "job.analyzing",
    TimelineEvent.JOB_ANALYSIS_COMPLETE: "job.analysis_complete",
    TimelineEvent.JOB_GENERATING: "job.generating",
}


async def report_progress(
    platform: Platform,
    job_id: str,
    tenant_id: str,
    step: TimelineEvent,
    message: str,
    *,
    progress: int,
    stage: str,
    payload: dict[str, Any] | None = None,
    status: JobStatus | None = None,
    expected_status: set[JobStatus] | None = None,
    set_fields: dict[str, Any] | None = None,
) -> None:
    """One progress step: a timeline entry (what SSE streams) and the same message on the topic
    (a stable event id per step, so a redone step is recognisably the same event)."""
    await platform.jobs.record(
        job_id,
        step,
        message,
        status=status,
        stage=stage,
        data={"progress": progress, **({"payload": payload} if payload else {})},
        expected_status=expected_status,
        set_fields=set_fields,
    )
    await publish_progress(
        platform,
        job_id,
        tenant_id,
        SEED_STEPS[step],
        stage=stage,
        progress=progress,
        # exactly the SSE message's payload (gateway: progress.seed_payload)
        payload={**(payload or {}), "progress": progress},
        id_parts=(stage,),
    )


def run_scope(branch: str) -> str:
    """A branch's run record on the job (``run:kit-<branch>``)."""
    return f"kit-{branch}"


async def join(platform: Platform, job_id: str, branch: str) -> Job | None:
    """Mark one branch done: the job as that write left it once every branch is, else None.
    Raises ``Deferred`` while another branch has joined but its run is still open."""
    item = await platform.jobs.jobs.update(
        {"job_id": job_id},
        UpdateExpression="ADD branches_done :b",
        ConditionExpression="attribute_exists(job_id)",
        ExpressionAttributeValues=values(b={branch}),
        ReturnValues="ALL_NEW",
    )
    done = set(item.get("branches_done") or [])
    log.info("kit.branch_done", job_id=job_id, branch=branch, done=sorted(done))
    if not done >= set(BRANCHES):
        return None
    job = Job.model_validate(item)
    open_runs = [
        b
        for b in BRANCHES
        if b != branch and (job.runs.get(run_scope(b)) or {}).get("state") == "running"
    ]
    if open_runs and not job.status.terminal:
        raise Deferred(
            f"kit {job_id}: branch {', '.join(open_runs)} joined but its run is not written yet",
            code="kit_join_wait",
            retry_after=1.0,
        )
    return job


def completion_data(keys: dict[str, Any], assets: dict[str, Any]) -> dict[str, Any]:
    """``job.completed``'s timeline data: the SSE stream sends data.assets as job.complete's
    payload.assets (URLs minted now: see GeneratedAssets for how long they live); the keys
    stay on record."""
    return {"assets": assets, "asset_keys": keys, "progress": 100}


async def finish_branch(platform: Platform, job_id: str, branch: str) -> bool:
    """Mark one branch done; complete the job when all are (on its own write: a join redone
    after the branch's run was written). True if the job is complete."""
    job = await join(platform, job_id, branch)
    if job is None:
        return False
    if job.status is JobStatus.FAILED:
        log.warning("kit.join_after_failure", job_id=job_id)
        # This branch finished writing after the other one failed the kit: withdraw its work.
        await withdraw_deliverables(platform, job_id)
        return False
    keys, assets = await kit_assets(platform, job)
    try:
        job = await complete_job(
            platform,
            job_id,
            output_key=generated_key(job_id, "content.json"),
            message=COMPLETE_MESSAGE,
            data=completion_data(keys, assets),
        )
    except ConflictError:
        # Failed in the meantime (the failure stands), or not in a state that may complete
        # (e.g. a retried analysis moved it back to awaiting_confirmation): say which.
        latest = await platform.jobs.get(job_id)
        log.warning(
            "kit.join_refused", job_id=job_id, status=latest.status.value if latest else None
        )
        return False
    completed = next(
        (e for e in reversed(await platform.jobs.timeline_of(job)) if e.type == "job.completed"),
        None,
    )
    if completed is not None and isinstance(completed.data.get("assets"), dict):
        assets = completed.data["assets"]  # a repeated join sends what the stream sent
    await publish_progress(
        platform,
        job_id,
        job.tenant_id,
        "job.complete",
        stage="complete",
        progress=100,
        payload={"assets": assets, "progress": 100},
        event_id=complete_event_id(job_id),
    )
    return True


async def kit_assets(
    platform: Platform, job: Job, also: list[Artifact] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The kit's files as seed 002's GeneratedAssets: (S3 keys, GET URLs). The files are the
    ones registered on ``job`` (listed only when some were registered otherwise), with
    ``also``: the calling branch's, when its run is not written yet."""
    stored = [a.s3_key for a in [*await completed_artifacts(platform, job), *(also or [])]]
    platforms = job.kit_data().preferences.get("platforms")
    keys = kit_asset_keys(
        job.job_id, sorted(set(stored)), platforms if isinstance(platforms, list) else None
    )

    async def url(key: str | None) -> str | None:
        return await platform.artifacts.url(key) if key else None

    settings = platform.settings
    expires = (
        None
        if settings.public_base_url
        else (utcnow() + timedelta(seconds=settings.artifact_url_ttl_seconds)).isoformat()
    )
    urls = GeneratedAssets(
        packages=[await platform.artifacts.url(k) for k in keys["packages"]],
        ads=[await platform.artifacts.url(k) for k in keys["ads"]],
        thumbnails={a: await platform.artifacts.url(k) for a, k in keys["thumbnails"].items()},
        content=await url(keys["content"]),
        analysis=await url(keys["analysis"]),
        expiresAt=expires,
    )
    return keys, urls.model_dump()


def kit_failure_hook(platform: Platform, stage: str) -> FailureHook:
    """Fail the job (as every flow does) and say so with the seed's ``job.error`` message."""
    fail = job_failure_hook(platform, stage)

    async def hook(failed: FailedMessage) -> None:
        await fail(failed)
        job = await platform.jobs.get(failed.subject) if failed.subject else None
        if job is None or job.kind != PRODUCT_KIND or job.status is not JobStatus.FAILED:
            return
        await publish_progress(
            platform,
            job.job_id,
            job.tenant_id,
            "job.error",
            stage=stage,
            progress=100,
            payload={"error": job.error_message or ""},
        )

    return hook


BranchWork = Callable[[StageCall[ProductConfirmed], ProductPreferences], Awaitable[dict[str, Any]]]
COMPLETE_MESSAGE = "kit complete"


def branch_stage(branch: str, work: BranchWork) -> JobStage[ProductConfirmed]:
    """The ``product.confirmed`` stage of one parallel branch: its work once per kit, then the
    join (every delivery: a join lost to a crash is redone)."""

    async def run(call: StageCall[ProductConfirmed]) -> dict[str, Any]:
        prefs = ProductPreferences.model_validate(
            {**call.job.kit_data().preferences, **call.data.preferences}
        )
        result = await work(call, prefs)
        # For the join in this delivery: the files this run registers with its result.
        call.handoff["files"] = list(call.charges.artifacts) if call.charges else []
        return result

    async def joined(call: StageCall[ProductConfirmed], result: dict[str, Any]) -> list[Output]:
        platform, job_id = call.platform, call.job.job_id
        if "files" not in call.handoff:
            # A redelivery (the run was written before): no write of ours follows, so the
            # join completes the kit itself.
            await finish_branch(platform, job_id, branch)
            return []
        job = await join(platform, job_id, branch)
        if job is None:
            return []
        if not job.status.can_become(JobStatus.COMPLETED):
            # Failed meanwhile (the runtime withdraws this run's files when its write is
            # refused), completed by a redone join, or moved back by a retried analysis.
            log.warning("kit.join_refused", job_id=job_id, status=job.status.value)
            return []
        keys, assets = await kit_assets(platform, job, also=call.handoff["files"])
        return [
            Complete(
                output_key=generated_key(job_id, "content.json"),
                message=COMPLETE_MESSAGE,
                data=completion_data(keys, assets),
            ),
            # published once the completion is written (the runtime's outputs)
            progress_event(
                job_id,
                job.tenant_id,
                "job.complete",
                stage="complete",
                progress=100,
                payload={"assets": assets, "progress": 100},
            ),
        ]

    return JobStage(
        name=branch,
        scope=run_scope(branch),
        consumes=(ProductConfirmed,),
        kinds=frozenset({PRODUCT_KIND}),
        work=run,
        then=joined,
        emits=(JobProgress, JobCompleted),
        on_failure=kit_failure_hook,
    )
