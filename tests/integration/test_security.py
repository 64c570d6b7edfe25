"""Security properties of the running system: outbound targets on loopback, private,
link-local and metadata addresses are refused; one tenant cannot change another's things;
secrets never reach the logs."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from leadmagnet.cli.demo import Demo, seed_demo
from leadmagnet.cli.devstack import ServiceStack
from leadmagnet.common.platform import Platform
from leadmagnet.common.settings import Settings
from leadmagnet.testing.client import GatewayClient
from leadmagnet.testing.moto_server import free_port
from leadmagnet.testing.stackenv import stack_env
from leadmagnet.testing.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

FORBIDDEN_TARGETS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "file:///etc/passwd",
]


@pytest.fixture(scope="module")
def strict_gateway(
    bootstrapped: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second gateway process with the production default: private targets refused."""
    env = stack_env(bootstrapped, ALLOW_PRIVATE_TARGETS="false")
    stack = ServiceStack(env, tmp_path_factory.mktemp("strict-logs"), gateway_port=free_port())
    stack.start_all(["gateway"])
    try:
        yield stack.gateway_url
    finally:
        stack.stop_all()


def auth(demo: Demo) -> dict[str, str]:
    return {"authorization": f"Bearer {demo.api_key}"}


def workflow(demo: Demo) -> dict[str, str]:
    """A valid workflow body (a workflow needs a template of its tenant)."""
    return {"name": "w", "instructions": "x", "template_id": demo.template_id}


async def test_outbound_targets_on_internal_addresses_are_refused(
    strict_gateway: str, demo: Demo
) -> None:
    async with httpx2.AsyncClient(timeout=30) as client:
        for target in FORBIDDEN_TARGETS:
            webhook = await client.post(
                f"{strict_gateway}/v1/workflows",
                headers=auth(demo),
                json={**workflow(demo), "webhook_url": target},
            )
            assert webhook.status_code == 422, (target, webhook.text)
            error = webhook.json()["error"]
            assert error["code"] == "invalid_webhook_url", target
            assert error["details"][0]["loc"] == "body.webhook_url"
            gate = await client.post(
                f"{strict_gateway}/v1/workflows",
                headers=auth(demo),
                json={
                    **workflow(demo),
                    "await_callback": {
                        "external_id_field": "company",
                        "calls": [{"name": "notify", "url": target}],
                    },
                },
            )
            assert gate.status_code == 422, (target, gate.text)
            assert gate.json()["error"]["details"][0]["loc"] == "body.await_callback.calls[0].url"
        ok = await client.post(
            f"{strict_gateway}/v1/workflows",
            headers=auth(demo),
            json={**workflow(demo), "webhook_url": "https://93.184.215.14/hook"},
        )
        assert ok.status_code == 201, ok.text


async def test_one_tenant_cannot_change_anothers_things(
    api: GatewayClient, demo: Demo, platform: Platform
) -> None:
    other = await seed_demo(platform, slug=f"{demo.slug}-x", tenant_name="Other Co")
    c = api.client
    attempts = [
        ("PATCH", f"/v1/workflows/{demo.workflow_id}", {"name": "stolen"}),
        ("POST", f"/v1/templates/{demo.template_id}/versions", {"html": "<p>x</p>"}),
        ("POST", f"/v1/templates/{demo.template_id}/versions/1/publish", None),
        ("GET", f"/v1/templates/{demo.template_id}/runs", None),
    ]
    for method, path, body in attempts:
        resp = await c.request(method, f"{api.base}{path}", headers=auth(other), json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    run = await c.post(
        f"{api.base}/v1/runs",
        headers=auth(other),
        json={"templateId": demo.template_id, "input": {"input_as_text": "x"}},
    )
    assert run.status_code == 422  # not visible to them: unknown template
    wf = await platform.workflows.get(demo.tenant_id, demo.workflow_id)
    assert wf is not None
    assert wf.name != "stolen"
    versions = await platform.templates.versions(demo.tenant_id, demo.template_id)
    assert [v.version for v in versions] == [1]


async def test_secrets_never_reach_the_logs(
    api: GatewayClient,
    platform: Platform,
    stack: ServiceStack,
    webhook_receiver: WebhookReceiver,
) -> None:
    demo = await seed_demo(
        platform, slug=f"sec-{secrets.token_hex(4)}", webhook_url=webhook_receiver.url
    )
    assert demo.webhook_secret
    resp = await api.submit(
        demo.slug, {"name": "Ada", "email": "ada.lovelace@example.com", "goal": "secrets"}
    )
    job = await api.wait_job(resp.json()["job_id"])
    assert job["status"] == "completed"
    deadline = time.monotonic() + 30
    while not webhook_receiver.for_job(job["job_id"]):  # the notifier signs and sends it
        assert time.monotonic() < deadline, "no webhook"
        await asyncio.sleep(0.2)
    # The key is sent (and checked) on admin calls, right and wrong.
    await api.client.get(f"{api.base}/v1/jobs", headers=auth(demo))
    await api.client.get(
        f"{api.base}/v1/jobs", headers={"authorization": f"Bearer {demo.api_key}x"}
    )
    logs = {p.name: p.read_text(errors="replace") for p in Path(stack.log_dir).glob("*.log")}
    assert set(logs) >= {"gateway.log", "reporter.log", "renderer.log", "notifier.log"}
    assert any(job["job_id"] in text for text in logs.values())  # the logs are there...
    for name, text in logs.items():  # ...without a secret or a full e-mail address
        assert demo.api_key not in text, name
        assert demo.api_key[:20] not in text, name
        assert demo.webhook_secret not in text, name
        assert "sk-test-local-wire-format-server" not in text, name
        assert "ada.lovelace@example.com" not in text, name
