"""Events of a product marketing kit (seed 002)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
)
class ProductConfirmed(EventData):
    job_id: str
    tenant_id: str
    preferences: dict[str, Any] = Field(default_factory=dict)


class GeneratedAssets(BaseModel):
    """Seed 002's ``GeneratedAssets`` (its image step returns ``{packages: urls, ads: urls}``),
    with the kit's thumbnails and copy: GET URLs of the stored files, the same links the rest of
    the API gives for artifacts (``PUBLIC_BASE_URL`` + key with a CDN, else presigned GETs that
    expire after ``ARTIFACT_URL_TTL_SECONDS``, at most 7 days; ``expiresAt`` says when)."""

    model_config = ConfigDict(extra="forbid")

    packages: list[str] = Field(
        description="Package designs, in style order: modern-v1, bold-v2, premium-v3."
    )
    ads: list[str] = Field(description="Ad creatives, in the order of the chosen platforms.")
    thumbnails: dict[str, str] = Field(
        description="WebP thumbnail per asset id (modern-v1, facebook-1080x1080...)."
    )
    content: str | None = Field(None, description="content.json: the copy (seed's schema).")
    analysis: str | None = Field(None, description="analysis.json: the photo analysis.")
    expiresAt: str | None = Field(
        None, description="When presigned links stop working (ISO 8601); null with a CDN."
    )


PAYLOAD_DOC = (
    "The seed's WebSocketMessage payload, identical on the topic and in the SSE stream's"
    " `payload`: always `jobId`; `progress` except in job.created and job.error;"
    " `job.analyzing`/`job.generating`: `stage`"
    " (generating: also `total` images for the images branch); `job.analysis_complete`:"
    " `analysis`; `job.complete`: `assets` (GeneratedAssets: URLs); `job.error`: `error`."
)


@event_type(
    "job.progress",
    version=1,
    public=True,
    description="Live progress of a product marketing kit, with the seed's message types"
    " (job.analyzing, job.analysis_complete, job.generating, job.complete, job.error); the same"
    " messages the SSE stream sends (its `event` and `payload`); `job.complete` carries the"
    " assets as URLs (GeneratedAssets).",
)
class JobProgress(EventData):
    job_id: str
    tenant_id: str
    kind: str
    type: ProgressType
    stage: str | None = None
    progress: int = Field(ge=0, le=100)
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=PAYLOAD_DOC,
        json_schema_extra={
            "properties": {
                "jobId": {"type": "string"},
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "assets": GeneratedAssets.model_json_schema(),
            }
        },
    )
