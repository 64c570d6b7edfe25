"""Issue 16, the admin console's API: kits, chat leads, dead-letter queues and costs, each
tenant-scoped (two tenants), bounded and in the documented shape. The gateway application runs
in process against the embedded AWS endpoint (no worker processes)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.events.envelope import message_attributes
from leadmagnet.common.events.jobs import JobRequested
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.models import Job
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import PRODUCT_KIND
from leadmagnet.common.providers.base import CallCost, Usage
from leadmagnet.gateway.routes import console

pytestmark = pytest.mark.integration


@pytest.fixture
async def other(platform: Platform) -> Demo:
    """A second tenant."""
    return await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}", tenant_name="Other")


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


def assert_error(resp: Any, status: int, code: str, loc: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code, error
    assert error["message"], error
    if loc:
        assert loc in [d["loc"] for d in error["details"]], error


def call(micros: int, at: datetime, operation: str = "text") -> CallCost:
    return CallCost(
        provider="offline",
        model="m",
        operation=operation,
        usage=Usage(input_tokens=10, output_tokens=5),
        cost_micros=micros,
        price_version="test",
        at=at,
    )


async def kit(platform: Platform, demo: Demo, analysis: dict[str, Any] | None = None) -> Job:
    job = Job(
        job_id=new_job_id(),
        tenant_id=demo.tenant_id,
        kind=PRODUCT_KIND,
        data={"analysis": analysis} if analysis else {},
    )
    return await platform.jobs.create(job)


@pytest.mark.parametrize(
    "path",
    ["/v1/kits", "/v1/leads", "/v1/ops/dlq", "/v1/costs"],
)
async def test_console_routes_need_an_api_key(gw: httpx2.AsyncClient, path: str) -> None:
    assert_error(await gw.get(path), 401, "unauthenticated")
    assert_error(await gw.get(path, headers={"x-api-key": "lm_live_nope"}), 401, "invalid_api_key")


async def test_kits_are_the_tenants_product_jobs_with_product_and_cost(
    gw: httpx2.AsyncClient, platform: Platform, demo: Demo, other: Demo
) -> None:
    product = {"type": "sneaker", "category": "footwear", "subcategory": "running"}
    first = await kit(platform, demo, {"product": product})
    await platform.jobs.add_cost(first.job_id, call(1234, datetime.now(UTC), "vision"))
    second = await kit(platform, demo)  # no analysis yet
    theirs = await kit(platform, other, {"product": product})
    lead_magnet = Job(job_id=new_job_id(), tenant_id=demo.tenant_id)  # not a kit
    await platform.jobs.create(lead_magnet)

    resp = await gw.get("/v1/kits", headers=auth(demo))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["truncated"] is False
    by_id = {k["jobId"]: k for k in body["kits"]}
    assert set(by_id) == {first.job_id, second.job_id}
    assert [k["jobId"] for k in body["kits"]] == [second.job_id, first.job_id]  # newest first
    assert by_id[first.job_id]["product"] == "sneaker (footwear)"
    assert by_id[first.job_id]["costMicros"] == 1234
    assert by_id[first.job_id]["costUsd"] == "0.001234"
    assert by_id[first.job_id]["pageUrl"] == f"/j/{first.job_id}"
    assert by_id[second.job_id]["product"] is None
    assert by_id[second.job_id]["status"] == "pending"

    mine = (await gw.get("/v1/kits", headers=auth(other))).json()["kits"]
    assert [k["jobId"] for k in mine] == [theirs.job_id]

    one = (await gw.get("/v1/kits?limit=1", headers=auth(demo))).json()
    assert [k["jobId"] for k in one["kits"]] == [second.job_id]
    assert one["truncated"] is True
    for bad in ("0", "101", "x", "9" * 30):
        assert_error(
            await gw.get(f"/v1/kits?limit={bad}", headers=auth(demo)),
            422,
            "validation_error",
            "query.limit",
        )
    assert_error(
        await gw.get("/v1/kits?nope=1", headers=auth(demo)), 422, "validation_error", "query.nope"
    )


async def test_leads_list_only_the_callers_threads(
    gw: httpx2.AsyncClient, platform: Platform, demo: Demo, other: Demo
) -> None:
    leads = platform.leads
    t1, t2, t3 = (f"web_{secrets.token_hex(6)}" for _ in range(3))
    await leads.note(demo.tenant_id, t1, "shop", "missing_contact", count_trigger=True)
    await leads.note(demo.tenant_id, t2, "desk", "queued", count_trigger=True)
    lease = await leads.acquire_lease(demo.tenant_id, t2, "desk")
    assert lease.acquired
    assert lease.owner
    await leads.mark_sent(demo.tenant_id, t2, lease.owner, "ses-1")
    await leads.note(other.tenant_id, t3, "shop", "empty_thread", count_trigger=True)

    resp = await gw.get("/v1/leads", headers=auth(demo))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["truncated"] is False
    rows = {r["threadId"]: r for r in body["leads"]}
    assert set(rows) == {t1, t2}
    assert [r["threadId"] for r in body["leads"]] == [t2, t1]  # most recently updated first
    assert rows[t1]["state"] == "pending"
    assert rows[t1]["reason"] == "missing_contact"
    assert rows[t1]["sentAt"] is None
    assert rows[t1]["triggers"] == 1
    assert rows[t2]["state"] == "sent"
    assert rows[t2]["reason"] == "sent"
    assert rows[t2]["sentAt"]
    assert rows[t2]["channel"] == "desk"

    theirs = (await gw.get("/v1/leads", headers=auth(other))).json()["leads"]
    assert [r["threadId"] for r in theirs] == [t3]
    assert theirs[0]["reason"] == "empty_thread"

    desk = (await gw.get("/v1/leads?channel=desk", headers=auth(demo))).json()["leads"]
    assert [r["threadId"] for r in desk] == [t2]
    one = (await gw.get("/v1/leads?limit=1", headers=auth(demo))).json()
    assert len(one["leads"]) == 1
    assert one["truncated"] is True
    assert_error(
        await gw.get("/v1/leads?limit=201", headers=auth(demo)),
        422,
        "validation_error",
        "query.limit",
    )
    assert_error(
        await gw.get("/v1/leads?channel=NOT%20A%20SLUG", headers=auth(demo)),
        422,
        "validation_error",
        "query.channel",
    )


async def test_leads_are_listed_through_the_by_tenant_index_never_a_scan(
    gw: httpx2.AsyncClient,
    platform: Platform,
    demo: Demo,
    other: Demo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The services' IAM policy grants Query, not Scan: the listing reads the leads table's
    ``by_tenant`` index (tenant_id, updated_at), newest first, bounded by ``limit``."""
    leads_table = platform.resources.topology.tables["leads"]
    assert [ix.name for ix in leads_table.global_secondary_indexes] == ["by_tenant"]
    calls: list[str] = []
    client = platform.aws.dynamodb
    for name in ("query", "scan"):
        real = getattr(client, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(client, name, spy)

    threads = [f"web_{secrets.token_hex(6)}" for _ in range(3)]
    for t in threads:
        await platform.leads.note(demo.tenant_id, t, "shop", "missing_contact")
    await platform.leads.note(other.tenant_id, f"web_{secrets.token_hex(6)}", "shop", "queued")
    calls.clear()
    body = (await gw.get("/v1/leads", headers=auth(demo))).json()
    assert [r["threadId"] for r in body["leads"]] == threads[::-1]
    assert body["truncated"] is False
    two = (await gw.get("/v1/leads?limit=2", headers=auth(demo))).json()
    assert [r["threadId"] for r in two["leads"]] == threads[:0:-1]
    assert two["truncated"] is True
    assert calls
    assert set(calls) == {"query"}


async def test_costs_per_day_and_kind_are_the_tenants_recorded_calls(
    gw: httpx2.AsyncClient, platform: Platform, demo: Demo, other: Demo
) -> None:
    now = datetime.now(UTC)
    today, yesterday = now.date(), (now - timedelta(days=1)).date()
    report = Job(job_id=new_job_id(), tenant_id=demo.tenant_id)
    await platform.jobs.create(report)
    await platform.jobs.add_cost(report.job_id, call(1000, now))
    await platform.jobs.add_cost(report.job_id, call(500, now - timedelta(days=1)))
    product = await kit(platform, demo)
    await platform.jobs.add_cost(product.job_id, call(2500, now, "image"))
    await platform.jobs.add_cost(product.job_id, call(0, now, "vision"))  # free calls: no bar
    old = Job(job_id=new_job_id(), tenant_id=demo.tenant_id)
    await platform.jobs.create(old)
    await platform.jobs.add_cost(old.job_id, call(7, now - timedelta(days=20)))
    theirs = Job(job_id=new_job_id(), tenant_id=other.tenant_id)
    await platform.jobs.create(theirs)
    await platform.jobs.add_cost(theirs.job_id, call(999_999, now))

    resp = await gw.get("/v1/costs?days=30", headers=auth(demo))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["days"] == 30
    assert body["truncated"] is False
    assert body["since"] == (today - timedelta(days=29)).isoformat()
    series = {(p["day"], p["kind"]): p["costMicros"] for p in body["series"]}
    assert series == {
        (str(today), "lead_magnet"): 1000,
        (str(yesterday), "lead_magnet"): 500,
        (str(today), PRODUCT_KIND): 2500,
        (str(now.date() - timedelta(days=20)), "lead_magnet"): 7,
    }
    assert body["totalMicros"] == 4007
    assert [p["day"] for p in body["series"]] == sorted(p["day"] for p in body["series"])

    # A one-day window: only today's calls.
    day = (await gw.get("/v1/costs?days=1", headers=auth(demo))).json()
    assert {(p["kind"], p["costMicros"]) for p in day["series"]} == {
        ("lead_magnet", 1000),
        (PRODUCT_KIND, 2500),
    }
    theirs_report = (await gw.get("/v1/costs", headers=auth(other))).json()
    assert theirs_report["totalMicros"] == 999_999
    assert [p["kind"] for p in theirs_report["series"]] == ["lead_magnet"]
    for bad in ("0", "91", "-1", "1.5"):
        assert_error(
            await gw.get(f"/v1/costs?days={bad}", headers=auth(demo)),
            422,
            "validation_error",
            "query.days",
        )


async def test_dlq_depths_for_everyone_reasons_only_for_the_callers_messages(
    gw: httpx2.AsyncClient,
    platform: Platform,
    demo: Demo,
    other: Demo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console, "DLQ_CACHE_SECONDS", 0.0)
    sqs = platform.aws.sqs
    dlq_url = await platform.resources.queue_url("imager", dlq=True)
    # A poison message (no envelope, no tenant) and one of demo's events, dead-lettered.
    poison = await sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody="{not json",
        MessageAttributes={
            "dlq_reason": {"DataType": "String", "StringValue": "undecodable body"},
        },
    )
    job_id = new_job_id()
    event = platform.bus.event(
        JobRequested(job_id=job_id, tenant_id=demo.tenant_id, workflow_id="wf", submission_id="s"),
        subject=job_id,
        tenant_id=demo.tenant_id,
    )
    attrs = message_attributes(event)
    attrs["dlq_reason"] = {"DataType": "String", "StringValue": "gave up after 5 attempts: 503"}
    mine = await sqs.send_message(
        QueueUrl=dlq_url, MessageBody=event.model_dump_json(), MessageAttributes=attrs
    )
    try:
        resp = await gw.get("/v1/ops/dlq", headers=auth(demo))
        assert resp.status_code == 200, resp.text
        queues = {q["queue"]: q for q in resp.json()["queues"]}
        assert set(queues) == set(platform.resources.topology.queues)
        imager = queues["imager"]
        assert imager["depth"] >= 2
        assert imager["error"] is None
        assert imager["sampled"] >= 2
        assert imager["yours"] == 1
        assert imager["oldestAgeSeconds"] is not None
        assert imager["oldestAgeSeconds"] >= 0
        own = imager["oldestYours"]
        assert own["messageId"] == mine["MessageId"]
        assert own["reason"] == "gave up after 5 attempts: 503"
        assert own["type"] == "io.leadmagnet.job.requested"
        assert own["subject"] == job_id

        # Another tenant: the same counts, nothing about demo's message nor the poison.
        seen = await gw.get("/v1/ops/dlq", headers=auth(other))
        assert seen.status_code == 200, seen.text
        text = seen.text
        theirs = {q["queue"]: q for q in seen.json()["queues"]}["imager"]
        assert theirs["depth"] == imager["depth"]
        assert theirs["yours"] == 0
        assert theirs["oldestYours"] is None
        for secret in (mine["MessageId"], poison["MessageId"], "gave up", "undecodable", job_id):
            assert secret not in text

        # Looking consumed nothing: both messages can still be received right away.
        assert await platform.dead_letters.depths("imager") == (imager["depth"], 0)
    finally:
        ids = {poison["MessageId"], mine["MessageId"]}
        for d in await platform.dead_letters.peek("imager", limit=100):
            if d.message_id in ids:
                await sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=d.receipt_handle)
