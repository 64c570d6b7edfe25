"""Provider faults through the whole system: the local wire-format server answers 429 with
Retry-After, 500, hangs past the SDK timeout, or sends a truncated body. Each is retried by the
queue with backoff and the job completes; a provider that keeps failing ends the job ``failed``
with the provider's reason, and its message in the DLQ after maxReceiveCount."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer

pytestmark = pytest.mark.integration

FAULTS: dict[str, dict[str, Any]] = {
    "rate_limited": {
        "status": 429,
        "headers": {"retry-after": "1"},
        "body_json": {"error": {"message": "Rate limit reached", "type": "requests"}},
    },
    "server_error": {
        "status": 500,
        "body_json": {"error": {"message": "The server had an error", "type": "server_error"}},
    },
    "hang": {"delay_seconds": 12},  # the stack's SDK timeout is 10 s
    "truncated": {"status": 200, "body_text": '{"id": "resp_1", "object": "resp'},
}


async def submit(api: GatewayClient, demo: Demo, goal: str) -> str:
    resp = await api.submit(demo.slug, {"name": "Ada", "email": "ada@example.com", "goal": goal})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


def attempts(job: dict[str, Any]) -> int:
    return sum(1 for e in job["timeline"] if e["type"] == "job.processing")


async def test_each_provider_fault_is_retried_and_the_job_completes(
    api: GatewayClient, demo: Demo, fake_llm: FakeLLMServer
) -> None:
    markers = {name: f"{name}-{secrets.token_hex(4)}" for name in FAULTS}
    for name, reply in FAULTS.items():
        fake_llm.add_rule(match=markers[name], times=1, reply=reply)
    jobs = {name: await submit(api, demo, markers[name]) for name in FAULTS}
    done = await asyncio.gather(*(api.wait_job(j, within=120) for j in jobs.values()))
    for name, job in zip(jobs, done, strict=True):
        assert job["status"] == "completed", (name, job["error_message"])
        assert attempts(job) == 2, (name, job["timeline"])
        assert len([a for a in job["artifacts"] if a["kind"] == "report_markdown"]) == 1


async def test_a_provider_that_keeps_failing_fails_the_job_and_dead_letters(
    api: GatewayClient, demo: Demo, fake_llm: FakeLLMServer, platform: Platform
) -> None:
    marker = f"down-{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, reply=FAULTS["server_error"])
    job_id = await submit(api, demo, marker)
    job = await api.wait_job(job_id, within=120)
    assert job["status"] == "failed"
    assert job["error_message"].startswith("gave up after 5 attempts")
    assert "The server had an error" in job["error_message"]
    assert attempts(job) == 5  # maxReceiveCount of the reporter queue

    async def dead_lettered() -> list[Any]:
        return [
            d
            for d in await platform.dead_letters.peek("reporter")
            if d.summary()["subject"] == job_id
        ]

    deadline = time.monotonic() + 20
    found = await dead_lettered()
    while not found and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        found = await dead_lettered()
    assert len(found) == 1
    assert "The server had an error" in found[0].reason
    assert found[0].receive_count == "5"
