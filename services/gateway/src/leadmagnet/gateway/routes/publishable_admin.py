"""Publishable keys (admin, with the tenant's secret API key): create, list, revoke.

A publishable key (``pk_live_…``) is what a browser page holds instead of the secret key: it
only authorises the browser calls of its one flow, from its allowed origins, under its
per-minute rate limit (checked in ``gateway/publishable.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.responses import Response

from leadmagnet.common.stores.publishable import (
    ANY_ORIGIN,
    MAX_ORIGINS,
    MAX_RATE_PER_MINUTE,
    PublishableKey,
    normalize_origin,
)

from ..api import ApiContext, ErrorDetail, HTTPError, Strict
from ..publishable import publishable_store
from .registry import api

TAGS = ("publishable keys",)
SLUG = r"^[a-z0-9][a-z0-9-]{1,62}$"


class PublishableKeyCreate(Strict):
    flow: Literal["product_marketing", "chat_lead"]
    allowed_origins: list[str] = Field(
        min_length=1,
        max_length=MAX_ORIGINS,
        description="Exact origins ('https://shop.example.com', 'http://localhost:3000'); '*' "
        "allows any origin and requests without one.",
    )
    channel: str | None = Field(
        None, pattern=SLUG, description="chat_lead only: the tenant's chat channel slug."
    )
    rate_limit_per_minute: int = Field(60, ge=1, le=MAX_RATE_PER_MINUTE)
    label: str = Field("", max_length=200)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for raw in v:
            origin = normalize_origin(raw)
            if origin is None:
                raise ValueError(
                    f"{raw[:100]!r} is not an origin: scheme://host[:port] with http or https, "
                    "no path, or '*'"
                )
            if origin not in out:
                out.append(origin)
        return [ANY_ORIGIN] if ANY_ORIGIN in out else out

    @model_validator(mode="after")
    def _channel(self) -> PublishableKeyCreate:
        if self.flow == "chat_lead" and self.channel is None:
            raise ValueError("channel is required for a chat_lead key")
        if self.flow != "chat_lead" and self.channel is not None:
            raise ValueError("channel is only for chat_lead keys")
        return self


class PublishableKeyView(BaseModel):
    key_id: str
    flow: str
    allowed_origins: list[str]
    channel: str | None
    rate_limit_per_minute: int
    label: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None


class PublishableKeyCreated(PublishableKeyView):
    key: str = Field(description="The publishable key itself: shown once, never stored.")


class PublishableKeyList(BaseModel):
    keys: list[PublishableKeyView]


def _view(key: PublishableKey) -> PublishableKeyView:
    return PublishableKeyView(**key.model_dump(exclude={"tenant_id"}))


@api.route(
    "POST",
    "/v1/publishable-keys",
    summary="Create a publishable key for a browser page",
    tags=TAGS,
    auth=True,
    status=201,
    request=PublishableKeyCreate,
    response=PublishableKeyCreated,
)
async def create_publishable_key(ctx: ApiContext) -> PublishableKeyCreated:
    """The key (``pk_live_…``) is in the answer once; only its SHA-256 is stored. A
    ``chat_lead`` key is bound to one of the tenant's chat channels (422 ``unknown_channel``)."""
    body: PublishableKeyCreate = ctx.body
    tenant = ctx.require_tenant()
    if body.channel is not None:
        channel = await ctx.platform.leads.channel(body.channel)
        if channel is None or channel.tenant_id != tenant:
            raise HTTPError(
                422,
                "unknown_channel",
                f"no chat channel {body.channel!r} in this account",
                [ErrorDetail(loc="body.channel", message="not a chat channel of this tenant")],
            )
    raw, key = await publishable_store(ctx.platform).create(
        tenant,
        flow=body.flow,
        allowed_origins=body.allowed_origins,
        channel=body.channel,
        rate_limit_per_minute=body.rate_limit_per_minute,
        label=body.label,
    )
    return PublishableKeyCreated(key=raw, **_view(key).model_dump())


@api.route(
    "GET",
    "/v1/publishable-keys",
    summary="List publishable keys (never the keys themselves)",
    tags=TAGS,
    auth=True,
    response=PublishableKeyList,
)
async def list_publishable_keys(ctx: ApiContext) -> PublishableKeyList:
    keys = await publishable_store(ctx.platform).of_tenant(ctx.require_tenant())
    return PublishableKeyList(keys=[_view(k) for k in keys])


@api.route(
    "DELETE",
    "/v1/publishable-keys/{key_id}",
    summary="Revoke a publishable key (effective immediately)",
    tags=TAGS,
    auth=True,
    status=204,
    errors=(404,),
    extra_responses={204: {"description": "Revoked"}},
)
async def revoke_publishable_key(ctx: ApiContext) -> Response:
    key = await publishable_store(ctx.platform).revoke(ctx.require_tenant(), ctx.path["key_id"])
    if key is None:
        raise HTTPError(404, "publishable_key_not_found", "no such publishable key")
    return Response(status_code=204)
