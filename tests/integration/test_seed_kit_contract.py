"""Issue 19, "the seeds' own clients work unchanged": seed 002's browser contract beside our API —
``POST /api/upload/presigned`` (a presigned PUT), ``POST /api/jobs/create`` and the WebSocket
``/ws?jobId=…`` sending the seed's ``WebSocketMessage`` union — against the real app in process
over the embedded AWS endpoint (the WebSocket through a real uvicorn server with the
``websockets`` client), without the worker processes: the timeline entries the workers would
write are written here."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import uvicorn
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError
from websockets.typing import Origin

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.ids import new_job_id
from leadmagnet.common.models import Job, JobStatus
from leadmagnet.common.platform import Platform
from leadmagnet.common.products import MAX_UPLOAD_BYTES, PRODUCT_KIND
from leadmagnet.common.settings import Settings
from leadmagnet.gateway.app import create_app
from leadmagnet.gateway.publishable import publishable_store
from leadmagnet.gateway.ws import ws_message
from leadmagnet.testing.moto_server import free_port

pytestmark = pytest.mark.integration

ORIGIN = "http://shop.test"


def photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (900, 900), (255, 107, 53)).save(buf, format="PNG")
    return buf.getvalue()


async def publishable_key(platform: Platform, tenant_id: str, origin: str = ORIGIN) -> str:
    raw, _ = await publishable_store(platform).create(
        tenant_id,
        flow="product_marketing",
        allowed_origins=[origin],
        channel=None,
        rate_limit_per_minute=600,
    )
    return str(raw)


@pytest.fixture
async def live(bootstrapped: Settings, platform: Platform) -> AsyncIterator[str]:
    """The app behind a real uvicorn (websockets protocol) in this event loop: its base ws URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(bootstrapped, platform),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def pk(platform: Platform, demo: Demo) -> str:
    return await publishable_key(platform, demo.tenant_id)


def browser(pk: str) -> dict[str, str]:
    return {"authorization": f"Bearer {pk}", "origin": ORIGIN}


async def upload(
    gw: httpx2.AsyncClient, headers: dict[str, str], data: bytes, ctype: str = "image/png"
) -> str:
    resp = await gw.post(
        "/api/upload/presigned",
        headers=headers,
        json={"filename": "my photo.png", "contentType": ctype, "fileSize": len(data)},
    )
    assert resp.status_code == 200, resp.text
    ticket = resp.json()
    async with httpx2.AsyncClient() as s3:
        put = await s3.put(ticket["url"], content=data, headers={"content-type": ctype})
    assert put.status_code == 200, put.text
    return str(ticket["key"])


# ---- POST /api/upload/presigned ----------------------------------------------------------------


async def test_presign_is_a_put_under_the_tenant_prefix_that_s3_accepts(
    gw: httpx2.AsyncClient, pk: str, demo: Demo, platform: Platform
) -> None:
    data = photo()
    resp = await gw.post(
        "/api/upload/presigned",
        headers=browser(pk),
        json={"filename": "../my photo.png", "contentType": "image/png", "fileSize": len(data)},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    ticket = resp.json()
    assert set(ticket) == {"url", "key"}
    assert ticket["key"].startswith(f"uploads/{demo.tenant_id}/")
    assert ticket["key"].endswith("-my-photo.png")
    query = parse_qs(urlsplit(ticket["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    assert "content-type" in signed
    assert "content-length" in signed

    async with httpx2.AsyncClient() as s3:
        put = await s3.put(ticket["url"], content=data, headers={"content-type": "image/png"})
    assert put.status_code == 200, put.text
    head = await platform.aws.s3.head_object(
        Bucket=platform.resources.bucket("uploads"), Key=ticket["key"]
    )
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == len(data)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"contentType": "image/gif", "fileSize": 1000}, "body.contentType"),
        ({"contentType": "text/html", "fileSize": 1000}, "body.contentType"),
        ({"contentType": "image/png", "fileSize": 0}, "body.fileSize"),
        ({"contentType": "image/png", "fileSize": MAX_UPLOAD_BYTES + 1}, "body.fileSize"),
        ({"contentType": "image/png"}, "body.fileSize"),
    ],
)
async def test_presign_refuses_the_seeds_limits_before_signing(
    gw: httpx2.AsyncClient, pk: str, body: dict[str, Any], loc: str
) -> None:
    resp = await gw.post(
        "/api/upload/presigned", headers=browser(pk), json={"filename": "p.png", **body}
    )
    assert resp.status_code == 422, resp.text
    assert loc in [d["loc"] for d in resp.json()["error"]["details"]]
    assert "url" not in resp.text


async def test_presign_authenticates_publishable_or_secret_keys(
    gw: httpx2.AsyncClient, pk: str, demo: Demo, platform: Platform
) -> None:
    body = {"filename": "p.png", "contentType": "image/png", "fileSize": 10}
    none = await gw.post("/api/upload/presigned", json=body)
    assert none.status_code == 401, none.text
    bad = await gw.post("/api/upload/presigned", json=body, headers=browser("pk_live_nope"))
    assert bad.status_code == 401, bad.text
    other_origin = await gw.post(
        "/api/upload/presigned",
        json=body,
        headers={"authorization": f"Bearer {pk}", "origin": "http://evil.test"},
    )
    assert other_origin.status_code == 403, other_origin.text
    as_query = await gw.post(
        "/api/upload/presigned", params={"key": pk}, json=body, headers={"origin": ORIGIN}
    )
    assert as_query.status_code == 200, as_query.text
    secret = await gw.post("/api/upload/presigned", json=body, headers={"x-api-key": demo.api_key})
    assert secret.status_code == 200, secret.text
    assert secret.json()["key"].startswith(f"uploads/{demo.tenant_id}/")
    assert "access-control-allow-origin" not in secret.headers
    wrong_secret = await gw.post(
        "/api/upload/presigned", json=body, headers={"authorization": "Bearer lm_live_nope"}
    )
    assert wrong_secret.status_code == 401, wrong_secret.text


async def test_preflight_of_the_seed_routes(gw: httpx2.AsyncClient, pk: str) -> None:
    for path in ("/api/upload/presigned", "/api/jobs/create"):
        resp = await gw.options(
            path,
            headers={
                "origin": ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert resp.status_code == 204, resp.text
        assert resp.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in resp.headers["access-control-allow-methods"]


# ---- POST /api/jobs/create ---------------------------------------------------------------------


async def test_create_starts_an_auto_confirmed_kit(
    gw: httpx2.AsyncClient, pk: str, demo: Demo, platform: Platform
) -> None:
    key = await upload(gw, browser(pk), photo())
    resp = await gw.post(
        "/api/jobs/create",
        headers=browser(pk),
        json={"s3Key": key, "preferences": {"tone": "playful", "platforms": ["instagram"]}},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    assert set(resp.json()) == {"jobId"}
    job = await platform.jobs.require(resp.json()["jobId"])
    assert (job.tenant_id, job.kind) == (demo.tenant_id, PRODUCT_KIND)
    assert job.data["auto_confirm"] is True
    assert job.data["s3_key"] == key
    assert job.data["preferences"]["tone"] == "playful"
    assert job.data["preferences"]["platforms"] == ["instagram"]
    timeline = await platform.jobs.timeline(job.job_id)
    assert timeline[0].type == "job.created"


async def test_create_refuses_other_uploads_at_body_s3key(
    gw: httpx2.AsyncClient, pk: str, platform: Platform
) -> None:
    other = await seed_demo(platform, slug=f"demo-{secrets.token_hex(4)}")
    theirs = await upload(gw, {"x-api-key": other.api_key}, photo())
    for s3_key, code in ((theirs, "not_your_upload"), ("uploads/x/none.png", "not_your_upload")):
        resp = await gw.post("/api/jobs/create", headers=browser(pk), json={"s3Key": s3_key})
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["code"] == code
        assert [d["loc"] for d in error["details"]] == ["body.s3Key"]
        assert resp.headers["access-control-allow-origin"] == ORIGIN  # the page can read it
    bad_prefs = await gw.post(
        "/api/jobs/create",
        headers=browser(pk),
        json={"s3Key": theirs, "preferences": {"tone": "angry"}},
    )
    assert bad_prefs.status_code == 422, bad_prefs.text
    assert bad_prefs.json()["error"]["details"][0]["loc"] == "body.preferences.tone"


async def test_create_says_when_nothing_was_uploaded(
    gw: httpx2.AsyncClient, pk: str, demo: Demo
) -> None:
    missing = f"uploads/{demo.tenant_id}/1-never.png"
    resp = await gw.post("/api/jobs/create", headers=browser(pk), json={"s3Key": missing})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "upload_missing"
    assert resp.json()["error"]["details"][0]["loc"] == "body.s3Key"


# ---- the WebSocket -----------------------------------------------------------------------------

ASSETS = {
    "packages": ["http://cdn.test/p1.png"],
    "ads": ["http://cdn.test/a1.png"],
    "thumbnails": {"modern-v1": "http://cdn.test/t1.webp"},
    "content": "http://cdn.test/content.json",
    "analysis": "http://cdn.test/analysis.json",
    "expiresAt": None,
}


async def new_kit(platform: Platform, tenant_id: str) -> str:
    """A kit as /api/jobs/create stores it, without publishing product.requested (a running
    imager of the session's stack would otherwise write this kit's timeline too)."""
    job = Job(
        job_id=new_job_id(),
        tenant_id=tenant_id,
        kind=PRODUCT_KIND,
        data={"s3_key": f"uploads/{tenant_id}/1-p.png", "auto_confirm": True},
    )
    await platform.jobs.create(job, message="kit requested")
    return job.job_id


async def run_kit(platform: Platform, job_id: str, *, pause: float = 0.0) -> None:
    """The timeline entries the imager and the reporter write for a kit (kitflow's shapes)."""
    steps: list[tuple[str, dict[str, Any], JobStatus | None, str]] = [
        ("job.analyzing", {"progress": 10}, JobStatus.PROCESSING, "analysis"),
        (
            "job.analysis_complete",
            {"progress": 40, "payload": {"analysis": {"confidence": 0.2}}},
            None,
            "analysis",
        ),
        ("job.confirmed", {}, None, "confirmed"),
        ("job.generating", {"progress": 55, "payload": {"stage": "copy"}}, None, "copy"),
        (
            "job.generating",
            {"progress": 55, "payload": {"stage": "images", "total": 5}},
            None,
            "images",
        ),
        ("job.completed", {"assets": ASSETS, "progress": 100}, JobStatus.COMPLETED, "complete"),
    ]
    for type_, data, status, stage in steps:
        await asyncio.sleep(pause)
        await platform.jobs.record(job_id, type_, type_, status=status, stage=stage, data=data)


async def read_ws(
    url: str, *, origin: str | None = ORIGIN, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """(messages, close code, close reason) until the server closes."""
    messages = []
    async with connect(
        url,
        origin=Origin(origin) if origin else None,
        additional_headers=headers,
        proxy=None,
        open_timeout=10,
    ) as ws:
        async with asyncio.timeout(60):
            with contextlib.suppress(ConnectionClosedError):  # a close code other than 1000
                async for raw in ws:
                    messages.append(json.loads(raw))
        return messages, ws.close_code, ws.close_reason


async def test_ws_sends_the_seed_union_in_order_live_then_closes(
    live: str, pk: str, demo: Demo, platform: Platform
) -> None:
    job_id = await new_kit(platform, demo.tenant_id)
    writer = asyncio.create_task(run_kit(platform, job_id, pause=0.3))
    messages, code, _ = await read_ws(f"{live}/ws?jobId={job_id}&key={pk}")
    await writer
    assert code == 1000
    assert [m["type"] for m in messages] == [
        "job.created",
        "job.analyzing",
        "job.analysis_complete",
        "job.generating",
        "job.generating",
        "job.complete",
    ]
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs))
    for m in messages:
        assert set(m) == {"type", "payload", "seq"}
        assert m["payload"]["jobId"] == job_id
    _created, analyzing, analysed, copy, images, complete = messages
    assert analyzing["payload"]["progress"] == 10  # the hook shows it as is
    assert analysed["payload"]["analysis"] == {"confidence": 0.2}
    # generating: per phase, which the hook shows as 50 + p / 2 = the overall 55 %
    assert copy["payload"] == {"jobId": job_id, "stage": "copy", "progress": 10}
    assert images["payload"]["stage"] == "images"
    assert 50 + images["payload"]["progress"] / 2 == 55
    assert complete["payload"]["assets"] == ASSETS
    assert complete["payload"]["progress"] == 100

    # The same path under /v1, resumed after a message: only what came later, once.
    after = analysed["seq"]
    resumed, code, _ = await read_ws(f"{live}/v1/ws?jobId={job_id}&key={pk}&after={after}")
    assert code == 1000
    assert [m["seq"] for m in resumed] == [s for s in seqs if s > after]
    assert resumed[0]["payload"]["progress"] == 10  # progress counted from the start

    # Resumed after the end: nothing more, a normal close.
    done, code, _ = await read_ws(f"{live}/ws?jobId={job_id}&key={pk}&after={seqs[-1]}")
    assert (done, code) == ([], 1000)


async def test_ws_sends_job_error_for_a_failed_kit(
    live: str, pk: str, demo: Demo, platform: Platform
) -> None:
    job_id = await new_kit(platform, demo.tenant_id)
    await platform.jobs.record(
        job_id,
        "job.failed",
        "the photo is 500x500 px; each side must be at least 800",
        status=JobStatus.FAILED,
        stage="analysis",
    )
    messages, code, _ = await read_ws(f"{live}/ws?jobId={job_id}&key={pk}")
    assert code == 1000
    assert [m["type"] for m in messages] == ["job.created", "job.error"]
    assert messages[-1]["payload"]["error"].startswith("the photo is 500x500 px")


async def test_ws_refusals_are_close_codes(
    live: str, pk: str, demo: Demo, platform: Platform
) -> None:
    job_id = await new_kit(platform, demo.tenant_id)
    other = await seed_demo(platform, slug=f"demo-{secrets.token_hex(4)}")
    other_pk = await publishable_key(platform, other.tenant_id)

    async def code_of(query: str, **kwargs: Any) -> tuple[int | None, str | None]:
        messages, code, reason = await read_ws(f"{live}/ws?{query}", **kwargs)
        assert messages == []
        return code, reason

    unknown = await code_of(f"jobId=job_nope&key={pk}")
    not_yours = await code_of(f"jobId={job_id}&key={other_pk}")
    assert unknown == not_yours  # the same answer: no way to probe for job ids
    assert unknown[0] == 4404
    assert (await code_of(f"jobId={'x' * 500}&key={pk}"))[0] == 4404
    assert (await code_of(f"jobId={job_id}", origin=None))[0] == 4401
    assert (await code_of(f"jobId={job_id}&key=pk_live_nope"))[0] == 4401
    assert (await code_of(f"jobId={job_id}&key={pk}", origin="http://evil.test"))[0] == 4403
    assert (await code_of(f"jobId={job_id}&key={pk}", origin=None))[0] == 4403
    assert (await code_of(f"jobId={job_id}&key={pk}&after=-1"))[0] == 4422
    # A server-side client with the secret key in a header (never in the URL).
    await run_kit(platform, job_id)
    messages, code, _ = await read_ws(
        f"{live}/ws?jobId={job_id}", origin=None, headers={"x-api-key": demo.api_key}
    )
    assert code == 1000
    assert messages[-1]["type"] == "job.complete"


async def test_ws_message_mapping_skips_entries_without_a_seed_type(
    demo: Demo, platform: Platform
) -> None:
    from leadmagnet.gateway.progress import Signal, follow_job

    job_id = await new_kit(platform, demo.tenant_id)
    await run_kit(platform, job_id)

    async def never() -> bool:
        return False

    steps = [s async for s in follow_job(platform, job_id, 0, stop=never, max_seconds=5)]
    assert steps[-1] is Signal.END
    types = [s.event.type for s in steps if not isinstance(s, Signal)]
    assert "job.confirmed" in types
    sent = [ws_message(s) for s in steps if not isinstance(s, Signal)]
    assert [m["type"] for m in sent if m] == [
        "job.created",
        "job.analyzing",
        "job.analysis_complete",
        "job.generating",
        "job.generating",
        "job.complete",
    ]


async def test_ws_as_the_seed_hook_writes_it_takes_the_key_from_the_origin(
    live: str, demo: Demo, platform: Platform
) -> None:
    """``new WebSocket(`${WS_URL}?jobId=${jobId}`)``: no key in the URL; the one active
    product_marketing key that allows the page's Origin stands in (never for another tenant's
    job, and not when two keys claim the origin)."""
    origin = f"http://shop-{secrets.token_hex(4)}.test"
    await publishable_key(platform, demo.tenant_id, origin)
    job_id = await new_kit(platform, demo.tenant_id)
    await run_kit(platform, job_id)
    messages, code, _ = await read_ws(f"{live}/ws?jobId={job_id}", origin=origin)
    assert code == 1000
    assert messages[-1]["type"] == "job.complete"

    other = await seed_demo(platform, slug=f"demo-{secrets.token_hex(4)}")
    theirs = await new_kit(platform, other.tenant_id)
    refused, code, _ = await read_ws(f"{live}/ws?jobId={theirs}", origin=origin)
    assert (refused, code) == ([], 4404)
    await publishable_key(platform, other.tenant_id, origin)  # now ambiguous
    refused, code, _ = await read_ws(f"{live}/ws?jobId={job_id}", origin=origin)
    assert (refused, code) == ([], 4401)
