"""Events of a job's life (every job kind) and of the lead-magnet flow (seed 000)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field

from .envelope import EventData, event_type

V = TypeVar("V")

# Event-carried inputs: small ones ride on the event so the next stage need not read them back;
# a larger one stays where it is stored (the event names where: submission_id, s3_key).
CARRIED_FIELDS_BYTES = 16 * 1024
CARRIED_REPORT_BYTES = 32 * 1024


def carried(value: V, max_bytes: int) -> V | None:
    """``value`` if its JSON is at most ``max_bytes`` (an SNS message holds 256 KiB), else None."""
    return value if len(json.dumps(value, default=str).encode()) <= max_bytes else None


class ArtifactRef(EventData):
    artifact_id: str
    kind: str = Field(description="e.g. report_markdown, final_html")
    content_type: str
    size_bytes: int
    url: str | None = Field(None, description="Public (CDN) or presigned URL at publish time.")


class CostSummary(EventData):
    total_micros: int = Field(description="Total cost in millionths of a US dollar.")
    total_usd: str = Field(description="The same total as a decimal string, e.g. '0.012345'.")
    calls: int


@event_type(
    "job.requested",
    version=1,
    public=False,
    description="A job was accepted by the gateway and waits for its first stage.",
)
class JobRequested(EventData):
    job_id: str
    tenant_id: str
    kind: str = "lead_magnet"
    workflow_id: str | None = None
    submission_id: str | None = None
    fields: dict[str, Any] | None = Field(
        None,
        description="The submission's fields when small (at most 16 KiB as JSON); "
        "otherwise null, and the stage reads them by submission_id.",
    )


@event_type(
    "report.generated",
    version=1,
    public=False,
    description="The AI report (markdown) of a lead-magnet job is stored as an artifact.",
)
class ReportGenerated(EventData):
    job_id: str
    tenant_id: str
    workflow_id: str
    submission_id: str | None = None
    artifact_id: str
    s3_key: str
    fields: dict[str, Any] | None = Field(
        None, description="The submission's fields when small (as in job.requested)."
    )
    markdown: str | None = Field(
        None,
        description="The report itself when at most 32 KiB as JSON; otherwise null, and the "
        "renderer reads it from s3_key.",
    )


@event_type(
    "job.completed",
    version=1,
    public=True,
    description="A job finished successfully; its output and artifacts are available.",
)
class JobCompleted(EventData):
    job_id: str
    tenant_id: str
    kind: str
    workflow_id: str | None = None
    status: str = "completed"
    output_url: str | None = None
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    cost: CostSummary | None = None
    completed_at: datetime


@event_type(
    "job.failed",
    version=1,
    public=True,
    description="A job failed permanently; error_message says why.",
)
class JobFailed(EventData):
    job_id: str
    tenant_id: str
    kind: str
    workflow_id: str | None = None
    status: str = "failed"
    stage: str | None = None
    error_code: str
    error_message: str
    failed_at: datetime


@event_type(
    "job.cancelled",
    version=1,
    public=True,
    description="A job was cancelled by its owner (POST /v1/jobs/{id}/cancel): a stage that was"
    " running finished, nothing after it ran, and nothing is delivered.",
)
class JobCancelled(EventData):
    job_id: str
    tenant_id: str
    kind: str
    workflow_id: str | None = None
    status: str = "cancelled"
    stage: str | None = Field(None, description="The stage the job was in when cancelled.")
    cancelled_at: datetime


@event_type(
    "callback.deadline",
    version=1,
    public=False,
    description=(
        "Re-check of an approval gate's deadline, sent straight to the renderer queue with an SQS"
        " delay (≤ 15 min per hop, chained until the deadline)."
    ),
)
class CallbackDeadline(EventData):
    job_id: str
    tenant_id: str
    external_id: str
    deadline: datetime
