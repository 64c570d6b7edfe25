"""Metrics end to end: one lead-magnet job leaves CloudWatch EMF lines in the services' output,
the stream ECS ships to CloudWatch Logs (gateway: started; reporter: the model call and its stage;
renderer: its stage and the completion)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.emf import emf_documents, metric_names

pytestmark = pytest.mark.integration

FIELDS = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "metrics"}
EXPECTED = {  # service -> the metrics it writes for one lead-magnet job
    "gateway": {"JobsStarted"},
    "reporter": {"InputTokens", "OutputTokens", "CostMicros", "StageLatency", "StageFailed"},
    "renderer": {"StageLatency", "StageFailed", "JobsCompleted"},
}


def job_metrics(stack: ServiceStack, job_id: str) -> dict[str, set[str]]:
    """Per service, the names of the metrics its EMF lines about ``job_id`` carry."""
    return {
        service: {
            name
            for doc in emf_documents(stack.logs(service))
            if doc.get("job_id") == job_id
            for name in metric_names(doc)
        }
        for service in EXPECTED
    }


async def test_a_lead_magnet_job_leaves_emf_lines_in_the_services_output(
    api: GatewayClient, demo: Demo, fake_llm: Any, stack: ServiceStack
) -> None:
    resp = await api.submit(demo.slug, FIELDS)
    assert resp.status_code == 202, resp.text
    job_id = str(resp.json()["job_id"])
    job = await api.wait_job(job_id)
    assert job["status"] == "completed", job
    deadline = time.monotonic() + 60  # the lines are flushed as written; the deadline is slack
    found = job_metrics(stack, job_id)
    while any(not EXPECTED[s] <= found[s] for s in EXPECTED) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        found = job_metrics(stack, job_id)
    for service, names in EXPECTED.items():
        assert names <= found[service], (service, found[service], stack.tail(service))
    (completed,) = [
        d
        for d in emf_documents(stack.logs("renderer"))
        if d.get("job_id") == job_id and "JobsCompleted" in metric_names(d)
    ]
    assert (completed["Kind"], completed["TenantId"]) == ("lead_magnet", demo.tenant_id)
