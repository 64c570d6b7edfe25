"""Issue 19, "the seeds' own clients work unchanged": a page on another origin (a tiny HTTP
server on 127.0.0.1) sends seed 003's chat-widget beacon exactly as the widget does —
``navigator.sendBeacon(url, JSON.stringify({reason, threadId}))``, so a ``text/plain`` body and
the publishable key in the query — and, as the widget's fetch variant, a JSON ``fetch`` with a
CORS preflight. Playwright drives Debian's Chromium (never a downloaded one) against the five
services and the embedded AWS endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from playwright.async_api import Browser, expect

from leadmagnet.cli.demo import Demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.testing.moto_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]


PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Craig's Auto Upholstery</title>
<body>
<p id="status">ready</p>
<button id="close">Close chat</button>
<script>
  // As seed 003's ChatWidgetReact.jsx: POST /lead { reason } with the thread id.
  const config = __CONFIG__;
  const leadUrl = config.gateway + "/lead?key=" + encodeURIComponent(config.key);
  function sendLeadBeacon(reason) {
    return navigator.sendBeacon(leadUrl, JSON.stringify({ reason, threadId: config.thread }));
  }
  window.addEventListener("pagehide", () => sendLeadBeacon("pagehide"));
  document.getElementById("close").addEventListener("click", async () => {
    // the fetch variant: JSON, the key in a header -> a CORS preflight first
    const resp = await fetch(config.gateway + "/lead", {
      method: "POST",
      headers: { "content-type": "application/json", "x-publishable-key": config.key },
      body: JSON.stringify({ reason: "chat_closed", threadId: config.thread }),
    });
    const data = await resp.json();
    document.getElementById("status").textContent = resp.status + " " + data.lead_reason;
  });
</script>
</body></html>
"""


class SitePage:
    """A one-page website on its own origin (http://127.0.0.1:<port>)."""

    def __init__(self) -> None:
        self.html = ""
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # (the browser may have left already)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SitePage:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[SitePage]:
    with SitePage() as page:
        yield page


def chatkit_items(thread: str) -> list[dict[str, Any]]:
    """A ChatKit thread in which the customer left no phone number or e-mail address yet."""
    old = int(time.time()) - 600
    return [
        {
            "id": "i1",
            "object": "chatkit.thread_item",
            "thread_id": thread,
            "created_at": old,
            "type": "chatkit.user_message",
            "attachments": [],
            "inference_options": None,
            "content": [{"type": "input_text", "text": "Can you redo my truck seats?"}],
        },
        {
            "id": "i2",
            "object": "chatkit.thread_item",
            "thread_id": thread,
            "created_at": old + 5,
            "type": "chatkit.assistant_message",
            "content": [{"type": "output_text", "text": "Sure! How can we reach you?"}],
        },
    ]


async def lead_state(
    client: httpx2.AsyncClient, gateway: str, channel: str, thread: str, triggers: int
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        resp = await client.get(f"{gateway}/v1/leads/{thread}", params={"channel": channel})
        if resp.status_code == 200 and resp.json()["triggers"] >= triggers:
            return dict(resp.json())
        assert time.monotonic() < deadline, resp.text
        await asyncio.sleep(0.2)


async def test_seed_widget_beacon_from_an_allowed_origin_changes_the_lead(
    stack: ServiceStack, demo: Demo, fake_llm: Any, site: SitePage, browser: Browser
) -> None:
    gateway = stack.gateway_url
    admin = {"authorization": f"Bearer {demo.api_key}"}
    slug = f"craigs-{secrets.token_hex(4)}"
    thread = f"cthr_{secrets.token_hex(6)}"
    fake_llm.put_chatkit_thread(thread, chatkit_items(thread))
    async with httpx2.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{gateway}/v1/chat-channels",
            headers=admin,
            json={
                "slug": slug,
                "business_name": "Craig's Auto Upholstery",
                "owner_email": "owner@craigs.example",
                "transcript_source": "chatkit",
            },
        )
        assert created.status_code == 201, created.text
        key = await client.post(
            f"{gateway}/v1/publishable-keys",
            headers=admin,
            json={"flow": "chat_lead", "channel": slug, "allowed_origins": [site.origin]},
        )
        assert key.status_code == 201, key.text
        config = {"gateway": gateway, "key": key.json()["key"], "thread": thread}
        site.html = PAGE.replace("__CONFIG__", json.dumps(config))

        context = await browser.new_context()
        beacons: list[str] = []

        def seen(request: Any) -> None:
            if "/lead?key=" in request.url:
                beacons.append(request.headers.get("content-type", ""))

        context.on("request", seen)
        page = await context.new_page()
        await page.goto(site.origin)
        # the idle path: sendBeacon of a string (text/plain, no preflight), the key in the query
        assert await page.evaluate("sendLeadBeacon('idle')") is True
        state = await lead_state(client, gateway, slug, thread, triggers=1)
        assert state["reason"] == "missing_contact", state
        assert state["state"] == "pending", state
        assert beacons, "the page sent no beacon"
        assert beacons[0].startswith("text/plain"), beacons
        # leaving the page fires pagehide: the beacon survives the unload
        await page.goto("about:blank")
        state = await lead_state(client, gateway, slug, thread, triggers=2)
        assert state["reason"] == "missing_contact", state

        # the widget's fetch variant: preflight + JSON, the answer readable by the page
        await page.goto(site.origin)
        await page.click("#close")
        await expect(page.locator("#status")).to_have_text("200 missing_contact", timeout=15_000)
        state = await lead_state(client, gateway, slug, thread, triggers=3)
        assert state["reason"] == "missing_contact", state
        await context.close()
