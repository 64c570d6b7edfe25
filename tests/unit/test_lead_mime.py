import email
from email import policy

from leadmagnet.flows.leads.contact import extract_contact
from leadmagnet.flows.leads.models import ChatMessage, LeadSummary, Transcript
from leadmagnet.notifier.flows.lead_mime import Attachment, build_lead_email

SUMMARY = LeadSummary(handoff_ready=True, name="Sam <b>", phone="+15551234567", summary="Seats.")
TRANSCRIPT = Transcript(
    thread_id="t",
    messages=[ChatMessage(role="user", text="<script>alert(1)</script> call +1 555 123 4567")],
)


def photo(i: int, size: int) -> Attachment:
    return Attachment(
        id=f"att_{i}",
        name=f"p{i}.png",
        content_type="image/png",
        size=size,
        url=f"https://gw/v1/attachments/att_{i}",
        data=bytes([i]) * size,
    )


def build(attachments: list[Attachment], max_bytes: int = 10_000_000):
    return build_lead_email(
        sender="leads@x.local",
        to="owner@y.example",
        business="Craig's",
        summary=SUMMARY,
        transcript=TRANSCRIPT,
        attachments=attachments,
        sms_url="https://gw/s/tok",
        max_bytes=max_bytes,
    )


def test_largest_inline_photos_become_links_to_fit_the_ses_limit() -> None:
    photos = [photo(1, 2_900_000), photo(2, 1_000_000), photo(3, 2_500_000), photo(4, 2_800_000)]
    built = build(photos)
    assert len(built.raw) <= 10_000_000  # base64 counted: raw bytes of the whole message
    # 9.2 MB of photos is ~12.4 MB once base64-encoded: the largest one gives way.
    assert built.linked == ["att_1"]
    assert sorted(built.inlined) == ["att_2", "att_3", "att_4"]
    message = email.message_from_bytes(built.raw, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    assert "https://gw/v1/attachments/att_1" in html
    assert html.count("cid:") == 3
    smaller = build(photos, max_bytes=5_000_000)
    assert len(smaller.raw) <= 5_000_000
    assert smaller.linked == ["att_1", "att_4"]  # largest first, until it fits


def test_everything_inline_when_it_fits_and_html_is_escaped() -> None:
    built = build([photo(1, 1000)])
    assert built.inlined == ["att_1"]
    message = email.message_from_bytes(built.raw, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "Sam &lt;b&gt;" in html
    assert "https://gw/s/tok" in message.get_body(("plain",)).get_content()


def test_contact_comes_only_from_the_customer() -> None:
    t = Transcript(
        thread_id="t",
        messages=[
            ChatMessage(role="assistant", text="Call us on +1 800 555 0000 or shop@biz.com"),
            ChatMessage(role="user", text="ok thanks"),
        ],
    )
    assert not extract_contact(t).found
    t.messages.append(ChatMessage(role="user", text="I'm at Sam@Example.com / (555) 987-6543"))
    contact = extract_contact(t)
    assert contact.emails == ("sam@example.com",)
    assert contact.phones == ("5559876543",)
