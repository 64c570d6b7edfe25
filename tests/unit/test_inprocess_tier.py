"""The fast tier's in-process checks of a route and a declared stage: the gateway app and the
reporter's ``report`` stage run in this process against the session's moto endpoint (no service
processes, no browser), with the reporter's own topology grants."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.events import new_event
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.ids import random_id
from leadmagnet.common.jobflow import job_artifacts
from leadmagnet.common.models import Job, JobStatus, Submission
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.common.stages import run_job_stage
from leadmagnet.reporter.flows.lead_magnet import REPORT


class Delivery:
    """What a stage needs from the message being processed (the consumer's MessageContext)."""

    def __init__(self, receive_count: int = 1) -> None:
        self.receive_count = receive_count
        self.lease_deadline_ms = 2**53

    def on_lease_extended(self, callback: Callable[[int], Awaitable[None]]) -> None:
        pass


class RecordingBus:
    """The stage's outputs, kept here: published, a running renderer (the slower tier's
    services share the endpoint) would take this test's report.generated and add its page."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.published: list[Any] = []

    def event(self, data: Any, **kw: Any) -> Any:
        return self.real.event(data, **kw)

    async def publish_many(self, events: list[Any]) -> None:
        self.published += events

    async def publish(self, event: Any) -> None:
        self.published.append(event)


@pytest.fixture
async def reporter(bootstrapped: Settings) -> AsyncIterator[Platform]:
    async with Platform.open(bootstrapped, "reporter") as p:
        yield p


async def submit(gw: httpx2.AsyncClient, platform: Platform) -> tuple[Demo, dict[str, Any]]:
    demo = await seed_demo(platform, slug=f"fast-{secrets.token_hex(4)}")
    resp = await gw.post(
        f"/v1/forms/{demo.slug}/submit",
        json={"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "grow"},
    )
    assert resp.status_code == 202, resp.text
    return demo, resp.json()


async def test_a_route_in_process_is_tenant_scoped(
    gw: httpx2.AsyncClient, platform: Platform
) -> None:
    demo, accepted = await submit(gw, platform)
    status = await gw.get(f"/v1/jobs/{accepted['job_id']}")  # the job id is the capability
    assert status.status_code == 200
    assert status.json()["job_id"] == accepted["job_id"]  # (a running reporter may have it)
    path = f"/v1/workflows/{demo.workflow_id}"
    own = await gw.get(path, headers={"authorization": f"Bearer {demo.api_key}"})
    assert own.status_code == 200
    other, _ = await submit(gw, platform)
    theirs = await gw.get(path, headers={"authorization": f"Bearer {other.api_key}"})
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"]


async def test_a_declared_stage_in_process_runs_once_per_job(
    platform: Platform, reporter: Platform
) -> None:
    # The job is created as the submit route does, but its event is handed to the stage here,
    # not published: a running reporter (the slower tier's) must not take it first.
    demo = await seed_demo(platform, slug=f"fast-{secrets.token_hex(4)}")
    job_id = random_id("job")
    submission = Submission(
        submission_id=random_id("sub"),
        tenant_id=demo.tenant_id,
        form_slug=demo.slug,
        workflow_id=demo.workflow_id,
        job_id=job_id,
        fields={"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "grow"},
    )
    await platform.submissions.put(submission)
    job = Job(
        job_id=job_id,
        tenant_id=demo.tenant_id,
        workflow_id=demo.workflow_id,
        submission_id=submission.submission_id,
    )
    await platform.jobs.create(job)
    event = new_event(
        JobRequested(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            workflow_id=job.workflow_id,
            submission_id=job.submission_id,
        ),
        source="/leadmagnet/gateway",
    )
    bus = RecordingBus(reporter.bus)
    reporter.bus = bus  # type: ignore[assignment]
    delivery: Any = Delivery()
    await run_job_stage(reporter, REPORT, delivery, event)
    first = await platform.jobs.require(job.job_id)
    assert first.status is JobStatus.PROCESSING
    assert len(first.cost_calls) == 1  # the one model call, charged to the job
    [report] = await job_artifacts(platform, first)
    assert report.kind == "report_markdown"

    redelivery: Any = Delivery(receive_count=2)
    await run_job_stage(reporter, REPORT, redelivery, event)  # replayed, not re-run
    again = await platform.jobs.require(job.job_id)
    assert len(again.cost_calls) == 1
    assert [a.artifact_id for a in await job_artifacts(platform, again)] == [report.artifact_id]
    assert len(again.artifact_refs) == 1  # registered once
    timeline = [e.type for e in await platform.jobs.timeline(job.job_id)]
    assert timeline.count("report.generated") == 1
    first_out, again_out = bus.published  # the replay re-publishes the same event
    assert first_out.type.endswith("report.generated")
    assert first_out.id == again_out.id


async def test_a_service_reaches_only_what_its_topology_grants(reporter: Platform) -> None:
    with pytest.raises(PermissionError, match="reporter is not granted table 'callback_tokens'"):
        _ = reporter.callbacks
    assert reporter.leads.leads.name  # granted: leads and chat_channels
    with pytest.raises(PermissionError, match="lead_attribution"):
        _ = reporter.leads.attribution
