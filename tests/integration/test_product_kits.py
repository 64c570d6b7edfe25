"""Product marketing kits (seed 002) through the real services: presigned upload, the real
bytes checked, vision analysis (and its basic-CV fallback), confirmation, copy and images in
parallel, the join, the seed's S3 layout and live progress — against the embedded AWS endpoint,
with the OpenAI SDK (vision, text, images) talking to the local wire-format server."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from PIL import Image

from leadmagnet.cli.demo import Demo
from leadmagnet.common.aws import AwsClients
from leadmagnet.common.jobflow import job_artifacts
from leadmagnet.common.models import Job, JobStatus
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import LIMITS, LIST_LIMITS, PRODUCT_KIND
from leadmagnet.flows.kitflow import finish_branch
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.fake_llm import FakeLLMServer
from leadmagnet.testing.kits import KitClient, product_photo, sample_analysis, short_copy
from leadmagnet.testing.subscriber import external_subscriber

pytestmark = pytest.mark.integration


def analysis(marker: str) -> dict[str, Any]:
    return sample_analysis(tone=f"upbeat-{marker}")  # only the copy prompt carries the tone


LONG = " ".join(["Refreshing"] * 40)
WORDY_COPY = {
    "ecDescription": {"short": LONG, "medium": "Good.", "long": "Good."},
    "socialMedia": {"facebook": "Hi", "instagram": "Hi", "linkedin": "Hi"},
    "adCopy": {
        "googleAdsHeadline": "Unbelievably refreshing energy for every single day",
        "googleAdsDescription": LONG,
        "facebookAd": LONG,
    },
    "seo": {
        "primaryKeywords": [f"k{i}" for i in range(12)],
        "longTailKeywords": ["energy drink for students"],
        "hashtags": ["#energy", "focus now", "#go"],
    },
}


SHORT_COPY = short_copy()


@pytest.fixture
def kits(api: GatewayClient, demo: Demo) -> KitClient:
    return KitClient(api, demo.api_key)


async def sse(api: GatewayClient, job_id: str, last: int | None = None) -> list[dict[str, Any]]:
    headers = {"last-event-id": str(last)} if last is not None else {}
    out = []
    async with api.client.stream(
        "GET", f"{api.base}/v1/jobs/{job_id}/events", headers=headers, timeout=60
    ) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: {") and '"seq"' in line:
                out.append(json.loads(line[6:]))
    return out


async def read_s3(aws: AwsClients, platform: Platform, key: str) -> bytes:
    obj = await aws.s3.get_object(Bucket=platform.resources.bucket("artifacts"), Key=key)
    return bytes(await obj["Body"].read())


async def test_kit_from_upload_to_assets_with_confirmation_and_live_progress(
    kits: KitClient,
    api: GatewayClient,
    demo: Demo,
    fake_llm: FakeLLMServer,
    platform: Platform,
    aws: AwsClients,
) -> None:
    marker = secrets.token_hex(5)
    filename = f"photo-{marker}.png"
    fake_llm.add_rule(match=filename, reply={"json": analysis(marker)})
    fake_llm.add_rule(match=f"upbeat-{marker}", reply={"json": WORDY_COPY})
    progress_queue = await external_subscriber(
        aws, platform, event_type="io.leadmagnet.job.progress", tenant_id=demo.tenant_id
    )
    key = await kits.upload(product_photo(), filename=filename)
    job_id = await kits.start(key)
    job = await api.wait_job(job_id, ("awaiting_confirmation", "completed", "failed"))
    assert job["status"] == "awaiting_confirmation", job["error_message"]
    result = json.loads(await read_s3(aws, platform, f"generated/{job_id}/analysis.json"))
    assert result["analysis"]["method"] == "vision"
    assert result["analysis"]["confidence"] == 0.89

    # Two confirms at once: one wins; the loser is told what happened, not the stale state.
    body = {"preferences": {"platforms": ["ec", "facebook", "google-ads"], "tone": "playful"}}
    both = await asyncio.gather(
        kits.post(f"/v1/jobs/{job_id}/confirm", body),
        kits.post(f"/v1/jobs/{job_id}/confirm", body),
    )
    assert sorted(r.status_code for r in both) == [202, 409], [r.text for r in both]
    loser = next(r for r in both if r.status_code == 409).json()["error"]
    assert loser["code"] == "already_confirmed", loser
    assert "this kit was already confirmed at " in loser["message"]
    assert loser["message"].endswith("its generation is under way")
    assert "awaiting_confirmation" not in loser["message"]
    job = await api.wait_job(job_id, within=90)
    assert job["status"] == "completed", job["error_message"]
    late = (await kits.post(f"/v1/jobs/{job_id}/confirm", {})).json()["error"]
    assert late["code"] == "already_completed", late
    assert "already confirmed at" in late["message"]
    assert "is complete" in late["message"]

    # The seed's layout.
    stored = sorted(
        a.s3_key for a in await job_artifacts(platform, await platform.jobs.require(job_id))
    )
    assert len(job["artifacts"]) == len(stored)
    expected = [
        f"generated/{job_id}/ads/facebook-1080x1080.png",
        f"generated/{job_id}/ads/google-1200x628.png",
        f"generated/{job_id}/analysis.json",
        f"generated/{job_id}/content.json",
        f"generated/{job_id}/packages/bold-v2.png",
        f"generated/{job_id}/packages/modern-v1.png",
        f"generated/{job_id}/packages/premium-v3.png",
        *(
            f"thumbnails/{job_id}/{a}-thumb.webp"
            for a in ("bold-v2", "facebook-1080x1080", "google-1200x628", "modern-v1", "premium-v3")
        ),
    ]
    assert stored == sorted(expected)
    for name, size in (
        ("ads/google-1200x628.png", (1200, 628)),
        ("packages/bold-v2.png", (1024, 1024)),
    ):
        with Image.open(
            io.BytesIO(await read_s3(aws, platform, f"generated/{job_id}/{name}"))
        ) as im:
            assert im.size == size
    with Image.open(
        io.BytesIO(await read_s3(aws, platform, f"thumbnails/{job_id}/modern-v1-thumb.webp"))
    ) as im:
        assert im.format == "WEBP"
        assert max(im.size) <= 320

    # Every field within its channel's limit; trimmed ones end on a whole word.
    content = json.loads(await read_s3(aws, platform, f"generated/{job_id}/content.json"))
    for path, limit in LIMITS.items():
        group, field = path.split(".")
        assert len(content[group][field]) <= limit, path
    assert content["adCopy"]["googleAdsHeadline"] == "Unbelievably refreshing energy"
    assert content["adCopy"]["facebookAd"] == " ".join(["Refreshing"] * 11)
    for name, limit in LIST_LIMITS.items():
        assert len(content["seo"][name]) <= limit
    assert content["seo"]["hashtags"] == ["#energy", "#focusnow", "#go"]
    assert content["preferences"]["tone"] == "playful"
    copy_calls = [r for r in fake_llm.stats()["requests"] if f"upbeat-{marker}" in r["body"]]
    assert len(copy_calls) == 2  # the over-long answer was asked for once more

    # Live progress: the seed's message types, in order; resumable.
    messages = await sse(api, job_id)
    seed = [m["event"] for m in messages if m["event"]]
    assert seed[0] == "job.created"
    assert seed[1:3] == ["job.analyzing", "job.analysis_complete"]
    assert seed.count("job.generating") == 2  # copy and images
    assert seed[-1] == "job.complete"
    complete = messages[-1]
    assert complete["payload"]["jobId"] == job_id
    # job.complete carries the seed's GeneratedAssets: URLs that fetch the stored files.
    assets = complete["payload"]["assets"]
    assert set(assets) == {"packages", "ads", "thumbnails", "content", "analysis", "expiresAt"}
    assert [u.split("?")[0].rsplit("/", 1)[-1] for u in assets["packages"]] == [
        "modern-v1.png",
        "bold-v2.png",
        "premium-v3.png",
    ]
    assert [u.split("?")[0].rsplit("/", 1)[-1] for u in assets["ads"]] == [
        "facebook-1080x1080.png",
        "google-1200x628.png",
    ]
    assert list(assets["thumbnails"]) == [
        "modern-v1",
        "bold-v2",
        "premium-v3",
        "facebook-1080x1080",
        "google-1200x628",
    ]
    expires = datetime.fromisoformat(assets["expiresAt"])
    ttl = platform.settings.artifact_url_ttl_seconds
    assert abs((expires - datetime.now(UTC)).total_seconds() - ttl) < 300
    async with httpx2.AsyncClient(timeout=30) as client:
        fetched = await client.get(assets["packages"][1])
        assert fetched.status_code == 200
        assert fetched.content == await read_s3(
            aws, platform, f"generated/{job_id}/packages/bold-v2.png"
        )
        thumb = await client.get(assets["thumbnails"]["google-1200x628"])
        assert thumb.status_code == 200
        assert thumb.content.startswith(b"RIFF")
        copy = await client.get(assets["content"])
        assert copy.status_code == 200
        assert copy.json() == content
    analysis_seq = next(m["seq"] for m in messages if m["event"] == "job.analysis_complete")
    resumed = await sse(api, job_id, last=analysis_seq)
    assert [m["seq"] for m in resumed] == [m["seq"] for m in messages if m["seq"] > analysis_seq]

    # The same messages on the topic, for other systems: same types, same payloads.
    topic: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not any(d["type"] == "job.complete" for d in topic) and time.monotonic() < deadline:
        got = await aws.sqs.receive_message(
            QueueUrl=progress_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for m in got.get("Messages", []):
            data = json.loads(m["Body"])["data"]
            if data["job_id"] == job_id:
                topic.append(data)
    by_type = {(d["type"], d.get("stage")): d["payload"] for d in topic}
    assert {t for t, _ in by_type} == {
        "job.created",
        "job.analyzing",
        "job.analysis_complete",
        "job.generating",
        "job.complete",
    }
    for m in messages:
        if m["event"]:
            key = (m["event"], "complete" if m["event"] == "job.complete" else m["stage"])
            if m["event"] == "job.created":
                key = ("job.created", None)
            assert by_type[key] == m["payload"], m["event"]


async def test_basic_cv_analysis_when_the_vision_model_fails(
    kits: KitClient,
    api: GatewayClient,
    fake_llm: FakeLLMServer,
    platform: Platform,
    aws: AwsClients,
) -> None:
    filename = f"broken-{secrets.token_hex(5)}.jpg"
    error = {"error": {"message": "vision overloaded", "type": "server_error"}}
    fake_llm.add_rule(match=filename, reply={"status": 500, "body_json": error})
    # The copy request carries the fallback analysis, whose reason quotes the provider's error.
    fake_llm.add_rule(match="vision overloaded", reply={"json": SHORT_COPY})
    key = await kits.upload(product_photo(fmt="JPEG"), content_type="image/jpeg", filename=filename)
    job_id = await kits.start(key, auto_confirm=True, preferences={"platforms": ["instagram"]})
    job = await api.wait_job(job_id, within=90)
    assert job["status"] == "completed", job["error_message"]
    result = json.loads(await read_s3(aws, platform, f"generated/{job_id}/analysis.json"))
    a = result["analysis"]
    assert a["method"] == "basic-cv"
    assert a["confidence"] <= 0.3
    assert "vision overloaded" in a["fallbackReason"]
    top = a["visual"]["dominantColors"]
    assert top[0]["name"] == "coral-orange"
    assert 50 <= top[0]["percentage"] <= 70
    assert top[1]["name"] in ("deep-blue", "navy", "blue")
    assert any("basic-CV" in e["message"] for e in job["timeline"])


@pytest.mark.parametrize(
    ("data", "declared", "problem"),
    [
        (product_photo(fmt="JPEG"), "image/png", "declared image/png but its bytes are image/jpeg"),
        (product_photo(500, 500), "image/png", "each side must be 800-4096 px"),
        (product_photo(5000, 900), "image/png", "each side must be"),
        (b"%PDF-1.4 not an image", "image/png", "not a readable JPEG, PNG or WebP image"),
    ],
)
async def test_bad_photos_fail_the_kit_with_the_reason(
    kits: KitClient, api: GatewayClient, data: bytes, declared: str, problem: str
) -> None:
    key = await kits.upload(data, content_type=declared, filename="x.png")
    job_id = await kits.start(key, auto_confirm=True)
    job = await api.wait_job(job_id, within=60)
    assert job["status"] == "failed"
    assert problem in job["error_message"], job["error_message"]
    late = (await kits.post(f"/v1/jobs/{job_id}/confirm", {})).json()["error"]
    assert late["code"] == "kit_failed", late
    assert problem in late["message"]
    assert "start a new one" in late["message"]


async def test_upload_policy_pins_size_and_type(kits: KitClient) -> None:
    """The presigned POST's policy is what S3 enforces (moto does not enforce POST policies, so
    the policy itself is checked here; the imager checks the real bytes either way)."""
    ticket = await kits.post(
        "/v1/uploads", {"filename": "../x y.png", "content_type": "image/png", "size": 1234}
    )
    assert ticket.status_code == 201, ticket.text
    t = ticket.json()
    assert t["s3_key"].endswith("-x-y.png")
    policy = json.loads(base64.b64decode(t["upload"]["fields"]["policy"]))
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert {"key": t["s3_key"]} in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 300


async def test_uploads_and_kits_validate_their_requests(kits: KitClient, demo: Demo) -> None:
    gif = await kits.post(
        "/v1/uploads", {"filename": "a.gif", "content_type": "image/gif", "size": 10}
    )
    assert gif.status_code == 422
    assert gif.json()["error"]["details"][0]["loc"] == "body.content_type"
    big = await kits.post(
        "/v1/uploads", {"filename": "a.png", "content_type": "image/png", "size": 11 * 1024 * 1024}
    )
    assert big.json()["error"]["details"][0]["loc"] == "body.size"
    other = await kits.post(
        "/v1/jobs", {"kind": "product_marketing", "s3_key": "uploads/ten_someone_else/1-a.png"}
    )
    assert other.json()["error"]["code"] == "not_your_upload"
    missing = await kits.post(
        "/v1/jobs", {"kind": "product_marketing", "s3_key": f"uploads/{demo.tenant_id}/none.png"}
    )
    assert missing.json()["error"]["code"] == "upload_missing"
    nope = await kits.post("/v1/jobs/job_unknown/confirm", {})
    assert nope.status_code == 404


async def test_branches_join_once_whatever_the_order_and_duplicates(platform: Platform) -> None:
    async def kit() -> Job:
        job = Job(
            job_id=f"job_{secrets.token_hex(8)}",
            tenant_id="ten_join",
            kind=PRODUCT_KIND,
            status=JobStatus.PROCESSING,
        )
        await platform.jobs.create(job)
        return job

    first = await kit()
    outcomes = await asyncio.gather(
        *(finish_branch(platform, first.job_id, b) for b in ["copy", "images"] * 3)
    )
    assert any(outcomes)
    timeline = await platform.jobs.timeline(first.job_id)
    assert sum(e.type == "job.completed" for e in timeline) == 1
    assert (await platform.jobs.require(first.job_id)).status is JobStatus.COMPLETED

    second = await kit()
    assert await finish_branch(platform, second.job_id, "images") is False
    assert await finish_branch(platform, second.job_id, "images") is False
    assert await finish_branch(platform, second.job_id, "copy") is True
    assert await finish_branch(platform, second.job_id, "copy") is True  # idempotent
    timeline = await platform.jobs.timeline(second.job_id)
    assert sum(e.type == "job.completed" for e in timeline) == 1

    failed = await kit()
    await platform.jobs.fail(failed.job_id, code="image_failed", message="boom")
    await finish_branch(platform, failed.job_id, "copy")
    assert await finish_branch(platform, failed.job_id, "images") is False
    assert (await platform.jobs.require(failed.job_id)).status is JobStatus.FAILED
