"""The seeds' own clients work unchanged (issue 19), through the real services:

- seed 004's Jira Automation rule posts ``{jiraStoryId, message, status}`` to ``/callback``,
  its status words mapped per workflow (``await_callback.status_map``);
- seed 000's webhook receiver reads ``job_id`` and ``output_url`` from a flat body
  (``webhook_format: seed``) and fetches the output; ``webhook_events`` picks the outcomes;
- seed 001's CloudWatch filters (``{ $.runId = "…" }``) find a run's service log lines, each
  with ``message``;
- result files carry ISO 8601 timestamps.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import time
from datetime import datetime
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.models import CallbackGate
from leadmagnet.common.platform import Platform
from leadmagnet.common.webhooks import verify
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def story_id() -> str:
    return f"LM-{secrets.token_hex(5).upper()}"


async def workflow_with(platform: Platform, demo: Demo, **update: Any) -> Demo:
    """Set workflow fields directly (as an operator could), keeping or minting the secret."""
    wf = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert wf is not None
    secret = wf.webhook_secret or "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    await platform.workflows.put(wf.model_copy(update={**update, "webhook_secret": secret}))
    return Demo(**{**demo.__dict__, "webhook_secret": secret})


async def submit(api: GatewayClient, demo: Demo, company: str = "Acme") -> str:
    fields = {"name": "Ada", "email": "ada@example.com", "company": company, "goal": "seeds"}
    resp = await api.submit(demo.slug, fields)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


async def jira(api: GatewayClient, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await api.client.post(f"{api.base}/callback", json=body, headers=headers)


async def wait_until(check: Any, within: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def read_file(aws: AwsClients, platform: Platform, key: str) -> bytes:
    obj = await aws.s3.get_object(Bucket=platform.resources.bucket("artifacts"), Key=key)
    return bytes(await obj["Body"].read())


# ---- seed 004: Jira Automation -> POST /callback ---------------------------------------------


async def test_jira_callback_maps_its_status_word_and_completes_the_gated_job(
    api: GatewayClient, platform: Platform
) -> None:
    demo = await seed_demo(platform, slug=f"jira-{secrets.token_hex(4)}")
    gate = CallbackGate(
        external_id_field="company",
        timeout_seconds=3600,
        status_map={"Done": "success", "Rejected": "failure"},
    )
    demo = await workflow_with(platform, demo, await_callback=gate)
    story = story_id()
    job_id = await submit(api, demo, story)
    job = await api.wait_job(job_id, ("awaiting_callback", "completed", "failed"))
    assert job["status"] == "awaiting_callback", job.get("error_message")

    # Authentication comes first: no key, no answer about the story.
    anonymous = await jira(api, {"jiraStoryId": story, "message": "ok", "status": "Done"}, {})
    assert anonymous.status_code == 401
    other = await seed_demo(platform, slug=f"jira-other-{secrets.token_hex(4)}")
    foreign = await jira(
        api,
        {"jiraStoryId": story, "message": "ok", "status": "Done"},
        {"x-api-key": other.api_key},
    )
    assert foreign.status_code == 404  # another tenant's story is an unknown one

    # A word the gate does not know: 422 naming the accepted ones, and the gate stays open.
    key = {"x-api-key": demo.api_key}
    unknown = await jira(api, {"jiraStoryId": story, "message": "hm", "status": "In Review"}, key)
    assert unknown.status_code == 422, unknown.text
    error = unknown.json()["error"]
    assert error["code"] == "unknown_status"
    assert "done" in error["message"]
    assert "rejected" in error["message"]
    assert error["details"][0]["loc"] == "body.status"
    assert (await api.job(job_id))["status"] == "awaiting_callback"

    done = await jira(api, {"jiraStoryId": story, "message": "ok", "status": "Done"}, key)
    assert done.status_code == 200, done.text
    assert done.json() == {"job_id": job_id, "status": "completed", "external_id": story}
    job = await api.wait_job(job_id)
    assert job["status"] == "completed"
    assert job["output_url"]

    # Single use, like /v1/callbacks (the same token, the same resume).
    replay = await jira(
        api,
        {"jiraStoryId": story, "message": "ok", "status": "Done"},
        {"authorization": f"Bearer {demo.api_key}"},
    )
    assert replay.status_code == 404
    timeline = (await api.job(job_id))["timeline"]
    assert [e["type"] for e in timeline].count("callback.received") == 1


async def test_jira_failure_word_fails_the_job_with_its_message(
    api: GatewayClient, platform: Platform
) -> None:
    demo = await seed_demo(platform, slug=f"jiraf-{secrets.token_hex(4)}")
    gate = CallbackGate(
        external_id_field="company", timeout_seconds=3600, status_map={"Rejected": "failure"}
    )
    demo = await workflow_with(platform, demo, await_callback=gate)
    story = story_id()
    job_id = await submit(api, demo, story)
    assert (await api.wait_job(job_id, ("awaiting_callback", "failed")))["status"] == (
        "awaiting_callback"
    )
    resp = await jira(
        api,
        {"jiraStoryId": story, "message": "QA said no", "status": "REJECTED"},
        {"x-api-key": demo.api_key},
    )
    assert resp.status_code == 200, resp.text
    job = await api.wait_job(job_id)
    assert job["status"] == "failed"
    assert job["error_message"] == "QA said no"
    assert job["output_url"] is None


async def test_status_map_is_validated_at_creation_and_patch(
    api: GatewayClient, demo: Demo
) -> None:
    headers = {"authorization": f"Bearer {demo.api_key}"}
    base = {
        "name": "Gated",
        "instructions": "Write.",
        "template_id": demo.template_id,
        "await_callback": {"external_id_field": "company", "status_map": {"Done": "maybe"}},
    }
    resp = await api.client.post(f"{api.base}/v1/workflows", json=base, headers=headers)
    assert resp.status_code == 422, resp.text
    locs = [d["loc"] for d in resp.json()["error"]["details"]]
    assert any("status_map" in loc for loc in locs), locs

    base["await_callback"] = {
        "external_id_field": "company",
        "status_map": {"Done": "success", "Rejected": "failure"},
    }
    created = await api.client.post(f"{api.base}/v1/workflows", json=base, headers=headers)
    assert created.status_code == 201, created.text
    wf = created.json()
    assert wf["await_callback"]["status_map"] == {"Done": "success", "Rejected": "failure"}
    assert wf["webhook_format"] == "standard"
    assert wf["webhook_events"] == ["job.completed", "job.failed", "job.cancelled"]
    url = f"{api.base}/v1/workflows/{wf['workflow_id']}"

    too_many = {f"word{i}": "success" for i in range(21)}
    for bad in (
        {"external_id_field": "company", "status_map": too_many},
        {"external_id_field": "company", "status_map": {"done": "success", "DONE": "failure"}},
    ):
        resp = await api.client.patch(url, json={"await_callback": bad}, headers=headers)
        assert resp.status_code == 422, resp.text
        locs = [d["loc"] for d in resp.json()["error"]["details"]]
        assert any("status_map" in loc for loc in locs), locs
    for bad_events in ([], ["job.started"], ["job.failed", "job.failed"]):
        resp = await api.client.patch(url, json={"webhook_events": bad_events}, headers=headers)
        assert resp.status_code == 422, (bad_events, resp.text)
    resp = await api.client.patch(url, json={"webhook_format": "xml"}, headers=headers)
    assert resp.status_code == 422
    # Unchanged by the refused PATCHes.
    current = (await api.client.get(url, headers=headers)).json()
    assert current["await_callback"]["status_map"] == {"Done": "success", "Rejected": "failure"}


# ---- seed 000: the flat webhook ------------------------------------------------------------


async def test_flat_webhook_receiver_reads_job_id_and_fetches_output_url(
    api: GatewayClient, platform: Platform
) -> None:
    with WebhookReceiver(fetch_output=True) as receiver:
        demo = await seed_demo(
            platform, slug=f"flat-{secrets.token_hex(4)}", webhook_url=receiver.url
        )
        resp = await api.client.patch(
            f"{api.base}/v1/workflows/{demo.workflow_id}",
            json={"webhook_format": "seed"},
            headers={"authorization": f"Bearer {demo.api_key}"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["webhook_format"] == "seed"
        job_id = await submit(api, demo)
        job = await api.wait_job(job_id)
        assert job["status"] == "completed"
        [delivery] = await wait_until(lambda: receiver.for_job(job_id), what="the webhook")
        assert demo.webhook_secret
        assert (
            verify(demo.webhook_secret, delivery.headers, delivery.body)
            == (delivery.headers["webhook-id"])
        )
        body = delivery.json()
        assert set(body) == {"job_id", "status", "output_url", "artifacts"}
        assert body["job_id"] == job_id
        assert body["status"] == "completed"
        assert body["output_url"]
        assert sorted(body["artifacts"]) == sorted(a["artifact_id"] for a in job["artifacts"])
        fetched = await wait_until(lambda: receiver.fetched.get(job_id), what="the fetch")
        assert fetched.url == body["output_url"]
        assert fetched.status == 200
        assert b"Report" in fetched.body  # the rendered report


async def test_completed_only_workflow_gets_no_webhook_for_a_failed_job(
    api: GatewayClient, platform: Platform, webhook_receiver: WebhookReceiver
) -> None:
    demo = await seed_demo(
        platform,
        slug=f"conly-{secrets.token_hex(4)}",
        webhook_url=webhook_receiver.url,
        publish=False,  # every job fails: template_unavailable
    )
    demo = await workflow_with(platform, demo, webhook_events=["job.completed"])
    job_id = await submit(api, demo)
    assert (await api.wait_job(job_id))["status"] == "failed"
    # The notifier handled job.failed (it writes the error file first), and sent nothing.
    await wait_until(lambda: _has_files(api, job_id, {"error", "log"}), what="the error file")
    await asyncio.sleep(1)
    assert webhook_receiver.for_job(job_id) == []
    timeline = (await api.job(job_id))["timeline"]
    assert not any(e["type"].startswith("webhook.") for e in timeline)


async def _has_files(api: GatewayClient, job_id: str, names: set[str]) -> bool:
    return set((await api.job(job_id)).get("files") or {}) == names


async def test_flat_webhook_for_a_failed_job_carries_no_links(
    api: GatewayClient, platform: Platform, webhook_receiver: WebhookReceiver
) -> None:
    demo = await seed_demo(
        platform,
        slug=f"flatf-{secrets.token_hex(4)}",
        webhook_url=webhook_receiver.url,
        publish=False,
    )
    demo = await workflow_with(platform, demo, webhook_format="seed")
    job_id = await submit(api, demo)
    assert (await api.wait_job(job_id))["status"] == "failed"
    [delivery] = await wait_until(lambda: webhook_receiver.for_job(job_id), what="the webhook")
    assert demo.webhook_secret
    verify(demo.webhook_secret, delivery.headers, delivery.body)
    body = delivery.json()
    assert body["job_id"] == job_id
    assert body["status"] == "failed"
    assert body["output_url"] is None
    assert body["artifacts"] == []
    assert "published" in body["error_message"]


# ---- seed 001: a run's service log lines -----------------------------------------------------


async def test_funnel_run_log_lines_carry_run_id_template_id_and_message(
    api: GatewayClient, platform: Platform, fake_llm: FakeLLMServer, stack: ServiceStack
) -> None:
    demo = await seed_demo(platform, slug=f"runlog-{secrets.token_hex(4)}")
    headers = {"authorization": f"Bearer {demo.api_key}"}
    marker = secrets.token_hex(6)
    funnel = {"opt_logo_url": f"https://img.example/{marker}/el0.png", "headline": "Sleep"}
    created = await api.client.post(
        f"{api.base}/v1/templates",
        json={
            "kind": "funnel",
            "name": "Log funnel",
            "brandGuideContent": "Calm.",
            "templateFunnelJson": funnel,
            "publish": True,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["templateId"]
    fake_llm.add_rule(
        match=f"brief-{marker}", reply={"json": {"funnel": {**funnel, "headline": "Rest"}}}
    )
    started = await api.client.post(
        f"{api.base}/v1/runs",
        json={"templateId": template_id, "input": {"input_as_text": f"brief-{marker}"}},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]

    async def finished() -> dict[str, Any] | None:
        run = (await api.client.get(f"{api.base}/v1/runs/{run_id}", headers=headers)).json()
        return run if run["status"] in ("completed", "failed") else None

    run = await wait_until(finished, within=60, what="the run")
    assert run["status"] == "completed", run["errorMessage"]
    # One casing per resource: the image results are camelCase like the run.
    [image] = run["imageProcessingResults"]
    assert image["elementId"] == "opt_logo_url"
    assert image["status"] == "ok"
    assert image["newUrl"] == run["output"]["opt_logo_url"]
    assert "element_id" not in image

    def lines(service: str) -> list[dict[str, Any]]:
        out = []
        for line in stack.logs(service).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            # The seed's filter: { $.runId = "<run id>" }
            if isinstance(entry, dict) and entry.get("runId") == run_id:
                out.append(entry)
        return out

    for service in ("imager", "reporter"):
        found = await wait_until(
            lambda s=service: [e for e in lines(s) if e.get("event") == "handler.succeeded"],
            what=f"{service}'s log lines for the run",
        )
        entries = lines(service)
        assert all(e["message"] == e["event"] for e in entries), entries
        assert all(e["templateId"] == template_id for e in found), found
        assert all(isinstance(e["duration"], int) for e in found), found
        assert all(e["job_id"] == run_id for e in entries)


# ---- result files -----------------------------------------------------------------------------


async def test_result_json_timestamps_are_iso_8601_under_the_tenant(
    api: GatewayClient, platform: Platform, aws: AwsClients
) -> None:
    demo = await seed_demo(platform, slug=f"iso-{secrets.token_hex(4)}")
    job_id = await submit(api, demo)
    assert (await api.wait_job(job_id))["status"] == "completed"
    await wait_until(lambda: _has_files(api, job_id, {"result", "log"}), what="the files")
    key = f"{demo.tenant_id}/outputs/{job_id}/result.json"
    result = json.loads(await read_file(aws, platform, key))
    completed_at = result["completed_at"]
    assert " " not in completed_at
    assert completed_at[10] == "T", completed_at
    assert datetime.fromisoformat(completed_at).tzinfo is not None
    job = await api.job(job_id)
    assert demo.tenant_id in job["files"]["result"].split("?")[0]
