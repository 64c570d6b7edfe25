"""How far a job is, for people: a percentage and a label per timeline event type
(``TimelineEvent``, the names the workers write).

Used by the SSE stream, the WebSocket and the job page. Entries that are not milestones (logs,
webhooks) keep the last value, so progress never goes backwards. ``follow_job`` is the one
reader of a job's live timeline: both transports (SSE and the seed's WebSocket) stream from it.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadmagnet.common.models import JobEvent, TimelineEvent

if TYPE_CHECKING:
    from leadmagnet.common.platform import Platform

MILESTONES: dict[str, tuple[int, str]] = {
    TimelineEvent.JOB_CREATED: (5, "Request received"),
    TimelineEvent.JOB_PROCESSING: (15, "Writing your report"),
    TimelineEvent.REPORT_GENERATED: (60, "Report written"),
    TimelineEvent.RENDER_STARTED: (70, "Designing your document"),
    TimelineEvent.CALLBACK_AWAITING: (90, "Waiting for approval"),
    TimelineEvent.CALLBACK_RECEIVED: (95, "Approved"),
    TimelineEvent.RUN_IMAGES_STARTED: (20, "Creating images"),
    TimelineEvent.RUN_IMAGES_AGGREGATED: (50, "Images ready"),
    TimelineEvent.RUN_AGENT_STARTED: (60, "Rewriting the funnel"),
    TimelineEvent.JOB_ANALYZING: (10, "Analysing your photo"),
    TimelineEvent.JOB_ANALYSIS_COMPLETE: (40, "Analysis ready"),
    TimelineEvent.JOB_CONFIRMED: (45, "Confirmed"),
    TimelineEvent.JOB_GENERATING: (55, "Generating copy and images"),
    TimelineEvent.JOB_COMPLETED: (100, "Done"),
}
# The seed-002 message type a timeline entry is sent as (the seed's own names: job.complete,
# job.error); entries of other types are not sent as seed messages.
SEED_TYPES: dict[str, str] = {
    TimelineEvent.JOB_CREATED: "job.created",
    TimelineEvent.JOB_ANALYZING: "job.analyzing",
    TimelineEvent.JOB_ANALYSIS_COMPLETE: "job.analysis_complete",
    TimelineEvent.JOB_GENERATING: "job.generating",
    TimelineEvent.JOB_COMPLETED: "job.complete",
    TimelineEvent.JOB_FAILED: "job.error",
    TimelineEvent.JOB_CANCELLED: "job.error",  # the seed's clients stop waiting on job.error
}
FAILED_LABEL = "Something went wrong"
CANCELLED_LABEL = "Cancelled"
RETRIED_LABEL = "Trying again"

# The steps a job page lists, with the progress at which each one starts.
STEPS: dict[str, list[tuple[str, int]]] = {
    "lead_magnet": [
        ("Request received", 0),
        ("Writing your report", 15),
        ("Designing your document", 65),
        ("Ready", 100),
    ],
    "product_marketing": [
        ("Photo received", 0),
        ("Analysing the photo", 10),
        ("Waiting for your confirmation", 40),
        ("Generating copy and images", 45),
        ("Ready", 100),
    ],
    "funnel_rewrite": [
        ("Run started", 0),
        ("Creating images", 20),
        ("Rewriting the funnel", 60),
        ("Ready", 100),
    ],
}


@dataclass(frozen=True)
class Progress:
    percent: int
    label: str


def advance(current: Progress, event: JobEvent) -> Progress:
    if event.type == TimelineEvent.JOB_FAILED:
        return Progress(current.percent, FAILED_LABEL)
    if event.type == TimelineEvent.JOB_CANCELLED:
        return Progress(current.percent, CANCELLED_LABEL)
    if event.type == TimelineEvent.JOB_RETRIED:
        return Progress(current.percent, RETRIED_LABEL)
    milestone = MILESTONES.get(event.type)
    if milestone is None:
        return current
    percent = event.data.get("progress", milestone[0])
    if not isinstance(percent, int) or percent < current.percent:
        return current
    return Progress(min(100, percent), milestone[1])


def progress_of(events: list[JobEvent]) -> Progress:
    current = Progress(0, "Waiting to start")
    for event in events:
        current = advance(current, event)
    return current


def steps_for(kind: str, percent: int) -> list[dict[str, object]]:
    steps = STEPS.get(kind, STEPS["lead_magnet"])
    out = []
    for i, (label, at) in enumerate(steps):
        following = steps[i + 1][1] if i + 1 < len(steps) else 101
        if percent >= following or percent >= 100:
            state = "done"
        else:
            state = "current" if percent >= at else ""
        out.append({"label": label, "at": at, "state": state})
    return out


def seed_payload(event: JobEvent) -> dict[str, Any]:
    """The seed-002 message payload of a timeline entry (SSE ``payload``, the WebSocket's
    ``payload``, and what ``kitflow.report_progress`` puts on the topic)."""
    payload: dict[str, Any] = {"jobId": event.job_id, **event.data.get("payload", {})}
    if event.type in (TimelineEvent.JOB_FAILED, TimelineEvent.JOB_CANCELLED):
        payload["error"] = event.message
    if event.type == TimelineEvent.JOB_COMPLETED and "assets" in event.data:
        payload["assets"] = event.data["assets"]
    if "progress" in event.data:
        payload["progress"] = event.data["progress"]
    return payload


# ---- following a job live (SSE and WebSocket) ------------------------------------------------

TERMINAL_EVENTS: frozenset[str] = frozenset(
    {TimelineEvent.JOB_COMPLETED, TimelineEvent.JOB_FAILED, TimelineEvent.JOB_CANCELLED}
)
POLL_MIN_SECONDS = 0.5
POLL_MAX_SECONDS = 3.0


@dataclass(frozen=True)
class Step:
    """One timeline entry, with the job's progress once it is counted."""

    event: JobEvent
    progress: Progress


def ended(events: list[JobEvent]) -> bool:
    """Whether the job had ended as of ``events``: its last terminal entry was not followed by
    a retry (``job.retried`` re-opens a failed job)."""
    marks = [e for e in events if e.type in TERMINAL_EVENTS or e.type == TimelineEvent.JOB_RETRIED]
    return bool(marks) and marks[-1].type in TERMINAL_EVENTS


class Signal(enum.Enum):
    KEEP_ALIVE = "keep-alive"  # nothing new for heartbeat_seconds
    END = "end"  # the job is over (after its terminal entry, or already at the resume point)


async def follow_job(
    platform: Platform,
    job_id: str,
    after: int,
    *,
    stop: Callable[[], Awaitable[bool]],
    max_seconds: float,
    heartbeat_seconds: float | None = None,
) -> AsyncIterator[Step | Signal]:
    """Poll the job's timeline (one Query per poll, backing off while nothing happens) and yield
    each entry after ``after`` once, in ``seq`` order; ``Signal.END`` after the terminal entry
    (or at once when the job had already ended at ``after``). Returns without END when ``stop()``
    says so (client gone, server draining) or after ``max_seconds``: the client resumes."""
    timeline = await platform.jobs.timeline(job_id)
    progress = progress_of([e for e in timeline if e.seq <= after])
    if ended([e for e in timeline if e.seq <= after]) and not any(e.seq > after for e in timeline):
        yield Signal.END
        return
    pending = [e for e in timeline if e.seq > after]
    started = beat = time.monotonic()
    delay = POLL_MIN_SECONDS
    while True:
        for event in pending:
            progress = advance(progress, event)
            yield Step(event, progress)
            after = event.seq
            if event.type in TERMINAL_EVENTS:
                yield Signal.END
                return
        now = time.monotonic()
        if heartbeat_seconds is not None and now - beat >= heartbeat_seconds:
            yield Signal.KEEP_ALIVE
            beat = now
        if now - started > max_seconds or await stop():
            return
        delay = POLL_MIN_SECONDS if pending else min(POLL_MAX_SECONDS, delay * 1.5)
        await asyncio.sleep(delay)
        pending = await platform.jobs.timeline(job_id, after_seq=after)
