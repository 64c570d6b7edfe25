"""Seed 000 end to end: all five services as processes, real SQS/SNS/DynamoDB/S3 over HTTP, the
official OpenAI SDK against a local wire-format server."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.events.jobs import JobRequested, ReportGenerated
from leadmagnet.common.ids import new_job_id, stable_id
from leadmagnet.common.jobflow import job_artifacts
from leadmagnet.common.models import Job
from leadmagnet.common.platform import Platform
from leadmagnet.common.webhooks import verify
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.subscriber import external_subscriber
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"
FIELDS = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "more leads"}


def llm_requests_matching(fake_llm: Any, marker: str) -> list[dict[str, Any]]:
    return [r for r in fake_llm.stats()["requests"] if marker in json.dumps(r)]


async def submit(api: GatewayClient, demo: Demo, **overrides: str) -> str:
    resp = await api.submit(demo.slug, {**FIELDS, **overrides})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


async def test_submit_to_completed_lead_magnet(
    api: GatewayClient, demo: Demo, fake_llm: Any
) -> None:
    marker = f"goal-{secrets.token_hex(4)}"
    fake_llm.add_rule(
        match=marker,
        reply={
            "text": f"# Growth plan\n\nAda, focus on **{marker}**.\n\n- Action one\n- Action two"
        },
    )
    job_id = await submit(api, demo, goal=marker)
    job = await api.wait_job(job_id)
    assert job["status"] == "completed", job
    assert [t["status"] for t in job["timeline"]][:2] == ["pending", "processing"]
    kinds = {a["kind"]: a for a in job["artifacts"]}
    assert set(kinds) == {"report_markdown", "final_html"}
    assert kinds["final_html"]["content_type"].startswith("text/html")
    assert job["cost"]["calls"][0]["provider"] == "openai"
    assert job["cost"]["calls"][0]["usage"]["output_tokens"] > 0
    async with httpx2.AsyncClient() as client:
        html = (await client.get(job["output_url"])).text
        report = (await client.get(kinds["report_markdown"]["url"])).text
    assert "<h1>Growth plan</h1>" in html
    assert f"<strong>{marker}</strong>" in html
    assert "Your growth plan, Ada" in html  # submission fields reach the template
    assert "Prepared for Acme" in html
    assert "{{" not in html  # every placeholder filled, incl. {{DATE}}
    assert report.startswith("# Growth plan")


async def test_unpublished_template_fails_the_job_with_a_message(
    api: GatewayClient, platform: Platform
) -> None:
    demo = await seed_demo(platform, slug=f"draft-{secrets.token_hex(4)}", publish=False)
    job = await api.wait_job(await submit(api, demo))
    assert job["status"] == "failed"
    assert "has no published version" in job["error_message"]
    assert job["error_code"] == "template_unavailable"


async def test_webhook_is_signed_and_sent_once(
    api: GatewayClient, platform: Platform, webhook_receiver: WebhookReceiver
) -> None:
    demo = await seed_demo(
        platform, slug=f"hook-{secrets.token_hex(4)}", webhook_url=webhook_receiver.url
    )
    job_id = await submit(api, demo)
    job = await api.wait_job(job_id)
    assert job["status"] == "completed"
    for _ in range(50):
        if webhook_receiver.for_job(job_id):
            break
        await asyncio.sleep(0.1)
    [delivery] = webhook_receiver.for_job(job_id)
    assert demo.webhook_secret
    assert (
        verify(demo.webhook_secret, delivery.headers, delivery.body)
        == delivery.headers["webhook-id"]
    )
    body = delivery.json()
    assert body["type"] == "job.completed"
    assert body["data"]["job_id"] == job_id
    assert body["data"]["output_url"]
    # The notifier records the delivery after the receiver answered: wait for the entry.
    for _ in range(200):
        timeline = (await api.job(job_id))["timeline"]
        if "webhook.delivered" in [t["type"] for t in timeline]:
            break
        await asyncio.sleep(0.1)
    assert [t["type"] for t in timeline].count("webhook.delivered") == 1


async def test_failed_job_webhook_carries_the_error(
    api: GatewayClient, platform: Platform, webhook_receiver: WebhookReceiver
) -> None:
    demo = await seed_demo(
        platform,
        slug=f"hookf-{secrets.token_hex(4)}",
        webhook_url=webhook_receiver.url,
        publish=False,
    )
    job_id = await submit(api, demo)
    assert (await api.wait_job(job_id))["status"] == "failed"
    for _ in range(50):
        if webhook_receiver.for_job(job_id):
            break
        await asyncio.sleep(0.1)
    [delivery] = webhook_receiver.for_job(job_id)
    assert delivery.json()["type"] == "job.failed"
    assert "published" in delivery.json()["data"]["error_message"]


async def test_duplicate_deliveries_produce_one_report_one_llm_call_one_webhook(
    api: GatewayClient,
    platform: Platform,
    fake_llm: Any,
    webhook_receiver: WebhookReceiver,
) -> None:
    demo = await seed_demo(
        platform, slug=f"dup-{secrets.token_hex(4)}", webhook_url=webhook_receiver.url
    )
    marker = f"dup-{secrets.token_hex(4)}"
    job_id = await submit(api, demo, goal=marker)
    job = await api.wait_job(job_id)
    assert job["status"] == "completed"
    first_artifacts = sorted(a["artifact_id"] for a in job["artifacts"])
    # Redeliver both stage events three times (at-least-once delivery does this).
    stored = await platform.jobs.require(job_id)
    requested = platform.bus.event(
        JobRequested(
            job_id=job_id,
            tenant_id=stored.tenant_id,
            workflow_id=stored.workflow_id,
            submission_id=stored.submission_id,
        ),
        subject=job_id,
        tenant_id=stored.tenant_id,
    )
    report = next(a for a in job["artifacts"] if a["kind"] == "report_markdown")
    generated = platform.bus.event(
        ReportGenerated(
            job_id=job_id,
            tenant_id=stored.tenant_id,
            workflow_id=stored.workflow_id or "",
            submission_id=stored.submission_id,
            artifact_id=report["artifact_id"],
            s3_key=f"{stored.tenant_id}/jobs/{job_id}/report.md",
        ),
        subject=job_id,
        tenant_id=stored.tenant_id,
        event_id=stable_id("evt", job_id, "report.generated"),
    )
    await platform.bus.publish_many([requested, generated] * 3)
    await asyncio.sleep(4)  # let every duplicate be consumed
    after = await api.job(job_id)
    assert after["status"] == "completed"
    assert sorted(a["artifact_id"] for a in after["artifacts"]) == first_artifacts
    stored_job = await platform.jobs.require(job_id)
    assert len(await job_artifacts(platform, stored_job)) == 2
    assert len(stored_job.artifact_refs) == 2  # each registered once, however redelivered
    assert len(llm_requests_matching(fake_llm, marker)) == 1
    assert len(webhook_receiver.for_job(job_id)) == 1
    assert len(after["cost"]["calls"]) == 1


async def test_transient_provider_failure_is_retried_then_succeeds(
    api: GatewayClient, demo: Demo, fake_llm: Any
) -> None:
    marker = f"flaky-{secrets.token_hex(4)}"
    fake_llm.add_rule(
        match=marker,
        times=1,
        reply={"status": 500, "body_json": {"error": {"message": "boom", "type": "server_error"}}},
    )
    job_id = await submit(api, demo, goal=marker)
    job = await api.wait_job(job_id)
    assert job["status"] == "completed", job["error_message"]
    attempts = [t for t in job["timeline"] if t["type"] == "job.processing"]
    assert len(attempts) == 2  # the queue redelivered after the 500
    assert len(llm_requests_matching(fake_llm, marker)) == 2


async def test_poison_message_ends_in_the_dlq_and_fails_the_job(
    demo: Demo, platform: Platform, aws: AwsClients
) -> None:
    # A pending job whose only stage message is schema-invalid: no crash loop, DLQ, job failed.
    job = Job(job_id=new_job_id(), tenant_id=demo.tenant_id, workflow_id=demo.workflow_id)
    await platform.jobs.create(job)
    poison = {
        "specversion": "1.0",
        "id": secrets.token_hex(8),
        "source": "/tests",
        "type": "io.leadmagnet.job.requested",
        "subject": job.job_id,
        "tenantid": demo.tenant_id,
        "data": {"job_id": job.job_id},  # tenant_id is required
    }
    await aws.sqs.send_message(
        QueueUrl=await platform.resources.queue_url("reporter"),
        MessageBody=json.dumps(poison),
        MessageAttributes={"type": {"DataType": "String", "StringValue": poison["type"]}},
    )
    dlq = await platform.resources.queue_url("reporter", dlq=True)
    found = None
    for _ in range(40):
        resp = await aws.sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        found = next((m for m in resp.get("Messages", []) if job.job_id in m["Body"]), None)
        if found:
            break
    assert found is not None, "poison message not in the DLQ"
    reason = found["MessageAttributes"]["dlq_reason"]["StringValue"]
    assert "invalid job.requested event" in reason
    assert found["MessageAttributes"]["dlq_receive_count"]["StringValue"] == "1"
    failed = await platform.jobs.require(job.job_id)
    assert failed.status.value == "failed"
    assert failed.error_code == "poison_message"
    assert "data.tenant_id" in (failed.error_message or "")


async def test_external_subscriber_receives_job_completed(
    api: GatewayClient, demo: Demo, platform: Platform, aws: AwsClients
) -> None:
    queue = await external_subscriber(
        aws, platform, event_type="io.leadmagnet.job.completed", tenant_id=demo.tenant_id
    )
    job_id = await submit(api, demo)
    assert (await api.wait_job(job_id))["status"] == "completed"
    received = []
    for _ in range(20):
        resp = await aws.sqs.receive_message(
            QueueUrl=queue, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        received += resp.get("Messages", [])
        if received:
            break
    assert len(received) == 1
    event = json.loads(received[0]["Body"])
    assert event["type"] == "io.leadmagnet.job.completed"
    assert event["subject"] == job_id
    assert received[0]["MessageAttributes"]["tenant_id"]["StringValue"] == demo.tenant_id
    jsonschema.validate(event, json.loads((DOCS / "job.completed.v1.json").read_text()))
