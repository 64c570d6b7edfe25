"""Issue 13, "trust under hostile input": one regression test per finding, against the gateway
application in process (the real app, routes and middleware over the embedded AWS endpoint,
without the worker processes), so each runs in well under a second."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.gateway.api import MAX_JSON_DEPTH, MAX_PATH_PARAM
from leadmagnet.gateway.pages import MAX_POSTED_FIELDS
from leadmagnet.gateway.routes.public import MAX_EVENT_ID

pytestmark = pytest.mark.integration


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


def assert_error(
    resp: Any, status: int, code: str | None = None, loc: str | None = None
) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    error = resp.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code, error
    if loc:
        locs = [d["loc"] for d in error["details"]]
        assert any(x == loc or x.startswith(f"{loc}.") for x in locs), error
    return dict(error)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ---- finding 1: PATCH with nulls; a listing never dies on one bad item --------------------------


async def test_patch_nulls_on_required_fields_are_refused_and_nothing_is_saved(
    gw: httpx2.AsyncClient, demo: Demo
) -> None:
    url = f"/v1/workflows/{demo.workflow_id}"
    before = (await gw.get(url, headers=auth(demo))).json()
    resp = await gw.patch(
        url, headers=auth(demo), json={"name": None, "instructions": None, "options": None}
    )
    error = assert_error(resp, 422, "validation_error", "body.name")
    assert "body.instructions" in [d["loc"] for d in error["details"]]
    after = await gw.get(url, headers=auth(demo))
    assert after.status_code == 200, after.text
    assert after.json() == before
    listing = await gw.get("/v1/workflows", headers=auth(demo))
    assert listing.status_code == 200, listing.text
    assert demo.workflow_id in [w["workflow_id"] for w in listing.json()["workflows"]]


async def test_patch_null_clears_optional_fields(gw: httpx2.AsyncClient, demo: Demo) -> None:
    url = f"/v1/workflows/{demo.workflow_id}"
    set_first = await gw.patch(
        url, headers=auth(demo), json={"model": "m1", "options": {"a": 1}, "template_version": 1}
    )
    assert set_first.status_code == 200, set_first.text
    cleared = await gw.patch(
        url, headers=auth(demo), json={"model": None, "options": None, "template_version": None}
    )
    assert cleared.status_code == 200, cleared.text
    got = (await gw.get(url, headers=auth(demo))).json()
    assert (got["model"], got["options"], got["template_version"]) == (None, {}, None)


async def test_patch_validates_the_merged_workflow_like_creation(
    gw: httpx2.AsyncClient, demo: Demo, bootstrapped: Settings
) -> None:
    url = f"/v1/workflows/{demo.workflow_id}"
    assert_error(
        await gw.patch(url, headers=auth(demo), json={"template_id": "tpl_nope"}),
        422,
        "unknown_template",
        "body.template_id",
    )
    assert_error(
        await gw.patch(url, headers=auth(demo), json={"options": {"n": 1e300}}),
        422,
        "validation_error",
        "body.options",
    )
    gate = {
        "external_id_field": "company",
        "calls": [{"name": "n", "url": "https://93.184.215.14/x", "secret_id": "other/token"}],
    }
    assert_error(
        await gw.patch(url, headers=auth(demo), json={"await_callback": gate}),
        422,
        "invalid_secret_id",
        "body.await_callback.calls[0].secret_id",
    )
    gate["calls"][0]["secret_id"] = f"{bootstrapped.resource_prefix}/token"  # type: ignore[index]
    ok = await gw.patch(url, headers=auth(demo), json={"await_callback": gate})
    assert ok.status_code == 200, ok.text
    assert ok.json()["webhook_secret"].startswith("whsec_")  # signed callbacks need one
    assert (await gw.get(url, headers=auth(demo))).json()["name"]


async def test_an_invalid_stored_workflow_is_skipped_reported_and_repairable(
    gw: httpx2.AsyncClient, demo: Demo, platform: Platform
) -> None:
    # As the old PATCH left it: the required name gone.
    await platform.workflows.table.put(
        {"tenant_id": demo.tenant_id, "workflow_id": "wf_broken", "instructions": "x"}
    )
    listing = await gw.get("/v1/workflows", headers=auth(demo))
    assert listing.status_code == 200, listing.text
    ids = [w["workflow_id"] for w in listing.json()["workflows"]]
    assert demo.workflow_id in ids
    assert "wf_broken" not in ids
    assert_error(
        await gw.get("/v1/workflows/wf_broken", headers=auth(demo)), 409, "workflow_invalid"
    )
    repair = await gw.patch(
        "/v1/workflows/wf_broken",
        headers=auth(demo),
        json={"name": "fixed", "template_id": demo.template_id},
    )
    assert repair.status_code == 200, repair.text
    fixed = await gw.get("/v1/workflows/wf_broken", headers=auth(demo))
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["name"] == "fixed"


# ---- finding 2: nesting depth -------------------------------------------------------------------


async def test_deeply_nested_json_is_a_400_on_public_and_admin_routes(
    gw: httpx2.AsyncClient, demo: Demo
) -> None:
    body = nested(5000).encode()  # 10 KB
    headers = {"content-type": "application/json"}
    for method, path, extra in [
        ("POST", f"/v1/forms/{demo.slug}/submit", {}),
        ("POST", "/v1/workflows", auth(demo)),
        ("PATCH", f"/v1/workflows/{demo.workflow_id}", auth(demo)),
        ("POST", "/v1/templates", auth(demo)),
        ("POST", "/v1/leads", {}),
        ("POST", "/v1/callbacks", auth(demo)),
        ("POST", "/v1/runs", auth(demo)),
    ]:
        resp = await gw.request(method, path, content=body, headers={**headers, **extra})
        error = assert_error(resp, 400, "too_deep", "body")
        assert str(MAX_JSON_DEPTH) in error["message"], (path, error)


async def test_nesting_up_to_the_limit_parses(gw: httpx2.AsyncClient, demo: Demo) -> None:
    # At the limit the body parses and the field is judged (a list is not an object): 422.
    resp = await gw.post(
        "/v1/workflows",
        headers={**auth(demo), "content-type": "application/json"},
        content=f'{{"name": "w", "instructions": "x", "options": {nested(MAX_JSON_DEPTH - 1)}}}',
    )
    assert_error(resp, 422, "validation_error", "body.options")
    nan = await gw.post(
        f"/v1/forms/{demo.slug}/submit",
        headers={"content-type": "application/json"},
        content=b'{"name": NaN}',
    )
    assert_error(nan, 400, "invalid_json", "body")


# ---- finding 3: numbers -------------------------------------------------------------------------


@pytest.fixture
async def number_form(gw: httpx2.AsyncClient, demo: Demo) -> str:
    slug = f"{demo.slug}-n"
    resp = await gw.post(
        "/v1/forms",
        headers=auth(demo),
        json={
            "slug": slug,
            "name": "Numbers",
            "workflow_id": demo.workflow_id,
            "fields": [{"name": "amount", "label": "Amount", "type": "number"}],
        },
    )
    assert resp.status_code == 201, resp.text
    return slug


@pytest.mark.parametrize(
    "raw",
    [
        '"1e300"',
        "1e300",
        '"1.5e-200"',
        "1.5e-200",
        '"1.23456789012345678901234567890123456789012"',
        "1.23456789012345678901234567890123456789012",
        '"' + "9" * 400 + '"',
        "9" * 400,
        "1e999",  # json.loads makes it inf
        '"0.0000001"',
    ],
)
async def test_out_of_range_form_numbers_are_a_422_at_the_field(
    gw: httpx2.AsyncClient, number_form: str, raw: str
) -> None:
    resp = await gw.post(
        f"/v1/forms/{number_form}/submit",
        headers={"content-type": "application/json"},
        content=f'{{"amount": {raw}}}',
    )
    assert_error(resp, 422, "validation_error", "body.amount")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("12.5", 12.5),
        ("-0.000001", -0.000001),
        (999999999999999, 999999999999999),
        ("1e15", 10**15),
    ],
)
async def test_accepted_form_numbers_store_and_read_back(
    gw: httpx2.AsyncClient, platform: Platform, number_form: str, sent: Any, stored: Any
) -> None:
    resp = await gw.post(f"/v1/forms/{number_form}/submit", json={"amount": sent})
    assert resp.status_code == 202, resp.text
    job = await platform.jobs.get(resp.json()["job_id"])
    assert job is not None
    assert job.submission_id is not None
    submission = await platform.submissions.get(job.submission_id)
    assert submission is not None
    assert submission.fields["amount"] == stored


async def test_other_numeric_inputs_are_bounded(gw: httpx2.AsyncClient, demo: Demo) -> None:
    huge = "9" * 5000
    assert_error(
        await gw.post(
            "/v1/runs",
            headers=auth(demo),
            json={
                "templateId": demo.funnel_template_id,
                "templateVersion": 10**30,
                "input": {"input_as_text": "x"},
            },
        ),
        422,
        "validation_error",
        "body.templateVersion",
    )
    for version in ("9" * 100, "²", "0"):  # longer ones stop at the path-length guard
        publish = await gw.post(
            f"/v1/templates/{demo.template_id}/versions/{version}/publish", headers=auth(demo)
        )
        assert_error(publish, 404, "template_not_found")
    for query in (f"limit={huge}", "limit=1e300", f"cursor={huge}"):
        assert_error(await gw.get(f"/v1/jobs?{query}", headers=auth(demo)), 422)
    created = await gw.post(
        "/v1/workflows",
        headers=auth(demo),
        json={
            "name": "w",
            "instructions": "x",
            "template_id": demo.template_id,
            "template_version": 10**40,
        },
    )
    assert_error(created, 422, "validation_error", "body.template_version")


# ---- finding 4: the hosted form page with too many fields ---------------------------------------


async def test_hosted_form_with_too_many_fields_is_a_friendly_413_page(
    gw: httpx2.AsyncClient, demo: Demo
) -> None:
    fields = "&".join(f"f{i}=x" for i in range(250))
    resp = await gw.post(
        f"/f/{demo.slug}",
        content=fields,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert "too many fields" in resp.text
    assert str(MAX_POSTED_FIELDS) in resp.text
    assert "content-security-policy" in resp.headers


# ---- finding 5: event ids -----------------------------------------------------------------------


async def test_hostile_event_ids_are_a_422(gw: httpx2.AsyncClient, demo: Demo) -> None:
    job_id = (
        await gw.post(
            f"/v1/forms/{demo.slug}/submit", json={"name": "A", "email": "a@b.co", "goal": "g"}
        )
    ).json()["job_id"]
    url = f"/v1/jobs/{job_id}/events"
    for bad in ("9" * 5000, "²", str(MAX_EVENT_ID + 1), "-1", "1e3"):
        resp = await gw.get(url, headers={"last-event-id": bad.encode("latin-1")})
        assert_error(resp, 422, "validation_error", "header.last-event-id")
    for bad in ("9" * 5000, str(MAX_EVENT_ID + 1), "²"):
        assert_error(
            await gw.get(url, params={"after": bad}), 422, "validation_error", "query.after"
        )


async def test_the_chat_demo_idle_parameter_is_bounded(gw: httpx2.AsyncClient, demo: Demo) -> None:
    channel = f"{demo.slug}-c"
    created = await gw.post(
        "/v1/chat-channels",
        headers=auth(demo),
        json={"slug": channel, "business_name": "B", "owner_email": "o@b.co"},
    )
    assert created.status_code == 201, created.text
    for idle in ("9" * 5000, "²", "5"):
        page = await gw.get("/chat/demo", params={"channel": channel, "idle": idle})
        assert page.status_code == 200, (idle, page.text[:200])


# ---- finding 10: one set of security headers for every HTML answer ------------------------------


async def test_every_html_answer_has_the_pages_csp(gw: httpx2.AsyncClient, demo: Demo) -> None:
    html_answers = [
        await gw.get("/docs"),
        await gw.get("/s/unknown-token", headers={"accept": "text/html"}),
        await gw.get("/f/no-such-form"),
        await gw.get(f"/f/{demo.slug}"),
    ]
    for resp in html_answers:
        assert resp.headers["content-type"].startswith("text/html"), resp.url
        csp = resp.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp, (resp.url, csp)
        assert "frame-ancestors 'none'" in csp, (resp.url, csp)
        assert "unsafe-inline" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        # No inline style survives except under the response's nonce.
        nonce = re.search(r"'nonce-([^']+)'", csp)
        for tag in re.findall(r"<style[^>]*>", resp.text):
            assert nonce is not None, (resp.url, csp)
            assert re.search(rf"""nonce=['"]{re.escape(nonce.group(1))}['"]""", tag), tag
        assert not re.search(r"<[a-z]+[^>]* style=", resp.text), resp.url
    docs = html_answers[0]
    assert "<style nonce=" in docs.text  # its styling still applies under the policy


# ---- finding 14: workflows that could only fail later -------------------------------------------


async def test_workflow_without_template_or_with_a_foreign_secret_is_refused(
    gw: httpx2.AsyncClient, demo: Demo, bootstrapped: Settings
) -> None:
    base = {"name": "w", "instructions": "x"}
    assert_error(
        await gw.post("/v1/workflows", headers=auth(demo), json=base),
        422,
        "validation_error",
        "body.template_id",
    )
    assert_error(
        await gw.post(
            "/v1/workflows", headers=auth(demo), json={**base, "template_id": "tpl_missing"}
        ),
        422,
        "unknown_template",
        "body.template_id",
    )
    gate = {
        "external_id_field": "company",
        "calls": [
            {"name": "ok", "url": "https://93.184.215.14/a"},
            {"name": "bad", "url": "https://93.184.215.14/b", "secret_id": "prod/db-password"},
        ],
    }
    with_gate = {**base, "template_id": demo.template_id, "await_callback": gate}
    assert_error(
        await gw.post("/v1/workflows", headers=auth(demo), json=with_gate),
        422,
        "invalid_secret_id",
        "body.await_callback.calls[1].secret_id",
    )
    gate["calls"][1]["secret_id"] = f"{bootstrapped.resource_prefix}/jira-token"  # type: ignore[index]
    created = await gw.post("/v1/workflows", headers=auth(demo), json=with_gate)
    assert created.status_code == 201, created.text
    patch_null = await gw.patch(
        f"/v1/workflows/{created.json()['workflow_id']}",
        headers=auth(demo),
        json={"template_id": None},
    )
    assert_error(patch_null, 422, "validation_error", "body.template_id")


# ---- the class of finding 5 in paths: an over-long id never reaches a store key ----------------


async def test_over_long_path_ids_are_a_404_before_any_lookup(
    gw: httpx2.AsyncClient, demo: Demo
) -> None:
    long_id = "a" * (MAX_PATH_PARAM + 1)
    for method, path in [
        ("GET", f"/v1/workflows/{long_id}"),
        ("PATCH", f"/v1/workflows/{long_id}"),
        ("GET", f"/v1/templates/{long_id}"),
        ("GET", f"/v1/runs/{long_id}/logs"),
        ("POST", f"/v1/forms/{long_id}/submit"),
        ("GET", f"/s/{long_id}"),
    ]:
        resp = await gw.request(method, path, headers=auth(demo), json={})
        error = assert_error(resp, 404, "not_found")
        assert str(MAX_PATH_PARAM) in error["message"], (path, error)
