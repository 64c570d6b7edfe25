"""Events of a funnel rewrite run (seed 001). A run is a job of kind ``funnel_rewrite``; it ends
with the ordinary ``job.completed`` / ``job.failed`` events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .envelope import EventData, event_type


class ImageElementResult(EventData):
    """What happened to one image element of the funnel (seed: AggregateImageResults)."""

    element_id: str = Field(description="JSON path of the element, e.g. 'hero.opt_logo_url'.")
    status: Literal["ok", "failed", "kept_original"]
    original_url: str
    new_url: str | None = Field(None, description="The URL the rewritten funnel uses.")
    artifact_id: str | None = None
    error: str | None = None
    cost_micros: int = 0
    attempts: int = 0


@event_type(
    "run.requested",
    version=1,
    public=False,
    description="A funnel rewrite run was accepted; the imager processes its image elements.",
)
class RunRequested(EventData):
    job_id: str = Field(description="The run id.")
    tenant_id: str
    template_id: str
    template_version: int


@event_type(
    "run.images_processed",
    version=1,
    public=False,
    description="Every image element of a run is processed (at most 3 at a time); the reporter's "
    "agent rewrites the funnel next.",
)
class RunImagesProcessed(EventData):
    job_id: str
    tenant_id: str
    template_id: str
    template_version: int
    results: list[ImageElementResult] = Field(default_factory=list)
