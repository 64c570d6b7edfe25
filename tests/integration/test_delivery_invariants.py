"""Seed 004's rule as an invariant of every job kind: results exist only after approval.

A failed job exposes no deliverable — not in ``GET /v1/jobs/{id}`` (output, artifacts, files
other than the failure's own error.json and execution.log, kind data), not in the runs API, not
on the job page, not in the SSE stream, not in the ``job.failed`` webhook — and the objects are
gone from the bucket. A waiting job (approval gate, kit confirmation) exposes none yet. Files
are linked only once written. Real failures drive every case: a failure callback, a gate
timeout, a failing critical call, a kit whose copy branch fails, a run whose agent fails.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.jobflow import job_artifacts
from leadmagnet.common.models import CallbackGate, OutboundCall
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.kits import product_photo, sample_analysis
from leadmagnet.testing.moto_server import free_port
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

PRESIGNED = "X-Amz-Signature"


# ---- what "nothing delivered" means, checked through every surface ----------------------------


def job_prefixes(tenant_id: str, job_id: str) -> list[str]:
    """Where any flow puts a job's deliverables (lead magnets, runs, kits) and its result."""
    return [
        f"{tenant_id}/jobs/{job_id}/",
        f"{tenant_id}/runs/{job_id}/",
        f"generated/{job_id}/",
        f"thumbnails/{job_id}/",
        f"{tenant_id}/outputs/{job_id}/",
        f"outputs/{job_id}/",  # before the tenant prefix
    ]


async def stored_deliverables(
    aws: AwsClients, platform: Platform, tenant_id: str, job_id: str
) -> list[str]:
    bucket = platform.resources.bucket("artifacts")
    keys: list[str] = []
    for prefix in job_prefixes(tenant_id, job_id):
        resp = await aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        keys += [o["Key"] for o in resp.get("Contents", [])]
    job = await platform.jobs.require(job_id)
    keys += [a.s3_key for a in await job_artifacts(platform, job)]
    return sorted(set(keys))


async def sse_text(api: GatewayClient, job_id: str) -> str:
    """The whole stream of a finished job (it ends after the terminal event)."""
    lines = []
    async with api.client.stream("GET", f"{api.base}/v1/jobs/{job_id}/events", timeout=30) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            lines.append(line)
    return "\n".join(lines)


async def assert_view_shows_nothing(
    api: GatewayClient, platform: Platform, job_id: str, *, failed: bool
) -> dict[str, Any]:
    job = await api.job(job_id)
    assert job["output_url"] is None, job["status"]
    assert job["artifacts"] == []
    assert set(job["files"]) <= ({"error", "log"} if failed else set())
    bucket = platform.resources.bucket("artifacts")
    rest = json.dumps({k: v for k, v in job.items() if k != "files"})
    assert PRESIGNED not in rest, rest
    assert bucket not in rest, rest
    page = await api.client.get(f"{api.base}/j/{job_id}")
    assert page.status_code == 200
    assert " src=" not in page.text.split('id="lead-magnet"', 1)[-1].split(">", 1)[0]
    assert PRESIGNED not in page.text
    assert bucket not in page.text
    download = await api.client.get(f"{api.base}/j/{job_id}/download")
    assert download.status_code == 404
    return job


async def assert_failed_job_delivers_nothing(
    api: GatewayClient,
    platform: Platform,
    aws: AwsClients,
    job_id: str,
    *,
    webhooks: WebhookReceiver | None = None,
) -> dict[str, Any]:
    job = await assert_view_shows_nothing(api, platform, job_id, failed=True)
    assert job["status"] == "failed"
    stream = await sse_text(api, job_id)
    assert '"job.failed"' in stream
    assert PRESIGNED not in stream
    assert platform.resources.bucket("artifacts") not in stream
    stored = await platform.jobs.require(job_id)
    deadline = time.monotonic() + 30  # the notifier's pass may still be running
    while keys := await stored_deliverables(aws, platform, stored.tenant_id, job_id):
        assert time.monotonic() < deadline, f"deliverables of a failed job remain: {keys}"
        await asyncio.sleep(0.3)
    if webhooks is not None:
        deadline = time.monotonic() + 30
        while not (sent := [d.json() for d in webhooks.for_job(job_id) if d.path == "/hooks"]):
            assert time.monotonic() < deadline, "no job.failed webhook"
            await asyncio.sleep(0.2)
        for body in sent:
            assert body["type"] == "job.failed"
            assert "output_url" not in body["data"]
            assert "artifacts" not in body["data"]
            assert PRESIGNED not in json.dumps(body)
    # The failure's own files stay linked, once written.
    deadline = time.monotonic() + 30
    while set((job := await api.job(job_id))["files"]) != {"error", "log"}:
        assert time.monotonic() < deadline, job["files"]
        await asyncio.sleep(0.2)
    async with httpx2.AsyncClient(timeout=10) as client:
        error = (await client.get(job["files"]["error"])).json()
    assert error["error_code"] == job["error_code"]
    return job


# ---- lead magnets behind an approval gate ------------------------------------------------------


async def gated_demo(platform: Platform, receiver: WebhookReceiver, gate: CallbackGate) -> Demo:
    demo = await seed_demo(platform, slug=f"inv-{secrets.token_hex(4)}", webhook_url=receiver.url)
    wf = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert wf is not None
    assert wf.webhook_secret
    await platform.workflows.put(wf.model_copy(update={"await_callback": gate}))
    return demo


async def submit(api: GatewayClient, demo: Demo, external_id: str) -> str:
    fields = {"name": "Ada", "email": "ada@example.com", "company": external_id, "goal": "gate"}
    resp = await api.submit(demo.slug, fields)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


async def answer(api: GatewayClient, demo: Demo, external_id: str, status: str) -> None:
    resp = await api.client.post(
        f"{api.base}/v1/callbacks",
        json={"external_id": external_id, "status": status, "message": "rejected by QA"},
        headers={"authorization": f"Bearer {demo.api_key}"},
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("how", ["failure_callback", "timeout", "critical_call"])
async def test_a_job_failing_at_its_gate_delivers_nothing(
    how: str,
    api: GatewayClient,
    platform: Platform,
    aws: AwsClients,
    webhook_receiver: WebhookReceiver,
) -> None:
    calls = (
        [OutboundCall(name="deploy", url=f"http://127.0.0.1:{free_port()}/deploy")]
        if how == "critical_call"
        else []
    )
    gate = CallbackGate(
        external_id_field="company",
        timeout_seconds=5 if how == "timeout" else 3600,
        calls=calls,
    )
    demo = await gated_demo(platform, webhook_receiver, gate)
    story = f"STORY-{secrets.token_hex(4)}"
    job_id = await submit(api, demo, story)
    job = await api.wait_job(job_id, ("awaiting_callback", "failed", "completed"))
    stored = await platform.jobs.require(job_id)
    if how != "critical_call":
        assert job["status"] == "awaiting_callback", job["error_message"]
        # Waiting: rendered, but nothing is delivered yet.
        assert stored.output_key
        await assert_view_shows_nothing(api, platform, job_id, failed=False)
    if how == "failure_callback":
        await answer(api, demo, story, "failure")
    job = await api.wait_job(job_id, within=60)
    expected = {
        "failure_callback": "callback_failure",
        "timeout": "callback_timeout",
        "critical_call": "callback_call_failed",
    }[how]
    assert job["error_code"] == expected
    await assert_failed_job_delivers_nothing(api, platform, aws, job_id, webhooks=webhook_receiver)
    assert stored.output_key
    with pytest.raises(aws.s3.exceptions.NoSuchKey):
        await aws.s3.get_object(
            Bucket=platform.resources.bucket("artifacts"), Key=stored.output_key
        )


async def test_an_approved_job_delivers_and_links_only_written_files(
    api: GatewayClient, platform: Platform, webhook_receiver: WebhookReceiver
) -> None:
    """Finding 15: ``files`` never links a file before it exists — every link seen while the
    job finishes answers 200 — and an approved job shows its output."""
    gate = CallbackGate(external_id_field="company", timeout_seconds=3600)
    demo = await gated_demo(platform, webhook_receiver, gate)
    story = f"STORY-{secrets.token_hex(4)}"
    job_id = await submit(api, demo, story)
    await api.wait_job(job_id, ("awaiting_callback", "failed"))
    await answer(api, demo, story, "success")
    deadline = time.monotonic() + 30
    checked = 0
    async with httpx2.AsyncClient(timeout=10) as client:
        while True:
            job = await api.job(job_id)
            for name, url in job["files"].items():
                resp = await client.get(url)
                assert resp.status_code == 200, f"{name} linked before it was written"
                checked += 1
            if set(job["files"]) == {"result", "log"}:
                break
            assert time.monotonic() < deadline, job["files"]
            await asyncio.sleep(0.05)
        assert job["status"] == "completed"
        assert job["output_url"]
        assert (await client.get(job["output_url"])).status_code == 200
    assert checked >= 2


# ---- product kits ------------------------------------------------------------------------------


async def test_a_kit_waiting_for_confirmation_shows_nothing_and_a_failed_one_delivers_nothing(
    api: GatewayClient,
    demo: Demo,
    platform: Platform,
    aws: AwsClients,
    fake_llm: FakeLLMServer,
) -> None:
    headers = {"authorization": f"Bearer {demo.api_key}"}
    marker = secrets.token_hex(5)
    filename = f"photo-{marker}.png"
    data = product_photo()
    ticket = await api.client.post(
        f"{api.base}/v1/uploads",
        json={"filename": filename, "content_type": "image/png", "size": len(data)},
        headers=headers,
    )
    assert ticket.status_code == 201, ticket.text
    t = ticket.json()
    sent = await api.client.post(
        t["upload"]["url"], data=t["upload"]["fields"], files={"file": (filename, data)}
    )
    assert sent.status_code in (200, 201, 204), sent.text
    # The copy model refuses this kit's copy request (only it carries the analysis' tone).
    fake_llm.add_rule(
        match=f"upbeat-{marker}",
        reply={"status": 400, "body_json": {"error": {"message": "refused", "type": "x"}}},
    )
    fake_llm.add_rule(match=filename, reply={"json": sample_analysis(tone=f"upbeat-{marker}")})
    resp = await api.client.post(
        f"{api.base}/v1/jobs",
        json={"kind": "product_marketing", "s3_key": t["s3_key"]},
        headers=headers,
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    job = await api.wait_job(job_id, ("awaiting_confirmation", "failed", "completed"))
    assert job["status"] == "awaiting_confirmation", job["error_message"]
    # analysis.json: written, not shown
    assert await job_artifacts(platform, await platform.jobs.require(job_id))
    await assert_view_shows_nothing(api, platform, job_id, failed=False)

    confirm = await api.client.post(
        f"{api.base}/v1/jobs/{job_id}/confirm",
        json={"preferences": {"platforms": ["ec"]}},
        headers=headers,
    )
    assert confirm.status_code == 202, confirm.text
    job = await api.wait_job(job_id, within=90)
    assert job["status"] == "failed", job["status"]
    await assert_failed_job_delivers_nothing(api, platform, aws, job_id)


# ---- funnel runs -------------------------------------------------------------------------------


async def test_a_failed_funnel_run_delivers_nothing(
    api: GatewayClient, demo: Demo, platform: Platform, aws: AwsClients, fake_llm: FakeLLMServer
) -> None:
    headers = {"authorization": f"Bearer {demo.api_key}"}
    marker = secrets.token_hex(6)
    funnel: dict[str, Any] = {
        "opt_logo_url": f"https://img.example/{marker}/el0.png",
        "headline": "Sleep better tonight",
        "cta": {"text": "Buy now", "cta_url": "https://shop.example/buy", "discount": 0.15},
    }
    broken = copy.deepcopy(funnel)
    del broken["cta"]["discount"]
    fake_llm.add_rule(match=f"The image it replaces: https://img.example/{marker}/", reply={})
    fake_llm.add_rule(match=f"never-{marker}", reply={"json": {"funnel": broken}})
    resp = await api.client.post(
        f"{api.base}/v1/templates",
        json={
            "kind": "funnel",
            "name": "Sleep",
            "brandGuideContent": "Calm.",
            "templateFunnelJson": funnel,
            "publish": True,
        },
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    resp = await api.client.post(
        f"{api.base}/v1/runs",
        json={
            "templateId": resp.json()["templateId"],
            "input": {"input_as_text": f"never-{marker}"},
        },
        headers=headers,
    )
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["runId"]
    job = await api.wait_job(run_id, within=90)
    assert job["error_code"] == "structure_mismatch"
    run = (await api.client.get(f"{api.base}/v1/runs/{run_id}", headers=headers)).json()
    assert run["output"] is None
    assert run["outputUrl"] is None
    results = run["imageProcessingResults"]
    assert [r["status"] for r in results] == ["ok"]  # the image was made, then withdrawn
    assert all(r["newUrl"] is None for r in results)
    assert PRESIGNED not in json.dumps(run)
    await assert_failed_job_delivers_nothing(api, platform, aws, run_id)
