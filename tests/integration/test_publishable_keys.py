"""Issue 19, publishable keys (``pk_live_…``) and seed 003's ``POST /lead`` beacon, against the
gateway application in process (the real app over the embedded AWS endpoint, no workers)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from starlette.requests import Request

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.platform import Platform
from leadmagnet.gateway.api import HTTPError
from leadmagnet.gateway.publishable import PublishableGrant, require_publishable

pytestmark = pytest.mark.integration

SHOP = "https://shop.example.com"
OLD = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()


@pytest.fixture
async def other(platform: Platform) -> Demo:
    """A second tenant."""
    return await seed_demo(platform, slug=f"other-{secrets.token_hex(4)}", tenant_name="Other")


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    error = resp.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert isinstance(error["details"], list)
    return dict(error)


async def make_channel(gw: httpx2.AsyncClient, demo: Demo) -> str:
    slug = f"shop-{secrets.token_hex(4)}"
    resp = await gw.post(
        "/v1/chat-channels",
        headers=auth(demo),
        json={"slug": slug, "business_name": "Craig's", "owner_email": "owner@craigs.example"},
    )
    assert resp.status_code == 201, resp.text
    return slug


async def make_key(gw: httpx2.AsyncClient, demo: Demo, **body: Any) -> dict[str, Any]:
    body.setdefault("flow", "product_marketing")
    body.setdefault("allowed_origins", [SHOP])
    resp = await gw.post("/v1/publishable-keys", headers=auth(demo), json=body)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["key"].startswith("pk_live_")
    return dict(created)


def chat(contact: bool) -> list[dict[str, Any]]:
    text = "Hi, I need my Mustang seats redone." + (
        " Call me at +1 555 123 4567." if contact else ""
    )
    return [
        {"role": "assistant", "text": "Hello! How can we help?", "time": OLD},
        {"role": "user", "text": text, "time": OLD},
    ]


async def beacon(
    gw: httpx2.AsyncClient,
    key: str | None,
    body: dict[str, Any],
    origin: str | None = SHOP,
    content_type: str = "text/plain;charset=UTF-8",
) -> httpx2.Response:
    """As navigator.sendBeacon sends a string: text/plain, the key in the query."""
    import json

    headers = {"content-type": content_type}
    if origin is not None:
        headers["origin"] = origin
    return await gw.post(
        "/lead",
        params={"key": key} if key else None,
        headers=headers,
        content=json.dumps(body).encode(),
    )


def fake_request(platform: Platform, key: str, origin: str | None, path: str = "/x") -> Request:
    headers = [(b"x-publishable-key", key.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": headers,
    }
    return Request(scope)


# ---- admin: create, list, revoke ----------------------------------------------------------------


async def test_create_list_revoke_and_the_secret_is_never_listed(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    created = await make_key(
        gw,
        demo,
        allowed_origins=["HTTPS://Shop.Example.com:443", "http://localhost:3000"],
        label="shop",
    )
    assert created["allowed_origins"] == [SHOP, "http://localhost:3000"]
    assert created["rate_limit_per_minute"] == 60
    assert created["revoked_at"] is None
    listing = await gw.get("/v1/publishable-keys", headers=auth(demo))
    assert listing.status_code == 200, listing.text
    assert created["key"] not in listing.text
    [item] = [k for k in listing.json()["keys"] if k["key_id"] == created["key_id"]]
    assert "key" not in item
    assert item["label"] == "shop"
    assert created["key"].startswith(item["prefix"])
    # the secret is not stored either: only its SHA-256
    table = platform.resources.table("publishable_keys")
    scan = await platform.aws.dynamodb.scan(TableName=table)
    assert created["key"] not in str(scan["Items"])

    grant = await require_publishable(
        fake_request(platform, created["key"], SHOP), platform, "product_marketing"
    )
    assert grant == PublishableGrant(
        tenant_id=demo.tenant_id,
        key_id=created["key_id"],
        flow="product_marketing",
        channel=None,
        origin=SHOP,
    )
    gone = await gw.delete(f"/v1/publishable-keys/{created['key_id']}", headers=auth(demo))
    assert gone.status_code == 204, gone.text
    with pytest.raises(HTTPError) as revoked:
        await require_publishable(
            fake_request(platform, created["key"], SHOP), platform, "product_marketing"
        )
    assert (revoked.value.status, revoked.value.code) == (401, "invalid_publishable_key")
    listing = (await gw.get("/v1/publishable-keys", headers=auth(demo))).json()["keys"]
    [item] = [k for k in listing if k["key_id"] == created["key_id"]]
    assert item["revoked_at"] is not None
    assert_error(
        await gw.delete("/v1/publishable-keys/pkey_nope", headers=auth(demo)),
        404,
        "publishable_key_not_found",
    )


async def test_create_validates_origins_channel_and_limits(
    gw: httpx2.AsyncClient, demo: Demo, other: Demo
) -> None:
    async def create(body: dict[str, Any], key: Demo = demo) -> httpx2.Response:
        return await gw.post("/v1/publishable-keys", headers=auth(key), json=body)

    pm = {"flow": "product_marketing", "allowed_origins": [SHOP]}
    for origins in (
        ["https://shop.example.com/path"],
        ["ftp://x.example"],
        ["shop.example.com"],
        [],
    ):
        assert_error(await create({**pm, "allowed_origins": origins}), 422, "validation_error")
    for limit in (0, 601, 10**6):
        assert_error(await create({**pm, "rate_limit_per_minute": limit}), 422, "validation_error")
    assert_error(await create({**pm, "channel": "abc"}), 422, "validation_error")
    assert_error(await create({**pm, "flow": "chat_lead"}), 422, "validation_error")
    theirs = await make_channel(gw, other)
    error = assert_error(
        await create({"flow": "chat_lead", "allowed_origins": [SHOP], "channel": theirs}),
        422,
        "unknown_channel",
    )
    assert error["details"][0]["loc"] == "body.channel"
    assert_error(
        await gw.post("/v1/publishable-keys", json=pm), 401, "unauthenticated"
    )  # the admin API needs the secret key


# ---- the checks ---------------------------------------------------------------------------------


async def test_wrong_flow_bad_origin_missing_origin_and_unknown_key(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    pm = await make_key(gw, demo)
    slug = await make_channel(gw, demo)
    body = {"reason": "idle", "threadId": "cthr_flow1", "messages": chat(False)}
    # a product_marketing key on the chat beacon
    assert_error(await beacon(gw, pm["key"], body), 403, "wrong_flow")
    # a chat_lead key from another origin, and without any Origin
    chat_key = await make_key(gw, demo, flow="chat_lead", channel=slug)
    denied = await beacon(gw, chat_key["key"], body, origin="https://evil.example")
    assert_error(denied, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in denied.headers
    assert_error(
        await beacon(gw, chat_key["key"], body, origin="https://shop.example.com.evil.example"),
        403,
        "origin_not_allowed",
    )
    assert_error(await beacon(gw, chat_key["key"], body, origin=None), 403, "origin_not_allowed")
    # unknown keys, and no key without an origin binding
    assert_error(await beacon(gw, "pk_live_nope", body), 401, "invalid_publishable_key")
    assert_error(await beacon(gw, demo.api_key, body), 401, "invalid_publishable_key")
    with pytest.raises(HTTPError) as e:
        await require_publishable(fake_request(platform, "", SHOP), platform, "product_marketing")
    assert (e.value.status, e.value.code) == (401, "invalid_publishable_key")
    # a "*" key accepts requests without an Origin (servers, curl)
    anywhere = await make_key(gw, demo, allowed_origins=["*", SHOP])
    assert anywhere["allowed_origins"] == ["*"]
    grant = await require_publishable(
        fake_request(platform, anywhere["key"], None), platform, "product_marketing"
    )
    assert grant.origin is None


async def test_rate_limit_answers_429_with_retry_after(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    slug = await make_channel(gw, demo)
    key = await make_key(gw, demo, flow="chat_lead", channel=slug, rate_limit_per_minute=3)
    body = {"reason": "idle", "threadId": f"cthr_{secrets.token_hex(4)}", "messages": chat(False)}
    # 7 calls span at most two one-minute windows (3 + 3): at least one is limited
    answers = [await beacon(gw, key["key"], body) for _ in range(7)]
    ok = [a for a in answers if a.status_code == 200]
    limited = [a for a in answers if a.status_code == 429]
    assert len(ok) >= 3, [a.status_code for a in answers]
    assert len(ok) + len(limited) == 7, [a.status_code for a in answers]
    assert limited, [a.status_code for a in answers]
    error = assert_error(limited[0], 429, "rate_limited")
    assert "3 requests" in error["message"]
    retry = int(limited[0].headers["retry-after"])
    assert 1 <= retry <= 60
    assert limited[0].headers["access-control-allow-origin"] == SHOP  # readable by the page
    # the budget is per key: another key of the same tenant is unaffected
    fresh = await make_key(gw, demo, flow="chat_lead", channel=slug, rate_limit_per_minute=3)
    assert (await beacon(gw, fresh["key"], body)).status_code == 200


async def test_two_tenants_keys_never_cross(
    gw: httpx2.AsyncClient, demo: Demo, other: Demo, platform: Platform
) -> None:
    mine = await make_key(gw, demo, label="mine")
    theirs = await make_key(gw, other, label="theirs")
    listed = (await gw.get("/v1/publishable-keys", headers=auth(demo))).json()["keys"]
    ids = {k["key_id"] for k in listed}
    assert mine["key_id"] in ids
    assert theirs["key_id"] not in ids
    # another tenant cannot revoke my key
    assert_error(
        await gw.delete(f"/v1/publishable-keys/{mine['key_id']}", headers=auth(other)),
        404,
        "publishable_key_not_found",
    )
    grant = await require_publishable(
        fake_request(platform, mine["key"], SHOP), platform, "product_marketing"
    )
    assert grant.tenant_id == demo.tenant_id
    grant = await require_publishable(
        fake_request(platform, theirs["key"], SHOP), platform, "product_marketing"
    )
    assert grant.tenant_id == other.tenant_id
    # a beacon with my chat key reaches my channel only
    mine_slug = await make_channel(gw, demo)
    their_slug = await make_channel(gw, other)
    chat_key = await make_key(gw, demo, flow="chat_lead", channel=mine_slug)
    thread = f"cthr_{secrets.token_hex(4)}"
    body = {"reason": "idle", "threadId": thread, "channel": their_slug, "messages": chat(False)}
    assert_error(await beacon(gw, chat_key["key"], body), 403, "wrong_channel")
    assert (await gw.get(f"/v1/leads/{thread}", params={"channel": their_slug})).status_code == 404


# ---- CORS ---------------------------------------------------------------------------------------


async def test_preflight_answers_only_allowed_origins(gw: httpx2.AsyncClient, demo: Demo) -> None:
    slug = await make_channel(gw, demo)
    origin = f"https://{secrets.token_hex(4)}.example.com"
    preflight = {"origin": origin, "access-control-request-method": "POST"}
    before = await gw.options("/lead", headers=preflight)
    assert before.status_code == 204
    assert "access-control-allow-origin" not in before.headers
    assert before.headers["vary"] == "Origin"
    key = await make_key(gw, demo, flow="chat_lead", channel=slug, allowed_origins=[origin])
    allowed = await gw.options(
        "/lead", headers={**preflight, "access-control-request-headers": "content-type"}
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "content-type" in allowed.headers["access-control-allow-headers"]
    assert int(allowed.headers["access-control-max-age"]) > 0
    assert allowed.headers["vary"] == "Origin"
    # the real (fetch) request gets the CORS headers too
    thread = f"cthr_{secrets.token_hex(4)}"
    real = await beacon(
        gw,
        key["key"],
        {"reason": "chat_closed", "threadId": thread, "messages": chat(False)},
        origin=origin,
        content_type="application/json",
    )
    assert real.status_code == 200, real.text
    assert real.headers["access-control-allow-origin"] == origin
    assert real.headers["vary"] == "Origin"
    # revoked: the preflight stops echoing the origin
    await gw.delete(f"/v1/publishable-keys/{key['key_id']}", headers=auth(demo))
    after = await gw.options("/lead", headers=preflight)
    assert "access-control-allow-origin" not in after.headers


# ---- POST /lead: seed 003's beacon ---------------------------------------------------------------


async def test_beacon_runs_the_v1_leads_gates_and_changes_the_lead_state(
    gw: httpx2.AsyncClient, demo: Demo
) -> None:
    slug = await make_channel(gw, demo)
    key = await make_key(gw, demo, flow="chat_lead", channel=slug)
    thread = f"cthr_{secrets.token_hex(4)}"
    first = await beacon(gw, key["key"], {"reason": "idle", "threadId": thread, "messages": []})
    assert first.status_code == 200, first.text
    assert first.json()["lead_reason"] == "empty_thread"
    second = await beacon(
        gw,
        key["key"],
        {"reason": "pagehide", "thread_id": thread, "messages": chat(False), "page": "/x"},
    )
    assert second.json() | {"message": ""} == {
        "lead_reason": "missing_contact",
        "trigger_reason": "pagehide",
        "thread_id": thread,
        "message": "",
        "recheck_at": None,
    }
    assert second.headers["access-control-allow-origin"] == SHOP
    state = await gw.get(f"/v1/leads/{thread}", params={"channel": slug})
    assert state.status_code == 200, state.text
    assert (state.json()["reason"], state.json()["triggers"]) == ("missing_contact", 2)
    third = await beacon(
        gw, key["key"], {"reason": "chat_closed", "threadId": thread, "messages": chat(True)}
    )
    assert third.json()["lead_reason"] == "queued", third.text
    # the same body through POST /v1/leads answers the same code
    direct = await gw.post(
        "/v1/leads",
        json={"channel": slug, "thread_id": thread, "reason": "idle", "messages": chat(False)},
    )
    assert direct.json()["status"] == "missing_contact"


async def test_beacon_input_errors(gw: httpx2.AsyncClient, demo: Demo) -> None:
    slug = await make_channel(gw, demo)
    key = (await make_key(gw, demo, flow="chat_lead", channel=slug))["key"]
    ok = {"reason": "idle", "threadId": "cthr_input1", "messages": []}
    assert_error(await beacon(gw, key, {**ok, "reason": "bored"}), 422, "validation_error")
    assert_error(await beacon(gw, key, {"reason": "idle"}), 422, "validation_error")
    deep = await gw.post(
        "/lead",
        params={"key": key},
        headers={"origin": SHOP, "content-type": "text/plain"},
        content=b"[" * 100 + b"]" * 100,
    )
    assert_error(deep, 400, "too_deep")
    assert deep.headers["access-control-allow-origin"] == SHOP
    assert_error(
        await gw.post("/lead", params={"key": key}, headers={"origin": SHOP}, content=b"{not json"),
        400,
        "invalid_json",
    )
    assert_error(
        await beacon(gw, key, ok, content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )


async def test_origin_binding_without_a_key(gw: httpx2.AsyncClient, demo: Demo) -> None:
    """No key: the one chat_lead key naming the Origin exactly stands in; none or several
    (ambiguous) is 401."""
    slug = await make_channel(gw, demo)
    origin = f"https://{secrets.token_hex(4)}.example.com"
    thread = f"cthr_{secrets.token_hex(4)}"
    body = {"reason": "idle", "threadId": thread, "messages": chat(False)}
    assert_error(await beacon(gw, None, body, origin=origin), 401, "invalid_publishable_key")
    await make_key(gw, demo, flow="chat_lead", channel=slug, allowed_origins=[origin])
    bound = await beacon(gw, None, body, origin=origin)
    assert bound.status_code == 200, bound.text
    assert bound.json()["lead_reason"] == "missing_contact"
    assert_error(await beacon(gw, None, body, origin=None), 401, "invalid_publishable_key")
    await make_key(gw, demo, flow="chat_lead", channel=slug, allowed_origins=[origin])
    assert_error(await beacon(gw, None, body, origin=origin), 401, "invalid_publishable_key")
