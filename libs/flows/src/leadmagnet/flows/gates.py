"""Approval gates (seed 004's task tokens, as data): a job waits for an external callback.

When a job reaches its workflow's gate the renderer stores a single-use token keyed by
``(tenant_id, external_id)`` (an external id is a tenant's own name for something), moves the
job to ``awaiting_callback`` and makes the gate's outbound calls in parallel.
``POST /v1/callbacks`` takes the token with a conditional delete, so of two racing callbacks
exactly one resumes the job. The deadline is enforced by a chain of delayed SQS
messages (``callback.deadline``, at most 15 minutes per hop) to the renderer queue: no polling,
no scheduler, safe with any number of replicas (the conditional delete decides).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from leadmagnet.common.errors import ConflictError, PermanentError
from leadmagnet.common.events import message_attributes
from leadmagnet.common.events.jobs import CallbackDeadline
from leadmagnet.common.ids import stable_id
from leadmagnet.common.jobflow import complete_job, fail_job
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import (
    CallbackGate,
    Job,
    JobStatus,
    OutboundCall,
    TimelineEvent,
    utcnow,
)
from leadmagnet.common.platform import Platform
from leadmagnet.common.stores.callback_tokens import CallbackToken

log = get_logger()

MAX_SQS_DELAY_SECONDS = 900


@dataclass(frozen=True)
class CallResult:
    name: str
    critical: bool
    ok: bool
    detail: str


async def _call(platform: Platform, job: Job, external_id: str, call: OutboundCall) -> CallResult:
    headers = {"content-type": "application/json"}
    try:
        if call.secret_id:
            scope = f"{platform.settings.resource_prefix}/"
            if not call.secret_id.startswith(scope):
                # The task role may read only these (deploy/terraform: ReadCallSecrets).
                raise PermanentError(f"secret_id must start with '{scope}'")
            headers["authorization"] = f"Bearer {await platform.secrets.get(call.secret_id)}"
        body = json.dumps(
            {"job_id": job.job_id, "external_id": external_id, "call": call.name}
        ).encode()
        resp, _ = await platform.http.request(
            call.method, call.url, content=body, headers=headers, max_bytes=64 * 1024
        )
    except Exception as e:  # every failure becomes this call's recorded outcome
        message = getattr(e, "message", None) or type(e).__name__
        return CallResult(call.name, call.critical, False, str(message))
    ok = 200 <= resp.status_code < 300
    return CallResult(call.name, call.critical, ok, f"HTTP {resp.status_code}")


async def run_calls(
    platform: Platform, job: Job, external_id: str, calls: list[OutboundCall]
) -> list[CallResult]:
    """All calls at once; results in declaration order."""
    return list(await asyncio.gather(*(_call(platform, job, external_id, c) for c in calls)))


async def schedule_deadline_check(platform: Platform, data: CallbackDeadline) -> None:
    remaining = (data.deadline - utcnow()).total_seconds()
    delay = int(min(MAX_SQS_DELAY_SECONDS, max(0, remaining) + 1))
    event = platform.bus.event(
        data,
        subject=data.job_id,
        tenant_id=data.tenant_id,
        event_id=stable_id("evt", data.job_id, "deadline", str(int(time.time()))),
    )
    await platform.aws.sqs.send_message(
        # Whoever the topology says consumes deadlines (SNS cannot delay a message; SQS can).
        QueueUrl=await platform.resources.queue_url(
            platform.resources.topology.queue_consuming(event.type)
        ),
        MessageBody=event.model_dump_json(),
        MessageAttributes=message_attributes(event),
        DelaySeconds=delay,
    )


async def open_gate(
    platform: Platform,
    job: Job,
    gate: CallbackGate,
    fields: dict[str, Any],
    *,
    step: str,
    output_key: str | None,
) -> CallbackToken:
    """Store the token and move the job to ``awaiting_callback`` (both idempotent)."""
    external_id = str(fields.get(gate.external_id_field) or "").strip()
    if not external_id or len(external_id) > 200:
        raise PermanentError(
            f"the submission has no usable '{gate.external_id_field}' for the approval gate",
            code="missing_external_id",
        )
    token: CallbackToken = await platform.callbacks.open(
        CallbackToken(
            external_id=external_id,
            token=secrets.token_urlsafe(24),
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            workflow_id=job.workflow_id or "",
            step=step,
            deadline=utcnow() + timedelta(seconds=gate.timeout_seconds),
        )
    )
    until = f"{token.deadline:%Y-%m-%d %H:%M} UTC"
    with contextlib.suppress(ConflictError):  # a redelivery after the gate opened
        await platform.jobs.record(
            job.job_id,
            TimelineEvent.CALLBACK_AWAITING,
            f"waiting for the callback for {external_id} until {until}",
            status=JobStatus.AWAITING_CALLBACK,
            stage="awaiting_callback",
            data={"external_id": external_id, "deadline": token.deadline.isoformat()},
            set_fields={"output_key": output_key} if output_key else None,
            expected_status={JobStatus.PENDING, JobStatus.PROCESSING},
        )
    return token


async def arm_gate(
    platform: Platform, job: Job, token: CallbackToken, calls: list[OutboundCall]
) -> dict[str, Any]:
    """The side calls (in parallel) and the first deadline check; run once per job."""

    results = await run_calls(platform, job, token.external_id, calls)
    for r in results:
        level = "" if r.ok or r.critical else "warning: "
        await platform.jobs.record(
            job.job_id,
            TimelineEvent.CALLBACK_CALL_OK if r.ok else TimelineEvent.CALLBACK_CALL_FAILED,
            f"{level}{r.name}: {r.detail}",
            allow_terminal=True,
            data={"call": r.name, "critical": r.critical, "ok": r.ok},
        )
    critical = [r for r in results if r.critical and not r.ok]
    if critical:
        if await platform.callbacks.take(token):
            details = "; ".join(f"{r.name}: {r.detail}" for r in critical)
            await fail_job(
                platform,
                job.job_id,
                code="callback_call_failed",
                message=f"critical call failed ({details})",
                stage="awaiting_callback",
            )
        return {"outcome": "failed"}
    await schedule_deadline_check(
        platform,
        CallbackDeadline(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            external_id=token.external_id,
            deadline=token.deadline,
        ),
    )
    return {"outcome": "awaiting", "warnings": [r.name for r in results if not r.ok]}


async def check_deadline(platform: Platform, data: CallbackDeadline) -> None:
    """Fail the job if its gate is still open at the deadline; else re-arm (or nothing)."""

    token = await platform.callbacks.get(data.tenant_id, data.external_id)
    if token is None or token.job_id != data.job_id:
        return  # resumed already
    if utcnow() < token.deadline:
        await schedule_deadline_check(platform, data)
        return
    if await platform.callbacks.take(token):
        await fail_job(
            platform,
            data.job_id,
            code="callback_timeout",
            message=f"callback timed out: no answer for {data.external_id} by "
            f"{token.deadline.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            stage="awaiting_callback",
        )


async def resume(platform: Platform, token: CallbackToken, *, success: bool, message: str) -> Job:
    """Resume a job whose token this caller has taken."""

    job = await platform.jobs.require(token.job_id)
    await platform.jobs.record(
        job.job_id,
        TimelineEvent.CALLBACK_RECEIVED,
        f"callback for {token.external_id}: {'success' if success else 'failure'}",
        data={"external_id": token.external_id, "message": message[:500]},
    )
    if success:
        return await complete_job(
            platform, job.job_id, output_key=job.output_key, message="approved by callback"
        )
    failed = await fail_job(
        platform,
        job.job_id,
        code="callback_failure",
        message=message or "the external system reported a failure",
        stage="awaiting_callback",
    )
    return failed or await platform.jobs.require(job.job_id)


async def release_gate(platform: Platform, job: Job) -> bool:
    """Close the job's open gate, if any (a cancelled job waits for nothing): its token is
    taken, so a late callback answers as for an unknown gate (404) and the deadline chain
    stops at its next check. True when this call closed it."""
    awaiting = [
        e
        for e in await platform.jobs.timeline(job.job_id)
        if e.type == TimelineEvent.CALLBACK_AWAITING and e.data.get("external_id")
    ]
    if not awaiting:
        return False
    token = await platform.callbacks.get(job.tenant_id, str(awaiting[-1].data["external_id"]))
    if token is None or token.job_id != job.job_id:
        return False  # answered, timed out, or another job's by now
    return bool(await platform.callbacks.take(token))
