"""Issue 19: one casing per resource. A funnel template (seed 001) and the runs made from it
answer in camelCase all through; an html template keeps the admin API's snake_case. No answer of
these routes has a key with ``_`` beside a camelCase key in the same object (the customer's own
funnel documents, ``templateFunnelJson`` and a run's ``output``, are theirs and not walked)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from leadmagnet.cli.demo import Demo
from leadmagnet.gateway.openapi import build_openapi
from leadmagnet.gateway.routes import api
from leadmagnet.testing.casing import CAMEL, mixed_casings

pytestmark = pytest.mark.integration

FUNNEL_KEYS = {
    "templateId",
    "version",
    "status",
    "kind",
    "name",
    "description",
    "brandGuideContent",
    "templateFunnelJson",
    "metadata",
    "createdAt",
    "publishedAt",
}
HTML_KEYS = {
    "template_id",
    "version",
    "status",
    "kind",
    "name",
    "description",
    "html",
    "metadata",
    "created_at",
    "published_at",
}
FUNNEL = {"opt_logo_url": "https://img.example/logo.png", "hero": {"headline": "Sleep"}}


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


def one_casing(resp: httpx2.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert mixed_casings(body) == [], resp.request.url
    return body


def test_the_check_finds_a_mix() -> None:
    assert mixed_casings({"template_id": "t", "brandGuideContent": "g"}) != []
    assert mixed_casings({"runs": [{"runId": "r", "created_at": "x"}]}) != []
    assert mixed_casings({"templateFunnelJson": {"opt_logo_url": "u", "ctaText": "x"}}) == []
    assert mixed_casings({"input": {"input_as_text": "x"}, "runId": "r"}) == []


async def test_funnel_template_and_run_routes_answer_in_camel_case(
    gw: httpx2.AsyncClient, demo: Demo
) -> None:
    h = auth(demo)
    created = one_casing(
        await gw.post(
            "/v1/templates",
            headers=h,
            json={
                "kind": "funnel",
                "name": "Sleep funnel",
                "brandGuideContent": "Calm.",
                "templateFunnelJson": FUNNEL,
                # A setting in the snake_case spelling (still accepted) answers in camelCase.
                "metadata": {"on_image_failure": "keep_original", "imageQuality": "hd"},
            },
        ),
        201,
    )
    assert set(created) == FUNNEL_KEYS
    assert created["kind"] == "funnel"
    assert created["metadata"] == {"onImageFailure": "keep_original", "imageQuality": "hd"}
    assert created["templateFunnelJson"] == FUNNEL
    assert (created["version"], created["status"], created["publishedAt"]) == (1, "draft", None)
    template_id = created["templateId"]

    v2 = one_casing(
        await gw.post(
            f"/v1/templates/{template_id}/versions",
            headers=h,
            json={"brandGuideContent": "Calm v2.", "metadata": {"image_size": "1536x1024"}},
        ),
        201,
    )
    assert set(v2) == FUNNEL_KEYS
    assert (v2["templateId"], v2["version"]) == (template_id, 2)
    assert v2["metadata"] == {"imageSize": "1536x1024"}
    published = one_casing(
        await gw.post(f"/v1/templates/{template_id}/versions/2/publish", headers=h)
    )
    assert set(published) == FUNNEL_KEYS
    assert published["publishedAt"]

    versions = one_casing(await gw.get(f"/v1/templates/{template_id}", headers=h))
    assert [(t["templateId"], t["version"]) for t in versions["templates"]] == [
        (template_id, 2),
        (template_id, 1),
    ]
    assert all(set(t) == FUNNEL_KEYS for t in versions["templates"])

    # The listing holds both kinds, each in its own casing.
    listed = one_casing(await gw.get("/v1/templates", headers=h))["templates"]
    by_kind = {t.get("templateId") or t.get("template_id"): t for t in listed}
    assert set(by_kind[template_id]) == FUNNEL_KEYS
    assert set(by_kind[demo.funnel_template_id]) == FUNNEL_KEYS
    assert set(by_kind[demo.template_id]) == HTML_KEYS

    accepted = one_casing(
        await gw.post(
            "/v1/runs",
            headers=h,
            json={"templateId": template_id, "input": {"input_as_text": "Rewrite it."}},
        ),
        202,
    )
    run_id = accepted["runId"]
    run = one_casing(await gw.get(f"/v1/runs/{run_id}", headers=h))
    assert (run["templateId"], run["templateVersion"]) == (template_id, 2)
    assert run["input"] == {"input_as_text": "Rewrite it."}  # the seed's own name, alone
    one_casing(await gw.get(f"/v1/runs/{run_id}/logs", headers=h))
    history = one_casing(await gw.get(f"/v1/templates/{template_id}/runs", headers=h))
    assert [r["runId"] for r in history["runs"]] == [run_id]


async def test_html_templates_keep_snake_case(gw: httpx2.AsyncClient, demo: Demo) -> None:
    h = auth(demo)
    created = one_casing(
        await gw.post(
            "/v1/templates", headers=h, json={"name": "Page", "html": "<p>{{REPORT_CONTENT}}</p>"}
        ),
        201,
    )
    assert set(created) == HTML_KEYS
    assert created["kind"] == "html"
    template_id = created["template_id"]
    v2 = one_casing(
        await gw.post(
            f"/v1/templates/{template_id}/versions", headers=h, json={"html": "<b>{{DATE}}</b>"}
        ),
        201,
    )
    assert set(v2) == HTML_KEYS
    published = one_casing(
        await gw.post(f"/v1/templates/{template_id}/versions/2/publish", headers=h)
    )
    assert set(published) == HTML_KEYS
    assert published["published_at"]
    versions = one_casing(await gw.get(f"/v1/templates/{template_id}", headers=h))
    assert all(set(t) == HTML_KEYS for t in versions["templates"])


def test_the_openapi_document_has_one_casing_per_schema() -> None:
    """Every schema's own properties keep to one casing; a template answer is a union on
    ``kind`` of the two casings."""
    schemas = build_openapi(api)["components"]["schemas"]
    for name, schema in schemas.items():
        props = list(schema.get("properties", {}))
        snake = [p for p in props if "_" in p]
        camel = [p for p in props if CAMEL.match(p)]
        assert not (snake and camel), (name, snake, camel)
    assert set(schemas["FunnelTemplateView"]["properties"]) == FUNNEL_KEYS
    assert set(schemas["HtmlTemplateView"]["properties"]) == HTML_KEYS
    union = schemas["TemplateView"]
    assert union["discriminator"]["propertyName"] == "kind"
    assert set(union["discriminator"]["mapping"]) == {"html", "funnel"}
    items = schemas["TemplateList"]["properties"]["templates"]["items"]
    assert items["discriminator"] == union["discriminator"]
