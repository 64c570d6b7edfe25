"""Notifier: ``job.completed`` / ``job.failed`` / ``job.cancelled`` -> the job's files (log,
result or error) and
the workflow's webhook, signed per Standard Webhooks, as the envelope (``webhook_format:
standard``) or seed 000's flat body (``seed``), for the outcomes the workflow lists in
``webhook_events``. Delivery retries ride on the queue's backoff (one retry loop in the whole
system); ``webhook-id`` is the event id, stable per job outcome, so receivers can dedupe on it
(a retried job's next outcome is a new event: each outcome is delivered once)."""

from __future__ import annotations

import json
from typing import Any

from leadmagnet.common import tracing
from leadmagnet.common.consumer import FailedMessage, FailureHook
from leadmagnet.common.errors import ConflictError, TransientError
from leadmagnet.common.events import CloudEvent
from leadmagnet.common.events.jobs import JobCancelled, JobCompleted, JobFailed
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import (
    TERMINAL_STATUSES,
    Job,
    TimelineEvent,
    WebhookFormat,
    Workflow,
)
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import PRODUCT_KIND
from leadmagnet.common.stages import JobStage, Output, StageCall
from leadmagnet.common.webhooks import signed_headers
from leadmagnet.flows.funnels import RUN_KIND
from leadmagnet.flows.jobfiles import write_job_files

log = get_logger()

STAGE = "webhook"
THROTTLE_STATUSES = {429, 502, 503, 504}


def event_name(event: CloudEvent[Any]) -> str:
    """``job.completed`` / ``job.failed`` / ``job.cancelled``: what a workflow's
    ``webhook_events`` lists."""
    return event.type.removeprefix("io.leadmagnet.")


def seed_body(event: CloudEvent[Any]) -> dict[str, Any]:
    """Seed 000's flat body: the receiver reads ``job_id`` and ``output_url``; ``artifacts`` are
    the job's artifact ids. A failed job has no results, so no links (``delivers()``)."""
    data = event.data
    body: dict[str, Any] = {
        "job_id": data.job_id,
        "status": data.status,
        "output_url": None,
        "artifacts": [],
    }
    if isinstance(data, JobCompleted):
        body["output_url"] = data.output_url
        body["artifacts"] = [a.artifact_id for a in data.artifacts]
    if isinstance(data, JobFailed):
        body["error_message"] = data.error_message
    return body


def webhook_body(event: CloudEvent[Any], fmt: WebhookFormat = "standard") -> bytes:
    if fmt == "seed":
        return json.dumps(seed_body(event), separators=(",", ":")).encode()
    data = event.data
    body: dict[str, Any] = {
        "type": event_name(event),
        "event_id": event.id,
        "timestamp": event.time.isoformat(),
        "data": {"job_id": data.job_id, "status": data.status, "kind": data.kind},
    }
    if isinstance(data, JobCompleted):
        body["data"]["output_url"] = data.output_url
        body["data"]["artifacts"] = [a.model_dump(mode="json") for a in data.artifacts]
    if isinstance(data, JobFailed):
        body["data"]["error_message"] = data.error_message
        body["data"]["error_code"] = data.error_code
    return json.dumps(body, separators=(",", ":")).encode()


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


async def deliver(
    platform: Platform, workflow: Workflow, event: CloudEvent[Any], attempt: int
) -> dict[str, Any]:
    assert workflow.webhook_url
    assert workflow.webhook_secret
    body = webhook_body(event, workflow.webhook_format)
    headers = signed_headers(workflow.webhook_secret, event.id, body)
    headers["user-agent"] = "leadmagnet-webhooks/1"
    attributes = {
        "http.request.method": "POST",
        "server.address": tracing.url_host(workflow.webhook_url),  # the host only: no tokens
        "leadmagnet.webhook_id": event.id,
        "leadmagnet.attempt": attempt,
    }
    with tracing.span("webhook POST", attributes, kind=tracing.SpanKind.CLIENT) as span:
        resp, _ = await platform.http.request(
            "POST", workflow.webhook_url, content=body, headers=headers, max_bytes=64 * 1024
        )
        status = resp.status_code
        span.set_attribute("http.response.status_code", status)
        if not 200 <= status < 300:
            tracing.mark_failed(f"webhook answered {status}", target=span)
    job_id = event.data.job_id
    if 200 <= status < 300:
        await platform.jobs.record(
            job_id,
            TimelineEvent.WEBHOOK_DELIVERED,
            f"webhook answered {status}",
            allow_terminal=True,
            data={"status_code": status, "attempt": attempt, "webhook_id": event.id},
        )
        return {"status_code": status}
    if status == 410:  # the receiver asked us to stop
        await platform.jobs.record(
            job_id,
            TimelineEvent.WEBHOOK_GONE,
            "webhook endpoint answered 410 Gone; not retrying",
            allow_terminal=True,
            data={"status_code": status},
        )
        return {"status_code": status}
    retry_after = (
        _retry_after(resp.headers.get("retry-after")) if status in THROTTLE_STATUSES else None
    )
    raise TransientError(
        f"webhook answered {status}", code="webhook_failed", retry_after=retry_after
    )


Outcome = JobCompleted | JobFailed | JobCancelled


def asks_for(workflow: Workflow | None, event: CloudEvent[Any]) -> bool:
    """Whether ``workflow`` has a webhook for this outcome (``webhook_events``)."""
    return (
        workflow is not None
        and bool(workflow.webhook_url)
        and (event_name(event) in workflow.webhook_events)
    )


async def webhook_target(platform: Platform, job: Job, event: CloudEvent[Any]) -> Workflow | None:
    """The workflow whose webhook this outcome goes to, or None.

    Whether to send is the workflow's as the job was created with it (at its revision, kept
    per process: no read for the many workflows without a webhook); where to, and signed with
    which secret, is the workflow's now (a rotated secret signs, a removed webhook stops)."""
    workflow_id = event.data.workflow_id
    if not workflow_id:
        return None
    if job.workflow_rev is not None:
        at_submit = await platform.workflows.at(job.tenant_id, workflow_id, job.workflow_rev)
        if not asks_for(at_submit, event):
            return None
    current = await platform.workflows.get(job.tenant_id, workflow_id)
    if current is None or not current.webhook_secret or not asks_for(current, event):
        return None
    return current


async def on_job_finished(call: StageCall[Outcome], _: dict[str, Any]) -> list[Output]:
    """On every delivery: (re)write the job's files, then deliver the webhook once per outcome
    (the record is keyed by the event id: a retried job's second outcome is sent too)."""
    platform, job, event = call.platform, call.job, call.event
    await write_job_files(platform, job)
    workflow = await webhook_target(platform, job, event)
    if workflow is None:
        return []
    await call.once(f"{STAGE}.{event.id}", lambda: deliver(platform, workflow, event, call.attempt))
    return []


def webhook_failure_hook(platform: Platform, stage: str) -> FailureHook:
    """The job's outcome stands; a webhook that cannot be delivered is recorded, not fatal."""

    async def hook(failed: FailedMessage) -> None:
        if not failed.subject:
            return
        try:
            await platform.jobs.record(
                failed.subject,
                TimelineEvent.WEBHOOK_FAILED,
                failed.error.message,
                allow_terminal=True,
                data={"error_code": failed.error.code},
            )
        except ConflictError:
            log.warning("webhook.failed_for_unknown_job", job_id=failed.subject, stage=stage)

    return hook


# Every job kind ends in job.completed / job.failed / job.cancelled; only finished jobs have an
# outcome to send.
WEBHOOK: JobStage[Outcome] = JobStage(
    name=STAGE,
    consumes=(JobCompleted, JobFailed, JobCancelled),
    kinds=frozenset({"lead_magnet", RUN_KIND, PRODUCT_KIND}),
    then=on_job_finished,
    fails_with=("webhook_failed",),
    statuses=TERMINAL_STATUSES,
    on_failure=webhook_failure_hook,
)
