"""Issue 16, the admin console in a real browser (Playwright driving Debian's Chromium) against
the five services: funnel runs with their cost, product kits, chat leads, dead-letter queue
depths, and the cost chart drawn from the costs the services really recorded. Screenshots land
in ``test-output/<test>/``."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.async_api import Browser, expect

from leadmagnet.cli.demo import Demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.events.envelope import message_attributes
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.models import Job
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import PRODUCT_KIND
from leadmagnet.common.providers.base import CallCost, Usage
from leadmagnet.testing.fake_llm import FakeLLMServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def eventually(check: Any, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.3)


async def wait_status(client: httpx2.AsyncClient, url: str, within: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        resp = await client.get(url)
        assert resp.status_code == 200, resp.text
        body = dict(resp.json())
        if body["status"] in ("completed", "failed"):
            return body
        assert time.monotonic() < deadline, f"stuck in {body['status']}"
        await asyncio.sleep(0.3)


async def test_admin_console_shows_runs_kits_leads_dead_letters_and_the_cost_chart(
    stack: ServiceStack,
    platform: Platform,
    demo: Demo,
    browser: Browser,
    fake_llm: FakeLLMServer,
    output_dir: Path,
) -> None:
    base = stack.gateway_url
    marker = secrets.token_hex(4)
    headers = {"authorization": f"Bearer {demo.api_key}"}
    sqs = platform.aws.sqs
    async with httpx2.AsyncClient(timeout=30, headers=headers) as client:
        # Real work first: a lead magnet and a funnel run through the services.
        submitted = await client.post(
            f"{base}/v1/forms/{demo.slug}/submit",
            json={"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": marker},
        )
        assert submitted.status_code == 202, submitted.text
        job = await wait_status(client, submitted.json()["status_url"])
        assert job["status"] == "completed", job
        template = await client.post(
            f"{base}/v1/templates",
            json={
                "kind": "funnel",
                "name": "Spring funnel",
                "brandGuideContent": "Calm and warm. Short sentences.",
                "templateFunnelJson": {"headline": "Sleep better", "items": ["a", "b"]},
                "publish": True,
            },
        )
        assert template.status_code == 201, template.text
        answer = {"headline": "Sleep better this spring", "items": ["calm", "warm"]}
        fake_llm.add_rule(match=f"brief-{marker}", reply={"json": {"funnel": answer}})
        started = await client.post(
            f"{base}/v1/runs",
            json={
                "templateId": template.json()["templateId"],
                "input": {"input_as_text": f"brief-{marker}"},
            },
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["runId"]
        run = await wait_status(client, f"{base}/v1/runs/{run_id}")
        assert run["status"] == "completed", run
        assert run["costMicros"] > 0

        # A product kit whose analysis names the product (its pipeline has its own tests),
        # with a call recorded yesterday: a second day in the chart.
        kit = Job(
            job_id=new_job_id(),
            tenant_id=demo.tenant_id,
            kind=PRODUCT_KIND,
            data={"analysis": {"product": {"type": "espresso cup", "category": "kitchen"}}},
        )
        await platform.jobs.create(kit)
        await platform.jobs.add_cost(
            kit.job_id,
            CallCost(
                provider="openai",
                model="gpt-image-1",
                operation="image",
                usage=Usage(output_tokens=1),
                cost_micros=450,
                price_version="test",
                at=datetime.now(UTC) - timedelta(days=1),
            ),
        )

        # A chat thread stopped by a gate: the customer has left no contact yet.
        thread = f"web_{marker}_lead"
        trigger = await client.post(
            f"{base}/v1/leads",
            json={
                "channel": f"{demo.slug}-chat",
                "thread_id": thread,
                "reason": "idle",
                "messages": [{"role": "user", "text": "Do you ship to Oslo?"}],
            },
        )
        assert trigger.status_code == 200
        assert trigger.json()["status"] == "missing_contact"

        # Dead letters: a poison message the reporter dead-letters by itself, and one of this
        # tenant's events dead-lettered with its reason. Earlier tests of the session leave
        # letters in this DLQ; the console shows a bounded sample, oldest first, so start empty
        # (deleting is what `leadmagnet dlq purge` does inside SQS's 60-second purge window).
        dlq_url = await platform.resources.queue_url("reporter", dlq=True)
        while leftovers := await platform.dead_letters.peek("reporter", limit=100):
            for d in leftovers:
                await sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=d.receipt_handle)
        poison_body = f"{{not json {marker}"
        await sqs.send_message(
            QueueUrl=await platform.resources.queue_url("reporter"), MessageBody=poison_body
        )
        event = platform.bus.event(
            JobRequested(job_id=new_job_id(), tenant_id=demo.tenant_id),
            subject=f"job-{marker}",
            tenant_id=demo.tenant_id,
        )
        attrs = message_attributes(event)
        reason = f"gave up after 5 attempts: 503 ({marker})"
        attrs["dlq_reason"] = {"DataType": "String", "StringValue": reason}
        dlq_url = await platform.resources.queue_url("reporter", dlq=True)
        await sqs.send_message(
            QueueUrl=dlq_url, MessageBody=event.model_dump_json(), MessageAttributes=attrs
        )

        async def both_dead() -> bool:
            bodies = {d.body for d in await platform.dead_letters.peek("reporter")}
            return poison_body in bodies and event.model_dump_json() in bodies

        await eventually(both_dead)
        try:
            costs = (await client.get(f"{base}/v1/costs?days=30")).json()
            dlq = {q["queue"]: q for q in (await client.get(f"{base}/v1/ops/dlq")).json()["queues"]}

            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            problems: list[str] = []
            page.on(
                "console",
                lambda m: (
                    problems.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.on(
                "response",
                lambda r: (
                    problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: problems.append(f"dialog {d.message}"))
            await page.goto(f"{base}/admin")
            await page.get_by_label("API key").fill(demo.api_key)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.locator("#login")).to_be_hidden()
            await expect(page.locator("#console")).to_have_attribute(
                "data-loaded", re.compile(r"^\d+$")
            )

            # Runs: a row per run, linking to its page, with status, duration and cost.
            row = page.locator("#runs tbody tr", has_text=run_id)
            await expect(row).to_contain_text("completed")
            await expect(row.get_by_role("link", name=run_id)).to_have_attribute(
                "href", f"/admin/runs/{run_id}"
            )
            await expect(row).to_contain_text(f"${run['cost']['total']:.6f}")
            await expect(row).to_contain_text(" s")  # a duration

            # Templates of both kinds, each id read in its kind's casing (issue 19).
            funnel_id = template.json()["templateId"]
            funnel_row = page.locator("#templates tbody tr", has_text=f"({funnel_id})")
            await expect(funnel_row.locator("td").nth(0)).to_have_text(
                f"Spring funnel ({funnel_id})"
            )
            await expect(funnel_row.locator("td").nth(1)).to_have_text("funnel")
            html_row = page.locator("#templates tbody tr", has_text=f"({demo.template_id})")
            await expect(html_row.locator("td").nth(1)).to_have_text("html")

            # Kits: product from the analysis, cost, the job page.
            kit_row = page.locator("#kits tbody tr", has_text=kit.job_id)
            await expect(kit_row).to_contain_text("espresso cup (kitchen)")
            await expect(kit_row).to_contain_text("$0.000450")
            await expect(kit_row.get_by_role("link")).to_have_attribute("href", f"/j/{kit.job_id}")

            # Chat leads: state, reason code, not sent.
            lead_row = page.locator("#leads tbody tr", has_text=thread)
            await expect(lead_row).to_contain_text("pending")
            await expect(lead_row).to_contain_text("missing_contact")
            await expect(lead_row).to_contain_text("not sent")

            # Dead letters: the reporter's depth, and our own message's reason.
            dlq_row = page.locator("#dlq tbody tr", has_text="reporter")
            await expect(dlq_row.locator("td").nth(1)).to_have_text(str(dlq["reporter"]["depth"]))
            assert dlq["reporter"]["depth"] >= 2
            await expect(dlq_row).to_contain_text(reason)
            await expect(dlq_row).to_contain_text("io.leadmagnet.job.requested")
            await expect(page.locator("#dlq tbody tr")).to_have_count(len(dlq))

            # The chart: one bar segment per (day, kind) the API reported, heights in proportion.
            series = {(p["day"], p["kind"]): p["costMicros"] for p in costs["series"]}
            today = datetime.now(UTC).date().isoformat()
            assert job["cost"]["total_micros"] > 0
            assert series[(today, "lead_magnet")] == job["cost"]["total_micros"]
            assert series[(today, "funnel_rewrite")] == run["costMicros"]
            yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
            assert series[(yesterday, PRODUCT_KIND)] == 450
            bars = page.locator("#cost-chart svg rect.bar")
            await expect(bars).to_have_count(len(series))
            drawn = await bars.evaluate_all(
                "rs => rs.map(r => [r.dataset.day, r.dataset.kind, Number(r.dataset.micros),"
                " Number(r.getAttribute('height')), r.querySelector('title').textContent])"
            )
            assert {(d, k): m for d, k, m, _, _ in drawn} == series
            ratios = [h / m for _, _, m, h, _ in drawn if h > 2]
            assert ratios, drawn
            assert max(ratios) / min(ratios) < 1.02, drawn
            assert all(k in t and d in t for d, k, _, _, t in drawn)  # hover titles
            legend = page.locator("#cost-legend li")
            await expect(legend).to_have_count(len({k for _, k in series}))
            await expect(page.locator("#cost-table tbody tr")).to_have_count(len(series))

            assert problems == []
            await page.screenshot(path=str(output_dir / "admin-console.png"), full_page=True)
            await page.locator("#costs-section").screenshot(path=str(output_dir / "cost-chart.png"))
            await page.locator("#dlq-section").screenshot(path=str(output_dir / "dead-letters.png"))
        finally:
            for d in await platform.dead_letters.peek("reporter", limit=100):
                if marker in d.body:
                    await sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=d.receipt_handle)
