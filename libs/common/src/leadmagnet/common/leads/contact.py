"""Customer contact details, read only from the customer's own messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Transcript

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w])\+?\d[\d ().-]{6,18}\d(?![\w])")


@dataclass(frozen=True)
class Contact:
    emails: tuple[str, ...]
    phones: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.emails or self.phones)


def normalise_phone(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if not 7 <= len(digits) <= 15:
        return None
    return ("+" if raw.strip().startswith("+") else "") + digits


def extract_contact(transcript: Transcript) -> Contact:
    emails: dict[str, None] = {}
    phones: dict[str, None] = {}
    for message in transcript.customer_messages():
        for e in EMAIL.findall(message.text):
            emails.setdefault(e.lower(), None)
        for p in PHONE.findall(message.text):
            normal = normalise_phone(p)
            if normal:
                phones.setdefault(normal, None)
    return Contact(tuple(emails), tuple(phones))
