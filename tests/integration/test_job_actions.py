"""Retry and cancel (``POST /v1/jobs/{id}/retry``, ``/cancel``) through the running system: a
retry re-runs only the failed stage (the model is not called again for a report that was
written), a cancel during a slow model call lets the call finish and runs nothing after it, a
cancelled gate is released, and both actions are the tenant's own and idempotent."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.models import CallbackGate
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


async def submit(api: GatewayClient, demo: Demo, goal: str, **extra: str) -> str:
    fields = {"name": "Ada", "email": "ada@example.com", "goal": goal, **extra}
    resp = await api.submit(demo.slug, fields)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


async def action(api: GatewayClient, demo: Demo, job_id: str, name: str) -> Any:
    return await api.client.post(
        f"{api.base}/v1/jobs/{job_id}/{name}", headers={"authorization": f"Bearer {demo.api_key}"}
    )


def model_calls(fake_llm: FakeLLMServer, marker: str) -> list[dict[str, Any]]:
    return [r for r in fake_llm.stats()["requests"] if marker in r["body"]]


def types(job: dict[str, Any]) -> list[str]:
    return [e["type"] for e in job["timeline"]]


async def until(check: Any, what: str, within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def stage_settled(platform: Platform, job_id: str, stage: str) -> bool:
    """The stage's run record on the job is no longer held: its delivery finished (done, or
    released after the cancel refused its writes). Shared queues never go idle in a full run,
    so the witness is this job's own record."""
    job = await platform.jobs.require(job_id)
    return job.runs.get(stage, {}).get("state") != "running"


async def test_retry_after_a_render_failure_reuses_the_report(
    api: GatewayClient,
    platform: Platform,
    fake_llm: FakeLLMServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    # The template is not published: the report is written, then rendering fails for good.
    demo = await seed_demo(
        platform,
        slug=f"retry-{secrets.token_hex(4)}",
        webhook_url=f"{webhook_receiver.url}/hook",
        publish=False,
    )
    marker = f"retry-{secrets.token_hex(4)}"
    job_id = await submit(api, demo, marker)
    failed = await api.wait_job(job_id, within=90)
    assert failed["status"] == "failed", failed
    assert failed["error_code"] == "template_unavailable"
    assert "report.generated" in types(failed)
    assert len(model_calls(fake_llm, marker)) == 1

    async def failure_sent() -> bool:
        return any(d.json()["type"] == "job.failed" for d in webhook_receiver.for_job(job_id))

    await until(failure_sent, "the failure webhook")
    # The failure is a fault (an unpublished template): publish it, then retry.
    published = await api.client.post(
        f"{api.base}/v1/templates/{demo.template_id}/versions/1/publish",
        headers={"authorization": f"Bearer {demo.api_key}"},
    )
    assert published.status_code == 200, published.text
    resp = await action(api, demo, job_id, "retry")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "processing"
    assert resp.json()["error_code"] is None
    assert "job.retried" in types(resp.json())

    done = await api.wait_job(job_id, within=90)
    assert done["status"] == "completed", done
    assert done["output_url"]
    kinds = sorted(a["kind"] for a in done["artifacts"])
    assert kinds == ["final_html", "report_markdown"]  # the report came back with the job
    assert len(model_calls(fake_llm, marker)) == 1  # no second model call for the report
    report = next(a for a in done["artifacts"] if a["kind"] == "report_markdown")
    fetched = await api.client.get(report["url"])
    assert fetched.status_code == 200
    assert fetched.content

    async def outcomes() -> list[str] | None:
        got = [d.json()["type"] for d in webhook_receiver.for_job(job_id)]
        return got if "job.completed" in got else None

    # Each outcome is delivered once: the failure, then the completion after the retry.
    assert sorted(await until(outcomes, "the completion webhook")) == [
        "job.completed",
        "job.failed",
    ]

    again = await action(api, demo, job_id, "retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_failed"


async def test_cancel_during_a_slow_model_call(
    api: GatewayClient,
    platform: Platform,
    fake_llm: FakeLLMServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    demo = await seed_demo(
        platform, slug=f"cancel-{secrets.token_hex(4)}", webhook_url=f"{webhook_receiver.url}/c"
    )
    marker = f"slow-{secrets.token_hex(4)}"
    fake_llm.add_rule(match=marker, times=1, reply={"delay_seconds": 4})
    job_id = await submit(api, demo, marker)

    async def calling() -> bool:
        return bool(model_calls(fake_llm, marker))

    await until(calling, "the model call to start")
    first = await action(api, demo, job_id, "cancel")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "cancelled"
    second = await action(api, demo, job_id, "cancel")  # idempotent
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "cancelled"

    async def call_finished() -> bool:
        return all(r.get("ended_at") for r in model_calls(fake_llm, marker))

    await until(call_finished, "the in-flight model call to finish")
    await until(lambda: stage_settled(platform, job_id, "report"), "the report stage to settle")

    async def cancelled_hook() -> list[Any] | None:
        got = webhook_receiver.for_job(job_id)
        return got or None

    deliveries = await until(cancelled_hook, "the job.cancelled webhook")
    job = await api.job(job_id)
    assert job["status"] == "cancelled"
    assert "job.cancelled" in types(job)
    for later in ("report.generated", "render.started", "job.completed", "job.failed"):
        assert later not in types(job), job["timeline"]
    assert job["output_url"] is None
    assert job["artifacts"] == []
    assert len(model_calls(fake_llm, marker)) == 1
    assert [d.json()["type"] for d in deliveries] == ["job.cancelled"]
    assert deliveries[0].json()["data"]["status"] == "cancelled"
    # a cancelled job is final: neither retried nor cancelled into something else
    retried = await action(api, demo, job_id, "retry")
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "not_failed"


async def test_cancel_releases_an_open_approval_gate(
    api: GatewayClient, platform: Platform
) -> None:
    demo = await seed_demo(platform, slug=f"gate-{secrets.token_hex(4)}")
    wf = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert wf is not None
    gate = CallbackGate(external_id_field="company", timeout_seconds=3600)
    await platform.workflows.put(wf.model_copy(update={"await_callback": gate}))
    story = f"STORY-{secrets.token_hex(4)}"
    job_id = await submit(api, demo, "gate", company=story)
    waiting = await api.wait_job(job_id, ("awaiting_callback", "completed", "failed"))
    assert waiting["status"] == "awaiting_callback", waiting
    assert await platform.callbacks.get(demo.tenant_id, story) is not None

    resp = await action(api, demo, job_id, "cancel")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled"
    assert await platform.callbacks.get(demo.tenant_id, story) is None

    late = await api.client.post(
        f"{api.base}/v1/callbacks",
        json={"external_id": story, "status": "success"},
        headers={"authorization": f"Bearer {demo.api_key}"},
    )
    assert late.status_code == 404, late.text
    assert late.json()["error"]["code"] == "unknown_external_id"
    assert (await api.job(job_id))["status"] == "cancelled"


async def test_actions_are_the_tenants_own_and_refuse_finished_jobs(
    api: GatewayClient, platform: Platform, demo: Demo
) -> None:
    job_id = await submit(api, demo, f"own-{secrets.token_hex(4)}")
    done = await api.wait_job(job_id, within=90)
    assert done["status"] == "completed"
    other = await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}")
    for name in ("retry", "cancel"):
        resp = await action(api, other, job_id, name)
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["code"] == "job_not_found"
        unknown = await action(api, demo, "job_unknown", name)
        assert unknown.status_code == 404
    retried = await action(api, demo, job_id, "retry")
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "not_failed"
    assert "completed" in retried.json()["error"]["message"]
    cancelled = await action(api, demo, job_id, "cancel")
    assert cancelled.status_code == 409
    assert cancelled.json()["error"]["code"] == "not_cancellable"
    anonymous = await api.client.post(f"{api.base}/v1/jobs/{job_id}/cancel")
    assert anonymous.status_code == 401
    assert (await api.job(job_id))["status"] == "completed"


async def test_retry_after_a_provider_outage_reuses_the_processed_images(
    api: GatewayClient, platform: Platform, fake_llm: FakeLLMServer
) -> None:
    """A funnel run whose images were made fails when the model provider is down for the agent;
    once it is back, a retry runs only the agent: no image is generated again."""
    import copy

    demo = await seed_demo(platform, slug=f"outage-{secrets.token_hex(4)}")
    headers = {"authorization": f"Bearer {demo.api_key}"}
    marker = secrets.token_hex(6)
    funnel = {
        "headline": "Sleep better tonight",
        "opt_logo_url": f"https://img.example/{marker}/el0.png",
        "sections": [{"title": "One", "image_url": f"https://img.example/{marker}/el1.png"}],
    }
    template = await api.client.post(
        f"{api.base}/v1/templates",
        headers=headers,
        json={
            "kind": "funnel",
            "name": "Outage funnel",
            "brandGuideContent": "Calm. Colours #1d3557 and #f1faee.",
            "templateFunnelJson": funnel,
            "publish": True,
        },
    )
    assert template.status_code == 201, template.text
    rewritten = copy.deepcopy(funnel)
    rewritten["headline"] = "Wake up rested"
    image_prompt = f"The image it replaces: https://img.example/{marker}/"
    fake_llm.add_rule(match=image_prompt, reply={})  # first match wins: images keep working
    fake_llm.add_rule(match=f"brief-{marker}", reply={"status": 503, "body_json": {"error": {}}})
    started = await api.client.post(
        f"{api.base}/v1/runs",
        headers=headers,
        json={
            "templateId": template.json()["templateId"],
            "input": {"input_as_text": f"Rewrite brief-{marker}"},
        },
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]

    async def finished() -> dict[str, Any] | None:
        job = (await api.client.get(f"{api.base}/v1/jobs/{run_id}")).json()
        return job if job["status"] in ("completed", "failed") else None

    failed = await until(finished, "the run to fail during the outage", within=180)
    assert failed["status"] == "failed", failed
    images = [
        r
        for r in fake_llm.stats()["requests"]
        if r["path"].endswith("/images/generations") and marker in r["body"]
    ]
    assert len(images) == 2  # both images were made before the agent's outage

    fake_llm.reset()  # the provider is back (the outage rule and the request log are gone)
    fake_llm.add_rule(match=image_prompt, reply={})
    fake_llm.add_rule(match=f"brief-{marker}", reply={"json": {"funnel": rewritten}})
    retried = await action(api, demo, run_id, "retry")
    assert retried.status_code == 200, retried.text
    done = await until(lambda: _completed(api, run_id), "the retried run to complete", within=120)
    assert done["status"] == "completed", done
    after = fake_llm.stats()["requests"]
    assert not [r for r in after if r["path"].endswith("/images/generations")]
    assert len([r for r in after if f"brief-{marker}" in r["body"]]) == 1
    assert types(done).count("job.retried") == 1


async def _completed(api: GatewayClient, job_id: str) -> dict[str, Any] | None:
    job = (await api.client.get(f"{api.base}/v1/jobs/{job_id}")).json()
    return job if job["status"] == "completed" else None
