"""How far a job is, for people: a percentage and a label per timeline event type.

Used by the SSE stream and the job page. Entries that are not milestones (logs, webhooks) keep
the last value, so progress never goes backwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadmagnet.common.models import JobEvent

MILESTONES: dict[str, tuple[int, str]] = {
    "job.created": (5, "Request received"),
    "job.processing": (15, "Writing your report"),
    "report.generated": (60, "Report written"),
    "render.started": (70, "Designing your document"),
    "callback.awaiting": (90, "Waiting for approval"),
    "callback.received": (95, "Approved"),
    "run.images.started": (20, "Creating images"),
    "run.images.aggregated": (50, "Images ready"),
    "run.agent.started": (60, "Rewriting the funnel"),
    "job.analyzing": (10, "Analysing your photo"),
    "job.analysis_complete": (40, "Analysis ready"),
    "job.confirmed": (45, "Confirmed"),
    "job.generating": (55, "Generating copy and images"),
    "job.completed": (100, "Done"),
}
# The seed-002 message types a timeline entry is sent as (job.created... job.complete, job.error).
SEED_TYPES = {
    "job.created": "job.created",
    "job.analyzing": "job.analyzing",
    "job.analysis_complete": "job.analysis_complete",
    "job.generating": "job.generating",
    "job.completed": "job.complete",
    "job.failed": "job.error",
}
FAILED_LABEL = "Something went wrong"

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
    if event.type == "job.failed":
        return Progress(current.percent, FAILED_LABEL)
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
