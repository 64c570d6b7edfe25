"""The lead e-mail as raw MIME: multipart/mixed > multipart/alternative (text, and HTML with its
inline photos as multipart/related parts referenced by ``cid:``).

SES v1 accepts 10 MB counted after base64 encoding, so the whole message is measured with
``len(message.as_bytes())``; while it is over budget the largest inline photo becomes a link.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from leadmagnet.flows.leads.models import ChatMessage, LeadSummary, Transcript, attachment_label


@dataclass
class Attachment:
    id: str
    name: str
    content_type: str
    size: int
    url: str
    data: bytes | None = None  # set when it may be inlined


@dataclass(frozen=True)
class BuiltEmail:
    raw: bytes
    inlined: list[str]
    linked: list[str]


_TRANSCRIPT_PREFIX = re.compile(r"^\s*(?:customer|assistant|user)\s*(?:\[[^\]]*\]\s*)?:\s*", re.I)
_TIMESTAMP = re.compile(
    r"\[?\s*(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"|\d{1,2}:\d{2}(?::\d{2}|[.,]\d+)(?:[.,]\d+)?)(?:\s*(?:Z|[+-]\d{2}:?\d{2}|UTC))?\s*\]?(?:\s*:)?"
)


def subject_text(value: str | None, limit: int = 80) -> str:
    """A model-written field fit for the subject line: one line, no transcript role prefixes
    or timestamps, no brackets left over from them, cut at a word boundary."""
    text = " ".join((value or "").split())
    text = _TRANSCRIPT_PREFIX.sub("", text)
    text = _TIMESTAMP.sub(" ", text)
    text = " ".join(text.replace("[", " ").replace("]", " ").split()).strip(" :—-")
    if len(text) > limit:
        cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
        text = cut.rstrip(" ,.;:—-") + "…"
    return text


def _lines(summary: LeadSummary) -> list[tuple[str, str]]:
    rows = [
        ("Name", summary.name),
        ("E-mail", summary.email),
        ("Phone", summary.phone),
        ("Vehicle / project", summary.project),
        ("Request", summary.request),
        ("Urgency", summary.urgency),
    ]
    return [(k, v or "—") for k, v in rows]


def build_lead_email(
    *,
    sender: str,
    to: str,
    business: str,
    summary: LeadSummary,
    transcript: Transcript,
    attachments: list[Attachment],
    sms_url: str | None,
    max_bytes: int,
) -> BuiltEmail:
    inline = [a for a in attachments if a.data is not None and a.content_type.startswith("image/")]
    while True:
        built = _build(sender, to, business, summary, transcript, attachments, inline, sms_url)
        if len(built.raw) <= max_bytes or not inline:
            if len(built.raw) > max_bytes:
                raise ValueError(f"the e-mail is {len(built.raw)} bytes even without photos")
            return built
        inline.remove(max(inline, key=lambda a: len(a.data or b"")))


def _build(
    sender: str,
    to: str,
    business: str,
    summary: LeadSummary,
    transcript: Transcript,
    attachments: list[Attachment],
    inline: list[Attachment],
    sms_url: str | None,
) -> BuiltEmail:
    who = subject_text(summary.name, 60) or "a website visitor"
    subject = f"New lead for {subject_text(business, 80)}: {who}"
    topic = subject_text(summary.project) or subject_text(summary.request)
    if topic:
        subject += f" — {topic}"
    linked = [a for a in attachments if a not in inline]
    cids = {a.id: make_msgid(domain="leadmagnet.local")[1:-1] for a in inline}

    text = [f"{subject}\n", summary.summary.strip(), ""]
    text += [f"{k}: {v}" for k, v in _lines(summary)]
    if sms_url:
        text += ["", f"Text the customer back: {sms_url}"]
    if attachments:
        text += ["", "Photos and files:"] + [f"Attachment: {a.name} — {a.url}" for a in attachments]
    text += ["", "Full transcript:", transcript.as_text()]

    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _lines(summary)
    )
    photos = "".join(
        f"<p><img src='cid:{cids[a.id]}' alt='{e(a.name)}' style='max-width:100%'></p>"
        for a in inline
    )
    links = "".join(f"<li><a href='{e(a.url)}'>{e(a.name)}</a></li>" for a in linked)
    by_id = {a.id: a for a in attachments}

    def attachment_rows(m: ChatMessage) -> str:
        out = ""
        for ref in m.attachments:
            found = by_id.get(ref.id)
            name = e(found.name if found else attachment_label(ref))
            link = f"<a href='{e(found.url)}'>{name}</a>" if found else name
            out += f"<br><em>Attachment:</em> {link}"
        return out

    chat = "".join(
        f"<p><strong>{'Customer' if m.role == 'user' else 'Assistant'}:</strong> "
        f"{e(m.text).replace(chr(10), '<br>')}{attachment_rows(m)}</p>"
        for m in transcript.messages
    )
    sms = (
        f"<p><a href='{e(sms_url)}' style='background:#1d3557;color:#fff;padding:.6em 1em;"
        f"border-radius:6px;text-decoration:none'>Text {e(who)} back</a></p>"
        if sms_url
        else ""
    )
    body = (
        f"<html><body style='font-family:system-ui,sans-serif'><h2>{e(subject)}</h2>"
        f"<p>{e(summary.summary)}</p><table>{rows}</table>{sms}{photos}"
        + (f"<h3>More photos and files</h3><ul>{links}</ul>" if links else "")
        + f"<h3>Transcript</h3>{chat}</body></html>"
    )

    alternative = EmailMessage()
    alternative.set_content("\n".join(text))
    alternative.add_alternative(body, subtype="html")
    html_part = list(alternative.iter_parts())[1]
    for a in inline:
        maintype, subtype = a.content_type.split("/", 1)
        html_part.add_related(
            a.data,
            maintype=maintype,
            subtype=subtype,
            cid=f"<{cids[a.id]}>",
            disposition="inline",
            filename=a.name,
        )

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="leadmagnet.local")
    message.make_mixed()
    message.attach(alternative)
    return BuiltEmail(message.as_bytes(), [a.id for a in inline], [a.id for a in linked])
