"""The job lifecycle as one state machine (``models.ALLOWED_TRANSITIONS``) and the timeline's
event names (``models.TimelineEvent``) as the progress view reads them. In-process, no AWS."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from leadmagnet.common.models import (
    ALLOWED_TRANSITIONS,
    RETRY_TRANSITION,
    TERMINAL_STATUSES,
    Job,
    JobEvent,
    JobStatus,
    TimelineEvent,
)
from leadmagnet.common.stores.jobs import delivers
from leadmagnet.gateway import progress

S = JobStatus
AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(JobStatus)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_terminal_states_have_no_exits(terminal: JobStatus) -> None:
    assert terminal.terminal
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()
    assert not any(terminal.can_become(s) for s in JobStatus)


@pytest.mark.parametrize("state", [s for s in JobStatus if not s.terminal])
def test_every_state_that_is_not_final_can_fail(state: JobStatus) -> None:
    assert state.can_become(S.FAILED)


def test_failed_is_reachable_from_exactly_the_states_that_are_not_final() -> None:
    assert S.FAILED.predecessors == frozenset(s for s in JobStatus if not s.terminal)


def test_nothing_moves_back_to_pending() -> None:
    assert S.PENDING.predecessors == frozenset()


@pytest.mark.parametrize(
    "path",
    [
        # lead magnet, no gate
        [S.PENDING, S.PROCESSING, S.COMPLETED],
        # lead magnet behind an approval gate
        [S.PENDING, S.PROCESSING, S.AWAITING_CALLBACK, S.COMPLETED],
        [S.PENDING, S.PROCESSING, S.AWAITING_CALLBACK, S.FAILED],
        # product kit (confirmation by the customer)
        [S.PENDING, S.PROCESSING, S.AWAITING_CONFIRMATION, S.PROCESSING, S.COMPLETED],
        # product kit with auto_confirm, and funnel runs: processing re-entered per stage/retry
        [S.PENDING, S.PROCESSING, S.PROCESSING, S.COMPLETED],
        # a first event that could not be queued, a failure hook before any stage started
        [S.PENDING, S.FAILED],
        # a kit that fails while it waits for confirmation
        [S.PENDING, S.PROCESSING, S.AWAITING_CONFIRMATION, S.FAILED],
    ],
    ids=lambda p: "->".join(s.value for s in p),
)
def test_documented_paths_are_allowed(path: list[JobStatus]) -> None:
    for before, after in itertools.pairwise(path):
        assert before.can_become(after), f"{before} -> {after}"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (S.COMPLETED, S.PROCESSING),
        (S.COMPLETED, S.FAILED),
        (S.COMPLETED, S.COMPLETED),
        (S.FAILED, S.PROCESSING),
        (S.FAILED, S.COMPLETED),
        (S.FAILED, S.FAILED),
        (S.PENDING, S.COMPLETED),  # nothing completes without having been processed
        (S.PENDING, S.AWAITING_CALLBACK),
        (S.PENDING, S.AWAITING_CONFIRMATION),
        (S.AWAITING_CONFIRMATION, S.COMPLETED),  # a kit completes only after it was confirmed
        (S.AWAITING_CONFIRMATION, S.AWAITING_CALLBACK),
        (S.AWAITING_CALLBACK, S.PROCESSING),  # a gate ends with its outcome, nothing else
        (S.AWAITING_CALLBACK, S.AWAITING_CONFIRMATION),
        (S.AWAITING_CALLBACK, S.AWAITING_CALLBACK),
        (S.PROCESSING, S.PENDING),
    ],
)
def test_moves_nothing_does_are_refused(before: JobStatus, after: JobStatus) -> None:
    assert not before.can_become(after)
    assert before not in after.predecessors


def test_predecessors_mirror_the_table() -> None:
    for before in JobStatus:
        for after in JobStatus:
            assert before.can_become(after) == (before in after.predecessors)


def test_the_table_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(TypeError):
        ALLOWED_TRANSITIONS[S.COMPLETED] = frozenset({S.PROCESSING})  # type: ignore[index]


@pytest.mark.parametrize("state", list(JobStatus))
def test_output_is_visible_only_when_completed(state: JobStatus) -> None:
    assert delivers(Job(job_id="job_1", tenant_id="ten_1", status=state)) is (state is S.COMPLETED)


# ---- timeline event names -------------------------------------------------------------------


def test_timeline_events_equal_their_strings() -> None:
    stored: str = "job.completed"  # JobEvent.type as read back
    assert stored == TimelineEvent.JOB_COMPLETED
    assert TimelineEvent("job.analyzing") is TimelineEvent.JOB_ANALYZING
    assert {"job.failed": 1}[TimelineEvent.JOB_FAILED] == 1
    assert f"{TimelineEvent.CALLBACK_AWAITING}" == "callback.awaiting"


def test_timeline_event_values_are_distinct() -> None:
    values = [e.value for e in TimelineEvent]
    assert len(values) == len(set(values))


def test_the_progress_view_knows_only_timeline_events() -> None:
    names = {e.value for e in TimelineEvent}
    assert set(progress.MILESTONES) <= names
    assert set(progress.SEED_TYPES) <= names
    assert set(progress.TERMINAL_EVENTS) == {"job.completed", "job.failed", "job.cancelled"}
    # the gate, the kit and the funnel run all show up on the progress bar
    for e in (
        TimelineEvent.CALLBACK_AWAITING,
        TimelineEvent.JOB_ANALYZING,
        TimelineEvent.JOB_CONFIRMED,
        TimelineEvent.RUN_AGENT_STARTED,
    ):
        assert e in progress.MILESTONES


def event(seq: int, type_: str, **data: object) -> JobEvent:
    return JobEvent(job_id="job_1", seq=seq, type=type_, at=AT, data=dict(data))


def test_progress_reads_stored_strings_and_enum_members_alike() -> None:
    stored = [event(1, "job.created"), event(2, "job.processing"), event(3, "render.started")]
    typed = [
        event(1, TimelineEvent.JOB_CREATED),
        event(2, TimelineEvent.JOB_PROCESSING),
        event(3, TimelineEvent.RENDER_STARTED),
    ]
    assert progress.progress_of(stored) == progress.progress_of(typed)
    assert progress.progress_of(stored).percent == 70
    failed = progress.progress_of([*stored, event(4, TimelineEvent.JOB_FAILED)])
    assert failed == progress.Progress(70, progress.FAILED_LABEL)
    done = progress.progress_of([*typed, event(5, "log"), event(6, "job.completed")])
    assert done.percent == 100


def test_seed_payload_of_terminal_entries() -> None:
    failed = JobEvent(job_id="job_1", seq=9, type="job.failed", at=AT, message="boom")
    assert progress.seed_payload(failed) == {"jobId": "job_1", "error": "boom"}
    done = event(9, TimelineEvent.JOB_COMPLETED, assets={"ads": []}, progress=100)
    assert progress.seed_payload(done) == {"jobId": "job_1", "assets": {"ads": []}, "progress": 100}


# ---- cancel and retry (POST /v1/jobs/{id}/cancel, /retry) -----------------------------------


def test_cancelled_is_final_and_reachable_from_every_state_that_is_not() -> None:
    assert S.CANCELLED.terminal
    assert S.CANCELLED in TERMINAL_STATUSES
    assert S.CANCELLED.predecessors == frozenset(s for s in JobStatus if not s.terminal)
    assert not S.COMPLETED.can_become(S.CANCELLED)
    assert not S.FAILED.can_become(S.CANCELLED)


def test_a_cancelled_job_delivers_nothing() -> None:
    assert not delivers(Job(job_id="job_1", tenant_id="ten_1", status=S.CANCELLED))


def test_retry_is_the_one_move_out_of_failed_and_not_in_the_table() -> None:
    # Kept out of ALLOWED_TRANSITIONS: no stage's record(status=processing) may resurrect a
    # failed job; only JobStore.reopen (the retry API's own conditional write) takes it.
    assert RETRY_TRANSITION == (S.FAILED, S.PROCESSING)
    assert S.FAILED not in S.PROCESSING.predecessors


def test_progress_after_a_cancel_and_after_a_retry() -> None:
    running = [event(1, "job.created"), event(2, "job.processing")]
    cancelled = [*running, event(3, TimelineEvent.JOB_CANCELLED)]
    assert progress.progress_of(cancelled) == progress.Progress(15, progress.CANCELLED_LABEL)
    assert progress.ended(cancelled)
    failed = [*running, event(3, TimelineEvent.JOB_FAILED)]
    retried = [*failed, event(4, TimelineEvent.JOB_RETRIED)]
    assert progress.ended(failed)
    assert not progress.ended(retried)  # a follower resuming after the retry keeps following
    assert progress.progress_of(retried).label == progress.RETRIED_LABEL
    assert progress.ended([*retried, event(5, TimelineEvent.JOB_COMPLETED)])
