"""Faults in the workers themselves, with real service processes on their own resource prefix:
SIGKILL of the reporter and the renderer at random moments under load (nothing lost, nothing
twice, nothing stuck), and SIGTERM during load (in-flight work finishes, the rest goes back to
the queue at once, the process exits within its grace period)."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.moto_server import free_port
from leadmagnet.testing.stackenv import bootstrapped, stack_env
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

JOBS = 50
LEASE_SECONDS = 6  # a killed worker's message comes back after this (the queue's lease)
GRACE_SECONDS = 8


@pytest.fixture(scope="module")
def chaos_settings(aws_endpoint: str) -> Settings:
    return bootstrapped(Settings(resource_prefix=f"c{secrets.token_hex(4)}", LEADMAGNET_ENV="test"))


@pytest.fixture(scope="module")
def chaos_stack(
    chaos_settings: Settings,
    fake_llm: FakeLLMServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceStack]:
    env = stack_env(
        chaos_settings,
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-test-local-wire-format-server",
        OPENAI_BASE_URL=fake_llm.base_url,
        LLM_MAX_RETRIES="0",
        LLM_TIMEOUT_SECONDS="10",
        CONSUMER_VISIBILITY_TIMEOUT_SECONDS=str(LEASE_SECONDS),
        CONSUMER_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
    )
    stack = ServiceStack(env, tmp_path_factory.mktemp("chaos-logs"), gateway_port=free_port())
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
async def chaos_platform(chaos_settings: Settings) -> AsyncIterator[Platform]:
    async with Platform.open(chaos_settings, "chaos-test") as p:
        yield p


async def wait_all(api: GatewayClient, job_ids: list[str], within: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                job = await api.job(job_id)
                if job["status"] in ("completed", "failed"):
                    done[job_id] = job
        if len(done) < len(job_ids):
            assert time.monotonic() < deadline, f"{len(job_ids) - len(done)} job(s) unfinished"
            await asyncio.sleep(0.5)
    return [done[j] for j in job_ids]


async def quiet_queues(platform: Platform) -> None:
    """Every queue and DLQ drained: no message stuck anywhere."""
    sqs = platform.aws.sqs
    deadline = time.monotonic() + 3 * LEASE_SECONDS
    while True:
        depth = {}
        for queue in ("reporter", "renderer", "notifier"):
            for dlq in (False, True):
                attrs = await sqs.get_queue_attributes(
                    QueueUrl=await platform.resources.queue_url(queue, dlq=dlq),
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )
                a = attrs["Attributes"]
                depth[f"{queue}{'-dlq' if dlq else ''}"] = int(
                    a["ApproximateNumberOfMessages"]
                ) + int(a["ApproximateNumberOfMessagesNotVisible"])
        if not any(depth.values()):
            return
        assert time.monotonic() < deadline, depth
        await asyncio.sleep(1)


async def submit_many(api: GatewayClient, demo: Demo, marker: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        resp = await api.submit(
            demo.slug, {"name": f"Lead {i}", "email": f"l{i}@example.com", "goal": marker}
        )
        assert resp.status_code == 202, resp.text
        ids.append(str(resp.json()["job_id"]))
    return ids


async def test_sigkill_mid_stage_loses_nothing_and_does_nothing_twice(
    chaos_stack: ServiceStack,
    chaos_platform: Platform,
    fake_llm: FakeLLMServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    demo = await seed_demo(
        chaos_platform, slug=f"chaos-{secrets.token_hex(4)}", webhook_url=webhook_receiver.url
    )
    marker = f"chaos-{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"delay_seconds": 0.8})  # kills land mid-call
    rng = random.Random(20261123)  # reproducible kill moments
    kills: list[str] = []

    def llm_call_in_flight() -> bool:
        return any(
            marker in r["body"] and "ended_at" not in r for r in fake_llm.stats()["requests"]
        )

    async def chaos() -> None:
        for n in range(6):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            victim = "reporter" if n % 2 == 0 else rng.choice(["reporter", "renderer"])
            if victim == "reporter":  # make sure it dies in the middle of an LLM call
                deadline = time.monotonic() + 20
                while not llm_call_in_flight() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            chaos_stack.kill(victim)
            kills.append(victim)
            chaos_stack.start(victim)
            await asyncio.to_thread(chaos_stack.wait_ready, [victim])

    async with httpx2.AsyncClient(timeout=30) as client:
        api = GatewayClient(chaos_stack.gateway_url, client)
        killer = asyncio.create_task(chaos())
        job_ids = await submit_many(api, demo, marker, JOBS)
        await killer
        jobs = await wait_all(api, job_ids, within=240)

    assert [j["status"] for j in jobs] == ["completed"] * JOBS, [
        (j["job_id"], j["error_message"]) for j in jobs if j["status"] != "completed"
    ]
    for job in jobs:
        kinds = sorted(a["kind"] for a in job["artifacts"])
        assert kinds == ["final_html", "report_markdown"], (job["job_id"], kinds)
    # The kills really interrupted work: some stages ran again after a worker died.
    redone = [
        j["job_id"]
        for j in jobs
        if sum(e["type"] in ("job.processing", "render.started") for e in j["timeline"]) > 2
    ]
    assert redone, "no kill landed mid-stage; the test proved nothing"
    await quiet_queues(chaos_platform)
    # The notifier was never killed: each job got exactly one webhook.
    deliveries = [len(webhook_receiver.for_job(job_id)) for job_id in job_ids]
    assert deliveries == [1] * JOBS
    assert len(kills) == 6


async def test_sigterm_finishes_in_flight_work_and_releases_the_rest(
    chaos_stack: ServiceStack,
    chaos_platform: Platform,
    fake_llm: FakeLLMServer,
) -> None:
    demo = await seed_demo(chaos_platform, slug=f"term-{secrets.token_hex(4)}")
    marker = f"term-{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply={"delay_seconds": 1.5})
    n = 20
    async with httpx2.AsyncClient(timeout=30) as client:
        api = GatewayClient(chaos_stack.gateway_url, client)
        job_ids = await submit_many(api, demo, marker, n)

        async def reporter_busy() -> bool:
            return any(
                marker in r["body"] and "ended_at" not in r for r in fake_llm.stats()["requests"]
            )

        deadline = time.monotonic() + 30
        while not await reporter_busy():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        started = time.monotonic()
        code = await asyncio.to_thread(chaos_stack.stop, "reporter")
        stopped_in = time.monotonic() - started
        log = chaos_stack.logs("reporter")
        chaos_stack.start("reporter")
        await asyncio.to_thread(chaos_stack.wait_ready, ["reporter"])
        jobs = await wait_all(api, job_ids, within=120)

    assert code == 0
    assert stopped_in < GRACE_SECONDS + 5  # exits within its grace period (plus start-up slack)
    assert "consumer.stop_requested" in log
    assert [j["status"] for j in jobs] == ["completed"] * n
    calls = [r for r in fake_llm.stats()["requests"] if marker in r["body"]]
    # in-flight calls finished and were not redone; released messages were never started
    assert len(calls) == n
    await quiet_queues(chaos_platform)
