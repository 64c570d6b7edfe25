"""Approval gates (seed 004): wait for an external callback, parallel side calls, timeouts, and
result/log files in S3 — real services against the embedded AWS endpoint over HTTP."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.models import CallbackGate, OutboundCall
from leadmagnet.common.platform import Platform
from leadmagnet.common.webhooks import signed_headers
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.moto_server import free_port
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


async def gated_demo(platform: Platform, gate: CallbackGate) -> Demo:
    demo = await seed_demo(platform, slug=f"gate-{secrets.token_hex(4)}")
    wf = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert wf is not None
    secret = wf.webhook_secret or "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    await platform.workflows.put(
        wf.model_copy(update={"await_callback": gate, "webhook_secret": secret})
    )
    return Demo(**{**demo.__dict__, "webhook_secret": secret})


async def submit(api: GatewayClient, demo: Demo, external_id: str) -> str:
    fields = {"name": "Ada", "email": "ada@example.com", "company": external_id, "goal": "gate"}
    resp = await api.submit(demo.slug, fields)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


async def callback(
    api: GatewayClient, body: dict[str, Any], *, key: str | None = None, secret: str | None = None
) -> Any:
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    if secret:
        headers.update(signed_headers(secret, f"msg_{secrets.token_hex(6)}", raw))
    return await api.client.post(f"{api.base}/v1/callbacks", content=raw, headers=headers)


async def read_file(aws: AwsClients, platform: Platform, key: str, within: float = 20) -> bytes:
    deadline = time.monotonic() + within
    while True:
        try:
            obj = await aws.s3.get_object(Bucket=platform.resources.bucket("artifacts"), Key=key)
            return bytes(await obj["Body"].read())
        except aws.s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def wait_events(
    api: GatewayClient, job_id: str, prefix: str, count: int, within: float = 20
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        timeline: list[dict[str, Any]] = (await api.job(job_id))["timeline"]
        if sum(e["type"].startswith(prefix) for e in timeline) >= count:
            return timeline
        assert time.monotonic() < deadline, timeline
        await asyncio.sleep(0.2)


def ext_id() -> str:
    return f"STORY-{secrets.token_hex(4)}"


async def test_success_callback_resumes_delivery_after_parallel_calls(
    api: GatewayClient,
    platform: Platform,
    aws: AwsClients,
    webhook_receiver: WebhookReceiver,
) -> None:
    secret_name = f"{platform.settings.resource_prefix}/tok-{secrets.token_hex(4)}"
    await aws.secretsmanager.create_secret(Name=secret_name, SecretString="s3cr3t-token-value")
    gate = CallbackGate(
        external_id_field="company",
        timeout_seconds=3600,
        calls=[
            OutboundCall(
                name="validate", url=f"{webhook_receiver.url}/validate", secret_id=secret_name
            ),
            OutboundCall(name="notify", url=f"http://127.0.0.1:{free_port()}/down", critical=False),
        ],
    )
    demo = await gated_demo(platform, gate)
    story = ext_id()
    job_id = await submit(api, demo, story)
    job = await api.wait_job(job_id, ("awaiting_callback", "completed", "failed"))
    assert job["status"] == "awaiting_callback", job.get("error_message")
    assert job["output_url"] is None  # nothing is delivered before the gate opens
    timeline = await wait_events(api, job_id, "callback.call_", 2)
    assert any(e["message"].startswith("warning: notify") for e in timeline), timeline
    calls = [d for d in webhook_receiver.for_job(job_id) if d.path.endswith("/validate")]
    assert len(calls) == 1
    assert calls[0].headers["authorization"] == "Bearer s3cr3t-token-value"
    assert calls[0].json()["external_id"] == story

    resp = await callback(api, {"external_id": story, "status": "success"}, key=demo.api_key)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "completed"
    job = await api.wait_job(job_id)
    assert job["status"] == "completed"
    assert job["output_url"]

    replay = await callback(api, {"external_id": story, "status": "success"}, key=demo.api_key)
    assert replay.status_code == 404  # the token is gone: nothing changes
    assert (await api.job(job_id))["status"] == "completed"

    result = json.loads(
        await read_file(aws, platform, f"{demo.tenant_id}/outputs/{job_id}/result.json")
    )
    assert result["status"] == "completed"
    assert sorted(a["kind"] for a in result["artifacts"]) == ["final_html", "report_markdown"]
    log = (await read_file(aws, platform, f"{demo.tenant_id}/logs/{job_id}/execution.log")).decode()
    assert "callback.awaiting" in log
    assert "callback.received" in log
    assert "warning: notify" in log
    job = await api.job(job_id)
    assert set(job["files"]) == {"result", "log"}


async def test_forged_then_signed_failure_callback(
    api: GatewayClient, platform: Platform, aws: AwsClients
) -> None:
    demo = await gated_demo(
        platform, CallbackGate(external_id_field="company", timeout_seconds=3600)
    )
    story = ext_id()
    job_id = await submit(api, demo, story)
    assert (await api.wait_job(job_id, ("awaiting_callback", "failed")))["status"] == (
        "awaiting_callback"
    )
    body = {"external_id": story, "status": "failure", "message": "QA rejected the copy"}
    forged = await callback(api, body, secret="whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_signature"
    other_tenant = await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}")
    wrong_key = await callback(api, body, key=other_tenant.api_key)
    assert wrong_key.status_code == 404
    assert (await api.job(job_id))["status"] == "awaiting_callback"

    assert demo.webhook_secret
    resp = await callback(api, body, secret=demo.webhook_secret)
    assert resp.status_code == 200, resp.text
    job = await api.wait_job(job_id)
    assert job["status"] == "failed"
    assert job["error_message"] == "QA rejected the copy"
    error = json.loads(await read_file(aws, platform, f"{demo.tenant_id}/logs/{job_id}/error.json"))
    assert error["error_code"] == "callback_failure"
    assert error["error_message"] == "QA rejected the copy"
    assert (
        "callback.received"
        in (
            await read_file(aws, platform, f"{demo.tenant_id}/logs/{job_id}/execution.log")
        ).decode()
    )


async def test_racing_callbacks_resume_exactly_once(api: GatewayClient, platform: Platform) -> None:
    demo = await gated_demo(
        platform, CallbackGate(external_id_field="company", timeout_seconds=3600)
    )
    story = ext_id()
    job_id = await submit(api, demo, story)
    await api.wait_job(job_id, ("awaiting_callback", "failed"))
    answers = await asyncio.gather(
        *(
            callback(api, {"external_id": story, "status": s}, key=demo.api_key)
            for s in ["success", "failure"] * 5
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 404, 409}, codes
    job = await api.wait_job(job_id)
    winner = next(a for a in answers if a.status_code == 200).json()
    assert job["status"] == winner["status"]
    events = [e["type"] for e in job["timeline"]]
    assert events.count("callback.received") == 1


async def test_critical_call_failure_fails_the_job(api: GatewayClient, platform: Platform) -> None:
    gate = CallbackGate(
        external_id_field="company",
        timeout_seconds=3600,
        calls=[OutboundCall(name="deploy", url=f"http://127.0.0.1:{free_port()}/deploy")],
    )
    demo = await gated_demo(platform, gate)
    story = ext_id()
    job = await api.wait_job(await submit(api, demo, story), ("failed", "completed"))
    assert job["status"] == "failed"
    assert job["error_code"] == "callback_call_failed"
    assert "deploy" in job["error_message"]
    resp = await callback(api, {"external_id": story, "status": "success"}, key=demo.api_key)
    assert resp.status_code == 404


async def test_gate_times_out(api: GatewayClient, platform: Platform) -> None:
    demo = await gated_demo(platform, CallbackGate(external_id_field="company", timeout_seconds=5))
    job_id = await submit(api, demo, ext_id())
    job = await api.wait_job(job_id, ("failed", "completed"), within=40)
    assert job["status"] == "failed"
    assert job["error_code"] == "callback_timeout"
    assert job["error_message"].startswith("callback timed out")


async def test_unknown_external_id_is_404(api: GatewayClient, demo: Demo) -> None:
    resp = await callback(api, {"external_id": "NOPE-1", "status": "success"}, key=demo.api_key)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "unknown_external_id"


async def test_admin_api_declares_gates_and_refuses_unsafe_call_targets(
    api: GatewayClient, demo: Demo
) -> None:
    auth = {"authorization": f"Bearer {demo.api_key}"}
    gate = {"external_id_field": "company", "timeout_seconds": 259200}
    bad = {
        **gate,
        "calls": [{"name": "meta", "url": "http://169.254.169.254/latest/meta-data"}],
    }
    base = {"name": "gated", "instructions": "Write it.", "template_id": demo.template_id}
    resp = await api.client.post(
        f"{api.base}/v1/workflows", json={**base, "await_callback": bad}, headers=auth
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["details"][0]["loc"] == "body.await_callback.calls[0].url"
    resp = await api.client.post(
        f"{api.base}/v1/workflows", json={**base, "await_callback": gate}, headers=auth
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["await_callback"]["timeout_seconds"] == 259200
    assert created["webhook_secret"].startswith("whsec_")  # signs callbacks too


async def test_external_ids_are_per_tenant(api: GatewayClient, platform: Platform) -> None:
    """Finding 7: tenant B waiting for ``X`` neither blocks tenant A's gate for ``X`` nor
    receives A's answer; each tenant's callback (key or signature) reaches its own job."""
    gate = CallbackGate(external_id_field="company", timeout_seconds=3600)
    a, b = await gated_demo(platform, gate), await gated_demo(platform, gate)
    story = ext_id()
    job_b = await submit(api, b, story)
    assert (await api.wait_job(job_b, ("awaiting_callback", "failed")))["status"] == (
        "awaiting_callback"
    )
    job_a = await submit(api, a, story)
    waiting_a = await api.wait_job(job_a, ("awaiting_callback", "failed"))
    assert waiting_a["status"] == "awaiting_callback", waiting_a["error_message"]

    resp = await callback(api, {"external_id": story, "status": "success"}, key=a.api_key)
    assert resp.status_code == 200, resp.text
    assert resp.json()["job_id"] == job_a
    assert (await api.wait_job(job_a))["status"] == "completed"
    assert (await api.job(job_b))["status"] == "awaiting_callback"  # untouched

    assert b.webhook_secret
    body = {"external_id": story, "status": "failure", "message": "B said no"}
    resp = await callback(api, body, secret=b.webhook_secret)
    assert resp.status_code == 200, resp.text
    assert resp.json()["job_id"] == job_b
    assert (await api.wait_job(job_b))["error_message"] == "B said no"
    assert (await api.job(job_a))["status"] == "completed"


async def test_a_second_job_with_the_same_external_id_in_one_tenant_fails_clearly(
    api: GatewayClient, platform: Platform
) -> None:
    """Within a tenant one job at a time waits for an id: the second fails with
    ``external_id_in_use`` (the first keeps its gate); once answered, the id is free again."""
    demo = await gated_demo(
        platform, CallbackGate(external_id_field="company", timeout_seconds=3600)
    )
    story = ext_id()
    first = await submit(api, demo, story)
    assert (await api.wait_job(first, ("awaiting_callback", "failed")))["status"] == (
        "awaiting_callback"
    )
    second = await api.wait_job(await submit(api, demo, story))
    assert second["status"] == "failed"
    assert second["error_code"] == "external_id_in_use"
    assert "already awaited by another job" in second["error_message"]
    assert first not in second["error_message"]  # the other job's capability stays private
    assert (await api.job(first))["status"] == "awaiting_callback"

    resp = await callback(api, {"external_id": story, "status": "success"}, key=demo.api_key)
    assert resp.json()["job_id"] == first
    third = await submit(api, demo, story)
    assert (await api.wait_job(third, ("awaiting_callback", "failed")))["status"] == (
        "awaiting_callback"
    )


async def test_callbacks_authenticate_before_telling_anything(
    api: GatewayClient, platform: Platform
) -> None:
    """Finding 8: a pending id and an unknown one get the same answers — 401 without valid
    credentials (none, a bad key, a forged signature), 404 with another tenant's key."""
    demo = await gated_demo(
        platform, CallbackGate(external_id_field="company", timeout_seconds=3600)
    )
    pending = ext_id()
    job_id = await submit(api, demo, pending)
    await api.wait_job(job_id, ("awaiting_callback", "failed"))
    other = await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}")
    forged = "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0"

    async def answers(external_id: str) -> list[tuple[int, Any]]:
        body = {"external_id": external_id, "status": "success"}
        out = []
        for kwargs in ({}, {"key": "lm_not-a-real-key"}, {"secret": forged}):
            resp = await callback(api, body, **kwargs)
            out.append((resp.status_code, resp.json()))
        resp = await callback(api, body, key=other.api_key)
        out.append((resp.status_code, resp.json()))
        return out

    known, unknown = await answers(pending), await answers(ext_id())
    assert known == unknown
    assert [code for code, _ in known] == [401, 401, 401, 404]
    assert (await api.job(job_id))["status"] == "awaiting_callback"
