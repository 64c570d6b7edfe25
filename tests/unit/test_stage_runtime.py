"""The declared-stage runtime's own rules, in-process against the session's moto endpoint: the job
guard, declared outputs only, event ids derived from the job, the run record on the job item (once
only, charges and completion in one write, released on failure, leased, cancelled meanwhile), and a
stage's error kept when its cleanup fails."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from leadmagnet.common import stages
from leadmagnet.common.errors import PermanentError, TransientError
from leadmagnet.common.events import CloudEvent, new_event
from leadmagnet.common.events.jobs import JobCompleted, JobRequested, ReportGenerated
from leadmagnet.common.idempotency import AlreadyInProgress, Claim, ClaimOutcome, IdempotencyStore
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.jobflow import job_artifacts
from leadmagnet.common.models import Job, JobStatus, TimelineEvent
from leadmagnet.common.platform import Platform
from leadmagnet.common.providers.base import CallCost, Usage
from leadmagnet.common.settings import Settings
from leadmagnet.common.stages import (
    ACTIVE,
    Complete,
    JobStage,
    Output,
    StageCall,
    Start,
    deliver_outputs,
    guarded_job,
    run_job_stage,
)
from leadmagnet.common.stores.artifacts import JobFile
from leadmagnet.common.stores.jobs import JobChange, claim_run


class FakeBus:
    def __init__(self) -> None:
        self.published: list[CloudEvent[Any]] = []

    def event(self, data: Any, **kw: Any) -> CloudEvent[Any]:
        return new_event(data, source="/leadmagnet/test", **kw)

    async def publish_many(self, events: list[CloudEvent[Any]]) -> None:
        self.published += events

    async def publish(self, event: CloudEvent[Any]) -> None:
        self.published.append(event)


class FakePlatform:
    def __init__(self) -> None:
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


async def test_the_guard_takes_only_the_events_own_active_job_of_a_declared_kind(
    runtime: Platform,
) -> None:
    ids = {name: new_job_id() for name in ("active", "done", "kit")}
    await runtime.jobs.create(job(ids["active"]))
    await runtime.jobs.create(job(ids["done"], status=JobStatus.COMPLETED))
    await runtime.jobs.create(job(ids["kit"], kind="product_marketing"))
    assert (await guarded_job(runtime, STAGE, requested(ids["active"]))) is not None
    assert await guarded_job(runtime, STAGE, requested(ids["active"], tenant="ten_b")) is None
    assert await guarded_job(runtime, STAGE, requested("job_unknown")) is None
    assert await guarded_job(runtime, STAGE, requested(ids["done"])) is None
    with pytest.raises(PermanentError) as refused:
        await guarded_job(runtime, STAGE, requested(ids["kit"]))
    assert refused.value.code == "bad_kind"
    with pytest.raises(PermanentError):
        await guarded_job(runtime, STAGE, requested(ids["active"], kind="funnel_rewrite"))


async def test_outputs_must_be_declared_and_get_ids_stable_per_job() -> None:
    the_job = job("job_1")
    platform: Any = FakePlatform()
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


class Holder:
    lease_deadline_ms = 0

    def on_lease_extended(self, callback: Any) -> None:
        pass


class BrokenRelease(IdempotencyStore):
    """Claims work, but the cleanup after a failure cannot reach the table."""

    def __init__(self) -> None:
        pass

    async def claim(self, key: str, lease_until_ms: int) -> Claim:
        return Claim(ClaimOutcome.CLAIMED)

    async def release(self, key: str) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Delete")


async def test_a_once_step_keeps_its_own_error_when_the_cleanup_fails() -> None:
    async def work() -> dict[str, Any]:
        raise PermanentError("the template is not published", code="template_unpublished")

    with pytest.raises(PermanentError) as failed:
        await BrokenRelease().run_once("render#job_1", Holder(), work)
    assert failed.value.code == "template_unpublished"
    assert any("releasing render#job_1 also failed" in n for n in failed.value.__notes__)


# --- the run record on the job item ------------------------------------------------------------


class Delivery:
    """What a stage needs from the message being processed (the consumer's MessageContext)."""

    def __init__(self, receive_count: int = 1, lease_ms: int = 2**53) -> None:
        self.receive_count = receive_count
        self.lease_deadline_ms = lease_ms

    def on_lease_extended(self, callback: Any) -> None:
        pass


class Recorder:
    """The real store's writes, counted: what one delivery costs in round trips."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.before: Counter[tuple[str, str]] = Counter()

    def start(self) -> None:
        self.before = Counter(self.platform.aws.call_counts)

    def calls(self) -> Counter[tuple[str, str]]:
        now = Counter(self.platform.aws.call_counts)
        now.subtract(self.before)
        return Counter({k: v for k, v in now.items() if v})


@pytest.fixture
async def runtime(bootstrapped: Settings) -> AsyncIterator[Platform]:
    """A platform whose bus only records (these jobs are not the running services' business)."""
    async with Platform.open(bootstrapped, "tests") as p:
        p.bus = FakeBus()  # type: ignore[assignment]
        yield p


def cost() -> CallCost:
    return CallCost(
        provider="offline",
        model="m",
        operation="text",
        usage=Usage(input_tokens=3, output_tokens=4),
        cost_micros=250,
        price_version="test",
    )


def report_stage(work: Any, then: Any = None, *, completes: bool = False) -> JobStage[Any]:
    emits: tuple[Any, ...] = (JobCompleted,) if completes else (ReportGenerated,)
    return JobStage(
        name="report",
        consumes=(JobRequested,),
        kinds=frozenset({"lead_magnet"}),
        work=work,
        then=then,
        emits=emits,
        starts=Start(TimelineEvent.JOB_PROCESSING, "working", JobStatus.PROCESSING),
        # a stage that completes jobs re-publishes job.completed on a late redelivery
        statuses=ACTIVE | {JobStatus.COMPLETED} if completes else ACTIVE,
    )


async def deliver(platform: Platform, stage: JobStage[Any], job_id: str, **kw: Any) -> None:
    event = new_event(requested(job_id), source="/test", subject=job_id, tenant_id="ten_a")
    await run_job_stage(platform, stage, Delivery(**kw), event)  # type: ignore[arg-type]


async def test_a_stage_runs_its_work_once_and_writes_it_with_its_charges_in_one_write(
    runtime: Platform,
) -> None:
    job_id = new_job_id()
    await runtime.jobs.create(job(job_id))
    runs: list[int] = []

    async def work(call: StageCall[JobRequested]) -> dict[str, Any]:
        runs.append(call.attempt)
        call.charges.costs.append(cost())  # type: ignore[union-attr]
        await call.put_artifact(
            JobFile(
                kind="report_markdown", filename="r.md", body=b"# hi", content_type="text/markdown"
            )
        )
        await call.note(TimelineEvent.REPORT_GENERATED, "written", {"n": 1})
        return {"answer": 42}

    seen: list[dict[str, Any]] = []

    async def then(call: StageCall[JobRequested], result: dict[str, Any]) -> list[Output]:
        seen.append(result)
        return [Complete(output_key="out.html", data={"v": 1})]

    stage = report_stage(work, then, completes=True)
    calls = Recorder(runtime)
    calls.start()
    await deliver(runtime, stage, job_id)
    first = calls.calls()
    # claim (with its start entry) + finish (result, cost, file record, note, completion): two
    # writes, no read of the job, no idempotency table; the file is one S3 PUT.
    assert first[("dynamodb", "UpdateItem")] == 2, first
    assert first[("dynamodb", "GetItem")] == 0, first
    assert first[("dynamodb", "PutItem")] == 0, first  # its record is on the job item
    assert first[("s3", "PutObject")] == 1, first
    assert first[("dynamodb", "Query")] == 0, first  # job.completed needs no artifact listing
    await deliver(runtime, stage, job_id, receive_count=2)  # a redelivery
    assert runs == [1]
    assert seen == [{"answer": 42}, {"answer": 42}]

    done = await runtime.jobs.require(job_id)
    assert done.status is JobStatus.COMPLETED
    assert done.output_key == "out.html"
    assert done.cost_micros == 250
    assert len(done.cost_calls) == 1
    assert len(done.artifact_ids) == 1
    types = [e.type for e in await runtime.jobs.timeline(job_id)]
    assert types == ["job.created", "job.processing", "report.generated", "job.completed"]
    published: list[CloudEvent[Any]] = runtime.bus.published  # type: ignore[attr-defined]
    completed = [e for e in published if e.type.endswith("job.completed")]
    assert len(completed) == 2
    assert completed[0].id == completed[1].id  # re-published, same id
    assert [a.kind for a in completed[0].data.artifacts] == ["report_markdown"]


async def test_a_failed_work_is_released_with_what_it_cost_and_runs_again(
    runtime: Platform,
) -> None:
    job_id = new_job_id()
    await runtime.jobs.create(job(job_id))
    attempts: list[int] = []

    async def work(call: StageCall[JobRequested]) -> dict[str, Any]:
        attempts.append(call.attempt)
        call.charges.costs.append(cost())  # type: ignore[union-attr]
        if call.attempt == 1:
            raise TransientError("the model timed out", code="timeout")
        return {}

    stage = report_stage(work)
    with pytest.raises(TransientError):
        await deliver(runtime, stage, job_id)
    released = await runtime.jobs.require(job_id)
    assert "report" not in released.runs
    assert released.cost_micros == 250
    await deliver(runtime, stage, job_id, receive_count=2)
    assert attempts == [1, 2]
    assert (await runtime.jobs.require(job_id)).cost_micros == 500


async def test_a_run_leased_elsewhere_is_not_run_twice(runtime: Platform) -> None:
    job_id = new_job_id()
    await runtime.jobs.create(job(job_id))

    async def work(call: StageCall[JobRequested]) -> dict[str, Any]:
        raise AssertionError("must not run while another delivery holds the lease")

    later = int(time.time() * 1000) + 60_000
    claimed, _ = await claim_run(
        runtime.jobs,
        job_id,
        "report",
        JobChange(),
        tenant_id="ten_a",
        kinds=frozenset({"lead_magnet"}),
        statuses=frozenset({JobStatus.PENDING}),
        lease_until_ms=later,
        now_ms=int(time.time() * 1000),
    )
    assert claimed
    with pytest.raises(AlreadyInProgress):
        await deliver(runtime, report_stage(work), job_id)


async def test_a_job_cancelled_during_the_work_gets_nothing_after_it(runtime: Platform) -> None:
    job_id = new_job_id()
    await runtime.jobs.create(job(job_id))

    async def work(call: StageCall[JobRequested]) -> dict[str, Any]:
        await runtime.jobs.record(
            job_id, TimelineEvent.JOB_CANCELLED, "cancelled", status=JobStatus.CANCELLED
        )
        return {"answer": 1}

    async def then(call: StageCall[JobRequested], result: dict[str, Any]) -> list[Output]:
        return [Complete(output_key="out.html")]

    await deliver(runtime, report_stage(work, then, completes=True), job_id)
    after = await runtime.jobs.require(job_id)
    assert after.status is JobStatus.CANCELLED
    assert after.runs["report"]["state"] == "done"  # kept: a redelivery does not run it again
    assert runtime.bus.published == []  # type: ignore[attr-defined]


async def test_the_work_keeps_its_own_error_when_the_release_fails(
    runtime: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = new_job_id()
    await runtime.jobs.create(job(job_id))

    async def work(call: StageCall[JobRequested]) -> dict[str, Any]:
        raise PermanentError("the template is not published", code="template_unpublished")

    async def unreachable(*_: Any) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Update")

    monkeypatch.setattr(stages, "release_run", unreachable)
    with pytest.raises(PermanentError) as failed:
        await deliver(runtime, report_stage(work), job_id)
    assert failed.value.code == "template_unpublished"
    assert any("also failed" in n for n in failed.value.__notes__)


async def test_a_job_completed_by_another_branch_meanwhile_keeps_its_files(
    runtime: Platform,
) -> None:
    """A parallel branch completing the job while this stage worked is not a cancellation: the
    refused finish withdraws nothing (only a cancelled or failed job loses its files)."""
    job_id = new_job_id()
    await runtime.jobs.create(job(job_id))

    async def work(call: StageCall[JobRequested]) -> dict[str, Any]:
        await call.put_artifact(
            JobFile(
                kind="report_markdown", filename="r.md", body=b"# hi", content_type="text/markdown"
            )
        )
        await runtime.jobs.record(
            job_id, TimelineEvent.JOB_PROCESSING, "the other branch", status=JobStatus.PROCESSING
        )
        await runtime.jobs.record(
            job_id, TimelineEvent.JOB_COMPLETED, "the other branch", status=JobStatus.COMPLETED
        )
        return {}

    await deliver(runtime, report_stage(work), job_id)
    after = await runtime.jobs.require(job_id)
    assert after.status is JobStatus.COMPLETED
    assert after.runs["report"]["state"] == "done"
    assert [a.kind for a in await job_artifacts(runtime, after)] == ["report_markdown"]
