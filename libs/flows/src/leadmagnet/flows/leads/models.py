"""Chat transcripts, channels and lead state."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from leadmagnet.common.events.leads import LeadSummaryData
from leadmagnet.common.stores.leads import ChatChannel as ChatChannel  # re-exported
from leadmagnet.common.stores.leads import LeadState as LeadState  # re-exported
from leadmagnet.common.stores.leads import LeadStatus as LeadStatus  # re-exported

THREAD_ID = r"^[A-Za-z0-9_-]{4,128}$"
TriggerReason = Literal["idle", "pagehide", "chat_closed"]
SkipReason = Literal["already_sent", "missing_contact", "not_ready", "not_idle", "empty_thread"]


class AttachmentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^att_[A-Za-z0-9_-]{16,64}$", description="From POST /v1/attachments.")
    name: str | None = Field(None, max_length=200)


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029/\\\\]+")


def safe_filename(name: str | None, fallback: str) -> str:
    """A customer-given file name fit for a transcript row, a MIME filename and a link text:
    one line, no path, at most 100 characters; ``fallback`` when nothing usable is left."""
    cleaned = " ".join(_UNSAFE_NAME.sub(" ", name or "").split()).strip(" .")
    return cleaned[:100] or fallback


def attachment_label(a: AttachmentRef) -> str:
    return safe_filename(a.name, a.id)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    text: str = Field("", max_length=8_000)
    time: datetime | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)


class Transcript(BaseModel):
    thread_id: str
    messages: list[ChatMessage]

    def customer_messages(self) -> list[ChatMessage]:
        return [m for m in self.messages if m.role == "user"]

    def is_empty(self) -> bool:
        return not any(m.text.strip() or m.attachments for m in self.customer_messages())

    def last_activity(self) -> datetime | None:
        times = [m.time for m in self.messages if m.time is not None]
        return max(times) if times else None

    def attachment_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for m in self.customer_messages():
            for a in m.attachments:
                seen.setdefault(a.id, None)
        return list(seen)

    def attachment_names(self) -> dict[str, str]:
        """The customer's file name of each attachment id (the first one given)."""
        names: dict[str, str] = {}
        for m in self.customer_messages():
            for a in m.attachments:
                if a.name and a.id not in names:
                    names[a.id] = a.name
        return names

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def as_text(self, *, times: bool = True) -> str:
        """One ``Customer [time]: text`` / ``Assistant [time]: text`` line per message; the
        message's further lines and its ``Attachment: name`` rows are indented, so a line that
        starts with a role is always a message boundary (a message cannot fake one)."""
        lines = []
        for m in self.messages:
            who = "Customer" if m.role == "user" else "Assistant"
            when = f" [{m.time.isoformat(timespec='seconds')}]" if m.time and times else ""
            first, *rest = m.text.strip().splitlines() or [""]
            lines.append(f"{who}{when}: {first}")
            lines += [f"  {line}" for line in rest]
            lines += [f"  Attachment: {attachment_label(a)}" for a in m.attachments]
        return "\n".join(lines)


class LeadSummary(LeadSummaryData):
    """The summary model's structured answer (the event payload model, validated as output)."""
