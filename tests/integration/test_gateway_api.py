"""The gateway's HTTP contract: validation, error bodies, auth, tenant isolation, OpenAPI."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.common.platform import Platform
from leadmagnet.testing.client import GatewayClient as Api

pytestmark = pytest.mark.integration


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()["error"]
    assert body["message"]
    if code:
        assert body["code"] == code
    return dict(body)


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


async def test_health_readiness_and_openapi(api: Api) -> None:
    c = api.client
    assert (await c.get(f"{api.base}/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await c.get(f"{api.base}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"dynamodb": "ok", "sns": "ok", "s3": "ok"}
    doc = (await c.get(f"{api.base}/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    submit = doc["paths"]["/v1/forms/{slug}/submit"]["post"]
    assert set(submit["responses"]) >= {"202", "404", "413", "422"}
    assert submit["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "JobView" in doc["components"]["schemas"]
    assert doc["paths"]["/v1/templates"]["post"]["security"]
    page = await c.get(f"{api.base}/docs")
    assert page.status_code == 200
    assert "/v1/forms/{slug}/submit" in page.text
    assert "<script src=" not in page.text  # self-contained: no external assets


async def test_submit_is_accepted_with_a_capability_status_url(api: Api, demo: Demo) -> None:
    resp = await api.submit(demo.slug, {"name": "Ada", "email": "ada@example.com", "goal": "more"})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "pending"
    assert body["status_url"].endswith(f"/v1/jobs/{body['job_id']}")
    token = body["job_id"].removeprefix("job_")
    assert len(base64.urlsafe_b64decode(token + "==")) * 8 >= 128
    job = await api.job(body["job_id"])
    assert job["job_id"] == body["job_id"]
    assert "fields" not in json.dumps(job)  # no form answers in the public view
    assert "ada@example.com" not in json.dumps(job)


async def test_submission_errors_are_json_and_say_where(api: Api, demo: Demo) -> None:
    assert_error(await api.submit("no-such-form", {"name": "x"}), 404, "form_not_found")
    err = assert_error(
        await api.submit(demo.slug, {"name": "", "email": "nope", "goal": "g", "extra": 1}),
        422,
        "validation_error",
    )
    locs = {d["loc"]: d["message"] for d in err["details"]}
    assert locs == {
        "body.email": "must be a valid email address",
        "body.extra": "is not a field of this form",
        "body.name": "is required",
    }
    c = api.client
    url = f"{api.base}/v1/forms/{demo.slug}/submit"
    assert_error(
        await c.post(url, content=b"{oops", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )
    assert_error(await c.post(url, content=b"name=x", headers={"content-type": "text/plain"}), 415)
    assert_error(await c.post(url, json=["not", "an", "object"]), 422)
    big = {"name": "A", "email": "a@b.co", "goal": "x" * 300_000}
    assert_error(await c.post(url, json=big), 413, "payload_too_large")
    assert_error(await c.get(f"{api.base}/v1/jobs/job_doesnotexist"), 404, "job_not_found")
    assert_error(await c.get(f"{api.base}/nowhere"), 404, "not_found")
    assert_error(await c.delete(f"{api.base}/v1/jobs"), 405)


async def test_admin_needs_a_valid_key(api: Api) -> None:
    c = api.client
    err = assert_error(await c.get(f"{api.base}/v1/templates"), 401, "unauthenticated")
    assert "Bearer" in err["message"]
    assert_error(
        await c.get(f"{api.base}/v1/templates", headers={"authorization": "Bearer lm_live_wrong"}),
        401,
        "invalid_api_key",
    )


async def test_template_lifecycle_and_validation(api: Api, demo: Demo) -> None:
    c, h = api.client, auth(demo)
    bad = await c.post(
        f"{api.base}/v1/templates", headers=h, json={"name": "x", "html": "{% if %}"}
    )
    err = assert_error(bad, 422, "invalid_template")
    assert err["details"][0]["loc"] == "body.html"
    unknown = await c.post(f"{api.base}/v1/templates", headers=h, json={"name": "x", "htm": "y"})
    assert [d["loc"] for d in assert_error(unknown, 422)["details"]] == ["body.htm"]
    missing = await c.post(f"{api.base}/v1/templates", headers=h, json={"name": "x"})
    assert [d["loc"] for d in assert_error(missing, 422)["details"]] == ["body.html"]
    created = await c.post(
        f"{api.base}/v1/templates",
        headers=h,
        json={"name": "T", "html": "<p>{{REPORT_CONTENT}}</p>"},
    )
    assert created.status_code == 201, created.text
    tpl = created.json()
    assert (tpl["version"], tpl["status"]) == (1, "draft")
    v2 = await c.post(
        f"{api.base}/v1/templates/{tpl['template_id']}/versions",
        headers=h,
        json={"html": "<b>{{DATE}}</b>"},
    )
    assert v2.json()["version"] == 2
    pub = await c.post(
        f"{api.base}/v1/templates/{tpl['template_id']}/versions/2/publish", headers=h
    )
    assert pub.json()["status"] == "published"
    versions = (await c.get(f"{api.base}/v1/templates/{tpl['template_id']}", headers=h)).json()
    assert [(t["version"], t["status"]) for t in versions["templates"]] == [
        (2, "published"),
        (1, "draft"),
    ]


async def test_workflow_secret_is_shown_once(api: Api, demo: Demo) -> None:
    c, h = api.client, auth(demo)
    created = await c.post(
        f"{api.base}/v1/workflows",
        headers=h,
        json={
            "name": "W",
            "instructions": "Write.",
            "template_id": demo.template_id,
            "webhook_url": "http://127.0.0.1:9/hook",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["webhook_secret"].startswith("whsec_")
    wf_id = created.json()["workflow_id"]
    again = (await c.get(f"{api.base}/v1/workflows/{wf_id}", headers=h)).json()
    assert "webhook_secret" not in again
    missing = await c.post(
        f"{api.base}/v1/workflows",
        headers=h,
        json={"name": "W", "instructions": "x", "template_id": "tpl_nope"},
    )
    assert_error(missing, 422, "unknown_template")


async def test_tenants_cannot_see_each_other(api: Api, demo: Demo, platform: Platform) -> None:
    other = await seed_demo(platform, slug=f"{demo.slug}-b", tenant_name="Other Co")
    c = api.client
    for path in (
        f"/v1/templates/{demo.template_id}",
        f"/v1/workflows/{demo.workflow_id}",
    ):
        assert (await c.get(api.base + path, headers=auth(demo))).status_code == 200
        assert_error(await c.get(api.base + path, headers=auth(other)), 404)
    publish = await c.post(
        f"{api.base}/v1/templates/{demo.template_id}/versions/1/publish", headers=auth(other)
    )
    assert_error(publish, 404)
    resp = await api.submit(demo.slug, {"name": "A", "email": "a@b.co", "goal": "g"})
    job_id = resp.json()["job_id"]
    theirs = (await c.get(f"{api.base}/v1/jobs", headers=auth(other))).json()["jobs"]
    assert job_id not in {j["job_id"] for j in theirs}
    mine = (await c.get(f"{api.base}/v1/jobs", headers=auth(demo))).json()["jobs"]
    assert job_id in {j["job_id"] for j in mine}
    forms = (await c.get(f"{api.base}/v1/forms", headers=auth(other))).json()["forms"]
    assert [f["slug"] for f in forms] == [other.slug]
    taken = await c.post(
        f"{api.base}/v1/forms",
        headers=auth(other),
        json={
            "slug": demo.slug,
            "name": "steal",
            "workflow_id": other.workflow_id,
            "fields": [{"name": "x", "label": "X"}],
        },
    )
    assert_error(taken, 409)


async def test_job_listing_paginates_with_a_tenant_bound_cursor(api: Api, demo: Demo) -> None:
    for i in range(3):
        resp = await api.submit(demo.slug, {"name": f"n{i}", "email": "a@b.co", "goal": "g"})
        assert resp.status_code == 202
    c, h = api.client, auth(demo)
    first = (await c.get(f"{api.base}/v1/jobs?limit=2", headers=h)).json()
    assert len(first["jobs"]) == 2
    assert first["next_cursor"]
    second = (
        await c.get(
            f"{api.base}/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=h
        )
    ).json()
    ids = [j["job_id"] for j in first["jobs"] + second["jobs"]]
    assert len(ids) == len(set(ids)) == 3
    forged = base64.urlsafe_b64encode(
        json.dumps({"tenant_id": "ten_other", "job_id": "j", "created_at": "x"}).encode()
    ).decode()
    assert_error(
        await c.get(f"{api.base}/v1/jobs", params={"cursor": forged}, headers=h),
        422,
        "invalid_cursor",
    )
    assert_error(await c.get(f"{api.base}/v1/jobs?limit=0", headers=h), 422, "validation_error")
