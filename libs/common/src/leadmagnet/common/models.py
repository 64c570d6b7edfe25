"""Domain models shared by every service (one copy; stores and the API use these)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .providers.base import CallCost


def utcnow() -> datetime:
    return datetime.now(UTC)


D = TypeVar("D", bound=BaseModel)


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Job kinds: one per flow (lead magnet, seed 001's funnel runs, seed 002's product kits).
LEAD_MAGNET_KIND = "lead_magnet"
RUN_KIND = "funnel_rewrite"
PRODUCT_KIND = "product_marketing"


class JobStatus(StrEnum):
    """A job's lifecycle state; ``ALLOWED_TRANSITIONS`` says which state may follow which."""

    PENDING = "pending"
    PROCESSING = "processing"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_CALLBACK = "awaiting_callback"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by its owner (POST /v1/jobs/{id}/cancel)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    def can_become(self, other: JobStatus) -> bool:
        """Whether a job in this state may be moved to ``other`` (``ALLOWED_TRANSITIONS``)."""
        return other in ALLOWED_TRANSITIONS[self]

    @property
    def predecessors(self) -> frozenset[JobStatus]:
        """The states a job may be in to be moved to this one (empty for ``pending``: a job is
        created pending, never moved there)."""
        return _PREDECESSORS[self]


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

_S = JobStatus
# The job lifecycle, declared once. ``JobStore.record`` enforces it with a condition on the same
# UpdateItem that writes the status (a refused move raises ConflictError); a timeline entry that
# leaves the status alone is not a transition. The paths:
#   lead magnet:  pending -> processing (report, render) -> completed
#                 ... processing -> awaiting_callback (approval gate) -> completed | failed
#   product kit:  pending -> processing (analysing) -> awaiting_confirmation -> processing
#                 (confirmed, generating) -> completed; with auto_confirm it stays processing
#   funnel run:   pending -> processing (images, agent; re-entered per stage) -> completed
# Any state that is not final may fail or be cancelled; completed, failed and cancelled have no
# exits (a retry is not a transition of this table: see RETRY_TRANSITION). processing ->
# processing is a real move (each stage and each retry records it again); awaiting_confirmation
# -> processing is the confirmation (and a retried analysis). Nothing completes straight from
# pending or awaiting_confirmation, and nothing leaves awaiting_callback except its outcome.
ALLOWED_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = MappingProxyType(
    {
        _S.PENDING: frozenset({_S.PROCESSING, _S.FAILED, _S.CANCELLED}),
        _S.PROCESSING: frozenset(
            {
                _S.PROCESSING,
                _S.AWAITING_CONFIRMATION,
                _S.AWAITING_CALLBACK,
                _S.COMPLETED,
                _S.FAILED,
                _S.CANCELLED,
            }
        ),
        _S.AWAITING_CONFIRMATION: frozenset({_S.PROCESSING, _S.FAILED, _S.CANCELLED}),
        _S.AWAITING_CALLBACK: frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELLED}),
        _S.COMPLETED: frozenset(),
        _S.FAILED: frozenset(),
        _S.CANCELLED: frozenset(),
    }
)
# The one way out of a final state, taken only by the retry API (``JobStore.reopen``, its own
# conditional write): failed -> processing. It is kept out of ALLOWED_TRANSITIONS on purpose,
# so no stage's ``record(status=PROCESSING)`` can ever resurrect a failed job.
RETRY_TRANSITION = (_S.FAILED, _S.PROCESSING)
_PREDECESSORS: Mapping[JobStatus, frozenset[JobStatus]] = MappingProxyType(
    {
        target: frozenset(s for s, nexts in ALLOWED_TRANSITIONS.items() if target in nexts)
        for target in JobStatus
    }
)
del _S


class TimelineEvent(StrEnum):
    """Every type of timeline entry (``JobEvent.type``) that workers and the gateway write.

    The progress view (``gateway.progress``) keys its milestones by these; ``JobEvent.type``
    stays a plain string (stored entries are never rewritten), and a StrEnum member equals its
    value, so comparisons with stored types work either way.
    """

    # every job
    JOB_CREATED = "job.created"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"  # POST /v1/jobs/{id}/cancel
    JOB_RETRIED = "job.retried"  # POST /v1/jobs/{id}/retry: failed -> processing
    LOG = "log"  # JobStore.log: a note that changes nothing
    # lead magnets
    JOB_PROCESSING = "job.processing"
    REPORT_GENERATED = "report.generated"
    RENDER_STARTED = "render.started"
    # approval gates (callbacks)
    CALLBACK_AWAITING = "callback.awaiting"
    CALLBACK_CALL_OK = "callback.call_ok"
    CALLBACK_CALL_FAILED = "callback.call_failed"
    CALLBACK_RECEIVED = "callback.received"
    # product kits (the seed's message types, kitflow.report_progress)
    JOB_ANALYZING = "job.analyzing"
    JOB_ANALYSIS_COMPLETE = "job.analysis_complete"
    JOB_CONFIRMED = "job.confirmed"
    JOB_GENERATING = "job.generating"
    # funnel runs
    RUN_IMAGES_STARTED = "run.images.started"
    RUN_IMAGES_AGGREGATED = "run.images.aggregated"
    RUN_AGENT_STARTED = "run.agent.started"
    # webhooks (notifier; written after the job ended)
    WEBHOOK_DELIVERED = "webhook.delivered"
    WEBHOOK_GONE = "webhook.gone"
    WEBHOOK_FAILED = "webhook.failed"


class LeadMagnetData(BaseModel):
    """``Job.data`` of a lead magnet: nothing of its own yet (the workflow and submission ids
    are the job's fields)."""

    model_config = ConfigDict(extra="allow")


class RunData(BaseModel):
    """``Job.data`` of a funnel run (seed 001), written by ``POST /v1/runs`` and the imager."""

    model_config = ConfigDict(extra="allow")

    template_id: str = ""
    template_version: int = 0
    input: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    image_results: list[dict[str, Any]] = Field(default_factory=list)


class KitData(BaseModel):
    """``Job.data`` of a product kit (seed 002): the upload, the customer's preferences, the
    analysis once it exists."""

    model_config = ConfigDict(extra="allow")

    s3_key: str = ""
    filename: str = ""
    preferences: dict[str, Any] = Field(default_factory=dict)
    auto_confirm: bool = False
    analysis: dict[str, Any] | None = None


JobData = LeadMagnetData | RunData | KitData
DATA_BY_KIND: dict[str, type[JobData]] = {
    LEAD_MAGNET_KIND: LeadMagnetData,
    RUN_KIND: RunData,
    PRODUCT_KIND: KitData,
}


RUN_ATTRIBUTE = "run:"  # the job item's per-stage run records: ``run:<scope>``


def pack_element(value: Mapping[str, Any] | BaseModel) -> str:
    """An element of a job item's ``timeline``, ``cost_calls`` or ``artifact_refs`` list as it
    is stored: compact JSON text, without what its model restores when it reads it (a model's
    defaults; ``omit_defaults`` for a timeline entry's dict). The lists are only ever read
    whole, never queried by their elements' attributes, and one string costs the SDK's
    parser, our deserializer and the table's request handling far less than a map of typed
    attributes (a finished lead-magnet job's lists hold about eighty of them). Left out, the
    defaults also keep the item no larger than the maps were: DynamoDB bills a write per KiB
    of it."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(value, separators=(",", ":"), default=str)


@cache
def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if not field.is_required()
    }


def omit_defaults(value: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """``value`` (a dump of a ``model``) without the entries ``model`` restores as defaults."""
    defaults = _defaults(model)
    return {k: v for k, v in value.items() if k not in defaults or v != defaults[k]}


def _unpacked(value: Any) -> Any:
    """A stored list's elements as values: JSON text (``pack_element``), or maps as items
    written before the packing hold them; a list may mix both."""
    if isinstance(value, list):
        return [json.loads(e) if isinstance(e, str) else e for e in value]
    return value


Unpacked = BeforeValidator(_unpacked)


class Job(Model):
    job_id: str
    tenant_id: str
    kind: str = "lead_magnet"
    status: JobStatus = JobStatus.PENDING
    workflow_id: str | None = None
    # The workflow's ``updated_at`` when the job was created: the revision its stages may take
    # from a per-process cache (``WorkflowStore.at``) instead of reading it again.
    workflow_rev: str | None = None
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
    cost_calls: Annotated[list[CallCost], Unpacked] = Field(default_factory=list)
    event_seq: int = 0
    data: dict[str, Any] = Field(default_factory=dict)
    # '{tenant_id}#{template_id}' for jobs run from a template (funnel runs): the key of the
    # sparse ``by_template`` index behind a template's run history. Absent otherwise.
    template_ref: str | None = None
    # Result/log files (seed 004) by name -> S3 key, recorded only after they were written.
    files: dict[str, str] = Field(default_factory=dict)
    # A failed job's failing stage input (a CloudEvent as JSON), written with the failure by
    # the stage failure hook: what POST /v1/jobs/{id}/retry re-publishes. None: not retryable.
    retry_event: str | None = None
    retries: int = 0  # how often the job was retried (outcome event ids differ per attempt)
    # The timeline's first entries as stored on the job item (``stores.jobs``: one write per
    # transition); read them through ``JobStore.timeline_of``. Never part of a view.
    timeline: Annotated[list[dict[str, Any]], Unpacked] = Field(default_factory=list, exclude=True)
    # Per-stage run records (``stages``: claimed with a lease, then done with the stage's
    # result), keyed by the stage's scope. Never part of a view.
    runs: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)
    # What the stages registered about their files (kind, type, size, key), so an outcome
    # event needs no listing. Never part of a view.
    artifact_refs: Annotated[list[dict[str, Any]], Unpacked] = Field(
        default_factory=list, exclude=True
    )

    @field_validator("artifact_ids", mode="before")
    @classmethod
    def _sorted_ids(cls, v: Any) -> Any:
        return sorted(v) if isinstance(v, set | frozenset | list) else v

    @model_validator(mode="before")
    @classmethod
    def _gather_runs(cls, item: Any) -> Any:
        """Stage run records are top-level attributes (``run:<scope>``: no parent map to
        create first); the model holds them as ``runs``."""
        if isinstance(item, dict) and any(k.startswith(RUN_ATTRIBUTE) for k in item):
            runs = {
                k.removeprefix(RUN_ATTRIBUTE): v
                for k, v in item.items()
                if k.startswith(RUN_ATTRIBUTE) and isinstance(v, dict)
            }
            item = {k: v for k, v in item.items() if not k.startswith(RUN_ATTRIBUTE)}
            item["runs"] = runs
        return item

    def run_data(self) -> RunData:
        """``data`` as a funnel run's typed model (the one way flows read it)."""
        return self._typed(RunData)

    def kit_data(self) -> KitData:
        """``data`` as a product kit's typed model (the one way flows read it)."""
        return self._typed(KitData)

    def _typed(self, model: type[D]) -> D:
        if DATA_BY_KIND.get(self.kind) is not model:
            raise TypeError(f"job {self.job_id} is a {self.kind!r} job, not {model.__name__}")
        return model.model_validate(self.data)


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
WebhookEvent = Literal["job.completed", "job.failed", "job.cancelled"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("job.completed", "job.failed", "job.cancelled")


def _distinct_events(v: list[WebhookEvent]) -> list[WebhookEvent]:
    if len(set(v)) != len(v):
        raise ValueError("each event may be named once")
    return v


WebhookEvents = Annotated[
    list[WebhookEvent],
    Field(min_length=1, max_length=len(WEBHOOK_EVENTS)),
    AfterValidator(_distinct_events),
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
