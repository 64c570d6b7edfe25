"""Seed 002's own browser contract, beside our API: ``POST /api/upload/presigned`` and
``POST /api/jobs/create`` (the WebSocket is ``gateway/ws.py``).

Thin adapters: the key is ``products.upload_key`` (the prefix ``POST /v1/uploads`` uses) and the
kit starts through ``products.start_kit`` (what ``POST /v1/jobs`` calls). The seed's client
never confirms (its flow has no confirmation step), so a kit started here confirms itself
(``auto_confirm``). A browser authenticates with a ``product_marketing`` publishable key
(Origin-checked, rate-limited, CORS); a server may use the tenant's secret API key instead.
"""

from __future__ import annotations

from typing import Literal, cast

from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from leadmagnet.common.platform import Platform
from leadmagnet.common.products import (
    MAX_UPLOAD_BYTES,
    PRODUCT_KIND,
    UPLOAD_URL_SECONDS,
    ProductPreferences,
)

from ..api import ApiContext, ErrorDetail, HTTPError, Strict, authenticate
from ..publishable import (
    PublishableGrant,
    cors_headers,
    presented_key,
    register_preflight,
    require_publishable,
)
from .products import start_kit, upload_key
from .registry import api

TAGS = ("seed 002 browser API",)
PRESIGNED_PATH = "/api/upload/presigned"
CREATE_PATH = "/api/jobs/create"


class SeedPresignRequest(Strict):
    """The seed's ``{filename, contentType, fileSize}`` (its client-side validation limits)."""

    filename: str = Field(min_length=1, max_length=200)
    contentType: Literal["image/jpeg", "image/png", "image/webp"] = Field(
        description="JPEG, PNG or WebP; the PUT must carry exactly this Content-Type."
    )
    fileSize: int = Field(gt=0, le=MAX_UPLOAD_BYTES, description="Bytes; at most 10 MB.")


class SeedPresigned(BaseModel):
    url: str = Field(
        description="A presigned S3 PUT, valid 5 minutes; send the file as the body with the "
        "signed Content-Type."
    )
    key: str = Field(description="The S3 key: pass it as s3Key to POST /api/jobs/create.")


class SeedCreateRequest(Strict):
    s3Key: str = Field(min_length=1, max_length=512)
    preferences: ProductPreferences | None = None


class SeedJobCreated(BaseModel):
    jobId: str


async def kit_caller(
    conn: HTTPConnection, platform: Platform, *, allow_origin_binding: bool = False
) -> tuple[str, PublishableGrant | None]:
    """(tenant, grant) of a caller of the seed's routes: a ``product_marketing`` publishable key
    (header or ``?key=``), else the tenant's secret API key in a header (never in a URL).
    ``allow_origin_binding`` (the read-only WebSocket): without a key, the one active
    ``product_marketing`` key that allows the request's Origin stands in for it."""
    secret_sent = bool(conn.headers.get("x-api-key", "").strip()) or (
        conn.headers.get("authorization", "").lower().startswith("bearer ")
    )
    if presented_key(conn) or not secret_sent:
        grant = await require_publishable(
            conn, platform, PRODUCT_KIND, allow_origin_binding=allow_origin_binding
        )
        return grant.tenant_id, grant
    # authenticate() reads only the headers, which every HTTPConnection has.
    return await authenticate(cast(Request, conn), platform), None


def _with_cors(err: HTTPError, grant: PublishableGrant | None, renames: dict[str, str]) -> None:
    """Let the page read the error (CORS), naming the seed's fields (``body.s3Key``)."""
    err.headers = {**cors_headers(grant), **err.headers} if grant else err.headers
    err.details = [
        ErrorDetail(loc=renames.get(d.loc, d.loc), message=d.message) for d in err.details
    ]


register_preflight(api, PRESIGNED_PATH, PRODUCT_KIND, tags=TAGS)


@api.route(
    "POST",
    PRESIGNED_PATH,
    summary="Seed 002: a presigned PUT for a product photo",
    tags=TAGS,
    request=SeedPresignRequest,
    response=SeedPresigned,
    errors=(401, 403, 429),
)
async def seed_presigned(ctx: ApiContext) -> Response:
    """``{filename, contentType, fileSize}`` → ``{url, key}``: a PUT URL valid 5 minutes that
    signs the Content-Type and the Content-Length (a PUT of another type or size is refused by
    S3), for a key under the tenant's upload prefix (as ``POST /v1/uploads``). The type and
    size limits are checked before signing (422 at ``body.contentType`` / ``body.fileSize``);
    the imager still checks the real bytes. A publishable key of the ``product_marketing`` flow
    (``Authorization: Bearer pk_…``, ``X-Publishable-Key`` or ``?key=``) or the secret API key."""
    tenant, grant = await kit_caller(ctx.request, ctx.platform)
    body: SeedPresignRequest = ctx.body
    key = upload_key(tenant, body.filename)
    url = await ctx.platform.aws.s3.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": ctx.platform.resources.bucket("uploads"),
            "Key": key,
            "ContentType": body.contentType,
            "ContentLength": body.fileSize,
        },
        ExpiresIn=UPLOAD_URL_SECONDS,
        HttpMethod="PUT",
    )
    return _answer(SeedPresigned(url=url, key=key), grant)


register_preflight(api, CREATE_PATH, PRODUCT_KIND, tags=TAGS)


@api.route(
    "POST",
    CREATE_PATH,
    summary="Seed 002: start a product marketing kit from an uploaded photo",
    tags=TAGS,
    request=SeedCreateRequest,
    response=SeedJobCreated,
    errors=(401, 403, 429, 503),
)
async def seed_create_job(ctx: ApiContext) -> Response:
    """``{s3Key, preferences?}`` → ``{jobId}``: the same kit as ``POST /v1/jobs {"kind":
    "product_marketing", "auto_confirm": true}`` (the seed has no confirmation step); follow it
    on the WebSocket ``/ws?jobId=…&key=…`` or ``GET /v1/jobs/{id}/events``. ``s3Key`` must be
    this tenant's upload (422 ``not_your_upload`` / ``upload_missing`` at ``body.s3Key``)."""
    tenant, grant = await kit_caller(ctx.request, ctx.platform)
    body: SeedCreateRequest = ctx.body
    try:
        accepted = await start_kit(
            ctx.platform,
            tenant,
            body.s3Key,
            body.preferences or ProductPreferences(),
            auto_confirm=True,
        )
    except HTTPError as e:
        _with_cors(e, grant, {"body.s3_key": "body.s3Key"})
        raise
    return _answer(SeedJobCreated(jobId=accepted.job_id), grant)


def _answer(model: BaseModel, grant: PublishableGrant | None) -> Response:
    """200 with the model, and the CORS headers of a publishable-key call."""
    headers = cors_headers(grant) if grant else {}
    return JSONResponse(model.model_dump(mode="json"), headers=headers)
