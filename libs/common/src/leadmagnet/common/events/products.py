"""Events of a product marketing kit (seed 002)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .envelope import EventData, event_type

ProgressType = Literal[
    "job.created",
    "job.analyzing",
    "job.analysis_complete",
    "job.generating",
    "job.complete",
    "job.error",
]


@event_type(
    "product.requested",
    version=1,
    public=False,
    description="A product photo was uploaded and a kit requested; the imager validates and"
    " analyses it.",
    producers=("gateway",),
)
class ProductRequested(EventData):
    job_id: str
    tenant_id: str
    s3_key: str


@event_type(
    "product.confirmed",
    version=1,
    public=False,
    description="The analysis is confirmed (by the user or auto-confirm): the reporter writes the"
    " copy and the imager makes the images, in parallel.",
    producers=("gateway", "imager"),
)
class ProductConfirmed(EventData):
    job_id: str
    tenant_id: str
    preferences: dict[str, Any] = Field(default_factory=dict)


@event_type(
    "job.progress",
    version=1,
    public=True,
    description="Live progress of a product marketing kit, with the seed's message types"
    " (job.analyzing, job.analysis_complete, job.generating, job.complete, job.error); the same"
    " messages the SSE stream sends.",
    producers=("gateway", "imager", "reporter", "renderer"),
)
class JobProgress(EventData):
    job_id: str
    tenant_id: str
    kind: str
    type: ProgressType
    stage: str | None = None
    progress: int = Field(ge=0, le=100)
    payload: dict[str, Any] = Field(default_factory=dict)
