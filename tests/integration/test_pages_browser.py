"""The pages people see, in a real browser: Playwright driving Debian's Chromium (never a
downloaded one) against the five services and the embedded AWS endpoint. Run alone with
``pytest -m browser``; screenshots land in ``test-output/<test>/``."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import string
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, Request, expect

from leadmagnet.cli.demo import Demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.testing.browser import no_dialogs
from leadmagnet.testing.fake_llm import FakeLLMServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def fill_form(page: Page, name: str, email: str, goal: str) -> None:
    await page.fill("#f-name", name)
    await page.fill("#f-email", email)
    await page.fill("#f-company", "Acme")
    await page.fill("#f-goal", goal)


async def jobs_of(platform: Platform, demo: Demo) -> list[Any]:
    jobs, _ = await platform.jobs.list_for_tenant(demo.tenant_id)
    return jobs


async def test_form_submit_shows_live_progress_then_the_lead_magnet(
    stack: ServiceStack,
    demo: Demo,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
) -> None:
    marker = f"goal-{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"delay_seconds": 2.5})  # progress worth watching
    page = await browser.new_page()
    dialogs = no_dialogs(page)
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events") else None)

    await page.goto(f"{stack.gateway_url}/f/{demo.slug}")
    await expect(page.get_by_label("Your name")).to_be_visible()
    await expect(page.locator("h1")).to_have_text("Get your free growth plan")
    await page.screenshot(path=str(output_dir / "form.png"), full_page=True)
    await fill_form(page, "Ada", "ada@example.com", f"More leads {marker}")
    await page.get_by_role("button", name="Send me my report").click()

    await page.wait_for_url(re.compile(r"/j/job_"))
    await expect(page.locator("#job-heading")).to_have_text("We are preparing your report")
    assert await page.locator("#job-result").is_hidden()
    await page.screenshot(path=str(output_dir / "job-in-progress.png"), full_page=True)
    assert int(await page.locator("#progress").get_attribute("aria-valuenow") or 0) < 100

    await expect(page.locator("#job-result")).to_be_visible(timeout=60_000)
    await expect(page.locator("#job-heading")).to_have_text("Your report is ready")
    await expect(page.locator("#progress")).to_have_attribute("aria-valuenow", "100")
    frame = page.frame_locator("#lead-magnet")
    await expect(frame.locator("header h1")).to_have_text("Your growth plan, Ada", timeout=20_000)
    assert streams, "the job page did not open the SSE stream"
    download = page.locator("#download")
    assert (await download.get_attribute("href") or "").endswith("/download")
    await page.screenshot(path=str(output_dir / "job-done.png"), full_page=True)
    assert dialogs == []

    # Without JavaScript the finished page is complete too (server-rendered).
    context = await browser.new_context(java_script_enabled=False)
    static = await context.new_page()
    await static.goto(page.url)
    await expect(static.locator("#job-heading")).to_have_text("Your report is ready")
    assert await static.locator("#lead-magnet").get_attribute("src")


async def test_validation_messages_next_to_fields_with_and_without_javascript(
    stack: ServiceStack, demo: Demo, browser: Browser, platform: Platform, output_dir: Path
) -> None:
    page = await browser.new_page()
    await page.goto(f"{stack.gateway_url}/f/{demo.slug}")
    await page.fill("#f-email", "not-an-email")
    await page.get_by_role("button", name="Send me my report").click()
    await expect(page.locator("#f-name-error")).to_have_text("Your name is required")
    await expect(page.locator("#f-email-error")).to_have_text(
        "Work email must be a valid email address"
    )
    await expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#form-status")).to_have_text("Please check the highlighted fields.")
    await page.screenshot(path=str(output_dir / "form-errors-js.png"), full_page=True)

    context = await browser.new_context(java_script_enabled=False)
    plain = await context.new_page()
    await plain.goto(f"{stack.gateway_url}/f/{demo.slug}")
    await plain.fill("#f-name", "Grace")
    await plain.fill("#f-email", "grace-at-example")
    await plain.get_by_role("button", name="Send me my report").click()
    await expect(plain.locator("#error-summary")).to_be_visible()
    await expect(plain.locator("#f-email-error")).to_have_text(
        "Work email must be a valid email address"
    )
    await expect(plain.locator("#f-goal-error")).to_have_text(
        "What do you want to achieve? is required"
    )
    await expect(plain.locator("#f-name")).to_have_value("Grace")  # what was typed is kept
    await plain.screenshot(path=str(output_dir / "form-errors-server.png"), full_page=True)
    assert await jobs_of(platform, demo) == []

    await plain.fill("#f-email", "grace@example.com")
    await plain.fill("#f-goal", "Hire faster")
    await plain.get_by_role("button", name="Send me my report").click()
    await plain.wait_for_url(re.compile(r"/j/job_"))  # plain POST -> 303 -> job page
    assert len(await jobs_of(platform, demo)) == 1


async def test_the_honeypot_blocks_bots(
    stack: ServiceStack, demo: Demo, browser: Browser, platform: Platform, output_dir: Path
) -> None:
    for javascript in (False, True):
        context = await browser.new_context(java_script_enabled=javascript)
        page = await context.new_page()
        await page.goto(f"{stack.gateway_url}/f/{demo.slug}")
        box = await page.locator("#f-website_url_hp").bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 0  # off-screen for people, there for bots
        await fill_form(page, "Bot", "bot@example.com", "spam")
        await page.locator("#f-website_url_hp").fill("http://spam.example", force=True)
        await page.get_by_role("button", name="Send me my report").click()
        if javascript:
            await expect(page.locator("#form-status")).to_have_text("the submission was rejected")
        else:
            await expect(page.locator("h1")).to_have_text("Thank you")
        assert "/j/" not in page.url
        await page.screenshot(path=str(output_dir / f"honeypot-js-{javascript}.png"))
    assert await jobs_of(platform, demo) == []


async def test_xss_in_fields_and_llm_output_never_runs(
    stack: ServiceStack,
    demo: Demo,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
) -> None:
    marker = f"xss-{secrets.token_hex(4)}"
    fake_llm.add_rule(
        match=marker,
        reply={
            "text": "# Plan\n\n<script>alert('llm-script')</script>\n\n"
            "<img src=x onerror=\"alert('llm-img')\">\n\n[click me](javascript:alert('llm-link'))\n"
        },
    )
    page = await browser.new_page()
    dialogs = no_dialogs(page)
    await page.goto(f"{stack.gateway_url}/f/{demo.slug}")
    payload = "<img src=x onerror=\"alert('field')\"><script>alert('field2')</script>"
    await fill_form(page, payload, "eve@example.com", f"{marker} {payload}")
    await page.get_by_role("button", name="Send me my report").click()
    await page.wait_for_url(re.compile(r"/j/job_"))
    await expect(page.locator("#job-result")).to_be_visible(timeout=60_000)
    frame = page.frame_locator("#lead-magnet")
    await expect(frame.locator("header h1")).to_contain_text("<img src=x", timeout=20_000)
    assert await frame.locator("script").count() == 0
    assert await frame.locator("[onerror]").count() == 0
    assert await frame.locator("a[href^='javascript']").count() == 0
    assert await page.locator("[onerror]").count() == 0
    await page.screenshot(path=str(output_dir / "xss-job.png"), full_page=True)
    await asyncio.sleep(0.5)
    assert dialogs == []


async def test_failed_job_shows_a_friendly_message(
    stack: ServiceStack, demo: Demo, browser: Browser, fake_llm: FakeLLMServer, output_dir: Path
) -> None:
    marker = f"fail-{secrets.token_hex(4)}"
    refusal = {
        "error": {"message": "Invalid prompt secret-detail", "type": "invalid_request_error"}
    }
    fake_llm.add_rule(match=marker, reply={"status": 400, "body_json": refusal})
    page = await browser.new_page()
    await page.goto(f"{stack.gateway_url}/f/{demo.slug}")
    await fill_form(page, "Ada", "ada@example.com", marker)
    await page.get_by_role("button", name="Send me my report").click()
    await page.wait_for_url(re.compile(r"/j/job_"))
    await expect(page.locator("#job-failed")).to_be_visible(timeout=60_000)
    await expect(page.locator("#job-heading")).to_have_text("We could not finish your report")
    body = await page.locator("body").inner_text()
    assert "secret-detail" not in body
    assert "Traceback" not in body
    assert await page.locator("#job-result").is_hidden()
    await page.screenshot(path=str(output_dir / "job-failed.png"), full_page=True)


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def lead_triggers(stack: ServiceStack, api_client: Any, channel: str, thread: str) -> int:
    resp = await api_client.get(
        f"{stack.gateway_url}/v1/leads/{thread}", params={"channel": channel}
    )
    return int(resp.json()["triggers"]) if resp.status_code == 200 else 0


async def wait_for(predicate: Any, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.2)


async def test_chat_widget_sends_each_trigger_once(
    stack: ServiceStack,
    demo: Demo,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
    tmp_path: Path,
) -> None:
    import httpx2

    # Letters only: the widget reads six digits in a row as a phone number.
    marker = "brakes-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
    fake_llm.add_rule(
        match=marker,
        reply={"json": {"handoff_ready": False, "summary": "Brakes", "missing": ["name"]}},
    )
    channel = f"{demo.slug}-chat"
    context = await browser.new_context()
    leads: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/v1/leads") and request.method == "POST":
            leads.append(str((request.post_data_json or {}).get("reason")))

    context.on("request", on_request)
    page = await context.new_page()
    await page.goto(f"{stack.gateway_url}/chat/demo?channel={channel}&idle=600")
    thread = await page.locator("#chat").get_attribute("data-thread-id")
    assert thread
    await page.get_by_role("button", name="Open chat").click()
    await page.fill("#chat-text", f"Hi, my car needs new {marker}")
    await page.keyboard.press("Enter")
    await expect(page.locator("#chat-log li.assistant").first).to_contain_text("phone number")
    await page.fill("#chat-text", "Call me on +1 555 123 4567")
    await page.keyboard.press("Enter")
    photo = tmp_path / "damage.png"
    photo.write_bytes(png_bytes())
    await page.set_input_files("#chat-file", str(photo))
    await expect(page.locator("#chat-debug")).to_contain_text("uploaded")
    await expect(page.locator("#chat-log img")).to_be_visible()
    await page.screenshot(path=str(output_dir / "chat-open.png"), full_page=True)

    await page.get_by_role("button", name="Close chat").click()
    # The chat was active moments ago: the backend defers the hand-off until it is quiet.
    await expect(page.locator("#chat-debug")).to_contain_text("← chat_closed: 200 not_idle")
    await page.screenshot(path=str(output_dir / "chat-closed.png"), full_page=True)
    async with httpx2.AsyncClient(timeout=10) as client:
        await wait_for(lambda: _equals(lead_triggers(stack, client, channel, thread), 1))
        assert leads == ["chat_closed"]

        # Leaving the page: one pagehide beacon (visibilitychange and pagehide both fire; the
        # widget sends once). Beacons sent while unloading are not reliably reported to
        # Playwright, so the backend's trigger count is the witness.
        await page.goto("about:blank")
        await wait_for(lambda: _equals(lead_triggers(stack, client, channel, thread), 2))
        await asyncio.sleep(1.5)
        assert await lead_triggers(stack, client, channel, thread) == 2

    # The quiet window (idle) fires by itself; without contact details the gate says so.
    idle_page = await context.new_page()
    await idle_page.goto(f"{stack.gateway_url}/chat/demo?channel={channel}&idle=1")
    await idle_page.get_by_role("button", name="Open chat").click()
    await idle_page.fill("#chat-text", "Just looking")
    await idle_page.keyboard.press("Enter")
    await expect(idle_page.locator("#chat-debug")).to_contain_text(
        "← idle: 200 missing_contact", timeout=15_000
    )
    await idle_page.screenshot(path=str(output_dir / "chat-idle.png"), full_page=True)


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_admin_console_lists_and_publishes(
    stack: ServiceStack, demo: Demo, browser: Browser, output_dir: Path
) -> None:
    import httpx2

    async with httpx2.AsyncClient(timeout=10) as client:
        draft = await client.post(
            f"{stack.gateway_url}/v1/templates",
            headers={"authorization": f"Bearer {demo.api_key}"},
            json={"name": "Draft <b>page</b>", "html": "<p>{{REPORT_CONTENT}}</p>"},
        )
    assert draft.status_code == 201, draft.text
    page = await browser.new_page()
    dialogs = no_dialogs(page)
    await page.goto(f"{stack.gateway_url}/admin")
    await page.fill("#api-key", "lm_live_wrongwrongwrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_have_text("That API key is not valid.")
    await page.fill("#api-key", demo.api_key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login")).to_be_hidden()
    await expect(page.locator("#forms tbody tr")).to_have_count(1)
    await expect(page.locator("#forms tbody")).to_contain_text(f"/f/{demo.slug}")
    row = page.locator("#templates tbody tr", has_text="Draft <b>page</b>")
    await expect(row).to_contain_text("draft")
    await page.screenshot(path=str(output_dir / "admin.png"), full_page=True)
    await row.get_by_role("button", name="Publish").click()
    await expect(row).to_contain_text("published")
    await expect(page.locator("#workflows tbody tr")).to_have_count(1)
    assert dialogs == []
