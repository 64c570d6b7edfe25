"""Per-tenant limits: the per-form submit quota at the gateway (429 with Retry-After, one budget
for the JSON route and the hosted form, other forms and tenants unaffected), the tenant's limits
through the API and the CLI, the DynamoDB model-slot semaphore, the consumer's deferral (a busy
tenant's message waits without walking toward the DLQ), and, through the running system, one
tenant's flood not holding back another tenant's job."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import DEMO_FIELDS, Demo, seed_demo
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.bootstrap import bootstrap
from leadmagnet.common.consumer import Consumer, ConsumerSettings, FailedMessage, MessageContext
from leadmagnet.common.errors import Deferred, TransientError
from leadmagnet.common.events import (
    CloudEvent,
    EventData,
    event_type,
    message_attributes,
    new_event,
    spec_of,
)
from leadmagnet.common.models import Form
from leadmagnet.common.platform import Platform
from leadmagnet.common.resources import Resources
from leadmagnet.common.settings import Settings
from leadmagnet.common.stores.model_slots import HeldSlot, ModelSlots, NoSlot
from leadmagnet.common.stores.tenants import TenantLimits
from leadmagnet.common.tenant_limits import ModelSlotGuard, TenantBusy
from leadmagnet.common.topology import Queue, Subscription, Topology, load_topology
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer

pytestmark = pytest.mark.integration

FIELDS = {"name": "Ada", "email": "ada@example.com", "goal": "more leads"}


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


async def fresh_window(margin: float = 25) -> None:
    """Start a quota test early in a one-minute window, so no window ends in the middle of it."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.5)


# ---- the submit quota ------------------------------------------------------------------------


async def test_a_forms_submits_past_its_quota_answer_429_and_other_forms_are_unaffected(
    gw: httpx2.AsyncClient, platform: Platform, demo: Demo
) -> None:
    resp = await gw.put("/v1/tenant/limits", json={"submits_per_minute": 2}, headers=auth(demo))
    assert resp.status_code == 200, resp.text
    assert resp.json()["in_force"]["submits_per_minute"] == 2
    other_form = f"{demo.slug}-b"
    await platform.forms.create(
        Form(
            slug=other_form,
            tenant_id=demo.tenant_id,
            workflow_id=demo.workflow_id,
            name="B",
            fields=DEMO_FIELDS,
        )
    )
    other_tenant = await seed_demo(platform, slug=f"demo-{secrets.token_hex(4)}")
    await fresh_window()

    first = await gw.post(f"/v1/forms/{demo.slug}/submit", json=FIELDS)
    assert first.status_code == 202, first.text
    # the hosted form (no JavaScript) spends the same budget
    page = await gw.post(
        f"/f/{demo.slug}", content="name=Ada&email=ada%40example.com&goal=x", headers=FORM
    )
    assert page.status_code == 303, page.text

    refused = await gw.post(f"/v1/forms/{demo.slug}/submit", json=FIELDS)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["details"][0]["loc"] == "path.slug"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    busy_page = await gw.post(f"/f/{demo.slug}", content="name=Ada&goal=x", headers=FORM)
    assert busy_page.status_code == 429
    assert busy_page.headers["content-type"].startswith("text/html")
    assert 1 <= int(busy_page.headers["retry-after"]) <= 60
    assert "Please wait" in busy_page.text

    for slug in (other_form, other_tenant.slug):  # the same tenant's other form, another tenant
        resp = await gw.post(f"/v1/forms/{slug}/submit", json=FIELDS)
        assert resp.status_code == 202, (slug, resp.text)


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_an_unknown_form_is_404_not_a_quota(gw: httpx2.AsyncClient) -> None:
    resp = await gw.post(f"/v1/forms/nope-{secrets.token_hex(4)}/submit", json=FIELDS)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "form_not_found"


# ---- the tenant's limits through the API and the CLI -------------------------------------------


async def test_the_limits_api_reads_and_tightens_and_refuses_raising(
    gw: httpx2.AsyncClient, platform: Platform, demo: Demo
) -> None:
    defaults = platform.settings
    resp = await gw.get("/v1/tenant/limits", headers=auth(demo))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "limits": {"model_concurrency": None, "submits_per_minute": None},
        "in_force": {
            "model_concurrency": defaults.tenant_model_concurrency,
            "submits_per_minute": defaults.form_submits_per_minute,
        },
        "defaults": {
            "model_concurrency": defaults.tenant_model_concurrency,
            "submits_per_minute": defaults.form_submits_per_minute,
        },
    }
    assert (await gw.get("/v1/tenant/limits")).status_code == 401

    resp = await gw.put("/v1/tenant/limits", json={"model_concurrency": 1}, headers=auth(demo))
    assert resp.status_code == 200, resp.text
    assert resp.json()["limits"] == {"model_concurrency": 1, "submits_per_minute": None}
    assert (await platform.tenants.limits(demo.tenant_id, consistent=True)).model_concurrency == 1

    for body, loc in (
        ({"model_concurrency": 0}, "body.model_concurrency"),
        ({"submits_per_minute": 10**6}, "body.submits_per_minute"),
        ({"model_concurrency": "many"}, "body.model_concurrency"),
        ({"model_concurency": 2}, "body.model_concurency"),
        ({"model_concurrency": defaults.tenant_model_concurrency + 1}, "body.model_concurrency"),
    ):
        resp = await gw.put("/v1/tenant/limits", json=body, headers=auth(demo))
        assert resp.status_code == 422, (body, resp.text)
        assert [d["loc"] for d in resp.json()["error"]["details"]] == [loc], resp.text
    # refused bodies changed nothing
    assert (await platform.tenants.limits(demo.tenant_id, consistent=True)).model_concurrency == 1


def cli(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESOURCE_PREFIX": platform.settings.resource_prefix, "LOG_LEVEL": "ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "leadmagnet.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_an_operator_sets_limits_with_the_cli_and_the_tenant_may_not_exceed_them(
    gw: httpx2.AsyncClient, platform: Platform, demo: Demo
) -> None:
    done = await asyncio.to_thread(
        cli, platform, "tenants", "limits", demo.tenant_id, "--model-concurrency", "12"
    )
    assert done.returncode == 0, done.stderr
    assert "model_concurrency: 12" in done.stdout
    assert f"submits_per_minute: {platform.settings.form_submits_per_minute}" in done.stdout
    own = await platform.tenants.limits(demo.tenant_id, consistent=True)
    assert own == TenantLimits(model_concurrency=12)
    # up to what the operator granted is the tenant's to set; beyond it is not
    ok = await gw.put("/v1/tenant/limits", json={"model_concurrency": 12}, headers=auth(demo))
    assert ok.status_code == 200, ok.text
    too_high = await gw.put("/v1/tenant/limits", json={"model_concurrency": 13}, headers=auth(demo))
    assert too_high.status_code == 422
    assert too_high.json()["error"]["code"] == "limit_too_high"

    bad = await asyncio.to_thread(
        cli, platform, "tenants", "limits", demo.tenant_id, "--submits-per-minute", "-3"
    )
    assert bad.returncode == 2
    assert "--submits-per-minute" in bad.stderr
    unknown = await asyncio.to_thread(cli, platform, "tenants", "limits", "ten_nobody")
    assert unknown.returncode == 1
    assert "no tenant" in unknown.stderr


# ---- the model-slot semaphore ------------------------------------------------------------------


async def test_model_slots_count_up_to_the_limit_and_free_on_release_or_lapse(
    platform: Platform,
) -> None:
    slots = ModelSlots(platform.aws, platform.resources.table("model_slots"))
    tenant = f"ten_{secrets.token_hex(6)}"
    held = [await slots.acquire(tenant, 3, lease_seconds=60) for _ in range(3)]
    assert all(isinstance(h, HeldSlot) for h in held)
    assert len({h.holder for h in held if isinstance(h, HeldSlot)}) == 3

    refused = await slots.acquire(tenant, 3, lease_seconds=60, retry_after=5)
    assert isinstance(refused, NoSlot)
    assert 1 <= refused.retry_after <= 5
    other = await slots.acquire(f"ten_{secrets.token_hex(6)}", 3, lease_seconds=60)
    assert isinstance(other, HeldSlot)  # another tenant has its own slots

    first = held[0]
    assert isinstance(first, HeldSlot)
    await slots.release(first)
    await slots.release(first)  # a second release frees nothing more
    again = await slots.acquire(tenant, 3, lease_seconds=60)
    assert isinstance(again, HeldSlot)
    assert isinstance(await slots.acquire(tenant, 3, lease_seconds=60), NoSlot)
    # a lowered limit: the holders above it still count, a raised one makes room
    assert isinstance(await slots.acquire(tenant, 2, lease_seconds=60), NoSlot)
    assert isinstance(await slots.acquire(tenant, 4, lease_seconds=60), HeldSlot)

    # A crashed holder's slot frees itself when its lease lapses (seen from a later clock).
    lapsed_tenant = f"ten_{secrets.token_hex(6)}"
    now = time.time()
    crashed = await slots.acquire(lapsed_tenant, 1, lease_seconds=10, now=now)
    assert isinstance(crashed, HeldSlot)
    busy = await slots.acquire(lapsed_tenant, 1, lease_seconds=10, now=now + 5, retry_after=30)
    assert isinstance(busy, NoSlot)
    assert 1 <= busy.retry_after < 6  # the lapse is the earliest a slot frees
    taken_over = await slots.acquire(lapsed_tenant, 1, lease_seconds=60, now=now + 11)
    assert isinstance(taken_over, HeldSlot)
    # the old holder can neither renew nor release what is no longer its own
    assert not await slots.renew(crashed, 60)
    await slots.release(crashed)
    assert isinstance(await slots.acquire(lapsed_tenant, 1, lease_seconds=60), NoSlot)
    # a renewal moves the lease: past the end of the first one it is still held
    assert await slots.renew(taken_over, 600)
    assert isinstance(
        await slots.acquire(lapsed_tenant, 1, lease_seconds=60, now=now + 100), NoSlot
    )


async def test_model_slots_racing_claims_never_exceed_the_limit(platform: Platform) -> None:
    """Claimants racing (as replicas do) for a new tenant's slots, some of them lapsed: exactly
    the limit wins, whatever the interleaving."""
    slots = ModelSlots(platform.aws, platform.resources.table("model_slots"))
    tenant = f"ten_{secrets.token_hex(6)}"
    claims = await asyncio.gather(*(slots.acquire(tenant, 5, lease_seconds=60) for _ in range(12)))
    won = [c for c in claims if isinstance(c, HeldSlot)]
    assert len(won) == 5, claims
    # a process's racing first claims of a tenant: one creates its item, each other writes once
    before = sum(platform.aws.call_counts.values())
    fresh = ModelSlots(platform.aws, platform.resources.table("model_slots"))
    other = f"ten_{secrets.token_hex(6)}"
    claims = await asyncio.gather(*(fresh.acquire(other, 8, lease_seconds=60) for _ in range(8)))
    assert all(isinstance(c, HeldSlot) for c in claims), claims
    assert sum(platform.aws.call_counts.values()) - before == 8

    lapsing = f"ten_{secrets.token_hex(6)}"
    now = time.time()
    for _ in range(3):  # three crashed holders
        assert isinstance(await slots.acquire(lapsing, 4, lease_seconds=10, now=now), HeldSlot)
    later = now + 11
    claims = await asyncio.gather(
        *(slots.acquire(lapsing, 4, lease_seconds=60, now=later) for _ in range(8))
    )
    assert len([c for c in claims if isinstance(c, HeldSlot)]) == 4, claims


async def test_the_guard_raises_tenant_busy_at_the_tenants_own_limit(platform: Platform) -> None:
    tenant = await platform.tenants.create("Busy Co")
    assert await platform.tenants.set_limits(tenant.tenant_id, TenantLimits(model_concurrency=1))
    guard = ModelSlotGuard(platform)
    async with guard.held(tenant.tenant_id):
        with pytest.raises(TenantBusy) as busy:
            async with guard.held(tenant.tenant_id):
                raise AssertionError("a second slot was granted")
        assert isinstance(busy.value, Deferred)
        assert isinstance(busy.value, TransientError)
        assert busy.value.code == "tenant_busy"
        assert busy.value.retry_after is not None
        assert busy.value.retry_after >= 1
    async with guard.held(tenant.tenant_id):  # released on exit
        pass


# ---- the consumer defers without spending the receive budget ------------------------------------


@event_type("test.waits", version=1, public=False, description="test only")
class Waits(EventData):
    key: str
    defer_times: int


WAITS = spec_of(Waits).type


def waits_topology() -> Topology:
    queue = Queue(
        consumer="waiter",
        visibility_timeout_seconds=5,
        message_retention_seconds=3600,
        receive_wait_time_seconds=1,
        max_receive_count=2,
        dlq_retention_seconds=7200,
        backoff_base_seconds=0.2,
        backoff_cap_seconds=1,
        subscriptions=[Subscription(topic="events", filter_policy={"type": [WAITS]})],
    )
    base = load_topology()
    return base.model_copy(update={"queues": {"waiter": queue}, "tables": {}, "buckets": {}})


class Waiter:
    def __init__(self) -> None:
        self.receive_counts: dict[str, list[int]] = {}
        self.failures: list[FailedMessage] = []

    async def handle(self, ctx: MessageContext, event: CloudEvent[Any]) -> None:
        data: Waits = event.data
        seen = self.receive_counts.setdefault(data.key, [])
        seen.append(ctx.receive_count)
        if data.defer_times < 0 or len(seen) <= data.defer_times:
            raise Deferred("waiting for a slot", code="tenant_busy", retry_after=1)

    async def on_failure(self, failed: FailedMessage) -> None:
        self.failures.append(failed)


@pytest.fixture
async def waiter_env(aws_endpoint: str) -> AsyncIterator[tuple[Resources, Waiter, Consumer]]:
    settings = Settings(resource_prefix=f"d{secrets.token_hex(4)}", LEADMAGNET_ENV="test")
    topology = waits_topology()
    async with AwsClients(settings) as aws:
        await bootstrap(aws, topology)
        resources = Resources(aws, topology)
        waiter = Waiter()
        consumer = Consumer(
            resources=resources,
            service="waiter",
            handlers={WAITS: waiter.handle},
            on_failure=waiter.on_failure,
            config=ConsumerSettings(
                concurrency=4,
                pollers=1,
                wait_time_seconds=1,
                backoff_base_seconds=0.2,
                backoff_cap_seconds=1,
                shutdown_grace_seconds=10,
                ack_flush_seconds=0.05,
            ),
        )
        task = asyncio.create_task(consumer.run())
        await asyncio.wait_for(consumer.wait_ready(), 10)
        try:
            yield resources, waiter, consumer
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 30)


async def dead_letters(resources: Resources) -> int:
    url = await resources.queue_url("waiter", dlq=True)
    attrs = await resources.aws.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


async def until(check: Any, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_deferrals_do_not_spend_the_receive_budget(
    waiter_env: tuple[Resources, Waiter, Consumer],
) -> None:
    resources, waiter, consumer = waiter_env
    bus_event = _event(Waits(key="k1", defer_times=4))  # twice the queue's max_receive_count
    url = await resources.queue_url("waiter")
    await resources.aws.sqs.send_message(
        QueueUrl=url, MessageBody=bus_event.model_dump_json(), MessageAttributes=_attrs(bus_event)
    )
    await until(lambda: len(waiter.receive_counts.get("k1", [])) == 5)
    await until(lambda: consumer.stats.counts["succeeded"] == 1)
    assert waiter.receive_counts["k1"] == [1, 1, 1, 1, 1]  # each deferral is a fresh message
    assert consumer.stats.counts["deferred"] == 4
    assert waiter.failures == []
    assert await dead_letters(resources) == 0


async def test_past_its_deferral_budget_a_message_is_retried_as_any_other(
    waiter_env: tuple[Resources, Waiter, Consumer],
) -> None:
    resources, waiter, consumer = waiter_env
    bus_event = _event(Waits(key="k2", defer_times=-1))  # always busy
    attrs = _attrs(bus_event)
    long_ago = time.time() - resources.settings.consumer_deferral_budget_seconds - 60
    attrs["deferred_since"] = {"DataType": "String", "StringValue": f"{long_ago:.3f}"}
    await resources.aws.sqs.send_message(
        QueueUrl=await resources.queue_url("waiter"),
        MessageBody=bus_event.model_dump_json(),
        MessageAttributes=attrs,
    )
    await until(lambda: len(waiter.failures) == 1)
    assert waiter.receive_counts["k2"] == [1, 2]  # the queue's max_receive_count
    assert waiter.failures[0].error.message.startswith("gave up after 2 attempts")
    assert consumer.stats.counts["deferred"] == 0


def _event(data: Waits) -> CloudEvent[Any]:
    return new_event(data, source="tests", subject=data.key, tenant_id="ten_t")


def _attrs(event: CloudEvent[Any]) -> dict[str, Any]:
    return dict(message_attributes(event))


# ---- one tenant's flood does not hold back another tenant -------------------------------------


async def test_a_flooding_tenant_waits_on_its_own_limit_while_another_tenants_job_completes(
    api: GatewayClient, platform: Platform, fake_llm: FakeLLMServer
) -> None:
    flooder = await seed_demo(platform, slug=f"flood-{secrets.token_hex(4)}")
    quiet = await seed_demo(platform, slug=f"quiet-{secrets.token_hex(4)}")
    assert await platform.tenants.set_limits(flooder.tenant_id, TenantLimits(model_concurrency=1))
    marker = f"slow-{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"delay_seconds": 5})  # under the stack's 10 s timeout

    flood: list[str] = []
    for n in range(5):
        resp = await api.submit(flooder.slug, {**FIELDS, "goal": f"{marker} {n}"})
        assert resp.status_code == 202, resp.text
        flood.append(resp.json()["job_id"])

    def marked_calls() -> list[dict[str, Any]]:
        return [r for r in fake_llm.stats()["requests"] if marker in r["body"]]

    await until(lambda: len(marked_calls()) >= 1, within=120)  # the flooder holds its one slot
    resp = await api.submit(quiet.slug, FIELDS)
    assert resp.status_code == 202, resp.text
    quiet_job = await api.wait_job(resp.json()["job_id"], within=240)
    assert quiet_job["status"] == "completed", quiet_job["error_message"]

    states = [(await api.job(j))["status"] for j in flood]
    assert "failed" not in states, states
    assert states.count("completed") < len(flood), "the quiet tenant waited for the whole flood"

    done = [await api.wait_job(j, within=400) for j in flood]
    assert [j["status"] for j in done] == ["completed"] * len(flood), [
        (j["status"], j["error_message"]) for j in done
    ]
    # The flooder's model calls ran one at a time: each started after the previous one ended.
    calls = sorted(marked_calls(), key=lambda r: r["at"])
    assert len(calls) == len(flood), json.dumps(calls)[:2000]
    for earlier, later in itertools.pairwise(calls):
        assert later["at"] >= earlier["ended_at"], (earlier, later)
