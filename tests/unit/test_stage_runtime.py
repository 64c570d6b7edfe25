"""The declared-stage runtime's own rules, in-process: the job guard, declared outputs only,
event ids derived from the job, and a stage's error kept when its cleanup fails."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from leadmagnet.common.errors import PermanentError
from leadmagnet.common.events import CloudEvent, new_event
from leadmagnet.common.events.jobs import JobRequested, ReportGenerated
from leadmagnet.common.idempotency import Claim, ClaimOutcome, IdempotencyStore
from leadmagnet.common.models import Job, JobStatus
from leadmagnet.common.stages import JobStage, deliver_outputs, guarded_job


class FakeJobs:
    def __init__(self, *jobs: Job) -> None:
        self.items = {j.job_id: j for j in jobs}

    async def get(self, job_id: str) -> Job | None:
        return self.items.get(job_id)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[CloudEvent[Any]] = []

    def event(self, data: Any, **kw: Any) -> CloudEvent[Any]:
        return new_event(data, source="/leadmagnet/test", **kw)

    async def publish_many(self, events: list[CloudEvent[Any]]) -> None:
        self.published += events


class FakePlatform:
    def __init__(self, *jobs: Job) -> None:
        self.jobs = FakeJobs(*jobs)
        self.bus = FakeBus()


async def _noop(call: Any) -> dict[str, Any]:
    return {}


STAGE: JobStage[JobRequested] = JobStage(
    name="report",
    consumes=(JobRequested,),
    kinds=frozenset({"lead_magnet"}),
    work=_noop,
    emits=(ReportGenerated,),
)


def requested(job_id: str, tenant: str = "ten_a", kind: str = "lead_magnet") -> JobRequested:
    return JobRequested(
        job_id=job_id, tenant_id=tenant, kind=kind, workflow_id="wf", submission_id="sub"
    )


def job(job_id: str, tenant: str = "ten_a", **kw: Any) -> Job:
    return Job(job_id=job_id, tenant_id=tenant, **kw)


async def test_the_guard_takes_only_the_events_own_active_job_of_a_declared_kind() -> None:
    platform: Any = FakePlatform(
        job("job_1"),
        job("job_done", status=JobStatus.COMPLETED),
        job("job_kit", kind="product_marketing"),
    )
    assert (await guarded_job(platform, STAGE, requested("job_1"))) is not None
    assert await guarded_job(platform, STAGE, requested("job_1", tenant="ten_b")) is None
    assert await guarded_job(platform, STAGE, requested("job_unknown")) is None
    assert await guarded_job(platform, STAGE, requested("job_done")) is None
    with pytest.raises(PermanentError) as refused:
        await guarded_job(platform, STAGE, requested("job_kit"))
    assert refused.value.code == "bad_kind"
    with pytest.raises(PermanentError):
        await guarded_job(platform, STAGE, requested("job_1", kind="funnel_rewrite"))


async def test_outputs_must_be_declared_and_get_ids_stable_per_job() -> None:
    the_job = job("job_1")
    platform: Any = FakePlatform(the_job)
    cause = new_event(requested("job_1"), source="/test", correlation_id="corr_1")
    out = ReportGenerated(
        job_id="job_1",
        tenant_id="ten_a",
        workflow_id="wf",
        submission_id="sub",
        artifact_id="art",
        s3_key="k",
    )
    for _ in range(2):  # a redelivery publishes the same event again
        await deliver_outputs(platform, "report", STAGE.emits, [out], cause, job=the_job)
    first, again = platform.bus.published
    assert first.id == again.id
    assert first.subject == "job_1"
    assert first.tenantid == "ten_a"
    assert first.correlationid == "corr_1"
    with pytest.raises(TypeError, match="does not declare"):
        await deliver_outputs(platform, "report", (), [out], cause, job=the_job)


class BrokenRelease(IdempotencyStore):
    """Claims work, but the cleanup after a failure cannot reach the table."""

    def __init__(self) -> None:
        pass

    async def claim(self, key: str, lease_until_ms: int) -> Claim:
        return Claim(ClaimOutcome.CLAIMED)

    async def release(self, key: str) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Delete")


class Holder:
    lease_deadline_ms = 0

    def on_lease_extended(self, callback: Any) -> None:
        pass


async def test_a_stage_keeps_its_own_error_when_the_cleanup_fails() -> None:
    async def work() -> dict[str, Any]:
        raise PermanentError("the template is not published", code="template_unpublished")

    with pytest.raises(PermanentError) as failed:
        await BrokenRelease().run_once("render#job_1", Holder(), work)
    assert failed.value.code == "template_unpublished"
    assert any("releasing render#job_1 also failed" in n for n in failed.value.__notes__)
