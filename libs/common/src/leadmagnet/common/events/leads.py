"""Events of the chat-lead hand-off (seed 003)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .envelope import EventData, event_type


class LeadSummaryData(EventData):
    """What the summary model extracted (kept in the event so the e-mail needs no re-run)."""

    handoff_ready: bool
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    project: str | None = Field(None, description="Vehicle / project the customer asks about.")
    request: str | None = None
    urgency: Literal["low", "normal", "high"] | None = None
    summary: str = ""
    missing: list[str] = Field(default_factory=list)
    suggested_reply: str | None = None


@event_type(
    "lead.requested",
    version=1,
    public=False,
    description="A chat trigger passed the gateway's gates; the thread waits for its summary.",
)
class LeadRequested(EventData):
    tenant_id: str
    channel: str
    thread_id: str
    reason: Literal["idle", "pagehide", "chat_closed"]
    transcript_key: str
    transcript_sha256: str
    evaluate_after: datetime | None = Field(
        None, description="Not before this time (a trigger that came while the chat was active)."
    )


@event_type(
    "lead.ready",
    version=1,
    public=False,
    description="The summary model says the thread is ready for hand-off: send the one e-mail.",
)
class LeadReady(EventData):
    tenant_id: str
    channel: str
    thread_id: str
    reason: str
    transcript_key: str
    summary: LeadSummaryData


@event_type(
    "lead.sent",
    version=1,
    public=True,
    description="The lead e-mail of a chat thread was sent (once per thread).",
)
class LeadSent(EventData):
    tenant_id: str
    channel: str
    thread_id: str
    ses_message_id: str
    inline_images: int
    linked_attachments: int
    sent_at: datetime
