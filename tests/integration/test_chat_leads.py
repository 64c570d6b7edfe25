"""Seed 003: chat-lead hand-off against the embedded AWS over HTTP, the OpenAI SDK against the
local wire-format server (summary model and ChatKit threads)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx2
import pytest
from PIL import Image

from leadmagnet.cli.demo import Demo
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.platform import Platform
from leadmagnet.common.stores.leads import thread_key
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.mailbox import parse, sent_raw_emails

pytestmark = pytest.mark.integration

OLD = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
DAY = 86_400


def summary(ready: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "handoff_ready": ready,
        "name": "Sam",
        "phone": "+15551234567",
        "email": "sam@example.com",
        "project": "1967 Mustang seats",
        "request": "Reupholster both front seats in black leather",
        "urgency": "normal",
        "summary": "Sam wants both front seats of a 1967 Mustang redone in black leather.",
        "missing": [] if ready else ["budget"],
        "suggested_reply": "Hi Sam, thanks! Could you send a photo of the seats?",
        **extra,
    }


def chat(
    marker: str, *, contact: bool = True, time_: str = OLD, attachments: list[str] | None = None
) -> list[dict[str, Any]]:
    user = f"Hi, I'm Sam ({marker}). I need my Mustang seats redone."
    if contact:
        user += " Call me at +1 555 123 4567."
    return [
        {"role": "assistant", "text": "Hello! How can we help?", "time": time_},
        {
            "role": "user",
            "text": user,
            "time": time_,
            "attachments": [
                {"id": a, "name": f"photo-{i}.png"} for i, a in enumerate(attachments or [])
            ],
        },
        {"role": "assistant", "text": "Thanks, we'll be in touch.", "time": time_},
    ]


@pytest.fixture
async def channel(api: GatewayClient, demo: Demo) -> str:
    slug = f"shop-{secrets.token_hex(4)}"
    resp = await api.client.post(
        f"{api.base}/v1/chat-channels",
        headers={"authorization": f"Bearer {demo.api_key}"},
        json={
            "slug": slug,
            "business_name": "Craig's Auto Upholstery",
            "owner_email": "owner@craigs.example",
        },
    )
    assert resp.status_code == 201, resp.text
    return slug


async def trigger(
    api: GatewayClient, channel: str, thread: str, messages: Any, reason: str = "idle"
) -> httpx2.Response:
    return await api.client.post(
        f"{api.base}/v1/leads",
        json={
            "channel": channel,
            "thread_id": thread,
            "reason": reason,
            "messages": messages,
            "attribution": {"utm_source": "google", "gclid": "abc123"},
        },
    )


async def lead_state(api: GatewayClient, channel: str, thread: str) -> dict[str, Any]:
    resp = await api.client.get(f"{api.base}/v1/leads/{thread}", params={"channel": channel})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def wait_state(
    api: GatewayClient, channel: str, thread: str, pred: Any, within: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        state = await lead_state(api, channel, thread)
        if pred(state):
            return state
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.2)


def emails_for(thread_marker: str) -> list[EmailMessage]:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    return [
        parse(m["raw"]) for m in sent_raw_emails(endpoint) if thread_marker.encode() in m["raw"]
    ]


def noise_png(target: int) -> bytes:
    """A real PNG of random pixels (incompressible) of about ``target`` bytes."""
    side = int((target / 3) ** 0.5)
    img = Image.frombytes("RGB", (side, side), secrets.token_bytes(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


async def upload(
    api: GatewayClient, channel: str, data: bytes, content_type: str, name: str = "p.png"
) -> httpx2.Response:
    return await api.client.post(
        f"{api.base}/v1/attachments",
        params={"channel": channel, "filename": name},
        content=data,
        headers={"content-type": content_type},
    )


async def test_gates_answer_with_the_seed_reason_codes(
    api: GatewayClient, channel: str, fake_llm: Any
) -> None:
    marker = f"gate{secrets.token_hex(4)}"  # a letter first: digits alone read as a phone
    empty = await trigger(api, channel, f"cthr_{marker}_e", [{"role": "assistant", "text": "Hi!"}])
    assert empty.json()["status"] == "empty_thread"
    missing = await trigger(api, channel, f"cthr_{marker}_m", chat(marker, contact=False))
    assert missing.json()["status"] == "missing_contact"
    assert (await lead_state(api, channel, f"cthr_{marker}_m"))["reason"] == "missing_contact"
    fake_llm.add_rule(match=f"{marker}_nr", reply={"json": summary(ready=False)})
    queued = await trigger(api, channel, f"cthr_{marker}_nr", chat(f"{marker}_nr"))
    assert (queued.status_code, queued.json()["status"]) == (202, "queued")
    state = await wait_state(
        api, channel, f"cthr_{marker}_nr", lambda s: s["reason"] == "not_ready"
    )
    assert state["state"] == "pending"
    assert state["missing"] == ["budget"]
    assert not emails_for(f"{marker}_nr")
    unknown = await api.client.post(
        f"{api.base}/v1/leads",
        json={"channel": "nope-nope", "thread_id": "cthr_x1", "reason": "idle", "messages": []},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "channel_not_found"
    bad = await api.client.post(
        f"{api.base}/v1/leads", json={"channel": channel, "thread_id": "t", "reason": "bored"}
    )
    assert bad.status_code == 422
    assert {d["loc"] for d in bad.json()["error"]["details"]} == {"body.thread_id", "body.reason"}


async def test_not_idle_is_rechecked_once_the_chat_is_quiet(
    api: GatewayClient, channel: str, fake_llm: Any
) -> None:
    marker = f"idle{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"json": summary()})
    now = datetime.now(UTC).isoformat()
    resp = await trigger(
        api, channel, f"cthr_{marker}", chat(marker, time_=now), reason="chat_closed"
    )
    body = resp.json()
    assert body["status"] == "not_idle"
    assert body["recheck_at"]
    assert not emails_for(marker)
    state = await wait_state(api, channel, f"cthr_{marker}", lambda s: s["state"] == "sent")
    assert state["ses_message_id"]
    assert len(emails_for(marker)) == 1


async def test_concurrent_triggers_send_exactly_one_email(
    api: GatewayClient, channel: str, fake_llm: Any, platform: Platform, demo: Demo
) -> None:
    marker = f"race{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"json": summary()})
    thread = f"cthr_{marker}"
    reasons = ["idle", "pagehide", "chat_closed"] * 7
    results = await asyncio.gather(
        *(trigger(api, channel, thread, chat(marker), r) for r in reasons[:20])
    )
    assert {r.json()["status"] for r in results} <= {"queued", "already_sent"}
    state = await wait_state(api, channel, thread, lambda s: s["state"] == "sent")
    await asyncio.sleep(3)  # let every duplicate reach the notifier
    assert len(emails_for(marker)) == 1
    summaries = [r for r in fake_llm.stats()["requests"] if marker in r["body"]]
    assert len(summaries) == 1, "one transcript, one summary call"
    again = await trigger(api, channel, thread, chat(marker))
    assert again.json()["status"] == "already_sent"
    # TTL horizons: 30 days (dedupe), 180 days (attribution), 7 days (SMS link).
    now = time.time()
    lead = await platform.leads.leads.get({"thread_key": thread_key(demo.tenant_id, thread)})
    assert lead is not None
    assert abs(lead["ttl"] - (now + 30 * DAY)) < 120
    attribution = await platform.leads.attribution_of(demo.tenant_id, thread)
    assert attribution is not None
    assert abs(attribution["ttl"] - (now + 180 * DAY)) < 120
    assert attribution["params"] == {"utm_source": "google", "gclid": "abc123"}
    assert attribution["ses_message_id"] == state["ses_message_id"]
    [message] = emails_for(marker)
    token = re.search(r"/s/([A-Za-z0-9_-]+)", message.get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
    sms = await platform.leads.sms_token(token)
    assert sms is not None
    assert abs(sms["ttl"] - (now + 7 * DAY)) < 120


async def test_email_mime_inline_photos_and_links(
    api: GatewayClient, channel: str, fake_llm: Any
) -> None:
    marker = f"mime{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"json": summary()})
    small_bytes, large_bytes = noise_png(2_900_000), noise_png(3_100_000)
    assert 2_800_000 < len(small_bytes) < 3_000_000 < len(large_bytes) < 3_200_000
    small = (await upload(api, channel, small_bytes, "image/png")).json()
    large = (await upload(api, channel, large_bytes, "image/png")).json()
    preview = await api.client.get(small["preview_url"])
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/png"
    assert preview.content == small_bytes
    await trigger(
        api, channel, f"cthr_{marker}", chat(marker, attachments=[small["id"], large["id"]])
    )
    await wait_state(api, channel, f"cthr_{marker}", lambda s: s["state"] == "sent")
    [message] = emails_for(marker)
    assert message.get_content_type() == "multipart/mixed"
    [alternative] = message.get_payload()  # type: ignore[misc]
    assert alternative.get_content_type() == "multipart/alternative"
    text_part, related = alternative.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    html = html_part.get_payload(decode=True).decode()
    assert len(images) == 1
    cid = images[0]["Content-ID"].strip("<>")
    assert f"cid:{cid}" in html
    assert images[0].get_content_disposition() == "inline"
    assert images[0].get_payload(decode=True) == small_bytes
    assert large["preview_url"] in html  # too big to inline: a link
    text = text_part.get_content()
    assert "1967 Mustang seats" in text
    assert "Reupholster both front seats" in text
    assert "I need my Mustang seats redone" in text  # the full transcript
    assert re.search(r"/s/[A-Za-z0-9_-]+", text)


async def test_ses_failure_records_error_and_cooldown_then_a_later_trigger_sends(
    api: GatewayClient, channel: str, fake_llm: Any, aws: AwsClients, bootstrapped: Any
) -> None:
    marker = f"sesf{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"json": summary()})
    sender = bootstrapped.lead_email_sender
    await aws.ses.delete_identity(Identity=sender)
    try:
        await trigger(api, channel, f"cthr_{marker}", chat(marker))
        state = await wait_state(api, channel, f"cthr_{marker}", lambda s: s["state"] == "error")
        assert state["cool_down_until"]
        assert not emails_for(marker)
    finally:
        await aws.ses.verify_email_identity(EmailAddress=sender)
    await asyncio.sleep(2.5)  # the cool-down (2 s in the test stack)
    messages = [*chat(marker), {"role": "user", "text": "Any news?", "time": OLD}]
    resp = await trigger(api, channel, f"cthr_{marker}", messages)
    assert resp.json()["status"] == "queued"
    state = await wait_state(api, channel, f"cthr_{marker}", lambda s: s["state"] == "sent")
    assert state["ses_message_id"]
    assert len(emails_for(marker)) == 1


async def test_attachment_types_come_from_the_bytes(api: GatewayClient, channel: str) -> None:
    png = noise_png(5_000)
    spoofed = await upload(api, channel, png, "image/jpeg")
    assert (spoofed.status_code, spoofed.json()["error"]["code"]) == (415, "type_mismatch")
    script = await upload(api, channel, b"<script>alert(1)</script>", "image/png")
    assert (script.status_code, script.json()["error"]["code"]) == (415, "unsupported_type")
    truncated = await upload(api, channel, png[:64], "image/png")
    assert (truncated.status_code, truncated.json()["error"]["code"]) == (415, "corrupt_image")
    pdf = await upload(api, channel, b"%PDF-1.4\n%%EOF\n", "application/pdf", "quote.pdf")
    assert pdf.status_code == 201
    assert (await api.client.get(pdf.json()["preview_url"])).headers[
        "content-disposition"
    ] == "attachment"
    ok = await upload(api, channel, png, "application/octet-stream")
    assert ok.status_code == 201
    assert ok.json()["content_type"] == "image/png"
    missing = await api.client.get(f"{api.base}/v1/attachments/att_{'x' * 24}")
    assert missing.status_code == 404


async def test_sms_links_redirect_or_explain(
    api: GatewayClient, platform: Platform, demo: Demo
) -> None:
    token = await platform.leads.create_sms_token(
        "+15551234567", "Hi Sam & co?", tenant_id=demo.tenant_id, thread_id="t1"
    )
    resp = await api.client.get(f"{api.base}/s/{token}", headers={"accept": "text/html"})
    assert resp.status_code == 302
    assert resp.headers["location"] == "sms:+15551234567?body=Hi%20Sam%20%26%20co%3F"
    unknown = await api.client.get(f"{api.base}/s/{'z' * 32}", headers={"accept": "text/html"})
    assert unknown.status_code == 404
    assert "does not exist" in unknown.text
    await platform.leads.sms.put(
        {
            "token": "expired-token-abcdefgh",
            "phone": "+1555",
            "body": "x",
            "ttl": int(time.time()) - 10,
        }
    )
    expired = await api.client.get(
        f"{api.base}/s/expired-token-abcdefgh", headers={"accept": "text/html"}
    )
    assert expired.status_code == 410
    assert "expire" in expired.text
    as_api = await api.client.get(f"{api.base}/s/expired-token-abcdefgh")
    assert as_api.json()["error"]["code"] == "link_expired"


async def test_chatkit_thread_is_the_transcript_source(
    api: GatewayClient, demo: Demo, fake_llm: Any
) -> None:
    slug = f"ck-{secrets.token_hex(4)}"
    created = await api.client.post(
        f"{api.base}/v1/chat-channels",
        headers={"authorization": f"Bearer {demo.api_key}"},
        json={
            "slug": slug,
            "business_name": "Craig's",
            "owner_email": "owner@craigs.example",
            "transcript_source": "chatkit",
        },
    )
    assert created.status_code == 201
    marker = f"ck{secrets.token_hex(4)}"
    thread = f"cthr_{marker}"
    old = int(time.time()) - 600
    fake_llm.put_chatkit_thread(
        thread,
        [
            {
                "id": "i1",
                "object": "chatkit.thread_item",
                "thread_id": thread,
                "created_at": old,
                "type": "chatkit.user_message",
                "attachments": [],
                "inference_options": None,
                "content": [
                    {
                        "type": "input_text",
                        "text": f"Seats for my truck ({marker}), sam@example.com",
                    }
                ],
            },
            {
                "id": "i2",
                "object": "chatkit.thread_item",
                "thread_id": thread,
                "created_at": old + 5,
                "type": "chatkit.assistant_message",
                "content": [
                    {"type": "output_text", "text": "Great, we'll call you.", "annotations": []}
                ],
            },
        ],
    )
    fake_llm.add_rule(match=marker, reply={"json": summary()})
    resp = await api.client.post(
        f"{api.base}/v1/leads", json={"channel": slug, "thread_id": thread, "reason": "chat_closed"}
    )
    assert resp.json()["status"] == "queued", resp.text
    await wait_state(api, slug, thread, lambda s: s["state"] == "sent")
    [message] = emails_for(marker)
    assert "Great, we'll call you." in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_contact_details_come_only_from_the_customers_words(
    api: GatewayClient, channel: str, fake_llm: Any, platform: Platform
) -> None:
    """Finding 11: whatever the model answers, a phone the customer did not write is dropped
    (no SMS link); one the customer wrote is the one the SMS link texts."""
    marker = f"cont{secrets.token_hex(4)}"
    # The model invents a phone (and borrows the assistant's) for an e-mail-only customer.
    fake_llm.add_rule(
        match=f"{marker}_mail",
        reply={
            "json": summary(
                phone="+1 800 555 0000",
                email="SAM@example.com",
                summary="Sam (call +1 800 555 0000) wants his Mustang seats redone.",
            )
        },
    )
    mail_only = [
        {"role": "assistant", "text": "Hello! Call us on +1 800 555 0000.", "time": OLD},
        {
            "role": "user",
            "text": f"Hi, I'm Sam ({marker}_mail). Mustang seats please. sam@example.com",
            "time": OLD,
        },
    ]
    resp = await trigger(api, channel, f"cthr_{marker}_mail", mail_only)
    assert resp.json()["status"] == "queued", resp.text
    await wait_state(api, channel, f"cthr_{marker}_mail", lambda s: s["state"] == "sent")
    [message] = emails_for(f"{marker}_mail")
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    head = plain.split("Full transcript:")[0]
    assert "/s/" not in plain  # no phone, no SMS link
    assert "Phone: —" in head
    assert "E-mail: sam@example.com" in head
    assert "800 555 0000" not in head
    assert "8005550000" not in head
    assert "Text Sam back" not in message.get_body(("html",)).get_content()  # type: ignore[union-attr]

    # The customer gives a phone, the model formats it differently: the link texts that number.
    fake_llm.add_rule(
        match=f"{marker}_tel", reply={"json": summary(phone="(555) 123-4567", email=None)}
    )
    await trigger(api, channel, f"cthr_{marker}_tel", chat(f"{marker}_tel"))
    await wait_state(api, channel, f"cthr_{marker}_tel", lambda s: s["state"] == "sent")
    [message] = emails_for(f"{marker}_tel")
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Phone: +15551234567" in plain
    assert "E-mail: —" in plain  # the customer gave none
    token = re.search(r"/s/([A-Za-z0-9_-]+)", plain).group(1)  # type: ignore[union-attr]
    sms = await platform.leads.sms_token(token)
    assert sms is not None
    assert sms["phone"] == "+15551234567"
    link = await api.client.get(f"{api.base}/s/{token}", headers={"accept": "text/html"})
    assert link.headers["location"].startswith("sms:+15551234567?")


async def test_subject_and_attachment_rows_carry_no_transcript_formatting(
    api: GatewayClient, channel: str, fake_llm: Any
) -> None:
    marker = f"subj{secrets.token_hex(4)}"
    fake_llm.add_rule(
        match=marker,
        reply={
            "json": summary(
                project=None,
                request="Customer [2026-01-05T10:00:08.449000+00:00]: I need my seats redone",
            )
        },
    )
    photo = (await upload(api, channel, noise_png(5_000), "image/png", "front seat.png")).json()
    await trigger(api, channel, f"cthr_{marker}", chat(marker, attachments=[photo["id"]]))
    await wait_state(api, channel, f"cthr_{marker}", lambda s: s["state"] == "sent")
    [message] = emails_for(marker)
    assert (
        message["Subject"] == "New lead for Craig's Auto Upholstery: Sam — I need my seats redone"
    )
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The customer's file name (chat() names it photo-0.png), in the list and the transcript.
    assert f"Attachment: photo-0.png — {photo['preview_url']}" in plain
    assert "\n  Attachment: photo-0.png\n" in plain
