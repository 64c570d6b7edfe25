"""Chat-lead hand-off (seed 003): chat channels, lead triggers, attachments, SMS links.

The gateway applies the cheap gates at once and answers with the seed's reason codes
(``empty_thread``, ``missing_contact``, ``not_idle``, ``already_sent``) or ``queued``; the summary
model's ``handoff_ready`` gate (``not_ready``) and the send run in the reporter and notifier, and
``GET /v1/leads/{thread_id}`` shows where a thread ended up.
"""

from __future__ import annotations

import html
import io
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from PIL import Image
from pydantic import BaseModel, Field, field_validator
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from leadmagnet.common.events.leads import LeadRequested
from leadmagnet.common.formcheck import EMAIL
from leadmagnet.common.logging import get_logger
from leadmagnet.common.models import utcnow
from leadmagnet.common.sniff import sniff
from leadmagnet.flows.leads.contact import extract_contact
from leadmagnet.flows.leads.models import (
    THREAD_ID,
    ChatChannel,
    ChatMessage,
    Transcript,
    TriggerReason,
)

from ..api import ApiContext, ErrorDetail, HTTPError, Strict, read_body
from .registry import api

log = get_logger()
TAGS = ("chat leads",)
ALLOWED_UPLOADS = {"image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf"}
ATTACHMENT_ID = re.compile(r"^att_[A-Za-z0-9_-]{16,64}$")


class ChannelCreate(Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    business_name: str = Field(min_length=1, max_length=200)
    owner_email: str = Field(max_length=254)
    transcript_source: Literal["request", "chatkit"] = "request"
    instructions: str = Field("", max_length=4000)

    @field_validator("owner_email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not EMAIL.match(v):
            raise ValueError("must be a valid email address")
        return v


class ChannelView(BaseModel):
    slug: str
    business_name: str
    owner_email: str
    transcript_source: str
    instructions: str
    created_at: datetime


class ChannelList(BaseModel):
    channels: list[ChannelView]


class LeadTrigger(Strict):
    channel: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    thread_id: str = Field(pattern=THREAD_ID)
    reason: TriggerReason
    messages: list[ChatMessage] | None = Field(
        None,
        max_length=500,
        description="The transcript; omit it when the channel reads threads from ChatKit.",
    )
    attribution: dict[str, str] = Field(
        default_factory=dict, description="utm_* / gclid / landing page, kept 180 days."
    )

    @field_validator("attribution")
    @classmethod
    def _attribution(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 20 or any(
            not re.fullmatch(r"[a-z_]{1,40}", k) or len(x) > 500 for k, x in v.items()
        ):
            raise ValueError("at most 20 lowercase keys with values of up to 500 characters")
        return v


LeadOutcome = Literal["queued", "already_sent", "missing_contact", "not_idle", "empty_thread"]


class LeadTriggerResult(BaseModel):
    thread_id: str
    status: LeadOutcome
    message: str
    recheck_at: datetime | None = Field(
        None, description="For not_idle: when the thread is evaluated again by itself."
    )


class LeadStateView(BaseModel):
    thread_id: str
    state: Literal["pending", "sending", "sent", "error"]
    reason: str | None = Field(None, description="The last outcome (a skip reason or 'sent').")
    missing: list[str]
    ses_message_id: str | None
    cool_down_until: datetime | None
    triggers: int
    updated_at: datetime
    sent_at: datetime | None


class AttachmentView(BaseModel):
    id: str
    preview_url: str
    content_type: str
    size_bytes: int
    name: str | None


class AttachmentQuery(Strict):
    channel: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    filename: str | None = Field(None, max_length=200)


class ChannelQuery(Strict):
    channel: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")


def _channel_view(c: ChatChannel) -> ChannelView:
    return ChannelView(**c.model_dump(exclude={"tenant_id"}))


async def _channel(ctx: ApiContext, slug: str) -> ChatChannel:
    channel = await ctx.platform.leads.channel(slug)
    if channel is None:
        raise HTTPError(404, "channel_not_found", f"no chat channel {slug!r}")
    return channel


# ---- channels (admin) ------------------------------------------------------------------------


@api.route(
    "POST",
    "/v1/chat-channels",
    summary="Create a website chat channel",
    tags=TAGS,
    auth=True,
    status=201,
    request=ChannelCreate,
    response=ChannelView,
    errors=(409,),
)
async def create_channel(ctx: ApiContext) -> ChannelView:
    body: ChannelCreate = ctx.body
    channel = await ctx.platform.leads.create_channel(
        ChatChannel(tenant_id=ctx.require_tenant(), **body.model_dump())
    )
    return _channel_view(channel)


@api.route(
    "GET",
    "/v1/chat-channels",
    summary="List chat channels",
    tags=TAGS,
    auth=True,
    response=ChannelList,
)
async def list_channels(ctx: ApiContext) -> ChannelList:
    channels = await ctx.platform.leads.channels_of(ctx.require_tenant())
    return ChannelList(channels=[_channel_view(c) for c in channels])


# ---- triggers ------------------------------------------------------------------------------


@api.route(
    "POST",
    "/v1/leads",
    summary="A chat trigger: maybe hand the thread over",
    tags=TAGS,
    request=LeadTrigger,
    response=LeadTriggerResult,
    status=202,
    errors=(404, 503),
    body_limit=4 * 1024 * 1024,
)
async def trigger_lead(ctx: ApiContext) -> JSONResponse:
    """Answers 202 ``queued`` when the thread goes on to the summary model, 200 with a reason
    code when a gate stops it (nothing is sent then)."""
    body: LeadTrigger = ctx.body
    platform = ctx.platform
    channel = await _channel(ctx, body.channel)
    tenant = channel.tenant_id

    def answer(
        status: LeadOutcome, message: str, code: int = 200, recheck: datetime | None = None
    ) -> JSONResponse:
        result = LeadTriggerResult(
            thread_id=body.thread_id, status=status, message=message, recheck_at=recheck
        )
        return JSONResponse(result.model_dump(mode="json"), status_code=code)

    state = await platform.leads.get(tenant, body.thread_id)
    if state is not None and state.status == "sent":
        return answer("already_sent", "the lead e-mail for this thread was already sent")
    if body.messages is not None:
        transcript = Transcript(thread_id=body.thread_id, messages=body.messages)
    elif channel.transcript_source == "chatkit":
        # Imported here: the OpenAI SDK it needs costs the gateway ~40 MiB and 0.4 s at start.
        from leadmagnet.flows.leads.transcripts import chatkit_of

        transcript = await chatkit_of(platform).fetch(body.thread_id)
    else:
        raise HTTPError(
            422,
            "validation_error",
            "messages are required for this channel",
            [ErrorDetail(loc="body.messages", message="field required")],
        )
    if transcript.is_empty():
        await platform.leads.note(
            tenant, body.thread_id, channel.slug, "empty_thread", count_trigger=True
        )
        return answer("empty_thread", "the customer has not written anything yet")
    if not extract_contact(transcript).found:
        await platform.leads.note(
            tenant, body.thread_id, channel.slug, "missing_contact", count_trigger=True
        )
        return answer("missing_contact", "no phone number or e-mail address from the customer yet")
    # The transcript is stored content-addressed: identical triggers share one snapshot.
    digest = transcript.sha256()
    key = f"leads/{tenant}/{body.thread_id}/{digest}.json"
    await platform.artifacts.put_object(
        key, transcript.canonical_json().encode(), "application/json"
    )
    evaluate_after = None
    last = transcript.last_activity()
    idle_delay = timedelta(seconds=platform.settings.lead_idle_delay_seconds)
    if body.reason != "idle" and last is not None and utcnow() - last < idle_delay:
        # The page went away while the chat was still active: look again once it has been quiet.
        evaluate_after = last + idle_delay
    event = platform.bus.event(
        LeadRequested(
            tenant_id=tenant,
            channel=channel.slug,
            thread_id=body.thread_id,
            reason=body.reason,
            transcript_key=key,
            transcript_sha256=digest,
            evaluate_after=evaluate_after,
        ),
        subject=body.thread_id,
        tenant_id=tenant,
    )
    await platform.bus.publish(event)
    if body.attribution:
        await platform.leads.put_attribution(
            tenant, body.thread_id, {"channel": channel.slug, "params": body.attribution}
        )
    if evaluate_after is not None:
        await platform.leads.note(
            tenant, body.thread_id, channel.slug, "not_idle", count_trigger=True
        )
        return answer(
            "not_idle",
            "the chat was active moments ago; it will be evaluated once quiet",
            recheck=evaluate_after,
        )
    await platform.leads.note(tenant, body.thread_id, channel.slug, "queued", count_trigger=True)
    return answer("queued", "the thread is being summarised", code=202)


@api.route(
    "GET",
    "/v1/leads/{thread_id}",
    summary="Where a chat thread's hand-off stands",
    tags=TAGS,
    query=ChannelQuery,
    response=LeadStateView,
    errors=(404,),
)
async def get_lead(ctx: ApiContext) -> LeadStateView:
    channel = await _channel(ctx, ctx.query.channel)
    state = await ctx.platform.leads.get(channel.tenant_id, ctx.path["thread_id"])
    if state is None or state.channel != channel.slug:
        raise HTTPError(404, "lead_not_found", "no triggers for this thread yet")
    cool = (
        datetime.fromtimestamp(state.error_until, utcnow().tzinfo)
        if state.status == "error" and state.error_until and state.error_until > time.time()
        else None
    )
    return LeadStateView(
        thread_id=state.thread_id,
        state=state.status,
        reason=state.last_reason,
        missing=state.missing,
        ses_message_id=state.ses_message_id,
        cool_down_until=cool,
        triggers=state.triggers,
        updated_at=state.updated_at,
        sent_at=state.sent_at,
    )


# ---- attachments ---------------------------------------------------------------------------


@api.route(
    "POST",
    "/v1/attachments",
    summary="Upload a chat photo or document",
    tags=TAGS,
    query=AttachmentQuery,
    status=201,
    response=AttachmentView,
    errors=(404,),
    raw_body_schema={"type": "string", "format": "binary"},
    body_media_type="application/octet-stream",
)
async def upload_attachment(ctx: ApiContext) -> AttachmentView:
    """Send the raw bytes as the body with their content type. The type is checked from the
    bytes themselves (images: JPEG, PNG, WebP, GIF; documents: PDF); a mismatch is refused."""
    platform = ctx.platform
    q: AttachmentQuery = ctx.query
    channel = await _channel(ctx, q.channel)
    data = await read_body(ctx.request, platform.settings.chat_attachment_max_bytes)
    if not data:
        raise HTTPError(422, "empty_upload", "the body is empty")
    detected = sniff(data)
    if detected is None or detected[0] not in ALLOWED_UPLOADS:
        raise HTTPError(
            415,
            "unsupported_type",
            "only JPEG, PNG, WebP, GIF images and PDF documents are accepted",
        )
    media, ext = detected
    declared = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared not in ("", "application/octet-stream", media):
        raise HTTPError(415, "type_mismatch", f"declared {declared} but the bytes are {media}")
    if media.startswith("image/"):
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except Exception:  # any decoder complaint means "not a usable image"
            raise HTTPError(415, "corrupt_image", "the image cannot be decoded") from None
    attachment_id = f"att_{secrets.token_urlsafe(18)}"
    await platform.aws.s3.put_object(
        Bucket=platform.resources.bucket("uploads"),
        Key=f"chatkit-attachments/{attachment_id}.{ext}",
        Body=data,
        ContentType=media,
        Metadata={
            "tenant-id": channel.tenant_id,
            "channel": channel.slug,
            "filename": quote((q.filename or "")[:200]),
        },
    )
    base = platform.settings.gateway_public_url.rstrip("/")
    return AttachmentView(
        id=attachment_id,
        preview_url=f"{base}/v1/attachments/{attachment_id}",
        content_type=media,
        size_bytes=len(data),
        name=q.filename,
    )


@api.route(
    "GET",
    "/v1/attachments/{attachment_id}",
    summary="An uploaded attachment's bytes",
    tags=TAGS,
    errors=(404,),
    extra_responses={
        200: {"description": "The bytes", "content": {"application/octet-stream": {}}}
    },
)
async def get_attachment(ctx: ApiContext) -> Response:
    attachment_id = ctx.path["attachment_id"]
    if not ATTACHMENT_ID.match(attachment_id):
        raise HTTPError(404, "attachment_not_found", "no such attachment")
    s3 = ctx.platform.aws.s3
    bucket = ctx.platform.resources.bucket("uploads")
    listing = await s3.list_objects_v2(
        Bucket=bucket, Prefix=f"chatkit-attachments/{attachment_id}.", MaxKeys=1
    )
    if not listing.get("Contents"):
        raise HTTPError(404, "attachment_not_found", "no such attachment")
    obj = await s3.get_object(Bucket=bucket, Key=listing["Contents"][0]["Key"])
    async with obj["Body"] as stream:
        data = await stream.read()
    media = obj.get("ContentType", "application/octet-stream")
    disposition = "inline" if media.startswith("image/") else "attachment"
    return Response(
        data,
        media_type=media,
        headers={
            "content-disposition": disposition,
            "cache-control": "private, max-age=3600",
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )


# ---- SMS links -----------------------------------------------------------------------------


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        # No inline style: the middleware gives every HTML answer the pages' strict CSP.
        "<link rel='stylesheet' href='/static/site.css'>"
        f"<title>{html.escape(title)}</title><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


@api.route(
    "GET",
    "/s/{token}",
    summary="Click-safe SMS link from a lead e-mail",
    tags=TAGS,
    errors=(404, 410),
    extra_responses={302: {"description": "Redirect to an sms: URI"}},
)
async def sms_link(ctx: ApiContext) -> Response:
    """Redirects to ``sms:<customer>?body=<drafted reply>``; expired (7 days) or unknown tokens
    get a clear page (HTML for browsers, the JSON error body otherwise)."""
    item = await ctx.platform.leads.sms_token(ctx.path["token"])
    wants_html = "text/html" in ctx.request.headers.get("accept", "")
    if item is None:
        if wants_html:
            return _page(404, "Link not found", "This text-message link does not exist.")
        raise HTTPError(404, "link_not_found", "this SMS link does not exist")
    if int(item.get("ttl", 0)) < time.time():
        if wants_html:
            return _page(
                410,
                "Link expired",
                "Text-message links expire after 7 days. Reply from your phone directly.",
            )
        raise HTTPError(410, "link_expired", "this SMS link has expired")
    target = f"sms:{item['phone']}?body={quote(str(item['body']))}"
    return RedirectResponse(target, status_code=302)
