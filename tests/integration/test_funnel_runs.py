"""Funnel rewrite runs (seed 001) through the real services: templates, parallel image
processing (never more than 3 at once per run), the agent's same-structure rewrite, the cost
breakdown, run history and logs — against the embedded AWS endpoint over HTTP, with the OpenAI
SDK talking to the local wire-format server."""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
import time
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import seed_demo
from leadmagnet.common.events.runs import ImageElementResult, RunImagesProcessed, RunRequested
from leadmagnet.common.ids import stable_id
from leadmagnet.common.platform import Platform
from leadmagnet.common.providers.base import Usage
from leadmagnet.common.providers.pricing import load_prices
from leadmagnet.flows.funnels import FunnelSettings, find_image_elements, structure_mismatch
from leadmagnet.testing.casing import mixed_casings
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer

pytestmark = pytest.mark.integration


def funnel_json(marker: str, images: int) -> dict[str, Any]:
    """A funnel with ``images`` image elements (in nested places) and links that are not."""
    funnel: dict[str, Any] = {
        "opt_logo_url": f"https://img.example/{marker}/el0.png" if images else "",
        "headline": "Sleep better tonight",
        "cta": {"text": "Buy now", "cta_url": "https://shop.example/buy", "discount": 0.15},
        "sections": [],
        "flags": {"show_timer": True},
    }
    for i in range(images):
        url = f"https://img.example/{marker}/el{i}.png"
        if i:
            funnel["sections"].append({"title": f"Section {i}", "image_url": url})
    return funnel


def rewritten(funnel: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(funnel)
    out["headline"] = "Wake up rested"
    out["cta"]["text"] = "Start now"
    out["opt_logo_url"] = "https://evil.example/not-ours.png"  # the model's URL never survives
    for s in out["sections"]:
        s["title"] = s["title"].upper()
    return out


def image_rule(marker: str) -> str:
    return f"The image it replaces: https://img.example/{marker}/"


class Runs:
    def __init__(self, api: GatewayClient, key: str) -> None:
        self.api = api
        self.headers = {"authorization": f"Bearer {key}"}

    async def post(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return await self.api.client.post(f"{self.api.base}{path}", json=body, headers=self.headers)

    async def get(self, path: str) -> httpx2.Response:
        return await self.api.client.get(f"{self.api.base}{path}", headers=self.headers)

    async def template(self, funnel: dict[str, Any], metadata: dict[str, Any] | None = None) -> str:
        resp = await self.post(
            "/v1/templates",
            {
                "kind": "funnel",
                "name": "Sleep funnel",
                "brandGuideContent": "Calm, warm. Colours #1d3557 and #f1faee. Short sentences.",
                "templateFunnelJson": funnel,
                "metadata": metadata or {},
                "publish": True,
            },
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["templateId"])

    async def start(self, template_id: str, text: str, **extra: Any) -> str:
        resp = await self.post(
            "/v1/runs", {"templateId": template_id, "input": {"input_as_text": text}, **extra}
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["runId"])

    async def wait(self, run_id: str, within: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            resp = await self.get(f"/v1/runs/{run_id}")
            assert resp.status_code == 200, resp.text
            run = resp.json()
            if run["status"] in ("completed", "failed"):
                return dict(run)
            assert time.monotonic() < deadline, f"run stuck in {run['status']}/{run['stage']}"
            await asyncio.sleep(0.2)


@pytest.fixture
async def runs(api: GatewayClient, platform: Platform) -> Runs:
    demo = await seed_demo(platform, slug=f"runs-{secrets.token_hex(4)}")
    return Runs(api, demo.api_key)


def max_overlap(requests: list[dict[str, Any]]) -> int:
    edges = sorted([(r["at"], 1) for r in requests] + [(r["ended_at"], -1) for r in requests])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def image_requests(fake_llm: FakeLLMServer, marker: str) -> list[dict[str, Any]]:
    return [
        r
        for r in fake_llm.stats()["requests"]
        if r["path"].endswith("/images/generations") and marker in r["body"]
    ]


def micros(usage: Usage, model: str, operation: str) -> int:
    return load_prices().cost_of(usage, model, operation)[0]  # type: ignore[arg-type]


async def test_run_rewrites_the_funnel_with_at_most_three_images_at_once(
    runs: Runs, fake_llm: FakeLLMServer, platform: Platform
) -> None:
    marker = secrets.token_hex(6)
    funnel = funnel_json(marker, images=7)
    template_id = await runs.template(funnel)
    fake_llm.add_rule(match=image_rule(marker), reply={"delay_seconds": 0.4})
    fake_llm.add_rule(
        match=f"brief-{marker}",
        reply={
            "json": {"funnel": rewritten(funnel)},
            "usage": {"input_tokens": 1000, "output_tokens": 500, "reasoning_tokens": 200},
        },
    )
    run_id = await runs.start(template_id, f"Rewrite for Dreamy Co brief-{marker}")
    run = await runs.wait(run_id)
    assert run["status"] == "completed", run["errorMessage"]

    # Seven images, never a fourth at once, and the window really was used.
    calls = image_requests(fake_llm, marker)
    assert len(calls) == 7
    assert max_overlap(calls) == 3

    # Output: the template's structure, the agent's words, our image URLs.
    output = run["output"]
    images = frozenset(e.path for e in find_image_elements(funnel, FunnelSettings()))
    assert structure_mismatch(funnel, output, exempt=images) is None
    assert output["headline"] == "Wake up rested"
    assert output["cta"]["cta_url"] == "https://shop.example/buy"  # a link, not an image
    results = {r["elementId"]: r for r in run["imageProcessingResults"]}
    assert list(results) == ["opt_logo_url"] + [f"sections[{i}].image_url" for i in range(6)]
    assert all(r["status"] == "ok" for r in results.values())
    assert output["opt_logo_url"] == results["opt_logo_url"]["newUrl"]
    assert output["sections"][2]["image_url"] == results["sections[2].image_url"]["newUrl"]
    async with httpx2.AsyncClient() as client:
        image = await client.get(output["sections"][5]["image_url"])
    assert image.status_code == 200
    assert image.content.startswith(b"\x89PNG")

    # Cost: from real usage and the price file; the sums reconcile exactly.
    settings = platform.settings
    agent = micros(
        Usage(input_tokens=1000, output_tokens=500, reasoning_tokens=200),
        settings.openai_model,
        "text",
    )
    image_each = micros(
        Usage(images=1, image_quality="standard"), settings.openai_image_model, "image"
    )
    assert agent > 0
    assert image_each > 0
    assert run["cost"] == {
        "total": (agent + 7 * image_each) / 1e6,
        "agent": agent / 1e6,
        "image": 7 * image_each / 1e6,
        "details": {
            "agent": {
                "calls": 1,
                "tokens": {"input": 1000, "output": 500, "reasoning": 200},
                "cost": agent / 1e6,
            },
            "images": {"calls": 7, "imagesGenerated": 7, "cost": 7 * image_each / 1e6},
        },
    }
    assert run["costMicros"] == agent + 7 * image_each
    assert run["duration"] > 0
    assert run["input"] == {"input_as_text": f"Rewrite for Dreamy Co brief-{marker}"}

    # Logs: stored per run, in order, with levels, metrics, the cost entry and request ids.
    logs = (await runs.get(f"/v1/runs/{run_id}/logs")).json()["logs"]
    assert [e["seq"] for e in logs] == sorted(e["seq"] for e in logs)
    metrics = [e for e in logs if e["logType"] == "metric" and e["stage"] == "images"]
    assert len(metrics) == 7
    assert all(e["data"]["durationMs"] >= 400 for e in metrics)
    cost_entries = [e for e in logs if e["logType"] == "cost"]
    assert [e["data"] for e in cost_entries] == [run["cost"]]
    assert logs[0]["requestId"]
    assert logs[-1]["requestId"]
    assert {e["level"] for e in logs} <= {"DEBUG", "INFO", "WARN", "ERROR"}
    assert logs[-1]["type"] == "job.completed"

    # History: the run is listed under its template.
    history = (await runs.get(f"/v1/templates/{template_id}/runs")).json()
    assert [r["runId"] for r in history["runs"]] == [run_id]
    assert history["runs"][0]["cost"] == run["cost"]

    # One casing per resource (issue 19): the finished run, its logs, its history, its template.
    template = (await runs.get(f"/v1/templates/{template_id}")).json()
    for answer in (run, {"logs": logs}, history, template):
        assert mixed_casings(answer) == [], answer


async def test_out_of_order_and_duplicate_deliveries_complete_once(
    runs: Runs, fake_llm: FakeLLMServer, platform: Platform
) -> None:
    marker = secrets.token_hex(6)
    funnel = funnel_json(marker, images=3)
    template_id = await runs.template(funnel)
    # The first element finishes last.
    fake_llm.add_rule(match=f"{image_rule(marker)}el0.png", reply={"delay_seconds": 1.2})
    fake_llm.add_rule(match=f"brief-{marker}", reply={"json": {"funnel": rewritten(funnel)}})
    run_id = await runs.start(template_id, f"brief-{marker}")
    # A duplicate of the request arrives while the first delivery works.
    job = await platform.jobs.require(run_id)
    await platform.bus.publish(
        platform.bus.event(
            RunRequested(
                job_id=run_id,
                tenant_id=job.tenant_id,
                template_id=template_id,
                template_version=1,
            ),
            subject=run_id,
            tenant_id=job.tenant_id,
        )
    )
    run = await runs.wait(run_id)
    assert run["status"] == "completed", run["errorMessage"]
    results = run["imageProcessingResults"]
    assert [r["elementId"] for r in results] == [
        "opt_logo_url",
        "sections[0].image_url",
        "sections[1].image_url",
    ]
    # Each element's URL is its own image, whatever the completion order.
    assert len({r["newUrl"] for r in results}) == 3
    for r in results:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "_", r["elementId"])
        assert slug in r["newUrl"].split("?")[0], r
    await asyncio.sleep(3)  # let the duplicate be processed (and ignored)
    assert len(image_requests(fake_llm, marker)) == 3
    agent_calls = [r for r in fake_llm.stats()["requests"] if f"brief-{marker}" in r["body"]]
    assert len([r for r in agent_calls if r["path"].endswith("/responses")]) == 1

    # A replayed aggregate after completion changes nothing.
    await platform.bus.publish(
        platform.bus.event(
            RunImagesProcessed(
                job_id=run_id,
                tenant_id=job.tenant_id,
                template_id=template_id,
                template_version=1,
                results=[
                    ImageElementResult.model_validate(r)
                    for r in (await platform.jobs.require(run_id)).data["image_results"]
                ],
            ),
            subject=run_id,
            tenant_id=job.tenant_id,
            event_id=stable_id("evt", run_id, "run.images_processed"),
        )
    )
    await asyncio.sleep(3)
    again = await runs.wait(run_id)
    assert again["completedAt"] == run["completedAt"]
    assert again["cost"] == run["cost"]
    logs = (await runs.get(f"/v1/runs/{run_id}/logs")).json()["logs"]
    assert sum(e["type"] == "job.completed" for e in logs) == 1


async def test_a_changed_structure_is_retried_then_fails_the_run(
    runs: Runs, fake_llm: FakeLLMServer
) -> None:
    marker = secrets.token_hex(6)
    funnel = funnel_json(marker, images=1)
    template_id = await runs.template(funnel)
    broken = rewritten(funnel)
    del broken["cta"]["discount"]
    # Image requests carry the brief too: they take their own rule first.
    fake_llm.add_rule(match=image_rule(marker), reply={})
    fake_llm.add_rule(match=f"fix-{marker}", times=1, reply={"json": {"funnel": broken}})
    fake_llm.add_rule(match=f"fix-{marker}", reply={"json": {"funnel": rewritten(funnel)}})
    fake_llm.add_rule(match=f"never-{marker}", reply={"json": {"funnel": broken}})

    fixed = await runs.wait(await runs.start(template_id, f"fix-{marker}"))
    assert fixed["status"] == "completed", fixed["errorMessage"]
    assert fixed["cost"]["details"]["agent"]["calls"] == 2

    failed = await runs.wait(await runs.start(template_id, f"never-{marker}"))
    assert failed["status"] == "failed"
    assert failed["errorCode"] == "structure_mismatch"
    assert "cta: missing key(s) 'discount'" in failed["errorMessage"]
    assert failed["output"] is None
    # Partial costs stay recorded: the image and all three agent calls.
    assert failed["cost"]["details"]["agent"]["calls"] == 3
    assert failed["cost"]["details"]["images"]["imagesGenerated"] == 1
    assert failed["cost"]["total"] > 0
    logs = (await runs.get(f"/v1/runs/{failed['runId']}/logs")).json()["logs"]
    warnings = [e for e in logs if e["level"] == "WARN" and e["stage"] == "agent"]
    assert len(warnings) == 3
    assert logs[-1]["level"] == "ERROR"
    assert logs[-1]["type"] == "job.failed"


async def test_a_renamed_identifier_is_fed_back_then_fails_the_run(
    runs: Runs, fake_llm: FakeLLMServer
) -> None:
    """Finding 12: ids, slugs, types and links are structure: a model that renames one gets the
    difference as feedback; one that keeps renaming fails the run saying where."""
    marker = secrets.token_hex(6)
    funnel = funnel_json(marker, images=1)
    funnel["pages"] = [
        {"id": "landing", "slug": "start", "blocks": [{"type": "hero", "block_id": "b-1"}]}
    ]
    template_id = await runs.template(funnel)
    renamed = rewritten(funnel)
    renamed["pages"][0]["id"] = "landing-dreamy"
    renamed["pages"][0]["blocks"][0]["type"] = "Hero section"
    fake_llm.add_rule(match=image_rule(marker), reply={})
    fake_llm.add_rule(match=f"once-{marker}", times=1, reply={"json": {"funnel": renamed}})
    fake_llm.add_rule(match=f"once-{marker}", reply={"json": {"funnel": rewritten(funnel)}})
    fake_llm.add_rule(match=f"always-{marker}", reply={"json": {"funnel": renamed}})

    fixed = await runs.wait(await runs.start(template_id, f"once-{marker}"))
    assert fixed["status"] == "completed", fixed["errorMessage"]
    assert fixed["cost"]["details"]["agent"]["calls"] == 2
    assert fixed["output"]["pages"] == funnel["pages"]
    assert fixed["output"]["cta"]["cta_url"] == "https://shop.example/buy"
    calls = [
        r["body"]
        for r in fake_llm.stats()["requests"]
        if f"once-{marker}" in r["body"] and r["path"].endswith("/responses")
    ]
    assert len(calls) == 2
    assert "pages[0].id: identifier changed" in calls[1]  # the feedback says where

    failed = await runs.wait(await runs.start(template_id, f"always-{marker}"))
    assert failed["status"] == "failed"
    assert failed["errorCode"] == "structure_mismatch"
    assert (
        "pages[0].id: identifier changed from 'landing' to 'landing-dreamy'"
        in failed["errorMessage"]
    )
    assert failed["output"] is None
    assert failed["cost"]["details"]["agent"]["calls"] == 3


async def test_failed_image_follows_the_run_policy(runs: Runs, fake_llm: FakeLLMServer) -> None:
    marker = secrets.token_hex(6)
    funnel = funnel_json(marker, images=3)
    template_id = await runs.template(funnel)
    refusal = {
        "status": 400,
        "body_json": {
            "error": {
                "message": "Your request was rejected by the safety system.",
                "type": "invalid_request_error",
                "code": "content_policy_violation",
            }
        },
    }
    fake_llm.add_rule(match=f"{image_rule(marker)}el1.png", reply=refusal)
    fake_llm.add_rule(match=f"brief-{marker}", reply={"json": {"funnel": rewritten(funnel)}})

    failed = await runs.wait(await runs.start(template_id, f"brief-{marker} one"))
    assert failed["status"] == "failed"
    assert failed["errorCode"] == "image_failed"
    assert "sections[0].image_url" in failed["errorMessage"]
    assert "safety system" in failed["errorMessage"]
    statuses = {r["elementId"]: r["status"] for r in failed["imageProcessingResults"]}
    assert statuses == {
        "opt_logo_url": "ok",
        "sections[0].image_url": "failed",
        "sections[1].image_url": "ok",
    }
    assert failed["cost"]["details"]["images"] == {
        "calls": 3,
        "imagesGenerated": 2,
        "cost": failed["cost"]["image"],
    }

    kept = await runs.wait(
        await runs.start(
            template_id, f"brief-{marker} two", options={"onImageFailure": "keep_original"}
        )
    )
    assert kept["status"] == "completed", kept["errorMessage"]
    result = {r["elementId"]: r for r in kept["imageProcessingResults"]}
    assert result["sections[0].image_url"]["status"] == "kept_original"
    assert kept["output"]["sections"][0]["image_url"] == f"https://img.example/{marker}/el1.png"
    assert kept["output"]["opt_logo_url"] == result["opt_logo_url"]["newUrl"]


async def test_history_is_newest_first_limited_and_tenant_scoped(
    runs: Runs, api: GatewayClient, platform: Platform, fake_llm: FakeLLMServer
) -> None:
    funnel = {"headline": "No images here", "items": ["a", "b"]}
    template_id = await runs.template(funnel)
    answer = {"headline": "Still no images", "items": ["c", "d"]}
    fake_llm.add_rule(match=f"history-{template_id}", reply={"json": {"funnel": answer}})
    ids = []
    for i in range(3):
        ids.append(await runs.start(template_id, f"history-{template_id} {i}"))
        await asyncio.sleep(0.05)  # distinct creation instants
    for run_id in ids:
        run = await runs.wait(run_id)
        assert run["status"] == "completed", run["errorMessage"]
        assert run["output"] == answer
        assert run["imageProcessingResults"] == []
        assert run["cost"]["details"]["images"]["calls"] == 0
    history = (await runs.get(f"/v1/templates/{template_id}/runs?limit=2")).json()
    assert [r["runId"] for r in history["runs"]] == [ids[2], ids[1]]
    everything = (await runs.get(f"/v1/templates/{template_id}/runs")).json()
    assert [r["runId"] for r in everything["runs"]] == ids[::-1]

    bad = await runs.get(f"/v1/templates/{template_id}/runs?limit=0")
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["loc"] == "query.limit"

    other = await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}")
    stranger = Runs(api, other.api_key)
    for path in (
        f"/v1/runs/{ids[0]}",
        f"/v1/runs/{ids[0]}/logs",
        f"/v1/templates/{template_id}/runs",
    ):
        resp = await stranger.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] in ("run_not_found", "template_not_found")
    resp = await stranger.post(
        "/v1/runs", {"templateId": template_id, "input": {"input_as_text": "steal"}}
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["details"][0]["loc"] == "body.templateId"


async def test_templates_and_runs_validate_their_input(runs: Runs, fake_llm: FakeLLMServer) -> None:
    async def error(resp: httpx2.Response, status: int = 422) -> dict[str, Any]:
        assert resp.status_code == status, resp.text
        return dict(resp.json()["error"])

    base = {"kind": "funnel", "name": "x", "brandGuideContent": "guide"}
    e = await error(await runs.post("/v1/templates", base))
    assert e["details"][0]["loc"] == "body.templateFunnelJson"
    e = await error(
        await runs.post(
            "/v1/templates",
            {**base, "templateFunnelJson": {"a": 1}, "metadata": {"onImageFailure": "shrug"}},
        )
    )
    assert e["details"][0]["loc"] == "body.metadata.onImageFailure"
    e = await error(
        await runs.post(
            "/v1/templates",
            {**base, "templateFunnelJson": {"a": 1}, "metadata": {"imageFields": ["b.c"]}},
        )
    )
    assert e["details"][0]["loc"] == "body.metadata.imageFields"
    e = await error(await runs.post("/v1/templates", {"kind": "html", "name": "x"}))
    assert e["details"][0]["loc"] == "body.html"

    # A draft is used only when pinned; 'latest' wants a published version.
    resp = await runs.post(
        "/v1/templates", {**base, "templateFunnelJson": {"headline": "Draft"}, "publish": False}
    )
    draft_id = resp.json()["templateId"]
    e = await error(
        await runs.post("/v1/runs", {"templateId": draft_id, "input": {"input_as_text": "x"}})
    )
    assert "no published version" in e["message"]
    fake_llm.add_rule(match=f"try-{draft_id}", reply={"json": {"funnel": {"headline": "New"}}})
    pinned = await runs.post(
        "/v1/runs",
        {
            "templateId": draft_id,
            "templateVersion": 1,
            "input": {"input_as_text": f"try-{draft_id}"},
        },
    )
    assert pinned.status_code == 202, pinned.text
    assert (await runs.wait(pinned.json()["runId"]))["status"] == "completed"

    # A new version inherits what it does not change.
    v2 = await runs.post(f"/v1/templates/{draft_id}/versions", {"brandGuideContent": "v2 guide"})
    assert v2.status_code == 201, v2.text
    assert v2.json()["templateFunnelJson"] == {"headline": "Draft"}
    assert v2.json()["version"] == 2

    html = await runs.post(
        "/v1/templates", {"name": "page", "html": "<p>{{REPORT_CONTENT}}</p>", "publish": True}
    )
    assert html.status_code == 201, html.text
    e = await error(
        await runs.post(
            "/v1/runs", {"templateId": html.json()["template_id"], "input": {"input_as_text": "x"}}
        )
    )
    assert e["code"] == "not_a_funnel_template"
    e = await error(await runs.post("/v1/runs", {"templateId": draft_id, "input": {}}))
    assert e["details"][0]["loc"] == "body.input.input_as_text"
    e = await error(
        await runs.post(
            "/v1/runs", {"templateId": draft_id, "input": {"input_as_text": "x"}, "extra": 1}
        )
    )
    assert e["details"][0]["loc"] == "body.extra"
    e = await error(await runs.get("/v1/runs/run_nope"), 404)
    assert e["code"] == "run_not_found"
