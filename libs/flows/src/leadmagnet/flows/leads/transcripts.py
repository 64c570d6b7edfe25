"""Where a thread's transcript comes from: the trigger request itself, or an OpenAI ChatKit
thread (the canonical history in seed 003), behind one small interface."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Protocol

from leadmagnet.common.errors import LeadmagnetError
from leadmagnet.common.platform import Platform
from leadmagnet.common.providers.errors import map_sdk_error
from leadmagnet.common.settings import Settings
from leadmagnet.flows.leads.models import AttachmentRef, ChatMessage, Transcript

MAX_ITEMS = 500
_ATTACHMENT_URL = re.compile(r"/v1/attachments/(att_[A-Za-z0-9_-]{16,64})")


class TranscriptSource(Protocol):
    async def fetch(self, thread_id: str) -> Transcript: ...


class ChatKitTranscripts:
    """Reads ``/chatkit/threads/{id}/items`` with the official SDK (oldest first)."""

    def __init__(self, settings: Settings) -> None:
        import openai  # the SDK is paid for (~0.5 s, ~40 MiB) only where ChatKit is used

        key = settings.openai_api_key
        self.client = openai.AsyncOpenAI(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.openai_base_url,
            max_retries=settings.llm_max_retries,
            timeout=min(30.0, settings.llm_timeout_seconds),
        )

    async def fetch(self, thread_id: str) -> Transcript:
        import openai

        messages: list[ChatMessage] = []
        try:
            async for item in self.client.beta.chatkit.threads.list_items(
                thread_id, order="asc", limit=100
            ):
                message = _to_message(item)
                if message is not None:
                    messages.append(message)
                if len(messages) >= MAX_ITEMS:
                    break
        except openai.OpenAIError as e:
            raise map_sdk_error("chatkit", e) from None
        return Transcript(thread_id=thread_id, messages=messages)

    async def aclose(self) -> None:
        await self.client.close()


def _to_message(item: Any) -> ChatMessage | None:
    kind = getattr(item, "type", "")
    if kind not in ("chatkit.user_message", "chatkit.assistant_message"):
        return None  # widgets, tool calls and tasks are not conversation
    text = "\n".join(getattr(c, "text", "") for c in getattr(item, "content", []) or [])
    attachments = []
    for a in getattr(item, "attachments", None) or []:
        match = _ATTACHMENT_URL.search(getattr(a, "preview_url", "") or "")
        if match:
            attachments.append(AttachmentRef(id=match.group(1), name=(a.name or None)))
    created = getattr(item, "created_at", None)
    return ChatMessage(
        role="user" if kind == "chatkit.user_message" else "assistant",
        text=text[:8000],
        time=datetime.fromtimestamp(created, UTC) if created else None,
        attachments=attachments[:20],
    )


__all__ = ["ChatKitTranscripts", "LeadmagnetError", "TranscriptSource"]


def chatkit_of(platform: Platform) -> ChatKitTranscripts:
    """The process's ChatKit reader (built on first use, closed with the platform)."""
    return platform.shared("chatkit", ChatKitTranscripts)
