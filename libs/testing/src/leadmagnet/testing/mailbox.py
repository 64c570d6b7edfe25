"""Mail the local AWS endpoint "sent": moto's data API, or LocalStack's SES inspection endpoint."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import httpx2


def sent_raw_emails(endpoint: str) -> list[dict[str, Any]]:
    """[{"id", "source", "destinations", "raw": bytes}] of every SendRawEmail so far."""
    base = endpoint.rstrip("/")
    resp = httpx2.get(f"{base}/moto-api/data.json", timeout=30)
    if resp.status_code == 200:
        return [
            {
                "id": m["id"],
                "source": m["source"],
                "destinations": m["destinations"],
                "raw": m["raw_data"].encode("utf-8", "surrogateescape"),
            }
            for m in resp.json().get("ses", {}).get("RawMessage", [])
        ]
    resp = httpx2.get(f"{base}/_aws/ses", timeout=30)  # LocalStack
    resp.raise_for_status()
    return [
        {
            "id": m["Id"],
            "source": m.get("Source"),
            "destinations": m.get("Destination", {}).get("ToAddresses", []),
            "raw": (m.get("RawData") or "").encode(),
        }
        for m in resp.json().get("messages", [])
        if m.get("RawData")
    ]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message
