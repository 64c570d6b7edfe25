"""Page helpers: tenant branding is validated before it reaches a page, progress never goes
backwards, and templates escape what they are given."""

from __future__ import annotations

from datetime import UTC, datetime

from leadmagnet.common.models import JobEvent
from leadmagnet.gateway.pages.render import Branding, branding, message_page
from leadmagnet.gateway.progress import progress_of, steps_for


def test_branding_accepts_only_safe_values() -> None:
    good = branding(
        "Acme",
        {
            "branding": {
                "primary_color": "#112233",
                "background_color": "#FFFFFF",
                "logo_url": "https://cdn.example/logo.png",
                "name": "Acme Growth",
            }
        },
    )
    assert good == Branding("Acme Growth", "#112233", "#FFFFFF", "https://cdn.example/logo.png")
    hostile = branding(
        "Acme",
        {
            "branding": {
                "primary_color": "red;} body{display:none",
                "background_color": "#12345",
                "logo_url": "javascript:alert(1)",
                "name": "x" * 500,
            }
        },
    )
    assert hostile == Branding("Acme")
    assert branding("Acme", {"branding": "not a dict"}) == Branding("Acme")
    assert branding("Acme", None).logo_url is None
    assert (
        branding("Acme", {"branding": {"logo_url": "http://plain.example/a.png"}}).logo_url is None
    )


def _event(seq: int, type_: str) -> JobEvent:
    return JobEvent(job_id="j", seq=seq, type=type_, at=datetime.now(UTC))


def test_progress_is_monotonic_and_failure_keeps_the_bar() -> None:
    events = [_event(1, "job.created"), _event(2, "job.processing"), _event(3, "report.generated")]
    assert progress_of(events).percent == 60
    # a late, lower milestone and plain log entries do not move it back
    assert progress_of([*events, _event(4, "job.processing"), _event(5, "log")]).percent == 60
    failed = progress_of([*events, _event(6, "job.failed")])
    assert failed.percent == 60
    assert failed.label == "Something went wrong"
    assert progress_of([*events, _event(7, "job.completed")]).percent == 100
    assert [s["state"] for s in steps_for("lead_magnet", 60)] == ["done", "current", "", ""]
    assert {s["state"] for s in steps_for("lead_magnet", 100)} == {"done"}


def test_pages_escape_text() -> None:
    page = message_page(404, "<script>alert(1)</script>", "a & b")
    body = bytes(page.body).decode()
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;" in body
    assert "a &amp; b" in body
    assert "script-src 'self'" in page.headers["content-security-policy"]
