"""One trace per job across the services: the session stack's processes write their spans as
JSON lines (``TRACES_EXPORTER=file``, ``<log dir>/<service>.traces.jsonl``); a lead magnet's
request, stages, model call, AWS calls and webhook all land in one trace."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import pytest

from leadmagnet.cli.demo import seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

FIELDS = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": "more leads"}
STAGES = {"reporter": "stage report", "renderer": "stage render", "notifier": "stage webhook"}


def spans_of(stack: ServiceStack, service: str) -> list[dict[str, Any]]:
    path = stack.traces_path(service)
    if not path.exists():
        return []
    spans = []
    for line in path.read_text().splitlines():
        try:
            spans.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return spans


def job_stage_span(spans: list[dict[str, Any]], name: str, job_id: str) -> dict[str, Any] | None:
    for span in spans:
        if span["name"] == name and span["attributes"].get("leadmagnet.job_id") == job_id:
            return span
    return None


def trace_id(span: dict[str, Any]) -> str:
    return str(span["context"]["trace_id"])


async def test_a_jobs_spans_share_one_trace_across_the_services(
    stack: ServiceStack,
    api: GatewayClient,
    platform: Platform,
    webhook_receiver: WebhookReceiver,
) -> None:
    demo = await seed_demo(
        platform, slug=f"trace-{secrets.token_hex(4)}", webhook_url=webhook_receiver.url
    )
    resp = await api.submit(demo.slug, FIELDS)
    assert resp.status_code == 202, resp.text
    job_id = str(resp.json()["job_id"])
    job = await api.wait_job(job_id)
    assert job["status"] == "completed", job

    # Every stage's span is written when it ends (the notifier's after the webhook answered).
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    while len(found) < len(STAGES) and time.monotonic() < deadline:
        for service, name in STAGES.items():
            span = job_stage_span(spans_of(stack, service), name, job_id)
            if span is not None:
                found[service] = span
        await asyncio.sleep(0.2)
    assert set(found) == set(STAGES), f"stage spans missing: {set(STAGES) - set(found)}"

    (the_trace,) = {trace_id(span) for span in found.values()}
    by_service = {
        service: [s for s in spans_of(stack, service) if trace_id(s) == the_trace]
        for service in ("gateway", *STAGES)
    }
    for service, spans in by_service.items():
        assert spans, f"{service} wrote no span of the job's trace"
        assert {s["resource"]["attributes"]["service.name"] for s in spans} == {service}

    # The gateway's request is the root; the reporter's consumer span hangs under it.
    (request,) = [s for s in by_service["gateway"] if s["kind"] == "SpanKind.SERVER"]
    assert request["name"] == "POST /v1/forms/{slug}/submit"
    assert request["parent_id"] is None
    assert request["attributes"]["http.response.status_code"] == 202
    assert "SNS.Publish" in {s["name"] for s in by_service["gateway"]}
    (consumed,) = [
        s for s in by_service["reporter"] if s["name"] == "process io.leadmagnet.job.requested"
    ]
    assert consumed["parent_id"] == request["context"]["span_id"]
    assert found["reporter"]["parent_id"] == consumed["context"]["span_id"]

    # The model call, with tokens and cost; AWS calls; the webhook (its host, not its path).
    (model_call,) = [s for s in by_service["reporter"] if s["name"].startswith("chat ")]
    attributes = model_call["attributes"]
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["leadmagnet.cost_micros"] >= 0
    assert {"S3.PutObject", "DynamoDB.UpdateItem"} <= {s["name"] for s in by_service["reporter"]}
    (webhook,) = [s for s in by_service["notifier"] if s["name"] == "webhook POST"]
    assert webhook["attributes"]["http.response.status_code"] == 204  # the receiver's answer
    assert webhook["attributes"]["server.address"] == "127.0.0.1"

    # Log lines lead to the trace: the reporter's lines about the job carry its id.
    lines = [json.loads(line) for line in stack.logs("reporter").splitlines() if job_id in line]
    handled = [line for line in lines if line.get("event") == "handler.succeeded"]
    assert handled, "the reporter logged no handler.succeeded for the job"
    assert {line.get("trace_id") for line in handled} == {the_trace.removeprefix("0x")}
