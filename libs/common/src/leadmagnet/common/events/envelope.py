"""CloudEvents 1.0 envelopes (structured JSON mode) and the registry of our event types.

Convention for SNS/SQS (CloudEvents has no binding for them): the body is the JSON envelope; SNS
message attributes mirror ``type``, ``tenant_id`` (``tenantid``), ``subject`` and
``correlation_id`` so subscribers filter without parsing bodies. ``source`` + ``id`` is the
deduplication key. Each ``type`` is ``io.leadmagnet.<name>``; its data model is versioned through
``dataschema`` (``.../<name>/v<N>.json``). Additive changes keep the version (readers ignore
unknown fields); breaking changes get a new type name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EVENT_PREFIX = "io.leadmagnet."
SCHEMA_BASE = "https://leadmagnet.dev/schemas/events"

D = TypeVar("D", bound="EventData")


class EventData(BaseModel):
    """Base of every event payload. Readers ignore unknown fields (tolerant reader)."""

    model_config = ConfigDict(extra="ignore")


class CloudEvent(BaseModel, Generic[D]):
    model_config = ConfigDict(extra="allow")  # CloudEvents allows extension attributes

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    tenantid: str | None = Field(None, description="Extension: owning tenant.")
    correlationid: str | None = Field(None, description="Extension: request correlation id.")
    # CloudEvents distributed-tracing extension (W3C Trace Context): the producer's span.
    traceparent: str | None = Field(None, description="Extension: W3C traceparent.")
    tracestate: str | None = Field(None, description="Extension: W3C tracestate.")
    data: D


@dataclass(frozen=True)
class EventSpec:
    name: str
    version: int
    model: type[EventData]
    public: bool
    description: str

    @property
    def type(self) -> str:
        return EVENT_PREFIX + self.name

    @property
    def dataschema(self) -> str:
        return f"{SCHEMA_BASE}/{self.name}/v{self.version}.json"


_REGISTRY: dict[str, EventSpec] = {}
_BY_MODEL: dict[type[EventData], EventSpec] = {}


def event_type(name: str, *, version: int, public: bool, description: str) -> Any:
    """Class decorator registering an ``EventData`` model as the payload of one event type.

    Who produces and consumes it is not said here: the services' declared stages say it
    (``stages.ServicePlan``), and the topology's subscriptions."""

    def register(model: type[D]) -> type[D]:
        spec = EventSpec(name, version, model, public, description)
        if spec.type in _REGISTRY:
            raise ValueError(f"event type {spec.type} registered twice")
        _REGISTRY[spec.type] = spec
        _BY_MODEL[model] = spec
        return model

    return register


def registry() -> dict[str, EventSpec]:
    return dict(_REGISTRY)


def spec_for_type(type_: str) -> EventSpec:
    return _REGISTRY[type_]


def spec_of(model: type[EventData]) -> EventSpec:
    return _BY_MODEL[model]


def new_event(
    data: EventData,
    *,
    source: str,
    subject: str | None = None,
    tenant_id: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent[Any]:
    """Wrap a payload in an envelope whose type and dataschema come from the registry.

    ``event_id`` lets a stage derive a stable id (e.g. from job and stage) so a re-published
    event after a crash carries the same ``source + id`` and downstream can dedupe on it.
    """
    spec = spec_of(type(data))
    return CloudEvent[Any](
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=spec.type,
        subject=subject,
        dataschema=spec.dataschema,
        tenantid=tenant_id,
        correlationid=correlation_id,
        data=data,
    )


class PoisonMessage(Exception):
    """A message that can never be processed: not JSON, not an envelope, unknown type, bad data.

    Carries what could be salvaged (subject, tenant, type) so the job can still be failed.
    """

    def __init__(self, reason: str, *, raw: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        raw = raw or {}
        self.event_type = raw.get("type") if isinstance(raw.get("type"), str) else None
        self.subject = raw.get("subject") if isinstance(raw.get("subject"), str) else None
        self.tenant_id = raw.get("tenantid") if isinstance(raw.get("tenantid"), str) else None


def _short(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_event(body: str | bytes) -> CloudEvent[Any]:
    """Parse and validate an envelope and its payload against the registered model."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise PoisonMessage(f"body is not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise PoisonMessage("body is not a JSON object")
    type_ = raw.get("type")
    spec = _REGISTRY.get(type_) if isinstance(type_, str) else None
    if spec is None:
        raise PoisonMessage(f"unknown event type {type_!r}", raw=raw)
    try:
        return CloudEvent[spec.model].model_validate(raw)  # type: ignore[name-defined]
    except ValidationError as e:
        raise PoisonMessage(f"invalid {spec.name} event: {_short(e)}", raw=raw) from None


def message_attributes(event: CloudEvent[Any]) -> dict[str, dict[str, str]]:
    """SNS/SQS message attributes mirroring the envelope (for filter policies and correlation)."""
    attrs = {"type": event.type, "event_id": event.id}
    if event.tenantid:
        attrs["tenant_id"] = event.tenantid
    if event.subject:
        attrs["subject"] = event.subject
    if event.correlationid:
        attrs["correlation_id"] = event.correlationid
    return {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()}
