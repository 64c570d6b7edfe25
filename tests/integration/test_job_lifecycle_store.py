"""``JobStore`` enforces the job lifecycle (``models.ALLOWED_TRANSITIONS``) with a condition on
the very UpdateItem that writes the status: a refused move raises ConflictError and leaves the job
item and its timeline exactly as they were. Needs only the embedded AWS endpoint (no services)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadmagnet.common.aws import AwsClients
from leadmagnet.common.dynamo import values
from leadmagnet.common.errors import ConflictError
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.jobflow import registered_artifacts
from leadmagnet.common.models import Job, JobStatus, TimelineEvent
from leadmagnet.common.resources import Resources
from leadmagnet.common.stores.jobs import JobStore

pytestmark = pytest.mark.integration

S = JobStatus


@pytest.fixture
def jobs(aws: AwsClients) -> JobStore:
    r = Resources(aws)
    return JobStore(aws, r.table("jobs"), r.table("job_events"))


async def new_job(jobs: JobStore, status: JobStatus = S.PENDING) -> str:
    job = Job(job_id=new_job_id(), tenant_id="ten_lifecycle", status=status)
    await jobs.create(job)
    return job.job_id


async def snapshot(jobs: JobStore, job_id: str) -> tuple[dict[str, Any] | None, list[Any]]:
    item = await jobs.jobs.get({"job_id": job_id})
    return item, [e.model_dump() for e in await jobs.timeline(job_id)]


async def move(jobs: JobStore, job_id: str, status: JobStatus, **kw: Any) -> Job:
    return await jobs.transition(job_id, TimelineEvent.LOG, f"to {status}", status=status, **kw)


async def test_a_refused_transition_raises_conflict_and_leaves_the_job_unchanged(
    jobs: JobStore,
) -> None:
    job_id = await new_job(jobs)
    await move(jobs, job_id, S.PROCESSING)
    done = await jobs.transition(
        job_id, TimelineEvent.JOB_COMPLETED, "done", status=S.COMPLETED, stage="completed"
    )
    assert done.status is S.COMPLETED
    assert done.completed_at is not None
    before = await snapshot(jobs, job_id)
    for target in (S.PROCESSING, S.AWAITING_CALLBACK, S.COMPLETED, S.FAILED):
        with pytest.raises(ConflictError, match=f"cannot become {target.value}.*it is completed"):
            await move(jobs, job_id, target, set_fields={"output_key": "stolen"})
    # fail() is the callers' "fail once" path: None, not an exception, on a finished job
    assert await jobs.fail(job_id, code="late", message="too late") is None
    assert await snapshot(jobs, job_id) == before


async def test_moves_the_table_refuses_never_reach_the_item(jobs: JobStore) -> None:
    pending = await new_job(jobs)
    before = await snapshot(jobs, pending)
    with pytest.raises(ConflictError, match="it is pending"):
        await move(jobs, pending, S.COMPLETED)
    with pytest.raises(ConflictError):
        await move(jobs, pending, S.AWAITING_CONFIRMATION)
    assert await snapshot(jobs, pending) == before

    gated = await new_job(jobs)
    await move(jobs, gated, S.PROCESSING)
    await move(jobs, gated, S.AWAITING_CALLBACK)
    before = await snapshot(jobs, gated)
    with pytest.raises(ConflictError, match="it is awaiting_callback"):
        await move(jobs, gated, S.PROCESSING)
    assert await snapshot(jobs, gated) == before


async def test_the_documented_paths_go_through(jobs: JobStore) -> None:
    kit = await new_job(jobs)
    for status in (S.PROCESSING, S.AWAITING_CONFIRMATION, S.PROCESSING, S.COMPLETED):
        assert (await move(jobs, kit, status)).status is status

    gate = await new_job(jobs)
    for status in (S.PROCESSING, S.PROCESSING, S.AWAITING_CALLBACK):
        await move(jobs, gate, status)
    failed = await jobs.fail(gate, code="callback_failure", message="rejected")
    assert failed is not None
    assert failed.status is S.FAILED
    assert failed.error_code == "callback_failure"
    timeline = await jobs.timeline(gate)
    assert timeline[0].type == TimelineEvent.JOB_CREATED
    assert timeline[-1].type == TimelineEvent.JOB_FAILED
    assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1))

    fails_at_once = await new_job(jobs)
    assert await jobs.fail(fails_at_once, code="enqueue_failed", message="no topic") is not None


async def test_expected_status_narrows_the_allowed_predecessors(jobs: JobStore) -> None:
    job_id = await new_job(jobs)
    await move(jobs, job_id, S.PROCESSING)
    before = await snapshot(jobs, job_id)
    # processing may become processing, but the caller (a confirmation) expects to find the kit
    # awaiting confirmation: refused, unchanged
    with pytest.raises(ConflictError, match="cannot become processing"):
        await move(jobs, job_id, S.PROCESSING, expected_status={S.AWAITING_CONFIRMATION})
    # an expectation the table can never satisfy is refused without a write
    with pytest.raises(ConflictError):
        await move(jobs, job_id, S.AWAITING_CALLBACK, expected_status={S.PENDING})
    assert await snapshot(jobs, job_id) == before
    gate = await move(jobs, job_id, S.AWAITING_CALLBACK, expected_status={S.PENDING, S.PROCESSING})
    assert gate.status is S.AWAITING_CALLBACK


async def test_entries_without_a_status_change_are_not_transitions(jobs: JobStore) -> None:
    job_id = await new_job(jobs, S.AWAITING_CONFIRMATION)
    noted = await jobs.transition(job_id, TimelineEvent.JOB_GENERATING, "still waiting")
    assert noted.status is S.AWAITING_CONFIRMATION
    await move(jobs, job_id, S.FAILED)
    with pytest.raises(ConflictError, match="final state"):
        await jobs.record(job_id, TimelineEvent.REPORT_GENERATED, "late")
    await jobs.log(job_id, "a note after the end is kept")
    await jobs.record(job_id, TimelineEvent.WEBHOOK_DELIVERED, "200", allow_terminal=True)
    # allow_terminal is for notes: it never lets a status leave a terminal state
    with pytest.raises(ConflictError):
        await move(jobs, job_id, S.PROCESSING, allow_terminal=True)
    job = await jobs.require(job_id)
    assert job.status is S.FAILED
    assert [e.type for e in await jobs.timeline(job_id)][-2:] == ["log", "webhook.delivered"]


async def test_an_unknown_job_is_a_conflict(jobs: JobStore) -> None:
    with pytest.raises(ConflictError):
        await move(jobs, new_job_id(), S.PROCESSING)
    assert await jobs.fail(new_job_id(), code="x", message="y") is None


async def test_the_timeline_lives_on_the_item_then_overflows_in_order(
    jobs: JobStore, aws: AwsClients
) -> None:
    """One write per transition: the first entries are on the job item (no job_events item);
    an entry too large for the item leaves a stub there and its full text in job_events; past
    ``TIMELINE_ON_ITEM`` entries go to job_events. Readers see one ordered timeline, each entry
    with the status the job had when it was written."""
    from leadmagnet.common.stores.jobs import TIMELINE_ON_ITEM

    job_id = await new_job(jobs)
    await move(jobs, job_id, S.PROCESSING)
    await jobs.log(job_id, "a note", data={"n": 1})
    big = {"payload": "x" * 4000}
    await jobs.log(job_id, "a large note", data=big)
    stored = await jobs.events.query(
        KeyConditionExpression="job_id = :j", ExpressionAttributeValues=values(j=job_id)
    )
    assert [int(e["seq"]) for e in stored] == [4]  # only the large entry's full text
    item = await jobs.jobs.get({"job_id": job_id})
    assert item is not None
    assert len(item["timeline"]) == 4
    assert json.loads(item["timeline"][3])["stub"]
    timeline = await jobs.timeline(job_id)
    assert [e.seq for e in timeline] == [1, 2, 3, 4]
    assert [e.status for e in timeline] == [S.PENDING, S.PROCESSING, S.PROCESSING, S.PROCESSING]
    assert timeline[2].data == {"n": 1}
    assert timeline[3].data == big
    for i in range(TIMELINE_ON_ITEM):
        await jobs.log(job_id, f"line {i}", data={"i": i})
    done = await jobs.transition(job_id, TimelineEvent.JOB_COMPLETED, "done", status=S.COMPLETED)
    timeline = await jobs.timeline(job_id)
    assert [e.seq for e in timeline] == list(range(1, done.event_seq + 1))
    assert [e.data.get("i") for e in timeline[4:-1]] == list(range(TIMELINE_ON_ITEM))
    assert timeline[-1].status is S.COMPLETED
    assert timeline[-2].status is S.PROCESSING
    assert [e.seq for e in await jobs.timeline(job_id, after_seq=60)] == list(
        range(61, done.event_seq + 1)
    )


async def test_a_write_sends_the_job_back_only_to_callers_that_use_it(
    jobs: JobStore, aws: AwsClients
) -> None:
    """The job item (timeline and stage results on it) comes back with ``transition``,
    ``write`` and a completing finish; ``record``, ``write_only`` and a finish that does not
    complete the job ask for nothing back (ReturnValues NONE), unless an entry is stored apart
    and needs the seq the write took."""
    from leadmagnet.common.stores.jobs import JobChange, claim_run, finish_run

    asked: list[str | None] = []
    client = await aws.client("dynamodb")
    event = "provide-client-params.dynamodb.UpdateItem"

    def note(params: dict[str, Any], **_: Any) -> None:
        asked.append(params.get("ReturnValues"))

    client.meta.events.register(event, note)
    try:
        job_id = await new_job(jobs)
        moved = await jobs.transition(job_id, TimelineEvent.LOG, "start", status=S.PROCESSING)
        await jobs.record(job_id, TimelineEvent.LOG, "a note")
        await jobs.log(job_id, "a large note", data={"payload": "x" * 4000})
        claimed, _ = await claim_run(
            jobs,
            job_id,
            "report",
            JobChange(),
            tenant_id="ten_lifecycle",
            kinds=frozenset({"lead_magnet"}),
            statuses=frozenset({S.PROCESSING}),
            lease_until_ms=2**40,
            now_ms=1,
        )
        finished = await finish_run(jobs, job_id, "report", JobChange(), {"n": 1}, read_back=False)
    finally:
        client.meta.events.unregister(event, note)
    assert asked == ["ALL_NEW", "NONE", "ALL_NEW", "ALL_NEW", "NONE"]
    assert moved.status is S.PROCESSING
    assert claimed
    assert finished is None
    job = await jobs.require(job_id)
    assert job.runs["report"]["state"] == "done"
    assert [e.message for e in await jobs.timeline(job_id)][-2:] == ["a note", "a large note"]
    assert (await jobs.timeline(job_id))[-1].data == {"payload": "x" * 4000}


async def test_the_items_lists_hold_packed_elements_and_read_as_items_written_before(
    jobs: JobStore,
) -> None:
    """The job item's timeline, cost calls and file records are stored as JSON text, one
    string per element. An item written before (maps) reads the same, also once new
    elements were appended to its lists."""
    from leadmagnet.common.models import Artifact
    from leadmagnet.common.providers.base import CallCost, Usage
    from leadmagnet.common.stores.jobs import JobChange

    job_id = await new_job(jobs)
    legacy = await jobs.jobs.get({"job_id": job_id})
    assert legacy is not None
    assert isinstance(legacy["timeline"][0], str)
    # As an item written before the packing holds them: maps.
    legacy["timeline"] = [json.loads(e) for e in legacy["timeline"]]
    call = CallCost(
        provider="offline",
        model="m",
        operation="text",
        usage=Usage(input_tokens=1, output_tokens=2),
        cost_micros=3,
        price_version="test",
    )
    legacy["cost_calls"] = [call.model_dump(mode="json")]

    def file(artifact_id: str) -> Artifact:
        return Artifact(
            artifact_id=artifact_id,
            job_id=job_id,
            tenant_id="ten_lifecycle",
            kind="report_html",
            s3_key=f"ten_lifecycle/jobs/{job_id}/{artifact_id}.html",
            filename="report.html",
            content_type="text/html",
            size_bytes=10,
        )

    legacy["artifact_refs"] = [file("art_old").model_dump(mode="json")]
    await jobs.jobs.put(legacy)

    change = JobChange()
    change.charge(costs=[call], artifacts=[file("art_new")])
    await jobs.write_only(job_id, change)
    await jobs.record(job_id, TimelineEvent.LOG, "appended")

    item = await jobs.jobs.get({"job_id": job_id})
    assert item is not None
    assert [type(e) for e in item["timeline"]] == [dict, str]
    assert [type(e) for e in item["cost_calls"]] == [dict, str]
    assert [type(e) for e in item["artifact_refs"]] == [dict, str]
    job = await jobs.require(job_id)
    assert job.cost_calls == [call, call]
    at = {"created_at"}  # each file() is made now
    assert [a.model_dump(exclude=at) for a in registered_artifacts(job)] == [
        file(i).model_dump(exclude=at) for i in ("art_old", "art_new")
    ]
    # Stored without what reading restores: the job's ids, the defaults.
    assert "job_id" not in item["artifact_refs"][1]
    assert "bucket" not in item["artifact_refs"][1]
    assert "request_id" not in item["cost_calls"][1]
    timeline = await jobs.timeline(job_id)
    assert [(e.seq, e.message) for e in timeline] == [(1, "job created"), (2, "appended")]
    assert timeline[1].level == "info"
    assert timeline[1].data == {}
    assert '"level"' not in item["timeline"][1]
