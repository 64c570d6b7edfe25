"""The services as processes with ``LLM_PROVIDER``/``VISION_PROVIDER``/``IMAGE_PROVIDER=bedrock``:
a whole lead-magnet job and a whole product kit, every model call through the real aiobotocore
``bedrock-runtime`` client to the local Bedrock wire-format server
(``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``), every recorded cost reconciled with the price table.

A stack of its own (own resource prefix, so the session stack's workers never take its
messages)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.common.providers.base import Usage
from leadmagnet.common.providers.bedrock import price_key
from leadmagnet.common.providers.pricing import load_prices
from leadmagnet.common.settings import Settings
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_bedrock import FakeBedrockServer
from leadmagnet.testing.kits import KitClient, product_photo, sample_analysis, short_copy
from leadmagnet.testing.stackenv import bootstrapped, running_stack, stack_env

pytestmark = pytest.mark.integration

TEXT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # the default
VISION_MODEL = "amazon.nova-pro-v1:0"
IMAGE_MODEL = "amazon.nova-canvas-v1:0"

ANALYSIS = sample_analysis()
COPY = short_copy("bedrock")


@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrockServer]:
    with FakeBedrockServer() as server:
        yield server


@pytest.fixture(scope="module")
def bedrock_settings(settings: Settings) -> Settings:
    return bootstrapped(settings.model_copy(update={"resource_prefix": f"b{secrets.token_hex(4)}"}))


@pytest.fixture(scope="module")
def bedrock_stack(
    bedrock_settings: Settings,
    bedrock: FakeBedrockServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceStack]:
    env = stack_env(
        bedrock_settings,
        LLM_PROVIDER="bedrock",
        VISION_PROVIDER="bedrock",
        IMAGE_PROVIDER="bedrock",
        BEDROCK_VISION_MODEL=VISION_MODEL,
        BEDROCK_REGION="us-east-1",
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock.endpoint_url,
        OPENAI_API_KEY="",
        ANTHROPIC_API_KEY="",
        LLM_MAX_RETRIES="0",
        LLM_TIMEOUT_SECONDS="10",
    )
    logs = tmp_path_factory.mktemp("bedrock-stack-logs")
    names = ("gateway", "reporter", "renderer", "imager")  # no webhooks here
    with running_stack(env, logs, names) as services:
        yield services


@pytest.fixture
async def bedrock_api(bedrock_stack: ServiceStack) -> AsyncIterator[GatewayClient]:
    async with httpx2.AsyncClient(timeout=30) as client:
        yield GatewayClient(bedrock_stack.gateway_url, client)


@pytest.fixture
async def bedrock_demo(bedrock_settings: Settings) -> Demo:
    async with Platform.open(bedrock_settings, "tests") as platform:
        return await seed_demo(platform, slug=f"bedrock-{secrets.token_hex(4)}")


def reconcile(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Every call was Bedrock's and cost exactly what the price table says; they add up."""
    prices = load_prices()
    calls = job["cost"]["calls"]
    for call in calls:
        assert call["provider"] == "bedrock", call
        usage = Usage.model_validate(call["usage"])
        expected, version = prices.cost_of(usage, price_key(call["model"]), call["operation"])
        assert (call["cost_micros"], call["price_version"]) == (expected, version), call
        assert version == prices.version, call  # a priced model
        assert call["request_id"], call
    assert job["cost"]["total_micros"] == sum(c["cost_micros"] for c in calls)
    return list(calls)


async def test_lead_magnet_job_and_product_kit_on_bedrock(
    bedrock_api: GatewayClient, bedrock_demo: Demo, bedrock: FakeBedrockServer
) -> None:
    api, demo = bedrock_api, bedrock_demo
    marker = f"goal-{secrets.token_hex(4)}"
    bedrock.add_rule(
        match=marker,
        reply={
            "text": f"# Bedrock plan\n\nFocus on **{marker}**.",
            "usage": {"inputTokens": 900, "outputTokens": 300},
        },
    )
    bedrock.add_rule(match='"name": "ProductAnalysis"', reply={"json": ANALYSIS})
    bedrock.add_rule(match='"name": "ProductCopy"', reply={"json": COPY})

    # 1. A lead-magnet job: report (Converse, the default text model) -> rendered page.
    fields = {"name": "Ada", "email": "ada@example.com", "company": "Acme", "goal": marker}
    resp = await api.submit(demo.slug, fields)
    assert resp.status_code == 202, resp.text
    job = await api.wait_job(resp.json()["job_id"])
    assert job["status"] == "completed", job
    [call] = reconcile(job)
    assert (call["model"], call["operation"], call["stage"]) == (TEXT_MODEL, "text", "report")
    assert call["cost_micros"] == 900 * 3 + 300 * 15  # $3 / $15 per 1M tokens
    async with httpx2.AsyncClient() as client:
        html = (await client.get(job["output_url"])).text
    assert f"<strong>{marker}</strong>" in html
    reports = [r for r in bedrock.requests() if marker in json.dumps(r["payload"])]
    assert len(reports) == 1
    assert reports[0]["operation"] == "converse"
    assert reports[0]["raw_path"] == f"/model/{TEXT_MODEL.replace(':', '%3A')}/converse"
    assert "/us-east-1/bedrock/aws4_request" in reports[0]["authorization"]

    # 2. A product kit: vision analysis, copy, and images as variations of the photo.
    kits = KitClient(api, demo.api_key)
    s3_key = await kits.upload(product_photo(), filename=f"photo-{secrets.token_hex(4)}.png")
    job_id = await kits.start(s3_key, preferences={"platforms": ["instagram"]}, auto_confirm=True)
    kit = await api.wait_job(job_id, within=120)
    assert kit["status"] == "completed", kit["error_message"]
    calls = reconcile(kit)
    by_operation: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        by_operation.setdefault(c["operation"], []).append(c)
    assert [c["model"] for c in by_operation["vision"]] == [VISION_MODEL]
    assert [c["model"] for c in by_operation["text"]] == [TEXT_MODEL]
    images = by_operation["image"]
    assert len(images) == 4  # three package designs and the Instagram ad
    assert {c["model"] for c in images} == {IMAGE_MODEL}
    assert all(c["cost_micros"] == 40_000 for c in images)  # standard, 1024x1024

    requests = bedrock.requests()
    analysed = [r for r in requests if r["model"] == VISION_MODEL]
    assert len(analysed) == 1
    content = analysed[0]["payload"]["messages"][0]["content"]
    assert content[0]["image"]["format"] == "jpeg"
    assert analysed[0]["payload"]["toolConfig"]["toolChoice"] == {
        "tool": {"name": "ProductAnalysis"}
    }
    drawn = [r for r in requests if r["operation"] == "invoke"]
    assert len(drawn) == 4
    for r in drawn:
        assert r["raw_path"] == "/model/amazon.nova-canvas-v1%3A0/invoke"
        assert r["payload"]["taskType"] == "IMAGE_VARIATION"
        assert len(r["payload"]["imageVariationParams"]["images"]) == 1
        assert r["payload"]["imageGenerationConfig"]["width"] == 1024
    kinds = sorted(a["kind"] for a in kit["artifacts"])
    assert kinds.count("package_design") == 3
    assert kinds.count("ad_creative") == 1
