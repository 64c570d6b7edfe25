"""``POST /lead``: seed 003's chat widget beacon, unchanged, beside our ``POST /v1/leads``.

The widget sends ``{reason, threadId}`` with ``navigator.sendBeacon`` (a string body, so
``text/plain;charset=UTF-8``, and no custom headers: the publishable key rides in ``?key=``) or
with ``fetch`` (JSON; CORS preflight ``OPTIONS /lead``). The answer reads like the seed's
Lambda: ``{"lead_reason": "queued" | "already_sent" | "missing_contact" | "not_idle" |
"empty_thread", …}`` (``not_ready`` is decided later by the summary model and shows in
``GET /v1/leads/{thread_id}``).

This is a thin adapter: the channel comes from the ``chat_lead`` publishable key (or, without a
key, from the one ``chat_lead`` key whose allowed origins name the request's Origin exactly), and
the gates are ``routes/leads.trigger_lead`` itself, the code path of ``POST /v1/leads``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse

from leadmagnet.flows.leads.models import THREAD_ID, ChatMessage, TriggerReason

from ..api import (
    ApiContext,
    ErrorDetail,
    HTTPError,
    Strict,
    loads_request_json,
    read_body,
    validation_details,
)
from ..publishable import (
    PublishableGrant,
    cors_headers,
    register_preflight,
    require_publishable,
)
from .leads import LeadOutcome, LeadTrigger, trigger_lead
from .registry import api

TAGS = ("chat leads",)
FLOW = "chat_lead"
BEACON_BODY_LIMIT = 4 * 1024 * 1024  # as POST /v1/leads: a request-source channel's transcript
BODY_TYPES = ("application/json", "text/plain", "")


class LeadBeacon(BaseModel):
    """The widget's body. Fields it may add (page URL, timestamps…) are ignored: the seed's
    client must work unchanged."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    reason: TriggerReason
    thread_id: str = Field(
        pattern=THREAD_ID, validation_alias=AliasChoices("thread_id", "threadId")
    )
    channel: str | None = Field(None, description="Optional; must be the key's channel.")
    messages: list[ChatMessage] | None = Field(None, max_length=500)
    attribution: dict[str, str] = Field(default_factory=dict)


class LeadBeaconQuery(Strict):
    key: str | None = Field(None, max_length=200, description="The chat_lead publishable key.")
    pk: str | None = Field(None, max_length=200, description="Same as key.")


class LeadBeaconResult(BaseModel):
    lead_reason: LeadOutcome = Field(
        description="queued (the summary model decides; see GET /v1/leads/{thread_id}) or why "
        "nothing was sent."
    )
    trigger_reason: str = Field(description="The beacon's reason, echoed.")
    thread_id: str
    message: str
    recheck_at: datetime | None = None


BEACON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "JSON as text (navigator.sendBeacon sends text/plain;charset=UTF-8; "
    "application/json is taken too): {reason: idle | pagehide | chat_closed, threadId (or "
    "thread_id), messages?, attribution?}.",
}


@api.route(
    "POST",
    "/lead",
    summary="Seed 003's chat widget beacon (publishable key)",
    tags=TAGS,
    query=LeadBeaconQuery,
    response=LeadBeaconResult,
    raw_body_schema=BEACON_SCHEMA,
    body_media_type="text/plain",
    body_limit=BEACON_BODY_LIMIT,
    errors=(400, 401, 403, 404, 429, 503),
    header_params=(
        ("X-Publishable-Key", {"type": "string", "maxLength": 200}, "The chat_lead key."),
    ),
)
async def lead_beacon(ctx: ApiContext) -> JSONResponse:
    """The channel comes from the ``chat_lead`` publishable key (``?key=``, ``X-Publishable-Key``
    or ``Authorization: Bearer pk_…``), checked against the request's Origin and the key's rate
    limit; without a key, the one ``chat_lead`` key that names the Origin exactly is used."""
    grant = await require_publishable(ctx.request, ctx.platform, FLOW, allow_origin_binding=True)
    headers = cors_headers(grant)
    try:
        answer = await _beacon(ctx, grant)
    except HTTPError as e:
        e.headers = {**headers, **e.headers}
        raise
    answer.headers.update(headers)
    return answer


async def _beacon(ctx: ApiContext, grant: PublishableGrant) -> JSONResponse:
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in BODY_TYPES:
        raise HTTPError(
            415, "unsupported_media_type", "send the body as JSON (text/plain or application/json)"
        )
    raw = await read_body(ctx.request, BEACON_BODY_LIMIT)
    payload = loads_request_json(raw)
    try:
        beacon = LeadBeacon.model_validate(payload)
    except ValidationError as e:
        raise HTTPError(
            422, "validation_error", "invalid request body", validation_details(e, "body")
        ) from None
    if grant.channel is None:  # a chat_lead key always has one; never guess
        raise HTTPError(403, "wrong_flow", "this key is not bound to a chat channel")
    if beacon.channel is not None and beacon.channel != grant.channel:
        raise HTTPError(
            403,
            "wrong_channel",
            "the body's channel is not the key's channel",
            [ErrorDetail(loc="body.channel", message=f"this key is for {grant.channel!r}")],
        )
    channel = await ctx.platform.leads.channel(grant.channel)
    if channel is None or channel.tenant_id != grant.tenant_id:
        raise HTTPError(404, "channel_not_found", f"no chat channel {grant.channel!r}")
    try:
        trigger = LeadTrigger.model_validate(
            {
                "channel": grant.channel,
                "thread_id": beacon.thread_id,
                "reason": beacon.reason,
                "messages": (
                    None
                    if beacon.messages is None
                    else [m.model_dump(mode="json") for m in beacon.messages]
                ),
                "attribution": beacon.attribution,
            }
        )
    except ValidationError as e:
        raise HTTPError(
            422, "validation_error", "invalid request body", validation_details(e, "body")
        ) from None
    # The same code path as POST /v1/leads: its gates, its state notes, its event.
    inner = ApiContext(
        request=ctx.request, platform=ctx.platform, tenant_id=grant.tenant_id, body=trigger
    )
    result = json.loads(bytes((await trigger_lead(inner)).body))
    out = LeadBeaconResult(
        lead_reason=result["status"],
        trigger_reason=beacon.reason,
        thread_id=result["thread_id"],
        message=result["message"],
        recheck_at=result.get("recheck_at"),
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=200)


register_preflight(api, "/lead", FLOW, methods=("POST",), tags=TAGS)
