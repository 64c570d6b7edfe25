"""Customer contact details, read only from the customer's own messages.

The rule for every provider (the platform applies it after the model answers, and the notifier
once more before it sends): a contact detail in a lead summary — phone, e-mail, name — is kept
only when it appears in the customer's own messages (their text: never the assistant's messages,
timestamps or other metadata). Phones are compared as digits only, e-mails in lower case, names
word by word. A detail that does not appear is dropped, never replaced by a guess; no phone means
no SMS link.

Phone candidates are deliberately strict: dates, times and timestamps, prices, order/invoice/
reference numbers, zip codes and bare digit runs shorter than 10 digits are not phones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leadmagnet.flows.leads.models import Transcript

if TYPE_CHECKING:
    from leadmagnet.flows.leads.models import LeadSummary

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A run of digits with phone separators (space, dot, dash, parentheses), optionally "+"-prefixed.
# Not glued to letters, digits or the punctuation of times, dates, money and numbering.
PHONE = re.compile(r"(?<![\w@#$€£¥:/.,+-])\+?\(?\d[\d ().-]{5,20}\d(?![\w%€$£¥@]|[:/]\d|[.,-]\d)")
_DATE = re.compile(
    r"^(?:\d{4}[-. /]\d{1,2}[-. /]\d{1,2}|\d{1,2}[-. /]\d{1,2}[-. /]\d{2,4})$"
)  # 2026-01-05, 05.01.2026, 5-1-26
_DECIMAL = re.compile(r"^\d+[.]\d{1,2}$")  # 12500.00 (a price), 3.5
_ZIP_PLUS4 = re.compile(r"^\d{5}-\d{4}$")
_NOT_A_PHONE_BEFORE = re.compile(
    r"(?:\b(?:order|invoice|inv|ref|reference|tracking|account|acct|zip|zipcode|postcode"
    r"|postal\s+code|vin|serial|part|sku|item|confirmation|booking|ticket|case|policy|claim|id)"
    r"|#)(?:\W{0,3}(?:no\.?|nr\.?|num|number|#|is|was|:))*\W{0,3}$",
    re.I,
)
_PHONE_CUE_BEFORE = re.compile(
    r"\b(?:phone|mobile|cell|call|text|sms|whatsapp|tel|reach\s+me|number|ring)\b[^\n]{0,20}$",
    re.I,
)
_CURRENCY_BEFORE = re.compile(r"[$€£¥]\s?$")
_CURRENCY_AFTER = re.compile(r"^\s?(?:usd|eur|gbp|dollars?|euros?|bucks|kr|sek|nok|chf)\b", re.I)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class Contact:
    emails: tuple[str, ...]
    phones: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.emails or self.phones)


def phone_digits(raw: str) -> str:
    return re.sub(r"\D", "", raw)


def normalise_phone(raw: str) -> str | None:
    digits = phone_digits(raw)
    if not 7 <= len(digits) <= 15:
        return None
    return ("+" if raw.strip().startswith("+") else "") + digits


def _is_phone(candidate: str, before: str, after: str) -> bool:
    raw = candidate.strip()
    digits = phone_digits(raw)
    if not 7 <= len(digits) <= 15:
        return False
    if _DATE.match(raw) or _DECIMAL.match(raw) or _ZIP_PLUS4.match(raw):
        return False
    if _CURRENCY_AFTER.match(after) or _CURRENCY_BEFORE.search(before):
        return False
    if _NOT_A_PHONE_BEFORE.search(before[-30:]):
        return False  # "order 55512345678", "invoice #…", "zip 90210 1234"
    cue = bool(_PHONE_CUE_BEFORE.search(before[-40:]))
    separated = bool(re.search(r"[ ().-]", raw))
    if raw.startswith("+"):
        return len(digits) >= 8
    if separated:
        # Phone grouping: the last group has at least 3 digits ("555 123 4567", "(555) 987-6543").
        groups = [g for g in re.split(r"[ ().-]+", raw) if g]
        return len(groups[-1]) >= 3 and len(digits) >= 7
    return len(digits) >= 10 or (cue and len(digits) >= 7)


def _phone_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for m in PHONE.finditer(text):
        start, raw = m.start(), m.group(0).rstrip(" ().-")
        if raw.startswith("(") and ")" not in raw:
            start, raw = start + 1, raw[1:]
        end = start + len(raw)
        if _is_phone(raw, text[:start], text[end:]):
            normal = normalise_phone(raw)
            if normal:
                spans.append((start, end, normal))
    return spans


def phones_in(text: str) -> list[str]:
    """Phone numbers written in ``text`` (normalised: digits, with ``+`` when written)."""
    found: list[str] = []
    for _, _, normal in _phone_spans(text):
        if normal not in found:
            found.append(normal)
    return found


def emails_in(text: str) -> list[str]:
    found: list[str] = []
    for e in EMAIL.findall(text):
        if e.lower() not in found:
            found.append(e.lower())
    return found


def extract_contact(transcript: Transcript) -> Contact:
    emails: dict[str, None] = {}
    phones: dict[str, None] = {}
    for message in transcript.customer_messages():
        for e in emails_in(message.text):
            emails.setdefault(e, None)
        for p in phones_in(message.text):
            phones.setdefault(p, None)
    return Contact(tuple(emails), tuple(phones))


def match_phone(claimed: str, contact: Contact) -> str | None:
    """The customer's own phone that ``claimed`` denotes (digits only), else ``None``.

    A model that adds a country code the customer did not write gets the customer's number as
    written: nothing the customer did not give is kept."""
    digits = phone_digits(claimed)
    if not digits:
        return None
    for phone in contact.phones:
        own = phone_digits(phone)
        if own == digits:
            return phone
        longer, shorter = (digits, own) if len(digits) >= len(own) else (own, digits)
        if len(shorter) >= 7 and longer.endswith(shorter) and len(longer) - len(shorter) <= 3:
            return phone  # one side wrote a country code: the customer's version is kept
    return None


def _name_in_customer_words(name: str, transcript: Transcript) -> bool:
    words = {w.casefold() for m in transcript.customer_messages() for w in _WORD.findall(m.text)}
    parts = [w.casefold() for w in _WORD.findall(name)]
    return bool(parts) and all(p in words for p in parts)


def _scrub(text: str | None, contact: Contact) -> str | None:
    """Drop e-mails and phone numbers from free text that the customer did not give."""
    if not text:
        return text

    def email(m: re.Match[str]) -> str:
        return m.group(0) if m.group(0).lower() in contact.emails else "[not given]"

    text = EMAIL.sub(email, text)
    for start, end, normal in reversed(_phone_spans(text)):
        if match_phone(normal, contact) is None:
            text = text[:start] + "[not given]" + text[end:]
    return text


def enforce_customer_contact(summary: LeadSummary, transcript: Transcript) -> list[str]:
    """Apply the contact rule to ``summary`` in place; returns what was dropped (for the log).

    Kept: an e-mail the customer wrote (lower-cased), a phone whose digits the customer wrote
    (as the customer wrote it, normalised), a name whose every word the customer wrote. When the
    model gave none but the customer wrote one, the customer's own first one is used. With no
    contact left the summary is not ready (``missing: contact``)."""
    contact = extract_contact(transcript)
    dropped: list[str] = []
    if summary.email is not None:
        email = summary.email.strip().lower()
        if email in contact.emails:
            summary.email = email
        else:
            summary.email = None
            dropped.append("email")
    if summary.email is None and contact.emails:
        summary.email = contact.emails[0]
    if summary.phone is not None:
        own = match_phone(summary.phone, contact)
        if own is None:
            dropped.append("phone")
        summary.phone = own
    if summary.phone is None and contact.phones:
        summary.phone = contact.phones[0]
    if summary.name is not None and not _name_in_customer_words(summary.name, transcript):
        summary.name = None
        dropped.append("name")
    for field in ("summary", "request", "project"):
        value = getattr(summary, field)
        cleaned = _scrub(value, contact)
        if cleaned != value:
            setattr(summary, field, cleaned or ("" if field == "summary" else None))
            dropped.append(f"{field}_contact")
    if not (summary.email or summary.phone):
        summary.handoff_ready = False
        summary.missing = sorted({*summary.missing, "contact"})
    return dropped
