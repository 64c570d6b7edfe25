"""Issue 13's limits as pure functions: what a hostile request cannot get past, and the OpenAPI
document saying so (the fuzzer reads the document, so it must be right)."""

from __future__ import annotations

from typing import Any

import pytest

from leadmagnet.common.dynamo import UnstorableError, serialize
from leadmagnet.common.formcheck import validate_submission
from leadmagnet.common.models import Form, FormField
from leadmagnet.gateway.api import (
    MAX_JSON_DEPTH,
    HTTPError,
    bounded_int,
    json_depth_exceeds,
    loads_request_json,
)
from leadmagnet.gateway.headers import content_security_policy, with_security_headers
from leadmagnet.gateway.openapi import build_openapi
from leadmagnet.gateway.routes import api


def test_json_nesting_is_bounded_without_recursion() -> None:
    assert not json_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert json_depth_exceeds("[" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds('{"a": "' + "[" * 500 + '"}')  # brackets in strings
    assert not json_depth_exceeds('{"a\\"[[[[": 1}')  # escaped quotes
    with pytest.raises(HTTPError) as deep:
        loads_request_json(b"[" * 5000)
    assert (deep.value.status, deep.value.code) == (400, "too_deep")
    assert deep.value.details[0].loc == "body"
    for bad in (b'{"a": NaN}', b"[Infinity]", b"\xff", b"{"):
        with pytest.raises(HTTPError) as invalid:
            loads_request_json(bad)
        assert (invalid.value.status, invalid.value.code) == (400, "invalid_json")


def test_bounded_int_takes_only_short_ascii_digits() -> None:
    assert bounded_int(" 42 ", maximum=100) == 42
    for text in ("9" * 5000, "²", "-1", "1e3", "", "101", "0x1"):
        assert bounded_int(text, maximum=100) is None, text


def test_an_unstorable_item_is_a_permanent_error_saying_where() -> None:
    with pytest.raises(UnstorableError, match=r"\$\.fields\.amount: more than 38"):
        serialize({"pk": "x", "fields": {"amount": 10**40}})
    with pytest.raises(UnstorableError, match="outside the storable number range"):
        serialize({"pk": "x", "n": 1e-200})
    assert serialize({"pk": "x", "n": 12.5})["n"] == {"N": "12.5"}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1e300", False),
        (1e300, False),
        ("1.5e-200", False),
        ("1." + "1" * 41, False),
        (10**400, False),
        ("12.5", True),
        (-999_999_999_999_999, True),
        ("0.000001", True),
    ],
)
def test_form_numbers_are_bounded_and_what_passes_is_storable(value: Any, ok: bool) -> None:
    form = Form(
        slug="f-1",
        tenant_id="t",
        workflow_id="w",
        name="F",
        fields=[FormField(name="amount", label="Amount", type="number")],
    )
    clean, errors = validate_submission(form, {"amount": value})
    assert (not errors) is ok, errors
    if ok:
        serialize({"pk": "x", "fields": clean})  # does not raise


def test_html_gets_the_strict_policy_once_and_json_none() -> None:
    html = with_security_headers([(b"content-type", b"text/html; charset=utf-8")])
    assert dict(html)[b"content-security-policy"] == content_security_policy().encode()
    own = [(b"content-type", b"text/html"), (b"content-security-policy", b"x")]
    assert [v for k, v in with_security_headers(own) if k == b"content-security-policy"] == [b"x"]
    json_headers = dict(with_security_headers([(b"content-type", b"application/json")]))
    assert b"content-security-policy" not in json_headers
    assert json_headers[b"x-content-type-options"] == b"nosniff"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi(api)


def test_openapi_links_chain_create_read_patch(doc: dict[str, Any]) -> None:
    created = doc["paths"]["/v1/workflows"]["post"]["responses"]["201"]["links"]
    assert created["get_v1_workflows_workflow_id"]["parameters"] == {
        "path.workflow_id": "$response.body#/workflow_id"
    }
    assert "patch_v1_workflows_workflow_id" in created
    patched = doc["paths"]["/v1/workflows/{workflow_id}"]["patch"]["responses"]["200"]["links"]
    assert "get_v1_workflows_workflow_id" in patched
    listed = doc["paths"]["/v1/templates"]["get"]["responses"]["200"]["links"]
    assert listed["post_v1_workflows"]["requestBody"] == {
        "template_id": "$response.body#/templates/0/template_id"
    }


def test_openapi_says_which_patch_fields_may_be_null(doc: dict[str, Any]) -> None:
    update = doc["components"]["schemas"]["WorkflowUpdate"]["properties"]
    for required in ("name", "instructions", "template_id"):
        assert update[required]["type"] == "string", update[required]
        assert "null" in update[required]["description"].lower()
    for optional in ("model", "template_version", "webhook_url", "options", "await_callback"):
        assert {"type": "null"} in update[optional]["anyOf"], optional
    create = doc["components"]["schemas"]["WorkflowCreate"]
    assert "template_id" in create["required"]


def test_openapi_models_the_event_stream(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/v1/jobs/{job_id}/events"]["get"]
    event = op["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"][0]
    assert event["properties"]["data"]["contentSchema"] == {
        "$ref": "#/components/schemas/JobEventMessage"
    }
    assert "JobEventMessage" in doc["components"]["schemas"]
    headers = [p for p in op["parameters"] if p["in"] == "header"]
    assert [h["name"] for h in headers] == ["Last-Event-ID"]
    after = next(p for p in op["parameters"] if p["name"] == "after")
    assert after["schema"]["anyOf"][0]["maximum"] == 1_000_000_000
