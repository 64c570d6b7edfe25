"""Product marketing kits (seed 002): presigned uploads, starting a kit, confirming its analysis.

The browser uploads straight to S3 with a presigned POST whose policy enforces the size range
and the content type; the imager then checks the real bytes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from leadmagnet.common.errors import ConflictError
from leadmagnet.common.events.products import ProductConfirmed, ProductRequested
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.jobflow import count_job
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import Job, JobStatus, KitData, TimelineEvent
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import (
    ALLOWED_TYPES,
    MAX_UPLOAD_BYTES,
    PRODUCT_KIND,
    UPLOAD_URL_SECONDS,
    ProductPreferences,
    safe_filename,
)
from leadmagnet.flows.kitflow import publish_progress

from ..api import ApiContext, ErrorDetail, HTTPError, Strict
from ..enqueue import publish_first_event
from ..views import status_url
from .registry import api

log = get_logger()
TAGS = ("product kits",)


class UploadRequest(Strict):
    filename: str = Field(min_length=1, max_length=200)
    content_type: Literal["image/jpeg", "image/png", "image/webp"] = Field(
        description="JPEG, PNG or WebP; the upload must carry exactly this type."
    )
    size: int = Field(gt=0, le=MAX_UPLOAD_BYTES, description="Bytes; at most 10 MB.")


class PresignedPost(BaseModel):
    url: str
    fields: dict[str, str] = Field(description="Form fields to send before the file field.")


class UploadTicket(BaseModel):
    s3_key: str
    upload: PresignedPost = Field(description="POST multipart/form-data: fields, then 'file'.")
    expires_at: datetime
    max_bytes: int


class KitCreate(Strict):
    kind: Literal["product_marketing"]
    s3_key: str = Field(min_length=1, max_length=512)
    preferences: ProductPreferences = Field(default_factory=ProductPreferences)
    auto_confirm: bool = Field(
        False, description="Go on to generation without waiting for POST .../confirm."
    )


class KitAccepted(BaseModel):
    job_id: str
    status: str
    status_url: str
    events_url: str


class KitConfirm(Strict):
    preferences: ProductPreferences | None = None


def upload_key(tenant_id: str, filename: str) -> str:
    """Where a tenant's photo is uploaded (the one prefix ``start_kit`` accepts keys under)."""
    return f"uploads/{tenant_id}/{int(time.time() * 1000)}-{safe_filename(filename)}"


@api.route(
    "POST",
    "/v1/uploads",
    summary="A presigned upload for a product photo",
    tags=TAGS,
    auth=True,
    status=201,
    request=UploadRequest,
    response=UploadTicket,
)
async def create_upload(ctx: ApiContext) -> UploadTicket:
    body: UploadRequest = ctx.body
    key = upload_key(ctx.require_tenant(), body.filename)
    post = await ctx.platform.aws.s3.generate_presigned_post(
        Bucket=ctx.platform.resources.bucket("uploads"),
        Key=key,
        Fields={"Content-Type": body.content_type},
        Conditions=[
            {"Content-Type": body.content_type},
            ["content-length-range", 1, MAX_UPLOAD_BYTES],
        ],
        ExpiresIn=UPLOAD_URL_SECONDS,
    )
    return UploadTicket(
        s3_key=key,
        upload=PresignedPost(url=post["url"], fields=post["fields"]),
        expires_at=datetime.fromtimestamp(time.time() + UPLOAD_URL_SECONDS, UTC),
        max_bytes=MAX_UPLOAD_BYTES,
    )


@api.route(
    "POST",
    "/v1/jobs",
    summary="Start a product marketing kit from an uploaded photo",
    tags=TAGS,
    auth=True,
    status=202,
    request=KitCreate,
    response=KitAccepted,
    errors=(503,),
)
async def create_kit(ctx: ApiContext) -> KitAccepted:
    body: KitCreate = ctx.body
    return await start_kit(
        ctx.platform, ctx.require_tenant(), body.s3_key, body.preferences, body.auto_confirm
    )


async def start_kit(
    platform: Platform,
    tenant: str,
    s3_key: str,
    preferences: ProductPreferences,
    auto_confirm: bool,
) -> KitAccepted:
    """Start a kit from the tenant's uploaded photo (``POST /v1/jobs`` and the seed's
    ``POST /api/jobs/create`` both start kits through here); 422s name ``body.s3_key``."""
    if not s3_key.startswith(f"uploads/{tenant}/"):
        raise HTTPError(
            422,
            "not_your_upload",
            "s3_key must be a key returned by POST /v1/uploads for this API key",
            [ErrorDetail(loc="body.s3_key", message="not an upload of this tenant")],
        )
    try:
        head = await platform.aws.s3.head_object(
            Bucket=platform.resources.bucket("uploads"), Key=s3_key
        )
    except ClientError:
        raise HTTPError(
            422,
            "upload_missing",
            "nothing was uploaded under this key (yet): upload the photo first",
            [ErrorDetail(loc="body.s3_key", message="no such upload")],
        ) from None
    declared = str(head.get("ContentType") or "")
    if declared not in ALLOWED_TYPES:
        raise HTTPError(
            422,
            "bad_type",
            f"the upload is {declared or 'untyped'}; JPEG, PNG or WebP only",
            [ErrorDetail(loc="body.s3_key", message="unsupported content type")],
        )
    job = Job(
        job_id=new_job_id(),
        tenant_id=tenant,
        kind=PRODUCT_KIND,
        data=KitData(
            s3_key=s3_key,
            filename=s3_key.rsplit("/", 1)[-1],
            preferences=preferences.model_dump(),
            auto_confirm=auto_confirm,
        ).model_dump(exclude_none=True),
    )
    await platform.jobs.create(job, message="kit requested")
    count_job(platform, "JobsStarted", job)
    event = platform.bus.event(
        ProductRequested(job_id=job.job_id, tenant_id=tenant, s3_key=s3_key),
        subject=job.job_id,
        tenant_id=tenant,
    )
    await publish_first_event(platform, event, job.job_id, "kit")
    await _announce_created(platform, job)
    url = status_url(platform, job.job_id)
    return KitAccepted(
        job_id=job.job_id, status=job.status.value, status_url=url, events_url=f"{url}/events"
    )


async def _not_confirmable(platform: Platform, job_id: str) -> HTTPError:
    """Why a confirm lost: what happened to the kit, read after the conditional write failed
    (the state the caller read before may be the very one a concurrent confirm just left)."""
    job = await platform.jobs.require(job_id)
    timeline = await platform.jobs.timeline(job_id)
    confirmed = next((e for e in timeline if e.type == "job.confirmed"), None)
    analysed = next((e for e in timeline if e.type == "job.analysis_complete"), None)
    if confirmed is not None:
        how = f"was already confirmed at {confirmed.at.isoformat(timespec='seconds')}"
    elif job.data.get("auto_confirm") and analysed is not None:
        how = (
            "was confirmed automatically (auto_confirm) at "
            f"{analysed.at.isoformat(timespec='seconds')}"
        )
    else:
        how = ""
    if job.status is JobStatus.COMPLETED:
        return HTTPError(
            409,
            "already_completed",
            f"this kit {how or 'was already confirmed'} and is complete: its assets are listed "
            f"at GET /v1/jobs/{job_id} and in its job.complete event",
        )
    if job.status is JobStatus.FAILED:
        return HTTPError(
            409,
            "kit_failed",
            f"this kit failed ({job.error_code or 'error'}): {job.error_message or 'no reason'};"
            " a failed kit cannot be confirmed, start a new one",
        )
    if how:
        return HTTPError(409, "already_confirmed", f"this kit {how}; its generation is under way")
    return HTTPError(
        409,
        "not_ready",
        "the photo is still being analysed; confirm once the kit is awaiting_confirmation",
    )


async def _announce_created(platform: Platform, job: Job) -> None:
    """The seed's ``job.created`` message on the topic too (the SSE stream has it from the
    timeline). Informational: a failure is logged, the kit goes on."""
    try:
        await publish_progress(
            platform, job.job_id, job.tenant_id, "job.created", stage=None, progress=0, payload={}
        )
    except Exception as e:  # the kit itself is enqueued: progress is best effort
        log.warning("kit.created_not_announced", job_id=job.job_id, error=str(e))


@api.route(
    "POST",
    "/v1/jobs/{job_id}/confirm",
    summary="Confirm a kit's analysis (optionally with new preferences) and generate",
    tags=TAGS,
    auth=True,
    status=202,
    request=KitConfirm,
    response=KitAccepted,
    errors=(404, 409),
)
async def confirm_kit(ctx: ApiContext) -> KitAccepted:
    platform = ctx.platform
    job_id = ctx.path["job_id"]
    job = await platform.jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None or job.tenant_id != ctx.require_tenant() or job.kind != PRODUCT_KIND:
        raise HTTPError(404, "job_not_found", "no such kit")
    body: KitConfirm = ctx.body
    return await confirm_kit_job(platform, job, body.preferences)


async def confirm_kit_job(
    platform: Platform, job: Job, preferences: ProductPreferences | None
) -> KitAccepted:
    """Confirm a kit that awaits confirmation (the API and the job page both confirm through
    here): 409 with what happened to it otherwise."""
    job_id = job.job_id
    prefs = preferences.model_dump() if preferences else {}
    try:
        await platform.jobs.record(
            job_id,
            TimelineEvent.JOB_CONFIRMED,
            "analysis confirmed",
            status=JobStatus.PROCESSING,
            stage="confirmed",
            expected_status={JobStatus.AWAITING_CONFIRMATION},
            set_fields={"data.preferences": {**job.data.get("preferences", {}), **prefs}},
        )
    except ConflictError:
        raise await _not_confirmable(platform, job_id) from None
    await platform.bus.publish(
        platform.bus.event(
            ProductConfirmed(job_id=job_id, tenant_id=job.tenant_id, preferences=prefs),
            subject=job_id,
            tenant_id=job.tenant_id,
        )
    )
    url = status_url(platform, job_id)
    return KitAccepted(
        job_id=job_id, status="processing", status_url=url, events_url=f"{url}/events"
    )
