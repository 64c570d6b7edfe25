"""Domain models shared by every service (one copy; stores and the API use these)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from .providers.base import CallCost


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_CALLBACK = "awaiting_callback"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})


class Job(Model):
    job_id: str
    tenant_id: str
    kind: str = "lead_magnet"
    status: JobStatus = JobStatus.PENDING
    workflow_id: str | None = None
    submission_id: str | None = None
    form_slug: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    stage: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    output_key: str | None = None
    artifact_ids: list[str] = Field(default_factory=list)
    cost_micros: int = 0
    cost_calls: list[CallCost] = Field(default_factory=list)
    event_seq: int = 0
    data: dict[str, Any] = Field(default_factory=dict)
    # '{tenant_id}#{template_id}' for jobs run from a template (funnel runs): the key of the
    # sparse ``by_template`` index behind a template's run history. Absent otherwise.
    template_ref: str | None = None
    # Result/log files (seed 004) by name -> S3 key, recorded only after they were written.
    files: dict[str, str] = Field(default_factory=dict)

    @field_validator("artifact_ids", mode="before")
    @classmethod
    def _sorted_ids(cls, v: Any) -> Any:
        return sorted(v) if isinstance(v, set | frozenset | list) else v


LogLevel = Literal["debug", "info", "warn", "error"]
LogType = Literal["event", "metric", "cost"]


class JobEvent(Model):
    """One entry of a job's timeline (drives SSE and the execution log)."""

    job_id: str
    seq: int
    type: str
    at: datetime
    status: JobStatus | None = None
    stage: str | None = None
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    level: LogLevel = "info"
    log_type: LogType = Field(
        "event", description="'metric' entries carry data.duration_ms; 'cost' ones a breakdown."
    )
    request_id: str | None = Field(
        None, description="The HTTP request or queue message that wrote the entry."
    )


class Artifact(Model):
    artifact_id: str
    job_id: str
    tenant_id: str
    kind: str
    s3_key: str
    bucket: str = "artifacts"
    filename: str
    content_type: str
    size_bytes: int
    public: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Tenant(Model):
    tenant_id: str
    name: str
    created_at: datetime = Field(default_factory=utcnow)


FIELD_NAME = r"^[a-z][a-z0-9_]{0,39}$"
RESOURCE_ID = r"^[A-Za-z0-9_-]{1,64}$"  # ids in requests: tpl_..., wf_..., run_..., demo-funnel
# Document versions are keyed as '#v{version:08d}': eight digits is also the bound a request may
# name (a longer number cannot be a stored version, and would not fit a key).
MAX_VERSION = 99_999_999


class FormField(Model):
    name: str = Field(pattern=FIELD_NAME)
    label: str = Field(min_length=1, max_length=200)
    type: Literal["text", "email", "textarea", "number", "url", "tel", "select", "checkbox"] = (
        "text"
    )
    required: bool = False
    max_length: int = Field(500, ge=1, le=10_000)
    options: list[str] = Field(default_factory=list, max_length=100)
    placeholder: str | None = Field(None, max_length=200)
    help: str | None = Field(None, max_length=500)


class Form(Model):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    tenant_id: str
    workflow_id: str
    name: str = Field(min_length=1, max_length=200)
    fields: list[FormField] = Field(min_length=1, max_length=50)
    created_at: datetime = Field(default_factory=utcnow)


class Submission(Model):
    submission_id: str
    tenant_id: str
    form_slug: str
    workflow_id: str
    job_id: str
    fields: dict[str, Any]
    created_at: datetime = Field(default_factory=utcnow)


class OutboundCall(Model):
    """A call made when a job reaches its approval gate (validation, deployment, notification)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    url: str = Field(max_length=2000)
    method: Literal["POST", "PUT"] = "POST"
    critical: bool = Field(True, description="A failing critical call fails the job.")
    secret_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$",  # the characters a Secrets Manager name has
        description="Secrets Manager name of a bearer token for the call, under"
        " '<RESOURCE_PREFIX>/' (the only secrets the renderer may read).",
    )


CallbackOutcome = Literal["success", "failure"]
StatusWord = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f]+$")
]
MAX_STATUS_WORDS = 20
# The words every gate accepts: ours, and seed 004's (a Jira story moved to "Done").
DEFAULT_STATUS_MAP: dict[str, CallbackOutcome] = {
    "success": "success",
    "failure": "failure",
    "done": "success",
}


class CallbackGate(Model):
    """Wait for an external system (seed 004's task token) before delivery."""

    external_id_field: str = Field(
        pattern=FIELD_NAME, description="Submission field holding the external id (e.g. a story)."
    )
    timeout_seconds: int = Field(72 * 3600, ge=5, le=30 * 24 * 3600)
    calls: list[OutboundCall] = Field(default_factory=list, max_length=5)
    status_map: dict[StatusWord, CallbackOutcome] = Field(
        default_factory=dict,
        max_length=MAX_STATUS_WORDS,
        description="The sender's status words -> success|failure for POST /callback (compared"
        " case-insensitively, added to the defaults: success, failure, done), e.g."
        ' {"Done": "success", "Rejected": "failure"}.',
    )

    @field_validator("status_map")
    @classmethod
    def _distinct_words(cls, v: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for word, outcome in v.items():
            key = word.strip().casefold()
            if key in seen and seen[key] != outcome:
                raise ValueError(f"{word!r} is mapped twice (words are case-insensitive)")
            seen[key] = outcome
        return v

    def outcomes(self) -> dict[str, CallbackOutcome]:
        """Every accepted status word (case-folded) -> its outcome: defaults, then the map."""
        return {
            **DEFAULT_STATUS_MAP,
            **{w.strip().casefold(): o for w, o in self.status_map.items()},
        }


WebhookFormat = Literal["standard", "seed"]
WebhookEvent = Literal["job.completed", "job.failed"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("job.completed", "job.failed")


def _distinct_events(v: list[WebhookEvent]) -> list[WebhookEvent]:
    if len(set(v)) != len(v):
        raise ValueError("each event may be named once")
    return v


WebhookEvents = Annotated[
    list[WebhookEvent], Field(min_length=1, max_length=2), AfterValidator(_distinct_events)
]


class Workflow(Model):
    workflow_id: str
    tenant_id: str
    name: str = Field(min_length=1, max_length=200)
    kind: str = "lead_magnet"
    instructions: str = Field(
        "Write a concise, personalised report for this lead.", max_length=20_000
    )
    model: str | None = None
    template_id: str | None = None
    template_version: int | None = Field(
        None, description="Pinned template version; None uses the newest published one."
    )
    webhook_url: str | None = None
    webhook_secret: str | None = Field(
        None, description="whsec_...; never returned after creation."
    )
    webhook_format: WebhookFormat = "standard"
    webhook_events: WebhookEvents = Field(default_factory=lambda: list(WEBHOOK_EVENTS))
    options: dict[str, Any] = Field(default_factory=dict)
    await_callback: CallbackGate | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DocumentVersion(Model):
    """One version of a versioned document (HTML templates, funnel templates...)."""

    tenant_id: str
    doc_id: str
    version: int = Field(ge=1)
    status: Literal["draft", "published"] = "draft"
    body: dict[str, Any]
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
